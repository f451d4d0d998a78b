//! The journal: the terminal's local, durable record of every payment step.
//!
//! It is what refunds, crash recovery, reconciliation and end-of-day reports are built on, so it
//! is a real SQLite file (`data_dir/journal.sqlite`) opened in WAL mode with
//! `synchronous=FULL`: when a write returns, it is on disk. Every write is one transaction that
//! changes the row *and* appends its event, so the history can never disagree with the current
//! state, and a failed write changes nothing.
//!
//! Rules the journal enforces (the engine decides what happens; the journal refuses what cannot
//! be true):
//! - payment and refund states only move along the legal transitions ([`PaymentState`],
//!   [`RefundState`]); final states never change;
//! - what a payment waiting for the customer must carry depends on its [`Product`]: a code
//!   to show for Order Code and Entry Code, and never a code for User-presented (the
//!   customer's code is a bearer secret) or Auto Debit;
//! - a journal belongs to one terminal ([`Journal::bind_identity`]);
//! - refunds, counting those still in flight, never exceed the payment; the check and the
//!   insert happen in one IMMEDIATE transaction, so two terminals (or two connections) sharing
//!   the file cannot both take the last of it;
//! - the event log is append-only (triggers abort UPDATE and DELETE);
//! - every outbound request is committed before it is sent ([`Journal::record_request_intent`]),
//!   so after a crash the terminal knows which ids may have reached Alipay.
//!
//! The journal speaks the product's vocabulary (states, amounts as [`Money`], actors), not
//! Alipay's wire structs: the engine translates, so a wire-format change never needs a
//! migration. It is synchronous; the async engine calls it through `spawn_blocking`, which is
//! why [`Journal`] is `Send`.
//!
//! Two handles open the file: [`Journal`], the engine's writer, which creates and migrates it,
//! and [`Reader`], a read-only connection with named queries for the faces, which never
//! waits for the writer (WAL) and cannot change anything.

mod check;
mod closes;
mod entry_codes;
mod error;
mod events;
mod export;
mod meta;
mod payments;
mod reader;
mod reconciliation;
mod refunds;
mod registrations;
mod replication;
mod report;
mod requests;
mod schema;
mod state;
mod timestamp;

use std::fmt;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, Transaction, TransactionBehavior};
use time::OffsetDateTime;

pub use check::{CheckReport, Violation, ViolationKind};
pub use closes::{DayClose, DayCloseReport, LaterEvent, PaymentMark, ReconciliationAtClose};
pub use entry_codes::EntryCodeRecord;
pub use error::JournalError;
pub use events::{EventKind, EventRecord};
pub use export::{ExportRecordKind, ExportRow};
pub use meta::JournalIdentity;
pub use payments::{
    CustomerCode, NewPayment, PaymentFilter, PaymentRecord, PaymentRef, PaymentUpdate,
};
pub use reader::{PaymentDetail, Reader, RefundTotals, TransactionRow};
pub use reconciliation::{
    DiscrepancyFilter, DiscrepancyKind, DiscrepancyRecord, DiscrepancyResolution, ImportCounts,
    ImportedFile, JournalView, ListedType, NewDiscrepancy, NewReportFile, ReconciliationReads,
    ReportImport, ReportKind, SettlementBatch,
};
pub use refunds::{NewRefund, RefundRecord, RefundRef, RefundUpdate};
pub use registrations::{
    NewRegistration, NotificationReceipt, RegistrationOutcome, RegistrationRecord, ReviewStatus,
    ReviewUpdate, WalletRecord, WalletUpdate, WalletVerdict,
};
pub use replication::{ReplicationBatch, ShippedEvent};
pub use report::{CurrencyTotals, ProductTotals, SignedTotal};
pub use requests::{CallKind, RequestIntent, RequestOutcome, RequestRecord};
pub use state::{
    Actor, EntityRef, PaymentLocalId, PaymentState, Product, RefundLocalId, RefundState,
    Resolution, UnknownName,
};

