//! Kiosk timing: an untouched order is cleared after the idle timeout (the next customer
//! must not find someone else's items), and a result returns to the start by itself. The
//! same ticker counts down the order code's expiry on the QR screen in both modes.

use std::rc::Rc;
use std::time::{Duration, Instant};

use slint::{ComponentHandle, TimerMode};

use super::payment_adapter::{self, seconds_left};
use super::{Api, Notice, Page, Shared};

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
    {
        let mut state = shared.state.borrow_mut();
        if state.charging || state.payment.is_some() {
            return;
        }
        state.cart.clear();
    }
    shared.set_notice(Notice::None, String::new());
    super::language::apply(shared, shared.options.locale);
    if shared.page() != Page::Kiosk {
        shared.set_page(Page::Kiosk);
    }
    tracing::debug!("kiosk idle: order cleared");
}

/// Starts or stops the ticker for the page now showing.
pub(super) fn page_changed(shared: &Shared, page: Page) {
    let ticking = match page {
        Page::CustomerQr => true,
        Page::Result if shared.options.kiosk => {
            shared.state.borrow_mut().back_at =
                Some(Instant::now() + shared.options.result_timeout);
            true
        }
        _ => false,
    };
    if !ticking {
        shared.ticker.stop();
        return;
    }
    let id = shared.id;
    shared.ticker.start(TimerMode::Repeated, TICK, move || {
        super::with_live(id, tick);
    });
    tick_shared(shared);
}

fn tick(shared: &Rc<Shared>) {
    tick_shared(shared);
    let due = shared
        .state
        .borrow()
        .back_at
        .is_some_and(|at| Instant::now() >= at);
    if due && shared.page() == Page::Result {
        payment_adapter::new_sale(shared);
    }
}

fn tick_shared(shared: &Shared) {
    let Some(app) = shared.app() else { return };
    let api = app.global::<Api>();
    let state = shared.state.borrow();
    let expires_at = state.payment.as_ref().and_then(|p| p.expires_at);
    api.set_seconds_left(seconds_left(expires_at));
    let back = state
        .back_at
        .map(|at| {
            at.saturating_duration_since(Instant::now())
                .as_millis()
                .div_ceil(1000)
        })
        .map_or(0, |s| i32::try_from(s).unwrap_or(i32::MAX));
    api.set_return_seconds(back);
}
