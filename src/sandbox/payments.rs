//! `pay`, `inquiryPayment`, `cancel` and the customer paying: the payment state machine.
//!
//! ```text
//! pay ──> PROCESSING ──(customer pays)──> SUCCESS ──(cancel within window)──> CANCELLED
//!             ├──(cancel)──> CANCELLED
//!             └──(expiry passes)──> FAIL / ORDER_IS_CLOSED
//! ```
//!
//! Simulated behaviour where the reference is silent is chosen here and documented in the
//! sandbox README section: magic amounts 9901-9906 (after the old `isandbox` mock gateway)
//! and magic payment-code endings for the User-presented scenario.

use rusqlite::Transaction;
use serde_json::json;
use time::Duration;

use super::answer::{After, Answer, Ctx};
use super::clock::{duration_ms, from_ms, to_ms, wire_time};
use super::ids;
use super::ledger::{self, CLOSED_CODE, LedgerError, LedgerPaymentState, PaymentRow};
use super::options::MAX_PAYMENT_EXPIRY;
use super::wallet::wallet_url;
use crate::ams::models::{
    CONNECT_WALLET, CancelRequest, CancelResponse, CodeDetail, CodeValueType, DisplayType,
    InStorePaymentScenario, InquiryPaymentRequest, InquiryPaymentResponse, NotifyPaymentRequest,
    NotifyType, OrderCodeForm, PayRequest, PayResponse, PaymentStatus, PspCustomerInfo,
    RedirectActionForm, ResultInfo,
};
use crate::ams::timefmt;

/// Magic `paymentAmount.value`s (minor units, any currency), after Alipay's old API mock.
pub mod magic {
    /// `pay` is processed, then answered `U` `UNKNOWN_EXCEPTION`.
    pub const PAY_UNKNOWN: u64 = 9901;
    /// `pay` is processed, then not answered until the client gives up (hang time).
    pub const PAY_HANG: u64 = 9902;
    /// The first `inquiryPayment` after `pay` answers `U` `UNKNOWN_EXCEPTION`.
    pub const INQUIRY_UNKNOWN: u64 = 9903;
    /// The first `inquiryPayment` after `pay` hangs.
    pub const INQUIRY_HANG: u64 = 9904;
    /// `pay` fails with `F` `RISK_REJECT` (the payment is recorded as `FAIL`).
    pub const RISK_REJECT: u64 = 9905;
    /// `pay` answers `U` `PAYMENT_IN_PROCESS`; the payment exists as `PROCESSING` and can be
    /// paid through the control endpoint.
    pub const IN_PROCESS: u64 = 9906;
}

/// The wallet shown in `pspCustomerInfo`, spelled as in the reference's inquiry example.
pub const PSP_NAME: &str = "ALIPAYCN";

const IN_PROCESS_MESSAGE: &str = "The payment is in process; wait for the result or query it.";

/// What an idempotent `pay` replay must match: the key parameters named by flows.md §5.
fn key_params(req: &PayRequest) -> String {
    json!({
        "currency": req.payment_amount.currency,
        "value": req.payment_amount.value.to_string(),
        "paymentMethodType": req.payment_method.payment_method_type,
        "paymentMethodId": req.payment_method.payment_method_id,
        "scenario": req.scenario().map(|s| s.as_str().to_owned()),
    })
    .to_string()
}

/// The docs' rule for an Alipay payment code: 16-24 digits starting with 25-30.
pub(crate) fn valid_payment_code(code: &str) -> bool {
    (16..=24).contains(&code.len())
        && code.bytes().all(|b| b.is_ascii_digit())
        && code
            .get(..2)
            .and_then(|p| p.parse::<u8>().ok())
            .is_some_and(|p| (25..=30).contains(&p))
}

