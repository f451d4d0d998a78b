//! Following a payment after `pay`: polling `inquiryPayment` while its code is on screen,
//! and settling a `pay` whose answer was lost (bounded inquiries, then cancel).

use time::OffsetDateTime;

use super::inquiry::Inquiry;
use super::product::{PendingAfterLostPay, PollUntil, ProductRules};
use super::{Checkout, CheckoutError};
use crate::journal::{Actor, PaymentState};

impl Checkout {
    /// Follows a payment that waits for the customer, on its product's poll schedule, until
    /// a final state, the cashier's cancel, or the schedule's end (then cancels): for Order
    /// Code the code's expiry, for the others a number of polls.
    pub(super) async fn poll_until_final(
        &self,
        payment_request_id: &str,
    ) -> Result<(), CheckoutError> {
        let wakeup = self.wakeup(payment_request_id);
        let mut record = self.payment(payment_request_id).await?;
        let schedule = record.product.poll_schedule(&self.inner.policy);
        let mut wait = schedule.first_after;
        let mut polls = 0u32;
        loop {
            if record.state != PaymentState::AwaitingCustomer {
                return Ok(());
            }
            let ended = match schedule.until {
                PollUntil::CodeExpiry => record.code_expires_at.is_some_and(|expiry| {
                    let grace = time::Duration::try_from(self.inner.policy.expiry_grace)
                        .unwrap_or(time::Duration::ZERO);
                    OffsetDateTime::now_utc() > expiry + grace
                }),
                PollUntil::Polls(limit) => polls >= limit,
            };
            if ended {
                let reason = match schedule.until {
                    PollUntil::CodeExpiry => "the order code expired",
                    PollUntil::Polls(_) => "the customer did not confirm in time",
                };
                self.cancel(payment_request_id, Actor::System, reason)
                    .await?;
                return Ok(());
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = wakeup.notified() => {}
            }
            wait = schedule.every;
            self.inquire_and_apply(payment_request_id).await?;
            polls = polls.saturating_add(1);
            record = self.payment(payment_request_id).await?;
        }
    }

    /// After an unknown `pay`: inquire a bounded number of times (flows.md: 10 to 20), then
    /// cancel. What a still-processing payment means meanwhile is the product's to say:
    /// without `pay`'s answer an Order Code customer has no code, so it is cancelled at once;
    /// a User-presented customer may still be confirming in the wallet.
    pub(super) async fn settle_unknown_pay(
        &self,
        payment_request_id: &str,
    ) -> Result<(), CheckoutError> {
        let product = self.payment(payment_request_id).await?.product;
        let (inquiries, every, pending) = product.lost_pay_schedule(&self.inner.policy);
        for _ in 0..inquiries {
            match self.inquire_and_apply(payment_request_id).await? {
                Inquiry::Final(_) => return Ok(()),
                Inquiry::Pending if pending == PendingAfterLostPay::Cancel => break,
                Inquiry::Pending | Inquiry::NotFound | Inquiry::Unknown => {}
            }
            tokio::time::sleep(every).await;
        }
        let reason = match pending {
            PendingAfterLostPay::Cancel => "the pay answer was lost; no code can be shown",
            PendingAfterLostPay::KeepFollowing => {
                "the pay answer was lost and the payment did not complete in time"
            }
        };
        self.cancel(payment_request_id, Actor::System, reason)
            .await?;
        Ok(())
    }
}
