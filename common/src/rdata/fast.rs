//! Printing the RDATA a signed zone is mostly made of (RRSIG, NSEC, NS,
//! A, DS) straight into the output line. The general printer makes
//! a `String` per field and per record; writing a re-signed 100,000-name
//! zone spent a quarter of its time there, and jiff's `strftime` and the
//! per-octet formatting of names were most of it. Everything printed here
//! is what [`super::format`] prints (a unit test compares the two); what
//! this module does not know, or RDATA that does not fit its layout, goes
//! to the general printer.

use super::{layout, name_len};
use crate::record::RType;
use base64::Engine as _;

/// Appends the presentation form of wire RDATA to `out`: exactly what
/// [`super::format`] returns.
pub fn format_into(rtype: RType, wire: &[u8], out: &mut String) {
    let start = out.len();
    if fast(rtype, wire, out).is_none() {
        out.truncate(start);
        out.push_str(&super::format(rtype, wire));
    }
}

/// Appends the type as output writes it (see [`super::type_text`]).
pub fn push_type(out: &mut String, rtype: RType) {
    match rtype.mnemonic() {
        Some(name) if layout(rtype).is_some() => out.push_str(name),
        _ => {
            out.push_str("TYPE");
            push_u32(out, u32::from(rtype.0));
        }
    }
}

/// Appends an uncompressed wire name (already checked by [`name_len`])
/// as `Name`'s `Display` writes it, BIND's escapes included.
pub fn push_name(out: &mut String, wire: &[u8]) {
    if wire.first() == Some(&0) {
        out.push('.');
        return;
    }
    let mut at = 0;
    while let Some(&len) = wire.get(at) {
        if len == 0 {
            break;
        }
        let label = wire
            .get(at + 1..at + 1 + usize::from(len))
            .unwrap_or_default();
        for &byte in label {
            match byte {
                b'.' | b';' | b'\\' | b'(' | b')' | b'"' | b'@' | b'$' => {
                    out.push('\\');
                    out.push(byte as char);
                }
                0x21..=0x7e => out.push(byte as char),
                _ => {
                    out.push('\\');
                    push_padded(out, u32::from(byte), 3);
                }
            }
        }
        out.push('.');
        at += 1 + usize::from(len);
    }
}

/// Appends a number in decimal.
pub fn push_u32(out: &mut String, value: u32) {
    push_padded(out, value, 1);
}

/// Appends a number in decimal with at least `width` digits.
fn push_padded(out: &mut String, mut value: u32, width: usize) {
    let mut digits = [b'0'; 10];
    let mut at = digits.len();
    while value > 0 || digits.len() - at < width {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
    }
    for &digit in &digits[at..] {
        out.push(digit as char);
    }
}

/// Appends an RRSIG time as YYYYMMDDHHMMSS in UTC (RFC 4034 §3.2). A
/// 32-bit count of seconds is always between 1970 and 2106, so this is
/// what `crate::time::format_timestamp` prints for it.
fn push_time(out: &mut String, seconds: u32) {
    let days = i64::from(seconds / 86_400);
    let rest = seconds % 86_400;
    // Days to a civil date (H. Hinnant, "chrono-Compatible Low-Level Date
    // Algorithms", days_from_civil's inverse).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    for (value, width) in [
        (year, 4),
        (month, 2),
        (day, 2),
        (i64::from(rest / 3600), 2),
        (i64::from(rest / 60 % 60), 2),
        (i64::from(rest % 60), 2),
    ] {
        push_padded(out, value as u32, width);
    }
}

/// Reads the fixed-size head of `wire`, moving it on.
fn take<'a>(wire: &mut &'a [u8], len: usize) -> Option<&'a [u8]> {
    let (head, rest) = wire.split_at_checked(len)?;
    *wire = rest;
    Some(head)
}

fn u16_at(wire: &mut &[u8]) -> Option<u16> {
    take(wire, 2).map(|b| u16::from_be_bytes([b[0], b[1]]))
}

