//! The status bar's store-hub indicator (issue 13): with `[hub] url` the screen says whether
//! the link to the hub is up: connected, reconnecting (the hub stopped), refused (the
//! terminal's token revoked), in English and Chinese. Headless (Slint's testing backend), on
//! the real engine and a real hub with its real PostgreSQL. One test in this file: the
//! testing backend's event loop exists once per process.

use std::time::Duration;

use alipay_pos::config::{HubConfig, SANDBOX_CLIENT_ID};
use alipay_pos::gui::{Api, App, Controller, GuiOptions};
use alipay_pos::hub::{self, HubSettings, RunningHub};
use slint::ComponentHandle;

use crate::support::gui::{RunningGui, click, demo_config, labelled, wait_until};
use crate::support::postgres::Postgres;

const LABEL: &str = "Store hub";
const LABEL_ZH: &str = "门店集线器";

/// A hub in the given runtime on `port` (0: any), with the fixture Alipay key.
fn start_hub(
    runtime: &tokio::runtime::Runtime,
    database_url: &str,
    port: u16,
) -> (RunningHub, deadpool_postgres::Pool) {
    runtime.block_on(async {
        let url = alipay_pos::config::DatabaseUrl::parse(database_url).unwrap();
        let pool = hub::db::pool(&url).unwrap();
        hub::schema::migrate(&pool).await.unwrap();
        let running = hub::server::start(HubSettings {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            client_id: SANDBOX_CLIENT_ID.to_owned(),
            alipay_key: alipay_pos::testing::alipay_public_key(),
            pool: pool.clone(),
        })
        .await
        .unwrap();
        (running, pool)
    })
}

/// What the indicator says (its accessible value), under the label of the screen's language.
fn indicator(app: &App, label: &str) -> Option<String> {
    labelled(app, label)
        .into_iter()
        .find_map(|e| e.accessible_value())
        .map(|v| v.to_string())
}

#[test]
fn the_status_bar_shows_whether_the_hub_link_is_up_in_both_languages() {
    if crate::support::own_process::delegate(
        module_path!(),
        "the_status_bar_shows_whether_the_hub_link_is_up_in_both_languages",
    ) {
        return;
    }
    i_slint_backend_testing::init_integration_test_with_system_time();
    // The hub and its database run on a runtime of their own, beside the GUI's engine.
    let hub_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let pg = hub_runtime.block_on(Postgres::start());
    let url = hub_runtime.block_on(pg.fresh_database());
    let (running, pool) = start_hub(&hub_runtime, &url, 0);
    let port = running.address.port();
    let token = hub_runtime
        .block_on(hub::terminals::add(&pool, "T01"))
        .unwrap()
        .token;

    let dir = tempfile::tempdir().unwrap();
    let mut config = demo_config(dir.path());
    let token_file = dir.path().join("hub.token");
    std::fs::write(&token_file, format!("{}\n", token.expose())).unwrap();
    let hub_url = format!("http://127.0.0.1:{port}");
    config.hub = Some(HubConfig {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        public_url: Some(hub_url.parse().unwrap()),
        database_url: None,
        url: Some(hub_url.parse().unwrap()),
        token_file: Some(token_file),
    });
    // The same window wiring without a hub: no indicator.
    let mut plain_config = demo_config(dir.path());
    plain_config.hub = None;
    let gui = RunningGui::start(&config, GuiOptions::default());

    let ui = gui.app.clone_strong();
    let script = async move {
        let app = ui;
        let api = app.global::<Api>();
        wait_until("the hub link to come up", || {
            indicator(&app, LABEL).as_deref() == Some("Hub connected")
        })
        .await;
        click(&app, "Switch language");
        wait_until("the Chinese status bar", || {
            indicator(&app, LABEL_ZH).as_deref() == Some("已连接集线器")
        })
        .await;
        click(&app, "切换语言");
        assert_eq!(api.get_language(), "en");

        // The hub stops: the terminal retries, and says so.
        hub_runtime.block_on(running.stop());
        wait_until("the indicator to say the link is reconnecting", || {
            indicator(&app, LABEL).as_deref() == Some("Hub reconnecting…")
        })
        .await;

        // Back on the same address, but this terminal's token revoked: refused, with what
        // to do about it.
        let (restarted, pool) = start_hub(&hub_runtime, &url, port);
        hub_runtime
            .block_on(hub::terminals::revoke(&pool, "T01"))
            .unwrap();
        wait_until("the indicator to say the token was refused", || {
            indicator(&app, LABEL).as_deref() == Some("Hub refused the token")
        })
        .await;
        let description = labelled(&app, LABEL)
            .into_iter()
            .find_map(|e| e.accessible_description())
            .map(|d| d.to_string())
            .unwrap_or_default();
        assert!(description.contains("hub terminals add"), "{description:?}");
        click(&app, "Switch language");
        wait_until("the Chinese refusal", || {
            indicator(&app, LABEL_ZH).as_deref() == Some("集线器拒绝了令牌")
        })
        .await;
        click(&app, "切换语言");

        // A terminal without `[hub] url` shows no indicator at all.
        let plain = App::new().unwrap();
        let controller = Controller::attach(&plain, GuiOptions::default(), &plain_config);
        assert!(labelled(&plain, LABEL).is_empty());
        drop(controller);
        hub_runtime.block_on(restarted.stop());
        drop(pg);
        hub_runtime.shutdown_timeout(Duration::from_secs(2));
    };
    gui.run(script);
}
