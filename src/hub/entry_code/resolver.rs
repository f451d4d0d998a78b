//! Paying with `EntryCode`, and settling every payment the hub has journaled.
//!
//! `start` commits the request id, then sends `pay`; `follow` (one task per open payment,
//! started by `start` and, for every open row, by `resume` when the hub starts) queries
//! `inquiryPayment` until a final status, woken early by a verified notification, and past
//! the payment's expiry sends `cancel`. Nothing is guessed: only a verified `S` inquiry with
//! `paymentStatus` `SUCCESS` (or a `pay` that answered it) makes a payment `success`.

use std::sync::Arc;

use time::OffsetDateTime;

use super::super::HubError;
use super::EntryCodeHub;
use super::store::{self, Change, CounterRow, EntryState, Inserted, NewPayment};
use crate::ams::client::Outcome;
use crate::ams::models::{
    Amount, CancelRequest, Env, InquiryPaymentRequest, Merchant, Order, PayRequest, PaymentStatus,
    Store,
};

/// What the customer's page does after `start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    /// Send the wallet to Alipay's cashier.
    Redirect(String),
    /// Alipay refused the payment (`F`): nothing was taken.
    Refused { code: String, message: String },
    /// The answer was lost or not final: the hub settles it by inquiry; the customer may
    /// ask the cashier or scan again.
    Unknown,
    /// This order is paid already.
    AlreadyPaid,
}

/// Pays `amount` at `counter` for the wallet whose browser sent `user_agent`.
pub async fn start(
    hub: Arc<EntryCodeHub>,
    counter: CounterRow,
    order_version: Option<i64>,
    amount: u64,
    description: String,
    user_agent: String,
) -> Result<Started, HubError> {
    let payment_request_id = super::new_request_id()?;
    let expiry =
        time::Duration::try_from(hub.settings.payment_expiry).unwrap_or(time::Duration::minutes(3));
    let deadline = OffsetDateTime::now_utc() + expiry;
    let new = NewPayment {
        payment_request_id: payment_request_id.clone(),
        counter,
        order_version,
        description,
        amount,
        user_agent,
        deadline,
    };
    // Journaled before anything is sent: a crash from here on leaves a row to resume.
    let hub = &hub;
    match store::insert(&hub.pool, &new).await? {
        Inserted::New => {}
        Inserted::Existing(existing) => {
            return Ok(match existing.state {
                EntryState::Success => Started::AlreadyPaid,
                EntryState::Awaiting => existing
                    .redirect_url
                    .map_or(Started::Unknown, Started::Redirect),
                _ => Started::Unknown,
            });
        }
    }
    let request = pay_request(hub, &new);
    let outcome = hub.settings.client.call(&request).await;
    let started = match outcome {
        Ok(Outcome::Success(response)) => {
            let url = response
                .redirect_action_form
                .and_then(|form| form.redirect_url);
            match url {
                Some(url) => {
                    store::advance(
                        &hub.pool,
                        &payment_request_id,
                        EntryState::Awaiting,
                        Change {
                            payment_id: response.payment_id.as_deref(),
                            redirect_url: Some(&url),
                            ..Change::default()
                        },
                    )
                    .await?;
                    Started::Redirect(url)
                }
                None => {
                    tracing::warn!(%payment_request_id, "pay answered S without a redirect; settling it by inquiry");
                    store::advance(
                        &hub.pool,
                        &payment_request_id,
                        EntryState::Unknown,
                        Change::default(),
                    )
                    .await?;
                    Started::Unknown
                }
            }
        }
        Ok(Outcome::Failed { code, message }) => {
            finish(
                hub,
                &payment_request_id,
                EntryState::Failed,
                code.as_str(),
                &message,
                None,
            )
            .await?;
            return Ok(Started::Refused {
                code: code.as_str().to_owned(),
                message,
            });
        }
        Ok(Outcome::Unknown(reason)) => {
            tracing::warn!(%payment_request_id, reason = %reason, "pay outcome unknown; settling it by inquiry");
            store::advance(
                &hub.pool,
                &payment_request_id,
                EntryState::Unknown,
                Change::default(),
            )
            .await?;
            Started::Unknown
        }
        Err(error) => {
            // Refused before sending (validation): nothing reached Alipay.
            let message = error.to_string();
            finish(
                hub,
                &payment_request_id,
                EntryState::Failed,
                "NOT_SENT",
                &message,
                None,
            )
            .await?;
            return Ok(Started::Refused {
                code: "NOT_SENT".into(),
                message,
            });
        }
    };
    spawn_follow(hub, payment_request_id);
    Ok(started)
}

