//! The manager's Registration panel (Settings) through the real screens, headless, on the
//! real engine with the embedded sandbox: nothing registered; registered (by the engine,
//! as `alipay-pos merchant register` does) and shown under review without anyone asking;
//! approved by the sandbox's delayed review and its signed notification; "Check now"; the
//! verdict in Chinese. And a store the sandbox rejects, with the wallet's reason.

use std::sync::Arc;
use std::time::Duration;

use crate::support::gui::{
    RunningGui, click, ctrl_alt_m, demo_config, labelled, value_of, wait_until,
};
use alipay_pos::admin::hash_pin;
use alipay_pos::checkout::{Policy, RegisterAnswer};
use alipay_pos::config::Config;
use alipay_pos::gui::{App, GuiOptions, Manager};
use alipay_pos::terminal::Terminal;
use i_slint_backend_testing::AccessibleRole;
use slint::ComponentHandle;

const PIN: &str = "2468";

/// A GUI on a terminal whose sandbox reviews registrations in `review`.
fn start(config: &Config, review: Duration) -> RunningGui {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let terminal = Arc::new(
        runtime
            .block_on(Terminal::start_with(config.clone(), Policy::fast(), |o| {
                o.registration_delay = review;
            }))
            .unwrap(),
    );
    let app = App::new().unwrap();
    let controller = alipay_pos::gui::Controller::attach(&app, GuiOptions::default(), config);
    controller.connect(terminal.clone(), runtime.handle().clone());
    app.show().unwrap();
    RunningGui {
        runtime,
        terminal,
        app,
        controller,
    }
}

fn open_settings(app: &App) {
    ctrl_alt_m(app);
    for digit in PIN.chars() {
        click(app, &digit.to_string());
    }
    click(app, "Open manager screen");
    let tab: Vec<_> = labelled(app, "Settings")
        .into_iter()
        .filter(|e| e.accessible_role() == Some(AccessibleRole::Tab))
        .collect();
    assert_eq!(tab.len(), 1);
    tab[0].invoke_accessible_default_action();
}

fn status(app: &App) -> String {
    value_of(app, "Registration status").unwrap_or_default()
}

async fn register(gui_runtime: &tokio::runtime::Handle, terminal: &Arc<Terminal>) {
    let checkout = terminal.checkout.clone();
    let report = gui_runtime
        .spawn(async move { checkout.register().await.unwrap() })
        .await
        .unwrap();
    assert_eq!(report.answer, RegisterAnswer::Accepted);
}

#[test]
fn the_registration_panel_follows_the_review_and_checks_on_demand() {
    if crate::support::own_process::delegate(
        module_path!(),
        "the_registration_panel_follows_the_review_and_checks_on_demand",
    ) {
        return;
    }
    i_slint_backend_testing::init_integration_test_with_system_time();
    let dir = tempfile::tempdir().unwrap();
    let mut config = demo_config(dir.path());
    config.admin.pin_hash = Some(hash_pin(PIN).unwrap());
    let gui = start(&config, Duration::from_millis(1500));
    let handle = gui.runtime.handle().clone();
    let terminal = gui.terminal.clone();
    let app = gui.app.clone_strong();
    let script = async move {
        let manager = app.global::<Manager>();
        open_settings(&app);
        wait_until("the panel to read the journal", || {
            manager.get_registration_loaded()
        })
        .await;
        assert!(
            status(&app).starts_with("Not registered"),
            "{}",
            status(&app)
        );

        // Registered elsewhere (the CLI's way): the engine's event updates the open panel.
        register(&handle, &terminal).await;
        wait_until("under review", || status(&app).starts_with("Under review")).await;
        assert_eq!(value_of(&app, "AlipayCN").as_deref(), Some("Pending"));
        assert!(
            manager.get_registration_id().starts_with("G-"),
            "the request id is shown"
        );

        // The sandbox's review ends and its signed notification arrives: no tap needed.
        wait_until("the review to complete", || {
            status(&app) == "Review completed."
        })
        .await;
        assert_eq!(value_of(&app, "AlipayCN").as_deref(), Some("Approved"));
        assert!(manager.get_registration_wallets_any_approved());

        // "Check now" asks Alipay and says when.
        click(&app, "Check now");
        wait_until("the check to end", || !manager.get_registration_checking()).await;
        assert!(!manager.get_registration_check_failed());
        let checked = value_of(&app, "Last checked").unwrap();
        assert!(checked.starts_with("Last checked: "), "{checked}");

        click(&app, "Switch language");
        wait_until("Chinese", || {
            value_of(&app, "AlipayCN").as_deref() == Some("已通过")
        })
        .await;
        assert_eq!(status(&app), "审核已完成。");
    };
    gui.run(script);
}

#[test]
fn a_rejected_store_shows_the_wallets_reason_on_the_panel() {
    if crate::support::own_process::delegate(
        module_path!(),
        "a_rejected_store_shows_the_wallets_reason_on_the_panel",
    ) {
        return;
    }
    i_slint_backend_testing::init_integration_test_with_system_time();
    let dir = tempfile::tempdir().unwrap();
    let mut config = demo_config(dir.path());
    config.admin.pin_hash = Some(hash_pin(PIN).unwrap());
    // The sandbox's switch: a merchant id ending in `_REJECT` is rejected at review.
    config.merchant.reference_merchant_id = "M0001_REJECT".into();
    let gui = start(&config, Duration::from_millis(300));
    let handle = gui.runtime.handle().clone();
    let terminal = gui.terminal.clone();
    let app = gui.app.clone_strong();
    let script = async move {
        let manager = app.global::<Manager>();
        open_settings(&app);
        register(&handle, &terminal).await;
        wait_until("the rejection", || {
            value_of(&app, "AlipayCN").as_deref() == Some("Rejected")
        })
        .await;
        assert!(!manager.get_registration_wallets_any_approved());
        let reasons: Vec<_> = manager
            .get_registration_wallets()
            .iter()
            .map(|w| w.reasons.to_string())
            .collect();
        assert!(reasons[0].contains("_REJECT"), "{reasons:?}");
        let texts: Vec<String> = labelled(&app, "Registration status")
            .iter()
            .filter_map(|e| e.accessible_value().map(|v| v.to_string()))
            .collect();
        assert_eq!(texts, ["Review completed."]);
    };
    gui.run(script);
}
