//! Signing a zone (RFC 4033–4035, 5155, 6840, 9276): zone cuts and
//! occluded names, key roles, RRSIGs, and the NSEC or NSEC3 chain.
//!
//! The signer does not know PKCS#11: it asks a [`KeyStore`] for
//! signatures by key index, and verifies each one in software
//! ([`verify::Verifier`]) before it is kept. A signature that fails is
//! asked for once more; a second failure stops the run.
//!
//! When the input was signed already, its signatures are reused where
//! they can be (see `rrset::RrsetSigner::reusable`): a zone signed again the
//! next day costs verifications, not token calls, and with the record of
//! what the last run verified ([`sidecar`]) only those of what changed.

pub mod cds;
pub mod check;
pub mod chunked;
pub mod denial;
mod plan;
pub mod ramp;
mod rrset;
pub mod rrsig;
mod serial;
pub mod sidecar;
mod signed;
pub mod verify;
mod workers;
pub mod zonemd;

pub use plan::{classify, NodeKind};
pub use serial::{new_serial, serial_gt, SerialMode};
pub use signed::{rrsig_ttl, SignedZone};

use crate::algorithm::Algorithm;
use crate::dnskey::DnsKey;
use crate::error::{Error, Result};
use crate::keys::PublicKey;
use crate::record::RType;
use crate::zone::model::{InputSignatures, RrSet, Zone};
use crate::zone::rdatas::Rdatas;
use plan::{Place, Plan};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use verify::Verifier;
use workers::{run_workers, SignContext};

/// Something that can make signatures with the zone's keys.
pub trait KeyStore {
    /// Signs `data` with key number `key` (an index into the key list).
    fn sign(&mut self, key: usize, data: &[u8]) -> Result<Vec<u8>>;

    /// Starts afresh (a new token session) before a signature is asked for
    /// again because the last one did not verify.
    fn fresh_session(&mut self) -> Result<()> {
        Ok(())
    }

    /// Opens another store with sessions of its own on the same keys, for
    /// `-n auto` to add a signing worker (`None`: this store cannot).
    fn open_another(&self) -> Option<Result<Box<dyn KeyStore + Send>>> {
        None
    }

