//! The one place that does RSA work: SHA256withRSA signing and verification, key generation
//! and the DER/PEM forms keys are written in.
//!
//! Every AMS request is signed and every response and notification verified, so this is the
//! hot path of each round trip. It runs on `aws-lc-rs` (AWS-LC's assembly-optimised big-number
//! code, already linked for TLS through rustls), which signs about ten times faster than the
//! pure-Rust `rsa` crate and is not affected by that crate's Marvin timing advisory
//! (RUSTSEC-2023-0071). Keeping all of it behind these two newtypes means the rest of the
//! program never names a crypto library, and a backend change stays inside this file.
//!
//! Parsing the many shapes merchants hand keys around in (and explaining the wrong ones) is
//! `ams::keys`' job; it gives this module DER in the forms aws-lc-rs reads.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{
    KeyPair as _, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

/// Why a crypto operation failed. Never carries key material, so it is safe to log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The DER is not a key aws-lc-rs accepts (it takes 2048 to 8192-bit RSA keys).
    #[error("the RSA key was refused: {0}")]
    KeyRejected(String),
    #[error("RSA signing failed")]
    Signing,
    #[error("the signature does not match the content and key")]
    Mismatch,
    #[error("RSA key generation failed")]
    Generation,
    #[error("the key could not be encoded")]
    Encoding,
}

/// An RSA private key, ready to sign. Cloning shares the parsed key (it is immutable), so
/// handing one to every request task costs a reference count, not a copy of the secret.
#[derive(Clone)]
pub struct PrivateKey {
    key_pair: Arc<KeyPair>,
    public: PublicKey,
}

/// An RSA public key, parsed once for fast verification. Two keys are equal when their
/// SubjectPublicKeyInfo DER is, whatever encoding they were read from.
#[derive(Clone)]
pub struct PublicKey {
    parsed: Arc<ParsedPublicKey>,
    /// The canonical X.509 SubjectPublicKeyInfo DER: what fingerprints and exports use.
    spki_der: Arc<[u8]>,
    modulus_bytes: usize,
}

impl PrivateKey {
    /// Reads a PKCS#8 `PrivateKeyInfo` (what `BEGIN PRIVATE KEY` holds).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, CryptoError> {
        let key_pair =
            KeyPair::from_pkcs8(der).map_err(|e| CryptoError::KeyRejected(e.to_string()))?;
        Self::from_key_pair(key_pair)
    }

    /// Reads a PKCS#1 `RSAPrivateKey` (what `BEGIN RSA PRIVATE KEY` holds).
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, CryptoError> {
        let key_pair =
            KeyPair::from_der(der).map_err(|e| CryptoError::KeyRejected(e.to_string()))?;
        Self::from_key_pair(key_pair)
    }

    fn from_key_pair(key_pair: KeyPair) -> Result<Self, CryptoError> {
        let public = PublicKey::from_der(key_pair.public_key().as_ref())?;
        Ok(PrivateKey {
            key_pair: Arc::new(key_pair),
            public,
        })
    }

    /// The public half (a cheap clone: it was derived when the key was read).
    pub fn public_key(&self) -> PublicKey {
        self.public.clone()
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> usize {
        self.public.bits()
    }

    /// The PKCS#8 `PrivateKeyInfo` DER. The returned bytes are secret: never log them.
    pub fn to_pkcs8_der(&self) -> Result<Vec<u8>, CryptoError> {
        let der: Pkcs8V1Der<'static> = self.key_pair.as_der().map_err(|_| CryptoError::Encoding)?;
        Ok(der.as_ref().to_vec())
    }

    /// `-----BEGIN PRIVATE KEY-----` PEM with LF line endings, what `keys generate` writes
    /// and every Alipay SDK reads. The returned text is secret: never log it.
    pub fn to_pkcs8_pem(&self) -> Result<String, CryptoError> {
        Ok(pem("PRIVATE KEY", &self.to_pkcs8_der()?))
    }
}

