//! The hub's HTTP endpoints.
//!
//! - `POST /alipay/notify` (public, for Alipay): verify, commit, then SUCCESS; behind a body
//!   size limit, a request timeout and a concurrency limit (tower layers).
//! - `GET /hub/v1/notifications` (terminals, bearer token): a server-sent event stream of
//!   the terminal's notifications, the waiting ones first, in order.
//! - `POST /hub/v1/notifications/{id}/ack` (terminals): "recorded" or "rejected".
//! - `GET /hub/v1/replication/cursor`, `POST /hub/v1/replication/batch` (terminals): journal
//!   replication (`replication.rs`).
//! - `GET /hub/v1/store/transactions`, `GET /hub/v1/store/payments/{id}`,
//!   `GET /hub/v1/store/totals` (terminals): the calling terminal's store, read from the
//!   replicated rows.
//! - `POST /hub/v1/refunds/reserve`, `POST /hub/v1/refunds/{id}/release` (terminals): a
//!   refund's amount reserved against the replicated payment (`refund_reservations.rs`).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use deadpool_postgres::Pool;
use tokio::sync::{mpsc, oneshot, watch};
use tower::limit::ConcurrencyLimitLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use super::HubError;
use super::entry_code::{EntryCodeHub, EntryCodeSettings};
use super::notifications::{self, Acknowledged, NewNotification};
use super::replication::{self, ShipRefusal};
use super::terminals::{self, Authenticated, Refusal};
use super::wakeups::{self, Wakeups};
use super::wire::{self, Acknowledgement, Refused};
use crate::ams::crypto::PublicKey;
use crate::ams::notification::{self, IncomingNotification, Notification, NotificationError};

/// Largest notification body accepted; Alipay's are a few KiB.
pub const MAX_NOTIFICATION_BYTES: usize = 64 * 1024;
/// A notification request (reading it, verifying, committing) must finish within this.
pub const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);
/// Notification requests handled at once; more wait their turn.
pub const NOTIFY_CONCURRENCY: usize = 64;
/// How often a terminal's stream looks for work nobody woke it for (a notification another
/// hub stored while this one was not listening, a revocation by `hub terminals revoke`).
const RESCAN: Duration = Duration::from_secs(2);
/// Largest replication batch body: 500 events of at most 4 KiB of detail each, and their
/// rows, fit well within it.
pub const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;
/// Notifications read per query for one stream.
const BATCH: i64 = 50;
/// A stream forgets the notifications it sent that were acknowledged since once it holds
/// this many (the ids go with every query).
const PRUNE_SENT_AT: usize = 64;

/// What a hub needs to run.
pub struct HubSettings {
    pub listen: SocketAddr,
    /// `alipay.client_id`: notifications for another client are refused.
    pub client_id: String,
    /// `alipay.alipay_public_key`.
    pub alipay_key: PublicKey,
    pub pool: Pool,
}

struct HubState {
    client_id: String,
    alipay_key: PublicKey,
    pool: Pool,
    /// Wakes the streams of a tag when a notification for it is stored (here, or by another
    /// hub when this one listens: [`start_listening`]).
    wakeups: Arc<Wakeups>,
    /// Set when the hub stops: every terminal stream ends, so the graceful shutdown does
    /// not wait for streams that never end by themselves.
    closing: watch::Sender<bool>,
    /// Entry Code, when the hub takes such payments (`start_with`).
    entry: Option<Arc<EntryCodeHub>>,
}

/// A running hub; [`RunningHub::stop`] (or dropping it) stops accepting connections.
pub struct RunningHub {
    pub address: SocketAddr,
    closing: watch::Sender<bool>,
    shutdown: Option<oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<()>>,
}

