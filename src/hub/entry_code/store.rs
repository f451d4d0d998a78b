//! The Entry Code tables (`schema::MIGRATION_ENTRY_CODE`): counters and their pending
//! orders, and the hub's journal of Entry Code payments.

use deadpool_postgres::Pool;
use time::OffsetDateTime;

use super::super::HubError;
use super::super::terminals::Authenticated;
use super::super::wire::{EntryCodeResult, EntryCounter};

/// A payment row's state. `Sending`, `Awaiting` and `Unknown` are open: a resolver works
/// on them until they are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryState {
    Sending,
    Awaiting,
    Unknown,
    Success,
    Failed,
    Cancelled,
}

impl EntryState {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryState::Sending => "sending",
            EntryState::Awaiting => "awaiting",
            EntryState::Unknown => "unknown",
            EntryState::Success => "success",
            EntryState::Failed => "failed",
            EntryState::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<EntryState> {
        Some(match text {
            "sending" => EntryState::Sending,
            "awaiting" => EntryState::Awaiting,
            "unknown" => EntryState::Unknown,
            "success" => EntryState::Success,
            "failed" => EntryState::Failed,
            "cancelled" => EntryState::Cancelled,
            _ => return None,
        })
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            EntryState::Success | EntryState::Failed | EntryState::Cancelled
        )
    }
}

/// A counter as its terminal last described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterRow {
    pub store_id: String,
    pub counter: String,
    pub terminal_id: i64,
    pub store_name: String,
    pub store_mcc: String,
    pub currency: String,
    pub open_amount: bool,
    pub order_version: i64,
    pub order_amount: Option<u64>,
    pub order_description: Option<String>,
    pub order_reference: Option<String>,
}

/// One Entry Code payment as journaled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRow {
    pub id: i64,
    pub payment_request_id: String,
    pub store_id: String,
    pub counter: String,
    pub terminal_id: i64,
    pub order_version: Option<i64>,
    pub order_reference: Option<String>,
    pub description: String,
    pub currency: String,
    pub amount: u64,
    pub user_agent: String,
    pub state: EntryState,
    pub result_code: Option<String>,
    pub payment_id: Option<String>,
    pub redirect_url: Option<String>,
    /// The payment's expiry, in Unix seconds: past it, an open payment is cancelled.
    pub deadline_unix: i64,
}

/// A payment about to be sent.
#[derive(Debug, Clone)]
pub struct NewPayment {
    pub payment_request_id: String,
    pub counter: CounterRow,
    /// `Some` when the customer pays the cashier's order (its version), `None` for an
    /// amount the customer typed.
    pub order_version: Option<i64>,
    pub description: String,
    pub amount: u64,
    pub user_agent: String,
    pub deadline: OffsetDateTime,
}

/// What [`insert`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// Committed in state `sending`: the request may now be sent.
    New,
    /// The cashier's order already has a live or paid payment: this one.
    Existing(Box<PaymentRow>),
}

