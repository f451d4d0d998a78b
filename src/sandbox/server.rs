//! Starting and stopping a sandbox: keys, ledger, listener, and the background tasks.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use url::Url;

use super::answer::advance;
use super::clock::Clock;
use super::faults::FaultBoard;
use super::ledger::Ledger;
use super::options::{ClientRegistration, Rules, SandboxOptions};
use super::reports::{self, AlipayDay, ReportSettings};
use super::{
    ALIPAY_PRIVATE_KEY_FILE, ALIPAY_PUBLIC_KEY_FILE, LEDGER_FILE, SandboxError, control, gateway,
    notifier, payment_code, wallet,
};
use crate::ams::crypto::{PrivateKey, PublicKey};
use crate::ams::keys;

/// The simulated gateway's state, shared by every request handler and background task. (Not
/// `App`: that is the GUI's Slint window.)
pub(crate) struct GatewayState {
    pub rules: Rules,
    clients: RwLock<HashMap<String, PublicKey>>,
    pub alipay_key: PrivateKey,
    pub ledger: Ledger,
    pub clock: Clock,
    pub faults: FaultBoard,
    /// Base of wallet URLs (no trailing slash).
    pub public_base: String,
    /// Tells the notifier there may be new work.
    pub wake: Notify,
    pub shutdown: watch::Receiver<bool>,
    pub hang_time: Duration,
    pub time_scale: f64,
    /// For notifications: plain HTTP(S) to the merchant's URLs.
    pub http: reqwest::Client,
    /// What `/sandbox/control/...` requests must present as `Bearer` (see [`control`]).
    pub control_token: String,
    /// The sandbox's folder (keys, ledger, control token), for messages.
    pub data_dir: PathBuf,
    /// How the reconciliation reports are made (see [`reports`]).
    pub reports: ReportSettings,
    /// `DATA_DIR/sftp`: the root an SFTP server serves the reports from.
    pub reports_root: PathBuf,
    /// The last Alipay day the automatic publication has published (also in the ledger).
    pub published_through: Mutex<AlipayDay>,
    /// After a failed automatic publication (a full disk, a corrupt ledger row), when to try
    /// again: the sweep runs every few hundred milliseconds and must not fill the log.
    pub reports_retry_at: Mutex<Option<std::time::Instant>>,
}

impl GatewayState {
    pub fn client_key(&self, client_id: &str) -> Option<PublicKey> {
        self.clients
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(client_id)
            .cloned()
    }

    fn add_client(&self, client: ClientRegistration) {
        self.clients
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(client.client_id, client.merchant_public_key);
    }
}

/// Loads a key pair from `dir`, or generates it on first use. The private key is written
/// owner-only and never overwritten. A public file without its private key is refused rather
/// than silently replaced, because someone may have uploaded that public key somewhere.
pub(crate) fn load_or_create_key_pair(
    dir: &Path,
    private_name: &str,
    public_name: &str,
) -> Result<PrivateKey, SandboxError> {
    let private_path = dir.join(private_name);
    let public_path = dir.join(public_name);
    if private_path.exists() {
        let key = keys::load_private_key_file(&private_path)?.key;
        if public_path.exists() {
            let public = keys::load_public_key_file(&public_path)?.key;
            if public != key.public_key() {
                return Err(SandboxError::KeyPairMismatch {
                    public: public_path,
                    private: private_path,
                });
            }
        } else {
            keys::write_public_key_file(
                &public_path,
                &keys::public_key_spki_pem(&key.public_key())?,
            )?;
        }
        return Ok(key);
    }
    if public_path.exists() {
        return Err(SandboxError::PrivateKeyMissing {
            public: public_path,
            private: private_path,
        });
    }
    let key = keys::generate_private_key()?;
    keys::write_private_key_file(&private_path, &keys::private_key_pkcs8_pem(&key)?)?;
    keys::write_public_key_file(&public_path, &keys::public_key_spki_pem(&key.public_key())?)?;
    Ok(key)
}

