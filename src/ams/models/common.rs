//! Objects shared by several APIs: amounts, the `result` object, order and merchant data.

use serde::{Deserialize, Serialize};

use super::validate::{self, Checked, ValidationError, join};

/// `productCode` of every in-store API call.
pub const IN_STORE_PAYMENT: &str = "IN_STORE_PAYMENT";
/// `paymentMethod.paymentMethodType` of every in-store payment (the wallet is chosen by the
/// customer's app, not by the merchant).
pub const CONNECT_WALLET: &str = "CONNECT_WALLET";

/// A money amount as AMS writes it: integer minor units of `currency`.
///
/// `value` is read from a JSON string (the documented form) or a JSON number (what the
/// official SDKs' models produce), and always written as a string. Anything that is not a
/// non-negative integer is a deserialization error, so a malformed amount can never be read
/// as some other amount. Zero is accepted at parse time and refused by validation, so that
/// a simulator can answer `PARAM_ILLEGAL` with the field path instead of a parse error.
/// Leading zeros (`"0100"`) are accepted and normalised on output.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Amount {
    pub currency: String,
    #[serde(with = "amount_value")]
    pub value: u64,
}

impl Amount {
    pub fn new(currency: impl Into<String>, value: u64) -> Self {
        Self {
            currency: currency.into(),
            value,
        }
    }
}

mod amount_value {
    use std::fmt;

    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        d.deserialize_any(ValueVisitor)
    }

    const EXPECTED: &str =
        "a non-negative integer in the currency's smallest unit, e.g. \"1250\" for USD 12.50";

    struct ValueVisitor;

    impl<'de> Visitor<'de> for ValueVisitor {
        type Value = u64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(EXPECTED)
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| {
                E::custom(format!("amount value {v} is negative; expected {EXPECTED}"))
            })
        }

        fn visit_u128<E: de::Error>(self, v: u128) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom(format!("amount value {v} is too large")))
        }

        fn visit_i128<E: de::Error>(self, v: i128) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| {
                E::custom(format!(
                    "amount value {v} is out of range; expected {EXPECTED}"
                ))
            })
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<u64, E> {
            Err(E::custom(format!(
                "amount value {v} is not an integer; expected {EXPECTED}"
            )))
        }

        fn visit_str<E: de::Error>(self, s: &str) -> Result<u64, E> {
            if s.is_empty() {
                return Err(E::custom(format!(
                    "amount value is empty; expected {EXPECTED}"
                )));
            }
            if !s.bytes().all(|b| b.is_ascii_digit()) {
                let why = if s.starts_with('-') {
                    "is negative"
                } else if s.contains(['.', ',']) {
                    "is not an integer"
                } else {
                    "contains characters other than digits"
                };
                return Err(E::custom(format!(
                    "amount value {s:?} {why}; expected {EXPECTED}"
                )));
            }
            s.parse::<u64>()
                .map_err(|_| E::custom(format!("amount value {s:?} is too large")))
        }
    }
}

/// A scalar that the reference documents as a string but that SDK mocks send as a JSON
/// number or boolean (`Quote.quotePrice`, `Quote.guaranteed`). Kept in its original JSON
/// type so that it round-trips.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    String(String),
    Number(serde_json::Number),
    Bool(bool),
}

impl Scalar {
    /// `true`/`false` whether sent as a boolean or as the strings `"true"`/`"false"`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Scalar::Bool(b) => Some(*b),
            Scalar::String(s) if s == "true" => Some(true),
            Scalar::String(s) if s == "false" => Some(false),
            _ => None,
        }
    }

    /// The numeric value whether sent as a number or a decimal string. Rates are for
    /// display only; money never goes through `f64`.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Scalar::Number(n) => n.as_f64(),
            Scalar::String(s) => s.parse().ok(),
            Scalar::Bool(_) => None,
        }
    }

    /// The text as received (numbers and booleans in their JSON spelling).
    pub fn to_text(&self) -> String {
        match self {
            Scalar::String(s) => s.clone(),
            Scalar::Number(n) => n.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

/// `result.resultStatus`.
///
/// Unlike the other enums this one has no catch-all: any other text fails to parse
/// (`unknown variant ..., expected one of S, F, U`), and a body whose `result` cannot be
/// read is treated as `U` by the client. So callers can match the three cases
/// exhaustively, and an unexpected status can never be mistaken for success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ResultStatus {
    /// The call did what it says.
    S,
    /// Definite failure of this call.
    F,
    /// Outcome unknown; the operation may or may not have happened.
    U,
}

impl ResultStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ResultStatus::S => "S",
            ResultStatus::F => "F",
            ResultStatus::U => "U",
        }
    }

    pub fn is_success(self) -> bool {
        self == ResultStatus::S
    }
}

