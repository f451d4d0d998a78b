//! `pay` (Order Code, Entry Code, User-presented), `inquiryPayment` and `cancel`.

use serde::{Deserialize, Serialize};

use super::common::{
    Amount, CONNECT_WALLET, Env, IN_STORE_PAYMENT, Order, PspCustomerInfo, Quote, ResultInfo,
    SettlementStrategy,
};
use super::validate::{self, Checked, Validate, ValidationError};

wire_enum! {
    /// `paymentFactor.inStorePaymentScenario`: which in-store product a `pay` is.
    pub enum InStorePaymentScenario {
        /// Merchant shows a dynamic QR built from the returned order code.
        OrderCode = "OrderCode",
        /// Customer scanned a static store code; a merchant web page calls `pay`.
        EntryCode = "EntryCode",
        /// Merchant scans the customer's payment code (user-presented mode).
        PaymentCode = "PaymentCode",
    }
}

/// `paymentMethod`. For in-store payments the type is always [`CONNECT_WALLET`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentMethod {
    #[serde(default)]
    pub payment_method_type: String,
    /// User-presented mode only: the scanned payment code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_method_id: Option<String>,
}

/// `paymentFactor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentFactor {
    pub in_store_payment_scenario: InStorePaymentScenario,
}

/// `pay` request, for all three in-store scenarios.
///
/// Field order follows the signing test vector (an Order Code request); the SDKs place
/// `paymentNotifyUrl` elsewhere for the other scenarios, which is immaterial to AMS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayRequest {
    #[serde(default)]
    pub product_code: String,
    #[serde(default)]
    pub payment_request_id: String,
    #[serde(default)]
    pub order: Order,
    #[serde(default)]
    pub payment_amount: Amount,
    #[serde(default)]
    pub payment_method: PaymentMethod,
    /// Optional in the docs but what makes Alipay pick the product; always sent, and
    /// required by [`Validate`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_factor: Option<PaymentFactor>,
    /// Marked required for Order Code in the docs; left out when the terminal has no
    /// `payment.notify_url` and relies on polling. Optional in the SDKs' Entry Code and
    /// User-presented bodies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_notify_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_expiry_time: Option<String>,
    /// Entry Code: where the wallet goes after paying. Refused for User-presented.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_redirect_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settlement_strategy: Option<SettlementStrategy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_region: Option<String>,
    /// Top-level `env` exists in SDK models; in-store docs use `order.env`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<Env>,
}

impl PayRequest {
    fn in_store(
        payment_request_id: impl Into<String>,
        order: Order,
        payment_amount: Amount,
        scenario: InStorePaymentScenario,
        payment_method_id: Option<String>,
    ) -> Self {
        Self {
            product_code: IN_STORE_PAYMENT.to_owned(),
            payment_request_id: payment_request_id.into(),
            order,
            payment_amount,
            payment_method: PaymentMethod {
                payment_method_type: CONNECT_WALLET.to_owned(),
                payment_method_id,
            },
            payment_factor: Some(PaymentFactor {
                in_store_payment_scenario: scenario,
            }),
            payment_notify_url: None,
            payment_expiry_time: None,
            payment_redirect_url: None,
            settlement_strategy: None,
            merchant_region: None,
            env: None,
        }
    }

    /// Order Code: Alipay returns a code for the POS to show as a QR.
    pub fn order_code(
        payment_request_id: impl Into<String>,
        order: Order,
        payment_amount: Amount,
        payment_notify_url: impl Into<String>,
    ) -> Self {
        let mut r = Self::order_code_polled(payment_request_id, order, payment_amount);
        r.payment_notify_url = Some(payment_notify_url.into());
        r
    }

    /// Order Code without `paymentNotifyUrl`: for a terminal that cannot receive
    /// notifications and learns the result by polling `inquiryPayment`.
    pub fn order_code_polled(
        payment_request_id: impl Into<String>,
        order: Order,
        payment_amount: Amount,
    ) -> Self {
        Self::in_store(
            payment_request_id,
            order,
            payment_amount,
            InStorePaymentScenario::OrderCode,
            None,
        )
    }

    /// Entry Code: `order.env.userAgent` must carry the wallet browser's User-Agent.
    pub fn entry_code(
        payment_request_id: impl Into<String>,
        order: Order,
        payment_amount: Amount,
    ) -> Self {
        Self::in_store(
            payment_request_id,
            order,
            payment_amount,
            InStorePaymentScenario::EntryCode,
            None,
        )
    }

    /// User-presented mode: `payment_code` is the customer's scanned barcode; `order.env`
    /// must carry `storeTerminalId` and `storeTerminalRequestTime`.
    pub fn user_presented(
        payment_request_id: impl Into<String>,
        order: Order,
        payment_amount: Amount,
        payment_code: impl Into<String>,
    ) -> Self {
        Self::in_store(
            payment_request_id,
            order,
            payment_amount,
            InStorePaymentScenario::PaymentCode,
            Some(payment_code.into()),
        )
    }