impl PublicKey {
    /// Reads an X.509 `SubjectPublicKeyInfo` (`BEGIN PUBLIC KEY`) or a PKCS#1 `RSAPublicKey`
    /// (`BEGIN RSA PUBLIC KEY`); aws-lc-rs tells the two apart itself.
    pub fn from_der(der: &[u8]) -> Result<Self, CryptoError> {
        let parsed = ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der)
            .map_err(|e| CryptoError::KeyRejected(e.to_string()))?;
        let spki: PublicKeyX509Der<'static> = parsed.as_der().map_err(|_| CryptoError::Encoding)?;
        // The size getter on `rsa::PublicKey` needs the `ring-io` feature (and another crate);
        // the encrypting key reads the same modulus from the SPKI without it.
        let modulus_bytes = aws_lc_rs::rsa::PublicEncryptingKey::from_der(spki.as_ref())
            .map_err(|e| CryptoError::KeyRejected(e.to_string()))?
            .key_size_bytes();
        Ok(PublicKey {
            parsed: Arc::new(parsed),
            spki_der: Arc::from(spki.as_ref()),
            modulus_bytes,
        })
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> usize {
        self.modulus_bytes * 8
    }

    /// The length of every signature this key verifies, in bytes.
    pub fn signature_len(&self) -> usize {
        self.modulus_bytes
    }

    /// The X.509 `SubjectPublicKeyInfo` DER.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// `-----BEGIN PUBLIC KEY-----` PEM with LF line endings.
    pub fn to_spki_pem(&self) -> String {
        pem("PUBLIC KEY", &self.spki_der)
    }

    /// The one-line base64 of the SubjectPublicKeyInfo, the form Alipay's dashboard takes.
    pub fn to_one_line_base64(&self) -> String {
        BASE64.encode(&*self.spki_der)
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki_der == other.spki_der
    }
}
impl Eq for PublicKey {}

impl fmt::Debug for PrivateKey {
    /// Only the size and the public key's fingerprint: a private key never reaches a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("bits", &self.bits())
            .field("public_sha256", &fingerprint_prefix(&self.public))
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for PublicKey {
    /// Size and a fingerprint prefix: enough to tell keys apart in a test failure without
    /// filling logs with kilobytes of modulus.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("bits", &self.bits())
            .field("sha256", &fingerprint_prefix(self))
            .finish_non_exhaustive()
    }
}

fn fingerprint_prefix(key: &PublicKey) -> String {
    let mut hex = crate::ams::signing::sha256_hex(key.spki_der());
    hex.truncate(16);
    hex
}

/// RSASSA-PKCS1-v1_5 with SHA-256 ("SHA256withRSA", AMS's `RSA256`). PKCS#1 v1.5 is
/// deterministic, so the same key and content always give the same bytes (the test vectors
/// rely on it); AWS-LC blinds the private-key operation internally so its timing does not
/// leak the key. Fails only if AWS-LC itself does (e.g. out of memory).
pub fn sign_sha256(key: &PrivateKey, content: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut signature = vec![0u8; key.key_pair.public_modulus_len()];
    // aws-lc-rs ignores the RNG for RSA signing; the API takes one for ring compatibility.
    let rng = aws_lc_rs::rand::SystemRandom::new();
    key.key_pair
        .sign(&RSA_PKCS1_SHA256, &rng, content, &mut signature)
        .map_err(|_| CryptoError::Signing)?;
    Ok(signature)
}

/// Checks an RSASSA-PKCS1-v1_5 / SHA-256 signature over `content`.
pub fn verify_sha256(key: &PublicKey, content: &[u8], signature: &[u8]) -> Result<(), CryptoError> {
    key.parsed
        .verify_sig(content, signature)
        .map_err(|_| CryptoError::Mismatch)
}

/// A fresh 2048-bit key (public exponent 65537) from AWS-LC's system-seeded RNG, the size
/// Alipay's own tooling generates. Fails only if AWS-LC itself does.
pub fn generate_2048() -> Result<PrivateKey, CryptoError> {
    let key_pair = KeyPair::generate(KeySize::Rsa2048).map_err(|_| CryptoError::Generation)?;
    PrivateKey::from_key_pair(key_pair)
}

