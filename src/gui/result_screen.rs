//! What the result screen says about a payment: its kind and, for a failure, which plain
//! reason to show. Alipay's result codes are many and terse; a cashier needs to know what
//! to tell the customer, so codes are grouped here into a handful of reasons whose wording
//! (translated) lives in ui/pages/result.slint.

use crate::journal::PaymentState;

/// The result screen's kinds (mirrors `ResultKind` in ui/api.slint). Not to be confused
/// with `ams::client::Outcome` (Alipay's S/F/U answer to one call): this is what the
/// screen says about a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultScreen {
    Paid,
    Failed,
    Cancelled,
    /// Not final, or final but not known to the terminal yet.
    Unresolved,
}

impl ResultScreen {
    /// `None` while the payment is still being set up or on the customer's screen.
    pub fn of(state: PaymentState) -> Option<ResultScreen> {
        match state {
            PaymentState::Paid => Some(ResultScreen::Paid),
            PaymentState::Failed => Some(ResultScreen::Failed),
            PaymentState::Cancelled => Some(ResultScreen::Cancelled),
            PaymentState::Unresolved => Some(ResultScreen::Unresolved),
            PaymentState::Created | PaymentState::AwaitingCustomer | PaymentState::Cancelling => {
                None
            }
        }
    }
}

/// Why a payment failed (mirrors `FailReason` in ui/api.slint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Other,
    Balance,
    Expired,
    Risk,
    Limit,
    Currency,
    CustomerAccount,
    Setup,
    Request,
}

/// Groups an Alipay result code (from `pay`, `inquiryPayment` or a notification).
pub fn reason_for(code: Option<&str>) -> Reason {
    let Some(code) = code else {
        return Reason::Other;
    };
    match code {
        "USER_BALANCE_NOT_ENOUGH" | "INSUFFICIENT_BALANCE" | "PAYMENT_BALANCE_NOT_ENOUGH" => {
            Reason::Balance
        }
        "ORDER_IS_CLOSED" | "EXPIRED_CODE" | "EXPIRED" | "PAYMENT_EXPIRED" | "ORDER_EXPIRED"
        | "ORDER_IS_CANCELED" => Reason::Expired,
        "RISK_REJECT" | "USER_NOT_ALLOWED" | "SUSPECTED_RISK" => Reason::Risk,
        "USER_AMOUNT_EXCEED_LIMIT"
        | "PAYMENT_AMOUNT_EXCEED_LIMIT"
        | "AMOUNT_EXCEED_LIMIT"
        | "MERCHANT_AMOUNT_EXCEED_LIMIT"
        | "PAYMENT_COUNT_EXCEED_LIMIT" => Reason::Limit,
        "CURRENCY_NOT_SUPPORT" | "CURRENCY_NOT_SUPPORTED" => Reason::Currency,
        "USER_NOT_EXIST"
        | "USER_STATUS_ABNORMAL"
        | "USER_KYC_NOT_QUALIFIED"
        | "USER_PAYMENT_VERIFICATION_FAILED"
        | "INVALID_PAYMENT_CODE"
        | "INVALID_CODE" => Reason::CustomerAccount,
        "INVALID_SIGNATURE"
        | "INVALID_CLIENT"
        | "CLIENT_INVALID"
        | "KEY_NOT_FOUND"
        | "ACCESS_DENIED"
        | "NO_INTERFACE_DEF"
        | "MERCHANT_NOT_REGISTERED"
        | "INVALID_MERCHANT_STATUS"
        | "INVALID_CONTRACT"
        | "CLIENT_FORBIDDEN_ACCESS_API" => Reason::Setup,
        "PARAM_ILLEGAL"
        | "REPEAT_REQ_INCONSISTENT"
        | "ORDER_STATUS_INVALID"
        | "MEDIA_TYPE_NOT_ACCEPTABLE"
        | "METHOD_NOT_SUPPORTED" => Reason::Request,
        _ => Reason::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_codes_get_plain_reasons() {
        assert_eq!(reason_for(Some("USER_BALANCE_NOT_ENOUGH")), Reason::Balance);
        assert_eq!(reason_for(Some("ORDER_IS_CLOSED")), Reason::Expired);
        assert_eq!(reason_for(Some("RISK_REJECT")), Reason::Risk);
        assert_eq!(reason_for(Some("INVALID_SIGNATURE")), Reason::Setup);
        assert_eq!(reason_for(Some("PARAM_ILLEGAL")), Reason::Request);
        assert_eq!(reason_for(Some("CURRENCY_NOT_SUPPORT")), Reason::Currency);
        assert_eq!(reason_for(Some("SOMETHING_NEW")), Reason::Other);
        assert_eq!(reason_for(None), Reason::Other);
    }

    #[test]
    fn only_settled_or_stuck_payments_have_a_result() {
        assert_eq!(
            ResultScreen::of(PaymentState::Paid),
            Some(ResultScreen::Paid)
        );
        assert_eq!(
            ResultScreen::of(PaymentState::Unresolved),
            Some(ResultScreen::Unresolved)
        );
        assert_eq!(ResultScreen::of(PaymentState::AwaitingCustomer), None);
        assert_eq!(ResultScreen::of(PaymentState::Cancelling), None);
    }
}
