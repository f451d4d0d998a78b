//! Property tests for every parser that reads outside input (issue 9 §9): the `signature`
//! header, `Money::parse`, every AMS wire model (responses, requests, notifications), the
//! config file and the sandbox gateway's reading of a request.
//!
//! Each parser gets "arbitrary input never panics and gives Ok or a clean Err", plus round
//! trips and the rejections its spec asks for. The same parsers are fuzzed for millions of
//! inputs by the targets in `fuzz/` (README "Fuzzing"); these run in every `cargo test` with
//! proptest's default 256 cases, in a few seconds.

use std::path::PathBuf;

use alipay_pos::ams::client::{Outcome, classify_body};
use alipay_pos::ams::models::*;
use alipay_pos::ams::notification::{
    IncomingNotification, NotificationError, parse_verified_body, verify_notification,
};
use alipay_pos::ams::signing::{self, SignatureError, SignatureHeader};
use alipay_pos::config::{Config, ConfigErrorKind};
use alipay_pos::money::{Currency, MAX_MINOR, Money, MoneyError};
use alipay_pos::sandbox::parse_request;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

// ---------------------------------------------------------------------------------------------
// Strategies

/// Any JSON value, nested a few levels, with keys from the models' vocabulary so that objects
/// often hit real fields.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e20f64..1e20).prop_map(Value::from),
        json_key().prop_map(Value::String),
        any::<String>().prop_map(Value::String),
        "[0-9]{1,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((json_key(), inner), 0..8)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// Field names and enum spellings from the reference, and some that are not.
fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "result",
            "resultCode",
            "resultStatus",
            "resultMessage",
            "S",
            "F",
            "U",
            "SUCCESS",
            "paymentRequestId",
            "paymentId",
            "paymentAmount",
            "currency",
            "value",
            "USD",
            "JPY",
            "order",
            "orderAmount",
            "merchant",
            "referenceMerchantId",
            "paymentStatus",
            "refundRequestId",
            "refundAmount",
            "refundStatus",
            "notifyType",
            "PAYMENT_RESULT",
            "paymentQuote",
            "quotePrice",
            "guaranteed",
            "orderCodeForm",
            "codeDetails",
            "registrationResult",
            "registrationStatus",
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z]{1,12}",
    ]
}

/// A path into a JSON value: at each level, which child (modulo the number of children).
fn json_path() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(any::<usize>(), 0..6)
}

/// Follows `path` as far as it goes and returns the value reached.
fn walk<'a>(mut value: &'a mut Value, path: &[usize]) -> &'a mut Value {
    for &step in path {
        let len = match &*value {
            Value::Object(map) if !map.is_empty() => map.len(),
            Value::Array(items) if !items.is_empty() => items.len(),
            _ => break,
        };
        value = match value {
            Value::Object(map) => map.values_mut().nth(step % len).expect("in range"),
            Value::Array(items) => &mut items[step % len],
            _ => unreachable!(),
        };
    }
    value
}

/// Follows `path` and returns the deepest object on the way (the root object if none).
fn walk_to_object<'a>(value: &'a mut Value, path: &[usize]) -> Option<&'a mut Map<String, Value>> {
    let mut depth = path.len();
    loop {
        // Re-walk each time: the borrow checker cannot hand out the object and keep walking.
        if walk(value, &path[..depth]).is_object() {
            return walk(value, &path[..depth]).as_object_mut();
        }
        if depth == 0 {
            return None;
        }
        depth -= 1;
    }
}

// ---------------------------------------------------------------------------------------------
// Fixtures

fn model_fixture(name: &str) -> Vec<u8> {
    std::fs::read(crate::support::fixture_path(&format!("models/{name}"))).unwrap()
}

/// Every reference example, by the model it is an example of.
#[derive(Debug, Clone, Copy)]
enum Model {
    PayRequest,
    PayResponse,
    InquiryPaymentRequest,
    InquiryPaymentResponse,
    CancelRequest,
    CancelResponse,
    RefundRequest,
    RefundResponse,
    InquiryRefundRequest,
    InquiryRefundResponse,
    RegistrationRequest,
    RegistrationResponse,
    InquiryRegistrationStatusRequest,
    InquiryRegistrationStatusResponse,
    InquiryRegistrationInfoRequest,
    InquiryRegistrationInfoResponse,
    NotifyPaymentRequest,
    NotifyRegistrationStatusRequest,
    NotificationAck,
}

