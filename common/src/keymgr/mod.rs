//! key-manager: policy-driven key rollovers for keys in a token, as BIND
//! 9.16's `dnssec-keymgr` and `dnssec-coverage` did for file keys
//! (bind-lifecycle.md §5), with RFC 7583 timing (§8) and the parent's DS
//! checked before a KSK retires.
//!
//! `policy` reads the policy file, `timing` plans the schedule (pure),
//! `plan` reads the key directory and carries a plan out, `coverage`
//! checks a schedule for gaps (pure), and this module describes the keys'
//! state for `--status` and `--json`.

pub mod coverage;
pub mod plan;
pub mod policy;
pub mod timing;

use crate::keyfile::KeyTiming;
use serde::Serialize;

/// A key's state at a moment, as the table and JSON show it.
pub fn state(timing: &KeyTiming, revoked: bool, at: i64) -> &'static str {
    let passed = |t: Option<i64>| t.is_some_and(|t| t <= at);
    if passed(timing.delete) {
        "deleted"
    } else if revoked || passed(timing.revoke) {
        "revoked"
    } else if passed(timing.inactive) {
        "retired"
    } else if passed(timing.activate) {
        "active"
    } else if passed(timing.publish) {
        "published"
    } else {
        "planned"
    }
}

/// The key's next event after `at`: its name and time.
pub fn next_event(timing: &KeyTiming, at: i64) -> Option<(&'static str, i64)> {
    [
        ("Publish", timing.publish),
        ("Activate", timing.activate),
        ("SyncPublish", timing.sync_publish),
        ("SyncDelete", timing.sync_delete),
        ("Revoke", timing.revoke),
        ("Inactive", timing.inactive),
        ("Delete", timing.delete),
    ]
    .into_iter()
    .filter_map(|(name, t)| Some((name, t?)))
    .filter(|(_, t)| *t > at)
    .min_by_key(|(_, t)| *t)
}

/// One key in `--json` (schema in key-manager(1)).
#[derive(Clone, Debug, Serialize)]
pub struct KeyStatus {
    pub file: String,
    pub tag: u16,
    pub role: &'static str,
    pub algorithm: String,
    pub managed: bool,
    pub label: Option<String>,
    pub state: &'static str,
    pub next_event: Option<&'static str>,
    pub next_time: Option<String>,
    pub next_unix: Option<i64>,
}

/// One zone in `--json`.
#[derive(Clone, Debug, Serialize)]
pub struct ZoneStatus {
    pub zone: String,
    pub directory: String,
    /// `ok`, `postponed` or `gaps`.
    pub status: &'static str,
    pub actions: Vec<String>,
    pub gaps: Vec<String>,
    pub keys: Vec<KeyStatus>,
}

/// The whole `--json` document.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub now: i64,
    pub dry_run: bool,
    pub zones: Vec<ZoneStatus>,
}

impl ZoneStatus {
    /// The state of the plan's keys once it is carried out; keys it would
    /// generate are listed with tag 0 and file `-`.
    pub fn of(
        plan: &plan::ZonePlan,
        now: i64,
        actions: Vec<String>,
        gaps: Vec<String>,
        postponed: bool,
    ) -> ZoneStatus {
        let zone = plan.policy.zone.to_string();
        let mut keys = Vec::new();
        for (index, key) in plan.keys.iter().enumerate() {
            let timing = plan.planned_timing(index);
            let algorithm =
                crate::algorithm::Algorithm::from_number(key.files.record.dnskey.algorithm)
                    .map_or_else(
                        || key.files.record.dnskey.algorithm.to_string(),
                        |a| a.mnemonic().to_string(),
                    );
            let next = next_event(timing, now);
            keys.push(KeyStatus {
                file: key.files.base_name(),
                tag: key.files.tag(),
                role: if key.ksk { "KSK" } else { "ZSK" },
                algorithm,
                managed: key.managed,
                label: key.label.clone(),
                state: state(timing, key.files.record.dnskey.is_revoked(), now),
                next_event: next.map(|(n, _)| n),
                next_time: next.map(|(_, t)| crate::time::format_timestamp(t)),
                next_unix: next.map(|(_, t)| t),
            });
        }
        for action in &plan.actions {
            if let plan::Action::Generate { ksk, label, timing } = action {
                let next = next_event(timing, now);
                keys.push(KeyStatus {
                    file: "-".into(),
                    tag: 0,
                    role: if *ksk { "KSK" } else { "ZSK" },
                    algorithm: plan.policy.algorithm.mnemonic().to_string(),
                    managed: true,
                    label: Some(label.clone()),
                    state: state(timing, false, now),
                    next_event: next.map(|(n, _)| n),
                    next_time: next.map(|(_, t)| crate::time::format_timestamp(t)),
                    next_unix: next.map(|(_, t)| t),
                });
            }
        }
        let status = if !gaps.is_empty() {
            "gaps"
        } else if postponed {
            "postponed"
        } else {
            "ok"
        };
        ZoneStatus {
            zone: zone.trim_end_matches('.').to_string(),
            directory: plan.dir.display().to_string(),
            status,
            actions,
            gaps,
            keys,
        }
    }
}

/// The plain table of `--status`: one header line, one line per key.
pub fn table(zones: &[ZoneStatus]) -> String {
    let mut rows = vec![[
        "ZONE".to_string(),
        "TAG".into(),
        "ROLE".into(),
        "ALGORITHM".into(),
        "STATE".into(),
        "NEXT".into(),
        "AT (UTC)".into(),
        "MANAGED".into(),
    ]];
    for zone in zones {
        for key in &zone.keys {
            rows.push([
                zone.zone.clone(),
                format!("{:05}", key.tag),
                key.role.into(),
                key.algorithm.clone(),
                key.state.into(),
                key.next_event.unwrap_or("-").into(),
                key.next_time.clone().unwrap_or_else(|| "-".into()),
                if key.managed { "yes" } else { "no" }.into(),
            ]);
        }
    }
    let mut widths = [0usize; 8];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
