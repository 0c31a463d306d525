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
use crate::zone::rdatas::{self, Rdatas};
use rrsig::{labels, signed_data, RrsigFields};
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::Mutex;
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

/// A signed zone: the zone, its NSEC or NSEC3 chain, and the signatures
/// of each signed RRset. The output is not copied into records of its
/// own: [`SignedZone::each_rrset`] walks it in order.
#[derive(Debug)]
pub struct SignedZone {
    pub origin: Name,
    pub class: crate::record::Class,
    pub stats: SignStats,
    plan: Plan,
    /// The workers' signatures.
    arenas: Vec<Arena>,
    /// Where the signatures of each signed RRset are, in walk order.
    slots: Vec<Slot>,
}

/// A worker's signatures, packed one RRset after another in blocks that
/// are allocated once and never grow: a growing buffer would be copied
/// each time it doubles and leave the allocator holding the old copies
/// (measured: 14 MB of a 100k-delegation zone's 88 MB peak).
#[derive(Debug, Default)]
struct Arena {
    blocks: Vec<Rdatas>,
}

/// Capacity of an arena block: a few thousand signatures.
const ARENA_BLOCK: usize = 1 << 20;

/// Where the signatures of one RRset are: worker, block, octets.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    arena: u32,
    block: u32,
    start: u32,
    len: u32,
}

impl Arena {
    /// Stores the signatures of one RRset for worker `worker`; where they are.
    fn slot(&mut self, worker: u32, signatures: &[Vec<u8>]) -> Slot {
        let len = Rdatas::packed_len(signatures.iter().map(Vec::as_slice));
        if self.blocks.last().is_none_or(|block| block.room() < len) {
            self.blocks
                .push(Rdatas::with_capacity(len.max(ARENA_BLOCK)));
        }
        let block = self.blocks.last_mut().expect("a block");
        let start = block.octets();
        for signature in signatures {
            block.push(signature);
        }
        Slot {
            arena: worker,
            block: (self.blocks.len() - 1) as u32,
            start: start as u32,
            len: len as u32,
        }
    }

    fn get(&self, slot: Slot) -> rdatas::Iter<'_> {
        let start = slot.start as usize;
        self.blocks[slot.block as usize].range(start..start + slot.len as usize)
    }
}

