//! How patient the engine is: every retry, poll and backoff interval in one value, so tests
//! can shrink time without touching the logic, and the defaults can cite where they come from.

use std::time::Duration;

use super::resend::Resend;

/// Timing rules for payments, cancels, refunds and the resolver.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Sends of `pay` with the *same* `paymentRequestId` while the outcome is unknown
    /// (ams-java-sdk's `maxOrderCodeRequestCount = 3`), and the pause between them.
    pub pay: Resend,
    /// How often `inquiryPayment` is called while the order code is on screen. flows.md: poll
    /// every 3 to 5 s while the QR is shown.
    pub poll_interval: Duration,
    /// Inquiries after an unknown `pay` before cancelling (flows.md: 10 to 20).
    pub unknown_pay_inquiries: u32,
    /// Following a payment the customer confirms in the wallet (User-presented after `U`
    /// or a lost answer; other-products.md: "10-20 × every 3 s, start after 5 s; then
    /// cancel"): the wait before the first inquiry, between the next ones, and how many
    /// (20: a customer typing a wallet PIN needs the time).
    pub confirm_first_poll: Duration,
    pub confirm_poll_interval: Duration,
    pub confirm_polls: u32,
    /// Sends of `cancel` (same parameters) before the payment is handed to the resolver;
    /// flows.md: every 5 to 10 s for up to 60 s.
    pub cancel: Resend,
    /// Sends of `refund` with the same `refundRequestId` before an inquiry decides.
    pub refund: Resend,
    /// Sends of `registration` with the same `registrationRequestId` while its outcome is
    /// unknown (like `pay`'s: a person is waiting at the command line or the screen).
    pub registration: Resend,
    /// The resolver's first and longest wait between rounds; it doubles in between.
    pub resolver_backoff_min: Duration,
    pub resolver_backoff_max: Duration,
    /// Upper bound on how long the QR is shown even if Alipay's code lives longer.
    pub max_code_lifetime: Duration,
    /// How long past the code's expiry the engine keeps polling before it cancels, so that a
    /// payment made in the last second is seen as paid rather than cancelled.
    pub expiry_grace: Duration,
    /// `inquiryRefund` answers ORDER_NOT_EXIST this many times before the refund is taken as
    /// never created (order-code.md: retry after 15 s, 3 times).
    pub refund_not_found_limit: u32,
    /// The pause between those inquiries.
    pub refund_not_found_delay: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            pay: Resend::new(3, Duration::from_secs(2)),
            poll_interval: Duration::from_secs(3),
            unknown_pay_inquiries: 10,
            confirm_first_poll: Duration::from_secs(5),
            confirm_poll_interval: Duration::from_secs(3),
            confirm_polls: 20,
            cancel: Resend::new(8, Duration::from_secs(7)),
            refund: Resend::new(8, Duration::from_secs(7)),
            registration: Resend::new(3, Duration::from_secs(2)),
            resolver_backoff_min: Duration::from_secs(5),
            resolver_backoff_max: Duration::from_secs(300),
            max_code_lifetime: Duration::from_secs(300),
            expiry_grace: Duration::from_secs(5),
            refund_not_found_limit: 3,
            refund_not_found_delay: Duration::from_secs(15),
        }
    }
}

impl Policy {
    /// Everything in milliseconds: for tests and demos against the local sandbox.
    pub fn fast() -> Self {
        Policy {
            pay: Resend::new(3, Duration::from_millis(20)),
            poll_interval: Duration::from_millis(50),
            unknown_pay_inquiries: 10,
            confirm_first_poll: Duration::from_millis(80),
            confirm_poll_interval: Duration::from_millis(50),
            confirm_polls: 60,
            cancel: Resend::new(8, Duration::from_millis(30)),
            refund: Resend::new(8, Duration::from_millis(30)),
            registration: Resend::new(3, Duration::from_millis(20)),
            resolver_backoff_min: Duration::from_millis(50),
            resolver_backoff_max: Duration::from_millis(500),
            max_code_lifetime: Duration::from_secs(300),
            expiry_grace: Duration::from_millis(200),
            refund_not_found_limit: 3,
            refund_not_found_delay: Duration::from_millis(30),
        }
    }

    /// The resolver's wait before round `round` (0-based): doubling, capped.
    pub fn resolver_backoff(&self, round: u32) -> Duration {
        let factor = 1u32.checked_shl(round.min(16)).unwrap_or(u32::MAX);
        self.resolver_backoff_min
            .saturating_mul(factor)
            .min(self.resolver_backoff_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolver_backoff_doubles_then_caps() {
        let policy = Policy::default();
        assert_eq!(policy.resolver_backoff(0), Duration::from_secs(5));
        assert_eq!(policy.resolver_backoff(1), Duration::from_secs(10));
        assert_eq!(policy.resolver_backoff(3), Duration::from_secs(40));
        assert_eq!(policy.resolver_backoff(10), Duration::from_secs(300));
        assert_eq!(policy.resolver_backoff(u32::MAX), Duration::from_secs(300));
    }
}