/// A sandbox serving on its listener. Dropping it asks the tasks to stop; [`Self::shutdown`]
/// also waits for them, which is what releases the ledger file.
pub struct RunningSandbox {
    app: Arc<GatewayState>,
    local_addr: SocketAddr,
    base_url: Url,
    public_url: Url,
    alipay_public_key: PublicKey,
    data_dir: PathBuf,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for RunningSandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningSandbox")
            .field("local_addr", &self.local_addr)
            .field("public_url", &self.public_url.as_str())
            .finish_non_exhaustive()
    }
}

impl RunningSandbox {
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://<bound address>`: where the AMS API, the wallet and the control endpoint are.
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// The base URL put into order codes.
    pub fn public_url(&self) -> &Url {
        &self.public_url
    }

    /// What merchants verify answers and notifications with.
    pub fn alipay_public_key(&self) -> &PublicKey {
        &self.alipay_public_key
    }

    pub fn alipay_public_key_path(&self) -> PathBuf {
        self.data_dir.join(ALIPAY_PUBLIC_KEY_FILE)
    }

    /// The bearer token `/sandbox/control/...` requires in this run (also in
    /// [`Self::control_token_path`]).
    pub fn control_token(&self) -> &str {
        &self.app.control_token
    }

    /// `DATA_DIR/control.token`, 0600, rewritten at each start.
    pub fn control_token_path(&self) -> PathBuf {
        self.data_dir.join(control::TOKEN_FILE)
    }

    /// The sandbox's own HTTP client (plain HTTP, no certificates loaded), for the embedded
    /// sandbox's demo customer.
    pub(super) fn http(&self) -> &reqwest::Client {
        &self.app.http
    }

    /// `DATA_DIR/sftp`: the folder an SFTP server serves, holding
    /// `v1/settlements/<customerId>/<date>/` (see [`reports`]).
    pub fn reports_root(&self) -> PathBuf {
        self.app.reports_root.clone()
    }

    /// `DATA_DIR/sandbox.sqlite`, the ledger the reports are made from (with `ephemeral` the
    /// ledger is in memory and this file is not used).
    pub fn ledger_path(&self) -> PathBuf {
        self.data_dir.join(LEDGER_FILE)
    }

    /// Publishes the reports of the Alipay day `date` (`yyyyMMdd`) for every merchant, now,
    /// and returns the files written. A day whose cut-off the sandbox clock has not passed
    /// is refused ([`SandboxError::Options`]), as is a malformed date.
    pub async fn publish_reports(&self, date: &str) -> Result<Vec<PathBuf>, SandboxError> {
        publish_reports(&self.app, date).await
    }

    /// Accepts requests from one more merchant from now on (or replaces its key).
    pub fn register_client(&self, client: ClientRegistration) {
        self.app.add_client(client);
    }

