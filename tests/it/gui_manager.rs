//! The manager screen through the real screens, headless (Slint's testing backend), on the
//! real engine with the embedded sandbox in a temporary folder: a paid sale, the PIN, the
//! transaction list and detail, a partial and then a full refund with reason and
//! confirmation (checked in the journal), end-of-day totals, the settings view (no
//! secrets), "resolve now"; then wrong PINs until the screen locks, and the right PIN
//! refused while it is locked. One test in this file: the testing backend's event loop
//! exists once per process.

use std::sync::Arc;

use crate::support::gui::{
    RunningGui, click, ctrl_alt_m, demo_config, has_button, labelled, value_of, wait_until,
};
use alipay_pos::admin::hash_pin;
use alipay_pos::gui::{Api, App, GuiOptions, Manager, Page, PinNotice, RefundStage};
use alipay_pos::journal::{PaymentRecord, PaymentState, RefundRecord, RefundState};
use alipay_pos::terminal::Terminal;
use i_slint_backend_testing::AccessibleRole;
use slint::platform::{Key, WindowEvent};
use slint::{ComponentHandle, Model};

const PIN: &str = "2468";

fn type_pin(app: &App, pin: &str) {
    for digit in pin.chars() {
        click(app, &digit.to_string());
    }
    click(app, "Open manager screen");
}

/// Taps the one tab or filter chip labelled `label`.
fn tap(app: &App, label: &str) {
    let found: Vec<_> = labelled(app, label)
        .into_iter()
        .filter(|e| {
            matches!(
                e.accessible_role(),
                Some(AccessibleRole::Tab | AccessibleRole::Checkbox)
            )
        })
        .collect();
    assert_eq!(found.len(), 1, "tabs or chips labelled {label:?}");
    found[0].invoke_accessible_default_action();
}

/// Types into the text field labelled `label`, as a screen reader would.
fn fill(app: &App, label: &str, text: &str) {
    let fields = labelled(app, label);
    assert!(!fields.is_empty(), "no field labelled {label:?}");
    fields[0].set_accessible_value(text);
}

async fn on_runtime<T: Send + 'static>(
    runtime: &tokio::runtime::Handle,
    terminal: &Arc<Terminal>,
    f: impl FnOnce(&mut alipay_pos::journal::Journal) -> Result<T, alipay_pos::journal::JournalError>
    + Send
    + 'static,
) -> T {
    let checkout = terminal.checkout.clone();
    runtime
        .spawn(async move { checkout.journal_for_tests(f).await.unwrap() })
        .await
        .unwrap()
}

async fn payments(
    runtime: &tokio::runtime::Handle,
    terminal: &Arc<Terminal>,
) -> Vec<PaymentRecord> {
    on_runtime(runtime, terminal, |j| j.list_payments(&Default::default())).await
}

async fn refunds(
    runtime: &tokio::runtime::Handle,
    terminal: &Arc<Terminal>,
    payment: &PaymentRecord,
) -> Vec<RefundRecord> {
    let id = payment.id;
    on_runtime(runtime, terminal, move |j| j.refunds_for(id)).await
}

