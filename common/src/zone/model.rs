//! A zone in memory: RRsets grouped by owner, in DNSSEC canonical order,
//! RDATA in wire form. Loading applies the checks `named-checkzone` makes
//! that matter for signing (one SOA at the apex, CNAME alone, data inside
//! the zone, DS only at delegations, DNSKEY only at the apex).

use super::rdatas::{Rdatas, MAX_RDATA_LEN};
use super::reader::ZoneReader;
use crate::error::{Error, Result};
use crate::name::Name;
use crate::rdata;
use crate::record::{Class, RType};
use std::cmp::Ordering;
use std::collections::HashMap;

/// The records of one owner and type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RrSet {
    pub rtype: RType,
    pub ttl: u32,
    /// Wire RDATA, in canonical order, without duplicates.
    pub rdatas: Rdatas,
}

/// Every RRset of one owner name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub owner: Name,
    pub rrsets: Vec<RrSet>,
}

impl Node {
    /// The RRset of this type, if any.
    pub fn rrset(&self, rtype: RType) -> Option<&RrSet> {
        self.rrsets.iter().find(|s| s.rtype == rtype)
    }

    /// True if the node has an RRset of this type.
    pub fn has(&self, rtype: RType) -> bool {
        self.rrset(rtype).is_some()
    }
}

pub use super::signatures::InputSignatures;

/// A zone: origin, class, and nodes in canonical order (apex first).
#[derive(Clone, Debug)]
pub struct Zone {
    pub origin: Name,
    pub class: Class,
    pub nodes: Vec<Node>,
    /// The input's RRSIG RDATA (empty for an unsigned input).
    pub input_signatures: InputSignatures,
}

/// The DNSSEC records a signer makes itself; in input they are not part
/// of the zone's data (RRSIGs are kept aside for reuse, the NSEC/NSEC3
/// chain is rebuilt). Only the apex NSEC3PARAM belongs to the signer
/// (RFC 5155 §4): one anywhere else is data, kept as written (occluded
/// below a cut, as BIND keeps it).
pub fn is_signer_made(rtype: RType, apex: bool) -> bool {
    match rtype {
        RType::RRSIG | RType::NSEC | RType::NSEC3 => true,
        RType::NSEC3PARAM => apex,
        _ => false,
    }
}

/// What loading found besides the zone.
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    /// Records outside the zone, dropped (as BIND does, with a warning).
    pub out_of_zone: usize,
    /// RRSIG/NSEC/NSEC3/NSEC3PARAM records of the input.
    pub input_dnssec: usize,
    /// Of those, the signatures (RRSIG records).
    pub input_signatures: usize,
}

/// Where loading puts each record's node. Zone files are mostly written
/// owner by owner in canonical order (signers' output, generated zones):
/// then a record belongs to the last node or starts the next one, and no
/// index is needed. The first record out of that order builds an index
/// of lower-cased owners, used from then on, and the nodes are sorted at
/// the end.
struct NodeBuilder {
    nodes: Vec<Node>,
    /// Lower-cased owner -> node index, once the input is out of order.
    index: Option<HashMap<Name, usize>>,
}

impl NodeBuilder {
    /// The index of the node of `owner`, made if it is new. Case variants
    /// of one name are one node; the first spelling wins.
    fn node_for(&mut self, owner: &Name) -> usize {
        if let Some(last) = self.nodes.last() {
            if last.owner.eq_ignore_case(owner) {
                return self.nodes.len() - 1;
            }
            if self.index.is_none() && last.owner.canonical_cmp(owner) != Ordering::Less {
                self.index = Some(
                    self.nodes
                        .iter()
                        .enumerate()
                        .map(|(at, node)| (node.owner.to_lowercase(), at))
                        .collect(),
                );
            }
        }
        if let Some(index) = &mut self.index {
            let lower = owner.to_lowercase();
            if let Some(&at) = index.get(&lower) {
                return at;
            }
            index.insert(lower, self.nodes.len());
        }
        self.nodes.push(Node {
            owner: owner.clone(),
            rrsets: Vec::with_capacity(1),
        });
        self.nodes.len() - 1
    }

