//! User-presented payments through the real screens, headless (Slint's testing backend), on
//! the real engine and the embedded sandbox: a keyboard-wedge scanner's burst starts a
//! payment while the same digits typed slowly go into the amount; each demo customer (0000
//! paid at once, 1111 confirms or declines in the wallet, 2222 balance, 3333 expired code);
//! Cancel while the customer confirms; the code typed by hand; a scan into the description;
//! and the kiosk's "Scan your payment code". Each test runs in its own process (the testing
//! backend's event loop exists once per process).

use std::sync::Arc;

use crate::support::gui::{
    RunningGui, click, demo_config, journal_rows, pause, value_of, wait_until,
};
use alipay_pos::gui::{Api, App, FailReason, GuiOptions, Notice, Page, ResultKind};
use alipay_pos::journal::{PaymentState, Product};
use alipay_pos::terminal::Terminal;
use slint::ComponentHandle;
use slint::platform::{Key, WindowEvent};

fn press(app: &App, text: slint::SharedString) {
    app.window()
        .dispatch_event(WindowEvent::KeyPressed { text: text.clone() });
    app.window()
        .dispatch_event(WindowEvent::KeyReleased { text });
}

/// A scanner's burst: every digit and Enter back to back (far under 100 ms apart).
fn scan(app: &App, code: &str) {
    for digit in code.chars() {
        press(app, digit.to_string().into());
    }
    press(app, Key::Return.into());
}

/// A person typing: 150 ms between keys (above the 100 ms scanner gap).
async fn type_slowly(app: &App, text: &str) {
    for key in text.chars() {
        press(app, key.to_string().into());
        pause(150).await;
    }
    // The last key is released by the detector once its gap has passed.
    pause(150).await;
}

fn code(n: u32, ending: &str) -> String {
    format!("28{n:012}{ending}")
}

/// The sandbox's control endpoint (its HTTP client belongs to the engine's runtime).
fn control_of(
    terminal: &Arc<Terminal>,
    runtime: &tokio::runtime::Handle,
) -> crate::support::Control {
    let _entered = runtime.enter();
    crate::support::Control::of(terminal)
}

/// Makes the sandbox refuse every `pay` with `code` (signed `F`, nothing processed), or
/// stop refusing.
async fn set_refusal(
    control: &crate::support::Control,
    runtime: &tokio::runtime::Handle,
    code: Option<&str>,
) {
    let control = control.clone();
    let code = code.map(str::to_owned);
    runtime
        .spawn(async move {
            match code {
                Some(code) => {
                    control
                        .set_faults(serde_json::json!({ "refuse_with": code, "apis": ["pay"] }))
                        .await
                }
                None => control.clear_faults().await,
            }
        })
        .await
        .unwrap();
}

async fn new_sale(app: &App) {
    let api = app.global::<Api>();
    click(app, "New sale");
    wait_until("the cashier page", || api.get_page() == Page::Cashier).await;
}

/// Types `amount` slowly, then scans `code`; returns once the result page shows.
async fn scanned_sale(app: &App, amount: &str, code: &str) {
    type_slowly(app, amount).await;
    assert_eq!(value_of(app, "Amount entered").as_deref(), Some(amount));
    scan(app, code);
    // Nothing of the scan reached the amount, not even for a moment.
    assert_eq!(value_of(app, "Amount entered").as_deref(), Some(amount));
}

