//! Everything the screens ask of the engine, as one trait: the GUI's controllers work
//! against [`EngineHandle`], never against `Terminal` or `Checkout` directly, so each
//! controller can be unit-tested on a mock (see `controllers::testing`) and the real
//! engine stays behind one seam ([`TerminalHandle`]).
//!
//! Every method answers through a [`Reply`] that runs later **on the UI thread**: the
//! work itself runs on the engine's tokio runtime, so the UI thread never waits on the
//! network, the disk or a lock. A reply is a plain `FnOnce` (not `Send`): it may hold the
//! controllers' `Rc`s.
//!
//! All reads of the journal live in [`TerminalHandle`]'s read methods, in one place, so
//! switching them to the read-only `journal::Reader` is a change to this file only.

use std::future::Future;
use std::sync::Arc;

use time::Date;
use tokio::sync::broadcast::error::RecvError;

use crate::admin::ManagerApproval;
use crate::checkout::{CheckoutEvent, ManualOutcome, PaymentIntent, StatusAnswer};
use crate::gui::controllers::sale::ChargeRequest;
use crate::hub_link::LinkState;
use crate::journal::{
    Actor, CurrencyTotals, DayClose, DayCloseReport, EventRecord, JournalError, PaymentFilter,
    PaymentRecord, PaymentState, Reader, RefundRecord, RegistrationRecord,
};
use crate::money::{MinorTotal, Money};
use crate::reconcile::ReconcileError;
use crate::reconcile::accept::Accepted;
use crate::reconcile::day_report::DayReport;
use crate::terminal::{
    StoreError, StorePaymentDetail, StoreTotals, StoreTransaction, StoreTransactionsQuery, Terminal,
};

/// An answer delivered on the UI thread.
pub type Reply<T> = Box<dyn FnOnce(T)>;

/// Why the engine would not send a refund, as the refund panel words it (in the screen's
/// language): the engine's refusals are facts, not sentences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundRefused {
    /// The payment is not paid (any more).
    NotPaid,
    /// Everything paid was refunded, or is being refunded.
    NothingLeft,
    /// More than what is left.
    TooMuch,
    /// Alipay's payment id is not known yet (the payment is being settled).
    NoAlipayPaymentId,
    /// Anything else (the journal, the network setup): the engine's own words.
    Other(String),
}

impl RefundRefused {
    fn of(error: crate::checkout::CheckoutError) -> RefundRefused {
        use crate::checkout::CheckoutError;
        match error {
            CheckoutError::NotPaid { .. } => RefundRefused::NotPaid,
            CheckoutError::NothingLeftToRefund { .. } => RefundRefused::NothingLeft,
            CheckoutError::NoAlipayPaymentId { .. } => RefundRefused::NoAlipayPaymentId,
            CheckoutError::Journal(JournalError::RefundExceedsPayment { .. }) => {
                RefundRefused::TooMuch
            }
            other => RefundRefused::Other(other.to_string()),
        }
    }
}

/// What a request to the engine comes back with: the value, or the engine's words (in
/// English, for the log and a notice's detail line).
pub type Answer<T> = Result<T, String>;

/// Why a payment did not start, as the sale screen words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartRefused {
    /// The customer's code already paid an earlier payment (a double scan): nothing sent.
    CodeUsed,
    /// Anything else (the journal, the network setup): the engine's own words.
    Other(String),
}

impl StartRefused {
    fn of(error: crate::checkout::CheckoutError) -> StartRefused {
        match error {
            crate::checkout::CheckoutError::CustomerCodeUsed { .. } => StartRefused::CodeUsed,
            other => StartRefused::Other(other.to_string()),
        }
    }
}

/// Why a discrepancy was not accepted, as the Reconciliation tab words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceptRefused {
    /// The reason was empty.
    NoReason,
    /// Someone (another screen, `reconcile accept`) resolved it meanwhile, or a later file
    /// listed it.
    AlreadyResolved,
    /// The journal has no such discrepancy.
    NotFound,
    /// Anything else (the journal): the engine's own words.
    Other(String),
}

