//! Writing a signed zone: `full` style (one record per line, every field,
//! absolute names: easy to grep and pipe) or `text` style (BIND's: the
//! owner once per node), optionally only the DNSSEC records (`-D`).

use crate::name::Name;
use crate::rdata;
use crate::record::{Class, RType};
use crate::sign::{rrsig_ttl, SignedZone};
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
struct Lines<'o> {
    out: &'o mut dyn Write,
    class: Class,
    style: Style,
    previous: Option<Name>,
}

impl Lines<'_> {
    fn record(&mut self, owner: &Name, ttl: u32, rtype: RType, wire: &[u8]) -> std::io::Result<()> {
        let text = rdata::format(rtype, wire);
        let rtype = rdata::type_text(rtype);
        let class = self.class;
        match self.style {
            Style::Full => writeln!(self.out, "{owner} {ttl} {class} {rtype} {text}")?,
            Style::Text => {
                if self.previous.as_ref() == Some(owner) {
                    writeln!(self.out, "\t\t\t{ttl}\t{rtype}\t{text}")?;
                } else {
                    writeln!(self.out, "{owner}\t{ttl}\t{class}\t{rtype}\t{text}")?;
                    self.previous = Some(owner.clone());
                }
            }
        }
        Ok(())
    }
}

fn is_dnssec(rtype: RType) -> bool {
    matches!(
        rtype,
        RType::RRSIG | RType::NSEC | RType::NSEC3 | RType::NSEC3PARAM | RType::DNSKEY
    )
}
