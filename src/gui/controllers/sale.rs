//! The sale being put together: the amount typed on the keypad (cashier) or the order from
//! the catalog (kiosk), the description the customer's wallet shows, the customer's payment
//! code when the cashier scanned (or typed) one, and the notice under the amount. Charge, or a
//! scan, turns it into a [`ChargeRequest`] for the payment screen.

use std::cell::RefCell;
use std::rc::Rc;

use super::Changed;
use crate::checkout::{PaymentCode, payment_code};
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
    /// What was scanned or typed is not a payment code: ask the customer to refresh it.
    BadCode,
    /// A code was scanned with no amount entered: enter it, then Charge.
    CodeNeedsAmount,
    /// The scanned code already paid an earlier payment (a double scan).
    CodeUsed,
    /// The barcode scanner cannot be used; the detail says why, in the scanner's words.
    ScannerProblem,
    /// A real gateway, and no wallet has approved this store's registration: payments may
    /// be refused. Said once, at start.
    NotRegistered,
}

/// What Charge asks the engine for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRequest {
    pub amount: Money,
    pub description: String,
    /// User-presented: the customer's code (a bearer credential; `Debug` masks it). `None`
    /// shows an order code instead.
    pub customer_code: Option<PaymentCode>,
}

struct SaleState {
    entry: AmountEntry,
    cart: Cart,
    description: String,
    notice: SaleNotice,
    notice_detail: String,
    /// A customer's code scanned before the amount was entered; Charge uses it.
    scanned: Option<PaymentCode>,
    /// The code's digits while the cashier types them by hand (a scan that failed).
    typed_code: Option<String>,
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
                scanned: None,
                typed_code: None,
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

    /// The masked form of a scanned code waiting for its amount ("•••• 1234"), if any.
    pub fn scanned_code(&self) -> Option<String> {
        self.state
            .borrow()
            .scanned
            .as_ref()
            .map(PaymentCode::masked)
    }

    /// The digits typed so far while the cashier enters a code by hand (`None`: not
    /// entering one), grouped by four as wallets print them.
    pub fn typed_code(&self) -> Option<String> {
        self.state.borrow().typed_code.as_deref().map(group_digits)
    }

    // ---- The customer's payment code ----------------------------------------------------

    /// A scanned (or typed) payment code. With an amount it becomes a User-presented charge
    /// at once; without one the code waits for the amount (and says so); a text that is not
    /// a payment code is refused here, before any request, with "ask the customer to refresh
    /// their code".
    pub fn scanned(&self, text: &str, locale: Locale) -> Option<ChargeRequest> {
        let code = match PaymentCode::parse(text) {
            Ok(code) => code,
            Err(why) => {
                // The length only: the text may be most of a real code.
                tracing::info!(reason = %why, length = text.len(), "a scan that is not a payment code was refused");
                self.set_notice(SaleNotice::BadCode, "");
                return None;
            }
        };
        self.update(|state| {
            state.typed_code = None;
            state.scanned = Some(code);
        });
        let has_amount = if self.kiosk {
            self.cart_total().is_some()
        } else {
            self.state.borrow().entry.money().is_ok()
        };
        if !has_amount {
            self.set_notice(SaleNotice::CodeNeedsAmount, "");
            return None;
        }
        self.charge_request(locale)
    }

    /// Drops a scanned code that waits for its amount (the cashier's × on its chip).
    pub fn forget_scanned_code(&self) {
        self.update(|state| {
            state.scanned = None;
            if state.notice == SaleNotice::CodeNeedsAmount {
                clear_notice(state);
            }
        });
    }

    /// "Type the code": the keypad types the customer's code instead of the amount, until
    /// Enter (use it) or Escape (give up).
    pub fn start_typing_code(&self) {
        if self.kiosk {
            return;
        }
        self.update(|state| {
            state.typed_code = Some(String::new());
            clear_notice(state);
        });
    }

    /// Enter while typing a code: the digits typed, to be used as a scan (`None` when not
    /// typing one).
    pub fn finish_typing_code(&self) -> Option<String> {
        let typed = self.state.borrow_mut().typed_code.take();
        self.changed.emit(&());
        typed
    }

    fn typed_code_key(&self, key: &str) -> bool {
        self.update(|state| {
            let Some(typed) = state.typed_code.as_mut() else {
                return false;
            };
            match key {
                "escape" => state.typed_code = None,
                "clear" => typed.clear(),
                "backspace" => {
                    typed.pop();
                }
                digit if digit.len() == 1 && digit.bytes().all(|b| b.is_ascii_digit()) => {
                    if typed.len() < payment_code::MAX_DIGITS {
                        typed.push_str(digit);
                    }
                }
                _ => return false,
            }
            clear_notice(state);
            true
        })
    }

