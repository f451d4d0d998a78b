//! Receipts (issue 15 §5): the ESC/POS bytes of a sale, a reprint and a refund, decoded by
//! the test decoder (tests/it/support/escpos_decoder.rs); a network printer on real
//! loopback that answers `DLE EOT` with paper, without paper, with its cover open, or is not
//! there at all; and the preview printer's PNG, whose QR code zbarimg reads back. The
//! records come from a real journal file, and the sale stays paid whatever the printer does.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use alipay_pos::config::{PrinterConfig, PrinterKind, ReceiptEncoding};
use alipay_pos::journal::{
    Actor, Journal, NewPayment, NewRefund, PaymentRecord, PaymentState, PaymentUpdate, Product,
    Reader, RefundRecord, RefundState, RefundUpdate,
};
use alipay_pos::locale::Locale;
use alipay_pos::money::{Currency, Money};
use alipay_pos::receipt::capture::CaptureDriver;
use alipay_pos::receipt::escpos_out::{EscposOptions, FS_CHINESE_ON, print_receipt, printer_on};
use alipay_pos::receipt::{PrintFault, Printed, Receipt, ReceiptHeader, print};
use tempfile::TempDir;
use time::macros::datetime;

use crate::support::escpos_decoder::{Decoded, decode};

const PAYMENT_ID: &str = "P-1764590000-T01-ABCDEF012345";
const REFUND_ID: &str = "R-1764590100-T01-FEDCBA543210";
/// What a wallet told Alipay and Alipay passed on: never on a receipt.
const ISSUER: &str = "AlipayHK";
const WALLET_AMOUNT: &str = "96.50";

fn header() -> ReceiptHeader {
    ReceiptHeader {
        merchant: "Demo Cafe".into(),
        store: "Demo Cafe Central".into(),
        terminal: "T-01".into(),
    }
}

/// A journal file with one paid payment whose Alipay texts name the wallet's issuer and the
/// amount in the wallet's currency, and one succeeded refund of part of it.
struct Books {
    dir: TempDir,
    payment: PaymentRecord,
    refund: RefundRecord,
}

fn books() -> Books {
    let dir = TempDir::new().unwrap();
    let mut journal = Journal::open_in(dir.path()).unwrap();
    let created = journal
        .create_payment(
            NewPayment {
                payment_request_id: PAYMENT_ID.into(),
                order_ref: "order-1".into(),
                amount: Money::parse("12.50", Currency::USD).unwrap(),
                description: "Coffee".into(),
                operator: "cashier-1".into(),
                product: Product::OrderCode,
                customer_code: None,
            },
            Actor::Cashier,
        )
        .unwrap();
    let payment = journal
        .transition_payment(
            created.id,
            PaymentState::Paid,
            Actor::System,
            &format!("paid in {ISSUER}: HKD {WALLET_AMOUNT}"),
            PaymentUpdate {
                payment_id: Some("2025120111000000001".into()),
                paid_at: Some(datetime!(2025-12-01 12:34:56 UTC)),
                result_code: Some("SUCCESS".into()),
                result_message: Some(format!("{ISSUER} HKD {WALLET_AMOUNT}")),
                ..PaymentUpdate::default()
            },
        )
        .unwrap();
    journal
        .append_event(
            payment.id,
            Actor::System,
            &format!("pspName={ISSUER} paymentQuote HKD {WALLET_AMOUNT}"),
        )
        .unwrap();
    let refund = journal
        .create_refund(
            NewRefund {
                refund_request_id: REFUND_ID.into(),
                payment: payment.id,
                amount: Money::parse("2.50", Currency::USD).unwrap(),
                reason: "one item returned".into(),
                manager: "manager".into(),
            },
            Actor::Manager,
        )
        .unwrap();
    let refund = journal
        .transition_refund(
            refund.id,
            RefundState::Succeeded,
            Actor::System,
            "",
            RefundUpdate {
                refund_id: Some("R20251201000001".into()),
                refunded_at: Some(datetime!(2025-12-01 13:00:01 UTC)),
                ..RefundUpdate::default()
            },
        )
        .unwrap();
    Books {
        dir,
        payment,
        refund,
    }
}

