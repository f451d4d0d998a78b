//! Charge, the customer's QR screen, Cancel, the demo customer and the result screen.
//!
//! The screens follow the journal, not guesses: whenever the engine reports a change of the
//! payment on screen, its record is read again (on the engine's runtime) and the screen is
//! drawn from that record. The record alone says which screen to show, so a missed or
//! reordered event cannot leave the QR up after the payment ended.

use std::rc::Rc;

use slint::{ComponentHandle, Image, Rgb8Pixel, SharedPixelBuffer};
use time::OffsetDateTime;
use tokio::sync::broadcast::error::RecvError;

use super::result_screen::{Reason, ResultScreen as Outcome, reason_for};
use super::{
    Api, Engine, FailReason, Notice, Page, ResultKind, ResultView, Shared, Shown, cashier_adapter,
    kiosk, manager_adapter, post, qr, status_adapter,
};
use crate::checkout::CheckoutEvent;
use crate::journal::{Actor, PaymentRecord, PaymentState};
use crate::money::MoneyError;

/// What the wallet shows when the cashier typed no description.
const DEFAULT_DESCRIPTION: &str = "Purchase";

pub(super) fn wire(shared: &Rc<Shared>, api: &Api<'_>) {
    let weak = Rc::downgrade(shared);
    api.on_charge(move || {
        if let Some(shared) = weak.upgrade() {
            kiosk::activity(&shared);
            charge(&shared);
        }
    });
    let weak = Rc::downgrade(shared);
    api.on_cancel_payment(move || {
        if let Some(shared) = weak.upgrade() {
            cancel(&shared);
        }
    });
    let weak = Rc::downgrade(shared);
    api.on_simulate_customer(move || {
        if let Some(shared) = weak.upgrade() {
            simulate_customer(&shared);
        }
    });
    let weak = Rc::downgrade(shared);
    api.on_new_sale(move || {
        if let Some(shared) = weak.upgrade() {
            new_sale(&shared);
        }
    });
}

/// Forwards the engine's events to the UI thread for as long as the GUI lives.
pub(super) fn listen(shared: &Rc<Shared>, engine: &Engine) {
    let mut events = engine.terminal.checkout.subscribe();
    let id = shared.id;
    engine.runtime.spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) => post(id, move |shared| on_event(shared, event)),
                // Fell behind: read the state afresh instead of replaying what was missed.
                Err(RecvError::Lagged(_)) => post(id, resync),
                Err(RecvError::Closed) => break,
            }
        }
    });
}

fn on_event(shared: &Rc<Shared>, event: CheckoutEvent) {
    match event {
        CheckoutEvent::Connectivity { online } => status_adapter::set_online(shared, online),
        CheckoutEvent::CodeReady {
            payment_request_id, ..
        } => {
            if is_shown(shared, &payment_request_id) {
                refresh(shared, payment_request_id);
            }
        }
        CheckoutEvent::PaymentState {
            payment_request_id, ..
        } => {
            status_adapter::refresh_unresolved(shared);
            manager_adapter::engine_changed(shared);
            if is_shown(shared, &payment_request_id) {
                refresh(shared, payment_request_id);
            }
        }
        CheckoutEvent::RefundState { .. } => manager_adapter::engine_changed(shared),
        CheckoutEvent::PaymentStarted { .. } => {}
    }
}

fn resync(shared: &Rc<Shared>) {
    status_adapter::refresh_unresolved(shared);
    let shown = shared.state.borrow().payment.as_ref().map(|p| p.id.clone());
    if let Some(id) = shown {
        refresh(shared, id);
    }
}

fn is_shown(shared: &Shared, id: &str) -> bool {
    shared
        .state
        .borrow()
        .payment
        .as_ref()
        .is_some_and(|shown| shown.id == id)
}

/// The QR image for a record that shows a code.
fn qr_for(record: &PaymentRecord) -> Option<SharedPixelBuffer<Rgb8Pixel>> {
    if !matches!(
        record.state,
        PaymentState::AwaitingCustomer | PaymentState::Cancelling
    ) {
        return None;
    }
    let code = record.code_value.as_deref()?;
    match qr::render(code) {
        Ok(buffer) => Some(buffer),
        Err(error) => {
            tracing::error!(%error, "cannot draw the order code as a QR code");
            None
        }
    }
}

