//! The text of key signing requests and signed key responses as BIND
//! 9.20's `dnssec-ksr` writes them (bind-lifecycle.md §6.3): a header line
//! `;; KeySigningRequest 1.0 YYYYMMDDHHMMSS (ctime)` per bundle, one record
//! a line in `dns_master_style_debug` columns, and a `generated at` trailer.
//!
//! The reader is lenient as BIND's and named's are, so Knot's `keymgr`
//! files read through the same code: any whitespace, `;` comments,
//! parentheses, Unix seconds or `YYYYMMDDHHMMSS` in the header, and the
//! rest of a header line ignored (Knot appends `(ISO time) =====`).

use crate::dnskey::key_tag;
use crate::error::{Error, Result};
use crate::name::Name;
use crate::record::{base64_chunked, chunked, RType};
use crate::zone::ZoneReader;

/// Which of the two documents a file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `;; KeySigningRequest 1.0`: the ZSKs the online side needs signed.
    Request,
    /// `;; SignedKeyResponse 1.0`: the signed key RRsets per time slot.
    Response,
}

impl Kind {
    /// The header's type word.
    pub fn word(self) -> &'static str {
        match self {
            Kind::Request => "KeySigningRequest",
            Kind::Response => "SignedKeyResponse",
        }
    }

    fn allows(self, rtype: RType) -> bool {
        match self {
            Kind::Request => rtype == RType::DNSKEY,
            Kind::Response => matches!(
                rtype,
                RType::DNSKEY | RType::CDNSKEY | RType::CDS | RType::RRSIG
            ),
        }
    }
}

/// One record of a bundle (its owner is the zone).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub ttl: u32,
    pub rtype: RType,
    pub rdata: Vec<u8>,
    /// Where it was read (0 when made here).
    pub line: usize,
}

/// One time slot: its start and its records in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    pub time: i64,
    /// The header's line (0 when made here).
    pub line: usize,
    pub records: Vec<Record>,
}

impl Bundle {
    /// The RDATA of its records of `rtype`, in file order.
    pub fn rdatas(&self, rtype: RType) -> impl Iterator<Item = &[u8]> {
        self.records
            .iter()
            .filter(move |r| r.rtype == rtype)
            .map(|r| r.rdata.as_slice())
    }
}

/// The most a request or response file may hold: a 90-day ceremony of a
/// TLD is a few hundred kilobytes; more is a mistake or an attack.
pub const MAX_FILE_BYTES: usize = 64 << 20;

