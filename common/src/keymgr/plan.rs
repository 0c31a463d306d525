//! What one run of key-manager does for a zone: read the key directory,
//! tell the policy's keys from the others, plan their timing
//! ([`super::timing`]), ask the parent for the new DS before a KSK
//! retires ([`crate::parent_ds`]), and then — unless it is a dry run —
//! make the keys in the token and write the key files.

use super::policy::{label_matches, make_label, ZonePolicy};
use super::timing::{self, Intervals};
use crate::algorithm::Algorithm;
use crate::dnskey::{DnsKey, FLAG_SEP, FLAG_ZONE};
use crate::error::{Error, Result};
use crate::keyfile::{parse_private, KeyFileTrust, KeyTiming, TokenKeyFiles};
use crate::keymeta::{apply_settime, write_in_place, KeyPairFiles, TimingChanges};
use crate::parent_ds::{DsObservation, ParentDsQuery, ParentServers};
use crate::time::{format_timestamp, KeyTime};
use crate::uri::PathAttr;
use crate::zone::ZoneReader;
use std::path::{Path, PathBuf};

/// A key found in the zone's key directory.
#[derive(Clone, Debug)]
pub struct DirKey {
    pub files: KeyPairFiles,
    pub ksk: bool,
    /// The token object's label (`Label:` of the `.private`), if any.
    pub label: Option<String>,
    /// The whole `Label:` URI (token and object), if any.
    pub uri: Option<crate::uri::Pkcs11Uri>,
    /// Whether the key is the policy's: algorithm, a token key whose
    /// label the pattern makes for this zone and role, in the policy's
    /// token. Only these are ever changed.
    pub managed: bool,
}

/// One thing a run does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Make a key pair in the token and write its key files.
    Generate {
        ksk: bool,
        label: String,
        timing: KeyTiming,
    },
    /// Change times of an existing key (index into the directory's keys),
    /// and its `RollPeriod:` (seconds) when that differs from the file's.
    SetTimes {
        key: usize,
        timing: KeyTiming,
        roll_period: Option<i64>,
    },
    /// Destroy a deleted key's token objects and remove its key files
    /// (`purge-keys` after its Delete).
    Purge { key: usize },
    /// A KSK's retirement waits for the parent's DS of its successor.
    Postponed {
        key: usize,
        successor: u16,
        until: i64,
        reason: String,
    },
}

/// The plan for one zone.
#[derive(Clone, Debug)]
pub struct ZonePlan {
    pub policy: ZonePolicy,
    pub dir: PathBuf,
    pub keys: Vec<DirKey>,
    pub actions: Vec<Action>,
}

/// Options of a run.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunOptions {
    /// `-k`: KSKs only.
    pub ksk_only: bool,
    /// `-z`: ZSKs only.
    pub zsk_only: bool,
    /// `-f`: write dates that contradict each other (with a warning).
    pub force: bool,
}

/// Whether `name` is `K<zone>+NNN+NNNNN.key` for this zone.
fn key_file_base(name: &str, prefix: &str) -> Option<String> {
    let base = name.strip_suffix(".key")?;
    let bytes = base.as_bytes();
    let p = prefix.len();
    let digits = |r: std::ops::Range<usize>| {
        bytes
            .get(r)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    (bytes.len() == p + 9
        && bytes[..p].eq_ignore_ascii_case(prefix.as_bytes())
        && digits(p..p + 3)
        && bytes[p + 3] == b'+'
        && digits(p + 4..p + 9))
    .then(|| base.to_string())
}

/// Reads the zone's keys in `dir` (through the same trust checks as the
/// signer) and marks the policy's.
pub fn read_keys(policy: &ZonePolicy, dir: &Path, trust: &KeyFileTrust) -> Result<Vec<DirKey>> {
    trust.check_dir(dir)?;
    let prefix = format!("K{}+", policy.zone.key_file_text());
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir.display().to_string(), e))?;
    let mut bases: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|name| key_file_base(&name, &prefix))
        .collect();
    bases.sort();
    let mut keys = Vec::new();
    for base in bases {
        let key_path = dir.join(format!("{base}.key"));
        let private_path = dir.join(format!("{base}.private"));
        if !private_path.exists() {
            // A publish-only key (.key alone): not ours, and no timing
            // the signer takes from the repository.
            continue;
        }
        let files = KeyPairFiles::read(&key_path, trust)?;
        let private = parse_private(
            &trust.read(&private_path)?,
            &private_path.display().to_string(),
        )?;
        let uri = private.label.as_ref().map(|l| l.uri().clone());
        let label = uri
            .as_ref()
            .and_then(|u| u.get(PathAttr::Object))
            .map(|l| String::from_utf8_lossy(l).into_owned());
        let dnskey = &files.record.dnskey;
        let ksk = dnskey.is_ksk();
        let token_ok = match (&policy.token, &uri) {
            (Some(wanted), Some(have)) => [PathAttr::Token, PathAttr::Serial]
                .iter()
                .all(|attr| wanted.get(*attr).is_none() || wanted.get(*attr) == have.get(*attr)),
            _ => true,
        };
        let managed = dnskey.algorithm == policy.algorithm.number()
            && !dnskey.is_revoked()
            && !private.external
            && token_ok
            && label.as_deref().is_some_and(|l| {
                label_matches(&policy.label, l, &policy.zone, ksk, dnskey.algorithm)
            });
        keys.push(DirKey {
            files,
            ksk,
            label,
            uri,
            managed,
        });
    }
    Ok(keys)
}