impl RunningHub {
    /// Stops the server: ends every terminal's stream (they reconnect, to another hub or
    /// to this one restarted), lets requests in flight finish for up to 5 s, then returns.
    pub async fn stop(mut self) {
        self.closing.send_replace(true);
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(mut served) = self.served.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut served)
                .await
                .is_err()
        {
            served.abort();
            let _ = served.await;
        }
    }

    /// Runs until the server ends (it does not by itself).
    pub async fn wait(mut self) {
        if let Some(served) = self.served.take() {
            let _ = served.await;
        }
    }
}

impl Drop for RunningHub {
    fn drop(&mut self) {
        self.closing.send_replace(true);
        if let Some(served) = self.served.take() {
            served.abort();
        }
    }
}

/// Binds `settings.listen` and serves. Migrate first ([`super::schema::migrate`]). Streams
/// are woken by the notifications this hub stores; those another hub stores reach them at
/// their next rescan (2 s). [`start_listening`] hears them at once.
pub async fn start(settings: HubSettings) -> Result<RunningHub, HubError> {
    start_serving(settings, None, None).await
}

/// [`start`], plus a `LISTEN` connection made from `database` (the pool's own settings), so
/// a notification stored by any hub of the same database wakes this hub's streams at once
/// (see [`super::wakeups`]).
pub async fn start_listening(
    settings: HubSettings,
    database: tokio_postgres::Config,
) -> Result<RunningHub, HubError> {
    start_serving(settings, Some(database), None).await
}

/// Like [`start`], and with `entry_code` the hub also takes Entry Code payments (its pages,
/// the terminals' orders and results); every Entry Code payment left open is resumed first.
pub async fn start_with(
    settings: HubSettings,
    entry_code: Option<EntryCodeSettings>,
) -> Result<RunningHub, HubError> {
    start_serving(settings, None, entry_code).await
}

/// Everything `alipay-pos hub` runs: `listen_on` as in [`start_listening`], `entry_code` as
/// in [`start_with`].
pub async fn start_serving(
    settings: HubSettings,
    listen_on: Option<tokio_postgres::Config>,
    entry_code: Option<EntryCodeSettings>,
) -> Result<RunningHub, HubError> {
    let closing_sender = watch::Sender::new(false);
    let entry = entry_code.map(|entry_code| {
        EntryCodeHub::new(
            entry_code,
            settings.pool.clone(),
            closing_sender.subscribe(),
        )
    });
    if let Some(entry) = &entry {
        let resumed = super::entry_code::resolver::resume(entry).await?;
        if resumed > 0 {
            tracing::info!(resumed, "open Entry Code payments resumed");
        }
    }
    let state = Arc::new(HubState {
        client_id: settings.client_id,
        alipay_key: settings.alipay_key,
        pool: settings.pool,
        wakeups: Arc::new(Wakeups::default()),
        closing: closing_sender,
        entry: entry.clone(),
    });
    let closing = state.closing.clone();
    if let Some(database) = listen_on {
        tokio::spawn(wakeups::listen(
            database,
            state.wakeups.clone(),
            closing.subscribe(),
        ));
    }
    let public = post(receive_notification).layer(
        tower::ServiceBuilder::new()
            .layer(ConcurrencyLimitLayer::new(NOTIFY_CONCURRENCY))
            .layer(RequestBodyLimitLayer::new(MAX_NOTIFICATION_BYTES))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                NOTIFY_TIMEOUT,
            )),
    );
    let mut app = axum::Router::new()
        .route(crate::config::HUB_NOTIFY_PATH, public)
        .route(wire::EVENTS_PATH, get(stream_notifications))
        .route(
            &format!("{}/{{id}}/ack", wire::EVENTS_PATH),
            post(acknowledge),
        )
        .route(wire::REPLICATION_CURSOR_PATH, get(replication_cursor))
        .route(
            wire::REPLICATION_BATCH_PATH,
            post(replication_batch).layer(DefaultBodyLimit::max(MAX_BATCH_BYTES)),
        )
        .route(wire::STORE_TRANSACTIONS_PATH, get(store_transactions))
        .route(wire::STORE_TOTALS_PATH, get(store_totals))
        .route("/hub/v1/store/payments/{id}", get(store_payment))
        .route(wire::REFUND_RESERVE_PATH, post(reserve_refund))
        .route("/hub/v1/refunds/{id}/release", post(release_refund))
        .with_state(state);
    if let Some(entry) = entry {
        app = app.merge(super::entry_code::routes::router(entry));
    }
    let listen = settings.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| HubError::Listen {
            address: listen,
            reason: e.to_string(),
        })?;
    let address = listener.local_addr().map_err(|e| HubError::Listen {
        address: listen,
        reason: e.to_string(),
    })?;
    let (shutdown, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(async move {
        // With the peer's address: the Entry Code page's rate limit is per IP.
        let serve = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        if let Err(error) = serve.await {
            tracing::error!(%error, "the hub's server stopped");
        }
    });
    Ok(RunningHub {
        address,
        closing,
        shutdown: Some(shutdown),
        served: Some(served),
    })
}