impl SignedZone {
    /// Calls `visit` with every RRset in output order (apex first, then
    /// canonical order; in a node SOA, NS, then by type; NSEC3 records
    /// last, by hash) and, if the RRset is signed, its RRSIG RDATA.
    pub fn each_rrset<E>(
        &self,
        mut visit: impl FnMut(&Name, &RrSet, Option<rdatas::Iter<'_>>) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let mut next_job = 0;
        self.plan.walk(|place, signed| {
            let (owner, rrset) = self.plan.rrset(place);
            let signatures = signed.then(|| {
                let slot = self.slots[next_job];
                next_job += 1;
                self.arenas[slot.arena as usize].get(slot)
            });
            visit(&owner, &rrset, signatures)
        })
    }
}

/// The TTL of an RRSIG record: the covered RRset's, but no longer than the
/// signature's validity period (expiration − inception).
pub fn rrsig_ttl(rrset_ttl: u32, rrsig_rdata: &[u8]) -> u32 {
    let word = |at: usize| {
        rrsig_rdata
            .get(at..at + 4)
            .map_or(0, |w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
    };
    rrset_ttl.min(word(8).wrapping_sub(word(12)))
}

/// A zone ready to sign: its nodes, what each one is, and its chain.
#[derive(Debug)]
struct Plan {
    zone: Zone,
    kinds: Vec<NodeKind>,
    chain: denial::Chain,
}

/// Where an output RRset comes from: the zone, or the chain (made when it
/// is signed or written, not stored). Indexes are `u32` because a zone
/// has millions of RRsets to sign and each job is one of these.
#[derive(Clone, Copy, Debug)]
enum Place {
    Zone { node: u32, rrset: u32 },
    Nsec { node: u32 },
    Nsec3 { position: u32 },
}

impl Plan {
    /// Visits the places of the output RRsets in order, saying of each
    /// whether it gets signatures.
    fn walk<E>(
        &self,
        mut visit: impl FnMut(Place, bool) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let mut order: Vec<(RType, Place)> = Vec::new();
        for (index, node) in self.zone.nodes.iter().enumerate() {
            let at = index as u32;
            order.clear();
            order.extend(node.rrsets.iter().enumerate().map(|(rrset, set)| {
                let place = Place::Zone {
                    node: at,
                    rrset: rrset as u32,
                };
                (set.rtype, place)
            }));
            if self.chain.has_nsec(&self.kinds, index) {
                order.push((RType::NSEC, Place::Nsec { node: at }));
            }
            // SOA first, NS second, then by type code (BIND's order).
            order.sort_by_key(|(rtype, _)| match *rtype {
                RType::SOA => (0, 0),
                RType::NS => (1, 0),
                other => (2, other.0),
            });
            for (rtype, place) in &order {
                visit(*place, needs_signature(self.kinds[index], *rtype))?;
            }
        }
        for position in 0..self.chain.nsec3_len() {
            visit(
                Place::Nsec3 {
                    position: position as u32,
                },
                true,
            )?;
        }
        Ok(())
    }

    /// The owner and RRset at `place`.
    fn rrset(&self, place: Place) -> (Cow<'_, Name>, Cow<'_, RrSet>) {
        let nodes = &self.zone.nodes;
        match place {
            Place::Zone { node, rrset } => {
                let node = &nodes[node as usize];
                (
                    Cow::Borrowed(&node.owner),
                    Cow::Borrowed(&node.rrsets[rrset as usize]),
                )
            }
            Place::Nsec { node } => (
                Cow::Borrowed(&nodes[node as usize].owner),
                Cow::Owned(self.chain.nsec(&self.zone, &self.kinds, node as usize)),
            ),
            Place::Nsec3 { position } => {
                let (owner, rrset) = self.chain.nsec3(&self.zone, &self.kinds, position as usize);
                (Cow::Owned(owner), Cow::Owned(rrset))
            }
        }
    }
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
            rdatas: Rdatas::one(&rdata),
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
    let mut plan = Plan { zone, kinds, chain };

    // The RRsets to sign, in output order (counted first: a growing
    // Vec leaves holes in the heap).
    let mut count = 0;
    plan.walk(|_, signed| {
        count += usize::from(signed);
        Ok::<(), std::convert::Infallible>(())
    })
    .unwrap_or_else(|never| match never {});
    let mut jobs: Vec<Place> = Vec::with_capacity(count);
    plan.walk(|place, signed| {
        if signed {
            jobs.push(place);
        }
        Ok::<(), std::convert::Infallible>(())
    })
    .unwrap_or_else(|never| match never {});

    let started = Instant::now();
    let origin = plan.zone.origin.clone();
    let context = SignContext {
        keys,
        verifiers: &verifiers,
        options,
        origin: &origin,
        plan: &plan,
    };
    let (arenas, slots, mut stats) = run_workers(&jobs, &context, stores)?;
    stats.signing_time = started.elapsed();
    drop(jobs);
    let input = &mut plan.zone.input_signatures;
    let input_count: usize = input.values().map(Rdatas::len).sum();
    stats.dropped = input_count as u64 - stats.retained;
    // What was not kept is of no more use; the output is written next.
    *input = InputSignatures::new();
    Ok(SignedZone {
        origin,
        class: plan.zone.class,
        stats,
        plan,
        arenas,
        slots,
    })
}

/// What one worker made: its signatures and its counters.
type WorkerResult = Result<(Arena, SignStats)>;

/// How many RRsets a worker takes at a time: large enough that handing
/// out work costs nothing, small enough to balance the workers — with
/// many sessions on a slow token, the last blocks would otherwise leave
/// most sessions idle.
fn block_size(jobs: usize, workers: usize) -> usize {
    (jobs / (workers.max(1) * 64)).clamp(1, 64)
}

/// What every worker shares.
struct SignContext<'a> {
    keys: &'a [SigningKey],
    verifiers: &'a [Verifier],
    options: &'a SignOptions,
    origin: &'a Name,
    plan: &'a Plan,
}

/// Signs every job on `stores.len()` threads; returns each worker's
/// signatures, where each job's are, and the summed counters.
fn run_workers(
    jobs: &[Place],
    context: &SignContext<'_>,
    stores: &mut [Box<dyn KeyStore + Send>],
) -> Result<(Vec<Arena>, Vec<Slot>, SignStats)> {
    let shared = Shared {
        next: AtomicUsize::new(0),
        failed: AtomicBool::new(false),
        block: block_size(jobs.len(), stores.len()),
        slots: Mutex::new(vec![Slot::default(); jobs.len()]),
    };
    let results: Vec<WorkerResult> = std::thread::scope(|scope| {
        let handles: Vec<_> = stores
            .iter_mut()
            .enumerate()
            .map(|(index, store)| {
                let shared = &shared;
                scope.spawn(move || {
                    let result = work(index as u32, store.as_mut(), jobs, context, shared);
                    if result.is_err() {
                        shared.failed.store(true, Ordering::Relaxed);
                    }
                    result
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
    let mut arenas = Vec::with_capacity(results.len());
    let mut stats = SignStats::default();
    let mut first_error = None;
    for result in results {
        match result {
            Ok((arena, worker_stats)) => {
                arenas.push(arena);
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
    let slots = shared.slots.into_inner().unwrap_or_else(|e| e.into_inner());
    match first_error {
        Some(error) => Err(error),
        None => Ok((arenas, slots, stats)),
    }
}

/// What the workers share: the next job to hand out, whether one failed,
/// and where each job's signatures went.
struct Shared {
    next: AtomicUsize,
    failed: AtomicBool,
    block: usize,
    /// Filled a block at a time, once the block's signatures verified.
    slots: Mutex<Vec<Slot>>,
}

/// A signature the token made, waiting for its verification.
struct Pending {
    job: usize,
    key: usize,
    data: Vec<u8>,
    signature: Vec<u8>,
}

/// One worker: signs blocks of jobs on its session and has its own
/// verifier thread check each block's new signatures while it signs the
/// next block, so the session does not wait for the CPU and the CPU does
/// not wait for the token (with one session, a signature made by SoftHSM2
/// costs about what verifying it costs: done in turn, each waits half the
/// time). A signature that fails is made once more, on a fresh session,
/// and verified before the next block; a second failure stops the run.
fn work(
    index: u32,
    store: &mut (dyn KeyStore + Send),
    jobs: &[Place],
    context: &SignContext<'_>,
    shared: &Shared,
) -> WorkerResult {
    let mut signer = RrsetSigner {
        keys: context.keys,
        verifiers: context.verifiers,
        store,
        options: context.options,
        origin: context.origin.clone(),
        class: context.plan.zone.class,
        input: &context.plan.zone.input_signatures,
        stats: SignStats::default(),
        deferred: Some(Vec::new()),
    };
    let mut arena = Arena::default();
    let verifiers = context.verifiers;
    std::thread::scope(|scope| {
        let (to_verifier, batches) = sync_channel::<Vec<Pending>>(1);
        let (verdicts, from_verifier) = sync_channel::<(usize, Vec<Pending>)>(1);
        scope.spawn(move || {
            for batch in batches {
                let count = batch.len();
                let failed = batch
                    .into_iter()
                    .filter(|p| !verifiers[p.key].verify(&p.data, &p.signature))
                    .collect();
                if verdicts.send((count, failed)).is_err() {
                    break;
                }
            }
        });
        // The block being verified: (job, slot) of each of its jobs. The
        // verifier thread ends when `to_verifier` is dropped on return.
        let stopped = || Error::Failed("a verifier thread stopped".into());
        let mut in_flight: Option<Vec<(usize, Slot)>> = None;
        loop {
            let start = shared.next.fetch_add(shared.block, Ordering::Relaxed);
            let more = start < jobs.len() && !shared.failed.load(Ordering::Relaxed);
            let mut done = Vec::new();
            if more {
                for (job, &place) in jobs.iter().enumerate().skip(start).take(shared.block) {
                    let (owner, rrset) = context.plan.rrset(place);
                    let signatures = signer.sign_rrset(job, &owner, &rrset)?;
                    done.push((job, arena.slot(index, &signatures)));
                }
            }
            if let Some(mut previous) = in_flight.take() {
                let (count, failed) = from_verifier.recv().map_err(|_| stopped())?;
                signer.stats.verified += (count - failed.len()) as u64;
                repair(
                    &mut signer,
                    &mut arena,
                    index,
                    jobs,
                    context.plan,
                    &mut previous,
                    failed,
                )?;
                let mut slots = shared.slots.lock().unwrap_or_else(|e| e.into_inner());
                for &(job, slot) in &previous {
                    slots[job] = slot;
                }
            }
            if !more {
                return Ok::<(), Error>(());
            }
            let batch = signer.deferred.replace(Vec::new()).unwrap_or_default();
            to_verifier.send(batch).map_err(|_| stopped())?;
            in_flight = Some(done);
        }
    })?;
    Ok((arena, signer.stats))
}

/// Signs again, on a fresh session and verifying at once, every job of a
/// block that has a signature that failed verification.
fn repair(
    signer: &mut RrsetSigner<'_>,
    arena: &mut Arena,
    index: u32,
    jobs: &[Place],
    plan: &Plan,
    block: &mut [(usize, Slot)],
    failed: Vec<Pending>,
) -> Result<()> {
    if failed.is_empty() {
        return Ok(());
    }
    for pending in &failed {
        let (owner, rrset) = plan.rrset(jobs[pending.job]);
        signer.stats.retried += 1;
        crate::cli::warn(&format!(
            "the signature by {} over {owner}/{} failed verification; signing again on a fresh session",
            signer.keys[pending.key].description, rrset.rtype
        ));
    }
    signer.store.fresh_session()?;
    let deferred = signer.deferred.take();
    let mut again: Vec<usize> = failed.iter().map(|p| p.job).collect();
    again.dedup();
    for job in again {
        let (owner, rrset) = plan.rrset(jobs[job]);
        let signatures = signer.sign_rrset(job, &owner, &rrset)?;
        let slot = arena.slot(index, &signatures);
        if let Some(entry) = block.iter_mut().find(|(j, _)| *j == job) {
            entry.1 = slot;
        }
    }
    signer.deferred = deferred;
    Ok(())
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
    let at = match apex.rrsets.iter().position(|s| s.rtype == RType::DNSKEY) {
        Some(at) => at,
        None => {
            apex.rrsets.push(RrSet {
                rtype: RType::DNSKEY,
                ttl,
                rdatas: Rdatas::new(),
            });
            apex.rrsets.len() - 1
        }
    };
    let set = &mut apex.rrsets[at];
    for rdata in &added {
        set.rdatas.push(rdata);
    }
    set.rdatas.sort_dedup_by(<[u8]>::cmp);
    apex.rrsets.sort_by_key(|s| s.rtype);
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
    /// Where new signatures wait for their verification (by the worker's
    /// verifier thread); `None` to verify each one at once.
    deferred: Option<Vec<Pending>>,
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
    fn sign_rrset(&mut self, job: usize, owner: &Name, rrset: &RrSet) -> Result<Vec<Vec<u8>>> {
        let apex = owner.eq_ignore_case(&self.origin);
        let mut signatures: Vec<Vec<u8>> = Vec::new();
        // The input's signatures over this RRset, parsed once for all keys.
        let input: Vec<(RrsigFields, &[u8])> = if self.input.is_empty() {
            Vec::new()
        } else {
            self.input
                .get(&owner.to_lowercase())
                .into_iter()
                .flat_map(Rdatas::iter)
                .filter_map(parse_rrsig)
                .filter(|(fields, _)| fields.type_covered == rrset.rtype)
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
            let signature = self.store.sign(key_index, &data)?;
            self.stats.generated += 1;
            signatures.push(fields.rdata(&signature));
            match &mut self.deferred {
                Some(deferred) => deferred.push(Pending {
                    job,
                    key: key_index,
                    data,
                    signature,
                }),
                None => {
                    self.check_second_attempt(key_index, &data, &signature, owner, rrset.rtype)?
                }
            }
        }
        signatures.sort();
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
    ) -> Option<Vec<u8>> {
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
                .then(|| fields.rdata(signature))
        })
    }

    /// Verifies a signature made again after the first one failed: a
    /// second failure stops the run.
    fn check_second_attempt(
        &mut self,
        key: usize,
        data: &[u8],
        signature: &[u8],
        owner: &Name,
        rtype: RType,
    ) -> Result<()> {
        if self.verifiers[key].verify(data, signature) {
            self.stats.verified += 1;
            return Ok(());
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
