//! Cancel: a cashier's abort, an expired code, or the settling of an unknown outcome. The
//! same request is resent while its answer is unknown (Alipay treats a repeated cancel of a
//! cancelled payment as success); a refusal is decided by an inquiry.

use super::engine::request_hash;
use super::inquiry::Inquiry;
use super::{Checkout, CheckoutError, failpoint};
use crate::ams::client::Outcome;
use crate::ams::models::{CancelRequest, PaymentStatus, ResultCode};
use crate::journal::{
    Actor, CallKind, EntityRef, PaymentRecord, PaymentState, PaymentUpdate, RequestIntent,
    Resolution,
};

impl Checkout {
    /// Cancels a payment that is not final (a cashier's abort, an expired code, or the
    /// settling of an unknown outcome). The cancel is sent without a prior inquiry: it is
    /// what the cashier asked for, and if the customer paid in the meantime Alipay reverses
    /// the payment inside its cancel window (the money goes back, the payment ends
    /// cancelled). Outside the window Alipay refuses, an inquiry decides, and a paid payment
    /// stays paid: the cashier is offered a refund instead.
    pub async fn cancel(
        &self,
        payment_request_id: &str,
        actor: Actor,
        reason: &str,
    ) -> Result<PaymentRecord, CheckoutError> {
        // Created if need be: a poller that has not started waiting yet still finds the
        // permit and stops sleeping.
        self.wakeup(payment_request_id).notify_one();
        let guard = self.payment_lock(payment_request_id);
        let held = guard.lock().await;
        let record = self.cancel_locked(payment_request_id, actor, reason).await;
        drop(held);
        if record.as_ref().is_ok_and(|r| r.state.is_final()) {
            // Already final before this call: nothing else forgets it.
            self.forget(payment_request_id);
        }
        record
    }

    /// Sends `cancel` (same parameters on every retry) and records what it achieved. The
    /// caller holds the payment's lock.
    pub(super) async fn cancel_locked(
        &self,
        payment_request_id: &str,
        actor: Actor,
        reason: &str,
    ) -> Result<PaymentRecord, CheckoutError> {
        let mut record = self.payment(payment_request_id).await?;
        if record.state.is_final() {
            return Ok(record);
        }
        if record.state != PaymentState::Cancelling {
            record = self
                .transition(
                    payment_request_id,
                    PaymentState::Cancelling,
                    actor,
                    format!("cancel: {reason}"),
                    PaymentUpdate::default(),
                )
                .await?;
        }
        let request = match &record.payment_id {
            Some(payment_id) => CancelRequest::by_payment_id(payment_id.clone()),
            None => CancelRequest::by_payment_request_id(payment_request_id),
        };
        let hash = request_hash(&request)?;
        // A cancel sent by paymentRequestId and a later one by paymentId are different
        // bodies, so they get different log ids; an identical resend reuses its entry.
        let intent_id = format!("{payment_request_id}.cancel.{}", &hash[..12]);
        let entity = EntityRef::Payment(record.id);
        let intent_id_for_outcome = intent_id.clone();
        self.db(move |j| {
            j.record_request_intent(RequestIntent {
                request_id: intent_id,
                api: CallKind::Cancel,
                entity,
                body_sha256: hash,
            })
        })
        .await?;
        failpoint::hit(failpoint::CANCEL_BEFORE_SEND);
        let mut not_found = 0;
        let mut sends = self.inner.policy.cancel.sends();
        while let Some(attempt) = sends.next().await {
            let outcome = self.inner.client.call(&request).await?;
            self.note_connectivity(&outcome);
            let outcome = super::echo::about(outcome, &super::echo::payment_ids(&record));
            failpoint::hit(failpoint::CANCEL_AFTER_RESPONSE);
            self.record_outcome(&intent_id_for_outcome, &outcome)
                .await?;
            match outcome {
                Outcome::Success(response) => {
                    return self
                        .transition(
                            payment_request_id,
                            PaymentState::Cancelled,
                            Actor::System,
                            "cancelled".into(),
                            PaymentUpdate {
                                payment_id: response.payment_id.clone(),
                                result_code: Some(PaymentStatus::Cancelled.as_str().into()),
                                resolution: Some(Resolution::Cancel),
                                ..PaymentUpdate::default()
                            },
                        )
                        .await;
                }
                Outcome::Failed { code, .. } => {
                    // Already paid, outside the window, or a state that forbids it: only an
                    // inquiry can say what the payment is.
                    match self.inquire_locked(payment_request_id).await? {
                        Inquiry::Final(_) => return self.payment(payment_request_id).await,
                        Inquiry::NotFound if code == ResultCode::OrderNotExist => {
                            not_found += 1;
                            if not_found >= 3 {
                                // Neither cancel nor inquiry knows the id: the `pay` never
                                // reached Alipay, so no code exists that could be paid.
                                return self
                                    .transition(
                                        payment_request_id,
                                        PaymentState::Failed,
                                        Actor::System,
                                        "Alipay never received this payment".into(),
                                        PaymentUpdate {
                                            result_code: Some(
                                                ResultCode::OrderNotExist.as_str().into(),
                                            ),
                                            resolution: Some(Resolution::Cancel),
                                            ..PaymentUpdate::default()
                                        },
                                    )
                                    .await;
                            }
                        }
                        _ => {}
                    }
                }
                Outcome::Unknown(reason) => {
                    tracing::warn!(payment = payment_request_id, attempt, %reason, "cancel outcome unknown");
                }
            }
        }
        self.transition(
            payment_request_id,
            PaymentState::Unresolved,
            Actor::System,
            "cancel outcome still unknown; the resolver keeps trying".into(),
            PaymentUpdate::default(),
        )
        .await
    }

    /// Whether a `cancel` for this payment was ever journaled (and so may have reached
    /// Alipay).
    pub(super) async fn cancel_was_sent(
        &self,
        record: &PaymentRecord,
    ) -> Result<bool, CheckoutError> {
        let entity = record.entity();
        let requests = self.db(move |j| j.requests_for(entity)).await?;
        Ok(requests
            .iter()
            .any(|request| request.api == CallKind::Cancel))
    }
}