fn alipay_answer(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=UTF-8")],
        body,
    )
        .into_response()
}

fn refused(status: StatusCode, error: String) -> Response {
    let mut response = (status, axum::Json(Refused { error })).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
    }
    response
}

/// `POST /alipay/notify`.
async fn receive_notification(
    State(state): State<Arc<HubState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let path = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or_else(|| uri.path())
        .to_owned();
    let incoming = IncomingNotification {
        path: &path,
        client_id: header("client-id"),
        request_time: header("request-time"),
        signature: header("signature"),
        body: &body,
    };
    let verified = match notification::verify_incoming(
        &state.alipay_key,
        &state.client_id,
        incoming,
        time::OffsetDateTime::now_utc(),
    ) {
        Ok(verified) => verified,
        Err(error) => {
            tracing::warn!(%error, "refused a notification; nothing stored");
            let status = match error {
                NotificationError::MissingHeader(_) | NotificationError::BadSignature(_) => {
                    StatusCode::UNAUTHORIZED
                }
                NotificationError::WrongClient { .. } => StatusCode::FORBIDDEN,
                NotificationError::InvalidBody(_) | NotificationError::TooOld { .. } => {
                    StatusCode::BAD_REQUEST
                }
            };
            return alipay_answer(status, notification::retry_answer());
        }
    };
    let kept: BTreeMap<String, String> = wire::KEPT_HEADERS
        .iter()
        .filter_map(|name| header(name).map(|value| ((*name).to_owned(), value.to_owned())))
        .collect();
    let new = NewNotification::of(&verified, path, kept, body.to_vec());
    match notifications::store(&state.pool, &new).await {
        Ok(stored) => {
            tracing::info!(
                id = stored.id,
                kind = new.kind,
                route_tag = new.route_tag.as_deref().unwrap_or("(none)"),
                resend = !stored.new,
                "notification stored"
            );
            if stored.new {
                // The fault tests kill the hub here: committed, Alipay not answered.
                crate::failpoint::hit(crate::failpoint::HUB_AFTER_STORE);
                if let Some(tag) = &new.route_tag {
                    state.wakeups.wake(tag);
                }
            }
            // An Entry Code payment of the hub's own: its resolver asks Alipay now.
            if let (Some(entry), Notification::Payment(payment)) = (&state.entry, &verified) {
                entry.wake(&payment.payment_request_id);
            }
            alipay_answer(StatusCode::OK, notification::acknowledgement())
        }
        Err(error) => {
            tracing::error!(%error, "could not store a notification; Alipay is asked to resend it");
            alipay_answer(
                StatusCode::SERVICE_UNAVAILABLE,
                notification::retry_answer(),
            )
        }
    }
}

