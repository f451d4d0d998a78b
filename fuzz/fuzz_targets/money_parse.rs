//! `Money::parse`, the amount a cashier or a script types, in every currency exponent.
//!
//! The first byte picks the currency; the rest is the text. Invariants: an accepted amount is
//! positive, at most `MAX_MINOR`, and its plain major-unit form parses back to itself; every
//! refusal has a message (the `Display` of each error is built without panicking).
#![no_main]

use alipay_pos::locale::Locale;
use alipay_pos::money::{Currency, MAX_MINOR, Money};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let currencies: Vec<Currency> = Currency::all().collect();
    let currency = currencies[usize::from(pick) % currencies.len()];
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let _ = Currency::from_code(text);
    match Money::parse(text, currency) {
        Ok(money) => {
            assert!(money.minor() > 0 && money.minor() <= MAX_MINOR, "{text:?}");
            assert_eq!(money.currency(), currency);
            let trimmed = text.trim();
            assert!(
                trimmed.bytes().all(|b| b.is_ascii_digit() || b == b'.'),
                "{text:?} was accepted"
            );
            let major = money.major_string();
            assert_eq!(Money::parse(&major, currency), Ok(money), "{major:?}");
            assert_eq!(
                Money::parse(&money.wire_value(), currency)
                    .ok()
                    .map(|m| m.minor()),
                {
                    // The wire value is minor units; read as major units it is scaled up.
                    10u64
                        .checked_pow(u32::from(currency.exponent()))
                        .and_then(|scale| money.minor().checked_mul(scale))
                        .filter(|&m| m <= MAX_MINOR)
                }
            );
            let _ = money.format(Locale::English);
            let _ = money.format(Locale::SimplifiedChinese);
        }
        Err(error) => assert!(!error.to_string().is_empty()),
    }
});
