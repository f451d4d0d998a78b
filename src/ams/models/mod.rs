//! Wire models of the AMS in-store APIs and notifications.
//!
//! One set of types serves both ends: the terminal serializes requests and parses
//! responses, the simulator parses requests and serializes responses. Hence every type is
//! `Serialize + Deserialize`, unknown fields are ignored (Alipay adds fields without
//! notice), and fields are declared in the order of the reference examples so that our
//! output looks like Alipay's (the signing test vectors re-serialize byte for byte).
//!
//! Conventions:
//! * Required request fields are plain `String`/struct fields with `#[serde(default)]`: a
//!   missing field parses as empty and [`Validate`] then reports it by JSON path, which is
//!   what the simulator needs for `PARAM_ILLEGAL` and what the client needs in its logs.
//! * Optional fields are `Option` and omitted when `None`. A JSON `null` reads as `None`
//!   and is therefore not written back.
//! * `Datetime` fields stay `String`s so they round-trip exactly (Alipay's offsets and any
//!   fractional seconds are preserved); use [`crate::ams::timefmt`] to read or write them.
//! * Amount values are integers in minor units, read from a string or a number, always
//!   written as a string ([`Amount`]).
//! * Enums carry an `Unrecognized(String)` variant rather than failing to parse: a reply is
//!   still readable when Alipay adds a value, the value is kept verbatim for logs and
//!   round trips, and no helper treats it as success or as final (e.g.
//!   [`PaymentStatus::is_final`]). In requests [`Validate`] refuses unrecognized values.
//!   The exception is [`ResultStatus`]: an unknown S/F/U value fails to parse, so callers
//!   match three cases and a body with an unreadable `result` is handled as `U`.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Declares a string-valued wire enum with a lossless catch-all (see the module doc).
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(from = "String", into = "String")]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value outside the documented set, kept verbatim. Build values with
            /// `From<&str>`, which maps documented spellings to their variants.
            Unrecognized(String),
        }

        impl $name {
            /// The exact wire spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $wire, )+
                    Self::Unrecognized(s) => s,
                }
            }

            /// Whether the value is one the reference documents.
            pub fn is_recognized(&self) -> bool {
                !matches!(self, Self::Unrecognized(_))
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                let known = match s.as_str() {
                    $( $wire => Some(Self::$variant), )+
                    _ => None,
                };
                match known {
                    Some(v) => v,
                    None => Self::Unrecognized(s),
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self::from(s.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                match v {
                    $name::Unrecognized(s) => s,
                    other => other.as_str().to_owned(),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

mod common;
mod notify;
mod payment;
mod refund;
mod registration;
pub mod validate;

pub use common::*;
pub use notify::*;
pub use payment::*;
pub use refund::*;
pub use registration::*;
pub use validate::{Validate, ValidationError};

/// Every API the terminal calls. `ENDPOINT` is the path after the `/ams/api` (or
/// `/ams/sandbox/api`) prefix, because that prefix is configuration (see the README's
/// sandbox note) while the rest of the path is fixed per API.
pub trait AmsRequest: Serialize + DeserializeOwned + Validate {
    const API: Api;
    type Response: Serialize + DeserializeOwned + HasResult;
}

/// Bodies that carry the `result` object deciding S/F/U.
pub trait HasResult {
    fn result(&self) -> &ResultInfo;
}

/// The merchant-to-Alipay APIs, for routing (simulator) and logging (client).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    Pay,
    InquiryPayment,
    Cancel,
    Refund,
    InquiryRefund,
    Registration,
    InquiryRegistrationStatus,
    InquiryRegistrationInfo,
}

impl Api {
    pub const ALL: [Api; 8] = [
        Api::Pay,
        Api::InquiryPayment,
        Api::Cancel,
        Api::Refund,
        Api::InquiryRefund,
        Api::Registration,
        Api::InquiryRegistrationStatus,
        Api::InquiryRegistrationInfo,
    ];

    /// Path after the `/ams/api` prefix, e.g. `/v1/payments/pay`.
    pub fn endpoint(self) -> &'static str {
        match self {
            Api::Pay => "/v1/payments/pay",
            Api::InquiryPayment => "/v1/payments/inquiryPayment",
            Api::Cancel => "/v1/payments/cancel",
            Api::Refund => "/v1/payments/refund",
            Api::InquiryRefund => "/v1/payments/inquiryRefund",
            Api::Registration => "/v1/merchants/registration",
            Api::InquiryRegistrationStatus => "/v1/merchants/inquiryRegistrationStatus",
            Api::InquiryRegistrationInfo => "/v1/merchants/inquiryRegistrationInfo",
        }
    }

    /// Inverse of [`Api::endpoint`]; exact, case-sensitive match, as the gateway's paths are.
    pub fn from_endpoint(endpoint: &str) -> Option<Api> {
        Api::ALL.into_iter().find(|api| api.endpoint() == endpoint)
    }

    /// The API's name as the docs write it, e.g. `inquiryPayment`.
    pub fn name(self) -> &'static str {
        match self {
            Api::Pay => "pay",
            Api::InquiryPayment => "inquiryPayment",
            Api::Cancel => "cancel",
            Api::Refund => "refund",
            Api::InquiryRefund => "inquiryRefund",
            Api::Registration => "registration",
            Api::InquiryRegistrationStatus => "inquiryRegistrationStatus",
            Api::InquiryRegistrationInfo => "inquiryRegistrationInfo",
        }
    }
}

impl std::fmt::Display for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

macro_rules! ams_request {
    ($($req:ty => $api:ident, $resp:ty;)+) => {
        $(
            impl AmsRequest for $req {
                const API: Api = Api::$api;
                type Response = $resp;
            }
        )+
    };
}

ams_request! {
    PayRequest => Pay, PayResponse;
    InquiryPaymentRequest => InquiryPayment, InquiryPaymentResponse;
    CancelRequest => Cancel, CancelResponse;
    RefundRequest => Refund, RefundResponse;
    InquiryRefundRequest => InquiryRefund, InquiryRefundResponse;
    RegistrationRequest => Registration, RegistrationResponse;
    InquiryRegistrationStatusRequest => InquiryRegistrationStatus, InquiryRegistrationStatusResponse;
    InquiryRegistrationInfoRequest => InquiryRegistrationInfo, InquiryRegistrationInfoResponse;
}

macro_rules! has_result {
    ($($t:ty),+ $(,)?) => {
        $(
            impl HasResult for $t {
                fn result(&self) -> &ResultInfo {
                    &self.result
                }
            }
        )+
    };
}

has_result!(
    PayResponse,
    InquiryPaymentResponse,
    CancelResponse,
    RefundResponse,
    InquiryRefundResponse,
    RegistrationResponse,
    InquiryRegistrationStatusResponse,
    InquiryRegistrationInfoResponse,
    NotificationAck,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_match_the_reference_paths() {
        let paths: Vec<String> = Api::ALL
            .iter()
            .map(|a| format!("/ams/api{}", a.endpoint()))
            .collect();
        assert_eq!(
            paths,
            [
                "/ams/api/v1/payments/pay",
                "/ams/api/v1/payments/inquiryPayment",
                "/ams/api/v1/payments/cancel",
                "/ams/api/v1/payments/refund",
                "/ams/api/v1/payments/inquiryRefund",
                "/ams/api/v1/merchants/registration",
                "/ams/api/v1/merchants/inquiryRegistrationStatus",
                "/ams/api/v1/merchants/inquiryRegistrationInfo",
            ]
        );
    }

    #[test]
    fn endpoint_and_name_are_consistent() {
        for api in Api::ALL {
            assert_eq!(Api::from_endpoint(api.endpoint()), Some(api));
            assert!(
                api.endpoint().ends_with(&format!("/{}", api.name())),
                "{api}"
            );
        }
        assert_eq!(Api::from_endpoint("/v1/payments/Pay"), None);
        assert_eq!(Api::from_endpoint("/ams/api/v1/payments/pay"), None);
        assert_eq!(Api::from_endpoint(""), None);
    }

    #[test]
    fn request_types_are_bound_to_their_api() {
        fn api_of<R: AmsRequest>() -> Api {
            R::API
        }
        assert_eq!(api_of::<PayRequest>(), Api::Pay);
        assert_eq!(api_of::<InquiryPaymentRequest>(), Api::InquiryPayment);
        assert_eq!(api_of::<CancelRequest>(), Api::Cancel);
        assert_eq!(api_of::<RefundRequest>(), Api::Refund);
        assert_eq!(api_of::<InquiryRefundRequest>(), Api::InquiryRefund);
        assert_eq!(api_of::<RegistrationRequest>(), Api::Registration);
        assert_eq!(
            api_of::<InquiryRegistrationStatusRequest>(),
            Api::InquiryRegistrationStatus
        );
        assert_eq!(
            api_of::<InquiryRegistrationInfoRequest>(),
            Api::InquiryRegistrationInfo
        );
    }

    /// Parses `text` as `T`, re-serializes, and compares as JSON values.
    fn value_round_trip<T: Serialize + DeserializeOwned>(name: &str, text: &str) -> T {
        let parsed: T = serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected: serde_json::Value = serde_json::from_str(text).unwrap();
        let actual = serde_json::to_value(&parsed).unwrap();
        assert_eq!(actual, expected, "{name} did not round-trip");
        parsed
    }

    fn exact_round_trip<T: Serialize + DeserializeOwned>(name: &str, text: &str) -> T {
        let text = text.trim_end();
        let parsed: T = serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(serde_json::to_string(&parsed).unwrap(), text, "{name}");
        parsed
    }

    macro_rules! fixture {
        ($name:literal) => {
            (
                $name,
                include_str!(concat!("../../../tests/fixtures/models/", $name)),
            )
        };
    }

    #[test]
    fn signing_vectors_round_trip_byte_for_byte() {
        let pay: PayRequest = exact_round_trip(
            "v1",
            include_str!("../../../tests/fixtures/testvectors/v1_request_body.json"),
        );
        assert_eq!(pay.scenario(), Some(&InStorePaymentScenario::OrderCode));
        assert_eq!(pay.order.order_description, "Café au lait x2");
        assert_eq!(pay.payment_amount, Amount::new("USD", 1250));

        let resp: PayResponse = exact_round_trip(
            "v2",
            include_str!("../../../tests/fixtures/testvectors/v2_response_body.json"),
        );
        assert!(resp.result().is_success());
        let form = resp.order_code_form.as_ref().unwrap();
        assert_eq!(
            form.text_code_value(),
            Some("https://qr.example.invalid/oc/EXAMPLE0000000000001")
        );

        let notify: NotifyPaymentRequest = exact_round_trip(
            "v3",
            include_str!("../../../tests/fixtures/testvectors/v3_notify_body.json"),
        );
        assert!(notify.is_success());
        assert_eq!(notify.notify_type, NotifyType::PaymentResult);
    }

    #[test]
    fn reference_examples_round_trip() {
        let (n, t) = fixture!("inquiry_payment_response_success.json");
        let r: InquiryPaymentResponse = value_round_trip(n, t);
        assert_eq!(r.payment_status, Some(PaymentStatus::Success));
        let psp = r.psp_customer_info.as_ref().unwrap();
        assert_eq!(psp.psp_name.as_deref(), Some("ALIPAYCN"));
        let quote = r.payment_quote.as_ref().unwrap();
        assert_eq!(
            quote.guaranteed.as_ref().and_then(Scalar::as_bool),
            Some(false)
        );
        assert!(
            quote
                .quote_price
                .as_ref()
                .and_then(Scalar::as_f64)
                .is_some()
        );

        let (n, t) = fixture!("inquiry_payment_response_processing.json");
        let r: InquiryPaymentResponse = value_round_trip(n, t);
        assert_eq!(r.payment_status, Some(PaymentStatus::Processing));

        let (n, t) = fixture!("inquiry_payment_request.json");
        let _: InquiryPaymentRequest = value_round_trip(n, t);

        let (n, t) = fixture!("cancel_request.json");
        let _: CancelRequest = value_round_trip(n, t);
        let (n, t) = fixture!("cancel_response.json");
        let r: CancelResponse = value_round_trip(n, t);
        assert!(r.cancel_time.is_some());

        let (n, t) = fixture!("refund_request.json");
        let r: RefundRequest = value_round_trip(n, t);
        r.validate().unwrap();
        let (n, t) = fixture!("refund_response.json");
        let r: RefundResponse = value_round_trip(n, t);
        assert_eq!(r.refund_amount, Some(Amount::new("USD", 500)));

        let (n, t) = fixture!("inquiry_refund_request.json");
        let _: InquiryRefundRequest = value_round_trip(n, t);
        let (n, t) = fixture!("inquiry_refund_response.json");
        let r: InquiryRefundResponse = value_round_trip(n, t);
        assert_eq!(r.refund_status, Some(RefundStatus::Success));

        let (n, t) = fixture!("registration_request.json");
        let r: RegistrationRequest = value_round_trip(n, t);
        r.validate().unwrap();
        assert!(t.contains("\"registrationNotifyURL\""));
        let (n, t) = fixture!("registration_response.json");
        let _: RegistrationResponse = value_round_trip(n, t);

        let (n, t) = fixture!("inquiry_registration_status_request.json");
        let r: InquiryRegistrationStatusRequest = value_round_trip(n, t);
        r.validate().unwrap();
        let (n, t) = fixture!("inquiry_registration_status_response.json");
        let r: InquiryRegistrationStatusResponse = value_round_trip(n, t);
        assert_eq!(
            r.registration_result.and_then(|x| x.registration_status),
            Some(RegistrationStatus::Completed)
        );

        let (n, t) = fixture!("inquiry_registration_info_request.json");
        let r: InquiryRegistrationInfoRequest = value_round_trip(n, t);
        r.validate().unwrap();
        let (n, t) = fixture!("inquiry_registration_info_response.json");
        let _: InquiryRegistrationInfoResponse = value_round_trip(n, t);

        let (n, t) = fixture!("notify_registration_status.json");
        let r: NotifyRegistrationStatusRequest = value_round_trip(n, t);
        let psp = r.psp_registration_result_list.as_ref().unwrap();
        assert_eq!(psp[0].psp_name.as_deref(), Some("AlipayCN"));
        assert_eq!(
            psp[0]
                .registration_result
                .as_ref()
                .unwrap()
                .registration_status,
            Some(RegistrationStatus::Approved)
        );

        let (n, t) = fixture!("notify_payment_user_presented.json");
        let r: NotifyPaymentRequest = value_round_trip(n, t);
        r.validate().unwrap();

        let (n, t) = fixture!("pay_request_user_presented.json");
        let r: PayRequest = value_round_trip(n, t);
        assert_eq!(r.scenario(), Some(&InStorePaymentScenario::PaymentCode));
        let (n, t) = fixture!("pay_response_user_presented.json");
        let r: PayResponse = value_round_trip(n, t);
        assert!(r.payment_time.is_some());
        assert!(r.actual_payment_amount.is_some());

        let (n, t) = fixture!("pay_request_entry_code.json");
        let r: PayRequest = value_round_trip(n, t);
        assert_eq!(r.scenario(), Some(&InStorePaymentScenario::EntryCode));
        let (n, t) = fixture!("pay_response_entry_code.json");
        let r: PayResponse = value_round_trip(n, t);
        let form = r.redirect_action_form.as_ref().unwrap();
        assert_eq!(form.method.as_deref(), Some("SCAN"));
        assert!(
            form.redirect_url
                .as_deref()
                .unwrap()
                .starts_with("alipays://")
        );

        let (n, t) = fixture!("pay_response_order_code_images.json");
        let r: PayResponse = value_round_trip(n, t);
        let form = r.order_code_form.unwrap();
        assert_eq!(form.code_details.len(), 3);
        assert_eq!(
            form.text_code_value(),
            Some("https://qr.alipay.com/bavh4wjlxf12tper3b")
        );

        let (n, t) = fixture!("result_unknown.json");
        let r: PayResponse = value_round_trip(n, t);
        assert_eq!(r.result.result_status, ResultStatus::U);
        assert!(!r.result.is_success());
        assert!(r.result.is_unknown());
        let (n, t) = fixture!("result_failed.json");
        let r: RefundResponse = value_round_trip(n, t);
        assert!(r.result.is_failure());
        assert_eq!(r.result.result_code, "REFUND_AMOUNT_EXCEED");
    }

    #[test]
    fn unknown_fields_are_tolerated() {
        let text = r#"{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success.","traceId":"x"},
            "paymentStatus":"SUCCESS","paymentId":"1","someNewField":{"a":[1,2]},"paymentAmount":{"currency":"USD","value":"1","extra":true}}"#;
        let r: InquiryPaymentResponse = serde_json::from_str(text).unwrap();
        assert_eq!(r.payment_status, Some(PaymentStatus::Success));
        let out = serde_json::to_string(&r).unwrap();
        assert!(!out.contains("someNewField"), "{out}");

        let text = include_str!("../../../tests/fixtures/testvectors/v1_request_body.json")
            .replacen('{', r#"{"isAuthorization":"false","#, 1);
        let r: PayRequest = serde_json::from_str(&text).unwrap();
        r.validate().unwrap();
    }

    #[test]
    fn unrecognized_enum_values_are_kept_and_never_success() {
        let text =
            r#"{"result":{"resultCode":"SUCCESS","resultStatus":"S"},"paymentStatus":"PAID"}"#;
        let r: InquiryPaymentResponse = serde_json::from_str(text).unwrap();
        assert_eq!(
            r.payment_status,
            Some(PaymentStatus::Unrecognized("PAID".into()))
        );
        assert!(!r.payment_status.as_ref().unwrap().is_final());
        assert_eq!(serde_json::to_string(&r).unwrap(), text);

        let r: InquiryRefundResponse = serde_json::from_str(
            r#"{"result":{"resultCode":"SUCCESS","resultStatus":"S"},"refundStatus":"DONE"}"#,
        )
        .unwrap();
        assert_eq!(
            r.refund_status,
            Some(RefundStatus::Unrecognized("DONE".into()))
        );
        assert!(!r.refund_status.unwrap().is_final());
    }

    #[test]
    fn unrecognized_result_status_fails_to_parse() {
        for status in ["s", "SUCCESS", "", "X"] {
            let text = format!(r#"{{"resultCode":"SUCCESS","resultStatus":"{status}"}}"#);
            let err = serde_json::from_str::<ResultInfo>(&text).expect_err(&text);
            assert!(err.to_string().contains("unknown variant"), "{err}");
        }
        let text = r#"{"result":{"resultCode":"SUCCESS","resultStatus":true}}"#;
        assert!(serde_json::from_str::<PayResponse>(text).is_err());
    }

    #[test]
    fn missing_result_is_a_parse_error() {
        // The client maps a parse failure to U, which is what the README asks for when
        // `result` is missing.
        assert!(serde_json::from_str::<PayResponse>(r#"{"paymentId":"1"}"#).is_err());
        assert!(
            serde_json::from_str::<PayResponse>(r#"{"result":{"resultCode":"SUCCESS"}}"#).is_err()
        );
    }

    #[test]
    fn result_info_helpers() {
        assert_eq!(
            serde_json::to_string(&ResultInfo::success()).unwrap(),
            r#"{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success."}"#
        );
        let f = ResultInfo::failed("ORDER_NOT_EXIST", "order not exist.");
        assert_eq!(f.result_status, ResultStatus::F);
        assert!(f.is_failure());
        let u = ResultInfo::unknown("UNKNOWN_EXCEPTION", "retry");
        assert_eq!(u.result_code, "UNKNOWN_EXCEPTION");
        assert!(u.is_unknown());
        assert_eq!(serde_json::to_string(&ResultStatus::U).unwrap(), r#""U""#);
        assert_eq!(ResultStatus::S.to_string(), "S");
    }

    #[test]
    fn notification_ack_texts() {
        assert_eq!(
            NotificationAck::success_json(),
            r#"{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"}}"#
        );
        assert_eq!(
            serde_json::to_string(&NotificationAck::success()).unwrap(),
            NotificationAck::success_json()
        );
        let parsed: NotificationAck =
            serde_json::from_str(NotificationAck::success_json()).unwrap();
        assert!(parsed.is_acknowledged());
        assert!(parsed.result().is_success());

        let resend = NotificationAck::please_resend("signature verification failed");
        assert_eq!(
            serde_json::to_string(&resend).unwrap(),
            r#"{"result":{"resultCode":"UNKNOWN_EXCEPTION","resultStatus":"U","resultMessage":"signature verification failed"}}"#
        );
        assert!(!resend.is_acknowledged());
        let parsed: NotificationAck = serde_json::from_str(NotificationAck::retry_json()).unwrap();
        assert!(!parsed.is_acknowledged());
        assert_eq!(parsed, NotificationAck::please_resend("UNKNOWN_EXCEPTION"));
    }

    #[test]
    fn pay_constructors_select_the_scenario() {
        let order = || {
            let v1: PayRequest = serde_json::from_str(include_str!(
                "../../../tests/fixtures/testvectors/v1_request_body.json"
            ))
            .unwrap();
            v1.order
        };
        let amount = Amount::new("USD", 1250);

        let mut oc = PayRequest::order_code(
            "pos-20250101-000001",
            order(),
            amount.clone(),
            "https://pos.example.com/alipay/notify",
        );
        oc.payment_expiry_time = Some("2025-01-01T08:05:00+08:00".into());
        assert_eq!(
            serde_json::to_string(&oc).unwrap(),
            include_str!("../../../tests/fixtures/testvectors/v1_request_body.json").trim_end()
        );
        oc.validate().unwrap();

        let mut ec_order = order();
        ec_order.env = Some(Env {
            user_agent: Some("Mozilla/5.0 AlipayClient/10.5.0".into()),
            ..Env::default()
        });
        let ec = PayRequest::entry_code("pos-ec-1", ec_order, amount.clone());
        assert_eq!(ec.scenario(), Some(&InStorePaymentScenario::EntryCode));
        assert_eq!(ec.payment_method.payment_method_id, None);
        ec.validate().unwrap();

        let upm =
            PayRequest::user_presented("pos-upm-1", order(), amount, "281006020000000000123456");
        assert_eq!(upm.scenario(), Some(&InStorePaymentScenario::PaymentCode));
        assert_eq!(
            upm.payment_method.payment_method_id.as_deref(),
            Some("281006020000000000123456")
        );
        upm.validate().unwrap();
    }
}
