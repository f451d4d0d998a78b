//! The chain's copy of every terminal's journal: taking shipped batches, and the store
//! views read from them.
//!
//! A batch is applied in one PostgreSQL transaction that first locks the terminal's cursor
//! row, so two deliveries of batches for one terminal (a retry racing the original) are
//! serialised. Events are inserted `ON CONFLICT DO NOTHING` on (terminal, seq), rows are
//! upserted on (terminal, request id) only over an older `updated_at`, and the cursor only
//! moves forward: applying a batch twice is the same as applying it once.
//!
//! Who the terminal is comes from its token ([`Authenticated`]), never from the body. A
//! batch whose journal names another terminal, or with a request id whose tag is not the
//! token's terminal's, is refused whole: a terminal cannot write another's rows.

use std::collections::BTreeMap;
use std::ops::Range;

use deadpool_postgres::Pool;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio_postgres::types::ToSql;

use super::HubError;
use super::terminals::Authenticated;
use super::wire::{
    MAX_BATCH_EVENTS, ShipBatch, ShippedEventWire, ShippedPayment, ShippedRefund, StoreEvent,
    StorePaymentDetail, StoreRefund, StoreTotals, StoreTransaction, StoreTransactionsQuery,
};
use crate::money::{Currency, MinorTotal, Money};

/// Why a batch was refused; nothing of it was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShipRefusal {
    /// It names another terminal's journal or rows (HTTP 403).
    NotYours(String),
    /// It continues from a cursor beyond the hub's: events in between would be lost
    /// (HTTP 409). The terminal ships again from `cursor`.
    Gap { cursor: i64, after: i64 },
    /// A field is out of shape (HTTP 400); the text names it.
    Invalid(String),
}

impl ShipRefusal {
    pub fn message(&self) -> String {
        match self {
            ShipRefusal::NotYours(what) => what.clone(),
            ShipRefusal::Gap { cursor, after } => format!(
                "the batch continues from event {after}, but the hub has events only up to \
                 {cursor}; ship again from {cursor} (GET the cursor first)"
            ),
            ShipRefusal::Invalid(what) => what.clone(),
        }
    }
}

/// The stored form of an RFC 3339 time: microseconds, like the journal's own.
const PG_RFC3339: &str = "YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"";

/// The hub's cursor for `terminal`: the last event seq committed (0 before any batch).
pub async fn cursor(pool: &Pool, terminal: &Authenticated) -> Result<i64, HubError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            "SELECT last_seq FROM hub_replication_cursors WHERE terminal = $1",
            &[&terminal.name],
        )
        .await?;
    Ok(row.map_or(0, |row| row.get(0)))
}

/// The store a terminal's journal files under, once it has shipped.
pub async fn store_of(pool: &Pool, terminal: &Authenticated) -> Result<Option<String>, HubError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            "SELECT store_id FROM hub_replication_cursors WHERE terminal = $1",
            &[&terminal.name],
        )
        .await?;
    Ok(row.map(|row| row.get(0)))
}

fn check_time(field: &str, text: &str) -> Result<(), ShipRefusal> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map(|_| ())
        .map_err(|_| ShipRefusal::Invalid(format!("{field}: `{text}` is not an RFC 3339 time")))
}

fn check_amount(field: &str, minor: u64, currency: &str) -> Result<(), ShipRefusal> {
    let currency = Currency::from_code(currency)
        .map_err(|_| ShipRefusal::Invalid(format!("{field}: `{currency}` is not a currency")))?;
    Money::from_minor(minor, currency).map(|_| ()).map_err(|e| {
        ShipRefusal::Invalid(format!(
            "{field}: {minor} minor units of {}: {e}",
            currency.code()
        ))
    })
}

/// Refuses a request id that is not the token's terminal's.
fn check_owned(terminal: &Authenticated, field: &str, request_id: &str) -> Result<(), ShipRefusal> {
    if crate::request_ids::tag_of(request_id) == Some(terminal.tag.as_str()) {
        Ok(())
    } else {
        Err(ShipRefusal::NotYours(format!(
            "{field} `{request_id}` is not a request id of terminal `{}` (tag {}): a terminal \
             ships only its own journal",
            terminal.name, terminal.tag
        )))
    }
}

