//! The outbound-request log: every call to Alipay is written (and committed) *before* it is
//! sent, and its outcome after.
//!
//! That ordering is the point. After a crash, a request with an intent but no outcome is one
//! that may or may not have reached Alipay, so the terminal must inquire (or cancel) instead of
//! assuming either way; a request that was never journaled was never sent.
//!
//! One row per request id. Resending the identical request (same id, API, entity and body hash)
//! is the same request: its intent is returned as recorded, and a later outcome replaces an
//! `unknown` one. A *different* body under a logged id is refused, because that is exactly
//! what Alipay answers with `REPEAT_REQ_INCONSISTENT`; a different request needs its own id.
//! Ids need not be Alipay's idempotency keys (an engine may log `<paymentRequestId>.cancel`),
//! so any printable ASCII up to 128 characters is accepted.

use std::fmt;

use rusqlite::{Connection, params};
use time::OffsetDateTime;

use super::error::JournalError;
use super::state::EntityRef;
use super::timestamp::{from_stored, from_stored_opt, to_stored};
use super::{Journal, check_text};

/// Which call to Alipay a logged request is. The journal's own word for it (not the wire's
/// `Api`, which the journal does not know): recovery decides what an interrupted request may
/// have done by its kind, so a typo must not compile.
///
/// Only calls that can change something at Alipay are logged; inquiries are read-only and a
/// lost one is simply asked again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallKind {
    /// `pay`: may create a payment.
    Pay,
    /// `cancel`: may close (or reverse) a payment.
    Cancel,
    /// `refund`: may return money.
    Refund,
}

impl CallKind {
    pub const ALL: [CallKind; 3] = [CallKind::Pay, CallKind::Cancel, CallKind::Refund];

    /// The stored spelling (the `requests.api` column, unchanged from when it was free text).
    pub fn as_str(self) -> &'static str {
        match self {
            CallKind::Pay => "pay",
            CallKind::Cancel => "cancel",
            CallKind::Refund => "refund",
        }
    }

    pub fn parse(text: &str) -> Option<CallKind> {
        CallKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

impl fmt::Display for CallKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request about to be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestIntent {
    /// Names the request in the log: usually the idempotency key it carries
    /// (`paymentRequestId`, `refundRequestId`).
    pub request_id: String,
    /// Which call it is.
    pub api: CallKind,
    /// The payment or refund the request is about.
    pub entity: EntityRef,
    /// Lowercase hex SHA-256 of the exact body sent; proves later that a retry sent the same
    /// request (Alipay answers `REPEAT_REQ_INCONSISTENT` otherwise) without storing bodies.
    pub body_sha256: String,
}

/// How a send ended, as far as the terminal can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestOutcome {
    /// Alipay answered `S`.
    Success,
    /// Alipay answered `F`.
    Failed,
    /// `U`, a timeout, a non-200 or an unverifiable answer: it may or may not have happened.
    Unknown,
}

impl RequestOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestOutcome::Success => "success",
            RequestOutcome::Failed => "failed",
            RequestOutcome::Unknown => "unknown",
        }
    }

    fn parse(text: &str) -> Option<RequestOutcome> {
        [
            RequestOutcome::Success,
            RequestOutcome::Failed,
            RequestOutcome::Unknown,
        ]
        .into_iter()
        .find(|o| o.as_str() == text)
    }
}

impl std::str::FromStr for RequestOutcome {
    type Err = JournalError;

    /// Accepts the stored spellings `success`, `failed`, `unknown`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        RequestOutcome::parse(text).ok_or_else(|| JournalError::InvalidInput {
            field: "outcome",
            reason: format!("`{text}` is not one of success, failed, unknown"),
        })
    }
}

impl fmt::Display for RequestOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One logged request as the journal holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// Position in the log; increasing, never reused.
    pub seq: i64,
    pub request_id: String,
    pub api: CallKind,
    pub entity: EntityRef,
    pub body_sha256: String,
    /// When the intent was committed.
    pub created_at: OffsetDateTime,
    /// When the engine reported handing it to the network ([`Journal::record_request_sent`]);
    /// empty if it did not say.
    pub sent_at: Option<OffsetDateTime>,
    /// Empty while the request is (or was, before a crash) in flight. The latest outcome
    /// when an `unknown` one was followed by a resend.
    pub outcome: Option<RequestOutcome>,
    /// Alipay's `resultCode`, or a local code such as `TIMEOUT`.
    pub code: Option<String>,
    pub finished_at: Option<OffsetDateTime>,
}

