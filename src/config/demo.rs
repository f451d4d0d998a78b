//! The demo café's catalog: what the cashier's quick items and the kiosk offer when there is
//! no config file, so the one-command demo is not an empty kiosk. A config file's own
//! `[[catalog]]` (also none at all) replaces it.

use super::CatalogItem;
use crate::money::{Currency, Money};

/// Six items with English and Chinese names; whole prices for currencies without decimals.
pub fn demo_catalog(currency: Currency) -> Vec<CatalogItem> {
    [
        ("Flat white", "澳白咖啡", "4.50"),
        ("Green tea", "绿茶", "3.20"),
        ("Croissant", "牛角包", "3.80"),
        ("Cheesecake", "芝士蛋糕", "5.60"),
        ("Orange juice", "橙汁", "4.00"),
        ("Sandwich", "三明治", "7.90"),
    ]
    .into_iter()
    .filter_map(|(name, name_zh, price)| {
        let price = if currency.exponent() == 0 {
            price.split('.').next().unwrap_or(price).to_string()
        } else {
            price.to_string()
        };
        Some(CatalogItem {
            name: name.to_string(),
            name_zh: Some(name_zh.to_string()),
            price: Money::parse(&price, currency).ok()?,
        })
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_catalog_has_both_languages_and_exact_prices() {
        let usd = demo_catalog(Currency::USD);
        assert_eq!(usd.len(), 6);
        assert!(usd.iter().all(|i| i.name_zh.is_some()));
        assert_eq!(usd[0].price.minor(), 450);
        let jpy = demo_catalog(Currency::JPY);
        assert_eq!(jpy[0].price.minor(), 4, "whole yen, no decimals");
    }
}