pub(crate) fn pay(
    tx: &Transaction<'_>,
    ctx: &Ctx<'_>,
    req: PayRequest,
) -> Result<Answer, LedgerError> {
    let key = key_params(&req);
    if let Some(mut existing) =
        ledger::payment_by_request_id(tx, ctx.client_id, &req.payment_request_id)?
    {
        return replay(tx, ctx, &mut existing, &key);
    }
    let scenario = req
        .scenario()
        .cloned()
        .unwrap_or(InStorePaymentScenario::OrderCode);
    let method_id = req
        .payment_method
        .payment_method_id
        .clone()
        .unwrap_or_default();
    if scenario == InStorePaymentScenario::PaymentCode && !valid_payment_code(&method_id) {
        return Ok(Answer::fail(
            "INVALID_PAYMENT_CODE",
            "The payment code is not an Alipay code (16-24 digits starting with 25-30).",
        ));
    }
    let expire_at = match expiry(ctx, req.payment_expiry_time.as_deref()) {
        Ok(at) => at,
        Err(answer) => return Ok(answer),
    };
    let now = from_ms(ctx.now_ms);
    let value = req.payment_amount.value;
    let mut p = PaymentRow {
        payment_id: ids::payment_id(now)?,
        client_id: ctx.client_id.to_owned(),
        payment_request_id: req.payment_request_id.clone(),
        scenario: scenario.as_str().to_owned(),
        currency: req.payment_amount.currency.clone(),
        amount: value,
        key_params: key,
        request_json: String::from_utf8_lossy(&super::answer::to_json(&req)).into_owned(),
        status: LedgerPaymentState::Processing,
        result_code: "PAYMENT_IN_PROCESS".into(),
        result_message: "Waiting for the customer to pay.".into(),
        created_at: ctx.now_ms,
        expire_at,
        payment_time: None,
        paid_at: None,
        cancel_time: None,
        wallet_token: None,
        notify_url: req.payment_notify_url.clone(),
        psp_json: None,
        answer: None,
        magic_inquiry: match value {
            magic::INQUIRY_UNKNOWN => Some("unknown".into()),
            magic::INQUIRY_HANG => Some("hang".into()),
            _ => None,
        },
    };
    let after = match value {
        magic::PAY_UNKNOWN => After::Unknown,
        magic::PAY_HANG => After::Hang,
        _ => After::Send,
    };

    if value == magic::RISK_REJECT {
        return fail_at_once(
            tx,
            ctx,
            p,
            "RISK_REJECT",
            "Rejected by risk control.",
            after,
        );
    }
    if value == magic::IN_PROCESS {
        p.wallet_token = Some(ids::wallet_token()?);
        ledger::insert_payment(tx, &p)?;
        return Ok(Answer::unknown("PAYMENT_IN_PROCESS", IN_PROCESS_MESSAGE).then(after));
    }
    match scenario {
        InStorePaymentScenario::PaymentCode => {
            let ending = &method_id[method_id.len().saturating_sub(4)..];
            match ending {
                "2222" => fail_at_once(
                    tx,
                    ctx,
                    p,
                    "USER_BALANCE_NOT_ENOUGH",
                    "The customer's balance is not enough.",
                    after,
                ),
                "3333" => fail_at_once(
                    tx,
                    ctx,
                    p,
                    "EXPIRED_CODE",
                    "The payment code has expired; ask the customer to refresh it.",
                    after,
                ),
                "1111" => {
                    p.wallet_token = Some(ids::wallet_token()?);
                    ledger::insert_payment(tx, &p)?;
                    Ok(Answer::unknown("PAYMENT_IN_PROCESS", IN_PROCESS_MESSAGE).then(after))
                }
                _ => {
                    ledger::insert_payment(tx, &p)?;
                    let queued = mark_paid(tx, ctx.now_ms, &mut p)?;
                    let answer = Answer::of(&success_response(ctx, &p));
                    p.answer = Some(answer.text());
                    ledger::save_payment(tx, &p)?;
                    Ok(answer.then(after).waking(queued))
                }
            }
        }
        // Order Code, Entry Code (and anything validation let through): a payable code.
        _ => {
            p.wallet_token = Some(ids::wallet_token()?);
            let answer = Answer::of(&success_response(ctx, &p));
            p.answer = Some(answer.text());
            ledger::insert_payment(tx, &p)?;
            Ok(answer.then(after))
        }
    }
}

