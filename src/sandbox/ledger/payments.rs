//! Payments as Alipay keeps them: one row per `pay` that was accepted, keyed by `paymentId`
//! and unique per client and `paymentRequestId`, with the final answer kept for replays.

use rusqlite::{OptionalExtension, Row, Transaction, params};
use serde::Serialize;

use super::{LedgerError, to_i64, to_u64};
use crate::ams::models::Amount;

/// `paymentStatus` as the in-store docs define it: Alipay's side of a payment. Named apart
/// from the terminal's own `journal::PaymentState`, which has more states (created,
/// unresolved, ...) because the terminal does not always know what Alipay knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LedgerPaymentState {
    Processing,
    Success,
    Fail,
    Cancelled,
}

impl LedgerPaymentState {
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerPaymentState::Processing => "PROCESSING",
            LedgerPaymentState::Success => "SUCCESS",
            LedgerPaymentState::Fail => "FAIL",
            LedgerPaymentState::Cancelled => "CANCELLED",
        }
    }

    fn parse(s: &str) -> Result<Self, LedgerError> {
        Ok(match s {
            "PROCESSING" => LedgerPaymentState::Processing,
            "SUCCESS" => LedgerPaymentState::Success,
            "FAIL" => LedgerPaymentState::Fail,
            "CANCELLED" => LedgerPaymentState::Cancelled,
            other => {
                return Err(LedgerError::Corrupt(format!("payment status {other:?}")));
            }
        })
    }
}

/// The code a payment that was never paid shows once its expiry has passed (flows.md §7's
/// inferred reading: `FAIL` + `ORDER_IS_CLOSED`).
pub const CLOSED_CODE: &str = "ORDER_IS_CLOSED";

#[derive(Debug, Clone, PartialEq)]
pub struct PaymentRow {
    pub payment_id: String,
    pub client_id: String,
    pub payment_request_id: String,
    pub scenario: String,
    pub currency: String,
    pub amount: u64,
    /// What an idempotent replay must match (amount, currency, method, code, scenario).
    pub key_params: String,
    /// The `pay` request as received (re-serialised), for the wallet page and the notify URL.
    pub request_json: String,
    pub status: LedgerPaymentState,
    pub result_code: String,
    pub result_message: String,
    pub created_at: i64,
    pub expire_at: i64,
    /// When the payment reached its final success or failure (`paymentTime`).
    pub payment_time: Option<i64>,
    /// When the customer paid; stays set after a cancellation, for the windows.
    pub paid_at: Option<i64>,
    pub cancel_time: Option<i64>,
    pub wallet_token: Option<String>,
    pub notify_url: Option<String>,
    pub psp_json: Option<String>,
    /// The final `pay` answer body, returned byte for byte to identical replays.
    pub answer: Option<String>,
    /// A pending magic-amount effect on the next `inquiryPayment` (`unknown` or `hang`).
    pub magic_inquiry: Option<String>,
}

impl PaymentRow {
    pub fn is_closed(&self) -> bool {
        self.status == LedgerPaymentState::Fail && self.result_code == CLOSED_CODE
    }

    pub fn amount(&self) -> Amount {
        Amount::new(self.currency.clone(), self.amount)
    }

    pub(super) fn from_row(r: &Row<'_>) -> rusqlite::Result<(Self, String, i64)> {
        Ok((
            PaymentRow {
                payment_id: r.get("payment_id")?,
                client_id: r.get("client_id")?,
                payment_request_id: r.get("payment_request_id")?,
                scenario: r.get("scenario")?,
                currency: r.get("currency")?,
                amount: 0,
                key_params: r.get("key_params")?,
                request_json: r.get("request_json")?,
                status: LedgerPaymentState::Processing,
                result_code: r.get("result_code")?,
                result_message: r.get("result_message")?,
                created_at: r.get("created_at")?,
                expire_at: r.get("expire_at")?,
                payment_time: r.get("payment_time")?,
                paid_at: r.get("paid_at")?,
                cancel_time: r.get("cancel_time")?,
                wallet_token: r.get("wallet_token")?,
                notify_url: r.get("notify_url")?,
                psp_json: r.get("psp_json")?,
                answer: r.get("answer")?,
                magic_inquiry: r.get("magic_inquiry")?,
            },
            r.get("status")?,
            r.get("amount")?,
        ))
    }
}

pub(super) fn finish_payment(
    raw: Option<(PaymentRow, String, i64)>,
) -> Result<Option<PaymentRow>, LedgerError> {
    raw.map(|(mut p, status, amount)| {
        p.status = LedgerPaymentState::parse(&status)?;
        p.amount = to_u64(amount)?;
        Ok(p)
    })
    .transpose()
}

