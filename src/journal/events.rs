//! The append-only event log: one row per thing that happened to a payment or refund.
//!
//! State changes write their event in the same transaction as the row change (see
//! `payments.rs`, `refunds.rs`); [`Journal::append_event`] adds free-form notes such as
//! "notification received" that explain the history without changing state. Rows are never
//! updated or deleted (schema triggers abort both), so the log is evidence, not a cache.

use rusqlite::{Connection, params};
use time::OffsetDateTime;

use super::error::JournalError;
use super::state::{Actor, EntityRef};
use super::timestamp::{from_stored, to_stored};
use super::{Journal, check_text};

/// What kind of entry an event is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// The payment or refund was journaled (`to_state` is its first state).
    Created,
    /// A change of state.
    Transition,
    /// New facts (e.g. a result code) recorded without leaving a non-final state.
    Update,
    /// A free-form note; no state change (`from_state` and `to_state` are empty).
    Note,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Transition => "transition",
            EventKind::Update => "update",
            EventKind::Note => "note",
        }
    }

    fn parse(text: &str) -> Option<EventKind> {
        [
            EventKind::Created,
            EventKind::Transition,
            EventKind::Update,
            EventKind::Note,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }
}

/// One entry of the event log. States are the stored spellings (`"paid"`, `"requested"`)
/// because one log covers both payments and refunds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRecord {
    /// Position in the log; strictly increasing and never reused.
    pub seq: i64,
    pub at: OffsetDateTime,
    pub actor: Actor,
    pub entity: EntityRef,
    pub kind: EventKind,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub detail: String,
}

/// A new event, as the writers in this module build it.
pub(crate) struct NewEvent<'a> {
    pub at: OffsetDateTime,
    pub actor: Actor,
    pub entity: EntityRef,
    pub kind: EventKind,
    pub from_state: Option<&'a str>,
    pub to_state: Option<&'a str>,
    pub detail: &'a str,
}

/// Appends an event inside the caller's transaction; returns its `seq`.
pub(crate) fn insert_event(conn: &Connection, event: &NewEvent<'_>) -> Result<i64, JournalError> {
    let at = to_stored(event.at, "event time")?;
    conn.prepare_cached(
        "INSERT INTO events (at, actor, entity_kind, entity_id, kind, from_state, to_state, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        at,
        event.actor.as_str(),
        event.entity.kind(),
        event.entity.id(),
        event.kind.as_str(),
        event.from_state,
        event.to_state,
        event.detail,
    ])?;
    Ok(conn.last_insert_rowid())
}

const EVENT_COLUMNS: &str =
    "seq, at, actor, entity_kind, entity_id, kind, from_state, to_state, detail";

type RawEvent = (
    i64,
    String,
    String,
    String,
    i64,
    String,
    Option<String>,
    Option<String>,
    String,
);

fn read_raw(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawEvent> {
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
    ))
}

fn into_record(raw: RawEvent) -> Result<EventRecord, JournalError> {
    let (seq, at, actor, entity_kind, entity_id, kind, from_state, to_state, detail) = raw;
    let unreadable = |what: String| JournalError::Unreadable {
        what: format!("event #{seq}: {what}"),
    };
    Ok(EventRecord {
        seq,
        at: from_stored(&at)?,
        actor: Actor::parse(&actor).ok_or_else(|| unreadable(format!("actor `{actor}`")))?,
        entity: EntityRef::from_columns(&entity_kind, entity_id)
            .ok_or_else(|| unreadable(format!("entity `{entity_kind}`")))?,
        kind: EventKind::parse(&kind).ok_or_else(|| unreadable(format!("kind `{kind}`")))?,
        from_state,
        to_state,
        detail,
    })
}

/// The history of one payment or refund, oldest first.
pub(crate) fn events_of(
    conn: &Connection,
    entity: EntityRef,
) -> Result<Vec<EventRecord>, JournalError> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {EVENT_COLUMNS} FROM events
         WHERE entity_kind = ?1 AND entity_id = ?2 ORDER BY seq"
    ))?;
    let raws = statement
        .query_map(params![entity.kind(), entity.id()], read_raw)?
        .collect::<Result<Vec<_>, _>>()?;
    raws.into_iter().map(into_record).collect()
}

