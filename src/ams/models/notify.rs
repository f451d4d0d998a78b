//! Alipay-to-merchant notifications and the merchant's fixed acknowledgement.

use serde::{Deserialize, Serialize};

use super::common::{Amount, PspCustomerInfo, Quote, ResultCode, ResultInfo, ResultStatus};
use super::registration::{PspRegistrationResult, RegistrationResult};
use super::validate::{self, Checked, Validate};

wire_enum! {
    /// `notifyType` of `notifyPayment`.
    pub enum NotifyType {
        PaymentResult = "PAYMENT_RESULT",
        /// Listed on the in-store page only.
        OfflinePaymentCode = "OFFLINE_PAYMENT_CODE",
    }
}

/// `notifyPayment` body. In store it is sent only on success, so the POS must never wait
/// for a failure notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotifyPaymentRequest {
    pub notify_type: NotifyType,
    /// Always sent in practice but not marked required on the in-store page; kept optional
    /// so a body without it still parses, and refused by [`Validate`] because without it
    /// the notification proves nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<ResultInfo>,
    #[serde(default)]
    pub payment_request_id: String,
    #[serde(default)]
    pub payment_id: String,
    /// Compare with what was asked before treating the payment as done.
    #[serde(default)]
    pub payment_amount: Amount,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_create_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_time: Option<String>,
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

impl NotifyPaymentRequest {
    /// True only for a `PAYMENT_RESULT` with `result` exactly `S`.
    pub fn is_success(&self) -> bool {
        self.notify_type == NotifyType::PaymentResult
            && self.result.as_ref().is_some_and(ResultInfo::is_success)
    }
}

impl Validate for NotifyPaymentRequest {
    fn validate(&self) -> Checked {
        validate::recognized(
            "notifyType",
            self.notify_type.is_recognized(),
            self.notify_type.as_str(),
        )?;
        validate::present("result", self.result.as_ref())?;
        validate::required_max("paymentRequestId", &self.payment_request_id, 64)?;
        validate::required_max("paymentId", &self.payment_id, 64)?;
        validate::amount("paymentAmount", &self.payment_amount)?;
        validate::optional_datetime("paymentCreateTime", self.payment_create_time.as_deref())?;
        validate::optional_datetime("paymentTime", self.payment_time.as_deref())?;
        if let Some(info) = &self.psp_customer_info {
            info.check("pspCustomerInfo")?;
        }
        validate::optional_amount("actualPaymentAmount", self.actual_payment_amount.as_ref())?;
        validate::optional_amount(
            "grossSettlementAmount",
            self.gross_settlement_amount.as_ref(),
        )
    }
}

/// `notifyRegistrationStatus` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotifyRegistrationStatusRequest {
    /// De-duplication key.
    #[serde(default)]
    pub registration_request_id: String,
    #[serde(default)]
    pub reference_merchant_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_store_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psp_registration_result_list: Option<Vec<PspRegistrationResult>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_result: Option<RegistrationResult>,
}

impl Validate for NotifyRegistrationStatusRequest {
    fn validate(&self) -> Checked {
        validate::required_max("registrationRequestId", &self.registration_request_id, 64)?;
        validate::required_max("referenceMerchantId", &self.reference_merchant_id, 64)?;
        validate::optional_max("referenceStoreId", self.reference_store_id.as_deref(), 32)
    }
}

/// The merchant's answer to a notification (HTTP 200, unsigned).
///
/// Alipay stops resending only on the fixed success text; anything else (including
/// [`NotificationAck::please_resend`]) makes it try again later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationAck {
    pub result: ResultInfo,
}

const ACK_SUCCESS_JSON: &str =
    r#"{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"}}"#;
const ACK_RETRY_JSON: &str = r#"{"result":{"resultCode":"UNKNOWN_EXCEPTION","resultStatus":"U","resultMessage":"UNKNOWN_EXCEPTION"}}"#;

impl NotificationAck {
    /// The documented acknowledgement, byte for byte (note: `success` without a period,
    /// unlike API responses).
    pub fn success_json() -> &'static str {
        ACK_SUCCESS_JSON
    }

    /// "Please resend", as ams-java-sdk answers when it cannot verify a notification.
    pub fn retry_json() -> &'static str {
        ACK_RETRY_JSON
    }

    pub fn success() -> Self {
        Self {
            result: ResultInfo {
                result_code: ResultCode::Success,
                result_status: ResultStatus::S,
                result_message: Some("success".to_owned()),
            },
        }
    }

    /// A `U` answer with a free-text reason, so that Alipay resends.
    pub fn please_resend(message: impl Into<String>) -> Self {
        Self {
            result: ResultInfo::unknown(ResultCode::UnknownException, message),
        }
    }

    /// How the simulator judges an answer: `SUCCESS`/`S`. The docs only say "the fixed
    /// message"; the message text is not compared, since it is free text elsewhere.
    pub fn is_acknowledged(&self) -> bool {
        self.result.is_success() && self.result.result_code == ResultCode::Success
    }
}
