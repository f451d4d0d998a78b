//! Ships the terminal's journal to the store hub: the append-only events in `seq` order,
//! with the payment and refund rows they touch, in bounded batches.
//!
//! - **The cursor is the hub's.** After connecting (and after any failure) the shipper asks
//!   the hub for the last event it committed for this terminal, then ships from there; the
//!   hub answers every batch with its new cursor. A batch lost on the way, or committed
//!   with its answer lost, is simply read and sent again: the hub applies it idempotently.
//! - **Never in the way of a payment.** It reads through its own read-only [`Reader`]
//!   connection on the blocking pool, never the engine's, and nothing in the engine waits
//!   for it. A dead hub only delays shipping; it is logged once per outage, not per retry.
//! - **Bounded.** At most [`MAX_BATCH_EVENTS`] events per batch, so a terminal back from a
//!   long outage catches up in short hub transactions.

use std::path::PathBuf;
use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::watch;
use url::Url;

use super::HubToken;
use crate::hub::wire::{
    self, MAX_BATCH_EVENTS, ReplicationCursor, ShipBatch, ShippedEventWire, ShippedPayment,
    ShippedRefund,
};
use crate::journal::{PaymentRecord, Reader, RefundRecord, ReplicationBatch};

/// How often an idle shipper looks for new events.
pub const SHIP_INTERVAL: Duration = Duration::from_millis(500);
/// Events per batch: the most the hub takes in one.
pub const BATCH_EVENTS: u32 = MAX_BATCH_EVENTS as u32;
const MIN_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What a shipper needs.
pub struct ShipperSettings {
    pub url: Url,
    pub token: HubToken,
    /// The data folder whose journal is shipped.
    pub data_dir: PathBuf,
    pub interval: Duration,
    /// Events per batch, at most [`MAX_BATCH_EVENTS`].
    pub batch_events: u32,
}

/// Where shipping stands, for screens and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShippingState {
    /// The hub's cursor as last answered: every event up to it is at the hub.
    pub hub_cursor: Option<i64>,
    /// Why shipping is held up now, if it is (hub down, refused, journal unreadable).
    pub held_up: Option<String>,
}

/// A running shipper; dropping it stops shipping.
pub struct Shipper {
    state: watch::Receiver<ShippingState>,
    task: tokio::task::JoinHandle<()>,
}

impl Shipper {
    pub fn start(settings: ShipperSettings) -> Result<Shipper, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("alipay-pos/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot set up the hub's HTTP client: {e}"))?;
        let (state_tx, state) = watch::channel(ShippingState::default());
        let worker = Worker {
            http,
            settings,
            state: state_tx,
            reader: std::sync::Mutex::new(None),
            announced: std::sync::atomic::AtomicBool::new(false),
        };
        let task = tokio::spawn(worker.run());
        Ok(Shipper { state, task })
    }

    pub fn state(&self) -> ShippingState {
        self.state.borrow().clone()
    }

    pub fn watch(&self) -> watch::Receiver<ShippingState> {
        self.state.clone()
    }
}

