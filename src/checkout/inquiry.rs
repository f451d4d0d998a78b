//! The one inquiry path: `inquiryPayment` for a payment, its answer checked (echoed ids,
//! amount) and turned into a final state when it is one.

use super::engine::{amount_matches, parse_time};
use super::{Checkout, CheckoutError, failpoint};
use crate::ams::client::Outcome;
use crate::ams::models::{
    InquiryPaymentRequest, InquiryPaymentResponse, PaymentStatus, ResultCode,
};
use crate::journal::{Actor, PaymentRecord, PaymentState, PaymentUpdate, Resolution};

/// What one inquiry showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Inquiry {
    Final(PaymentState),
    /// Known to Alipay, not final yet (or answered without a usable status).
    Pending,
    NotFound,
    Unknown,
}

impl Checkout {
    /// One `inquiryPayment` under the payment's lock; records a final status if there is one.
    /// Returns the state after the inquiry and whether Alipay knows the payment at all.
    pub(super) async fn inquire_and_apply(
        &self,
        payment_request_id: &str,
    ) -> Result<Inquiry, CheckoutError> {
        let guard = self.payment_lock(payment_request_id);
        let held = guard.lock().await;
        let inquiry = self.inquire_locked(payment_request_id).await;
        drop(held);
        if matches!(inquiry, Ok(Inquiry::Final(_))) {
            // It may have been final before: taking the lock made a fresh entry.
            self.forget(payment_request_id);
        }
        inquiry
    }

    /// One `inquiryPayment` while the caller already holds the payment's lock; records a
    /// final status if there is one.
    pub(super) async fn inquire_locked(
        &self,
        payment_request_id: &str,
    ) -> Result<Inquiry, CheckoutError> {
        let record = self.payment(payment_request_id).await?;
        if record.state.is_final() {
            return Ok(Inquiry::Final(record.state));
        }
        let outcome = self.inner.client.call(&Self::inquiry_for(&record)).await?;
        self.note_connectivity(&outcome);
        let outcome = super::echo::about(outcome, &super::echo::payment_ids(&record));
        failpoint::hit(failpoint::POLL_AFTER_RESPONSE);
        Ok(match outcome {
            Outcome::Success(response) => self.apply_inquiry(&record, &response).await?,
            Outcome::Failed {
                code: ResultCode::OrderNotExist,
                ..
            } => Inquiry::NotFound,
            Outcome::Failed { code, message } => {
                tracing::warn!(payment = payment_request_id, %code, %message, "inquiry refused");
                Inquiry::Pending
            }
            Outcome::Unknown(reason) => {
                tracing::debug!(payment = payment_request_id, %reason, "inquiry outcome unknown");
                Inquiry::Unknown
            }
        })
    }

    /// Turns a verified inquiry answer into a final state when it is one. Caller holds the
    /// payment's lock.
    pub(super) async fn apply_inquiry(
        &self,
        record: &PaymentRecord,
        response: &InquiryPaymentResponse,
    ) -> Result<Inquiry, CheckoutError> {
        let Some(status) = response.payment_status.as_ref() else {
            return Ok(Inquiry::Pending);
        };
        let id = &record.payment_request_id;
        let update = PaymentUpdate {
            payment_id: response.payment_id.clone(),
            result_code: response.payment_result_code.clone(),
            result_message: response.payment_result_message.clone(),
            resolution: Some(Resolution::Inquiry),
            ..PaymentUpdate::default()
        };
        let to = match status {
            PaymentStatus::Success => {
                if !amount_matches(record.amount, response.payment_amount.as_ref()) {
                    tracing::error!(payment = %id, "inquiry reports SUCCESS for another amount; not recording it as paid");
                    self.note(id, "Alipay reported SUCCESS for a different amount; left unresolved for a manager").await?;
                    return Ok(Inquiry::Pending);
                }
                let update = PaymentUpdate {
                    paid_at: parse_time(response.payment_time.as_deref()),
                    ..update
                };
                let record = self
                    .transition(
                        id,
                        PaymentState::Paid,
                        Actor::System,
                        "paid (inquiry)".into(),
                        update,
                    )
                    .await?;
                return Ok(Inquiry::Final(record.state));
            }
            PaymentStatus::Fail => PaymentState::Failed,
            PaymentStatus::Cancelled => PaymentState::Cancelled,
            _ => return Ok(Inquiry::Pending),
        };
        let record = self
            .transition(
                id,
                to,
                Actor::System,
                format!("{} (inquiry)", status.as_str()),
                update,
            )
            .await?;
        Ok(Inquiry::Final(record.state))
    }

    pub(super) fn inquiry_for(record: &PaymentRecord) -> InquiryPaymentRequest {
        match &record.payment_id {
            Some(payment_id) => InquiryPaymentRequest::by_payment_id(payment_id.clone()),
            None => InquiryPaymentRequest::by_payment_request_id(record.payment_request_id.clone()),
        }
    }
}
