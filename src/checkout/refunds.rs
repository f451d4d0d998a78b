//! Refunds: journal first (the journal refuses a refund that would exceed what was paid),
//! then `refund` with an idempotent `refundRequestId`, retried unchanged while the outcome is
//! unknown. A resent refund cannot pay out twice: Alipay answers a repeated
//! `refundRequestId` with the original result.

use time::OffsetDateTime;

use super::{Checkout, CheckoutError, failpoint, ids};
use crate::admin::ManagerApproval;
use crate::ams::client::Outcome;
use crate::ams::models::{Amount, RefundRequest};
use crate::ams::timefmt;
use crate::journal::{
    Actor, EntityRef, NewRefund, PaymentState, RefundRecord, RefundState, RefundUpdate,
    RequestIntent, Resolution,
};
use crate::money::Money;

impl Checkout {
    pub async fn refund_record(
        &self,
        refund_request_id: &str,
    ) -> Result<RefundRecord, CheckoutError> {
        let id = refund_request_id.to_string();
        self.db(move |j| j.refund_by_request_id(&id))
            .await?
            .ok_or_else(|| CheckoutError::NotFound(refund_request_id.to_string()))
    }

    /// Refunds `amount` (the whole remaining amount when `None`) of a paid payment, found by
    /// our request id or Alipay's payment id. Needs a manager's approval (a PIN checked just
    /// now); the journal's refund row and its event name that manager.
    pub async fn refund(
        &self,
        payment: &str,
        amount: Option<Money>,
        reason: &str,
        approval: &ManagerApproval,
    ) -> Result<RefundRecord, CheckoutError> {
        let manager = approval.manager();
        let record = self.find_payment(payment).await?;
        if record.state != PaymentState::Paid {
            return Err(CheckoutError::Refused(format!(
                "payment {} is {}, not paid; only paid payments can be refunded",
                record.payment_request_id,
                record.state.as_str()
            )));
        }
        let Some(payment_id) = record.payment_id.clone() else {
            return Err(CheckoutError::Refused(
                "the payment has no Alipay payment id yet; run `alipay-pos resolve` first".into(),
            ));
        };
        let amount = match amount {
            Some(amount) => amount,
            None => {
                let local_id = record.id;
                let remaining = self.db(move |j| j.refundable_remaining(local_id)).await?;
                remaining.to_money().ok_or_else(|| {
                    CheckoutError::Refused("nothing is left to refund on this payment".into())
                })?
            }
        };
        let refund_request_id =
            ids::refund_request_id(&record.operator, OffsetDateTime::now_utc().unix_timestamp())?;
        let new = NewRefund {
            refund_request_id: refund_request_id.clone(),
            payment: record.id,
            amount,
            reason: reason.to_string(),
            manager: manager.to_string(),
        };
        // Claimed before it is journaled, so the resolver (which resends open refunds) leaves
        // it to this call until its attempts are over or its caller stops waiting.
        let _claim = self.claim(&refund_request_id);
        let refund = self
            .db(move |j| j.create_refund(new, Actor::Manager))
            .await?;
        self.publish(super::CheckoutEvent::RefundState {
            refund_request_id: refund.refund_request_id.clone(),
            state: refund.state,
            detail: format!("refund of {} requested", refund.amount.major_string()),
        });
        self.send_refund(&refund, &payment_id).await
    }

    fn refund_request(refund: &RefundRecord, payment_id: &str) -> RefundRequest {
        let mut request = RefundRequest::new(
            refund.refund_request_id.clone(),
            payment_id,
            Amount::new(refund.amount.currency().code(), refund.amount.minor()),
        );
        if !refund.reason.is_empty() {
            request.refund_reason = Some(refund.reason.chars().take(256).collect());
        }
        request
    }

    async fn send_refund(
        &self,
        refund: &RefundRecord,
        payment_id: &str,
    ) -> Result<RefundRecord, CheckoutError> {
        let request = Self::refund_request(refund, payment_id);
        let id = refund.refund_request_id.clone();
        let hash = super::request_hash(&request)?;
        let intent_id = id.clone();
        let entity = EntityRef::Refund(refund.id);
        // Logging the identical request again (a resend) returns the recorded intent.
        self.db(move |j| {
            j.record_request_intent(RequestIntent {
                request_id: intent_id,
                api: "refund",
                entity,
                body_sha256: hash,
            })
        })
        .await?;
        failpoint::hit(failpoint::REFUND_BEFORE_SEND);
        for attempt in 0..self.inner.policy.refund_attempts.max(1) {
            if attempt > 0 {
                tokio::time::sleep(self.inner.policy.refund_retry_delay).await;
            }
            let outcome = self.inner.client.call(&request).await?;
            self.note_connectivity(&outcome);
            failpoint::hit(failpoint::REFUND_AFTER_RESPONSE);
            self.record_outcome(&id, &outcome).await?;
            match outcome {
                Outcome::Success(response) => {
                    return self
                        .transition_refund(
                            &id,
                            RefundState::Succeeded,
                            "refunded".into(),
                            RefundUpdate {
                                refund_id: response.refund_id.clone(),
                                result_code: Some("SUCCESS".into()),
                                resolution: Some(Resolution::Refund),
                                refunded_at: response
                                    .refund_time
                                    .as_deref()
                                    .and_then(|t| timefmt::parse_datetime(t).ok()),
                                ..RefundUpdate::default()
                            },
                        )
                        .await;
                }
                Outcome::Failed { code, message } => {
                    return self
                        .transition_refund(
                            &id,
                            RefundState::Failed,
                            format!("refund refused: {code}"),
                            RefundUpdate {
                                result_code: Some(code),
                                result_message: Some(message),
                                ..RefundUpdate::default()
                            },
                        )
                        .await;
                }
                Outcome::Unknown(reason) => {
                    tracing::warn!(refund = %id, attempt, %reason, "refund outcome unknown");
                }
            }
        }
        let current = self.refund_record(&id).await?;
        if current.state == RefundState::Unresolved || current.state.is_final() {
            return Ok(current);
        }
        self.transition_refund(
            &id,
            RefundState::Unresolved,
            "refund outcome unknown; the resolver resends it unchanged".into(),
            RefundUpdate::default(),
        )
        .await
    }

    async fn transition_refund(
        &self,
        refund_request_id: &str,
        to: RefundState,
        detail: String,
        update: RefundUpdate,
    ) -> Result<RefundRecord, CheckoutError> {
        let id = refund_request_id.to_string();
        let event_detail = detail.clone();
        let record = self
            .db(move |j| j.transition_refund(id.as_str(), to, Actor::System, &event_detail, update))
            .await?;
        self.publish(super::CheckoutEvent::RefundState {
            refund_request_id: refund_request_id.to_string(),
            state: record.state,
            detail,
        });
        Ok(record)
    }

    /// Resends an open refund unchanged; the idempotent `refundRequestId` makes that the
    /// safe way to learn its outcome, whether or not the first request ever arrived.
    pub(super) async fn settle_refund(&self, refund: &RefundRecord) -> Result<(), CheckoutError> {
        let payment_local_id = refund.payment;
        let payment = self
            .db(move |j| j.payment(payment_local_id))
            .await?
            .ok_or_else(|| CheckoutError::NotFound(refund.refund_request_id.clone()))?;
        let Some(payment_id) = payment.payment_id else {
            return Err(CheckoutError::Refused(
                "refund of a payment without an Alipay payment id".into(),
            ));
        };
        self.send_refund(refund, &payment_id).await?;
        Ok(())
    }
}
