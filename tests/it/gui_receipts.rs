//! Receipts through the real screens, headless (Slint's testing backend), on the real
//! engine with the embedded sandbox: Print on the paid result with the preview printer
//! writes the PNG (its QR read back by zbarimg), Reprint from the manager's detail writes a
//! COPY, a succeeded refund's receipt is printed; and a printer that does not answer is
//! shown to the cashier with what to do, while the sale stays paid and the next sale starts.
//! Each test runs in its own process (the testing backend's event loop exists once per
//! process).

use std::path::Path;
use std::time::Duration;

use crate::support::gui::{
    RunningGui, click, ctrl_alt_m, demo_config, has_button, journal_rows, labelled, value_of,
    wait_until,
};
use alipay_pos::admin::hash_pin;
use alipay_pos::config::{PrinterConfig, PrinterKind, ReceiptEncoding};
use alipay_pos::gui::{Api, App, GuiOptions, Manager, Page, PrintStatus, RefundStage};
use alipay_pos::journal::PaymentState;
use slint::ComponentHandle;

const PIN: &str = "2468";

fn printer(kind: PrinterKind) -> PrinterConfig {
    PrinterConfig {
        kind,
        language: None,
        encoding: ReceiptEncoding::Gb18030,
        chinese_mode: true,
        timeout: Duration::from_millis(1500),
    }
}

fn zbarimg(png: &Path) -> String {
    let output = std::process::Command::new("zbarimg")
        .args(["--raw", "-q"])
        .arg(png)
        .output()
        .expect("zbarimg (Debian zbar-tools) is installed");
    assert!(output.status.success(), "no code in {}", png.display());
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// A sale of USD 12.50 paid by the demo customer, up to the paid result.
async fn paid_sale(app: &App) {
    let api = app.global::<Api>();
    for key in ["1", "2", "Decimal point", "5", "0"] {
        click(app, key);
    }
    click(app, "Charge");
    wait_until("the QR screen", || api.get_page() == Page::CustomerQr).await;
    click(app, "Simulate customer (demo)");
    wait_until("the paid result", || {
        value_of(app, "Payment result").as_deref() == Some("Paid")
    })
    .await;
}

fn fill(app: &App, label: &str, text: &str) {
    let fields = labelled(app, label);
    assert!(!fields.is_empty(), "no field labelled {label:?}");
    fields[0].set_accessible_value(text);
}

#[test]
fn print_reprint_and_refund_receipts_on_the_preview_printer() {
    if crate::support::own_process::delegate(
        module_path!(),
        "print_reprint_and_refund_receipts_on_the_preview_printer",
    ) {
        return;
    }
    i_slint_backend_testing::init_integration_test_with_system_time();
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("receipts");
    let mut config = demo_config(dir.path());
    config.admin.pin_hash = Some(hash_pin(PIN).unwrap());
    config.printer = Some(printer(PrinterKind::Preview {
        folder: folder.clone(),
    }));
    let gui = RunningGui::start(&config, GuiOptions::default());
    let handle = gui.runtime.handle().clone();
    let terminal = gui.terminal.clone();
    let ui = gui.app.clone_strong();
    let script = async move {
        let app = ui;
        let api = app.global::<Api>();
        let manager = app.global::<Manager>();
        paid_sale(&app).await;
        let paid = journal_rows(&terminal, &handle).await.remove(0);
        let id = paid.payment_request_id.clone();

        // Print on the paid result: the preview printer writes <id>.png.
        assert!(api.get_printer_set());
        click(&app, "Print receipt");
        wait_until("the receipt saved", || {
            api.get_print_status() == PrintStatus::Saved
        })
        .await;
        let file = folder.join(format!("{id}.png"));
        assert_eq!(
            value_of(&app, "Printer status"),
            Some(format!("Receipt saved as {}", file.display()))
        );
        assert_eq!(zbarimg(&file), id);

        // Reprint from the manager's detail: a COPY.
        click(&app, "New sale");
        ctrl_alt_m(&app);
        for digit in PIN.chars() {
            click(&app, &digit.to_string());
        }
        click(&app, "Open manager screen");
        wait_until("the manager screen", || api.get_page() == Page::Manager).await;
        wait_until("today's payment", || {
            has_button(&app, &format!("Payment {id}"))
        })
        .await;
        click(&app, &format!("Payment {id}"));
        wait_until("the detail view", || manager.get_detail_open()).await;
        assert!(manager.get_printer_set());
        click(&app, "Reprint (copy)");
        wait_until("the copy saved", || {
            manager.get_reprint_status() == PrintStatus::Saved
        })
        .await;
        let copy = folder.join(format!("{id}-copy.png"));
        assert!(copy.exists(), "{}", copy.display());
        assert_eq!(zbarimg(&copy), id);

        // A refund, then its receipt.
        assert!(!has_button(&app, "Print refund receipt"), "no refund yet");
        fill(&app, "Refund amount", "2.00");
        fill(&app, "Refund reason", "One item returned");
        click(&app, "Review refund");
        click(&app, "Confirm refund");
        wait_until("the refund's answer", || {
            manager.get_refund_stage() == RefundStage::Done
        })
        .await;
        click(&app, "Print refund receipt");
        wait_until("the refund receipt saved", || {
            manager.get_reprint_status() == PrintStatus::Saved
        })
        .await;
        let refunds = {
            let checkout = terminal.checkout.clone();
            let payment = paid.id;
            handle
                .spawn(async move {
                    checkout
                        .journal_for_tests(move |j| j.refunds_for(payment))
                        .await
                        .unwrap()
                })
                .await
                .unwrap()
        };
        let refund_file = folder.join(format!("{}.png", refunds[0].refund_request_id));
        assert!(refund_file.exists(), "{}", refund_file.display());
        assert_eq!(zbarimg(&refund_file), id, "the QR names the payment");
    };
    gui.run(script);
}

#[test]
fn a_printer_that_does_not_answer_is_shown_and_the_sale_stays_paid() {
    if crate::support::own_process::delegate(
        module_path!(),
        "a_printer_that_does_not_answer_is_shown_and_the_sale_stays_paid",
    ) {
        return;
    }
    i_slint_backend_testing::init_integration_test_with_system_time();
    let dir = tempfile::tempdir().unwrap();
    let mut config = demo_config(dir.path());
    // A loopback port nothing listens on: bound, then let go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    config.printer = Some(printer(PrinterKind::Network {
        host: "127.0.0.1".into(),
        port,
    }));
    let gui = RunningGui::start(&config, GuiOptions::default());
    let handle = gui.runtime.handle().clone();
    let terminal = gui.terminal.clone();
    let ui = gui.app.clone_strong();
    let script = async move {
        let app = ui;
        let api = app.global::<Api>();
        paid_sale(&app).await;
        click(&app, "Print receipt");
        wait_until("the fault on screen", || {
            api.get_print_status() == PrintStatus::Offline
        })
        .await;
        let words = value_of(&app, "Printer status").unwrap_or_default();
        assert!(
            words.starts_with("The printer does not answer (")
                && words.ends_with(
                    "Check its power and cable, then press Print again. The payment is recorded."
                ),
            "{words}"
        );
        let rows = journal_rows(&terminal, &handle).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].state, PaymentState::Paid);
        // Print stays offered, and the next sale starts as always.
        assert!(has_button(&app, "Print receipt"));
        click(&app, "New sale");
        wait_until("the cashier screen", || api.get_page() == Page::Cashier).await;
        assert_eq!(
            api.get_print_status(),
            PrintStatus::Idle,
            "the next sale starts clean"
        );
    };
    gui.run(script);
}

