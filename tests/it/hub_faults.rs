//! The store hub under faults (issue 13 §6): notification delivery survives a hub killed
//! with SIGKILL, a PostgreSQL restart and a terminal killed between applying a notification
//! and acknowledging it. Everything is real: the hub is its own `alipay-pos hub` process (so
//! it can be SIGKILLed), PostgreSQL is a throw-away cluster, terminals run the real engine on
//! the sandbox (embedded, or its own `alipay-pos sandbox` process when the terminal is the
//! process that dies), and every wait has a deadline.
//!
//! After each fault, whatever the timing was:
//! - every notification reaches its terminal and is applied exactly once (one transition
//!   to Paid per payment, learned from the notification, not from polling: the poll
//!   interval is longer than any test);
//! - every resend Alipay makes (after an outage, or signed afresh later) is stored once;
//! - the terminal's journal and the hub's notification table agree row for row, and every
//!   row is acknowledged.
//!
//! `cargo test --features failpoints,test-support --test it hub_faults::` runs them (the
//! terminal kill needs the `failpoints` build; the other tests do not).

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use alipay_pos::ams::signing;
use alipay_pos::checkout::Policy;
use alipay_pos::config::{HubConfig, SANDBOX_CLIENT_ID};
use alipay_pos::hub_link::LinkState;
use alipay_pos::journal::{
    EventKind, EventRecord, Journal, PaymentFilter, PaymentRecord, PaymentState, Resolution,
};
use alipay_pos::terminal::Terminal;
use serde_json::Value;

use crate::support::postgres::Postgres;
use crate::support::*;

/// Bounds every wait: a hang fails the test instead of blocking it.
const WAIT: Duration = Duration::from_secs(90);
/// The terminals of the stream tests, each with its own embedded sandbox.
const TERMINALS: [&str; 2] = ["T01", "T02"];
/// Payments in a stream (alternating between the terminals), and where in it the fault
/// starts and ends.
const PAYMENTS: usize = 24;
const FAULT_AFTER: usize = 7;
const FAULT_UNTIL: usize = 15;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ---------------------------------------------------------------------------------------
// The hub as its own process

/// A hub config on a fixed loopback port (a restarted hub comes back on the same address,
/// the one the sandbox posts to and the terminals dial).
fn hub_config(dir: &Path, database_url: &str, port: u16, client_id: &str, key: &Path) -> PathBuf {
    let path = dir.join("hub.toml");
    std::fs::write(
        &path,
        format!(
            "[alipay]\nclient_id = \"{client_id}\"\nalipay_public_key = \"{}\"\n\n[hub]\n\
             listen = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\n\
             database_url = \"{database_url}\"\n",
            key.display()
        ),
    )
    .unwrap();
    path
}

fn run_cli(config: &Path, args: &[&str]) -> std::process::Output {
    Command::new(binary())
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("ALIPAY_POS_CONFIG")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap()
}

