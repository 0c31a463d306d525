//! Keys through their life with `zone-sign -S`: rollovers played out in
//! time with `P11DNSSEC_NOW` (no sleeping), CDS/CDNSKEY, revoked and
//! publish-only keys, and the key-role checks. The steps lie in the past
//! (up to 30 days before the real clock), so every signature is valid at
//! the real time, when `dnssec-verify` and `ldns-verify-zone` judge it.

use crate::hsm::{data_dir, real_now, stamp, Hsm, PIN};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const DAY: i64 = 86400;

/// A token, a key directory and the fixture zone.
struct Lab {
    hsm: Hsm,
    keys: PathBuf,
    pin_file: PathBuf,
    zone: PathBuf,
    /// The real time, which the steps count back from.
    now: i64,
}

impl Lab {
    fn new() -> Lab {
        let hsm = Hsm::new();
        let pin_file = hsm.private_file("pin", PIN.as_bytes());
        let keys = hsm.dir().join("keys");
        std::fs::create_dir(&keys).expect("keys dir");
        let zone = hsm.dir().join("example.com.zone");
        std::fs::copy(data_dir().join("zones/example.com.zone"), &zone).expect("copy zone");
        Lab {
            hsm,
            keys,
            pin_file,
            zone,
            now: real_now(),
        }
    }

    /// The time `days` before the real now.
    fn ago(&self, days: i64) -> i64 {
        self.now - days * DAY
    }

