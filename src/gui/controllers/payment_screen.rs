//! The payment on the customer's screen: Charge, the QR code and its countdown, Cancel,
//! the demo customer, and the result.
//!
//! The screen follows the journal, not guesses: whenever the engine reports a change of
//! the payment on screen, its record is read again and the screen is drawn from that
//! record. The record alone says which page to show, so a missed or reordered event cannot
//! leave the QR up after the payment ended.

use std::cell::RefCell;
use std::rc::Rc;

use time::OffsetDateTime;

use super::navigation::{Navigation, Screen};
use super::sale::ChargeRequest;
use super::{Changed, EngineSlot, Listeners};
use crate::gui::engine_handle::{EngineEvent, StartRefused};
use crate::gui::result_screen::{Reason, ResultScreen, reason_for};
use crate::journal::{PaymentRecord, PaymentState, Product};
use crate::money::Money;

/// The payment the QR or result screen is about.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    /// Our paymentRequestId.
    pub id: String,
    pub amount: Money,
    /// Order Code (a QR on screen) or User-presented (the customer confirms their scanned
    /// code in the wallet).
    pub product: Product,
    /// User-presented: the masked customer's code ("•••• 1234").
    pub customer_code: Option<String>,
    /// The order code on screen, if any.
    pub code: Option<String>,
    pub expires_at: Option<OffsetDateTime>,
    pub cancelling: bool,
    pub simulating: bool,
    /// Set once the payment has a result to show.
    pub result: Option<ResultView>,
}

impl Shown {
    pub fn new(id: String, amount: Money) -> Shown {
        Shown {
            id,
            amount,
            product: Product::OrderCode,
            customer_code: None,
            code: None,
            expires_at: None,
            cancelling: false,
            simulating: false,
            result: None,
        }
    }
}

/// What the result screen shows.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultView {
    pub kind: ResultScreen,
    pub reason: Reason,
    /// Alipay's result code ("" when none).
    pub code: String,
    /// When it was paid (or settled); `None` hides the line.
    pub time: Option<OffsetDateTime>,
    /// Alipay's paymentId, or our paymentRequestId while Alipay's is unknown.
    pub payment_id: String,
}

/// News for the other screens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentNews {
    /// Charge found no engine yet.
    NotReady,
    /// The engine refused to start the payment (its words).
    ChargeFailed(String),
    /// The customer's code already paid an earlier payment: nothing was sent.
    CodeUsed,
    /// "New sale": the payment is done with; the sale screens start over.
    Finished,
}

#[derive(Default)]
struct ScreenState {
    /// A `pay` is on its way (Charge pressed, no answer yet).
    charging: bool,
    shown: Option<Shown>,
}

#[derive(Clone)]
pub struct PaymentScreen {
    engine: EngineSlot,
    nav: Navigation,
    state: Rc<RefCell<ScreenState>>,
    changed: Changed,
    news: Listeners<PaymentNews>,
}

impl PaymentScreen {
    pub fn new(engine: EngineSlot, nav: Navigation) -> PaymentScreen {
        PaymentScreen {
            engine,
            nav,
            state: Rc::new(RefCell::new(ScreenState::default())),
            changed: Changed::default(),
            news: Listeners::default(),
        }
    }

    /// Called after every change of what the QR and result screens show (and `charging`).
    pub fn on_change(&self, listener: impl Fn() + 'static) {
        self.changed.listen(move |()| listener());
    }

    pub fn on_news(&self, listener: impl Fn(&PaymentNews) + 'static) {
        self.news.listen(listener);
    }

    fn update<T>(&self, f: impl FnOnce(&mut ScreenState) -> T) -> T {
        let result = f(&mut self.state.borrow_mut());
        self.changed.emit(&());
        result
    }

    pub fn charging(&self) -> bool {
        self.state.borrow().charging
    }

    pub fn shown(&self) -> Option<Shown> {
        self.state.borrow().shown.clone()
    }

    /// A payment is being started or is on the customer's screen without a result.
    pub fn in_progress(&self) -> bool {
        let state = self.state.borrow();
        state.charging || state.shown.as_ref().is_some_and(|s| s.result.is_none())
    }

    /// Whether a payment (finished or not) is on screen.
    pub fn has_payment(&self) -> bool {
        self.state.borrow().shown.is_some()
    }

