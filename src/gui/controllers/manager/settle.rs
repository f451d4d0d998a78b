//! "Record outcome…" for an unresolved payment nobody works on: the manager records what
//! Alipay's merchant portal shows (paid, with Alipay's payment id when the journal has
//! none; or not paid), with a reason, under the approval of the PIN that opened the screen.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use crate::admin::ManagerApproval;
use crate::checkout::ManualOutcome;
use crate::gui::controllers::{Changed, EngineSlot};
use crate::journal::PaymentState;

/// The journal keeps reasons up to this long.
const MAX_REASON_CHARS: usize = 256;

/// Where the panel is (mirrors `SettleStage` in ui/manager_api.slint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SettleStage {
    #[default]
    Closed,
    Form,
    Confirm,
    Sending,
    Done,
}

/// What the panel says (mirrors `SettleNotice`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SettleNotice {
    #[default]
    None,
    NoReason,
    NoPaymentId,
    RecordedPaid,
    RecordedNotPaid,
    /// The engine refused (its words).
    Error(String),
}

/// The form as the screen passes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettleForm {
    pub paid: bool,
    pub reason: String,
    pub payment_id: String,
}

#[derive(Default)]
struct SettleState {
    stage: SettleStage,
    notice: SettleNotice,
    /// The outcome and reason being confirmed.
    reviewed: Option<(ManualOutcome, String)>,
    /// Bumped whenever the form's fields must be reset on screen.
    cleared: u64,
}

#[derive(Clone)]
pub struct Settle {
    engine: EngineSlot,
    state: Rc<RefCell<SettleState>>,
    changed: Changed,
}

impl Settle {
    pub fn new(engine: EngineSlot) -> Settle {
        Settle {
            engine,
            state: Rc::new(RefCell::new(SettleState::default())),
            changed: Changed::default(),
        }
    }

    pub fn on_change(&self, listener: impl Fn() + 'static) {
        self.changed.listen(move |()| listener());
    }

    fn update<T>(&self, f: impl FnOnce(&mut SettleState) -> T) -> T {
        let result = f(&mut self.state.borrow_mut());
        self.changed.emit(&());
        result
    }

    pub fn stage(&self) -> SettleStage {
        self.state.borrow().stage
    }

    pub fn notice(&self) -> SettleNotice {
        self.state.borrow().notice.clone()
    }

    pub fn cleared(&self) -> u64 {
        self.state.borrow().cleared
    }

    fn set(&self, stage: SettleStage, notice: SettleNotice) {
        self.update(|state| {
            state.stage = stage;
            state.notice = notice;
        });
    }

    /// Closed, with an empty form.
    pub fn reset(&self) {
        self.update(|state| {
            let cleared = state.cleared + 1;
            *state = SettleState {
                cleared,
                ..SettleState::default()
            };
        });
    }

    /// Opens the form, if the payment may be settled by hand.
    pub fn open(&self, can_settle: bool) {
        if !can_settle {
            return;
        }
        self.reset();
        self.set(SettleStage::Form, SettleNotice::None);
    }

    /// Checks the form and moves on to the confirmation (which names the approver).
    pub fn review(&self, form: &SettleForm, needs_payment_id: bool) {
        if self.stage() != SettleStage::Form {
            return;
        }
        let reason = form.reason.trim();
        if reason.is_empty() {
            self.set(SettleStage::Form, SettleNotice::NoReason);
            return;
        }
        let typed = form.payment_id.trim();
        if form.paid && needs_payment_id && typed.is_empty() {
            self.set(SettleStage::Form, SettleNotice::NoPaymentId);
            return;
        }
        let outcome = if form.paid {
            ManualOutcome::Paid {
                alipay_payment_id: (!typed.is_empty()).then(|| typed.to_string()),
            }
        } else {
            ManualOutcome::NotPaid
        };
        let reason: String = reason.chars().take(MAX_REASON_CHARS).collect();
        self.update(|state| {
            state.reviewed = Some((outcome, reason));
            state.stage = SettleStage::Confirm;
            state.notice = SettleNotice::None;
        });
    }

    /// Confirmed: the engine journals the manual resolution; then `done` runs.
    pub fn confirm(
        &self,
        payment_request_id: Option<String>,
        approval: Option<Arc<ManagerApproval>>,
        done: impl FnOnce() + 'static,
    ) {
        let reviewed = {
            let state = self.state.borrow();
            if state.stage != SettleStage::Confirm {
                return;
            }
            state.reviewed.clone()
        };
        let (Some(payment), Some((outcome, reason)), Some(approval)) =
            (payment_request_id, reviewed, approval)
        else {
            tracing::warn!("manual settlement refused: no manager approval or nothing reviewed");
            return;
        };
        let Some(engine) = self.engine.get() else {
            return;
        };
        self.set(SettleStage::Sending, SettleNotice::None);
        let controller = self.clone();
        engine.settle_manually(
            payment,
            outcome,
            reason,
            approval,
            Box::new(move |result| {
                let notice = match result {
                    Ok(record) => {
                        tracing::info!(payment = %record.payment_request_id, state = record.state.as_str(), "outcome recorded from the manager screen");
                        if record.state == PaymentState::Paid {
                            SettleNotice::RecordedPaid
                        } else {
                            SettleNotice::RecordedNotPaid
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "manual settlement refused");
                        SettleNotice::Error(error)
                    }
                };
                controller.set(SettleStage::Done, notice);
                done();
            }),
        );
    }

    /// Confirmation → form; form or a finished record → closed.
    pub fn back(&self) {
        match self.stage() {
            SettleStage::Confirm => self.set(SettleStage::Form, SettleNotice::None),
            SettleStage::Form | SettleStage::Done => self.reset(),
            SettleStage::Closed | SettleStage::Sending => {}
        }
    }

    /// Puts the form on screen (the screenshots' demo data).
    pub fn show_demo(&self, stage: SettleStage) {
        self.set(stage, SettleNotice::None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gui::controllers::testing::MockEngine;

    #[test]
    fn paid_needs_a_reason_and_the_portals_id_when_the_journal_has_none() {
        let engine = MockEngine::new();
        let slot = EngineSlot::default();
        slot.set(engine.clone());
        let settle = Settle::new(slot);
        settle.open(false);
        assert_eq!(
            settle.stage(),
            SettleStage::Closed,
            "a driven payment is not settled by hand"
        );
        settle.open(true);
        let mut form = SettleForm {
            paid: true,
            reason: " ".into(),
            payment_id: String::new(),
        };
        settle.review(&form, true);
        assert_eq!(settle.notice(), SettleNotice::NoReason);
        form.reason = "Portal shows SUCCESS".into();
        settle.review(&form, true);
        assert_eq!(settle.notice(), SettleNotice::NoPaymentId);
        settle.review(&form, false);
        assert_eq!(settle.stage(), SettleStage::Confirm);
        settle.confirm(Some("P1".into()), None, || {});
        assert_eq!(
            settle.stage(),
            SettleStage::Confirm,
            "no approval, nothing sent"
        );
        assert!(engine.calls().is_empty());
        settle.back();
        assert_eq!(settle.stage(), SettleStage::Form);
        settle.back();
        assert_eq!(settle.stage(), SettleStage::Closed);
    }
}