    pub fn scenario(&self) -> Option<&InStorePaymentScenario> {
        self.payment_factor
            .as_ref()
            .map(|f| &f.in_store_payment_scenario)
    }
}

impl Validate for PayRequest {
    fn validate(&self) -> Checked {
        validate::equals("productCode", &self.product_code, IN_STORE_PAYMENT)?;
        validate::request_id("paymentRequestId", &self.payment_request_id)?;
        self.order.check("order")?;
        validate::amount("paymentAmount", &self.payment_amount)?;
        validate::equals(
            "paymentMethod.paymentMethodType",
            &self.payment_method.payment_method_type,
            CONNECT_WALLET,
        )?;
        validate::optional_max(
            "paymentMethod.paymentMethodId",
            self.payment_method.payment_method_id.as_deref(),
            128,
        )?;
        let factor = validate::present("paymentFactor", self.payment_factor.as_ref())?;
        let scenario = &factor.in_store_payment_scenario;
        validate::recognized(
            "paymentFactor.inStorePaymentScenario",
            scenario.is_recognized(),
            scenario.as_str(),
        )?;
        validate::optional_url("paymentNotifyUrl", self.payment_notify_url.as_deref())?;
        validate::optional_datetime("paymentExpiryTime", self.payment_expiry_time.as_deref())?;
        validate::optional_url("paymentRedirectUrl", self.payment_redirect_url.as_deref())?;
        if let Some(s) = &self.settlement_strategy
            && let Some(c) = &s.settlement_currency
        {
            validate::upper_letters("settlementStrategy.settlementCurrency", c, 3)?;
        }
        if let Some(region) = &self.merchant_region {
            validate::upper_letters("merchantRegion", region, 2)?;
        }
        if let Some(env) = &self.env {
            validate::env("env", env)?;
        }
        self.check_scenario_rules(scenario)
    }
}

impl PayRequest {
    /// The per-product differences listed in other-products.md.
    fn check_scenario_rules(&self, scenario: &InStorePaymentScenario) -> Checked {
        let method_id = self.payment_method.payment_method_id.as_deref();
        match scenario {
            InStorePaymentScenario::OrderCode | InStorePaymentScenario::EntryCode => {
                if method_id.is_some() {
                    return Err(ValidationError::new(
                        "paymentMethod.paymentMethodId",
                        format!("must be absent for {scenario}"),
                    ));
                }
            }
            InStorePaymentScenario::PaymentCode => {
                validate::present("paymentMethod.paymentMethodId", method_id)?;
            }
            InStorePaymentScenario::Unrecognized(_) => {}
        }
        match scenario {
            // paymentNotifyUrl is marked required in the Order Code docs, yet it is left
            // optional here: a terminal with no public URL omits it and polls, and Alipay
            // can use the notification URL set in its dashboard. Sending a URL that leads
            // nowhere would be worse than sending none (README, `payment.notify_url`).
            InStorePaymentScenario::OrderCode => {}
            InStorePaymentScenario::EntryCode => {
                let env = validate::present("order.env", self.order.env.as_ref())?;
                validate::required(
                    "order.env.userAgent",
                    validate::present("order.env.userAgent", env.user_agent.as_ref())?,
                )?;
            }
            InStorePaymentScenario::PaymentCode => {
                let env = validate::present("order.env", self.order.env.as_ref())?;
                validate::required(
                    "order.env.storeTerminalId",
                    validate::present("order.env.storeTerminalId", env.store_terminal_id.as_ref())?,
                )?;
                validate::present(
                    "order.env.storeTerminalRequestTime",
                    env.store_terminal_request_time.as_ref(),
                )?;
                if self.payment_redirect_url.is_some() {
                    return Err(ValidationError::new(
                        "paymentRedirectUrl",
                        "must be absent for PaymentCode",
                    ));
                }
            }
            InStorePaymentScenario::Unrecognized(_) => {}
        }
        Ok(())
    }
}

wire_enum! {
    /// `codeDetails[].codeValueType`.
    pub enum CodeValueType {
        QrCode = "QRCODE",
        BarCode = "BARCODE",
    }
}

wire_enum! {
    /// `codeDetails[].displayType`: `TEXT` carries the code text to render; the image types
    /// carry an image URL or base64 image. `IMAGE` is in SDK enums only.
    pub enum DisplayType {
        Text = "TEXT",
        SmallImage = "SMALLIMAGE",
        MiddleImage = "MIDDLEIMAGE",
        BigImage = "BIGIMAGE",
        Image = "IMAGE",
    }
}

