//! The command line: every command is a thin face over the library, so whatever the GUI can
//! do, a script can do too.
//!
//! Exit status, a contract scripts rely on (the README's "Command line" table says which
//! command uses which):
//! - 0: done (paid, refunded, verified, nothing left open).
//! - 1 ([`EXIT_USAGE`]): a usage or configuration mistake; fix the command or the config.
//! - 2: a definite "no": failed or cancelled, a refused refund, a failing signature or
//!   journal check.
//! - 3: unresolved: the outcome is not known yet; the resolver (or `alipay-pos resolve`)
//!   settles it.
//! - 4 ([`EXIT_CANNOT_WORK`]): the command is fine but this machine cannot do it now: the
//!   journal is busy, locked, read-only, full or damaged, another alipay-pos uses the data
//!   folder, a port or the HTTP client cannot be set up. Retry once the cause is fixed;
//!   retrying the same command is safe.
//!
//! Errors become exit statuses in one place ([`CliError::from_checkout`],
//! [`CliError::from_journal`], [`CliError::from_terminal`]), so a full disk can never turn
//! into "usage error".

mod admin_cmd;
mod config_cmd;
mod day_cmd;
mod gui_cmd;
mod hub_cmd;
mod journal_cmd;
mod keys_cmd;
mod merchant_cmd;
mod payment_cmd;
mod reconcile_cmd;
mod sandbox_cmd;
mod settle_cmd;
mod signature_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::admin::{PinError, StoreError};
use crate::ams::client::RequestError;
use crate::ams::keys::KeyError;
use crate::ams::signing::SignatureError;
use crate::checkout::CheckoutError;
use crate::config::ConfigError;
use crate::journal::JournalError;
use crate::money::MoneyError;
use crate::sandbox::SandboxError;
use crate::terminal::TerminalError;

/// Exit status for a usage or configuration error (bad flags, unreadable files).
pub const EXIT_USAGE: u8 = 1;
/// Exit status for a well-formed check whose answer is "no" (e.g. a signature that fails).
pub const EXIT_CHECK_FAILED: u8 = 2;
/// Exit status when the environment stops a well-formed command (see the module doc).
pub const EXIT_CANNOT_WORK: u8 = 4;

/// `--version`'s long form: also says whether this build has the crash tests' failpoints,
/// which a shipped binary never has.
const LONG_VERSION: &str = if crate::checkout::failpoint::COMPILED_IN {
    concat!(
        env!("CARGO_PKG_VERSION"),
        "\nfailpoints: compiled in (a test build for the crash tests; do not ship it)"
    )
} else {
    concat!(env!("CARGO_PKG_VERSION"), "\nfailpoints: none")
};

#[derive(Debug, Parser)]
#[command(
    name = "alipay-pos",
    version,
    long_version = LONG_VERSION,
    about = "Point-of-sale terminal for Alipay and Alipay+ in-store payments",
    long_about = "Point-of-sale terminal for Alipay and Alipay+ in-store payments (Alipay's \
                  global AMS API, Order Code). Without a configuration file it runs against \
                  the embedded Alipay sandbox. Without a command it opens the terminal's \
                  window (cashier mode; see --kiosk and --fullscreen)."
)]
pub struct Cli {
    /// Configuration file (default: the OS config folder, e.g. ~/.config/alipay-pos/config.toml).
    #[arg(long, global = true, env = "ALIPAY_POS_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,

    /// Log debug detail to stderr (ALIPAY_POS_LOG=... sets any level).
    #[arg(long, short, global = true)]
    verbose: bool,

