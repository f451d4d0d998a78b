//! The vocabulary the journal speaks: payment and refund states, who acted, what an event or
//! request is about, and how an unknown outcome was settled.
//!
//! The legal-transition tables live here, next to the states, so that the rules the journal
//! enforces can be read in one place (and tested exhaustively) instead of being scattered over
//! SQL. The engine decides *which* transition to make; these tables only say which ones can
//! ever be true.

use std::fmt;

/// The journal's own number for a payment attempt (the `payments` row id).
///
/// A newtype so that a refund's number can never be passed where a payment's is meant; both
/// are plain SQLite integers underneath.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PaymentLocalId(pub i64);

/// The journal's own number for a refund (the `refunds` row id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RefundLocalId(pub i64);

impl PaymentLocalId {
    pub fn get(self) -> i64 {
        self.0
    }
}

impl RefundLocalId {
    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for PaymentLocalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "payment #{}", self.0)
    }
}

impl fmt::Display for RefundLocalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "refund #{}", self.0)
    }
}

/// What an event or an outbound request is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityRef {
    Payment(PaymentLocalId),
    Refund(RefundLocalId),
}

impl EntityRef {
    /// The `entity_kind` column value.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            EntityRef::Payment(_) => "payment",
            EntityRef::Refund(_) => "refund",
        }
    }

    /// The `entity_id` column value.
    pub(crate) fn id(self) -> i64 {
        match self {
            EntityRef::Payment(id) => id.0,
            EntityRef::Refund(id) => id.0,
        }
    }

    pub(crate) fn from_columns(kind: &str, id: i64) -> Option<EntityRef> {
        match kind {
            "payment" => Some(EntityRef::Payment(PaymentLocalId(id))),
            "refund" => Some(EntityRef::Refund(RefundLocalId(id))),
            _ => None,
        }
    }
}

impl From<&EntityRef> for EntityRef {
    fn from(entity: &EntityRef) -> EntityRef {
        *entity
    }
}

impl From<PaymentLocalId> for EntityRef {
    fn from(id: PaymentLocalId) -> EntityRef {
        EntityRef::Payment(id)
    }
}

impl From<RefundLocalId> for EntityRef {
    fn from(id: RefundLocalId) -> EntityRef {
        EntityRef::Refund(id)
    }
}

impl fmt::Display for EntityRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntityRef::Payment(id) => id.fmt(f),
            EntityRef::Refund(id) => id.fmt(f),
        }
    }
}

/// Who caused a journal entry. Kept to three roles because that is what an auditor asks
/// ("did a person do this, and with what authority, or did the terminal?"); the person's id
/// is in the record itself (`operator`, `manager`) or in the event detail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Actor {
    Cashier,
    Manager,
    /// The terminal on its own: polling, notifications, the background resolver.
    System,
}

