//! Signing a zone (RFC 4033–4035, 5155, 6840, 9276): zone cuts and
//! occluded names, key roles, RRSIGs, and the NSEC or NSEC3 chain.
//!
//! The signer does not know PKCS#11: it asks a [`KeyStore`] for
//! signatures by key index, and verifies each one in software
//! ([`verify::Verifier`]) before it is kept. A signature that fails is
//! asked for once more; a second failure stops the run.
//!
//! When the input was signed already, its signatures are reused where
//! they can be (see [`RrsetSigner::reusable`]): a zone signed again the
//! next day costs verifications, not token calls.

pub mod check;
pub mod denial;
pub mod rrsig;
pub mod verify;

use crate::algorithm::Algorithm;
use crate::dnskey::DnsKey;
use crate::error::{Error, Result};
use crate::keys::PublicKey;
use crate::name::Name;
use crate::record::RType;
use crate::zone::model::{InputSignatures, RrSet, Zone};
use rrsig::{labels, signed_data, RrsigFields};
use std::time::{Duration, Instant};
use verify::Verifier;

/// Something that can make signatures with the zone's keys.
pub trait KeyStore {
    /// Signs `data` with key number `key` (an index into the key list).
    fn sign(&mut self, key: usize, data: &[u8]) -> Result<Vec<u8>>;

    /// Starts afresh (a new token session) before a signature is asked for
    /// again because the last one did not verify.
    fn fresh_session(&mut self) -> Result<()> {
        Ok(())
    }
}

/// A key the zone is signed with (or that is only published).
#[derive(Clone, Debug)]
pub struct SigningKey {
    pub dnskey: DnsKey,
    pub algorithm: Algorithm,
    pub public_key: PublicKey,
    /// Treated as a KSK (SEP flag, or `-k`).
    pub ksk: bool,
    /// Makes signatures (active); otherwise only published.
    pub active: bool,
    /// Publish its DNSKEY at the apex if it is not there.
    pub publish: bool,
    /// For messages: `example.com/ECDSAP256SHA256/12345`.
    pub description: String,
}

/// NSEC or NSEC3 with its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denial {
    Nsec,
    Nsec3 {
        salt: Vec<u8>,
        iterations: u16,
        opt_out: bool,
    },
}

/// How to sign.
#[derive(Clone, Debug)]
pub struct SignOptions {
    pub inception: u32,
    pub expiration: u32,
    /// Expiration of the DNSKEY RRset's signatures (`-X`).
    pub dnskey_expiration: Option<u32>,
    /// Shorten each expiration by a random 0..jitter seconds (`-j`).
    pub jitter: u32,
    pub denial: Denial,
    /// ZSKs also sign DNSKEY, CDS and CDNSKEY (not `-x`).
    pub zsk_signs_keys: bool,
    /// KSKs sign everything too (`-z`).
    pub ksk_signs_all: bool,
    /// TTL for DNSKEYs added to the apex when there is no DNSKEY RRset (`-T`).
    pub dnskey_ttl: Option<u32>,
    /// Seed of the jitter sequence.
    pub seed: u64,
    /// The time of signing, for judging the input's signatures.
    pub now: u32,
    /// An input signature that expires within this many seconds of `now`
    /// is replaced (`-i`, BIND's cycle interval).
    pub refresh: u32,
}

/// Counters for `-t` and the report.
#[derive(Clone, Debug, Default)]
pub struct SignStats {
    pub generated: u64,
    /// Input signatures kept.
    pub retained: u64,
    /// Input signatures not kept.
    pub dropped: u64,
    /// Made or retained signatures that verified.
    pub verified: u64,
    pub retried: u64,
    pub signing_time: Duration,
}

/// One output record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutRecord {
    pub owner: Name,
    pub ttl: u32,
    pub rtype: RType,
    pub rdata: Vec<u8>,
}

/// A signed zone: its records in output order (apex first, canonical order,
/// each RRset followed by its signatures, NSEC3 records last by hash).
#[derive(Clone, Debug)]
pub struct SignedZone {
    pub origin: Name,
    pub class: crate::record::Class,
    pub records: Vec<OutRecord>,
    pub stats: SignStats,
}