const REQUEST_COLUMNS: &str = "seq, request_id, api, entity_kind, entity_id, body_sha256, \
    created_at, sent_at, outcome, code, finished_at";

type RawRequest = (
    i64,
    String,
    String,
    String,
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn read_raw(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawRequest> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
        row.get(9)?,
        row.get(10)?,
    ))
}

fn into_record(raw: RawRequest) -> Result<RequestRecord, JournalError> {
    let (seq, request_id, api, kind, id, body_sha256, created_at, sent_at, outcome, code, finished) =
        raw;
    let unreadable = |what: String| JournalError::Unreadable {
        what: format!("request #{seq}: {what}"),
    };
    let outcome = match outcome {
        Some(text) => Some(
            RequestOutcome::parse(&text).ok_or_else(|| unreadable(format!("outcome `{text}`")))?,
        ),
        None => None,
    };
    let api = CallKind::parse(&api).ok_or_else(|| unreadable(format!("call kind `{api}`")))?;
    Ok(RequestRecord {
        seq,
        request_id,
        api,
        entity: EntityRef::from_columns(&kind, id)
            .ok_or_else(|| unreadable(format!("entity `{kind}`")))?,
        body_sha256,
        created_at: from_stored(&created_at)?,
        sent_at: from_stored_opt(sent_at)?,
        outcome,
        code,
        finished_at: from_stored_opt(finished)?,
    })
}

fn query_requests(
    conn: &Connection,
    condition: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<RequestRecord>, JournalError> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {REQUEST_COLUMNS} FROM requests WHERE {condition} ORDER BY seq"
    ))?;
    let raws = statement
        .query_map(args, read_raw)?
        .collect::<Result<Vec<_>, _>>()?;
    raws.into_iter().map(into_record).collect()
}

/// Every logged request this build cannot read (an unknown call kind, say), with the entity
/// it is about and why, for `journal check`.
pub(crate) fn unreadable_requests(
    conn: &Connection,
) -> Result<Vec<(Option<EntityRef>, String)>, JournalError> {
    let mut statement = conn.prepare(&format!(
        "SELECT {REQUEST_COLUMNS} FROM requests ORDER BY seq"
    ))?;
    let raws = statement
        .query_map([], read_raw)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(raws
        .into_iter()
        .filter_map(|raw| {
            let entity = EntityRef::from_columns(&raw.3, raw.4);
            into_record(raw)
                .err()
                .map(|error| (entity, error.to_string()))
        })
        .collect())
}

fn find_request(
    conn: &Connection,
    request_id: &str,
) -> Result<Option<RequestRecord>, JournalError> {
    Ok(query_requests(conn, "request_id = ?1", [request_id])?.pop())
}

fn load_request(conn: &Connection, request_id: &str) -> Result<RequestRecord, JournalError> {
    find_request(conn, request_id)?.ok_or_else(|| JournalError::NotFound {
        what: format!("request `{request_id}`"),
    })
}

/// Any printable ASCII without spaces, 1 to 128 characters.
fn check_log_id(request_id: &str) -> Result<(), JournalError> {
    let ok = !request_id.is_empty()
        && request_id.len() <= 128
        && request_id.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(JournalError::InvalidInput {
            field: "request_id",
            reason: format!(
                "`{request_id}` is not a valid request id; use 1 to 128 printable ASCII \
                 characters without spaces"
            ),
        })
    }
}

fn check_sha256(hash: &str) -> Result<(), JournalError> {
    let ok = hash.len() == 64
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok {
        Ok(())
    } else {
        Err(JournalError::InvalidInput {
            field: "body_sha256",
            reason: "must be 64 lowercase hexadecimal digits (a SHA-256 digest)".to_owned(),
        })
    }
}

