//! AMS message signatures: SHA256withRSA over `POST <path>\n<client-id>.<time>.<body>`.
//!
//! The same content rule covers requests (merchant key), responses and notifications
//! (Alipay's key); only where the path and time come from differs. Everything is signed
//! over exact bytes: the body as it travels, and the time header verbatim, because any
//! re-formatting on one side breaks the signature on the other.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::Sha256;

use crate::ams::crypto::{self, PrivateKey, PublicKey};

/// The only algorithm name AMS uses; it means RSASSA-PKCS1-v1_5 with SHA-256.
pub const ALGORITHM: &str = "RSA256";
/// What every official SDK sends when the merchant has a single key version.
pub const DEFAULT_KEY_VERSION: &str = "1";

/// Characters left as they are by form-style URL encoding (Java's `URLEncoder`, Python's
/// `quote_plus`). Base64 only ever needs `+`, `/` and `=` escaped, but encoding the full set
/// keeps the output identical to the SDKs for any input.
const FORM_SAFE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'*');

/// The exact bytes that get signed. `uri` is the path (plus `?query`, if any) without scheme
/// or host; `time` is the `request-time`/`response-time` header text, byte for byte.
pub fn content_to_sign(uri: &str, client_id: &str, time: &str, body: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(uri.len() + client_id.len() + time.len() + body.len() + 8);
    content.extend_from_slice(b"POST ");
    content.extend_from_slice(uri.as_bytes());
    content.push(b'\n');
    content.extend_from_slice(client_id.as_bytes());
    content.push(b'.');
    content.extend_from_slice(time.as_bytes());
    content.push(b'.');
    content.extend_from_slice(body);
    content
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("signing failed: {0}")]
    Signing(String),
    #[error("the signature is not valid base64: {0}")]
    NotBase64(String),
    #[error("the signature does not match the content and key")]
    Mismatch,
    #[error("the signature header has no `signature=` field")]
    MissingSignatureField,
    #[error("the signature header names algorithm `{0}`; only RSA256 is defined by AMS")]
    UnsupportedAlgorithm(String),
    #[error("the signature value is not valid URL encoding")]
    BadUrlEncoding,
}

/// Signs `content` with the private key and returns the base64 signature. The signature is
/// deterministic (PKCS#1 v1.5); [`crypto::sign_sha256`] blinds the private-key operation so
/// its timing does not leak the key.
pub fn sign(key: &PrivateKey, content: &[u8]) -> Result<String, SignatureError> {
    let signature =
        crypto::sign_sha256(key, content).map_err(|e| SignatureError::Signing(e.to_string()))?;
    Ok(BASE64.encode(signature))
}

/// Verifies a base64 signature (already URL-decoded) over `content`.
pub fn verify(key: &PublicKey, content: &[u8], signature_b64: &str) -> Result<(), SignatureError> {
    let signature = BASE64
        .decode(signature_b64.trim().as_bytes())
        .map_err(|e| SignatureError::NotBase64(e.to_string()))?;
    crypto::verify_sha256(key, content, &signature).map_err(|_| SignatureError::Mismatch)
}

/// Lowercase hex of the SHA-256 of `bytes`: how key fingerprints and request-body hashes are
/// written wherever they are shown or stored.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Form-style URL encoding, as every SDK applies to the base64 signature on the way out.
pub fn url_encode(value: &str) -> String {
    utf8_percent_encode(value, FORM_SAFE).to_string()
}

/// Percent-decoding of the `signature=` value, in either letter case (`%2F` or `%2f`; the
/// docs show both). A `+` is kept as `+` rather than turned into a space: a literal `+` can
/// only come from an unencoded base64 signature, and keeping it lets that still verify.
pub fn url_decode(value: &str) -> Result<String, SignatureError> {
    percent_decode_str(value)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| SignatureError::BadUrlEncoding)
}

/// The `signature` header: `algorithm=RSA256,keyVersion=1,signature=<url-encoded base64>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    pub algorithm: String,
    pub key_version: Option<String>,
    /// The base64 signature, URL-decoded.
    pub signature: String,
}

impl SignatureHeader {
    pub fn new(signature_b64: String, key_version: &str) -> Self {
        SignatureHeader {
            algorithm: ALGORITHM.to_string(),
            key_version: Some(key_version.to_string()),
            signature: signature_b64,
        }
    }

