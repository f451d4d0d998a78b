//! The time formats AMS puts on the wire.
//!
//! Body `Datetime` fields and the `response-time` header are ISO 8601 with an explicit
//! offset and seconds precision (`2019-11-27T12:01:01+08:00`). The `request-time` header is
//! epoch milliseconds in the current docs, but two official SDKs still send ISO 8601, so a
//! receiver has to take both. Signatures cover the header *text*, so callers must keep the
//! original string for verification and use the parsed instant only for clock checks.

use std::fmt;
use std::str::FromStr;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A time string that is not in a form AMS uses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} `{input}`: {reason}")]
pub struct TimeFormatError {
    /// What was being parsed ("ISO 8601 date-time", "request-time header"), for the message.
    pub what: &'static str,
    /// The offending text, kept so that logs show exactly what the peer sent.
    pub input: String,
    pub reason: String,
}

impl TimeFormatError {
    fn new(what: &'static str, input: &str, reason: impl fmt::Display) -> Self {
        Self {
            what,
            input: input.to_owned(),
            reason: reason.to_string(),
        }
    }
}

/// Formats an instant the way AMS writes `Datetime` fields and `response-time`.
///
/// Sub-second precision is dropped (truncated, not rounded) because the docs specify
/// seconds precision. UTC is written `+00:00`, never `Z`, since every example in the docs
/// carries a numeric offset and some receivers compare shapes literally. Formatting is
/// done by hand so that it cannot fail; offsets with a seconds part (which no real zone
/// uses today) lose that part.
pub fn format_datetime(t: OffsetDateTime) -> String {
    let offset = t.offset();
    let (oh, om, _) = offset.as_hms();
    let sign = if offset.is_negative() { '-' } else { '+' };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        sign,
        oh.unsigned_abs(),
        om.unsigned_abs(),
    )
}

/// Parses an AMS `Datetime`.
///
/// Accepts RFC 3339 (the ISO 8601 profile AMS uses): a mandatory offset written `+hh:mm`,
/// `-hh:mm` or `Z`, optional fractional seconds (the docs' own sample
/// `2019-07-12T12:08:56.253+05:30` has them). Times without an offset are rejected because
/// the instant would be ambiguous.
pub fn parse_datetime(s: &str) -> Result<OffsetDateTime, TimeFormatError> {
    OffsetDateTime::parse(s, &Rfc3339).map_err(|e| TimeFormatError::new("ISO 8601 date-time", s, e))
}

/// The instant carried by a `request-time` header, in whichever of the two forms it came.
///
/// Keeping the form lets a simulator answer in kind and lets logs show what the peer sent;
/// the signature check must still use the raw header text, not a re-rendering of this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestTime {
    /// Decimal milliseconds since the Unix epoch (current docs, global-open-sdk-java).
    EpochMillis(OffsetDateTime),
    /// ISO 8601 with offset (older docs, Python SDK, ams-java-sdk).
    Iso8601(OffsetDateTime),
}

impl RequestTime {
    /// Parses a header value. A value made only of ASCII digits is epoch *milliseconds*;
    /// seconds are not guessed at, because a 10-digit value would then be ambiguous.
    pub fn parse(s: &str) -> Result<Self, TimeFormatError> {
        const WHAT: &str = "request-time header";
        if s.is_empty() {
            return Err(TimeFormatError::new(WHAT, s, "empty"));
        }
        if s.bytes().all(|b| b.is_ascii_digit()) {
            let millis: i64 = s
                .parse()
                .map_err(|e| TimeFormatError::new(WHAT, s, format!("epoch milliseconds: {e}")))?;
            return millis_to_instant(millis)
                .map(Self::EpochMillis)
                .map_err(|e| TimeFormatError::new(WHAT, s, e));
        }
        parse_datetime(s).map(Self::Iso8601).map_err(|e| {
            TimeFormatError::new(
                WHAT,
                s,
                format!("expected epoch milliseconds or ISO 8601: {}", e.reason),
            )
        })
    }

    /// The instant, whatever form it was written in.
    pub fn instant(&self) -> OffsetDateTime {
        match *self {
            Self::EpochMillis(t) | Self::Iso8601(t) => t,
        }
    }
}

impl FromStr for RequestTime {
    type Err = TimeFormatError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for RequestTime {
    /// Renders in the same form the value was parsed from (ISO at seconds precision), for
    /// logs; never for signature checks.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::EpochMillis(t) => f.write_str(&millis_header(t)),
            Self::Iso8601(t) => f.write_str(&format_datetime(t)),
        }
    }
}

/// The instant of a `request-time` header in either form (see [`RequestTime::parse`]),
/// for callers that only need the clock value.
pub fn parse_request_time(s: &str) -> Result<OffsetDateTime, TimeFormatError> {
    RequestTime::parse(s).map(|t| t.instant())
}

fn millis_to_instant(ms: i64) -> Result<OffsetDateTime, time::error::ComponentRange> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
}

/// Epoch milliseconds of `t`, as the current docs want in `request-time`.
pub fn millis_header(t: OffsetDateTime) -> String {
    (t.unix_timestamp_nanos() / 1_000_000).to_string()
}