fn pay_request(hub: &EntryCodeHub, new: &NewPayment) -> PayRequest {
    let merchant = &hub.settings.merchant;
    let order = Order {
        reference_order_id: new
            .counter
            .order_reference
            .clone()
            .filter(|_| new.order_version.is_some())
            .or_else(|| Some(new.payment_request_id.clone())),
        order_description: new.description.clone(),
        order_amount: Amount::new(new.counter.currency.clone(), new.amount),
        merchant: Merchant {
            reference_merchant_id: merchant.reference_merchant_id.clone(),
            merchant_mcc: merchant.mcc.clone(),
            merchant_name: merchant.name.clone(),
            store: Store {
                reference_store_id: new.counter.store_id.clone(),
                store_name: new.counter.store_name.clone(),
                store_mcc: new.counter.store_mcc.clone(),
                store_terminal_id: Some(new.counter.counter.clone()),
                ..Store::default()
            },
            ..Merchant::default()
        },
        env: Some(Env {
            user_agent: Some(new.user_agent.clone()),
            ..Env::default()
        }),
        ..Order::default()
    };
    let mut request = PayRequest::entry_code(
        new.payment_request_id.clone(),
        order,
        Amount::new(new.counter.currency.clone(), new.amount),
    );
    request.payment_notify_url = Some(hub.settings.notify_url());
    request.payment_expiry_time = Some(crate::ams::timefmt::format_datetime(new.deadline));
    request
}

/// Records a final state, and tells the terminals' streams.
async fn finish(
    hub: &EntryCodeHub,
    payment_request_id: &str,
    state: EntryState,
    code: &str,
    message: &str,
    payment_id: Option<&str>,
) -> Result<(), HubError> {
    let changed = store::advance(
        &hub.pool,
        payment_request_id,
        state,
        Change {
            result_code: Some(code),
            result_message: Some(message),
            payment_id,
            ..Change::default()
        },
    )
    .await?;
    if changed {
        tracing::info!(%payment_request_id, state = state.as_str(), code, "Entry Code payment finished");
        hub.announce_finished();
    }
    Ok(())
}

/// Resumes every open payment: what a starting hub does first.
pub async fn resume(hub: &Arc<EntryCodeHub>) -> Result<usize, HubError> {
    let open = store::open_payments(&hub.pool).await?;
    let count = open.len();
    for payment in open {
        tracing::info!(payment_request_id = %payment.payment_request_id, state = payment.state.as_str(), "resuming an open Entry Code payment");
        spawn_follow(hub, payment.payment_request_id);
    }
    Ok(count)
}

fn spawn_follow(hub: &Arc<EntryCodeHub>, payment_request_id: String) {
    let hub = hub.clone();
    // Registered now, so a notification arriving before the task runs is not missed.
    let waker = hub.waker(&payment_request_id);
    tokio::spawn(async move {
        follow(&hub, &payment_request_id, &waker).await;
        hub.forget(&payment_request_id);
    });
}

/// What one inquiry or cancel told.
enum Step {
    Final(EntryState, String, String, Option<String>),
    Open,
    /// Asked again without waiting (a cancel that found the payment final).
    AskNow,
}

