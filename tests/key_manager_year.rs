//! A year of key-manager in a few minutes: 30-day ZSKs and 90-day KSKs
//! for `child.test.` in a SoftHSM2 token, the child served by `named` in
//! the lab tree of [`crate::dns_lab`] (root → `test.` → `child.test.`),
//! and the parent `test.` taking the child's CDS as its DS once the CDS
//! has been visible for a day. The clock moves by `P11DNSSEC_NOW` in
//! 12-hour steps; at each step key-manager runs, the child is re-signed
//! with zone-sign -S and reloaded when its keys' timing says something
//! changed (and at least every few days, as a cron job would), and `delv`
//! from the root's trust anchor must say "fully validated" for a name in
//! the child; `dnssec-verify` judges every signed version of the zone.
//!
//! The year lies in the past and the signatures expire after the real
//! now (`-e`), because delv and dnssec-verify judge them at the real time.

use crate::dns_lab::{DnsLab, CHILD};
use crate::hsm::real_now;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;
/// The simulated clock's step.
const STEP: i64 = 12 * HOUR;
/// The parent publishes the child's CDS as DS once it has been visible
/// this long (its scan interval); the policy's Dreg is the same.
const PARENT_DELAY: i64 = DAY;
/// The child is re-signed at least this often even when no key changes.
const RESIGN_EVERY: i64 = 3 * DAY;
/// The policy's purge-keys.
const PURGE: i64 = 7 * DAY;
/// The name whose validation is asked at every step.
const NAME: &str = "www.child.test.";

/// The policy of the year: `parent_port` is where key-manager asks the
/// parent for the DS.
fn policy(parent_port: u16) -> String {
    format!(
        "zone child.test {{
    algorithm ECDSAP256SHA256;
    coverage 60d;
    keyttl 1h;
    max-zone-ttl 1h;
    roll-period zsk 30d; pre-publish zsk 5d; post-publish zsk 5d;
    roll-period ksk 90d; pre-publish ksk 15d; post-publish ksk 5d;
    parent-registration-delay 1d;
    parent-servers 127.0.0.1 port {parent_port};
    purge-keys 7d;
}};
"
    )
}

/// What key-manager's `--json` said about the child at one run.
struct Run {
    code: i32,
    status: String,
    actions: Vec<String>,
    /// The earliest next event of any key (what the next signing must
    /// reflect).
    next_event: Option<i64>,
}

/// A key file in the child's key directory: its tag, Delete and the
/// label of its token object.
struct KeyFile {
    tag: u16,
    delete: Option<i64>,
    label: String,
}

/// The lab, the policy, and what the year saw.
struct Year {
    lab: DnsLab,
    policy: PathBuf,
    serial: u32,
    /// Whether the parent takes the child's CDS (else it keeps the first
    /// DS for ever).
    parent_follows: bool,
    /// The CDS set the child serves and since when.
    cds: Vec<String>,
    cds_since: i64,
    parent_ds: Vec<String>,
    last_signed: i64,
    next_event: Option<i64>,
    /// The ZSKs that signed the SOA, each once, in order.
    zsk_signers: Vec<u16>,
    /// The KSKs that signed the DNSKEY RRset at the last signing.
    ksk_signers: BTreeSet<u16>,
    /// KSK rollovers begun (a second KSK signs) and completed (the old
    /// one stopped signing).
    ksk_started: usize,
    ksk_done: usize,
    /// When each completed KSK rollover was first seen.
    ksk_done_at: Vec<i64>,
    /// The parent's DS sets, each once, in order (tags).
    ds_history: Vec<BTreeSet<u16>>,
    /// KSKs whose retirement key-manager postponed, and how many runs.
    postponed_ksks: BTreeSet<u16>,
    postponed_runs: usize,
    purged: usize,
    steps: usize,
    signings: usize,
}

