//! `alipay-pos journal check`: is the file sound, and does it tell a consistent story?
//!
//! The writers in this module already refuse everything checked here, and most of it is also
//! a CHECK constraint or trigger. The check exists for what those cannot rule out: a file
//! written by an older, buggier build, edited by hand, restored from a torn backup, or with
//! its triggers dropped. Each finding names the entity, so a manager knows which payment to
//! look at. Facts that are legal to record but need a person (two paid attempts for one
//! order: the customer paid twice) are reported here too.

use std::fmt;

use rusqlite::Connection;

use super::error::JournalError;
use super::schema::PROTECTIVE_TRIGGERS;
use super::state::{EntityRef, code_products_sql};
use super::{Journal, closes, payments, refunds, requests};

/// What kind of problem a [`Violation`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ViolationKind {
    /// A row refers to a row that does not exist (`PRAGMA foreign_key_check`).
    ForeignKey,
    /// A protective trigger (append-only events, no deletes) is missing.
    MissingTrigger,
    /// A row holds a value this build cannot read (unknown state, currency, timestamp…).
    UnreadableRow,
    /// Refunds that succeeded or are in flight add up to more than the payment.
    RefundsExceedPayment,
    /// A `paid` payment lacks `payment_id`, `paid_at` or `final_at`.
    PaidIncomplete,
    /// A final payment or refund has no `final_at`.
    FinalWithoutFinalAt,
    /// A payment or refund that is not final has a `final_at`.
    OpenWithFinalAt,
    /// `paid_at` on a payment that is not paid.
    PaidAtWithoutPayment,
    /// A refund (not failed) on a payment that is not `paid`, or any refund on a payment that
    /// was never paid.
    RefundOnUnpaidPayment,
    /// A refund in another currency than its payment.
    RefundCurrencyMismatch,
    /// A `succeeded` refund lacks `refund_id`, `refunded_at` or `final_at`.
    RefundIncomplete,
    /// More than one `paid` attempt for one business order: the customer paid twice.
    DuplicatePaidOrder,
    /// A payment or refund has no `created` event.
    MissingCreatedEvent,
    /// The latest state-changing event does not end in the entity's current state.
    StateEventMismatch,
    /// An event or request is about a payment or refund that is not in the journal.
    OrphanEntry,
    /// A payment resolved by hand has no manager event naming who did it and why.
    ManualWithoutManagerEvent,
    /// A payment of a product that shows a code waits for the customer without the code or
    /// its expiry.
    AwaitingCustomerWithoutCode,
    /// A payment of a product that shows no code has one stored (for User-presented that
    /// could be the customer's own code, which the journal must never hold).
    CodeOnCodelessProduct,
    /// A User-presented payment without what is kept of the customer's code (its last four
    /// digits and digest), or another product's payment with them.
    CustomerCodeByProduct,
    /// Day closes are not numbered 1, 2, 3… without gaps, or a day is closed twice: a close
    /// record was removed, renumbered or added outside alipay-pos.
    CloseNumbering,
    /// A close record this build cannot read (its stored figures are damaged).
    UnreadableClose,
    /// A check could not run (the file is too damaged to query); see the message.
    CheckFailed,
}

impl ViolationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ViolationKind::ForeignKey => "foreign_key",
            ViolationKind::MissingTrigger => "missing_trigger",
            ViolationKind::UnreadableRow => "unreadable_row",
            ViolationKind::RefundsExceedPayment => "refunds_exceed_payment",
            ViolationKind::PaidIncomplete => "paid_incomplete",
            ViolationKind::FinalWithoutFinalAt => "final_without_final_at",
            ViolationKind::OpenWithFinalAt => "open_with_final_at",
            ViolationKind::PaidAtWithoutPayment => "paid_at_without_payment",
            ViolationKind::RefundOnUnpaidPayment => "refund_on_unpaid_payment",
            ViolationKind::RefundCurrencyMismatch => "refund_currency_mismatch",
            ViolationKind::RefundIncomplete => "refund_incomplete",
            ViolationKind::DuplicatePaidOrder => "duplicate_paid_order",
            ViolationKind::MissingCreatedEvent => "missing_created_event",
            ViolationKind::StateEventMismatch => "state_event_mismatch",
            ViolationKind::OrphanEntry => "orphan_entry",
            ViolationKind::ManualWithoutManagerEvent => "manual_without_manager_event",
            ViolationKind::AwaitingCustomerWithoutCode => "awaiting_customer_without_code",
            ViolationKind::CodeOnCodelessProduct => "code_on_codeless_product",
            ViolationKind::CustomerCodeByProduct => "customer_code_by_product",
            ViolationKind::CloseNumbering => "close_numbering",
            ViolationKind::UnreadableClose => "unreadable_close",
            ViolationKind::CheckFailed => "check_failed",
        }
    }
}

