//! Editing a key's BIND files in place: the timing metadata of
//! `dnssec-settime` and the REVOKE flag of `dnssec-revoke`
//! (bind-lifecycle.md §1–§2; RFC 5011 §2.1, §7 for the revoked key tag).
//!
//! The same code serves token keys (`.private` with `Engine:`/`Label:`,
//! no key material) and BIND's own file keys, so one tool handles a mixed
//! directory. The `.private` is edited as text: every line but the
//! metadata (`Predecessor:`… and the timing tags) is kept as it was, in its
//! place, so `Label:`, `Engine:`, `External:` and key material survive
//! byte for byte; the metadata follows in BIND's order (dst_parse.c writes
//! the numeric tags, then the times). The `.key` is written again from its
//! record, as BIND does.

use crate::algorithm::Algorithm;
use crate::dnskey::FLAG_REVOKE;
use crate::error::{Error, Result};
use crate::keyfile::{key_text, parse_private, read_key_file, KeyFileTrust, KeyRecord, KeyTiming};
use crate::output::AtomicFile;
use crate::time::{format_ctime_local, format_timestamp, parse_timestamp, KeyTime};
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// BIND's numeric metadata tags, in the order dst_parse.c writes them.
const NUMERIC_TAGS: [&str; 4] = ["Predecessor", "Successor", "MaxTTL", "RollPeriod"];

/// The timing tags this module rewrites: the first nine of the key file's
/// (the others, BIND 9.18's key-state times, are kept as lines).
const REWRITTEN_TAGS: usize = 9;

/// A key's `.key` and `.private` files, read and checked, ready to edit.
#[derive(Clone, Debug)]
pub struct KeyPairFiles {
    /// The directory the pair is in (`.` for a bare name).
    pub dir: PathBuf,
    /// The DNSKEY record of the `.key` file.
    pub record: KeyRecord,
    /// `Private-key-format` version (major, minor).
    pub version: (u32, u32),
    /// The timing metadata.
    pub timing: KeyTiming,
    /// DSDelete (`-D ds`): BIND keeps it in `.state` only; here it is only
    /// shown, never written, as BIND without `-s`.
    pub ds_delete: Option<i64>,
    /// `Predecessor:`, `Successor:`, `MaxTTL:`, `RollPeriod:` as written.
    numeric: [Option<String>; 4],
    /// The `.private` lines that are not metadata, in file order.
    other_lines: Vec<String>,
    /// The `.private` file's permission bits when read.
    pub private_mode: u32,
    /// The owner and group of the `.key` and of the `.private` when read.
    owners: [(u32, u32); 2],
}

impl KeyPairFiles {
    /// Reads the pair whose `.key` is at `key_path`, through `trust`.
    /// The `.private` must be a private key: key material, a token's
    /// `Label:`, or BIND's `External:` (BIND: "is not a private key").
    pub fn read(key_path: &Path, trust: &KeyFileTrust) -> Result<KeyPairFiles> {
        let record = read_key_file(key_path, trust)?;
        let private_path = key_path.with_extension("private");
        let shown = private_path.display().to_string();
        let text = trust.read(&private_path)?;
        let parsed = parse_private(&text, &shown)?;
        if parsed.algorithm != record.dnskey.algorithm {
            return Err(Error::Input {
                file: shown,
                line: None,
                message: format!(
                    "algorithm {} does not match the DNSKEY's {} in '{}'",
                    parsed.algorithm,
                    record.dnskey.algorithm,
                    key_path.display()
                ),
            });
        }
        let mut numeric: [Option<String>; 4] = Default::default();
        let mut other_lines = Vec::new();
        let mut external = false;
        let mut ds_delete = None;
        for line in text.lines() {
            if line.trim().is_empty() {
                continue;
            }
            let tag = line.split_once(':').map_or("", |(tag, _)| tag.trim());
            let value = line.split_once(':').map_or("", |(_, value)| value.trim());
            if crate::keyfile::TIMING_TAGS[..REWRITTEN_TAGS].contains(&tag) {
                continue;
            }
            if let Some(index) = NUMERIC_TAGS.iter().position(|t| *t == tag) {
                numeric[index] = Some(value.to_string());
                continue;
            }
            if tag == "External" {
                external = true;
            }
            if tag == "DSRemoved" {
                ds_delete = parse_timestamp(value);
            }
            other_lines.push(line.to_string());
        }
        if !parsed.has_key_material && parsed.label.is_none() && !external {
            return Err(Error::Input {
                file: shown,
                line: None,
                message: "not a private key: no key material, no token Label: and no External:"
                    .into(),
            });
        }
        let private_meta = std::fs::metadata(&private_path).map_err(|e| Error::io(&shown, e))?;
        let private_mode = private_meta.permissions().mode() & 0o7777;
        let key_meta = std::fs::metadata(key_path)
            .map_err(|e| Error::io(key_path.display().to_string(), e))?;
        let owners = [
            (key_meta.uid(), key_meta.gid()),
            (private_meta.uid(), private_meta.gid()),
        ];
        let dir = match key_path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Ok(KeyPairFiles {
            dir,
            record,
            version: (parsed.major, parsed.minor),
            timing: parsed.timing,
            ds_delete,
            numeric,
            other_lines,
            private_mode,
            owners,
        })
    }

