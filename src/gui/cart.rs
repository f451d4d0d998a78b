//! The kiosk's order: catalog items and quantities, with an exact total.

use crate::money::{Currency, Money, MoneyError};

/// Most of one item in an order; a guard against a stuck finger, not a business rule.
pub const MAX_QUANTITY: u32 = 99;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cart {
    /// (catalog index, quantity), in the order items were first added.
    lines: Vec<(usize, u32)>,
}

impl Cart {
    pub fn lines(&self) -> &[(usize, u32)] {
        &self.lines
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub fn clear(&mut self) {
        self.lines.clear();
    }

    /// Adds one of catalog item `item` if the total stays a valid amount. `prices` is the
    /// catalog's price list.
    pub fn add(&mut self, item: usize, prices: &[Money]) -> Result<(), MoneyError> {
        let mut next = self.clone();
        match next.lines.iter_mut().find(|(index, _)| *index == item) {
            Some((_, quantity)) if *quantity >= MAX_QUANTITY => {
                return Err(MoneyError::TooLarge {
                    currency: prices.get(item).map_or(Currency::USD, Money::currency),
                });
            }
            Some((_, quantity)) => *quantity += 1,
            None => next.lines.push((item, 1)),
        }
        next.total(prices)?;
        *self = next;
        Ok(())
    }

    /// Removes one of the line at `line` (the whole line when it was the last one).
    pub fn remove_one(&mut self, line: usize) -> bool {
        let Some((_, quantity)) = self.lines.get_mut(line) else {
            return false;
        };
        if *quantity > 1 {
            *quantity -= 1;
        } else {
            self.lines.remove(line);
        }
        true
    }

    /// One line's total: price × quantity, exactly.
    pub fn line_total(price: Money, quantity: u32) -> Result<Money, MoneyError> {
        let minor = price
            .minor()
            .checked_mul(u64::from(quantity))
            .ok_or(MoneyError::TooLarge {
                currency: price.currency(),
            })?;
        Money::from_minor(minor, price.currency())
    }

    /// The order's total; `Err(Empty)` for an empty order.
    pub fn total(&self, prices: &[Money]) -> Result<Money, MoneyError> {
        let mut total: Option<Money> = None;
        for &(item, quantity) in &self.lines {
            let price = *prices.get(item).ok_or(MoneyError::Empty)?;
            let line = Cart::line_total(price, quantity)?;
            total = Some(match total {
                None => line,
                Some(sum) => sum.checked_add(line)?,
            });
        }
        total.ok_or(MoneyError::Empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::MAX_MINOR;

    fn usd(text: &str) -> Money {
        Money::parse(text, Currency::USD).unwrap()
    }

    #[test]
    fn totals_are_exact() {
        let prices = [usd("0.10"), usd("0.20")];
        let mut cart = Cart::default();
        for _ in 0..3 {
            cart.add(0, &prices).unwrap();
        }
        cart.add(1, &prices).unwrap();
        assert_eq!(cart.lines(), &[(0, 3), (1, 1)]);
        assert_eq!(cart.total(&prices).unwrap().minor(), 50);
    }

    #[test]
    fn removing_the_last_one_drops_the_line() {
        let prices = [usd("1"), usd("2")];
        let mut cart = Cart::default();
        cart.add(0, &prices).unwrap();
        cart.add(1, &prices).unwrap();
        cart.add(1, &prices).unwrap();
        assert!(cart.remove_one(0));
        assert_eq!(cart.lines(), &[(1, 2)]);
        assert!(cart.remove_one(0));
        assert_eq!(cart.lines(), &[(1, 1)]);
        assert!(!cart.remove_one(5));
        assert_eq!(cart.total(&prices).unwrap().minor(), 200);
        cart.clear();
        assert_eq!(cart.total(&prices), Err(MoneyError::Empty));
    }

    #[test]
    fn an_order_above_the_limit_is_refused_unchanged() {
        let prices = [Money::from_minor(MAX_MINOR / 2 + 1, Currency::JPY).unwrap()];
        let mut cart = Cart::default();
        cart.add(0, &prices).unwrap();
        assert!(cart.add(0, &prices).is_err());
        assert_eq!(cart.lines(), &[(0, 1)]);
    }
}
