//! Verified `notifyPayment`s: recorded under the payment's lock, and acted on only when the
//! journal's state allows (a notification says the customer paid, not that the payment is
//! still paid).

use super::engine::{amount_matches, parse_time};
use super::{Checkout, CheckoutError};
use crate::ams::models::{NotifyPaymentRequest, ResultCode};
use crate::journal::{Actor, PaymentState, PaymentUpdate, Resolution};

impl Checkout {
    /// A verified `notifyPayment`. Returns once the notification is recorded, which is when
    /// the receiver may acknowledge it.
    pub async fn handle_notification(
        &self,
        notification: &NotifyPaymentRequest,
    ) -> Result<(), CheckoutError> {
        let id = notification.payment_request_id.clone();
        let Some(record) = self
            .db({
                let id = id.clone();
                move |j| j.payment_by_request_id(&id)
            })
            .await?
        else {
            tracing::warn!(payment = %id, "notification for a payment this journal does not know");
            return Ok(());
        };
        let guard = self.payment_lock(&id);
        let held = guard.lock().await;
        let record = self.payment(&record.payment_request_id).await?;
        if !notification.is_success() {
            self.note(
                &id,
                "notification without success received; polling decides",
            )
            .await?;
        } else if !amount_matches(record.amount, Some(&notification.payment_amount)) {
            self.note(&id, "notification for a different amount ignored")
                .await?;
        } else {
            match record.state {
                // A notification says the customer paid, not that the payment is still paid:
                // a cancel sent since (whose answer was lost) may have reversed it, and
                // Alipay resends notifications for a day. Only an inquiry can tell.
                PaymentState::Unresolved if self.cancel_was_sent(&record).await? => {
                    self.note(
                        &id,
                        "notification arrived after a cancel whose outcome is unknown; an inquiry decides",
                    )
                    .await?;
                    self.inner.resolver_wake.notify_one();
                }
                PaymentState::Created
                | PaymentState::AwaitingCustomer
                | PaymentState::Unresolved => {
                    self.transition(
                        &id,
                        PaymentState::Paid,
                        Actor::System,
                        "paid (notification)".into(),
                        PaymentUpdate {
                            payment_id: Some(notification.payment_id.clone()),
                            paid_at: parse_time(notification.payment_time.as_deref()),
                            result_code: Some(ResultCode::Success.as_str().into()),
                            resolution: Some(Resolution::Notify),
                            ..PaymentUpdate::default()
                        },
                    )
                    .await?;
                }
                PaymentState::Cancelling => {
                    self.note(
                        &id,
                        "notification arrived after the cancel was sent; the cancel result decides",
                    )
                    .await?;
                }
                PaymentState::Failed | PaymentState::Cancelled => {
                    // Alipay says the customer paid a payment this journal has ended unpaid
                    // (by a cancel whose reversal Alipay did not honour, or a manager's "not
                    // paid"). The journal does not rewrite a final state; a person must look.
                    tracing::error!(payment = %id, state = record.state.as_str(), "Alipay reports a payment paid that the journal ended unpaid; check the merchant portal and refund the customer if the money was taken");
                    self.note(
                        &id,
                        "Alipay notified SUCCESS for this unpaid payment: check the merchant portal and refund the customer if the money was taken",
                    )
                    .await?;
                }
                _ => {
                    self.note(&id, "duplicate notification acknowledged")
                        .await?;
                }
            }
        }
        drop(held);
        if self.payment(&id).await?.state.is_final() {
            // A duplicate for a final payment took a fresh lock entry.
            self.forget(&id);
        } else {
            self.wake(&id);
        }
        Ok(())
    }
}