    /// The current key tag.
    pub fn tag(&self) -> u16 {
        self.record.dnskey.key_tag()
    }

    /// `K<name>+<alg>+<tag>`.
    pub fn base_name(&self) -> String {
        crate::keyfile::base_name(&self.record.owner, self.record.dnskey.algorithm, self.tag())
    }

    /// The key as BIND names it in messages: `name/ALGORITHM/tag`.
    pub fn display_name(&self) -> String {
        let owner = self.record.owner.to_string();
        let owner = match owner.strip_suffix('.') {
            Some(stripped) if !stripped.is_empty() => stripped.to_string(),
            _ => owner,
        };
        let algorithm = Algorithm::from_number(self.record.dnskey.algorithm).map_or_else(
            || self.record.dnskey.algorithm.to_string(),
            |a| a.mnemonic().to_string(),
        );
        format!("{owner}/{algorithm}/{}", self.tag())
    }

    /// Whether the files are in the old v1.2 format (no timing metadata).
    fn legacy(&self) -> bool {
        self.version < (1, 3)
    }

    /// The `Predecessor:` tag.
    pub fn predecessor(&self) -> Option<&str> {
        self.numeric[0].as_deref()
    }

    /// The `Successor:` tag.
    pub fn successor(&self) -> Option<&str> {
        self.numeric[1].as_deref()
    }

