//! The status bar: engine ready, online/offline, the store hub's link, unresolved payments,
//! the sandbox banner, and the hidden gesture that asks for the manager screen.

use std::rc::Rc;

use slint::ComponentHandle;

use super::controllers::hub_status::HubIndicator;
use super::engine_handle::EngineHandle;
use super::{Api, HubLink, Shared};

pub(super) fn wire(shared: &Rc<Shared>, api: &Api<'_>) {
    let weak = Rc::downgrade(shared);
    shared.hub_status.on_change(move |_| {
        if let Some(shared) = weak.upgrade()
            && let Some(app) = shared.app()
        {
            app.global::<Api>()
                .set_hub_link(hub_link_view(shared.hub_status.indicator()));
        }
    });
    let weak = Rc::downgrade(shared);
    api.on_admin_requested(move || {
        if let Some(shared) = weak.upgrade() {
            shared.activity();
            shared.open_admin();
        }
    });
}

/// The engine is up: charging is possible; show what it knows already.
pub(super) fn connected(shared: &Rc<Shared>, engine: &dyn EngineHandle) {
    let facts = engine.facts();
    if let Some(app) = shared.app() {
        let api = app.global::<Api>();
        api.set_ready(true);
        api.set_sandbox(facts.sandbox);
        match facts.online {
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

/// Counts the payments the resolver still has to settle.
pub(super) fn refresh_unresolved(shared: &Rc<Shared>) {
    let Some(engine) = shared.engine.get() else {
        return;
    };
    let weak = Rc::downgrade(shared);
    engine.count_unresolved(Box::new(move |count| match count {
        Ok(count) => {
            if let Some(app) = weak.upgrade().and_then(|shared| shared.app()) {
                app.global::<Api>()
                    .set_unresolved_count(i32::try_from(count).unwrap_or(i32::MAX));
            }
        }
        Err(error) => tracing::error!(%error, "cannot count unresolved payments"),
    }));
}

/// The indicator as `ui/widgets/hub_link.slint` shows it.
fn hub_link_view(indicator: HubIndicator) -> HubLink {
    match indicator {
        HubIndicator::Hidden => HubLink::Hidden,
        HubIndicator::Connected => HubLink::Connected,
        HubIndicator::Reconnecting => HubLink::Reconnecting,
        HubIndicator::Refused => HubLink::Refused,
    }
}
