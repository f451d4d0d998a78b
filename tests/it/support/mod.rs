//! The one place integration tests get their keys, fixtures and configs from.
#![allow(dead_code)]

pub mod escpos_decoder;
#[cfg(feature = "gui")]
pub mod gui;
pub mod own_process;
pub mod postgres;
pub mod sshd;
pub mod virtual_screen;

use std::path::{Path, PathBuf};

pub use alipay_pos::testing::*;

/// Path of the built `alipay-pos` binary, for tests that run the real command line.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_alipay-pos"))
}

/// Runs the real binary with `args` (and no `ALIPAY_POS_CONFIG` from the environment),
/// feeding `input` on standard input.
pub fn run_with_stdin(args: &[&str], input: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new(binary())
        .args(args)
        .env_remove("ALIPAY_POS_CONFIG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

// ---------------------------------------------------------------------------------------
// Payment engine fixtures: a terminal on the embedded sandbox (real loopback HTTP, real
// SQLite files), the sandbox's control endpoint, the engine's event channel, and the
// consistency check between the terminal's journal and the sandbox's ledger.

use std::future::Future;
use std::time::{Duration, Instant};

use alipay_pos::checkout::{Checkout, CheckoutEvent, Policy};
use alipay_pos::config::Config;
use alipay_pos::journal::{PaymentFilter, PaymentRecord, PaymentState, RefundRecord, RefundState};
use alipay_pos::sandbox::SandboxOptions;
use alipay_pos::terminal::Terminal;
use serde_json::Value;
use tokio::sync::broadcast;

/// The demo configuration (embedded sandbox) with its data in `data_dir`. With
/// `request_timeout_ms`, the client gives up on an answer after that long; the config file
/// is the only way to set it, so one is written into `data_dir`.
pub fn sandbox_config(data_dir: &Path, request_timeout_ms: Option<u64>) -> Config {
    let Some(timeout) = request_timeout_ms else {
        let mut config = Config::defaults();
        config.storage.data_dir = data_dir.to_path_buf();
        return config;
    };
    std::fs::create_dir_all(data_dir).unwrap();
    let path = data_dir.join("config.toml");
    let data_dir = data_dir.display().to_string().replace('\\', "\\\\");
    std::fs::write(
        &path,
        format!(
            "[alipay]\ngateway = \"sandbox\"\nrequest_timeout_ms = {timeout}\n\n\
             [storage]\ndata_dir = \"{data_dir}\"\n"
        ),
    )
    .unwrap();
    Config::load(&path).unwrap()
}

/// A terminal on the embedded sandbox in `data_dir`, with the sandbox's options adjusted.
pub async fn demo_terminal(
    data_dir: &Path,
    policy: Policy,
    adjust: impl FnOnce(&mut SandboxOptions),
) -> Terminal {
    demo_terminal_with(sandbox_config(data_dir, None), policy, adjust).await
}

pub async fn demo_terminal_with(
    config: Config,
    policy: Policy,
    adjust: impl FnOnce(&mut SandboxOptions),
) -> Terminal {
    seed_sandbox_keys(&config.storage.data_dir);
    Terminal::start_with(config, policy, adjust).await.unwrap()
}

/// Polls `condition` every 20 ms until it holds; panics naming `what` after `within`. The
/// deadline only bounds a hang: it is never what a test asserts.
pub async fn wait_until<F, Fut>(what: &str, within: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if condition().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the payment is final and returns it.
pub async fn wait_final(checkout: &Checkout, id: &str, within: Duration) -> PaymentRecord {
    wait_until(&format!("payment {id} to become final"), within, || async {
        checkout.payment(id).await.unwrap().state.is_final()
    })
    .await;
    checkout.payment(id).await.unwrap()
}

/// Waits until the engine is done with the payment for now: final, or open with nobody
/// driving it (left to the resolver).
pub async fn wait_settled(checkout: &Checkout, id: &str, within: Duration) -> PaymentRecord {
    wait_until(
        &format!("payment {id} to be final or left to the resolver"),
        within,
        || async {
            let record = checkout.payment(id).await.unwrap();
            record.state.is_final() || !checkout.is_driven(id)
        },
    )
    .await;
    checkout.payment(id).await.unwrap()
}

/// The engine's event channel, with everything received so far kept for order assertions.
pub struct Events {
    rx: broadcast::Receiver<CheckoutEvent>,
    /// Every event received, in order.
    pub seen: Vec<CheckoutEvent>,
    /// Index in `seen` after the last event `wait_for` matched.
    cursor: usize,
    /// Events were dropped because this subscriber fell behind.
    pub lagged: bool,
}

impl Events {
    pub fn new(checkout: &Checkout) -> Events {
        Events {
            rx: checkout.subscribe(),
            seen: Vec::new(),
            cursor: 0,
            lagged: false,
        }
    }

    /// Takes every event already published, without waiting.
    pub fn drain(&mut self) -> &[CheckoutEvent] {
        loop {
            match self.rx.try_recv() {
                Ok(event) => self.seen.push(event),
                Err(broadcast::error::TryRecvError::Lagged(_)) => self.lagged = true,
                Err(_) => break,
            }
        }
        &self.seen
    }

    /// The next event after the previous match that satisfies `matches`; panics naming
    /// `what` if none arrives within `within`.
    pub async fn wait_for(
        &mut self,
        what: &str,
        within: Duration,
        matches: impl Fn(&CheckoutEvent) -> bool,
    ) -> CheckoutEvent {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(offset) = self.seen[self.cursor..].iter().position(&matches) {
                let index = self.cursor + offset;
                self.cursor = index + 1;
                return self.seen[index].clone();
            }
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Ok(event)) => self.seen.push(event),
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => self.lagged = true,
                Ok(Err(broadcast::error::RecvError::Closed)) => {
                    panic!("event channel closed while waiting for {what}")
                }
                Err(_) => panic!(
                    "no event {what} within {within:?}; received: {:#?}",
                    self.seen
                ),
            }
        }
    }

    /// The states published for one payment, in order (call `drain` first for the latest).
    pub fn states_of(&self, payment_request_id: &str) -> Vec<PaymentState> {
        self.seen
            .iter()
            .filter_map(|event| match event {
                CheckoutEvent::PaymentState {
                    payment_request_id: id,
                    state,
                    ..
                } if id == payment_request_id => Some(*state),
                _ => None,
            })
            .collect()
    }

    /// The `online` values of every connectivity event, in order.
    pub fn connectivity(&self) -> Vec<bool> {
        self.seen
            .iter()
            .filter_map(|event| match event {
                CheckoutEvent::Connectivity { online } => Some(*online),
                _ => None,
            })
            .collect()
    }
}

