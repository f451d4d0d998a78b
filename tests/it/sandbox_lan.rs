//! `[sandbox]` in the config file: the embedded sandbox listens where the file says and puts
//! its `public_url` into order codes, so a phone on the LAN can open the wallet page. Real
//! loopback HTTP and real SQLite files in a temp folder, as in `engine.rs`.

use std::path::Path;
use std::time::Duration;

use crate::support::*;
use alipay_pos::checkout::{PayStart, Policy};
use alipay_pos::config::Config;
use alipay_pos::journal::{Actor, PaymentState};
use alipay_pos::money::{Currency, Money};
use url::Url;

/// Bounds every wait; far above what any step needs on a loaded machine.
const WAIT: Duration = Duration::from_secs(30);

/// An address no machine has (TEST-NET-1): nothing in these tests ever connects to it.
const PUBLIC_URL: &str = "http://192.0.2.10:8090";

/// The demo configuration, loaded from a file in `data_dir` with this `[sandbox]` table.
fn config_with_sandbox(data_dir: &Path, table: &str) -> Config {
    std::fs::create_dir_all(data_dir).unwrap();
    let path = data_dir.join("config.toml");
    let dir = data_dir.display().to_string().replace('\\', "\\\\");
    std::fs::write(
        &path,
        format!(
            "[alipay]\ngateway = \"sandbox\"\n\n[storage]\ndata_dir = \"{dir}\"\n\n\
             [sandbox]\n{table}"
        ),
    )
    .unwrap();
    Config::load(&path).unwrap()
}

fn code_value(start: &PayStart) -> String {
    match start {
        PayStart::CodeReady { code_value, .. } => code_value.clone(),
        other => panic!("expected an order code, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_codes_carry_the_public_url_and_the_wallet_there_pays() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_sandbox(
        dir.path(),
        &format!("listen = \"127.0.0.1:0\"\npublic_url = \"{PUBLIC_URL}\"\n"),
    );
    let terminal = demo_terminal_with(config, Policy::fast(), |_| {}).await;
    let sandbox = terminal.sandbox().unwrap().sandbox();
    assert!(sandbox.local_addr().ip().is_loopback());
    assert_eq!(sandbox.public_url().as_str(), format!("{PUBLIC_URL}/"));

    let (record, start) = terminal
        .checkout
        .start_payment(alipay_pos::checkout::PaymentIntent::order_code(
            Money::parse("4.50", Currency::USD).unwrap(),
            "Flat white",
            Actor::Cashier,
        ))
        .await
        .unwrap();
    let code = code_value(&start);
    let wallet_prefix = format!("{PUBLIC_URL}/wallet/");
    assert!(code.starts_with(&wallet_prefix), "{code}");
    assert_eq!(record.code_value.as_deref(), Some(code.as_str()));

    // What the phone does, with the port forward from 192.0.2.10:8090 played by swapping the
    // address: open the page (its Pay button posts to the public address too), press Pay.
    let local = terminal
        .sandbox_url()
        .unwrap()
        .as_str()
        .trim_end_matches('/');
    let reached = code.replacen(PUBLIC_URL, local, 1);
    let page = reqwest::get(&reached).await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(&format!("action=\"{code}/pay\"")), "{html}");
    let (status, answer) = Control::of(&terminal).wallet_pay(&reached).await;
    assert_eq!(status, 200, "{answer}");

    let paid = wait_final(&terminal.checkout, &record.payment_request_id, WAIT).await;
    assert_eq!(paid.state, PaymentState::Paid);
    let counts = assert_consistent(&terminal, true).await;
    assert_eq!(counts.paid, 1);
}

/// A non-loopback `listen` is what allows the sandbox onto the network: without LAN access
/// the sandbox refuses to start on it. (It listens on every interface for the length of this
/// test, on a port the OS picks.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listen_address_on_every_network_starts_and_the_terminal_still_reaches_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_sandbox(
        dir.path(),
        &format!("listen = \"0.0.0.0:0\"\npublic_url = \"{PUBLIC_URL}\"\n"),
    );
    let terminal = demo_terminal_with(config, Policy::fast(), |_| {}).await;
    assert!(
        terminal
            .sandbox()
            .unwrap()
            .sandbox()
            .local_addr()
            .ip()
            .is_unspecified()
    );
    let (_, start) = terminal
        .checkout
        .start_payment(alipay_pos::checkout::PaymentIntent::order_code(
            Money::parse("1.00", Currency::USD).unwrap(),
            "Tea",
            Actor::Cashier,
        ))
        .await
        .unwrap();
    let code = code_value(&start);
    assert!(code.starts_with(&format!("{PUBLIC_URL}/wallet/")), "{code}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_sandbox_adjustments_win_over_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_sandbox(dir.path(), &format!("public_url = \"{PUBLIC_URL}\"\n"));
    let override_url = Url::parse("http://198.51.100.7:9000").unwrap();
    let chosen = override_url.clone();
    let terminal = demo_terminal_with(config, Policy::fast(), move |options| {
        options.public_url = Some(chosen);
    })
    .await;
    let (_, start) = terminal
        .checkout
        .start_payment(alipay_pos::checkout::PaymentIntent::order_code(
            Money::parse("2.00", Currency::USD).unwrap(),
            "Cake",
            Actor::Cashier,
        ))
        .await
        .unwrap();
    let code = code_value(&start);
    assert!(
        code.starts_with(&format!("{override_url}wallet/")),
        "{code}"
    );
}