impl Year {
    /// The lab at `start`: key-manager's first keys for the child, the
    /// tree signed at `start` (valid until after the real now), and the
    /// parent holding the first KSK's DS (the operator's registration).
    fn new(start: i64, parent_follows: bool) -> Year {
        let expire = real_now() + 40 * DAY;
        let mut policy_path = PathBuf::new();
        let lab = DnsLab::with_child_keys(true, |lab| {
            lab.now.set(Some(start));
            lab.expire.set(Some(expire));
            policy_path = lab.dir.join("policy.conf");
            // named is not up yet: no port to ask, and nothing to retire.
            std::fs::write(&policy_path, policy(9)).expect("policy");
            let output = manager(lab, &policy_path, start, &["-q"]);
            assert!(output.status.success(), "first run: {output:?}");
        });
        std::fs::write(&policy_path, policy(lab.port())).expect("policy");
        let ds = DnsLab::ds_of(CHILD, &lab.child_ksk(), common::ds::DigestType::Sha256);
        lab.set_parent_ds(std::slice::from_ref(&ds));
        let mut year = Year {
            lab,
            policy: policy_path,
            serial: 1,
            parent_follows,
            cds: Vec::new(),
            cds_since: start,
            parent_ds: vec![ds],
            last_signed: start,
            next_event: None,
            zsk_signers: Vec::new(),
            ksk_signers: BTreeSet::new(),
            ksk_started: 0,
            ksk_done: 0,
            ksk_done_at: Vec::new(),
            ds_history: Vec::new(),
            postponed_ksks: BTreeSet::new(),
            postponed_runs: 0,
            purged: 0,
            steps: 0,
            signings: 0,
        };
        year.record_ds();
        year
    }

    fn keys_dir(&self) -> PathBuf {
        self.lab.keys_dir(CHILD)
    }

    /// key-manager `--json` at `now`: exit 0, or 4 with a postponement.
    fn key_manager(&self, now: i64) -> Run {
        let output = manager(&self.lab, &self.policy, now, &["--json"]);
        let code = output.status.code().unwrap_or(-1);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            code == 0 || code == 4,
            "key-manager at {now}: exit {code}: {}{stdout}",
            String::from_utf8_lossy(&output.stderr)
        );
        let json: serde_json::Value = serde_json::from_str(&stdout).expect("json");
        let zone = &json["zones"][0];
        let actions = zone["actions"]
            .as_array()
            .expect("actions")
            .iter()
            .map(|a| a.as_str().expect("line").to_string())
            .collect();
        let next_event = zone["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .filter_map(|k| k["next_unix"].as_i64())
            .min();
        Run {
            code,
            status: zone["status"].as_str().expect("status").to_string(),
            actions,
            next_event,
        }
    }

