//! Payment attempts: one row per `paymentRequestId`, several per business order if the
//! customer retries.

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use time::OffsetDateTime;

use crate::money::{Currency, Money};

use super::error::JournalError;
use super::events::{EventKind, NewEvent, insert_event};
use super::state::{
    Actor, EntityRef, PaymentLocalId, PaymentState, Product, Resolution, open_payment_states_sql,
};
use super::timestamp::{from_stored, from_stored_opt, to_stored, truncate};
use super::{Journal, check_request_id, check_text, minor_to_sql, money_from_sql};

/// A payment attempt about to be sent to Alipay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPayment {
    /// The idempotency key sent as `paymentRequestId`; new for every attempt.
    pub payment_request_id: String,
    /// The merchant's business order; several attempts may share it.
    pub order_ref: String,
    pub amount: Money,
    /// What the customer sees as the order description (at most 256 characters).
    pub description: String,
    /// Who takes the payment: the cashier's id, or the terminal's id when unattended.
    pub operator: String,
    /// Which Alipay product takes it; fixed for the attempt's life.
    pub product: Product,
    /// User-presented only: what the journal keeps of the customer's payment code.
    pub customer_code: Option<CustomerCode>,
}

/// What the journal keeps of a customer's payment code (a bearer credential, never stored):
/// the last four digits, and the SHA-256 of the whole code to recognise it when it is scanned
/// again. Only User-presented payments have one, and they always do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerCode {
    /// Exactly four ASCII digits.
    pub last4: String,
    /// Lowercase hex, 64 characters.
    pub sha256: String,
}

/// A payment attempt as the journal holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentRecord {
    pub id: PaymentLocalId,
    pub payment_request_id: String,
    pub order_ref: String,
    pub amount: Money,
    pub description: String,
    pub operator: String,
    /// Which Alipay product took it (journals from before schema version 2: Order Code, the
    /// only one there was).
    pub product: Product,
    pub state: PaymentState,
    /// Alipay's `paymentId`, once known.
    pub payment_id: Option<String>,
    /// The code (QR content) shown to the customer; only for products that show one
    /// ([`Product::shows_code`]). Never the customer's own payment code.
    pub code_value: Option<String>,
    pub code_expires_at: Option<OffsetDateTime>,
    /// The last result code / message that mattered (e.g. `ORDER_IS_CLOSED`).
    pub result_code: Option<String>,
    pub result_message: Option<String>,
    /// How an outcome that was unknown for a while was settled.
    pub resolution: Option<Resolution>,
    /// When the customer paid (Alipay's `paymentTime` when known).
    pub paid_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// When the payment reached its final state.
    pub final_at: Option<OffsetDateTime>,
    /// User-presented: the last four digits of the customer's payment code.
    pub customer_code_last4: Option<String>,
}

impl PaymentRecord {
    pub fn entity(&self) -> EntityRef {
        EntityRef::Payment(self.id)
    }
}

/// Facts learned along with a state change. `None` leaves a field as it is; nothing can be
/// cleared, because every field records something Alipay said.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PaymentUpdate {
    /// Alipay's `paymentId`. Set once: a different id later is refused as a conflict.
    pub payment_id: Option<String>,
    pub code_value: Option<String>,
    pub code_expires_at: Option<OffsetDateTime>,
    pub result_code: Option<String>,
    pub result_message: Option<String>,
    pub resolution: Option<Resolution>,
    /// Only with a transition to `Paid`; defaults to the journal's clock when absent.
    pub paid_at: Option<OffsetDateTime>,
}

/// Names a payment either by the journal's number or by its `paymentRequestId`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentRef<'a> {
    Local(PaymentLocalId),
    RequestId(&'a str),
}

impl From<PaymentLocalId> for PaymentRef<'_> {
    fn from(id: PaymentLocalId) -> Self {
        PaymentRef::Local(id)
    }
}

