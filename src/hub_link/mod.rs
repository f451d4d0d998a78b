//! A terminal's outbound connection to the store hub: how notifications reach a terminal
//! behind NAT.
//!
//! The terminal dials the hub (`[hub] url`) with its token and reads a server-sent event
//! stream. For each relayed notification it **verifies Alipay's signature itself** over the
//! path, headers and exact body Alipay sent (the hub is trusted for delivery, never for
//! truth), hands a verified one to the engine over the same channel as its own receiver,
//! and acknowledges it to the hub only once the engine says it is recorded. One that does
//! not verify is acknowledged as rejected (logged here and at the hub), never applied.
//!
//! Beside the link, [`shipper`] ships the terminal's journal to the hub (journal
//! replication), through its own read-only connection, and [`refunds`] reserves every
//! refund at the hub before the engine journals and sends it. [`store`] reads the whole
//! store's views back for the manager screen.
//!
//! The link is an accelerator: when the hub is unreachable it reconnects with backoff, and
//! the engine's poller settles payments exactly as it does without a hub.

pub mod refunds;
pub mod shipper;
mod sse;
pub mod store;

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use tokio::sync::{mpsc, oneshot, watch};
use url::Url;

use crate::ams::crypto::PublicKey;
use crate::ams::notification::{self, IncomingNotification};
use crate::checkout::receiver::ReceivedNotification;
use crate::hub::wire::{self, AckOutcome, Acknowledgement, Relayed};

/// First wait before reconnecting; doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The hub sends a keep-alive every 15 s; a stream silent for this long is dead.
const IDLE_LIMIT: Duration = Duration::from_secs(45);
/// How long the engine may take to record one notification.
const RECORD_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// A terminal's hub token, read from `hub.token_file`. Never printed by `Debug`.
#[derive(Clone)]
pub struct HubToken(String);

impl std::fmt::Debug for HubToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HubToken(***)")
    }
}

impl HubToken {
    /// Reads the token file (one line; surrounding whitespace ignored).
    pub fn read(path: &Path) -> Result<HubToken, String> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "cannot read `{}` ({e}); put the token `alipay-pos hub terminals add NAME` \
                 printed on the hub into it",
                path.display()
            )
        })?;
        let token = text.trim();
        if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "`{}` does not hold a token; put the one line `alipay-pos hub terminals add \
                 NAME` printed on the hub into it",
                path.display()
            ));
        }
        Ok(HubToken(token.to_owned()))
    }
}

/// Where the link stands, for screens and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    Connecting,
    /// The hub accepted the token; notifications flow.
    Connected,
    /// The hub refused the token (unknown or revoked); retried slowly, in case the terminal
    /// is enrolled again.
    Refused(String),
    /// The last attempt failed (hub down, network); retrying.
    Unreachable(String),
}

/// What a link needs.
pub struct LinkSettings {
    pub url: Url,
    pub token: HubToken,
    pub alipay_key: PublicKey,
    pub client_id: String,
    pub to_engine: mpsc::Sender<ReceivedNotification>,
    /// Where Entry Code results of this counter go to be journaled; `None` leaves them
    /// unacknowledged at the hub.
    pub entry_results: Option<mpsc::Sender<EntryResultDelivery>>,
}

/// An Entry Code result the hub relayed, handed to the terminal's wiring, which journals
/// it and answers on `recorded`; the link acknowledges it to the hub only after `true`.
pub struct EntryResultDelivery {
    pub result: wire::EntryCodeResult,
    pub recorded: oneshot::Sender<bool>,
}

/// A running link; dropping it closes the connection.
pub struct HubLink {
    state: watch::Receiver<LinkState>,
    /// Notifications taken from the stream whose acknowledgement is not done yet.
    in_flight: watch::Receiver<usize>,
    task: tokio::task::JoinHandle<()>,
}

impl HubLink {
    /// Starts dialling the hub in the background.
    pub fn start(settings: LinkSettings) -> Result<HubLink, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("alipay-pos/", env!("CARGO_PKG_VERSION")))
            // The token must never follow a redirect to another host.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot set up the hub's HTTP client: {e}"))?;
        let (state_tx, state) = watch::channel(LinkState::Connecting);
        let (in_flight_tx, in_flight) = watch::channel(0);
        let link = Link {
            http,
            settings,
            state: state_tx,
            in_flight: in_flight_tx,
        };
        let task = tokio::spawn(link.run());
        Ok(HubLink {
            state,
            in_flight,
            task,
        })
    }

    /// Waits (at most `within`) until every notification taken from the hub's stream is
    /// acknowledged or given up on; true when none is left. A short-lived command (`pay`,
    /// `resolve`) calls it before it exits: a payment the hub's notification settled is
    /// then acknowledged too, instead of being sent again to whichever command connects
    /// next. Giving up is safe: the hub sends it again and the engine applies it once.
    pub async fn relays_done(&self, within: Duration) -> bool {
        let mut in_flight = self.in_flight.clone();
        tokio::time::timeout(within, in_flight.wait_for(|count| *count == 0))
            .await
            .is_ok_and(|done| done.is_ok())
    }

    pub fn state(&self) -> LinkState {
        self.state.borrow().clone()
    }

    /// A receiver of the link's state changes.
    pub fn watch(&self) -> watch::Receiver<LinkState> {
        self.state.clone()
    }
}

