//! The verified client against a local HTTP server that plays a (mis)behaving Alipay.
//! Every case must land in exactly the right class: success, failed or unknown.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::*;
use alipay_pos::ams::client::{AmsClient, ClientSettings, Outcome, UnknownReason};
use alipay_pos::ams::crypto::PrivateKey;
use alipay_pos::ams::models::{InquiryPaymentRequest, PayRequest};
use alipay_pos::ams::signing;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// How the fake gateway answers the next calls.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Behaviour {
    SignedSuccess,
    SignedFailure,
    SignedUnknown,
    TamperedBody,
    Unsigned,
    WrongKey,
    NeverAnswer,
    Http500,
    GarbageJson,
    NoResult,
    /// A signed success whose `response-time` is the current time.
    SignedSuccessNow,
}

/// What the gateway saw of one request.
#[derive(Clone, Debug)]
struct Seen {
    path: String,
    request_signature_ok: bool,
    content_type: String,
    request_time: String,
}

struct Gateway {
    behaviour: Mutex<Behaviour>,
    seen: Mutex<Vec<Seen>>,
    alipay_key: PrivateKey,
    merchant_public: alipay_pos::ams::crypto::PublicKey,
    wrong_key: PrivateKey,
}

const RESPONSE_TIME: &str = "2025-01-01T08:00:01+08:00";

fn signed(
    gateway: &Gateway,
    key: &PrivateKey,
    path: &str,
    client_id: &str,
    body: &[u8],
    sent_body: Vec<u8>,
) -> Response {
    signed_at(
        gateway,
        key,
        path,
        client_id,
        body,
        sent_body,
        RESPONSE_TIME,
    )
}

fn signed_at(
    gateway: &Gateway,
    key: &PrivateKey,
    path: &str,
    client_id: &str,
    body: &[u8],
    sent_body: Vec<u8>,
    response_time: &str,
) -> Response {
    let content = signing::content_to_sign(path, client_id, response_time, body);
    let header = signing::sign_header(key, "1", &content)
        .unwrap()
        .to_string();
    let _ = gateway;
    (
        StatusCode::OK,
        [
            (
                "content-type",
                "application/json; charset=UTF-8".to_string(),
            ),
            ("client-id", client_id.to_string()),
            ("response-time", response_time.to_string()),
            ("signature", header),
        ],
        sent_body,
    )
        .into_response()
}

