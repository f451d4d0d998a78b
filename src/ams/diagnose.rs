//! Explains *why* a signature fails, for `alipay-pos signature verify`.
//!
//! Signature mismatches are the top pain point in Alipay's SDK issue trackers, and a bare
//! "invalid signature" helps nobody. An RSA PKCS#1 v1.5 signature can be opened with the
//! public key to recover the SHA-256 digest that was actually signed. That separates the
//! causes cleanly: if the padding is wrong, the key is wrong; if the padding is right but the
//! digest differs, the key is right and the *content* differs, and trying the usual mistakes
//! (another path prefix, a re-formatted time, a re-serialised body) shows which part.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
// The `rsa` crate stays here on purpose: recovering the digest a signature carries needs the
// raw public-key operation (s^e mod n), which aws-lc-rs does not expose. Verifying still
// goes through `ams::crypto`; `rsa` only opens a signature that already failed.
use rsa::BoxedUint;
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use sha2::{Digest, Sha256};
use time::{OffsetDateTime, UtcOffset};

use crate::ams::client::{API_PREFIX, SANDBOX_API_PREFIX};
use crate::ams::crypto::PublicKey;
use crate::ams::keys::{self, KeyEncoding, KeyError};
use crate::ams::models::Api;
use crate::ams::signing::{self, SignatureHeader};
use crate::ams::timefmt;

/// DER prefix of a SHA-256 DigestInfo inside PKCS#1 v1.5 padding.
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];
/// DER prefix of a SHA-1 DigestInfo: a signer configured for "SHA1withRSA" produces it.
const SHA1_DIGEST_INFO: [u8; 15] = [
    0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14,
];

/// How the signature was handed over.
#[derive(Debug, Clone, Copy)]
pub enum SignatureInput<'a> {
    /// The whole `signature` header value, as received (URL-encoded).
    Header(&'a str),
    /// The base64 signature itself, as the caller's code decoded it.
    Base64(&'a str),
}

#[derive(Debug, Clone, Copy)]
pub struct VerifyRequest<'a> {
    pub key_text: &'a str,
    pub client_id: &'a str,
    pub time: &'a str,
    pub path: &'a str,
    pub body: &'a [u8],
    pub signature: SignatureInput<'a>,
}

/// The one reason a signature fails (or `Verified`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Verified,
    /// The key file could not be used at all.
    KeyUnusable(KeyError),
    /// The signature is not base64 even after the usual repairs.
    SignatureUnreadable(String),
    /// The value is still URL-encoded: the caller's code skipped URL-decoding.
    NotUrlDecoded,
    /// `+` characters turned into spaces: the sender did not URL-encode, and the receiver
    /// form-decoded.
    PlusBecameSpace,
    /// The signature has a different length than this key's signatures.
    WrongLength {
        signature_bytes: usize,
        key_bytes: usize,
    },
    /// The signature was not made with the private half of this key.
    WrongKey {
        fingerprint: String,
    },
    /// Right key, but signed with another hash than SHA-256.
    WrongHash(&'static str),
    /// Right key, but the content differs; `differences` names what was found to differ.
    ContentMismatch {
        differences: Vec<Difference>,
    },
}

/// One part of the content to sign that differs from what the signer used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    Path {
        signed: String,
    },
    Time {
        signed: String,
    },
    ClientId {
        signed: String,
    },
    Body {
        how: &'static str,
    },
    /// No variant matched: the path and time variants were ruled out, so the body (or
    /// several parts at once) changed.
    Unidentified,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::Path { signed } => write!(
                f,
                "path mismatch: the signer used `{signed}`; the path must be the exact request path (with the same /ams/api or /ams/sandbox/api prefix)"
            ),
            Difference::Time { signed } => write!(
                f,
                "time mismatch: the signer used `{signed}`; use the request-time/response-time header text byte for byte, never a re-formatted time"
            ),
            Difference::ClientId { signed } => {
                write!(f, "client-id mismatch: the signer used `{signed}`")
            }
            Difference::Body { how } => write!(
                f,
                "body changed: {how}; sign and verify the exact bytes that travel on the wire"
            ),
            Difference::Unidentified => write!(
                f,
                "the body changed (or several parts at once): the key is right and no path, time or formatting variant matches, so the bytes verified are not the bytes that were signed"
            ),
        }
    }
}