/// One rendering of the order code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CodeDetail {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_value_type: Option<CodeValueType>,
    pub code_value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_type: Option<DisplayType>,
}

/// `orderCodeForm`: required in an Order Code `pay` response with `S`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderCodeForm {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_method_type: Option<String>,
    /// When the code stops being payable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expire_time: Option<String>,
    /// At most 4 entries (online spec).
    #[serde(default)]
    pub code_details: Vec<CodeDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extend_info: Option<String>,
}

impl OrderCodeForm {
    /// The code text the POS should render itself, as ams-java-sdk does: the `TEXT` entry,
    /// preferring a `QRCODE` one (the POS draws a QR; a `BARCODE` text is only used when
    /// nothing else is offered).
    pub fn text_code_value(&self) -> Option<&str> {
        let text = |d: &&CodeDetail| d.display_type == Some(DisplayType::Text);
        self.code_details
            .iter()
            .filter(text)
            .find(|d| d.code_value_type == Some(CodeValueType::QrCode))
            .or_else(|| self.code_details.iter().find(text))
            .map(|d| d.code_value.as_str())
    }
}

/// `redirectActionForm`: Entry Code's answer; the merchant page sends the customer to
/// `redirectUrl` to confirm in the wallet.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedirectActionForm {
    /// `SCAN` in the docs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
}

/// `pay` response. Which payload is present depends on the scenario: `orderCodeForm`
/// (Order Code), `redirectActionForm` (Entry Code), or the payment itself (User-presented:
/// `paymentTime`, `pspCustomerInfo`, `actualPaymentAmount`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayResponse {
    pub result: ResultInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_request_id: Option<String>,
    /// When absent, inquire and cancel by `paymentRequestId`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_amount: Option<Amount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_create_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_code_form: Option<OrderCodeForm>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_action_form: Option<RedirectActionForm>,
    /// Listed on the page, never expected in store; carried as raw JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub challenge_action_form: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psp_customer_info: Option<PspCustomerInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual_payment_amount: Option<Amount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_quote: Option<Quote>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gross_settlement_amount: Option<Amount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settlement_quote: Option<Quote>,
}

impl PayResponse {
    /// A response carrying only `result` (failures, `U`), which is what Alipay sends then.
    pub fn from_result(result: ResultInfo) -> Self {
        Self {
            result,
            payment_request_id: None,
            payment_id: None,
            payment_amount: None,
            payment_create_time: None,
            payment_time: None,
            order_code_form: None,
            redirect_action_form: None,
            challenge_action_form: None,
            psp_customer_info: None,
            actual_payment_amount: None,
            payment_quote: None,
            gross_settlement_amount: None,
            settlement_quote: None,
        }
    }
}

/// `inquiryPayment` request: `paymentId` wins when both are given; after a `pay` timeout
/// only `paymentRequestId` is known.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InquiryPaymentRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
}

impl InquiryPaymentRequest {
    pub fn by_payment_request_id(id: impl Into<String>) -> Self {
        Self {
            payment_request_id: Some(id.into()),
            payment_id: None,
        }
    }

    pub fn by_payment_id(id: impl Into<String>) -> Self {
        Self {
            payment_request_id: None,
            payment_id: Some(id.into()),
        }
    }
}

/// Shared by inquiry and cancel: either id identifies the payment.
fn check_payment_ids(payment_id: Option<&str>, payment_request_id: Option<&str>) -> Checked {
    validate::one_of(
        ("paymentId", payment_id),
        ("paymentRequestId", payment_request_id),
    )?;
    validate::optional_max("paymentId", payment_id, 64)?;
    validate::optional_max("paymentRequestId", payment_request_id, 64)
}

impl Validate for InquiryPaymentRequest {
    fn validate(&self) -> Checked {
        check_payment_ids(
            self.payment_id.as_deref(),
            self.payment_request_id.as_deref(),
        )
    }
}

wire_enum! {
    /// `paymentStatus` of `inquiryPayment`.
    ///
    /// An unrecognized value is neither final nor success: the caller keeps polling and
    /// eventually cancels, the safe path when the state is not understood.
    pub enum PaymentStatus {
        Success = "SUCCESS",
        Fail = "FAIL",
        Processing = "PROCESSING",
        Cancelled = "CANCELLED",
        /// Online products only: the user is done, the final result is pending.
        Pending = "PENDING",
    }
}

impl PaymentStatus {
    /// `SUCCESS`, `FAIL` or `CANCELLED`: polling can stop.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            PaymentStatus::Success | PaymentStatus::Fail | PaymentStatus::Cancelled
        )
    }
}

