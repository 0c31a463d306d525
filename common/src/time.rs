//! Times as the BIND tools write and read them (bind-tools.md §7.3):
//! `YYYYMMDDHHMMSS` in UTC, ctime strings in local time, and the date and
//! offset syntax of `-P -A -R -I -D` and of signzone's `-s -e -X`.
//!
//! Time is seconds since the epoch (`i64`). "Now" is passed in, never read
//! here, so that output can be reproduced in tests.

use crate::error::{Error, Result};
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// The current time in seconds. The only place the clock is read; the
/// environment variable `P11DNSSEC_NOW` (seconds) pins it, for tests and
/// reproducible output.
pub fn now() -> i64 {
    if let Some(pinned) = std::env::var("P11DNSSEC_NOW")
        .ok()
        .and_then(|v| v.parse::<i64>().ok())
    {
        return pinned;
    }
    Timestamp::now().as_second()
}

/// `YYYYMMDDHHMMSS` in UTC, as in key files and RRSIG records.
pub fn format_timestamp(seconds: i64) -> String {
    match Timestamp::from_second(seconds) {
        Ok(ts) => TimeZone::UTC
            .to_datetime(ts)
            .strftime("%Y%m%d%H%M%S")
            .to_string(),
        Err(_) => "00000000000000".into(),
    }
}

/// C `ctime()` of the instant in local time, without the newline:
/// `Thu Jan  1 00:00:00 1970`.
pub fn format_ctime_local(seconds: i64) -> String {
    match Timestamp::from_second(seconds) {
        Ok(ts) => local_zone()
            .to_datetime(ts)
            .strftime("%a %b %e %H:%M:%S %Y")
            .to_string(),
        Err(_) => String::new(),
    }
}

/// The local time zone: `/etc/localtime` itself when `TZ` is unset, for
/// jiff's `TimeZone::system()` walks all of /usr/share/zoneinfo to name
/// it (0.15 s, 4% of re-signing a 100k zone) and the name is not needed.
fn local_zone() -> TimeZone {
    if std::env::var_os("TZ").is_none() {
        if let Ok(data) = std::fs::read("/etc/localtime") {
            if let Ok(zone) = TimeZone::tzif("Local", &data) {
                return zone;
            }
        }
    }
    TimeZone::system()
}

/// Parses `YYYYMMDDHHMMSS` (or `YYYYMMDD`) as UTC.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| text.get(range)?.parse::<i32>().ok();
    let (year, month, day) = (digits(0..4)?, digits(4..6)?, digits(6..8)?);
    let (hour, minute, second) = match text.len() {
        8 => (0, 0, 0),
        14 => (digits(8..10)?, digits(10..12)?, digits(12..14)?),
        _ => return None,
    };
    let civil = DateTime::new(
        i16::try_from(year).ok()?,
        i8::try_from(month).ok()?,
        i8::try_from(day).ok()?,
        i8::try_from(hour).ok()?,
        i8::try_from(minute).ok()?,
        i8::try_from(second).ok()?,
        0,
    )
    .ok()?;
    Some(TimeZone::UTC.to_timestamp(civil).ok()?.as_second())
}

/// A parsed `-P`/`-A`/… value: a time, or explicitly unset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyTime {
    Set(i64),
    Unset,
}

