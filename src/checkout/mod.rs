//! The payment engine: the only place that decides what state a payment or refund is in.
//!
//! Three rules shape everything here:
//! - **Journal first.** A payment, refund or request id is committed to the journal before
//!   its request leaves, and every answer is recorded before anything else happens.
//! - **Only verified facts are final.** A payment is paid after a verified `S` with status
//!   `SUCCESS` (from `inquiryPayment` or a verified `notifyPayment` for the right amount);
//!   anything unknown is settled by inquiry or cancel, never guessed.
//! - **No face polls.** Every state change is published on a broadcast channel.
//!
//! Concurrency: each payment has an async lock, so the poller, the notification handler, a
//! cashier's cancel and the resolver never interleave their read-decide-write steps.

mod echo;
pub mod events;
pub mod failpoint;
pub mod ids;
mod manual;
pub mod policy;
pub mod receiver;
mod refunds;
mod settle;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use time::OffsetDateTime;
use tokio::sync::{Notify, broadcast};

use crate::ams::client::{AmsClient, Outcome, RequestError, UnknownReason};
use crate::ams::models::{
    Amount, Env, InquiryPaymentRequest, InquiryPaymentResponse, Merchant, NotifyPaymentRequest,
    Order, PayRequest, PaymentStatus,
};
use crate::ams::timefmt;
use crate::journal::{
    Actor, CallKind, EntityRef, Journal, JournalError, NewPayment, PaymentRecord, PaymentState,
    PaymentUpdate, Product, RequestIntent, RequestOutcome, Resolution,
};
use crate::money::{Money, MoneyError};

pub use events::CheckoutEvent;
pub use manual::{ManualOutcome, ManualSettleError};
pub use policy::Policy;
pub use settle::{Recovery, ResolveReport};

/// Who the terminal is, as Alipay needs it on every `pay`.
#[derive(Debug, Clone)]
pub struct CheckoutSettings {
    pub merchant: Merchant,
    pub terminal_id: String,
    /// Where Alipay posts `notifyPayment`; `None` leaves `paymentNotifyUrl` out of `pay`
    /// (no public URL: the result is learned by polling).
    pub notify_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error(transparent)]
    Money(#[from] MoneyError),
    #[error(transparent)]
    Id(#[from] ids::IdError),
    #[error(
        "no payment or refund `{0}` in the journal; check the id with `alipay-pos journal list`"
    )]
    NotFound(String),
    #[error("{0}")]
    Refused(String),
    #[error("the engine stopped unexpectedly ({0}); restart the terminal, nothing is lost")]
    Internal(String),
}

/// The engine. Cheap to clone; all clones share one journal, client and event channel.
#[derive(Clone)]
pub struct Checkout {
    inner: Arc<Inner>,
}

struct Inner {
    client: AmsClient,
    journal: Arc<Mutex<Journal>>,
    policy: Policy,
    settings: CheckoutSettings,
    events: broadcast::Sender<CheckoutEvent>,
    /// Wakes a payment's poller early (a notification arrived, or a cancel was asked for).
    wakeups: Mutex<HashMap<String, Arc<Notify>>>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Payments (by request id) that a live task is starting, polling or settling, and refunds
    /// a manager's call is still sending; the resolver leaves them alone.
    driven: Mutex<HashSet<String>>,
    resolver_wake: Notify,
    online: Mutex<Option<bool>>,
}

