//! The store hub against a real PostgreSQL (a throw-away cluster per test), real loopback
//! HTTP, the real engine and the embedded sandbox: Alipay's notifications reach a terminal
//! behind NAT through the hub, verified at both ends, stored before SUCCESS, delivered
//! once, and bad input changes nothing.

use std::path::Path;
use std::time::Duration;

use alipay_pos::ams::signing;
use alipay_pos::checkout::Policy;
use alipay_pos::config::{DEFAULT_HUB_PORT, HubConfig, SANDBOX_CLIENT_ID};
use alipay_pos::hub::{self, HubSettings, RunningHub};
use alipay_pos::hub_link::LinkState;
use alipay_pos::journal::{PaymentState, Resolution};
use alipay_pos::terminal::Terminal;
use serde_json::{Value, json};

use crate::support::postgres::Postgres;
use crate::support::*;

const WAIT: Duration = Duration::from_secs(40);

/// A hub in this process on a free port (or `port`), with the fixture Alipay key.
async fn start_hub(database_url: &str, port: u16) -> (RunningHub, deadpool_postgres::Pool) {
    let url = alipay_pos::config::DatabaseUrl::parse(database_url).unwrap();
    let pool = hub::db::pool(&url).unwrap();
    hub::schema::migrate(&pool).await.unwrap();
    let running = hub::server::start(HubSettings {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        client_id: SANDBOX_CLIENT_ID.to_owned(),
        alipay_key: alipay_public_key(),
        pool: pool.clone(),
    })
    .await
    .unwrap();
    (running, pool)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A demo terminal (`T01`) whose `[hub]` dials `dial` and tells Alipay to post to
/// `public`, with `token` in its token file. The poll interval is far longer than any test,
/// so only a notification can settle a payment.
async fn hub_terminal(dir: &Path, dial: &str, public: &str, token: &str) -> Terminal {
    hub_terminal_with(dir, dial, public, token, |_| {}).await
}

async fn hub_terminal_with(
    dir: &Path,
    dial: &str,
    public: &str,
    token: &str,
    adjust: impl FnOnce(&mut alipay_pos::sandbox::SandboxOptions),
) -> Terminal {
    let token_file = dir.join("hub.token");
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let mut config = sandbox_config(dir, None);
    config.hub = Some(HubConfig {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], DEFAULT_HUB_PORT)),
        public_url: Some(public.parse().unwrap()),
        database_url: None,
        url: Some(dial.parse().unwrap()),
        token_file: Some(token_file),
    });
    let mut policy = Policy::fast();
    policy.poll_interval = Duration::from_secs(600);
    demo_terminal_with(config, policy, |options| {
        options.time_scale = 0.02;
        adjust(options);
    })
    .await
}

async fn wait_connected(terminal: &Terminal) {
    wait_until("the terminal to connect to the hub", WAIT, || async {
        terminal.hub_link_state() == Some(LinkState::Connected)
    })
    .await;
}

async fn count(pg: &tokio_postgres::Client, sql: &str) -> i64 {
    pg.query_one(sql, &[]).await.unwrap().get(0)
}

/// A notification signed with the fixture Alipay key, as the sandbox would post it.
fn signed(path: &str, client_id: &str, body: &str) -> (String, String) {
    let time = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let content = signing::content_to_sign(path, client_id, &time, body.as_bytes());
    let signature = signing::sign_header(&alipay_private_key(), "1", &content)
        .unwrap()
        .to_string();
    (time, signature)
}

async fn post_notification(
    hub: &str,
    client_id: &str,
    request_time: Option<&str>,
    signature: Option<&str>,
    body: &str,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{hub}/alipay/notify"))
        .header("content-type", "application/json; charset=UTF-8")
        .header("client-id", client_id)
        .body(body.to_owned());
    if let Some(time) = request_time {
        request = request.header("request-time", time);
    }
    if let Some(signature) = signature {
        request = request.header("signature", signature);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, body_json(response).await)
}

async fn body_json(response: reqwest::Response) -> Value {
    let bytes = response.bytes().await.unwrap();
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
}

fn is_success(answer: &Value) -> bool {
    answer["result"]["resultStatus"] == "S" && answer["result"]["resultCode"] == "SUCCESS"
}

