//! The manager screen behind the PIN: one [`Manager`] holds the approval of the PIN that
//! opened it, the tab on screen and "resolve now", and composes the screen's parts:
//! [`transactions`] (list, filters, detail), [`refund`], [`settle`] (manual outcome),
//! [`totals`], [`day_close`] (the Z report) and [`reconciliation`] (Alipay's reports against the journal). It opens on a right PIN and forgets everything when the manager leaves (the
//! navigation says when), so the next visit needs the PIN again.

pub mod day_close;
pub mod reconciliation;
pub mod refund;
pub mod registration;
pub mod settle;
pub mod store;
pub mod totals;
pub mod transactions;

use std::cell::RefCell;
use std::ops::Range;
use std::rc::Rc;
use std::sync::Arc;

use time::{Date, OffsetDateTime};

use super::navigation::{Navigation, PageChange, Screen};
use super::printing::{PrintRequest, Printing};
use super::{Changed, EngineSlot, Listeners};
use crate::admin::ManagerApproval;
use crate::gui::engine_handle::{EngineEvent, ResolveSummary};
use crate::money::Currency;

use day_close::DayCloser;
use reconciliation::Reconciliation;
use refund::Refund;
use registration::Registration;
use settle::{Settle, SettleForm};
use store::StoreView;
use totals::Totals;
use transactions::Transactions;

/// The manager screen's sections (mirrors `ManagerTab` in ui/manager_api.slint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tab {
    #[default]
    Transactions,
    Unresolved,
    Totals,
    Reconciliation,
    Settings,
    /// Every terminal's payments at the store hub (only with `[hub] url`).
    Store,
}

/// Where "resolve now" is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resolving {
    pub running: bool,
    /// The last pass finished; `summary` says how it went (`None`: it failed).
    pub done: bool,
    pub summary: Option<ResolveSummary>,
}

#[derive(Default)]
struct Session {
    approval: Option<Arc<ManagerApproval>>,
    tab: Tab,
    resolving: Resolving,
}

/// News for the rest of the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManagerNews {
    /// A refund, a manual outcome or a resolver pass may have changed what is unresolved.
    PaymentsSettled,
}

#[derive(Clone)]
pub struct Manager {
    engine: EngineSlot,
    nav: Navigation,
    session: Rc<RefCell<Session>>,
    pub transactions: Transactions,
    pub refund: Refund,
    pub settle: Settle,
    pub totals: Totals,
    pub day_close: DayCloser,
    pub reconciliation: Reconciliation,
    /// The Settings tab's Registration panel.
    pub registration: Registration,
    /// Reprint (COPY) and the refund receipt, in the payment's detail.
    pub receipts: Printing,
    /// The "Whole store" tab (read from the store hub).
    pub store: StoreView,
    changed: Changed,
    news: Listeners<ManagerNews>,
}

impl Manager {
    pub fn new(
        engine: EngineSlot,
        nav: Navigation,
        currency: Currency,
        today: Rc<dyn Fn() -> Date>,
        day_bounds: Rc<dyn Fn(Date) -> Range<OffsetDateTime>>,
    ) -> Manager {
        let today_for_list = today.clone();
        Manager {
            transactions: Transactions::new(
                engine.clone(),
                nav.clone(),
                currency,
                Rc::new(move || day_bounds(today_for_list())),
            ),
            refund: Refund::new(engine.clone()),
            settle: Settle::new(engine.clone()),
            store: StoreView::new(engine.clone(), currency, today.clone()),
            totals: Totals::new(engine.clone(), today),
            day_close: DayCloser::new(engine.clone()),
            reconciliation: Reconciliation::new(
                engine.clone(),
                Rc::new(reconciliation::alipay_today),
            ),
            registration: Registration::new(engine.clone()),
            receipts: Printing::new(engine.clone()),
            engine,
            nav,
            session: Rc::new(RefCell::new(Session::default())),
            changed: Changed::default(),
            news: Listeners::default(),
        }
    }

