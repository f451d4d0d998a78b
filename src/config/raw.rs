//! The config file as serde reads it: every key optional, so a missing one falls back to its
//! default, and unknown keys rejected (`deny_unknown_fields`), so a misspelt one is reported
//! instead of silently ignored. The validator turns these into the typed [`super::Config`].
//!
//! The struct names show up in serde's messages ("expected struct RawAlipay"); `parse` words
//! those for the file's reader.

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub(super) alipay: RawAlipay,
    #[serde(default)]
    pub(super) merchant: RawMerchant,
    #[serde(default)]
    pub(super) store: RawStore,
    #[serde(default)]
    pub(super) payment: RawPayment,
    #[serde(default)]
    pub(super) storage: RawStorage,
    #[serde(default)]
    pub(super) admin: RawAdmin,
    /// `None` when the file has no `[sandbox]` table, which a real gateway requires.
    pub(super) sandbox: Option<RawSandbox>,
    #[serde(default)]
    pub(super) catalog: Vec<RawCatalogItem>,
    #[serde(default)]
    pub(super) scanner: RawScanner,
    /// `None` when the file has no `[registration]` table.
    pub(super) registration: Option<super::registration::RawRegistration>,
    /// `None` when the file has no `[reconciliation]` table: the terminal then fetches no
    /// reports over SFTP.
    pub(super) reconciliation: Option<RawReconciliation>,
    /// `None` when the file has no `[printer]` table: nothing is printed.
    pub(super) printer: Option<super::printer::RawPrinter>,
    /// `None` when the file has no `[hub]` table: no store hub is run or dialled.
    pub(super) hub: Option<RawHub>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHub {
    pub(super) listen: Option<String>,
    pub(super) public_url: Option<String>,
    pub(super) database_url: Option<String>,
    pub(super) url: Option<String>,
    pub(super) token_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReconciliation {
    pub(super) sftp_host: Option<String>,
    pub(super) sftp_port: Option<u64>,
    pub(super) username: Option<String>,
    pub(super) password_file: Option<PathBuf>,
    pub(super) identity_file: Option<PathBuf>,
    pub(super) known_hosts: Option<PathBuf>,
    pub(super) customer_id: Option<String>,
    pub(super) remote_root: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScanner {
    pub(super) device: Option<PathBuf>,
    pub(super) max_key_gap_ms: Option<u64>,
    pub(super) min_length: Option<u64>,
    pub(super) prefix: Option<String>,
    pub(super) suffix: Option<String>,
    pub(super) kiosk: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSandbox {
    pub(super) listen: Option<String>,
    pub(super) public_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCatalogItem {
    pub(super) name: Option<String>,
    pub(super) name_zh: Option<String>,
    /// Text ("3.50") or a whole number (500 for JPY); a TOML float is refused because it
    /// cannot hold most prices exactly.
    pub(super) price: Option<toml::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAdmin {
    pub(super) pin_hash: Option<String>,
    pub(super) managers: Option<Vec<RawManager>>,
    pub(super) max_pin_attempts: Option<u32>,
    pub(super) lockout_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawManager {
    pub(super) name: Option<String>,
    pub(super) pin_hash: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlipay {
    pub(super) gateway: Option<String>,
    pub(super) client_id: Option<String>,
    pub(super) merchant_private_key: Option<PathBuf>,
    pub(super) alipay_public_key: Option<PathBuf>,
    pub(super) key_version: Option<String>,
    pub(super) allow_insecure_http: Option<bool>,
    pub(super) connect_timeout_ms: Option<u64>,
    pub(super) request_timeout_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMerchant {
    pub(super) reference_merchant_id: Option<String>,
    pub(super) name: Option<String>,
    pub(super) mcc: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    pub(super) reference_store_id: Option<String>,
    pub(super) name: Option<String>,
    pub(super) mcc: Option<String>,
    pub(super) terminal_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPayment {
    pub(super) currency: Option<String>,
    pub(super) notify_url: Option<String>,
    pub(super) notify_listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStorage {
    pub(super) data_dir: Option<PathBuf>,
}
