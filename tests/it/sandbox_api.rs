//! The embedded Alipay sandbox over real loopback HTTP and real SQLite files, driven by our
//! own verified `AmsClient` (and by raw signed requests where the client would refuse to
//! send something malformed). Waits are deadline loops on observable state, never bare sleeps.

use std::fmt::Debug;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::*;
use alipay_pos::ams::client::{AmsClient, ClientSettings, Outcome, ResponseHeaders, UnknownReason};
use alipay_pos::ams::models::*;
use alipay_pos::ams::notification::{IncomingNotification, verify_notification};
use alipay_pos::ams::{client, signing, timefmt};
use alipay_pos::sandbox::{self, ClientRegistration, RunningSandbox, SandboxOptions};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A `SANDBOX_` id: our client uses the `/ams/sandbox/api` prefix with it.
const CLIENT: &str = "SANDBOX_POS_1";
/// A second merchant, on the production-style `/ams/api` prefix.
const OTHER: &str = "TEST_OTHER_2";
/// Nothing listens on the discard port: notifications to it simply fail.
const NOWHERE: &str = "http://127.0.0.1:9/notify";
const DEADLINE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------
// Harness

/// Puts the reference's throwaway "Alipay" key pair where the sandbox looks for its own, so
/// most tests skip RSA key generation (one test covers generation).
fn seed_alipay_keys(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::copy(
        vector_path("alipay_private_key_pkcs8.pem"),
        dir.join(sandbox::ALIPAY_PRIVATE_KEY_FILE),
    )
    .unwrap();
    std::fs::copy(
        vector_path("alipay_public_key.pem"),
        dir.join(sandbox::ALIPAY_PUBLIC_KEY_FILE),
    )
    .unwrap();
}

fn options_for(dir: &Path) -> SandboxOptions {
    let mut o = SandboxOptions::new(dir);
    o.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    for id in [CLIENT, OTHER] {
        o.clients.push(ClientRegistration {
            client_id: id.into(),
            merchant_public_key: merchant_public_key(),
        });
    }
    o
}

struct Harness {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    sandbox: RunningSandbox,
    client: AmsClient,
    http: reqwest::Client,
}

async fn harness() -> Harness {
    harness_with(|_| {}).await
}

async fn harness_with(adjust: impl FnOnce(&mut SandboxOptions)) -> Harness {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sandbox");
    seed_alipay_keys(&dir);
    let mut o = options_for(&dir);
    adjust(&mut o);
    let sandbox = sandbox::start(o).await.unwrap();
    let client = client_for(&sandbox, CLIENT, Duration::from_secs(10));
    Harness {
        _tmp: tmp,
        dir,
        sandbox,
        client,
        http: reqwest::Client::new(),
    }
}

fn client_for(sandbox: &RunningSandbox, id: &str, timeout: Duration) -> AmsClient {
    let mut settings = ClientSettings::new(sandbox.base_url().clone(), id);
    settings.request_timeout = timeout;
    AmsClient::new(settings, merchant_private_key(), alipay_public_key()).unwrap()
}

/// What a raw request got back.
struct Raw {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Raw {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    /// `(resultStatus, resultCode, resultMessage)`.
    fn result(&self) -> (String, String, String) {
        let v = self.json();
        let field = |name: &str| v["result"][name].as_str().unwrap_or_default().to_owned();
        (
            field("resultStatus"),
            field("resultCode"),
            field("resultMessage"),
        )
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the answer is signed by the sandbox for this path and client id.
    fn assert_signed(&self, path: &str, client_id: &str) {
        client::verify_response(
            &alipay_public_key(),
            client_id,
            path,
            ResponseHeaders {
                client_id: self.header("client-id"),
                response_time: self.header("response-time"),
                signature: self.header("signature"),
            },
            &self.body,
        )
        .unwrap_or_else(|e| panic!("answer to {path} not signed correctly: {e}"));
    }
}

fn sign(path: &str, client_id: &str, time: &str, body: &[u8]) -> String {
    let content = signing::content_to_sign(path, client_id, time, body);
    signing::sign_header(&merchant_private_key(), "1", &content)
        .unwrap()
        .to_string()
}

impl Harness {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.sandbox.local_addr())
    }

    fn addr(&self) -> SocketAddr {
        self.sandbox.local_addr()
    }

