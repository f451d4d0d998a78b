//! `alipay-pos journal`: read the local record without touching the network.
//!
//! Reads go through [`Reader`], the journal's read-only connection: they never take the
//! data-folder lock and never wait for (or block) a running terminal.

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;

use super::payment_cmd::payment_json;
use super::{CliError, CliResult, EXIT_CHECK_FAILED};
use crate::config::Config;
use crate::journal::{Journal, JournalError, PaymentFilter, Reader};
use crate::locale::Locale;

#[derive(Debug, Subcommand)]
pub enum JournalCommand {
    /// List payments, newest first.
    List {
        /// Only payments created on or after the start of this local day (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        since: Option<String>,
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run SQLite's integrity check and the engine's invariants (refunds never exceed the
    /// payment, final states are consistent, no order paid twice). Exit 2 on any violation.
    Check,
}

/// Opens the journal of `config` for reading.
///
/// The reader never creates or upgrades a journal. These commands always worked on a fresh
/// data folder and after an upgrade of alipay-pos, so when there is no journal yet, or one an
/// older build wrote, the writer opens it once first (creating or migrating it, as the
/// terminal would at start); everything after that reads through the read-only connection.
pub(super) fn open_reader(config: &Config) -> Result<Reader, CliError> {
    let data_dir = &config.storage.data_dir;
    match Reader::open_in(data_dir) {
        Ok(reader) => Ok(reader),
        Err(JournalError::NoJournal { .. } | JournalError::Outdated { .. }) => {
            drop(Journal::open_in(data_dir).map_err(CliError::from_journal)?);
            Reader::open_in(data_dir).map_err(CliError::from_journal)
        }
        Err(error) => Err(CliError::from_journal(error)),
    }
}

/// The first instant of the local day `text` names (YYYY-MM-DD): the same day boundary the
/// manager's screens and the end-of-day totals use.
fn parse_since(text: &str) -> Result<time::OffsetDateTime, CliError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let not_a_date =
        || CliError::usage(format!("--since \"{text}\" is not a date; use YYYY-MM-DD"));
    let date = time::Date::parse(text, &format).map_err(|_| not_a_date())?;
    // The calendar's last day has no next midnight to end at.
    if date.next_day().is_none() {
        return Err(not_a_date());
    }
    Ok(crate::local_time::day_bounds(date).start)
}

pub fn run(command: JournalCommand, config_path: Option<&Path>) -> CliResult {
    match command {
        JournalCommand::List { since, json } => {
            let since = since.as_deref().map(parse_since).transpose()?;
            let config = Config::discover(config_path)?;
            let reader = open_reader(&config)?;
            let rows = reader
                .transactions(&PaymentFilter {
                    since,
                    ..PaymentFilter::default()
                })
                .map_err(CliError::from_journal)?;
            if json {
                let rows: Vec<_> = rows.iter().map(|row| payment_json(&row.payment)).collect();
                println!("{}", serde_json::Value::Array(rows));
            } else {
                for row in &rows {
                    let p = &row.payment;
                    println!(
                        "{}  {:<18} {:>16}  {}",
                        p.created_at,
                        p.state.as_str(),
                        p.amount.format(Locale::English),
                        p.payment_request_id
                    );
                }
                if rows.is_empty() {
                    println!("no payments");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        JournalCommand::Check => {
            let config = Config::discover(config_path)?;
            let report = open_reader(&config)?
                .check()
                .map_err(CliError::from_journal)?;
            println!(
                "integrity check: {}",
                if report.integrity_ok { "ok" } else { "FAILED" }
            );
            for violation in &report.violations {
                println!("violation: {violation}");
            }
            if report.is_clean() {
                println!("journal is consistent");
                Ok(ExitCode::SUCCESS)
            } else {
                Ok(ExitCode::from(EXIT_CHECK_FAILED))
            }
        }
    }
}
