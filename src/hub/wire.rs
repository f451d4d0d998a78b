//! What the hub and a terminal's `hub_link` exchange: the server-sent events a terminal
//! receives and the acknowledgement it posts back. Plain serde types, no database, so the
//! terminal side uses this module without anything else of the hub.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `GET`: the terminal's event stream (server-sent events), `Authorization: Bearer <token>`.
pub const EVENTS_PATH: &str = "/hub/v1/notifications";

/// `POST`: acknowledges notification `id` with an [`Acknowledgement`] body.
pub fn ack_path(id: i64) -> String {
    format!("{EVENTS_PATH}/{id}/ack")
}

/// The SSE event name of a relayed notification (its data is a [`Relayed`]).
pub const EVENT_NOTIFICATION: &str = "notification";
/// Sent first on a new connection, once the token checked out (data: the terminal's name).
pub const EVENT_READY: &str = "ready";
/// Sent when the terminal is revoked while connected; the stream then ends.
pub const EVENT_REVOKED: &str = "revoked";

/// A notification as Alipay posted it to the hub: the path it was signed over, the headers
/// of the signature, and the body's exact bytes (base64), so the terminal can verify it
/// itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relayed {
    pub id: i64,
    pub path: String,
    /// Lower-case header names: `client-id`, `request-time`, `signature`, `content-type`.
    pub headers: BTreeMap<String, String>,
    pub body_base64: String,
}

/// What the terminal did with a relayed notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AckOutcome {
    /// Verified and on disk in the terminal's journal.
    Recorded,
    /// Refused (it did not verify): never applied, never sent again.
    Rejected,
}

impl AckOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AckOutcome::Recorded => "recorded",
            AckOutcome::Rejected => "rejected",
        }
    }
}

/// The body of an acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    pub outcome: AckOutcome,
    /// Why it was rejected (at most 500 characters are kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Every refusal's JSON body: `{"error": "..."}`, saying what to do next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refused {
    pub error: String,
}

/// The headers kept with a notification: the ones its signature covers, and its type.
pub const KEPT_HEADERS: [&str; 4] = ["client-id", "request-time", "signature", "content-type"];

// ---------------------------------------------------------------------------------------
// Journal replication (terminal → hub) and the store's read API (hub → terminal)

/// `GET`: the hub's cursor for the calling terminal: the last event `seq` it committed.
pub const REPLICATION_CURSOR_PATH: &str = "/hub/v1/replication/cursor";
/// `POST`: a [`ShipBatch`]; answered with the new [`ReplicationCursor`].
pub const REPLICATION_BATCH_PATH: &str = "/hub/v1/replication/batch";
/// `GET`: the calling terminal's store's replicated payments, with the manager-screen
/// filters as query parameters ([`StoreTransactionsQuery`]).
pub const STORE_TRANSACTIONS_PATH: &str = "/hub/v1/store/transactions";
/// `GET /hub/v1/store/payments/{id}` (our `paymentRequestId` or Alipay's `paymentId`): one
/// payment of the calling terminal's store with every refund of it (at any terminal) and
/// the history of both ([`StorePaymentDetail`]).
pub fn store_payment_path(id: &str) -> String {
    format!("/hub/v1/store/payments/{id}")
}
/// `GET ?date=YYYY-MM-DD`: the calling terminal's store's totals of a day, per currency.
pub const STORE_TOTALS_PATH: &str = "/hub/v1/store/totals";

/// Most events in one batch: a batch is one PostgreSQL transaction at the hub, so it stays
/// short, and a terminal coming back after days of outage catches up in many small steps.
pub const MAX_BATCH_EVENTS: usize = 500;

/// The hub's record of how far a terminal's journal is replicated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationCursor {
    /// The last event `seq` the hub committed for this terminal (0: nothing yet).
    pub cursor: i64,
}

