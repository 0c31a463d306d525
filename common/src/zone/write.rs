//! Writing a signed zone: `full` style (one record per line, every field,
//! absolute names: easy to grep and pipe) or `text` style (BIND's: the
//! owner once per node), optionally only the DNSSEC records (`-D`).

use crate::name::Name;
use crate::rdata;
use crate::record::{Class, RType};
use crate::sign::OutRecord;
use std::io::Write;

/// Output style (`-O`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Full,
    Text,
}

/// Writes the records in order. `header` lines are written as comments.
pub fn write_zone(
    out: &mut dyn Write,
    records: &[OutRecord],
    class: Class,
    style: Style,
    dnssec_only: bool,
    header: &[String],
) -> std::io::Result<()> {
    for line in header {
        writeln!(out, "; {line}")?;
    }
    let mut previous: Option<&Name> = None;
    for record in records {
        if dnssec_only && !is_dnssec(record.rtype) {
            continue;
        }
        let text = rdata::format(record.rtype, &record.rdata);
        let rtype = rdata::type_text(record.rtype);
        match style {
            Style::Full => writeln!(
                out,
                "{} {} {class} {rtype} {text}",
                record.owner, record.ttl
            )?,
            Style::Text => {
                if previous.is_some_and(|p| p == &record.owner) {
                    writeln!(out, "\t\t\t{}\t{rtype}\t{text}", record.ttl)?;
                } else {
                    writeln!(
                        out,
                        "{}\t{}\t{class}\t{rtype}\t{text}",
                        record.owner, record.ttl
                    )?;
                }
            }
        }
        previous = Some(&record.owner);
    }
    Ok(())
}

fn is_dnssec(rtype: RType) -> bool {
    matches!(
        rtype,
        RType::RRSIG | RType::NSEC | RType::NSEC3 | RType::NSEC3PARAM | RType::DNSKEY
    )
}
