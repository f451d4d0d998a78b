//! A refund from the payment's detail: the form is checked (an amount in the payment's
//! currency, no more than what is left, a reason), then confirmed, then sent through the
//! engine (which journals it first). Amounts are compared in integer minor units.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use crate::admin::ManagerApproval;
use crate::gui::controllers::{Changed, EngineSlot};
use crate::gui::engine_handle::{Detail, RefundRefused};
use crate::journal::RefundState;
use crate::money::Money;

/// Longest refund reason the journal keeps.
pub const MAX_REASON_CHARS: usize = 256;

/// Where the refund panel is (mirrors `RefundStage` in ui/manager_api.slint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RefundStage {
    #[default]
    Form,
    Confirm,
    Sending,
    Done,
}

/// What the refund panel says (mirrors `RefundNotice`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RefundNotice {
    #[default]
    None,
    BadAmount,
    TooMuch,
    NothingLeft,
    NoReason,
    Succeeded,
    /// Alipay refused; its result code.
    Failed(String),
    /// No final answer yet; its result code, if any.
    Pending(String),
    /// The payment is not paid (any more).
    NotPaid,
    /// Alipay's payment id is not known yet.
    NoAlipayPaymentId,
    /// The engine could not send it (its words).
    Error(String),
}

#[derive(Default)]
struct RefundForm {
    stage: RefundStage,
    notice: RefundNotice,
    /// The amount being confirmed (or just refunded).
    amount: Option<Money>,
    /// The reason being confirmed, trimmed.
    reason: String,
    /// Bumped whenever the form's fields must be emptied on screen.
    cleared: u64,
    /// The refundRequestId of the refund that just succeeded (its receipt can be printed).
    succeeded: Option<String>,
}

#[derive(Clone)]
pub struct Refund {
    engine: EngineSlot,
    state: Rc<RefCell<RefundForm>>,
    changed: Changed,
}

impl Refund {
    pub fn new(engine: EngineSlot) -> Refund {
        Refund {
            engine,
            state: Rc::new(RefCell::new(RefundForm::default())),
            changed: Changed::default(),
        }
    }

    pub fn on_change(&self, listener: impl Fn() + 'static) {
        self.changed.listen(move |()| listener());
    }

    fn update<T>(&self, f: impl FnOnce(&mut RefundForm) -> T) -> T {
        let result = f(&mut self.state.borrow_mut());
        self.changed.emit(&());
        result
    }

    pub fn stage(&self) -> RefundStage {
        self.state.borrow().stage
    }

    pub fn notice(&self) -> RefundNotice {
        self.state.borrow().notice.clone()
    }

    pub fn amount(&self) -> Option<Money> {
        self.state.borrow().amount
    }

    /// The refundRequestId of the refund that just succeeded, while its result is shown.
    pub fn succeeded(&self) -> Option<String> {
        let state = self.state.borrow();
        (state.stage == RefundStage::Done && state.notice == RefundNotice::Succeeded)
            .then(|| state.succeeded.clone())
            .flatten()
    }

    /// Changes each time the form's fields must be emptied on screen.
    pub fn cleared(&self) -> u64 {
        self.state.borrow().cleared
    }

    fn set(&self, stage: RefundStage, notice: RefundNotice) {
        self.update(|state| {
            state.stage = stage;
            state.notice = notice;
        });
    }

    /// A fresh form (a payment was opened, or the screen was left).
    pub fn reset(&self) {
        self.update(|state| {
            let cleared = state.cleared + 1;
            *state = RefundForm {
                cleared,
                ..RefundForm::default()
            };
        });
    }

    /// Checks the form (as typed: `amount` empty means everything left) against `detail`
    /// and moves on to the confirmation, or says what is wrong.
    pub fn review(&self, detail: Option<&Detail>, amount: &str, reason: &str) {
        let Some(detail) = detail else { return };
        if self.stage() != RefundStage::Form {
            return;
        }
        let remaining = detail.remaining;
        let Some(all) = remaining.to_money() else {
            self.set(RefundStage::Form, RefundNotice::NothingLeft);
            return;
        };
        let amount = match amount.trim() {
            "" => all,
            typed => match Money::parse(typed, detail.record.amount.currency()) {
                // Zero is refused by the parser: nothing to refund is not a refund.
                Ok(amount) => amount,
                Err(_) => {
                    self.set(RefundStage::Form, RefundNotice::BadAmount);
                    return;
                }
            },
        };
        if amount.minor() > remaining.minor() {
            self.set(RefundStage::Form, RefundNotice::TooMuch);
            return;
        }
        let reason = reason.trim();
        if reason.is_empty() {
            self.set(RefundStage::Form, RefundNotice::NoReason);
            return;
        }
        let reason: String = reason.chars().take(MAX_REASON_CHARS).collect();
        self.update(|state| {
            state.amount = Some(amount);
            state.reason = reason;
            state.stage = RefundStage::Confirm;
            state.notice = RefundNotice::None;
        });
    }