    /// Refuse to start on the embedded sandbox (no real money): the GUI and every command
    /// that starts the engine (pay, cancel, refund, settle, resolve, merchant, day close)
    /// exit 1 unless the configuration names a real gateway. For tills and services, whose
    /// config file must never go missing silently.
    #[arg(
        long,
        global = true,
        env = "ALIPAY_POS_REQUIRE_LIVE",
        value_parser = clap::builder::BoolishValueParser::new(),
        action = clap::ArgAction::SetTrue
    )]
    require_live: bool,

    /// GUI flags, used when no command is given.
    #[command(flatten)]
    gui: gui_cmd::GuiArgs,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create and inspect the merchant's RSA keys.
    #[command(subcommand)]
    Keys(keys_cmd::KeysCommand),
    /// Sign or verify AMS content by hand, and find out why a signature fails.
    #[command(subcommand)]
    Signature(signature_cmd::SignatureCommand),
    /// Check the configuration and show what the terminal will use.
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// Run the Alipay sandbox (a simulator of Alipay's side) as a server, or publish its
    /// reconciliation reports (`sandbox reports`).
    Sandbox(sandbox_cmd::SandboxArgs),
    /// Take one Order Code payment: show the QR code, wait for the final state.
    ///
    /// Exit status: 0 paid, 2 failed or cancelled, 3 unresolved, 1 usage or config error.
    Pay(payment_cmd::PayArgs),
    /// Show a payment, its refunds and its event timeline.
    Status {
        /// paymentRequestId or Alipay's paymentId.
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Cancel a payment that is not final (a paid one is refunded instead).
    Cancel {
        /// paymentRequestId or Alipay's paymentId.
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Refund a paid payment, fully or partly (asks for a manager's PIN).
    Refund(payment_cmd::RefundArgs),
    /// Record the outcome of an unresolved payment after checking Alipay's merchant portal.
    ///
    /// Needs a manager's PIN. Journaled as a manual resolution that names the manager and
    /// the reason. Exit status 0 recorded, 1 usage, wrong PIN or not settleable.
    Settle(settle_cmd::SettleArgs),
    /// Read the local journal.
    #[command(subcommand)]
    Journal(journal_cmd::JournalCommand),
    /// The end-of-day close (Z report): close a day, show a closed day, list the closes.
    #[command(subcommand)]
    Day(day_cmd::DayCommand),
    /// Manager settings: the managers' PINs.
    #[command(subcommand)]
    Admin(admin_cmd::AdminCommand),
    /// Reconcile the journal against Alipay's transaction and settlement reports.
    #[command(subcommand)]
    Reconcile(reconcile_cmd::ReconcileCommand),
    /// Register the merchant and store with Alipay, and follow the wallets' review.
    #[command(subcommand)]
    Merchant(merchant_cmd::MerchantCommand),
    /// Run the resolver once over every open payment and refund, and report what it settled.
    ///
    /// An order code left on screen by a terminal that stopped is inquired, then cancelled
    /// unless it was paid: nobody shows it any more. Exit status 0 when nothing is left
    /// open, 3 when something is (Alipay could not be reached).
    Resolve {
        #[arg(long)]
        json: bool,
    },
    /// The store hub: Alipay's notification URL for terminals behind NAT (`hub`), and the
    /// terminals allowed to connect to it (`hub terminals add|revoke|list`).
    Hub(hub_cmd::HubArgs),
    /// Render every screen of the GUI, in English and Chinese, to PNG files (no display
    /// needed).
    Screenshots(gui_cmd::ScreenshotsArgs),
}

impl Command {
    /// Whether the command starts the payment engine (and so the sandbox, in demo mode):
    /// what `--require-live` guards. Reading the journal or the config does not.
    fn starts_engine(&self) -> bool {
        match self {
            Command::Pay(_)
            | Command::Cancel { .. }
            | Command::Refund(_)
            | Command::Settle(_)
            | Command::Resolve { .. }
            | Command::Merchant(_)
            | Command::Day(day_cmd::DayCommand::Close { .. }) => true,
            Command::Keys(_)
            | Command::Signature(_)
            | Command::Config(_)
            | Command::Sandbox(_)
            | Command::Status { .. }
            | Command::Journal(_)
            | Command::Day(_)
            | Command::Admin(_)
            | Command::Reconcile(_)
            | Command::Hub(_)
            | Command::Screenshots(_) => false,
        }
    }
}

/// An error a command reports to the user: what went wrong and what to do next.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub exit: u8,
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            exit: EXIT_USAGE,
        }
    }

    /// The environment, not the command, is at fault: exit [`EXIT_CANNOT_WORK`].
    pub fn cannot_work(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            exit: EXIT_CANNOT_WORK,
        }
    }

    /// An engine error: a refusal or a bad id is the caller's to fix (1); a journal that
    /// cannot be written, an HTTP client that cannot be built or a crashed task is the
    /// machine's (4).
    pub fn from_checkout(error: CheckoutError) -> Self {
        match error {
            CheckoutError::Journal(error) => Self::from_journal(error),
            CheckoutError::Request(error) => Self::from_request(error),
            CheckoutError::Internal(_) => Self::cannot_work(error.to_string()),
            CheckoutError::Money(_)
            | CheckoutError::Id(_)
            | CheckoutError::NotFound(_)
            | CheckoutError::NotPaid { .. }
            | CheckoutError::NothingLeftToRefund { .. }
            | CheckoutError::NoAlipayPaymentId { .. }
            | CheckoutError::CustomerCodeUsed { .. }
            | CheckoutError::RefundNotReserved { .. }
            | CheckoutError::NoRegistrationDetails => Self::usage(error.to_string()),
            // Alipay could not be asked: like an unreachable gateway, try again later.
            CheckoutError::PreviousRegistrationUnknown { .. } => CliError {
                message: error.to_string(),
                exit: payment_cmd::EXIT_UNRESOLVED,
            },
        }
    }

    /// A journal error: what the caller asked for (an unknown id, a refund above what is
    /// left, the data folder of another till) is 1; storage that does not work, and a
    /// write that contradicts what the journal holds, are 4.
    pub fn from_journal(error: JournalError) -> Self {
        match error {
            JournalError::NotAJournal { .. }
            | JournalError::NoJournal { .. }
            | JournalError::IdentityMismatch { .. }
            | JournalError::NotFound { .. }
            | JournalError::InvalidInput { .. }
            | JournalError::PaymentNotPaid { .. }
            | JournalError::CurrencyMismatch { .. }
            | JournalError::RefundExceedsPayment { .. }
            | JournalError::DayAlreadyClosed { .. }
            | JournalError::Money(_) => Self::usage(error.to_string()),
            JournalError::Open { .. }
            | JournalError::SchemaTooNew { .. }
            | JournalError::WalUnavailable { .. }
            | JournalError::Migration { .. }
            | JournalError::DiskFull
            | JournalError::ReadOnly
            | JournalError::Busy
            | JournalError::Corrupt { .. }
            | JournalError::Io { .. }
            | JournalError::Sqlite(_)
            | JournalError::Unreadable { .. }
            | JournalError::Outdated { .. }
            | JournalError::DuplicateRequestId { .. }
            | JournalError::IllegalTransition { .. }
            | JournalError::IllegalRefundTransition { .. }
            | JournalError::MissingField { .. }
            | JournalError::AlipayIdInUse { .. }
            | JournalError::FieldConflict { .. }
            | JournalError::RequestAlreadyFinished { .. }
            | JournalError::RequestIdReused { .. } => Self::cannot_work(error.to_string()),
        }
    }

    /// Starting the terminal: a bad configuration is 1; a data folder, port, sandbox or
    /// journal that cannot be used, or another alipay-pos on the same data folder, is 4.
    pub fn from_terminal(error: TerminalError) -> Self {
        match error {
            TerminalError::Journal(error) => Self::from_journal(error),
            TerminalError::Client(error) => Self::from_request(error),
            TerminalError::Config(_)
            | TerminalError::GatewayWithoutUrl { .. }
            | TerminalError::HubToken(_)
            | TerminalError::SandboxRefused { .. } => Self::usage(error.to_string()),
            TerminalError::DataDir { .. }
            | TerminalError::Sandbox(_)
            | TerminalError::Receiver { .. }
            | TerminalError::Busy { .. }
            | TerminalError::HubLink(_)
            | TerminalError::StartInterrupted(_) => Self::cannot_work(error.to_string()),
        }
    }

    /// A request that was not sent: invalid input, or keys and ids the configuration gave
    /// that cannot be used, is 1; an HTTP client that cannot be built, or a request that
    /// cannot be encoded, is 4.
    fn from_request(error: RequestError) -> Self {
        match error {
            RequestError::Invalid(_) | RequestError::Sign(_) | RequestError::Header { .. } => {
                Self::usage(error.to_string())
            }
            RequestError::Encode(_) | RequestError::Setup(_) => {
                Self::cannot_work(error.to_string())
            }
        }
    }
}

