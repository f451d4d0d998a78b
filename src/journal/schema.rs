//! Connection settings and schema migrations.
//!
//! The schema version is SQLite's `PRAGMA user_version`: version *n* means the first *n*
//! entries of [`MIGRATIONS`] have been applied. Opening applies the missing ones in a single
//! transaction, so a crash or a full disk mid-upgrade leaves the file at the old version rather
//! than half-migrated. Migrations are append-only: never edit one that has shipped, add a new
//! one instead (a terminal in the field may hold any earlier version).
//!
//! Invariants that are cheap to state in SQL are also CHECK constraints and triggers, so that a
//! bug in this module (or someone with the `sqlite3` shell) cannot quietly write an impossible
//! row; [`super::Journal::check`] re-verifies them anyway, for files written with constraints
//! bypassed.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, TransactionBehavior};

use super::error::{JournalError, classify};

/// Marks the file as ours in the SQLite header ("APOS"), so that pointing `data_dir` at some
/// other application's database is refused instead of being "migrated".
pub(crate) const APPLICATION_ID: i64 = 0x4150_4F53;

/// How long a write waits for another connection (a second process, or the background
/// resolver's connection) to finish its transaction before giving up with
/// [`JournalError::Busy`]. Journal transactions are a few milliseconds; five seconds only runs
/// out when something is wrong.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The ordered schema migrations; the schema version is the number applied.
pub(crate) const MIGRATIONS: &[&str] = &[
    MIGRATION_1,
    MIGRATION_2,
    MIGRATION_3,
    MIGRATION_4,
    MIGRATION_REGISTRATIONS,
    MIGRATION_DAY_CLOSES,
    MIGRATION_ENTRY_CODE_RESULTS,
];

/// The version a fully migrated file has.
pub(crate) fn latest_version() -> i64 {
    // The list is a handful of entries long; the cast cannot truncate.
    MIGRATIONS.len() as i64
}

/// Version 1: payments, refunds, the append-only event log and the outbound-request log.
///
/// Timestamps are UTC text of fixed width (`2024-05-01T08:30:00.000000Z`), so that string
/// order is time order and the file stays readable with the `sqlite3` shell. Amounts are
/// integer minor units bounded by Alipay's 16-digit limit.
const MIGRATION_1: &str = r#"
PRAGMA application_id = 1095782227;

CREATE TABLE payments (
    id                 INTEGER PRIMARY KEY,
    payment_request_id TEXT    NOT NULL UNIQUE
        CHECK (length(payment_request_id) BETWEEN 1 AND 64
               AND payment_request_id NOT GLOB '*[^A-Za-z0-9_-]*'),
    order_ref          TEXT    NOT NULL CHECK (length(order_ref) BETWEEN 1 AND 64),
    amount_minor       INTEGER NOT NULL
        CHECK (typeof(amount_minor) = 'integer'
               AND amount_minor BETWEEN 1 AND 9999999999999999),
    currency           TEXT    NOT NULL CHECK (length(currency) = 3),
    description        TEXT    NOT NULL,
    operator           TEXT    NOT NULL CHECK (length(operator) BETWEEN 1 AND 64),
    state              TEXT    NOT NULL
        CHECK (state IN ('created', 'awaiting_customer', 'cancelling', 'unresolved',
                         'paid', 'failed', 'cancelled')),
    payment_id         TEXT    UNIQUE,
    code_value         TEXT,
    code_expires_at    TEXT,
    result_code        TEXT,
    result_message     TEXT,
    resolution         TEXT
        CHECK (resolution IN ('pay', 'inquiry', 'cancel', 'notify', 'refund', 'reconciliation',
                              'manual')),
    paid_at            TEXT,
    created_at         TEXT    NOT NULL,
    updated_at         TEXT    NOT NULL,
    final_at           TEXT,
    CHECK ((final_at IS NOT NULL) = (state IN ('paid', 'failed', 'cancelled'))),
    CHECK (state <> 'paid' OR (payment_id IS NOT NULL AND paid_at IS NOT NULL)),
    CHECK (paid_at IS NULL OR state IN ('paid', 'cancelled'))
);
CREATE INDEX payments_order_ref ON payments (order_ref);
CREATE INDEX payments_created_at ON payments (created_at);
CREATE INDEX payments_paid_at ON payments (paid_at) WHERE paid_at IS NOT NULL;
CREATE INDEX payments_final_at ON payments (final_at) WHERE final_at IS NOT NULL;
CREATE INDEX payments_open ON payments (state)
    WHERE state IN ('created', 'awaiting_customer', 'cancelling', 'unresolved');

