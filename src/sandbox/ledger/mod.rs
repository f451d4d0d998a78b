//! The sandbox's books: payments, refunds, registrations and the notification outbox, in
//! SQLite.
//!
//! SQLite because a restarted sandbox must still know every payment (the terminal's crash
//! recovery is tested against it) and every pending notification (Alipay keeps resending after
//! its own restarts too). All access goes through [`Ledger::run`], one immediate transaction
//! at a time: the sandbox is small, and serialising every decision is what makes idempotency
//! exact when two identical requests race.
//!
//! Times are stored as epoch milliseconds of the sandbox clock; amounts as minor units.
//!
//! One file per record type, as the terminal's journal is split: `payments`, `refunds` (with
//! the rejected refund requests kept for replays), `registrations`, the notification
//! [`outbox`], and the control endpoint's `dump`. This file holds the schema, the
//! connection and [`Ledger::run`], the one way in.

mod dump;
mod payments;
mod refunds;
mod registrations;

pub mod outbox;

pub use dump::{LedgerDump, PaymentEntry, RefundEntry, RegistrationEntry, dump};
pub use outbox::{
    NotificationRow, enqueue_notification, mark_suppressed, next_notification_at,
    notification_unchanged, notifications_due, record_attempt,
};
pub use payments::{
    CLOSED_CODE, LedgerPaymentState, PaymentRow, close_expired, insert_payment, payment_by_any_id,
    payment_by_id, payment_by_request_id, payment_by_token, save_payment, waiting_payments,
};
pub use refunds::{
    RefundRow, insert_refund, insert_rejection, refund_by_id, refund_by_request_id, refunded,
    rejection,
};
pub use registrations::{
    RegistrationRow, insert_registration, registration_by_request_id, registrations_due,
    registrations_for, save_registration,
};

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("sandbox ledger: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("sandbox ledger: the OS gave no randomness for an id: {0}")]
    Random(#[source] getrandom::Error),
    #[error("sandbox ledger: stored data is unreadable: {0}")]
    Corrupt(String),
}

/// Bumped when the schema changes incompatibly; an older file is then refused with a message
/// instead of being misread.
const SCHEMA_VERSION: &str = "1";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS payments (
    payment_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    payment_request_id TEXT NOT NULL,
    scenario TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount INTEGER NOT NULL,
    key_params TEXT NOT NULL,
    request_json TEXT NOT NULL,
    status TEXT NOT NULL,
    result_code TEXT NOT NULL,
    result_message TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expire_at INTEGER NOT NULL,
    payment_time INTEGER,
    paid_at INTEGER,
    cancel_time INTEGER,
    wallet_token TEXT UNIQUE,
    notify_url TEXT,
    psp_json TEXT,
    answer TEXT,
    magic_inquiry TEXT,
    UNIQUE (client_id, payment_request_id)
);
CREATE INDEX IF NOT EXISTS payments_open ON payments (status, expire_at);
CREATE TABLE IF NOT EXISTS refunds (
    refund_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    refund_request_id TEXT NOT NULL,
    payment_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount INTEGER NOT NULL,
    key_params TEXT NOT NULL,
    refund_time INTEGER NOT NULL,
    answer TEXT NOT NULL,
    UNIQUE (client_id, refund_request_id)
);
CREATE INDEX IF NOT EXISTS refunds_payment ON refunds (payment_id);
CREATE TABLE IF NOT EXISTS refund_rejections (
    client_id TEXT NOT NULL,
    refund_request_id TEXT NOT NULL,
    key_params TEXT NOT NULL,
    answer TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (client_id, refund_request_id)
);
CREATE TABLE IF NOT EXISTS registrations (
    client_id TEXT NOT NULL,
    registration_request_id TEXT NOT NULL,
    reference_merchant_id TEXT NOT NULL,
    reference_store_id TEXT NOT NULL,
    request_json TEXT NOT NULL,
    status TEXT NOT NULL,
    psp_result TEXT,
    reject_reason TEXT,
    accepted_at INTEGER NOT NULL,
    due_at INTEGER NOT NULL,
    completed_at INTEGER,
    notify_url TEXT,
    answer TEXT NOT NULL,
    PRIMARY KEY (client_id, registration_request_id)
);
CREATE INDEX IF NOT EXISTS registrations_pending ON registrations (status, due_at);
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    url TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    last_attempt_at INTEGER,
    delivered_at INTEGER,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS notifications_due ON notifications (status, next_at);
";

pub struct Ledger {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger").finish_non_exhaustive()
    }
}

impl Ledger {
    /// Opens (creating if needed) the ledger file. WAL with `synchronous = NORMAL`: a
    /// simulator may lose its last transaction in a power cut, but never corrupts the file,
    /// and commits stay fast enough for soak tests.
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Self::init(conn)
    }

    pub fn open_in_memory() -> Result<Self, LedgerError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self, LedgerError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        let version: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        match version.as_deref() {
            None => {
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
                    [SCHEMA_VERSION],
                )?;
            }
            Some(SCHEMA_VERSION) => {}
            Some(other) => {
                return Err(LedgerError::Corrupt(format!(
                    "the ledger has schema version {other}, this sandbox understands \
                     {SCHEMA_VERSION}; move the file away to start afresh"
                )));
            }
        }
        Ok(Ledger {
            conn: Mutex::new(conn),
        })
    }

    /// Runs `f` in one immediate transaction and commits it if `f` succeeds. Blocking: call
    /// from a blocking context (the gateway uses `spawn_blocking`).
    pub fn run<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, LedgerError>,
    ) -> Result<T, LedgerError> {
        // The connection holds no state between transactions, so a panic elsewhere that
        // poisoned the lock leaves nothing to repair (an open transaction rolls back on drop).
        let mut conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    }
}

fn to_i64(v: u64) -> Result<i64, LedgerError> {
    i64::try_from(v).map_err(|_| LedgerError::Corrupt(format!("amount {v} too large")))
}

fn to_u64(v: i64) -> Result<u64, LedgerError> {
    u64::try_from(v).map_err(|_| LedgerError::Corrupt(format!("negative amount {v}")))
}

#[cfg(test)]
mod tests {
    use super::payments::tests::payment;
    use super::*;

    #[test]
    fn ledger_file_survives_reopening_and_refuses_other_schema_versions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        {
            let ledger = Ledger::open(&path).unwrap();
            ledger
                .run(|tx| insert_payment(tx, &payment("P1", "R1", 5_000)))
                .unwrap();
        }
        let ledger = Ledger::open(&path).unwrap();
        assert!(
            ledger
                .run(|tx| payment_by_id(tx, "C", "P1"))
                .unwrap()
                .is_some()
        );
        ledger
            .run(|tx| {
                tx.execute(
                    "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
                    [],
                )?;
                Ok(())
            })
            .unwrap();
        drop(ledger);
        let e = Ledger::open(&path).unwrap_err().to_string();
        assert!(e.contains("schema version 99"), "{e}");
    }
}