impl From<CheckoutError> for CliError {
    fn from(error: CheckoutError) -> Self {
        Self::from_checkout(error)
    }
}

impl From<JournalError> for CliError {
    fn from(error: JournalError) -> Self {
        Self::from_journal(error)
    }
}

impl From<TerminalError> for CliError {
    fn from(error: TerminalError) -> Self {
        Self::from_terminal(error)
    }
}

impl From<ConfigError> for CliError {
    fn from(error: ConfigError) -> Self {
        Self::usage(error.to_string())
    }
}

impl From<MoneyError> for CliError {
    /// Amounts come from the command line.
    fn from(error: MoneyError) -> Self {
        Self::usage(error.to_string())
    }
}

impl From<KeyError> for CliError {
    /// Key files and key text come from the user (`--key`, `keys generate --out`).
    fn from(error: KeyError) -> Self {
        Self::usage(error.to_string())
    }
}

impl From<SignatureError> for CliError {
    fn from(error: SignatureError) -> Self {
        Self::usage(error.to_string())
    }
}

impl From<PinError> for CliError {
    /// A wrong, locked-out or missing PIN is documented as exit 1.
    fn from(error: PinError) -> Self {
        Self::usage(error.to_string())
    }
}

impl From<StoreError> for CliError {
    /// The config file `admin set-pin` edits: the user's file to fix.
    fn from(error: StoreError) -> Self {
        Self::usage(error.to_string())
    }
}

