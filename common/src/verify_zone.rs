//! Verifying a signed zone from any signer, as BIND's `dnssec-verify`
//! does: every RRSIG of the zone's algorithms over every authoritative
//! RRset (RFC 4035 §5.3), a self-signed DNSKEY RRset per algorithm (RFC
//! 4035 §2.1), a complete NSEC (RFC 4034 §4) or NSEC3 (RFC 5155 §7.1)
//! chain with the type bitmaps of the names, opt-out where flagged, and no
//! signatures on glue or occluded data (RFC 4035 §2.2).
//!
//! The cryptography and canonical forms are hickory-proto's (its RRSIG
//! verification, canonical RRset form, NSEC3 hash and key tags), so that
//! this is a second implementation beside zone-sign's own signer and
//! checker, not the same code asked twice. The zone text comes through
//! [`crate::zone::ZoneReader`], record by record, NSEC, NSEC3 and RRSIG
//! kept as written.

use crate::algorithm::Algorithm;
use crate::error::{Error, Result};
use crate::name::Name;
use crate::rdata;
use crate::record::{Class, RType};
use crate::zone::ZoneReader;
use hickory_proto::dnssec::rdata::{DNSSECRData, DNSKEY, NSEC, NSEC3, NSEC3PARAM, RRSIG};
use hickory_proto::dnssec::{Nsec3HashAlgorithm, Verifier};
use hickory_proto::rr::{DNSClass, Name as HName, RData, Record as HRecord};
use hickory_proto::serialize::binary::{
    BinDecodable, BinDecoder, BinEncodable, BinEncoder, NameEncoding,
};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The most NSEC3 iterations we hash with: RFC 5155 §10.3's bound for
/// 4096-bit keys. A hostile zone cannot make us hash each name 65,535
/// times.
pub const MAX_NSEC3_ITERATIONS: u16 = 2500;

/// How many DNSKEYs of one algorithm may share a key tag: a signature is
/// tried with each, so a zone of colliding tags would make the work
/// quadratic (KeyTrap, CVE-2023-50387). Real zones have one.
pub const MAX_KEYS_PER_TAG: usize = 4;

/// What to verify, and when "now" is.
#[derive(Clone, Debug)]
pub struct Options {
    /// The zone's origin.
    pub origin: Name,
    /// The zone's class (records of another class are an input error).
    pub class: Option<Class>,
    /// `-x`: the DNSKEY RRset needs only KSK signatures, and an algorithm
    /// needs no ZSK beside its KSK.
    pub ksk_only_dnskey: bool,
    /// `-z`: the KSK flag is ignored; any self-signed key makes its
    /// algorithm one that must sign the zone.
    pub ignore_ksk_flag: bool,
    /// Unix seconds.
    pub now: i64,
    /// Report RRsets whose signatures expire within this many seconds.
    pub expire_warn: Option<i64>,
}

/// One reason the zone is not correctly signed, at one owner and type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The owner name, absolute.
    pub owner: String,
    /// The type mnemonic (or `TYPEn`).
    pub rtype: String,
    /// What is wrong, lowercase, one line.
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}: {}", self.owner, self.rtype, self.message)
    }
}

/// The keys of one algorithm at the apex, counted as dnssec-verify counts
/// them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyCounts {
    /// The DNSSEC algorithm number.
    pub algorithm: u8,
    /// KSKs (SEP flag) that sign the DNSKEY RRset now.
    pub ksk_active: u32,
    /// KSKs that do not (pre-published, or their signature is offline).
    pub ksk_standby: u32,
    /// KSKs with the REVOKE flag (RFC 5011).
    pub ksk_revoked: u32,
    /// ZSKs that sign the DNSKEY RRset or the SOA now.
    pub zsk_active: u32,
    /// ZSKs that sign neither.
    pub zsk_standby: u32,
    /// ZSKs with the REVOKE flag.
    pub zsk_revoked: u32,
}

/// An RRset whose signatures end soon (see [`Options::expire_warn`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expiring {
    /// The owner name, absolute.
    pub owner: String,
    /// The type mnemonic (or `TYPEn`).
    pub rtype: String,
    /// The earliest signature expiration of the RRset, unix seconds.
    pub expiration: i64,
}

/// The outcome of verifying a zone.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The origin as the zone writes it.
    pub origin: String,
    /// "NSEC", "NSEC3" or "none".
    pub denial: &'static str,
    /// The algorithms that must sign every RRset, by number.
    pub algorithms: Vec<u8>,
    /// Key counts, one entry per algorithm of the apex zone keys.
    pub keys: Vec<KeyCounts>,
    /// Authoritative RRsets that must be signed.
    pub rrsets: u64,
    /// RRSIG records in the zone.
    pub signatures: u64,
    /// Why the zone is not correctly signed; empty when it is.
    pub failures: Vec<Finding>,
    /// Algorithms that do not sign every RRset they must.
    pub incomplete_algorithms: Vec<u8>,
    /// The earliest expiration of a signature that counts, with its RRset.
    pub earliest_expiration: Option<Expiring>,
    /// RRsets whose signatures expire within [`Options::expire_warn`].
    pub expiring: Vec<Expiring>,
}

impl Report {
    /// True when the zone is fully and correctly signed.
    pub fn valid(&self) -> bool {
        self.failures.is_empty()
    }
}

