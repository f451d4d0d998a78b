//! The configuration file: TOML text read into a validated `Config` by `Config::load`, the
//! same call `--config` makes (the file is written to a temporary folder first, since the
//! loader reads a path).
//!
//! Invariants: every refusal names a problem; an accepted file's gateway is the sandbox or
//! has a base URL, and its currency is a known one.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use alipay_pos::config::Config;
use alipay_pos::money::Currency;
use libfuzzer_sys::fuzz_target;

/// In tmpfs where there is one: with the file in /tmp (ext4) this target ran five times
/// slower, probably because ext4 flushes a truncated-and-rewritten file when it is closed.
static FILE: LazyLock<PathBuf> = LazyLock::new(|| {
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("alipay-pos-fuzz-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    dir.join("config.toml")
});

fuzz_target!(|data: &[u8]| {
    std::fs::write(&*FILE, data).expect("the temporary config file is writable");
    match Config::load(&FILE) {
        Ok(config) => {
            assert!(config.is_sandbox() || config.alipay.gateway.base_url().is_some());
            assert!(Currency::from_code(config.payment.currency.code()).is_ok());
        }
        Err(error) => {
            assert!(!error.problem().is_empty());
            assert!(!error.to_string().is_empty());
        }
    }
});