CREATE TABLE refunds (
    id                INTEGER PRIMARY KEY,
    refund_request_id TEXT    NOT NULL UNIQUE
        CHECK (length(refund_request_id) BETWEEN 1 AND 64
               AND refund_request_id NOT GLOB '*[^A-Za-z0-9_-]*'),
    payment           INTEGER NOT NULL REFERENCES payments (id) ON DELETE RESTRICT,
    amount_minor      INTEGER NOT NULL
        CHECK (typeof(amount_minor) = 'integer'
               AND amount_minor BETWEEN 1 AND 9999999999999999),
    currency          TEXT    NOT NULL CHECK (length(currency) = 3),
    reason            TEXT    NOT NULL,
    manager           TEXT    NOT NULL CHECK (length(manager) BETWEEN 1 AND 64),
    state             TEXT    NOT NULL
        CHECK (state IN ('requested', 'unresolved', 'succeeded', 'failed')),
    refund_id         TEXT    UNIQUE,
    result_code       TEXT,
    result_message    TEXT,
    resolution        TEXT
        CHECK (resolution IN ('pay', 'inquiry', 'cancel', 'notify', 'refund', 'reconciliation',
                              'manual')),
    refunded_at       TEXT,
    created_at        TEXT    NOT NULL,
    updated_at        TEXT    NOT NULL,
    final_at          TEXT,
    CHECK ((final_at IS NOT NULL) = (state IN ('succeeded', 'failed'))),
    CHECK (state <> 'succeeded' OR (refund_id IS NOT NULL AND refunded_at IS NOT NULL)),
    CHECK (refunded_at IS NULL OR state = 'succeeded')
);
CREATE INDEX refunds_payment ON refunds (payment);
CREATE INDEX refunds_refunded_at ON refunds (refunded_at) WHERE refunded_at IS NOT NULL;
CREATE INDEX refunds_open ON refunds (state) WHERE state IN ('requested', 'unresolved');

CREATE TABLE events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT    NOT NULL,
    actor       TEXT    NOT NULL CHECK (actor IN ('cashier', 'manager', 'system')),
    entity_kind TEXT    NOT NULL CHECK (entity_kind IN ('payment', 'refund')),
    entity_id   INTEGER NOT NULL,
    kind        TEXT    NOT NULL
        CHECK (kind IN ('created', 'transition', 'update', 'reversal', 'note')),
    from_state  TEXT,
    to_state    TEXT,
    detail      TEXT    NOT NULL
);
CREATE INDEX events_entity ON events (entity_kind, entity_id, seq);

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'the journal event log is append-only: events cannot be changed');
END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'the journal event log is append-only: events cannot be deleted');
END;
CREATE TRIGGER events_entity_exists BEFORE INSERT ON events
WHEN NOT CASE NEW.entity_kind
    WHEN 'payment' THEN EXISTS (SELECT 1 FROM payments WHERE id = NEW.entity_id)
    WHEN 'refund' THEN EXISTS (SELECT 1 FROM refunds WHERE id = NEW.entity_id)
    ELSE 0 END
BEGIN
    SELECT RAISE(ABORT, 'an event must be about a payment or refund that is in the journal');
END;

CREATE TABLE requests (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id  TEXT    NOT NULL UNIQUE
        CHECK (length(request_id) BETWEEN 1 AND 128 AND request_id NOT GLOB '*[^!-~]*'),
    api         TEXT    NOT NULL CHECK (length(api) BETWEEN 1 AND 64),
    entity_kind TEXT    NOT NULL CHECK (entity_kind IN ('payment', 'refund')),
    entity_id   INTEGER NOT NULL,
    body_sha256 TEXT    NOT NULL
        CHECK (length(body_sha256) = 64 AND body_sha256 NOT GLOB '*[^0-9a-f]*'),
    created_at  TEXT    NOT NULL,
    sent_at     TEXT,
    outcome     TEXT    CHECK (outcome IN ('success', 'failed', 'unknown')),
    code        TEXT,
    finished_at TEXT,
    CHECK ((outcome IS NULL) = (finished_at IS NULL))
);
CREATE INDEX requests_entity ON requests (entity_kind, entity_id, seq);
CREATE INDEX requests_unfinished ON requests (seq) WHERE outcome IS NULL;

CREATE TRIGGER requests_entity_exists BEFORE INSERT ON requests
WHEN NOT CASE NEW.entity_kind
    WHEN 'payment' THEN EXISTS (SELECT 1 FROM payments WHERE id = NEW.entity_id)
    WHEN 'refund' THEN EXISTS (SELECT 1 FROM refunds WHERE id = NEW.entity_id)
    ELSE 0 END
