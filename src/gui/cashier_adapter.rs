//! Keypad and keyboard, quick items, the kiosk order and the description: wires the
//! `Api` callbacks of the cashier and kiosk pages to the [`Sale`] controller and shows its
//! state. The keyboard's keys are routed here by page (the PIN and manager screens take
//! their own).
//!
//! [`Sale`]: super::controllers::sale::Sale

use std::rc::Rc;

use slint::{ComponentHandle, ModelRc, VecModel};

use super::cart::Cart;
use super::controllers::navigation::Screen;
use super::controllers::sale::SaleNotice;
use super::controllers::scan_input::{KeyTarget, ScanAction};
use super::{Api, CartLine, CatalogEntry, Notice, Shared};

pub(super) fn wire(shared: &Rc<Shared>, api: &Api<'_>) {
    let weak = Rc::downgrade(shared);
    api.on_key(move |key| {
        weak.upgrade()
            .is_some_and(|shared| key_pressed(&shared, key.as_str()))
    });
    let weak = Rc::downgrade(shared);
    api.on_add_item(move |index| {
        if let Some(shared) = weak.upgrade() {
            shared.activity();
            if let Ok(index) = usize::try_from(index) {
                shared.sale.add_item(index, shared.locale.get());
            }
        }
    });
    let weak = Rc::downgrade(shared);
    api.on_remove_line(move |line| {
        if let Some(shared) = weak.upgrade() {
            shared.activity();
            if let Ok(line) = usize::try_from(line) {
                shared.sale.remove_line(line);
            }
        }
    });
    let weak = Rc::downgrade(shared);
    api.on_clear_order(move || {
        if let Some(shared) = weak.upgrade() {
            shared.activity();
            shared.sale.clear_order();
        }
    });
    let weak = Rc::downgrade(shared);
    api.on_scanner_key(move |key| {
        weak.upgrade()
            .is_some_and(|shared| scanner_key(&shared, key.as_str()))
    });
    let weak = Rc::downgrade(shared);
    api.on_type_code(move || {
        if let Some(shared) = weak.upgrade() {
            shared.activity();
            shared.sale.start_typing_code();
        }
    });
    let weak = Rc::downgrade(shared);
    api.on_forget_scanned_code(move || {
        if let Some(shared) = weak.upgrade() {
            shared.activity();
            shared.sale.forget_scanned_code();
        }
    });
    let weak = Rc::downgrade(shared);
    api.on_scan_requested(move || {
        if let Some(shared) = weak.upgrade() {
            shared.activity();
            if shared.sale.cart_total().is_some() && !shared.payment.in_progress() {
                shared.sale.set_notice(SaleNotice::None, "");
                shared.nav.go(Screen::KioskScan);
            }
        }
    });
    let weak = Rc::downgrade(shared);
    api.on_scan_back(move || {
        if let Some(shared) = weak.upgrade() {
            shared.activity();
            if !shared.payment.in_progress() {
                shared.sale.set_notice(SaleNotice::None, "");
                shared.nav.go_home();
            }
        }
    });
    let weak = Rc::downgrade(shared);
    api.on_description_edited(move |text| {
        if let Some(shared) = weak.upgrade() {
            shared.activity();
            shared.sale.set_description(text.as_str());
        }
    });
}

/// One key from the keypad or the keyboard. Returns whether it meant something on the
/// current page (the window lets unhandled keys go on to other handlers).
fn key_pressed(shared: &Rc<Shared>, key: &str) -> bool {
    shared.activity();
    match (shared.nav.page(), key) {
        (Screen::Pin, key) => {
            shared.manager_touched();
            shared.pin.key(key)
        }
        (Screen::Manager, key) => {
            shared.manager_touched();
            shared.manager.key(key)
        }
        (Screen::Cashier, "enter") => {
            match shared.sale.finish_typing_code() {
                // The code typed by hand goes the way of a scan.
                Some(digits) => shared.scanned(&digits),
                None => shared.charge(),
            }
            true
        }
        (Screen::Result, "enter") => {
            shared.new_sale();
            true
        }
        (Screen::Cashier, key) => shared.sale.key(key),
        _ => false,
    }
}

/// Where the keyboard's keys go now.
fn key_target(shared: &Shared) -> Option<KeyTarget> {
    match shared.nav.page() {
        Screen::Cashier => {
            let focused = shared
                .app()
                .is_some_and(|app| app.global::<Api>().get_description_focused());
            Some(if focused {
                KeyTarget::Description
            } else {
                KeyTarget::Amount
            })
        }
        Screen::Kiosk | Screen::KioskScan => Some(KeyTarget::Kiosk),
        _ => None,
    }
}