    /// The nodes in canonical order, each RRset's RDATA in canonical
    /// order without duplicates, types in order.
    fn finish(self) -> Vec<Node> {
        let mut nodes = self.nodes;
        if self.index.is_some() {
            drop(self.index);
            nodes.sort_by(|a, b| a.owner.canonical_cmp(&b.owner));
        }
        for node in &mut nodes {
            node.rrsets.sort_by_key(|s| s.rtype);
            node.rrsets.shrink_to_fit();
            for rrset in &mut node.rrsets {
                let rtype = rrset.rtype;
                rrset.rdatas.sort_dedup_by(|a, b| {
                    rdata::canonical(rtype, a).cmp(&rdata::canonical(rtype, b))
                });
            }
        }
        nodes.shrink_to_fit();
        nodes
    }
}

impl Zone {
    /// Reads and checks a zone. Errors name the file and line.
    pub fn load(mut reader: ZoneReader, origin: &Name) -> Result<(Zone, LoadReport)> {
        let mut report = LoadReport::default();
        let mut builder = NodeBuilder {
            nodes: Vec::new(),
            index: None,
        };
        let mut class = None;
        let mut soa_seen: Option<(u32, Vec<u8>)> = None;
        let mut input_signatures = InputSignatures::new();
        // Where each DS owner's first DS record is, for the check that
        // needs the whole node (a DS without NS).
        let mut ds_lines: HashMap<Name, (std::sync::Arc<str>, usize)> = HashMap::new();
        // The types given a TTL in the current run of one owner's records
        // (the reader makes the TTLs inside a run agree, BIND's way).
        let mut run: (u64, Vec<RType>) = (0, Vec::new());
        while let Some((record, wire, apex)) =
            next_zone_record(&mut reader, origin, &mut report, &mut class)?
        {
            if record.rtype == RType::DS {
                ds_lines
                    .entry(record.owner.to_lowercase())
                    .or_insert_with(|| (record.file.clone(), record.line));
            }
            if is_signer_made(record.rtype, apex) {
                report.input_dnssec += 1;
                if record.rtype == RType::RRSIG {
                    report.input_signatures += 1;
                    // RDATA given as `\#` may be too short to be an RRSIG:
                    // it is counted, and can only be dropped.
                    if wire.len() >= 2 {
                        let covered = RType(u16::from_be_bytes([wire[0], wire[1]]));
                        input_signatures.push(&record.owner, covered, &wire);
                    }
                }
                continue;
            }
            if record.rtype == RType::SOA && repeated_soa(&record, apex, &wire, &mut soa_seen)? {
                continue;
            }
            let at = builder.node_for(&record.owner);
            let rrsets = &mut builder.nodes[at].rrsets;
            cname_conflict(rrsets, &record, &wire, apex)?;
            if run.0 != record.batch {
                run = (record.batch, Vec::new());
            }
            let first_in_run = !run.1.contains(&record.rtype);
            if first_in_run {
                run.1.push(record.rtype);
            }
            match rrsets.iter_mut().find(|s| s.rtype == record.rtype) {
                Some(rrset) => {
                    // BIND adds each run of an owner's records to the zone
                    // in turn, and a later run's TTL replaces the RRset's.
                    if first_in_run && rrset.ttl != record.ttl {
                        crate::cli::warn(&format!(
                            "{}:{}: TTL {} replaces the TTL {} of earlier records of the RRset, as BIND loads it",
                            record.file, record.line, record.ttl, rrset.ttl
                        ));
                        rrset.ttl = record.ttl;
                    }
                    rrset.rdatas.push(&wire);
                }
                None => rrsets.push(RrSet {
                    rtype: record.rtype,
                    ttl: record.ttl,
                    rdatas: Rdatas::one(&wire),
                }),
            }
        }
        if soa_seen.is_none() {
            return Err(Error::Failed(format!(
                "zone '{origin}' has no SOA record at its apex"
            )));
        }
        input_signatures.finish();
        let nodes = builder.finish();
        let zone = Zone {
            origin: nodes
                .first()
                .filter(|n| n.owner.eq_ignore_case(origin))
                .map_or_else(|| origin.clone(), |n| n.owner.clone()),
            class: class.unwrap_or(Class::IN),
            nodes,
            input_signatures,
        };
        zone.check(&ds_lines)?;
        Ok((zone, report))
    }

