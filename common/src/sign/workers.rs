//! The signing workers: one thread per token session, each handed blocks
//! of whole RRsets, each with a verifier thread of its own that checks
//! what its session signed while the session signs the next block.

use super::plan::{Place, Plan};
use super::ramp::{self, Controller, Decision};
use super::rrset::RrsetSigner;
use super::sidecar::{Digest, Hashers};
use super::signed::{Arena, Slot};
use super::verify::Verifier;
use super::{KeyStore, SignOptions, SignStats, SigningKey};
use crate::error::{Error, Result};
use crate::name::Name;
use crate::threads::spawn_scoped;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender};
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

/// Signs every job on `stores.len()` threads, or with `-n auto` on as
/// many as [`ramp`](super::ramp) finds fastest, starting from those;
/// returns each worker's signatures, where each job's are, the summed
/// counters and the entries of the verified-signature record.
pub(super) fn run_workers<'s>(
    jobs: &[Place],
    context: &SignContext<'_>,
    stores: &'s mut [Box<dyn KeyStore + Send>],
) -> Result<Signed> {
    let cap = match (context.options.ramp, stores.first()) {
        (Some(ramp), Some(first)) => ramp
            .cap
            .min(first.session_limit().unwrap_or(usize::MAX))
            .max(stores.len()),
        _ => stores.len(),
    };
    let (opened, arrivals) = channel();
    let shared = Shared {
        next: AtomicUsize::new(0),
        failed: AtomicBool::new(false),
        // Sized for the most workers there may be: with more blocks than
        // needed, a few workers lose nothing; with too few, many idle.
        block: block_size(jobs.len(), cap),
        slots: Mutex::new(vec![Slot::default(); jobs.len()]),
        active: AtomicUsize::new(usize::MAX),
        to_open: AtomicUsize::new(0),
        signed: AtomicUsize::new(0),
        opened,
    };
    let mut report = None;
    let results: Vec<WorkerResult> = std::thread::scope(|scope| {
        let shared = &shared;
        let start = |index: usize, mut store: Held<'s>| {
            spawn_scoped(scope, "a signing", move || {
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
            })
        };
        let mut handles = Vec::with_capacity(cap);
        let mut not_started = None;
        for store in stores.iter_mut() {
            match start(handles.len(), Held::Borrowed(store)) {
                Ok(handle) => handles.push(handle),
                Err(error) => {
                    // The workers already running stop at their next block.
                    shared.failed.store(true, Ordering::Relaxed);
                    not_started = Some(error);
                    break;
                }
            }
        }
        if not_started.is_none() && context.options.ramp.is_some() {
            let mut controller = Controller::new(cap);
            let first = handles.len();
            let outcome = ramp_up(
                &mut controller,
                first,
                jobs.len(),
                shared,
                &arrivals,
                |store| start(handles.len(), Held::Owned(store)).map(|handle| handles.push(handle)),
            );
            if let Err(error) = outcome {
                shared.failed.store(true, Ordering::Relaxed);
                not_started = Some(error);
            }
            report = Some(controller.report);
        }
        // Sessions opened after the ramp ended are closed unused.
        shared.to_open.store(0, Ordering::Relaxed);
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
    drop(arrivals);
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
    stats.ramp = report;
    let slots = shared.slots.into_inner().unwrap_or_else(|e| e.into_inner());
    match first_error {
        Some(error) => Err(error),
        None => Ok((arenas, slots, stats, record)),
    }
}

/// A worker's store: one of those the caller opened, or one the ramp did.
enum Held<'a> {
    Borrowed(&'a mut Box<dyn KeyStore + Send>),
    Owned(Box<dyn KeyStore + Send>),
}

impl Held<'_> {
    fn as_mut(&mut self) -> &mut (dyn KeyStore + Send) {
        match self {
            Held::Borrowed(store) => store.as_mut(),
            Held::Owned(store) => store.as_mut(),
        }
    }
}

/// A store a worker opened for the ramp (`None`: its store cannot).
type Opened = Option<Result<Box<dyn KeyStore + Send>>>;

