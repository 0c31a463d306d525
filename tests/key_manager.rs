//! key-manager against a real SoftHSM2 token: policy errors, the first
//! run's keys and their RFC 7583 times, idempotence, dry runs, months of
//! ZSK rollovers with zone-sign -S and both validators, the coverage check
//! and a KSK retirement postponed while the parent shows no DS, or shows
//! it unsigned without `parent-unsigned yes;`.
//!
//! Time runs through `P11DNSSEC_NOW`. The simulated months lie in the
//! past, so every signature (expiring after the real now, `-e`) is valid
//! when dnssec-verify and ldns-verify-zone judge it at the real time.

use crate::hsm::{data_dir, real_now, stamp, Hsm, PIN};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Output;

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;

struct Lab {
    hsm: Hsm,
    keys: PathBuf,
    policy: PathBuf,
    pin_file: PathBuf,
    zone: PathBuf,
}

impl Lab {
    fn new(policy: &str) -> Lab {
        let hsm = Hsm::new();
        let pin_file = hsm.private_file("pin", PIN.as_bytes());
        let keys = hsm.dir().join("keys");
        std::fs::create_dir(&keys).expect("keys dir");
        let policy_path = hsm.dir().join("policy.conf");
        std::fs::write(&policy_path, policy).expect("policy");
        let zone = hsm.dir().join("example.com.zone");
        std::fs::copy(data_dir().join("zones/example.com.zone"), &zone).expect("copy zone");
        Lab {
            hsm,
            keys,
            policy: policy_path,
            pin_file,
            zone,
        }
    }

    /// key-manager at `now` with these extra arguments.
    fn manager(&self, now: i64, extra: &[&str]) -> Output {
        self.hsm
            .tool("key-manager")
            .env("P11DNSSEC_NOW", now.to_string())
            .args(["-c", self.policy.to_str().expect("path")])
            .args(["-K", self.keys.to_str().expect("path")])
            .args(["--pin-file", self.pin_file.to_str().expect("path")])
            .args(extra)
            .output()
            .expect("run key-manager")
    }