    /// The `RollPeriod:` tag in seconds (unset, or not a whole number of
    /// seconds above 0: none).
    pub fn roll_period(&self) -> Option<i64> {
        self.numeric[3]
            .as_deref()
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|&v| v > 0)
    }

    /// Sets the `RollPeriod:` tag (BIND's dst keeps it as written).
    pub fn set_roll_period(&mut self, seconds: i64) {
        self.numeric[3] = Some(seconds.to_string());
    }

    /// Refuses a format version other than v1.3 unless `force`, in BIND's
    /// words; with `force`, the files become v1.3.
    pub fn check_version(&mut self, force: bool) -> Result<()> {
        let (major, minor) = self.version;
        if major != 1 {
            return Err(Error::Failed(format!(
                "key {} has incompatible format version {major}.{minor}",
                self.display_name()
            )));
        }
        if minor == 3 {
            return Ok(());
        }
        if !force {
            let direction = if minor < 3 { "upgrade" } else { "downgrade" };
            return Err(Error::Failed(format!(
                "key {} has incompatible format version {major}.{minor}, \
                 use -f to force {direction} to new version",
                self.display_name()
            )));
        }
        self.version = (1, 3);
        for line in self.other_lines.iter_mut() {
            if line.trim_start().starts_with("Private-key-format:") {
                *line = "Private-key-format: v1.3".into();
            }
        }
        Ok(())
    }

    /// The `.key` file's text.
    pub fn key_text(&self) -> String {
        let r = &self.record;
        let timing = (!self.legacy()).then_some(&self.timing);
        key_text(&r.owner, r.ttl, r.class, &r.dnskey, timing)
    }

    /// The `.private` file's text: the kept lines, then the metadata.
    pub fn private_text(&self) -> String {
        let mut text = String::new();
        for line in &self.other_lines {
            text.push_str(line);
            text.push('\n');
        }
        if self.legacy() {
            return text;
        }
        for (tag, value) in NUMERIC_TAGS.iter().zip(&self.numeric) {
            if let Some(value) = value {
                text.push_str(&format!("{tag}: {value}\n"));
            }
        }
        for (tag, value) in self.timing.private_entries() {
            if let Some(value) = value {
                text.push_str(&format!("{tag}: {}\n", format_timestamp(value)));
            }
        }
        text
    }

    /// The paths of the pair in its directory.
    pub fn paths(&self) -> (PathBuf, PathBuf) {
        let base = self.dir.join(self.base_name());
        let mut key = base.clone().into_os_string();
        key.push(".key");
        let mut private = base.into_os_string();
        private.push(".private");
        (PathBuf::from(key), PathBuf::from(private))
    }

    /// The files to write for this pair: `.key` 0644, `.private` 0600.
    /// `replace`: rewrite in place; else the names must be new.
    fn atomic_files(&self, replace: bool) -> Result<Vec<AtomicFile>> {
        let (key_path, private_path) = self.paths();
        let mut files = Vec::new();
        for (path, text, mode) in [
            (&key_path, self.key_text(), 0o644),
            (&private_path, self.private_text(), 0o600),
        ] {
            let mut file = if replace {
                AtomicFile::create_with_mode(path, mode)?
            } else {
                AtomicFile::create_new(path, mode)?
            };
            file.write_all(text.as_bytes())
                .map_err(|e| Error::io(path.display().to_string(), e))?;
            files.push(file);
        }
        Ok(files)
    }

    /// Gives the files just written the owner and group the old ones had:
    /// operators run the tools as root, and a `.private` that became
    /// root's would no longer be readable by named (user `bind`). Without
    /// the right to (not root) the files stay ours, as BIND leaves them,
    /// with a warning. `lchown`: the directory is trusted, and a link is
    /// never followed.
    fn restore_owners(&self) {
        let (key, private) = self.paths();
        for (path, (uid, gid)) in [key, private].iter().zip(self.owners) {
            let Ok(meta) = std::fs::symlink_metadata(path) else {
                continue;
            };
            if (meta.uid(), meta.gid()) == (uid, gid) {
                continue;
            }
            if std::os::unix::fs::lchown(path, Some(uid), Some(gid)).is_err() {
                crate::cli::warn(&format!(
                    "'{}' is now owned by {}:{} (it was {uid}:{gid}; changing it back needs root)",
                    path.display(),
                    meta.uid(),
                    meta.gid()
                ));
            }
        }
    }

    /// Warns, in BIND's words, when the `.private` had another mode than
    /// the 0600 it is written with.
    fn warn_mode_change(&self) {
        if self.private_mode != 0o600 {
            crate::cli::warn(&format!(
                "Permissions on the file {} have changed from 0{:o} to 0600 as a result of this operation.",
                self.paths().1.display(),
                self.private_mode
            ));
        }
    }

    /// The value printed by `-p` for one field.
    fn shown(value: Option<i64>, unix: bool) -> String {
        match value {
            None => "UNSET".into(),
            Some(t) if unix => t.to_string(),
            Some(t) => format_ctime_local(t),
        }
    }

    /// `-p`/`-u` output: one `Label: value` line per field asked, in
    /// BIND's fixed order.
    pub fn print_text(&self, fields: &PrintFields, unix: bool) -> String {
        let t = &self.timing;
        let rows = [
            (fields.created, "Created", t.created),
            (fields.publish, "Publish", t.publish),
            (fields.activate, "Activate", t.activate),
            (fields.revoke, "Revoke", t.revoke),
            (fields.inactive, "Inactive", t.inactive),
            (fields.delete, "Delete", t.delete),
            (fields.sync_publish, "SYNC Publish", t.sync_publish),
            (fields.sync_delete, "SYNC Delete", t.sync_delete),
            (fields.ds_publish, "DS Publish", t.ds_publish),
            (fields.ds_delete, "DS Delete", self.ds_delete),
        ];
        rows.iter()
            .filter(|(asked, _, _)| *asked)
            .map(|(_, label, value)| format!("{label}: {}\n", Self::shown(*value, unix)))
            .collect()
    }
}