BEGIN
    SELECT RAISE(ABORT, 'a request must be about a payment or refund that is in the journal');
END;

CREATE TRIGGER payments_no_delete BEFORE DELETE ON payments
BEGIN
    SELECT RAISE(ABORT, 'journal payments are never deleted');
END;
CREATE TRIGGER refunds_no_delete BEFORE DELETE ON refunds
BEGIN
    SELECT RAISE(ABORT, 'journal refunds are never deleted');
END;
CREATE TRIGGER requests_no_delete BEFORE DELETE ON requests
BEGIN
    SELECT RAISE(ABORT, 'journal requests are never deleted');
END;
"#;

/// Version 2: one engine for several Alipay products, and a journal that knows whose it is.
///
/// - `payments.product`: which product took the attempt. Every row written before this
///   version was an Order Code payment (the only product there was), which is what the
///   default gives them; new rows always name theirs.
/// - The `awaiting_customer` invariant per product: a product that shows a code (Order Code,
///   Entry Code) cannot wait for the customer without the code and its expiry; a product that
///   shows none (User-presented, Auto Debit) never stores a code at all, because for
///   User-presented the only code around is the customer's, a bearer secret.
/// - `meta`: at most one row, the terminal and store the journal belongs to, recorded the
///   first time a terminal starts on it and never changed: request ids are unique per
///   terminal, so one journal must never serve two.
const MIGRATION_2: &str = r#"
ALTER TABLE payments ADD COLUMN product TEXT NOT NULL DEFAULT 'order_code'
    CHECK (product IN ('order_code', 'user_presented', 'entry_code', 'auto_debit'));

CREATE TRIGGER payments_product_fixed BEFORE UPDATE OF product ON payments
WHEN NEW.product IS NOT OLD.product
BEGIN
    SELECT RAISE(ABORT, 'a payment''s product never changes');
END;
CREATE TRIGGER payments_code_by_product BEFORE UPDATE ON payments
WHEN (NEW.state = 'awaiting_customer' AND NEW.product IN ('order_code', 'entry_code')
      AND (NEW.code_value IS NULL OR NEW.code_expires_at IS NULL))
  OR (NEW.product IN ('user_presented', 'auto_debit') AND NEW.code_value IS NOT NULL)
BEGIN
    SELECT RAISE(ABORT, 'an order or entry code payment awaiting the customer needs its code and expiry; a user-presented or auto debit payment never stores a code');
END;

CREATE TABLE meta (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    terminal_id TEXT    NOT NULL CHECK (length(terminal_id) BETWEEN 1 AND 64),
    store_id    TEXT    NOT NULL CHECK (length(store_id) BETWEEN 1 AND 64),
    bound_at    TEXT    NOT NULL
);
CREATE TRIGGER meta_no_update BEFORE UPDATE ON meta
BEGIN
    SELECT RAISE(ABORT, 'the terminal a journal belongs to never changes');
END;
CREATE TRIGGER meta_no_delete BEFORE DELETE ON meta
BEGIN
    SELECT RAISE(ABORT, 'the terminal a journal belongs to is never forgotten');
END;
"#;

/// Version 3: User-presented payments, whose customer's payment code is a bearer credential.
///
/// - `customer_code_last4` and `customer_code_sha256`: all the journal keeps of the code the
///   cashier scanned (four digits and a digest, never the code). A User-presented payment
///   always has both, every other product neither, and they never change.
/// - An index on the digest, so "was this code just used?" is one lookup.
const MIGRATION_3: &str = r#"
ALTER TABLE payments ADD COLUMN customer_code_last4 TEXT
    CHECK (customer_code_last4 IS NULL
           OR (length(customer_code_last4) = 4 AND customer_code_last4 NOT GLOB '*[^0-9]*'));
ALTER TABLE payments ADD COLUMN customer_code_sha256 TEXT
    CHECK (customer_code_sha256 IS NULL
           OR (length(customer_code_sha256) = 64 AND customer_code_sha256 NOT GLOB '*[^0-9a-f]*'));
CREATE INDEX payments_by_customer_code ON payments (customer_code_sha256)
    WHERE customer_code_sha256 IS NOT NULL;

CREATE TRIGGER payments_customer_code_by_product BEFORE INSERT ON payments
WHEN (NEW.product = 'user_presented')
     <> (NEW.customer_code_last4 IS NOT NULL AND NEW.customer_code_sha256 IS NOT NULL)
  OR (NEW.customer_code_last4 IS NULL) <> (NEW.customer_code_sha256 IS NULL)
