//! The payment engine: the only place that decides what state a payment or refund is in.
//!
//! Three rules shape everything here:
//! - **Journal first.** A payment, refund or request id is committed to the journal before
//!   its request leaves, and every answer is recorded before anything else happens.
//! - **Only verified facts are final.** A payment is paid after a verified `S` with status
//!   `SUCCESS` (from `inquiryPayment` or a verified `notifyPayment` for the right amount);
//!   anything unknown is settled by inquiry or cancel, never guessed.
//! - **No face polls.** Every state change is published on a broadcast channel.
//!
//! Concurrency: each payment has an async lock, so the poller, the notification handler, a
//! cashier's cancel and the resolver never interleave their read-decide-write steps.

mod cancel;
mod day_close;
mod echo;
mod engine;
mod entry_code;
pub mod events;
/// The crash tests' failpoints live at the top (the hub has some too); the engine's
/// steps are still named `checkout::failpoint::*`.
pub use crate::failpoint;
pub mod ids;
mod inquiry;
mod manual;
mod notify;
mod pay;
pub mod payment_code;
pub mod policy;
mod poll;
pub mod product;
pub mod receiver;
pub mod refund_gate;
mod refunds;
pub mod registration;
pub mod resend;
mod resolve;

use time::OffsetDateTime;

use crate::ams::client::RequestError;
use crate::ams::models::Merchant;
use crate::journal::{JournalError, PaymentState};
use crate::money::MoneyError;

/// Re-exported so faces, which may not import `ams`, can read the result code the journal
/// stores: `ResultCode::from(text)` gives back the variant (or `Unrecognized`).
pub use crate::ams::models::ResultCode;
pub use engine::Checkout;
pub use events::CheckoutEvent;
pub use manual::{ManualOutcome, ManualSettleError};
pub use payment_code::{PaymentCode, PaymentCodeError};
pub use policy::Policy;
pub use product::{PaymentIntent, Product, ProductIntent, ProductRules};
pub use registration::{
    RegisterAnswer, RegisterReport, RegistrationDetails, StatusAnswer, StatusReport,
};
pub use resend::Resend;
pub use resolve::{Recovery, ResolveReport};

/// Who the terminal is, as Alipay needs it on every `pay`.
#[derive(Debug, Clone)]
pub struct CheckoutSettings {
    pub merchant: Merchant,
    pub terminal_id: String,
    /// Where Alipay posts `notifyPayment`; `None` leaves `paymentNotifyUrl` out of `pay`
    /// (no public URL: the result is learned by polling).
    pub notify_url: Option<url::Url>,
    /// What `registration` sends about the merchant and store; `None` when the
    /// configuration has no registration details.
    pub registration: Option<registration::RegistrationDetails>,
}

/// Why the engine did not do what it was asked.
///
/// The refusals (`NotPaid`, `NothingLeftToRefund`, `NoAlipayPaymentId`) are separate
/// variants carrying what a face needs to word them itself, in its own language; their
/// `Display` is the English sentence the CLI prints, which says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error(transparent)]
    Money(#[from] MoneyError),
    #[error(transparent)]
    Id(#[from] ids::IdError),
    #[error(
        "no payment or refund `{0}` in the journal; check the id with `alipay-pos journal list`"
    )]
    NotFound(String),
    /// A refund of a payment that is not paid (pending, failed, cancelled, ...). Nothing
    /// was sent; `state` is the payment's state when it was asked.
    #[error(
        "payment {payment_request_id} is {state}, not paid; only paid payments can be refunded"
    )]
    NotPaid {
        payment_request_id: String,
        state: PaymentState,
    },
    /// A refund of the whole remainder when earlier refunds (done or still open) already
    /// cover the paid amount. Nothing was sent.
    #[error(
        "nothing is left to refund on payment {payment_request_id}; see its refunds with `alipay-pos status {payment_request_id}`"
    )]
    NothingLeftToRefund { payment_request_id: String },
    /// A paid payment whose Alipay `paymentId` the journal does not know yet (`refund`
    /// needs it, not our request id): settling the payment (`alipay-pos resolve`) learns
    /// it from an inquiry.
    #[error(
        "payment {payment_request_id} has no Alipay payment id yet; run `alipay-pos resolve` first"
    )]
    NoAlipayPaymentId { payment_request_id: String },
    /// A User-presented payment with a customer's code that an earlier payment of this
    /// terminal used and did not end unpaid (a double scan). Nothing was sent: a code pays
    /// once, and the earlier payment is the one to follow.
    #[error(
        "this payment code was already used for payment {payment_request_id} ({state}); ask the customer to refresh their code"
    )]
    CustomerCodeUsed {
        payment_request_id: String,
        state: PaymentState,
    },
    /// `register` without registration details in the configuration. Nothing was sent.
    #[error(
        "no registration details are configured; add a [registration] table to the config file (see the example config), then run `alipay-pos merchant register --dry-run` to check them"
    )]
    NoRegistrationDetails,
    /// The last registration went unanswered, its details have changed since, and Alipay
    /// could not say whether it holds it: a new request could register twice. Nothing new
    /// was sent.
    #[error(
        "the previous registration {registration_request_id} was never answered and Alipay could not say whether it has it ({reason}); try `alipay-pos merchant register` again later, or `alipay-pos merchant status`"
    )]
    PreviousRegistrationUnknown {
        registration_request_id: String,
        reason: String,
    },
    /// A hub is configured and did not reserve the refund (unreachable, or not enough left
    /// of the payment across every counter). Nothing was journaled or sent.
    #[error(
        "the refund of payment {payment_request_id} was not made: the store hub reserves every refund first, so that two counters cannot refund the same money, and it did not: {reason}. Nothing was refunded; if the hub is unreachable, try again once it is back / 退款未执行：门店集线器须先预留每笔退款，以免两个收银台重复退款，但预留未成功（{reason}）。未退任何款项；若集线器无法连接，请在其恢复后重试"
    )]
    RefundNotReserved {
        payment_request_id: String,
        reason: String,
    },
    /// The blocking journal task panicked or was cancelled; the journal itself is
    /// transactional, so nothing half-written remains.
    #[error("the engine stopped unexpectedly ({0}); restart the terminal, nothing is lost")]
    Internal(#[source] tokio::task::JoinError),
}

/// What a payment attempt turned into right after `pay`.
#[derive(Debug, Clone, PartialEq)]
pub enum PayStart {
    /// A code for the customer to scan (Order Code), valid until `expires_at`.
    CodeReady {
        code_value: String,
        expires_at: OffsetDateTime,
    },
    /// The money is taken (products whose `S` is the payment itself).
    Paid,
    /// The customer is confirming in the wallet (User-presented `U PAYMENT_IN_PROCESS`);
    /// the engine follows the payment until it is final, then publishes its state.
    AwaitingCustomer,
    Failed {
        code: ResultCode,
        message: String,
    },
    /// `pay`'s outcome stayed unknown; the engine is settling it (inquiry, then cancel).
    Unknown,
}