/// What a node is, for signing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    Apex,
    Authoritative,
    /// A zone cut; `secure` if it has a DS RRset.
    Delegation {
        secure: bool,
    },
    /// Below a zone cut or a DNAME: glue or occluded data, never signed.
    Occluded,
}

/// Classifies every node (the nodes are in canonical order, so a cut's
/// descendants follow it).
pub fn classify(zone: &Zone) -> Vec<NodeKind> {
    let mut kinds = Vec::with_capacity(zone.nodes.len());
    let mut cut: Option<&Name> = None;
    for (index, node) in zone.nodes.iter().enumerate() {
        if let Some(above) = cut {
            if node.owner.is_subdomain_of(above) && !node.owner.eq_ignore_case(above) {
                kinds.push(NodeKind::Occluded);
                continue;
            }
            cut = None;
        }
        let kind = if index == 0 {
            NodeKind::Apex
        } else if node.has(RType::NS) {
            NodeKind::Delegation {
                secure: node.has(RType::DS),
            }
        } else {
            NodeKind::Authoritative
        };
        // Names below a delegation or below a DNAME are occluded.
        if matches!(kind, NodeKind::Delegation { .. }) || node.has(RType::DNAME) {
            cut = Some(&node.owner);
        }
        kinds.push(kind);
    }
    kinds
}

/// The serial-number arithmetic of RFC 1982: true if `new` is after `old`.
pub fn serial_gt(new: u32, old: u32) -> bool {
    new != old && new.wrapping_sub(old) < 0x8000_0000
}

/// How `-N` changes the SOA serial.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SerialMode {
    #[default]
    Keep,
    Increment,
    UnixTime,
    /// YYYYMMDDnn (UTC).
    Date,
}

/// The new SOA serial (RFC 1982 arithmetic). Like BIND, a value that would
/// not advance the serial falls back to an increment, with a warning.
pub fn new_serial(mode: SerialMode, old: u32, now: i64) -> u32 {
    let increment = || old.wrapping_add(1).max(1);
    let advance_or_increment = |candidate: u32| {
        if serial_gt(candidate, old) {
            candidate
        } else {
            crate::cli::warn("Serial number would not advance, using increment method instead");
            increment()
        }
    };
    match mode {
        SerialMode::Keep => old,
        SerialMode::Increment => increment(),
        SerialMode::UnixTime => advance_or_increment(now as u32),
        SerialMode::Date => {
            let date: u32 = crate::time::format_timestamp(now)[..8].parse().unwrap_or(0);
            advance_or_increment(date.saturating_mul(100))
        }
    }
}

