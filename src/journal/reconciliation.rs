//! What the journal keeps of Alipay's reports: the files imported, which journal entry each
//! transaction row listed, the settlement batches, and the discrepancies (migration 4).
//!
//! The matching itself (what counts as "ours", what a mismatch is) is the `reconcile`
//! layer's; this module stores its verdicts and answers the lookups it needs, inside one
//! IMMEDIATE transaction per file, so a file is imported whole or not at all.

use std::fmt;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use time::OffsetDateTime;

use super::error::JournalError;
use super::state::{EntityRef, PaymentLocalId, PaymentState, RefundLocalId, RefundState};
use super::timestamp::{from_stored, from_stored_opt, to_stored};
use super::{Journal, check_text, money_from_sql};
use crate::money::Money;

/// Which of Alipay's three reports a file is (flows.md §8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReportKind {
    /// `transactionItems_<date>_<seq>.csv`: the successful transactions of a day.
    Transactions,
    /// `settlementItems_…csv`: every transaction of a settlement batch.
    SettlementItems,
    /// `settlementSummary_…csv`: one row per summary type of a batch.
    SettlementSummary,
}

impl ReportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::Transactions => "transactions",
            ReportKind::SettlementItems => "settlement_items",
            ReportKind::SettlementSummary => "settlement_summary",
        }
    }

    fn parse(text: &str) -> Option<ReportKind> {
        [
            ReportKind::Transactions,
            ReportKind::SettlementItems,
            ReportKind::SettlementSummary,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }
}

/// The transaction types a terminal's reconciliation deals with; the reports' other types
/// (AUTHORIZATION, DISPUTE, fees…) are not transactions a till makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ListedType {
    Payment,
    Refund,
    /// A paid payment reversed by `cancel`.
    Cancel,
}

impl ListedType {
    /// Alipay's spelling, which is also the stored one.
    pub fn as_str(self) -> &'static str {
        match self {
            ListedType::Payment => "PAYMENT",
            ListedType::Refund => "REFUND",
            ListedType::Cancel => "CANCEL",
        }
    }

    pub fn parse(text: &str) -> Option<ListedType> {
        [ListedType::Payment, ListedType::Refund, ListedType::Cancel]
            .into_iter()
            .find(|t| t.as_str() == text)
    }
}

impl fmt::Display for ListedType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The five ways a report and the journal can disagree (issue 12's vocabulary, which is the
/// stored and the JSON spelling).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DiscrepancyKind {
    /// Alipay lists a transaction of this terminal that the journal does not know: a lost
    /// payment, the worst case.
    MissingLocally,
    /// The journal has a payment paid (a refund succeeded, a payment reversed) that the day's
    /// files do not list.
    MissingAtAlipay,
    AmountMismatch,
    /// E.g. Alipay lists PAYMENT for a payment the journal has as failed, cancelled or still
    /// unresolved, or a CANCEL the journal lacks.
    StateMismatch,
    CurrencyMismatch,
}

impl DiscrepancyKind {
    pub const ALL: [DiscrepancyKind; 5] = [
        DiscrepancyKind::MissingLocally,
        DiscrepancyKind::MissingAtAlipay,
        DiscrepancyKind::AmountMismatch,
        DiscrepancyKind::StateMismatch,
        DiscrepancyKind::CurrencyMismatch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DiscrepancyKind::MissingLocally => "missing_locally",
            DiscrepancyKind::MissingAtAlipay => "missing_at_alipay",
            DiscrepancyKind::AmountMismatch => "amount_mismatch",
            DiscrepancyKind::StateMismatch => "state_mismatch",
            DiscrepancyKind::CurrencyMismatch => "currency_mismatch",
        }
    }

    pub fn parse(text: &str) -> Option<DiscrepancyKind> {
        DiscrepancyKind::ALL
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

impl fmt::Display for DiscrepancyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A file about to be imported.
#[derive(Clone, Debug)]
pub struct NewReportFile<'a> {
    pub name: &'a str,
    pub sha256: &'a str,
    pub kind: ReportKind,
    /// `yyyyMMdd`: the transaction date, or the settlement date for settlement files.
    pub report_date: &'a str,
    /// Settlement files only.
    pub settlement_batch_id: Option<&'a str>,
}

