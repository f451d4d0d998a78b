//! RSA keys in every shape Alipay's tools and SDKs hand them around.
//!
//! Merchants meet keys as PEM files (PKCS#8 `BEGIN PRIVATE KEY` or PKCS#1
//! `BEGIN RSA PRIVATE KEY`), and as the bare one-line base64 that Alipay's dashboard shows
//! and the Java SDKs take. A mislabelled file (PKCS#8 content under a PKCS#1 armor, or the
//! reverse) is one of the most common integration mistakes, so the loaders look at the DER
//! itself rather than trusting the label, and report what they found.

use std::fmt;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
// The `rsa` crate only *reads* keys here: it parses every encoding merchants bring, including
// keys aws-lc-rs refuses outright (under 2048 bits), so the user is told "too short" rather
// than "not a key". The parsed key is handed to `ams::crypto` as DER right away and never
// used for RSA work.
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;

use crate::ams::crypto::{self, CryptoError};
pub use crate::ams::crypto::{PrivateKey, PublicKey};

/// Alipay's dashboard and tools generate 2048-bit keys; shorter keys are refused because they
/// are no longer safe, and nothing in the AMS documentation asks for them.
pub const MIN_KEY_BITS: usize = 2048;
/// The size `keys generate` produces: what Alipay's own tooling uses.
pub const GENERATED_KEY_BITS: usize = 2048;

/// How a key was written down, as detected from its content (not only its label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEncoding {
    /// `-----BEGIN PRIVATE KEY-----`: PKCS#8 PrivateKeyInfo.
    Pkcs8Pem,
    /// `-----BEGIN RSA PRIVATE KEY-----`: PKCS#1 RSAPrivateKey.
    Pkcs1Pem,
    /// One-line base64 of a PKCS#8 PrivateKeyInfo (the Java SDKs' form).
    Pkcs8Base64,
    /// One-line base64 of a PKCS#1 RSAPrivateKey.
    Pkcs1Base64,
    /// `-----BEGIN PUBLIC KEY-----`: X.509 SubjectPublicKeyInfo.
    SpkiPem,
    /// One-line base64 of a SubjectPublicKeyInfo (what Alipay's dashboard shows).
    SpkiBase64,
    /// `-----BEGIN RSA PUBLIC KEY-----`: PKCS#1 RSAPublicKey (the SDKs do not accept it).
    Pkcs1PublicPem,
    /// One-line base64 of a PKCS#1 RSAPublicKey.
    Pkcs1PublicBase64,
}

impl fmt::Display for KeyEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyEncoding::Pkcs8Pem => "PKCS#8 PEM (BEGIN PRIVATE KEY)",
            KeyEncoding::Pkcs1Pem => "PKCS#1 PEM (BEGIN RSA PRIVATE KEY)",
            KeyEncoding::Pkcs8Base64 => "one-line base64 of a PKCS#8 private key",
            KeyEncoding::Pkcs1Base64 => "one-line base64 of a PKCS#1 private key",
            KeyEncoding::SpkiPem => "X.509 SubjectPublicKeyInfo PEM (BEGIN PUBLIC KEY)",
            KeyEncoding::SpkiBase64 => "one-line base64 of a SubjectPublicKeyInfo public key",
            KeyEncoding::Pkcs1PublicPem => "PKCS#1 public key PEM (BEGIN RSA PUBLIC KEY)",
            KeyEncoding::Pkcs1PublicBase64 => "one-line base64 of a PKCS#1 public key",
        })
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("the key text is empty")]
    Empty,
    #[error(
        "the key is not valid base64 ({0}); paste the PEM file or the one-line key exactly as given"
    )]
    NotBase64(String),
    #[error(
        "the PEM armor is broken: `-----BEGIN {0}-----` has no matching `-----END {0}-----` line"
    )]
    BrokenArmor(String),
    #[error(
        "this is an encrypted private key; decrypt it first with \
         `openssl pkcs8 -in KEY -out plain.pem` (alipay-pos does not hold passphrases)"
    )]
    Encrypted,
    #[error(
        "this is a certificate, not a key; export its public key with `openssl x509 -pubkey -noout -in CERT`"
    )]
    Certificate,
    #[error("a private key was expected, but this is a public key ({0})")]
    PublicWherePrivateExpected(KeyEncoding),
    #[error(
        "a public key was expected, but this is a private key ({0}); never hand out a private \
         key: derive the public key with `openssl pkey -in KEY -pubout`"
    )]
    PrivateWherePublicExpected(KeyEncoding),
    #[error("the content is not an RSA key in PKCS#8, PKCS#1 or X.509 SubjectPublicKeyInfo form")]
    NotAnRsaKey,
    #[error("the key has {bits} bits; keys shorter than {MIN_KEY_BITS} bits are refused")]
    TooShort { bits: usize },
    #[error("could not read key file {path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error("key file {path}: {source}")]
    InFile {
        path: PathBuf,
        #[source]
        source: Box<KeyError>,
    },
    #[error("key generation failed: {0}")]
    Generation(String),
    #[error("the RSA key cannot be used: {0}")]
    Unusable(String),
    #[error("{path} already exists; refusing to overwrite a key (move it away first)")]
    WouldOverwrite { path: PathBuf },
}