/// Reads a request or response for zone `origin` from `text`, named `file`
/// in messages. Errors are `file:line: cause`.
pub fn parse(text: &str, file: &str, kind: Kind, origin: &Name) -> Result<Vec<Bundle>> {
    let input = |line: usize, message: String| Error::Input {
        file: file.to_string(),
        line: Some(line),
        message,
    };
    let mut bundles: Vec<Bundle> = Vec::new();
    let mut trailer = false;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let trimmed = line.trim_start();
        // The zone reader must not open files for a planted $INCLUDE.
        if trimmed.starts_with('$') {
            return Err(input(
                number,
                "a key signing request or response holds no directives".into(),
            ));
        }
        let Some(rest) = trimmed.strip_prefix(";;") else {
            continue;
        };
        let words: Vec<&str> = rest.split_whitespace().collect();
        let other = match kind {
            Kind::Request => Kind::Response,
            Kind::Response => Kind::Request,
        };
        if words.first() == Some(&other.word()) {
            return Err(input(
                number,
                format!("a {} where a {} is expected", other.word(), kind.word()),
            ));
        }
        if words.first() != Some(&kind.word()) {
            continue;
        }
        if words.get(1) != Some(&"1.0") {
            return Err(input(
                number,
                format!(
                    "unsupported {} version '{}' (1.0 is known)",
                    kind.word(),
                    excerpt(words.get(1).copied().unwrap_or(""))
                ),
            ));
        }
        let token = words.get(2).copied().unwrap_or("");
        if token == "generated" {
            trailer = true;
            continue;
        }
        if trailer {
            return Err(input(number, "a bundle after the trailer".into()));
        }
        let time = parse_header_time(token)
            .ok_or_else(|| input(number, format!("bad bundle time '{}'", excerpt(token))))?;
        bundles.push(Bundle {
            time,
            line: number,
            records: Vec::new(),
        });
    }
    let mut reader = ZoneReader::new(
        Box::new(std::io::Cursor::new(text.as_bytes().to_vec())),
        file,
        None,
        origin.clone(),
    )
    .lenient_ttl();
    let mut last_ttl = None;
    while let Some(record) = reader.next_record()? {
        if !record.owner.eq_ignore_case(origin) {
            return Err(record.error(format!(
                "the owner {} is not the zone {origin}",
                record.owner
            )));
        }
        if !kind.allows(record.rtype) {
            return Err(record.error(format!(
                "a {} holds no {} record",
                kind.word(),
                record.rtype
            )));
        }
        let ttl = if record.ttl_known {
            record.ttl
        } else {
            last_ttl.ok_or_else(|| record.error("a record without a TTL"))?
        };
        last_ttl = Some(ttl);
        let rdata = crate::rdata::parse(record.rtype, &record.rdata, &record.origin)
            .map_err(|message| record.error(format!("bad {}: {message}", record.rtype)))?;
        let Some(bundle) = bundles.iter_mut().rev().find(|b| b.line < record.line) else {
            return Err(record.error("a record before the first bundle header"));
        };
        bundle.records.push(Record {
            ttl,
            rtype: record.rtype,
            rdata,
            line: record.line,
        });
    }
    if bundles.is_empty() {
        return Err(Error::Input {
            file: file.to_string(),
            line: None,
            message: format!("no ';; {} 1.0' bundle in it", kind.word()),
        });
    }
    Ok(bundles)
}

/// A header's time: `YYYYMMDDHHMMSS` (BIND) or Unix seconds (Knot), as
/// BIND's date parser reads both.
fn parse_header_time(token: &str) -> Option<i64> {
    if token.len() == 14 {
        return crate::time::parse_timestamp(token);
    }
    if !token.is_empty() && token.len() <= 10 && token.bytes().all(|b| b.is_ascii_digit()) {
        return token.parse().ok();
    }
    None
}

fn excerpt(text: &str) -> String {
    text.chars()
        .take(40)
        .flat_map(char::escape_default)
        .collect()
}

/// A bundle's header line; its time as BIND writes it, or with
/// `unix_time` as Unix seconds, the one form Knot 3.2 reads (BIND and
/// named read both).
pub fn header(kind: Kind, time: i64, unix_time: bool) -> String {
    let stamp = if unix_time {
        time.to_string()
    } else {
        crate::time::format_timestamp(time)
    };
    format!(
        ";; {} 1.0 {stamp} ({})",
        kind.word(),
        crate::time::format_ctime_local(time)
    )
}

/// The trailer line, written at `now`.
pub fn trailer(kind: Kind, now: i64) -> String {
    format!(
        ";; {} 1.0 generated at {} by p11dnssec {}",
        kind.word(),
        crate::time::format_ctime_local(now),
        env!("CARGO_PKG_VERSION")
    )
}

/// BIND's `indent()` (masterdump.c): tabs (width 8) to the column, at
/// least one blank; `column` becomes `to` (or one past a full column).
fn indent(out: &mut String, column: &mut usize, to: usize) {
    let to = to.max(*column + 1);
    let tabs = to / 8 - *column / 8;
    let mut from = *column;
    if tabs > 0 {
        out.extend(std::iter::repeat_n('\t', tabs));
        from = to / 8 * 8;
    }
    out.extend(std::iter::repeat_n(' ', to - from));
    *column = to;
}