/// The zones that have a `.private` key file in `dir` (what
/// dnssec-keymgr and dnssec-coverage manage when no zone is named).
pub fn zones_in_dir(dir: &Path) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir.display().to_string(), e))?;
    let mut found: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|name| {
            let base = name.strip_prefix('K')?.strip_suffix(".private")?;
            let zone = base.rsplitn(3, '+').nth(2)?;
            Some(zone.trim_end_matches('.').to_ascii_lowercase())
        })
        .collect();
    found.sort();
    found.dedup();
    if found.is_empty() {
        return Err(Error::NotFound(format!(
            "no zone named and no keys in '{}'",
            dir.display()
        )));
    }
    Ok(found)
}

/// The keys as the coverage check sees them (revoked keys left out: they
/// sign nothing but the DNSKEY RRset, and no longer count for coverage).
pub fn coverage_keys(keys: &[DirKey]) -> Vec<super::coverage::CoverageKey> {
    keys.iter()
        .filter(|k| !k.files.record.dnskey.is_revoked())
        .map(|k| super::coverage::CoverageKey {
            name: k.files.display_name(),
            ksk: k.ksk,
            algorithm: k.files.record.dnskey.algorithm,
            timing: k.files.timing.clone(),
        })
        .collect()
}

/// Takes an exclusive `flock` on the key directory for the rest of the run
/// (the lock goes with the returned handle): two runs at once, cron and an
/// operator, would each make the successor the plan asks for.
pub fn lock_dir(dir: &Path) -> Result<std::fs::File> {
    let shown = dir.display().to_string();
    let file = std::fs::File::open(dir).map_err(|e| Error::io(&shown, e))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(
        |_| {
            Error::Failed(format!(
                "key directory '{shown}' is in use by another key-manager run: try again later"
            ))
        },
    )?;
    Ok(file)
}

/// The DNSKEY records of a `parent-trust-anchor` file (zone file syntax,
/// any owner, no directives: like a key file, checked by `trust`).
pub fn read_anchors(path: &Path, trust: &KeyFileTrust) -> Result<Vec<crate::dnskey::DnsKey>> {
    let shown = path.display().to_string();
    let text = trust.read(path)?;
    if let Some(index) = text
        .lines()
        .position(|line| line.trim_start().starts_with('$'))
    {
        return Err(Error::Input {
            file: shown,
            line: Some(index + 1),
            message: "a trust anchor file holds no directives".into(),
        });
    }
    let mut reader = ZoneReader::new(
        Box::new(std::io::Cursor::new(text.into_bytes())),
        &shown,
        Some(path.to_path_buf()),
        crate::name::Name::root(),
    )
    .lenient_ttl();
    let keys: Vec<_> = crate::keyfile::read_dnskeys(&mut reader)?
        .into_iter()
        .map(|record| record.dnskey)
        .collect();
    if keys.is_empty() {
        return Err(Error::Input {
            file: shown,
            line: None,
            message: "no DNSKEY record: not a trust anchor for the parent".into(),
        });
    }
    Ok(keys)
}

/// Sort key of keymgr: Activate, else Publish, else Created.
fn order(timing: &KeyTiming) -> (i64, i64, i64) {
    (
        timing.activate.unwrap_or(i64::MAX),
        timing.publish.unwrap_or(i64::MAX),
        timing.created.unwrap_or(i64::MAX),
    )
}