    /// The key files of the child.
    fn key_files(&self) -> Vec<KeyFile> {
        let mut keys = Vec::new();
        for entry in std::fs::read_dir(self.keys_dir()).expect("keys dir") {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .to_string();
            let Some(base) = name.strip_suffix(".private") else {
                continue;
            };
            let tag = base.rsplit('+').next().expect("tag").parse().expect("tag");
            let text = std::fs::read_to_string(&path).expect("private");
            let field = |name: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
                    .map(str::to_string)
            };
            let time = |name: &str| {
                field(name).map(|t| common::time::parse_timestamp(&t).expect("a timestamp"))
            };
            keys.push(KeyFile {
                tag,
                delete: time("Delete"),
                label: {
                    let private = common::keyfile::parse_private(&text, &name).expect("private");
                    let label = private.label.expect("a token key");
                    let object = label.uri().get(common::uri::PathAttr::Object);
                    String::from_utf8_lossy(object.expect("an object label")).into_owned()
                },
            });
        }
        keys
    }

    /// No key file is kept past its Delete + purge-keys.
    fn check_purged(&self, now: i64) {
        for key in self.key_files() {
            if let Some(delete) = key.delete {
                assert!(
                    delete + PURGE > now,
                    "key {} is still in the directory at {now}, deleted at {delete}",
                    key.tag
                );
            }
        }
    }

    /// The token holds a public and a private object for each of the
    /// child's key files, and no other object of the child's.
    fn check_token(&self) {
        let listing = self.lab.hsm.pkcs11_tool_objects();
        let mut on_token: Vec<String> = listing
            .lines()
            .filter_map(|l| l.trim().strip_prefix("label:"))
            .map(|l| l.trim().to_string())
            .filter(|l| l.starts_with("child.test-"))
            .collect();
        on_token.sort();
        let mut in_files: Vec<String> = Vec::new();
        for key in self.key_files() {
            in_files.push(key.label.clone());
            in_files.push(key.label);
        }
        in_files.sort();
        assert_eq!(on_token, in_files, "the token's objects and the key files");
    }

    /// Signs the child at `now` (a new serial), has named load it and
    /// dnssec-verify judge it; notes the signers and the CDS.
    fn sign(&mut self, now: i64) {
        self.serial += 1;
        std::fs::write(
            self.lab.zone_file(CHILD),
            format!(
                "$TTL 300\n\
                 child.test. IN SOA ns.child.test. hostmaster.child.test. {} 300 300 86400 300\n\
                 child.test. IN NS ns.child.test.\n\
                 ns.child.test. IN A 127.0.0.1\n\
                 www.child.test. IN A 192.0.2.80\n",
                self.serial
            ),
        )
        .expect("child zone");
        self.lab.now.set(Some(now));
        self.lab.sign(CHILD);
        self.lab.reload_child();
        self.signings += 1;
        self.last_signed = now;
        let signed = self.lab.signed_file(CHILD);
        let verify = Command::new("dnssec-verify")
            .args(["-o", CHILD])
            .arg(&signed)
            .output()
            .expect("dnssec-verify must be installed (scripts/install-deps)");
        assert!(
            verify.status.success(),
            "dnssec-verify at {now}: {}",
            String::from_utf8_lossy(&verify.stderr)
        );
        let text = std::fs::read_to_string(&signed).expect("signed zone");
        let (soa, ksks) = signers(&text);
        assert_eq!(soa.len(), 1, "one ZSK signs at {now}: {soa:?}");
        let zsk = *soa.iter().next().expect("a ZSK");
        if self.zsk_signers.last() != Some(&zsk) {
            assert!(!self.zsk_signers.contains(&zsk), "ZSK {zsk} came back");
            self.zsk_signers.push(zsk);
        }
        assert!(
            !ksks.is_empty() && ksks.len() <= 2,
            "one or two KSKs sign at {now}: {ksks:?}"
        );
        if ksks.len() == 2 && self.ksk_signers.len() == 1 {
            self.ksk_started += 1;
        }
        if ksks.len() == 1 && self.ksk_signers.len() == 2 {
            self.ksk_done += 1;
            self.ksk_done_at.push(now);
        }
        self.ksk_signers = ksks;
        let mut cds: Vec<String> = self
            .lab
            .cds_of(CHILD)
            .iter()
            .map(|c| c.to_uppercase())
            .collect();
        cds.sort();
        if cds != self.cds {
            self.cds = cds;
            self.cds_since = now;
        }
    }

    fn record_ds(&mut self) {
        let tags: BTreeSet<u16> = self
            .parent_ds
            .iter()
            .map(|ds| {
                ds.split_whitespace()
                    .next()
                    .expect("tag")
                    .parse()
                    .expect("tag")
            })
            .collect();
        if self.ds_history.last() != Some(&tags) {
            self.ds_history.push(tags);
        }
    }

    /// One step of the clock at `now`.
    fn step(&mut self, now: i64) {
        self.steps += 1;
        let run = self.key_manager(now);
        let postponed: Vec<&String> = run
            .actions
            .iter()
            .filter(|a| a.contains(": postponed the retirement of KSK "))
            .collect();
        assert_eq!(run.code == 4, !postponed.is_empty(), "{:?}", run.actions);
        assert_eq!(run.status == "postponed", run.code == 4);
        if run.code == 4 {
            self.postponed_runs += 1;
            for line in postponed {
                let tag = line
                    .split(": postponed the retirement of KSK ")
                    .nth(1)
                    .and_then(|rest| rest.split(' ').next())
                    .and_then(|tag| tag.parse().ok())
                    .expect("a tag");
                self.postponed_ksks.insert(tag);
            }
        }
        self.purged += run
            .actions
            .iter()
            .filter(|a| a.contains(": purged "))
            .count();
        self.check_purged(now);
        if !run.actions.is_empty() {
            self.check_token();
        }
        let due = !run.actions.is_empty()
            || self.next_event.is_some_and(|t| t <= now)
            || now - self.last_signed >= RESIGN_EVERY;
        if due {
            self.sign(now);
        }
        self.next_event = run.next_event;
        // No CDS means no change (RFC 7344 §4.1), as in a parent's scan.
        if self.parent_follows
            && !self.cds.is_empty()
            && self.cds != self.parent_ds
            && now - self.cds_since >= PARENT_DELAY
        {
            self.lab.now.set(Some(now));
            self.lab.set_parent_ds(&self.cds);
            self.parent_ds = self.cds.clone();
            self.record_ds();
        }
        let (validated, text) = self.lab.delv(NAME, "A");
        assert!(
            validated,
            "step at {now} (day {}): {text}\n{}\n{:?}",
            self.steps as i64 * STEP / DAY,
            std::fs::read_to_string(self.lab.signed_file(CHILD)).unwrap_or_default(),
            self.parent_ds
        );
    }
}

