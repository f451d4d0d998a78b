//! `alipay-pos journal`: read the local record without touching the network.
//!
//! Reads go through [`Reader`], the journal's read-only connection: they never take the
//! data-folder lock and never wait for (or block) a running terminal.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;

use super::payment_cmd::payment_json;
use super::{CliError, CliResult, EXIT_CHECK_FAILED};
use crate::config::Config;
use crate::journal::{
    CurrencyTotals, ExportRow, Journal, JournalError, PaymentFilter, PaymentRecord, Reader,
};
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
    /// Export every payment and refund created on the local days --from..=--to, one CSV row
    /// each, for the accountants (the README's "Export" section documents every column).
    /// Streamed: rows are written as they are read; progress goes to stderr.
    Export {
        /// The first local day (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        from: String,
        /// The last local day (YYYY-MM-DD), included.
        #[arg(long, value_name = "DATE")]
        to: String,
        /// The file format; only csv for now.
        #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
        format: ExportFormat,
        /// Write to this file (created owner-only, 0600; it holds every payment) instead of
        /// standard output.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Run SQLite's integrity check and the engine's invariants (refunds never exceed the
    /// payment, final states are consistent, no order paid twice). Exit 2 on any violation.
    Check,
}

/// What `journal export --format` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// RFC 4180 CSV, UTF-8, one header line.
    Csv,
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
pub(super) fn parse_day(text: &str, option: &str) -> Result<time::Date, CliError> {
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
pub(super) fn totals_json(totals: &CurrencyTotals) -> serde_json::Value {
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
        JournalCommand::Export {
            from,
            to,
            format: ExportFormat::Csv,
            output,
        } => {
            let from = parse_day(&from, "from")?;
            let to = parse_day(&to, "to")?;
            if from > to {
                return Err(CliError::usage(format!(
                    "--from {from} is after --to {to}; give the first day first / 起始日期晚于结束日期"
                )));
            }
            let config = Config::discover(config_path)?;
            let reader = open_reader(&config)?;
            export_csv(&reader, from, to, output.as_deref())
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

/// The export's columns, in order; the README's "Export" section documents each one, and
/// scripts may rely on the names and the order.
pub const EXPORT_COLUMNS: [&str; 20] = [
    "record_type",
    "payment_request_id",
    "refund_request_id",
    "alipay_payment_id",
    "alipay_refund_id",
    "order_ref",
    "product",
    "state",
    "amount",
    "currency",
    "created_at",
    "completed_at",
    "final_at",
    "time_zone",
    "operator",
    "manager",
    "description",
    "reason",
    "result_code",
    "resolution",
];

/// How often a long export says how far it got.
const EXPORT_PROGRESS_EVERY: u64 = 10_000;

/// A local time with its offset (`2026-12-01 14:05:09 +08:00`): what a spreadsheet shows as
/// the till's wall clock, and still unambiguous in the hour a clock goes back.
fn export_time(at: time::OffsetDateTime) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second] [offset_hour sign:mandatory]:[offset_minute]"
    );
    let local = crate::local_time::to_local(at);
    local.format(&format).unwrap_or_else(|_| local.to_string())
}

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) gets a leading
/// apostrophe: descriptions and reasons are typed by people, and an export must never
/// execute when an accountant opens it.
fn export_text(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

fn export_row(row: &ExportRow, zone: &str) -> [String; 20] {
    let opt = |value: &Option<String>| value.clone().unwrap_or_default();
    let time = |at: Option<time::OffsetDateTime>| at.map(export_time).unwrap_or_default();
    [
        row.kind.as_str().to_owned(),
        row.payment_request_id.clone(),
        opt(&row.refund_request_id),
        opt(&row.alipay_payment_id),
        opt(&row.alipay_refund_id),
        export_text(&row.order_ref),
        row.product.as_str().to_owned(),
        row.state.clone(),
        row.amount.major_string(),
        row.amount.currency().code().to_owned(),
        export_time(row.created_at),
        time(row.completed_at),
        time(row.final_at),
        zone.to_owned(),
        export_text(&row.operator),
        export_text(&opt(&row.manager)),
        export_text(&row.description),
        export_text(&opt(&row.reason)),
        opt(&row.result_code),
        row.resolution
            .map(|r| r.as_str().to_owned())
            .unwrap_or_default(),
    ]
}

fn csv_error(error: csv::Error) -> CliError {
    CliError::cannot_work(format!("cannot write the export: {error}"))
}

/// `journal export --format csv`: the header, then one row per payment and refund as the
/// reader yields them; a row at a time, never the whole journal in memory.
fn export_csv(
    reader: &Reader,
    from: time::Date,
    to: time::Date,
    output: Option<&Path>,
) -> CliResult {
    let sink: Box<dyn std::io::Write> = match output {
        Some(path) => {
            crate::private_fs::private_file(path, true).map_err(|e| {
                CliError::usage(format!(
                    "cannot create --output {}: {e}; check the folder exists and is writable",
                    path.display()
                ))
            })?;
            let file = std::fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(path)
                .map_err(|e| {
                    CliError::usage(format!("cannot write --output {}: {e}", path.display()))
                })?;
            Box::new(std::io::BufWriter::new(file))
        }
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut writer = csv::Writer::from_writer(sink);
    writer.write_record(EXPORT_COLUMNS).map_err(csv_error)?;
    let zone = crate::local_time::zone_name();
    let mut progress = 0_u64;
    let written = reader.export(from, to, |row| -> Result<(), CliError> {
        writer
            .write_record(export_row(row, &zone))
            .map_err(csv_error)?;
        progress += 1;
        if progress.is_multiple_of(EXPORT_PROGRESS_EVERY) {
            eprintln!("{progress} rows written… / 已导出 {progress} 行…");
        }
        Ok(())
    })?;
    writer.flush()?;
    let target = output.map_or_else(|| "standard output".to_owned(), |p| p.display().to_string());
    eprintln!(
        "{written} rows written to {target} ({from} to {to}, times in {zone}) / 已导出 {written} 行"
    );
    Ok(ExitCode::SUCCESS)
}