BEGIN
    SELECT RAISE(ABORT, 'a user-presented payment keeps the last four digits and the digest of the customer''s code; no other payment has them');
END;
CREATE TRIGGER payments_customer_code_fixed BEFORE UPDATE OF customer_code_last4, customer_code_sha256 ON payments
WHEN NEW.customer_code_last4 IS NOT OLD.customer_code_last4
  OR NEW.customer_code_sha256 IS NOT OLD.customer_code_sha256
BEGIN
    SELECT RAISE(ABORT, 'what the journal keeps of a customer''s code never changes');
END;
"#;

/// Version 4: reconciliation against Alipay's own reports (flows.md §8).
///
/// - `report_files`: every report file imported, by name and SHA-256, with what its import
///   found. A file is imported whole or not at all, so a row here means every data row of
///   the file was read.
/// - `report_matches`: which journal payment or refund each transaction row listed. It is how
///   "the journal has it, Alipay does not" is found: a paid payment of the day with no match.
/// - `settlement_batches`: the figures of each settlement summary (per batch and currency).
/// - `discrepancies`: what did not match, with Alipay's row and the journal's view as they
///   were when found. Never deleted; resolved once (accepted by a manager with a reason, or
///   found listed by a later file), and then never changed.
const MIGRATION_4: &str = r#"
CREATE TABLE report_files (
    id                  INTEGER PRIMARY KEY,
    name                TEXT    NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 255),
    sha256              TEXT    NOT NULL
        CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),
    kind                TEXT    NOT NULL
        CHECK (kind IN ('transactions', 'settlement_items', 'settlement_summary')),
    report_date         TEXT    NOT NULL
        CHECK (length(report_date) = 8 AND report_date NOT GLOB '*[^0-9]*'),
    settlement_batch_id TEXT,
    rows                INTEGER NOT NULL CHECK (rows >= 0),
    matched             INTEGER NOT NULL CHECK (matched >= 0),
    not_ours            INTEGER NOT NULL CHECK (not_ours >= 0),
    imported_at         TEXT    NOT NULL,
    CHECK ((kind = 'transactions') = (settlement_batch_id IS NULL))
);
CREATE INDEX report_files_by_date ON report_files (report_date);

CREATE TABLE report_matches (
    file             INTEGER NOT NULL REFERENCES report_files (id) ON DELETE RESTRICT,
    line             INTEGER NOT NULL CHECK (line >= 1),
    entity_kind      TEXT    NOT NULL CHECK (entity_kind IN ('payment', 'refund')),
    entity_id        INTEGER NOT NULL,
    transaction_type TEXT    NOT NULL CHECK (transaction_type IN ('PAYMENT', 'REFUND', 'CANCEL')),
    -- Keyed by what the lookups ask ("did any file list this payment?"), so a million-row
    -- import writes one B-tree, not a table and an index; (file, line) is unique within it.
    PRIMARY KEY (entity_kind, entity_id, transaction_type, file, line)
) WITHOUT ROWID;
-- End-of-day totals add up the day's paid payments from this index alone.
CREATE INDEX payments_paid_totals ON payments (paid_at, currency, product, amount_minor)
    WHERE paid_at IS NOT NULL;

CREATE TABLE settlement_batches (
    file                INTEGER NOT NULL UNIQUE REFERENCES report_files (id) ON DELETE RESTRICT,
    settlement_batch_id TEXT    NOT NULL,
    settlement_date     TEXT    NOT NULL,
    currency            TEXT    NOT NULL CHECK (length(currency) = 3),
    count               INTEGER NOT NULL CHECK (count >= 0),
    net_minor           INTEGER NOT NULL CHECK (typeof(net_minor) = 'integer'),
    fee_minor           INTEGER NOT NULL CHECK (typeof(fee_minor) = 'integer'),
    settled_at          TEXT
);