impl std::fmt::Display for ResultStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

wire_enum! {
    /// `result.resultCode`: Alipay's word for what happened to one call (with
    /// [`ResultStatus`] deciding S/F/U; the code alone never does).
    ///
    /// The variants are the codes our references document for the APIs this terminal
    /// implements (the per-API tables and the generic list in `order-code.md`, the extra
    /// in-store codes of `other-products.md`), so the engine and the faces match variants
    /// instead of spellings. A code outside this list is kept verbatim in `Unrecognized`:
    /// the reply stays readable, the journal stores the spelling Alipay sent, and the
    /// faces word it as "other".
    pub enum ResultCode {
        /// The call did what it says (with status `S`).
        Success = "SUCCESS",
        /// Generic F: the client may not call this API; stop and contact support.
        AccessDenied = "ACCESS_DENIED",
        /// Cancel F: outside the contract's cancel period, refund instead.
        CancelWindowExceed = "CANCEL_WINDOW_EXCEED",
        /// Payment APIs' spelling of a bad `client-id` (configuration).
        ClientInvalid = "CLIENT_INVALID",
        /// The client is not allowed this API (documented for the auto-debit APIs).
        ClientForbiddenAccessApi = "CLIENT_FORBIDDEN_ACCESS_API",
        /// The currency is not the contract's.
        CurrencyNotSupport = "CURRENCY_NOT_SUPPORT",
        /// Scanned (User-presented) code expired: the customer refreshes it.
        ExpiredCode = "EXPIRED_CODE",
        /// The API is not active for this client.
        InvalidApi = "INVALID_API",
        /// Registration APIs' spelling of a bad `client-id`.
        InvalidClient = "INVALID_CLIENT",
        /// Contract or parameter mismatch.
        InvalidContract = "INVALID_CONTRACT",
        /// The merchant is restricted.
        InvalidMerchantStatus = "INVALID_MERCHANT_STATUS",
        /// Scanned code not accepted by Alipay+.
        InvalidPaymentCode = "INVALID_PAYMENT_CODE",
        /// The request signature does not verify (the 2023 spelling).
        InvalidSignature = "INVALID_SIGNATURE",
        /// The merchant's public key is not uploaded.
        KeyNotFound = "KEY_NOT_FOUND",
        /// Wrong `Content-Type`.
        MediaTypeNotAcceptable = "MEDIA_TYPE_NOT_ACCEPTABLE",
        /// Cancel/refund F: the merchant's balance cannot cover it now.
        MerchantBalanceNotEnough = "MERCHANT_BALANCE_NOT_ENOUGH",
        MerchantKybNotQualified = "MERCHANT_KYB_NOT_QUALIFIED",
        /// Call `registration` first.
        MerchantNotRegistered = "MERCHANT_NOT_REGISTERED",
        /// Only POST is accepted.
        MethodNotSupported = "METHOD_NOT_SUPPORTED",
        /// Refund F: the wallet allows one refund only.
        MultipleRefundsNotSupported = "MULTIPLE_REFUNDS_NOT_SUPPORTED",
        /// Wrong URL.
        NoInterfaceDef = "NO_INTERFACE_DEF",
        /// Currency or wallet not enabled.
        NoPayOptions = "NO_PAY_OPTIONS",
        /// The id belongs to a cancelled payment.
        OrderIsCanceled = "ORDER_IS_CANCELED",
        /// The id belongs to a closed (e.g. expired) payment.
        OrderIsClosed = "ORDER_IS_CLOSED",
        /// Inquiry/cancel/refund F: no such payment or refund (right after a timed-out
        /// `pay` it may only mean "not visible yet").
        OrderNotExist = "ORDER_NOT_EXIST",
        /// The order cannot do this in its current state.
        OrderStatusInvalid = "ORDER_STATUS_INVALID",
        /// A missing or invalid field.
        ParamIllegal = "PARAM_ILLEGAL",
        PaymentAmountExceedLimit = "PAYMENT_AMOUNT_EXCEED_LIMIT",
        PaymentCountExceedLimit = "PAYMENT_COUNT_EXCEED_LIMIT",
        /// `pay` U: still being processed; settle by inquiry.
        PaymentInProcess = "PAYMENT_IN_PROCESS",
        /// The merchant may not collect.
        PaymentNotQualified = "PAYMENT_NOT_QUALIFIED",
        /// General failure; do not retry.
        ProcessFail = "PROCESS_FAIL",
        /// Registration inquiry F: no such record.
        RecordNotFound = "RECORD_NOT_FOUND",
        /// Refund F: the total would exceed the paid amount.
        RefundAmountExceed = "REFUND_AMOUNT_EXCEED",
        /// Online refunds only (U); listed so a reply carrying it is still matched.
        RefundInProcess = "REFUND_IN_PROCESS",
        /// Refund F: too late, manual handling.
        RefundWindowExceed = "REFUND_WINDOW_EXCEED",
        /// A previous registration is still in review.
        RegistrationUnderReview = "REGISTRATION_UNDER_REVIEW",
        /// The merchant is already registered.
        RepeatRegistration = "REPEAT_REGISTRATION",
        /// The same request id came with different key parameters.
        RepeatReqInconsistent = "REPEAT_REQ_INCONSISTENT",
        /// Generic U: retry later with the same parameters.
        RequestTrafficExceedLimit = "REQUEST_TRAFFIC_EXCEED_LIMIT",
        RiskReject = "RISK_REJECT",
        /// The 2019 release notes' spelling of [`ResultCode::InvalidSignature`].
        SignatureInvalid = "SIGNATURE_INVALID",
        /// Do not retry.
        SystemError = "SYSTEM_ERROR",
        /// Generic U: retry with the same parameters.
        UnknownException = "UNKNOWN_EXCEPTION",
        UserAmountExceedLimit = "USER_AMOUNT_EXCEED_LIMIT",
        UserBalanceNotEnough = "USER_BALANCE_NOT_ENOUGH",
        UserKycNotQualified = "USER_KYC_NOT_QUALIFIED",
        UserNotExist = "USER_NOT_EXIST",
        UserPaymentVerificationFailed = "USER_PAYMENT_VERIFICATION_FAILED",
        UserStatusAbnormal = "USER_STATUS_ABNORMAL",
    }
}

