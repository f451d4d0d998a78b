//! The terminal's configuration file.
//!
//! A terminal must work out of the box for a demo, so with no file at all every setting has a
//! default and the defaults select the embedded sandbox. Once a merchant goes live the same file
//! names the Alipay gateway, the client ID and the key files; everything is checked when the
//! file is loaded, so a typo is reported at start-up with the file, the key and a fix, rather
//! than as a signature failure in front of a customer.
//!
//! Parsing happens in two steps: serde reads the TOML into "raw" structs where every key is
//! optional (so missing keys can fall back to defaults and unknown keys are caught by
//! `deny_unknown_fields`), then a validator turns them into the typed, checked [`Config`].
//!
//! This module only reads text: it checks that the key files exist, are files and can be
//! opened, but never parses a key. Turning them into RSA keys is cryptography, which belongs
//! to the wiring (`terminal::load_keys`), so config imports nothing of the protocol layer.
//!
//! Pieces, by concern:
//! * this file: the public types a loaded configuration is made of, and [`ConfigError`];
//! * `raw`: the serde shapes of the file, every key optional;
//! * `parse`: reading the file and turning toml's errors into messages that name the line
//!   and the key;
//! * `validate`: the `Validator`, raw values to a checked [`Config`];
//! * `discover`: the defaults, and where the file is looked for;
//! * `printer`: `[printer]`, the receipt printer.

mod demo;
mod discover;
mod parse;
mod printer;
mod raw;
mod registration;
mod validate;

#[cfg(test)]
mod test_support;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use url::Url;

pub use demo::demo_catalog;
pub use printer::{
    DEFAULT_PRINTER_PORT, DEFAULT_PRINTER_TIMEOUT_MS, PREVIEW_FOLDER, PrinterConfig, PrinterKind,
    ReceiptEncoding,
};
pub use registration::{Contact, ContactKind, PostalAddress, RegistrationConfig};

use crate::locale::Locale;
use crate::money::{Currency, Money};

/// File name looked for inside the OS config folder.
pub const CONFIG_FILE_NAME: &str = "config.toml";

/// Port the notification receiver listens on by default (loopback, behind a reverse proxy).
pub const DEFAULT_NOTIFY_PORT: u16 = 8091;

/// Wrong manager PINs in a row before the screen locks.
pub const DEFAULT_MAX_PIN_ATTEMPTS: u32 = 5;
/// How long the manager screen stays locked after too many wrong PINs.
pub const DEFAULT_LOCKOUT_SECONDS: u64 = 300;

/// `[scanner] max_key_gap_ms` by default: scanners send keys a few ms apart, people rarely
/// type two keys within 100 ms.
pub const DEFAULT_SCANNER_MAX_KEY_GAP_MS: u64 = 100;
/// The range `[scanner] max_key_gap_ms` accepts: below 10 ms a USB scanner's own gaps count
/// as typing; above a second every typist is a scanner.
pub const SCANNER_MAX_KEY_GAP_MS_RANGE: std::ops::RangeInclusive<u64> = 10..=1000;
/// `[scanner] min_length` by default: the shortest payment code has 16 digits.
pub const DEFAULT_SCANNER_MIN_LENGTH: usize = 16;
/// The range `[scanner] min_length` accepts.
pub const SCANNER_MIN_LENGTH_RANGE: std::ops::RangeInclusive<usize> = 4..=128;
/// Longest `[scanner] prefix` or `suffix`, in characters (scanners allow a few).
pub const MAX_SCANNER_AFFIX_CHARS: usize = 8;

/// Most quick items a catalog may hold: more do not fit the screens as touch targets.
pub const MAX_CATALOG_ITEMS: usize = 48;

/// Used when the OS reports no home directory (some service accounts and containers), so the
/// terminal can still run; relative, i.e. inside whatever directory it was started from.
pub const FALLBACK_DATA_DIR: &str = "./alipay-pos-data";