impl Drop for Shipper {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Why a step did not ship.
enum Held {
    /// The hub or the network is down, or PostgreSQL behind it: retried with backoff.
    Down(String),
    /// The hub refused the token or the batch: retried slowly, it needs a person.
    Refused(String),
    /// The hub's cursor is not where we thought (a gap): ask it again, at once.
    Resync,
}

struct Worker {
    http: reqwest::Client,
    settings: ShipperSettings,
    state: watch::Sender<ShippingState>,
    /// The shipper's own read-only connection, kept between rounds (a `Mutex` only so the
    /// worker is `Sync`; one task uses it).
    reader: std::sync::Mutex<Option<Reader>>,
    /// Whether the hub has heard from this shipper since it started: a journal with
    /// nothing new still sends one empty batch, so the hub learns the terminal's store (a
    /// terminal that took no payment yet may refund another counter's).
    announced: std::sync::atomic::AtomicBool,
}

impl Worker {
    async fn run(self) {
        let mut cursor: Option<i64> = None;
        let mut outage: Option<String> = None;
        let mut backoff = MIN_BACKOFF;
        loop {
            match self.step(&mut cursor).await {
                Ok(shipped) => {
                    if let Some(reason) = outage.take() {
                        tracing::info!(%reason, "shipping the journal to the store hub again");
                    }
                    backoff = MIN_BACKOFF;
                    self.publish(cursor, None);
                    if !shipped {
                        tokio::time::sleep(self.settings.interval).await;
                    }
                }
                Err(Held::Resync) => {
                    // The hub's cursor is behind ours: ask it again (after a breath, so a
                    // hub that keeps saying so is not asked in a tight loop).
                    cursor = None;
                    tokio::time::sleep(MIN_BACKOFF).await;
                }
                Err(held) => {
                    cursor = None;
                    let (reason, refused) = match held {
                        Held::Down(reason) => (reason, false),
                        Held::Refused(reason) => (reason, true),
                        Held::Resync => continue,
                    };
                    if outage.as_deref() != Some(reason.as_str()) {
                        // Once per outage (or when its reason changes), never per retry.
                        if refused {
                            tracing::error!(%reason, "the store hub refused this terminal's journal; payments go on, shipping waits");
                        } else if outage.is_none() {
                            tracing::warn!(%reason, "cannot ship the journal to the store hub; payments go on, and shipping resumes when it is back");
                        }
                        outage = Some(reason.clone());
                    }
                    self.publish(None, Some(reason));
                    let wait = if refused { MAX_BACKOFF } else { backoff };
                    tokio::time::sleep(wait).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    fn take_reader(&self) -> Option<Reader> {
        self.reader.lock().ok().and_then(|mut kept| kept.take())
    }

    fn put_reader(&self, reader: Reader) {
        if let Ok(mut kept) = self.reader.lock() {
            *kept = Some(reader);
        }
    }

    fn publish(&self, cursor: Option<i64>, held_up: Option<String>) {
        self.state.send_if_modified(|state| {
            let new = ShippingState {
                hub_cursor: cursor.or(state.hub_cursor),
                held_up,
            };
            let changed = *state != new;
            *state = new;
            changed
        });
    }

    fn endpoint(&self, path: &str) -> Result<Url, Held> {
        let base = self.settings.url.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}{path}")).map_err(|e| Held::Refused(format!("hub.url: {e}")))
    }

    /// One round: the cursor if unknown, then one batch. `Ok(true)` when a batch was
    /// shipped (there may be more), `Ok(false)` when there was nothing to ship (or only the
    /// first, empty announcement).
    async fn step(&self, cursor: &mut Option<i64>) -> Result<bool, Held> {
        let after = match *cursor {
            Some(after) => after,
            None => {
                let asked = self.ask_cursor().await?;
                *cursor = Some(asked);
                self.publish(Some(asked), None);
                asked
            }
        };
        let Some(batch) = self.read_batch(after).await? else {
            return Ok(false);
        };
        let answer = self.post_batch(&batch).await?;
        self.announced
            .store(true, std::sync::atomic::Ordering::Relaxed);
        *cursor = Some(answer);
        Ok(!batch.events.is_empty())
    }

    async fn ask_cursor(&self) -> Result<i64, Held> {
        let response = self
            .http
            .get(self.endpoint(wire::REPLICATION_CURSOR_PATH)?)
            .bearer_auth(&self.settings.token.0)
            .send()
            .await
            .map_err(|e| Held::Down(format!("cannot reach the hub: {e}")))?;
        let response = check_status(response).await?;
        let answer = read_cursor(response).await?;
        Ok(answer.cursor)
    }

    async fn post_batch(&self, batch: &ShipBatch) -> Result<i64, Held> {
        let body = serde_json::to_vec(batch)
            .map_err(|e| Held::Refused(format!("cannot encode a batch: {e}")))?;
        let response = self
            .http
            .post(self.endpoint(wire::REPLICATION_BATCH_PATH)?)
            .bearer_auth(&self.settings.token.0)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| Held::Down(format!("cannot reach the hub: {e}")))?;
        let response = check_status(response).await?;
        let answer = read_cursor(response).await?;
        tracing::debug!(
            events = batch.events.len(),
            cursor = answer.cursor,
            "journal batch shipped"
        );
        Ok(answer.cursor)
    }

    /// The next batch after `after`, read on the blocking pool through the shipper's own
    /// read-only connection; `None` when there is nothing new.
    async fn read_batch(&self, after: i64) -> Result<Option<ShipBatch>, Held> {
        let reader = self.take_reader();
        let data_dir = self.settings.data_dir.clone();
        let limit = self.settings.batch_events.clamp(1, MAX_BATCH_EVENTS as u32);
        let read = tokio::task::spawn_blocking(move || {
            let reader = match reader {
                Some(reader) => reader,
                None => Reader::open_in(&data_dir).map_err(|e| e.to_string())?,
            };
            let result = (|| {
                let identity = reader.identity().map_err(|e| e.to_string())?;
                let batch = reader
                    .replication_batch(after, limit)
                    .map_err(|e| e.to_string())?;
                Ok::<_, String>((identity, batch))
            })();
            Ok::<_, String>((reader, result))
        })
        .await
        .map_err(|e| Held::Down(format!("the journal read stopped: {e}")))?;
        let (reader, result) =
            read.map_err(|e| Held::Down(format!("cannot read the journal: {e}")))?;
        let (identity, batch) = match result {
            Ok(read) => read,
            // Dropped: a fresh connection next time, in case this one is what is wrong.
            Err(e) => return Err(Held::Down(format!("cannot read the journal: {e}"))),
        };
        self.put_reader(reader);
        let Some(identity) = identity else {
            return Ok(None);
        };
        if batch.events.is_empty() && self.announced.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(None);
        }
        Ok(Some(to_wire(
            identity.terminal_id,
            identity.store_id,
            after,
            batch,
        )))
    }
}

async fn read_cursor(response: reqwest::Response) -> Result<ReplicationCursor, Held> {
    let bytes = response
        .bytes()
        .await
        .map_err(|e| Held::Down(format!("the hub's answer broke off: {e}")))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Held::Down(format!("the hub's answer is not a cursor: {e}")))
}

/// Maps the hub's refusals: 401/403 need a person, 409 a new cursor, the rest is an outage.
async fn check_status(response: reqwest::Response) -> Result<reqwest::Response, Held> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let text = response.text().await.unwrap_or_default();
    let reason = serde_json::from_str::<wire::Refused>(&text)
        .map(|r| r.error)
        .unwrap_or(text);
    let reason = format!("HTTP {}: {reason}", status.as_u16());
    Err(match status.as_u16() {
        409 => Held::Resync,
        400 | 401 | 403 | 413 => Held::Refused(reason),
        _ => Held::Down(reason),
    })
}

