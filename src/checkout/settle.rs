//! Turning unknown outcomes into facts: cancel, the settling of an unknown `pay`, start-up
//! recovery and the background resolver.
//!
//! When the engine settles an outcome nobody asked to cancel (the resolver, recovery), the
//! order is inquiry first, cancel second: an inquiry can only discover what happened, while
//! a cancel changes it, so a paid payment is found to be paid rather than reversed by
//! accident. A cashier's cancel (or an expired code) goes straight to `cancel`. A cancel
//! whose answer is lost is simply sent again (Alipay treats a repeated cancel of a cancelled
//! payment as success).

use std::time::Duration;

use time::OffsetDateTime;

use super::{Checkout, CheckoutError, Inquiry, failpoint, lock};
use crate::ams::client::Outcome;
use crate::ams::models::CancelRequest;
use crate::journal::{
    Actor, CallKind, EntityRef, PaymentRecord, PaymentState, PaymentUpdate, RefundRecord,
    RequestIntent, Resolution,
};

/// Consecutive attempts that found Alipay unreachable before a resolver round gives up
/// until the next one.
const UNREACHABLE_ATTEMPTS_PER_ROUND: u32 = 3;

/// Whether the customer may still be paying this payment's order code right now.
fn code_still_valid(record: &PaymentRecord) -> bool {
    record.state == PaymentState::AwaitingCustomer
        && record
            .code_expires_at
            .is_some_and(|expiry| OffsetDateTime::now_utc() <= expiry)
}

/// What start-up does with a payment whose order code is still valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// A cashier's screen takes the newest one back; the customer may still be scanning it.
    ShowOnScreen,
    /// Nobody will show it (a kiosk, whose customer has walked away): inquire, then cancel.
    CancelUnwatched,
}

/// What one resolver pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolveReport {
    /// `(paymentRequestId, final state)` of payments settled in this pass.
    pub settled_payments: Vec<(String, PaymentState)>,
    pub settled_refunds: Vec<(String, crate::journal::RefundState)>,
    /// Payments still open after the pass, with their state.
    pub open_payments: Vec<(String, PaymentState)>,
    pub open_refunds: Vec<String>,
}

