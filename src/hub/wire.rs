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