    /// Charge: starts a payment, unless one is already under way.
    pub fn charge(&self, request: ChargeRequest) {
        if self.in_progress() || self.has_payment() {
            return;
        }
        let Some(engine) = self.engine.get() else {
            self.news.emit(&PaymentNews::NotReady);
            return;
        };
        self.update(|state| state.charging = true);
        let screen = self.clone();
        let amount = request.amount;
        engine.start_payment(
            request,
            Box::new(move |started| {
                screen.update(|state| state.charging = false);
                match started {
                    Ok(record) => {
                        let id = record.payment_request_id.clone();
                        screen.update(|state| state.shown = Some(Shown::new(id.clone(), amount)));
                        screen.apply(record);
                        // Anything that happened between `pay` and now was published
                        // before the screen knew this payment: read it once more.
                        screen.refresh(id);
                    }
                    Err(StartRefused::CodeUsed) => {
                        tracing::warn!(
                            "a customer's code that already paid was scanned again; nothing sent"
                        );
                        screen.news.emit(&PaymentNews::CodeUsed);
                    }
                    Err(StartRefused::Other(message)) => {
                        tracing::error!(%message, "the payment could not be started");
                        screen.news.emit(&PaymentNews::ChargeFailed(message));
                    }
                }
            }),
        );
    }

    /// Puts a payment recovered at start-up back on the customer screen: the same order
    /// code, its countdown going on, Cancel working.
    pub fn show_recovered(&self, record: PaymentRecord) {
        if self.in_progress() || self.has_payment() {
            tracing::warn!(payment = %record.payment_request_id, "a recovered payment found the screen busy; the resolver settles it");
            return;
        }
        tracing::info!(payment = %record.payment_request_id, "showing the order code of a payment left open by the previous run");
        let id = record.payment_request_id.clone();
        self.update(|state| state.shown = Some(Shown::new(id.clone(), record.amount)));
        self.apply(record);
        // It may have changed between start-up and now.
        self.refresh(id);
    }

    /// An engine event: a change of the payment on screen is read again.
    pub fn on_event(&self, event: &EngineEvent) {
        let id = match event {
            EngineEvent::CodeReady { payment_request_id }
            | EngineEvent::PaymentChanged { payment_request_id } => {
                if !self.is_shown(payment_request_id) {
                    return;
                }
                payment_request_id.clone()
            }
            EngineEvent::Resync => match self.state.borrow().shown.as_ref() {
                Some(shown) => shown.id.clone(),
                None => return,
            },
            EngineEvent::Connectivity { .. }
            | EngineEvent::RefundChanged
            | EngineEvent::RegistrationChanged => return,
        };
        self.refresh(id);
    }

    fn is_shown(&self, id: &str) -> bool {
        self.state
            .borrow()
            .shown
            .as_ref()
            .is_some_and(|shown| shown.id == id)
    }

    /// Reads the payment's record and draws the screen from it.
    pub fn refresh(&self, payment_request_id: String) {
        let Some(engine) = self.engine.get() else {
            return;
        };
        let screen = self.clone();
        let id = payment_request_id.clone();
        engine.payment(
            payment_request_id,
            Box::new(move |read| match read {
                Ok(record) => screen.apply(record),
                Err(error) => tracing::error!(%error, payment = %id, "cannot read the payment"),
            }),
        );
    }

