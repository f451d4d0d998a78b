//! The sandbox gateway's reading of an incoming request: route, `request-time`, `signature`
//! header, `Content-Type` and the body as the routed API's request, through
//! `alipay_pos::sandbox::parse_request` (everything the gateway parses except the RSA check
//! and the business rules, which need its state).
//!
//! Input: the first line is the request target, then `name: value` header lines, then an
//! empty line and the body. Header lines that HTTP could not carry are dropped, as hyper
//! would refuse them. Invariant: a refusal is a JSON body whose `result` is an `F`.
#![no_main]

use alipay_pos::ams::models::{ResultInfo, ResultStatus};
use alipay_pos::sandbox::parse_request;
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(at) => (&data[..at], &data[at + 2..]),
        None => (data, &[][..]),
    };
    let mut lines = head.split(|&b| b == b'\n');
    let Some(path) = lines.next().and_then(|p| std::str::from_utf8(p).ok()) else {
        return;
    };
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let value = line[colon + 1..].trim_ascii_start();
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(value),
        ) {
            headers.append(name, value);
        }
    }
    if let Err(answer) = parse_request(path, &headers, body) {
        #[derive(serde::Deserialize)]
        struct Body {
            result: ResultInfo,
        }
        let parsed: Body = serde_json::from_slice(&answer).unwrap_or_else(|e| {
            panic!(
                "refusal is not JSON ({e}): {}",
                String::from_utf8_lossy(&answer)
            )
        });
        assert_eq!(parsed.result.result_status, ResultStatus::F);
        assert!(!parsed.result.result_code.is_empty());
    }
});
