//! The signing workers: one thread per token session, each handed blocks
//! of whole RRsets, each with a verifier thread of its own that checks
//! what its session signed while the session signs the next block.

use super::plan::{Place, Plan};
use super::rrset::RrsetSigner;
use super::sidecar::{Digest, Hashers};
use super::signed::{Arena, Slot};
use super::verify::Verifier;
use super::{KeyStore, SignOptions, SignStats, SigningKey};
use crate::error::{Error, Result};
use crate::name::Name;
use crate::threads::spawn_scoped;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What one worker made: its signatures, its counters and the record
/// entries of what it verified.
type WorkerResult = Result<(Arena, SignStats, Vec<Digest>)>;

/// How many RRsets a worker takes at a time: large enough that handing
/// out work costs nothing, small enough to balance the workers — with
/// many sessions on a slow token, the last blocks would otherwise leave
/// most sessions idle.
pub(super) fn block_size(jobs: usize, workers: usize) -> usize {
    (jobs / (workers.max(1) * 64)).clamp(1, 64)
}

/// What every worker shares.
pub(super) struct SignContext<'a> {
    pub(super) keys: &'a [SigningKey],
    pub(super) verifiers: &'a [Verifier],
    pub(super) hashers: &'a Hashers,
    pub(super) options: &'a SignOptions,
    pub(super) origin: &'a Name,
    pub(super) plan: &'a Plan,
    pub(super) progress: &'a super::SignProgress,
}

/// Signs every job on `stores.len()` threads; returns each worker's
/// signatures, where each job's are, the summed counters and the entries
/// of the verified-signature record.
pub(super) fn run_workers(
    jobs: &[Place],
    context: &SignContext<'_>,
    stores: &mut [Box<dyn KeyStore + Send>],
) -> Result<Signed> {
    let shared = Shared {
        next: AtomicUsize::new(0),
        failed: AtomicBool::new(false),
        block: block_size(jobs.len(), stores.len()),
        slots: Mutex::new(vec![Slot::default(); jobs.len()]),
    };
    let results: Vec<WorkerResult> = std::thread::scope(|scope| {
        let mut handles = Vec::with_capacity(stores.len());
        let mut not_started = None;
        for (index, store) in stores.iter_mut().enumerate() {
            let shared = &shared;
            let started = spawn_scoped(scope, "a signing", move || {
                crate::cli::set_worker(index as u32);
                crate::cli::verbose(2, "started on its own session");
                let result = work(index as u32, store.as_mut(), jobs, context, shared);
                if let Ok((_, stats, _)) = &result {
                    crate::cli::verbose(
                        2,
                        &format!(
                            "done: {} signatures made, {} kept, {:.3} s waiting on the token, {:.3} s verifying",
                            stats.generated,
                            stats.retained,
                            stats.token_time.as_secs_f64(),
                            stats.verify_time.as_secs_f64()
                        ),
                    );
                }
                if result.is_err() {
                    shared.failed.store(true, Ordering::Relaxed);
                }
                result
            });
            match started {
                Ok(handle) => handles.push(handle),
                Err(error) => {
                    // The workers already running stop at their next block.
                    shared.failed.store(true, Ordering::Relaxed);
                    not_started = Some(error);
                    break;
                }
            }
        }
        let mut results: Vec<WorkerResult> = handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err(Error::Failed("a signing worker panicked".into())))
            })
            .collect();
        results.extend(not_started.map(Err));
        results
    });
    let mut arenas = Vec::with_capacity(results.len());
    let mut stats = SignStats::default();
    let mut first_error = None;
    let mut record = Vec::new();
    for result in results {
        match result {
            Ok((arena, worker_stats, mut entries)) => {
                arenas.push(arena);
                if record.is_empty() {
                    record = entries;
                } else {
                    record.append(&mut entries);
                }
                stats.vouched += worker_stats.vouched;
                stats.generated += worker_stats.generated;
                stats.retained += worker_stats.retained;
                stats.verified += worker_stats.verified;
                stats.retried += worker_stats.retried;
                stats.token_time += worker_stats.token_time;
                stats.verify_time += worker_stats.verify_time;
                stats.sessions.push(super::SessionStats {
                    generated: worker_stats.generated,
                    token_time: worker_stats.token_time,
                });
            }
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    let slots = shared.slots.into_inner().unwrap_or_else(|e| e.into_inner());
    match first_error {
        Some(error) => Err(error),
        None => Ok((arenas, slots, stats, record)),
    }
}

/// Every worker's signatures, where each job's are, the summed counters
/// and the verified-signature record's entries.
type Signed = (Vec<Arena>, Vec<Slot>, SignStats, Vec<Digest>);

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
pub(super) struct Pending {
    pub(super) job: usize,
    pub(super) key: usize,
    pub(super) data: Vec<u8>,
    pub(super) signature: Vec<u8>,
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
        hashers: context.hashers,
        vouched: context.options.vouched.as_deref(),
        record: Vec::new(),
    };
    let mut arena = Arena::default();
    let verifiers = context.verifiers;
    let hashers = context.hashers;
    std::thread::scope(|scope| {
        let (to_verifier, batches) = sync_channel::<Vec<Pending>>(1);
        let (verdicts, from_verifier) = sync_channel::<Verdict>(1);
        spawn_scoped(scope, "a verifier", move || {
            for batch in batches {
                let busy = Instant::now();
                let count = batch.len();
                let mut entries = Vec::with_capacity(count);
                let failed = batch
                    .into_iter()
                    .filter(|p| {
                        let good = verifiers[p.key].verify(&p.data, &p.signature);
                        if good {
                            entries.push(hashers.digest(p.key, &p.data, &p.signature));
                        }
                        !good
                    })
                    .collect();
                if verdicts
                    .send((count, failed, entries, busy.elapsed()))
                    .is_err()
                {
                    break;
                }
            }
        })?;
        // The block being verified: (job, slot) of each of its jobs. The
        // verifier thread ends when `to_verifier` is dropped on return.
        let stopped = || Error::Failed("a verifier thread stopped".into());
        let mut in_flight: Option<Vec<(usize, Slot)>> = None;
        // Signatures made that the progress counters have been told of.
        let mut reported = 0;
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
                let (count, failed, mut entries, busy) =
                    from_verifier.recv().map_err(|_| stopped())?;
                signer.stats.verified += (count - failed.len()) as u64;
                signer.record.append(&mut entries);
                signer.stats.verify_time += busy;
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
            let progress = context.progress;
            progress
                .done
                .fetch_add(done.len() as u64, Ordering::Relaxed);
            progress
                .generated
                .fetch_add(signer.stats.generated - reported, Ordering::Relaxed);
            reported = signer.stats.generated;
            let batch = signer.deferred.replace(Vec::new()).unwrap_or_default();
            to_verifier.send(batch).map_err(|_| stopped())?;
            in_flight = Some(done);
        }
    })?;
    Ok((arena, signer.stats, signer.record))
}

/// A verifier thread's answer on a batch: how many it checked, those that
/// failed, the record entries of those that verified, and its busy time.
type Verdict = (usize, Vec<Pending>, Vec<Digest>, Duration);

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
