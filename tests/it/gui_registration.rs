//! The manager's Registration panel (Settings) through the real screens, headless, on the
//! real engine with the embedded sandbox: nothing registered; registered (by the engine,
//! as `alipay-pos merchant register` does) and shown under review without anyone asking;
//! approved by the sandbox's delayed review and its signed notification; "Check now"; the
//! verdict in Chinese. A store the sandbox rejects, with the wallet's reason. And the mode
//! check: on a real gateway (a separately run sandbox, reached like Alipay) a store no
//! wallet has approved is said once on the cashier's screen at start.

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
use slint::{ComponentHandle, Model};

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

async fn open_settings(app: &App) {
    ctrl_alt_m(app);
    for digit in PIN.chars() {
        click(app, &digit.to_string());
    }
    click(app, "Open manager screen");
    let api = app.global::<alipay_pos::gui::Api>();
    wait_until("the manager screen", || {
        api.get_page() == alipay_pos::gui::Page::Manager
    })
    .await;
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
        open_settings(&app).await;
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
        assert_eq!(
            manager.get_registration_wallets().row_count(),
            0,
            "no wallet has said anything yet"
        );
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
        // Labels speak the screen's language too.
        assert_eq!(value_of(&app, "登记状态").as_deref(), Some("审核已完成。"));
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
        open_settings(&app).await;
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

#[test]
fn a_real_gateway_warns_the_cashier_once_when_no_wallet_approved_the_store() {
    if crate::support::own_process::delegate(
        module_path!(),
        "a_real_gateway_warns_the_cashier_once_when_no_wallet_approved_the_store",
    ) {
        return;
    }
    use crate::support::{merchant_public_key, private_key_copy, vector_path};
    use alipay_pos::gui::{Api, Notice};
    use alipay_pos::sandbox::{self, ClientRegistration, SandboxOptions};
    const CLIENT: &str = "LIVE_LIKE_CLIENT_1";
    i_slint_backend_testing::init_integration_test_with_system_time();
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Alipay's side: a sandbox of its own, which the terminal reaches like a real gateway.
    let sandbox_dir = dir.path().join("alipay");
    std::fs::create_dir_all(&sandbox_dir).unwrap();
    for (fixture, name) in [
        (
            "alipay_private_key_pkcs8.pem",
            sandbox::ALIPAY_PRIVATE_KEY_FILE,
        ),
        ("alipay_public_key.pem", sandbox::ALIPAY_PUBLIC_KEY_FILE),
    ] {
        std::fs::copy(vector_path(fixture), sandbox_dir.join(name)).unwrap();
    }
    let mut options = SandboxOptions::new(&sandbox_dir);
    options.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    options.clients.push(ClientRegistration {
        client_id: CLIENT.into(),
        merchant_public_key: merchant_public_key(),
    });
    let gateway = runtime.block_on(sandbox::start(options)).unwrap();
    let config_path = dir.path().join("config.toml");
    std::fs::write(
        &config_path,
        format!(
            "[alipay]\ngateway = \"{gateway}\"\nclient_id = \"{CLIENT}\"\n\
             merchant_private_key = \"{merchant}\"\nalipay_public_key = \"{alipay}\"\n\n\
             [payment]\nnotify_listen = \"127.0.0.1:0\"\n\n[storage]\ndata_dir = \"{data}\"\n",
            gateway = gateway.base_url(),
            merchant = private_key_copy(dir.path(), "merchant_private_key_pkcs8.pem").display(),
            alipay = gateway.alipay_public_key_path().display(),
            data = dir.path().join("terminal").display(),
        ),
    )
    .unwrap();
    let config = Config::load(&config_path).unwrap();
    assert!(!config.is_sandbox());
    let terminal = Arc::new(
        runtime
            .block_on(Terminal::start(config.clone(), Policy::fast()))
            .unwrap(),
    );
    let app = App::new().unwrap();
    let controller = alipay_pos::gui::Controller::attach(&app, GuiOptions::default(), &config);
    controller.connect(terminal.clone(), runtime.handle().clone());
    app.show().unwrap();
    let gui = RunningGui {
        runtime,
        terminal,
        app,
        controller,
    };
    let ui = gui.app.clone_strong();
    let script = async move {
        let api = ui.global::<Api>();
        wait_until("the start-up warning", || {
            api.get_notice() == Notice::NotRegistered
        })
        .await;
        // Once: the cashier's next key replaces it.
        click(&ui, "1");
        wait_until("the warning to give way", || {
            api.get_notice() != Notice::NotRegistered
        })
        .await;
    };
    gui.run(script);
    drop(gateway);
}
