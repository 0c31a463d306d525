//! RDATA in presentation and wire form, for every type in the IANA
//! registry that zones hold, from one table of per-type field kinds.
//!
//! A type's RDATA is a list of [`Field`]s; parsing (tokens to wire),
//! printing (wire to text) and canonicalization (RFC 4034 §6.2, with
//! RFC 6840 §5.1's correction) all walk the same list. The few types whose
//! presentation is not a plain sequence of fields (LOC, WKS, APL, SVCB and
//! HTTPS, IPSECKEY, HIP, A6, AMTRELAY) have a field kind of their own. Any
//! type may be written in RFC 3597's generic form `\# length hex`; types we
//! do not know are printed in it.

use crate::name::{parse_escape, Name};
use crate::record::RType;
use crate::zone::Token;
use base64::Engine as _;
use std::borrow::Cow;
use std::fmt::Write as _;

/// One field of an RDATA layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    U8,
    U16,
    U32,
    /// A 32-bit count of seconds that may be written with TTL units (SOA).
    Ttl,
    /// A domain name. `lower` marks the names RFC 4034 §6.2 lowercases.
    DomainName {
        lower: bool,
    },
    Ipv4,
    Ipv6,
    /// One <character-string>.
    CharString,
    /// One or more <character-string>s, to the end (TXT).
    CharStrings,
    /// Base64 to the end; may be empty when `optional`.
    Base64 {
        optional: bool,
    },
    /// Hex to the end; `-` or nothing means empty when `optional`.
    Hex {
        optional: bool,
    },
    /// Hex with a length octet in front (NSEC3 salt; `-` is empty).
    SaltHex,
    /// Base32hex with a length octet in front (NSEC3 next hashed owner).
    Base32Hex,
    /// An NSEC/NSEC3/CSYNC type bitmap, to the end.
    TypeBitmap,
    /// A DNSSEC algorithm (number or mnemonic) in one octet.
    Algorithm,
    /// A record type in two octets (RRSIG's type covered).
    Type,
    /// An RRSIG time: YYYYMMDDHHMMSS or seconds, in four octets.
    Time,
    /// CERT's certificate type (mnemonic or number), two octets.
    CertType,
    /// A string to the end without a length octet (CAA value, URI target).
    RestString,
    /// CAA's tag: a length octet and letters and digits, printed unquoted.
    CaaTag,
    /// Four groups of 16 bits in hex, `xxxx:xxxx:xxxx:xxxx` (L64, NID).
    Locator64,
    /// EUI-48 or EUI-64: octets in hex joined by `-`.
    Eui(usize),
    /// NSAP: `0x` and hex, dots allowed.
    Nsap,
    /// The NXT type bitmap of RFC 2535 (types below 128).
    NxtBitmap,
    Loc,
    Wks,
    Apl,
    SvcParams,
    IpsecKey,
    Hip,
    A6,
    AmtRelay,
}

use Field::*;

const NAME: Field = DomainName { lower: true };
const NAME_KEEP: Field = DomainName { lower: false };

