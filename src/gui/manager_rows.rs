//! Journal records → the rows the manager screens show. Pure functions: formatting depends
//! only on the record and the language, so a language switch redraws from the same records,
//! and the screenshots show exactly what the terminal shows.

use slint::{ModelRc, SharedString, VecModel};

use super::{
    BatchRow, CloseTotalsRow, DiscrepancyKind as KindUi, DiscrepancyRow, EventActor, LaterEventRow,
    ListedType as ListedUi, ProductTotalsRow, RefundRow, RefundStatus, ReportFileRow,
    StoreRefundRow, StoreRow, TimelineRow, TotalsRow, TxDetail, TxProduct, TxRow, TxState, ZReport,
};
use crate::journal::{
    Actor, CurrencyTotals, DayCloseReport, DiscrepancyKind, DiscrepancyRecord, EntityRef,
    EventRecord, ImportedFile, ListedType, PaymentMark, PaymentRecord, PaymentState, Product,
    ReconciliationAtClose, RefundRecord, RefundState, SignedTotal,
};
use crate::local_time::{format_local, format_local_time_of_day};
use crate::locale::Locale;
use crate::money::{Currency, MinorTotal};
use crate::reconcile::amount::{major_from_minor, minor_from_major};
use crate::reconcile::day_report::BatchFigures;

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