/// What the text of a key file says about itself, before any DER is parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyText {
    /// The PEM label (`PRIVATE KEY`, `RSA PRIVATE KEY`, …), or `None` for bare base64.
    pub label: Option<String>,
    pub der: Vec<u8>,
}

/// Finds the DER inside PEM armor or bare base64. Whitespace and line breaks anywhere in the
/// base64 are ignored, because keys copied out of web pages and e-mails gain them.
pub fn decode_key_text(text: &str) -> Result<KeyText, KeyError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(KeyError::Empty);
    }
    if let Some(begin) = text.find("-----BEGIN ") {
        let after = &text[begin + "-----BEGIN ".len()..];
        let label_end = after
            .find("-----")
            .ok_or_else(|| KeyError::BrokenArmor(String::new()))?;
        let label = after[..label_end].trim().to_string();
        let body_and_rest = &after[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let body_end = body_and_rest
            .find(&end_marker)
            .ok_or_else(|| KeyError::BrokenArmor(label.clone()))?;
        let body = &body_and_rest[..body_end];
        match label.as_str() {
            "ENCRYPTED PRIVATE KEY" => return Err(KeyError::Encrypted),
            "CERTIFICATE" => return Err(KeyError::Certificate),
            _ => {}
        }
        if body.contains("Proc-Type: 4,ENCRYPTED") {
            return Err(KeyError::Encrypted);
        }
        let der = decode_base64_lenient(body)?;
        return Ok(KeyText {
            label: Some(label),
            der,
        });
    }
    Ok(KeyText {
        label: None,
        der: decode_base64_lenient(text)?,
    })
}

fn decode_base64_lenient(body: &str) -> Result<Vec<u8>, KeyError> {
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    BASE64
        .decode(compact.as_bytes())
        .map_err(|e| KeyError::NotBase64(e.to_string()))
}

/// A private key together with how it was written, so callers can warn about mislabelled
/// files that other tools (notably Alipay's Python SDK) would reject.
#[derive(Debug, Clone)]
pub struct LoadedPrivateKey {
    pub key: PrivateKey,
    pub encoding: KeyEncoding,
    /// The PEM label, when it disagrees with the content (e.g. PKCS#8 under `RSA PRIVATE KEY`).
    pub mislabelled_as: Option<String>,
}

/// A public key together with how it was written.
#[derive(Debug, Clone)]
pub struct LoadedPublicKey {
    pub key: PublicKey,
    pub encoding: KeyEncoding,
    pub mislabelled_as: Option<String>,
    /// Set when the text was a private key and this is its public half: only diagnostics
    /// accept that, never the configuration loaders.
    pub derived_from_private: bool,
}

enum ParsedKey {
    Private(Box<rsa::PrivateKey>, KeyEncoding),
    Public(rsa::PublicKey, KeyEncoding),
}