const ALL_MODELS: [Model; 19] = [
    Model::PayRequest,
    Model::PayResponse,
    Model::InquiryPaymentRequest,
    Model::InquiryPaymentResponse,
    Model::CancelRequest,
    Model::CancelResponse,
    Model::RefundRequest,
    Model::RefundResponse,
    Model::InquiryRefundRequest,
    Model::InquiryRefundResponse,
    Model::RegistrationRequest,
    Model::RegistrationResponse,
    Model::InquiryRegistrationStatusRequest,
    Model::InquiryRegistrationStatusResponse,
    Model::InquiryRegistrationInfoRequest,
    Model::InquiryRegistrationInfoResponse,
    Model::NotifyPaymentRequest,
    Model::NotifyRegistrationStatusRequest,
    Model::NotificationAck,
];

/// (model, example body) for every fixture, the signing vectors and the fixed ack texts.
fn examples() -> Vec<(Model, Vec<u8>)> {
    use Model::*;
    let mut out = vec![
        (
            PayRequest,
            crate::support::vector_bytes("v1_request_body.json"),
        ),
        (
            PayResponse,
            crate::support::vector_bytes("v2_response_body.json"),
        ),
        (
            NotifyPaymentRequest,
            crate::support::vector_bytes("v3_notify_body.json"),
        ),
        (
            NotificationAck,
            alipay_pos::ams::models::NotificationAck::success_json().into(),
        ),
        (
            NotificationAck,
            alipay_pos::ams::models::NotificationAck::retry_json().into(),
        ),
    ];
    for (model, name) in [
        (PayRequest, "pay_request_entry_code.json"),
        (PayRequest, "pay_request_user_presented.json"),
        (PayResponse, "pay_response_entry_code.json"),
        (PayResponse, "pay_response_order_code_images.json"),
        (PayResponse, "pay_response_user_presented.json"),
        (PayResponse, "result_unknown.json"),
        (InquiryPaymentRequest, "inquiry_payment_request.json"),
        (
            InquiryPaymentResponse,
            "inquiry_payment_response_processing.json",
        ),
        (
            InquiryPaymentResponse,
            "inquiry_payment_response_success.json",
        ),
        (CancelRequest, "cancel_request.json"),
        (CancelResponse, "cancel_response.json"),
        (RefundRequest, "refund_request.json"),
        (RefundResponse, "refund_response.json"),
        (RefundResponse, "result_failed.json"),
        (InquiryRefundRequest, "inquiry_refund_request.json"),
        (InquiryRefundResponse, "inquiry_refund_response.json"),
        (RegistrationRequest, "registration_request.json"),
        (RegistrationResponse, "registration_response.json"),
        (
            InquiryRegistrationStatusRequest,
            "inquiry_registration_status_request.json",
        ),
        (
            InquiryRegistrationStatusResponse,
            "inquiry_registration_status_response.json",
        ),
        (
            InquiryRegistrationInfoRequest,
            "inquiry_registration_info_request.json",
        ),
        (
            InquiryRegistrationInfoResponse,
            "inquiry_registration_info_response.json",
        ),
        (NotifyPaymentRequest, "notify_payment_user_presented.json"),
        (
            NotifyRegistrationStatusRequest,
            "notify_registration_status.json",
        ),
    ] {
        out.push((model, model_fixture(name)));
    }
    out
}

fn example() -> impl Strategy<Value = (Model, Vec<u8>)> {
    prop::sample::select(examples())
}

/// What parsing a body as a model gave, reduced to something comparable across models: the
/// parsed value as JSON (`None` for a parse error). The round trip is checked on the way.
fn parse_as(model: Model, body: &[u8]) -> Option<Value> {
    fn go<T>(body: &[u8]) -> Option<Value>
    where
        T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
    {
        let parsed: T = serde_json::from_slice(body).ok()?;
        let written = serde_json::to_vec(&parsed).unwrap();
        let again: T = serde_json::from_slice(&written).unwrap_or_else(|e| {
            panic!(
                "{} does not parse back: {e}",
                String::from_utf8_lossy(&written)
            )
        });
        assert_eq!(again, parsed, "{}", String::from_utf8_lossy(&written));
        Some(serde_json::to_value(&parsed).unwrap())
    }
    use Model as M;
    match model {
        M::PayRequest => go::<PayRequest>(body),
        M::PayResponse => go::<PayResponse>(body),
        M::InquiryPaymentRequest => go::<InquiryPaymentRequest>(body),
        M::InquiryPaymentResponse => go::<InquiryPaymentResponse>(body),
        M::CancelRequest => go::<CancelRequest>(body),
        M::CancelResponse => go::<CancelResponse>(body),
        M::RefundRequest => go::<RefundRequest>(body),
        M::RefundResponse => go::<RefundResponse>(body),
        M::InquiryRefundRequest => go::<InquiryRefundRequest>(body),
        M::InquiryRefundResponse => go::<InquiryRefundResponse>(body),
        M::RegistrationRequest => go::<RegistrationRequest>(body),
        M::RegistrationResponse => go::<RegistrationResponse>(body),
        M::InquiryRegistrationStatusRequest => go::<InquiryRegistrationStatusRequest>(body),
        M::InquiryRegistrationStatusResponse => go::<InquiryRegistrationStatusResponse>(body),
        M::InquiryRegistrationInfoRequest => go::<InquiryRegistrationInfoRequest>(body),
        M::InquiryRegistrationInfoResponse => go::<InquiryRegistrationInfoResponse>(body),
        M::NotifyPaymentRequest => go::<NotifyPaymentRequest>(body),
        M::NotifyRegistrationStatusRequest => go::<NotifyRegistrationStatusRequest>(body),
        M::NotificationAck => go::<NotificationAck>(body),
    }
}