async fn authenticated(state: &HubState, headers: &HeaderMap) -> Result<Authenticated, Response> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    terminals::authenticate(&state.pool, authorization)
        .await
        .map_err(|refusal| {
            let status = match &refusal {
                Refusal::Missing | Refusal::Unknown => StatusCode::UNAUTHORIZED,
                Refusal::Revoked { .. } => StatusCode::FORBIDDEN,
                Refusal::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            };
            tracing::warn!(status = status.as_u16(), reason = %refusal.message(), "refused a terminal");
            refused(status, refusal.message())
        })
}

/// `GET /hub/v1/notifications`.
async fn stream_notifications(State(state): State<Arc<HubState>>, headers: HeaderMap) -> Response {
    let terminal = match authenticated(&state, &headers).await {
        Ok(terminal) => terminal,
        Err(response) => return response,
    };
    tracing::info!(terminal = %terminal.name, "terminal connected");
    let (events, receiver) = mpsc::channel::<Event>(16);
    tokio::spawn(feed(state, terminal, events));
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver
            .recv()
            .await
            .map(|event| (Ok::<Event, Infallible>(event), receiver))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// Feeds one terminal's stream until it disconnects or is revoked.
async fn feed(state: Arc<HubState>, terminal: Authenticated, events: mpsc::Sender<Event>) {
    let mut stored = state.wakeups.subscribe(&terminal.tag);
    let mut closing = state.closing.subscribe();
    let ready = Event::default()
        .event(wire::EVENT_READY)
        .data(terminal.name.clone());
    if events.send(ready).await.is_err() {
        return;
    }
    // What this connection was handed and the terminal has not acknowledged yet (as far as
    // the last look showed): not sent again on it. A set, not a high-water mark: row ids
    // are drawn at INSERT and become visible at COMMIT, so a notification can appear after
    // one with a higher id was sent; "above the last id sent" would skip it until the
    // terminal reconnects, which a healthy link never does.
    let mut sent: Vec<i64> = Vec::new();
    // The same for the Entry Code results sent on this connection: payments finish in any
    // order, so a result with a lower id can become ready after one with a higher id.
    let mut results_sent: Vec<i64> = Vec::new();
    let mut finished = state.entry.as_ref().map(|entry| entry.watch_finished());
    loop {
        match terminals::is_active(&state.pool, terminal.id).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(terminal = %terminal.name, "terminal revoked; closing its connection");
                let revoked = Event::default().event(wire::EVENT_REVOKED).data(
                    Refusal::Revoked {
                        name: terminal.name.clone(),
                    }
                    .message(),
                );
                let _ = events.send(revoked).await;
                return;
            }
            Err(error) => tracing::warn!(%error, "cannot check a terminal; retrying"),
        }
        let mut full_batch = false;
        if sent.len() >= PRUNE_SENT_AT {
            match notifications::still_waiting(&state.pool, &sent).await {
                Ok(still) => sent = still,
                Err(error) => tracing::warn!(%error, "cannot check acknowledgements; retrying"),
            }
        }
        match notifications::waiting(&state.pool, &terminal.tag, &sent, BATCH).await {
            Ok(batch) => {
                full_batch = batch.len() as i64 == BATCH;
                for relayed in batch {
                    let id = relayed.id;
                    let data = match serde_json::to_string(&relayed) {
                        Ok(data) => data,
                        Err(error) => {
                            tracing::error!(id, %error, "cannot encode a notification");
                            continue;
                        }
                    };
                    let event = Event::default()
                        .event(wire::EVENT_NOTIFICATION)
                        .id(id.to_string())
                        .data(data);
                    if events.send(event).await.is_err() {
                        return;
                    }
                    sent.push(id);
                    if let Err(error) =
                        notifications::mark_delivered(&state.pool, id, terminal.id).await
                    {
                        tracing::warn!(id, %error, "could not note a delivery");
                    }
                    tracing::info!(id, terminal = %terminal.name, "notification relayed");
                }
            }
            Err(error) => tracing::warn!(%error, "cannot read waiting notifications; retrying"),
        }
        if let Some(entry) = &state.entry {
            match relay_entry_results(entry, &terminal, &events, &mut results_sent).await {
                Ok(full) => full_batch |= full,
                Err(Gone) => return,
            }
        }
        if full_batch {
            continue;
        }
        let entry_finished = async {
            match finished.as_mut() {
                Some(finished) => {
                    let _ = finished.changed().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = stored.changed() => {}
            _ = entry_finished => {}
            _ = tokio::time::sleep(RESCAN) => {}
            _ = events.closed() => {
                tracing::info!(terminal = %terminal.name, "terminal disconnected");
                return;
            }
            _ = closing.wait_for(|closing| *closing) => return,
        }
    }
}

/// The terminal's stream is gone.
struct Gone;

/// Sends the finished Entry Code payments of `terminal`'s counter that it has not
/// acknowledged; whether a whole batch went (so there may be more).
async fn relay_entry_results(
    entry: &EntryCodeHub,
    terminal: &Authenticated,
    events: &mpsc::Sender<Event>,
    sent: &mut Vec<i64>,
) -> Result<bool, Gone> {
    if sent.len() >= PRUNE_SENT_AT {
        match super::entry_code::store::still_unreported(&entry.pool, sent).await {
            Ok(still) => *sent = still,
            Err(error) => tracing::warn!(%error, "cannot check Entry Code acknowledgements"),
        }
    }
    let batch =
        match super::entry_code::store::unreported(&entry.pool, terminal.id, sent, BATCH).await {
            Ok(batch) => batch,
            Err(error) => {
                tracing::warn!(%error, "cannot read Entry Code results; retrying");
                return Ok(false);
            }
        };
    let full = batch.len() as i64 == BATCH;
    for result in batch {
        let id = result.id;
        let data = match serde_json::to_string(&result) {
            Ok(data) => data,
            Err(error) => {
                tracing::error!(id, %error, "cannot encode an Entry Code result");
                continue;
            }
        };
        let event = Event::default()
            .event(wire::EVENT_ENTRY_CODE_RESULT)
            .data(data);
        if events.send(event).await.is_err() {
            return Err(Gone);
        }
        sent.push(id);
        tracing::info!(id, terminal = %terminal.name, "Entry Code result relayed");
    }
    Ok(full)
}

/// `POST /hub/v1/notifications/{id}/ack`.
async fn acknowledge(
    State(state): State<Arc<HubState>>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let terminal = match authenticated(&state, &headers).await {
        Ok(terminal) => terminal,
        Err(response) => return response,
    };
    let ack: Acknowledgement = match serde_json::from_slice(&body) {
        Ok(ack) => ack,
        Err(error) => {
            return refused(
                StatusCode::BAD_REQUEST,
                format!(
                    "the acknowledgement is not {{\"outcome\": \"recorded\" | \"rejected\", \
                     \"reason\": ...}}: {error}"
                ),
            );
        }
    };
    match notifications::acknowledge(
        &state.pool,
        id,
        terminal.id,
        &terminal.tag,
        ack.outcome,
        ack.reason.as_deref(),
    )
    .await
    {
        Ok(Acknowledged::Now | Acknowledged::Already) => {
            match ack.outcome {
                wire::AckOutcome::Recorded => {
                    tracing::info!(id, terminal = %terminal.name, "notification recorded by its terminal")
                }
                wire::AckOutcome::Rejected => tracing::warn!(
                    id,
                    terminal = %terminal.name,
                    reason = ack.reason.as_deref().unwrap_or(""),
                    "the terminal rejected a notification; it is not sent again"
                ),
            }
            (
                StatusCode::OK,
                axum::Json(serde_json::json!({ "acknowledged": id })),
            )
                .into_response()
        }
        Ok(Acknowledged::NotFound) => refused(
            StatusCode::NOT_FOUND,
            format!(
                "no notification {id} is routed to terminal `{}`",
                terminal.name
            ),
        ),
        Err(error) => {
            tracing::warn!(%error, "could not record an acknowledgement");
            refused(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{error}; the terminal retries"),
            )
        }
    }
}

/// `GET /hub/v1/replication/cursor`.
async fn replication_cursor(State(state): State<Arc<HubState>>, headers: HeaderMap) -> Response {
    let terminal = match authenticated(&state, &headers).await {
        Ok(terminal) => terminal,
        Err(response) => return response,
    };
    match replication::cursor(&state.pool, &terminal).await {
        Ok(cursor) => axum::Json(wire::ReplicationCursor { cursor }).into_response(),
        Err(error) => unavailable(&error),
    }
}

fn unavailable(error: &HubError) -> Response {
    tracing::warn!(%error, "a terminal's request could not be served");
    refused(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("{error}; the terminal retries"),
    )
}

/// `POST /hub/v1/replication/batch`.
async fn replication_batch(
    State(state): State<Arc<HubState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let terminal = match authenticated(&state, &headers).await {
        Ok(terminal) => terminal,
        Err(response) => return response,
    };
    let batch: wire::ShipBatch = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(error) => {
            return refused(
                StatusCode::BAD_REQUEST,
                format!("the batch is not a replication batch: {error}"),
            );
        }
    };
    match replication::apply(&state.pool, &terminal, &batch).await {
        Ok(Ok(cursor)) => {
            tracing::debug!(terminal = %terminal.name, cursor, events = batch.events.len(), "replication batch committed");
            axum::Json(wire::ReplicationCursor { cursor }).into_response()
        }
        Ok(Err(refusal)) => {
            let status = match refusal {
                ShipRefusal::NotYours(_) => StatusCode::FORBIDDEN,
                ShipRefusal::Gap { .. } => StatusCode::CONFLICT,
                ShipRefusal::Invalid(_) => StatusCode::BAD_REQUEST,
            };
            tracing::warn!(terminal = %terminal.name, status = status.as_u16(), reason = %refusal.message(), "refused a replication batch; nothing stored");
            refused(status, refusal.message())
        }
        Err(error) => unavailable(&error),
    }
}