/// Plans the zone at `now`. `observe` asks the parent for a DS
/// ([`crate::parent_ds::observe_parent_ds`] in the tool).
pub fn plan_zone(
    policy: &ZonePolicy,
    dir: &Path,
    trust: &KeyFileTrust,
    now: i64,
    options: &RunOptions,
    observe: &dyn Fn(&ParentDsQuery) -> Result<DsObservation>,
) -> Result<ZonePlan> {
    let keys = read_keys(policy, dir, trust)?;
    let intervals = Intervals::of(policy);
    let mut actions = Vec::new();
    for ksk in [true, false] {
        if (ksk && options.zsk_only) || (!ksk && options.ksk_only) {
            continue;
        }
        let role = if ksk { &policy.ksk } else { &policy.zsk };
        let mut indexes: Vec<usize> = (0..keys.len())
            .filter(|&i| {
                let key = &keys[i];
                key.managed && key.ksk == ksk && key.files.timing.delete.is_none_or(|d| d > now)
            })
            .collect();
        indexes.sort_by_key(|&i| order(&keys[i].files.timing));
        let existing: Vec<KeyTiming> = indexes
            .iter()
            .map(|&i| keys[i].files.timing.clone())
            .collect();
        let recorded: Vec<Option<i64>> = indexes
            .iter()
            .map(|&i| keys[i].files.roll_period())
            .collect();
        // Double-KSK: a successor signs from `lead` before its
        // predecessor's Inactive, so its roll period counts from that
        // Inactive. A run after the predecessor's Delete (or a directory
        // from before `RollPeriod:` was written) still finds it, deleted,
        // in the directory: it is the chain's start for this run only and
        // is purged on time all the same.
        let mut chain = existing.clone();
        let mut chain_recorded = recorded.clone();
        let mut anchored = false;
        if ksk && recorded.first().is_some_and(Option::is_none) {
            let first = &existing[0];
            let predecessor = (0..keys.len())
                .filter(|&i| {
                    let key = &keys[i];
                    let timing = &key.files.timing;
                    key.managed
                        && key.ksk
                        && !indexes.contains(&i)
                        && timing.inactive.is_some()
                        && first.activate.is_some_and(|a| timing.inactive >= Some(a))
                })
                .max_by_key(|&i| order(&keys[i].files.timing));
            if let Some(predecessor) = predecessor {
                chain.insert(0, keys[predecessor].files.timing.clone());
                chain_recorded.insert(0, keys[predecessor].files.roll_period());
                anchored = true;
            }
        }
        let mut lives = timing::roll_periods(&chain, &chain_recorded, role.roll_period, now);
        if anchored {
            lives.remove(0);
        }
        if !ksk {
            // A ZSK's successor takes over at its Inactive: nothing to keep.
            lives = recorded.clone();
        }
        let mut planned = timing::schedule(
            &existing,
            &lives,
            role,
            &intervals,
            ksk,
            policy.coverage,
            now,
        )
        .keys;
        let mut postponed = Vec::new();
        if ksk {
            for old in 0..planned.len().saturating_sub(1) {
                let Some(step) = timing::retirement_step(&planned[old], now) else {
                    continue;
                };
                let check_interval = policy.delays.check_interval;
                if step > now + check_interval {
                    continue;
                }
                let outcome = match indexes.get(old + 1) {
                    Some(&successor) => {
                        // An unreadable anchor postpones like a silent
                        // parent: the other keys still roll.
                        let anchors = match &policy.parent_trust_anchor {
                            Some(path) => read_anchors(path, trust),
                            None => Ok(Vec::new()),
                        };
                        let observed = anchors.and_then(|anchors| {
                            observe(&ParentDsQuery {
                                zone: policy.zone.clone(),
                                key: keys[successor].files.record.dnskey.clone(),
                                servers: if policy.parent_servers.is_empty() {
                                    ParentServers::Discover
                                } else {
                                    ParentServers::Listed(policy.parent_servers.clone())
                                },
                                timeout: std::time::Duration::from_secs(5),
                                anchors,
                            })
                        });
                        match observed {
                            Ok(DsObservation::Published {
                                validated: true, ..
                            }) => None,
                            // Without a validated RRSIG the DS proves
                            // nothing unless the parent is known to be
                            // unsigned: forged answers can make a signed
                            // parent look unsigned.
                            Ok(DsObservation::Published { .. }) if policy.parent_unsigned => None,
                            Ok(DsObservation::Published { .. }) => Some((
                                keys[successor].files.tag(),
                                "the parent's DS answer is not signed (say 'parent-unsigned yes;' in the policy if the parent zone is unsigned)"
                                    .to_string(),
                            )),
                            Ok(DsObservation::NotYet { detail }) => {
                                Some((keys[successor].files.tag(), detail))
                            }
                            Err(error) => Some((keys[successor].files.tag(), error.to_string())),
                        }
                    }
                    None => Some((0, "the successor KSK is not made yet".to_string())),
                };
                if let Some((successor, reason)) = outcome {
                    let until = now + check_interval;
                    timing::postpone(&mut planned, old, until, now);
                    if let Some(&key) = indexes.get(old) {
                        postponed.push(Action::Postponed {
                            key,
                            successor,
                            until: timing::retirement_step(&planned[old], now).unwrap_or(until),
                            reason,
                        });
                    }
                }
            }
        }
        for (position, timing) in planned.into_iter().enumerate() {
            match indexes.get(position) {
                Some(&key)
                    if keys[key].files.timing != timing
                        || keys[key].files.roll_period() != lives[position] =>
                {
                    actions.push(Action::SetTimes {
                        key,
                        timing,
                        roll_period: lives[position],
                    });
                }
                Some(_) => {}
                None => {
                    let activate = timing.activate.unwrap_or(now);
                    let label = make_label(
                        &policy.label,
                        &policy.zone,
                        ksk,
                        policy.algorithm.number(),
                        activate,
                    );
                    actions.push(Action::Generate { ksk, label, timing });
                }
            }
        }
        actions.extend(postponed);
    }
    let purge = policy.delays.purge_keys;
    if purge > 0 {
        for (index, key) in keys.iter().enumerate() {
            let role_wanted = !(key.ksk && options.zsk_only || !key.ksk && options.ksk_only);
            let due = |k: &DirKey| {
                k.files
                    .timing
                    .delete
                    .is_some_and(|d| d.saturating_add(purge) <= now)
            };
            // Another key file naming the same object (the revoked copy
            // key-revoke writes) still needs it until its own purge time.
            let shared = keys.iter().enumerate().any(|(other, k)| {
                other != index && k.label.is_some() && k.label == key.label && !due(k)
            });
            if key.managed && role_wanted && due(key) && !shared {
                actions.push(Action::Purge { key: index });
            }
        }
    }
    Ok(ZonePlan {
        policy: policy.clone(),
        dir: dir.to_path_buf(),
        keys,
        actions,
    })
}