/// `paymentExpiryTime`, or the configured default. A given expiry must be in the future and at
/// most 30 minutes ahead (the older Order Code page's limit), for every scenario.
fn expiry(ctx: &Ctx<'_>, requested: Option<&str>) -> Result<i64, Answer> {
    let Some(text) = requested else {
        return Ok(ctx
            .now_ms
            .saturating_add(duration_ms(ctx.rules.order_code_expiry)));
    };
    let at = timefmt::parse_datetime(text)
        .map(to_ms)
        .map_err(|e| Answer::param_illegal(format!("paymentExpiryTime: {}", e.reason)))?;
    if at <= ctx.now_ms {
        return Err(Answer::param_illegal(format!(
            "paymentExpiryTime: {text} is not in the future (now is {})",
            wire_time(ctx.now_ms)
        )));
    }
    if at - ctx.now_ms > duration_ms(MAX_PAYMENT_EXPIRY) {
        return Err(Answer::param_illegal(format!(
            "paymentExpiryTime: {text} is more than 30 minutes ahead (now is {})",
            wire_time(ctx.now_ms)
        )));
    }
    Ok(at)
}

fn fail_at_once(
    tx: &Transaction<'_>,
    ctx: &Ctx<'_>,
    mut p: PaymentRow,
    code: &str,
    message: &str,
    after: After,
) -> Result<Answer, LedgerError> {
    p.status = LedgerPaymentState::Fail;
    p.result_code = code.into();
    p.result_message = message.into();
    p.payment_time = Some(ctx.now_ms);
    let answer = Answer::fail(code, message);
    p.answer = Some(answer.text());
    ledger::insert_payment(tx, &p)?;
    Ok(answer.then(after))
}

/// A second `pay` with a known `paymentRequestId`.
fn replay(
    tx: &Transaction<'_>,
    ctx: &Ctx<'_>,
    p: &mut PaymentRow,
    key: &str,
) -> Result<Answer, LedgerError> {
    if p.status == LedgerPaymentState::Cancelled {
        return Ok(Answer::fail(
            "ORDER_IS_CANCELED",
            "This paymentRequestId belongs to a cancelled payment; use a new one.",
        ));
    }
    if p.is_closed() {
        return Ok(Answer::fail(
            "ORDER_IS_CLOSED",
            "This paymentRequestId belongs to a closed payment; use a new one.",
        ));
    }
    if p.key_params != key {
        return Ok(Answer::fail(
            "REPEAT_REQ_INCONSISTENT",
            "This paymentRequestId was used with different amount, currency, method or scenario.",
        ));
    }
    if let Some(answer) = &p.answer {
        return Ok(Answer::new(answer.clone().into_bytes()));
    }
    // Only in-process payments (no final answer yet) get here.
    let answer = match p.status {
        LedgerPaymentState::Processing => {
            return Ok(Answer::unknown("PAYMENT_IN_PROCESS", IN_PROCESS_MESSAGE));
        }
        LedgerPaymentState::Success => Answer::of(&success_response(ctx, p)),
        LedgerPaymentState::Fail | LedgerPaymentState::Cancelled => {
            Answer::fail(&p.result_code, p.result_message.clone())
        }
    };
    p.answer = Some(answer.text());
    ledger::save_payment(tx, p)?;
    Ok(answer)
}

/// The `S` answer of `pay` for the payment's scenario: the code (Order Code), the redirect
/// (Entry Code) or the payment itself (User-presented).
fn success_response(ctx: &Ctx<'_>, p: &PaymentRow) -> PayResponse {
    let mut r = PayResponse::from_result(ResultInfo::success());
    r.payment_request_id = Some(p.payment_request_id.clone());
    r.payment_id = Some(p.payment_id.clone());
    r.payment_amount = Some(p.amount());
    r.payment_create_time = Some(wire_time(p.created_at));
    let url = p
        .wallet_token
        .as_deref()
        .map(|t| wallet_url(ctx.public_base, t));
    match InStorePaymentScenario::from(p.scenario.as_str()) {
        InStorePaymentScenario::EntryCode => {
            r.redirect_action_form = Some(RedirectActionForm {
                method: Some("SCAN".into()),
                redirect_url: url,
            });
        }
        InStorePaymentScenario::PaymentCode => {
            r.payment_time = p.payment_time.map(wire_time);
            r.psp_customer_info = psp_info(p);
            r.actual_payment_amount = Some(p.amount());
        }
        _ => {
            r.order_code_form = Some(OrderCodeForm {
                payment_method_type: Some(CONNECT_WALLET.into()),
                expire_time: Some(wire_time(p.expire_at)),
                code_details: url
                    .map(|code_value| CodeDetail {
                        code_value_type: Some(CodeValueType::QrCode),
                        code_value,
                        display_type: Some(DisplayType::Text),
                    })
                    .into_iter()
                    .collect(),
                extend_info: None,
            });
        }
    }
    r
}