/// A file the journal has imported, with what its import found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportedFile {
    pub id: i64,
    pub name: String,
    pub sha256: String,
    pub kind: ReportKind,
    pub report_date: String,
    pub settlement_batch_id: Option<String>,
    pub rows: u64,
    pub matched: u64,
    pub not_ours: u64,
    pub imported_at: OffsetDateTime,
}

/// What a file's import counted, handed back by the caller's row loop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportCounts {
    pub rows: u64,
    pub matched: u64,
    pub not_ours: u64,
}

/// The journal's side of a listed transaction: what a row is compared with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JournalView {
    Payment {
        id: PaymentLocalId,
        payment_request_id: String,
        state: PaymentState,
        amount: Money,
        payment_id: Option<String>,
        paid_at: Option<OffsetDateTime>,
        final_at: Option<OffsetDateTime>,
    },
    Refund {
        id: RefundLocalId,
        refund_request_id: String,
        state: RefundState,
        amount: Money,
        refund_id: Option<String>,
        refunded_at: Option<OffsetDateTime>,
    },
}

impl JournalView {
    pub fn entity(&self) -> EntityRef {
        match self {
            JournalView::Payment { id, .. } => EntityRef::Payment(*id),
            JournalView::Refund { id, .. } => EntityRef::Refund(*id),
        }
    }

    pub fn request_id(&self) -> &str {
        match self {
            JournalView::Payment {
                payment_request_id, ..
            } => payment_request_id,
            JournalView::Refund {
                refund_request_id, ..
            } => refund_request_id,
        }
    }

    pub fn amount(&self) -> Money {
        match self {
            JournalView::Payment { amount, .. } | JournalView::Refund { amount, .. } => *amount,
        }
    }

    /// The state's stored spelling (`paid`, `succeeded`, …).
    pub fn state_name(&self) -> &'static str {
        match self {
            JournalView::Payment { state, .. } => state.as_str(),
            JournalView::Refund { state, .. } => state.as_str(),
        }
    }
}

/// A discrepancy to record; the evidence is JSON text made by the caller.
#[derive(Clone, Debug)]
pub struct NewDiscrepancy<'a> {
    pub kind: DiscrepancyKind,
    pub report_date: &'a str,
    pub transaction_request_id: &'a str,
    pub transaction_type: ListedType,
    /// The row of the file that showed it (none for `missing_at_alipay`).
    pub line: Option<u64>,
    /// None only for `missing_locally`.
    pub entity: Option<EntityRef>,
    pub alipay: &'a str,
    pub journal: &'a str,
}

/// How a discrepancy was closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiscrepancyResolution {
    /// A manager accepted Alipay's view, with a reason.
    Accepted { manager: String, reason: String },
    /// A later file listed the transaction (e.g. day T+1's, for a payment made at the
    /// cut-off): nothing was missing after all.
    ListedLater { note: String },
}

/// A stored discrepancy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscrepancyRecord {
    pub id: i64,
    pub kind: DiscrepancyKind,
    pub report_date: String,
    pub transaction_request_id: String,
    pub transaction_type: ListedType,
    pub file: String,
    pub line: Option<u64>,
    pub entity: Option<EntityRef>,
    pub alipay: String,
    pub journal: String,
    pub found_at: OffsetDateTime,
    pub resolution: Option<DiscrepancyResolution>,
    pub resolved_at: Option<OffsetDateTime>,
}

/// A settlement summary's TOTAL figures for one batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettlementBatch {
    pub settlement_batch_id: String,
    pub settlement_date: String,
    pub file: String,
    pub count: u64,
    /// Signed minor units of the settlement currency: what Alipay remits (after fees).
    pub net_minor: i64,
    /// Signed minor units: the fees Alipay kept (positive when charged, negative when it
    /// returned more fees than it charged).
    pub fee_minor: i64,
    pub currency: crate::money::Currency,
    pub settled_at: Option<OffsetDateTime>,
}

