//! `alipay-pos sandbox`: runs the Alipay simulator as a standalone server, for developing and
//! testing against a gateway without an Alipay contract.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use url::Url;

use super::{CliError, CliResult};
use crate::sandbox::faults::FaultSettings;
use crate::sandbox::options::{self, ClientRegistration, SandboxOptions};
use crate::sandbox::reports::{self, DEFAULT_FEE_RATE_BPS, EmptyDay};

const AFTER_LONG_HELP: &str = "\
Runs the Alipay sandbox: a simulator of Alipay's side of the in-store AMS API (pay, \
inquiryPayment, cancel, refund, inquiryRefund, registration, inquiryRegistrationStatus, \
inquiryRegistrationInfo under /ams/api/ and /ams/sandbox/api/), with a customer wallet page \
for every order code, signed notifications, and fault injection.

On first start it writes its own \"Alipay\" key pair into DIR (alipay_private_key.pem, mode \
0600, and alipay_public_key.pem: give the public one to the terminal) and reuses it later. \
Payments, refunds, registrations and pending notifications are kept in DIR/sandbox.sqlite \
(in memory with --ephemeral). Prints `sandbox listening on http://ADDR` once it accepts \
connections; stops on Ctrl-C or SIGTERM.

Simulated customers (User-presented pay, paymentMethodId must be 16-24 digits starting 25-30, \
else INVALID_PAYMENT_CODE): ending 0000 or anything else → paid at once; 1111 → U \
PAYMENT_IN_PROCESS until paid through the wallet/control endpoint; 2222 → F \
USER_BALANCE_NOT_ENOUGH; 3333 → F EXPIRED_CODE.

Magic amounts (paymentAmount.value in minor units, any currency, any scenario): 9901 pay \
processed then U UNKNOWN_EXCEPTION; 9902 pay processed then no answer (connection held for \
--hang-time, then broken); 9903 first inquiryPayment answers U; 9904 first inquiryPayment \
hangs; 9905 pay F RISK_REJECT; 9906 pay U PAYMENT_IN_PROCESS.

