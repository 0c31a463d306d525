//! Zone files: reading master files (RFC 1035 §5, with BIND's extensions
//! and rules for `$TTL`, `$INCLUDE` and missing TTLs).
//!
//! The reader streams records with their RDATA still as tokens; what a
//! record's RDATA means is decided by its type, elsewhere.

pub mod generate;
pub mod lexer;
pub mod model;
pub mod rdatas;
pub mod reader;
pub mod write;

pub use lexer::Token;
pub use reader::{Record, ZoneReader};

/// Parses a TTL as zone files write it: seconds, or units `w d h m s`
/// (any case) in any combination, e.g. `1h30m`, `1W`.
pub fn parse_zone_ttl(text: &str) -> Option<u32> {
    if text.is_empty() {
        return None;
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<u32>().ok();
    }
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    for byte in text.bytes() {
        if byte.is_ascii_digit() {
            let n = number.unwrap_or(0) * 10 + u64::from(byte - b'0');
            if n > u64::from(u32::MAX) {
                return None;
            }
            number = Some(n);
            continue;
        }
        let unit = match byte.to_ascii_lowercase() {
            b'w' => 604_800,
            b'd' => 86_400,
            b'h' => 3_600,
            b'm' => 60,
            b's' => 1,
            _ => return None,
        };
        total += number.take()? * unit;
    }
    total += number.unwrap_or(0);
    u32::try_from(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_ttls_with_units() {
        assert_eq!(parse_zone_ttl("3600"), Some(3600));
        assert_eq!(parse_zone_ttl("1h"), Some(3600));
        assert_eq!(parse_zone_ttl("1H30m"), Some(5400));
        assert_eq!(parse_zone_ttl("1w2d"), Some(777_600));
        assert_eq!(parse_zone_ttl("1h30"), Some(3630));
        assert_eq!(parse_zone_ttl("h"), None);
        assert_eq!(parse_zone_ttl("1x"), None);
        assert_eq!(parse_zone_ttl("4294967296"), None);
        assert_eq!(parse_zone_ttl(""), None);
    }
}
