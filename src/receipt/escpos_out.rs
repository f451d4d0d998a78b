//! A [`Receipt`] as ESC/POS commands, through the escpos crate: initialise, then per line
//! the alignment, emphasis and size and the text, the QR code rendered by the printer
//! (`GS ( k`, model 2, error correction M), a feed and a cut.
//!
//! Chinese: the text is encoded by the crate's `Encoder` (GB18030, GBK or UTF-8, `[printer]
//! encoding`), and a line with Chinese in it is wrapped in `FS &` ... `FS .`, the printer's
//! two-byte character mode, which the crate has no command for (`[printer] chinese_mode`;
//! printers differ, see the README). Lines of plain ASCII are sent as they are, so an
//! English receipt prints on any ESC/POS printer.

use escpos::driver::Driver;
use escpos::errors::Result as EscposResult;
use escpos::printer::Printer;
use escpos::utils::{
    Encoder, JustifyMode, Protocol, QRCodeCorrectionLevel, QRCodeModel, QRCodeOption,
};

use super::{Align, Block, COLUMNS, Receipt};
use crate::config::ReceiptEncoding;

/// `FS &`: select the two-byte (Chinese/Kanji) character mode.
pub const FS_CHINESE_ON: &[u8] = &[0x1C, 0x26];
/// `FS .`: cancel it.
pub const FS_CHINESE_OFF: &[u8] = &[0x1C, 0x2E];

/// Dots per QR module: about 0.75 mm at 203 dpi, which phone cameras and scanners read at
/// arm's length; an id of 64 characters stays under 40 mm wide.
pub const QR_MODULE_DOTS: u8 = 6;

/// How the printer wants its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EscposOptions {
    pub encoding: ReceiptEncoding,
    pub chinese_mode: bool,
}

impl EscposOptions {
    pub fn from_config(config: &crate::config::PrinterConfig) -> EscposOptions {
        EscposOptions {
            encoding: config.encoding,
            chinese_mode: config.chinese_mode,
        }
    }
}

impl Default for EscposOptions {
    fn default() -> Self {
        EscposOptions {
            encoding: ReceiptEncoding::Gb18030,
            chinese_mode: true,
        }
    }
}

fn codec(encoding: ReceiptEncoding) -> &'static encoding_rs::Encoding {
    match encoding {
        ReceiptEncoding::Gb18030 => encoding_rs::GB18030,
        ReceiptEncoding::Gbk => encoding_rs::GBK,
        ReceiptEncoding::Utf8 => encoding_rs::UTF_8,
    }
}

/// A printer on `driver` that encodes text as `options` say.
pub fn printer_on<D: Driver>(driver: D, options: EscposOptions) -> Printer<D> {
    // Characters GBK cannot encode come out as `&#NNNN;` rather than failing the receipt.
    let encoder = Encoder::new(codec(options.encoding)).allow_unencodable(true);
    Printer::new(driver, Protocol::new(encoder), None)
}

/// Queues `receipt` on `printer` and sends it, ending with a feed and a full cut.
pub fn print_receipt<D: Driver>(
    printer: &mut Printer<D>,
    receipt: &Receipt,
    options: EscposOptions,
) -> EscposResult<()> {
    printer.init()?;
    for block in &receipt.blocks {
        match block {
            Block::Text { text, style } => {
                printer.justify(match style.align {
                    Align::Left => JustifyMode::LEFT,
                    Align::Center => JustifyMode::CENTER,
                    Align::Right => JustifyMode::RIGHT,
                })?;
                printer.bold(style.bold)?;
                if style.double {
                    printer.size(2, 2)?;
                } else {
                    printer.reset_size()?;
                }
                write_text(printer, text, options)?;
                printer.feed()?;
            }
            Block::Rule => {
                printer.justify(JustifyMode::LEFT)?;
                printer.bold(false)?;
                printer.reset_size()?;
                printer.writeln(&"-".repeat(COLUMNS))?;
            }
            Block::Qr(payload) => {
                printer.justify(JustifyMode::CENTER)?;
                printer.qrcode_option(
                    payload,
                    QRCodeOption::new(
                        QRCodeModel::Model2,
                        QR_MODULE_DOTS,
                        QRCodeCorrectionLevel::M,
                    ),
                )?;
                printer.feed()?;
            }
            Block::Feed => {
                printer.feed()?;
            }
        }
    }
    printer.justify(JustifyMode::LEFT)?;
    printer.bold(false)?;
    printer.reset_size()?;
    printer.feeds(4)?;
    printer.print_cut()?;
    Ok(())
}

/// One line's text: in the two-byte mode when it holds anything but ASCII and the printer
/// wants the mode.
fn write_text<D: Driver>(
    printer: &mut Printer<D>,
    text: &str,
    options: EscposOptions,
) -> EscposResult<()> {
    if text.is_ascii() || !options.chinese_mode {
        printer.write(text)?;
    } else {
        printer.custom(FS_CHINESE_ON)?;
        printer.write(text)?;
        printer.custom(FS_CHINESE_OFF)?;
    }
    Ok(())
}
