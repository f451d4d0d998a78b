//! Field-level checks of request and notification bodies.
//!
//! The same checks run on both sides: the client validates before signing (so a
//! `PARAM_ILLEGAL` is caught locally, with a precise field path, instead of costing a round
//! trip), and the simulator validates what it receives to decide `PARAM_ILLEGAL`. Only rules
//! the reference states are enforced; where it gives no maximum length, none is imposed.
//!
//! Lengths are counted in Unicode scalar values (`char`s), not bytes: the reference gives
//! lengths in "characters", and a byte count would reject legitimate non-ASCII descriptions
//! such as `Café au lait` early. (Java's `String.length()` counts UTF-16 units, which
//! differs only for characters outside the Basic Multilingual Plane, e.g. emoji.)

use super::common::{Address, Amount, Env};
use crate::ams::timefmt;

/// Why a body would be refused with `PARAM_ILLEGAL`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {problem}")]
pub struct ValidationError {
    /// Dotted JSON path of the offending field, e.g. `order.merchant.referenceMerchantId`;
    /// array elements are written `order.goods[3].goodsName`.
    pub field: String,
    pub problem: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// A body that can say whether Alipay would accept its shape.
pub trait Validate {
    /// The first problem found, in field declaration order.
    fn validate(&self) -> Result<(), ValidationError>;
}

/// Result alias for the check helpers.
pub type Checked = Result<(), ValidationError>;

/// Joins a parent path and a child name; an empty parent means the body's top level.
pub fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_owned()
    } else {
        format!("{parent}.{child}")
    }
}

/// `value` must be non-empty (required fields are deserialized as `""` when absent, so
/// that the error names the field instead of failing the whole parse).
pub fn required(path: &str, value: &str) -> Checked {
    if value.is_empty() {
        Err(ValidationError::new(path, "is required"))
    } else {
        Ok(())
    }
}

/// At most `max` characters (see the module doc for what a character is).
pub fn max_len(path: &str, value: &str, max: usize) -> Checked {
    if value.chars().count() > max {
        Err(ValidationError::new(
            path,
            format!("must be at most {max} characters"),
        ))
    } else {
        Ok(())
    }
}

/// Required and at most `max` characters.
pub fn required_max(path: &str, value: &str, max: usize) -> Checked {
    required(path, value)?;
    max_len(path, value, max)
}

/// Optional; when present, non-empty and at most `max` characters. An empty string is
/// refused because AMS treats `""` as a value, and an empty id or URL is never meaningful.
pub fn optional_max(path: &str, value: Option<&str>, max: usize) -> Checked {
    match value {
        Some(v) => required_max(path, v, max),
        None => Ok(()),
    }
}

/// Required present on an `Option` field.
pub fn present<'a, T: ?Sized>(path: &str, value: Option<&'a T>) -> Result<&'a T, ValidationError> {
    value.ok_or_else(|| ValidationError::new(path, "is required"))
}

/// Merchant-chosen idempotency ids (`paymentRequestId`, `refundRequestId`,
/// `registrationRequestId`): required, at most 64 characters, and made of ASCII letters,
/// digits, `-` and `_` only.
///
/// The docs only say "special characters are not supported" without listing them. Letters,
/// digits, `-` and `_` are what the docs' and SDKs' examples use and are safe in every
/// report file and URL, so that is the set accepted here; `.`, spaces and anything else
/// are refused. This may be stricter than Alipay, which is the safe direction for ids we
/// generate ourselves.
pub fn request_id(path: &str, value: &str) -> Checked {
    required_max(path, value, 64)?;
    match value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        Some(c) => Err(ValidationError::new(
            path,
            format!("must contain only ASCII letters, digits, '-' and '_' (found {c:?})"),
        )),
        None => Ok(()),
    }
}