/// Everything about a batch that can be checked without the database.
fn validate(terminal: &Authenticated, batch: &ShipBatch) -> Result<(), ShipRefusal> {
    if batch.terminal_id != terminal.name {
        return Err(ShipRefusal::NotYours(format!(
            "terminalId: the batch is the journal of `{}`, but the token is terminal `{}`'s; \
             each terminal ships its own journal with its own token",
            batch.terminal_id, terminal.name
        )));
    }
    let store_chars = batch.store_id.chars().count();
    if store_chars == 0 || store_chars > 64 {
        return Err(ShipRefusal::Invalid(
            "storeId: must be 1 to 64 characters (the journal's store.reference_store_id)".into(),
        ));
    }
    if batch.after < 0 {
        return Err(ShipRefusal::Invalid("after: must not be negative".into()));
    }
    if batch.events.len() > MAX_BATCH_EVENTS {
        return Err(ShipRefusal::Invalid(format!(
            "events: {} in one batch; at most {MAX_BATCH_EVENTS}",
            batch.events.len()
        )));
    }
    let mut previous = batch.after;
    for event in &batch.events {
        if event.seq <= previous {
            return Err(ShipRefusal::Invalid(format!(
                "events: seq {} follows {previous}; events go in increasing seq order after \
                 `after`",
                event.seq
            )));
        }
        previous = event.seq;
        if event.entity != "payment" && event.entity != "refund" {
            return Err(ShipRefusal::Invalid(format!(
                "events[seq {}].entity: `{}` is neither payment nor refund",
                event.seq, event.entity
            )));
        }
        check_owned(terminal, "events.requestId", &event.request_id)?;
        check_time("events.at", &event.at)?;
    }
    for payment in &batch.payments {
        check_owned(
            terminal,
            "payments.paymentRequestId",
            &payment.payment_request_id,
        )?;
        check_amount(
            "payments.amountMinor",
            payment.amount_minor,
            &payment.currency,
        )?;
        for (field, time) in [
            ("payments.createdAt", Some(&payment.created_at)),
            ("payments.updatedAt", Some(&payment.updated_at)),
            ("payments.paidAt", payment.paid_at.as_ref()),
            ("payments.finalAt", payment.final_at.as_ref()),
        ] {
            if let Some(time) = time {
                check_time(field, time)?;
            }
        }
    }
    for refund in &batch.refunds {
        check_owned(
            terminal,
            "refunds.refundRequestId",
            &refund.refund_request_id,
        )?;
        check_amount("refunds.amountMinor", refund.amount_minor, &refund.currency)?;
        for (field, time) in [
            ("refunds.createdAt", Some(&refund.created_at)),
            ("refunds.updatedAt", Some(&refund.updated_at)),
            ("refunds.refundedAt", refund.refunded_at.as_ref()),
            ("refunds.finalAt", refund.final_at.as_ref()),
        ] {
            if let Some(time) = time {
                check_time(field, time)?;
            }
        }
    }
    Ok(())
}

fn minor_sql(minor: u64) -> i64 {
    // Checked by `check_amount`: at most 16 digits.
    i64::try_from(minor).unwrap_or(i64::MAX)
}