/// The embedded sandbox's client ID. The `SANDBOX_` prefix is how Alipay marks sandbox client
/// IDs, so logs and records made against the sandbox are recognisable as such.
pub const SANDBOX_CLIENT_ID: &str = "SANDBOX_ALIPAYPOS_DEMO";

const GATEWAY_CHOICES: &str =
    "use \"sandbox\", \"north-america\", \"asia\", \"europe\" or an https:// URL";

/// Where a [`Config`] came from, so every message about it can say which file to edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    File(PathBuf),
    Defaults,
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigSource::File(path) => write!(f, "{}", path.display()),
            ConfigSource::Defaults => f.write_str("built-in defaults"),
        }
    }
}

/// Which Alipay the terminal talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gateway {
    /// The simulator built into this program; needs no account or keys.
    Sandbox,
    NorthAmerica,
    Asia,
    Europe,
    /// Anything else reachable over HTTP(S): another Alipay domain, a proxy or an external
    /// simulator.
    Custom(Url),
}

impl Gateway {
    /// The address requests go to, or `None` for the embedded sandbox, whose address (a local
    /// port) is only known once it is running.
    ///
    /// The regional names map to Alipay's "accelerated" domains, which its docs recommend over
    /// the plain ones.
    pub fn base_url(&self) -> Option<Url> {
        let fixed = match self {
            Gateway::Sandbox => return None,
            Gateway::Custom(url) => return Some(url.clone()),
            Gateway::NorthAmerica => "https://open-na-global.alipay.com",
            Gateway::Asia => "https://open-sea-global.alipay.com",
            Gateway::Europe => "https://open-de-global.alipay.com",
        };
        // Constant, valid URLs (a test checks each); `ok()` only avoids a panic path.
        Url::parse(fixed).ok()
    }

    /// The spelling used in the config file, for messages that should quote it back.
    pub fn name(&self) -> String {
        match self {
            Gateway::Sandbox => "sandbox".to_owned(),
            Gateway::NorthAmerica => "north-america".to_owned(),
            Gateway::Asia => "asia".to_owned(),
            Gateway::Europe => "europe".to_owned(),
            Gateway::Custom(url) => url.to_string(),
        }
    }
}

impl fmt::Display for Gateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A gateway setting that is neither a known name nor a usable URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    #[error("{0:?} is not a gateway; {GATEWAY_CHOICES}")]
    Unknown(String),
    #[error(
        "{0:?} is not a usable gateway URL: only http:// and https:// addresses with a host \
         are supported; {GATEWAY_CHOICES}"
    )]
    UnsupportedUrl(String),
}

impl FromStr for Gateway {
    type Err = GatewayError;

    /// Names are matched case-insensitively; anything with a scheme is taken as a URL.
    fn from_str(text: &str) -> Result<Gateway, GatewayError> {
        let trimmed = text.trim();
        match trimmed.to_ascii_lowercase().as_str() {
            "sandbox" => return Ok(Gateway::Sandbox),
            "north-america" => return Ok(Gateway::NorthAmerica),
            "asia" => return Ok(Gateway::Asia),
            "europe" => return Ok(Gateway::Europe),
            _ => {}
        }
        let url = Url::parse(trimmed).map_err(|_| GatewayError::Unknown(text.to_owned()))?;
        if is_http(&url) {
            Ok(Gateway::Custom(url))
        } else {
            Err(GatewayError::UnsupportedUrl(text.to_owned()))
        }
    }
}

/// Only plain web addresses make sense for an HTTP client or a webhook; `file:` or
/// `mailto:` URLs parse fine but would fail much later with a confusing error.
fn is_http(url: &Url) -> bool {
    matches!(url.scheme(), "http" | "https") && url.host().is_some()
}

/// Whether a URL's host is this computer: 127.0.0.0/8, `::1` or `localhost`. Plain HTTP to
/// such a host never leaves the machine, so it needs no TLS; anything else does.
pub fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.');
            name.eq_ignore_ascii_case("localhost")
        }
        None => false,
    }
}