    /// Parses a received header. Tolerates spaces around fields and any field order. Splitting
    /// on commas is safe because neither base64 nor its URL encoding contains one.
    pub fn parse(header: &str) -> Result<Self, SignatureError> {
        let mut algorithm = None;
        let mut key_version = None;
        let mut signature = None;
        for field in header.split(',').map(str::trim) {
            // `split_once` splits at the first `=`, so base64 padding stays in the value.
            let Some((name, value)) = field.split_once('=') else {
                continue;
            };
            let value = value.trim();
            match name.trim() {
                "algorithm" => algorithm = Some(value.to_string()),
                "keyVersion" => key_version = Some(value.to_string()),
                "signature" => signature = Some(value),
                _ => {}
            }
        }
        let algorithm = algorithm.unwrap_or_else(|| ALGORITHM.to_string());
        if algorithm != ALGORITHM {
            return Err(SignatureError::UnsupportedAlgorithm(algorithm));
        }
        let signature = signature
            .filter(|s| !s.is_empty())
            .ok_or(SignatureError::MissingSignatureField)?;
        Ok(SignatureHeader {
            algorithm,
            key_version,
            signature: url_decode(signature)?,
        })
    }

    /// A short, non-reversible prefix for logs: a full signature never goes into a log.
    pub fn redacted(&self) -> String {
        let prefix: String = self.signature.chars().take(8).collect();
        format!("{prefix}…({} chars)", self.signature.len())
    }
}

impl fmt::Display for SignatureHeader {
    /// The wire form, with the signature URL-encoded.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "algorithm={}", self.algorithm)?;
        if let Some(version) = &self.key_version {
            write!(f, ",keyVersion={version}")?;
        }
        write!(f, ",signature={}", url_encode(&self.signature))
    }
}

/// Signs `content` and returns the complete header value.
pub fn sign_header(
    key: &PrivateKey,
    key_version: &str,
    content: &[u8],
) -> Result<SignatureHeader, SignatureError> {
    Ok(SignatureHeader::new(sign(key, content)?, key_version))
}

