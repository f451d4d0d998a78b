//! The languages the terminal can speak to cashiers and customers.
//!
//! Only two exist because the terminal's users are a merchant's staff (usually English- or
//! local-language speaking) and Alipay's customers (mostly mainland Chinese visitors).

use std::fmt;
use std::str::FromStr;

/// A display language.
///
/// English is the default because the merchant's staff configure and operate the terminal;
/// the Chinese locale exists for customer-facing text such as the amount shown next to the QR
/// code.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Locale {
    #[default]
    English,
    SimplifiedChinese,
}

impl Locale {
    /// Every supported locale, so menus and tests need not repeat the list.
    pub const ALL: [Locale; 2] = [Locale::English, Locale::SimplifiedChinese];

    /// The canonical code, in the POSIX style that `LANG` uses, so a saved setting round-trips
    /// through [`Locale::from_code`].
    pub fn code(self) -> &'static str {
        match self {
            Locale::English => "en",
            Locale::SimplifiedChinese => "zh_CN",
        }
    }

    /// Reads a language tag as users and operating systems actually write it: BCP 47
    /// (`zh-CN`, `zh-Hans`), POSIX (`zh_CN.UTF-8`, `en_US.UTF-8@euro`) or a bare language.
    ///
    /// Any Chinese variant (including `zh_TW` and `zh-Hant`) maps to Simplified Chinese: it is
    /// the only Chinese we have, and a Traditional-Chinese reader copes with it far better than
    /// with English. Returns `None` for anything else (including `C` and `POSIX`) so the caller
    /// decides the fallback, usually [`Locale::default`].
    pub fn from_code(code: &str) -> Option<Locale> {
        let code = code.trim();
        // Strip POSIX codeset and modifier: "zh_CN.UTF-8@pinyin" -> "zh_CN".
        let code = code.split(['.', '@']).next().unwrap_or_default();
        let language = code.split(['_', '-']).next().unwrap_or_default();
        match language.to_ascii_lowercase().as_str() {
            "en" => Some(Locale::English),
            "zh" => Some(Locale::SimplifiedChinese),
            _ => None,
        }
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A language code that names no supported locale.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown language `{0}`; use \"en\" for English or \"zh_CN\" for Simplified Chinese")]
pub struct UnknownLocale(pub String);

impl FromStr for Locale {
    type Err = UnknownLocale;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Locale::from_code(s).ok_or_else(|| UnknownLocale(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_english() {
        assert_eq!(Locale::default(), Locale::English);
    }

    #[test]
    fn codes_round_trip() {
        for locale in Locale::ALL {
            assert_eq!(Locale::from_code(locale.code()), Some(locale));
            assert_eq!(locale.to_string(), locale.code());
        }
        assert_eq!(Locale::English.code(), "en");
        assert_eq!(Locale::SimplifiedChinese.code(), "zh_CN");
    }

    #[test]
    fn english_spellings() {
        for code in ["en", "EN", "en_US", "en-GB", "en_US.UTF-8", " en "] {
            assert_eq!(Locale::from_code(code), Some(Locale::English), "{code}");
        }
    }

    #[test]
    fn chinese_spellings() {
        for code in [
            "zh",
            "zh_CN",
            "zh-CN",
            "zh_Hans",
            "zh-Hans-CN",
            "ZH_cn",
            "zh_CN.UTF-8",
            "zh_CN.GB18030@pinyin",
            "zh_TW",
        ] {
            assert_eq!(
                Locale::from_code(code),
                Some(Locale::SimplifiedChinese),
                "{code}"
            );
        }
    }

    #[test]
    fn unknown_codes_are_rejected() {
        for code in ["", "fr", "C", "POSIX", "eng", "zhx", "e"] {
            assert_eq!(Locale::from_code(code), None, "{code}");
        }
        let err = "fr_FR".parse::<Locale>().unwrap_err();
        assert_eq!(err, UnknownLocale("fr_FR".to_owned()));
        assert!(err.to_string().contains("`fr_FR`"));
        assert!(err.to_string().contains("zh_CN"));
        assert_eq!("zh-CN".parse::<Locale>(), Ok(Locale::SimplifiedChinese));
    }
}