async fn handle(
    State(gateway): State<Arc<Gateway>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let path = uri.path().to_string();
    let client_id = header("client-id");
    let content = signing::content_to_sign(&path, &client_id, &header("request-time"), &body);
    let request_signature_ok =
        signing::verify_header(&gateway.merchant_public, &content, &header("signature")).is_ok();
    gateway.seen.lock().unwrap().push(Seen {
        path: path.clone(),
        request_signature_ok,
        content_type: header("content-type"),
        request_time: header("request-time"),
    });
    let success = if path.ends_with("/pay") {
        vector_bytes("v2_response_body.json")
    } else {
        br#"{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success."},"paymentStatus":"PROCESSING","paymentRequestId":"pos-20250101-000001","paymentAmount":{"currency":"USD","value":1250}}"#.to_vec()
    };
    let failure = br#"{"result":{"resultCode":"ORDER_NOT_EXIST","resultStatus":"F","resultMessage":"order not exist."}}"#.to_vec();
    let unknown = br#"{"result":{"resultCode":"UNKNOWN_EXCEPTION","resultStatus":"U","resultMessage":"unknown."}}"#.to_vec();
    let behaviour = *gateway.behaviour.lock().unwrap();
    let key = &gateway.alipay_key;
    match behaviour {
        Behaviour::SignedSuccess => {
            signed(&gateway, key, &path, &client_id, &success, success.clone())
        }
        Behaviour::SignedFailure => {
            signed(&gateway, key, &path, &client_id, &failure, failure.clone())
        }
        Behaviour::SignedUnknown => {
            signed(&gateway, key, &path, &client_id, &unknown, unknown.clone())
        }
        Behaviour::TamperedBody => {
            let tampered = String::from_utf8(success.clone())
                .unwrap()
                .replace("1250", "1");
            signed(
                &gateway,
                key,
                &path,
                &client_id,
                &success,
                tampered.into_bytes(),
            )
        }
        Behaviour::Unsigned => (
            StatusCode::OK,
            [
                ("client-id", client_id),
                ("response-time", RESPONSE_TIME.to_string()),
            ],
            success,
        )
            .into_response(),
        Behaviour::WrongKey => signed(
            &gateway,
            &gateway.wrong_key,
            &path,
            &client_id,
            &success,
            success.clone(),
        ),
        Behaviour::NeverAnswer => std::future::pending().await,
        Behaviour::Http500 => (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
        Behaviour::GarbageJson => signed(
            &gateway,
            key,
            &path,
            &client_id,
            b"{not json",
            b"{not json".to_vec(),
        ),
        Behaviour::NoResult => signed(&gateway, key, &path, &client_id, b"{}", b"{}".to_vec()),
        Behaviour::SignedSuccessNow => signed_at(
            &gateway,
            key,
            &path,
            &client_id,
            &success,
            success.clone(),
            &alipay_pos::ams::timefmt::now_millis_header(),
        ),
    }
}

async fn start_gateway() -> (SocketAddr, Arc<Gateway>) {
    let gateway = Arc::new(Gateway {
        behaviour: Mutex::new(Behaviour::SignedSuccess),
        seen: Mutex::new(Vec::new()),
        alipay_key: alipay_private_key(),
        merchant_public: merchant_public_key(),
        wrong_key: merchant_private_key(),
    });
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(gateway.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, gateway)
}

fn client_for(addr: SocketAddr, client_id: &str) -> AmsClient {
    let mut settings = ClientSettings::new(format!("http://{addr}").parse().unwrap(), client_id);
    settings.request_timeout = Duration::from_millis(500);
    settings.connect_timeout = Duration::from_millis(500);
    AmsClient::new(settings, merchant_private_key(), alipay_public_key()).unwrap()
}

fn pay_request() -> PayRequest {
    serde_json::from_slice(&vector_bytes("v1_request_body.json")).unwrap()
}

fn inquiry() -> InquiryPaymentRequest {
    serde_json::from_str(r#"{"paymentRequestId":"pos-20250101-000001"}"#).unwrap()
}

async fn pay_with(
    behaviour: Behaviour,
) -> (Outcome<alipay_pos::ams::models::PayResponse>, Arc<Gateway>) {
    let (addr, gateway) = start_gateway().await;
    *gateway.behaviour.lock().unwrap() = behaviour;
    let client = client_for(addr, VECTOR_CLIENT_ID);
    (client.call(&pay_request()).await.unwrap(), gateway)
}

#[tokio::test]
async fn signed_success_is_success_and_the_request_was_signed_correctly() {
    let (outcome, gateway) = pay_with(Behaviour::SignedSuccess).await;
    let Outcome::Success(response) = outcome else {
        panic!("{outcome:?}")
    };
    let form = response.order_code_form.expect("orderCodeForm");
    assert!(form.text_code_value().is_some());
    let seen = gateway.seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/ams/api/v1/payments/pay");
    assert!(
        seen[0].request_signature_ok,
        "the gateway could not verify our request"
    );
    assert_eq!(seen[0].content_type, "application/json; charset=UTF-8");
    assert!(
        seen[0].request_time.chars().all(|c| c.is_ascii_digit()),
        "request-time is epoch millis"
    );
}

#[tokio::test]
async fn sandbox_client_id_uses_the_sandbox_prefix() {
    let (addr, gateway) = start_gateway().await;
    let client = client_for(addr, "SANDBOX_5X00000000000000");
    let outcome = client.call(&inquiry()).await.unwrap();
    // The response is signed for our client id, so it verifies: a real success.
    assert!(outcome.is_success(), "{outcome:?}");
    assert_eq!(
        gateway.seen.lock().unwrap()[0].path,
        "/ams/sandbox/api/v1/payments/inquiryPayment"
    );
}

#[tokio::test]
async fn amount_value_sent_as_a_json_number_is_accepted() {
    let (addr, _gateway) = start_gateway().await;
    let client = client_for(addr, VECTOR_CLIENT_ID);
    let Outcome::Success(response) = client.call(&inquiry()).await.unwrap() else {
        panic!()
    };
    assert_eq!(
        response.payment_amount.map(|a| a.value.to_string()),
        Some("1250".to_string())
    );
}

#[tokio::test]
async fn signed_failure_is_failed_with_code() {
    let (outcome, _) = pay_with(Behaviour::SignedFailure).await;
    assert!(
        matches!(outcome, Outcome::Failed { ref code, .. } if code == "ORDER_NOT_EXIST"),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn u_result_is_unknown() {
    let (outcome, _) = pay_with(Behaviour::SignedUnknown).await;
    assert!(
        matches!(outcome, Outcome::Unknown(UnknownReason::ResultUnknown { ref code, .. }) if code == "UNKNOWN_EXCEPTION"),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn tampered_body_is_unknown() {
    let (outcome, _) = pay_with(Behaviour::TamperedBody).await;
    assert!(
        matches!(outcome, Outcome::Unknown(UnknownReason::BadSignature(_))),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn unsigned_success_is_unknown() {
    let (outcome, _) = pay_with(Behaviour::Unsigned).await;
    assert!(
        matches!(
            outcome,
            Outcome::Unknown(UnknownReason::Unsigned {
                missing: "signature",
                ..
            })
        ),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn success_signed_with_the_wrong_key_is_unknown() {
    let (outcome, _) = pay_with(Behaviour::WrongKey).await;
    assert!(
        matches!(outcome, Outcome::Unknown(UnknownReason::BadSignature(_))),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn timeout_after_the_request_was_sent_is_unknown_and_may_have_arrived() {
    let (outcome, gateway) = pay_with(Behaviour::NeverAnswer).await;
    assert_eq!(
        gateway.seen.lock().unwrap().len(),
        1,
        "the request reached the gateway"
    );
    let Outcome::Unknown(reason) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(reason, UnknownReason::Timeout);
    assert!(reason.request_may_have_arrived());
}

#[tokio::test]
async fn http_500_is_unknown() {
    let (outcome, _) = pay_with(Behaviour::Http500).await;
    assert_eq!(outcome, Outcome::Unknown(UnknownReason::HttpStatus(500)));
}

#[tokio::test]
async fn garbage_json_is_unknown() {
    let (outcome, _) = pay_with(Behaviour::GarbageJson).await;
    assert!(
        matches!(outcome, Outcome::Unknown(UnknownReason::InvalidJson(_))),
        "{outcome:?}"
    ); // The parser's own error stays reachable as the source, not only its text.
    let Outcome::Unknown(reason) = outcome else {
        unreachable!()
    };
    let source = std::error::Error::source(&reason).expect("InvalidJson keeps its cause");
    let original = std::error::Error::source(source).expect("the cause keeps the serde error");
    assert!(original.is::<serde_json::Error>(), "{original:?}");
}

#[tokio::test]
async fn missing_result_is_unknown() {
    let (outcome, _) = pay_with(Behaviour::NoResult).await;
    assert_eq!(outcome, Outcome::Unknown(UnknownReason::MissingResult));
}

#[tokio::test]
async fn refused_connection_is_unknown_but_known_not_sent() {
    // Bind then drop a listener to get a port nobody listens on.
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let client = client_for(addr, VECTOR_CLIENT_ID);
    let Outcome::Unknown(reason) = client.call(&pay_request()).await.unwrap() else {
        panic!()
    };
    assert!(matches!(reason, UnknownReason::NotSent(_)), "{reason:?}");
    assert!(!reason.request_may_have_arrived());
    // reqwest's error is kept for callers that want to inspect it.
    let UnknownReason::NotSent(cause) = &reason else {
        unreachable!()
    };
    assert!(cause.error().is::<reqwest::Error>(), "{cause:?}");
    assert!(!cause.summary().is_empty());
}

#[tokio::test]
async fn invalid_request_is_refused_before_sending() {
    let (addr, gateway) = start_gateway().await;
    let client = client_for(addr, VECTOR_CLIENT_ID);
    let mut request = pay_request();
    request.payment_request_id = "x".repeat(65);
    let error = client.call(&request).await.unwrap_err();
    assert!(error.to_string().contains("paymentRequestId"), "{error}");
    assert!(
        gateway.seen.lock().unwrap().is_empty(),
        "nothing may be sent"
    );
}

/// A writer that keeps everything logged, so the test can read it back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_never_contain_a_signature_or_a_key() {
    // tracing caches per call site whether anyone listens, process-wide: with other tests
    // logging on other threads, a subscriber set for this thread alone can miss events.
    if crate::support::own_process::delegate(
        module_path!(),
        "logs_never_contain_a_signature_or_a_key",
    ) {
        return;
    }
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let (addr, gateway) = start_gateway().await;
    let client = client_for(addr, VECTOR_CLIENT_ID);
    tracing::debug!(?client, "client under test");
    assert!(client.call(&pay_request()).await.unwrap().is_success());
    *gateway.behaviour.lock().unwrap() = Behaviour::WrongKey;
    assert!(!client.call(&pay_request()).await.unwrap().is_success());

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("AMS call succeeded"),
        "logging was captured: {logs}"
    );
    // The gateway's response signature is deterministic for the v2 body: it must not appear.
    let response_signature = vector_text("v2_signature.b64");
    assert!(!logs.contains(&response_signature[..40]));
    assert!(!logs.contains(&signing::url_encode(&response_signature)[..40]));
    let private = vector_text("merchant_private_key_pkcs8.b64");
    assert!(
        !logs.contains(&private[..40]),
        "a private key leaked into the logs"
    );
}

/// A 3xx is never followed: following a 307 would re-POST the signed request to wherever
/// `Location` points, and the first server may already have acted on it.
#[tokio::test]
async fn a_redirect_is_unknown_and_never_followed() {
    // The server the redirect points at records anything that reaches it.
    let reached = Arc::new(Mutex::new(Vec::<String>::new()));
    let recorder = reached.clone();
    let second = axum::Router::new().fallback(move |uri: Uri, body: Bytes| {
        let recorder = recorder.clone();
        async move {
            recorder
                .lock()
                .unwrap()
                .push(format!("{uri} {}", body.len()));
            (StatusCode::OK, "{}")
        }
    });
    let second_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let second_addr = second_listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(second_listener, second).await.unwrap() });

    let hits = Arc::new(Mutex::new(0usize));
    for status in [307u16, 308, 302, 301] {
        let counter = hits.clone();
        let location = format!("http://{second_addr}/ams/api/v1/payments/pay");
        let first = axum::Router::new().fallback(move || {
            let counter = counter.clone();
            let location = location.clone();
            async move {
                *counter.lock().unwrap() += 1;
                (
                    StatusCode::from_u16(status).unwrap(),
                    [("location", location)],
                    "",
                )
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, first).await.unwrap() });

        let outcome = client_for(addr, VECTOR_CLIENT_ID)
            .call(&pay_request())
            .await
            .unwrap();
        let Outcome::Unknown(reason) = outcome else {
            panic!("{status}: {outcome:?}")
        };
        assert_eq!(
            reason,
            UnknownReason::Redirected {
                status,
                location: Some(format!("http://{second_addr}/ams/api/v1/payments/pay")),
            }
        );
        assert!(reason.request_may_have_arrived(), "{status}");
    }
    assert_eq!(
        *hits.lock().unwrap(),
        4,
        "each redirecting server got the request"
    );
    assert!(
        reached.lock().unwrap().is_empty(),
        "the redirect was followed: {:?}",
        reached.lock().unwrap()
    );
}

/// A signed answer whose `response-time` is more than 5 minutes off is still believed (the
/// signature vouches for it) but logged; one on time is not.
#[tokio::test]
async fn a_skewed_response_time_is_logged() {
    // Captures the logs: in a process of its own (see logs_never_contain_a_signature_or_a_key).
    if crate::support::own_process::delegate(module_path!(), "a_skewed_response_time_is_logged") {
        return;
    }
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let warning = "differ by more than 5 minutes";

    let (addr, gateway) = start_gateway().await;
    let client = client_for(addr, VECTOR_CLIENT_ID);
    *gateway.behaviour.lock().unwrap() = Behaviour::SignedSuccessNow;
    assert!(client.call(&inquiry()).await.unwrap().is_success());
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(!logs.contains(warning), "{logs}");

    // RESPONSE_TIME is in 2025.
    *gateway.behaviour.lock().unwrap() = Behaviour::SignedSuccess;
    assert!(client.call(&inquiry()).await.unwrap().is_success());
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains(warning), "{logs}");
    assert!(logs.contains(RESPONSE_TIME), "{logs}");
}