fn psp_info(p: &PaymentRow) -> Option<PspCustomerInfo> {
    p.psp_json
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok())
}

/// Why the customer's wallet refuses to pay a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    NotFound,
    Expired,
    Cancelled,
    AlreadyPaid,
    Failed,
    /// Only a User-presented payment can be declined (see [`customer_declines`]).
    NotUserPresented,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Refusal::NotFound => "not_found",
            Refusal::Expired => "expired",
            Refusal::Cancelled => "cancelled",
            Refusal::AlreadyPaid => "already_paid",
            Refusal::Failed => "failed",
            Refusal::NotUserPresented => "not_user_presented",
        }
    }

    /// Shown on the wallet page and in the wallet's JSON, so in both languages.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::NotFound => "There is no payment for this code. · 没有与此码对应的支付。",
            Refusal::Expired => {
                "This code has expired; ask the cashier for a new one. · 此码已过期，请向收银员索取新码。"
            }
            Refusal::Cancelled => "The merchant cancelled this payment. · 商户已取消此支付。",
            Refusal::AlreadyPaid => "This payment has already been paid. · 此支付已完成付款。",
            Refusal::Failed => {
                "This payment failed and can no longer be paid or declined. · 此支付已失败，无法再付款或拒绝。"
            }
            Refusal::NotUserPresented => {
                "Only a payment made with your payment code or an Entry Code payment can be declined; to refuse an order code, do not pay it. · 只有使用付款码或入口码的支付可以拒绝；不想支付订单码时，不付款即可。"
            }
        }
    }
}

/// Why the customer's wallet cannot act on `p` any more (pay or decline), or `None` while it
/// is still waiting for the customer.
fn settled(p: &PaymentRow, now_ms: i64) -> Option<Refusal> {
    match p.status {
        LedgerPaymentState::Success => Some(Refusal::AlreadyPaid),
        LedgerPaymentState::Cancelled => Some(Refusal::Cancelled),
        LedgerPaymentState::Fail if p.result_code == CLOSED_CODE => Some(Refusal::Expired),
        LedgerPaymentState::Fail => Some(Refusal::Failed),
        LedgerPaymentState::Processing if p.expire_at <= now_ms => Some(Refusal::Expired),
        LedgerPaymentState::Processing => None,
    }
}

/// The customer confirms in the wallet (wallet page or control endpoint). `p` must be fresh
/// (read after [`super::answer::advance`]).
pub(crate) fn customer_pays(
    tx: &Transaction<'_>,
    now_ms: i64,
    mut p: PaymentRow,
) -> Result<Result<(PaymentRow, bool), Refusal>, LedgerError> {
    if let Some(refusal) = settled(&p, now_ms) {
        return Ok(Err(refusal));
    }
    let queued = mark_paid(tx, now_ms, &mut p)?;
    Ok(Ok((p, queued)))
}

/// The result code of a User-presented payment the customer declined in the wallet. The
/// reference lists it among the User-presented `F` codes and says nothing about declining,
/// so this is the sandbox's choice (README, "Choices where the reference is silent").
pub const DECLINED_CODE: &str = "USER_PAYMENT_VERIFICATION_FAILED";

/// `resultMessage` for [`DECLINED_CODE`]; API text, for the merchant's logs, so English only
/// like every other `resultMessage` the sandbox writes.
const DECLINED_MESSAGE: &str = "The customer declined the payment in the wallet.";