/// Parses BIND's date/offset syntax. `relative_base` is what a bare
/// `+N`/`-N` counts from: now for key dates and `-s`, the inception for
/// signzone's `-e` and `-X`.
pub fn parse_bind_time(text: &str, now: i64, relative_base: i64) -> Result<KeyTime> {
    let invalid = || Error::usage(format!("time value '{text}' is invalid"));
    let lower = text.to_ascii_lowercase();
    if matches!(lower.as_str(), "none" | "never" | "unset") {
        return Ok(KeyTime::Unset);
    }
    if text == "0" || text == "-" {
        return Ok(KeyTime::Set(0));
    }
    if text.starts_with('+') || text.starts_with('-') {
        return relative_base
            .checked_add(parse_offset(text)?)
            .map(KeyTime::Set)
            .ok_or_else(invalid);
    }
    // A base time, then optionally an offset.
    let (base, rest) = if lower.starts_with("now") {
        (now, &text[3..])
    } else if text.as_bytes().first().is_some_and(u8::is_ascii_uppercase) {
        let (Some(ctime), Some(rest)) = (text.get(..24), text.get(24..)) else {
            return Err(invalid());
        };
        (parse_ctime_local(ctime).ok_or_else(invalid)?, rest)
    } else {
        let digits = text.bytes().take_while(u8::is_ascii_digit).count();
        let (head, rest) = text.split_at(digits);
        let base = match digits {
            8 | 14 => parse_timestamp(head).ok_or_else(invalid)?,
            10 => head.parse::<i64>().map_err(|_| invalid())?,
            _ => return Err(invalid()),
        };
        (base, rest)
    };
    if rest.is_empty() {
        return Ok(KeyTime::Set(base));
    }
    if !(rest.starts_with('+') || rest.starts_with('-')) {
        return Err(invalid());
    }
    // Checked: an offset near i64::MAX must be refused, not wrapped into
    // a time that looks valid.
    base.checked_add(parse_offset(rest)?)
        .map(KeyTime::Set)
        .ok_or_else(invalid)
}

/// `+N[unit]` or `-N[unit]`: seconds.
fn parse_offset(text: &str) -> Result<i64> {
    let (sign, body) = match text.split_at(1) {
        ("+", body) => (1, body),
        ("-", body) => (-1, body),
        _ => return Err(Error::usage(format!("time value '{text}' is invalid"))),
    };
    Ok(sign * parse_duration(body).map_err(|e| e.with_value(text))?)
}

/// A duration with BIND's command-line units: none or `s` seconds, `mi`
/// minutes, `h` hours, `d` days, `w` weeks, `mo` months (30 days), `y`
/// years (365 days). The number may be `0x` hex, as C's strtol reads it.
pub fn parse_duration(text: &str) -> std::result::Result<i64, DurationError> {
    let (number, unit) =
        if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            let end = hex
                .find(|c: char| !c.is_ascii_hexdigit())
                .unwrap_or(hex.len());
            let value = i64::from_str_radix(&hex[..end], 16).map_err(|_| DurationError::Invalid)?;
            (value, &hex[end..])
        } else {
            let end = text
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(text.len());
            let value = text[..end]
                .parse::<i64>()
                .map_err(|_| DurationError::Invalid)?;
            (value, &text[end..])
        };
    let multiplier = match unit.to_ascii_lowercase().as_str() {
        "" | "s" => 1,
        "mi" => 60,
        "h" => 3600,
        "d" => 86400,
        "w" => 7 * 86400,
        "mo" => 30 * 86400,
        "y" => 365 * 86400,
        "m" => return Err(DurationError::AmbiguousM),
        _ => return Err(DurationError::Invalid),
    };
    number.checked_mul(multiplier).ok_or(DurationError::Invalid)
}

/// Why a duration did not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DurationError {
    Invalid,
    AmbiguousM,
}

impl DurationError {
    /// The usage error for this value, in BIND's words.
    pub fn with_value(self, text: &str) -> Error {
        match self {
            DurationError::Invalid => Error::usage(format!("time value '{text}' is invalid")),
            DurationError::AmbiguousM => Error::usage(format!(
                "'{text}' ambiguous: use 'mi' for minutes or 'mo' for months"
            )),
        }
    }
}

/// A TTL argument (`-L`, `-T`): a duration, or `none`/`never`/`unset` = 0.
pub fn parse_ttl_argument(text: &str) -> Result<u32> {
    if matches!(
        text.to_ascii_lowercase().as_str(),
        "none" | "never" | "unset"
    ) {
        return Ok(0);
    }
    let seconds = parse_duration(text).map_err(|e| e.with_value(text))?;
    u32::try_from(seconds).map_err(|_| Error::usage(format!("TTL '{text}' is out of range")))
}