/// The layout of a type's RDATA, or `None` for types known only generically.
pub fn layout(rtype: RType) -> Option<&'static [Field]> {
    Some(match rtype.0 {
        1 => &[Ipv4],                                   // A
        2 | 3 | 4 | 5 | 7 | 8 | 9 | 12 | 39 => &[NAME], // NS MD MF CNAME MB MG MR PTR DNAME
        6 => &[NAME, NAME, U32, Ttl, Ttl, Ttl, Ttl],    // SOA
        11 => &[Wks],                                   // WKS
        13 => &[CharString, CharString],                // HINFO
        14 => &[NAME, NAME],                            // MINFO
        15 | 18 | 21 | 36 => &[U16, NAME],              // MX AFSDB RT KX
        16 | 99 | 56 | 261 | 262 => &[CharStrings],     // TXT SPF NINFO RESINFO WALLET
        17 => &[NAME, NAME],                            // RP
        19 => &[CharString],                            // X25
        20 => &[CharStrings],                           // ISDN (one or two)
        22 => &[Nsap],                                  // NSAP
        23 => &[NAME_KEEP],                             // NSAP-PTR
        24 | 46 => &[
            Type,
            Algorithm,
            U8,
            U32,
            Time,
            Time,
            U16,
            NAME,
            Base64 { optional: false },
        ], // SIG RRSIG
        25 => &[U16, U8, Algorithm, Base64 { optional: true }], // KEY
        26 => &[U16, NAME, NAME],                       // PX
        27 => &[CharString, CharString, CharString],    // GPOS
        28 => &[Ipv6],                                  // AAAA
        29 => &[Loc],                                   // LOC
        30 => &[NAME, NxtBitmap],                       // NXT
        31 | 32 => &[Hex { optional: false }],          // EID NIMLOC
        33 => &[U16, U16, U16, NAME],                   // SRV
        35 => &[U16, U16, CharString, CharString, CharString, NAME], // NAPTR
        37 => &[CertType, U16, Algorithm, Base64 { optional: false }], // CERT
        38 => &[A6],                                    // A6
        42 => &[Apl],                                   // APL
        43 | 59 | 32768 | 32769 => &[U16, Algorithm, U8, Hex { optional: false }], // DS CDS TA DLV
        44 => &[U8, U8, Hex { optional: false }],       // SSHFP
        45 => &[IpsecKey],                              // IPSECKEY
        47 => &[NAME_KEEP, TypeBitmap],                 // NSEC (RFC 6840 §5.1)
        48 | 60 | 57 => &[U16, U8, Algorithm, Base64 { optional: false }], // DNSKEY CDNSKEY RKEY
        49 | 67 | 68 => &[Base64 { optional: false }],  // DHCID HHIT BRID
        50 => &[U8, U8, U16, SaltHex, Base32Hex, TypeBitmap], // NSEC3
        51 => &[U8, U8, U16, SaltHex],                  // NSEC3PARAM
        52 | 53 => &[U8, U8, U8, Hex { optional: false }], // TLSA SMIMEA
        55 => &[Hip],                                   // HIP
        58 => &[NAME_KEEP, NAME_KEEP],                  // TALINK
        61 => &[Base64 { optional: false }],            // OPENPGPKEY
        62 => &[U32, U16, TypeBitmap],                  // CSYNC
        63 => &[U32, U8, U8, Hex { optional: false }],  // ZONEMD
        64 | 65 => &[U16, NAME_KEEP, SvcParams],        // SVCB HTTPS
        66 => &[Type, U8, U16, NAME_KEEP],              // DSYNC
        104 | 106 => &[U16, Locator64],                 // NID L64
        105 => &[U16, Ipv4],                            // L32
        107 => &[U16, NAME_KEEP],                       // LP
        108 => &[Eui(6)],                               // EUI48
        109 => &[Eui(8)],                               // EUI64
        256 => &[U16, U16, RestString],                 // URI
        257 => &[U8, CaaTag, RestString],               // CAA
        260 => &[AmtRelay],                             // AMTRELAY
        _ => return None,
    })
}

/// Parses RDATA tokens into wire form. Names are relative to `origin`.
pub fn parse(rtype: RType, tokens: &[Token], origin: &Name) -> Result<Vec<u8>, String> {
    if let Some(first) = tokens.first() {
        if !first.quoted && first.text == b"\\#" {
            if let Some(wire) = parse_generic(&tokens[1..])? {
                if let Some(fields) = layout(rtype) {
                    // The generic form must still hold valid RDATA.
                    check_wire(fields, &wire)
                        .map_err(|e| format!("bad {rtype} RDATA in \\# form: {e}"))?;
                }
                return Ok(wire);
            }
        }
    }
    let fields = layout(rtype).ok_or_else(|| {
        format!("type {rtype} has no known presentation format: write its RDATA as \\# length hex")
    })?;
    let mut cursor = Cursor {
        tokens,
        at: 0,
        origin,
    };
    let mut wire = Vec::with_capacity(64);
    for field in fields {
        cursor.field(*field, &mut wire, rtype)?;
    }
    if cursor.at < tokens.len() {
        return Err(format!(
            "too many fields for {rtype}: '{}'",
            crate::zone::excerpt(&tokens[cursor.at].text)
        ));
    }
    if wire.len() > 65535 {
        return Err(format!("{rtype} RDATA longer than 65535 octets"));
    }
    Ok(wire)
}

