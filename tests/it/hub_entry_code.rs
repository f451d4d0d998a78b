//! Entry Code hosted by the store hub, end to end: a real PostgreSQL (a throw-away cluster
//! per test), the hub in this process on real loopback HTTP, the embedded sandbox as
//! Alipay (its wallet browser's User-Agent, its cashier page with Pay and Decline), and the
//! counter's terminal as its token-authenticated HTTP calls and event stream.

use std::time::Duration;

use alipay_pos::config::SANDBOX_CLIENT_ID;
use alipay_pos::hub::entry_code::{EntryCodeSettings, EntryMerchant, RateLimit};
use alipay_pos::hub::{self, HubSettings, RunningHub};
use alipay_pos::sandbox::WALLET_USER_AGENT;
use alipay_pos::sandbox::embedded::{self, EmbeddedSandbox};
use serde_json::{Value, json};

use crate::support::postgres::Postgres;
use crate::support::*;

const WAIT: Duration = Duration::from_secs(40);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Everything a test needs: the database, the sandbox, the hub and the counter `T01`'s
/// token.
struct Setup {
    _pg: Postgres,
    database_url: String,
    pool: deadpool_postgres::Pool,
    sandbox: EmbeddedSandbox,
    hub: Option<RunningHub>,
    port: u16,
    base: String,
    token: String,
    _dir: tempfile::TempDir,
}

impl Setup {
    async fn new(adjust: impl Fn(&mut EntryCodeSettings)) -> Setup {
        let pg = Postgres::start().await;
        let database_url = pg.fresh_database().await;
        let dir = tempfile::tempdir().unwrap();
        seed_sandbox_keys(dir.path());
        let sandbox = embedded::start(dir.path(), SANDBOX_CLIENT_ID)
            .await
            .unwrap();
        let url = alipay_pos::config::DatabaseUrl::parse(&database_url).unwrap();
        let pool = hub::db::pool(&url).unwrap();
        hub::schema::migrate(&pool).await.unwrap();
        let enrolled = hub::terminals::add(&pool, "T01").await.unwrap();
        let port = free_port();
        let mut setup = Setup {
            _pg: pg,
            database_url,
            pool,
            sandbox,
            hub: None,
            port,
            base: format!("http://127.0.0.1:{port}"),
            token: enrolled.token.expose().to_owned(),
            _dir: dir,
        };
        setup.start_hub(&adjust).await;
        setup
    }

    fn settings(&self, adjust: &impl Fn(&mut EntryCodeSettings)) -> EntryCodeSettings {
        let mut settings = EntryCodeSettings::new(
            self.sandbox.client().unwrap(),
            EntryMerchant {
                reference_merchant_id: "M0001".into(),
                name: "Demo Cafe".into(),
                mcc: "5814".into(),
            },
            self.base.parse().unwrap(),
        );
        settings.poll_interval = Duration::from_millis(200);
        adjust(&mut settings);
        settings
    }

    async fn start_hub(&mut self, adjust: &impl Fn(&mut EntryCodeSettings)) {
        let settings = self.settings(adjust);
        let running = hub::server::start_with(
            HubSettings {
                listen: std::net::SocketAddr::from(([127, 0, 0, 1], self.port)),
                client_id: SANDBOX_CLIENT_ID.to_owned(),
                alipay_key: self.sandbox.alipay_public_key().clone(),
                pool: self.pool.clone(),
            },
            Some(settings),
        )
        .await
        .unwrap();
        self.hub = Some(running);
    }

    async fn stop_hub(&mut self) {
        if let Some(hub) = self.hub.take() {
            hub.stop().await;
        }
    }

    fn control(&self) -> Control {
        let sandbox = self.sandbox.sandbox();
        Control::at(sandbox.base_url().as_str(), sandbox.control_token())
    }

