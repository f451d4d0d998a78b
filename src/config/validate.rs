//! Validation: the raw values of a file to a checked [`Config`], each mistake reported with
//! the key, the value and a fix.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use url::Url;

use super::discover::{DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_REQUEST_TIMEOUT_MS};
use super::raw::{
    RawAlipay, RawCatalogItem, RawConfig, RawHub, RawManager, RawReconciliation, RawSandbox,
    RawScanner,
};
use super::{
    AdminConfig, AlipayConfig, CatalogItem, Config, ConfigError, ConfigErrorKind, ConfigSource,
    DEFAULT_HUB_PORT, DEFAULT_MANAGER, DEFAULT_SFTP_PORT, DEFAULT_SFTP_REMOTE_ROOT, DatabaseUrl,
    Gateway, HubConfig, MAX_CATALOG_ITEMS, MAX_CUSTOMER_ID_CHARS, MAX_SCANNER_AFFIX_CHARS,
    ManagerPin, MerchantConfig, PaymentConfig, ReconciliationConfig, SCANNER_MAX_KEY_GAP_MS_RANGE,
    SCANNER_MIN_LENGTH_RANGE, SandboxConfig, ScannerConfig, SftpCredential, StorageConfig,
    StoreConfig, is_http, is_loopback_host, manager_name_problem,
};
use crate::money::{Currency, Money};

/// Longest item name (characters): it must fit a button and Alipay's order description.
const MAX_ITEM_NAME_CHARS: usize = 40;

// Length limits come from Alipay's field definitions (order-code.md): `referenceMerchantId`
// is 32 in `pay` but 64 in registration, so 32 satisfies both; `referenceStoreId` is 32 in
// registration; names are 256; `client-id` and ids in general are 64.
const MAX_REFERENCE_ID_CHARS: usize = 32;
const MAX_NAME_CHARS: usize = 256;
const MAX_TERMINAL_ID_CHARS: usize = 64;
const MAX_CLIENT_ID_CHARS: usize = 64;

/// Turns the raw values of one file into a checked [`Config`]. It knows the file, so that
/// every message names it, and the file's folder, which relative paths are resolved against.
pub(super) struct Validator<'a> {
    pub(super) origin: &'a ConfigSource,
    /// Folder relative paths in the file are resolved against.
    pub(super) base_dir: &'a Path,
}