async fn follow(hub: &Arc<EntryCodeHub>, payment_request_id: &str, waker: &tokio::sync::Notify) {
    let mut closing = hub.closing.clone();
    let mut wait = true;
    let mut asked_now = false;
    loop {
        if *closing.borrow() {
            return;
        }
        if wait {
            tokio::select! {
                _ = waker.notified() => {}
                _ = tokio::time::sleep(hub.settings.poll_interval) => {}
                _ = closing.wait_for(|closing| *closing) => return,
            }
        }
        wait = true;
        let row = match store::payment(&hub.pool, payment_request_id).await {
            Ok(Some(row)) => row,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(%error, "cannot read an Entry Code payment; retrying");
                continue;
            }
        };
        if row.state.is_final() {
            return;
        }
        let step = inquire(hub, payment_request_id).await;
        let step = match step {
            Step::Open if OffsetDateTime::now_utc().unix_timestamp() > row.deadline_unix => {
                cancel(hub, payment_request_id).await
            }
            other => other,
        };
        match step {
            Step::Final(state, code, message, payment_id) => {
                match finish(
                    hub,
                    payment_request_id,
                    state,
                    &code,
                    &message,
                    payment_id.as_deref(),
                )
                .await
                {
                    Ok(()) => return,
                    Err(error) => {
                        tracing::warn!(%error, "cannot record an Entry Code result; retrying")
                    }
                }
            }
            Step::Open => {}
            // Once: a cancel refused again after the inquiry waits like any other step.
            Step::AskNow => {
                wait = asked_now;
                asked_now = !asked_now;
            }
        }
    }
}

async fn inquire(hub: &EntryCodeHub, payment_request_id: &str) -> Step {
    let request = InquiryPaymentRequest::by_payment_request_id(payment_request_id);
    match hub.settings.client.call(&request).await {
        Ok(Outcome::Success(answer)) => {
            let code = answer.payment_result_code.clone().unwrap_or_default();
            let message = answer.payment_result_message.clone().unwrap_or_default();
            let id = answer.payment_id.clone();
            match answer.payment_status {
                Some(PaymentStatus::Success) => {
                    Step::Final(EntryState::Success, "SUCCESS".into(), message, id)
                }
                Some(PaymentStatus::Fail) => Step::Final(EntryState::Failed, code, message, id),
                Some(PaymentStatus::Cancelled) => {
                    Step::Final(EntryState::Cancelled, code, message, id)
                }
                _ => Step::Open,
            }
        }
        // ORDER_NOT_EXIST: maybe not visible yet; the cancel past the deadline decides.
        Ok(Outcome::Failed { code, .. }) => {
            tracing::info!(%payment_request_id, code = code.as_str(), "inquiry refused; asking again later");
            Step::Open
        }
        Ok(Outcome::Unknown(reason)) => {
            tracing::info!(%payment_request_id, reason = %reason, "inquiry unanswered; asking again later");
            Step::Open
        }
        Err(error) => {
            tracing::error!(%payment_request_id, %error, "cannot build an inquiry");
            Step::Open
        }
    }
}

/// Past the expiry: close the payment at Alipay. `S` closes it (funds go back even if it
/// was paid in the meantime, flows.md §3); `ORDER_NOT_EXIST` means the `pay` never reached
/// Alipay, so nothing can be taken; any other `F` (it became final) is read by inquiry.
async fn cancel(hub: &EntryCodeHub, payment_request_id: &str) -> Step {
    let request = CancelRequest::by_payment_request_id(payment_request_id);
    match hub.settings.client.call(&request).await {
        Ok(Outcome::Success(answer)) => Step::Final(
            EntryState::Cancelled,
            "ORDER_IS_CANCELED".into(),
            "cancelled by the hub after the payment's expiry".into(),
            answer.payment_id,
        ),
        Ok(Outcome::Failed { code, message }) if code.as_str() == "ORDER_NOT_EXIST" => {
            Step::Final(EntryState::Failed, code.as_str().to_owned(), message, None)
        }
        Ok(Outcome::Failed { code, .. }) => {
            tracing::info!(%payment_request_id, code = code.as_str(), "cancel refused; reading the final state");
            Step::AskNow
        }
        Ok(Outcome::Unknown(_)) | Err(_) => Step::Open,
    }
}
