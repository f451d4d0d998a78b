//! The SQLite journal, exercised on real files in temporary folders.

use std::path::Path;
use std::sync::{Arc, Barrier, Mutex};

use alipay_pos::journal::{
    Actor, CallKind, CheckReport, EntityRef, EventKind, FILE_NAME, Journal, JournalError,
    NewPayment, NewRefund, PaymentFilter, PaymentLocalId, PaymentRecord, PaymentState,
    PaymentUpdate, Product, Reader, RefundRecord, RefundState, RefundUpdate, RequestIntent,
    RequestOutcome, Resolution, ViolationKind, schema_version,
};
use alipay_pos::money::{Currency, Money};
use rusqlite::Connection;
use tempfile::TempDir;
use time::macros::{date, datetime, offset};
use time::{Duration, OffsetDateTime};

// ---------------------------------------------------------------------------------------
// Helpers

/// A clock the test moves by hand, so stored times are predictable.
#[derive(Clone)]
struct TestClock(Arc<Mutex<OffsetDateTime>>);

impl TestClock {
    fn new(start: OffsetDateTime) -> TestClock {
        TestClock(Arc::new(Mutex::new(start)))
    }
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
    fn set(&self, at: OffsetDateTime) {
        *self.0.lock().unwrap() = at;
    }
    fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

struct Fixture {
    dir: TempDir,
    journal: Journal,
    clock: TestClock,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new(datetime!(2024-05-01 08:00:00 UTC));
    let journal = open_with_clock(dir.path(), &clock);
    Fixture {
        dir,
        journal,
        clock,
    }
}

fn open_with_clock(dir: &Path, clock: &TestClock) -> Journal {
    let clock = clock.clone();
    Journal::open_in(dir)
        .unwrap()
        .with_clock(move || clock.now())
}

fn raw(dir: &Path) -> Connection {
    Connection::open(dir.join(FILE_NAME)).unwrap()
}

fn usd(minor: u64) -> Money {
    Money::from_minor(minor, Currency::USD).unwrap()
}

fn jpy(minor: u64) -> Money {
    Money::from_minor(minor, Currency::JPY).unwrap()
}

fn pay(j: &mut Journal, request_id: &str, order_ref: &str, amount: Money) -> PaymentRecord {
    j.create_payment(
        NewPayment {
            payment_request_id: request_id.to_owned(),
            order_ref: order_ref.to_owned(),
            amount,
            description: "Coffee".to_owned(),
            operator: "cashier-7".to_owned(),
            product: Product::OrderCode,
            customer_code: None,
        },
        Actor::Cashier,
    )
    .unwrap()
}

/// An update that carries whatever entering `to` requires.
fn update_for(record: &PaymentRecord, to: PaymentState) -> PaymentUpdate {
    match to {
        PaymentState::AwaitingCustomer => PaymentUpdate {
            code_value: Some(format!("https://qr.example/{}", record.id.get())),
            code_expires_at: Some(datetime!(2024-05-01 16:05:00 +08:00)),
            ..PaymentUpdate::default()
        },
        PaymentState::Paid => PaymentUpdate {
            payment_id: Some(format!("2024050111{:08}", record.id.get())),
            paid_at: Some(datetime!(2024-05-01 16:03:00 +08:00)),
            result_code: Some("SUCCESS".to_owned()),
            ..PaymentUpdate::default()
        },
        _ => PaymentUpdate::default(),
    }
}

fn go(j: &mut Journal, record: &PaymentRecord, to: PaymentState) -> PaymentRecord {
    j.transition_payment(record.id, to, Actor::System, "test", update_for(record, to))
        .unwrap()
}

/// The shortest legal path from Created to `state`.
fn path_to(state: PaymentState) -> &'static [PaymentState] {
    use PaymentState::*;
    match state {
        Created => &[],
        AwaitingCustomer => &[AwaitingCustomer],
        Cancelling => &[Cancelling],
        Unresolved => &[Unresolved],
        Paid => &[Paid],
        Failed => &[Failed],
        Cancelled => &[Cancelling, Cancelled],
    }
}

fn payment_in(j: &mut Journal, request_id: &str, state: PaymentState) -> PaymentRecord {
    let mut record = pay(j, request_id, &format!("order-{request_id}"), usd(1000));
    for &step in path_to(state) {
        record = go(j, &record, step);
    }
    assert_eq!(record.state, state);
    record
}

fn refund(
    j: &mut Journal,
    request_id: &str,
    payment: PaymentLocalId,
    amount: Money,
) -> RefundRecord {
    j.create_refund(
        NewRefund {
            refund_request_id: request_id.to_owned(),
            payment,
            amount,
            reason: "customer returned the item".to_owned(),
            manager: "manager-1".to_owned(),
        },
        Actor::Manager,
    )
    .unwrap()
}

fn try_refund(
    j: &mut Journal,
    request_id: &str,
    payment: PaymentLocalId,
    amount: Money,
) -> Result<RefundRecord, JournalError> {
    j.create_refund(
        NewRefund {
            refund_request_id: request_id.to_owned(),
            payment,
            amount,
            reason: String::new(),
            manager: "manager-1".to_owned(),
        },
        Actor::Manager,
    )
}

fn refund_update_for(record: &RefundRecord, to: RefundState) -> RefundUpdate {
    match to {
        RefundState::Succeeded => RefundUpdate {
            refund_id: Some(format!("R2024{:08}", record.id.get())),
            result_code: Some("SUCCESS".to_owned()),
            ..RefundUpdate::default()
        },
        _ => RefundUpdate::default(),
    }
}

fn settle_refund(j: &mut Journal, record: &RefundRecord, to: RefundState) -> RefundRecord {
    j.transition_refund(
        record.id,
        to,
        Actor::System,
        "test",
        refund_update_for(record, to),
    )
    .unwrap()
}

fn event_count(j: &Journal, entity: impl Into<EntityRef>) -> usize {
    j.events_for(entity).unwrap().len()
}

fn sha(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}

// ---------------------------------------------------------------------------------------
// Opening, settings, migrations

#[test]
fn open_applies_the_settings_and_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("fresh/data");
    let journal = Journal::open_in(&data_dir).unwrap();
    assert_eq!(journal.path(), data_dir.join("journal.sqlite"));
    assert!(data_dir.join("journal.sqlite").is_file());

    let settings = journal.settings().unwrap();
    assert_eq!(settings.journal_mode, "wal");
    assert_eq!(settings.synchronous, 2, "FULL");
    assert!(settings.foreign_keys);
    assert_eq!(settings.user_version, schema_version());
    assert!(settings.busy_timeout_ms >= 1000);

    // WAL is a property of the file: another connection sees it too.
    let mode: String = raw(&data_dir)
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    assert!(journal.check().unwrap().is_clean());
}

