//! `refund` and `inquiryRefund`.
//!
//! Refunds are synchronous: an accepted refund is `SUCCESS` at once, which is one of the two
//! behaviours the reference describes and the one a terminal can test without waiting.

use rusqlite::Transaction;
use serde_json::json;

use super::answer::{Answer, Ctx};
use super::clock::{duration_ms, from_ms, wire_time};
use super::ids;
use super::ledger::{self, LedgerError, LedgerPaymentState, RefundRow};
use crate::ams::models::{
    Amount, InquiryRefundRequest, InquiryRefundResponse, RefundRequest, RefundResponse,
    RefundStatus, ResultInfo,
};

/// What a replay of a `refundRequestId` must match.
fn key_params(req: &RefundRequest) -> String {
    json!({
        "paymentId": req.payment_id,
        "currency": req.refund_amount.currency,
        "value": req.refund_amount.value.to_string(),
    })
    .to_string()
}

fn inconsistent() -> Answer {
    Answer::fail(
        "REPEAT_REQ_INCONSISTENT",
        "This refundRequestId was used with a different payment or amount.",
    )
}

pub(crate) fn refund(
    tx: &Transaction<'_>,
    ctx: &Ctx<'_>,
    req: RefundRequest,
) -> Result<Answer, LedgerError> {
    let key = key_params(&req);
    if let Some(done) = ledger::refund_by_request_id(tx, ctx.client_id, &req.refund_request_id)? {
        return Ok(if done.key_params == key {
            Answer::new(done.answer.into_bytes())
        } else {
            inconsistent()
        });
    }
    if let Some((stored_key, answer)) =
        ledger::rejection(tx, ctx.client_id, &req.refund_request_id)?
    {
        return Ok(if stored_key == key {
            Answer::new(answer.into_bytes())
        } else {
            inconsistent()
        });
    }
    // An unknown payment is not recorded: nothing happened, and the merchant may retry the
    // same refundRequestId once it has the right paymentId.
    let Some(p) = ledger::payment_by_id(tx, ctx.client_id, &req.payment_id)? else {
        return Ok(Answer::fail(
            "ORDER_NOT_EXIST",
            "No payment with this paymentId for this client.",
        ));
    };
    let (refunded, count) = ledger::refunded(tx, &p.payment_id)?;
    let amount = req.refund_amount.value;
    let refusal: Option<(&str, String)> = if p.status == LedgerPaymentState::Cancelled {
        Some((
            "ORDER_IS_CANCELED",
            "The payment was cancelled; there is nothing to refund.".into(),
        ))
    } else if p.status != LedgerPaymentState::Success {
        Some((
            "ORDER_STATUS_INVALID",
            format!(
                "A payment in state {} cannot be refunded.",
                p.status.as_str()
            ),
        ))
    } else if req.refund_amount.currency != p.currency {
        Some((
            "CURRENCY_NOT_SUPPORT",
            format!("Refund in the payment's currency, {}.", p.currency),
        ))
    } else if ctx.now_ms - p.paid_at.unwrap_or(p.created_at) > duration_ms(ctx.rules.refund_window)
    {
        Some((
            "REFUND_WINDOW_EXCEED",
            "The refund window of this payment has passed.".into(),
        ))
    } else if ctx.rules.single_refund && count > 0 {
        Some((
            "MULTIPLE_REFUNDS_NOT_SUPPORTED",
            "The customer's wallet allows only one refund per payment.".into(),
        ))
    } else if refunded.saturating_add(amount) > p.amount {
        Some((
            "REFUND_AMOUNT_EXCEED",
            format!(
                "Refunds would total {} but only {} was paid ({} already refunded).",
                refunded.saturating_add(amount),
                p.amount,
                refunded
            ),
        ))
    } else {
        None
    };
    if let Some((code, message)) = refusal {
        let answer = Answer::fail(code, message);
        ledger::insert_rejection(
            tx,
            ctx.client_id,
            &req.refund_request_id,
            &key,
            &answer.text(),
            ctx.now_ms,
        )?;
        return Ok(answer);
    }
    let refund_id = ids::refund_id(from_ms(ctx.now_ms))?;
    let mut r = RefundResponse::from_result(ResultInfo::success());
    r.refund_request_id = Some(req.refund_request_id.clone());
    r.refund_id = Some(refund_id.clone());
    r.payment_id = Some(p.payment_id.clone());
    r.refund_amount = Some(req.refund_amount.clone());
    r.refund_time = Some(wire_time(ctx.now_ms));
    let answer = Answer::of(&r);
    ledger::insert_refund(
        tx,
        &RefundRow {
            refund_id,
            client_id: ctx.client_id.to_owned(),
            refund_request_id: req.refund_request_id,
            payment_id: p.payment_id,
            currency: req.refund_amount.currency,
            amount,
            key_params: key,
            refund_time: ctx.now_ms,
            answer: answer.text(),
        },
    )?;
    Ok(answer)
}

pub(crate) fn inquiry(
    tx: &Transaction<'_>,
    ctx: &Ctx<'_>,
    req: InquiryRefundRequest,
) -> Result<Answer, LedgerError> {
    let found = match (&req.refund_id, &req.refund_request_id) {
        (Some(id), _) => ledger::refund_by_id(tx, ctx.client_id, id)?,
        (None, Some(rid)) => ledger::refund_by_request_id(tx, ctx.client_id, rid)?,
        (None, None) => None,
    };
    let Some(found) = found else {
        return Ok(Answer::fail(
            "ORDER_NOT_EXIST",
            "No refund with this id for this client.",
        ));
    };
    let mut r = InquiryRefundResponse::from_result(ResultInfo::success());
    r.refund_id = Some(found.refund_id);
    r.refund_request_id = Some(found.refund_request_id);
    r.refund_amount = Some(Amount::new(found.currency, found.amount));
    r.refund_status = Some(RefundStatus::Success);
    r.refund_time = Some(wire_time(found.refund_time));
    Ok(Answer::of(&r))
}
