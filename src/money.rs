//! Amounts of money, held exactly.
//!
//! Alipay's `Amount` carries a positive integer count of the currency's smallest unit as a
//! string of at most 16 characters (`{"currency": "USD", "value": "1234"}` is USD 12.34). So
//! everything here is an integer count of minor units plus a currency whose exponent says where
//! the decimal point goes; no floating-point value is ever involved, because a binary fraction
//! cannot hold 0.10 exactly and a payment terminal must never be a cent out.

use std::fmt;
use std::str::FromStr;

use crate::locale::Locale;

/// The largest count of minor units Alipay accepts: its `value` field holds at most 16
/// characters, i.e. sixteen nines.
pub const MAX_MINOR: u64 = 9_999_999_999_999_999;

/// A currency the terminal can take payments in.
///
/// Only currencies from a fixed table exist, so every `Currency` has a known exponent; an
/// exponent guessed wrongly would scale an amount by a factor of 100. Copy and cheap to compare
/// because it travels with every amount.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Currency {
    code: &'static str,
    exponent: u8,
    name_zh: Option<&'static str>,
}

/// `(code, exponent, Chinese name)`.
///
/// The first block is Alipay's amount-rules table (the currencies Alipay documents for
/// in-store payments); the rest follow ISO 4217, which Alipay says applies to currencies it
/// does not list (e.g. MOP, seen in its SDK mocks).
const CURRENCIES: &[(&str, u8, &str)] = &[
    // Alipay amount-rules table, exponent 2.
    ("AUD", 2, "澳元"),
    ("BDT", 2, "孟加拉塔卡"),
    ("BRL", 2, "巴西雷亚尔"),
    ("CAD", 2, "加元"),
    ("CNY", 2, "人民币"),
    ("EUR", 2, "欧元"),
    ("GBP", 2, "英镑"),
    ("HKD", 2, "港币"),
    ("IDR", 2, "印尼盾"),
    ("MXN", 2, "墨西哥比索"),
    ("MYR", 2, "马来西亚林吉特"),
    ("NZD", 2, "新西兰元"),
    ("PEN", 2, "秘鲁索尔"),
    ("PHP", 2, "菲律宾比索"),
    ("PKR", 2, "巴基斯坦卢比"),
    ("PLN", 2, "波兰兹罗提"),
    ("SGD", 2, "新加坡元"),
    ("THB", 2, "泰铢"),
    ("TWD", 2, "新台币"),
    ("USD", 2, "美元"),
    // Alipay amount-rules table, exponent 0.
    ("CLP", 0, "智利比索"),
    ("JPY", 0, "日元"),
    ("KRW", 0, "韩元"),
    ("VND", 0, "越南盾"),
    // ISO 4217, exponent 2.
    ("MOP", 2, "澳门元"),
    ("INR", 2, "印度卢比"),
    ("CHF", 2, "瑞士法郎"),
    ("SEK", 2, "瑞典克朗"),
    ("NOK", 2, "挪威克朗"),
    ("DKK", 2, "丹麦克朗"),
    ("AED", 2, "阿联酋迪拉姆"),
    ("SAR", 2, "沙特里亚尔"),
    ("QAR", 2, "卡塔尔里亚尔"),
    ("ZAR", 2, "南非兰特"),
    ("TRY", 2, "土耳其里拉"),
    ("ILS", 2, "以色列新谢克尔"),
    ("LKR", 2, "斯里兰卡卢比"),
    ("NPR", 2, "尼泊尔卢比"),
    ("KHR", 2, "柬埔寨瑞尔"),
    ("LAK", 2, "老挝基普"),
    ("MMK", 2, "缅甸元"),
    ("BND", 2, "文莱元"),
    ("FJD", 2, "斐济元"),
    ("KZT", 2, "哈萨克斯坦坚戈"),
    ("MNT", 2, "蒙古图格里克"),
    ("UAH", 2, "乌克兰格里夫纳"),
    ("HUF", 2, "匈牙利福林"),
    ("CZK", 2, "捷克克朗"),
    ("RON", 2, "罗马尼亚列伊"),
    ("BGN", 2, "保加利亚列弗"),
    ("EGP", 2, "埃及镑"),
    ("NGN", 2, "尼日利亚奈拉"),
    ("KES", 2, "肯尼亚先令"),
    ("COP", 2, "哥伦比亚比索"),
    ("ARS", 2, "阿根廷比索"),
    ("UYU", 2, "乌拉圭比索"),
    // ISO 4217, exponent 0.
    ("ISK", 0, "冰岛克朗"),
    ("UGX", 0, "乌干达先令"),
    ("XAF", 0, "中非法郎"),
    ("XOF", 0, "西非法郎"),
    ("XPF", 0, "太平洋法郎"),
    ("PYG", 0, "巴拉圭瓜拉尼"),
    ("RWF", 0, "卢旺达法郎"),
    ("KMF", 0, "科摩罗法郎"),
    ("GNF", 0, "几内亚法郎"),
    ("DJF", 0, "吉布提法郎"),
    ("VUV", 0, "瓦努阿图瓦图"),
    ("BIF", 0, "布隆迪法郎"),
    // ISO 4217, exponent 3.
    ("BHD", 3, "巴林第纳尔"),
    ("KWD", 3, "科威特第纳尔"),
    ("JOD", 3, "约旦第纳尔"),
    ("OMR", 3, "阿曼里亚尔"),
    ("TND", 3, "突尼斯第纳尔"),
    ("LYD", 3, "利比亚第纳尔"),
    ("IQD", 3, "伊拉克第纳尔"),
];