/// The `request-time` header for a request sent now, in the current docs' millisecond form.
pub fn now_millis_header() -> String {
    millis_header(OffsetDateTime::now_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn formats_with_numeric_offset_and_seconds_precision() {
        assert_eq!(
            format_datetime(datetime!(2019-11-27 12:01:01.987 +08:00)),
            "2019-11-27T12:01:01+08:00"
        );
        assert_eq!(
            format_datetime(datetime!(2025-01-01 00:00:00 UTC)),
            "2025-01-01T00:00:00+00:00"
        );
        assert_eq!(
            format_datetime(datetime!(2020-06-11 13:35:02 -07:00)),
            "2020-06-11T13:35:02-07:00"
        );
        assert_eq!(
            format_datetime(datetime!(2020-06-11 13:35:02 +08:30)),
            "2020-06-11T13:35:02+08:30"
        );
        assert_eq!(
            format_datetime(datetime!(2020-06-11 13:35:02 -03:30)),
            "2020-06-11T13:35:02-03:30"
        );
    }

    #[test]
    fn parses_plain_fractional_and_z_forms() {
        assert_eq!(
            parse_datetime("2019-11-27T12:01:01+08:00"),
            Ok(datetime!(2019-11-27 12:01:01 +08:00))
        );
        assert_eq!(
            parse_datetime("2019-07-12T12:08:56.253+05:30"),
            Ok(datetime!(2019-07-12 12:08:56.253 +05:30))
        );
        assert_eq!(
            parse_datetime("2025-01-01T00:00:00Z"),
            Ok(datetime!(2025-01-01 00:00:00 UTC))
        );
        assert_eq!(
            parse_datetime("2025-01-01T00:00:00.5Z"),
            Ok(datetime!(2025-01-01 00:00:00.5 UTC))
        );
    }

    #[test]
    fn format_then_parse_is_identity_at_seconds_precision() {
        let t = datetime!(2024-02-29 23:59:59 -08:00);
        assert_eq!(parse_datetime(&format_datetime(t)), Ok(t));
    }

    #[test]
    fn rejects_missing_offset_and_garbage() {
        for bad in [
            "2019-11-27T12:01:01",
            "2019-11-27",
            "2019-11-27 12:01:01+08:00x",
            "2019-13-27T12:01:01+08:00",
            "",
            "yesterday",
        ] {
            let err = parse_datetime(bad).expect_err(bad);
            assert_eq!(err.input, bad);
            assert!(err.to_string().contains("ISO 8601"), "{err}");
        }
    }

    #[test]
    fn request_time_accepts_epoch_millis() {
        let rt = RequestTime::parse("1735689600000").unwrap();
        assert_eq!(
            rt,
            RequestTime::EpochMillis(datetime!(2025-01-01 00:00:00 UTC))
        );
        assert_eq!(rt.instant(), datetime!(2025-01-01 00:00:00 UTC));
        assert_eq!(rt.to_string(), "1735689600000");
        let rt: RequestTime = "1685599933871".parse().unwrap();
        assert_eq!(rt.instant(), datetime!(2023-06-01 06:12:13.871 UTC));
    }

    #[test]
    fn request_time_accepts_iso_forms_of_both_sdks() {
        let py = RequestTime::parse("2025-01-01T00:00:00+00:00").unwrap();
        assert_eq!(py.instant(), datetime!(2025-01-01 00:00:00 UTC));
        assert_eq!(py.to_string(), "2025-01-01T00:00:00+00:00");
        assert_eq!(
            parse_request_time("1735689600000"),
            Ok(datetime!(2025-01-01 00:00:00 UTC))
        );
        assert_eq!(
            parse_request_time("2019-07-12T12:08:56.253+05:30"),
            Ok(datetime!(2019-07-12 12:08:56.253 +05:30))
        );
        let java = RequestTime::parse("2020-06-11T13:35:02+08:00").unwrap();
        assert_eq!(
            java,
            RequestTime::Iso8601(datetime!(2020-06-11 13:35:02 +08:00))
        );
        assert_eq!(java.instant(), datetime!(2020-06-11 05:35:02 UTC));
    }

    #[test]
    fn request_time_rejects_other_text() {
        for bad in [
            "",
            "-1735689600000",
            "1735689600000.5",
            "now",
            "99999999999999999999",
        ] {
            let err = RequestTime::parse(bad).expect_err(bad);
            assert!(err.to_string().contains("request-time"), "{err}");
        }
    }

    #[test]
    fn millis_header_is_epoch_millis() {
        assert_eq!(
            millis_header(datetime!(2025-01-01 00:00:00.123456 UTC)),
            "1735689600123"
        );
        let now = now_millis_header();
        assert!(now.bytes().all(|b| b.is_ascii_digit()), "{now}");
        let parsed = RequestTime::parse(&now).unwrap().instant();
        let drift = (OffsetDateTime::now_utc() - parsed).whole_seconds().abs();
        assert!(drift < 60, "{drift}");
    }
}