impl Actor {
    pub fn as_str(self) -> &'static str {
        match self {
            Actor::Cashier => "cashier",
            Actor::Manager => "manager",
            Actor::System => "system",
        }
    }

    pub fn parse(text: &str) -> Option<Actor> {
        match text {
            "cashier" => Some(Actor::Cashier),
            "manager" => Some(Actor::Manager),
            "system" => Some(Actor::System),
            _ => None,
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where one payment attempt (one `paymentRequestId`) stands, as far as the terminal knows.
///
/// ```text
/// Created ──> AwaitingCustomer ──> Paid | Failed | Cancelled
///    │              │
///    ├──────────────┴──> Cancelling ──> Cancelled | Paid | Failed | Unresolved
///    └──────────────┴──> Unresolved ──> Paid | Failed | Cancelled | Cancelling
/// ```
///
/// `Created` and `AwaitingCustomer` may also jump straight to a final state, because an
/// inquiry after a lost `pay` answer can report SUCCESS, FAIL or CANCELLED before the terminal
/// ever saw an order code; refusing to record such a fact would leave the journal wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PaymentState {
    /// Journaled before `pay` is sent; `pay` has not been answered yet.
    Created,
    /// `pay` returned an order code; the QR is on screen until it expires.
    AwaitingCustomer,
    /// A `cancel` is being sent (or retried) for this attempt.
    Cancelling,
    /// The poll budget ran out without a final answer; a background resolver keeps asking.
    Unresolved,
    /// Final: the customer paid. Refunds are tracked separately and do not change this.
    Paid,
    /// Final: Alipay reported failure (including an expired code).
    Failed,
    /// Final: cancelled before payment.
    Cancelled,
}

impl PaymentState {
    pub const ALL: [PaymentState; 7] = [
        PaymentState::Created,
        PaymentState::AwaitingCustomer,
        PaymentState::Cancelling,
        PaymentState::Unresolved,
        PaymentState::Paid,
        PaymentState::Failed,
        PaymentState::Cancelled,
    ];

    /// The states [`crate::journal::Journal::open_payments`] returns: everything the engine
    /// still has to drive to an end after a restart.
    pub const OPEN: [PaymentState; 4] = [
        PaymentState::Created,
        PaymentState::AwaitingCustomer,
        PaymentState::Cancelling,
        PaymentState::Unresolved,
    ];

    /// The stored (and event-log) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentState::Created => "created",
            PaymentState::AwaitingCustomer => "awaiting_customer",
            PaymentState::Cancelling => "cancelling",
            PaymentState::Unresolved => "unresolved",
            PaymentState::Paid => "paid",
            PaymentState::Failed => "failed",
            PaymentState::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<PaymentState> {
        PaymentState::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Paid, Failed and Cancelled never change again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            PaymentState::Paid | PaymentState::Failed | PaymentState::Cancelled
        )
    }

    /// Whether `transition_payment` accepts `self → to` for two *different* states.
    ///
    /// Nothing leaves `Paid`: money that goes back is a refund, journaled as its own row.
    pub fn can_become(self, to: PaymentState) -> bool {
        use PaymentState::*;
        match self {
            Created => matches!(
                to,
                AwaitingCustomer | Cancelling | Unresolved | Paid | Failed | Cancelled
            ),
            AwaitingCustomer => matches!(to, Cancelling | Unresolved | Paid | Failed | Cancelled),
            Cancelling => matches!(to, Cancelled | Paid | Failed | Unresolved),
            Unresolved => matches!(to, Paid | Failed | Cancelled | Cancelling),
            Paid | Failed | Cancelled => false,
        }
    }
}

/// `'a', 'b', …` for an SQL `IN (…)`, built from the Rust spellings so that a query and the
/// constant it stands for ([`PaymentState::OPEN`], [`RefundState::OPEN`], …) cannot drift
/// apart. Only for the journal's own spellings (lowercase letters and `_`), which need no
/// escaping; anything else is left out rather than quoted wrongly.
pub(crate) fn sql_list(names: impl IntoIterator<Item = &'static str>) -> String {
    names
        .into_iter()
        .filter(|name| name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        .map(|name| format!("'{name}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// [`PaymentState::OPEN`] as an SQL list, built once.
pub(crate) fn open_payment_states_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| sql_list(PaymentState::OPEN.map(PaymentState::as_str)))
}

/// [`RefundState::OPEN`] as an SQL list, built once.
pub(crate) fn open_refund_states_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| sql_list(RefundState::OPEN.map(RefundState::as_str)))
}

/// The products that show a code ([`Product::shows_code`]) as an SQL list, built once.
pub(crate) fn code_products_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        sql_list(
            Product::ALL
                .into_iter()
                .filter(|p| p.shows_code())
                .map(Product::as_str),
        )
    })
}

impl fmt::Display for PaymentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where one refund (one `refundRequestId`) stands.
///
/// `Requested → Unresolved | Succeeded | Failed`, `Unresolved → Succeeded | Failed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefundState {
    /// Journaled (and counted against the payment) before `refund` is sent.
    Requested,
    /// Retries ran out without a final answer; still counted against the payment, because
    /// Alipay may yet carry it out.
    Unresolved,
    /// Final: the money is on its way back to the customer.
    Succeeded,
    /// Final: Alipay refused; the amount is refundable again (with a new request id).
    Failed,
}