/// The name of algorithm `number` as BIND prints it.
pub fn algorithm_name(number: u8) -> String {
    Algorithm::from_number(number)
        .map(|a| a.mnemonic().to_string())
        .unwrap_or_else(|| number.to_string())
}

/// One RRset of the zone: its records as hickory reads them.
struct Set {
    rtype: RType,
    records: Vec<HRecord>,
}

/// One RRSIG of the zone.
struct Sig {
    rrsig: RRSIG,
}

/// All records at one owner name.
struct Node {
    owner: Name,
    hname: HName,
    sets: Vec<Set>,
    sigs: Vec<Sig>,
}

impl Node {
    fn set(&self, rtype: RType) -> Option<&Set> {
        self.sets.iter().find(|s| s.rtype == rtype)
    }

    fn has(&self, rtype: RType) -> bool {
        self.set(rtype).is_some()
    }

    /// Types at this name that NSEC or NSEC3 bitmaps list, RRSIG included
    /// when there is one, and at a delegation only what the parent owns.
    fn bitmap_types(&self, delegation: bool, hashed: bool) -> BTreeSet<u16> {
        let mut types: BTreeSet<u16> = self
            .sets
            .iter()
            .map(|s| s.rtype)
            .filter(|t| !hashed || *t != RType::NSEC3)
            .filter(|t| !delegation || [RType::NS, RType::DS, RType::NSEC].contains(t))
            .map(|t| t.0)
            .collect();
        if !self.sigs.is_empty() && (!hashed || types.iter().any(|t| *t != RType::NSEC.0)) {
            types.insert(RType::RRSIG.0);
        }
        types
    }
}

/// A record as the reader gives it, with its RDATA in wire form.
struct Raw {
    owner: Name,
    rtype: RType,
    class: Class,
    ttl: u32,
    wire: Vec<u8>,
}

/// How far a verification has got, for a progress line; updated as it runs.
#[derive(Debug, Default)]
pub struct VerifyProgress {
    /// Records read from the zone file so far.
    pub records: AtomicU64,
    /// Owner names to check: 0 until the zone is read and sorted.
    pub names: AtomicU64,
    /// Owner names checked so far.
    pub names_done: AtomicU64,
    /// RRsets whose signatures were checked so far.
    pub rrsets_done: AtomicU64,
}

/// Reads the zone, records as written (NSEC, NSEC3 and RRSIG kept), and
/// verifies it. Input errors name the file and line; anything wrong with
/// the signing is a [`Finding`] in the report.
pub fn verify_zone(reader: ZoneReader, options: &Options) -> Result<Report> {
    verify_zone_watched(reader, options, &VerifyProgress::default())
}

/// [`verify_zone`], counting its progress in `watch`.
pub fn verify_zone_watched(
    mut reader: ZoneReader,
    options: &Options,
    watch: &VerifyProgress,
) -> Result<Report> {
    let origin = &options.origin;
    if let Some(class) = options.class {
        reader = reader.with_class(class);
    }
    let mut raws = Vec::new();
    let mut out_of_zone = 0u64;
    while let Some(record) = reader.next_record()? {
        watch.records.fetch_add(1, Relaxed);
        if !record.owner.is_subdomain_of(origin) {
            if out_of_zone == 0 {
                crate::cli::warn(&format!(
                    "{}:{}: ignoring out-of-zone data ({})",
                    record.file, record.line, record.owner
                ));
            }
            out_of_zone += 1;
            continue;
        }
        let wire = rdata::parse(record.rtype, &record.rdata, &record.origin)
            .map_err(|message| record.error(message))?;
        if wire.len() > usize::from(u16::MAX) {
            return Err(record.error("RDATA longer than 65535 octets"));
        }
        raws.push(Raw {
            owner: record.owner,
            rtype: record.rtype,
            class: record.class,
            ttl: record.ttl,
            wire,
        });
    }
    let class = raws.first().map_or(Class::IN, |r| r.class);
    // Canonical order (RFC 4034 §6.1), each owner's key made once: a
    // zone of 150,000 records is sorted in a moment.
    let mut keyed: Vec<(Vec<Vec<u8>>, Raw)> = raws
        .into_iter()
        .map(|raw| (canonical_key(&raw.owner), raw))
        .collect();
    keyed.sort_by(|(ka, a), (kb, b)| {
        ka.cmp(kb)
            .then(a.rtype.0.cmp(&b.rtype.0))
            .then_with(|| a.wire.cmp(&b.wire))
    });
    // Duplicate records are one record (RFC 2181 §5), as BIND loads them.
    keyed.dedup_by(|(kb, b), (ka, a)| ka == kb && a.rtype == b.rtype && a.wire == b.wire);
    let nodes = build_nodes(keyed, class)?;
    watch.names.store(nodes.len() as u64, Relaxed);
    Ok(Verification::new(nodes, options, class).run(watch))
}

