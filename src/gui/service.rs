//! The GUI as a systemd service: the watchdog is petted from the Slint event loop, so the
//! pets stop when the UI thread stops (a hang, a deadlock, a screen that no longer redraws)
//! and systemd restarts the terminal. Readiness and status go through
//! [`crate::service_manager`], which holds no Slint.

use crate::service_manager::ServiceManager;

/// Starts petting the watchdog every half of `WatchdogSec=` on the UI thread's event loop.
/// Keep the returned timer alive as long as the window; `None` without a watchdog (not a
/// service, or a unit without `WatchdogSec=`).
pub(super) fn pet_from_event_loop(service: &ServiceManager) -> Option<slint::Timer> {
    let watchdog = service.watchdog()?;
    if let Some(owner) = watchdog.owner {
        // cage: systemd accepts these pets only with NotifyAccess=all (see the unit).
        tracing::info!(
            owner,
            "the watchdog belongs to another process (cage?); petting it needs NotifyAccess=all"
        );
    }
    let timer = slint::Timer::default();
    let pets = service.clone();
    timer.start(
        slint::TimerMode::Repeated,
        watchdog.pet_every(),
        move || pets.pet_watchdog(),
    );
    // The first pet at once: the start-up may have taken a while.
    service.pet_watchdog();
    Some(timer)
}
