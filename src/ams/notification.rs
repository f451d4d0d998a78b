//! Incoming notifications from Alipay (`notifyPayment`, `notifyRegistrationStatus`).
//!
//! Framework-neutral on purpose: whatever HTTP server receives the POST passes the path,
//! three headers and the raw body here, and sends back the body this module chooses.
//! A correctly signed notification is always acknowledged (even a duplicate), otherwise
//! Alipay keeps resending it; an unverifiable one gets a non-success answer so that a
//! genuine notification mangled in transit is resent.

use serde::de::DeserializeOwned;
use time::OffsetDateTime;

use crate::ams::crypto::PublicKey;
use crate::ams::models::{
    NotificationAck, NotifyPaymentRequest, NotifyRegistrationStatusRequest, Validate,
};
use crate::ams::{signing, skew};

/// What a verified notification is about.
#[derive(Debug, Clone, PartialEq)]
pub enum Notification {
    /// Boxed: a payment notification is several times the size of the other variant.
    Payment(Box<NotifyPaymentRequest>),
    /// With the SHA-256 of the exact body, the key that recognises a resend or a replay.
    Registration {
        body_sha256: String,
        notification: NotifyRegistrationStatusRequest,
    },
}

/// The one check every receiver of Alipay's notifications makes (the terminal's own
/// receiver, the store hub, and a terminal re-checking what the hub relayed): the signature
/// and client id, then the body as a payment's or else a registration's notification, then
/// the `request-time` (looked at only once the signature has vouched for it).
pub fn verify_incoming(
    alipay_key: &PublicKey,
    expected_client_id: &str,
    incoming: IncomingNotification<'_>,
    now: OffsetDateTime,
) -> Result<Notification, NotificationError> {
    // A payment's body first (the common case); a body that verifies but is no payment
    // notification may be a registration's. Either way the signature is checked before the
    // body is read.
    let verified =
        match verify_notification::<NotifyPaymentRequest>(alipay_key, expected_client_id, incoming)
        {
            Ok(payment) => Ok(Notification::Payment(Box::new(payment))),
            Err(NotificationError::InvalidBody(as_payment)) => {
                parse_verified_body::<NotifyRegistrationStatusRequest>(incoming.body)
                    .map(|registration| Notification::Registration {
                        body_sha256: signing::sha256_hex(incoming.body),
                        notification: registration,
                    })
                    .map_err(|_| NotificationError::InvalidBody(as_payment))
            }
            Err(other) => Err(other),
        }?;
    check_time(incoming.request_time.unwrap_or_default(), now)?;
    Ok(verified)
}

/// What the receiving server saw.
#[derive(Debug, Clone, Copy)]
pub struct IncomingNotification<'a> {
    /// The path (and `?query`) of the URL that was POSTed to: Alipay signs over it.
    pub path: &'a str,
    pub client_id: Option<&'a str>,
    pub request_time: Option<&'a str>,
    pub signature: Option<&'a str>,
    pub body: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationError {
    #[error("the notification has no `{0}` header")]
    MissingHeader(&'static str),
    #[error("the notification is for client id `{got}`, not ours (`{expected}`)")]
    WrongClient { expected: String, got: String },
    #[error("the notification's signature does not verify with Alipay's public key: {0}")]
    BadSignature(String),
    #[error("the notification body is not the expected JSON: {0}")]
    InvalidBody(String),
    #[error(
        "the notification was sent at {request_time}, {age_hours} h ago: older than Alipay \
         resends notifications for, so it is a replay and is refused"
    )]
    TooOld {
        request_time: String,
        age_hours: i64,
    },
}

/// Checks a verified notification's `request-time` against the local clock: logs one more
/// than 5 minutes off, and refuses one older than Alipay's resend window
/// ([`skew::MAX_NOTIFICATION_AGE`]), which only a replay can be. An unreadable time is
/// logged and let through: the signature already vouches for the body, and losing a real
/// payment result over a header format would be worse than a harmless duplicate.
pub fn check_time(request_time: &str, now: OffsetDateTime) -> Result<(), NotificationError> {
    match skew::warn_if_skewed("notification", request_time, now) {
        skew::Skew::Fine => Ok(()),
        skew::Skew::Unreadable => {
            tracing::warn!(
                request_time,
                "a notification's request-time is not a time; accepted on its signature"
            );
            Ok(())
        }
        skew::Skew::Off { peer_ahead_secs } => {
            let age = peer_ahead_secs.saturating_neg();
            let max_age = i64::try_from(skew::MAX_NOTIFICATION_AGE.as_secs()).unwrap_or(i64::MAX);
            if age > max_age {
                Err(NotificationError::TooOld {
                    request_time: request_time.to_owned(),
                    age_hours: age / 3600,
                })
            } else {
                Ok(())
            }
        }
    }
}