fn role_name(ksk: bool) -> &'static str {
    if ksk {
        "KSK"
    } else {
        "ZSK"
    }
}

/// The times of a timing as `Name YYYYMMDDHHMMSS` words; with `before`,
/// only those that differ (an unset one as `none`).
pub fn times_text(timing: &KeyTiming, before: Option<&KeyTiming>) -> String {
    let fields = |t: &KeyTiming| {
        [
            ("Publish", t.publish),
            ("Activate", t.activate),
            ("Inactive", t.inactive),
            ("Delete", t.delete),
            ("SyncPublish", t.sync_publish),
            ("SyncDelete", t.sync_delete),
        ]
    };
    let old = before.map(fields);
    let mut words = Vec::new();
    for (i, (name, value)) in fields(timing).into_iter().enumerate() {
        if old.is_some_and(|o| o[i].1 == value) {
            continue;
        }
        match value {
            Some(v) => words.push(format!("{name} {}", format_timestamp(v))),
            None if old.is_some() => words.push(format!("{name} none")),
            None => {}
        }
    }
    words.join(" ")
}

impl ZonePlan {
    fn zone_text(&self) -> String {
        let zone = self.policy.zone.to_string();
        match zone.strip_suffix('.') {
            Some(z) if !z.is_empty() => z.to_string(),
            _ => zone,
        }
    }

    /// The action as one line: what would be done (dry run) or was done.
    pub fn describe(&self, action: &Action, done: Option<&str>) -> String {
        let zone = self.zone_text();
        let verb = |would: &str, did: &str| {
            if done.is_some() {
                did.to_string()
            } else {
                format!("would {would}")
            }
        };
        match action {
            Action::Generate { ksk, label, timing } => format!(
                "{zone}: {} {} {}{} label '{label}': {}",
                verb("generate", "generated"),
                role_name(*ksk),
                self.policy.algorithm.mnemonic(),
                done.map(|base| format!(" {base}")).unwrap_or_default(),
                times_text(timing, None)
            ),
            Action::SetTimes {
                key,
                timing,
                roll_period,
            } => {
                let files = &self.keys[*key].files;
                let mut words = times_text(timing, Some(&files.timing));
                if let Some(seconds) = roll_period.filter(|_| files.roll_period() != *roll_period)
                {
                    if !words.is_empty() {
                        words.push(' ');
                    }
                    words.push_str(&format!("RollPeriod {seconds}"));
                }
                format!(
                    "{zone}: {} {} ({} {}): {words}",
                    verb("set", "set"),
                    files.base_name(),
                    role_name(self.keys[*key].ksk),
                    files.tag(),
                )
            }
            Action::Purge { key } => {
                let key = &self.keys[*key];
                format!(
                    "{zone}: {} {} ({} {}) label '{}': deleted at {} UTC, purge-keys {}s",
                    verb("purge", "purged"),
                    key.files.base_name(),
                    role_name(key.ksk),
                    key.files.tag(),
                    key.label.as_deref().unwrap_or(""),
                    key.files.timing.delete.map(format_timestamp).unwrap_or_default(),
                    self.policy.delays.purge_keys
                )
            }
            Action::Postponed {
                key,
                successor,
                until,
                reason,
            } => format!(
                "{zone}: postponed the retirement of KSK {} until {} UTC: the parent's DS for KSK {successor} is not seen: {reason}",
                self.keys[*key].files.tag(),
                format_timestamp(*until)
            ),
        }
    }

