//! Receipts (README "Receipts", Alipay's guidance in flows.md §9): the document printed for
//! a payment or a refund, and the printers it goes to.
//!
//! A [`Receipt`] is built from a journal record and the configured merchant, store and
//! terminal, and is only data: lines with their bold, size and alignment, rules, and the QR
//! code's payload. Both outputs draw that one document, so the paper and the preview PNG
//! cannot disagree:
//! - `escpos_out`: the ESC/POS commands of a thermal printer;
//! - `preview`: the PNG of the virtual printer (`[printer] kind = "preview"`);
//! - `printer`: where a receipt goes (network, USB device file, preview), the printer's
//!   status (paper out, cover open, offline) and the faults a cashier is shown.
//!
//! What a receipt never shows, whatever the record holds: the wallet's issuer name and the
//! amount in the wallet's currency (Alipay's rule), the customer's payment code, and any
//! text Alipay sent (result messages, event details), which could carry either.

pub mod escpos_out;
pub mod preview;
pub mod printer;
mod text;

#[cfg(any(test, feature = "test-support"))]
pub mod capture;

use time::OffsetDateTime;

use crate::config::Config;
use crate::journal::{PaymentRecord, PaymentState, RefundRecord, RefundState};
use crate::locale::Locale;

pub use printer::{PrintFault, Printed, print};
pub use text::ALIPAY_MARK;

/// Characters per line of normal text: what a 58 mm printer's font A fits (an 80 mm printer
/// has room to spare), so one layout suits both.
pub const COLUMNS: usize = 32;

/// A sale or a refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptKind {
    Sale,
    Refund,
}

/// Where a line sits across the paper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Align {
    #[default]
    Left,
    Center,
    Right,
}

/// How a line is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Style {
    pub bold: bool,
    /// Double width and height (half as many characters per line).
    pub double: bool,
    pub align: Align,
}

impl Style {
    pub const PLAIN: Style = Style {
        bold: false,
        double: false,
        align: Align::Left,
    };

    const fn centered(bold: bool, double: bool) -> Style {
        Style {
            bold,
            double,
            align: Align::Center,
        }
    }
}

/// One piece of a receipt, top to bottom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// One printed line; never longer than its style's line width.
    Text { text: String, style: Style },
    /// A dashed line across the paper.
    Rule,
    /// A QR code of this text, centred.
    Qr(String),
    /// An empty line.
    Feed,
}

/// Who issued the receipt: the configured merchant, store and terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptHeader {
    pub merchant: String,
    pub store: String,
    pub terminal: String,
}

impl ReceiptHeader {
    pub fn from_config(config: &Config) -> ReceiptHeader {
        ReceiptHeader {
            merchant: config.merchant.name.clone(),
            store: config.store.name.clone(),
            terminal: config.store.terminal_id.clone(),
        }
    }
}

/// Why a record has no receipt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error("payment {0} is not paid; only a paid payment has a receipt")]
    NotPaid(String),
    #[error("refund {0} has not succeeded; only a succeeded refund has a receipt")]
    NotRefunded(String),
    #[error("refund {refund} does not belong to payment {payment}")]
    OtherPayment { refund: String, payment: String },
}

/// A receipt, ready for any printer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub kind: ReceiptKind,
    /// A reprint: marked COPY, so it cannot pass for a second payment.
    pub copy: bool,
    pub locale: Locale,
    pub payment_request_id: String,
    /// A refund receipt's `refundRequestId`.
    pub refund_request_id: Option<String>,
    pub blocks: Vec<Block>,
}

