//! What the engine tells its faces (GUI, CLI). Published on a broadcast channel as state
//! changes happen, so no face ever polls the database.

use crate::journal::{PaymentState, RefundState};

#[derive(Debug, Clone, PartialEq)]
pub enum CheckoutEvent {
    /// The payment is journaled and `pay` is on its way.
    PaymentStarted { payment_request_id: String },
    /// Alipay created the order code: show it. The code and its expiry are in the payment's
    /// journal record, which faces draw the screen from (so a missed event cannot leave a
    /// stale code on screen).
    CodeReady { payment_request_id: String },
    /// Any state change of a payment, including the final one.
    PaymentState {
        payment_request_id: String,
        state: PaymentState,
        detail: String,
    },
    RefundState {
        refund_request_id: String,
        state: RefundState,
        detail: String,
    },
    /// A registration's request outcome or review changed (an answer, an inquiry or a
    /// verified notification); faces re-read the journal.
    RegistrationUpdated { registration_request_id: String },
    /// The gateway could not be reached (`online == false`) or answered again.
    Connectivity { online: bool },
    /// The store hub relayed the result of an Entry Code payment at this counter (now in
    /// the journal's `entry_code_results`); `outcome` is `success`, `failed` or `cancelled`.
    EntryCodeResult {
        payment_request_id: String,
        outcome: String,
    },
}
