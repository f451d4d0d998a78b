//! The control endpoint, `/sandbox/control/...`: test hooks that a real Alipay does not have.
//!
//! Only loopback peers may use it. The wallet pages may be opened to the LAN (`--allow-lan`)
//! so that phones can scan codes, but nobody on the LAN may inject faults, move the clock or
//! pay on a customer's behalf.
//!
//! Loopback is not enough on its own: any local process, and anyone behind a port forward,
//! tunnel or reverse proxy on this computer, is a loopback peer. So every control request
//! also carries `Authorization: Bearer <token>`, where the token is a fresh random value the
//! sandbox writes to `DATA_DIR/control.token` (0600) at each start: only someone who may
//! read the sandbox's folder may drive it. PUT and POST must say `Content-Type:
//! application/json`, which a web page cannot send to another origin without a CORS
//! preflight the sandbox never answers, so a page open in a local browser cannot forge
//! control requests. The wallet pages (`/wallet/...`) stay open: phones must reach them.
//!
//! Refusals: 403 not loopback, 401 no or wrong token, 415 a PUT/POST that is not JSON.
//!
//! | Method and path | What it does |
//! | --- | --- |
//! | `GET /sandbox/control/faults` | current fault settings `{"global": ..., "clients": {...}}` |
//! | `PUT /sandbox/control/faults` | set the global (`client_id` null) or one client's faults |
//! | `DELETE /sandbox/control/faults[?client_id=X]` | clear all faults, or one client's |
//! | `POST /sandbox/control/payments/{id}/pay` | the customer pays (as the wallet's Pay button) |
//! | `POST /sandbox/control/payments/{id}/decline` | the customer declines a User-presented payment |
//! | `GET /sandbox/control/ledger` | JSON dump of payments, refunds, registrations, outbox |
//! | `GET /sandbox/control/clock` | the sandbox clock |
//! | `POST /sandbox/control/clock` | `{"advance_secs": N}` moves the clock forward |
//! | `POST /sandbox/control/reports?date=YYYYMMDD` | publishes that Alipay day's reconciliation reports now: `{"date", "root", "files": ["/v1/settlements/..."]}` (400 for a bad date or a day not over) |

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Router, body::Body};
use serde::Deserialize;

use super::SandboxError;
use super::answer::advance;
use super::clock::wire_time;
use super::faults::FaultSettings;
use super::ledger;
use super::reports::sftp_path;
use super::server::{self, GatewayState};
use super::wallet::{self, Action, Locator};

/// Whether a peer may use the control endpoint: IPv4 127.0.0.0/8, IPv6 `::1`, and IPv4
/// loopback written as an IPv4-mapped IPv6 address (what a dual-stack socket reports).
pub fn is_loopback_peer(peer: &SocketAddr) -> bool {
    match peer.ip() {
        IpAddr::V4(ip) => ip.is_loopback(),
        IpAddr::V6(ip) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// The file under the sandbox's data folder that holds the control token.
pub const TOKEN_FILE: &str = "control.token";

/// A fresh control token: 32 random bytes, hex.
pub(crate) fn new_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Compares without stopping at the first differing byte, so the answer time says nothing
/// about how much of a guess was right.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    if given.len() != expected.len() {
        return false;
    }
    given
        .iter()
        .zip(expected)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

/// Whether `Authorization` is `Bearer <token>` for this sandbox's token.
fn has_token(request: &Request<Body>, token: &str) -> bool {
    request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .is_some_and(|given| same_secret(given.trim().as_bytes(), token.as_bytes()))
}

/// `application/json`, with or without parameters such as `; charset=utf-8`.
fn is_json(request: &Request<Body>) -> bool {
    request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

async fn guard(
    State(app): State<Arc<GatewayState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
    next: Next,
) -> Response {
    if !is_loopback_peer(&peer) {
        tracing::warn!(%peer, "refused a control request from a non-loopback peer");
        return error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "The sandbox control endpoint only answers loopback peers.",
        );
    }
    if !has_token(&request, &app.control_token) {
        tracing::warn!(%peer, path = %request.uri().path(), "refused a control request without the right token");
        return error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            format!(
                "Send `Authorization: Bearer <token>` with the token from {}/{TOKEN_FILE} (written at each start of the sandbox).",
                app.data_dir.display()
            ),
        );
    }
    let has_body = matches!(
        *request.method(),
        axum::http::Method::PUT | axum::http::Method::POST
    );
    if has_body && !is_json(&request) {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Control PUT and POST requests must have `Content-Type: application/json` (send `{}` when there is nothing to say).",
        );
    }
    next.run(request).await
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(serde_json::json!({ "error": code, "message": message.into() })),
    )
        .into_response()
}

pub(crate) fn router(app: Arc<GatewayState>) -> Router<Arc<GatewayState>> {
    Router::new()
        .route(
            "/sandbox/control/faults",
            get(get_faults).put(put_faults).delete(delete_faults),
        )
        .route("/sandbox/control/payments/{id}/pay", post(pay_payment))
        .route(
            "/sandbox/control/payments/{id}/decline",
            post(decline_payment),
        )
        .route("/sandbox/control/ledger", get(dump))
        .route("/sandbox/control/clock", get(get_clock).post(move_clock))
        .route("/sandbox/control/reports", post(publish_reports))
        .route_layer(middleware::from_fn_with_state(app, guard))
}

