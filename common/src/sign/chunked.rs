//! Signing a zone in chunks of consecutive nodes (`zone-sign --low-memory`),
//! so that memory stays bounded by the chunk, not the zone: each chunk is
//! planned, signed by the same workers as a whole zone and handed to the
//! caller to be written, then dropped.
//!
//! What crosses a chunk boundary is small: the first name of the next
//! chunk (the last NSEC record's next name; chunks begin at names that are
//! not occluded, see `zone::external_sort`), and for NSEC3 one (hash,
//! bitmap number) entry per hashed name, 24 octets, with the bitmaps
//! shared (a TLD has a handful of distinct ones). The NSEC3 records are
//! signed last, in hash order, in chunks of the same size: the output is
//! the one the whole-zone path writes, record for record.

use super::denial::{self, Chain};
use super::plan::{Place, Plan};
use super::signed::SignedZone;
use super::verify::Verifier;
use super::workers::{run_workers, SignContext};
use super::KeyStore;
use super::{
    cds, publish_keys, sidecar, Denial, NodeKind, SignOptions, SignProgress, SignStats, SigningKey,
};
use crate::error::{Error, Result};
use crate::name::Name;
use crate::rdata::type_bitmap;
use crate::record::RType;
use crate::zone::external_sort::SortedZone;
use crate::zone::model::{InputSignatures, Node, Zone};
use std::collections::HashMap;
use std::sync::atomic::Ordering as AtomicOrdering;
use std::sync::Arc;
use std::time::Instant;

/// Nodes per chunk by default: tens of MiB of zone and signatures.
pub const DEFAULT_CHUNK_NODES: usize = 100_000;

/// What signing in chunks leaves besides the output it wrote.
#[derive(Debug, Default)]
pub struct ChunkedOutcome {
    pub stats: SignStats,
    /// The verified-signature record's entries.
    pub verified: Vec<sidecar::Digest>,
}

/// Opens sessions until there are `wanted` (the ramp's choice on the
/// first chunk), as many as the token gives.
fn keep_sessions(stores: &mut Vec<Box<dyn KeyStore + Send>>, wanted: usize) {
    while stores.len() < wanted {
        match stores.first().and_then(|first| first.open_another()) {
            Some(Ok(store)) => stores.push(store),
            Some(Err(error)) => {
                crate::cli::verbose(
                    1,
                    &format!(
                        "-n auto: {} session(s) for the later chunks, not {wanted}: {error}",
                        stores.len()
                    ),
                );
                break;
            }
            None => break,
        }
    }
    crate::cli::verbose(
        1,
        &format!("-n auto: {} session(s) sign the later chunks", stores.len()),
    );
}

/// The NSEC3 entries of a zone signed in chunks, and what finds its empty
/// non-terminals without the whole zone: canonical order visits a name's
/// ancestors before it, so the ancestors of the last name seen, each
/// known to be a node or an empty non-terminal already hashed, decide.
struct Nsec3Names {
    salt: Vec<u8>,
    iterations: u16,
    opt_out: bool,
    entries: Vec<([u8; 20], u32)>,
    bitmaps: Vec<Vec<u8>>,
    bitmap_numbers: HashMap<Vec<u8>, u32>,
    /// The ancestors of the last node, apex first, then the node: (name,
    /// is a node or an empty non-terminal already hashed).
    path: Vec<(Name, bool)>,
}

impl Nsec3Names {
    fn bitmap_number(&mut self, bitmap: Vec<u8>) -> u32 {
        if let Some(&number) = self.bitmap_numbers.get(&bitmap) {
            return number;
        }
        let number = self.bitmaps.len() as u32;
        self.bitmaps.push(bitmap.clone());
        self.bitmap_numbers.insert(bitmap, number);
        number
    }

