//! The screens' logic as plain Rust, in the style of Slint's todo-mvc: each controller owns
//! one screen's state, decides what a tap or a key means, asks the engine through
//! [`EngineHandle`], and tells whoever listens that its state changed. None of them knows a
//! Slint type: the adapters in `gui/*_adapter.rs` map their state onto the `Api` and
//! `Manager` globals and wire the globals' callbacks to their methods, and the unit tests
//! here drive them on a mock engine ([`testing::MockEngine`]).
//!
//! - [`navigation`]: the one owner of the page on screen;
//! - [`sale`]: amount entry, quick items, the kiosk order, the description, the notice,
//!   the customer's scanned (or typed) payment code;
//! - [`scan_input`]: the keyboard between the keys and the page, telling a barcode
//!   scanner's burst from typing;
//! - [`payment_screen`]: Charge, the QR screen, Cancel, the demo customer, the result;
//! - [`pin`]: the manager PIN and its lockout;
//! - [`printing`]: Print, Reprint and the refund receipt, and the printer's state;
//! - [`manager`]: transactions, refunds, manual outcomes, "resolve now", totals;
//! - [`hub_status`]: the status bar's store-hub indicator (connected / reconnecting /
//!   refused token).
//!
//! Controllers are cheap handles (`Rc` inside) and live on the UI thread. Engine answers
//! arrive there too (see [`EngineHandle`]), so no state is ever shared across threads.

pub mod hub_status;
pub mod manager;
pub mod navigation;
pub mod payment_screen;
pub mod pin;
pub mod printing;
pub mod sale;
pub mod scan_input;
#[cfg(test)]
pub(crate) mod testing;

use std::cell::RefCell;
use std::rc::Rc;

use super::engine_handle::EngineHandle;

/// The engine as the controllers reach it: empty until the terminal has started.
#[derive(Clone, Default)]
pub struct EngineSlot(Rc<RefCell<Option<Rc<dyn EngineHandle>>>>);

impl EngineSlot {
    pub fn set(&self, engine: Rc<dyn EngineHandle>) {
        *self.0.borrow_mut() = Some(engine);
    }

    /// Lets go of the engine (the GUI is detached; the terminal may stop).
    pub fn clear(&self) {
        *self.0.borrow_mut() = None;
    }

    /// The engine, if it runs (cloned out, so no borrow is held while it is called).
    pub fn get(&self) -> Option<Rc<dyn EngineHandle>> {
        self.0.borrow().clone()
    }
}

/// One listener of a [`Listeners`].
type Listener<T> = Rc<dyn Fn(&T)>;

/// Listeners for one kind of news from a controller. Called after the controller's state
/// is updated and no borrow of it is held, so a listener may read or call it again.
pub struct Listeners<T>(Rc<RefCell<Vec<Listener<T>>>>);

impl<T> Clone for Listeners<T> {
    fn clone(&self) -> Self {
        Listeners(self.0.clone())
    }
}

impl<T> Default for Listeners<T> {
    fn default() -> Self {
        Listeners(Rc::new(RefCell::new(Vec::new())))
    }
}

impl<T> Listeners<T> {
    pub fn listen(&self, listener: impl Fn(&T) + 'static) {
        self.0.borrow_mut().push(Rc::new(listener));
    }

    pub fn emit(&self, news: &T) {
        let listeners: Vec<_> = self.0.borrow().clone();
        for listener in listeners {
            listener(news);
        }
    }
}

/// "The state changed; read it again."
pub type Changed = Listeners<()>;