impl Currency {
    /// The default currency and the one most merchants abroad settle in.
    pub const USD: Currency = Currency::known("USD", 2, "美元");
    /// What mainland customers' wallets hold; the settlement currency of many contracts.
    pub const CNY: Currency = Currency::known("CNY", 2, "人民币");
    pub const HKD: Currency = Currency::known("HKD", 2, "港币");
    pub const EUR: Currency = Currency::known("EUR", 2, "欧元");
    pub const GBP: Currency = Currency::known("GBP", 2, "英镑");
    pub const SGD: Currency = Currency::known("SGD", 2, "新加坡元");
    /// The common exponent-0 currency, handy for tests of whole-unit amounts.
    pub const JPY: Currency = Currency::known("JPY", 0, "日元");
    pub const KRW: Currency = Currency::known("KRW", 0, "韩元");

    /// Only for the constants above; a test checks each against the table.
    const fn known(code: &'static str, exponent: u8, name_zh: &'static str) -> Currency {
        Currency {
            code,
            exponent,
            name_zh: Some(name_zh),
        }
    }

    /// Looks a code up case-insensitively, because configuration files and operators write
    /// `usd` as often as `USD`; the stored code is always the uppercase one Alipay expects.
    pub fn from_code(code: &str) -> Result<Currency, MoneyError> {
        let wanted = code.trim();
        CURRENCIES
            .iter()
            .find(|(known, _, _)| known.eq_ignore_ascii_case(wanted))
            .map(|&(code, exponent, name_zh)| Currency {
                code,
                exponent,
                name_zh: Some(name_zh),
            })
            .ok_or_else(|| MoneyError::UnknownCurrency {
                code: code.to_owned(),
            })
    }

    /// Every currency the terminal knows, in table order, for pickers and tests.
    pub fn all() -> impl Iterator<Item = Currency> {
        CURRENCIES
            .iter()
            .map(|&(code, exponent, name_zh)| Currency {
                code,
                exponent,
                name_zh: Some(name_zh),
            })
    }

    /// The uppercase ISO 4217 code, exactly as Alipay's `currency` field wants it.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// How many decimal digits the minor unit has (2 for USD, 0 for JPY, 3 for KWD).
    pub fn exponent(&self) -> u8 {
        self.exponent
    }

    /// The name Chinese-speaking customers recognise; the code stands in where we know no
    /// name so the display is never blank.
    pub fn name_zh(&self) -> &'static str {
        self.name_zh.unwrap_or(self.code)
    }

    /// Minor units per major unit. The exponent is at most 3, so this cannot overflow.
    fn scale(&self) -> u64 {
        10u64.pow(u32::from(self.exponent))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

impl FromStr for Currency {
    type Err = MoneyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::from_code(s)
    }
}