/// True for the event announcing that `id` reached `state`.
pub fn is_state(event: &CheckoutEvent, id: &str, state: PaymentState) -> bool {
    matches!(event, CheckoutEvent::PaymentState { payment_request_id, state: s, .. }
        if payment_request_id == id && *s == state)
}

/// One payment in the sandbox's ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerPayment {
    pub payment_id: String,
    pub payment_request_id: String,
    /// `PROCESSING`, `SUCCESS`, `FAIL` or `CANCELLED`.
    pub status: String,
    pub result_code: String,
    pub currency: String,
    pub amount: u64,
    /// Sum of the successful refunds, minor units.
    pub refunded: u64,
    pub refund_count: u64,
    pub payment_time: Option<String>,
    pub cancel_time: Option<String>,
    /// The `paymentNotifyUrl` the terminal sent (`None`: it sent none).
    pub notify_url: Option<String>,
}

/// One (successful) refund in the sandbox's ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerRefund {
    pub refund_id: String,
    pub refund_request_id: String,
    pub payment_id: String,
    pub amount: u64,
}

/// `GET /sandbox/control/ledger`, typed as far as the tests need it.
#[derive(Debug, Clone)]
pub struct Ledger {
    pub payments: Vec<LedgerPayment>,
    pub refunds: Vec<LedgerRefund>,
    pub notifications: Vec<Value>,
}

fn minor_of(value: &Value) -> u64 {
    match &value["value"] {
        Value::String(text) => text.parse().unwrap(),
        Value::Number(number) => number.as_u64().unwrap(),
        other => panic!("amount value {other:?}"),
    }
}

fn text_of(value: &Value, key: &str) -> String {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("ledger field {key} missing in {value}"))
        .to_string()
}

