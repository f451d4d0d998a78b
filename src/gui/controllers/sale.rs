//! The sale being put together: the amount typed on the keypad (cashier) or the order from
//! the catalog (kiosk), the description the customer's wallet shows, and the notice under
//! the amount. Charge turns it into a [`ChargeRequest`] for the payment screen.

use std::cell::RefCell;
use std::rc::Rc;

use super::Changed;
use crate::config::CatalogItem;
use crate::gui::cart::Cart;
use crate::gui::entry::AmountEntry;
use crate::locale::Locale;
use crate::money::{Currency, Money, MoneyError};

/// Alipay's limit for `orderDescription`, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 256;

/// What the wallet shows when the cashier typed no description.
pub const DEFAULT_DESCRIPTION: &str = "Purchase";

/// The message under the amount (mirrors `Notice` in ui/api.slint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaleNotice {
    None,
    NoAmount,
    TooLarge,
    /// The detail says why, in the engine's words.
    ChargeFailed,
    NotReady,
    ItemRefused,
    /// The detail says why, in the engine's words.
    StartupFailed,
}

/// What Charge asks the engine for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRequest {
    pub amount: Money,
    pub description: String,
}

struct SaleState {
    entry: AmountEntry,
    cart: Cart,
    description: String,
    notice: SaleNotice,
    notice_detail: String,
}

#[derive(Clone)]
pub struct Sale {
    kiosk: bool,
    catalog: Rc<Vec<CatalogItem>>,
    state: Rc<RefCell<SaleState>>,
    changed: Changed,
}

impl Sale {
    pub fn new(kiosk: bool, currency: Currency, catalog: Vec<CatalogItem>) -> Sale {
        Sale {
            kiosk,
            catalog: Rc::new(catalog),
            state: Rc::new(RefCell::new(SaleState {
                entry: AmountEntry::new(currency),
                cart: Cart::default(),
                description: String::new(),
                notice: SaleNotice::None,
                notice_detail: String::new(),
            })),
            changed: Changed::default(),
        }
    }

    /// Called after every change of what the sale screens show.
    pub fn on_change(&self, listener: impl Fn() + 'static) {
        self.changed.listen(move |()| listener());
    }

    fn update<T>(&self, f: impl FnOnce(&mut SaleState) -> T) -> T {
        let result = f(&mut self.state.borrow_mut());
        self.changed.emit(&());
        result
    }

    pub fn catalog(&self) -> &[CatalogItem] {
        &self.catalog
    }

    fn prices(&self) -> Vec<Money> {
        self.catalog.iter().map(|item| item.price).collect()
    }

    // ---- What the screens show --------------------------------------------------------

    /// The keypad's display, e.g. "12.3".
    pub fn entry_text(&self) -> String {
        self.state.borrow().entry.display()
    }

    /// The amount Charge would charge (cashier); `None` while nothing valid is typed.
    pub fn entry_amount(&self) -> Option<Money> {
        self.state.borrow().entry.money().ok()
    }

    /// The kiosk order: `(catalog index, quantity)` per line.
    pub fn cart_lines(&self) -> Vec<(usize, u32)> {
        self.state.borrow().cart.lines().to_vec()
    }

    /// The kiosk order's total; `None` when empty.
    pub fn cart_total(&self) -> Option<Money> {
        self.state.borrow().cart.total(&self.prices()).ok()
    }

    pub fn description(&self) -> String {
        self.state.borrow().description.clone()
    }

    pub fn notice(&self) -> (SaleNotice, String) {
        let state = self.state.borrow();
        (state.notice, state.notice_detail.clone())
    }

    // ---- What the cashier or customer does --------------------------------------------