/// Which fields `-p` prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PrintFields {
    pub created: bool,
    pub publish: bool,
    pub activate: bool,
    pub revoke: bool,
    pub inactive: bool,
    pub delete: bool,
    pub sync_publish: bool,
    pub sync_delete: bool,
    pub ds_publish: bool,
    pub ds_delete: bool,
}

impl PrintFields {
    /// True if any field is asked for.
    pub fn any(&self) -> bool {
        *self != PrintFields::default()
    }

    /// Adds the fields of one `-p` argument: `all` (any case), or letters
    /// scanned left to right, `C P Psync Pds A R I D Dsync Dds`, spaces
    /// ignored (BIND's settime.c).
    pub fn add(&mut self, text: &str) -> Result<()> {
        if text.eq_ignore_ascii_case("all") {
            *self = PrintFields {
                created: true,
                publish: true,
                activate: true,
                revoke: true,
                inactive: true,
                delete: true,
                sync_publish: true,
                sync_delete: true,
                ds_publish: true,
                ds_delete: true,
            };
            return Ok(());
        }
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            rest = &rest[c.len_utf8()..];
            let suffix = |rest: &mut &str| {
                for (word, which) in [("sync", 1), ("ds", 2)] {
                    if let Some(after) = rest.strip_prefix(word) {
                        *rest = after;
                        return which;
                    }
                }
                0
            };
            match c {
                ' ' => {}
                'C' => self.created = true,
                'A' => self.activate = true,
                'R' => self.revoke = true,
                'I' => self.inactive = true,
                'P' => match suffix(&mut rest) {
                    1 => self.sync_publish = true,
                    2 => self.ds_publish = true,
                    _ => self.publish = true,
                },
                'D' => match suffix(&mut rest) {
                    1 => self.sync_delete = true,
                    2 => self.ds_delete = true,
                    _ => self.delete = true,
                },
                _ => {
                    return Err(Error::usage(format!(
                        "-p: unknown field in '{text}': use C, P, Psync, Pds, A, R, I, D, Dsync, Dds or all"
                    )))
                }
            }
        }
        Ok(())
    }
}

/// The timing options of `dnssec-settime`, dates already read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TimingChanges {
    pub publish: Option<KeyTime>,
    pub activate: Option<KeyTime>,
    pub revoke: Option<KeyTime>,
    pub inactive: Option<KeyTime>,
    pub delete: Option<KeyTime>,
    pub sync_publish: Option<KeyTime>,
    pub sync_delete: Option<KeyTime>,
    pub ds_publish: Option<KeyTime>,
    pub ds_delete: Option<KeyTime>,
    /// `-L`: the DNSKEY TTL (0 removes it).
    pub ttl: Option<u32>,
    /// `-i`: the prepublication interval in seconds.
    pub interval: Option<i64>,
    /// `-f`: upgrade v1.2 files, and write dates that contradict each
    /// other (with a warning) instead of refusing them.
    pub force: bool,
}

impl TimingChanges {
    /// True if any timing option was given.
    fn any_date(&self) -> bool {
        [
            self.publish,
            self.activate,
            self.revoke,
            self.inactive,
            self.delete,
            self.sync_publish,
            self.sync_delete,
            self.ds_publish,
            self.ds_delete,
        ]
        .iter()
        .any(Option::is_some)
    }
}

fn value(time: KeyTime) -> Option<i64> {
    match time {
        KeyTime::Set(t) => Some(t),
        KeyTime::Unset => None,
    }
}

/// The prepublication interval `-S` uses without `-i` (BIND: 30 days).
pub const DEFAULT_PREPUBLICATION: i64 = 30 * 86400;