fn count(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Signed minor units (a report's refunds, fees and nets may be negative), formatted like
/// every other amount, with a real minus sign.
pub fn signed_amount(minor: i64, currency: Currency, locale: Locale) -> String {
    let magnitude = match SignedTotal::from_minor(i128::from(minor), currency) {
        Ok(total) => total.magnitude().format(locale),
        // Past what a total can be: the digits as the report has them.
        Err(_) => format!("{} {}", major_from_minor(minor, currency), currency.code()),
    };
    if minor < 0 {
        format!("−{magnitude}")
    } else {
        magnitude
    }
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

fn refund_status(state: RefundState) -> RefundStatus {
    match state {
        RefundState::Requested => RefundStatus::Requested,
        RefundState::Unresolved => RefundStatus::Unresolved,
        RefundState::Succeeded => RefundStatus::Succeeded,
        RefundState::Failed => RefundStatus::Failed,
    }
}

pub fn refund_row(refund: &RefundRecord, locale: Locale) -> RefundRow {
    RefundRow {
        time: text(format_local(
            refund.refunded_at.unwrap_or(refund.created_at),
        )),
        amount: text(refund.amount.format(locale)),
        status: refund_status(refund.state),
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

/// A close record for the Z report screen.
pub fn z_report(report: &DayCloseReport) -> ZReport {
    let close = &report.close;
    let count = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
    let payments = |state: PaymentState| {
        count(
            close
                .payment_counts
                .iter()
                .filter(|(s, _)| *s == state)
                .map(|(_, n)| *n)
                .sum(),
        )
    };
    let refunds = |state: RefundState| {
        count(
            close
                .refund_counts
                .iter()
                .filter(|(s, _)| *s == state)
                .map(|(_, n)| *n)
                .sum(),
        )
    };
    let mark = |mark: &Option<PaymentMark>| {
        text(mark.as_ref().map_or_else(String::new, |m| {
            format!("{} · {}", m.payment_request_id, format_local(m.paid_at))
        }))
    };
    let recon = close.reconciliation.unwrap_or(ReconciliationAtClose {
        files_imported: 0,
        matched: 0,
        not_ours: 0,
        open_discrepancies: 0,
    });
    ZReport {
        number: i32::try_from(close.number).unwrap_or(i32::MAX),
        date: text(close.date.to_string()),
        time_zone: text(&close.time_zone),
        closed_at: text(format_local(close.closed_at)),
        closed_by: text(&close.closed_by),
        paid_payments: payments(PaymentState::Paid),
        failed_payments: payments(PaymentState::Failed),
        cancelled_payments: payments(PaymentState::Cancelled),
        succeeded_refunds: refunds(RefundState::Succeeded),
        failed_refunds: refunds(RefundState::Failed),
        first_payment: mark(&close.first_payment),
        last_payment: mark(&close.last_payment),
        unresolved_payments: count(close.unresolved_payments),
        unresolved_refunds: count(close.unresolved_refunds),
        reconciled: close.reconciliation.is_some(),
        recon_files: count(recon.files_imported),
        recon_matched: count(recon.matched),
        recon_not_ours: count(recon.not_ours),
        recon_open: count(recon.open_discrepancies),
        totals_changed: report.totals_changed(),
    }
}

fn signed(total: &SignedTotal, locale: Locale) -> SharedString {
    let magnitude = total.magnitude().format(locale);
    text(if total.is_negative() {
        format!("−{magnitude}")
    } else {
        magnitude
    })
}

/// The Z report's currencies: at close, and now where something changed. A currency that
/// only appeared after the close (a first payment after it) shows zeros at close.
pub fn z_totals(report: &DayCloseReport, locale: Locale) -> Vec<CloseTotalsRow> {
    let count = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
    let mut currencies: Vec<Currency> = report.close.totals.iter().map(|t| t.currency).collect();
    for now in &report.totals_now {
        if !currencies.contains(&now.currency) {
            currencies.push(now.currency);
        }
    }
    currencies
        .into_iter()
        .map(|currency| {
            let at_close = report.close.totals.iter().find(|t| t.currency == currency);
            let now = report.totals_now.iter().find(|t| t.currency == currency);
            let zero = MinorTotal::zero(currency).format(locale);
            let paid = |t: Option<&CurrencyTotals>| {
                t.map_or_else(|| text(&zero), |t| text(t.paid.format(locale)))
            };
            let refunded = |t: Option<&CurrencyTotals>| {
                t.map_or_else(|| text(&zero), |t| text(t.refunded.format(locale)))
            };
            let net = |t: Option<&CurrencyTotals>| {
                t.map_or_else(|| text(&zero), |t| signed(&t.net, locale))
            };
            CloseTotalsRow {
                currency: text(currency.code()),
                paid: paid(at_close),
                paid_count: count(at_close.map_or(0, |t| t.paid_count)),
                refunded: refunded(at_close),
                refunded_count: count(at_close.map_or(0, |t| t.refunded_count)),
                net: net(at_close),
                changed: at_close != now,
                now_paid: paid(now),
                now_refunded: refunded(now),
                now_net: net(now),
            }
        })
        .collect()
}

/// What happened to the day after its close, oldest first.
pub fn z_later(report: &DayCloseReport) -> Vec<LaterEventRow> {
    report
        .later_events
        .iter()
        .map(|later| {
            let event = &later.event;
            let is_refund = matches!(event.entity, EntityRef::Refund(_));
            let to = event.to_state.as_deref();
            let state = to.and_then(PaymentState::parse).filter(|_| !is_refund);
            let refund_state = to.and_then(RefundState::parse).filter(|_| is_refund);
            LaterEventRow {
                time: text(format_local(event.at)),
                request_id: text(&later.request_id),
                is_refund,
                has_state: state.is_some() || refund_state.is_some(),
                state: state.map_or(TxState::Created, state_of),
                refund_status: refund_state.map_or(RefundStatus::Requested, refund_status),
                detail: text(&event.detail),
            }
        })
        .collect()
}

pub fn report_file_row(file: &ImportedFile) -> ReportFileRow {
    ReportFileRow {
        name: text(&file.name),
        rows: count(file.rows),
        matched: count(file.matched),
        not_ours: count(file.not_ours),
    }
}

pub fn batch_row(figures: &BatchFigures, locale: Locale) -> BatchRow {
    let batch = &figures.batch;
    let currency = batch.currency;
    BatchRow {
        id: text(&batch.settlement_batch_id),
        currency: text(currency.code()),
        count: count(batch.count),
        gross: text(signed_amount(figures.gross_minor, currency, locale)),
        fees: text(signed_amount(batch.fee_minor, currency, locale)),
        net: text(signed_amount(batch.net_minor, currency, locale)),
        settled_at: text(batch.settled_at.map(format_local).unwrap_or_default()),
    }
}

/// An amount of a discrepancy's evidence (`{"amount": "-2.50", "currency": "USD"}`, major
/// units as the report wrote them), formatted; empty when the side has none.
fn evidence_amount(evidence: &serde_json::Value, locale: Locale) -> String {
    let Some(amount) = evidence.get("amount").and_then(serde_json::Value::as_str) else {
        return String::new();
    };
    let code = evidence
        .get("currency")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    match Currency::from_code(code) {
        Ok(currency) => match minor_from_major(amount, currency) {
            Ok(minor) => signed_amount(minor, currency, locale),
            Err(_) => format!("{amount} {code}"),
        },
        // A currency this build does not know (a currency mismatch may be one): as written.
        Err(_) => format!("{amount} {code}").trim().to_string(),
    }
}

pub fn discrepancy_row(d: &DiscrepancyRecord, locale: Locale) -> DiscrepancyRow {
    let parse = |evidence: &str| {
        serde_json::from_str::<serde_json::Value>(evidence).unwrap_or(serde_json::Value::Null)
    };
    let alipay = parse(&d.alipay);
    let journal = parse(&d.journal);
    let state = journal.get("state").and_then(serde_json::Value::as_str);
    let is_refund = journal.get("refundRequestId").is_some();
    let payment_state = state.and_then(PaymentState::parse).filter(|_| !is_refund);
    let refund_state = state.and_then(RefundState::parse).filter(|_| is_refund);
    DiscrepancyRow {
        id: text(d.id.to_string()),
        kind: match d.kind {
            DiscrepancyKind::MissingLocally => KindUi::MissingLocally,
            DiscrepancyKind::MissingAtAlipay => KindUi::MissingAtAlipay,
            DiscrepancyKind::AmountMismatch => KindUi::AmountMismatch,
            DiscrepancyKind::StateMismatch => KindUi::StateMismatch,
            DiscrepancyKind::CurrencyMismatch => KindUi::CurrencyMismatch,
        },
        listed: match d.transaction_type {
            ListedType::Payment => ListedUi::Payment,
            ListedType::Refund => ListedUi::Refund,
            ListedType::Cancel => ListedUi::Cancel,
        },
        request_id: text(&d.transaction_request_id),
        alipay_amount: text(evidence_amount(&alipay, locale)),
        journal_amount: text(evidence_amount(&journal, locale)),
        has_journal_state: payment_state.is_some() || refund_state.is_some(),
        journal_is_refund: is_refund,
        journal_state: payment_state.map_or(TxState::Created, state_of),
        journal_refund: match refund_state {
            Some(RefundState::Requested) | None => RefundStatus::Requested,
            Some(RefundState::Unresolved) => RefundStatus::Unresolved,
            Some(RefundState::Succeeded) => RefundStatus::Succeeded,
            Some(RefundState::Failed) => RefundStatus::Failed,
        },
        file: text(&d.file),
        line: text(d.line.map(|l| l.to_string()).unwrap_or_default()),
    }
}

/// A store hub's time (RFC 3339) as the terminal shows its own: local, to the second.
/// One the terminal cannot read is shown as the hub sent it.
fn store_time(at: &str) -> SharedString {
    match time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339) {
        Ok(at) => text(format_local(at)),
        Err(_) => text(at),
    }
}

/// A state as the hub names it (the journal's names); an unknown one reads as unresolved,
/// the state that claims least.
fn store_state(state: &str) -> TxState {
    match state {
        "created" => TxState::Created,
        "awaiting_customer" => TxState::AwaitingCustomer,
        "cancelling" => TxState::Cancelling,
        "paid" => TxState::Paid,
        "failed" => TxState::Failed,
        "cancelled" => TxState::Cancelled,
        _ => TxState::Unresolved,
    }
}

fn store_product(product: &str) -> TxProduct {
    match product {
        "user_presented" => TxProduct::UserPresented,
        "entry_code" => TxProduct::EntryCode,
        "auto_debit" => TxProduct::AutoDebit,
        _ => TxProduct::OrderCode,
    }
}

/// Minor units in a currency the hub names, formatted; digits and code when the terminal
/// does not know the currency.
fn store_amount(minor: u64, currency: &str, locale: Locale) -> String {
    match Currency::from_code(currency)
        .ok()
        .and_then(|currency| MinorTotal::from_minor(minor, currency).ok())
    {
        Some(total) => total.format(locale),
        None => format!("{minor} {currency}"),
    }
}

/// One payment of the whole store (any terminal), as the hub has it.
pub fn store_row(row: &crate::terminal::StoreTransaction, locale: Locale) -> StoreRow {
    let p = &row.payment;
    StoreRow {
        id: text(&p.payment_request_id),
        terminal: text(&row.terminal),
        time: store_time(&p.created_at),
        amount: text(store_amount(p.amount_minor, &p.currency, locale)),
        state: store_state(&p.state),
        refunded: if row.refunded_minor == 0 {
            SharedString::new()
        } else {
            text(store_amount(row.refunded_minor, &p.currency, locale))
        },
        product: store_product(&p.product),
        description: text(&p.description),
    }
}

/// One currency's totals of the whole store's day.
pub fn store_totals_row(totals: &crate::terminal::StoreTotals, locale: Locale) -> TotalsRow {
    let net = store_amount(totals.net_minor.unsigned_abs(), &totals.currency, locale);
    TotalsRow {
        currency: text(&totals.currency),
        paid: text(store_amount(totals.paid_minor, &totals.currency, locale)),
        paid_count: count(totals.paid_count),
        refunded: text(store_amount(
            totals.refunded_minor,
            &totals.currency,
            locale,
        )),
        refunded_count: count(totals.refunded_count),
        net: text(if totals.net_minor < 0 {
            format!("−{net}")
        } else {
            net
        }),
        by_product: ModelRc::default(),
    }
}

/// One refund of a store payment, with the terminal that made it.
pub fn store_refund_row(refund: &crate::terminal::StoreRefund, locale: Locale) -> StoreRefundRow {
    let r = &refund.refund;
    StoreRefundRow {
        terminal: text(&refund.terminal),
        time: store_time(&r.created_at),
        amount: text(store_amount(r.amount_minor, &r.currency, locale)),
        status: match r.state.as_str() {
            "succeeded" => RefundStatus::Succeeded,
            "failed" => RefundStatus::Failed,
            "unresolved" => RefundStatus::Unresolved,
            _ => RefundStatus::Requested,
        },
        reason: text(&r.reason),
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

    #[test]
    fn discrepancy_rows_show_both_sides_of_the_evidence() {
        use crate::gui::controllers::testing::day_report;
        let mut d = day_report("20261130", &[(4, DiscrepancyKind::AmountMismatch)]).open[0].clone();
        d.transaction_type = ListedType::Refund;
        d.alipay = r#"{"amount":"-2.50","currency":"USD","line":5}"#.into();
        d.journal = r#"{"refundRequestId":"R-1-T01-1","state":"unresolved","amount":"2.00","currency":"USD"}"#.into();
        let row = discrepancy_row(&d, Locale::English);
        assert_eq!(row.id, "4");
        assert_eq!(row.kind, KindUi::AmountMismatch);
        assert_eq!(row.listed, ListedUi::Refund);
        assert_eq!(
            row.alipay_amount, "−USD 2.50",
            "a refund is negative in the report"
        );
        assert_eq!(row.journal_amount, "USD 2.00");
        assert!(row.has_journal_state && row.journal_is_refund);
        assert_eq!(row.journal_refund, RefundStatus::Unresolved);
        assert_eq!(row.line, "5");

        // Alipay does not list it; the journal has it paid.
        d.kind = DiscrepancyKind::MissingAtAlipay;
        d.transaction_type = ListedType::Payment;
        d.line = None;
        d.alipay = r#"{"listed":false,"files":["transactionItems_20261130_000.csv"]}"#.into();
        d.journal =
            r#"{"paymentRequestId":"P-1-T01-1","state":"paid","amount":"12.50","currency":"USD"}"#
                .into();
        let row = discrepancy_row(&d, Locale::English);
        assert_eq!(row.kind, KindUi::MissingAtAlipay);
        assert_eq!(row.alipay_amount, "");
        assert_eq!(row.journal_state, TxState::Paid);
        assert!(!row.journal_is_refund);
        assert_eq!(row.line, "");

        // The journal does not know it; a currency this build does not know is shown as
        // the report wrote it.
        d.kind = DiscrepancyKind::MissingLocally;
        d.alipay = r#"{"amount":"9.99","currency":"XYZ"}"#.into();
        d.journal = "null".into();
        let row = discrepancy_row(&d, Locale::English);
        assert_eq!(row.alipay_amount, "9.99 XYZ");
        assert_eq!(row.journal_amount, "");
        assert!(!row.has_journal_state);
    }

    #[test]
    fn batch_rows_show_gross_fees_and_net_in_the_batchs_currency() {
        use crate::journal::SettlementBatch;
        let figures = BatchFigures {
            batch: SettlementBatch {
                settlement_batch_id: "B20261201USD".into(),
                settlement_date: "20261201".into(),
                file: "settlementSummary_USD_B20261201USD_000.csv".into(),
                count: 3,
                net_minor: 725,
                fee_minor: 25,
                currency: Currency::USD,
                settled_at: None,
            },
            gross_minor: 750,
        };
        let row = batch_row(&figures, Locale::English);
        assert_eq!(
            (row.gross.as_str(), row.fees.as_str(), row.net.as_str()),
            ("USD 7.50", "USD 0.25", "USD 7.25")
        );
        assert_eq!(row.count, 3);
        assert_eq!(row.settled_at, "");
        assert_eq!(
            signed_amount(-1234, Currency::USD, Locale::English),
            "−USD 12.34"
        );
        assert_eq!(signed_amount(0, Currency::USD, Locale::English), "USD 0.00");
    }
}