/// Why an amount was refused. Each message is meant to be shown to the cashier as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("unknown currency code `{code}`; use an ISO 4217 code such as USD")]
    UnknownCurrency { code: String },
    #[error("no amount entered; enter an amount such as 12.34")]
    Empty,
    #[error(
        "`{input}` is not an amount; use only digits and at most one decimal point, \
         without thousands separators or signs (for example 1234.50)"
    )]
    InvalidFormat { input: String },
    #[error("{}", too_many_decimals(*.currency))]
    TooManyDecimals { currency: Currency, given: usize },
    #[error("amount must be greater than zero")]
    Zero,
    #[error("amount cannot be negative; enter it without a minus sign")]
    Negative,
    #[error(
        "amount is too large; Alipay accepts at most {} {currency}",
        group_thousands(&major_digits(MAX_MINOR, *.currency))
    )]
    TooLarge { currency: Currency },
    #[error(
        "cannot combine a {left} amount with a {right} amount; \
         all amounts of one payment or total must be in the same currency"
    )]
    CurrencyMismatch { left: Currency, right: Currency },
    #[error(
        "cannot take {} from {}: the result would be negative; \
         check the amounts (a refund cannot exceed what is left of the payment)",
        .subtrahend.format(Locale::English),
        .minuend.format(Locale::English)
    )]
    Underflow {
        minuend: MinorTotal,
        subtrahend: MinorTotal,
    },
}

fn too_many_decimals(currency: Currency) -> String {
    match currency.exponent {
        0 => format!("{currency} has no minor unit; enter a whole number"),
        1 => format!("{currency} amounts have at most 1 decimal place; enter fewer decimals"),
        n => format!("{currency} amounts have at most {n} decimal places; enter fewer decimals"),
    }
}

/// A positive amount of money no larger than Alipay's limit.
///
/// Zero and over-limit amounts cannot be constructed, so code holding a `Money` can send it to
/// Alipay without re-checking. Totals that may legitimately be zero (refunded so far, still
/// refundable) use [`MinorTotal`] instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Money {
    minor: u64,
    currency: Currency,
}

impl Money {
    /// Parses what a cashier types, in major units, exactly: `"12.3"` USD is 1230 cents.
    ///
    /// Deliberately strict (no `+`, no separators, no `.5` or `12.`, no extra decimals even if
    /// they are zeros) because an amount that was guessed at is worse than one that was refused.
    pub fn parse(text: &str, currency: Currency) -> Result<Money, MoneyError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(MoneyError::Empty);
        }
        // A minus sign only counts as "negative" when the rest is a number; "-abc" is garbage.
        if let Some(rest) = text.strip_prefix('-')
            && split_decimal(rest).is_some()
        {
            return Err(MoneyError::Negative);
        }
        let Some((whole, fraction)) = split_decimal(text) else {
            return Err(MoneyError::InvalidFormat {
                input: text.to_owned(),
            });
        };
        let exponent = usize::from(currency.exponent);
        if fraction.len() > exponent {
            return Err(MoneyError::TooManyDecimals {
                currency,
                given: fraction.len(),
            });
        }
        let padding = std::iter::repeat_n(b'0', exponent - fraction.len());
        let mut minor: u64 = 0;
        for digit in whole.bytes().chain(fraction.bytes()).chain(padding) {
            minor = minor
                .checked_mul(10)
                .and_then(|m| m.checked_add(u64::from(digit - b'0')))
                .ok_or(MoneyError::TooLarge { currency })?;
        }
        Money::from_minor(minor, currency)
    }

    /// Builds an amount from a count of minor units, e.g. one read back from Alipay or storage,
    /// applying the same limits as [`Money::parse`].
    pub fn from_minor(minor: u64, currency: Currency) -> Result<Money, MoneyError> {
        if minor == 0 {
            Err(MoneyError::Zero)
        } else if minor > MAX_MINOR {
            Err(MoneyError::TooLarge { currency })
        } else {
            Ok(Money { minor, currency })
        }
    }

    pub fn minor(&self) -> u64 {
        self.minor
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// The `value` of Alipay's `Amount`: minor units as plain decimal digits.
    pub fn wire_value(&self) -> String {
        self.minor.to_string()
    }

    /// Major units with a plain decimal point and no grouping (`"1234.56"`, `"599"` for JPY),
    /// as settlement reports and CSV exports write them.
    pub fn major_string(&self) -> String {
        major_digits(self.minor, self.currency)
    }

    /// The amount as a person reads it: `USD 1,234.56` in English, `1,234.56 美元` in Chinese.
    pub fn format(&self, locale: Locale) -> String {
        format_amount(self.minor, self.currency, locale)
    }

    /// Adds two amounts of the same currency. The sum of two positive amounts is positive, so
    /// the result is still a `Money`; it fails only on a currency mismatch or past the limit.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        let sum = MinorTotal::from(self).checked_add(other)?;
        Money::from_minor(sum.minor, sum.currency)
    }

    /// Subtracts, e.g. a refund from a payment. The difference may be zero (fully refunded), so
    /// it is a [`MinorTotal`]; going below zero is an error rather than a wrap-around.
    pub fn checked_sub(self, other: impl Into<MinorTotal>) -> Result<MinorTotal, MoneyError> {
        MinorTotal::from(self).checked_sub(other)
    }
}