/// `[alipay]`: how to reach and authenticate with Alipay.
///
/// Fields are public so callers (and tests) can read and adjust a loaded configuration
/// directly; [`Config::load`] is what guarantees a file's values are valid. The timeouts are
/// the exception: the file states them in milliseconds, so they are kept as `Duration`s
/// behind getters and cannot be set to zero after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlipayConfig {
    pub gateway: Gateway,
    pub client_id: String,
    /// Path (absolute when it came from a file) of the PEM key requests are signed with.
    /// `None` is only accepted with the sandbox gateway, which makes its own keys.
    pub merchant_private_key: Option<PathBuf>,
    /// Path of the Alipay public key responses and notifications are verified with; `None`
    /// is only accepted with the sandbox gateway.
    pub alipay_public_key: Option<PathBuf>,
    /// Sent as `keyVersion` in the `signature` header.
    pub key_version: String,
    /// `alipay.allow_insecure_http`: lets a custom `http://` gateway on another machine
    /// through (a lab's simulator). Off by default, because plain HTTP carries the signed
    /// requests and the answers in clear across the network; loopback hosts never need it.
    pub allow_insecure_http: bool,
    connect_timeout: Duration,
    request_timeout: Duration,
}

impl AlipayConfig {
    /// Bounds how long a dead network takes to surface, separately from slow answers.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// Bounds a whole request; past it the outcome is unknown and must be queried, never
    /// assumed failed.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }
}

/// `[merchant]`: the (secondary) merchant sent in every order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantConfig {
    pub reference_merchant_id: String,
    pub name: String,
    /// ISO 18245 merchant category code, four digits.
    pub mcc: String,
}

/// `[store]`: the shop and the terminal within it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    pub reference_store_id: String,
    pub name: String,
    pub mcc: String,
    /// Sent as `storeTerminalId` so Alipay's records say which till took a payment.
    pub terminal_id: String,
}

/// `[payment]`: what every payment has in common.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentConfig {
    /// The currency prices are entered in.
    pub currency: Currency,
    /// Where Alipay should POST payment notifications. Optional because a terminal behind NAT
    /// cannot receive them and relies on polling instead.
    pub notify_url: Option<Url>,
    /// The local address the notification receiver listens on when the gateway is real;
    /// `notify_url` is the public URL a TLS reverse proxy forwards to it.
    pub notify_listen: SocketAddr,
}

/// `[sandbox]`: how phones reach the embedded sandbox's wallet pages (demo mode only).
///
/// By default the sandbox listens on a free loopback port, so only this computer can open the
/// wallet page an order code points to. A demo where a real phone scans the QR code sets
/// `listen` to an address on the network (which is what allows the sandbox onto the LAN) and,
/// when that address is not one a phone can open (`0.0.0.0`), `public_url`.
///
/// The table only applies to `gateway = "sandbox"`. With a real gateway a `[sandbox]` table,
/// even an empty one, is refused rather than ignored: it would otherwise suggest that
/// `public_url` changes what real Alipay puts into QR codes, or that a test server is still
/// being started next to a live terminal. The example config therefore ships the table
/// commented out, so a copy of it can be switched to a real gateway as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    /// Where the sandbox listens (port 0 picks a free port at every start). A non-loopback
    /// address makes the sandbox reachable from the network.
    pub listen: SocketAddr,
    /// The base URL put into order codes (QR codes) and wallet pages; `None` means
    /// `http://<the bound listen address>`. It may be set with a loopback `listen` when
    /// something else forwards that address to the sandbox (a port forward or a tunnel).
    pub public_url: Option<Url>,
}

impl SandboxConfig {
    /// Whether `listen` lets other machines (phones) connect, i.e. is not a loopback address.
    pub fn reachable_from_lan(&self) -> bool {
        !self.listen.ip().is_loopback()
    }
}

