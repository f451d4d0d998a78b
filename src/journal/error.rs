//! Why a journal operation failed, worded so that the person reading it knows what to do.
//!
//! Storage failures are sorted into the few that need different actions (disk full, read-only
//! file, locked by another process, damaged file) because "SQLite error 13" helps nobody at a
//! till. Every error from a write means the write did not happen: each write is one
//! transaction, rolled back on any failure.

use std::path::PathBuf;

use rusqlite::ErrorCode;

use crate::money::{Currency, MinorTotal, Money, MoneyError};

use super::requests::CallKind;
use super::state::{EntityRef, PaymentLocalId, PaymentState, RefundLocalId, RefundState};

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(
        "cannot open the journal at {path}: {reason}; check that the data folder exists, is \
         writable and is on a local disk"
    )]
    Open { path: PathBuf, reason: String },

    #[error(
        "the journal at {path} has schema version {found}, but this build of alipay-pos only \
         knows versions up to {supported}; it was written by a newer alipay-pos: install that \
         version (or newer) again. Do not delete or edit the file, it holds payment records"
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    #[error(
        "{path} is not an alipay-pos journal; set data_dir to the terminal's own data folder, \
         or move that file away so a new journal can be created"
    )]
    NotAJournal { path: PathBuf },

    #[error(
        "could not switch the journal at {path} to write-ahead logging (SQLite answered \
         `{mode}`); put the data folder on a local disk (not a network share)"
    )]
    WalUnavailable { path: PathBuf, mode: String },

    #[error(
        "upgrading the journal schema from version {from} to {to} failed: {reason}; nothing was \
         changed. Keep the file and report this to support"
    )]
    Migration { from: i64, to: i64, reason: String },

    #[error(
        "the disk holding the journal is full; nothing was recorded. Free some space, then \
         retry; do not take payments until it works again"
    )]
    DiskFull,

    #[error(
        "the journal file or its folder is read-only; nothing was recorded. Make the data \
         folder writable for the user running alipay-pos, then retry"
    )]
    ReadOnly,

    #[error(
        "the journal stayed locked by another program; nothing was recorded. Make sure only one \
         alipay-pos runs on this data folder, then retry"
    )]
    Busy,

    #[error(
        "the journal file is damaged ({reason}); stop taking payments, run `alipay-pos journal \
         check`, and restore the data folder from a backup"
    )]
    Corrupt { reason: String },

    #[error(
        "a disk error stopped the journal ({reason}); nothing was recorded. Check the disk, \
         then retry"
    )]
    Io { reason: String },

    #[error("journal storage error: {0}; retry, and report it to support if it persists")]
    Sqlite(rusqlite::Error),

    #[error(
        "the journal holds a value this build cannot read ({what}); run `alipay-pos journal \
         check` and report it to support"
    )]
    Unreadable { what: String },

    #[error("no {what} in the journal; check the id (it may belong to another terminal)")]
    NotFound { what: String },

    #[error(
        "request id `{id}` is already in the journal; every attempt needs a new request id, \
         generate another one"
    )]
    DuplicateRequestId { id: String },

    #[error("{field}: {reason}")]
    InvalidInput { field: &'static str, reason: String },

    #[error("{payment} cannot go from {from} to {to}; {}", transition_hint(*.from))]
    IllegalTransition {
        payment: PaymentLocalId,
        from: PaymentState,
        to: PaymentState,
    },

    #[error(
        "{refund} cannot go from {from} to {to}; {}",
        if from.is_final() { "final states never change" } else { "reload it, the engine's view is out of date" }
    )]
    IllegalRefundTransition {
        refund: RefundLocalId,
        from: RefundState,
        to: RefundState,
    },

    #[error("{entity} cannot become {state} without {field}; pass it in the update")]
    MissingField {
        entity: EntityRef,
        state: &'static str,
        field: &'static str,
    },

    #[error(
        "Alipay id `{id}` is already recorded for {other}; one Alipay transaction cannot belong \
         to two journal entries: investigate before retrying"
    )]
    AlipayIdInUse { id: String, other: EntityRef },

    #[error(
        "{entity} already has {field} `{stored}`, not `{given}`; Alipay's ids never change, so \
         one of the two answers belongs to another transaction: investigate before retrying"
    )]
    FieldConflict {
        entity: EntityRef,
        field: &'static str,
        stored: String,
        given: String,
    },

    #[error(
        "{payment} is {state}, not paid, so it cannot be refunded{}",
        not_paid_hint(*.state)
    )]
    PaymentNotPaid {
        payment: PaymentLocalId,
        state: PaymentState,
    },

    #[error(
        "a refund must be in the payment's currency: the payment is in {payment}, the refund in \
         {refund}"
    )]
    CurrencyMismatch { payment: Currency, refund: Currency },

    #[error(
        "refund of {} is more than what is left of the payment ({}); refund at most that much",
        .requested.major_string(),
        .remaining.major_string()
    )]
    RefundExceedsPayment {
        payment: PaymentLocalId,
        requested: Money,
        remaining: MinorTotal,
    },

    #[error(
        "request `{request_id}` already ended as {stored}, which is what Alipay decided; it \
         cannot be changed. Log a new request (with a new id) instead"
    )]
    RequestAlreadyFinished { request_id: String, stored: String },

    #[error(
        "request id `{request_id}` is already logged for another request ({api} about \
         {entity}); Alipay would answer REPEAT_REQ_INCONSISTENT. Give the new request its own id"
    )]
    RequestIdReused {
        request_id: String,
        api: CallKind,
        entity: EntityRef,
    },

    #[error(
        "there is no journal at {path} yet; it is created when the terminal (or a `pay`) first \
         starts on this data folder. Check `storage.data_dir` if payments were taken already"
    )]
    NoJournal { path: PathBuf },

    #[error(
        "the journal at {path} has schema version {found}, older than the version {supported} \
         this build reads; start the terminal (or run `alipay-pos resolve`) once so that it \
         upgrades the file, then read it again"
    )]
    Outdated {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    #[error(
        "the journal at {path} belongs to terminal `{journal_terminal}` of store \
         `{journal_store}`, but this configuration is terminal `{config_terminal}` of store \
         `{config_store}`; a journal copied to another till would mix two terminals' request \
         ids. Point `storage.data_dir` at this terminal's own data folder, or set \
         `store.terminal_id` and `store.reference_store_id` back to the journal's values if \
         this till was only renamed"
    )]
    IdentityMismatch {
        path: PathBuf,
        journal_terminal: String,
        journal_store: String,
        config_terminal: String,
        config_store: String,
    },

    #[error(
        "{date} is already closed (close #{number} at {closed_at}); a day is closed once. Show \
         its report with `alipay-pos day show --date {date}` / {date} 已日结（第 {number} 号，\
         {closed_at}），每天只能日结一次；查看报告：`alipay-pos day show --date {date}`"
    )]
    DayAlreadyClosed {
        date: time::Date,
        number: u64,
        /// Local wall-clock time, as the message shows it.
        closed_at: String,
    },

    #[error("totals overflowed: {0}")]
    Money(#[from] MoneyError),
}