    /// The apex node.
    pub fn apex(&self) -> &Node {
        &self.nodes[0]
    }

    /// The SOA RDATA fields that signing needs: (TTL, MINIMUM, serial).
    pub fn soa(&self) -> Result<(u32, u32, u32)> {
        let soa = self
            .apex()
            .rrset(RType::SOA)
            .ok_or_else(|| Error::Failed("no SOA at the apex".into()))?;
        let rdata = soa
            .rdatas
            .first()
            .ok_or_else(|| Error::Failed("an empty SOA RRset".into()))?;
        let n1 = rdata::name_len(rdata).map_err(Error::Failed)?;
        let n2 = rdata::name_len(&rdata[n1..]).map_err(Error::Failed)?;
        let fields = &rdata[n1 + n2..];
        let word = |i: usize| {
            u32::from_be_bytes([
                fields[i * 4],
                fields[i * 4 + 1],
                fields[i * 4 + 2],
                fields[i * 4 + 3],
            ])
        };
        Ok((soa.ttl, word(4), word(0)))
    }

    /// The DNSKEYs at the apex.
    pub fn apex_dnskeys(&self) -> Vec<crate::dnskey::DnsKey> {
        let Some(set) = self.apex().rrset(RType::DNSKEY) else {
            return Vec::new();
        };
        set.rdatas
            .iter()
            .filter_map(|rdata| {
                let (fixed, key) = rdata.split_at_checked(4)?;
                Some(crate::dnskey::DnsKey {
                    flags: u16::from_be_bytes([fixed[0], fixed[1]]),
                    protocol: fixed[2],
                    algorithm: fixed[3],
                    public_key: key.to_vec(),
                })
            })
            .collect()
    }

    /// Replaces the SOA serial.
    pub fn set_serial(&mut self, serial: u32) -> Result<()> {
        let soa = self.nodes[0]
            .rrsets
            .iter_mut()
            .find(|s| s.rtype == RType::SOA)
            .ok_or_else(|| Error::Failed("no SOA at the apex".into()))?;
        let rdata = soa
            .rdatas
            .first_mut()
            .ok_or_else(|| Error::Failed("an empty SOA RRset".into()))?;
        let n1 = rdata::name_len(rdata).map_err(Error::Failed)?;
        let n2 = rdata::name_len(&rdata[n1..]).map_err(Error::Failed)?;
        rdata[n1 + n2..n1 + n2 + 4].copy_from_slice(&serial.to_be_bytes());
        Ok(())
    }

    /// The structural checks of a zone that is to be signed (loading has
    /// made them at each record already, with its file and line).
    pub(crate) fn check(
        &self,
        ds_lines: &HashMap<Name, (std::sync::Arc<str>, usize)>,
    ) -> Result<()> {
        for node in &self.nodes {
            let apex = node.owner.eq_ignore_case(&self.origin);
            if let Some(cname) = node.rrset(RType::CNAME) {
                if cname.rdatas.len() > 1 {
                    return Err(Error::Failed(format!(
                        "'{}': more than one CNAME record",
                        node.owner
                    )));
                }
                let other = node.rrsets.iter().any(|s| s.rtype != RType::CNAME);
                if other || apex {
                    return Err(Error::Failed(format!(
                        "'{}': CNAME and other data",
                        node.owner
                    )));
                }
            }
            if node.has(RType::DS) && !apex && !node.has(RType::NS) {
                // dnssec-signzone's words and refusal; the DS record's
                // file and line, where the zone was read from a file.
                let message = format!("'{}': found DS RRset without NS RRset", node.owner);
                return Err(match ds_lines.get(&node.owner.to_lowercase()) {
                    Some((file, line)) => Error::Input {
                        file: file.to_string(),
                        line: Some(*line),
                        message,
                    },
                    None => Error::Failed(message),
                });
            }
            if apex && node.has(RType::DS) {
                return Err(Error::Failed(format!(
                    "'{}': DS RRset at the zone apex",
                    node.owner
                )));
            }
        }
        Ok(())
    }
}