fn payment_where(
    tx: &Transaction<'_>,
    clause: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<Option<PaymentRow>, LedgerError> {
    let sql = format!("SELECT * FROM payments WHERE {clause}");
    let raw = tx.query_row(&sql, args, PaymentRow::from_row).optional()?;
    finish_payment(raw)
}

pub fn insert_payment(tx: &Transaction<'_>, p: &PaymentRow) -> Result<(), LedgerError> {
    tx.execute(
        "INSERT INTO payments (payment_id, client_id, payment_request_id, scenario, currency,
            amount, key_params, request_json, status, result_code, result_message, created_at,
            expire_at, payment_time, paid_at, cancel_time, wallet_token, notify_url, psp_json,
            answer, magic_inquiry)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
            ?18, ?19, ?20, ?21)",
        params![
            p.payment_id,
            p.client_id,
            p.payment_request_id,
            p.scenario,
            p.currency,
            to_i64(p.amount)?,
            p.key_params,
            p.request_json,
            p.status.as_str(),
            p.result_code,
            p.result_message,
            p.created_at,
            p.expire_at,
            p.payment_time,
            p.paid_at,
            p.cancel_time,
            p.wallet_token,
            p.notify_url,
            p.psp_json,
            p.answer,
            p.magic_inquiry,
        ],
    )?;
    Ok(())
}

/// Writes back everything about a payment that can change after creation.
pub fn save_payment(tx: &Transaction<'_>, p: &PaymentRow) -> Result<(), LedgerError> {
    tx.execute(
        "UPDATE payments SET status = ?2, result_code = ?3, result_message = ?4,
            payment_time = ?5, paid_at = ?6, cancel_time = ?7, psp_json = ?8, answer = ?9,
            magic_inquiry = ?10
         WHERE payment_id = ?1",
        params![
            p.payment_id,
            p.status.as_str(),
            p.result_code,
            p.result_message,
            p.payment_time,
            p.paid_at,
            p.cancel_time,
            p.psp_json,
            p.answer,
            p.magic_inquiry,
        ],
    )?;
    Ok(())
}

pub fn payment_by_id(
    tx: &Transaction<'_>,
    client_id: &str,
    payment_id: &str,
) -> Result<Option<PaymentRow>, LedgerError> {
    payment_where(
        tx,
        "client_id = ?1 AND payment_id = ?2",
        &[&client_id, &payment_id],
    )
}

pub fn payment_by_request_id(
    tx: &Transaction<'_>,
    client_id: &str,
    payment_request_id: &str,
) -> Result<Option<PaymentRow>, LedgerError> {
    payment_where(
        tx,
        "client_id = ?1 AND payment_request_id = ?2",
        &[&client_id, &payment_request_id],
    )
}

pub fn payment_by_token(
    tx: &Transaction<'_>,
    token: &str,
) -> Result<Option<PaymentRow>, LedgerError> {
    payment_where(tx, "wallet_token = ?1", &[&token])
}

/// For the control endpoint, which has no client id: a `paymentId`, or else a
/// `paymentRequestId` that only one client used (`Err` names the ambiguity).
pub fn payment_by_any_id(
    tx: &Transaction<'_>,
    id: &str,
) -> Result<Result<Option<PaymentRow>, String>, LedgerError> {
    if let Some(p) = payment_where(tx, "payment_id = ?1", &[&id])? {
        return Ok(Ok(Some(p)));
    }
    let count: i64 = tx.query_row(
        "SELECT COUNT(*) FROM payments WHERE payment_request_id = ?1",
        [id],
        |r| r.get(0),
    )?;
    if count > 1 {
        return Ok(Err(format!(
            "paymentRequestId {id} is used by {count} clients; use the paymentId"
        )));
    }
    Ok(Ok(payment_where(tx, "payment_request_id = ?1", &[&id])?))
}

/// The User-presented payments still waiting for the customer's confirmation (`PROCESSING`,
/// scenario `PaymentCode`, not expired at `now_ms`, with a wallet token), newest first, at
/// most `limit`: the demo customer's "Waiting for your confirmation" list.
pub fn waiting_payments(
    tx: &Transaction<'_>,
    now_ms: i64,
    limit: u32,
) -> Result<Vec<PaymentRow>, LedgerError> {
    let mut statement = tx.prepare(
        "SELECT * FROM payments
         WHERE status = 'PROCESSING' AND scenario = 'PaymentCode' AND expire_at > ?1
           AND wallet_token IS NOT NULL
         ORDER BY created_at DESC, rowid DESC
         LIMIT ?2",
    )?;
    let rows = statement.query_map(params![now_ms, limit], PaymentRow::from_row)?;
    let mut out = Vec::new();
    for row in rows {
        if let Some(p) = finish_payment(Some(row?))? {
            out.push(p);
        }
    }
    Ok(out)
}

