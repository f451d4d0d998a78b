//! The PIN screen's half of the `Manager` global: shows the [`Pin`] controller's state,
//! counts the lockout down once a second, and checks PINs on a thread of their own
//! (Argon2 is slow on purpose; the UI thread must not wait for it).
//!
//! [`Pin`]: super::controllers::pin::Pin

use std::rc::Rc;
use std::time::Duration;

use slint::{ComponentHandle, TimerMode};

use super::controllers::pin::{PinStatus, Verifier};
use super::{Manager, PinNotice, Shared};

/// Checks a PIN on a thread of its own; the answer comes back on the UI thread.
pub(super) fn verifier() -> Verifier {
    Rc::new(|attempt, pin, done| {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("pin-check".into())
            .spawn(move || {
                let verified = attempt.verify(&pin);
                drop(pin);
                let _ = answer.send(verified);
            });
        if let Err(error) = spawned {
            tracing::error!(%error, "cannot check the PIN");
            return false;
        }
        let queued = slint::spawn_local(async move {
            if let Ok(verified) = answered.await {
                done(verified);
            }
        });
        if let Err(error) = queued {
            tracing::debug!(%error, "PIN check dropped: the event loop has ended");
        }
        true
    })
}

/// The dots, the notice, and the lockout countdown's timer.
pub(super) fn push(shared: &Shared) {
    let Some(app) = shared.app() else { return };
    let manager = app.global::<Manager>();
    let pin = &shared.pin;
    manager.set_pin_length(i32::try_from(pin.length()).unwrap_or(i32::MAX));
    let notice = match pin.status() {
        PinStatus::None => PinNotice::None,
        PinStatus::Checking => PinNotice::Checking,
        PinStatus::Wrong { tries_left } => {
            manager.set_pin_tries_left(i32::try_from(tries_left).unwrap_or(i32::MAX));
            PinNotice::Wrong
        }
        PinStatus::Locked { seconds_left } => {
            manager.set_pin_seconds_left(i32::try_from(seconds_left).unwrap_or(i32::MAX));
            PinNotice::Locked
        }
        PinStatus::NotSet => PinNotice::NotSet,
        PinStatus::Unreadable => PinNotice::Unreadable,
    };
    manager.set_pin_notice(notice);
    if pin.is_locked() && !shared.pin_timer.running() {
        let controller = pin.clone();
        shared
            .pin_timer
            .start(TimerMode::Repeated, Duration::from_millis(500), move || {
                controller.tick();
            });
    } else if !pin.is_locked() {
        shared.pin_timer.stop();
    }
}
