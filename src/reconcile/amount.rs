//! Amounts as Alipay's report files write them: signed decimal text in the currency's
//! **major** unit (`18000` KRW, `-7.25` USD), unlike the API's minor-unit strings.
//!
//! Converted to signed minor units exactly, with the currency's exponent and no floats: a
//! digit below the currency's smallest unit is refused, not rounded, because a file that
//! says `1.005` USD is wrong and rounding would hide it.

use crate::money::Currency;

/// Alipay's amounts have at most 16 digits in minor units.
const MAX_MINOR_DIGITS: usize = 16;

/// Why an amount cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("`{text}` is not an amount")]
    NotANumber { text: String },
    #[error("`{text}` has more decimals than {currency} has ({exponent})")]
    TooPrecise {
        text: String,
        currency: &'static str,
        exponent: u8,
    },
    #[error("`{text}` is larger than Alipay's 16-digit limit")]
    TooLarge { text: String },
}

/// `text` (e.g. `-7.25`, `+18000`, `1450.00`) as signed minor units of `currency`.
pub fn minor_from_major(text: &str, currency: Currency) -> Result<i64, AmountError> {
    let trimmed = text.trim();
    let not_a_number = || AmountError::NotANumber {
        text: text.to_string(),
    };
    let (negative, unsigned) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (unsigned, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || unsigned.ends_with('.') {
        return Err(not_a_number());
    }
    let exponent = usize::from(currency.exponent());
    // Zeros below the smallest unit are exact (`1450.000` USD); anything else is not.
    let (kept, dropped) = fraction.split_at(fraction.len().min(exponent));
    if dropped.bytes().any(|b| b != b'0') {
        return Err(AmountError::TooPrecise {
            text: text.to_string(),
            currency: currency.code(),
            exponent: currency.exponent(),
        });
    }
    let mut minor_digits = String::with_capacity(whole.len() + exponent);
    minor_digits.push_str(whole.trim_start_matches('0'));
    minor_digits.push_str(kept);
    minor_digits.extend(std::iter::repeat_n('0', exponent - kept.len()));
    let significant = minor_digits.trim_start_matches('0');
    if significant.len() > MAX_MINOR_DIGITS {
        return Err(AmountError::TooLarge {
            text: text.to_string(),
        });
    }
    let magnitude: i64 = if significant.is_empty() {
        0
    } else {
        significant.parse().map_err(|_| not_a_number())?
    };
    Ok(if negative { -magnitude } else { magnitude })
}

/// Signed minor units back to major-unit text, as the files write it (evidence, reports).
pub fn major_from_minor(minor: i64, currency: Currency) -> String {
    let exponent = usize::from(currency.exponent());
    let sign = if minor < 0 { "-" } else { "" };
    let digits = minor.unsigned_abs().to_string();
    if exponent == 0 {
        return format!("{sign}{digits}");
    }
    let padded = format!("{digits:0>width$}", width = exponent + 1);
    let (whole, fraction) = padded.split_at(padded.len() - exponent);
    format!("{sign}{whole}.{fraction}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(code: &str) -> Currency {
        Currency::from_code(code).unwrap()
    }

    #[test]
    fn major_units_become_exact_minor_units_for_every_exponent() {
        assert_eq!(minor_from_major("18000", c("KRW")), Ok(18000));
        assert_eq!(minor_from_major("-9000", c("KRW")), Ok(-9000));
        assert_eq!(minor_from_major("14.50", c("USD")), Ok(1450));
        assert_eq!(minor_from_major("14.5", c("USD")), Ok(1450));
        assert_eq!(minor_from_major("-7.25", c("USD")), Ok(-725));
        assert_eq!(minor_from_major("1450.000", c("USD")), Ok(145000));
        assert_eq!(minor_from_major("+0.01", c("USD")), Ok(1));
        assert_eq!(minor_from_major(" 100 ", c("JPY")), Ok(100));
        assert_eq!(minor_from_major("1.234", c("KWD")), Ok(1234));
        assert_eq!(minor_from_major("0", c("USD")), Ok(0));
        assert_eq!(
            minor_from_major("99999999999999.99", c("USD")),
            Ok(9_999_999_999_999_999)
        );
    }

    #[test]
    fn what_is_not_exact_is_refused() {
        assert!(matches!(
            minor_from_major("1.005", c("USD")),
            Err(AmountError::TooPrecise { .. })
        ));
        assert!(matches!(
            minor_from_major("1.5", c("JPY")),
            Err(AmountError::TooPrecise { .. })
        ));
        assert!(matches!(
            minor_from_major("100000000000000.00", c("USD")),
            Err(AmountError::TooLarge { .. })
        ));
        for bad in [
            "", "-", "1.", ".5", "1,000", "1e3", "--1", "1.2.3", "NaN", "0x10", "١٢",
        ] {
            assert!(
                matches!(
                    minor_from_major(bad, c("USD")),
                    Err(AmountError::NotANumber { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn minor_units_print_back_as_the_files_write_them() {
        assert_eq!(major_from_minor(-725, c("USD")), "-7.25");
        assert_eq!(major_from_minor(5, c("USD")), "0.05");
        assert_eq!(major_from_minor(18000, c("KRW")), "18000");
        assert_eq!(major_from_minor(1234, c("KWD")), "1.234");
        for minor in [-100_001, -1, 0, 7, 123_456_789] {
            assert_eq!(
                minor_from_major(&major_from_minor(minor, c("USD")), c("USD")),
                Ok(minor)
            );
        }
    }
}
