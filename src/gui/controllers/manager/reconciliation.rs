//! The Reconciliation tab: one Alipay day's books (what `alipay-pos reconcile report`
//! prints): the files imported, matched and not-ours counts, the settlement batches, and the
//! discrepancies still open, each of which a manager can accept with a reason under the
//! approval of the PIN that opened the screen.
//!
//! Days are Alipay's (`yyyyMMdd`, GMT+8, cut off at 23:59:59), not the terminal's local
//! days: the reports are published per Alipay day, so the tab opens on yesterday's, the
//! last one Alipay has published, and never steps past Alipay's today.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use time::{Date, OffsetDateTime};

use crate::admin::ManagerApproval;
use crate::gui::controllers::{Changed, EngineSlot};
use crate::gui::engine_handle::AcceptRefused;
use crate::reconcile::day_report::DayReport;

/// The journal keeps reasons up to this long.
const MAX_REASON_CHARS: usize = 1024;

/// Alipay's today: the date in GMT+8 now.
pub fn alipay_today() -> Date {
    OffsetDateTime::now_utc()
        .to_offset(crate::reconcile::import::ALIPAY_DAY_OFFSET)
        .date()
}

/// `yyyyMMdd`, Alipay's spelling of a day (file names, `--date`).
pub use crate::reconcile::report_name::report_date;

/// Where the acceptance of one discrepancy is (mirrors `AcceptStage` in
/// ui/manager_api.slint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AcceptStage {
    /// Only the "Accept…" buttons show.
    #[default]
    Closed,
    /// The reason is being typed for [`Reconciliation::accepting`].
    Form,
    /// On its way to the journal.
    Sending,
}

/// What the tab says above the day (mirrors `ReconNotice`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ReconNotice {
    #[default]
    None,
    /// Confirm with an empty reason.
    NoReason,
    /// Accepted; `settled_as` is the state the payment or refund moved to, when it moved
    /// (`paid`, `succeeded`).
    Accepted {
        id: i64,
        settled_as: Option<&'static str>,
    },
    /// Someone resolved it meanwhile (or a later file listed it).
    AlreadyResolved,
    /// The journal has no such discrepancy (any more).
    NotFound,
    /// The journal could not be read or written (its words).
    Error(String),
}

#[derive(Default)]
struct ReconState {
    day: Option<Date>,
    /// The day's books, once read (only ever the day shown).
    report: Option<DayReport>,
    loading: bool,
    stage: AcceptStage,
    /// The discrepancy whose reason is being typed or sent.
    accepting: Option<i64>,
    notice: ReconNotice,
    /// Bumped whenever the reason field must be emptied on screen.
    cleared: u64,
}

#[derive(Clone)]
pub struct Reconciliation {
    engine: EngineSlot,
    /// Alipay's today (a test's own date in unit tests).
    today: Rc<dyn Fn() -> Date>,
    state: Rc<RefCell<ReconState>>,
    changed: Changed,
}

impl Reconciliation {
    pub fn new(engine: EngineSlot, today: Rc<dyn Fn() -> Date>) -> Reconciliation {
        let controller = Reconciliation {
            engine,
            today,
            state: Rc::new(RefCell::new(ReconState::default())),
            changed: Changed::default(),
        };
        controller.state.borrow_mut().day = Some(controller.yesterday());
        controller
    }

    pub fn on_change(&self, listener: impl Fn() + 'static) {
        self.changed.listen(move |()| listener());
    }

    fn update<T>(&self, f: impl FnOnce(&mut ReconState) -> T) -> T {
        let result = f(&mut self.state.borrow_mut());
        self.changed.emit(&());
        result
    }

    fn yesterday(&self) -> Date {
        let today = (self.today)();
        today.previous_day().unwrap_or(today)
    }

    /// The Alipay day shown.
    pub fn day(&self) -> Date {
        self.state.borrow().day.unwrap_or_else(|| self.yesterday())
    }

    /// Whether the day shown is Alipay's today ("Day after" is off then).
    pub fn is_today(&self) -> bool {
        self.day() >= (self.today)()
    }

    /// The books of the day shown, once read.
    pub fn report(&self) -> Option<DayReport> {
        self.state.borrow().report.clone()
    }

    pub fn loading(&self) -> bool {
        self.state.borrow().loading
    }

    pub fn stage(&self) -> AcceptStage {
        self.state.borrow().stage
    }

    /// The discrepancy whose acceptance is open.
    pub fn accepting(&self) -> Option<i64> {
        self.state.borrow().accepting
    }