    /// Stops accepting, finishes in-flight requests (hanging ones are cut short), stops the
    /// notifier and the sweep, and waits for all of it.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Starts a sandbox on the current tokio runtime. When this returns, the listener is bound and
/// accepting, so the caller may announce the address.
pub async fn start(options: SandboxOptions) -> Result<RunningSandbox, SandboxError> {
    options.check()?;
    let dir = options.data_dir.clone();
    let ephemeral = options.ephemeral;
    let report_settings = options.report_settings();
    let report_clients: Vec<String> = options
        .clients
        .iter()
        .map(|c| c.client_id.clone())
        .collect();
    let (alipay_key, ledger, control_token, published_through) =
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir).map_err(|e| SandboxError::DataDir {
                path: dir.clone(),
                reason: e.to_string(),
            })?;
            let key =
                load_or_create_key_pair(&dir, ALIPAY_PRIVATE_KEY_FILE, ALIPAY_PUBLIC_KEY_FILE)?;
            let ledger = if ephemeral {
                Ledger::open_in_memory()?
            } else {
                Ledger::open(&dir.join(LEDGER_FILE))?
            };
            // A fresh sandbox clock is the wall clock.
            let now = super::clock::to_ms(time::OffsetDateTime::now_utc());
            let through = reports::prepare(&ledger, &report_settings, &report_clients, now)?;
            // A new token at every start (also with --ephemeral: the keys live in the folder
            // anyway), so one read by someone once does not work forever.
            let token = control::new_token().map_err(SandboxError::Random)?;
            let token_path = dir.join(control::TOKEN_FILE);
            crate::private_fs::write_private(&token_path, token.as_bytes()).map_err(|e| {
                SandboxError::DataDir {
                    path: token_path.clone(),
                    reason: e.to_string(),
                }
            })?;
            Ok::<_, SandboxError>((key, ledger, token, through))
        })
        .await
        .map_err(|e| SandboxError::Interrupted(e.to_string()))??;

    let listener = TcpListener::bind(options.listen)
        .await
        .map_err(|e| SandboxError::Listen {
            addr: options.listen.to_string(),
            reason: e.to_string(),
        })?;
    let local_addr = listener.local_addr().map_err(|e| SandboxError::Listen {
        addr: options.listen.to_string(),
        reason: e.to_string(),
    })?;
    let base_url =
        Url::parse(&format!("http://{local_addr}")).map_err(|e| SandboxError::Listen {
            addr: local_addr.to_string(),
            reason: e.to_string(),
        })?;
    let public_url = options
        .public_url
        .clone()
        .unwrap_or_else(|| base_url.clone());
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("alipay-pos-sandbox/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(SandboxError::HttpClient)?;

    let (stop, stop_rx) = watch::channel(false);
    let alipay_public_key = alipay_key.public_key();
    let app = Arc::new(GatewayState {
        rules: Rules::from(&options),
        clients: RwLock::new(HashMap::new()),
        alipay_key,
        ledger,
        clock: Clock::default(),
        faults: FaultBoard::new(options.faults.clone()),
        public_base: public_url.as_str().trim_end_matches('/').to_owned(),
        wake: Notify::new(),
        shutdown: stop_rx.clone(),
        hang_time: options.hang_time,
        time_scale: options.time_scale,
        http,
        control_token,
        data_dir: options.data_dir.clone(),
        reports: options.report_settings(),
        reports_root: options.data_dir.join(reports::SFTP_DIR),
        published_through: Mutex::new(published_through),
        reports_retry_at: Mutex::new(None),
    });
    for client in options.clients.iter().cloned() {
        app.add_client(client);
    }

    let router = Router::new()
        // A static segment wins over `{token}`, so the payment-code page has its own route.
        .route("/wallet/payment-code", get(payment_code::page))
        .route("/wallet/{token}", get(wallet::page))
        .route("/wallet/{token}/pay", post(wallet::pay_handler))
        .route("/wallet/{token}/decline", post(wallet::decline_handler))
        .merge(control::router(app.clone()))
        .fallback(gateway::handle)
        .with_state(app.clone());
    let mut server_stop = stop_rx.clone();
    let server = tokio::spawn(async move {
        let served = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = server_stop.wait_for(|stopped| *stopped).await;
        })
        .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "sandbox server stopped with an error");
        }
    });
    let notifier = tokio::spawn(notifier::run(app.clone()));
    let sweeper = tokio::spawn(sweep(app.clone(), options.sweep_interval));
    tracing::info!(%local_addr, public = %public_url, "sandbox started");
    Ok(RunningSandbox {
        app,
        local_addr,
        base_url,
        public_url,
        alipay_public_key,
        data_dir: options.data_dir,
        stop,
        tasks: vec![server, notifier, sweeper],
    })
}