/// Converts one record to hickory's form through wire format.
fn hickory_record(raw: &Raw, class: Class) -> std::result::Result<HRecord, String> {
    let mut wire = Vec::with_capacity(raw.owner.wire().len() + 10 + raw.wire.len());
    wire.extend_from_slice(raw.owner.wire());
    wire.extend_from_slice(&raw.rtype.0.to_be_bytes());
    wire.extend_from_slice(&class.0.to_be_bytes());
    wire.extend_from_slice(&raw.ttl.to_be_bytes());
    wire.extend_from_slice(&(raw.wire.len() as u16).to_be_bytes());
    wire.extend_from_slice(&raw.wire);
    let mut decoder = BinDecoder::new(&wire);
    let record = HRecord::read(&mut decoder).map_err(|e| e.to_string())?;
    // A type hickory reads into fields and writes back differently (its
    // CAA, SVCB and obsolete types) would be signed data we change: such
    // records are kept as opaque RDATA, which is what a validator hashes
    // for every type outside RFC 4034 §6.2's list.
    let same = record
        .data
        .to_bytes()
        .map(|b| b == raw.wire)
        .unwrap_or(false);
    if same || is_dnssec(raw.rtype) {
        return Ok(record);
    }
    let opaque = RData::Unknown {
        code: raw.rtype.0.into(),
        rdata: hickory_proto::rr::rdata::NULL::with(raw.wire.clone()),
    };
    Ok(HRecord::from_rdata(record.name.clone(), raw.ttl, opaque).with_class(class))
}

fn is_dnssec(rtype: RType) -> bool {
    [
        RType::RRSIG,
        RType::NSEC,
        RType::NSEC3,
        RType::NSEC3PARAM,
        RType::DNSKEY,
    ]
    .contains(&rtype)
}

trait WithClass {
    fn with_class(self, class: Class) -> Self;
}

impl WithClass for HRecord {
    fn with_class(mut self, class: Class) -> Self {
        self.dns_class = DNSClass::from(class.0);
        self
    }
}

/// A name's labels from the root, lower case: compared as a list, the
/// canonical order of names.
fn canonical_key(name: &Name) -> Vec<Vec<u8>> {
    let mut labels: Vec<Vec<u8>> = name.labels().map(<[u8]>::to_ascii_lowercase).collect();
    labels.reverse();
    labels
}

fn build_nodes(raws: Vec<(Vec<Vec<u8>>, Raw)>, class: Class) -> Result<Vec<Node>> {
    let mut nodes: Vec<Node> = Vec::new();
    let mut last_key: Option<Vec<Vec<u8>>> = None;
    for (key, raw) in raws {
        let record = hickory_record(&raw, class).map_err(|e| {
            Error::Failed(format!(
                "{}/{}: RDATA that hickory-proto cannot read: {e}",
                raw.owner,
                rdata::type_text(raw.rtype)
            ))
        })?;
        let same_owner = last_key.as_ref() == Some(&key);
        if !same_owner {
            last_key = Some(key);
            nodes.push(Node {
                owner: raw.owner.clone(),
                hname: record.name.clone(),
                sets: Vec::new(),
                sigs: Vec::new(),
            });
        }
        let Some(node) = nodes.last_mut() else {
            continue;
        };
        if raw.rtype == RType::RRSIG {
            match &record.data {
                RData::DNSSEC(DNSSECRData::RRSIG(rrsig)) => node.sigs.push(Sig {
                    rrsig: rrsig.clone(),
                }),
                _ => {
                    return Err(Error::Failed(format!(
                        "{}/RRSIG: not an RRSIG record",
                        raw.owner
                    )))
                }
            }
            continue;
        }
        match node.sets.iter_mut().find(|s| s.rtype == raw.rtype) {
            Some(set) => set.records.push(record),
            None => node.sets.push(Set {
                rtype: raw.rtype,
                records: vec![record],
            }),
        }
    }
    Ok(nodes)
}

/// Where a name stands in the zone.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Standing {
    Apex,
    Authoritative,
    Delegation,
    /// Below a delegation or a DNAME: glue or occluded data.
    Occluded,
    /// An NSEC3 owner (hash.origin) holding nothing but NSEC3 and RRSIG.
    Hashed,
}

struct ApexKey {
    dnskey: DNSKEY,
    tag: u16,
    algorithm: u8,
    flags: u16,
}

struct Verification<'a> {
    nodes: Vec<Node>,
    standing: Vec<Standing>,
    options: &'a Options,
    class: DNSClass,
    keys: Vec<ApexKey>,
    active: BTreeSet<u8>,
    report: Report,
}

const REVOKE: u16 = 0x0080;
const SEP: u16 = 0x0001;
const ZONE: u16 = 0x0100;

