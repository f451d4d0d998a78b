//! The PIN screen in front of the manager screen: collects digits (keypad or keyboard),
//! checks them off the UI thread (Argon2 is slow on purpose) and shows wrong tries and the
//! lockout countdown. The digits live only in memory until the check and are then dropped.

use std::rc::Rc;
use std::time::{Duration, SystemTime};

use slint::{ComponentHandle, TimerMode};

use super::{Manager, Page, PinNotice, Shared, manager_adapter, payment_adapter, post};
use crate::admin::{MAX_PIN_DIGITS, ManagerApproval, PinError, PinGuard};

/// The PIN typed so far and the guard that checks it.
pub(crate) struct PinState {
    digits: String,
    checking: bool,
    guard: PinGuard,
}

impl PinState {
    pub(crate) fn new(guard: PinGuard) -> PinState {
        PinState {
            digits: String::new(),
            checking: false,
            guard,
        }
    }

    fn locked_for(&self) -> Option<u64> {
        self.guard.locked_for(SystemTime::now())
    }
}

/// The hidden gesture or Ctrl+Alt+M: shows the PIN screen, unless a payment is under way
/// (the customer's QR code must not disappear behind it).
pub(super) fn open(shared: &Rc<Shared>) {
    let finished_sale = {
        let state = shared.state.borrow();
        let in_progress = state.charging
            || state
                .payment
                .as_ref()
                .is_some_and(|shown| shown.result.is_none());
        if in_progress {
            tracing::info!("manager screen not opened: a payment is on screen");
            return;
        }
        state.payment.is_some()
    };
    if finished_sale {
        // A finished sale is done with; the next sale starts fresh after the manager.
        payment_adapter::new_sale(shared);
    }
    if matches!(shared.page(), Page::Pin | Page::Manager) {
        return;
    }
    {
        let mut pin = shared.pin.borrow_mut();
        pin.digits.clear();
        // Another process (the CLI) may have counted wrong PINs since.
        pin.guard.refresh(SystemTime::now());
    }
    set_notice(shared, PinNotice::None);
    shared.set_page(Page::Pin);
    if shared.pin.borrow().locked_for().is_some() {
        show_lockout(shared);
    } else if !shared.pin.borrow().guard.has_pin() {
        set_notice(shared, PinNotice::NotSet);
    }
    push_length(shared);
    manager_adapter::touch(shared);
}

/// A key on the PIN screen. Always "meant something" there, so no key leaks to the page
/// underneath.
pub(super) fn key(shared: &Rc<Shared>, key: &str) -> bool {
    manager_adapter::touch(shared);
    if shared.pin.borrow().checking {
        return true;
    }
    match key {
        "escape" => cancel(shared),
        "enter" => submit(shared),
        "backspace" => {
            shared.pin.borrow_mut().digits.pop();
        }
        "clear" => shared.pin.borrow_mut().digits.clear(),
        typed => {
            let mut chars = typed.chars();
            if let (Some(digit), None) = (chars.next(), chars.next())
                && digit.is_ascii_digit()
            {
                let mut pin = shared.pin.borrow_mut();
                if pin.digits.len() < MAX_PIN_DIGITS {
                    pin.digits.push(digit);
                }
            }
        }
    }
    push_length(shared);
    true
}

/// Leaves the PIN screen for the sale screen.
fn cancel(shared: &Rc<Shared>) {
    shared.pin.borrow_mut().digits.clear();
    shared.pin_timer.stop();
    shared.set_page(shared.home());
}

fn submit(shared: &Rc<Shared>) {
    let admitted = {
        let mut state = shared.pin.borrow_mut();
        if state.digits.is_empty() {
            return;
        }
        let pin = std::mem::take(&mut state.digits);
        match state.guard.admit(SystemTime::now()) {
            Ok(attempt) => {
                state.checking = true;
                Ok((pin, attempt))
            }
            Err(error) => Err(error),
        }
    };
    let (pin, attempt) = match admitted {
        Ok(admitted) => admitted,
        Err(error) => {
            checked(shared, Err(error));
            return;
        }
    };
    set_notice(shared, PinNotice::Checking);
    let id = shared.id;
    // Argon2 takes a noticeable moment by design; the UI thread must not wait for it.
    let spawned = std::thread::Builder::new()
        .name("pin-check".into())
        .spawn(move || {
            let verified = attempt.verify(&pin);
            drop(pin);
            post(id, move |shared| {
                let result = shared
                    .pin
                    .borrow_mut()
                    .guard
                    .record(verified, SystemTime::now());
                checked(shared, result);
            });
        });
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot check the PIN");
        shared.pin.borrow_mut().checking = false;
        set_notice(shared, PinNotice::None);
    }
}

/// The PIN check ended; a right PIN's approval goes to the manager screen, which needs it
/// for refunds, manual settlement and leaving the kiosk, and drops it when it is left.
fn checked(shared: &Rc<Shared>, result: Result<ManagerApproval, PinError>) {
    shared.pin.borrow_mut().checking = false;
    push_length(shared);
    if shared.page() != Page::Pin {
        return;
    }
    match result {
        Ok(approval) => {
            tracing::info!(manager = approval.manager(), "manager screen opened");
            set_notice(shared, PinNotice::None);
            manager_adapter::opened(shared, approval);
        }
        Err(PinError::Wrong { remaining }) => {
            tracing::warn!("wrong manager PIN");
            if let Some(app) = shared.app() {
                app.global::<Manager>()
                    .set_pin_tries_left(i32::try_from(remaining).unwrap_or(i32::MAX));
            }
            set_notice(shared, PinNotice::Wrong);
        }
        Err(PinError::LockedOut { .. }) => show_lockout(shared),
        Err(PinError::NotSet) => set_notice(shared, PinNotice::NotSet),
        Err(PinError::BadHash(error)) => {
            tracing::error!(%error, "the configured PIN hash is unreadable");
            set_notice(shared, PinNotice::Unreadable);
        }
        Err(PinError::BadFormat | PinError::Hashing(_)) => set_notice(shared, PinNotice::Wrong),
    }
}

/// Shows the lockout and counts it down once a second until PINs are accepted again.
fn show_lockout(shared: &Rc<Shared>) {
    set_notice(shared, PinNotice::Locked);
    tick_lockout(shared);
    let id = shared.id;
    shared
        .pin_timer
        .start(TimerMode::Repeated, Duration::from_millis(500), move || {
            super::with_live(id, tick_lockout);
        });
}

fn tick_lockout(shared: &Rc<Shared>) {
    let left = shared.pin.borrow().locked_for();
    match left {
        Some(seconds) => {
            if let Some(app) = shared.app() {
                app.global::<Manager>()
                    .set_pin_seconds_left(i32::try_from(seconds).unwrap_or(i32::MAX));
            }
        }
        None => {
            shared.pin_timer.stop();
            set_notice(shared, PinNotice::None);
        }
    }
}

fn set_notice(shared: &Shared, notice: PinNotice) {
    if let Some(app) = shared.app() {
        app.global::<Manager>().set_pin_notice(notice);
    }
}

fn push_length(shared: &Shared) {
    let Some(app) = shared.app() else { return };
    let length = shared.pin.borrow().digits.len();
    app.global::<Manager>()
        .set_pin_length(i32::try_from(length).unwrap_or(i32::MAX));
}