    /// A new ECDSA key in the token and its key files with these timing
    /// options (`("-P", days ago)`, `("-P sync", …)`); its key tag.
    fn key(&self, label: &str, ksk: bool, timing: &[(&str, i64)]) -> u16 {
        self.hsm
            .run_ok("pkcs11-keygen", &["-a", "ECDSAP256SHA256", "-l", label]);
        let mut args: Vec<String> = ["-l", label, "-L", "300", "-K"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.push(self.keys.display().to_string());
        if ksk {
            args.extend(["-f".into(), "KSK".into()]);
        }
        for (option, days) in timing {
            let mut words = option.split(' ');
            args.push(words.next().expect("option").to_string());
            args.extend(words.map(str::to_string));
            args.push(stamp(self.ago(*days)));
        }
        args.push("example.com".into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let base = self.hsm.run_ok("dnskey-from-label", &args);
        base.trim()
            .rsplit('+')
            .next()
            .and_then(|t| t.parse().ok())
            .expect("key tag in the base name")
    }

    /// A key of `algorithm` (`bits` for RSA) published and active from
    /// 30 days ago; its key tag.
    fn key_of(&self, label: &str, algorithm: &str, bits: Option<&str>, ksk: bool) -> u16 {
        let mut args = vec!["-a", algorithm, "-l", label];
        if let Some(bits) = bits {
            args.extend(["-b", bits]);
        }
        self.hsm.run_ok("pkcs11-keygen", &args);
        let (publish, activate) = (stamp(self.ago(30)), stamp(self.ago(30)));
        let mut args = vec!["-l", label, "-K", self.keys.to_str().expect("path")];
        args.extend(["-P", &publish, "-A", &activate]);
        if ksk {
            args.extend(["-f", "KSK"]);
        }
        args.push("example.com");
        let base = self.hsm.run_ok("dnskey-from-label", &args);
        base.trim()
            .rsplit('+')
            .next()
            .and_then(|t| t.parse().ok())
            .expect("key tag in the base name")
    }

    /// `zone-sign -S` at `days` ago, of `input` (default: the fixture).
    fn sign_at(&self, days: i64, input: Option<&Path>, extra: &[&str]) -> Output {
        self.hsm
            .tool("zone-sign")
            .current_dir(self.hsm.dir())
            .env("P11DNSSEC_NOW", self.ago(days).to_string())
            .args(["-S", "-K", self.keys.to_str().expect("path")])
            .args(["-o", "example.com", "-O", "full", "-n", "1"])
            .args(["--pin-file", self.pin_file.to_str().expect("path")])
            .args(["-f", self.signed().to_str().expect("path")])
            .args(extra)
            .arg(input.unwrap_or(&self.zone))
            .output()
            .expect("run zone-sign")
    }

    fn signed(&self) -> PathBuf {
        self.hsm.dir().join("example.com.signed")
    }

    /// Signs at `days` ago (re-signing the last output if `again`), has both
    /// validators check the zone, and returns what it holds.
    fn step(&self, days: i64, again: bool, extra: &[&str]) -> Apex {
        let previous = self.hsm.dir().join("previous.signed");
        let input = if again {
            std::fs::copy(self.signed(), &previous).expect("keep the last output");
            Some(previous.as_path())
        } else {
            None
        };
        let output = self.sign_at(days, input, extra);
        assert!(
            output.status.success(),
            "step {days} days ago: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        crate::zone_sign::assert_validates(&self.signed(), "example.com", &[]);
        Apex::read(&self.signed())
    }
}

/// The apex of a signed zone (`-O full`): DNSKEY tags with flags, CDS and
/// CDNSKEY, and which key tags sign which type.
#[derive(Debug)]
struct Apex {
    dnskeys: BTreeSet<(u16, u16)>,
    cds: BTreeSet<u16>,
    cdnskey: BTreeSet<u16>,
    cds_lines: Vec<String>,
    signers: Vec<(String, u16)>,
}

impl Apex {
    fn read(path: &Path) -> Apex {
        let text = std::fs::read_to_string(path).expect("signed zone");
        let mut apex = Apex {
            dnskeys: BTreeSet::new(),
            cds: BTreeSet::new(),
            cdnskey: BTreeSet::new(),
            cds_lines: Vec::new(),
            signers: Vec::new(),
        };
        for line in text.lines().filter(|l| !l.starts_with(';')) {
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.len() < 5 || words[0] != "example.com." {
                continue;
            }
            let rdata = &words[4..];
            let key_tag = || {
                let key = common::dnskey::DnsKey::parse_rdata(rdata).expect("DNSKEY/CDNSKEY rdata");
                (key.flags, key.key_tag())
            };
            match words[3] {
                "DNSKEY" => {
                    apex.dnskeys.insert(key_tag());
                }
                "CDNSKEY" => {
                    apex.cdnskey.insert(key_tag().1);
                }
                "CDS" => {
                    apex.cds.insert(rdata[0].parse().expect("tag"));
                    apex.cds_lines.push(rdata.join(" "));
                }
                "RRSIG" => apex
                    .signers
                    .push((rdata[0].to_string(), rdata[6].parse().expect("tag"))),
                _ => {}
            }
        }
        apex
    }

    fn tags(&self) -> BTreeSet<u16> {
        self.dnskeys.iter().map(|(_, tag)| *tag).collect()
    }

    fn signed_by(&self, rtype: &str) -> BTreeSet<u16> {
        self.signers
            .iter()
            .filter(|(t, _)| t == rtype)
            .map(|(_, tag)| *tag)
            .collect()
    }
}

/// True if `delv` fully validated www.example.com's address.
fn validated(text: &str) -> bool {
    text.contains("; fully validated") && text.contains("192.0.2.3")
}

/// Serves the lab's signed zone with `named` and asks `delv` for
/// www.example.com, trusting the DS records the parent holds (CDS RDATA
/// text, as the parent took them from the zone); what delv says.
fn delv(lab: &Lab, parent_ds: &[String]) -> String {
    crate::dns_lab::delv_example_com(lab.hsm.dir(), &lab.signed(), parent_ds)
}

/// The DS RDATA of the zone's dsset file (the KSK's, as a parent holds it).
fn dsset_ds(lab: &Lab) -> Vec<String> {
    std::fs::read_to_string(lab.hsm.dir().join("dsset-example.com."))
        .expect("dsset")
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let at = words.iter().position(|w| *w == "DS")?;
            Some(words[at + 1..].join(" "))
        })
        .collect()
}

fn set(tags: &[u16]) -> BTreeSet<u16> {
    tags.iter().copied().collect()
}

#[test]
fn zsk_pre_publication_rollover_step_by_step() {
    let lab = Lab::new();
    let ksk = lab.key("ksk", true, &[("-P", 30), ("-A", 30)]);
    let old = lab.key(
        "zsk1",
        false,
        &[("-P", 30), ("-A", 30), ("-I", 10), ("-D", 5)],
    );
    let new = lab.key("zsk2", false, &[("-P", 15), ("-A", 10)]);
    // Before the new ZSK is published.
    let apex = lab.step(20, false, &[]);
    assert_eq!(apex.tags(), set(&[ksk, old]));
    assert_eq!(apex.signed_by("SOA"), set(&[old]));
    assert_eq!(apex.signed_by("DNSKEY"), set(&[ksk, old]));
    // The parent holds the KSK's DS throughout; named serves every step
    // and delv validates through it.
    let parent = dsset_ds(&lab);
    assert_eq!(parent.len(), 1, "{parent:?}");
    let text = delv(&lab, &parent);
    assert!(validated(&text), "{text}");
    // Published, not yet signing (its DNSKEY reaches the caches first).
    let apex = lab.step(12, false, &[]);
    assert_eq!(apex.tags(), set(&[ksk, old, new]));
    assert_eq!(apex.signed_by("SOA"), set(&[old]));
    let text = delv(&lab, &parent);
    assert!(validated(&text), "{text}");
    // The new one signs; the old one stays published, inactive.
    let apex = lab.step(8, true, &[]);
    assert_eq!(apex.tags(), set(&[ksk, old, new]));
    assert_eq!(apex.signed_by("SOA"), set(&[new]));
    assert_eq!(apex.signed_by("DNSKEY"), set(&[ksk, new]));
    let text = delv(&lab, &parent);
    assert!(validated(&text), "{text}");
    // Deleted: re-signing the last output takes its DNSKEY out.
    let output = lab.sign_at(1, Some(&lab.signed()), &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "Removing expired key example.com/{old}/ECDSAP256SHA256 from DNSKEY RRset."
        )),
        "{stdout}"
    );
    crate::zone_sign::assert_validates(&lab.signed(), "example.com", &[]);
    let apex = Apex::read(&lab.signed());
    assert_eq!(apex.tags(), set(&[ksk, new]));
    assert_eq!(apex.signed_by("SOA"), set(&[new]));
    assert!(apex.signed_by("DNSKEY").is_subset(&set(&[ksk, new])));
    let text = delv(&lab, &parent);
    assert!(validated(&text), "{text}");
}

