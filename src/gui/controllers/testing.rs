//! The one allowed mock: an [`EngineHandle`] that records what the controllers asked and
//! answers with what the test put in. An answer left at `None` is never given (the request
//! stays "on its way"), which is how a test looks at a controller mid-request. Answers are
//! given at once, inside the call, which also checks that no controller holds a borrow of
//! its own state while it asks the engine.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use time::{Date, OffsetDateTime};

use crate::admin::ManagerApproval;
use crate::checkout::ManualOutcome;
use crate::gui::controllers::sale::ChargeRequest;
use crate::gui::engine_handle::{
    AcceptRefused, Answer, Detail, EngineEvent, EngineFacts, EngineHandle, Listed, RefundRefused,
    Reply, ResolveSummary, StartRefused,
};
use crate::journal::{
    CurrencyTotals, DayClose, DayCloseReport, PaymentFilter, PaymentLocalId, PaymentRecord,
    PaymentState, Product, RefundRecord, RegistrationRecord,
};
use crate::money::{Currency, MinorTotal, Money};
use crate::reconcile::accept::Accepted;
use crate::reconcile::day_report::DayReport;

/// One request the mock received.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    StartPayment {
        amount: Money,
        description: String,
        /// The last four digits of the customer's code (User-presented).
        customer_code: Option<String>,
    },
    DemoConfirm {
        payment: String,
        confirm: bool,
    },
    Cancel(String),
    Payment(String),
    Refund {
        payment: String,
        amount: Money,
        reason: String,
        manager: String,
    },
    Settle {
        payment: String,
        outcome: ManualOutcome,
        reason: String,
    },
    ResolveNow,
    Transactions(PaymentFilter),
    Detail(String),
    CountUnresolved,
    DayTotals(Date),
    DayReport(Date),
    CloseDay {
        day: Date,
        manager: String,
    },
    DemoCustomer(String),
    /// `reconciliation_day` for this Alipay day (`yyyyMMdd`).
    ReconciliationDay(String),
    AcceptDiscrepancy {
        id: i64,
        reason: String,
        manager: String,
    },
    Registration,
    CheckRegistration,
}

#[derive(Default)]
pub struct MockEngine {
    pub calls: RefCell<Vec<Call>>,
    pub start: RefCell<Option<Result<PaymentRecord, StartRefused>>>,
    pub payment: RefCell<Option<Answer<PaymentRecord>>>,
    pub refund: RefCell<Option<Result<RefundRecord, RefundRefused>>>,
    pub settle: RefCell<Option<Answer<PaymentRecord>>>,
    pub resolve: RefCell<Option<Answer<ResolveSummary>>>,
    pub transactions: RefCell<Option<Answer<Vec<Listed>>>>,
    pub detail: RefCell<Option<Answer<Option<Detail>>>>,
    pub unresolved: RefCell<Option<Answer<usize>>>,
    pub totals: RefCell<Option<Answer<Vec<CurrencyTotals>>>>,
    pub day_report: RefCell<Option<Answer<Option<DayCloseReport>>>>,
    pub close_day: RefCell<Option<Answer<DayClose>>>,
    pub reconciliation: RefCell<Option<Answer<DayReport>>>,
    pub accept: RefCell<Option<Result<Accepted, AcceptRefused>>>,
    pub registration: RefCell<Option<Answer<Option<RegistrationRecord>>>>,
    pub check_registration: RefCell<Option<Answer<Option<RegistrationRecord>>>>,
    pub facts: RefCell<EngineFacts>,
    /// Whether the engine's tasks follow a payment (`is_driven`).
    pub driven: RefCell<bool>,
    /// Whether the demo customer's call answers (else it stays on its way).
    pub demo_answers: RefCell<bool>,
}

impl MockEngine {
    pub fn new() -> Rc<MockEngine> {
        Rc::new(MockEngine::default())
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.borrow().clone()
    }

    pub fn clear_calls(&self) {
        self.calls.borrow_mut().clear();
    }

    fn record(&self, call: Call) {
        self.calls.borrow_mut().push(call);
    }
}

fn answer<T: Clone>(slot: &RefCell<Option<T>>, done: Reply<T>) {
    let answer = slot.borrow().clone();
    if let Some(answer) = answer {
        done(answer);
    }
}