/// RFC 3597: `\# length hex...`. Returns `None` when the token after `\#`
/// is no length (BIND then reads the RDATA normally, e.g. a TXT `\#`).
fn parse_generic(tokens: &[Token]) -> Result<Option<Vec<u8>>, String> {
    let Some(length) = tokens.first() else {
        return Err("\\# needs a length".into());
    };
    let Ok(length) = length.as_str().parse::<usize>() else {
        return Ok(None);
    };
    let hex: String = tokens[1..]
        .iter()
        .map(|t| t.as_str().into_owned())
        .collect();
    let wire = decode_hex(&hex)
        .ok_or_else(|| format!("bad hex in \\# RDATA '{}'", crate::zone::excerpt(&*hex)))?;
    if wire.len() != length {
        return Err(format!(
            "\\# RDATA length {length} does not match {} octets of data",
            wire.len()
        ));
    }
    if length > 65535 {
        return Err("\\# RDATA longer than 65535 octets".into());
    }
    Ok(Some(wire))
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    data_encoding::HEXLOWER_PERMISSIVE
        .decode(text.as_bytes())
        .ok()
}

struct Cursor<'a> {
    tokens: &'a [Token],
    at: usize,
    origin: &'a Name,
}

impl<'a> Cursor<'a> {
    fn next(&mut self, what: &str) -> Result<&'a Token, String> {
        let token = self
            .tokens
            .get(self.at)
            .ok_or_else(|| format!("missing {what}"))?;
        self.at += 1;
        Ok(token)
    }

    fn peek(&self) -> Option<&'a Token> {
        self.tokens.get(self.at)
    }

    fn rest(&mut self) -> &'a [Token] {
        let rest = &self.tokens[self.at..];
        self.at = self.tokens.len();
        rest
    }

    fn rest_text(&mut self) -> String {
        self.rest()
            .iter()
            .map(|t| t.as_str().into_owned())
            .collect()
    }

    fn number<T: TryFrom<u64>>(&mut self, what: &str) -> Result<T, String> {
        let token = self.next(what)?;
        let text = token.as_str();
        text.parse::<u64>()
            .ok()
            .and_then(|v| T::try_from(v).ok())
            .ok_or_else(|| format!("bad {what} '{}'", crate::zone::excerpt(&*text)))
    }

    fn name(&mut self) -> Result<Name, String> {
        let token = self.next("domain name")?;
        Name::parse_bytes(&token.text, Some(self.origin)).map_err(|e| {
            format!(
                "bad domain name '{}': {e}",
                crate::zone::excerpt(&token.text)
            )
        })
    }

    fn field(&mut self, field: Field, wire: &mut Vec<u8>, rtype: RType) -> Result<(), String> {
        match field {
            U8 => wire.push(self.number::<u8>("8-bit number")?),
            U16 => wire.extend_from_slice(&self.number::<u16>("16-bit number")?.to_be_bytes()),
            U32 => wire.extend_from_slice(&self.number::<u32>("32-bit number")?.to_be_bytes()),
            Ttl => {
                let token = self.next("number")?;
                let value = crate::zone::parse_zone_ttl(&token.as_str())
                    .ok_or_else(|| format!("bad number '{}'", crate::zone::excerpt(&token.text)))?;
                wire.extend_from_slice(&value.to_be_bytes());
            }
            DomainName { .. } => wire.extend_from_slice(self.name()?.wire()),
            Ipv4 => {
                let token = self.next("IPv4 address")?;
                let address: std::net::Ipv4Addr = token.as_str().parse().map_err(|_| {
                    format!("bad IPv4 address '{}'", crate::zone::excerpt(&token.text))
                })?;
                wire.extend_from_slice(&address.octets());
            }
            Ipv6 => {
                let token = self.next("IPv6 address")?;
                let address: std::net::Ipv6Addr = token.as_str().parse().map_err(|_| {
                    format!("bad IPv6 address '{}'", crate::zone::excerpt(&token.text))
                })?;
                wire.extend_from_slice(&address.octets());
            }
            CharString => {
                let token = self.next("character string")?;
                push_char_string(wire, &unescape(&token.text)?)?;
            }
            CaaTag => {
                let token = self.next("CAA tag")?;
                let tag = unescape(&token.text)?;
                if tag.is_empty() || !tag.iter().all(u8::is_ascii_alphanumeric) {
                    return Err(format!(
                        "bad CAA tag '{}'",
                        crate::zone::excerpt(&token.text)
                    ));
                }
                push_char_string(wire, &tag)?;
            }
            CharStrings => {
                let rest = self.rest();
                if rest.is_empty() {
                    return Err("missing character string".into());
                }
                if rtype.0 == 20 && rest.len() > 2 {
                    return Err("ISDN takes one or two strings".into());
                }
                for token in rest {
                    push_char_string(wire, &unescape(&token.text)?)?;
                }
            }
            Base64 { optional } => {
                // A signer writes a signature as one token: decoded as it
                // is, without joining the tokens into a string first.
                if let [token] = &self.tokens[self.at..] {
                    let before = wire.len();
                    if !token.text.is_empty()
                        && base64::engine::general_purpose::STANDARD
                            .decode_vec(&token.text, wire)
                            .is_ok()
                    {
                        self.at = self.tokens.len();
                        return Ok(());
                    }
                    wire.truncate(before);
                }
                let text = self.rest_text();
                if text.is_empty() && !optional {
                    return Err("missing base64 data".into());
                }
                let data = base64::engine::general_purpose::STANDARD
                    .decode(text.as_bytes())
                    .map_err(|_| format!("bad base64 '{}'", crate::zone::excerpt(&*text)))?;
                wire.extend_from_slice(&data);
            }
            Hex { optional } => {
                let text = self.rest_text();
                if (text.is_empty() || text == "-") && optional {
                    return Ok(());
                }
                if text.is_empty() {
                    return Err("missing hex data".into());
                }
                wire.extend_from_slice(
                    &decode_hex(&text)
                        .ok_or_else(|| format!("bad hex '{}'", crate::zone::excerpt(&*text)))?,
                );
            }
            SaltHex => {
                let token = self.next("salt")?;
                let text = token.as_str();
                if text == "-" {
                    wire.push(0);
                } else {
                    let salt = decode_hex(&text)
                        .ok_or_else(|| format!("bad salt '{}'", crate::zone::excerpt(&*text)))?;
                    if salt.len() > 255 {
                        return Err("salt longer than 255 octets".into());
                    }
                    wire.push(salt.len() as u8);
                    wire.extend_from_slice(&salt);
                }
            }
            Base32Hex => {
                let token = self.next("hashed owner name")?;
                let text = token.as_str().to_ascii_uppercase();
                let data = data_encoding::BASE32HEX_NOPAD
                    .decode(text.as_bytes())
                    .map_err(|_| format!("bad base32hex '{}'", crate::zone::excerpt(&*text)))?;
                if data.is_empty() || data.len() > 255 {
                    return Err("bad hashed owner name length".into());
                }
                wire.push(data.len() as u8);
                wire.extend_from_slice(&data);
            }
            TypeBitmap => {
                let mut types = Vec::new();
                for token in self.rest() {
                    let text = token.as_str();
                    types.push(RType::parse(&text).ok_or_else(|| {
                        format!("unknown type '{}' in bitmap", crate::zone::excerpt(&*text))
                    })?);
                }
                wire.extend_from_slice(&type_bitmap(&types));
            }
            Algorithm => {
                let token = self.next("algorithm")?;
                let text = token.as_str();
                let number = text
                    .parse::<u8>()
                    .ok()
                    .or_else(|| algorithm_number(&text))
                    .ok_or_else(|| {
                        format!("unknown algorithm '{}'", crate::zone::excerpt(&*text))
                    })?;
                wire.push(number);
            }
            Type => {
                let token = self.next("type")?;
                let text = token.as_str();
                let rtype = RType::parse(&text)
                    .ok_or_else(|| format!("unknown type '{}'", crate::zone::excerpt(&*text)))?;
                wire.extend_from_slice(&rtype.0.to_be_bytes());
            }
            Time => {
                let token = self.next("time")?;
                let text = token.as_str();
                let value = if text.len() == 14 {
                    // RFC 4034 §3.1.5: a time is a serial number modulo
                    // 2^32 (BIND reads 2106 and later so); not an overflow.
                    rrsig_time(token.text.as_slice())
                } else {
                    text.parse::<u32>().ok()
                };
                let value =
                    value.ok_or_else(|| format!("bad time '{}'", crate::zone::excerpt(&*text)))?;
                wire.extend_from_slice(&value.to_be_bytes());
            }
            CertType => {
                let token = self.next("certificate type")?;
                let text = token.as_str();
                let value = text
                    .parse::<u16>()
                    .ok()
                    .or_else(|| {
                        CERT_TYPES
                            .iter()
                            .find(|(_, n)| n.eq_ignore_ascii_case(&text))
                            .map(|(v, _)| *v)
                    })
                    .ok_or_else(|| {
                        format!(
                            "unknown certificate type '{}'",
                            crate::zone::excerpt(&*text)
                        )
                    })?;
                wire.extend_from_slice(&value.to_be_bytes());
            }
            RestString => {
                let rest = self.rest();
                match rest {
                    [one] => wire.extend_from_slice(&unescape(&one.text)?),
                    [] => return Err("missing string".into()),
                    _ => return Err("the value must be one (quoted) string".into()),
                }
            }
            Locator64 => {
                let token = self.next("locator")?;
                let text = token.as_str();
                let groups: Vec<&str> = text.split(':').collect();
                if groups.len() != 4 {
                    return Err(format!("bad locator '{}'", crate::zone::excerpt(&*text)));
                }
                for group in groups {
                    let value = u16::from_str_radix(group, 16)
                        .map_err(|_| format!("bad locator '{}'", crate::zone::excerpt(&*text)))?;
                    if group.is_empty() || group.len() > 4 {
                        return Err(format!("bad locator '{}'", crate::zone::excerpt(&*text)));
                    }
                    wire.extend_from_slice(&value.to_be_bytes());
                }
            }
            Eui(octets) => {
                let token = self.next("EUI address")?;
                let text = token.as_str();
                let parts: Vec<&str> = text.split('-').collect();
                if parts.len() != octets || parts.iter().any(|p| p.len() != 2) {
                    return Err(format!(
                        "bad EUI address '{}'",
                        crate::zone::excerpt(&*text)
                    ));
                }
                for part in parts {
                    wire.push(u8::from_str_radix(part, 16).map_err(|_| {
                        format!("bad EUI address '{}'", crate::zone::excerpt(&*text))
                    })?);
                }
            }
            Nsap => {
                let token = self.next("NSAP")?;
                let text = token.as_str();
                let hex = text
                    .strip_prefix("0x")
                    .or_else(|| text.strip_prefix("0X"))
                    .ok_or_else(|| {
                        format!(
                            "NSAP must start with 0x: '{}'",
                            crate::zone::excerpt(&*text)
                        )
                    })?;
                let hex: String = hex.chars().filter(|c| *c != '.').collect();
                let data = decode_hex(&hex)
                    .filter(|d| !d.is_empty())
                    .ok_or_else(|| format!("bad NSAP '{}'", crate::zone::excerpt(&*text)))?;
                wire.extend_from_slice(&data);
            }
            NxtBitmap => {
                let mut bits = [0u8; 16];
                let mut max = 0;
                for token in self.rest() {
                    let text = token.as_str();
                    let rtype = RType::parse(&text)
                        .or_else(|| text.parse().ok().map(RType))
                        .ok_or_else(|| {
                            format!("unknown type '{}'", crate::zone::excerpt(&*text))
                        })?;
                    if rtype.0 >= 128 {
                        return Err(format!(
                            "type {} cannot be in an NXT bitmap",
                            crate::zone::excerpt(&*text)
                        ));
                    }
                    bits[rtype.0 as usize / 8] |= 0x80 >> (rtype.0 % 8);
                    max = max.max(rtype.0 as usize / 8 + 1);
                }
                wire.extend_from_slice(&bits[..max]);
            }
            Loc => special::parse_loc(self, wire)?,
            Wks => special::parse_wks(self, wire)?,
            Apl => special::parse_apl(self, wire)?,
            SvcParams => special::parse_svc_params(self, wire)?,
            IpsecKey => special::parse_ipseckey(self, wire)?,
            Hip => special::parse_hip(self, wire)?,
            A6 => special::parse_a6(self, wire)?,
            AmtRelay => special::parse_amtrelay(self, wire)?,
        }
        Ok(())
    }
}