/// PEM armor as OpenSSL writes it: 64 base64 characters a line, LF endings, final newline.
fn pem(label: &str, der: &[u8]) -> String {
    let b64 = BASE64.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for line in b64.as_bytes().chunks(64) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn vector(name: &str) -> String {
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/testvectors")
                .join(name),
        )
        .unwrap()
    }

    fn der(name: &str) -> Vec<u8> {
        let text = vector(name);
        let body: String = text
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<String>();
        BASE64.decode(body.trim()).unwrap()
    }

    #[test]
    fn pkcs1_and_pkcs8_give_the_same_key_and_signature() {
        let pkcs8 = PrivateKey::from_pkcs8_der(&der("merchant_private_key_pkcs8.pem")).unwrap();
        let pkcs1 = PrivateKey::from_pkcs1_der(&der("merchant_private_key_pkcs1.pem")).unwrap();
        assert_eq!(pkcs8.public_key(), pkcs1.public_key());
        assert_eq!(pkcs8.bits(), 2048);
        let content = vector("v1_content_to_sign.txt");
        let signature = sign_sha256(&pkcs8, content.as_bytes()).unwrap();
        assert_eq!(signature.len(), 256);
        assert_eq!(signature, sign_sha256(&pkcs1, content.as_bytes()).unwrap());
        assert_eq!(BASE64.encode(&signature), vector("v1_signature.b64").trim());
        verify_sha256(&pkcs8.public_key(), content.as_bytes(), &signature).unwrap();
    }

    #[test]
    fn verification_fails_on_other_content_key_or_signature() {
        let key = PrivateKey::from_pkcs8_der(&der("merchant_private_key_pkcs8.pem")).unwrap();
        let other = PublicKey::from_der(&der("alipay_public_key.pem")).unwrap();
        let mut signature = sign_sha256(&key, b"content").unwrap();
        let public = key.public_key();
        assert_eq!(
            verify_sha256(&public, b"contend", &signature),
            Err(CryptoError::Mismatch)
        );
        assert_eq!(
            verify_sha256(&other, b"content", &signature),
            Err(CryptoError::Mismatch)
        );
        signature[100] ^= 1;
        assert_eq!(
            verify_sha256(&public, b"content", &signature),
            Err(CryptoError::Mismatch)
        );
        assert_eq!(
            verify_sha256(&public, b"content", &signature[..255]),
            Err(CryptoError::Mismatch)
        );
    }

    #[test]
    fn exports_match_openssl_files_byte_for_byte() {
        let key = PrivateKey::from_pkcs8_der(&der("alipay_private_key_pkcs8.pem")).unwrap();
        assert_eq!(
            key.to_pkcs8_pem().unwrap(),
            vector("alipay_private_key_pkcs8.pem")
        );
        let public = key.public_key();
        assert_eq!(public.to_spki_pem(), vector("alipay_public_key.pem"));
        assert_eq!(
            public.to_one_line_base64(),
            vector("alipay_public_key.b64").trim()
        );
        assert_eq!(PublicKey::from_der(public.spki_der()).unwrap(), public);
    }

    #[test]
    fn generated_keys_sign_verify_and_round_trip_through_pkcs8() {
        let key = generate_2048().unwrap();
        assert_eq!(key.bits(), 2048);
        let signature = sign_sha256(&key, b"hello").unwrap();
        verify_sha256(&key.public_key(), b"hello", &signature).unwrap();
        let reread = PrivateKey::from_pkcs8_der(&key.to_pkcs8_der().unwrap()).unwrap();
        assert_eq!(reread.public_key(), key.public_key());
        assert_ne!(generate_2048().unwrap().public_key(), key.public_key());
    }

    #[test]
    fn debug_never_shows_key_material() {
        let key = PrivateKey::from_pkcs8_der(&der("merchant_private_key_pkcs8.pem")).unwrap();
        let debug = format!("{key:?} {:?}", key.public_key());
        let b64 = vector("merchant_private_key_pkcs8.b64");
        let public_b64 = vector("merchant_public_key.b64");
        assert!(debug.len() < 200, "{debug}");
        for window in [&b64.trim()[40..60], &public_b64.trim()[40..60]] {
            assert!(!debug.contains(window), "{debug}");
        }
        assert!(debug.contains("2048"), "{debug}");
    }

    #[test]
    fn garbage_is_rejected() {
        assert!(matches!(
            PrivateKey::from_pkcs8_der(b"\x30\x03\x02\x01\x00"),
            Err(CryptoError::KeyRejected(_))
        ));
        assert!(matches!(
            PublicKey::from_der(b"nonsense"),
            Err(CryptoError::KeyRejected(_))
        ));
    }
}
