//! What the config tests share: a temp folder with a config file and two key files (never
//! parsed: config does not read keys), a complete valid file, and an assertion on messages.

use std::fs;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::{Config, ConfigError, ConfigSource};

/// A temp folder holding a config file and two (unparsed) key files.
pub(super) struct Fixture {
    pub(super) dir: TempDir,
}

impl Fixture {
    pub(super) fn new() -> Fixture {
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

    pub(super) fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    pub(super) fn load(&self, toml: &str) -> Result<Config, ConfigError> {
        fs::write(self.config_path(), toml).unwrap();
        Config::load(&self.config_path())
    }

    pub(super) fn error(&self, toml: &str) -> ConfigError {
        self.load(toml).expect_err("config should be rejected")
    }
}

pub(super) const FULL: &str = r#"
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
pub(super) fn full_with(key: &str, line: &str) -> String {
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
pub(super) fn assert_names(err: &ConfigError, fixture: &Fixture, key: &str, needle: &str) {
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

pub(super) fn set_mode(path: &Path, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
}
