//! What can go wrong closing the books, as values with a message that says what to do.

use std::path::PathBuf;

use crate::journal::JournalError;
use crate::locale::Locale;

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The name is not one of Alipay's report names.
    #[error(
        "{file} is not an Alipay report (transactionItems_…, settlementItems_… or settlementSummary_….csv); import the files as Alipay named them"
    )]
    NotAReport { file: String },
    /// The file cannot be read from disk.
    #[error("cannot read {}: {reason}", path.display())]
    Read { path: PathBuf, reason: String },
    /// A defect of the whole file (no header, a missing column).
    #[error("{file} is refused: {reason}")]
    BadFile { file: String, reason: String },
    /// A defect of one row; nothing of the file was imported.
    #[error("{file} line {line} is refused: {reason}; nothing of this file was imported")]
    BadRow {
        file: String,
        line: u64,
        reason: String,
    },
    /// No `<END>` line: the download was cut short, or the file is still being written.
    #[error("{file} is incomplete (its last line is not <END>); download it again")]
    Incomplete { file: String },
    /// A file of this name was imported before with other content.
    #[error(
        "{file} was imported on {imported_at} with different content (SHA-256 {imported_sha256}, now {sha256}); Alipay does not change a published file, so check which copy is genuine"
    )]
    ChangedFile {
        file: String,
        imported_at: String,
        imported_sha256: String,
        sha256: String,
    },
    /// The file is another merchant's.
    #[error(
        "{file} is for Alipay customer {found}, and this terminal's [reconciliation] customer_id is {expected}"
    )]
    OtherCustomer {
        file: String,
        found: String,
        expected: String,
    },
    #[error("there is no discrepancy {id}; `alipay-pos reconcile report` lists them")]
    NoSuchDiscrepancy { id: i64 },
    #[error("discrepancy {id} is already resolved")]
    AlreadyResolved { id: i64 },
    #[error("the reason must say why Alipay's report is accepted")]
    NoReason,
    #[error(transparent)]
    Journal(#[from] JournalError),
}

impl ReconcileError {
    /// The message for the manager's screen.
    pub fn message(&self, locale: Locale) -> String {
        match locale {
            Locale::English => self.to_string(),
            Locale::SimplifiedChinese => match self {
                ReconcileError::NotAReport { file } => format!(
                    "{file} 不是支付宝对账文件（transactionItems_…、settlementItems_… 或 settlementSummary_….csv）；请按支付宝的原文件名导入"
                ),
                ReconcileError::Read { path, reason } => {
                    format!("无法读取 {}：{reason}", path.display())
                }
                ReconcileError::BadFile { file, reason } => {
                    format!("{file} 被拒绝：{reason}")
                }
                ReconcileError::BadRow { file, line, reason } => {
                    format!("{file} 第 {line} 行被拒绝：{reason}；此文件未导入任何内容")
                }
                ReconcileError::Incomplete { file } => {
                    format!("{file} 不完整（最后一行不是 <END>）；请重新下载")
                }
                ReconcileError::ChangedFile { file, .. } => format!(
                    "{file} 以前导入过，但内容不同；支付宝不会修改已发布的文件，请核实哪份是真的"
                ),
                ReconcileError::OtherCustomer {
                    file,
                    found,
                    expected,
                } => format!("{file} 属于支付宝客户 {found}，而本终端的 customer_id 是 {expected}"),
                ReconcileError::NoSuchDiscrepancy { id } => {
                    format!("没有差异 {id}；`alipay-pos reconcile report` 会列出差异")
                }
                ReconcileError::AlreadyResolved { id } => format!("差异 {id} 已经处理"),
                ReconcileError::NoReason => "请填写接受支付宝报告的原因".to_string(),
                ReconcileError::Journal(error) => error.to_string(),
            },
        }
    }
}
