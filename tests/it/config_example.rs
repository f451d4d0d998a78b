//! The packaged example config (`packaging/config.example.toml`) against the loader: it shows
//! every key exactly once, as shipped it means the defaults, and every commented-out setting
//! is valid once uncommented. It is the file operators copy, so a key added to the loader but
//! not to the example (or an example value the loader refuses) fails here.
//!
//! Only the public API: this is what an operator's copy of the file goes through.

use std::fs;
use std::path::{Path, PathBuf};

use alipay_pos::config::{Config, ConfigSource};
use tempfile::TempDir;

/// A temp folder with the two key files the example's commented-out paths name. Their
/// contents are never parsed by the config loader (it only checks that they are readable
/// files), and the private one is owner-only, as the loader requires.
fn folder_with_keys() -> TempDir {
    let dir = TempDir::new().unwrap();
    fs::create_dir(dir.path().join("keys")).unwrap();
    let private = dir.path().join("keys/merchant_private_key.pem");
    fs::write(&private, "not parsed here").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&private, fs::Permissions::from_mode(0o600)).unwrap();
    }
    fs::write(
        dir.path().join("keys/alipay_public_key.pem"),
        "not parsed here",
    )
    .unwrap();
    dir
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
    (
        "registration",
        &[
            "display_name",
            "logo_url",
            "websites",
            "legal_name",
            "registration_type",
            "registration_no",
            "business_type",
            "contact_email",
            "contact_phone",
        ],
    ),
    (
        "registration.merchant_address",
        &[
            "region", "state", "city", "address1", "address2", "zip_code",
        ],
    ),
    (
        "registration.store_address",
        &[
            "region", "state", "city", "address1", "address2", "zip_code",
        ],
    ),
    (
        "scanner",
        &[
            "device",
            "max_key_gap_ms",
            "min_length",
            "prefix",
            "suffix",
            "kiosk",
        ],
    ),
    // `identity_file` is shown in the prose only: it replaces `password_file`, and the two
    // together are refused, so it cannot be one more commented-out setting.
    (
        "reconciliation",
        &[
            "sftp_host",
            "sftp_port",
            "username",
            "password_file",
            "known_hosts",
            "customer_id",
            "remote_root",
        ],
    ),
    // `device` and `folder` are shown in the prose only: they belong to the other kinds,
    // and a key of another kind is refused.
    (
        "printer",
        &[
            "kind",
            "host",
            "port",
            "timeout_ms",
            "language",
            "encoding",
            "chinese_mode",
        ],
    ),
    (
        "hub",
        &["listen", "public_url", "database_url", "url", "token_file"],
    ),
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
                && key.starts_with(|c: char| c.is_ascii_lowercase())
                && key
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
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
    // A file has its own catalog and registration (none, as shipped), never the demo
    // cafe's.
    assert!(config.catalog.is_empty());
    assert_eq!(config.registration, None);
    let defaults = Config::defaults();
    assert_eq!(
        Config {
            source: ConfigSource::Defaults,
            catalog: defaults.catalog.clone(),
            registration: defaults.registration.clone(),
            ..config
        },
        defaults
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
                    // A key starts with a letter (`address1`, never `5812 = ...`).
                    key.starts_with(|c: char| c.is_ascii_lowercase())
                        && key
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
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
    let folder = folder_with_keys();
    let path = folder.path().join("config.toml");
    fs::write(&path, &uncommented).unwrap();
    let config = Config::load(&path).unwrap();
    // The commented-out key paths are relative, so they now point into the temp folder.
    let dir = std::path::absolute(folder.path()).unwrap();
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
    assert!(config.scanner.device.is_some());
    assert_eq!(config.scanner.prefix.as_deref(), Some("~"));
    assert_eq!(config.scanner.suffix.as_deref(), Some("#"));
    assert!(config.scanner.kiosk);
    let printer = config.printer.clone().expect("[printer] uncommented");
    assert_eq!(
        printer.kind,
        alipay_pos::config::PrinterKind::Network {
            host: "192.168.1.50".into(),
            port: 9100
        }
    );
    assert_eq!(
        printer.language,
        Some(alipay_pos::locale::Locale::SimplifiedChinese)
    );
    let sftp = config.reconciliation.expect("[reconciliation] uncommented");
    assert_eq!(sftp.sftp_host, "isftp.alipay.com");
    assert_eq!(
        sftp.password_file(),
        Some(dir.join("sftp-password").as_path())
    );
    let hub = config.hub.expect("[hub] uncommented");
    assert_eq!(hub.token_file, Some(dir.join("hub.token")));
    assert_eq!(
        hub.notify_url().map(|url| url.to_string()),
        Some("https://hub.example.com/alipay/notify".to_owned())
    );
    let registration = config.registration.unwrap();
    assert_eq!(registration.contacts.len(), 2);
    assert_eq!(registration.store_address.region, "US");
    assert_eq!(registration.websites.len(), 1);
}