/// The calling terminal's store, or the answer that says why there is none.
async fn callers_store(state: &HubState, headers: &HeaderMap) -> Result<String, Response> {
    let terminal = authenticated(state, headers).await?;
    match replication::store_of(&state.pool, &terminal).await {
        Ok(Some(store)) => Ok(store),
        Ok(None) => Err(refused(
            StatusCode::CONFLICT,
            format!(
                "terminal `{}` has not shipped its journal yet, so the hub does not know its \
                 store; its shipper does so within seconds of connecting",
                terminal.name
            ),
        )),
        Err(error) => Err(unavailable(&error)),
    }
}

/// `GET /hub/v1/store/transactions`.
async fn store_transactions(
    State(state): State<Arc<HubState>>,
    headers: HeaderMap,
    query: Result<Query<wire::StoreTransactionsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let store = match callers_store(&state, &headers).await {
        Ok(store) => store,
        Err(response) => return response,
    };
    let Query(mut query) = match query {
        Ok(query) => query,
        Err(error) => return refused(StatusCode::BAD_REQUEST, error.body_text()),
    };
    query.limit = Some(
        query
            .limit
            .unwrap_or(replication::MAX_TRANSACTIONS)
            .min(replication::MAX_TRANSACTIONS),
    );
    match replication::transactions(&state.pool, Some(&store), &query).await {
        Ok(Ok(rows)) => axum::Json(rows).into_response(),
        Ok(Err(bad)) => refused(StatusCode::BAD_REQUEST, bad.0),
        Err(error) => unavailable(&error),
    }
}