/// One batch of a terminal's journal. Which terminal it is comes from the token, never
/// from here: `terminal_id` is the journal's own identity, and a batch whose journal names
/// another terminal than the token's is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShipBatch {
    /// The journal's `store.terminal_id` (its `meta` row).
    pub terminal_id: String,
    /// The journal's `store.reference_store_id`: the store the hub files the rows under.
    pub store_id: String,
    /// The cursor this batch continues from: the events are those after it. The hub
    /// refuses a batch that would leave a gap (its cursor is lower than this).
    pub after: i64,
    pub events: Vec<ShippedEventWire>,
    pub payments: Vec<ShippedPayment>,
    pub refunds: Vec<ShippedRefund>,
}

/// An event of the journal's append-only log. Times are RFC 3339 UTC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShippedEventWire {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    /// `payment` or `refund`.
    pub entity: String,
    /// The `paymentRequestId` or `refundRequestId` the event is about.
    pub request_id: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_state: Option<String>,
    pub detail: String,
}

/// A payment row as the journal has it now. Amounts are integer minor units of `currency`
/// (its ISO 4217 exponent), never floats. The order code shown to the customer and the
/// digest of a customer's code are not shipped: nothing at the hub needs them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShippedPayment {
    pub payment_request_id: String,
    pub order_ref: String,
    pub amount_minor: u64,
    pub currency: String,
    pub description: String,
    pub operator: String,
    pub product: String,
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_code_last4: Option<String>,
}

/// A refund row as the journal has it now, with its payment's request id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShippedRefund {
    pub refund_request_id: String,
    pub payment_request_id: String,
    pub amount_minor: u64,
    pub currency: String,
    pub reason: String,
    pub manager: String,
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refunded_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_at: Option<String>,
}

/// The filters of `GET /hub/v1/store/transactions`, as on the manager's screen; each is
/// optional and they combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreTransactionsQuery {
    /// A local day (YYYY-MM-DD, the hub's time zone): payments created on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// A journal state (`paid`, `cancelled`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// A product (`order_code`, `user_presented`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// An exact amount in major units (`12.50`), in `currency` when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// A substring of the `paymentRequestId`, Alipay's `paymentId` or the order ref.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// At most this many rows (default and maximum 500), newest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// One row of the store's transactions: a replicated payment with its refund totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreTransaction {
    /// The hub name of the terminal that took it.
    pub terminal: String,
    pub store_id: String,
    pub payment: ShippedPayment,
    /// Major units (`"12.50"`) and minor units of the refunds that succeeded.
    pub refunded: String,
    pub refunded_minor: u64,
    pub refunded_count: u64,
    /// Refunds sent and not final yet: they count against the payment already.
    pub in_flight_minor: u64,
    /// What can still be refunded (0 unless the payment is paid).
    pub remaining_minor: u64,
}

/// One store's totals for one day and currency, in the vocabulary of the terminal's
/// `journal totals --json` (paid, refunded, net; counts; major strings and minor units).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreTotals {
    pub date: String,
    pub store_id: String,
    pub currency: String,
    pub paid_count: u64,
    pub paid: String,
    pub paid_minor: u64,
    pub refunded_count: u64,
    pub refunded: String,
    pub refunded_minor: u64,
    pub net: String,
    pub net_minor: i64,
}

/// `POST`: reserve a refund's amount against a replicated payment ([`ReserveRefund`]);
/// answered with a [`RefundReserved`], or refused (409 not enough left or not paid, 404 no
/// such payment at the hub yet, 403 another store's payment or another terminal's id).
pub const REFUND_RESERVE_PATH: &str = "/hub/v1/refunds/reserve";

/// `POST`: release the reservation of `refund_request_id`: the refund was never journaled,
/// so it was never sent.
pub fn refund_release_path(refund_request_id: &str) -> String {
    format!("/hub/v1/refunds/{refund_request_id}/release")
}

/// A refund the calling terminal is about to journal and send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReserveRefund {
    /// The payment being refunded (taken at any terminal of the caller's store).
    pub payment_request_id: String,
    /// The caller's new `refundRequestId` (its tag).
    pub refund_request_id: String,
    pub amount_minor: u64,
    pub currency: String,
}

