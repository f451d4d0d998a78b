//! `alipay-pos hub`: the store hub, and enrolling the terminals that connect to it.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::{CliError, CliResult};
use crate::config::Config;
use crate::hub::{self, HubError};
use crate::locale::Locale;

#[derive(Debug, Args)]
#[command(
    about = "Run the store hub: the public notification URL for terminals behind NAT",
    long_about = "Run the store hub: Alipay posts payment notifications to \
                  <hub.public_url>/alipay/notify, the hub stores them in PostgreSQL \
                  (hub.database_url, else DATABASE_URL) and relays each to the terminal that \
                  took the payment over the connection that terminal keeps open. Migrates \
                  the database, then prints `hub listening on http://ADDR` on stdout once it \
                  accepts connections. Without a command it runs until SIGINT or SIGTERM."
)]
pub struct HubArgs {
    #[command(subcommand)]
    command: Option<HubCommand>,
}

#[derive(Debug, Subcommand)]
enum HubCommand {
    /// Enrol, revoke and list the terminals allowed to connect.
    #[command(subcommand)]
    Terminals(TerminalsCommand),
}

#[derive(Debug, Subcommand)]
enum TerminalsCommand {
    /// Enrol a terminal; prints its new token as the last line of stdout (shown once, only
    /// its SHA-256 is kept). Put it in the terminal's `hub.token_file`.
    Add {
        /// The terminal's `store.terminal_id`: its request ids' tag routes notifications.
        name: String,
    },
    /// Revoke a terminal's token: it is refused from now on, and disconnected.
    Revoke { name: String },
    /// List every terminal ever enrolled.
    List {
        #[arg(long)]
        json: bool,
    },
}

impl From<HubError> for CliError {
    fn from(error: HubError) -> Self {
        let message = error.message(Locale::English);
        if error.is_usage() {
            CliError::usage(message)
        } else {
            CliError::cannot_work(message)
        }
    }
}

pub fn run(args: HubArgs, config_path: Option<&Path>) -> CliResult {
    let config = Config::discover(config_path)?;
    let runtime = super::payment_cmd::runtime()?;
    runtime.block_on(async move {
        match args.command {
            None => serve(&config).await,
            Some(HubCommand::Terminals(command)) => terminals(&config, command).await,
        }
    })
}

async fn serve(config: &Config) -> CliResult {
    let settings = hub::prepare(config).await?;
    let database = hub::connection_for(config)?;
    let running = hub::server::start_listening(settings, database).await?;
    if let Some(public) = config.hub.as_ref().and_then(|h| h.public_url.as_ref()) {
        eprintln!(
            "Alipay posts to {}{}",
            public.as_str().trim_end_matches('/'),
            crate::config::HUB_NOTIFY_PATH
        );
    }
    println!("hub listening on http://{}", running.address);
    std::io::stdout().flush()?;
    super::sandbox_cmd::stop_requested().await;
    eprintln!("stopping the hub…");
    running.stop().await;
    Ok(ExitCode::SUCCESS)
}

async fn terminals(config: &Config, command: TerminalsCommand) -> CliResult {
    let pool = hub::pool_for(config)?;
    hub::schema::migrate(&pool).await?;
    let mut out = std::io::stdout().lock();
    match command {
        TerminalsCommand::Add { name } => {
            let enrolled = hub::terminals::add(&pool, &name).await?;
            writeln!(
                out,
                "enrolled terminal `{}` (tag {}); its token, shown only now, is the next line: \
                 put it in the terminal's hub.token_file",
                enrolled.name, enrolled.tag
            )?;
            writeln!(out, "{}", enrolled.token.expose())?;
        }
        TerminalsCommand::Revoke { name } => {
            hub::terminals::revoke(&pool, &name).await?;
            writeln!(
                out,
                "revoked terminal `{name}`: its token is refused from now on"
            )?;
        }
        TerminalsCommand::List { json } => {
            let rows = hub::terminals::list(&pool).await?;
            if json {
                let text = serde_json::to_string(&rows)
                    .map_err(|e| CliError::cannot_work(e.to_string()))?;
                writeln!(out, "{text}")?;
            } else if rows.is_empty() {
                writeln!(
                    out,
                    "no terminals enrolled; add one with `alipay-pos hub terminals add NAME`"
                )?;
            } else {
                for row in rows {
                    let state = match &row.revoked_at {
                        Some(at) => format!("revoked {at}"),
                        None => "active".to_owned(),
                    };
                    writeln!(
                        out,
                        "{}\t{}\ttag {}\tenrolled {}\t{state}",
                        row.id, row.name, row.tag, row.created_at
                    )?;
                }
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
