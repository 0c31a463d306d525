//! Record types, classes, and the one presentation-format writer every
//! tool uses for the records it prints (RFC 1035 §5.1, RFC 3597 §5).

use std::fmt;

/// A DNS class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Class(pub u16);

impl Class {
    pub const IN: Class = Class(1);
    pub const CH: Class = Class(3);
    pub const HS: Class = Class(4);

    /// Parses `IN`, `CH`, `HS` (also `CHAOS`, `HESIOD`) or `CLASSnnn`.
    pub fn parse(text: &str) -> Option<Class> {
        let upper = text.to_ascii_uppercase();
        match upper.as_str() {
            "IN" => Some(Class::IN),
            "CH" | "CHAOS" => Some(Class::CH),
            "HS" | "HESIOD" => Some(Class::HS),
            "NONE" => Some(Class(254)),
            "ANY" => Some(Class(255)),
            _ => upper.strip_prefix("CLASS")?.parse().ok().map(Class),
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            1 => f.write_str("IN"),
            3 => f.write_str("CH"),
            4 => f.write_str("HS"),
            254 => f.write_str("NONE"),
            255 => f.write_str("ANY"),
            n => write!(f, "CLASS{n}"),
        }
    }
}

/// A record type by number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RType(pub u16);

/// Mnemonics of the record types we know by name (IANA registry).
const TYPE_NAMES: &[(u16, &str)] = &[
    (1, "A"),
    (2, "NS"),
    (3, "MD"),
    (4, "MF"),
    (5, "CNAME"),
    (6, "SOA"),
    (7, "MB"),
    (8, "MG"),
    (9, "MR"),
    (10, "NULL"),
    (11, "WKS"),
    (12, "PTR"),
    (13, "HINFO"),
    (14, "MINFO"),
    (15, "MX"),
    (16, "TXT"),
    (17, "RP"),
    (18, "AFSDB"),
    (19, "X25"),
    (20, "ISDN"),
    (21, "RT"),
    (22, "NSAP"),
    (23, "NSAP-PTR"),
    (24, "SIG"),
    (25, "KEY"),
    (26, "PX"),
    (27, "GPOS"),
    (28, "AAAA"),
    (29, "LOC"),
    (30, "NXT"),
    (31, "EID"),
    (32, "NIMLOC"),
    (33, "SRV"),
    (34, "ATMA"),
    (35, "NAPTR"),
    (36, "KX"),
    (37, "CERT"),
    (38, "A6"),
    (39, "DNAME"),
    (40, "SINK"),
    (41, "OPT"),
    (42, "APL"),
    (43, "DS"),
    (44, "SSHFP"),
    (45, "IPSECKEY"),
    (46, "RRSIG"),
    (47, "NSEC"),
    (48, "DNSKEY"),
    (49, "DHCID"),
    (50, "NSEC3"),
    (51, "NSEC3PARAM"),
    (52, "TLSA"),
    (53, "SMIMEA"),
    (55, "HIP"),
    (56, "NINFO"),
    (57, "RKEY"),
    (58, "TALINK"),
    (59, "CDS"),
    (60, "CDNSKEY"),
    (61, "OPENPGPKEY"),
    (62, "CSYNC"),
    (63, "ZONEMD"),
    (64, "SVCB"),
    (65, "HTTPS"),
    (66, "DSYNC"),
    (67, "HHIT"),
    (68, "BRID"),
    (99, "SPF"),
    (100, "UINFO"),
    (101, "UID"),
    (102, "GID"),
    (103, "UNSPEC"),
    (104, "NID"),
    (105, "L32"),
    (106, "L64"),
    (107, "LP"),
    (108, "EUI48"),
    (109, "EUI64"),
    (249, "TKEY"),
    (250, "TSIG"),
    (256, "URI"),
    (257, "CAA"),
    (258, "AVC"),
    (259, "DOA"),
    (260, "AMTRELAY"),
    (261, "RESINFO"),
    (262, "WALLET"),
    (32768, "TA"),
    (32769, "DLV"),
];

impl RType {
    pub const A: RType = RType(1);
    pub const NS: RType = RType(2);
    pub const CNAME: RType = RType(5);
    pub const SOA: RType = RType(6);
    pub const DNAME: RType = RType(39);
    pub const DS: RType = RType(43);
    pub const RRSIG: RType = RType(46);
    pub const NSEC: RType = RType(47);
    pub const DNSKEY: RType = RType(48);
    pub const NSEC3: RType = RType(50);
    pub const NSEC3PARAM: RType = RType(51);
    pub const CDS: RType = RType(59);
    pub const CDNSKEY: RType = RType(60);
    pub const ZONEMD: RType = RType(63);

    /// Parses a mnemonic (case-insensitive) or `TYPEnnn` (RFC 3597).
    pub fn parse(text: &str) -> Option<RType> {
        let upper = text.to_ascii_uppercase();
        if let Some(&(number, _)) = TYPE_NAMES.iter().find(|(_, name)| *name == upper) {
            return Some(RType(number));
        }
        upper.strip_prefix("TYPE")?.parse().ok().map(RType)
    }

    /// The mnemonic, if the type has one.
    pub fn mnemonic(self) -> Option<&'static str> {
        TYPE_NAMES
            .iter()
            .find(|(number, _)| *number == self.0)
            .map(|(_, name)| *name)
    }
}

impl fmt::Display for RType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.mnemonic() {
            Some(name) => f.write_str(name),
            None => write!(f, "TYPE{}", self.0),
        }
    }
}

/// One record line as the tools print it: `owner [ttl ]CLASS TYPE rdata`,
/// single spaces, absolute owner, TTL only where the tool has one to give
/// (BIND's `.key` files and `dnssec-dsfromkey` omit it unless asked).
pub fn format_record(
    owner: &crate::name::Name,
    ttl: Option<u32>,
    class: Class,
    rtype: RType,
    rdata: &str,
) -> String {
    match ttl {
        Some(ttl) => format!("{owner} {ttl} {class} {rtype} {rdata}"),
        None => format!("{owner} {class} {rtype} {rdata}"),
    }
}

/// Base64 split into chunks of `width` characters joined by single spaces,
/// as BIND prints keys in `.key` files (56) and one-line output.
pub fn base64_chunked(data: &[u8], width: usize) -> String {
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode(data);
    chunked(&text, width)
}

/// Text split into chunks of `width` characters joined by single spaces.
pub fn chunked(text: &str, width: usize) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len() + text.len() / width + 1);
    for (i, chunk) in bytes.chunks(width).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_classes_by_name_and_number() {
        assert_eq!(RType::parse("dnskey"), Some(RType::DNSKEY));
        assert_eq!(RType::parse("TYPE48"), Some(RType::DNSKEY));
        assert_eq!(
            RType::parse("TYPE65534").map(|t| t.to_string()),
            Some("TYPE65534".into())
        );
        assert_eq!(RType::parse("NSAP-PTR"), Some(RType(23)));
        assert_eq!(RType::parse("BOGUS"), None);
        assert_eq!(Class::parse("in"), Some(Class::IN));
        assert_eq!(Class::parse("CLASS1"), Some(Class::IN));
        assert_eq!(Class(42).to_string(), "CLASS42");
    }

    #[test]
    fn chunks_like_bind() {
        assert_eq!(chunked("abcdefgh", 3), "abc def gh");
        assert_eq!(chunked("abc", 3), "abc");
        assert_eq!(chunked("", 3), "");
    }
}
