//! `alipay-pos journal`: read the local record without touching the network.

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use super::{CliError, CliResult, EXIT_CHECK_FAILED};
use crate::config::Config;
use crate::journal::{Journal, PaymentFilter};
use crate::locale::Locale;

#[derive(Debug, Subcommand)]
pub enum JournalCommand {
    /// List payments, newest first.
    List {
        /// Only payments created on or after this date (YYYY-MM-DD, UTC).
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

fn open(config_path: Option<&Path>) -> Result<Journal, CliError> {
    let config = Config::discover(config_path)?;
    Journal::open_in(&config.storage.data_dir).map_err(|e| CliError::usage(e.to_string()))
}

fn parse_date(text: &str) -> Result<time::OffsetDateTime, CliError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &format)
        .map(|date| date.midnight().assume_utc())
        .map_err(|_| CliError::usage(format!("--since \"{text}\" is not a date; use YYYY-MM-DD")))
}

pub fn run(command: JournalCommand, config_path: Option<&Path>) -> CliResult {
    match command {
        JournalCommand::List { since, json } => {
            let since = since.as_deref().map(parse_date).transpose()?;
            let journal = open(config_path)?;
            let payments = journal
                .list_payments(&PaymentFilter {
                    since,
                    ..PaymentFilter::default()
                })
                .map_err(|e| CliError::usage(e.to_string()))?;
            if json {
                let rows: Vec<_> = payments
                    .iter()
                    .map(|p| {
                        json!({
                            "paymentRequestId": p.payment_request_id,
                            "paymentId": p.payment_id,
                            "orderRef": p.order_ref,
                            "state": p.state.as_str(),
                            "amount": p.amount.major_string(),
                            "amountMinor": p.amount.minor(),
                            "currency": p.amount.currency().code(),
                            "createdAt": p.created_at.to_string(),
                            "resultCode": p.result_code,
                        })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(rows));
            } else {
                for p in &payments {
                    println!(
                        "{}  {:<18} {:>16}  {}",
                        p.created_at,
                        p.state.as_str(),
                        p.amount.format(Locale::English),
                        p.payment_request_id
                    );
                }
                if payments.is_empty() {
                    println!("no payments");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        JournalCommand::Check => {
            let journal = open(config_path)?;
            let report = journal
                .check()
                .map_err(|e| CliError::usage(e.to_string()))?;
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
