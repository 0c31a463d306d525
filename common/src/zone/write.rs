//! Writing a signed zone: `full` style (one record per line, every field,
//! absolute names: easy to grep and pipe) or `text` style (BIND's: the
//! owner once per node), optionally only the DNSSEC records (`-D`).

use crate::name::Name;
use crate::rdata;
use crate::record::{Class, RType};
use crate::sign::{rrsig_ttl, SignedZone};
use std::fmt::Write as _;
use std::io::Write;

/// Output style (`-O`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Full,
    Text,
}

/// Writes the signed zone in order. `header` lines are written as comments.
pub fn write_zone(
    out: &mut dyn Write,
    signed: &SignedZone,
    style: Style,
    dnssec_only: bool,
    header: &[String],
) -> std::io::Result<()> {
    for line in header {
        writeln!(out, "; {line}")?;
    }
    let mut lines = Lines {
        out,
        class: signed.class,
        style,
        previous: None,
        line: String::with_capacity(256),
    };
    signed.each_rrset(|owner, rrset, signatures| {
        if !dnssec_only || is_dnssec(rrset.rtype) {
            for rdata in rrset.rdatas.iter() {
                lines.record(owner, rrset.ttl, rrset.rtype, rdata)?;
            }
        }
        for rdata in signatures.into_iter().flatten() {
            lines.record(owner, rrsig_ttl(rrset.ttl, rdata), RType::RRSIG, rdata)?;
        }
        Ok(())
    })
}

/// Writes records as lines, remembering the last owner for `text` style.
/// Each line is made in one reused buffer and written at once: formatting
/// field by field through `write!` cost a quarter of a re-sign.
struct Lines<'o> {
    out: &'o mut dyn Write,
    class: Class,
    style: Style,
    previous: Option<Name>,
    line: String,
}

impl Lines<'_> {
    fn record(&mut self, owner: &Name, ttl: u32, rtype: RType, wire: &[u8]) -> std::io::Result<()> {
        let line = &mut self.line;
        line.clear();
        let separator = match self.style {
            Style::Full => ' ',
            Style::Text => '\t',
        };
        let continued = self.style == Style::Text && self.previous.as_ref() == Some(owner);
        if continued {
            line.push_str("\t\t\t");
        } else {
            rdata::push_name(line, owner.wire());
            line.push(separator);
            if self.style == Style::Text {
                self.previous = Some(owner.clone());
            }
        }
        rdata::push_u32(line, ttl);
        line.push(separator);
        if !continued {
            let _ = write!(line, "{}", self.class);
            line.push(separator);
        }
        rdata::push_type(line, rtype);
        line.push(separator);
        rdata::format_into(rtype, wire, line);
        line.push('\n');
        self.out.write_all(line.as_bytes())
    }
}

fn is_dnssec(rtype: RType) -> bool {
    matches!(
        rtype,
        RType::RRSIG | RType::NSEC | RType::NSEC3 | RType::NSEC3PARAM | RType::DNSKEY
    )
}
