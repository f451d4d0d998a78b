//! The amount the cashier types, kept as the typed text and turned into [`Money`] only
//! through [`Money::parse`], so no float ever touches an amount.
//!
//! Keys that would make the text unparseable are refused as they are typed (a third
//! decimal in USD, any decimal point in JPY, a sixteenth-plus digit), so the display never
//! shows something Charge would reject for its shape; only "nothing entered" and "zero"
//! remain for Charge to report.

use crate::money::{Currency, MAX_MINOR, Money, MoneyError};

/// Digits Alipay's amount `value` may have (`MAX_MINOR` is sixteen nines).
fn max_minor_digits() -> usize {
    MAX_MINOR.to_string().len()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmountEntry {
    currency: Currency,
    /// Digits with at most one '.', never a leading zero before another digit.
    text: String,
}

impl AmountEntry {
    pub fn new(currency: Currency) -> AmountEntry {
        AmountEntry {
            currency,
            text: String::new(),
        }
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// What the amount display shows: the typed text, or "0" before anything was typed.
    pub fn display(&self) -> String {
        if self.text.is_empty() {
            "0".to_string()
        } else {
            self.text.clone()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// Types one key: a digit or the decimal point ('.' or ','). Returns whether the entry
    /// changed; a refused key leaves it as it was.
    pub fn push(&mut self, key: char) -> bool {
        let exponent = usize::from(self.currency.exponent());
        match key {
            '.' | ',' => {
                if exponent == 0 || self.text.contains('.') {
                    return false;
                }
                if self.text.is_empty() {
                    self.text.push('0');
                }
                self.text.push('.');
                true
            }
            '0'..='9' => {
                let (whole, fraction) = match self.text.split_once('.') {
                    Some((whole, fraction)) => (whole, Some(fraction)),
                    None => (self.text.as_str(), None),
                };
                match fraction {
                    Some(fraction) if fraction.len() >= exponent => return false,
                    Some(_) => {}
                    None => {
                        if whole == "0" {
                            // "0" then "5" reads as "5", not "05".
                            self.text.clear();
                        } else if whole.len() + exponent >= max_minor_digits() {
                            return false;
                        }
                    }
                }
                self.text.push(key);
                true
            }
            _ => false,
        }
    }

    pub fn backspace(&mut self) -> bool {
        let changed = self.text.pop().is_some();
        if self.text == "0" {
            self.text.clear();
        }
        changed
    }

    pub fn clear(&mut self) {
        self.text.clear();
    }

    /// The amount to charge. A trailing decimal point ("12.") counts as "12".
    pub fn money(&self) -> Result<Money, MoneyError> {
        let text = self.text.strip_suffix('.').unwrap_or(&self.text);
        if text.is_empty() {
            return Err(MoneyError::Empty);
        }
        Money::parse(text, self.currency)
    }

    /// Adds a quick item's price to what was typed (nothing typed counts as zero), and
    /// shows the sum with all its decimals ("3.50", not "3.5").
    pub fn add(&mut self, price: Money) -> Result<(), MoneyError> {
        let sum = match self.money() {
            Ok(current) => current.checked_add(price)?,
            Err(MoneyError::Empty | MoneyError::Zero) => price,
            Err(other) => return Err(other),
        };
        self.text = sum.major_string();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(currency: Currency, keys: &str) -> AmountEntry {
        let mut entry = AmountEntry::new(currency);
        for key in keys.chars() {
            entry.push(key);
        }
        entry
    }

    #[test]
    fn usd_takes_two_decimals_and_no_more() {
        let entry = typed(Currency::USD, "12.345");
        assert_eq!(entry.display(), "12.34");
        assert_eq!(entry.money().unwrap().minor(), 1234);
    }

    #[test]
    fn jpy_has_no_decimal_point() {
        let mut entry = typed(Currency::JPY, "5.00");
        assert_eq!(entry.display(), "500");
        assert!(!entry.push('.'));
        assert_eq!(entry.money().unwrap().minor(), 500);
    }

    #[test]
    fn leading_zeros_and_lone_points() {
        assert_eq!(typed(Currency::USD, "007").display(), "7");
        assert_eq!(typed(Currency::USD, ".5").display(), "0.5");
        assert_eq!(typed(Currency::USD, "0.5").money().unwrap().minor(), 50);
        assert_eq!(typed(Currency::USD, "1..2").display(), "1.2");
        assert_eq!(typed(Currency::USD, "12.").money().unwrap().minor(), 1200);
        assert_eq!(typed(Currency::USD, "1,5").display(), "1.5");
    }

    #[test]
    fn empty_and_zero_are_refused_by_charge() {
        assert_eq!(AmountEntry::new(Currency::USD).display(), "0");
        assert_eq!(
            AmountEntry::new(Currency::USD).money(),
            Err(MoneyError::Empty)
        );
        assert_eq!(typed(Currency::USD, "0.00").money(), Err(MoneyError::Zero));
    }

    #[test]
    fn backspace_removes_the_last_key() {
        let mut entry = typed(Currency::USD, "0.5");
        assert!(entry.backspace());
        assert_eq!(entry.display(), "0.");
        assert!(entry.backspace());
        assert!(entry.is_empty(), "0. minus the point is empty, not \"0\"");
        assert_eq!(entry.display(), "0");
        assert!(!entry.backspace());
        let mut entry = typed(Currency::USD, "12");
        entry.backspace();
        assert_eq!(entry.display(), "1");
    }

    #[test]
    fn never_more_digits_than_alipay_takes() {
        let entry = typed(Currency::USD, &"9".repeat(30));
        assert_eq!(entry.display(), "9".repeat(14));
        assert_eq!(entry.money().unwrap().minor(), 9_999_999_999_999_900);
        let entry = typed(Currency::JPY, &"9".repeat(30));
        assert_eq!(entry.money().unwrap().minor(), MAX_MINOR);
    }

    #[test]
    fn quick_items_add_exactly() {
        let mut entry = typed(Currency::USD, "1.2");
        let price = Money::parse("3.50", Currency::USD).unwrap();
        entry.add(price).unwrap();
        assert_eq!(entry.display(), "4.70");
        let mut empty = AmountEntry::new(Currency::USD);
        empty.add(price).unwrap();
        assert_eq!(empty.display(), "3.50");
        let mut full = typed(Currency::JPY, &"9".repeat(16));
        assert_eq!(
            full.add(Money::parse("1", Currency::JPY).unwrap()),
            Err(MoneyError::TooLarge {
                currency: Currency::JPY
            })
        );
        assert_eq!(full.money().unwrap().minor(), MAX_MINOR, "unchanged");
    }
}