/// The owner-name rules named-checkzone 9.18 enforces with its default
/// options (lib/dns/master.c, lib/dns/rbtdb.c): no NS RRset at a wildcard
/// (RFC 4592 §4.2), an NSEC3 owner's first label a base32hex hash (its
/// check-names rule is fatal even where check-names only warns), no DS
/// at the apex (a parent-side type). The other check-names rules (host
/// names for A, AAAA and MX owners) only warn in named-checkzone, and
/// are accepted here.
/// The next record of `reader` inside the zone, with its wire RDATA and
/// whether it is at the apex: out-of-zone records are dropped (counted,
/// the first with a warning, as BIND does), each record's RDATA and owner
/// name checked, the zone's class taken from the first.
pub(crate) fn next_zone_record(
    reader: &mut ZoneReader,
    origin: &Name,
    report: &mut LoadReport,
    class: &mut Option<Class>,
) -> Result<Option<(super::Record, Vec<u8>, bool)>> {
    while let Some(record) = reader.next_record()? {
        if !record.owner.is_subdomain_of(origin) {
            if report.out_of_zone == 0 {
                crate::cli::warn(&format!(
                    "{}:{}: ignoring out-of-zone data ({})",
                    record.file, record.line, record.owner
                ));
            }
            report.out_of_zone += 1;
            continue;
        }
        class.get_or_insert(record.class);
        let wire = rdata::parse(record.rtype, &record.rdata, &record.origin)
            .map_err(|message| record.error(message))?;
        if wire.len() > MAX_RDATA_LEN {
            return Err(record.error(format!(
                "RDATA of {} octets; at most {MAX_RDATA_LEN} fit in a record",
                wire.len()
            )));
        }
        let apex = record.owner.eq_ignore_case(origin);
        owner_name_check(&record, apex)?;
        return Ok(Some((record, wire, apex)));
    }
    Ok(None)
}

/// Checks an SOA record: only at the apex, and only one. Zones dumped
/// from a transfer repeat the SOA at the end: an identical SOA is the same
/// record (true: skip it); another is an error. `seen` keeps the first.
pub(crate) fn repeated_soa(
    record: &super::Record,
    apex: bool,
    wire: &[u8],
    seen: &mut Option<(u32, Vec<u8>)>,
) -> Result<bool> {
    if !apex {
        return Err(record.error(format!(
            "SOA record at '{}', not at the zone apex",
            record.owner
        )));
    }
    if let Some((first_ttl, first_rdata)) = seen {
        if *first_ttl == record.ttl && first_rdata.as_slice() == wire {
            return Ok(true);
        }
        return Err(record.error("a second SOA record"));
    }
    *seen = Some((record.ttl, wire.to_vec()));
    Ok(false)
}

pub(crate) fn owner_name_check(record: &super::Record, apex: bool) -> Result<()> {
    let owner = &record.owner;
    match record.rtype {
        RType::NS if owner.is_wildcard() => Err(record.error(format!(
            "'{owner}': invalid NS owner name (wildcard)"
        ))),
        RType::NSEC3 if !is_base32hex_label(owner.labels().next().unwrap_or_default()) => {
            Err(record.error(format!(
                "'{owner}': bad owner name (check-names): an NSEC3 owner starts with a base32hex hash"
            )))
        }
        RType::DS if apex => Err(record.error(format!(
            "'{owner}': DS record at top of zone"
        ))),
        _ => Ok(()),
    }
}