impl fmt::Display for ViolationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub kind: ViolationKind,
    /// The payment or refund concerned; `None` for file-wide findings.
    pub entity: Option<EntityRef>,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.entity {
            Some(entity) => write!(f, "[{}] {entity}: {}", self.kind, self.message),
            None => write!(f, "[{}] {}", self.kind, self.message),
        }
    }
}

/// The result of [`Journal::check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckReport {
    /// `PRAGMA integrity_check` answered `ok`.
    pub integrity_ok: bool,
    /// What `integrity_check` reported when it was not `ok`.
    pub integrity_messages: Vec<String>,
    pub violations: Vec<Violation>,
}

impl CheckReport {
    pub fn is_clean(&self) -> bool {
        self.integrity_ok && self.violations.is_empty()
    }

    /// Whether any finding is of `kind`.
    pub fn has(&self, kind: ViolationKind) -> bool {
        self.violations.iter().any(|v| v.kind == kind)
    }
}

/// Invariants stated as queries returning `(entity_kind, entity_id, message)` per offender.
const RULES: &[(ViolationKind, &str)] = &[
    (
        ViolationKind::CloseNumbering,
        "SELECT 'day_close', number, 'day close #' || number || ' (' || local_date
                || ') is in position ' || position
                || ': closes are numbered 1, 2, 3... without gaps, so a close was removed or renumbered outside alipay-pos'
         FROM (SELECT number, local_date, row_number() OVER (ORDER BY number) AS position
               FROM day_closes)
         WHERE number IS NOT position
         UNION ALL
         SELECT 'day_close', min(number), local_date || ' is closed ' || count(*)
                || ' times; a day is closed once'
         FROM day_closes GROUP BY local_date HAVING count(*) > 1",
    ),
    (
        ViolationKind::RefundsExceedPayment,
        "SELECT 'payment', p.id, 'refunds not failed add up to ' || sum(r.amount_minor)
                || ' minor units of ' || p.currency || ', more than the payment ('
                || p.amount_minor || ')'
         FROM payments p JOIN refunds r ON r.payment = p.id
         WHERE r.state <> 'failed'
         GROUP BY p.id HAVING sum(r.amount_minor) > p.amount_minor",
    ),
    (
        ViolationKind::PaidIncomplete,
        "SELECT 'payment', id, 'paid but without '
                || rtrim(iif(payment_id IS NULL, 'payment_id, ', '')
                      || iif(paid_at IS NULL, 'paid_at, ', '')
                      || iif(final_at IS NULL, 'final_at, ', ''), ', ')
         FROM payments
         WHERE state = 'paid' AND (payment_id IS NULL OR paid_at IS NULL OR final_at IS NULL)",
    ),
    (
        ViolationKind::FinalWithoutFinalAt,
        "SELECT 'payment', id, state || ' but without final_at' FROM payments
         WHERE state IN ('failed', 'cancelled') AND final_at IS NULL
         UNION ALL
         SELECT 'refund', id, state || ' but without final_at' FROM refunds
         WHERE state IN ('succeeded', 'failed') AND final_at IS NULL",
    ),
    (
        ViolationKind::OpenWithFinalAt,
        "SELECT 'payment', id, state || ' (not final) but final_at is ' || final_at
         FROM payments
         WHERE state NOT IN ('paid', 'failed', 'cancelled') AND final_at IS NOT NULL
         UNION ALL
         SELECT 'refund', id, state || ' (not final) but final_at is ' || final_at
         FROM refunds
         WHERE state NOT IN ('succeeded', 'failed') AND final_at IS NOT NULL",
    ),
    (
        ViolationKind::PaidAtWithoutPayment,
        "SELECT 'payment', id, state || ' but paid_at is ' || paid_at FROM payments
         WHERE paid_at IS NOT NULL AND state <> 'paid'",
    ),
    (
        ViolationKind::RefundOnUnpaidPayment,
        "SELECT 'refund', r.id, 'refund ' || r.state || ' on payment #' || p.id || ', which is '
                || p.state || iif(p.paid_at IS NULL, ' and was never paid', '')
         FROM refunds r JOIN payments p ON p.id = r.payment
         WHERE (r.state <> 'failed' AND p.state <> 'paid') OR p.paid_at IS NULL",
    ),
    (
        ViolationKind::RefundCurrencyMismatch,
        "SELECT 'refund', r.id, 'refund in ' || r.currency || ' of payment #' || p.id
                || ' in ' || p.currency
         FROM refunds r JOIN payments p ON p.id = r.payment
         WHERE r.currency <> p.currency",
    ),
    (
        ViolationKind::RefundIncomplete,
        "SELECT 'refund', id, 'succeeded but without '
                || rtrim(iif(refund_id IS NULL, 'refund_id, ', '')
                      || iif(refunded_at IS NULL, 'refunded_at, ', ''), ', ')
         FROM refunds
         WHERE state = 'succeeded' AND (refund_id IS NULL OR refunded_at IS NULL)",
    ),
    (
        ViolationKind::DuplicatePaidOrder,
        "SELECT 'payment', p.id, 'order ' || p.order_ref || ' has '
                || (SELECT count(*) FROM payments q
                    WHERE q.order_ref = p.order_ref AND q.state = 'paid')
                || ' paid attempts; refund the extra ones'
         FROM payments p
         WHERE p.state = 'paid'
           AND (SELECT count(*) FROM payments q
                WHERE q.order_ref = p.order_ref AND q.state = 'paid') > 1",
    ),
    (
        ViolationKind::MissingCreatedEvent,
        "SELECT 'payment', p.id, 'no created event' FROM payments p
         WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.entity_kind = 'payment'
                           AND e.entity_id = p.id AND e.kind = 'created')
         UNION ALL
         SELECT 'refund', r.id, 'no created event' FROM refunds r
         WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.entity_kind = 'refund'
                           AND e.entity_id = r.id AND e.kind = 'created')",
    ),
    (
        ViolationKind::StateEventMismatch,
        "SELECT kind, id, 'state is ' || state || ' but the last state event ends in ' || last
         FROM (
             SELECT 'payment' AS kind, p.id AS id, p.state AS state,
                    (SELECT e.to_state FROM events e
                     WHERE e.entity_kind = 'payment' AND e.entity_id = p.id
                       AND e.to_state IS NOT NULL
                     ORDER BY e.seq DESC LIMIT 1) AS last
             FROM payments p
             UNION ALL
             SELECT 'refund', r.id, r.state,
                    (SELECT e.to_state FROM events e
                     WHERE e.entity_kind = 'refund' AND e.entity_id = r.id
                       AND e.to_state IS NOT NULL
                     ORDER BY e.seq DESC LIMIT 1)
             FROM refunds r)
         WHERE last IS NOT NULL AND last <> state",
    ),
    (
        ViolationKind::ManualWithoutManagerEvent,
        "SELECT 'payment', p.id, 'resolved by hand (' || p.state
                || ') but no manager event says who decided it and why'
         FROM payments p
         WHERE p.resolution = 'manual'
           AND NOT EXISTS (SELECT 1 FROM events e
                           WHERE e.entity_kind = 'payment' AND e.entity_id = p.id
                             AND e.actor = 'manager' AND e.kind = 'transition'
                             AND e.to_state = p.state
                             AND e.detail LIKE 'manual resolution by %; reason: _%')",
    ),
    (
        ViolationKind::OrphanEntry,
        "SELECT entity_kind, entity_id, count(*) || ' ' || what || ' about it, but it is not in the journal'
         FROM (
             SELECT entity_kind, entity_id, 'event(s)' AS what FROM events
             UNION ALL
             SELECT entity_kind, entity_id, 'request(s)' FROM requests)
         WHERE NOT CASE entity_kind
             WHEN 'payment' THEN EXISTS (SELECT 1 FROM payments WHERE id = entity_id)
             WHEN 'refund' THEN EXISTS (SELECT 1 FROM refunds WHERE id = entity_id)
             ELSE 0 END
         GROUP BY entity_kind, entity_id, what",
    ),
];

