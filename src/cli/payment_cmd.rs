//! Headless payments: `pay`, `status`, `cancel`, `refund`, `resolve`. A contract that
//! scripts and tests rely on: exit status 0 paid (or done), 2 failed or cancelled,
//! 3 unresolved, 1 usage or configuration error, 4 the machine cannot do it now (journal
//! busy or not writable, data folder in use by another alipay-pos; see `cli/mod.rs`).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;
use serde_json::json;

use super::{CliError, CliResult};
use crate::checkout::{CheckoutEvent, PayStart, PaymentCode, PaymentIntent, Policy};
use crate::config::Config;
use crate::journal::{Actor, PaymentRecord, PaymentState, RefundState, Resolution};
use crate::locale::Locale;
use crate::money::{Currency, Money};
use crate::sandbox::embedded::DemoCustomer;
use crate::terminal::Terminal;

pub const EXIT_FAILED_OR_CANCELLED: u8 = 2;
pub const EXIT_UNRESOLVED: u8 = 3;

#[derive(Debug, Args)]
pub struct PayArgs {
    /// The amount in major units, e.g. 12.34 (JPY and KRW take whole numbers).
    amount: String,
    /// ISO 4217 currency (default: `payment.currency` from the configuration).
    #[arg(long, value_name = "CUR")]
    currency: Option<String>,
    /// What the customer sees in the wallet.
    #[arg(long, value_name = "TEXT", default_value = "Purchase")]
    description: String,
    /// Print a final one-line JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Demo mode with the embedded sandbox: the simulated customer pays the code after
    /// SECONDS, through the sandbox's wallet page.
    #[arg(long, value_name = "SECONDS", conflicts_with = "customer_code")]
    simulate_customer: Option<f64>,
    /// User-presented: the customer's payment code (16-24 digits) instead of showing a QR
    /// code. `-` reads it from standard input, which keeps it out of the process list and
    /// the shell history (prefer it: the code is a bearer credential).
    #[arg(long, value_name = "CODE")]
    customer_code: Option<String>,
}

/// The customer's code from `--customer-code`, checked before anything is started.
fn read_customer_code(given: &str) -> Result<PaymentCode, CliError> {
    let text = if given == "-" {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map_err(|e| {
            CliError::usage(format!("cannot read the payment code from stdin: {e}"))
        })?;
        line
    } else {
        given.to_owned()
    };
    PaymentCode::parse(&text).map_err(|why| {
        CliError::usage(format!(
            "--customer-code is not an Alipay payment code ({why}); ask the customer to refresh their code / 付款码无效，请让顾客刷新付款码"
        ))
    })
}

/// How long a command that is done waits for the store hub's acknowledgements to go out
/// (one round trip on a working link); past it the hub simply sends them again later.
const HUB_ACK_GRACE: Duration = Duration::from_secs(3);

pub(super) fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::cannot_work(format!("cannot start the async runtime: {e}")))
}

fn exit_for(state: PaymentState) -> ExitCode {
    match state {
        PaymentState::Paid => ExitCode::SUCCESS,
        PaymentState::Failed | PaymentState::Cancelled => ExitCode::from(EXIT_FAILED_OR_CANCELLED),
        _ => ExitCode::from(EXIT_UNRESOLVED),
    }
}

/// The `status` word of the JSON contract.
fn json_status(state: PaymentState) -> &'static str {
    match state {
        PaymentState::Paid => "SUCCESS",
        PaymentState::Failed => "FAIL",
        PaymentState::Cancelled => "CANCELLED",
        _ => "UNRESOLVED",
    }
}

/// Starts every result line printed against the embedded sandbox, so a demo "PAID" is never
/// read as money (issue 9 §5). Scripts get the same fact as `"sandbox": true` in JSON.
pub const SANDBOX_MARK: &str = "SANDBOX (demo, no real money / 演示：不涉及真实资金)";

pub(super) fn sandbox_prefix(sandbox: bool) -> String {
    if sandbox {
        format!("{SANDBOX_MARK}  ")
    } else {
        String::new()
    }
}