/// Charge: starts a payment for the typed amount (cashier) or the order (kiosk).
pub(super) fn charge(shared: &Rc<Shared>) {
    {
        let state = shared.state.borrow();
        if state.charging || state.payment.is_some() {
            return;
        }
    }
    let Some(engine) = shared.engine() else {
        shared.set_notice(Notice::NotReady, String::new());
        return;
    };
    let (amount, description) = if shared.options.kiosk {
        let total = shared.state.borrow().cart.total(&shared.prices());
        (total, cashier_adapter::order_description(shared))
    } else {
        let amount = shared.state.borrow().entry.money();
        let typed = shared
            .app()
            .map(|app| app.global::<Api>().get_description().to_string())
            .unwrap_or_default();
        (
            amount,
            typed
                .trim()
                .chars()
                .take(cashier_adapter::MAX_DESCRIPTION_CHARS)
                .collect(),
        )
    };
    let amount = match amount {
        Ok(amount) => amount,
        Err(MoneyError::TooLarge { .. }) => {
            shared.set_notice(Notice::TooLarge, String::new());
            return;
        }
        Err(_) => {
            shared.set_notice(Notice::NoAmount, String::new());
            return;
        }
    };
    let description = if description.is_empty() {
        DEFAULT_DESCRIPTION.to_string()
    } else {
        description
    };
    shared.state.borrow_mut().charging = true;
    shared.set_notice(Notice::None, String::new());
    cashier_adapter::push_entry(shared);
    let checkout = engine.checkout();
    let id = shared.id;
    engine.runtime.spawn(async move {
        let started = checkout
            .start_payment(amount, &description, Actor::Cashier)
            .await;
        match started {
            Ok((record, _start)) => {
                let image = qr_for(&record);
                post(id, move |shared| {
                    shared.state.borrow_mut().charging = false;
                    cashier_adapter::push_entry(shared);
                    let payment_id = record.payment_request_id.clone();
                    shared.state.borrow_mut().payment =
                        Some(Shown::new(payment_id.clone(), amount));
                    apply_record(shared, record, image);
                    // Anything that happened between `pay` and now was published before
                    // the screen knew this payment: read it once more.
                    refresh(shared, payment_id);
                });
            }
            Err(error) => {
                let message = error.to_string();
                tracing::error!(%message, "the payment could not be started");
                post(id, move |shared| {
                    shared.state.borrow_mut().charging = false;
                    cashier_adapter::push_entry(shared);
                    shared.set_notice(Notice::ChargeFailed, message);
                });
            }
        }
    });
}

/// Puts a payment recovered at start-up back on the customer screen: the same order code,
/// its countdown going on, Cancel working. The engine's poller already follows it, so from
/// here on it is shown exactly like a payment just charged.
pub(super) fn show_recovered(shared: &Rc<Shared>, record: PaymentRecord) {
    {
        let mut state = shared.state.borrow_mut();
        if state.charging || state.payment.is_some() {
            tracing::warn!(payment = %record.payment_request_id, "a recovered payment found the screen busy; the resolver settles it");
            return;
        }
        state.payment = Some(Shown::new(record.payment_request_id.clone(), record.amount));
    }
    tracing::info!(payment = %record.payment_request_id, "showing the order code of a payment left open by the previous run");
    let id = record.payment_request_id.clone();
    let image = qr_for(&record);
    apply_record(shared, record, image);
    // It may have changed between start-up and now.
    refresh(shared, id);
}

/// Reads the payment's record on the runtime and draws the screen from it.
pub(super) fn refresh(shared: &Rc<Shared>, payment_request_id: String) {
    let Some(engine) = shared.engine() else {
        return;
    };
    let checkout = engine.checkout();
    let id = shared.id;
    engine.runtime.spawn(async move {
        match checkout.payment(&payment_request_id).await {
            Ok(record) => {
                let image = qr_for(&record);
                post(id, move |shared| apply_record(shared, record, image));
            }
            Err(error) => {
                tracing::error!(%error, payment = %payment_request_id, "cannot read the payment");
            }
        }
    });
}