/// Verifies the signature, then parses and validates the body. Nothing in the body is
/// looked at before the signature has been checked.
pub fn verify_notification<T: DeserializeOwned + Validate>(
    alipay_key: &PublicKey,
    expected_client_id: &str,
    incoming: IncomingNotification<'_>,
) -> Result<T, NotificationError> {
    let client_id = incoming
        .client_id
        .ok_or(NotificationError::MissingHeader("client-id"))?;
    let request_time = incoming
        .request_time
        .ok_or(NotificationError::MissingHeader("request-time"))?;
    let signature = incoming
        .signature
        .ok_or(NotificationError::MissingHeader("signature"))?;
    let content = signing::content_to_sign(incoming.path, client_id, request_time, incoming.body);
    signing::verify_header(alipay_key, &content, signature)
        .map_err(|e| NotificationError::BadSignature(e.to_string()))?;
    if client_id != expected_client_id {
        return Err(NotificationError::WrongClient {
            expected: expected_client_id.to_string(),
            got: client_id.to_string(),
        });
    }
    parse_verified_body(incoming.body)
}

/// The step after verification: parses and validates a body whose signature has been
/// checked. Public so that the property tests and the `notification` fuzz target reach this
/// parser directly, without an RSA signature per input; only call it on verified bytes.
pub fn parse_verified_body<T: DeserializeOwned + Validate>(
    body: &[u8],
) -> Result<T, NotificationError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let parsed: T = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|e| NotificationError::InvalidBody(e.to_string()))?;
    // One JSON document and nothing after it: a signed body with extra bytes is not what
    // Alipay sends (`serde_json::from_slice` checks this; a bare Deserializer does not).
    deserializer
        .end()
        .map_err(|e| NotificationError::InvalidBody(e.to_string()))?;
    parsed
        .validate()
        .map_err(|e| NotificationError::InvalidBody(e.to_string()))?;
    Ok(parsed)
}

/// The fixed body that tells Alipay to stop resending.
pub fn acknowledgement() -> &'static str {
    NotificationAck::success_json()
}