impl AcceptRefused {
    fn of(error: ReconcileError) -> AcceptRefused {
        match error {
            ReconcileError::NoReason => AcceptRefused::NoReason,
            ReconcileError::AlreadyResolved { .. } => AcceptRefused::AlreadyResolved,
            ReconcileError::NoSuchDiscrepancy { .. } => AcceptRefused::NotFound,
            // The journal's own check, when two acceptances raced.
            ReconcileError::Journal(JournalError::InvalidInput {
                field: "discrepancy",
                ..
            }) => AcceptRefused::AlreadyResolved,
            other => AcceptRefused::Other(other.to_string()),
        }
    }
}

/// A payment and what was refunded of it (succeeded refunds only).
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub record: PaymentRecord,
    pub refunded: MinorTotal,
}

/// A payment with everything its detail view shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Detail {
    pub record: PaymentRecord,
    pub events: Vec<EventRecord>,
    pub refunds: Vec<RefundRecord>,
    pub refunded: MinorTotal,
    /// Paid minus every refund that is not failed (open refunds still count, because Alipay
    /// may yet carry them out).
    pub remaining: MinorTotal,
    /// A task of the engine is working on the payment right now (so it is not a manager's
    /// to settle by hand).
    pub driven: bool,
}

impl Detail {
    /// Unresolved and no task of the engine works on it: a manager may record its outcome.
    pub fn can_settle(&self) -> bool {
        self.record.state == PaymentState::Unresolved && !self.driven
    }

    /// The journal has no Alipay payment id: recording "paid" needs the portal's.
    pub fn needs_payment_id(&self) -> bool {
        self.record.payment_id.is_none()
    }
}

/// What the engine tells the screens, already narrowed to what they react to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineEvent {
    /// Alipay answered again (`true`) or could not be reached (`false`).
    Connectivity { online: bool },
    /// The payment has an order code to show.
    CodeReady { payment_request_id: String },
    /// Any state change of a payment, including the final one.
    PaymentChanged { payment_request_id: String },
    /// A refund changed state.
    RefundChanged,
    /// A merchant registration's outcome or review changed (the manager's Registration
    /// panel re-reads it).
    RegistrationChanged,
    /// Events were missed (the screens fell behind): read the state afresh.
    Resync,
}

impl EngineEvent {
    fn of(event: CheckoutEvent) -> Option<EngineEvent> {
        Some(match event {
            CheckoutEvent::Connectivity { online } => EngineEvent::Connectivity { online },
            CheckoutEvent::CodeReady { payment_request_id } => {
                EngineEvent::CodeReady { payment_request_id }
            }
            CheckoutEvent::PaymentState {
                payment_request_id, ..
            } => EngineEvent::PaymentChanged { payment_request_id },
            CheckoutEvent::RefundState { .. } => EngineEvent::RefundChanged,
            CheckoutEvent::PaymentStarted { .. } => return None,
            // Not on screen yet: the journal keeps it (`entry_code_results`).
            CheckoutEvent::EntryCodeResult { .. } => return None,
            CheckoutEvent::RegistrationUpdated { .. } => EngineEvent::RegistrationChanged,
        })
    }
}

/// How one "resolve now" pass went, in the counts the manager screen shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResolveSummary {
    /// Payments and refunds that reached a final state in this pass.
    pub settled: usize,
    /// Payments and refunds still open after it.
    pub open: usize,
    /// Alipay could not be reached at the end of the pass.
    pub unreachable: bool,
}

/// Facts about the running engine that the settings view and the status bar show. Never a
/// key: only fingerprints.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EngineFacts {
    /// The embedded sandbox plays Alipay.
    pub sandbox: bool,
    /// The sandbox's public URL (what the QR codes point at), when it runs.
    pub sandbox_url: Option<String>,
    /// Whether Alipay answered the last call; `None` before the first one.
    pub online: Option<bool>,
    pub merchant_key_fingerprint: String,
    pub alipay_key_fingerprint: String,
    pub notify_url: Option<String>,
}