/// `[scanner]`: the barcode scanner for customers' payment codes. Plain values: the
/// `scanner` module turns them into its detector settings (`WedgeSettings::from`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannerConfig {
    /// The evdev device to grab exclusively (`/dev/input/by-id/...`); `None`: the scanner
    /// is read as a keyboard wedge, by timing. Not checked at load: an unplugged scanner
    /// must not stop the terminal (the screen warns instead).
    pub device: Option<PathBuf>,
    /// Keys further apart are typing, not a scan.
    pub max_key_gap: Duration,
    /// The fewest characters of a scan detected by timing.
    pub min_length: usize,
    /// What the scanner sends before every code (exact detection), 1 to 8 printable
    /// characters without spaces.
    pub prefix: Option<String>,
    /// What the scanner sends after every code, like `prefix`.
    pub suffix: Option<String>,
    /// A kiosk offers "Scan your payment code" beside the QR code: the customer can show
    /// their own code to the scanner. Defaults to whether a `device` is set (a keyboard-wedge
    /// scanner cannot be seen from here, so say `kiosk = true` for one).
    pub kiosk: bool,
}

/// `[reconciliation] sftp_port` by default: SSH's port, the one Alipay's servers use.
pub const DEFAULT_SFTP_PORT: u16 = 22;
/// `[reconciliation] remote_root` by default: Alipay's server roots the account at `/`.
pub const DEFAULT_SFTP_REMOTE_ROOT: &str = "/";
/// Longest `[reconciliation] customer_id`, a folder name on Alipay's server; Alipay's ids
/// are far shorter.
pub const MAX_CUSTOMER_ID_CHARS: usize = 64;

/// `[reconciliation]`: the SFTP account Alipay publishes the merchant's daily reports on
/// (flows.md §8), read by `reconcile::sftp`. The only `config` type the reconcile layer may
/// use (docs/architecture.md).
///
/// The secret files are named, never read here: the password and the identity are read
/// when a fetch uses them, so they are never held in a loaded configuration (which is
/// cloned and printed with `{:?}`) and a changed password needs no restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconciliationConfig {
    /// Alipay's SFTP server, e.g. `isftp.alipay.com`; a name or an IP address.
    pub sftp_host: String,
    pub sftp_port: u16,
    /// The SFTP account name Alipay support gave the merchant.
    pub username: String,
    /// How the account proves itself: exactly one of `password_file` and `identity_file`.
    pub credential: SftpCredential,
    /// OpenSSH `known_hosts` file that must hold the server's host key. Required: a key is
    /// never trusted on first use, because the first connection is the one an attacker
    /// would intercept.
    pub known_hosts: PathBuf,
    /// The id Alipay assigned to the merchant (`customerId`), the folder the reports are in.
    pub customer_id: String,
    /// The folder `v1/settlements/` is under on the server, absolute, without a trailing
    /// `/` except for the root itself. Alipay roots the account at `/` (the default); a test
    /// server that serves a temp folder without a chroot names that folder.
    pub remote_root: String,
}

impl ReconciliationConfig {
    /// The server folder of one day's reports: `<remote_root>/v1/settlements/<customerId>/<yyyyMMdd>`.
    pub fn day_folder(&self, date: &str) -> String {
        let root = self.remote_root.trim_end_matches('/');
        format!("{root}/v1/settlements/{}/{date}", self.customer_id)
    }

    /// `password_file`, when the account logs in with a password.
    pub fn password_file(&self) -> Option<&std::path::Path> {
        match &self.credential {
            SftpCredential::PasswordFile(path) => Some(path),
            SftpCredential::IdentityFile(_) => None,
        }
    }

    /// `identity_file`, when the account logs in with a key.
    pub fn identity_file(&self) -> Option<&std::path::Path> {
        match &self.credential {
            SftpCredential::IdentityFile(path) => Some(path),
            SftpCredential::PasswordFile(_) => None,
        }
    }
}

