//! Identifiers the sandbox hands out.
//!
//! Shaped like Alipay's (35 digits, starting with the date) so that the terminal's storage and
//! receipts are exercised with realistic lengths, and random so that two sandboxes, or one
//! restarted sandbox, never hand out the same id twice.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use time::OffsetDateTime;

use super::clock::ALIPAY_OFFSET;
use super::ledger::LedgerError;

fn random_bytes<const N: usize>() -> Result<[u8; N], LedgerError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(LedgerError::Random)?;
    Ok(bytes)
}

/// `n` random decimal digits. Rejection sampling keeps them uniform (a plain `% 10` would make
/// 0-5 slightly more likely), which matters little here but costs nothing.
fn random_digits(n: usize) -> Result<String, LedgerError> {
    let mut out = String::with_capacity(n);
    while out.len() < n {
        for b in random_bytes::<32>()? {
            if b < 250 && out.len() < n {
                out.push(char::from(b'0' + b % 10));
            }
        }
    }
    Ok(out)
}

fn dated_id(now: OffsetDateTime) -> Result<String, LedgerError> {
    let t = now.to_offset(ALIPAY_OFFSET);
    Ok(format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}{}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        random_digits(21)?
    ))
}

/// A `paymentId`: 35 digits like the docs' examples.
pub(crate) fn payment_id(now: OffsetDateTime) -> Result<String, LedgerError> {
    dated_id(now)
}

/// A `refundId`, same shape as a payment id.
pub(crate) fn refund_id(now: OffsetDateTime) -> Result<String, LedgerError> {
    dated_id(now)
}

/// The secret part of a wallet URL. 128 random bits: the URL is the only thing that lets a
/// customer pay a code, so it must not be guessable from the payment id.
pub(crate) fn wallet_token() -> Result<String, LedgerError> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<16>()?))
}

/// One of the demo customer's payment codes: 18 digits (a common length of Alipay's codes),
/// a random prefix from 25-30 (the docs' rule for an Alipay code), random digits, then
/// `ending`, the four digits that pick the simulated customer (see `payments`). Fresh at
/// every call, as a real wallet's code rotates, so no test can come to depend on one value.
pub(crate) fn payment_code(ending: &str) -> Result<String, LedgerError> {
    let prefix = 25 + u32::from(random_bytes::<1>()?[0] % 6);
    let middle = random_digits(18usize.saturating_sub(2 + ending.len()))?;
    Ok(format!("{prefix}{middle}{ending}"))
}

/// A made-up wallet customer for `pspCustomerInfo`.
pub(crate) fn psp_customer_id() -> Result<String, LedgerError> {
    Ok(format!("2088{}", random_digits(12)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_alipay_shape_and_differ() {
        let now = OffsetDateTime::now_utc();
        let a = payment_id(now).unwrap();
        let b = payment_id(now).unwrap();
        assert_eq!(a.len(), 35);
        assert!(a.bytes().all(|c| c.is_ascii_digit()));
        assert_ne!(a, b);
        let t = wallet_token().unwrap();
        assert_eq!(t.len(), 22);
        assert!(
            t.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_eq!(psp_customer_id().unwrap().len(), 16);
        for ending in ["0000", "1111", "2222", "3333"] {
            let code = payment_code(ending).unwrap();
            assert!(super::super::payments::valid_payment_code(&code), "{code}");
            assert!(code.ends_with(ending), "{code}");
            assert_eq!(code.len(), 18);
        }
    }
}