/// An AMS `Datetime`: ISO 8601 with an explicit offset.
pub fn datetime(path: &str, value: &str) -> Checked {
    required(path, value)?;
    timefmt::parse_datetime(value).map(|_| ()).map_err(|e| {
        ValidationError::new(
            path,
            format!(
                "must be an ISO 8601 date-time with offset, e.g. 2019-11-27T12:01:01+08:00 ({})",
                e.reason
            ),
        )
    })
}

pub fn optional_datetime(path: &str, value: Option<&str>) -> Checked {
    value.map_or(Ok(()), |v| datetime(path, v))
}

/// An AMS `URL`: at most 2048 characters, absolute, `http` or `https`.
pub fn url(path: &str, value: &str) -> Checked {
    required_max(path, value, 2048)?;
    let parsed = url::Url::parse(value)
        .map_err(|e| ValidationError::new(path, format!("must be an absolute URL ({e})")))?;
    match parsed.scheme() {
        "http" | "https" => Ok(()),
        other => Err(ValidationError::new(
            path,
            format!("must be an http or https URL (scheme is {other:?})"),
        )),
    }
}

pub fn optional_url(path: &str, value: Option<&str>) -> Checked {
    value.map_or(Ok(()), |v| url(path, v))
}

/// Exactly `n` ASCII uppercase letters (currency codes, country codes). Whether the code
/// exists is a business question answered elsewhere (`money`).
pub fn upper_letters(path: &str, value: &str, n: usize) -> Checked {
    required(path, value)?;
    if value.len() == n && value.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(ValidationError::new(
            path,
            format!("must be {n} uppercase ASCII letters"),
        ))
    }
}

/// Largest amount value: the amount-rules page limits `value` to 16 characters.
pub const MAX_AMOUNT_VALUE: u64 = 9_999_999_999_999_999;

/// An `Amount`: ISO 4217-shaped currency, positive value of at most 16 digits.
pub fn amount(path: &str, value: &Amount) -> Checked {
    if value.currency.is_empty() && value.value == 0 {
        // Absent amount objects deserialize as the default; name the object, not a member.
        return Err(ValidationError::new(path, "is required"));
    }
    upper_letters(&join(path, "currency"), &value.currency, 3)?;
    if value.value == 0 {
        return Err(ValidationError::new(
            join(path, "value"),
            "must be a positive integer",
        ));
    }
    if value.value > MAX_AMOUNT_VALUE {
        return Err(ValidationError::new(
            join(path, "value"),
            "must be at most 16 digits",
        ));
    }
    Ok(())
}

pub fn optional_amount(path: &str, value: Option<&Amount>) -> Checked {
    value.map_or(Ok(()), |v| amount(path, v))
}

/// `Address`: `region` (ISO 3166 alpha-2) is required inside an address; the other lengths
/// are from the online spec.
pub fn address(path: &str, a: &Address) -> Checked {
    upper_letters(&join(path, "region"), &a.region, 2)?;
    optional_max(&join(path, "state"), a.state.as_deref(), 8)?;
    optional_max(&join(path, "city"), a.city.as_deref(), 32)?;
    optional_max(&join(path, "address1"), a.address1.as_deref(), 256)?;
    optional_max(&join(path, "address2"), a.address2.as_deref(), 256)?;
    optional_max(&join(path, "zipCode"), a.zip_code.as_deref(), 32)?;
    Ok(())
}

pub fn optional_address(path: &str, a: Option<&Address>) -> Checked {
    a.map_or(Ok(()), |a| address(path, a))
}

/// `Env`: only the members whose format or length the reference gives are checked; the
/// store-terminal fields have no documented length.
pub fn env(path: &str, e: &Env) -> Checked {
    optional_datetime(
        &join(path, "storeTerminalRequestTime"),
        e.store_terminal_request_time.as_deref(),
    )?;
    if let Some(t) = &e.terminal_type {
        recognized(&join(path, "terminalType"), t.is_recognized(), t.as_str())?;
    }
    if let Some(t) = &e.os_type {
        recognized(&join(path, "osType"), t.is_recognized(), t.as_str())?;
    }
    optional_max(
        &join(path, "deviceTokenId"),
        e.device_token_id.as_deref(),
        64,
    )?;
    optional_max(&join(path, "clientIp"), e.client_ip.as_deref(), 64)?;
    optional_max(&join(path, "extendInfo"), e.extend_info.as_deref(), 2048)?;
    Ok(())
}