    /// A request signed by the merchant key with the given headers (`None` leaves one out).
    async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        client_id: Option<&str>,
        request_time: Option<&str>,
        body: &[u8],
        content_type: Option<&str>,
    ) -> Raw {
        let mut req = self
            .http
            .request(method, self.url(path))
            .body(body.to_vec());
        if let Some(id) = client_id {
            req = req.header("client-id", id);
        }
        if let Some(t) = request_time {
            req = req.header("request-time", t);
        }
        req = req.header(
            "signature",
            sign(
                path,
                client_id.unwrap_or_default(),
                request_time.unwrap_or_default(),
                body,
            ),
        );
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let resp = req.send().await.unwrap();
        Raw {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: resp.bytes().await.unwrap().to_vec(),
        }
    }

    /// A correctly signed POST of `body` with an ISO 8601 `request-time`.
    async fn post(&self, path: &str, client_id: &str, body: &[u8]) -> Raw {
        let now = timefmt::format_datetime(time::OffsetDateTime::now_utc());
        self.raw(
            reqwest::Method::POST,
            path,
            Some(client_id),
            Some(&now),
            body,
            Some("application/json; charset=UTF-8"),
        )
        .await
    }

    async fn control(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let sends_body = method == reqwest::Method::PUT || method == reqwest::Method::POST;
        let mut req = self
            .http
            .request(method, self.url(path))
            .bearer_auth(self.sandbox.control_token());
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&b).unwrap());
        } else if sends_body {
            req = req.header("content-type", "application/json").body("{}");
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes)
                .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned())),
        )
    }

    /// How far the sandbox clock has been moved, read through the control endpoint.
    async fn clock_offset_ms(&self) -> i64 {
        let (status, body) = self
            .control(reqwest::Method::GET, "/sandbox/control/clock", None)
            .await;
        assert_eq!(status, 200, "{body}");
        body["offset_ms"].as_i64().unwrap()
    }

    async fn set_faults(&self, faults: Value) {
        let (status, body) = self
            .control(
                reqwest::Method::PUT,
                "/sandbox/control/faults",
                Some(faults),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    async fn clear_faults(&self) {
        let (status, _) = self
            .control(reqwest::Method::DELETE, "/sandbox/control/faults", None)
            .await;
        assert_eq!(status, 200);
    }

    async fn ledger(&self) -> Value {
        let (status, body) = self
            .control(reqwest::Method::GET, "/sandbox/control/ledger", None)
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    async fn advance_clock(&self, secs: i64) {
        let (status, body) = self
            .control(
                reqwest::Method::POST,
                "/sandbox/control/clock",
                Some(json!({ "advance_secs": secs })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// The customer pays through the control endpoint.
    async fn customer_pays(&self, id: &str) -> (u16, Value) {
        self.control(
            reqwest::Method::POST,
            &format!("/sandbox/control/payments/{id}/pay"),
            None,
        )
        .await
    }

    /// The customer declines a User-presented payment through the control endpoint.
    async fn customer_declines(&self, id: &str) -> (u16, Value) {
        self.control(
            reqwest::Method::POST,
            &format!("/sandbox/control/payments/{id}/decline"),
            None,
        )
        .await
    }

    /// The demo customer's payment-code page as JSON (no token: it is a wallet page).
    async fn payment_code_page(&self) -> Value {
        let resp = self
            .http
            .get(self.url("/wallet/payment-code"))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()
                .get("cache-control")
                .and_then(|v| v.to_str().ok()),
            Some("no-store"),
            "rotating codes must not be cached"
        );
        serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap()
    }

    /// The `paymentRequestId`s on the payment-code page's waiting list, in its order.
    async fn waiting_ids(&self) -> Vec<String> {
        self.payment_code_page().await["waiting"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["paymentRequestId"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The wallet URL of a waiting payment, from the payment-code page.
    async fn waiting_wallet_url(&self, request_id: &str) -> String {
        self.payment_code_page().await["waiting"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["paymentRequestId"] == request_id)
            .unwrap_or_else(|| panic!("{request_id} is not waiting"))["walletUrl"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The customer presses Pay on the wallet page, as a JSON client.
    async fn wallet_pay(&self, code_value: &str) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{code_value}/pay"))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (
            status,
            serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap(),
        )
    }

    async fn notification(&self, subject: &str) -> Option<Value> {
        self.ledger().await["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["subject"] == subject)
            .cloned()
    }
}

/// Polls `probe` until it yields a value or the deadline passes.
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let end = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn success<R: AmsRequest>(c: &AmsClient, r: &R) -> R::Response
where
    R::Response: Debug,
{
    match c.call(r).await.unwrap() {
        Outcome::Success(x) => x,
        other => panic!("{}: expected S, got {other:?}", R::API),
    }
}

async fn failure<R: AmsRequest>(c: &AmsClient, r: &R) -> (String, String)
where
    R::Response: Debug,
{
    match c.call(r).await.unwrap() {
        Outcome::Failed { code, message } => (code.into(), message),
        other => panic!("{}: expected F, got {other:?}", R::API),
    }
}

async fn failure_code<R: AmsRequest>(c: &AmsClient, r: &R) -> String
where
    R::Response: Debug,
{
    failure(c, r).await.0
}

async fn unknown<R: AmsRequest>(c: &AmsClient, r: &R) -> UnknownReason
where
    R::Response: Debug,
{
    match c.call(r).await.unwrap() {
        Outcome::Unknown(reason) => reason,
        other => panic!("{}: expected unknown, got {other:?}", R::API),
    }
}

// ---------------------------------------------------------------------------------------
// Requests

fn order(value: u64, currency: &str) -> Order {
    serde_json::from_value(json!({
        "referenceOrderId": "ORDER-1",
        "orderDescription": "Café au lait x2",
        "orderAmount": {"currency": currency, "value": value.to_string()},
        "merchant": {
            "referenceMerchantId": "M0001",
            "merchantMCC": "5814",
            "merchantName": "Demo Cafe",
            "store": {"referenceStoreId": "S0001", "storeName": "Demo Cafe Main St", "storeMCC": "5814"}
        },
        "env": {
            "storeTerminalId": "T01",
            "storeTerminalRequestTime": "2025-01-01T08:00:00+08:00",
            "userAgent": "Mozilla/5.0 (Linux; Android 13) AlipayClient/10.5.0"
        }
    }))
    .unwrap()
}

fn oc(id: &str, value: u64) -> PayRequest {
    oc_notify(id, value, NOWHERE)
}

fn oc_notify(id: &str, value: u64, notify: &str) -> PayRequest {
    PayRequest::order_code(id, order(value, "USD"), Amount::new("USD", value), notify)
}

fn upm(id: &str, value: u64, code: &str) -> PayRequest {
    let mut r =
        PayRequest::user_presented(id, order(value, "HKD"), Amount::new("HKD", value), code);
    r.payment_notify_url = Some(NOWHERE.into());
    r
}

fn ec(id: &str, value: u64) -> PayRequest {
    PayRequest::entry_code(id, order(value, "SGD"), Amount::new("SGD", value))
}

fn code_value(r: &PayResponse) -> String {
    r.order_code_form
        .as_ref()
        .and_then(|f| f.text_code_value())
        .expect("orderCodeForm with a TEXT code")
        .to_owned()
}

fn inquiry(request_id: &str) -> InquiryPaymentRequest {
    InquiryPaymentRequest::by_payment_request_id(request_id)
}

async fn status_of(c: &AmsClient, request_id: &str) -> (PaymentStatus, String) {
    let r = success(c, &inquiry(request_id)).await;
    (
        r.payment_status.expect("paymentStatus"),
        r.payment_result_code.unwrap_or_default(),
    )
}

fn registration(request_id: &str, merchant: &str, notify: Option<&str>) -> RegistrationRequest {
    let mut r: RegistrationRequest = serde_json::from_slice(
        &std::fs::read(fixture_path("models/registration_request.json")).unwrap(),
    )
    .unwrap();
    r.registration_request_id = request_id.into();
    r.merchant_info.reference_merchant_id = merchant.into();
    r.registration_notify_url = notify.map(Into::into);
    r
}

// ---------------------------------------------------------------------------------------
// Notification receiver

#[derive(Debug, Clone)]
struct Delivery {
    path: String,
    request_time: String,
    verified: bool,
    body: Value,
}

struct Receiver {
    refuse_first: usize,
    /// The key notifications must verify with (the sandbox's "Alipay" key).
    key: Mutex<alipay_pos::ams::crypto::PublicKey>,
    deliveries: Mutex<Vec<Delivery>>,
}

impl Receiver {
    fn count(&self) -> usize {
        self.deliveries.lock().unwrap().len()
    }

    fn all(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap().clone()
    }
}

async fn receive(
    State(r): State<Arc<Receiver>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let incoming = IncomingNotification {
        path: &path,
        client_id: header("client-id"),
        request_time: header("request-time"),
        signature: header("signature"),
        body: &body,
    };
    let key = r.key.lock().unwrap().clone();
    let verified = if path.starts_with("/registration") {
        verify_notification::<NotifyRegistrationStatusRequest>(&key, CLIENT, incoming).is_ok()
    } else {
        verify_notification::<NotifyPaymentRequest>(&key, CLIENT, incoming).is_ok()
    };
    let n = {
        let mut seen = r.deliveries.lock().unwrap();
        seen.push(Delivery {
            path: path.clone(),
            request_time: header("request-time").unwrap_or_default().to_owned(),
            verified,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        });
        seen.len()
    };
    if n <= r.refuse_first {
        // Alternate the two ways of not acknowledging: an error status, and a "U" ack.
        if n % 2 == 1 {
            (StatusCode::INTERNAL_SERVER_ERROR, "not now").into_response()
        } else {
            (StatusCode::OK, NotificationAck::retry_json()).into_response()
        }
    } else {
        (StatusCode::OK, NotificationAck::success_json()).into_response()
    }
}

/// A merchant server that refuses the first `refuse_first` notifications. Returns its base URL.
async fn receiver(refuse_first: usize) -> (Arc<Receiver>, String) {
    let r = Arc::new(Receiver {
        refuse_first,
        key: Mutex::new(alipay_public_key()),
        deliveries: Mutex::new(Vec::new()),
    });
    let app = axum::Router::new().fallback(receive).with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (r, format!("http://{addr}"))
}

// ---------------------------------------------------------------------------------------
// Order Code, wallet, notification

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_code_is_paid_in_the_wallet_and_notified() {
    let h = harness().await;
    let (rx, rx_url) = receiver(0).await;
    let before = time::OffsetDateTime::now_utc();
    let pay = success(
        &h.client,
        &oc_notify(
            "oc-happy-1",
            1250,
            &format!("{rx_url}/alipay/notify?terminal=T01"),
        ),
    )
    .await;
    assert_eq!(pay.payment_request_id.as_deref(), Some("oc-happy-1"));
    let payment_id = pay.payment_id.clone().expect("paymentId");
    assert_eq!(payment_id.len(), 35);
    let form = pay.order_code_form.clone().unwrap();
    assert_eq!(form.code_details.len(), 1);
    assert_eq!(
        form.code_details[0].code_value_type,
        Some(CodeValueType::QrCode)
    );
    assert_eq!(form.code_details[0].display_type, Some(DisplayType::Text));
    let code = code_value(&pay);
    assert!(
        code.starts_with(&format!("http://{}/wallet/", h.addr())),
        "{code}"
    );
    // Default expiry: 300 s after the request.
    let expire = timefmt::parse_datetime(form.expire_time.as_deref().unwrap()).unwrap();
    let ahead = (expire - before).whole_seconds();
    assert!((299..=360).contains(&ahead), "{ahead}");

    let (status, code_text) = status_of(&h.client, "oc-happy-1").await;
    assert_eq!(status, PaymentStatus::Processing);
    assert_eq!(code_text, "PAYMENT_IN_PROCESS");

    // The wallet page: phone-sized, bilingual, with the order and a no-JS Pay form.
    let page = h.http.get(&code).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    for needle in [
        "name=\"viewport\"",
        "id=\"pay\"",
        "id=\"status\" data-status=\"PROCESSING\"",
        "USD 12.50",
        "12.50 美元",
        "Demo Cafe",
        "Café au lait x2",
        "支付",
        &format!("<form method=\"post\" action=\"{code}/pay\">"),
    ] {
        assert!(html.contains(needle), "page lacks {needle:?}:\n{html}");
    }
    assert!(!html.contains(" disabled"), "{html}");

    let (status, paid) = h.wallet_pay(&code).await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(paid["status"], "SUCCESS");
    assert_eq!(paid["paymentId"], payment_id.as_str());

    let r = success(
        &h.client,
        &InquiryPaymentRequest::by_payment_id(&payment_id),
    )
    .await;
    assert_eq!(r.payment_status, Some(PaymentStatus::Success));
    assert_eq!(r.payment_result_code.as_deref(), Some("SUCCESS"));
    assert!(r.payment_time.is_some());
    assert_eq!(
        r.psp_customer_info.and_then(|p| p.psp_name).as_deref(),
        Some("ALIPAYCN")
    );
    assert_eq!(r.payment_amount, Some(Amount::new("USD", 1250)));

    // notifyPayment arrives signed over the notify URL's path and query.
    let delivery = eventually("notifyPayment", || async { rx.all().into_iter().next() }).await;
    assert!(delivery.verified, "{delivery:?}");
    assert_eq!(delivery.path, "/alipay/notify?terminal=T01");
    assert!(timefmt::parse_datetime(&delivery.request_time).is_ok());
    assert_eq!(delivery.body["notifyType"], "PAYMENT_RESULT");
    assert_eq!(delivery.body["paymentId"], payment_id.as_str());
    assert_eq!(delivery.body["result"]["resultStatus"], "S");
    assert_eq!(delivery.body["paymentAmount"]["value"], "1250");
    let n = eventually("outbox delivered", || async {
        h.notification(&payment_id)
            .await
            .filter(|n| n["status"] == "DELIVERED")
    })
    .await;
    assert_eq!(n["attempts"], 1);

    // Paying twice is refused, in JSON and on the page.
    let (status, again) = h.wallet_pay(&code).await;
    assert_eq!(status, 409);
    assert_eq!(again["error"], "already_paid");
    let html = h
        .http
        .get(&code)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("data-status=\"SUCCESS\""), "{html}");
    assert!(html.contains(" disabled"), "{html}");
    assert_eq!(rx.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wallet_html_form_and_unknown_codes() {
    let h = harness().await;
    let pay = success(&h.client, &oc("oc-html-1", 500)).await;
    let code = code_value(&pay);
    // A browser without JavaScript posts the form and gets a result page.
    let resp = h.http.post(format!("{code}/pay")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(html.contains("data-status=\"SUCCESS\""), "{html}");
    assert!(html.contains("id=\"notice\""), "{html}");
    let resp = h.http.post(format!("{code}/pay")).send().await.unwrap();
    assert_eq!(resp.status(), 409);
    assert!(resp.text().await.unwrap().contains("already been paid"));

    let missing = h.url("/wallet/no-such-token");
    assert_eq!(h.http.get(&missing).send().await.unwrap().status(), 404);
    let (status, body) = h.wallet_pay(&missing).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "not_found");
    assert!(body["message"].as_str().unwrap().len() > 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entry_code_redirects_to_the_wallet() {
    let h = harness().await;
    let pay = success(&h.client, &ec("ec-1", 550)).await;
    assert!(pay.order_code_form.is_none());
    let form = pay.redirect_action_form.expect("redirectActionForm");
    assert_eq!(form.method.as_deref(), Some("SCAN"));
    let url = form.redirect_url.unwrap();
    assert!(
        url.starts_with(&format!("http://{}/wallet/", h.addr())),
        "{url}"
    );
    let html = h.http.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("SGD 5.50"), "{html}");
    let (status, paid) = h.wallet_pay(&url).await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(status_of(&h.client, "ec-1").await.0, PaymentStatus::Success);
}

// ---------------------------------------------------------------------------------------
// Idempotency

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_replays_get_byte_identical_answers() {
    let h = harness().await;
    let body = serde_json::to_vec(&oc("replay-1", 1250)).unwrap();
    let path = "/ams/api/v1/payments/pay";
    let first = h.post(path, OTHER, &body).await;
    let second = h.post(path, OTHER, &body).await;
    assert_eq!(first.result().1, "SUCCESS");
    assert_eq!(first.body, second.body, "replay body differs");
    first.assert_signed(path, OTHER);
    second.assert_signed(path, OTHER);

    // Through our client: the same paymentId and orderCodeForm, even after the code was paid.
    let a = success(&h.client, &oc("replay-2", 990)).await;
    h.wallet_pay(&code_value(&a)).await;
    let b = success(&h.client, &oc("replay-2", 990)).await;
    assert_eq!(a, b);

    // Same id, different key parameters.
    for changed in [
        oc("replay-2", 991),
        PayRequest::order_code(
            "replay-2",
            order(990, "HKD"),
            Amount::new("HKD", 990),
            NOWHERE,
        ),
        ec("replay-2", 990),
    ] {
        assert_eq!(
            failure_code(&h.client, &changed).await,
            "REPEAT_REQ_INCONSISTENT"
        );
    }
    // Other fields (the description) are not key parameters.
    let mut described = oc("replay-2", 990);
    described.order.order_description = "Something else".into();
    assert_eq!(success(&h.client, &described).await, a);
    // Request ids are per client.
    let other = client_for(&h.sandbox, OTHER, Duration::from_secs(10));
    let c = success(&other, &oc("replay-2", 990)).await;
    assert_ne!(c.payment_id, a.payment_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_and_closed_request_ids_cannot_be_reused() {
    let h = harness().await;
    success(&h.client, &oc("reuse-1", 100)).await;
    let cancelled = success(&h.client, &CancelRequest::by_payment_request_id("reuse-1")).await;
    let cancel_time = cancelled.cancel_time.clone().expect("cancelTime");
    assert_eq!(
        failure_code(&h.client, &oc("reuse-1", 100)).await,
        "ORDER_IS_CANCELED"
    );
    // Cancelling again is idempotent and reports the original time.
    let again = success(&h.client, &CancelRequest::by_payment_request_id("reuse-1")).await;
    assert_eq!(again.cancel_time, Some(cancel_time));
    assert_eq!(
        status_of(&h.client, "reuse-1").await.0,
        PaymentStatus::Cancelled
    );

    // A code that expires unpaid closes: FAIL / ORDER_IS_CLOSED, found without any sweep
    // having to run (the clock jump is evaluated on access).
    let pay = success(&h.client, &oc("reuse-2", 100)).await;
    h.advance_clock(301).await;
    assert_eq!(
        status_of(&h.client, "reuse-2").await,
        (PaymentStatus::Fail, "ORDER_IS_CLOSED".to_owned())
    );
    assert_eq!(
        failure_code(&h.client, &oc("reuse-2", 100)).await,
        "ORDER_IS_CLOSED"
    );
    let (status, body) = h.wallet_pay(&code_value(&pay)).await;
    assert_eq!(status, 410);
    assert_eq!(body["error"], "expired");
    assert_eq!(
        failure_code(&h.client, &CancelRequest::by_payment_request_id("reuse-2")).await,
        "ORDER_STATUS_INVALID"
    );
    // The wallet refuses a cancelled code too.
    let pay = success(&h.client, &oc("reuse-3", 100)).await;
    success(
        &h.client,
        &CancelRequest::by_payment_id(pay.payment_id.clone().unwrap()),
    )
    .await;
    let (status, body) = h.wallet_pay(&code_value(&pay)).await;
    assert_eq!(status, 409);
    assert_eq!(body["error"], "cancelled");
}

// ---------------------------------------------------------------------------------------
// Expiry

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_expiry_time_is_used_and_bounded() {
    let h = harness().await;
    let now = time::OffsetDateTime::now_utc();
    let at = |secs: i64| {
        timefmt::format_datetime(
            (now + time::Duration::seconds(secs)).to_offset(time::macros::offset!(-7)),
        )
    };
    let mut r = oc("exp-1", 100);
    r.payment_expiry_time = Some(at(29 * 60));
    let pay = success(&h.client, &r).await;
    let expire = pay.order_code_form.unwrap().expire_time.unwrap();
    assert_eq!(
        timefmt::parse_datetime(&expire).unwrap(),
        timefmt::parse_datetime(&at(29 * 60)).unwrap()
    );
    assert!(expire.ends_with("+08:00"), "{expire}");

    for (id, secs, needle) in [
        ("exp-2", -5, "not in the future"),
        ("exp-3", 31 * 60, "30 minutes"),
    ] {
        let mut r = oc(id, 100);
        r.payment_expiry_time = Some(at(secs));
        let (code, message) = failure(&h.client, &r).await;
        assert_eq!(code, "PARAM_ILLEGAL");
        assert!(message.starts_with("paymentExpiryTime: "), "{message}");
        assert!(message.contains(needle), "{message}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_expiry_closes_the_code_in_real_time_and_in_the_sweep() {
    let h = harness().await;
    let mut r = oc("exp-real-1", 100);
    r.payment_expiry_time = Some(timefmt::format_datetime(
        time::OffsetDateTime::now_utc() + time::Duration::seconds(4),
    ));
    success(&h.client, &r).await;
    // The periodic sweep closes it without any request touching it: read the SQLite file.
    let db = h.dir.join(sandbox::LEDGER_FILE);
    let row = eventually("the sweep to close the code", || {
        let db = db.clone();
        async move {
            let conn = rusqlite::Connection::open_with_flags(
                &db,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .ok()?;
            let row: (String, String) = conn
                .query_row(
                    "SELECT status, result_code FROM payments WHERE payment_request_id = 'exp-real-1'",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .ok()?;
            (row.0 == "FAIL").then_some(row)
        }
    })
    .await;
    assert_eq!(row.1, "ORDER_IS_CLOSED");
    assert_eq!(
        status_of(&h.client, "exp-real-1").await,
        (PaymentStatus::Fail, "ORDER_IS_CLOSED".to_owned())
    );
}

// ---------------------------------------------------------------------------------------
// Verification, envelope, validation

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_verified_before_anything_else() {
    let h = harness().await;
    let body = serde_json::to_vec(&oc("verify-1", 100)).unwrap();
    let pay = "/ams/api/v1/payments/pay";
    let millis = timefmt::now_millis_header();
    let post = reqwest::Method::POST;
    let json_ct = Some("application/json");

    let r = h
        .raw(
            post.clone(),
            pay,
            Some("NOBODY"),
            Some(&millis),
            &body,
            json_ct,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.result().0, "F");
    assert_eq!(r.result().1, "CLIENT_INVALID");
    r.assert_signed(pay, "NOBODY");
    let r = h
        .raw(post.clone(), pay, None, Some(&millis), &body, json_ct)
        .await;
    assert_eq!(r.result().1, "CLIENT_INVALID");
    let reg = "/ams/api/v1/merchants/registration";
    let r = h
        .raw(
            post.clone(),
            reg,
            Some("NOBODY"),
            Some(&millis),
            b"{}",
            json_ct,
        )
        .await;
    assert_eq!(r.result().1, "INVALID_CLIENT");

    let r = h
        .raw(post.clone(), pay, Some(OTHER), None, &body, json_ct)
        .await;
    assert_eq!(r.result().1, "PARAM_ILLEGAL");
    assert!(r.result().2.starts_with("request-time"), "{}", r.result().2);
    let r = h
        .raw(
            post.clone(),
            pay,
            Some(OTHER),
            Some("yesterday"),
            &body,
            json_ct,
        )
        .await;
    assert_eq!(r.result().1, "PARAM_ILLEGAL");
    assert!(r.result().2.contains("request-time"));

    // Signed by the wrong key / over other content.
    let mut req = h
        .http
        .post(h.url(pay))
        .header("client-id", OTHER)
        .header("request-time", &millis)
        .header("content-type", "application/json");
    let content = signing::content_to_sign(pay, OTHER, &millis, &body);
    let wrong = signing::sign_header(&alipay_private_key(), "1", &content).unwrap();
    req = req
        .header("signature", wrong.to_string())
        .body(body.clone());
    let resp = req.send().await.unwrap();
    let text: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(text["result"]["resultCode"], "INVALID_SIGNATURE");
    // The body changed after signing.
    let tampered = String::from_utf8(body.clone())
        .unwrap()
        .replace("\"100\"", "\"101\"");
    let resp = h
        .http
        .post(h.url(pay))
        .header("client-id", OTHER)
        .header("request-time", &millis)
        .header("signature", sign(pay, OTHER, &millis, &body))
        .body(tampered)
        .send()
        .await
        .unwrap();
    let text: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(text["result"]["resultCode"], "INVALID_SIGNATURE");
    // Signed for one prefix, sent to the other.
    let resp = h
        .http
        .post(h.url("/ams/sandbox/api/v1/payments/pay"))
        .header("client-id", OTHER)
        .header("request-time", &millis)
        .header("signature", sign(pay, OTHER, &millis, &body))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let text: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(text["result"]["resultCode"], "INVALID_SIGNATURE");
    // Nothing of the above created a payment.
    assert!(h.ledger().await["payments"].as_array().unwrap().is_empty());

    let r = h
        .raw(
            reqwest::Method::GET,
            pay,
            Some(OTHER),
            Some(&millis),
            b"",
            None,
        )
        .await;
    assert_eq!(r.result().1, "METHOD_NOT_SUPPORTED");
    r.assert_signed(pay, OTHER);
    let nowhere = "/ams/api/v1/payments/payLater";
    let r = h
        .raw(
            post.clone(),
            nowhere,
            Some(OTHER),
            Some(&millis),
            &body,
            json_ct,
        )
        .await;
    assert_eq!(r.result().1, "NO_INTERFACE_DEF");
    r.assert_signed(nowhere, OTHER);
    let r = h
        .raw(
            post.clone(),
            pay,
            Some(OTHER),
            Some(&millis),
            &body,
            Some("text/plain"),
        )
        .await;
    assert_eq!(r.result().1, "MEDIA_TYPE_NOT_ACCEPTABLE");
    // Content-Type is optional.
    let r = h
        .raw(post, pay, Some(OTHER), Some(&millis), &body, None)
        .await;
    assert_eq!(r.result().1, "SUCCESS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_time_formats_and_both_prefixes_are_served() {
    let h = harness().await;
    let iso = "2025-01-01T08:00:00+08:00";
    let millis = timefmt::now_millis_header();
    for (i, (prefix, time)) in [
        ("/ams/api", iso),
        ("/ams/api", millis.as_str()),
        ("/ams/sandbox/api", iso),
        ("/ams/sandbox/api", millis.as_str()),
    ]
    .into_iter()
    .enumerate()
    {
        let path = format!("{prefix}/v1/payments/pay");
        let body = serde_json::to_vec(&oc(&format!("fmt-{i}"), 100)).unwrap();
        let r = h
            .raw(
                reqwest::Method::POST,
                &path,
                Some(CLIENT),
                Some(time),
                &body,
                None,
            )
            .await;
        assert_eq!(r.result().1, "SUCCESS", "{path} {time}: {:?}", r.result());
        r.assert_signed(&path, CLIENT);
        let response_time = r.header("response-time").unwrap();
        assert!(response_time.ends_with("+08:00"), "{response_time}");
        assert!(timefmt::parse_datetime(response_time).is_ok());
        assert_eq!(r.header("client-id"), Some(CLIENT));
        assert_eq!(
            r.header("content-type"),
            Some("application/json; charset=UTF-8")
        );
    }
    // A signed path with a query string is verified and answered over the same text.
    let path = "/ams/api/v1/payments/inquiryPayment?trace=1";
    let body = serde_json::to_vec(&inquiry("fmt-0")).unwrap();
    let r = h
        .raw(
            reqwest::Method::POST,
            path,
            Some(CLIENT),
            Some(iso),
            &body,
            None,
        )
        .await;
    assert_eq!(r.result().1, "SUCCESS");
    r.assert_signed(path, CLIENT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_response_header_names_are_lowercase() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = harness().await;
    let path = "/ams/api/v1/payments/inquiryPayment";
    let body = br#"{"paymentRequestId":"nothing-here"}"#;
    let time = timefmt::now_millis_header();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nclient-id: {CLIENT}\r\nrequest-time: {time}\r\n\
         signature: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n",
        h.addr(),
        sign(path, CLIENT, &time, body),
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(h.addr()).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let head = text.split("\r\n\r\n").next().unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    for needle in [
        "\r\nsignature: algorithm=RSA256,keyVersion=1,signature=",
        "\r\nresponse-time: ",
        &format!("\r\nclient-id: {CLIENT}\r\n"),
        "\r\ncontent-type: application/json; charset=UTF-8\r\n",
    ] {
        assert!(head.contains(needle), "missing {needle:?} in\n{head}");
    }
    assert!(!head.contains("\r\nSignature:") && !head.contains("\r\nResponse-Time:"));
    assert!(text.contains("ORDER_NOT_EXIST"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn param_illegal_names_the_field() {
    let h = harness().await;
    let pay = "/ams/api/v1/payments/pay";
    let mut v: Value = serde_json::to_value(oc("param-1", 100)).unwrap();
    let cases: Vec<(Value, &str)> = vec![
        (
            {
                let mut x = v.clone();
                x["paymentAmount"]["value"] = json!("0");
                x
            },
            "paymentAmount.value: ",
        ),
        (
            {
                let mut x = v.clone();
                x["paymentAmount"]["value"] = json!("12.5");
                x
            },
            "paymentAmount.value: ",
        ),
        (
            {
                let mut x = v.clone();
                x["paymentAmount"]["currency"] = json!("XYZ");
                x
            },
            "paymentAmount.currency: unknown currency",
        ),
        (
            {
                let mut x = v.clone();
                x["order"]["orderAmount"]["currency"] = json!("ABC");
                x
            },
            "order.orderAmount.currency: ",
        ),
        (
            {
                let mut x = v.clone();
                x.as_object_mut().unwrap().remove("order");
                x
            },
            "order: is required",
        ),
        (
            {
                let mut x = v.clone();
                x["paymentRequestId"] = json!("has space");
                x
            },
            "paymentRequestId: ",
        ),
        (
            {
                let mut x = v.clone();
                x["paymentFactor"]["inStorePaymentScenario"] = json!("QrCode");
                x
            },
            "paymentFactor.inStorePaymentScenario: ",
        ),
        // No paymentNotifyUrl is accepted (a terminal without a public URL polls); see
        // engine.rs `a_terminal_without_notify_url_polls_to_paid`.
    ];
    for (body, prefix) in cases {
        let r = h
            .post(pay, OTHER, &serde_json::to_vec(&body).unwrap())
            .await;
        let (status, code, message) = r.result();
        assert_eq!(
            (status.as_str(), code.as_str()),
            ("F", "PARAM_ILLEGAL"),
            "{message}"
        );
        assert!(
            message.starts_with(prefix),
            "{message:?} should start with {prefix:?}"
        );
    }
    let r = h.post(pay, OTHER, b"{not json").await;
    assert_eq!(r.result().1, "PARAM_ILLEGAL");
    assert!(r.result().2.starts_with("body: "), "{}", r.result().2);
    let r = h
        .post("/ams/api/v1/payments/refund", OTHER, br#"{"refundRequestId":"r1","paymentId":"p1","refundAmount":{"currency":"USD","value":"-5"}}"#)
        .await;
    assert!(
        r.result().2.starts_with("refundAmount.value: "),
        "{}",
        r.result().2
    );
    // Nothing invalid was recorded; the id is still free.
    v["paymentRequestId"] = json!("param-1");
    let r = h.post(pay, OTHER, &serde_json::to_vec(&v).unwrap()).await;
    assert_eq!(r.result().1, "SUCCESS");
}

// ---------------------------------------------------------------------------------------
// User-presented mode

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_presented_codes_simulate_customers() {
    let h = harness().await;
    let paid = success(&h.client, &upm("upm-0", 3800, "281006020000000000000000")).await;
    assert!(paid.payment_time.is_some());
    assert_eq!(
        paid.psp_customer_info
            .as_ref()
            .and_then(|p| p.psp_name.as_deref()),
        Some("ALIPAYCN")
    );
    assert!(paid.order_code_form.is_none());
    assert_eq!(
        status_of(&h.client, "upm-0").await.0,
        PaymentStatus::Success
    );
    // Paid at once → a notification is queued.
    assert!(
        h.notification(paid.payment_id.as_deref().unwrap())
            .await
            .is_some()
    );
    let any = success(&h.client, &upm("upm-9", 100, "2600000000000009")).await;
    assert!(any.payment_time.is_some());

    match unknown(&h.client, &upm("upm-1", 100, "281006020000000000001111")).await {
        UnknownReason::ResultUnknown { code, .. } => assert_eq!(code, "PAYMENT_IN_PROCESS"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        status_of(&h.client, "upm-1").await.0,
        PaymentStatus::Processing
    );
    // Still in process on a replay, until the customer confirms in the wallet.
    assert!(matches!(
        unknown(&h.client, &upm("upm-1", 100, "281006020000000000001111")).await,
        UnknownReason::ResultUnknown { .. }
    ));
    let (status, body) = h.customer_pays("upm-1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        status_of(&h.client, "upm-1").await.0,
        PaymentStatus::Success
    );
    let replay = success(&h.client, &upm("upm-1", 100, "281006020000000000001111")).await;
    assert!(replay.payment_time.is_some());

    for (id, code, expected) in [
        (
            "upm-2",
            "281006020000000000002222",
            "USER_BALANCE_NOT_ENOUGH",
        ),
        ("upm-3", "281006020000000000003333", "EXPIRED_CODE"),
        ("upm-4", "12345", "INVALID_PAYMENT_CODE"),
        ("upm-5", "2410060200000000", "INVALID_PAYMENT_CODE"),
        ("upm-6", "281006020000000", "INVALID_PAYMENT_CODE"),
    ] {
        assert_eq!(
            failure_code(&h.client, &upm(id, 100, code)).await,
            expected,
            "{code}"
        );
    }
    assert_eq!(
        status_of(&h.client, "upm-2").await,
        (PaymentStatus::Fail, "USER_BALANCE_NOT_ENOUGH".to_owned())
    );
    // An unusable code creates nothing.
    assert_eq!(
        failure_code(&h.client, &inquiry("upm-4")).await,
        "ORDER_NOT_EXIST"
    );
}

/// The docs' rule for an Alipay payment code (16-24 digits starting with 25-30), written out
/// again here so that the sandbox's own check is not what the test trusts.
fn is_alipay_code(code: &str) -> bool {
    (16..=24).contains(&code.len())
        && code.bytes().all(|b| b.is_ascii_digit())
        && (25..=30).contains(&code[..2].parse::<u8>().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_presented_customers_decline_through_the_control_endpoint() {
    let h = harness().await;
    let confirm_code = "281006020000000000001111";
    assert!(matches!(
        unknown(&h.client, &upm("dec-1", 100, confirm_code)).await,
        UnknownReason::ResultUnknown { .. }
    ));
    let (status, body) = h.customer_declines("dec-1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "FAIL");
    assert_eq!(body["resultCode"], "USER_PAYMENT_VERIFICATION_FAILED");
    assert_eq!(body["paymentRequestId"], "dec-1");
    assert!(body["paymentTime"].is_string(), "{body}");
    // inquiryPayment reports it as every other User-presented failure.
    let r = success(&h.client, &inquiry("dec-1")).await;
    assert_eq!(r.payment_status, Some(PaymentStatus::Fail));
    assert_eq!(
        r.payment_result_code.as_deref(),
        Some("USER_PAYMENT_VERIFICATION_FAILED")
    );
    assert!(r.payment_time.is_some());
    assert!(r.psp_customer_info.is_none());
    // A replay of the pay now gets the F; confirming or declining again is refused.
    assert_eq!(
        failure_code(&h.client, &upm("dec-1", 100, confirm_code)).await,
        "USER_PAYMENT_VERIFICATION_FAILED"
    );
    let (status, body) = h.customer_pays("dec-1").await;
    assert_eq!((status, body["error"].as_str()), (409, Some("failed")));
    let (status, body) = h.customer_declines("dec-1").await;
    assert_eq!((status, body["error"].as_str()), (409, Some("failed")));
    // No notification for a failure (the in-store rule).
    let payment_id = r.payment_id.unwrap();
    assert!(h.notification(&payment_id).await.is_none());

    // Paid first: declining is refused and the payment stays paid.
    unknown(&h.client, &upm("dec-2", 100, confirm_code)).await;
    assert_eq!(h.customer_pays("dec-2").await.0, 200);
    let (status, body) = h.customer_declines("dec-2").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("already_paid"))
    );
    assert_eq!(
        status_of(&h.client, "dec-2").await.0,
        PaymentStatus::Success
    );

    // Cancelled by the merchant, then expired, then unknown.
    unknown(&h.client, &upm("dec-3", 100, confirm_code)).await;
    success(&h.client, &CancelRequest::by_payment_request_id("dec-3")).await;
    let (status, body) = h.customer_declines("dec-3").await;
    assert_eq!((status, body["error"].as_str()), (409, Some("cancelled")));
    unknown(&h.client, &upm("dec-4", 100, confirm_code)).await;
    h.advance_clock(301).await;
    let (status, body) = h.customer_declines("dec-4").await;
    assert_eq!((status, body["error"].as_str()), (410, Some("expired")));
    assert_eq!(
        status_of(&h.client, "dec-4").await,
        (PaymentStatus::Fail, "ORDER_IS_CLOSED".to_owned())
    );
    let (status, body) = h.customer_declines("no-such-payment").await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));

    // An order code is refused by not paying it, not declined.
    success(&h.client, &oc("dec-oc", 100)).await;
    let (status, body) = h.customer_declines("dec-oc").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("not_user_presented"))
    );
    assert_eq!(
        status_of(&h.client, "dec-oc").await.0,
        PaymentStatus::Processing
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wallet_page_of_a_user_presented_payment_confirms_or_declines() {
    let h = harness().await;
    let confirm_code = "261006020000000000001111";
    unknown(&h.client, &upm("wup-1", 250, confirm_code)).await;
    unknown(&h.client, &upm("wup-2", 250, confirm_code)).await;
    let wallet = h.waiting_wallet_url("wup-1").await;

    let html = h
        .http
        .get(&wallet)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("id=\"confirm\""), "{html}");
    assert!(html.contains("id=\"decline\""), "{html}");
    assert!(
        html.contains(&format!("action=\"{wallet}/decline\"")),
        "{html}"
    );
    assert!(html.contains(&format!("action=\"{wallet}/pay\"")), "{html}");
    assert!(!html.contains("id=\"pay\""), "{html}");
    assert!(html.contains("data-status=\"PROCESSING\""), "{html}");
    assert!(html.contains("等待您确认"), "{html}");

    // Declined from the page as a browser without JavaScript: the result page says so.
    let resp = h
        .http
        .post(format!("{wallet}/decline"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(html.contains("data-status=\"FAIL\""), "{html}");
    assert!(html.contains("id=\"notice\""), "{html}");
    assert!(
        html.contains("id=\"decline\" class=\"decline\" type=\"submit\" disabled"),
        "{html}"
    );
    assert_eq!(
        status_of(&h.client, "wup-1").await,
        (
            PaymentStatus::Fail,
            "USER_PAYMENT_VERIFICATION_FAILED".to_owned()
        )
    );
    // The same refusals as paying, in JSON too.
    let resp = h
        .http
        .post(format!("{wallet}/decline"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 409);
    let body: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"], "failed");
    let (status, body) = h.wallet_pay(&wallet).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("failed")));

    // The other one is confirmed through the same page's Confirm (its /pay).
    let wallet = h.waiting_wallet_url("wup-2").await;
    let (status, body) = h.wallet_pay(&wallet).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "SUCCESS");
    assert_eq!(body["resultCode"], "SUCCESS");
    let resp = h
        .http
        .post(format!("{wallet}/decline"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 409);

    // Order Code pages keep their single Pay button.
    let code = code_value(&success(&h.client, &oc("wup-oc", 100)).await);
    let html = h
        .http
        .get(&code)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("id=\"pay\""), "{html}");
    assert!(!html.contains("id=\"decline\""), "{html}");
    let resp = h
        .http
        .post(format!("{code}/decline"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_payment_code_page_shows_working_codes_and_the_waiting_payments() {
    let h = harness().await;
    let page = h.payment_code_page().await;
    let codes = &page["codes"];
    for (key, ending) in [
        ("paid", "0000"),
        ("confirm", "1111"),
        ("balance", "2222"),
        ("expired", "3333"),
    ] {
        let code = codes[key].as_str().unwrap();
        assert!(is_alipay_code(code), "{key}: {code}");
        assert!(code.ends_with(ending), "{key}: {code}");
    }
    assert_eq!(page["waiting"], json!([]));
    // Fresh codes at every load, like a wallet's rotating code.
    let again = h.payment_code_page().await;
    assert_ne!(again["codes"]["paid"], codes["paid"]);

    // The codes work at the gateway as their customers say.
    let code = |key: &str| codes[key].as_str().unwrap().to_owned();
    success(&h.client, &upm("pc-paid", 100, &code("paid"))).await;
    assert_eq!(
        failure_code(&h.client, &upm("pc-balance", 100, &code("balance"))).await,
        "USER_BALANCE_NOT_ENOUGH"
    );
    assert_eq!(
        failure_code(&h.client, &upm("pc-expired", 100, &code("expired"))).await,
        "EXPIRED_CODE"
    );
    success(&h.client, &oc("pc-oc", 100)).await;
    assert!(h.waiting_ids().await.is_empty());

    // Only the 1111 payments wait, newest first.
    unknown(&h.client, &upm("pc-1", 1250, &code("confirm"))).await;
    unknown(&h.client, &upm("pc-2", 300, &code("confirm"))).await;
    assert_eq!(h.waiting_ids().await, ["pc-2", "pc-1"]);
    let page = h.payment_code_page().await;
    let first = &page["waiting"][1];
    assert_eq!(first["amount"], "1250");
    assert_eq!(first["currency"], "HKD");
    assert_eq!(first["merchant"], "Demo Cafe");
    let wallet = first["walletUrl"].as_str().unwrap();
    assert!(wallet.starts_with(&h.url("/wallet/")), "{wallet}");
    assert_eq!(h.http.get(wallet).send().await.unwrap().status(), 200);

    // The HTML form: digits, QR codes, the list with links to the wallet pages.
    let html = h
        .http
        .get(h.url("/wallet/payment-code"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for ending in ["0000", "1111", "2222", "3333"] {
        let at = html
            .find(&format!("id=\"code-{ending}\">"))
            .unwrap_or_else(|| panic!("no #code-{ending}: {html}"));
        let digits: String = html[at..]
            .split('>')
            .nth(1)
            .unwrap()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        assert!(
            is_alipay_code(&digits) && digits.ends_with(ending),
            "{digits}"
        );
    }
    assert_eq!(html.matches("<svg").count(), 4, "{html}");
    assert!(html.contains("id=\"waiting\""), "{html}");
    assert_eq!(html.matches("class=\"waiting-payment\"").count(), 2);
    let path = wallet.strip_prefix(&h.url("")).unwrap();
    assert!(
        html.contains(&format!(
            "data-payment-request-id=\"pc-1\"><a href=\"{path}\">"
        )),
        "{html}"
    );
    assert!(html.contains("HKD 12.50"), "{html}");

    // Confirmed or declined payments leave the list; so do expired ones.
    assert_eq!(h.customer_pays("pc-1").await.0, 200);
    assert_eq!(h.waiting_ids().await, ["pc-2"]);
    assert_eq!(h.customer_declines("pc-2").await.0, 200);
    assert!(h.waiting_ids().await.is_empty());
    unknown(&h.client, &upm("pc-3", 100, &code("confirm"))).await;
    assert_eq!(h.waiting_ids().await, ["pc-3"]);
    h.advance_clock(301).await;
    assert!(h.waiting_ids().await.is_empty());

    // At most ten, the newest.
    for i in 0..11 {
        unknown(
            &h.client,
            &upm(&format!("pc-many-{i:02}"), 100, &code("confirm")),
        )
        .await;
    }
    let ids = h.waiting_ids().await;
    assert_eq!(ids.len(), 10);
    assert_eq!(ids[0], "pc-many-10");
    assert!(!ids.contains(&"pc-many-00".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_faults_on_pay_hit_user_presented_payments_the_same_way() {
    let h = harness().await;
    let paid_code = "281006020000000000000000";
    let confirm_code = "281006020000000000001111";

    // 5xx: nothing processed, nothing charged.
    h.set_faults(json!({"http_5xx_rate": 1.0, "apis": ["pay"]}))
        .await;
    match unknown(&h.client, &upm("fu-5xx", 100, paid_code)).await {
        UnknownReason::HttpStatus(s) => assert!(s == 500 || s == 503, "{s}"),
        other => panic!("{other:?}"),
    }
    h.clear_faults().await;
    assert_eq!(
        failure_code(&h.client, &inquiry("fu-5xx")).await,
        "ORDER_NOT_EXIST"
    );

    // A lost answer: the customer was charged and the ledger has it; the replay with the
    // same paymentRequestId gets the stored answer byte for byte.
    h.set_faults(json!({"drop_response_rate": 1.0, "apis": ["pay"]}))
        .await;
    let body = serde_json::to_vec(&upm("fu-drop", 100, paid_code)).unwrap();
    let path = "/ams/sandbox/api/v1/payments/pay";
    let reason = unknown(&h.client, &upm("fu-drop", 100, paid_code)).await;
    assert!(matches!(reason, UnknownReason::Transport(_)), "{reason:?}");
    assert!(reason.request_may_have_arrived());
    let books = h.ledger().await;
    let row = books["payments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["payment_request_id"] == "fu-drop")
        .unwrap_or_else(|| panic!("not committed: {books}"))
        .clone();
    assert_eq!(row["status"], "SUCCESS");
    assert_eq!(row["scenario"], "PaymentCode");
    h.clear_faults().await;
    let first = h.post(path, CLIENT, &body).await;
    let second = h.post(path, CLIENT, &body).await;
    assert_eq!(first.result().1, "SUCCESS");
    assert_eq!(first.body, second.body, "replays must be byte-identical");
    assert_eq!(first.json()["paymentId"], row["payment_id"]);
    // Charged once: one payment, one notification.
    let payment_id = row["payment_id"].as_str().unwrap();
    assert!(h.notification(payment_id).await.is_some());
    let books = h.ledger().await;
    let rows = books["payments"].as_array().unwrap();
    assert_eq!(
        rows.iter()
            .filter(|p| p["payment_request_id"] == "fu-drop")
            .count(),
        1
    );

    // A lost U for the confirming customer: still waiting, the replay says so again.
    h.set_faults(json!({"drop_response_rate": 1.0, "apis": ["pay"], "count": 1}))
        .await;
    let reason = unknown(&h.client, &upm("fu-wait", 100, confirm_code)).await;
    assert!(matches!(reason, UnknownReason::Transport(_)), "{reason:?}");
    match unknown(&h.client, &upm("fu-wait", 100, confirm_code)).await {
        UnknownReason::ResultUnknown { code, .. } => assert_eq!(code, "PAYMENT_IN_PROCESS"),
        other => panic!("{other:?}"),
    }
    assert_eq!(h.waiting_ids().await, ["fu-wait"]);

    // A forced U after processing an F: the failure is committed and the replay tells it.
    h.set_faults(json!({"unknown_result_rate": 1.0, "apis": ["pay"]}))
        .await;
    match unknown(&h.client, &upm("fu-u", 100, "281006020000000000002222")).await {
        UnknownReason::ResultUnknown { code, .. } => assert_eq!(code, "UNKNOWN_EXCEPTION"),
        other => panic!("{other:?}"),
    }
    h.clear_faults().await;
    assert_eq!(
        status_of(&h.client, "fu-u").await,
        (PaymentStatus::Fail, "USER_BALANCE_NOT_ENOUGH".to_owned())
    );
    assert_eq!(
        failure_code(&h.client, &upm("fu-u", 100, "281006020000000000002222")).await,
        "USER_BALANCE_NOT_ENOUGH"
    );
}

// ---------------------------------------------------------------------------------------
// Cancel and refund

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_rules_follow_the_window_and_refunds() {
    let h = harness_with(|o| o.cancel_window = Duration::from_secs(60)).await;
    assert_eq!(
        failure_code(&h.client, &CancelRequest::by_payment_id("nope")).await,
        "ORDER_NOT_EXIST"
    );
    // Paid, cancelled inside the window: funds back, nothing left to refund.
    let pay = success(&h.client, &oc("cw-1", 1000)).await;
    let payment_id = pay.payment_id.clone().unwrap();
    h.customer_pays(&payment_id).await;
    let c = success(&h.client, &CancelRequest::by_payment_id(&payment_id)).await;
    assert!(c.cancel_time.is_some());
    assert_eq!(
        status_of(&h.client, "cw-1").await.0,
        PaymentStatus::Cancelled
    );
    assert_eq!(
        failure_code(
            &h.client,
            &RefundRequest::new("cw-r1", &payment_id, Amount::new("USD", 10))
        )
        .await,
        "ORDER_IS_CANCELED"
    );
    // paymentId wins over paymentRequestId.
    let both = CancelRequest {
        payment_id: Some("unknown-id".into()),
        payment_request_id: Some("cw-1".into()),
    };
    assert_eq!(failure_code(&h.client, &both).await, "ORDER_NOT_EXIST");

    // Paid, then the window passes.
    let pay = success(&h.client, &oc("cw-2", 1000)).await;
    h.customer_pays(pay.payment_id.as_deref().unwrap()).await;
    // Paid and partly refunded: no cancel any more.
    let pay3 = success(&h.client, &oc("cw-3", 1000)).await;
    let id3 = pay3.payment_id.unwrap();
    h.customer_pays(&id3).await;
    success(
        &h.client,
        &RefundRequest::new("cw-r3", &id3, Amount::new("USD", 1)),
    )
    .await;
    assert_eq!(
        failure_code(&h.client, &CancelRequest::by_payment_id(&id3)).await,
        "ORDER_STATUS_INVALID"
    );
    h.advance_clock(61).await;
    assert_eq!(
        failure_code(&h.client, &CancelRequest::by_payment_request_id("cw-2")).await,
        "CANCEL_WINDOW_EXCEED"
    );
    assert_eq!(status_of(&h.client, "cw-2").await.0, PaymentStatus::Success);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_add_up_and_are_idempotent() {
    let h = harness_with(|o| o.refund_window = Duration::from_secs(3600)).await;
    let pay = success(&h.client, &oc("rf-1", 1000)).await;
    let id = pay.payment_id.unwrap();
    let usd = |v| Amount::new("USD", v);
    assert_eq!(
        failure_code(&h.client, &RefundRequest::new("rf-early", &id, usd(100))).await,
        "ORDER_STATUS_INVALID"
    );
    h.customer_pays(&id).await;
    assert_eq!(
        failure_code(
            &h.client,
            &RefundRequest::new("rf-x", "no-such-payment", usd(1))
        )
        .await,
        "ORDER_NOT_EXIST"
    );
    assert_eq!(
        failure_code(
            &h.client,
            &RefundRequest::new("rf-cur", &id, Amount::new("HKD", 100))
        )
        .await,
        "CURRENCY_NOT_SUPPORT"
    );
    let first = success(&h.client, &RefundRequest::new("rf-a", &id, usd(400))).await;
    let refund_id = first.refund_id.clone().unwrap();
    assert_eq!(first.refund_amount, Some(usd(400)));
    assert_eq!(first.payment_id.as_deref(), Some(id.as_str()));
    assert!(first.refund_time.is_some());
    // Replays: the same refund, not a second one.
    assert_eq!(
        success(&h.client, &RefundRequest::new("rf-a", &id, usd(400))).await,
        first
    );
    assert_eq!(
        failure_code(&h.client, &RefundRequest::new("rf-a", &id, usd(401))).await,
        "REPEAT_REQ_INCONSISTENT"
    );
    success(&h.client, &RefundRequest::new("rf-b", &id, usd(600))).await;
    let (code, message) = failure(&h.client, &RefundRequest::new("rf-c", &id, usd(1))).await;
    assert_eq!(code, "REFUND_AMOUNT_EXCEED");
    assert!(message.contains("1000"), "{message}");
    // A final F is final for that id.
    assert_eq!(
        failure_code(&h.client, &RefundRequest::new("rf-c", &id, usd(1))).await,
        "REFUND_AMOUNT_EXCEED"
    );

    for q in [
        InquiryRefundRequest::by_refund_id(&refund_id),
        InquiryRefundRequest::by_refund_request_id("rf-a"),
        InquiryRefundRequest {
            refund_id: Some(refund_id.clone()),
            refund_request_id: Some("rf-b".into()),
        },
    ] {
        let r = success(&h.client, &q).await;
        assert_eq!(r.refund_status, Some(RefundStatus::Success));
        assert_eq!(r.refund_id.as_deref(), Some(refund_id.as_str()));
        assert_eq!(r.refund_amount, Some(usd(400)));
        assert!(r.refund_time.is_some());
    }
    assert_eq!(
        failure_code(
            &h.client,
            &InquiryRefundRequest::by_refund_request_id("rf-c")
        )
        .await,
        "ORDER_NOT_EXIST"
    );
    // Another client cannot see this refund.
    let other = client_for(&h.sandbox, OTHER, Duration::from_secs(10));
    assert_eq!(
        failure_code(&other, &InquiryRefundRequest::by_refund_id(&refund_id)).await,
        "ORDER_NOT_EXIST"
    );

    let ledger = h.ledger().await;
    let entry = ledger["payments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["payment_id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(entry["status"], "SUCCESS");
    assert_eq!(
        entry["refunded"],
        json!({"currency": "USD", "value": "1000"})
    );
    assert_eq!(entry["refund_count"], 2);
    assert_eq!(ledger["refunds"].as_array().unwrap().len(), 2);

    // The refund window counts from paymentTime.
    let pay = success(&h.client, &oc("rf-2", 1000)).await;
    let id2 = pay.payment_id.unwrap();
    h.customer_pays(&id2).await;
    h.advance_clock(3601).await;
    assert_eq!(
        failure_code(&h.client, &RefundRequest::new("rf-late", &id2, usd(1))).await,
        "REFUND_WINDOW_EXCEED"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_refund_wallets_refuse_a_second_refund() {
    let h = harness_with(|o| o.single_refund = true).await;
    let pay = success(&h.client, &oc("sr-1", 1000)).await;
    let id = pay.payment_id.unwrap();
    h.customer_pays(&id).await;
    success(
        &h.client,
        &RefundRequest::new("sr-a", &id, Amount::new("USD", 100)),
    )
    .await;
    assert_eq!(
        failure_code(
            &h.client,
            &RefundRequest::new("sr-b", &id, Amount::new("USD", 100))
        )
        .await,
        "MULTIPLE_REFUNDS_NOT_SUPPORTED"
    );
}

// ---------------------------------------------------------------------------------------
// Registration

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_is_reviewed_notified_and_reported() {
    let h = harness_with(|o| o.registration_delay = Duration::from_secs(60)).await;
    let (rx, rx_url) = receiver(0).await;
    let notify = format!("{rx_url}/registration/notify");
    let req = registration("reg-1", "M0001", Some(&notify));
    let accepted = success(&h.client, &req).await;
    assert_eq!(accepted.pass_through_info, req.pass_through_info);
    // Identical replay; same id with other content.
    assert_eq!(success(&h.client, &req).await, accepted);
    let mut changed = req.clone();
    changed.merchant_info.merchant_display_name = Some("Other".into());
    assert_eq!(
        failure_code(&h.client, &changed).await,
        "REPEAT_REQ_INCONSISTENT"
    );

    let by_merchant = InquiryRegistrationStatusRequest {
        reference_merchant_id: Some("M0001".into()),
        ..Default::default()
    };
    let pending = success(&h.client, &by_merchant).await;
    assert_eq!(
        pending.registration_result.unwrap().registration_status,
        Some(RegistrationStatus::Pending)
    );
    assert_eq!(
        failure_code(&h.client, &registration("reg-2", "M0001", None)).await,
        "REGISTRATION_UNDER_REVIEW"
    );
    let info = success(&h.client, &InquiryRegistrationInfoRequest::new("M0001")).await;
    assert!(info.merchant_info.is_none(), "{info:?}");
    assert_eq!(rx.count(), 0);

    h.advance_clock(61).await;
    let by_id = InquiryRegistrationStatusRequest {
        registration_request_id: Some("reg-1".into()),
        ..Default::default()
    };
    let done = success(&h.client, &by_id).await;
    assert_eq!(
        done.registration_result.unwrap().registration_status,
        Some(RegistrationStatus::Completed)
    );
    let wallets = done.psp_registration_result_list.unwrap();
    assert_eq!(wallets[0].psp_name.as_deref(), Some("AlipayCN"));
    assert_eq!(
        wallets[0]
            .registration_result
            .as_ref()
            .and_then(|r| r.registration_status.clone()),
        Some(RegistrationStatus::Approved)
    );
    let delivery = eventually("notifyRegistrationStatus", || async {
        rx.all().into_iter().next()
    })
    .await;
    assert!(delivery.verified, "{delivery:?}");
    assert_eq!(delivery.path, "/registration/notify");
    assert_eq!(delivery.body["registrationRequestId"], "reg-1");
    assert_eq!(
        delivery.body["registrationResult"]["registrationStatus"],
        "COMPLETED"
    );

    let info = success(&h.client, &InquiryRegistrationInfoRequest::new("M0001")).await;
    assert_eq!(info.merchant_info, Some(req.merchant_info.clone()));
    assert_eq!(info.store_info, req.store_info);
    assert_eq!(
        info.product_codes,
        Some(vec!["IN_STORE_PAYMENT".to_owned()])
    );

    assert_eq!(
        failure_code(&h.client, &registration("reg-3", "M0001", None)).await,
        "REPEAT_REGISTRATION"
    );
    let mismatch = InquiryRegistrationStatusRequest {
        registration_request_id: Some("reg-1".into()),
        reference_merchant_id: Some("M9999".into()),
        ..Default::default()
    };
    assert_eq!(
        failure_code(&h.client, &mismatch).await,
        "REPEAT_REQ_INCONSISTENT"
    );
    let unknown_id = InquiryRegistrationStatusRequest {
        registration_request_id: Some("reg-404".into()),
        ..Default::default()
    };
    assert_eq!(
        failure_code(&h.client, &unknown_id).await,
        "RECORD_NOT_FOUND"
    );
    assert_eq!(
        failure_code(&h.client, &InquiryRegistrationInfoRequest::new("M404")).await,
        "RECORD_NOT_FOUND"
    );
    // The `_REJECT` merchant is rejected by the wallet at review.
    success(&h.client, &registration("reg-r", "M0002_REJECT", None)).await;
    h.advance_clock(61).await;
    let rejected = success(
        &h.client,
        &InquiryRegistrationStatusRequest {
            reference_merchant_id: Some("M0002_REJECT".into()),
            ..Default::default()
        },
    )
    .await;
    let verdict = rejected.psp_registration_result_list.unwrap()[0]
        .registration_result
        .clone()
        .unwrap();
    assert_eq!(
        verdict.registration_status,
        Some(RegistrationStatus::Rejected)
    );
    assert!(verdict.reject_reasons.is_some());
}

// ---------------------------------------------------------------------------------------
// Notifications

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_are_resent_until_acknowledged() {
    let h = harness_with(|o| o.time_scale = 0.001).await;
    let (rx, rx_url) = receiver(3).await;
    let pay = success(
        &h.client,
        &oc_notify("nt-1", 100, &format!("{rx_url}/notify")),
    )
    .await;
    let id = pay.payment_id.unwrap();
    h.customer_pays(&id).await;
    let n = eventually("delivery after three refusals", || async {
        h.notification(&id)
            .await
            .filter(|n| n["status"] == "DELIVERED")
    })
    .await;
    assert_eq!(n["attempts"], 4);
    let all = rx.all();
    assert_eq!(all.len(), 4, "{all:?}");
    assert!(all.iter().all(|d| d.verified), "{all:?}");
    assert!(all.iter().all(|d| d.body["paymentId"] == id.as_str()));
    // Delivered is final: nothing more is queued.
    let ledger = h.ledger().await;
    assert!(
        ledger["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["status"] != "PENDING")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_stop_after_eight_resends() {
    // The whole 24.4 h schedule in about 0.9 s.
    let h = harness_with(|o| o.time_scale = 0.00001).await;
    let (rx, rx_url) = receiver(usize::MAX).await;
    let pay = success(
        &h.client,
        &oc_notify("nt-2", 100, &format!("{rx_url}/notify")),
    )
    .await;
    let id = pay.payment_id.unwrap();
    h.customer_pays(&id).await;
    let n = eventually("the schedule to run out", || async {
        h.notification(&id)
            .await
            .filter(|n| n["status"] == "ABANDONED")
    })
    .await;
    assert_eq!(n["attempts"], 9);
    assert_eq!(rx.count(), 9);
    assert!(n["last_error"].as_str().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suppressed_notifications_are_never_sent() {
    let h = harness().await;
    let (rx, rx_url) = receiver(0).await;
    h.set_faults(json!({"client_id": CLIENT, "suppress_notifications": true}))
        .await;
    let pay = success(
        &h.client,
        &oc_notify("nt-3", 100, &format!("{rx_url}/notify")),
    )
    .await;
    let id = pay.payment_id.unwrap();
    h.customer_pays(&id).await;
    let n = eventually("suppression", || async {
        h.notification(&id)
            .await
            .filter(|n| n["status"] == "SUPPRESSED")
    })
    .await;
    assert_eq!(n["attempts"], 0);
    assert_eq!(rx.count(), 0);
}

// ---------------------------------------------------------------------------------------
// Persistence

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_keys_payments_and_pending_notifications() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("fresh");
    let (rx, rx_url) = receiver(2).await;

    // First start: generates the simulator's key pair.
    let first = sandbox::start(options_for(&dir)).await.unwrap();
    let private_path = dir.join(sandbox::ALIPAY_PRIVATE_KEY_FILE);
    let public_path = dir.join(sandbox::ALIPAY_PUBLIC_KEY_FILE);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&private_path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let private_before = std::fs::read(&private_path).unwrap();
    let public_before = std::fs::read(&public_path).unwrap();
    let alipay_key = first.alipay_public_key().clone();
    assert_ne!(
        alipay_key,
        alipay_public_key(),
        "a fresh key, not the vector's"
    );
    *rx.key.lock().unwrap() = alipay_key.clone();
    let mut settings = ClientSettings::new(first.base_url().clone(), CLIENT);
    settings.request_timeout = Duration::from_secs(10);
    let c = AmsClient::new(settings, merchant_private_key(), alipay_key.clone()).unwrap();
    let pay = success(&c, &oc_notify("rs-1", 4321, &format!("{rx_url}/notify"))).await;
    let id = pay.payment_id.unwrap();
    let http = reqwest::Client::new();
    let resp = http
        .post(format!(
            "{}sandbox/control/payments/{id}/pay",
            first.base_url()
        ))
        .bearer_auth(first.control_token())
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Two refusals, both recorded: the third attempt is due 2 minutes later.
    let control = format!("{}sandbox/control/ledger", first.base_url());
    let token = first.control_token().to_owned();
    eventually("two recorded attempts", || {
        let http = http.clone();
        let control = control.clone();
        let token = token.clone();
        async move {
            let v: Value = serde_json::from_slice(
                &http
                    .get(control)
                    .bearer_auth(token)
                    .send()
                    .await
                    .ok()?
                    .bytes()
                    .await
                    .ok()?,
            )
            .ok()?;
            (v["notifications"][0]["attempts"] == 2).then_some(())
        }
    })
    .await;
    assert_eq!(rx.count(), 2);
    first.shutdown().await;

    let second = sandbox::start(options_for(&dir)).await.unwrap();
    assert_eq!(std::fs::read(&private_path).unwrap(), private_before);
    assert_eq!(std::fs::read(&public_path).unwrap(), public_before);
    assert_eq!(second.alipay_public_key(), &alipay_key);
    let mut settings = ClientSettings::new(second.base_url().clone(), CLIENT);
    settings.request_timeout = Duration::from_secs(10);
    let c = AmsClient::new(settings, merchant_private_key(), alipay_key).unwrap();
    let r = success(&c, &InquiryPaymentRequest::by_payment_id(&id)).await;
    assert_eq!(r.payment_status, Some(PaymentStatus::Success));
    assert_eq!(r.payment_amount, Some(Amount::new("USD", 4321)));
    // The replay still gets the stored answer.
    assert_eq!(
        success(&c, &oc_notify("rs-1", 4321, &format!("{rx_url}/notify")))
            .await
            .payment_id,
        Some(id.clone())
    );
    // The outbox survived: moving the clock past the 2-minute resend delivers it.
    let resp = http
        .post(format!("{}sandbox/control/clock", second.base_url()))
        .bearer_auth(second.control_token())
        .header("content-type", "application/json")
        .body(r#"{"advance_secs": 121}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    eventually("the resumed delivery", || async {
        (rx.count() >= 3).then_some(())
    })
    .await;
    let ledger: Value = serde_json::from_slice(
        &http
            .get(format!("{}sandbox/control/ledger", second.base_url()))
            .bearer_auth(second.control_token())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    let n = eventually("DELIVERED in the ledger", || {
        let http = http.clone();
        let url = format!("{}sandbox/control/ledger", second.base_url());
        let token = second.control_token().to_owned();
        async move {
            let v: Value = serde_json::from_slice(
                &http
                    .get(url)
                    .bearer_auth(token)
                    .send()
                    .await
                    .ok()?
                    .bytes()
                    .await
                    .ok()?,
            )
            .ok()?;
            v["notifications"][0]
                .clone()
                .as_object()
                .cloned()
                .filter(|n| n["status"] == "DELIVERED")
        }
    })
    .await;
    assert_eq!(n["attempts"], 3);
    assert_eq!(ledger["payments"][0]["payment_id"], id.as_str());
    assert!(rx.all().iter().all(|d| d.verified));
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemeral_sandboxes_forget_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("eph");
    seed_alipay_keys(&dir);
    let mut o = options_for(&dir);
    o.ephemeral = true;
    let s = sandbox::start(o.clone()).await.unwrap();
    let c = client_for(&s, CLIENT, Duration::from_secs(10));
    success(&c, &oc("eph-1", 100)).await;
    s.shutdown().await;
    assert!(!dir.join(sandbox::LEDGER_FILE).exists());
    let s = sandbox::start(o).await.unwrap();
    let c = client_for(&s, CLIENT, Duration::from_secs(10));
    assert_eq!(failure_code(&c, &inquiry("eph-1")).await, "ORDER_NOT_EXIST");
}

// ---------------------------------------------------------------------------------------
// Faults

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_faults_strike_before_or_after_processing() {
    let h = harness().await;
    let other = client_for(&h.sandbox, OTHER, Duration::from_secs(10));

    // 5xx: nothing processed.
    h.set_faults(json!({"client_id": CLIENT, "http_5xx_rate": 1.0}))
        .await;
    match unknown(&h.client, &oc("f-5xx", 100)).await {
        UnknownReason::HttpStatus(s) => assert!(s == 500 || s == 503, "{s}"),
        other => panic!("{other:?}"),
    }
    // Faults for one client leave the others alone.
    success(&other, &oc("f-other", 100)).await;
    h.clear_faults().await;
    assert_eq!(
        failure_code(&h.client, &inquiry("f-5xx")).await,
        "ORDER_NOT_EXIST"
    );

    // Down: the connection breaks, nothing processed.
    h.set_faults(json!({"down": true})).await;
    let reason = unknown(&h.client, &oc("f-down", 100)).await;
    assert!(
        matches!(
            reason,
            UnknownReason::Transport(_) | UnknownReason::NotSent(_)
        ),
        "{reason:?}"
    );
    h.clear_faults().await;
    assert_eq!(
        failure_code(&h.client, &inquiry("f-down")).await,
        "ORDER_NOT_EXIST"
    );

    // Dropped response, only on pay: processed and committed, then no usable answer.
    h.set_faults(json!({"drop_response_rate": 1.0, "apis": ["pay"]}))
        .await;
    let reason = unknown(&h.client, &oc("f-drop", 100)).await;
    assert!(matches!(reason, UnknownReason::Transport(_)), "{reason:?}");
    assert!(reason.request_may_have_arrived());
    // inquiryPayment is not affected by this fault.
    assert_eq!(
        status_of(&h.client, "f-drop").await.0,
        PaymentStatus::Processing
    );
    h.clear_faults().await;
    let replay = success(&h.client, &oc("f-drop", 100)).await;
    assert!(replay.payment_id.is_some());

    // U after processing.
    h.set_faults(json!({"unknown_result_rate": 1.0})).await;
    match unknown(&h.client, &oc("f-u", 100)).await {
        UnknownReason::ResultUnknown { code, .. } => assert_eq!(code, "UNKNOWN_EXCEPTION"),
        other => panic!("{other:?}"),
    }
    h.clear_faults().await;
    assert_eq!(
        status_of(&h.client, "f-u").await.0,
        PaymentStatus::Processing
    );

    // A corrupted signature after processing.
    h.set_faults(json!({"bad_signature_rate": 1.0})).await;
    let reason = unknown(&h.client, &oc("f-sig", 100)).await;
    assert!(
        matches!(reason, UnknownReason::BadSignature(_)),
        "{reason:?}"
    );
    h.clear_faults().await;
    assert_eq!(
        status_of(&h.client, "f-sig").await.0,
        PaymentStatus::Processing
    );

    // Latency: the answer is held at least that long.
    h.set_faults(json!({"latency_ms": 300, "apis": ["inquiryPayment"]}))
        .await;
    let started = Instant::now();
    status_of(&h.client, "f-sig").await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    h.clear_faults().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_settings_are_validated_listed_and_cleared() {
    let h = harness_with(|o| {
        o.faults = Some(sandbox::faults::FaultSettings {
            latency_ms: 1,
            ..Default::default()
        })
    })
    .await;
    let (status, state) = h
        .control(reqwest::Method::GET, "/sandbox/control/faults", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(state["global"]["latency_ms"], 1);
    h.set_faults(json!({"client_id": "X", "unknown_result_rate": 0.25, "apis": ["refund"]}))
        .await;
    let (_, state) = h
        .control(reqwest::Method::GET, "/sandbox/control/faults", None)
        .await;
    assert_eq!(state["clients"]["X"]["unknown_result_rate"], 0.25);
    assert_eq!(state["clients"]["X"]["apis"], json!(["refund"]));
    for bad in [
        json!({"http_5xx_rate": 2.0}),
        json!({"apis": ["payNow"]}),
        json!({"latency": 5}),
    ] {
        let (status, body) = h
            .control(
                reqwest::Method::PUT,
                "/sandbox/control/faults",
                Some(bad.clone()),
            )
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"], "bad_request");
    }
    let (status, state) = h
        .control(
            reqwest::Method::DELETE,
            "/sandbox/control/faults?client_id=X",
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(state["clients"].as_object().unwrap().is_empty());
    assert_eq!(state["global"]["latency_ms"], 1);
    h.clear_faults().await;
    let (_, state) = h
        .control(reqwest::Method::GET, "/sandbox/control/faults", None)
        .await;
    assert_eq!(state["global"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magic_amounts_simulate_the_old_mock_gateway() {
    let h = harness_with(|o| o.hang_time = Duration::from_secs(20)).await;
    let impatient = client_for(&h.sandbox, CLIENT, Duration::from_millis(1500));

    // 9901: processed, answered U; the retry gets the real answer.
    match unknown(&h.client, &oc("m-9901", 9901)).await {
        UnknownReason::ResultUnknown { code, .. } => assert_eq!(code, "UNKNOWN_EXCEPTION"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        status_of(&h.client, "m-9901").await.0,
        PaymentStatus::Processing
    );
    assert!(
        success(&h.client, &oc("m-9901", 9901))
            .await
            .order_code_form
            .is_some()
    );

    // 9902: processed, then no answer until the client gives up.
    assert_eq!(
        unknown(&impatient, &oc("m-9902", 9902)).await,
        UnknownReason::Timeout
    );
    assert_eq!(
        status_of(&h.client, "m-9902").await.0,
        PaymentStatus::Processing
    );
    assert!(
        success(&h.client, &oc("m-9902", 9902))
            .await
            .payment_id
            .is_some()
    );

    // 9903: the first inquiry answers U, the next ones are normal.
    success(&h.client, &oc("m-9903", 9903)).await;
    assert!(matches!(
        unknown(&h.client, &inquiry("m-9903")).await,
        UnknownReason::ResultUnknown { .. }
    ));
    assert_eq!(
        status_of(&h.client, "m-9903").await.0,
        PaymentStatus::Processing
    );

    // 9904: the first inquiry hangs.
    success(&h.client, &oc("m-9904", 9904)).await;
    assert_eq!(
        unknown(&impatient, &inquiry("m-9904")).await,
        UnknownReason::Timeout
    );
    assert_eq!(
        status_of(&h.client, "m-9904").await.0,
        PaymentStatus::Processing
    );

    // 9905: risk control refuses; the payment is recorded as failed, and replays agree.
    assert_eq!(
        failure_code(&h.client, &oc("m-9905", 9905)).await,
        "RISK_REJECT"
    );
    assert_eq!(
        status_of(&h.client, "m-9905").await,
        (PaymentStatus::Fail, "RISK_REJECT".to_owned())
    );
    assert_eq!(
        failure_code(&h.client, &oc("m-9905", 9905)).await,
        "RISK_REJECT"
    );

    // 9906: in process; the customer can still pay it.
    match unknown(&h.client, &oc("m-9906", 9906)).await {
        UnknownReason::ResultUnknown { code, .. } => assert_eq!(code, "PAYMENT_IN_PROCESS"),
        other => panic!("{other:?}"),
    }
    let (status, body) = h.customer_pays("m-9906").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        status_of(&h.client, "m-9906").await.0,
        PaymentStatus::Success
    );
    // Amounts in other currencies are magic too (minor units).
    let jpy = PayRequest::order_code(
        "m-jpy",
        order(9905, "JPY"),
        Amount::new("JPY", 9905),
        NOWHERE,
    );
    assert_eq!(failure_code(&h.client, &jpy).await, "RISK_REJECT");
}

// ---------------------------------------------------------------------------------------
// Control endpoint

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_endpoint_pays_dumps_and_moves_the_clock() {
    let h = harness().await;
    let (status, body) = h.customer_pays("no-such-payment").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "not_found");
    // The same paymentRequestId at two clients is ambiguous for the control endpoint.
    success(&h.client, &oc("ctl-1", 700)).await;
    let other = client_for(&h.sandbox, OTHER, Duration::from_secs(10));
    let pay = success(&other, &oc("ctl-1", 700)).await;
    let (status, body) = h.customer_pays("ctl-1").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "ambiguous");
    let (status, body) = h.customer_pays(pay.payment_id.as_deref().unwrap()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["paymentRequestId"], "ctl-1");
    let (status, body) = h.customer_pays(pay.payment_id.as_deref().unwrap()).await;
    assert_eq!(status, 409);
    assert_eq!(body["error"], "already_paid");

    let ledger = h.ledger().await;
    let payments = ledger["payments"].as_array().unwrap();
    assert_eq!(payments.len(), 2);
    let paid = payments.iter().find(|p| p["client_id"] == OTHER).unwrap();
    assert_eq!(paid["status"], "SUCCESS");
    assert_eq!(paid["amount"], json!({"currency": "USD", "value": "700"}));
    assert_eq!(paid["refunded"]["value"], "0");
    assert!(paid["wallet_url"].as_str().unwrap().contains("/wallet/"));
    assert_eq!(paid["scenario"], "OrderCode");

    let (_, before) = h
        .control(reqwest::Method::GET, "/sandbox/control/clock", None)
        .await;
    h.advance_clock(3600).await;
    let (_, after) = h
        .control(reqwest::Method::GET, "/sandbox/control/clock", None)
        .await;
    let moved = after["now_ms"].as_i64().unwrap() - before["now_ms"].as_i64().unwrap();
    assert!(moved >= 3_600_000, "{moved}");
    assert_eq!(after["offset_ms"], 3_600_000);
    let (status, _) = h
        .control(
            reqwest::Method::POST,
            "/sandbox/control/clock",
            Some(json!({"advance_hours": 1})),
        )
        .await;
    assert_eq!(status, 400);
}

// ---------------------------------------------------------------------------------------
// Embedded form

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_demo_customer_confirms_and_declines_user_presented_payments() {
    use alipay_pos::sandbox::{SandboxError, embedded};
    let data = tempfile::tempdir().unwrap();
    seed_sandbox_keys(data.path());
    let sandbox = embedded::start(data.path(), "SANDBOX_DEMO_UPM")
        .await
        .unwrap();
    let client = sandbox.client().unwrap();
    let page = sandbox.payment_code_page_url();
    assert_eq!(page.path(), "/wallet/payment-code");
    let response = reqwest::Client::new()
        .get(page)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let codes: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    let code = codes["codes"]["confirm"].as_str().unwrap();

    unknown(&client, &upm("demo-yes", 100, code)).await;
    unknown(&client, &upm("demo-no", 100, code)).await;
    sandbox.confirm_as_customer("demo-yes").await.unwrap();
    sandbox.decline_as_customer("demo-no").await.unwrap();
    assert_eq!(
        status_of(&client, "demo-yes").await.0,
        PaymentStatus::Success
    );
    assert_eq!(
        status_of(&client, "demo-no").await,
        (PaymentStatus::Fail, sandbox::DECLINED_CODE.to_owned())
    );
    // Answered payments are no longer waiting: the customer cannot find them again.
    for id in ["demo-yes", "demo-no", "never-sent"] {
        let error = sandbox.decline_as_customer(id).await.unwrap_err();
        assert!(
            matches!(&error, SandboxError::WalletRefused { status: 404, error, .. } if error == embedded::NOT_WAITING),
            "{id}: {error:?}"
        );
    }
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_sandbox_makes_its_keys_once_and_serves_the_app() {
    use alipay_pos::sandbox::embedded;
    let data = tempfile::tempdir().unwrap();
    let first = embedded::start(data.path(), "SANDBOX_ALIPAYPOS_DEMO")
        .await
        .unwrap();
    let dir = data.path().join("sandbox");
    assert_eq!(first.dir(), dir);
    assert_eq!(first.client_id(), "SANDBOX_ALIPAYPOS_DEMO");
    assert_eq!(first.base_url().host_str(), Some("127.0.0.1"));
    for file in [
        "alipay_private_key.pem",
        "alipay_public_key.pem",
        "merchant_private_key.pem",
        "merchant_public_key.pem",
        "sandbox.sqlite",
    ] {
        assert!(dir.join(file).exists(), "{file}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for file in ["alipay_private_key.pem", "merchant_private_key.pem"] {
            let mode = std::fs::metadata(dir.join(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
    }
    let client = first.client().unwrap();
    assert_eq!(
        client.settings().request_path("/v1/payments/pay"),
        "/ams/sandbox/api/v1/payments/pay"
    );
    let pay = success(&client, &oc("emb-1", 1250)).await;
    let alipay_key = first.alipay_public_key().clone();
    assert_ne!(
        alipay_key,
        alipay_public_key(),
        "a fresh key, not the vector's"
    );
    let merchant_key = first.merchant_private_key().clone();
    first.shutdown().await;

    let second = embedded::start(data.path(), "SANDBOX_ALIPAYPOS_DEMO")
        .await
        .unwrap();
    assert_eq!(second.alipay_public_key(), &alipay_key);
    // Private keys have no `==` (nothing should compare secrets); the pair is the same when
    // the public halves and the PKCS#8 forms are.
    assert_eq!(
        second.merchant_private_key().public_key(),
        merchant_key.public_key()
    );
    assert_eq!(
        second.merchant_private_key().to_pkcs8_der().unwrap(),
        merchant_key.to_pkcs8_der().unwrap()
    );
    let r = success(&second.client().unwrap(), &inquiry("emb-1")).await;
    assert_eq!(r.payment_id, pay.payment_id);
    second.shutdown().await;
}

/// The control endpoint wants the per-start token from `DATA_DIR/control.token` (0600) and
/// JSON bodies; the wallet page does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_endpoint_needs_the_token_and_json() {
    let h = harness().await;
    let token_path = h.sandbox.control_token_path();
    let on_disk = std::fs::read_to_string(&token_path).unwrap();
    assert_eq!(on_disk, h.sandbox.control_token());
    assert_eq!(on_disk.len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let clock = h.url("/sandbox/control/clock");
    let advance = r#"{"advance_secs": 1}"#;
    let status = |r: reqwest::Response| r.status().as_u16();

    // No token, a wrong token, a token that is only a prefix: 401, for reads and writes.
    assert_eq!(status(h.http.get(&clock).send().await.unwrap()), 401);
    let no_token = h
        .http
        .post(&clock)
        .header("content-type", "application/json")
        .body(advance)
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 401);
    let body: Value = serde_json::from_slice(&no_token.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"], "unauthorized");
    assert!(
        body["message"].as_str().unwrap().contains("control.token"),
        "{body}"
    );
    // The real token with its last digit changed (to a digit it is not).
    let last = if on_disk.ends_with('0') { '1' } else { '0' };
    let wrong = format!("{}{last}", &on_disk[..63]);
    for bad in [wrong.as_str(), &on_disk[..32], ""] {
        let r = h.http.get(&clock).bearer_auth(bad).send().await.unwrap();
        assert_eq!(status(r), 401, "token {bad:?}");
    }
    let basic = h
        .http
        .get(&clock)
        .header("authorization", format!("Basic {on_disk}"))
        .send()
        .await
        .unwrap();
    assert_eq!(status(basic), 401);
    let before = h.clock_offset_ms().await;
    assert_eq!(before, 0, "nothing refused may have moved the clock");

    // The right token with JSON: done.
    let ok = h
        .http
        .post(&clock)
        .bearer_auth(&on_disk)
        .header("content-type", "application/json; charset=utf-8")
        .body(advance)
        .send()
        .await
        .unwrap();
    assert_eq!(status(ok), 200);
    assert_eq!(h.clock_offset_ms().await, 1000);

    // The right token with another content type, or none: 415, and nothing happens.
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut request = h.http.post(&clock).bearer_auth(&on_disk).body(advance);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        assert_eq!(
            status(request.send().await.unwrap()),
            415,
            "{content_type:?}"
        );
    }
    let put = h
        .http
        .put(h.url("/sandbox/control/faults"))
        .bearer_auth(&on_disk)
        .header("content-type", "text/plain")
        .body(r#"{"latency_ms": 1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(status(put), 415);
    assert_eq!(h.clock_offset_ms().await, 1000);

    // The wallet page stays open without any token (phones must reach it).
    let client = client_for(&h.sandbox, CLIENT, Duration::from_secs(10));
    let pay = success(&client, &oc("tok-1", 100)).await;
    let code = pay
        .order_code_form
        .unwrap()
        .text_code_value()
        .unwrap()
        .to_owned();
    let page = h.http.get(&code).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let (paid, _) = h.wallet_pay(&code).await;
    assert_eq!(paid, 200);
}

/// A new token at every start, so an old one stops working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_start_writes_a_new_control_token() {
    let dir = tempfile::tempdir().unwrap();
    seed_alipay_keys(dir.path());
    let first = sandbox::start(options_for(dir.path())).await.unwrap();
    let old = first.control_token().to_owned();
    first.shutdown().await;
    let second = sandbox::start(options_for(dir.path())).await.unwrap();
    assert_ne!(second.control_token(), old);
    assert_eq!(
        std::fs::read_to_string(second.control_token_path()).unwrap(),
        second.control_token()
    );
    let http = reqwest::Client::new();
    let url = format!("{}sandbox/control/clock", second.base_url());
    let stale = http.get(&url).bearer_auth(&old).send().await.unwrap();
    assert_eq!(stale.status(), 401);
    let fresh = http
        .get(&url)
        .bearer_auth(second.control_token())
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), 200);
    second.shutdown().await;
}