impl PartialEq<str> for ResultCode {
    /// Compares the wire spelling, so `code == "X"` keeps working in tests and logs while
    /// an unrecognized code still compares equal to its own text.
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ResultCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// The `result` object of every response and notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultInfo {
    pub result_code: ResultCode,
    pub result_status: ResultStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_message: Option<String>,
}

impl ResultInfo {
    /// `SUCCESS`/`S`/`success.`, the shape of Alipay's API responses. (Notification
    /// acknowledgements use `success` without the period: [`super::NotificationAck`].)
    pub fn success() -> Self {
        Self {
            result_code: ResultCode::Success,
            result_status: ResultStatus::S,
            result_message: Some("success.".to_owned()),
        }
    }

    pub fn failed(code: impl Into<ResultCode>, message: impl Into<String>) -> Self {
        Self::with_status(ResultStatus::F, code, message)
    }

    pub fn unknown(code: impl Into<ResultCode>, message: impl Into<String>) -> Self {
        Self::with_status(ResultStatus::U, code, message)
    }

    fn with_status(
        status: ResultStatus,
        code: impl Into<ResultCode>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            result_code: code.into(),
            result_status: status,
            result_message: Some(message.into()),
        }
    }

    /// Only an exact `S`.
    pub fn is_success(&self) -> bool {
        self.result_status.is_success()
    }

    /// Only an exact `F`: the one case where the caller may conclude "did not happen".
    pub fn is_failure(&self) -> bool {
        self.result_status == ResultStatus::F
    }

    pub fn is_unknown(&self) -> bool {
        self.result_status == ResultStatus::U
    }
}

