//! "Close day" on the End of day tab: the manager confirms, the engine stores the Z report,
//! and the screen shows it; a day closed before shows its report again, with what happened
//! to the day after the close.
//!
//! It follows the day the totals show ([`super::totals::Totals`]): each time that day is
//! read, its close is read too, so the button offers "Close day…" only for a day that is
//! still open, and "Z report" for one that is closed. The journal refuses a second close
//! anyway (a race with the command line); the screen then shows the close that won.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use time::Date;

use crate::admin::ManagerApproval;
use crate::gui::controllers::{Changed, EngineSlot};
use crate::journal::DayCloseReport;

/// Where the close is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CloseStage {
    /// The totals, with "Close day…" (open day) or "Z report" (closed day).
    #[default]
    Totals,
    /// "Close this day? The report cannot be changed afterwards." waits for Confirm.
    Confirm,
    /// The engine is storing the close.
    Closing,
    /// The Z report of the day on screen.
    Report,
}

#[derive(Default)]
struct CloseState {
    day: Option<Date>,
    /// The day's close and what changed since; `None` while the day is open (or unread).
    report: Option<DayCloseReport>,
    stage: CloseStage,
    /// The engine's words when a close failed.
    error: Option<String>,
}

#[derive(Clone)]
pub struct DayCloser {
    engine: EngineSlot,
    state: Rc<RefCell<CloseState>>,
    changed: Changed,
}

impl DayCloser {
    pub fn new(engine: EngineSlot) -> DayCloser {
        DayCloser {
            engine,
            state: Rc::new(RefCell::new(CloseState::default())),
            changed: Changed::default(),
        }
    }

    pub fn on_change(&self, listener: impl Fn() + 'static) {
        self.changed.listen(move |()| listener());
    }

    fn update<T>(&self, f: impl FnOnce(&mut CloseState) -> T) -> T {
        let result = f(&mut self.state.borrow_mut());
        self.changed.emit(&());
        result
    }

    pub fn stage(&self) -> CloseStage {
        self.state.borrow().stage
    }

    /// The report of the day shown, when it is closed.
    pub fn report(&self) -> Option<DayCloseReport> {
        self.state.borrow().report.clone()
    }

    pub fn error(&self) -> Option<String> {
        self.state.borrow().error.clone()
    }

    /// Forgets everything (a new manager's visit).
    pub fn reset(&self) {
        self.update(|state| *state = CloseState::default());
    }

    /// Reads whether `day` is closed (the totals moved to it, or something changed). A
    /// report on screen stays on screen for its own day.
    pub fn load(&self, day: Date) {
        let Some(engine) = self.engine.get() else {
            return;
        };
        self.update(|state| {
            if state.day != Some(day) {
                *state = CloseState {
                    day: Some(day),
                    ..CloseState::default()
                };
            }
        });
        let controller = self.clone();
        engine.day_report(
            day,
            Box::new(move |result| match result {
                Ok(report) => controller.update(|state| {
                    // A day stepped away from while it was read is not shown.
                    if state.day == Some(day) {
                        if report.is_none() && state.stage == CloseStage::Report {
                            state.stage = CloseStage::Totals;
                        }
                        state.report = report;
                    }
                }),
                Err(error) => tracing::error!(%error, "cannot read the day's close"),
            }),
        );
    }

    /// "Close day…": asks for confirmation; a closed day shows its report instead.
    pub fn ask(&self) {
        self.update(|state| {
            state.error = None;
            state.stage = if state.report.is_some() {
                CloseStage::Report
            } else {
                CloseStage::Confirm
            };
        });
    }

    /// "Z report" of a closed day.
    pub fn show_report(&self) {
        self.update(|state| {
            if state.report.is_some() {
                state.stage = CloseStage::Report;
            }
        });
    }

    /// Back to the totals (from the confirmation or the report).
    pub fn back(&self) {
        self.update(|state| {
            if state.stage != CloseStage::Closing {
                state.stage = CloseStage::Totals;
            }
        });
    }