    /// An editing key on the keypad or keyboard: a digit, "." or ",", "backspace", "clear"
    /// or "escape". Returns whether it is one (a refused digit, say a third decimal, still
    /// is: it must not reach anything else).
    pub fn key(&self, key: &str) -> bool {
        match key {
            "clear" | "escape" => {
                self.update(|state| {
                    state.entry.clear();
                    clear_notice(state);
                });
                true
            }
            "backspace" => {
                let changed = self.state.borrow_mut().entry.backspace();
                if changed {
                    self.update(clear_notice);
                }
                true
            }
            typed => {
                let mut chars = typed.chars();
                let (Some(key), None) = (chars.next(), chars.next()) else {
                    return false;
                };
                if !(key.is_ascii_digit() || key == '.' || key == ',') {
                    return false;
                }
                let pushed = self.state.borrow_mut().entry.push(key);
                if pushed {
                    self.update(clear_notice);
                }
                true
            }
        }
    }

    /// A quick item: in cashier mode its price is added to the amount (and its name to the
    /// description); in the kiosk it goes into the order.
    pub fn add_item(&self, index: usize, locale: Locale) {
        let Some(item) = self.catalog.get(index) else {
            return;
        };
        let prices = self.prices();
        let kiosk = self.kiosk;
        self.update(|state| {
            let result = if kiosk {
                state.cart.add(index, &prices)
            } else {
                state.entry.add(item.price)
            };
            match result {
                Ok(()) => {
                    clear_notice(state);
                    if !kiosk {
                        append_description(&mut state.description, item.name_in(locale));
                    }
                }
                Err(MoneyError::TooLarge { .. }) => {
                    state.notice = SaleNotice::ItemRefused;
                    state.notice_detail.clear();
                }
                Err(error) => {
                    state.notice = SaleNotice::ItemRefused;
                    state.notice_detail = error.to_string();
                }
            }
        });
    }

    /// Kiosk: one less of the order line at `line`.
    pub fn remove_line(&self, line: usize) {
        let removed = self.state.borrow_mut().cart.remove_one(line);
        if removed {
            self.update(clear_notice);
        }
    }

    /// Kiosk: empties the order.
    pub fn clear_order(&self) {
        self.update(|state| {
            state.cart.clear();
            clear_notice(state);
        });
    }

    /// The description as typed (the screen passes it with every edit).
    pub fn set_description(&self, text: &str) {
        self.state.borrow_mut().description = text.to_string();
    }

    pub fn set_notice(&self, notice: SaleNotice, detail: &str) {
        self.update(|state| {
            state.notice = notice;
            state.notice_detail = detail.to_string();
        });
    }

    /// Charge: what to ask the engine for, or `None` (and a notice saying why).
    pub fn charge_request(&self, locale: Locale) -> Option<ChargeRequest> {
        let (amount, description) = if self.kiosk {
            (
                self.state.borrow().cart.total(&self.prices()),
                self.order_description(locale),
            )
        } else {
            let state = self.state.borrow();
            (
                state.entry.money(),
                state
                    .description
                    .trim()
                    .chars()
                    .take(MAX_DESCRIPTION_CHARS)
                    .collect(),
            )
        };
        let amount = match amount {
            Ok(amount) => amount,
            Err(MoneyError::TooLarge { .. }) => {
                self.set_notice(SaleNotice::TooLarge, "");
                return None;
            }
            Err(_) => {
                self.set_notice(SaleNotice::NoAmount, "");
                return None;
            }
        };
        self.set_notice(SaleNotice::None, "");
        Some(ChargeRequest {
            amount,
            description: if description.is_empty() {
                DEFAULT_DESCRIPTION.to_string()
            } else {
                description
            },
        })
    }

    /// What the customer's wallet shows for a kiosk order: "2× Coffee, 1× Tea".
    pub fn order_description(&self, locale: Locale) -> String {
        let state = self.state.borrow();
        let text = state
            .cart
            .lines()
            .iter()
            .filter_map(|&(index, quantity)| {
                let item = self.catalog.get(index)?;
                Some(format!("{quantity}× {}", item.name_in(locale)))
            })
            .collect::<Vec<_>>()
            .join(", ");
        text.chars().take(MAX_DESCRIPTION_CHARS).collect()
    }

    /// A new sale: empty keypad, empty order, no description, no notice.
    pub fn reset(&self) {
        self.update(|state| {
            state.entry.clear();
            state.cart.clear();
            state.description.clear();
            clear_notice(state);
        });
    }