    /// The counter's terminal pushes what its Entry Code page shows.
    async fn push_order(&self, order: Value) -> (u16, Value) {
        let response = reqwest::Client::new()
            .put(format!("{}/hub/v1/entry-order", self.base))
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(order.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.bytes().await.unwrap();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    async fn pg(&self) -> tokio_postgres::Client {
        let (client, connection) =
            tokio_postgres::connect(&self.database_url, tokio_postgres::NoTls)
                .await
                .unwrap();
        tokio::spawn(connection);
        client
    }

    /// `(payment_request_id, state, result_code)` of every Entry Code payment, oldest first.
    async fn payments(&self) -> Vec<(String, String, Option<String>)> {
        self.pg()
            .await
            .query(
                "SELECT payment_request_id, state, result_code FROM hub_entry_payments ORDER BY id",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect()
    }

    async fn wait_state(&self, state: &str) -> (String, String, Option<String>) {
        wait_until(
            &format!("an Entry Code payment in state {state}"),
            WAIT,
            || async { self.payments().await.iter().any(|p| p.1 == state) },
        )
        .await;
        self.payments()
            .await
            .into_iter()
            .find(|p| p.1 == state)
            .unwrap()
    }
}

fn counter_order(order: Option<Value>, open_amount: bool) -> Value {
    json!({
        "store": {"referenceStoreId": "S01", "storeName": "Demo Cafe Main St", "storeMCC": "5814"},
        "currency": "SGD",
        "openAmount": open_amount,
        "order": order,
    })
}

/// An urlencoded form body, as a browser posts it.
fn form(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

/// The wallet's in-app browser: Alipay's User-Agent, redirects shown rather than followed.
fn wallet() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(WALLET_USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn page(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// The value of the hidden `order` field on a counter page.
fn order_version(html: &str) -> String {
    let start = html
        .find("name=\"order\" value=\"")
        .expect("no order field")
        + 20;
    html[start..].split('"').next().unwrap().to_owned()
}

fn data_status(html: &str) -> Option<String> {
    let start = html.find("data-status=\"")? + 13;
    Some(html[start..].split('"').next()?.to_owned())
}

/// GET the page, POST the form, and return the `303`'s Location.
async fn post_and_redirect(setup: &Setup, fields: &[(&str, &str)]) -> String {
    let response = wallet()
        .post(format!("{}/entry/S01/T01", setup.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(fields))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    let body = response.text().await.unwrap();
    assert_eq!(status, 303, "{body}");
    location.unwrap()
}

/// Reads the terminal's event stream until an `entry-code-result` event arrives.
async fn next_entry_result(setup: &Setup) -> Value {
    let mut response = reqwest::Client::new()
        .get(format!("{}/hub/v1/notifications", setup.base))
        .bearer_auth(&setup.token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .expect("no entry-code-result event in time")
            .unwrap()
            .expect("the stream ended");
        text.push_str(&String::from_utf8_lossy(&chunk));
        if let Some(at) = text.find("event: entry-code-result\n") {
            let rest = &text[at..];
            if let Some(end) = rest.find("\n\n") {
                let data: String = rest[..end]
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .collect();
                return serde_json::from_str(&data).unwrap();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wallet_pays_the_cashiers_order_and_the_result_reaches_the_counter() {
    let setup = Setup::new(|_| {}).await;
    let order = json!({"amountMinor": 550, "description": "Bubble tea", "reference": "ORDER-1"});
    let (status, answer) = setup.push_order(counter_order(Some(order), false)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["counter"], "T01");

    // The wallet opens the page the static code names: the cashier's amount, a Pay button.
    let (status, html) = page(
        wallet()
            .get(format!("{}/entry/S01/T01", setup.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("data-value=\"550\""), "{html}");
    assert!(html.contains("SGD 5.50"), "{html}");
    assert!(html.contains("id=\"lang-switch\""));
    assert!(!html.contains("<script"));
    // The store with one counter shows that counter's page too.
    let (status, store_html) = page(
        wallet()
            .get(format!("{}/entry/S01", setup.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(store_html.contains("data-value=\"550\""));

    let version = order_version(&html);
    let cashier = post_and_redirect(&setup, &[("order", &version)]).await;
    assert!(cashier.contains("/wallet/"), "{cashier}");
    let (id, state, _) = setup.wait_state("awaiting").await;
    assert!(id.starts_with("EC-"), "{id}");

    // What went to Alipay: Entry Code, the wallet's User-Agent, the store's ids.
    let ledger = setup.control().ledger().await;
    let sent = ledger.payment(&id).expect("the sandbox has the payment");
    assert_eq!((sent.amount, sent.currency.as_str()), (550, "SGD"));
    assert_eq!(
        sent.notify_url.as_deref(),
        Some(format!("{}/alipay/notify", setup.base).as_str())
    );
    assert_eq!(state, "awaiting");

    // A second tap on the same order goes to the same cashier page, not a second payment.
    let again = post_and_redirect(&setup, &[("order", &version)]).await;
    assert_eq!(again, cashier);
    assert_eq!(setup.payments().await.len(), 1);

    // The sandbox's cashier page: Pay and Decline.
    let (status, cashier_html) = page(wallet().get(&cashier).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert!(cashier_html.contains("id=\"pay\"") && cashier_html.contains("id=\"decline\""));
    let paid = wallet()
        .post(format!("{cashier}/pay"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 200);

    let (paid_id, _, code) = setup.wait_state("success").await;
    assert_eq!(
        (paid_id.as_str(), code.as_deref()),
        (id.as_str(), Some("SUCCESS"))
    );
    assert_eq!(
        setup.control().ledger().await.status_of(&id),
        Some("SUCCESS")
    );

    // The counter's terminal gets the result on its stream, and acknowledges it.
    let result = next_entry_result(&setup).await;
    assert_eq!(result["paymentRequestId"], id.as_str());
    assert_eq!(result["outcome"], "success");
    assert_eq!(result["amountMinor"], 550);
    assert_eq!(result["orderReference"], "ORDER-1");
    let ack = reqwest::Client::new()
        .post(format!(
            "{}/hub/v1/entry-code/results/{}/ack",
            setup.base, result["id"]
        ))
        .bearer_auth(&setup.token)
        .send()
        .await
        .unwrap();
    assert_eq!(ack.status(), 200);
    let reported: i64 = setup
        .pg()
        .await
        .query_one(
            "SELECT count(*) FROM hub_entry_payments WHERE reported_at IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(reported, 1);

    // Paid: the same order cannot be paid again.
    let (status, html) = page(
        wallet()
            .post(format!("{}/entry/S01/T01", setup.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[("order", version.as_str())]))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, data_status(&html).as_deref()),
        (409, Some("ALREADY_PAID"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_counters_terminal_journals_the_result_its_hub_link_receives() {
    let setup = Setup::new(|_| {}).await;
    // The counter's terminal `T01`, dialling the hub with its token.
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("hub.token");
    std::fs::write(&token_file, format!("{}\n", setup.token)).unwrap();
    let mut config = sandbox_config(dir.path(), None);
    config.hub = Some(alipay_pos::config::HubConfig {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], alipay_pos::config::DEFAULT_HUB_PORT)),
        public_url: Some(setup.base.parse().unwrap()),
        database_url: None,
        url: Some(setup.base.parse().unwrap()),
        token_file: Some(token_file),
    });
    let terminal = demo_terminal_with(config, alipay_pos::checkout::Policy::fast(), |_| {}).await;
    let mut events = terminal.checkout.subscribe();

    setup.push_order(counter_order(None, true)).await;
    let cashier = post_and_redirect(&setup, &[("amount", "7.80")]).await;
    let paid = wallet()
        .post(format!("{cashier}/pay"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 200);
    let (id, _, _) = setup.wait_state("success").await;

    // The engine journals it and tells the faces; the hub hears it was recorded.
    let heard = tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(alipay_pos::checkout::CheckoutEvent::EntryCodeResult {
                payment_request_id,
                outcome,
            }) = events.recv().await
            {
                return (payment_request_id, outcome);
            }
        }
    })
    .await
    .expect("no EntryCodeResult event");
    assert_eq!(heard, (id.clone(), "success".to_owned()));
    let kept = terminal.reader().unwrap().entry_code_results().unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(
        (
            kept[0].payment_request_id.as_str(),
            kept[0].amount,
            kept[0].currency.as_str()
        ),
        (id.as_str(), 780, "SGD")
    );
    wait_until("the hub to note the terminal recorded it", WAIT, || async {
        setup
            .pg()
            .await
            .query_one(
                "SELECT count(*) FROM hub_entry_payments WHERE reported_at IS NOT NULL",
                &[],
            )
            .await
            .unwrap()
            .get::<_, i64>(0)
            == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_amount_declined_in_the_wallet_ends_failed() {
    let setup = Setup::new(|_| {}).await;
    setup.push_order(counter_order(None, true)).await;
    let (status, html) = page(
        wallet()
            .get(format!("{}/entry/S01/T01", setup.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"amount-input\""), "{html}");

    let cashier = post_and_redirect(&setup, &[("amount", "12.3")]).await;
    let declined = wallet()
        .post(format!("{cashier}/decline"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(declined.status(), 200);
    let (id, _, code) = setup.wait_state("failed").await;
    assert_eq!(code.as_deref(), Some("USER_PAYMENT_VERIFICATION_FAILED"));
    let ledger = setup.control().ledger().await;
    assert_eq!(ledger.status_of(&id), Some("FAIL"));
    assert_eq!(ledger.payment(&id).unwrap().amount, 1230);
    let result = next_entry_result(&setup).await;
    assert_eq!(result["outcome"], "failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_page_and_sends_nothing() {
    let setup = Setup::new(|_| {}).await;
    setup.push_order(counter_order(None, true)).await;

    for (amount, status) in [
        ("abc", 400),
        ("-5", 400),
        ("1.234", 400),
        ("0", 400),
        ("", 400),
    ] {
        let (got, html) = page(
            wallet()
                .post(format!("{}/entry/S01/T01", setup.base))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&[("amount", amount)]))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(got, status, "{amount}: {html}");
        assert!(html.contains("id=\"message\""), "{amount}: {html}");
    }
    let (status, html) = page(
        wallet()
            .get(format!("{}/entry/NOPE/T01", setup.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, data_status(&html).as_deref()),
        (404, Some("UNKNOWN_STORE"))
    );
    let (status, html) = page(
        wallet()
            .get(format!("{}/entry/S01/T99", setup.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, data_status(&html).as_deref()),
        (404, Some("UNKNOWN_COUNTER"))
    );
    // A browser that is no wallet (no User-Agent, or a desktop one) cannot pay.
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for agent in [None, Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0")] {
        let mut request = plain
            .post(format!("{}/entry/S01/T01", setup.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[("amount", "5")]));
        if let Some(agent) = agent {
            request = request.header("user-agent", agent);
        }
        let (status, html) = page(request.send().await.unwrap()).await;
        assert_eq!(
            (status, data_status(&html).as_deref()),
            (403, Some("UNSUPPORTED_WALLET")),
            "{agent:?}"
        );
    }
    // A terminal's bad order is refused naming the field.
    let mut bad = counter_order(None, true);
    bad["store"]["storeMCC"] = json!("58");
    let (status, answer) = setup.push_order(bad).await;
    assert_eq!(status, 400);
    assert!(
        answer["error"].as_str().unwrap().contains("storeMCC"),
        "{answer}"
    );
    // Nothing was journaled, so nothing was sent.
    assert!(setup.payments().await.is_empty());
    assert!(setup.control().ledger().await.payments.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_rate_limited_per_ip() {
    let setup = Setup::new(|settings| {
        settings.rate_limit = RateLimit {
            burst: 3,
            replenish: Duration::from_secs(60),
        }
    })
    .await;
    setup.push_order(counter_order(None, true)).await;
    let url = format!("{}/entry/S01/T01", setup.base);
    for _ in 0..3 {
        assert_eq!(wallet().get(&url).send().await.unwrap().status(), 200);
    }
    let limited = wallet().get(&url).send().await.unwrap();
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().get("retry-after").is_some());
    let html = limited.text().await.unwrap();
    assert_eq!(data_status(&html).as_deref(), Some("TOO_MANY_REQUESTS"));
    // The terminals' endpoints are not the page's: still answered.
    let (status, _) = setup.push_order(counter_order(None, true)).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_speaks_chinese_when_the_wallet_asks() {
    let setup = Setup::new(|_| {}).await;
    let order = json!({"amountMinor": 1200, "description": "Latte"});
    setup.push_order(counter_order(Some(order), false)).await;
    let url = format!("{}/entry/S01/T01", setup.base);
    let html = wallet()
        .get(&url)
        .header("accept-language", "zh-CN,zh;q=0.9,en;q=0.8")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("<html lang=\"zh-CN\">"), "{html}");
    assert!(html.contains("使用支付宝付款"), "{html}");
    assert!(html.contains("收银台"));
    assert!(html.contains("href=\"/entry/S01/T01?lang=en\""), "{html}");
    // The switch link wins over the header.
    let english = wallet()
        .get(format!("{url}?lang=en"))
        .header("accept-language", "zh-CN")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(english.contains("Pay with Alipay") && !english.contains("使用支付宝付款"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_hub_resumes_an_unknown_payment_by_inquiry() {
    let mut setup = Setup::new(|_| {}).await;
    // 9901: the sandbox takes the payment, then answers `U`: the outcome is unknown.
    let order = json!({"amountMinor": 9901, "description": "Unknown answer"});
    setup.push_order(counter_order(Some(order), false)).await;
    let html = wallet()
        .get(format!("{}/entry/S01/T01", setup.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let version = order_version(&html);
    let (status, html) = page(
        wallet()
            .post(format!("{}/entry/S01/T01", setup.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[("order", version.as_str())]))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, data_status(&html).as_deref()),
        (202, Some("CHECKING"))
    );
    let (id, _, _) = setup.wait_state("unknown").await;

    // The hub stops before it learns anything; meanwhile the customer pays in the wallet.
    setup.stop_hub().await;
    let (status, answer) = setup.control().customer_pays(&id).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(setup.payments().await[0].1, "unknown");

    // Started again, the hub resumes the open payment and learns it by inquiry.
    setup.start_hub(&|_| {}).await;
    let (paid, _, code) = setup.wait_state("success").await;
    assert_eq!(
        (paid.as_str(), code.as_deref()),
        (id.as_str(), Some("SUCCESS"))
    );
    assert_eq!(
        setup.control().ledger().await.status_of(&id),
        Some("SUCCESS")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpaid_payment_ends_when_it_expires_and_the_hub_agrees_with_alipay() {
    let setup = Setup::new(|settings| settings.payment_expiry = Duration::from_secs(2)).await;
    setup.push_order(counter_order(None, true)).await;
    post_and_redirect(&setup, &[("amount", "3")]).await;
    wait_until("the unpaid payment to be final", WAIT, || async {
        setup
            .payments()
            .await
            .iter()
            .any(|p| p.1 == "failed" || p.1 == "cancelled")
    })
    .await;
    let (id, state, code) = setup.payments().await.remove(0);
    // Alipay closes an expired payment itself (FAIL ORDER_IS_CLOSED); had it still been
    // processing, the hub would have cancelled it. Either way the two records agree.
    let ledger = setup.control().ledger().await;
    let expected = match state.as_str() {
        "failed" => "FAIL",
        _ => "CANCELLED",
    };
    assert_eq!(ledger.status_of(&id), Some(expected), "{state} {code:?}");
    assert_eq!(
        code.as_deref(),
        Some(ledger.payment(&id).unwrap().result_code.as_str())
    );
    let result = next_entry_result(&setup).await;
    assert_eq!(result["outcome"], state.as_str());
}

#[test]
fn hub_entry_code_writes_a_png_whose_qr_decodes_to_the_page_url_and_a_pdf() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hub.toml");
    std::fs::write(
        &config,
        "[hub]\nlisten = \"127.0.0.1:0\"\npublic_url = \"https://hub.example.com\"\n",
    )
    .unwrap();
    let png = dir.path().join("code.png");
    let run = |args: &[&str]| {
        let mut all = vec!["--config", config.to_str().unwrap(), "hub", "entry-code"];
        all.extend_from_slice(args);
        std::process::Command::new(binary())
            .args(&all)
            .env_remove("ALIPAY_POS_CONFIG")
            .output()
            .unwrap()
    };
    let out = run(&[
        "--store",
        "S01",
        "--counter",
        "T01",
        "--out",
        png.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoded = std::process::Command::new("zbarimg")
        .args(["--quiet", "--raw", png.to_str().unwrap()])
        .output()
        .expect("zbarimg (Debian zbar-tools) is installed");
    assert_eq!(
        String::from_utf8_lossy(&decoded.stdout).trim(),
        "https://hub.example.com/entry/S01/T01"
    );
    let pdf = dir.path().join("code.pdf");
    let out = run(&["--store", "S01", "--out", pdf.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF-1.4"));
    let out = run(&[
        "--store",
        "S01",
        "--out",
        dir.path().join("code.gif").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(".png or .pdf"));
}

/// The real `alipay-pos hub` (Entry Code on its embedded sandbox) with its stdout and
/// stderr read: the address it listens on and the sandbox's URL.
struct HubProcess {
    child: std::process::Child,
    sandbox_url: String,
}

fn spawn_hub_process(config: &std::path::Path) -> HubProcess {
    use std::io::BufRead;
    let mut child = std::process::Command::new(binary())
        .args(["--config", config.to_str().unwrap(), "hub"])
        .env_remove("ALIPAY_POS_CONFIG")
        .env_remove("DATABASE_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let tx_err = tx.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx_err.send(line);
        }
    });
    let mut sandbox_url = None;
    let mut listening = false;
    while !(listening && sandbox_url.is_some()) {
        let line = rx.recv_timeout(WAIT).expect("the hub did not start");
        eprintln!("hub: {line}");
        if line.starts_with("hub listening on ") {
            listening = true;
        }
        if let Some(rest) = line.split("embedded sandbox at ").nth(1) {
            sandbox_url = rest.split(':').take(3).collect::<Vec<_>>().join(":").into();
        }
    }
    HubProcess {
        child,
        sandbox_url: sandbox_url.unwrap(),
    }
}

/// SIGKILL campaign: the real hub process is killed at random instants while wallets pay,
/// 100 times; restarted, it resolves every payment, none is paid twice, and PostgreSQL and
/// the sandbox's ledger agree payment for payment. (The sandbox runs inside the hub, so it
/// dies too; its ledger is a SQLite file that survives, as Alipay's records would.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_campaign_every_entry_code_payment_is_resolved_once() {
    const TRIALS: u64 = 100;
    let pg = Postgres::start().await;
    let database_url = pg.fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let data = dir.path().join("data");
    let config = dir.path().join("hub.toml");
    std::fs::write(
        &config,
        format!(
            "[alipay]\ngateway = \"sandbox\"\n\n[storage]\ndata_dir = \"{}\"\n\n[hub]\n\
             listen = \"127.0.0.1:{port}\"\npublic_url = \"{base}\"\ndatabase_url = \"{database_url}\"\n",
            data.display()
        ),
    )
    .unwrap();
    let enrol = std::process::Command::new(binary())
        .args([
            "--config",
            config.to_str().unwrap(),
            "hub",
            "terminals",
            "add",
            "T01",
        ])
        .env_remove("ALIPAY_POS_CONFIG")
        .output()
        .unwrap();
    assert!(
        enrol.status.success(),
        "{}",
        String::from_utf8_lossy(&enrol.stderr)
    );
    let token = String::from_utf8_lossy(&enrol.stdout)
        .lines()
        .last()
        .unwrap()
        .to_owned();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let wallet = reqwest::Client::builder()
        .user_agent(WALLET_USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut seed: u64 = 0x5eed_0013;
    let mut random = move |below: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % below
    };
    for trial in 0..TRIALS {
        let mut hub = spawn_hub_process(&config);
        let order = counter_order(None, true);
        let pushed = http
            .put(format!("{base}/hub/v1/entry-order"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(order.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(pushed.status(), 200);
        // One payment in five is answered `U` by the sandbox (9901): an unknown to resolve.
        let amount = if random(5) == 0 {
            "99.01".to_owned()
        } else {
            format!("{}.{:02}", 1 + random(50), random(100))
        };
        let post = wallet
            .post(format!("{base}/entry/S01/T01"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[("amount", &amount)]))
            .send();
        let posting = tokio::spawn(post);
        tokio::time::sleep(Duration::from_millis(random(250))).await;
        hub.child.kill().unwrap();
        hub.child.wait().unwrap();
        let _ = posting.await;
        let _ = trial;
    }

    // Up again: the customer pays half of the payments that reached the cashier and
    // declines the others; the rest the hub settles by itself (inquiry, cancel at expiry).
    let hub = spawn_hub_process(&config);
    let control_token =
        std::fs::read_to_string(data.join("sandbox").join("control.token")).unwrap();
    let control = Control::at(&hub.sandbox_url, control_token.trim());
    let (client, connection) = tokio_postgres::connect(&database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let ledger = control.ledger().await;
    for (n, payment) in ledger.payments.iter().enumerate() {
        if payment.status == "PROCESSING" {
            if n % 2 == 0 {
                control.customer_pays(&payment.payment_request_id).await;
            } else {
                control.customer_declines(&payment.payment_request_id).await;
            }
        }
    }
    let rows = || async {
        client
            .query(
                "SELECT payment_request_id, state, amount FROM hub_entry_payments ORDER BY id",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r.get::<_, String>(0),
                    r.get::<_, String>(1),
                    r.get::<_, i64>(2),
                )
            })
            .collect::<Vec<_>>()
    };
    wait_until(
        "every Entry Code payment final",
        Duration::from_secs(300),
        || async {
            rows()
                .await
                .iter()
                .all(|r| matches!(r.1.as_str(), "success" | "failed" | "cancelled"))
        },
    )
    .await;
    let rows = rows().await;
    let ledger = control.ledger().await;
    assert!(rows.len() as u64 <= TRIALS);
    // Every payment Alipay has was journaled first, once; none twice.
    let mut seen = std::collections::HashSet::new();
    for payment in &ledger.payments {
        assert!(
            seen.insert(payment.payment_request_id.clone()),
            "paid twice: {payment:?}"
        );
        assert!(
            rows.iter().any(|r| r.0 == payment.payment_request_id),
            "Alipay has a payment the hub never journaled: {payment:?}"
        );
    }
    let mut counts = std::collections::BTreeMap::<String, u32>::new();
    for (id, state, amount) in &rows {
        *counts.entry(state.clone()).or_default() += 1;
        let at_alipay = ledger.payment(id);
        match state.as_str() {
            "success" => {
                let paid = at_alipay.expect("paid at the hub, unknown to Alipay");
                assert_eq!(
                    (paid.status.as_str(), paid.amount as i64),
                    ("SUCCESS", *amount)
                );
            }
            "cancelled" => assert_eq!(at_alipay.map(|p| p.status.as_str()), Some("CANCELLED")),
            _ => assert!(
                at_alipay.is_none_or(|p| p.status == "FAIL"),
                "failed at the hub, {at_alipay:?} at Alipay"
            ),
        }
    }
    eprintln!(
        "campaign: {TRIALS} kills, {} payments journaled, {} at Alipay, outcomes {counts:?}",
        rows.len(),
        ledger.payments.len()
    );
    assert!(
        counts.get("success").copied().unwrap_or(0) > 0,
        "{counts:?}"
    );
    let mut hub = hub;
    hub.child.kill().unwrap();
    hub.child.wait().unwrap();
}