/// An RRSIG time written YYYYMMDDHHMMSS (RFC 4034 §3.2), in UTC, as
/// seconds modulo 2^32: what `crate::time::parse_timestamp` gives for it,
/// without building a jiff date (a fifth of parsing a signed zone's RRSIG
/// records). Every field is checked as jiff checks it; seconds stop at 59,
/// and the last instant is jiff's.
fn rrsig_time(text: &[u8]) -> Option<u32> {
    if text.len() != 14 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let number = |from: usize, to: usize| {
        text[from..to]
            .iter()
            .fold(0i64, |n, &d| n * 10 + i64::from(d - b'0'))
    };
    let (year, month, day) = (number(0, 4), number(4, 6), number(6, 8));
    let (hour, minute, second) = (number(8, 10), number(10, 12), number(12, 14));
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day < 1 || day > month_days || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // Days from the civil date (H. Hinnant, days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
    // jiff's last instant (9999-12-30T22:00:00Z, so that every offset of
    // it is still a date of year 9999); later ones it refuses.
    if seconds > 253_402_207_200 {
        return None;
    }
    Some(seconds.rem_euclid(1 << 32) as u32)
}

/// DNSSEC algorithm mnemonics accepted in KEY, SIG, CERT, DS fields.
fn algorithm_number(text: &str) -> Option<u8> {
    match text.to_ascii_uppercase().as_str() {
        "RSAMD5" => Some(1),
        "DH" => Some(2),
        "DSA" => Some(3),
        "DSA-NSEC3-SHA1" => Some(6),
        "INDIRECT" => Some(252),
        "PRIVATEDNS" => Some(253),
        "PRIVATEOID" => Some(254),
        _ => crate::algorithm::Algorithm::parse(text).map(|a| a.number()),
    }
}