/// `order`: what the customer is paying for.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    /// Optional for in-store `pay` (a 2019 release note), but shown in the user's records,
    /// so send it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_order_id: Option<String>,
    #[serde(default)]
    pub order_description: String,
    #[serde(default)]
    pub order_amount: Amount,
    #[serde(default)]
    pub merchant: Merchant,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<Env>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goods: Option<Vec<Goods>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buyer: Option<Buyer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extend_info: Option<String>,
}

impl Order {
    pub(crate) fn check(&self, path: &str) -> Checked {
        if *self == Order::default() {
            return Err(ValidationError::new(path, "is required"));
        }
        validate::optional_max(
            &join(path, "referenceOrderId"),
            self.reference_order_id.as_deref(),
            64,
        )?;
        validate::required_max(
            &join(path, "orderDescription"),
            &self.order_description,
            256,
        )?;
        validate::amount(&join(path, "orderAmount"), &self.order_amount)?;
        self.merchant.check(&join(path, "merchant"))?;
        if let Some(env) = &self.env {
            validate::env(&join(path, "env"), env)?;
        }
        if let Some(goods) = &self.goods {
            let gpath = join(path, "goods");
            if goods.len() > 100 {
                return Err(ValidationError::new(
                    gpath,
                    format!("must have at most 100 entries (has {})", goods.len()),
                ));
            }
            for (i, g) in goods.iter().enumerate() {
                g.check(&format!("{gpath}[{i}]"))?;
            }
        }
        if let Some(buyer) = &self.buyer {
            buyer.check(&join(path, "buyer"))?;
        }
        Ok(())
    }
}

/// `order.merchant`: the (secondary) merchant selling.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Merchant {
    /// At most 32 characters here (online spec) although the registration APIs allow 64;
    /// keeping ids ≤ 32 satisfies both.
    #[serde(default)]
    pub reference_merchant_id: String,
    #[serde(default, rename = "merchantMCC")]
    pub merchant_mcc: String,
    #[serde(default)]
    pub merchant_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_address: Option<Address>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_register_date: Option<String>,
    #[serde(default)]
    pub store: Store,
}

impl Merchant {
    fn check(&self, path: &str) -> Checked {
        if *self == Merchant::default() {
            return Err(ValidationError::new(path, "is required"));
        }
        validate::required_max(
            &join(path, "referenceMerchantId"),
            &self.reference_merchant_id,
            32,
        )?;
        validate::required_max(&join(path, "merchantMCC"), &self.merchant_mcc, 32)?;
        validate::required_max(&join(path, "merchantName"), &self.merchant_name, 256)?;
        validate::optional_max(
            &join(path, "merchantDisplayName"),
            self.merchant_display_name.as_deref(),
            64,
        )?;
        validate::optional_address(
            &join(path, "merchantAddress"),
            self.merchant_address.as_ref(),
        )?;
        validate::optional_datetime(
            &join(path, "merchantRegisterDate"),
            self.merchant_register_date.as_deref(),
        )?;
        self.store.check(&join(path, "store"))
    }
}

/// `order.merchant.store`: required for in-store payments (the SDK validators require
/// `referenceStoreId`, `storeName`, `storeMCC`). Only `referenceStoreId` has a documented
/// length (32, from the registration APIs).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Store {
    #[serde(default)]
    pub reference_store_id: String,
    #[serde(default)]
    pub store_name: String,
    /// One doc example spells it `storeMcc`; the field list and SDKs say `storeMCC`.
    #[serde(default, rename = "storeMCC")]
    pub store_mcc: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_terminal_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_operator_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_address: Option<Address>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_phone_no: Option<String>,
}