#[test]
fn a_scanned_code_pays_and_each_customer_gets_its_words() {
    if crate::support::own_process::delegate(
        module_path!(),
        "a_scanned_code_pays_and_each_customer_gets_its_words",
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

        // 0000: paid by the `pay` answer.
        scanned_sale(&app, "8.80", &code(1, "0000")).await;
        wait_until("Paid", || api.get_page() == Page::Result).await;
        assert_eq!(api.get_result_kind(), ResultKind::Paid);
        let rows = journal_rows(&terminal, &handle).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].product, Product::UserPresented);
        assert_eq!(rows[0].amount.minor(), 880);
        assert_eq!(rows[0].customer_code_last4.as_deref(), Some("0000"));
        new_sale(&app).await;

        // 1111: the customer confirms in the wallet (the demo button plays the customer).
        scanned_sale(&app, "4.20", &code(2, "1111")).await;
        wait_until("the confirming page", || api.get_page() == Page::Confirming).await;
        assert_eq!(
            value_of(&app, "Customer's code").as_deref(),
            Some("•••• 1111")
        );
        assert_eq!(value_of(&app, "Amount to pay").as_deref(), Some("USD 4.20"));
        click(&app, "Customer confirms (demo)");
        wait_until("Paid after the confirmation", || {
            api.get_page() == Page::Result
        })
        .await;
        assert_eq!(api.get_result_kind(), ResultKind::Paid);
        new_sale(&app).await;

        // Each refusal, in its own words.
        for (n, ending, reason) in [
            (3, "2222", FailReason::Balance),
            (4, "3333", FailReason::CodeExpired),
        ] {
            scanned_sale(&app, "2.00", &code(n, ending)).await;
            wait_until("the refusal", || api.get_page() == Page::Result).await;
            assert_eq!(api.get_result_kind(), ResultKind::Failed, "{ending}");
            assert_eq!(api.get_fail_reason(), reason, "{ending}");
            new_sale(&app).await;
        }
        scanned_sale(&app, "2.10", &code(5, "1111")).await;
        wait_until("the confirming page", || api.get_page() == Page::Confirming).await;
        click(&app, "Customer declines (demo)");
        wait_until("the refusal", || api.get_page() == Page::Result).await;
        assert_eq!(api.get_result_kind(), ResultKind::Failed);
        assert_eq!(api.get_fail_reason(), FailReason::NotConfirmed);
        new_sale(&app).await;

        // Cancel while the customer confirms: the engine cancels at Alipay.
        scanned_sale(&app, "2.20", &code(6, "1111")).await;
        wait_until("the confirming page", || api.get_page() == Page::Confirming).await;
        click(&app, "Cancel payment");
        wait_until("Cancelled", || api.get_page() == Page::Result).await;
        assert_eq!(api.get_result_kind(), ResultKind::Cancelled);
        new_sale(&app).await;

        // The refusals the sandbox's customers do not play, as Alipay would answer them.
        let control = control_of(&terminal, &handle);
        for (n, code_name, reason) in [
            (7, "INVALID_PAYMENT_CODE", FailReason::InvalidCode),
            (8, "USER_AMOUNT_EXCEED_LIMIT", FailReason::CustomerLimit),
            (9, "USER_STATUS_ABNORMAL", FailReason::AccountRestricted),
            (10, "USER_KYC_NOT_QUALIFIED", FailReason::NotVerified),
        ] {
            set_refusal(&control, &handle, Some(code_name)).await;
            scanned_sale(&app, "2.30", &code(n, "0000")).await;
            wait_until("the refusal", || api.get_page() == Page::Result).await;
            assert_eq!(api.get_result_kind(), ResultKind::Failed, "{code_name}");
            assert_eq!(api.get_fail_reason(), reason, "{code_name}");
            assert_eq!(api.get_result_code(), code_name);
            new_sale(&app).await;
        }
        set_refusal(&control, &handle, None).await;

        // Not a payment code: refused on screen before any request.
        let before = journal_rows(&terminal, &handle).await.len();
        type_slowly(&app, "3").await;
        scan(&app, "4000123412341234");
        assert_eq!(api.get_notice(), Notice::BadCode);
        assert_eq!(api.get_page(), Page::Cashier);
        assert_eq!(value_of(&app, "Amount entered").as_deref(), Some("3"));
        assert_eq!(journal_rows(&terminal, &handle).await.len(), before);

        let rows = journal_rows(&terminal, &handle).await;
        let states: Vec<PaymentState> = rows.iter().map(|r| r.state).collect();
        assert_eq!(
            states.iter().filter(|s| **s == PaymentState::Paid).count(),
            2,
            "{states:?}"
        );
        assert!(rows.iter().all(|r| r.product == Product::UserPresented));
    };
    gui.run(script);
}