/// `GET /hub/v1/store/payments/{id}`.
async fn store_payment(
    State(state): State<Arc<HubState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let store = match callers_store(&state, &headers).await {
        Ok(store) => store,
        Err(response) => return response,
    };
    match replication::payment_detail(&state.pool, &store, &id).await {
        Ok(Some(detail)) => axum::Json(detail).into_response(),
        Ok(None) => refused(
            StatusCode::NOT_FOUND,
            format!(
                "store `{store}` has no payment `{id}` at the hub; check the id (our request \
                 id or Alipay's payment id), or wait a few seconds for a payment just taken"
            ),
        ),
        Err(error) => unavailable(&error),
    }
}

#[derive(Debug, serde::Deserialize)]
struct TotalsQuery {
    date: Option<String>,
}

/// `GET /hub/v1/store/totals?date=YYYY-MM-DD`.
async fn store_totals(
    State(state): State<Arc<HubState>>,
    headers: HeaderMap,
    query: Result<Query<TotalsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let store = match callers_store(&state, &headers).await {
        Ok(store) => store,
        Err(response) => return response,
    };
    let date = match query.as_ref().map(|q| q.date.as_deref()) {
        Ok(Some(text)) => match replication::parse_date("date", text) {
            Ok(date) => date,
            Err(bad) => return refused(StatusCode::BAD_REQUEST, bad.0),
        },
        Ok(None) => crate::local_time::today(),
        Err(error) => return refused(StatusCode::BAD_REQUEST, error.body_text()),
    };
    match replication::totals(&state.pool, date, Some(&store)).await {
        Ok(rows) => axum::Json(rows).into_response(),
        Err(error) => unavailable(&error),
    }
}