impl<'a> From<&'a str> for PaymentRef<'a> {
    fn from(id: &'a str) -> Self {
        PaymentRef::RequestId(id)
    }
}

impl<'a> From<&'a String> for PaymentRef<'a> {
    fn from(id: &'a String) -> Self {
        PaymentRef::RequestId(id)
    }
}

impl From<&PaymentRecord> for PaymentRef<'_> {
    fn from(record: &PaymentRecord) -> Self {
        PaymentRef::Local(record.id)
    }
}

/// Which payments [`Journal::list_payments`] returns. Every field narrows the result; the
/// default returns everything, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PaymentFilter {
    /// Created at or after this instant.
    pub since: Option<OffsetDateTime>,
    /// Created strictly before this instant.
    pub until: Option<OffsetDateTime>,
    /// Only these states; empty means all.
    pub states: Vec<PaymentState>,
    /// Only payments taken by these products; empty means all.
    pub products: Vec<Product>,
    pub order_ref: Option<String>,
    pub currency: Option<Currency>,
    /// At least this amount (implies its currency).
    pub min_amount: Option<Money>,
    /// At most this amount (implies its currency).
    pub max_amount: Option<Money>,
    /// Case-insensitive substring of the request id, Alipay's payment id or the order ref:
    /// what a cashier types from a receipt or the customer's phone.
    pub text: Option<String>,
    pub limit: Option<u32>,
}

/// How a manual resolution's event starts; `journal check` looks for it (with a reason)
/// on every payment resolved by hand.
pub(crate) const MANUAL_DETAIL_PREFIX: &str = "manual resolution by ";

/// Longest reason a manager can give for a manual resolution.
pub(crate) const MANUAL_REASON_MAX_CHARS: usize = 256;

pub(crate) const PAYMENT_COLUMNS: &str = "id, payment_request_id, order_ref, amount_minor, \
    currency, description, operator, state, payment_id, code_value, code_expires_at, \
    result_code, result_message, resolution, paid_at, created_at, updated_at, final_at, product, \
    customer_code_last4";

/// How many columns [`read_raw`] reads, so a query can put more after them.
pub(crate) const PAYMENT_COLUMN_COUNT: usize = 20;

/// A payments row as stored, before its values are checked.
pub(crate) struct RawPayment {
    id: i64,
    payment_request_id: String,
    order_ref: String,
    amount_minor: i64,
    currency: String,
    description: String,
    operator: String,
    state: String,
    payment_id: Option<String>,
    code_value: Option<String>,
    code_expires_at: Option<String>,
    result_code: Option<String>,
    result_message: Option<String>,
    resolution: Option<String>,
    paid_at: Option<String>,
    created_at: String,
    updated_at: String,
    final_at: Option<String>,
    product: String,
    customer_code_last4: Option<String>,
}

