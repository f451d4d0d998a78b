//! Wiring: turns a [`Config`] into a running engine — journal, verified client (to the real
//! gateway or the embedded sandbox), notification receiver — so the CLI and the GUI start
//! the same thing the same way.

use std::net::SocketAddr;
use std::path::PathBuf;

use tokio::sync::mpsc;
use url::Url;

use crate::ams::client::{AmsClient, ClientSettings};
use crate::ams::keys::{self, KeyPairError, LoadedKeys};
use crate::ams::models::{
    Address, ContactInfo, Logo, Merchant, MerchantRegistrationInfo, RegistrationDetail, Store,
    StoreRegistrationInfo, WebSite,
};
use crate::checkout::receiver::{self, Notification, ReceivedNotification, RunningReceiver};
use crate::checkout::{Checkout, CheckoutSettings, Policy, Recovery, RegistrationDetails};
use crate::config::{Config, ConfigError, ContactKind, PostalAddress, RegistrationConfig};
use crate::hub_link::shipper::{
    BATCH_EVENTS, SHIP_INTERVAL, Shipper, ShipperSettings, ShippingState,
};
pub use crate::hub_link::store::{
    StoreClient, StoreError, StorePaymentDetail, StoreRefund, StoreTotals, StoreTransaction,
    StoreTransactionsQuery, demo_transaction as demo_store_transaction,
};
use crate::hub_link::{HubLink, HubToken, LinkSettings, LinkState};
use crate::journal::{Journal, JournalError, PaymentRecord, Reader};
use crate::sandbox::SandboxOptions;
use crate::sandbox::embedded::{self, EmbeddedSandbox};

/// The embedded sandbox's simulated customer, for the faces' demo buttons (which may not
/// name the sandbox themselves).
pub use crate::sandbox::embedded::DemoCustomer;

/// The path the notification receiver is told to expect (any path works; this one reads well).
pub const NOTIFY_PATH: &str = "/alipay/notify";

#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("cannot create the data folder {path}: {reason}; check `storage.data_dir`")]
    DataDir { path: PathBuf, reason: String },
    #[error("cannot open the journal: {0}")]
    Journal(#[from] crate::journal::JournalError),
    #[error("cannot start the embedded sandbox: {0}")]
    Sandbox(#[source] crate::sandbox::SandboxError),
    /// A real-gateway configuration whose gateway yields no base URL. Configuration
    /// validation rules this out, so seeing it means the config and this build disagree.
    #[error(
        "the configured gateway `{gateway}` has no URL; set `alipay.gateway` to \"north-america\", \"asia\", \"europe\" or an https:// URL"
    )]
    GatewayWithoutUrl { gateway: String },
    #[error("cannot set up the Alipay client: {0}")]
    Client(#[from] crate::ams::client::RequestError),
    #[error("cannot start the notification receiver on {address}: {reason}")]
    Receiver { address: SocketAddr, reason: String },
    #[error(
        "another alipay-pos (the terminal or a `pay`, `cancel`, `refund` or `resolve` command) is using {data_dir}; wait for it to finish or close it, then try again"
    )]
    Busy { data_dir: PathBuf },
    #[error(
        "--require-live (or ALIPAY_POS_REQUIRE_LIVE) refuses the embedded sandbox, which {origin} selects: nothing there is real money. Give a config file with a real gateway (`--config PATH`, with `alipay.gateway` set to \"north-america\", \"asia\", \"europe\" or your https:// gateway, and your keys), or leave out --require-live for the demo"
    )]
    SandboxRefused { origin: crate::config::ConfigSource },
    #[error("`hub.token_file`: {0}")]
    HubToken(String),
    #[error("cannot start the link to the store hub: {0}")]
    HubLink(String),
    #[error("start-up stopped unexpectedly ({0}); start the terminal again, nothing is lost")]
    StartInterrupted(#[source] tokio::task::JoinError),
}

/// Runs one blocking start-up step (file system, key parsing, the CA bundle, SQLite) on the
/// blocking pool: `start` is async, and none of this may stall a tokio worker, let alone
/// the UI thread that waits for the engine.
async fn blocking<T: Send + 'static>(
    step: impl FnOnce() -> Result<T, TerminalError> + Send + 'static,
) -> Result<T, TerminalError> {
    tokio::task::spawn_blocking(step)
        .await
        .map_err(TerminalError::StartInterrupted)?
}