fn parse_ctime_local(text: &str) -> Option<i64> {
    let civil = DateTime::strptime("%a %b %e %H:%M:%S %Y", text.trim())
        .or_else(|_| DateTime::strptime("%a %b %d %H:%M:%S %Y", text.trim()))
        .ok()?;
    Some(TimeZone::system().to_timestamp(civil).ok()?.as_second())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_796_400_000; // 2026-12-04 16:00:00 UTC

    #[test]
    fn timestamps_round_trip() {
        assert_eq!(format_timestamp(0), "19700101000000");
        assert_eq!(parse_timestamp("19700101000000"), Some(0));
        assert_eq!(parse_timestamp("20261129181951"), Some(1_795_976_391));
        assert_eq!(format_timestamp(1_795_976_391), "20261129181951");
        assert_eq!(parse_timestamp("20261129"), Some(1_795_910_400));
        assert_eq!(parse_timestamp("2026112"), None);
        assert_eq!(parse_timestamp("20261329000000"), None);
    }

    #[test]
    fn bind_date_syntax() {
        let parse = |t: &str| parse_bind_time(t, NOW, NOW - 3600).expect(t);
        assert_eq!(parse("now"), KeyTime::Set(NOW));
        assert_eq!(parse("NOW+1h"), KeyTime::Set(NOW + 3600));
        assert_eq!(parse("+31536000"), KeyTime::Set(NOW - 3600 + 31_536_000));
        assert_eq!(parse("-1d"), KeyTime::Set(NOW - 3600 - 86400));
        assert_eq!(parse("+0x10"), KeyTime::Set(NOW - 3600 + 16));
        assert_eq!(parse("+2mo"), KeyTime::Set(NOW - 3600 + 60 * 86400));
        assert_eq!(parse("+1y"), KeyTime::Set(NOW - 3600 + 365 * 86400));
        assert_eq!(parse("+3mi"), KeyTime::Set(NOW - 3600 + 180));
        assert_eq!(parse("+1w"), KeyTime::Set(NOW - 3600 + 604_800));
        assert_eq!(parse("0"), KeyTime::Set(0));
        assert_eq!(parse("-"), KeyTime::Set(0));
        assert_eq!(parse("never"), KeyTime::Unset);
        assert_eq!(
            parse("20261129"),
            KeyTime::Set(parse_timestamp("20261129").expect("date"))
        );
        assert_eq!(
            parse("20261129181951+1d"),
            KeyTime::Set(1_795_976_391 + 86400)
        );
        assert_eq!(parse("1795976391"), KeyTime::Set(1_795_976_391));
        assert_eq!(
            parse("20261129181951+315360000"),
            KeyTime::Set(1_795_976_391 + 315_360_000)
        );
    }

    #[test]
    fn bad_dates_are_usage_errors() {
        for text in [
            "+1m",
            "tomorrow",
            "2026",
            "+1x",
            "now+",
            "20261129x",
            "ééééééééééééé",
            // Offsets that overflow when added to the base.
            "+9223372036854775807",
            "now+9223372036854775807",
            "20261129+9223372036854775807",
        ] {
            let error = parse_bind_time(text, NOW, NOW).expect_err(text);
            assert_eq!(error.exit_code(), 2, "{text}");
        }
        assert!(parse_bind_time("+1m", NOW, NOW)
            .expect_err("m")
            .to_string()
            .contains("use 'mi' for minutes or 'mo' for months"));
    }

    #[test]
    fn ttl_arguments() {
        assert_eq!(parse_ttl_argument("3600").expect("ttl"), 3600);
        assert_eq!(parse_ttl_argument("1h").expect("ttl"), 3600);
        assert_eq!(parse_ttl_argument("none").expect("ttl"), 0);
        assert!(parse_ttl_argument("1m").is_err());
        assert!(parse_ttl_argument("99999999999").is_err());
    }
}