Control endpoint (loopback peers only, with `Authorization: Bearer TOKEN` where TOKEN is \
the contents of DIR/control.token, 0600, new at every start, also with --ephemeral; PUT \
and POST need `Content-Type: application/json`): GET/PUT/DELETE /sandbox/control/faults, \
POST /sandbox/control/payments/{paymentId}/pay, GET /sandbox/control/ledger, \
GET/POST /sandbox/control/clock ({\"advance_secs\": N}), \
POST /sandbox/control/reports?date=YYYYMMDD.

Reconciliation reports (Alipay's SFTP files: transactionItems, settlementItems, \
settlementSummary) are written under DIR/sftp/v1/settlements/<customerId>/<date>/ once each \
Alipay day (GMT+8) has passed its 23:59:59 cut-off on the sandbox clock, and on demand with \
the control endpoint or `alipay-pos sandbox reports --date YYYYMMDD --dir DIR`.";

#[derive(Debug, Args)]
#[command(
    after_long_help = AFTER_LONG_HELP,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct SandboxArgs {
    /// Boxed: the server's flags already make `SandboxArgs` the largest command.
    #[command(subcommand)]
    command: Option<Box<SandboxCommand>>,

    /// Address to listen on (port 0 picks a free one). A non-loopback address needs --allow-lan.
    #[arg(long, value_name = "ADDR", default_value = options::DEFAULT_LISTEN)]
    listen: SocketAddr,

    /// Folder for the simulator's key pair and ledger (created if missing).
    #[arg(long, value_name = "DIR", required = true)]
    data_dir: Option<PathBuf>,

    /// A merchant allowed to call: CLIENT_ID=PATH of its public key (PEM or one-line base64).
    /// If no file exists at PATH, the text after `=` is read as the one-line base64 key itself.
    /// Repeat for more merchants.
    #[arg(long = "client", value_name = "CLIENT_ID=KEY", required = true)]
    clients: Vec<String>,

    /// Allow listening on a non-loopback address, so phones on the LAN can open wallet pages.
    #[arg(long)]
    allow_lan: bool,

    /// Base URL put into QR codes (wallet pages), e.g. http://192.168.1.20:8090
    /// [default: http://ADDR]
    #[arg(long, value_name = "URL")]
    public_url: Option<Url>,

    /// Keep payments, refunds and registrations in memory instead of DIR/sandbox.sqlite.
    #[arg(long)]
    ephemeral: bool,

    /// Seconds an order code stays payable when the request has no paymentExpiryTime.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    order_code_expiry: u64,

    /// Seconds after payment during which cancel still reverses a paid payment
    /// (later: CANCEL_WINDOW_EXCEED).
    #[arg(long, value_name = "SECS", default_value_t = 86_400)]
    cancel_window: u64,

    /// Seconds after payment during which refunds are accepted (later: REFUND_WINDOW_EXCEED).
    #[arg(long, value_name = "SECS", default_value_t = 31_536_000)]
    refund_window: u64,

    /// Seconds a registration stays PENDING before it is approved (and notified).
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    registration_delay: u64,

    /// Multiplies the notification resend schedule (0 s, 2 min, 10 min, 10 min, 1 h, 2 h, 6 h,
    /// 15 h); e.g. 0.001 for tests.
    #[arg(long, value_name = "F", default_value_t = 1.0)]
    time_scale: f64,

    /// The simulated wallet allows one refund per payment (MULTIPLE_REFUNDS_NOT_SUPPORTED).
    #[arg(long)]
    single_refund: bool,

    /// Seconds magic amounts 9902/9904 hold a request before breaking the connection.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    hang_time: u64,

    /// Fault: milliseconds added before every gateway answer.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    latency_ms: u64,

    /// Fault: share of requests answered HTTP 500/503 without processing (0 to 1).
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    http_5xx_rate: f64,

    /// Fault: share of requests processed and committed, then left without an answer.
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    drop_response_rate: f64,

    /// Fault: share of requests processed, then answered U UNKNOWN_EXCEPTION.
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    unknown_result_rate: f64,

    /// Fault: share of requests processed, then answered with a corrupted signature.
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    bad_signature_rate: f64,

    /// Fault: the gateway breaks every connection without processing.
    #[arg(long)]
    down: bool,

    /// Fault: never send notifications.
    #[arg(long)]
    suppress_notifications: bool,

    /// Limit the gateway faults to these APIs (comma-separated: pay,inquiryPayment,...).
    #[arg(long, value_name = "API,...", value_delimiter = ',')]
    fault_apis: Option<Vec<String>>,

    /// Apply the fault flags to this client id only (default: to every client).
    #[arg(long, value_name = "CLIENT_ID")]
    fault_client: Option<String>,

    /// Alipay's fee on every settled transaction, in basis points (60 = 0.60 %), rounded
    /// half away from zero per row in minor units; shown in the settlement reports.
    #[arg(long, value_name = "BPS", default_value_t = DEFAULT_FEE_RATE_BPS)]
    fee_rate_bps: u32,

    /// What a day without transactions publishes: `file` (a transactionItems file with the
    /// header and <END> only) or `none` (no file).
    #[arg(long, value_name = "WHAT", value_enum, default_value_t = EmptyDays::File)]
    empty_days: EmptyDays,
}

/// `--empty-days`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum EmptyDays {
    File,
    None,
}

impl From<EmptyDays> for EmptyDay {
    fn from(value: EmptyDays) -> Self {
        match value {
            EmptyDays::File => EmptyDay::EmptyFile,
            EmptyDays::None => EmptyDay::NoFile,
        }
    }
}

#[derive(Debug, Subcommand)]
enum SandboxCommand {
    /// Publish one Alipay day's reconciliation reports from a sandbox's ledger (running or
    /// not) and print the files written.
    ///
    /// Writes DIR/sftp/v1/settlements/<customerId>/<date>/transactionItems_<date>_000.csv
    /// and, in the folder of the next day (settlement T+1), per currency
    /// settlementItems_<currency>_<batchId>_000.csv and
    /// settlementSummary_<currency>_<batchId>_000.csv.
    /// The day must have passed its cut-off (23:59:59 GMT+8) on this computer's clock.
    /// Exit status 0 written, 1 a bad date, a day not over or no ledger in DIR, 4 the files
    /// cannot be written.
    Reports(ReportsArgs),
}

#[derive(Debug, Args)]
struct ReportsArgs {
    /// The Alipay day (GMT+8), written YYYYMMDD.
    #[arg(long, value_name = "YYYYMMDD")]
    date: String,

    /// The sandbox's data folder (the one holding sandbox.sqlite) [default: the configured
    /// terminal's DATA_DIR/sandbox, its embedded sandbox].
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,

    /// The fee rate in basis points [default: the one the sandbox last started with].
    #[arg(long, value_name = "BPS")]
    fee_rate_bps: Option<u32>,

    /// `file` or `none` for a day without transactions [default: what the sandbox last
    /// started with].
    #[arg(long, value_name = "WHAT", value_enum)]
    empty_days: Option<EmptyDays>,
}

impl SandboxArgs {
    fn faults(&self) -> Option<FaultSettings> {
        let faults = FaultSettings {
            client_id: None,
            latency_ms: self.latency_ms,
            http_5xx_rate: self.http_5xx_rate,
            drop_response_rate: self.drop_response_rate,
            unknown_result_rate: self.unknown_result_rate,
            bad_signature_rate: self.bad_signature_rate,
            down: self.down,
            suppress_notifications: self.suppress_notifications,
            apis: self.fault_apis.clone(),
            ..FaultSettings::default()
        };
        (faults != FaultSettings::default()).then(|| FaultSettings {
            client_id: self.fault_client.clone(),
            ..faults
        })
    }

    fn options(&self) -> Result<SandboxOptions, CliError> {
        let Some(data_dir) = &self.data_dir else {
            return Err(CliError::usage(
                "alipay-pos sandbox needs --data-dir DIR (and --client ID=KEY)",
            ));
        };
        let mut o = SandboxOptions::new(data_dir);
        o.listen = self.listen;
        o.allow_lan = self.allow_lan;
        o.public_url = self.public_url.clone();
        o.ephemeral = self.ephemeral;
        o.clients = self
            .clients
            .iter()
            .map(|spec| ClientRegistration::parse(spec))
            .collect::<Result<_, _>>()?;
        o.order_code_expiry = Duration::from_secs(self.order_code_expiry);
        o.cancel_window = Duration::from_secs(self.cancel_window);
        o.refund_window = Duration::from_secs(self.refund_window);
        o.registration_delay = Duration::from_secs(self.registration_delay);
        o.time_scale = self.time_scale;
        o.single_refund = self.single_refund;
        o.hang_time = Duration::from_secs(self.hang_time);
        o.faults = self.faults();
        o.fee_rate_bps = self.fee_rate_bps;
        o.empty_day = self.empty_days.into();
        o.check()?;
        Ok(o)
    }
}

pub fn run(args: SandboxArgs, config: Option<&std::path::Path>) -> CliResult {
    if let Some(command) = &args.command {
        let SandboxCommand::Reports(reports) = command.as_ref();
        return publish_reports(reports, config);
    }
    let options = args.options()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::cannot_work(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(serve(options))
}

async fn serve(options: SandboxOptions) -> CliResult {
    if options.public_url.is_none() && options.listen.ip().is_unspecified() {
        eprintln!(
            "warning: QR codes will point at http://{}, which phones cannot open; pass \
             --public-url http://<this machine's LAN address>:{}",
            options.listen,
            options.listen.port()
        );
    }
    let clients: Vec<String> = options
        .clients
        .iter()
        .map(|c| c.client_id.clone())
        .collect();
    let running = crate::sandbox::start(options).await?;
    eprintln!(
        "Alipay public key (give it to the terminal): {}",
        running.alipay_public_key_path().display()
    );
    if let Ok(fingerprint) = crate::ams::keys::fingerprint(running.alipay_public_key()) {
        eprintln!("Alipay key fingerprint: {fingerprint}");
    }
    eprintln!(
        "control token (for /sandbox/control/..., new at every start): {}",
        running.control_token_path().display()
    );
    eprintln!("clients: {}", clients.join(", "));
    eprintln!("wallet pages: {}wallet/...", running.public_url());
    println!("sandbox listening on http://{}", running.local_addr());
    let _ = std::io::stdout().flush();
    stop_requested().await;
    eprintln!("stopping the sandbox…");
    running.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// `alipay-pos sandbox reports`: one day's files, one path a line on stdout.
fn publish_reports(args: &ReportsArgs, config: Option<&std::path::Path>) -> CliResult {
    let dir = match &args.dir {
        Some(dir) => dir.clone(),
        None => crate::config::Config::discover(config)?
            .storage
            .data_dir
            .join(crate::sandbox::embedded::SANDBOX_DIR),
    };
    let files = reports::publish_from_dir(
        &dir,
        &args.date,
        args.fee_rate_bps,
        args.empty_days.map(EmptyDay::from),
    )?;
    let mut out = std::io::stdout().lock();
    for file in &files {
        writeln!(out, "{}", file.display())?;
    }
    if files.is_empty() {
        eprintln!(
            "no report files for {} (a day without transactions, with --empty-days none) · {} 没有报告文件",
            args.date, args.date
        );
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C, or SIGTERM (what service managers and `kill` send).
pub(super) async fn stop_requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
