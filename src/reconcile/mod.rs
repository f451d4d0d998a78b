//! Closing the books: Alipay's own reports, checked against the journal.
//!
//! Alipay publishes a day's successful transactions, and each settlement batch, as CSV files
//! over SFTP (flows.md §8). This layer fetches them, reads them strictly, and matches every
//! row against the journal by `transactionRequestId`. What does not match becomes a
//! discrepancy that a manager accepts with a reason: Alipay's reports prevail, but nothing in
//! the journal is rewritten silently.
//!
//! It uses `journal` and `money`, never the GUI (notes/architecture.md).

pub mod accept;
pub mod amount;
pub mod day_report;
pub mod error;
pub mod import;
pub mod matching;
pub mod reader;
pub mod report_name;
pub mod sftp;

pub use error::ReconcileError;
pub use import::{FileOutcome, FileStatus, ImportSummary, import_file, import_files};
pub use matching::Scope;
