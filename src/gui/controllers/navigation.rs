//! The page on screen. Only this controller changes it: every other controller asks it to
//! show a page, and everyone who cares (the adapters setting `Api.page`, the kiosk's
//! countdowns, the manager screen's lock) listens to its changes instead of being called by
//! whoever moved the page.

use std::cell::Cell;
use std::rc::Rc;

use super::Listeners;

/// The screens (mirrors `Page` in ui/api.slint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Cashier,
    Kiosk,
    CustomerQr,
    /// User-presented: waiting for the customer to confirm their scanned code in the wallet.
    Confirming,
    /// Kiosk: "Scan your payment code" (the order's total, the scanner waiting).
    KioskScan,
    Result,
    Pin,
    Manager,
}

impl Screen {
    /// The PIN and the manager screen: what a manager's visit consists of.
    pub fn is_manager(self) -> bool {
        matches!(self, Screen::Pin | Screen::Manager)
    }
}

/// A change of page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageChange {
    pub from: Screen,
    pub to: Screen,
}

impl PageChange {
    /// The manager's visit ended: what it showed must be dropped, and the next visit needs
    /// the PIN again.
    pub fn left_manager(&self) -> bool {
        self.from.is_manager() && !self.to.is_manager()
    }
}

#[derive(Clone)]
pub struct Navigation {
    kiosk: bool,
    page: Rc<Cell<Screen>>,
    changed: Listeners<PageChange>,
}

impl Navigation {
    /// Starts on the home page of the mode.
    pub fn new(kiosk: bool) -> Navigation {
        Navigation {
            kiosk,
            page: Rc::new(Cell::new(home_of(kiosk))),
            changed: Listeners::default(),
        }
    }

    pub fn is_kiosk(&self) -> bool {
        self.kiosk
    }

    pub fn page(&self) -> Screen {
        self.page.get()
    }

    /// The page a new sale starts on: the keypad for a cashier, the catalog in a kiosk.
    pub fn home(&self) -> Screen {
        home_of(self.kiosk)
    }

    /// Shows `to`; listeners hear of it only when the page really changes.
    pub fn go(&self, to: Screen) {
        let from = self.page.replace(to);
        if from != to {
            self.changed.emit(&PageChange { from, to });
        }
    }

    pub fn go_home(&self) {
        self.go(self.home());
    }

    /// Called after every change of page.
    pub fn on_change(&self, listener: impl Fn(&PageChange) + 'static) {
        self.changed.listen(listener);
    }
}

fn home_of(kiosk: bool) -> Screen {
    if kiosk {
        Screen::Kiosk
    } else {
        Screen::Cashier
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    #[test]
    fn home_is_the_keypad_for_a_cashier_and_the_catalog_in_a_kiosk() {
        let cashier = Navigation::new(false);
        assert_eq!(cashier.page(), Screen::Cashier);
        cashier.go(Screen::Result);
        cashier.go_home();
        assert_eq!(cashier.page(), Screen::Cashier);

        let kiosk = Navigation::new(true);
        assert_eq!(kiosk.page(), Screen::Kiosk);
        kiosk.go(Screen::Manager);
        kiosk.go_home();
        assert_eq!(kiosk.page(), Screen::Kiosk);
    }

    #[test]
    fn listeners_hear_real_changes_and_when_the_manager_left() {
        let nav = Navigation::new(false);
        let heard = Rc::new(RefCell::new(Vec::new()));
        let log = heard.clone();
        nav.on_change(move |change| log.borrow_mut().push((*change, change.left_manager())));
        nav.go(Screen::Cashier); // no change
        nav.go(Screen::Pin);
        nav.go(Screen::Manager);
        nav.go_home();
        let heard = heard.borrow();
        assert_eq!(heard.len(), 3);
        assert!(!heard[0].1, "cashier → PIN does not end a visit");
        assert!(!heard[1].1, "PIN → manager does not end a visit");
        assert_eq!(heard[2].0.to, Screen::Cashier);
        assert!(heard[2].1, "manager → cashier ends the visit");
    }
}