    /// Whether a KSK retirement was postponed.
    pub fn postponed(&self) -> bool {
        self.actions
            .iter()
            .any(|a| matches!(a, Action::Postponed { .. }))
    }

    /// Whether the plan needs the token (a key to make).
    pub fn needs_token(&self) -> bool {
        self.actions
            .iter()
            .any(|a| matches!(a, Action::Generate { .. }))
    }

    /// The timing each existing key has once the plan is carried out.
    pub fn planned_timing(&self, key: usize) -> &KeyTiming {
        self.actions
            .iter()
            .find_map(|a| match a {
                Action::SetTimes { key: k, timing, .. } if *k == key => Some(timing),
                _ => None,
            })
            .unwrap_or(&self.keys[key].files.timing)
    }
}

/// The token side of a run: the tool opens the token (once, on first use).
pub trait KeyStore {
    /// Makes a key pair with this label (a KSK's, or a ZSK's).
    fn make(&mut self, label: &str, ksk: bool) -> Result<MadeKey>;
    /// Destroys the objects of the key its `.private` names; how many.
    fn destroy(&mut self, uri: &crate::uri::Pkcs11Uri) -> Result<usize>;
}

/// A key made in the token for the plan.
pub struct MadeKey {
    pub public_key: crate::keys::PublicKey,
    /// The URI written as the `.private`'s `Label:`.
    pub stored_uri: String,
}