    pub fn notice(&self) -> ReconNotice {
        self.state.borrow().notice.clone()
    }

    pub fn cleared(&self) -> u64 {
        self.state.borrow().cleared
    }

    /// Back to yesterday with nothing read (a new manager's visit).
    pub fn reset(&self) {
        let yesterday = self.yesterday();
        self.update(|state| {
            let cleared = state.cleared + 1;
            *state = ReconState {
                day: Some(yesterday),
                cleared,
                ..ReconState::default()
            };
        });
    }

    /// One day back (`delta < 0`) or forward; never past Alipay's today. The day is read
    /// again and an open acceptance is closed (it belonged to the other day).
    pub fn step(&self, delta: i32) {
        let today = (self.today)();
        let current = self.day();
        let next = if delta < 0 {
            current.previous_day()
        } else {
            current.next_day()
        };
        let Some(day) = next.filter(|day| *day <= today) else {
            return;
        };
        self.update(|state| {
            state.day = Some(day);
            state.report = None;
            state.stage = AcceptStage::Closed;
            state.accepting = None;
            state.notice = ReconNotice::None;
            state.cleared += 1;
        });
        self.load();
    }

    /// Reads the day shown.
    pub fn load(&self) {
        let Some(engine) = self.engine.get() else {
            return;
        };
        let day = self.day();
        self.update(|state| state.loading = true);
        let controller = self.clone();
        engine.reconciliation_day(
            report_date(day),
            Box::new(move |result| {
                controller.update(|state| {
                    // A day stepped away from while it was read is not shown.
                    if state.day != Some(day) {
                        return;
                    }
                    state.loading = false;
                    match result {
                        Ok(report) => {
                            // An acceptance open for a discrepancy that is no longer open
                            // (resolved elsewhere) has nothing left to accept.
                            if let Some(id) = state.accepting
                                && !report.open.iter().any(|d| d.id == id)
                                && state.stage == AcceptStage::Form
                            {
                                state.accepting = None;
                                state.stage = AcceptStage::Closed;
                            }
                            state.report = Some(report);
                        }
                        Err(error) => {
                            tracing::error!(%error, "cannot read the day's reconciliation");
                            state.notice = ReconNotice::Error(error);
                        }
                    }
                });
            }),
        );
    }

    /// "Accept…" on a discrepancy: its reason field opens (an empty one).
    pub fn open_accept(&self, id: i64) {
        let open = self
            .state
            .borrow()
            .report
            .as_ref()
            .is_some_and(|report| report.open.iter().any(|d| d.id == id));
        if !open || self.stage() == AcceptStage::Sending {
            return;
        }
        self.update(|state| {
            state.accepting = Some(id);
            state.stage = AcceptStage::Form;
            state.notice = ReconNotice::None;
            state.cleared += 1;
        });
    }

    /// "Back": the reason field closes.
    pub fn back(&self) {
        if self.stage() != AcceptStage::Form {
            return;
        }
        self.update(|state| {
            state.accepting = None;
            state.stage = AcceptStage::Closed;
            state.notice = ReconNotice::None;
            state.cleared += 1;
        });
    }

    /// "Confirm": discrepancy `id` is accepted with `reason` (as typed) under `approval`;
    /// then `done` runs and the day is read again.
    pub fn confirm(
        &self,
        id: i64,
        reason: &str,
        approval: Option<Arc<ManagerApproval>>,
        done: impl FnOnce() + 'static,
    ) {
        if self.stage() != AcceptStage::Form || self.accepting() != Some(id) {
            return;
        }
        let reason = reason.trim();
        if reason.is_empty() {
            self.update(|state| state.notice = ReconNotice::NoReason);
            return;
        }
        let Some(approval) = approval else {
            tracing::warn!("acceptance refused: no manager approval");
            return;
        };
        let Some(engine) = self.engine.get() else {
            return;
        };
        let reason: String = reason.chars().take(MAX_REASON_CHARS).collect();
        self.update(|state| {
            state.stage = AcceptStage::Sending;
            state.notice = ReconNotice::None;
        });
        let controller = self.clone();
        engine.accept_discrepancy(
            id,
            reason,
            approval,
            Box::new(move |result| {
                let notice = match result {
                    Ok(accepted) => {
                        tracing::info!(
                            discrepancy = id,
                            kind = accepted.discrepancy.kind.as_str(),
                            settled_as = accepted.settled_as,
                            "discrepancy accepted from the manager screen"
                        );
                        ReconNotice::Accepted {
                            id,
                            settled_as: accepted.settled_as,
                        }
                    }
                    Err(refused) => {
                        tracing::warn!(discrepancy = id, ?refused, "acceptance refused");
                        match refused {
                            // Caught before sending; kept for the engine's own check.
                            AcceptRefused::NoReason => ReconNotice::NoReason,
                            AcceptRefused::AlreadyResolved => ReconNotice::AlreadyResolved,
                            AcceptRefused::NotFound => ReconNotice::NotFound,
                            AcceptRefused::Other(words) => ReconNotice::Error(words),
                        }
                    }
                };
                // A refusal for want of a reason keeps the field open; anything else closes
                // it (the discrepancy is resolved, or the list read again shows why not).
                let keep_open =
                    notice == ReconNotice::NoReason || matches!(notice, ReconNotice::Error(_));
                controller.update(|state| {
                    state.notice = notice;
                    if keep_open {
                        state.stage = AcceptStage::Form;
                    } else {
                        state.stage = AcceptStage::Closed;
                        state.accepting = None;
                        state.cleared += 1;
                    }
                });
                done();
                controller.load();
            }),
        );
    }