impl Ledger {
    fn parse(dump: &Value) -> Ledger {
        let payments = dump["payments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| LedgerPayment {
                payment_id: text_of(p, "payment_id"),
                payment_request_id: text_of(p, "payment_request_id"),
                status: text_of(p, "status"),
                result_code: text_of(p, "result_code"),
                currency: text_of(&p["amount"], "currency"),
                amount: minor_of(&p["amount"]),
                refunded: minor_of(&p["refunded"]),
                refund_count: p["refund_count"].as_u64().unwrap(),
                payment_time: p["payment_time"].as_str().map(str::to_string),
                cancel_time: p["cancel_time"].as_str().map(str::to_string),
                notify_url: p["notify_url"].as_str().map(str::to_string),
            })
            .collect();
        let refunds = dump["refunds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| LedgerRefund {
                refund_id: text_of(r, "refund_id"),
                refund_request_id: text_of(r, "refund_request_id"),
                payment_id: text_of(r, "payment_id"),
                amount: minor_of(&r["amount"]),
            })
            .collect();
        Ledger {
            payments,
            refunds,
            notifications: dump["notifications"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        }
    }

    /// The sandbox's payment for one `paymentRequestId`; panics if there are several (the
    /// ledger's uniqueness per client is exactly "never charged twice for one attempt").
    pub fn payment(&self, payment_request_id: &str) -> Option<&LedgerPayment> {
        let mut found = self
            .payments
            .iter()
            .filter(|p| p.payment_request_id == payment_request_id);
        let first = found.next();
        assert!(
            found.next().is_none(),
            "the sandbox holds several payments for {payment_request_id}"
        );
        first
    }

    pub fn status_of(&self, payment_request_id: &str) -> Option<&str> {
        self.payment(payment_request_id).map(|p| p.status.as_str())
    }

    pub fn refunds_of(&self, payment_id: &str) -> Vec<&LedgerRefund> {
        self.refunds
            .iter()
            .filter(|r| r.payment_id == payment_id)
            .collect()
    }
}

async fn json_of(response: reqwest::Response) -> Value {
    let body = response.bytes().await.unwrap();
    serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&body)))
}

/// The sandbox's loopback control endpoint and the customer's wallet. Every control
/// request carries the sandbox's bearer token (what `DATA_DIR/control.token` holds).
#[derive(Clone)]
pub struct Control {
    http: reqwest::Client,
    base: String,
}

impl Control {
    pub fn of(terminal: &Terminal) -> Control {
        let sandbox = terminal
            .sandbox()
            .expect("the terminal runs on the embedded sandbox")
            .sandbox();
        Control::at(sandbox.base_url().as_str(), sandbox.control_token())
    }

    /// A sandbox at `base` (`http://ADDR`) whose control token is `token`, e.g. one run as
    /// `alipay-pos sandbox` whose token is read from its `control.token` file.
    pub fn at(base: &str, token: &str) -> Control {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        Control {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .default_headers(headers)
                .build()
                .unwrap(),
            base: base.trim_end_matches('/').to_string(),
        }
    }

    /// `PUT /sandbox/control/faults` with a `FaultSettings` JSON body.
    pub async fn set_faults(&self, faults: Value) {
        let response = self
            .http
            .put(format!("{}/sandbox/control/faults", self.base))
            .header("content-type", "application/json")
            .body(faults.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_eq!(status, 200, "faults {faults} refused: {body}");
    }

    /// `DELETE /sandbox/control/faults`: every fault off.
    pub async fn clear_faults(&self) {
        let response = self
            .http
            .delete(format!("{}/sandbox/control/faults", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }

    pub async fn ledger(&self) -> Ledger {
        let dump: Value = self
            .http
            .get(format!("{}/sandbox/control/ledger", self.base))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .bytes()
            .await
            .map(|body| serde_json::from_slice(&body).unwrap())
            .unwrap();
        Ledger::parse(&dump)
    }

    /// The customer pays through the control endpoint (by `paymentId` or
    /// `paymentRequestId`): HTTP status and JSON answer.
    pub async fn customer_pays(&self, id: &str) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}/sandbox/control/payments/{id}/pay", self.base))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, json_of(response).await)
    }

    /// The customer declines a User-presented payment through the control endpoint (by
    /// `paymentId` or `paymentRequestId`): HTTP status and JSON answer.
    pub async fn customer_declines(&self, id: &str) -> (u16, Value) {
        let response = self
            .http
            .post(format!(
                "{}/sandbox/control/payments/{id}/decline",
                self.base
            ))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, json_of(response).await)
    }