/// A refused reservation's body: [`Refused`]'s `error`, and whether the hub only lacks
/// the payment's newest state so far (`notYet`: it is not replicated yet, or its copy is
/// not paid yet), when asking again in a moment may succeed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReservationRefused {
    pub error: String,
    #[serde(default)]
    pub not_yet: bool,
}

/// A reservation made (or found made, for a repeated request).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundReserved {
    pub refund_request_id: String,
    /// The hub name of the terminal that took the payment.
    pub payment_terminal: String,
    /// Alipay's `paymentId` of the payment, which `refund` needs.
    pub payment_id: Option<String>,
    /// What is left to refund after this reservation.
    pub remaining_minor: u64,
}

/// A refund as the chain knows it, with the terminal that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreRefund {
    pub terminal: String,
    pub refund: ShippedRefund,
}

/// An event of a payment's or refund's history, with the terminal whose journal has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreEvent {
    pub terminal: String,
    pub event: ShippedEventWire,
}

/// One payment of the store with its refunds and history: what a detail view shows, and
/// the ids a refund at another counter needs (`paymentRequestId`, `paymentId`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorePaymentDetail {
    pub transaction: StoreTransaction,
    /// Oldest first.
    pub refunds: Vec<StoreRefund>,
    /// The payment's and its refunds' events, by time.
    pub events: Vec<StoreEvent>,
}

// ---------------------------------------------------------------------------------------
// Entry Code (hub ↔ counter)

/// `PUT`: a counter's terminal tells the hub what its Entry Code page shows (an
/// [`EntryCounter`] body, `Authorization: Bearer <token>`); the counter is the terminal's
/// enrolled name.
pub const ENTRY_ORDER_PATH: &str = "/hub/v1/entry-order";

/// The SSE event name of a finished Entry Code payment of the terminal's counter (its data
/// is an [`EntryCodeResult`]); the terminal acknowledges it at [`entry_result_ack_path`].
pub const EVENT_ENTRY_CODE_RESULT: &str = "entry-code-result";

/// `POST` (empty body): the terminal has recorded Entry Code result `id`; it is not sent
/// again.
pub fn entry_result_ack_path(id: i64) -> String {
    format!("/hub/v1/entry-code/results/{id}/ack")
}

/// The store a counter belongs to, as its terminal's `[store]` says: the ids every Entry
/// Code `pay` of that counter carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryStore {
    pub reference_store_id: String,
    pub store_name: String,
    #[serde(rename = "storeMCC")]
    pub store_mcc: String,
}

/// The order the cashier entered, waiting for the customer's wallet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryOrder {
    /// Integer minor units of the counter's currency (550 = SGD 5.50).
    pub amount_minor: u64,
    pub description: String,
    /// The terminal's own reference for the order, echoed in the result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// The body of `PUT /hub/v1/entry-order`: the counter's store and currency, whether a
/// customer may type the amount, and the pending order (`None` clears it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryCounter {
    pub store: EntryStore,
    /// ISO 4217, e.g. `SGD`.
    pub currency: String,
    #[serde(default)]
    pub open_amount: bool,
    #[serde(default)]
    pub order: Option<EntryOrder>,
}

/// What became of an Entry Code payment at the terminal's counter. The hub's PostgreSQL is
/// the record; the terminal keeps this as read-only knowledge for its screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryCodeResult {
    pub id: i64,
    pub payment_request_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    pub store_id: String,
    pub counter: String,
    pub currency: String,
    pub amount_minor: u64,
    /// `success`, `failed` or `cancelled`.
    pub outcome: String,
    /// Alipay's result code (`SUCCESS`, `USER_PAYMENT_VERIFICATION_FAILED`, ...).
    pub result_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_reference: Option<String>,
    /// RFC 3339.
    pub finished_at: String,
}