fn time_text(at: OffsetDateTime) -> String {
    // A journal time is always formattable (it was parsed from one); keep the record's own
    // text form rather than fail a batch on what cannot happen.
    at.format(&Rfc3339).unwrap_or_else(|_| at.to_string())
}

pub(crate) fn payment_wire(p: PaymentRecord) -> ShippedPayment {
    ShippedPayment {
        payment_request_id: p.payment_request_id,
        order_ref: p.order_ref,
        amount_minor: p.amount.minor(),
        currency: p.amount.currency().code().to_owned(),
        description: p.description,
        operator: p.operator,
        product: p.product.as_str().to_owned(),
        state: p.state.as_str().to_owned(),
        payment_id: p.payment_id,
        result_code: p.result_code,
        result_message: p.result_message,
        resolution: p.resolution.map(|r| r.as_str().to_owned()),
        paid_at: p.paid_at.map(time_text),
        created_at: time_text(p.created_at),
        updated_at: time_text(p.updated_at),
        final_at: p.final_at.map(time_text),
        customer_code_last4: p.customer_code_last4,
    }
}

fn refund_wire(r: RefundRecord, payment_request_id: String) -> ShippedRefund {
    ShippedRefund {
        refund_request_id: r.refund_request_id,
        payment_request_id,
        amount_minor: r.amount.minor(),
        currency: r.amount.currency().code().to_owned(),
        reason: r.reason,
        manager: r.manager,
        state: r.state.as_str().to_owned(),
        refund_id: r.refund_id,
        result_code: r.result_code,
        result_message: r.result_message,
        resolution: r.resolution.map(|r| r.as_str().to_owned()),
        refunded_at: r.refunded_at.map(time_text),
        created_at: time_text(r.created_at),
        updated_at: time_text(r.updated_at),
        final_at: r.final_at.map(time_text),
    }
}

/// A journal batch in the hub's wire form.
pub fn to_wire(
    terminal_id: String,
    store_id: String,
    after: i64,
    batch: ReplicationBatch,
) -> ShipBatch {
    ShipBatch {
        terminal_id,
        store_id,
        after,
        events: batch
            .events
            .into_iter()
            .map(|shipped| {
                let e = shipped.event;
                ShippedEventWire {
                    seq: e.seq,
                    at: time_text(e.at),
                    actor: e.actor.as_str().to_owned(),
                    entity: e.entity.kind().to_owned(),
                    request_id: shipped.request_id,
                    kind: e.kind.as_str().to_owned(),
                    from_state: e.from_state,
                    to_state: e.to_state,
                    detail: e.detail,
                }
            })
            .collect(),
        payments: batch.payments.into_iter().map(payment_wire).collect(),
        refunds: batch
            .refunds
            .into_iter()
            .map(|(refund, payment)| refund_wire(refund, payment))
            .collect(),
    }
}
