//! The verdict on one listed transaction: someone else's ([`Scope::is_ours`]), matched, or
//! which discrepancy.
//!
//! Pure: given a row and what the journal holds for its `transactionRequestId`, it decides;
//! the import stores the decision.

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::amount::major_from_minor;
use crate::journal::{DiscrepancyKind, JournalView, ListedType, PaymentState, RefundState};
use crate::money::Currency;

/// Whose transactions this terminal answers for.
#[derive(Clone, Debug)]
pub struct Scope {
    /// The journal's terminal: its tag is in every request id it made.
    pub terminal_id: String,
    /// The journal's store (`referenceStoreId` of every request it made).
    pub store_id: String,
    /// Alipay's id for the merchant (`[reconciliation] customer_id`), when configured: a
    /// file for another customer is refused.
    pub customer_id: Option<String>,
}

/// A PAYMENT, REFUND or CANCEL row, as the matcher needs it.
#[derive(Clone, Debug)]
pub struct ListedTransaction<'r> {
    pub file: &'r str,
    pub line: u64,
    pub listed: ListedType,
    pub transaction_request_id: &'r str,
    pub transaction_id: &'r str,
    pub reference_store_id: &'r str,
    /// Signed minor units, as listed (refunds and cancels negative).
    pub amount_minor: i64,
    pub currency: Currency,
    pub time: Option<OffsetDateTime>,
}

/// What a row of ours is (rows of other stores and tills are sorted out before, by
/// [`Scope::is_ours`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Matched,
    Discrepancy(DiscrepancyKind),
}

impl Scope {
    /// Ours means: made in our store (when the row names a store) by our terminal (the tag
    /// in the request id, `crate::request_ids`). A row naming no store is judged by the id
    /// alone.
    pub fn is_ours(&self, row: &ListedTransaction<'_>) -> bool {
        (row.reference_store_id.is_empty() || row.reference_store_id == self.store_id)
            && crate::request_ids::issued_by(row.transaction_request_id, &self.terminal_id)
    }
}

/// The verdict for a row of ours, given the journal's entry for its request id (a payment
/// for PAYMENT and CANCEL rows, a refund for REFUND rows).
pub fn judge(row: &ListedTransaction<'_>, journal: Option<&JournalView>) -> Verdict {
    let Some(view) = journal else {
        return Verdict::Discrepancy(DiscrepancyKind::MissingLocally);
    };
    let amount = view.amount();
    if amount.currency() != row.currency {
        return Verdict::Discrepancy(DiscrepancyKind::CurrencyMismatch);
    }
    let expected_sign_positive = row.listed == ListedType::Payment;
    let sign_right = if expected_sign_positive {
        row.amount_minor > 0
    } else {
        row.amount_minor < 0
    };
    if !sign_right || row.amount_minor.unsigned_abs() != amount.minor() {
        return Verdict::Discrepancy(DiscrepancyKind::AmountMismatch);
    }
    let state_agrees = match (row.listed, view) {
        // Paid, or paid and later reversed: either way it was paid on the day.
        (ListedType::Payment, JournalView::Payment { paid_at, .. }) => paid_at.is_some(),
        (ListedType::Cancel, JournalView::Payment { state, paid_at, .. }) => {
            *state == PaymentState::Cancelled && paid_at.is_some()
        }
        (ListedType::Refund, JournalView::Refund { state, .. }) => *state == RefundState::Succeeded,
        _ => false,
    };
    if state_agrees {
        Verdict::Matched
    } else {
        Verdict::Discrepancy(DiscrepancyKind::StateMismatch)
    }
}

fn time_text(time: Option<OffsetDateTime>) -> Value {
    time.and_then(|t| t.format(&Rfc3339).ok())
        .map_or(Value::Null, Value::String)
}

/// Alipay's side of a discrepancy, as evidence.
pub fn alipay_evidence(row: &ListedTransaction<'_>) -> Value {
    json!({
        "file": row.file,
        "line": row.line,
        "transactionId": row.transaction_id,
        "transactionType": row.listed.as_str(),
        "amount": major_from_minor(row.amount_minor, row.currency),
        "currency": row.currency.code(),
        "time": time_text(row.time),
        "referenceStoreId": row.reference_store_id,
    })
}

/// Alipay's side of a `missing_at_alipay`: the files that should have listed it.
pub fn not_listed_evidence(files: &[String]) -> Value {
    json!({ "listed": false, "files": files })
}

/// The journal's side of a discrepancy (null when the journal has nothing).
pub fn journal_evidence(view: Option<&JournalView>) -> Value {
    match view {
        None => Value::Null,
        Some(JournalView::Payment {
            payment_request_id,
            state,
            amount,
            payment_id,
            paid_at,
            ..
        }) => json!({
            "paymentRequestId": payment_request_id,
            "state": state.as_str(),
            "amount": amount.major_string(),
            "currency": amount.currency().code(),
            "paymentId": payment_id,
            "paidAt": time_text(*paid_at),
        }),
        Some(JournalView::Refund {
            refund_request_id,
            state,
            amount,
            refund_id,
            refunded_at,
            ..
        }) => json!({
            "refundRequestId": refund_request_id,
            "state": state.as_str(),
            "amount": amount.major_string(),
            "currency": amount.currency().code(),
            "refundId": refund_id,
            "refundedAt": time_text(*refunded_at),
        }),
    }
}
