//! Local wall-clock time, for the times people read: the result screen, the manager's
//! lists and timelines, and where an end-of-day report starts and stops.
//!
//! The journal stores UTC and only the faces convert. The zone is the system's (the `TZ`
//! variable, else `/etc/localtime`), read with its daylight-saving rules by jiff, so each
//! instant gets the offset that was in force at that instant. When no zone can be found
//! (a stripped-down image without zoneinfo) times are shown in UTC and say so.

use std::ops::Range;
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

/// The zone's name as reports print it (`Asia/Shanghai`), so a time in an export or a
/// close record says which wall clock it was read on; `UTC` when no zone is known, and the
/// POSIX rule text for a zone without an IANA name (a `TZ=EST5EDT,...` value).
pub fn zone_name() -> String {
    match system_zone() {
        Some(zone) => zone
            .iana_name()
            .map_or_else(|| zone_label(zone), ToOwned::to_owned),
        None => "UTC".to_owned(),
    }
}

fn zone_label(zone: &jiff::tz::TimeZone) -> String {
    let now = jiff::Timestamp::now();
    let offset = zone.to_offset(now);
    format!("UTC{offset}")
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

/// The instants a local calendar day covers: from its first local midnight up to the next
/// day's. The one definition of "a day" for the manager's lists, the end-of-day totals, the
/// journal report and the command line, so they all count the same payments.
///
/// Each bound gets the offset in force at *that* instant, so a day with a daylight-saving
/// change is 23 or 25 hours long. A midnight that does not exist (a zone that springs
/// forward at 00:00) starts the day at the first instant after the gap. Without a known
/// zone the day is the UTC day.
pub fn day_bounds(date: Date) -> Range<OffsetDateTime> {
    match system_zone() {
        Some(zone) => day_bounds_in(zone, date),
        None => utc_day(date),
    }
}

fn utc_day(date: Date) -> Range<OffsetDateTime> {
    let start = date.midnight().assume_utc();
    start..start + time::Duration::days(1)
}

fn day_bounds_in(zone: &jiff::tz::TimeZone, date: Date) -> Range<OffsetDateTime> {
    let start = local_midnight(zone, date);
    let end = date.next_day().and_then(|next| local_midnight(zone, next));
    match (start, end) {
        (Some(start), Some(end)) => start..end,
        // Outside the range jiff can represent (years beyond ±9999): the UTC day.
        _ => utc_day(date),
    }
}

fn local_midnight(zone: &jiff::tz::TimeZone, date: Date) -> Option<OffsetDateTime> {
    let civil = jiff::civil::date(
        i16::try_from(date.year()).ok()?,
        i8::try_from(u8::from(date.month())).ok()?,
        i8::try_from(date.day()).ok()?,
    );
    // `compatible`: a midnight inside a spring-forward gap maps to the instant after it, and
    // an ambiguous one (fall back at 00:00) to its first occurrence.
    let zoned = civil.to_zoned_datetime(zone.clone()).ok()?;
    OffsetDateTime::from_unix_timestamp(zoned.timestamp().as_second()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(name: &str) -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get(name).expect("Debian's tzdata has this zone")
    }

    fn date(y: i32, m: u8, d: u8) -> Date {
        Date::from_calendar_date(y, time::Month::try_from(m).unwrap(), d).unwrap()
    }

    #[test]
    fn a_day_runs_from_local_midnight_to_the_next() {
        let day = day_bounds_in(&zone("Asia/Shanghai"), date(2026, 12, 1));
        assert_eq!(day.start.unix_timestamp(), 1_796_054_400); // 2026-11-30T16:00:00Z
        assert_eq!(day.end - day.start, time::Duration::hours(24));
    }

    #[test]
    fn days_with_a_daylight_saving_change_are_23_or_25_hours() {
        let new_york = zone("America/New_York");
        let spring = day_bounds_in(&new_york, date(2026, 3, 8));
        assert_eq!(spring.end - spring.start, time::Duration::hours(23));
        assert_eq!(spring.start.unix_timestamp(), 1_772_946_000); // 05:00Z, EST
        let autumn = day_bounds_in(&new_york, date(2026, 11, 1));
        assert_eq!(autumn.end - autumn.start, time::Duration::hours(25));
        assert_eq!(autumn.start.unix_timestamp(), 1_793_505_600); // 04:00Z, EDT
    }

    #[test]
    fn a_missing_midnight_starts_the_day_after_the_gap() {
        // Santiago springs forward at 00:00 (2026-09-06): that midnight never happens.
        let day = day_bounds_in(&zone("America/Santiago"), date(2026, 9, 6));
        assert_eq!(day.end - day.start, time::Duration::hours(23));
        let start = day.start.to_offset(UtcOffset::from_hms(-3, 0, 0).unwrap());
        assert_eq!((start.hour(), start.minute()), (1, 0));
    }

    #[test]
    fn consecutive_days_tile_without_gap_or_overlap() {
        let new_york = zone("America/New_York");
        let mut day = date(2026, 1, 1);
        for _ in 0..366 {
            let next = day.next_day().unwrap();
            assert_eq!(
                day_bounds_in(&new_york, day).end,
                day_bounds_in(&new_york, next).start
            );
            day = next;
        }
    }

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