impl Validator<'_> {
    pub(super) fn invalid(&self, key: &str, problem: impl Into<String>) -> ConfigError {
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

    pub(super) fn validate(&self, raw: RawConfig) -> Result<Config, ConfigError> {
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
        let scanner = self.scanner(raw.scanner, defaults.scanner)?;
        let reconciliation = raw
            .reconciliation
            .map(|raw| self.reconciliation(raw))
            .transpose()?;
        let hub = raw.hub.map(|raw| self.hub(raw)).transpose()?;
        let registration = self.registration(raw.registration, &merchant.name)?;
        let printer = raw
            .printer
            .map(|raw| self.printer(raw, &storage.data_dir))
            .transpose()?;
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
            scanner,
            reconciliation,
            hub,
            registration,
            printer,
        })
    }

    /// `[hub]`: the hub's own keys and a terminal's link. Files are named, not read: the
    /// token file is read when the terminal starts (it may be written after the config).
    fn hub(&self, raw: RawHub) -> Result<HubConfig, ConfigError> {
        let listen = match raw.listen {
            None => std::net::SocketAddr::from(([127, 0, 0, 1], DEFAULT_HUB_PORT)),
            Some(text) => text.parse().map_err(|_| {
                self.invalid(
                    "hub.listen",
                    format!("\"{text}\" is not an address; use IP:PORT such as \"127.0.0.1:8092\""),
                )
            })?,
        };
        let web_url = |key: &str, text: &str| -> Result<Url, ConfigError> {
            let url = Url::parse(text.trim()).map_err(|err| {
                self.invalid(
                    key,
                    format!("{text:?} is not a URL ({err}); use an https:// address"),
                )
            })?;
            if !is_http(&url) {
                return Err(self.invalid(
                    key,
                    format!("{text:?} is not an http:// or https:// URL; use an https:// address"),
                ));
            }
            Ok(url)
        };
        let public_url = raw
            .public_url
            .map(|text| web_url("hub.public_url", &text))
            .transpose()?;
        let url = raw.url.map(|text| web_url("hub.url", &text)).transpose()?;
        if let Some(url) = &url
            && url.scheme() == "http"
            && !is_loopback_host(url)
        {
            return Err(self.invalid(
                "hub.url",
                format!(
                    "\"{url}\" is plain http:// to another machine, which would carry the \
                     terminal's token and payment notifications in clear; use the hub's https:// \
                     URL (plain http:// is only accepted for 127.0.0.1, ::1 or localhost)"
                ),
            ));
        }
        let database_url = raw
            .database_url
            .map(|text| {
                DatabaseUrl::parse(&text)
                    .map_err(|problem| self.invalid("hub.database_url", problem))
            })
            .transpose()?;
        let token_file = match (raw.token_file, &url) {
            (Some(path), _) if path.as_os_str().is_empty() => {
                return Err(self.invalid(
                    "hub.token_file",
                    "is empty; name the file holding this terminal's hub token",
                ));
            }
            (Some(path), _) => Some(self.resolve(&path)),
            (None, Some(_)) => {
                return Err(self.invalid(
                    "hub.token_file",
                    "is missing; `hub.url` needs it: the file holding the token that \
                     `alipay-pos hub terminals add NAME` printed on the hub",
                ));
            }
            (None, None) => None,
        };
        Ok(HubConfig {
            listen,
            public_url,
            database_url,
            url,
            token_file,
        })
    }

    /// `[reconciliation]`: the SFTP account of Alipay's reports. The files it names are not
    /// opened here: the password and the key are read when a fetch uses them (a missing one
    /// must not stop the terminal from taking payments), so only their spelling is checked.
    fn reconciliation(&self, raw: RawReconciliation) -> Result<ReconciliationConfig, ConfigError> {
        let required = |key: &str, what: &str| {
            self.invalid(
                key,
                format!("is missing; [reconciliation] needs it: {what}"),
            )
        };
        let sftp_host = match raw.sftp_host {
            None => {
                return Err(required(
                    "reconciliation.sftp_host",
                    "the SFTP server Alipay support named, such as \"isftp.alipay.com\"",
                ));
            }
            Some(host) => self.sftp_host(host)?,
        };
        let sftp_port = match raw.sftp_port {
            None => DEFAULT_SFTP_PORT,
            Some(port) => match u16::try_from(port) {
                Ok(port) if port != 0 => port,
                _ => {
                    return Err(self.invalid(
                        "reconciliation.sftp_port",
                        format!(
                            "is {port}, but a port is 1 to 65535; remove the line to use \
                             {DEFAULT_SFTP_PORT}"
                        ),
                    ));
                }
            },
        };
        let username = match raw.username {
            None => {
                return Err(required(
                    "reconciliation.username",
                    "the SFTP user name Alipay support gave you",
                ));
            }
            Some(name) => self.plain_word("reconciliation.username", name, 256)?,
        };
        let credential = match (raw.password_file, raw.identity_file) {
            (Some(_), Some(_)) => {
                return Err(self.invalid(
                    "reconciliation.identity_file",
                    "is set together with `reconciliation.password_file`; keep only the one \
                     your SFTP account uses",
                ));
            }
            (None, None) => {
                return Err(required(
                    "reconciliation.password_file",
                    "the path of a file holding the SFTP password (or set \
                     `reconciliation.identity_file` to an SSH private key instead)",
                ));
            }
            (Some(path), None) => SftpCredential::PasswordFile(
                self.named_path("reconciliation.password_file", &path)?,
            ),
            (None, Some(path)) => SftpCredential::IdentityFile(
                self.named_path("reconciliation.identity_file", &path)?,
            ),
        };
        let known_hosts = match raw.known_hosts {
            None => {
                return Err(required(
                    "reconciliation.known_hosts",
                    "an OpenSSH known_hosts file with the server's host key (check the key \
                     with Alipay, then add it with `ssh-keyscan`); a key is never trusted on \
                     first use",
                ));
            }
            Some(path) => self.named_path("reconciliation.known_hosts", &path)?,
        };
        let customer_id = match raw.customer_id {
            None => {
                return Err(required(
                    "reconciliation.customer_id",
                    "the customerId Alipay assigned you (the folder under /v1/settlements/)",
                ));
            }
            Some(id) => {
                let id =
                    self.plain_word("reconciliation.customer_id", id, MAX_CUSTOMER_ID_CHARS)?;
                if !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                {
                    return Err(self.invalid(
                        "reconciliation.customer_id",
                        format!(
                            "{id:?} is not a customer id: it names a folder on the server, so \
                             only letters, digits, `_` and `-`; copy it from Alipay's \
                             onboarding mail"
                        ),
                    ));
                }
                id
            }
        };
        let remote_root = match raw.remote_root {
            None => DEFAULT_SFTP_REMOTE_ROOT.to_owned(),
            Some(root) => self.remote_root(root)?,
        };
        Ok(ReconciliationConfig {
            sftp_host,
            sftp_port,
            username,
            credential,
            known_hosts,
            customer_id,
            remote_root,
        })
    }

    /// A host name or IP address as `ssh` takes it: no scheme, port, user or spaces (each
    /// has its own key), and a `:` only inside an IPv6 address.
    fn sftp_host(&self, host: String) -> Result<String, ConfigError> {
        let key = "reconciliation.sftp_host";
        let host = self.plain_word(key, host, 253)?;
        if host.contains("://") {
            return Err(self.invalid(
                key,
                format!(
                    "{host:?} is a URL; write the host name alone, such as \
                     \"isftp.alipay.com\" (the port goes in `reconciliation.sftp_port`)"
                ),
            ));
        }
        let ipv6 = host.parse::<std::net::Ipv6Addr>().is_ok();
        let bad = host.starts_with('-')
            || host.contains(['/', '@', '[', ']', '\\', ',', '*', '?', '!'])
            || (host.contains(':') && !ipv6);
        if bad {
            return Err(self.invalid(
                key,
                format!(
                    "{host:?} is not a host name or IP address; write it alone, such as \
                     \"isftp.alipay.com\" (the port goes in `reconciliation.sftp_port`, the \
                     user in `reconciliation.username`)"
                ),
            ));
        }
        Ok(host)
    }

    /// A server folder: absolute, `/`-separated, without `.` or `..` steps; kept without a
    /// trailing `/` (except `/` itself) so the day's folder is joined the same way every time.
    fn remote_root(&self, root: String) -> Result<String, ConfigError> {
        let key = "reconciliation.remote_root";
        if !root.starts_with('/') {
            return Err(self.invalid(
                key,
                format!(
                    "{root:?} is not an absolute server path; it must start with `/` \
                     (remove the line for Alipay's server, whose reports are under \
                     /v1/settlements/)"
                ),
            ));
        }
        if root.chars().any(char::is_control)
            || root.split('/').any(|step| step == "." || step == "..")
        {
            return Err(self.invalid(
                key,
                format!(
                    "{root:?} has `.` or `..` steps or control characters; write the folder \
                     plainly, such as \"/srv/alipay\""
                ),
            ));
        }
        let trimmed = root.trim_end_matches('/');
        Ok(if trimmed.is_empty() {
            "/".to_owned()
        } else {
            trimmed.to_owned()
        })
    }

    /// A value that goes on the wire or into a path as one word: not empty, at most
    /// `max_chars`, no spaces or control characters.
    fn plain_word(
        &self,
        key: &str,
        value: String,
        max_chars: usize,
    ) -> Result<String, ConfigError> {
        if value.is_empty() {
            return Err(self.invalid(
                key,
                "is empty; set it, or remove the [reconciliation] table",
            ));
        }
        if value.chars().count() > max_chars {
            return Err(self.invalid(
                key,
                format!("is longer than {max_chars} characters; check it"),
            ));
        }
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(self.invalid(
                key,
                format!("{value:?} contains spaces or control characters; remove them"),
            ));
        }
        Ok(value)
    }

    /// A path to a file that is read later: not empty, resolved like every path in the file.
    fn named_path(&self, key: &str, path: &Path) -> Result<PathBuf, ConfigError> {
        if path.as_os_str().is_empty() {
            return Err(self.invalid(key, "is empty; set it to the file's path"));
        }
        Ok(self.resolve(path))
    }

    /// `[scanner]`: the device path is kept as written (resolved like every path) but not
    /// opened here, so an unplugged scanner cannot stop the terminal from starting.
    fn scanner(
        &self,
        raw: RawScanner,
        defaults: ScannerConfig,
    ) -> Result<ScannerConfig, ConfigError> {
        let device = match raw.device {
            None => None,
            Some(path) if path.as_os_str().is_empty() => {
                return Err(self.invalid(
                    "scanner.device",
                    "is empty; set it to the scanner's /dev/input/by-id/... path, or remove \
                     the line to read the scanner as a keyboard",
                ));
            }
            Some(path) => Some(self.resolve(&path)),
        };
        let max_key_gap = match raw.max_key_gap_ms {
            None => defaults.max_key_gap,
            Some(ms) if SCANNER_MAX_KEY_GAP_MS_RANGE.contains(&ms) => Duration::from_millis(ms),
            Some(ms) => {
                return Err(self.invalid(
                    "scanner.max_key_gap_ms",
                    format!(
                        "is {ms}, but must be {} to {} milliseconds; remove the line to use \
                         the default ({})",
                        SCANNER_MAX_KEY_GAP_MS_RANGE.start(),
                        SCANNER_MAX_KEY_GAP_MS_RANGE.end(),
                        defaults.max_key_gap.as_millis()
                    ),
                ));
            }
        };
        let min_length = match raw.min_length {
            None => defaults.min_length,
            Some(n) => match usize::try_from(n) {
                Ok(n) if SCANNER_MIN_LENGTH_RANGE.contains(&n) => n,
                _ => {
                    return Err(self.invalid(
                        "scanner.min_length",
                        format!(
                            "is {n}, but must be {} to {} characters; remove the line to use \
                             the default ({})",
                            SCANNER_MIN_LENGTH_RANGE.start(),
                            SCANNER_MIN_LENGTH_RANGE.end(),
                            defaults.min_length
                        ),
                    ));
                }
            },
        };
        Ok(ScannerConfig {
            max_key_gap,
            min_length,
            prefix: self.scanner_affix("scanner.prefix", raw.prefix)?,
            suffix: self.scanner_affix("scanner.suffix", raw.suffix)?,
            // A grabbed device is a scanner for certain; a keyboard wedge only when said.
            kiosk: raw.kiosk.unwrap_or(device.is_some()),
            device,
        })
    }

    /// A scanner prefix or suffix: 1 to 8 printable characters, no spaces (a space or an
    /// invisible character could not be told apart when the scanner is set up).
    fn scanner_affix(
        &self,
        key: &str,
        value: Option<String>,
    ) -> Result<Option<String>, ConfigError> {
        let Some(text) = value else {
            return Ok(None);
        };
        let chars = text.chars().count();
        if chars == 0 || chars > MAX_SCANNER_AFFIX_CHARS {
            return Err(self.invalid(
                key,
                format!(
                    "is {chars} characters long but must be 1 to {MAX_SCANNER_AFFIX_CHARS}; use \
                     what the scanner is set to send, such as \"~\", or remove the line"
                ),
            ));
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(self.invalid(
                key,
                format!(
                    "{text:?} contains spaces or control characters; use printable characters \
                     only, such as \"~\" (Enter and Tab already end a scan)"
                ),
            ));
        }
        Ok(Some(text))
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

    /// Checks that a key file exists and can be opened; its contents are parsed later, by the
    /// wiring that uses the key (`terminal::load_keys`), so that this module needs no
    /// cryptography.
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
    pub(super) fn resolve(&self, path: &Path) -> PathBuf {
        let joined = self.base_dir.join(path);
        std::path::absolute(&joined).unwrap_or(joined)
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::time::Duration;

    use url::Url;

    use super::super::test_support::{FULL, Fixture, assert_names, full_with, set_mode};
    use crate::config::{Config, ConfigErrorKind, Gateway};
    use crate::locale::Locale;
    use crate::money::Currency;

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
        // Without a file the demo cafe sells its demo items; a file has its own (or none).
        assert!(!Config::defaults().catalog.is_empty());
        assert!(fixture.load("").unwrap().catalog.is_empty());
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
    #[test]
    fn scanner_defaults_without_the_table() {
        let fixture = Fixture::new();
        let config = fixture.load("[store]\nname = \"Pier 3\"\n").unwrap();
        assert_eq!(config.scanner, Config::defaults().scanner);
        let scanner = Config::defaults().scanner;
        assert_eq!(scanner.device, None);
        assert_eq!(scanner.max_key_gap, Duration::from_millis(100));
        assert_eq!(scanner.min_length, 16);
        assert_eq!(scanner.prefix, None);
        assert_eq!(scanner.suffix, None);
    }

    #[test]
    fn scanner_table_is_read() {
        let fixture = Fixture::new();
        let config = fixture
            .load(
                "[scanner]\ndevice = \"/dev/input/by-id/usb-Scanner-event-kbd\"\n\
                 max_key_gap_ms = 40\nmin_length = 18\nprefix = \"~\"\nsuffix = \"#\"\n",
            )
            .unwrap();
        assert_eq!(
            config.scanner.device.as_deref(),
            Some(std::path::Path::new(
                "/dev/input/by-id/usb-Scanner-event-kbd"
            ))
        );
        assert_eq!(config.scanner.max_key_gap, Duration::from_millis(40));
        assert_eq!(config.scanner.min_length, 18);
        assert_eq!(config.scanner.prefix.as_deref(), Some("~"));
        assert_eq!(config.scanner.suffix.as_deref(), Some("#"));
        // The device is not opened at load: an unplugged scanner must not stop the terminal.
        let config = fixture
            .load("[scanner]\ndevice = \"/dev/input/by-id/not-plugged-in\"\n")
            .unwrap();
        assert!(config.scanner.device.is_some());
        // A relative path is resolved like every other path.
        let config = fixture.load("[scanner]\ndevice = \"scanner\"\n").unwrap();
        let dir = std::path::absolute(fixture.dir.path()).unwrap();
        assert_eq!(config.scanner.device, Some(dir.join("scanner")));
    }

    #[test]
    fn scanner_device_must_not_be_empty() {
        let fixture = Fixture::new();
        let err = fixture.error("[scanner]\ndevice = \"\"\n");
        assert_names(&err, &fixture, "scanner.device", "is empty");
        assert!(err.problem().contains("/dev/input/by-id/"), "{err}");
    }

    #[test]
    fn scanner_max_key_gap_is_10_to_1000_ms() {
        let fixture = Fixture::new();
        for bad in [0, 9, 1001, 60_000] {
            let err = fixture.error(&format!("[scanner]\nmax_key_gap_ms = {bad}\n"));
            assert_eq!(err.kind(), ConfigErrorKind::Invalid);
            assert_names(
                &err,
                &fixture,
                "scanner.max_key_gap_ms",
                &format!("is {bad}, but must be 10 to 1000 milliseconds"),
            );
            assert!(err.problem().contains("default (100)"), "{err}");
        }
        for good in [10, 1000] {
            let config = fixture
                .load(&format!("[scanner]\nmax_key_gap_ms = {good}\n"))
                .unwrap();
            assert_eq!(config.scanner.max_key_gap, Duration::from_millis(good));
        }
        let err = fixture.error("[scanner]\nmax_key_gap_ms = -5\n");
        assert_eq!(err.kind(), ConfigErrorKind::Parse);
        assert_eq!(err.key(), Some("scanner.max_key_gap_ms"));
    }

    #[test]
    fn scanner_min_length_is_4_to_128() {
        let fixture = Fixture::new();
        for bad in [0, 3, 129, 10_000] {
            let err = fixture.error(&format!("[scanner]\nmin_length = {bad}\n"));
            assert_names(
                &err,
                &fixture,
                "scanner.min_length",
                &format!("is {bad}, but must be 4 to 128 characters"),
            );
            assert!(err.problem().contains("default (16)"), "{err}");
        }
        for good in [4, 128] {
            let config = fixture
                .load(&format!("[scanner]\nmin_length = {good}\n"))
                .unwrap();
            assert_eq!(config.scanner.min_length, good);
        }
    }

    #[test]
    fn scanner_prefix_and_suffix_are_1_to_8_printable_characters() {
        let fixture = Fixture::new();
        for key in ["prefix", "suffix"] {
            let dotted = format!("scanner.{key}");
            // `toml` is the value as written in the file (TOML escapes).
            let load = |toml: &str| fixture.load(&format!("[scanner]\n{key} = \"{toml}\"\n"));
            let err = load("").unwrap_err();
            assert_names(
                &err,
                &fixture,
                &dotted,
                "is 0 characters long but must be 1 to 8",
            );
            let err = load("123456789").unwrap_err();
            assert_names(&err, &fixture, &dotted, "is 9 characters long");
            for bad in ["a b", " ~", "~\\t", "\\u0007", "~\\n"] {
                let err = load(bad).unwrap_err();
                assert_names(&err, &fixture, &dotted, "spaces or control characters");
            }
            for good in ["~", "12345678", "#A$", "码"] {
                let config = load(good).unwrap();
                let value = if key == "prefix" {
                    config.scanner.prefix
                } else {
                    config.scanner.suffix
                };
                assert_eq!(value.as_deref(), Some(good));
            }
        }
    }

    #[test]
    fn scanner_unknown_key_is_named() {
        let fixture = Fixture::new();
        let err = fixture.error("[scanner]\ndevise = \"/dev/input/event3\"\n");
        assert_eq!(err.kind(), ConfigErrorKind::Parse);
        assert_eq!(err.key(), Some("scanner.devise"));
    }

    const RECONCILIATION: &str = "[reconciliation]\n\
        sftp_host = \"isftp.alipay.com\"\n\
        username = \"merchant42\"\n\
        password_file = \"secrets/sftp-password\"\n\
        known_hosts = \"secrets/known_hosts\"\n\
        customer_id = \"2188120000000001\"\n";

    /// `RECONCILIATION` with the line of `key` replaced by `line` (removed when empty).
    fn reconciliation_with(key: &str, line: &str) -> String {
        let prefix = format!("{key} = ");
        let mut found = false;
        let text: Vec<&str> = RECONCILIATION
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
        assert!(found, "no key {key}");
        text.join("\n") + "\n"
    }

    #[test]
    fn reconciliation_is_optional() {
        let fixture = Fixture::new();
        assert_eq!(fixture.load("").unwrap().reconciliation, None);
        assert_eq!(Config::defaults().reconciliation, None);
    }

    #[test]
    fn reconciliation_table_is_read_with_defaults() {
        let fixture = Fixture::new();
        let dir = std::path::absolute(fixture.dir.path()).unwrap();
        let config = fixture.load(RECONCILIATION).unwrap();
        let sftp = config.reconciliation.unwrap();
        assert_eq!(sftp.sftp_host, "isftp.alipay.com");
        assert_eq!(sftp.sftp_port, 22);
        assert_eq!(sftp.username, "merchant42");
        // Resolved against the config's folder, and not opened at load.
        assert_eq!(
            sftp.password_file(),
            Some(dir.join("secrets/sftp-password").as_path())
        );
        assert_eq!(sftp.identity_file(), None);
        assert_eq!(sftp.credential.key(), "reconciliation.password_file");
        assert_eq!(sftp.known_hosts, dir.join("secrets/known_hosts"));
        assert_eq!(sftp.customer_id, "2188120000000001");
        assert_eq!(sftp.remote_root, "/");
        assert_eq!(
            sftp.day_folder("20261130"),
            "/v1/settlements/2188120000000001/20261130"
        );
    }

    #[test]
    fn reconciliation_identity_port_and_root() {
        let fixture = Fixture::new();
        let toml = reconciliation_with(
            "password_file",
            "identity_file = \"/etc/alipay-pos/id_ed25519\"\nsftp_port = 2222\nremote_root = \"/srv/alipay/\"",
        );
        let sftp = fixture.load(&toml).unwrap().reconciliation.unwrap();
        assert_eq!(
            sftp.identity_file(),
            Some(std::path::Path::new("/etc/alipay-pos/id_ed25519"))
        );
        assert_eq!(sftp.password_file(), None);
        assert_eq!(sftp.sftp_port, 2222);
        assert_eq!(sftp.remote_root, "/srv/alipay");
        assert_eq!(
            sftp.day_folder("20261130"),
            "/srv/alipay/v1/settlements/2188120000000001/20261130"
        );
    }

    #[test]
    fn reconciliation_required_keys_are_named() {
        let fixture = Fixture::new();
        for key in ["sftp_host", "username", "known_hosts", "customer_id"] {
            let err = fixture.error(&reconciliation_with(key, ""));
            assert_names(
                &err,
                &fixture,
                &format!("reconciliation.{key}"),
                "is missing",
            );
        }
        let err = fixture.error(&reconciliation_with("password_file", ""));
        assert_names(
            &err,
            &fixture,
            "reconciliation.password_file",
            "reconciliation.identity_file",
        );
    }

    #[test]
    fn reconciliation_takes_exactly_one_secret() {
        let fixture = Fixture::new();
        let toml = reconciliation_with(
            "password_file",
            "password_file = \"p\"\nidentity_file = \"k\"",
        );
        let err = fixture.error(&toml);
        assert_names(
            &err,
            &fixture,
            "reconciliation.identity_file",
            "keep only the one",
        );
    }

    #[test]
    fn reconciliation_values_are_checked_by_name() {
        let fixture = Fixture::new();
        let cases = [
            (
                "sftp_host",
                "sftp_host = \"sftp://isftp.alipay.com\"",
                "is a URL",
            ),
            (
                "sftp_host",
                "sftp_host = \"isftp.alipay.com:22\"",
                "not a host name",
            ),
            (
                "sftp_host",
                "sftp_host = \"me@isftp.alipay.com\"",
                "not a host name",
            ),
            (
                "sftp_host",
                "sftp_host = \"-oProxyCommand=x\"",
                "not a host name",
            ),
            ("sftp_host", "sftp_host = \"isftp alipay\"", "spaces"),
            ("sftp_host", "sftp_host = \"\"", "is empty"),
            ("username", "username = \"a b\"", "spaces"),
            ("username", "username = \"\"", "is empty"),
            (
                "customer_id",
                "customer_id = \"../other\"",
                "not a customer id",
            ),
            (
                "customer_id",
                "customer_id = \"2188/1\"",
                "not a customer id",
            ),
            ("known_hosts", "known_hosts = \"\"", "is empty"),
            ("password_file", "password_file = \"\"", "is empty"),
        ];
        for (key, line, needle) in cases {
            let err = fixture.error(&reconciliation_with(key, line));
            assert_names(&err, &fixture, &format!("reconciliation.{key}"), needle);
        }
        for (line, needle) in [
            ("sftp_port = 0", "1 to 65535"),
            ("sftp_port = 65536", "1 to 65535"),
            ("remote_root = \"srv/alipay\"", "must start with `/`"),
            ("remote_root = \"/srv/../etc\"", "`..`"),
        ] {
            let key = line.split(' ').next().unwrap();
            let err = fixture.error(&format!("{RECONCILIATION}{line}\n"));
            assert_names(&err, &fixture, &format!("reconciliation.{key}"), needle);
        }
        // IPv6 addresses and IPs are hosts too.
        for host in ["::1", "127.0.0.1", "sftp-2.example.com"] {
            let toml = reconciliation_with("sftp_host", &format!("sftp_host = {host:?}"));
            assert_eq!(
                fixture
                    .load(&toml)
                    .unwrap()
                    .reconciliation
                    .unwrap()
                    .sftp_host,
                host
            );
        }
        let err = fixture.error(&format!("{RECONCILIATION}sftp_prot = 22\n"));
        assert_eq!(err.kind(), ConfigErrorKind::Parse);
        assert_eq!(err.key(), Some("reconciliation.sftp_prot"));
    }

    #[test]
    fn hub_table_is_optional_and_read() {
        let fixture = Fixture::new();
        assert_eq!(fixture.load("").unwrap().hub, None);
        let config = fixture
            .load(
                "[hub]\nlisten = \"127.0.0.1:9000\"\npublic_url = \"https://hub.example.com/pos/\"\n\
                 database_url = \"postgres://hub:s3cret@db.local/hub\"\n\
                 url = \"https://lan-hub.example.com\"\ntoken_file = \"hub.token\"\n",
            )
            .unwrap();
        let hub = config.hub.unwrap();
        assert_eq!(hub.listen.port(), 9000);
        assert_eq!(
            hub.notify_url().unwrap().as_str(),
            "https://hub.example.com/pos/alipay/notify"
        );
        assert!(hub.token_file.unwrap().is_absolute());
        // The password never shows in a printed configuration.
        let printed = format!("{:?}", hub.database_url);
        assert!(
            !printed.contains("s3cret") && printed.contains("***"),
            "{printed}"
        );
        assert_eq!(
            hub.database_url.unwrap().expose(),
            "postgres://hub:s3cret@db.local/hub"
        );
        // Without public_url a terminal's notify URL is the hub it dials.
        let config = fixture
            .load("[hub]\nurl = \"http://127.0.0.1:8092\"\ntoken_file = \"t\"\n")
            .unwrap();
        assert_eq!(
            config.hub.unwrap().notify_url().unwrap().as_str(),
            "http://127.0.0.1:8092/alipay/notify"
        );
    }

    #[test]
    fn hub_url_needs_tls_off_this_machine_and_a_token_file() {
        let fixture = Fixture::new();
        let err = fixture.error("[hub]\nurl = \"http://10.0.0.5:8092\"\ntoken_file = \"t\"\n");
        assert_names(
            &err,
            &fixture,
            "hub.url",
            "plain http:// to another machine",
        );
        let err = fixture.error("[hub]\nurl = \"https://hub.example.com\"\n");
        assert_names(&err, &fixture, "hub.token_file", "is missing");
        let err = fixture.error("[hub]\ndatabase_url = \"mysql://x@y/z\"\n");
        assert_names(&err, &fixture, "hub.database_url", "postgres://");
        let err = fixture.error("[hub]\nlisten = \"nowhere\"\n");
        assert_names(&err, &fixture, "hub.listen", "is not an address");
        let err = fixture.error("[hub]\npublic_url = \"ftp://x\"\n");
        assert_names(&err, &fixture, "hub.public_url", "not an http");
        let err = fixture.error("[hub]\nport = 1\n");
        assert_eq!(err.kind(), ConfigErrorKind::Parse);
    }
}