impl RefundState {
    pub const ALL: [RefundState; 4] = [
        RefundState::Requested,
        RefundState::Unresolved,
        RefundState::Succeeded,
        RefundState::Failed,
    ];

    /// Refunds that still count against the payment but are not final.
    pub const OPEN: [RefundState; 2] = [RefundState::Requested, RefundState::Unresolved];

    pub fn as_str(self) -> &'static str {
        match self {
            RefundState::Requested => "requested",
            RefundState::Unresolved => "unresolved",
            RefundState::Succeeded => "succeeded",
            RefundState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<RefundState> {
        RefundState::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn is_final(self) -> bool {
        matches!(self, RefundState::Succeeded | RefundState::Failed)
    }

    /// Whether the refund's amount is (or may be) leaving the merchant, and so must be
    /// subtracted from what is still refundable.
    pub fn counts_against_payment(self) -> bool {
        !matches!(self, RefundState::Failed)
    }

    /// Whether `transition_refund` accepts `self → to` for two different states.
    pub fn can_become(self, to: RefundState) -> bool {
        use RefundState::*;
        match self {
            Requested => matches!(to, Unresolved | Succeeded | Failed),
            Unresolved => matches!(to, Succeeded | Failed),
            Succeeded | Failed => false,
        }
    }
}

impl fmt::Display for RefundState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which Alipay in-store product a payment is taken with. It decides what the journal
/// requires of an attempt that waits for the customer: Order Code and Entry Code show a code
/// (so `AwaitingCustomer` needs it and its expiry); User-presented and Auto Debit show none.
///
/// For User-presented the customer's own payment code is a bearer secret (whoever holds it can
/// charge the wallet until it expires), so the journal never stores it: a payment whose
/// product shows no code refuses `code_value` altogether. If an engine later needs to tell
/// codes apart in the journal, store a masked form (the last four digits), never the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Product {
    /// The terminal shows a QR code (from `pay`) that the customer scans.
    OrderCode,
    /// The terminal scans the customer's payment code.
    UserPresented,
    /// The customer scans a code fixed at the till and pays on the merchant's order page.
    EntryCode,
    /// A payment charged against an agreement the customer signed earlier.
    AutoDebit,
}

impl Product {
    pub const ALL: [Product; 4] = [
        Product::OrderCode,
        Product::UserPresented,
        Product::EntryCode,
        Product::AutoDebit,
    ];

    /// The stored spelling (the `payments.product` column).
    pub fn as_str(self) -> &'static str {
        match self {
            Product::OrderCode => "order_code",
            Product::UserPresented => "user_presented",
            Product::EntryCode => "entry_code",
            Product::AutoDebit => "auto_debit",
        }
    }

    pub fn parse(text: &str) -> Option<Product> {
        Product::ALL.into_iter().find(|p| p.as_str() == text)
    }

    /// Whether an attempt of this product shows the customer a code while it waits, and so
    /// cannot be `AwaitingCustomer` without `code_value` and `code_expires_at`.
    pub fn shows_code(self) -> bool {
        matches!(self, Product::OrderCode | Product::EntryCode)
    }
}

impl fmt::Display for Product {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an outcome that was unknown for a while got settled, so that a later reader can tell
/// "Alipay told us" from "we assumed".
///
/// Only ways the engine (or a manager, [`Resolution::Manual`] and
/// [`Resolution::Reconciliation`]) really settles something are listed: a value nothing
/// produces would be a promise the code does not keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Resolution {
    /// The answer to `pay` itself.
    Pay,
    /// An `inquiryPayment` / `inquiryRefund` answer.
    Inquiry,
    /// The result of a `cancel`.
    Cancel,
    /// A verified `notifyPayment`.
    Notify,
    /// The answer to `refund` itself.
    Refund,
    /// A person looked it up (e.g. in the merchant portal) and entered it.
    Manual,
    /// Alipay's reconciliation report listed it, and a manager accepted the report's word
    /// for a payment or refund the terminal had left unresolved (`reconcile accept`).
    Reconciliation,
}