const CERT_TYPES: &[(u16, &str)] = &[
    (1, "PKIX"),
    (2, "SPKI"),
    (3, "PGP"),
    (4, "IPKIX"),
    (5, "ISPKI"),
    (6, "IPGP"),
    (7, "ACPKIX"),
    (8, "IACPKIX"),
    (253, "URI"),
    (254, "OID"),
];

/// Decodes a token's escapes (`\DDD`, `\X`) into bytes.
pub fn unescape(text: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'\\' {
            let (byte, used) = parse_escape(&text[i + 1..])
                .map_err(|_| format!("bad escape in '{}'", crate::zone::excerpt(text)))?;
            out.push(byte);
            i += 1 + used;
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn push_char_string(wire: &mut Vec<u8>, data: &[u8]) -> Result<(), String> {
    if data.len() > 255 {
        return Err("character string longer than 255 octets".into());
    }
    wire.push(data.len() as u8);
    wire.extend_from_slice(data);
    Ok(())
}

/// An NSEC/NSEC3 type bitmap (RFC 4034 §4.1.2) for these types.
pub fn type_bitmap(types: &[RType]) -> Vec<u8> {
    let mut sorted: Vec<u16> = types.iter().map(|t| t.0).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let window = (sorted[i] >> 8) as u8;
        let mut bits = [0u8; 32];
        let mut length = 0;
        while i < sorted.len() && (sorted[i] >> 8) as u8 == window {
            let low = (sorted[i] & 0xFF) as usize;
            bits[low / 8] |= 0x80 >> (low % 8);
            length = low / 8 + 1;
            i += 1;
        }
        out.push(window);
        out.push(length as u8);
        out.extend_from_slice(&bits[..length]);
    }
    out
}

/// The types in a type bitmap.
pub fn bitmap_types(bitmap: &[u8]) -> Result<Vec<RType>, String> {
    let mut types = Vec::new();
    let mut i = 0;
    let mut last_window = None;
    while i < bitmap.len() {
        let (window, length) = match bitmap.get(i..i + 2) {
            Some([w, l]) => (*w, *l as usize),
            _ => return Err("truncated type bitmap".into()),
        };
        if length == 0 || length > 32 || last_window.is_some_and(|w| w >= window) {
            return Err("malformed type bitmap".into());
        }
        last_window = Some(window);
        let bits = bitmap
            .get(i + 2..i + 2 + length)
            .ok_or("truncated type bitmap")?;
        for (octet, &value) in bits.iter().enumerate() {
            for bit in 0..8 {
                if value & (0x80 >> bit) != 0 {
                    types.push(RType(u16::from(window) << 8 | (octet * 8 + bit) as u16));
                }
            }
        }
        i += 2 + length;
    }
    Ok(types)
}

/// Walks wire RDATA against a layout, returning an error if it does not
/// fit; used to check `\#` data of known types.
fn check_wire(fields: &[Field], wire: &[u8]) -> Result<(), String> {
    let mut at = 0;
    for (index, field) in fields.iter().enumerate() {
        let last = index + 1 == fields.len();
        at += field_len(*field, &wire[at..], last)?;
    }
    if at != wire.len() {
        return Err("trailing data".into());
    }
    Ok(())
}

/// The length in octets of one field at the start of `wire`.
fn field_len(field: Field, wire: &[u8], last: bool) -> Result<usize, String> {
    let need = |n: usize| {
        if wire.len() >= n {
            Ok(n)
        } else {
            Err("truncated RDATA".to_string())
        }
    };
    match field {
        U8 | Algorithm => need(1),
        U16 | Type | CertType => need(2),
        U32 | Ttl | Time => need(4),
        Ipv4 => need(4),
        Ipv6 => need(16),
        Locator64 => need(8),
        Eui(n) => need(n),
        DomainName { .. } => name_len(wire),
        CharString | CaaTag | SaltHex | Base32Hex => {
            let len = *wire.first().ok_or("truncated RDATA")? as usize;
            need(1 + len)
        }
        _ if last => Ok(wire.len()),
        _ => Err("field cannot be checked".into()),
    }
}

/// The length of an uncompressed wire name at the start of `wire`.
pub fn name_len(wire: &[u8]) -> Result<usize, String> {
    let mut at = 0;
    loop {
        let len = *wire.get(at).ok_or("truncated name")? as usize;
        if len > 63 {
            return Err("bad label length in name".into());
        }
        at += 1 + len;
        if at > wire.len() || at > 255 {
            return Err("truncated name".into());
        }
        if len == 0 {
            return Ok(at);
        }
    }
}

/// The canonical form of RDATA for signing (RFC 4034 §6.2): the names of
/// the listed types in lower case. Other types are returned as they are.
pub fn canonical(rtype: RType, wire: &[u8]) -> Cow<'_, [u8]> {
    let Some(fields) = layout(rtype) else {
        return Cow::Borrowed(wire);
    };
    let lowers = fields
        .iter()
        .any(|f| matches!(f, DomainName { lower: true }));
    let a6 = rtype.0 == 38;
    if !lowers && !a6 {
        return Cow::Borrowed(wire);
    }
    let mut out = wire.to_vec();
    if a6 {
        // A6: prefix length, address suffix, then the prefix name.
        if let Some(&prefix) = wire.first() {
            let start = 1 + (128 - usize::from(prefix.min(128))) / 8;
            if start < out.len() {
                out[start..].make_ascii_lowercase();
            }
        }
        return Cow::Owned(out);
    }
    let mut at = 0;
    for (index, field) in fields.iter().enumerate() {
        let last = index + 1 == fields.len();
        let Ok(len) = field_len(*field, &wire[at..], last) else {
            return Cow::Borrowed(wire);
        };
        if matches!(field, DomainName { lower: true }) {
            out[at..at + len].make_ascii_lowercase();
        }
        at += len;
    }
    Cow::Owned(out)
}