CREATE TABLE discrepancies (
    id                     INTEGER PRIMARY KEY,
    kind                   TEXT    NOT NULL
        CHECK (kind IN ('missing_locally', 'missing_at_alipay', 'amount_mismatch',
                        'state_mismatch', 'currency_mismatch')),
    report_date            TEXT    NOT NULL,
    transaction_request_id TEXT    NOT NULL,
    transaction_type       TEXT    NOT NULL CHECK (transaction_type IN ('PAYMENT', 'REFUND', 'CANCEL')),
    file                   INTEGER NOT NULL REFERENCES report_files (id) ON DELETE RESTRICT,
    line                   INTEGER,
    entity_kind            TEXT    CHECK (entity_kind IN ('payment', 'refund')),
    entity_id              INTEGER,
    alipay                 TEXT    NOT NULL,
    journal                TEXT    NOT NULL,
    found_at               TEXT    NOT NULL,
    resolution             TEXT    CHECK (resolution IN ('accepted', 'listed_later')),
    resolved_at            TEXT,
    resolved_by            TEXT,
    reason                 TEXT,
    UNIQUE (kind, transaction_request_id, transaction_type),
    CHECK ((entity_kind IS NULL) = (entity_id IS NULL)),
    CHECK ((kind = 'missing_locally') = (entity_id IS NULL)),
    CHECK ((resolution IS NULL) = (resolved_at IS NULL)),
    CHECK (resolution IS NOT 'accepted' OR (resolved_by IS NOT NULL AND length(trim(reason)) > 0))
);
CREATE INDEX discrepancies_open ON discrepancies (report_date) WHERE resolution IS NULL;
CREATE INDEX discrepancies_by_entity ON discrepancies (entity_kind, entity_id) WHERE entity_id IS NOT NULL;

CREATE TRIGGER report_files_no_change BEFORE UPDATE ON report_files
BEGIN
    SELECT RAISE(ABORT, 'an imported report file is never changed');
END;
CREATE TRIGGER report_files_no_delete BEFORE DELETE ON report_files
BEGIN
    SELECT RAISE(ABORT, 'an imported report file is never forgotten');
END;
CREATE TRIGGER report_matches_no_change BEFORE UPDATE ON report_matches
BEGIN
    SELECT RAISE(ABORT, 'a report match is never changed');
END;
CREATE TRIGGER report_matches_no_delete BEFORE DELETE ON report_matches
BEGIN
    SELECT RAISE(ABORT, 'a report match is never deleted');
END;
CREATE TRIGGER discrepancies_no_delete BEFORE DELETE ON discrepancies
BEGIN
    SELECT RAISE(ABORT, 'a discrepancy is never deleted');
END;
CREATE TRIGGER discrepancies_resolved_once BEFORE UPDATE ON discrepancies
WHEN OLD.resolution IS NOT NULL
  OR NEW.kind IS NOT OLD.kind OR NEW.report_date IS NOT OLD.report_date
  OR NEW.transaction_request_id IS NOT OLD.transaction_request_id
  OR NEW.transaction_type IS NOT OLD.transaction_type OR NEW.file IS NOT OLD.file
  OR NEW.line IS NOT OLD.line OR NEW.entity_kind IS NOT OLD.entity_kind
  OR NEW.entity_id IS NOT OLD.entity_id OR NEW.alipay IS NOT OLD.alipay
  OR NEW.journal IS NOT OLD.journal OR NEW.found_at IS NOT OLD.found_at
BEGIN
    SELECT RAISE(ABORT, 'a discrepancy keeps its evidence and is resolved once');
END;
"#;

/// Version 5: merchant and store registration (`registration`, its inquiries and
/// notifications).
///
/// - `registrations`: one row per `registrationRequestId`, written (and committed) before
///   the request leaves, with the SHA-256 of the exact body, so a resend after an unknown
///   outcome can prove it is the identical request. `outcome` is what the answer to the
///   request itself said (accepted, refused with its code, or unknown); `status` is the last
///   known review state (pending, completed), `checked_at` when it was last learned (an
///   inquiry or a notification). A refused or unanswered registration keeps no status.
/// - `registration_wallets`: the last known verdict per wallet of one registration
///   (approved, rejected with the reasons, pending while the wallet has not decided).
/// - `registration_notifications`: every verified `notifyRegistrationStatus`, once: the
///   digest of the body is the key, so a resent (or replayed) notification only counts up
///   `times_received`.
/// - Rows are never deleted: they are the merchant's record of what was sent to Alipay.
const MIGRATION_REGISTRATIONS: &str = r#"
CREATE TABLE registrations (
    id                      INTEGER PRIMARY KEY,
    registration_request_id TEXT    NOT NULL UNIQUE
        CHECK (length(registration_request_id) BETWEEN 1 AND 64
               AND registration_request_id NOT GLOB '*[^A-Za-z0-9_-]*'),
    reference_merchant_id   TEXT    NOT NULL
        CHECK (length(reference_merchant_id) BETWEEN 1 AND 64),
    reference_store_id      TEXT    NOT NULL
        CHECK (length(reference_store_id) BETWEEN 1 AND 32),
    body_sha256             TEXT    NOT NULL
        CHECK (length(body_sha256) = 64 AND body_sha256 NOT GLOB '*[^0-9a-f]*'),
    created_at              TEXT    NOT NULL,
    sends                   INTEGER NOT NULL DEFAULT 0 CHECK (sends >= 0),
    outcome                 TEXT    CHECK (outcome IN ('accepted', 'refused', 'unknown', 'lost')),
    result_code             TEXT,
    result_message          TEXT,
    answered_at             TEXT,
    status                  TEXT    CHECK (status IN ('pending', 'completed', 'other')),
    status_text             TEXT,
    status_reasons          TEXT,
    checked_at              TEXT,
    updated_at              TEXT    NOT NULL,
    CHECK ((outcome IS NULL) = (answered_at IS NULL)),
    CHECK (status IS NULL OR outcome = 'accepted'),
    CHECK ((status IS NULL) = (checked_at IS NULL))
);
CREATE INDEX registrations_by_merchant ON registrations (reference_merchant_id, id);