impl Journal {
    /// Commits the intent to send a request; only send it after this returns `Ok`.
    ///
    /// Under `synchronous=FULL` the row is on disk when this returns, so if the terminal
    /// crashes while the request is in flight, [`Journal::unfinished_requests`] lists it after
    /// the restart. Logging the identical request again returns the recorded intent (a resend);
    /// the same id with another API, entity or body is refused with
    /// [`JournalError::RequestIdReused`].
    pub fn record_request_intent(
        &mut self,
        intent: RequestIntent,
    ) -> Result<RequestRecord, JournalError> {
        check_log_id(&intent.request_id)?;
        check_sha256(&intent.body_sha256)?;
        let now = to_stored(self.now(), "created_at")?;
        let tx = self.begin_write()?;
        if let Some(existing) = find_request(&tx, &intent.request_id)? {
            if existing.api == intent.api
                && existing.entity == intent.entity
                && existing.body_sha256 == intent.body_sha256
            {
                return Ok(existing);
            }
            return Err(JournalError::RequestIdReused {
                request_id: intent.request_id,
                api: existing.api,
                entity: existing.entity,
            });
        }
        let exists: bool = tx.query_row(
            "SELECT CASE ?1 WHEN 'payment' THEN EXISTS (SELECT 1 FROM payments WHERE id = ?2)
                            ELSE EXISTS (SELECT 1 FROM refunds WHERE id = ?2) END",
            params![intent.entity.kind(), intent.entity.id()],
            |r| r.get(0),
        )?;
        if !exists {
            return Err(JournalError::NotFound {
                what: intent.entity.to_string(),
            });
        }
        tx.prepare_cached(
            "INSERT INTO requests (request_id, api, entity_kind, entity_id, body_sha256,
                 created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            intent.request_id,
            intent.api.as_str(),
            intent.entity.kind(),
            intent.entity.id(),
            intent.body_sha256,
            now,
        ])?;
        let record = load_request(&tx, &intent.request_id)?;
        tx.commit()?;
        Ok(record)
    }

    /// Optionally notes the moment the request was first handed to the network; later calls
    /// keep the first time.
    pub fn record_request_sent(&mut self, request_id: &str) -> Result<RequestRecord, JournalError> {
        let now = to_stored(self.now(), "sent_at")?;
        let tx = self.begin_write()?;
        let current = load_request(&tx, request_id)?;
        tx.prepare_cached("UPDATE requests SET sent_at = coalesce(sent_at, ?1) WHERE seq = ?2")?
            .execute(params![now, current.seq])?;
        let record = load_request(&tx, request_id)?;
        tx.commit()?;
        Ok(record)
    }

    /// Records how the request ended (`code`: Alipay's `resultCode`, or a local reason such as
    /// a timeout).
    ///
    /// An `unknown` outcome is provisional: a resend may replace it with whatever it learns. A
    /// `success` or `failed` is what Alipay decided and is kept: repeating it identically
    /// returns the record, anything else is refused with
    /// [`JournalError::RequestAlreadyFinished`].
    pub fn record_request_outcome(
        &mut self,
        request_id: &str,
        outcome: RequestOutcome,
        code: Option<&str>,
    ) -> Result<RequestRecord, JournalError> {
        if let Some(code) = code {
            check_text("code", code, 256, true)?;
        }
        let now = to_stored(self.now(), "finished_at")?;
        let tx = self.begin_write()?;
        let current = load_request(&tx, request_id)?;
        match current.outcome {
            Some(stored) if stored == outcome && current.code.as_deref() == code => {
                return Ok(current);
            }
            Some(stored @ (RequestOutcome::Success | RequestOutcome::Failed)) => {
                return Err(JournalError::RequestAlreadyFinished {
                    request_id: current.request_id,
                    stored: match current.code {
                        Some(code) => format!("{stored} ({code})"),
                        None => stored.to_string(),
                    },
                });
            }
            Some(RequestOutcome::Unknown) | None => {}
        }
        tx.prepare_cached(
            "UPDATE requests SET outcome = ?1, code = ?2, finished_at = ?3 WHERE seq = ?4",
        )?
        .execute(params![outcome.as_str(), code, now, current.seq])?;
        let record = load_request(&tx, request_id)?;
        tx.commit()?;
        Ok(record)
    }

    /// One logged request by its id.
    pub fn request(&self, request_id: &str) -> Result<Option<RequestRecord>, JournalError> {
        find_request(&self.conn, request_id)
    }

    /// Every request about one payment or refund, oldest first.
    pub fn requests_for(
        &self,
        entity: impl Into<EntityRef>,
    ) -> Result<Vec<RequestRecord>, JournalError> {
        let entity = entity.into();
        query_requests(
            &self.conn,
            "entity_kind = ?1 AND entity_id = ?2",
            params![entity.kind(), entity.id()],
        )
    }

    /// Requests with an intent but no outcome, oldest first. Right after start-up these are
    /// the requests a crash interrupted: each may or may not have reached Alipay.
    pub fn unfinished_requests(&self) -> Result<Vec<RequestRecord>, JournalError> {
        query_requests(&self.conn, "outcome IS NULL", [])
    }
}
