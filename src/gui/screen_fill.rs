//! A kiosk (and `--fullscreen`) covers the whole screen on every backend.
//!
//! Slint's `set_fullscreen(true)` asks the window manager for full screen; under X11 with no
//! window manager nobody answers, and winit only moves the window to the screen's corner,
//! leaving it at its preferred size. So, once the window exists, it is also placed at its
//! monitor's origin and sized to the monitor. With a window manager or a compositor that
//! honours full screen (or cage, which maximises its one window) the request changes
//! nothing; LinuxKMS has no window at all (its one surface is the display), so there is no
//! winit window to size and nothing is done.

use slint::ComponentHandle;
use slint::winit_030::WinitWindowAccessor;

use super::App;

/// Sizes `app`'s window to its monitor as soon as the window is created.
pub(super) fn cover_the_monitor(app: &App) {
    let weak = app.as_weak();
    let spawned = slint::spawn_local(async move {
        let Some(app) = weak.upgrade() else { return };
        // An error means another backend (LinuxKMS) or a window already gone.
        let Ok(window) = app.window().winit_window().await else {
            return;
        };
        let Some(monitor) = window
            .current_monitor()
            .or_else(|| window.primary_monitor())
        else {
            tracing::info!("no monitor reported; the window keeps its size");
            return;
        };
        let (origin, size) = (monitor.position(), monitor.size());
        tracing::info!(
            x = origin.x,
            y = origin.y,
            width = size.width,
            height = size.height,
            "covering the monitor"
        );
        app.window()
            .set_position(slint::PhysicalPosition::new(origin.x, origin.y));
        app.window()
            .set_size(slint::PhysicalSize::new(size.width, size.height));
    });
    if let Err(error) = spawned {
        tracing::warn!(%error, "cannot size the window to the screen");
    }
}
