//! Kiosk timing: an untouched order is cleared after the idle timeout (the next customer
//! must not find someone else's items), and a result returns to the start by itself. The
//! same ticker counts down the order code's expiry on the QR screen in both modes.

use std::rc::Rc;
use std::time::{Duration, Instant};

use slint::{ComponentHandle, TimerMode};

use super::controllers::navigation::Screen;
use super::{Api, Shared, code_seconds_left};

/// How often the countdowns are updated; a quarter second keeps the shown second from
/// lagging visibly behind the real one.
const TICK: Duration = Duration::from_millis(250);

/// Something was touched or typed: the idle countdown starts again.
pub(super) fn activity(shared: &Rc<Shared>) {
    if !shared.options.kiosk {
        return;
    }
    let weak = Rc::downgrade(shared);
    shared.idle.start(
        TimerMode::SingleShot,
        shared.options.idle_timeout,
        move || {
            if let Some(shared) = weak.upgrade() {
                idle_reset(&shared);
            }
        },
    );
}

/// Clears the order and returns to the kiosk's language, unless a payment is under way.
fn idle_reset(shared: &Rc<Shared>) {
    if shared.payment.in_progress() || shared.payment.has_payment() {
        return;
    }
    shared.sale.clear_for_next_customer();
    shared.set_locale(shared.options.locale);
    shared.nav.go(Screen::Kiosk);
    tracing::debug!("kiosk idle: order cleared");
}

/// Starts or stops the ticker for the page now showing.
pub(super) fn page_changed(shared: &Rc<Shared>, page: Screen) {
    let ticking = match page {
        Screen::CustomerQr => true,
        Screen::Result if shared.options.kiosk => {
            shared
                .back_at
                .set(Some(Instant::now() + shared.options.result_timeout));
            true
        }
        _ => false,
    };
    if !ticking {
        shared.ticker.stop();
        return;
    }
    let weak = Rc::downgrade(shared);
    shared.ticker.start(TimerMode::Repeated, TICK, move || {
        if let Some(shared) = weak.upgrade() {
            tick(&shared);
        }
    });
    show_countdowns(shared);
}

fn tick(shared: &Rc<Shared>) {
    show_countdowns(shared);
    let due = shared.back_at.get().is_some_and(|at| Instant::now() >= at);
    if due && shared.nav.page() == Screen::Result {
        shared.new_sale();
    }
}

fn show_countdowns(shared: &Shared) {
    let Some(app) = shared.app() else { return };
    let api = app.global::<Api>();
    let expires_at = shared.payment.shown().and_then(|p| p.expires_at);
    api.set_seconds_left(code_seconds_left(expires_at));
    let back = shared
        .back_at
        .get()
        .map(|at| {
            at.saturating_duration_since(Instant::now())
                .as_millis()
                .div_ceil(1000)
        })
        .map_or(0, |s| i32::try_from(s).unwrap_or(i32::MAX));
    api.set_return_seconds(back);
}
