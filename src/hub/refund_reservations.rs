//! Refunds at any counter: the hub reserves a refund's amount against the chain's copy of
//! the payment before the refunding terminal journals and sends it.
//!
//! One PostgreSQL transaction locks the payment's replicated row (`SELECT … FOR UPDATE`),
//! adds up what already counts against it, and inserts the reservation only if the amount
//! fits: paid amount − refunds that have not failed − live reservations whose refund is not
//! replicated yet ≥ amount. Two terminals reserving against one payment at once are
//! serialised by the row lock; the second sees the first's reservation (READ COMMITTED
//! takes a new snapshot per statement) and is refused when the two do not both fit.
//!
//! A reservation is never released because an outcome is unknown: only a refund the
//! terminal never journaled (so never sent) is released. Once the refund's row is
//! replicated, that row's state decides (a failed refund frees its amount).

use deadpool_postgres::Pool;

use super::HubError;
use super::terminals::Authenticated;
use super::wire::{RefundReserved, ReserveRefund};
use crate::money::{Currency, Money};

/// Why a reservation was refused; nothing was reserved. The texts say what to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReserveRefusal {
    /// 400: a field out of shape.
    Invalid(String),
    /// 403: the refund id is another terminal's, or the payment another store's.
    NotYours(String),
    /// 404: the hub has no replicated payment of that id (yet).
    NoPayment(String),
    /// 409: the payment is not paid, or not enough of it is left.
    Refused(String),
    /// 409: the hub's copy of the payment is not paid yet (it is still open there): its
    /// terminal has not shipped the payment's newest state. Asking again soon may succeed.
    NotYet(String),
}

impl ReserveRefusal {
    pub fn message(&self) -> &str {
        match self {
            ReserveRefusal::Invalid(text)
            | ReserveRefusal::NotYours(text)
            | ReserveRefusal::NoPayment(text)
            | ReserveRefusal::Refused(text)
            | ReserveRefusal::NotYet(text) => text,
        }
    }
}

fn as_sql(minor: u64) -> i64 {
    i64::try_from(minor).unwrap_or(i64::MAX)
}