async fn get_faults(State(app): State<Arc<GatewayState>>) -> Response {
    Json(app.faults.snapshot()).into_response()
}

async fn put_faults(State(app): State<Arc<GatewayState>>, body: Bytes) -> Response {
    let settings: FaultSettings = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_request", e.to_string()),
    };
    if let Err(e) = settings.check() {
        return error(StatusCode::BAD_REQUEST, "bad_request", e);
    }
    tracing::info!(?settings, "sandbox faults set");
    app.faults.set(settings);
    Json(app.faults.snapshot()).into_response()
}

#[derive(Debug, Deserialize)]
struct ClearQuery {
    client_id: Option<String>,
}

async fn delete_faults(
    State(app): State<Arc<GatewayState>>,
    Query(q): Query<ClearQuery>,
) -> Response {
    app.faults.clear(q.client_id.as_deref());
    Json(app.faults.snapshot()).into_response()
}

async fn pay_payment(State(app): State<Arc<GatewayState>>, Path(id): Path<String>) -> Response {
    customer_acts(&app, id, Action::Pay).await
}

async fn decline_payment(State(app): State<Arc<GatewayState>>, Path(id): Path<String>) -> Response {
    customer_acts(&app, id, Action::Decline).await
}

/// The wallet's own rules and answers (see `wallet`), found by id instead of wallet token.
async fn customer_acts(app: &Arc<GatewayState>, id: String, action: Action) -> Response {
    match wallet::act(app, Locator::AnyId(id), action).await {
        Ok(done) => Json(done).into_response(),
        Err(e) => (e.status(), Json(e.json())).into_response(),
    }
}

async fn dump(State(app): State<Arc<GatewayState>>) -> Response {
    let worker = app.clone();
    let dumped = tokio::task::spawn_blocking(move || {
        let now = worker.clock.now_ms();
        worker.ledger.run(|tx| {
            let woke = advance(tx, now)?;
            Ok((ledger::dump(tx, now, &worker.public_base)?, woke))
        })
    })
    .await;
    match dumped {
        Ok(Ok((dump, woke))) => {
            if woke {
                app.wake.notify_one();
            }
            Json(dump).into_response()
        }
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    }
}

fn clock_json(app: &GatewayState) -> Response {
    let now = app.clock.now_ms();
    Json(serde_json::json!({
        "now": wire_time(now),
        "now_ms": now,
        "offset_ms": app.clock.offset_ms(),
    }))
    .into_response()
}

async fn get_clock(State(app): State<Arc<GatewayState>>) -> Response {
    clock_json(&app)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveClock {
    #[serde(default)]
    advance_secs: i64,
    #[serde(default)]
    advance_ms: i64,
}

async fn move_clock(State(app): State<Arc<GatewayState>>, body: Bytes) -> Response {
    let by: MoveClock = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_request", e.to_string()),
    };
    let ms = by
        .advance_secs
        .saturating_mul(1_000)
        .saturating_add(by.advance_ms);
    app.clock.advance_ms(ms);
    tracing::info!(ms, "sandbox clock moved");
    // Notifications and registrations may have become due.
    app.wake.notify_one();
    clock_json(&app)
}

#[derive(Debug, Deserialize)]
struct ReportsQuery {
    date: Option<String>,
}

/// `POST /sandbox/control/reports?date=YYYYMMDD`: the day's files, as SFTP paths under the
/// reports root.
async fn publish_reports(
    State(app): State<Arc<GatewayState>>,
    Query(q): Query<ReportsQuery>,
) -> Response {
    let Some(date) = q.date else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "Name the Alipay day: POST /sandbox/control/reports?date=YYYYMMDD.",
        );
    };
    match server::publish_reports(&app, &date).await {
        Ok(files) => Json(serde_json::json!({
            "date": date,
            "root": app.reports_root.display().to_string(),
            "files": files
                .iter()
                .map(|f| sftp_path(&app.reports_root, f))
                .collect::<Vec<_>>(),
        }))
        .into_response(),
        Err(SandboxError::Options(message)) => {
            error(StatusCode::BAD_REQUEST, "bad_request", message)
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abcd", b"abcd"));
        assert!(!same_secret(b"abce", b"abcd"));
        assert!(!same_secret(b"abc", b"abcd"));
        assert!(!same_secret(b"", b"abcd"));
        let token = new_token().unwrap();
        assert_eq!(token.len(), 64);
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(token, new_token().unwrap());
    }

    #[test]
    fn only_loopback_peers_pass() {
        for ok in [
            "127.0.0.1:5",
            "127.1.2.3:5",
            "[::1]:5",
            "[::ffff:127.0.0.1]:5",
        ] {
            assert!(is_loopback_peer(&ok.parse().unwrap()), "{ok}");
        }
        for bad in [
            "192.168.1.20:5",
            "10.0.0.1:5",
            "0.0.0.0:5",
            "[::]:5",
            "[fe80::1]:5",
            "[::ffff:192.168.1.20]:5",
            "[2001:db8::1]:5",
        ] {
            assert!(!is_loopback_peer(&bad.parse().unwrap()), "{bad}");
        }
    }
}