    /// The demo customer's payment-code page as JSON (`GET /wallet/payment-code`, no token
    /// needed): `{"codes": {...}, "waiting": [...]}`.
    pub async fn payment_code_page(&self) -> Value {
        let response = self
            .http
            .get(format!("{}/wallet/payment-code", self.base))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        json_of(response).await
    }

    /// Moves the sandbox's clock (not the terminal's) by `ms`.
    pub async fn advance_clock_ms(&self, ms: i64) {
        let response = self
            .http
            .post(format!("{}/sandbox/control/clock", self.base))
            .header("content-type", "application/json")
            .body(serde_json::json!({ "advance_ms": ms }).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }

    /// The sandbox clock in epoch milliseconds (`GET /sandbox/control/clock`).
    pub async fn clock_now_ms(&self) -> i64 {
        let response = self
            .http
            .get(format!("{}/sandbox/control/clock", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        json_of(response).await["now_ms"].as_i64().unwrap()
    }

    /// `POST /sandbox/control/reports?date=DATE`: publishes that Alipay day's reconciliation
    /// reports. HTTP status and JSON answer (`{"date", "root", "files": [...]}` on 200).
    pub async fn publish_reports(&self, date: &str) -> (u16, Value) {
        let mut url = url::Url::parse(&format!("{}/sandbox/control/reports", self.base)).unwrap();
        url.query_pairs_mut().append_pair("date", date);
        let response = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, json_of(response).await)
    }

    /// The customer scans the order code and presses Pay: `POST <codeValue>/pay` asking for
    /// JSON. HTTP status and JSON answer.
    pub async fn wallet_pay(&self, code_value: &str) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{code_value}/pay"))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, json_of(response).await)
    }
}

/// What [`assert_consistent`] counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Consistency {
    pub paid: usize,
    pub cancelled: usize,
    pub failed: usize,
    /// Failed payments the sandbox never heard of.
    pub failed_never_sent: usize,
    pub open: usize,
    pub refunds_succeeded: usize,
    pub refunds_failed: usize,
    pub refunds_open: usize,
}