impl Books {
    /// The payment as the journal file holds it now, read by a fresh reader.
    fn state_now(&self) -> PaymentState {
        let reader = Reader::open_in(self.dir.path()).unwrap();
        reader
            .payment_detail(PAYMENT_ID)
            .unwrap()
            .unwrap()
            .payment
            .state
    }
}

fn escpos_bytes(receipt: &Receipt, options: EscposOptions) -> Vec<u8> {
    let driver = CaptureDriver::new();
    let mut printer = printer_on(driver.clone(), options);
    print_receipt(&mut printer, receipt, options).unwrap();
    driver.bytes()
}

fn decoded(receipt: &Receipt) -> Decoded {
    let decoded = decode(
        &escpos_bytes(receipt, EscposOptions::default()),
        encoding_rs::GB18030,
        true,
    );
    assert!(decoded.errors.is_empty(), "{:?}", decoded.errors);
    decoded
}

fn assert_nothing_of_the_wallet(decoded: &Decoded) {
    let all = decoded.joined();
    assert!(!all.contains(ISSUER), "{all}");
    assert!(!all.contains(WALLET_AMOUNT), "{all}");
    assert!(!all.contains("HKD"), "{all}");
    for qr in &decoded.qr_codes {
        assert!(!qr.contains(ISSUER) && !qr.contains(WALLET_AMOUNT), "{qr}");
    }
}

#[test]
fn a_sale_receipt_shows_what_alipay_asks_for_and_nothing_of_the_wallet() {
    let books = books();
    let receipt = Receipt::sale(&books.payment, &header(), Locale::English, false).unwrap();
    let decoded = decoded(&receipt);
    assert!(decoded.initialised, "ESC @ first");
    assert_eq!(decoded.cuts, 1);
    let texts = decoded.texts();
    let mark = decoded.line("Alipay 支付宝").expect("the Alipay mark");
    assert!(mark.bold && mark.double && mark.align == 1, "{mark:?}");
    assert!(mark.chinese_mode, "its Chinese is sent in the Chinese mode");
    assert!(texts.contains(&"Demo Cafe".to_string()), "{texts:?}");
    assert!(
        texts.contains(&"Demo Cafe Central".to_string()),
        "{texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("Terminal") && t.ends_with("T-01")),
        "{texts:?}"
    );
    let sale = decoded.line("SALE").expect("SALE");
    assert!(sale.double);
    // Local date and time to the second.
    let time = alipay_pos::local_time::format_local(datetime!(2025-12-01 12:34:56 UTC));
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("Time") && t.ends_with(&time)),
        "{texts:?}"
    );
    let amount = decoded.line("USD 12.50").expect("the amount");
    assert!(
        amount.bold && amount.double && amount.align == 2,
        "{amount:?}"
    );
    let all = decoded.joined();
    assert!(all.contains(PAYMENT_ID), "{all}");
    assert!(all.contains("2025120111000000001"), "{all}");
    assert_eq!(decoded.qr_codes, [PAYMENT_ID]);
    assert!(!all.contains("COPY") && !all.contains("REFUND"), "{all}");
    assert_nothing_of_the_wallet(&decoded);
    // Every line fits 32 columns (double-size ones 16).
    for line in &decoded.lines {
        let limit = if line.double { 16 } else { 32 };
        assert!(
            alipay_pos::receipt::display_width(&line.text) <= limit,
            "{line:?}"
        );
    }
}

