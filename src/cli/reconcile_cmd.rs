//! `alipay-pos reconcile`: Alipay's reports against the journal.
//!
//! Exit status of `import` and `fetch` (scripts rely on it): 0 when every row of ours
//! matched, 2 ([`EXIT_CHECK_FAILED`]) when discrepancies are open for the files of the run,
//! 1 for usage errors and refused files. `--json` prints one object on stdout (README,
//! "Reconciliation").

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use super::{CliError, CliResult, EXIT_CHECK_FAILED};
use crate::config::Config;
use crate::journal::{Journal, ReconciliationReads};
use crate::locale::Locale;
use crate::reconcile::amount::major_from_minor;
use crate::reconcile::day_report::DayReport;
use crate::reconcile::import::{alipay_date_of, discrepancy_json};
use crate::reconcile::report_name::is_report_date;
use crate::reconcile::{ImportSummary, ReconcileError, Scope, accept, import_files};

#[derive(Debug, Subcommand)]
pub enum ReconcileCommand {
    /// Download one Alipay day's reports and import them (like `import`).
    ///
    /// Over SFTP with `[reconciliation]` (the server's host key must be in its
    /// `known_hosts`); with the embedded sandbox and no `[reconciliation]`, from the
    /// sandbox's own published reports. The day's folder holds its transactions file and the
    /// settlement files of the batches settled that day. Exit status as `import`.
    Fetch {
        /// Alipay's day (YYYYMMDD, GMT+8); yesterday's when left out (Alipay publishes day
        /// D on D+1).
        #[arg(long, value_name = "YYYYMMDD")]
        date: Option<String>,
        /// Where the files go; `data_dir/reports/<date>/` when left out.
        #[arg(long, value_name = "DIR")]
        into: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Import report files downloaded by hand (Alipay's merchant portal, Billing), match
    /// them against the journal, and list the discrepancies.
    ///
    /// A file imported before (same name and SHA-256) is skipped. Exit status 0 all matched,
    /// 2 discrepancies open, 1 a refused file (nothing of it is imported).
    Import {
        /// transactionItems_…, settlementItems_… and settlementSummary_….csv, as Alipay
        /// named them.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// One Alipay day's books: files imported, matched and not-ours counts, open
    /// discrepancies, and the settlement batches settled that day.
    Report {
        /// Alipay's day (YYYYMMDD, GMT+8); yesterday's when left out.
        #[arg(long, value_name = "YYYYMMDD")]
        date: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Accept a discrepancy: Alipay's report prevails. Needs a manager's PIN and a reason;
    /// appended to the payment's history. A payment the terminal left unresolved that
    /// Alipay lists as paid becomes paid by reconciliation.
    Accept {
        /// The discrepancy's number (`reconcile report` lists them).
        id: i64,
        /// Why Alipay's report is accepted (kept in the journal).
        #[arg(long, value_name = "TEXT")]
        reason: String,
        /// Read the manager's PIN from one line of standard input instead of asking for it.
        #[arg(long)]
        pin_stdin: bool,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: ReconcileCommand, config_path: Option<&Path>) -> CliResult {
    let config = Config::discover(config_path)?;
    match command {
        ReconcileCommand::Fetch { date, into, json } => {
            let date = report_date(date)?;
            let into = into.unwrap_or_else(|| config.storage.data_dir.join("reports").join(&date));
            let files = fetch(&config, &date, &into)?;
            let mut journal = open_journal(&config)?;
            let summary =
                import_files(&mut journal, &files, &scope(&config)).map_err(from_reconcile)?;
            print_summary(&summary, json);
            Ok(exit_for(&summary))
        }
        ReconcileCommand::Import { files, json } => {
            let mut journal = open_journal(&config)?;
            let summary =
                import_files(&mut journal, &files, &scope(&config)).map_err(from_reconcile)?;
            print_summary(&summary, json);
            Ok(exit_for(&summary))
        }
        ReconcileCommand::Report { date, json } => {
            let date = report_date(date)?;
            let journal = open_journal(&config)?;
            let report = DayReport::for_day(&journal, &date).map_err(from_reconcile)?;
            print_report(&report, json);
            Ok(ExitCode::SUCCESS)
        }
        ReconcileCommand::Accept {
            id,
            reason,
            pin_stdin,
            json,
        } => {
            if reason.trim().is_empty() {
                return Err(from_reconcile(ReconcileError::NoReason));
            }
            let mut journal = open_journal(&config)?;
            // Checked before the PIN is asked for: a typo in the number costs no PIN try.
            match journal.discrepancy(id).map_err(CliError::from_journal)? {
                None => return Err(from_reconcile(ReconcileError::NoSuchDiscrepancy { id })),
                Some(d) if d.resolution.is_some() => {
                    return Err(from_reconcile(ReconcileError::AlreadyResolved { id }));
                }
                Some(_) => {}
            }
            let approval = super::admin_cmd::approve(&config, pin_stdin)?;
            let accepted =
                accept::accept(&mut journal, id, &approval, &reason).map_err(from_reconcile)?;
            let d = &accepted.discrepancy;
            eprintln!(
                "discrepancy {id} ({}, {}) accepted by {}{}",
                d.kind,
                d.transaction_request_id,
                approval.manager(),
                accepted
                    .settled_as
                    .map(|s| format!("; the journal now has it as {s} (by reconciliation)"))
                    .unwrap_or_default()
            );
            if json {
                let mut value = discrepancy_json(d);
                value["resolution"] = json!("accepted");
                value["manager"] = json!(approval.manager());
                value["reason"] = json!(reason.trim());
                value["settledAs"] = json!(accepted.settled_as);
                println!("{value}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Downloads the day's files into `into`: over SFTP, or from the embedded sandbox. Returns
/// them transactions first (the day's own file decides what is missing).
fn fetch(config: &Config, date: &str, into: &Path) -> Result<Vec<PathBuf>, CliError> {
    let mut files: Vec<PathBuf> = match &config.reconciliation {
        Some(settings) => {
            let mut progress = Progress::default();
            let fetched = super::payment_cmd::runtime()?
                .block_on(crate::reconcile::sftp::fetch_day(
                    settings,
                    date,
                    into,
                    &mut |event| progress.show(event),
                ))
                .map_err(|e| CliError::cannot_work(e.message(Locale::English)))?;
            fetched.into_iter().map(|f| f.path).collect()
        }
        None if config.alipay.gateway == crate::config::Gateway::Sandbox => {
            from_embedded_sandbox(config, date, into)?
        }
        None => {
            return Err(CliError::usage(
                "there is no [reconciliation] table with the SFTP account Alipay gave you; add one (README, Configuration), or download the files from Alipay's merchant portal (Billing) and run `alipay-pos reconcile import FILE...`",
            ));
        }
    };
    files.sort_by_key(|path| {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        (!name.starts_with("transactionItems_"), name.to_string())
    });
    Ok(files)
}

/// The embedded sandbox plays Alipay's SFTP server: its ledger (in `data_dir/sandbox`, the
/// terminal running or not) publishes the day, and the day's folder is copied.
fn from_embedded_sandbox(
    config: &Config,
    date: &str,
    into: &Path,
) -> Result<Vec<PathBuf>, CliError> {
    let sandbox_dir = config
        .storage
        .data_dir
        .join(crate::sandbox::embedded::SANDBOX_DIR);
    use crate::sandbox::reports::{self, AlipayDay};
    let day = AlipayDay::parse(date).map_err(|e| CliError::usage(e.to_string()))?;
    let customer_id = reports::customer_id(&config.alipay.client_id);
    let folder = reports::settlement_dir(&sandbox_dir.join(reports::SFTP_DIR), &customer_id, day);
    // A running sandbox publishes each day by itself once its cut-off passes (on its own
    // clock); a day it has not published is published here, from its ledger.
    let published = folder.join(reports::transaction_items_name(day)).is_file();
    if !published {
        reports::publish_from_dir(&sandbox_dir, date, None, None)
            .map_err(|e| CliError::usage(e.to_string()))?;
    }
    std::fs::create_dir_all(into)
        .map_err(|e| CliError::cannot_work(format!("cannot create {}: {e}", into.display())))?;
    let mut copied = Vec::new();
    let entries = match std::fs::read_dir(&folder) {
        Ok(entries) => entries
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| CliError::cannot_work(format!("cannot read {}: {e}", folder.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            return Err(CliError::cannot_work(format!(
                "cannot read {}: {e}",
                folder.display()
            )));
        }
    };
    for entry in entries {
        let name = entry.file_name();
        let Some(name) = name
            .to_str()
            .filter(|n| crate::reconcile::sftp::is_report_name(n))
        else {
            continue;
        };
        let target = into.join(name);
        std::fs::read(entry.path())
            .and_then(|bytes| crate::private_fs::write_private(&target, &bytes))
            .map_err(|e| {
                CliError::cannot_work(format!("cannot copy {name} to {}: {e}", into.display()))
            })?;
        eprintln!("fetched {name} from the sandbox");
        copied.push(target);
    }
    Ok(copied)
}

/// Draws a fetch's progress on stderr: a line when connected and listed, and each file's
/// share every 10 %, so a long download shows it is moving.
#[derive(Default)]
struct Progress {
    last_tenth: Option<(String, u64)>,
}

impl Progress {
    fn show(&mut self, event: crate::reconcile::sftp::FetchProgress) {
        use crate::reconcile::sftp::FetchProgress;
        match event {
            FetchProgress::Connected => {
                eprintln!("connected; the server's host key is the known one")
            }
            FetchProgress::Listed { files, bytes } => {
                eprintln!("{files} report files, {bytes} bytes")
            }
            FetchProgress::File { name, done, total } => {
                let tenth = done.saturating_mul(10).checked_div(total).unwrap_or(10);
                if self.last_tenth.as_ref() != Some(&(name.clone(), tenth)) {
                    eprintln!("  {name}: {}% ({done} of {total} bytes)", tenth * 10);
                    self.last_tenth = Some((name, tenth));
                }
            }
            FetchProgress::Done => eprintln!("downloaded"),
        }
    }
}

/// The journal, opened for writing (imports and acceptances are journal entries).
fn open_journal(config: &Config) -> Result<Journal, CliError> {
    Journal::open_in(&config.storage.data_dir).map_err(CliError::from_journal)
}

/// Whose rows are ours: this terminal in this store, of the merchant whose reports these
/// are (`[reconciliation] customer_id`, or the embedded sandbox's merchant).
pub(super) fn scope(config: &Config) -> Scope {
    let customer_id = match (&config.reconciliation, &config.alipay.gateway) {
        (Some(settings), _) => Some(settings.customer_id.clone()),
        (None, crate::config::Gateway::Sandbox) => Some(crate::sandbox::reports::customer_id(
            &config.alipay.client_id,
        )),
        (None, _) => None,
    };
    Scope {
        terminal_id: config.store.terminal_id.clone(),
        store_id: config.store.reference_store_id.clone(),
        customer_id,
    }
}

/// `--date`, checked; yesterday in Alipay's day (GMT+8) by default, the last day whose
/// reports Alipay has published.
pub(super) fn report_date(date: Option<String>) -> Result<String, CliError> {
    match date {
        Some(date) if is_report_date(&date) => Ok(date),
        Some(date) => Err(CliError::usage(format!(
            "--date \"{date}\" is not a date; use YYYYMMDD (Alipay's day, e.g. 20261130)"
        ))),
        None => Ok(alipay_date_of(
            time::OffsetDateTime::now_utc() - time::Duration::DAY,
        )),
    }
}

pub(super) fn from_reconcile(error: ReconcileError) -> CliError {
    match error {
        ReconcileError::Journal(error) => CliError::from_journal(error),
        other => CliError::usage(other.message(Locale::English)),
    }
}

pub(super) fn exit_for(summary: &ImportSummary) -> ExitCode {
    if summary.discrepancies.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_CHECK_FAILED)
    }
}

pub(super) fn print_summary(summary: &ImportSummary, json: bool) {
    for file in &summary.files {
        eprintln!(
            "{} {}: {} rows, {} matched, {} not ours",
            file.status.as_str(),
            file.file.name,
            file.file.rows,
            file.file.matched,
            file.file.not_ours
        );
    }
    for d in &summary.discrepancies {
        eprintln!(
            "discrepancy {}: {} {} {}",
            d.id, d.kind, d.transaction_type, d.transaction_request_id
        );
    }
    if summary.discrepancies.is_empty() {
        eprintln!("every row of ours matched the journal");
    } else {
        eprintln!(
            "{} discrepancies are open: check them, then `alipay-pos reconcile accept ID --reason TEXT`",
            summary.discrepancies.len()
        );
    }
    if json {
        println!("{}", summary.to_json());
    }
}

fn print_report(report: &DayReport, json: bool) {
    if json {
        println!("{}", report.to_json());
        return;
    }
    println!("Alipay day {}", report.date);
    if !report.imported() {
        println!(
            "  no reports imported for this day: `alipay-pos reconcile fetch --date {}`",
            report.date
        );
        return;
    }
    for f in &report.files {
        println!(
            "  {}  {} rows, {} matched, {} not ours",
            f.name, f.rows, f.matched, f.not_ours
        );
    }
    println!("  matched {}, not ours {}", report.matched, report.not_ours);
    for b in &report.batches {
        let c = b.batch.currency;
        println!(
            "  settlement batch {} ({}): gross {} {}, fees {}, net {} settled {}",
            b.batch.settlement_batch_id,
            b.batch.count,
            major_from_minor(b.gross_minor, c),
            c.code(),
            major_from_minor(b.batch.fee_minor, c),
            major_from_minor(b.batch.net_minor, c),
            b.batch
                .settled_at
                .map(|t| t.to_string())
                .unwrap_or_else(|| "-".to_string())
        );
    }
    if report.open.is_empty() {
        println!(
            "  no open discrepancies ({} resolved)",
            report.resolved.len()
        );
    }
    for d in &report.open {
        println!(
            "  open discrepancy {}: {} {} {}",
            d.id, d.kind, d.transaction_type, d.transaction_request_id
        );
    }
}