    // ---- What the cashier or customer does --------------------------------------------

    /// An editing key on the keypad or keyboard: a digit, "." or ",", "backspace", "clear"
    /// or "escape". Returns whether it is one (a refused digit, say a third decimal, still
    /// is: it must not reach anything else).
    pub fn key(&self, key: &str) -> bool {
        if self.state.borrow().typed_code.is_some() {
            return self.typed_code_key(key);
        }
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

    /// Puts the description back as it was before a scanner's burst reached its field.
    pub fn restore_description(&self, text: &str) {
        self.update(|state| state.description = text.to_string());
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
            customer_code: self.state.borrow_mut().scanned.take(),
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
            state.scanned = None;
            state.typed_code = None;
            clear_notice(state);
        });
    }

    /// The kiosk's idle reset: the next customer must not find someone else's items (or
    /// their code).
    pub fn clear_for_next_customer(&self) {
        self.update(|state| {
            state.cart.clear();
            state.scanned = None;
            clear_notice(state);
        });
    }

    /// Fills the keypad and the order with demo data (the screenshots).
    pub fn show_demo(&self, typed: &str, items: &[usize], description: &str) {
        let prices = self.prices();
        self.update(|state| {
            state.entry.clear();
            state.cart.clear();
            state.scanned = None;
            state.typed_code = None;
            clear_notice(state);
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

/// "2810 0602 0000 1111": digits in groups of four, as wallets print their codes.
fn group_digits(digits: &str) -> String {
    let chars: Vec<char> = digits.chars().collect();
    chars
        .chunks(4)
        .map(|group| group.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
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

    const CODE: &str = "281006020000001111";

    #[test]
    fn a_scan_with_an_amount_charges_the_customers_code_at_once() {
        let sale = Sale::new(false, Currency::USD, catalog());
        typed(&sale, "8.8");
        let request = sale.scanned(CODE, Locale::English).unwrap();
        assert_eq!(request.amount, usd("8.80"));
        assert_eq!(
            request.customer_code,
            Some(PaymentCode::parse(CODE).unwrap())
        );
        // Used once: the next Charge shows an order code.
        assert_eq!(
            sale.charge_request(Locale::English).unwrap().customer_code,
            None
        );
    }

    #[test]
    fn a_scan_without_an_amount_waits_for_it() {
        let sale = Sale::new(false, Currency::USD, catalog());
        assert_eq!(sale.scanned(CODE, Locale::English), None);
        assert_eq!(sale.notice().0, SaleNotice::CodeNeedsAmount);
        assert_eq!(sale.scanned_code().as_deref(), Some("•••• 1111"));
        assert_eq!(sale.entry_text(), "0", "the scan is not the amount");
        typed(&sale, "5");
        let request = sale.charge_request(Locale::English).unwrap();
        assert_eq!(request.amount, usd("5.00"));
        assert!(request.customer_code.is_some());
        assert_eq!(sale.scanned_code(), None);

        assert!(sale.key("clear"));
        assert_eq!(sale.scanned(CODE, Locale::English), None);
        sale.forget_scanned_code();
        assert_eq!(sale.scanned_code(), None);
        assert_eq!(sale.notice().0, SaleNotice::None);
    }

    #[test]
    fn what_is_not_a_payment_code_is_refused_before_any_request() {
        let sale = Sale::new(false, Currency::USD, catalog());
        typed(&sale, "5");
        for bad in ["4006000000000000", "1234", "28100602000000a1"] {
            assert_eq!(sale.scanned(bad, Locale::English), None, "{bad}");
            assert_eq!(sale.notice().0, SaleNotice::BadCode);
        }
        assert_eq!(sale.scanned_code(), None);
        assert_eq!(sale.entry_text(), "5");
    }

    #[test]
    fn a_code_typed_by_hand_goes_through_the_keypad_not_into_the_amount() {
        let sale = Sale::new(false, Currency::USD, catalog());
        typed(&sale, "7");
        sale.start_typing_code();
        typed(&sale, CODE);
        assert_eq!(sale.typed_code().as_deref(), Some("2810 0602 0000 0011 11"));
        assert!(sale.key("backspace"));
        assert!(sale.key("1"));
        assert_eq!(sale.entry_text(), "7", "the amount is untouched");
        let digits = sale.finish_typing_code().unwrap();
        let request = sale.scanned(&digits, Locale::English).unwrap();
        assert_eq!(request.amount, usd("7.00"));
        assert_eq!(sale.typed_code(), None);
        // Escape gives up typing and leaves the amount alone.
        sale.start_typing_code();
        assert!(sale.key("2"));
        assert!(sale.key("escape"));
        assert_eq!(sale.typed_code(), None);
        assert_eq!(sale.entry_text(), "7");
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
