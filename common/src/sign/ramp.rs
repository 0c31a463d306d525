//! `zone-sign -n auto`: how many token sessions to sign with, found by
//! measuring. The run starts with one session and adds sessions while the
//! measured throughput (RRsets signed per second over a short window)
//! rises; when it stops rising the ramp ends, and when the last sessions
//! added made it slower they are retired again. A network HSM, whose
//! every call waits a round trip, wants tens of sessions; SoftHSM2 on the
//! signing host's own cores is fastest with one (each extra session takes
//! CPU from the verifier threads and contends on its token lock).

use std::time::Duration;

/// The most sessions `-n auto` opens when the token does not limit them:
/// past this, the verifier threads, not the token, set the pace on any
/// host this is meant for.
pub const AUTO_CAP: usize = 64;

/// A window lasts at least this long: shorter ones measure the host's
/// scheduler, not the token.
pub(super) const MIN_WINDOW: Duration = Duration::from_millis(50);

/// A window waits at most this long for its blocks (a very slow token).
pub(super) const MAX_WINDOW: Duration = Duration::from_secs(2);

/// Blocks each session is to complete in a window, so that the blocks in
/// flight when it opens and closes are a small part of what it counts.
pub(super) const BLOCKS_PER_WINDOW: usize = 4;

/// More sessions are kept only when they sign at least this much faster
/// than fewer: a smaller gain is within what a loaded host's noise makes.
const KEEP_GAIN: f64 = 1.05;

/// A step whose gain is less than this share of the ideal (the ratio of
/// session counts) ends the ramp: more sessions would add little.
const GROW_EFFICIENCY: f64 = 0.1;

/// A step whose sessions each sign at least this share of what the first
/// session signed alone is far from any limit: the next step quadruples
/// the sessions instead of doubling them.
const FAST_GROWTH: f64 = 0.75;

/// At this share the sessions wait on nothing but the token (a network
/// HSM's round trips): the next step has eight times the sessions, so
/// that such a token reaches 64 in four windows (1, 2, 16, 64) and the
/// ramp's slow start costs little of a run.
const FASTEST_GROWTH: f64 = 0.9;

/// `-n auto`: grow up to `cap` sessions (the token's limit and
/// [`AUTO_CAP`] already applied by the caller).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ramp {
    pub cap: usize,
}

/// One measured step of the ramp, for `-t` and `--json`.
#[derive(Clone, Debug, PartialEq)]
pub struct RampStep {
    /// Sessions signing during the window.
    pub sessions: usize,
    /// RRsets signed per second over the window.
    pub rate: f64,
}

/// What the ramp measured and chose.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RampReport {
    pub steps: Vec<RampStep>,
    /// The sessions kept for the rest of the run.
    pub chosen: usize,
    /// Why the ramp ended, for `-v 1` and `-t`.
    pub reason: String,
}

/// The ramp's next move after a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Decision {
    /// Open sessions until there are this many, then measure again.
    Grow(usize),
    /// Keep the sessions there are; the ramp is over.
    Stay,
    /// Stop the sessions above this many; the ramp is over.
    Retire(usize),
}

/// Decides each step from the windows measured so far.
pub(super) struct Controller {
    cap: usize,
    pub(super) report: RampReport,
}

impl Controller {
    pub(super) fn new(cap: usize) -> Controller {
        Controller {
            cap: cap.max(1),
            report: RampReport::default(),
        }
    }

    /// No more sessions can be had than `sessions` (the token refused one,
    /// or the store cannot open another).
    pub(super) fn limit(&mut self, sessions: usize) {
        self.cap = self.cap.min(sessions.max(1));
    }

    /// `sessions` signed `rate` RRsets per second: what next.
    pub(super) fn decide(&mut self, sessions: usize, rate: f64) -> Decision {
        let steps = &mut self.report.steps;
        steps.push(RampStep { sessions, rate });
        let first = steps[0].clone();
        let decision = match steps.len() {
            1 => None,
            n => {
                let previous = &steps[n - 2];
                let gain = rate / previous.rate.max(f64::MIN_POSITIVE);
                let ideal = sessions as f64 / previous.sessions.max(1) as f64;
                if gain < KEEP_GAIN {
                    Some((
                        Decision::Retire(previous.sessions),
                        format!(
                            "{sessions} sessions signed {:.2}x as fast as {}",
                            gain, previous.sessions
                        ),
                    ))
                } else if ideal > 1.0 && (gain - 1.0) / (ideal - 1.0) < GROW_EFFICIENCY {
                    Some((
                        Decision::Stay,
                        format!(
                            "{sessions} sessions signed only {gain:.2}x as fast as {}",
                            previous.sessions
                        ),
                    ))
                } else {
                    None
                }
            }
        };
        let (decision, reason) = decision.unwrap_or_else(|| {
            if sessions >= self.cap {
                (
                    Decision::Stay,
                    format!("{} sessions is the most allowed", self.cap),
                )
            } else {
                // The first step doubles: on a CPU-bound host one session
                // against two is the comparison that matters.
                let per_session = rate / sessions.max(1) as f64;
                let factor = match self.report.steps.len() {
                    1 => 2,
                    _ if per_session >= FASTEST_GROWTH * first.rate => 8,
                    _ if per_session >= FAST_GROWTH * first.rate => 4,
                    _ => 2,
                };
                (
                    Decision::Grow((sessions * factor).min(self.cap)),
                    String::new(),
                )
            }
        });
        match decision {
            Decision::Grow(_) => {}
            Decision::Stay => self.end(sessions, reason),
            Decision::Retire(kept) => self.end(kept, reason),
        }
        decision
    }

    /// The ramp ended with `sessions` kept, for `reason`.
    pub(super) fn end(&mut self, sessions: usize, reason: String) {
        self.report.chosen = sessions;
        self.report.reason = reason;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cpu_bound_token_keeps_one_session() {
        let mut c = Controller::new(64);
        assert_eq!(c.decide(1, 15_000.0), Decision::Grow(2));
        assert_eq!(c.decide(2, 13_500.0), Decision::Retire(1));
        assert_eq!(c.report.chosen, 1);
    }

    #[test]
    fn a_slow_token_grows_by_eight_then_four_then_two_up_to_the_cap() {
        let mut c = Controller::new(64);
        assert_eq!(c.decide(1, 500.0), Decision::Grow(2));
        assert_eq!(c.decide(2, 990.0), Decision::Grow(16));
        assert_eq!(c.decide(16, 5_000.0), Decision::Grow(32));
        let mut c = Controller::new(64);
        assert_eq!(c.decide(1, 500.0), Decision::Grow(2));
        assert_eq!(c.decide(2, 850.0), Decision::Grow(8));
        assert_eq!(c.decide(8, 2_800.0), Decision::Grow(16));
        assert_eq!(c.decide(16, 5_000.0), Decision::Grow(32));
        assert_eq!(c.decide(32, 8_000.0), Decision::Grow(64));
        assert_eq!(c.decide(64, 11_000.0), Decision::Stay);
        assert_eq!(c.report.chosen, 64);
    }

    #[test]
    fn a_flat_step_ends_the_ramp_and_a_refused_session_caps_it() {
        let mut c = Controller::new(64);
        c.decide(1, 500.0);
        c.decide(2, 990.0);
        assert_eq!(c.decide(16, 1_100.0), Decision::Stay);
        let mut c = Controller::new(64);
        c.decide(1, 500.0);
        c.limit(3);
        assert_eq!(c.decide(3, 1_500.0), Decision::Stay);
        assert_eq!(c.report.chosen, 3);
    }
}
