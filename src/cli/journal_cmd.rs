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
use crate::journal::{CurrencyTotals, Journal, JournalError, PaymentFilter, PaymentRecord, Reader};
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
    /// One local day's totals per currency: paid, refunded and net, with the paid money
    /// split by product (Order Code, User-presented, ...), as the manager's End of day shows.
    Totals {
        /// The local day to add up (YYYY-MM-DD); today when left out.
        #[arg(long, value_name = "DATE")]
        date: Option<String>,
        /// Print a JSON array (one object per currency) instead of text.
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

/// The local day `text` names (YYYY-MM-DD) for the option `--{option}`.
fn parse_day(text: &str, option: &str) -> Result<time::Date, CliError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let not_a_date = || {
        CliError::usage(format!(
            "--{option} \"{text}\" is not a date; use YYYY-MM-DD"
        ))
    };
    let date = time::Date::parse(text, &format).map_err(|_| not_a_date())?;
    // The calendar's last day has no next midnight to end at.
    if date.next_day().is_none() {
        return Err(not_a_date());
    }
    Ok(date)
}

/// The first instant of the local day `text` names (YYYY-MM-DD): the same day boundary the
/// manager's screens and the end-of-day totals use.
fn parse_since(text: &str) -> Result<time::OffsetDateTime, CliError> {
    Ok(crate::local_time::day_bounds(parse_day(text, "since")?).start)
}

/// How the customer paid, for the text list: the product's stored name, and for a
/// User-presented payment the last 4 digits of the customer's code (all the journal keeps).
fn product_text(payment: &PaymentRecord) -> String {
    match payment.customer_code_last4.as_deref() {
        Some(last4) => format!("{} ****{last4}", payment.product.as_str()),
        None => payment.product.as_str().to_owned(),
    }
}

/// One currency's totals in JSON: amounts as major-unit strings and integer minor units
/// (never floats), and `byProduct` with the paid money per product.
fn totals_json(totals: &CurrencyTotals) -> serde_json::Value {
    serde_json::json!({
        "date": totals.date.to_string(),
        "currency": totals.currency.code(),
        "paidCount": totals.paid_count,
        "paid": totals.paid.major_string(),
        "paidMinor": totals.paid.minor(),
        "refundedCount": totals.refunded_count,
        "refunded": totals.refunded.major_string(),
        "refundedMinor": totals.refunded.minor(),
        "net": totals.net.major_string(),
        "netMinor": totals.net.minor(),
        "byProduct": totals.by_product.iter().map(|part| serde_json::json!({
            "product": part.product.as_str(),
            "paidCount": part.paid_count,
            "paid": part.paid.major_string(),
            "paidMinor": part.paid.minor(),
        })).collect::<Vec<_>>(),
    })
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
                        "{}  {:<18} {:>16}  {:<24} {}",
                        p.created_at,
                        p.state.as_str(),
                        p.amount.format(Locale::English),
                        product_text(p),
                        p.payment_request_id
                    );
                }
                if rows.is_empty() {
                    println!("no payments");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        JournalCommand::Totals { date, json } => {
            let day = match date.as_deref() {
                Some(text) => parse_day(text, "date")?,
                None => crate::local_time::today(),
            };
            let config = Config::discover(config_path)?;
            let totals = open_reader(&config)?
                .daily_totals(day..=day)
                .map_err(CliError::from_journal)?;
            if json {
                let rows: Vec<_> = totals.iter().map(totals_json).collect();
                println!("{}", serde_json::Value::Array(rows));
            } else {
                for row in &totals {
                    println!(
                        "{}  {}  paid {} ({})  refunded {} ({})  net {}",
                        row.date,
                        row.currency.code(),
                        row.paid.major_string(),
                        row.paid_count,
                        row.refunded.major_string(),
                        row.refunded_count,
                        row.net.major_string()
                    );
                    for part in &row.by_product {
                        println!(
                            "    {:<16} {:>16} ({})",
                            part.product.as_str(),
                            part.paid.major_string(),
                            part.paid_count
                        );
                    }
                }
                if totals.is_empty() {
                    println!("no payments or refunds on {day}");
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