/// The secret an SFTP account logs in with; paths only (see [`ReconciliationConfig`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SftpCredential {
    /// `password_file`: a file holding the password (one trailing newline is ignored).
    PasswordFile(PathBuf),
    /// `identity_file`: an OpenSSH private key (Ed25519 or ECDSA, without a passphrase).
    IdentityFile(PathBuf),
}

impl SftpCredential {
    /// The config key that names this credential, for messages about it.
    pub fn key(&self) -> &'static str {
        match self {
            SftpCredential::PasswordFile(_) => "reconciliation.password_file",
            SftpCredential::IdentityFile(_) => "reconciliation.identity_file",
        }
    }

    pub fn path(&self) -> &std::path::Path {
        match self {
            SftpCredential::PasswordFile(path) | SftpCredential::IdentityFile(path) => path,
        }
    }
}

/// `[hub] listen` by default: loopback, behind the operator's TLS reverse proxy.
pub const DEFAULT_HUB_PORT: u16 = 8092;

/// `[hub]`: the store hub (`alipay-pos hub`) and a terminal's link to it. One table for both
/// roles, because a hub and its terminals read the same file format: the hub uses `listen`,
/// `public_url` and `database_url`; a terminal uses `url`, `token_file` and `public_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubConfig {
    /// Where the hub listens (its public endpoint and the terminals' connections).
    pub listen: SocketAddr,
    /// The base URL Alipay posts notifications to (`<public_url>/alipay/notify`). On a
    /// terminal it says where that is when it differs from `url` (a hub reached on the LAN
    /// under one name and by Alipay under another); `None` there means `url`.
    pub public_url: Option<Url>,
    /// The hub's PostgreSQL; `None` falls back to the `DATABASE_URL` environment variable.
    pub database_url: Option<DatabaseUrl>,
    /// The hub a terminal dials out to (`https://`, or `http://` to loopback only).
    pub url: Option<Url>,
    /// The file holding this terminal's token (`hub terminals add` printed it); required
    /// with `url`. Named here, read when the terminal starts, never logged.
    pub token_file: Option<PathBuf>,
}

impl HubConfig {
    /// Where Alipay posts for this hub, when a terminal dials one: `<public_url or
    /// url>/alipay/notify`. `payment.notify_url`, when set, still wins (the wiring decides).
    pub fn notify_url(&self) -> Option<Url> {
        let base = self.public_url.as_ref().or(self.url.as_ref())?;
        let text = format!("{}{HUB_NOTIFY_PATH}", base.as_str().trim_end_matches('/'));
        Url::parse(&text).ok()
    }
}

/// The path under `public_url` where the hub takes Alipay's notifications.
pub const HUB_NOTIFY_PATH: &str = "/alipay/notify";

/// A PostgreSQL connection URL. It may carry a password, so it is never printed: `Debug`
/// and `Display` show it with the password replaced (a loaded configuration is cloned and
/// printed with `{:?}`); [`DatabaseUrl::expose`] is for the one call that connects.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// Accepts `postgres://` and `postgresql://` URLs (what `DATABASE_URL` holds by custom).
    pub fn parse(text: &str) -> Result<DatabaseUrl, String> {
        let text = text.trim();
        let url = Url::parse(text)
            .map_err(|e| format!("is not a URL ({e}); use postgres://USER@HOST:PORT/DATABASE"))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(format!(
                "is a {}:// URL; use postgres://USER@HOST:PORT/DATABASE",
                url.scheme()
            ));
        }
        Ok(DatabaseUrl(text.to_owned()))
    }

    /// The URL itself, password included: only for connecting.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by `***`, for messages and logs.
    pub fn redacted(&self) -> String {
        match Url::parse(&self.0) {
            Ok(mut url) => {
                if url.password().is_some() {
                    let _ = url.set_password(Some("***"));
                }
                url.to_string()
            }
            Err(_) => "(a database URL)".to_owned(),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// `[storage]`: where the terminal keeps its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageConfig {
    pub data_dir: PathBuf,
}

/// The whole configuration, checked when it was loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub source: ConfigSource,
    pub alipay: AlipayConfig,
    pub merchant: MerchantConfig,
    pub store: StoreConfig,
    pub payment: PaymentConfig,
    pub storage: StorageConfig,
    pub admin: AdminConfig,
    /// `[sandbox]`: ignored unless `alipay.gateway` is "sandbox" (and then always the
    /// defaults when the gateway is real, because the table is refused there).
    pub sandbox: SandboxConfig,
    /// `[[catalog]]`: quick items for the cashier screen and the kiosk, in file order.
    pub catalog: Vec<CatalogItem>,
    /// `[scanner]`: how payment codes are scanned.
    pub scanner: ScannerConfig,
    /// `[reconciliation]`: where Alipay's daily reports are fetched from; `None` without
    /// the table (nothing is fetched over SFTP).
    pub reconciliation: Option<ReconciliationConfig>,
    /// `[hub]`: the store hub this file runs or dials; `None` without the table.
    pub hub: Option<HubConfig>,
    /// `[registration]`: what Alipay's merchant registration needs; `None` when the file
    /// has none (the defaults carry the demo café's).
    pub registration: Option<RegistrationConfig>,
    /// `[printer]`: the receipt printer; `None` without the table (nothing is printed and
    /// the Print buttons are hidden).
    pub printer: Option<PrinterConfig>,
}