pub(crate) fn read_raw(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawPayment> {
    Ok(RawPayment {
        id: row.get(0)?,
        payment_request_id: row.get(1)?,
        order_ref: row.get(2)?,
        amount_minor: row.get(3)?,
        currency: row.get(4)?,
        description: row.get(5)?,
        operator: row.get(6)?,
        state: row.get(7)?,
        payment_id: row.get(8)?,
        code_value: row.get(9)?,
        code_expires_at: row.get(10)?,
        result_code: row.get(11)?,
        result_message: row.get(12)?,
        resolution: row.get(13)?,
        paid_at: row.get(14)?,
        created_at: row.get(15)?,
        updated_at: row.get(16)?,
        final_at: row.get(17)?,
        product: row.get(18)?,
        customer_code_last4: row.get(19)?,
    })
}

impl RawPayment {
    pub(crate) fn into_record(self) -> Result<PaymentRecord, JournalError> {
        let what = format!("payment #{}", self.id);
        let unreadable = |detail: String| JournalError::Unreadable {
            what: format!("{what}: {detail}"),
        };
        let state = PaymentState::parse(&self.state)
            .ok_or_else(|| unreadable(format!("state `{}`", self.state)))?;
        let resolution = match self.resolution {
            Some(text) => Some(
                Resolution::parse(&text)
                    .ok_or_else(|| unreadable(format!("resolution `{text}`")))?,
            ),
            None => None,
        };
        let product = Product::parse(&self.product)
            .ok_or_else(|| unreadable(format!("product `{}`", self.product)))?;
        Ok(PaymentRecord {
            id: PaymentLocalId(self.id),
            product,
            amount: money_from_sql(self.amount_minor, &self.currency, &what)?,
            payment_request_id: self.payment_request_id,
            order_ref: self.order_ref,
            description: self.description,
            operator: self.operator,
            state,
            payment_id: self.payment_id,
            code_value: self.code_value,
            code_expires_at: from_stored_opt(self.code_expires_at)?,
            result_code: self.result_code,
            result_message: self.result_message,
            resolution,
            paid_at: from_stored_opt(self.paid_at)?,
            created_at: from_stored(&self.created_at)?,
            updated_at: from_stored(&self.updated_at)?,
            final_at: from_stored_opt(self.final_at)?,
            customer_code_last4: self.customer_code_last4,
        })
    }
}

/// Loads one payment; `Ok(None)` when there is no such payment.
pub(crate) fn find_payment(
    conn: &Connection,
    key: PaymentRef<'_>,
) -> Result<Option<PaymentRecord>, JournalError> {
    let raw = match key {
        PaymentRef::Local(id) => conn
            .prepare_cached(&format!(
                "SELECT {PAYMENT_COLUMNS} FROM payments WHERE id = ?1"
            ))?
            .query_row([id.0], read_raw)
            .optional()?,
        PaymentRef::RequestId(request_id) => conn
            .prepare_cached(&format!(
                "SELECT {PAYMENT_COLUMNS} FROM payments WHERE payment_request_id = ?1"
            ))?
            .query_row([request_id], read_raw)
            .optional()?,
    };
    raw.map(RawPayment::into_record).transpose()
}

/// One payment by Alipay's `paymentId`.
pub(crate) fn find_by_alipay_id(
    conn: &Connection,
    payment_id: &str,
) -> Result<Option<PaymentRecord>, JournalError> {
    let raw = conn
        .prepare_cached(&format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments WHERE payment_id = ?1"
        ))?
        .query_row([payment_id], read_raw)
        .optional()?;
    raw.map(RawPayment::into_record).transpose()
}

/// The one "find a payment by whatever id the person has": the terminal's
/// `paymentRequestId` (on the receipt and every screen) first, then Alipay's `paymentId` (in
/// the customer's wallet and the merchant portal). The two cannot be confused: request ids
/// are the terminal's own shape and Alipay's ids are its own, and each is unique.
pub(crate) fn find_by_either_id(
    conn: &Connection,
    id: &str,
) -> Result<Option<PaymentRecord>, JournalError> {
    match find_payment(conn, PaymentRef::RequestId(id))? {
        Some(record) => Ok(Some(record)),
        None => find_by_alipay_id(conn, id),
    }
}

