//! The cashier flow through the real screens, headless (Slint's testing backend), on the
//! real engine with the embedded sandbox in a temporary folder: type an amount on the
//! keypad (and the keyboard), Charge, the QR appears, the demo customer pays, "Paid"
//! appears and the journal holds the Paid row; then a second sale is cancelled from the
//! QR screen. One test in this file: the testing backend's event loop exists once per
//! process.

use crate::support::gui::{RunningGui, click, demo_config, journal_rows, value_of, wait_until};
use alipay_pos::gui::{Api, App, GuiOptions, Page};
use alipay_pos::journal::PaymentState;
use slint::ComponentHandle;
use slint::platform::{Key, WindowEvent};

fn press(app: &App, text: slint::SharedString) {
    app.window()
        .dispatch_event(WindowEvent::KeyPressed { text: text.clone() });
    app.window()
        .dispatch_event(WindowEvent::KeyReleased { text });
}

#[test]
fn cashier_charges_the_typed_amount_and_cancels_from_the_qr_screen() {
    if crate::support::own_process::delegate(
        module_path!(),
        "cashier_charges_the_typed_amount_and_cancels_from_the_qr_screen",
    ) {
        return;
    }
    i_slint_backend_testing::init_integration_test_with_system_time();
    let dir = tempfile::tempdir().unwrap();
    let config = demo_config(dir.path());
    let gui = RunningGui::start(&config, GuiOptions::default());

    let handle = gui.runtime.handle().clone();
    let terminal = gui.terminal.clone();
    let ui = gui.app.clone_strong();
    let script = async move {
        let app = ui;
        let api = app.global::<Api>();
        assert!(api.get_ready(), "the engine was handed over");
        assert!(api.get_sandbox(), "the SANDBOX banner is on");

        // Keypad: 1 2 . 5 0, then the keyboard: 7, Backspace, and a third decimal that
        // USD refuses.
        for key in ["1", "2", "Decimal point", "5", "0"] {
            click(&app, key);
        }
        assert_eq!(value_of(&app, "Amount entered").as_deref(), Some("12.50"));
        press(&app, "7".into());
        assert_eq!(
            value_of(&app, "Amount entered").as_deref(),
            Some("12.50"),
            "no third decimal"
        );
        press(&app, Key::Backspace.into());
        assert_eq!(value_of(&app, "Amount entered").as_deref(), Some("12.5"));
        // A typed key reaches the amount once it cannot be a scanner's burst (up to the
        // 100 ms scanner gap later).
        press(&app, "0".into());
        wait_until("the typed 0", || {
            value_of(&app, "Amount entered").as_deref() == Some("12.50")
        })
        .await;
        assert_eq!(api.get_charge_amount(), "USD 12.50");

        click(&app, "Charge");
        wait_until("the QR screen", || api.get_page() == Page::CustomerQr).await;
        assert_eq!(
            value_of(&app, "Amount to pay").as_deref(),
            Some("USD 12.50")
        );
        assert!(api.get_qr_code().size().width > 0, "the QR image is set");
        assert!(api.get_seconds_left() > 0, "the countdown runs");

        click(&app, "Simulate customer (demo)");
        wait_until("the paid result", || {
            value_of(&app, "Payment result").as_deref() == Some("Paid")
        })
        .await;
        let payments = journal_rows(&terminal, &handle).await;
        assert_eq!(payments.len(), 1);
        assert_eq!(payments[0].state, PaymentState::Paid);
        assert_eq!(payments[0].amount.minor(), 1250);
        assert_eq!(payments[0].amount.currency().code(), "USD");
        let alipay_id = payments[0].payment_id.clone().unwrap();
        assert_eq!(api.get_result_payment_id(), alipay_id.as_str());

        // A second sale, cancelled by the cashier while the code is on screen.
        click(&app, "New sale");
        assert_eq!(api.get_page(), Page::Cashier);
        assert_eq!(value_of(&app, "Amount entered").as_deref(), Some("0"));
        click(&app, "3");
        press(&app, Key::Return.into());
        wait_until("the second QR screen", || {
            api.get_page() == Page::CustomerQr
        })
        .await;
        click(&app, "Cancel payment");
        wait_until("the cancelled result", || {
            value_of(&app, "Payment result").as_deref() == Some("Payment cancelled")
        })
        .await;
        let payments = journal_rows(&terminal, &handle).await;
        assert_eq!(payments.len(), 2);
        let second = payments.iter().find(|p| p.amount.minor() == 300).unwrap();
        assert_eq!(second.state, PaymentState::Cancelled);
        assert_eq!(api.get_page(), Page::Result, "the QR screen is gone");
    };
    gui.run(script);
}
