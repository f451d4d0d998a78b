//! The PIN in front of the manager screen: collects digits, has them checked off the UI
//! thread (Argon2 is slow on purpose) and counts wrong tries and the lockout down. The
//! digits live only in memory until the check and are then dropped.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::SystemTime;

use super::navigation::{Navigation, Screen};
use super::{Changed, Listeners};
use crate::admin::{MAX_PIN_DIGITS, ManagerApproval, PinAttempt, PinChecked, PinError, PinGuard};
use crate::gui::engine_handle::Reply;

/// What the PIN screen says under the dots (mirrors `PinNotice` in ui/manager_api.slint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinStatus {
    None,
    Checking,
    Wrong { tries_left: u32 },
    Locked { seconds_left: u64 },
    NotSet,
    Unreadable,
}

/// Compares a PIN with the hashes somewhere the UI thread does not wait, and answers on
/// the UI thread. Returns whether the check could start.
pub type Verifier = Rc<dyn Fn(PinAttempt, String, Reply<PinChecked>) -> bool>;

/// The clock the lockout is counted on (the system's; a test's own).
pub type Clock = Rc<dyn Fn() -> SystemTime>;

struct PinState {
    digits: String,
    checking: bool,
    guard: PinGuard,
    status: PinStatus,
}

#[derive(Clone)]
pub struct Pin {
    nav: Navigation,
    verifier: Verifier,
    clock: Clock,
    state: Rc<RefCell<PinState>>,
    changed: Changed,
    opened: Listeners<Arc<ManagerApproval>>,
}

impl Pin {
    pub fn new(guard: PinGuard, nav: Navigation, verifier: Verifier, clock: Clock) -> Pin {
        Pin {
            nav,
            verifier,
            clock,
            state: Rc::new(RefCell::new(PinState {
                digits: String::new(),
                checking: false,
                guard,
                status: PinStatus::None,
            })),
            changed: Changed::default(),
            opened: Listeners::default(),
        }
    }

    pub fn on_change(&self, listener: impl Fn() + 'static) {
        self.changed.listen(move |()| listener());
    }

    /// A right PIN: its approval, for the manager screen (which needs it for refunds,
    /// manual settlement and leaving the kiosk, and drops it when it is left).
    pub fn on_opened(&self, listener: impl Fn(&Arc<ManagerApproval>) + 'static) {
        self.opened.listen(listener);
    }

    fn update<T>(&self, f: impl FnOnce(&mut PinState) -> T) -> T {
        let result = f(&mut self.state.borrow_mut());
        self.changed.emit(&());
        result
    }

    pub fn status(&self) -> PinStatus {
        self.state.borrow().status
    }

    /// How many digits were typed (the screen shows dots, never digits).
    pub fn length(&self) -> usize {
        self.state.borrow().digits.len()
    }

    /// Whether the lockout still runs (the adapter ticks [`Pin::tick`] while it does).
    pub fn is_locked(&self) -> bool {
        matches!(self.status(), PinStatus::Locked { .. })
    }

    /// Shows the PIN screen with nothing typed.
    pub fn open(&self) {
        if self.nav.page().is_manager() {
            return;
        }
        let now = (self.clock)();
        self.update(|state| {
            state.digits.clear();
            // Another process (the CLI) may have counted wrong PINs since.
            state.guard.refresh(now);
            state.status = match state.guard.locked_for(now) {
                Some(seconds_left) => PinStatus::Locked { seconds_left },
                None if !state.guard.has_pin() => PinStatus::NotSet,
                None => PinStatus::None,
            };
        });
        self.nav.go(Screen::Pin);
    }

    /// A key on the PIN screen. Always "means something" there, so no key leaks to the
    /// page underneath.
    pub fn key(&self, key: &str) -> bool {
        if self.state.borrow().checking {
            return true;
        }
        match key {
            "escape" => self.cancel(),
            "enter" => self.submit(),
            "backspace" => self.update(|state| {
                state.digits.pop();
            }),
            "clear" => self.update(|state| state.digits.clear()),
            typed => {
                let mut chars = typed.chars();
                if let (Some(digit), None) = (chars.next(), chars.next())
                    && digit.is_ascii_digit()
                {
                    self.update(|state| {
                        if state.digits.len() < MAX_PIN_DIGITS {
                            state.digits.push(digit);
                        }
                    });
                }
            }
        }
        true
    }

    /// Leaves the PIN screen for the sale screen.
    pub fn cancel(&self) {
        self.update(|state| state.digits.clear());
        self.nav.go_home();
    }

    fn submit(&self) {
        let now = (self.clock)();
        let admitted = {
            let mut state = self.state.borrow_mut();
            if state.digits.is_empty() {
                return;
            }
            let pin = std::mem::take(&mut state.digits);
            match state.guard.admit(now) {
                Ok(attempt) => {
                    state.checking = true;
                    state.status = PinStatus::Checking;
                    Ok((pin, attempt))
                }
                Err(error) => Err(error),
            }
        };
        self.changed.emit(&());
        match admitted {
            Ok((pin, attempt)) => {
                let controller = self.clone();
                let started = (self.verifier)(
                    attempt,
                    pin,
                    Box::new(move |verified| {
                        let now = (controller.clock)();
                        let result = controller.state.borrow_mut().guard.record(verified, now);
                        controller.checked(result);
                    }),
                );
                if !started {
                    self.check_failed();
                }
            }
            Err(error) => self.checked(Err(error)),
        }
    }

    /// The check could not even start (no thread for it): back to typing.
    fn check_failed(&self) {
        self.update(|state| {
            state.checking = false;
            state.status = PinStatus::None;
        });
    }

