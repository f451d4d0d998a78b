//! Imports report files into the journal, idempotently, and matches their rows.
//!
//! Each file is one transaction ([`Journal::import_report`]): read whole and stored, or
//! refused with nothing stored. A file already imported (same name and SHA-256) is skipped
//! and reported as such; the same name with other content is refused, because Alipay never
//! changes a published file and counting both would count money twice.
//!
//! After a transactions file for day D, every payment the journal has as paid on D (in
//! Alipay's day, GMT+8), reversed by a cancel on D, or refunded on D, that no imported
//! transactions file lists becomes a `missing_at_alipay` discrepancy. A day may come in
//! several files (`_000`, `_001`…), and a payment made at the cut-off may be listed on the
//! next day: such a discrepancy closes by itself ("listed later") when a later file lists it.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::macros::{format_description, offset};
use time::{Date, OffsetDateTime, Time};

use super::error::ReconcileError;
use super::matching::{
    ListedTransaction, Scope, Verdict, alipay_evidence, journal_evidence, judge,
    not_listed_evidence,
};
use super::reader::{Column, ReportReader, Row};
use super::report_name::{ReportName, is_report_date, report_date};
use crate::journal::{
    DiscrepancyFilter, DiscrepancyKind, DiscrepancyRecord, ImportCounts, ImportedFile, Journal,
    ListedType, NewDiscrepancy, NewReportFile, ReconciliationReads, ReportImport, ReportKind,
    SettlementBatch,
};

/// Alipay's business day ends at 23:59:59 GMT+8 (flows.md §8).
pub const ALIPAY_DAY_OFFSET: time::UtcOffset = offset!(+8);

const TRANSACTION_COLUMNS: &[&str] = &[
    "customerId",
    "transactionId",
    "transactionRequestId",
    "transactionType",
    "paymentTime",
    "transactionAmountValue",
    "transactionCurrency",
];
const SETTLEMENT_ITEM_COLUMNS: &[&str] = &[
    "settlementBatchId",
    "transactionRequestId",
    "transactionType",
    "transactionAmountValue",
    "transactionCurrency",
    "settlementAmountValue",
    "settlementCurrency",
];
const SUMMARY_COLUMNS: &[&str] = &[
    "settlementBatchId",
    "summaryType",
    "count",
    "settlementAmountValue",
    "settlementCurrency",
    "feeAmountValue",
];

/// What happened to one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileStatus {
    Imported,
    /// Imported before, with the same content.
    Skipped,
}

impl FileStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            FileStatus::Imported => "imported",
            FileStatus::Skipped => "skipped",
        }
    }
}

/// One file's outcome.
#[derive(Clone, Debug)]
pub struct FileOutcome {
    pub status: FileStatus,
    pub file: ImportedFile,
}

/// What an import run found: the output contract of `reconcile import --json`.
#[derive(Clone, Debug, Default)]
pub struct ImportSummary {
    pub files: Vec<FileOutcome>,
    pub matched: u64,
    pub not_ours: u64,
    /// The open discrepancies the run's files found (imported now or before).
    pub discrepancies: Vec<DiscrepancyRecord>,
}

impl ImportSummary {
    /// `{"files": [...], "matched": N, "notOurs": N, "discrepancies": [...]}`.
    pub fn to_json(&self) -> Value {
        json!({
            "files": self.files.iter().map(|f| json!({
                "name": f.file.name,
                "status": f.status.as_str(),
                "rows": f.file.rows,
            })).collect::<Vec<_>>(),
            "matched": self.matched,
            "notOurs": self.not_ours,
            "discrepancies": self.discrepancies.iter().map(discrepancy_json).collect::<Vec<_>>(),
        })
    }
}

/// A discrepancy in the JSON contract (`kind`, `transactionRequestId`, `transactionType`,
/// `alipay`, `journal`), plus its `id` (for `reconcile accept`) and `reportDate`.
pub fn discrepancy_json(d: &DiscrepancyRecord) -> Value {
    let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
    json!({
        "id": d.id,
        "kind": d.kind.as_str(),
        "reportDate": d.report_date,
        "transactionRequestId": d.transaction_request_id,
        "transactionType": d.transaction_type.as_str(),
        "alipay": parse(&d.alipay),
        "journal": parse(&d.journal),
    })
}

