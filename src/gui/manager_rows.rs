//! Journal records → the rows the manager screens show. Pure functions: formatting depends
//! only on the record and the language, so a language switch redraws from the same records,
//! and the screenshots show exactly what the terminal shows.

use slint::{ModelRc, SharedString, VecModel};

use super::{
    EventActor, ProductTotalsRow, RefundRow, RefundStatus, TimelineRow, TotalsRow, TxDetail,
    TxProduct, TxRow, TxState,
};
use crate::journal::{
    Actor, CurrencyTotals, EventRecord, PaymentRecord, PaymentState, Product, RefundRecord,
    RefundState,
};
use crate::local_time::{format_local, format_local_time_of_day};
use crate::locale::Locale;
use crate::money::MinorTotal;

pub use super::engine_handle::{Detail, Listed};

pub fn tx_state(record: &PaymentRecord) -> TxState {
    state_of(record.state)
}

fn state_of(state: PaymentState) -> TxState {
    match state {
        PaymentState::Created => TxState::Created,
        PaymentState::AwaitingCustomer => TxState::AwaitingCustomer,
        PaymentState::Cancelling => TxState::Cancelling,
        PaymentState::Unresolved => TxState::Unresolved,
        PaymentState::Paid => TxState::Paid,
        PaymentState::Failed => TxState::Failed,
        PaymentState::Cancelled => TxState::Cancelled,
    }
}

pub fn tx_product(product: Product) -> TxProduct {
    match product {
        Product::OrderCode => TxProduct::OrderCode,
        Product::UserPresented => TxProduct::UserPresented,
        Product::EntryCode => TxProduct::EntryCode,
        Product::AutoDebit => TxProduct::AutoDebit,
    }
}

/// The last 4 digits of the customer's code, for a User-presented payment only. The journal
/// keeps nothing more of the code; anything that is not 4 digits is not shown, so a screen
/// can never be made to show more than a masked code.
pub fn code_last4(record: &PaymentRecord) -> SharedString {
    match record.customer_code_last4.as_deref() {
        Some(last4)
            if record.product == Product::UserPresented
                && last4.len() == 4
                && last4.bytes().all(|b| b.is_ascii_digit()) =>
        {
            text(last4)
        }
        _ => SharedString::new(),
    }
}

fn text(value: impl AsRef<str>) -> SharedString {
    value.as_ref().into()
}

fn refunded_text(refunded: &MinorTotal, locale: Locale) -> SharedString {
    if refunded.is_zero() {
        SharedString::new()
    } else {
        text(refunded.format(locale))
    }
}

pub fn tx_row(listed: &Listed, locale: Locale) -> TxRow {
    let record = &listed.record;
    TxRow {
        id: text(&record.payment_request_id),
        time: text(format_local(record.created_at)),
        amount: text(record.amount.format(locale)),
        state: tx_state(record),
        refunded: refunded_text(&listed.refunded, locale),
        description: text(&record.description),
        product: tx_product(record.product),
        code_last4: code_last4(record),
    }
}

pub fn detail(detail: &Detail, locale: Locale) -> TxDetail {
    let record = &detail.record;
    TxDetail {
        id: text(&record.payment_request_id),
        payment_id: text(record.payment_id.as_deref().unwrap_or_default()),
        order_ref: text(&record.order_ref),
        created: text(format_local(record.created_at)),
        paid_at: text(record.paid_at.map(format_local).unwrap_or_default()),
        amount: text(record.amount.format(locale)),
        state: tx_state(record),
        description: text(&record.description),
        product: tx_product(record.product),
        code_last4: code_last4(record),
        refunded: refunded_text(&detail.refunded, locale),
        remaining: text(detail.remaining.format(locale)),
        result_code: text(record.result_code.as_deref().unwrap_or_default()),
        result_message: text(record.result_message.as_deref().unwrap_or_default()),
        can_refund: record.state == PaymentState::Paid
            && record.payment_id.is_some()
            && !detail.remaining.is_zero(),
        can_settle: detail.can_settle(),
        needs_payment_id: detail.needs_payment_id(),
    }
}

pub fn timeline_row(event: &EventRecord) -> TimelineRow {
    let state = event
        .to_state
        .as_deref()
        .and_then(PaymentState::parse)
        .map(state_of);
    TimelineRow {
        time: text(format_local_time_of_day(event.at)),
        actor: match event.actor {
            Actor::Cashier => EventActor::Cashier,
            Actor::Manager => EventActor::Manager,
            Actor::System => EventActor::System,
        },
        has_state: state.is_some(),
        state: state.unwrap_or(TxState::Created),
        detail: text(&event.detail),
    }
}

