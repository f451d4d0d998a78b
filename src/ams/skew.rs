//! Clock skew between this terminal and Alipay, read from the signed `response-time` and
//! `request-time` headers.
//!
//! A clock that is minutes off is worth a warning: expiry times, end-of-day totals and the
//! notification age check below all assume the local clock is right. Only a notification
//! is ever refused for its time, and only when it is older than Alipay could still be
//! resending it: such a POST is a replay, not a late delivery.

use std::time::Duration;

use time::OffsetDateTime;

use crate::ams::timefmt;

/// How far a signed time may be from the local clock before it is logged (the 300 s that
/// webhook libraries such as async-stripe allow).
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// When Alipay resends an unacknowledged notification, after the previous attempt:
/// 0 s, 2 min, 10 min, 10 min, 1 h, 2 h, 6 h, 15 h ("up to 8 resends within 24 h",
/// `../shared/alipay/order-code.md`, notifyPayment; the same schedule is in flows.md and on
/// the notifyRegistrationStatus page).
pub const NOTIFICATION_RESEND_SCHEDULE: [Duration; 8] = [
    Duration::from_secs(0),
    Duration::from_secs(2 * 60),
    Duration::from_secs(10 * 60),
    Duration::from_secs(10 * 60),
    Duration::from_secs(60 * 60),
    Duration::from_secs(2 * 60 * 60),
    Duration::from_secs(6 * 60 * 60),
    Duration::from_secs(15 * 60 * 60),
];

/// The last resend comes this long after the first attempt: the schedule's sum, 24 h 22 min
/// (the docs round it to "within 24 h"; the sum is the safe reading).
pub const NOTIFICATION_RETRY_WINDOW: Duration = window();

const fn window() -> Duration {
    let mut total = Duration::ZERO;
    let mut i = 0;
    while i < NOTIFICATION_RESEND_SCHEDULE.len() {
        total = total.saturating_add(NOTIFICATION_RESEND_SCHEDULE[i]);
        i += 1;
    }
    total
}

/// The oldest `request-time` a notification may carry: the retry window, plus the skew
/// allowance so that a slightly wrong local clock never refuses Alipay's last resend. (If
/// Alipay re-signs each resend with a fresh time, genuine notifications are never near it.)
pub const MAX_NOTIFICATION_AGE: Duration = NOTIFICATION_RETRY_WINDOW.saturating_add(MAX_CLOCK_SKEW);

/// How a signed time compares with the local clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skew {
    /// Within [`MAX_CLOCK_SKEW`].
    Fine,
    /// More than [`MAX_CLOCK_SKEW`] off; positive seconds mean the peer's time is ahead.
    Off { peer_ahead_secs: i64 },
    /// The header is not a time in either AMS form.
    Unreadable,
}

/// Compares a `request-time`/`response-time` header with `now`.
pub fn skew_of(header: &str, now: OffsetDateTime) -> Skew {
    let Ok(stamp) = timefmt::parse_request_time(header) else {
        return Skew::Unreadable;
    };
    let ahead = (stamp - now).whole_seconds();
    if ahead.unsigned_abs() > MAX_CLOCK_SKEW.as_secs() {
        Skew::Off {
            peer_ahead_secs: ahead,
        }
    } else {
        Skew::Fine
    }
}

/// Logs (warn) a signed time more than [`MAX_CLOCK_SKEW`] away from the local clock. `what`
/// names the message, e.g. "response" or "notification".
pub fn warn_if_skewed(what: &'static str, header: &str, now: OffsetDateTime) -> Skew {
    let skew = skew_of(header, now);
    if let Skew::Off { peer_ahead_secs } = skew {
        tracing::warn!(
            what,
            peer_time = header,
            peer_ahead_secs,
            "Alipay's clock and this computer's differ by more than 5 minutes; check this \
             computer's date, time and time zone (NTP)"
        );
    }
    skew
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_retry_window_is_the_documented_schedule() {
        assert_eq!(
            NOTIFICATION_RETRY_WINDOW,
            Duration::from_secs(24 * 3600 + 22 * 60)
        );
        assert_eq!(
            MAX_NOTIFICATION_AGE,
            Duration::from_secs(24 * 3600 + 27 * 60)
        );
    }

    #[test]
    fn skew_in_both_header_forms() {
        let now = datetime!(2026-03-01 12:00:00 UTC);
        assert_eq!(skew_of("2026-03-01T20:04:59+08:00", now), Skew::Fine);
        assert_eq!(skew_of("2026-03-01T11:55:00Z", now), Skew::Fine);
        assert_eq!(
            skew_of("2026-03-01T20:05:01+08:00", now),
            Skew::Off {
                peer_ahead_secs: 301
            }
        );
        let ms = (now.unix_timestamp() - 3600) * 1000;
        assert_eq!(
            skew_of(&ms.to_string(), now),
            Skew::Off {
                peer_ahead_secs: -3600
            }
        );
        assert_eq!(skew_of("yesterday", now), Skew::Unreadable);
    }
}