/// Parses a received header and verifies it over `content`.
pub fn verify_header(key: &PublicKey, content: &[u8], header: &str) -> Result<(), SignatureError> {
    let parsed = SignatureHeader::parse(header)?;
    verify(key, content, &parsed.signature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ams::keys::{parse_private_key, parse_public_key};
    use std::path::Path;

    fn bytes(name: &str) -> Vec<u8> {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/testvectors")
                .join(name),
        )
        .unwrap()
    }
    fn text(name: &str) -> String {
        String::from_utf8(bytes(name)).unwrap().trim().to_string()
    }

    struct Vector {
        name: &'static str,
        uri: &'static str,
        time: &'static str,
        body: &'static str,
        content: &'static str,
        sha256: &'static str,
        signer: &'static str,
        verifier: &'static str,
    }

    const CLIENT_ID: &str = "TEST_5YBX2N2Y3C0K03015";
    const VECTORS: [Vector; 3] = [
        Vector {
            name: "v1",
            uri: "/ams/api/v1/payments/pay",
            time: "1735689600000",
            body: "v1_request_body.json",
            content: "v1_content_to_sign.txt",
            sha256: "a162b757d60a2f8b5cfe3fc14087534ef8b373190850d13dfbc6e17a3ae3a084",
            signer: "merchant",
            verifier: "merchant",
        },
        Vector {
            name: "v2",
            uri: "/ams/api/v1/payments/pay",
            time: "2025-01-01T08:00:01+08:00",
            body: "v2_response_body.json",
            content: "v2_content_to_verify.txt",
            sha256: "a46df364e3a078222c5f4da8545faa0a5d045c17dc1fe64ecf3c315bf7501e2c",
            signer: "alipay",
            verifier: "alipay",
        },
        Vector {
            name: "v3",
            uri: "/alipay/notify",
            time: "2025-01-01T08:00:30+08:00",
            body: "v3_notify_body.json",
            content: "v3_content_to_verify.txt",
            sha256: "169fbfc182a9fc6bb69aeda8b22a5b3881bbd91b00201d620489205facac4beb",
            signer: "alipay",
            verifier: "alipay",
        },
    ];

    #[test]
    fn vectors_reproduce_content_signature_and_header_byte_for_byte() {
        for v in VECTORS {
            let content = content_to_sign(v.uri, CLIENT_ID, v.time, &bytes(v.body));
            assert_eq!(content, bytes(v.content), "{} content", v.name);
            assert_eq!(sha256_hex(&content), v.sha256, "{} sha256", v.name);

            let expected_b64 = text(&format!("{}_signature.b64", v.name));
            for encoding in ["pkcs8.pem", "pkcs1.pem", "pkcs8.b64", "pkcs1.b64"] {
                let key = parse_private_key(&text(&format!("{}_private_key_{encoding}", v.signer)))
                    .unwrap()
                    .key;
                assert_eq!(
                    sign(&key, &content).unwrap(),
                    expected_b64,
                    "{} {encoding}",
                    v.name
                );
            }
            let urlencoded = text(&format!("{}_signature.urlencoded", v.name));
            let header = SignatureHeader::new(expected_b64.clone(), "1").to_string();
            assert_eq!(
                header,
                format!("algorithm=RSA256,keyVersion=1,signature={urlencoded}")
            );

            let public = parse_public_key(&text(&format!("{}_public_key.pem", v.verifier)))
                .unwrap()
                .key;
            verify(&public, &content, &expected_b64).unwrap();
            verify_header(&public, &content, &header).unwrap();
            let one_line = parse_public_key(&text(&format!("{}_public_key.b64", v.verifier)))
                .unwrap()
                .key;
            assert_eq!(one_line, public, "{} one-line public key", v.name);
            verify_header(&one_line, &content, &header).unwrap();
        }
    }

    #[test]
    fn urlencoded_vector_files_hold_the_form_encoding_of_the_base64() {
        for v in VECTORS {
            let b64 = text(&format!("{}_signature.b64", v.name));
            let encoded = text(&format!("{}_signature.urlencoded", v.name));
            assert_eq!(url_encode(&b64), encoded);
            assert_eq!(url_decode(&encoded).unwrap(), b64);
        }
    }

    #[test]
    fn a_changed_byte_or_wrong_key_fails_verification() {
        let v = &VECTORS[0];
        let body = String::from_utf8(bytes(v.body))
            .unwrap()
            .replace("1250", "1251");
        let content = content_to_sign(v.uri, CLIENT_ID, v.time, body.as_bytes());
        let merchant = parse_public_key(&text("merchant_public_key.pem"))
            .unwrap()
            .key;
        let sig = text("v1_signature.b64");
        assert_eq!(
            verify(&merchant, &content, &sig),
            Err(SignatureError::Mismatch)
        );
        let alipay = parse_public_key(&text("alipay_public_key.pem"))
            .unwrap()
            .key;
        assert_eq!(
            verify(&alipay, &bytes(v.content), &sig),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn header_parser_tolerates_spaces_order_and_lowercase_escapes() {
        let b64 = text("v1_signature.b64");
        let encoded = url_encode(&b64);
        let lower = encoded
            .replace("%2F", "%2f")
            .replace("%3D", "%3d")
            .replace("%2B", "%2b");
        let cases = [
            format!("algorithm=RSA256,keyVersion=1,signature={encoded}"),
            format!("algorithm=RSA256, keyVersion=1, signature={encoded}"),
            format!("signature={encoded},keyVersion=2,algorithm=RSA256"),
            format!(" keyVersion=1 , algorithm=RSA256 ,signature={lower} "),
            format!("algorithm=RSA256,keyVersion=1,signature={b64}"),
        ];
        for case in &cases {
            let parsed = SignatureHeader::parse(case).unwrap();
            assert_eq!(parsed.signature, b64, "{case}");
            assert_eq!(parsed.algorithm, "RSA256");
        }
        assert_eq!(
            SignatureHeader::parse(&cases[2])
                .unwrap()
                .key_version
                .as_deref(),
            Some("2")
        );
        assert_eq!(
            SignatureHeader::parse("algorithm=RSA256,keyVersion=1").unwrap_err(),
            SignatureError::MissingSignatureField
        );
        assert_eq!(
            SignatureHeader::parse("algorithm=RSA256,signature=").unwrap_err(),
            SignatureError::MissingSignatureField
        );
        assert_eq!(
            SignatureHeader::parse("algorithm=RSA512,signature=abc").unwrap_err(),
            SignatureError::UnsupportedAlgorithm("RSA512".into())
        );
        assert_eq!(
            SignatureHeader::parse("algorithm=RSA256,signature=%FF%FE").unwrap_err(),
            SignatureError::BadUrlEncoding
        );
        let no_version = SignatureHeader::parse(&format!("signature={encoded}")).unwrap();
        assert_eq!(no_version.key_version, None);
    }

    #[test]
    fn redacted_signature_never_contains_the_whole_value() {
        let header = SignatureHeader::new(text("v1_signature.b64"), "1");
        let redacted = header.redacted();
        assert!(redacted.len() < 30);
        assert!(!redacted.contains(&header.signature));
    }
}