    /// Adds what node `node` (of kind `kind`) contributes, as
    /// `denial::nsec3_entries` does for a whole zone.
    fn add(&mut self, node: &Node, kind: NodeKind, origin: &Name) {
        // Keep the ancestors the node shares with the last one; those
        // between are no nodes (they would have come in between).
        let owner = &node.owner;
        while self
            .path
            .last()
            .is_some_and(|(name, _)| !owner.is_subdomain_of(name))
        {
            self.path.pop();
        }
        let mut between = Vec::new();
        let mut ancestor = owner.parent();
        while let Some(name) = ancestor {
            if !name.is_subdomain_of(origin)
                || self
                    .path
                    .last()
                    .is_some_and(|(top, _)| top.eq_ignore_case(&name))
            {
                break;
            }
            ancestor = name.parent();
            between.push(name);
        }
        self.path
            .extend(between.into_iter().rev().map(|name| (name, false)));
        self.path.push((owner.clone(), true));
        match kind {
            NodeKind::Occluded => return,
            NodeKind::Delegation { secure: false } if self.opt_out => return,
            _ => {}
        }
        let mut types = denial::node_types(node, kind);
        if kind != (NodeKind::Delegation { secure: false }) {
            types.push(RType::RRSIG);
        }
        let number = self.bitmap_number(type_bitmap(&types));
        let hash = denial::nsec3_hash(owner, &self.salt, self.iterations);
        self.entries.push((hash, number));
        // Empty non-terminals up to the first that exists or is hashed.
        let parents = self.path.len() - 1;
        for at in (0..parents).rev() {
            let (name, known) = &self.path[at];
            if *known || name.eq_ignore_case(origin) {
                break;
            }
            let hash = denial::nsec3_hash(name, &self.salt, self.iterations);
            self.path[at].1 = true;
            let empty = self.bitmap_number(type_bitmap(&[]));
            self.entries.push((hash, empty));
        }
    }
}

/// What the signer needs of a source of chunks.
pub trait ChunkSource {
    /// The next chunk, `None` after the last.
    fn next_chunk(&mut self) -> Result<Option<Zone>>;
    /// The input's RRSIGs over NSEC3 RRsets up to owner `last` (`None`:
    /// all that are left).
    fn nsec3_signatures_upto(&mut self, last: Option<&Name>) -> Result<InputSignatures>;
}

impl ChunkSource for SortedZone {
    fn next_chunk(&mut self) -> Result<Option<Zone>> {
        SortedZone::next_chunk(self)
    }
    fn nsec3_signatures_upto(&mut self, last: Option<&Name>) -> Result<InputSignatures> {
        SortedZone::nsec3_signatures_upto(self, last)
    }
}

