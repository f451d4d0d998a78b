//! `alipay-pos day`: the end-of-day close (the Z report).
//!
//! `day close` needs a manager's PIN (as `settle` and `refund` do) and writes through the
//! engine, the journal's only writer; `day show` and `day list` read through the journal's
//! read-only connection and never wait for a running terminal.
//!
//! Exit status: 0 done; 1 a usage error, a wrong PIN, a day already closed or not started
//! yet, or a day that has no close to show.

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::journal_cmd::{open_reader, parse_day, totals_json};
use super::payment_cmd::{runtime, start_terminal};
use super::{CliError, CliResult};
use crate::config::Config;
use crate::journal::{DayClose, DayCloseReport, LaterEvent};
use crate::local_time::format_local;

#[derive(Debug, Subcommand)]
pub enum DayCommand {
    /// Close a local business day: store its Z report (totals per currency, counts per
    /// state, first and last payment, what was still open) as close record number N, which
    /// never changes. Needs a manager's PIN. A day is closed once; a day with payments
    /// still open is closed with a warning, and the record counts them.
    Close {
        /// The local day to close (YYYY-MM-DD); today when left out. Days that have not
        /// started are refused.
        #[arg(long, value_name = "DATE")]
        date: Option<String>,
        /// Read the manager's PIN from one line of standard input instead of asking for it.
        #[arg(long)]
        pin_stdin: bool,
        /// Print the close record as JSON (see the README) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show a closed day's Z report, then what happened to that day after the close (later
    /// events, and the totals now beside the totals at close). The latest close when no day
    /// or number is given.
    Show {
        /// The closed local day (YYYY-MM-DD).
        #[arg(long, value_name = "DATE", conflicts_with = "number")]
        date: Option<String>,
        /// The close number.
        #[arg(long, value_name = "N")]
        number: Option<u64>,
        #[arg(long)]
        json: bool,
    },
    /// List every close, by number.
    List {
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: DayCommand, config_path: Option<&Path>) -> CliResult {
    match command {
        DayCommand::Close {
            date,
            pin_stdin,
            json,
        } => close(date.as_deref(), pin_stdin, json, config_path),
        DayCommand::Show { date, number, json } => show(date.as_deref(), number, json, config_path),
        DayCommand::List { json } => list(json, config_path),
    }
}

fn close(date: Option<&str>, pin_stdin: bool, json: bool, config_path: Option<&Path>) -> CliResult {
    let today = crate::local_time::today();
    let day = match date {
        Some(text) => parse_day(text, "date")?,
        None => today,
    };
    // Before the PIN is asked for: nothing to approve.
    if day > today {
        return Err(CliError::usage(format!(
            "--date {day} has not started yet, so it cannot be closed; close today ({today}) or an earlier day / {day} 尚未开始，不能日结"
        )));
    }
    let config = Config::discover(config_path)?;
    let approval = super::admin_cmd::approve(&config, pin_stdin)?;
    let close = runtime()?.block_on(async move {
        let terminal = start_terminal(config_path).await?;
        terminal
            .checkout
            .close_day(day, &approval)
            .await
            .map_err(CliError::from_checkout)
    })?;
    if close.has_unresolved() {
        eprintln!(
            "warning: {} payment(s) and {} refund(s) of {} were not final at close; the close counts them as open. Run `alipay-pos resolve`, then see `alipay-pos day show --date {}` for what changed / 警告：日结时 {} 笔支付、{} 笔退款尚未完成",
            close.unresolved_payments,
            close.unresolved_refunds,
            close.date,
            close.date,
            close.unresolved_payments,
            close.unresolved_refunds,
        );
    }
    if json {
        println!("{}", close_json(&close));
    } else {
        print!("{}", close_text(&close));
    }
    Ok(ExitCode::SUCCESS)
}

fn show(
    date: Option<&str>,
    number: Option<u64>,
    json: bool,
    config_path: Option<&Path>,
) -> CliResult {
    let config = Config::discover(config_path)?;
    let reader = open_reader(&config)?;
    let close = match (date, number) {
        (Some(text), _) => {
            let day = parse_day(text, "date")?;
            reader.day_close_of(day)?.ok_or_else(|| {
                CliError::usage(format!(
                    "{day} is not closed; close it with `alipay-pos day close --date {day}`, or see its running totals with `alipay-pos journal totals --date {day}` / {day} 尚未日结"
                ))
            })?
        }
        (None, Some(number)) => reader.day_close_number(number)?.ok_or_else(|| {
            CliError::usage(format!(
                "there is no close #{number}; `alipay-pos day list` shows every close / 没有第 {number} 号日结"
            ))
        })?,
        (None, None) => reader.day_closes()?.pop().ok_or_else(|| {
            CliError::usage(
                "no day has been closed yet; close one with `alipay-pos day close` / 尚无日结记录",
            )
        })?,
    };
    let report = reader.day_report(close)?;
    if json {
        println!("{}", report_json(&report));
    } else {
        print!("{}", report_text(&report));
    }
    Ok(ExitCode::SUCCESS)
}

fn list(json: bool, config_path: Option<&Path>) -> CliResult {
    let config = Config::discover(config_path)?;
    let closes = open_reader(&config)?.day_closes()?;
    if json {
        let rows: Vec<Value> = closes.iter().map(close_json).collect();
        println!("{}", Value::Array(rows));
        return Ok(ExitCode::SUCCESS);
    }
    for close in &closes {
        let nets: Vec<String> = close
            .totals
            .iter()
            .map(|t| format!("{} {}", t.currency.code(), t.net.major_string()))
            .collect();
        println!(
            "#{:<4} {}  closed {} by {}  net {}{}",
            close.number,
            close.date,
            format_local(close.closed_at),
            close.closed_by,
            if nets.is_empty() {
                "-".to_owned()
            } else {
                nets.join(", ")
            },
            if close.has_unresolved() {
                format!(
                    "  open at close: {} payment(s), {} refund(s)",
                    close.unresolved_payments, close.unresolved_refunds
                )
            } else {
                String::new()
            }
        );
    }
    if closes.is_empty() {
        println!("no day closed yet / 尚无日结记录");
    }
    Ok(ExitCode::SUCCESS)
}

/// A local time with its offset (`2026-12-01T18:00:00+08:00`), for JSON: unambiguous and
/// still the wall clock the manager saw.
fn local_rfc3339(at: OffsetDateTime) -> String {
    let local = crate::local_time::to_local(at);
    local
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| local.to_string())
}

/// The close record in JSON; the README's "Day close" section documents the shape.
pub(super) fn close_json(close: &DayClose) -> Value {
    let counts = |pairs: Vec<(&'static str, u64)>| -> Value {
        Value::Object(
            pairs
                .into_iter()
                .map(|(name, n)| (name.to_owned(), Value::from(n)))
                .collect(),
        )
    };
    let mark = |mark: &Option<crate::journal::PaymentMark>| -> Value {
        match mark {
            Some(mark) => json!({
                "paymentRequestId": mark.payment_request_id,
                "paidAt": local_rfc3339(mark.paid_at),
            }),
            None => Value::Null,
        }
    };
    json!({
        "number": close.number,
        "date": close.date.to_string(),
        "timeZone": close.time_zone,
        "dayStart": local_rfc3339(close.day.start),
        "dayEnd": local_rfc3339(close.day.end),
        "closedAt": local_rfc3339(close.closed_at),
        "closedBy": close.closed_by,
        "totals": close.totals.iter().map(totals_json).collect::<Vec<_>>(),
        "paymentCounts": counts(close.payment_counts.iter().map(|(s, n)| (s.as_str(), *n)).collect()),
        "refundCounts": counts(close.refund_counts.iter().map(|(s, n)| (s.as_str(), *n)).collect()),
        "firstPayment": mark(&close.first_payment),
        "lastPayment": mark(&close.last_payment),
        "unresolvedPayments": close.unresolved_payments,
        "unresolvedRefunds": close.unresolved_refunds,
        "reconciliation": close.reconciliation.map(|r| json!({
            "filesImported": r.files_imported,
            "matched": r.matched,
            "notOurs": r.not_ours,
            "openDiscrepancies": r.open_discrepancies,
        })),
    })
}

fn later_event_json(later: &LaterEvent) -> Value {
    let event = &later.event;
    json!({
        "seq": event.seq,
        "at": local_rfc3339(event.at),
        "actor": event.actor.as_str(),
        "entity": match event.entity {
            crate::journal::EntityRef::Payment(_) => "payment",
            crate::journal::EntityRef::Refund(_) => "refund",
        },
        "requestId": later.request_id,
        "kind": event.kind.as_str(),
        "fromState": event.from_state,
        "toState": event.to_state,
        "detail": event.detail,
    })
}

fn report_json(report: &DayCloseReport) -> Value {
    json!({
        "close": close_json(&report.close),
        "totalsNow": report.totals_now.iter().map(totals_json).collect::<Vec<_>>(),
        "totalsChanged": report.totals_changed(),
        "laterEvents": report.later_events.iter().map(later_event_json).collect::<Vec<_>>(),
    })
}

/// The Z report as text, labels in both languages.
fn close_text(close: &DayClose) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "Z report / 日结报告 #{}  {} ({})\n",
        close.number, close.date, close.time_zone
    ));
    out.push_str(&format!(
        "closed / 日结时间  {} by / 操作人 {}\n",
        format_local(close.closed_at),
        close.closed_by
    ));
    if close.totals.is_empty() {
        out.push_str("no payments or refunds / 无支付或退款\n");
    }
    for t in &close.totals {
        out.push_str(&format!(
            "{}  paid / 收款 {} ({})  refunded / 退款 {} ({})  net / 净额 {}\n",
            t.currency.code(),
            t.paid.major_string(),
            t.paid_count,
            t.refunded.major_string(),
            t.refunded_count,
            t.net.major_string()
        ));
    }
    let counts = |pairs: Vec<(&str, u64)>| -> String {
        pairs
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(name, n)| format!("{name} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let payments = counts(
        close
            .payment_counts
            .iter()
            .map(|(s, n)| (s.as_str(), *n))
            .collect(),
    );
    let refunds = counts(
        close
            .refund_counts
            .iter()
            .map(|(s, n)| (s.as_str(), *n))
            .collect(),
    );
    out.push_str(&format!(
        "payments / 支付: {}\nrefunds / 退款: {}\n",
        if payments.is_empty() { "-" } else { &payments },
        if refunds.is_empty() { "-" } else { &refunds }
    ));
    for (label, mark) in [
        ("first paid / 首笔", &close.first_payment),
        ("last paid / 末笔", &close.last_payment),
    ] {
        if let Some(mark) = mark {
            out.push_str(&format!(
                "{label}  {}  {}\n",
                mark.payment_request_id,
                format_local(mark.paid_at)
            ));
        }
    }
    out.push_str(&format!(
        "open at close / 日结时未完成: {} payment(s) / 笔支付, {} refund(s) / 笔退款\n",
        close.unresolved_payments, close.unresolved_refunds
    ));
    match &close.reconciliation {
        None => out.push_str("reconciliation / 对账: not imported / 未导入\n"),
        Some(r) => out.push_str(&format!(
            "reconciliation / 对账: {} file(s), {} matched, {} not ours, {} open discrepancies\n",
            r.files_imported, r.matched, r.not_ours, r.open_discrepancies
        )),
    }
    out
}

