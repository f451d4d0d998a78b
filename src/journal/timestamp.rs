//! How instants are stored: UTC text of one fixed width with microseconds.
//!
//! Fixed width matters because range queries (`paid_at >= ? AND paid_at < ?`) compare strings:
//! RFC 3339 as `time` writes it drops trailing sub-second digits, and then `…:00Z` would sort
//! after `…:00.5Z`. Offsets from Alipay (`+08:00`) are converted to UTC on the way in; the
//! instant is what matters, and the report code applies the terminal's own offset.

use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

use super::error::JournalError;

const STORED: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// The stored form of `at`; refuses years outside 1..=9999, which cannot be real payment times
/// and would break the fixed width.
pub(crate) fn to_stored(at: OffsetDateTime, field: &'static str) -> Result<String, JournalError> {
    let utc = at.to_offset(UtcOffset::UTC);
    if !(1..=9999).contains(&utc.year()) {
        return Err(JournalError::InvalidInput {
            field,
            reason: format!("{at} is not a plausible time; check the clock"),
        });
    }
    utc.format(STORED).map_err(|e| JournalError::InvalidInput {
        field,
        reason: e.to_string(),
    })
}

/// Reads a stored instant back; anything else is a damaged row.
pub(crate) fn from_stored(text: &str) -> Result<OffsetDateTime, JournalError> {
    PrimitiveDateTime::parse(text, STORED)
        .map(PrimitiveDateTime::assume_utc)
        .map_err(|_| JournalError::Unreadable {
            what: format!("timestamp `{text}`"),
        })
}

pub(crate) fn from_stored_opt(
    text: Option<String>,
) -> Result<Option<OffsetDateTime>, JournalError> {
    text.as_deref().map(from_stored).transpose()
}

/// Drops sub-microsecond digits, so that a value handed back to the caller equals the one
/// that was stored.
pub(crate) fn truncate(at: OffsetDateTime) -> OffsetDateTime {
    let micros = at.microsecond();
    at.replace_nanosecond(micros * 1_000).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn fixed_width_utc_and_round_trip() {
        let at = datetime!(2024-05-01 16:30:00.5 +08:00);
        let stored = to_stored(at, "t").unwrap();
        assert_eq!(stored, "2024-05-01T08:30:00.500000Z");
        assert_eq!(from_stored(&stored).unwrap(), at);
        let whole = to_stored(datetime!(2024-05-01 08:30:00 UTC), "t").unwrap();
        assert_eq!(whole, "2024-05-01T08:30:00.000000Z");
        assert!(whole < stored, "string order is time order");
    }

    #[test]
    fn truncates_to_microseconds() {
        let at = datetime!(2024-05-01 08:30:00.123456789 UTC);
        let stored = to_stored(at, "t").unwrap();
        assert_eq!(from_stored(&stored).unwrap(), truncate(at));
        assert_eq!(truncate(at).nanosecond(), 123_456_000);
    }

    #[test]
    fn refuses_garbage_and_odd_years() {
        assert!(from_stored("yesterday").is_err());
        assert!(from_stored("2024-05-01T08:30:00Z").is_err());
        assert!(to_stored(datetime!(-0001-01-01 0:00 UTC), "t").is_err());
    }
}
