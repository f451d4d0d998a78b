//! The HTTP endpoint Alipay posts `notifyPayment` and `notifyRegistrationStatus` to (one URL
//! for both: the body says which it is).
//!
//! The receiver only checks the signature and the shape; what a notification *means* is the
//! engine's decision. It answers with the fixed acknowledgement only after the engine says
//! the notification is on disk, so a crash between the two makes Alipay resend rather than
//! forget.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::sync::{mpsc, oneshot};

use crate::ams::crypto::PublicKey;
use crate::ams::notification::{self, IncomingNotification};

/// How long the receiver waits for the engine to record a notification before it asks Alipay
/// to resend instead.
const RECORD_TIMEOUT: Duration = Duration::from_secs(5);

/// A verified notification on its way to the engine, with the channel for "recorded".
#[derive(Debug)]
pub struct ReceivedNotification {
    pub notification: Notification,
    pub recorded: oneshot::Sender<bool>,
}

/// What a verified notification is about (one type for every receiver: `ams` owns it).
pub use crate::ams::notification::Notification;

struct ReceiverState {
    alipay_key: PublicKey,
    client_id: String,
    to_engine: mpsc::Sender<ReceivedNotification>,
}

/// A running receiver; dropping the handle does not stop it, [`RunningReceiver::stop`] does.
#[derive(Debug)]
pub struct RunningReceiver {
    pub address: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
}

impl RunningReceiver {
    pub fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Starts listening on `listen` for POSTs on any path (Alipay signs over whatever path the
/// notify URL has, so the receiver verifies against the path it was actually called on).
pub async fn start(
    listen: SocketAddr,
    alipay_key: PublicKey,
    client_id: String,
    to_engine: mpsc::Sender<ReceivedNotification>,
) -> std::io::Result<RunningReceiver> {
    let state = Arc::new(ReceiverState {
        alipay_key,
        client_id,
        to_engine,
    });
    let app = axum::Router::new().fallback(receive).with_state(state);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let address = listener.local_addr()?;
    let (shutdown, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        if let Err(error) = serve.await {
            tracing::error!(%error, "notification receiver stopped");
        }
    });
    Ok(RunningReceiver {
        address,
        shutdown: Some(shutdown),
    })
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let path = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or_else(|| uri.path());
    let incoming = IncomingNotification {
        path,
        client_id: header("client-id"),
        request_time: header("request-time"),
        signature: header("signature"),
        body: &body,
    };
    let verified = notification::verify_incoming(
        &state.alipay_key,
        &state.client_id,
        incoming,
        time::OffsetDateTime::now_utc(),
    );
    let notification = match verified {
        Ok(notification) => notification,
        Err(error) => {
            tracing::warn!(%error, "rejected a notification");
            return answer(notification::retry_answer());
        }
    };
    let (recorded, was_recorded) = oneshot::channel();
    let handed_over = state
        .to_engine
        .send(ReceivedNotification {
            notification,
            recorded,
        })
        .await
        .is_ok();
    let on_disk = handed_over
        && matches!(
            tokio::time::timeout(RECORD_TIMEOUT, was_recorded).await,
            Ok(Ok(true))
        );
    if on_disk {
        answer(notification::acknowledgement())
    } else {
        answer(notification::retry_answer())
    }
}

fn answer(body: &'static str) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/json; charset=UTF-8")],
        body,
    )
        .into_response()
}
