//! The command line: every command is a thin face over the library, so whatever the GUI can
//! do, a script can do too.

mod admin_cmd;
mod config_cmd;
mod gui_cmd;
mod journal_cmd;
mod keys_cmd;
mod payment_cmd;
mod sandbox_cmd;
mod settle_cmd;
mod signature_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit status for a usage or configuration error (bad flags, unreadable files).
pub const EXIT_USAGE: u8 = 1;
/// Exit status for a well-formed check whose answer is "no" (e.g. a signature that fails).
pub const EXIT_CHECK_FAILED: u8 = 2;

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
    /// that starts the engine (pay, cancel, refund, resolve) exit 1 unless the
    /// configuration names a real gateway. For tills and services, whose config file must
    /// never go missing silently.
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
    /// Run the Alipay sandbox (a simulator of Alipay's side) as a server.
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
    /// Manager settings: the managers' PINs.
    #[command(subcommand)]
    Admin(admin_cmd::AdminCommand),
    /// Run the resolver once over every open payment and refund, and report what it settled.
    ///
    /// An order code left on screen by a terminal that stopped is inquired, then cancelled
    /// unless it was paid: nobody shows it any more. Exit status 0 when nothing is left
    /// open, 3 when something is (Alipay could not be reached).
    Resolve {
        #[arg(long)]
        json: bool,
    },
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
            | Command::Resolve { .. } => true,
            Command::Keys(_)
            | Command::Signature(_)
            | Command::Config(_)
            | Command::Sandbox(_)
            | Command::Status { .. }
            | Command::Journal(_)
            | Command::Admin(_)
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
}

impl<E: std::error::Error> From<E> for CliError {
    fn from(error: E) -> Self {
        CliError::usage(error.to_string())
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
        Command::Sandbox(args) => sandbox_cmd::run(args),
        Command::Pay(args) => payment_cmd::pay(args, cli.config.as_deref()),
        Command::Status { id, json } => payment_cmd::status(&id, json, cli.config.as_deref()),
        Command::Cancel { id, json } => payment_cmd::cancel(&id, json, cli.config.as_deref()),
        Command::Refund(args) => payment_cmd::refund(args, cli.config.as_deref()),
        Command::Settle(args) => settle_cmd::run(args, cli.config.as_deref()),
        Command::Journal(command) => journal_cmd::run(command, cli.config.as_deref()),
        Command::Admin(command) => admin_cmd::run(command, cli.config.as_deref()),
        Command::Resolve { json } => payment_cmd::resolve(json, cli.config.as_deref()),
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