/// Prints wire RDATA in presentation form; unknown types (and data that
/// does not fit its type's layout) in RFC 3597's generic form.
pub fn format(rtype: RType, wire: &[u8]) -> String {
    layout(rtype)
        .and_then(|fields| format_fields(fields, wire).ok())
        .unwrap_or_else(|| format_generic(wire))
}

/// `\# length hex`.
pub fn format_generic(wire: &[u8]) -> String {
    if wire.is_empty() {
        return "\\# 0".into();
    }
    format!(
        "\\# {} {}",
        wire.len(),
        data_encoding::HEXUPPER.encode(wire)
    )
}

fn format_fields(fields: &[Field], wire: &[u8]) -> Result<String, String> {
    // Room for base64 or hex text of the RDATA: growing the string was 12%
    // of writing a signed zone.
    let mut out = String::with_capacity(wire.len() * 2 + 16);
    let mut at = 0;
    for (index, field) in fields.iter().enumerate() {
        let last = index + 1 == fields.len();
        let rest = &wire[at..];
        let (text, used) = format_field(*field, rest, last)?;
        if !text.is_empty() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&text);
        }
        at += used;
    }
    if at != wire.len() {
        return Err("trailing data".into());
    }
    Ok(out)
}

fn format_field(field: Field, wire: &[u8], last: bool) -> Result<(String, usize), String> {
    let len = field_len(field, wire, last)?;
    let data = &wire[..len];
    let text = match field {
        U8 | Algorithm => data[0].to_string(),
        U16 => u16::from_be_bytes([data[0], data[1]]).to_string(),
        U32 | Ttl => u32::from_be_bytes([data[0], data[1], data[2], data[3]]).to_string(),
        Type => type_text(RType(u16::from_be_bytes([data[0], data[1]]))),
        CertType => {
            let value = u16::from_be_bytes([data[0], data[1]]);
            CERT_TYPES
                .iter()
                .find(|(v, _)| *v == value)
                .map_or_else(|| value.to_string(), |(_, n)| n.to_string())
        }
        Time => crate::time::format_timestamp(i64::from(u32::from_be_bytes([
            data[0], data[1], data[2], data[3],
        ]))),
        DomainName { .. } => name_from_wire(data)?.to_string(),
        Ipv4 => std::net::Ipv4Addr::new(data[0], data[1], data[2], data[3]).to_string(),
        Ipv6 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(data);
            std::net::Ipv6Addr::from(octets).to_string()
        }
        CharString => quote_string(&data[1..]),
        CaaTag => {
            if !data[1..].iter().all(u8::is_ascii_alphanumeric) || data.len() < 2 {
                return Err("bad CAA tag".into());
            }
            String::from_utf8_lossy(&data[1..]).into_owned()
        }
        CharStrings => {
            let mut parts = Vec::new();
            let mut at = 0;
            while at < data.len() {
                let n = data[at] as usize;
                let part = data.get(at + 1..at + 1 + n).ok_or("truncated string")?;
                parts.push(quote_string(part));
                at += 1 + n;
            }
            if parts.is_empty() {
                return Err("no strings".into());
            }
            parts.join(" ")
        }
        Base64 { .. } => {
            if data.is_empty() {
                String::new()
            } else {
                base64::engine::general_purpose::STANDARD.encode(data)
            }
        }
        Hex { optional } => {
            if data.is_empty() {
                if optional {
                    "-".to_string()
                } else {
                    return Err("empty hex".into());
                }
            } else {
                data_encoding::HEXUPPER.encode(data)
            }
        }
        SaltHex => {
            if data.len() == 1 {
                "-".into()
            } else {
                data_encoding::HEXUPPER.encode(&data[1..])
            }
        }
        Base32Hex => data_encoding::BASE32HEX_NOPAD.encode(&data[1..]),
        TypeBitmap => {
            let types = bitmap_types(data)?;
            types
                .iter()
                .map(|t| type_text(*t))
                .collect::<Vec<_>>()
                .join(" ")
        }
        RestString => quote_string(data),
        Locator64 => data
            .chunks(2)
            .map(|c| format!("{:04x}", u16::from_be_bytes([c[0], c[1]])))
            .collect::<Vec<_>>()
            .join(":"),
        Eui(_) => data
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join("-"),
        Nsap => format!("0x{}", data_encoding::HEXLOWER.encode(data)),
        NxtBitmap => {
            let mut types = Vec::new();
            for (octet, &value) in data.iter().enumerate() {
                for bit in 0..8 {
                    if value & (0x80 >> bit) != 0 {
                        types.push(RType((octet * 8 + bit) as u16).to_string());
                    }
                }
            }
            types.join(" ")
        }
        Loc => special::format_loc(data)?,
        Wks => special::format_wks(data)?,
        Apl => special::format_apl(data)?,
        SvcParams => special::format_svc_params(data)?,
        IpsecKey => special::format_ipseckey(data)?,
        Hip => special::format_hip(data)?,
        A6 => special::format_a6(data)?,
        AmtRelay => special::format_amtrelay(data)?,
    };
    Ok((text, len))
}

/// How a type is written in output: its mnemonic where we know its RDATA
/// layout, else `TYPEnnn` (RFC 3597 §5), which every reader understands
/// (ldns rejects mnemonics it does not know, such as HHIT and BRID).
pub fn type_text(rtype: RType) -> String {
    if layout(rtype).is_some() {
        rtype.to_string()
    } else {
        format!("TYPE{}", rtype.0)
    }
}

/// A name from wire form (as this module writes names: uncompressed).
pub fn name_from_wire(data: &[u8]) -> Result<Name, String> {
    Name::from_wire(data)
        .map(|(name, _)| name)
        .map_err(|e| e.to_string())
}

/// A <character-string> in quotes, with `"` and `\` escaped and bytes
/// outside printable ASCII as `\DDD` (as BIND prints them).
pub fn quote_string(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len() + 2);
    out.push('"');
    for &byte in data {
        match byte {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(byte as char);
            }
            0x20..=0x7e => out.push(byte as char),
            _ => {
                let _ = write!(out, "\\{byte:03}");
            }
        }
    }
    out.push('"');
    out
}

mod fast;
mod special;

pub use fast::{format_into, push_name, push_type, push_u32};

#[cfg(test)]
mod tests;
