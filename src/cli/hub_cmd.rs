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
    /// Write the store's static Entry Code (a QR code of <hub.public_url>/entry/STORE[/COUNTER])
    /// to a PNG or PDF file, by the file's extension, for printing.
    EntryCode {
        /// The store's `store.reference_store_id`, as its terminals send it.
        #[arg(long)]
        store: String,
        /// One counter's code (its terminal's enrolled name); without it the code opens the
        /// store's page, which lists its counters.
        #[arg(long)]
        counter: Option<String>,
        /// Where to write: `*.png` or `*.pdf`.
        #[arg(long)]
        out: std::path::PathBuf,
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
            Some(HubCommand::EntryCode {
                store,
                counter,
                out,
            }) => entry_code_file(&config, &store, counter.as_deref(), &out),
        }
    })
}

async fn serve(config: &Config) -> CliResult {
    let (entry_code, sandbox) = entry_code_setup(config).await?;
    let sandbox_key = sandbox.as_ref().map(|s| s.alipay_public_key().clone());
    let settings = hub::prepare_verifying_with(config, sandbox_key).await?;
    let entry_enabled = entry_code.is_some();
    let database = hub::connection_for(config)?;
    let running = hub::server::start_serving(settings, Some(database), entry_code).await?;
    if entry_enabled {
        eprintln!(
            "Entry Code pages at {}/entry/STORE[/COUNTER]{}",
            config
                .hub
                .as_ref()
                .and_then(|h| h.public_url.as_ref())
                .map(|u| u.as_str().trim_end_matches('/').to_owned())
                .unwrap_or_default(),
            match &sandbox {
                Some(sandbox) => format!(
                    " (embedded sandbox at {}: no real money)",
                    sandbox.local_url().as_str().trim_end_matches('/')
                ),
                None => String::new(),
            }
        );
    }
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
    if let Some(sandbox) = sandbox {
        sandbox.shutdown().await;
    }
    Ok(ExitCode::SUCCESS)
}

/// Where the hub's Entry Code payments go (README, "Entry Code"):
/// - `alipay.merchant_private_key` and `alipay.alipay_public_key` set: `alipay.gateway`;
/// - neither set, with the sandbox gateway: an embedded sandbox in `storage.data_dir`, whose
///   key then also verifies the notifications (a demo hub);
/// - otherwise, or without `hub.public_url` (the pages' address): no Entry Code; the hub
///   relays notifications only.
async fn entry_code_setup(
    config: &Config,
) -> Result<
    (
        Option<hub::entry_code::EntryCodeSettings>,
        Option<crate::sandbox::embedded::EmbeddedSandbox>,
    ),
    CliError,
> {
    use crate::ams::client::{AmsClient, ClientSettings};
    let Some(public_url) = config.hub.as_ref().and_then(|h| h.public_url.clone()) else {
        eprintln!("no `hub.public_url`: Entry Code is off (the pages need a public address)");
        return Ok((None, None));
    };
    let merchant = hub::entry_code::EntryMerchant {
        reference_merchant_id: config.merchant.reference_merchant_id.clone(),
        name: config.merchant.name.clone(),
        mcc: config.merchant.mcc.clone(),
    };
    let alipay = &config.alipay;
    let (client, sandbox) = match (&alipay.merchant_private_key, &alipay.alipay_public_key) {
        (None, None) if config.is_sandbox() => {
            let sandbox =
                crate::sandbox::embedded::start(&config.storage.data_dir, &alipay.client_id)
                    .await
                    .map_err(|e| {
                        CliError::cannot_work(format!("cannot start the embedded sandbox: {e}"))
                    })?;
            let client = sandbox
                .client()
                .map_err(|e| CliError::cannot_work(e.to_string()))?;
            (client, Some(sandbox))
        }
        (Some(_), Some(_)) => {
            let keys = crate::terminal::load_keys(config)?
                .ok_or_else(|| CliError::usage("the Alipay keys are missing".to_owned()))?;
            let base = alipay.gateway.base_url().ok_or_else(|| {
                CliError::usage(
                    "Entry Code on the hub needs a real gateway with your keys: set \
                     `alipay.gateway` (\"asia\", \"north-america\", \"europe\" or an https:// URL), \
                     or remove both key settings for the embedded sandbox"
                        .to_owned(),
                )
            })?;
            let mut settings = ClientSettings::new(base, alipay.client_id.clone());
            settings.key_version = alipay.key_version.clone();
            settings.connect_timeout = alipay.connect_timeout();
            settings.request_timeout = alipay.request_timeout();
            let client =
                AmsClient::new(settings, keys.merchant_private_key, keys.alipay_public_key)
                    .map_err(|e| CliError::cannot_work(e.to_string()))?;
            (client, None)
        }
        _ => {
            eprintln!(
                "no `alipay.merchant_private_key`: Entry Code is off (the hub relays notifications only)"
            );
            return Ok((None, None));
        }
    };
    Ok((
        Some(hub::entry_code::EntryCodeSettings::new(
            client, merchant, public_url,
        )),
        sandbox,
    ))
}

/// `hub entry-code --store S [--counter C] --out FILE`.
fn entry_code_file(config: &Config, store: &str, counter: Option<&str>, out: &Path) -> CliResult {
    use hub::entry_code::printable;
    let public_url = config
        .hub
        .as_ref()
        .and_then(|h| h.public_url.clone())
        .ok_or_else(|| {
            CliError::usage(
                "the code carries the hub's public address: set `hub.public_url` (e.g. \
                 \"https://hub.example.com\") in the config file"
                    .to_owned(),
            )
        })?;
    if store.trim().is_empty() {
        return Err(CliError::usage(
            "--store must name the store (its store.reference_store_id)".to_owned(),
        ));
    }
    let url = printable::entry_url(&public_url, store, counter);
    let extension = out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let bytes = match extension.as_deref() {
        Some("png") => printable::png(&url),
        Some("pdf") => printable::pdf(&url),
        _ => {
            return Err(CliError::usage(format!(
                "--out {} must end in .png or .pdf",
                out.display()
            )));
        }
    }
    .map_err(|e| CliError::cannot_work(e.to_string()))?;
    std::fs::write(out, bytes).map_err(|e| {
        CliError::cannot_work(format!(
            "cannot write {}: {e}; choose another --out",
            out.display()
        ))
    })?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "wrote {} for {url}", out.display())?;
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