    /// A change of page (from the navigation): when the manager's visit ended, the screen
    /// locks. Not a listener of its own: the navigation would then hold this controller
    /// and everything it holds (the engine) for as long as it lives.
    pub fn page_changed(&self, change: &PageChange) {
        if change.left_manager() {
            self.lock();
        }
    }

    /// The tab, the approver or "resolve now" changed.
    pub fn on_change(&self, listener: impl Fn() + 'static) {
        self.changed.listen(move |()| listener());
    }

    pub fn on_news(&self, listener: impl Fn(&ManagerNews) + 'static) {
        self.news.listen(listener);
    }

    fn update<T>(&self, f: impl FnOnce(&mut Session) -> T) -> T {
        let result = f(&mut self.session.borrow_mut());
        self.changed.emit(&());
        result
    }

    pub fn tab(&self) -> Tab {
        self.session.borrow().tab
    }

    pub fn resolving(&self) -> Resolving {
        self.session.borrow().resolving
    }

    /// The manager whose PIN opened the screen (named in the journal).
    pub fn approver(&self) -> Option<String> {
        self.session
            .borrow()
            .approval
            .as_ref()
            .map(|approval| approval.manager().to_string())
    }

    fn approval(&self) -> Option<Arc<ManagerApproval>> {
        self.session.borrow().approval.clone()
    }

    /// A right PIN: the screen opens on today's transactions, holding that PIN's approval.
    pub fn open(&self, approval: Arc<ManagerApproval>) {
        self.transactions.reset();
        self.refund.reset();
        self.settle.reset();
        self.totals.reset();
        self.day_close.reset();
        self.reconciliation.reset();
        self.registration.reset();
        self.store.reset();
        self.update(|session| {
            *session = Session {
                approval: Some(approval),
                ..Session::default()
            };
        });
        self.nav.go(Screen::Manager);
        self.transactions.load();
    }

    /// The manager left (by "Back to sales", the idle lock or a kiosk reset): what the
    /// screen showed and the approval are dropped.
    pub fn lock(&self) {
        self.update(|session| *session = Session::default());
        self.transactions.reset();
        self.refund.reset();
        self.settle.reset();
        self.day_close.reset();
        self.reconciliation.reset();
        self.store.reset();
    }

    /// "Back to sales".
    pub fn close(&self) {
        self.nav.go_home();
    }

    pub fn show_tab(&self, tab: Tab) {
        self.update(|session| session.tab = tab);
        match tab {
            Tab::Transactions => self.transactions.load(),
            Tab::Unresolved => self.transactions.load_unresolved(),
            Tab::Totals => self.load_totals(),
            Tab::Reconciliation => self.reconciliation.load(),
            Tab::Settings => self.registration.load(),
            Tab::Store => self.store.load(),
        }
    }

    /// The day's totals and whether it is closed, read together.
    fn load_totals(&self) {
        self.totals.load();
        self.day_close.load(self.totals.day());
    }

    /// "◀ Day before" / "Day after ▶" on the End of day tab.
    pub fn step_day(&self, delta: i32) {
        self.totals.step(delta);
        self.day_close.load(self.totals.day());
    }

    /// "Close day" confirmed: closed in the name of the manager whose PIN opened the
    /// screen; the day's totals are read again with it.
    pub fn close_day_confirm(&self) {
        self.day_close.confirm(self.approval());
        self.totals.load();
    }

    /// A key on the manager screen: Escape leaves a payment's detail; nothing else is
    /// taken.
    pub fn key(&self, key: &str) -> bool {
        if key == "escape" && self.transactions.detail().is_some() {
            self.close_transaction();
            return true;
        }
        false
    }