#[test]
fn ksk_double_ds_rollover_with_cds_and_cdnskey() {
    let lab = Lab::new();
    let zsk = lab.key("zsk", false, &[("-P", 30), ("-A", 30)]);
    let old = lab.key(
        "ksk1",
        true,
        &[
            ("-P", 30),
            ("-A", 30),
            ("-P sync", 30),
            ("-D sync", 8),
            ("-I", 10),
            ("-D", 4),
        ],
    );
    let new = lab.key(
        "ksk2",
        true,
        &[("-P", 15), ("-A", 10), ("-P sync", 15), ("-D sync", 3)],
    );
    let apex = lab.step(20, false, &[]);
    assert_eq!(apex.tags(), set(&[zsk, old]));
    assert_eq!(apex.cds, set(&[old]));
    // The parent takes its DS from the CDS it sees.
    let mut parent = apex.cds_lines.clone();
    let text = delv(&lab, &parent);
    assert!(validated(&text), "{parent:?}: {text}");
    assert_eq!(apex.cdnskey, set(&[old]));
    // CDS and CDNSKEY are signed by the KSK only (RFC 7344 §4.1).
    assert_eq!(apex.signed_by("CDS"), set(&[old]));
    assert_eq!(apex.signed_by("CDNSKEY"), set(&[old]));
    assert!(apex
        .cds_lines
        .iter()
        .all(|l| l.split(' ').nth(2) == Some("2")));
    // Both DS at the parent: CDS for both keys.
    let apex = lab.step(12, false, &[]);
    assert_eq!(apex.tags(), set(&[zsk, old, new]));
    assert_eq!(apex.cds, set(&[old, new]));
    assert_eq!(apex.cdnskey, set(&[old, new]));
    assert_eq!(apex.signed_by("DNSKEY"), set(&[zsk, old]));
    assert_eq!(apex.signed_by("CDS"), set(&[old]));
    let text = delv(&lab, &parent);
    assert!(validated(&text), "{parent:?}: {text}");
    parent = apex.cds_lines.clone();
    let text = delv(&lab, &parent);
    assert!(validated(&text), "{parent:?}: {text}");
    // The new KSK signs; the old one's CDS is gone; re-signing the last
    // output drops what it held.
    let apex = lab.step(7, true, &[]);
    assert_eq!(apex.tags(), set(&[zsk, old, new]));
    assert_eq!(apex.cds, set(&[new]));
    assert_eq!(apex.cdnskey, set(&[new]));
    assert_eq!(apex.signed_by("DNSKEY"), set(&[zsk, new]));
    assert_eq!(apex.signed_by("CDS"), set(&[new]));
    // The double DS carries the swap; the old DS alone no longer would.
    let text = delv(&lab, &parent);
    assert!(validated(&text), "{parent:?}: {text}");
    let old_only: Vec<String> = parent
        .iter()
        .filter(|ds| ds.starts_with(&format!("{old} ")))
        .cloned()
        .collect();
    let text = delv(&lab, &old_only);
    assert!(!validated(&text) && !text.contains("timed out"), "{text}");
    parent = apex.cds_lines.clone();
    // The parent has acted: no CDS any more, and the old KSK is gone.
    let apex = lab.step(1, true, &[]);
    assert_eq!(apex.tags(), set(&[zsk, new]));
    assert!(apex.cds.is_empty() && apex.cdnskey.is_empty(), "{apex:?}");
    let text = delv(&lab, &parent);
    assert!(validated(&text), "{parent:?}: {text}");
    // Another digest type on request, and the RFC 8078 delete form.
    let apex = lab.step(12, false, &["--cds-digest", "SHA-384"]);
    assert_eq!(apex.cds, set(&[old, new]));
    assert!(apex
        .cds_lines
        .iter()
        .all(|l| l.split(' ').nth(2) == Some("4")));
    let apex = lab.step(12, false, &["--cds-delete"]);
    assert_eq!(apex.cds_lines, ["0 0 0 00"]);
    assert!(apex
        .cdnskey
        .contains(&common::dnskey::key_tag(&[0, 0, 3, 0, 0])));
}