    /// Shows `record` if it is the payment on screen, and the page it calls for.
    fn apply(&self, record: PaymentRecord) {
        let page = {
            let mut state = self.state.borrow_mut();
            let Some(shown) = state.shown.as_mut() else {
                return;
            };
            if shown.id != record.payment_request_id {
                return;
            }
            // Reads run concurrently on the runtime, so an older snapshot can arrive after
            // a newer one. A payment never goes back from a result to the QR screen, nor
            // from a final result to "not known yet": such a snapshot is stale.
            let current = shown.result.as_ref().map(|r| r.kind);
            let next = ResultScreen::of(record.state);
            let stale = match (current, next) {
                (Some(_), None) => true,
                (Some(now), Some(ResultScreen::Unresolved)) => now != ResultScreen::Unresolved,
                _ => false,
            };
            if stale {
                return;
            }
            shown.product = record.product;
            shown.customer_code = record
                .customer_code_last4
                .as_deref()
                .map(crate::checkout::payment_code::mask);
            match next {
                Some(kind) => {
                    shown.result = Some(ResultView {
                        kind,
                        reason: if kind == ResultScreen::Failed {
                            reason_for(record.result_code.as_deref())
                        } else {
                            Reason::Other
                        },
                        code: record.result_code.clone().unwrap_or_default(),
                        time: record.paid_at.or(record.final_at),
                        payment_id: record
                            .payment_id
                            .clone()
                            .unwrap_or_else(|| record.payment_request_id.clone()),
                    });
                    shown.simulating = false;
                    Some(Screen::Result)
                }
                None if matches!(
                    record.state,
                    PaymentState::AwaitingCustomer | PaymentState::Cancelling
                ) =>
                {
                    shown.code = record.code_value.clone();
                    shown.expires_at = record.code_expires_at;
                    if record.state == PaymentState::Cancelling {
                        shown.cancelling = true;
                    }
                    // A product shows its code (Order Code), or the customer confirms the
                    // code they showed, in their wallet (User-presented).
                    Some(if record.product.shows_code() {
                        Screen::CustomerQr
                    } else {
                        Screen::Confirming
                    })
                }
                // Created: `pay` has not been answered yet; stay where we are.
                None => None,
            }
        };
        self.changed.emit(&());
        if let Some(page) = page {
            self.nav.go(page);
        }
    }

    /// Cancel on the QR screen: the engine cancels (or finds the payment already paid);
    /// the screen follows the record.
    pub fn cancel(&self) {
        let Some(engine) = self.engine.get() else {
            return;
        };
        let id = {
            let mut state = self.state.borrow_mut();
            let Some(shown) = state.shown.as_mut() else {
                return;
            };
            if shown.cancelling || shown.result.is_some() {
                return;
            }
            shown.cancelling = true;
            shown.id.clone()
        };
        self.changed.emit(&());
        let screen = self.clone();
        let again = id.clone();
        engine.cancel_payment(id, Box::new(move |()| screen.refresh(again)));
    }

    /// Demo only: the customer "scans" the code and pays, through the sandbox's wallet.
    pub fn simulate_customer(&self) {
        let Some(engine) = self.engine.get() else {
            return;
        };
        if !engine.facts().sandbox {
            return;
        }
        let code = {
            let mut state = self.state.borrow_mut();
            let Some(shown) = state.shown.as_mut() else {
                return;
            };
            if shown.simulating || shown.result.is_some() {
                return;
            }
            let Some(code) = shown.code.clone() else {
                return;
            };
            shown.simulating = true;
            code
        };
        self.changed.emit(&());
        let screen = self.clone();
        // The result arrives as an engine event; only the button comes back here.
        engine.pay_as_demo_customer(
            code,
            Box::new(move |()| {
                screen.update(|state| {
                    if let Some(shown) = state.shown.as_mut() {
                        shown.simulating = false;
                    }
                })
            }),
        );
    }

    /// Demo only: the sandbox's customer confirms (`true`) or declines the User-presented
    /// payment on screen in their wallet; the result arrives as an engine event.
    pub fn demo_confirm(&self, confirm: bool) {
        let Some(engine) = self.engine.get() else {
            return;
        };
        if !engine.facts().sandbox {
            return;
        }
        let id = {
            let mut state = self.state.borrow_mut();
            let Some(shown) = state.shown.as_mut() else {
                return;
            };
            if shown.simulating || shown.result.is_some() || shown.product.shows_code() {
                return;
            }
            shown.simulating = true;
            shown.id.clone()
        };
        self.changed.emit(&());
        let screen = self.clone();
        engine.confirm_as_demo_customer(
            id,
            confirm,
            Box::new(move |()| {
                screen.update(|state| {
                    if let Some(shown) = state.shown.as_mut() {
                        shown.simulating = false;
                    }
                })
            }),
        );
    }

    /// New sale: the payment is done with. Refused while a payment is still on the
    /// customer's screen (Cancel ends it first). Returns whether the sale ended.
    pub fn new_sale(&self) -> bool {
        if self.in_progress() {
            return false;
        }
        self.update(|state| state.shown = None);
        self.news.emit(&PaymentNews::Finished);
        true
    }