impl Checkout {
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
        let hash = super::request_hash(&request)?;
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
        for attempt in 0..self.inner.policy.cancel_attempts.max(1) {
            if attempt > 0 {
                tokio::time::sleep(self.inner.policy.cancel_retry_delay).await;
            }
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
                                result_code: Some("CANCELLED".into()),
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
                        Inquiry::NotFound if code == "ORDER_NOT_EXIST" => {
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
                                            result_code: Some("ORDER_NOT_EXIST".into()),
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
            Outcome::Failed { code, .. } if code == "ORDER_NOT_EXIST" => Inquiry::NotFound,
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

    /// After an unknown `pay`: inquire a bounded number of times (flows.md: 10 to 20), then
    /// cancel, because without the `pay` answer there is no code to show the customer.
    pub(super) async fn settle_unknown_pay(
        &self,
        payment_request_id: &str,
    ) -> Result<(), CheckoutError> {
        for _ in 0..self.inner.policy.unknown_pay_inquiries {
            match self.inquire_and_apply(payment_request_id).await? {
                Inquiry::Final(_) => return Ok(()),
                Inquiry::Pending => break,
                Inquiry::NotFound | Inquiry::Unknown => {}
            }
            tokio::time::sleep(self.inner.policy.poll_interval).await;
        }
        self.cancel(
            payment_request_id,
            Actor::System,
            "the pay answer was lost; no code can be shown",
        )
        .await?;
        Ok(())
    }

    /// Settles one open payment that no task drives, as far as possible right now.
    ///
    /// Such a payment is an orphan: its order code (if it still has a valid one) is shown by
    /// no screen in this process, and the data-folder lock proves no other process holds
    /// the engine. Left alone, the customer could still pay a code the cashier no longer
    /// sees and be charged again on a new one. So it is inquired first (a paid payment is
    /// found to be paid, not reversed by accident), then cancelled. When Alipay cannot be
    /// reached it is marked unresolved, which is what it is.
    async fn settle_payment(&self, record: &PaymentRecord) -> Result<(), CheckoutError> {
        let id = record.payment_request_id.as_str();
        let guard = self.payment_lock(id);
        let held = guard.lock().await;
        let settled = self.settle_orphan_locked(record).await;
        drop(held);
        if self.payment(id).await?.state.is_final() {
            self.forget(id);
        }
        settled
    }

    /// [`Checkout::settle_payment`] with the payment's lock held.
    async fn settle_orphan_locked(&self, record: &PaymentRecord) -> Result<(), CheckoutError> {
        let id = record.payment_request_id.as_str();
        if self.is_driven(id) {
            // Claimed while this pass waited for the lock.
            return Ok(());
        }
        match self.inquire_locked(id).await? {
            Inquiry::Final(_) => Ok(()),
            Inquiry::Unknown => {
                let current = self.payment(id).await?;
                if matches!(
                    current.state,
                    PaymentState::Created | PaymentState::AwaitingCustomer
                ) {
                    self.transition(
                        id,
                        PaymentState::Unresolved,
                        Actor::System,
                        "Alipay unreachable while settling; nobody shows this payment".into(),
                        PaymentUpdate::default(),
                    )
                    .await?;
                }
                Ok(())
            }
            Inquiry::Pending | Inquiry::NotFound => {
                let reason = if code_still_valid(record) {
                    "nobody shows this order code any more (the terminal stopped while it was on screen)"
                } else {
                    "settling an unfinished payment"
                };
                self.cancel_locked(id, Actor::System, reason).await?;
                Ok(())
            }
        }
    }

    /// One pass over every open payment and refund. Used at start-up, by the background
    /// resolver and by `alipay-pos resolve`.
    pub async fn resolve_once(&self) -> Result<ResolveReport, CheckoutError> {
        let mut report = ResolveReport::default();
        let open = self.db(|j| j.open_payments()).await?;
        // When Alipay is unreachable, a round stops after a few failed attempts instead of
        // signing a request for every open payment: 1,000 unresolved payments during an
        // outage must not cost 1,000 RSA signatures per round.
        let mut unreachable_in_a_row = 0;
        for record in open {
            let id = record.payment_request_id.clone();
            if lock(&self.inner.driven).contains(&id)
                || unreachable_in_a_row >= UNREACHABLE_ATTEMPTS_PER_ROUND
            {
                report.open_payments.push((id, record.state));
                continue;
            }
            if let Err(error) = self.settle_payment(&record).await {
                tracing::warn!(payment = %id, %error, "could not settle payment this round");
            }
            if self.online() == Some(false) {
                unreachable_in_a_row += 1;
            } else {
                unreachable_in_a_row = 0;
            }
            let after = self.payment(&id).await?;
            if after.state.is_final() {
                report.settled_payments.push((id, after.state));
            } else {
                report.open_payments.push((id, after.state));
            }
        }
        let refunds: Vec<RefundRecord> = self.db(|j| j.open_refunds()).await?;
        for refund in refunds {
            let id = refund.refund_request_id.clone();
            if lock(&self.inner.driven).contains(&id)
                || unreachable_in_a_row >= UNREACHABLE_ATTEMPTS_PER_ROUND
            {
                report.open_refunds.push(id);
                continue;
            }
            if let Err(error) = self.settle_refund(&refund).await {
                tracing::warn!(refund = %id, %error, "could not settle refund this round");
            }
            let after = self.refund_record(&id).await?;
            if after.state.is_final() {
                report.settled_refunds.push((id, after.state));
            } else {
                report.open_refunds.push(id);
            }
        }
        Ok(report)
    }

    /// Resumes what a previous run left open. With [`Recovery::ShowOnScreen`] the newest
    /// payment whose order code is still valid gets its poller back and is returned, for
    /// the face to put back on the customer screen (the same code, the countdown going on).
    /// Everything else, and with [`Recovery::CancelUnwatched`] everything, is an orphan
    /// that the resolver settles at once: inquiry, then cancel (see `settle_payment`).
    pub async fn recover(
        &self,
        recovery: Recovery,
    ) -> Result<Option<PaymentRecord>, CheckoutError> {
        let open = self.db(|j| j.open_payments()).await?;
        let resumed = match recovery {
            Recovery::ShowOnScreen => open
                .into_iter()
                .filter(code_still_valid)
                .max_by_key(|record| (record.created_at, record.id)),
            Recovery::CancelUnwatched => None,
        };
        if let Some(record) = &resumed {
            let id = record.payment_request_id.clone();
            let claim = self.claim(&id);
            let engine = self.clone();
            tokio::spawn(async move {
                if let Err(error) = engine.poll_until_final(&id).await {
                    tracing::error!(%error, payment = %id, "poller stopped; the resolver takes over");
                }
                drop(claim);
                engine.inner.resolver_wake.notify_one();
            });
        }
        self.inner.resolver_wake.notify_one();
        Ok(resumed)
    }

    /// The background resolver: keeps settling open payments and refunds with doubling
    /// backoff, and survives any number of failed rounds. Runs until the task is dropped.
    pub async fn run_resolver(&self) {
        let mut round: u32 = 0;
        loop {
            let settled_everything = match self.resolve_once().await {
                Ok(report) => report.open_payments.is_empty() && report.open_refunds.is_empty(),
                Err(error) => {
                    tracing::warn!(%error, "resolver round failed");
                    false
                }
            };
            let wait = if settled_everything {
                round = 0;
                // Nothing open: sleep until something becomes unresolved.
                Duration::MAX
            } else {
                round = round.saturating_add(1);
                self.inner.policy.resolver_backoff(round - 1)
            };
            if wait == Duration::MAX {
                self.inner.resolver_wake.notified().await;
            } else {
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = self.inner.resolver_wake.notified() => {}
                }
            }
        }
    }
}