    /// Shows `report` for `day` (the screenshots' demo data).
    pub fn show_demo(&self, day: Date, report: Option<DayReport>, accepting: Option<i64>) {
        self.update(|state| {
            state.day = Some(day);
            state.report = report;
            state.loading = false;
            state.notice = ReconNotice::None;
            state.accepting = accepting;
            state.stage = if accepting.is_some() {
                AcceptStage::Form
            } else {
                AcceptStage::Closed
            };
        });
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;
    use crate::admin::PinGuard;
    use crate::config::ManagerPin;
    use crate::gui::controllers::testing::{Call, MockEngine, day_report};
    use crate::journal::DiscrepancyKind;
    use crate::reconcile::accept::Accepted;

    fn approval() -> Arc<ManagerApproval> {
        let managers = vec![ManagerPin {
            name: "Ana".into(),
            pin_hash: crate::admin::hash_pin("2468").unwrap(),
        }];
        let mut guard = PinGuard::new(managers, 3, std::time::Duration::from_secs(60), None);
        Arc::new(guard.check("2468", std::time::SystemTime::now()).unwrap())
    }

    fn tab(engine: &Rc<MockEngine>) -> Reconciliation {
        let slot = EngineSlot::default();
        slot.set(engine.clone());
        Reconciliation::new(slot, Rc::new(|| date!(2026 - 03 - 01)))
    }

    fn days_read(engine: &MockEngine) -> Vec<String> {
        engine
            .calls()
            .into_iter()
            .filter_map(|call| match call {
                Call::ReconciliationDay(day) => Some(day),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_tab_opens_on_yesterday_and_never_steps_past_alipays_today() {
        let engine = MockEngine::new();
        *engine.reconciliation.borrow_mut() = Some(Ok(day_report("20260228", &[])));
        let recon = tab(&engine);
        assert_eq!(recon.day(), date!(2026 - 02 - 28), "yesterday's reports");
        assert!(!recon.is_today());
        recon.load();
        recon.step(1);
        assert!(recon.is_today());
        recon.step(1);
        assert_eq!(
            recon.day(),
            date!(2026 - 03 - 01),
            "tomorrow has no reports"
        );
        recon.step(-1);
        recon.step(-1);
        assert_eq!(recon.day(), date!(2026 - 02 - 27));
        assert_eq!(
            days_read(&engine),
            ["20260228", "20260301", "20260228", "20260227"],
            "each day shown is read once, in Alipay's spelling"
        );
        recon.reset();
        assert_eq!(recon.day(), date!(2026 - 02 - 28));
        assert!(recon.report().is_none(), "a new visit reads afresh");
    }

    #[test]
    fn a_day_on_its_way_shows_as_loading_and_then_its_books() {
        let engine = MockEngine::new();
        let recon = tab(&engine);
        recon.load();
        assert!(recon.loading(), "no answer yet");
        assert!(recon.report().is_none());
        *engine.reconciliation.borrow_mut() = Some(Ok(day_report("20260227", &[])));
        recon.step(-1);
        assert!(!recon.loading());
        assert_eq!(recon.report().map(|r| r.date), Some("20260227".to_string()));
    }

    #[test]
    fn accepting_needs_a_reason_and_the_approval_then_reads_the_day_again() {
        let engine = MockEngine::new();
        let report = day_report(
            "20260228",
            &[
                (7, DiscrepancyKind::StateMismatch),
                (8, DiscrepancyKind::AmountMismatch),
            ],
        );
        *engine.reconciliation.borrow_mut() = Some(Ok(report.clone()));
        let recon = tab(&engine);
        recon.load();
        recon.open_accept(99);
        assert_eq!(
            recon.stage(),
            AcceptStage::Closed,
            "not an open discrepancy"
        );
        recon.open_accept(7);
        assert_eq!(
            (recon.stage(), recon.accepting()),
            (AcceptStage::Form, Some(7))
        );
        let cleared = recon.cleared();

        recon.confirm(7, "  ", Some(approval()), || {});
        assert_eq!(recon.notice(), ReconNotice::NoReason);
        recon.confirm(7, "Portal shows it paid", None, || {});
        assert_eq!(
            recon.stage(),
            AcceptStage::Form,
            "no approval, nothing sent"
        );
        recon.confirm(8, "Portal shows it paid", Some(approval()), || {});
        assert_eq!(recon.stage(), AcceptStage::Form, "only the one opened");
        assert!(
            !engine
                .calls()
                .iter()
                .any(|c| matches!(c, Call::AcceptDiscrepancy { .. }))
        );

        // Nothing answered yet: on its way.
        recon.confirm(7, " Portal shows it paid ", Some(approval()), || {});
        assert_eq!(recon.stage(), AcceptStage::Sending);
        assert!(engine.calls().contains(&Call::AcceptDiscrepancy {
            id: 7,
            reason: "Portal shows it paid".into(),
            manager: "Ana".into(),
        }));

        // Answered: the notice says what changed, the day is read again.
        let engine = MockEngine::new();
        *engine.reconciliation.borrow_mut() = Some(Ok(report.clone()));
        let mut accepted = report.open[0].clone();
        accepted.resolution = Some(crate::journal::DiscrepancyResolution::Accepted {
            manager: "Ana".into(),
            reason: "Portal shows it paid".into(),
        });
        *engine.accept.borrow_mut() = Some(Ok(Accepted {
            discrepancy: accepted,
            settled_as: Some("paid"),
        }));
        let recon = tab(&engine);
        recon.load();
        recon.open_accept(7);
        let done = Rc::new(std::cell::Cell::new(false));
        let heard = done.clone();
        recon.confirm(7, "Portal shows it paid", Some(approval()), move || {
            heard.set(true)
        });
        assert!(done.get(), "the status bar counts again");
        assert_eq!(
            recon.notice(),
            ReconNotice::Accepted {
                id: 7,
                settled_as: Some("paid")
            }
        );
        assert_eq!(recon.stage(), AcceptStage::Closed);
        assert_eq!(recon.accepting(), None);
        assert!(recon.cleared() > cleared, "the reason field is emptied");
        assert_eq!(days_read(&engine).len(), 2, "read again after accepting");
    }

    #[test]
    fn a_refusal_is_said_and_an_error_keeps_the_reason_to_try_again() {
        let engine = MockEngine::new();
        *engine.reconciliation.borrow_mut() = Some(Ok(day_report(
            "20260228",
            &[(3, DiscrepancyKind::MissingLocally)],
        )));
        *engine.accept.borrow_mut() = Some(Err(AcceptRefused::AlreadyResolved));
        let recon = tab(&engine);
        recon.load();
        recon.open_accept(3);
        recon.confirm(3, "checked", Some(approval()), || {});
        assert_eq!(recon.notice(), ReconNotice::AlreadyResolved);
        assert_eq!(recon.stage(), AcceptStage::Closed);

        *engine.accept.borrow_mut() = Some(Err(AcceptRefused::Other("database is locked".into())));
        recon.open_accept(3);
        let cleared = recon.cleared();
        recon.confirm(3, "checked", Some(approval()), || {});
        assert_eq!(
            recon.notice(),
            ReconNotice::Error("database is locked".into())
        );
        assert_eq!(
            recon.stage(),
            AcceptStage::Form,
            "try again with the same reason"
        );
        assert_eq!(recon.cleared(), cleared, "the reason typed stays");
        recon.back();
        assert_eq!(recon.stage(), AcceptStage::Closed);
    }

    #[test]
    fn a_read_error_is_said() {
        let engine = MockEngine::new();
        *engine.reconciliation.borrow_mut() = Some(Err("journal storage error".into()));
        let recon = tab(&engine);
        recon.load();
        assert_eq!(
            recon.notice(),
            ReconNotice::Error("journal storage error".into())
        );
        assert!(!recon.loading());
        assert!(recon.report().is_none());
    }
}