/// Shows `record` if it is the payment on screen.
fn apply_record(
    shared: &Rc<Shared>,
    record: PaymentRecord,
    image: Option<SharedPixelBuffer<Rgb8Pixel>>,
) {
    let page = {
        let mut state = shared.state.borrow_mut();
        let Some(shown) = state.payment.as_mut() else {
            return;
        };
        if shown.id != record.payment_request_id {
            return;
        }
        // Reads run concurrently on the runtime, so an older snapshot can arrive after a
        // newer one. A payment never goes back from a result to the QR screen, nor from a
        // final result to "not known yet": such a snapshot is stale and ignored.
        let current = shown.result.as_ref().map(|r| r.outcome);
        let next = Outcome::of(record.state);
        let stale = match (current, next) {
            (Some(_), None) => true,
            (Some(now), Some(Outcome::Unresolved)) => now != Outcome::Unresolved,
            _ => false,
        };
        if stale {
            return;
        }
        match next {
            Some(outcome) => {
                shown.result = Some(ResultView {
                    outcome,
                    reason: if outcome == Outcome::Failed {
                        reason_for(record.result_code.as_deref())
                    } else {
                        Reason::Other
                    },
                    code: record.result_code.clone().unwrap_or_default(),
                    time: record.paid_at.or(record.final_at),
                    payment_id: record
                        .payment_id
                        .clone()
                        .unwrap_or_else(|| record.payment_request_id.clone()),
                });
                shown.simulating = false;
                Some(Page::Result)
            }
            None if matches!(
                record.state,
                PaymentState::AwaitingCustomer | PaymentState::Cancelling
            ) =>
            {
                shown.code = record.code_value.clone();
                shown.expires_at = record.code_expires_at;
                if record.state == PaymentState::Cancelling {
                    shown.cancelling = true;
                }
                Some(Page::CustomerQr)
            }
            // Created: `pay` has not been answered yet; stay where we are.
            None => None,
        }
    };
    if let (Some(image), Some(app)) = (image, shared.app()) {
        app.global::<Api>().set_qr_code(Image::from_rgb8(image));
    }
    push_payment(shared);
    if let Some(page) = page
        && shared.page() != page
    {
        shared.set_page(page);
    }
}

/// The QR and result screens' texts from the payment on screen.
pub(super) fn push_payment(shared: &Shared) {
    let Some(app) = shared.app() else { return };
    let api = app.global::<Api>();
    let locale = shared.locale.get();
    let state = shared.state.borrow();
    let Some(shown) = state.payment.as_ref() else {
        api.set_cancelling(false);
        api.set_simulating(false);
        api.set_return_seconds(0);
        return;
    };
    let amount = shown.amount.format(locale);
    api.set_qr_amount(amount.as_str().into());
    api.set_result_amount(amount.into());
    api.set_cancelling(shown.cancelling);
    api.set_simulating(shown.simulating);
    api.set_seconds_left(seconds_left(shown.expires_at));
    if let Some(result) = &shown.result {
        api.set_result_kind(match result.outcome {
            Outcome::Paid => ResultKind::Paid,
            Outcome::Failed => ResultKind::Failed,
            Outcome::Cancelled => ResultKind::Cancelled,
            Outcome::Unresolved => ResultKind::Unresolved,
        });
        api.set_fail_reason(match result.reason {
            Reason::Other => FailReason::Other,
            Reason::Balance => FailReason::Balance,
            Reason::Expired => FailReason::Expired,
            Reason::Risk => FailReason::Risk,
            Reason::Limit => FailReason::Limit,
            Reason::Currency => FailReason::Currency,
            Reason::CustomerAccount => FailReason::CustomerAccount,
            Reason::Setup => FailReason::Setup,
            Reason::Request => FailReason::Request,
        });
        api.set_result_code(result.code.as_str().into());
        api.set_result_time(
            result
                .time
                .map(crate::local_time::format_local)
                .unwrap_or_default()
                .into(),
        );
        api.set_result_payment_id(result.payment_id.as_str().into());
    }
}

