//! The status bar: engine ready, online/offline, unresolved payments, the sandbox banner.

use std::rc::Rc;

use slint::ComponentHandle;

use super::{Api, Engine, Shared, kiosk, pin_adapter, post};
use crate::journal::PaymentState;

pub(super) fn wire(shared: &Rc<Shared>, api: &Api<'_>) {
    let weak = Rc::downgrade(shared);
    api.on_admin_requested(move || {
        if let Some(shared) = weak.upgrade() {
            kiosk::activity(&shared);
            pin_adapter::open(&shared);
        }
    });
}

/// The engine is up: charging is possible; show what it knows already.
pub(super) fn connected(shared: &Rc<Shared>, engine: &Engine) {
    if let Some(app) = shared.app() {
        let api = app.global::<Api>();
        api.set_ready(true);
        api.set_sandbox(engine.is_sandbox());
        match engine.terminal.checkout.online() {
            Some(online) => {
                api.set_online_known(true);
                api.set_online(online);
            }
            None => api.set_online_known(false),
        }
    }
    refresh_unresolved(shared);
}

pub(super) fn set_online(shared: &Shared, online: bool) {
    if let Some(app) = shared.app() {
        let api = app.global::<Api>();
        api.set_online_known(true);
        api.set_online(online);
    }
}

/// Counts the payments the resolver still has to settle (read on the runtime).
pub(super) fn refresh_unresolved(shared: &Rc<Shared>) {
    let Some(engine) = shared.engine() else {
        return;
    };
    let checkout = engine.checkout();
    let id = shared.id;
    engine.runtime.spawn(async move {
        let open = checkout.db(|journal| journal.open_payments()).await;
        match open {
            Ok(open) => {
                let count = open
                    .iter()
                    .filter(|p| p.state == PaymentState::Unresolved)
                    .count();
                let count = i32::try_from(count).unwrap_or(i32::MAX);
                post(id, move |shared| {
                    if let Some(app) = shared.app() {
                        app.global::<Api>().set_unresolved_count(count);
                    }
                });
            }
            Err(error) => tracing::error!(%error, "cannot count unresolved payments"),
        }
    });
}