/// Signs `zone` with `keys`, one worker thread per store (each store is
/// its own token session). The zone gains the DNSKEYs of the keys to be
/// published and the NSEC3PARAM; its SOA serial is the caller's business.
///
/// Work is handed out in blocks of whole RRsets and the results are put
/// back in zone order, so the output does not depend on the number of
/// workers (nor, with RSA and EdDSA, on anything but the input and times:
/// jitter is a function of the seed and the RRset's place).
pub fn sign_zone(
    mut zone: Zone,
    keys: &[SigningKey],
    stores: &mut [Box<dyn KeyStore + Send>],
    options: &SignOptions,
) -> Result<SignedZone> {
    if stores.is_empty() {
        return Err(Error::Failed("no signing session".into()));
    }
    let signing: Vec<usize> = (0..keys.len()).filter(|&i| keys[i].active).collect();
    if signing.is_empty() {
        return Err(Error::Failed("No signing keys specified or found.".into()));
    }
    let verifiers: Vec<Verifier> = keys
        .iter()
        .map(|k| Verifier::new(&k.public_key, k.algorithm))
        .collect::<Result<_>>()?;
    publish_keys(&mut zone, keys, options)?;
    let (soa_ttl, minimum, _) = zone.soa()?;
    let denial_ttl = soa_ttl.min(minimum);
    if let Denial::Nsec3 {
        salt, iterations, ..
    } = &options.denial
    {
        let mut rdata = vec![1, 0];
        rdata.extend_from_slice(&iterations.to_be_bytes());
        rdata.push(salt.len() as u8);
        rdata.extend_from_slice(salt);
        let apex = &mut zone.nodes[0];
        apex.rrsets.retain(|s| s.rtype != RType::NSEC3PARAM);
        apex.rrsets.push(RrSet {
            rtype: RType::NSEC3PARAM,
            ttl: 0,
            rdatas: vec![rdata],
        });
        apex.rrsets.sort_by_key(|s| s.rtype);
    }
    let kinds = classify(&zone);
    // A DNSKEY at a delegation or below one is occluded (BIND GL #4517);
    // at an authoritative name below the apex it is an error.
    for (node, kind) in zone.nodes.iter().zip(&kinds) {
        if *kind == NodeKind::Authoritative && node.has(RType::DNSKEY) {
            return Err(Error::Failed(format!(
                "'{}': DNSKEY RRset below the zone apex",
                node.owner
            )));
        }
    }
    let chain = denial::build(&zone, &kinds, &options.denial, denial_ttl)?;

    // The output in order, with a slot for the signatures of each RRset
    // that gets them.
    let mut layout: Vec<(&Name, &RrSet, Option<usize>)> = Vec::new();
    let mut jobs: Vec<Job<'_>> = Vec::new();
    for (index, node) in zone.nodes.iter().enumerate() {
        let kind = kinds[index];
        let mut rrsets: Vec<&RrSet> = node.rrsets.iter().collect();
        if let Some(nsec) = chain.nsec_for(index) {
            rrsets.push(nsec);
        }
        order_rrsets(&mut rrsets);
        for rrset in rrsets {
            let job = needs_signature(kind, rrset.rtype).then(|| {
                jobs.push(Job {
                    owner: &node.owner,
                    rrset,
                });
                jobs.len() - 1
            });
            layout.push((&node.owner, rrset, job));
        }
    }
    for (owner, rrset) in chain.nsec3_records() {
        jobs.push(Job { owner, rrset });
        layout.push((owner, rrset, Some(jobs.len() - 1)));
    }

    let started = Instant::now();
    let origin = zone.origin.clone();
    let context = SignContext {
        keys,
        verifiers: &verifiers,
        options,
        origin: &origin,
        class: zone.class,
        input: &zone.input_signatures,
    };
    let (mut signatures, mut stats) = run_workers(&jobs, &context, stores)?;
    stats.signing_time = started.elapsed();
    let input_count: usize = zone.input_signatures.values().map(Vec::len).sum();
    stats.dropped = input_count as u64 - stats.retained;
    // Memory: the signatures move into the output rather than being copied.
    let record_count = layout
        .iter()
        .map(|(_, rrset, _)| rrset.rdatas.len())
        .sum::<usize>()
        + signatures.iter().map(Vec::len).sum::<usize>();
    let mut records = Vec::with_capacity(record_count);
    for (owner, rrset, job) in layout {
        push_rrset(&mut records, owner, rrset);
        if let Some(job) = job {
            records.extend(std::mem::take(&mut signatures[job]));
        }
    }
    Ok(SignedZone {
        origin,
        class: zone.class,
        records,
        stats,
    })
}

/// What one worker made: (job, signatures) pairs and its counters.
type WorkerResult = Result<(Vec<(usize, Vec<OutRecord>)>, SignStats)>;

/// One RRset to sign.
struct Job<'a> {
    owner: &'a Name,
    rrset: &'a RrSet,
}

/// How many RRsets a worker takes at a time: large enough that handing
/// out work costs nothing, small enough to balance the workers — with
/// many sessions on a slow token, the last blocks would otherwise leave
/// most sessions idle.
fn block_size(jobs: usize, workers: usize) -> usize {
    (jobs / (workers.max(1) * 16)).clamp(1, 64)
}

/// What every worker shares.
struct SignContext<'a> {
    keys: &'a [SigningKey],
    verifiers: &'a [Verifier],
    options: &'a SignOptions,
    origin: &'a Name,
    class: crate::record::Class,
    input: &'a InputSignatures,
}