fn parse_der(text: &KeyText) -> Result<ParsedKey, KeyError> {
    let pem = text.label.is_some();
    let der = text.der.as_slice();
    if let Ok(key) = rsa::PrivateKey::from_pkcs8_der(der) {
        let enc = if pem {
            KeyEncoding::Pkcs8Pem
        } else {
            KeyEncoding::Pkcs8Base64
        };
        return Ok(ParsedKey::Private(Box::new(key), enc));
    }
    if let Ok(key) = rsa::PrivateKey::from_pkcs1_der(der) {
        let enc = if pem {
            KeyEncoding::Pkcs1Pem
        } else {
            KeyEncoding::Pkcs1Base64
        };
        return Ok(ParsedKey::Private(Box::new(key), enc));
    }
    if let Ok(key) = rsa::PublicKey::from_public_key_der(der) {
        let enc = if pem {
            KeyEncoding::SpkiPem
        } else {
            KeyEncoding::SpkiBase64
        };
        return Ok(ParsedKey::Public(key, enc));
    }
    if let Ok(key) = rsa::PublicKey::from_pkcs1_der(der) {
        let enc = if pem {
            KeyEncoding::Pkcs1PublicPem
        } else {
            KeyEncoding::Pkcs1PublicBase64
        };
        return Ok(ParsedKey::Public(key, enc));
    }
    Err(KeyError::NotAnRsaKey)
}

fn unusable(error: CryptoError) -> KeyError {
    KeyError::Unusable(error.to_string())
}

/// Hands a key the `rsa` crate read to `ams::crypto`, through a canonical PKCS#8 DER (so a
/// PKCS#1 file or a mislabelled one arrives in one shape). The DER is wiped when dropped.
fn to_crypto_private(key: &rsa::PrivateKey) -> Result<PrivateKey, KeyError> {
    let der = key
        .to_pkcs8_der()
        .map_err(|e| KeyError::Unusable(e.to_string()))?;
    PrivateKey::from_pkcs8_der(der.as_bytes()).map_err(unusable)
}

fn to_crypto_public(key: &rsa::PublicKey) -> Result<PublicKey, KeyError> {
    let der = key
        .to_public_key_der()
        .map_err(|e| KeyError::Unusable(e.to_string()))?;
    PublicKey::from_der(der.as_bytes()).map_err(unusable)
}

/// The label a PEM file of this encoding should carry.
fn expected_label(encoding: KeyEncoding) -> Option<&'static str> {
    match encoding {
        KeyEncoding::Pkcs8Pem => Some("PRIVATE KEY"),
        KeyEncoding::Pkcs1Pem => Some("RSA PRIVATE KEY"),
        KeyEncoding::SpkiPem => Some("PUBLIC KEY"),
        KeyEncoding::Pkcs1PublicPem => Some("RSA PUBLIC KEY"),
        _ => None,
    }
}

fn mislabel(text: &KeyText, encoding: KeyEncoding) -> Option<String> {
    match (&text.label, expected_label(encoding)) {
        (Some(label), Some(expected)) if label != expected => Some(label.clone()),
        _ => None,
    }
}

fn check_size(bits: usize) -> Result<(), KeyError> {
    if bits < MIN_KEY_BITS {
        return Err(KeyError::TooShort { bits });
    }
    Ok(())
}

/// Parses a private key from PEM (PKCS#8 or PKCS#1) or bare base64 of either.
pub fn parse_private_key(text: &str) -> Result<LoadedPrivateKey, KeyError> {
    let key_text = decode_key_text(text)?;
    match parse_der(&key_text)? {
        ParsedKey::Private(key, encoding) => {
            check_size(key.size() * 8)?;
            Ok(LoadedPrivateKey {
                mislabelled_as: mislabel(&key_text, encoding),
                key: to_crypto_private(&key)?,
                encoding,
            })
        }
        ParsedKey::Public(_, encoding) => Err(KeyError::PublicWherePrivateExpected(encoding)),
    }
}

/// Parses a public key from PEM or bare base64 (SubjectPublicKeyInfo, or PKCS#1
/// RSAPublicKey). A private key is refused: a config that points at the wrong file must
/// fail loudly rather than quietly work.
pub fn parse_public_key(text: &str) -> Result<LoadedPublicKey, KeyError> {
    let loaded = parse_public_key_lenient(text)?;
    if loaded.derived_from_private {
        return Err(KeyError::PrivateWherePublicExpected(loaded.encoding));
    }
    Ok(loaded)
}

