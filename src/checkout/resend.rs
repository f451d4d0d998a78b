//! Resending a request whose outcome is unknown, as one value apart from any one flow.
//!
//! `pay`, `cancel` and `refund` all follow the same rule: when an answer is lost (a timeout,
//! a dropped connection, an unverifiable body), send the *identical* request again, with the
//! same request id, a bounded number of times. Alipay answers a repeated request id with
//! the original result, so a resend can never move money twice. What each flow does with an
//! answer differs; how often and how far apart it asks does not, and lives here.

use std::time::Duration;

/// How often, and how far apart, one request is sent while its outcome stays unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resend {
    /// Sends in all, the first included (0 counts as 1: a request is always sent once).
    pub attempts: u32,
    /// The pause before each resend.
    pub delay: Duration,
}

impl Resend {
    pub const fn new(attempts: u32, delay: Duration) -> Resend {
        Resend { attempts, delay }
    }

    /// The sends of one request: `while let Some(attempt) = sends.next().await { … }`. The
    /// flow's loop body sends and reads the answer; it leaves the loop on a definite answer
    /// and goes round again on an unknown one.
    pub fn sends(&self) -> Sends {
        Sends {
            resend: *self,
            next: 0,
        }
    }
}

/// The schedule of one request's sends (see [`Resend::sends`]).
#[derive(Debug)]
pub struct Sends {
    resend: Resend,
    next: u32,
}

impl Sends {
    /// The 0-based number of the next send, after the pause that comes before every resend;
    /// `None` once the attempts are used up.
    pub async fn next(&mut self) -> Option<u32> {
        if self.next >= self.resend.attempts.max(1) {
            return None;
        }
        if self.next > 0 {
            tokio::time::sleep(self.resend.delay).await;
        }
        let attempt = self.next;
        self.next += 1;
        Some(attempt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    const RESEND: Resend = Resend::new(3, Duration::from_secs(7));

    #[tokio::test(start_paused = true)]
    async fn sends_are_spaced_by_the_delay_until_the_attempts_run_out() {
        let start = Instant::now();
        let mut sends = RESEND.sends();
        let mut sent = Vec::new();
        while let Some(attempt) = sends.next().await {
            sent.push((attempt, start.elapsed()));
        }
        // The first send at once, each resend one delay after the previous one.
        assert_eq!(
            sent,
            [(0, 0), (1, 7), (2, 14)].map(|(n, s)| (n, Duration::from_secs(s)))
        );
        assert_eq!(sends.next().await, None, "used up stays used up");
    }

    #[tokio::test(start_paused = true)]
    async fn leaving_early_waits_no_longer() {
        let start = Instant::now();
        let mut sends = RESEND.sends();
        let mut made = 0;
        while let Some(attempt) = sends.next().await {
            made += 1;
            if attempt == 1 {
                break; // a definite answer
            }
        }
        assert_eq!((made, start.elapsed()), (2, Duration::from_secs(7)));
    }

    #[tokio::test(start_paused = true)]
    async fn zero_attempts_still_sends_once() {
        let mut sends = Resend::new(0, Duration::from_secs(1)).sends();
        assert_eq!(sends.next().await, Some(0));
        assert_eq!(sends.next().await, None);
    }
}