/// `--require-live`: refuses a configuration that would run the embedded sandbox, so that a
/// till whose config file went missing (or whose `ALIPAY_POS_CONFIG` has a typo) cannot
/// quietly take demo "payments". Every face that starts the engine calls it first.
pub fn require_live(config: &Config, required: bool) -> Result<(), TerminalError> {
    if required && config.is_sandbox() {
        return Err(TerminalError::SandboxRefused {
            origin: config.source.clone(),
        });
    }
    Ok(())
}

/// A started terminal. Keep it alive as long as payments are being taken.
pub struct Terminal {
    pub checkout: Checkout,
    pub config: Config,
    sandbox: Option<EmbeddedSandbox>,
    receiver: RunningReceiver,
    fingerprints: KeyFingerprints,
    notify_url: Option<Url>,
    /// The outbound connection to the store hub, when `[hub] url` is set.
    hub_link: Option<HubLink>,
    /// Ships the journal to the store hub, when `[hub] url` is set.
    shipper: Option<Shipper>,
    /// Reads the whole store's views at the hub, when `[hub] url` is set.
    store_client: Option<StoreClient>,
    /// Held for the terminal's whole life; the OS releases it when the process dies, even by
    /// SIGKILL, so a crash never leaves the data folder locked.
    _data_dir_lock: std::fs::File,
}

/// SHA-256 fingerprints of the keys in use, for screens that must identify them without
/// showing anything secret (the manager's settings view).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFingerprints {
    /// Of the merchant's public key: the half uploaded to Alipay.
    pub merchant: String,
    /// Of Alipay's public key that answers are verified with.
    pub alipay: String,
}

/// The file whose lock marks a data folder as in use by one engine.
pub const LOCK_FILE: &str = "alipay-pos.lock";

