//! The payment engine against the embedded sandbox: real loopback HTTP, real SQLite files,
//! the sandbox's fault injection and magic amounts.
//!
//! What every test holds the engine to: a cashier never sees "paid" for an unpaid order,
//! nothing is charged twice, nothing is lost, and at the end the terminal's journal agrees
//! with the sandbox's ledger. No test sleeps and hopes: each waits for an event or polls a
//! condition with a deadline (the deadline only bounds a hang), then asserts the final state.

use std::time::Duration;

use crate::support::*;
use alipay_pos::ams::models::{Amount, NotifyPaymentRequest, NotifyType, ResultInfo};
use alipay_pos::checkout::{
    CheckoutError, CheckoutEvent, ManualOutcome, ManualSettleError, PayStart, Policy, Recovery,
};
use alipay_pos::journal::{
    Actor, JournalError, NewPayment, PaymentState, PaymentUpdate, RefundState, RequestOutcome,
    Resolution,
};
use alipay_pos::money::{Currency, Money};
use alipay_pos::terminal::Terminal;
use serde_json::json;

/// Bounds every wait; far above what any step needs on a loaded machine.
const WAIT: Duration = Duration::from_secs(30);

fn usd(text: &str) -> Money {
    Money::parse(text, Currency::USD).unwrap()
}

fn is_code_ready(event: &CheckoutEvent, id: &str) -> bool {
    matches!(event, CheckoutEvent::CodeReady { payment_request_id, .. } if payment_request_id == id)
}

/// States a payment must never pass through while its outcome is unknown.
fn assert_never_final(events: &mut Events, id: &str) {
    events.drain();
    let states = events.states_of(id);
    assert!(
        !states.iter().any(|s| s.is_final()),
        "{id} was shown final while its outcome was unknown: {states:?}"
    );
}

