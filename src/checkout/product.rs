//! Payment products, and what each one decides about a payment.
//!
//! Alipay's in-store API takes one `pay` request shape for several products, and the
//! differences (other-products.md, auto-debit.md) are all in four questions, answered here
//! and nowhere else:
//! - which `pay` request to send;
//! - what a verified `S` to `pay` means: a code to show the customer, or money taken;
//! - how to follow a payment that is not final yet (the poll schedule);
//! - when to give up on it: at the code's expiry, or after a number of polls; either way the
//!   engine then cancels it.
//!
//! A new product is a new [`Product`] variant (stored in the journal's `product` column), a
//! [`ProductIntent`] variant carrying what the face collected for it, and an answer to each
//! question below. The engine's flows (`pay.rs`, `poll.rs`) ask; they never match on the
//! product themselves.

use std::time::Duration;

use time::OffsetDateTime;

use super::Policy;
use super::payment_code::PaymentCode;
use crate::ams::models::{Amount, Order, PayRequest, PayResponse};
use crate::ams::timefmt;
use crate::journal::{Actor, CustomerCode};
use crate::money::Money;

/// The payment products. The name is the journal's (stored per payment, `product` column);
/// what each one means for a payment is answered here, by [`ProductRules`].
pub use crate::journal::Product;

/// What a face asks the engine to take: the amount, what it is for, who asked, and the
/// product with what the face collected for it.
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentIntent {
    pub amount: Money,
    pub description: String,
    pub actor: Actor,
    pub product: ProductIntent,
}

impl PaymentIntent {
    /// An Order Code payment: the terminal will show the code.
    pub fn order_code(amount: Money, description: impl Into<String>, actor: Actor) -> Self {
        PaymentIntent {
            amount,
            description: description.into(),
            actor,
            product: ProductIntent::OrderCode,
        }
    }

    /// A User-presented payment: the cashier scanned (or typed) the customer's code.
    pub fn user_presented(
        amount: Money,
        description: impl Into<String>,
        actor: Actor,
        code: PaymentCode,
    ) -> Self {
        PaymentIntent {
            amount,
            description: description.into(),
            actor,
            product: ProductIntent::UserPresented { code },
        }
    }
}

/// A product with the inputs its `pay` needs. Entry Code (started by the merchant's web page,
/// not the terminal) and Auto Debit (an access token) add their variant with their issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProductIntent {
    OrderCode,
    /// The customer's own code, a bearer credential: it lives only here, for this `pay`
    /// (`Debug` shows the last four digits).
    UserPresented {
        code: PaymentCode,
    },
}

impl ProductIntent {
    pub fn product(&self) -> Product {
        match self {
            ProductIntent::OrderCode => Product::OrderCode,
            ProductIntent::UserPresented { .. } => Product::UserPresented,
        }
    }

    /// What the journal keeps of the customer's code, for the products that take one.
    pub(crate) fn customer_code(&self) -> Option<CustomerCode> {
        match self {
            ProductIntent::OrderCode => None,
            ProductIntent::UserPresented { code } => Some(CustomerCode {
                last4: code.last4().to_owned(),
                sha256: code.digest(),
            }),
        }
    }

    /// The `pay` request for this product. `notify_url` is where Alipay posts the result,
    /// `None` for a terminal that learns it by polling.
    pub(crate) fn pay_request(
        &self,
        payment_request_id: String,
        order: Order,
        amount: Amount,
        notify_url: Option<&url::Url>,
    ) -> PayRequest {
        match self {
            ProductIntent::OrderCode => match notify_url {
                Some(url) => {
                    PayRequest::order_code(payment_request_id, order, amount, url.as_str())
                }
                None => PayRequest::order_code_polled(payment_request_id, order, amount),
            },
            ProductIntent::UserPresented { code } => {
                let mut request =
                    PayRequest::user_presented(payment_request_id, order, amount, code.expose());
                request.payment_notify_url = notify_url.map(|url| url.as_str().to_owned());
                request
            }
        }
    }
}