impl From<SandboxError> for CliError {
    /// `alipay-pos sandbox`: a bad flag or key file is 1; a port, folder, ledger or the OS
    /// failing is 4.
    fn from(error: SandboxError) -> Self {
        match error {
            SandboxError::Options(_)
            | SandboxError::KeyPairMismatch { .. }
            | SandboxError::PrivateKeyMissing { .. }
            | SandboxError::NotAWalletCode(_)
            | SandboxError::WalletRefused { .. }
            | SandboxError::Key(_) => Self::usage(error.to_string()),
            SandboxError::Random(_)
            | SandboxError::HttpClient(_)
            | SandboxError::Customer(_)
            | SandboxError::DataDir { .. }
            | SandboxError::Ledger(_)
            | SandboxError::Listen { .. }
            | SandboxError::Interrupted(_) => Self::cannot_work(error.to_string()),
        }
    }
}

impl From<std::io::Error> for CliError {
    /// Writing a command's own output (stdout closed, disk full): the environment.
    fn from(error: std::io::Error) -> Self {
        Self::cannot_work(error.to_string())
    }
}

pub type CliResult = Result<ExitCode, CliError>;

/// Parses the arguments, runs the command and turns errors into an exit status.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let starts_engine = cli.command.as_ref().is_none_or(Command::starts_engine);
    if cli.require_live && starts_engine {
        let refused = crate::config::Config::discover(cli.config.as_deref())
            .map_err(CliError::from)
            .and_then(|config| {
                crate::terminal::require_live(&config, true).map_err(CliError::from)
            });
        if let Err(error) = refused {
            return finish(Err(error));
        }
    }
    let Some(command) = cli.command else {
        // The GUI logs to a rotating file under data_dir once its window exists.
        let result = gui_cmd::run(cli.gui, cli.config.as_deref());
        return finish(result);
    };
    crate::logging::init_stderr(cli.verbose);
    if let Some(flag) = cli.gui.given_flag() {
        return finish(Err(CliError::usage(format!(
            "{flag} is a flag of the GUI; give it without a command (e.g. `alipay-pos {flag}`)"
        ))));
    }
    let result = match command {
        Command::Keys(command) => keys_cmd::run(command),
        Command::Signature(command) => signature_cmd::run(command),
        Command::Config(command) => config_cmd::run(command, cli.config.as_deref()),
        Command::Sandbox(args) => sandbox_cmd::run(args, cli.config.as_deref()),
        Command::Pay(args) => payment_cmd::pay(args, cli.config.as_deref()),
        Command::Status { id, json } => payment_cmd::status(&id, json, cli.config.as_deref()),
        Command::Cancel { id, json } => payment_cmd::cancel(&id, json, cli.config.as_deref()),
        Command::Refund(args) => payment_cmd::refund(args, cli.config.as_deref()),
        Command::Settle(args) => settle_cmd::run(args, cli.config.as_deref()),
        Command::Journal(command) => journal_cmd::run(command, cli.config.as_deref()),
        Command::Day(command) => day_cmd::run(command, cli.config.as_deref()),
        Command::Admin(command) => admin_cmd::run(command, cli.config.as_deref()),
        Command::Reconcile(command) => reconcile_cmd::run(command, cli.config.as_deref()),
        Command::Merchant(command) => merchant_cmd::run(command, cli.config.as_deref()),
        Command::Resolve { json } => payment_cmd::resolve(json, cli.config.as_deref()),
        Command::Hub(args) => hub_cmd::run(args, cli.config.as_deref()),
        Command::Screenshots(args) => gui_cmd::screenshots(args),
    };
    finish(result)
}

fn finish(result: CliResult) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", error.message);
            ExitCode::from(error.exit)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
