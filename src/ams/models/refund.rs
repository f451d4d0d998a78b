//! `refund` and `inquiryRefund`.

use serde::{Deserialize, Serialize};

use super::common::{Amount, Quote, ResultInfo};
use super::validate::{self, Checked, Validate};

/// `refund` request. Idempotent on `refundRequestId`: a retry after `U` must resend the
/// same id and amount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundRequest {
    #[serde(default)]
    pub refund_request_id: String,
    /// The paid payment's `paymentId` (a `paymentRequestId` is not accepted here).
    #[serde(default)]
    pub payment_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_refund_id: Option<String>,
    #[serde(default)]
    pub refund_amount: Amount,
    /// Not in the docs; ams-java-sdk sends the current time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_request_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_reason: Option<String>,
}

impl RefundRequest {
    pub fn new(
        refund_request_id: impl Into<String>,
        payment_id: impl Into<String>,
        refund_amount: Amount,
    ) -> Self {
        Self {
            refund_request_id: refund_request_id.into(),
            payment_id: payment_id.into(),
            reference_refund_id: None,
            refund_amount,
            refund_request_time: None,
            refund_reason: None,
        }
    }
}

impl Validate for RefundRequest {
    fn validate(&self) -> Checked {
        validate::request_id("refundRequestId", &self.refund_request_id)?;
        validate::required_max("paymentId", &self.payment_id, 64)?;
        validate::optional_max("referenceRefundId", self.reference_refund_id.as_deref(), 64)?;
        validate::amount("refundAmount", &self.refund_amount)?;
        validate::optional_datetime("refundRequestTime", self.refund_request_time.as_deref())?;
        validate::optional_max("refundReason", self.refund_reason.as_deref(), 256)
    }
}

/// `refund` response. For an asynchronous refund `S` means "accepted"; the outcome is then
/// read with `inquiryRefund`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundResponse {
    pub result: ResultInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_amount: Option<Amount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gross_settlement_amount: Option<Amount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settlement_quote: Option<Quote>,
}

impl RefundResponse {
    pub fn from_result(result: ResultInfo) -> Self {
        Self {
            result,
            refund_request_id: None,
            refund_id: None,
            payment_id: None,
            refund_amount: None,
            refund_time: None,
            gross_settlement_amount: None,
            settlement_quote: None,
        }
    }
}

/// `inquiryRefund` request: `refundId` wins when both are given; after a refund timeout
/// only `refundRequestId` is known.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InquiryRefundRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<String>,
}

impl InquiryRefundRequest {
    pub fn by_refund_request_id(id: impl Into<String>) -> Self {
        Self {
            refund_request_id: Some(id.into()),
            refund_id: None,
        }
    }

    pub fn by_refund_id(id: impl Into<String>) -> Self {
        Self {
            refund_request_id: None,
            refund_id: Some(id.into()),
        }
    }
}

impl Validate for InquiryRefundRequest {
    fn validate(&self) -> Checked {
        validate::one_of(
            ("refundId", self.refund_id.as_deref()),
            ("refundRequestId", self.refund_request_id.as_deref()),
        )?;
        validate::optional_max("refundRequestId", self.refund_request_id.as_deref(), 64)?;
        validate::optional_max("refundId", self.refund_id.as_deref(), 64)
    }
}

wire_enum! {
    /// `refundStatus` (Alipay's side; the wallet may credit later).
    ///
    /// An unrecognized value is neither final nor success: keep querying.
    pub enum RefundStatus {
        Success = "SUCCESS",
        Processing = "PROCESSING",
        Fail = "FAIL",
    }
}

impl RefundStatus {
    pub fn is_final(&self) -> bool {
        matches!(self, RefundStatus::Success | RefundStatus::Fail)
    }
}

/// `inquiryRefund` response; the refund fields are absent unless `result` is `S`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InquiryRefundResponse {
    pub result: ResultInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_amount: Option<Amount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_status: Option<RefundStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gross_settlement_amount: Option<Amount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settlement_quote: Option<Quote>,
}

impl InquiryRefundResponse {
    pub fn from_result(result: ResultInfo) -> Self {
        Self {
            result,
            refund_id: None,
            refund_request_id: None,
            refund_amount: None,
            refund_status: None,
            refund_time: None,
            gross_settlement_amount: None,
            settlement_quote: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refund_status_finality() {
        assert!(RefundStatus::Success.is_final());
        assert!(RefundStatus::Fail.is_final());
        assert!(!RefundStatus::Processing.is_final());
    }

    #[test]
    fn refund_constructor_serializes_in_reference_order() {
        let r = RefundRequest::new(
            "pos-r-1",
            "2025010119401080010018800000000000",
            Amount::new("USD", 500),
        );
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"refundRequestId":"pos-r-1","paymentId":"2025010119401080010018800000000000","refundAmount":{"currency":"USD","value":"500"}}"#
        );
        r.validate().unwrap();
    }
}