    /// Confirmed: the engine closes the day in the approver's name, then the report shows.
    /// Without an approval (the screen locked meanwhile) nothing is closed.
    pub fn confirm(&self, approval: Option<Arc<ManagerApproval>>) {
        let (Some(engine), Some(approval)) = (self.engine.get(), approval) else {
            return;
        };
        let Some(day) = self.update(|state| {
            if state.stage != CloseStage::Confirm {
                return None;
            }
            state.stage = CloseStage::Closing;
            state.day
        }) else {
            return;
        };
        let controller = self.clone();
        engine.close_day(
            day,
            approval,
            Box::new(move |result| {
                match result {
                    Ok(close) => {
                        tracing::info!(day = %close.date, number = close.number, "day closed from the manager screen");
                        controller.update(|state| state.stage = CloseStage::Report);
                    }
                    Err(error) => {
                        tracing::error!(%error, "the day could not be closed");
                        controller.update(|state| {
                            state.stage = CloseStage::Totals;
                            state.error = Some(error);
                        });
                    }
                }
                // The stored record is what the report shows, never the answer's copy.
                controller.load(day);
            }),
        );
    }

    /// Shows `report` at `stage` (the screenshots' demo data).
    pub fn show(&self, day: Date, report: Option<DayCloseReport>, stage: CloseStage) {
        self.update(|state| {
            *state = CloseState {
                day: Some(day),
                report,
                stage,
                error: None,
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;
    use crate::gui::controllers::testing::{Call, MockEngine};

    fn approval() -> Arc<ManagerApproval> {
        use crate::admin::PinGuard;
        use crate::config::ManagerPin;
        let managers = vec![ManagerPin {
            name: "Ana".into(),
            pin_hash: crate::admin::hash_pin("2468").unwrap(),
        }];
        let mut guard = PinGuard::new(managers, 3, std::time::Duration::from_secs(60), None);
        Arc::new(guard.check("2468", std::time::SystemTime::now()).unwrap())
    }

    /// An open day asks before closing, closes in the approver's name, then shows the
    /// stored report; without an approval nothing is sent.
    #[test]
    fn close_asks_first_and_closes_in_the_approvers_name() {
        let engine = MockEngine::new();
        *engine.day_report.borrow_mut() = Some(Ok(None));
        let slot = EngineSlot::default();
        slot.set(engine.clone());
        let closer = DayCloser::new(slot);
        let day = date!(2026 - 03 - 01);
        closer.load(day);
        assert_eq!(closer.stage(), CloseStage::Totals);
        closer.confirm(Some(approval()));
        assert!(
            !engine
                .calls()
                .iter()
                .any(|c| matches!(c, Call::CloseDay { .. })),
            "no close without the confirmation"
        );
        closer.ask();
        assert_eq!(closer.stage(), CloseStage::Confirm);
        closer.confirm(None);
        assert_eq!(closer.stage(), CloseStage::Confirm, "no approval, no close");
        closer.confirm(Some(approval()));
        assert!(engine.calls().contains(&Call::CloseDay {
            day,
            manager: "Ana".into()
        }));
        assert_eq!(
            closer.stage(),
            CloseStage::Closing,
            "the engine has not answered"
        );
    }

    #[test]
    fn a_failed_close_goes_back_with_the_engines_words() {
        let engine = MockEngine::new();
        *engine.day_report.borrow_mut() = Some(Ok(None));
        *engine.close_day.borrow_mut() = Some(Err("the disk is full".into()));
        let slot = EngineSlot::default();
        slot.set(engine.clone());
        let closer = DayCloser::new(slot);
        closer.load(date!(2026 - 03 - 01));
        closer.ask();
        closer.confirm(Some(approval()));
        assert_eq!(closer.stage(), CloseStage::Totals);
        assert_eq!(closer.error().as_deref(), Some("the disk is full"));
    }
}
