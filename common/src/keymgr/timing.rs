//! The rollover schedule (RFC 7583 §3.2.1 ZSK pre-publication, §3.3
//! double-KSK; bind-lifecycle.md §8) with dnssec-keymgr's chaining
//! (§5.3): each key is active for `roll-period`, its successor is
//! published ahead of its Inactive and it is deleted after it.
//!
//! The schedule only fills times that are unset and moves times later
//! where a constraint needs it; it never moves a time earlier and never
//! changes one that has passed. A second run therefore finds nothing to
//! do, and a KSK retirement that was postponed stays postponed.

use super::policy::{RolePolicy, ZonePolicy};
use crate::keyfile::KeyTiming;

/// The intervals of RFC 7583 for one zone, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Intervals {
    /// Ipub = Dprp + TTLkey + Sp: a new DNSKEY is in every cache.
    pub ipub: i64,
    /// ZSK: successor published this long before it becomes active:
    /// max(`pre-publish zsk`, Ipub).
    pub zsk_lead: i64,
    /// ZSK: deleted this long after Inactive: max(`post-publish zsk`,
    /// Iret = Dsgn + Dprp + TTLsig + Sr).
    pub zsk_retire: i64,
    /// KSK: after SyncPublish of the new KSK, the old one stays active
    /// this long: Dreg + DprpP + TTLds + Sr (the new DS is at the parent
    /// and the old one gone from caches).
    pub ksk_ds_wait: i64,
    /// KSK: the successor is published (and active: double-signature)
    /// this long before the old one's Inactive: max(`pre-publish ksk`,
    /// Ipub + `ksk_ds_wait`).
    pub ksk_lead: i64,
    /// KSK: deleted this long after Inactive: max(`post-publish ksk`,
    /// Dprp + TTLkey), so the DNSKEY RRset it signed expires from caches.
    pub ksk_retire: i64,
    /// The zone's first KSK: SyncPublish this long after Publish, once
    /// the signed zone is in every cache: Dsgn + Dprp + max(TTLkey,
    /// TTLsig) + Sp.
    pub first_sync: i64,
}

impl Intervals {
    /// The intervals of a zone's policy.
    pub fn of(policy: &ZonePolicy) -> Intervals {
        let d = &policy.delays;
        let ipub = d.zone_propagation + policy.keyttl + d.publish_safety;
        let ksk_ds_wait = d.registration + d.parent_propagation + d.parent_ds_ttl + d.retire_safety;
        Intervals {
            ipub,
            zsk_lead: policy.zsk.pre_publish.max(ipub),
            zsk_retire: policy
                .zsk
                .post_publish
                .max(d.signing + d.zone_propagation + d.max_zone_ttl + d.retire_safety),
            ksk_ds_wait,
            ksk_lead: policy.ksk.pre_publish.max(ipub + ksk_ds_wait),
            ksk_retire: policy
                .ksk
                .post_publish
                .max(d.zone_propagation + policy.keyttl),
            first_sync: d.signing
                + d.zone_propagation
                + policy.keyttl.max(d.max_zone_ttl)
                + d.publish_safety,
        }
    }
}

/// The planned timing of one role's keys: the existing keys (same order
/// as given) followed by the keys to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub keys: Vec<KeyTiming>,
    /// How many of `keys` are new.
    pub new: usize,
}

fn fill(slot: &mut Option<i64>, value: i64) {
    if slot.is_none() {
        *slot = Some(value);
    }
}

/// Moves a time later to at least `value`, unless it has passed.
fn at_least(slot: &mut Option<i64>, value: i64, now: i64) {
    match slot {
        None => *slot = Some(value),
        Some(t) if *t > now && *t < value => *slot = Some(value),
        _ => {}
    }
}

/// The `RollPeriod:` each KSK of `chain` (sorted by Activate) is to hold:
/// `recorded` (its file's), else, once its predecessor's Inactive has
/// passed (it can no longer be postponed) and while its own is unset, that
/// Inactive + `roll_period` − its Activate. Double-KSK: the successor signs
/// from `lead` before its predecessor's Inactive, so its roll period
/// counts from that Inactive; kept in the successor's own file, the
/// predecessor can be purged on time.
pub fn roll_periods(
    chain: &[KeyTiming],
    recorded: &[Option<i64>],
    roll_period: i64,
    now: i64,
) -> Vec<Option<i64>> {
    (0..chain.len())
        .map(|k| {
            let recorded = recorded.get(k).copied().flatten();
            if recorded.is_some() || roll_period == 0 || chain[k].inactive.is_some() {
                return recorded;
            }
            let previous = k.checked_sub(1).and_then(|p| chain[p].inactive)?;
            let activate = chain[k].activate?;
            (previous <= now)
                .then(|| previous + roll_period - activate)
                .filter(|&life| life > 0)
        })
        .collect()
}