/// The invariants that depend on the product, with the product lists generated from
/// [`super::Product::shows_code`] so they cannot drift from the writer's rule.
fn product_rules() -> [(ViolationKind, String); 3] {
    let shows = code_products_sql();
    [
        (
            ViolationKind::AwaitingCustomerWithoutCode,
            format!(
                "SELECT 'payment', id, 'awaiting the customer (' || product || ') but without '
                        || rtrim(iif(code_value IS NULL, 'code_value, ', '')
                              || iif(code_expires_at IS NULL, 'code_expires_at, ', ''), ', ')
                 FROM payments
                 WHERE state = 'awaiting_customer' AND product IN ({shows})
                   AND (code_value IS NULL OR code_expires_at IS NULL)"
            ),
        ),
        (
            ViolationKind::CodeOnCodelessProduct,
            format!(
                "SELECT 'payment', id, product || ' payments show no code, but one is stored; \
                        a customer''s payment code must never be kept'
                 FROM payments
                 WHERE product NOT IN ({shows}) AND code_value IS NOT NULL"
            ),
        ),
        (
            ViolationKind::CustomerCodeByProduct,
            "SELECT 'payment', id, iif(product = 'user_presented',
                        'a user-presented payment without the last 4 digits and digest of the customer''s code',
                        product || ' payments take no customer code, but one is recorded')
             FROM payments
             WHERE (product = 'user_presented')
                   <> (customer_code_last4 IS NOT NULL AND customer_code_sha256 IS NOT NULL)
                OR (customer_code_last4 IS NULL) <> (customer_code_sha256 IS NULL)"
                .to_owned(),
        ),
    ]
}