    /// The kiosk's idle reset: the next customer must not find someone else's items.
    pub fn clear_for_next_customer(&self) {
        self.update(|state| {
            state.cart.clear();
            clear_notice(state);
        });
    }

    /// Fills the keypad and the order with demo data (the screenshots).
    pub fn show_demo(&self, typed: &str, items: &[usize], description: &str) {
        let prices = self.prices();
        self.update(|state| {
            state.entry.clear();
            state.cart.clear();
            for key in typed.chars() {
                state.entry.push(key);
            }
            for &item in items {
                let _ = state.cart.add(item, &prices);
            }
            state.description = description.to_string();
        });
    }
}

fn clear_notice(state: &mut SaleState) {
    state.notice = SaleNotice::None;
    state.notice_detail.clear();
}

fn append_description(description: &mut String, name: &str) {
    let next = if description.trim().is_empty() {
        name.to_string()
    } else {
        format!("{description}, {name}")
    };
    if next.chars().count() <= MAX_DESCRIPTION_CHARS {
        *description = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gui::controllers::testing::usd;

    fn catalog() -> Vec<CatalogItem> {
        crate::gui::screenshots::demo_catalog(Currency::USD)
    }

    fn typed(sale: &Sale, keys: &str) {
        for key in keys.chars() {
            assert!(sale.key(&key.to_string()), "{key:?} is an editing key");
        }
    }

    #[test]
    fn sale_refuses_a_third_decimal_for_usd_but_keeps_the_key() {
        let sale = Sale::new(false, Currency::USD, catalog());
        typed(&sale, "12.505");
        assert_eq!(sale.entry_text(), "12.50");
        assert_eq!(sale.entry_amount(), Some(usd("12.50")));
        assert!(!sale.key("x"), "a letter is not the keypad's");
        assert!(sale.key("backspace"));
        assert_eq!(sale.entry_text(), "12.5");
    }

    #[test]
    fn charge_needs_an_amount_and_names_the_purchase() {
        let sale = Sale::new(false, Currency::USD, catalog());
        assert_eq!(sale.charge_request(Locale::English), None);
        assert_eq!(sale.notice().0, SaleNotice::NoAmount);
        typed(&sale, "3");
        assert_eq!(
            sale.notice().0,
            SaleNotice::None,
            "typing clears the notice"
        );
        let request = sale.charge_request(Locale::English).unwrap();
        assert_eq!(request.amount, usd("3.00"));
        assert_eq!(request.description, DEFAULT_DESCRIPTION);
        sale.set_description("  Two coffees ");
        let request = sale.charge_request(Locale::English).unwrap();
        assert_eq!(request.description, "Two coffees");
    }

    #[test]
    fn quick_items_add_to_the_amount_for_a_cashier_and_to_the_order_in_a_kiosk() {
        let items = catalog();
        let cashier = Sale::new(false, Currency::USD, items.clone());
        cashier.add_item(0, Locale::English);
        cashier.add_item(1, Locale::English);
        let both = items[0].price.minor() + items[1].price.minor();
        assert_eq!(cashier.entry_amount().map(|m| m.minor()), Some(both));
        assert_eq!(
            cashier.description(),
            format!("{}, {}", items[0].name, items[1].name)
        );

        let kiosk = Sale::new(true, Currency::USD, items.clone());
        kiosk.add_item(0, Locale::English);
        kiosk.add_item(0, Locale::English);
        kiosk.add_item(99, Locale::English);
        assert_eq!(kiosk.cart_lines(), vec![(0, 2)]);
        let request = kiosk.charge_request(Locale::English).unwrap();
        assert_eq!(request.amount.minor(), 2 * items[0].price.minor());
        assert_eq!(request.description, format!("2× {}", items[0].name));
        kiosk.remove_line(0);
        kiosk.clear_for_next_customer();
        assert!(kiosk.cart_lines().is_empty());
        assert_eq!(kiosk.charge_request(Locale::English), None);
    }
}