impl Store {
    fn check(&self, path: &str) -> Checked {
        if *self == Store::default() {
            return Err(ValidationError::new(path, "is required"));
        }
        validate::required_max(
            &join(path, "referenceStoreId"),
            &self.reference_store_id,
            32,
        )?;
        validate::required(&join(path, "storeName"), &self.store_name)?;
        validate::required(&join(path, "storeMCC"), &self.store_mcc)?;
        validate::optional_address(&join(path, "storeAddress"), self.store_address.as_ref())
    }
}

wire_enum! {
    /// `env.terminalType`.
    pub enum TerminalType {
        Web = "WEB",
        Wap = "WAP",
        App = "APP",
        MiniApp = "MINI_APP",
    }
}

wire_enum! {
    /// `env.osType`.
    pub enum OsType {
        Ios = "IOS",
        Android = "ANDROID",
    }
}

/// `env` (in-store: `order.env`): where the request comes from. Which members are required
/// depends on the scenario (see `PayRequest`'s validation).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Env {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_terminal_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_terminal_request_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminal_type: Option<TerminalType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_type: Option<OsType>,
    /// Entry Code: the User-Agent of the wallet's in-app browser.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_token_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extend_info: Option<String>,
}

/// `Address`. `label` appears on registration store addresses only.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    /// ISO 3166 alpha-2; the one required member.
    #[serde(default)]
    pub region: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address2: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zip_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// `order.goods[]` (at most 100 entries, online spec).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Goods {
    #[serde(default)]
    pub reference_goods_id: String,
    #[serde(default)]
    pub goods_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goods_category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goods_brand: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goods_unit_amount: Option<Amount>,
    /// A decimal count as a string, like every scalar on the wire.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goods_quantity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goods_sku_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_method_type: Option<String>,
}

impl Goods {
    fn check(&self, path: &str) -> Checked {
        validate::required_max(
            &join(path, "referenceGoodsId"),
            &self.reference_goods_id,
            64,
        )?;
        validate::required_max(&join(path, "goodsName"), &self.goods_name, 256)?;
        validate::optional_max(
            &join(path, "goodsCategory"),
            self.goods_category.as_deref(),
            64,
        )?;
        validate::optional_amount(
            &join(path, "goodsUnitAmount"),
            self.goods_unit_amount.as_ref(),
        )?;
        validate::optional_max(
            &join(path, "deliveryMethodType"),
            self.delivery_method_type.as_deref(),
            32,
        )
    }
}

/// `order.buyer`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Buyer {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_buyer_id: Option<String>,
    /// An object in the online spec (`firstName`, `lastName`, ...); its in-store shape is
    /// not documented, so it is carried as raw JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buyer_name: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buyer_phone_no: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buyer_email: Option<String>,
}

impl Buyer {
    fn check(&self, path: &str) -> Checked {
        validate::optional_max(
            &join(path, "referenceBuyerId"),
            self.reference_buyer_id.as_deref(),
            64,
        )?;
        validate::optional_max(
            &join(path, "buyerPhoneNo"),
            self.buyer_phone_no.as_deref(),
            24,
        )?;
        validate::optional_max(&join(path, "buyerEmail"), self.buyer_email.as_deref(), 64)
    }
}

/// `pspCustomerInfo`: the wallet and customer that paid, when the wallet shares them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PspCustomerInfo {
    /// e.g. `ALIPAYCN`, `ALIPAYHK`, `GCASH`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psp_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psp_customer_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_customer_id: Option<String>,
}

impl PspCustomerInfo {
    pub(crate) fn check(&self, path: &str) -> Checked {
        validate::optional_max(&join(path, "pspName"), self.psp_name.as_deref(), 64)?;
        validate::optional_max(
            &join(path, "pspCustomerId"),
            self.psp_customer_id.as_deref(),
            64,
        )?;
        validate::optional_max(
            &join(path, "displayCustomerId"),
            self.display_customer_id.as_deref(),
            64,
        )
    }
}