/// A running total in minor units that, unlike [`Money`], may be zero.
///
/// Kept separate so that "nothing refunded yet" or "nothing left to refund" can be represented
/// without weakening `Money`'s guarantee that it is something Alipay would accept. It shares
/// Alipay's upper limit, so any non-zero total converts back into a `Money`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MinorTotal {
    minor: u64,
    currency: Currency,
}

impl MinorTotal {
    pub fn zero(currency: Currency) -> MinorTotal {
        MinorTotal { minor: 0, currency }
    }

    /// A total of `minor` units (e.g. a sum the database added up); refused beyond Alipay's
    /// limit, like every total.
    pub fn from_minor(minor: u64, currency: Currency) -> Result<MinorTotal, MoneyError> {
        MinorTotal::zero(currency).checked_add(MinorTotal { minor, currency })
    }

    pub fn minor(&self) -> u64 {
        self.minor
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    pub fn is_zero(&self) -> bool {
        self.minor == 0
    }

    /// Adds an amount or another total; fails on a currency mismatch or beyond Alipay's limit.
    pub fn checked_add(self, other: impl Into<MinorTotal>) -> Result<MinorTotal, MoneyError> {
        let other = other.into();
        self.same_currency(other)?;
        match self.minor.checked_add(other.minor) {
            Some(minor) if minor <= MAX_MINOR => Ok(MinorTotal {
                minor,
                currency: self.currency,
            }),
            _ => Err(MoneyError::TooLarge {
                currency: self.currency,
            }),
        }
    }

    /// Subtracts an amount or another total; fails on a currency mismatch or below zero.
    pub fn checked_sub(self, other: impl Into<MinorTotal>) -> Result<MinorTotal, MoneyError> {
        let other = other.into();
        self.same_currency(other)?;
        match self.minor.checked_sub(other.minor) {
            Some(minor) => Ok(MinorTotal {
                minor,
                currency: self.currency,
            }),
            None => Err(MoneyError::Underflow {
                minuend: self,
                subtrahend: other,
            }),
        }
    }

    /// The total as a sendable amount, or `None` when it is zero.
    pub fn to_money(self) -> Option<Money> {
        Money::from_minor(self.minor, self.currency).ok()
    }

    /// See [`Money::major_string`]; a zero total is `"0.00"` (or `"0"`).
    pub fn major_string(&self) -> String {
        major_digits(self.minor, self.currency)
    }

    /// See [`Money::format`].
    pub fn format(&self, locale: Locale) -> String {
        format_amount(self.minor, self.currency, locale)
    }

    fn same_currency(&self, other: MinorTotal) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                left: self.currency,
                right: other.currency,
            })
        }
    }
}

impl From<Money> for MinorTotal {
    fn from(money: Money) -> MinorTotal {
        MinorTotal {
            minor: money.minor,
            currency: money.currency,
        }
    }
}