fn u32_at(wire: &mut &[u8]) -> Option<u32> {
    take(wire, 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// A name field: its text appended, `wire` moved past it.
fn name_at(wire: &mut &[u8], out: &mut String) -> Option<()> {
    let len = name_len(wire).ok()?;
    let name = take(wire, len)?;
    push_name(out, name);
    Some(())
}

/// A type bitmap to the end, as the general printer writes it (types
/// joined by spaces; nothing for an empty bitmap, and then no space).
fn bitmap(wire: &[u8], out: &mut String) -> Option<()> {
    let mut i = 0;
    let mut last_window = None;
    while i < wire.len() {
        let window = *wire.get(i)?;
        let length = usize::from(*wire.get(i + 1)?);
        if length == 0 || length > 32 || last_window.is_some_and(|w| w >= window) {
            return None;
        }
        last_window = Some(window);
        let bits = wire.get(i + 2..i + 2 + length)?;
        for (octet, &value) in bits.iter().enumerate() {
            for bit in 0..8 {
                if value & (0x80 >> bit) != 0 {
                    out.push(' ');
                    push_type(
                        out,
                        RType(u16::from(window) << 8 | (octet * 8 + bit) as u16),
                    );
                }
            }
        }
        i += 2 + length;
    }
    Some(())
}

fn fast(rtype: RType, wire: &[u8], out: &mut String) -> Option<()> {
    let mut rest = wire;
    let wire = &mut rest;
    match rtype.0 {
        // A
        1 => {
            let a = take(wire, 4)?;
            for (i, &octet) in a.iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                push_u32(out, u32::from(octet));
            }
        }
        // NS CNAME PTR DNAME and the other one-name types
        2 | 3 | 4 | 5 | 7 | 8 | 9 | 12 | 39 => name_at(wire, out)?,
        // DS CDS
        43 | 59 => {
            let tag = u16_at(wire)?;
            let head = take(wire, 2)?;
            if wire.is_empty() {
                return None;
            }
            push_u32(out, u32::from(tag));
            for value in head {
                out.push(' ');
                push_u32(out, u32::from(*value));
            }
            out.push(' ');
            data_encoding::HEXUPPER.encode_append(wire, out);
            *wire = &[];
        }
        // SIG RRSIG
        24 | 46 => {
            let covered = RType(u16_at(wire)?);
            let head = take(wire, 2)?;
            let original_ttl = u32_at(wire)?;
            let expiration = u32_at(wire)?;
            let inception = u32_at(wire)?;
            let key_tag = u16_at(wire)?;
            push_type(out, covered);
            for value in head {
                out.push(' ');
                push_u32(out, u32::from(*value));
            }
            out.push(' ');
            push_u32(out, original_ttl);
            out.push(' ');
            push_time(out, expiration);
            out.push(' ');
            push_time(out, inception);
            out.push(' ');
            push_u32(out, u32::from(key_tag));
            out.push(' ');
            name_at(wire, out)?;
            if !wire.is_empty() {
                out.push(' ');
                base64::engine::general_purpose::STANDARD.encode_string(*wire, out);
                *wire = &[];
            }
        }
        // NSEC
        47 => {
            name_at(wire, out)?;
            bitmap(wire, out)?;
            *wire = &[];
        }
        _ => return None,
    }
    wire.is_empty().then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(rtype: RType, wire: &[u8]) -> (String, String) {
        let mut fast = String::from("x ");
        format_into(rtype, wire, &mut fast);
        (fast, format!("x {}", super::super::format(rtype, wire)))
    }

    #[test]
    fn fast_printing_is_the_general_printing() {
        let rrsig = |covered: u16, times: (u32, u32), signer: &[u8], signature: &[u8]| {
            let mut w = covered.to_be_bytes().to_vec();
            w.extend_from_slice(&[13, 2, 0, 0, 14, 16]);
            w.extend_from_slice(&times.0.to_be_bytes());
            w.extend_from_slice(&times.1.to_be_bytes());
            w.extend_from_slice(&[0x3a, 0x7f]);
            w.extend_from_slice(signer);
            w.extend_from_slice(signature);
            w
        };
        let signer = b"\x07Example\x03c;m\x00";
        let mut cases: Vec<(u16, Vec<u8>)> = vec![
            (1, vec![192, 0, 2, 255]),
            (1, vec![192, 0, 2]),
            (2, b"\x02n\x01\x03a\\b\x04\xff @.\x00".to_vec()),
            (2, b"\x00".to_vec()),
            (2, b"\x02ns\x00\x00".to_vec()),
            (5, b"\x40".to_vec()),
            (43, vec![0xfd, 0xe8, 13, 2, 0xab, 0x01]),
            (43, vec![0xfd, 0xe8, 13, 2]),
            (47, b"\x01a\x00\x00\x06\x62\x01\x80\x08\x00\x03".to_vec()),
            (47, b"\x01a\x00".to_vec()),
            (47, b"\x01a\x00\x00\x00".to_vec()),
            (47, b"\x01a\x00\x01\x01\x40\x00\x01\x40".to_vec()),
            (47, b"\x01a\x00\x00\x01\x40\xff\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01".to_vec()),
        ];
        // Times at the edges of the 32-bit range, leap days, year ends.
        for times in [
            (0, u32::MAX),
            (951_782_400, 951_868_799),
            (4_107_542_399, 4_107_542_400),
            (1_798_761_600, 1_767_225_599),
        ] {
            cases.push((46, rrsig(1, times, signer, b"\x01\x02\x03\x04\x05")));
            cases.push((24, rrsig(65_280, times, b"\x00", b"")));
        }
        cases.push((46, rrsig(47, (1, 2), b"\x01a", b"")));
        cases.push((46, vec![0, 1, 13]));
        for (rtype, wire) in cases {
            let (fast, general) = both(RType(rtype), &wire);
            assert_eq!(fast, general, "type {rtype} {wire:?}");
        }
    }

    #[test]
    fn types_print_as_output_writes_them() {
        for number in [1, 46, 47, 65, 99, 255, 256, 1234, 65_280, 65_535] {
            let mut out = String::new();
            push_type(&mut out, RType(number));
            assert_eq!(out, super::super::type_text(RType(number)));
        }
    }
}