    /// The engine reported a change: what the manager looks at is read again.
    pub fn on_event(&self, event: &EngineEvent) {
        if *event == EngineEvent::RegistrationChanged
            && self.nav.page() == Screen::Manager
            && self.tab() == Tab::Settings
        {
            self.registration.load();
            return;
        }
        if !matches!(
            event,
            EngineEvent::PaymentChanged { .. } | EngineEvent::RefundChanged
        ) || self.nav.page() != Screen::Manager
        {
            return;
        }
        if let Some(id) = self.transactions.detail_id() {
            self.transactions.load_detail(id);
        }
        if self.tab() == Tab::Unresolved {
            self.transactions.load_unresolved();
        }
        // A closed day's report shows what happened after the close as it happens.
        if self.tab() == Tab::Totals {
            self.load_totals();
        }
    }

    pub fn open_transaction(&self, payment_request_id: String) {
        self.update(|session| session.tab = Tab::Transactions);
        self.refund.reset();
        self.settle.reset();
        self.receipts.reset();
        self.transactions.load_detail(payment_request_id);
    }

    pub fn close_transaction(&self) {
        self.receipts.reset();
        self.transactions.close_detail();
    }

    /// Reprint: the open payment's receipt again, marked COPY.
    pub fn reprint(&self, locale: crate::locale::Locale) {
        if let Some(payment_request_id) = self.transactions.detail_id() {
            self.receipts.print(
                PrintRequest::Sale {
                    payment_request_id,
                    copy: true,
                },
                locale,
            );
        }
    }

    /// The receipt of the refund that just succeeded in the open payment's detail.
    pub fn print_refund_receipt(&self, locale: crate::locale::Locale) {
        if let (Some(payment_request_id), Some(refund_request_id)) =
            (self.transactions.detail_id(), self.refund.succeeded())
        {
            self.receipts.print(
                PrintRequest::Refund {
                    payment_request_id,
                    refund_request_id,
                },
                locale,
            );
        }
    }

    pub fn refund_review(&self, amount: &str, reason: &str) {
        let detail = self.transactions.detail();
        self.refund.review(detail.as_ref(), amount, reason);
    }

    pub fn refund_confirm(&self) {
        let payment = self.transactions.detail_id();
        let after = self.after_settling(payment.clone());
        self.refund.confirm(payment, self.approval(), after);
    }

    pub fn settle_open(&self, can_settle: bool) {
        self.settle.open(can_settle);
    }

    pub fn settle_review(&self, form: &SettleForm, needs_payment_id: bool) {
        self.settle.review(form, needs_payment_id);
    }

    pub fn settle_confirm(&self) {
        let payment = self.transactions.detail_id();
        let after = self.after_settling(payment.clone());
        self.settle.confirm(payment, self.approval(), after);
    }

