//! Each payment's product on the manager screens, headless on the real engine: a
//! User-presented payment (the customer's code scanned, ending 0000: the sandbox's customer
//! who pays at once) and an Order Code payment still waiting for its customer. The list
//! names both products (and filters by product), the detail and the refund panel show the scanned code masked to its
//! last 4 digits, and End of day splits the paid money per product. One test in this file:
//! the testing backend's event loop exists once per process.

use crate::support::gui::{
    RunningGui, click, ctrl_alt_m, demo_config, labelled, value_of, wait_until,
};
use alipay_pos::admin::hash_pin;
use alipay_pos::checkout::{PaymentCode, PaymentIntent};
use alipay_pos::gui::{Api, GuiOptions, Manager, Page, TxProduct};
use alipay_pos::journal::{Actor, PaymentState};
use alipay_pos::money::{Currency, Money};
use i_slint_backend_testing::AccessibleRole;
use slint::{ComponentHandle, Model};

const PIN: &str = "8642";

#[test]
fn the_manager_screens_show_each_payments_product() {
    if crate::support::own_process::delegate(
        module_path!(),
        "the_manager_screens_show_each_payments_product",
    ) {
        return;
    }
    i_slint_backend_testing::init_integration_test_with_system_time();
    let dir = tempfile::tempdir().unwrap();
    let mut config = demo_config(dir.path());
    config.admin.pin_hash = Some(hash_pin(PIN).unwrap());
    let gui = RunningGui::start(&config, GuiOptions::default());
    let handle = gui.runtime.handle().clone();
    let terminal = gui.terminal.clone();
    let ui = gui.app.clone_strong();
    let script = async move {
        let app = ui;
        let api = app.global::<Api>();
        let manager = app.global::<Manager>();

        let checkout = terminal.checkout.clone();
        let (scanned, shown) = handle
            .spawn(async move {
                let usd = |text| Money::parse(text, Currency::USD).unwrap();
                let code = PaymentCode::parse("2800000000770000").unwrap();
                let (scanned, _) = checkout
                    .start_payment(PaymentIntent::user_presented(
                        usd("4.20"),
                        "Tea",
                        Actor::Cashier,
                        code,
                    ))
                    .await
                    .unwrap();
                let (shown, _) = checkout
                    .start_payment(PaymentIntent::order_code(
                        usd("9.00"),
                        "Cake",
                        Actor::Cashier,
                    ))
                    .await
                    .unwrap();
                (scanned, shown)
            })
            .await
            .unwrap();
        assert_eq!(
            scanned.state,
            PaymentState::Paid,
            "the 0000 customer pays at once"
        );

        ctrl_alt_m(&app);
        for digit in PIN.chars() {
            click(&app, &digit.to_string());
        }
        click(&app, "Open manager screen");
        wait_until("the manager screen", || api.get_page() == Page::Manager).await;
        wait_until("both payments", || {
            value_of(&app, "Transaction count").as_deref() == Some("2 payments")
        })
        .await;

        // The list: each row's product, the scanned one with its last 4 digits only.
        let rows: Vec<_> = manager.get_transactions().iter().collect();
        let row = |id: &str| rows.iter().find(|r| r.id == id).unwrap().clone();
        assert_eq!(
            row(&scanned.payment_request_id).product,
            TxProduct::UserPresented
        );
        assert_eq!(row(&scanned.payment_request_id).code_last4, "0000");
        assert_eq!(row(&shown.payment_request_id).product, TxProduct::OrderCode);
        assert_eq!(row(&shown.payment_request_id).code_last4, "");
        let described = |id: &str| {
            labelled(&app, &format!("Payment {id}"))
                .into_iter()
                .find(|e| e.accessible_role() == Some(AccessibleRole::Button))
                .and_then(|e| e.accessible_description())
                .map(|d| d.to_string())
                .unwrap_or_default()
        };
        assert_eq!(
            described(&scanned.payment_request_id),
            "USD 4.20 Paid Scanned code •••• 0000"
        );
        assert!(
            described(&shown.payment_request_id).ends_with(" QR code shown"),
            "{}",
            described(&shown.payment_request_id)
        );

        // The product filter: a chip per product; tapped again, every product shows.
        let chip = |label: &str| {
            let found: Vec<_> = labelled(&app, label)
                .into_iter()
                .filter(|e| e.accessible_role() == Some(AccessibleRole::Checkbox))
                .collect();
            assert_eq!(found.len(), 1, "chips labelled {label:?}");
            found[0].invoke_accessible_default_action();
        };
        chip("Only scanned codes");
        wait_until("only the scanned payment", || {
            value_of(&app, "Transaction count").as_deref() == Some("1 payment")
                && manager.get_transactions().row_count() == 1
        })
        .await;
        assert_eq!(
            manager.get_transactions().row_data(0).unwrap().id,
            scanned.payment_request_id.as_str()
        );
        chip("Only QR codes shown");
        wait_until("only the shown code's payment", || {
            manager.get_transactions().row_count() == 1
                && manager.get_transactions().row_data(0).unwrap().id
                    == shown.payment_request_id.as_str()
        })
        .await;
        chip("Only QR codes shown");
        wait_until("every product again", || {
            value_of(&app, "Transaction count").as_deref() == Some("2 payments")
        })
        .await;

        // The detail and its refund panel: the product and the masked code.
        click(&app, &format!("Payment {}", scanned.payment_request_id));
        wait_until("the detail view", || manager.get_detail_open()).await;
        assert_eq!(
            value_of(&app, "Payment method").as_deref(),
            Some("Scanned code")
        );
        assert_eq!(
            value_of(&app, "Customer's code").as_deref(),
            Some("•••• 0000")
        );
        assert_eq!(
            value_of(&app, "Refunded payment's product").as_deref(),
            Some("Paid with: Scanned code •••• 0000")
        );
        click(&app, "Back to the list");
        wait_until("the list", || !manager.get_detail_open()).await;
        click(&app, &format!("Payment {}", shown.payment_request_id));
        wait_until("the other detail", || {
            manager.get_detail_open() && manager.get_detail().id == shown.payment_request_id
        })
        .await;
        assert_eq!(
            value_of(&app, "Payment method").as_deref(),
            Some("QR code shown")
        );
        assert_eq!(
            value_of(&app, "Customer's code").unwrap_or_default(),
            "",
            "no customer code for a payment the customer scanned"
        );
        click(&app, "Back to the list");
        wait_until("the list again", || !manager.get_detail_open()).await;

        // End of day: only the paid one counts, under its product.
        let tab = labelled(&app, "End of day")
            .into_iter()
            .find(|e| e.accessible_role() == Some(AccessibleRole::Tab))
            .expect("the End of day tab");
        tab.invoke_accessible_default_action();
        wait_until("today's totals", || manager.get_totals().row_count() == 1).await;
        assert_eq!(
            value_of(&app, "Paid in USD by Scanned code").as_deref(),
            Some("USD 4.20")
        );
        assert_eq!(value_of(&app, "Paid in USD by QR code shown"), None);
        let totals = manager.get_totals().row_data(0).unwrap();
        assert_eq!(totals.by_product.row_count(), 1);
    };
    gui.run(script);
}