/// Closes every unpaid payment whose expiry has passed. Returns how many closed.
pub fn close_expired(tx: &Transaction<'_>, now_ms: i64) -> Result<usize, LedgerError> {
    Ok(tx.execute(
        "UPDATE payments SET status = 'FAIL', result_code = ?2,
            result_message = 'The order code expired before it was paid.',
            payment_time = expire_at
         WHERE status = 'PROCESSING' AND expire_at <= ?1",
        params![now_ms, CLOSED_CODE],
    )?)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::sandbox::ledger::Ledger;

    pub(crate) fn payment(id: &str, request_id: &str, expire_at: i64) -> PaymentRow {
        PaymentRow {
            payment_id: id.into(),
            client_id: "C".into(),
            payment_request_id: request_id.into(),
            scenario: "OrderCode".into(),
            currency: "USD".into(),
            amount: 1250,
            key_params: "{}".into(),
            request_json: "{}".into(),
            status: LedgerPaymentState::Processing,
            result_code: "PAYMENT_IN_PROCESS".into(),
            result_message: "m".into(),
            created_at: 1_000,
            expire_at,
            payment_time: None,
            paid_at: None,
            cancel_time: None,
            wallet_token: Some(format!("tok-{id}")),
            notify_url: None,
            psp_json: None,
            answer: Some("{\"a\":1}".into()),
            magic_inquiry: None,
        }
    }

    #[test]
    fn payments_round_trip_and_expire_in_a_sweep() {
        let ledger = Ledger::open_in_memory().unwrap();
        ledger
            .run(|tx| {
                insert_payment(tx, &payment("P1", "R1", 5_000))?;
                insert_payment(tx, &payment("P2", "R2", 9_000))
            })
            .unwrap();
        let p = ledger
            .run(|tx| payment_by_request_id(tx, "C", "R1"))
            .unwrap()
            .unwrap();
        assert_eq!(p, payment("P1", "R1", 5_000));
        assert_eq!(ledger.run(|tx| close_expired(tx, 6_000)).unwrap(), 1);
        let p1 = ledger
            .run(|tx| payment_by_id(tx, "C", "P1"))
            .unwrap()
            .unwrap();
        assert!(p1.is_closed());
        assert_eq!(p1.payment_time, Some(5_000));
        let p2 = ledger
            .run(|tx| payment_by_token(tx, "tok-P2"))
            .unwrap()
            .unwrap();
        assert_eq!(p2.status, LedgerPaymentState::Processing);
        assert!(
            ledger
                .run(|tx| payment_by_id(tx, "D", "P1"))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn waiting_payments_are_open_user_presented_ones_newest_first() {
        let ledger = Ledger::open_in_memory().unwrap();
        let upm = |id: &str, created_at: i64, expire_at: i64| PaymentRow {
            scenario: "PaymentCode".into(),
            created_at,
            ..payment(id, &format!("R-{id}"), expire_at)
        };
        ledger
            .run(|tx| {
                insert_payment(tx, &upm("OLD", 1_000, 9_000))?;
                insert_payment(tx, &upm("NEW", 2_000, 9_000))?;
                insert_payment(tx, &upm("GONE", 3_000, 4_000))?;
                insert_payment(tx, &payment("OC", "R-OC", 9_000))?;
                let mut paid = upm("PAID", 2_500, 9_000);
                paid.status = LedgerPaymentState::Success;
                insert_payment(tx, &paid)
            })
            .unwrap();
        let ids = |limit| {
            ledger
                .run(|tx| waiting_payments(tx, 5_000, limit))
                .unwrap()
                .into_iter()
                .map(|p| p.payment_id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(10), ["NEW", "OLD"]);
        assert_eq!(ids(1), ["NEW"]);
    }

    #[test]
    fn the_same_request_id_cannot_be_stored_twice_per_client() {
        let ledger = Ledger::open_in_memory().unwrap();
        ledger
            .run(|tx| insert_payment(tx, &payment("P1", "R1", 5_000)))
            .unwrap();
        assert!(
            ledger
                .run(|tx| insert_payment(tx, &payment("P2", "R1", 5_000)))
                .is_err()
        );
        // A failed transaction leaves nothing behind.
        assert!(
            ledger
                .run(|tx| payment_by_id(tx, "C", "P2"))
                .unwrap()
                .is_none()
        );
    }
}