fn transition_hint(from: PaymentState) -> &'static str {
    if from.is_final() {
        "final states never change"
    } else {
        "reload it, the engine's view is out of date"
    }
}

fn not_paid_hint(state: PaymentState) -> &'static str {
    match state {
        PaymentState::Cancelled | PaymentState::Failed => {
            "; no money was taken (or it was already returned)"
        }
        _ => "; wait until the payment is final",
    }
}

impl From<rusqlite::Error> for JournalError {
    fn from(error: rusqlite::Error) -> JournalError {
        classify(error)
    }
}

/// Sorts SQLite failures into the ones that call for different actions.
pub(crate) fn classify(error: rusqlite::Error) -> JournalError {
    let rusqlite::Error::SqliteFailure(failure, ref message) = error else {
        return JournalError::Sqlite(error);
    };
    let reason = message.clone().unwrap_or_else(|| failure.to_string());
    match failure.code {
        ErrorCode::DiskFull => JournalError::DiskFull,
        ErrorCode::ReadOnly => JournalError::ReadOnly,
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => JournalError::Busy,
        ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => JournalError::Corrupt { reason },
        ErrorCode::SystemIoFailure => JournalError::Io { reason },
        _ => JournalError::Sqlite(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::ffi;

    fn failure(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), None)
    }

    #[test]
    fn storage_failures_say_what_to_do() {
        let full = classify(failure(ffi::SQLITE_FULL));
        assert!(matches!(full, JournalError::DiskFull));
        assert!(full.to_string().contains("Free some space"));

        let read_only = classify(failure(ffi::SQLITE_READONLY));
        assert!(matches!(read_only, JournalError::ReadOnly));
        assert!(read_only.to_string().contains("writable"));

        assert!(matches!(
            classify(failure(ffi::SQLITE_BUSY)),
            JournalError::Busy
        ));
        let corrupt = classify(failure(ffi::SQLITE_CORRUPT));
        assert!(corrupt.to_string().contains("journal check"));
        assert!(matches!(
            classify(failure(ffi::SQLITE_IOERR)),
            JournalError::Io { .. }
        ));
        assert!(matches!(
            classify(rusqlite::Error::QueryReturnedNoRows),
            JournalError::Sqlite(_)
        ));
    }

    #[test]
    fn errors_can_cross_threads() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<JournalError>();
    }
}