    /// How many sessions the token allows at most, if it says.
    fn session_limit(&self) -> Option<usize> {
        None
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
    /// The TTL its `.key` file gives, if any.
    pub key_file_ttl: Option<u32>,
    /// Between SyncPublish and SyncDelete: its CDS/CDNSKEY are published.
    pub cds: bool,
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
    /// TTL for DNSKEYs added to the apex when there is no DNSKEY RRset
    /// and no key file gives one (`-T`).
    pub dnskey_ttl: Option<u32>,
    /// The check lets an apex DNSKEY algorithm that signs nothing pass,
    /// with a warning (`--allow-unsigned-algorithm`).
    pub allow_unsigned_algorithm: bool,
    /// Seed of the jitter sequence.
    pub seed: u64,
    /// The time of signing, for judging the input's signatures.
    pub now: u32,
    /// An input signature that expires within this many seconds of `now`
    /// is replaced (`-i`, BIND's cycle interval).
    pub refresh: u32,
    /// Input signatures a verified-signature record vouches for: kept
    /// without verifying them again (`None`: verify all, `--reverify`).
    pub vouched: Option<std::sync::Arc<sidecar::Vouched>>,
    /// The apex CDS and CDNSKEY.
    pub sync: cds::SyncOptions,
    /// Offline KSK (`zone-sign --skr`): the RRSIGs over the apex DNSKEY,
    /// CDS and CDNSKEY RRsets, by type, from a signed key response. They
    /// are used as they are (each verified over the zone's RRset by its
    /// KSK in the key list), never made here.
    pub presigned: Option<Vec<(RType, Vec<Vec<u8>>)>>,
    /// ZONEMD digests to make at the apex (RFC 8976; empty: none).
    pub zonemd: Vec<zonemd::ZonemdHash>,
    /// `-n auto`: add sessions while they sign faster (`None`: sign with
    /// the stores given).
    pub ramp: Option<ramp::Ramp>,
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
    /// Retained signatures the verified-signature record vouched for,
    /// kept without verifying them again.
    pub vouched: u64,
    pub retried: u64,
    pub signing_time: Duration,
    /// Wall time before the signing: the keys published, the zone's cuts
    /// classified and the NSEC or NSEC3 chain built (sorted).
    pub chain_time: Duration,
    /// Time spent in [`KeyStore::sign`] calls, summed over the sessions:
    /// what the workers waited on the token.
    pub token_time: Duration,
    /// Time spent verifying signatures (the verifier threads' busy time,
    /// and the input signatures checked for reuse), summed over workers.
    pub verify_time: Duration,
    /// Each session's own count and token time, in worker order: a slow
    /// or stalling session shows here, not in the sums.
    pub sessions: Vec<SessionStats>,
    /// `-n auto`: what the ramp measured and chose.
    pub ramp: Option<ramp::RampReport>,
}

/// One signing session's share of the work, for `-t`.
#[derive(Clone, Debug, Default)]
pub struct SessionStats {
    /// Signatures this session's token made.
    pub generated: u64,
    /// Time spent in its [`KeyStore::sign`] calls.
    pub token_time: Duration,
}

impl SessionStats {
    /// The token's measured rate on this session: signatures per second
    /// of time spent waiting on it (0 when it made none).
    pub fn rate(&self) -> f64 {
        let seconds = self.token_time.as_secs_f64();
        if seconds > 0.0 {
            self.generated as f64 / seconds
        } else {
            0.0
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
    zone: Zone,
    keys: &[SigningKey],
    stores: &mut [Box<dyn KeyStore + Send>],
    options: &SignOptions,
) -> Result<SignedZone> {
    sign_zone_watched(zone, keys, stores, options, &SignProgress::default())
}

/// Counters another thread can read while [`sign_zone_watched`] runs, for
/// a progress line: they only ever grow, a block of RRsets at a time.
#[derive(Debug, Default)]
pub struct SignProgress {
    /// RRsets to sign: 0 until the chain is built.
    pub rrsets: AtomicU64,
    /// RRsets signed (and verified) so far.
    pub done: AtomicU64,
    /// Signatures the token made so far.
    pub generated: AtomicU64,
}

/// [`sign_zone`], counting its progress in `progress`.
pub fn sign_zone_watched(
    mut zone: Zone,
    keys: &[SigningKey],
    stores: &mut [Box<dyn KeyStore + Send>],
    options: &SignOptions,
    progress: &SignProgress,
) -> Result<SignedZone> {
    if stores.is_empty() {
        return Err(Error::Failed("no signing session".into()));
    }
    let chain_started = Instant::now();
    let signing: Vec<usize> = (0..keys.len()).filter(|&i| keys[i].active).collect();
    if signing.is_empty() {
        return Err(Error::Failed("No signing keys specified or found.".into()));
    }
    let verifiers: Vec<Verifier> = keys
        .iter()
        .map(|k| Verifier::new(&k.public_key, k.algorithm))
        .collect::<Result<_>>()?;
    publish_keys(&mut zone, keys, options)?;
    cds::publish_sync(&mut zone, keys, &options.sync)?;
    if !options.zonemd.is_empty() {
        zonemd::add_placeholders(&mut zone, &options.zonemd)?;
    }
    let (soa_ttl, minimum, _) = zone.soa()?;
    let denial_ttl = soa_ttl.min(minimum);
    if let Denial::Nsec3 {
        salt, iterations, ..
    } = &options.denial
    {
        set_nsec3param(&mut zone, salt, *iterations);
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
    let plan = Plan { zone, kinds, chain };

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
    // The ZONEMD RRset is signed last, once its digest is known.
    let zonemd_job = if options.zonemd.is_empty() {
        None
    } else {
        zonemd::take_job(&mut jobs, &plan.zone)
    };

    let chain_time = chain_started.elapsed();
    progress.rrsets.store(jobs.len() as u64, Ordering::Relaxed);
    let started = Instant::now();
    let origin = plan.zone.origin.clone();
    let hashers = sidecar::Hashers::new(keys);
    let context = SignContext {
        keys,
        verifiers: &verifiers,
        hashers: &hashers,
        options,
        origin: &origin,
        plan: &plan,
        progress,
    };
    let (arenas, slots, mut stats, verified) = run_workers(&jobs, &context, stores)?;
    stats.chain_time = chain_time;
    drop(jobs);
    let mut signed = SignedZone {
        origin,
        class: plan.zone.class,
        stats,
        plan,
        arenas,
        slots,
        verified,
    };
    if let Some(job) = zonemd_job {
        let finish = zonemd::Finish {
            keys,
            verifiers: &verifiers,
            hashers: &hashers,
            options,
            store: stores[0].as_mut(),
        };
        zonemd::finish(&mut signed, job, &options.zonemd, finish)?;
    }
    let stats = &mut signed.stats;
    stats.signing_time = started.elapsed();
    let input = &mut signed.plan.zone.input_signatures;
    let input_count = input.len();
    stats.dropped = input_count as u64 - stats.retained;
    // What was not kept is of no more use; the output is written next.
    *input = InputSignatures::new();
    Ok(signed)
}

/// Replaces the apex NSEC3PARAM with the chain's (RFC 5155 §4: flags 0,
/// so that no validator reads opt-out into it; TTL 0, as BIND writes it).
pub(crate) fn set_nsec3param(zone: &mut Zone, salt: &[u8], iterations: u16) {
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

/// Adds the DNSKEY of every key to publish to the apex DNSKEY RRset.
/// TTL, by BIND's rule (bind-tools.md §9.5): the existing RRset's; else
/// the shortest non-zero TTL the published keys' `.key` files give; else
/// `-T`; else the SOA's. The DNSKEY TTL drives every rollover's timing, so
/// the key files' word beats a command-line default.
fn publish_keys(zone: &mut Zone, keys: &[SigningKey], options: &SignOptions) -> Result<()> {
    let (soa_ttl, _, _) = zone.soa()?;
    let apex = &mut zone.nodes[0];
    let existing = apex.rrset(RType::DNSKEY).map(|s| s.ttl);
    if let (Some(existing), Some(asked)) = (existing, options.dnskey_ttl) {
        if existing != asked {
            crate::cli::warn(&format!(
                "User-specified TTL {asked} conflicts with existing DNSKEY RRset TTL."
            ));
            crate::cli::warn(&format!(
                "Imported keys will use the RRSet TTL {existing} instead."
            ));
        }
    }
    let from_key_files = keys
        .iter()
        .filter(|k| k.publish)
        .filter_map(|k| k.key_file_ttl)
        .filter(|&ttl| ttl > 0)
        .min();
    let ttl = existing
        .or(from_key_files)
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

#[cfg(test)]
mod tests;