fn minor(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn signed(value: u64) -> Result<i64, HubError> {
    i64::try_from(value).map_err(|_| HubError::Database(format!("amount {value} is too large")))
}

const PAYMENT_COLUMNS: &str = "id, payment_request_id, store_id, counter, terminal_id, \
     order_version, order_reference, description, currency, amount, user_agent, state, \
     result_code, payment_id, redirect_url, extract(epoch FROM deadline)::bigint";

fn payment_of(row: &tokio_postgres::Row) -> PaymentRow {
    let state: String = row.get(11);
    PaymentRow {
        id: row.get(0),
        payment_request_id: row.get(1),
        store_id: row.get(2),
        counter: row.get(3),
        terminal_id: row.get(4),
        order_version: row.get(5),
        order_reference: row.get(6),
        description: row.get(7),
        currency: row.get(8),
        amount: minor(row.get(9)),
        user_agent: row.get(10),
        // The table's CHECK allows only the six names.
        state: EntryState::parse(&state).unwrap_or(EntryState::Unknown),
        result_code: row.get(12),
        payment_id: row.get(13),
        redirect_url: row.get(14),
        deadline_unix: row.get(15),
    }
}

/// Records what the counter's terminal says (`PUT /hub/v1/entry-order`). A new order gets
/// a new version, so a page still showing the old one cannot pay it.
pub async fn upsert_counter(
    pool: &Pool,
    terminal: &Authenticated,
    counter: &EntryCounter,
) -> Result<i64, HubError> {
    let client = pool.get().await?;
    let (amount, description, reference) = match &counter.order {
        Some(order) => (
            Some(signed(order.amount_minor)?),
            Some(order.description.clone()),
            order.reference.clone(),
        ),
        None => (None, None, None),
    };
    let row = client
        .query_one(
            "INSERT INTO hub_entry_counters (store_id, counter, terminal_id, store_name, \
                 store_mcc, currency, open_amount, order_version, order_amount, \
                 order_description, order_reference) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9, $10) \
             ON CONFLICT (store_id, counter) DO UPDATE SET terminal_id = $3, store_name = $4, \
                 store_mcc = $5, currency = $6, open_amount = $7, \
                 order_version = hub_entry_counters.order_version + 1, order_amount = $8, \
                 order_description = $9, order_reference = $10, updated_at = now() \
             RETURNING order_version",
            &[
                &counter.store.reference_store_id,
                &terminal.name,
                &terminal.id,
                &counter.store.store_name,
                &counter.store.store_mcc,
                &counter.currency,
                &counter.open_amount,
                &amount,
                &description,
                &reference,
            ],
        )
        .await?;
    Ok(row.get(0))
}

/// The counter `counter` of store `store_id`, if its terminal is still enrolled.
pub async fn counter(
    pool: &Pool,
    store_id: &str,
    counter: &str,
) -> Result<Option<CounterRow>, HubError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            "SELECT c.store_id, c.counter, c.terminal_id, c.store_name, c.store_mcc, \
                 c.currency, c.open_amount, c.order_version, c.order_amount, \
                 c.order_description, c.order_reference \
             FROM hub_entry_counters c JOIN hub_terminals t ON t.id = c.terminal_id \
             WHERE c.store_id = $1 AND c.counter = $2 AND t.revoked_at IS NULL",
            &[&store_id, &counter],
        )
        .await?;
    Ok(row.map(|row| CounterRow {
        store_id: row.get(0),
        counter: row.get(1),
        terminal_id: row.get(2),
        store_name: row.get(3),
        store_mcc: row.get(4),
        currency: row.get(5),
        open_amount: row.get(6),
        order_version: row.get(7),
        order_amount: row.get::<_, Option<i64>>(8).map(minor),
        order_description: row.get(9),
        order_reference: row.get(10),
    }))
}

/// The counters of a store whose terminals are enrolled, by name.
pub async fn counters_of(pool: &Pool, store_id: &str) -> Result<Vec<(String, String)>, HubError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT c.counter, c.store_name FROM hub_entry_counters c \
             JOIN hub_terminals t ON t.id = c.terminal_id \
             WHERE c.store_id = $1 AND t.revoked_at IS NULL ORDER BY c.counter",
            &[&store_id],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Commits the payment in state `sending`, before anything is sent. For the cashier's
/// order, a live or paid payment of the same order version wins (the unique index decides,
/// so two taps at once cannot both pay).
pub async fn insert(pool: &Pool, new: &NewPayment) -> Result<Inserted, HubError> {
    let client = pool.get().await?;
    let amount = signed(new.amount)?;
    let deadline = new
        .deadline
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| HubError::Database(e.to_string()))?;
    let inserted = client
        .execute(
            "INSERT INTO hub_entry_payments (payment_request_id, store_id, counter, \
                 terminal_id, order_version, order_reference, description, currency, amount, \
                 user_agent, state, deadline) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'sending', $11::text::timestamptz) \
             ON CONFLICT DO NOTHING",
            &[
                &new.payment_request_id,
                &new.counter.store_id,
                &new.counter.counter,
                &new.counter.terminal_id,
                &new.order_version,
                &new.counter
                    .order_reference
                    .as_ref()
                    .filter(|_| new.order_version.is_some()),
                &new.description,
                &new.counter.currency,
                &amount,
                &new.user_agent,
                &deadline,
            ],
        )
        .await?;
    if inserted == 1 {
        return Ok(Inserted::New);
    }
    let existing = client
        .query_opt(
            &format!(
                "SELECT {PAYMENT_COLUMNS} FROM hub_entry_payments \
                 WHERE store_id = $1 AND counter = $2 AND order_version = $3 \
                   AND state IN ('sending', 'awaiting', 'unknown', 'success')"
            ),
            &[
                &new.counter.store_id,
                &new.counter.counter,
                &new.order_version,
            ],
        )
        .await?;
    existing
        .map(|row| Inserted::Existing(Box::new(payment_of(&row))))
        .ok_or_else(|| HubError::Database("the payment id was used already".into()))
}