#[test]
fn a_revoked_ksk_signs_the_dnskey_rrset_until_it_is_deleted() {
    let lab = Lab::new();
    let zsk = lab.key("zsk", false, &[("-P", 30), ("-A", 30)]);
    let old = lab.key(
        "ksk1",
        true,
        &[("-P", 30), ("-A", 30), ("-R", 10), ("-I", 10), ("-D", 3)],
    );
    let new = lab.key("ksk2", true, &[("-P", 30), ("-A", 15)]);
    let apex = lab.step(12, false, &[]);
    assert_eq!(apex.tags(), set(&[zsk, old, new]));
    // Revoked (REVOKE flag, new tag), and signing DNSKEY after its Inactive.
    let apex = lab.step(8, true, &[]);
    let revoked: Vec<(u16, u16)> = apex
        .dnskeys
        .iter()
        .copied()
        .filter(|(flags, _)| *flags == 385)
        .collect();
    assert_eq!(revoked.len(), 1, "{apex:?}");
    let revoked = revoked[0].1;
    assert_ne!(revoked, old);
    assert_eq!(apex.tags(), set(&[zsk, revoked, new]));
    assert_eq!(apex.signed_by("DNSKEY"), set(&[zsk, revoked, new]));
    assert_eq!(apex.signed_by("SOA"), set(&[zsk]));
    let dsset = std::fs::read_to_string(lab.hsm.dir().join("dsset-example.com.")).expect("dsset");
    assert!(
        dsset.contains(&format!(" DS {new} ")) && !dsset.contains(&format!(" DS {revoked} ")),
        "{dsset}"
    );
    // The parent holds the new KSK's DS: the zone validates through it
    // with the revoked key still published.
    let parent = dsset_ds(&lab);
    let text = delv(&lab, &parent);
    assert!(validated(&text), "{parent:?}: {text}");
    // Deleted.
    let apex = lab.step(1, true, &[]);
    assert_eq!(apex.tags(), set(&[zsk, new]));
    let text = delv(&lab, &parent);
    assert!(validated(&text), "{parent:?}: {text}");
}

