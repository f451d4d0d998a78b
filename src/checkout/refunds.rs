//! Refunds: journal first (the journal refuses a refund that would exceed what was paid),
//! then `refund` with an idempotent `refundRequestId`, retried unchanged while the outcome is
//! unknown. A resent refund cannot pay out twice: Alipay answers a repeated
//! `refundRequestId` with the original result.

use time::OffsetDateTime;

use super::engine::{amount_matches, parse_time, request_hash};
use super::refund_gate::RefundToReserve;
use super::{Checkout, CheckoutError, echo, failpoint, ids};
use crate::admin::ManagerApproval;
use crate::ams::client::Outcome;
use crate::ams::models::{Amount, InquiryRefundRequest, RefundRequest, RefundStatus, ResultCode};
use crate::journal::{
    Actor, CallKind, EntityRef, NewRefund, PaymentState, RefundRecord, RefundState, RefundUpdate,
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
            return Err(CheckoutError::NotPaid {
                payment_request_id: record.payment_request_id.clone(),
                state: record.state,
            });
        }
        let Some(payment_id) = record.payment_id.clone() else {
            return Err(CheckoutError::NoAlipayPaymentId {
                payment_request_id: record.payment_request_id.clone(),
            });
        };
        let amount = match amount {
            Some(amount) => amount,
            None => {
                let local_id = record.id;
                let remaining = self.db(move |j| j.refundable_remaining(local_id)).await?;
                remaining
                    .to_money()
                    .ok_or_else(|| CheckoutError::NothingLeftToRefund {
                        payment_request_id: record.payment_request_id.clone(),
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
        // With a store hub, every counter's refunds of this payment count: the hub reserves
        // the amount first, and refuses it when it does not fit (or cannot be asked).
        let gate = self.inner.refund_gate.get().cloned();
        if let Some(gate) = &gate {
            gate.reserve(RefundToReserve {
                payment_request_id: record.payment_request_id.clone(),
                refund_request_id: refund_request_id.clone(),
                amount,
            })
            .await
            .map_err(|reason| CheckoutError::RefundNotReserved {
                payment_request_id: record.payment_request_id.clone(),
                reason,
            })?;
        }
        // Claimed before it is journaled, so the resolver (which resends open refunds) leaves
        // it to this call until its attempts are over or its caller stops waiting.
        let _claim = self.claim(&refund_request_id);
        let created = self.db(move |j| j.create_refund(new, Actor::Manager)).await;
        let refund = match created {
            Ok(refund) => refund,
            Err(error) => {
                // Never journaled, so never sent: the reservation is released.
                if let Some(gate) = &gate {
                    gate.release(refund_request_id.clone()).await;
                }
                return Err(error);
            }
        };
        self.publish(super::CheckoutEvent::RefundState {
            refund_request_id: refund.refund_request_id.clone(),
            state: refund.state,
            detail: format!("refund of {} requested", refund.amount.major_string()),
        });
        self.send_refund(&refund, &payment_id, true).await
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

    /// Sends `refund` with its idempotent `refundRequestId`, resending it unchanged while
    /// the outcome is unknown. `first_send` says that no earlier call (in this process or
    /// a previous one) may have sent it: only then is an `F` a plain refusal. An `F` to a
    /// resend is not: the first attempt may have gone through (its answer was lost), and a
    /// resend can be refused for reasons that arose since (the refund window closed, say).
    /// Then, and when the resends run out, `inquiryRefund` decides.
    async fn send_refund(
        &self,
        refund: &RefundRecord,
        payment_id: &str,
        first_send: bool,
    ) -> Result<RefundRecord, CheckoutError> {
        let request = Self::refund_request(refund, payment_id);
        let id = refund.refund_request_id.clone();
        let hash = request_hash(&request)?;
        let intent_id = id.clone();
        let entity = EntityRef::Refund(refund.id);
        // Logging the identical request again (a resend) returns the recorded intent.
        self.db(move |j| {
            j.record_request_intent(RequestIntent {
                request_id: intent_id,
                api: CallKind::Refund,
                entity,
                body_sha256: hash,
            })
        })
        .await?;
        failpoint::hit(failpoint::REFUND_BEFORE_SEND);
        let asked = [("refundRequestId", id.as_str()), ("paymentId", payment_id)];
        let mut sends = self.inner.policy.refund.sends();
        while let Some(attempt) = sends.next().await {
            let outcome = self.inner.client.call(&request).await?;
            self.note_connectivity(&outcome);
            let outcome = echo::about(outcome, &asked);
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
                                result_code: Some(ResultCode::Success.as_str().into()),
                                resolution: Some(Resolution::Refund),
                                refunded_at: parse_time(response.refund_time.as_deref()),
                                ..RefundUpdate::default()
                            },
                        )
                        .await;
                }
                Outcome::Failed { code, message } if first_send && attempt == 0 => {
                    return self
                        .transition_refund(
                            &id,
                            RefundState::Failed,
                            format!("refund refused: {code}"),
                            RefundUpdate {
                                result_code: Some(code.into()),
                                result_message: Some(message),
                                resolution: Some(Resolution::Refund),
                                ..RefundUpdate::default()
                            },
                        )
                        .await;
                }
                Outcome::Failed { code, message } => {
                    tracing::warn!(refund = %id, attempt, %code, "a resent refund was refused; an inquiry decides whether the first attempt went through");
                    return self
                        .settle_refund_by_inquiry(&id, Some((code, message)))
                        .await;
                }
                Outcome::Unknown(reason) => {
                    tracing::warn!(refund = %id, attempt, %reason, "refund outcome unknown");
                }
            }
        }
        self.settle_refund_by_inquiry(&id, None).await
    }

    /// Settles a refund whose `refund` answers did not decide it, with `inquiryRefund`
    /// (flows.md: retry `refund` for a while, then query). order-code.md: an inquiry that
    /// answers `ORDER_NOT_EXIST` is asked again after 15 s, and after 3 such answers the
    /// refund is taken as never created ([`super::Policy::refund_not_found_limit`]); it
    /// then ends failed, with the refusal a resend got if there was one, and the amount is
    /// refundable again. Anything else that is not final (`PROCESSING`, no answer, another
    /// refusal) leaves it unresolved for the resolver's next round.
    async fn settle_refund_by_inquiry(
        &self,
        refund_request_id: &str,
        refusal: Option<(ResultCode, String)>,
    ) -> Result<RefundRecord, CheckoutError> {
        let refund = self.refund_record(refund_request_id).await?;
        if refund.state.is_final() {
            return Ok(refund);
        }
        let request = InquiryRefundRequest::by_refund_request_id(refund_request_id);
        let mut asked = vec![("refundRequestId", refund_request_id)];
        if let Some(refund_id) = refund.refund_id.as_deref() {
            asked.push(("refundId", refund_id));
        }
        let limit = self.inner.policy.refund_not_found_limit.max(1);
        let mut not_found = 0;
        let undecided = loop {
            let outcome = self.inner.client.call(&request).await?;
            self.note_connectivity(&outcome);
            let outcome = echo::about(outcome, &asked);
            match outcome {
                Outcome::Success(response) => {
                    let amount_matches =
                        amount_matches(refund.amount, response.refund_amount.as_ref());
                    match response.refund_status {
                        Some(RefundStatus::Success) if amount_matches => {
                            return self
                                .transition_refund(
                                    refund_request_id,
                                    RefundState::Succeeded,
                                    "refunded (inquiry)".into(),
                                    RefundUpdate {
                                        refund_id: response.refund_id.clone(),
                                        result_code: Some(ResultCode::Success.as_str().into()),
                                        resolution: Some(Resolution::Inquiry),
                                        refunded_at: parse_time(response.refund_time.as_deref()),
                                        ..RefundUpdate::default()
                                    },
                                )
                                .await;
                        }
                        Some(RefundStatus::Success) => {
                            tracing::error!(refund = %refund_request_id, "inquiryRefund reports SUCCESS for another amount; not recording it");
                            break "Alipay reported the refund for a different amount; left unresolved for a manager";
                        }
                        Some(RefundStatus::Fail) => {
                            return self
                                .transition_refund(
                                    refund_request_id,
                                    RefundState::Failed,
                                    "refund failed (inquiry)".into(),
                                    RefundUpdate {
                                        result_code: Some(RefundStatus::Fail.as_str().into()),
                                        resolution: Some(Resolution::Inquiry),
                                        ..RefundUpdate::default()
                                    },
                                )
                                .await;
                        }
                        _ => break "Alipay is still processing the refund",
                    }
                }
                Outcome::Failed {
                    code: ResultCode::OrderNotExist,
                    ..
                } => {
                    not_found += 1;
                    if not_found >= limit {
                        let (code, message) = refusal.unwrap_or_else(|| {
                            (
                                ResultCode::OrderNotExist,
                                "Alipay has no such refund: it never reached Alipay".into(),
                            )
                        });
                        return self
                            .transition_refund(
                                refund_request_id,
                                RefundState::Failed,
                                format!(
                                    "refund never created at Alipay ({limit} inquiries found nothing); {code}"
                                ),
                                RefundUpdate {
                                    result_code: Some(code.into()),
                                    result_message: Some(message),
                                    resolution: Some(Resolution::Inquiry),
                                    ..RefundUpdate::default()
                                },
                            )
                            .await;
                    }
                    tokio::time::sleep(self.inner.policy.refund_not_found_delay).await;
                }
                Outcome::Failed { code, message } => {
                    tracing::warn!(refund = %refund_request_id, %code, %message, "inquiryRefund refused");
                    break "the refund inquiry was refused";
                }
                Outcome::Unknown(reason) => {
                    tracing::warn!(refund = %refund_request_id, %reason, "inquiryRefund outcome unknown");
                    break "Alipay could not be asked";
                }
            }
        };
        let current = self.refund_record(refund_request_id).await?;
        if current.state == RefundState::Unresolved || current.state.is_final() {
            return Ok(current);
        }
        self.transition_refund(
            refund_request_id,
            RefundState::Unresolved,
            format!("refund outcome unknown ({undecided}); the resolver asks again"),
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

    /// Settles an open refund: resent unchanged (the idempotent `refundRequestId` makes
    /// that safe whether or not the first request ever arrived), then, if that does not
    /// decide it, inquired. It counts as a resend, so a refusal does not fail it.
    pub(super) async fn settle_refund(&self, refund: &RefundRecord) -> Result<(), CheckoutError> {
        let payment_local_id = refund.payment;
        let payment = self
            .db(move |j| j.payment(payment_local_id))
            .await?
            .ok_or_else(|| CheckoutError::NotFound(refund.refund_request_id.clone()))?;
        let Some(payment_id) = payment.payment_id else {
            return Err(CheckoutError::NoAlipayPaymentId {
                payment_request_id: payment.payment_request_id.clone(),
            });
        };
        self.send_refund(refund, &payment_id, false).await?;
        Ok(())
    }
}