/// Signs every job on `stores.len()` threads; returns the signatures of
/// each job, in job order, and the summed counters.
fn run_workers(
    jobs: &[Job<'_>],
    context: &SignContext<'_>,
    stores: &mut [Box<dyn KeyStore + Send>],
) -> Result<(Vec<Vec<OutRecord>>, SignStats)> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let block = block_size(jobs.len(), stores.len());
    let results: Vec<WorkerResult> = std::thread::scope(|scope| {
        let handles: Vec<_> = stores
            .iter_mut()
            .map(|store| {
                let (next, failed) = (&next, &failed);
                scope.spawn(move || {
                    let mut signer = RrsetSigner {
                        keys: context.keys,
                        verifiers: context.verifiers,
                        store: store.as_mut(),
                        options: context.options,
                        origin: context.origin.clone(),
                        class: context.class,
                        input: context.input,
                        stats: SignStats::default(),
                    };
                    let mut done = Vec::new();
                    loop {
                        if failed.load(Ordering::Relaxed) {
                            break;
                        }
                        let start = next.fetch_add(block, Ordering::Relaxed);
                        if start >= jobs.len() {
                            break;
                        }
                        for (index, job) in jobs.iter().enumerate().skip(start).take(block) {
                            match signer.sign_rrset(index, job.owner, job.rrset) {
                                Ok(signatures) => done.push((index, signatures)),
                                Err(error) => {
                                    failed.store(true, Ordering::Relaxed);
                                    return Err(error);
                                }
                            }
                        }
                    }
                    Ok((done, signer.stats))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err(Error::Failed("a signing worker panicked".into())))
            })
            .collect()
    });
    let mut signatures = vec![Vec::new(); jobs.len()];
    let mut stats = SignStats::default();
    let mut first_error = None;
    for result in results {
        match result {
            Ok((done, worker_stats)) => {
                for (index, records) in done {
                    signatures[index] = records;
                }
                stats.generated += worker_stats.generated;
                stats.retained += worker_stats.retained;
                stats.verified += worker_stats.verified;
                stats.retried += worker_stats.retried;
            }
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    match first_error {
        Some(error) => Err(error),
        None => Ok((signatures, stats)),
    }
}

/// SOA first, NS second, then by type code (BIND's order within a node).
fn order_rrsets(rrsets: &mut [&RrSet]) {
    rrsets.sort_by_key(|s| match s.rtype {
        RType::SOA => (0, 0),
        RType::NS => (1, 0),
        other => (2, other.0),
    });
}

fn push_rrset(records: &mut Vec<OutRecord>, owner: &Name, rrset: &RrSet) {
    for rdata in &rrset.rdatas {
        records.push(OutRecord {
            owner: owner.clone(),
            ttl: rrset.ttl,
            rtype: rrset.rtype,
            rdata: rdata.clone(),
        });
    }
}

/// Which RRsets get signatures: all authoritative data; at a delegation
/// only DS and NSEC (RFC 4035 §2.2); nothing that is occluded.
fn needs_signature(kind: NodeKind, rtype: RType) -> bool {
    match kind {
        NodeKind::Apex | NodeKind::Authoritative => true,
        NodeKind::Delegation { .. } => matches!(rtype, RType::DS | RType::NSEC),
        NodeKind::Occluded => false,
    }
}

/// Adds the DNSKEY of every key to publish to the apex DNSKEY RRset. TTL:
/// the existing RRset's, else `-T`, else the SOA's (BIND §9.5).
fn publish_keys(zone: &mut Zone, keys: &[SigningKey], options: &SignOptions) -> Result<()> {
    let (soa_ttl, _, _) = zone.soa()?;
    let apex = &mut zone.nodes[0];
    let ttl = apex
        .rrset(RType::DNSKEY)
        .map(|s| s.ttl)
        .or(options.dnskey_ttl)
        .unwrap_or(soa_ttl);
    let mut added = Vec::new();
    for key in keys.iter().filter(|k| k.publish) {
        let rdata = key.dnskey.rdata();
        let present = apex
            .rrset(RType::DNSKEY)
            .is_some_and(|s| s.rdatas.contains(&rdata));
        if !present {
            added.push(rdata);
        }
    }
    if added.is_empty() {
        return Ok(());
    }
    match apex.rrsets.iter_mut().find(|s| s.rtype == RType::DNSKEY) {
        Some(set) => set.rdatas.extend(added),
        None => {
            apex.rrsets.push(RrSet {
                rtype: RType::DNSKEY,
                ttl,
                rdatas: added,
            });
            apex.rrsets.sort_by_key(|s| s.rtype);
        }
    }
    if let Some(set) = apex.rrsets.iter_mut().find(|s| s.rtype == RType::DNSKEY) {
        set.rdatas.sort();
        set.rdatas.dedup();
    }
    Ok(())
}

struct RrsetSigner<'a> {
    keys: &'a [SigningKey],
    verifiers: &'a [Verifier],
    store: &'a mut (dyn KeyStore + Send),
    options: &'a SignOptions,
    origin: Name,
    class: crate::record::Class,
    input: &'a InputSignatures,
    stats: SignStats,
}

impl RrsetSigner<'_> {
    /// The keys that sign an RRset of this type at this node (see the
    /// module documentation of the roles).
    fn signers_for(&self, rtype: RType, apex: bool) -> Vec<usize> {
        let key_set = apex && matches!(rtype, RType::DNSKEY | RType::CDS | RType::CDNSKEY);
        let mut chosen = Vec::new();
        let mut algorithms: Vec<Algorithm> = self
            .keys
            .iter()
            .filter(|k| k.active)
            .map(|k| k.algorithm)
            .collect();
        algorithms.sort();
        algorithms.dedup();
        for algorithm in algorithms {
            let of_algorithm = |ksk: bool| -> Vec<usize> {
                (0..self.keys.len())
                    .filter(|&i| {
                        let k = &self.keys[i];
                        k.active
                            && k.algorithm == algorithm
                            && k.ksk == ksk
                            && !k.dnskey.is_revoked()
                    })
                    .collect()
            };
            let (ksks, zsks) = (of_algorithm(true), of_algorithm(false));
            if key_set {
                chosen.extend(&ksks);
                if self.options.zsk_signs_keys || ksks.is_empty() {
                    chosen.extend(&zsks);
                }
                if rtype == RType::DNSKEY {
                    // A revoked key signs the DNSKEY RRset (RFC 5011).
                    chosen.extend((0..self.keys.len()).filter(|&i| {
                        let k = &self.keys[i];
                        k.active && k.algorithm == algorithm && k.dnskey.is_revoked()
                    }));
                }
            } else {
                chosen.extend(&zsks);
                if self.options.ksk_signs_all || zsks.is_empty() {
                    chosen.extend(&ksks);
                }
            }
        }
        chosen
    }

    /// The jitter of one signature: a function of the seed, the RRset's
    /// place and the key, so that it does not depend on which worker signs.
    fn jitter(&self, job: usize, key: usize) -> u32 {
        if self.options.jitter == 0 {
            return 0;
        }
        // splitmix64: spread, not secrecy, is what jitter needs.
        let mut x =
            self.options.seed ^ (job as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ key as u64;
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 31;
        (x % u64::from(self.options.jitter)) as u32
    }

    /// The RRSIGs over one RRset, sorted as BIND orders them.
    fn sign_rrset(&mut self, job: usize, owner: &Name, rrset: &RrSet) -> Result<Vec<OutRecord>> {
        let apex = owner.eq_ignore_case(&self.origin);
        let mut signatures = Vec::new();
        // The input's signatures over this RRset, parsed once for all keys.
        let input: Vec<(RrsigFields, &[u8])> = if self.input.is_empty() {
            Vec::new()
        } else {
            self.input
                .get(&(owner.to_lowercase(), rrset.rtype))
                .map_or(&[][..], Vec::as_slice)
                .iter()
                .filter_map(|rdata| parse_rrsig(rdata))
                .collect()
        };
        for key_index in self.signers_for(rrset.rtype, apex) {
            if let Some(kept) = self.reusable(key_index, owner, rrset, &input) {
                self.stats.retained += 1;
                self.stats.verified += 1;
                signatures.push(kept);
                continue;
            }
            let key = &self.keys[key_index];
            let expiration = if rrset.rtype == RType::DNSKEY {
                self.options
                    .dnskey_expiration
                    .unwrap_or(self.options.expiration)
            } else {
                self.options.expiration
            };
            let expiration = expiration.wrapping_sub(self.jitter(job, key_index));
            let fields = RrsigFields {
                type_covered: rrset.rtype,
                algorithm: key.algorithm.number(),
                labels: labels(owner),
                original_ttl: rrset.ttl,
                expiration,
                inception: self.options.inception,
                key_tag: key.dnskey.key_tag(),
                signer: self.origin.clone(),
            };
            let data = signed_data(&fields, owner, self.class, rrset);
            let signature = self.make_verified(key_index, &data, owner, rrset.rtype)?;
            let validity = expiration.wrapping_sub(self.options.inception);
            signatures.push(OutRecord {
                owner: owner.clone(),
                ttl: rrset.ttl.min(validity),
                rtype: RType::RRSIG,
                rdata: fields.rdata(&signature),
            });
        }
        signatures.sort_by(|a, b| a.rdata.cmp(&b.rdata));
        Ok(signatures)
    }

    /// An input signature by key `key_index` over this RRset that can stay
    /// (the latest-expiring, if there are several). It must name the key
    /// (algorithm, tag, signer), the owner's labels and the RRset's TTL,
    /// be valid now, not expire within the refresh interval, and verify
    /// over the RRset as it is now — so a changed RRset is signed again.
    /// A signature by a key that no longer signs this RRset is dropped.
    fn reusable(
        &self,
        key_index: usize,
        owner: &Name,
        rrset: &RrSet,
        input: &[(RrsigFields, &[u8])],
    ) -> Option<OutRecord> {
        let key = &self.keys[key_index];
        let now = self.options.now;
        let mut candidates: Vec<&(RrsigFields, &[u8])> = input
            .iter()
            .filter(|(fields, _)| {
                fields.algorithm == key.algorithm.number()
                    && fields.key_tag == key.dnskey.key_tag()
                    && fields.signer.eq_ignore_case(&self.origin)
                    && fields.labels == labels(owner)
                    && fields.original_ttl == rrset.ttl
                    && !serial_gt(fields.inception, now)
                    && serial_gt(fields.expiration, now.wrapping_add(self.options.refresh))
            })
            .collect();
        // Latest expiration first.
        candidates
            .sort_by_key(|(fields, _)| std::cmp::Reverse(fields.expiration.wrapping_sub(now)));
        candidates.into_iter().find_map(|(fields, signature)| {
            let data = signed_data(fields, owner, self.class, rrset);
            self.verifiers[key_index]
                .verify(&data, signature)
                .then(|| OutRecord {
                    owner: owner.clone(),
                    ttl: rrset
                        .ttl
                        .min(fields.expiration.wrapping_sub(fields.inception)),
                    rtype: RType::RRSIG,
                    rdata: fields.rdata(signature),
                })
        })
    }

    /// A signature from the store that verifies; one retry, then an error.
    fn make_verified(
        &mut self,
        key: usize,
        data: &[u8],
        owner: &Name,
        rtype: RType,
    ) -> Result<Vec<u8>> {
        for attempt in 0..2 {
            let signature = self.store.sign(key, data)?;
            self.stats.generated += 1;
            if self.verifiers[key].verify(data, &signature) {
                self.stats.verified += 1;
                return Ok(signature);
            }
            if attempt == 0 {
                self.stats.retried += 1;
                crate::cli::warn(&format!(
                    "the signature by {} over {owner}/{rtype} failed verification; signing again on a fresh session",
                    self.keys[key].description
                ));
                self.store.fresh_session()?;
            }
        }
        Err(Error::Failed(format!(
            "the token made a signature by {} over {owner}/{rtype} that does not verify, twice; nothing was written",
            self.keys[key].description
        )))
    }
}

/// The fields and signature of RRSIG RDATA, or `None` if it is malformed.
fn parse_rrsig(rdata: &[u8]) -> Option<(RrsigFields, &[u8])> {
    let word =
        |at: usize| u32::from_be_bytes([rdata[at], rdata[at + 1], rdata[at + 2], rdata[at + 3]]);
    let fixed = rdata.get(..18)?;
    let (signer, signer_len) = Name::from_wire(&rdata[18..]).ok()?;
    let signature = rdata.get(18 + signer_len..).filter(|s| !s.is_empty())?;
    let fields = RrsigFields {
        type_covered: RType(u16::from_be_bytes([fixed[0], fixed[1]])),
        algorithm: fixed[2],
        labels: fixed[3],
        original_ttl: word(4),
        expiration: word(8),
        inception: word(12),
        key_tag: u16::from_be_bytes([fixed[16], fixed[17]]),
        signer,
    };
    Some((fields, signature))
}

#[cfg(test)]
mod tests;
