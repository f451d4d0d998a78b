//! The receipt's words in both languages. The Alipay mark is the same in both: it is the
//! brand as customers know it from their wallet.

use crate::locale::Locale;

/// The "Alipay" payment mark at the top of every receipt (flows.md §9).
pub const ALIPAY_MARK: &str = "Alipay 支付宝";

/// Every fixed text of a receipt, in one language.
pub(super) struct Words {
    pub(super) sale: &'static str,
    pub(super) refund: &'static str,
    pub(super) copy: &'static str,
    pub(super) terminal: &'static str,
    pub(super) time: &'static str,
    pub(super) amount: &'static str,
    pub(super) refund_amount: &'static str,
    pub(super) paid_amount: &'static str,
    pub(super) payment_request_id: &'static str,
    pub(super) refund_request_id: &'static str,
    pub(super) alipay_payment_id: &'static str,
    pub(super) paid_with: &'static str,
    pub(super) thanks: &'static str,
}

const ENGLISH: Words = Words {
    sale: "SALE",
    refund: "REFUND",
    copy: "*** COPY ***",
    terminal: "Terminal",
    time: "Time",
    amount: "Amount",
    refund_amount: "Refunded",
    paid_amount: "Of payment",
    payment_request_id: "Payment request ID",
    refund_request_id: "Refund request ID",
    alipay_payment_id: "Alipay payment ID",
    paid_with: "Paid with Alipay",
    thanks: "Thank you",
};

const CHINESE: Words = Words {
    sale: "消费 SALE",
    refund: "退款 REFUND",
    copy: "*** 副本 COPY ***",
    terminal: "终端",
    time: "时间",
    amount: "金额",
    refund_amount: "退款金额",
    paid_amount: "原支付金额",
    payment_request_id: "支付请求号",
    refund_request_id: "退款请求号",
    alipay_payment_id: "支付宝交易号",
    paid_with: "支付宝支付",
    thanks: "谢谢惠顾",
};

pub(super) fn words(locale: Locale) -> &'static Words {
    match locale {
        Locale::English => &ENGLISH,
        Locale::SimplifiedChinese => &CHINESE,
    }
}
