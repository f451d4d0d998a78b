//! The engine's core: the shared state (client, journal, policy, per-payment locks and
//! wakeups, the claims the resolver respects, the event channel) and the steps every flow
//! uses: journal access on the blocking pool, recorded transitions that publish an event,
//! recorded request outcomes.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use time::OffsetDateTime;
use tokio::sync::{Notify, broadcast};

use super::{CheckoutError, CheckoutEvent, CheckoutSettings, Policy};
use crate::ams::client::{AmsClient, Outcome, RequestError, UnknownReason};
use crate::ams::models::Amount;
use crate::ams::timefmt;
use crate::journal::{
    Actor, Journal, JournalError, PaymentRecord, PaymentState, PaymentUpdate, RequestOutcome,
};
use crate::money::Money;

/// The engine. Cheap to clone; all clones share one journal, client and event channel.
#[derive(Clone)]
pub struct Checkout {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) client: AmsClient,
    pub(super) journal: Arc<Mutex<Journal>>,
    pub(super) policy: Policy,
    pub(super) settings: CheckoutSettings,
    pub(super) events: broadcast::Sender<CheckoutEvent>,
    /// Wakes a payment's poller early (a notification arrived, or a cancel was asked for).
    pub(super) wakeups: Mutex<HashMap<String, Arc<Notify>>>,
    pub(super) locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Payments (by request id) that a live task is starting, polling or settling, and refunds
    /// a manager's call is still sending; the resolver leaves them alone.
    pub(super) driven: Mutex<HashSet<String>>,
    pub(super) resolver_wake: Notify,
    pub(super) online: Mutex<Option<bool>>,
    /// One `register` at a time: two at once would each see no journaled registration and
    /// send two different request ids.
    pub(super) registration_lock: tokio::sync::Mutex<()>,
    /// The store hub's refund reservations, when the wiring installed them.
    pub(super) refund_gate: std::sync::OnceLock<Arc<dyn super::refund_gate::RefundGate>>,
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
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
                registration_lock: tokio::sync::Mutex::new(()),
                refund_gate: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Installs the gate every refund must pass before it is journaled (the store hub's
    /// reservation). Once: a second call is ignored, and says so.
    pub fn set_refund_gate(&self, gate: Arc<dyn super::refund_gate::RefundGate>) {
        if self.inner.refund_gate.set(gate).is_err() {
            tracing::warn!("a refund gate was installed already; the second one is ignored");
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<CheckoutEvent> {
        self.inner.events.subscribe()
    }

    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// Test fixtures only (the `test-support` feature): runs `operation` on the engine's own
    /// journal connection, so a test can set up a state no face could reach (a payment left
    /// half-sent by a crash, say) and read what the engine wrote. Faces read through
    /// [`crate::terminal::Terminal::reader`]; nothing outside the engine writes.
    #[cfg(any(test, feature = "test-support"))]
    pub async fn journal_for_tests<T, F>(&self, operation: F) -> Result<T, CheckoutError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Journal) -> Result<T, JournalError> + Send + 'static,
    {
        self.db(operation).await
    }

    /// Runs a journal operation on the blocking pool: SQLite with `synchronous=FULL` waits
    /// for the disk, which must never stall the async workers (or the UI). The engine's
    /// write connection: only the engine uses it.
    pub(crate) async fn db<T, F>(&self, operation: F) -> Result<T, CheckoutError>
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
        .map_err(CheckoutError::Internal)?
        .map_err(CheckoutError::from)
    }

    pub(super) fn publish(&self, event: CheckoutEvent) {
        // No subscriber is fine: faces come and go.
        let _ = self.inner.events.send(event);
    }

    pub(super) fn note_connectivity<T>(&self, outcome: &Outcome<T>) {
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
    pub(super) fn claim(&self, id: &str) -> Claim {
        lock(&self.inner.driven).insert(id.to_string());
        Claim {
            engine: self.clone(),
            id: id.to_string(),
        }
    }

    pub(super) fn payment_lock(&self, payment_request_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        lock(&self.inner.locks)
            .entry(payment_request_id.to_string())
            .or_default()
            .clone()
    }

    pub(super) fn wakeup(&self, payment_request_id: &str) -> Arc<Notify> {
        lock(&self.inner.wakeups)
            .entry(payment_request_id.to_string())
            .or_default()
            .clone()
    }

    /// Wakes the payment's poller, if it has one; a payment nobody polls gains no entry.
    pub(super) fn wake(&self, payment_request_id: &str) {
        if let Some(wakeup) = lock(&self.inner.wakeups).get(payment_request_id) {
            wakeup.notify_one();
        }
    }

    /// Records a transition and publishes it.
    pub(super) async fn transition(
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
    pub(super) fn forget(&self, payment_request_id: &str) {
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

    pub(super) async fn record_outcome<T>(
        &self,
        request_id: &str,
        outcome: &Outcome<T>,
    ) -> Result<(), CheckoutError> {
        let id = request_id.to_string();
        let (kind, code) = match outcome {
            Outcome::Success(_) => (RequestOutcome::Success, None),
            Outcome::Failed { code, .. } => (RequestOutcome::Failed, Some(code.to_string())),
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

    pub(super) async fn note(
        &self,
        payment_request_id: &str,
        detail: &str,
    ) -> Result<(), CheckoutError> {
        let record = self.payment(payment_request_id).await?;
        let detail = detail.to_string();
        self.db(move |j| j.append_event(record.id, Actor::System, &detail))
            .await
            .map(|_| ())
    }
}

/// A payment or refund some task is driving; the resolver leaves it alone until the claim
/// is dropped, which happens however that task ends (also when its future is dropped
/// because the caller stopped waiting).
pub(super) struct Claim {
    engine: Checkout,
    id: String,
}

impl Drop for Claim {
    fn drop(&mut self) {
        lock(&self.engine.inner.driven).remove(&self.id);
    }
}

/// Whether Alipay's `amount` is exactly `expected` (same minor units, same currency).
pub(super) fn amount_matches(expected: Money, amount: Option<&Amount>) -> bool {
    amount.is_some_and(|amount| {
        amount.value == expected.minor() && amount.currency == expected.currency().code()
    })
}

/// Alipay's datetimes are informative here; one that does not parse is left out rather than
/// blocking a state change that the status itself already proves.
pub(super) fn parse_time(text: Option<&str>) -> Option<OffsetDateTime> {
    text.and_then(|t| timefmt::parse_datetime(t).ok())
}

pub(super) fn request_hash<T: serde::Serialize>(request: &T) -> Result<String, CheckoutError> {
    let body =
        serde_json::to_vec(request).map_err(|e| CheckoutError::Request(RequestError::Encode(e)))?;
    Ok(crate::ams::signing::sha256_hex(&body))
}