#[cfg(doc)]
use crate::money::Money;

/// The journal's file name inside `data_dir`.
pub const FILE_NAME: &str = "journal.sqlite";

/// The schema version this build writes (the number of migrations it knows).
pub fn schema_version() -> i64 {
    schema::latest_version()
}

type Clock = Box<dyn Fn() -> OffsetDateTime + Send>;

/// An open journal: one SQLite connection plus the clock that stamps entries.
///
/// Several `Journal`s may be open on the same file (in one process or several); SQLite
/// serialises their writes and every check-then-write runs in one IMMEDIATE transaction.
pub struct Journal {
    conn: Connection,
    path: PathBuf,
    clock: Clock,
}

// The engine moves the journal into `spawn_blocking`; keep that possible.
const _: fn() = || {
    fn assert_send<T: Send>() {}
    assert_send::<Journal>();
};

impl fmt::Debug for Journal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// Opens (creating if needed) the journal file at `path` and migrates it to this build's
    /// schema. Refuses files written by a newer build and files that are not journals.
    ///
    /// The file and its `-wal`/`-shm` companions are made 0600 (owner only) on Unix whatever
    /// the umask: they hold every payment and refund of the store.
    pub fn open(path: impl AsRef<Path>) -> Result<Journal, JournalError> {
        let path = path.as_ref().to_path_buf();
        let open_error = |e: std::io::Error| JournalError::Open {
            path: path.clone(),
            reason: e.to_string(),
        };
        // Created (empty) with the right mode before SQLite opens it: SQLite then gives the
        // -wal and -shm files the same mode as the database file.
        crate::private_fs::private_file(&path, true).map_err(open_error)?;
        let conn = schema::open_connection(&path)?;
        for suffix in ["-wal", "-shm"] {
            let mut companion = path.clone().into_os_string();
            companion.push(suffix);
            crate::private_fs::private_file(Path::new(&companion), false).map_err(open_error)?;
        }
        Ok(Journal {
            conn,
            path,
            clock: Box::new(OffsetDateTime::now_utc),
        })
    }

    /// Opens `data_dir/journal.sqlite`, creating `data_dir` first if it does not exist yet
    /// (a fresh install).
    pub fn open_in(data_dir: impl AsRef<Path>) -> Result<Journal, JournalError> {
        let data_dir = data_dir.as_ref();
        crate::private_fs::private_dir(data_dir).map_err(|e| JournalError::Open {
            path: data_dir.to_path_buf(),
            reason: e.to_string(),
        })?;
        Journal::open(data_dir.join(FILE_NAME))
    }

    /// Replaces the clock that stamps `created_at`, `updated_at`, `final_at` and event times.
    /// Tests and replays use it to get reproducible times; the terminal keeps the system clock.
    pub fn with_clock(mut self, clock: impl Fn() -> OffsetDateTime + Send + 'static) -> Journal {
        self.clock = Box::new(clock);
        self
    }

    /// The settings in effect on this connection (some are per connection, so only the
    /// journal's own connection can tell), for `journal check` output and tests.
    pub fn settings(&self) -> Result<ConnectionSettings, JournalError> {
        let read_text = |name: &str| -> Result<String, JournalError> {
            Ok(self.conn.pragma_query_value(None, name, |r| r.get(0))?)
        };
        let read_int = |name: &str| -> Result<i64, JournalError> {
            Ok(self.conn.pragma_query_value(None, name, |r| r.get(0))?)
        };
        Ok(ConnectionSettings {
            journal_mode: read_text("journal_mode")?,
            synchronous: read_int("synchronous")?,
            foreign_keys: read_int("foreign_keys")? == 1,
            user_version: read_int("user_version")?,
            busy_timeout_ms: read_int("busy_timeout")?,
        })
    }

    /// The file this journal writes to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection, for the journal's own modules' shared read functions.
    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The current time as it will be stored (microsecond precision), so that values handed
    /// back equal the stored ones.
    fn now(&self) -> OffsetDateTime {
        timestamp::truncate((self.clock)())
    }

    /// Starts a write. IMMEDIATE takes the write lock up front: a deferred transaction that
    /// reads and then writes can fail with `SQLITE_BUSY` when another connection wrote in
    /// between (the busy timeout cannot help there), and the reads are what the write checks.
    fn begin_write(&mut self) -> Result<Transaction<'_>, JournalError> {
        Ok(self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
    }
}