/// Everything the screens ask of the engine. See the module docs for the threading rule.
pub trait EngineHandle {
    /// Journals a payment and sends its `pay` (an order code to show, or the customer's
    /// scanned code); answers once `pay` is settled.
    fn start_payment(
        &self,
        request: ChargeRequest,
        done: Reply<Result<PaymentRecord, StartRefused>>,
    );
    /// The cashier's cancel; answers when the engine is done with it (however it ended).
    fn cancel_payment(&self, payment_request_id: String, done: Reply<()>);
    /// One payment's record as the journal holds it now.
    fn payment(&self, payment_request_id: String, done: Reply<Answer<PaymentRecord>>);
    /// Delivers every engine event to `sink`, on the UI thread, for as long as the engine
    /// runs.
    fn subscribe(&self, sink: Box<dyn Fn(EngineEvent)>);
    /// Delivers the store-hub link's state to `sink`, on the UI thread: the current one at
    /// once, then every change, for as long as the engine runs. Nothing (not even `None`)
    /// without `[hub] url`; the default does nothing, for engines without a hub link.
    fn follow_hub_link(&self, sink: Box<dyn Fn(Option<LinkState>)>) {
        let _ = sink;
    }
    /// A refund under a manager's approval (journaled before it is sent).
    fn refund(
        &self,
        payment_request_id: String,
        amount: Money,
        reason: String,
        approval: Arc<ManagerApproval>,
        done: Reply<Result<RefundRecord, RefundRefused>>,
    );
    /// Records what the merchant portal shows for an unresolved payment.
    fn settle_manually(
        &self,
        payment_request_id: String,
        outcome: ManualOutcome,
        reason: String,
        approval: Arc<ManagerApproval>,
        done: Reply<Answer<PaymentRecord>>,
    );
    /// One resolver pass now.
    fn resolve_now(&self, done: Reply<Answer<ResolveSummary>>);
    /// The payments matching `filter`, newest first, each with what was refunded of it.
    fn transactions(&self, filter: PaymentFilter, done: Reply<Answer<Vec<Listed>>>);
    /// A payment with its timeline and refunds; `None` if the journal has no such payment.
    fn payment_detail(&self, payment_request_id: String, done: Reply<Answer<Option<Detail>>>);
    /// How many payments the resolver still has to settle.
    fn count_unresolved(&self, done: Reply<Answer<usize>>);
    /// The totals of one local day, per currency.
    fn day_totals(&self, day: Date, done: Reply<Answer<Vec<CurrencyTotals>>>);
    /// The close of one local day with what happened to it since; `None` while the day is
    /// open.
    fn day_report(&self, day: Date, done: Reply<Answer<Option<DayCloseReport>>>);
    /// Closes one local day (the Z report) in the approving manager's name.
    fn close_day(&self, day: Date, approval: Arc<ManagerApproval>, done: Reply<Answer<DayClose>>);
    /// One Alipay day's books (`yyyyMMdd`, GMT+8), as `reconcile report` shows them: files,
    /// counts, settlement batches and discrepancies. Read through the read model.
    fn reconciliation_day(&self, date: String, done: Reply<Answer<DayReport>>);
    /// Accepts discrepancy `id` (Alipay's report prevails) under `approval`, with `reason`:
    /// appended to the payment's history, and an unresolved payment Alipay settled becomes
    /// paid by reconciliation.
    fn accept_discrepancy(
        &self,
        id: i64,
        reason: String,
        approval: Arc<ManagerApproval>,
        done: Reply<Result<Accepted, AcceptRefused>>,
    );
    /// The journal's registration of this merchant and store: the newest accepted one, or
    /// else the newest (the manager's Registration panel); `None` before any.
    fn registration(&self, done: Reply<Answer<Option<RegistrationRecord>>>);
    /// "Check now": asks Alipay how the review stands (`inquiryRegistrationStatus`),
    /// journals it, and answers with the journal's record; `Err` when Alipay could not say.
    fn check_registration(&self, done: Reply<Answer<Option<RegistrationRecord>>>);
    /// Whether a task of the engine works on this payment right now.
    fn is_driven(&self, payment_request_id: &str) -> bool;
    /// See [`EngineFacts`].
    fn facts(&self) -> EngineFacts;
    /// Demo only (embedded sandbox): pays `code` as the customer's wallet would. Answers
    /// when the wallet answered; the payment's result arrives as an [`EngineEvent`].
    fn pay_as_demo_customer(&self, code: String, done: Reply<()>);
    /// Demo only: the sandbox's customer confirms (or declines) a User-presented payment
    /// that waits for them, in the wallet.
    fn confirm_as_demo_customer(&self, payment_request_id: String, confirm: bool, done: Reply<()>);
    /// The whole store at the hub: the transactions matching `query` and the totals of
    /// `day`, read together. Without a hub (and on the controllers' mock, unless a test
    /// overrides it) the answer is that there is none.
    fn store_view(&self, query: StoreTransactionsQuery, day: Date, done: Reply<StoreAnswer>) {
        let _ = (query, day);
        done(Err(no_hub()));
    }
    /// One store payment's detail at the hub (read-only).
    fn store_payment(
        &self,
        payment_request_id: String,
        done: Reply<Result<StorePaymentDetail, StoreError>>,
    ) {
        let _ = payment_request_id;
        done(Err(no_hub()));
    }
}