/// `WHERE … ORDER BY … LIMIT ?` over `payments` for `filter`, with its arguments; shared by
/// the plain listing and the listing with refund totals, so both select the same rows.
pub(crate) fn filter_clause(filter: &PaymentFilter) -> Result<(String, Vec<Value>), JournalError> {
    let mut sql = String::from(" WHERE 1 = 1");
    let mut args: Vec<Value> = Vec::new();
    if let Some(since) = filter.since {
        sql.push_str(" AND created_at >= ?");
        args.push(Value::Text(to_stored(since, "since")?));
    }
    if let Some(until) = filter.until {
        sql.push_str(" AND created_at < ?");
        args.push(Value::Text(to_stored(until, "until")?));
    }
    if !filter.states.is_empty() {
        let marks = vec!["?"; filter.states.len()].join(", ");
        sql.push_str(&format!(" AND state IN ({marks})"));
        args.extend(
            filter
                .states
                .iter()
                .map(|s| Value::Text(s.as_str().to_owned())),
        );
    }
    if !filter.products.is_empty() {
        let marks = vec!["?"; filter.products.len()].join(", ");
        sql.push_str(&format!(" AND product IN ({marks})"));
        args.extend(
            filter
                .products
                .iter()
                .map(|p| Value::Text(p.as_str().to_owned())),
        );
    }
    if let Some(order_ref) = &filter.order_ref {
        sql.push_str(" AND order_ref = ?");
        args.push(Value::Text(order_ref.clone()));
    }
    let currencies: Vec<Currency> = [
        filter.currency,
        filter.min_amount.map(|m| m.currency()),
        filter.max_amount.map(|m| m.currency()),
    ]
    .into_iter()
    .flatten()
    .collect();
    if let Some(&currency) = currencies.first() {
        if currencies.iter().any(|&c| c != currency) {
            return Err(JournalError::InvalidInput {
                field: "filter",
                reason: "currency, min_amount and max_amount must be in one currency".to_owned(),
            });
        }
        sql.push_str(" AND currency = ?");
        args.push(Value::Text(currency.code().to_owned()));
    }
    if let Some(min) = filter.min_amount {
        sql.push_str(" AND amount_minor >= ?");
        args.push(Value::Integer(minor_to_sql(min.minor())?));
    }
    if let Some(max) = filter.max_amount {
        sql.push_str(" AND amount_minor <= ?");
        args.push(Value::Integer(minor_to_sql(max.minor())?));
    }
    if let Some(text) = filter.text.as_deref().map(str::trim)
        && !text.is_empty()
    {
        sql.push_str(
            " AND (instr(lower(payment_request_id), ?) > 0
                   OR instr(lower(coalesce(payment_id, '')), ?) > 0
                   OR instr(lower(order_ref), ?) > 0)",
        );
        let needle = text.to_lowercase();
        for _ in 0..3 {
            args.push(Value::Text(needle.clone()));
        }
    }
    sql.push_str(" ORDER BY created_at DESC, id DESC LIMIT ?");
    args.push(Value::Integer(filter.limit.map_or(-1, i64::from)));
    Ok((sql, args))
}

/// Payments matching `filter`, newest first.
pub(crate) fn list_payments(
    conn: &Connection,
    filter: &PaymentFilter,
) -> Result<Vec<PaymentRecord>, JournalError> {
    let (clause, args) = filter_clause(filter)?;
    let mut statement = conn.prepare(&format!("SELECT {PAYMENT_COLUMNS} FROM payments{clause}"))?;
    let raws = statement
        .query_map(params_from_iter(args), read_raw)?
        .collect::<Result<Vec<_>, _>>()?;
    raws.into_iter().map(RawPayment::into_record).collect()
}

/// How many payments are in one of `states_sql` (an SQL list, see [`super::state::sql_list`]).
pub(crate) fn count_in(conn: &Connection, states_sql: &str) -> Result<u64, JournalError> {
    let count: i64 = conn
        .prepare_cached(&format!(
            "SELECT count(*) FROM payments WHERE state IN ({states_sql})"
        ))?
        .query_row([], |r| r.get(0))?;
    u64::try_from(count).map_err(|_| JournalError::Unreadable {
        what: format!("payment count {count}"),
    })
}

pub(crate) fn load_payment(
    conn: &Connection,
    key: PaymentRef<'_>,
) -> Result<PaymentRecord, JournalError> {
    find_payment(conn, key)?.ok_or_else(|| JournalError::NotFound {
        what: match key {
            PaymentRef::Local(id) => id.to_string(),
            PaymentRef::RequestId(request_id) => {
                format!("payment with request id `{request_id}`")
            }
        },
    })
}

/// What a requested change amounts to once compared with the stored record.
enum Plan {
    /// Same state, same facts: nothing to write.
    Unchanged,
    /// Write `next` and an event of this kind.
    Write(EventKind),
}