CREATE TABLE registration_wallets (
    registration   INTEGER NOT NULL REFERENCES registrations (id) ON DELETE RESTRICT,
    wallet         TEXT    NOT NULL CHECK (length(wallet) BETWEEN 1 AND 64),
    verdict        TEXT    NOT NULL CHECK (verdict IN ('approved', 'rejected', 'pending', 'other')),
    verdict_text   TEXT,
    reject_reasons TEXT,
    updated_at     TEXT    NOT NULL,
    PRIMARY KEY (registration, wallet)
);

CREATE TABLE registration_notifications (
    id                      INTEGER PRIMARY KEY,
    body_sha256             TEXT    NOT NULL UNIQUE
        CHECK (length(body_sha256) = 64 AND body_sha256 NOT GLOB '*[^0-9a-f]*'),
    registration_request_id TEXT    NOT NULL CHECK (length(registration_request_id) BETWEEN 1 AND 64),
    registration            INTEGER REFERENCES registrations (id) ON DELETE RESTRICT,
    received_at             TEXT    NOT NULL,
    last_received_at        TEXT    NOT NULL,
    times_received          INTEGER NOT NULL DEFAULT 1 CHECK (times_received >= 1),
    summary                 TEXT    NOT NULL
);

CREATE TRIGGER registrations_no_delete BEFORE DELETE ON registrations
BEGIN
    SELECT RAISE(ABORT, 'journal registrations are never deleted');
END;
CREATE TRIGGER registrations_body_fixed BEFORE UPDATE OF registration_request_id, body_sha256,
    reference_merchant_id, reference_store_id ON registrations
WHEN NEW.registration_request_id IS NOT OLD.registration_request_id
  OR NEW.body_sha256 IS NOT OLD.body_sha256
  OR NEW.reference_merchant_id IS NOT OLD.reference_merchant_id
  OR NEW.reference_store_id IS NOT OLD.reference_store_id
BEGIN
    SELECT RAISE(ABORT, 'a journaled registration request never changes; a different request needs a new registrationRequestId');
END;
CREATE TRIGGER registration_notifications_no_delete BEFORE DELETE ON registration_notifications
BEGIN
    SELECT RAISE(ABORT, 'journal notifications are never deleted');
END;
"#;