/// Signs the zone whose first chunk (with the apex) is `first` and whose
/// other chunks come from `source`, handing each signed chunk to `write`
/// in output order. The first chunk gains the DNSKEYs to publish, the
/// CDS/CDNSKEY and the NSEC3PARAM, as in [`super::sign_zone`]; ZONEMD
/// needs the whole zone and is refused.
#[allow(clippy::too_many_arguments)]
pub fn sign_chunked(
    mut first: Zone,
    source: &mut dyn ChunkSource,
    chunk_nodes: usize,
    keys: &[SigningKey],
    stores: &mut Vec<Box<dyn KeyStore + Send>>,
    options: &SignOptions,
    progress: &SignProgress,
    write: &mut dyn FnMut(&SignedZone) -> Result<()>,
) -> Result<ChunkedOutcome> {
    if stores.is_empty() {
        return Err(Error::Failed("no signing session".into()));
    }
    if !options.zonemd.is_empty() {
        return Err(Error::usage(
            "ZONEMD needs the whole zone: not with --low-memory",
        ));
    }
    let started = Instant::now();
    if !keys.iter().any(|k| k.active) {
        return Err(Error::Failed("No signing keys specified or found.".into()));
    }
    let verifiers: Vec<Verifier> = keys
        .iter()
        .map(|k| Verifier::new(&k.public_key, k.algorithm))
        .collect::<Result<_>>()?;
    let hashers = sidecar::Hashers::new(keys);
    publish_keys(&mut first, keys, options)?;
    cds::publish_sync(&mut first, keys, &options.sync)?;
    let (soa_ttl, minimum, _) = first.soa()?;
    let ttl = soa_ttl.min(minimum);
    let mut nsec3 = match &options.denial {
        Denial::Nsec => None,
        Denial::Nsec3 {
            salt,
            iterations,
            opt_out,
        } => {
            super::set_nsec3param(&mut first, salt, *iterations);
            Some(Nsec3Names {
                salt: salt.clone(),
                iterations: *iterations,
                opt_out: *opt_out,
                entries: Vec::new(),
                bitmaps: Vec::new(),
                bitmap_numbers: HashMap::new(),
                path: Vec::new(),
            })
        }
    };
    let origin = first.origin.clone();
    let class = first.class;
    let apex_owner = first.nodes[0].owner.clone();
    let mut outcome = ChunkedOutcome::default();
    // `-n auto` ramps on the first chunk only; the sessions it kept sign
    // every later chunk (a ramp per chunk would open and close sessions
    // by the thousand, measuring each time from one).
    let fixed = SignOptions {
        ramp: None,
        ..options.clone()
    };
    let mut ramped = options.ramp.is_none();
    let mut sign = |plan: Plan, outcome: &mut ChunkedOutcome| -> Result<()> {
        let options = if ramped { &fixed } else { options };
        let input: usize = plan.zone.input_signatures.len();
        let mut jobs: Vec<Place> = Vec::new();
        plan.walk(|place, signed| {
            if signed {
                jobs.push(place);
            }
            Ok::<(), std::convert::Infallible>(())
        })
        .unwrap_or_else(|never| match never {});
        progress
            .rrsets
            .fetch_add(jobs.len() as u64, AtomicOrdering::Relaxed);
        let context = SignContext {
            keys,
            verifiers: &verifiers,
            hashers: &hashers,
            options,
            origin: &origin,
            plan: &plan,
            progress,
        };
        let (arenas, slots, stats, mut verified) = run_workers(&jobs, &context, stores)?;
        drop(jobs);
        if !ramped {
            ramped = true;
            if let Some(report) = &stats.ramp {
                keep_sessions(stores, report.chosen);
                outcome.stats.ramp = Some(report.clone());
            }
        }
        let total = &mut outcome.stats;
        total.generated += stats.generated;
        total.retained += stats.retained;
        total.dropped += input as u64 - stats.retained;
        total.verified += stats.verified;
        total.vouched += stats.vouched;
        total.retried += stats.retried;
        total.token_time += stats.token_time;
        total.verify_time += stats.verify_time;
        for (at, session) in stats.sessions.iter().enumerate() {
            if total.sessions.len() <= at {
                total.sessions.push(super::SessionStats::default());
            }
            total.sessions[at].generated += session.generated;
            total.sessions[at].token_time += session.token_time;
        }
        outcome.verified.append(&mut verified);
        let signed = SignedZone {
            origin: origin.clone(),
            class,
            stats: SignStats::default(),
            plan,
            arenas,
            slots,
            verified: Vec::new(),
        };
        write(&signed)
    };

    let mut chunk = Some(first);
    let mut is_first = true;
    while let Some(zone) = chunk.take() {
        let next = source.next_chunk()?;
        let kinds = super::plan::classify_nodes(&zone, is_first);
        for (node, kind) in zone.nodes.iter().zip(&kinds) {
            if *kind == NodeKind::Authoritative && node.has(RType::DNSKEY) {
                return Err(Error::Failed(format!(
                    "'{}': DNSKEY RRset below the zone apex",
                    node.owner
                )));
            }
        }
        if let Some(names) = &mut nsec3 {
            for (node, kind) in zone.nodes.iter().zip(&kinds) {
                names.add(node, *kind, &origin);
            }
        }
        let after = next
            .as_ref()
            .map_or_else(|| apex_owner.clone(), |z| z.nodes[0].owner.clone());
        let chain = Chain::chunk(&options.denial, ttl, after);
        sign(Plan { zone, kinds, chain }, &mut outcome)?;
        chunk = next;
        is_first = false;
    }

    if let Some(names) = nsec3 {
        denial::nsec3_owner(&[0; 20], &origin)?;
        let mut entries = names.entries;
        entries.sort_unstable();
        if entries.windows(2).any(|pair| pair[0].0 == pair[1].0) {
            return Err(Error::Failed(
                "NSEC3 hash collision between two names: choose another salt (-3)".into(),
            ));
        }
        let bitmaps = Arc::new(names.bitmaps);
        let step = chunk_nodes.max(1);
        let mut start = 0;
        while start < entries.len() {
            let end = (start + step).min(entries.len());
            let window = entries[start..end].to_vec();
            let next = entries[end % entries.len()].0;
            let last = denial::nsec3_owner(&window[window.len() - 1].0, &origin)?;
            let zone = Zone {
                origin: origin.clone(),
                class,
                nodes: Vec::new(),
                input_signatures: source.nsec3_signatures_upto(Some(&last))?,
            };
            let chain = Chain::nsec3_window(&options.denial, ttl, window, next, bitmaps.clone());
            sign(
                Plan {
                    zone,
                    kinds: Vec::new(),
                    chain,
                },
                &mut outcome,
            )?;
            start = end;
        }
        // What is left over: input signatures of NSEC3 records not made.
        let rest = source.nsec3_signatures_upto(None)?;
        outcome.stats.dropped += rest.len() as u64;
    }
    outcome.stats.signing_time = started.elapsed();
    Ok(outcome)
}
