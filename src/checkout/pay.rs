//! The pay flow: journal the payment, journal the request, send `pay` (resent unchanged
//! while its outcome is unknown), and turn the answer into the payment's first state. What
//! the answer means is the product's to say ([`ProductIntent`], [`Product`]).

use time::OffsetDateTime;

use super::engine::{amount_matches, parse_time, request_hash};
use super::product::{InProcess, PaySuccess, Product, ProductIntent, ProductRules};
use super::{
    Checkout, CheckoutError, CheckoutEvent, PayStart, PaymentIntent, echo, failpoint, ids,
};
use crate::ams::client::{Outcome, UnknownReason};
use crate::ams::models::{Amount, Env, Order, PayRequest, PayResponse, ResultCode};
use crate::ams::timefmt;
use crate::journal::{
    Actor, CallKind, EntityRef, NewPayment, PaymentRecord, PaymentState, PaymentUpdate,
    RequestIntent, Resolution,
};

impl Checkout {
    fn build_pay_request(
        &self,
        record: &PaymentRecord,
        product: &ProductIntent,
        expiry: OffsetDateTime,
    ) -> PayRequest {
        let amount = Amount::new(record.amount.currency().code(), record.amount.minor());
        let now = OffsetDateTime::now_utc();
        let order = Order {
            reference_order_id: Some(record.order_ref.clone()),
            order_description: record.description.clone(),
            order_amount: amount.clone(),
            merchant: self.inner.settings.merchant.clone(),
            env: Some(Env {
                store_terminal_id: Some(self.inner.settings.terminal_id.clone()),
                store_terminal_request_time: Some(timefmt::format_datetime(now)),
                ..Env::default()
            }),
            ..Order::default()
        };
        let mut request = product.pay_request(
            record.payment_request_id.clone(),
            order,
            amount,
            self.inner.settings.notify_url.as_ref(),
        );
        request.payment_expiry_time = Some(timefmt::format_datetime(expiry));
        request
    }

    /// Journals a new payment and sends its `pay`. Returns once `pay` is settled; the
    /// payment's poller keeps running in the background until a final state.
    pub async fn start_payment(
        &self,
        intent: PaymentIntent,
    ) -> Result<(PaymentRecord, PayStart), CheckoutError> {
        let PaymentIntent {
            amount,
            description,
            actor,
            product,
        } = intent;
        let now = OffsetDateTime::now_utc();
        let terminal = self.inner.settings.terminal_id.clone();
        let new = NewPayment {
            payment_request_id: ids::payment_request_id(&terminal, now.unix_timestamp())?,
            order_ref: ids::order_ref(&terminal, now.unix_timestamp())?,
            amount,
            description,
            operator: terminal,
            product: product.product(),
            customer_code: product.customer_code(),
        };
        // Claimed before it is journaled: the resolver lists open payments from the journal
        // and must never take one that this call is still sending `pay` for (it would mark
        // it unresolved under the answer's feet). The claim ends with the task that drives
        // the payment, or with this call if its caller stops waiting.
        let id = new.payment_request_id.clone();
        let claim = self.claim(&id);
        // `pay` is sent under the payment's lock, so a notification (which takes the lock
        // too) waits for `pay`'s answer instead of overtaking it: for a payment the customer
        // can complete before `pay` returns, an early notification would mark it paid and
        // the late `S` would then be an illegal transition.
        let guard = self.payment_lock(&id);
        let held = guard.lock().await;
        // The used-code check and the new row are one step on the engine's one connection,
        // so two scans of the same code at the same moment cannot both pass it.
        let record = self
            .db(
                move |j| match earlier_use_of(j, new.customer_code.as_ref())? {
                    Some(used) => Ok(Err(used)),
                    None => j.create_payment(new, actor).map(Ok),
                },
            )
            .await?;
        let record = match record {
            Ok(record) => record,
            Err(used) => {
                drop(held);
                return Err(CheckoutError::CustomerCodeUsed {
                    payment_request_id: used.payment_request_id,
                    state: used.state,
                });
            }
        };
        self.publish(CheckoutEvent::PaymentStarted {
            payment_request_id: id.clone(),
        });
        let start = self.send_pay(&record, &product).await;
        drop(held);
        let start = start?;
        let engine = self.clone();
        let driven_id = id.clone();
        match &start {
            PayStart::CodeReady { .. } | PayStart::AwaitingCustomer => {
                tokio::spawn(async move {
                    if let Err(error) = engine.poll_until_final(&driven_id).await {
                        tracing::error!(%error, payment = %driven_id, "poller stopped; the resolver takes over");
                        engine.inner.resolver_wake.notify_one();
                    }
                    drop(claim);
                });
            }
            PayStart::Unknown => {
                tokio::spawn(async move {
                    if let Err(error) = engine.settle_unknown_pay(&driven_id).await {
                        tracing::error!(%error, payment = %driven_id, "settling stopped; the resolver takes over");
                    }
                    drop(claim);
                    engine.inner.resolver_wake.notify_one();
                });
            }
            PayStart::Paid | PayStart::Failed { .. } => drop(claim),
        }
        let record = self.payment(&id).await?;
        Ok((record, start))
    }

