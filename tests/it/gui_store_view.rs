//! The manager screen's "Whole store" tab (issue 13 §3) through the real screens, headless,
//! on a real store hub with a real PostgreSQL (a throw-away cluster), real loopback HTTP
//! and two real terminals of one store (each on its own embedded sandbox) that ship their
//! journals: the GUI of one of them lists both terminals' payments and the store's totals,
//! a filter narrows them, the detail is read-only; a revoked token and a stopped hub say
//! what to do while the terminal's own tabs still work. Without `[hub] url` there is no
//! tab. One GUI test per process (the testing backend's event loop exists once).

use std::path::Path;
use std::time::Duration;

use alipay_pos::admin::hash_pin;
use alipay_pos::config::{Config, DEFAULT_HUB_PORT, HubConfig, SANDBOX_CLIENT_ID};
use alipay_pos::gui::{Api, GuiOptions, Manager, Page};
use alipay_pos::hub::{self, HubSettings};
use alipay_pos::terminal::Terminal;
use i_slint_backend_testing::AccessibleRole;
use slint::{ComponentHandle, Model};

use crate::support::gui::{
    RunningGui, click, ctrl_alt_m, demo_config, has_button, labelled, value_of, wait_until,
};
use crate::support::postgres::Postgres;

const PIN: &str = "2468";
const STORE: &str = "S1";

fn with_hub(config: &mut Config, dir: &Path, hub_url: &str, token: &str, terminal: &str) {
    let token_file = dir.join("hub.token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    config.store.terminal_id = terminal.to_owned();
    config.store.reference_store_id = STORE.to_owned();
    config.hub = Some(HubConfig {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], DEFAULT_HUB_PORT)),
        public_url: None,
        database_url: None,
        url: Some(hub_url.parse().unwrap()),
        token_file: Some(token_file),
    });
}

fn shipped(terminal: &Terminal) -> bool {
    let last = terminal.reader().unwrap().last_event_seq().unwrap();
    terminal.hub_shipping().and_then(|s| s.hub_cursor) == Some(last)
}

fn open_manager(app: &alipay_pos::gui::App) {
    ctrl_alt_m(app);
    for digit in PIN.chars() {
        click(app, &digit.to_string());
    }
    click(app, "Open manager screen");
}

fn tab(app: &alipay_pos::gui::App, label: &str) -> Vec<i_slint_backend_testing::ElementHandle> {
    labelled(app, label)
        .into_iter()
        .filter(|e| e.accessible_role() == Some(AccessibleRole::Tab))
        .collect()
}