    fn manager_ok(&self, now: i64, extra: &[&str]) -> String {
        let output = self.manager(now, extra);
        assert!(
            output.status.success(),
            "key-manager at {now}: {output:?}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("utf8")
    }

    /// zone-sign -S at `now`, signatures valid until after the real now;
    /// both validators must accept the zone. Returns the SOA's signers.
    fn sign_and_verify(&self, now: i64) -> BTreeSet<u16> {
        let signed = self.hsm.dir().join("example.com.signed");
        let expire = stamp(real_now() + 40 * DAY);
        let output = self
            .hsm
            .tool("zone-sign")
            .current_dir(self.hsm.dir())
            .env("P11DNSSEC_NOW", now.to_string())
            .args(["-S", "-K", self.keys.to_str().expect("path")])
            .args(["-o", "example.com", "-O", "full", "-e", &expire])
            .args(["--pin-file", self.pin_file.to_str().expect("path")])
            .args(["-f", signed.to_str().expect("path")])
            .arg(&self.zone)
            .output()
            .expect("zone-sign");
        assert!(
            output.status.success(),
            "zone-sign at {now}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        crate::zone_sign::assert_validates(&signed, "example.com", &[]);
        let text = std::fs::read_to_string(&signed).expect("signed");
        signers(&text, "SOA")
    }

    /// Every file of the key directory: name → (content, mtime).
    fn snapshot(&self) -> BTreeMap<String, (Vec<u8>, std::time::SystemTime)> {
        std::fs::read_dir(&self.keys)
            .expect("keys")
            .map(|e| {
                let e = e.expect("entry");
                let meta = e.metadata().expect("meta");
                (
                    e.file_name().to_string_lossy().into_owned(),
                    (
                        std::fs::read(e.path()).expect("read"),
                        meta.modified().expect("mtime"),
                    ),
                )
            })
            .collect()
    }

    /// How many objects the token holds.
    fn token_objects(&self) -> usize {
        self.hsm
            .pkcs11_tool_objects()
            .lines()
            .filter(|l| l.contains("Object;"))
            .count()
    }

    /// The `.private` timing lines of every key: tag → (flags, tag → value).
    fn key_times(&self) -> BTreeMap<u16, (bool, BTreeMap<String, String>)> {
        let mut keys = BTreeMap::new();
        for entry in std::fs::read_dir(&self.keys).expect("keys") {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            let Some(base) = name.strip_suffix(".private") else {
                continue;
            };
            let tag: u16 = base.rsplit('+').next().expect("tag").parse().expect("tag");
            let key = std::fs::read_to_string(self.keys.join(format!("{base}.key"))).expect("key");
            let ksk = key
                .lines()
                .any(|l| l.contains("DNSKEY\t257") || l.contains("DNSKEY 257"));
            let mut times = BTreeMap::new();
            for line in std::fs::read_to_string(&path).expect("private").lines() {
                if let Some((tag, value)) = line.split_once(": ") {
                    times.insert(tag.to_string(), value.to_string());
                }
            }
            keys.insert(tag, (ksk, times));
        }
        keys
    }
}

/// The tags of the RRSIGs covering `rtype` at the apex.
fn signers(text: &str, rtype: &str) -> BTreeSet<u16> {
    text.lines()
        .filter_map(|line| {
            let w: Vec<&str> = line.split_whitespace().collect();
            (w.len() > 10 && w[0] == "example.com." && w[3] == "RRSIG" && w[4] == rtype)
                .then(|| w[10].parse().expect("tag"))
        })
        .collect()
}

/// Delays chosen so that RFC 7583's intervals, not pre-/post-publish,
/// decide the times: Ipub = Dprp + TTLkey + Sp = 1h + 2d + 1h > 1d,
/// Iret = Dsgn + Dprp + TTLsig + Sr = 1d + 1h + 3d + 2h > 1d.
const RFC_POLICY: &str = "\
zone example.com {
    algorithm ECDSAP256SHA256;
    coverage 40d;
    keyttl 2d;
    roll-period zsk 30d; pre-publish zsk 1d; post-publish zsk 1d;
    max-zone-ttl 3d; zone-propagation-delay 1h; publish-safety 1h;
    retire-safety 2h; signing-delay 1d;
    label \"km-%z-%r-%t\";
};
";

#[test]
fn first_run_makes_keys_with_rfc_7583_times_and_a_second_run_changes_nothing() {
    let lab = Lab::new(RFC_POLICY);
    let t0 = 1_780_000_000;
    let printed = lab.manager_ok(t0, &[]);
    assert_eq!(printed.lines().count(), 3, "{printed}");
    let keys = lab.key_times();
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert_eq!(lab.token_objects(), 6, "three key pairs in the token");
    let (ipub, iret) = (HOUR + 2 * DAY + HOUR, DAY + HOUR + 3 * DAY + 2 * HOUR);
    let zsk1_inactive = t0 + 30 * DAY;
    let mut zsks: Vec<&BTreeMap<String, String>> = keys
        .values()
        .filter(|(ksk, _)| !ksk)
        .map(|(_, t)| t)
        .collect();
    zsks.sort_by_key(|t| t["Activate"].clone());
    let ksk = keys
        .values()
        .find(|(ksk, _)| *ksk)
        .map(|(_, t)| t)
        .expect("KSK");
    let expect = |times: &BTreeMap<String, String>, tag: &str, value: Option<i64>| {
        assert_eq!(
            times.get(tag).cloned(),
            value.map(stamp),
            "{tag}: {times:?}"
        );
    };
    expect(zsks[0], "Publish", Some(t0));
    expect(zsks[0], "Activate", Some(t0));
    expect(zsks[0], "Inactive", Some(zsk1_inactive));
    expect(zsks[0], "Delete", Some(zsk1_inactive + iret));
    expect(zsks[1], "Publish", Some(zsk1_inactive - ipub));
    expect(zsks[1], "Activate", Some(zsk1_inactive));
    expect(zsks[1], "Inactive", None);
    expect(ksk, "Publish", Some(t0));
    expect(ksk, "Activate", Some(t0));
    expect(ksk, "Inactive", None);
    // First KSK: its CDS once the signed zone is in every cache:
    // Dsgn + Dprp + max(TTLkey, TTLsig) + Sp.
    expect(ksk, "SyncPublish", Some(t0 + DAY + HOUR + 3 * DAY + HOUR));
    let key_text = std::fs::read_dir(&lab.keys)
        .expect("keys")
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "key").then(|| std::fs::read_to_string(p).ok())?
        })
        .collect::<String>();
    assert!(
        key_text.contains("example.com. 172800 IN DNSKEY 257 3 13"),
        "{key_text}"
    );
    let private = std::fs::read_dir(&lab.keys)
        .expect("keys")
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "private").then(|| std::fs::read_to_string(p).ok())?
        })
        .collect::<String>();
    assert!(private.contains("Engine: "), "{private}");

    let before = (lab.snapshot(), lab.token_objects());
    let again = lab.manager(t0, &[]);
    assert!(again.status.success(), "{again:?}");
    assert_eq!(String::from_utf8_lossy(&again.stdout), "");
    assert_eq!(String::from_utf8_lossy(&again.stderr), "");
    assert_eq!((lab.snapshot(), lab.token_objects()), before);
    // An hour later still nothing is due.
    let later = lab.manager_ok(t0 + HOUR, &[]);
    assert_eq!(later, "");
    assert_eq!((lab.snapshot(), lab.token_objects()), before);
}

