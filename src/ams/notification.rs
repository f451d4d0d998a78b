//! Incoming notifications from Alipay (`notifyPayment`, `notifyRegistrationStatus`).
//!
//! Framework-neutral on purpose: whatever HTTP server receives the POST passes the path,
//! three headers and the raw body here, and sends back the body this module chooses.
//! A correctly signed notification is always acknowledged (even a duplicate), otherwise
//! Alipay keeps resending it; an unverifiable one gets a non-success answer so that a
//! genuine notification mangled in transit is resent.

use rsa::PublicKey;
use serde::de::DeserializeOwned;

use crate::ams::models::{NotificationAck, Validate};
use crate::ams::signing;

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
    let mut deserializer = serde_json::Deserializer::from_slice(incoming.body);
    let parsed: T = serde_path_to_error::deserialize(&mut deserializer)
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