#[test]
fn the_whole_store_tab_lists_every_terminal_and_says_when_the_hub_cannot_answer() {
    if crate::support::own_process::delegate(
        module_path!(),
        "the_whole_store_tab_lists_every_terminal_and_says_when_the_hub_cannot_answer",
    ) {
        return;
    }
    i_slint_backend_testing::init_integration_test_with_system_time();
    // The hub, PostgreSQL and the other counter's terminal live on their own runtime.
    let setup = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let pg = setup.block_on(Postgres::start());
    let database = setup.block_on(pg.fresh_database());
    let pool = hub::db::pool(&alipay_pos::config::DatabaseUrl::parse(&database).unwrap()).unwrap();
    setup.block_on(hub::schema::migrate(&pool)).unwrap();
    let running = setup
        .block_on(hub::server::start(HubSettings {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            client_id: SANDBOX_CLIENT_ID.to_owned(),
            alipay_key: alipay_pos::testing::alipay_public_key(),
            pool: pool.clone(),
        }))
        .unwrap();
    let hub_url = format!("http://{}", running.address);
    let ours = setup
        .block_on(hub::terminals::add(&pool, "T01"))
        .unwrap()
        .token;
    let theirs = setup
        .block_on(hub::terminals::add(&pool, "T02"))
        .unwrap()
        .token;

    // The other counter: a USD 3.00 payment, shipped to the hub.
    let other_dir = tempfile::tempdir().unwrap();
    let mut other_config = crate::support::sandbox_config(other_dir.path(), None);
    with_hub(
        &mut other_config,
        other_dir.path(),
        &hub_url,
        theirs.expose(),
        "T02",
    );
    let other = setup.block_on(crate::support::demo_terminal_with(
        other_config,
        alipay_pos::checkout::Policy::fast(),
        |options| options.time_scale = 0.02,
    ));
    let other_payment = setup.block_on(crate::support::paid(&other, "3.00"));
    setup.block_on(crate::support::wait_until(
        "T02's journal at the hub",
        Duration::from_secs(60),
        || async { shipped(&other) },
    ));

    // This counter, with the GUI.
    let dir = tempfile::tempdir().unwrap();
    let mut config = demo_config(dir.path());
    config.admin.pin_hash = Some(hash_pin(PIN).unwrap());
    with_hub(&mut config, dir.path(), &hub_url, ours.expose(), "T01");
    let gui = RunningGui::start(&config, GuiOptions::default());
    let handle = gui.runtime.handle().clone();
    let terminal = gui.terminal.clone();
    let ui = gui.app.clone_strong();
    let setup_handle = setup.handle().clone();
    let script = async move {
        let app = ui;
        let api = app.global::<Api>();
        let manager = app.global::<Manager>();
        let paying = terminal.clone();
        let our_payment = handle
            .spawn(async move { crate::support::paid(&paying, "12.50").await })
            .await
            .unwrap();
        wait_until("T01's journal at the hub", || shipped(&terminal)).await;

        open_manager(&app);
        wait_until("the manager screen", || api.get_page() == Page::Manager).await;
        let store_tab = tab(&app, "Whole store");
        assert_eq!(store_tab.len(), 1, "a hub is configured: the tab is there");
        store_tab[0].invoke_accessible_default_action();
        wait_until("both terminals' payments", || {
            value_of(&app, "Store transaction count").as_deref() == Some("2 payments")
        })
        .await;
        let rows: Vec<_> = manager.get_store_rows().iter().collect();
        let mut terminals: Vec<String> = rows.iter().map(|r| r.terminal.to_string()).collect();
        terminals.sort();
        assert_eq!(terminals, ["T01", "T02"]);
        let row_of = |id: &str| rows.iter().find(|r| r.id == id).unwrap().clone();
        assert_eq!(row_of(&our_payment).amount, "USD 12.50");
        assert_eq!(row_of(&other_payment).amount, "USD 3.00");
        assert_eq!(row_of(&other_payment).terminal, "T02");
        // The hub's RFC 3339 times are shown local, like the terminal's own list.
        let time = row_of(&other_payment).time.to_string();
        assert!(!time.is_empty() && !time.contains('T'), "{time}");
        let totals = value_of(&app, "Store totals").unwrap();
        assert!(
            totals.contains("paid USD 15.50 (2)") && totals.contains("net USD 15.50"),
            "{totals}"
        );
        let hint = value_of(&app, "Whole store hint").unwrap();
        assert!(hint.contains("cannot be refunded here yet"), "{hint}");

        // The same filters as the terminal's own list: an amount narrows to T02's payment.
        labelled(&app, "Filter by amount")[0].set_accessible_value("3.00");
        click(&app, "Search");
        wait_until("only T02's payment", || {
            value_of(&app, "Store transaction count").as_deref() == Some("1 payment")
        })
        .await;
        assert_eq!(
            manager.get_store_rows().row_data(0).unwrap().terminal,
            "T02"
        );
        labelled(&app, "Filter by amount")[0].set_accessible_value("3,0x");
        click(&app, "Search");
        wait_until("the bad amount said", || {
            value_of(&app, "Whole store error").is_some_and(|text| text.contains("not an amount"))
        })
        .await;
        labelled(&app, "Filter by amount")[0].set_accessible_value("");
        click(&app, "Search");
        wait_until("both again", || manager.get_store_rows().row_count() == 2).await;

        // The read-only detail of the other counter's payment: no refund, cancel or settle.
        click(&app, &format!("Payment {other_payment}"));
        wait_until("the store detail", || manager.get_store_detail_open()).await;
        let taken = value_of(&app, "Store payment").unwrap();
        assert!(taken.contains("terminal T02"), "{taken}");
        for action in ["Refund…", "Refund", "Cancel payment", "Record outcome…"] {
            assert!(!has_button(&app, action), "{action:?} on a read-only view");
        }
        click(&app, "Back");
        wait_until("the list again", || !manager.get_store_detail_open()).await;

        // A revoked token: the tab says to enrol the terminal again.
        let revoking = pool.clone();
        setup_handle
            .spawn(async move { hub::terminals::revoke(&revoking, "T01").await })
            .await
            .unwrap()
            .unwrap();
        click(&app, "Search");
        wait_until("the refusal said", || {
            value_of(&app, "Whole store error")
                .is_some_and(|text| text.contains("refused this terminal"))
        })
        .await;
        let refused = value_of(&app, "Whole store error").unwrap();
        assert!(refused.contains("hub.token_file"), "{refused}");
        assert_eq!(manager.get_store_rows().row_count(), 0);

        // The hub stopped: the tab says so; the terminal's own list still answers.
        setup_handle
            .spawn(async move { running.stop().await })
            .await
            .unwrap();
        click(&app, "Search");
        wait_until("the hub unreachable said", || {
            value_of(&app, "Whole store error")
                .is_some_and(|text| text.contains("cannot be reached"))
        })
        .await;
        let down = value_of(&app, "Whole store error").unwrap();
        assert!(down.contains("tap Search to try again"), "{down}");
        tab(&app, "Transactions")[0].invoke_accessible_default_action();
        wait_until("the terminal's own payment", || {
            value_of(&app, "Transaction count").as_deref() == Some("1 payment")
        })
        .await;
        drop(pg);
    };
    gui.run(script);
    drop(other);
    setup.shutdown_timeout(Duration::from_secs(2));
}

#[test]
fn without_a_hub_the_manager_screen_has_no_whole_store_tab() {
    if crate::support::own_process::delegate(
        module_path!(),
        "without_a_hub_the_manager_screen_has_no_whole_store_tab",
    ) {
        return;
    }
    i_slint_backend_testing::init_integration_test_with_system_time();
    let dir = tempfile::tempdir().unwrap();
    let mut config = demo_config(dir.path());
    config.admin.pin_hash = Some(hash_pin(PIN).unwrap());
    assert!(config.hub.is_none());
    let gui = RunningGui::start(&config, GuiOptions::default());
    let ui = gui.app.clone_strong();
    let script = async move {
        let app = ui;
        let api = app.global::<Api>();
        open_manager(&app);
        wait_until("the manager screen", || api.get_page() == Page::Manager).await;
        assert_eq!(tab(&app, "Transactions").len(), 1, "the tabs are found");
        assert!(tab(&app, "Whole store").is_empty(), "no hub: no tab");
        assert!(!app.global::<Manager>().get_store_available());
    };
    gui.run(script);
}
