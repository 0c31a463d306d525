//! Zone files: reading master files (RFC 1035 §5, with BIND's extensions
//! and rules for `$TTL`, `$INCLUDE` and missing TTLs).
//!
//! The reader streams records with their RDATA still as tokens; what a
//! record's RDATA means is decided by its type, elsewhere.

pub mod external_sort;
pub mod generate;
pub mod lexer;
pub mod model;
pub mod rdatas;
pub mod reader;
pub mod signatures;
pub mod write;

pub use lexer::Token;
pub use reader::{Record, ZoneReader};

/// Parses a TTL as zone files write it: seconds, or units `w d h m s`
/// (any case) in any combination, e.g. `1h30m`, `1W`. Every step is
/// checked: a sum past 2^32 - 1 is refused, never wrapped.
pub fn parse_zone_ttl(text: &str) -> Option<u32> {
    if text.is_empty() {
        return None;
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<u32>().ok();
    }
    let mut total: u32 = 0;
    let mut number: Option<u32> = None;
    for byte in text.bytes() {
        if byte.is_ascii_digit() {
            let n = number
                .unwrap_or(0)
                .checked_mul(10)?
                .checked_add(u32::from(byte - b'0'))?;
            number = Some(n);
            continue;
        }
        let unit: u32 = match byte.to_ascii_lowercase() {
            b'w' => 604_800,
            b'd' => 86_400,
            b'h' => 3_600,
            b'm' => 60,
            b's' => 1,
            _ => return None,
        };
        total = total.checked_add(number.take()?.checked_mul(unit)?)?;
    }
    total.checked_add(number.unwrap_or(0))
}

/// The largest TTL (RFC 2181 §8): a TTL with the top bit set is read as
/// zero, as BIND does ("> MAXTTL, setting TTL to 0"), so that the RRSIG's
/// original TTL and the data agree for every validator.
pub const MAX_TTL: u32 = 0x7fff_ffff;

/// How much of an offending token a message quotes: enough to find it,
/// not enough to carry a secret (a zone may include a file that holds one).
pub const EXCERPT_BYTES: usize = 40;

/// A token as messages quote it: at most [`EXCERPT_BYTES`] of it, with
/// control and non-ASCII bytes written `\DDD` as BIND writes them in
/// master files, and `...` where it was cut.
pub fn excerpt(text: impl AsRef<[u8]>) -> String {
    let text = text.as_ref();
    let cut = text.len() > EXCERPT_BYTES;
    let mut out = escape(&text[..text.len().min(EXCERPT_BYTES)]);
    if cut {
        out.push_str("...");
    }
    out
}

/// Bytes as messages show them (file names, excerpts): printable ASCII as
/// is, anything else `\DDD`, so a message stays one line of plain text.
pub fn escape(text: impl AsRef<[u8]>) -> String {
    let mut out = String::with_capacity(text.as_ref().len());
    for &byte in text.as_ref() {
        if (0x20..0x7f).contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("\\{byte:03}"));
        }
    }
    out
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
        assert_eq!(parse_zone_ttl("4294967295s"), Some(u32::MAX));
        assert_eq!(parse_zone_ttl("4294967295s1s"), None);
        assert_eq!(parse_zone_ttl("7102w"), None);
        // 2^64 + 3600 seconds, as a sum of units: refused, not wrapped.
        let huge = "4294967295w".repeat(7000) + "1h";
        assert_eq!(parse_zone_ttl(&huge), None);
    }

    #[test]
    fn excerpts_are_short_and_escaped() {
        assert_eq!(excerpt("abc"), "abc");
        assert_eq!(excerpt(b"a\x00b\nc\xff"), "a\\000b\\010c\\255");
        let long = "PKCS11_PIN=".to_string() + &"9".repeat(60);
        let shown = excerpt(&long);
        assert_eq!(shown.len(), EXCERPT_BYTES + 3);
        assert!(shown.ends_with("..."));
    }
}