/// A payment as every command prints it in JSON (`journal list`, `status`, `pay`, `cancel`):
/// one shape, in the journal's own words (`state` is the stored state, e.g.
/// `awaiting_customer`).
pub(super) fn payment_json(record: &PaymentRecord) -> serde_json::Value {
    json!({
        "paymentRequestId": record.payment_request_id,
        "paymentId": record.payment_id,
        "orderRef": record.order_ref,
        "product": record.product.as_str(),
        "state": record.state.as_str(),
        "amount": record.amount.major_string(),
        "amountMinor": record.amount.minor(),
        "currency": record.amount.currency().code(),
        "createdAt": record.created_at.to_string(),
        "resultCode": record.result_code,
        "customerCodeLast4": record.customer_code_last4,
    })
}

/// The result of `pay`, `cancel` and `status`: the payment, plus the documented `status`
/// word scripts branch on (SUCCESS, FAIL, CANCELLED, UNRESOLVED; README and tests rely on
/// it) and whether the money was the sandbox's.
fn result_json(record: &PaymentRecord, sandbox: bool) -> serde_json::Value {
    let mut value = payment_json(record);
    value["status"] = json!(json_status(record.state));
    value["sandbox"] = json!(sandbox);
    value["resolution"] = json!(record.resolution.map(resolution_word));
    value
}

/// How a payment's outcome was learned, as `status --json` reports it (README, "Command
/// line"): the journal's word, except an `inquiryPayment` answer, which is the poller's
/// ("poll"); `null` while the outcome is not known.
pub(super) fn resolution_word(resolution: Resolution) -> &'static str {
    match resolution {
        Resolution::Inquiry => "poll",
        Resolution::Pay
        | Resolution::Cancel
        | Resolution::Notify
        | Resolution::Refund
        | Resolution::Manual
        | Resolution::Reconciliation => resolution.as_str(),
    }
}

pub(super) async fn start_terminal(config_path: Option<&Path>) -> Result<Terminal, CliError> {
    let config = Config::discover(config_path)?;
    Terminal::start(config, Policy::default())
        .await
        .map_err(CliError::from_terminal)
}

fn draw_qr(code_value: &str) -> String {
    match QrCode::new(code_value.as_bytes()) {
        Ok(code) => code
            .render::<Dense1x2>()
            .quiet_zone(true)
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .build(),
        Err(error) => format!("(cannot draw the QR code: {error})"),
    }
}