// ---------------------------------------------------------------------------------------
// The contract: start-up and enrolment through the real command line

fn hub_config_file(dir: &Path, database_url: &str) -> std::path::PathBuf {
    let path = dir.join("hub.toml");
    std::fs::write(
        &path,
        format!(
            "[alipay]\nalipay_public_key = \"{}\"\n\n[hub]\nlisten = \"127.0.0.1:0\"\n\
             public_url = \"https://hub.example.com\"\ndatabase_url = \"{database_url}\"\n",
            vector_path("alipay_public_key.pem").display()
        ),
    )
    .unwrap();
    path
}

/// Runs `alipay-pos hub` and returns it with its announced address once it listens.
fn spawn_hub_cli(config: &Path) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(binary())
        .args(["--config", config.to_str().unwrap(), "hub"])
        .env_remove("ALIPAY_POS_CONFIG")
        .env_remove("DATABASE_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let line = rx.recv_timeout(WAIT).expect("`hub` printed nothing");
    let address = line
        .strip_prefix("hub listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (child, address)
}

fn run_cli(config: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--config", config.to_str().unwrap()];
    all.extend_from_slice(args);
    std::process::Command::new(binary())
        .args(&all)
        .env_remove("ALIPAY_POS_CONFIG")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_migrates_at_start_once_even_twice_at_once_and_prints_its_address() {
    let pg = Postgres::start().await;
    let url = pg.fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let config = hub_config_file(dir.path(), &url);

    // Two hubs starting at once on an empty database: both come up, the schema once.
    let (mut first, first_address) = spawn_hub_cli(&config);
    let (mut second, second_address) = spawn_hub_cli(&config);
    assert!(
        first_address.starts_with("http://127.0.0.1:"),
        "{first_address}"
    );
    for address in [&first_address, &second_address] {
        // It accepts connections: a terminal without a token is refused, clearly.
        let response = reqwest::get(format!("{address}/hub/v1/notifications"))
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        let body: Value = body_json(response).await;
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("hub terminals add"),
            "{body}"
        );
    }
    let db = pg.connect(url.rsplit('/').next().unwrap()).await.unwrap();
    let versions: Vec<i32> = db
        .query("SELECT version FROM hub_schema ORDER BY version", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let latest = hub::schema::latest_version();
    assert_eq!(versions, (1..=latest).collect::<Vec<_>>());
    first.kill().unwrap();
    first.wait().unwrap();
    second.kill().unwrap();
    second.wait().unwrap();

    // A restart finds nothing to do.
    let (mut third, _) = spawn_hub_cli(&config);
    assert_eq!(
        count(&db, "SELECT count(*) FROM hub_schema").await,
        i64::from(latest)
    );
    third.kill().unwrap();
    third.wait().unwrap();

    // Without a database URL anywhere: exit 1 and the fix in the message.
    let bare = dir.path().join("bare.toml");
    std::fs::write(
        &bare,
        format!(
            "[alipay]\nalipay_public_key = \"{}\"\n",
            vector_path("alipay_public_key.pem").display()
        ),
    )
    .unwrap();
    let out = run_cli(&bare, &["hub"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DATABASE_URL"));
    // A database that is not there: exit 4, and the password is not in the message.
    let down = hub_config_file(
        dir.path(),
        &format!("postgres://postgres:pa55word@127.0.0.1:{}/x", free_port()),
    );
    let out = run_cli(&down, &["hub", "terminals", "list"]);
    assert_eq!(out.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot be reached") && !stderr.contains("pa55word"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminals_add_prints_the_token_last_and_stores_only_its_hash() {
    let pg = Postgres::start().await;
    let url = pg.fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let config = hub_config_file(dir.path(), &url);

    let out = run_cli(&config, &["hub", "terminals", "add", "T01"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.lines().last().unwrap().to_owned();
    assert!(token.starts_with("aphub."), "{stdout}");
    let secret = token.rsplit('.').next().unwrap();
    assert!(secret.len() >= 43, "{token}");

    let db = pg.connect(url.rsplit('/').next().unwrap()).await.unwrap();
    let row = db
        .query_one(
            "SELECT name, tag, token_sha256, revoked_at IS NULL FROM hub_terminals",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "T01");
    assert_eq!(row.get::<_, String>(1), "T01");
    use sha2::Digest;
    assert_eq!(
        row.get::<_, Vec<u8>>(2),
        sha2::Sha256::digest(secret.as_bytes()).to_vec()
    );
    assert!(row.get::<_, bool>(3));
    // The token itself is nowhere in the database.
    let dumped: String = db
        .query_one("SELECT string_agg(t::text, ' ') FROM hub_terminals t", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!dumped.contains(secret), "{dumped}");

    // A name whose tag an active terminal has is refused, naming it; nothing is added.
    for name in ["T01", "T-01"] {
        let out = run_cli(&config, &["hub", "terminals", "add", name]);
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("`T01`") && stderr.contains("revoke"),
            "{stderr}"
        );
    }
    assert_eq!(count(&db, "SELECT count(*) FROM hub_terminals").await, 1);

    let out = run_cli(&config, &["hub", "terminals", "list", "--json"]);
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed[0]["name"], "T01");
    assert_eq!(listed[0]["revokedAt"], Value::Null);

    let out = run_cli(&config, &["hub", "terminals", "revoke", "T01"]);
    assert_eq!(out.status.code(), Some(0));
    let out = run_cli(&config, &["hub", "terminals", "revoke", "T01"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no active terminal"));
    // Once revoked, the tag is free again.
    let out = run_cli(&config, &["hub", "terminals", "add", "T-01"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM hub_terminals WHERE revoked_at IS NULL"
        )
        .await,
        1
    );
}

// ---------------------------------------------------------------------------------------
// End to end: Alipay → hub → terminal

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_is_settled_by_the_notification_the_hub_relays() {
    let pg = Postgres::start().await;
    let url = pg.fresh_database().await;
    let (running, pool) = start_hub(&url, 0).await;
    let hub_url = format!("http://{}", running.address);
    let token = hub::terminals::add(&pool, "T01").await.unwrap().token;
    let dir = tempfile::tempdir().unwrap();
    let terminal = hub_terminal(dir.path(), &hub_url, &hub_url, token.expose()).await;
    assert_eq!(
        terminal.notify_url().map(|u| u.as_str().to_owned()),
        Some(format!("{hub_url}/alipay/notify"))
    );
    wait_connected(&terminal).await;
    let control = Control::of(&terminal);

    let (id, code) = awaiting(&terminal, "4.20").await;
    let (status, _) = control.wallet_pay(&code).await;
    assert_eq!(status, 200);
    let record = wait_final(&terminal.checkout, &id, WAIT).await;
    assert_eq!(record.state, PaymentState::Paid);
    assert_eq!(
        record.resolution,
        Some(Resolution::Notify),
        "the poller must not have decided"
    );
    assert_eq!(
        control
            .ledger()
            .await
            .payment(&id)
            .unwrap()
            .notify_url
            .as_deref(),
        Some(format!("{hub_url}/alipay/notify").as_str())
    );

    let db = pg.connect(url.rsplit('/').next().unwrap()).await.unwrap();
    wait_until("the terminal's acknowledgement", WAIT, || async {
        count(
            &db,
            "SELECT count(*) FROM hub_notifications WHERE ack_outcome = 'recorded'",
        )
        .await
            == 1
    })
    .await;
    let row = db
        .query_one(
            "SELECT path, route_tag, headers->>'client-id', delivered_at IS NOT NULL FROM hub_notifications",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "/alipay/notify");
    assert_eq!(row.get::<_, String>(1), "T01");
    assert_eq!(row.get::<_, String>(2), SANDBOX_CLIENT_ID);
    assert!(row.get::<_, bool>(3));

    // The command line reports how the outcome was learned.
    let config = dir.path().join("status.toml");
    std::fs::write(
        &config,
        format!("[storage]\ndata_dir = \"{}\"\n", dir.path().display()),
    )
    .unwrap();
    let out = run_cli(&config, &["status", &id, "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["resolution"], "notify");
    assert_eq!(status["status"], "SUCCESS");
    running.stop().await;
}

/// Alipay posts to the hub while the terminal cannot reach it: the notification waits in
/// PostgreSQL and arrives once the terminal connects (here through a second hub on the
/// same database, the port the terminal dials); a resend is stored once and applied once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_notifications_arrive_on_connect_and_a_resend_is_applied_once() {
    let pg = Postgres::start().await;
    let url = pg.fresh_database().await;
    let (public, pool) = start_hub(&url, 0).await;
    let public_url = format!("http://{}", public.address);
    let dial_port = free_port();
    let dial_url = format!("http://127.0.0.1:{dial_port}");
    let token = hub::terminals::add(&pool, "T01").await.unwrap().token;
    let dir = tempfile::tempdir().unwrap();
    let terminal = hub_terminal(dir.path(), &dial_url, &public_url, token.expose()).await;
    let control = Control::of(&terminal);
    let db = pg.connect(url.rsplit('/').next().unwrap()).await.unwrap();

    let (id, code) = awaiting(&terminal, "6.30").await;
    let (status, _) = control.wallet_pay(&code).await;
    assert_eq!(status, 200);
    wait_until("the hub to store the notification", WAIT, || async {
        count(&db, "SELECT count(*) FROM hub_notifications").await == 1
    })
    .await;
    assert!(matches!(
        terminal.hub_link_state(),
        Some(LinkState::Unreachable(_) | LinkState::Connecting)
    ));
    let record = terminal.checkout.payment(&id).await.unwrap();
    assert_eq!(
        record.state,
        PaymentState::AwaitingCustomer,
        "nothing reached the terminal yet"
    );

    let (dialled, _) = start_hub(&url, dial_port).await;
    wait_connected(&terminal).await;
    let record = wait_final(&terminal.checkout, &id, WAIT).await;
    assert_eq!(record.state, PaymentState::Paid);
    assert_eq!(record.resolution, Some(Resolution::Notify));
    wait_until("the acknowledgement", WAIT, || async {
        count(
            &db,
            "SELECT count(*) FROM hub_notifications WHERE ack_outcome = 'recorded'",
        )
        .await
            == 1
    })
    .await;

    // Alipay resends it (signed afresh): SUCCESS, still one row, nothing waits again.
    let body: Vec<u8> = db
        .query_one("SELECT body FROM hub_notifications", &[])
        .await
        .unwrap()
        .get(0);
    let body = String::from_utf8(body).unwrap();
    let (time, signature) = signed("/alipay/notify", SANDBOX_CLIENT_ID, &body);
    let (status, answer) = post_notification(
        &public_url,
        SANDBOX_CLIENT_ID,
        Some(&time),
        Some(&signature),
        &body,
    )
    .await;
    assert_eq!(status, 200);
    assert!(is_success(&answer), "{answer}");
    let row = db
        .query_one("SELECT count(*), max(resends), count(*) FILTER (WHERE acknowledged_at IS NULL) FROM hub_notifications", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 1);
    assert_eq!(row.get::<_, i32>(1), 1);
    assert_eq!(
        row.get::<_, i64>(2),
        0,
        "a resend of a recorded notification is not relayed again"
    );
    let entity = record.entity();
    let journal_events = terminal
        .checkout
        .journal_for_tests(move |j| j.events_for(entity))
        .await
        .unwrap();
    let paid = journal_events
        .iter()
        .filter(|e| e.to_state.as_deref() == Some(PaymentState::Paid.as_str()))
        .count();
    assert_eq!(paid, 1, "{journal_events:#?}");
    dialled.stop().await;
    public.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_terminal_refuses_a_notification_the_hub_altered() {
    let pg = Postgres::start().await;
    let url = pg.fresh_database().await;
    let (public, pool) = start_hub(&url, 0).await;
    let public_url = format!("http://{}", public.address);
    let dial_port = free_port();
    let token = hub::terminals::add(&pool, "T01").await.unwrap().token;
    let dir = tempfile::tempdir().unwrap();
    let terminal = hub_terminal(
        dir.path(),
        &format!("http://127.0.0.1:{dial_port}"),
        &public_url,
        token.expose(),
    )
    .await;
    let control = Control::of(&terminal);
    let db = pg.connect(url.rsplit('/').next().unwrap()).await.unwrap();
    let (id, code) = awaiting(&terminal, "7.00").await;
    assert_eq!(control.wallet_pay(&code).await.0, 200);
    wait_until("the hub to store the notification", WAIT, || async {
        count(&db, "SELECT count(*) FROM hub_notifications").await == 1
    })
    .await;
    // A hub (or whoever holds its database) changes the amount.
    let changed = db
        .execute(
            "UPDATE hub_notifications SET body = convert_to(replace(convert_from(body, 'UTF8'), '700', '7'), 'UTF8')",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(changed, 1);

    let (dialled, _) = start_hub(&url, dial_port).await;
    wait_connected(&terminal).await;
    wait_until("the terminal's rejection", WAIT, || async {
        count(
            &db,
            "SELECT count(*) FROM hub_notifications WHERE ack_outcome = 'rejected'",
        )
        .await
            == 1
    })
    .await;
    let reason: String = db
        .query_one("SELECT ack_reason FROM hub_notifications", &[])
        .await
        .unwrap()
        .get(0);
    assert!(reason.contains("signature"), "{reason}");
    let record = terminal.checkout.payment(&id).await.unwrap();
    assert_eq!(
        record.state,
        PaymentState::AwaitingCustomer,
        "never applied"
    );
    assert_eq!(record.resolution, None);
    dialled.stop().await;
    public.stop().await;
}

/// Merchant registration's `notifyRegistrationStatus` takes the same road, routed by the tag
/// in its `registrationRequestId`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_notification_reaches_its_terminal_through_the_hub() {
    let pg = Postgres::start().await;
    let url = pg.fresh_database().await;
    let (running, pool) = start_hub(&url, 0).await;
    let hub_url = format!("http://{}", running.address);
    let token = hub::terminals::add(&pool, "T01").await.unwrap().token;
    let dir = tempfile::tempdir().unwrap();
    let terminal = hub_terminal_with(dir.path(), &hub_url, &hub_url, token.expose(), |o| {
        o.registration_delay = Duration::from_millis(300);
    })
    .await;
    wait_connected(&terminal).await;
    let report = terminal.checkout.register().await.unwrap();
    let id = report.record.registration_request_id.clone();
    let db = pg.connect(url.rsplit('/').next().unwrap()).await.unwrap();
    wait_until("the review's notification to be recorded", WAIT, || async {
        terminal
            .reader()
            .unwrap()
            .registration_notification_counts()
            .unwrap()
            == (1, 1)
    })
    .await;
    wait_until("the terminal's acknowledgement", WAIT, || async {
        count(
            &db,
            "SELECT count(*) FROM hub_notifications \
             WHERE kind = 'notifyRegistrationStatus' AND route_tag = 'T01' AND ack_outcome = 'recorded'",
        )
        .await
            == 1
    })
    .await;
    assert!(id.contains("-T01-"), "{id}");
    running.stop().await;
}

// ---------------------------------------------------------------------------------------
// Bad input changes nothing

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_notifications_and_bad_tokens_are_refused_and_change_nothing() {
    let pg = Postgres::start().await;
    let url = pg.fresh_database().await;
    let (running, pool) = start_hub(&url, 0).await;
    let hub_url = format!("http://{}", running.address);
    let db = pg.connect(url.rsplit('/').next().unwrap()).await.unwrap();
    let body = json!({
        "notifyType": "PAYMENT_RESULT",
        "result": {"resultCode": "SUCCESS", "resultStatus": "S", "resultMessage": "success"},
        "paymentRequestId": "P-1764600000-T01-ABCDEF012345",
        "paymentId": "2026120111111111",
        "paymentAmount": {"currency": "USD", "value": "1250"},
        "paymentCreateTime": "2026-12-01T10:00:00+08:00",
        "paymentTime": "2026-12-01T10:00:05+08:00"
    })
    .to_string();
    let (time, signature) = signed("/alipay/notify", SANDBOX_CLIENT_ID, &body);

    // Unsigned.
    let (status, answer) =
        post_notification(&hub_url, SANDBOX_CLIENT_ID, Some(&time), None, &body).await;
    assert_eq!(status, 401);
    assert!(!is_success(&answer));
    // Signed, then altered.
    let altered = body.replace("1250", "125");
    let (status, answer) = post_notification(
        &hub_url,
        SANDBOX_CLIENT_ID,
        Some(&time),
        Some(&signature),
        &altered,
    )
    .await;
    assert_eq!(status, 401);
    assert!(!is_success(&answer));
    // Correctly signed by Alipay, for another merchant's client id.
    let (other_time, other_signature) = signed("/alipay/notify", "OTHER_CLIENT", &body);
    let (status, answer) = post_notification(
        &hub_url,
        "OTHER_CLIENT",
        Some(&other_time),
        Some(&other_signature),
        &body,
    )
    .await;
    assert_eq!(status, 403);
    assert!(!is_success(&answer));
    // Too large for the body limit.
    let huge = "x".repeat(hub::server::MAX_NOTIFICATION_BYTES + 1);
    let (status, _) = (
        reqwest::Client::new()
            .post(format!("{hub_url}/alipay/notify"))
            .body(huge)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        (),
    );
    assert_eq!(status, 413);
    assert_eq!(
        count(&db, "SELECT count(*) FROM hub_notifications").await,
        0
    );
    // The genuine one is taken.
    let (status, answer) = post_notification(
        &hub_url,
        SANDBOX_CLIENT_ID,
        Some(&time),
        Some(&signature),
        &body,
    )
    .await;
    assert_eq!(status, 200);
    assert!(is_success(&answer));
    assert_eq!(
        count(&db, "SELECT count(*) FROM hub_notifications").await,
        1
    );

    // Tokens: unknown, malformed, revoked; each refused with a message, nothing changed.
    let enrolled = hub::terminals::add(&pool, "T01").await.unwrap();
    let events = format!("{hub_url}/hub/v1/notifications");
    let http = reqwest::Client::new();
    let before = hub::terminals::list(&pool).await.unwrap();
    let forged = format!(
        "aphub.{}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        enrolled.id
    );
    for bad in [forged.as_str(), "aphub.999.x", "not-a-token"] {
        let response = http.get(&events).bearer_auth(bad).send().await.unwrap();
        assert_eq!(response.status(), 401, "{bad}");
        let refusal: Value = body_json(response).await;
        assert!(
            refusal["error"].as_str().unwrap().contains("unknown token"),
            "{refusal}"
        );
        let ack = http
            .post(format!("{events}/1/ack"))
            .bearer_auth(bad)
            .body(r#"{"outcome":"recorded"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(ack.status(), 401);
    }
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM hub_notifications WHERE acknowledged_at IS NOT NULL"
        )
        .await,
        0
    );

    // A connected terminal is cut off when it is revoked, and refused afterwards.
    let mut stream = http
        .get(&events)
        .bearer_auth(enrolled.token.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut seen = String::new();
    while !seen.contains("event: ready") {
        let chunk = tokio::time::timeout(WAIT, stream.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    hub::terminals::revoke(&pool, "T01").await.unwrap();
    let ended = tokio::time::timeout(WAIT, async {
        loop {
            match stream.chunk().await {
                Ok(Some(chunk)) => seen.push_str(&String::from_utf8_lossy(&chunk)),
                _ => return,
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the stream of a revoked terminal stays open: {seen}"
    );
    assert!(seen.contains("event: revoked"), "{seen}");
    let response = http
        .get(&events)
        .bearer_auth(enrolled.token.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let refusal: Value = body_json(response).await;
    assert!(
        refusal["error"].as_str().unwrap().contains("revoked"),
        "{refusal}"
    );
    let after = hub::terminals::list(&pool).await.unwrap();
    assert_eq!(after.len(), before.len());
    assert!(after[0].revoked_at.is_some());
    running.stop().await;
}

// ---------------------------------------------------------------------------------------
// PostgreSQL down

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_postgres_down_alipay_is_asked_to_resend_and_the_resend_is_delivered() {
    let pg = Postgres::start().await;
    let url = pg.fresh_database().await;
    let (running, pool) = start_hub(&url, 0).await;
    let hub_url = format!("http://{}", running.address);
    let token = hub::terminals::add(&pool, "T01").await.unwrap().token;
    let dir = tempfile::tempdir().unwrap();
    let terminal = hub_terminal(dir.path(), &hub_url, &hub_url, token.expose()).await;
    wait_connected(&terminal).await;
    let control = Control::of(&terminal);
    let (id, code) = awaiting(&terminal, "5.10").await;

    pg.stop();
    let (status, paid) = control.wallet_pay(&code).await;
    assert_eq!(status, 200);
    let payment_id = paid["paymentId"].as_str().unwrap().to_owned();
    wait_until("the hub to refuse a notification attempt", WAIT, || async {
        control.ledger().await.notifications.iter().any(|n| {
            n["subject"] == payment_id.as_str()
                && n["attempts"].as_u64().unwrap_or(0) >= 1
                && n["status"] != "DELIVERED"
        })
    })
    .await;
    // Nothing was acknowledged to Alipay, so nothing is settled yet.
    assert_eq!(
        terminal.checkout.payment(&id).await.unwrap().state,
        PaymentState::AwaitingCustomer
    );
    let last_error = control
        .ledger()
        .await
        .notifications
        .iter()
        .find(|n| n["subject"] == payment_id.as_str())
        .map(|n| n["last_error"].to_string())
        .unwrap();
    assert!(last_error.contains("503"), "{last_error}");

    pg.start_again().await;
    let record = wait_final(&terminal.checkout, &id, Duration::from_secs(90)).await;
    assert_eq!(record.state, PaymentState::Paid);
    assert_eq!(record.resolution, Some(Resolution::Notify));
    let db = pg.connect(url.rsplit('/').next().unwrap()).await.unwrap();
    assert_eq!(
        count(&db, "SELECT count(*) FROM hub_notifications").await,
        1
    );
    running.stop().await;
}

// ---------------------------------------------------------------------------------------
// The figure (issue 13 §2): notification → "Paid" for the faces, on loopback

/// `cargo test --features failpoints,test-support --test it -- --ignored hub::relay_latency`
/// prints p50/p99 over 100 payments of the time from the customer's payment at the sandbox
/// (which posts `notifyPayment` to the hub at once) to the engine publishing "Paid" (what
/// the screens show): an upper bound of hub-received → Paid, as it includes the sandbox's
/// post. Goal: p99 under 200 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a figure, not a check: run it on purpose"]
async fn relay_latency_figure() {
    let pg = Postgres::start().await;
    let url = pg.fresh_database().await;
    let (running, pool) = start_hub(&url, 0).await;
    let hub_url = format!("http://{}", running.address);
    let token = hub::terminals::add(&pool, "T01").await.unwrap().token;
    let dir = tempfile::tempdir().unwrap();
    let terminal = hub_terminal(dir.path(), &hub_url, &hub_url, token.expose()).await;
    wait_connected(&terminal).await;
    let control = Control::of(&terminal);
    let mut events = Events::new(&terminal.checkout);
    let mut latencies = Vec::new();
    for _ in 0..100 {
        let (id, code) = awaiting(&terminal, "1.00").await;
        let (status, _) = control.wallet_pay(&code).await;
        let paid_at_alipay = std::time::Instant::now();
        assert_eq!(status, 200);
        events
            .wait_for("Paid", WAIT, |e| is_state(e, &id, PaymentState::Paid))
            .await;
        latencies.push(paid_at_alipay.elapsed());
        let record = terminal.checkout.payment(&id).await.unwrap();
        assert_eq!(record.resolution, Some(Resolution::Notify));
    }
    latencies.sort();
    println!(
        "sandbox pays → hub → terminal \"Paid\": p50 {:?}, p99 {:?}, max {:?} over {} payments",
        percentile(&latencies, 50),
        percentile(&latencies, 99),
        latencies.last().unwrap(),
        latencies.len()
    );
    running.stop().await;
}

/// Nothing secret reaches the hub's log, even at trace level for every crate: not the
/// database password, not a terminal's token (good or forged), not the token's hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_hubs_log() {
    let pg = Postgres::start().await;
    let url = pg.fresh_database().await;
    // Trust authentication ignores the password, so it can be one nobody could guess.
    let with_password = url.replacen("postgres@", "postgres:Zq9-s3cr3t-pw@", 1);
    let dir = tempfile::tempdir().unwrap();
    let config = hub_config_file(dir.path(), &with_password);
    let out = run_cli(&config, &["hub", "terminals", "add", "T01"]);
    assert_eq!(out.status.code(), Some(0));
    let token = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_owned();
    let secret = token.rsplit('.').next().unwrap().to_owned();
    // `config check` names the database, its password masked.
    let terminal_config = dir.path().join("terminal.toml");
    std::fs::write(
        &terminal_config,
        format!(
            "[hub]\nurl = \"http://127.0.0.1:8092\"\ntoken_file = \"t\"\ndatabase_url = \"{with_password}\"\n"
        ),
    )
    .unwrap();
    let out = run_cli(&terminal_config, &["config", "check"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = String::from_utf8(out.stdout).unwrap();
    assert!(
        shown.contains("store hub database: postgres://postgres:***@"),
        "{shown}"
    );
    assert!(!shown.contains("Zq9-s3cr3t-pw"), "{shown}");
    assert!(
        shown.contains("Alipay posts to http://127.0.0.1:8092/alipay/notify"),
        "{shown}"
    );

    let log = std::fs::File::create(dir.path().join("hub.log")).unwrap();
    let mut child = std::process::Command::new(binary())
        .args(["--config", config.to_str().unwrap(), "hub"])
        .env_remove("ALIPAY_POS_CONFIG")
        .env_remove("DATABASE_URL")
        .env("ALIPAY_POS_LOG", "trace")
        .stdout(std::process::Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let address = {
        use std::io::BufRead;
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        line.trim()
            .strip_prefix("hub listening on ")
            .unwrap()
            .to_owned()
    };
    let http = reqwest::Client::new();
    let events = format!("{address}/hub/v1/notifications");
    let mut stream = http.get(&events).bearer_auth(&token).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    let first = tokio::time::timeout(WAIT, stream.chunk())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&first).contains("ready"));
    let forged = format!("aphub.1.{}", "B".repeat(43));
    let refused = http.get(&events).bearer_auth(&forged).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let ack = http
        .post(format!("{events}/1/ack"))
        .bearer_auth(&token)
        .body(r#"{"outcome":"recorded"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(ack.status(), 404);
    drop(stream);
    child.kill().unwrap();
    child.wait().unwrap();

    let logged = std::fs::read_to_string(dir.path().join("hub.log")).unwrap();
    assert!(
        logged.contains("refused a terminal"),
        "the log was written: {logged}"
    );
    use sha2::Digest;
    let hash: String = sha2::Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    for secret_text in ["Zq9-s3cr3t-pw", secret.as_str(), &"B".repeat(43), &hash] {
        assert!(
            !logged.contains(secret_text),
            "{secret_text} in the log:\n{logged}"
        );
    }
}

/// Stopping the hub ends every terminal's stream at once (the stop does not wait for
/// them); the terminal reconnects to the hub started again on the same address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_reconnects_to_a_restarted_hub() {
    let pg = Postgres::start().await;
    let url = pg.fresh_database().await;
    let (running, pool) = start_hub(&url, 0).await;
    let port = running.address.port();
    let hub_url = format!("http://{}", running.address);
    let token = hub::terminals::add(&pool, "T01").await.unwrap().token;
    let dir = tempfile::tempdir().unwrap();
    let terminal = hub_terminal(dir.path(), &hub_url, &hub_url, token.expose()).await;
    wait_connected(&terminal).await;
    let mut link = terminal.watch_hub_link().unwrap();

    let stopping = std::time::Instant::now();
    running.stop().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(4),
        "{:?}",
        stopping.elapsed()
    );
    tokio::time::timeout(WAIT, link.wait_for(|state| *state != LinkState::Connected))
        .await
        .expect("the terminal noticed the hub stopping")
        .unwrap();

    let (restarted, _) = start_hub(&url, port).await;
    wait_connected(&terminal).await;
    let control = Control::of(&terminal);
    let (id, code) = awaiting(&terminal, "2.20").await;
    assert_eq!(control.wallet_pay(&code).await.0, 200);
    let record = wait_final(&terminal.checkout, &id, WAIT).await;
    assert_eq!(record.resolution, Some(Resolution::Notify));
    restarted.stop().await;
}
