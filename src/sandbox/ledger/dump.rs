//! `GET /sandbox/control/ledger`: the whole ledger as JSON-ready rows, for tests that check
//! the terminal's records against Alipay's side.

use rusqlite::Transaction;
use serde::Serialize;

use super::outbox::NotificationRow;
use super::payments::{LedgerPaymentState, PaymentRow, finish_payment};
use super::refunds::{RefundRow, refunded};
use super::registrations::RegistrationRow;
use super::{LedgerError, to_u64};
use crate::ams::models::Amount;
use crate::sandbox::clock::wire_time;
use crate::sandbox::wallet::wallet_url;

/// `GET /sandbox/control/ledger`: everything another test needs for consistency checks.
#[derive(Debug, Clone, Serialize)]
pub struct LedgerDump {
    /// The sandbox clock when the dump was taken.
    pub now: String,
    pub payments: Vec<PaymentEntry>,
    pub refunds: Vec<RefundEntry>,
    pub registrations: Vec<RegistrationEntry>,
    pub notifications: Vec<NotificationRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PaymentEntry {
    pub client_id: String,
    pub payment_id: String,
    pub payment_request_id: String,
    pub scenario: String,
    pub status: LedgerPaymentState,
    pub result_code: String,
    pub amount: Amount,
    /// Sum of successful refunds, same currency.
    pub refunded: Amount,
    pub refund_count: u64,
    pub created_at: String,
    pub expire_at: String,
    pub payment_time: Option<String>,
    pub cancel_time: Option<String>,
    pub wallet_url: Option<String>,
    /// The `paymentNotifyUrl` the merchant sent, `None` when it sent none (then no
    /// `notifyPayment` is posted).
    pub notify_url: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RefundEntry {
    pub client_id: String,
    pub refund_id: String,
    pub refund_request_id: String,
    pub payment_id: String,
    pub amount: Amount,
    pub status: &'static str,
    pub refund_time: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RegistrationEntry {
    pub client_id: String,
    pub registration_request_id: String,
    pub reference_merchant_id: String,
    pub reference_store_id: String,
    pub status: String,
    pub psp_result: Option<String>,
    pub accepted_at: String,
    pub completed_at: Option<String>,
}

pub fn dump(
    tx: &Transaction<'_>,
    now_ms: i64,
    public_base: &str,
) -> Result<LedgerDump, LedgerError> {
    let mut payments = Vec::new();
    {
        let mut stmt = tx.prepare("SELECT * FROM payments ORDER BY created_at, payment_id")?;
        let raw = stmt
            .query_map([], PaymentRow::from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        for row in raw {
            let Some(p) = finish_payment(Some(row))? else {
                continue;
            };
            let (refunded_sum, refund_count) = refunded(tx, &p.payment_id)?;
            payments.push(PaymentEntry {
                refunded: Amount::new(p.currency.clone(), refunded_sum),
                refund_count,
                amount: p.amount(),
                created_at: wire_time(p.created_at),
                expire_at: wire_time(p.expire_at),
                payment_time: p.payment_time.map(wire_time),
                cancel_time: p.cancel_time.map(wire_time),
                wallet_url: p
                    .wallet_token
                    .as_deref()
                    .map(|t| wallet_url(public_base, t)),
                notify_url: p.notify_url.clone(),
                status: p.status,
                result_code: p.result_code,
                scenario: p.scenario,
                client_id: p.client_id,
                payment_id: p.payment_id,
                payment_request_id: p.payment_request_id,
            });
        }
    }
    let refunds = {
        let mut stmt = tx.prepare("SELECT * FROM refunds ORDER BY refund_time, refund_id")?;
        let raw = stmt
            .query_map([], RefundRow::from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        raw.into_iter()
            .map(|(r, amount)| {
                Ok(RefundEntry {
                    amount: Amount::new(r.currency, to_u64(amount)?),
                    status: "SUCCESS",
                    refund_time: wire_time(r.refund_time),
                    client_id: r.client_id,
                    refund_id: r.refund_id,
                    refund_request_id: r.refund_request_id,
                    payment_id: r.payment_id,
                })
            })
            .collect::<Result<Vec<_>, LedgerError>>()?
    };
    let registrations = {
        let mut stmt = tx.prepare("SELECT * FROM registrations ORDER BY accepted_at, rowid")?;
        stmt.query_map([], RegistrationRow::from_row)?
            .map(|r| {
                r.map(|g| RegistrationEntry {
                    accepted_at: wire_time(g.accepted_at),
                    completed_at: g.completed_at.map(wire_time),
                    client_id: g.client_id,
                    registration_request_id: g.registration_request_id,
                    reference_merchant_id: g.reference_merchant_id,
                    reference_store_id: g.reference_store_id,
                    status: g.status,
                    psp_result: g.psp_result,
                })
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    let notifications = {
        let mut stmt = tx.prepare("SELECT * FROM notifications ORDER BY id")?;
        stmt.query_map([], NotificationRow::from_row)?
            .collect::<Result<Vec<_>, _>>()?
    };
    Ok(LedgerDump {
        now: wire_time(now_ms),
        payments,
        refunds,
        registrations,
        notifications,
    })
}