/// Applies `batch` for `terminal` and returns the hub's new cursor; `Ok(Err(_))` when the
/// batch is refused (nothing stored), `Err` when PostgreSQL could not do the work (the
/// terminal retries the same batch).
pub async fn apply(
    pool: &Pool,
    terminal: &Authenticated,
    batch: &ShipBatch,
) -> Result<Result<i64, ShipRefusal>, HubError> {
    if let Err(refusal) = validate(terminal, batch) {
        return Ok(Err(refusal));
    }
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    transaction
        .execute(
            "INSERT INTO hub_replication_cursors (terminal, store_id) VALUES ($1, $2)
             ON CONFLICT (terminal) DO NOTHING",
            &[&terminal.name, &batch.store_id],
        )
        .await?;
    let row = transaction
        .query_one(
            "SELECT last_seq, store_id FROM hub_replication_cursors WHERE terminal = $1 FOR UPDATE",
            &[&terminal.name],
        )
        .await?;
    let last_seq: i64 = row.get(0);
    let store: String = row.get(1);
    if store != batch.store_id {
        return Ok(Err(ShipRefusal::NotYours(format!(
            "storeId: terminal `{}` files under store `{store}` at the hub, and a journal's \
             store never changes; a terminal moved to store `{}` needs a new terminal id and \
             enrolment",
            terminal.name, batch.store_id
        ))));
    }
    if batch.after > last_seq {
        return Ok(Err(ShipRefusal::Gap {
            cursor: last_seq,
            after: batch.after,
        }));
    }

    // Cached per pooled connection: with 200 terminals each shipping about once a second,
    // parsing and planning these three statements in every batch's transaction cost the
    // hub three round trips and PostgreSQL a parse per batch (bench `hub_replication`).
    let insert_event = transaction
        .prepare_cached(
            "INSERT INTO hub_events (terminal, seq, store_id, at, actor, entity_kind, request_id,
                                     kind, from_state, to_state, detail)
             VALUES ($1, $2, $3, ($4::text)::timestamptz, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (terminal, seq) DO NOTHING",
        )
        .await?;
    let upsert_payment = transaction
        .prepare_cached(
            "INSERT INTO hub_payments AS h (terminal, payment_request_id, store_id, order_ref,
                 amount_minor, currency, description, operator, product, state, payment_id,
                 result_code, result_message, resolution, paid_at, created_at, updated_at,
                 final_at, customer_code_last4)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                 ($15::text)::timestamptz, ($16::text)::timestamptz, ($17::text)::timestamptz,
                 ($18::text)::timestamptz, $19)
             ON CONFLICT (terminal, payment_request_id) DO UPDATE SET
                 state = EXCLUDED.state, payment_id = EXCLUDED.payment_id,
                 result_code = EXCLUDED.result_code, result_message = EXCLUDED.result_message,
                 resolution = EXCLUDED.resolution, paid_at = EXCLUDED.paid_at,
                 updated_at = EXCLUDED.updated_at, final_at = EXCLUDED.final_at
             WHERE h.updated_at < EXCLUDED.updated_at",
        )
        .await?;
    let upsert_refund = transaction
        .prepare_cached(
            "INSERT INTO hub_refunds AS h (terminal, refund_request_id, store_id,
                 payment_request_id, amount_minor, currency, reason, manager, state, refund_id,
                 result_code, result_message, resolution, refunded_at, created_at, updated_at,
                 final_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
                 ($14::text)::timestamptz, ($15::text)::timestamptz, ($16::text)::timestamptz,
                 ($17::text)::timestamptz)
             ON CONFLICT (terminal, refund_request_id) DO UPDATE SET
                 state = EXCLUDED.state, refund_id = EXCLUDED.refund_id,
                 result_code = EXCLUDED.result_code, result_message = EXCLUDED.result_message,
                 resolution = EXCLUDED.resolution, refunded_at = EXCLUDED.refunded_at,
                 updated_at = EXCLUDED.updated_at, final_at = EXCLUDED.final_at
             WHERE h.updated_at < EXCLUDED.updated_at",
        )
        .await?;

    // Pipelined: every statement of the batch is sent before the first answer is awaited.
    let name = &terminal.name;
    let store = &batch.store_id;
    let event_params: Vec<[&(dyn ToSql + Sync); 11]> = batch
        .events
        .iter()
        .map(|e| -> [&(dyn ToSql + Sync); 11] {
            [
                name,
                &e.seq,
                store,
                &e.at,
                &e.actor,
                &e.entity,
                &e.request_id,
                &e.kind,
                &e.from_state,
                &e.to_state,
                &e.detail,
            ]
        })
        .collect();
    let events = event_params
        .iter()
        .map(|params| transaction.execute(&insert_event, params));
    futures_util::future::try_join_all(events).await?;
    let amounts: Vec<i64> = batch
        .payments
        .iter()
        .map(|p| minor_sql(p.amount_minor))
        .collect();
    let payment_params: Vec<[&(dyn ToSql + Sync); 19]> = batch
        .payments
        .iter()
        .zip(&amounts)
        .map(|(p, amount)| -> [&(dyn ToSql + Sync); 19] {
            [
                name,
                &p.payment_request_id,
                store,
                &p.order_ref,
                amount,
                &p.currency,
                &p.description,
                &p.operator,
                &p.product,
                &p.state,
                &p.payment_id,
                &p.result_code,
                &p.result_message,
                &p.resolution,
                &p.paid_at,
                &p.created_at,
                &p.updated_at,
                &p.final_at,
                &p.customer_code_last4,
            ]
        })
        .collect();
    let payments = payment_params
        .iter()
        .map(|params| transaction.execute(&upsert_payment, params));
    futures_util::future::try_join_all(payments).await?;
    let refund_amounts: Vec<i64> = batch
        .refunds
        .iter()
        .map(|r| minor_sql(r.amount_minor))
        .collect();
    let refund_params: Vec<[&(dyn ToSql + Sync); 17]> = batch
        .refunds
        .iter()
        .zip(&refund_amounts)
        .map(|(r, amount)| -> [&(dyn ToSql + Sync); 17] {
            [
                name,
                &r.refund_request_id,
                store,
                &r.payment_request_id,
                amount,
                &r.currency,
                &r.reason,
                &r.manager,
                &r.state,
                &r.refund_id,
                &r.result_code,
                &r.result_message,
                &r.resolution,
                &r.refunded_at,
                &r.created_at,
                &r.updated_at,
                &r.final_at,
            ]
        })
        .collect();
    let refunds = refund_params
        .iter()
        .map(|params| transaction.execute(&upsert_refund, params));
    futures_util::future::try_join_all(refunds).await?;
    let newest = batch
        .events
        .last()
        .map_or(last_seq, |e| e.seq.max(last_seq));
    transaction
        .execute(
            "UPDATE hub_replication_cursors
             SET last_seq = $2, batches = batches + 1, updated_at = now()
             WHERE terminal = $1",
            &[name, &newest],
        )
        .await?;
    transaction.commit().await?;
    Ok(Ok(newest))
}