/// The verdict plus advisory notes (e.g. a mislabelled key file that other tools reject).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    pub verdict: Verdict,
    pub notes: Vec<String>,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Verified => write!(f, "signature verified"),
            Verdict::KeyUnusable(error) => write!(f, "cannot use the key: {error}"),
            Verdict::SignatureUnreadable(why) => write!(f, "the signature is unreadable: {why}"),
            Verdict::NotUrlDecoded => write!(
                f,
                "the signature is still URL-encoded (it contains %2B, %2F or %3D): URL-decode the header value before base64-decoding it; after decoding it verifies"
            ),
            Verdict::PlusBecameSpace => write!(
                f,
                "the signature contains spaces where `+` belonged: the sender did not URL-encode it and the receiver form-decoded it; URL-encode signatures when sending (with `+` restored it verifies)"
            ),
            Verdict::WrongLength {
                signature_bytes,
                key_bytes,
            } => write!(
                f,
                "the signature is {signature_bytes} bytes but this key makes {key_bytes}-byte signatures: it was truncated, or made with another key"
            ),
            Verdict::WrongKey { fingerprint } => write!(
                f,
                "wrong key: the signature was not made with the private half of this public key (fingerprint {fingerprint}). Responses and notifications verify with Alipay's public key, requests with the merchant's"
            ),
            Verdict::WrongHash(name) => write!(
                f,
                "the key is right, but the signature uses {name} instead of SHA-256 (RSA256 means SHA256withRSA)"
            ),
            Verdict::ContentMismatch { differences } => {
                write!(f, "the key is right, but the signed content differs:")?;
                for difference in differences {
                    write!(f, "\n  - {difference}")?;
                }
                Ok(())
            }
        }
    }
}

pub fn diagnose(request: VerifyRequest<'_>) -> Diagnosis {
    let mut notes = Vec::new();
    let loaded = match keys::parse_public_key_lenient(request.key_text) {
        Ok(loaded) => loaded,
        Err(error) => {
            return Diagnosis {
                verdict: Verdict::KeyUnusable(error),
                notes,
            };
        }
    };
    key_notes(&loaded, &mut notes);
    let verdict = match decode_signature(request.signature, &mut notes) {
        Ok((signature, repair)) => {
            let verdict = check_signature(&loaded.key, &signature, &request);
            match (repair, verdict) {
                (Some(repair), Verdict::Verified) => repair,
                (_, verdict) => verdict,
            }
        }
        Err(verdict) => verdict,
    };
    Diagnosis { verdict, notes }
}

fn key_notes(loaded: &keys::LoadedPublicKey, notes: &mut Vec<String>) {
    if loaded.derived_from_private {
        notes.push(format!(
            "you gave a private key ({}); verification only needs the public key, and the private key must never leave the signer. Its public half was used",
            loaded.encoding
        ));
    }
    if let Some(label) = &loaded.mislabelled_as {
        notes.push(format!(
            "PKCS#1/PKCS#8 mix-up: the file says `BEGIN {label}` but contains {}; alipay-pos reads it, but Alipay's SDKs and OpenSSL will reject it. Fix the label or convert it with `openssl pkey`",
            loaded.encoding
        ));
    }
    if matches!(
        loaded.encoding,
        KeyEncoding::Pkcs1PublicPem | KeyEncoding::Pkcs1PublicBase64
    ) {
        notes.push(
            "PKCS#1/PKCS#8 mix-up: this public key is a PKCS#1 RSAPublicKey; Alipay's SDKs and dashboard use X.509 SubjectPublicKeyInfo (`BEGIN PUBLIC KEY`). Convert it with `openssl rsa -RSAPublicKey_in -in KEY -pubout`"
                .to_string(),
        );
    }
}

/// Decodes the signature, recording a repair verdict when the value only decodes after
/// fixing a known transport mistake.
fn decode_signature(
    input: SignatureInput<'_>,
    notes: &mut Vec<String>,
) -> Result<(Vec<u8>, Option<Verdict>), Verdict> {
    let (value, repair) = match input {
        SignatureInput::Header(header) => {
            let raw = header
                .split(',')
                .filter_map(|f| f.trim().split_once('='))
                .find(|(name, _)| name.trim() == "signature")
                .map(|(_, v)| v.trim().to_string());
            if let Some(raw) = &raw
                && (raw.contains('+') || raw.contains('/'))
            {
                notes.push("the header's signature is not URL-encoded: form-style decoders (Alipay's Python SDK) turn its `+` into spaces and fail. URL-encode it when sending".to_string());
            }
            let parsed = SignatureHeader::parse(header)
                .map_err(|e| Verdict::SignatureUnreadable(e.to_string()))?;
            (parsed.signature, None)
        }
        SignatureInput::Base64(value) => {
            let value = value.trim();
            if value.contains('%') {
                let decoded = signing::url_decode(value)
                    .map_err(|e| Verdict::SignatureUnreadable(e.to_string()))?;
                (decoded, Some(Verdict::NotUrlDecoded))
            } else if value.contains(' ') {
                (value.replace(' ', "+"), Some(Verdict::PlusBecameSpace))
            } else {
                (value.to_string(), None)
            }
        }
    };
    let bytes = BASE64
        .decode(value.as_bytes())
        .map_err(|e| Verdict::SignatureUnreadable(format!("not base64 ({e})")))?;
    Ok((bytes, repair))
}