/// The verified client's reading of a response body: its class, and for `S` the parsed value.
fn classify_as(model: Model, body: &[u8]) -> Option<(&'static str, Option<Value>)> {
    fn go<T: DeserializeOwned + Serialize>(body: &[u8]) -> (&'static str, Option<Value>) {
        match classify_body::<T>(body) {
            Outcome::Success(parsed) => ("S", Some(serde_json::to_value(&parsed).unwrap())),
            Outcome::Failed { code, .. } => {
                assert!(code.as_str().len() <= body.len());
                ("F", None)
            }
            Outcome::Unknown(_) => ("U", None),
        }
    }
    use Model as M;
    Some(match model {
        M::PayResponse => go::<PayResponse>(body),
        M::InquiryPaymentResponse => go::<InquiryPaymentResponse>(body),
        M::CancelResponse => go::<CancelResponse>(body),
        M::RefundResponse => go::<RefundResponse>(body),
        M::InquiryRefundResponse => go::<InquiryRefundResponse>(body),
        M::RegistrationResponse => go::<RegistrationResponse>(body),
        M::InquiryRegistrationStatusResponse => go::<InquiryRegistrationStatusResponse>(body),
        M::InquiryRegistrationInfoResponse => go::<InquiryRegistrationInfoResponse>(body),
        M::NotificationAck => go::<NotificationAck>(body),
        _ => return None,
    })
}

/// The request API a model is the body of, if it is a request.
fn api_of(model: Model) -> Option<Api> {
    Some(match model {
        Model::PayRequest => Api::Pay,
        Model::InquiryPaymentRequest => Api::InquiryPayment,
        Model::CancelRequest => Api::Cancel,
        Model::RefundRequest => Api::Refund,
        Model::InquiryRefundRequest => Api::InquiryRefund,
        Model::RegistrationRequest => Api::Registration,
        Model::InquiryRegistrationStatusRequest => Api::InquiryRegistrationStatus,
        Model::InquiryRegistrationInfoRequest => Api::InquiryRegistrationInfo,
        _ => return None,
    })
}

fn status_of(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    Some(
        value
            .get("result")?
            .get("resultStatus")?
            .as_str()?
            .to_owned(),
    )
}

// ---------------------------------------------------------------------------------------------
// The signature header

/// A base64 signature of any length an RSA key could make (and some it could not).
fn base64_signature() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<u8>(), 1..300).prop_map(|bytes| BASE64.encode(bytes))
}