pub fn pay(args: PayArgs, config_path: Option<&Path>) -> CliResult {
    let config = Config::discover(config_path)?;
    let currency = match &args.currency {
        Some(code) => Currency::from_code(code)?,
        None => config.payment.currency,
    };
    let amount = Money::parse(&args.amount, currency)?;
    let customer_code = args
        .customer_code
        .as_deref()
        .map(read_customer_code)
        .transpose()?;
    if args.simulate_customer.is_some() && !config.is_sandbox() {
        return Err(CliError::usage(
            "--simulate-customer only works with the embedded sandbox (gateway = \"sandbox\")",
        ));
    }
    if let Some(seconds) = args.simulate_customer
        && !(0.0..=3600.0).contains(&seconds)
    {
        return Err(CliError::usage(
            "--simulate-customer takes 0 to 3600 seconds",
        ));
    }
    runtime()?.block_on(async move {
        let terminal = Terminal::start(config, Policy::default())
            .await
            .map_err(CliError::from_terminal)?;
        let checkout = terminal.checkout.clone();
        let mut events = checkout.subscribe();
        eprintln!(
            "charging {} / 收款 {}",
            amount.format(Locale::English),
            amount.format(Locale::SimplifiedChinese)
        );
        let intent = match customer_code {
            Some(code) => {
                eprintln!("customer's code {} / 顾客付款码 {}", code.masked(), code.masked());
                PaymentIntent::user_presented(amount, args.description.as_str(), Actor::Cashier, code)
            }
            None => PaymentIntent::order_code(amount, args.description.as_str(), Actor::Cashier),
        };
        let (record, start) = checkout
            .start_payment(intent)
            .await
            .map_err(CliError::from_checkout)?;
        let id = record.payment_request_id.clone();
        match &start {
            PayStart::CodeReady {
                code_value,
                expires_at,
            } => {
                eprintln!("{}", draw_qr(code_value));
                eprintln!("Scan with Alipay or an Alipay+ wallet / 请使用支付宝或 Alipay+ 钱包扫码");
                eprintln!("code: {code_value}");
                eprintln!("expires: {}", crate::local_time::format_local(*expires_at));
                if let Some(seconds) = args.simulate_customer {
                    match terminal.sandbox() {
                        Some(sandbox) => spawn_simulated_customer(
                            sandbox.demo_customer(),
                            code_value.clone(),
                            seconds,
                        ),
                        None => eprintln!("simulated customer: {code_value} is not a sandbox wallet URL"),
                    }
                }
            }
            PayStart::Paid => {}
            PayStart::AwaitingCustomer => {
                eprintln!("Waiting for the customer to confirm in the wallet / 等待顾客在钱包中确认…");
            }
            PayStart::Failed { code, message } => {
                eprintln!("payment failed: {code} {message}");
            }
            PayStart::Unknown => {
                eprintln!("Alipay's answer was lost; checking what happened (do not let the customer pay again)…");
            }
        }
        let final_record = wait_with_progress(&terminal, &id, &mut events).await?;
        // The hub's notification that settled it is acknowledged before this exits.
        terminal.hub_relays_done(HUB_ACK_GRACE).await;
        report_payment(&final_record, args.json, terminal.sandbox().is_some());
        Ok(exit_for(final_record.state))
    })
}

/// `--simulate-customer`: after `seconds`, the embedded sandbox's demo customer pays the code
/// through its wallet page, as a phone would.
fn spawn_simulated_customer(customer: DemoCustomer, code_value: String, seconds: f64) {
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
        eprintln!("simulated customer: paying through the wallet page…");
        if let Err(error) = customer.pay(&code_value).await {
            eprintln!("simulated customer: {error}");
        }
    });
}