/// The whole store's rows and the day's totals, or why the hub did not give them.
pub type StoreAnswer = Result<(Vec<StoreTransaction>, Vec<StoreTotals>), StoreError>;

fn no_hub() -> StoreError {
    StoreError::Failed("no store hub is configured (`[hub] url`)".into())
}

/// The real [`EngineHandle`]: the started terminal and the runtime it runs on.
#[derive(Clone)]
pub struct TerminalHandle {
    /// Kept alive as long as the GUI is: dropping it stops the receiver and the sandbox.
    terminal: Arc<Terminal>,
    runtime: tokio::runtime::Handle,
    /// The GUI's read-only journal connection, opened on first read (off the UI thread).
    /// Reads never queue behind the engine's writes: the journal is in WAL mode.
    reader: Arc<std::sync::Mutex<Option<Reader>>>,
}

impl TerminalHandle {
    pub fn new(terminal: Arc<Terminal>, runtime: tokio::runtime::Handle) -> TerminalHandle {
        TerminalHandle {
            terminal,
            runtime,
            reader: Arc::new(std::sync::Mutex::new(None)),
        }
    }

    pub fn terminal(&self) -> &Arc<Terminal> {
        &self.terminal
    }

    /// Runs `work` on the runtime and hands its answer to `done` on the UI thread.
    /// Demo only: runs `act` with the embedded sandbox's customer, answering `done` when it
    /// is over (at once, with a warning, when there is no embedded sandbox).
    fn as_demo_customer<F>(
        &self,
        done: Reply<()>,
        act: impl FnOnce(crate::terminal::DemoCustomer) -> F,
    ) where
        F: Future<Output = ()> + Send + 'static,
    {
        let Some(customer) = self
            .terminal
            .sandbox()
            .map(|sandbox| sandbox.demo_customer())
        else {
            tracing::warn!("the demo customer exists only on the embedded sandbox");
            done(());
            return;
        };
        self.run(act(customer), done);
    }

    fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
        done: Reply<T>,
    ) {
        let task = self.runtime.spawn(work);
        let queued = slint::spawn_local(async move {
            match task.await {
                Ok(value) => done(value),
                Err(error) => tracing::error!(%error, "an engine task ended without an answer"),
            }
        });
        if let Err(error) = queued {
            // The event loop has ended: the window is closing, nothing left to update.
            tracing::debug!(%error, "GUI update dropped");
        }
    }

    /// Reads the journal through the read model on the blocking pool; the one place the
    /// GUI's reads go through.
    fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Reader) -> Result<T, JournalError> + Send + 'static,
        done: Reply<Answer<T>>,
    ) {
        let terminal = self.terminal.clone();
        let reader = self.reader.clone();
        let work = self.runtime.spawn_blocking(move || {
            // A panic in a read cannot leave the connection half-changed (it only reads).
            let mut slot = reader
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let reader = match slot.take() {
                Some(reader) => reader,
                None => terminal.reader()?,
            };
            let answer = f(&reader);
            *slot = Some(reader);
            answer
        });
        self.run(
            async move {
                match work.await {
                    Ok(result) => result.map_err(|error| error.to_string()),
                    Err(error) => Err(format!("the journal read stopped: {error}")),
                }
            },
            done,
        );
    }
}

impl EngineHandle for TerminalHandle {
    fn start_payment(
        &self,
        request: ChargeRequest,
        done: Reply<Result<PaymentRecord, StartRefused>>,
    ) {
        let checkout = self.terminal.checkout.clone();
        let ChargeRequest {
            amount,
            description,
            customer_code,
        } = request;
        let intent = match customer_code {
            Some(code) => PaymentIntent::user_presented(amount, description, Actor::Cashier, code),
            None => PaymentIntent::order_code(amount, description, Actor::Cashier),
        };
        self.run(
            async move {
                checkout
                    .start_payment(intent)
                    .await
                    .map(|(record, _start)| record)
                    .map_err(StartRefused::of)
            },
            done,
        );
    }