/// Whole seconds until `expires_at` (rounded up, so "0:00" means expired).
pub(super) fn seconds_left(expires_at: Option<OffsetDateTime>) -> i32 {
    let Some(expires_at) = expires_at else {
        return 0;
    };
    let left = expires_at - OffsetDateTime::now_utc();
    let millis = left.whole_milliseconds().max(0);
    i32::try_from((millis + 999) / 1000).unwrap_or(i32::MAX)
}

/// Cancel on the QR screen: the engine cancels (or finds the payment already paid); the
/// screen follows the record.
fn cancel(shared: &Rc<Shared>) {
    let Some(engine) = shared.engine() else {
        return;
    };
    let id = {
        let mut state = shared.state.borrow_mut();
        let Some(shown) = state.payment.as_mut() else {
            return;
        };
        if shown.cancelling || shown.result.is_some() {
            return;
        }
        shown.cancelling = true;
        shown.id.clone()
    };
    push_payment(shared);
    let checkout = engine.checkout();
    let gui = shared.id;
    engine.runtime.spawn(async move {
        if let Err(error) = checkout
            .cancel(&id, Actor::Cashier, "cancelled by the cashier")
            .await
        {
            tracing::error!(%error, payment = %id, "cancel failed; the resolver will settle the payment");
        }
        post(gui, move |shared| refresh(shared, id));
    });
}

/// Demo only: the customer "scans" the code and pays, through the sandbox's wallet page.
fn simulate_customer(shared: &Rc<Shared>) {
    let Some(engine) = shared.engine() else {
        return;
    };
    let Some(http) = engine.http.clone() else {
        return;
    };
    if !engine.is_sandbox() {
        return;
    }
    let code = {
        let mut state = shared.state.borrow_mut();
        let Some(shown) = state.payment.as_mut() else {
            return;
        };
        if shown.simulating || shown.result.is_some() {
            return;
        }
        let Some(code) = shown.code.clone() else {
            return;
        };
        shown.simulating = true;
        code
    };
    push_payment(shared);
    let gui = shared.id;
    let url = engine
        .terminal
        .sandbox()
        .and_then(|sandbox| sandbox.wallet_pay_url(&code));
    engine.runtime.spawn(async move {
        match url {
            None => tracing::warn!(%code, "the order code is not a sandbox wallet URL"),
            Some(url) => {
                let outcome = http
                    .post(url)
                    .header("accept", "application/json")
                    .send()
                    .await;
                match outcome {
                    Ok(response) if response.status().is_success() => {}
                    Ok(response) => {
                        tracing::warn!(status = %response.status(), "the sandbox wallet refused the demo payment")
                    }
                    Err(error) => {
                        tracing::warn!(%error, "the demo customer could not reach the wallet")
                    }
                }
            }
        }
        // The result arrives as an engine event; only the button comes back here.
        post(gui, |shared| {
            if let Some(shown) = shared.state.borrow_mut().payment.as_mut() {
                shown.simulating = false;
            }
            push_payment(shared);
        });
    });
}

/// New sale: back to an empty keypad (or an empty kiosk order).
pub(super) fn new_sale(shared: &Rc<Shared>) {
    {
        let mut state = shared.state.borrow_mut();
        if state.payment.as_ref().is_some_and(|p| p.result.is_none()) {
            // A payment is still on the customer's screen; Cancel ends it first.
            return;
        }
        state.payment = None;
        state.entry.clear();
        state.cart.clear();
        state.back_at = None;
    }
    if let Some(app) = shared.app() {
        let api = app.global::<Api>();
        api.set_description("".into());
        api.set_qr_code(Image::default());
    }
    shared.set_notice(Notice::None, String::new());
    if shared.options.kiosk {
        // The next customer starts in the kiosk's own language.
        super::language::apply(shared, shared.options.locale);
    }
    shared.push_all();
    shared.set_page(shared.home());
    if let Some(app) = shared.app() {
        app.invoke_focus_keys();
    }
}