fn stored_opt(
    at: Option<OffsetDateTime>,
    field: &'static str,
) -> Result<Option<String>, JournalError> {
    at.map(|at| to_stored(at, field)).transpose()
}

/// Refuses an Alipay id that another journal entry already carries: `paymentId` and
/// `paymentRequestId` are 1:1, so this would be two attempts claiming one Alipay payment.
fn check_payment_id_free(
    conn: &Connection,
    payment_id: &str,
    own: PaymentLocalId,
) -> Result<(), JournalError> {
    let other: Option<i64> = conn
        .prepare_cached("SELECT id FROM payments WHERE payment_id = ?1 AND id <> ?2")?
        .query_row(params![payment_id, own.0], |r| r.get(0))
        .optional()?;
    match other {
        Some(other) => Err(JournalError::AlipayIdInUse {
            id: payment_id.to_owned(),
            other: EntityRef::Payment(PaymentLocalId(other)),
        }),
        None => Ok(()),
    }
}

fn check_update(update: &PaymentUpdate) -> Result<(), JournalError> {
    let fields = [
        ("payment_id", &update.payment_id, 64),
        ("code_value", &update.code_value, 2048),
        ("result_code", &update.result_code, 64),
        ("result_message", &update.result_message, 1024),
    ];
    for (field, value, max) in fields {
        if let Some(value) = value {
            check_text(field, value, max, true)?;
        }
    }
    Ok(())
}

/// Applies `update` to a copy of `current` and decides whether and how that can be written.
fn plan_change(
    current: &PaymentRecord,
    to: PaymentState,
    update: &PaymentUpdate,
    now: OffsetDateTime,
) -> Result<(PaymentRecord, Plan), JournalError> {
    let entity = current.entity();
    let from = current.state;
    check_update(update)?;
    if update.paid_at.is_some() && to != PaymentState::Paid {
        return Err(JournalError::InvalidInput {
            field: "paid_at",
            reason: format!("can only be given when the payment becomes paid, not {to}"),
        });
    }
    if update.code_value.is_some() && !current.product.shows_code() {
        return Err(JournalError::InvalidInput {
            field: "code_value",
            reason: format!(
                "a {} payment shows no code; the customer's own payment code is a bearer \
                 secret and the journal never stores it",
                current.product
            ),
        });
    }
    if let (Some(stored), Some(given)) = (&current.payment_id, &update.payment_id)
        && stored != given
    {
        return Err(JournalError::FieldConflict {
            entity,
            field: "payment_id",
            stored: stored.clone(),
            given: given.clone(),
        });
    }

    let mut next = current.clone();
    next.state = to;
    if let Some(v) = &update.payment_id {
        next.payment_id = Some(v.clone());
    }
    if let Some(v) = &update.code_value {
        next.code_value = Some(v.clone());
    }
    if let Some(v) = update.code_expires_at {
        next.code_expires_at = Some(truncate(v));
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
        // paid_at only comes with a move into Paid; on Paid → Paid it must match.
        if let Some(v) = update.paid_at {
            next.paid_at = Some(truncate(v));
        }
        if next == *current {
            return Ok((next, Plan::Unchanged));
        }
        if from.is_final() {
            return Err(JournalError::IllegalTransition {
                payment: current.id,
                from,
                to,
            });
        }
        EventKind::Update
    } else {
        if !from.can_become(to) {
            return Err(JournalError::IllegalTransition {
                payment: current.id,
                from,
                to,
            });
        }
        if to == PaymentState::Paid {
            next.paid_at = Some(update.paid_at.map(truncate).unwrap_or(now));
        }
        EventKind::Transition
    };

    let missing = |field| JournalError::MissingField {
        entity,
        state: to.as_str(),
        field,
    };
    // A code on screen is what the customer acts on, so a product that shows one cannot wait
    // for the customer without it; the others (the terminal scans, or nothing is shown) can.
    let shows_code = next.product.shows_code();
    match to {
        PaymentState::AwaitingCustomer if shows_code && next.code_value.is_none() => {
            return Err(missing("code_value"));
        }
        PaymentState::AwaitingCustomer if shows_code && next.code_expires_at.is_none() => {
            return Err(missing("code_expires_at"));
        }
        PaymentState::Paid if next.payment_id.is_none() => return Err(missing("payment_id")),
        _ => {}
    }
    next.updated_at = now;
    if to.is_final() && !from.is_final() {
        next.final_at = Some(now);
    }
    Ok((next, Plan::Write(kind)))
}

