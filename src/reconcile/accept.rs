//! A manager accepts a discrepancy: Alipay's reports prevail, but nothing is rewritten
//! silently.
//!
//! Accepting appends to the payment's (or refund's) history, naming the manager and the
//! reason, and closes the discrepancy. One case changes a state: a payment (refund) the
//! terminal still had open, which Alipay lists as paid (refunded), becomes paid (succeeded)
//! by reconciliation, with Alipay's id and time from the report. A final state is never
//! changed (the journal forbids it): a payment the journal has as failed that Alipay lists
//! as paid keeps its state, and the accepted discrepancy is the record that the money
//! arrived; giving it back is a refund through Alipay's merchant portal.
//!
//! The history entry is written before the discrepancy is closed, and the state change is
//! idempotent, so a crash between the two leaves an open discrepancy that can be accepted
//! again.

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::error::ReconcileError;
use crate::admin::ManagerApproval;
use crate::journal::{
    Actor, DiscrepancyKind, DiscrepancyRecord, EntityRef, Journal, ListedType, PaymentState,
    PaymentUpdate, ReconciliationReads, RefundState, RefundUpdate, Resolution,
};

/// What accepting did.
#[derive(Clone, Debug)]
pub struct Accepted {
    pub discrepancy: DiscrepancyRecord,
    /// The state the payment or refund moved to, when it moved.
    pub settled_as: Option<&'static str>,
}

fn evidence_text(alipay: &Value, key: &str) -> Option<String> {
    alipay
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Accepts discrepancy `id` under `approval`, with `reason`.
pub fn accept(
    journal: &mut Journal,
    id: i64,
    approval: &ManagerApproval,
    reason: &str,
) -> Result<Accepted, ReconcileError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ReconcileError::NoReason);
    }
    let discrepancy = journal
        .discrepancy(id)?
        .ok_or(ReconcileError::NoSuchDiscrepancy { id })?;
    if discrepancy.resolution.is_some() {
        return Err(ReconcileError::AlreadyResolved { id });
    }
    let manager = approval.manager();
    let line = discrepancy
        .line
        .map(|l| format!(" line {l}"))
        .unwrap_or_default();
    let detail = format!(
        "reconciliation: discrepancy {id} ({}, {} in {}{line}) accepted by {manager}: {reason}",
        discrepancy.kind, discrepancy.transaction_type, discrepancy.file
    );
    let alipay: Value = serde_json::from_str(&discrepancy.alipay).unwrap_or(Value::Null);
    let alipay_id = evidence_text(&alipay, "transactionId");
    let alipay_time =
        evidence_text(&alipay, "time").and_then(|t| OffsetDateTime::parse(&t, &Rfc3339).ok());
    let mut settled_as = None;
    match (
        discrepancy.kind,
        discrepancy.transaction_type,
        discrepancy.entity,
    ) {
        (DiscrepancyKind::StateMismatch, ListedType::Payment, Some(EntityRef::Payment(pid))) => {
            let open = journal.payment(pid)?.filter(|p| !p.state.is_final());
            match (open, &alipay_id) {
                (Some(_), Some(payment_id)) => {
                    journal.transition_payment(
                        pid,
                        PaymentState::Paid,
                        Actor::Manager,
                        &detail,
                        PaymentUpdate {
                            payment_id: Some(payment_id.clone()),
                            resolution: Some(Resolution::Reconciliation),
                            paid_at: alipay_time,
                            ..PaymentUpdate::default()
                        },
                    )?;
                    settled_as = Some(PaymentState::Paid.as_str());
                }
                _ => {
                    journal.append_event(pid, Actor::Manager, &detail)?;
                }
            }
        }
        (DiscrepancyKind::StateMismatch, ListedType::Refund, Some(EntityRef::Refund(rid))) => {
            let open = journal.refund(rid)?.filter(|r| !r.state.is_final());
            match (open, &alipay_id) {
                (Some(_), Some(refund_id)) => {
                    journal.transition_refund(
                        rid,
                        RefundState::Succeeded,
                        Actor::Manager,
                        &detail,
                        RefundUpdate {
                            refund_id: Some(refund_id.clone()),
                            resolution: Some(Resolution::Reconciliation),
                            refunded_at: alipay_time,
                            ..RefundUpdate::default()
                        },
                    )?;
                    settled_as = Some(RefundState::Succeeded.as_str());
                }
                _ => {
                    journal.append_event(rid, Actor::Manager, &detail)?;
                }
            }
        }
        (_, _, Some(entity)) => {
            journal.append_event(entity, Actor::Manager, &detail)?;
        }
        // Alipay lists a payment the journal never had: there is no history to add to; the
        // accepted discrepancy (with Alipay's row) is the record.
        (_, _, None) => {}
    }
    let discrepancy = journal.accept_discrepancy(id, manager, reason)?;
    Ok(Accepted {
        discrepancy,
        settled_as,
    })
}