/// The SHA-256 of a file, read in chunks.
fn sha256_of(path: &Path) -> Result<String, ReconcileError> {
    let read_error = |e: std::io::Error| ReconcileError::Read {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let mut file = File::open(path).map_err(read_error)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buffer).map_err(read_error)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn file_name(path: &Path) -> Result<String, ReconcileError> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .ok_or_else(|| ReconcileError::NotAReport {
            file: path.display().to_string(),
        })
}

/// `[D 00:00, D+1 00:00)` of Alipay's day `yyyyMMdd`.
pub fn alipay_day(date: &str) -> Option<(OffsetDateTime, OffsetDateTime)> {
    let day = Date::parse(date, format_description!("[year][month][day]")).ok()?;
    let start = day
        .with_time(Time::MIDNIGHT)
        .assume_offset(ALIPAY_DAY_OFFSET);
    Some((start, start + time::Duration::DAY))
}

/// The Alipay day (`yyyyMMdd`) an instant falls in.
pub fn alipay_date_of(at: OffsetDateTime) -> String {
    report_date(at.to_offset(ALIPAY_DAY_OFFSET).date())
}

/// Imports `paths` in the order given, each in its own transaction; stops at the first file
/// that is refused (those before it stay imported, and a second run skips them).
pub fn import_files(
    journal: &mut Journal,
    paths: &[PathBuf],
    scope: &Scope,
) -> Result<ImportSummary, ReconcileError> {
    let mut summary = ImportSummary::default();
    for path in paths {
        let outcome = import_file(journal, path, scope)?;
        summary.matched += outcome.file.matched;
        summary.not_ours += outcome.file.not_ours;
        summary.files.push(outcome);
    }
    let ids: Vec<i64> = summary.files.iter().map(|f| f.file.id).collect();
    summary.discrepancies = journal.discrepancies(&DiscrepancyFilter {
        open_only: true,
        files: Some(&ids),
        ..DiscrepancyFilter::default()
    })?;
    Ok(summary)
}