impl<'a> Verification<'a> {
    fn new(nodes: Vec<Node>, options: &'a Options, class: Class) -> Verification<'a> {
        let mut standing = Vec::with_capacity(nodes.len());
        let mut cut: Option<Name> = None;
        for node in &nodes {
            let apex = node.owner.eq_ignore_case(&options.origin);
            // NSEC3 owners are hashes, outside the name tree: a DNAME at
            // the apex occludes names, not them (RFC 5155 §7.1).
            let only_nsec3 = node.has(RType::NSEC3)
                && node.sets.iter().all(|s| s.rtype == RType::NSEC3)
                && node.owner.label_count() == options.origin.label_count() + 1;
            if only_nsec3 {
                standing.push(Standing::Hashed);
                continue;
            }
            if let Some(at) = &cut {
                if node.owner.is_subdomain_of(at) && !node.owner.eq_ignore_case(at) {
                    standing.push(Standing::Occluded);
                    continue;
                }
                cut = None;
            }
            let delegation = !apex && node.has(RType::NS);
            if delegation || node.has(RType::DNAME) {
                cut = Some(node.owner.clone());
            }
            standing.push(if apex {
                Standing::Apex
            } else if delegation {
                Standing::Delegation
            } else {
                Standing::Authoritative
            });
        }
        Verification {
            nodes,
            standing,
            options,
            class: DNSClass::from(class.0),
            keys: Vec::new(),
            active: BTreeSet::new(),
            report: Report {
                origin: options.origin.to_string(),
                denial: "none",
                ..Report::default()
            },
        }
    }

    fn fail(&mut self, owner: &Name, rtype: RType, message: impl Into<String>) {
        self.report.failures.push(Finding {
            owner: owner.to_string(),
            rtype: rdata::type_text(rtype),
            message: message.into(),
        });
    }

    fn run(mut self, watch: &VerifyProgress) -> Report {
        let origin = self.options.origin.clone();
        let apex = self.standing.iter().position(|s| *s == Standing::Apex);
        let Some(apex) = apex else {
            self.fail(&origin, RType::SOA, "the zone has no records at its apex");
            return self.report;
        };
        if !self.nodes[apex].has(RType::SOA) {
            self.fail(&origin, RType::SOA, "no SOA record at the apex");
        }
        self.report.signatures = self.nodes.iter().map(|n| n.sigs.len() as u64).sum();
        self.apex_keys(apex);
        if self.active.is_empty() {
            return self.report;
        }
        for at in 0..self.nodes.len() {
            self.check_node(at);
            watch.names_done.fetch_add(1, Relaxed);
            watch
                .rrsets_done
                .fetch_add(self.nodes[at].sets.len() as u64, Relaxed);
        }
        let nsec3param = self.nodes[apex]
            .set(RType::NSEC3PARAM)
            .and_then(|s| s.records.first())
            .and_then(|r| match &r.data {
                RData::DNSSEC(DNSSECRData::NSEC3PARAM(p)) => Some(p.clone()),
                _ => None,
            });
        match nsec3param {
            Some(param) => {
                self.report.denial = "NSEC3";
                self.check_nsec3(&param);
            }
            None => {
                self.report.denial = "NSEC";
                self.check_nsec();
            }
        }
        self.report.incomplete_algorithms.sort_unstable();
        self.report.incomplete_algorithms.dedup();
        if let Some(window) = self.options.expire_warn {
            let now = self.options.now;
            self.report.expiring.retain(|e| e.expiration - now < window);
        } else {
            self.report.expiring.clear();
        }
        self.report.expiring.sort_by_key(|e| e.expiration);
        self.report
    }

    /// Counts the apex keys as dnssec-verify does and decides which
    /// algorithms must sign the zone.
    fn apex_keys(&mut self, apex: usize) {
        let origin = self.options.origin.clone();
        let node = &self.nodes[apex];
        let Some(set) = node.set(RType::DNSKEY) else {
            self.fail(&origin, RType::DNSKEY, "the zone contains no DNSSEC keys");
            return;
        };
        for record in &set.records {
            let RData::DNSSEC(DNSSECRData::DNSKEY(dnskey)) = &record.data else {
                continue;
            };
            if dnskey.flags() & ZONE == 0 {
                continue;
            }
            let Ok(tag) = dnskey.calculate_key_tag() else {
                continue;
            };
            self.keys.push(ApexKey {
                dnskey: dnskey.clone(),
                tag,
                algorithm: u8::from(dnskey.algorithm()),
                flags: dnskey.flags(),
            });
        }
        if self.keys.is_empty() {
            self.fail(
                &origin,
                RType::DNSKEY,
                "the zone contains no DNSSEC zone keys",
            );
            return;
        }
        let mut problems = Vec::new();
        let mut per_tag: HashMap<(u8, u16), usize> = HashMap::new();
        let mut colliding = BTreeSet::new();
        self.keys.retain(|key| {
            let count = per_tag.entry((key.algorithm, key.tag)).or_default();
            *count += 1;
            if *count > MAX_KEYS_PER_TAG {
                colliding.insert((key.algorithm, key.tag));
            }
            *count <= MAX_KEYS_PER_TAG
        });
        for (algorithm, tag) in colliding {
            problems.push(format!(
                "more than {MAX_KEYS_PER_TAG} {} keys with key tag {tag}: the others are not used",
                algorithm_name(algorithm)
            ));
        }
        let node = &self.nodes[apex];
        let mut counts: BTreeMap<u8, KeyCounts> = BTreeMap::new();
        for key in &self.keys {
            let count = counts.entry(key.algorithm).or_insert_with(|| KeyCounts {
                algorithm: key.algorithm,
                ..KeyCounts::default()
            });
            let ksk = key.flags & SEP != 0;
            let self_signed = self.signs(key, node, RType::DNSKEY);
            if key.flags & REVOKE != 0 {
                if ksk && !self_signed {
                    problems.push(format!(
                        "revoked KSK {} ({}) does not sign the DNSKEY RRset",
                        key.tag,
                        algorithm_name(key.algorithm)
                    ));
                }
                if ksk {
                    count.ksk_revoked += 1;
                } else {
                    count.zsk_revoked += 1;
                }
            } else if ksk {
                if self_signed {
                    count.ksk_active += 1;
                } else {
                    count.ksk_standby += 1;
                }
            } else if self_signed || self.signs(key, node, RType::SOA) {
                count.zsk_active += 1;
            } else {
                count.zsk_standby += 1;
            }
        }
        for problem in problems {
            self.fail(&origin, RType::DNSKEY, problem);
        }
        for count in counts.values() {
            let active = if self.options.ignore_ksk_flag {
                count.ksk_active + count.zsk_active > 0
            } else {
                count.ksk_active > 0
            };
            if active {
                self.active.insert(count.algorithm);
            }
            if !self.options.ignore_ksk_flag
                && !self.options.ksk_only_dnskey
                && (count.ksk_active > 0) != (count.zsk_active > 0)
            {
                let missing = if count.ksk_active > 0 { "ZSK" } else { "KSK" };
                self.fail(
                    &origin,
                    RType::DNSKEY,
                    format!(
                        "missing {missing} for algorithm {}",
                        algorithm_name(count.algorithm)
                    ),
                );
                self.report.incomplete_algorithms.push(count.algorithm);
            }
        }
        self.report.keys = counts.into_values().collect();
        if self.active.is_empty() {
            let which = if self.options.ignore_ksk_flag {
                ""
            } else {
                "KSK "
            };
            self.fail(
                &origin,
                RType::DNSKEY,
                format!("no self-signed {which}DNSKEY found (keys offline or inactive?)"),
            );
        }
        self.report.algorithms = self.active.iter().copied().collect();
    }

    /// True when `key` makes a valid signature, now, over `rtype` at `node`.
    fn signs(&self, key: &ApexKey, node: &Node, rtype: RType) -> bool {
        let Some(set) = node.set(rtype) else {
            return false;
        };
        node.sigs.iter().any(|sig| {
            let input = sig.rrsig.input();
            u16::from(input.type_covered) == rtype.0
                && input.key_tag == key.tag
                && u8::from(input.algorithm) == key.algorithm
                && self.time_problem(&sig.rrsig).is_none()
                && self.verify_with(key, node, set, &sig.rrsig)
        })
    }

    fn verify_with(&self, key: &ApexKey, node: &Node, set: &Set, rrsig: &RRSIG) -> bool {
        signed_data(&node.hname, self.class, rrsig, &set.records)
            .and_then(|data| {
                key.dnskey
                    .verify(&data, rrsig.sig())
                    .map_err(|e| e.to_string())
            })
            .is_ok()
    }

    /// Why the signature is not valid now, if it is not (RFC 4034 §3.1.5:
    /// serial number arithmetic, so 2106 is not the end).
    fn time_problem(&self, rrsig: &RRSIG) -> Option<String> {
        let input = rrsig.input();
        let expiration = self.unix(input.sig_expiration.get());
        let inception = self.unix(input.sig_inception.get());
        if expiration < self.options.now {
            return Some(format!(
                "expired at {}",
                crate::time::format_timestamp(expiration)
            ));
        }
        if inception > self.options.now {
            return Some(format!(
                "not valid before {}",
                crate::time::format_timestamp(inception)
            ));
        }
        None
    }

    /// A 32-bit RRSIG time as the unix time nearest to now.
    fn unix(&self, serial: u32) -> i64 {
        rrsig_time(serial, self.options.now)
    }

    fn check_node(&mut self, at: usize) {
        let standing = self.standing[at];
        let node = &self.nodes[at];
        let owner = node.owner.clone();
        let mut failures: Vec<(RType, String)> = Vec::new();
        let mut incomplete = Vec::new();
        let mut expiring = Vec::new();
        let mut rrsets = 0u64;
        if standing == Standing::Occluded {
            for sig in &node.sigs {
                failures.push((
                    RType(u16::from(sig.rrsig.input().type_covered)),
                    "signature over glue or occluded data (below a delegation or DNAME)".into(),
                ));
            }
            if node.has(RType::NSEC) {
                failures.push((RType::NSEC, "NSEC record at glue or occluded name".into()));
            }
        } else {
            for sig in &node.sigs {
                let covered = RType(u16::from(sig.rrsig.input().type_covered));
                if !node.has(covered) {
                    failures.push((covered, "RRSIG over a type not at this name".into()));
                }
            }
            for set in &node.sets {
                let signed = standing != Standing::Delegation
                    || set.rtype == RType::DS
                    || set.rtype == RType::NSEC;
                let sigs: Vec<&Sig> = node
                    .sigs
                    .iter()
                    .filter(|s| u16::from(s.rrsig.input().type_covered) == set.rtype.0)
                    .collect();
                if !signed {
                    if !sigs.is_empty() {
                        failures.push((
                            set.rtype,
                            "signature over delegation data the parent does not own".into(),
                        ));
                    }
                    continue;
                }
                rrsets += 1;
                let mut good: BTreeSet<u8> = BTreeSet::new();
                let mut earliest: Option<i64> = None;
                for sig in sigs {
                    let input = sig.rrsig.input();
                    let algorithm = u8::from(input.algorithm);
                    let keys: Vec<&ApexKey> = self
                        .keys
                        .iter()
                        .filter(|k| k.tag == input.key_tag && k.algorithm == algorithm)
                        .collect();
                    // BIND ignores signatures by keys outside the DNSKEY
                    // RRset and of algorithms no self-signed key has
                    // (keys being introduced or retired): so do we.
                    if keys.is_empty() || !self.active.contains(&algorithm) {
                        continue;
                    }
                    let who = format!(
                        "RRSIG by key {} ({})",
                        input.key_tag,
                        algorithm_name(algorithm)
                    );
                    if input.signer_name != hname_of(&self.options.origin) {
                        failures.push((
                            set.rtype,
                            format!("{who} names signer '{}', not the zone", input.signer_name),
                        ));
                        continue;
                    }
                    let expiration = self.unix(input.sig_expiration.get());
                    earliest = Some(earliest.map_or(expiration, |e| e.min(expiration)));
                    if let Some(problem) = self.time_problem(&sig.rrsig) {
                        failures.push((set.rtype, format!("{who} {problem}")));
                        continue;
                    }
                    if keys
                        .iter()
                        .any(|k| self.verify_with(k, node, set, &sig.rrsig))
                    {
                        good.insert(algorithm);
                    } else {
                        failures.push((set.rtype, format!("{who} does not verify")));
                    }
                }
                for algorithm in &self.active {
                    if self.options.ksk_only_dnskey && set.rtype == RType::DNSKEY {
                        // -x: KSK signatures alone suffice, and are checked
                        // as self-signatures above.
                        continue;
                    }
                    if !good.contains(algorithm) {
                        failures.push((
                            set.rtype,
                            format!("no correct {} signature", algorithm_name(*algorithm)),
                        ));
                        incomplete.push(*algorithm);
                    }
                }
                if let Some(expiration) = earliest {
                    expiring.push(Expiring {
                        owner: owner.to_string(),
                        rtype: rdata::type_text(set.rtype),
                        expiration,
                    });
                }
            }
        }
        self.report.rrsets += rrsets;
        self.report.incomplete_algorithms.extend(incomplete);
        for e in expiring {
            let earlier = self
                .report
                .earliest_expiration
                .as_ref()
                .is_none_or(|x| e.expiration < x.expiration);
            if earlier {
                self.report.earliest_expiration = Some(e.clone());
            }
            self.report.expiring.push(e);
        }
        for (rtype, message) in failures {
            self.fail(&owner, rtype, message);
        }
    }

    /// The nodes that hold data and are authoritative or delegations: the
    /// names denial of existence covers, in canonical order.
    fn chain_names(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|at| {
                matches!(
                    self.standing[*at],
                    Standing::Apex | Standing::Authoritative | Standing::Delegation
                )
            })
            .collect()
    }

