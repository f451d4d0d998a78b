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
    /// One local day of the chain, from every terminal's replicated journal: totals per
    /// store and currency (paid, refunded, net, counts) and the day's transactions.
    Report {
        /// The local day (YYYY-MM-DD, the hub's time zone); today when left out.
        #[arg(long, value_name = "DATE")]
        date: Option<String>,
        /// Only this store (`store.reference_store_id` of its terminals).
        #[arg(long, value_name = "STORE")]
        store: Option<String>,
        /// Print one JSON object (`date`, `totals`, `transactions`) instead of text.
        #[arg(long)]
        json: bool,
    },
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
            Some(HubCommand::Report { date, store, json }) => {
                report(&config, date.as_deref(), store.as_deref(), json).await
            }
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

/// Every payment of a day the report lists (a chain's day fits; more is cut, and said).
const REPORT_TRANSACTIONS: u32 = 100_000;

async fn report(config: &Config, date: Option<&str>, store: Option<&str>, json: bool) -> CliResult {
    let day = match date {
        Some(text) => super::journal_cmd::parse_day(text, "date")?,
        None => crate::local_time::today(),
    };
    let pool = hub::pool_for(config)?;
    hub::schema::migrate(&pool).await?;
    let totals = hub::replication::totals(&pool, day, store).await?;
    let query = hub::wire::StoreTransactionsQuery {
        date: Some(day.to_string()),
        limit: Some(REPORT_TRANSACTIONS),
        ..Default::default()
    };
    let transactions = hub::replication::transactions(&pool, store, &query)
        .await?
        .map_err(|bad| CliError::usage(bad.0))?;
    let mut out = std::io::stdout().lock();
    if json {
        let value = serde_json::json!({
            "date": day.to_string(),
            "store": store,
            "totals": totals,
            "transactions": transactions,
        });
        writeln!(out, "{value}")?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "chain report / 连锁报表 {day}")?;
    if totals.is_empty() {
        writeln!(out, "no payments or refunds on {day} / {day} 无支付或退款")?;
    }
    for row in &totals {
        writeln!(
            out,
            "{}  {}  paid / 收款 {} ({})  refunded / 退款 {} ({})  net / 净额 {}",
            row.store_id,
            row.currency,
            row.paid,
            row.paid_count,
            row.refunded,
            row.refunded_count,
            row.net
        )?;
    }
    if !transactions.is_empty() {
        writeln!(
            out,
            "transactions / 交易 ({} created on {day} / 笔):",
            transactions.len()
        )?;
    }
    for row in &transactions {
        let p = &row.payment;
        let amount = crate::money::Currency::from_code(&p.currency)
            .ok()
            .and_then(|c| crate::money::MinorTotal::from_minor(p.amount_minor, c).ok())
            .map_or_else(|| p.amount_minor.to_string(), |t| t.major_string());
        writeln!(
            out,
            "  {}  {:<10} {:<10} {:<18} {} {:>12}  {:<16} {}{}",
            p.created_at,
            row.store_id,
            row.terminal,
            p.state,
            p.currency,
            amount,
            p.product,
            p.payment_request_id,
            if row.refunded_minor > 0 {
                format!("  refunded / 已退 {}", row.refunded)
            } else {
                String::new()
            }
        )?;
    }
    if transactions.len() as u64 >= u64::from(REPORT_TRANSACTIONS) {
        writeln!(
            out,
            "only the newest {REPORT_TRANSACTIONS} are listed; the totals count every one / 仅列出最新 {REPORT_TRANSACTIONS} 笔，合计包含全部"
        )?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