#[test]
fn a_code_scanned_first_typed_by_hand_or_into_the_description_never_lands_in_a_field() {
    if crate::support::own_process::delegate(
        module_path!(),
        "a_code_scanned_first_typed_by_hand_or_into_the_description_never_lands_in_a_field",
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

        // A scan with no amount: it waits for one; Charge takes it.
        scan(&app, &code(11, "0000"));
        assert_eq!(api.get_notice(), Notice::CodeNeedsAmount);
        assert_eq!(value_of(&app, "Scanned code").as_deref(), Some("•••• 0000"));
        assert_eq!(value_of(&app, "Amount entered").as_deref(), Some("0"));
        type_slowly(&app, "5").await;
        click(&app, "Charge");
        wait_until("Paid", || api.get_page() == Page::Result).await;
        assert_eq!(api.get_result_kind(), ResultKind::Paid);
        new_sale(&app).await;

        // The code typed by hand on the keypad (a scan that failed).
        type_slowly(&app, "6").await;
        click(&app, "Type code");
        for digit in code(12, "0000").chars() {
            click(&app, &digit.to_string());
        }
        assert_eq!(
            value_of(&app, "Amount entered"),
            None,
            "the code replaces the amount display"
        );
        click(&app, "Use code");
        wait_until("Paid", || api.get_page() == Page::Result).await;
        new_sale(&app).await;

        // A scan while the description field has the focus: the description is put back.
        type_slowly(&app, "7").await;
        let field =
            i_slint_backend_testing::ElementHandle::find_by_accessible_label(&app, "Description")
                .next()
                .unwrap();
        field
            .single_click(slint::platform::PointerEventButton::Left)
            .await;
        wait_until("the description's focus", || api.get_description_focused()).await;
        type_slowly(&app, "Tea").await;
        assert_eq!(api.get_description(), "Tea");
        scan(&app, &code(13, "0000"));
        assert_eq!(api.get_description(), "Tea", "the scan was taken back out");
        wait_until("Paid", || api.get_page() == Page::Result).await;

        let rows = journal_rows(&terminal, &handle).await;
        assert_eq!(rows.len(), 3);
        assert!(
            rows.iter().all(|r| r.state == PaymentState::Paid),
            "{rows:?}"
        );
        let mut amounts: Vec<i64> = rows.iter().map(|r| r.amount.minor() as i64).collect();
        amounts.sort();
        assert_eq!(amounts, vec![500, 600, 700]);
        let tea = rows.iter().find(|r| r.amount.minor() == 700).unwrap();
        assert_eq!(tea.description, "Tea");
    };
    gui.run(script);
}

#[test]
fn a_kiosk_customer_scans_their_own_code() {
    if crate::support::own_process::delegate(
        module_path!(),
        "a_kiosk_customer_scans_their_own_code",
    ) {
        return;
    }
    i_slint_backend_testing::init_integration_test_with_system_time();
    let dir = tempfile::tempdir().unwrap();
    let mut config = demo_config(dir.path());
    config.scanner.kiosk = true;
    // A scanner that is not plugged in: a warning, and the kiosk still takes payments
    // (here through the keyboard, as a wedge scanner types).
    config.scanner.device = Some(dir.path().join("no-such-scanner"));
    let gui = RunningGui::start(
        &config,
        GuiOptions {
            kiosk: true,
            ..GuiOptions::default()
        },
    );
    let handle = gui.runtime.handle().clone();
    let terminal = gui.terminal.clone();
    let ui = gui.app.clone_strong();
    let script = async move {
        let app = ui;
        let api = app.global::<Api>();
        assert!(api.get_scan_offered());
        wait_until("the scanner warning", || {
            api.get_notice() == Notice::ScannerProblem
        })
        .await;
        assert!(
            api.get_notice_detail().contains("no-such-scanner"),
            "{}",
            api.get_notice_detail()
        );
        let first = slint::Model::row_data(&api.get_catalog(), 0)
            .unwrap()
            .name
            .to_string();
        click(&app, &format!("Add {first}"));
        click(&app, "Scan your payment code");
        wait_until("the scan page", || api.get_page() == Page::KioskScan).await;
        scan(&app, &code(21, "1111"));
        wait_until("the confirming page", || api.get_page() == Page::Confirming).await;
        click(&app, "Customer confirms (demo)");
        wait_until("Paid", || api.get_page() == Page::Result).await;
        assert_eq!(api.get_result_kind(), ResultKind::Paid);
        let rows = journal_rows(&terminal, &handle).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].product, Product::UserPresented);
        assert_eq!(rows[0].state, PaymentState::Paid);
    };
    gui.run(script);
}