/// Every plain key on the cashier and kiosk pages, before the focused field: the scan
/// detector decides whether it is typing (handled as `Api.key` would) or part of a scan.
/// Returns whether the key is taken from the focused field.
fn scanner_key(shared: &Rc<Shared>, key: &str) -> bool {
    let Some(target) = key_target(shared) else {
        return false;
    };
    let description = shared.sale.description();
    let (taken, actions) =
        shared
            .scan_input
            .key(key, shared.started.elapsed(), target, &description);
    run_scan_actions(shared, actions);
    schedule_scan_flush(shared);
    taken
}

fn run_scan_actions(shared: &Rc<Shared>, actions: Vec<ScanAction>) {
    for action in actions {
        match action {
            ScanAction::Type(key) => {
                key_pressed(shared, &key);
            }
            ScanAction::Scan(code) => shared.scanned(&code),
            ScanAction::RestoreDescription(text) => shared.sale.restore_description(&text),
        }
    }
}

/// Held keys are released as typing once the gap since the last one rules out a scan.
fn schedule_scan_flush(shared: &Rc<Shared>) {
    let Some(due) = shared.scan_input.deadline() else {
        shared.scan_timer.stop();
        return;
    };
    let wait = due.saturating_sub(shared.started.elapsed());
    let weak = Rc::downgrade(shared);
    shared
        .scan_timer
        .start(slint::TimerMode::SingleShot, wait, move || {
            let Some(shared) = weak.upgrade() else { return };
            let Some(target) = key_target(&shared) else {
                return;
            };
            let now = shared.started.elapsed().max(due);
            let actions = shared.scan_input.flush(now, target);
            run_scan_actions(&shared, actions);
            schedule_scan_flush(&shared);
        });
}

/// The notice's Slint form.
fn notice_of(notice: SaleNotice) -> Notice {
    match notice {
        SaleNotice::None => Notice::None,
        SaleNotice::NoAmount => Notice::NoAmount,
        SaleNotice::TooLarge => Notice::TooLarge,
        SaleNotice::ChargeFailed => Notice::ChargeFailed,
        SaleNotice::NotReady => Notice::NotReady,
        SaleNotice::ItemRefused => Notice::ItemRefused,
        SaleNotice::StartupFailed => Notice::StartupFailed,
        SaleNotice::BadCode => Notice::BadCode,
        SaleNotice::CodeNeedsAmount => Notice::CodeNeedsAmount,
        SaleNotice::CodeUsed => Notice::CodeUsed,
        SaleNotice::ScannerProblem => Notice::ScannerProblem,
        SaleNotice::NotRegistered => Notice::NotRegistered,
    }
}

/// The amount display, the Charge button, the description, the kiosk order, the notice.
pub(super) fn push(shared: &Shared) {
    let Some(app) = shared.app() else { return };
    let api = app.global::<Api>();
    let locale = shared.locale.get();
    let sale = &shared.sale;
    api.set_entry_text(sale.entry_text().into());
    api.set_charge_amount(
        sale.entry_amount()
            .map(|money| money.format(locale))
            .unwrap_or_default()
            .into(),
    );
    api.set_charging(shared.payment.charging());
    // Typing reaches Rust through `description-edited`; this only shows what Rust changed
    // (a quick item's name, a new sale), so it never fights the cashier's typing.
    api.set_description(sale.description().into());
    let lines: Vec<CartLine> = sale
        .cart_lines()
        .iter()
        .filter_map(|&(index, quantity)| {
            let item = sale.catalog().get(index)?;
            let total = Cart::line_total(item.price, quantity).ok()?;
            Some(CartLine {
                name: item.name_in(locale).into(),
                quantity: i32::try_from(quantity).unwrap_or(i32::MAX),
                total: total.format(locale).into(),
            })
        })
        .collect();
    api.set_cart(ModelRc::new(VecModel::from(lines)));
    api.set_cart_total(
        sale.cart_total()
            .map(|money| money.format(locale))
            .unwrap_or_default()
            .into(),
    );
    api.set_scanned_code(sale.scanned_code().unwrap_or_default().into());
    api.set_typing_code(sale.typed_code().is_some());
    api.set_typed_code(sale.typed_code().unwrap_or_default().into());
    let (notice, detail) = sale.notice();
    api.set_notice(notice_of(notice));
    api.set_notice_detail(detail.into());
}

pub(super) fn push_catalog(shared: &Shared) {
    let Some(app) = shared.app() else { return };
    let locale = shared.locale.get();
    let entries: Vec<CatalogEntry> = shared
        .sale
        .catalog()
        .iter()
        .map(|item| CatalogEntry {
            name: item.name_in(locale).into(),
            price: item.price.format(locale).into(),
        })
        .collect();
    app.global::<Api>()
        .set_catalog(ModelRc::new(VecModel::from(entries)));
}
