//! The customer's own payment code (User-presented mode): checked locally before any request,
//! and handled as the bearer credential it is.
//!
//! A payment code in the customer's wallet lets whoever holds it take money from the
//! customer's account for about a minute. So the engine keeps the code only in memory, for the
//! one `pay` it belongs to: the journal stores its last four digits (what a receipt or a
//! manager may show) and a SHA-256 digest (to recognise the same code scanned twice), and
//! `Debug` shows only the masked form, so no log line can carry the code by accident.
//!
//! The digest is plain SHA-256 rather than a keyed hash: a code is single-use and short-lived,
//! so knowing it after the fact (by brute force over its 10^12 or more values) takes nothing
//! from the customer.

use std::fmt;

use sha2::{Digest, Sha256};

/// The shortest and longest Alipay payment code (other-products.md: "16-24 digits").
pub const MIN_DIGITS: usize = 16;
pub const MAX_DIGITS: usize = 24;

/// A payment code that passed the local check: 16 to 24 digits starting with 25 to 30.
///
/// other-products.md lists routing exceptions within that rule (24 digits with `801` in
/// digits 4-6 go to PayPay, `003` there to a Macao wallet); they are valid codes that Alipay
/// routes itself, so the terminal accepts them as any other.
#[derive(Clone, PartialEq, Eq)]
pub struct PaymentCode(String);

/// Why a scanned or typed text is not a payment code. Each one means the same thing at the
/// counter ("ask the customer to refresh their code"); the variants say why for the log
/// and the tests, never the code itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PaymentCodeError {
    #[error("no payment code was given")]
    Empty,
    #[error("a payment code has only digits")]
    NotDigits,
    #[error("a payment code has 16 to 24 digits, this one has {0}")]
    Length(usize),
    #[error("a payment code starts with 25 to 30")]
    Prefix,
}

impl PaymentCode {
    /// Checks a scanned or typed code. Spaces and dashes (as a wallet prints the digits in
    /// groups, and a cashier may type them) and surrounding whitespace are ignored.
    pub fn parse(text: &str) -> Result<PaymentCode, PaymentCodeError> {
        let digits: String = text
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        if digits.is_empty() {
            return Err(PaymentCodeError::Empty);
        }
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PaymentCodeError::NotDigits);
        }
        if !(MIN_DIGITS..=MAX_DIGITS).contains(&digits.len()) {
            return Err(PaymentCodeError::Length(digits.len()));
        }
        let prefix = digits
            .get(..2)
            .and_then(|p| p.parse::<u8>().ok())
            .unwrap_or(0);
        if !(25..=30).contains(&prefix) {
            return Err(PaymentCodeError::Prefix);
        }
        Ok(PaymentCode(digits))
    }

    /// The last four digits: all the journal, a receipt or a screen may keep.
    pub fn last4(&self) -> &str {
        &self.0[self.0.len() - 4..]
    }

    /// The masked form shown to people: `•••• 1234`.
    pub fn masked(&self) -> String {
        mask(self.last4())
    }

    /// The lowercase hex SHA-256 of the digits: recognises the same code without keeping it.
    pub fn digest(&self) -> String {
        let hash = Sha256::digest(self.0.as_bytes());
        hash.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The code itself, for the one `pay` request that carries it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

/// The masked form of a code's last four digits, as the journal keeps them.
pub fn mask(last4: &str) -> String {
    format!("•••• {last4}")
}

impl fmt::Debug for PaymentCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PaymentCode({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_check_follows_the_reference_rule() {
        for good in [
            "2810060200000000",
            "301006020000000000001111",
            "250000000000000000",
            // 24 digits with `801` in digits 4-6: routed to PayPay, still a valid code.
            "288010000000000000000000",
        ] {
            assert!(PaymentCode::parse(good).is_ok(), "{good}");
        }
        assert_eq!(
            PaymentCode::parse("281006020000000"),
            Err(PaymentCodeError::Length(15))
        );
        assert_eq!(
            PaymentCode::parse("2810060200000000000000000"),
            Err(PaymentCodeError::Length(25))
        );
        assert_eq!(
            PaymentCode::parse("2410060200000000"),
            Err(PaymentCodeError::Prefix)
        );
        assert_eq!(
            PaymentCode::parse("3110060200000000"),
            Err(PaymentCodeError::Prefix)
        );
        assert_eq!(
            PaymentCode::parse("28100602000000a0"),
            Err(PaymentCodeError::NotDigits)
        );
        assert_eq!(PaymentCode::parse("  "), Err(PaymentCodeError::Empty));
    }

    #[test]
    fn grouped_digits_are_one_code() {
        let code = PaymentCode::parse(" 2810 0602-0000 0000\n").unwrap();
        assert_eq!(code.expose(), "2810060200000000");
    }

    #[test]
    fn only_the_masked_form_and_the_digest_leave() {
        let code = PaymentCode::parse("281006020000001234").unwrap();
        assert_eq!(code.last4(), "1234");
        assert_eq!(code.masked(), "•••• 1234");
        let debug = format!("{code:?}");
        assert!(!debug.contains("2810060200"), "{debug}");
        assert!(debug.contains("1234"));
        // sha256("281006020000001234"), computed with `printf %s … | sha256sum`.
        assert_eq!(
            code.digest(),
            "07112da569cc1eaddc66b0c3830bc948127ed56695d4e8a62450a06dc063c525"
        );
        assert_eq!(
            code.digest(),
            PaymentCode::parse("2810 0602 0000 001234")
                .unwrap()
                .digest()
        );
        assert_ne!(
            code.digest(),
            PaymentCode::parse("281006020000001235").unwrap().digest()
        );
    }
}
