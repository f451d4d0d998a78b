//! The status bar's store-hub indicator: whether the link to the hub (`[hub] url`) is up,
//! in the three states a cashier can act on. Fed the link's own state
//! ([`crate::hub_link::LinkState`]) as it changes; the status adapter shows what it says.
//!
//! Why three and not the link's four: "connecting" and "unreachable" mean the same to the
//! person at the till (the terminal retries by itself, and polls Alipay meanwhile, so
//! payments still settle), while a refused token needs someone to enrol the terminal again.

use std::cell::Cell;
use std::rc::Rc;

use super::Changed;
use crate::hub_link::LinkState;

/// What the indicator shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HubIndicator {
    /// No `[hub] url` (or no engine yet): nothing is shown.
    #[default]
    Hidden,
    /// The hub accepted the token; notifications arrive as Alipay sends them.
    Connected,
    /// Dialling, or the last attempt failed: the link retries with backoff, and the engine
    /// polls Alipay meanwhile.
    Reconnecting,
    /// The hub refused the token (unknown or revoked): enrol the terminal again.
    Refused,
}

impl HubIndicator {
    /// The indicator for the link's state; `None` means no hub is configured.
    pub fn of(state: Option<&LinkState>) -> HubIndicator {
        match state {
            None => HubIndicator::Hidden,
            Some(LinkState::Connected) => HubIndicator::Connected,
            Some(LinkState::Connecting | LinkState::Unreachable(_)) => HubIndicator::Reconnecting,
            Some(LinkState::Refused(_)) => HubIndicator::Refused,
        }
    }
}

/// The indicator's state, on the UI thread.
#[derive(Clone, Default)]
pub struct HubStatus {
    shown: Rc<Cell<HubIndicator>>,
    changed: Changed,
}

impl HubStatus {
    /// The link's state changed (or is known for the first time).
    pub fn link_changed(&self, state: Option<&LinkState>) {
        let next = HubIndicator::of(state);
        if self.shown.replace(next) != next {
            self.changed.emit(&());
        }
    }

    pub fn indicator(&self) -> HubIndicator {
        self.shown.get()
    }

    /// Called after every change of [`HubStatus::indicator`].
    pub fn on_change(&self, listener: impl Fn(&()) + 'static) {
        self.changed.listen(listener);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_links_states_map_to_three_indicators_and_only_changes_are_announced() {
        let status = HubStatus::default();
        let announced = Rc::new(Cell::new(0));
        status.on_change({
            let announced = announced.clone();
            move |_| announced.set(announced.get() + 1)
        });
        assert_eq!(status.indicator(), HubIndicator::Hidden);
        status.link_changed(None);
        assert_eq!(announced.get(), 0, "no hub: nothing changed");

        status.link_changed(Some(&LinkState::Connecting));
        assert_eq!(status.indicator(), HubIndicator::Reconnecting);
        status.link_changed(Some(&LinkState::Unreachable("refused".into())));
        assert_eq!(status.indicator(), HubIndicator::Reconnecting);
        assert_eq!(
            announced.get(),
            1,
            "connecting → unreachable looks the same"
        );

        status.link_changed(Some(&LinkState::Connected));
        assert_eq!(status.indicator(), HubIndicator::Connected);
        status.link_changed(Some(&LinkState::Refused("HTTP 403: revoked".into())));
        assert_eq!(status.indicator(), HubIndicator::Refused);
        assert_eq!(announced.get(), 3);
    }
}