#[test]
fn a_reprint_says_copy_and_a_refund_says_refund() {
    let books = books();
    let copy = Receipt::sale(&books.payment, &header(), Locale::English, true).unwrap();
    let decoded_copy = decoded(&copy);
    assert!(
        decoded_copy.line("*** COPY ***").is_some_and(|l| l.bold),
        "{:?}",
        decoded_copy.texts()
    );
    assert_eq!(decoded_copy.qr_codes, [PAYMENT_ID]);
    assert_eq!(copy.file_stem(), format!("{PAYMENT_ID}-copy"));

    let refund = Receipt::refund(
        &books.payment,
        &books.refund,
        &header(),
        Locale::English,
        false,
    )
    .unwrap();
    let decoded_refund = decoded(&refund);
    assert!(
        decoded_refund.line("REFUND").is_some_and(|l| l.double),
        "{:?}",
        decoded_refund.texts()
    );
    assert!(
        decoded_refund.line("USD 2.50").is_some(),
        "the refunded amount"
    );
    let all = decoded_refund.joined();
    assert!(all.contains(REFUND_ID) && all.contains(PAYMENT_ID), "{all}");
    assert!(!all.contains("SALE") && !all.contains("COPY"), "{all}");
    assert_eq!(decoded_refund.qr_codes, [PAYMENT_ID]);
    assert_eq!(refund.file_stem(), REFUND_ID);
    assert_nothing_of_the_wallet(&decoded_refund);

    // Only what happened has a receipt.
    let mut unpaid = books.payment.clone();
    unpaid.state = PaymentState::Unresolved;
    assert!(Receipt::sale(&unpaid, &header(), Locale::English, false).is_err());
    let mut open_refund = books.refund.clone();
    open_refund.state = RefundState::Requested;
    assert!(
        Receipt::refund(
            &books.payment,
            &open_refund,
            &header(),
            Locale::English,
            false
        )
        .is_err()
    );
}

#[test]
fn a_chinese_receipt_is_gb18030_inside_the_chinese_mode() {
    let books = books();
    let receipt =
        Receipt::sale(&books.payment, &header(), Locale::SimplifiedChinese, false).unwrap();
    let bytes = escpos_bytes(&receipt, EscposOptions::default());
    let (gb, _, _) = encoding_rs::GB18030.encode("支付宝");
    let mut wrapped = FS_CHINESE_ON.to_vec();
    wrapped.extend_from_slice(b"Alipay ");
    wrapped.extend_from_slice(&gb);
    assert!(
        bytes
            .windows(wrapped.len())
            .any(|w| w == wrapped.as_slice()),
        "FS & then the GB18030 bytes"
    );
    let decoded = decode(&bytes, encoding_rs::GB18030, true);
    assert!(
        decoded.errors.is_empty(),
        "no Chinese outside FS & ... FS .: {:?}",
        decoded.errors
    );
    let texts = decoded.texts();
    assert!(
        decoded.line("消费 SALE").is_some_and(|l| l.chinese_mode),
        "{texts:?}"
    );
    assert!(decoded.line("12.50 美元").is_some(), "{texts:?}");
    assert!(texts.iter().any(|t| t.starts_with("终端")), "{texts:?}");
    assert!(texts.contains(&"谢谢惠顾".to_string()), "{texts:?}");
    assert_eq!(decoded.qr_codes, [PAYMENT_ID]);
    assert_nothing_of_the_wallet(&decoded);

    // A printer that takes UTF-8 without the mode gets no FS &.
    let utf8 = EscposOptions {
        encoding: ReceiptEncoding::Utf8,
        chinese_mode: false,
    };
    let bytes = escpos_bytes(&receipt, utf8);
    assert!(!bytes.windows(2).any(|w| w == FS_CHINESE_ON));
    let decoded = decode(&bytes, encoding_rs::UTF_8, false);
    assert!(decoded.errors.is_empty(), "{:?}", decoded.errors);
    assert!(decoded.line("消费 SALE").is_some());
}

// ---------------------------------------------------------------------------------------
// A network printer on loopback.

/// A printer on 127.0.0.1 that records what it is sent and answers `DLE EOT n` with
/// `answers[n]`.
struct FakePrinter {
    address: SocketAddr,
    received: Arc<(Mutex<Vec<u8>>, Condvar)>,
}