    /// Confirmed: the engine journals the refund, sends it and reports how it ended; then
    /// `done` runs (the detail and the status bar read again). Impossible without the
    /// approval of the PIN that opened the screen, and without a reviewed amount.
    pub fn confirm(
        &self,
        payment_request_id: Option<String>,
        approval: Option<Arc<ManagerApproval>>,
        done: impl FnOnce() + 'static,
    ) {
        let (amount, reason) = {
            let state = self.state.borrow();
            if state.stage != RefundStage::Confirm {
                return;
            }
            (state.amount, state.reason.clone())
        };
        let (Some(payment), Some(amount), Some(approval)) = (payment_request_id, amount, approval)
        else {
            tracing::warn!("refund refused: no manager approval or nothing reviewed");
            return;
        };
        let Some(engine) = self.engine.get() else {
            self.set(
                RefundStage::Done,
                RefundNotice::Error("the terminal is still starting; try again in a moment".into()),
            );
            return;
        };
        self.set(RefundStage::Sending, RefundNotice::None);
        let controller = self.clone();
        engine.refund(
            payment,
            amount,
            reason,
            approval,
            Box::new(move |result| {
                let mut succeeded = None;
                let notice = match result {
                    Ok(refund) => {
                        tracing::info!(refund = %refund.refund_request_id, state = refund.state.as_str(), "refund from the manager screen");
                        let code = refund.result_code.clone().unwrap_or_default();
                        match refund.state {
                            RefundState::Succeeded => {
                                succeeded = Some(refund.refund_request_id.clone());
                                RefundNotice::Succeeded
                            }
                            RefundState::Failed => RefundNotice::Failed(code),
                            RefundState::Requested | RefundState::Unresolved => {
                                RefundNotice::Pending(code)
                            }
                        }
                    }
                    Err(refused) => {
                        tracing::warn!(?refused, "refund refused by the engine");
                        match refused {
                            RefundRefused::NotPaid => RefundNotice::NotPaid,
                            RefundRefused::NothingLeft => RefundNotice::NothingLeft,
                            RefundRefused::TooMuch => RefundNotice::TooMuch,
                            RefundRefused::NoAlipayPaymentId => RefundNotice::NoAlipayPaymentId,
                            RefundRefused::Other(words) => RefundNotice::Error(words),
                        }
                    }
                };
                controller.update(|state| {
                    state.stage = RefundStage::Done;
                    state.notice = notice;
                    state.succeeded = succeeded;
                });
                done();
            }),
        );
    }

    /// From the confirmation back to the form; from a finished refund to an empty form.
    pub fn back(&self) {
        self.update(|state| {
            if state.stage == RefundStage::Done {
                state.amount = None;
                state.reason.clear();
                state.cleared += 1;
            }
            if state.stage != RefundStage::Sending {
                state.stage = RefundStage::Form;
                state.notice = RefundNotice::None;
            }
        });
    }