/// `-n auto`: measures the workers' rate over a window, asks the workers
/// for more sessions (each opens one between two blocks, so that a
/// network HSM's round trips overlap) and starts a worker on each, until
/// the controller is done. Returns when the ramp is over, all work has
/// been handed out, or a worker failed; `start` starts a worker.
fn ramp_up(
    controller: &mut Controller,
    mut sessions: usize,
    jobs: usize,
    shared: &Shared,
    arrivals: &Receiver<Opened>,
    mut start: impl FnMut(Box<dyn KeyStore + Send>) -> Result<()>,
) -> Result<()> {
    let mut pending = 0;
    let mut window: Option<(Instant, usize)> = None;
    let began = Instant::now();
    while shared.next.load(Ordering::Relaxed) < jobs && !shared.failed.load(Ordering::Relaxed) {
        if pending > 0 {
            let Ok(opened) = arrivals.recv_timeout(Duration::from_millis(5)) else {
                continue;
            };
            pending -= 1;
            match opened {
                Some(Ok(store)) => {
                    start(store)?;
                    sessions += 1;
                }
                refused => {
                    if let Some(Err(error)) = refused {
                        crate::cli::verbose(
                            1,
                            &format!("-n auto: no session beyond {sessions}: {error}"),
                        );
                    }
                    pending -= shared.to_open.swap(0, Ordering::Relaxed).min(pending);
                    controller.limit(sessions + pending);
                }
            }
            continue;
        }
        let signed = shared.signed.load(Ordering::Relaxed);
        // The first window opens once a block is signed: thread and
        // session start-up are no part of a rate.
        if signed == 0 {
            std::thread::sleep(Duration::from_millis(2));
            continue;
        }
        let (opened_at, signed_at) = *window.get_or_insert((Instant::now(), signed));
        let elapsed = opened_at.elapsed();
        let counted = signed - signed_at;
        let enough = counted >= ramp::BLOCKS_PER_WINDOW * shared.block * sessions;
        if !(elapsed >= ramp::MIN_WINDOW && enough || elapsed >= ramp::MAX_WINDOW && counted > 0) {
            std::thread::sleep(Duration::from_millis(2));
            continue;
        }
        let rate = counted as f64 / elapsed.as_secs_f64();
        crate::cli::verbose(
            1,
            &format!(
                "-n auto: {sessions} session(s) signed {rate:.0} RRsets/s ({:.3} s in)",
                began.elapsed().as_secs_f64()
            ),
        );
        window = None;
        match controller.decide(sessions, rate) {
            Decision::Grow(wanted) => {
                pending = wanted.saturating_sub(sessions);
                shared.to_open.store(pending, Ordering::Relaxed);
            }
            Decision::Stay => break,
            Decision::Retire(kept) => {
                shared.active.store(kept, Ordering::Relaxed);
                sessions = kept;
                break;
            }
        }
    }
    if controller.report.chosen == 0 {
        controller.end(sessions, "all work was handed out".into());
    }
    crate::cli::verbose(
        1,
        &format!(
            "-n auto: signing with {} session(s) ({}; {:.3} s in)",
            controller.report.chosen,
            controller.report.reason,
            began.elapsed().as_secs_f64()
        ),
    );
    Ok(())
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
    /// Workers numbered this or higher stop at their next block (`-n
    /// auto` retiring sessions that did not help).
    active: AtomicUsize,
    /// Sessions the ramp still wants opened: a worker takes one between
    /// two blocks and sends it on `opened`.
    to_open: AtomicUsize,
    /// Jobs signed so far, for the ramp's windows.
    signed: AtomicUsize,
    opened: Sender<Opened>,
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
            let take = |n: usize| n.checked_sub(1);
            if shared
                .to_open
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, take)
                .is_ok()
            {
                // A closed channel: the ramp ended; the store is closed here.
                let _ = shared.opened.send(signer.store.open_another());
            }
            let retired = index as usize >= shared.active.load(Ordering::Relaxed);
            let start = if retired {
                jobs.len()
            } else {
                shared.next.fetch_add(shared.block, Ordering::Relaxed)
            };
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
            shared.signed.fetch_add(done.len(), Ordering::Relaxed);
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