pub fn refund_row(refund: &RefundRecord, locale: Locale) -> RefundRow {
    RefundRow {
        time: text(format_local(
            refund.refunded_at.unwrap_or(refund.created_at),
        )),
        amount: text(refund.amount.format(locale)),
        status: match refund.state {
            RefundState::Requested => RefundStatus::Requested,
            RefundState::Unresolved => RefundStatus::Unresolved,
            RefundState::Succeeded => RefundStatus::Succeeded,
            RefundState::Failed => RefundStatus::Failed,
        },
        reason: text(&refund.reason),
        code: text(refund.result_code.as_deref().unwrap_or_default()),
    }
}

pub fn totals_row(totals: &CurrencyTotals, locale: Locale) -> TotalsRow {
    let count = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
    let net = totals.net.magnitude().format(locale);
    TotalsRow {
        currency: text(totals.currency.code()),
        paid: text(totals.paid.format(locale)),
        paid_count: count(totals.paid_count),
        refunded: text(totals.refunded.format(locale)),
        refunded_count: count(totals.refunded_count),
        net: text(if totals.net.is_negative() {
            format!("−{net}")
        } else {
            net
        }),
        by_product: ModelRc::new(VecModel::from(
            totals
                .by_product
                .iter()
                .map(|part| ProductTotalsRow {
                    product: tx_product(part.product),
                    paid: text(part.paid.format(locale)),
                    paid_count: count(part.paid_count),
                })
                .collect::<Vec<_>>(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use slint::Model;

    use super::*;
    use crate::gui::controllers::testing::{record, record_with_product};
    use crate::journal::ProductTotals;
    use crate::money::{Currency, Money};

    fn listed(record: PaymentRecord) -> Listed {
        Listed {
            refunded: MinorTotal::zero(record.amount.currency()),
            record,
        }
    }

    #[test]
    fn rows_carry_the_product_and_only_a_user_presented_last4() {
        let scanned = record_with_product(
            "P1",
            "12.50",
            PaymentState::Paid,
            Product::UserPresented,
            Some("1234"),
        );
        let row = tx_row(&listed(scanned), Locale::English);
        assert_eq!(row.product, TxProduct::UserPresented);
        assert_eq!(row.code_last4, "1234");

        let shown = tx_row(
            &listed(record("P2", "3.00", PaymentState::Paid)),
            Locale::English,
        );
        assert_eq!(shown.product, TxProduct::OrderCode);
        assert_eq!(shown.code_last4, "");

        // Whatever a journal holds, a screen shows 4 digits or nothing.
        for odd in ["12345", "12a4", ""] {
            let odd = record_with_product(
                "P3",
                "1.00",
                PaymentState::Paid,
                Product::UserPresented,
                Some(odd),
            );
            assert_eq!(code_last4(&odd), "", "{:?}", odd.customer_code_last4);
        }
        let mut order_code = record("P4", "1.00", PaymentState::Paid);
        order_code.customer_code_last4 = Some("9999".into());
        assert_eq!(
            code_last4(&order_code),
            "",
            "only User-presented has a code"
        );
    }

    #[test]
    fn totals_rows_split_paid_per_product() {
        let usd = |minor| MinorTotal::from(Money::from_minor(minor, Currency::USD).unwrap());
        let date = time::macros::date!(2026 - 03 - 07);
        let totals = CurrencyTotals {
            date,
            currency: Currency::USD,
            paid_count: 3,
            paid: usd(1375),
            refunded_count: 0,
            refunded: MinorTotal::zero(Currency::USD),
            net: crate::journal::SignedTotal::from_minor(1375, Currency::USD).unwrap(),
            by_product: vec![
                ProductTotals {
                    product: Product::OrderCode,
                    paid_count: 1,
                    paid: usd(1000),
                },
                ProductTotals {
                    product: Product::UserPresented,
                    paid_count: 2,
                    paid: usd(375),
                },
            ],
        };
        let row = totals_row(&totals, Locale::English);
        let parts: Vec<(TxProduct, String, i32)> = row
            .by_product
            .iter()
            .map(|p| (p.product, p.paid.to_string(), p.paid_count))
            .collect();
        assert_eq!(
            parts,
            [
                (
                    TxProduct::OrderCode,
                    totals.by_product[0].paid.format(Locale::English),
                    1
                ),
                (
                    TxProduct::UserPresented,
                    totals.by_product[1].paid.format(Locale::English),
                    2
                ),
            ]
        );
        assert_ne!(parts[0].1, parts[1].1);
    }
}