    fn check_nsec(&mut self) {
        let names = self.chain_names();
        let mut failures: Vec<(Name, RType, String)> = Vec::new();
        for (i, &at) in names.iter().enumerate() {
            let node = &self.nodes[at];
            let Some(set) = node.set(RType::NSEC) else {
                failures.push((
                    node.owner.clone(),
                    RType::NSEC,
                    "missing NSEC record".into(),
                ));
                continue;
            };
            if set.records.len() > 1 {
                failures.push((
                    node.owner.clone(),
                    RType::NSEC,
                    "more than one NSEC record".into(),
                ));
            }
            let Some(RData::DNSSEC(DNSSECRData::NSEC(nsec))) = set.records.first().map(|r| &r.data)
            else {
                continue;
            };
            let next = &self.nodes[names[(i + 1) % names.len()]];
            if nsec.next_domain_name() != &next.hname {
                failures.push((
                    node.owner.clone(),
                    RType::NSEC,
                    format!(
                        "bad NSEC record, next name mismatch (expected '{}', found '{}')",
                        next.hname,
                        nsec.next_domain_name()
                    ),
                ));
            }
            let delegation = self.standing[at] == Standing::Delegation;
            let want = node.bitmap_types(delegation, false);
            let have = nsec_types(nsec);
            if want != have {
                failures.push((
                    node.owner.clone(),
                    RType::NSEC,
                    bitmap_message(&have, &want),
                ));
            }
        }
        for (owner, rtype, message) in failures {
            self.fail(&owner, rtype, message);
        }
    }