/// Applies `dnssec-settime`'s changes to `key` at `now` (bind-lifecycle.md
/// §1.4); with a predecessor (`-S`), makes `key` its successor and updates
/// the predecessor's `Successor:`. Returns whether the files must be
/// written. Contradictory dates are refused unless `changes.force`.
pub fn apply_settime(
    key: &mut KeyPairFiles,
    changes: &TimingChanges,
    predecessor: Option<&mut KeyPairFiles>,
    now: i64,
) -> Result<bool> {
    let mut publish = changes.publish;
    let mut activate = changes.activate;
    if let Some(predecessor) = predecessor {
        if publish.is_some() {
            return Err(Error::usage("-S and -P cannot be used together"));
        }
        if activate.is_some() {
            return Err(Error::usage("-S and -A cannot be used together"));
        }
        let interval = changes.interval.unwrap_or(DEFAULT_PREPUBLICATION);
        let (p_publish, p_activate) = successor_times(key, predecessor, interval, now)?;
        publish = Some(KeyTime::Set(p_publish));
        activate = Some(KeyTime::Set(p_activate));
        predecessor.numeric[1] = Some(key.tag().to_string());
        key.numeric[0] = Some(predecessor.tag().to_string());
    } else if let Some(interval) = changes.interval.filter(|&i| i > 0) {
        match (publish.and_then(value), activate.and_then(value)) {
            (Some(p), Some(a)) if a - interval < p => {
                return Err(Error::Failed(
                    "activation and publication dates are closer together than the \
                     prepublication interval"
                        .into(),
                ))
            }
            (Some(p), None) if activate.is_none() => activate = Some(KeyTime::Set(p + interval)),
            (None, Some(a)) if publish.is_none() => publish = Some(KeyTime::Set(a - interval)),
            _ => {}
        }
        if let Some(a) = activate.and_then(value) {
            if a - interval < now {
                return Err(Error::Failed(
                    "time until activation is shorter than the prepublication interval".into(),
                ));
            }
        }
    }
    let asked = changes.any_date() || publish.is_some() || changes.ttl.is_some();
    let upgrading = key.legacy() && changes.force;
    key.check_version(changes.force)?;
    if upgrading {
        key.timing.created = Some(now);
        if !asked {
            key.timing.publish = Some(now);
            key.timing.activate = Some(now);
        }
    }
    if let Some(revoke) = changes.revoke {
        if key.record.dnskey.is_revoked() {
            let verb = if revoke == KeyTime::Unset {
                "removing"
            } else {
                "changing"
            };
            crate::cli::warn(&format!(
                "Key {} is already revoked; {verb} the revocation date will not affect this.",
                key.display_name()
            ));
        }
        if !key.record.dnskey.is_ksk() {
            crate::cli::warn(&format!(
                "Key {} is not flagged as a KSK, but -R was used. Revoking a ZSK is legal, but undefined.",
                key.display_name()
            ));
        }
    }
    let before = key.timing.clone();
    let t = &mut key.timing;
    for (change, slot) in [
        (publish, &mut t.publish),
        (activate, &mut t.activate),
        (changes.revoke, &mut t.revoke),
        (changes.inactive, &mut t.inactive),
        (changes.delete, &mut t.delete),
        (changes.sync_publish, &mut t.sync_publish),
        (changes.sync_delete, &mut t.sync_delete),
        (changes.ds_publish, &mut t.ds_publish),
    ] {
        if let Some(change) = change {
            *slot = value(change);
        }
    }
    if let Some(change) = changes.ds_delete {
        key.ds_delete = value(change);
        crate::cli::warn(
            "-D ds is kept in BIND's .state files only, which key-settime does not write: it is not saved",
        );
    }
    if let Some(ttl) = changes.ttl {
        key.record.ttl = (ttl != 0).then_some(ttl);
    }
    check_order(&before, &key.timing, changes.force)?;
    Ok(asked || upgrading)
}