// ---------------------------------------------------------------------------------------
// The chain's views

/// Why a view's query was refused (HTTP 400); the text names the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadQuery(pub String);

/// The instants of local day `date` as RFC 3339 text for PostgreSQL.
fn day_span(date: time::Date) -> Result<(String, String), HubError> {
    let Range { start, end } = crate::local_time::day_bounds(date);
    let text = |t: OffsetDateTime| {
        t.to_offset(time::UtcOffset::UTC)
            .format(&Rfc3339)
            .map_err(|e| HubError::Database(format!("cannot format a day's bounds: {e}")))
    };
    Ok((text(start)?, text(end)?))
}

/// Parses `YYYY-MM-DD` for the field `field`.
pub fn parse_date(field: &str, text: &str) -> Result<time::Date, BadQuery> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &format)
        .ok()
        .filter(|d| d.next_day().is_some())
        .ok_or_else(|| BadQuery(format!("{field}: `{text}` is not a date; use YYYY-MM-DD")))
}

fn major(minor: u64, currency: Currency) -> String {
    MinorTotal::from_minor(minor, currency)
        .map(|t| t.major_string())
        .unwrap_or_else(|_| minor.to_string())
}

/// Daily totals of local day `date` per store and currency, over every terminal's
/// replicated rows; only `store` when given. Counted as the terminal's day report counts:
/// payments by their `paid_at` day, refunds that succeeded by their `refunded_at` day, net =
/// paid − refunded. Ordered by store, then currency code.
pub async fn totals(
    pool: &Pool,
    date: time::Date,
    store: Option<&str>,
) -> Result<Vec<StoreTotals>, HubError> {
    let (start, end) = day_span(date)?;
    let client = pool.get().await?;
    let store_clause = if store.is_some() {
        " AND store_id = $3"
    } else {
        ""
    };
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&start, &end];
    if let Some(store) = &store {
        params.push(store);
    }
    let paid = client
        .query(
            &format!(
                "SELECT store_id, currency, count(*), sum(amount_minor)::bigint FROM hub_payments
                 WHERE paid_at >= ($1::text)::timestamptz AND paid_at < ($2::text)::timestamptz
                 {store_clause} GROUP BY store_id, currency"
            ),
            &params,
        )
        .await?;
    let refunded = client
        .query(
            &format!(
                "SELECT store_id, currency, count(*), sum(amount_minor)::bigint FROM hub_refunds
                 WHERE state = 'succeeded' AND refunded_at >= ($1::text)::timestamptz
                   AND refunded_at < ($2::text)::timestamptz {store_clause}
                 GROUP BY store_id, currency"
            ),
            &params,
        )
        .await?;
    // (store, currency) -> (paid count, paid, refunded count, refunded)
    let mut sums: BTreeMap<(String, String), (i64, i64, i64, i64)> = BTreeMap::new();
    for row in &paid {
        let entry = sums.entry((row.get(0), row.get(1))).or_default();
        entry.0 += row.get::<_, i64>(2);
        entry.1 += row.get::<_, i64>(3);
    }
    for row in &refunded {
        let entry = sums.entry((row.get(0), row.get(1))).or_default();
        entry.2 += row.get::<_, i64>(2);
        entry.3 += row.get::<_, i64>(3);
    }
    let mut out = Vec::with_capacity(sums.len());
    for ((store_id, code), (paid_count, paid, refunded_count, refunded)) in sums {
        let currency = Currency::from_code(&code)
            .map_err(|_| HubError::Database(format!("a replicated row has currency `{code}`")))?;
        let unsigned = |n: i64| u64::try_from(n).unwrap_or(0);
        let net = paid - refunded;
        let net_text = if net < 0 {
            format!("-{}", major(net.unsigned_abs(), currency))
        } else {
            major(unsigned(net), currency)
        };
        out.push(StoreTotals {
            date: date.to_string(),
            store_id,
            currency: code,
            paid_count: unsigned(paid_count),
            paid: major(unsigned(paid), currency),
            paid_minor: unsigned(paid),
            refunded_count: unsigned(refunded_count),
            refunded: major(unsigned(refunded), currency),
            refunded_minor: unsigned(refunded),
            net: net_text,
            net_minor: net,
        });
    }
    Ok(out)
}