/// Splits `"12.34"` into `("12", "34")` and `"12"` into `("12", "")`, or `None` unless the
/// text is digits with at most one point that has digits on both sides.
fn split_decimal(text: &str) -> Option<(&str, &str)> {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) if !fraction.is_empty() => (whole, fraction),
        Some(_) => return None,
        None => (text, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    (!whole.is_empty() && all_digits(whole) && all_digits(fraction)).then_some((whole, fraction))
}

/// Minor units rendered in major units without grouping.
fn major_digits(minor: u64, currency: Currency) -> String {
    let scale = currency.scale();
    let whole = minor / scale;
    let fraction = minor % scale;
    match usize::from(currency.exponent) {
        0 => whole.to_string(),
        width => format!("{whole}.{fraction:0width$}"),
    }
}

/// Inserts `,` every three digits of the whole part of a [`major_digits`] string.
fn group_thousands(plain: &str) -> String {
    let (whole, rest) = match plain.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (plain, None),
    };
    let mut grouped = String::with_capacity(plain.len() + whole.len() / 3);
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if let Some(fraction) = rest {
        grouped.push('.');
        grouped.push_str(fraction);
    }
    grouped
}

fn format_amount(minor: u64, currency: Currency, locale: Locale) -> String {
    let amount = group_thousands(&major_digits(minor, currency));
    match locale {
        Locale::English => format!("{} {amount}", currency.code()),
        Locale::SimplifiedChinese => format!("{amount} {}", currency.name_zh()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(text: &str) -> Result<Money, MoneyError> {
        Money::parse(text, Currency::USD)
    }

    fn cur(code: &str) -> Currency {
        Currency::from_code(code).unwrap()
    }

    #[test]
    fn table_has_the_alipay_exponents() {
        for code in [
            "AUD", "BDT", "BRL", "CAD", "CNY", "EUR", "GBP", "HKD", "IDR", "MXN", "MYR", "NZD",
            "PEN", "PHP", "PKR", "PLN", "SGD", "THB", "TWD", "USD",
        ] {
            assert_eq!(cur(code).exponent(), 2, "{code}");
        }
        for code in ["CLP", "JPY", "KRW", "VND"] {
            assert_eq!(cur(code).exponent(), 0, "{code}");
        }
    }

    #[test]
    fn table_has_the_iso_extras() {
        for (code, exponent) in [
            ("MOP", 2),
            ("INR", 2),
            ("CHF", 2),
            ("UYU", 2),
            ("ISK", 0),
            ("BIF", 0),
            ("XOF", 0),
            ("BHD", 3),
            ("KWD", 3),
            ("IQD", 3),
        ] {
            assert_eq!(cur(code).exponent(), exponent, "{code}");
        }
    }

    #[test]
    fn table_has_no_duplicates_and_only_uppercase_codes() {
        let codes: Vec<&str> = Currency::all().map(|c| c.code()).collect();
        let mut unique = codes.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), codes.len());
        assert!(codes.len() >= 70);
        for currency in Currency::all() {
            let code = currency.code();
            assert!(code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()));
            assert!(currency.exponent() <= 3);
        }
    }

    #[test]
    fn constants_match_the_table() {
        for constant in [
            Currency::USD,
            Currency::CNY,
            Currency::HKD,
            Currency::EUR,
            Currency::GBP,
            Currency::SGD,
            Currency::JPY,
            Currency::KRW,
        ] {
            assert_eq!(Currency::from_code(constant.code()), Ok(constant));
        }
    }

    #[test]
    fn currency_lookup_is_case_insensitive_and_stores_uppercase() {
        let currency = Currency::from_code("usd").unwrap();
        assert_eq!(currency, Currency::USD);
        assert_eq!(currency.code(), "USD");
        assert_eq!("jPy".parse::<Currency>(), Ok(Currency::JPY));
        assert_eq!(Currency::USD.to_string(), "USD");
    }

    #[test]
    fn unknown_currency_is_rejected_with_advice() {
        let err = Currency::from_code("XYZ").unwrap_err();
        assert_eq!(
            err,
            MoneyError::UnknownCurrency {
                code: "XYZ".to_owned()
            }
        );
        assert_eq!(
            err.to_string(),
            "unknown currency code `XYZ`; use an ISO 4217 code such as USD"
        );
        assert!(Currency::from_code("").is_err());
        assert!(Currency::from_code("US").is_err());
        assert!(Currency::from_code("USDX").is_err());
    }

    #[test]
    fn chinese_names() {
        assert_eq!(Currency::USD.name_zh(), "美元");
        assert_eq!(Currency::CNY.name_zh(), "人民币");
        assert_eq!(Currency::HKD.name_zh(), "港币");
        assert_eq!(cur("MOP").name_zh(), "澳门元");
        assert_eq!(cur("TWD").name_zh(), "新台币");
        // The fallback for a currency without a Chinese name is its code.
        let nameless = Currency {
            code: "USD",
            exponent: 2,
            name_zh: None,
        };
        assert_eq!(nameless.name_zh(), "USD");
        assert_eq!(
            format_amount(150, nameless, Locale::SimplifiedChinese),
            "1.50 USD"
        );
    }

    #[test]
    fn parses_exponent_two() {
        assert_eq!(usd("12.34").unwrap().minor(), 1234);
        assert_eq!(usd("12").unwrap().minor(), 1200);
        assert_eq!(usd("12.3").unwrap().minor(), 1230);
        assert_eq!(usd("0.01").unwrap().minor(), 1);
        assert_eq!(usd("  5.99\n").unwrap().minor(), 599);
        assert_eq!(usd("007.50").unwrap().minor(), 750);
        assert_eq!(usd("12.34").unwrap().currency(), Currency::USD);
    }

    #[test]
    fn parses_exponent_zero() {
        let yen = Money::parse("599", Currency::JPY).unwrap();
        assert_eq!(yen.minor(), 599);
        assert_eq!(yen.wire_value(), "599");
    }

    #[test]
    fn parses_exponent_three() {
        let kwd = cur("KWD");
        assert_eq!(Money::parse("1.005", kwd).unwrap().minor(), 1005);
        assert_eq!(Money::parse("1.5", kwd).unwrap().minor(), 1500);
        assert_eq!(Money::parse("2", kwd).unwrap().minor(), 2000);
    }

    #[test]
    fn rejects_empty() {
        assert_eq!(usd(""), Err(MoneyError::Empty));
        assert_eq!(usd("   "), Err(MoneyError::Empty));
        assert!(MoneyError::Empty.to_string().contains("enter an amount"));
    }

    #[test]
    fn rejects_malformed_input() {
        for text in [
            "1,234.00", "+5", "1e3", "1E3", "1.2.3", "12.", ".5", "abc", "12 34", "$5", "5 USD",
            "１２", "--5", "-", "-abc", "0x10", "NaN", "inf",
        ] {
            assert_eq!(
                usd(text),
                Err(MoneyError::InvalidFormat {
                    input: text.to_owned()
                }),
                "{text}"
            );
        }
        let message = usd("1,234").unwrap_err().to_string();
        assert!(message.contains("`1,234`"), "{message}");
        assert!(
            message.contains("without thousands separators"),
            "{message}"
        );
    }

    #[test]
    fn rejects_too_many_decimals() {
        assert_eq!(
            usd("12.345"),
            Err(MoneyError::TooManyDecimals {
                currency: Currency::USD,
                given: 3
            })
        );
        // Even zeros: the cashier may have meant a different currency.
        assert!(matches!(
            usd("1.000"),
            Err(MoneyError::TooManyDecimals { .. })
        ));
        assert_eq!(
            usd("12.345").unwrap_err().to_string(),
            "USD amounts have at most 2 decimal places; enter fewer decimals"
        );
        let yen = Money::parse("5.5", Currency::JPY).unwrap_err();
        assert_eq!(
            yen,
            MoneyError::TooManyDecimals {
                currency: Currency::JPY,
                given: 1
            }
        );
        assert_eq!(
            yen.to_string(),
            "JPY has no minor unit; enter a whole number"
        );
        assert!(Money::parse("1.0005", cur("BHD")).is_err());
    }

    #[test]
    fn rejects_zero() {
        for text in ["0", "0.00", "0.0", "000"] {
            assert_eq!(usd(text), Err(MoneyError::Zero), "{text}");
        }
        assert_eq!(Money::parse("0", Currency::JPY), Err(MoneyError::Zero));
        assert_eq!(
            MoneyError::Zero.to_string(),
            "amount must be greater than zero"
        );
        assert_eq!(Money::from_minor(0, Currency::USD), Err(MoneyError::Zero));
    }

    #[test]
    fn rejects_negative() {
        for text in ["-1", "-0.01", " -12.34 ", "-0"] {
            assert_eq!(usd(text), Err(MoneyError::Negative), "{text}");
        }
        assert!(
            MoneyError::Negative
                .to_string()
                .starts_with("amount cannot be negative")
        );
    }

    #[test]
    fn limit_boundary() {
        assert_eq!(MAX_MINOR.to_string().len(), 16);
        let max = usd("99999999999999.99").unwrap();
        assert_eq!(max.minor(), MAX_MINOR);
        assert_eq!(max.wire_value(), "9999999999999999");
        assert_eq!(
            usd("100000000000000.00"),
            Err(MoneyError::TooLarge {
                currency: Currency::USD
            })
        );
        assert_eq!(
            Money::parse("9999999999999999", Currency::JPY)
                .unwrap()
                .minor(),
            MAX_MINOR
        );
        assert_eq!(
            Money::parse("10000000000000000", Currency::JPY),
            Err(MoneyError::TooLarge {
                currency: Currency::JPY
            })
        );
        assert!(Money::from_minor(MAX_MINOR, Currency::USD).is_ok());
        assert_eq!(
            Money::from_minor(MAX_MINOR + 1, Currency::USD),
            Err(MoneyError::TooLarge {
                currency: Currency::USD
            })
        );
        assert_eq!(
            Money::from_minor(u64::MAX, Currency::USD),
            Err(MoneyError::TooLarge {
                currency: Currency::USD
            })
        );
    }

    #[test]
    fn u64_overflow_is_too_large_not_a_panic() {
        // u64::MAX is 18446744073709551615 (20 digits); these overflow during parsing.
        for text in [
            "18446744073709551616",
            "99999999999999999999999999",
            "184467440737095516.16",
        ] {
            assert_eq!(
                usd(text),
                Err(MoneyError::TooLarge {
                    currency: Currency::USD
                }),
                "{text}"
            );
        }
        // Leading zeros do not count against the limit.
        assert_eq!(usd("0000000000000000000000001").unwrap().minor(), 100);
    }

    #[test]
    fn too_large_message_gives_the_limit_in_major_units() {
        assert_eq!(
            usd("1000000000000000").unwrap_err().to_string(),
            "amount is too large; Alipay accepts at most 99,999,999,999,999.99 USD"
        );
        assert_eq!(
            Money::from_minor(MAX_MINOR + 1, Currency::JPY)
                .unwrap_err()
                .to_string(),
            "amount is too large; Alipay accepts at most 9,999,999,999,999,999 JPY"
        );
    }

    #[test]
    fn wire_and_major_strings() {
        let m = usd("1234.5").unwrap();
        assert_eq!(m.wire_value(), "123450");
        assert_eq!(m.major_string(), "1234.50");
        assert_eq!(usd("0.05").unwrap().major_string(), "0.05");
        assert_eq!(
            Money::parse("599", Currency::JPY).unwrap().major_string(),
            "599"
        );
        assert_eq!(
            Money::from_minor(1005, cur("KWD")).unwrap().major_string(),
            "1.005"
        );
        assert_eq!(
            Money::from_minor(7, cur("KWD")).unwrap().major_string(),
            "0.007"
        );
    }

    #[test]
    fn english_format() {
        assert_eq!(
            usd("1234.56").unwrap().format(Locale::English),
            "USD 1,234.56"
        );
        assert_eq!(usd("0.5").unwrap().format(Locale::English), "USD 0.50");
        assert_eq!(usd("999.99").unwrap().format(Locale::English), "USD 999.99");
        assert_eq!(
            usd("1000000").unwrap().format(Locale::English),
            "USD 1,000,000.00"
        );
        assert_eq!(
            Money::parse("1234567", Currency::JPY)
                .unwrap()
                .format(Locale::English),
            "JPY 1,234,567"
        );
        assert_eq!(
            Money::from_minor(1_234_005, cur("BHD"))
                .unwrap()
                .format(Locale::English),
            "BHD 1,234.005"
        );
    }

    #[test]
    fn chinese_format() {
        assert_eq!(
            usd("1234.56").unwrap().format(Locale::SimplifiedChinese),
            "1,234.56 美元"
        );
        assert_eq!(
            Money::parse("100", Currency::CNY)
                .unwrap()
                .format(Locale::SimplifiedChinese),
            "100.00 人民币"
        );
        assert_eq!(
            Money::parse("12345", Currency::JPY)
                .unwrap()
                .format(Locale::SimplifiedChinese),
            "12,345 日元"
        );
    }

    #[test]
    fn grouping_edges() {
        assert_eq!(group_thousands("1"), "1");
        assert_eq!(group_thousands("123"), "123");
        assert_eq!(group_thousands("1234"), "1,234");
        assert_eq!(group_thousands("123456.78"), "123,456.78");
        assert_eq!(group_thousands("1234567.891"), "1,234,567.891");
    }

    #[test]
    fn add_same_currency() {
        let sum = usd("1.50")
            .unwrap()
            .checked_add(usd("2.75").unwrap())
            .unwrap();
        assert_eq!(sum.minor(), 425);
        assert_eq!(sum.currency(), Currency::USD);
    }

    #[test]
    fn add_rejects_mismatch_and_overflow() {
        let yen = Money::parse("1", Currency::JPY).unwrap();
        let err = usd("1").unwrap().checked_add(yen).unwrap_err();
        assert_eq!(
            err,
            MoneyError::CurrencyMismatch {
                left: Currency::USD,
                right: Currency::JPY
            }
        );
        assert!(err.to_string().contains("USD"));
        assert!(err.to_string().contains("JPY"));
        let max = Money::from_minor(MAX_MINOR, Currency::USD).unwrap();
        let cent = Money::from_minor(1, Currency::USD).unwrap();
        assert_eq!(
            max.checked_add(cent),
            Err(MoneyError::TooLarge {
                currency: Currency::USD
            })
        );
        assert_eq!(
            MinorTotal::from(max).checked_add(max),
            Err(MoneyError::TooLarge {
                currency: Currency::USD
            })
        );
    }

    #[test]
    fn subtract_down_to_zero_and_not_below() {
        let paid = usd("10.00").unwrap();
        let left = paid.checked_sub(usd("3.50").unwrap()).unwrap();
        assert_eq!(left.minor(), 650);
        let none_left = left.checked_sub(usd("6.50").unwrap()).unwrap();
        assert!(none_left.is_zero());
        assert_eq!(none_left.to_money(), None);
        assert_eq!(none_left.major_string(), "0.00");
        assert_eq!(none_left.format(Locale::English), "USD 0.00");

        let err = usd("3.00")
            .unwrap()
            .checked_sub(usd("5.00").unwrap())
            .unwrap_err();
        assert!(matches!(err, MoneyError::Underflow { .. }));
        assert_eq!(
            err.to_string(),
            "cannot take USD 5.00 from USD 3.00: the result would be negative; \
             check the amounts (a refund cannot exceed what is left of the payment)"
        );
        let yen = Money::parse("1", Currency::JPY).unwrap();
        assert!(matches!(
            paid.checked_sub(yen),
            Err(MoneyError::CurrencyMismatch { .. })
        ));
    }

    #[test]
    fn refund_totals_accumulate() {
        let paid = usd("20.00").unwrap();
        let mut refunded = MinorTotal::zero(Currency::USD);
        assert!(refunded.is_zero());
        for refund in ["5.00", "2.50"] {
            refunded = refunded.checked_add(usd(refund).unwrap()).unwrap();
        }
        assert_eq!(refunded.minor(), 750);
        let refundable = paid.checked_sub(refunded).unwrap();
        assert_eq!(refundable.to_money(), Some(usd("12.50").unwrap()));
        assert_eq!(refundable.currency(), Currency::USD);
        assert!(matches!(
            MinorTotal::zero(Currency::JPY).checked_add(refundable),
            Err(MoneyError::CurrencyMismatch { .. })
        ));
    }
}