    fn cancel_payment(&self, payment_request_id: String, done: Reply<()>) {
        let checkout = self.terminal.checkout.clone();
        self.run(
            async move {
                if let Err(error) = checkout
                    .cancel(&payment_request_id, Actor::Cashier, "cancelled by the cashier")
                    .await
                {
                    tracing::error!(%error, payment = %payment_request_id, "cancel failed; the resolver will settle the payment");
                }
            },
            done,
        );
    }

    fn payment(&self, payment_request_id: String, done: Reply<Answer<PaymentRecord>>) {
        let checkout = self.terminal.checkout.clone();
        self.run(
            async move {
                checkout
                    .payment(&payment_request_id)
                    .await
                    .map_err(|error| error.to_string())
            },
            done,
        );
    }

    fn subscribe(&self, sink: Box<dyn Fn(EngineEvent)>) {
        let mut events = self.terminal.checkout.subscribe();
        // The receiver is awaited on the UI thread's executor (tokio's channels need no
        // runtime), so each event reaches `sink` there without another hop.
        let queued = slint::spawn_local(async move {
            loop {
                match events.recv().await {
                    Ok(event) => {
                        if let Some(event) = EngineEvent::of(event) {
                            sink(event);
                        }
                    }
                    Err(RecvError::Lagged(_)) => sink(EngineEvent::Resync),
                    Err(RecvError::Closed) => break,
                }
            }
        });
        if let Err(error) = queued {
            tracing::debug!(%error, "no engine events: the event loop has ended");
        }
    }

    fn follow_hub_link(&self, sink: Box<dyn Fn(Option<LinkState>)>) {
        let Some(mut link) = self.terminal.watch_hub_link() else {
            return;
        };
        // A watch needs no runtime either: awaited on the UI thread's executor.
        let queued = slint::spawn_local(async move {
            loop {
                let state = link.borrow_and_update().clone();
                sink(Some(state));
                if link.changed().await.is_err() {
                    break;
                }
            }
        });
        if let Err(error) = queued {
            tracing::debug!(%error, "no hub link state: the event loop has ended");
        }
    }

    fn refund(
        &self,
        payment_request_id: String,
        amount: Money,
        reason: String,
        approval: Arc<ManagerApproval>,
        done: Reply<Result<RefundRecord, RefundRefused>>,
    ) {
        let checkout = self.terminal.checkout.clone();
        self.run(
            async move {
                checkout
                    .refund(&payment_request_id, Some(amount), &reason, &approval)
                    .await
                    .map_err(RefundRefused::of)
            },
            done,
        );
    }

    fn settle_manually(
        &self,
        payment_request_id: String,
        outcome: ManualOutcome,
        reason: String,
        approval: Arc<ManagerApproval>,
        done: Reply<Answer<PaymentRecord>>,
    ) {
        let checkout = self.terminal.checkout.clone();
        self.run(
            async move {
                checkout
                    .settle_manually(&payment_request_id, outcome, &reason, &approval)
                    .await
                    .map_err(|error| error.to_string())
            },
            done,
        );
    }

    fn resolve_now(&self, done: Reply<Answer<ResolveSummary>>) {
        let checkout = self.terminal.checkout.clone();
        self.run(
            async move {
                let report = checkout.resolve_once().await;
                let unreachable = checkout.online() == Some(false);
                report
                    .map(|report| ResolveSummary {
                        settled: report.settled_payments.len() + report.settled_refunds.len(),
                        open: report.open_payments.len() + report.open_refunds.len(),
                        unreachable,
                    })
                    .map_err(|error| error.to_string())
            },
            done,
        );
    }

    fn transactions(&self, filter: PaymentFilter, done: Reply<Answer<Vec<Listed>>>) {
        self.read(
            move |reader| {
                Ok(reader
                    .transactions(&filter)?
                    .into_iter()
                    .map(|row| Listed {
                        record: row.payment,
                        refunded: row.refunds.refunded,
                    })
                    .collect())
            },
            done,
        );
    }