fn write_payment(conn: &Connection, next: &PaymentRecord) -> Result<(), JournalError> {
    conn.prepare_cached(
        "UPDATE payments SET state = ?1, payment_id = ?2, code_value = ?3, code_expires_at = ?4,
             result_code = ?5, result_message = ?6, resolution = ?7, paid_at = ?8,
             updated_at = ?9, final_at = ?10
         WHERE id = ?11",
    )?
    .execute(params![
        next.state.as_str(),
        next.payment_id,
        next.code_value,
        stored_opt(next.code_expires_at, "code_expires_at")?,
        next.result_code,
        next.result_message,
        next.resolution.map(Resolution::as_str),
        stored_opt(next.paid_at, "paid_at")?,
        to_stored(next.updated_at, "updated_at")?,
        stored_opt(next.final_at, "final_at")?,
        next.id.0,
    ])?;
    Ok(())
}

/// A User-presented payment needs what the journal keeps of the customer's code, in its
/// stored shape; no other product has one. The schema's trigger says the same; this says it
/// with the field named.
fn check_customer_code(product: Product, code: Option<&CustomerCode>) -> Result<(), JournalError> {
    let invalid = |reason: &str| JournalError::InvalidInput {
        field: "customer_code",
        reason: reason.to_owned(),
    };
    match (product, code) {
        (Product::UserPresented, None) => Err(invalid("is required for a user-presented payment")),
        (Product::UserPresented, Some(code)) => {
            if code.last4.len() != 4 || !code.last4.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid("last4 must be four digits"));
            }
            if code.sha256.len() != 64
                || !code
                    .sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err(invalid("sha256 must be 64 lowercase hex digits"));
            }
            Ok(())
        }
        (_, Some(_)) => Err(invalid("only a user-presented payment has one")),
        (_, None) => Ok(()),
    }
}