/// One record line in `dns_master_style_debug`: owner, then TTL, class,
/// type and RDATA at columns 24, 32, 40 and 48.
pub fn record_line(origin: &Name, record: &Record) -> String {
    let mut out = origin.to_string();
    let mut column = out.len();
    for (field, to) in [
        (record.ttl.to_string(), 24),
        ("IN".to_string(), 32),
        (record.rtype.to_string(), 40),
        (rdata_text(record.rtype, &record.rdata), 48),
    ] {
        indent(&mut out, &mut column, to);
        column += field.len();
        out.push_str(&field);
    }
    out
}

/// RDATA as BIND prints it on one line: base64 and hex in 56-character
/// chunks separated by blanks.
fn rdata_text(rtype: RType, rdata: &[u8]) -> String {
    let generic = || crate::rdata::format(rtype, rdata);
    match rtype {
        RType::DNSKEY | RType::CDNSKEY if rdata.len() > 4 => format!(
            "{} {} {} {}",
            u16::from_be_bytes([rdata[0], rdata[1]]),
            rdata[2],
            rdata[3],
            base64_chunked(&rdata[4..], 56)
        ),
        RType::CDS if rdata.len() > 4 => format!(
            "{} {} {} {}",
            u16::from_be_bytes([rdata[0], rdata[1]]),
            rdata[2],
            rdata[3],
            chunked(&data_encoding::HEXUPPER.encode(&rdata[4..]), 56)
        ),
        RType::RRSIG => match crate::sign::rrsig::parse(rdata) {
            Some((fields, signature)) => format!(
                "{} {} {} {} {} {} {} {} {}",
                fields.type_covered,
                fields.algorithm,
                fields.labels,
                fields.original_ttl,
                crate::time::format_timestamp(i64::from(fields.expiration)),
                crate::time::format_timestamp(i64::from(fields.inception)),
                fields.key_tag,
                fields.signer,
                base64_chunked(signature, 56)
            ),
            None => generic(),
        },
        _ => generic(),
    }
}

/// Writes bundles as BIND 9.20 does, groups separated by a blank line
/// (`breaks` holds the index of the first bundle of each group after the
/// first), then the trailer; `unix_time` as in [`header`].
pub fn write(
    kind: Kind,
    origin: &Name,
    bundles: &[Bundle],
    breaks: &[usize],
    now: i64,
    unix_time: bool,
) -> String {
    let mut out = String::new();
    for (index, bundle) in bundles.iter().enumerate() {
        if breaks.contains(&index) {
            out.push('\n');
        }
        out.push_str(&header(kind, bundle.time, unix_time));
        out.push('\n');
        for record in &bundle.records {
            out.push_str(&record_line(origin, record));
            out.push('\n');
        }
    }
    out.push_str(&trailer(kind, now));
    out.push('\n');
    out
}