/// Carries the plan out: `make` generates a key pair in the token (label,
/// KSK?) and returns it. New key files are written first (never
/// replacing a file), then the changed ones in place, all or nothing.
/// Pushes one line per action done onto `lines`, also those done before
/// a failure, so that the operator learns what was made.
pub fn apply(
    plan: &ZonePlan,
    options: &RunOptions,
    now: i64,
    store: &mut dyn KeyStore,
    lines: &mut Vec<String>,
) -> Result<()> {
    let mut changed: Vec<KeyPairFiles> = Vec::new();
    for action in &plan.actions {
        let Action::SetTimes {
            key,
            timing,
            roll_period,
        } = action
        else {
            continue;
        };
        let mut files = plan.keys[*key].files.clone();
        if let Some(seconds) = *roll_period {
            files.set_roll_period(seconds);
        }
        let value = |v: Option<i64>| Some(v.map_or(KeyTime::Unset, KeyTime::Set));
        let changes = TimingChanges {
            publish: value(timing.publish),
            activate: value(timing.activate),
            inactive: value(timing.inactive),
            delete: value(timing.delete),
            sync_publish: value(timing.sync_publish),
            sync_delete: value(timing.sync_delete),
            force: options.force,
            ..TimingChanges::default()
        };
        // A RollPeriod alone: the times stay as they are, unchecked.
        if files.timing != *timing {
            apply_settime(&mut files, &changes, None, now)?;
        }
        changed.push(files);
    }
    for action in &plan.actions {
        match action {
            Action::Generate { ksk, label, timing } => {
                let made = store.make(label, *ksk)?;
                let flags = FLAG_ZONE | if *ksk { FLAG_SEP } else { 0 };
                let algorithm: Algorithm = plan.policy.algorithm;
                let dnskey = DnsKey::from_public_key(&made.public_key, algorithm, flags)?;
                let files = TokenKeyFiles {
                    owner: plan.policy.zone.clone(),
                    ttl: u32::try_from(plan.policy.keyttl).ok(),
                    class: crate::record::Class::IN,
                    dnskey,
                    timing: timing.clone(),
                    label: made.stored_uri,
                    legacy: false,
                };
                let base = files.write(&plan.dir)?;
                let base = base
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                lines.push(plan.describe(action, Some(&base)));
            }
            Action::SetTimes { .. } | Action::Postponed { .. } | Action::Purge { .. } => {}
        }
    }
    // Last: a predecessor gets its Inactive only once its successor
    // exists (a failure before leaves it the zone's last key, signing).
    if !changed.is_empty() {
        let refs: Vec<&KeyPairFiles> = changed.iter().collect();
        write_in_place(&refs)?;
    }
    for action in &plan.actions {
        if matches!(action, Action::SetTimes { .. } | Action::Postponed { .. }) {
            lines.push(plan.describe(action, Some("")));
        }
    }
    // Purged last: the token objects first (a key whose files are gone
    // but whose objects stay would be invisible to every later run).
    for action in &plan.actions {
        let Action::Purge { key } = action else {
            continue;
        };
        let key = &plan.keys[*key];
        if let Some(uri) = &key.uri {
            store.destroy(uri)?;
        }
        let (key_path, private_path) = key.files.paths();
        for path in [private_path, key_path] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(path.display().to_string(), e)),
            }
        }
        lines.push(plan.describe(action, Some("")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keymgr::policy::PolicyFile;
    use std::cell::RefCell;

    const DAY: i64 = 86_400;
    const NOW: i64 = 1_800_000_000;

    /// K-files for a token key named by the default pattern.
    fn write_key(dir: &Path, ksk: bool, seed: u8, timing: KeyTiming) -> u16 {
        let zone = crate::name::Name::parse("example.com", Some(&crate::name::Name::root()))
            .expect("name");
        let activate = timing.activate.unwrap_or(0);
        let files = TokenKeyFiles {
            owner: zone.clone(),
            ttl: Some(3600),
            class: crate::record::Class::IN,
            dnskey: DnsKey {
                flags: FLAG_ZONE | if ksk { FLAG_SEP } else { 0 },
                protocol: 3,
                algorithm: 13,
                public_key: vec![seed; 64],
            },
            timing,
            label: format!(
                "pkcs11:token=test;object={}",
                make_label(
                    super::super::policy::DEFAULT_LABEL,
                    &zone,
                    ksk,
                    13,
                    activate
                )
            ),
            legacy: false,
        };
        files.write(dir).expect("write");
        files.dnskey.key_tag()
    }

    fn lab() -> (tempfile::TempDir, ZonePolicy, u16) {
        lab_with("")
    }

    /// The lab with `extra` options in the zone's block.
    fn lab_with(extra: &str) -> (tempfile::TempDir, ZonePolicy, u16) {
        let dir = tempfile::tempdir().expect("dir");
        let policy = PolicyFile::parse(
            &format!(
                "zone example.com {{ algorithm ecdsap256sha256; coverage 30d;
             roll-period ksk 60d; pre-publish ksk 20d; post-publish ksk 7d;
             parent-servers 192.0.2.1 port 5300; {extra} }};"
            ),
            "p",
        )
        .expect("policy")
        .zone("example.com")
        .expect("zone");
        let old = KeyTiming {
            created: Some(NOW - 50 * DAY),
            publish: Some(NOW - 50 * DAY),
            activate: Some(NOW - 50 * DAY),
            sync_publish: Some(NOW - 48 * DAY),
            sync_delete: Some(NOW + 2 * 3600),
            inactive: Some(NOW + 10 * DAY),
            delete: Some(NOW + 17 * DAY),
            ..KeyTiming::default()
        };
        write_key(dir.path(), true, 1, old);
        let new = KeyTiming {
            created: Some(NOW - DAY),
            publish: Some(NOW - DAY),
            activate: Some(NOW - DAY),
            sync_publish: Some(NOW + 2 * 3600),
            ..KeyTiming::default()
        };
        let new_tag = write_key(dir.path(), true, 2, new);
        let zsk = KeyTiming {
            created: Some(NOW - 50 * DAY),
            publish: Some(NOW - 50 * DAY),
            activate: Some(NOW - 50 * DAY),
            ..KeyTiming::default()
        };
        write_key(dir.path(), false, 3, zsk);
        (dir, policy, new_tag)
    }

    #[test]
    fn the_ksk_retires_on_schedule_once_the_parent_shows_the_ds() {
        // A validated DS; an unvalidated one from a parent the policy says
        // is unsigned.
        for (extra, validated) in [("", true), ("parent-unsigned yes;", false)] {
            ksk_retires_with(extra, validated);
        }
    }

    fn ksk_retires_with(extra: &str, validated: bool) {
        let (dir, policy, new_tag) = lab_with(extra);
        let asked = RefCell::new(Vec::new());
        let observe = |query: &ParentDsQuery| {
            asked
                .borrow_mut()
                .push((query.key.key_tag(), query.servers.clone()));
            Ok(DsObservation::Published {
                servers: 1,
                validated,
            })
        };
        let trust = KeyFileTrust::new(false);
        let plan = plan_zone(
            &policy,
            dir.path(),
            &trust,
            NOW,
            &RunOptions::default(),
            &observe,
        )
        .expect("plan");
        assert_eq!(plan.actions, Vec::new());
        let asked = asked.into_inner();
        assert_eq!(asked.len(), 1);
        assert_eq!(asked[0].0, new_tag);
        assert_eq!(
            asked[0].1,
            ParentServers::Listed(vec!["192.0.2.1:5300".parse().expect("addr")])
        );
    }

    #[test]
    fn the_ksk_retirement_waits_while_the_ds_is_missing_or_the_parent_silent() {
        let (dir, policy, new_tag) = lab();
        let trust = KeyFileTrust::new(false);
        for answer in [
            Ok(DsObservation::NotYet {
                detail: "192.0.2.1#5300 has no DS".into(),
            }),
            Err(Error::Failed("no answer from 192.0.2.1#5300".into())),
        ] {
            let observe = |_: &ParentDsQuery| answer.clone_result();
            let plan = plan_zone(
                &policy,
                dir.path(),
                &trust,
                NOW,
                &RunOptions::default(),
                &observe,
            )
            .expect("plan");
            assert!(plan.postponed(), "{:?}", plan.actions);
            let retired = plan
                .actions
                .iter()
                .find_map(|a| match a {
                    Action::SetTimes { key, timing, .. } if plan.keys[*key].ksk => Some(timing),
                    _ => None,
                })
                .expect("old KSK moved");
            let delta = NOW + DAY - (NOW + 2 * 3600);
            assert_eq!(retired.sync_delete, Some(NOW + DAY));
            assert_eq!(retired.inactive, Some(NOW + 10 * DAY + delta));
            assert_eq!(retired.delete, Some(NOW + 17 * DAY + delta));
            let line = plan.describe(
                plan.actions
                    .iter()
                    .find(|a| matches!(a, Action::Postponed { .. }))
                    .expect("postponed"),
                None,
            );
            assert!(
                line.contains(&format!("the parent's DS for KSK {new_tag} is not seen: ")),
                "{line}"
            );
            assert!(line.contains("192.0.2.1#5300"), "{line}");
        }
    }

    #[test]
    fn an_unvalidated_ds_postpones_unless_the_policy_says_the_parent_is_unsigned() {
        for extra in ["", "parent-unsigned no;"] {
            let (dir, policy, new_tag) = lab_with(extra);
            let observe = |_: &ParentDsQuery| {
                Ok(DsObservation::Published {
                    servers: 1,
                    validated: false,
                })
            };
            let plan = plan_zone(
                &policy,
                dir.path(),
                &KeyFileTrust::new(false),
                NOW,
                &RunOptions::default(),
                &observe,
            )
            .expect("plan");
            assert!(plan.postponed(), "{extra}: {:?}", plan.actions);
            let line = plan.describe(
                plan.actions
                    .iter()
                    .find(|a| matches!(a, Action::Postponed { .. }))
                    .expect("postponed"),
                None,
            );
            assert!(
                line.contains(&format!(
                    "the parent's DS for KSK {new_tag} is not seen: the parent's DS answer is not signed"
                )),
                "{line}"
            );
        }
    }

    #[test]
    fn the_parent_trust_anchor_file_goes_with_the_query() {
        let anchor_dir = tempfile::tempdir().expect("dir");
        let anchor = anchor_dir.path().join("com.anchor");
        let key = DnsKey {
            flags: 257,
            protocol: 3,
            algorithm: 13,
            public_key: vec![5; 64],
        };
        std::fs::write(
            &anchor,
            format!(
                "; the parent's KSK\ncom. 3600 IN DNSKEY {}\n",
                key.rdata_text()
            ),
        )
        .expect("anchor");
        let (dir, policy, _) = lab_with(&format!("parent-trust-anchor \"{}\";", anchor.display()));
        let asked = RefCell::new(Vec::new());
        let observe = |query: &ParentDsQuery| {
            asked.borrow_mut().push(query.anchors.clone());
            Ok(DsObservation::Published {
                servers: 1,
                validated: true,
            })
        };
        let trust = KeyFileTrust::new(false);
        let plan = plan_zone(
            &policy,
            dir.path(),
            &trust,
            NOW,
            &RunOptions::default(),
            &observe,
        )
        .expect("plan");
        assert!(!plan.postponed(), "{:?}", plan.actions);
        assert_eq!(*asked.borrow(), vec![vec![key]]);
        // A missing anchor file postpones, naming it.
        std::fs::remove_file(&anchor).expect("remove");
        let plan = plan_zone(
            &policy,
            dir.path(),
            &trust,
            NOW,
            &RunOptions::default(),
            &observe,
        )
        .expect("plan");
        let line = plan.describe(
            plan.actions
                .iter()
                .find(|a| matches!(a, Action::Postponed { .. }))
                .expect("postponed"),
            None,
        );
        assert!(line.contains(&anchor.display().to_string()), "{line}");
    }

    trait CloneResult {
        fn clone_result(&self) -> Result<DsObservation>;
    }

    impl CloneResult for Result<DsObservation> {
        fn clone_result(&self) -> Result<DsObservation> {
            match self {
                Ok(o) => Ok(o.clone()),
                Err(e) => Err(Error::Failed(e.to_string())),
            }
        }
    }

    /// The token side of a unit test: nothing to make, destroys noted.
    struct NoToken(Vec<String>);

    impl KeyStore for NoToken {
        fn make(&mut self, label: &str, _: bool) -> Result<MadeKey> {
            Err(Error::Failed(format!("no token here to make '{label}'")))
        }
        fn destroy(&mut self, uri: &crate::uri::Pkcs11Uri) -> Result<usize> {
            self.0.push(uri.to_string());
            Ok(2)
        }
    }

    #[test]
    fn a_deleted_ksk_is_purged_on_time_and_its_successor_keeps_its_roll_period() {
        let policy = PolicyFile::parse(
            "zone example.com { algorithm ecdsap256sha256; coverage 30d;
             roll-period ksk 60d; pre-publish ksk 20d; post-publish ksk 7d;
             purge-keys 1d; };",
            "p",
        )
        .expect("policy")
        .zone("example.com")
        .expect("zone");
        let observe = |_: &ParentDsQuery| {
            Ok(DsObservation::Published {
                servers: 1,
                validated: false,
            })
        };
        let trust = KeyFileTrust::new(false);
        let run = |dir: &Path, now: i64| {
            plan_zone(&policy, dir, &trust, now, &RunOptions::default(), &observe).expect("plan")
        };
        let ksk_inactive = |plan: &ZonePlan| {
            plan.actions.iter().find_map(|a| match a {
                Action::SetTimes { key, timing, .. } if plan.keys[*key].ksk => timing.inactive,
                _ => None,
            })
        };
        // Retired 31 days ago: the successor's Inactive (60 days after the
        // old one's) falls within the coverage at once; 20 days ago: only
        // at a later run, once the old key is gone.
        for retired in [31, 20] {
            let dir = tempfile::tempdir().expect("dir");
            let inactive = NOW - retired * DAY;
            let old = KeyTiming {
                created: Some(NOW - 100 * DAY),
                publish: Some(NOW - 100 * DAY),
                activate: Some(NOW - 100 * DAY),
                inactive: Some(inactive),
                delete: Some(inactive + 7 * DAY),
                ..KeyTiming::default()
            };
            write_key(dir.path(), true, 1, old);
            // Active 20 days (the lead) before the old one's Inactive.
            let successor = KeyTiming {
                created: Some(inactive - 20 * DAY),
                publish: Some(inactive - 20 * DAY),
                activate: Some(inactive - 20 * DAY),
                ..KeyTiming::default()
            };
            let successor_tag = write_key(dir.path(), true, 2, successor);
            let zsk = KeyTiming {
                publish: Some(NOW - DAY),
                activate: Some(NOW - DAY),
                ..KeyTiming::default()
            };
            write_key(dir.path(), false, 3, zsk);
            let plan = run(dir.path(), NOW);
            // The old KSK is past Delete + purge-keys: purged now, not kept
            // as the chain's start.
            let purged: Vec<u16> = plan
                .actions
                .iter()
                .filter_map(|a| match a {
                    Action::Purge { key } => Some(plan.keys[*key].files.tag()),
                    _ => None,
                })
                .collect();
            assert_eq!(purged.len(), 1, "{retired}: {:?}", plan.actions);
            assert_ne!(purged[0], successor_tag);
            let expected = (retired == 31).then_some(inactive + 60 * DAY);
            assert_eq!(ksk_inactive(&plan), expected, "{:?}", plan.actions);
            if retired == 31 {
                // (Its own successor is to be made: no token here.)
                continue;
            }
            let mut store = NoToken(Vec::new());
            let mut lines = Vec::new();
            apply(&plan, &RunOptions::default(), NOW, &mut store, &mut lines).expect("apply");
            assert_eq!(store.0.len(), 1, "{lines:?}");
            // The successor's file holds its life from its own Activate.
            let private = std::fs::read_to_string(
                dir.path()
                    .join(format!("Kexample.com.+013+{successor_tag:05}.private")),
            )
            .expect("private");
            assert!(
                private.contains(&format!("\nRollPeriod: {}\n", 80 * DAY)),
                "{private}"
            );
            // Idempotent, and the later run counts from the purged key's
            // Inactive all the same.
            assert_eq!(run(dir.path(), NOW).actions, Vec::new());
            let later = run(dir.path(), NOW + 15 * DAY);
            assert_eq!(later.keys.iter().filter(|k| k.ksk).count(), 1);
            assert_eq!(
                ksk_inactive(&later),
                Some(inactive + 60 * DAY),
                "{:?}",
                later.actions
            );
        }
    }
}
