//! The accountants' export: every payment and refund of a range of local days, one row
//! each, read a row at a time.
//!
//! The reader hands each row to the caller as it is read (one SQL statement stepped row by
//! row), so an export of years of trading holds one row in memory, not the journal. Days
//! are local days ([`crate::local_time::day_bounds`]), like every other report; a row
//! belongs to the day it was *created* in (the attempt, or the refund request), so every
//! attempt appears exactly once whatever its outcome, and its `state` says how it ended.

use std::ops::Range;

use time::{Date, OffsetDateTime};

use crate::money::Money;

use super::error::JournalError;
use super::reader::Reader;
use super::state::{Product, Resolution};
use super::timestamp::{from_stored, from_stored_opt, to_stored};

/// Whether a row is a payment or a refund.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportRecordKind {
    Payment,
    Refund,
}

impl ExportRecordKind {
    /// The stored spelling, which the CSV's `record_type` column carries.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportRecordKind::Payment => "payment",
            ExportRecordKind::Refund => "refund",
        }
    }
}

/// One exported payment or refund.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportRow {
    pub kind: ExportRecordKind,
    /// The payment's request id (for a refund: the payment it refunds).
    pub payment_request_id: String,
    /// Refunds only.
    pub refund_request_id: Option<String>,
    /// Alipay's `paymentId` (for a refund: its payment's).
    pub alipay_payment_id: Option<String>,
    /// Alipay's `refundId` (refunds only).
    pub alipay_refund_id: Option<String>,
    pub order_ref: String,
    pub product: Product,
    /// The stored state (`paid`, `succeeded`, …).
    pub state: String,
    pub amount: Money,
    pub created_at: OffsetDateTime,
    /// When the money moved: `paid_at` for a payment, `refunded_at` for a refund.
    pub completed_at: Option<OffsetDateTime>,
    pub final_at: Option<OffsetDateTime>,
    /// The cashier (terminal operator) who took the payment.
    pub operator: String,
    /// The manager who approved a refund.
    pub manager: Option<String>,
    pub description: String,
    /// A refund's reason.
    pub reason: Option<String>,
    pub result_code: Option<String>,
    pub resolution: Option<Resolution>,
}

/// Payments then refunds of one range, merged in creation order (ties: payments first, then
/// by the journal's number), in one statement.
const EXPORT_SQL: &str = "
SELECT 'payment' AS kind, p.payment_request_id, NULL, p.payment_id, NULL, p.order_ref,
       p.product, p.state, p.amount_minor, p.currency, p.created_at, p.paid_at, p.final_at,
       p.operator, NULL, p.description, NULL, p.result_code, p.resolution, p.id AS n
FROM payments AS p
WHERE p.created_at >= ?1 AND p.created_at < ?2
UNION ALL
SELECT 'refund', p.payment_request_id, r.refund_request_id, p.payment_id, r.refund_id,
       p.order_ref, p.product, r.state, r.amount_minor, r.currency, r.created_at,
       r.refunded_at, r.final_at, p.operator, r.manager, p.description, r.reason,
       r.result_code, r.resolution, r.id
FROM refunds AS r JOIN payments AS p ON p.id = r.payment
WHERE r.created_at >= ?1 AND r.created_at < ?2
ORDER BY 11, 1, 20";

fn read_row(row: &rusqlite::Row<'_>) -> Result<ExportRow, JournalError> {
    let kind: String = row.get(0)?;
    let number: i64 = row.get(19)?;
    let what = format!("{kind} #{number}");
    let unreadable = |detail: String| JournalError::Unreadable {
        what: format!("{what}: {detail}"),
    };
    let kind = match kind.as_str() {
        "payment" => ExportRecordKind::Payment,
        _ => ExportRecordKind::Refund,
    };
    let product: String = row.get(6)?;
    let resolution: Option<String> = row.get(18)?;
    let resolution = match resolution {
        Some(text) => Some(
            Resolution::parse(&text).ok_or_else(|| unreadable(format!("resolution `{text}`")))?,
        ),
        None => None,
    };
    let currency: String = row.get(9)?;
    Ok(ExportRow {
        kind,
        payment_request_id: row.get(1)?,
        refund_request_id: row.get(2)?,
        alipay_payment_id: row.get(3)?,
        alipay_refund_id: row.get(4)?,
        order_ref: row.get(5)?,
        product: Product::parse(&product)
            .ok_or_else(|| unreadable(format!("product `{product}`")))?,
        state: row.get(7)?,
        amount: super::money_from_sql(row.get(8)?, &currency, &what)?,
        created_at: from_stored(&row.get::<_, String>(10)?)?,
        completed_at: from_stored_opt(row.get(11)?)?,
        final_at: from_stored_opt(row.get(12)?)?,
        operator: row.get(13)?,
        manager: row.get(14)?,
        description: row.get(15)?,
        reason: row.get(16)?,
        result_code: row.get(17)?,
        resolution,
    })
}

impl Reader {
    /// Hands every payment and refund created on the local days `from..=to` to `each`, in
    /// creation order, one at a time; returns how many there were. Stops at the first
    /// error `each` returns (a full disk, a closed pipe).
    pub fn export<E: From<JournalError>>(
        &self,
        from: Date,
        to: Date,
        each: impl FnMut(&ExportRow) -> Result<(), E>,
    ) -> Result<u64, E> {
        let span = crate::local_time::day_bounds(from).start..crate::local_time::day_bounds(to).end;
        self.export_span(span, each)
    }

    /// [`Reader::export`] over the instants `span` (the tests' seam for a fixed zone).
    pub fn export_span<E: From<JournalError>>(
        &self,
        span: Range<OffsetDateTime>,
        mut each: impl FnMut(&ExportRow) -> Result<(), E>,
    ) -> Result<u64, E> {
        let start = to_stored(span.start, "from")?;
        let end = to_stored(span.end, "to")?;
        let mut statement = self
            .connection()
            .prepare(EXPORT_SQL)
            .map_err(JournalError::from)?;
        let mut rows = statement
            .query(rusqlite::params![start, end])
            .map_err(JournalError::from)?;
        let mut count = 0;
        while let Some(row) = rows.next().map_err(JournalError::from)? {
            let row = read_row(row)?;
            each(&row)?;
            count += 1;
        }
        Ok(count)
    }
}
