//! What a terminal ships to its store hub: the append-only event log in `seq` order, with
//! the payment and refund rows those events are about, read in one snapshot.
//!
//! Only the read side is here (a [`Reader`] query), so shipping never touches the engine's
//! connection and never waits for it. The rows are shipped as they are *now*, not as they
//! were at each event: the hub keeps the newest copy of a row (by `updated_at`), and the
//! events are the history.

use rusqlite::params;

use super::error::JournalError;
use super::events::EventRecord;
use super::payments::{PAYMENT_COLUMNS, PaymentRecord, RawPayment, read_raw as read_payment};
use super::reader::Reader;
use super::refunds::{RefundRecord, query_refunds};

/// One batch of the event log and the rows it touches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicationBatch {
    /// Events with `seq` above the cursor asked for, oldest first; at most the limit.
    pub events: Vec<ShippedEvent>,
    /// Every payment an event of the batch is about, or whose refund one is about.
    pub payments: Vec<PaymentRecord>,
    /// Every refund an event of the batch is about, with its payment's request id.
    pub refunds: Vec<(RefundRecord, String)>,
}

/// An event with the request id of the payment or refund it is about: local row ids mean
/// nothing outside this journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShippedEvent {
    pub event: EventRecord,
    pub request_id: String,
}

impl Reader {
    /// The event log's last `seq` (0 when empty): how far a shipper has to go.
    pub fn last_event_seq(&self) -> Result<i64, JournalError> {
        Ok(self
            .connection()
            .query_row("SELECT coalesce(max(seq), 0) FROM events", [], |r| r.get(0))?)
    }

    /// Up to `limit` events after `after_seq`, with the rows they touch, all read in one
    /// transaction so the rows are at least as new as the events.
    pub fn replication_batch(
        &self,
        after_seq: i64,
        limit: u32,
    ) -> Result<ReplicationBatch, JournalError> {
        let snapshot = self.connection().unchecked_transaction()?;
        let mut statement = snapshot.prepare_cached(
            "SELECT e.seq, coalesce(p.payment_request_id, r.refund_request_id, '')
             FROM events AS e
             LEFT JOIN payments AS p ON e.entity_kind = 'payment' AND p.id = e.entity_id
             LEFT JOIN refunds AS r ON e.entity_kind = 'refund' AND r.id = e.entity_id
             WHERE e.seq > ?1 ORDER BY e.seq LIMIT ?2",
        )?;
        let picked = statement
            .query_map(params![after_seq, limit], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        drop(statement);
        let mut events = Vec::with_capacity(picked.len());
        for (seq, request_id) in picked {
            events.push(ShippedEvent {
                event: super::events::load_event(&snapshot, seq)?,
                request_id,
            });
        }
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            return Ok(ReplicationBatch {
                events,
                payments: Vec::new(),
                refunds: Vec::new(),
            });
        };
        let (from, to) = (first.event.seq, last.event.seq);
        let refunds = query_refunds(
            &snapshot,
            "id IN (SELECT entity_id FROM events
                    WHERE entity_kind = 'refund' AND seq BETWEEN ?1 AND ?2)",
            params![from, to],
        )?;
        let columns = PAYMENT_COLUMNS;
        let mut statement = snapshot.prepare_cached(&format!(
            "SELECT {columns} FROM payments WHERE id IN (
                 SELECT entity_id FROM events
                 WHERE entity_kind = 'payment' AND seq BETWEEN ?1 AND ?2
                 UNION
                 SELECT r.payment FROM events AS e JOIN refunds AS r ON r.id = e.entity_id
                 WHERE e.entity_kind = 'refund' AND e.seq BETWEEN ?1 AND ?2)
             ORDER BY id"
        ))?;
        let raws = statement
            .query_map(params![from, to], read_payment)?
            .collect::<Result<Vec<_>, _>>()?;
        drop(statement);
        let payments = raws
            .into_iter()
            .map(RawPayment::into_record)
            .collect::<Result<Vec<_>, _>>()?;
        let refunds = refunds
            .into_iter()
            .map(|refund| {
                let request_id = payments
                    .iter()
                    .find(|p| p.id == refund.payment)
                    .map(|p| p.payment_request_id.clone())
                    .ok_or_else(|| JournalError::Unreadable {
                        what: format!("{}: its payment is missing", refund.refund_request_id),
                    })?;
                Ok((refund, request_id))
            })
            .collect::<Result<Vec<_>, JournalError>>()?;
        drop(snapshot);
        Ok(ReplicationBatch {
            events,
            payments,
            refunds,
        })
    }
}
