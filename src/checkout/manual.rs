//! Manual settlement: a manager records the outcome of a payment the machine cannot settle
//! (Alipay reported SUCCESS for another amount, a cancel was refused while the inquiry still
//! says unknown, a long outage), after checking it in Alipay's merchant portal.
//!
//! It is journaled as a manual resolution ([`Resolution::Manual`]), an event by the manager
//! that names them and the reason, never an edit of what the terminal recorded before. Only
//! `Unresolved` payments that no task is driving qualify: anything else is either still
//! being decided by the machine (a code on screen is cancelled, not settled by hand; a
//! cancel under way has a result coming) or already final.
//!
//! [`Resolution::Manual`]: crate::journal::Resolution::Manual

use super::{Checkout, CheckoutError, CheckoutEvent};
use crate::admin::ManagerApproval;
use crate::journal::{PaymentRecord, PaymentState};

/// What the manager saw in the merchant portal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManualOutcome {
    /// The customer paid. A refund needs Alipay's `paymentId`: when the journal has none
    /// (the `pay` answer was lost), the manager copies it from the portal.
    Paid { alipay_payment_id: Option<String> },
    /// The customer did not pay (the portal shows it closed, failed or unknown).
    NotPaid,
}

/// Why a manual settlement was refused. Each says what to do instead.
#[derive(Debug, thiserror::Error)]
pub enum ManualSettleError {
    #[error("payment {payment} is {state}, so it cannot be settled by hand: {}", advice(*state))]
    NotSettleable {
        payment: String,
        state: PaymentState,
    },
    #[error(
        "the terminal is settling payment {0} right now; wait until it ends or becomes unresolved, then try again"
    )]
    Driven(String),
    #[error("a manual settlement needs a reason: say what Alipay's merchant portal showed")]
    NoReason,
    #[error(
        "the journal has no Alipay paymentId for {0}, and a refund needs one: copy it from the merchant portal (--alipay-payment-id)"
    )]
    AlipayIdRequired(String),
    #[error(
        "the journal already knows Alipay's paymentId {stored} for this payment; the {given} you gave belongs to another payment, check the portal again"
    )]
    AlipayIdMismatch { stored: String, given: String },
    #[error(transparent)]
    Engine(#[from] CheckoutError),
}

fn advice(state: PaymentState) -> &'static str {
    match state {
        PaymentState::Created | PaymentState::AwaitingCustomer => {
            "its code may still be payable; cancel it (`alipay-pos cancel ID`) instead"
        }
        PaymentState::Cancelling => "a cancel is under way; wait for its result",
        PaymentState::Paid => "it is already paid; refund it if the money must go back",
        PaymentState::Failed | PaymentState::Cancelled => "it is already final; nothing to settle",
        PaymentState::Unresolved => "it is unresolved",
    }
}

impl Checkout {
    /// Records `outcome` for an unresolved payment (by our request id or Alipay's payment
    /// id), approved by a manager: `Paid` or `Failed`, with [`crate::journal::Resolution::Manual`].
    /// Runs under the payment's lock, so no inquiry, notification or resolver round can
    /// interleave; a payment that became final meanwhile is refused, not overwritten.
    pub async fn settle_manually(
        &self,
        payment: &str,
        outcome: ManualOutcome,
        reason: &str,
        approval: &ManagerApproval,
    ) -> Result<PaymentRecord, ManualSettleError> {
        let reason = reason.trim().to_string();
        if reason.is_empty() {
            return Err(ManualSettleError::NoReason);
        }
        let found = self.find_payment(payment).await?;
        let id = found.payment_request_id.clone();
        let guard = self.payment_lock(&id);
        let _held = guard.lock().await;
        // The state first: a code on screen is also driven (by its poller), and the right
        // advice there is to cancel it, not to wait.
        let record = self.payment(&id).await?;
        if record.state != PaymentState::Unresolved {
            return Err(ManualSettleError::NotSettleable {
                payment: id,
                state: record.state,
            });
        }
        if self.is_driven(&id) {
            return Err(ManualSettleError::Driven(id));
        }
        let (to, new_alipay_id) = match outcome {
            ManualOutcome::NotPaid => (PaymentState::Failed, None),
            ManualOutcome::Paid { alipay_payment_id } => {
                let given = alipay_payment_id
                    .map(|given| given.trim().to_string())
                    .filter(|given| !given.is_empty());
                match (&record.payment_id, given) {
                    (Some(stored), Some(given)) if *stored != given => {
                        return Err(ManualSettleError::AlipayIdMismatch {
                            stored: stored.clone(),
                            given,
                        });
                    }
                    (Some(_), _) => (PaymentState::Paid, None),
                    (None, Some(given)) => (PaymentState::Paid, Some(given)),
                    (None, None) => return Err(ManualSettleError::AlipayIdRequired(id)),
                }
            }
        };
        let manager = approval.manager().to_string();
        let journal_id = id.clone();
        let journal_reason = reason.clone();
        let settled = self
            .db(move |j| {
                j.settle_payment_manually(
                    journal_id.as_str(),
                    to,
                    &manager,
                    &journal_reason,
                    new_alipay_id,
                )
            })
            .await?;
        tracing::info!(payment = %id, manager = approval.manager(), state = settled.state.as_str(), "payment settled by hand");
        self.publish(CheckoutEvent::PaymentState {
            payment_request_id: id,
            state: settled.state,
            detail: format!("settled by hand by {}: {reason}", approval.manager()),
        });
        Ok(settled)
    }
}

#[cfg(test)]
mod tests {
    /// The engine's one arrow into `admin` is the approval type (README, Architecture):
    /// it never sees PINs, hashes or the lockout, and never reads the config or a face.
    #[test]
    fn the_engine_takes_only_the_approval_type_from_admin() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/checkout");
        let mut seen_approval = false;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            // Test modules (like this one) may name anything.
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
                for forbidden in [
                    "crate::config",
                    "crate::gui",
                    "crate::cli",
                    "crate::terminal",
                ] {
                    assert!(!line.contains(forbidden), "{}: {line}", path.display());
                }
                if line.contains("crate::admin") {
                    assert_eq!(
                        line.trim(),
                        "use crate::admin::ManagerApproval;",
                        "{}",
                        path.display()
                    );
                    seen_approval = true;
                }
            }
        }
        assert!(seen_approval, "the engine should require ManagerApproval");
    }
}