    /// Puts `shown` on screen as it is (the screenshots' demo data).
    pub fn show_demo(&self, shown: Option<Shown>) {
        self.update(|state| {
            state.charging = false;
            state.shown = shown;
        });
    }
}

/// Whole seconds from `now` until `expires_at` (rounded up, so "0:00" means expired).
pub fn seconds_left(expires_at: Option<OffsetDateTime>, now: OffsetDateTime) -> i64 {
    let Some(expires_at) = expires_at else {
        return 0;
    };
    let millis = (expires_at - now).whole_milliseconds().max(0);
    i64::try_from((millis + 999) / 1000).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gui::controllers::testing::{Call, MockEngine, record, usd};
    use crate::gui::engine_handle::EngineFacts;

    fn screen(engine: &Rc<MockEngine>) -> (PaymentScreen, Navigation) {
        let slot = EngineSlot::default();
        slot.set(engine.clone());
        let nav = Navigation::new(false);
        (PaymentScreen::new(slot, nav.clone()), nav)
    }

    fn request() -> ChargeRequest {
        ChargeRequest {
            amount: usd("12.50"),
            description: "Coffee".into(),
            customer_code: None,
        }
    }

    #[test]
    fn charge_without_an_engine_says_not_ready() {
        let screen = PaymentScreen::new(EngineSlot::default(), Navigation::new(false));
        let news = Rc::new(RefCell::new(Vec::new()));
        let heard = news.clone();
        screen.on_news(move |n| heard.borrow_mut().push(n.clone()));
        screen.charge(request());
        assert_eq!(*news.borrow(), vec![PaymentNews::NotReady]);
        assert!(!screen.charging());
    }

    #[test]
    fn charge_shows_the_code_then_follows_each_engine_event() {
        let engine = MockEngine::new();
        let (screen, nav) = screen(&engine);
        // `pay` is on its way: the button says so, nothing else moves.
        screen.charge(request());
        assert!(screen.charging());
        assert_eq!(
            engine.calls(),
            vec![Call::StartPayment {
                amount: usd("12.50"),
                description: "Coffee".into(),
                customer_code: None,
            }]
        );

        assert_eq!(nav.page(), Screen::Cashier);

        // With an answer: the order code, on the QR screen.
        let engine = MockEngine::new();
        let awaiting = record("P1", "12.50", PaymentState::AwaitingCustomer);
        *engine.start.borrow_mut() = Some(Ok(awaiting.clone()));
        *engine.payment.borrow_mut() = Some(Ok(awaiting.clone()));
        let (screen, nav) = self::screen(&engine);
        screen.charge(request());
        assert!(!screen.charging());
        assert_eq!(nav.page(), Screen::CustomerQr);
        let shown = screen.shown().unwrap();
        assert_eq!(shown.code, awaiting.code_value);
        assert!(screen.in_progress());

        // Each event is read again; the record decides the page.
        let mut cancelling = awaiting.clone();
        cancelling.state = PaymentState::Cancelling;
        *engine.payment.borrow_mut() = Some(Ok(cancelling));
        screen.on_event(&EngineEvent::PaymentChanged {
            payment_request_id: "P1".into(),
        });
        assert!(screen.shown().unwrap().cancelling);
        assert_eq!(nav.page(), Screen::CustomerQr);

        let mut failed = awaiting.clone();
        failed.state = PaymentState::Failed;
        failed.result_code = Some("USER_BALANCE_NOT_ENOUGH".into());
        *engine.payment.borrow_mut() = Some(Ok(failed));
        screen.on_event(&EngineEvent::PaymentChanged {
            payment_request_id: "P1".into(),
        });
        let result = screen.shown().unwrap().result.unwrap();
        assert_eq!(result.kind, ResultScreen::Failed);
        assert_eq!(result.reason, Reason::Balance);
        assert_eq!(nav.page(), Screen::Result);

        // A stale snapshot (still awaiting) never brings the QR back.
        *engine.payment.borrow_mut() = Some(Ok(awaiting));
        screen.on_event(&EngineEvent::Resync);
        assert_eq!(nav.page(), Screen::Result);
        assert_eq!(
            screen.shown().unwrap().result.unwrap().kind,
            ResultScreen::Failed
        );

        // Events about another payment are not read.
        engine.clear_calls();
        screen.on_event(&EngineEvent::PaymentChanged {
            payment_request_id: "OTHER".into(),
        });
        assert!(engine.calls().is_empty());
    }

    #[test]
    fn each_final_state_maps_to_its_result() {
        for (state, kind) in [
            (PaymentState::Paid, ResultScreen::Paid),
            (PaymentState::Cancelled, ResultScreen::Cancelled),
            (PaymentState::Unresolved, ResultScreen::Unresolved),
            (PaymentState::Failed, ResultScreen::Failed),
        ] {
            let engine = MockEngine::new();
            let (screen, nav) = screen(&engine);
            let final_record = record("P1", "12.50", state);
            *engine.start.borrow_mut() = Some(Ok(record("P1", "12.50", PaymentState::Created)));
            *engine.payment.borrow_mut() = Some(Ok(final_record.clone()));
            screen.charge(request());
            let result = screen.shown().unwrap().result.unwrap();
            assert_eq!(result.kind, kind, "{state:?}");
            let expected_id = final_record
                .payment_id
                .clone()
                .unwrap_or_else(|| "P1".to_string());
            assert_eq!(result.payment_id, expected_id);
            assert_eq!(nav.page(), Screen::Result);
            assert!(!screen.in_progress());
        }
    }

    #[test]
    fn a_refused_charge_is_news_and_frees_the_button() {
        let engine = MockEngine::new();
        *engine.start.borrow_mut() = Some(Err(StartRefused::Other("Alipay is unreachable".into())));
        let (screen, nav) = screen(&engine);
        let news = Rc::new(RefCell::new(Vec::new()));
        let heard = news.clone();
        screen.on_news(move |n| heard.borrow_mut().push(n.clone()));
        screen.charge(request());
        assert!(!screen.charging());
        assert!(screen.shown().is_none());
        assert_eq!(nav.page(), Screen::Cashier);
        assert_eq!(
            *news.borrow(),
            vec![PaymentNews::ChargeFailed("Alipay is unreachable".into())]
        );
    }

    #[test]
    fn cancel_and_the_demo_customer_go_once_and_new_sale_waits_for_a_result() {
        let engine = MockEngine::new();
        *engine.facts.borrow_mut() = EngineFacts {
            sandbox: true,
            ..EngineFacts::default()
        };
        let awaiting = record("P1", "12.50", PaymentState::AwaitingCustomer);
        *engine.start.borrow_mut() = Some(Ok(awaiting.clone()));
        *engine.payment.borrow_mut() = Some(Ok(awaiting.clone()));
        let (screen, nav) = screen(&engine);
        screen.charge(request());
        assert!(!screen.new_sale(), "the QR is still up");

        screen.simulate_customer();
        screen.simulate_customer();
        assert!(screen.shown().unwrap().simulating);
        screen.cancel();
        screen.cancel();
        let calls = engine.calls();
        let demo = calls
            .iter()
            .filter(|c| matches!(c, Call::DemoCustomer(_)))
            .count();
        let cancels = calls
            .iter()
            .filter(|c| matches!(c, Call::Cancel(_)))
            .count();
        assert_eq!((demo, cancels), (1, 1));

        let mut cancelled = awaiting;
        cancelled.state = PaymentState::Cancelled;
        *engine.payment.borrow_mut() = Some(Ok(cancelled));
        screen.on_event(&EngineEvent::PaymentChanged {
            payment_request_id: "P1".into(),
        });
        assert_eq!(nav.page(), Screen::Result);
        assert!(screen.new_sale());
        assert!(screen.shown().is_none());
    }

    #[test]
    fn seconds_left_rounds_up_and_stops_at_zero() {
        let now = OffsetDateTime::from_unix_timestamp(1_000).unwrap();
        let at = |ms: i64| Some(now + time::Duration::milliseconds(ms));
        assert_eq!(seconds_left(at(272_000), now), 272);
        assert_eq!(seconds_left(at(1), now), 1);
        assert_eq!(seconds_left(at(-5_000), now), 0);
        assert_eq!(seconds_left(None, now), 0);
    }
}
