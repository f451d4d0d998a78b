//! Refunds: one row per `refundRequestId`, each against one paid payment.
//!
//! A refund counts against its payment from the moment it is journaled (before `refund` is
//! sent) until it fails: an unanswered refund may still be carried out by Alipay, so its amount
//! must not be offered again.

use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;

use crate::money::{MinorTotal, Money};

use super::error::JournalError;
use super::events::{EventKind, NewEvent, insert_event};
use super::payments::{PaymentRecord, PaymentRef, load_payment};
use super::state::{
    Actor, EntityRef, PaymentLocalId, PaymentState, RefundLocalId, RefundState, Resolution,
    open_refund_states_sql,
};
use super::timestamp::{from_stored, from_stored_opt, to_stored, truncate};
use super::{Journal, check_request_id, check_text, minor_to_sql, money_from_sql};

/// A refund about to be sent to Alipay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRefund {
    /// The idempotency key sent as `refundRequestId`; a retry of the same refund reuses it,
    /// a new refund (even after a failure) needs a new one.
    pub refund_request_id: String,
    pub payment: PaymentLocalId,
    pub amount: Money,
    pub reason: String,
    /// The manager who authorised it.
    pub manager: String,
}

/// A refund as the journal holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundRecord {
    pub id: RefundLocalId,
    pub refund_request_id: String,
    pub payment: PaymentLocalId,
    pub amount: Money,
    pub reason: String,
    pub manager: String,
    pub state: RefundState,
    /// Alipay's `refundId`, once known.
    pub refund_id: Option<String>,
    pub result_code: Option<String>,
    pub result_message: Option<String>,
    pub resolution: Option<Resolution>,
    /// When Alipay carried the refund out (its `refundTime` when known).
    pub refunded_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub final_at: Option<OffsetDateTime>,
}

impl RefundRecord {
    pub fn entity(&self) -> EntityRef {
        EntityRef::Refund(self.id)
    }
}

/// Facts learned along with a refund's state change; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RefundUpdate {
    /// Alipay's `refundId`; required to become `Succeeded`, and set once.
    pub refund_id: Option<String>,
    pub result_code: Option<String>,
    pub result_message: Option<String>,
    pub resolution: Option<Resolution>,
    /// Only with a transition to `Succeeded`; defaults to the journal's clock when absent.
    pub refunded_at: Option<OffsetDateTime>,
}

/// Names a refund by the journal's number or by its `refundRequestId`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefundRef<'a> {
    Local(RefundLocalId),
    RequestId(&'a str),
}

impl From<RefundLocalId> for RefundRef<'_> {
    fn from(id: RefundLocalId) -> Self {
        RefundRef::Local(id)
    }
}

impl<'a> From<&'a str> for RefundRef<'a> {
    fn from(id: &'a str) -> Self {
        RefundRef::RequestId(id)
    }
}

impl<'a> From<&'a String> for RefundRef<'a> {
    fn from(id: &'a String) -> Self {
        RefundRef::RequestId(id)
    }
}

impl From<&RefundRecord> for RefundRef<'_> {
    fn from(record: &RefundRecord) -> Self {
        RefundRef::Local(record.id)
    }
}

pub(crate) const REFUND_COLUMNS: &str = "id, refund_request_id, payment, amount_minor, currency, reason, \
    manager, state, refund_id, result_code, result_message, resolution, refunded_at, \
    created_at, updated_at, final_at";

pub(crate) struct RawRefund {
    id: i64,
    refund_request_id: String,
    payment: i64,
    amount_minor: i64,
    currency: String,
    reason: String,
    manager: String,
    state: String,
    refund_id: Option<String>,
    result_code: Option<String>,
    result_message: Option<String>,
    resolution: Option<String>,
    refunded_at: Option<String>,
    created_at: String,
    updated_at: String,
    final_at: Option<String>,
}

