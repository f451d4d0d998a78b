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
