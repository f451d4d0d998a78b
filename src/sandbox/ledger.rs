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

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};
use serde::Serialize;

use super::clock::wire_time;
use crate::ams::models::Amount;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("sandbox ledger: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("sandbox ledger: the OS gave no randomness for an id: {0}")]
    Random(String),
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

// ---------------------------------------------------------------------------------------
// Payments

/// `paymentStatus` as the in-store docs define it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentState {
    Processing,
    Success,
    Fail,
    Cancelled,
}

impl PaymentState {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentState::Processing => "PROCESSING",
            PaymentState::Success => "SUCCESS",
            PaymentState::Fail => "FAIL",
            PaymentState::Cancelled => "CANCELLED",
        }
    }

    fn parse(s: &str) -> Result<Self, LedgerError> {
        Ok(match s {
            "PROCESSING" => PaymentState::Processing,
            "SUCCESS" => PaymentState::Success,
            "FAIL" => PaymentState::Fail,
            "CANCELLED" => PaymentState::Cancelled,
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
    pub status: PaymentState,
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
        self.status == PaymentState::Fail && self.result_code == CLOSED_CODE
    }

    pub fn amount(&self) -> Amount {
        Amount::new(self.currency.clone(), self.amount)
    }

    fn from_row(r: &Row<'_>) -> rusqlite::Result<(Self, String, i64)> {
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
                status: PaymentState::Processing,
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

fn finish_payment(
    raw: Option<(PaymentRow, String, i64)>,
) -> Result<Option<PaymentRow>, LedgerError> {
    raw.map(|(mut p, status, amount)| {
        p.status = PaymentState::parse(&status)?;
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

/// Sum and count of the successful refunds of a payment.
pub fn refunded(tx: &Transaction<'_>, payment_id: &str) -> Result<(u64, u64), LedgerError> {
    let (sum, count): (i64, i64) = tx.query_row(
        "SELECT COALESCE(SUM(amount), 0), COUNT(*) FROM refunds WHERE payment_id = ?1",
        [payment_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok((to_u64(sum)?, to_u64(count)?))
}

// ---------------------------------------------------------------------------------------
// Refunds

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
    fn from_row(r: &Row<'_>) -> rusqlite::Result<(Self, i64)> {
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

// ---------------------------------------------------------------------------------------
// Registrations

#[derive(Debug, Clone, PartialEq)]
pub struct RegistrationRow {
    pub client_id: String,
    pub registration_request_id: String,
    pub reference_merchant_id: String,
    /// Empty when the registration named no store.
    pub reference_store_id: String,
    /// The request as received (re-serialised): also what replays are compared with.
    pub request_json: String,
    /// `PENDING` or `COMPLETED`.
    pub status: String,
    /// Per-wallet verdict once completed: `APPROVED` or `REJECTED`.
    pub psp_result: Option<String>,
    pub reject_reason: Option<String>,
    pub accepted_at: i64,
    pub due_at: i64,
    pub completed_at: Option<i64>,
    pub notify_url: Option<String>,
    pub answer: String,
}

impl RegistrationRow {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(RegistrationRow {
            client_id: r.get("client_id")?,
            registration_request_id: r.get("registration_request_id")?,
            reference_merchant_id: r.get("reference_merchant_id")?,
            reference_store_id: r.get("reference_store_id")?,
            request_json: r.get("request_json")?,
            status: r.get("status")?,
            psp_result: r.get("psp_result")?,
            reject_reason: r.get("reject_reason")?,
            accepted_at: r.get("accepted_at")?,
            due_at: r.get("due_at")?,
            completed_at: r.get("completed_at")?,
            notify_url: r.get("notify_url")?,
            answer: r.get("answer")?,
        })
    }

    pub fn is_approved(&self) -> bool {
        self.status == "COMPLETED" && self.psp_result.as_deref() == Some("APPROVED")
    }
}

pub fn insert_registration(tx: &Transaction<'_>, g: &RegistrationRow) -> Result<(), LedgerError> {
    tx.execute(
        "INSERT INTO registrations (client_id, registration_request_id, reference_merchant_id,
            reference_store_id, request_json, status, psp_result, reject_reason, accepted_at,
            due_at, completed_at, notify_url, answer)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            g.client_id,
            g.registration_request_id,
            g.reference_merchant_id,
            g.reference_store_id,
            g.request_json,
            g.status,
            g.psp_result,
            g.reject_reason,
            g.accepted_at,
            g.due_at,
            g.completed_at,
            g.notify_url,
            g.answer,
        ],
    )?;
    Ok(())
}

pub fn save_registration(tx: &Transaction<'_>, g: &RegistrationRow) -> Result<(), LedgerError> {
    tx.execute(
        "UPDATE registrations SET status = ?3, psp_result = ?4, reject_reason = ?5,
            completed_at = ?6
         WHERE client_id = ?1 AND registration_request_id = ?2",
        params![
            g.client_id,
            g.registration_request_id,
            g.status,
            g.psp_result,
            g.reject_reason,
            g.completed_at,
        ],
    )?;
    Ok(())
}

pub fn registration_by_request_id(
    tx: &Transaction<'_>,
    client_id: &str,
    registration_request_id: &str,
) -> Result<Option<RegistrationRow>, LedgerError> {
    Ok(tx
        .query_row(
            "SELECT * FROM registrations WHERE client_id = ?1 AND registration_request_id = ?2",
            params![client_id, registration_request_id],
            RegistrationRow::from_row,
        )
        .optional()?)
}

/// A client's registrations matching the given merchant and/or store (either may be
/// `None` = any), newest first.
pub fn registrations_for(
    tx: &Transaction<'_>,
    client_id: &str,
    merchant: Option<&str>,
    store: Option<&str>,
) -> Result<Vec<RegistrationRow>, LedgerError> {
    let mut stmt = tx.prepare(
        "SELECT * FROM registrations
         WHERE client_id = ?1
           AND (?2 IS NULL OR reference_merchant_id = ?2)
           AND (?3 IS NULL OR reference_store_id = ?3)
         ORDER BY accepted_at DESC, rowid DESC",
    )?;
    let rows = stmt
        .query_map(
            params![client_id, merchant, store],
            RegistrationRow::from_row,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn registrations_due(
    tx: &Transaction<'_>,
    now_ms: i64,
) -> Result<Vec<RegistrationRow>, LedgerError> {
    let mut stmt = tx.prepare(
        "SELECT * FROM registrations WHERE status = 'PENDING' AND due_at <= ?1
         ORDER BY due_at, rowid",
    )?;
    let rows = stmt
        .query_map([now_ms], RegistrationRow::from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

// ---------------------------------------------------------------------------------------
// Notification outbox

/// Delivery state of one notification.
pub mod outbox {
    /// Waiting for its next attempt (`next_at`).
    pub const PENDING: &str = "PENDING";
    /// The merchant answered the fixed acknowledgement.
    pub const DELIVERED: &str = "DELIVERED";
    /// The resend schedule ran out without an acknowledgement.
    pub const ABANDONED: &str = "ABANDONED";
    /// A `suppress_notifications` fault was in force when it came due; never sent.
    pub const SUPPRESSED: &str = "SUPPRESSED";
}

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
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
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
        Some(at) => (outbox::PENDING, at),
        None => (final_status, now_ms),
    };
    let delivered_at = (final_status == outbox::DELIVERED && next_at.is_none()).then_some(now_ms);
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
    Ok(row.is_some_and(|(status, n)| status == outbox::PENDING && n == attempts))
}

pub fn mark_suppressed(tx: &Transaction<'_>, id: i64) -> Result<(), LedgerError> {
    tx.execute(
        "UPDATE notifications SET status = 'SUPPRESSED' WHERE id = ?1 AND status = 'PENDING'",
        [id],
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The control endpoint's dump

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
    pub status: PaymentState,
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
                    .map(|t| super::wallet::wallet_url(public_base, t)),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn payment(id: &str, request_id: &str, expire_at: i64) -> PaymentRow {
        PaymentRow {
            payment_id: id.into(),
            client_id: "C".into(),
            payment_request_id: request_id.into(),
            scenario: "OrderCode".into(),
            currency: "USD".into(),
            amount: 1250,
            key_params: "{}".into(),
            request_json: "{}".into(),
            status: PaymentState::Processing,
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
        assert_eq!(p2.status, PaymentState::Processing);
        assert!(
            ledger
                .run(|tx| payment_by_id(tx, "D", "P1"))
                .unwrap()
                .is_none()
        );
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
            .run(|tx| record_attempt(tx, id, 100, Some("HTTP 500"), Some(500), outbox::ABANDONED))
            .unwrap();
        assert!(
            ledger
                .run(|tx| notifications_due(tx, 499, 10))
                .unwrap()
                .is_empty()
        );
        assert_eq!(ledger.run(next_notification_at).unwrap(), Some(500));
        ledger
            .run(|tx| record_attempt(tx, id, 500, None, None, outbox::DELIVERED))
            .unwrap();
        let dump = ledger.run(|tx| dump(tx, 600, "http://s")).unwrap();
        assert_eq!(dump.notifications[0].status, outbox::DELIVERED);
        assert_eq!(dump.notifications[0].attempts, 2);
        assert_eq!(ledger.run(next_notification_at).unwrap(), None);
    }

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