/// Events after `after_seq` about the payments and refunds of the day `[start, end)`
/// (stored times), oldest first, each with the request id it is about.
///
/// A payment is the day's when it was created or paid in it; a refund when it was created
/// or carried out in it, or is against one of the day's payments (a refund the next
/// morning of yesterday's sale is news for yesterday's close).
pub(crate) fn events_after(
    conn: &Connection,
    after_seq: i64,
    start: &str,
    end: &str,
) -> Result<Vec<(EventRecord, String)>, JournalError> {
    let columns = EVENT_COLUMNS
        .split(',')
        .map(|column| format!("e.{}", column.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    let mut statement = conn.prepare_cached(&format!(
        "WITH day_payments AS (
             SELECT id FROM payments
             WHERE (created_at >= ?2 AND created_at < ?3) OR (paid_at >= ?2 AND paid_at < ?3)
         ),
         day_refunds AS (
             SELECT id FROM refunds
             WHERE (created_at >= ?2 AND created_at < ?3)
                OR (refunded_at >= ?2 AND refunded_at < ?3)
                OR payment IN (SELECT id FROM day_payments)
         )
         SELECT {columns}, coalesce(p.payment_request_id, r.refund_request_id, '')
         FROM events AS e
         LEFT JOIN payments AS p ON e.entity_kind = 'payment' AND p.id = e.entity_id
         LEFT JOIN refunds AS r ON e.entity_kind = 'refund' AND r.id = e.entity_id
         WHERE e.seq > ?1
           AND ((e.entity_kind = 'payment' AND e.entity_id IN (SELECT id FROM day_payments))
             OR (e.entity_kind = 'refund' AND e.entity_id IN (SELECT id FROM day_refunds)))
         ORDER BY e.seq"
    ))?;
    let raws = statement
        .query_map(params![after_seq, start, end], |row| {
            Ok((read_raw(row)?, row.get::<_, String>(9)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    raws.into_iter()
        .map(|(raw, request_id)| Ok((into_record(raw)?, request_id)))
        .collect()
}

pub(crate) fn load_event(conn: &Connection, seq: i64) -> Result<EventRecord, JournalError> {
    let raw = conn
        .prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE seq = ?1"
        ))?
        .query_row([seq], read_raw)?;
    into_record(raw)
}

impl Journal {
    /// The history of one payment or refund, oldest first.
    pub fn events_for(
        &self,
        entity: impl Into<EntityRef>,
    ) -> Result<Vec<EventRecord>, JournalError> {
        events_of(&self.conn, entity.into())
    }

    /// Adds a note to an entity's history without changing its state, e.g. "notification
    /// received, ignored: payment already final" or "receipt reprinted". Refuses an entity
    /// that is not in the journal.
    pub fn append_event(
        &mut self,
        entity: impl Into<EntityRef>,
        actor: Actor,
        detail: &str,
    ) -> Result<EventRecord, JournalError> {
        let entity = entity.into();
        check_text("detail", detail, 4096, true)?;
        let at = self.now();
        let tx = self.begin_write()?;
        let exists: bool = tx.query_row(
            "SELECT CASE ?1 WHEN 'payment' THEN EXISTS (SELECT 1 FROM payments WHERE id = ?2)
                            ELSE EXISTS (SELECT 1 FROM refunds WHERE id = ?2) END",
            params![entity.kind(), entity.id()],
            |r| r.get(0),
        )?;
        if !exists {
            return Err(JournalError::NotFound {
                what: entity.to_string(),
            });
        }
        let seq = insert_event(
            &tx,
            &NewEvent {
                at,
                actor,
                entity,
                kind: EventKind::Note,
                from_state: None,
                to_state: None,
                detail,
            },
        )?;
        let record = load_event(&tx, seq)?;
        tx.commit()?;
        Ok(record)
    }
}