/// Waits until the engine has finished with the payment, printing each state change. Ctrl-C
/// asks the engine to cancel (the cashier's abort), then keeps waiting for the outcome.
async fn wait_with_progress(
    terminal: &Terminal,
    id: &str,
    events: &mut tokio::sync::broadcast::Receiver<CheckoutEvent>,
) -> Result<PaymentRecord, CliError> {
    let checkout = &terminal.checkout;
    let mut cancel_sent = false;
    loop {
        let record = checkout
            .payment(id)
            .await
            .map_err(CliError::from_checkout)?;
        if record.state.is_final()
            || (!checkout.is_driven(id) && record.state == PaymentState::Unresolved)
        {
            return Ok(record);
        }
        tokio::select! {
            event = events.recv() => {
                if let Ok(CheckoutEvent::PaymentState { payment_request_id, state, detail }) = event
                    && payment_request_id == id
                {
                    eprintln!("… {} ({detail})", state.as_str());
                }
            }
            _ = tokio::signal::ctrl_c(), if !cancel_sent => {
                cancel_sent = true;
                eprintln!("cancelling at the cashier's request…");
                let engine = checkout.clone();
                let id = id.to_string();
                tokio::spawn(async move {
                    if let Err(error) = engine.cancel(&id, Actor::Cashier, "cancelled by the cashier").await {
                        eprintln!("cancel: {error}");
                    }
                });
            }
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

pub(super) fn report_payment(record: &PaymentRecord, json: bool, sandbox: bool) {
    let message = match record.state {
        PaymentState::Paid => "PAID / 已支付".to_string(),
        PaymentState::Failed => format!(
            "FAILED / 支付失败: {}",
            record.result_code.as_deref().unwrap_or("unknown reason")
        ),
        PaymentState::Cancelled => "CANCELLED / 已取消".to_string(),
        _ => "UNRESOLVED / 结果未定: the terminal keeps checking with Alipay (`alipay-pos resolve`); the customer must not pay again".to_string(),
    };
    eprintln!(
        "{}{message}  {} {}",
        sandbox_prefix(sandbox),
        record.amount.format(Locale::English),
        record.payment_request_id
    );
    if json {
        println!("{}", result_json(record, sandbox));
    }
}

/// Reads the journal only (its read-only connection): no engine, no network, no data-folder
/// lock, so it works while the terminal or a `pay` is running.
pub fn status(id: &str, json: bool, config_path: Option<&Path>) -> CliResult {
    let config = Config::discover(config_path)?;
    let reader = super::journal_cmd::open_reader(&config)?;
    let detail = reader
        .payment_detail(id)
        .map_err(CliError::from_journal)?
        .ok_or_else(|| {
            CliError::usage(format!(
                "no payment `{id}` in the journal; check the id with `alipay-pos journal list`"
            ))
        })?;
    let record = &detail.payment;
    if json {
        let mut value = result_json(record, config.is_sandbox());
        value["refunds"] = json!(
            detail
                .refunds
                .iter()
                .map(|r| json!({
                    "refundRequestId": r.refund_request_id,
                    "amount": r.amount.major_string(),
                    "state": r.state.as_str(),
                }))
                .collect::<Vec<_>>()
        );
        println!("{value}");
    } else {
        println!(
            "{}payment {} ({})",
            sandbox_prefix(config.is_sandbox()),
            record.payment_request_id,
            record.state.as_str()
        );
        println!(
            "alipay payment id: {}",
            record.payment_id.as_deref().unwrap_or("-")
        );
        println!("amount: {}", record.amount.format(Locale::English));
        for refund in &detail.refunds {
            println!(
                "refund {}: {} {}",
                refund.refund_request_id,
                refund.amount.format(Locale::English),
                refund.state.as_str()
            );
        }
        for event in &detail.events {
            println!(
                "{}  {:<8} {} -> {}  {}",
                event.at,
                event.actor.as_str(),
                event.from_state.as_deref().unwrap_or("-"),
                event.to_state.as_deref().unwrap_or("-"),
                event.detail
            );
        }
    }
    Ok(exit_for(record.state))
}

pub fn cancel(id: &str, json: bool, config_path: Option<&Path>) -> CliResult {
    runtime()?.block_on(async move {
        let terminal = start_terminal(config_path).await?;
        let record = terminal
            .checkout
            .find_payment(id)
            .await
            .map_err(CliError::from_checkout)?;
        let record = terminal
            .checkout
            .cancel(&record.payment_request_id, Actor::Cashier, "cancelled from the command line")
            .await
            .map_err(CliError::from_checkout)?;
        report_payment(&record, json, terminal.sandbox().is_some());
        if record.state == PaymentState::Paid {
            eprintln!("the payment is paid and can no longer be cancelled: refund it with `alipay-pos refund {}`", record.payment_request_id);
        }
        Ok(match record.state {
            PaymentState::Cancelled => ExitCode::SUCCESS,
            state if state.is_final() => ExitCode::from(EXIT_FAILED_OR_CANCELLED),
            _ => ExitCode::from(EXIT_UNRESOLVED),
        })
    })
}

#[derive(Debug, Args)]
pub struct RefundArgs {
    /// The payment: our paymentRequestId or Alipay's paymentId.
    payment_id: String,
    /// Amount to refund in major units (default: everything not yet refunded).
    amount: Option<String>,
    /// Why the money goes back (kept in the journal and sent to Alipay).
    #[arg(long, value_name = "TEXT")]
    reason: String,
    /// Read the manager's PIN from one line of standard input instead of asking for it
    /// (for scripts). The journal names the manager whose PIN it is.
    #[arg(long)]
    pin_stdin: bool,
    #[arg(long)]
    json: bool,
}

pub fn refund(args: RefundArgs, config_path: Option<&Path>) -> CliResult {
    if args.reason.trim().is_empty() {
        return Err(CliError::usage("--reason must say why the money goes back"));
    }
    // The PIN is checked before the engine starts: a wrong one touches nothing.
    let config = Config::discover(config_path)?;
    let approval = super::admin_cmd::approve(&config, args.pin_stdin)?;
    runtime()?.block_on(async move {
        let terminal = start_terminal(config_path).await?;
        let checkout = &terminal.checkout;
        let payment = checkout
            .find_payment(&args.payment_id)
            .await
            .map_err(CliError::from_checkout)?;
        let amount = args
            .amount
            .as_deref()
            .map(|text| Money::parse(text, payment.amount.currency()))
            .transpose()?;
        let refund = checkout
            .refund(&payment.payment_request_id, amount, &args.reason, &approval)
            .await
            .map_err(CliError::from_checkout)?;
        let status = match refund.state {
            RefundState::Succeeded => "SUCCESS",
            RefundState::Failed => "FAIL",
            _ => "UNRESOLVED",
        };
        let sandbox = terminal.sandbox().is_some();
        eprintln!(
            "{}refund {} of {}: {status}{}",
            sandbox_prefix(sandbox),
            refund.refund_request_id,
            refund.amount.format(Locale::English),
            refund
                .result_code
                .as_deref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default()
        );
        if args.json {
            println!(
                "{}",
                json!({
                    "refundRequestId": refund.refund_request_id,
                    "refundId": refund.refund_id,
                    "paymentRequestId": payment.payment_request_id,
                    "status": status,
                    "amount": refund.amount.major_string(),
                    "currency": refund.amount.currency().code(),
                    "sandbox": sandbox,
                })
            );
        }
        Ok(match refund.state {
            RefundState::Succeeded => ExitCode::SUCCESS,
            RefundState::Failed => ExitCode::from(EXIT_FAILED_OR_CANCELLED),
            _ => ExitCode::from(EXIT_UNRESOLVED),
        })
    })
}

pub fn resolve(json: bool, config_path: Option<&Path>) -> CliResult {
    runtime()?.block_on(async move {
        let terminal = start_terminal(config_path).await?;
        let report = terminal
            .checkout
            .resolve_once()
            .await
            .map_err(CliError::from_checkout)?;
        terminal.hub_relays_done(HUB_ACK_GRACE).await;
        let sandbox = terminal.sandbox().is_some();
        let mut out = std::io::stdout().lock();
        if json {
            writeln!(out, "{}", json!({
                "sandbox": sandbox,
                "settledPayments": report.settled_payments.iter().map(|(id, s)| json!({"paymentRequestId": id, "state": s.as_str()})).collect::<Vec<_>>(),
                "settledRefunds": report.settled_refunds.iter().map(|(id, s)| json!({"refundRequestId": id, "state": s.as_str()})).collect::<Vec<_>>(),
                "openPayments": report.open_payments.iter().map(|(id, s)| json!({"paymentRequestId": id, "state": s.as_str()})).collect::<Vec<_>>(),
                "openRefunds": report.open_refunds,
            }))?;
        } else {
            if sandbox {
                writeln!(out, "{SANDBOX_MARK}")?;
            }
            for (id, state) in &report.settled_payments {
                writeln!(out, "settled payment {id}: {}", state.as_str())?;
            }
            for (id, state) in &report.settled_refunds {
                writeln!(out, "settled refund {id}: {}", state.as_str())?;
            }
            for (id, state) in &report.open_payments {
                writeln!(out, "still open: payment {id} ({})", state.as_str())?;
            }
            for id in &report.open_refunds {
                writeln!(out, "still open: refund {id}")?;
            }
            if report.open_payments.is_empty() && report.open_refunds.is_empty() {
                writeln!(out, "nothing left open")?;
            } else {
                writeln!(
                    out,
                    "Alipay could not settle these yet (unreachable, or still processing); run `alipay-pos resolve` again later"
                )?;
            }
        }
        Ok(if report.open_payments.is_empty() && report.open_refunds.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(EXIT_UNRESOLVED)
        })
    })
}
