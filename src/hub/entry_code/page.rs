//! The H5 pages a wallet's in-app browser shows: plain HTML and CSS, no JavaScript (a form
//! POST pays), every text in English and Simplified Chinese, every value escaped.
//!
//! The language is the `lang` query parameter (`en` or `zh`) when given, else the first of
//! English or Chinese in `Accept-Language`; each page links to the other language
//! (`#lang-switch`). Stable element ids for tests: `#store`, `#counter`, `#amount` (with
//! `data-currency`, `data-value`), `#amount-input`, `#pay`, `#status` (with `data-status`),
//! `#message`.

use super::store::CounterRow;
use crate::locale::Locale;
use crate::money::{Currency, Money};

/// The language for a request.
pub fn locale_of(lang: Option<&str>, accept_language: Option<&str>) -> Locale {
    match lang.map(str::to_ascii_lowercase).as_deref() {
        Some(code) if code.starts_with("zh") => return Locale::SimplifiedChinese,
        Some(code) if code.starts_with("en") => return Locale::English,
        _ => {}
    }
    // The highest-weighted of the two languages we have; ties go to the first listed.
    let mut best: Option<(f32, Locale)> = None;
    for part in accept_language.unwrap_or_default().split(',') {
        let mut pieces = part.trim().split(';');
        let tag = pieces
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let weight = pieces
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        let locale = if tag.starts_with("zh") {
            Locale::SimplifiedChinese
        } else if tag.starts_with("en") {
            Locale::English
        } else {
            continue;
        };
        if best.is_none_or(|(w, _)| weight > w) {
            best = Some((weight, locale));
        }
    }
    best.map_or(Locale::English, |(_, locale)| locale)
}