impl Journal {
    /// The payments made with the customer's code whose digest is `sha256`, oldest first: a
    /// code scanned twice shows up here before a second `pay` could charge it again.
    pub fn payments_with_customer_code(
        &self,
        sha256: &str,
    ) -> Result<Vec<PaymentRecord>, JournalError> {
        let mut statement = self.conn.prepare_cached(&format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments WHERE customer_code_sha256 = ?1 ORDER BY id"
        ))?;
        let raws = statement
            .query_map(params![sha256], read_raw)?
            .collect::<Result<Vec<_>, _>>()?;
        raws.into_iter().map(RawPayment::into_record).collect()
    }

    /// Journals a new attempt in state `Created`, with its `created` event, before `pay` is
    /// sent: if the terminal dies mid-request, recovery finds the attempt and can inquire or
    /// cancel it. Refuses a request id that is already in the journal.
    pub fn create_payment(
        &mut self,
        new: NewPayment,
        actor: Actor,
    ) -> Result<PaymentRecord, JournalError> {
        check_request_id("payment_request_id", &new.payment_request_id)?;
        check_text("order_ref", &new.order_ref, 64, true)?;
        check_text("description", &new.description, 256, false)?;
        check_text("operator", &new.operator, 64, true)?;
        check_customer_code(new.product, new.customer_code.as_ref())?;
        let now = self.now();
        let stamp = to_stored(now, "created_at")?;
        let tx = self.begin_write()?;
        if find_payment(&tx, PaymentRef::RequestId(&new.payment_request_id))?.is_some() {
            return Err(JournalError::DuplicateRequestId {
                id: new.payment_request_id,
            });
        }
        let (code_last4, code_sha256) = match &new.customer_code {
            Some(code) => (Some(code.last4.as_str()), Some(code.sha256.as_str())),
            None => (None, None),
        };
        tx.prepare_cached(
            "INSERT INTO payments (payment_request_id, order_ref, amount_minor, currency,
                 description, operator, state, created_at, updated_at, product,
                 customer_code_last4, customer_code_sha256)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10, ?11)",
        )?
        .execute(params![
            new.payment_request_id,
            new.order_ref,
            minor_to_sql(new.amount.minor())?,
            new.amount.currency().code(),
            new.description,
            new.operator,
            PaymentState::Created.as_str(),
            stamp,
            new.product.as_str(),
            code_last4,
            code_sha256,
        ])?;
        let id = PaymentLocalId(tx.last_insert_rowid());
        let detail = format!(
            "{} {} for order {}",
            new.amount.currency(),
            new.amount.major_string(),
            new.order_ref
        );
        insert_event(
            &tx,
            &NewEvent {
                at: now,
                actor,
                entity: EntityRef::Payment(id),
                kind: EventKind::Created,
                from_state: None,
                to_state: Some(PaymentState::Created.as_str()),
                detail: &detail,
            },
        )?;
        let record = load_payment(&tx, PaymentRef::Local(id))?;
        tx.commit()?;
        Ok(record)
    }

    /// Moves a payment to `to`, recording what was learned, and appends one event, in one
    /// transaction.
    ///
    /// Refuses transitions the state machine does not allow
    /// ([`JournalError::IllegalTransition`]), a `Paid` without `payment_id`, an
    /// `AwaitingCustomer` without the code and its expiry for a product that shows one
    /// ([`Product::shows_code`]), a code for a product that shows none, and a `payment_id`
    /// that differs from the stored one. `paid_at` defaults to now when the payment becomes paid.
    ///
    /// Idempotent: when `to` is the current state and `update` changes nothing, the stored
    /// record is returned and no event is written, so the engine can safely repeat a call
    /// whose answer it lost (e.g. a poll and a notification racing). Same state with new facts
    /// is an `update` event for open states, and refused for final ones: those never change.
    pub fn transition_payment<'a>(
        &mut self,
        payment: impl Into<PaymentRef<'a>>,
        to: PaymentState,
        actor: Actor,
        detail: &str,
        update: PaymentUpdate,
    ) -> Result<PaymentRecord, JournalError> {
        self.change_payment(payment.into(), to, actor, detail, update)
    }

    /// Records the outcome a manager checked in Alipay's merchant portal for a payment the
    /// terminal could not settle: `to` is `Paid` or `Failed` (not paid). It is a transition
    /// like any other (the same legal-transition table, so never out of a final state), by
    /// [`Actor::Manager`], with [`Resolution::Manual`] and an event that names the manager
    /// and the reason; history is never edited. `payment_id` is the portal's `paymentId`
    /// when the journal has none yet (a `Paid` needs one, so it can be refunded).
    pub fn settle_payment_manually<'a>(
        &mut self,
        payment: impl Into<PaymentRef<'a>>,
        to: PaymentState,
        manager: &str,
        reason: &str,
        payment_id: Option<String>,
    ) -> Result<PaymentRecord, JournalError> {
        if !matches!(to, PaymentState::Paid | PaymentState::Failed) {
            return Err(JournalError::InvalidInput {
                field: "state",
                reason: format!("a manual resolution records paid or failed, not {to}"),
            });
        }
        check_text("manager", manager, 64, true)?;
        check_text("reason", reason, MANUAL_REASON_MAX_CHARS, true)?;
        let outcome = if to == PaymentState::Paid {
            "paid"
        } else {
            "not paid"
        };
        let detail = format!(
            "{MANUAL_DETAIL_PREFIX}{manager}: {outcome}, as checked in Alipay's merchant portal; reason: {}",
            reason.trim()
        );
        self.change_payment(
            payment.into(),
            to,
            Actor::Manager,
            &detail,
            PaymentUpdate {
                payment_id,
                resolution: Some(Resolution::Manual),
                ..PaymentUpdate::default()
            },
        )
    }

    fn change_payment(
        &mut self,
        payment: PaymentRef<'_>,
        to: PaymentState,
        actor: Actor,
        detail: &str,
        update: PaymentUpdate,
    ) -> Result<PaymentRecord, JournalError> {
        check_text("detail", detail, 4096, false)?;
        let now = self.now();
        let tx = self.begin_write()?;
        let current = load_payment(&tx, payment)?;
        let (next, plan) = plan_change(&current, to, &update, now)?;
        if let (Plan::Write(_), Some(payment_id)) = (&plan, &next.payment_id) {
            check_payment_id_free(&tx, payment_id, current.id)?;
        }
        Self::commit_change(tx, &current, next, plan, actor, detail)
    }

    fn commit_change(
        tx: rusqlite::Transaction<'_>,
        current: &PaymentRecord,
        next: PaymentRecord,
        plan: Plan,
        actor: Actor,
        detail: &str,
    ) -> Result<PaymentRecord, JournalError> {
        let Plan::Write(kind) = plan else {
            return Ok(current.clone());
        };
        write_payment(&tx, &next)?;
        insert_event(
            &tx,
            &NewEvent {
                at: next.updated_at,
                actor,
                entity: current.entity(),
                kind,
                from_state: Some(current.state.as_str()),
                to_state: Some(next.state.as_str()),
                detail,
            },
        )?;
        let record = load_payment(&tx, PaymentRef::Local(current.id))?;
        tx.commit()?;
        Ok(record)
    }

    /// One payment by the journal's number.
    pub fn payment(&self, id: PaymentLocalId) -> Result<Option<PaymentRecord>, JournalError> {
        find_payment(&self.conn, PaymentRef::Local(id))
    }

    /// One payment by the `paymentRequestId` the terminal generated.
    pub fn payment_by_request_id(
        &self,
        payment_request_id: &str,
    ) -> Result<Option<PaymentRecord>, JournalError> {
        find_payment(&self.conn, PaymentRef::RequestId(payment_request_id))
    }

    /// One payment by Alipay's `paymentId` (what notifications and reconciliation files carry).
    pub fn payment_by_alipay_id(
        &self,
        payment_id: &str,
    ) -> Result<Option<PaymentRecord>, JournalError> {
        find_by_alipay_id(&self.conn, payment_id)
    }

    /// One payment by either id a person may have: our `paymentRequestId` or Alipay's
    /// `paymentId` (the same lookup as [`super::Reader::find_payment`], for the engine, which
    /// needs it under its own connection).
    pub fn find_payment(&self, id: &str) -> Result<Option<PaymentRecord>, JournalError> {
        find_by_either_id(&self.conn, id)
    }

    /// Payments matching `filter`, newest first (by creation time, then number).
    pub fn list_payments(
        &self,
        filter: &PaymentFilter,
    ) -> Result<Vec<PaymentRecord>, JournalError> {
        list_payments(&self.conn, filter)
    }

    /// Every payment not yet final ([`PaymentState::OPEN`]), oldest first: what crash
    /// recovery and the background resolver must drive to an end.
    pub fn open_payments(&self) -> Result<Vec<PaymentRecord>, JournalError> {
        let mut statement = self.conn.prepare_cached(&format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments WHERE state IN ({}) ORDER BY id",
            open_payment_states_sql()
        ))?;
        let raws = statement
            .query_map([], read_raw)?
            .collect::<Result<Vec<_>, _>>()?;
        raws.into_iter().map(RawPayment::into_record).collect()
    }
}