#[test]
fn publish_only_keys_from_dnssec_importkey_are_published_and_never_sign() {
    let lab = Lab::new();
    let zsk = lab.key("zsk", false, &[("-P", 30), ("-A", 30)]);
    let ksk = lab.key("ksk", true, &[("-P", 30), ("-A", 30)]);
    // Another signer's KSK, imported as BIND does (multi-signer), with
    // its CDS published too.
    let foreign = lab.hsm.dir().join("foreign");
    std::fs::create_dir(&foreign).expect("dir");
    let made = Command::new("dnssec-keygen")
        .current_dir(&foreign)
        .args(["-q", "-a", "ECDSAP256SHA256", "-f", "KSK", "example.com"])
        .output()
        .expect("dnssec-keygen must be installed (bind9-utils)");
    assert!(made.status.success(), "{made:?}");
    let base = String::from_utf8_lossy(&made.stdout).trim().to_string();
    let external: u16 = base
        .rsplit('+')
        .next()
        .and_then(|t| t.parse().ok())
        .expect("tag");
    let imported = Command::new("dnssec-importkey")
        .args(["-K", lab.keys.to_str().expect("path")])
        .args(["-P", &stamp(lab.ago(20)), "-P", "sync", &stamp(lab.ago(20))])
        .arg(foreign.join(format!("{base}.key")))
        .output()
        .expect("dnssec-importkey must be installed (bind9-utils)");
    assert!(imported.status.success(), "{imported:?}");
    let private =
        std::fs::read_to_string(lab.keys.join(format!("{base}.private"))).expect("private");
    assert!(private.contains("External:"), "{private}");
    // A second foreign key with a .key only, published 30 days ago (its
    // comments hold the times), never active here.
    let made = Command::new("dnssec-keygen")
        .current_dir(&foreign)
        .args(["-q", "-a", "ECDSAP256SHA256", "-A", "none"])
        .args(["-P", &stamp(lab.ago(30)), "example.com"])
        .output()
        .expect("dnssec-keygen");
    let base2 = String::from_utf8_lossy(&made.stdout).trim().to_string();
    let key_only: u16 = base2
        .rsplit('+')
        .next()
        .and_then(|t| t.parse().ok())
        .expect("tag");
    std::fs::copy(
        foreign.join(format!("{base2}.key")),
        lab.keys.join(format!("{base2}.key")),
    )
    .expect("copy");
    // Before its Publish time the imported key is not there.
    let apex = lab.step(25, false, &[]);
    assert_eq!(apex.tags(), set(&[zsk, ksk, key_only]));
    let apex = lab.step(10, false, &[]);
    assert_eq!(apex.tags(), set(&[zsk, ksk, external, key_only]));
    assert_eq!(apex.signed_by("DNSKEY"), set(&[zsk, ksk]));
    assert_eq!(apex.signed_by("SOA"), set(&[zsk]));
    assert_eq!(apex.cds, set(&[external]));
    assert_eq!(apex.signed_by("CDS"), set(&[ksk]));
}

/// A directory with one ECDSA key of each given role, signed now.
fn sign_with_roles(roles: &[bool], extra: &[&str]) -> (Lab, Output) {
    let lab = Lab::new();
    for (i, ksk) in roles.iter().enumerate() {
        lab.key(&format!("key{i}"), *ksk, &[("-P", 1), ("-A", 1)]);
    }
    let output = lab.sign_at(0, None, extra);
    (lab, output)
}