fn check_signature(key: &PublicKey, signature: &[u8], request: &VerifyRequest<'_>) -> Verdict {
    let key_bytes = key.signature_len();
    if signature.len() != key_bytes {
        return Verdict::WrongLength {
            signature_bytes: signature.len(),
            key_bytes,
        };
    }
    let content =
        signing::content_to_sign(request.path, request.client_id, request.time, request.body);
    let b64 = BASE64.encode(signature);
    if signing::verify(key, &content, &b64).is_ok() {
        return Verdict::Verified;
    }
    let wrong_key = || Verdict::WrongKey {
        fingerprint: keys::fingerprint(key).unwrap_or_else(|_| "unknown".into()),
    };
    let Some(digest_info) = recover_digest_info(key, signature) else {
        return wrong_key();
    };
    if let Some(hash) = digest_info.strip_prefix(&SHA256_DIGEST_INFO[..]) {
        return Verdict::ContentMismatch {
            differences: find_differences(hash, request),
        };
    }
    if digest_info.starts_with(&SHA1_DIGEST_INFO) {
        return Verdict::WrongHash("SHA-1");
    }
    Verdict::WrongHash("an unrecognised digest")
}

/// Opens the signature with the public key and strips PKCS#1 v1.5 type-1 padding
/// (`00 01 FF… 00 DigestInfo`). `None` means the padding is not there: another key made it.
fn recover_digest_info(key: &PublicKey, signature: &[u8]) -> Option<Vec<u8>> {
    let key = rsa::PublicKey::from_public_key_der(key.spki_der()).ok()?;
    let key = &key;
    let n = key.n();
    let s = BoxedUint::from_be_slice(signature, n.as_ref().bits_precision()).ok()?;
    if s >= *n.as_ref() {
        return None;
    }
    let m = rsa::hazmat::rsa_encrypt(key, &s).ok()?;
    let bytes = m.to_be_bytes();
    let k = key.size();
    let em = if bytes.len() >= k {
        bytes[bytes.len() - k..].to_vec()
    } else {
        let mut padded = vec![0u8; k - bytes.len()];
        padded.extend_from_slice(&bytes);
        padded
    };
    if em.first() != Some(&0) || em.get(1) != Some(&1) {
        return None;
    }
    let separator = em[2..].iter().position(|&b| b != 0xff)? + 2;
    if separator < 10 || em[separator] != 0 {
        return None;
    }
    Some(em[separator + 1..].to_vec())
}

struct Variant<T> {
    value: T,
    changed: bool,
}

fn find_differences(signed_hash: &[u8], request: &VerifyRequest<'_>) -> Vec<Difference> {
    let paths = path_variants(request.path);
    let times = time_variants(request.time);
    let bodies = body_variants(request.body);
    let client_ids = client_id_variants(request.client_id);
    for body in &bodies {
        for path in &paths {
            for time in &times {
                for client_id in &client_ids {
                    let content = signing::content_to_sign(
                        &path.value,
                        &client_id.value,
                        &time.value,
                        &body.value.1,
                    );
                    if Sha256::digest(&content).as_slice() != signed_hash {
                        continue;
                    }
                    let mut differences = Vec::new();
                    if path.changed {
                        differences.push(Difference::Path {
                            signed: path.value.clone(),
                        });
                    }
                    if time.changed {
                        differences.push(Difference::Time {
                            signed: time.value.clone(),
                        });
                    }
                    if client_id.changed {
                        differences.push(Difference::ClientId {
                            signed: client_id.value.clone(),
                        });
                    }
                    if body.changed {
                        differences.push(Difference::Body { how: body.value.0 });
                    }
                    return differences;
                }
            }
        }
    }
    vec![Difference::Unidentified]
}

fn path_variants(path: &str) -> Vec<Variant<String>> {
    let mut out = vec![path.to_string()];
    let bare = path.split('?').next().unwrap_or(path);
    out.push(bare.to_string());
    out.push(format!("{}/", bare.trim_end_matches('/')));
    out.push(bare.trim_end_matches('/').to_string());
    if let Some(rest) = bare.strip_prefix(SANDBOX_API_PREFIX) {
        out.push(format!("{API_PREFIX}{rest}"));
    } else if let Some(rest) = bare.strip_prefix(API_PREFIX) {
        out.push(format!("{SANDBOX_API_PREFIX}{rest}"));
    }
    for api in Api::ALL {
        for prefix in [API_PREFIX, SANDBOX_API_PREFIX] {
            out.push(format!("{prefix}{}", api.endpoint()));
        }
        out.push(api.endpoint().to_string());
    }
    dedupe(path, out)
}

