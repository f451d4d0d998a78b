//! Kiosk mode through the real screens, headless, on the real engine with the embedded
//! sandbox: an untouched order is cleared after the idle timeout (and the screen returns
//! to the kiosk's language); a paid order's result returns to the start by itself. The
//! timeouts are configured short; the test waits on conditions, never on fixed sleeps.

use std::time::Duration;

use crate::support::gui::{RunningGui, click, demo_config, has_button, value_of, wait_until};
use alipay_pos::gui::{Api, GuiOptions, Page};
use alipay_pos::journal::PaymentState;
use slint::{ComponentHandle, Model};

#[test]
fn kiosk_clears_an_idle_order_and_returns_after_a_result() {
    if crate::support::own_process::delegate(
        module_path!(),
        "kiosk_clears_an_idle_order_and_returns_after_a_result",
    ) {
        return;
    }
    i_slint_backend_testing::init_integration_test_with_system_time();
    let dir = tempfile::tempdir().unwrap();
    let config = demo_config(dir.path());
    let options = GuiOptions {
        kiosk: true,
        idle_timeout: Duration::from_millis(400),
        result_timeout: Duration::from_millis(1500),
        ..GuiOptions::default()
    };
    let gui = RunningGui::start(&config, options);

    let handle = gui.runtime.handle().clone();
    let terminal = gui.terminal.clone();
    let ui = gui.app.clone_strong();
    let script = async move {
        let app = ui;
        let api = app.global::<Api>();
        assert_eq!(api.get_page(), Page::Kiosk);
        assert!(
            !has_button(&app, "Charge"),
            "no cashier keypad in the kiosk"
        );

        // An order, then nobody touches the screen: it is cleared.
        click(&app, "Add Flat white");
        click(&app, "Add Flat white");
        click(&app, "Add Croissant");
        assert_eq!(value_of(&app, "Order total").as_deref(), Some("USD 12.80"));
        assert_eq!(api.get_cart().iter().count(), 2);
        click(&app, "Switch language");
        assert_eq!(api.get_language(), "zh_CN");
        wait_until("the idle reset", || api.get_cart().iter().count() == 0).await;
        assert_eq!(value_of(&app, "Order total").as_deref(), Some(""));
        assert_eq!(api.get_language(), "en", "back to the kiosk's language");
        assert_eq!(api.get_page(), Page::Kiosk);

        // A customer orders and pays; the result goes back to the start by itself.
        click(&app, "Add Green tea");
        click(&app, "Pay with Alipay");
        wait_until("the QR screen", || api.get_page() == Page::CustomerQr).await;
        assert_eq!(api.get_qr_amount(), "USD 3.20");
        click(&app, "Simulate customer (demo)");
        wait_until("the paid result", || {
            value_of(&app, "Payment result").as_deref() == Some("Paid")
        })
        .await;
        wait_until("the return to the start", || api.get_page() == Page::Kiosk).await;
        assert_eq!(
            api.get_cart().iter().count(),
            0,
            "the next customer starts empty"
        );

        let checkout = terminal.checkout.clone();
        let payments = handle
            .spawn(async move {
                checkout
                    .journal_for_tests(|j| j.list_payments(&Default::default()))
                    .await
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(payments.len(), 1);
        assert_eq!(payments[0].state, PaymentState::Paid);
        assert_eq!(payments[0].amount.minor(), 320);
        assert_eq!(payments[0].description, "1× Green tea");
    };
    gui.run(script);
}
