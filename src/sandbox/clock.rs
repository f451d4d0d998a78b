//! The sandbox's notion of "now".
//!
//! Everything time-driven (code expiry, cancel and refund windows, registration review,
//! notification resends) reads this clock, so the control endpoint can move the sandbox into
//! the future and a test of a 24-hour cancel window takes milliseconds instead of a day. The
//! offset is in memory only: a restarted sandbox is back on the wall clock.

use std::sync::atomic::{AtomicI64, Ordering};

use time::macros::offset;
use time::{Duration, OffsetDateTime, UtcOffset};

use crate::ams::timefmt;

/// Alipay's own examples and answers are written in China Standard Time; writing ours the same
/// way makes sandbox traffic look like the real thing in logs and on receipts.
pub(crate) const ALIPAY_OFFSET: UtcOffset = offset!(+8);

#[derive(Debug, Default)]
pub(crate) struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + Duration::milliseconds(self.offset_ms.load(Ordering::SeqCst))
    }

    pub fn now_ms(&self) -> i64 {
        to_ms(self.now())
    }

    /// Moves the clock forward (a negative amount moves it back; nothing stops a test from
    /// doing that, but expired codes stay expired).
    pub fn advance_ms(&self, ms: i64) {
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }

    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::SeqCst)
    }
}

/// Milliseconds since the epoch, the unit the ledger stores. Saturates rather than wraps for
/// instants no test will ever reach.
pub(crate) fn to_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

pub(crate) fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// An AMS `Datetime` for a stored instant, in Alipay's offset.
pub(crate) fn wire_time(ms: i64) -> String {
    timefmt::format_datetime(from_ms(ms).to_offset(ALIPAY_OFFSET))
}

/// A `std` duration as whole milliseconds, saturating.
pub(crate) fn duration_ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_now_and_wire_time_uses_plus_eight() {
        let clock = Clock::default();
        let before = clock.now_ms();
        clock.advance_ms(3_600_000);
        assert!(clock.now_ms() - before >= 3_600_000);
        assert_eq!(clock.offset_ms(), 3_600_000);
        assert_eq!(wire_time(1_735_689_600_000), "2025-01-01T08:00:00+08:00");
        assert_eq!(to_ms(from_ms(1_735_689_600_123)), 1_735_689_600_123);
    }
}