/// One engine per data folder: the per-payment locks that keep the poller, notifications,
/// cancels and the resolver from interleaving only work inside one process, so a second
/// process (a `pay` while the GUI runs) must not drive the same journal.
fn lock_data_dir(data_dir: &std::path::Path) -> Result<std::fs::File, TerminalError> {
    let path = data_dir.join(LOCK_FILE);
    let io_error = |e: std::io::Error| TerminalError::DataDir {
        path: path.clone(),
        reason: e.to_string(),
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_error)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(TerminalError::Busy {
            data_dir: data_dir.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(io_error(e)),
    }
}

impl Terminal {
    /// A new read-only connection to this terminal's journal: the read model the faces
    /// list, show and count payments through, without queueing behind the engine's writes.
    /// Opening one is file I/O: call it off the UI thread.
    pub fn reader(&self) -> Result<Reader, JournalError> {
        Reader::open_in(&self.config.storage.data_dir)
    }

    /// Opens the journal, connects to the gateway (starting the embedded sandbox if the
    /// config says so) and starts the notification receiver. Does not start the resolver:
    /// long-running faces call [`Terminal::start_background_work`].
    pub async fn start(config: Config, policy: Policy) -> Result<Terminal, TerminalError> {
        Self::start_with(config, policy, |_| {}).await
    }

    /// Like [`Terminal::start`], with a chance to adjust the embedded sandbox's options
    /// (expiry, windows, faults); ignored for a real gateway. Demos and tests use it.
    ///
    /// The options start from the config's `[sandbox]` table (listen address, LAN access,
    /// public URL), and `adjust_sandbox` runs after that, so it can override them.
    pub async fn start_with(
        config: Config,
        policy: Policy,
        adjust_sandbox: impl FnOnce(&mut SandboxOptions),
    ) -> Result<Terminal, TerminalError> {
        let data_dir = config.storage.data_dir.clone();
        let data_dir_lock = blocking({
            let data_dir = data_dir.clone();
            move || {
                // 0700: the folder holds the journal, the logs and (demo) the sandbox's keys.
                crate::private_fs::private_dir(&data_dir).map_err(|e| TerminalError::DataDir {
                    path: data_dir.clone(),
                    reason: e.to_string(),
                })?;
                lock_data_dir(&data_dir)
            }
        })
        .await?;
        let (sandbox, base_url, client_id, merchant_key, alipay_key) = if config.is_sandbox() {
            // `[sandbox]` first, so a caller's adjustments (tests, demos) still win.
            let lan = &config.sandbox;
            let sandbox = embedded::start_with(&data_dir, &config.alipay.client_id, |options| {
                options.listen = lan.listen;
                options.allow_lan = lan.reachable_from_lan();
                options.public_url = lan.public_url.clone();
                adjust_sandbox(options);
            })
            .await
            .map_err(TerminalError::Sandbox)?;
            let base = sandbox.local_url();
            let merchant = sandbox.merchant_private_key().clone();
            let alipay = sandbox.alipay_public_key().clone();
            (
                Some(sandbox),
                base,
                config.alipay.client_id.clone(),
                merchant,
                alipay,
            )
        } else {
            let keys = blocking({
                let config = config.clone();
                move || {
                    load_keys(&config)?.ok_or(TerminalError::Config(
                        crate::config::ConfigError::missing_keys(&config),
                    ))
                }
            })
            .await?;
            let base = config.alipay.gateway.base_url().ok_or_else(|| {
                TerminalError::GatewayWithoutUrl {
                    gateway: config.alipay.gateway.name(),
                }
            })?;
            (
                None,
                base,
                config.alipay.client_id.clone(),
                keys.merchant_private_key,
                keys.alipay_public_key,
            )
        };

        let (to_engine, from_receiver) = mpsc::channel::<ReceivedNotification>(64);
        let listen: SocketAddr = if sandbox.is_some() {
            SocketAddr::from(([127, 0, 0, 1], 0))
        } else {
            config.payment.notify_listen
        };
        let hub_url = config.hub.as_ref().and_then(|hub| hub.url.clone());
        // Read before anything listens: a missing token is a configuration mistake.
        let hub_token = match config.hub.as_ref().and_then(|hub| hub.token_file.clone()) {
            Some(path) if hub_url.is_some() => Some(
                blocking(move || HubToken::read(&path).map_err(TerminalError::HubToken)).await?,
            ),
            _ => None,
        };
        let to_engine_from_hub = to_engine.clone();
        let receiver = receiver::start(listen, alipay_key.clone(), client_id.clone(), to_engine)
            .await
            .map_err(|e| TerminalError::Receiver {
                address: listen,
                reason: e.to_string(),
            })?;
        // With a hub, Alipay posts to the hub (which relays over the terminal's own
        // connection), the sandbox's notifier included; a live terminal's
        // `payment.notify_url` still wins.
        let hub_notify_url = config.hub.as_ref().and_then(|hub| {
            hub.url.as_ref()?;
            hub.notify_url()
        });
        let notify_url = if sandbox.is_some() {
            match hub_notify_url {
                Some(url) => Some(url),
                None => {
                    let local = format!("http://{}{NOTIFY_PATH}", receiver.address);
                    Some(Url::parse(&local).map_err(|e| TerminalError::Receiver {
                        address: receiver.address,
                        reason: format!("no URL for it: {e}"),
                    })?)
                }
            }
        } else {
            config.payment.notify_url.clone().or(hub_notify_url)
        };
        if notify_url.is_none() {
            // Said once, at start: every payment is then settled by polling, and by whatever
            // notification URL the merchant set in Alipay's dashboard.
            tracing::info!(
                listen = %receiver.address,
                "no `payment.notify_url`: `pay` requests carry no paymentNotifyUrl; payments \
                 are followed by polling inquiryPayment, and Alipay posts results only to a \
                 notification URL configured in its dashboard (which should reach this \
                 receiver)"
            );
        }

        let mut settings = ClientSettings::new(base_url, client_id);
        settings.key_version = config.alipay.key_version.clone();
        settings.connect_timeout = config.alipay.connect_timeout();
        settings.request_timeout = config.alipay.request_timeout();
        let fingerprint = |key: &crate::ams::crypto::PublicKey| {
            crate::ams::keys::fingerprint(key).unwrap_or_else(|error| format!("({error})"))
        };
        let fingerprints = KeyFingerprints {
            merchant: fingerprint(&merchant_key.public_key()),
            alipay: fingerprint(&alipay_key),
        };
        let alipay_key_for_hub = alipay_key.clone();
        let (client, journal) = blocking({
            let data_dir = data_dir.clone();
            let terminal_id = config.store.terminal_id.clone();
            let store_id = config.store.reference_store_id.clone();
            move || {
                // Builds the HTTPS client, which loads and parses the system's CA bundle.
                let client = AmsClient::new(settings, merchant_key, alipay_key)?;
                // Opens (and if need be migrates) the journal: synchronous=FULL disk writes.
                let mut journal = Journal::open_in(&data_dir)?;
                journal.bind_identity(&terminal_id, &store_id)?;
                Ok((client, journal))
            }
        })
        .await?;
        let checkout = Checkout::new(
            client,
            journal,
            CheckoutSettings {
                merchant: merchant_of(&config),
                terminal_id: config.store.terminal_id.clone(),
                notify_url: notify_url.clone(),
                registration: config
                    .registration
                    .as_ref()
                    .map(|details| registration_of(&config, details)),
            },
            policy,
        );
        spawn_notification_consumer(checkout.clone(), from_receiver);
        if let (Some(url), Some(token)) = (&hub_url, &hub_token) {
            let gate = crate::hub_link::refunds::HubRefundGate::new(url.clone(), token.clone())
                .map_err(TerminalError::HubLink)?;
            checkout.set_refund_gate(std::sync::Arc::new(gate));
        }
        let hub_link = match (hub_url.clone(), hub_token.clone()) {
            (Some(url), Some(token)) => Some(
                HubLink::start(LinkSettings {
                    url,
                    token,
                    alipay_key: alipay_key_for_hub,
                    client_id: config.alipay.client_id.clone(),
                    to_engine: to_engine_from_hub,
                    entry_results: Some(spawn_entry_result_consumer(checkout.clone())),
                })
                .map_err(TerminalError::HubLink)?,
            ),
            _ => None,
        };
        // Started after the journal was opened (and bound to this terminal), so its first
        // read finds a journal to ship.
        let store_client = match (&hub_url, &hub_token) {
            (Some(url), Some(token)) => {
                Some(StoreClient::new(url.clone(), token.clone()).map_err(TerminalError::HubLink)?)
            }
            _ => None,
        };
        let shipper = match (hub_url, hub_token) {
            (Some(url), Some(token)) => Some(
                Shipper::start(ShipperSettings {
                    url,
                    token,
                    data_dir: data_dir.clone(),
                    interval: SHIP_INTERVAL,
                    batch_events: BATCH_EVENTS,
                })
                .map_err(TerminalError::HubLink)?,
            ),
            _ => None,
        };
        Ok(Terminal {
            checkout,
            config,
            sandbox,
            receiver,
            fingerprints,
            notify_url,
            hub_link,
            shipper,
            store_client,
            _data_dir_lock: data_dir_lock,
        })
    }

    /// Resumes what a previous run left open and starts the background resolver. Returns
    /// the payment whose order code goes back on the customer screen, if `recovery` asks
    /// for one and one is still valid (see [`Checkout::recover`]).
    pub async fn start_background_work(
        &self,
        recovery: Recovery,
    ) -> Result<Option<PaymentRecord>, crate::checkout::CheckoutError> {
        let resumed = self.checkout.recover(recovery).await?;
        let resolver = self.checkout.clone();
        tokio::spawn(async move { resolver.run_resolver().await });
        Ok(resumed)
    }

    /// Where Alipay is told to post payment results (the local receiver with the sandbox);
    /// `None` when `payment.notify_url` is not set and the terminal relies on polling.
    pub fn notify_url(&self) -> Option<&Url> {
        self.notify_url.as_ref()
    }

    pub fn key_fingerprints(&self) -> &KeyFingerprints {
        &self.fingerprints
    }

    /// The embedded sandbox's base URL, when the terminal runs against it (demo mode):
    /// `http://<bound address>`, e.g. `http://0.0.0.0:8090` when it listens on every network.
    /// Order codes use `[sandbox] public_url` instead when it is set.
    pub fn sandbox_url(&self) -> Option<&Url> {
        self.sandbox.as_ref().map(EmbeddedSandbox::base_url)
    }

    /// The embedded sandbox itself, when the terminal runs against it.
    pub fn sandbox(&self) -> Option<&EmbeddedSandbox> {
        self.sandbox.as_ref()
    }

    /// The link to the store hub: `None` without `[hub] url`.
    pub fn hub_link_state(&self) -> Option<LinkState> {
        self.hub_link.as_ref().map(HubLink::state)
    }

    /// Changes of the hub link's state, for faces that show it and for tests.
    pub fn watch_hub_link(&self) -> Option<tokio::sync::watch::Receiver<LinkState>> {
        self.hub_link.as_ref().map(HubLink::watch)
    }

    /// Waits (at most `within`) until the hub link has acknowledged every notification it
    /// took from the hub ([`HubLink::relays_done`]); true at once without a hub.
    pub async fn hub_relays_done(&self, within: std::time::Duration) -> bool {
        match &self.hub_link {
            Some(link) => link.relays_done(within).await,
            None => true,
        }
    }

    /// How far the journal is replicated to the store hub: `None` without `[hub] url`.
    pub fn hub_shipping(&self) -> Option<ShippingState> {
        self.shipper.as_ref().map(Shipper::state)
    }

    /// Changes of the shipping state, for faces that show it and for tests.
    pub fn watch_hub_shipping(&self) -> Option<tokio::sync::watch::Receiver<ShippingState>> {
        self.shipper.as_ref().map(Shipper::watch)
    }

    /// The reader of the whole store's views at the hub (every terminal's payments, the
    /// day's totals): `None` without `[hub] url`. Faces reach the hub only through this.
    pub fn store_client(&self) -> Option<StoreClient> {
        self.store_client.clone()
    }

    pub fn notification_address(&self) -> SocketAddr {
        self.receiver.address
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.receiver.stop();
    }
}

/// Parses the key files named by `alipay.merchant_private_key` and `alipay.alipay_public_key`
/// (config only checked that they are readable files). `Ok(None)` when neither is set, which
/// is only valid for the embedded sandbox (it generates and registers its own keys). Errors
/// name the setting, as the config loader's do, so `config check` reports a bad key file the
/// same way as a bad value.
pub fn load_keys(config: &Config) -> Result<Option<LoadedKeys>, ConfigError> {
    const PRIVATE: &str = "alipay.merchant_private_key";
    const PUBLIC: &str = "alipay.alipay_public_key";
    let (private_path, public_path) = match (
        &config.alipay.merchant_private_key,
        &config.alipay.alipay_public_key,
    ) {
        (None, None) => return Ok(None),
        (Some(private), Some(public)) => (private, public),
        (None, Some(_)) => {
            return Err(ConfigError::invalid_setting(
                config,
                PRIVATE,
                "is missing; set it together with alipay.alipay_public_key",
            ));
        }
        (Some(_), None) => {
            return Err(ConfigError::invalid_setting(
                config,
                PUBLIC,
                "is missing; set it together with alipay.merchant_private_key",
            ));
        }
    };
    keys::load_key_pair(private_path, public_path)
        .map(Some)
        .map_err(|error| {
            let key = match error {
                KeyPairError::MerchantPrivateKey(_) => PRIVATE,
                KeyPairError::AlipayPublicKey(_) => PUBLIC,
            };
            ConfigError::invalid_setting(config, key, error.key_error().to_string())
        })
}

fn merchant_of(config: &Config) -> Merchant {
    Merchant {
        reference_merchant_id: config.merchant.reference_merchant_id.clone(),
        merchant_mcc: config.merchant.mcc.clone(),
        merchant_name: config.merchant.name.clone(),
        store: Store {
            reference_store_id: config.store.reference_store_id.clone(),
            store_name: config.store.name.clone(),
            store_mcc: config.store.mcc.clone(),
            store_terminal_id: Some(config.store.terminal_id.clone()),
            ..Store::default()
        },
        ..Merchant::default()
    }
}

/// The configuration's registration details as Alipay's `registration` carries them: the
/// merchant and store ids, names and MCCs of `[merchant]` and `[store]`, the rest from
/// `[registration]`.
pub fn registration_of(config: &Config, details: &RegistrationConfig) -> RegistrationDetails {
    let address = |a: &PostalAddress| Address {
        region: a.region.clone(),
        state: a.state.clone(),
        city: a.city.clone(),
        address1: a.address1.clone(),
        address2: a.address2.clone(),
        zip_code: a.zip_code.clone(),
        label: None,
    };
    let contacts = details
        .contacts
        .iter()
        .map(|c| ContactInfo {
            contact_no: Some(c.value.clone()),
            contact_type: Some(
                match c.kind {
                    ContactKind::Email => "EMAIL",
                    ContactKind::MobilePhone => "MOBILE_PHONE",
                }
                .to_owned(),
            ),
        })
        .collect();
    RegistrationDetails {
        merchant_info: MerchantRegistrationInfo {
            reference_merchant_id: config.merchant.reference_merchant_id.clone(),
            merchant_display_name: Some(details.display_name.clone()),
            merchant_mcc: Some(config.merchant.mcc.clone()),
            logo: details.logo_url.as_ref().map(|url| Logo {
                logo_name: Some(details.display_name.clone()),
                logo_url: Some(url.to_string()),
            }),
            websites: (!details.websites.is_empty()).then(|| {
                details
                    .websites
                    .iter()
                    .map(|url| WebSite {
                        url: Some(url.to_string()),
                        ..WebSite::default()
                    })
                    .collect()
            }),
            merchant_address: Some(address(&details.merchant_address)),
            registration_detail: Some(RegistrationDetail {
                legal_name: Some(details.legal_name.clone()),
                contact_info: Some(contacts),
                registration_type: Some(details.registration_type.clone()),
                registration_no: Some(details.registration_no.clone()),
                registration_address: Some(address(&details.merchant_address)),
                business_type: Some(details.business_type.clone()),
                ..RegistrationDetail::default()
            }),
        },
        store_info: StoreRegistrationInfo {
            reference_store_id: config.store.reference_store_id.clone(),
            store_name: config.store.name.clone(),
            store_mcc: config.store.mcc.clone(),
            store_address: Some(address(&details.store_address)),
        },
    }
}

/// Journals the Entry Code results the hub relays (the engine's `entry_code_results`) and
/// answers each delivery, so the link acknowledges only what is on disk.
fn spawn_entry_result_consumer(
    checkout: Checkout,
) -> mpsc::Sender<crate::hub_link::EntryResultDelivery> {
    let (sender, mut deliveries) = mpsc::channel::<crate::hub_link::EntryResultDelivery>(16);
    tokio::spawn(async move {
        while let Some(delivery) = deliveries.recv().await {
            let result = delivery.result;
            let record = crate::journal::EntryCodeRecord {
                hub_id: result.id,
                payment_request_id: result.payment_request_id,
                payment_id: result.payment_id,
                store_id: result.store_id,
                counter: result.counter,
                currency: result.currency,
                amount: result.amount_minor,
                outcome: result.outcome,
                result_code: result.result_code,
                order_reference: result.order_reference,
                finished_at: result.finished_at,
            };
            let recorded = match checkout.record_entry_code_result(record).await {
                Ok(_) => true,
                Err(error) => {
                    tracing::warn!(%error, "cannot journal an Entry Code result; the hub sends it again");
                    false
                }
            };
            let _ = delivery.recorded.send(recorded);
        }
    });
    sender
}

fn spawn_notification_consumer(
    checkout: Checkout,
    mut from_receiver: mpsc::Receiver<ReceivedNotification>,
) {
    tokio::spawn(async move {
        while let Some(received) = from_receiver.recv().await {
            let handled = match &received.notification {
                Notification::Payment(payment) => checkout.handle_notification(payment).await,
                Notification::Registration {
                    body_sha256,
                    notification,
                } => {
                    checkout
                        .handle_registration_notification(body_sha256, notification)
                        .await
                }
            };
            let recorded = match handled {
                Ok(()) => true,
                Err(error) => {
                    tracing::error!(%error, "could not record a notification; Alipay will resend it");
                    false
                }
            };
            let _ = received.recorded.send(recorded);
        }
    });
}