/// key-manager for the lab's child at `now`.
fn manager(lab: &DnsLab, policy: &Path, now: i64, extra: &[&str]) -> Output {
    lab.hsm
        .tool("key-manager")
        .env("P11DNSSEC_NOW", now.to_string())
        .args(["-c", policy.to_str().expect("path")])
        .args(["-K", lab.keys_dir(CHILD).to_str().expect("path")])
        .args(["--pin-file", lab.pin_file().to_str().expect("path")])
        .args(extra)
        .output()
        .expect("run key-manager")
}

/// The tags of the ZSKs signing the apex SOA and of the KSKs signing the
/// DNSKEY RRset, in a signed zone written with `-O full`.
fn signers(text: &str) -> (BTreeSet<u16>, BTreeSet<u16>) {
    let mut ksks = BTreeSet::new();
    let mut sigs = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with(';')) {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() < 5 || w[0] != CHILD {
            continue;
        }
        if w[3] == "DNSKEY" {
            let key = common::dnskey::DnsKey::parse_rdata(&w[4..]).expect("DNSKEY");
            if key.is_ksk() {
                ksks.insert(key.key_tag());
            }
        }
        if w[3] == "RRSIG" && w.len() > 10 {
            sigs.push((w[4].to_string(), w[10].parse::<u16>().expect("tag")));
        }
    }
    let soa = sigs
        .iter()
        .filter(|(t, _)| t == "SOA")
        .map(|(_, tag)| *tag)
        .collect();
    let dnskey = sigs
        .iter()
        .filter(|(t, tag)| t == "DNSKEY" && ksks.contains(tag))
        .map(|(_, tag)| *tag)
        .collect();
    (soa, dnskey)
}

/// The lab's named as `rndc` is run by the scripts.
fn rndc_command(lab: &DnsLab) -> String {
    format!("rndc {}", lab.rndc_args().join(" "))
}

/// scripts/zsk-rollover (or ksk-rollover) for the child at `now`.
fn rollover_script(year: &Year, script: &str, now: i64, policy: &Path) -> Output {
    let lab = &year.lab;
    let bin = crate::hsm::tool_path("key-manager");
    lab.hsm
        .command(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("scripts")
                .join(script),
        )
        .env("P11DNSSEC_NOW", now.to_string())
        .args(["-c", policy.to_str().expect("path")])
        .args(["-K", lab.keys_dir(CHILD).to_str().expect("path")])
        .args(["--pin-file", lab.pin_file().to_str().expect("path")])
        .arg("--bin")
        .arg(bin.parent().expect("bin dir"))
        .args(["--rndc", &rndc_command(lab)])
        .args(["-e", &common::time::format_timestamp(real_now() + 40 * DAY)])
        .args(["-f", lab.signed_file(CHILD).to_str().expect("path")])
        .args([CHILD, lab.zone_file(CHILD).to_str().expect("path")])
        .output()
        .expect("run the rollover script")
}