#[test]
fn dry_run_prints_and_changes_nothing() {
    let lab = Lab::new(RFC_POLICY);
    let printed = lab.manager_ok(1_780_000_000, &["-n"]);
    assert_eq!(printed.lines().count(), 3, "{printed}");
    assert!(
        printed
            .lines()
            .all(|l| l.starts_with("example.com: would generate ")),
        "{printed}"
    );
    assert!(printed.contains("label 'km-example.com-zsk-"), "{printed}");
    assert!(lab.snapshot().is_empty());
    assert_eq!(lab.token_objects(), 0);
    // The token is not even opened: a module that cannot load is no error.
    let output = lab.manager(1_780_000_000, &["-n", "-m", "/nonexistent/module.so"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), printed);
    let output = lab.manager(1_780_000_000, &["-m", "/nonexistent/module.so"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(lab.snapshot().is_empty());
    // After a real run, -n at a later time shows the next key it would make.
    lab.manager_ok(1_780_000_000, &["-q"]);
    let before = (lab.snapshot(), lab.token_objects());
    let printed = lab.manager_ok(1_780_000_000 + 21 * DAY, &["-n"]);
    assert!(printed.contains("would generate ZSK"), "{printed}");
    assert!(printed.contains("would set"), "{printed}");
    assert_eq!((lab.snapshot(), lab.token_objects()), before);
}

#[test]
fn bad_policy_files_name_file_and_line_and_change_nothing() {
    for (text, line) in [
        (
            "zone example.com {\n  algorithm ECDSAP256SHA256;\n  coverage 3 fortnights;\n};\n",
            3,
        ),
        ("zone example.com {\n  keyttl 1h\n};\n", 3),
        ("zone example.com {\n  label \"no-time\";\n};\n", 2),
        (
            "\n\nzone example.com { roll-period zsk 1d; pre-publish zsk 2d; };\n",
            3,
        ),
    ] {
        let lab = Lab::new(text);
        let output = lab.manager(1_780_000_000, &[]);
        assert_eq!(output.status.code(), Some(1), "{text}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let expected = format!("key-manager: {}:{line}: ", lab.policy.display());
        assert!(stderr.starts_with(&expected), "{text}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(output.stdout.is_empty());
        assert!(lab.snapshot().is_empty());
        assert_eq!(lab.token_objects(), 0);
    }
}

#[test]
fn four_months_of_zsk_rollovers_validate_and_keep_coverage() {
    let lab = Lab::new(
        "zone example.com {
            algorithm ECDSAP256SHA256;
            coverage 60d;
            keyttl 1h;
            max-zone-ttl 1h;
            roll-period zsk 30d; pre-publish zsk 3d; post-publish zsk 3d;
        };",
    );
    // Four months, ending a day before the real now.
    let t0 = real_now() - 121 * DAY;
    let mut signers_seen = Vec::new();
    let mut t = t0;
    let mut last = t0;
    while t < t0 + 120 * DAY {
        lab.manager_ok(t, &["-q"]);
        let check = lab.manager(t, &["--check"]);
        assert!(
            check.status.success(),
            "coverage at {t}: {}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        let soa = lab.sign_and_verify(t);
        assert_eq!(soa.len(), 1, "one ZSK signs at a time: {soa:?}");
        for tag in soa {
            if signers_seen.last() != Some(&tag) {
                signers_seen.push(tag);
            }
        }
        last = t;
        t += 3 * DAY + 5 * HOUR;
    }
    // Active 0–30, 30–60, 60–90, 90–120 days: three rollovers.
    assert_eq!(signers_seen.len(), 4, "{signers_seen:?}");
    // Key k (active from 30k days) exists once key k-1's Inactive fell
    // within the coverage (60 days) of some run.
    let zsks = lab.key_times().values().filter(|(ksk, _)| !ksk).count() as i64;
    let expected = 1
        + (1..)
            .take_while(|k| t0 + k * 30 * DAY < last + 60 * DAY)
            .count() as i64;
    assert_eq!(zsks, expected);
}

#[test]
fn an_inactive_set_early_by_hand_is_a_coverage_gap() {
    let lab = Lab::new(RFC_POLICY);
    let t0 = 1_780_000_000;
    lab.manager_ok(t0, &["-q"]);
    let clean = lab.manager(t0, &["--check"]);
    assert!(clean.status.success(), "{clean:?}");
    assert!(clean.stdout.is_empty());
    // dnssec-coverage's letters: the policy's TTLs and re-signing delay.
    let coverage = |lab: &Lab| {
        lab.hsm
            .tool("key-coverage")
            .env("P11DNSSEC_NOW", t0.to_string())
            .args(["-K", lab.keys.to_str().expect("path")])
            .args([
                "-m",
                "3d",
                "-d",
                "2d",
                "-r",
                "1d",
                "-l",
                "40d",
                "example.com",
            ])
            .output()
            .expect("key-coverage")
    };
    let clean = coverage(&lab);
    assert!(clean.status.success(), "{clean:?}");
    assert!(
        clean.stdout.is_empty() && clean.stderr.is_empty(),
        "{clean:?}"
    );
    let keys = lab.key_times();
    let (tag, _) = keys
        .iter()
        .filter(|(_, (ksk, _))| !ksk)
        .min_by_key(|(_, (_, t))| t["Activate"].clone())
        .expect("first ZSK");
    let base = format!("Kexample.com.+013+{tag:05}");
    let early = stamp(t0 + 20 * DAY);
    let settime = lab
        .hsm
        .tool("key-settime")
        .args(["-K", lab.keys.to_str().expect("path"), "-I", &early, &base])
        .output()
        .expect("key-settime");
    assert!(settime.status.success(), "{settime:?}");
    let output = lab.manager(t0, &["--check"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout,
        format!(
            "example.com/ECDSAP256SHA256: no ZSK is both active and published from {early} UTC\n"
        )
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("1 gap in the key coverage"));
    let broken = coverage(&lab);
    assert_eq!(broken.status.code(), Some(1), "{broken:?}");
    assert_eq!(String::from_utf8_lossy(&broken.stdout), stdout);
}

#[test]
fn ksk_retirement_is_postponed_while_the_parent_shows_no_ds() {
    let lab = Lab::new(
        "zone example.com {
            algorithm ECDSAP256SHA256;
            coverage 90d;
            keyttl 1h;
            roll-period ksk 60d; pre-publish ksk 20d; post-publish ksk 7d;
            parent-servers 127.0.0.1 port 9;
        };",
    );
    let t0 = real_now() - 70 * DAY;
    lab.manager_ok(t0, &["-q"]);
    let ksks = |lab: &Lab| -> Vec<(u16, BTreeMap<String, String>)> {
        let mut ksks: Vec<_> = lab
            .key_times()
            .into_iter()
            .filter(|(_, (ksk, _))| *ksk)
            .map(|(tag, (_, t))| (tag, t))
            .collect();
        ksks.sort_by_key(|(_, t)| t["Activate"].clone());
        ksks
    };
    let first = ksks(&lab);
    assert_eq!(first.len(), 2, "{first:?}");
    let (old, new) = (first[0].0, first[1].0);
    assert_eq!(first[0].1["Inactive"], stamp(t0 + 60 * DAY));
    assert_eq!(first[1].1["Activate"], stamp(t0 + 40 * DAY));
    // Nothing is due two weeks before the retirement.
    assert!(lab.manager(t0 + 26 * DAY, &[]).status.success());
    // Twice a day from before the old KSK's CDS would go until past its
    // planned Inactive: every run postpones, exit 4.
    let mut t = t0 + 39 * DAY + 12 * HOUR;
    let mut postponed = 0;
    while t < t0 + 62 * DAY {
        let output = lab.manager(t, &[]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(4), "{t}: {output:?}");
        assert!(
            stdout.contains(&format!(
                "postponed the retirement of KSK {old} until {} UTC: the parent's DS for KSK {new} is not seen",
                stamp(t + DAY)
            )),
            "{stdout}"
        );
        postponed += 1;
        t += 12 * HOUR;
    }
    assert!(postponed > 40);
    let now = ksks(&lab);
    let old_times = &now[0].1;
    for tag in ["Inactive", "Delete", "SyncDelete"] {
        assert!(old_times[tag] > stamp(t), "{tag}: {old_times:?}");
    }
    // The zone is still signed by the old KSK, and publishes both CDS.
    let signed_by = {
        lab.sign_and_verify(t);
        let text =
            std::fs::read_to_string(lab.hsm.dir().join("example.com.signed")).expect("signed");
        signers(&text, "DNSKEY")
    };
    assert!(
        signed_by.contains(&old) && signed_by.contains(&new),
        "{signed_by:?}"
    );
    // The table says so too.
    let table = lab.manager(t, &["-n", "--status"]);
    assert_eq!(table.status.code(), Some(4));
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.lines()
            .any(|l| l.contains(&format!("{old:05}")) && l.contains(" active ")),
        "{text}"
    );
}

/// An authoritative answer to this query holding one record of the
/// question's name, type `rtype` and `rdata`.
fn answer_with(id: u16, question: &[u8], rtype: u16, rdata: &[u8]) -> Vec<u8> {
    let mut out = id.to_be_bytes().to_vec();
    out.extend_from_slice(&[0x84, 0x00, 0, 1, 0, 1, 0, 0, 0, 0]);
    out.extend_from_slice(question);
    out.extend_from_slice(&[0xC0, 0x0C]);
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&[0, 1, 0, 0, 1, 44]);
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(rdata);
    out
}

#[test]
fn a_parent_that_looks_unsigned_retires_no_ksk_unless_the_policy_says_so() {
    use crate::parent_ds::{nodata_response, question, Responder};
    const POLICY: &str = "zone example.com {
            algorithm ECDSAP256SHA256;
            coverage 90d;
            keyttl 1h;
            roll-period ksk 60d; pre-publish ksk 20d; post-publish ksk 7d;
            parent-servers 127.0.0.1 port PORT; EXTRA
        };";
    let lab = Lab::new(&POLICY.replace("PORT", "9").replace("EXTRA", ""));
    let t0 = real_now() - 70 * DAY;
    lab.manager_ok(t0, &["-q"]);
    let mut ksks: Vec<(u16, String)> = lab
        .key_times()
        .into_iter()
        .filter(|(_, (ksk, _))| *ksk)
        .map(|(tag, (_, t))| (tag, t["Activate"].clone()))
        .collect();
    ksks.sort_by_key(|(_, activate)| activate.clone());
    let (old, new) = (ksks[0].0, ksks[1].0);
    let file = std::fs::read_dir(&lab.keys)
        .expect("keys")
        .map(|e| e.expect("entry").path())
        .find(|p| {
            p.extension().is_some_and(|e| e == "key")
                && p.to_string_lossy().ends_with(&format!("+{new:05}.key"))
        })
        .expect("the new KSK's file");
    let key = common::keyfile::read_key_file(&file, &common::keyfile::KeyFileTrust::new(false))
        .expect("key file")
        .dnskey;
    let zone = common::name::Name::parse("example.com.", None).expect("name");
    let mut ds = key.key_tag().to_be_bytes().to_vec();
    ds.extend_from_slice(&[13, 2]);
    ds.extend_from_slice(&common::ds::DigestType::Sha256.digest(&zone, &key));
    // A parent (forged, or really unsigned) that has the DS and no
    // DNSKEY RRset: AA answers for DS and the SOA of com., NODATA else.
    let parent = Responder::new(move |query, _| {
        let (id, wire, rtype) = question(query);
        vec![match rtype {
            43 => answer_with(id, &wire, 43, &ds),
            6 => answer_with(
                id,
                &wire,
                6,
                &[
                    0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1,
                ],
            ),
            _ => nodata_response(id, &wire),
        }]
    });
    let port = parent.address.port().to_string();
    let t = t0 + 39 * DAY + 12 * HOUR;
    std::fs::write(
        &lab.policy,
        POLICY.replace("PORT", &port).replace("EXTRA", ""),
    )
    .expect("policy");
    let output = lab.manager(t, &["-n"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(4), "{output:?}");
    assert!(
        stdout.contains(&format!(
            "postponed the retirement of KSK {old} until {} UTC: the parent's DS for KSK {new} is not seen: the parent's DS answer is not signed",
            stamp(t + DAY)
        )),
        "{stdout}"
    );
    std::fs::write(
        &lab.policy,
        POLICY
            .replace("PORT", &port)
            .replace("EXTRA", "parent-unsigned yes;"),
    )
    .expect("policy");
    let output = lab.manager(t, &["-n"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("postponed"));
}

#[test]
fn json_lists_every_key_with_its_next_event() {
    let lab = Lab::new(RFC_POLICY);
    let t0 = 1_780_000_000;
    lab.manager_ok(t0, &["-q"]);
    // A key that is not the policy's: listed, never touched.
    lab.hsm.run_ok(
        "pkcs11-keygen",
        &["-a", "ECDSAP256SHA256", "-l", "hand-made"],
    );
    lab.hsm.run_ok(
        "dnskey-from-label",
        &[
            "-l",
            "hand-made",
            "-K",
            lab.keys.to_str().expect("path"),
            "example.com",
        ],
    );
    let text = lab.manager_ok(t0, &["--json"]);
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(json["now"], t0);
    let zone = &json["zones"][0];
    assert_eq!(zone["zone"], "example.com");
    assert_eq!(zone["status"], "ok");
    let keys = zone["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 4, "{text}");
    let managed: Vec<_> = keys.iter().filter(|k| k["managed"] == true).collect();
    assert_eq!(managed.len(), 3);
    let zsk = managed
        .iter()
        .find(|k| k["role"] == "ZSK" && k["state"] == "active")
        .expect("active ZSK");
    assert_eq!(zsk["next_event"], "Inactive");
    assert_eq!(zsk["next_unix"], t0 + 30 * DAY);
    assert_eq!(zsk["next_time"], stamp(t0 + 30 * DAY));
    assert_eq!(zsk["algorithm"], "ECDSAP256SHA256");
    let hand = keys
        .iter()
        .find(|k| k["managed"] == false)
        .expect("hand-made");
    assert_eq!(hand["label"], "hand-made");
    let plain = lab.manager_ok(t0, &["--status"]);
    assert!(plain.starts_with("ZONE "), "{plain}");
    assert_eq!(plain.lines().count(), 5, "{plain}");
    // A run that does act (a new ZSK, the old one's Inactive) leaves the
    // key that is not the policy's as it was.
    let hand_file = hand["file"].as_str().expect("file").to_string();
    let hand_files = |lab: &Lab| {
        lab.snapshot()
            .into_iter()
            .filter(|(name, _)| name.starts_with(&hand_file))
            .collect::<Vec<_>>()
    };
    let before = hand_files(&lab);
    assert_eq!(before.len(), 2);
    let acted = lab.manager_ok(t0 + 21 * DAY, &[]);
    assert!(
        acted.contains("generated ZSK") && acted.contains(": set "),
        "{acted}"
    );
    assert_eq!(hand_files(&lab), before);
}

#[test]
fn a_run_while_another_holds_the_key_directory_changes_nothing() {
    let lab = Lab::new(RFC_POLICY);
    let dir = std::fs::File::open(&lab.keys).expect("open keys dir");
    rustix::fs::flock(&dir, rustix::fs::FlockOperation::LockExclusive).expect("flock");
    let output = lab.manager(1_780_000_000, &[]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("in use by another key-manager run"),
        "{output:?}"
    );
    assert!(lab.snapshot().is_empty());
    assert_eq!(lab.token_objects(), 0);
    drop(dir);
    assert!(lab.manager(1_780_000_000, &[]).status.success());
}

#[test]
fn a_run_that_fails_halfway_says_what_it_made_and_the_next_run_completes() {
    let lab = Lab::new(RFC_POLICY);
    let t0 = 1_780_000_000;
    // The first ZSK's label is taken on the token by a key of no files.
    let taken = format!("km-example.com-zsk-{}", stamp(t0));
    lab.hsm
        .run_ok("pkcs11-keygen", &["-a", "ECDSAP256SHA256", "-l", &taken]);
    let output = lab.manager(t0, &[]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stdout.starts_with("example.com: generated KSK "),
        "{stdout}"
    );
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stderr.contains(&format!("cannot make key '{taken}'")),
        "{stderr}"
    );
    assert_eq!(lab.key_times().len(), 1, "only the KSK's files");
    // The operator removes the stray key; the next run makes the rest.
    let removed = lab
        .hsm
        .tool("pkcs11-destroy")
        .args(["-l", &taken, "-w", "0", "-p", PIN])
        .output()
        .expect("pkcs11-destroy");
    assert!(removed.status.success(), "{removed:?}");
    let printed = lab.manager_ok(t0, &[]);
    assert_eq!(printed.lines().count(), 2, "{printed}");
    assert!(
        printed.lines().all(|l| l.contains("generated ZSK")),
        "{printed}"
    );
    let keys = lab.key_times();
    assert_eq!(keys.values().filter(|(ksk, _)| *ksk).count(), 1);
    assert_eq!(keys.values().filter(|(ksk, _)| !ksk).count(), 2);
    assert_eq!(lab.token_objects(), 6);
}

#[test]
fn purge_keys_removes_a_deleted_key_from_the_token_and_the_directory() {
    let lab = Lab::new(
        "zone example.com {
            algorithm ECDSAP256SHA256;
            coverage 20d;
            roll-period zsk 10d; pre-publish zsk 1d; post-publish zsk 1d;
            purge-keys 2d;
        };",
    );
    let t0 = 1_780_000_000;
    lab.manager_ok(t0, &["-q"]);
    let first = lab
        .key_times()
        .into_iter()
        .filter(|(_, (ksk, _))| !ksk)
        .min_by_key(|(_, (_, t))| t["Activate"].clone())
        .map(|(tag, (_, t))| (tag, t))
        .expect("first ZSK");
    // Delete = Inactive + Iret (Dsgn 1d + Dprp 5mi + TTLsig 1d + Sr 1h).
    let delete = t0 + 10 * DAY + 2 * DAY + 300 + HOUR;
    assert_eq!(first.1["Delete"], stamp(delete));
    let base = format!("Kexample.com.+013+{:05}", first.0);
    // Not before Delete + purge-keys.
    lab.manager_ok(delete + 2 * DAY - 1, &["-q"]);
    assert!(lab.keys.join(format!("{base}.key")).exists());
    let objects = lab.token_objects();
    let dry = lab.manager_ok(delete + 2 * DAY, &["-n"]);
    assert!(
        dry.contains(&format!("would purge {base} (ZSK {})", first.0)),
        "{dry}"
    );
    assert!(lab.keys.join(format!("{base}.key")).exists());
    assert_eq!(lab.token_objects(), objects);
    let printed = lab.manager_ok(delete + 2 * DAY, &[]);
    assert!(
        printed.contains(&format!("purged {base} (ZSK {})", first.0)),
        "{printed}"
    );
    assert!(!lab.keys.join(format!("{base}.key")).exists());
    assert!(!lab.keys.join(format!("{base}.private")).exists());
    assert_eq!(lab.token_objects(), objects - 2);
    assert_eq!(lab.manager_ok(delete + 2 * DAY, &[]), "");
    let check = lab.manager(delete + 2 * DAY, &["--check"]);
    assert!(check.status.success(), "{check:?}");
}

#[test]
fn keys_are_made_in_the_policys_token_and_keys_of_another_token_are_not_its() {
    let hsm = Hsm::with_tokens(&["test", "other"]);
    let pin_file = hsm.private_file("pin", PIN.as_bytes());
    let keys = hsm.dir().join("keys");
    std::fs::create_dir(&keys).expect("keys");
    let policy = hsm.dir().join("policy.conf");
    std::fs::write(
        &policy,
        "zone example.com { algorithm ECDSAP256SHA256; token-uri \"pkcs11:token=other\"; };",
    )
    .expect("policy");
    let t0 = 1_780_000_000;
    // A key in token "test" whose label the pattern would make.
    let stray = format!("example.com-zsk-{}", stamp(t0 - DAY));
    hsm.run_ok(
        "pkcs11-keygen",
        &["-a", "ECDSAP256SHA256", "--token", "test", "-l", &stray],
    );
    hsm.run_ok(
        "dnskey-from-label",
        &[
            "--token",
            "test",
            "-l",
            &stray,
            "-K",
            keys.to_str().expect("path"),
            "example.com",
        ],
    );
    let run = |extra: &[&str]| {
        hsm.tool("key-manager")
            .env("P11DNSSEC_NOW", t0.to_string())
            .args([
                "-c",
                policy.to_str().expect("path"),
                "-K",
                keys.to_str().expect("path"),
            ])
            .args(["--pin-file", pin_file.to_str().expect("path")])
            .args(extra)
            .output()
            .expect("key-manager")
    };
    let output = run(&[]);
    assert!(output.status.success(), "{output:?}");
    let count = |token: &str| {
        hsm.pkcs11_tool(&[
            "--token-label",
            token,
            "--login",
            "--pin",
            PIN,
            "--list-objects",
        ])
        .lines()
        .filter(|l| l.contains("Object;"))
        .count()
    };
    assert_eq!(count("other"), 4, "a KSK and a ZSK in the policy's token");
    assert_eq!(count("test"), 2, "only the stray key");
    let json = run(&["-n", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    let listed = json["zones"][0]["keys"].as_array().expect("keys").clone();
    assert_eq!(listed.len(), 3);
    let stray_key = listed
        .iter()
        .find(|k| k["label"] == stray.as_str())
        .expect("stray listed");
    assert_eq!(stray_key["managed"], false);
    assert_eq!(listed.iter().filter(|k| k["managed"] == true).count(), 2);
}