/// Plans one role's keys. `existing` are the policy's keys of this role
/// that are not yet deleted, sorted by Activate (else Publish, else
/// Created); `lives` their `RollPeriod:` ([`roll_periods`]): a key that
/// has one is active that long from its Activate. `ksk` selects the KSK
/// rules.
pub fn schedule(
    existing: &[KeyTiming],
    lives: &[Option<i64>],
    role: &RolePolicy,
    intervals: &Intervals,
    ksk: bool,
    coverage: i64,
    now: i64,
) -> Schedule {
    let mut keys: Vec<KeyTiming> = existing.to_vec();
    let mut new = 0;
    let (lead, retire) = if ksk {
        (intervals.ksk_lead, intervals.ksk_retire)
    } else {
        (intervals.zsk_lead, intervals.zsk_retire)
    };
    if keys.is_empty() {
        // The zone's first key of this role: published and active now
        // (nothing has cached the zone's keys yet).
        let mut first = KeyTiming {
            created: Some(now),
            publish: Some(now),
            activate: Some(now),
            ..KeyTiming::default()
        };
        if ksk {
            first.sync_publish = Some(now + intervals.first_sync);
        }
        keys.push(first);
        new = 1;
    }
    // A key found without dates is taken as the current one from now
    // (keymgr: Publish/Activate := now when unset).
    if let Some(first) = keys.first_mut() {
        fill(&mut first.publish, now);
        fill(&mut first.activate, now);
    }
    if role.roll_period == 0 {
        return Schedule { keys, new };
    }
    // A key followed by a successor but without Inactive (a run that made
    // the successor and failed before writing its predecessor, or files
    // edited by hand) retires when the successor takes over; else both
    // would stay active for ever.
    for k in 0..keys.len() - 1 {
        let Some(next_activate) = keys[k + 1].activate else {
            continue;
        };
        let next_sync = keys[k + 1].sync_publish;
        let key = &mut keys[k];
        if key.inactive.is_none() {
            let inactive = if ksk {
                next_activate + lead
            } else {
                next_activate
            };
            key.inactive = Some(inactive.max(now));
            if ksk {
                fill(
                    &mut key.sync_delete,
                    next_sync.unwrap_or(next_activate + intervals.ipub),
                );
            }
        }
        if let Some(inactive) = key.inactive {
            fill(&mut key.delete, inactive + retire);
        }
    }
    let rp = role.roll_period;
    loop {
        let last = keys.len() - 1;
        let previous_inactive = last.checked_sub(1).and_then(|p| keys[p].inactive);
        let current = &keys[last];
        let life = lives.get(last).copied().flatten();
        let nominal = match (current.inactive, life, previous_inactive, current.activate) {
            (Some(inactive), _, _, _) => inactive,
            (None, Some(life), _, Some(activate)) => activate + life,
            (None, _, Some(previous), _) => previous + rp,
            (None, _, None, Some(activate)) => activate + rp,
            (None, _, None, None) => now + rp,
        };
        if nominal >= now + coverage {
            break;
        }
        // The successor cannot be published before now.
        let inactive = nominal.max(now + lead);
        let current = &mut keys[last];
        at_least(&mut current.inactive, inactive, now);
        let inactive = current.inactive.unwrap_or(inactive);
        at_least(&mut current.delete, inactive + retire, now);
        let mut successor = KeyTiming {
            created: Some(now),
            ..KeyTiming::default()
        };
        if ksk {
            let start = (inactive - lead).max(now);
            successor.publish = Some(start);
            successor.activate = Some(start);
            successor.sync_publish = Some(start + intervals.ipub);
            // The old KSK's CDS/CDNSKEY give way to the new one's.
            at_least(&mut current.sync_delete, start + intervals.ipub, now);
        } else {
            successor.publish = Some((inactive - lead).max(now));
            successor.activate = Some(inactive);
        }
        keys.push(successor);
        new += 1;
    }
    Schedule { keys, new }
}

/// Postpones the retirement of KSK `old` to at least `until`: its future
/// SyncDelete, Inactive and Delete, and every later key's future times,
/// move by the same amount, so the schedule stays consistent. Returns the
/// shift in seconds (0 when nothing moved).
pub fn postpone(keys: &mut [KeyTiming], old: usize, until: i64, now: i64) -> i64 {
    let Some(first) = retirement_step(&keys[old], now) else {
        return 0;
    };
    let delta = until - first;
    if delta <= 0 {
        return 0;
    }
    let shift = |slot: &mut Option<i64>| {
        if let Some(t) = slot {
            if *t > now {
                *t += delta;
            }
        }
    };
    let key = &mut keys[old];
    shift(&mut key.sync_delete);
    shift(&mut key.inactive);
    shift(&mut key.delete);
    for later in keys.iter_mut().skip(old + 1) {
        // The successor's CDS stays as it is: with both CDS sets the
        // parent may publish both DS (double-DS, safe).
        shift(&mut later.inactive);
        shift(&mut later.delete);
        shift(&mut later.sync_delete);
    }
    for later in keys.iter_mut().skip(old + 2) {
        shift(&mut later.publish);
        shift(&mut later.activate);
        shift(&mut later.sync_publish);
    }
    delta
}