#[test]
fn a_zone_dnssec_verify_would_reject_gets_binds_warning_and_fails_with_strict() {
    for (roles, text) in [
        (&[false][..], "No self-signed KSK DNSKEY found"),
        (&[true][..], "Missing ZSK for algorithm ECDSAP256SHA256"),
    ] {
        let (lab, output) = sign_with_roles(roles, &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        assert!(stderr.contains(text), "{stderr}");
        assert!(stderr.contains("dnssec-verify rejects this zone unless given -z"));
        // It is right: BIND rejects it, and accepts it with -z.
        let verify = |z: &[&str]| {
            Command::new("dnssec-verify")
                .args(z)
                .args(["-o", "example.com"])
                .arg(lab.signed())
                .output()
                .expect("dnssec-verify")
                .status
                .success()
        };
        assert!(!verify(&[]) && verify(&["-z"]));
        std::fs::remove_file(lab.signed()).expect("remove");
        let output = lab.sign_at(0, None, &["--strict"]);
        assert_eq!(output.status.code(), Some(1));
        assert!(!lab.signed().exists(), "written with --strict");
        // -z says the KSKs sign everything: BIND's signzone accepts that.
        let output = lab.sign_at(0, None, &["--strict", "-z"]);
        assert!(output.status.success());
        assert!(!String::from_utf8_lossy(&output.stderr).contains(text));
    }
    let (_, output) = sign_with_roles(&[true, false], &["--strict"]);
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}

#[test]
fn several_uri_keys_of_one_algorithm_need_the_ksk_named() {
    let lab = Lab::new();
    for label in ["one", "two"] {
        lab.hsm
            .run_ok("pkcs11-keygen", &["-a", "ECDSAP256SHA256", "-l", label]);
    }
    let sign = |args: &[&str]| {
        lab.hsm
            .tool("zone-sign")
            .current_dir(lab.hsm.dir())
            .args(["-o", "example.com", "-O", "full", "--pin", PIN])
            .args(["-f", lab.signed().to_str().expect("path")])
            .arg(&lab.zone)
            .args(args)
            .output()
            .expect("run zone-sign")
    };
    // Argument order must not decide which key the parent's DS is for.
    let output = sign(&["pkcs11:object=one", "pkcs11:object=two"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("which is the KSK is not known") && stderr.contains("--ksk URI"),
        "{stderr}"
    );
    assert!(!lab.signed().exists());
    let output = sign(&["pkcs11:object=one", "--ksk", "pkcs11:object=two"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    crate::zone_sign::assert_validates(&lab.signed(), "example.com", &[]);
    let apex = Apex::read(&lab.signed());
    let flags: Vec<u16> = apex.dnskeys.iter().map(|(f, _)| *f).collect();
    assert_eq!(flags.iter().filter(|f| **f == 257).count(), 1, "{apex:?}");
    assert_eq!(flags.iter().filter(|f| **f == 256).count(), 1, "{apex:?}");
}

#[test]
fn every_algorithm_the_token_makes_signs_and_both_validators_accept_it() {
    for (algorithm, ksk_bits, zsk_bits) in [
        ("RSASHA256", Some("4096"), Some("1024")),
        ("RSASHA512", Some("2048"), Some("2048")),
        ("ECDSAP256SHA256", None, None),
        ("ECDSAP384SHA384", None, None),
        ("ED25519", None, None),
        ("ED448", None, None),
    ] {
        let lab = Lab::new();
        let ksk = lab.key_of("ksk", algorithm, ksk_bits, true);
        let zsk = lab.key_of("zsk", algorithm, zsk_bits, false);
        for mode in [&[][..], &["-3", "-"]] {
            let apex = lab.step(0, false, mode);
            assert_eq!(apex.tags(), set(&[ksk, zsk]), "{algorithm}");
            assert_eq!(apex.signed_by("DNSKEY"), set(&[ksk, zsk]), "{algorithm}");
            assert_eq!(apex.signed_by("SOA"), set(&[zsk]), "{algorithm}");
        }
    }
}
