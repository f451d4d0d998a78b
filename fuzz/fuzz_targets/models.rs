//! Every AMS wire model: request bodies (what the sandbox reads), response bodies (what the
//! terminal reads after verification) and notification bodies.
//!
//! Byte 0 picks the model; the rest is the JSON. Invariants: a body that parses serializes
//! and parses back to an equal value; `validate()` answers without panicking; for responses
//! the client's `classify_body` only says success for a `result` of `S` and failed for `F`.
#![no_main]

use alipay_pos::ams::client::{Outcome, classify_body};
use alipay_pos::ams::models::*;
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;

fn round_trip<T>(body: &[u8]) -> Option<T>
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    let parsed: T = serde_json::from_slice(body).ok()?;
    let written = serde_json::to_vec(&parsed).expect("a parsed model serializes");
    let again: T = serde_json::from_slice(&written).unwrap_or_else(|e| {
        panic!(
            "{} does not parse back: {e}",
            String::from_utf8_lossy(&written)
        )
    });
    assert_eq!(again, parsed, "{}", String::from_utf8_lossy(&written));
    Some(parsed)
}

fn request<T>(body: &[u8])
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug + Validate,
{
    if let Some(parsed) = round_trip::<T>(body)
        && let Err(e) = parsed.validate()
    {
        assert!(!e.field.is_empty() || !e.problem.is_empty());
    }
}

fn response<T>(body: &[u8])
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug + HasResult,
{
    if let Some(parsed) = round_trip::<T>(body) {
        let _ = parsed.result().is_success();
    }
    let status = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("result")?
                .get("resultStatus")?
                .as_str()
                .map(str::to_owned)
        });
    match classify_body::<T>(body) {
        Outcome::Success(parsed) => {
            assert_eq!(status.as_deref(), Some("S"));
            assert!(parsed.result().is_success());
        }
        Outcome::Failed { .. } => assert_eq!(status.as_deref(), Some("F")),
        Outcome::Unknown(_) => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    match pick % 21 {
        0 => request::<PayRequest>(body),
        1 => response::<PayResponse>(body),
        2 => request::<InquiryPaymentRequest>(body),
        3 => response::<InquiryPaymentResponse>(body),
        4 => request::<CancelRequest>(body),
        5 => response::<CancelResponse>(body),
        6 => request::<RefundRequest>(body),
        7 => response::<RefundResponse>(body),
        8 => request::<InquiryRefundRequest>(body),
        9 => response::<InquiryRefundResponse>(body),
        10 => request::<RegistrationRequest>(body),
        11 => response::<RegistrationResponse>(body),
        12 => request::<InquiryRegistrationStatusRequest>(body),
        13 => response::<InquiryRegistrationStatusResponse>(body),
        14 => request::<InquiryRegistrationInfoRequest>(body),
        15 => response::<InquiryRegistrationInfoResponse>(body),
        16 => request::<NotifyPaymentRequest>(body),
        17 => request::<NotifyRegistrationStatusRequest>(body),
        18 => response::<NotificationAck>(body),
        19 => {
            round_trip::<ResultInfo>(body);
        }
        _ => {
            round_trip::<Amount>(body);
        }
    }
});
