//! What the result screen says about a payment: its kind and, for a failure, which plain
//! reason to show. Alipay's result codes are many and terse; a cashier needs to know what
//! to tell the customer, so codes are grouped here into a handful of reasons whose wording
//! (translated) lives in ui/pages/result.slint.

use crate::checkout::ResultCode;
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
    /// User-presented (other-products.md's extra F codes), each with its own next step.
    CodeExpired,
    InvalidCode,
    CustomerLimit,
    NotConfirmed,
    AccountRestricted,
    NotVerified,
}

/// Groups an Alipay result code (from `pay`, `inquiryPayment` or a notification).
/// Codes the references document are matched as [`ResultCode`]s; a few spellings wallets
/// and older Alipay pages use, which the references do not list, are matched as text.
pub fn reason_for(code: Option<&str>) -> Reason {
    let Some(code) = code else {
        return Reason::Other;
    };
    let code = ResultCode::from(code);
    match &code {
        ResultCode::UserBalanceNotEnough => Reason::Balance,
        ResultCode::OrderIsClosed | ResultCode::OrderIsCanceled => Reason::Expired,
        ResultCode::ExpiredCode => Reason::CodeExpired,
        ResultCode::InvalidPaymentCode => Reason::InvalidCode,
        ResultCode::UserAmountExceedLimit => Reason::CustomerLimit,
        ResultCode::UserPaymentVerificationFailed => Reason::NotConfirmed,
        ResultCode::UserStatusAbnormal => Reason::AccountRestricted,
        ResultCode::UserKycNotQualified => Reason::NotVerified,
        ResultCode::RiskReject => Reason::Risk,
        ResultCode::PaymentAmountExceedLimit | ResultCode::PaymentCountExceedLimit => Reason::Limit,
        ResultCode::CurrencyNotSupport => Reason::Currency,
        ResultCode::UserNotExist => Reason::CustomerAccount,
        ResultCode::InvalidSignature
        | ResultCode::InvalidClient
        | ResultCode::ClientInvalid
        | ResultCode::KeyNotFound
        | ResultCode::AccessDenied
        | ResultCode::NoInterfaceDef
        | ResultCode::MerchantNotRegistered
        | ResultCode::InvalidMerchantStatus
        | ResultCode::InvalidContract
        | ResultCode::ClientForbiddenAccessApi => Reason::Setup,
        ResultCode::ParamIllegal
        | ResultCode::RepeatReqInconsistent
        | ResultCode::OrderStatusInvalid
        | ResultCode::MediaTypeNotAcceptable
        | ResultCode::MethodNotSupported => Reason::Request,
        ResultCode::Unrecognized(other)
            if matches!(
                other.as_str(),
                "INSUFFICIENT_BALANCE" | "PAYMENT_BALANCE_NOT_ENOUGH"
            ) =>
        {
            Reason::Balance
        }
        ResultCode::Unrecognized(other)
            if matches!(
                other.as_str(),
                "EXPIRED" | "PAYMENT_EXPIRED" | "ORDER_EXPIRED"
            ) =>
        {
            Reason::Expired
        }
        ResultCode::Unrecognized(other)
            if matches!(other.as_str(), "USER_NOT_ALLOWED" | "SUSPECTED_RISK") =>
        {
            Reason::Risk
        }
        ResultCode::Unrecognized(other)
            if matches!(
                other.as_str(),
                "AMOUNT_EXCEED_LIMIT" | "MERCHANT_AMOUNT_EXCEED_LIMIT"
            ) =>
        {
            Reason::Limit
        }
        ResultCode::Unrecognized(other) if matches!(other.as_str(), "CURRENCY_NOT_SUPPORTED") => {
            Reason::Currency
        }
        ResultCode::Unrecognized(other) if matches!(other.as_str(), "INVALID_CODE") => {
            Reason::CustomerAccount
        }
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
    fn each_user_presented_refusal_has_its_own_words() {
        for (code, reason) in [
            ("EXPIRED_CODE", Reason::CodeExpired),
            ("INVALID_PAYMENT_CODE", Reason::InvalidCode),
            ("USER_BALANCE_NOT_ENOUGH", Reason::Balance),
            ("USER_AMOUNT_EXCEED_LIMIT", Reason::CustomerLimit),
            ("USER_PAYMENT_VERIFICATION_FAILED", Reason::NotConfirmed),
            ("USER_STATUS_ABNORMAL", Reason::AccountRestricted),
            ("USER_KYC_NOT_QUALIFIED", Reason::NotVerified),
        ] {
            assert_eq!(reason_for(Some(code)), reason, "{code}");
        }
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