proptest! {
    #[test]
    fn signature_header_parse_is_total_and_stable(text in any::<String>()) {
        if let Ok(parsed) = SignatureHeader::parse(&text) {
            prop_assert_eq!(&parsed.algorithm, signing::ALGORITHM);
            prop_assert!(!parsed.signature.is_empty());
            let again = SignatureHeader::parse(&parsed.to_string());
            prop_assert_eq!(again, Ok(parsed));
        }
    }

    #[test]
    fn signature_header_of_structured_noise_is_total_and_stable(
        fields in prop::collection::vec(
            (
                prop::sample::select(vec!["algorithm", "keyVersion", "signature", " signature", "x", ""]),
                prop::sample::select(vec!["=", " = ", "", "=="]),
                "[ -~]{0,24}",
            ),
            0..5,
        ),
    ) {
        let text = fields
            .iter()
            .map(|(name, eq, value)| format!("{name}{eq}{value}"))
            .collect::<Vec<_>>()
            .join(",");
        if let Ok(parsed) = SignatureHeader::parse(&text) {
            prop_assert_eq!(SignatureHeader::parse(&parsed.to_string()), Ok(parsed));
        }
    }

    /// What `sign_header` builds is what the receiving side reads, in any field order and with
    /// spaces around the fields.
    #[test]
    fn built_signature_header_parses_back_to_the_same_fields(
        signature in base64_signature(),
        key_version in "[0-9A-Za-z._-]{1,8}",
        order in Just([0usize, 1, 2]).prop_shuffle(),
        pad in prop::sample::select(vec!["", " ", "  "]),
    ) {
        let header = SignatureHeader::new(signature.clone(), &key_version);
        prop_assert_eq!(SignatureHeader::parse(&header.to_string()), Ok(header.clone()));

        let fields = [
            format!("algorithm={}", signing::ALGORITHM),
            format!("keyVersion={key_version}"),
            format!("signature={}", signing::url_encode(&signature)),
        ];
        let shuffled = order
            .iter()
            .map(|&i| format!("{pad}{}{pad}", fields[i]))
            .collect::<Vec<_>>()
            .join(",");
        prop_assert_eq!(SignatureHeader::parse(&shuffled), Ok(header));
    }

    #[test]
    fn url_encoding_round_trips(text in any::<String>()) {
        let encoded = signing::url_encode(&text);
        prop_assert!(!encoded.contains(','));
        prop_assert_eq!(signing::url_decode(&encoded), Ok(text));
    }

    /// AMS defines one algorithm; anything else is refused by name, never tried.
    #[test]
    fn other_algorithms_are_refused(
        algorithm in "[A-Za-z0-9]{0,10}".prop_filter("not RSA256", |a| a != "RSA256"),
        signature in base64_signature(),
    ) {
        let text = format!("algorithm={algorithm},keyVersion=1,signature={signature}");
        prop_assert_eq!(
            SignatureHeader::parse(&text),
            Err(SignatureError::UnsupportedAlgorithm(algorithm))
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Money::parse

fn currency() -> impl Strategy<Value = Currency> {
    prop::sample::select(Currency::all().collect::<Vec<_>>())
}

fn is_invalid_format(text: &str, currency: Currency) -> bool {
    matches!(
        Money::parse(text, currency),
        Err(MoneyError::InvalidFormat { .. })
    )
}

proptest! {
    #[test]
    fn money_parse_is_total_and_in_range(text in any::<String>(), currency in currency()) {
        if let Ok(money) = Money::parse(&text, currency) {
            prop_assert!(money.minor() > 0 && money.minor() <= MAX_MINOR);
            prop_assert!(text.trim().bytes().all(|b| b.is_ascii_digit() || b == b'.'), "{:?}", text);
        }
    }

    #[test]
    fn money_parse_of_numberish_text_is_total_and_in_range(
        text in "[ +\\-]?[0-9]{0,20}([.,][0-9]{0,5})?[ ]?",
        currency in currency(),
    ) {
        match Money::parse(&text, currency) {
            Ok(money) => {
                prop_assert!(money.minor() > 0 && money.minor() <= MAX_MINOR);
                prop_assert_eq!(Money::parse(&money.major_string(), currency), Ok(money));
            }
            Err(error) => prop_assert!(!error.to_string().is_empty()),
        }
    }

    /// Formatted then parsed is the same value, for every currency and so every exponent
    /// (0, 2 and 3 are in the table).
    #[test]
    fn money_formatted_then_parsed_is_the_same(
        minor in prop_oneof![1..=MAX_MINOR, 1u64..1000, (MAX_MINOR - 1000)..=MAX_MINOR],
        currency in currency(),
    ) {
        let money = Money::from_minor(minor, currency).unwrap();
        prop_assert_eq!(Money::parse(&money.major_string(), currency), Ok(money));
        prop_assert_eq!(Money::parse(&format!("  {}\t", money.major_string()), currency), Ok(money));
        let wire = Amount::new(currency.code(), money.minor());
        let back: Amount = serde_json::from_str(&serde_json::to_string(&wire).unwrap()).unwrap();
        prop_assert_eq!(back.value, minor);
    }

    /// The spec's refusals: signs, separators, a point without digits on both sides, more
    /// decimals than the currency has, zero and anything past sixteen nines of minor units.
    #[test]
    fn money_parse_rejects_what_the_spec_rejects(
        whole in "[0-9]{1,6}",
        fraction in "[0-9]{1,4}",
        currency in currency(),
    ) {
        let exponent = usize::from(currency.exponent());
        let valid = if exponent == 0 { whole.clone() } else { format!("{whole}.{}", &fraction[..fraction.len().min(exponent)]) };
        let is_zero = valid.bytes().all(|b| b == b'0' || b == b'.');
        prop_assert_eq!(Money::parse(&format!("-{valid}"), currency), Err(MoneyError::Negative));
        for text in [
            format!("+{valid}"),
            format!("{whole},{fraction}"),
            format!(".{fraction}"),
            format!("{whole}."),
            format!("{whole}.{fraction}.1"),
            format!("{whole} {fraction}"),
        ] {
            prop_assert!(is_invalid_format(&text, currency), "{:?}", text);
        }
        let too_many = format!("{whole}.{}", "1".repeat(exponent + 1));
        prop_assert_eq!(
            Money::parse(&too_many, currency),
            Err(MoneyError::TooManyDecimals { currency, given: exponent + 1 })
        );
        if is_zero {
            prop_assert_eq!(Money::parse(&valid, currency), Err(MoneyError::Zero));
        } else {
            prop_assert!(Money::parse(&valid, currency).is_ok());
        }
    }

    #[test]
    fn money_over_the_limit_is_too_large(excess in 1u64..=u64::MAX - MAX_MINOR, currency in currency()) {
        let minor = MAX_MINOR + excess;
        let scale = 10u64.pow(u32::from(currency.exponent()));
        let text = if scale == 1 {
            minor.to_string()
        } else {
            format!("{}.{:0width$}", minor / scale, minor % scale, width = usize::from(currency.exponent()))
        };
        prop_assert_eq!(Money::parse(&text, currency), Err(MoneyError::TooLarge { currency }));
        prop_assert_eq!(Money::parse(&format!("{text}99999"), currency).ok(), None);
    }
}

// ---------------------------------------------------------------------------------------------
// Wire models

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_any_model(body in prop::collection::vec(any::<u8>(), 0..200)) {
        for model in ALL_MODELS {
            let _ = parse_as(model, &body);
            let _ = classify_as(model, &body);
        }
    }

    /// Any JSON a peer could send is parsed or refused by every model; what parses
    /// serializes and parses back to an equal value (checked inside `parse_as`), and the
    /// client's classification follows `result.resultStatus`.
    #[test]
    fn arbitrary_json_round_trips_or_is_refused(value in json_value()) {
        let body = serde_json::to_vec(&value).unwrap();
        let status = status_of(&body);
        for model in ALL_MODELS {
            let parsed = parse_as(model, &body);
            if let Some((class, success)) = classify_as(model, &body) {
                match class {
                    "S" => {
                        prop_assert_eq!(status.as_deref(), Some("S"));
                        prop_assert_eq!(success, parsed);
                    }
                    "F" => prop_assert_eq!(status.as_deref(), Some("F")),
                    _ => prop_assert!(status.as_deref() != Some("S") || parsed.is_none()),
                }
            }
        }
    }

    /// Alipay adds fields without notice: an unknown field anywhere in a reference example
    /// changes nothing that was parsed.
    #[test]
    fn unknown_extra_fields_are_tolerated(
        (model, body) in example(),
        path in json_path(),
        name in "x[A-Za-z]{1,10}",
        extra in json_value(),
    ) {
        let original = parse_as(model, &body).expect("the example parses");
        let mut value: Value = serde_json::from_slice(&body).unwrap();
        if let Some(object) = walk_to_object(&mut value, &path) {
            object.insert(name, extra);
        }
        let with_extra = serde_json::to_vec(&value).unwrap();
        prop_assert_eq!(parse_as(model, &with_extra), Some(original));
    }

    /// A reference example with one value replaced by anything: parsed and round-tripped, or
    /// refused, never a panic, and `validate()` always answers.
    #[test]
    fn mutated_examples_round_trip_or_are_refused(
        (model, body) in example(),
        path in json_path(),
        replacement in json_value(),
    ) {
        let mut value: Value = serde_json::from_slice(&body).unwrap();
        *walk(&mut value, &path) = replacement;
        let mutated = serde_json::to_vec(&value).unwrap();
        let _ = parse_as(model, &mutated);
        let _ = classify_as(model, &mutated);
        if let Some(api) = api_of(model) {
            let _ = parse_request(&format!("/ams/api{}", api.endpoint()), &gateway_headers(), &mutated);
        }
    }

    /// `value` is read from a string or a number and always written as a string.
    #[test]
    fn amount_round_trips_from_string_or_number(currency in "[A-Z]{3}", value in any::<u64>()) {
        let as_string = format!(r#"{{"currency":"{currency}","value":"{value}"}}"#);
        let as_number = format!(r#"{{"currency":"{currency}","value":{value}}}"#);
        let expected = Amount::new(currency, value);
        prop_assert_eq!(serde_json::from_str::<Amount>(&as_string).unwrap(), expected.clone());
        prop_assert_eq!(serde_json::from_str::<Amount>(&as_number).unwrap(), expected.clone());
        prop_assert_eq!(serde_json::to_string(&expected).unwrap(), as_string);
    }

    /// Any result code, documented or not, round-trips through `ResultCode` unchanged: as
    /// text, as JSON inside `result`, and through the journal's stored text. A documented
    /// spelling always lands on its variant, anything else on `Unrecognized`.
    #[test]
    fn any_result_code_round_trips_through_result_code(
        text in prop_oneof![
            any::<String>(),
            "[A-Z_]{1,40}",
            Just("ORDER_NOT_EXIST".to_string()),
            Just("SUCCESS".to_string()),
            Just("PAYMENT_IN_PROCESS".to_string()),
        ],
    ) {
        let code = ResultCode::from(text.as_str());
        prop_assert_eq!(code.as_str(), text.as_str());
        prop_assert_eq!(code.to_string(), text.clone());
        prop_assert_eq!(String::from(code.clone()), text.clone());
        prop_assert_eq!(code.is_recognized(), !matches!(code, ResultCode::Unrecognized(_)));
        let json = serde_json::to_string(&code).unwrap();
        prop_assert_eq!(&json, &serde_json::to_string(&text).unwrap());
        prop_assert_eq!(serde_json::from_str::<ResultCode>(&json).unwrap(), code.clone());

        let result = ResultInfo::failed(code.clone(), "m");
        let body = serde_json::to_value(&result).unwrap();
        prop_assert_eq!(&body["resultCode"], &Value::String(text.clone()));
        prop_assert_eq!(serde_json::from_value::<ResultInfo>(body).unwrap().result_code, code);
    }

    /// Every documented code is a variant: parsing its own spelling gives it back.
    #[test]
    fn documented_result_codes_are_recognized(
        code in prop::sample::select(vec![
            ResultCode::Success, ResultCode::OrderNotExist, ResultCode::PaymentInProcess,
            ResultCode::AccessDenied, ResultCode::ParamIllegal, ResultCode::RepeatReqInconsistent,
            ResultCode::OrderIsClosed, ResultCode::UserBalanceNotEnough, ResultCode::ExpiredCode,
            ResultCode::InvalidPaymentCode, ResultCode::RefundWindowExceed,
            ResultCode::UnknownException,
        ]),
    ) {
        prop_assert!(code.is_recognized());
        prop_assert_eq!(ResultCode::from(code.as_str()), code);
    }

    /// A malformed amount is a parse error, never read as some other amount.
    #[test]
    fn malformed_amount_values_are_refused(
        text in "[0-9]{0,3}[.,\\- a-z][0-9]{0,3}|-[0-9]{1,5}|[1-9][0-9]{20,24}",
    ) {
        let body = format!(r#"{{"currency":"USD","value":"{text}"}}"#);
        prop_assert!(serde_json::from_str::<Amount>(&body).is_err(), "{}", body);
    }

    /// Only an exact S, F or U is a result status.
    #[test]
    fn result_status_other_than_s_f_u_is_refused(status in any::<String>()) {
        let body = serde_json::json!({"result": {"resultCode": "SUCCESS", "resultStatus": status}});
        let parsed = serde_json::from_value::<ResultInfo>(body["result"].clone());
        prop_assert_eq!(parsed.is_ok(), ["S", "F", "U"].contains(&status.as_str()));
        let outcome = classify_body::<PayResponse>(&serde_json::to_vec(&body).unwrap());
        if !["S", "F"].contains(&status.as_str()) {
            prop_assert!(matches!(outcome, Outcome::Unknown(_)));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Notifications: the parse-and-validate step after verification, and verification itself

const CLIENT_ID: &str = "TEST_5YBX2N2Y3C0K03015";
const TIME: &str = "2025-01-01T08:00:30+08:00";

fn notify_example() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(vec![
        crate::support::vector_bytes("v3_notify_body.json"),
        model_fixture("notify_payment_user_presented.json"),
    ])
}

proptest! {
    #[test]
    fn notification_body_parse_is_total(body in prop::collection::vec(any::<u8>(), 0..200)) {
        match parse_verified_body::<NotifyPaymentRequest>(&body) {
            Ok(parsed) => prop_assert!(parsed.validate().is_ok()),
            Err(error) => prop_assert!(matches!(error, NotificationError::InvalidBody(_))),
        }
        let _ = parse_verified_body::<NotifyRegistrationStatusRequest>(&body);
    }

    /// A correctly signed notification, whatever its body, is judged on its body alone: the
    /// verified path gives exactly what the parse step gives.
    #[test]
    fn signed_notifications_are_judged_by_the_parse_step(
        body in notify_example(),
        path in json_path(),
        replacement in json_value(),
    ) {
        let mut value: Value = serde_json::from_slice(&body).unwrap();
        *walk(&mut value, &path) = replacement;
        let body = serde_json::to_vec(&value).unwrap();
        let content = signing::content_to_sign("/alipay/notify", CLIENT_ID, TIME, &body);
        let header = signing::sign_header(&crate::support::alipay_private_key(), "1", &content)
            .unwrap()
            .to_string();
        let verified = verify_notification::<NotifyPaymentRequest>(
            &crate::support::alipay_public_key(),
            CLIENT_ID,
            IncomingNotification {
                path: "/alipay/notify",
                client_id: Some(CLIENT_ID),
                request_time: Some(TIME),
                signature: Some(&header),
                body: &body,
            },
        );
        prop_assert_eq!(verified, parse_verified_body::<NotifyPaymentRequest>(&body));
    }

    /// Without Alipay's signature nothing in the body is looked at.
    #[test]
    fn unsigned_or_forged_notifications_are_refused(
        body in notify_example(),
        signature in prop::option::of(prop_oneof![any::<String>(), base64_signature().prop_map(|s| format!("algorithm=RSA256,signature={}", signing::url_encode(&s)))]),
        request_time in prop::option::of(any::<String>()),
    ) {
        let result = verify_notification::<NotifyPaymentRequest>(
            &crate::support::alipay_public_key(),
            CLIENT_ID,
            IncomingNotification {
                path: "/alipay/notify",
                client_id: Some(CLIENT_ID),
                request_time: request_time.as_deref(),
                signature: signature.as_deref(),
                body: &body,
            },
        );
        prop_assert!(
            matches!(result, Err(NotificationError::MissingHeader(_) | NotificationError::BadSignature(_))),
            "{:?}",
            result
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The config file

/// Writes `text` to a fresh config file and loads it as `--config` would.
fn load_config(
    text: &[u8],
) -> (
    tempfile::TempDir,
    Result<Config, alipay_pos::config::ConfigError>,
) {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("config.toml");
    std::fs::write(&path, text).unwrap();
    let loaded = Config::load(&path);
    (dir, loaded)
}

fn example_config() -> String {
    std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("packaging/config.example.toml"),
    )
    .unwrap()
}

proptest! {
    #[test]
    fn config_load_of_any_text_is_total(text in prop::collection::vec(any::<u8>(), 0..300)) {
        let (_dir, loaded) = load_config(&text);
        if let Err(error) = loaded {
            prop_assert!(!error.problem().is_empty());
        }
    }

    /// The example config with lines dropped, doubled or edited still loads or is refused
    /// with a message, never a panic.
    #[test]
    fn config_load_of_mutated_example_is_total(
        edits in prop::collection::vec((any::<usize>(), 0u8..4, "[ -~]{0,12}"), 1..6),
    ) {
        let mut lines: Vec<String> = example_config().lines().map(str::to_owned).collect();
        for (at, how, text) in edits {
            let at = at % lines.len();
            match how {
                0 => { lines.remove(at); }
                1 => { let line = lines[at].clone(); lines.insert(at, line); }
                2 => lines[at].push_str(&text),
                _ => lines.insert(at, text),
            }
        }
        let (_dir, loaded) = load_config(lines.join("\n").as_bytes());
        if let Err(error) = loaded {
            prop_assert!(!error.problem().is_empty());
        }
    }

    /// Catalog prices are exact in the payment currency; the loaded config holds the amount
    /// the file wrote, whatever the exponent.
    #[test]
    fn config_catalog_prices_load_exactly(
        currency in currency(),
        minors in prop::collection::vec(1u64..=MAX_MINOR, 1..4),
        name in "[A-Za-z][A-Za-z ]{0,15}",
    ) {
        let mut text = format!("[payment]\ncurrency = \"{}\"\n", currency.code().to_lowercase());
        for minor in &minors {
            let price = Money::from_minor(*minor, currency).unwrap().major_string();
            text.push_str(&format!("\n[[catalog]]\nname = \"{name}\"\nprice = \"{price}\"\n"));
        }
        let (_dir, loaded) = load_config(text.as_bytes());
        let config = loaded.unwrap();
        prop_assert_eq!(config.payment.currency, currency);
        let prices: Vec<u64> = config.catalog.iter().map(|item| item.price.minor()).collect();
        prop_assert_eq!(prices, minors);
    }

    /// Unknown keys are refused, naming the key, in every table.
    #[test]
    fn config_unknown_keys_are_refused_by_name(
        table in prop::sample::select(vec!["alipay", "merchant", "store", "payment", "storage", "admin", "sandbox"]),
        key in "zz[a-z_]{1,10}",
    ) {
        let text = format!("[{table}]\n{key} = 1\n");
        let (_dir, loaded) = load_config(text.as_bytes());
        let error = loaded.unwrap_err();
        prop_assert_eq!(error.kind(), ConfigErrorKind::Parse);
        let expected = format!("{table}.{key}");
        prop_assert_eq!(error.key(), Some(expected.as_str()));
    }

    /// A TOML float price is refused: it cannot hold most prices exactly.
    #[test]
    fn config_float_prices_are_refused(whole in 0u32..10_000, fraction in 1u32..100) {
        let text = format!("[[catalog]]\nname = \"Tea\"\nprice = {whole}.{fraction:02}\n");
        let (_dir, loaded) = load_config(text.as_bytes());
        let error = loaded.unwrap_err();
        prop_assert_eq!(error.kind(), ConfigErrorKind::Invalid);
        prop_assert_eq!(error.key(), Some("catalog[0].price"));
    }
}

// ---------------------------------------------------------------------------------------------
// The sandbox gateway's reading of a request

fn gateway_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("client-id", HeaderValue::from_static(CLIENT_ID));
    headers.insert("request-time", HeaderValue::from_static("1735689600000"));
    headers.insert(
        "signature",
        HeaderValue::from_static("algorithm=RSA256,keyVersion=1,signature=AAAA"),
    );
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    headers
}

fn request_example() -> impl Strategy<Value = (Model, Vec<u8>)> {
    prop::sample::select(
        examples()
            .into_iter()
            .filter(|(model, _)| api_of(*model).is_some())
            .collect::<Vec<_>>(),
    )
}

/// The code of a refusal body, which must be a JSON `F`.
fn refusal_code(body: &[u8]) -> String {
    let value: Value = serde_json::from_slice(body).expect("a refusal is JSON");
    assert_eq!(value["result"]["resultStatus"], "F", "{value}");
    value["result"]["resultCode"].as_str().unwrap().to_owned()
}

proptest! {
    #[test]
    fn gateway_parse_of_anything_is_total_and_refuses_with_an_f(
        path in prop_oneof![
            any::<String>(),
            prop::sample::select(Api::ALL.to_vec()).prop_map(|api| format!("/ams/api{}", api.endpoint())),
        ],
        headers in prop::collection::vec(
            (
                prop::sample::select(vec!["client-id", "request-time", "signature", "content-type", "x-other"]),
                prop::collection::vec(any::<u8>(), 0..40),
            ),
            0..6,
        ),
        body in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            if let Ok(value) = HeaderValue::from_bytes(&value) {
                map.append(HeaderName::from_static(name), value);
            }
        }
        if let Err(refusal) = parse_request(&path, &map, &body) {
            prop_assert!(!refusal_code(&refusal).is_empty());
        }
    }

    /// Every reference request reaches its API through the gateway's parsers, under either
    /// prefix, with a query string, and with unknown fields added anywhere.
    #[test]
    fn gateway_accepts_reference_requests_with_extra_fields(
        (model, body) in request_example(),
        prefix in prop::sample::select(vec!["/ams/api", "/ams/sandbox/api"]),
        query in prop::option::of("[a-z]{1,5}=[0-9]{1,3}"),
        path in json_path(),
        name in "x[A-Za-z]{1,10}",
        extra in json_value(),
    ) {
        let api = api_of(model).unwrap();
        let mut target = format!("{prefix}{}", api.endpoint());
        if let Some(query) = query {
            target = format!("{target}?{query}");
        }
        let mut value: Value = serde_json::from_slice(&body).unwrap();
        if let Some(object) = walk_to_object(&mut value, &path) {
            object.insert(name, extra);
        }
        let body = serde_json::to_vec(&value).unwrap();
        prop_assert_eq!(parse_request(&target, &gateway_headers(), &body), Ok(api));
    }

    /// The gateway's refusals, in its order of checks: path, request-time, signature header,
    /// content type, body.
    #[test]
    fn gateway_refusals_follow_the_order_of_checks(
        (model, body) in request_example(),
        bad_path in "/[a-z/]{0,20}",
        bad_time in "[a-z]{1,10}",
        bad_type in "(text|application)/[a-z]{1,8}".prop_filter("not json", |t| t != "application/json"),
        garbage in "[a-z{}\\[\\]\"]{1,20}",
    ) {
        let api = api_of(model).unwrap();
        let target = format!("/ams/api{}", api.endpoint());
        prop_assert_eq!(refusal_code(&parse_request(&bad_path, &gateway_headers(), &body).unwrap_err()), "NO_INTERFACE_DEF");

        let mut headers = gateway_headers();
        headers.insert("request-time", HeaderValue::from_str(&bad_time).unwrap());
        prop_assert_eq!(refusal_code(&parse_request(&target, &headers, &body).unwrap_err()), "PARAM_ILLEGAL");

        let mut headers = gateway_headers();
        headers.remove("signature");
        prop_assert_eq!(refusal_code(&parse_request(&target, &headers, &body).unwrap_err()), "INVALID_SIGNATURE");

        let mut headers = gateway_headers();
        headers.insert("content-type", HeaderValue::from_str(&bad_type).unwrap());
        prop_assert_eq!(refusal_code(&parse_request(&target, &headers, &body).unwrap_err()), "MEDIA_TYPE_NOT_ACCEPTABLE");

        prop_assert_eq!(refusal_code(&parse_request(&target, &gateway_headers(), garbage.as_bytes()).unwrap_err()), "PARAM_ILLEGAL");
    }
}