impl FakePrinter {
    fn start(answers: HashMap<u8, u8>) -> FakePrinter {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let received = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let shared = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let shared = shared.clone();
                let answers = answers.clone();
                std::thread::spawn(move || {
                    let mut mine = Vec::new();
                    let mut scanned = 0;
                    let mut chunk = [0u8; 4096];
                    loop {
                        let n = match stream.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        mine.extend_from_slice(&chunk[..n]);
                        while scanned + 3 <= mine.len() {
                            if mine[scanned] == 0x10 && mine[scanned + 1] == 0x04 {
                                if let Some(answer) = answers.get(&mine[scanned + 2]) {
                                    let _ = stream.write_all(&[*answer]);
                                }
                                scanned += 3;
                            } else {
                                scanned += 1;
                            }
                        }
                        let (lock, wake) = &*shared;
                        lock.lock().unwrap().extend_from_slice(&chunk[..n]);
                        wake.notify_all();
                    }
                });
            }
        });
        FakePrinter { address, received }
    }

    fn config(&self) -> PrinterConfig {
        network_config(self.address.port())
    }

    /// Waits (up to 10 s) until the printer was sent a cut, and returns what it got.
    fn wait_for_cut(&self) -> Vec<u8> {
        let (lock, wake) = &*self.received;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut bytes = lock.lock().unwrap();
        while !bytes.windows(3).any(|w| w == [0x1D, b'V', b'A']) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no cut arrived: {} bytes", bytes.len());
            bytes = wake.wait_timeout(bytes, left).unwrap().0;
        }
        bytes.clone()
    }

    fn received(&self) -> Vec<u8> {
        self.received.0.lock().unwrap().clone()
    }
}

fn network_config(port: u16) -> PrinterConfig {
    PrinterConfig {
        kind: PrinterKind::Network {
            host: "127.0.0.1".into(),
            port,
        },
        language: None,
        encoding: ReceiptEncoding::Gb18030,
        chinese_mode: true,
        timeout: Duration::from_millis(2000),
    }
}

/// DLE EOT answers: `0x12` is "nothing to report" for n = 2 and 4 (fixed bits only).
fn status(offline_cause: u8, paper: u8) -> HashMap<u8, u8> {
    HashMap::from([(2, offline_cause), (4, paper)])
}

#[test]
fn a_network_printer_with_paper_prints_the_receipt() {
    let books = books();
    let printer = FakePrinter::start(status(0x12, 0x12));
    let receipt = Receipt::sale(&books.payment, &header(), Locale::English, false).unwrap();
    assert_eq!(print(&printer.config(), &receipt), Ok(Printed::Paper));
    let decoded = decode(&printer.wait_for_cut(), encoding_rs::GB18030, true);
    assert!(decoded.errors.is_empty(), "{:?}", decoded.errors);
    assert_eq!(decoded.status_requests, [2, 4], "asked before printing");
    assert_eq!(decoded.qr_codes, [PAYMENT_ID]);
    assert!(decoded.line("SALE").is_some());
    assert_eq!(books.state_now(), PaymentState::Paid);
}

#[test]
fn a_printer_out_of_paper_or_open_is_reported_and_gets_no_receipt() {
    let books = books();
    let receipt = Receipt::sale(&books.payment, &header(), Locale::English, false).unwrap();
    for (answers, fault) in [
        // Offline cause: bit 5, printing stopped by the paper end.
        (status(0x12 | 0x20, 0x12 | 0x60), PrintFault::PaperOut),
        // The cause is fine but the roll sensor says no paper.
        (status(0x12, 0x12 | 0x60), PrintFault::PaperOut),
        // Offline cause: bit 2, the cover is open.
        (status(0x12 | 0x04, 0x12), PrintFault::CoverOpen),
        // Offline cause: bit 6, an error (cutter jam).
        (status(0x12 | 0x40, 0x12), PrintFault::PrinterError),
    ] {
        let printer = FakePrinter::start(answers);
        assert_eq!(print(&printer.config(), &receipt), Err(fault.clone()));
        let decoded = decode(&printer.received(), encoding_rs::GB18030, true);
        assert!(
            decoded.lines.is_empty() && decoded.cuts == 0,
            "{fault:?}: nothing printed"
        );
        assert!(!fault.message(Locale::English).is_empty());
        assert!(fault.message(Locale::SimplifiedChinese).contains("打印"));
        assert_eq!(books.state_now(), PaymentState::Paid, "{fault:?}");
    }
    let words = PrintFault::PaperOut.message(Locale::English);
    assert!(
        words.contains("Load") && words.contains("Print again"),
        "{words}"
    );
}