#[test]
fn a_kiosk_prints_the_paid_receipt_by_itself_once() {
    if crate::support::own_process::delegate(
        module_path!(),
        "a_kiosk_prints_the_paid_receipt_by_itself_once",
    ) {
        return;
    }
    i_slint_backend_testing::init_integration_test_with_system_time();
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("receipts");
    let mut config = demo_config(dir.path());
    config.printer = Some(PrinterConfig {
        // The kiosk's receipts are in Chinese whatever the screen speaks.
        language: Some(alipay_pos::locale::Locale::SimplifiedChinese),
        ..printer(PrinterKind::Preview {
            folder: folder.clone(),
        })
    });
    let options = GuiOptions {
        kiosk: true,
        ..GuiOptions::default()
    };
    let gui = RunningGui::start(&config, options);
    let handle = gui.runtime.handle().clone();
    let terminal = gui.terminal.clone();
    let ui = gui.app.clone_strong();
    let script = async move {
        let app = ui;
        let api = app.global::<Api>();
        click(&app, "Add Flat white");
        click(&app, "Pay with Alipay");
        wait_until("the QR screen", || api.get_page() == Page::CustomerQr).await;
        click(&app, "Simulate customer (demo)");
        wait_until("the paid result", || {
            value_of(&app, "Payment result").as_deref() == Some("Paid")
        })
        .await;
        wait_until("the receipt printed by itself", || {
            api.get_print_status() == PrintStatus::Saved
        })
        .await;
        let id = journal_rows(&terminal, &handle)
            .await
            .remove(0)
            .payment_request_id;
        let file = folder.join(format!("{id}.png"));
        assert_eq!(zbarimg(&file), id);
        let printed: Vec<_> = std::fs::read_dir(&folder).unwrap().collect();
        assert_eq!(
            printed.len(),
            1,
            "printed once, however often the screen is drawn"
        );
    };
    gui.run(script);
}