impl Journal {
    /// Runs `PRAGMA integrity_check` and every journal invariant over one consistent snapshot.
    /// Errors only when the file cannot be read at all; findings go into the report.
    pub fn check(&self) -> Result<CheckReport, JournalError> {
        check_connection(&self.conn)
    }
}

/// [`Journal::check`] on any connection to a journal of this build's schema (the writer's
/// or a [`super::Reader`]'s).
pub(crate) fn check_connection(conn: &Connection) -> Result<CheckReport, JournalError> {
    let snapshot = conn.unchecked_transaction()?;
    let integrity: Vec<String> = snapshot
        .prepare("PRAGMA integrity_check")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let integrity_ok = integrity.len() == 1 && integrity[0] == "ok";

    // On a damaged file a query can fail where integrity_check merely complained; that
    // must still produce a report, so each step's failure becomes a finding.
    let mut violations = Vec::new();
    let mut attempt = |what: &str, result: Result<Vec<Violation>, JournalError>| match result {
        Ok(found) => violations.extend(found),
        Err(error) => violations.push(Violation {
            kind: ViolationKind::CheckFailed,
            entity: None,
            message: format!("could not check {what}: {error}"),
        }),
    };
    attempt("foreign keys", foreign_keys(&snapshot));
    attempt("triggers", triggers(&snapshot));
    attempt("row contents", unreadable_rows(&snapshot));
    attempt("day closes", unreadable_closes(&snapshot));
    for &(kind, sql) in RULES {
        attempt(kind.as_str(), rule(&snapshot, kind, sql));
    }
    for (kind, sql) in product_rules() {
        attempt(kind.as_str(), rule(&snapshot, kind, &sql));
    }
    Ok(CheckReport {
        integrity_ok,
        integrity_messages: if integrity_ok { Vec::new() } else { integrity },
        violations,
    })
}