/// Most rows one transactions query answers.
pub const MAX_TRANSACTIONS: u32 = 500;

/// The replicated payments of `store` (every store when `None`) that match `query`, at
/// most `query.limit` (default [`MAX_TRANSACTIONS`]; the read API caps it there), newest
/// first, each with its refund totals (refunds of any terminal count).
pub async fn transactions(
    pool: &Pool,
    store: Option<&str>,
    query: &StoreTransactionsQuery,
) -> Result<Result<Vec<StoreTransaction>, BadQuery>, HubError> {
    match transactions_where(pool, store, query, None).await {
        Ok(rows) => Ok(Ok(rows)),
        Err(Failed::Bad(bad)) => Ok(Err(bad)),
        Err(Failed::Hub(error)) => Err(error),
    }
}

/// Why [`transactions_where`] answered nothing.
enum Failed {
    Bad(BadQuery),
    Hub(HubError),
}

impl From<HubError> for Failed {
    fn from(error: HubError) -> Self {
        Failed::Hub(error)
    }
}

impl From<tokio_postgres::Error> for Failed {
    fn from(error: tokio_postgres::Error) -> Self {
        Failed::Hub(error.into())
    }
}

impl From<deadpool_postgres::PoolError> for Failed {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        Failed::Hub(error.into())
    }
}

impl From<Failed> for HubError {
    fn from(failed: Failed) -> Self {
        match failed {
            Failed::Hub(error) => error,
            Failed::Bad(bad) => HubError::Database(bad.0),
        }
    }
}