impl EngineHandle for MockEngine {
    fn start_payment(
        &self,
        request: ChargeRequest,
        done: Reply<Result<PaymentRecord, StartRefused>>,
    ) {
        self.record(Call::StartPayment {
            amount: request.amount,
            description: request.description,
            customer_code: request.customer_code.map(|code| code.last4().to_owned()),
        });
        answer(&self.start, done);
    }

    fn confirm_as_demo_customer(&self, payment: String, confirm: bool, done: Reply<()>) {
        self.record(Call::DemoConfirm { payment, confirm });
        done(());
    }

    fn cancel_payment(&self, payment_request_id: String, done: Reply<()>) {
        self.record(Call::Cancel(payment_request_id));
        done(());
    }

    fn payment(&self, payment_request_id: String, done: Reply<Answer<PaymentRecord>>) {
        self.record(Call::Payment(payment_request_id));
        answer(&self.payment, done);
    }

    /// The controllers take events as method calls (`on_event`); tests call those.
    fn subscribe(&self, _sink: Box<dyn Fn(EngineEvent)>) {}

    fn refund(
        &self,
        payment_request_id: String,
        amount: Money,
        reason: String,
        approval: Arc<ManagerApproval>,
        done: Reply<Result<RefundRecord, RefundRefused>>,
    ) {
        self.record(Call::Refund {
            payment: payment_request_id,
            amount,
            reason,
            manager: approval.manager().to_string(),
        });
        answer(&self.refund, done);
    }

    fn settle_manually(
        &self,
        payment_request_id: String,
        outcome: ManualOutcome,
        reason: String,
        _approval: Arc<ManagerApproval>,
        done: Reply<Answer<PaymentRecord>>,
    ) {
        self.record(Call::Settle {
            payment: payment_request_id,
            outcome,
            reason,
        });
        answer(&self.settle, done);
    }

    fn resolve_now(&self, done: Reply<Answer<ResolveSummary>>) {
        self.record(Call::ResolveNow);
        answer(&self.resolve, done);
    }

    fn transactions(&self, filter: PaymentFilter, done: Reply<Answer<Vec<Listed>>>) {
        self.record(Call::Transactions(filter));
        answer(&self.transactions, done);
    }

    fn payment_detail(&self, payment_request_id: String, done: Reply<Answer<Option<Detail>>>) {
        self.record(Call::Detail(payment_request_id));
        answer(&self.detail, done);
    }

    fn count_unresolved(&self, done: Reply<Answer<usize>>) {
        self.record(Call::CountUnresolved);
        answer(&self.unresolved, done);
    }

    fn day_totals(&self, day: Date, done: Reply<Answer<Vec<CurrencyTotals>>>) {
        self.record(Call::DayTotals(day));
        answer(&self.totals, done);
    }

    fn day_report(&self, day: Date, done: Reply<Answer<Option<DayCloseReport>>>) {
        self.record(Call::DayReport(day));
        answer(&self.day_report, done);
    }

    fn close_day(&self, day: Date, approval: Arc<ManagerApproval>, done: Reply<Answer<DayClose>>) {
        self.record(Call::CloseDay {
            day,
            manager: approval.manager().to_string(),
        });
        answer(&self.close_day, done);
    }

    fn reconciliation_day(&self, date: String, done: Reply<Answer<DayReport>>) {
        self.record(Call::ReconciliationDay(date));
        answer(&self.reconciliation, done);
    }

    fn accept_discrepancy(
        &self,
        id: i64,
        reason: String,
        approval: Arc<ManagerApproval>,
        done: Reply<Result<Accepted, AcceptRefused>>,
    ) {
        self.record(Call::AcceptDiscrepancy {
            id,
            reason,
            manager: approval.manager().to_string(),
        });
        answer(&self.accept, done);
    }

    fn registration(&self, done: Reply<Answer<Option<RegistrationRecord>>>) {
        self.record(Call::Registration);
        answer(&self.registration, done);
    }

    fn check_registration(&self, done: Reply<Answer<Option<RegistrationRecord>>>) {
        self.record(Call::CheckRegistration);
        answer(&self.check_registration, done);
    }

    fn is_driven(&self, _payment_request_id: &str) -> bool {
        *self.driven.borrow()
    }

    fn facts(&self) -> EngineFacts {
        self.facts.borrow().clone()
    }

