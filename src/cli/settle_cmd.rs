//! `alipay-pos settle`: a manager records the outcome of a payment the terminal cannot
//! settle, as checked in Alipay's merchant portal. The engine journals it as a manual
//! resolution naming the manager (whose PIN this command asks for) and the reason.
//!
//! Exit status: 0 recorded, 1 usage error, wrong PIN, or a payment that cannot be settled by
//! hand (the message says what to do instead).

use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use super::payment_cmd::{runtime, start_terminal};
use super::{CliError, CliResult};
use crate::checkout::{ManualOutcome, ManualSettleError};
use crate::config::Config;
use crate::journal::PaymentState;
use crate::locale::Locale;

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("outcome").required(true).args(["paid", "not_paid"])))]
pub struct SettleArgs {
    /// The unresolved payment: our paymentRequestId or Alipay's paymentId.
    payment_id: String,
    /// The merchant portal shows the customer paid (the payment becomes paid, and can be
    /// refunded).
    #[arg(long)]
    paid: bool,
    /// The merchant portal shows the customer did not pay (the payment becomes failed).
    #[arg(long)]
    not_paid: bool,
    /// What the portal showed and why it is recorded by hand (kept in the journal).
    #[arg(long, value_name = "TEXT")]
    reason: String,
    /// Alipay's paymentId as the portal shows it; required with --paid when the journal
    /// has none (the pay answer was lost), because a refund needs it.
    #[arg(long, value_name = "ID", requires = "paid")]
    alipay_payment_id: Option<String>,
    /// Read the manager's PIN from one line of standard input instead of asking for it.
    #[arg(long)]
    pin_stdin: bool,
    #[arg(long)]
    json: bool,
}

pub fn run(args: SettleArgs, config_path: Option<&Path>) -> CliResult {
    let reason = args.reason.trim().to_string();
    if reason.is_empty() {
        return Err(CliError::usage(
            "--reason must say what Alipay's merchant portal showed",
        ));
    }
    let outcome = if args.paid {
        ManualOutcome::Paid {
            alipay_payment_id: args.alipay_payment_id.clone(),
        }
    } else {
        ManualOutcome::NotPaid
    };
    let config = Config::discover(config_path)?;
    let approval = super::admin_cmd::approve(&config, args.pin_stdin)?;
    runtime()?.block_on(async move {
        let terminal = start_terminal(config_path).await?;
        let record = terminal
            .checkout
            .settle_manually(&args.payment_id, outcome, &reason, &approval)
            .await
            .map_err(|error| match error {
                ManualSettleError::Engine(error) => CliError::from_checkout(error),
                refused => CliError::usage(refused.to_string()),
            })?;
        let sandbox = terminal.sandbox().is_some();
        eprintln!(
            "{}payment {} settled by hand by {}: {}  {}",
            super::payment_cmd::sandbox_prefix(sandbox),
            record.payment_request_id,
            approval.manager(),
            record.state.as_str(),
            record.amount.format(Locale::English)
        );
        if record.state == PaymentState::Paid {
            eprintln!(
                "to give the money back: alipay-pos refund {} --reason TEXT",
                record.payment_request_id
            );
        }
        if args.json {
            println!(
                "{}",
                json!({
                    "sandbox": sandbox,
                    "paymentRequestId": record.payment_request_id,
                    "paymentId": record.payment_id,
                    "state": record.state.as_str(),
                    "resolution": record.resolution.map(|r| r.as_str()),
                    "manager": approval.manager(),
                    "reason": reason,
                    "amount": record.amount.major_string(),
                    "currency": record.amount.currency().code(),
                })
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}