/// [`transactions`], optionally for exactly one `paymentRequestId`.
async fn transactions_where(
    pool: &Pool,
    store: Option<&str>,
    query: &StoreTransactionsQuery,
    exact_request_id: Option<&str>,
) -> Result<Vec<StoreTransaction>, Failed> {
    let mut conditions: Vec<String> = Vec::new();
    let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    // Each condition names its parameter `$?`, numbered here as it is added.
    let mut add = |condition: &str, value: Box<dyn ToSql + Sync + Send>| {
        params.push(value);
        conditions.push(condition.replace("$?", &format!("${}", params.len())));
    };
    if let Some(store) = store {
        add("p.store_id = $?", Box::new(store.to_owned()));
    }
    if let Some(date) = &query.date {
        let day = match parse_date("date", date) {
            Ok(day) => day,
            Err(bad) => return Err(Failed::Bad(bad)),
        };
        let (start, end) = day_span(day)?;
        add("p.created_at >= ($?::text)::timestamptz", Box::new(start));
        add("p.created_at < ($?::text)::timestamptz", Box::new(end));
    }
    if let Some(state) = &query.state {
        const STATES: [&str; 7] = [
            "created",
            "awaiting_customer",
            "cancelling",
            "unresolved",
            "paid",
            "failed",
            "cancelled",
        ];
        if !STATES.contains(&state.as_str()) {
            return Err(Failed::Bad(BadQuery(format!(
                "state: `{state}` is not a payment state; use one of {}",
                STATES.join(", ")
            ))));
        }
        add("p.state = $?", Box::new(state.clone()));
    }
    if let Some(product) = &query.product {
        const PRODUCTS: [&str; 4] = ["order_code", "user_presented", "entry_code", "auto_debit"];
        if !PRODUCTS.contains(&product.as_str()) {
            return Err(Failed::Bad(BadQuery(format!(
                "product: `{product}` is not a product; use one of {}",
                PRODUCTS.join(", ")
            ))));
        }
        add("p.product = $?", Box::new(product.clone()));
    }
    if let Some(code) = &query.currency {
        if Currency::from_code(code).is_err() {
            return Err(Failed::Bad(BadQuery(format!(
                "currency: `{code}` is not an ISO 4217 currency code"
            ))));
        }
        add("p.currency = $?", Box::new(code.to_ascii_uppercase()));
    }
    if let Some(amount) = &query.amount {
        let Some(code) = &query.currency else {
            return Err(Failed::Bad(BadQuery(
                "amount: give its currency too (currency=USD), so 12.50 has a meaning".into(),
            )));
        };
        let Ok(currency) = Currency::from_code(code) else {
            return Err(Failed::Bad(BadQuery(format!(
                "currency: `{code}` is not a currency"
            ))));
        };
        let money = match Money::parse(amount, currency) {
            Ok(money) => money,
            Err(e) => return Err(Failed::Bad(BadQuery(format!("amount: `{amount}`: {e}")))),
        };
        add("p.amount_minor = $?", Box::new(minor_sql(money.minor())));
    }
    if let Some(text) = &query.request_id {
        let pattern = format!(
            "%{}%",
            text.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        add(
            "(p.payment_request_id ILIKE $? OR p.payment_id ILIKE $? OR p.order_ref ILIKE $?)",
            Box::new(pattern),
        );
    }
    if let Some(exact) = exact_request_id {
        add("p.payment_request_id = $?", Box::new(exact.to_owned()));
    }
    let limit = i64::from(query.limit.unwrap_or(MAX_TRANSACTIONS));
    let where_clause = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let sql = format!(
        "SELECT p.terminal, p.store_id, p.payment_request_id, p.order_ref, p.amount_minor,
                p.currency, p.description, p.operator, p.product, p.state, p.payment_id,
                p.result_code, p.result_message, p.resolution,
                to_char(p.paid_at AT TIME ZONE 'UTC', '{PG_RFC3339}'),
                to_char(p.created_at AT TIME ZONE 'UTC', '{PG_RFC3339}'),
                to_char(p.updated_at AT TIME ZONE 'UTC', '{PG_RFC3339}'),
                to_char(p.final_at AT TIME ZONE 'UTC', '{PG_RFC3339}'),
                p.customer_code_last4,
                coalesce(sum(r.amount_minor) FILTER (WHERE r.state = 'succeeded'), 0)::bigint,
                count(r.refund_request_id) FILTER (WHERE r.state = 'succeeded'),
                coalesce(sum(r.amount_minor)
                    FILTER (WHERE r.state IN ('requested', 'unresolved')), 0)::bigint
         FROM hub_payments AS p
         LEFT JOIN hub_refunds AS r ON r.payment_request_id = p.payment_request_id
         {where_clause}
         GROUP BY p.terminal, p.payment_request_id
         ORDER BY p.created_at DESC, p.payment_request_id DESC
         LIMIT {limit}"
    );
    let client = pool.get().await?;
    let refs: Vec<&(dyn ToSql + Sync)> = params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect();
    let rows = client.query(&sql, &refs).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let unsigned = |n: i64| u64::try_from(n).unwrap_or(0);
        let code: String = row.get(5);
        let currency = Currency::from_code(&code)
            .map_err(|_| HubError::Database(format!("a replicated row has currency `{code}`")))?;
        let payment = ShippedPayment {
            payment_request_id: row.get(2),
            order_ref: row.get(3),
            amount_minor: unsigned(row.get(4)),
            currency: code,
            description: row.get(6),
            operator: row.get(7),
            product: row.get(8),
            state: row.get(9),
            payment_id: row.get(10),
            result_code: row.get(11),
            result_message: row.get(12),
            resolution: row.get(13),
            paid_at: row.get(14),
            created_at: row.get(15),
            updated_at: row.get(16),
            final_at: row.get(17),
            customer_code_last4: row.get(18),
        };
        let refunded = unsigned(row.get(19));
        let in_flight = unsigned(row.get(21));
        let remaining = if payment.state == "paid" {
            payment
                .amount_minor
                .saturating_sub(refunded)
                .saturating_sub(in_flight)
        } else {
            0
        };
        out.push(StoreTransaction {
            terminal: row.get(0),
            store_id: row.get(1),
            refunded: major(refunded, currency),
            refunded_minor: refunded,
            refunded_count: unsigned(row.get(20)),
            in_flight_minor: in_flight,
            remaining_minor: remaining,
            payment,
        });
    }
    Ok(out)
}