/// `inquiryPayment` response. `result` S only means the query worked; the payment's state
/// is `paymentStatus`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InquiryPaymentResponse {
    pub result: ResultInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_status: Option<PaymentStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_result_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_result_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_amount: Option<Amount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual_payment_amount: Option<Amount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_quote: Option<Quote>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_create_time: Option<String>,
    /// Time of final success/failure; refund and cancel windows count from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_expiry_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psp_customer_info: Option<PspCustomerInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_action_form: Option<RedirectActionForm>,
    /// Not described for in-store; carried as raw JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transactions: Option<Vec<serde_json::Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gross_settlement_amount: Option<Amount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settlement_quote: Option<Quote>,
}

impl InquiryPaymentResponse {
    pub fn from_result(result: ResultInfo) -> Self {
        Self {
            result,
            payment_status: None,
            payment_result_code: None,
            payment_result_message: None,
            payment_request_id: None,
            payment_id: None,
            payment_amount: None,
            actual_payment_amount: None,
            payment_quote: None,
            payment_create_time: None,
            payment_time: None,
            auth_expiry_time: None,
            psp_customer_info: None,
            redirect_action_form: None,
            transactions: None,
            gross_settlement_amount: None,
            settlement_quote: None,
        }
    }
}

/// `cancel` request: full cancellation of the payment named by either id (`paymentId`
/// wins).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_request_id: Option<String>,
}

impl CancelRequest {
    pub fn by_payment_request_id(id: impl Into<String>) -> Self {
        Self {
            payment_id: None,
            payment_request_id: Some(id.into()),
        }
    }

    pub fn by_payment_id(id: impl Into<String>) -> Self {
        Self {
            payment_id: Some(id.into()),
            payment_request_id: None,
        }
    }
}

impl Validate for CancelRequest {
    fn validate(&self) -> Checked {
        check_payment_ids(
            self.payment_id.as_deref(),
            self.payment_request_id.as_deref(),
        )
    }
}

/// `cancel` response; `cancelTime` only when the cancellation succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelResponse {
    pub result: ResultInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel_time: Option<String>,
}

impl CancelResponse {
    pub fn from_result(result: ResultInfo) -> Self {
        Self {
            result,
            payment_id: None,
            payment_request_id: None,
            cancel_time: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(t: CodeValueType, d: DisplayType, v: &str) -> CodeDetail {
        CodeDetail {
            code_value_type: Some(t),
            code_value: v.into(),
            display_type: Some(d),
        }
    }

    #[test]
    fn text_code_value_prefers_the_qr_text_entry() {
        let form = OrderCodeForm {
            code_details: vec![
                detail(
                    CodeValueType::QrCode,
                    DisplayType::BigImage,
                    "https://img/1.png",
                ),
                detail(CodeValueType::BarCode, DisplayType::Text, "2810"),
                detail(CodeValueType::QrCode, DisplayType::Text, "https://qr/1"),
            ],
            ..OrderCodeForm::default()
        };
        assert_eq!(form.text_code_value(), Some("https://qr/1"));

        let form = OrderCodeForm {
            code_details: vec![detail(CodeValueType::BarCode, DisplayType::Text, "2810")],
            ..OrderCodeForm::default()
        };
        assert_eq!(form.text_code_value(), Some("2810"));

        let form = OrderCodeForm {
            code_details: vec![detail(
                CodeValueType::QrCode,
                DisplayType::SmallImage,
                "https://img/1.png",
            )],
            ..OrderCodeForm::default()
        };
        assert_eq!(form.text_code_value(), None);
        assert_eq!(OrderCodeForm::default().text_code_value(), None);
    }

    #[test]
    fn result_only_responses_serialize_just_the_result() {
        let r = PayResponse::from_result(ResultInfo::unknown("PAYMENT_IN_PROCESS", "in process"));
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"result":{"resultCode":"PAYMENT_IN_PROCESS","resultStatus":"U","resultMessage":"in process"}}"#
        );
        let r = InquiryPaymentResponse::from_result(ResultInfo::failed("ORDER_NOT_EXIST", "x"));
        assert_eq!(
            serde_json::to_value(&r).unwrap().as_object().unwrap().len(),
            1
        );
        let r = CancelResponse::from_result(ResultInfo::success());
        assert_eq!(
            serde_json::to_value(&r).unwrap().as_object().unwrap().len(),
            1
        );
    }

    #[test]
    fn payment_status_finality() {
        assert!(PaymentStatus::Success.is_final());
        assert!(PaymentStatus::Fail.is_final());
        assert!(PaymentStatus::Cancelled.is_final());
        assert!(!PaymentStatus::Processing.is_final());
        assert!(!PaymentStatus::Pending.is_final());
        assert_eq!(PaymentStatus::from("CANCELLED"), PaymentStatus::Cancelled);
    }
}