/// The customer declines a User-presented payment that waits for their confirmation (the
/// 1111 customer): it becomes `FAIL` [`DECLINED_CODE`] at once, with `paymentTime` now, as
/// the other User-presented failures. No notification: the sandbox notifies successes only
/// (the in-store rule). An Order Code or Entry Code payment is refused with
/// [`Refusal::NotUserPresented`]: there the customer declines by not paying, and the code
/// expires. `p` must be fresh (read after [`super::answer::advance`]).
pub(crate) fn customer_declines(
    tx: &Transaction<'_>,
    now_ms: i64,
    mut p: PaymentRow,
) -> Result<Result<PaymentRow, Refusal>, LedgerError> {
    if let Some(refusal) = settled(&p, now_ms) {
        return Ok(Err(refusal));
    }
    // The customer can say no where the wallet asks them: a User-presented confirmation,
    // and Entry Code's cashier page. An order code is only ever paid or left to expire.
    if !matches!(
        InStorePaymentScenario::from(p.scenario.as_str()),
        InStorePaymentScenario::PaymentCode | InStorePaymentScenario::EntryCode
    ) {
        return Ok(Err(Refusal::NotUserPresented));
    }
    p.status = LedgerPaymentState::Fail;
    p.result_code = DECLINED_CODE.into();
    p.result_message = DECLINED_MESSAGE.into();
    p.payment_time = Some(now_ms);
    ledger::save_payment(tx, &p)?;
    Ok(Ok(p))
}

/// SUCCESS now, and the `notifyPayment` queued when the merchant gave a URL. Returns whether a
/// notification was queued.
fn mark_paid(tx: &Transaction<'_>, now_ms: i64, p: &mut PaymentRow) -> Result<bool, LedgerError> {
    let customer = ids::psp_customer_id()?;
    let info = PspCustomerInfo {
        psp_name: Some(PSP_NAME.into()),
        display_customer_id: Some(format!("138****{}", &customer[customer.len() - 4..])),
        psp_customer_id: Some(customer),
    };
    p.status = LedgerPaymentState::Success;
    p.result_code = "SUCCESS".into();
    p.result_message = "success.".into();
    p.paid_at = Some(now_ms);
    p.payment_time = Some(now_ms);
    p.psp_json = Some(String::from_utf8_lossy(&super::answer::to_json(&info)).into_owned());
    ledger::save_payment(tx, p)?;
    let Some(url) = p.notify_url.clone() else {
        return Ok(false);
    };
    let notification = NotifyPaymentRequest {
        notify_type: NotifyType::PaymentResult,
        result: Some(ResultInfo::success()),
        payment_request_id: p.payment_request_id.clone(),
        payment_id: p.payment_id.clone(),
        payment_amount: p.amount(),
        payment_create_time: Some(wire_time(p.created_at)),
        payment_time: Some(wire_time(now_ms)),
        psp_customer_info: Some(info),
        actual_payment_amount: None,
        payment_quote: None,
        gross_settlement_amount: None,
        settlement_quote: None,
    };
    let body = String::from_utf8_lossy(&super::answer::to_json(&notification)).into_owned();
    ledger::enqueue_notification(
        tx,
        &p.client_id,
        super::notifier::NOTIFY_PAYMENT,
        &p.payment_id,
        &url,
        &body,
        now_ms,
    )?;
    Ok(true)
}

/// `paymentId` wins over `paymentRequestId` (both inquiry and cancel).
fn find(
    tx: &Transaction<'_>,
    client_id: &str,
    payment_id: Option<&str>,
    payment_request_id: Option<&str>,
) -> Result<Option<PaymentRow>, LedgerError> {
    match (payment_id, payment_request_id) {
        (Some(id), _) => ledger::payment_by_id(tx, client_id, id),
        (None, Some(rid)) => ledger::payment_by_request_id(tx, client_id, rid),
        (None, None) => Ok(None),
    }
}

fn not_found() -> Answer {
    Answer::fail(
        "ORDER_NOT_EXIST",
        "No payment with this id for this client.",
    )
}