/// Version 6: end-of-day closes (the Z report): one immutable record per local business day.
///
/// - `number` runs 1, 2, 3… without gaps: the insert trigger accepts only the next number,
///   so a missing close is visible to an auditor, and `journal check` re-verifies it for a
///   file written with the triggers dropped.
/// - `local_date` is UNIQUE: a day is closed once. `day_start`/`day_end` keep the instants
///   the day covered in the zone named by `time_zone` when it was closed, so a later change
///   of the till's zone cannot move the day.
/// - `last_event_seq` is the event log's last `seq` at close: events about the day's
///   payments and refunds after it are what happened to the day after it was closed.
/// - `figures` is the computed report (totals per currency, counts per state, first and
///   last payment, reconciliation) as JSON: stored, not recomputed, so the record never
///   changes even when later events touch the day.
/// - No UPDATE, no DELETE, like the event log.
const MIGRATION_DAY_CLOSES: &str = r#"
CREATE TABLE day_closes (
    number              INTEGER PRIMARY KEY CHECK (typeof(number) = 'integer' AND number >= 1),
    local_date          TEXT    NOT NULL UNIQUE
        CHECK (length(local_date) = 10
               AND local_date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    time_zone           TEXT    NOT NULL CHECK (length(time_zone) BETWEEN 1 AND 64),
    day_start           TEXT    NOT NULL,
    day_end             TEXT    NOT NULL,
    closed_at           TEXT    NOT NULL,
    closed_by           TEXT    NOT NULL CHECK (length(closed_by) BETWEEN 1 AND 64),
    last_event_seq      INTEGER NOT NULL CHECK (typeof(last_event_seq) = 'integer'),
    unresolved_payments INTEGER NOT NULL CHECK (unresolved_payments >= 0),
    unresolved_refunds  INTEGER NOT NULL CHECK (unresolved_refunds >= 0),
    figures             TEXT    NOT NULL CHECK (json_valid(figures)),
    CHECK (day_start < day_end)
);

CREATE TRIGGER day_closes_sequential BEFORE INSERT ON day_closes
WHEN NEW.number IS NOT (SELECT coalesce(max(number), 0) + 1 FROM day_closes)
BEGIN
    SELECT RAISE(ABORT, 'day closes are numbered 1, 2, 3... without gaps: a close takes the next number');
END;
CREATE TRIGGER day_closes_no_update BEFORE UPDATE ON day_closes
BEGIN
    SELECT RAISE(ABORT, 'a day close is final: its record cannot be changed');
END;
CREATE TRIGGER day_closes_no_delete BEFORE DELETE ON day_closes
BEGIN
    SELECT RAISE(ABORT, 'a day close is final: its record cannot be deleted');
END;
"#;

/// The triggers [`super::Journal::check`] expects; a missing one means the file's protections
/// were removed.
pub(crate) const PROTECTIVE_TRIGGERS: &[&str] = &[
    "events_no_update",
    "events_no_delete",
    "events_entity_exists",
    "requests_entity_exists",
    "payments_no_delete",
    "refunds_no_delete",
    "requests_no_delete",
    "payments_product_fixed",
    "payments_code_by_product",
    "payments_customer_code_by_product",
    "payments_customer_code_fixed",
    "meta_no_update",
    "meta_no_delete",
    "report_files_no_change",
    "report_files_no_delete",
    "report_matches_no_change",
    "report_matches_no_delete",
    "discrepancies_no_delete",
    "discrepancies_resolved_once",
    "registrations_no_delete",
    "registrations_body_fixed",
    "registration_notifications_no_delete",
    "day_closes_sequential",
    "day_closes_no_update",
    "day_closes_no_delete",
];

/// Opens `path` with the journal's settings and brings its schema up to date.
pub(crate) fn open_connection(path: &Path) -> Result<Connection, JournalError> {
    let mut conn = Connection::open(path).map_err(|e| JournalError::Open {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    conn.busy_timeout(BUSY_TIMEOUT)?;

    // The first statement that reads the file is where a non-database file shows up.
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(|e| on_first_read(e, path))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(JournalError::WalUnavailable {
            path: path.to_path_buf(),
            mode,
        });
    }
    // FULL: a commit is on disk when `commit` returns, so "intent recorded" really means it
    // survives a power cut. WAL alone (NORMAL) could lose the last commits.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;

    refuse_foreign_file(&conn, path)?;
    migrate(&mut conn, path)?;
    Ok(conn)
}

pub(crate) fn on_first_read(error: rusqlite::Error, path: &Path) -> JournalError {
    if let rusqlite::Error::SqliteFailure(failure, _) = &error {
        match failure.code {
            ErrorCode::NotADatabase => {
                return JournalError::NotAJournal {
                    path: path.to_path_buf(),
                };
            }
            ErrorCode::CannotOpen => {
                return JournalError::Open {
                    path: path.to_path_buf(),
                    reason: error.to_string(),
                };
            }
            _ => {}
        }
    }
    classify(error)
}

/// Refuses a SQLite file that belongs to another program: one carrying another application id,
/// or an unmarked one that already has tables.
pub(crate) fn refuse_foreign_file(conn: &Connection, path: &Path) -> Result<(), JournalError> {
    let application_id: i64 = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
    let foreign = match application_id {
        APPLICATION_ID => false,
        0 => {
            let objects: i64 =
                conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
            objects > 0
        }
        _ => true,
    };
    if foreign {
        return Err(JournalError::NotAJournal {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

pub(crate) fn user_version(conn: &Connection) -> Result<i64, JournalError> {
    Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
}

/// Applies the missing migrations in one IMMEDIATE transaction; the version is re-read inside
/// it, so two processes opening an old file at once migrate it exactly once.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), JournalError> {
    let latest = latest_version();
    let too_new = |found: i64| JournalError::SchemaTooNew {
        path: path.to_path_buf(),
        found,
        supported: latest,
    };
    let found = user_version(conn)?;
    if found > latest {
        return Err(too_new(found));
    }
    if found == latest {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found = user_version(&tx)?;
    if found > latest {
        return Err(too_new(found));
    }
    let as_migration_error = |e: rusqlite::Error| match classify(e) {
        JournalError::Sqlite(e) => JournalError::Migration {
            from: found,
            to: latest,
            reason: e.to_string(),
        },
        other => other,
    };
    let first = usize::try_from(found).map_err(|_| JournalError::Unreadable {
        what: format!("schema version {found}"),
    })?;
    for sql in MIGRATIONS.iter().skip(first) {
        tx.execute_batch(sql).map_err(as_migration_error)?;
    }
    tx.pragma_update(None, "user_version", latest)
        .map_err(as_migration_error)?;
    tx.commit().map_err(as_migration_error)?;
    Ok(())
}

/// Entry Code results the store hub relayed for this counter (README, "Entry Code"). The
/// hub's PostgreSQL is the record of those payments (the hub made them); this is the
/// terminal's read-only knowledge of them, for its screen. `hub_id` is the hub's row id, so
/// a result relayed twice is kept once. No UPDATE, no DELETE.
const MIGRATION_ENTRY_CODE_RESULTS: &str = r#"
CREATE TABLE entry_code_results (
    hub_id             INTEGER PRIMARY KEY CHECK (typeof(hub_id) = 'integer' AND hub_id >= 1),
    payment_request_id TEXT    NOT NULL UNIQUE CHECK (length(payment_request_id) BETWEEN 1 AND 64),
    payment_id         TEXT,
    store_id           TEXT    NOT NULL,
    counter            TEXT    NOT NULL,
    currency           TEXT    NOT NULL CHECK (length(currency) = 3),
    amount             INTEGER NOT NULL CHECK (typeof(amount) = 'integer' AND amount > 0),
    outcome            TEXT    NOT NULL CHECK (outcome IN ('success', 'failed', 'cancelled')),
    result_code        TEXT    NOT NULL,
    order_reference    TEXT,
    finished_at        TEXT    NOT NULL,
    received_at        TEXT    NOT NULL
);
CREATE TRIGGER entry_code_results_no_update BEFORE UPDATE ON entry_code_results
BEGIN
    SELECT RAISE(ABORT, 'an Entry Code result is the hub''s record: it cannot be changed');
END;
CREATE TRIGGER entry_code_results_no_delete BEFORE DELETE ON entry_code_results
BEGIN
    SELECT RAISE(ABORT, 'an Entry Code result is the hub''s record: it cannot be deleted');
END;
"#;

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixture the migration test in `tests/journal.rs` builds an old journal from must be
    /// exactly what version 1 was; shipped migrations never change, so neither may it.
    #[test]
    fn the_version_1_fixture_is_migration_1() {
        let fixture = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/journal_schema_v1.sql"
        ));
        assert_eq!(fixture, MIGRATION_1);
    }

    #[test]
    fn the_product_check_admits_every_product_and_nothing_else() {
        let mut conn = Connection::open_in_memory().unwrap();
        let tx = conn.transaction().unwrap();
        for sql in MIGRATIONS {
            tx.execute_batch(sql).unwrap();
        }
        let insert = |product: &str, n: i64, last4: Option<&str>| {
            tx.execute(
                "INSERT INTO payments (payment_request_id, order_ref, amount_minor, currency,
                     description, operator, state, created_at, updated_at, product,
                     customer_code_last4, customer_code_sha256)
                 VALUES (?1, 'o', 1, 'USD', '', 'op', 'created', 't', 't', ?2, ?3, ?4)",
                rusqlite::params![
                    format!("P{n}"),
                    product,
                    last4,
                    last4.map(|_| "0".repeat(64))
                ],
            )
        };
        for (n, product) in crate::journal::Product::ALL.into_iter().enumerate() {
            let scanned = product == crate::journal::Product::UserPresented;
            insert(product.as_str(), n as i64, scanned.then_some("1234")).unwrap();
            // User-presented has what is kept of the customer's code; no other product does.
            assert!(
                insert(
                    product.as_str(),
                    50 + n as i64,
                    (!scanned).then_some("1234")
                )
                .is_err()
            );
        }
        assert!(insert("barcode", 99, None).is_err());
        // Four digits, never more of the code.
        assert!(insert("user_presented", 98, Some("123456")).is_err());
        let changed = tx.execute(
            "UPDATE payments SET customer_code_last4 = '9999' WHERE product = 'user_presented'",
            [],
        );
        assert!(changed.is_err(), "what is kept of a code never changes");
    }
}