/// BIND's test for an NSEC3 owner label: base32hex without padding, in
/// either case, with zero trailing bits.
fn is_base32hex_label(label: &[u8]) -> bool {
    data_encoding::BASE32HEX_NOPAD
        .decode(&label.to_ascii_uppercase())
        .is_ok()
}

/// RFC 1034 §3.6.2 and RFC 2181 §10.1: a CNAME is alone at its owner.
/// Checked as each record arrives, so that the error names the file and
/// line of the record that made the conflict.
pub(crate) fn cname_conflict(
    rrsets: &[RrSet],
    record: &super::Record,
    wire: &[u8],
    apex: bool,
) -> Result<()> {
    let owner = &record.owner;
    if record.rtype == RType::CNAME {
        if apex {
            return Err(record.error(format!("'{owner}': CNAME at the zone apex")));
        }
        if let Some(cname) = rrsets.iter().find(|s| s.rtype == RType::CNAME) {
            if !cname.rdatas.contains(wire) {
                return Err(record.error(format!("'{owner}': more than one CNAME record")));
            }
        }
        if let Some(other) = rrsets.iter().find(|s| s.rtype != RType::CNAME) {
            return Err(record.error(format!(
                "'{owner}': CNAME and other data (a {} RRset)",
                other.rtype
            )));
        }
    } else if rrsets.iter().any(|s| s.rtype == RType::CNAME) {
        return Err(record.error(format!(
            "'{owner}': CNAME and other data (this {} record)",
            record.rtype
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(body: &str) -> Result<Zone> {
        let origin = Name::parse("example.com.", None).expect("origin");
        let text = format!("$TTL 300\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n{body}");
        let reader = ZoneReader::new(
            Box::new(std::io::Cursor::new(text.into_bytes())),
            "t.zone",
            None,
            origin.clone(),
        );
        Zone::load(reader, &origin).map(|(zone, _)| zone)
    }

    fn refusal(body: &str) -> String {
        load(body).expect_err("refused").to_string()
    }

    #[test]
    fn owner_names_named_checkzone_refuses() {
        let message = refusal("x A 192.0.2.2\n*.w NS ns\n");
        assert!(message.contains("t.zone:6:"), "{message}");
        assert!(
            message.contains("invalid NS owner name (wildcard)"),
            "{message}"
        );
        let message = refusal("x NSEC3 1 0 0 - 0123456789ABCDEFGHIJKLMNOPQRSTUV A\n");
        assert!(
            message.contains("t.zone:5:") && message.contains("check-names"),
            "{message}"
        );
        // Trailing bits set: not a hash BIND decodes.
        let message = refusal("01 NSEC3 1 0 0 - 0123456789ABCDEFGHIJKLMNOPQRSTUV A\n");
        assert!(message.contains("t.zone:5:"), "{message}");
        let message = refusal("@ DS 1 13 2 AABB\n");
        assert!(
            message.contains("t.zone:5:") && message.contains("top of zone"),
            "{message}"
        );
        let message = refusal("a A 192.0.2.2\nb DS 1 13 2 AABB\n");
        assert!(
            message.contains("t.zone:6:") && message.contains("without NS"),
            "{message}"
        );
    }

    #[test]
    fn owner_names_named_checkzone_only_warns_about_are_accepted() {
        load("x_y A 192.0.2.2\nx.*.y A 192.0.2.3\n*.w MX 10 ns\n0123456789abcdefghijklmnopqrstuv NSEC3 1 0 0 - 0123456789ABCDEFGHIJKLMNOPQRSTUV A\n")
            .expect("accepted");
    }

    #[test]
    fn only_the_apex_nsec3param_is_the_signers() {
        let zone =
            load("@ NSEC3PARAM 1 0 0 -\nsub NS ns\nx.sub NSEC3PARAM 1 0 0 -\n").expect("zone");
        assert!(!zone.apex().has(RType::NSEC3PARAM));
        let occluded = zone
            .nodes
            .iter()
            .find(|n| n.owner.to_text() == "x.sub.example.com.")
            .expect("kept");
        assert!(occluded.has(RType::NSEC3PARAM));
    }
}
