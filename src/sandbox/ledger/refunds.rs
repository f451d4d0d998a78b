//! Refunds that succeeded, and refund requests that got a final `F` (kept so that a replay of
//! the same request gets the same answer).

use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::{LedgerError, to_i64, to_u64};

/// Sum and count of the successful refunds of a payment.
pub fn refunded(tx: &Transaction<'_>, payment_id: &str) -> Result<(u64, u64), LedgerError> {
    let (sum, count): (i64, i64) = tx.query_row(
        "SELECT COALESCE(SUM(amount), 0), COUNT(*) FROM refunds WHERE payment_id = ?1",
        [payment_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok((to_u64(sum)?, to_u64(count)?))
}

#[derive(Debug, Clone, PartialEq)]
pub struct RefundRow {
    pub refund_id: String,
    pub client_id: String,
    pub refund_request_id: String,
    pub payment_id: String,
    pub currency: String,
    pub amount: u64,
    pub key_params: String,
    pub refund_time: i64,
    pub answer: String,
}

impl RefundRow {
    pub(super) fn from_row(r: &Row<'_>) -> rusqlite::Result<(Self, i64)> {
        Ok((
            RefundRow {
                refund_id: r.get("refund_id")?,
                client_id: r.get("client_id")?,
                refund_request_id: r.get("refund_request_id")?,
                payment_id: r.get("payment_id")?,
                currency: r.get("currency")?,
                amount: 0,
                key_params: r.get("key_params")?,
                refund_time: r.get("refund_time")?,
                answer: r.get("answer")?,
            },
            r.get("amount")?,
        ))
    }
}

fn refund_where(
    tx: &Transaction<'_>,
    clause: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<Option<RefundRow>, LedgerError> {
    let sql = format!("SELECT * FROM refunds WHERE {clause}");
    tx.query_row(&sql, args, RefundRow::from_row)
        .optional()?
        .map(|(mut r, amount)| {
            r.amount = to_u64(amount)?;
            Ok(r)
        })
        .transpose()
}

pub fn insert_refund(tx: &Transaction<'_>, r: &RefundRow) -> Result<(), LedgerError> {
    tx.execute(
        "INSERT INTO refunds (refund_id, client_id, refund_request_id, payment_id, currency,
            amount, key_params, refund_time, answer)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            r.refund_id,
            r.client_id,
            r.refund_request_id,
            r.payment_id,
            r.currency,
            to_i64(r.amount)?,
            r.key_params,
            r.refund_time,
            r.answer,
        ],
    )?;
    Ok(())
}

pub fn refund_by_id(
    tx: &Transaction<'_>,
    client_id: &str,
    refund_id: &str,
) -> Result<Option<RefundRow>, LedgerError> {
    refund_where(
        tx,
        "client_id = ?1 AND refund_id = ?2",
        &[&client_id, &refund_id],
    )
}

pub fn refund_by_request_id(
    tx: &Transaction<'_>,
    client_id: &str,
    refund_request_id: &str,
) -> Result<Option<RefundRow>, LedgerError> {
    refund_where(
        tx,
        "client_id = ?1 AND refund_request_id = ?2",
        &[&client_id, &refund_request_id],
    )
}

/// A refund request that got a final `F`: kept so that a replay gets the same answer.
pub fn insert_rejection(
    tx: &Transaction<'_>,
    client_id: &str,
    refund_request_id: &str,
    key_params: &str,
    answer: &str,
    now_ms: i64,
) -> Result<(), LedgerError> {
    tx.execute(
        "INSERT INTO refund_rejections (client_id, refund_request_id, key_params, answer,
            created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![client_id, refund_request_id, key_params, answer, now_ms],
    )?;
    Ok(())
}

/// `(key_params, answer)` of a rejected refund request.
pub fn rejection(
    tx: &Transaction<'_>,
    client_id: &str,
    refund_request_id: &str,
) -> Result<Option<(String, String)>, LedgerError> {
    Ok(tx
        .query_row(
            "SELECT key_params, answer FROM refund_rejections
             WHERE client_id = ?1 AND refund_request_id = ?2",
            params![client_id, refund_request_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}