    /// After a refund or a manual outcome: the status bar counts again and the detail is
    /// read again.
    fn after_settling(&self, payment: Option<String>) -> impl FnOnce() + 'static {
        let manager = self.clone();
        move || {
            manager.news.emit(&ManagerNews::PaymentsSettled);
            if let Some(payment) = payment {
                manager.transactions.load_detail(payment);
            }
        }
    }

    /// "Confirm" on a discrepancy's acceptance: accepted under the approval of the PIN that
    /// opened the screen; the status bar counts again (a payment may have become paid).
    pub fn accept_discrepancy(&self, id: i64, reason: &str) {
        let manager = self.clone();
        self.reconciliation
            .confirm(id, reason, self.approval(), move || {
                manager.news.emit(&ManagerNews::PaymentsSettled)
            });
    }

    /// One resolver pass now, instead of waiting for the background resolver's next round.
    pub fn resolve_now(&self) {
        if self.resolving().running {
            return;
        }
        let Some(engine) = self.engine.get() else {
            return;
        };
        self.update(|session| {
            session.resolving = Resolving {
                running: true,
                done: false,
                summary: session.resolving.summary,
            }
        });
        let manager = self.clone();
        engine.resolve_now(Box::new(move |result| {
            let summary = match result {
                Ok(summary) => Some(summary),
                Err(error) => {
                    tracing::error!(%error, "resolve now failed");
                    None
                }
            };
            manager.update(|session| {
                session.resolving = Resolving {
                    running: false,
                    done: true,
                    summary,
                }
            });
            manager.news.emit(&ManagerNews::PaymentsSettled);
            manager.transactions.load_unresolved();
        }));
    }

    /// Leaving the kiosk ends unattended selling, so it takes a manager's approval like a
    /// refund does. Returns the manager who left, or `None` (refused).
    pub fn leave_kiosk(&self) -> Option<String> {
        if !self.nav.is_kiosk() {
            return None;
        }
        let Some(manager) = self.approver() else {
            tracing::warn!("leaving the kiosk refused: no manager approval");
            return None;
        };
        tracing::info!(manager = %manager, "kiosk mode left by the manager");
        Some(manager)
    }

    /// Shows the screen in a given state without a PIN (the screenshots' demo data).
    pub fn show_demo(&self, tab: Tab) {
        self.update(|session| session.tab = tab);
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;
    use crate::admin::PinGuard;
    use crate::config::ManagerPin;
    use crate::gui::controllers::testing::{Call, MockEngine, paid_detail};

    fn approval() -> Arc<ManagerApproval> {
        let managers = vec![ManagerPin {
            name: "Ana".into(),
            pin_hash: crate::admin::hash_pin("2468").unwrap(),
        }];
        let mut guard = PinGuard::new(managers, 3, std::time::Duration::from_secs(60), None);
        Arc::new(guard.check("2468", std::time::SystemTime::now()).unwrap())
    }

    fn manager(engine: &Rc<MockEngine>, kiosk: bool) -> (Manager, Navigation) {
        let slot = EngineSlot::default();
        slot.set(engine.clone());
        let nav = Navigation::new(kiosk);
        let day = |d: Date| {
            let start = d.midnight().assume_utc();
            start..start + time::Duration::hours(24)
        };
        let manager = Manager::new(
            slot,
            nav.clone(),
            Currency::USD,
            Rc::new(|| date!(2026 - 03 - 01)),
            Rc::new(day),
        );
        // As the GUI's wiring does.
        let follows = manager.clone();
        nav.on_change(move |change| follows.page_changed(change));
        (manager, nav)
    }

    #[test]
    fn a_visit_holds_the_approval_until_the_manager_leaves() {
        let engine = MockEngine::new();
        *engine.transactions.borrow_mut() = Some(Ok(Vec::new()));
        *engine.detail.borrow_mut() = Some(Ok(Some(paid_detail("P1", "12.50", "12.50"))));
        let (manager, nav) = manager(&engine, false);
        manager.open(approval());
        assert_eq!(nav.page(), Screen::Manager);
        assert_eq!(manager.approver().as_deref(), Some("Ana"));
        assert!(matches!(&engine.calls()[0], Call::Transactions(f) if f.since.is_some()));

        manager.open_transaction("P1".into());
        manager.refund_review("5.00", "returned");
        assert_eq!(manager.refund.stage(), refund::RefundStage::Confirm);
        assert!(manager.key("escape"), "escape closes the detail");
        assert!(!manager.transactions.detail_open());

        manager.close();
        assert_eq!(nav.page(), Screen::Cashier);
        assert_eq!(
            manager.approver(),
            None,
            "the approval is gone with the visit"
        );
        assert_eq!(manager.refund.stage(), refund::RefundStage::Form);
        // Nothing left to approve a refund with.
        nav.go(Screen::Manager);
        manager.open_transaction("P1".into());
        manager.refund_review("5.00", "returned");
        engine.clear_calls();
        manager.refund_confirm();
        assert!(engine.calls().is_empty(), "no approval, no refund");
    }

    #[test]
    fn the_navigation_does_not_keep_the_manager_or_its_engine_alive() {
        // A GUI that is dropped must let go of the terminal (and its data folder's lock)
        // even though the navigation outlives the manager screen here.
        let engine = MockEngine::new();
        let slot = EngineSlot::default();
        slot.set(engine.clone());
        let nav = Navigation::new(false);
        let manager = Manager::new(
            slot,
            nav.clone(),
            Currency::USD,
            Rc::new(|| date!(2026 - 03 - 01)),
            Rc::new(|d: Date| d.midnight().assume_utc()..d.midnight().assume_utc()),
        );
        manager.open(approval());
        drop(manager);
        nav.go_home();
        assert_eq!(Rc::strong_count(&engine), 1);
    }

    #[test]
    fn only_a_kiosk_with_an_approval_can_be_left() {
        let engine = MockEngine::new();
        let (cashier, _) = manager(&engine, false);
        cashier.open(approval());
        assert_eq!(cashier.leave_kiosk(), None);
        let (kiosk, _) = manager(&engine, true);
        assert_eq!(kiosk.leave_kiosk(), None);
        kiosk.open(approval());
        assert_eq!(kiosk.leave_kiosk().as_deref(), Some("Ana"));
    }

    #[test]
    fn a_discrepancy_is_accepted_under_the_pin_that_opened_the_screen() {
        use crate::gui::controllers::testing::day_report;
        use crate::journal::DiscrepancyKind;
        let engine = MockEngine::new();
        *engine.transactions.borrow_mut() = Some(Ok(Vec::new()));
        *engine.reconciliation.borrow_mut() = Some(Ok(day_report(
            "20260228",
            &[(4, DiscrepancyKind::AmountMismatch)],
        )));
        let (manager, _) = manager(&engine, false);
        manager.open(approval());
        manager.show_tab(Tab::Reconciliation);
        assert_eq!(manager.tab(), Tab::Reconciliation);
        assert!(
            engine
                .calls()
                .iter()
                .any(|c| matches!(c, Call::ReconciliationDay(_))),
            "the tab reads its day"
        );
        manager.reconciliation.open_accept(4);
        manager.accept_discrepancy(4, "Alipay's amount is right");
        assert!(engine.calls().contains(&Call::AcceptDiscrepancy {
            id: 4,
            reason: "Alipay's amount is right".into(),
            manager: "Ana".into(),
        }));

        // After the visit there is no approval to accept with.
        manager.close();
        engine.clear_calls();
        manager.reconciliation.load();
        manager.reconciliation.open_accept(4);
        manager.accept_discrepancy(4, "Alipay's amount is right");
        assert!(
            !engine
                .calls()
                .iter()
                .any(|c| matches!(c, Call::AcceptDiscrepancy { .. })),
            "no approval, no acceptance"
        );
    }

    #[test]
    fn resolve_now_runs_once_at_a_time_and_reports_its_counts() {
        let engine = MockEngine::new();
        let (manager, _) = manager(&engine, false);
        manager.open(approval());
        manager.resolve_now();
        manager.resolve_now();
        let passes = engine
            .calls()
            .iter()
            .filter(|c| **c == Call::ResolveNow)
            .count();
        assert_eq!(passes, 1);
        assert!(manager.resolving().running);

        let engine = MockEngine::new();
        let summary = ResolveSummary {
            settled: 2,
            open: 1,
            unreachable: false,
        };
        *engine.resolve.borrow_mut() = Some(Ok(summary));
        let (manager, _) = self::manager(&engine, false);
        let settled = Rc::new(std::cell::Cell::new(0));
        let heard = settled.clone();
        manager.on_news(move |_| heard.set(heard.get() + 1));
        manager.resolve_now();
        assert_eq!(
            manager.resolving(),
            Resolving {
                running: false,
                done: true,
                summary: Some(summary)
            }
        );
        assert_eq!(settled.get(), 1, "the status bar counts again");
    }
}