    fn check_nsec3(&mut self, param: &NSEC3PARAM) {
        let origin = self.options.origin.clone();
        if param.iterations() > MAX_NSEC3_ITERATIONS {
            self.fail(
                &origin,
                RType::NSEC3PARAM,
                format!(
                    "{} NSEC3 iterations, more than {MAX_NSEC3_ITERATIONS} (RFC 5155 §10.3): not verified",
                    param.iterations()
                ),
            );
            return;
        }
        let algorithm: Nsec3HashAlgorithm = param.hash_algorithm();
        let salt = param.salt().to_vec();
        let iterations = param.iterations();
        // The names that need an NSEC3, with whether opt-out may leave
        // them out: insecure delegations, and empty non-terminals that
        // only they make (RFC 5155 §7.1).
        let mut expected: BTreeMap<Vec<u8>, (Name, Option<usize>, bool)> = BTreeMap::new();
        let mut wanted: HashMap<Vec<u8>, (Name, Option<usize>, bool)> = HashMap::new();
        for at in self.chain_names() {
            let node = &self.nodes[at];
            let optional = self.standing[at] == Standing::Delegation && !node.has(RType::DS);
            wanted.insert(
                node.owner.canonical_wire(),
                (node.owner.clone(), Some(at), optional),
            );
            let mut name = node.owner.clone();
            while let Some(parent) = name.parent() {
                if !parent.is_subdomain_of(&origin) || parent.eq_ignore_case(&origin) {
                    break;
                }
                let entry = wanted
                    .entry(parent.canonical_wire())
                    .or_insert_with(|| (parent.clone(), None, true));
                if entry.1.is_none() {
                    entry.2 &= optional;
                }
                name = parent;
            }
        }
        for (_, (name, at, optional)) in wanted {
            let Ok(hash) = algorithm.hash(&salt, &hname_of(&name), iterations) else {
                continue;
            };
            expected.insert(hash.as_ref().to_vec(), (name, at, optional));
        }
        // The NSEC3 records of this chain, by hash.
        let mut chain: BTreeMap<Vec<u8>, (usize, NSEC3)> = BTreeMap::new();
        let mut failures: Vec<(Name, RType, String)> = Vec::new();
        for at in 0..self.nodes.len() {
            let node = &self.nodes[at];
            let Some(set) = node.set(RType::NSEC3) else {
                continue;
            };
            for record in &set.records {
                let RData::DNSSEC(DNSSECRData::NSEC3(nsec3)) = &record.data else {
                    continue;
                };
                if nsec3.hash_algorithm() != algorithm
                    || nsec3.iterations() != iterations
                    || nsec3.salt() != salt.as_slice()
                {
                    continue;
                }
                if self.standing[at] != Standing::Hashed {
                    failures.push((node.owner.clone(), RType::NSEC3, "NSEC3 record at a name that holds other data, or not directly below the apex".into()));
                    continue;
                }
                let label = node.owner.labels().next().map(<[u8]>::to_ascii_uppercase);
                let hash = label.and_then(|l| data_encoding::BASE32HEX_NOPAD.decode(&l).ok());
                let Some(hash) = hash else {
                    failures.push((
                        node.owner.clone(),
                        RType::NSEC3,
                        "NSEC3 owner is not a base32hex hash".into(),
                    ));
                    continue;
                };
                if chain.insert(hash, (at, nsec3.clone())).is_some() {
                    failures.push((
                        node.owner.clone(),
                        RType::NSEC3,
                        "more than one NSEC3 record".into(),
                    ));
                }
            }
        }
        if chain.is_empty() {
            self.fail(
                &origin,
                RType::NSEC3,
                "NSEC3PARAM at the apex but no NSEC3 chain",
            );
            return;
        }
        let hashes: Vec<&Vec<u8>> = chain.keys().collect();
        for (i, (hash, (at, nsec3))) in chain.iter().enumerate() {
            let owner = &self.nodes[*at].owner;
            let next = hashes[(i + 1) % hashes.len()];
            if nsec3.next_hashed_owner_name() != next.as_slice() {
                failures.push((
                    owner.clone(),
                    RType::NSEC3,
                    format!(
                        "break in NSEC3 chain: next hash {}, expected {}",
                        base32hex(nsec3.next_hashed_owner_name()),
                        base32hex(next)
                    ),
                ));
            }
            match expected.get(hash) {
                None => failures.push((
                    owner.clone(),
                    RType::NSEC3,
                    "NSEC3 record whose hash is no name of the zone".into(),
                )),
                Some((_, node_at, _)) => {
                    let want = match node_at {
                        Some(n) => self.nodes[*n]
                            .bitmap_types(self.standing[*n] == Standing::Delegation, true),
                        None => BTreeSet::new(),
                    };
                    let have: BTreeSet<u16> = nsec3.type_bit_maps().map(u16::from).collect();
                    if want != have {
                        failures.push((owner.clone(), RType::NSEC3, bitmap_message(&have, &want)));
                    }
                }
            }
        }
        for (hash, (name, _, optional)) in &expected {
            if chain.contains_key(hash) {
                continue;
            }
            // The NSEC3 whose span covers the hash: opt-out there lets an
            // insecure delegation go without one.
            let cover = chain
                .range(..hash.clone())
                .next_back()
                .or_else(|| chain.iter().next_back())
                .map(|(_, (_, n))| n.opt_out())
                .unwrap_or(false);
            if *optional && cover {
                continue;
            }
            failures.push((
                name.clone(),
                RType::NSEC3,
                format!("missing NSEC3 record (hash {})", base32hex(hash)),
            ));
        }
        for (owner, rtype, message) in failures {
            self.fail(&owner, rtype, message);
        }
    }
}