/// `POST /hub/v1/refunds/reserve`.
async fn reserve_refund(
    State(state): State<Arc<HubState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    use super::refund_reservations::{self, ReserveRefusal};
    let terminal = match authenticated(&state, &headers).await {
        Ok(terminal) => terminal,
        Err(response) => return response,
    };
    let request: wire::ReserveRefund = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            return refused(
                StatusCode::BAD_REQUEST,
                format!("the body is not a refund reservation: {error}"),
            );
        }
    };
    match refund_reservations::reserve(&state.pool, &terminal, &request).await {
        Ok(Ok(reserved)) => {
            tracing::info!(terminal = %terminal.name, refund = %reserved.refund_request_id, payment = %request.payment_request_id, "refund reserved");
            axum::Json(reserved).into_response()
        }
        Ok(Err(refusal)) => {
            let status = match refusal {
                ReserveRefusal::Invalid(_) => StatusCode::BAD_REQUEST,
                ReserveRefusal::NotYours(_) => StatusCode::FORBIDDEN,
                ReserveRefusal::NoPayment(_) => StatusCode::NOT_FOUND,
                ReserveRefusal::Refused(_) | ReserveRefusal::NotYet(_) => StatusCode::CONFLICT,
            };
            let not_yet = matches!(
                refusal,
                ReserveRefusal::NoPayment(_) | ReserveRefusal::NotYet(_)
            );
            tracing::warn!(terminal = %terminal.name, status = status.as_u16(), reason = refusal.message(), "refused a refund reservation");
            (
                status,
                axum::Json(wire::ReservationRefused {
                    error: refusal.message().to_owned(),
                    not_yet,
                }),
            )
                .into_response()
        }
        Err(error) => unavailable(&error),
    }
}

/// `POST /hub/v1/refunds/{id}/release`.
async fn release_refund(
    State(state): State<Arc<HubState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let terminal = match authenticated(&state, &headers).await {
        Ok(terminal) => terminal,
        Err(response) => return response,
    };
    match super::refund_reservations::release(&state.pool, &terminal, &id).await {
        Ok(true) => axum::Json(serde_json::json!({ "released": id })).into_response(),
        Ok(false) => refused(
            StatusCode::NOT_FOUND,
            format!(
                "terminal `{}` has no live reservation `{id}` (released already, never made, \
                 or its refund was journaled and shipped)",
                terminal.name
            ),
        ),
        Err(error) => unavailable(&error),
    }
}