pub(crate) fn read_raw(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawRefund> {
    Ok(RawRefund {
        id: row.get(0)?,
        refund_request_id: row.get(1)?,
        payment: row.get(2)?,
        amount_minor: row.get(3)?,
        currency: row.get(4)?,
        reason: row.get(5)?,
        manager: row.get(6)?,
        state: row.get(7)?,
        refund_id: row.get(8)?,
        result_code: row.get(9)?,
        result_message: row.get(10)?,
        resolution: row.get(11)?,
        refunded_at: row.get(12)?,
        created_at: row.get(13)?,
        updated_at: row.get(14)?,
        final_at: row.get(15)?,
    })
}

impl RawRefund {
    pub(crate) fn into_record(self) -> Result<RefundRecord, JournalError> {
        let what = format!("refund #{}", self.id);
        let unreadable = |detail: String| JournalError::Unreadable {
            what: format!("{what}: {detail}"),
        };
        let state = RefundState::parse(&self.state)
            .ok_or_else(|| unreadable(format!("state `{}`", self.state)))?;
        let resolution = match self.resolution {
            Some(text) => Some(
                Resolution::parse(&text)
                    .ok_or_else(|| unreadable(format!("resolution `{text}`")))?,
            ),
            None => None,
        };
        Ok(RefundRecord {
            id: RefundLocalId(self.id),
            amount: money_from_sql(self.amount_minor, &self.currency, &what)?,
            refund_request_id: self.refund_request_id,
            payment: PaymentLocalId(self.payment),
            reason: self.reason,
            manager: self.manager,
            state,
            refund_id: self.refund_id,
            result_code: self.result_code,
            result_message: self.result_message,
            resolution,
            refunded_at: from_stored_opt(self.refunded_at)?,
            created_at: from_stored(&self.created_at)?,
            updated_at: from_stored(&self.updated_at)?,
            final_at: from_stored_opt(self.final_at)?,
        })
    }
}

fn find_refund(
    conn: &Connection,
    key: RefundRef<'_>,
) -> Result<Option<RefundRecord>, JournalError> {
    let raw = match key {
        RefundRef::Local(id) => conn
            .prepare_cached(&format!(
                "SELECT {REFUND_COLUMNS} FROM refunds WHERE id = ?1"
            ))?
            .query_row([id.0], read_raw)
            .optional()?,
        RefundRef::RequestId(request_id) => conn
            .prepare_cached(&format!(
                "SELECT {REFUND_COLUMNS} FROM refunds WHERE refund_request_id = ?1"
            ))?
            .query_row([request_id], read_raw)
            .optional()?,
    };
    raw.map(RawRefund::into_record).transpose()
}

fn load_refund(conn: &Connection, key: RefundRef<'_>) -> Result<RefundRecord, JournalError> {
    find_refund(conn, key)?.ok_or_else(|| JournalError::NotFound {
        what: match key {
            RefundRef::Local(id) => id.to_string(),
            RefundRef::RequestId(request_id) => format!("refund with request id `{request_id}`"),
        },
    })
}

pub(crate) fn query_refunds(
    conn: &Connection,
    condition: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<RefundRecord>, JournalError> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {REFUND_COLUMNS} FROM refunds WHERE {condition} ORDER BY id"
    ))?;
    let raws = statement
        .query_map(args, read_raw)?
        .collect::<Result<Vec<_>, _>>()?;
    raws.into_iter().map(RawRefund::into_record).collect()
}

/// What is still refundable on `payment`: its amount minus every refund that is not `Failed`.
/// Zero unless the payment is `Paid`.
fn remaining_for(conn: &Connection, payment: &PaymentRecord) -> Result<MinorTotal, JournalError> {
    let currency = payment.amount.currency();
    if payment.state != PaymentState::Paid {
        return Ok(MinorTotal::zero(currency));
    }
    let committed: i64 = conn
        .prepare_cached(
            "SELECT coalesce(sum(amount_minor), 0) FROM refunds
             WHERE payment = ?1 AND state <> 'failed'",
        )?
        .query_row([payment.id.0], |r| r.get(0))?;
    let committed = u64::try_from(committed).map_err(|_| JournalError::Unreadable {
        what: format!("refund total {committed} of {}", payment.id),
    })?;
    // Saturating: refunds already over the payment (only in a damaged file) leave nothing.
    let left = payment.amount.minor().saturating_sub(committed);
    Ok(Money::from_minor(left, currency).map_or(MinorTotal::zero(currency), MinorTotal::from))
}

