//! One Alipay day's books: what was imported, what matched, what is still open, and what
//! Alipay settled (`reconcile report`, the manager's Reconciliation tab).

use serde_json::{Value, json};

use super::amount::major_from_minor;
use super::error::ReconcileError;
use super::import::discrepancy_json;
use crate::journal::{
    DiscrepancyFilter, DiscrepancyRecord, ImportedFile, ReconciliationReads, SettlementBatch,
};

/// A settlement batch's figures: the gross settled, the fees Alipay kept, and the net it
/// remits (gross - fees).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchFigures {
    pub batch: SettlementBatch,
    pub gross_minor: i64,
}

/// What `reconcile report --date D` shows.
#[derive(Clone, Debug)]
pub struct DayReport {
    /// `yyyyMMdd`, Alipay's day.
    pub date: String,
    /// The transactions files of day D and the settlement files settled on D.
    pub files: Vec<ImportedFile>,
    pub matched: u64,
    pub not_ours: u64,
    /// Discrepancies of day D still waiting for a manager.
    pub open: Vec<DiscrepancyRecord>,
    /// Discrepancies of day D already resolved (accepted, or listed later).
    pub resolved: Vec<DiscrepancyRecord>,
    pub batches: Vec<BatchFigures>,
}

impl DayReport {
    pub fn for_day(
        journal: &impl ReconciliationReads,
        date: &str,
    ) -> Result<DayReport, ReconcileError> {
        let files = journal.imported_files(Some(date))?;
        let all = journal.discrepancies(&DiscrepancyFilter {
            report_date: Some(date),
            ..DiscrepancyFilter::default()
        })?;
        let (open, resolved) = all.into_iter().partition(|d| d.resolution.is_none());
        let batches = journal
            .settlement_batches(Some(date))?
            .into_iter()
            .map(|batch| BatchFigures {
                gross_minor: batch.net_minor.saturating_add(batch.fee_minor),
                batch,
            })
            .collect();
        Ok(DayReport {
            date: date.to_string(),
            matched: files.iter().map(|f| f.matched).sum(),
            not_ours: files.iter().map(|f| f.not_ours).sum(),
            files,
            open,
            resolved,
            batches,
        })
    }

    /// Whether anything for the day was imported at all.
    pub fn imported(&self) -> bool {
        !self.files.is_empty()
    }

    pub fn to_json(&self) -> Value {
        json!({
            "date": self.date,
            "files": self.files.iter().map(|f| json!({
                "name": f.name,
                "kind": f.kind.as_str(),
                "rows": f.rows,
                "matched": f.matched,
                "notOurs": f.not_ours,
                "sha256": f.sha256,
                "importedAt": f.imported_at.format(&time::format_description::well_known::Rfc3339).ok(),
            })).collect::<Vec<_>>(),
            "matched": self.matched,
            "notOurs": self.not_ours,
            "openDiscrepancies": self.open.iter().map(discrepancy_json).collect::<Vec<_>>(),
            "resolvedDiscrepancies": self.resolved.len(),
            "settlementBatches": self.batches.iter().map(|b| json!({
                "settlementBatchId": b.batch.settlement_batch_id,
                "currency": b.batch.currency.code(),
                "count": b.batch.count,
                "gross": major_from_minor(b.gross_minor, b.batch.currency),
                "fees": major_from_minor(b.batch.fee_minor, b.batch.currency),
                "net": major_from_minor(b.batch.net_minor, b.batch.currency),
                "settledAt": b.batch.settled_at.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()),
                "file": b.batch.file,
            })).collect::<Vec<_>>(),
        })
    }
}
