//! Journal records → the rows the manager screens show. Pure functions: formatting depends
//! only on the record and the language, so a language switch redraws from the same records,
//! and the screenshots show exactly what the terminal shows.

use slint::SharedString;

use super::{
    EventActor, RefundRow, RefundStatus, TimelineRow, TotalsRow, TxDetail, TxRow, TxState,
};
use crate::journal::{
    Actor, CurrencyTotals, EventRecord, PaymentRecord, PaymentState, RefundRecord, RefundState,
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
    }
}