/// What a payment attempt turned into right after `pay`.
#[derive(Debug, Clone, PartialEq)]
pub enum PayStart {
    CodeReady {
        code_value: String,
        expires_at: String,
    },
    Failed {
        code: String,
        message: String,
    },
    /// `pay`'s outcome stayed unknown; the engine is settling it (inquiry, then cancel).
    Unknown,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these maps cannot leave them inconsistent (single inserts
    // and removes), so a poisoned lock is still usable.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Checkout {
    pub fn new(
        client: AmsClient,
        journal: Journal,
        settings: CheckoutSettings,
        policy: Policy,
    ) -> Checkout {
        let (events, _) = broadcast::channel(256);
        Checkout {
            inner: Arc::new(Inner {
                client,
                journal: Arc::new(Mutex::new(journal)),
                policy,
                settings,
                events,
                wakeups: Mutex::new(HashMap::new()),
                locks: Mutex::new(HashMap::new()),
                driven: Mutex::new(HashSet::new()),
                resolver_wake: Notify::new(),
                online: Mutex::new(None),
            }),
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<CheckoutEvent> {
        self.inner.events.subscribe()
    }

    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// Runs a journal operation on the blocking pool: SQLite with `synchronous=FULL` waits
    /// for the disk, which must never stall the async workers (or the UI).
    pub async fn db<T, F>(&self, operation: F) -> Result<T, CheckoutError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Journal) -> Result<T, JournalError> + Send + 'static,
    {
        let journal = self.inner.journal.clone();
        tokio::task::spawn_blocking(move || {
            let mut journal = lock(&journal);
            operation(&mut journal)
        })
        .await
        .map_err(|e| CheckoutError::Internal(e.to_string()))?
        .map_err(CheckoutError::from)
    }

    fn publish(&self, event: CheckoutEvent) {
        // No subscriber is fine: faces come and go.
        let _ = self.inner.events.send(event);
    }

    fn note_connectivity<T>(&self, outcome: &Outcome<T>) {
        let online = !matches!(
            outcome,
            Outcome::Unknown(
                UnknownReason::NotSent(_)
                    | UnknownReason::Timeout
                    | UnknownReason::Transport(_)
                    | UnknownReason::HttpStatus(_)
            )
        );
        let changed = {
            let mut current = lock(&self.inner.online);
            let changed = *current != Some(online);
            *current = Some(online);
            changed
        };
        if changed {
            self.publish(CheckoutEvent::Connectivity { online });
        }
    }

    /// Whether the engine is still actively working on this payment (polling or settling);
    /// when it is not, an `Unresolved` payment waits for the resolver.
    pub fn is_driven(&self, payment_request_id: &str) -> bool {
        lock(&self.inner.driven).contains(payment_request_id)
    }

    /// Whether the last call reached Alipay; `None` before the first call.
    pub fn online(&self) -> Option<bool> {
        *lock(&self.inner.online)
    }

    /// Marks a payment (or refund) as driven until the returned claim is dropped.
    fn claim(&self, id: &str) -> Claim {
        lock(&self.inner.driven).insert(id.to_string());
        Claim {
            engine: self.clone(),
            id: id.to_string(),
        }
    }

    fn payment_lock(&self, payment_request_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        lock(&self.inner.locks)
            .entry(payment_request_id.to_string())
            .or_default()
            .clone()
    }

    fn wakeup(&self, payment_request_id: &str) -> Arc<Notify> {
        lock(&self.inner.wakeups)
            .entry(payment_request_id.to_string())
            .or_default()
            .clone()
    }

    /// Wakes the payment's poller, if it has one; a payment nobody polls gains no entry.
    fn wake(&self, payment_request_id: &str) {
        if let Some(wakeup) = lock(&self.inner.wakeups).get(payment_request_id) {
            wakeup.notify_one();
        }
    }

    /// Records a transition and publishes it.
    async fn transition(
        &self,
        payment_request_id: &str,
        to: PaymentState,
        actor: Actor,
        detail: String,
        update: PaymentUpdate,
    ) -> Result<PaymentRecord, CheckoutError> {
        let id = payment_request_id.to_string();
        let event_detail = detail.clone();
        let record = self
            .db(move |j| j.transition_payment(id.as_str(), to, actor, &event_detail, update))
            .await?;
        self.publish(CheckoutEvent::PaymentState {
            payment_request_id: payment_request_id.to_string(),
            state: record.state,
            detail,
        });
        if record.state.is_final() {
            self.forget(payment_request_id);
        } else {
            // A poller that is waiting re-reads the record: once the payment has left the
            // customer screen (a cancel ended unresolved, say) it stops and lets its claim
            // go, so the resolver can take over at once.
            self.wake(payment_request_id);
        }
        if record.state == PaymentState::Unresolved {
            self.inner.resolver_wake.notify_one();
        }
        Ok(record)
    }

    /// Drops a final payment's lock and wakeup, so a terminal that runs for months keeps
    /// per-payment state only for the payments still open. A task still holding the old
    /// lock finishes under it; anyone who takes the lock afterwards gets a fresh one and
    /// finds the payment final, which every path checks first.
    fn forget(&self, payment_request_id: &str) {
        lock(&self.inner.locks).remove(payment_request_id);
        if let Some(wakeup) = lock(&self.inner.wakeups).remove(payment_request_id) {
            // A poller waiting on it re-reads the record and sees the final state.
            wakeup.notify_one();
        }
    }

    /// How many payments the engine keeps a lock or a wakeup for: only open ones. For
    /// diagnostics and the tests that prove final payments are forgotten.
    pub fn tracked_payments(&self) -> usize {
        let locks = lock(&self.inner.locks);
        let wakeups = lock(&self.inner.wakeups);
        locks
            .keys()
            .chain(wakeups.keys().filter(|id| !locks.contains_key(*id)))
            .count()
    }

    pub async fn payment(&self, payment_request_id: &str) -> Result<PaymentRecord, CheckoutError> {
        let id = payment_request_id.to_string();
        self.db(move |j| j.payment_by_request_id(&id))
            .await?
            .ok_or_else(|| CheckoutError::NotFound(payment_request_id.to_string()))
    }

    /// Finds a payment by our request id or Alipay's payment id.
    pub async fn find_payment(&self, id: &str) -> Result<PaymentRecord, CheckoutError> {
        let key = id.to_string();
        let found = self.db(move |j| j.find_payment(&key)).await?;
        found.ok_or_else(|| CheckoutError::NotFound(id.to_string()))
    }

    fn build_pay_request(&self, record: &PaymentRecord, expiry: OffsetDateTime) -> PayRequest {
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
        let mut request = match &self.inner.settings.notify_url {
            Some(url) => {
                PayRequest::order_code(record.payment_request_id.clone(), order, amount, url)
            }
            None => PayRequest::order_code_polled(record.payment_request_id.clone(), order, amount),
        };
        request.payment_expiry_time = Some(timefmt::format_datetime(expiry));
        request
    }

    /// Journals a new payment and asks Alipay for its order code. Returns once `pay` is
    /// settled; the payment's poller keeps running in the background until a final state.
    pub async fn start_payment(
        &self,
        amount: Money,
        description: &str,
        actor: Actor,
    ) -> Result<(PaymentRecord, PayStart), CheckoutError> {
        let now = OffsetDateTime::now_utc();
        let terminal = self.inner.settings.terminal_id.clone();
        let new = NewPayment {
            payment_request_id: ids::payment_request_id(&terminal, now.unix_timestamp())?,
            order_ref: ids::order_ref(&terminal, now.unix_timestamp())?,
            amount,
            description: description.to_string(),
            operator: terminal,
            // The only product the engine takes so far.
            product: Product::OrderCode,
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
        let record = self.db(move |j| j.create_payment(new, actor)).await?;
        self.publish(CheckoutEvent::PaymentStarted {
            payment_request_id: id.clone(),
        });
        let start = self.send_pay(&record).await;
        drop(held);
        let start = start?;
        let engine = self.clone();
        let driven_id = id.clone();
        match &start {
            PayStart::CodeReady { .. } => {
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
            PayStart::Failed { .. } => drop(claim),
        }
        let record = self.payment(&id).await?;
        Ok((record, start))
    }

    /// Sends `pay`, retrying an unknown outcome with the same `paymentRequestId` (Alipay
    /// answers a replay with the original result, so this cannot create a second payment).
    async fn send_pay(&self, record: &PaymentRecord) -> Result<PayStart, CheckoutError> {
        let id = record.payment_request_id.clone();
        let lifetime = time::Duration::try_from(self.inner.policy.max_code_lifetime)
            .unwrap_or(time::Duration::minutes(5));
        let expiry = OffsetDateTime::now_utc() + lifetime;
        let request = self.build_pay_request(record, expiry);
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
        let mut last_unknown = String::new();
        for attempt in 0..self.inner.policy.pay_attempts.max(1) {
            if attempt > 0 {
                tokio::time::sleep(self.inner.policy.pay_retry_delay).await;
            }
            let outcome = self.inner.client.call(&request).await?;
            self.note_connectivity(&outcome);
            let outcome = echo::about(outcome, &[("paymentRequestId", id.as_str())]);
            failpoint::hit(failpoint::PAY_AFTER_RESPONSE);
            self.record_outcome(&id, &outcome).await?;
            match outcome {
                Outcome::Success(response) => {
                    let code = response.order_code_form.as_ref().and_then(|form| {
                        let expiry = timefmt::parse_datetime(form.expire_time.as_deref()?).ok()?;
                        Some((form.text_code_value()?.to_string(), expiry))
                    });
                    let Some((code_value, expires_at)) = code else {
                        // An S without a usable code breaks the protocol: we cannot show
                        // anything, so the attempt is settled like an unknown one.
                        last_unknown = "pay S without orderCodeForm".into();
                        break;
                    };
                    self.transition(
                        &id,
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
                    let expires_at = timefmt::format_datetime(expires_at);
                    self.publish(CheckoutEvent::CodeReady {
                        payment_request_id: id.clone(),
                        code_value: code_value.clone(),
                        expires_at: expires_at.clone(),
                    });
                    return Ok(PayStart::CodeReady {
                        code_value,
                        expires_at,
                    });
                }
                Outcome::Failed { code, message } => {
                    self.transition(
                        &id,
                        PaymentState::Failed,
                        Actor::System,
                        format!("pay refused: {code}"),
                        PaymentUpdate {
                            result_code: Some(code.clone()),
                            result_message: Some(message.clone()),
                            resolution: Some(Resolution::Pay),
                            ..PaymentUpdate::default()
                        },
                    )
                    .await?;
                    return Ok(PayStart::Failed { code, message });
                }
                Outcome::Unknown(reason) => {
                    tracing::warn!(payment = %id, attempt, %reason, "pay outcome unknown");
                    last_unknown = reason.to_string();
                }
            }
        }
        self.transition(
            &id,
            PaymentState::Unresolved,
            Actor::System,
            format!("pay outcome unknown ({last_unknown}); settling by inquiry or cancel"),
            PaymentUpdate::default(),
        )
        .await?;
        Ok(PayStart::Unknown)
    }

    async fn record_outcome<T>(
        &self,
        request_id: &str,
        outcome: &Outcome<T>,
    ) -> Result<(), CheckoutError> {
        let id = request_id.to_string();
        let (kind, code) = match outcome {
            Outcome::Success(_) => (RequestOutcome::Success, None),
            Outcome::Failed { code, .. } => (RequestOutcome::Failed, Some(code.clone())),
            Outcome::Unknown(reason) => {
                let text: String = reason.to_string().chars().take(256).collect();
                (RequestOutcome::Unknown, Some(text))
            }
        };
        match self
            .db(move |j| j.record_request_outcome(&id, kind, code.as_deref()))
            .await
        {
            // The log keeps the first definite answer to a request; a retry of the same
            // request (a cancel after `F ORDER_NOT_EXIST`, say) may still end differently,
            // and that answer must still be acted on rather than abort the whole step.
            Err(CheckoutError::Journal(JournalError::RequestAlreadyFinished {
                request_id,
                stored,
            })) => {
                tracing::info!(request = %request_id, %stored, now = kind.as_str(), "a resend ended differently from the logged answer");
                Ok(())
            }
            other => other.map(|_| ()),
        }
    }

    /// Polls `inquiryPayment` while the code is on screen, until a final state, the
    /// cashier's cancel, or the code's expiry (then cancels).
    async fn poll_until_final(&self, payment_request_id: &str) -> Result<(), CheckoutError> {
        let wakeup = self.wakeup(payment_request_id);
        loop {
            let record = self.payment(payment_request_id).await?;
            if record.state != PaymentState::AwaitingCustomer {
                return Ok(());
            }
            let expired = record
                .code_expires_at
                .map(|expiry| {
                    let grace = time::Duration::try_from(self.inner.policy.expiry_grace)
                        .unwrap_or(time::Duration::ZERO);
                    OffsetDateTime::now_utc() > expiry + grace
                })
                .unwrap_or(false);
            if expired {
                self.cancel(payment_request_id, Actor::System, "the order code expired")
                    .await?;
                return Ok(());
            }
            tokio::select! {
                _ = tokio::time::sleep(self.inner.policy.poll_interval) => {}
                _ = wakeup.notified() => {}
            }
            self.inquire_and_apply(payment_request_id).await?;
        }
    }

    /// One `inquiryPayment` under the payment's lock; records a final status if there is one.
    /// Returns the state after the inquiry and whether Alipay knows the payment at all.
    async fn inquire_and_apply(&self, payment_request_id: &str) -> Result<Inquiry, CheckoutError> {
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

    /// Turns a verified inquiry answer into a final state when it is one. Caller holds the
    /// payment's lock.
    async fn apply_inquiry(
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

    /// Whether a `cancel` for this payment was ever journaled (and so may have reached
    /// Alipay).
    async fn cancel_was_sent(&self, record: &PaymentRecord) -> Result<bool, CheckoutError> {
        let entity = record.entity();
        let requests = self.db(move |j| j.requests_for(entity)).await?;
        Ok(requests
            .iter()
            .any(|request| request.api == CallKind::Cancel))
    }

    async fn note(&self, payment_request_id: &str, detail: &str) -> Result<(), CheckoutError> {
        let record = self.payment(payment_request_id).await?;
        let detail = detail.to_string();
        self.db(move |j| j.append_event(record.id, Actor::System, &detail))
            .await
            .map(|_| ())
    }

    /// A verified `notifyPayment`. Returns once the notification is recorded, which is when
    /// the receiver may acknowledge it.
    pub async fn handle_notification(
        &self,
        notification: &NotifyPaymentRequest,
    ) -> Result<(), CheckoutError> {
        let id = notification.payment_request_id.clone();
        let Some(record) = self
            .db({
                let id = id.clone();
                move |j| j.payment_by_request_id(&id)
            })
            .await?
        else {
            tracing::warn!(payment = %id, "notification for a payment this journal does not know");
            return Ok(());
        };
        let guard = self.payment_lock(&id);
        let held = guard.lock().await;
        let record = self.payment(&record.payment_request_id).await?;
        if !notification.is_success() {
            self.note(
                &id,
                "notification without success received; polling decides",
            )
            .await?;
        } else if !amount_matches(record.amount, Some(&notification.payment_amount)) {
            self.note(&id, "notification for a different amount ignored")
                .await?;
        } else {
            match record.state {
                // A notification says the customer paid, not that the payment is still paid:
                // a cancel sent since (whose answer was lost) may have reversed it, and
                // Alipay resends notifications for a day. Only an inquiry can tell.
                PaymentState::Unresolved if self.cancel_was_sent(&record).await? => {
                    self.note(
                        &id,
                        "notification arrived after a cancel whose outcome is unknown; an inquiry decides",
                    )
                    .await?;
                    self.inner.resolver_wake.notify_one();
                }
                PaymentState::Created
                | PaymentState::AwaitingCustomer
                | PaymentState::Unresolved => {
                    self.transition(
                        &id,
                        PaymentState::Paid,
                        Actor::System,
                        "paid (notification)".into(),
                        PaymentUpdate {
                            payment_id: Some(notification.payment_id.clone()),
                            paid_at: parse_time(notification.payment_time.as_deref()),
                            result_code: Some("SUCCESS".into()),
                            resolution: Some(Resolution::Notify),
                            ..PaymentUpdate::default()
                        },
                    )
                    .await?;
                }
                PaymentState::Cancelling => {
                    self.note(
                        &id,
                        "notification arrived after the cancel was sent; the cancel result decides",
                    )
                    .await?;
                }
                PaymentState::Failed | PaymentState::Cancelled => {
                    // Alipay says the customer paid a payment this journal has ended unpaid
                    // (by a cancel whose reversal Alipay did not honour, or a manager's "not
                    // paid"). The journal does not rewrite a final state; a person must look.
                    tracing::error!(payment = %id, state = record.state.as_str(), "Alipay reports a payment paid that the journal ended unpaid; check the merchant portal and refund the customer if the money was taken");
                    self.note(
                        &id,
                        "Alipay notified SUCCESS for this unpaid payment: check the merchant portal and refund the customer if the money was taken",
                    )
                    .await?;
                }
                _ => {
                    self.note(&id, "duplicate notification acknowledged")
                        .await?;
                }
            }
        }
        drop(held);
        if self.payment(&id).await?.state.is_final() {
            // A duplicate for a final payment took a fresh lock entry.
            self.forget(&id);
        } else {
            self.wake(&id);
        }
        Ok(())
    }

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

    fn inquiry_for(record: &PaymentRecord) -> InquiryPaymentRequest {
        match &record.payment_id {
            Some(payment_id) => InquiryPaymentRequest::by_payment_id(payment_id.clone()),
            None => InquiryPaymentRequest::by_payment_request_id(record.payment_request_id.clone()),
        }
    }
}

/// A payment or refund some task is driving; the resolver leaves it alone until the claim
/// is dropped, which happens however that task ends (also when its future is dropped
/// because the caller stopped waiting).
struct Claim {
    engine: Checkout,
    id: String,
}

impl Drop for Claim {
    fn drop(&mut self) {
        lock(&self.engine.inner.driven).remove(&self.id);
    }
}

/// What one inquiry showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inquiry {
    Final(PaymentState),
    /// Known to Alipay, not final yet (or answered without a usable status).
    Pending,
    NotFound,
    Unknown,
}

/// Whether Alipay's `amount` is exactly `expected` (same minor units, same currency).
fn amount_matches(expected: Money, amount: Option<&Amount>) -> bool {
    amount.is_some_and(|amount| {
        amount.value == expected.minor() && amount.currency == expected.currency().code()
    })
}

/// Alipay's datetimes are informative here; one that does not parse is left out rather than
/// blocking a state change that the status itself already proves.
fn parse_time(text: Option<&str>) -> Option<OffsetDateTime> {
    text.and_then(|t| timefmt::parse_datetime(t).ok())
}

fn request_hash<T: serde::Serialize>(request: &T) -> Result<String, CheckoutError> {
    let body = serde_json::to_vec(request)
        .map_err(|e| CheckoutError::Request(RequestError::Encode(e.to_string())))?;
    Ok(crate::ams::signing::sha256_hex(&body))
}