impl Journal {
    /// Journals a refund in state `Requested`, before `refund` is sent.
    ///
    /// In one IMMEDIATE transaction it checks that the payment is `Paid`, that the currencies
    /// match, and that the refunds not yet failed plus this one stay within the payment;
    /// holding the write lock across check and insert is what stops two terminals (or two
    /// connections) from both refunding the last of a payment.
    pub fn create_refund(
        &mut self,
        new: NewRefund,
        actor: Actor,
    ) -> Result<RefundRecord, JournalError> {
        check_request_id("refund_request_id", &new.refund_request_id)?;
        check_text("reason", &new.reason, 256, false)?;
        check_text("manager", &new.manager, 64, true)?;
        let now = self.now();
        let stamp = to_stored(now, "created_at")?;
        let tx = self.begin_write()?;
        let payment = load_payment(&tx, PaymentRef::Local(new.payment))?;
        if payment.state != PaymentState::Paid {
            return Err(JournalError::PaymentNotPaid {
                payment: payment.id,
                state: payment.state,
            });
        }
        if payment.amount.currency() != new.amount.currency() {
            return Err(JournalError::CurrencyMismatch {
                payment: payment.amount.currency(),
                refund: new.amount.currency(),
            });
        }
        if find_refund(&tx, RefundRef::RequestId(&new.refund_request_id))?.is_some() {
            return Err(JournalError::DuplicateRequestId {
                id: new.refund_request_id,
            });
        }
        let remaining = remaining_for(&tx, &payment)?;
        if new.amount.minor() > remaining.minor() {
            return Err(JournalError::RefundExceedsPayment {
                payment: payment.id,
                requested: new.amount,
                remaining,
            });
        }
        tx.prepare_cached(
            "INSERT INTO refunds (refund_request_id, payment, amount_minor, currency, reason,
                 manager, state, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
        )?
        .execute(params![
            new.refund_request_id,
            payment.id.0,
            minor_to_sql(new.amount.minor())?,
            new.amount.currency().code(),
            new.reason,
            new.manager,
            RefundState::Requested.as_str(),
            stamp,
        ])?;
        let id = RefundLocalId(tx.last_insert_rowid());
        let detail = format!(
            "{} {} of {} authorised by {}: {}",
            new.amount.currency(),
            new.amount.major_string(),
            payment.id,
            new.manager,
            new.reason
        );
        insert_event(
            &tx,
            &NewEvent {
                at: now,
                actor,
                entity: EntityRef::Refund(id),
                kind: EventKind::Created,
                from_state: None,
                to_state: Some(RefundState::Requested.as_str()),
                detail: &detail,
            },
        )?;
        let record = load_refund(&tx, RefundRef::Local(id))?;
        tx.commit()?;
        Ok(record)
    }