/// One open import: the lookups a row needs and the writes its verdict makes, all inside
/// the file's transaction.
pub struct ReportImport<'j> {
    tx: Transaction<'j>,
    file_id: i64,
    now: String,
}

/// The columns of a [`JournalView`], in the order `read_payment_view` reads them.
macro_rules! payment_view_sql {
    () => {
        "SELECT id, payment_request_id, state, amount_minor, currency, payment_id, paid_at, final_at FROM payments"
    };
}
/// The columns of a refund's [`JournalView`], in the order `read_refund_view` reads them.
macro_rules! refund_view_sql {
    () => {
        "SELECT id, refund_request_id, state, amount_minor, currency, refund_id, refunded_at FROM refunds"
    };
}
const PAYMENT_VIEW: &str = payment_view_sql!();
const REFUND_VIEW: &str = refund_view_sql!();

/// Looked up once per row of a report: a constant, so the statement cache is hit without
/// building the text again.
const PAYMENT_BY_REQUEST_ID: &str = concat!(payment_view_sql!(), " WHERE payment_request_id = ?1");
const REFUND_BY_REQUEST_ID: &str = concat!(refund_view_sql!(), " WHERE refund_request_id = ?1");

fn read_payment_view(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawPaymentView> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

fn read_refund_view(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRefundView> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

type RawPaymentView = (
    i64,
    String,
    String,
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);
type RawRefundView = (
    i64,
    String,
    String,
    i64,
    String,
    Option<String>,
    Option<String>,
);

fn payment_view(raw: RawPaymentView) -> Result<JournalView, JournalError> {
    let (id, request_id, state, amount, currency, payment_id, paid_at, final_at) = raw;
    Ok(JournalView::Payment {
        id: PaymentLocalId(id),
        state: PaymentState::parse(&state).ok_or_else(|| JournalError::Unreadable {
            what: format!("payment state `{state}`"),
        })?,
        amount: money_from_sql(amount, &currency, "payment")?,
        payment_request_id: request_id,
        payment_id,
        paid_at: from_stored_opt(paid_at)?,
        final_at: from_stored_opt(final_at)?,
    })
}

fn refund_view(raw: RawRefundView) -> Result<JournalView, JournalError> {
    let (id, request_id, state, amount, currency, refund_id, refunded_at) = raw;
    Ok(JournalView::Refund {
        id: RefundLocalId(id),
        state: RefundState::parse(&state).ok_or_else(|| JournalError::Unreadable {
            what: format!("refund state `{state}`"),
        })?,
        amount: money_from_sql(amount, &currency, "refund")?,
        refund_request_id: request_id,
        refund_id,
        refunded_at: from_stored_opt(refunded_at)?,
    })
}

impl ReportImport<'_> {
    /// The payment with this `paymentRequestId`.
    pub fn payment(&self, payment_request_id: &str) -> Result<Option<JournalView>, JournalError> {
        let raw = self
            .tx
            .prepare_cached(PAYMENT_BY_REQUEST_ID)?
            .query_row([payment_request_id], read_payment_view)
            .optional()?;
        raw.map(payment_view).transpose()
    }

    /// The refund with this `refundRequestId`.
    pub fn refund(&self, refund_request_id: &str) -> Result<Option<JournalView>, JournalError> {
        let raw = self
            .tx
            .prepare_cached(REFUND_BY_REQUEST_ID)?
            .query_row([refund_request_id], read_refund_view)
            .optional()?;
        raw.map(refund_view).transpose()
    }

    /// Records that the row at `line` listed `entity`. Only transactions files record
    /// matches: the day's file is the one whose silence means something.
    pub fn record_match(
        &self,
        line: u64,
        entity: EntityRef,
        listed: ListedType,
    ) -> Result<(), JournalError> {
        self.tx
            .prepare_cached(
                "INSERT INTO report_matches (file, line, entity_kind, entity_id, transaction_type)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                self.file_id,
                sql_count(line)?,
                entity.kind(),
                entity.id(),
                listed.as_str()
            ])?;
        Ok(())
    }

    /// Records a discrepancy, unless the same one (kind, id, type) is already known: a
    /// transaction listed in both the day's file and its settlement batch is one problem.
    /// Returns whether it is new.
    pub fn record_discrepancy(&self, new: &NewDiscrepancy<'_>) -> Result<bool, JournalError> {
        let inserted = self
            .tx
            .prepare_cached(
                "INSERT OR IGNORE INTO discrepancies
                     (kind, report_date, transaction_request_id, transaction_type, file, line,
                      entity_kind, entity_id, alipay, journal, found_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute(params![
                new.kind.as_str(),
                new.report_date,
                new.transaction_request_id,
                new.transaction_type.as_str(),
                self.file_id,
                new.line.map(sql_count).transpose()?,
                new.entity.map(EntityRef::kind),
                new.entity.map(EntityRef::id),
                new.alipay,
                new.journal,
                self.now,
            ])?;
        Ok(inserted == 1)
    }

    /// Stores a settlement summary's TOTAL figures.
    pub fn record_batch(&self, batch: &SettlementBatch) -> Result<(), JournalError> {
        self.tx
            .prepare_cached(
                "INSERT INTO settlement_batches
                     (file, settlement_batch_id, settlement_date, currency, count, net_minor,
                      fee_minor, settled_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                self.file_id,
                batch.settlement_batch_id,
                batch.settlement_date,
                batch.currency.code(),
                sql_count(batch.count)?,
                batch.net_minor,
                batch.fee_minor,
                batch
                    .settled_at
                    .map(|t| to_stored(t, "settlementTime"))
                    .transpose()?,
            ])?;
        Ok(())
    }

    /// What the journal has for Alipay day `[from, to)` that no imported transactions file
    /// lists (this one included): payments paid, payments reversed by a cancel, refunds
    /// succeeded. Paired with the type Alipay would have listed.
    pub fn unlisted(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<(ListedType, JournalView)>, JournalError> {
        let from = to_stored(from, "from")?;
        let to = to_stored(to, "to")?;
        let mut found = Vec::new();
        let payments = [
            (
                ListedType::Payment,
                "paid_at >= ?1 AND paid_at < ?2 AND paid_at IS NOT NULL",
            ),
            (
                ListedType::Cancel,
                "state = 'cancelled' AND paid_at IS NOT NULL AND final_at >= ?1 AND final_at < ?2",
            ),
        ];
        for (listed, condition) in payments {
            let sql = format!(
                "{PAYMENT_VIEW} WHERE {condition} AND NOT EXISTS (
                     SELECT 1 FROM report_matches m
                     WHERE m.entity_kind = 'payment' AND m.entity_id = payments.id
                       AND m.transaction_type = ?3)
                 ORDER BY id"
            );
            let mut statement = self.tx.prepare(&sql)?;
            let rows =
                statement.query_map(params![from, to, listed.as_str()], read_payment_view)?;
            for raw in rows {
                found.push((listed, payment_view(raw?)?));
            }
        }
        let sql = format!(
            "{REFUND_VIEW} WHERE state = 'succeeded' AND refunded_at >= ?1 AND refunded_at < ?2
               AND NOT EXISTS (
                 SELECT 1 FROM report_matches m
                 WHERE m.entity_kind = 'refund' AND m.entity_id = refunds.id
                   AND m.transaction_type = 'REFUND')
             ORDER BY id"
        );
        let mut statement = self.tx.prepare(&sql)?;
        let rows = statement.query_map(params![from, to], read_refund_view)?;
        for raw in rows {
            found.push((ListedType::Refund, refund_view(raw?)?));
        }
        Ok(found)
    }
}

/// SQLite integers are signed; counts and line numbers never come near the limit.
fn sql_count(n: u64) -> Result<i64, JournalError> {
    i64::try_from(n).map_err(|_| JournalError::InvalidInput {
        field: "count",
        reason: format!("{n} is out of range"),
    })
}

fn count_from_sql(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

const FILE_COLUMNS: &str = "id, name, sha256, kind, report_date, settlement_batch_id, rows, matched, not_ours, imported_at";

fn read_file(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawFile> {
    Ok(RawFile {
        id: row.get(0)?,
        name: row.get(1)?,
        sha256: row.get(2)?,
        kind: row.get(3)?,
        report_date: row.get(4)?,
        settlement_batch_id: row.get(5)?,
        rows: row.get(6)?,
        matched: row.get(7)?,
        not_ours: row.get(8)?,
        imported_at: row.get(9)?,
    })
}

struct RawFile {
    id: i64,
    name: String,
    sha256: String,
    kind: String,
    report_date: String,
    settlement_batch_id: Option<String>,
    rows: i64,
    matched: i64,
    not_ours: i64,
    imported_at: String,
}

impl RawFile {
    fn into_file(self) -> Result<ImportedFile, JournalError> {
        Ok(ImportedFile {
            id: self.id,
            kind: ReportKind::parse(&self.kind).ok_or_else(|| JournalError::Unreadable {
                what: format!("report kind `{}`", self.kind),
            })?,
            name: self.name,
            sha256: self.sha256,
            report_date: self.report_date,
            settlement_batch_id: self.settlement_batch_id,
            rows: count_from_sql(self.rows),
            matched: count_from_sql(self.matched),
            not_ours: count_from_sql(self.not_ours),
            imported_at: from_stored(&self.imported_at)?,
        })
    }
}

const DISCREPANCY_COLUMNS: &str = "d.id, d.kind, d.report_date, d.transaction_request_id, d.transaction_type, f.name, d.line, d.entity_kind, d.entity_id, d.alipay, d.journal, d.found_at, d.resolution, d.resolved_at, d.resolved_by, d.reason";

fn read_discrepancy(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawDiscrepancy> {
    Ok(RawDiscrepancy {
        id: row.get(0)?,
        kind: row.get(1)?,
        report_date: row.get(2)?,
        transaction_request_id: row.get(3)?,
        transaction_type: row.get(4)?,
        file: row.get(5)?,
        line: row.get(6)?,
        entity_kind: row.get(7)?,
        entity_id: row.get(8)?,
        alipay: row.get(9)?,
        journal: row.get(10)?,
        found_at: row.get(11)?,
        resolution: row.get(12)?,
        resolved_at: row.get(13)?,
        resolved_by: row.get(14)?,
        reason: row.get(15)?,
    })
}

struct RawDiscrepancy {
    id: i64,
    kind: String,
    report_date: String,
    transaction_request_id: String,
    transaction_type: String,
    file: String,
    line: Option<i64>,
    entity_kind: Option<String>,
    entity_id: Option<i64>,
    alipay: String,
    journal: String,
    found_at: String,
    resolution: Option<String>,
    resolved_at: Option<String>,
    resolved_by: Option<String>,
    reason: Option<String>,
}

impl RawDiscrepancy {
    fn into_record(self) -> Result<DiscrepancyRecord, JournalError> {
        let unreadable = |what: String| JournalError::Unreadable { what };
        let entity = match (self.entity_kind.as_deref(), self.entity_id) {
            (Some(kind), Some(id)) => Some(
                EntityRef::from_columns(kind, id)
                    .ok_or_else(|| unreadable(format!("entity kind `{kind}`")))?,
            ),
            _ => None,
        };
        let resolution = match self.resolution.as_deref() {
            None => None,
            Some("accepted") => Some(DiscrepancyResolution::Accepted {
                manager: self.resolved_by.unwrap_or_default(),
                reason: self.reason.unwrap_or_default(),
            }),
            Some("listed_later") => Some(DiscrepancyResolution::ListedLater {
                note: self.reason.unwrap_or_default(),
            }),
            Some(other) => return Err(unreadable(format!("discrepancy resolution `{other}`"))),
        };
        Ok(DiscrepancyRecord {
            id: self.id,
            kind: DiscrepancyKind::parse(&self.kind)
                .ok_or_else(|| unreadable(format!("discrepancy kind `{}`", self.kind)))?,
            transaction_type: ListedType::parse(&self.transaction_type).ok_or_else(|| {
                unreadable(format!("transaction type `{}`", self.transaction_type))
            })?,
            report_date: self.report_date,
            transaction_request_id: self.transaction_request_id,
            file: self.file,
            line: self.line.map(count_from_sql),
            entity,
            alipay: self.alipay,
            journal: self.journal,
            found_at: from_stored(&self.found_at)?,
            resolution,
            resolved_at: from_stored_opt(self.resolved_at)?,
        })
    }
}

/// Which discrepancies to list.
#[derive(Clone, Debug, Default)]
pub struct DiscrepancyFilter<'a> {
    /// Only those of this report date (`yyyyMMdd`).
    pub report_date: Option<&'a str>,
    /// Only the unresolved ones.
    pub open_only: bool,
    /// Only those found by these files.
    pub files: Option<&'a [i64]>,
}

impl Journal {
    /// Imports one file in one IMMEDIATE transaction: `rows` is given the open import, reads
    /// the file, and reports what it counted; any error it returns rolls the whole file
    /// back, so a bad row never leaves half a file behind. Afterwards, `missing_at_alipay`
    /// discrepancies that a file has since listed are closed as "listed later".
    pub fn import_report<E>(
        &mut self,
        file: &NewReportFile<'_>,
        rows: impl FnOnce(&ReportImport<'_>) -> Result<ImportCounts, E>,
    ) -> Result<ImportedFile, E>
    where
        E: From<JournalError>,
    {
        check_text("name", file.name, 255, true)?;
        self.write_import(file, rows)?;
        self.imported_file(file.name)?
            .ok_or_else(|| JournalError::NotFound {
                what: format!("report file {}", file.name),
            })
            .map_err(E::from)
    }

    fn write_import<E>(
        &mut self,
        file: &NewReportFile<'_>,
        rows: impl FnOnce(&ReportImport<'_>) -> Result<ImportCounts, E>,
    ) -> Result<(), E>
    where
        E: From<JournalError>,
    {
        let now = to_stored(self.now(), "imported_at")?;
        let tx = self.begin_write().map_err(E::from)?;
        // The file row is written last (it is immutable and carries the counts), so the
        // rows that point at it are checked at commit.
        tx.execute_batch("PRAGMA defer_foreign_keys = ON")
            .map_err(JournalError::from)?;
        let file_id: i64 = tx
            .query_row(
                "SELECT coalesce(max(id), 0) + 1 FROM report_files",
                [],
                |r| r.get(0),
            )
            .map_err(JournalError::from)?;
        let import = ReportImport {
            tx,
            file_id,
            now: now.clone(),
        };
        let counts = rows(&import)?;
        let ReportImport { tx, .. } = import;
        tx.execute(
            "INSERT INTO report_files (id, name, sha256, kind, report_date, settlement_batch_id,
                                       rows, matched, not_ours, imported_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                file_id,
                file.name,
                file.sha256,
                file.kind.as_str(),
                file.report_date,
                file.settlement_batch_id,
                sql_count(counts.rows)?,
                sql_count(counts.matched)?,
                sql_count(counts.not_ours)?,
                now,
            ],
        )
        .map_err(JournalError::from)?;
        tx.execute(
            "UPDATE discrepancies SET resolution = 'listed_later', resolved_at = ?1,
                 reason = 'listed by ' || (
                     SELECT f.name || ' line ' || m.line FROM report_matches m
                     JOIN report_files f ON f.id = m.file
                     WHERE m.entity_kind = discrepancies.entity_kind
                       AND m.entity_id = discrepancies.entity_id
                       AND m.transaction_type = discrepancies.transaction_type
                     ORDER BY m.file LIMIT 1)
             WHERE kind = 'missing_at_alipay' AND resolution IS NULL
               AND EXISTS (
                     SELECT 1 FROM report_matches m
                     WHERE m.entity_kind = discrepancies.entity_kind
                       AND m.entity_id = discrepancies.entity_id
                       AND m.transaction_type = discrepancies.transaction_type)",
            [&now],
        )
        .map_err(JournalError::from)?;
        tx.commit().map_err(JournalError::from)?;
        Ok(())
    }

    /// Marks a discrepancy accepted by `manager` with `reason`. Refused when it is already
    /// resolved (a trigger makes that final too).
    pub fn accept_discrepancy(
        &mut self,
        id: i64,
        manager: &str,
        reason: &str,
    ) -> Result<DiscrepancyRecord, JournalError> {
        check_text("manager", manager, 64, true)?;
        check_text("reason", reason, 1024, true)?;
        let now = to_stored(self.now(), "resolved_at")?;
        let tx = self.begin_write()?;
        let open: Option<bool> = tx
            .query_row(
                "SELECT resolution IS NULL FROM discrepancies WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        match open {
            None => {
                return Err(JournalError::NotFound {
                    what: format!("discrepancy {id}"),
                });
            }
            Some(false) => {
                return Err(JournalError::InvalidInput {
                    field: "discrepancy",
                    reason: format!("discrepancy {id} is already resolved"),
                });
            }
            Some(true) => {}
        }
        tx.execute(
            "UPDATE discrepancies SET resolution = 'accepted', resolved_at = ?2,
                 resolved_by = ?3, reason = ?4 WHERE id = ?1",
            params![id, now, manager, reason.trim()],
        )?;
        tx.commit()?;
        self.discrepancy(id)?.ok_or_else(|| JournalError::NotFound {
            what: format!("discrepancy {id}"),
        })
    }
}

/// The imported file of this name, if any (names are unique: Alipay never reissues one).
fn imported_file(conn: &Connection, name: &str) -> Result<Option<ImportedFile>, JournalError> {
    conn.query_row(
        &format!("SELECT {FILE_COLUMNS} FROM report_files WHERE name = ?1"),
        [name],
        read_file,
    )
    .optional()?
    .map(RawFile::into_file)
    .transpose()
}

/// Every file imported for `report_date` (`yyyyMMdd`), or all of them, in import order.
fn imported_files(
    conn: &Connection,
    report_date: Option<&str>,
) -> Result<Vec<ImportedFile>, JournalError> {
    let mut statement = conn.prepare(&format!(
        "SELECT {FILE_COLUMNS} FROM report_files
         WHERE ?1 IS NULL OR report_date = ?1 ORDER BY id"
    ))?;
    let raws = statement.query_map([report_date], read_file)?;
    raws.map(|raw| raw?.into_file()).collect()
}

/// Discrepancies, oldest first.
fn discrepancies(
    conn: &Connection,
    filter: &DiscrepancyFilter<'_>,
) -> Result<Vec<DiscrepancyRecord>, JournalError> {
    let files_json = filter
        .files
        .map(|ids| serde_json::to_string(ids).unwrap_or_else(|_| "[]".to_string()));
    let mut statement = conn.prepare(&format!(
        "SELECT {DISCREPANCY_COLUMNS} FROM discrepancies d JOIN report_files f ON f.id = d.file
         WHERE (?1 IS NULL OR d.report_date = ?1)
           AND (?2 = 0 OR d.resolution IS NULL)
           AND (?3 IS NULL OR d.file IN (SELECT value FROM json_each(?3)))
         ORDER BY d.id"
    ))?;
    let raws = statement.query_map(
        params![filter.report_date, filter.open_only, files_json],
        read_discrepancy,
    )?;
    raws.map(|raw| raw?.into_record()).collect()
}

/// One discrepancy by its number.
fn discrepancy(conn: &Connection, id: i64) -> Result<Option<DiscrepancyRecord>, JournalError> {
    conn.query_row(
        &format!(
            "SELECT {DISCREPANCY_COLUMNS} FROM discrepancies d
                 JOIN report_files f ON f.id = d.file WHERE d.id = ?1"
        ),
        [id],
        read_discrepancy,
    )
    .optional()?
    .map(RawDiscrepancy::into_record)
    .transpose()
}

/// The settlement batches whose summary was imported for `settlement_date` (or all).
fn settlement_batches(
    conn: &Connection,
    settlement_date: Option<&str>,
) -> Result<Vec<SettlementBatch>, JournalError> {
    let mut statement = conn.prepare(
        "SELECT b.settlement_batch_id, b.settlement_date, f.name, b.count, b.net_minor,
                b.fee_minor, b.currency, b.settled_at
         FROM settlement_batches b JOIN report_files f ON f.id = b.file
         WHERE ?1 IS NULL OR b.settlement_date = ?1 ORDER BY b.file",
    )?;
    let raws = statement.query_map([settlement_date], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, i64>(5)?,
            r.get::<_, String>(6)?,
            r.get::<_, Option<String>>(7)?,
        ))
    })?;
    raws.map(|raw| {
        let (batch, date, file, count, net, fee, currency, settled_at) = raw?;
        Ok(SettlementBatch {
            settlement_batch_id: batch,
            settlement_date: date,
            file,
            count: count_from_sql(count),
            net_minor: net,
            fee_minor: fee,
            currency: crate::money::Currency::from_code(&currency).map_err(|_| {
                JournalError::Unreadable {
                    what: format!("currency `{currency}`"),
                }
            })?,
            settled_at: from_stored_opt(settled_at)?,
        })
    })
    .collect()
}

/// The reads of Alipay's reports, for the writer and for the read-only [`Reader`] alike (the
/// manager screen reads through the reader; imports write through the journal).
///
/// [`Reader`]: super::Reader
pub trait ReconciliationReads {
    /// The imported file of this name, if any (names are unique: Alipay never reissues one).
    fn imported_file(&self, name: &str) -> Result<Option<ImportedFile>, JournalError>;
    /// Every file imported for `report_date` (`yyyyMMdd`), or all of them, in import order.
    fn imported_files(&self, report_date: Option<&str>) -> Result<Vec<ImportedFile>, JournalError>;
    /// Discrepancies, oldest first.
    fn discrepancies(
        &self,
        filter: &DiscrepancyFilter<'_>,
    ) -> Result<Vec<DiscrepancyRecord>, JournalError>;
    /// One discrepancy by its number.
    fn discrepancy(&self, id: i64) -> Result<Option<DiscrepancyRecord>, JournalError>;
    /// The settlement batches whose summary was imported for `settlement_date` (or all).
    fn settlement_batches(
        &self,
        settlement_date: Option<&str>,
    ) -> Result<Vec<SettlementBatch>, JournalError>;
}

macro_rules! reconciliation_reads {
    ($($ty:ty),*) => {$(
        impl ReconciliationReads for $ty {
            fn imported_file(&self, name: &str) -> Result<Option<ImportedFile>, JournalError> {
                imported_file(self.connection(), name)
            }
            fn imported_files(
                &self,
                report_date: Option<&str>,
            ) -> Result<Vec<ImportedFile>, JournalError> {
                imported_files(self.connection(), report_date)
            }
            fn discrepancies(
                &self,
                filter: &DiscrepancyFilter<'_>,
            ) -> Result<Vec<DiscrepancyRecord>, JournalError> {
                discrepancies(self.connection(), filter)
            }
            fn discrepancy(&self, id: i64) -> Result<Option<DiscrepancyRecord>, JournalError> {
                discrepancy(self.connection(), id)
            }
            fn settlement_batches(
                &self,
                settlement_date: Option<&str>,
            ) -> Result<Vec<SettlementBatch>, JournalError> {
                settlement_batches(self.connection(), settlement_date)
            }
        }
    )*};
}
reconciliation_reads!(Journal, super::Reader);