#[test]
fn nothing_listening_is_offline_and_the_sale_stays_paid() {
    let books = books();
    // A port that was just free: bound, then let go.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let receipt = Receipt::sale(&books.payment, &header(), Locale::English, false).unwrap();
    let started = Instant::now();
    let result = print(&network_config(port), &receipt);
    assert!(matches!(&result, Err(PrintFault::Offline(_))), "{result:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "within the timeout"
    );
    let words = result.unwrap_err().message(Locale::English);
    assert!(words.contains("power and cable"), "{words}");
    assert_eq!(books.state_now(), PaymentState::Paid);

    // A USB printer that is not plugged in is offline too.
    let usb = PrinterConfig {
        kind: PrinterKind::Usb {
            device: books.dir.path().join("no-such-lp0"),
        },
        ..network_config(port)
    };
    assert!(matches!(print(&usb, &receipt), Err(PrintFault::Offline(_))));
}

#[test]
fn a_usb_device_file_gets_the_same_bytes() {
    let books = books();
    let device = books.dir.path().join("lp0");
    std::fs::write(&device, b"").unwrap();
    let config = PrinterConfig {
        kind: PrinterKind::Usb {
            device: device.clone(),
        },
        ..network_config(9100)
    };
    let receipt = Receipt::sale(&books.payment, &header(), Locale::English, false).unwrap();
    assert_eq!(print(&config, &receipt), Ok(Printed::Paper));
    let decoded = decode(&std::fs::read(&device).unwrap(), encoding_rs::GB18030, true);
    assert!(
        decoded.status_requests.is_empty(),
        "a device file is not asked"
    );
    assert_eq!(decoded.qr_codes, [PAYMENT_ID]);
}

// ---------------------------------------------------------------------------------------
// The preview printer.

fn zbarimg(png: &Path) -> String {
    let output = std::process::Command::new("zbarimg")
        .args(["--raw", "-q"])
        .arg(png)
        .output()
        .expect("zbarimg (Debian zbar-tools) is installed");
    assert!(
        output.status.success(),
        "zbarimg found no code in {}",
        png.display()
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[test]
fn the_preview_png_holds_a_qr_code_of_the_request_id() {
    let books = books();
    let folder = books.dir.path().join("receipts");
    let config = PrinterConfig {
        kind: PrinterKind::Preview {
            folder: folder.clone(),
        },
        ..network_config(9100)
    };
    for (locale, copy) in [(Locale::English, false), (Locale::SimplifiedChinese, true)] {
        let receipt = Receipt::sale(&books.payment, &header(), locale, copy).unwrap();
        let Ok(Printed::Preview(path)) = print(&config, &receipt) else {
            panic!("the preview printer wrote no file");
        };
        let name = if copy {
            format!("{PAYMENT_ID}-copy.png")
        } else {
            format!("{PAYMENT_ID}.png")
        };
        assert_eq!(path, folder.join(name));
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        assert_eq!(zbarimg(&path), PAYMENT_ID);
    }
    let refund = Receipt::refund(
        &books.payment,
        &books.refund,
        &header(),
        Locale::English,
        false,
    )
    .unwrap();
    let Ok(Printed::Preview(path)) = print(&config, &refund) else {
        panic!("no refund picture");
    };
    assert_eq!(path, folder.join(format!("{REFUND_ID}.png")));
    assert_eq!(zbarimg(&path), PAYMENT_ID);
    assert_eq!(books.state_now(), PaymentState::Paid);
}