impl Drop for HubLink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Link {
    http: reqwest::Client,
    settings: LinkSettings,
    state: watch::Sender<LinkState>,
    in_flight: watch::Sender<usize>,
}

/// Counts one relayed notification as in flight for as long as it lives.
struct InFlight<'a>(&'a watch::Sender<usize>);

impl<'a> InFlight<'a> {
    fn start(count: &'a watch::Sender<usize>) -> InFlight<'a> {
        count.send_modify(|n| *n += 1);
        InFlight(count)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Why a connection ended.
enum Ended {
    Refused(String),
    Lost(String),
}

/// Why relaying one notification failed. Either way the connection is dropped, so the hub
/// sends the notification again on the next one.
enum RelayFailed {
    /// The acknowledgement did not reach the hub: reconnect soon.
    Hub(String),
    /// The engine could not record it. Reconnecting at once would fail the same way (a
    /// notification the journal refuses is sent first on every new connection), so the
    /// link backs off as if the hub were away instead of reconnecting four times a second.
    Engine(String),
}

impl Link {
    async fn run(self) {
        let mut backoff = MIN_BACKOFF;
        loop {
            self.state.send_replace(LinkState::Connecting);
            let (ended, was_connected) = self.connect_once().await;
            if was_connected {
                backoff = MIN_BACKOFF;
            }
            match ended {
                Ended::Refused(reason) => {
                    tracing::error!(%reason, "the store hub refused this terminal");
                    self.state.send_replace(LinkState::Refused(reason));
                    backoff = MAX_BACKOFF;
                }
                Ended::Lost(reason) => {
                    tracing::info!(%reason, retry_in_ms = backoff.as_millis() as u64, "no connection to the store hub; payments are followed by polling meanwhile");
                    self.state.send_replace(LinkState::Unreachable(reason));
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    fn endpoint(&self, path: &str) -> Result<Url, String> {
        let base = self.settings.url.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}{path}")).map_err(|e| format!("hub.url: {e}"))
    }

    /// One connection: returns why it ended, and whether the hub had accepted it.
    async fn connect_once(&self) -> (Ended, bool) {
        let url = match self.endpoint(wire::EVENTS_PATH) {
            Ok(url) => url,
            Err(reason) => return (Ended::Lost(reason), false),
        };
        let response = self
            .http
            .get(url)
            .bearer_auth(&self.settings.token.0)
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .send()
            .await;
        let mut response = match response {
            Ok(response) => response,
            Err(error) => return (Ended::Lost(format!("cannot reach the hub: {error}")), false),
        };
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            let text = response.text().await.unwrap_or_default();
            let reason = serde_json::from_str::<wire::Refused>(&text)
                .map(|r| r.error)
                .unwrap_or(text);
            return (
                Ended::Refused(format!("HTTP {}: {reason}", status.as_u16())),
                false,
            );
        }
        if !status.is_success() {
            return (
                Ended::Lost(format!("the hub answered HTTP {}", status.as_u16())),
                false,
            );
        }
        let mut parser = sse::Parser::default();
        let mut connected = false;
        loop {
            let chunk = match tokio::time::timeout(IDLE_LIMIT, response.chunk()).await {
                Err(_) => {
                    return (
                        Ended::Lost("the hub's stream went silent".into()),
                        connected,
                    );
                }
                Ok(Err(error)) => {
                    return (Ended::Lost(format!("stream broken: {error}")), connected);
                }
                Ok(Ok(None)) => {
                    return (Ended::Lost("the hub closed the stream".into()), connected);
                }
                Ok(Ok(Some(chunk))) => chunk,
            };
            for event in parser.push(&chunk) {
                match event.name.as_str() {
                    wire::EVENT_READY => {
                        connected = true;
                        tracing::info!("connected to the store hub");
                        self.state.send_replace(LinkState::Connected);
                    }
                    wire::EVENT_REVOKED => return (Ended::Refused(event.data), connected),
                    wire::EVENT_NOTIFICATION => match self.relay(&event.data).await {
                        Ok(()) => {}
                        Err(RelayFailed::Hub(reason)) => return (Ended::Lost(reason), connected),
                        // Not "was connected": the backoff keeps growing.
                        Err(RelayFailed::Engine(reason)) => return (Ended::Lost(reason), false),
                    },
                    wire::EVENT_ENTRY_CODE_RESULT => {
                        if let Err(reason) = self.entry_result(&event.data).await {
                            // Not "was connected" either: a result the engine cannot
                            // record comes first again on the next connection.
                            return (Ended::Lost(reason), false);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// One relayed notification: verify, apply, acknowledge. An `Err` drops the connection,
    /// so the hub sends the notification again on the next one.
    async fn relay(&self, data: &str) -> Result<(), RelayFailed> {
        let _in_flight = InFlight::start(&self.in_flight);
        let relayed: Relayed = match serde_json::from_str(data) {
            Ok(relayed) => relayed,
            Err(error) => {
                tracing::warn!(%error, "the hub sent an event that is not a notification; ignored");
                return Ok(());
            }
        };
        let body = match base64::engine::general_purpose::STANDARD.decode(&relayed.body_base64) {
            Ok(body) => body,
            Err(error) => {
                return self
                    .acknowledge(
                        relayed.id,
                        AckOutcome::Rejected,
                        Some(format!("body is not base64: {error}")),
                    )
                    .await
                    .map_err(RelayFailed::Hub);
            }
        };
        let header = |name: &str| relayed.headers.get(name).map(String::as_str);
        let incoming = IncomingNotification {
            path: &relayed.path,
            client_id: header("client-id"),
            request_time: header("request-time"),
            signature: header("signature"),
            body: &body,
        };
        let verified = notification::verify_incoming(
            &self.settings.alipay_key,
            &self.settings.client_id,
            incoming,
            time::OffsetDateTime::now_utc(),
        );
        let verified = match verified {
            Ok(verified) => verified,
            Err(error) => {
                tracing::warn!(id = relayed.id, %error, "refused a notification the hub relayed: it does not verify, so it is not applied");
                return self
                    .acknowledge(relayed.id, AckOutcome::Rejected, Some(error.to_string()))
                    .await
                    .map_err(RelayFailed::Hub);
            }
        };
        let (recorded, was_recorded) = oneshot::channel();
        self.settings
            .to_engine
            .send(ReceivedNotification {
                notification: verified,
                recorded,
            })
            .await
            .map_err(|_| RelayFailed::Engine("the engine has stopped".to_owned()))?;
        match tokio::time::timeout(RECORD_TIMEOUT, was_recorded).await {
            Ok(Ok(true)) => {
                // The fault tests kill the terminal here: recorded, not acknowledged.
                crate::failpoint::hit(crate::failpoint::HUB_LINK_BEFORE_ACK);
                self.acknowledge(relayed.id, AckOutcome::Recorded, None)
                    .await
                    .map_err(RelayFailed::Hub)
            }
            _ => Err(RelayFailed::Engine(format!(
                "the engine could not record notification {}; reconnecting later so the hub sends it again",
                relayed.id
            ))),
        }
    }

    /// One Entry Code result: journal it, then acknowledge. The hub made the payment and
    /// its PostgreSQL is the record, so there is no signature to check here: the terminal
    /// only learns what its own authenticated connection told it. An `Err` reconnects, so
    /// the hub relays it again.
    async fn entry_result(&self, data: &str) -> Result<(), String> {
        let Some(to_journal) = &self.settings.entry_results else {
            return Ok(());
        };
        let result: wire::EntryCodeResult = match serde_json::from_str(data) {
            Ok(result) => result,
            Err(error) => {
                tracing::warn!(%error, "the hub sent an Entry Code result that cannot be read; ignored");
                return Ok(());
            }
        };
        let id = result.id;
        let (recorded, was_recorded) = oneshot::channel();
        to_journal
            .send(EntryResultDelivery { result, recorded })
            .await
            .map_err(|_| "the engine has stopped".to_owned())?;
        match tokio::time::timeout(RECORD_TIMEOUT, was_recorded).await {
            Ok(Ok(true)) => {}
            _ => {
                return Err(format!(
                    "the engine could not record Entry Code result {id}; reconnecting so the hub sends it again"
                ));
            }
        }
        let url = self.endpoint(&wire::entry_result_ack_path(id))?;
        let response = self
            .http
            .post(url)
            .bearer_auth(&self.settings.token.0)
            .timeout(ACK_TIMEOUT)
            .send()
            .await
            .map_err(|e| format!("cannot acknowledge Entry Code result {id}: {e}"))?;
        if response.status().is_success() {
            tracing::info!(id, "Entry Code result recorded and acknowledged to the hub");
            Ok(())
        } else {
            Err(format!(
                "the hub answered HTTP {} to the acknowledgement of Entry Code result {id}",
                response.status().as_u16()
            ))
        }
    }

    async fn acknowledge(
        &self,
        id: i64,
        outcome: AckOutcome,
        reason: Option<String>,
    ) -> Result<(), String> {
        let url = self.endpoint(&wire::ack_path(id))?;
        let body = serde_json::to_vec(&Acknowledgement { outcome, reason })
            .map_err(|e| format!("cannot encode an acknowledgement: {e}"))?;
        let response = self
            .http
            .post(url)
            .bearer_auth(&self.settings.token.0)
            .timeout(ACK_TIMEOUT)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| format!("cannot acknowledge notification {id}: {e}"))?;
        if response.status().is_success() {
            tracing::debug!(
                id,
                outcome = outcome.as_str(),
                "notification acknowledged to the hub"
            );
            Ok(())
        } else {
            Err(format!(
                "the hub answered HTTP {} to the acknowledgement of {id}",
                response.status().as_u16()
            ))
        }
    }
}