/// Enum values outside the documented set are `PARAM_ILLEGAL` in requests (registration
/// page); in responses they are merely kept as `Unrecognized`.
pub fn recognized(path: &str, is_recognized: bool, text: &str) -> Checked {
    if is_recognized {
        Ok(())
    } else {
        Err(ValidationError::new(
            path,
            format!("unsupported value {text:?}"),
        ))
    }
}

/// Fixed-value fields such as `productCode`.
pub fn equals(path: &str, value: &str, expected: &str) -> Checked {
    required(path, value)?;
    if value == expected {
        Ok(())
    } else {
        Err(ValidationError::new(
            path,
            format!("must be {expected:?} (is {value:?})"),
        ))
    }
}

/// Inquiry-style requests that identify their target by either of two ids.
pub fn one_of(first: (&str, Option<&str>), second: (&str, Option<&str>)) -> Checked {
    if first.1.is_none() && second.1.is_none() {
        return Err(ValidationError::new(
            first.0,
            format!("either `{}` or `{}` is required", first.0, second.0),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Rule-by-rule tests of the validators on the concrete request types; each asserts
    //! the JSON path reported, because that path is what the simulator puts in its
    //! `PARAM_ILLEGAL` message and what the client shows the operator.

    use super::*;
    use crate::ams::models::*;

    fn v1() -> PayRequest {
        serde_json::from_str(include_str!(
            "../../../tests/fixtures/testvectors/v1_request_body.json"
        ))
        .unwrap()
    }

    fn upm() -> PayRequest {
        serde_json::from_str(include_str!(
            "../../../tests/fixtures/models/pay_request_user_presented.json"
        ))
        .unwrap()
    }

    fn entry() -> PayRequest {
        serde_json::from_str(include_str!(
            "../../../tests/fixtures/models/pay_request_entry_code.json"
        ))
        .unwrap()
    }

    fn field_of<T: Validate>(t: &T) -> String {
        t.validate().expect_err("expected a validation error").field
    }

    #[test]
    fn fixtures_are_valid() {
        v1().validate().unwrap();
        upm().validate().unwrap();
        entry().validate().unwrap();
    }

    #[test]
    fn display_names_field_and_problem() {
        let mut r = v1();
        r.order.order_description = "x".repeat(257);
        assert_eq!(
            r.validate().unwrap_err().to_string(),
            "field `order.orderDescription`: must be at most 256 characters"
        );
    }

    #[test]
    fn lengths_count_characters_not_bytes() {
        let mut r = v1();
        r.order.order_description = "é".repeat(256); // 512 bytes, 256 characters
        r.validate().unwrap();
        r.order.order_description.push('é');
        assert_eq!(field_of(&r), "order.orderDescription");
    }

    #[test]
    fn product_code_must_be_in_store_payment() {
        let mut r = v1();
        r.product_code = "CASHIER_PAYMENT".into();
        assert_eq!(field_of(&r), "productCode");
        r.product_code.clear();
        assert_eq!(field_of(&r), "productCode");
    }

    #[test]
    fn payment_request_id_required_length_and_charset() {
        let mut r = v1();
        r.payment_request_id.clear();
        let e = r.validate().unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.problem.as_str()),
            ("paymentRequestId", "is required")
        );
        r.payment_request_id = "a".repeat(64);
        r.validate().unwrap();
        r.payment_request_id = "a".repeat(65);
        assert_eq!(field_of(&r), "paymentRequestId");
        for bad in ["pos 1", "pos.1", "pos/1", "pós-1", "pos#1"] {
            r.payment_request_id = bad.into();
            let e = r.validate().unwrap_err();
            assert_eq!(e.field, "paymentRequestId", "{bad}");
            assert!(e.problem.contains("ASCII letters"), "{e}");
        }
        r.payment_request_id = "Pos_2025-01-01_ABC".into();
        r.validate().unwrap();
    }

    #[test]
    fn refund_and_registration_request_ids_use_the_same_rule() {
        let mut r = RefundRequest::new("r.1", "pay1", Amount::new("USD", 100));
        assert_eq!(field_of(&r), "refundRequestId");
        r.refund_request_id = "r-1".into();
        r.validate().unwrap();

        let mut g: RegistrationRequest = serde_json::from_str(include_str!(
            "../../../tests/fixtures/models/registration_request.json"
        ))
        .unwrap();
        g.validate().unwrap();
        g.registration_request_id = "reg 1".into();
        assert_eq!(field_of(&g), "registrationRequestId");
    }

    #[test]
    fn order_required_members() {
        let mut r = v1();
        r.order.order_description.clear();
        assert_eq!(field_of(&r), "order.orderDescription");

        let mut r = v1();
        r.order.merchant.merchant_name.clear();
        assert_eq!(field_of(&r), "order.merchant.merchantName");

        let mut r = v1();
        r.order.merchant.merchant_mcc.clear();
        assert_eq!(field_of(&r), "order.merchant.merchantMCC");

        let mut r = v1();
        r.order.merchant.store.store_mcc.clear();
        assert_eq!(field_of(&r), "order.merchant.store.storeMCC");

        let mut r = v1();
        r.order.merchant.store.store_name.clear();
        assert_eq!(field_of(&r), "order.merchant.store.storeName");

        let mut r = v1();
        r.order.reference_order_id = Some("o".repeat(65));
        assert_eq!(field_of(&r), "order.referenceOrderId");
    }

    #[test]
    fn missing_objects_are_named_as_a_whole() {
        let r: PayRequest =
            serde_json::from_str(r#"{"productCode":"IN_STORE_PAYMENT","paymentRequestId":"p1"}"#)
                .unwrap();
        let e = r.validate().unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.problem.as_str()),
            ("order", "is required")
        );

        let mut r = v1();
        r.order.merchant = Merchant::default();
        assert_eq!(field_of(&r), "order.merchant");
        let mut r = v1();
        r.order.merchant.store = Store::default();
        assert_eq!(field_of(&r), "order.merchant.store");
        let mut r = v1();
        r.payment_amount = Amount::default();
        assert_eq!(field_of(&r), "paymentAmount");
    }

    #[test]
    fn reference_merchant_id_is_32_in_pay_and_64_in_registration() {
        let mut r = v1();
        r.order.merchant.reference_merchant_id = "m".repeat(32);
        r.validate().unwrap();
        r.order.merchant.reference_merchant_id = "m".repeat(33);
        assert_eq!(field_of(&r), "order.merchant.referenceMerchantId");

        let mut q = InquiryRegistrationInfoRequest::new("m".repeat(64));
        q.validate().unwrap();
        q.reference_merchant_id = "m".repeat(65);
        assert_eq!(field_of(&q), "referenceMerchantId");
    }

    #[test]
    fn reference_store_id_is_at_most_32() {
        let mut r = v1();
        r.order.merchant.store.reference_store_id = "s".repeat(33);
        assert_eq!(field_of(&r), "order.merchant.store.referenceStoreId");

        let mut q = InquiryRegistrationInfoRequest::new("M1");
        q.reference_store_id = Some("s".repeat(33));
        assert_eq!(field_of(&q), "referenceStoreId");
    }

    #[test]
    fn amount_value_positive_and_at_most_16_digits() {
        let mut r = v1();
        r.payment_amount.value = 0;
        let e = r.validate().unwrap_err();
        assert_eq!(e.field, "paymentAmount.value");
        assert!(e.problem.contains("positive"), "{e}");
        r.payment_amount.value = MAX_AMOUNT_VALUE;
        r.validate().unwrap();
        r.payment_amount.value = MAX_AMOUNT_VALUE + 1;
        let e = r.validate().unwrap_err();
        assert_eq!(e.field, "paymentAmount.value");
        assert!(e.problem.contains("16 digits"), "{e}");

        let mut r = v1();
        r.order.order_amount.value = 0;
        assert_eq!(field_of(&r), "order.orderAmount.value");
    }

    #[test]
    fn currency_is_three_uppercase_letters() {
        for bad in ["usd", "US", "USDD", "U$D", ""] {
            let mut r = v1();
            r.payment_amount.currency = bad.into();
            assert_eq!(field_of(&r), "paymentAmount.currency", "{bad}");
        }
        let mut r = v1();
        r.settlement_strategy = Some(SettlementStrategy {
            settlement_currency: Some("usd".into()),
        });
        assert_eq!(field_of(&r), "settlementStrategy.settlementCurrency");
    }

    #[test]
    fn datetimes_must_be_iso_8601_with_offset() {
        let mut r = v1();
        r.payment_expiry_time = Some("2025-01-01T08:05:00".into());
        let e = r.validate().unwrap_err();
        assert_eq!(e.field, "paymentExpiryTime");
        assert!(e.problem.contains("ISO 8601"), "{e}");
        r.payment_expiry_time = Some("2025-01-01T08:05:00.123Z".into());
        r.validate().unwrap();

        let mut r = v1();
        if let Some(env) = r.order.env.as_mut() {
            env.store_terminal_request_time = Some("1735689600000".into());
        }
        assert_eq!(field_of(&r), "order.env.storeTerminalRequestTime");
    }

    #[test]
    fn urls_must_be_http_and_at_most_2048() {
        let mut r = v1();
        r.payment_notify_url = Some("ftp://pos.example.com/notify".into());
        assert_eq!(field_of(&r), "paymentNotifyUrl");
        r.payment_notify_url = Some("/alipay/notify".into());
        assert_eq!(field_of(&r), "paymentNotifyUrl");
        let long = format!("https://pos.example.com/{}", "a".repeat(2048 - 24));
        assert_eq!(long.chars().count(), 2048);
        r.payment_notify_url = Some(long.clone());
        r.validate().unwrap();
        r.payment_notify_url = Some(format!("{long}a"));
        let e = r.validate().unwrap_err();
        assert_eq!(e.field, "paymentNotifyUrl");
        assert!(e.problem.contains("2048"), "{e}");

        let mut g: RegistrationRequest = serde_json::from_str(include_str!(
            "../../../tests/fixtures/models/registration_request.json"
        ))
        .unwrap();
        g.registration_notify_url = Some("mailto:ops@example.com".into());
        assert_eq!(field_of(&g), "registrationNotifyURL");
    }

    #[test]
    fn order_code_may_omit_notify_url_and_forbids_payment_method_id() {
        // The docs mark paymentNotifyUrl required, but a terminal without a public URL
        // omits it and polls (README, "payment.notify_url is optional").
        let mut r = v1();
        r.payment_notify_url = None;
        r.validate().unwrap();
        let mut r = v1();
        r.payment_method.payment_method_id = Some("281006020000000000123456".into());
        let e = r.validate().unwrap_err();
        assert_eq!(e.field, "paymentMethod.paymentMethodId");
        assert!(e.problem.contains("OrderCode"), "{e}");
    }

    #[test]
    fn payment_code_requires_payment_method_id_up_to_128() {
        let mut r = upm();
        r.payment_method.payment_method_id = None;
        assert_eq!(field_of(&r), "paymentMethod.paymentMethodId");
        r.payment_method.payment_method_id = Some("2".repeat(129));
        assert_eq!(field_of(&r), "paymentMethod.paymentMethodId");
        r.payment_method.payment_method_id = Some("2".repeat(128));
        r.validate().unwrap();
    }

    #[test]
    fn payment_code_requires_store_terminal_fields() {
        let mut r = upm();
        r.order.env = None;
        assert_eq!(field_of(&r), "order.env");
        let mut r = upm();
        if let Some(env) = r.order.env.as_mut() {
            env.store_terminal_id = None;
        }
        assert_eq!(field_of(&r), "order.env.storeTerminalId");
        let mut r = upm();
        if let Some(env) = r.order.env.as_mut() {
            env.store_terminal_request_time = None;
        }
        assert_eq!(field_of(&r), "order.env.storeTerminalRequestTime");
    }

    #[test]
    fn payment_code_refuses_redirect_url() {
        let mut r = upm();
        r.payment_redirect_url = Some("https://pos.example.com/done".into());
        assert_eq!(field_of(&r), "paymentRedirectUrl");
    }

    #[test]
    fn entry_code_requires_user_agent() {
        let mut r = entry();
        r.order.env = None;
        assert_eq!(field_of(&r), "order.env");
        let mut r = entry();
        if let Some(env) = r.order.env.as_mut() {
            env.user_agent = None;
        }
        assert_eq!(field_of(&r), "order.env.userAgent");
        let mut r = entry();
        r.payment_method.payment_method_id = Some("x".into());
        assert_eq!(field_of(&r), "paymentMethod.paymentMethodId");
    }

    #[test]
    fn payment_method_type_must_be_connect_wallet() {
        let mut r = v1();
        r.payment_method.payment_method_type = "ALIPAY_CN".into();
        assert_eq!(field_of(&r), "paymentMethod.paymentMethodType");
    }

    #[test]
    fn scenario_required_and_recognized() {
        let mut r = v1();
        r.payment_factor = None;
        assert_eq!(field_of(&r), "paymentFactor");
        let r: PayRequest = serde_json::from_str(
            &include_str!("../../../tests/fixtures/testvectors/v1_request_body.json")
                .replace("\"OrderCode\"", "\"QrCode\""),
        )
        .unwrap();
        assert_eq!(
            r.scenario(),
            Some(&InStorePaymentScenario::Unrecognized("QrCode".into()))
        );
        assert_eq!(field_of(&r), "paymentFactor.inStorePaymentScenario");
    }

    #[test]
    fn goods_and_buyer_lengths() {
        let mut r = v1();
        r.order.goods = Some(vec![Goods {
            reference_goods_id: "g1".into(),
            goods_name: String::new(),
            ..Goods::default()
        }]);
        assert_eq!(field_of(&r), "order.goods[0].goodsName");
        r.order.goods = Some(vec![
            Goods {
                reference_goods_id: "g".into(),
                goods_name: "n".into(),
                ..Goods::default()
            };
            101
        ]);
        assert_eq!(field_of(&r), "order.goods");
        let mut r = v1();
        r.order.buyer = Some(Buyer {
            buyer_phone_no: Some("1".repeat(25)),
            ..Buyer::default()
        });
        assert_eq!(field_of(&r), "order.buyer.buyerPhoneNo");
    }

    #[test]
    fn address_region_is_required_inside_an_address() {
        let mut r = v1();
        r.order.merchant.merchant_address = Some(Address {
            city: Some("Singapore".into()),
            ..Address::default()
        });
        assert_eq!(field_of(&r), "order.merchant.merchantAddress.region");
    }

    #[test]
    fn inquiry_and_cancel_need_one_payment_id() {
        let q = InquiryPaymentRequest::default();
        let e = q.validate().unwrap_err();
        assert_eq!(e.field, "paymentId");
        assert!(e.problem.contains("paymentRequestId"), "{e}");
        InquiryPaymentRequest::by_payment_request_id("pos-1")
            .validate()
            .unwrap();
        InquiryPaymentRequest::by_payment_id("2025")
            .validate()
            .unwrap();

        let c = CancelRequest::default();
        assert_eq!(field_of(&c), "paymentId");
        CancelRequest::by_payment_request_id("pos-1")
            .validate()
            .unwrap();
        let mut c = CancelRequest::by_payment_id("p");
        c.payment_id = Some("p".repeat(65));
        assert_eq!(field_of(&c), "paymentId");
    }

    #[test]
    fn inquiry_refund_needs_one_refund_id() {
        let q = InquiryRefundRequest::default();
        let e = q.validate().unwrap_err();
        assert_eq!(e.field, "refundId");
        assert!(e.problem.contains("refundRequestId"), "{e}");
        InquiryRefundRequest::by_refund_request_id("r-1")
            .validate()
            .unwrap();
        InquiryRefundRequest::by_refund_id("2025")
            .validate()
            .unwrap();
    }

    #[test]
    fn refund_request_fields() {
        let mut r = RefundRequest::new("r-1", "", Amount::new("USD", 100));
        assert_eq!(field_of(&r), "paymentId");
        r.payment_id = "p1".into();
        r.refund_reason = Some("x".repeat(257));
        assert_eq!(field_of(&r), "refundReason");
        r.refund_reason = None;
        r.refund_amount.value = 0;
        assert_eq!(field_of(&r), "refundAmount.value");
    }

    #[test]
    fn inquiry_registration_info_needs_reference_merchant_id() {
        let q = InquiryRegistrationInfoRequest::default();
        let e = q.validate().unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.problem.as_str()),
            ("referenceMerchantId", "is required")
        );
    }

    #[test]
    fn inquiry_registration_status_needs_some_id() {
        let q = InquiryRegistrationStatusRequest::default();
        assert_eq!(field_of(&q), "referenceMerchantId");
        let q = InquiryRegistrationStatusRequest {
            reference_store_id: Some("S1".into()),
            ..Default::default()
        };
        q.validate().unwrap();
    }

    #[test]
    fn registration_rules() {
        let base: RegistrationRequest = serde_json::from_str(include_str!(
            "../../../tests/fixtures/models/registration_request.json"
        ))
        .unwrap();
        let mut g = base.clone();
        g.merchant_info.reference_merchant_id.clear();
        assert_eq!(field_of(&g), "merchantInfo.referenceMerchantId");
        let mut g = base.clone();
        g.store_info = None;
        assert_eq!(field_of(&g), "storeInfo");
        let mut g = base.clone();
        g.product_codes.clear();
        assert_eq!(field_of(&g), "productCodes");
        let mut g = base.clone();
        if let Some(w) = g.merchant_info.websites.as_mut() {
            w[0].url = Some("not a url".into());
        }
        assert_eq!(field_of(&g), "merchantInfo.websites[0].url");
        let mut g = base;
        g.pass_through_info = Some("x".repeat(2049));
        assert_eq!(field_of(&g), "passThroughInfo");
    }

    #[test]
    fn notify_payment_rules() {
        let n: NotifyPaymentRequest = serde_json::from_str(include_str!(
            "../../../tests/fixtures/testvectors/v3_notify_body.json"
        ))
        .unwrap();
        n.validate().unwrap();
        let mut m = n.clone();
        m.result = None;
        assert_eq!(field_of(&m), "result");
        let mut m = n.clone();
        m.payment_id.clear();
        assert_eq!(field_of(&m), "paymentId");
        let mut m = n.clone();
        m.notify_type = NotifyType::Unrecognized("REFUND_RESULT".into());
        assert_eq!(field_of(&m), "notifyType");
        let mut m = n;
        m.payment_time = Some("29 seconds past eight".into());
        assert_eq!(field_of(&m), "paymentTime");
    }

    #[test]
    fn notify_registration_status_rules() {
        let n: NotifyRegistrationStatusRequest = serde_json::from_str(include_str!(
            "../../../tests/fixtures/models/notify_registration_status.json"
        ))
        .unwrap();
        n.validate().unwrap();
        let mut m = n;
        m.registration_request_id.clear();
        assert_eq!(field_of(&m), "registrationRequestId");
    }
}