/// `Quote`: an FX rate (`paymentQuote`, `settlementQuote`). Informational for the POS.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Quote {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quote_id: Option<String>,
    /// e.g. `"446/156"` (numeric ISO 4217 codes in SDK mocks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quote_currency_pair: Option<String>,
    /// A JSON number in SDK mocks, a string per the general rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quote_price: Option<Scalar>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quote_start_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quote_expiry_time: Option<String>,
    /// A JSON boolean in SDK mocks, a string per the general rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guaranteed: Option<Scalar>,
}

/// `settlementStrategy`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettlementStrategy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settlement_currency: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount(json: &str) -> Result<Amount, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn amount_value_accepts_string_or_number_and_writes_a_string() {
        let a = amount(r#"{"currency":"USD","value":"1250"}"#).unwrap();
        assert_eq!(a, Amount::new("USD", 1250));
        let b = amount(r#"{"currency":"USD","value":1250}"#).unwrap();
        assert_eq!(b, a);
        assert_eq!(
            serde_json::to_string(&b).unwrap(),
            r#"{"currency":"USD","value":"1250"}"#
        );
        let big = amount(r#"{"currency":"KRW","value":"18446744073709551615"}"#).unwrap();
        assert_eq!(big.value, u64::MAX);
        let padded = amount(r#"{"currency":"USD","value":"0100"}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&padded).unwrap(),
            r#"{"currency":"USD","value":"100"}"#
        );
    }

    #[test]
    fn amount_value_rejects_non_integers() {
        for (json, needle) in [
            (r#"{"currency":"USD","value":"12.50"}"#, "not an integer"),
            (r#"{"currency":"USD","value":"-5"}"#, "negative"),
            (r#"{"currency":"USD","value":"12a"}"#, "other than digits"),
            (r#"{"currency":"USD","value":" 12"}"#, "other than digits"),
            (r#"{"currency":"USD","value":"+12"}"#, "other than digits"),
            (r#"{"currency":"USD","value":"1e3"}"#, "other than digits"),
            (r#"{"currency":"USD","value":""}"#, "empty"),
            (
                r#"{"currency":"USD","value":"18446744073709551616"}"#,
                "too large",
            ),
            (r#"{"currency":"USD","value":12.5}"#, "not an integer"),
            (r#"{"currency":"USD","value":12.0}"#, "not an integer"),
            (r#"{"currency":"USD","value":-5}"#, "negative"),
            (r#"{"currency":"USD","value":true}"#, "smallest unit"),
            (r#"{"currency":"USD","value":null}"#, "smallest unit"),
            (r#"{"currency":"USD"}"#, "missing field `value`"),
        ] {
            let err = amount(json).expect_err(json).to_string();
            assert!(err.contains(needle), "{json}: {err}");
        }
    }

    #[test]
    fn scalar_keeps_its_json_type() {
        let q: Quote = serde_json::from_str(
            r#"{"quotePrice":7.1234,"guaranteed":true,"quoteCurrencyPair":"USD/CNY"}"#,
        )
        .unwrap();
        assert_eq!(
            q.quote_price.as_ref().and_then(Scalar::as_f64),
            Some(7.1234)
        );
        assert_eq!(q.guaranteed.as_ref().and_then(Scalar::as_bool), Some(true));
        assert_eq!(
            serde_json::to_string(&q).unwrap(),
            r#"{"quoteCurrencyPair":"USD/CNY","quotePrice":7.1234,"guaranteed":true}"#
        );
        let q: Quote =
            serde_json::from_str(r#"{"quotePrice":"7.1234","guaranteed":"false"}"#).unwrap();
        assert_eq!(
            q.quote_price.as_ref().map(Scalar::to_text).as_deref(),
            Some("7.1234")
        );
        assert_eq!(q.guaranteed.as_ref().and_then(Scalar::as_bool), Some(false));
    }

    #[test]
    fn renamed_fields_use_the_reference_spelling() {
        let m = Merchant {
            merchant_mcc: "5814".into(),
            store: Store {
                store_mcc: "5812".into(),
                ..Store::default()
            },
            ..Merchant::default()
        };
        let json = serde_json::to_string(&m).unwrap();
        assert!(json.contains(r#""merchantMCC":"5814""#), "{json}");
        assert!(json.contains(r#""storeMCC":"5812""#), "{json}");
    }
}