/// Like [`parse_public_key`], but takes the public half of a private key. Only for
/// diagnostics, where telling the user what they passed beats refusing to look.
pub fn parse_public_key_lenient(text: &str) -> Result<LoadedPublicKey, KeyError> {
    let key_text = decode_key_text(text)?;
    let (key, encoding, derived_from_private) = match parse_der(&key_text)? {
        ParsedKey::Public(key, encoding) => (key, encoding, false),
        ParsedKey::Private(key, encoding) => (key.to_public_key(), encoding, true),
    };
    check_size(key.size() * 8)?;
    Ok(LoadedPublicKey {
        mislabelled_as: mislabel(&key_text, encoding),
        key: to_crypto_public(&key)?,
        encoding,
        derived_from_private,
    })
}

fn read_key_file(path: &Path) -> Result<String, KeyError> {
    std::fs::read_to_string(path).map_err(|e| KeyError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn in_file(path: &Path, source: KeyError) -> KeyError {
    match source {
        KeyError::Io { .. } => source,
        other => KeyError::InFile {
            path: path.to_path_buf(),
            source: Box::new(other),
        },
    }
}

pub fn load_private_key_file(path: &Path) -> Result<LoadedPrivateKey, KeyError> {
    read_key_file(path)
        .and_then(|text| parse_private_key(&text))
        .map_err(|e| in_file(path, e))
}

pub fn load_public_key_file(path: &Path) -> Result<LoadedPublicKey, KeyError> {
    read_key_file(path)
        .and_then(|text| parse_public_key(&text))
        .map_err(|e| in_file(path, e))
}

/// The merchant's signing key and Alipay's verification key, parsed and ready, with
/// fingerprints that are safe to display.
#[derive(Debug, Clone)]
pub struct LoadedKeys {
    pub merchant_private_key: PrivateKey,
    pub alipay_public_key: PublicKey,
    pub merchant_fingerprint: String,
    pub alipay_fingerprint: String,
}

/// Which of the two key files of a [`LoadedKeys`] could not be used, so the caller can name
/// the setting that points at it (the configuration's key names are not this module's
/// business).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyPairError {
    #[error("merchant private key: {0}")]
    MerchantPrivateKey(#[source] KeyError),
    #[error("Alipay public key: {0}")]
    AlipayPublicKey(#[source] KeyError),
}

impl KeyPairError {
    /// What is wrong with the file, without saying which one it is.
    pub fn key_error(&self) -> &KeyError {
        match self {
            KeyPairError::MerchantPrivateKey(error) | KeyPairError::AlipayPublicKey(error) => error,
        }
    }
}

/// Reads and parses the merchant's private key and Alipay's public key files (what a
/// terminal's configuration names), and fingerprints both.
pub fn load_key_pair(
    merchant_private_key: &Path,
    alipay_public_key: &Path,
) -> Result<LoadedKeys, KeyPairError> {
    let merchant =
        load_private_key_file(merchant_private_key).map_err(KeyPairError::MerchantPrivateKey)?;
    let alipay = load_public_key_file(alipay_public_key).map_err(KeyPairError::AlipayPublicKey)?;
    Ok(LoadedKeys {
        merchant_fingerprint: fingerprint(&merchant.key.public_key())
            .map_err(KeyPairError::MerchantPrivateKey)?,
        alipay_fingerprint: fingerprint(&alipay.key).map_err(KeyPairError::AlipayPublicKey)?,
        merchant_private_key: merchant.key,
        alipay_public_key: alipay.key,
    })
}

// `generate_2048` is the only size `ams::crypto` generates.
const _: () = assert!(GENERATED_KEY_BITS == 2048);

/// A fresh 2048-bit merchant (or simulator) key from the operating system's RNG.
pub fn generate_private_key() -> Result<PrivateKey, KeyError> {
    crypto::generate_2048().map_err(|e| KeyError::Generation(e.to_string()))
}

pub fn private_key_pkcs8_pem(key: &PrivateKey) -> Result<String, KeyError> {
    key.to_pkcs8_pem()
        .map_err(|e| KeyError::Generation(e.to_string()))
}

pub fn public_key_spki_der(key: &PublicKey) -> Result<Vec<u8>, KeyError> {
    Ok(key.spki_der().to_vec())
}

pub fn public_key_spki_pem(key: &PublicKey) -> Result<String, KeyError> {
    Ok(key.to_spki_pem())
}

/// The one-line base64 form that Alipay's dashboard asks the merchant to paste.
pub fn public_key_one_line(key: &PublicKey) -> Result<String, KeyError> {
    Ok(key.to_one_line_base64())
}

/// SHA-256 over the SubjectPublicKeyInfo DER, as colon-free lowercase hex. Safe to show on
/// screens and in logs: it identifies a key pair without revealing anything secret.
pub fn fingerprint(key: &PublicKey) -> Result<String, KeyError> {
    Ok(crate::ams::signing::sha256_hex(key.spki_der()))
}

/// Writes a private key so that only the owner can read it, and never over an existing file.
/// The mode is set at creation, so there is no window in which the key is world-readable.
pub fn write_private_key_file(path: &Path, pem: &str) -> Result<(), KeyError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    write_new_file(&mut options, path, pem)
}

/// Writes a public key (readable by anyone) without overwriting an existing file.
pub fn write_public_key_file(path: &Path, pem: &str) -> Result<(), KeyError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    write_new_file(&mut options, path, pem)
}

fn write_new_file(options: &mut OpenOptions, path: &Path, text: &str) -> Result<(), KeyError> {
    let io_err = |e: std::io::Error| KeyError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            KeyError::WouldOverwrite {
                path: path.to_path_buf(),
            }
        } else {
            io_err(e)
        }
    })?;
    file.write_all(text.as_bytes()).map_err(io_err)?;
    file.sync_all().map_err(io_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(name: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/testvectors")
            .join(name);
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn key_pair_loads_and_says_which_file_is_wrong() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/testvectors");
        let private = dir.join("merchant_private_key_pkcs8.pem");
        let public = dir.join("alipay_public_key.pem");
        let keys = load_key_pair(&private, &public).unwrap();
        assert_eq!(
            keys.merchant_fingerprint,
            fingerprint(&keys.merchant_private_key.public_key()).unwrap()
        );
        assert_eq!(
            keys.alipay_fingerprint,
            fingerprint(&keys.alipay_public_key).unwrap()
        );
        assert_ne!(keys.merchant_fingerprint, keys.alipay_fingerprint);

        let swapped = load_key_pair(&private, &private).unwrap_err();
        assert!(
            matches!(&swapped, KeyPairError::AlipayPublicKey(KeyError::InFile { source, .. })
                if matches!(**source, KeyError::PrivateWherePublicExpected(_))),
            "{swapped:?}"
        );
        let missing = load_key_pair(&dir.join("nope.pem"), &public).unwrap_err();
        assert!(
            matches!(missing.key_error(), KeyError::Io { .. }),
            "{missing:?}"
        );
        assert!(matches!(missing, KeyPairError::MerchantPrivateKey(_)));
    }

    #[test]
    fn all_private_key_encodings_load_to_the_same_key() {
        let pkcs8 = parse_private_key(&vector("merchant_private_key_pkcs8.pem")).unwrap();
        let pkcs1 = parse_private_key(&vector("merchant_private_key_pkcs1.pem")).unwrap();
        let b64_8 = parse_private_key(&vector("merchant_private_key_pkcs8.b64")).unwrap();
        let b64_1 = parse_private_key(&vector("merchant_private_key_pkcs1.b64")).unwrap();
        assert_eq!(pkcs8.encoding, KeyEncoding::Pkcs8Pem);
        assert_eq!(pkcs1.encoding, KeyEncoding::Pkcs1Pem);
        assert_eq!(b64_8.encoding, KeyEncoding::Pkcs8Base64);
        assert_eq!(b64_1.encoding, KeyEncoding::Pkcs1Base64);
        for other in [&pkcs1, &b64_8, &b64_1] {
            assert_eq!(other.key.public_key(), pkcs8.key.public_key());
            assert_eq!(
                other.key.to_pkcs8_der().unwrap(),
                pkcs8.key.to_pkcs8_der().unwrap()
            );
            assert_eq!(other.mislabelled_as, None);
        }
    }

    #[test]
    fn public_key_loads_from_pem_and_one_line_base64() {
        let pem = parse_public_key(&vector("alipay_public_key.pem")).unwrap();
        let b64 = parse_public_key(&vector("alipay_public_key.b64")).unwrap();
        assert_eq!(pem.encoding, KeyEncoding::SpkiPem);
        assert_eq!(b64.encoding, KeyEncoding::SpkiBase64);
        assert_eq!(pem.key, b64.key);
        let private = parse_private_key(&vector("alipay_private_key_pkcs8.pem")).unwrap();
        assert_eq!(private.key.public_key(), pem.key);
        assert_eq!(
            public_key_one_line(&pem.key).unwrap(),
            vector("alipay_public_key.b64").trim()
        );
    }

    #[test]
    fn mislabelled_pkcs8_under_pkcs1_armor_is_loaded_and_reported() {
        let pkcs8 = vector("merchant_private_key_pkcs8.pem")
            .replace("BEGIN PRIVATE KEY", "BEGIN RSA PRIVATE KEY")
            .replace("END PRIVATE KEY", "END RSA PRIVATE KEY");
        let loaded = parse_private_key(&pkcs8).unwrap();
        assert_eq!(loaded.encoding, KeyEncoding::Pkcs8Pem);
        assert_eq!(loaded.mislabelled_as.as_deref(), Some("RSA PRIVATE KEY"));
    }

    #[test]
    fn private_key_is_refused_where_public_expected_but_diagnostics_may_derive_it() {
        let text = vector("merchant_private_key_pkcs1.pem");
        assert_eq!(
            parse_public_key(&text).unwrap_err(),
            KeyError::PrivateWherePublicExpected(KeyEncoding::Pkcs1Pem)
        );
        let lenient = parse_public_key_lenient(&text).unwrap();
        assert!(lenient.derived_from_private);
        assert_eq!(
            lenient.key,
            parse_public_key(&vector("merchant_public_key.pem"))
                .unwrap()
                .key
        );
    }

    #[test]
    fn public_key_is_refused_where_private_expected() {
        assert!(matches!(
            parse_private_key(&vector("merchant_public_key.b64")),
            Err(KeyError::PublicWherePrivateExpected(
                KeyEncoding::SpkiBase64
            ))
        ));
    }

    #[test]
    fn broken_inputs_have_specific_errors() {
        assert_eq!(parse_private_key("  \n").unwrap_err(), KeyError::Empty);
        assert!(matches!(
            parse_private_key("not base64 at all!").unwrap_err(),
            KeyError::NotBase64(_)
        ));
        assert!(matches!(
            parse_private_key("-----BEGIN PRIVATE KEY-----\nAAAA\n").unwrap_err(),
            KeyError::BrokenArmor(label) if label == "PRIVATE KEY"
        ));
        assert_eq!(
            parse_private_key(
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----"
            )
            .unwrap_err(),
            KeyError::Encrypted
        );
        assert_eq!(
            parse_private_key("AAAAAAAA").unwrap_err(),
            KeyError::NotAnRsaKey
        );
    }

    #[test]
    fn a_short_key_is_reported_too_short_not_unreadable() {
        // aws-lc-rs refuses keys under 2048 bits outright; reading with the `rsa` crate first
        // is what lets the user hear the real reason.
        let short = rsa::PrivateKey::new(&mut getrandom::SysRng, 1024).unwrap();
        let private = BASE64.encode(short.to_pkcs8_der().unwrap().as_bytes());
        assert_eq!(
            parse_private_key(&private).unwrap_err(),
            KeyError::TooShort { bits: 1024 }
        );
        let public_der = short.to_public_key().to_public_key_der().unwrap();
        assert_eq!(
            parse_public_key(&BASE64.encode(public_der.as_bytes())).unwrap_err(),
            KeyError::TooShort { bits: 1024 }
        );
    }

    #[test]
    fn key_file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let err = load_private_key_file(&missing).unwrap_err();
        assert!(err.to_string().contains("nope.pem"), "{err}");
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "hello").unwrap();
        let err = load_public_key_file(&garbage).unwrap_err();
        assert!(err.to_string().contains("garbage.pem"), "{err}");
    }

    #[test]
    fn fingerprint_is_stable_hex() {
        let key = parse_public_key(&vector("merchant_public_key.pem"))
            .unwrap()
            .key;
        let fp = fingerprint(&key).unwrap();
        assert_eq!(fp.len(), 64);
        assert!(fp.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(fp, fingerprint(&key).unwrap());
    }

    #[cfg(unix)]
    #[test]
    fn private_key_file_is_owner_only_and_never_overwritten() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        let pem = vector("merchant_private_key_pkcs8.pem");
        write_private_key_file(&path, &pem).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(matches!(
            write_private_key_file(&path, "other"),
            Err(KeyError::WouldOverwrite { .. })
        ));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), pem);
    }
}
