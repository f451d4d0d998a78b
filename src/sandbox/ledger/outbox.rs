//! The notification outbox: every `notifyPayment` and `notifyRegistrationStatus` the
//! sandbox owes a merchant, with its delivery attempts, so a restarted sandbox resumes the
//! resend schedule where it stopped.

use rusqlite::{OptionalExtension, Row, Transaction, params};
use serde::Serialize;

use super::LedgerError;

// The delivery states of a notification (its `status`).
/// Waiting for its next attempt (`next_at`).
pub const PENDING: &str = "PENDING";
/// The merchant answered the fixed acknowledgement.
pub const DELIVERED: &str = "DELIVERED";
/// The resend schedule ran out without an acknowledgement.
pub const ABANDONED: &str = "ABANDONED";
/// A `suppress_notifications` fault was in force when it came due; never sent.
pub const SUPPRESSED: &str = "SUPPRESSED";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotificationRow {
    pub id: i64,
    pub client_id: String,
    /// `notifyPayment` or `notifyRegistrationStatus`.
    pub kind: String,
    /// The payment id or registration request id it is about.
    pub subject: String,
    pub url: String,
    #[serde(skip)]
    pub body: String,
    pub status: String,
    pub attempts: u32,
    #[serde(skip)]
    pub next_at: i64,
    #[serde(skip)]
    pub created_at: i64,
    pub last_error: Option<String>,
}

impl NotificationRow {
    pub(super) fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(NotificationRow {
            id: r.get("id")?,
            client_id: r.get("client_id")?,
            kind: r.get("kind")?,
            subject: r.get("subject")?,
            url: r.get("url")?,
            body: r.get("body")?,
            status: r.get("status")?,
            attempts: r.get("attempts")?,
            next_at: r.get("next_at")?,
            created_at: r.get("created_at")?,
            last_error: r.get("last_error")?,
        })
    }
}

pub fn enqueue_notification(
    tx: &Transaction<'_>,
    client_id: &str,
    kind: &str,
    subject: &str,
    url: &str,
    body: &str,
    now_ms: i64,
) -> Result<(), LedgerError> {
    tx.execute(
        "INSERT INTO notifications (client_id, kind, subject, url, body, status, next_at,
            created_at) VALUES (?1, ?2, ?3, ?4, ?5, 'PENDING', ?6, ?6)",
        params![client_id, kind, subject, url, body, now_ms],
    )?;
    Ok(())
}

pub fn notifications_due(
    tx: &Transaction<'_>,
    now_ms: i64,
    limit: usize,
) -> Result<Vec<NotificationRow>, LedgerError> {
    let mut stmt = tx.prepare(
        "SELECT * FROM notifications WHERE status = 'PENDING' AND next_at <= ?1
         ORDER BY next_at, id LIMIT ?2",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt
        .query_map(params![now_ms, limit], NotificationRow::from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn next_notification_at(tx: &Transaction<'_>) -> Result<Option<i64>, LedgerError> {
    Ok(tx.query_row(
        "SELECT MIN(next_at) FROM notifications WHERE status = 'PENDING'",
        [],
        |r| r.get(0),
    )?)
}

/// Records one delivery attempt. `next_at` is when to try again; `None` ends the
/// notification with `final_status`.
pub fn record_attempt(
    tx: &Transaction<'_>,
    id: i64,
    now_ms: i64,
    error: Option<&str>,
    next_at: Option<i64>,
    final_status: &str,
) -> Result<(), LedgerError> {
    let (status, next) = match next_at {
        Some(at) => (PENDING, at),
        None => (final_status, now_ms),
    };
    let delivered_at = (final_status == DELIVERED && next_at.is_none()).then_some(now_ms);
    tx.execute(
        "UPDATE notifications SET attempts = attempts + 1, last_attempt_at = ?2, last_error = ?3,
            status = ?4, next_at = ?5, delivered_at = COALESCE(?6, delivered_at)
         WHERE id = ?1",
        params![id, now_ms, error, status, next, delivered_at],
    )?;
    Ok(())
}

/// Whether a notification read earlier is still pending at the same attempt count. The
/// notifier checks this right before sending, so a row read just before another attempt was
/// recorded is not sent a second time.
pub fn notification_unchanged(
    tx: &Transaction<'_>,
    id: i64,
    attempts: u32,
) -> Result<bool, LedgerError> {
    let row: Option<(String, u32)> = tx
        .query_row(
            "SELECT status, attempts FROM notifications WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(row.is_some_and(|(status, n)| status == PENDING && n == attempts))
}

pub fn mark_suppressed(tx: &Transaction<'_>, id: i64) -> Result<(), LedgerError> {
    tx.execute(
        "UPDATE notifications SET status = 'SUPPRESSED' WHERE id = ?1 AND status = 'PENDING'",
        [id],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::ledger::{Ledger, dump};

    #[test]
    fn outbox_attempts_move_through_the_states() {
        let ledger = Ledger::open_in_memory().unwrap();
        ledger
            .run(|tx| enqueue_notification(tx, "C", "notifyPayment", "P1", "http://x/n", "{}", 100))
            .unwrap();
        let due = ledger.run(|tx| notifications_due(tx, 100, 10)).unwrap();
        assert_eq!(due.len(), 1);
        let id = due[0].id;
        ledger
            .run(|tx| record_attempt(tx, id, 100, Some("HTTP 500"), Some(500), ABANDONED))
            .unwrap();
        assert!(
            ledger
                .run(|tx| notifications_due(tx, 499, 10))
                .unwrap()
                .is_empty()
        );
        assert_eq!(ledger.run(next_notification_at).unwrap(), Some(500));
        ledger
            .run(|tx| record_attempt(tx, id, 500, None, None, DELIVERED))
            .unwrap();
        let dump = ledger.run(|tx| dump(tx, 600, "http://s")).unwrap();
        assert_eq!(dump.notifications[0].status, DELIVERED);
        assert_eq!(dump.notifications[0].attempts, 2);
        assert_eq!(ledger.run(next_notification_at).unwrap(), None);
    }
}