    /// Puts the confirmation on screen (the screenshots' demo data).
    pub fn show_demo(&self, amount: Option<Money>) {
        self.update(|state| {
            state.stage = if amount.is_some() {
                RefundStage::Confirm
            } else {
                RefundStage::Form
            };
            state.amount = amount;
            state.notice = RefundNotice::None;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::PinGuard;
    use crate::config::ManagerPin;
    use crate::gui::controllers::testing::{Call, MockEngine, paid_detail, usd};
    use crate::journal::{RefundLocalId, RefundRecord};

    fn refund_panel(engine: &Rc<MockEngine>) -> Refund {
        let slot = EngineSlot::default();
        slot.set(engine.clone());
        Refund::new(slot)
    }

    /// A real approval: the only way to get one is a right PIN.
    fn approval() -> Arc<ManagerApproval> {
        let managers = vec![ManagerPin {
            name: "Ana".into(),
            pin_hash: crate::admin::hash_pin("2468").unwrap(),
        }];
        let mut guard = PinGuard::new(managers, 3, std::time::Duration::from_secs(60), None);
        Arc::new(guard.check("2468", std::time::SystemTime::now()).unwrap())
    }

    fn answer(state: RefundState) -> RefundRecord {
        let detail = paid_detail("P1", "12.50", "12.50");
        let at = detail.record.created_at;
        RefundRecord {
            id: RefundLocalId(1),
            refund_request_id: "R1".into(),
            payment: detail.record.id,
            amount: usd("5.00"),
            reason: "returned".into(),
            manager: "Ana".into(),
            state,
            refund_id: None,
            result_code: Some("SUCCESS".into()),
            result_message: None,
            resolution: None,
            refunded_at: None,
            created_at: at,
            updated_at: at,
            final_at: None,
        }
    }

    #[test]
    fn refund_review_refuses_more_than_remains_zero_and_no_reason() {
        let engine = MockEngine::new();
        let panel = refund_panel(&engine);
        let detail = paid_detail("P1", "12.50", "7.50");
        panel.review(Some(&detail), "7.51", "returned");
        assert_eq!(panel.notice(), RefundNotice::TooMuch);
        panel.review(Some(&detail), "0.00", "returned");
        assert_eq!(panel.notice(), RefundNotice::BadAmount);
        panel.review(Some(&detail), "1.234", "returned");
        assert_eq!(panel.notice(), RefundNotice::BadAmount);
        panel.review(Some(&detail), "5.00", "   ");
        assert_eq!(panel.notice(), RefundNotice::NoReason);
        assert_eq!(panel.stage(), RefundStage::Form);

        // Exactly what is left is fine; an empty amount means all of it.
        panel.review(Some(&detail), "", " returned ");
        assert_eq!(panel.stage(), RefundStage::Confirm);
        assert_eq!(panel.amount(), Some(usd("7.50")));

        let spent = paid_detail("P2", "12.50", "0.00");
        let empty = refund_panel(&engine);
        empty.review(Some(&spent), "", "returned");
        assert_eq!(empty.notice(), RefundNotice::NothingLeft);
        assert!(engine.calls().is_empty(), "reviewing sends nothing");
    }

    #[test]
    fn a_refund_confirm_without_approval_is_impossible() {
        let engine = MockEngine::new();
        let panel = refund_panel(&engine);
        let detail = paid_detail("P1", "12.50", "12.50");
        // Not reviewed: nothing to confirm, even with an approval.
        panel.confirm(Some("P1".into()), Some(approval()), || {});
        panel.review(Some(&detail), "5.00", "returned");
        panel.confirm(Some("P1".into()), None, || {});
        assert_eq!(panel.stage(), RefundStage::Confirm);
        assert!(engine.calls().is_empty());
    }

    #[test]
    fn the_engines_refusals_become_notices_the_panel_words() {
        let detail = paid_detail("P1", "12.50", "12.50");
        for (refused, notice) in [
            (RefundRefused::NotPaid, RefundNotice::NotPaid),
            (RefundRefused::NothingLeft, RefundNotice::NothingLeft),
            (RefundRefused::TooMuch, RefundNotice::TooMuch),
            (
                RefundRefused::NoAlipayPaymentId,
                RefundNotice::NoAlipayPaymentId,
            ),
            (
                RefundRefused::Other("disk full".into()),
                RefundNotice::Error("disk full".into()),
            ),
        ] {
            let engine = MockEngine::new();
            *engine.refund.borrow_mut() = Some(Err(refused));
            let panel = refund_panel(&engine);
            panel.review(Some(&detail), "5.00", "returned");
            panel.confirm(Some("P1".into()), Some(approval()), || {});
            assert_eq!(panel.stage(), RefundStage::Done);
            assert_eq!(panel.notice(), notice);
        }
    }

    #[test]
    fn a_confirmed_refund_is_sent_once_and_reports_alipays_answer() {
        let engine = MockEngine::new();
        let panel = refund_panel(&engine);
        let detail = paid_detail("P1", "12.50", "12.50");
        panel.review(Some(&detail), "5.00", "returned");
        // On its way: the panel says so, and a second confirm does nothing.
        panel.confirm(Some("P1".into()), Some(approval()), || {});
        assert_eq!(panel.stage(), RefundStage::Sending);
        panel.confirm(Some("P1".into()), Some(approval()), || {});
        assert_eq!(
            engine.calls(),
            vec![Call::Refund {
                payment: "P1".into(),
                amount: usd("5.00"),
                reason: "returned".into(),
                manager: "Ana".into(),
            }]
        );

        for (state, notice) in [
            (RefundState::Succeeded, RefundNotice::Succeeded),
            (RefundState::Failed, RefundNotice::Failed("SUCCESS".into())),
            (
                RefundState::Unresolved,
                RefundNotice::Pending("SUCCESS".into()),
            ),
        ] {
            let engine = MockEngine::new();
            *engine.refund.borrow_mut() = Some(Ok(answer(state)));
            let panel = refund_panel(&engine);
            panel.review(Some(&detail), "5.00", "returned");
            let reloaded = Rc::new(std::cell::Cell::new(false));
            let flag = reloaded.clone();
            panel.confirm(Some("P1".into()), Some(approval()), move || flag.set(true));
            assert_eq!(panel.stage(), RefundStage::Done);
            assert_eq!(panel.notice(), notice);
            assert!(reloaded.get(), "the detail is read again");
            let cleared = panel.cleared();
            panel.back();
            assert_eq!(panel.stage(), RefundStage::Form);
            assert_eq!(panel.amount(), None);
            assert_ne!(panel.cleared(), cleared, "the form is emptied");
        }
    }
}