#[test]
fn a_year_of_rollovers_validates_at_every_step() {
    let started = Instant::now();
    let start = real_now() - 380 * DAY;
    let mut year = Year::new(start, true);
    let mut now = start;
    while now <= start + 365 * DAY {
        year.step(now);
        now += STEP;
    }
    eprintln!(
        "a year in {:.0?}: {} steps, {} signings, ZSKs {:?}, KSK rollovers {} begun {} done, DS {:?}, {} purged, {} runs postponed",
        started.elapsed(),
        year.steps,
        year.signings,
        year.zsk_signers,
        year.ksk_started,
        year.ksk_done,
        year.ds_history,
        year.purged,
        year.postponed_runs
    );
    // ZSKs: active 30 days each from the start, never postponed: the
    // 13th takes over on day 360, twelve rollovers.
    assert_eq!(year.zsk_signers.len(), 13, "{:?}", year.zsk_signers);
    // KSKs: the successor signs from 15 days before its predecessor's
    // Inactive, every 90 days from day 90, each retirement waiting for the
    // parent (the new CDS visible a day, then the next run sees the DS:
    // about 2.4 days). Retired near days 92, 185, 277 (and 370): three
    // rollovers done, the fourth begun (its KSK published near day 352).
    assert_eq!(year.ksk_started, 4, "KSK rollovers begun");
    assert_eq!(year.ksk_done, 3, "KSK rollovers done");
    for pair in year.ksk_done_at.windows(2) {
        let interval = pair[1] - pair[0];
        assert!(
            (90 * DAY..=94 * DAY).contains(&interval),
            "KSK rollovers {} days apart: {:?}",
            interval as f64 / DAY as f64,
            year.ksk_done_at
        );
    }
    // Each retirement was postponed until the parent had the new DS; the
    // parent's DS moved old → both → new four times (the CDS names the new
    // KSK alone once the parent shows its DS, before the old one retires).
    assert_eq!(year.postponed_ksks.len(), 4, "{:?}", year.postponed_ksks);
    assert_eq!(year.ds_history.len(), 1 + 4 * 2, "{:?}", year.ds_history);
    // Purged: the eleven ZSKs retired by day 353 (Delete 5 days after
    // Inactive, purge-keys 7 days later) and the three retired KSKs, each
    // at its Delete + purge-keys (check_purged): the successor's own
    // RollPeriod: holds the chain's start.
    assert_eq!(year.purged, 11 + 3);
    year.check_token();
}

#[test]
fn without_the_new_ds_at_the_parent_the_old_ksk_stays_and_the_scripts_pass_it_on() {
    let start = real_now() - 200 * DAY;
    let mut year = Year::new(start, false);
    let first = year.lab.child_ksk().key_tag();
    let mut now = start;
    // Past the first KSK's planned retirement (90 days) by three weeks.
    while now <= start + 111 * DAY {
        year.step(now);
        now += STEP;
    }
    // From a day before the old KSK's CDS was to go, every run postponed.
    let first_due = (75 * DAY + 2 * HOUR + 5 * 60 - DAY) / STEP + 1;
    assert_eq!(year.postponed_runs as i64, year.steps as i64 - first_due);
    assert_eq!(year.postponed_ksks, BTreeSet::from([first]));
    assert_eq!(year.ksk_started, 1);
    assert_eq!(year.ksk_done, 0);
    assert!(year.ksk_signers.contains(&first), "{:?}", year.ksk_signers);
    assert_eq!(year.ds_history.len(), 1);
    let old = year
        .key_files()
        .into_iter()
        .find(|k| k.tag == first)
        .expect("the old KSK's files");
    assert_eq!(old.delete.map(|d| d > now), Some(true));
    // ksk-rollover: postponed again (exit 4, one line), and the zone is
    // still signed and reloaded.
    year.serial += 1;
    let zone = std::fs::read_to_string(year.lab.zone_file(CHILD)).expect("zone");
    let zone = zone.replace(
        &format!(" {} 300 300", year.serial - 1),
        &format!(" {} 300 300", year.serial),
    );
    std::fs::write(year.lab.zone_file(CHILD), zone).expect("zone");
    let output = rollover_script(&year, "ksk-rollover", now, &year.policy);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(4), "{output:?}");
    assert!(
        stdout.contains(&format!("postponed the retirement of KSK {first}")),
        "{stdout}"
    );
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let serial = format!(" {} ", year.serial);
    let served = Instant::now();
    while !year.lab.dig(CHILD, "SOA").contains(&serial) {
        assert!(
            served.elapsed().as_secs() < 10,
            "named did not load the signed zone"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let (validated, text) = year.lab.delv(NAME, "A");
    assert!(validated, "{text}");
    // zsk-rollover: ZSKs only, nothing postponed: exit 0, nothing printed.
    let output = rollover_script(&year, "zsk-rollover", now + STEP, &year.policy);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(
        output.stdout.is_empty() && output.stderr.is_empty(),
        "{output:?}"
    );
    // A broken policy: key-manager's error and status, the zone untouched.
    let signed = std::fs::read(year.lab.signed_file(CHILD)).expect("signed");
    let broken = year.lab.dir.join("broken.conf");
    std::fs::write(&broken, "zone child.test { roll-period zsk; };\n").expect("policy");
    let output = rollover_script(&year, "zsk-rollover", now + STEP, &broken);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("broken.conf:1: "), "{stderr}");
    assert_eq!(
        std::fs::read(year.lab.signed_file(CHILD)).expect("signed"),
        signed
    );
}