/// Every journal row against the sandbox's ledger: Paid ↔ SUCCESS (same paymentId and
/// amount), Cancelled ↔ CANCELLED, Failed ↔ FAIL or absent; every ledger payment is in the
/// journal; succeeded refunds are exactly the ledger's refunds; refunds never exceed the
/// payment; `journal.check()` is clean. With `require_final`, nothing may be open.
pub async fn assert_consistent(terminal: &Terminal, require_final: bool) -> Consistency {
    let checkout = &terminal.checkout;
    let (payments, refunds, report) = checkout
        .journal_for_tests(|j| {
            let payments = j.list_payments(&PaymentFilter::default())?;
            let mut refunds: Vec<RefundRecord> = Vec::new();
            for payment in &payments {
                refunds.extend(j.refunds_for(payment.id)?);
            }
            Ok((payments, refunds, j.check()?))
        })
        .await
        .unwrap();
    assert!(report.is_clean(), "journal check: {report:#?}");
    let ledger = Control::of(terminal).ledger().await;
    let mut counts = Consistency::default();
    let mut orders_paid = std::collections::HashMap::<&str, usize>::new();
    for payment in &payments {
        let id = payment.payment_request_id.as_str();
        let remote = ledger.payment(id);
        match payment.state {
            PaymentState::Paid => {
                counts.paid += 1;
                *orders_paid.entry(payment.order_ref.as_str()).or_default() += 1;
                let remote = remote.unwrap_or_else(|| panic!("{id} is paid but unknown to Alipay"));
                assert_eq!(
                    remote.status, "SUCCESS",
                    "{id} is paid in the journal: {remote:?}"
                );
                assert_eq!(
                    payment.payment_id.as_deref(),
                    Some(remote.payment_id.as_str())
                );
                assert_eq!(payment.amount.minor(), remote.amount, "{id}");
                assert_eq!(payment.amount.currency().code(), remote.currency, "{id}");
            }
            PaymentState::Cancelled => {
                counts.cancelled += 1;
                let remote =
                    remote.unwrap_or_else(|| panic!("{id} is cancelled but unknown to Alipay"));
                assert_eq!(
                    remote.status, "CANCELLED",
                    "{id} is cancelled in the journal"
                );
            }
            PaymentState::Failed => {
                counts.failed += 1;
                match remote {
                    None => counts.failed_never_sent += 1,
                    Some(remote) => {
                        assert_eq!(
                            remote.status, "FAIL",
                            "{id} failed in the journal: {remote:?}"
                        )
                    }
                }
            }
            open => {
                counts.open += 1;
                assert!(
                    !require_final,
                    "{id} is still {open}: {payment:?} / {remote:?}"
                );
            }
        }
        if let (Some(local), Some(remote)) = (&payment.payment_id, remote) {
            assert_eq!(local, &remote.payment_id, "{id}: paymentId differs");
        }
    }
    for (order, paid) in orders_paid {
        assert_eq!(paid, 1, "order {order} was paid {paid} times");
    }
    for remote in &ledger.payments {
        assert!(
            payments
                .iter()
                .any(|p| p.payment_request_id == remote.payment_request_id),
            "the sandbox holds a payment the journal does not know: {remote:?}"
        );
    }
    for payment in &payments {
        let mine: Vec<&RefundRecord> = refunds.iter().filter(|r| r.payment == payment.id).collect();
        let counted: u64 = mine
            .iter()
            .filter(|r| r.state.counts_against_payment())
            .map(|r| r.amount.minor())
            .sum();
        assert!(
            counted <= payment.amount.minor(),
            "refunds of {} exceed it",
            payment.payment_request_id
        );
        let succeeded: Vec<&&RefundRecord> = mine
            .iter()
            .filter(|r| r.state == RefundState::Succeeded)
            .collect();
        let remote_refunds = payment
            .payment_id
            .as_deref()
            .map(|id| ledger.refunds_of(id))
            .unwrap_or_default();
        if require_final {
            assert_eq!(
                succeeded.len(),
                remote_refunds.len(),
                "refunds of {}: journal {mine:?}, sandbox {remote_refunds:?}",
                payment.payment_request_id
            );
        }
        for refund in &succeeded {
            let remote = remote_refunds
                .iter()
                .find(|r| r.refund_request_id == refund.refund_request_id)
                .unwrap_or_else(|| {
                    panic!(
                        "refund {} succeeded but Alipay has none",
                        refund.refund_request_id
                    )
                });
            assert_eq!(remote.amount, refund.amount.minor());
            assert_eq!(refund.refund_id.as_deref(), Some(remote.refund_id.as_str()));
        }
        for refund in mine.iter().filter(|r| r.state == RefundState::Failed) {
            assert!(
                remote_refunds
                    .iter()
                    .all(|r| r.refund_request_id != refund.refund_request_id),
                "refund {} failed locally but Alipay carried it out",
                refund.refund_request_id
            );
        }
        if let Some(remote) = payment
            .payment_id
            .as_deref()
            .and_then(|_| ledger.payment(&payment.payment_request_id))
        {
            assert!(remote.refunded <= remote.amount);
            if require_final {
                let local: u64 = succeeded.iter().map(|r| r.amount.minor()).sum();
                assert_eq!(local, remote.refunded, "{}", payment.payment_request_id);
            }
        }
    }
    for refund in &refunds {
        match refund.state {
            RefundState::Succeeded => counts.refunds_succeeded += 1,
            RefundState::Failed => counts.refunds_failed += 1,
            _ => {
                counts.refunds_open += 1;
                assert!(
                    !require_final,
                    "refund {} is still open",
                    refund.refund_request_id
                );
            }
        }
    }
    for remote in &ledger.refunds {
        assert!(
            refunds
                .iter()
                .any(|r| r.refund_request_id == remote.refund_request_id),
            "the sandbox carried out a refund the journal does not know: {remote:?}"
        );
    }
    counts
}