impl Receipt {
    /// The receipt of a paid payment.
    pub fn sale(
        payment: &PaymentRecord,
        header: &ReceiptHeader,
        locale: Locale,
        copy: bool,
    ) -> Result<Receipt, ReceiptError> {
        if payment.state != PaymentState::Paid {
            return Err(ReceiptError::NotPaid(payment.payment_request_id.clone()));
        }
        let words = text::words(locale);
        let at = payment
            .paid_at
            .or(payment.final_at)
            .unwrap_or(payment.updated_at);
        let mut layout = Layout::new(header, words, words.sale, copy);
        layout.pair(words.time, &when(at));
        layout.amount(words.amount, &payment.amount.format(locale));
        layout.rule();
        layout.id(words.payment_request_id, &payment.payment_request_id);
        if let Some(alipay_id) = &payment.payment_id {
            layout.id(words.alipay_payment_id, alipay_id);
        }
        Ok(Receipt {
            kind: ReceiptKind::Sale,
            copy,
            locale,
            payment_request_id: payment.payment_request_id.clone(),
            refund_request_id: None,
            blocks: layout.finish(&payment.payment_request_id),
        })
    }

    /// The receipt of a succeeded refund of `payment`.
    pub fn refund(
        payment: &PaymentRecord,
        refund: &RefundRecord,
        header: &ReceiptHeader,
        locale: Locale,
        copy: bool,
    ) -> Result<Receipt, ReceiptError> {
        if refund.payment != payment.id {
            return Err(ReceiptError::OtherPayment {
                refund: refund.refund_request_id.clone(),
                payment: payment.payment_request_id.clone(),
            });
        }
        if refund.state != RefundState::Succeeded {
            return Err(ReceiptError::NotRefunded(refund.refund_request_id.clone()));
        }
        let words = text::words(locale);
        let at = refund
            .refunded_at
            .or(refund.final_at)
            .unwrap_or(refund.updated_at);
        let mut layout = Layout::new(header, words, words.refund, copy);
        layout.pair(words.time, &when(at));
        layout.amount(words.refund_amount, &refund.amount.format(locale));
        layout.pair(words.paid_amount, &payment.amount.format(locale));
        layout.rule();
        layout.id(words.refund_request_id, &refund.refund_request_id);
        layout.id(words.payment_request_id, &payment.payment_request_id);
        Ok(Receipt {
            kind: ReceiptKind::Refund,
            copy,
            locale,
            payment_request_id: payment.payment_request_id.clone(),
            refund_request_id: Some(refund.refund_request_id.clone()),
            blocks: layout.finish(&payment.payment_request_id),
        })
    }

    /// What the QR code holds: the `paymentRequestId`, also for a refund (the manager's
    /// search finds the payment, and its refunds, by it).
    pub fn qr_payload(&self) -> Option<&str> {
        self.blocks.iter().find_map(|block| match block {
            Block::Qr(payload) => Some(payload.as_str()),
            _ => None,
        })
    }

    /// The receipt's own id: the refund's for a refund, else the payment's.
    pub fn request_id(&self) -> &str {
        self.refund_request_id
            .as_deref()
            .unwrap_or(&self.payment_request_id)
    }

    /// The preview file's name without `.png`: `<requestId>` or `<requestId>-copy`. Request
    /// ids are ASCII letters, digits and `-` (checked by the journal), so the name is safe.
    pub fn file_stem(&self) -> String {
        let id: String = self
            .request_id()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if self.copy { format!("{id}-copy") } else { id }
    }

    /// The text lines, as printed (rules as dashes; the QR code as nothing).
    pub fn text_lines(&self) -> Vec<String> {
        self.blocks
            .iter()
            .filter_map(|block| match block {
                Block::Text { text, .. } => Some(text.clone()),
                Block::Rule => Some("-".repeat(COLUMNS)),
                Block::Qr(_) | Block::Feed => None,
            })
            .collect()
    }
}

fn when(at: OffsetDateTime) -> String {
    crate::local_time::format_local(at)
}

/// How many columns `text` takes: Chinese (and every other non-ASCII) character is printed
/// twice as wide as a Latin one by ESC/POS printers' two-byte fonts.
pub fn display_width(text: &str) -> usize {
    text.chars().map(char_width).sum()
}