    /// Sends `pay`, resending it unchanged while the outcome is unknown (Alipay answers a
    /// replayed `paymentRequestId` with the original result, so this cannot create a second
    /// payment), and records what the answer means for the product.
    async fn send_pay(
        &self,
        record: &PaymentRecord,
        product: &ProductIntent,
    ) -> Result<PayStart, CheckoutError> {
        let id = record.payment_request_id.clone();
        let lifetime = time::Duration::try_from(self.inner.policy.max_code_lifetime)
            .unwrap_or(time::Duration::minutes(5));
        let expiry = OffsetDateTime::now_utc() + lifetime;
        let request = self.build_pay_request(record, product, expiry);
        let body_hash = request_hash(&request)?;
        let intent_id = id.clone();
        let entity = EntityRef::Payment(record.id);
        self.db(move |j| {
            j.record_request_intent(RequestIntent {
                request_id: intent_id,
                api: CallKind::Pay,
                entity,
                body_sha256: body_hash,
            })
        })
        .await?;
        failpoint::hit(failpoint::PAY_BEFORE_SEND);
        let product = product.product();
        let mut reason = String::new();
        let mut sends = self.inner.policy.pay.sends();
        while let Some(attempt) = sends.next().await {
            let outcome = self.inner.client.call(&request).await?;
            self.note_connectivity(&outcome);
            let outcome = echo::about(outcome, &[("paymentRequestId", id.as_str())]);
            failpoint::hit(failpoint::PAY_AFTER_RESPONSE);
            self.record_outcome(&id, &outcome).await?;
            match outcome {
                Outcome::Success(response) => {
                    match self.pay_succeeded(record, product, &response).await? {
                        Ok(start) => return Ok(start),
                        // An S that another send cannot improve: settled like a lost answer.
                        Err(why) => {
                            reason = why.to_string();
                            break;
                        }
                    }
                }
                Outcome::Failed { code, message } => {
                    self.transition(
                        &id,
                        PaymentState::Failed,
                        Actor::System,
                        format!("pay refused: {code}"),
                        PaymentUpdate {
                            result_code: Some(code.to_string()),
                            result_message: Some(message.clone()),
                            resolution: Some(Resolution::Pay),
                            ..PaymentUpdate::default()
                        },
                    )
                    .await?;
                    return Ok(PayStart::Failed { code, message });
                }
                Outcome::Unknown(UnknownReason::ResultUnknown {
                    code: ResultCode::PaymentInProcess,
                    ..
                }) if product.read_in_process() == InProcess::CustomerConfirming => {
                    self.transition(
                        &id,
                        PaymentState::AwaitingCustomer,
                        Actor::System,
                        "waiting for the customer to confirm in the wallet".into(),
                        PaymentUpdate::default(),
                    )
                    .await?;
                    return Ok(PayStart::AwaitingCustomer);
                }
                Outcome::Unknown(why) => {
                    tracing::warn!(payment = %id, attempt, reason = %why, "pay outcome unknown");
                    reason = why.to_string();
                }
            }
        }
        self.transition(
            &id,
            PaymentState::Unresolved,
            Actor::System,
            format!("pay outcome unknown ({reason}); settling by inquiry or cancel"),
            PaymentUpdate::default(),
        )
        .await?;
        Ok(PayStart::Unknown)
    }

    /// A verified `S` to `pay`, read as the product says: the payment's new state, or why
    /// this `S` cannot be used (then it is settled like a lost answer).
    async fn pay_succeeded(
        &self,
        record: &PaymentRecord,
        product: Product,
        response: &PayResponse,
    ) -> Result<Result<PayStart, &'static str>, CheckoutError> {
        let id = &record.payment_request_id;
        match product.read_success(response) {
            PaySuccess::ShowCode {
                code_value,
                expires_at,
            } => {
                self.transition(
                    id,
                    PaymentState::AwaitingCustomer,
                    Actor::System,
                    "order code created".into(),
                    PaymentUpdate {
                        payment_id: response.payment_id.clone(),
                        code_value: Some(code_value.clone()),
                        code_expires_at: Some(expires_at),
                        ..PaymentUpdate::default()
                    },
                )
                .await?;
                self.publish(CheckoutEvent::CodeReady {
                    payment_request_id: id.clone(),
                });
                Ok(Ok(PayStart::CodeReady {
                    code_value,
                    expires_at,
                }))
            }
            // Paid only for exactly the amount asked: an S for another amount is not a fact
            // this terminal can record, so it is settled like a lost answer.
            PaySuccess::MoneyTaken
                if amount_matches(record.amount, response.payment_amount.as_ref()) =>
            {
                self.transition(
                    id,
                    PaymentState::Paid,
                    Actor::System,
                    "paid (pay)".into(),
                    PaymentUpdate {
                        payment_id: response.payment_id.clone(),
                        paid_at: parse_time(response.payment_time.as_deref()),
                        result_code: Some(response.result.result_code.to_string()),
                        resolution: Some(Resolution::Pay),
                        ..PaymentUpdate::default()
                    },
                )
                .await?;
                Ok(Ok(PayStart::Paid))
            }
            PaySuccess::MoneyTaken => Ok(Err("pay S for a different amount")),
            PaySuccess::Unusable(why) => Ok(Err(why)),
        }
    }
}

/// A code pays once: the earlier payment with this customer's code that did not end unpaid,
/// if any (a failed or cancelled attempt leaves the customer free to show the code again,
/// and Alipay decides whether it is still valid).
fn earlier_use_of(
    journal: &crate::journal::Journal,
    code: Option<&crate::journal::CustomerCode>,
) -> Result<Option<PaymentRecord>, crate::journal::JournalError> {
    let Some(code) = code else {
        return Ok(None);
    };
    Ok(journal
        .payments_with_customer_code(&code.sha256)?
        .into_iter()
        .find(|p| !matches!(p.state, PaymentState::Failed | PaymentState::Cancelled)))
}