/// What [`Journal::settings`] reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionSettings {
    /// `wal` for every healthy journal.
    pub journal_mode: String,
    /// SQLite's number: 2 is FULL.
    pub synchronous: i64,
    pub foreign_keys: bool,
    /// The schema version; equals [`schema_version`] after opening.
    pub user_version: i64,
    pub busy_timeout_ms: i64,
}

/// Accepts Alipay-style request ids: 1 to 64 ASCII letters, digits, `-` or `_`. Alipay allows
/// more, but ids in this shape survive every log, CSV and URL unescaped, and the terminal
/// generates them itself.
fn check_request_id(field: &'static str, id: &str) -> Result<(), JournalError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(JournalError::InvalidInput {
            field,
            reason: format!(
                "`{id}` is not a valid request id; use 1 to 64 ASCII letters, digits, `-` or `_`"
            ),
        })
    }
}

/// Accepts free text up to `max_chars` characters; `required` also refuses blank text.
fn check_text(
    field: &'static str,
    text: &str,
    max_chars: usize,
    required: bool,
) -> Result<(), JournalError> {
    if required && text.trim().is_empty() {
        return Err(JournalError::InvalidInput {
            field,
            reason: "must not be empty".to_owned(),
        });
    }
    let chars = text.chars().count();
    if chars > max_chars {
        return Err(JournalError::InvalidInput {
            field,
            reason: format!("is {chars} characters long; at most {max_chars} are allowed"),
        });
    }
    Ok(())
}

/// Minor units as SQLite stores them. Every [`Money`] fits (its limit is far below
/// `i64::MAX`), so the error is only a guard.
fn minor_to_sql(minor: u64) -> Result<i64, JournalError> {
    i64::try_from(minor).map_err(|_| JournalError::InvalidInput {
        field: "amount",
        reason: format!("{minor} minor units is beyond what the journal can store"),
    })
}

/// An amount read back; a row that fails here was not written by this module.
fn money_from_sql(
    minor: i64,
    currency: &str,
    what: &str,
) -> Result<crate::money::Money, JournalError> {
    let unreadable = || JournalError::Unreadable {
        what: format!("{what}: amount {minor} {currency}"),
    };
    let currency = crate::money::Currency::from_code(currency).map_err(|_| unreadable())?;
    let minor = u64::try_from(minor).map_err(|_| unreadable())?;
    crate::money::Money::from_minor(minor, currency).map_err(|_| unreadable())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids() {
        assert!(check_request_id("id", "PAY-2024_05-01-abc").is_ok());
        assert!(check_request_id("id", &"a".repeat(64)).is_ok());
        assert!(check_request_id("id", &"a".repeat(65)).is_err());
        assert!(check_request_id("id", "").is_err());
        assert!(check_request_id("id", "has space").is_err());
        assert!(check_request_id("id", "ünïcode").is_err());
        let message = check_request_id("payment_request_id", "a/b")
            .unwrap_err()
            .to_string();
        assert!(message.starts_with("payment_request_id: "), "{message}");
    }

    #[test]
    fn text_limits() {
        assert!(check_text("f", "", 10, false).is_ok());
        assert!(check_text("f", "  ", 10, true).is_err());
        assert!(check_text("f", "日本語", 3, true).is_ok());
        assert!(check_text("f", "日本語!", 3, true).is_err());
    }
}