/// The key tag of DNSKEY RDATA (for messages).
pub fn tag(rdata: &[u8]) -> u16 {
    key_tag(rdata)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Name {
        Name::parse("ksr.example.", None).expect("name")
    }

    const KEY: &str =
        "qqkPLhDb1zWQC0O+nw2sIfL/rw6yMQ9Cquh/YjldsODipPDbFS7pMU0MSWGkr5RqppBnjjtLP3fbc4oYyyuRZA==";

    #[test]
    fn a_line_has_binds_debug_columns_and_56_character_chunks() {
        let mut rdata = vec![1, 0, 3, 13];
        use base64::Engine;
        rdata.extend(
            base64::engine::general_purpose::STANDARD
                .decode(KEY)
                .expect("b64"),
        );
        let record = Record {
            ttl: 3600,
            rtype: RType::DNSKEY,
            rdata,
            line: 0,
        };
        // §6.3's observed line, byte for byte.
        assert_eq!(
            record_line(&origin(), &record),
            "ksr.example.\t\t3600\tIN\tDNSKEY\t256 3 13 qqkPLhDb1zWQC0O+nw2sIfL/rw6yMQ9Cquh/YjldsODipPDbFS7pMU0M SWGkr5RqppBnjjtLP3fbc4oYyyuRZA=="
        );
        let cds = Record {
            ttl: 3600,
            rtype: RType::CDS,
            rdata: [
                &[0x81, 0xd2, 13, 2][..],
                &data_encoding::HEXUPPER
                    .decode(b"8707B6909A072A04BE9E86960A932D4B398E00852D79A71D4B6758FCA26AB5AF")
                    .expect("hex"),
            ]
            .concat(),
            line: 0,
        };
        assert_eq!(
            record_line(&origin(), &cds),
            "ksr.example.\t\t3600\tIN\tCDS\t33234 13 2 8707B6909A072A04BE9E86960A932D4B398E00852D79A71D4B6758FC A26AB5AF"
        );
        // A long owner: one blank where no tab fits (BIND's indent()).
        let long = Name::parse("a-very-long-zone-name.example.", None).expect("name");
        assert!(record_line(&long, &record)
            .starts_with("a-very-long-zone-name.example. 3600 IN\tDNSKEY\t"));
    }

    #[test]
    fn reads_binds_and_knots_layouts_and_refuses_what_is_not_a_request() {
        let bind = format!(
            ";; KeySigningRequest 1.0 20261201224732 (Tue Dec  1 22:47:32 2026)\n\
             ksr.example.\t\t3600\tIN\tDNSKEY\t256 3 13 {KEY}\n\
             ;; KeySigningRequest 1.0 generated at Tue Dec  1 22:47:32 2026 by 9.20.27\n"
        );
        let bundles = parse(&bind, "ksr", Kind::Request, &origin()).expect("bind");
        assert_eq!(bundles.len(), 1);
        assert_eq!(bundles[0].time, 1796165252);
        assert_eq!(bundles[0].records.len(), 1);
        let knot = format!(
            ";; KeySigningRequest 1.0 1796165033 (2026-12-01T22:43:53Z) =========\n\
             ksr.example.       \t3600 DNSKEY 256 3 13 (\n\t\t\t\t{}\n\t\t\t\t{}\n\t\t\t\t) ; ZSK, ECDSAP256SHA256 (256b), id = 1\n\
             ;; KeySigningRequest 1.0 1798757030 (2026-12-31T22:43:50Z) =========\n\
             ksr.example.       \t3600 DNSKEY 256 3 13 {KEY}\n\
             ;; KeySigningRequest 1.0 generated at 2026-12-01T22:43:53Z by Knot DNS 3.2.6\n",
            &KEY[..40],
            &KEY[40..]
        );
        let bundles = parse(&knot, "ksr", Kind::Request, &origin()).expect("knot");
        assert_eq!(bundles.len(), 2);
        assert_eq!(bundles[0].time, 1796165033);
        assert_eq!(
            bundles[0].records,
            bundles[1].records[..]
                .iter()
                .map(|r| Record {
                    line: 2,
                    ..r.clone()
                })
                .collect::<Vec<_>>()
        );
        for (text, why) in [
            (
                bind.replace("ksr.example.", "other.example."),
                "not the zone",
            ),
            (bind.replace("DNSKEY", "A"), "holds no"),
            (
                bind.replace("KeySigningRequest", "SignedKeyResponse"),
                "expected",
            ),
            (format!("$INCLUDE /etc/passwd\n{bind}"), "directives"),
            (
                format!("ksr.example. 3600 IN DNSKEY 256 3 13 {KEY}\n{bind}"),
                "before the first",
            ),
            (bind.replace("20261201224732", "2026x"), "bad bundle time"),
        ] {
            let error = parse(&text, "ksr", Kind::Request, &origin()).expect_err(why);
            assert!(error.to_string().contains(why), "{why}: {error}");
            assert!(error.to_string().starts_with("ksr:"), "{error}");
        }
    }
}