/// What a verified `S` to `pay` means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaySuccess {
    /// A code for the customer to scan, valid until `expires_at` (Order Code).
    ShowCode {
        code_value: String,
        expires_at: OffsetDateTime,
    },
    /// The money is taken (User-presented, Auto Debit): the payment is paid.
    MoneyTaken,
    /// An `S` without what this product's `S` must carry. It breaks the protocol, so the
    /// engine settles the payment like one whose answer was lost (inquiry, then cancel).
    Unusable(&'static str),
}

/// When the engine stops following a payment that is not final, and cancels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollUntil {
    /// At the order code's expiry (plus [`Policy::expiry_grace`], so a payment made in the
    /// last second is seen as paid).
    CodeExpiry,
    /// After this many inquiries.
    Polls(u32),
}

/// How a payment that is not final yet is followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollSchedule {
    /// The wait before the first inquiry.
    pub first_after: Duration,
    /// The wait between inquiries after that.
    pub every: Duration,
    pub until: PollUntil,
}

/// What `U PAYMENT_IN_PROCESS` to `pay` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InProcess {
    /// The customer is confirming in the wallet (a PIN, a tap): the payment waits for them,
    /// followed on the product's poll schedule, then cancelled (User-presented).
    CustomerConfirming,
    /// An outcome like any unknown one: `pay` is resent unchanged, then settled by inquiry
    /// or cancel (Order Code: order-code.md says a new `paymentRequestId` is needed, so the
    /// terminal never gets a code for this attempt).
    Unknown,
}

/// What an inquiry that finds the payment still processing means after `pay`'s answer was
/// lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingAfterLostPay {
    /// Nobody can finish it: cancel now (Order Code: the customer never saw a code).
    Cancel,
    /// The customer may still confirm it in the wallet: keep inquiring, then cancel.
    KeepFollowing,
}

/// What a product decides about a payment (the questions in this module's documentation).
pub trait ProductRules {
    /// Reads a verified `S` answer to `pay`.
    fn read_success(self, response: &PayResponse) -> PaySuccess;
    /// Reads `U PAYMENT_IN_PROCESS` to `pay`.
    fn read_in_process(self) -> InProcess;
    /// How the engine follows a payment of this product that is not final.
    fn poll_schedule(self, policy: &Policy) -> PollSchedule;
    /// How a `pay` whose answer was lost is settled: how many inquiries, how far apart, and
    /// what a still-processing payment means meanwhile.
    fn lost_pay_schedule(self, policy: &Policy) -> (u32, Duration, PendingAfterLostPay);
}

impl ProductRules for Product {
    /// Reads a verified `S` answer to `pay`.
    fn read_success(self, response: &PayResponse) -> PaySuccess {
        match self {
            Product::OrderCode => {
                let code = response.order_code_form.as_ref().and_then(|form| {
                    let expires_at = timefmt::parse_datetime(form.expire_time.as_deref()?).ok()?;
                    Some((form.text_code_value()?.to_string(), expires_at))
                });
                match code {
                    Some((code_value, expires_at)) => PaySuccess::ShowCode {
                        code_value,
                        expires_at,
                    },
                    None => PaySuccess::Unusable("pay S without orderCodeForm"),
                }
            }
            // other-products.md: "S = money taken" for the payment code; auto-debit.md: the
            // agreement payment's S is the payment itself.
            Product::UserPresented | Product::AutoDebit => PaySuccess::MoneyTaken,
            // The merchant's page, not the terminal, sends an Entry Code `pay`; its S carries
            // the wallet's redirect, which no terminal can use.
            Product::EntryCode => PaySuccess::Unusable("Entry Code is paid on the merchant page"),
        }
    }

    /// other-products.md: for the payment code, `PAYMENT_IN_PROCESS` means "wait for
    /// `notifyPayment` or poll `inquiryPayment` (user may be entering a PIN)"; for Order Code
    /// and Entry Code, a new `paymentRequestId`. Auto Debit has no customer to wait for.
    fn read_in_process(self) -> InProcess {
        match self {
            Product::UserPresented => InProcess::CustomerConfirming,
            Product::OrderCode | Product::EntryCode | Product::AutoDebit => InProcess::Unknown,
        }
    }