/// The first future step that retires a KSK: SyncDelete, Inactive or
/// Delete, whichever comes first after `now`.
pub fn retirement_step(key: &KeyTiming, now: i64) -> Option<i64> {
    [key.sync_delete, key.inactive, key.delete]
        .into_iter()
        .flatten()
        .filter(|&t| t > now)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keymgr::policy::PolicyFile;

    const DAY: i64 = 86_400;

    fn policy() -> ZonePolicy {
        PolicyFile::parse(
            "zone example.com { algorithm ecdsap256sha256; coverage 90d; keyttl 1h;
             roll-period zsk 30d; pre-publish zsk 7d; post-publish zsk 7d;
             roll-period ksk 180d; pre-publish ksk 30d; post-publish ksk 7d; };",
            "p",
        )
        .expect("policy")
        .zone("example.com")
        .expect("zone")
    }

    #[test]
    fn zsk_chain_follows_rfc_7583_and_keymgr() {
        let p = policy();
        let i = Intervals::of(&p);
        assert_eq!(i.ipub, 300 + 3600 + 3600);
        assert_eq!(i.zsk_lead, 7 * DAY);
        // Iret = Dsgn 1d + Dprp 5m + TTLsig 1d + Sr 1h < 7d.
        assert_eq!(i.zsk_retire, 7 * DAY);
        let now = 1_000_000_000;
        let s = schedule(&[], &[], &p.zsk, &i, false, p.coverage, now);
        // 90 days of coverage: active 0-30, 30-60, 60-90, and the fourth
        // key (activated at 90 = now + coverage) is not needed yet.
        assert_eq!(s.keys.len(), 3);
        assert_eq!(s.new, 3);
        assert_eq!(s.keys[0].activate, Some(now));
        assert_eq!(s.keys[0].inactive, Some(now + 30 * DAY));
        assert_eq!(s.keys[0].delete, Some(now + 37 * DAY));
        assert_eq!(s.keys[1].publish, Some(now + 23 * DAY));
        assert_eq!(s.keys[1].activate, Some(now + 30 * DAY));
        assert_eq!(s.keys[2].activate, Some(now + 60 * DAY));
        assert_eq!(s.keys[2].inactive, None);
        // Idempotent: planning the plan again changes nothing.
        let again = schedule(&s.keys, &[], &p.zsk, &i, false, p.coverage, now);
        assert_eq!(again.keys, s.keys);
        assert_eq!(again.new, 0);
    }

    #[test]
    fn a_predecessor_left_without_inactive_retires_when_its_successor_starts() {
        let p = policy();
        let i = Intervals::of(&p);
        let now = 1_000_000_000;
        let old = KeyTiming {
            publish: Some(now - DAY),
            activate: Some(now - DAY),
            ..KeyTiming::default()
        };
        let successor = KeyTiming {
            publish: Some(now + 3 * DAY),
            activate: Some(now + 10 * DAY),
            ..KeyTiming::default()
        };
        let s = schedule(&[old, successor], &[], &p.zsk, &i, false, p.coverage, now);
        assert_eq!(s.keys[0].inactive, Some(now + 10 * DAY));
        assert_eq!(s.keys[0].delete, Some(now + 17 * DAY));
    }

    #[test]
    fn ksk_successor_and_postponement() {
        let p = policy();
        let i = Intervals::of(&p);
        let now = 1_000_000_000;
        let s = schedule(&[], &[], &p.ksk, &i, true, 200 * DAY, now);
        assert_eq!(s.keys.len(), 2);
        let (old, new) = (&s.keys[0], &s.keys[1]);
        assert_eq!(old.inactive, Some(now + 180 * DAY));
        assert_eq!(new.publish, Some(now + 150 * DAY));
        assert_eq!(new.activate, new.publish);
        assert_eq!(new.sync_publish, Some(now + 150 * DAY + i.ipub));
        assert_eq!(old.sync_delete, new.sync_publish);
        assert_eq!(old.delete, Some(now + 187 * DAY));
        let mut keys = s.keys.clone();
        let later = now + 150 * DAY;
        let delta = postpone(&mut keys, 0, later + DAY, later);
        assert_eq!(delta, later + DAY - old.sync_delete.expect("sd"));
        assert_eq!(keys[0].inactive, Some(now + 180 * DAY + delta));
        assert_eq!(postpone(&mut keys, 0, later + DAY, later), 0);
    }
}