    fn pay_as_demo_customer(&self, code: String, done: Reply<()>) {
        self.record(Call::DemoCustomer(code));
        if *self.demo_answers.borrow() {
            done(());
        }
    }
}

/// USD, the demo currency.
pub fn usd(text: &str) -> Money {
    Money::parse(text, Currency::USD).unwrap()
}

/// A payment record as the journal would hold it.
pub fn record(id: &str, amount: &str, state: PaymentState) -> PaymentRecord {
    let at = OffsetDateTime::from_unix_timestamp(1_795_442_709).unwrap();
    PaymentRecord {
        id: PaymentLocalId(1),
        payment_request_id: id.into(),
        order_ref: format!("ORD-{id}"),
        amount: usd(amount),
        description: "Purchase".into(),
        operator: "T01".into(),
        product: Product::OrderCode,
        state,
        payment_id: (state == PaymentState::Paid).then(|| "2026112300001".to_string()),
        code_value: matches!(
            state,
            PaymentState::AwaitingCustomer | PaymentState::Cancelling
        )
        .then(|| format!("http://127.0.0.1:8090/wallet/order/{id}")),
        code_expires_at: Some(at + time::Duration::minutes(5)),
        result_code: None,
        result_message: None,
        resolution: None,
        paid_at: (state == PaymentState::Paid).then_some(at),
        created_at: at,
        updated_at: at,
        final_at: state.is_final().then_some(at),
        customer_code_last4: None,
    }
}

/// A payment record taken by `product`; `last4` is what the journal keeps of a
/// User-presented customer's code.
pub fn record_with_product(
    id: &str,
    amount: &str,
    state: PaymentState,
    product: Product,
    last4: Option<&str>,
) -> PaymentRecord {
    let base = record(id, amount, state);
    let shows_code = product.shows_code();
    PaymentRecord {
        product,
        code_value: base.code_value.filter(|_| shows_code),
        code_expires_at: base.code_expires_at.filter(|_| shows_code),
        customer_code_last4: last4.map(str::to_owned),
        ..base
    }
}

/// The detail of a paid payment of which `remaining` is left to refund.
pub fn paid_detail(id: &str, amount: &str, remaining: &str) -> Detail {
    let record = record(id, amount, PaymentState::Paid);
    let remaining = Money::parse(remaining, Currency::USD)
        .map(MinorTotal::from)
        .unwrap_or(MinorTotal::zero(Currency::USD));
    let refunded = MinorTotal::from(record.amount)
        .checked_sub(remaining)
        .unwrap();
    Detail {
        record,
        events: Vec::new(),
        refunds: Vec::new(),
        refunded,
        remaining,
        driven: false,
    }
}

/// A day's books with one transactions file (5 rows: 3 matched, 2 not ours) and the open
/// discrepancies `open` (number, kind), each a PAYMENT of 12.50 USD in the file.
pub fn day_report(date: &str, open: &[(i64, crate::journal::DiscrepancyKind)]) -> DayReport {
    use crate::journal::{DiscrepancyRecord, ImportedFile, ListedType, ReportKind};
    let at = OffsetDateTime::from_unix_timestamp(1_795_442_709).unwrap();
    let name = format!("transactionItems_{date}_000.csv");
    let open = open
        .iter()
        .map(|&(id, kind)| DiscrepancyRecord {
            id,
            kind,
            report_date: date.to_string(),
            transaction_request_id: format!("P-1795442709-T01-{id:012}"),
            transaction_type: ListedType::Payment,
            file: name.clone(),
            line: Some(u64::try_from(id).unwrap() + 1),
            entity: None,
            alipay: r#"{"amount":"12.50","currency":"USD"}"#.into(),
            journal: "null".into(),
            found_at: at,
            resolution: None,
            resolved_at: None,
        })
        .collect();
    DayReport {
        date: date.to_string(),
        files: vec![ImportedFile {
            id: 1,
            name,
            sha256: "0".repeat(64),
            kind: ReportKind::Transactions,
            report_date: date.to_string(),
            settlement_batch_id: None,
            rows: 5,
            matched: 3,
            not_ours: 2,
            imported_at: at,
        }],
        matched: 3,
        not_ours: 2,
        open,
        resolved: Vec::new(),
        batches: Vec::new(),
    }
}