    /// Order Code: flows.md's 10 to 20 inquiries, and a processing payment is cancelled at
    /// once (without `pay`'s answer there is no code to show). User-presented: the same rule
    /// as after `U` ("10-20 × every 3 s, start after 5 s; then cancel"), because the wallet
    /// may still be asking the customer for a PIN.
    fn lost_pay_schedule(self, policy: &Policy) -> (u32, Duration, PendingAfterLostPay) {
        match self {
            Product::UserPresented => (
                policy.confirm_polls,
                policy.confirm_poll_interval,
                PendingAfterLostPay::KeepFollowing,
            ),
            Product::OrderCode | Product::EntryCode | Product::AutoDebit => (
                policy.unknown_pay_inquiries,
                policy.poll_interval,
                PendingAfterLostPay::Cancel,
            ),
        }
    }

    /// other-products.md: Order Code, every 3 to 5 s while the code is on screen;
    /// User-presented after `U` or no answer, "10-20 × every 3 s, start after 5 s; then
    /// cancel" (we take 20: a customer typing a wallet PIN needs the time); Entry Code
    /// "10-20 × every 3 s, start after 15 s". Auto Debit (auto-debit.md) follows the
    /// User-presented rule: the money is taken without the customer, so a `U` is settled as
    /// quickly.
    fn poll_schedule(self, policy: &Policy) -> PollSchedule {
        match self {
            Product::OrderCode => PollSchedule {
                first_after: policy.poll_interval,
                every: policy.poll_interval,
                until: PollUntil::CodeExpiry,
            },
            Product::UserPresented | Product::AutoDebit => PollSchedule {
                first_after: policy.confirm_first_poll,
                every: policy.confirm_poll_interval,
                until: PollUntil::Polls(policy.confirm_polls),
            },
            Product::EntryCode => PollSchedule {
                first_after: Duration::from_secs(15),
                every: Duration::from_secs(3),
                until: PollUntil::Polls(20),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ams::models::ResultInfo;

    fn answered(body: serde_json::Value) -> PayResponse {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn an_order_code_s_shows_the_code_until_its_expiry() {
        let response = answered(serde_json::json!({
            "result": {"resultCode": "SUCCESS", "resultStatus": "S", "resultMessage": "ok"},
            "orderCodeForm": {
                "expireTime": "2026-12-01T12:05:00+08:00",
                "codeDetails": [{"codeValue": "https://qr.example/1", "displayType": "TEXT", "codeValueType": "QR_CODE"}]
            }
        }));
        assert_eq!(
            Product::OrderCode.read_success(&response),
            PaySuccess::ShowCode {
                code_value: "https://qr.example/1".into(),
                expires_at: OffsetDateTime::from_unix_timestamp(1_796_097_900).unwrap(),
            }
        );
    }

    #[test]
    fn an_s_without_what_the_product_needs_is_unusable() {
        let bare = PayResponse::from_result(ResultInfo::success());
        assert!(matches!(
            Product::OrderCode.read_success(&bare),
            PaySuccess::Unusable(_)
        ));
        assert!(matches!(
            Product::EntryCode.read_success(&bare),
            PaySuccess::Unusable(_)
        ));
        assert_eq!(
            Product::UserPresented.read_success(&bare),
            PaySuccess::MoneyTaken
        );
    }

    #[test]
    fn poll_schedules_follow_the_reference() {
        let policy = Policy::default();
        let order_code = Product::OrderCode.poll_schedule(&policy);
        assert_eq!(order_code.until, PollUntil::CodeExpiry);
        assert_eq!(order_code.every, Duration::from_secs(3));
        let scanned = Product::UserPresented.poll_schedule(&policy);
        assert_eq!(
            (scanned.first_after, scanned.every, scanned.until),
            (
                Duration::from_secs(5),
                Duration::from_secs(3),
                PollUntil::Polls(20)
            )
        );
        assert_eq!(
            Product::EntryCode.poll_schedule(&policy).first_after,
            Duration::from_secs(15)
        );
    }
}