fn schema_snapshot(dir: &Path) -> Vec<(String, String)> {
    let conn = raw(dir);
    let mut statement = conn
        .prepare("SELECT name, coalesce(sql, '') FROM sqlite_schema ORDER BY name")
        .unwrap();
    statement
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn reopening_is_a_no_op() {
    let Fixture {
        dir,
        mut journal,
        clock,
    } = fixture();
    let record = pay(&mut journal, "P-1", "order-1", usd(500));
    drop(journal);
    let before = schema_snapshot(dir.path());

    let journal = open_with_clock(dir.path(), &clock);
    assert_eq!(schema_snapshot(dir.path()), before);
    assert_eq!(journal.settings().unwrap().user_version, schema_version());
    assert_eq!(journal.payment(record.id).unwrap(), Some(record.clone()));
    assert_eq!(event_count(&journal, record.id), 1);
    drop(journal);
    // And a third time, through `open` with the full path.
    let journal = Journal::open(dir.path().join(FILE_NAME)).unwrap();
    assert_eq!(journal.payment(record.id).unwrap(), Some(record));
}

#[test]
fn a_newer_schema_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    drop(Journal::open_in(dir.path()).unwrap());
    let newer = schema_version() + 1;
    raw(dir.path())
        .pragma_update(None, "user_version", newer)
        .unwrap();

    let error = Journal::open_in(dir.path()).unwrap_err();
    match &error {
        JournalError::SchemaTooNew {
            found, supported, ..
        } => {
            assert_eq!(*found, newer);
            assert_eq!(*supported, schema_version());
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    let message = error.to_string();
    assert!(message.contains("newer alipay-pos"), "{message}");
    assert!(message.contains("Do not delete"), "{message}");
    let version: i64 = raw(dir.path())
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, newer, "the file must not be touched");
}

#[test]
fn foreign_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.sqlite");
    std::fs::write(
        &garbage,
        b"this is not a database, it is a shopping list\n".repeat(200),
    )
    .unwrap();
    let error = Journal::open(&garbage).unwrap_err();
    assert!(
        matches!(error, JournalError::NotAJournal { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("not an alipay-pos journal"));

    let other_app = dir.path().join("other.sqlite");
    Connection::open(&other_app)
        .unwrap()
        .execute_batch("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);")
        .unwrap();
    let error = Journal::open(&other_app).unwrap_err();
    assert!(
        matches!(error, JournalError::NotAJournal { .. }),
        "{error:?}"
    );

    let missing_dir = dir.path().join("no/such/dir/journal.sqlite");
    let error = Journal::open(&missing_dir).unwrap_err();
    assert!(matches!(error, JournalError::Open { .. }), "{error:?}");
    assert!(error.to_string().contains("data folder"), "{error}");
}

#[test]
fn journal_moves_between_threads() {
    let Fixture {
        dir: _dir, journal, ..
    } = fixture();
    let mut journal = std::thread::spawn(move || journal).join().unwrap();
    pay(&mut journal, "P-1", "order-1", usd(1));
}

// ---------------------------------------------------------------------------------------
// Payments: creation and the state machine

#[test]
fn create_payment_writes_the_row_and_a_created_event() {
    let Fixture {
        dir: _dir,
        mut journal,
        clock,
    } = fixture();
    let record = pay(&mut journal, "P-1", "order-1", usd(1234));
    assert_eq!(record.state, PaymentState::Created);
    assert_eq!(record.amount, usd(1234));
    assert_eq!(record.operator, "cashier-7");
    assert_eq!(record.created_at, clock.now());
    assert_eq!(record.updated_at, clock.now());
    assert_eq!(record.final_at, None);
    assert_eq!(record.payment_id, None);

    let events = journal.events_for(record.entity()).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::Created);
    assert_eq!(events[0].actor, Actor::Cashier);
    assert_eq!(events[0].from_state, None);
    assert_eq!(events[0].to_state.as_deref(), Some("created"));
    assert!(
        events[0].detail.contains("USD 12.34"),
        "{}",
        events[0].detail
    );

    let duplicate = journal
        .create_payment(
            NewPayment {
                payment_request_id: "P-1".into(),
                order_ref: "order-2".into(),
                amount: usd(1),
                description: String::new(),
                operator: "cashier-7".into(),
                product: Product::OrderCode,
                customer_code: None,
            },
            Actor::Cashier,
        )
        .unwrap_err();
    assert!(
        matches!(&duplicate, JournalError::DuplicateRequestId { id } if id == "P-1"),
        "{duplicate:?}"
    );

    for (request_id, operator) in [("has space", "c"), ("", "c"), ("P-2", " ")] {
        let error = journal
            .create_payment(
                NewPayment {
                    payment_request_id: request_id.into(),
                    order_ref: "order-2".into(),
                    amount: usd(1),
                    description: String::new(),
                    operator: operator.into(),
                    product: Product::OrderCode,
                    customer_code: None,
                },
                Actor::Cashier,
            )
            .unwrap_err();
        assert!(
            matches!(error, JournalError::InvalidInput { .. }),
            "{error:?}"
        );
    }
    assert_eq!(
        journal
            .list_payments(&PaymentFilter::default())
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn every_legal_payment_transition_works_and_writes_one_event() {
    let Fixture {
        dir: _dir,
        mut journal,
        ..
    } = fixture();
    let mut checked = 0;
    for from in PaymentState::ALL {
        for to in PaymentState::ALL {
            if !from.can_become(to) {
                continue;
            }
            let record = payment_in(&mut journal, &format!("P-{from}-{to}"), from);
            let before = event_count(&journal, record.id);
            let after = journal
                .transition_payment(
                    record.id,
                    to,
                    Actor::System,
                    "legal move",
                    update_for(&record, to),
                )
                .unwrap_or_else(|e| panic!("{from} -> {to}: {e}"));
            assert_eq!(after.state, to);
            assert_eq!(after.final_at.is_some(), to.is_final(), "{from} -> {to}");
            let events = journal.events_for(record.id).unwrap();
            assert_eq!(events.len(), before + 1, "{from} -> {to}");
            let last = events.last().unwrap();
            assert_eq!(last.kind, EventKind::Transition);
            assert_eq!(last.from_state.as_deref(), Some(from.as_str()));
            assert_eq!(last.to_state.as_deref(), Some(to.as_str()));
            assert_eq!(last.detail, "legal move");
            checked += 1;
        }
    }
    assert_eq!(checked, 19, "the size of the transition table");
    assert!(journal.check().unwrap().is_clean());
}

#[test]
fn every_illegal_payment_transition_is_refused_and_writes_nothing() {
    let Fixture {
        dir: _dir,
        mut journal,
        ..
    } = fixture();
    let mut checked = 0;
    for from in PaymentState::ALL {
        let record = payment_in(&mut journal, &format!("P-{from}"), from);
        for to in PaymentState::ALL {
            if to == from || from.can_become(to) {
                continue;
            }
            let before = journal.events_for(record.id).unwrap();
            let error = journal
                .transition_payment(record.id, to, Actor::System, "no", update_for(&record, to))
                .unwrap_err();
            match error {
                JournalError::IllegalTransition {
                    payment,
                    from: f,
                    to: t,
                } => {
                    assert_eq!((payment, f, t), (record.id, from, to));
                }
                other => panic!("{from} -> {to}: expected IllegalTransition, got {other:?}"),
            }
            assert_eq!(journal.payment(record.id).unwrap().unwrap(), record);
            assert_eq!(journal.events_for(record.id).unwrap(), before);
            checked += 1;
        }
    }
    // 7 states x 6 other states, minus the 19 legal moves.
    assert_eq!(checked, 42 - 19);
}

#[test]
fn repeating_the_current_state_is_idempotent() {
    let Fixture {
        dir: _dir,
        mut journal,
        ..
    } = fixture();
    for state in PaymentState::ALL {
        let record = payment_in(&mut journal, &format!("P-{state}"), state);
        let before = event_count(&journal, record.id);
        // Nothing new: the stored record back, no event.
        let again = journal
            .transition_payment(
                record.id,
                state,
                Actor::System,
                "again",
                PaymentUpdate::default(),
            )
            .unwrap();
        assert_eq!(again, record);
        // Repeating the facts already stored is also nothing new.
        let again = journal
            .transition_payment(
                record.id,
                state,
                Actor::System,
                "again",
                update_for(&record, state),
            )
            .unwrap();
        assert_eq!(again, record);
        assert_eq!(event_count(&journal, record.id), before, "{state}");

        // New facts on the same state: an update event for open states, refused for final.
        let news = PaymentUpdate {
            result_message: Some("still waiting".into()),
            ..PaymentUpdate::default()
        };
        let result = journal.transition_payment(record.id, state, Actor::System, "news", news);
        if state.is_final() {
            assert!(
                matches!(result, Err(JournalError::IllegalTransition { .. })),
                "{state}: {result:?}"
            );
            assert_eq!(event_count(&journal, record.id), before);
        } else {
            let updated = result.unwrap();
            assert_eq!(updated.result_message.as_deref(), Some("still waiting"));
            let events = journal.events_for(record.id).unwrap();
            assert_eq!(events.len(), before + 1);
            assert_eq!(events.last().unwrap().kind, EventKind::Update);
        }
    }
}

#[test]
fn transitions_record_what_was_learned_and_require_the_essentials() {
    let Fixture {
        dir: _dir,
        mut journal,
        clock,
    } = fixture();
    let record = pay(&mut journal, "P-1", "order-1", usd(990));

    // AwaitingCustomer needs the order code and its expiry.
    let error = journal
        .transition_payment(
            "P-1",
            PaymentState::AwaitingCustomer,
            Actor::System,
            "code",
            PaymentUpdate {
                code_value: Some("https://qr".into()),
                ..PaymentUpdate::default()
            },
        )
        .unwrap_err();
    assert!(
        matches!(
            error,
            JournalError::MissingField {
                field: "code_expires_at",
                ..
            }
        ),
        "{error:?}"
    );
    clock.advance(Duration::seconds(2));
    let awaiting = journal
        .transition_payment(
            "P-1",
            PaymentState::AwaitingCustomer,
            Actor::System,
            "code",
            PaymentUpdate {
                payment_id: Some("PAY-ALIPAY-1".into()),
                code_value: Some("https://qr".into()),
                code_expires_at: Some(datetime!(2024-05-01 16:05:00.123456789 +08:00)),
                ..PaymentUpdate::default()
            },
        )
        .unwrap();
    assert_eq!(
        awaiting.code_expires_at,
        Some(datetime!(2024-05-01 08:05:00.123456 UTC)),
        "stored in UTC, to the microsecond"
    );
    assert_eq!(awaiting.updated_at, clock.now());
    assert_eq!(awaiting.created_at, record.created_at);

    // paid_at only with Paid.
    let error = journal
        .transition_payment(
            "P-1",
            PaymentState::Unresolved,
            Actor::System,
            "",
            PaymentUpdate {
                paid_at: Some(clock.now()),
                ..PaymentUpdate::default()
            },
        )
        .unwrap_err();
    assert!(matches!(
        error,
        JournalError::InvalidInput {
            field: "paid_at",
            ..
        }
    ));

    // Alipay's payment id never changes.
    let error = journal
        .transition_payment(
            "P-1",
            PaymentState::Paid,
            Actor::System,
            "",
            PaymentUpdate {
                payment_id: Some("PAY-ALIPAY-OTHER".into()),
                ..PaymentUpdate::default()
            },
        )
        .unwrap_err();
    assert!(
        matches!(&error, JournalError::FieldConflict { field: "payment_id", stored, given, .. }
            if stored == "PAY-ALIPAY-1" && given == "PAY-ALIPAY-OTHER"),
        "{error:?}"
    );

    // Paid: paid_at defaults to the journal's clock; final_at is set.
    clock.advance(Duration::seconds(30));
    let paid = journal
        .transition_payment(
            "P-1",
            PaymentState::Paid,
            Actor::System,
            "notification",
            PaymentUpdate {
                resolution: Some(Resolution::Notify),
                result_code: Some("SUCCESS".into()),
                ..PaymentUpdate::default()
            },
        )
        .unwrap();
    assert_eq!(paid.paid_at, Some(clock.now()));
    assert_eq!(paid.final_at, Some(clock.now()));
    assert_eq!(paid.resolution, Some(Resolution::Notify));
    assert_eq!(paid.payment_id.as_deref(), Some("PAY-ALIPAY-1"));
    assert_eq!(
        journal.payment_by_alipay_id("PAY-ALIPAY-1").unwrap(),
        Some(paid.clone())
    );
    assert_eq!(journal.payment_by_request_id("P-1").unwrap(), Some(paid));

    // Paid without a payment id is refused.
    let other = pay(&mut journal, "P-2", "order-2", usd(1));
    let error = journal
        .transition_payment(
            other.id,
            PaymentState::Paid,
            Actor::System,
            "",
            PaymentUpdate::default(),
        )
        .unwrap_err();
    assert!(matches!(
        error,
        JournalError::MissingField {
            field: "payment_id",
            ..
        }
    ));
    // ... and so is another attempt claiming the same Alipay payment.
    let error = journal
        .transition_payment(
            other.id,
            PaymentState::Paid,
            Actor::System,
            "",
            PaymentUpdate {
                payment_id: Some("PAY-ALIPAY-1".into()),
                ..PaymentUpdate::default()
            },
        )
        .unwrap_err();
    assert!(
        matches!(error, JournalError::AlipayIdInUse { .. }),
        "{error:?}"
    );

    let error = journal
        .transition_payment(
            "P-404",
            PaymentState::Failed,
            Actor::System,
            "",
            PaymentUpdate::default(),
        )
        .unwrap_err();
    assert!(matches!(error, JournalError::NotFound { .. }));
    assert!(journal.payment(PaymentLocalId(404)).unwrap().is_none());
    assert!(journal.check().unwrap().is_clean());
}

/// Money that went back is a refund, its own row: a paid payment never becomes cancelled
/// (there is no "reversal" path any more; the engine never had a producer for one).
#[test]
fn a_paid_payment_never_becomes_cancelled() {
    let Fixture {
        dir: _dir,
        mut journal,
        clock: _,
    } = fixture();
    let paid = payment_in(&mut journal, "P-1", PaymentState::Paid);
    let events = event_count(&journal, paid.id);

    let error = journal
        .transition_payment(
            paid.id,
            PaymentState::Cancelled,
            Actor::Manager,
            "",
            PaymentUpdate::default(),
        )
        .unwrap_err();
    assert!(matches!(error, JournalError::IllegalTransition { .. }));
    assert!(
        error.to_string().contains("final states never change"),
        "{error}"
    );
    assert_eq!(journal.payment(paid.id).unwrap().unwrap(), paid);
    assert_eq!(event_count(&journal, paid.id), events);
    assert!(journal.check().unwrap().is_clean());
}

// ---------------------------------------------------------------------------------------
// Refunds

#[test]
fn refund_transitions_follow_the_state_machine() {
    let Fixture {
        dir: _dir,
        mut journal,
        clock,
    } = fixture();
    let payment = payment_in(&mut journal, "P-1", PaymentState::Paid);
    let mut n = 0;
    let mut new_refund = |journal: &mut Journal, path: &[RefundState]| {
        n += 1;
        let mut r = refund(journal, &format!("R-{n}"), payment.id, usd(1));
        for &step in path {
            r = settle_refund(journal, &r, step);
        }
        r
    };
    let path = |state: RefundState| -> &'static [RefundState] {
        match state {
            RefundState::Requested => &[],
            RefundState::Unresolved => &[RefundState::Unresolved],
            RefundState::Succeeded => &[RefundState::Succeeded],
            RefundState::Failed => &[RefundState::Failed],
        }
    };
    let (mut legal, mut illegal) = (0, 0);
    for from in RefundState::ALL {
        for to in RefundState::ALL {
            let r = new_refund(&mut journal, path(from));
            let before = journal.events_for(r.id).unwrap();
            let result =
                journal.transition_refund(r.id, to, Actor::System, "t", refund_update_for(&r, to));
            if from == to {
                assert_eq!(result.unwrap(), r, "{from} -> {to} is a no-op");
                assert_eq!(journal.events_for(r.id).unwrap(), before);
            } else if from.can_become(to) {
                let after = result.unwrap();
                assert_eq!(after.state, to);
                assert_eq!(after.final_at.is_some(), to.is_final());
                let events = journal.events_for(r.id).unwrap();
                assert_eq!(events.len(), before.len() + 1);
                assert_eq!(
                    events.last().unwrap().to_state.as_deref(),
                    Some(to.as_str())
                );
                legal += 1;
            } else {
                assert!(
                    matches!(result, Err(JournalError::IllegalRefundTransition { .. })),
                    "{from} -> {to}: {result:?}"
                );
                assert_eq!(journal.refund(r.id).unwrap().unwrap(), r);
                assert_eq!(journal.events_for(r.id).unwrap(), before);
                illegal += 1;
            }
        }
    }
    assert_eq!((legal, illegal), (5, 7));

    // Succeeded needs Alipay's refund id; refunded_at defaults to now.
    let r = new_refund(&mut journal, &[]);
    let error = journal
        .transition_refund(
            r.id,
            RefundState::Succeeded,
            Actor::System,
            "",
            RefundUpdate::default(),
        )
        .unwrap_err();
    assert!(matches!(
        error,
        JournalError::MissingField {
            field: "refund_id",
            ..
        }
    ));
    clock.advance(Duration::seconds(5));
    let done = journal
        .transition_refund(
            r.refund_request_id.as_str(),
            RefundState::Succeeded,
            Actor::System,
            "",
            RefundUpdate {
                refund_id: Some("ALIPAY-R-1".into()),
                resolution: Some(Resolution::Inquiry),
                ..RefundUpdate::default()
            },
        )
        .unwrap();
    assert_eq!(done.refunded_at, Some(clock.now()));
    assert_eq!(done.resolution, Some(Resolution::Inquiry));
    assert_eq!(
        journal.refund_by_request_id(&r.refund_request_id).unwrap(),
        Some(done)
    );
    assert!(journal.check().unwrap().is_clean());
}

#[test]
fn refunds_stay_within_the_payment() {
    let Fixture {
        dir: _dir,
        mut journal,
        ..
    } = fixture();
    let payment = payment_in(&mut journal, "P-1", PaymentState::Paid);
    assert_eq!(
        journal.refundable_remaining(payment.id).unwrap().minor(),
        1000
    );

    let first = refund(&mut journal, "R-1", payment.id, usd(300));
    let second = refund(&mut journal, "R-2", payment.id, usd(250));
    assert_eq!(
        journal.refundable_remaining(payment.id).unwrap().minor(),
        450
    );

    // One cent over the boundary is refused, with what is left.
    let error = try_refund(&mut journal, "R-3", payment.id, usd(451)).unwrap_err();
    match &error {
        JournalError::RefundExceedsPayment {
            remaining,
            requested,
            ..
        } => {
            assert_eq!(remaining.minor(), 450);
            assert_eq!(remaining.currency(), Currency::USD);
            assert_eq!(*requested, usd(451));
        }
        other => panic!("expected RefundExceedsPayment, got {other:?}"),
    }
    assert!(error.to_string().contains("4.50"), "{error}");
    assert!(journal.refund_by_request_id("R-3").unwrap().is_none());

    // Exactly the rest is fine, and then nothing is left.
    let last = refund(&mut journal, "R-3", payment.id, usd(450));
    assert!(journal.refundable_remaining(payment.id).unwrap().is_zero());
    let error = try_refund(&mut journal, "R-4", payment.id, usd(1)).unwrap_err();
    assert!(
        matches!(&error, JournalError::RefundExceedsPayment { remaining, .. } if remaining.is_zero())
    );

    // Unresolved still counts; succeeded counts; failed frees its amount.
    settle_refund(&mut journal, &first, RefundState::Succeeded);
    settle_refund(&mut journal, &last, RefundState::Unresolved);
    assert!(journal.refundable_remaining(payment.id).unwrap().is_zero());
    settle_refund(&mut journal, &second, RefundState::Failed);
    assert_eq!(
        journal.refundable_remaining(payment.id).unwrap().minor(),
        250
    );
    refund(&mut journal, "R-5", payment.id, usd(250));

    // A used id is refused as such, before the amount is even looked at.
    let error = try_refund(&mut journal, "R-1", payment.id, usd(1)).unwrap_err();
    assert!(
        matches!(error, JournalError::DuplicateRequestId { .. }),
        "{error:?}"
    );

    let refunds = journal.refunds_for(payment.id).unwrap();
    let ids: Vec<_> = refunds
        .iter()
        .map(|r| r.refund_request_id.as_str())
        .collect();
    assert_eq!(ids, ["R-1", "R-2", "R-3", "R-5"]);
    let open: Vec<_> = journal
        .open_refunds()
        .unwrap()
        .into_iter()
        .map(|r| r.refund_request_id)
        .collect();
    assert_eq!(open, ["R-3", "R-5"]);
    assert!(journal.check().unwrap().is_clean());
}

#[test]
fn refunds_need_a_paid_payment_in_the_same_currency() {
    let Fixture {
        dir: _dir,
        mut journal,
        ..
    } = fixture();
    let paid = payment_in(&mut journal, "P-1", PaymentState::Paid);
    let error = try_refund(&mut journal, "R-1", paid.id, jpy(100)).unwrap_err();
    assert!(
        matches!(
            error,
            JournalError::CurrencyMismatch {
                payment: Currency::USD,
                refund: Currency::JPY
            }
        ),
        "{error:?}"
    );
    let duplicate_ok = refund(&mut journal, "R-2", paid.id, usd(1));
    let error = try_refund(&mut journal, "R-2", paid.id, usd(1)).unwrap_err();
    assert!(
        matches!(&error, JournalError::DuplicateRequestId { id } if id == "R-2"),
        "{error:?}"
    );
    assert_eq!(journal.refunds_for(paid.id).unwrap(), [duplicate_ok]);

    for state in [
        PaymentState::Created,
        PaymentState::AwaitingCustomer,
        PaymentState::Cancelling,
        PaymentState::Unresolved,
        PaymentState::Failed,
        PaymentState::Cancelled,
    ] {
        let payment = payment_in(&mut journal, &format!("P-{state}"), state);
        let error =
            try_refund(&mut journal, &format!("R-{state}"), payment.id, usd(1)).unwrap_err();
        assert!(
            matches!(error, JournalError::PaymentNotPaid { state: s, .. } if s == state),
            "{state}: {error:?}"
        );
        assert!(journal.refundable_remaining(payment.id).unwrap().is_zero());
    }
    let error = try_refund(&mut journal, "R-x", PaymentLocalId(999), usd(1)).unwrap_err();
    assert!(matches!(error, JournalError::NotFound { .. }));
}

#[test]
fn concurrent_refunds_from_two_connections_cannot_exceed_the_payment() {
    let Fixture {
        dir,
        mut journal,
        clock,
    } = fixture();
    let payment = pay(&mut journal, "P-1", "order-1", jpy(1000));
    go(&mut journal, &payment, PaymentState::Paid);
    let other = open_with_clock(dir.path(), &clock);

    // Each connection tries 8 refunds of 100 at once: only 10 of the 16 fit.
    let barrier = Barrier::new(2);
    let results: Vec<Vec<Result<RefundRecord, JournalError>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = [(journal, "A"), (other, "B")]
            .into_iter()
            .map(|(mut j, name)| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    (0..8)
                        .map(|i| try_refund(&mut j, &format!("R-{name}-{i}"), payment.id, jpy(100)))
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut accepted = 0;
    for result in results.iter().flatten() {
        match result {
            Ok(_) => accepted += 1,
            Err(JournalError::RefundExceedsPayment { .. }) => {}
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert_eq!(accepted, 10);

    let journal = Journal::open_in(dir.path()).unwrap();
    let total: u64 = journal
        .refunds_for(payment.id)
        .unwrap()
        .iter()
        .map(|r| r.amount.minor())
        .sum();
    assert_eq!(total, 1000);
    assert!(journal.refundable_remaining(payment.id).unwrap().is_zero());
    assert!(journal.check().unwrap().is_clean());
}

// ---------------------------------------------------------------------------------------
// The event log

#[test]
fn the_event_log_is_append_only() {
    let Fixture {
        dir, mut journal, ..
    } = fixture();
    let record = payment_in(&mut journal, "P-1", PaymentState::Paid);
    let conn = raw(dir.path());

    let error = conn
        .execute("UPDATE events SET detail = 'rewritten'", [])
        .unwrap_err();
    assert!(error.to_string().contains("append-only"), "{error}");
    let error = conn
        .execute("UPDATE events SET to_state = 'failed' WHERE seq = 2", [])
        .unwrap_err();
    assert!(error.to_string().contains("append-only"), "{error}");
    let error = conn.execute("DELETE FROM events", []).unwrap_err();
    assert!(error.to_string().contains("append-only"), "{error}");
    let error = conn
        .execute("DELETE FROM events WHERE seq = 1", [])
        .unwrap_err();
    assert!(error.to_string().contains("append-only"), "{error}");
    // Nor can the records the events describe disappear.
    let error = conn.execute("DELETE FROM payments", []).unwrap_err();
    assert!(error.to_string().contains("never deleted"), "{error}");
    // Events must be about something in the journal.
    let error = conn
        .execute(
            "INSERT INTO events (at, actor, entity_kind, entity_id, kind, detail)
             VALUES ('2024-05-01T00:00:00.000000Z', 'system', 'payment', 999, 'note', 'x')",
            [],
        )
        .unwrap_err();
    assert!(error.to_string().contains("in the journal"), "{error}");

    assert_eq!(event_count(&journal, record.id), 2);
    assert!(journal.check().unwrap().is_clean());
}

#[test]
fn events_tell_the_history_in_order_with_notes() {
    let Fixture {
        dir: _dir,
        mut journal,
        clock,
    } = fixture();
    let record = pay(&mut journal, "P-1", "order-1", usd(100));
    clock.advance(Duration::seconds(1));
    go(&mut journal, &record, PaymentState::AwaitingCustomer);
    clock.advance(Duration::seconds(1));
    let note = journal
        .append_event(record.id, Actor::System, "notification received")
        .unwrap();
    assert_eq!(note.kind, EventKind::Note);
    assert_eq!((note.from_state, note.to_state), (None, None));
    assert_eq!(note.at, clock.now());
    clock.advance(Duration::seconds(1));
    go(&mut journal, &record, PaymentState::Paid);

    let events = journal.events_for(EntityRef::Payment(record.id)).unwrap();
    let kinds: Vec<_> = events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Created,
            EventKind::Transition,
            EventKind::Note,
            EventKind::Transition
        ]
    );
    assert!(
        events
            .windows(2)
            .all(|w| w[0].seq < w[1].seq && w[0].at <= w[1].at)
    );
    assert_eq!(events[2].detail, "notification received");
    assert!(events.iter().all(|e| e.entity == record.entity()));

    let error = journal
        .append_event(PaymentLocalId(999), Actor::System, "ghost")
        .unwrap_err();
    assert!(matches!(error, JournalError::NotFound { .. }));
    let error = journal
        .append_event(record.id, Actor::System, "  ")
        .unwrap_err();
    assert!(matches!(error, JournalError::InvalidInput { .. }));
    // Refund events are kept apart from the payment's.
    let r = refund(&mut journal, "R-1", record.id, usd(10));
    assert_eq!(event_count(&journal, r.id), 1);
    assert_eq!(event_count(&journal, record.id), 4);
}

// ---------------------------------------------------------------------------------------
// The outbound-request log

/// Run by `a_request_intent_survives_a_crash` in a child process, which aborts without
/// closing anything: the harshest crash a test can stage.
#[test]
#[ignore = "helper: runs only as a child of a_request_intent_survives_a_crash"]
fn crash_after_recording_intent() {
    let Ok(dir) = std::env::var("JOURNAL_CRASH_DIR") else {
        return;
    };
    let mut journal = Journal::open_in(&dir).unwrap();
    let payment = pay(&mut journal, "P-CRASH", "order-1", usd(500));
    journal
        .record_request_intent(RequestIntent {
            request_id: "P-CRASH".into(),
            api: CallKind::Pay,
            entity: payment.entity(),
            body_sha256: sha(7),
        })
        .unwrap();
    // The request would be on the wire now; the process dies before an answer.
    std::process::abort();
}

#[test]
fn a_request_intent_survives_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "journal::crash_after_recording_intent",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env("JOURNAL_CRASH_DIR", dir.path())
        .status()
        .unwrap();
    assert!(!status.success(), "the child must have aborted");

    let journal = Journal::open_in(dir.path()).unwrap();
    let payment = journal.payment_by_request_id("P-CRASH").unwrap().unwrap();
    assert_eq!(payment.state, PaymentState::Created);
    let unfinished = journal.unfinished_requests().unwrap();
    assert_eq!(unfinished.len(), 1);
    let request = &unfinished[0];
    assert_eq!(request.request_id, "P-CRASH");
    assert_eq!(request.api, CallKind::Pay);
    assert_eq!(request.entity, payment.entity());
    assert_eq!(request.body_sha256, sha(7));
    assert_eq!((request.outcome, request.finished_at), (None, None));
    assert_eq!(journal.requests_for(payment.id).unwrap(), unfinished);
    assert_eq!(journal.open_payments().unwrap(), [payment]);
    assert!(journal.check().unwrap().is_clean());
}

#[test]
fn a_request_intent_is_committed_when_recorded() {
    // The in-process version of the crash case: drop without an outcome, reopen.
    let Fixture {
        dir,
        mut journal,
        clock,
    } = fixture();
    let payment = pay(&mut journal, "P-1", "order-1", usd(500));
    let intent = journal
        .record_request_intent(RequestIntent {
            request_id: "P-1".into(),
            api: CallKind::Pay,
            entity: payment.entity(),
            body_sha256: sha(1),
        })
        .unwrap();
    // Visible to another connection before the journal is even dropped.
    let seen: i64 = raw(dir.path())
        .query_row(
            "SELECT count(*) FROM requests WHERE outcome IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(seen, 1);
    drop(journal);
    let journal = open_with_clock(dir.path(), &clock);
    assert_eq!(
        journal.unfinished_requests().unwrap(),
        std::slice::from_ref(&intent)
    );
    assert_eq!(journal.request("P-1").unwrap(), Some(intent));
}

#[test]
fn request_outcomes_are_recorded_once_unknown_ones_may_be_replaced() {
    let Fixture {
        dir: _dir,
        mut journal,
        clock,
    } = fixture();
    let payment = pay(&mut journal, "P-1", "order-1", usd(500));
    let intent = RequestIntent {
        request_id: "P-1".into(),
        api: CallKind::Pay,
        entity: payment.entity(),
        body_sha256: sha(1),
    };
    let first = journal.record_request_intent(intent.clone()).unwrap();
    assert_eq!(first.created_at, clock.now());
    // Logging the identical request again (a resend) returns the recorded intent.
    clock.advance(Duration::seconds(1));
    assert_eq!(
        journal.record_request_intent(intent.clone()).unwrap(),
        first
    );
    // Another body under the same id is a different request.
    let error = journal
        .record_request_intent(RequestIntent {
            body_sha256: sha(2),
            ..intent.clone()
        })
        .unwrap_err();
    assert!(
        matches!(error, JournalError::RequestIdReused { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("REPEAT_REQ_INCONSISTENT"));

    let sent = journal.record_request_sent("P-1").unwrap();
    assert_eq!(sent.sent_at, Some(clock.now()));
    clock.advance(Duration::seconds(1));
    assert_eq!(
        journal.record_request_sent("P-1").unwrap().sent_at,
        sent.sent_at
    );

    // Unknown (a timeout), then the resend's answer replaces it.
    let unknown = journal
        .record_request_outcome("P-1", RequestOutcome::Unknown, Some("TIMEOUT"))
        .unwrap();
    assert_eq!(unknown.outcome, Some(RequestOutcome::Unknown));
    assert_eq!(unknown.finished_at, Some(clock.now()));
    clock.advance(Duration::seconds(5));
    let success = journal
        .record_request_outcome("P-1", RequestOutcome::Success, None)
        .unwrap();
    assert_eq!(success.outcome, Some(RequestOutcome::Success));
    assert_eq!(success.code, None);
    assert_eq!(success.finished_at, Some(clock.now()));
    // Repeating it is fine; contradicting it is not.
    assert_eq!(
        journal
            .record_request_outcome("P-1", RequestOutcome::Success, None)
            .unwrap(),
        success
    );
    let error = journal
        .record_request_outcome("P-1", RequestOutcome::Failed, Some("PARAM_ILLEGAL"))
        .unwrap_err();
    assert!(
        matches!(error, JournalError::RequestAlreadyFinished { .. }),
        "{error:?}"
    );
    let error = journal
        .record_request_outcome("P-1", RequestOutcome::Unknown, None)
        .unwrap_err();
    assert!(matches!(error, JournalError::RequestAlreadyFinished { .. }));

    // A second request about the same payment, e.g. a cancel.
    journal
        .record_request_intent(RequestIntent {
            request_id: "P-1.cancel".into(),
            api: CallKind::Cancel,
            entity: payment.entity(),
            body_sha256: sha(3),
        })
        .unwrap();
    let failed = journal
        .record_request_outcome(
            "P-1.cancel",
            RequestOutcome::Failed,
            Some("ORDER_STATUS_INVALID"),
        )
        .unwrap();
    assert_eq!(failed.code.as_deref(), Some("ORDER_STATUS_INVALID"));
    let apis: Vec<_> = journal
        .requests_for(payment.entity())
        .unwrap()
        .into_iter()
        .map(|r| r.api)
        .collect();
    assert_eq!(apis, [CallKind::Pay, CallKind::Cancel]);
    assert!(journal.unfinished_requests().unwrap().is_empty());

    // Bad input.
    let error = journal
        .record_request_intent(RequestIntent {
            request_id: "P-2".into(),
            api: CallKind::Pay,
            entity: payment.entity(),
            body_sha256: "ABC".into(),
        })
        .unwrap_err();
    assert!(matches!(
        error,
        JournalError::InvalidInput {
            field: "body_sha256",
            ..
        }
    ));
    let error = journal
        .record_request_intent(RequestIntent {
            request_id: "P-3".into(),
            api: CallKind::Pay,
            entity: EntityRef::Payment(PaymentLocalId(77)),
            body_sha256: sha(4),
        })
        .unwrap_err();
    assert!(matches!(error, JournalError::NotFound { .. }));
    let error = journal
        .record_request_outcome("nope", RequestOutcome::Success, None)
        .unwrap_err();
    assert!(matches!(error, JournalError::NotFound { .. }));
    assert_eq!(
        "unknown".parse::<RequestOutcome>().unwrap(),
        RequestOutcome::Unknown
    );
}

// ---------------------------------------------------------------------------------------
// Queries

#[test]
fn list_and_find_payments() {
    let Fixture {
        dir: _dir,
        mut journal,
        clock,
    } = fixture();
    let t0 = clock.now();
    let a = pay(&mut journal, "P-A", "order-1", usd(500));
    clock.advance(Duration::minutes(1));
    let b = pay(&mut journal, "P-B", "order-1", usd(1500));
    clock.advance(Duration::minutes(1));
    let c = pay(&mut journal, "P-C", "order-2", jpy(800));
    clock.advance(Duration::minutes(1));
    let d = pay(&mut journal, "P-D", "order-3", usd(2500));
    let a = go(&mut journal, &a, PaymentState::Failed);
    let b = go(&mut journal, &b, PaymentState::Paid);
    let c = go(&mut journal, &c, PaymentState::AwaitingCustomer);
    let d = go(&mut journal, &d, PaymentState::Unresolved);

    let ids = |filter: PaymentFilter| -> Vec<String> {
        journal
            .list_payments(&filter)
            .unwrap()
            .into_iter()
            .map(|p| p.payment_request_id)
            .collect()
    };
    assert_eq!(ids(PaymentFilter::default()), ["P-D", "P-C", "P-B", "P-A"]);
    assert_eq!(
        ids(PaymentFilter {
            since: Some(t0 + Duration::minutes(1)),
            until: Some(t0 + Duration::minutes(3)),
            ..PaymentFilter::default()
        }),
        ["P-C", "P-B"]
    );
    assert_eq!(
        ids(PaymentFilter {
            states: vec![PaymentState::Failed, PaymentState::Paid],
            ..PaymentFilter::default()
        }),
        ["P-B", "P-A"]
    );
    assert_eq!(
        ids(PaymentFilter {
            order_ref: Some("order-1".into()),
            ..PaymentFilter::default()
        }),
        ["P-B", "P-A"]
    );
    assert_eq!(
        ids(PaymentFilter {
            currency: Some(Currency::JPY),
            ..PaymentFilter::default()
        }),
        ["P-C"]
    );
    assert_eq!(
        ids(PaymentFilter {
            min_amount: Some(usd(1000)),
            max_amount: Some(usd(2000)),
            ..PaymentFilter::default()
        }),
        ["P-B"]
    );
    // Text search: request id, Alipay's id or the order, any case.
    let alipay_id = b.payment_id.clone().unwrap();
    assert_eq!(
        ids(PaymentFilter {
            text: Some(alipay_id[alipay_id.len() - 6..].to_owned()),
            ..PaymentFilter::default()
        }),
        ["P-B"]
    );
    assert_eq!(
        ids(PaymentFilter {
            text: Some("p-c".into()),
            ..PaymentFilter::default()
        }),
        ["P-C"]
    );
    assert_eq!(
        ids(PaymentFilter {
            text: Some("ORDER-3".into()),
            ..PaymentFilter::default()
        }),
        ["P-D"]
    );
    assert_eq!(
        ids(PaymentFilter {
            limit: Some(2),
            ..PaymentFilter::default()
        }),
        ["P-D", "P-C"]
    );
    let error = journal
        .list_payments(&PaymentFilter {
            currency: Some(Currency::JPY),
            min_amount: Some(usd(1)),
            ..PaymentFilter::default()
        })
        .unwrap_err();
    assert!(matches!(error, JournalError::InvalidInput { .. }));

    assert_eq!(journal.open_payments().unwrap(), [c, d]);
    assert_eq!(journal.payment_by_alipay_id(&alipay_id).unwrap(), Some(b));
    assert_eq!(journal.payment_by_alipay_id("none").unwrap(), None);
    assert_eq!(journal.payment_by_request_id("P-A").unwrap(), Some(a));
}

// ---------------------------------------------------------------------------------------
// Reports

#[test]
fn daily_totals_by_currency_in_integer_minor_units() {
    let Fixture {
        dir: _dir,
        mut journal,
        clock,
    } = fixture();
    let paid_at = |j: &mut Journal, id: &str, amount: Money, at: OffsetDateTime| {
        let p = pay(j, id, &format!("order-{id}"), amount);
        j.transition_payment(
            p.id,
            PaymentState::Paid,
            Actor::System,
            "",
            PaymentUpdate {
                payment_id: Some(format!("A-{id}")),
                paid_at: Some(at),
                ..PaymentUpdate::default()
            },
        )
        .unwrap()
    };
    let day = date!(2024 - 05 - 01);
    let next = date!(2024 - 05 - 02);

    // USD (exponent 2), times in Shanghai (+08:00).
    paid_at(
        &mut journal,
        "U1",
        usd(1000),
        datetime!(2024-05-01 09:00 +08:00),
    );
    paid_at(
        &mut journal,
        "U2",
        usd(525),
        datetime!(2024-05-01 23:59:59.999999 +08:00),
    );
    paid_at(
        &mut journal,
        "U3",
        usd(700),
        datetime!(2024-05-02 00:00 +08:00),
    );
    let u1 = journal.payment_by_request_id("U1").unwrap().unwrap();
    let r = refund(&mut journal, "RU1", u1.id, usd(300));
    journal
        .transition_refund(
            r.id,
            RefundState::Succeeded,
            Actor::System,
            "",
            RefundUpdate {
                refund_id: Some("AR-1".into()),
                refunded_at: Some(datetime!(2024-05-01 20:00 +08:00)),
                ..RefundUpdate::default()
            },
        )
        .unwrap();
    // In flight or failed refunds are not refunded money.
    refund(&mut journal, "RU1b", u1.id, usd(100));
    let failed = refund(&mut journal, "RU1c", u1.id, usd(100));
    settle_refund(&mut journal, &failed, RefundState::Failed);

    // JPY (exponent 0): two paid, one of them partly refunded the next day.
    let j1 = paid_at(
        &mut journal,
        "J1",
        jpy(1500),
        datetime!(2024-05-01 12:00 +08:00),
    );
    paid_at(
        &mut journal,
        "J2",
        jpy(800),
        datetime!(2024-05-01 13:00 +08:00),
    );
    clock.set(datetime!(2024-05-02 03:00 UTC));
    let rj = refund(&mut journal, "RJ1", j1.id, jpy(500));
    settle_refund(&mut journal, &rj, RefundState::Succeeded); // refunded_at = clock (02 11:00 +8)

    // Attempts that moved no money are not counted.
    payment_in(&mut journal, "F1", PaymentState::Failed);
    payment_in(&mut journal, "C1", PaymentState::Cancelled);
    payment_in(&mut journal, "O1", PaymentState::AwaitingCustomer);

    let shanghai = offset!(+8);
    let totals = journal.daily_totals(day..=next, shanghai).unwrap();
    let keys: Vec<_> = totals.iter().map(|t| (t.date, t.currency.code())).collect();
    assert_eq!(
        keys,
        [(day, "JPY"), (day, "USD"), (next, "JPY"), (next, "USD")]
    );

    let jpy_day = &totals[0];
    assert_eq!((jpy_day.paid_count, jpy_day.paid.minor()), (2, 2300));
    assert_eq!((jpy_day.refunded_count, jpy_day.refunded.minor()), (0, 0));
    assert_eq!(jpy_day.net.minor(), 2300);
    assert_eq!(jpy_day.net.major_string(), "2300");

    let usd_day = &totals[1];
    assert_eq!((usd_day.paid_count, usd_day.paid.minor()), (2, 1525));
    assert_eq!((usd_day.refunded_count, usd_day.refunded.minor()), (1, 300));
    assert_eq!(usd_day.net.minor(), 1225);
    assert_eq!(usd_day.paid.major_string(), "15.25");
    assert_eq!(usd_day.net.to_string(), "USD 12.25");

    // A day with more money returned than taken has a negative net.
    let jpy_next = &totals[2];
    assert_eq!((jpy_next.paid_count, jpy_next.refunded.minor()), (0, 500));
    assert!(jpy_next.net.is_negative());
    assert_eq!(jpy_next.net.minor(), -500);
    assert_eq!(jpy_next.net.major_string(), "-500");
    let usd_next = &totals[3];
    assert_eq!((usd_next.paid_count, usd_next.paid.minor()), (1, 700));

    // One day only.
    assert_eq!(
        journal.daily_totals(day..=day, shanghai).unwrap(),
        totals[..2]
    );
    // The same instants, cut at UTC midnight: all three USD payments are on 1 May.
    let utc = journal.daily_totals(day..=day, offset!(UTC)).unwrap();
    let usd_utc = utc.iter().find(|t| t.currency == Currency::USD).unwrap();
    assert_eq!((usd_utc.paid_count, usd_utc.paid.minor()), (3, 2225));
    // An empty range and a quiet day.
    assert!(
        journal
            .daily_totals(next..=day, shanghai)
            .unwrap()
            .is_empty()
    );
    assert!(
        journal
            .daily_totals(date!(2024 - 06 - 01)..=date!(2024 - 06 - 01), shanghai)
            .unwrap()
            .is_empty()
    );
}

// ---------------------------------------------------------------------------------------
// check()

/// A journal with a bit of everything, all consistent. Returns the fixture and the ids of a
/// paid payment, a failed one, a created one, and a succeeded refund.
struct Rich {
    fixture: Fixture,
    paid: PaymentLocalId,
    failed: PaymentLocalId,
    created: PaymentLocalId,
    refund: alipay_pos::journal::RefundLocalId,
}

fn rich() -> Rich {
    let mut fixture = fixture();
    let j = &mut fixture.journal;
    let paid = payment_in(j, "P-paid", PaymentState::Paid);
    let failed = payment_in(j, "P-failed", PaymentState::Failed);
    let created = payment_in(j, "P-created", PaymentState::Created);
    payment_in(j, "P-awaiting", PaymentState::AwaitingCustomer);
    payment_in(j, "P-cancelled", PaymentState::Cancelled);
    let r = refund(j, "R-1", paid.id, usd(400));
    let r = settle_refund(j, &r, RefundState::Succeeded);
    refund(j, "R-2", paid.id, usd(100));
    j.append_event(paid.id, Actor::System, "receipt printed")
        .unwrap();
    j.record_request_intent(RequestIntent {
        request_id: "P-paid".into(),
        api: CallKind::Pay,
        entity: paid.entity(),
        body_sha256: sha(9),
    })
    .unwrap();
    j.record_request_outcome("P-paid", RequestOutcome::Success, None)
        .unwrap();
    Rich {
        fixture,
        paid: paid.id,
        failed: failed.id,
        created: created.id,
        refund: r.id,
    }
}

#[test]
fn a_manual_resolution_is_a_manager_event_with_a_reason_and_never_leaves_a_final_state() {
    let mut f = fixture();
    let j = &mut f.journal;
    let open = payment_in(j, "P-manual", PaymentState::Unresolved);
    // A reason and a name are required; a paid record needs Alipay's paymentId.
    for (manager, reason) in [("Ana", " "), ("", "portal shows SUCCESS")] {
        let refused = j
            .settle_payment_manually(
                open.id,
                PaymentState::Paid,
                manager,
                reason,
                Some("2024X".into()),
            )
            .unwrap_err();
        assert!(
            matches!(refused, JournalError::InvalidInput { .. }),
            "{refused:?}"
        );
    }
    let refused = j
        .settle_payment_manually(
            open.id,
            PaymentState::Paid,
            "Ana",
            "portal shows SUCCESS",
            None,
        )
        .unwrap_err();
    assert!(
        matches!(
            refused,
            JournalError::MissingField {
                field: "payment_id",
                ..
            }
        ),
        "{refused:?}"
    );
    let refused = j
        .settle_payment_manually(open.id, PaymentState::Cancelled, "Ana", "why", None)
        .unwrap_err();
    assert!(
        matches!(refused, JournalError::InvalidInput { .. }),
        "{refused:?}"
    );

    let settled = j
        .settle_payment_manually(
            open.id,
            PaymentState::Paid,
            "Ana",
            "portal shows SUCCESS for 10.00",
            Some("2024050199000001".into()),
        )
        .unwrap();
    assert_eq!(settled.state, PaymentState::Paid);
    assert_eq!(settled.resolution, Some(Resolution::Manual));
    assert_eq!(settled.payment_id.as_deref(), Some("2024050199000001"));
    let events = j.events_for(open.entity()).unwrap();
    let last = events.last().unwrap();
    assert_eq!(last.actor, Actor::Manager);
    assert_eq!(last.from_state.as_deref(), Some("unresolved"));
    assert_eq!(last.to_state.as_deref(), Some("paid"));
    assert!(
        last.detail.contains("Ana") && last.detail.contains("portal shows SUCCESS for 10.00"),
        "{}",
        last.detail
    );
    // Final stays final, also by hand.
    let again = j
        .settle_payment_manually(open.id, PaymentState::Failed, "Bo", "changed my mind", None)
        .unwrap_err();
    assert!(
        matches!(again, JournalError::IllegalTransition { .. }),
        "{again:?}"
    );
    assert!(j.check().unwrap().is_clean(), "{:#?}", j.check().unwrap());
}

fn corrupt(dir: &Path, sql: &str) -> CheckReport {
    let conn = raw(dir);
    conn.execute_batch(&format!("PRAGMA ignore_check_constraints = ON; {sql}"))
        .unwrap();
    drop(conn);
    Journal::open_in(dir).unwrap().check().unwrap()
}

#[test]
fn check_passes_on_a_clean_journal() {
    let rich = rich();
    let report = rich.fixture.journal.check().unwrap();
    assert!(report.integrity_ok);
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
    assert!(report.is_clean());
}

#[test]
fn check_reports_each_kind_of_violation() {
    type Inject = fn(&Rich) -> String;
    let cases: &[(ViolationKind, Inject)] = &[
        (ViolationKind::RefundsExceedPayment, |r| {
            format!(
                "UPDATE refunds SET amount_minor = 5000 WHERE id = {}",
                r.refund.get()
            )
        }),
        (ViolationKind::PaidIncomplete, |r| {
            format!(
                "UPDATE payments SET payment_id = NULL WHERE id = {}",
                r.paid.get()
            )
        }),
        (ViolationKind::PaidIncomplete, |r| {
            format!(
                "UPDATE payments SET final_at = NULL WHERE id = {}",
                r.paid.get()
            )
        }),
        (ViolationKind::FinalWithoutFinalAt, |r| {
            format!(
                "UPDATE payments SET final_at = NULL WHERE id = {}",
                r.failed.get()
            )
        }),
        (ViolationKind::FinalWithoutFinalAt, |r| {
            format!(
                "UPDATE refunds SET final_at = NULL WHERE id = {}",
                r.refund.get()
            )
        }),
        (ViolationKind::OpenWithFinalAt, |r| {
            format!(
                "UPDATE payments SET final_at = '2024-05-01T08:00:00.000000Z' WHERE id = {}",
                r.created.get()
            )
        }),
        (ViolationKind::PaidAtWithoutPayment, |r| {
            format!(
                "UPDATE payments SET paid_at = '2024-05-01T08:00:00.000000Z' WHERE id = {}",
                r.failed.get()
            )
        }),
        (ViolationKind::RefundOnUnpaidPayment, |r| {
            format!(
                "UPDATE refunds SET payment = {} WHERE id = {}",
                r.failed.get(),
                r.refund.get()
            )
        }),
        (ViolationKind::RefundOnUnpaidPayment, |r| {
            // Cancelled while a refund succeeded.
            format!(
                "UPDATE payments SET state = 'cancelled' WHERE id = {}",
                r.paid.get()
            )
        }),
        (ViolationKind::RefundCurrencyMismatch, |r| {
            format!(
                "UPDATE refunds SET currency = 'EUR' WHERE id = {}",
                r.refund.get()
            )
        }),
        (ViolationKind::RefundIncomplete, |r| {
            format!(
                "UPDATE refunds SET refund_id = NULL WHERE id = {}",
                r.refund.get()
            )
        }),
        (ViolationKind::DuplicatePaidOrder, |r| {
            format!(
                "UPDATE payments SET order_ref = (SELECT order_ref FROM payments WHERE id = {})
                 WHERE payment_request_id = 'P-cancelled';
                 UPDATE payments SET state = 'paid' WHERE payment_request_id = 'P-cancelled'",
                r.paid.get()
            )
        }),
        (ViolationKind::MissingCreatedEvent, |r| {
            format!(
                "DROP TRIGGER events_no_delete;
                 DELETE FROM events WHERE kind = 'created' AND entity_kind = 'payment'
                     AND entity_id = {}",
                r.created.get()
            )
        }),
        (ViolationKind::StateEventMismatch, |r| {
            format!(
                "UPDATE payments SET state = 'failed', final_at = '2024-05-01T08:00:00.000000Z'
                 WHERE id = {}",
                r.created.get()
            )
        }),
        (ViolationKind::StateEventMismatch, |r| {
            format!(
                "UPDATE refunds SET state = 'unresolved', final_at = NULL WHERE id = {}",
                r.refund.get()
            )
        }),
        (ViolationKind::OrphanEntry, |_| {
            "DROP TRIGGER events_entity_exists;
             INSERT INTO events (at, actor, entity_kind, entity_id, kind, detail)
             VALUES ('2024-05-01T08:00:00.000000Z', 'system', 'refund', 4242, 'note', 'ghost')"
                .to_owned()
        }),
        (ViolationKind::ManualWithoutManagerEvent, |r| {
            format!(
                "UPDATE payments SET resolution = 'manual' WHERE id = {}",
                r.paid.get()
            )
        }),
        (ViolationKind::MissingTrigger, |_| {
            "DROP TRIGGER events_no_update".to_owned()
        }),
        (ViolationKind::MissingTrigger, |_| {
            "DROP TRIGGER meta_no_update".to_owned()
        }),
        (ViolationKind::AwaitingCustomerWithoutCode, |_| {
            "DROP TRIGGER payments_code_by_product;
             UPDATE payments SET code_expires_at = NULL WHERE payment_request_id = 'P-awaiting'"
                .to_owned()
        }),
        (ViolationKind::CodeOnCodelessProduct, |_| {
            "DROP TRIGGER payments_product_fixed;
             DROP TRIGGER payments_code_by_product;
             UPDATE payments SET product = 'user_presented'
             WHERE payment_request_id = 'P-awaiting'"
                .to_owned()
        }),
        (ViolationKind::CustomerCodeByProduct, |_| {
            format!(
                "DROP TRIGGER payments_customer_code_fixed;
                 UPDATE payments SET customer_code_last4 = '1234', customer_code_sha256 = '{}'
                 WHERE payment_request_id = 'P-awaiting'",
                "ab".repeat(32)
            )
        }),
        (ViolationKind::UnreadableRow, |_| {
            // A call kind this build does not know.
            "UPDATE requests SET api = 'inquiryPayment' WHERE request_id = 'P-paid'".to_owned()
        }),
        (ViolationKind::UnreadableRow, |r| {
            format!(
                "UPDATE payments SET currency = 'XXX' WHERE id = {}",
                r.created.get()
            )
        }),
        (ViolationKind::UnreadableRow, |r| {
            format!(
                "UPDATE refunds SET created_at = 'yesterday' WHERE id = {}",
                r.refund.get()
            )
        }),
        (ViolationKind::ForeignKey, |_| {
            "PRAGMA foreign_keys = OFF;
             INSERT INTO refunds (refund_request_id, payment, amount_minor, currency, reason,
                 manager, state, created_at, updated_at)
             VALUES ('R-ghost', 4242, 1, 'USD', '', 'm', 'requested',
                 '2024-05-01T08:00:00.000000Z', '2024-05-01T08:00:00.000000Z')"
                .to_owned()
        }),
    ];
    for &(kind, inject) in cases {
        let rich = rich();
        let sql = inject(&rich);
        let dir = rich.fixture.dir.path().to_path_buf();
        drop(rich.fixture.journal);
        let report = corrupt(&dir, &sql);
        assert!(
            report.has(kind),
            "{kind} not reported after `{sql}`: {report:#?}"
        );
        assert!(!report.is_clean());
        // (integrity_check itself also flags rows that break a CHECK constraint, so
        // `integrity_ok` depends on the case; the invariant report must not.)
        let violation = report.violations.iter().find(|v| v.kind == kind).unwrap();
        assert!(!violation.message.is_empty());
        assert!(violation.to_string().contains(kind.as_str()));
    }
}

#[test]
fn check_names_the_entity_at_fault() {
    let rich = rich();
    let dir = rich.fixture.dir.path().to_path_buf();
    drop(rich.fixture.journal);
    let report = corrupt(
        &dir,
        &format!(
            "UPDATE payments SET payment_id = NULL WHERE id = {}",
            rich.paid.get()
        ),
    );
    assert_eq!(report.violations.len(), 1, "{report:#?}");
    let violation = &report.violations[0];
    assert_eq!(violation.entity, Some(EntityRef::Payment(rich.paid)));
    assert!(
        violation.message.contains("payment_id"),
        "{}",
        violation.message
    );
}

#[test]
fn check_reports_a_damaged_file() {
    let rich = rich();
    let dir = rich.fixture.dir.path().to_path_buf();
    drop(rich.fixture.journal);
    // Move everything into the main file, then scribble over an index page.
    let conn = raw(&dir);
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    let root: i64 = conn
        .query_row(
            "SELECT rootpage FROM sqlite_schema WHERE name = 'payments_order_ref'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let page_size: i64 = conn
        .pragma_query_value(None, "page_size", |r| r.get(0))
        .unwrap();
    drop(conn);
    let path = dir.join(FILE_NAME);
    let mut bytes = std::fs::read(&path).unwrap();
    let start = usize::try_from((root - 1) * page_size).unwrap();
    for byte in &mut bytes[start + 8..start + 64] {
        *byte = 0xA5;
    }
    std::fs::write(&path, bytes).unwrap();

    let journal = Journal::open_in(&dir).unwrap();
    let report = journal.check().unwrap();
    assert!(!report.integrity_ok, "{report:#?}");
    assert!(!report.integrity_messages.is_empty());
    assert!(!report.is_clean());
}

// ---------------------------------------------------------------------------------------
// Schema version 2: migrating a journal written by version 1

/// Version 1 exactly as it shipped (a unit test in `schema.rs` proves it is migration 1).
/// Named from the crate root so the test file can move without the fixture.
const SCHEMA_V1: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/journal_schema_v1.sql"
));

/// A journal as a version-1 build left it: its DDL, its version, and rows written the way
/// that build wrote them (a paid payment with a succeeded refund, a code still on screen,
/// their events and logged requests).
fn version_1_journal(dir: &Path) {
    let mut conn = Connection::open(dir.join(FILE_NAME)).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let tx = conn.transaction().unwrap();
    tx.execute_batch(SCHEMA_V1).unwrap();
    tx.pragma_update(None, "user_version", 1).unwrap();
    let hash = sha(7);
    tx.execute_batch(&format!(
        "INSERT INTO payments (id, payment_request_id, order_ref, amount_minor, currency,
             description, operator, state, payment_id, result_code, resolution, paid_at,
             created_at, updated_at, final_at)
         VALUES (1, 'P-paid', 'O-1', 1250, 'USD', 'Coffee', 'T01', 'paid', '2024050100001',
             'SUCCESS', 'inquiry', '2024-05-01T08:01:00.000000Z',
             '2024-05-01T08:00:00.000000Z', '2024-05-01T08:01:00.000000Z',
             '2024-05-01T08:01:00.000000Z');
         INSERT INTO payments (id, payment_request_id, order_ref, amount_minor, currency,
             description, operator, state, payment_id, code_value, code_expires_at,
             created_at, updated_at)
         VALUES (2, 'P-open', 'O-2', 500, 'USD', 'Tea', 'T01', 'awaiting_customer',
             '2024050100002', 'https://qr.example/2', '2024-05-01T08:15:00.000000Z',
             '2024-05-01T08:10:00.000000Z', '2024-05-01T08:10:01.000000Z');
         INSERT INTO refunds (id, refund_request_id, payment, amount_minor, currency, reason,
             manager, state, refund_id, result_code, resolution, refunded_at, created_at,
             updated_at, final_at)
         VALUES (1, 'R-1', 1, 250, 'USD', 'cold', 'manager', 'succeeded', 'AR-1', 'SUCCESS',
             'refund', '2024-05-01T09:00:01.000000Z', '2024-05-01T09:00:00.000000Z',
             '2024-05-01T09:00:01.000000Z', '2024-05-01T09:00:01.000000Z');
         INSERT INTO events (at, actor, entity_kind, entity_id, kind, from_state, to_state,
             detail)
         VALUES
             ('2024-05-01T08:00:00.000000Z', 'cashier', 'payment', 1, 'created', NULL,
              'created', 'USD 12.50 for order O-1'),
             ('2024-05-01T08:00:01.000000Z', 'system', 'payment', 1, 'transition', 'created',
              'awaiting_customer', 'order code created'),
             ('2024-05-01T08:01:00.000000Z', 'system', 'payment', 1, 'transition',
              'awaiting_customer', 'paid', 'SUCCESS (inquiry)'),
             ('2024-05-01T08:10:00.000000Z', 'cashier', 'payment', 2, 'created', NULL,
              'created', 'USD 5.00 for order O-2'),
             ('2024-05-01T08:10:01.000000Z', 'system', 'payment', 2, 'transition', 'created',
              'awaiting_customer', 'order code created'),
             ('2024-05-01T09:00:00.000000Z', 'manager', 'refund', 1, 'created', NULL,
              'requested', 'USD 2.50 of payment #1 authorised by manager: cold'),
             ('2024-05-01T09:00:01.000000Z', 'system', 'refund', 1, 'transition', 'requested',
              'succeeded', 'refund succeeded');
         INSERT INTO requests (request_id, api, entity_kind, entity_id, body_sha256,
             created_at, outcome, code, finished_at)
         VALUES
             ('P-paid', 'pay', 'payment', 1, '{hash}', '2024-05-01T08:00:00.000000Z',
              'success', 'SUCCESS', '2024-05-01T08:00:01.000000Z'),
             ('P-open', 'pay', 'payment', 2, '{hash}', '2024-05-01T08:10:00.000000Z',
              'success', 'SUCCESS', '2024-05-01T08:10:01.000000Z'),
             ('R-1', 'refund', 'refund', 1, '{hash}', '2024-05-01T09:00:00.000000Z',
              'success', 'SUCCESS', '2024-05-01T09:00:01.000000Z');"
    ))
    .unwrap();
    tx.commit().unwrap();
}

#[test]
fn a_version_1_journal_is_migrated_in_place() {
    let dir = tempfile::tempdir().unwrap();
    version_1_journal(dir.path());
    // A reader never migrates: it says what to do instead.
    let error = Reader::open_in(dir.path()).unwrap_err();
    assert!(
        matches!(
            error,
            JournalError::Outdated {
                found: 1,
                supported,
                ..
            } if supported == schema_version()
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("start the terminal"), "{error}");
    let version: i64 = raw(dir.path())
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 1, "the reader left the file alone");

    let mut journal = Journal::open_in(dir.path()).unwrap();
    assert_eq!(journal.settings().unwrap().user_version, schema_version());

    let paid = journal.payment_by_request_id("P-paid").unwrap().unwrap();
    assert_eq!(paid.product, Product::OrderCode);
    assert_eq!(paid.state, PaymentState::Paid);
    assert_eq!(paid.amount, usd(1250));
    assert_eq!(paid.payment_id.as_deref(), Some("2024050100001"));
    assert_eq!(paid.resolution, Some(Resolution::Inquiry));
    assert_eq!(paid.paid_at, Some(datetime!(2024-05-01 08:01 UTC)));
    // Version 3: no payment of version 1 has a customer's code (there were none).
    assert_eq!(paid.customer_code_last4, None);
    let open = journal.payment_by_request_id("P-open").unwrap().unwrap();
    assert_eq!(open.product, Product::OrderCode);
    assert_eq!(open.code_value.as_deref(), Some("https://qr.example/2"));
    assert_eq!(journal.refunds_for(paid.id).unwrap().len(), 1);
    assert_eq!(journal.events_for(paid.id).unwrap().len(), 3);
    let apis: Vec<_> = journal
        .requests_for(paid.entity())
        .unwrap()
        .into_iter()
        .map(|r| r.api)
        .collect();
    assert_eq!(apis, [CallKind::Pay]);
    assert_eq!(journal.refundable_remaining(paid.id).unwrap().minor(), 1000);
    let report = journal.check().unwrap();
    assert!(report.is_clean(), "{report:#?}");
    assert_eq!(
        journal.identity().unwrap(),
        None,
        "no terminal has bound it yet"
    );

    // The migrated journal works like a new one: the open payment can still be paid, and
    // the version-2 rules hold for it.
    let error = journal
        .transition_payment(
            open.id,
            PaymentState::AwaitingCustomer,
            Actor::System,
            "",
            PaymentUpdate {
                code_value: Some("https://qr.example/2b".into()),
                ..PaymentUpdate::default()
            },
        )
        .map(|_| ());
    assert!(error.is_ok(), "an order code payment may update its code");
    let now_paid = journal
        .transition_payment(
            open.id,
            PaymentState::Paid,
            Actor::System,
            "SUCCESS (notify)",
            PaymentUpdate {
                resolution: Some(Resolution::Notify),
                ..PaymentUpdate::default()
            },
        )
        .unwrap();
    assert_eq!(now_paid.state, PaymentState::Paid);
    assert!(journal.check().unwrap().is_clean());
    drop(journal);

    // Opening a version-3 journal again changes nothing.
    let before = schema_snapshot(dir.path());
    let journal = Journal::open_in(dir.path()).unwrap();
    assert_eq!(schema_snapshot(dir.path()), before);
    assert_eq!(journal.settings().unwrap().user_version, schema_version());
    assert_eq!(
        journal.payment(paid.id).unwrap().unwrap(),
        paid,
        "untouched by the second open"
    );
    let reader = Reader::open_in(dir.path()).unwrap();
    assert!(reader.check().unwrap().is_clean());
}

#[test]
fn a_journal_belongs_to_one_terminal() {
    let Fixture {
        dir,
        mut journal,
        clock,
    } = fixture();
    assert_eq!(journal.identity().unwrap(), None);
    let bound = journal.bind_identity("T01", "STORE-7").unwrap();
    assert_eq!(
        (bound.terminal_id.as_str(), bound.store_id.as_str()),
        ("T01", "STORE-7")
    );
    assert_eq!(bound.bound_at, clock.now());
    clock.advance(Duration::hours(1));
    // The same terminal again: the first record stands.
    assert_eq!(journal.bind_identity("T01", "STORE-7").unwrap(), bound);

    for (terminal, store) in [("T02", "STORE-7"), ("T01", "STORE-8")] {
        let error = journal.bind_identity(terminal, store).unwrap_err();
        assert!(
            matches!(error, JournalError::IdentityMismatch { .. }),
            "{error:?}"
        );
        let message = error.to_string();
        for name in ["`T01`", "`STORE-7`", terminal, store, "storage.data_dir"] {
            assert!(message.contains(name), "{name} missing from: {message}");
        }
    }
    assert!(journal.bind_identity("", "STORE-7").is_err());
    drop(journal);

    // Recorded in the file, for every connection; the shell cannot change it either.
    let reader = Reader::open_in(dir.path()).unwrap();
    assert_eq!(reader.identity().unwrap(), Some(bound.clone()));
    assert!(
        raw(dir.path())
            .execute("UPDATE meta SET terminal_id = 'T02'", [])
            .is_err()
    );
    assert!(raw(dir.path()).execute("DELETE FROM meta", []).is_err());
    let mut journal = open_with_clock(dir.path(), &clock);
    assert!(journal.bind_identity("T02", "STORE-7").is_err());
    assert_eq!(journal.identity().unwrap(), Some(bound));
}

fn pay_with(j: &mut Journal, request_id: &str, product: Product) -> PaymentRecord {
    j.create_payment(
        NewPayment {
            payment_request_id: request_id.to_owned(),
            order_ref: format!("order-{request_id}"),
            amount: usd(800),
            description: String::new(),
            operator: "T01".to_owned(),
            product,
            customer_code: (product == Product::UserPresented).then(|| {
                alipay_pos::journal::CustomerCode {
                    last4: "1234".to_owned(),
                    sha256: "ab".repeat(32),
                }
            }),
        },
        Actor::Cashier,
    )
    .unwrap()
}

#[test]
fn what_waiting_for_the_customer_requires_depends_on_the_product() {
    let Fixture {
        dir: _dir,
        mut journal,
        ..
    } = fixture();
    let wait = |j: &mut Journal, record: &PaymentRecord, update: PaymentUpdate| {
        j.transition_payment(
            record.id,
            PaymentState::AwaitingCustomer,
            Actor::System,
            "waiting",
            update,
        )
    };
    let code = || PaymentUpdate {
        code_value: Some("https://qr.example/x".into()),
        code_expires_at: Some(datetime!(2024-05-01 08:05 UTC)),
        ..PaymentUpdate::default()
    };
    // Products that show a code cannot wait without it and its expiry.
    for product in [Product::OrderCode, Product::EntryCode] {
        let record = pay_with(&mut journal, &format!("P-{product}"), product);
        assert_eq!(record.product, product);
        let error = wait(&mut journal, &record, PaymentUpdate::default()).unwrap_err();
        assert!(
            matches!(
                error,
                JournalError::MissingField {
                    field: "code_value",
                    ..
                }
            ),
            "{error:?}"
        );
        let waiting = wait(&mut journal, &record, code()).unwrap();
        assert_eq!(waiting.code_value, code().code_value);
    }
    // Products that show none wait without one, and never store one: for User-presented
    // the only code there is would be the customer's.
    for product in [Product::UserPresented, Product::AutoDebit] {
        let record = pay_with(&mut journal, &format!("P-{product}"), product);
        let error = wait(&mut journal, &record, code()).unwrap_err();
        assert!(
            matches!(
                error,
                JournalError::InvalidInput {
                    field: "code_value",
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(error.to_string().contains("never stores"), "{error}");
        let waiting = wait(&mut journal, &record, PaymentUpdate::default()).unwrap();
        assert_eq!(waiting.state, PaymentState::AwaitingCustomer);
        assert_eq!(waiting.code_value, None);
        assert_eq!(
            journal.payment(record.id).unwrap().unwrap().product,
            product
        );
    }
    assert!(journal.check().unwrap().is_clean());
}

#[test]
fn the_schema_itself_enforces_the_product_rules() {
    let Fixture {
        dir, mut journal, ..
    } = fixture();
    let scanned = pay_with(&mut journal, "P-scan", Product::UserPresented);
    let shown = payment_in(&mut journal, "P-shown", PaymentState::AwaitingCustomer);
    drop(journal);
    let conn = raw(dir.path());
    let refused = |sql: String| conn.execute_batch(&sql).unwrap_err().to_string();
    let error = refused(format!(
        "UPDATE payments SET code_value = '2810000000000000' WHERE id = {}",
        scanned.id.get()
    ));
    assert!(error.contains("never stores a code"), "{error}");
    let error = refused(format!(
        "UPDATE payments SET code_value = NULL WHERE id = {}",
        shown.id.get()
    ));
    assert!(error.contains("needs its code"), "{error}");
    let error = refused(format!(
        "UPDATE payments SET product = 'entry_code' WHERE id = {}",
        shown.id.get()
    ));
    assert!(error.contains("never changes"), "{error}");
    let error = refused(
        "INSERT INTO payments (payment_request_id, order_ref, amount_minor, currency,
             description, operator, state, created_at, updated_at, product)
         VALUES ('P-bad', 'o', 1, 'USD', '', 'op', 'created', 't', 't', 'barcode')"
            .to_owned(),
    );
    assert!(error.contains("CHECK"), "{error}");
}

// ---------------------------------------------------------------------------------------
// The read model

#[test]
fn a_reader_needs_a_journal_and_never_creates_one() {
    let dir = tempfile::tempdir().unwrap();
    let error = Reader::open_in(dir.path()).unwrap_err();
    assert!(matches!(error, JournalError::NoJournal { .. }), "{error:?}");
    assert!(error.to_string().contains("no journal"), "{error}");
    assert!(!dir.path().join(FILE_NAME).exists(), "nothing was created");

    let garbage = dir.path().join("garbage.sqlite");
    std::fs::write(&garbage, b"not a database at all\n".repeat(300)).unwrap();
    let error = Reader::open(&garbage).unwrap_err();
    assert!(
        matches!(error, JournalError::NotAJournal { .. }),
        "{error:?}"
    );

    drop(Journal::open_in(dir.path()).unwrap());
    let newer = schema_version() + 1;
    raw(dir.path())
        .pragma_update(None, "user_version", newer)
        .unwrap();
    let error = Reader::open_in(dir.path()).unwrap_err();
    assert!(
        matches!(error, JournalError::SchemaTooNew { .. }),
        "{error:?}"
    );
}

#[test]
fn a_reader_sees_what_the_writer_committed_without_waiting_for_it() {
    let Fixture {
        dir, mut journal, ..
    } = fixture();
    let reader = Reader::open_in(dir.path()).unwrap();
    assert_eq!(reader.path(), dir.path().join(FILE_NAME));
    assert!(reader.find_payment("P-1").unwrap().is_none());
    let created = pay(&mut journal, "P-1", "order-1", usd(500));
    assert_eq!(reader.find_payment("P-1").unwrap(), Some(created.clone()));
    let paid = go(&mut journal, &created, PaymentState::Paid);
    // By either id.
    let alipay_id = paid.payment_id.clone().unwrap();
    assert_eq!(reader.find_payment(&alipay_id).unwrap(), Some(paid.clone()));
    assert_eq!(
        journal.find_payment(&alipay_id).unwrap(),
        Some(paid.clone())
    );
    assert_eq!(journal.find_payment("P-1").unwrap(), Some(paid.clone()));
    assert!(reader.find_payment("nobody").unwrap().is_none());

    // A write in progress on another connection neither blocks the reader nor shows.
    let writer = raw(dir.path());
    writer
        .execute_batch(
            "BEGIN IMMEDIATE; UPDATE payments SET description = 'half-written' WHERE id = 1",
        )
        .unwrap();
    let started = std::time::Instant::now();
    let seen = reader.find_payment("P-1").unwrap().unwrap();
    assert_eq!(seen.description, "Coffee");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "the reader waited for the writer"
    );
    writer.execute_batch("ROLLBACK").unwrap();

    // The reader moves between threads (the GUI reads off the UI thread).
    let reader = std::thread::spawn(move || reader).join().unwrap();
    assert_eq!(reader.count_open().unwrap(), 0);
}

#[test]
fn counts_of_open_and_unresolved_payments() {
    let Fixture {
        dir, mut journal, ..
    } = fixture();
    let reader = Reader::open_in(dir.path()).unwrap();
    assert_eq!(
        (
            reader.count_open().unwrap(),
            reader.count_unresolved().unwrap()
        ),
        (0, 0)
    );
    for (n, state) in PaymentState::ALL.into_iter().enumerate() {
        payment_in(&mut journal, &format!("P-{n}"), state);
    }
    payment_in(&mut journal, "P-u2", PaymentState::Unresolved);
    assert_eq!(
        reader.count_open().unwrap(),
        u64::try_from(journal.open_payments().unwrap().len()).unwrap()
    );
    assert_eq!(reader.count_open().unwrap(), 5);
    assert_eq!(reader.count_unresolved().unwrap(), 2);
}

/// The listing's refund totals, added up in SQL for every row at once, equal what the
/// journal's own per-payment reads say, for many payments with several refunds each.
#[test]
fn the_listing_adds_up_each_payments_refunds_in_one_query() {
    let Fixture {
        dir,
        mut journal,
        clock,
    } = fixture();
    let mut expected_refunds = 0;
    for n in 0..60u64 {
        clock.advance(Duration::seconds(1));
        let state = match n % 6 {
            0 => PaymentState::Failed,
            1 => PaymentState::AwaitingCustomer,
            _ => PaymentState::Paid,
        };
        let record = payment_in(&mut journal, &format!("P-{n:02}"), state);
        if state != PaymentState::Paid {
            continue;
        }
        // Up to four refunds of 100 each, ending in different states.
        for k in 0..(n % 5) {
            let r = refund(&mut journal, &format!("R-{n:02}-{k}"), record.id, usd(100));
            expected_refunds += 1;
            match (n + k) % 4 {
                0 => drop(settle_refund(&mut journal, &r, RefundState::Succeeded)),
                1 => drop(settle_refund(&mut journal, &r, RefundState::Failed)),
                2 => drop(settle_refund(&mut journal, &r, RefundState::Unresolved)),
                _ => {} // still requested
            }
        }
    }
    let reader = Reader::open_in(dir.path()).unwrap();
    let rows = reader.transactions(&PaymentFilter::default()).unwrap();
    let listed = journal.list_payments(&PaymentFilter::default()).unwrap();
    assert_eq!(rows.len(), 60);
    assert_eq!(
        rows.iter().map(|r| &r.payment).collect::<Vec<_>>(),
        listed.iter().collect::<Vec<_>>(),
        "the same payments in the same order as the plain listing"
    );
    let mut refunds_seen = 0;
    for row in &rows {
        let refunds = journal.refunds_for(row.payment.id).unwrap();
        refunds_seen += refunds.len();
        let sum = |states: &[RefundState]| {
            refunds
                .iter()
                .filter(|r| states.contains(&r.state))
                .map(|r| r.amount.minor())
                .sum::<u64>()
        };
        let count = |states: &[RefundState]| {
            refunds.iter().filter(|r| states.contains(&r.state)).count() as u64
        };
        let t = &row.refunds;
        let id = &row.payment.payment_request_id;
        assert_eq!(t.refunded.minor(), sum(&[RefundState::Succeeded]), "{id}");
        assert_eq!(t.refunded_count, count(&[RefundState::Succeeded]), "{id}");
        assert_eq!(t.in_flight.minor(), sum(&RefundState::OPEN), "{id}");
        assert_eq!(t.in_flight_count, count(&RefundState::OPEN), "{id}");
        assert_eq!(
            t.remaining,
            journal.refundable_remaining(row.payment.id).unwrap(),
            "{id}"
        );
        assert_eq!(t.refunded.currency(), row.payment.amount.currency());

        // The detail view agrees with its row.
        let detail = reader.payment_detail(id).unwrap().unwrap();
        assert_eq!(detail.payment, row.payment);
        assert_eq!(&detail.totals, t, "{id}");
        assert_eq!(detail.refunds, refunds);
        assert_eq!(detail.events, journal.events_for(row.payment.id).unwrap());
    }
    assert_eq!(refunds_seen, expected_refunds);

    // Filters and the limit pick the same rows as the plain listing.
    let filter = PaymentFilter {
        states: vec![PaymentState::Paid],
        limit: Some(7),
        ..PaymentFilter::default()
    };
    let rows = reader.transactions(&filter).unwrap();
    let listed = journal.list_payments(&filter).unwrap();
    assert_eq!(rows.len(), 7);
    assert_eq!(
        rows.into_iter().map(|r| r.payment).collect::<Vec<_>>(),
        listed
    );
    assert!(reader.payment_detail("P-none").unwrap().is_none());
}

/// The reader's end of day uses the terminal's own local days: a payment made now is in
/// today's totals, and in no other day's.
#[test]
fn the_readers_daily_totals_count_local_days() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open_in(dir.path()).unwrap();
    let now = OffsetDateTime::now_utc();
    let record = pay(&mut journal, "P-now", "order-now", usd(1234));
    journal
        .transition_payment(
            record.id,
            PaymentState::Paid,
            Actor::System,
            "",
            PaymentUpdate {
                payment_id: Some("A-now".into()),
                paid_at: Some(now),
                ..PaymentUpdate::default()
            },
        )
        .unwrap();
    let reader = Reader::open_in(dir.path()).unwrap();
    let today = alipay_pos::local_time::to_local(now).date();
    let bounds = alipay_pos::local_time::day_bounds(today);
    assert!(bounds.contains(&now));
    let totals = reader.daily_totals(today..=today).unwrap();
    assert_eq!(totals.len(), 1);
    assert_eq!((totals[0].date, totals[0].paid_count), (today, 1));
    assert_eq!(totals[0].paid.minor(), 1234);
    let yesterday = today.previous_day().unwrap();
    assert!(
        reader
            .daily_totals(yesterday..=yesterday)
            .unwrap()
            .is_empty()
    );
    let tomorrow = today.next_day().unwrap();
    assert_eq!(
        reader.daily_totals(yesterday..=tomorrow).unwrap(),
        totals,
        "a range reports each day on its own"
    );
}

/// The list's product filter is part of the query (so a list's limit never hides an older
/// match), in both the writer's listing and the reader's list with refund totals.
#[test]
fn payments_can_be_listed_by_product() {
    let Fixture {
        dir, mut journal, ..
    } = fixture();
    let shown = pay_with(&mut journal, "P-shown", Product::OrderCode);
    let mut scanned = Vec::new();
    for n in 1..=2u8 {
        scanned.push(
            journal
                .create_payment(
                    NewPayment {
                        payment_request_id: format!("P-scan-{n}"),
                        order_ref: format!("order-scan-{n}"),
                        amount: usd(300),
                        description: String::new(),
                        operator: "T01".to_owned(),
                        product: Product::UserPresented,
                        customer_code: Some(alipay_pos::journal::CustomerCode {
                            last4: format!("000{n}"),
                            sha256: sha(n),
                        }),
                    },
                    Actor::Cashier,
                )
                .unwrap(),
        );
    }
    let ids = |records: Vec<PaymentRecord>| -> Vec<String> {
        let mut ids: Vec<String> = records.into_iter().map(|r| r.payment_request_id).collect();
        ids.sort();
        ids
    };
    let only = |products: Vec<Product>| PaymentFilter {
        products,
        ..PaymentFilter::default()
    };
    assert_eq!(
        ids(journal
            .list_payments(&only(vec![Product::UserPresented]))
            .unwrap()),
        ["P-scan-1", "P-scan-2"]
    );
    assert_eq!(
        ids(journal
            .list_payments(&only(vec![Product::OrderCode]))
            .unwrap()),
        ["P-shown"]
    );
    assert_eq!(journal.list_payments(&only(Vec::new())).unwrap().len(), 3);
    assert!(
        journal
            .list_payments(&only(vec![Product::AutoDebit]))
            .unwrap()
            .is_empty()
    );
    let reader = Reader::open_in(dir.path()).unwrap();
    let rows = reader
        .transactions(&PaymentFilter {
            limit: Some(1),
            ..only(vec![Product::OrderCode])
        })
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].payment.payment_request_id, shown.payment_request_id);
    assert_eq!(scanned[1].customer_code_last4.as_deref(), Some("0002"));
}