pub(crate) fn inquiry(
    tx: &Transaction<'_>,
    ctx: &Ctx<'_>,
    req: InquiryPaymentRequest,
) -> Result<Answer, LedgerError> {
    let Some(mut p) = find(
        tx,
        ctx.client_id,
        req.payment_id.as_deref(),
        req.payment_request_id.as_deref(),
    )?
    else {
        return Ok(not_found());
    };
    let after = match p.magic_inquiry.take().as_deref() {
        Some("unknown") => After::Unknown,
        Some("hang") => After::Hang,
        _ => After::Send,
    };
    if after != After::Send {
        ledger::save_payment(tx, &p)?;
    }
    let mut r = InquiryPaymentResponse::from_result(ResultInfo::success());
    r.payment_status = Some(PaymentStatus::from(p.status.as_str()));
    r.payment_result_code = Some(p.result_code.clone());
    r.payment_result_message = Some(p.result_message.clone());
    r.payment_request_id = Some(p.payment_request_id.clone());
    r.payment_id = Some(p.payment_id.clone());
    r.payment_amount = Some(p.amount());
    r.payment_create_time = Some(wire_time(p.created_at));
    r.payment_time = p.payment_time.map(wire_time);
    if p.status == LedgerPaymentState::Success {
        r.psp_customer_info = psp_info(&p);
        r.actual_payment_amount = Some(p.amount());
    }
    Ok(Answer::of(&r).then(after))
}

pub(crate) fn cancel(
    tx: &Transaction<'_>,
    ctx: &Ctx<'_>,
    req: CancelRequest,
) -> Result<Answer, LedgerError> {
    let Some(mut p) = find(
        tx,
        ctx.client_id,
        req.payment_id.as_deref(),
        req.payment_request_id.as_deref(),
    )?
    else {
        return Ok(not_found());
    };
    match p.status {
        LedgerPaymentState::Cancelled => {}
        LedgerPaymentState::Fail => {
            return Ok(Answer::fail(
                "ORDER_STATUS_INVALID",
                format!(
                    "A payment in state FAIL ({}) cannot be cancelled.",
                    p.result_code
                ),
            ));
        }
        LedgerPaymentState::Success => {
            let (_, refunds) = ledger::refunded(tx, &p.payment_id)?;
            if refunds > 0 {
                return Ok(Answer::fail(
                    "ORDER_STATUS_INVALID",
                    "The payment has been refunded and can no longer be cancelled.",
                ));
            }
            let paid_at = p.paid_at.unwrap_or(p.created_at);
            if ctx.now_ms - paid_at > duration_ms(ctx.rules.cancel_window) {
                return Ok(Answer::fail(
                    "CANCEL_WINDOW_EXCEED",
                    "The cancel window has passed; refund instead.",
                ));
            }
            cancel_now(tx, ctx, &mut p)?;
        }
        LedgerPaymentState::Processing => cancel_now(tx, ctx, &mut p)?,
    }
    let mut r = CancelResponse::from_result(ResultInfo::success());
    r.payment_id = Some(p.payment_id.clone());
    r.payment_request_id = Some(p.payment_request_id.clone());
    r.cancel_time = p.cancel_time.map(wire_time);
    Ok(Answer::of(&r))
}

fn cancel_now(tx: &Transaction<'_>, ctx: &Ctx<'_>, p: &mut PaymentRow) -> Result<(), LedgerError> {
    p.status = LedgerPaymentState::Cancelled;
    p.result_code = "ORDER_IS_CANCELED".into();
    p.result_message = if p.paid_at.is_some() {
        "The payment was cancelled; the funds were returned to the customer.".into()
    } else {
        "The payment was cancelled before it was paid.".into()
    };
    p.cancel_time = Some(ctx.now_ms);
    ledger::save_payment(tx, p)
}

/// A payment's expiry in whole seconds from `now_ms`, for the wallet page.
pub(crate) fn seconds_left(p: &PaymentRow, now_ms: i64) -> i64 {
    Duration::milliseconds(p.expire_at - now_ms)
        .whole_seconds()
        .max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_code_rule() {
        assert!(valid_payment_code("2810060200000000"));
        assert!(valid_payment_code("301006020000000000001111"));
        assert!(valid_payment_code("250000000000000000"));
        assert!(!valid_payment_code("281006020000000")); // 15 digits
        assert!(!valid_payment_code("2810060200000000000000000")); // 25 digits
        assert!(!valid_payment_code("2410060200000000"));
        assert!(!valid_payment_code("3110060200000000"));
        assert!(!valid_payment_code("28100602000000a0"));
        assert!(!valid_payment_code(""));
    }
}