/// One `[[catalog]]` entry: something the store sells at a fixed price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogItem {
    pub name: String,
    /// The Chinese name shown when the screen speaks Chinese; `name` when absent.
    pub name_zh: Option<String>,
    /// In `payment.currency`, parsed exactly (the file writes it as text, e.g. "3.50").
    pub price: Money,
}

impl CatalogItem {
    /// The name to show in a language.
    pub fn name_in(&self, locale: Locale) -> &str {
        match (locale, &self.name_zh) {
            (Locale::SimplifiedChinese, Some(name)) => name,
            _ => &self.name,
        }
    }
}

/// The name the single `[admin] pin_hash` approves as.
pub const DEFAULT_MANAGER: &str = "manager";

/// Longest manager name: it goes into every journal row the manager approves.
pub const MAX_MANAGER_NAME_CHARS: usize = 64;

/// `[admin]`: who may open the manager screen, and approve refunds and manual settlement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminConfig {
    /// Argon2id PHC string of the PIN of the manager called "manager"
    /// (`alipay-pos admin set-pin` writes it); kept from before per-manager PINs.
    pub pin_hash: Option<String>,
    /// `[[admin.managers]]`: one PIN per person, so the journal names who approved. With
    /// neither this nor `pin_hash` the manager screen stays closed.
    pub named_managers: Vec<ManagerPin>,
    /// Wrong PINs in a row before the screen locks.
    pub max_pin_attempts: u32,
    /// How long the screen stays locked after too many wrong PINs.
    pub lockout: Duration,
}

/// One manager who can approve: `[[admin.managers]]`, or `[admin] pin_hash` as "manager".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagerPin {
    pub name: String,
    /// Argon2id PHC string of the PIN; never the PIN.
    pub pin_hash: String,
}

impl AdminConfig {
    /// Every manager who can approve: the one of `[admin] pin_hash` (named "manager") first,
    /// then `[[admin.managers]]` in file order. Names are unique (checked at load).
    pub fn managers(&self) -> Vec<ManagerPin> {
        let legacy = self.pin_hash.as_ref().map(|hash| ManagerPin {
            name: DEFAULT_MANAGER.to_string(),
            pin_hash: hash.clone(),
        });
        legacy
            .into_iter()
            .chain(self.named_managers.iter().cloned())
            .collect()
    }
}

/// Why a manager name is not acceptable, if it is not: it must be non-empty, at most
/// [`MAX_MANAGER_NAME_CHARS`] characters, without surrounding spaces or control characters
/// (it is printed in journal lines and on receipts of who approved).
pub fn manager_name_problem(name: &str) -> Option<&'static str> {
    if name.trim().is_empty() {
        Some("must not be empty")
    } else if name.trim() != name {
        Some("must not start or end with spaces")
    } else if name.chars().count() > MAX_MANAGER_NAME_CHARS {
        Some("must be at most 64 characters")
    } else if name.chars().any(char::is_control) {
        Some("must not contain control characters")
    } else {
        None
    }
}