#[test]
fn manager_refunds_with_the_pin_and_wrong_pins_lock_the_screen() {
    if crate::support::own_process::delegate(
        module_path!(),
        "manager_refunds_with_the_pin_and_wrong_pins_lock_the_screen",
    ) {
        return;
    }
    i_slint_backend_testing::init_integration_test_with_system_time();
    let dir = tempfile::tempdir().unwrap();
    let mut config = demo_config(dir.path());
    config.admin.pin_hash = Some(hash_pin(PIN).unwrap());
    config.admin.max_pin_attempts = 3;
    config.admin.lockout = std::time::Duration::from_secs(300);
    let hash = config.admin.pin_hash.clone().unwrap();
    let gui = RunningGui::start(&config, GuiOptions::default());

    let handle = gui.runtime.handle().clone();
    let terminal = gui.terminal.clone();
    let ui = gui.app.clone_strong();
    let client_id = config.alipay.client_id.clone();
    let script = async move {
        let app = ui;
        let api = app.global::<Api>();
        let manager = app.global::<Manager>();

        // A paid sale of USD 12.50 to refund.
        for key in ["1", "2", "Decimal point", "5", "0"] {
            click(&app, key);
        }
        click(&app, "Charge");
        wait_until("the QR screen", || api.get_page() == Page::CustomerQr).await;
        click(&app, "Simulate customer (demo)");
        wait_until("the paid result", || {
            value_of(&app, "Payment result").as_deref() == Some("Paid")
        })
        .await;
        // The manager is called to the counter with the result still on screen.
        let paid = payments(&handle, &terminal).await.remove(0);
        assert_eq!(paid.state, PaymentState::Paid);

        // The PIN opens the manager screen on today's payments.
        ctrl_alt_m(&app);
        assert_eq!(api.get_page(), Page::Pin);
        assert_eq!(value_of(&app, "PIN digits entered").as_deref(), Some("0"));
        type_pin(&app, PIN);
        wait_until("the manager screen", || api.get_page() == Page::Manager).await;
        assert!(
            !has_button(&app, "Leave kiosk mode"),
            "a cashier terminal has no kiosk to leave"
        );
        wait_until("today's payments", || {
            value_of(&app, "Transaction count").as_deref() == Some("1 payment")
        })
        .await;

        // Filters: a different amount finds nothing, a bad one says so, the id finds it.
        fill(&app, "Filter by amount", "99.00");
        click(&app, "Search");
        wait_until("no match", || {
            value_of(&app, "Transaction count").as_deref()
                == Some("No payments match these filters.")
        })
        .await;
        fill(&app, "Filter by amount", "12,5x");
        click(&app, "Search");
        assert_eq!(manager.get_transactions().row_count(), 0);
        fill(&app, "Filter by amount", "12.50");
        fill(&app, "Filter by id", &paid.payment_request_id[4..]);
        click(&app, "Search");
        wait_until("the payment by amount and id", || {
            value_of(&app, "Transaction count").as_deref() == Some("1 payment")
        })
        .await;
        tap(&app, "Refunded");
        wait_until("no refunded payment yet", || {
            manager.get_transactions().row_count() == 0 && !manager.get_loading()
        })
        .await;
        tap(&app, "All");
        wait_until("the list again", || {
            manager.get_transactions().row_count() == 1
        })
        .await;

        // The detail view, with its timeline.
        click(&app, &format!("Payment {}", paid.payment_request_id));
        wait_until("the detail view", || manager.get_detail_open()).await;
        assert_eq!(value_of(&app, "Payment state").as_deref(), Some("Paid"));
        assert_eq!(
            value_of(&app, "Payment amount").as_deref(),
            Some("USD 12.50")
        );
        assert!(
            manager.get_timeline().row_count() >= 3,
            "created, awaiting customer, paid"
        );
        assert_eq!(
            value_of(&app, "Alipay payment id").as_deref(),
            paid.payment_id.as_deref()
        );

        // A partial refund: checks first, then the confirmation, then Alipay's answer.
        fill(&app, "Refund amount", "20.00");
        fill(&app, "Refund reason", "Customer returned one item");
        click(&app, "Review refund");
        assert_eq!(
            value_of(&app, "Refund status").as_deref(),
            Some("That is more than is left to refund (USD 12.50).")
        );
        fill(&app, "Refund amount", "5.00");
        fill(&app, "Refund reason", "  ");
        click(&app, "Review refund");
        assert_eq!(manager.get_refund_stage(), RefundStage::Form);
        fill(&app, "Refund reason", "Customer returned one item");
        click(&app, "Review refund");
        assert_eq!(
            value_of(&app, "Refund confirmation").as_deref(),
            Some("Refund USD 5.00 to the customer? Reason: Customer returned one item")
        );
        assert!(
            refunds(&handle, &terminal, &paid).await.is_empty(),
            "nothing is sent before the confirmation"
        );
        click(&app, "Confirm refund");
        wait_until("the refund's answer", || {
            manager.get_refund_stage() == RefundStage::Done
        })
        .await;
        assert_eq!(
            value_of(&app, "Refund status").as_deref(),
            Some("Refunded USD 5.00. The money is on its way back to the customer.")
        );
        let first = refunds(&handle, &terminal, &paid).await;
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].state, RefundState::Succeeded);
        assert_eq!(first[0].amount.minor(), 500);
        assert_eq!(first[0].reason, "Customer returned one item");
        wait_until("the detail's refund list", || {
            manager.get_refunds().row_count() == 1
        })
        .await;
        assert_eq!(
            value_of(&app, "Left to refund").as_deref(),
            Some("USD 7.50")
        );

        // The rest: an empty amount refunds everything that is left.
        click(&app, "Refund done");
        fill(&app, "Refund reason", "Order cancelled");
        click(&app, "Review refund");
        assert_eq!(
            value_of(&app, "Refund confirmation").as_deref(),
            Some("Refund USD 7.50 to the customer? Reason: Order cancelled")
        );
        click(&app, "Confirm refund");
        wait_until("the second refund's answer", || {
            manager.get_refund_stage() == RefundStage::Done
        })
        .await;
        let all = refunds(&handle, &terminal, &paid).await;
        assert_eq!(all.len(), 2);
        assert!(all.iter().all(|r| r.state == RefundState::Succeeded));
        assert_eq!(all.iter().map(|r| r.amount.minor()).sum::<u64>(), 1250);
        wait_until("nothing left to refund", || {
            !manager.get_detail().can_refund && manager.get_refunds().row_count() == 2
        })
        .await;
        click(&app, "Refund done");
        assert!(
            labelled(&app, "Review refund").is_empty(),
            "no refund form for a fully refunded payment"
        );
        click(&app, "Back to the list");
        wait_until("the list", || !manager.get_detail_open()).await;

        // End of day: paid, refunded, net by currency.
        tap(&app, "End of day");
        wait_until("today's totals", || manager.get_totals().row_count() == 1).await;
        assert_eq!(
            value_of(&app, "Totals in USD").as_deref(),
            Some("Paid USD 12.50, refunded USD 12.50, net USD 0.00")
        );
        click(&app, "Previous day");
        wait_until("yesterday's totals", || {
            manager.get_totals().row_count() == 0
        })
        .await;
        click(&app, "Next day");
        wait_until("today's totals again", || {
            manager.get_totals().row_count() == 1
        })
        .await;

        // Settings: who we are, the keys as fingerprints, never a secret.
        tap(&app, "Settings");
        assert_eq!(
            value_of(&app, "Client id").as_deref(),
            Some(client_id.as_str())
        );
        let fingerprint = value_of(&app, "Merchant key fingerprint").unwrap();
        assert_eq!(fingerprint.len(), 64, "SHA-256 in hex: {fingerprint}");
        assert!(value_of(&app, "Sandbox notice").is_none() || api.get_sandbox());
        let settings = manager.get_settings();
        for value in [
            &settings.gateway,
            &settings.client_id,
            &settings.key_fingerprint,
            &settings.alipay_key_fingerprint,
            &settings.data_dir,
            &settings.config_file,
        ] {
            assert!(!value.contains("PRIVATE"), "{value}");
            assert!(!value.contains(hash.as_str()), "{value}");
        }

        // Unresolved: none, and "resolve now" says so.
        tap(&app, "Unresolved");
        click(&app, "Resolve now");
        wait_until("the resolver's pass", || manager.get_resolve_done()).await;
        assert_eq!(
            value_of(&app, "Resolve result").as_deref(),
            Some("0 settled, 0 still open.")
        );

        // Back to sales locks the screen again.
        click(&app, "Back to sales");
        assert_eq!(api.get_page(), Page::Cashier);
        assert_eq!(
            value_of(&app, "Amount entered").as_deref(),
            Some("0"),
            "the finished sale was closed when the manager came"
        );

        // Wrong PINs: two warnings, then the lockout refuses even the right PIN.
        ctrl_alt_m(&app);
        assert_eq!(api.get_page(), Page::Pin);
        for tries_left in [2, 1] {
            type_pin(&app, "1111");
            wait_until("the wrong-PIN answer", || {
                manager.get_pin_notice() == PinNotice::Wrong
                    && manager.get_pin_tries_left() == tries_left
            })
            .await;
            assert_eq!(
                value_of(&app, "PIN message").unwrap(),
                format!("Wrong PIN. {tries_left} tries left before the screen locks.")
            );
        }
        type_pin(&app, "1111");
        wait_until("the lockout", || {
            manager.get_pin_notice() == PinNotice::Locked
        })
        .await;
        assert!(manager.get_pin_seconds_left() > 290);
        let locked_digit = crate::support::gui::button(&app, "2");
        assert_eq!(
            locked_digit.accessible_enabled(),
            Some(false),
            "the keypad is off while locked"
        );
        // The keyboard still types, but the right PIN is refused unchecked while locked.
        for digit in PIN.chars() {
            app.window().dispatch_event(WindowEvent::KeyPressed {
                text: digit.to_string().into(),
            });
        }
        app.window().dispatch_event(WindowEvent::KeyPressed {
            text: Key::Return.into(),
        });
        assert_eq!(manager.get_pin_notice(), PinNotice::Locked);
        assert_eq!(api.get_page(), Page::Pin, "the manager screen stays closed");
        assert!(
            value_of(&app, "PIN message")
                .unwrap()
                .starts_with("Too many wrong PINs. Try again in ")
        );
        // Cancelling and coming back does not reset the lockout.
        click(&app, "Cancel");
        ctrl_alt_m(&app);
        assert_eq!(manager.get_pin_notice(), PinNotice::Locked);
    };
    gui.run(script);
}
