//! The one place integration tests get their keys, fixtures and configs from.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use alipay_pos::ams::keys;
use rsa::{PrivateKey, PublicKey};

/// The client id used by the reference test vectors.
pub const VECTOR_CLIENT_ID: &str = "TEST_5YBX2N2Y3C0K03015";

pub fn fixture_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(relative)
}

pub fn vector_bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixture_path(&format!("testvectors/{name}"))).unwrap()
}

pub fn vector_text(name: &str) -> String {
    String::from_utf8(vector_bytes(name))
        .unwrap()
        .trim()
        .to_string()
}

pub fn vector_path(name: &str) -> PathBuf {
    fixture_path(&format!("testvectors/{name}"))
}

pub fn merchant_private_key() -> PrivateKey {
    keys::parse_private_key(&vector_text("merchant_private_key_pkcs8.pem"))
        .unwrap()
        .key
}

pub fn merchant_public_key() -> PublicKey {
    keys::parse_public_key(&vector_text("merchant_public_key.pem"))
        .unwrap()
        .key
}

/// Stands in for Alipay's private key: the sandbox and fake gateways sign with it.
pub fn alipay_private_key() -> PrivateKey {
    keys::parse_private_key(&vector_text("alipay_private_key_pkcs8.pem"))
        .unwrap()
        .key
}

pub fn alipay_public_key() -> PublicKey {
    keys::parse_public_key(&vector_text("alipay_public_key.pem"))
        .unwrap()
        .key
}

/// Path of the built `alipay-pos` binary, for tests that run the real command line.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_alipay-pos"))
}
