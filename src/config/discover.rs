//! The defaults (a demo café on the embedded sandbox), and where the config file is found
//! when `--config` is not given.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use directories::ProjectDirs;

use super::{
    AdminConfig, AlipayConfig, CONFIG_FILE_NAME, Config, ConfigError, ConfigErrorKind,
    ConfigSource, DEFAULT_LOCKOUT_SECONDS, DEFAULT_MAX_PIN_ATTEMPTS, DEFAULT_NOTIFY_PORT,
    DEFAULT_SCANNER_MAX_KEY_GAP_MS, DEFAULT_SCANNER_MIN_LENGTH, FALLBACK_DATA_DIR, Gateway,
    MerchantConfig, PaymentConfig, SANDBOX_CLIENT_ID, SandboxConfig, ScannerConfig, StorageConfig,
    StoreConfig,
};
use crate::money::Currency;

const DEFAULT_KEY_VERSION: &str = "1";
pub(super) const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 5_000;
pub(super) const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 15_000;
const DEFAULT_MERCHANT_ID: &str = "M0001";
const DEFAULT_MERCHANT_NAME: &str = "Demo Cafe";
/// ISO 18245 5814: fast-food restaurants, i.e. a café counter.
const DEFAULT_MCC: &str = "5814";
const DEFAULT_STORE_ID: &str = "S0001";
const DEFAULT_STORE_NAME: &str = "Demo Cafe Main St";
const DEFAULT_TERMINAL_ID: &str = "T01";

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
            catalog: super::demo_catalog(Currency::USD),
            scanner: ScannerConfig {
                device: None,
                max_key_gap: Duration::from_millis(DEFAULT_SCANNER_MAX_KEY_GAP_MS),
                min_length: DEFAULT_SCANNER_MIN_LENGTH,
                prefix: None,
                suffix: None,
                kiosk: false,
            },
            reconciliation: None,
            hub: None,
            registration: Some(super::RegistrationConfig::demo()),
            printer: None,
        }
    }

    /// Where the config file lives when `--config` is not given, e.g.
    /// `~/.config/alipay-pos/config.toml` on Linux. `None` when the OS reports no home
    /// directory.
    pub fn default_path() -> Option<PathBuf> {
        project_dirs().map(|dirs| dirs.config_dir().join(CONFIG_FILE_NAME))
    }

    /// Loads the file given with `--config`, or else the one in the OS config folder, or else
    /// the defaults.
    ///
    /// A missing explicit file is an error (the operator asked for that file and probably
    /// mistyped it); a missing file at the default location just means "not configured yet".
    pub fn discover(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        discover_in(explicit, Config::default_path())
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

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::PathBuf;
    use std::time::Duration;

    use tempfile::TempDir;

    use super::super::test_support::{FULL, Fixture};
    use super::*;
    use crate::money::Currency;

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
}
