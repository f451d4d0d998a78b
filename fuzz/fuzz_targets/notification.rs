//! Notifications, the one place Alipay calls the terminal: the parse-and-validate step that
//! runs after the signature has verified, and the verification itself with headers and
//! signature taken from the input.
//!
//! Byte 0 picks: even bytes parse the rest as a verified `notifyPayment` or
//! `notifyRegistrationStatus` body; odd bytes split the rest into path, client-id,
//! request-time, signature and body at `\n` and run the whole `verify_notification` with the
//! test vectors' Alipay key: whatever is not signed by that key is refused before the body
//! is read, and what is (the signed test vector in the seeds) is judged by its body alone.
#![no_main]

use std::sync::LazyLock;

use alipay_pos::ams::keys::{LoadedPublicKey, parse_public_key};
use alipay_pos::ams::models::{NotifyPaymentRequest, NotifyRegistrationStatusRequest, Validate};
use alipay_pos::ams::notification::{
    IncomingNotification, NotificationError, parse_verified_body, verify_notification,
};
use libfuzzer_sys::fuzz_target;

static ALIPAY_KEY: LazyLock<LoadedPublicKey> = LazyLock::new(|| {
    parse_public_key(include_str!(
        "../../tests/fixtures/testvectors/alipay_public_key.pem"
    ))
    .expect("the test vector key parses")
});
const CLIENT_ID: &str = "TEST_5YBX2N2Y3C0K03015";

fn check<T>(body: &[u8])
where
    T: serde::de::DeserializeOwned + serde::Serialize + Validate + PartialEq + std::fmt::Debug,
{
    match parse_verified_body::<T>(body) {
        Ok(parsed) => {
            assert!(parsed.validate().is_ok());
            let written = serde_json::to_vec(&parsed).expect("a parsed notification serializes");
            let again: T = parse_verified_body(&written).unwrap_or_else(|e| {
                panic!(
                    "{} does not parse back: {e}",
                    String::from_utf8_lossy(&written)
                )
            });
            assert_eq!(again, parsed);
        }
        Err(NotificationError::InvalidBody(message)) => assert!(!message.is_empty()),
        Err(other) => panic!("parsing a body gave {other:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    if pick % 2 == 0 {
        if pick % 4 == 0 {
            check::<NotifyPaymentRequest>(rest);
        } else {
            check::<NotifyRegistrationStatusRequest>(rest);
        }
        return;
    }
    let mut parts = rest.splitn(5, |&b| b == b'\n');
    let mut text = || parts.next().and_then(|p| std::str::from_utf8(p).ok());
    let (path, client_id, request_time, signature) = (text(), text(), text(), text());
    let body = rest.splitn(5, |&b| b == b'\n').nth(4).unwrap_or_default();
    let incoming = IncomingNotification {
        path: path.unwrap_or("/alipay/notify"),
        client_id,
        request_time,
        signature,
        body,
    };
    let outcome = verify_notification::<NotifyPaymentRequest>(&ALIPAY_KEY.key, CLIENT_ID, incoming);
    match outcome {
        // Nothing was read before the headers and the signature were checked.
        Err(NotificationError::MissingHeader(_) | NotificationError::BadSignature(_)) => {}
        Err(NotificationError::WrongClient { .. }) => assert_ne!(client_id, Some(CLIENT_ID)),
        // Verified (the seed corpus holds the signed test vector): judged by the body alone.
        verified => assert_eq!(verified, parse_verified_body::<NotifyPaymentRequest>(body)),
    }
});