/// The payment with this request id.
pub async fn payment(
    pool: &Pool,
    payment_request_id: &str,
) -> Result<Option<PaymentRow>, HubError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            &format!(
                "SELECT {PAYMENT_COLUMNS} FROM hub_entry_payments WHERE payment_request_id = $1"
            ),
            &[&payment_request_id],
        )
        .await?;
    Ok(row.as_ref().map(payment_of))
}

/// Every payment not final yet: what a starting hub resumes.
pub async fn open_payments(pool: &Pool) -> Result<Vec<PaymentRow>, HubError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            &format!(
                "SELECT {PAYMENT_COLUMNS} FROM hub_entry_payments \
                 WHERE state IN ('sending', 'awaiting', 'unknown') ORDER BY id"
            ),
            &[],
        )
        .await?;
    Ok(rows.iter().map(payment_of).collect())
}

/// What Alipay's answer changed.
#[derive(Debug, Clone, Default)]
pub struct Change<'a> {
    pub result_code: Option<&'a str>,
    pub result_message: Option<&'a str>,
    pub payment_id: Option<&'a str>,
    pub redirect_url: Option<&'a str>,
}

/// Moves an open payment to `state`. A final state is never left: the update only applies
/// to open rows, and says whether it did.
pub async fn advance(
    pool: &Pool,
    payment_request_id: &str,
    state: EntryState,
    change: Change<'_>,
) -> Result<bool, HubError> {
    let client = pool.get().await?;
    let updated = client
        .execute(
            "UPDATE hub_entry_payments SET state = $2, \
                 result_code = COALESCE($3, result_code), \
                 result_message = COALESCE($4, result_message), \
                 payment_id = COALESCE($5, payment_id), \
                 redirect_url = COALESCE($6, redirect_url), \
                 updated_at = now(), \
                 finished_at = CASE WHEN $7 THEN now() ELSE NULL END \
             WHERE payment_request_id = $1 AND state IN ('sending', 'awaiting', 'unknown')",
            &[
                &payment_request_id,
                &state.as_str(),
                &change.result_code,
                &change.result_message,
                &change.payment_id,
                &change.redirect_url,
                &state.is_final(),
            ],
        )
        .await?;
    Ok(updated == 1)
}

/// Finished payments of `terminal_id`'s counters that it has not acknowledged, oldest
/// first, leaving out those already `sent` on this connection.
pub async fn unreported(
    pool: &Pool,
    terminal_id: i64,
    sent: &[i64],
    limit: i64,
) -> Result<Vec<EntryCodeResult>, HubError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT id, payment_request_id, payment_id, store_id, counter, currency, amount, \
                 state, COALESCE(result_code, ''), order_reference, \
                 to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') \
             FROM hub_entry_payments \
             WHERE terminal_id = $1 AND finished_at IS NOT NULL AND reported_at IS NULL \
               AND NOT (id = ANY($2)) ORDER BY id LIMIT $3",
            &[&terminal_id, &sent, &limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| EntryCodeResult {
            id: row.get(0),
            payment_request_id: row.get(1),
            payment_id: row.get(2),
            store_id: row.get(3),
            counter: row.get(4),
            currency: row.get(5),
            amount_minor: minor(row.get(6)),
            outcome: row.get(7),
            result_code: row.get(8),
            order_reference: row.get(9),
            finished_at: row.get(10),
        })
        .collect())
}

/// Which of `ids` (results sent on one connection) the terminal has not acknowledged yet.
pub async fn still_unreported(pool: &Pool, ids: &[i64]) -> Result<Vec<i64>, HubError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT id FROM hub_entry_payments WHERE id = ANY($1) AND reported_at IS NULL",
            &[&ids],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// The terminal recorded result `id`; `false` when it is not one of its counters' finished
/// payments.
pub async fn mark_reported(pool: &Pool, id: i64, terminal_id: i64) -> Result<bool, HubError> {
    let client = pool.get().await?;
    let updated = client
        .execute(
            "UPDATE hub_entry_payments SET reported_at = COALESCE(reported_at, now()) \
             WHERE id = $1 AND terminal_id = $2 AND finished_at IS NOT NULL",
            &[&id, &terminal_id],
        )
        .await?;
    Ok(updated == 1)
}
