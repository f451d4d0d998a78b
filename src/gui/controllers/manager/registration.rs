//! The Registration panel of the manager's Settings: how the wallets' review of this
//! merchant and store stands (per wallet, with the reject reasons), when it was last
//! learned, and "Check now". The panel shows the journal's record; "Check now" asks Alipay,
//! which journals the answer first, and a verified notification updates the panel through
//! the engine's event without anyone asking.

use std::cell::RefCell;
use std::rc::Rc;

use crate::gui::controllers::{Changed, EngineSlot};
use crate::journal::RegistrationRecord;

#[derive(Default)]
struct RegistrationState {
    record: Option<RegistrationRecord>,
    /// The journal was read at least once since the panel was opened.
    loaded: bool,
    checking: bool,
    /// The last "Check now" could not reach Alipay (or Alipay refused to say).
    check_failed: bool,
}

#[derive(Clone, Default)]
pub struct Registration {
    engine: EngineSlot,
    state: Rc<RefCell<RegistrationState>>,
    changed: Changed,
}

impl Registration {
    pub fn new(engine: EngineSlot) -> Registration {
        Registration {
            engine,
            ..Registration::default()
        }
    }

    pub fn on_change(&self, listener: impl Fn() + 'static) {
        self.changed.listen(move |()| listener());
    }

    pub fn record(&self) -> Option<RegistrationRecord> {
        self.state.borrow().record.clone()
    }

    pub fn loaded(&self) -> bool {
        self.state.borrow().loaded
    }

    pub fn checking(&self) -> bool {
        self.state.borrow().checking
    }

    pub fn check_failed(&self) -> bool {
        self.state.borrow().check_failed
    }

    /// Reads the journal's record (opening the Settings tab, or an engine event).
    pub fn load(&self) {
        let Some(engine) = self.engine.get() else {
            return;
        };
        let controller = self.clone();
        engine.registration(Box::new(move |result| {
            match result {
                Ok(record) => {
                    let mut state = controller.state.borrow_mut();
                    state.record = record;
                    state.loaded = true;
                }
                Err(error) => tracing::error!(%error, "cannot read the registration"),
            }
            controller.changed.emit(&());
        }));
    }

    /// "Check now": one inquiry at a time.
    pub fn check_now(&self) {
        if self.checking() {
            return;
        }
        let Some(engine) = self.engine.get() else {
            return;
        };
        {
            let mut state = self.state.borrow_mut();
            state.checking = true;
            state.check_failed = false;
        }
        self.changed.emit(&());
        let controller = self.clone();
        engine.check_registration(Box::new(move |result| {
            {
                let mut state = controller.state.borrow_mut();
                state.checking = false;
                match result {
                    Ok(record) => {
                        state.record = record;
                        state.loaded = true;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "checking the registration failed");
                        state.check_failed = true;
                    }
                }
            }
            controller.changed.emit(&());
        }));
    }

    /// A new manager visit: nothing of the last one is shown.
    pub fn reset(&self) {
        *self.state.borrow_mut() = RegistrationState::default();
        self.changed.emit(&());
    }

    /// Shows `record` (the screenshots' demo data).
    pub fn show(&self, record: Option<RegistrationRecord>) {
        {
            let mut state = self.state.borrow_mut();
            state.record = record;
            state.loaded = true;
        }
        self.changed.emit(&());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gui::controllers::testing::{Call, MockEngine};
    use crate::journal::{RegistrationOutcome, ReviewStatus, WalletRecord, WalletVerdict};

    fn record(verdict: WalletVerdict) -> RegistrationRecord {
        let at = time::OffsetDateTime::from_unix_timestamp(1_795_442_709).unwrap();
        RegistrationRecord {
            id: 1,
            registration_request_id: "G-1-T01-X".into(),
            reference_merchant_id: "M0001".into(),
            reference_store_id: "S0001".into(),
            body_sha256: "0".repeat(64),
            created_at: at,
            sends: 1,
            outcome: Some(RegistrationOutcome::Accepted),
            result_code: Some("SUCCESS".into()),
            result_message: None,
            answered_at: Some(at),
            status: Some(ReviewStatus::Completed),
            status_text: None,
            status_reasons: None,
            checked_at: Some(at),
            wallets: vec![WalletRecord {
                wallet: "AlipayCN".into(),
                verdict,
                verdict_text: None,
                reject_reasons: None,
                updated_at: at,
            }],
            updated_at: at,
        }
    }

    #[test]
    fn check_now_asks_once_and_keeps_the_last_record_when_alipay_cannot_say() {
        let engine = MockEngine::new();
        let slot = EngineSlot::default();
        slot.set(engine.clone());
        let panel = Registration::new(slot);
        *engine.registration.borrow_mut() = Some(Ok(Some(record(WalletVerdict::Pending))));
        panel.load();
        assert_eq!(
            panel.record().unwrap().wallets[0].verdict,
            WalletVerdict::Pending
        );

        // On its way: a second tap asks nothing more.
        panel.check_now();
        panel.check_now();
        assert!(panel.checking());
        let asked = engine
            .calls()
            .iter()
            .filter(|c| **c == Call::CheckRegistration)
            .count();
        assert_eq!(asked, 1, "the second tap waits for the first answer");
    }

    #[test]
    fn a_check_that_fails_says_so_and_keeps_the_record() {
        let engine = MockEngine::new();
        let slot = EngineSlot::default();
        slot.set(engine.clone());
        let panel = Registration::new(slot);
        *engine.registration.borrow_mut() = Some(Ok(Some(record(WalletVerdict::Approved))));
        panel.load();
        *engine.check_registration.borrow_mut() = Some(Err("no answer".into()));
        panel.check_now();
        assert!(!panel.checking());
        assert!(panel.check_failed());
        assert_eq!(
            panel.record().unwrap().wallets[0].verdict,
            WalletVerdict::Approved
        );
        *engine.check_registration.borrow_mut() = Some(Ok(Some(record(WalletVerdict::Rejected))));
        panel.check_now();
        assert!(!panel.check_failed());
        assert_eq!(
            panel.record().unwrap().wallets[0].verdict,
            WalletVerdict::Rejected
        );
    }
}
