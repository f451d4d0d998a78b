//! `SignatureHeader::parse`, the `signature` header of every answer and notification, and of
//! every request the sandbox receives.
//!
//! Invariants beyond "no panic": an accepted header names RSA256 and carries a non-empty
//! signature, and writing it back out and parsing that gives the same fields.
#![no_main]

use alipay_pos::ams::signing::{self, SignatureHeader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // http's `HeaderValue::to_str` only hands over visible ASCII; the parser takes any `&str`,
    // so give it everything that is UTF-8.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = signing::url_decode(text);
    let Ok(parsed) = SignatureHeader::parse(text) else {
        return;
    };
    assert_eq!(parsed.algorithm, signing::ALGORITHM);
    assert!(!parsed.signature.is_empty(), "{text:?}");
    let written = parsed.to_string();
    let again = SignatureHeader::parse(&written)
        .unwrap_or_else(|e| panic!("{written:?} (from {text:?}) does not parse back: {e}"));
    assert_eq!(again, parsed, "{written:?} from {text:?}");
    // What goes into logs is never the whole signature. Checked for base64 ones, which every
    // real signature is: other text can spell the redaction's own `(N chars)` tail.
    let base64 = |b: u8| b.is_ascii_alphanumeric() || b"+/=".contains(&b);
    if parsed.signature.len() > 8 && parsed.signature.bytes().all(base64) {
        assert!(!parsed.redacted().contains(&parsed.signature));
    }
});