fn report_text(report: &DayCloseReport) -> String {
    let mut out = close_text(&report.close);
    if report.later_events.is_empty() {
        out.push_str("nothing happened to this day after the close / 日结后无变动\n");
        return out;
    }
    out.push_str(&format!(
        "after the close / 日结后 ({} event(s) / 条记录):\n",
        report.later_events.len()
    ));
    for later in &report.later_events {
        let event = &later.event;
        let change = match (&event.from_state, &event.to_state) {
            (Some(from), Some(to)) => format!("{from} -> {to}"),
            (None, Some(to)) => to.clone(),
            _ => event.kind.as_str().to_owned(),
        };
        out.push_str(&format!(
            "  {}  {:<32} {:<28} {}\n",
            format_local(event.at),
            later.request_id,
            change,
            event.detail
        ));
    }
    if report.totals_changed() {
        out.push_str("totals now / 当前合计 (at close / 日结时):\n");
        for now in &report.totals_now {
            let at_close = report
                .close
                .totals
                .iter()
                .find(|t| t.currency == now.currency);
            out.push_str(&format!(
                "  {}  paid {} ({})  refunded {} ({})  net {}",
                now.currency.code(),
                now.paid.major_string(),
                at_close.map_or_else(|| "-".to_owned(), |t| t.paid.major_string()),
                now.refunded.major_string(),
                at_close.map_or_else(|| "-".to_owned(), |t| t.refunded.major_string()),
                now.net.major_string(),
            ));
            out.push_str(&format!(
                " ({})\n",
                at_close.map_or_else(|| "-".to_owned(), |t| t.net.major_string())
            ));
        }
    } else {
        out.push_str("totals unchanged since the close / 合计与日结时相同\n");
    }
    out
}