// ---------------------------------------------------------------------------------------
// The normal flows

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn happy_path_ends_paid_once_and_agrees_with_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let terminal = demo_terminal(dir.path(), Policy::fast(), |_| {}).await;
    let control = Control::of(&terminal);
    let mut events = Events::new(&terminal.checkout);

    let (record, start) = terminal
        .checkout
        .start_payment(alipay_pos::checkout::PaymentIntent::order_code(
            usd("12.50"),
            "Flat white",
            Actor::Cashier,
        ))
        .await
        .unwrap();
    let id = record.payment_request_id.clone();
    let (code, expires_at) = code_of(&start);
    assert_eq!(record.state, PaymentState::AwaitingCustomer);
    assert_eq!(record.code_value.as_deref(), Some(code.as_str()));
    // The code the engine reports is the one it journaled, expiry included.
    assert_eq!(record.code_expires_at, Some(expires_at));
    events
        .wait_for("CodeReady", WAIT, |e| is_code_ready(e, &id))
        .await;

    let (status, answer) = control.wallet_pay(&code).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "SUCCESS");
    events
        .wait_for("PaymentState Paid after CodeReady", WAIT, |e| {
            is_state(e, &id, PaymentState::Paid)
        })
        .await;

    let record = terminal.checkout.payment(&id).await.unwrap();
    assert_eq!(record.state, PaymentState::Paid);
    assert_eq!(record.payment_id.as_deref(), answer["paymentId"].as_str());
    assert!(record.paid_at.is_some());
    let paid_rows = terminal
        .checkout
        .journal_for_tests(|j| {
            j.list_payments(&alipay_pos::journal::PaymentFilter {
                states: vec![PaymentState::Paid],
                ..Default::default()
            })
        })
        .await
        .unwrap();
    assert_eq!(paid_rows.len(), 1);
    assert_eq!(paid_rows[0].payment_request_id, id);

    let ledger = control.ledger().await;
    let remote = ledger.payment(&id).unwrap();
    assert_eq!(remote.status, "SUCCESS");
    assert_eq!(
        Some(remote.payment_id.as_str()),
        record.payment_id.as_deref()
    );
    assert_eq!(remote.amount, 1250);

    // The states were published in order and nothing else final ever was.
    events.drain();
    let states = events.states_of(&id);
    assert_eq!(
        states,
        [PaymentState::AwaitingCustomer, PaymentState::Paid],
        "{:#?}",
        events.seen
    );
    let started = events
        .seen
        .iter()
        .position(|e| matches!(e, CheckoutEvent::PaymentStarted { payment_request_id } if *payment_request_id == id))
        .unwrap();
    let code_ready = events
        .seen
        .iter()
        .position(|e| is_code_ready(e, &id))
        .unwrap();
    assert!(started < code_ready);

    // Paying the same code again is refused: one order, one charge.
    let (status, answer) = control.wallet_pay(&code).await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["error"], "already_paid");

    let counts = assert_consistent(&terminal, true).await;
    assert_eq!(counts.paid, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_ends_the_wait_without_waiting_for_a_poll() {
    let dir = tempfile::tempdir().unwrap();
    let mut policy = Policy::fast();
    policy.poll_interval = Duration::from_secs(30);
    let terminal = demo_terminal(dir.path(), policy, |_| {}).await;
    let control = Control::of(&terminal);
    let mut events = Events::new(&terminal.checkout);

    let (id, code) = awaiting(&terminal, "4.20").await;
    let (status, _) = control.wallet_pay(&code).await;
    assert_eq!(status, 200);
    // Well inside one poll interval: no inquiry has been made by then.
    events
        .wait_for("Paid before the first poll", Duration::from_secs(10), |e| {
            is_state(e, &id, PaymentState::Paid)
        })
        .await;
    let record = terminal.checkout.payment(&id).await.unwrap();
    assert_eq!(record.state, PaymentState::Paid);
    assert_eq!(
        record.resolution,
        Some(Resolution::Notify),
        "the notification, not a poll, must have decided"
    );
    // The sandbox marks the notification delivered once the receiver acknowledged it,
    // which the receiver does only after the engine recorded it.
    let payment_id = record.payment_id.clone().unwrap();
    wait_until("the notification to be acknowledged", WAIT, || async {
        control
            .ledger()
            .await
            .notifications
            .iter()
            .any(|n| n["subject"] == payment_id.as_str() && n["status"] == "DELIVERED")
    })
    .await;
    assert_consistent(&terminal, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cashier_cancel_while_waiting_cancels_at_alipay() {
    let dir = tempfile::tempdir().unwrap();
    let terminal = demo_terminal(dir.path(), Policy::fast(), |_| {}).await;
    let control = Control::of(&terminal);
    let mut events = Events::new(&terminal.checkout);

    let (id, code) = awaiting(&terminal, "8.00").await;
    let record = terminal
        .checkout
        .cancel(&id, Actor::Cashier, "customer left")
        .await
        .unwrap();
    assert_eq!(record.state, PaymentState::Cancelled);
    assert_eq!(record.resolution, Some(Resolution::Cancel));
    assert_eq!(control.ledger().await.status_of(&id), Some("CANCELLED"));

    // The customer can no longer pay the code on screen a moment ago.
    let (status, answer) = control.wallet_pay(&code).await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["error"], "cancelled");
    events
        .wait_for("Cancelled", WAIT, |e| {
            is_state(e, &id, PaymentState::Cancelled)
        })
        .await;
    assert_eq!(
        events.states_of(&id),
        [
            PaymentState::AwaitingCustomer,
            PaymentState::Cancelling,
            PaymentState::Cancelled
        ]
    );
    // Cancelling again is harmless and changes nothing.
    let again = terminal
        .checkout
        .cancel(&id, Actor::Cashier, "pressed twice")
        .await
        .unwrap();
    assert_eq!(again.state, PaymentState::Cancelled);
    assert_consistent(&terminal, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_code_ends_unpaid_and_agrees_with_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let mut policy = Policy::fast();
    policy.max_code_lifetime = Duration::from_secs(2);
    let terminal = demo_terminal(dir.path(), policy, |_| {}).await;
    let control = Control::of(&terminal);

    let (id, code) = awaiting(&terminal, "3.10").await;
    let record = wait_final(&terminal.checkout, &id, WAIT).await;
    // The sandbox closes the code at its expiry, before the engine's grace runs out, so
    // either the poll sees FAIL/ORDER_IS_CLOSED or the engine's cancel is refused and the
    // inquiry decides; both are "failed", never paid.
    assert_eq!(record.state, PaymentState::Failed, "{record:?}");
    assert_eq!(record.result_code.as_deref(), Some("ORDER_IS_CLOSED"));
    let ledger = control.ledger().await;
    let remote = ledger.payment(&id).unwrap();
    assert_eq!(
        (remote.status.as_str(), remote.result_code.as_str()),
        ("FAIL", "ORDER_IS_CLOSED")
    );
    let (status, answer) = control.wallet_pay(&code).await;
    assert_eq!(status, 410, "{answer}");
    assert_consistent(&terminal, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_cancels_a_code_that_expired_on_its_own_clock() {
    let dir = tempfile::tempdir().unwrap();
    let mut policy = Policy::fast();
    policy.max_code_lifetime = Duration::from_secs(2);
    let terminal = demo_terminal(dir.path(), policy, |_| {}).await;
    let control = Control::of(&terminal);
    let mut events = Events::new(&terminal.checkout);
    // Alipay's clock runs a minute behind: the code is still open there when the terminal's
    // own expiry (plus grace) passes, so the engine itself must cancel it.
    control.advance_clock_ms(-60_000).await;

    let (id, _code) = awaiting(&terminal, "3.20").await;
    let record = wait_final(&terminal.checkout, &id, WAIT).await;
    assert_eq!(record.state, PaymentState::Cancelled, "{record:?}");
    assert_eq!(control.ledger().await.status_of(&id), Some("CANCELLED"));
    events.drain();
    let cancelling = events
        .seen
        .iter()
        .find_map(|e| match e {
            CheckoutEvent::PaymentState {
                payment_request_id,
                state: PaymentState::Cancelling,
                detail,
            } if *payment_request_id == id => Some(detail.clone()),
            _ => None,
        })
        .expect("a Cancelling event");
    assert!(cancelling.contains("expired"), "{cancelling}");
    assert_consistent(&terminal, true).await;
}

// ---------------------------------------------------------------------------------------
// Magic amounts (src/sandbox/payments.rs `magic`)

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magic_9901_pay_unknown_is_retried_with_the_same_id_and_charged_once() {
    let dir = tempfile::tempdir().unwrap();
    let terminal = demo_terminal(dir.path(), Policy::fast(), |_| {}).await;
    let control = Control::of(&terminal);

    // The first `pay` is processed and answered U; the retry with the same paymentRequestId
    // gets the original answer, i.e. the code.
    let (record, start) = terminal
        .checkout
        .start_payment(alipay_pos::checkout::PaymentIntent::order_code(
            usd("99.01"),
            "magic U",
            Actor::Cashier,
        ))
        .await
        .unwrap();
    let id = record.payment_request_id.clone();
    let (code, _) = code_of(&start);
    let request = terminal
        .checkout
        .journal_for_tests({
            let id = id.clone();
            move |j| j.request(&id)
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(request.outcome, Some(RequestOutcome::Success));
    let ledger = control.ledger().await;
    let remote = ledger.payment(&id).expect("one sandbox payment");
    assert_eq!(
        Some(remote.payment_id.as_str()),
        record.payment_id.as_deref()
    );

    let (status, _) = control.wallet_pay(&code).await;
    assert_eq!(status, 200);
    let record = wait_final(&terminal.checkout, &id, WAIT).await;
    assert_eq!(record.state, PaymentState::Paid);
    let counts = assert_consistent(&terminal, true).await;
    assert_eq!((counts.paid, counts.cancelled), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magic_9901_without_retries_is_cancelled_because_no_code_was_shown() {
    let dir = tempfile::tempdir().unwrap();
    let mut policy = Policy::fast();
    policy.pay.attempts = 1;
    let terminal = demo_terminal(dir.path(), policy, |_| {}).await;
    let mut events = Events::new(&terminal.checkout);

    let (record, start) = terminal
        .checkout
        .start_payment(alipay_pos::checkout::PaymentIntent::order_code(
            usd("99.01"),
            "magic U",
            Actor::Cashier,
        ))
        .await
        .unwrap();
    let id = record.payment_request_id.clone();
    assert_eq!(start, PayStart::Unknown);
    assert_eq!(record.state, PaymentState::Unresolved);
    assert!(record.code_value.is_none());
    let record = wait_final(&terminal.checkout, &id, WAIT).await;
    assert_eq!(record.state, PaymentState::Cancelled, "{record:?}");
    events.drain();
    assert!(!events.seen.iter().any(|e| is_code_ready(e, &id)));
    assert!(!events.states_of(&id).contains(&PaymentState::Paid));
    assert_eq!(
        Control::of(&terminal).ledger().await.status_of(&id),
        Some("CANCELLED")
    );
    assert_consistent(&terminal, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magic_9905_risk_reject_fails_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let terminal = demo_terminal(dir.path(), Policy::fast(), |_| {}).await;
    let (record, start) = terminal
        .checkout
        .start_payment(alipay_pos::checkout::PaymentIntent::order_code(
            usd("99.05"),
            "magic F",
            Actor::Cashier,
        ))
        .await
        .unwrap();
    let id = record.payment_request_id.clone();
    match &start {
        PayStart::Failed { code, .. } => assert_eq!(code, "RISK_REJECT"),
        other => panic!("{other:?}"),
    }
    assert_eq!(record.state, PaymentState::Failed);
    assert_eq!(record.result_code.as_deref(), Some("RISK_REJECT"));
    assert_eq!(record.resolution, Some(Resolution::Pay));
    assert!(!terminal.checkout.is_driven(&id));
    let ledger = Control::of(&terminal).ledger().await;
    let remote = ledger.payment(&id).unwrap();
    assert_eq!(
        (remote.status.as_str(), remote.result_code.as_str()),
        ("FAIL", "RISK_REJECT")
    );
    assert_consistent(&terminal, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magic_9906_payment_in_process_is_settled_unpaid() {
    let dir = tempfile::tempdir().unwrap();
    let terminal = demo_terminal(dir.path(), Policy::fast(), |_| {}).await;
    let mut events = Events::new(&terminal.checkout);
    let (record, start) = terminal
        .checkout
        .start_payment(alipay_pos::checkout::PaymentIntent::order_code(
            usd("99.06"),
            "magic in process",
            Actor::Cashier,
        ))
        .await
        .unwrap();
    let id = record.payment_request_id.clone();
    assert_eq!(start, PayStart::Unknown);
    assert_eq!(record.state, PaymentState::Unresolved);
    let record = wait_final(&terminal.checkout, &id, WAIT).await;
    assert_eq!(record.state, PaymentState::Cancelled, "{record:?}");
    events.drain();
    assert!(!events.states_of(&id).contains(&PaymentState::Paid));
    assert_eq!(
        Control::of(&terminal).ledger().await.status_of(&id),
        Some("CANCELLED")
    );
    assert_consistent(&terminal, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magic_9902_pay_hanging_past_the_client_timeout_is_settled_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = sandbox_config(dir.path(), Some(1_000));
    let terminal = demo_terminal_with(config, Policy::fast(), |o| {
        o.hang_time = Duration::from_secs(5);
    })
    .await;
    let control = Control::of(&terminal);
    let mut events = Events::new(&terminal.checkout);

    // The first `pay` times out on the client; the retry gets the original answer.
    let (record, start) = terminal
        .checkout
        .start_payment(alipay_pos::checkout::PaymentIntent::order_code(
            usd("99.02"),
            "magic hang",
            Actor::Cashier,
        ))
        .await
        .unwrap();
    let id = record.payment_request_id.clone();
    code_of(&start);
    events
        .wait_for("offline after the timeout", WAIT, |e| {
            matches!(e, CheckoutEvent::Connectivity { online: false })
        })
        .await;
    events
        .wait_for("online again", WAIT, |e| {
            matches!(e, CheckoutEvent::Connectivity { online: true })
        })
        .await;
    assert!(control.ledger().await.payment(&id).is_some());

    let record = terminal
        .checkout
        .cancel(&id, Actor::Cashier, "customer left")
        .await
        .unwrap();
    assert_eq!(record.state, PaymentState::Cancelled);
    let counts = assert_consistent(&terminal, true).await;
    assert_eq!(counts.cancelled, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magic_9903_first_inquiry_unknown_then_paid_by_polling() {
    let dir = tempfile::tempdir().unwrap();
    let terminal = demo_terminal(dir.path(), Policy::fast(), |_| {}).await;
    let control = Control::of(&terminal);
    // Without notifications only the poller can see the payment, and its first inquiry
    // is answered U whatever the payment's state.
    control
        .set_faults(json!({ "suppress_notifications": true }))
        .await;
    let (id, code) = awaiting(&terminal, "99.03").await;
    let (status, _) = control.wallet_pay(&code).await;
    assert_eq!(status, 200);
    let record = wait_final(&terminal.checkout, &id, WAIT).await;
    assert_eq!(record.state, PaymentState::Paid);
    assert_eq!(record.resolution, Some(Resolution::Inquiry));
    assert_consistent(&terminal, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magic_9904_first_inquiry_hanging_then_paid_by_polling() {
    let dir = tempfile::tempdir().unwrap();
    let config = sandbox_config(dir.path(), Some(1_000));
    let terminal = demo_terminal_with(config, Policy::fast(), |o| {
        o.hang_time = Duration::from_secs(5);
    })
    .await;
    let control = Control::of(&terminal);
    let mut events = Events::new(&terminal.checkout);
    control
        .set_faults(json!({ "suppress_notifications": true }))
        .await;
    let (id, code) = awaiting(&terminal, "99.04").await;
    let (status, _) = control.wallet_pay(&code).await;
    assert_eq!(status, 200);
    // The hanging first inquiry times out (the engine goes offline), the next one finds
    // the payment.
    events
        .wait_for("offline after the hanging inquiry", WAIT, |e| {
            matches!(e, CheckoutEvent::Connectivity { online: false })
        })
        .await;
    events
        .wait_for("Paid", WAIT, |e| is_state(e, &id, PaymentState::Paid))
        .await;
    let record = terminal.checkout.payment(&id).await.unwrap();
    assert_eq!(record.resolution, Some(Resolution::Inquiry));
    assert_consistent(&terminal, true).await;
}

// ---------------------------------------------------------------------------------------
// Faults injected through the control endpoint

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_down_during_pay_leaves_the_payment_unresolved_until_it_answers() {
    let dir = tempfile::tempdir().unwrap();
    let terminal = demo_terminal(dir.path(), Policy::fast(), |_| {}).await;
    let control = Control::of(&terminal);
    let mut events = Events::new(&terminal.checkout);

    control.set_faults(json!({ "down": true })).await;
    let (record, start) = terminal
        .checkout
        .start_payment(alipay_pos::checkout::PaymentIntent::order_code(
            usd("15.00"),
            "down",
            Actor::Cashier,
        ))
        .await
        .unwrap();
    let id = record.payment_request_id.clone();
    assert_eq!(start, PayStart::Unknown);
    assert_eq!(record.state, PaymentState::Unresolved);
    // Inquiries and cancels fail too; the engine gives up for now and leaves it open.
    let record = wait_settled(&terminal.checkout, &id, WAIT).await;
    assert_eq!(record.state, PaymentState::Unresolved, "{record:?}");
    assert_never_final(&mut events, &id);
    assert!(events.connectivity().contains(&false));
    // A resolver round while still down changes nothing.
    let report = terminal.checkout.resolve_once().await.unwrap();
    assert!(report.settled_payments.is_empty());
    assert_eq!(
        terminal.checkout.payment(&id).await.unwrap().state,
        PaymentState::Unresolved
    );

    control.clear_faults().await;
    let report = terminal.checkout.resolve_once().await.unwrap();
    // `down` breaks connections before anything is processed: Alipay never saw it.
    assert_eq!(
        report.settled_payments,
        [(id.clone(), PaymentState::Failed)]
    );
    assert!(report.open_payments.is_empty());
    assert!(control.ledger().await.payment(&id).is_none());
    let counts = assert_consistent(&terminal, true).await;
    assert_eq!(counts.failed_never_sent, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_pay_responses_are_settled_without_a_second_charge() {
    let dir = tempfile::tempdir().unwrap();
    let terminal = demo_terminal(dir.path(), Policy::fast(), |_| {}).await;
    let control = Control::of(&terminal);
    let mut events = Events::new(&terminal.checkout);
    control
        .set_faults(json!({ "drop_response_rate": 1.0, "apis": ["pay"] }))
        .await;
    let (record, start) = terminal
        .checkout
        .start_payment(alipay_pos::checkout::PaymentIntent::order_code(
            usd("21.00"),
            "dropped",
            Actor::Cashier,
        ))
        .await
        .unwrap();
    let id = record.payment_request_id.clone();
    assert_eq!(start, PayStart::Unknown);
    // Every `pay` (three, same id) was processed; the sandbox still has one payment.
    let record = wait_final(&terminal.checkout, &id, WAIT).await;
    assert_eq!(record.state, PaymentState::Cancelled, "{record:?}");
    events.drain();
    assert!(!events.states_of(&id).contains(&PaymentState::Paid));
    let ledger = control.ledger().await;
    assert_eq!(ledger.payments.len(), 1);
    assert_eq!(ledger.status_of(&id), Some("CANCELLED"));
    assert_consistent(&terminal, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signatures_are_never_taken_as_facts() {
    let dir = tempfile::tempdir().unwrap();
    let terminal = demo_terminal(dir.path(), Policy::fast(), |_| {}).await;
    let control = Control::of(&terminal);
    let mut events = Events::new(&terminal.checkout);
    control
        .set_faults(json!({ "bad_signature_rate": 1.0 }))
        .await;
    let (record, start) = terminal
        .checkout
        .start_payment(alipay_pos::checkout::PaymentIntent::order_code(
            usd("17.00"),
            "forged",
            Actor::Cashier,
        ))
        .await
        .unwrap();
    let id = record.payment_request_id.clone();
    assert_eq!(start, PayStart::Unknown);
    let record = wait_settled(&terminal.checkout, &id, WAIT).await;
    assert_eq!(record.state, PaymentState::Unresolved, "{record:?}");
    assert_never_final(&mut events, &id);
    // The sandbox did process the engine's cancel; its (unverifiable) answer proved nothing.
    assert_eq!(control.ledger().await.status_of(&id), Some("CANCELLED"));

    control.clear_faults().await;
    let report = terminal.checkout.resolve_once().await.unwrap();
    assert_eq!(
        report.settled_payments,
        [(id.clone(), PaymentState::Cancelled)]
    );
    assert_consistent(&terminal, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signatures_while_the_customer_pays_never_show_paid() {
    let dir = tempfile::tempdir().unwrap();
    let mut policy = Policy::fast();
    policy.max_code_lifetime = Duration::from_secs(3);
    let terminal = demo_terminal(dir.path(), policy, |o| {
        // Keep the sandbox from closing the code before the engine acts on its expiry.
        o.cancel_window = Duration::from_secs(3_600);
    })
    .await;
    let control = Control::of(&terminal);
    let mut events = Events::new(&terminal.checkout);
    let (id, code) = awaiting(&terminal, "17.50").await;
    control
        .set_faults(json!({ "bad_signature_rate": 1.0, "suppress_notifications": true }))
        .await;
    let (status, _) = control.wallet_pay(&code).await;
    assert_eq!(status, 200);
    // Every inquiry answer is forged-looking: the engine cannot know the customer paid, so
    // at expiry it cancels (which the sandbox carries out, returning the money) and, with no
    // verifiable answer, leaves the payment unresolved.
    let record = wait_settled(&terminal.checkout, &id, WAIT).await;
    assert_eq!(record.state, PaymentState::Unresolved, "{record:?}");
    assert_never_final(&mut events, &id);

    control.clear_faults().await;
    terminal.checkout.resolve_once().await.unwrap();
    let record = terminal.checkout.payment(&id).await.unwrap();
    let ledger = control.ledger().await;
    let remote = ledger.payment(&id).unwrap();
    assert_eq!(remote.status, "CANCELLED");
    assert!(
        remote.payment_time.is_some(),
        "the customer did pay: {remote:?}"
    );
    assert_eq!(record.state, PaymentState::Cancelled);
    assert_consistent(&terminal, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_5xx_on_cancel_is_retried_until_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let mut policy = Policy::fast();
    policy.cancel.delay = Duration::from_millis(300);
    let terminal = demo_terminal(dir.path(), policy, |_| {}).await;
    let control = Control::of(&terminal);
    let mut events = Events::new(&terminal.checkout);

    // 1. The gateway recovers while the cancel is still retrying.
    let (id, _) = awaiting(&terminal, "6.00").await;
    control
        .set_faults(json!({ "http_5xx_rate": 1.0, "apis": ["cancel"] }))
        .await;
    let cancel = {
        let checkout = terminal.checkout.clone();
        let id = id.clone();
        tokio::spawn(async move { checkout.cancel(&id, Actor::Cashier, "abort").await })
    };
    events
        .wait_for("offline on HTTP 5xx", WAIT, |e| {
            matches!(e, CheckoutEvent::Connectivity { online: false })
        })
        .await;
    assert_eq!(control.ledger().await.status_of(&id), Some("PROCESSING"));
    control.clear_faults().await;
    let record = cancel.await.unwrap().unwrap();
    assert_eq!(record.state, PaymentState::Cancelled);
    assert_eq!(control.ledger().await.status_of(&id), Some("CANCELLED"));

    // 2. The gateway stays broken past the retries: unresolved, then the resolver cancels.
    let (id2, _) = awaiting(&terminal, "6.50").await;
    control
        .set_faults(json!({ "http_5xx_rate": 1.0, "apis": ["cancel"] }))
        .await;
    let record = terminal
        .checkout
        .cancel(&id2, Actor::Cashier, "abort")
        .await
        .unwrap();
    assert_eq!(record.state, PaymentState::Unresolved);
    assert_eq!(control.ledger().await.status_of(&id2), Some("PROCESSING"));
    // The poller the cancel woke may still be looking; the resolver leaves it alone until then.
    wait_settled(&terminal.checkout, &id2, WAIT).await;
    control.clear_faults().await;
    let report = terminal.checkout.resolve_once().await.unwrap();
    assert_eq!(
        report.settled_payments,
        [(id2.clone(), PaymentState::Cancelled)]
    );
    let counts = assert_consistent(&terminal, true).await;
    assert_eq!(counts.cancelled, 2);
}

// ---------------------------------------------------------------------------------------
// Refunds

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_refunds_never_exceed_the_payment() {
    let dir = tempfile::tempdir().unwrap();
    let terminal = demo_terminal(dir.path(), Policy::fast(), |_| {}).await;
    let control = Control::of(&terminal);
    let checkout = &terminal.checkout;
    let id = paid(&terminal, "10.00").await;
    let payment_id = checkout.payment(&id).await.unwrap().payment_id.unwrap();
    let mut events = Events::new(checkout);

    let first = checkout
        .refund(&id, Some(usd("3.00")), "spilled", &approval("M1"))
        .await
        .unwrap();
    assert_eq!(first.state, RefundState::Succeeded);
    // Journaled (requested) before it was sent, and the result published.
    let refund_states: Vec<RefundState> = events
        .drain()
        .iter()
        .filter_map(|e| match e {
            CheckoutEvent::RefundState {
                refund_request_id,
                state,
                ..
            } if *refund_request_id == first.refund_request_id => Some(*state),
            _ => None,
        })
        .collect();
    assert_eq!(
        refund_states,
        [RefundState::Requested, RefundState::Succeeded]
    );
    // Found by Alipay's payment id too.
    let second = checkout
        .refund(&payment_id, Some(usd("3.00")), "cold", &approval("M1"))
        .await
        .unwrap();
    assert_eq!(second.state, RefundState::Succeeded);
    assert_ne!(first.refund_request_id, second.refund_request_id);

    let too_much = checkout
        .refund(&id, Some(usd("5.00")), "greedy", &approval("M1"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            too_much,
            CheckoutError::Journal(JournalError::RefundExceedsPayment { .. })
        ),
        "{too_much:?}"
    );
    // Refused locally: nothing reached the sandbox.
    let ledger = control.ledger().await;
    assert_eq!(ledger.refunds_of(&payment_id).len(), 2);
    assert_eq!(ledger.payment(&id).unwrap().refunded, 600);

    let rest = checkout
        .refund(&id, None, "all of it", &approval("M1"))
        .await
        .unwrap();
    assert_eq!(rest.state, RefundState::Succeeded);
    assert_eq!(rest.amount, usd("4.00"));
    let nothing_left = checkout
        .refund(&id, None, "again", &approval("M1"))
        .await
        .unwrap_err();
    assert!(
        matches!(&nothing_left, CheckoutError::NothingLeftToRefund { payment_request_id } if *payment_request_id == id),
        "{nothing_left:?}"
    );

    let ledger = control.ledger().await;
    let remote = ledger.payment(&id).unwrap();
    assert_eq!((remote.refunded, remote.refund_count), (1000, 3));
    // The payment itself stays paid: refunds are separate.
    assert_eq!(
        checkout.payment(&id).await.unwrap().state,
        PaymentState::Paid
    );
    let counts = assert_consistent(&terminal, true).await;
    assert_eq!(counts.refunds_succeeded, 3);

    // Only paid payments can be refunded.
    let (open, _) = awaiting(&terminal, "2.00").await;
    let refused = checkout
        .refund(&open, None, "x", &approval("M1"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &refused,
            CheckoutError::NotPaid { payment_request_id, state: PaymentState::AwaitingCustomer }
                if *payment_request_id == open
        ),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_whose_answer_is_lost_is_resent_and_happens_once() {
    let dir = tempfile::tempdir().unwrap();
    let terminal = demo_terminal(dir.path(), Policy::fast(), |_| {}).await;
    let control = Control::of(&terminal);
    let checkout = &terminal.checkout;
    let id = paid(&terminal, "10.00").await;
    let payment_id = checkout.payment(&id).await.unwrap().payment_id.unwrap();

    control
        .set_faults(json!({ "drop_response_rate": 1.0, "apis": ["refund", "inquiryRefund"] }))
        .await;
    let refund = checkout
        .refund(&id, Some(usd("2.50")), "lost answer", &approval("M1"))
        .await
        .unwrap();
    assert_eq!(refund.state, RefundState::Unresolved);
    // Sent eight times, carried out once.
    let ledger = control.ledger().await;
    let remote: Vec<_> = ledger.refunds_of(&payment_id);
    assert_eq!(remote.len(), 1);
    assert_eq!(remote[0].refund_request_id, refund.refund_request_id);
    // The refund in flight still counts against the payment.
    let refused = checkout
        .refund(&id, Some(usd("8.00")), "too much", &approval("M1"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            CheckoutError::Journal(JournalError::RefundExceedsPayment { .. })
        ),
        "{refused:?}"
    );

    control.clear_faults().await;
    let report = checkout.resolve_once().await.unwrap();
    assert_eq!(
        report.settled_refunds,
        [(refund.refund_request_id.clone(), RefundState::Succeeded)]
    );
    let settled = checkout
        .refund_record(&refund.refund_request_id)
        .await
        .unwrap();
    assert_eq!(settled.state, RefundState::Succeeded);
    let ledger = control.ledger().await;
    let remote = ledger.refunds_of(&payment_id);
    assert_eq!(remote.len(), 1, "the resend must not refund twice");
    assert_eq!(
        settled.refund_id.as_deref(),
        Some(remote[0].refund_id.as_str())
    );
    assert_eq!(ledger.payment(&id).unwrap().refunded, 250);
    assert_consistent(&terminal, true).await;
}

// ---------------------------------------------------------------------------------------
// Cancel after payment

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_resend_after_a_lost_answer_is_settled_by_inquiry() {
    let dir = tempfile::tempdir().unwrap();
    let terminal = demo_terminal(dir.path(), Policy::fast(), |_| {}).await;
    let control = Control::of(&terminal);
    let checkout = &terminal.checkout;
    let id = paid(&terminal, "10.00").await;
    let payment_id = checkout.payment(&id).await.unwrap().payment_id.unwrap();

    // The first refund is carried out but its answer is lost; the resend is refused (as
    // Alipay may, once the refund window has closed). The first one went through.
    control
        .set_faults(json!({
            "apis": ["refund"], "drop_response_rate": 1.0, "count": 1,
            "then": { "apis": ["refund"], "refuse_with": "REFUND_WINDOW_EXCEED", "count": 1 }
        }))
        .await;
    let refund = checkout
        .refund(
            &id,
            Some(usd("4.00")),
            "lost, then refused",
            &approval("M1"),
        )
        .await
        .unwrap();
    assert_eq!(refund.state, RefundState::Succeeded, "{refund:?}");
    assert_eq!(refund.resolution, Some(Resolution::Inquiry));
    assert!(refund.refund_id.is_some());
    let ledger = control.ledger().await;
    let remote = ledger.refunds_of(&payment_id);
    assert_eq!(remote.len(), 1);
    assert_eq!(remote[0].refund_request_id, refund.refund_request_id);
    assert_eq!(remote[0].amount, 400);
    // Only what is left can be refunded: the journal counts the 4.00 as refunded.
    let remaining = checkout
        .refund(&id, Some(usd("6.01")), "too much", &approval("M1"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            remaining,
            CheckoutError::Journal(JournalError::RefundExceedsPayment { .. })
        ),
        "{remaining:?}"
    );
    assert_consistent(&terminal, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_alipay_never_received_fails_after_the_not_found_limit() {
    let dir = tempfile::tempdir().unwrap();
    let policy = Policy {
        refund_not_found_limit: 2,
        ..Policy::fast()
    };
    let terminal = demo_terminal(dir.path(), policy, |_| {}).await;
    let control = Control::of(&terminal);
    let checkout = &terminal.checkout;
    let id = paid(&terminal, "10.00").await;
    let payment_id = checkout.payment(&id).await.unwrap().payment_id.unwrap();

    // Every refund request breaks before Alipay processes it: unknown to the terminal,
    // never created at Alipay.
    control
        .set_faults(json!({ "apis": ["refund"], "down": true }))
        .await;
    let refund = checkout
        .refund(&id, Some(usd("3.00")), "never arrives", &approval("M1"))
        .await
        .unwrap();
    assert_eq!(refund.state, RefundState::Failed, "{refund:?}");
    assert_eq!(refund.result_code.as_deref(), Some("ORDER_NOT_EXIST"));
    assert_eq!(refund.resolution, Some(Resolution::Inquiry));
    let events = checkout
        .journal_for_tests({
            let local = refund.id;
            move |j| j.events_for(alipay_pos::journal::EntityRef::Refund(local))
        })
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.detail.contains("2 inquiries found nothing")),
        "{events:#?}"
    );
    assert!(control.ledger().await.refunds_of(&payment_id).is_empty());
    // Nothing was refunded, so the whole amount can be refunded again.
    control.clear_faults().await;
    let again = checkout
        .refund(&id, None, "second try", &approval("M1"))
        .await
        .unwrap();
    assert_eq!(again.state, RefundState::Succeeded);
    assert_eq!(again.amount, usd("10.00"));
    assert_consistent(&terminal, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_naming_another_payment_or_refund_are_never_applied() {
    let dir = tempfile::tempdir().unwrap();
    // The poller stays out of the way: each step below is driven by hand.
    let policy = Policy {
        poll_interval: Duration::from_secs(3600),
        ..Policy::fast()
    };
    let terminal = demo_terminal(dir.path(), policy, |_| {}).await;
    let control = Control::of(&terminal);
    let checkout = &terminal.checkout;

    // pay: a signed S about another payment is not a code to show.
    control
        .set_faults(json!({ "apis": ["pay"], "echo_other_ids": true }))
        .await;
    let (record, start) = checkout
        .start_payment(alipay_pos::checkout::PaymentIntent::order_code(
            usd("3.00"),
            "echo",
            Actor::Cashier,
        ))
        .await
        .unwrap();
    assert_eq!(start, PayStart::Unknown);
    assert_eq!(record.code_value, None);
    control.clear_faults().await;
    let record = wait_final(checkout, &record.payment_request_id, WAIT).await;
    assert_eq!(record.state, PaymentState::Cancelled);

    // cancel and inquiryPayment: the customer paid, and answers about another payment
    // neither cancel nor settle it.
    let (id, code) = awaiting(&terminal, "4.00").await;
    control
        .set_faults(json!({ "suppress_notifications": true }))
        .await;
    let (status, answer) = control.wallet_pay(&code).await;
    assert_eq!(status, 200, "{answer}");
    control
        .set_faults(json!({
            "apis": ["cancel", "inquiryPayment"], "echo_other_ids": true,
            "suppress_notifications": true
        }))
        .await;
    let record = checkout
        .cancel(&id, Actor::Cashier, "cashier cancels")
        .await
        .unwrap();
    assert_eq!(record.state, PaymentState::Unresolved, "{record:?}");
    // The poller woke for the cancel; it stops now that the code is off the screen.
    wait_until("the poller to let go", WAIT, || async {
        !checkout.is_driven(&id)
    })
    .await;
    let report = checkout.resolve_once().await.unwrap();
    assert_eq!(
        report.open_payments,
        [(id.clone(), PaymentState::Unresolved)]
    );
    control.clear_faults().await;
    let report = checkout.resolve_once().await.unwrap();
    let record = checkout.payment(&id).await.unwrap();
    assert_eq!(
        record.state,
        PaymentState::Cancelled,
        "{record:?} {report:?}"
    );

    // refund and inquiryRefund.
    let paid_id = paid(&terminal, "5.00").await;
    control
        .set_faults(json!({ "apis": ["refund", "inquiryRefund"], "echo_other_ids": true }))
        .await;
    let refund = checkout
        .refund(&paid_id, None, "echo", &approval("M1"))
        .await
        .unwrap();
    assert_eq!(refund.state, RefundState::Unresolved, "{refund:?}");
    assert_eq!(refund.refund_id, None);
    control.clear_faults().await;
    let report = checkout.resolve_once().await.unwrap();
    assert_eq!(
        report.settled_refunds,
        [(refund.refund_request_id.clone(), RefundState::Succeeded)]
    );
    assert_consistent(&terminal, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_waits_for_the_pay_answer_instead_of_overtaking_it() {
    let dir = tempfile::tempdir().unwrap();
    let terminal = demo_terminal(dir.path(), Policy::fast(), |_| {}).await;
    let control = Control::of(&terminal);
    // Alipay has the payment long before its answer arrives.
    control
        .set_faults(json!({ "apis": ["pay"], "latency_ms": 3000, "suppress_notifications": true }))
        .await;
    let checkout = terminal.checkout.clone();
    let paying = tokio::spawn(async move {
        checkout
            .start_payment(alipay_pos::checkout::PaymentIntent::order_code(
                usd("6.00"),
                "race",
                Actor::Cashier,
            ))
            .await
    });
    let deadline = std::time::Instant::now() + WAIT;
    let created = loop {
        if let Some(payment) = control.ledger().await.payments.into_iter().next() {
            break payment;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the sandbox never got the payment"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        !paying.is_finished(),
        "pay answered before the test could race it"
    );
    // The notification for it arrives while `pay` is still waiting for its answer.
    let notification = success_notification(
        &created.payment_request_id,
        &created.payment_id,
        created.amount,
    );
    let (status, ack) = send_notification(&terminal, &notification).await;
    assert_eq!((status, &ack["result"]["resultStatus"]), (200, &json!("S")));
    let (record, start) = paying.await.unwrap().unwrap();
    assert!(matches!(start, PayStart::CodeReady { .. }), "{start:?}");
    assert_eq!(record.payment_request_id, created.payment_request_id);
    let record = wait_final(&terminal.checkout, &record.payment_request_id, WAIT).await;
    assert_eq!(record.state, PaymentState::Paid);
    assert_eq!(
        record.payment_id.as_deref(),
        Some(created.payment_id.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn final_payments_leave_no_per_payment_state_behind() {
    let dir = tempfile::tempdir().unwrap();
    let terminal = demo_terminal(dir.path(), Policy::fast(), |_| {}).await;
    let checkout = &terminal.checkout;
    for amount in ["1.00", "2.00", "3.00"] {
        paid(&terminal, amount).await;
    }
    let (cancelled, _) = awaiting(&terminal, "4.00").await;
    checkout
        .cancel(&cancelled, Actor::Cashier, "changed mind")
        .await
        .unwrap();
    let (failed, _) = checkout
        .start_payment(alipay_pos::checkout::PaymentIntent::order_code(
            usd("99.05"),
            "risk reject",
            Actor::Cashier,
        ))
        .await
        .unwrap();
    assert_eq!(failed.state, PaymentState::Failed);
    assert_eq!(checkout.tracked_payments(), 0);
    // An open payment keeps its lock and wakeup, and loses them when it ends.
    let (open, _) = awaiting(&terminal, "5.00").await;
    assert_eq!(checkout.tracked_payments(), 1);
    checkout
        .cancel(&open, Actor::Cashier, "done")
        .await
        .unwrap();
    assert_eq!(checkout.tracked_payments(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_payment_is_not_cancelled_by_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let terminal = demo_terminal(dir.path(), Policy::fast(), |_| {}).await;
    let id = paid(&terminal, "9.00").await;
    let record = terminal
        .checkout
        .cancel(&id, Actor::Cashier, "too late")
        .await
        .unwrap();
    assert_eq!(record.state, PaymentState::Paid);
    assert_eq!(
        Control::of(&terminal).ledger().await.status_of(&id),
        Some("SUCCESS")
    );
    assert_consistent(&terminal, true).await;
}

/// A terminal that only learns of a payment when it asks (long poll interval, no
/// notifications), so a cashier's cancel can race the customer's payment.
async fn racing_terminal(dir: &std::path::Path, cancel_window: Duration) -> (Terminal, Control) {
    let mut policy = Policy::fast();
    policy.poll_interval = Duration::from_secs(30);
    let terminal = demo_terminal(dir, policy, |o| o.cancel_window = cancel_window).await;
    let control = Control::of(&terminal);
    (terminal, control)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_outside_the_window_after_the_customer_paid_stays_paid() {
    let dir = tempfile::tempdir().unwrap();
    let (terminal, control) = racing_terminal(dir.path(), Duration::ZERO).await;
    let mut events = Events::new(&terminal.checkout);
    control
        .set_faults(json!({ "suppress_notifications": true }))
        .await;
    let (id, code) = awaiting(&terminal, "11.00").await;
    let (status, _) = control.wallet_pay(&code).await;
    assert_eq!(status, 200);
    // Make sure the sandbox sees the cancel strictly after the payment.
    control.advance_clock_ms(1_000).await;

    let record = terminal
        .checkout
        .cancel(&id, Actor::Cashier, "customer changed their mind")
        .await
        .unwrap();
    assert_eq!(record.state, PaymentState::Paid, "{record:?}");
    assert_eq!(record.resolution, Some(Resolution::Inquiry));
    assert_eq!(control.ledger().await.status_of(&id), Some("SUCCESS"));
    events.drain();
    assert_eq!(events.states_of(&id).last(), Some(&PaymentState::Paid));
    assert!(!events.states_of(&id).contains(&PaymentState::Cancelled));
    assert_consistent(&terminal, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_inside_the_window_after_the_customer_paid_reverses_it() {
    let dir = tempfile::tempdir().unwrap();
    let (terminal, control) = racing_terminal(dir.path(), Duration::from_secs(86_400)).await;
    // Inquiries fail, so the poller (woken by the cancel) cannot see the payment first.
    control
        .set_faults(json!({
            "suppress_notifications": true,
            "http_5xx_rate": 1.0,
            "apis": ["inquiryPayment"],
        }))
        .await;
    let (id, code) = awaiting(&terminal, "11.50").await;
    let (status, _) = control.wallet_pay(&code).await;
    assert_eq!(status, 200);
    let record = terminal
        .checkout
        .cancel(&id, Actor::Cashier, "customer changed their mind")
        .await
        .unwrap();
    assert_eq!(record.state, PaymentState::Cancelled, "{record:?}");
    let ledger = control.ledger().await;
    let remote = ledger.payment(&id).unwrap();
    assert_eq!(remote.status, "CANCELLED");
    assert!(
        remote.payment_time.is_some(),
        "paid, then reversed: {remote:?}"
    );
    control.clear_faults().await;
    assert_consistent(&terminal, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_notification_does_not_override_a_cancel_in_doubt() {
    let dir = tempfile::tempdir().unwrap();
    let (terminal, control) = racing_terminal(dir.path(), Duration::from_secs(86_400)).await;
    let mut events = Events::new(&terminal.checkout);
    control
        .set_faults(json!({ "suppress_notifications": true }))
        .await;
    let (id, code) = awaiting(&terminal, "12.00").await;
    let (status, paid_answer) = control.wallet_pay(&code).await;
    assert_eq!(status, 200);
    // The cashier aborts; Alipay carries the cancel out (returning the money) but every
    // answer is lost, so the terminal cannot know.
    control
        .set_faults(json!({
            "suppress_notifications": true,
            "drop_response_rate": 1.0,
            "apis": ["cancel", "inquiryPayment"],
        }))
        .await;
    let record = terminal
        .checkout
        .cancel(&id, Actor::Cashier, "abort")
        .await
        .unwrap();
    assert_eq!(record.state, PaymentState::Unresolved);
    assert_eq!(control.ledger().await.status_of(&id), Some("CANCELLED"));

    // Alipay's resend of the payment notification arrives now. It is genuine, but older
    // than the cancel: it must not turn the payment into "paid".
    let mut notification =
        success_notification(&id, paid_answer["paymentId"].as_str().unwrap(), 1200);
    notification.payment_time = paid_answer["paymentTime"].as_str().map(str::to_string);
    let (status, answer) = send_notification(&terminal, &notification).await;
    assert_eq!(status, 200);
    assert_eq!(answer["result"]["resultStatus"], "S", "{answer}");
    let record = terminal.checkout.payment(&id).await.unwrap();
    assert_ne!(
        record.state,
        PaymentState::Paid,
        "the cashier would see paid while Alipay returned the money"
    );
    assert_never_final(&mut events, &id);

    control.clear_faults().await;
    wait_settled(&terminal.checkout, &id, WAIT).await;
    terminal.checkout.resolve_once().await.unwrap();
    let record = terminal.checkout.payment(&id).await.unwrap();
    assert_eq!(record.state, PaymentState::Cancelled);
    assert_consistent(&terminal, true).await;
}

fn success_notification(id: &str, payment_id: &str, minor: u64) -> NotifyPaymentRequest {
    NotifyPaymentRequest {
        notify_type: NotifyType::PaymentResult,
        result: Some(ResultInfo::success()),
        payment_request_id: id.to_string(),
        payment_id: payment_id.to_string(),
        payment_amount: Amount::new("USD", minor),
        payment_create_time: None,
        payment_time: None,
        psp_customer_info: None,
        actual_payment_amount: None,
        payment_quote: None,
        gross_settlement_amount: None,
        settlement_quote: None,
    }
}

/// A payment the journal holds unresolved (as the resolver leaves one whose code expired
/// while Alipay was unreachable) that the customer then paid at Alipay, with notifications
/// off. Returns its paymentRequestId and Alipay's paymentId.
async fn unresolved_then_paid(
    terminal: &Terminal,
    control: &Control,
    amount: &str,
) -> (String, String) {
    control
        .set_faults(json!({ "suppress_notifications": true }))
        .await;
    let (id, _code) = awaiting(terminal, amount).await;
    let moved = id.clone();
    terminal
        .checkout
        .journal_for_tests(move |j| {
            j.transition_payment(
                moved.as_str(),
                PaymentState::Unresolved,
                Actor::System,
                "Alipay unreachable while settling",
                PaymentUpdate::default(),
            )
        })
        .await
        .unwrap();
    let (status, answer) = control.customer_pays(&id).await;
    assert_eq!(status, 200, "{answer}");
    let payment_id = answer["paymentId"].as_str().unwrap().to_string();
    (id, payment_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_still_settles_an_unresolved_payment_no_cancel_was_sent_for() {
    let dir = tempfile::tempdir().unwrap();
    let (terminal, control) = racing_terminal(dir.path(), Duration::from_secs(86_400)).await;
    let (id, payment_id) = unresolved_then_paid(&terminal, &control, "13.00").await;
    let notification = success_notification(&id, &payment_id, 1300);
    let (status, ack) = send_notification(&terminal, &notification).await;
    assert_eq!((status, &ack["result"]["resultStatus"]), (200, &json!("S")));
    let record = terminal.checkout.payment(&id).await.unwrap();
    assert_eq!(record.state, PaymentState::Paid);
    assert_eq!(record.resolution, Some(Resolution::Notify));
    assert_consistent(&terminal, true).await;
}

// ---------------------------------------------------------------------------------------
// Connectivity and the background resolver

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connectivity_is_published_and_the_resolver_survives_an_outage() {
    let dir = tempfile::tempdir().unwrap();
    let terminal = demo_terminal(dir.path(), Policy::fast(), |_| {}).await;
    terminal
        .start_background_work(Recovery::CancelUnwatched)
        .await
        .unwrap();
    let control = Control::of(&terminal);
    let mut events = Events::new(&terminal.checkout);
    assert_eq!(terminal.checkout.online(), None);

    paid(&terminal, "1.00").await;
    events
        .wait_for("online", WAIT, |e| {
            matches!(e, CheckoutEvent::Connectivity { online: true })
        })
        .await;

    control.set_faults(json!({ "down": true })).await;
    let (record, start) = terminal
        .checkout
        .start_payment(alipay_pos::checkout::PaymentIntent::order_code(
            usd("2.00"),
            "outage",
            Actor::Cashier,
        ))
        .await
        .unwrap();
    let id = record.payment_request_id.clone();
    assert_eq!(start, PayStart::Unknown);
    events
        .wait_for("offline", WAIT, |e| {
            matches!(e, CheckoutEvent::Connectivity { online: false })
        })
        .await;
    assert_eq!(terminal.checkout.online(), Some(false));
    let record = wait_settled(&terminal.checkout, &id, WAIT).await;
    assert_eq!(record.state, PaymentState::Unresolved);

    // No resolve_once here: the background resolver, which kept failing during the
    // outage, must settle the payment once the gateway answers again.
    control.clear_faults().await;
    let record = wait_final(&terminal.checkout, &id, WAIT).await;
    assert_eq!(record.state, PaymentState::Failed);
    events
        .wait_for("online again", WAIT, |e| {
            matches!(e, CheckoutEvent::Connectivity { online: true })
        })
        .await;
    // The journal is written before the event is published: wait for the event too.
    events
        .wait_for("the payment's final state", WAIT, |e| {
            matches!(e, CheckoutEvent::PaymentState { payment_request_id, state, .. }
                if *payment_request_id == id && state.is_final())
        })
        .await;
    events.drain();
    assert_eq!(events.connectivity(), [true, false, true]);
    assert_eq!(terminal.checkout.online(), Some(true));
    assert_never_final_before_online(&events, &id);
    assert_consistent(&terminal, true).await;
}

/// The payment's only final state came after the gateway answered again.
fn assert_never_final_before_online(events: &Events, id: &str) {
    let offline = events
        .seen
        .iter()
        .position(|e| matches!(e, CheckoutEvent::Connectivity { online: false }))
        .unwrap();
    let online_again = offline
        + events.seen[offline..]
            .iter()
            .position(|e| matches!(e, CheckoutEvent::Connectivity { online: true }))
            .unwrap();
    let first_final = events
        .seen
        .iter()
        .position(|e| {
            matches!(e, CheckoutEvent::PaymentState { payment_request_id, state, .. }
                if payment_request_id == id && state.is_final())
        })
        .unwrap();
    assert!(first_final > online_again, "{:#?}", events.seen);
}

// ---------------------------------------------------------------------------------------
// Start-up recovery after a crash

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs one life of the terminal and then kills it: dropping the runtime stops every
/// poller, settling task and in-flight request mid-step, as a crash would.
fn life<T>(body: impl std::future::Future<Output = T>) -> T {
    let rt = runtime();
    let value = rt.block_on(body);
    rt.shutdown_timeout(Duration::from_secs(10));
    value
}

#[test]
fn every_open_payment_and_refund_is_finished_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();

    // Life 1: a code that will have expired by the restart.
    let (expired, expires_at) = life(async {
        let mut policy = Policy::fast();
        policy.max_code_lifetime = Duration::from_secs(2);
        let terminal = demo_terminal(&path, policy, |_| {}).await;
        let (record, _) = terminal
            .checkout
            .start_payment(alipay_pos::checkout::PaymentIntent::order_code(
                usd("4.00"),
                "expires",
                Actor::Cashier,
            ))
            .await
            .unwrap();
        (record.payment_request_id, record.code_expires_at.unwrap())
    });

    // Life 2: one payment in every open situation, then a crash.
    let ids = life(async {
        let terminal = demo_terminal(&path, Policy::fast(), |_| {}).await;
        let control = Control::of(&terminal);
        let checkout = &terminal.checkout;

        let paid_id = paid(&terminal, "10.00").await;
        control
            .set_faults(json!({ "drop_response_rate": 1.0, "apis": ["refund", "inquiryRefund"] }))
            .await;
        let refund = checkout
            .refund(&paid_id, Some(usd("1.00")), "in doubt", &approval("M1"))
            .await
            .unwrap();
        assert_eq!(refund.state, RefundState::Unresolved);
        control.clear_faults().await;

        let (awaiting_id, _) = awaiting(&terminal, "5.00").await;

        let (cancelling_id, _) = awaiting(&terminal, "5.50").await;
        let moved = cancelling_id.clone();
        checkout
            .journal_for_tests(move |j| {
                j.transition_payment(
                    moved.as_str(),
                    PaymentState::Cancelling,
                    Actor::Cashier,
                    "cancel: customer left",
                    PaymentUpdate::default(),
                )
            })
            .await
            .unwrap();

        let never_sent = checkout
            .journal_for_tests(|j| {
                j.create_payment(
                    NewPayment {
                        payment_request_id: "P-1-TEST-NEVERSENT".into(),
                        order_ref: "O-1-TEST-NEVERSENT".into(),
                        amount: Money::parse("6.00", Currency::USD).unwrap(),
                        description: "journaled, then the power went".into(),
                        operator: "T1".into(),
                        product: alipay_pos::journal::Product::OrderCode,
                        customer_code: None,
                    },
                    Actor::Cashier,
                )
            })
            .await
            .unwrap()
            .payment_request_id;

        control
            .set_faults(json!({ "bad_signature_rate": 1.0 }))
            .await;
        let (record, _) = checkout
            .start_payment(alipay_pos::checkout::PaymentIntent::order_code(
                usd("7.00"),
                "in doubt",
                Actor::Cashier,
            ))
            .await
            .unwrap();
        let unresolved_id = record.payment_request_id;
        let record = wait_settled(checkout, &unresolved_id, WAIT).await;
        assert_eq!(record.state, PaymentState::Unresolved);
        control.clear_faults().await;

        // A `pay` Alipay has processed but not yet answered when the terminal dies.
        control
            .set_faults(json!({ "latency_ms": 60_000, "apis": ["pay"] }))
            .await;
        let in_flight = {
            let checkout = checkout.clone();
            tokio::spawn(async move {
                checkout
                    .start_payment(alipay_pos::checkout::PaymentIntent::order_code(
                        usd("8.00"),
                        "in flight",
                        Actor::Cashier,
                    ))
                    .await
            })
        };
        let found = std::sync::Mutex::new(String::new());
        wait_until("the in-flight pay to reach the sandbox", WAIT, || async {
            let open = checkout
                .journal_for_tests(|j| j.open_payments())
                .await
                .unwrap();
            let candidate = open
                .iter()
                .find(|p| p.state == PaymentState::Created && p.payment_request_id != never_sent);
            match candidate {
                Some(p) => {
                    let id = p.payment_request_id.clone();
                    *found.lock().unwrap() = id.clone();
                    control.ledger().await.payment(&id).is_some()
                }
                None => false,
            }
        })
        .await;
        assert!(!in_flight.is_finished());
        let in_flight_id = found.into_inner().unwrap();
        [
            paid_id,
            refund.refund_request_id,
            awaiting_id,
            cancelling_id,
            never_sent,
            unresolved_id,
            in_flight_id,
        ]
    });
    let [
        paid_id,
        refund_id,
        awaiting_id,
        cancelling_id,
        never_sent,
        unresolved_id,
        in_flight_id,
    ] = ids;

    // Life 3: the customer paid the code on screen while the terminal was down; the code of
    // life 1 has expired meanwhile.
    let grace = Policy::fast().expiry_grace;
    while time::OffsetDateTime::now_utc() <= expires_at + grace {
        std::thread::sleep(Duration::from_millis(50));
    }
    life(async {
        let terminal = demo_terminal(&path, Policy::fast(), |_| {}).await;
        let control = Control::of(&terminal);
        let checkout = &terminal.checkout;
        let (status, answer) = control.customer_pays(&awaiting_id).await;
        assert_eq!(status, 200, "{answer}");
        let open = checkout
            .journal_for_tests(|j| j.open_payments())
            .await
            .unwrap();
        assert_eq!(open.len(), 6, "{open:#?}");

        terminal
            .start_background_work(Recovery::CancelUnwatched)
            .await
            .unwrap();
        wait_until("every payment and refund to be final", WAIT, || async {
            checkout
                .journal_for_tests(|j| {
                    Ok(j.open_payments()?.is_empty() && j.open_refunds()?.is_empty())
                })
                .await
                .unwrap()
        })
        .await;

        let state = |id: &str| {
            let id = id.to_string();
            async move { checkout.payment(&id).await.unwrap() }
        };
        assert_eq!(state(&paid_id).await.state, PaymentState::Paid);
        let refund = checkout.refund_record(&refund_id).await.unwrap();
        assert_eq!(refund.state, RefundState::Succeeded);
        assert_eq!(state(&awaiting_id).await.state, PaymentState::Paid);
        assert_eq!(state(&cancelling_id).await.state, PaymentState::Cancelled);
        let never = state(&never_sent).await;
        assert_eq!(never.state, PaymentState::Failed);
        assert_eq!(never.result_code.as_deref(), Some("ORDER_NOT_EXIST"));
        assert_eq!(state(&unresolved_id).await.state, PaymentState::Cancelled);
        assert_eq!(state(&in_flight_id).await.state, PaymentState::Cancelled);
        let expired = state(&expired).await;
        assert_eq!(expired.state, PaymentState::Failed);
        assert_eq!(expired.result_code.as_deref(), Some("ORDER_IS_CLOSED"));

        let ledger = control.ledger().await;
        assert!(ledger.payment(&never_sent).is_none());
        let paid_remote = ledger.payment(&paid_id).unwrap();
        assert_eq!((paid_remote.refunded, paid_remote.refund_count), (100, 1));
        let counts = assert_consistent(&terminal, true).await;
        assert_eq!(
            (counts.paid, counts.cancelled, counts.failed),
            (2, 3, 2),
            "{counts:?}"
        );
    });
}

#[test]
fn resolve_cancels_order_codes_nobody_shows_and_keeps_what_was_paid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    // Life 1: two codes on screen, then the terminal dies.
    let (walked_away, paying) = life(async {
        let terminal = demo_terminal(&path, Policy::fast(), |_| {}).await;
        let (a, _) = awaiting(&terminal, "1.00").await;
        let (b, _) = awaiting(&terminal, "2.00").await;
        (a, b)
    });
    life(async {
        let terminal = demo_terminal(&path, Policy::fast(), |_| {}).await;
        let control = Control::of(&terminal);
        let checkout = &terminal.checkout;
        // Both codes are still valid. One customer pays before anyone looks.
        control
            .set_faults(json!({ "suppress_notifications": true }))
            .await;
        let (status, answer) = control.customer_pays(&paying).await;
        assert_eq!(status, 200, "{answer}");
        for id in [&walked_away, &paying] {
            assert_eq!(
                checkout.payment(id).await.unwrap().state,
                PaymentState::AwaitingCustomer
            );
        }
        // `alipay-pos resolve` is this one pass: nothing is left open.
        let report = checkout.resolve_once().await.unwrap();
        assert!(report.open_payments.is_empty(), "{report:?}");
        let cancelled = checkout.payment(&walked_away).await.unwrap();
        assert_eq!(cancelled.state, PaymentState::Cancelled);
        assert_eq!(cancelled.resolution, Some(Resolution::Cancel));
        let paid = checkout.payment(&paying).await.unwrap();
        assert_eq!(paid.state, PaymentState::Paid);
        assert_eq!(paid.resolution, Some(Resolution::Inquiry));
        assert_consistent(&terminal, true).await;
    });
}

#[test]
fn a_cashier_restart_shows_the_newest_code_again_and_a_kiosk_cancels_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let two_codes = || {
        life(async {
            let terminal = demo_terminal(&path, Policy::fast(), |_| {}).await;
            let older = awaiting(&terminal, "1.00").await;
            let newer = awaiting(&terminal, "2.00").await;
            (older, newer)
        })
    };

    // A cashier's terminal: the newest code goes back on screen, with its poller; the
    // older one, which no screen can show beside it, is cancelled.
    let ((older, _), (newer, newer_code)) = two_codes();
    life(async {
        let terminal = demo_terminal(&path, Policy::fast(), |_| {}).await;
        let control = Control::of(&terminal);
        let checkout = &terminal.checkout;
        let resumed = terminal
            .start_background_work(Recovery::ShowOnScreen)
            .await
            .unwrap()
            .expect("a code to show again");
        assert_eq!(resumed.payment_request_id, newer);
        assert_eq!(resumed.code_value.as_deref(), Some(newer_code.as_str()));
        let cancelled = wait_final(checkout, &older, WAIT).await;
        assert_eq!(cancelled.state, PaymentState::Cancelled);
        assert!(checkout.is_driven(&newer));
        assert_eq!(
            checkout.payment(&newer).await.unwrap().state,
            PaymentState::AwaitingCustomer
        );
        // The resumed poller sees the customer pay.
        control
            .set_faults(json!({ "suppress_notifications": true }))
            .await;
        let (status, answer) = control.customer_pays(&newer).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(
            wait_final(checkout, &newer, WAIT).await.state,
            PaymentState::Paid
        );
        assert_consistent(&terminal, true).await;
    });

    // A kiosk: its customer has walked away, so nothing goes back on screen.
    let ((older, _), (newer, _)) = two_codes();
    life(async {
        let terminal = demo_terminal(&path, Policy::fast(), |_| {}).await;
        let checkout = &terminal.checkout;
        let resumed = terminal
            .start_background_work(Recovery::CancelUnwatched)
            .await
            .unwrap();
        assert_eq!(resumed, None);
        for id in [&older, &newer] {
            assert_eq!(
                wait_final(checkout, id, WAIT).await.state,
                PaymentState::Cancelled
            );
        }
        assert_consistent(&terminal, true).await;
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_retry_that_fails_differently_after_a_refusal_is_not_an_engine_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut policy = Policy::fast();
    policy.cancel.delay = Duration::from_millis(700);
    policy.cancel.attempts = 3;
    let terminal = demo_terminal(dir.path(), policy, |_| {}).await;
    let control = Control::of(&terminal);
    let checkout = &terminal.checkout;
    // Journaled, but the `pay` never left (the power went): Alipay knows nothing of it.
    let record = checkout
        .journal_for_tests(|j| {
            j.create_payment(
                NewPayment {
                    payment_request_id: "P-1-TEST-REFUSEDTHENLOST".into(),
                    order_ref: "O-1-TEST-REFUSEDTHENLOST".into(),
                    amount: Money::parse("6.00", Currency::USD).unwrap(),
                    description: String::new(),
                    operator: "T1".into(),
                    product: alipay_pos::journal::Product::OrderCode,
                    customer_code: None,
                },
                Actor::Cashier,
            )
        })
        .await
        .unwrap();
    let id = record.payment_request_id.clone();
    let cancel = {
        let checkout = checkout.clone();
        let id = id.clone();
        tokio::spawn(async move { checkout.cancel(&id, Actor::Cashier, "abort").await })
    };
    // The first cancel is answered F ORDER_NOT_EXIST; before the retry the gateway starts
    // failing, so the retry's outcome is unknown.
    let entity = record.entity();
    wait_until("the first cancel to be refused", WAIT, || async {
        checkout
            .journal_for_tests(move |j| j.requests_for(entity))
            .await
            .unwrap()
            .iter()
            .any(|r| {
                r.api == alipay_pos::journal::CallKind::Cancel
                    && r.outcome == Some(RequestOutcome::Failed)
            })
    })
    .await;
    control
        .set_faults(json!({ "http_5xx_rate": 1.0, "apis": ["cancel"] }))
        .await;
    let after = cancel.await.unwrap();
    let after = match after {
        Ok(record) => record,
        Err(error) => panic!("the cashier's cancel failed with an engine error: {error}"),
    };
    assert_eq!(after.state, PaymentState::Unresolved);
    control.clear_faults().await;
    let report = checkout.resolve_once().await.unwrap();
    assert_eq!(
        report.settled_payments,
        [(id.clone(), PaymentState::Failed)]
    );
    assert_consistent(&terminal, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resolver_never_takes_over_a_payment_that_is_being_started() {
    let dir = tempfile::tempdir().unwrap();
    let terminal = demo_terminal(dir.path(), Policy::fast(), |_| {}).await;
    let control = Control::of(&terminal);
    let checkout = &terminal.checkout;
    // Inquiries fail, so a resolver that wrongly picks up a payment still being started
    // finds no answer and marks it unresolved under the starting `pay`'s feet.
    control
        .set_faults(json!({ "http_5xx_rate": 1.0, "apis": ["inquiryPayment"] }))
        .await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut resolvers = Vec::new();
    for _ in 0..2 {
        let (checkout, stop) = (checkout.clone(), stop.clone());
        resolvers.push(tokio::spawn(async move {
            let mut rounds = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                checkout.resolve_once().await.unwrap();
                rounds += 1;
            }
            rounds
        }));
    }
    let mut ids = Vec::new();
    for _ in 0..60 {
        let (record, start) = checkout
            .start_payment(alipay_pos::checkout::PaymentIntent::order_code(
                usd("1.00"),
                "race",
                Actor::Cashier,
            ))
            .await
            .expect("start_payment raced the resolver");
        code_of(&start);
        checkout
            .cancel(&record.payment_request_id, Actor::Cashier, "done")
            .await
            .unwrap();
        ids.push(record.payment_request_id);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for resolver in resolvers {
        assert!(resolver.await.unwrap() > 0);
    }
    for id in &ids {
        assert_eq!(
            checkout.payment(id).await.unwrap().state,
            PaymentState::Cancelled
        );
    }
    control.clear_faults().await;
    assert_consistent(&terminal, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resolver_never_takes_over_a_refund_that_is_being_sent() {
    let dir = tempfile::tempdir().unwrap();
    let mut policy = Policy::fast();
    policy.refund.attempts = 2;
    policy.refund.delay = Duration::from_millis(5);
    let terminal = demo_terminal(dir.path(), policy, |_| {}).await;
    let control = Control::of(&terminal);
    let checkout = &terminal.checkout;
    let id = paid(&terminal, "50.00").await;
    // Half the refund answers are lost, so the manager's call often ends unknown while a
    // resolver that wrongly resends the same refund gets its answer.
    control
        .set_faults(json!({ "drop_response_rate": 0.5, "apis": ["refund"] }))
        .await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut resolvers = Vec::new();
    for _ in 0..2 {
        let (checkout, stop) = (checkout.clone(), stop.clone());
        resolvers.push(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                checkout.resolve_once().await.unwrap();
                tokio::task::yield_now().await;
            }
        }));
    }
    for _ in 0..40 {
        let refund = checkout
            .refund(&id, Some(usd("1.00")), "race", &approval("M1"))
            .await
            .expect("refund raced the resolver");
        assert!(
            matches!(
                refund.state,
                RefundState::Succeeded | RefundState::Unresolved
            ),
            "{refund:?}"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for resolver in resolvers {
        resolver.await.unwrap();
    }
    control.clear_faults().await;
    let report = checkout.resolve_once().await.unwrap();
    assert!(report.open_refunds.is_empty(), "{report:?}");
    let ledger = control.ledger().await;
    assert_eq!(ledger.payment(&id).unwrap().refunded, 4_000);
    let counts = assert_consistent(&terminal, true).await;
    assert_eq!(counts.refunds_succeeded, 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_or_refund_whose_caller_gave_up_is_left_to_the_resolver() {
    let dir = tempfile::tempdir().unwrap();
    let terminal = demo_terminal(dir.path(), Policy::fast(), |_| {}).await;
    let control = Control::of(&terminal);
    let checkout = &terminal.checkout;
    let paid_id = paid(&terminal, "20.00").await;

    // A face that stops waiting (its window closed, a timeout) drops the engine's future
    // while `pay` and `refund` are in flight: the journal has both, and the resolver must
    // still finish them.
    control
        .set_faults(json!({ "latency_ms": 3_000, "apis": ["pay", "refund"] }))
        .await;
    let gave_up = tokio::time::timeout(
        Duration::from_millis(500),
        checkout.start_payment(alipay_pos::checkout::PaymentIntent::order_code(
            usd("2.00"),
            "abandoned",
            Actor::Cashier,
        )),
    )
    .await;
    assert!(gave_up.is_err());
    let gave_up = tokio::time::timeout(
        Duration::from_millis(500),
        checkout.refund(&paid_id, Some(usd("1.00")), "abandoned", &approval("M1")),
    )
    .await;
    assert!(gave_up.is_err());
    control.clear_faults().await;

    let open = checkout
        .journal_for_tests(|j| j.open_payments())
        .await
        .unwrap();
    assert_eq!(open.len(), 1);
    let id = open[0].payment_request_id.clone();
    assert!(!checkout.is_driven(&id), "nobody drives {id} any more");
    let report = checkout.resolve_once().await.unwrap();
    assert_eq!(
        report.settled_payments,
        [(id.clone(), PaymentState::Cancelled)]
    );
    assert_eq!(report.settled_refunds.len(), 1, "{report:?}");
    assert_eq!(report.settled_refunds[0].1, RefundState::Succeeded);
    assert_consistent(&terminal, true).await;
}

// ---------------------------------------------------------------------------------------
// Manual settlement by a manager (after checking Alipay's merchant portal)

/// A payment the customer paid at Alipay while the terminal could not learn it: inquiries
/// and cancels fail, notifications are lost, and the journal holds it unresolved with no
/// task driving it (as the resolver leaves one after a long outage).
async fn paid_but_unresolved(terminal: &Terminal, control: &Control, amount: &str) -> String {
    control
        .set_faults(json!({
            "down": true,
            "apis": ["inquiryPayment", "cancel"],
            "suppress_notifications": true,
        }))
        .await;
    let (id, _code) = awaiting(terminal, amount).await;
    let (status, answer) = control.customer_pays(&id).await;
    assert_eq!(status, 200, "{answer}");
    let moved = id.clone();
    terminal
        .checkout
        .journal_for_tests(move |j| {
            j.transition_payment(
                moved.as_str(),
                PaymentState::Unresolved,
                Actor::System,
                "Alipay unreachable while settling",
                PaymentUpdate::default(),
            )
        })
        .await
        .unwrap();
    let checkout = terminal.checkout.clone();
    let driven = id.clone();
    wait_until("the poller lets go", WAIT, || {
        let checkout = checkout.clone();
        let driven = driven.clone();
        async move { !checkout.is_driven(&driven) }
    })
    .await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_settles_an_unresolved_payment_paid_and_can_then_refund_it() {
    let dir = tempfile::tempdir().unwrap();
    let terminal = demo_terminal(dir.path(), Policy::fast(), |_| {}).await;
    let control = Control::of(&terminal);
    let checkout = &terminal.checkout;
    let id = paid_but_unresolved(&terminal, &control, "12.00").await;
    let mut events = Events::new(checkout);

    let approval = approval("Ana Lim");
    let refused = checkout
        .settle_manually(
            &id,
            ManualOutcome::Paid {
                alipay_payment_id: None,
            },
            "  ",
            &approval,
        )
        .await
        .unwrap_err();
    assert!(matches!(refused, ManualSettleError::NoReason), "{refused}");
    let record = checkout
        .settle_manually(
            &id,
            ManualOutcome::Paid {
                alipay_payment_id: None,
            },
            "portal shows SUCCESS 12.00 at 10:02",
            &approval,
        )
        .await
        .unwrap();
    assert_eq!(record.state, PaymentState::Paid);
    assert_eq!(record.resolution, Some(Resolution::Manual));
    let published = events
        .wait_for("the paid state", WAIT, |e| {
            is_state(e, &id, PaymentState::Paid)
        })
        .await;
    assert!(
        matches!(published, CheckoutEvent::PaymentState { detail, .. } if detail.contains("Ana Lim"))
    );
    let entity = record.entity();
    let history = checkout
        .journal_for_tests(move |j| j.events_for(entity))
        .await
        .unwrap();
    let manual = history.last().unwrap();
    assert_eq!(manual.actor, Actor::Manager);
    assert!(
        manual.detail.contains("Ana Lim") && manual.detail.contains("portal shows SUCCESS 12.00"),
        "{}",
        manual.detail
    );
    // Settled is settled: a second record is refused with what to do instead.
    let again = checkout
        .settle_manually(&id, ManualOutcome::NotPaid, "oops", &approval)
        .await
        .unwrap_err();
    assert!(
        matches!(
            again,
            ManualSettleError::NotSettleable {
                state: PaymentState::Paid,
                ..
            }
        ),
        "{again}"
    );
    assert!(again.to_string().contains("refund"), "{again}");

    // A paid record offers a refund, and the refund row names the approving manager.
    control.clear_faults().await;
    let refund = checkout
        .refund(&id, None, "charged while offline", &approval)
        .await
        .unwrap();
    assert_eq!(refund.state, RefundState::Succeeded, "{refund:?}");
    assert_eq!(refund.manager, "Ana Lim");
    let counts = assert_consistent(&terminal, true).await;
    assert_eq!((counts.paid, counts.refunds_succeeded), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_settles_a_never_sent_payment_not_paid_and_needs_the_portal_id_for_paid() {
    let dir = tempfile::tempdir().unwrap();
    let terminal = demo_terminal(dir.path(), Policy::fast(), |_| {}).await;
    let control = Control::of(&terminal);
    let checkout = &terminal.checkout;
    control.set_faults(json!({ "down": true })).await;
    let (record, start) = checkout
        .start_payment(alipay_pos::checkout::PaymentIntent::order_code(
            usd("15.00"),
            "down",
            Actor::Cashier,
        ))
        .await
        .unwrap();
    let id = record.payment_request_id.clone();
    assert_eq!(start, PayStart::Unknown);
    let approval = approval("Bo");
    // Still being settled by the engine (inquiries, then a cancel): not the manager's yet.
    assert!(checkout.is_driven(&id));
    let busy = checkout
        .settle_manually(
            &id,
            ManualOutcome::NotPaid,
            "portal shows nothing",
            &approval,
        )
        .await
        .unwrap_err();
    assert!(matches!(busy, ManualSettleError::Driven(_)), "{busy}");
    let record = wait_settled(checkout, &id, WAIT).await;
    assert_eq!(record.state, PaymentState::Unresolved);
    assert_eq!(record.payment_id, None);

    // "Paid" without Alipay's paymentId would leave a payment that can never be refunded.
    let refused = checkout
        .settle_manually(
            &id,
            ManualOutcome::Paid {
                alipay_payment_id: None,
            },
            "portal: paid",
            &approval,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(refused, ManualSettleError::AlipayIdRequired(_)),
        "{refused}"
    );
    assert!(
        refused.to_string().contains("--alipay-payment-id"),
        "{refused}"
    );

    let record = checkout
        .settle_manually(
            &id,
            ManualOutcome::NotPaid,
            "portal has no such payment",
            &approval,
        )
        .await
        .unwrap();
    assert_eq!(record.state, PaymentState::Failed);
    assert_eq!(record.resolution, Some(Resolution::Manual));
    let refund = checkout
        .refund(&id, None, "never paid", &approval)
        .await
        .unwrap_err();
    assert!(refund.to_string().contains("not paid"), "{refund}");
    control.clear_faults().await;
    let counts = assert_consistent(&terminal, true).await;
    assert_eq!(counts.failed_never_sent, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_on_screen_or_a_final_payment_is_never_settled_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let terminal = demo_terminal(dir.path(), Policy::fast(), |_| {}).await;
    let checkout = &terminal.checkout;
    let approval = approval("Ana");
    let (id, _code) = awaiting(&terminal, "4.00").await;
    let refused = checkout
        .settle_manually(&id, ManualOutcome::NotPaid, "customer left", &approval)
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            ManualSettleError::NotSettleable {
                state: PaymentState::AwaitingCustomer,
                ..
            }
        ),
        "{refused}"
    );
    assert!(refused.to_string().contains("cancel"), "{refused}");
    assert_eq!(
        checkout.payment(&id).await.unwrap().state,
        PaymentState::AwaitingCustomer
    );
    let paid_id = paid(&terminal, "5.00").await;
    let refused = checkout
        .settle_manually(&paid_id, ManualOutcome::NotPaid, "no", &approval)
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            ManualSettleError::NotSettleable {
                state: PaymentState::Paid,
                ..
            }
        ),
        "{refused}"
    );
    let record = checkout.payment(&paid_id).await.unwrap();
    assert_eq!(
        record.resolution.map(|r| r != Resolution::Manual),
        Some(true)
    );
    checkout
        .cancel(&id, Actor::Cashier, "test over")
        .await
        .unwrap();
    assert_consistent(&terminal, true).await;
}

// ---------------------------------------------------------------------------------------
// The hardened edge: notification age, no notify URL, file modes

/// A notification older than Alipay's resend window (24 h 22 min) can only be a replay: it
/// is answered "resend" and changes nothing; the same notification sent now settles the
/// payment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_older_than_alipays_resend_window_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (terminal, control) = racing_terminal(dir.path(), Duration::from_secs(86_400)).await;
    let (id, payment_id) = unresolved_then_paid(&terminal, &control, "14.00").await;
    let notification = success_notification(&id, &payment_id, 1400);

    let now = time::OffsetDateTime::now_utc();
    let replay = now - time::Duration::hours(25);
    let (status, ack) = send_notification_at(&terminal, &notification, replay).await;
    assert_eq!((status, &ack["result"]["resultStatus"]), (200, &json!("U")));
    let record = terminal.checkout.payment(&id).await.unwrap();
    assert_eq!(
        record.state,
        PaymentState::Unresolved,
        "a replay changed nothing"
    );

    // Ten minutes late (a clock off, or a resend): logged, and accepted.
    let late = now - time::Duration::minutes(10);
    let (status, ack) = send_notification_at(&terminal, &notification, late).await;
    assert_eq!((status, &ack["result"]["resultStatus"]), (200, &json!("S")));
    let record = terminal.checkout.payment(&id).await.unwrap();
    assert_eq!(record.state, PaymentState::Paid);
    assert_eq!(record.resolution, Some(Resolution::Notify));
    assert_consistent(&terminal, true).await;
}

/// A terminal on a custom loopback gateway (the real sandbox, run as a separate server)
/// with no `payment.notify_url`: it starts, sends `pay` without `paymentNotifyUrl`, and
/// learns that the customer paid by polling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_without_notify_url_polls_to_paid() {
    use alipay_pos::sandbox::{self, ClientRegistration, SandboxOptions};
    const CLIENT: &str = "SANDBOX_NO_NOTIFY_1";
    let dir = tempfile::tempdir().unwrap();
    let sandbox_dir = dir.path().join("alipay");
    std::fs::create_dir_all(&sandbox_dir).unwrap();
    for (fixture, name) in [
        (
            "alipay_private_key_pkcs8.pem",
            sandbox::ALIPAY_PRIVATE_KEY_FILE,
        ),
        ("alipay_public_key.pem", sandbox::ALIPAY_PUBLIC_KEY_FILE),
    ] {
        std::fs::copy(vector_path(fixture), sandbox_dir.join(name)).unwrap();
    }
    let mut options = SandboxOptions::new(&sandbox_dir);
    options.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    options.clients.push(ClientRegistration {
        client_id: CLIENT.into(),
        merchant_public_key: merchant_public_key(),
    });
    let gateway = sandbox::start(options).await.unwrap();

    let data_dir = dir.path().join("terminal");
    let config_path = dir.path().join("config.toml");
    let toml = format!(
        "[alipay]\ngateway = \"{gateway}\"\nclient_id = \"{CLIENT}\"\n\
         merchant_private_key = \"{merchant}\"\nalipay_public_key = \"{alipay}\"\n\n\
         [payment]\ncurrency = \"USD\"\nnotify_listen = \"127.0.0.1:0\"\n\n\
         [storage]\ndata_dir = \"{data}\"\n",
        gateway = gateway.base_url(),
        merchant = private_key_copy(dir.path(), "merchant_private_key_pkcs8.pem").display(),
        alipay = gateway.alipay_public_key_path().display(),
        data = data_dir.display(),
    );
    std::fs::write(&config_path, toml).unwrap();
    let config = alipay_pos::config::Config::load(&config_path).unwrap();
    assert!(!config.is_sandbox());
    assert_eq!(config.payment.notify_url, None);

    let terminal = Terminal::start(config, Policy::fast()).await.unwrap();
    assert_eq!(terminal.notify_url(), None);
    let (id, _code) = awaiting(&terminal, "9.50").await;
    let control = Control::at(gateway.base_url().as_str(), gateway.control_token());
    let (status, answer) = control.customer_pays(&id).await;
    assert_eq!(status, 200, "{answer}");
    let record = wait_final(&terminal.checkout, &id, WAIT).await;
    assert_eq!(record.state, PaymentState::Paid);
    assert_eq!(
        record.resolution,
        Some(Resolution::Inquiry),
        "polling decided"
    );

    let ledger = control.ledger().await;
    let remote = ledger.payment(&id).unwrap();
    assert_eq!(remote.status, "SUCCESS");
    assert_eq!(remote.notify_url, None, "pay carried no paymentNotifyUrl");
    assert!(
        ledger.notifications.is_empty(),
        "nothing to notify: {:?}",
        ledger.notifications
    );
    drop(terminal);
    gateway.shutdown().await;
}

/// The data folder is 0700; the journal and its -wal/-shm are 0600, whatever the umask.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_folder_and_the_journal_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("fresh/data");
    let terminal = demo_terminal(&data_dir, Policy::fast(), |_| {}).await;
    paid(&terminal, "2.00").await;
    assert_eq!(mode(&data_dir), 0o700, "data_dir");
    let journal = data_dir.join("journal.sqlite");
    for file in ["journal.sqlite", "journal.sqlite-wal", "journal.sqlite-shm"] {
        assert_eq!(mode(&data_dir.join(file)), 0o600, "{file}");
    }
    drop(terminal);

    // An existing journal (and folder) from before is tightened at the next start.
    std::fs::set_permissions(&journal, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let terminal = demo_terminal(&data_dir, Policy::fast(), |_| {}).await;
    assert_eq!(mode(&data_dir), 0o700);
    assert_eq!(mode(&journal), 0o600);
    drop(terminal);
}