    fn payment_detail(&self, payment_request_id: String, done: Reply<Answer<Option<Detail>>>) {
        let checkout = self.terminal.checkout.clone();
        self.read(
            move |reader| {
                let Some(found) = reader.payment_detail(&payment_request_id)? else {
                    return Ok(None);
                };
                // Asked after the read: whether a task of the engine still works on it
                // decides whether a manager may settle it by hand.
                let driven = checkout.is_driven(&found.payment.payment_request_id);
                Ok(Some(Detail {
                    record: found.payment,
                    events: found.events,
                    refunds: found.refunds,
                    refunded: found.totals.refunded,
                    remaining: found.totals.remaining,
                    driven,
                }))
            },
            done,
        );
    }

    fn count_unresolved(&self, done: Reply<Answer<usize>>) {
        self.read(
            |reader| Ok(usize::try_from(reader.count_unresolved()?).unwrap_or(usize::MAX)),
            done,
        );
    }

    fn day_totals(&self, day: Date, done: Reply<Answer<Vec<CurrencyTotals>>>) {
        // The day runs from local midnight to local midnight (`local_time::day_bounds`),
        // right across a daylight-saving change, like the transaction list's "today".
        self.read(move |reader| reader.daily_totals(day..=day), done);
    }

    fn day_report(&self, day: Date, done: Reply<Answer<Option<DayCloseReport>>>) {
        self.read(
            move |reader| match reader.day_close_of(day)? {
                Some(close) => reader.day_report(close).map(Some),
                None => Ok(None),
            },
            done,
        );
    }

    fn reconciliation_day(&self, date: String, done: Reply<Answer<DayReport>>) {
        self.read(
            move |reader| {
                DayReport::for_day(reader, &date).map_err(|error| match error {
                    ReconcileError::Journal(error) => error,
                    other => JournalError::Unreadable {
                        what: other.to_string(),
                    },
                })
            },
            done,
        );
    }

    fn registration(&self, done: Reply<Answer<Option<RegistrationRecord>>>) {
        let merchant = self.terminal.config.merchant.reference_merchant_id.clone();
        let store = self.terminal.config.store.reference_store_id.clone();
        self.read(
            move |reader| reader.current_registration(&merchant, &store),
            done,
        );
    }

    fn close_day(&self, day: Date, approval: Arc<ManagerApproval>, done: Reply<Answer<DayClose>>) {
        let checkout = self.terminal.checkout.clone();
        self.run(
            async move {
                checkout
                    .close_day(day, &approval)
                    .await
                    .map_err(|error| error.to_string())
            },
            done,
        );
    }

    fn accept_discrepancy(
        &self,
        id: i64,
        reason: String,
        approval: Arc<ManagerApproval>,
        done: Reply<Result<Accepted, AcceptRefused>>,
    ) {
        // A writer connection of its own, opened for this one acceptance: SQLite serialises
        // it with the engine's writes (an IMMEDIATE transaction waits for the busy timeout),
        // and the engine's connection stays the engine's.
        let data_dir = self.terminal.config.storage.data_dir.clone();
        let work = self.runtime.spawn_blocking(move || {
            let mut journal = crate::journal::Journal::open_in(&data_dir)
                .map_err(|error| AcceptRefused::Other(error.to_string()))?;
            crate::reconcile::accept::accept(&mut journal, id, &approval, &reason)
                .map_err(AcceptRefused::of)
        });
        self.run(
            async move {
                match work.await {
                    Ok(result) => result,
                    Err(error) => Err(AcceptRefused::Other(format!(
                        "the acceptance stopped: {error}"
                    ))),
                }
            },
            done,
        );
    }

    fn check_registration(&self, done: Reply<Answer<Option<RegistrationRecord>>>) {
        let checkout = self.terminal.checkout.clone();
        self.run(
            async move {
                let report = checkout
                    .check_registration()
                    .await
                    .map_err(|error| error.to_string())?;
                match report.answer {
                    StatusAnswer::Review(_) => Ok(report.record),
                    StatusAnswer::NotRegistered => Ok(None),
                    StatusAnswer::Refused { code, message } => Err(format!("{code}: {message}")),
                    StatusAnswer::Unknown { reason } => Err(reason),
                }
            },
            done,
        );
    }

    fn is_driven(&self, payment_request_id: &str) -> bool {
        self.terminal.checkout.is_driven(payment_request_id)
    }