/// Imports one file (or skips it when it was imported before).
pub fn import_file(
    journal: &mut Journal,
    path: &Path,
    scope: &Scope,
) -> Result<FileOutcome, ReconcileError> {
    let name = file_name(path)?;
    let report = ReportName::parse(&name)
        .ok_or_else(|| ReconcileError::NotAReport { file: name.clone() })?;
    let sha256 = sha256_of(path)?;
    if let Some(file) = journal.imported_file(&name)? {
        if file.sha256 == sha256 {
            return Ok(FileOutcome {
                status: FileStatus::Skipped,
                file,
            });
        }
        return Err(ReconcileError::ChangedFile {
            file: name,
            imported_at: file.imported_at.to_string(),
            imported_sha256: file.sha256,
            sha256,
        });
    }
    let folder_date = path
        .parent()
        .and_then(Path::file_name)
        .and_then(|n| n.to_str())
        .filter(|n| is_report_date(n))
        .map(str::to_string);
    let report_date = match (&report.transaction_date, folder_date) {
        (Some(date), _) => date.clone(),
        (None, Some(folder)) => folder,
        // A settlement file downloaded by hand from the portal, out of its folder: the date
        // Alipay settled it, read from the file itself.
        (None, None) => settlement_date_inside(path, &name)?
            .unwrap_or_else(|| alipay_date_of(OffsetDateTime::now_utc())),
    };
    let read_error = |e: std::io::Error| ReconcileError::Read {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let input = BufReader::with_capacity(1 << 16, File::open(path).map_err(read_error)?);
    let mut reader = ReportReader::new(&name, input)?;
    let new = NewReportFile {
        name: &name,
        sha256: &sha256,
        kind: report.kind,
        report_date: &report_date,
        settlement_batch_id: report.settlement_batch_id.as_deref(),
    };
    let file = journal.import_report(&new, |import| match report.kind {
        ReportKind::Transactions => {
            reader.require(TRANSACTION_COLUMNS)?;
            let counts = transactions(&mut reader, import, scope, &name, &report_date, true)?;
            flag_unlisted(import, &report_date, &name)?;
            Ok::<_, ReconcileError>(counts)
        }
        ReportKind::SettlementItems => {
            reader.require(SETTLEMENT_ITEM_COLUMNS)?;
            transactions(&mut reader, import, scope, &name, &report_date, false)
        }
        ReportKind::SettlementSummary => {
            reader.require(SUMMARY_COLUMNS)?;
            summary(&mut reader, import, scope, &name, &report_date, &report)
        }
    })?;
    Ok(FileOutcome {
        status: FileStatus::Imported,
        file,
    })
}

/// The settlement date of a settlement file out of its folder: the first row's
/// `settlementTime`, in Alipay's day.
fn settlement_date_inside(path: &Path, name: &str) -> Result<Option<String>, ReconcileError> {
    let input = File::open(path).map_err(|e| ReconcileError::Read {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let mut reader = ReportReader::new(name, BufReader::new(input))?;
    let settlement_time = reader.column("settlementTime");
    match reader.next_row()? {
        Some(row) => Ok(row.optional_time(settlement_time)?.map(alipay_date_of)),
        None => Ok(None),
    }
}

/// Whether the row's `customerId` is another merchant's.
fn check_customer(
    row: &Row<'_>,
    column: Column,
    scope: &Scope,
    name: &str,
) -> Result<(), ReconcileError> {
    let found = row.text(column);
    match &scope.customer_id {
        Some(expected) if !found.is_empty() && found != expected => {
            Err(ReconcileError::OtherCustomer {
                file: name.to_string(),
                found: found.to_string(),
                expected: expected.clone(),
            })
        }
        _ => Ok(()),
    }
}

/// The columns a transactions or settlement items row is read from.
struct TransactionColumns {
    customer_id: Column,
    transaction_type: Column,
    transaction_currency: Column,
    transaction_amount: Column,
    transaction_request_id: Column,
    transaction_id: Column,
    reference_store_id: Column,
    payment_time: Column,
    settlement_currency: Column,
    settlement_amount: Column,
}

impl TransactionColumns {
    fn of<R: Read>(reader: &ReportReader<R>) -> TransactionColumns {
        TransactionColumns {
            customer_id: reader.column("customerId"),
            transaction_type: reader.column("transactionType"),
            transaction_currency: reader.column("transactionCurrency"),
            transaction_amount: reader.column("transactionAmountValue"),
            transaction_request_id: reader.column("transactionRequestId"),
            transaction_id: reader.column("transactionId"),
            reference_store_id: reader.column("referenceStoreId"),
            payment_time: reader.column("paymentTime"),
            settlement_currency: reader.column("settlementCurrency"),
            settlement_amount: reader.column("settlementAmountValue"),
        }
    }
}

/// Matches the PAYMENT, REFUND and CANCEL rows of a transactions or settlement items file.
fn transactions<R: Read>(
    reader: &mut ReportReader<R>,
    import: &ReportImport<'_>,
    scope: &Scope,
    name: &str,
    file_date: &str,
    record_matches: bool,
) -> Result<ImportCounts, ReconcileError> {
    let mut counts = ImportCounts::default();
    let c = TransactionColumns::of(reader);
    while let Some(row) = reader.next_row()? {
        counts.rows += 1;
        check_customer(&row, c.customer_id, scope, name)?;
        // AUTHORIZATION, DISPUTE, SETTLEMENT_FEE…: not transactions a till makes.
        let Some(listed) = row.listed_type(c.transaction_type)? else {
            counts.not_ours += 1;
            continue;
        };
        let currency = row.currency(c.transaction_currency)?;
        let time = match record_matches {
            true => Some(row.time(c.payment_time)?),
            false => row.optional_time(c.payment_time)?,
        };
        let transaction = ListedTransaction {
            file: name,
            line: row.line(),
            listed,
            transaction_request_id: row.required(c.transaction_request_id)?,
            transaction_id: row.text(c.transaction_id),
            reference_store_id: row.text(c.reference_store_id),
            amount_minor: row.amount(c.transaction_amount, currency)?,
            currency,
            time,
        };
        if record_matches {
            // Checked for every row, ours or not: a malformed file is refused whole.
            row.required(c.transaction_id)?;
        } else {
            row.currency(c.settlement_currency)
                .and_then(|currency| row.amount(c.settlement_amount, currency))?;
        }
        if !scope.is_ours(&transaction) {
            counts.not_ours += 1;
            continue;
        }
        let view = match listed {
            ListedType::Payment | ListedType::Cancel => {
                import.payment(transaction.transaction_request_id)?
            }
            ListedType::Refund => import.refund(transaction.transaction_request_id)?,
        };
        if record_matches && let Some(view) = &view {
            import.record_match(transaction.line, view.entity(), listed)?;
        }
        match judge(&transaction, view.as_ref()) {
            Verdict::Matched => counts.matched += 1,
            Verdict::Discrepancy(kind) => {
                let day = match (record_matches, transaction.time) {
                    (false, Some(at)) => alipay_date_of(at),
                    _ => file_date.to_string(),
                };
                import.record_discrepancy(&NewDiscrepancy {
                    kind,
                    report_date: &day,
                    transaction_request_id: transaction.transaction_request_id,
                    transaction_type: listed,
                    line: Some(transaction.line),
                    entity: view.as_ref().map(|v| v.entity()),
                    alipay: &alipay_evidence(&transaction).to_string(),
                    journal: &journal_evidence(view.as_ref()).to_string(),
                })?;
            }
        }
    }
    Ok(counts)
}

/// Records a `missing_at_alipay` for what the journal has on `date` and no transactions file
/// lists.
fn flag_unlisted(import: &ReportImport<'_>, date: &str, name: &str) -> Result<(), ReconcileError> {
    let Some((from, to)) = alipay_day(date) else {
        return Ok(());
    };
    let files = vec![name.to_string()];
    for (listed, view) in import.unlisted(from, to)? {
        import.record_discrepancy(&NewDiscrepancy {
            kind: DiscrepancyKind::MissingAtAlipay,
            report_date: date,
            transaction_request_id: view.request_id(),
            transaction_type: listed,
            line: None,
            entity: Some(view.entity()),
            alipay: &not_listed_evidence(&files).to_string(),
            journal: &journal_evidence(Some(&view)).to_string(),
        })?;
    }
    Ok(())
}

/// Reads a settlement summary and stores its TOTAL row as the batch's figures.
fn summary<R: Read>(
    reader: &mut ReportReader<R>,
    import: &ReportImport<'_>,
    scope: &Scope,
    name: &str,
    settlement_date: &str,
    report: &ReportName,
) -> Result<ImportCounts, ReconcileError> {
    let mut counts = ImportCounts::default();
    let mut total: Option<SettlementBatch> = None;
    let column = |name| reader.column(name);
    let (customer_column, currency_column, gross_column) = (
        column("customerId"),
        column("settlementCurrency"),
        column("settlementAmountValue"),
    );
    let (fee_currency_column, fee_column, count_column) = (
        column("feeCurrency"),
        column("feeAmountValue"),
        column("count"),
    );
    let (time_column, type_column, batch_column) = (
        column("settlementTime"),
        column("summaryType"),
        column("settlementBatchId"),
    );
    while let Some(row) = reader.next_row()? {
        counts.rows += 1;
        check_customer(&row, customer_column, scope, name)?;
        let currency = row.currency(currency_column)?;
        // `settlementAmountValue` is the gross signed amount and `feeAmountValue` the signed
        // fee, negative when Alipay charges it (a refund's returned fee is positive): what
        // Alipay remits is their sum. The sandbox writes them so; the reference is silent.
        let gross_minor = row.amount(gross_column, currency)?;
        let fee_currency = match row.text(fee_currency_column) {
            "" => currency,
            _ => row.currency(fee_currency_column)?,
        };
        let signed_fee = row.amount_or_zero(fee_column, fee_currency)?;
        let count: u64 =
            row.required(count_column)?
                .parse()
                .map_err(|_| ReconcileError::BadRow {
                    file: name.to_string(),
                    line: row.line(),
                    reason: format!("`count` `{}` is not a whole number", row.text(count_column)),
                })?;
        let settled_at = row.optional_time(time_column)?;
        if row.required(type_column)? != "TOTAL" {
            continue;
        }
        if total.is_some() {
            return Err(ReconcileError::BadRow {
                file: name.to_string(),
                line: row.line(),
                reason: "a second TOTAL row".to_string(),
            });
        }
        if fee_currency != currency {
            return Err(ReconcileError::BadRow {
                file: name.to_string(),
                line: row.line(),
                reason: format!(
                    "the TOTAL fee is in {} and the settlement in {}",
                    fee_currency.code(),
                    currency.code()
                ),
            });
        }
        total = Some(SettlementBatch {
            settlement_batch_id: row.required(batch_column)?.to_string(),
            settlement_date: settlement_date.to_string(),
            file: name.to_string(),
            count,
            net_minor: gross_minor.saturating_add(signed_fee),
            fee_minor: signed_fee.saturating_neg(),
            currency,
            settled_at,
        });
    }
    let Some(total) = total else {
        return Err(ReconcileError::BadFile {
            file: name.to_string(),
            reason: "it has no TOTAL row".to_string(),
        });
    };
    if report.currency.is_some_and(|c| c != total.currency) {
        return Err(ReconcileError::BadFile {
            file: name.to_string(),
            reason: "its TOTAL is not in the currency its name says".to_string(),
        });
    }
    import.record_batch(&total)?;
    Ok(counts)
}
