//! What a business rule hands back to the gateway, and the shared pieces every API uses.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::ledger::{self, LedgerError};
use super::options::Rules;
use super::registrations;
use crate::ams::models::{Amount, ResultInfo, Validate};
use crate::money::Currency;

/// A magic-amount effect that applies after the request was processed and committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum After {
    /// Send the answer.
    Send,
    /// Send a signed `U` `UNKNOWN_EXCEPTION` instead of the answer.
    Unknown,
    /// Hold the connection until the hang time, then break it without an answer.
    Hang,
}

/// One API answer: the exact body bytes (the stored body for idempotent replays), what to do
/// before sending it, and whether the notifier has new work.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub body: Vec<u8>,
    pub after: After,
    pub wake_notifier: bool,
}

impl Answer {
    pub fn new(body: Vec<u8>) -> Self {
        Answer {
            body,
            after: After::Send,
            wake_notifier: false,
        }
    }

    pub fn of<T: Serialize>(response: &T) -> Self {
        Self::new(to_json(response))
    }

    pub fn result(result: ResultInfo) -> Self {
        Self::new(result_only(result))
    }

    pub fn fail(code: &str, message: impl Into<String>) -> Self {
        Self::result(ResultInfo::failed(code, clip(message.into())))
    }

    pub fn unknown(code: &str, message: impl Into<String>) -> Self {
        Self::result(ResultInfo::unknown(code, clip(message.into())))
    }

    pub fn param_illegal(message: impl Into<String>) -> Self {
        Self::fail("PARAM_ILLEGAL", message)
    }

    pub fn then(mut self, after: After) -> Self {
        self.after = after;
        self
    }

    pub fn waking(mut self, wake: bool) -> Self {
        self.wake_notifier |= wake;
        self
    }

    /// The body as text, for storing it. Bodies are always built from `serde_json`, so they
    /// are UTF-8; a lossy conversion would only ever show up as a replay mismatch in tests.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `resultMessage` is at most 256 characters.
fn clip(message: String) -> String {
    if message.chars().count() <= 256 {
        message
    } else {
        message.chars().take(255).chain(['…']).collect()
    }
}

#[derive(Serialize)]
struct ResultOnly {
    result: ResultInfo,
}

/// A body carrying only `result`: what Alipay answers for every failure and `U`.
pub(crate) fn result_only(result: ResultInfo) -> Vec<u8> {
    to_json(&ResultOnly { result })
}

/// The same answer, naming other ids: every echoed `paymentRequestId`, `paymentId`,
/// `refundRequestId` and `refundId` gets a suffix (the `echo_other_ids` fault). A body that
/// is not a JSON object is returned as it is.
pub(crate) fn with_other_ids(body: Vec<u8>) -> Vec<u8> {
    let Ok(serde_json::Value::Object(mut object)) = serde_json::from_slice(&body) else {
        return body;
    };
    for field in [
        "paymentRequestId",
        "paymentId",
        "refundRequestId",
        "refundId",
    ] {
        if let Some(serde_json::Value::String(id)) = object.get_mut(field) {
            id.push_str("-OTHER");
        }
    }
    to_json(&object)
}

/// Serialises an answer. The wire types cannot fail to serialise; if one ever did, the client
/// gets a `U` (never an empty `S`), which is the safe direction.
pub(crate) fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_else(|e| {
        tracing::error!(error = %e, "sandbox could not serialise an answer");
        br#"{"result":{"resultCode":"UNKNOWN_EXCEPTION","resultStatus":"U","resultMessage":"The sandbox could not encode its answer."}}"#.to_vec()
    })
}

/// Everything a business rule needs to know about the request besides its body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub client_id: &'a str,
    pub now_ms: i64,
    pub rules: &'a Rules,
    /// Base of wallet URLs, without a trailing slash.
    pub public_base: &'a str,
}

/// Parses a request body and validates it, turning any problem into the `PARAM_ILLEGAL` answer
/// whose message names the field by its JSON path.
pub(crate) fn parse<T: DeserializeOwned + Validate>(body: &[u8]) -> Result<T, Answer> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        // Syntax errors have no meaningful path (`?`), root-level data errors have `.`; both
        // are about the body as a whole.
        let path = e.path().to_string();
        let is_data = e.inner().classify() == serde_json::error::Category::Data;
        let place = if is_data && path != "." && path != "?" {
            path
        } else {
            "body".to_owned()
        };
        Answer::param_illegal(format!("{place}: {}", e.inner()))
    })?;
    de.end()
        .map_err(|e| Answer::param_illegal(format!("body: {e}")))?;
    parsed
        .validate()
        .map_err(|e| Answer::param_illegal(format!("{}: {}", e.field, e.problem)))?;
    Ok(parsed)
}

/// The shape check in `validate()` accepts any three capitals; Alipay wants a real ISO 4217
/// currency.
pub(crate) fn known_currency(path: &str, amount: &Amount) -> Result<(), Answer> {
    Currency::from_code(&amount.currency)
        .map(|_| ())
        .map_err(|e| Answer::param_illegal(format!("{path}.currency: {e}")))
}

/// Applies every transition that is due by `now_ms` (expiries, registration approvals). Called
/// at the start of every access and by the periodic sweep, so no answer depends on whether a
/// sweep happened to run. Returns whether notifications were queued.
pub(crate) fn advance(tx: &rusqlite::Transaction<'_>, now_ms: i64) -> Result<bool, LedgerError> {
    ledger::close_expired(tx, now_ms)?;
    Ok(registrations::complete_due(tx, now_ms)? > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ams::models::RefundRequest;

    fn message(a: &Answer) -> String {
        let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(v["result"]["resultCode"], "PARAM_ILLEGAL");
        assert_eq!(v["result"]["resultStatus"], "F");
        v["result"]["resultMessage"].as_str().unwrap().to_owned()
    }

    #[test]
    fn parse_errors_name_the_field() {
        let a = parse::<RefundRequest>(br#"{"refundRequestId":"r1","paymentId":"p","refundAmount":{"currency":"USD","value":"1.5"}}"#).unwrap_err();
        assert!(
            message(&a).starts_with("refundAmount.value: "),
            "{}",
            message(&a)
        );
        let a = parse::<RefundRequest>(br#"{"refundRequestId":"r1","paymentId":"p","refundAmount":{"currency":"USD","value":"0"}}"#).unwrap_err();
        assert_eq!(
            message(&a),
            "refundAmount.value: must be a positive integer"
        );
        let a = parse::<RefundRequest>(b"\"x\"").unwrap_err();
        assert!(message(&a).starts_with("body: "), "{}", message(&a));
        let a = parse::<RefundRequest>(br#"{"refundRequestId":"r1"} x"#).unwrap_err();
        assert!(message(&a).starts_with("body: "), "{}", message(&a));
        let a = parse::<RefundRequest>(b"{not json").unwrap_err();
        assert!(message(&a).starts_with("body: "), "{}", message(&a));
    }

    #[test]
    fn unknown_currency_is_param_illegal_and_long_messages_are_clipped() {
        let a = known_currency("refundAmount", &Amount::new("XYZ", 1)).unwrap_err();
        assert!(message(&a).starts_with("refundAmount.currency: unknown currency"));
        let long = Answer::fail("X", "x".repeat(400));
        let v: serde_json::Value = serde_json::from_slice(&long.body).unwrap();
        assert_eq!(
            v["result"]["resultMessage"]
                .as_str()
                .unwrap()
                .chars()
                .count(),
            256
        );
    }
}
