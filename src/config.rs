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

use std::fmt;
use std::fs;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use directories::ProjectDirs;
use serde::Deserialize;
use url::Url;

use crate::locale::Locale;
use crate::money::{Currency, Money};

/// File name looked for inside the OS config folder.
pub const CONFIG_FILE_NAME: &str = "config.toml";

/// Used when the OS reports no home directory (some service accounts and containers), so the
/// terminal can still run; relative, i.e. inside whatever directory it was started from.
/// Port the notification receiver listens on by default (loopback, behind a reverse proxy).
pub const DEFAULT_NOTIFY_PORT: u16 = 8091;

/// Wrong manager PINs in a row before the screen locks.
pub const DEFAULT_MAX_PIN_ATTEMPTS: u32 = 5;
/// How long the manager screen stays locked after too many wrong PINs.
pub const DEFAULT_LOCKOUT_SECONDS: u64 = 300;

/// Most quick items a catalog may hold: more do not fit the screens as touch targets.
pub const MAX_CATALOG_ITEMS: usize = 48;
/// Longest item name (characters): it must fit a button and Alipay's order description.
const MAX_ITEM_NAME_CHARS: usize = 40;

pub const FALLBACK_DATA_DIR: &str = "./alipay-pos-data";

/// The embedded sandbox's client ID. The `SANDBOX_` prefix is how Alipay marks sandbox client
/// IDs, so logs and records made against the sandbox are recognisable as such.
pub const SANDBOX_CLIENT_ID: &str = "SANDBOX_ALIPAYPOS_DEMO";

const DEFAULT_KEY_VERSION: &str = "1";
const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 5_000;
const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 15_000;
const DEFAULT_MERCHANT_ID: &str = "M0001";
const DEFAULT_MERCHANT_NAME: &str = "Demo Cafe";
/// ISO 18245 5814: fast-food restaurants, i.e. a café counter.
const DEFAULT_MCC: &str = "5814";
const DEFAULT_STORE_ID: &str = "S0001";
const DEFAULT_STORE_NAME: &str = "Demo Cafe Main St";
const DEFAULT_TERMINAL_ID: &str = "T01";

// Length limits come from Alipay's field definitions (order-code.md): `referenceMerchantId`
// is 32 in `pay` but 64 in registration, so 32 satisfies both; `referenceStoreId` is 32 in
// registration; names are 256; `client-id` and ids in general are 64.
const MAX_REFERENCE_ID_CHARS: usize = 32;
const MAX_NAME_CHARS: usize = 256;
const MAX_TERMINAL_ID_CHARS: usize = 64;
const MAX_CLIENT_ID_CHARS: usize = 64;

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

/// The merchant's signing key and Alipay's verification key, parsed and ready, with
/// fingerprints that are safe to display.
#[derive(Debug, Clone)]
pub struct LoadedKeys {
    pub merchant_private_key: rsa::PrivateKey,
    pub alipay_public_key: rsa::PublicKey,
    pub merchant_fingerprint: String,
    pub alipay_fingerprint: String,
}

impl Config {
    /// Parses the key files named by `alipay.merchant_private_key` and
    /// `alipay.alipay_public_key`. `Ok(None)` when neither is set, which is only valid for the
    /// embedded sandbox (it generates and registers its own keys).
    pub fn load_keys(&self) -> Result<Option<LoadedKeys>, ConfigError> {
        let (private_path, public_path) = match (
            &self.alipay.merchant_private_key,
            &self.alipay.alipay_public_key,
        ) {
            (None, None) => return Ok(None),
            (Some(private), Some(public)) => (private, public),
            (None, Some(_)) => {
                return Err(self.key_error(
                    "alipay.merchant_private_key",
                    "is missing; set it together with alipay.alipay_public_key".into(),
                ));
            }
            (Some(_), None) => {
                return Err(self.key_error(
                    "alipay.alipay_public_key",
                    "is missing; set it together with alipay.merchant_private_key".into(),
                ));
            }
        };
        let merchant = crate::ams::keys::load_private_key_file(private_path)
            .map_err(|e| self.key_error("alipay.merchant_private_key", e.to_string()))?;
        let alipay = crate::ams::keys::load_public_key_file(public_path)
            .map_err(|e| self.key_error("alipay.alipay_public_key", e.to_string()))?;
        let fingerprint = |key: &rsa::PublicKey, name: &str| {
            crate::ams::keys::fingerprint(key).map_err(|e| self.key_error(name, e.to_string()))
        };
        Ok(Some(LoadedKeys {
            merchant_fingerprint: fingerprint(
                &merchant.key.to_public_key(),
                "alipay.merchant_private_key",
            )?,
            alipay_fingerprint: fingerprint(&alipay.key, "alipay.alipay_public_key")?,
            merchant_private_key: merchant.key,
            alipay_public_key: alipay.key,
        }))
    }

    fn key_error(&self, key: &str, problem: String) -> ConfigError {
        ConfigError::new(
            &self.source,
            Some(key.to_owned()),
            problem,
            ConfigErrorKind::Invalid,
        )
    }
}

impl Config {
    /// The configuration used when there is no file: the embedded sandbox with a demo café.
    pub fn defaults() -> Config {
        Config {
            source: ConfigSource::Defaults,
            alipay: AlipayConfig {
                gateway: Gateway::Sandbox,
                client_id: SANDBOX_CLIENT_ID.to_owned(),
                merchant_private_key: None,
                alipay_public_key: None,
                key_version: DEFAULT_KEY_VERSION.to_owned(),
                allow_insecure_http: false,
                connect_timeout: Duration::from_millis(DEFAULT_CONNECT_TIMEOUT_MS),
                request_timeout: Duration::from_millis(DEFAULT_REQUEST_TIMEOUT_MS),
            },
            merchant: MerchantConfig {
                reference_merchant_id: DEFAULT_MERCHANT_ID.to_owned(),
                name: DEFAULT_MERCHANT_NAME.to_owned(),
                mcc: DEFAULT_MCC.to_owned(),
            },
            store: StoreConfig {
                reference_store_id: DEFAULT_STORE_ID.to_owned(),
                name: DEFAULT_STORE_NAME.to_owned(),
                mcc: DEFAULT_MCC.to_owned(),
                terminal_id: DEFAULT_TERMINAL_ID.to_owned(),
            },
            payment: PaymentConfig {
                currency: Currency::USD,
                notify_url: None,
                notify_listen: SocketAddr::from(([127, 0, 0, 1], DEFAULT_NOTIFY_PORT)),
            },
            storage: StorageConfig {
                data_dir: default_data_dir(),
            },
            admin: AdminConfig {
                pin_hash: None,
                named_managers: Vec::new(),
                max_pin_attempts: DEFAULT_MAX_PIN_ATTEMPTS,
                lockout: Duration::from_secs(DEFAULT_LOCKOUT_SECONDS),
            },
            sandbox: SandboxConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                public_url: None,
            },
            catalog: Vec::new(),
        }
    }

    /// Where the config file lives when `--config` is not given, e.g.
    /// `~/.config/alipay-pos/config.toml` on Linux. `None` when the OS reports no home
    /// directory.
    pub fn default_path() -> Option<PathBuf> {
        project_dirs().map(|dirs| dirs.config_dir().join(CONFIG_FILE_NAME))
    }

    /// Whether the embedded sandbox is in use, i.e. no real money can move.
    pub fn is_sandbox(&self) -> bool {
        self.alipay.gateway == Gateway::Sandbox
    }

    /// Loads the file given with `--config`, or else the one in the OS config folder, or else
    /// the defaults.
    ///
    /// A missing explicit file is an error (the operator asked for that file and probably
    /// mistyped it); a missing file at the default location just means "not configured yet".
    pub fn discover(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        discover_in(explicit, Config::default_path())
    }

    /// Reads and validates one file. Relative paths inside it are resolved against the file's
    /// folder so that the config and its keys can be moved together.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let origin = ConfigSource::File(path.to_path_buf());
        let text = fs::read_to_string(path).map_err(|err| {
            let (kind, problem) = match err.kind() {
                io::ErrorKind::NotFound => (
                    ConfigErrorKind::NotFound,
                    "no such file; check the path given with --config, or leave --config out \
                     to use the default location"
                        .to_owned(),
                ),
                io::ErrorKind::InvalidData => (
                    ConfigErrorKind::Unreadable,
                    "the file is not UTF-8 text; save it as UTF-8".to_owned(),
                ),
                _ => (
                    ConfigErrorKind::Unreadable,
                    format!(
                        "cannot read the file ({err}); check that it is a file and that this \
                         user may read it"
                    ),
                ),
            };
            ConfigError::new(&origin, None, problem, kind)
        })?;
        let base_dir = path.parent().unwrap_or_else(|| Path::new(""));
        let raw = parse_toml(&text, &origin)?;
        Validator {
            origin: &origin,
            base_dir,
        }
        .validate(raw)
    }
}

fn discover_in(explicit: Option<&Path>, default: Option<PathBuf>) -> Result<Config, ConfigError> {
    if let Some(path) = explicit {
        return Config::load(path);
    }
    let Some(path) = default else {
        return Ok(Config::defaults());
    };
    match Config::load(&path) {
        Err(err) if err.kind == ConfigErrorKind::NotFound => Ok(Config::defaults()),
        other => other,
    }
}

