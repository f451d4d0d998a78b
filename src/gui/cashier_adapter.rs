//! Keypad and keyboard, quick items, the kiosk order and the description: turns keys and
//! taps into [`AmountEntry`] and [`Cart`] changes and shows the result.

use std::rc::Rc;

use slint::{ComponentHandle, ModelRc, VecModel};

use super::cart::Cart;
use super::{
    Api, CartLine, CatalogEntry, Notice, Page, Shared, kiosk, manager_adapter, payment_adapter,
    pin_adapter,
};
use crate::money::MoneyError;

/// Alipay's limit for `orderDescription`, in characters.
pub(crate) const MAX_DESCRIPTION_CHARS: usize = 256;

pub(super) fn wire(shared: &Rc<Shared>, api: &Api<'_>) {
    let weak = Rc::downgrade(shared);
    api.on_key(move |key| {
        weak.upgrade()
            .is_some_and(|shared| key_pressed(&shared, key.as_str()))
    });
    let weak = Rc::downgrade(shared);
    api.on_add_item(move |index| {
        if let Some(shared) = weak.upgrade() {
            add_item(&shared, index);
        }
    });
    let weak = Rc::downgrade(shared);
    api.on_remove_line(move |line| {
        if let Some(shared) = weak.upgrade() {
            kiosk::activity(&shared);
            let removed = usize::try_from(line)
                .is_ok_and(|line| shared.state.borrow_mut().cart.remove_one(line));
            if removed {
                shared.set_notice(Notice::None, String::new());
                push_cart(&shared);
            }
        }
    });
    let weak = Rc::downgrade(shared);
    api.on_clear_order(move || {
        if let Some(shared) = weak.upgrade() {
            kiosk::activity(&shared);
            shared.state.borrow_mut().cart.clear();
            shared.set_notice(Notice::None, String::new());
            push_cart(&shared);
        }
    });
    let weak = Rc::downgrade(shared);
    api.on_description_edited(move || {
        if let Some(shared) = weak.upgrade() {
            kiosk::activity(&shared);
        }
    });
}

/// One key from the keypad or the keyboard. Returns whether it meant something on the
/// current page (the window lets unhandled keys go on to other handlers).
fn key_pressed(shared: &Rc<Shared>, key: &str) -> bool {
    kiosk::activity(shared);
    match shared.page() {
        Page::Pin => return pin_adapter::key(shared, key),
        Page::Manager => return manager_adapter::key(shared, key),
        _ => {}
    }
    match (shared.page(), key) {
        (Page::Cashier, "enter") => {
            payment_adapter::charge(shared);
            true
        }
        (Page::Result, "enter") => {
            payment_adapter::new_sale(shared);
            true
        }
        (Page::Cashier, "clear" | "escape") => {
            shared.state.borrow_mut().entry.clear();
            shared.set_notice(Notice::None, String::new());
            push_entry(shared);
            true
        }
        (Page::Cashier, "backspace") => {
            let changed = shared.state.borrow_mut().entry.backspace();
            if changed {
                shared.set_notice(Notice::None, String::new());
                push_entry(shared);
            }
            true
        }
        (Page::Cashier, typed) => {
            let mut chars = typed.chars();
            let (Some(key), None) = (chars.next(), chars.next()) else {
                return false;
            };
            if !(key.is_ascii_digit() || key == '.' || key == ',') {
                return false;
            }
            // A refused key (a third decimal, say) is still "handled": it must not reach
            // anything else.
            if shared.state.borrow_mut().entry.push(key) {
                shared.set_notice(Notice::None, String::new());
                push_entry(shared);
            }
            true
        }
        _ => false,
    }
}

/// A quick item: in cashier mode its price is added to the amount (and its name to the
/// description); in the kiosk it goes into the order.
fn add_item(shared: &Rc<Shared>, index: i32) {
    kiosk::activity(shared);
    let Some(item) = usize::try_from(index)
        .ok()
        .and_then(|index| shared.catalog.get(index).map(|item| (index, item)))
    else {
        return;
    };
    let (index, item) = item;
    let result = if shared.options.kiosk {
        let prices = shared.prices();
        shared.state.borrow_mut().cart.add(index, &prices)
    } else {
        shared.state.borrow_mut().entry.add(item.price)
    };
    match result {
        Ok(()) => {
            shared.set_notice(Notice::None, String::new());
            if shared.options.kiosk {
                push_cart(shared);
            } else {
                append_description(shared, item.name_in(shared.locale.get()));
                push_entry(shared);
            }
        }
        Err(MoneyError::TooLarge { .. }) => shared.set_notice(Notice::ItemRefused, String::new()),
        Err(error) => shared.set_notice(Notice::ItemRefused, error.to_string()),
    }
}

fn append_description(shared: &Shared, name: &str) {
    let Some(app) = shared.app() else { return };
    let api = app.global::<Api>();
    let current = api.get_description();
    let next = if current.trim().is_empty() {
        name.to_string()
    } else {
        format!("{current}, {name}")
    };
    if next.chars().count() <= MAX_DESCRIPTION_CHARS {
        api.set_description(next.into());
    }
}

/// The amount display and the Charge button's amount.
pub(super) fn push_entry(shared: &Shared) {
    let Some(app) = shared.app() else { return };
    let api = app.global::<Api>();
    let state = shared.state.borrow();
    api.set_entry_text(state.entry.display().into());
    let charge = state
        .entry
        .money()
        .map(|money| money.format(shared.locale.get()))
        .unwrap_or_default();
    api.set_charge_amount(charge.into());
    api.set_charging(state.charging);
}

pub(super) fn push_catalog(shared: &Shared) {
    let Some(app) = shared.app() else { return };
    let locale = shared.locale.get();
    let entries: Vec<CatalogEntry> = shared
        .catalog
        .iter()
        .map(|item| CatalogEntry {
            name: item.name_in(locale).into(),
            price: item.price.format(locale).into(),
        })
        .collect();
    app.global::<Api>()
        .set_catalog(ModelRc::new(VecModel::from(entries)));
}

pub(super) fn push_cart(shared: &Shared) {
    let Some(app) = shared.app() else { return };
    let api = app.global::<Api>();
    let locale = shared.locale.get();
    let state = shared.state.borrow();
    let lines: Vec<CartLine> = state
        .cart
        .lines()
        .iter()
        .filter_map(|&(index, quantity)| {
            let item = shared.catalog.get(index)?;
            let total = Cart::line_total(item.price, quantity).ok()?;
            Some(CartLine {
                name: item.name_in(locale).into(),
                quantity: i32::try_from(quantity).unwrap_or(i32::MAX),
                total: total.format(locale).into(),
            })
        })
        .collect();
    api.set_cart(ModelRc::new(VecModel::from(lines)));
    let total = state
        .cart
        .total(&shared.prices())
        .map(|money| money.format(locale))
        .unwrap_or_default();
    api.set_cart_total(total.into());
}

/// What the customer's wallet shows for a kiosk order: "2× Coffee, 1× Tea".
pub(super) fn order_description(shared: &Shared) -> String {
    let locale = shared.locale.get();
    let state = shared.state.borrow();
    let text = state
        .cart
        .lines()
        .iter()
        .filter_map(|&(index, quantity)| {
            let item = shared.catalog.get(index)?;
            Some(format!("{quantity}× {}", item.name_in(locale)))
        })
        .collect::<Vec<_>>()
        .join(", ");
    text.chars().take(MAX_DESCRIPTION_CHARS).collect()
}