/// What kind of problem a [`ConfigError`] is, for callers that react differently (e.g. an
/// installer offering to create a missing file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigErrorKind {
    /// An explicitly named config file does not exist.
    NotFound,
    /// The file exists but could not be read (permissions, not UTF-8, a folder, ...).
    Unreadable,
    /// TOML syntax errors, values of the wrong type and unknown keys.
    Parse,
    /// Well-formed TOML whose values are not acceptable.
    Invalid,
}

/// A configuration problem, phrased for the person who edits the file: which file, which key,
/// what is wrong and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {}{problem}", key_prefix(key.as_deref()))]
pub struct ConfigError {
    origin: ConfigSource,
    key: Option<String>,
    problem: String,
    kind: ConfigErrorKind,
}

fn key_prefix(key: Option<&str>) -> String {
    key.map(|key| format!("`{key}`: ")).unwrap_or_default()
}

impl ConfigError {
    /// For a real gateway configured without key files.
    pub fn missing_keys(config: &Config) -> ConfigError {
        ConfigError::new(
            &config.source,
            Some("alipay.merchant_private_key".to_owned()),
            "is required for a real gateway (with alipay.alipay_public_key)",
            ConfigErrorKind::Invalid,
        )
    }

    /// A setting of a loaded configuration that turned out unusable where it is used, e.g. a
    /// key file that exists and is readable (checked at load) but holds no usable key (found
    /// by the wiring, which parses keys: this module does no cryptography). Worded like the
    /// loader's own messages: the file, the key, the problem.
    pub fn invalid_setting(config: &Config, key: &str, problem: impl Into<String>) -> ConfigError {
        ConfigError::new(
            &config.source,
            Some(key.to_owned()),
            problem,
            ConfigErrorKind::Invalid,
        )
    }

    fn new(
        origin: &ConfigSource,
        key: Option<String>,
        problem: impl Into<String>,
        kind: ConfigErrorKind,
    ) -> ConfigError {
        ConfigError {
            origin: origin.clone(),
            key,
            problem: problem.into(),
            kind,
        }
    }

    /// The file the problem is in, or [`ConfigSource::Defaults`].
    pub fn origin(&self) -> &ConfigSource {
        &self.origin
    }

    /// The dotted key, e.g. `alipay.gateway`, when the problem is tied to one.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    pub fn problem(&self) -> &str {
        &self.problem
    }

    pub fn kind(&self) -> ConfigErrorKind {
        self.kind
    }
}

impl Config {
    /// Whether the embedded sandbox is in use, i.e. no real money can move.
    pub fn is_sandbox(&self) -> bool {
        self.alipay.gateway == Gateway::Sandbox
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateways() {
        let cases = [
            ("north-america", "https://open-na-global.alipay.com/"),
            ("asia", "https://open-sea-global.alipay.com/"),
            ("europe", "https://open-de-global.alipay.com/"),
            ("Europe", "https://open-de-global.alipay.com/"),
            ("http://127.0.0.1:9000", "http://127.0.0.1:9000/"),
            (
                "https://open.antglobal-us.com",
                "https://open.antglobal-us.com/",
            ),
        ];
        for (text, base) in cases {
            let gateway: Gateway = text.parse().unwrap();
            assert_eq!(gateway.base_url().unwrap().as_str(), base, "{text}");
        }
        assert_eq!("sandbox".parse::<Gateway>(), Ok(Gateway::Sandbox));
        assert_eq!(Gateway::NorthAmerica.to_string(), "north-america");
        assert_eq!(
            "north-america".parse::<Gateway>().unwrap().name(),
            "north-america"
        );
    }
}
