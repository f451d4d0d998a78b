//! Test fixtures shared by the library's unit tests, the integration tests (`tests/it`) and
//! the benchmarks: the reference test vectors and key pairs in `tests/fixtures/`, seeding
//! the embedded sandbox with those keys, and the demo configuration in a given folder.
//!
//! Compiled only for tests and with the `test-support` feature (which the test command
//! turns on), never into a shipped binary: the functions read files from the source tree
//! and panic when a fixture is missing, which is right for a test and wrong for a product.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::ams::keys;
use crate::config::Config;

/// The client id used by the reference test vectors.
pub const VECTOR_CLIENT_ID: &str = "TEST_5YBX2N2Y3C0K03015";

/// `tests/fixtures/<relative>` in the source tree.
pub fn fixture_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(relative)
}

/// `tests/fixtures/testvectors/<name>`: the signing reference's byte-exact vectors and keys.
pub fn vector_path(name: &str) -> PathBuf {
    fixture_path(&format!("testvectors/{name}"))
}

/// The bytes of a test vector.
pub fn vector_bytes(name: &str) -> Vec<u8> {
    let path = vector_path(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("test vector {}: {e}", path.display()))
}

/// A test vector as text, trimmed.
pub fn vector_text(name: &str) -> String {
    String::from_utf8(vector_bytes(name))
        .unwrap_or_else(|e| panic!("test vector {name} is not UTF-8: {e}"))
        .trim()
        .to_string()
}

/// A copy of the fixture key file `name` in `dir`, owner-only (0600): a configuration refuses
/// a merchant private key that others can read, and git checks fixtures out 0644.
pub fn private_key_copy(dir: &Path, name: &str) -> PathBuf {
    let target = dir.join(name);
    std::fs::copy(vector_path(name), &target)
        .unwrap_or_else(|e| panic!("copy {name} to {}: {e}", target.display()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", target.display()));
    }
    target
}

/// The merchant's fixture private key.
pub fn merchant_private_key() -> crate::ams::crypto::PrivateKey {
    parsed_private_key("merchant_private_key_pkcs8.pem")
}

/// The merchant's fixture public key.
pub fn merchant_public_key() -> crate::ams::crypto::PublicKey {
    parsed_public_key("merchant_public_key.pem")
}

/// Stands in for Alipay's private key: the sandbox and fake gateways sign with it.
pub fn alipay_private_key() -> crate::ams::crypto::PrivateKey {
    parsed_private_key("alipay_private_key_pkcs8.pem")
}

/// Stands in for Alipay's public key.
pub fn alipay_public_key() -> crate::ams::crypto::PublicKey {
    parsed_public_key("alipay_public_key.pem")
}

fn parsed_private_key(name: &str) -> crate::ams::crypto::PrivateKey {
    keys::parse_private_key(&vector_text(name))
        .unwrap_or_else(|e| panic!("fixture key {name}: {e}"))
        .key
}

fn parsed_public_key(name: &str) -> crate::ams::crypto::PublicKey {
    keys::parse_public_key(&vector_text(name))
        .unwrap_or_else(|e| panic!("fixture key {name}: {e}"))
        .key
}

/// Puts the fixture key pairs where the embedded sandbox looks for its keys, so a test
/// terminal does not spend seconds generating two RSA keys. Existing files are kept.
pub fn seed_sandbox_keys(data_dir: &Path) {
    use crate::sandbox::embedded::{MERCHANT_PRIVATE_KEY_FILE, SANDBOX_DIR};
    let dir = data_dir.join(SANDBOX_DIR);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    for (fixture, name) in [
        (
            "alipay_private_key_pkcs8.pem",
            crate::sandbox::ALIPAY_PRIVATE_KEY_FILE,
        ),
        ("merchant_private_key_pkcs8.pem", MERCHANT_PRIVATE_KEY_FILE),
    ] {
        let target = dir.join(name);
        if !target.exists() {
            std::fs::copy(vector_path(fixture), &target)
                .unwrap_or_else(|e| panic!("seed {}: {e}", target.display()));
        }
    }
}

/// The demo configuration (the embedded sandbox) with its data in `data_dir`, whose sandbox
/// is seeded with the fixture keys.
pub fn demo_config(data_dir: &Path) -> Config {
    seed_sandbox_keys(data_dir);
    let mut config = Config::defaults();
    config.storage.data_dir = data_dir.to_path_buf();
    config
}

/// The `p`-th percentile (0 to 100, nearest rank) of `sorted` durations; zero for none. For
/// the benchmarks' latency figures.
pub fn percentile(sorted: &[Duration], p: u32) -> Duration {
    let Some(last) = sorted.len().checked_sub(1) else {
        return Duration::ZERO;
    };
    // Nearest rank, rounded half up, in integers: (p × last + 50) / 100.
    let rank = (u64::from(p.min(100)) * last as u64 + 50) / 100;
    sorted[usize::try_from(rank).unwrap_or(last).min(last)]
}

/// An Order Code `pay` of USD 12.34 for the demo merchant and store (M0001, S0001, MCC
/// 5814), for the benchmarks that need one payment to inquire about; its notify URL is a
/// closed loopback port, since nothing in a benchmark listens for notifications.
pub fn demo_pay_request(payment_request_id: &str) -> crate::ams::models::PayRequest {
    use crate::ams::models::{Amount, Merchant, Order, PayRequest, Store};
    let order = Order {
        reference_order_id: Some("bench-order".into()),
        order_description: "bench".into(),
        order_amount: Amount::new("USD", 1234),
        merchant: Merchant {
            reference_merchant_id: "M0001".into(),
            merchant_mcc: "5814".into(),
            merchant_name: "Demo Cafe".into(),
            store: Store {
                reference_store_id: "S0001".into(),
                store_name: "Demo Cafe Main St".into(),
                store_mcc: "5814".into(),
                ..Store::default()
            },
            ..Merchant::default()
        },
        ..Order::default()
    };
    PayRequest::order_code(
        payment_request_id,
        order,
        Amount::new("USD", 1234),
        "http://127.0.0.1:9/notify",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let sorted: Vec<Duration> = (1..=101).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sorted, 50), Duration::from_millis(51));
        assert_eq!(percentile(&sorted, 99), Duration::from_millis(100));
        assert_eq!(percentile(&sorted, 100), Duration::from_millis(101));
        assert_eq!(percentile(&sorted, 0), Duration::from_millis(1));
        assert_eq!(percentile(&[], 50), Duration::ZERO);
    }
}