/// One payment of `store` by either id, with its refunds (any terminal's) and the events of
/// both; `None` when the store has no such payment.
pub async fn payment_detail(
    pool: &Pool,
    store: &str,
    id: &str,
) -> Result<Option<StorePaymentDetail>, HubError> {
    let client = pool.get().await?;
    let found = client
        .query_opt(
            "SELECT payment_request_id FROM hub_payments
             WHERE store_id = $1 AND (payment_request_id = $2 OR payment_id = $2)
             ORDER BY terminal LIMIT 1",
            &[&store, &id],
        )
        .await?;
    let Some(found) = found else {
        return Ok(None);
    };
    let request_id: String = found.get(0);
    drop(client);
    let query = StoreTransactionsQuery {
        request_id: None,
        limit: Some(1),
        ..StoreTransactionsQuery::default()
    };
    // The one row, through the same query (and totals) as the list.
    let rows = transactions_where(pool, Some(store), &query, Some(&request_id)).await?;
    let Some(transaction) = rows.into_iter().next() else {
        return Ok(None);
    };
    let client = pool.get().await?;
    let refunds = client
        .query(
            &format!(
                "SELECT terminal, refund_request_id, payment_request_id, amount_minor, currency,
                        reason, manager, state, refund_id, result_code, result_message,
                        resolution,
                        to_char(refunded_at AT TIME ZONE 'UTC', '{PG_RFC3339}'),
                        to_char(created_at AT TIME ZONE 'UTC', '{PG_RFC3339}'),
                        to_char(updated_at AT TIME ZONE 'UTC', '{PG_RFC3339}'),
                        to_char(final_at AT TIME ZONE 'UTC', '{PG_RFC3339}')
                 FROM hub_refunds WHERE payment_request_id = $1
                 ORDER BY created_at, refund_request_id"
            ),
            &[&request_id],
        )
        .await?
        .iter()
        .map(|row| StoreRefund {
            terminal: row.get(0),
            refund: ShippedRefund {
                refund_request_id: row.get(1),
                payment_request_id: row.get(2),
                amount_minor: u64::try_from(row.get::<_, i64>(3)).unwrap_or(0),
                currency: row.get(4),
                reason: row.get(5),
                manager: row.get(6),
                state: row.get(7),
                refund_id: row.get(8),
                result_code: row.get(9),
                result_message: row.get(10),
                resolution: row.get(11),
                refunded_at: row.get(12),
                created_at: row.get(13),
                updated_at: row.get(14),
                final_at: row.get(15),
            },
        })
        .collect::<Vec<_>>();
    let mut ids: Vec<String> = refunds
        .iter()
        .map(|r| r.refund.refund_request_id.clone())
        .collect();
    ids.push(request_id);
    let events = client
        .query(
            &format!(
                "SELECT terminal, seq, to_char(at AT TIME ZONE 'UTC', '{PG_RFC3339}'), actor,
                        entity_kind, request_id, kind, from_state, to_state, detail
                 FROM hub_events WHERE request_id = ANY($1)
                 ORDER BY at, terminal, seq"
            ),
            &[&ids],
        )
        .await?
        .iter()
        .map(|row| StoreEvent {
            terminal: row.get(0),
            event: ShippedEventWire {
                seq: row.get(1),
                at: row.get(2),
                actor: row.get(3),
                entity: row.get(4),
                request_id: row.get(5),
                kind: row.get(6),
                from_state: row.get(7),
                to_state: row.get(8),
                detail: row.get(9),
            },
        })
        .collect();
    Ok(Some(StorePaymentDetail {
        transaction,
        refunds,
        events,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::wire::ShippedEventWire;

    fn terminal() -> Authenticated {
        Authenticated {
            id: 1,
            name: "T01".into(),
            tag: "T01".into(),
        }
    }

    fn event(seq: i64, request_id: &str) -> ShippedEventWire {
        ShippedEventWire {
            seq,
            at: "2026-12-01T10:00:00.000001Z".into(),
            actor: "cashier".into(),
            entity: "payment".into(),
            request_id: request_id.into(),
            kind: "created".into(),
            from_state: None,
            to_state: Some("created".into()),
            detail: String::new(),
        }
    }

    fn payment(request_id: &str, minor: u64, currency: &str) -> ShippedPayment {
        ShippedPayment {
            payment_request_id: request_id.into(),
            order_ref: "O-1".into(),
            amount_minor: minor,
            currency: currency.into(),
            description: String::new(),
            operator: "T01".into(),
            product: "order_code".into(),
            state: "created".into(),
            payment_id: None,
            result_code: None,
            result_message: None,
            resolution: None,
            paid_at: None,
            created_at: "2026-12-01T10:00:00Z".into(),
            updated_at: "2026-12-01T10:00:00Z".into(),
            final_at: None,
            customer_code_last4: None,
        }
    }

    fn batch() -> ShipBatch {
        let id = "P-1764583200-T01-ABC123";
        ShipBatch {
            terminal_id: "T01".into(),
            store_id: "S1".into(),
            after: 4,
            events: vec![event(5, id), event(7, id)],
            payments: vec![payment(id, 1250, "USD")],
            refunds: Vec::new(),
        }
    }

    fn refusal(change: impl FnOnce(&mut ShipBatch)) -> String {
        let mut batch = batch();
        change(&mut batch);
        validate(&terminal(), &batch).unwrap_err().message()
    }

    #[test]
    fn a_batch_is_checked_before_anything_is_stored_and_refusals_name_the_field() {
        assert_eq!(validate(&terminal(), &batch()), Ok(()));
        assert!(refusal(|b| b.terminal_id = "T02".into()).starts_with("terminalId:"));
        assert!(
            refusal(|b| b.payments[0].payment_request_id = "P-1764583200-T02-ABC".into())
                .contains("not a request id of terminal `T01`")
        );
        assert!(
            refusal(|b| b.events[1].request_id = "someone-else".into())
                .starts_with("events.requestId")
        );
        assert!(refusal(|b| b.events[1].seq = 5).starts_with("events: seq 5 follows 5"));
        assert!(refusal(|b| b.events[0].seq = 4).contains("follows 4"));
        assert!(
            refusal(|b| b.events = (5..506).map(|s| event(s, "P-1-T01-A")).collect())
                .contains("at most 500")
        );
        assert!(refusal(|b| b.payments[0].currency = "XXQ".into()).contains("not a currency"));
        assert!(refusal(|b| b.payments[0].amount_minor = 0).starts_with("payments.amountMinor"));
        assert!(
            refusal(|b| b.payments[0].paid_at = Some("yesterday".into()))
                .starts_with("payments.paidAt")
        );
        assert!(refusal(|b| b.store_id = String::new()).starts_with("storeId:"));
        assert!(refusal(|b| b.events[0].entity = "order".into()).contains("entity"));
    }

    #[test]
    fn view_dates_are_calendar_days() {
        assert!(parse_date("date", "2026-12-01").is_ok());
        for bad in ["2026-13-01", "01-12-2026", "today", ""] {
            assert!(
                parse_date("date", bad).unwrap_err().0.starts_with("date:"),
                "{bad}"
            );
        }
    }
}