fn project_dirs() -> Option<ProjectDirs> {
    ProjectDirs::from("", "", "alipay-pos")
}

fn default_data_dir() -> PathBuf {
    project_dirs()
        .map(|dirs| dirs.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(FALLBACK_DATA_DIR))
}

// ---------------------------------------------------------------------------------------------
// Raw file contents: every key optional, unknown keys rejected.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    alipay: RawAlipay,
    #[serde(default)]
    merchant: RawMerchant,
    #[serde(default)]
    store: RawStore,
    #[serde(default)]
    payment: RawPayment,
    #[serde(default)]
    storage: RawStorage,
    #[serde(default)]
    admin: RawAdmin,
    /// `None` when the file has no `[sandbox]` table, which a real gateway requires.
    sandbox: Option<RawSandbox>,
    #[serde(default)]
    catalog: Vec<RawCatalogItem>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSandbox {
    listen: Option<String>,
    public_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalogItem {
    name: Option<String>,
    name_zh: Option<String>,
    /// Text ("3.50") or a whole number (500 for JPY); a TOML float is refused because it
    /// cannot hold most prices exactly.
    price: Option<toml::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAdmin {
    pin_hash: Option<String>,
    managers: Option<Vec<RawManager>>,
    max_pin_attempts: Option<u32>,
    lockout_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManager {
    name: Option<String>,
    pin_hash: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlipay {
    gateway: Option<String>,
    client_id: Option<String>,
    merchant_private_key: Option<PathBuf>,
    alipay_public_key: Option<PathBuf>,
    key_version: Option<String>,
    allow_insecure_http: Option<bool>,
    connect_timeout_ms: Option<u64>,
    request_timeout_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMerchant {
    reference_merchant_id: Option<String>,
    name: Option<String>,
    mcc: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    reference_store_id: Option<String>,
    name: Option<String>,
    mcc: Option<String>,
    terminal_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPayment {
    currency: Option<String>,
    notify_url: Option<String>,
    notify_listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    data_dir: Option<PathBuf>,
}

/// Parses the TOML, turning toml's errors into ones that name the line, column and key.
///
/// `serde_path_to_error` supplies the key because toml only puts it in its multi-line
/// `Display` output, which does not fit a one-line message.
fn parse_toml(text: &str, origin: &ConfigSource) -> Result<RawConfig, ConfigError> {
    let parse_error = |key: Option<String>, err: toml::de::Error, advice: &str| {
        let location = err
            .span()
            .and_then(|span| line_and_column(text, span.start))
            .map(|(line, column)| format!("line {line}, column {column}: "))
            .unwrap_or_default();
        let message = humanize_expected(err.message().trim_end());
        ConfigError::new(
            origin,
            key,
            format!("{location}{message}; {advice}"),
            ConfigErrorKind::Parse,
        )
    };
    let deserializer = toml::Deserializer::parse(text)
        .map_err(|err| parse_error(None, err, "fix the TOML syntax there"))?;
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let path = err.path().to_string();
        let err = err.into_inner();
        let unknown = unknown_field_name(err.message());
        let key = match (path.as_str(), unknown) {
            (".", Some(name)) => Some(name.to_owned()),
            (".", None) => None,
            (parent, Some(name)) if !parent.ends_with(name) => Some(format!("{parent}.{name}")),
            (path, _) => Some(path.to_owned()),
        };
        let advice = if unknown.is_some() {
            "remove it or correct its spelling (see the example config for every key)"
        } else {
            "correct the value's type (see the example config)"
        };
        parse_error(key, err, advice)
    })
}

/// Rewrites serde's Rust type names ("expected u64") in the words of the TOML file.
fn humanize_expected(message: &str) -> String {
    let Some((head, expected)) = message.split_once(", expected ") else {
        return message.to_owned();
    };
    let expected = match expected {
        "u64" => "a whole number without quotes",
        "a string" => "text in double quotes",
        "path string" => "a path in double quotes",
        other if other.starts_with("struct Raw") => "a table such as [alipay]",
        other => other,
    };
    format!("{head}, expected {expected}")
}

/// Extracts `gatway` from serde's "unknown field `gatway`, expected one of ...".
fn unknown_field_name(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split_once('`').map(|(name, _)| name)
}

/// 1-based line and column (in characters) of a byte offset, as editors number them.
fn line_and_column(text: &str, offset: usize) -> Option<(usize, usize)> {
    let before = text.get(..offset)?;
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..)?.chars().count() + 1;
    Some((line, column))
}

// ---------------------------------------------------------------------------------------------
// Validation: raw values to a checked Config.

struct Validator<'a> {
    origin: &'a ConfigSource,
    /// Folder relative paths in the file are resolved against.
    base_dir: &'a Path,
}

impl Validator<'_> {
    fn invalid(&self, key: &str, problem: impl Into<String>) -> ConfigError {
        ConfigError::new(
            self.origin,
            Some(key.to_owned()),
            problem,
            ConfigErrorKind::Invalid,
        )
    }

    /// `[[admin.managers]]`: each needs a valid, unique name (also unlike "manager" when
    /// `[admin] pin_hash` stands for that one) and an Argon2 hash.
    fn managers(
        &self,
        raw: Option<Vec<RawManager>>,
        has_legacy_pin: bool,
    ) -> Result<Vec<ManagerPin>, ConfigError> {
        let mut managers: Vec<ManagerPin> = Vec::new();
        for (index, entry) in raw.unwrap_or_default().into_iter().enumerate() {
            let key = |field: &str| format!("admin.managers[{index}].{field}");
            let Some(name) = entry.name else {
                return Err(self.invalid(&key("name"), "is missing; every manager needs a name"));
            };
            if let Some(problem) = manager_name_problem(&name) {
                return Err(self.invalid(&key("name"), problem));
            }
            let taken = managers.iter().any(|m| m.name == name)
                || (has_legacy_pin && name == DEFAULT_MANAGER);
            if taken {
                return Err(self.invalid(
                    &key("name"),
                    format!("`{name}` is used twice; each manager needs their own name"),
                ));
            }
            let pin_hash = match entry.pin_hash {
                Some(hash) if hash.starts_with("$argon2") => hash,
                _ => {
                    return Err(self.invalid(
                        &key("pin_hash"),
                        format!(
                            "is missing or not an Argon2 hash; set it with `alipay-pos admin set-pin --manager \"{name}\"`"
                        ),
                    ));
                }
            };
            managers.push(ManagerPin { name, pin_hash });
        }
        Ok(managers)
    }

    fn validate(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let defaults = Config::defaults();
        let alipay = self.alipay(raw.alipay, defaults.alipay)?;
        let merchant = MerchantConfig {
            reference_merchant_id: self.text(
                "merchant.reference_merchant_id",
                raw.merchant.reference_merchant_id,
                defaults.merchant.reference_merchant_id,
                MAX_REFERENCE_ID_CHARS,
            )?,
            name: self.text(
                "merchant.name",
                raw.merchant.name,
                defaults.merchant.name,
                MAX_NAME_CHARS,
            )?,
            mcc: self.mcc("merchant.mcc", raw.merchant.mcc, defaults.merchant.mcc)?,
        };
        let store = StoreConfig {
            reference_store_id: self.text(
                "store.reference_store_id",
                raw.store.reference_store_id,
                defaults.store.reference_store_id,
                MAX_REFERENCE_ID_CHARS,
            )?,
            name: self.text(
                "store.name",
                raw.store.name,
                defaults.store.name,
                MAX_NAME_CHARS,
            )?,
            mcc: self.mcc("store.mcc", raw.store.mcc, defaults.store.mcc)?,
            terminal_id: self.text(
                "store.terminal_id",
                raw.store.terminal_id,
                defaults.store.terminal_id,
                MAX_TERMINAL_ID_CHARS,
            )?,
        };
        let payment = PaymentConfig {
            currency: match raw.payment.currency {
                None => defaults.payment.currency,
                Some(code) => Currency::from_code(&code)
                    .map_err(|err| self.invalid("payment.currency", err.to_string()))?,
            },
            notify_url: raw
                .payment
                .notify_url
                .map(|text| self.notify_url(&text))
                .transpose()?,
            notify_listen: match raw.payment.notify_listen {
                None => defaults.payment.notify_listen,
                Some(text) => text.parse().map_err(|_| {
                    self.invalid(
                        "payment.notify_listen",
                        format!(
                            "\"{text}\" is not an address; use IP:PORT such as \"127.0.0.1:8091\""
                        ),
                    )
                })?,
            },
        };
        let storage = StorageConfig {
            data_dir: raw
                .storage
                .data_dir
                .map_or(defaults.storage.data_dir, |dir| self.resolve(&dir)),
        };
        let named_managers = self.managers(raw.admin.managers, raw.admin.pin_hash.is_some())?;
        let admin = AdminConfig {
            pin_hash: match raw.admin.pin_hash {
                None => None,
                Some(hash) if hash.starts_with("$argon2") => Some(hash),
                Some(_) => {
                    return Err(self.invalid(
                        "admin.pin_hash",
                        "is not an Argon2 hash; set the PIN with `alipay-pos admin set-pin` instead of writing it here",
                    ));
                }
            },
            named_managers,
            max_pin_attempts: match raw.admin.max_pin_attempts {
                None => defaults.admin.max_pin_attempts,
                Some(0) => {
                    return Err(self.invalid("admin.max_pin_attempts", "must be at least 1"));
                }
                Some(n) => n,
            },
            lockout: match raw.admin.lockout_seconds {
                None => defaults.admin.lockout,
                Some(0) => {
                    return Err(self.invalid(
                        "admin.lockout_seconds",
                        "must be at least 1, or wrong PINs could be guessed without pause",
                    ));
                }
                Some(seconds) => Duration::from_secs(seconds),
            },
        };
        let sandbox = self.sandbox(raw.sandbox, &alipay.gateway, defaults.sandbox)?;
        let catalog = self.catalog(raw.catalog, payment.currency)?;
        Ok(Config {
            source: self.origin.clone(),
            alipay,
            merchant,
            store,
            payment,
            storage,
            admin,
            sandbox,
            catalog,
        })
    }

    fn sandbox(
        &self,
        raw: Option<RawSandbox>,
        gateway: &Gateway,
        defaults: SandboxConfig,
    ) -> Result<SandboxConfig, ConfigError> {
        let Some(raw) = raw else {
            return Ok(defaults);
        };
        if *gateway != Gateway::Sandbox {
            let why = match gateway {
                Gateway::Custom(_) => {
                    "a separately run `alipay-pos sandbox` takes --listen, --allow-lan and \
                     --public-url instead"
                }
                _ => "real Alipay serves its own wallet pages",
            };
            return Err(self.invalid(
                "sandbox",
                format!(
                    "[sandbox] only applies to gateway = \"sandbox\", but `alipay.gateway` is \
                     \"{gateway}\"; remove the [sandbox] table ({why}), or set gateway = \
                     \"sandbox\" to run the demo"
                ),
            ));
        }
        let listen = match raw.listen {
            None => defaults.listen,
            Some(text) => text.trim().parse().map_err(|_| {
                self.invalid(
                    "sandbox.listen",
                    format!(
                        "\"{text}\" is not an address; use IP:PORT such as \"0.0.0.0:8090\" \
                         (every network, so phones can connect) or \"127.0.0.1:0\" (this \
                         computer only, any free port)"
                    ),
                )
            })?,
        };
        let public_url = raw
            .public_url
            .map(|text| self.sandbox_public_url(&text))
            .transpose()?;
        if public_url.is_none() && listen.ip().is_unspecified() {
            return Err(self.invalid(
                "sandbox.public_url",
                format!(
                    "is required when `sandbox.listen` is \"{listen}\": QR codes would point \
                     at http://{listen}, which phones cannot open; set it to \
                     \"http://<this computer's LAN address>:{port}\", or set `sandbox.listen` \
                     to that LAN address instead of {ip}",
                    port = listen.port(),
                    ip = listen.ip(),
                ),
            ));
        }
        Ok(SandboxConfig { listen, public_url })
    }

    fn sandbox_public_url(&self, text: &str) -> Result<Url, ConfigError> {
        let key = "sandbox.public_url";
        let example = "such as \"http://192.168.1.20:8090\"";
        let url = Url::parse(text.trim()).map_err(|err| {
            self.invalid(
                key,
                format!(
                    "{text:?} is not a URL ({err}); use the address phones open, {example}, or \
                     remove the line to use http://<sandbox.listen>"
                ),
            )
        })?;
        if !is_http(&url) {
            return Err(self.invalid(
                key,
                format!(
                    "{text:?} is not an http:// or https:// URL with a host; use one {example}"
                ),
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(self.invalid(
                key,
                format!(
                    "{text:?} has a query (?...) or fragment (#...), which would break the \
                     wallet links built on it; write the address alone, {example}"
                ),
            ));
        }
        Ok(url)
    }

    fn catalog(
        &self,
        raw: Vec<RawCatalogItem>,
        currency: Currency,
    ) -> Result<Vec<CatalogItem>, ConfigError> {
        if raw.len() > MAX_CATALOG_ITEMS {
            return Err(self.invalid(
                "catalog",
                format!(
                    "has {} items but the screens show at most {MAX_CATALOG_ITEMS}; remove some",
                    raw.len()
                ),
            ));
        }
        raw.into_iter()
            .enumerate()
            .map(|(index, item)| {
                let key = |field: &str| format!("catalog[{index}].{field}");
                let name = |field: &str, value: Option<String>| -> Result<Option<String>, ConfigError> {
                    match value {
                        None => Ok(None),
                        Some(text) if text.trim().is_empty() => Err(self.invalid(
                            &key(field),
                            "is empty; give the item a name customers recognise",
                        )),
                        Some(text) if text.chars().count() > MAX_ITEM_NAME_CHARS => Err(self.invalid(
                            &key(field),
                            format!(
                                "is longer than {MAX_ITEM_NAME_CHARS} characters; shorten it so it fits a button"
                            ),
                        )),
                        Some(text) => Ok(Some(text.trim().to_owned())),
                    }
                };
                let Some(item_name) = name("name", item.name)? else {
                    return Err(self.invalid(
                        &key("name"),
                        "is missing; every [[catalog]] entry needs a name and a price",
                    ));
                };
                let name_zh = name("name_zh", item.name_zh)?;
                let price_text = match item.price {
                    None => {
                        return Err(self.invalid(
                            &key("price"),
                            "is missing; every [[catalog]] entry needs a name and a price",
                        ));
                    }
                    Some(toml::Value::String(text)) => text,
                    Some(toml::Value::Integer(whole)) => whole.to_string(),
                    Some(toml::Value::Float(_)) => {
                        return Err(self.invalid(
                            &key("price"),
                            "is a decimal number, which TOML cannot hold exactly; write the price \
                             in quotes, such as price = \"3.50\"",
                        ));
                    }
                    Some(_) => {
                        return Err(self.invalid(
                            &key("price"),
                            "is not a price; write it in quotes, such as price = \"3.50\"",
                        ));
                    }
                };
                let price = Money::parse(&price_text, currency).map_err(|err| {
                    self.invalid(&key("price"), format!("{err} (prices are in {currency})"))
                })?;
                Ok(CatalogItem {
                    name: item_name,
                    name_zh,
                    price,
                })
            })
            .collect()
    }

    fn alipay(&self, raw: RawAlipay, defaults: AlipayConfig) -> Result<AlipayConfig, ConfigError> {
        let gateway = match raw.gateway {
            None => defaults.gateway,
            Some(text) => text
                .parse::<Gateway>()
                .map_err(|err| self.invalid("alipay.gateway", err.to_string()))?,
        };
        let allow_insecure_http = raw.allow_insecure_http.unwrap_or(false);
        if let Gateway::Custom(url) = &gateway
            && url.scheme() == "http"
            && !is_loopback_host(url)
            && !allow_insecure_http
        {
            return Err(self.invalid(
                "alipay.gateway",
                format!(
                    "\"{url}\" is plain http:// to another machine, which would send signed \
                     requests and payment answers in clear; use an https:// URL (plain http:// \
                     is only accepted for 127.0.0.1, ::1 or localhost), or set \
                     `alipay.allow_insecure_http = true` for a lab network"
                ),
            ));
        }
        let live = gateway != Gateway::Sandbox;
        // Any real gateway needs the merchant's own identity; the demo values would only
        // produce signature errors from Alipay.
        let required = |key: &str, what: &str| {
            self.invalid(
                key,
                format!(
                    "is required when `alipay.gateway` is \"{gateway}\"; set it to {what}, \
                     or use gateway = \"sandbox\""
                ),
            )
        };
        let client_id = match raw.client_id {
            None if live => {
                return Err(required(
                    "alipay.client_id",
                    "the client ID shown in the Alipay dashboard",
                ));
            }
            value => self.text(
                "alipay.client_id",
                value,
                defaults.client_id,
                MAX_CLIENT_ID_CHARS,
            )?,
        };
        let merchant_private_key = match raw.merchant_private_key {
            None if live => {
                return Err(required(
                    "alipay.merchant_private_key",
                    "the path of your RSA private key (PEM) whose public half is registered \
                     with Alipay",
                ));
            }
            value => value
                .map(|path| self.key_file("alipay.merchant_private_key", &path))
                .transpose()?,
        };
        let alipay_public_key = match raw.alipay_public_key {
            None if live => {
                return Err(required(
                    "alipay.alipay_public_key",
                    "the path of the Alipay public key (PEM) downloaded from the dashboard",
                ));
            }
            value => value
                .map(|path| self.key_file("alipay.alipay_public_key", &path))
                .transpose()?,
        };
        let key_version = match raw.key_version {
            None => defaults.key_version,
            Some(version) if !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit()) => {
                version
            }
            Some(version) => {
                return Err(self.invalid(
                    "alipay.key_version",
                    format!(
                        "{version:?} is not a key version; use the number shown next to your \
                         key in the Alipay dashboard, usually \"1\""
                    ),
                ));
            }
        };
        Ok(AlipayConfig {
            gateway,
            client_id,
            merchant_private_key,
            alipay_public_key,
            key_version,
            allow_insecure_http,
            connect_timeout: self.timeout(
                "alipay.connect_timeout_ms",
                raw.connect_timeout_ms,
                DEFAULT_CONNECT_TIMEOUT_MS,
            )?,
            request_timeout: self.timeout(
                "alipay.request_timeout_ms",
                raw.request_timeout_ms,
                DEFAULT_REQUEST_TIMEOUT_MS,
            )?,
        })
    }

    /// A free-text value that Alipay limits in length. Lengths are counted in characters
    /// because that is how Alipay's field definitions state them.
    fn text(
        &self,
        key: &str,
        value: Option<String>,
        default: String,
        max_chars: usize,
    ) -> Result<String, ConfigError> {
        let Some(value) = value else {
            return Ok(default);
        };
        if value.trim().is_empty() {
            return Err(self.invalid(
                key,
                format!(
                    "is empty; give it a value of 1 to {max_chars} characters, or remove the \
                     line to use the default ({default:?})"
                ),
            ));
        }
        let chars = value.chars().count();
        if chars > max_chars {
            return Err(self.invalid(
                key,
                format!(
                    "is {chars} characters long but Alipay accepts at most {max_chars}; \
                     shorten it"
                ),
            ));
        }
        Ok(value)
    }

    fn mcc(
        &self,
        key: &str,
        value: Option<String>,
        default: String,
    ) -> Result<String, ConfigError> {
        match value {
            None => Ok(default),
            Some(mcc) if mcc.len() == 4 && mcc.bytes().all(|b| b.is_ascii_digit()) => Ok(mcc),
            Some(mcc) => Err(self.invalid(
                key,
                format!(
                    "{mcc:?} is not a merchant category code; use the 4-digit ISO 18245 code \
                     from your acquiring contract, such as \"5814\""
                ),
            )),
        }
    }

    fn timeout(
        &self,
        key: &str,
        value: Option<u64>,
        default_ms: u64,
    ) -> Result<Duration, ConfigError> {
        match value {
            None => Ok(Duration::from_millis(default_ms)),
            Some(0) => Err(self.invalid(
                key,
                format!(
                    "must be greater than 0 milliseconds; remove the line to use the default \
                     ({default_ms})"
                ),
            )),
            Some(ms) => Ok(Duration::from_millis(ms)),
        }
    }

    fn notify_url(&self, text: &str) -> Result<Url, ConfigError> {
        let key = "payment.notify_url";
        let url = Url::parse(text.trim()).map_err(|err| {
            self.invalid(
                key,
                format!(
                    "{text:?} is not a URL ({err}); use a full https:// address that Alipay can \
                     reach, or remove the line to rely on polling"
                ),
            )
        })?;
        if is_http(&url) {
            Ok(url)
        } else {
            Err(self.invalid(
                key,
                format!("{text:?} is not an http:// or https:// URL; use an https:// address"),
            ))
        }
    }

    /// Checks that a key file exists and can be opened; its contents are parsed later, where
    /// the key is used, so that this module needs no cryptography.
    fn key_file(&self, key: &str, path: &Path) -> Result<PathBuf, ConfigError> {
        let resolved = self.resolve(path);
        let shown = resolved.display();
        let relative_hint = if path.is_relative() {
            " (relative paths are resolved against the config file's folder)"
        } else {
            ""
        };
        let metadata = fs::metadata(&resolved).map_err(|err| {
            if err.kind() == io::ErrorKind::NotFound {
                self.invalid(
                    key,
                    format!("`{shown}` does not exist; check the path{relative_hint}"),
                )
            } else {
                self.invalid(
                    key,
                    format!("cannot access `{shown}` ({err}); check the path and permissions"),
                )
            }
        })?;
        if !metadata.is_file() {
            return Err(self.invalid(
                key,
                format!("`{shown}` is not a file; point it at the PEM key file itself"),
            ));
        }
        if key == "alipay.merchant_private_key" {
            self.private_key_is_private(key, &resolved, &metadata)?;
        }
        fs::File::open(&resolved).map_err(|err| {
            self.invalid(
                key,
                format!("cannot read `{shown}` ({err}); let this user read the file"),
            )
        })?;
        Ok(resolved)
    }

    /// Refuses a private key that other local users can read, as ssh does: whoever can read
    /// it can sign payments and refunds as the merchant. The fix is in the message.
    #[cfg(unix)]
    fn private_key_is_private(
        &self,
        key: &str,
        path: &Path,
        metadata: &fs::Metadata,
    ) -> Result<(), ConfigError> {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            let shown = path.display();
            return Err(self.invalid(
                key,
                format!(
                    "`{shown}` can be read by other users (mode {mode:03o}), and whoever reads \
                     it can sign payments and refunds as you; run `chmod 600 {shown}` and \
                     start again"
                ),
            ));
        }
        Ok(())
    }

    #[cfg(not(unix))]
    fn private_key_is_private(
        &self,
        _key: &str,
        _path: &Path,
        _metadata: &fs::Metadata,
    ) -> Result<(), ConfigError> {
        Ok(())
    }

    /// Makes a path from the file absolute against the file's folder. If the current
    /// directory is unavailable the joined (still relative) path is kept; it then resolves
    /// against wherever the program runs, which is the best that can be done.
    fn resolve(&self, path: &Path) -> PathBuf {
        let joined = self.base_dir.join(path);
        std::path::absolute(&joined).unwrap_or(joined)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tempfile::TempDir;

    /// A temp folder holding a config file and two (unparsed) key files.
    struct Fixture {
        dir: TempDir,
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = TempDir::new().unwrap();
            fs::create_dir(dir.path().join("keys")).unwrap();
            let private = dir.path().join("keys/merchant_private_key.pem");
            fs::write(&private, "not parsed here").unwrap();
            // As `keys generate` writes it; a wider mode is refused (tested below).
            set_mode(&private, 0o600);
            fs::write(
                dir.path().join("keys/alipay_public_key.pem"),
                "not parsed here",
            )
            .unwrap();
            Fixture { dir }
        }

        fn config_path(&self) -> PathBuf {
            self.dir.path().join("config.toml")
        }

        fn load(&self, toml: &str) -> Result<Config, ConfigError> {
            fs::write(self.config_path(), toml).unwrap();
            Config::load(&self.config_path())
        }

        fn error(&self, toml: &str) -> ConfigError {
            self.load(toml).expect_err("config should be rejected")
        }
    }

    const FULL: &str = r#"
[alipay]
gateway = "asia"
client_id = "5J5Y3N2Z2Y0A1234"
merchant_private_key = "keys/merchant_private_key.pem"
alipay_public_key = "keys/alipay_public_key.pem"
key_version = "2"
connect_timeout_ms = 3000
request_timeout_ms = 20000

[merchant]
reference_merchant_id = "MER-42"
name = "Harbour Noodles Ltd"
mcc = "5812"

[store]
reference_store_id = "STORE-7"
name = "Harbour Noodles Pier 3"
mcc = "5812"
terminal_id = "TILL-2"

[payment]
currency = "hkd"
notify_url = "https://pos.example.com/alipay/notify"

[storage]
data_dir = "records"
"#;

    /// `FULL` with one `key = value` line replaced (or removed when `line` is empty).
    fn full_with(key: &str, line: &str) -> String {
        let prefix = format!("{key} = ");
        let mut found = false;
        let text: Vec<&str> = FULL
            .lines()
            .map(|l| {
                if l.starts_with(&prefix) {
                    found = true;
                    line
                } else {
                    l
                }
            })
            .collect();
        assert!(found, "FULL has no key {key}");
        text.join("\n")
    }

    /// Asserts the error names the file and the key, and that the text contains `needle`.
    fn assert_names(err: &ConfigError, fixture: &Fixture, key: &str, needle: &str) {
        let message = err.to_string();
        let file = fixture.config_path().display().to_string();
        assert!(
            message.starts_with(&format!("{file}: `{key}`: ")),
            "{message}"
        );
        assert_eq!(err.key(), Some(key), "{message}");
        assert_eq!(err.origin(), &ConfigSource::File(fixture.config_path()));
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    }

    #[test]
    fn defaults_select_the_sandbox() {
        let config = Config::defaults();
        assert!(config.is_sandbox());
        assert_eq!(config.source, ConfigSource::Defaults);
        assert_eq!(config.source.to_string(), "built-in defaults");
        assert_eq!(config.alipay.gateway.base_url(), None);
        assert_eq!(config.alipay.client_id, "SANDBOX_ALIPAYPOS_DEMO");
        assert_eq!(config.alipay.merchant_private_key, None);
        assert_eq!(config.alipay.alipay_public_key, None);
        assert_eq!(config.alipay.key_version, "1");
        assert_eq!(config.alipay.connect_timeout(), Duration::from_secs(5));
        assert_eq!(config.alipay.request_timeout(), Duration::from_secs(15));
        assert_eq!(config.merchant.reference_merchant_id, "M0001");
        assert_eq!(config.merchant.name, "Demo Cafe");
        assert_eq!(config.merchant.mcc, "5814");
        assert_eq!(config.store.reference_store_id, "S0001");
        assert_eq!(config.store.name, "Demo Cafe Main St");
        assert_eq!(config.store.mcc, "5814");
        assert_eq!(config.store.terminal_id, "T01");
        assert_eq!(config.payment.currency, Currency::USD);
        assert_eq!(config.payment.notify_url, None);
        let expected_dir = project_dirs().map_or(PathBuf::from(FALLBACK_DATA_DIR), |d| {
            d.data_dir().to_path_buf()
        });
        assert_eq!(config.storage.data_dir, expected_dir);
    }

    #[test]
    fn empty_file_means_defaults() {
        let fixture = Fixture::new();
        let config = fixture.load("# nothing set\n").unwrap();
        assert_eq!(config.source, ConfigSource::File(fixture.config_path()));
        assert_eq!(
            Config {
                source: ConfigSource::Defaults,
                ..config
            },
            Config::defaults()
        );
    }

    #[test]
    fn full_valid_file() {
        let fixture = Fixture::new();
        let config = fixture.load(FULL).unwrap();
        let dir = std::path::absolute(fixture.dir.path()).unwrap();
        assert!(!config.is_sandbox());
        assert_eq!(config.alipay.gateway, Gateway::Asia);
        assert_eq!(
            config.alipay.gateway.base_url().unwrap().as_str(),
            "https://open-sea-global.alipay.com/"
        );
        assert_eq!(config.alipay.client_id, "5J5Y3N2Z2Y0A1234");
        assert_eq!(
            config.alipay.merchant_private_key.as_deref(),
            Some(dir.join("keys/merchant_private_key.pem").as_path())
        );
        assert_eq!(
            config.alipay.alipay_public_key.as_deref(),
            Some(dir.join("keys/alipay_public_key.pem").as_path())
        );
        assert_eq!(config.alipay.key_version, "2");
        assert_eq!(config.alipay.connect_timeout(), Duration::from_millis(3000));
        assert_eq!(
            config.alipay.request_timeout(),
            Duration::from_millis(20000)
        );
        assert_eq!(config.merchant.reference_merchant_id, "MER-42");
        assert_eq!(config.merchant.name, "Harbour Noodles Ltd");
        assert_eq!(config.merchant.mcc, "5812");
        assert_eq!(config.store.reference_store_id, "STORE-7");
        assert_eq!(config.store.name, "Harbour Noodles Pier 3");
        assert_eq!(config.store.mcc, "5812");
        assert_eq!(config.store.terminal_id, "TILL-2");
        assert_eq!(config.payment.currency, Currency::HKD);
        assert_eq!(
            config.payment.notify_url.as_ref().map(Url::as_str),
            Some("https://pos.example.com/alipay/notify")
        );
        assert_eq!(config.storage.data_dir, dir.join("records"));
    }

    #[test]
    fn absolute_key_paths_are_kept() {
        let fixture = Fixture::new();
        let key =
            std::path::absolute(fixture.dir.path().join("keys/merchant_private_key.pem")).unwrap();
        let line = format!("merchant_private_key = {:?}", key.display().to_string());
        let config = fixture
            .load(&full_with("merchant_private_key", &line))
            .unwrap();
        assert_eq!(
            config.alipay.merchant_private_key.as_deref(),
            Some(key.as_path())
        );
    }

    #[test]
    fn relative_paths_resolve_against_the_config_folder_not_the_cwd() {
        let fixture = Fixture::new();
        let nested = fixture.dir.path().join("etc");
        fs::create_dir(&nested).unwrap();
        fs::rename(fixture.dir.path().join("keys"), nested.join("keys")).unwrap();
        let path = nested.join("config.toml");
        fs::write(&path, FULL).unwrap();
        let config = Config::load(&path).unwrap();
        let nested = std::path::absolute(&nested).unwrap();
        assert_eq!(
            config.alipay.alipay_public_key.as_deref(),
            Some(nested.join("keys/alipay_public_key.pem").as_path())
        );
        assert_eq!(config.storage.data_dir, nested.join("records"));
    }

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

    #[test]
    fn unknown_gateway_names_file_and_key() {
        let fixture = Fixture::new();
        let err = fixture.error(&full_with("gateway", "gateway = \"moon\""));
        assert_eq!(err.kind(), ConfigErrorKind::Invalid);
        assert_eq!(
            err.to_string(),
            format!(
                "{}: `alipay.gateway`: \"moon\" is not a gateway; use \"sandbox\", \
                 \"north-america\", \"asia\", \"europe\" or an https:// URL",
                fixture.config_path().display()
            )
        );
    }

    fn set_mode(path: &Path, mode: u32) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
        }
        #[cfg(not(unix))]
        let _ = (path, mode);
    }

    #[test]
    fn plain_http_gateway_only_for_loopback() {
        let fixture = Fixture::new();
        for url in [
            "http://127.0.0.1:9000",
            "http://127.8.9.10:9000",
            "http://[::1]:9000",
            "http://localhost:9000",
            "http://LOCALHOST:9000",
            "https://gateway.lab.example",
        ] {
            let config = fixture
                .load(&full_with("gateway", &format!("gateway = {url:?}")))
                .unwrap_or_else(|e| panic!("{url}: {e}"));
            assert!(!config.alipay.allow_insecure_http, "{url}");
        }
        for url in [
            "http://192.168.1.20:9000",
            "http://10.0.0.1",
            "http://[fe80::1]:9000",
            "http://gateway.lab.example",
            "http://localhost.example.com",
            "http://0.0.0.0:9000",
        ] {
            let err = fixture.error(&full_with("gateway", &format!("gateway = {url:?}")));
            assert_names(
                &err,
                &fixture,
                "alipay.gateway",
                "allow_insecure_http = true",
            );
            assert!(err.to_string().contains("https://"), "{err}");
        }
    }

    #[test]
    fn allow_insecure_http_lets_a_lab_gateway_through() {
        let fixture = Fixture::new();
        let toml = full_with(
            "gateway",
            "gateway = \"http://192.168.1.20:9000\"\nallow_insecure_http = true",
        );
        let config = fixture.load(&toml).unwrap();
        assert!(config.alipay.allow_insecure_http);
        assert_eq!(
            config.alipay.gateway.base_url().unwrap().as_str(),
            "http://192.168.1.20:9000/"
        );
        let err = fixture.error(&full_with(
            "gateway",
            "gateway = \"http://192.168.1.20:9000\"\nallow_insecure_http = false",
        ));
        assert_names(&err, &fixture, "alipay.gateway", "plain http://");
    }

    #[cfg(unix)]
    #[test]
    fn private_key_readable_by_others_is_refused() {
        let fixture = Fixture::new();
        let key = fixture.dir.path().join("keys/merchant_private_key.pem");
        for mode in [0o644, 0o640, 0o604, 0o660, 0o700 | 0o004] {
            set_mode(&key, mode);
            let err = fixture.error(FULL);
            assert_names(&err, &fixture, "alipay.merchant_private_key", "chmod 600");
            assert!(
                err.to_string().contains(&format!(
                    "chmod 600 {}",
                    std::path::absolute(&key).unwrap().display()
                )),
                "{err}"
            );
        }
        for mode in [0o600, 0o400] {
            set_mode(&key, mode);
            fixture
                .load(FULL)
                .unwrap_or_else(|e| panic!("{mode:o}: {e}"));
        }
        // Only the private half is secret: a world-readable public key is fine.
        set_mode(&key, 0o600);
        set_mode(
            &fixture.dir.path().join("keys/alipay_public_key.pem"),
            0o644,
        );
        fixture.load(FULL).unwrap();
    }

    #[test]
    fn non_http_gateway_url_is_rejected() {
        let fixture = Fixture::new();
        for url in [
            "ftp://example.com",
            "file:///tmp/x",
            "mailto:ops@example.com",
        ] {
            let err = fixture.error(&full_with("gateway", &format!("gateway = {url:?}")));
            assert_names(
                &err,
                &fixture,
                "alipay.gateway",
                "only http:// and https://",
            );
        }
    }

    #[test]
    fn live_gateway_requires_identity_and_keys() {
        let fixture = Fixture::new();
        for key in ["client_id", "merchant_private_key", "alipay_public_key"] {
            let err = fixture.error(&full_with(key, ""));
            assert_names(
                &err,
                &fixture,
                &format!("alipay.{key}"),
                "is required when `alipay.gateway` is \"asia\"",
            );
        }
    }

    #[test]
    fn sandbox_needs_no_keys_but_checks_given_ones() {
        let fixture = Fixture::new();
        let config = fixture.load("[alipay]\ngateway = \"sandbox\"\n").unwrap();
        assert!(config.is_sandbox());
        let err = fixture.error("[alipay]\nmerchant_private_key = \"keys/missing.pem\"\n");
        assert_names(
            &err,
            &fixture,
            "alipay.merchant_private_key",
            "does not exist",
        );
    }

    #[test]
    fn missing_key_files_are_reported_with_the_resolved_path() {
        let fixture = Fixture::new();
        let err = fixture.error(&full_with(
            "alipay_public_key",
            "alipay_public_key = \"keys/nope.pem\"",
        ));
        let resolved = std::path::absolute(fixture.dir.path().join("keys/nope.pem")).unwrap();
        assert_names(
            &err,
            &fixture,
            "alipay.alipay_public_key",
            &format!("`{}` does not exist", resolved.display()),
        );
        assert!(err.problem().contains("relative paths are resolved"));
    }

    #[test]
    fn key_path_that_is_a_folder_is_rejected() {
        let fixture = Fixture::new();
        let err = fixture.error(&full_with(
            "merchant_private_key",
            "merchant_private_key = \"keys\"",
        ));
        assert_names(
            &err,
            &fixture,
            "alipay.merchant_private_key",
            "is not a file",
        );
    }

    #[cfg(unix)]
    #[test]
    fn unreadable_key_file_is_rejected() {
        use std::os::unix::fs::PermissionsExt;
        let fixture = Fixture::new();
        let key = fixture.dir.path().join("keys/merchant_private_key.pem");
        fs::set_permissions(&key, fs::Permissions::from_mode(0o000)).unwrap();
        // Root can read anything; then there is nothing to observe.
        if fs::File::open(&key).is_ok() {
            return;
        }
        let err = fixture.error(FULL);
        assert_names(&err, &fixture, "alipay.merchant_private_key", "cannot read");
    }

    #[test]
    fn reference_ids_must_be_1_to_32_chars() {
        let fixture = Fixture::new();
        for key in ["reference_merchant_id", "reference_store_id"] {
            let dotted = if key.contains("merchant") {
                "merchant.reference_merchant_id"
            } else {
                "store.reference_store_id"
            };
            let err = fixture.error(&full_with(key, &format!("{key} = \"\"")));
            assert_names(&err, &fixture, dotted, "is empty");
            let err = fixture.error(&full_with(key, &format!("{key} = \"   \"")));
            assert_names(&err, &fixture, dotted, "is empty");
            let err = fixture.error(&full_with(key, &format!("{key} = \"{}\"", "x".repeat(33))));
            assert_names(&err, &fixture, dotted, "is 33 characters long");
            let ok = fixture
                .load(&full_with(key, &format!("{key} = \"{}\"", "x".repeat(32))))
                .unwrap();
            let value = if key.contains("merchant") {
                ok.merchant.reference_merchant_id.to_owned()
            } else {
                ok.store.reference_store_id.to_owned()
            };
            assert_eq!(value.len(), 32);
        }
    }

    #[test]
    fn names_must_be_1_to_256_chars() {
        let fixture = Fixture::new();
        let long = "名".repeat(257);
        let toml = format!("[merchant]\nname = \"{long}\"\n");
        let err = fixture.error(&toml);
        assert_names(&err, &fixture, "merchant.name", "is 257 characters long");
        // 256 multi-byte characters are fine: the limit is in characters, not bytes.
        let toml = format!("[store]\nname = \"{}\"\n", "名".repeat(256));
        assert_eq!(fixture.load(&toml).unwrap().store.name.chars().count(), 256);
        let err = fixture.error("[store]\nname = \"\"\n");
        assert_names(&err, &fixture, "store.name", "is empty");
    }

    #[test]
    fn mcc_must_be_four_digits() {
        let fixture = Fixture::new();
        for bad in ["581", "58144", "58a4", "", "５８１４"] {
            let err = fixture.error(&format!("[merchant]\nmcc = {bad:?}\n"));
            assert_names(
                &err,
                &fixture,
                "merchant.mcc",
                "is not a merchant category code",
            );
            let err = fixture.error(&format!("[store]\nmcc = {bad:?}\n"));
            assert_names(&err, &fixture, "store.mcc", "4-digit");
        }
    }

    #[test]
    fn terminal_and_client_ids_are_limited_to_64_chars() {
        let fixture = Fixture::new();
        let err = fixture.error(&format!("[store]\nterminal_id = \"{}\"\n", "t".repeat(65)));
        assert_names(&err, &fixture, "store.terminal_id", "at most 64");
        let err = fixture.error("[store]\nterminal_id = \"\"\n");
        assert_names(&err, &fixture, "store.terminal_id", "is empty");
        let err = fixture.error(&full_with(
            "client_id",
            &format!("client_id = \"{}\"", "c".repeat(65)),
        ));
        assert_names(&err, &fixture, "alipay.client_id", "at most 64");
        let err = fixture.error(&full_with("client_id", "client_id = \"\""));
        assert_names(&err, &fixture, "alipay.client_id", "is empty");
    }

    #[test]
    fn unknown_currency_is_rejected() {
        let fixture = Fixture::new();
        let err = fixture.error(&full_with("currency", "currency = \"XYZ\""));
        assert_names(
            &err,
            &fixture,
            "payment.currency",
            "unknown currency code `XYZ`; use an ISO 4217 code such as USD",
        );
    }

    #[test]
    fn notify_url_must_be_http() {
        let fixture = Fixture::new();
        let err = fixture.error(&full_with(
            "notify_url",
            "notify_url = \"ftp://example.com/n\"",
        ));
        assert_names(
            &err,
            &fixture,
            "payment.notify_url",
            "not an http:// or https:// URL",
        );
        let err = fixture.error(&full_with("notify_url", "notify_url = \"pos.example.com\""));
        assert_names(&err, &fixture, "payment.notify_url", "is not a URL");
        let config = fixture
            .load(&full_with(
                "notify_url",
                "notify_url = \"http://10.0.0.5:8080/n\"",
            ))
            .unwrap();
        assert_eq!(
            config.payment.notify_url.as_ref().map(Url::as_str),
            Some("http://10.0.0.5:8080/n")
        );
    }

    #[test]
    fn zero_timeouts_are_rejected() {
        let fixture = Fixture::new();
        for key in ["connect_timeout_ms", "request_timeout_ms"] {
            let err = fixture.error(&full_with(key, &format!("{key} = 0")));
            assert_names(&err, &fixture, &format!("alipay.{key}"), "greater than 0");
        }
    }

    #[test]
    fn key_version_must_be_a_number() {
        let fixture = Fixture::new();
        let err = fixture.error(&full_with("key_version", "key_version = \"v1\""));
        assert_names(&err, &fixture, "alipay.key_version", "is not a key version");
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let fixture = Fixture::new();
        let err = fixture.error("[alipay]\ngateway = \"asia\"\nclient_id = 5J5Y\n");
        assert_eq!(err.kind(), ConfigErrorKind::Parse);
        let message = err.to_string();
        assert!(
            message.starts_with(&format!(
                "{}: line 3, column ",
                fixture.config_path().display()
            )),
            "{message}"
        );
        assert!(message.contains("fix the TOML syntax there"), "{message}");
    }

    #[test]
    fn wrong_type_has_line_and_key() {
        let fixture = Fixture::new();
        let err = fixture.error("[alipay]\n\nconnect_timeout_ms = \"5000\"\n");
        assert_eq!(err.kind(), ConfigErrorKind::Parse);
        assert_names(
            &err,
            &fixture,
            "alipay.connect_timeout_ms",
            "line 3, column 22",
        );
        assert!(
            err.problem()
                .contains("invalid type: string \"5000\", expected a whole number without quotes"),
            "{err}"
        );
        let err = fixture.error("[alipay]\nrequest_timeout_ms = -1\n");
        assert_names(&err, &fixture, "alipay.request_timeout_ms", "line 2");
        let err = fixture.error("merchant = \"M0001\"\n");
        assert_names(
            &err,
            &fixture,
            "merchant",
            "expected a table such as [alipay]",
        );
        let err = fixture.error("[store]\nmcc = 5814\n");
        assert_names(
            &err,
            &fixture,
            "store.mcc",
            "expected text in double quotes",
        );
    }

    #[test]
    fn unknown_key_is_rejected_by_name() {
        let fixture = Fixture::new();
        let err = fixture.error("[alipay]\ngatway = \"asia\"\n");
        assert_eq!(err.kind(), ConfigErrorKind::Parse);
        assert_names(&err, &fixture, "alipay.gatway", "unknown field `gatway`");
        assert!(err.problem().contains("line 2"), "{err}");
        assert!(err.problem().contains("correct its spelling"), "{err}");
        let err = fixture.error("[alipy]\ngateway = \"asia\"\n");
        assert_names(&err, &fixture, "alipy", "unknown field `alipy`");
    }

    #[test]
    fn explicit_missing_file_is_an_error() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("nope.toml");
        let err = Config::discover(Some(&path)).unwrap_err();
        assert_eq!(err.kind(), ConfigErrorKind::NotFound);
        assert_eq!(err.key(), None);
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("{}: no such file", path.display())),
            "{message}"
        );
        assert!(message.contains("--config"), "{message}");
    }

    #[test]
    fn folder_instead_of_file_is_unreadable() {
        let dir = TempDir::new().unwrap();
        let err = Config::load(dir.path()).unwrap_err();
        assert_eq!(err.kind(), ConfigErrorKind::Unreadable);
    }

    #[test]
    fn non_utf8_file_is_unreadable() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("config.toml");
        fs::write(&path, [0xff, 0xfe, b'a']).unwrap();
        let err = Config::load(&path).unwrap_err();
        assert_eq!(err.kind(), ConfigErrorKind::Unreadable);
        assert!(err.to_string().contains("UTF-8"), "{err}");
    }

    #[test]
    fn missing_default_file_means_defaults() {
        let dir = TempDir::new().unwrap();
        let absent = dir.path().join("alipay-pos/config.toml");
        assert_eq!(discover_in(None, Some(absent)).unwrap(), Config::defaults());
        assert_eq!(discover_in(None, None).unwrap(), Config::defaults());
    }

    #[test]
    fn present_default_file_is_loaded_and_validated() {
        let fixture = Fixture::new();
        fs::write(fixture.config_path(), FULL).unwrap();
        let config = discover_in(None, Some(fixture.config_path())).unwrap();
        assert_eq!(config.source, ConfigSource::File(fixture.config_path()));
        assert_eq!(config.alipay.gateway, Gateway::Asia);

        fs::write(fixture.config_path(), "[payment]\ncurrency = \"XYZ\"\n").unwrap();
        let err = discover_in(None, Some(fixture.config_path())).unwrap_err();
        assert_eq!(err.key(), Some("payment.currency"));
    }

    #[test]
    fn explicit_path_wins_over_default() {
        let fixture = Fixture::new();
        fs::write(fixture.config_path(), FULL).unwrap();
        let other = fixture.dir.path().join("other.toml");
        fs::write(&other, "[store]\nterminal_id = \"T99\"\n").unwrap();
        let config = discover_in(Some(&other), Some(fixture.config_path())).unwrap();
        assert_eq!(config.store.terminal_id, "T99");
        assert!(config.is_sandbox());
    }

    #[test]
    fn default_path_is_config_toml_in_the_os_config_folder() {
        if let Some(path) = Config::default_path() {
            assert_eq!(path.file_name(), Some(CONFIG_FILE_NAME.as_ref()));
            assert!(path.parent().is_some_and(|dir| dir.ends_with("alipay-pos")
                || dir.ends_with("alipay-pos/config")
                || dir.ends_with("alipay-pos\\config")));
        } else {
            assert!(project_dirs().is_none());
        }
    }

    fn example_path() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/config.example.toml")
    }

    /// Every key the file format has, by table.
    const ALL_KEYS: &[(&str, &[&str])] = &[
        (
            "alipay",
            &[
                "gateway",
                "client_id",
                "merchant_private_key",
                "alipay_public_key",
                "key_version",
                "allow_insecure_http",
                "connect_timeout_ms",
                "request_timeout_ms",
            ],
        ),
        ("merchant", &["reference_merchant_id", "name", "mcc"]),
        (
            "store",
            &["reference_store_id", "name", "mcc", "terminal_id"],
        ),
        ("payment", &["currency", "notify_url", "notify_listen"]),
        ("storage", &["data_dir"]),
        (
            "admin",
            &["pin_hash", "max_pin_attempts", "lockout_seconds"],
        ),
        ("admin.managers", &["name", "pin_hash"]),
        ("sandbox", &["listen", "public_url"]),
        ("catalog", &["name", "name_zh", "price"]),
    ];

    /// `(table, key, commented_out)` for every setting line of the example.
    fn example_settings(text: &str) -> Vec<(String, String, bool)> {
        let mut table = String::new();
        let mut settings = Vec::new();
        for line in text.lines() {
            // `[[catalog]]` and `[sandbox]` are shown commented out (an empty catalog and no
            // `[sandbox]` table are the defaults).
            let header = line.strip_prefix("# ").unwrap_or(line);
            if let Some(name) = header
                .strip_prefix("[[")
                .and_then(|l| l.strip_suffix("]]"))
                .or_else(|| header.strip_prefix('[').and_then(|l| l.strip_suffix(']')))
            {
                table = name.to_owned();
            } else {
                let (commented, body) = match line.strip_prefix("# ") {
                    Some(body) => (true, body),
                    None => (false, line),
                };
                if let Some((key, _)) = body.split_once(" = ")
                    && !key.is_empty()
                    && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                {
                    settings.push((table.clone(), key.to_owned(), commented));
                }
            }
        }
        settings
    }

    #[test]
    fn example_config_shows_every_key() {
        let text = fs::read_to_string(example_path()).unwrap();
        let settings = example_settings(&text);
        for (table, keys) in ALL_KEYS {
            for key in *keys {
                let count = settings
                    .iter()
                    .filter(|(t, k, _)| t == table && k == key)
                    .count();
                assert_eq!(count, 1, "example shows `{table}.{key}` {count} times");
            }
        }
        let known = ALL_KEYS.iter().map(|(_, keys)| keys.len()).sum::<usize>();
        assert_eq!(
            settings.len(),
            known,
            "example has settings that are not keys"
        );
    }

    #[test]
    fn example_config_as_shipped_equals_the_defaults() {
        let config = Config::load(&example_path()).unwrap();
        assert_eq!(config.source, ConfigSource::File(example_path()));
        assert_eq!(
            Config {
                source: ConfigSource::Defaults,
                ..config
            },
            Config::defaults()
        );
    }

    #[test]
    fn example_config_commented_settings_are_valid() {
        let text = fs::read_to_string(example_path()).unwrap();
        let uncommented: String = text
            .lines()
            .map(|line| {
                let is_setting = line.strip_prefix("# ").is_some_and(|body| {
                    body.split_once(" = ").is_some_and(|(key, _)| {
                        !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                    })
                });
                let is_header = line.starts_with("# [") && line.ends_with(']');
                if is_setting || is_header {
                    &line[2..]
                } else {
                    line
                }
            })
            .map(|line| format!("{line}\n"))
            .collect();
        assert_ne!(
            uncommented, text,
            "the example has no commented-out settings"
        );
        let fixture = Fixture::new();
        let config = fixture.load(&uncommented).unwrap();
        // The commented-out key paths are relative, so they now point into the fixture.
        let dir = std::path::absolute(fixture.dir.path()).unwrap();
        assert_eq!(
            config.alipay.merchant_private_key,
            Some(dir.join("keys/merchant_private_key.pem"))
        );
        assert_eq!(
            config.alipay.alipay_public_key,
            Some(dir.join("keys/alipay_public_key.pem"))
        );
        assert!(config.payment.notify_url.is_some());
        assert!(config.storage.data_dir.is_absolute() || cfg!(windows));
        assert_eq!(config.catalog.len(), 1);
        assert_eq!(config.catalog[0].price.minor(), 450);
        assert!(config.sandbox.reachable_from_lan());
        assert!(config.sandbox.public_url.is_some());
    }

    #[test]
    fn catalog_prices_are_exact_in_the_payment_currency() {
        let fixture = Fixture::new();
        let config = fixture
            .load(
                r#"
[payment]
currency = "JPY"

[[catalog]]
name = "Matcha latte"
name_zh = "抹茶拿铁"
price = "580"

[[catalog]]
name = "Onigiri"
price = 250
"#,
            )
            .unwrap();
        assert_eq!(config.catalog.len(), 2);
        assert_eq!(config.catalog[0].price.minor(), 580);
        assert_eq!(config.catalog[0].price.currency(), Currency::JPY);
        assert_eq!(
            config.catalog[0].name_in(Locale::SimplifiedChinese),
            "抹茶拿铁"
        );
        assert_eq!(
            config.catalog[1].name_in(Locale::SimplifiedChinese),
            "Onigiri"
        );
        assert_eq!(config.catalog[1].price.minor(), 250);

        let usd = fixture
            .load("[[catalog]]\nname = \"Coffee\"\nprice = \"3.5\"\n")
            .unwrap();
        assert_eq!(usd.catalog[0].price.minor(), 350);
        assert!(Config::defaults().catalog.is_empty());
    }

    #[test]
    fn managers_are_read_with_the_single_pin_hash_as_manager() {
        let fixture = Fixture::new();
        let config = fixture
            .load(
                "[admin]\npin_hash = \"$argon2id$old\"\n[[admin.managers]]\nname = \"Ana Lim\"\npin_hash = \"$argon2id$ana\"\n[[admin.managers]]\nname = \"陈经理\"\npin_hash = \"$argon2id$chen\"\n",
            )
            .unwrap();
        let managers: Vec<_> = config
            .admin
            .managers()
            .into_iter()
            .map(|m| (m.name, m.pin_hash))
            .collect();
        assert_eq!(
            managers,
            vec![
                ("manager".to_string(), "$argon2id$old".to_string()),
                ("Ana Lim".to_string(), "$argon2id$ana".to_string()),
                ("陈经理".to_string(), "$argon2id$chen".to_string()),
            ]
        );
    }

    #[test]
    fn manager_mistakes_name_the_entry() {
        let fixture = Fixture::new();
        let entry = |name: &str, hash: &str| {
            format!("[[admin.managers]]\nname = \"{name}\"\npin_hash = \"{hash}\"\n")
        };
        let err = fixture.error(&format!(
            "{}{}",
            entry("Ana", "$argon2id$a"),
            entry("Ana", "$argon2id$b")
        ));
        assert_names(&err, &fixture, "admin.managers[1].name", "used twice");
        let err = fixture.error(&format!(
            "[admin]\npin_hash = \"$argon2id$x\"\n{}",
            entry("manager", "$argon2id$b")
        ));
        assert_names(&err, &fixture, "admin.managers[0].name", "used twice");
        let err = fixture.error(&entry(" ", "$argon2id$a"));
        assert_names(&err, &fixture, "admin.managers[0].name", "empty");
        let err = fixture.error(&entry(&"x".repeat(65), "$argon2id$a"));
        assert_names(&err, &fixture, "admin.managers[0].name", "64 characters");
        let err = fixture.error(&entry("Ana", "1234"));
        assert_names(
            &err,
            &fixture,
            "admin.managers[0].pin_hash",
            "set-pin --manager",
        );
        let err = fixture.error("[[admin.managers]]\npin_hash = \"$argon2id$a\"\n");
        assert_names(&err, &fixture, "admin.managers[0].name", "missing");
    }

    #[test]
    fn catalog_mistakes_name_the_entry() {
        let fixture = Fixture::new();
        let err = fixture.error("[[catalog]]\nname = \"Tea\"\nprice = 3.50\n");
        assert_names(&err, &fixture, "catalog[0].price", "in quotes");
        let err = fixture.error(
            "[[catalog]]\nname = \"Tea\"\nprice = \"1\"\n[[catalog]]\nname = \"Cake\"\nprice = \"4.999\"\n",
        );
        assert_names(&err, &fixture, "catalog[1].price", "decimal places");
        let err = fixture.error("[[catalog]]\nprice = \"1\"\n");
        assert_names(&err, &fixture, "catalog[0].name", "missing");
        let err = fixture.error("[[catalog]]\nname = \" \"\nprice = \"1\"\n");
        assert_names(&err, &fixture, "catalog[0].name", "empty");
        let err = fixture.error("[[catalog]]\nname = \"Tea\"\nprice = \"0\"\n");
        assert_names(&err, &fixture, "catalog[0].price", "greater than zero");
        let err = fixture.error("[[catalog]]\nname = \"Tea\"\n");
        assert_names(&err, &fixture, "catalog[0].price", "missing");
        let err = fixture.error("[[catalog]]\nname = \"Tea\"\nprice = \"1\"\ncolour = \"red\"\n");
        assert!(err.to_string().contains("colour"), "{err}");
    }

    #[test]
    fn sandbox_defaults_to_a_free_loopback_port() {
        let config = Config::defaults();
        assert_eq!(config.sandbox.listen, "127.0.0.1:0".parse().unwrap());
        assert_eq!(config.sandbox.public_url, None);
        assert!(!config.sandbox.reachable_from_lan());
        // An empty table means the same as none.
        let fixture = Fixture::new();
        let config = fixture.load("[sandbox]\n").unwrap();
        assert_eq!(config.sandbox, Config::defaults().sandbox);
    }

    #[test]
    fn sandbox_on_the_lan_for_phones() {
        let fixture = Fixture::new();
        let config = fixture
            .load(
                "[alipay]\ngateway = \"sandbox\"\n\n[sandbox]\nlisten = \"0.0.0.0:8090\"\n\
                 public_url = \"http://192.168.1.20:8090\"\n",
            )
            .unwrap();
        assert!(config.is_sandbox());
        assert_eq!(config.sandbox.listen, "0.0.0.0:8090".parse().unwrap());
        assert!(config.sandbox.reachable_from_lan());
        assert_eq!(
            config.sandbox.public_url.as_ref().map(Url::as_str),
            Some("http://192.168.1.20:8090/")
        );

        // A LAN address phones can open needs no public_url: QR codes use it as it is.
        let config = fixture
            .load("[sandbox]\nlisten = \"192.168.1.20:8090\"\n")
            .unwrap();
        assert!(config.sandbox.reachable_from_lan());
        assert_eq!(config.sandbox.public_url, None);
        let config = fixture.load("[sandbox]\nlisten = \"[::1]:0\"\n").unwrap();
        assert!(!config.sandbox.reachable_from_lan());

        // A public URL with a loopback listen is allowed (a port forward or tunnel).
        let config = fixture
            .load("[sandbox]\npublic_url = \"https://demo.example.com/pos\"\n")
            .unwrap();
        assert!(!config.sandbox.reachable_from_lan());
        assert_eq!(
            config.sandbox.public_url.as_ref().map(Url::as_str),
            Some("https://demo.example.com/pos")
        );
    }

    #[test]
    fn sandbox_listen_must_be_an_address() {
        let fixture = Fixture::new();
        for bad in ["localhost:8090", "0.0.0.0", "192.168.1.20:99999", ""] {
            let err = fixture.error(&format!("[sandbox]\nlisten = {bad:?}\n"));
            assert_eq!(err.kind(), ConfigErrorKind::Invalid);
            assert_names(&err, &fixture, "sandbox.listen", "is not an address");
            assert!(err.problem().contains("\"0.0.0.0:8090\""), "{err}");
        }
        let err = fixture.error("[sandbox]\nlisten = 8090\n");
        assert_eq!(err.kind(), ConfigErrorKind::Parse);
        assert_names(
            &err,
            &fixture,
            "sandbox.listen",
            "expected text in double quotes",
        );
    }

    #[test]
    fn sandbox_on_every_network_needs_a_public_url() {
        let fixture = Fixture::new();
        let err = fixture.error("[sandbox]\nlisten = \"0.0.0.0:8090\"\n");
        assert_names(
            &err,
            &fixture,
            "sandbox.public_url",
            "is required when `sandbox.listen` is \"0.0.0.0:8090\"",
        );
        assert!(
            err.problem()
                .contains("\"http://<this computer's LAN address>:8090\""),
            "{err}"
        );
        let err = fixture.error("[sandbox]\nlisten = \"[::]:8090\"\n");
        assert_names(&err, &fixture, "sandbox.public_url", "is required");
    }

    #[test]
    fn sandbox_public_url_must_be_http_with_a_host() {
        let fixture = Fixture::new();
        let load = |url: &str| fixture.error(&format!("[sandbox]\npublic_url = {url:?}\n"));
        let err = load("192.168.1.20:8090");
        assert_names(&err, &fixture, "sandbox.public_url", "is not a URL");
        for bad in [
            "localhost:8090",
            "ftp://192.168.1.20",
            "file:///tmp/x",
            "mailto:a@example.com",
        ] {
            let err = load(bad);
            assert_names(&err, &fixture, "sandbox.public_url", "is not an http://");
            assert!(err.problem().contains("http://192.168.1.20:8090"), "{err}");
        }
        let err = load("http//192.168.1.20");
        assert_names(&err, &fixture, "sandbox.public_url", "is not a URL");
        let err = load("http://192.168.1.20:8090/?x=1");
        assert_names(&err, &fixture, "sandbox.public_url", "query");
        let err = load("http://192.168.1.20:8090/#top");
        assert_names(&err, &fixture, "sandbox.public_url", "fragment");
    }

    #[test]
    fn sandbox_unknown_key_is_rejected_by_name() {
        let fixture = Fixture::new();
        let err = fixture.error("[sandbox]\nlisten = \"127.0.0.1:0\"\nallow_lan = true\n");
        assert_eq!(err.kind(), ConfigErrorKind::Parse);
        assert_names(
            &err,
            &fixture,
            "sandbox.allow_lan",
            "unknown field `allow_lan`",
        );
        assert!(err.problem().contains("line 3"), "{err}");
        let err = fixture.error("sandbox = \"0.0.0.0:8090\"\n");
        assert_names(
            &err,
            &fixture,
            "sandbox",
            "expected a table such as [alipay]",
        );
    }

    #[test]
    fn sandbox_table_is_refused_with_a_real_gateway() {
        let fixture = Fixture::new();
        for table in [
            "[sandbox]\nlisten = \"0.0.0.0:8090\"\npublic_url = \"http://192.168.1.20:8090\"\n",
            "[sandbox]\n",
        ] {
            let err = fixture.error(&format!("{FULL}\n{table}"));
            assert_eq!(err.kind(), ConfigErrorKind::Invalid);
            assert_names(
                &err,
                &fixture,
                "sandbox",
                "[sandbox] only applies to gateway = \"sandbox\", but `alipay.gateway` is \
                 \"asia\"; remove the [sandbox] table",
            );
            assert!(
                err.problem().contains("or set gateway = \"sandbox\""),
                "{err}"
            );
        }
        let custom = full_with("gateway", "gateway = \"http://127.0.0.1:8090\"");
        let err = fixture.error(&format!("{custom}\n[sandbox]\n"));
        assert_names(&err, &fixture, "sandbox", "--public-url instead");
        // Without the table a real gateway keeps the (unused) defaults.
        let config = fixture.load(FULL).unwrap();
        assert_eq!(config.sandbox, Config::defaults().sandbox);
    }
}