impl Resolution {
    pub const ALL: [Resolution; 7] = [
        Resolution::Pay,
        Resolution::Inquiry,
        Resolution::Cancel,
        Resolution::Notify,
        Resolution::Refund,
        Resolution::Manual,
        Resolution::Reconciliation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Pay => "pay",
            Resolution::Inquiry => "inquiry",
            Resolution::Cancel => "cancel",
            Resolution::Notify => "notify",
            Resolution::Refund => "refund",
            Resolution::Manual => "manual",
            Resolution::Reconciliation => "reconciliation",
        }
    }

    pub fn parse(text: &str) -> Option<Resolution> {
        Resolution::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

impl fmt::Display for Resolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parsing the stored spellings (`"awaiting_customer"`, `"succeeded"`, `"notify"`,
/// `"manager"`), e.g. from a command line or a config file.
macro_rules! from_str_via_parse {
    ($($ty:ty => $what:literal),* $(,)?) => {$(
        impl std::str::FromStr for $ty {
            type Err = UnknownName;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                <$ty>::parse(text).ok_or_else(|| UnknownName {
                    what: $what,
                    given: text.to_owned(),
                })
            }
        }
    )*};
}

from_str_via_parse!(
    PaymentState => "payment state",
    RefundState => "refund state",
    Resolution => "resolution",
    Product => "product",
    Actor => "actor",
);

/// A name that is not one of the journal's spellings.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{given}` is not a known {what}")]
pub struct UnknownName {
    pub what: &'static str,
    pub given: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip() {
        for s in PaymentState::ALL {
            assert_eq!(PaymentState::parse(s.as_str()), Some(s));
        }
        for s in RefundState::ALL {
            assert_eq!(RefundState::parse(s.as_str()), Some(s));
        }
        for r in Resolution::ALL {
            assert_eq!(Resolution::parse(r.as_str()), Some(r));
        }
        for p in Product::ALL {
            assert_eq!(Product::parse(p.as_str()), Some(p));
        }
        assert_eq!(Resolution::parse("guess"), None);
        for a in [Actor::Cashier, Actor::Manager, Actor::System] {
            assert_eq!(Actor::parse(a.as_str()), Some(a));
        }
        assert_eq!(PaymentState::parse("PAID"), None);
        assert_eq!(
            "awaiting_customer".parse(),
            Ok(PaymentState::AwaitingCustomer)
        );
        assert_eq!("notify".parse(), Ok(Resolution::Notify));
        let error = "bogus".parse::<RefundState>().unwrap_err();
        assert_eq!(error.to_string(), "`bogus` is not a known refund state");
    }

    #[test]
    fn final_states_go_nowhere_through_transitions() {
        for from in PaymentState::ALL.into_iter().filter(|s| s.is_final()) {
            for to in PaymentState::ALL {
                assert!(!from.can_become(to), "{from} -> {to}");
            }
        }
        for from in RefundState::ALL.into_iter().filter(|s| s.is_final()) {
            for to in RefundState::ALL {
                assert!(!from.can_become(to), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn open_states_are_exactly_the_non_final_ones() {
        let open: Vec<_> = PaymentState::ALL
            .into_iter()
            .filter(|s| !s.is_final())
            .collect();
        assert_eq!(open, PaymentState::OPEN);
        let open: Vec<_> = RefundState::ALL
            .into_iter()
            .filter(|s| !s.is_final())
            .collect();
        assert_eq!(open, RefundState::OPEN);
    }

    #[test]
    fn sql_lists_follow_the_constants() {
        assert_eq!(
            open_payment_states_sql(),
            "'created', 'awaiting_customer', 'cancelling', 'unresolved'"
        );
        assert_eq!(open_refund_states_sql(), "'requested', 'unresolved'");
        assert_eq!(code_products_sql(), "'order_code', 'entry_code'");
        assert_eq!(sql_list(["ok", "it's", "Upper"]), "'ok'");
    }

    #[test]
    fn no_state_becomes_itself_or_created() {
        for s in PaymentState::ALL {
            assert!(!s.can_become(s));
            assert!(!s.can_become(PaymentState::Created));
        }
        for s in RefundState::ALL {
            assert!(!s.can_become(s));
            assert!(!s.can_become(RefundState::Requested));
        }
    }
}