    fn facts(&self) -> EngineFacts {
        let prints = self.terminal.key_fingerprints();
        EngineFacts {
            sandbox: self.terminal.sandbox().is_some(),
            sandbox_url: self
                .terminal
                .sandbox()
                .map(|sandbox| sandbox.sandbox().public_url().to_string()),
            online: self.terminal.checkout.online(),
            merchant_key_fingerprint: prints.merchant.clone(),
            alipay_key_fingerprint: prints.alipay.clone(),
            notify_url: self.terminal.notify_url().map(ToString::to_string),
        }
    }

    fn confirm_as_demo_customer(&self, payment_request_id: String, confirm: bool, done: Reply<()>) {
        self.as_demo_customer(done, move |customer| async move {
            let answered = if confirm {
                customer.confirm(&payment_request_id).await
            } else {
                customer.decline(&payment_request_id).await
            };
            if let Err(error) = answered {
                tracing::warn!(%error, "the demo customer could not answer in the wallet");
            }
        });
    }

    fn store_view(&self, query: StoreTransactionsQuery, day: Date, done: Reply<StoreAnswer>) {
        let Some(client) = self.terminal.store_client() else {
            done(Err(no_hub()));
            return;
        };
        self.run(
            async move {
                let date = day.to_string();
                let (rows, totals) =
                    tokio::join!(client.transactions(&query), client.totals(&date));
                Ok((rows?, totals?))
            },
            done,
        );
    }

    fn store_payment(
        &self,
        payment_request_id: String,
        done: Reply<Result<StorePaymentDetail, StoreError>>,
    ) {
        let Some(client) = self.terminal.store_client() else {
            done(Err(no_hub()));
            return;
        };
        self.run(
            async move { client.payment(&payment_request_id).await },
            done,
        );
    }

    fn pay_as_demo_customer(&self, code: String, done: Reply<()>) {
        self.as_demo_customer(done, move |customer| async move {
            // The sandbox's own loopback client: no CA bundle is loaded for it.
            if let Err(error) = customer.pay(&code).await {
                tracing::warn!(%error, "the demo customer could not pay");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::RefundState;

    #[test]
    fn an_acceptance_refused_is_worded_by_what_the_manager_can_do() {
        assert_eq!(
            AcceptRefused::of(ReconcileError::NoReason),
            AcceptRefused::NoReason
        );
        assert_eq!(
            AcceptRefused::of(ReconcileError::AlreadyResolved { id: 3 }),
            AcceptRefused::AlreadyResolved
        );
        assert_eq!(
            AcceptRefused::of(ReconcileError::NoSuchDiscrepancy { id: 3 }),
            AcceptRefused::NotFound
        );
        // Two acceptances raced: the journal's own refusal is the same news.
        assert_eq!(
            AcceptRefused::of(ReconcileError::Journal(JournalError::InvalidInput {
                field: "discrepancy",
                reason: "discrepancy 3 is already resolved".into(),
            })),
            AcceptRefused::AlreadyResolved
        );
        let other = AcceptRefused::of(ReconcileError::Journal(JournalError::InvalidInput {
            field: "reason",
            reason: "too long".into(),
        }));
        assert!(matches!(other, AcceptRefused::Other(words) if words.contains("too long")));
    }

    #[test]
    fn the_screens_hear_changes_not_the_engines_detail() {
        let id = || "P1".to_string();
        assert_eq!(
            EngineEvent::of(CheckoutEvent::CodeReady {
                payment_request_id: id(),
            }),
            Some(EngineEvent::CodeReady {
                payment_request_id: id()
            })
        );
        assert_eq!(
            EngineEvent::of(CheckoutEvent::PaymentState {
                payment_request_id: id(),
                state: PaymentState::Paid,
                detail: "SUCCESS".into(),
            }),
            Some(EngineEvent::PaymentChanged {
                payment_request_id: id()
            })
        );
        assert_eq!(
            EngineEvent::of(CheckoutEvent::RefundState {
                refund_request_id: "R1".into(),
                state: RefundState::Succeeded,
                detail: String::new(),
            }),
            Some(EngineEvent::RefundChanged)
        );
        assert_eq!(
            EngineEvent::of(CheckoutEvent::Connectivity { online: false }),
            Some(EngineEvent::Connectivity { online: false })
        );
        assert_eq!(
            EngineEvent::of(CheckoutEvent::PaymentStarted {
                payment_request_id: id()
            }),
            None,
            "the screen that charged already knows"
        );
    }
}