/// The body for a notification we could not accept: a `U`, so that Alipay resends.
pub fn retry_answer() -> &'static str {
    NotificationAck::retry_json()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ams::keys::{parse_private_key, parse_public_key};
    use crate::ams::models::{NotifyPaymentRequest, NotifyRegistrationStatusRequest};
    use std::path::Path;

    const CLIENT_ID: &str = "TEST_5YBX2N2Y3C0K03015";
    const TIME: &str = "2025-01-01T08:00:30+08:00";

    fn vector(name: &str) -> Vec<u8> {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/testvectors")
                .join(name),
        )
        .unwrap()
    }
    fn vector_text(name: &str) -> String {
        String::from_utf8(vector(name)).unwrap().trim().to_string()
    }
    fn alipay_key() -> PublicKey {
        parse_public_key(&vector_text("alipay_public_key.pem"))
            .unwrap()
            .key
    }
    fn header() -> String {
        format!(
            "algorithm=RSA256,keyVersion=1,signature={}",
            vector_text("v3_signature.urlencoded")
        )
    }

    #[test]
    fn a_body_with_bytes_after_its_json_is_refused() {
        let body = vector("v3_notify_body.json");
        assert!(parse_verified_body::<NotifyPaymentRequest>(&body).is_ok());
        let mut extended = body.clone();
        extended.extend_from_slice(b" {}");
        let error = parse_verified_body::<NotifyPaymentRequest>(&extended).unwrap_err();
        assert!(error.to_string().contains("trailing"), "{error}");
        // Whitespace after the document is still fine.
        let mut spaced = body;
        spaced.extend_from_slice(b"\n\t ");
        assert!(parse_verified_body::<NotifyPaymentRequest>(&spaced).is_ok());
    }

    #[test]
    fn the_v3_vector_verifies_and_parses() {
        let body = vector("v3_notify_body.json");
        let header = header();
        let notification: NotifyPaymentRequest = verify_notification(
            &alipay_key(),
            CLIENT_ID,
            IncomingNotification {
                path: "/alipay/notify",
                client_id: Some(CLIENT_ID),
                request_time: Some(TIME),
                signature: Some(&header),
                body: &body,
            },
        )
        .unwrap();
        assert!(notification.is_success());
        assert_eq!(notification.payment_request_id, "pos-20250101-000001");
    }

    #[test]
    fn tampering_wrong_path_and_missing_headers_are_rejected() {
        let body = vector("v3_notify_body.json");
        let tampered = String::from_utf8(body.clone())
            .unwrap()
            .replace("1250", "125");
        let header = header();
        let incoming = IncomingNotification {
            path: "/alipay/notify",
            client_id: Some(CLIENT_ID),
            request_time: Some(TIME),
            signature: Some(&header),
            body: &body,
        };
        let check = |incoming| {
            verify_notification::<NotifyPaymentRequest>(&alipay_key(), CLIENT_ID, incoming)
                .unwrap_err()
        };
        assert!(matches!(
            check(IncomingNotification {
                body: tampered.as_bytes(),
                ..incoming
            }),
            NotificationError::BadSignature(_)
        ));
        assert!(matches!(
            check(IncomingNotification {
                path: "/other",
                ..incoming
            }),
            NotificationError::BadSignature(_)
        ));
        assert_eq!(
            check(IncomingNotification {
                signature: None,
                ..incoming
            }),
            NotificationError::MissingHeader("signature")
        );
        assert_eq!(
            check(IncomingNotification {
                request_time: None,
                ..incoming
            }),
            NotificationError::MissingHeader("request-time")
        );
    }

    #[test]
    fn a_validly_signed_notification_for_another_client_is_rejected() {
        let body = vector("v3_notify_body.json");
        let signer = parse_private_key(&vector_text("alipay_private_key_pkcs8.pem"))
            .unwrap()
            .key;
        let content = signing::content_to_sign("/alipay/notify", "OTHER_CLIENT", TIME, &body);
        let header = signing::sign_header(&signer, "1", &content)
            .unwrap()
            .to_string();
        let error = verify_notification::<NotifyPaymentRequest>(
            &alipay_key(),
            CLIENT_ID,
            IncomingNotification {
                path: "/alipay/notify",
                client_id: Some("OTHER_CLIENT"),
                request_time: Some(TIME),
                signature: Some(&header),
                body: &body,
            },
        )
        .unwrap_err();
        assert!(matches!(error, NotificationError::WrongClient { .. }));
    }

    #[test]
    fn a_signed_body_of_the_wrong_shape_is_invalid() {
        // Correctly signed, but a registration notification is not a payment notification.
        let body = br#"{"registrationRequestId":"r1","referenceMerchantId":"M0001","registrationResult":{"registrationStatus":"COMPLETED"}}"#;
        let signer = parse_private_key(&vector_text("alipay_private_key_pkcs8.pem"))
            .unwrap()
            .key;
        let content = signing::content_to_sign("/n", CLIENT_ID, TIME, body);
        let header = signing::sign_header(&signer, "1", &content)
            .unwrap()
            .to_string();
        let incoming = IncomingNotification {
            path: "/n",
            client_id: Some(CLIENT_ID),
            request_time: Some(TIME),
            signature: Some(&header),
            body,
        };
        let as_payment =
            verify_notification::<NotifyPaymentRequest>(&alipay_key(), CLIENT_ID, incoming);
        assert!(matches!(as_payment, Err(NotificationError::InvalidBody(_))));
        let as_registration = verify_notification::<NotifyRegistrationStatusRequest>(
            &alipay_key(),
            CLIENT_ID,
            incoming,
        )
        .unwrap();
        assert_eq!(as_registration.registration_request_id, "r1");
    }

    #[test]
    fn an_old_notification_is_refused_and_a_skewed_one_only_logged() {
        use time::macros::datetime;
        let sent = datetime!(2025-01-01 00:00:30 UTC);
        // TIME is the vector's `2025-01-01T08:00:30+08:00`, i.e. `sent`.
        assert_eq!(check_time(TIME, sent), Ok(()));
        // Ten minutes late, or a clock ten minutes fast: logged, accepted.
        assert_eq!(check_time(TIME, sent + time::Duration::minutes(10)), Ok(()));
        assert_eq!(check_time(TIME, sent - time::Duration::minutes(10)), Ok(()));
        // Alipay's last resend comes 24 h 22 min after the first attempt.
        assert_eq!(
            check_time(TIME, sent + time::Duration::minutes(24 * 60 + 22)),
            Ok(())
        );
        let error = check_time(TIME, sent + time::Duration::hours(25)).unwrap_err();
        assert_eq!(
            error,
            NotificationError::TooOld {
                request_time: TIME.to_owned(),
                age_hours: 25
            }
        );
        // Far in the future is a wrong clock, not a replay: logged, accepted.
        assert_eq!(check_time(TIME, sent - time::Duration::days(3)), Ok(()));
        // Epoch milliseconds, the current docs' form.
        let millis = (sent.unix_timestamp() * 1000).to_string();
        assert!(check_time(&millis, sent + time::Duration::days(2)).is_err());
        assert_eq!(check_time("not a time", sent), Ok(()));
    }

    #[test]
    fn acknowledgements_are_the_fixed_bodies() {
        assert_eq!(
            acknowledgement(),
            r#"{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"}}"#
        );
        let retry: serde_json::Value = serde_json::from_str(retry_answer()).unwrap();
        assert_eq!(retry["result"]["resultStatus"], "U");
    }
}
