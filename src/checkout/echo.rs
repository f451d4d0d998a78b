//! Answers must be about what was asked.
//!
//! An AMS signature covers the path, the client id, the time and the body, not the request
//! it answers. A replayed or substituted signed answer (a hostile proxy, a broken cache)
//! therefore verifies, and an inquiry answer for *another* payment of the same price would
//! otherwise mark this one paid. So every id an answer echoes is compared with the id that
//! was asked; an answer naming another payment or refund is unknown, logged, and never
//! applied.
//!
//! An id the answer leaves out is tolerated: order-code.md lists the echoed ids as plain
//! response fields and says to fall back to `paymentRequestId` when `paymentId` is
//! missing, so absence is not evidence of a substitution. A *different* id is.

use crate::ams::client::{Outcome, UnknownReason};
use crate::ams::models::{
    CancelResponse, InquiryPaymentResponse, InquiryRefundResponse, PayResponse, RefundResponse,
};
use crate::journal::PaymentRecord;

/// The ids an answer names, by their wire field names.
pub(super) trait Echoes {
    fn echoed(&self) -> [(&'static str, Option<&str>); 2];
}

impl Echoes for PayResponse {
    fn echoed(&self) -> [(&'static str, Option<&str>); 2] {
        [
            ("paymentRequestId", self.payment_request_id.as_deref()),
            ("paymentId", self.payment_id.as_deref()),
        ]
    }
}

impl Echoes for InquiryPaymentResponse {
    fn echoed(&self) -> [(&'static str, Option<&str>); 2] {
        [
            ("paymentRequestId", self.payment_request_id.as_deref()),
            ("paymentId", self.payment_id.as_deref()),
        ]
    }
}

impl Echoes for CancelResponse {
    fn echoed(&self) -> [(&'static str, Option<&str>); 2] {
        [
            ("paymentRequestId", self.payment_request_id.as_deref()),
            ("paymentId", self.payment_id.as_deref()),
        ]
    }
}

impl Echoes for RefundResponse {
    fn echoed(&self) -> [(&'static str, Option<&str>); 2] {
        [
            ("refundRequestId", self.refund_request_id.as_deref()),
            ("paymentId", self.payment_id.as_deref()),
        ]
    }
}

impl Echoes for InquiryRefundResponse {
    fn echoed(&self) -> [(&'static str, Option<&str>); 2] {
        [
            ("refundRequestId", self.refund_request_id.as_deref()),
            ("refundId", self.refund_id.as_deref()),
        ]
    }
}

/// The ids an answer about `record` must echo: ours always, Alipay's once we know it.
pub(super) fn payment_ids(record: &PaymentRecord) -> Vec<(&'static str, &str)> {
    let mut ids = vec![("paymentRequestId", record.payment_request_id.as_str())];
    if let Some(payment_id) = record.payment_id.as_deref() {
        ids.push(("paymentId", payment_id));
    }
    ids
}

/// `outcome`, unless it is a success that names another id than `asked` (field, value)
/// says: then it becomes unknown. Ids we do not know yet (a `paymentId` before the first
/// answer) are simply not in `asked`.
pub(super) fn about<T: Echoes>(outcome: Outcome<T>, asked: &[(&'static str, &str)]) -> Outcome<T> {
    let Outcome::Success(response) = &outcome else {
        return outcome;
    };
    for (field, echoed) in response.echoed() {
        let Some(echoed) = echoed else { continue };
        let Some((_, expected)) = asked.iter().find(|(name, _)| *name == field) else {
            continue;
        };
        if echoed != *expected {
            tracing::error!(
                field,
                asked = expected,
                echoed,
                "a signed answer names another payment or refund; not applied"
            );
            return Outcome::Unknown(UnknownReason::EchoMismatch {
                field,
                asked: (*expected).to_string(),
                echoed: echoed.to_string(),
            });
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ams::models::ResultInfo;

    fn inquiry(request_id: Option<&str>, payment_id: Option<&str>) -> InquiryPaymentResponse {
        let mut response: InquiryPaymentResponse =
            serde_json::from_value(serde_json::json!({"result": ResultInfo::success()})).unwrap();
        response.payment_request_id = request_id.map(str::to_string);
        response.payment_id = payment_id.map(str::to_string);
        response
    }

    #[test]
    fn a_success_about_another_payment_is_unknown() {
        let asked = [("paymentRequestId", "P1"), ("paymentId", "A1")];
        let same = about(Outcome::Success(inquiry(Some("P1"), Some("A1"))), &asked);
        assert!(same.is_success());
        let other = about(Outcome::Success(inquiry(Some("P2"), Some("A1"))), &asked);
        assert!(matches!(
            other,
            Outcome::Unknown(UnknownReason::EchoMismatch { field: "paymentRequestId", ref echoed, .. }) if echoed == "P2"
        ));
        let other_alipay_id = about(Outcome::Success(inquiry(Some("P1"), Some("A2"))), &asked);
        assert!(matches!(
            other_alipay_id,
            Outcome::Unknown(UnknownReason::EchoMismatch {
                field: "paymentId",
                ..
            })
        ));
    }

    #[test]
    fn missing_ids_and_ids_not_asked_about_are_tolerated() {
        let asked = [("paymentRequestId", "P1")];
        assert!(about(Outcome::Success(inquiry(None, None)), &asked).is_success());
        // Alipay's paymentId is learnt from this very answer.
        assert!(about(Outcome::Success(inquiry(Some("P1"), Some("A9"))), &asked).is_success());
        let failed: Outcome<InquiryPaymentResponse> = Outcome::Failed {
            code: "ORDER_NOT_EXIST".into(),
            message: String::new(),
        };
        assert!(matches!(about(failed, &asked), Outcome::Failed { .. }));
    }
}