fn t(locale: Locale, en: &'static str, zh: &'static str) -> &'static str {
    match locale {
        Locale::English => en,
        Locale::SimplifiedChinese => zh,
    }
}

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'PingFang SC','Noto Sans CJK SC',sans-serif;margin:0;background:#f2f4f7;color:#1d2129}\
main{max-width:440px;margin:0 auto;padding:16px}\
.card{background:#fff;border-radius:14px;padding:20px;margin-top:12px;box-shadow:0 1px 4px rgba(0,0,0,.08)}\
h1{font-size:1.3rem;margin:0 0 4px}.muted{color:#6b7280;margin:2px 0}\
#amount{font-size:2.4rem;font-weight:700;margin:18px 0 0}\
.error{background:#fff1f0;color:#a8071a;border-radius:8px;padding:10px 12px}\
label{display:block;margin-top:16px;font-weight:600}\
input{width:100%;box-sizing:border-box;font-size:1.6rem;padding:12px;margin-top:6px;border:1px solid #c9cdd4;border-radius:10px}\
button{width:100%;font-size:1.4rem;padding:18px;margin-top:16px;border:0;border-radius:12px;background:#1677ff;color:#fff}\
.lang{text-align:right;margin:0}a{color:#1677ff}ul{list-style:none;padding:0}li{padding:10px 0;border-top:1px solid #eef0f3}";

/// The page around `body`, with the link to the other language of `path`.
fn shell(locale: Locale, path: &str, body: &str) -> String {
    let (html_lang, other, other_name) = match locale {
        Locale::English => ("en", "zh", "中文"),
        Locale::SimplifiedChinese => ("zh-CN", "en", "English"),
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"{html_lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n\
         <p class=\"lang\"><a id=\"lang-switch\" hreflang=\"{other}\" href=\"{path}?lang={other}\">{other_name}</a></p>\n\
         {body}\n</main>\n</body>\n</html>\n",
        title = t(locale, "Pay with Alipay", "支付宝付款"),
        path = escape(path),
    )
}

fn amount_text(locale: Locale, currency: &str, minor: u64) -> String {
    match Currency::from_code(currency).and_then(|c| Money::from_minor(minor, c)) {
        Ok(money) => money.format(locale),
        Err(_) => format!("{currency} {minor}"),
    }
}

/// The counter's page: the cashier's order with a Pay button, or an amount field where
/// the counter allows one, or a note that nothing is waiting.
pub fn counter_page(
    locale: Locale,
    path: &str,
    counter: &CounterRow,
    error: Option<&str>,
) -> String {
    let error = error
        .map(|e| {
            format!(
                "<p class=\"error\" id=\"message\" role=\"alert\">{}</p>\n",
                escape(e)
            )
        })
        .unwrap_or_default();
    let head = format!(
        "<h1 id=\"store\">{}</h1>\n<p class=\"muted\" id=\"counter\">{} {}</p>\n",
        escape(&counter.store_name),
        t(locale, "Counter", "收银台"),
        escape(&counter.counter),
    );
    let form = match (counter.order_amount, counter.open_amount) {
        (Some(amount), _) => format!(
            "<p class=\"muted\" id=\"description\">{description}</p>\n\
             <p id=\"amount\" data-currency=\"{currency}\" data-value=\"{amount}\">{shown}</p>\n\
             <form method=\"post\" action=\"{action}\">\
             <input type=\"hidden\" name=\"order\" value=\"{version}\">\
             <button id=\"pay\" type=\"submit\">{pay}</button></form>",
            description = escape(counter.order_description.as_deref().unwrap_or_default()),
            currency = escape(&counter.currency),
            shown = escape(&amount_text(locale, &counter.currency, amount)),
            action = escape(&form_action(path, locale)),
            version = counter.order_version,
            pay = t(locale, "Pay with Alipay", "使用支付宝付款"),
        ),
        (None, true) => format!(
            "<form method=\"post\" action=\"{action}\">\
             <label for=\"amount-input\">{label} ({currency})</label>\
             <input id=\"amount-input\" name=\"amount\" inputmode=\"decimal\" autocomplete=\"off\" required>\
             <button id=\"pay\" type=\"submit\">{pay}</button></form>",
            action = escape(&form_action(path, locale)),
            label = t(locale, "Amount", "金额"),
            currency = escape(&counter.currency),
            pay = t(locale, "Pay with Alipay", "使用支付宝付款"),
        ),
        (None, false) => format!(
            "<p id=\"status\" data-status=\"NO_ORDER\">{}</p>",
            t(
                locale,
                "Nothing to pay at this counter yet. Ask the cashier to enter the amount, then reload this page.",
                "此收银台尚无待付订单。请让收银员输入金额后刷新本页。"
            )
        ),
    };
    shell(
        locale,
        path,
        &format!("<div class=\"card\">\n{head}{error}{form}\n</div>"),
    )
}

fn form_action(path: &str, locale: Locale) -> String {
    let lang = match locale {
        Locale::English => "en",
        Locale::SimplifiedChinese => "zh",
    };
    format!("{path}?lang={lang}")
}

/// A store with several counters: the customer picks theirs.
pub fn store_page(locale: Locale, path: &str, store_name: &str, counters: &[String]) -> String {
    let items: String = counters
        .iter()
        .map(|c| {
            format!(
                "<li><a class=\"counter\" href=\"{base}/{c_url}\">{label} {c}</a></li>",
                base = escape(path.trim_end_matches('/')),
                c_url = escape(&url_segment(c)),
                label = t(locale, "Counter", "收银台"),
                c = escape(c),
            )
        })
        .collect();
    shell(
        locale,
        path,
        &format!(
            "<div class=\"card\">\n<h1 id=\"store\">{}</h1>\n<p>{}</p>\n<ul>{items}</ul>\n</div>",
            escape(store_name),
            t(
                locale,
                "Choose the counter you are paying at:",
                "请选择您付款的收银台："
            )
        ),
    )
}

/// Percent-encodes one path segment.
pub fn url_segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// Why a page cannot take a payment, in the customer's words, with what to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    UnknownStore,
    UnknownCounter,
    UnsupportedWallet,
    OrderChanged,
    AlreadyPaid,
    Refused,
    Unknown,
    Busy,
    TooMany,
    NotSetUp,
}

impl Notice {
    pub fn code(self) -> &'static str {
        match self {
            Notice::UnknownStore => "UNKNOWN_STORE",
            Notice::UnknownCounter => "UNKNOWN_COUNTER",
            Notice::UnsupportedWallet => "UNSUPPORTED_WALLET",
            Notice::OrderChanged => "ORDER_CHANGED",
            Notice::AlreadyPaid => "ALREADY_PAID",
            Notice::Refused => "REFUSED",
            Notice::Unknown => "CHECKING",
            Notice::Busy => "UNAVAILABLE",
            Notice::TooMany => "TOO_MANY_REQUESTS",
            Notice::NotSetUp => "NOT_SET_UP",
        }
    }

    pub fn text(self, locale: Locale) -> &'static str {
        match self {
            Notice::UnknownStore => t(
                locale,
                "This code belongs to no store we know. Ask the staff for the store's current code.",
                "此码不属于任何已知门店。请向店员索取门店当前的付款码。",
            ),
            Notice::UnknownCounter => t(
                locale,
                "This counter does not take Alipay Entry Code payments. Ask the cashier which code to scan.",
                "此收银台不支持支付宝入口码付款。请向收银员询问应扫描哪个码。",
            ),
            Notice::UnsupportedWallet => t(
                locale,
                "Open this page by scanning the code with your Alipay app: this browser cannot pay.",
                "请用支付宝 App 扫码打开本页：此浏览器无法付款。",
            ),
            Notice::OrderChanged => t(
                locale,
                "The cashier changed the order. Check the new amount below and pay again.",
                "收银员已修改订单。请核对下方新金额后重新付款。",
            ),
            Notice::AlreadyPaid => t(
                locale,
                "This order is paid already. Show this to the cashier if in doubt.",
                "此订单已付款。如有疑问请向收银员出示本页。",
            ),
            Notice::Refused => t(
                locale,
                "Alipay declined this payment; nothing was charged. Try again or pay another way.",
                "支付宝拒绝了此笔付款，未扣款。请重试或改用其他方式付款。",
            ),
            Notice::Unknown => t(
                locale,
                "Alipay has not answered yet. Nothing is charged unless you confirm in Alipay; the cashier's screen will show the result.",
                "支付宝尚未答复。除非您在支付宝中确认，否则不会扣款；收银台屏幕将显示结果。",
            ),
            Notice::Busy => t(
                locale,
                "The store's server is busy. Wait a moment and try again.",
                "门店服务器繁忙，请稍候重试。",
            ),
            Notice::TooMany => t(
                locale,
                "Too many requests from this device. Wait a few seconds and try again.",
                "此设备请求过于频繁，请稍等几秒后重试。",
            ),
            Notice::NotSetUp => t(
                locale,
                "This store does not take Entry Code payments yet. Pay the cashier another way.",
                "本店尚未开通入口码付款，请用其他方式付款。",
            ),
        }
    }
}

/// A page that only says `notice`.
pub fn notice_page(locale: Locale, path: &str, notice: Notice) -> String {
    shell(
        locale,
        path,
        &format!(
            "<div class=\"card\">\n<p id=\"status\" data-status=\"{}\">{}</p>\n</div>",
            notice.code(),
            escape(notice.text(locale))
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_follows_the_query_then_accept_language() {
        assert_eq!(locale_of(None, None), Locale::English);
        assert_eq!(
            locale_of(None, Some("zh-CN,zh;q=0.9,en;q=0.8")),
            Locale::SimplifiedChinese
        );
        assert_eq!(
            locale_of(None, Some("fr, en;q=0.5, zh;q=0.9")),
            Locale::SimplifiedChinese
        );
        assert_eq!(locale_of(None, Some("de, en-GB")), Locale::English);
        assert_eq!(locale_of(Some("en"), Some("zh-CN")), Locale::English);
        assert_eq!(locale_of(Some("zh"), None), Locale::SimplifiedChinese);
    }

    #[test]
    fn every_notice_has_both_languages_and_values_are_escaped() {
        for notice in [
            Notice::UnknownStore,
            Notice::UnknownCounter,
            Notice::UnsupportedWallet,
            Notice::OrderChanged,
            Notice::AlreadyPaid,
            Notice::Refused,
            Notice::Unknown,
            Notice::Busy,
            Notice::TooMany,
            Notice::NotSetUp,
        ] {
            let zh = notice.text(Locale::SimplifiedChinese);
            assert_ne!(zh, notice.text(Locale::English));
            assert!(
                zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                "{zh}"
            );
        }
        let page = store_page(Locale::English, "/entry/S1", "<b>Tea</b>", &["A&B".into()]);
        assert!(page.contains("&lt;b&gt;Tea&lt;/b&gt;"));
        assert!(page.contains("A&amp;B"));
        assert!(!page.contains("<script"));
    }
}