/// `hub terminals add NAME`: the token, the last line of stdout.
fn enrol(config: &Path, name: &str) -> String {
    let out = run_cli(config, &["hub", "terminals", "add", name]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_owned()
}

/// A running `alipay-pos hub`, its log appended to `log`; SIGKILLed on drop.
struct HubProcess {
    child: Child,
}

impl HubProcess {
    fn start(config: &Path, log: &Path) -> HubProcess {
        HubProcess::start_armed(config, log, None)
    }

    /// With `failpoint` armed (`ALIPAY_POS_FAILPOINT`): the hub hangs there, announcing it
    /// in its log, until the test kills it.
    fn start_armed(config: &Path, log: &Path, failpoint: Option<&str>) -> HubProcess {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let mut child = Command::new(binary())
            .arg("--config")
            .arg(config)
            .arg("hub")
            .env_remove("ALIPAY_POS_CONFIG")
            .env_remove("DATABASE_URL")
            .env("ALIPAY_POS_LOG", "info")
            .env("ALIPAY_POS_FAILPOINT", failpoint.unwrap_or(""))
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let line = rx.recv_timeout(WAIT).expect("`hub` printed nothing");
        assert!(line.starts_with("hub listening on "), "{line}");
        HubProcess { child }
    }

    /// SIGKILL: no graceful anything, as a power cut or the OOM killer would.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------------------------------------
// Terminals in this process, on the embedded sandbox

/// A demo terminal `name` on the embedded sandbox (fixture keys, so the hub verifies what
/// it signs) dialling the hub at `hub_url`, which is also where the sandbox posts. The
/// sandbox resends an unacknowledged notification after 0.6 s, 3 s, 3 s, ... (Alipay's
/// schedule × 0.005).
async fn terminal_behind_hub(dir: &Path, name: &str, hub_url: &str, token: &str) -> Terminal {
    std::fs::create_dir_all(dir).unwrap();
    let token_file = dir.join("hub.token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let mut config = sandbox_config(dir, None);
    config.store.terminal_id = name.to_owned();
    config.hub = Some(HubConfig {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        public_url: Some(hub_url.parse().unwrap()),
        database_url: None,
        url: Some(hub_url.parse().unwrap()),
        token_file: Some(token_file),
    });
    let mut policy = Policy::fast();
    policy.poll_interval = Duration::from_secs(600);
    demo_terminal_with(config, policy, |options| options.time_scale = 0.005).await
}

async fn wait_connected(terminal: &Terminal) {
    wait_until("the terminal to connect to the hub", WAIT, || async {
        terminal.hub_link_state() == Some(LinkState::Connected)
    })
    .await;
}

async fn count(db: &tokio_postgres::Client, sql: &str) -> i64 {
    db.query_one(sql, &[]).await.unwrap().get(0)
}

/// One payment of a journal, with its events.
type JournalRow = (PaymentRecord, Vec<EventRecord>);

/// Every payment in the journal, each with its events.
fn journal_rows(journal: &Journal) -> Vec<JournalRow> {
    journal
        .list_payments(&PaymentFilter::default())
        .unwrap()
        .into_iter()
        .map(|payment| {
            let events = journal.events_for(payment.entity()).unwrap();
            (payment, events)
        })
        .collect()
}

async fn journal_rows_of(terminal: &Terminal) -> Vec<JournalRow> {
    terminal
        .checkout
        .journal_for_tests(|j| Ok(journal_rows(j)))
        .await
        .unwrap()
}

fn paid_transitions(events: &[EventRecord]) -> usize {
    events
        .iter()
        .filter(|e| {
            e.kind == EventKind::Transition
                && e.to_state.as_deref() == Some(PaymentState::Paid.as_str())
        })
        .count()
}

fn duplicate_notes(events: &[EventRecord]) -> usize {
    events
        .iter()
        .filter(|e| e.kind == EventKind::Note && e.detail.contains("duplicate notification"))
        .count()
}

/// One row of `hub_notifications`, with what its body says.
#[derive(Debug)]
struct HubRow {
    id: i64,
    route_tag: Option<String>,
    payment_request_id: String,
    payment_id: String,
    resends: i32,
    delivered: bool,
    ack_outcome: Option<String>,
    body: String,
}

async fn hub_rows(db: &tokio_postgres::Client) -> Vec<HubRow> {
    db.query(
        "SELECT id, route_tag, resends, delivered_at IS NOT NULL, ack_outcome, body \
         FROM hub_notifications WHERE kind = 'notifyPayment' ORDER BY id",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|row| {
        let body = String::from_utf8(row.get::<_, Vec<u8>>(5)).unwrap();
        let parsed: Value = serde_json::from_str(&body).unwrap();
        HubRow {
            id: row.get(0),
            route_tag: row.get(1),
            resends: row.get(2),
            delivered: row.get(3),
            ack_outcome: row.get(4),
            payment_request_id: parsed["paymentRequestId"].as_str().unwrap().to_owned(),
            payment_id: parsed["paymentId"].as_str().unwrap().to_owned(),
            body,
        }
    })
    .collect()
}

/// The hub's notification table and each terminal's journal, row for row: every hub row is
/// routed to the terminal whose journal has its payment, acknowledged as recorded, and that
/// payment is Paid with the same `paymentId`, learned from the notification, by exactly one
/// transition; every payment a journal has as paid by notification has exactly one hub
/// row. Returns the rows.
async fn assert_hub_and_journals_agree(
    db: &tokio_postgres::Client,
    journals: &[(&str, Vec<JournalRow>)],
) -> Vec<HubRow> {
    let rows = hub_rows(db).await;
    let mut by_request: BTreeMap<&str, &HubRow> = BTreeMap::new();
    for row in &rows {
        assert!(
            by_request
                .insert(row.payment_request_id.as_str(), row)
                .is_none(),
            "two hub rows for {}",
            row.payment_request_id
        );
    }
    let mut seen = BTreeSet::new();
    for (tag, journal) in journals {
        for (payment, events) in journal {
            let id = payment.payment_request_id.as_str();
            let row = by_request.get(id).copied();
            if payment.state == PaymentState::Paid {
                let row = row.unwrap_or_else(|| panic!("{id} is paid but the hub has no row"));
                assert_eq!(row.route_tag.as_deref(), Some(*tag), "{row:?}");
                assert_eq!(
                    row.ack_outcome.as_deref(),
                    Some("recorded"),
                    "{id} paid but not acknowledged: {row:?}"
                );
                assert!(row.delivered, "{row:?}");
                assert_eq!(payment.payment_id.as_deref(), Some(row.payment_id.as_str()));
                assert_eq!(payment.resolution, Some(Resolution::Notify), "{id}");
                assert_eq!(paid_transitions(events), 1, "{id}: {events:#?}");
                seen.insert(id.to_owned());
            } else {
                assert!(
                    row.is_none(),
                    "{id} is {:?} but the hub has {row:?}",
                    payment.state
                );
            }
        }
    }
    let stored: BTreeSet<String> = rows.iter().map(|r| r.payment_request_id.clone()).collect();
    assert_eq!(stored, seen, "hub rows that no journal has as paid");
    rows
}

/// A notification body signed afresh with the fixture Alipay key, as Alipay signs a resend.
fn signed(client_id: &str, body: &str) -> (String, String) {
    let time = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let content = signing::content_to_sign("/alipay/notify", client_id, &time, body.as_bytes());
    let signature = signing::sign_header(&alipay_private_key(), "1", &content)
        .unwrap()
        .to_string();
    (time, signature)
}

/// Alipay's later resends of every stored notification (signed afresh, as Alipay does):
/// each is answered SUCCESS, stored once (only `resends` grows) and not relayed again.
async fn resend_everything(db: &tokio_postgres::Client, hub_url: &str, rows: &[HubRow]) {
    let http = reqwest::Client::new();
    for row in rows {
        let (time, signature) = signed(SANDBOX_CLIENT_ID, &row.body);
        let response = http
            .post(format!("{hub_url}/alipay/notify"))
            .header("content-type", "application/json; charset=UTF-8")
            .header("client-id", SANDBOX_CLIENT_ID)
            .header("request-time", time)
            .header("signature", signature)
            .body(row.body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let answer: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(answer["result"]["resultCode"], "SUCCESS", "{answer}");
    }
    let after = hub_rows(db).await;
    assert_eq!(after.len(), rows.len(), "a resend was stored twice");
    for (before, now) in rows.iter().zip(&after) {
        assert_eq!(before.id, now.id);
        assert_eq!(now.resends, before.resends + 1, "{now:?}");
        assert_eq!(now.ack_outcome.as_deref(), Some("recorded"), "{now:?}");
    }
}

// ---------------------------------------------------------------------------------------
// A stream of payments with a fault in the middle

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// SIGKILL the hub, start it again on the same address.
    KillHub,
    /// SIGKILL the hub between committing the first payment's notification and answering
    /// Alipay (failpoint `hub.after_store`), start it again: Alipay's resend finds the
    /// notification stored and is stored once.
    KillHubAfterCommit,
    /// Stop PostgreSQL under the running hub (`pg_ctl stop -m fast`), start it again.
    RestartPostgres,
}

/// `PAYMENTS` payments, each paid by the customer at the sandbox (which posts
/// `notifyPayment` to the hub at once); the fault starts right after payment
/// `FAULT_AFTER` is paid, so its notification is in flight, and ends after payment
/// `FAULT_UNTIL`: those in between are paid while the hub cannot store them.
async fn stream_through(fault: Fault) {
    let pg = Postgres::start().await;
    let url = pg.fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let hub_url = format!("http://127.0.0.1:{port}");
    let config = hub_config(
        dir.path(),
        &url,
        port,
        SANDBOX_CLIENT_ID,
        &vector_path("alipay_public_key.pem"),
    );
    let log = dir.path().join("hub.log");
    let tokens: Vec<String> = TERMINALS.iter().map(|name| enrol(&config, name)).collect();
    let (fault_after, armed) = match fault {
        Fault::KillHubAfterCommit => (0, Some(alipay_pos::failpoint::HUB_AFTER_STORE)),
        Fault::KillHub | Fault::RestartPostgres => (FAULT_AFTER, None),
    };
    let mut hub = HubProcess::start_armed(&config, &log, armed);
    let mut terminals = Vec::new();
    for (name, token) in TERMINALS.iter().zip(&tokens) {
        let terminal = terminal_behind_hub(&dir.path().join(name), name, &hub_url, token).await;
        wait_connected(&terminal).await;
        terminals.push(terminal);
    }
    let controls: Vec<Control> = terminals.iter().map(Control::of).collect();

    // Payment i is taken at terminal i % 2, each with its own sandbox ("Alipay" for it).
    let mut ids: Vec<(usize, String)> = Vec::new();
    for i in 0..PAYMENTS {
        let at = i % TERMINALS.len();
        let (terminal, control) = (&terminals[at], &controls[at]);
        let (id, code) = awaiting(terminal, &format!("1.{:02}", i + 1)).await;
        let (status, paid) = control.wallet_pay(&code).await;
        assert_eq!(status, 200, "{paid}");
        ids.push((at, id));
        if i == fault_after {
            match fault {
                Fault::KillHub => hub.kill(),
                Fault::KillHubAfterCommit => {
                    let reached = format!("failpoint {} reached", armed.unwrap_or_default());
                    wait_until(
                        "the hub to commit and hang before answering",
                        WAIT,
                        || async {
                            std::fs::read_to_string(&log)
                                .unwrap_or_default()
                                .contains(&reached)
                        },
                    )
                    .await;
                    hub.kill();
                }
                Fault::RestartPostgres => pg.stop(),
            }
        }
        if fault == Fault::RestartPostgres && i == FAULT_AFTER + 1 {
            // While PostgreSQL is down the hub answers non-SUCCESS, so Alipay resends.
            let payment_id = paid["paymentId"].as_str().unwrap().to_owned();
            wait_until(
                "the hub to refuse a notification with 503",
                WAIT,
                || async {
                    control.ledger().await.notifications.iter().any(|n| {
                        n["subject"] == payment_id.as_str()
                            && n["status"] != "DELIVERED"
                            && n["last_error"].to_string().contains("503")
                    })
                },
            )
            .await;
        }
        if i == FAULT_UNTIL {
            match fault {
                Fault::KillHub | Fault::KillHubAfterCommit => {
                    hub = HubProcess::start(&config, &log)
                }
                Fault::RestartPostgres => pg.start_again().await,
            }
        }
    }

    // Connected after the fault: a PostgreSQL restart cuts every connection open before it.
    let db = pg.connect(url.rsplit('/').next().unwrap()).await.unwrap();
    for (at, id) in &ids {
        let record = wait_final(&terminals[*at].checkout, id, WAIT).await;
        assert_eq!(record.state, PaymentState::Paid, "{id}");
        assert_eq!(record.resolution, Some(Resolution::Notify), "{id}");
    }
    wait_until("every notification to be acknowledged", WAIT, || async {
        count(
            &db,
            "SELECT count(*) FROM hub_notifications WHERE ack_outcome = 'recorded'",
        )
        .await
            == PAYMENTS as i64
    })
    .await;
    let mut journals = Vec::new();
    for (name, terminal) in TERMINALS.iter().zip(&terminals) {
        journals.push((*name, journal_rows_of(terminal).await));
    }
    let rows = assert_hub_and_journals_agree(&db, &journals).await;
    assert_eq!(rows.len(), PAYMENTS);

    // Alipay resent what the hub could not take during the fault, and each resend that
    // reached a working hub was stored once: no row took more copies than were sent.
    let mut attempts: BTreeMap<String, u64> = BTreeMap::new();
    for control in &controls {
        wait_until(
            "Alipay to see every notification answered",
            WAIT,
            || async {
                let ledger = control.ledger().await;
                ledger.notifications.len() == PAYMENTS / TERMINALS.len()
                    && ledger
                        .notifications
                        .iter()
                        .all(|n| n["status"] == "DELIVERED")
            },
        )
        .await;
        for n in control.ledger().await.notifications {
            attempts.insert(
                n["subject"].as_str().unwrap().to_owned(),
                n["attempts"].as_u64().unwrap(),
            );
        }
    }
    assert_eq!(attempts.len(), PAYMENTS);
    let resent = attempts.values().filter(|&&a| a >= 2).count();
    assert!(
        resent >= FAULT_UNTIL - fault_after - 1,
        "only {resent} notifications needed a resend: {attempts:?}"
    );
    if fault == Fault::KillHubAfterCommit {
        // Committed, never answered: Alipay resent it after the restart, and the resend
        // was counted, not stored again.
        let first = rows
            .iter()
            .find(|row| row.payment_request_id == ids[0].1)
            .unwrap();
        assert!(first.resends >= 1, "{first:?}");
    }
    for row in &rows {
        let sent = attempts[&row.payment_id];
        assert!(
            u64::try_from(row.resends).unwrap() < sent,
            "{row:?} counted more resends than the {sent} attempts"
        );
    }
    println!(
        "{fault:?}: {PAYMENTS} payments at {} terminals, {resent} notifications resent by Alipay, \
         {} of its resends reached the hub after a copy was stored",
        TERMINALS.len(),
        rows.iter().map(|r| r.resends).sum::<i32>()
    );
    resend_everything(&db, &hub_url, &rows).await;
    drop(terminals);
    drop(hub);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_killed_mid_stream_loses_no_notification_and_applies_none_twice() {
    stream_through(Fault::KillHub).await;
}

#[cfg(feature = "failpoints")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_killed_after_committing_and_before_answering_stores_alipays_resend_once() {
    stream_through(Fault::KillHubAfterCommit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_mid_stream_loses_no_notification_and_applies_none_twice() {
    stream_through(Fault::RestartPostgres).await;
}

/// Row ids are drawn when a row is inserted, not when it commits: a notification can become
/// visible after one with a higher id was already relayed. It must still reach its
/// terminal on the same connection (a hub that only looked above the last id it sent
/// would hold it back until the terminal reconnects, which a healthy link never does).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_committed_after_a_later_one_is_still_relayed() {
    let pg = Postgres::start().await;
    let url = pg.fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let hub_url = format!("http://127.0.0.1:{port}");
    let config = hub_config(
        dir.path(),
        &url,
        port,
        SANDBOX_CLIENT_ID,
        &vector_path("alipay_public_key.pem"),
    );
    let token = enrol(&config, "T01");
    let _hub = HubProcess::start(&config, &dir.path().join("hub.log"));
    let terminal = terminal_behind_hub(&dir.path().join("T01"), "T01", &hub_url, &token).await;
    wait_connected(&terminal).await;
    let control = Control::of(&terminal);
    let db = pg.connect(url.rsplit('/').next().unwrap()).await.unwrap();

    // The slow one: payment `early`'s notification, inserted (taking the lower id) in a
    // transaction that stays open, as a hub storing it under load would.
    let (early, _) = awaiting(&terminal, "8.10").await;
    // Alipay gave the payment its id when `pay` answered; the notification carries it.
    let early_payment_id = terminal
        .checkout
        .payment(&early)
        .await
        .unwrap()
        .payment_id
        .unwrap();
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let body = serde_json::json!({
        "notifyType": "PAYMENT_RESULT",
        "result": {"resultCode": "SUCCESS", "resultStatus": "S", "resultMessage": "success"},
        "paymentRequestId": early,
        "paymentId": early_payment_id,
        "paymentAmount": {"currency": "USD", "value": "810"},
        "paymentCreateTime": now,
        "paymentTime": now
    })
    .to_string();
    let (time, signature) = signed(SANDBOX_CLIENT_ID, &body);
    let headers = serde_json::json!({
        "client-id": SANDBOX_CLIENT_ID,
        "request-time": time,
        "signature": signature,
        "content-type": "application/json; charset=UTF-8",
    })
    .to_string();
    let mut slow = pg.connect(url.rsplit('/').next().unwrap()).await.unwrap();
    let transaction = slow.transaction().await.unwrap();
    transaction
        .execute(
            "INSERT INTO hub_notifications (kind, identity, route_tag, path, headers, body) \
             VALUES ('notifyPayment', 'slow-one', 'T01', '/alipay/notify', $1::text::jsonb, $2)",
            &[&headers, &body.as_bytes()],
        )
        .await
        .unwrap();

    // Meanwhile the next payment's notification is stored, relayed and applied.
    let (later, code) = awaiting(&terminal, "8.20").await;
    assert_eq!(control.wallet_pay(&code).await.0, 200);
    let record = wait_final(&terminal.checkout, &later, WAIT).await;
    assert_eq!(record.resolution, Some(Resolution::Notify));

    transaction.commit().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !terminal
        .checkout
        .payment(&early)
        .await
        .unwrap()
        .state
        .is_final()
    {
        if Instant::now() > deadline {
            let rows: Vec<String> = db
                .query(
                    "SELECT id::text || ' ' || identity || ' ack=' || coalesce(ack_outcome, '-') \
                     || ' delivered=' || (delivered_at IS NOT NULL)::text || ' ' \
                     || coalesce(ack_reason, '') FROM hub_notifications ORDER BY id",
                    &[],
                )
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            panic!(
                "{early} was not relayed after its commit; hub rows: {rows:#?}\nhub log:\n{}",
                std::fs::read_to_string(dir.path().join("hub.log")).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let record = terminal.checkout.payment(&early).await.unwrap();
    assert_eq!(record.state, PaymentState::Paid);
    assert_eq!(record.resolution, Some(Resolution::Notify));
    wait_until("both acknowledgements", WAIT, || async {
        count(
            &db,
            "SELECT count(*) FROM hub_notifications WHERE ack_outcome = 'recorded'",
        )
        .await
            == 2
    })
    .await;
}

/// A notification the journal refuses (its `paymentId` is not the one Alipay gave the
/// payment) is sent first on every new connection. The link must back off as it does for a
/// hub that is away (0.25 s, 0.5 s, 1 s, ...), not reconnect four times a second for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_the_journal_refuses_does_not_make_the_link_reconnect_in_a_loop() {
    let pg = Postgres::start().await;
    let url = pg.fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let hub_url = format!("http://127.0.0.1:{port}");
    let config = hub_config(
        dir.path(),
        &url,
        port,
        SANDBOX_CLIENT_ID,
        &vector_path("alipay_public_key.pem"),
    );
    let log = dir.path().join("hub.log");
    let token = enrol(&config, "T01");
    let _hub = HubProcess::start(&config, &log);
    let terminal = terminal_behind_hub(&dir.path().join("T01"), "T01", &hub_url, &token).await;
    wait_connected(&terminal).await;
    let (id, _) = awaiting(&terminal, "9.10").await;
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let body = serde_json::json!({
        "notifyType": "PAYMENT_RESULT",
        "result": {"resultCode": "SUCCESS", "resultStatus": "S", "resultMessage": "success"},
        "paymentRequestId": id,
        "paymentId": "2026120100000000000000000000000",
        "paymentAmount": {"currency": "USD", "value": "910"},
        "paymentCreateTime": now,
        "paymentTime": now
    })
    .to_string();
    let (time, signature) = signed(SANDBOX_CLIENT_ID, &body);
    let response = reqwest::Client::new()
        .post(format!("{hub_url}/alipay/notify"))
        .header("content-type", "application/json; charset=UTF-8")
        .header("client-id", SANDBOX_CLIENT_ID)
        .header("request-time", time)
        .header("signature", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let refused_at = Instant::now();
    let connections = || {
        strip_colours(&std::fs::read_to_string(&log).unwrap_or_default())
            .lines()
            .filter(|line| line.contains("terminal connected"))
            .count()
    };
    let before = connections();
    // Three reconnections after the refusal: at least 0.25 + 0.5 + 1 s with the backoff
    // growing; about 0.75 s if it started again at 0.25 s each time.
    wait_until("three reconnections after the refusal", WAIT, || async {
        connections() >= before + 3
    })
    .await;
    let took = refused_at.elapsed();
    assert!(
        took >= Duration::from_millis(1700),
        "three reconnections within {took:?}: the link does not back off"
    );
    let record = terminal.checkout.payment(&id).await.unwrap();
    assert_eq!(
        record.state,
        PaymentState::AwaitingCustomer,
        "never applied"
    );
}

// ---------------------------------------------------------------------------------------
// Two hubs on one database

/// Alipay posts to hub A; the terminal is connected to hub B only. A's commit wakes B's
/// stream through PostgreSQL `LISTEN/NOTIFY` at once (well inside B's 2 s rescan), and each
/// notification is applied and acknowledged exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_stored_by_one_hub_reaches_a_terminal_on_another_at_once() {
    const PAID: usize = 10;
    let pg = Postgres::start().await;
    let url = pg.fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let key = vector_path("alipay_public_key.pem");
    let (port_a, port_b) = (free_port(), free_port());
    let dir_a = dir.path().join("a");
    let dir_b = dir.path().join("b");
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    let config_a = hub_config(&dir_a, &url, port_a, SANDBOX_CLIENT_ID, &key);
    let config_b = hub_config(&dir_b, &url, port_b, SANDBOX_CLIENT_ID, &key);
    let token = enrol(&config_a, "T01");
    let _hub_a = HubProcess::start(&config_a, &dir.path().join("hub-a.log"));
    let _hub_b = HubProcess::start(&config_b, &dir.path().join("hub-b.log"));

    // The terminal dials B; its notify URL (where the sandbox posts) is A's.
    std::fs::create_dir_all(dir.path().join("T01")).unwrap();
    let token_file = dir.path().join("T01/hub.token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let mut config = sandbox_config(&dir.path().join("T01"), None);
    config.hub = Some(HubConfig {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        public_url: Some(format!("http://127.0.0.1:{port_a}").parse().unwrap()),
        database_url: None,
        url: Some(format!("http://127.0.0.1:{port_b}").parse().unwrap()),
        token_file: Some(token_file),
    });
    let mut policy = Policy::fast();
    policy.poll_interval = Duration::from_secs(600);
    let terminal = demo_terminal_with(config, policy, |o| o.time_scale = 0.005).await;
    wait_connected(&terminal).await;
    let control = Control::of(&terminal);
    let mut events = Events::new(&terminal.checkout);

    let mut latencies = Vec::new();
    for i in 0..PAID {
        let (id, code) = awaiting(&terminal, &format!("2.{:02}", i + 1)).await;
        assert_eq!(control.wallet_pay(&code).await.0, 200);
        let paid_at_alipay = Instant::now();
        events
            .wait_for("Paid", WAIT, |e| is_state(e, &id, PaymentState::Paid))
            .await;
        latencies.push(paid_at_alipay.elapsed());
    }
    latencies.sort();
    let db = pg.connect(url.rsplit('/').next().unwrap()).await.unwrap();
    wait_until("every acknowledgement", WAIT, || async {
        count(
            &db,
            "SELECT count(*) FROM hub_notifications WHERE ack_outcome = 'recorded'",
        )
        .await
            == PAID as i64
    })
    .await;
    let journal = journal_rows_of(&terminal).await;
    let rows = assert_hub_and_journals_agree(&db, &[("T01", journal)]).await;
    assert_eq!(rows.len(), PAID);
    println!(
        "hub A stores → hub B relays → Paid: p50 {:?}, max {:?} over {PAID} payments",
        percentile(&latencies, 50),
        latencies.last().unwrap()
    );
    // B's stream rescans every 2 s; the wake-up has to beat it every time.
    assert!(
        *latencies.last().unwrap() < Duration::from_millis(1000),
        "not woken across hubs: {latencies:?}"
    );
}

// ---------------------------------------------------------------------------------------
// The terminal killed between the hub's delivery and its acknowledgement

/// The client id the sandbox process accepts (its own key pair signs the notifications).
#[cfg(feature = "failpoints")]
const CLIENT_ID: &str = "SANDBOX_HUB_FAULTS";

/// A 0600 copy of a fixture key: the terminal refuses a private key others can read.
#[cfg(feature = "failpoints")]
fn private_key_copy(dir: &Path, name: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let target = dir.join(name);
    std::fs::copy(vector_path(name), &target).unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
    target
}

/// A child process whose stderr lines are collected as they come.
#[cfg(feature = "failpoints")]
struct Watched {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

#[cfg(feature = "failpoints")]
impl Watched {
    fn spawn(mut command: Command) -> Watched {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    let _ = tx.send(line);
                }
            });
        }
        Watched {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The first line (from now on) that `matches`; panics with the output after `within`.
    fn wait_for_line(
        &mut self,
        what: &str,
        within: Duration,
        matches: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if matches(&line) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no {what} within {within:?}; output:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    fn sigkill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for a normal exit; its exit code.
    fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // The rest of the output, for the failure message.
                while let Ok(line) = self.lines.try_recv() {
                    self.seen.push(line);
                }
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "did not exit within {within:?}; output:\n{}",
                self.seen.join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[cfg(feature = "failpoints")]
impl Drop for Watched {
    fn drop(&mut self) {
        self.sigkill();
    }
}

/// Lines of the hub's log that record terminal `T01`'s acknowledgement of row `id`.
#[cfg(feature = "failpoints")]
fn acks_logged(log: &Path, id: i64) -> usize {
    let needle = format!("id={id} ");
    strip_colours(&std::fs::read_to_string(log).unwrap_or_default())
        .lines()
        .filter(|line| {
            line.contains("notification recorded by its terminal") && line.contains(&needle)
        })
        .count()
}

/// The text without its terminal colour codes (`ESC [ ... m`), which the log may carry.
fn strip_colours(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for end in chars.by_ref() {
                if end == 'm' {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

/// The terminal is the process that dies: `alipay-pos pay` processes (the real command
/// line) on one data folder, against an `alipay-pos sandbox` process and the hub process.
///
/// 1. `pay` A shows its code and is killed; the customer pays A; the hub stores A's
///    notification with no terminal connected.
/// 2. `pay` B connects; the hub relays A; the engine records it and the process is killed
///    at the failpoint right before the acknowledgement (A is paid, the hub has it
///    delivered, not acknowledged).
/// 3. `pay` C connects: the hub relays A again; the engine applies it once (a note, no
///    second transition) and acknowledges it, once; the customer pays C, whose
///    notification is acknowledged before `pay` exits.
/// 4. `resolve` settles B (never paid: cancelled). Journal and hub agree row for row.
#[cfg(feature = "failpoints")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_killed_before_its_acknowledgement_gets_the_notification_again_and_applies_it_once()
 {
    use alipay_pos::checkout::failpoint;

    let pg = Postgres::start().await;
    let url = pg.fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();

    // Alipay: the sandbox as its own process (it outlives every terminal process).
    let sandbox_dir = root.join("sandbox");
    let mut sandbox = Watched::spawn({
        let mut command = Command::new(binary());
        command
            .arg("sandbox")
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&sandbox_dir)
            .arg("--client")
            .arg(format!(
                "{CLIENT_ID}={}",
                vector_path("merchant_public_key.pem").display()
            ))
            .args(["--time-scale", "0.005"])
            .env_remove("ALIPAY_POS_FAILPOINT")
            .env_remove("ALIPAY_POS_LOG");
        command
    });
    let base = sandbox
        .wait_for_line("the sandbox's address", WAIT, |l| {
            l.starts_with("sandbox listening on ")
        })
        .trim_start_matches("sandbox listening on ")
        .trim()
        .trim_end_matches('/')
        .to_owned();
    let control_token = std::fs::read_to_string(sandbox_dir.join("control.token")).unwrap();
    let control = Control::at(&base, control_token.trim());
    let alipay_key = sandbox_dir.join("alipay_public_key.pem");

    let port = free_port();
    let hub_url = format!("http://127.0.0.1:{port}");
    let config = hub_config(root, &url, port, CLIENT_ID, &alipay_key);
    let hub_log = root.join("hub.log");
    let token = enrol(&config, "T01");
    let _hub = HubProcess::start(&config, &hub_log);
    let db = pg.connect(url.rsplit('/').next().unwrap()).await.unwrap();

    let data_dir = root.join("terminal");
    std::fs::create_dir_all(&data_dir).unwrap();
    let token_file = data_dir.join("hub.token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let terminal_config = root.join("terminal.toml");
    std::fs::write(
        &terminal_config,
        format!(
            "[alipay]\ngateway = \"{base}\"\nclient_id = \"{CLIENT_ID}\"\n\
             merchant_private_key = \"{merchant}\"\nalipay_public_key = \"{alipay}\"\n\n\
             [store]\nterminal_id = \"T01\"\n\n[payment]\ncurrency = \"USD\"\n\
             notify_listen = \"127.0.0.1:{notify_port}\"\n\n[storage]\ndata_dir = \"{data}\"\n\n\
             [hub]\nurl = \"{hub_url}\"\ntoken_file = \"{token_file}\"\n",
            merchant = private_key_copy(root, "merchant_private_key_pkcs8.pem").display(),
            alipay = alipay_key.display(),
            notify_port = free_port(),
            data = data_dir.display(),
            token_file = token_file.display(),
        ),
    )
    .unwrap();
    let terminal_command = |args: &[&str], armed: Option<&str>| {
        let mut command = Command::new(binary());
        command
            .args(args)
            .env("ALIPAY_POS_CONFIG", &terminal_config)
            .env("ALIPAY_POS_LOG", "info")
            .env_remove("RUST_LOG");
        match armed {
            Some(name) => command.env("ALIPAY_POS_FAILPOINT", name),
            None => command.env_remove("ALIPAY_POS_FAILPOINT"),
        };
        command
    };
    let code_of = |line: String| line.trim_start_matches("code: ").trim().to_owned();
    let is_code = |line: &str| line.starts_with("code: ");

    // 1. A's code on screen, its terminal killed; the customer pays.
    let mut a = Watched::spawn(terminal_command(&["pay", "3.10"], None));
    let code_a = code_of(a.wait_for_line("A's code", WAIT, is_code));
    a.sigkill();
    let (status, paid_a) = control.wallet_pay(&code_a).await;
    assert_eq!(status, 200, "{paid_a}");
    wait_until("the hub to store A's notification", WAIT, || async {
        count(&db, "SELECT count(*) FROM hub_notifications").await == 1
    })
    .await;
    let a_row = hub_rows(&db).await.remove(0);

    // 2. The next terminal process takes A from the hub and dies before acknowledging.
    let mut b = Watched::spawn(terminal_command(
        &["pay", "3.20"],
        Some(failpoint::HUB_LINK_BEFORE_ACK),
    ));
    let failpoint_line = format!("failpoint {} reached", failpoint::HUB_LINK_BEFORE_ACK);
    b.wait_for_line("the failpoint before the acknowledgement", WAIT, |l| {
        l.contains(&failpoint_line)
    });
    // The failpoint parks only the link's thread, so B's own payment goes on: it is
    // journaled once its code is shown, which may come before or after the failpoint.
    if !b.seen.iter().any(|line| is_code(line)) {
        b.wait_for_line("B's code", WAIT, is_code);
    }
    b.sigkill();
    {
        let journal = Journal::open_in(&data_dir).unwrap();
        let a_record = journal
            .payment_by_request_id(&a_row.payment_request_id)
            .unwrap()
            .unwrap();
        assert_eq!(
            a_record.state,
            PaymentState::Paid,
            "recorded before the kill"
        );
        assert_eq!(a_record.resolution, Some(Resolution::Notify));
    }
    let row = hub_rows(&db).await.remove(0);
    assert!(row.delivered, "{row:?}");
    assert_eq!(
        row.ack_outcome, None,
        "the kill came before the acknowledgement"
    );
    assert_eq!(acks_logged(&hub_log, row.id), 0);

    // 3. Reconnect: A again, applied once, acknowledged once; C paid by its notification.
    let mut c = Watched::spawn(terminal_command(&["pay", "3.30", "--json"], None));
    let code_c = code_of(c.wait_for_line("C's code", WAIT, is_code));
    wait_until("A's acknowledgement after the reconnect", WAIT, || async {
        hub_rows(&db).await[0].ack_outcome.as_deref() == Some("recorded")
    })
    .await;
    assert_eq!(control.wallet_pay(&code_c).await.0, 200);
    assert_eq!(c.wait_exit(WAIT), Some(0), "C is paid");
    let c_json: Value = serde_json::from_str(
        c.seen
            .iter()
            .rev()
            .find(|l| l.starts_with('{'))
            .expect("pay --json printed its result"),
    )
    .unwrap();
    assert_eq!(c_json["resolution"], "notify", "{c_json}");

    // 4. B was never paid: `resolve` settles it, and every notification is acknowledged.
    let mut resolve = Watched::spawn(terminal_command(&["resolve"], None));
    assert_eq!(resolve.wait_exit(WAIT), Some(0));
    let journal = Journal::open_in(&data_dir).unwrap();
    let rows = journal_rows(&journal);
    assert_eq!(rows.len(), 3);
    let states: Vec<PaymentState> = rows.iter().map(|(p, _)| p.state).collect();
    assert_eq!(
        states.iter().filter(|s| **s == PaymentState::Paid).count(),
        2,
        "{states:?}"
    );
    let (_, a_events) = rows
        .iter()
        .find(|(p, _)| p.payment_request_id == a_row.payment_request_id)
        .unwrap();
    assert_eq!(paid_transitions(a_events), 1, "{a_events:#?}");
    assert_eq!(
        duplicate_notes(a_events),
        1,
        "the redelivery reached the engine and changed nothing: {a_events:#?}"
    );
    let hub = assert_hub_and_journals_agree(&db, &[("T01", rows)]).await;
    assert_eq!(hub.len(), 2);
    for row in &hub {
        assert_eq!(
            acks_logged(&hub_log, row.id),
            1,
            "{row:?} acknowledged once"
        );
    }
    drop(sandbox);
}