    /// Moves a refund to `to` with what was learned, plus one event, in one transaction.
    ///
    /// Same rules as [`Journal::transition_payment`]: illegal moves are refused, `Succeeded`
    /// needs `refund_id` (and defaults `refunded_at` to now), `refund_id` is set once, and a
    /// repeat of the current state with nothing new is a no-op without an event.
    pub fn transition_refund<'a>(
        &mut self,
        refund: impl Into<RefundRef<'a>>,
        to: RefundState,
        actor: Actor,
        detail: &str,
        update: RefundUpdate,
    ) -> Result<RefundRecord, JournalError> {
        check_text("detail", detail, 4096, false)?;
        for (field, value, max) in [
            ("refund_id", &update.refund_id, 64),
            ("result_code", &update.result_code, 64),
            ("result_message", &update.result_message, 1024),
        ] {
            if let Some(value) = value {
                check_text(field, value, max, true)?;
            }
        }
        let now = self.now();
        let tx = self.begin_write()?;
        let current = load_refund(&tx, refund.into())?;
        let entity = current.entity();
        let from = current.state;
        let illegal = || JournalError::IllegalRefundTransition {
            refund: current.id,
            from,
            to,
        };
        if update.refunded_at.is_some() && to != RefundState::Succeeded {
            return Err(JournalError::InvalidInput {
                field: "refunded_at",
                reason: format!("can only be given when the refund succeeds, not {to}"),
            });
        }
        if let (Some(stored), Some(given)) = (&current.refund_id, &update.refund_id)
            && stored != given
        {
            return Err(JournalError::FieldConflict {
                entity,
                field: "refund_id",
                stored: stored.clone(),
                given: given.clone(),
            });
        }

        let mut next = current.clone();
        next.state = to;
        if let Some(v) = &update.refund_id {
            next.refund_id = Some(v.clone());
        }
        if let Some(v) = &update.result_code {
            next.result_code = Some(v.clone());
        }
        if let Some(v) = &update.result_message {
            next.result_message = Some(v.clone());
        }
        if let Some(v) = update.resolution {
            next.resolution = Some(v);
        }
        let kind = if to == from {
            if let Some(v) = update.refunded_at {
                next.refunded_at = Some(truncate(v));
            }
            if next == current {
                return Ok(current);
            }
            if from.is_final() {
                return Err(illegal());
            }
            EventKind::Update
        } else {
            if !from.can_become(to) {
                return Err(illegal());
            }
            if to == RefundState::Succeeded {
                next.refunded_at = Some(update.refunded_at.map(truncate).unwrap_or(now));
                next.final_at = Some(now);
            }
            if to == RefundState::Failed {
                next.final_at = Some(now);
            }
            EventKind::Transition
        };
        if to == RefundState::Succeeded && next.refund_id.is_none() {
            return Err(JournalError::MissingField {
                entity,
                state: to.as_str(),
                field: "refund_id",
            });
        }
        if let Some(refund_id) = &next.refund_id {
            let other: Option<i64> = tx
                .prepare_cached("SELECT id FROM refunds WHERE refund_id = ?1 AND id <> ?2")?
                .query_row(params![refund_id, current.id.0], |r| r.get(0))
                .optional()?;
            if let Some(other) = other {
                return Err(JournalError::AlipayIdInUse {
                    id: refund_id.clone(),
                    other: EntityRef::Refund(RefundLocalId(other)),
                });
            }
        }
        next.updated_at = now;
        let stored =
            |at: Option<OffsetDateTime>, field| at.map(|at| to_stored(at, field)).transpose();
        tx.prepare_cached(
            "UPDATE refunds SET state = ?1, refund_id = ?2, result_code = ?3,
                 result_message = ?4, resolution = ?5, refunded_at = ?6, updated_at = ?7,
                 final_at = ?8
             WHERE id = ?9",
        )?
        .execute(params![
            next.state.as_str(),
            next.refund_id,
            next.result_code,
            next.result_message,
            next.resolution.map(Resolution::as_str),
            stored(next.refunded_at, "refunded_at")?,
            to_stored(next.updated_at, "updated_at")?,
            stored(next.final_at, "final_at")?,
            next.id.0,
        ])?;
        insert_event(
            &tx,
            &NewEvent {
                at: now,
                actor,
                entity,
                kind,
                from_state: Some(from.as_str()),
                to_state: Some(to.as_str()),
                detail,
            },
        )?;
        let record = load_refund(&tx, RefundRef::Local(current.id))?;
        tx.commit()?;
        Ok(record)
    }

    /// One refund by the journal's number.
    pub fn refund(&self, id: RefundLocalId) -> Result<Option<RefundRecord>, JournalError> {
        find_refund(&self.conn, RefundRef::Local(id))
    }

    /// One refund by the `refundRequestId` the terminal generated.
    pub fn refund_by_request_id(
        &self,
        refund_request_id: &str,
    ) -> Result<Option<RefundRecord>, JournalError> {
        find_refund(&self.conn, RefundRef::RequestId(refund_request_id))
    }

    /// Every refund of one payment, oldest first.
    pub fn refunds_for(&self, payment: PaymentLocalId) -> Result<Vec<RefundRecord>, JournalError> {
        query_refunds(&self.conn, "payment = ?1", [payment.0])
    }

    /// Every refund not yet final (Requested, Unresolved), oldest first: what recovery must
    /// resend (with the same request id) or inquire about.
    pub fn open_refunds(&self) -> Result<Vec<RefundRecord>, JournalError> {
        query_refunds(
            &self.conn,
            &format!("state IN ({})", open_refund_states_sql()),
            [],
        )
    }

    /// How much of `payment` can still be refunded: the paid amount minus every refund that
    /// has not failed (in flight ones included). Zero for a payment that is not `Paid`.
    pub fn refundable_remaining(
        &self,
        payment: PaymentLocalId,
    ) -> Result<MinorTotal, JournalError> {
        // One read transaction, so the payment and its refunds are seen at the same moment.
        let snapshot = self.conn.unchecked_transaction()?;
        let record = load_payment(&snapshot, PaymentRef::Local(payment))?;
        remaining_for(&snapshot, &record)
    }
}