/// Successor times from `-S` (BIND settime.c): published `interval` before
/// the predecessor goes inactive, active when it does.
fn successor_times(
    key: &KeyPairFiles,
    predecessor: &KeyPairFiles,
    interval: i64,
    now: i64,
) -> Result<(i64, i64)> {
    if predecessor.legacy() || predecessor.version.0 != 1 {
        return Err(Error::Failed(format!(
            "predecessor has incompatible format version {}.{}",
            predecessor.version.0, predecessor.version.1
        )));
    }
    if key.paths() == predecessor.paths() {
        return Err(Error::usage("a key cannot be its own predecessor (-S)"));
    }
    let (a, b) = (&key.record, &predecessor.record);
    if a.owner != b.owner {
        return Err(Error::Failed("key name mismatch".into()));
    }
    if a.dnskey.algorithm != b.dnskey.algorithm {
        return Err(Error::Failed("key algorithm mismatch".into()));
    }
    if key_size(a) != key_size(b) {
        return Err(Error::Failed("key size mismatch".into()));
    }
    if a.dnskey.flags != b.dnskey.flags {
        return Err(Error::Failed("key flags mismatch".into()));
    }
    if predecessor.timing.activate.is_none() {
        return Err(Error::Failed(
            "predecessor has no activation date: you must set one before generating a successor"
                .into(),
        ));
    }
    let Some(inactive) = predecessor.timing.inactive else {
        return Err(Error::Failed(
            "predecessor has no inactivation date: you must set one before generating a successor"
                .into(),
        ));
    };
    let publish = inactive - interval;
    if publish < now {
        return Err(Error::Failed(
            "time until predecessor inactivation is shorter than the prepublication interval: \
             either change the predecessor's inactivation date, or use the -i option to set \
             a shorter prepublication interval"
                .into(),
        ));
    }
    match predecessor.timing.delete {
        None => crate::cli::warn(
            "Predecessor has no removal date; it will remain in the zone indefinitely after rollover.",
        ),
        Some(delete) if delete < inactive => crate::cli::warn(
            "Predecessor is scheduled to be deleted before it is scheduled to be inactive.",
        ),
        _ => {}
    }
    Ok((publish, inactive))
}

/// The key's size in bits as BIND counts it (RSA: the modulus).
fn key_size(record: &KeyRecord) -> usize {
    match record.dnskey.to_public_key() {
        Ok(crate::keys::PublicKey::Rsa { modulus, .. }) => {
            let leading = modulus.first().map_or(0, |b| b.leading_zeros() as usize);
            modulus.len() * 8 - leading
        }
        _ => record.dnskey.public_key.len() * 8,
    }
}

/// Dates that contradict each other, for the pairs the run changed:
/// BIND warns only about Delete before Inactive and writes anything; a key
/// whose dates say it is deleted before it stops signing (or never
/// signs) is a zone going bogus, so it is refused here unless `-f`.
fn check_order(before: &KeyTiming, after: &KeyTiming, force: bool) -> Result<()> {
    let pairs = [
        (
            after.activate,
            after.inactive,
            before.activate != after.activate || before.inactive != after.inactive,
            "Key is scheduled to be inactive before it is scheduled to be active.",
        ),
        (
            after.inactive,
            after.delete,
            before.inactive != after.inactive || before.delete != after.delete,
            "Key is scheduled to be deleted before it is scheduled to be inactive.",
        ),
        (
            after.activate,
            after.delete,
            before.activate != after.activate || before.delete != after.delete,
            "Key is scheduled to be deleted before it is scheduled to be active.",
        ),
        (
            after.publish,
            after.delete,
            before.publish != after.publish || before.delete != after.delete,
            "Key is scheduled to be deleted before it is scheduled to be published.",
        ),
        (
            after.sync_publish,
            after.sync_delete,
            before.sync_publish != after.sync_publish || before.sync_delete != after.sync_delete,
            "Key's CDS/CDNSKEY are scheduled to be deleted before they are published.",
        ),
    ];
    for (first, second, changed, message) in pairs {
        let (Some(first), Some(second)) = (first, second) else {
            continue;
        };
        if !changed || second >= first {
            continue;
        }
        if !force {
            let mut shown = message.trim_end_matches('.').to_string();
            if let Some(first) = shown.get_mut(..1) {
                first.make_ascii_lowercase();
            }
            return Err(Error::Failed(format!(
                "{shown} (use -f to write these dates anyway)"
            )));
        }
        crate::cli::warn(message);
    }
    Ok(())
}