/// Publishes one day's reports now (the control endpoint and [`RunningSandbox`]).
pub(crate) async fn publish_reports(
    app: &Arc<GatewayState>,
    date: &str,
) -> Result<Vec<PathBuf>, SandboxError> {
    let day = AlipayDay::parse(date)?;
    let worker = app.clone();
    tokio::task::spawn_blocking(move || {
        let now = worker.clock.now_ms();
        reports::publish(
            &worker.ledger,
            &worker.reports_root,
            day,
            &worker.reports,
            now,
        )
    })
    .await
    .map_err(|e| SandboxError::Interrupted(e.to_string()))?
}

/// Publishes the reports of every day whose cut-off the sandbox clock has passed since the
/// last publication. Cheap when nothing is due (one comparison), so the sweep calls it every
/// time.
async fn publish_due_reports(app: &Arc<GatewayState>) {
    let now = app.clock.now_ms();
    let through = *app
        .published_through
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if AlipayDay::of_ms(now).previous() <= through {
        return;
    }
    let retry_at = *app
        .reports_retry_at
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if retry_at.is_some_and(|at| std::time::Instant::now() < at) {
        return;
    }
    let worker = app.clone();
    let published = tokio::task::spawn_blocking(move || {
        reports::publish_due(
            &worker.ledger,
            &worker.reports_root,
            &worker.reports,
            through,
            now,
        )
    })
    .await;
    match published {
        Ok(Ok((through, files))) => {
            tracing::info!(%through, files = files.len(), "sandbox published the reconciliation reports");
            *app.published_through
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = through;
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, retry_in_secs = REPORTS_RETRY.as_secs(), "sandbox could not publish its reports");
            *app.reports_retry_at
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some(std::time::Instant::now() + REPORTS_RETRY);
        }
        Err(e) => tracing::error!(error = %e, "sandbox report task failed"),
    }
}

/// How long the automatic publication waits after a failure before trying again.
const REPORTS_RETRY: Duration = Duration::from_secs(30);

/// Applies due transitions in the background, so codes close and registrations complete (and
/// notify) even when nobody asks, and publishes the reports of each day once its cut-off has
/// passed.
async fn sweep(app: Arc<GatewayState>, every: Duration) {
    let mut stop = app.shutdown.clone();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|stopped| *stopped) => break,
        }
        let worker = app.clone();
        let swept = tokio::task::spawn_blocking(move || {
            let now = worker.clock.now_ms();
            worker.ledger.run(|tx| advance(tx, now))
        })
        .await;
        match swept {
            Ok(Ok(true)) => app.wake.notify_one(),
            Ok(Ok(false)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "sandbox sweep failed"),
            Err(e) => tracing::error!(error = %e, "sandbox sweep task failed"),
        }
        publish_due_reports(&app).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/testvectors")
            .join(name)
    }

    #[test]
    fn key_pair_files_that_do_not_belong_together_are_refused_by_kind() {
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("k.pem");
        let public = dir.path().join("k.pub.pem");
        std::fs::copy(vector("merchant_private_key_pkcs8.pem"), &private).unwrap();
        std::fs::copy(vector("alipay_public_key.pem"), &public).unwrap();
        let error = load_or_create_key_pair(dir.path(), "k.pem", "k.pub.pem").unwrap_err();
        assert!(
            matches!(&error, SandboxError::KeyPairMismatch { public: p, private: k }
                if *p == public && *k == private),
            "{error:?}"
        );
        assert!(
            error.to_string().contains("is not the public half of"),
            "{error}"
        );

        std::fs::remove_file(&private).unwrap();
        let error = load_or_create_key_pair(dir.path(), "k.pem", "k.pub.pem").unwrap_err();
        assert!(
            matches!(error, SandboxError::PrivateKeyMissing { .. }),
            "{error:?}"
        );

        // A private key alone gets its public half written next to it.
        std::fs::remove_file(&public).unwrap();
        std::fs::copy(vector("merchant_private_key_pkcs8.pem"), &private).unwrap();
        let key = load_or_create_key_pair(dir.path(), "k.pem", "k.pub.pem").unwrap();
        assert_eq!(
            keys::load_public_key_file(&public).unwrap().key,
            key.public_key()
        );
    }
}