/// Posts a `notifyPayment` to the terminal's receiver exactly as Alipay (the sandbox) would:
/// signed with the sandbox's Alipay key (the fixture key [`seed_sandbox_keys`] installs).
/// Returns the HTTP status and the receiver's JSON answer.
pub async fn send_notification(
    terminal: &Terminal,
    notification: &alipay_pos::ams::models::NotifyPaymentRequest,
) -> (u16, Value) {
    send_notification_at(terminal, notification, time::OffsetDateTime::now_utc()).await
}

/// [`send_notification`] with the `request-time` (signed, as always) set to `sent_at`: a
/// late resend, a replay, or a sender whose clock is off.
pub async fn send_notification_at(
    terminal: &Terminal,
    notification: &alipay_pos::ams::models::NotifyPaymentRequest,
    sent_at: time::OffsetDateTime,
) -> (u16, Value) {
    use alipay_pos::ams::{signing, timefmt};
    let body = serde_json::to_vec(notification).unwrap();
    let client_id = terminal.config.alipay.client_id.clone();
    let request_time = timefmt::format_datetime(sent_at);
    let path = alipay_pos::terminal::NOTIFY_PATH;
    let content = signing::content_to_sign(path, &client_id, &request_time, &body);
    let signature = signing::sign_header(
        &alipay_private_key(),
        signing::DEFAULT_KEY_VERSION,
        &content,
    )
    .unwrap();
    let response = reqwest::Client::new()
        .post(format!("http://{}{path}", terminal.notification_address()))
        .header("content-type", "application/json; charset=UTF-8")
        .header("client-id", client_id)
        .header("request-time", request_time)
        .header("signature", signature.to_string())
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, json_of(response).await)
}

/// A manager's approval, made the only way there is: a right PIN through a `PinGuard`
/// (the lockout kept in memory). The journal then names `manager`.
pub fn approval(manager: &str) -> alipay_pos::admin::ManagerApproval {
    use std::sync::OnceLock;
    // Hashing is slow on purpose; one hash serves every approval of a test binary.
    static HASH: OnceLock<String> = OnceLock::new();
    let hash = HASH.get_or_init(|| alipay_pos::admin::hash_pin(TEST_PIN).unwrap());
    let managers = vec![alipay_pos::config::ManagerPin {
        name: manager.to_string(),
        pin_hash: hash.clone(),
    }];
    alipay_pos::admin::PinGuard::new(managers, 5, Duration::from_secs(60), None)
        .check(TEST_PIN, std::time::SystemTime::now())
        .unwrap()
}

/// The PIN [`approval`] uses.
pub const TEST_PIN: &str = "246810";

// ---------------------------------------------------------------------------------------
// Order Code payments through the engine, paid through the sandbox's wallet.

/// The order code and its expiry of a payment that started with one.
pub fn code_of(start: &alipay_pos::checkout::PayStart) -> (String, time::OffsetDateTime) {
    match start {
        alipay_pos::checkout::PayStart::CodeReady {
            code_value,
            expires_at,
        } => (code_value.clone(), *expires_at),
        other => panic!("expected an order code, got {other:?}"),
    }
}

/// A USD payment with its order code on screen: its request id and code.
pub async fn awaiting(terminal: &Terminal, amount: &str) -> (String, String) {
    let amount = alipay_pos::money::Money::parse(amount, alipay_pos::money::Currency::USD).unwrap();
    let (record, start) = terminal
        .checkout
        .start_payment(alipay_pos::checkout::PaymentIntent::order_code(
            amount,
            "Flat white",
            alipay_pos::journal::Actor::Cashier,
        ))
        .await
        .unwrap();
    assert_eq!(record.state, PaymentState::AwaitingCustomer);
    let (code, _) = code_of(&start);
    (record.payment_request_id, code)
}

/// Starts a USD payment, has the customer pay, and waits until the engine says paid.
pub async fn paid(terminal: &Terminal, amount: &str) -> String {
    let (id, code) = awaiting(terminal, amount).await;
    let (status, answer) = Control::of(terminal).wallet_pay(&code).await;
    assert_eq!(status, 200, "{answer}");
    let record = wait_final(&terminal.checkout, &id, Duration::from_secs(30)).await;
    assert_eq!(record.state, PaymentState::Paid);
    id
}