/// The data an RRSIG signs (RFC 4034 §3.1.8.1, RFC 4035 §5.3.2), in
/// hickory's canonical forms. hickory's own `TBS` builds it in one encoder
/// that stops at 65,535 octets, which real RRsets pass (BIND signs them),
/// so each part is encoded on its own and the parts joined; the records
/// are ordered by their canonical RDATA (RFC 4034 §6.3), not by TTL first
/// as hickory's record order would.
pub(crate) fn signed_data(
    owner: &HName,
    class: DNSClass,
    rrsig: &RRSIG,
    records: &[HRecord],
) -> std::result::Result<Vec<u8>, String> {
    let input = rrsig.input();
    let mut data = encode(|encoder| input.emit(encoder))?;
    let labels = owner.num_labels();
    let name = match input.num_labels.cmp(&labels) {
        Ordering::Equal => owner.clone(),
        Ordering::Less => HName::from_labels(vec![b"*" as &[u8]])
            .and_then(|star| star.append_name(&owner.trim_to(usize::from(input.num_labels))))
            .map_err(|e| e.to_string())?,
        Ordering::Greater => return Err("RRSIG labels field exceeds the owner's labels".into()),
    };
    let head = encode(|encoder| {
        let mut encoder = encoder.with_name_encoding(NameEncoding::UncompressedLowercase);
        name.emit(&mut encoder)?;
        input.type_covered.emit(&mut encoder)?;
        class.emit(&mut encoder)?;
        encoder.emit_u32(input.original_ttl)
    })?;
    let mut rdatas = Vec::with_capacity(records.len());
    for record in records {
        rdatas.push(encode(|encoder| record.data.emit(encoder))?);
    }
    rdatas.sort();
    rdatas.dedup();
    for rdata in rdatas {
        data.extend_from_slice(&head);
        let length = u16::try_from(rdata.len()).map_err(|_| "RDATA over 65535 octets")?;
        data.extend_from_slice(&length.to_be_bytes());
        data.extend_from_slice(&rdata);
    }
    Ok(data)
}