/// Reserves `request` for `terminal`; `Ok(Err(_))` when refused.
pub async fn reserve(
    pool: &Pool,
    terminal: &Authenticated,
    request: &ReserveRefund,
) -> Result<Result<RefundReserved, ReserveRefusal>, HubError> {
    if crate::request_ids::tag_of(&request.refund_request_id) != Some(terminal.tag.as_str()) {
        return Ok(Err(ReserveRefusal::NotYours(format!(
            "refundRequestId `{}` is not a request id of terminal `{}`: a terminal reserves \
             only its own refunds",
            request.refund_request_id, terminal.name
        ))));
    }
    let Ok(currency) = Currency::from_code(&request.currency) else {
        return Ok(Err(ReserveRefusal::Invalid(format!(
            "currency: `{}` is not a currency",
            request.currency
        ))));
    };
    let amount = match Money::from_minor(request.amount_minor, currency) {
        Ok(amount) => amount,
        Err(e) => return Ok(Err(ReserveRefusal::Invalid(format!("amountMinor: {e}")))),
    };
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    let caller_store = transaction
        .query_opt(
            "SELECT store_id FROM hub_replication_cursors WHERE terminal = $1",
            &[&terminal.name],
        )
        .await?
        .map(|row| row.get::<_, String>(0));
    let Some(caller_store) = caller_store else {
        return Ok(Err(ReserveRefusal::NotYours(format!(
            "terminal `{}` has not shipped its journal yet, so the hub does not know its \
             store; try again in a few seconds",
            terminal.name
        ))));
    };
    let payment = transaction
        .query_opt(
            "SELECT terminal, store_id, state, amount_minor, currency, payment_id
             FROM hub_payments WHERE payment_request_id = $1
             ORDER BY terminal LIMIT 1 FOR UPDATE",
            &[&request.payment_request_id],
        )
        .await?;
    let Some(payment) = payment else {
        return Ok(Err(ReserveRefusal::NoPayment(format!(
            "the hub has no payment `{}`: a payment taken moments ago arrives within seconds \
             (try again); otherwise check the id",
            request.payment_request_id
        ))));
    };
    let payment_terminal: String = payment.get(0);
    let store: String = payment.get(1);
    let state: String = payment.get(2);
    let paid: i64 = payment.get(3);
    let payment_currency: String = payment.get(4);
    let payment_id: Option<String> = payment.get(5);
    if store != caller_store {
        return Ok(Err(ReserveRefusal::NotYours(format!(
            "payment `{}` was taken in store `{store}`, not this terminal's store \
             `{caller_store}`; refund it in its own store",
            request.payment_request_id
        ))));
    }
    const OPEN: [&str; 4] = ["created", "awaiting_customer", "cancelling", "unresolved"];
    if OPEN.contains(&state.as_str()) {
        return Ok(Err(ReserveRefusal::NotYet(format!(
            "the hub's copy of payment `{}` is still {state}: its terminal has not shipped \
             that it was paid; try again in a few seconds",
            request.payment_request_id
        ))));
    }
    if state != "paid" {
        return Ok(Err(ReserveRefusal::Refused(format!(
            "payment `{}` is {state}, not paid, so nothing can be refunded",
            request.payment_request_id
        ))));
    }
    if payment_currency != currency.code() {
        return Ok(Err(ReserveRefusal::Invalid(format!(
            "currency: payment `{}` was paid in {payment_currency}, not {}",
            request.payment_request_id,
            currency.code()
        ))));
    }
    let existing = transaction
        .query_opt(
            "SELECT payment_request_id, amount_minor, state FROM hub_refund_reservations
             WHERE refund_request_id = $1",
            &[&request.refund_request_id],
        )
        .await?;
    let committed: i64 = transaction
        .query_one(
            "SELECT coalesce(sum(amount_minor), 0)::bigint FROM (
                 SELECT r.amount_minor FROM hub_refunds AS r
                 WHERE r.payment_request_id = $1 AND r.state <> 'failed'
                 UNION ALL
                 SELECT v.amount_minor FROM hub_refund_reservations AS v
                 WHERE v.payment_request_id = $1 AND v.state = 'reserved'
                   AND NOT EXISTS (SELECT 1 FROM hub_refunds AS r
                                   WHERE r.refund_request_id = v.refund_request_id)
             ) AS counted",
            &[&request.payment_request_id],
        )
        .await?
        .get(0);
    let left = paid.saturating_sub(committed).max(0);
    if let Some(row) = existing {
        // The same request again (an answer lost on the way): the same answer.
        let same = row.get::<_, String>(0) == request.payment_request_id
            && row.get::<_, i64>(1) == as_sql(amount.minor())
            && row.get::<_, String>(2) == "reserved";
        return Ok(if same {
            Ok(RefundReserved {
                refund_request_id: request.refund_request_id.clone(),
                payment_terminal,
                payment_id,
                remaining_minor: u64::try_from(left).unwrap_or(0),
            })
        } else {
            Err(ReserveRefusal::Invalid(format!(
                "refundRequestId `{}` was reserved already for another payment or amount, or \
                 released; a new refund needs a new id",
                request.refund_request_id
            )))
        });
    }
    let wanted = as_sql(amount.minor());
    if wanted > left {
        let left_text = u64::try_from(left)
            .ok()
            .and_then(|minor| crate::money::MinorTotal::from_minor(minor, currency).ok())
            .map_or_else(|| left.to_string(), |t| t.major_string());
        return Ok(Err(ReserveRefusal::Refused(format!(
            "only {} {left_text} of payment `{}` is left to refund (refunds at every counter, \
             including ones still in flight, count); refund at most that",
            currency.code(),
            request.payment_request_id
        ))));
    }
    transaction
        .execute(
            "INSERT INTO hub_refund_reservations
                 (refund_request_id, terminal, payment_request_id, amount_minor, currency)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &request.refund_request_id,
                &terminal.name,
                &request.payment_request_id,
                &wanted,
                &currency.code(),
            ],
        )
        .await?;
    transaction.commit().await?;
    Ok(Ok(RefundReserved {
        refund_request_id: request.refund_request_id.clone(),
        payment_terminal,
        payment_id,
        remaining_minor: u64::try_from(left - wanted).unwrap_or(0),
    }))
}

/// Releases `refund_request_id`'s reservation: the terminal never journaled that refund.
/// `Ok(false)` when the caller has no live reservation of that id.
pub async fn release(
    pool: &Pool,
    terminal: &Authenticated,
    refund_request_id: &str,
) -> Result<bool, HubError> {
    let client = pool.get().await?;
    let changed = client
        .execute(
            "UPDATE hub_refund_reservations SET state = 'released', released_at = now()
             WHERE refund_request_id = $1 AND terminal = $2 AND state = 'reserved'
               AND NOT EXISTS (SELECT 1 FROM hub_refunds WHERE refund_request_id = $1)",
            &[&refund_request_id, &terminal.name],
        )
        .await?;
    Ok(changed == 1)
}