/// Rewrites the pairs in place, all or nothing ([`crate::output::commit_all`]);
/// returns the paths written, `.key` then `.private` for each.
pub fn write_in_place(pairs: &[&KeyPairFiles]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut paths = Vec::new();
    for pair in pairs {
        files.extend(pair.atomic_files(true)?);
        let (key, private) = pair.paths();
        paths.push(key);
        paths.push(private);
    }
    crate::output::commit_all(files)?;
    for pair in pairs {
        pair.restore_owners();
        pair.warn_mode_change();
        // BIND reads a .state before the .private: its old times win.
        let state = pair.dir.join(format!("{}.state", pair.base_name()));
        if state.exists() {
            crate::cli::warn(&format!(
                "'{}' is not changed: its times, which named's dnssec-policy reads first, are the old ones",
                state.display()
            ));
        }
    }
    Ok(paths)
}

/// The tag the key has once its REVOKE flag is set (RFC 5011 §7: the flags
/// are part of the tag): what `dnssec-revoke -R` prints. A revoked key's
/// own tag.
pub fn revoked_tag(key: &KeyPairFiles) -> u16 {
    let mut dnskey = key.record.dnskey.clone();
    dnskey.flags |= FLAG_REVOKE;
    dnskey.key_tag()
}

/// `dnssec-revoke`: the key with the REVOKE flag set and Revoke = `now`
/// (BIND replaces a scheduled date), every other line and date as it was.
/// The token key itself is untouched: the flag lives in DNS data only, and
/// the new `.private` keeps the same `Label:`.
pub fn revoke(key: &KeyPairFiles, force: bool, now: i64) -> Result<KeyPairFiles> {
    let mut revoked = key.clone();
    revoked.check_version(force)?;
    if key.record.dnskey.is_revoked() {
        return Err(Error::Failed(format!(
            "key {} is already revoked",
            key.display_name()
        )));
    }
    if !key.record.dnskey.is_ksk() {
        crate::cli::warn("Key is not flagged as a KSK. Revoking a ZSK is legal, but undefined.");
    }
    revoked.record.dnskey.flags |= FLAG_REVOKE;
    revoked.timing.revoke = Some(now);
    if key.legacy() {
        revoked.timing.created = Some(now);
    }
    Ok(revoked)
}

/// Writes a revoked pair under its new name; an existing file of that
/// name is never replaced (a key file is never overwritten).
pub fn write_new(pair: &KeyPairFiles) -> Result<()> {
    let (key, private) = pair.paths();
    for path in [&key, &private] {
        if std::fs::symlink_metadata(path).is_ok() {
            return Err(Error::Failed(format!(
                "key file '{}' already exists: a key file is never replaced (remove it first)",
                path.display()
            )));
        }
    }
    crate::output::commit_all(pair.atomic_files(false)?)?;
    pair.restore_owners();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn print_fields_are_scanned_as_bind_does() {
        let mut fields = PrintFields::default();
        fields.add("C Psync A").expect("fields");
        assert!(fields.created && fields.sync_publish && fields.activate);
        assert!(!fields.publish && !fields.delete);
        fields.add("Dds").expect("Dds");
        assert!(fields.ds_delete && !fields.delete);
        let mut all = PrintFields::default();
        all.add("ALL").expect("all");
        assert!(all.ds_delete && all.created);
        assert_eq!(
            PrintFields::default().add("X").expect_err("x").exit_code(),
            2
        );
    }

    #[test]
    fn contradictory_dates_are_refused_unless_forced() {
        let before = KeyTiming::default();
        let after = KeyTiming {
            inactive: Some(200),
            delete: Some(100),
            ..KeyTiming::default()
        };
        let message = check_order(&before, &after, false)
            .expect_err("refused")
            .to_string();
        assert!(message.contains("deleted before it is scheduled to be inactive"));
        assert!(check_order(&before, &after, true).is_ok());
        // Dates the run did not touch are not judged.
        assert!(check_order(&after, &after, false).is_ok());
        let after = KeyTiming {
            activate: Some(300),
            inactive: Some(200),
            ..KeyTiming::default()
        };
        assert!(check_order(&before, &after, false).is_err());
    }
}