/// One part of signed data, in canonical form (no compression).
fn encode(
    body: impl FnOnce(&mut BinEncoder<'_>) -> std::result::Result<(), hickory_proto::ProtoError>,
) -> std::result::Result<Vec<u8>, String> {
    let mut buffer = Vec::new();
    let mut encoder = BinEncoder::new(&mut buffer);
    encoder.set_canonical_form(true);
    encoder.set_name_encoding(NameEncoding::Uncompressed);
    body(&mut encoder).map_err(|e| e.to_string())?;
    Ok(buffer)
}

/// A 32-bit RRSIG time (RFC 4034 §3.1.5) as the unix time within 68
/// years of `now`.
pub(crate) fn rrsig_time(serial: u32, now: i64) -> i64 {
    let diff = serial.wrapping_sub(now as u32) as i32;
    now + i64::from(diff)
}

pub(crate) fn hname_of(name: &Name) -> HName {
    <HName as BinDecodable>::from_bytes(name.wire()).unwrap_or_else(|_| HName::root())
}

fn nsec_types(nsec: &NSEC) -> BTreeSet<u16> {
    nsec.type_bit_maps().map(u16::from).collect()
}

fn base32hex(hash: &[u8]) -> String {
    data_encoding::BASE32HEX_NOPAD
        .encode(hash)
        .to_ascii_lowercase()
}

fn type_list(types: &BTreeSet<u16>) -> String {
    let names: Vec<String> = types.iter().map(|t| rdata::type_text(RType(*t))).collect();
    if names.is_empty() {
        "nothing".into()
    } else {
        names.join(" ")
    }
}

fn bitmap_message(have: &BTreeSet<u16>, want: &BTreeSet<u16>) -> String {
    format!(
        "type bitmap lists {}, the name has {}",
        type_list(have),
        type_list(want)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Name {
        Name::parse(text, Some(&Name::root())).expect("name")
    }

    #[test]
    fn canonical_keys_sort_as_rfc4034_section_6_1() {
        // RFC 4034 §6.1's example, shuffled.
        let sorted = [
            "example.",
            "a.example.",
            "yljkjljk.a.example.",
            "Z.a.example.",
            "zABC.a.EXAMPLE.",
            "z.example.",
            "\\001.z.example.",
            "*.z.example.",
            "\\200.z.example.",
        ];
        let mut names: Vec<Name> = sorted.iter().rev().map(|t| name(t)).collect();
        names.sort_by_key(canonical_key);
        let texts: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let expected: Vec<String> = sorted.iter().map(|t| name(t).to_string()).collect();
        assert_eq!(texts, expected);
    }

    #[test]
    fn rrsig_times_use_serial_arithmetic() {
        let now = 1_800_000_000;
        assert_eq!(rrsig_time(1_800_086_400, now), now + 86_400);
        assert_eq!(rrsig_time(1_799_913_600, now), now - 86_400);
        // After 2106 the 32-bit field wraps; the time still lies ahead.
        let later = (1_i64 << 32) + 1000;
        assert_eq!(rrsig_time(2000, later), later + 1000);
    }

    #[test]
    fn signed_data_is_built_past_64_kib() {
        // 3,000 A records: 78 KiB to sign, past hickory's one-encoder TBS.
        let owner = HName::from_ascii("big.example.").expect("name");
        let records: Vec<HRecord> = (0..3000u32)
            .map(|i| {
                let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i);
                HRecord::from_rdata(
                    owner.clone(),
                    300,
                    RData::A(hickory_proto::rr::rdata::A(ip)),
                )
            })
            .collect();
        let input = hickory_proto::dnssec::rdata::SigInput {
            type_covered: hickory_proto::rr::RecordType::A,
            algorithm: hickory_proto::dnssec::Algorithm::ECDSAP256SHA256,
            num_labels: 2,
            original_ttl: 300,
            sig_expiration: hickory_proto::rr::SerialNumber::new(2),
            sig_inception: hickory_proto::rr::SerialNumber::new(1),
            key_tag: 1,
            signer_name: HName::from_ascii("example.").expect("name"),
        };
        let rrsig = RRSIG::from_sig(input, vec![0; 64]);
        let mut shuffled = records.clone();
        shuffled.reverse();
        let data = signed_data(&owner, DNSClass::IN, &rrsig, &shuffled).expect("signed data");
        // RRSIG RDATA without the signature (18 + 9), then per record the
        // owner (13), type, class, TTL, length (10) and address (4).
        assert_eq!(data.len(), 18 + 9 + 3000 * (13 + 10 + 4));
        // In canonical RDATA order whatever the input order.
        assert_eq!(&data[27 + 23..27 + 27], &[10, 0, 0, 0]);
        assert_eq!(&data[data.len() - 4..], &[10, 0, 11, 183]);
    }
}