    fn checked(&self, result: Result<ManagerApproval, PinError>) {
        let on_pin = self.nav.page() == Screen::Pin;
        let status = match &result {
            Ok(_) => PinStatus::None,
            Err(PinError::Wrong { remaining }) => {
                tracing::warn!("wrong manager PIN");
                PinStatus::Wrong {
                    tries_left: *remaining,
                }
            }
            Err(PinError::LockedOut { seconds_left }) => PinStatus::Locked {
                seconds_left: *seconds_left,
            },
            Err(PinError::NotSet) => PinStatus::NotSet,
            Err(PinError::BadHash(error)) => {
                tracing::error!(%error, "the configured PIN hash is unreadable");
                PinStatus::Unreadable
            }
            Err(PinError::BadFormat | PinError::Hashing(_)) => PinStatus::Wrong {
                tries_left: self.state.borrow().guard_tries_left(),
            },
        };
        self.update(|state| {
            state.checking = false;
            if on_pin {
                state.status = status;
            }
        });
        if !on_pin {
            return;
        }
        if let Ok(approval) = result {
            tracing::info!(manager = approval.manager(), "manager screen opened");
            self.opened.emit(&Arc::new(approval));
        }
    }

    /// Counts the lockout down; returns whether it still runs.
    pub fn tick(&self) -> bool {
        let now = (self.clock)();
        let left = self.state.borrow().guard.locked_for(now);
        self.update(|state| match left {
            Some(seconds_left) => state.status = PinStatus::Locked { seconds_left },
            None => {
                if matches!(state.status, PinStatus::Locked { .. }) {
                    state.status = PinStatus::None;
                }
            }
        });
        left.is_some()
    }

    /// Shows the PIN screen in a given state (the screenshots' demo data).
    pub fn show_demo(&self, digits: usize, status: PinStatus) {
        self.update(|state| {
            state.digits = "0".repeat(digits);
            state.status = status;
        });
    }
}

impl PinState {
    /// The tries left as last shown (a malformed PIN counts like a wrong one without
    /// changing what the screen said about the count).
    fn guard_tries_left(&self) -> u32 {
        match self.status {
            PinStatus::Wrong { tries_left } => tries_left,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::time::Duration;

    use super::*;
    use crate::admin::hash_pin;
    use crate::config::ManagerPin;

    const PIN: &str = "2468";

    /// A guard with one manager, locking for a minute after `tries` wrong PINs; a clock the
    /// test moves; and a verifier that checks at once (on the test's thread).
    fn pin_screen(tries: u32) -> (Pin, Navigation, Rc<Cell<SystemTime>>) {
        let managers = vec![ManagerPin {
            name: "Ana".into(),
            pin_hash: hash_pin(PIN).unwrap(),
        }];
        let guard = PinGuard::new(managers, tries, Duration::from_secs(60), None);
        let nav = Navigation::new(false);
        let now = Rc::new(Cell::new(
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        ));
        let clock_now = now.clone();
        let verifier: Verifier = Rc::new(|attempt, pin, done| {
            done(attempt.verify(&pin));
            true
        });
        let pin = Pin::new(
            guard,
            nav.clone(),
            verifier,
            Rc::new(move || clock_now.get()),
        );
        (pin, nav, now)
    }

    fn type_pin(pin: &Pin, digits: &str) {
        for digit in digits.chars() {
            pin.key(&digit.to_string());
        }
        pin.key("enter");
    }

    #[test]
    fn the_right_pin_opens_with_the_managers_approval() {
        let (pin, nav, _) = pin_screen(3);
        let opened = Rc::new(RefCell::new(Vec::new()));
        let heard = opened.clone();
        pin.on_opened(move |approval| heard.borrow_mut().push(approval.manager().to_string()));
        pin.open();
        assert_eq!(nav.page(), Screen::Pin);
        type_pin(&pin, PIN);
        assert_eq!(*opened.borrow(), vec!["Ana".to_string()]);
        assert_eq!(pin.length(), 0, "the digits are dropped after the check");
    }

    #[test]
    fn pin_lockout_counts_down_and_refuses_even_the_right_pin() {
        let (pin, nav, now) = pin_screen(2);
        let opened = Rc::new(Cell::new(0));
        let heard = opened.clone();
        pin.on_opened(move |_| heard.set(heard.get() + 1));
        pin.open();
        type_pin(&pin, "1111");
        assert_eq!(pin.status(), PinStatus::Wrong { tries_left: 1 });
        type_pin(&pin, "1111");
        assert_eq!(pin.status(), PinStatus::Locked { seconds_left: 60 });

        now.set(now.get() + Duration::from_secs(45));
        assert!(pin.tick());
        assert_eq!(pin.status(), PinStatus::Locked { seconds_left: 15 });
        type_pin(&pin, PIN);
        assert_eq!(
            opened.get(),
            0,
            "locked: the right PIN is refused unchecked"
        );
        assert!(pin.is_locked());

        now.set(now.get() + Duration::from_secs(16));
        assert!(!pin.tick());
        assert_eq!(pin.status(), PinStatus::None);
        type_pin(&pin, PIN);
        assert_eq!(opened.get(), 1);
        assert_eq!(
            nav.page(),
            Screen::Pin,
            "the manager controller moves on, not the PIN"
        );
    }

    #[test]
    fn escape_goes_home_and_digits_stop_at_the_maximum() {
        let (pin, nav, _) = pin_screen(3);
        pin.open();
        for _ in 0..MAX_PIN_DIGITS + 3 {
            pin.key("7");
        }
        assert_eq!(pin.length(), MAX_PIN_DIGITS);
        pin.key("backspace");
        assert_eq!(pin.length(), MAX_PIN_DIGITS - 1);
        assert!(pin.key("escape"));
        assert_eq!(nav.page(), Screen::Cashier);
        assert_eq!(pin.length(), 0);
    }
}