fn rule(conn: &Connection, kind: ViolationKind, sql: &str) -> Result<Vec<Violation>, JournalError> {
    let mut statement = conn.prepare(sql)?;
    let rows = statement
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, String>(2)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows
        .into_iter()
        .map(|(entity_kind, id, message)| Violation {
            kind,
            entity: EntityRef::from_columns(&entity_kind, id),
            message,
        })
        .collect())
}

fn foreign_keys(conn: &Connection) -> Result<Vec<Violation>, JournalError> {
    let mut out = Vec::new();
    let mut statement = conn.prepare("PRAGMA foreign_key_check")?;
    let rows = statement
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, Option<i64>>(1)?,
                row.get::<_, String>(2)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    for (table, rowid, parent) in rows {
        let entity = match (table.as_str(), rowid) {
            ("payments", Some(id)) => EntityRef::from_columns("payment", id),
            ("refunds", Some(id)) => EntityRef::from_columns("refund", id),
            _ => None,
        };
        out.push(Violation {
            kind: ViolationKind::ForeignKey,
            entity,
            message: format!("a row of {table} refers to a missing row of {parent}"),
        });
    }
    Ok(out)
}

fn triggers(conn: &Connection) -> Result<Vec<Violation>, JournalError> {
    let mut out = Vec::new();
    let mut statement = conn.prepare(
        "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'trigger' AND name = ?1)",
    )?;
    for name in PROTECTIVE_TRIGGERS {
        let present: bool = statement.query_row([name], |r| r.get(0))?;
        if !present {
            out.push(Violation {
                kind: ViolationKind::MissingTrigger,
                entity: None,
                message: format!(
                    "trigger {name} is missing, so the journal no longer protects its history; \
                     someone changed the file outside alipay-pos"
                ),
            });
        }
    }
    Ok(out)
}

/// Reads every close record the way the reports do, reporting those it cannot read.
fn unreadable_closes(conn: &Connection) -> Result<Vec<Violation>, JournalError> {
    Ok(closes::unreadable_closes(conn)?
        .into_iter()
        .map(|message| Violation {
            kind: ViolationKind::UnreadableClose,
            entity: None,
            message,
        })
        .collect())
}

/// Reads every payment and refund the way the journal does, reporting rows it cannot read.
fn unreadable_rows(conn: &Connection) -> Result<Vec<Violation>, JournalError> {
    let mut out = Vec::new();
    let mut statement = conn.prepare(&format!(
        "SELECT {} FROM payments ORDER BY id",
        payments::PAYMENT_COLUMNS
    ))?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        let result = payments::read_raw(row)
            .map_err(JournalError::from)
            .and_then(payments::RawPayment::into_record);
        if let Err(error) = result {
            out.push(Violation {
                kind: ViolationKind::UnreadableRow,
                entity: EntityRef::from_columns("payment", id),
                message: error.to_string(),
            });
        }
    }
    let mut statement = conn.prepare(&format!(
        "SELECT {} FROM refunds ORDER BY id",
        refunds::REFUND_COLUMNS
    ))?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        let result = refunds::read_raw(row)
            .map_err(JournalError::from)
            .and_then(refunds::RawRefund::into_record);
        if let Err(error) = result {
            out.push(Violation {
                kind: ViolationKind::UnreadableRow,
                entity: EntityRef::from_columns("refund", id),
                message: error.to_string(),
            });
        }
    }
    out.extend(
        requests::unreadable_requests(conn)?
            .into_iter()
            .map(|(entity, message)| Violation {
                kind: ViolationKind::UnreadableRow,
                entity,
                message,
            }),
    );
    Ok(out)
}