fn time_variants(time: &str) -> Vec<Variant<String>> {
    let mut out = vec![time.to_string(), time.trim().to_string()];
    if let Ok(instant) = timefmt::parse_request_time(time.trim()) {
        let millis = instant.unix_timestamp_nanos() / 1_000_000;
        out.push(millis.to_string());
        out.push(instant.unix_timestamp().to_string());
        let whole = instant.replace_nanosecond(0).unwrap_or(instant);
        // Every offset in use worldwide, in quarter hours: the signer may have formatted the
        // same instant in its own time zone.
        for quarter_hours in -48..=56 {
            if let Ok(offset) = UtcOffset::from_whole_seconds(quarter_hours * 900) {
                let local = whole.to_offset(offset);
                out.push(timefmt::format_datetime(local));
                out.push(with_millis(local, instant));
            }
        }
        out.push(utc_z(whole));
    }
    dedupe(time, out)
}

fn with_millis(local: OffsetDateTime, instant: OffsetDateTime) -> String {
    let base = timefmt::format_datetime(local);
    let millis = instant.millisecond();
    // Insert `.mmm` before the offset (the last 6 characters, `+hh:mm`).
    let split = base.len().saturating_sub(6);
    format!("{}.{millis:03}{}", &base[..split], &base[split..])
}

fn utc_z(instant: OffsetDateTime) -> String {
    let text = timefmt::format_datetime(instant.to_offset(UtcOffset::UTC));
    text.strip_suffix("+00:00")
        .map(|t| format!("{t}Z"))
        .unwrap_or(text)
}

fn client_id_variants(client_id: &str) -> Vec<Variant<String>> {
    dedupe(
        client_id,
        vec![client_id.to_string(), client_id.trim().to_string()],
    )
}

fn body_variants(body: &[u8]) -> Vec<Variant<(&'static str, Vec<u8>)>> {
    let mut out: Vec<(&'static str, Vec<u8>)> = vec![("unchanged", body.to_vec())];
    let trimmed = body.trim_ascii_end();
    if trimmed.len() != body.len() {
        out.push((
            "the verified body has trailing whitespace or a newline the signer did not sign",
            trimmed.to_vec(),
        ));
    } else {
        let mut with_newline = body.to_vec();
        with_newline.push(b'\n');
        out.push((
            "the signer signed a trailing newline the verified body lacks",
            with_newline,
        ));
    }
    if body.windows(2).any(|w| w == b"\r\n") {
        let lf: Vec<u8> = String::from_utf8_lossy(body)
            .replace("\r\n", "\n")
            .into_bytes();
        out.push(("line endings differ (CRLF vs LF)", lf));
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        if let Ok(compact) = serde_json::to_vec(&value) {
            out.push((
                "the JSON was re-serialised (the signer signed it compact)",
                compact,
            ));
        }
        for (indent, how) in [
            (
                &b"  "[..],
                "the JSON was re-serialised (the signer signed it pretty-printed, 2 spaces)",
            ),
            (
                &b"   "[..],
                "the JSON was re-serialised (the signer signed it pretty-printed, 3 spaces, as the Python SDK does)",
            ),
            (
                &b"    "[..],
                "the JSON was re-serialised (the signer signed it pretty-printed, 4 spaces)",
            ),
        ] {
            let mut pretty = Vec::new();
            let formatter = serde_json::ser::PrettyFormatter::with_indent(indent);
            let mut serializer = serde_json::Serializer::with_formatter(&mut pretty, formatter);
            if serde::Serialize::serialize(&value, &mut serializer).is_ok() {
                out.push((how, pretty));
            }
        }
    }
    let mut seen: Vec<Vec<u8>> = Vec::new();
    let mut variants = Vec::new();
    for (how, bytes) in out {
        if seen.contains(&bytes) {
            continue;
        }
        seen.push(bytes.clone());
        variants.push(Variant {
            changed: bytes != body,
            value: (how, bytes),
        });
    }
    variants
}

fn dedupe(original: &str, values: Vec<String>) -> Vec<Variant<String>> {
    let mut out: Vec<Variant<String>> = Vec::new();
    for value in values {
        if out.iter().any(|v| v.value == value) {
            continue;
        }
        out.push(Variant {
            changed: value != original,
            value,
        });
    }
    out
}
