//! Local wall-clock time, for the times people read: the result screen, the manager's
//! lists and timelines, and where an end-of-day report starts and stops.
//!
//! The journal stores UTC and only the faces convert. The zone is the system's (the `TZ`
//! variable, else `/etc/localtime`), read with its daylight-saving rules by jiff, so each
//! instant gets the offset that was in force at that instant. When no zone can be found
//! (a stripped-down image without zoneinfo) times are shown in UTC and say so.

use std::sync::OnceLock;

use time::{Date, OffsetDateTime, UtcOffset};

fn system_zone() -> Option<&'static jiff::tz::TimeZone> {
    static ZONE: OnceLock<Option<jiff::tz::TimeZone>> = OnceLock::new();
    ZONE.get_or_init(|| match jiff::tz::TimeZone::try_system() {
        Ok(zone) => Some(zone),
        Err(error) => {
            tracing::warn!(%error, "no local time zone found; showing times in UTC");
            None
        }
    })
    .as_ref()
}

/// The local offset in force at `at` (UTC when the zone is unknown).
pub fn offset_at(at: OffsetDateTime) -> UtcOffset {
    match system_zone() {
        Some(zone) => offset_in(zone, at),
        None => UtcOffset::UTC,
    }
}

fn offset_in(zone: &jiff::tz::TimeZone, at: OffsetDateTime) -> UtcOffset {
    let Ok(timestamp) = jiff::Timestamp::from_second(at.unix_timestamp()) else {
        return UtcOffset::UTC;
    };
    let seconds = zone.to_offset(timestamp).seconds();
    UtcOffset::from_whole_seconds(seconds).unwrap_or(UtcOffset::UTC)
}

/// `at` as local wall-clock time.
pub fn to_local(at: OffsetDateTime) -> OffsetDateTime {
    at.to_offset(offset_at(at))
}

/// Today's date on the local calendar.
pub fn today() -> Date {
    to_local(OffsetDateTime::now_utc()).date()
}

/// "2026-11-23 14:05:09" in local time, with " UTC" added when the zone is unknown so a
/// UTC time is never mistaken for a local one.
pub fn format_local(at: OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let local = to_local(at);
    let text = local.format(&format).unwrap_or_else(|_| local.to_string());
    if system_zone().is_some() {
        text
    } else {
        format!("{text} UTC")
    }
}

/// "14:05:09" in local time (for timelines, where the date is shown once above).
pub fn format_local_time_of_day(at: OffsetDateTime) -> String {
    let format = time::macros::format_description!("[hour]:[minute]:[second]");
    to_local(at)
        .format(&format)
        .unwrap_or_else(|_| at.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_time_keeps_the_instant() {
        let at = OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap();
        let local = to_local(at);
        assert_eq!(local.unix_timestamp(), at.unix_timestamp());
        assert_eq!(local.offset(), offset_at(at));
    }

    #[test]
    fn the_offset_follows_daylight_saving_time() {
        let new_york = jiff::tz::TimeZone::posix("EST5EDT,M3.2.0,M11.1.0").unwrap();
        // 2026-07-01 12:00 UTC is summer time (UTC-4); 2026-12-01 12:00 UTC is winter (UTC-5).
        let summer = OffsetDateTime::from_unix_timestamp(1_782_907_200).unwrap();
        let winter = OffsetDateTime::from_unix_timestamp(1_796_126_400).unwrap();
        assert_eq!(offset_in(&new_york, summer).whole_hours(), -4);
        assert_eq!(offset_in(&new_york, winter).whole_hours(), -5);
    }

    #[test]
    fn formatted_time_has_date_and_seconds() {
        let at = OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap();
        let text = format_local(at);
        assert!(text.starts_with("2026-"), "{text}");
        assert_eq!(format_local_time_of_day(at).len(), 8);
    }
}