fn char_width(c: char) -> usize {
    if c.is_ascii() { 1 } else { 2 }
}

/// Splits `text` into lines of at most `width` columns, at spaces where it can.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut used = 0;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let word_width = display_width(word);
        if used > 0 && used + 1 + word_width <= width {
            line.push(' ');
            line.push_str(word);
            used += 1 + word_width;
            continue;
        }
        if used > 0 {
            lines.push(std::mem::take(&mut line));
            used = 0;
        }
        for c in word.chars() {
            let w = char_width(c);
            if used + w > width && used > 0 {
                lines.push(std::mem::take(&mut line));
                used = 0;
            }
            line.push(c);
            used += w;
        }
    }
    if used > 0 || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// Builds the blocks every receipt shares, top to bottom.
struct Layout<'a> {
    words: &'a text::Words,
    blocks: Vec<Block>,
}

impl<'a> Layout<'a> {
    fn new(header: &ReceiptHeader, words: &'a text::Words, title: &str, copy: bool) -> Layout<'a> {
        let mut layout = Layout {
            words,
            blocks: Vec::new(),
        };
        layout.text(ALIPAY_MARK, Style::centered(true, true));
        layout.text(&header.merchant, Style::centered(true, false));
        layout.text(&header.store, Style::centered(false, false));
        layout.pair(words.terminal, &header.terminal);
        layout.rule();
        layout.text(title, Style::centered(true, true));
        if copy {
            layout.text(words.copy, Style::centered(true, false));
        }
        layout.blocks.push(Block::Feed);
        layout
    }

    fn text(&mut self, text: &str, style: Style) {
        let width = if style.double { COLUMNS / 2 } else { COLUMNS };
        for line in wrap(text, width) {
            self.blocks.push(Block::Text { text: line, style });
        }
    }

    fn rule(&mut self) {
        self.blocks.push(Block::Rule);
    }

    /// `label` on the left and `value` on the right of one line, or on two lines when
    /// they do not fit together.
    fn pair(&mut self, label: &str, value: &str) {
        let used = display_width(label) + display_width(value);
        if used < COLUMNS {
            // Pushed as it is: `text` would wrap it, and wrapping folds the spaces.
            let gap = " ".repeat(COLUMNS - used);
            self.blocks.push(Block::Text {
                text: format!("{label}{gap}{value}"),
                style: Style::PLAIN,
            });
        } else {
            self.text(label, Style::PLAIN);
            self.text(
                value,
                Style {
                    align: Align::Right,
                    ..Style::PLAIN
                },
            );
        }
    }

    /// The amount: its label, then the amount itself large and bold.
    fn amount(&mut self, label: &str, amount: &str) {
        self.text(label, Style::PLAIN);
        self.text(
            amount,
            Style {
                bold: true,
                double: true,
                align: Align::Right,
            },
        );
    }

    /// An id on lines of its own (ids are longer than half a line).
    fn id(&mut self, label: &str, id: &str) {
        self.text(label, Style::PLAIN);
        self.text(
            id,
            Style {
                bold: true,
                ..Style::PLAIN
            },
        );
    }

    fn finish(mut self, qr: &str) -> Vec<Block> {
        self.blocks.push(Block::Feed);
        self.blocks.push(Block::Qr(qr.to_owned()));
        self.blocks.push(Block::Feed);
        self.text(self.words.paid_with, Style::centered(false, false));
        self.text(self.words.thanks, Style::centered(false, false));
        self.blocks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_wrap_by_columns_counting_chinese_twice() {
        assert_eq!(wrap("a bc def", 4), vec!["a bc", "def"]);
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        assert_eq!(wrap("支付宝支付", 4), vec!["支付", "宝支", "付"]);
        assert_eq!(wrap("", 4), vec![""]);
        assert_eq!(display_width("USD 1.00 美元"), 13);
    }
}
