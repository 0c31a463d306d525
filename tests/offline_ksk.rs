//! Offline KSK: the KSK in its own token (the ceremony), the ZSKs in
//! another (the signer), `ksr-request` → `ksr-sign` → `zone-sign --skr`
//! through a ZSK rollover inside a 90-day period, played with
//! `P11DNSSEC_NOW`. The period lies mostly in the past and the signatures
//! are long, so every output is valid at the real time, when
//! `dnssec-verify`, `ldns-verify-zone` and `delv` (through `named`, from
//! the KSK's DS) judge it. Then the refusals: what breaks the policy, a
//! tampered response, a time no bundle covers, a KSK nobody trusts.

use crate::hsm::{Hsm, PIN};
use crate::zone_sign::assert_validates;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const DAY: i64 = 86400;

/// `YYYYMMDDHHMMSS` (UTC).
fn stamp(t: i64) -> String {
    date(t, "+%Y%m%d%H%M%S")
}

fn date(t: i64, format: &str) -> String {
    let output = Command::new("date")
        .env("TZ", "UTC")
        .args(["-u", "-d", &format!("@{t}"), format])
        .output()
        .expect("date");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn ok(output: &Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what}: {:?}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn refused(output: &Output, what: &str, why: &str) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{what}: {stderr}");
    assert!(stderr.contains(why), "{what}: wanted '{why}' in: {stderr}");
    stderr
}

/// Two tokens, their key directories, the zone and the period.
struct Ceremony {
    hsm: Hsm,
    pin: PathBuf,
    ksk_dir: PathBuf,
    zsk_dir: PathBuf,
    zone: PathBuf,
    /// The period: [start, start + 90 days].
    start: i64,
    ksk_key: PathBuf,
    ksk_tag: u16,
    zsk_tags: [u16; 2],
}

impl Ceremony {
    /// KSK on token "ceremony" (published, active and in its sync window
    /// from before the period); ZSK 1 signs from before the period to day
    /// 40 and is deleted on day 50; ZSK 2 is published on day 30 and signs
    /// from day 40 (key-settime sets ZSK 1's retirement, as an operator would).
    fn new() -> Ceremony {
        let hsm = Hsm::with_tokens(&["ceremony", "signer"]);
        let pin = hsm.private_file("pin", PIN.as_bytes());
        let ksk_dir = hsm.dir().join("ksk");
        let zsk_dir = hsm.dir().join("zsk");
        for dir in [&ksk_dir, &zsk_dir] {
            std::fs::create_dir(dir).expect("key dir");
        }
        let zone = hsm.dir().join("example.com.zone");
        std::fs::copy(crate::hsm::data_dir().join("zones/example.com.zone"), &zone).expect("zone");
        let real = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i64;
        let start = (real - 80 * DAY) / 3600 * 3600;
        let mut ceremony = Ceremony {
            hsm,
            pin,
            ksk_dir,
            zsk_dir,
            zone,
            start,
            ksk_key: PathBuf::new(),
            ksk_tag: 0,
            zsk_tags: [0, 0],
        };
        let before = stamp(start - DAY);
        let ksk = ceremony.key(
            "ceremony",
            "ksk",
            true,
            &["-P", &before, "-A", &before, "-P", "sync", &before],
        );
        let zsk1 = ceremony.key("signer", "zsk1", false, &["-P", &before, "-A", &before]);
        let zsk2 = ceremony.key(
            "signer",
            "zsk2",
            false,
            &[
                "-P",
                &stamp(start + 30 * DAY),
                "-A",
                &stamp(start + 40 * DAY),
            ],
        );
        let settime = ceremony
            .hsm
            .tool("key-settime")
            .args(["-K", ceremony.zsk_dir.to_str().expect("path")])
            .args([
                "-I",
                &stamp(start + 40 * DAY),
                "-D",
                &stamp(start + 50 * DAY),
            ])
            .arg(format!("Kexample.com.+013+{zsk1:05}"))
            .output()
            .expect("key-settime");
        ok(&settime, "key-settime");
        ceremony.ksk_key = ceremony
            .ksk_dir
            .join(format!("Kexample.com.+013+{ksk:05}.key"));
        ceremony.ksk_tag = ksk;
        ceremony.zsk_tags = [zsk1, zsk2];
        ceremony
    }

    fn end(&self) -> i64 {
        self.start + 90 * DAY
    }

    /// A key in `token` and its key files; its tag.
    fn key(&self, token: &str, label: &str, ksk: bool, timing: &[&str]) -> u16 {
        let keygen = self
            .tool("pkcs11-keygen", self.start)
            .args(["--token", token, "-a", "ECDSAP256SHA256", "-l", label])
            .output()
            .expect("keygen");
        ok(&keygen, "pkcs11-keygen");
        let dir = if ksk { &self.ksk_dir } else { &self.zsk_dir };
        let mut command = self.tool("dnskey-from-label", self.start);
        command
            .args(["--token", token, "-l", label, "-L", "3600", "-K"])
            .arg(dir)
            .args(timing);
        if ksk {
            command.args(["-f", "KSK"]);
        }
        let base = ok(
            &command.arg("example.com").output().expect("run"),
            "keyfile",
        );
        base.trim()
            .rsplit('+')
            .next()
            .and_then(|t| t.parse().ok())
            .expect("tag")
    }

    /// One of our tools at time `now`, with the PIN file where it talks
    /// to a token, local time UTC (the headers' ctime).
    fn tool(&self, name: &str, now: i64) -> assert_cmd::Command {
        let mut command = self.hsm.tool(name);
        command
            .current_dir(self.hsm.dir())
            .env("P11DNSSEC_NOW", now.to_string())
            .env("TZ", "UTC");
        if !matches!(name, "ksr-request" | "key-settime") {
            command.args(["--pin-file", self.pin.to_str().expect("path")]);
        }
        command
    }

    fn path(&self, name: &str) -> PathBuf {
        self.hsm.dir().join(name)
    }

    /// ksr-request for the period, at its start; the request's path.
    fn request(&self) -> PathBuf {
        let output = self
            .tool("ksr-request", self.start)
            .args(["-K", self.zsk_dir.to_str().expect("path")])
            .args(["-i", &stamp(self.start), "-e", &stamp(self.end())])
            .args(["-f", "request.ksr", "example.com"])
            .output()
            .expect("ksr-request");
        ok(&output, "ksr-request");
        self.path("request.ksr")
    }

    /// ksr-sign in the ceremony token: 100-day signatures refreshed every
    /// 10 days, so all of them are still valid at the real time.
    fn sign_request(&self, request: &Path, out: &str, extra: &[&str]) -> Output {
        self.tool("ksr-sign", self.start)
            .args([
                "--token",
                "ceremony",
                "-K",
                self.ksk_dir.to_str().expect("path"),
            ])
            .arg("-f")
            .arg(request)
            .args(["-e", &stamp(self.end()), "-w", out])
            .args(["--validity", "100d", "--refresh", "90d"])
            .args(extra)
            .arg("example.com")
            .output()
            .expect("ksr-sign")
    }

    /// zone-sign --skr in the signer token at `day` of the period.
    fn sign_zone(&self, skr: &Path, day: i64, out: &str, extra: &[&str]) -> Output {
        self.tool("zone-sign", self.start + day * DAY)
            .args([
                "--token",
                "signer",
                "-S",
                "-K",
                self.zsk_dir.to_str().expect("path"),
            ])
            .args([
                "-o",
                "example.com",
                "-O",
                "full",
                "-n",
                "1",
                "-e",
                "+100d",
                "-f",
                out,
            ])
            .arg("--skr")
            .arg(skr)
            .arg("--skr-ksk")
            .arg(&self.ksk_key)
            .args(extra)
            .arg(&self.zone)
            .output()
            .expect("zone-sign")
    }

    /// The tags of the apex DNSKEY RRset, of the keys signing it and the
    /// SOA, and whether there is a CDS.
    fn apex(&self, signed: &Path) -> (Vec<u16>, Vec<u16>, Vec<u16>, bool) {
        let text = std::fs::read_to_string(signed).expect("signed zone");
        let mut keys = Vec::new();
        let mut signers = Vec::new();
        let mut soa_signers = Vec::new();
        let mut cds = false;
        for line in text.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.first() != Some(&"example.com.") {
                continue;
            }
            match (words.get(3), words.get(4)) {
                (Some(&"DNSKEY"), _) => {
                    let file = self.hsm.dir().join("one.key");
                    std::fs::write(&file, format!("{line}\n")).expect("key");
                    let ds =
                        crate::hsm::run_plain("ds-from-key", &[file.to_str().expect("p")], None);
                    let text = String::from_utf8_lossy(&ds.stdout).into_owned();
                    keys.push(
                        text.split_whitespace()
                            .nth(3)
                            .and_then(|t| t.parse().ok())
                            .unwrap_or(0),
                    );
                }
                (Some(&"RRSIG"), Some(&"DNSKEY")) => {
                    signers.push(words[10].parse().expect("tag"));
                }
                (Some(&"RRSIG"), Some(&"SOA")) => {
                    soa_signers.push(words[10].parse().expect("tag"));
                }
                (Some(&"CDS"), _) => cds = true,
                _ => {}
            }
        }
        keys.sort();
        signers.sort();
        (keys, signers, soa_signers, cds)
    }
}

fn sorted(mut tags: Vec<u16>) -> Vec<u16> {
    tags.sort();
    tags
}

#[test]
fn offline_ksk_cycle_through_a_zsk_rollover_validates_at_every_step() {
    let c = Ceremony::new();
    let request = c.request();
    let text = std::fs::read_to_string(&request).expect("ksr");
    let headers: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with(";; KeySigningRequest 1.0 2"))
        .collect();
    // Bundles at the start, ZSK 2's Publish (day 30) and ZSK 1's Delete (day 50).
    assert_eq!(headers.len(), 3, "{text}");
    for (header, day) in headers.iter().zip([0, 30, 50]) {
        assert!(header.contains(&stamp(c.start + day * DAY)), "{header}");
    }
    let skr = c.path("response.skr");
    ok(&c.sign_request(&request, "response.skr", &[]), "ksr-sign");
    let response = std::fs::read_to_string(&skr).expect("skr");
    // Every 10 days inside each slot: 0 10 20 | 30 40 | 50 60 70 80 (the
    // last one's signatures outlast the period's end).
    assert_eq!(
        response.matches(";; SignedKeyResponse 1.0 2").count(),
        9,
        "{response}"
    );
    let [zsk1, zsk2] = c.zsk_tags;
    let ksk = c.ksk_tag;
    for (day, published, zsk) in [
        (1, vec![ksk, zsk1], zsk1),
        (35, vec![ksk, zsk1, zsk2], zsk1),
        (45, vec![ksk, zsk1, zsk2], zsk2),
        (60, vec![ksk, zsk2], zsk2),
    ] {
        let out = format!("day{day}.signed");
        ok(
            &c.sign_zone(&skr, day, &out, &[]),
            &format!("zone-sign day {day}"),
        );
        let signed = c.path(&out);
        assert_validates(&signed, "example.com", &[]);
        let (keys, dnskey_signers, soa_signers, cds) = c.apex(&signed);
        assert_eq!(
            keys,
            sorted(published),
            "day {day}: the bundle's DNSKEY RRset"
        );
        // The key RRsets carry the SKR's KSK signatures only (as named
        // with offline-ksk); the active ZSK signs the rest.
        assert_eq!(dnskey_signers, [ksk], "day {day}");
        assert_eq!(soa_signers, [zsk], "day {day}");
        assert!(cds, "day {day}: the KSK's CDS from the bundle");
    }
    // Once through named, from the KSK's DS alone.
    let ds = crate::hsm::run_plain("ds-from-key", &[c.ksk_key.to_str().expect("p")], None);
    let ds: Vec<String> = String::from_utf8_lossy(&ds.stdout)
        .lines()
        .map(|l| l.split_whitespace().skip(3).collect::<Vec<_>>().join(" "))
        .collect();
    let answer = crate::dns_lab::delv_example_com(c.hsm.dir(), &c.path("day60.signed"), &ds);
    assert!(
        answer.contains("; fully validated") && answer.contains("192.0.2.3"),
        "{answer}"
    );
}

#[test]
fn ksr_sign_refuses_requests_that_break_the_policy_and_writes_nothing() {
    let c = Ceremony::new();
    let request = c.request();
    let text = std::fs::read_to_string(&request).expect("ksr");
    let headers: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with(";; KeySigningRequest 1.0 2"))
        .map(str::to_string)
        .collect();
    let write = |name: &str, content: &str| {
        let path = c.path(name);
        std::fs::write(&path, content).expect("write");
        path
    };
    // Slots out of order: the second header's time before the first's.
    let first_time = headers[0]
        .split_whitespace()
        .nth(3)
        .expect("time")
        .to_string();
    let second_time = headers[1]
        .split_whitespace()
        .nth(3)
        .expect("time")
        .to_string();
    let swapped = text.replacen(&second_time, &stamp(c.start - DAY), 1);
    let overlapping = text.replacen(&second_time, &first_time, 1);
    let zsk1_line = text.lines().nth(1).expect("first bundle's ZSK").to_string();
    // A ZSK that leaves and comes back: ZSK 1 moved from the second
    // bundle to the third.
    let second = text
        .match_indices(&zsk1_line)
        .nth(1)
        .map(|(at, _)| at)
        .expect("ZSK 1 in the second bundle");
    let mut returning = text.clone();
    returning.replace_range(second..second + zsk1_line.len() + 1, "");
    let returning = returning.replacen(&headers[2], &format!("{}\n{zsk1_line}", headers[2]), 1);
    // A KSK in a request.
    let ksk_in_request = text.replacen("\t256 3 13 ", "\t257 3 13 ", 1);
    for (request, extra, why) in [
        (
            request.clone(),
            &["--algorithms", "ED25519,RSASHA256"][..],
            "which the policy does not allow",
        ),
        (
            request.clone(),
            &["--max-slot", "20d"],
            "a gap longer than the policy's slot",
        ),
        (
            write("swapped.ksr", &swapped),
            &[],
            "slots overlap or are out of order",
        ),
        (
            write("overlap.ksr", &overlapping),
            &[],
            "slots overlap or are out of order",
        ),
        (
            write("returning.ksr", &returning),
            &[],
            "one contiguous run of bundles",
        ),
        (
            write("ksk.ksr", &ksk_in_request),
            &[],
            "a request holds ZSKs only",
        ),
    ] {
        let output = c.sign_request(&request, "refused.skr", extra);
        let stderr = refused(&output, &format!("{extra:?} {}", request.display()), why);
        assert!(
            stderr.contains("bundle 2"),
            "the refusal names the bundle: {stderr}"
        );
        assert!(!c.path("refused.skr").exists(), "nothing written: {stderr}");
    }
}

#[test]
fn zone_sign_refuses_a_tampered_or_untrusted_skr_and_times_no_bundle_covers() {
    let c = Ceremony::new();
    let request = c.request();
    ok(&c.sign_request(&request, "response.skr", &[]), "ksr-sign");
    let skr = c.path("response.skr");
    let text = std::fs::read_to_string(&skr).expect("skr");
    // One character of the first bundle's DNSKEY signature changed.
    let line = text
        .lines()
        .find(|l| l.contains("\tRRSIG\tDNSKEY "))
        .expect("an RRSIG");
    let at = line.len() - 10;
    let flipped = if &line[at..=at] == "A" { "B" } else { "A" };
    let tampered_line = format!("{}{flipped}{}", &line[..at], &line[at + 1..]);
    let tampered = c.path("tampered.skr");
    std::fs::write(&tampered, text.replacen(line, &tampered_line, 1)).expect("write");
    let output = c.sign_zone(&tampered, 1, "tampered.signed", &[]);
    refused(&output, "tampered", "does not verify");
    assert!(!c.path("tampered.signed").exists());
    // Before the first bundle and after the last one runs out.
    for day in [-10, 200] {
        let output = c.sign_zone(&skr, day, "outside.signed", &[]);
        refused(&output, &format!("day {day}"), "no bundle of the SKR");
        assert!(!c.path("outside.signed").exists());
    }
    // A KSK the parent's DS does not name.
    c.key("ceremony", "other-ksk", true, &[]);
    let other = std::fs::read_dir(&c.ksk_dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "key") && *p != c.ksk_key)
        .expect("other key");
    let output = c
        .tool("zone-sign", c.start + DAY)
        .args([
            "--token",
            "signer",
            "-S",
            "-K",
            c.zsk_dir.to_str().expect("path"),
        ])
        .args(["-o", "example.com", "-f", "untrusted.signed", "--skr"])
        .arg(&skr)
        .arg("--skr-ksk")
        .arg(&other)
        .arg(&c.zone)
        .output()
        .expect("zone-sign");
    refused(&output, "untrusted", "is not one of the trusted KSKs");
    assert!(!c.path("untrusted.signed").exists());
    // Near the end: one warning line, and the zone is signed.
    let output = c.sign_zone(&skr, 85, "late.signed", &["--skr-warn", "120d"]);
    ok(&output, "late");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.matches("hold the next KSK ceremony").count(),
        1,
        "{stderr}"
    );
    // A -e shorter than the SKR's validity bounds the ZSK signatures only:
    // the KSK's come from the ceremony as they are.
    let output = c
        .tool("zone-sign", c.start + DAY)
        .args([
            "--token",
            "signer",
            "-S",
            "-K",
            c.zsk_dir.to_str().expect("path"),
        ])
        .args([
            "-o",
            "example.com",
            "-O",
            "full",
            "-e",
            "+20d",
            "-f",
            "short.signed",
            "--skr",
        ])
        .arg(&skr)
        .arg("--skr-ksk")
        .arg(&c.ksk_key)
        .arg(&c.zone)
        .output()
        .expect("zone-sign");
    ok(&output, "short -e");
    let short = std::fs::read_to_string(c.path("short.signed")).expect("signed");
    assert!(
        short.lines().any(|l| l.contains(" RRSIG DNSKEY ")
            && l.contains(&format!(" {} example.com. ", c.ksk_tag))
            && l.contains(&stamp(c.start + 100 * DAY))),
        "{short}"
    );
    // The ZSKs on hand must be the bundle's: without ZSK 2's files on day 35.
    let [_, zsk2] = c.zsk_tags;
    for ext in ["key", "private"] {
        std::fs::remove_file(c.zsk_dir.join(format!("Kexample.com.+013+{zsk2:05}.{ext}")))
            .expect("remove");
    }
    let output = c.sign_zone(&skr, 35, "mismatch.signed", &[]);
    refused(&output, "mismatch", &format!("publishes ZSK {zsk2}"));
    assert!(!c.path("mismatch.signed").exists());
}

#[test]
fn ksr_request_writes_binds_layout_byte_for_byte() {
    let c = Ceremony::new();
    let request = c.request();
    let text = std::fs::read_to_string(&request).expect("ksr");
    // The expected text, built from §6.3's rules and the key files alone.
    let key_b64 = |tag: u16| -> String {
        let key =
            std::fs::read_to_string(c.zsk_dir.join(format!("Kexample.com.+013+{tag:05}.key")))
                .expect("key file");
        let line = key.lines().find(|l| !l.starts_with(';')).expect("record");
        line.split_whitespace().skip(7).collect::<String>()
    };
    let chunks = |b64: String| -> String {
        b64.as_bytes()
            .chunks(56)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let line = |tag: u16| {
        format!(
            "example.com.\t\t3600\tIN\tDNSKEY\t256 3 13 {}\n",
            chunks(key_b64(tag))
        )
    };
    let header = |t: i64| {
        format!(
            ";; KeySigningRequest 1.0 {} ({})\n",
            stamp(t),
            date(t, "+%a %b %e %H:%M:%S %Y")
        )
    };
    let [zsk1, zsk2] = c.zsk_tags;
    let (low, high) = (zsk1.min(zsk2), zsk1.max(zsk2));
    let expected = [
        header(c.start),
        line(zsk1),
        header(c.start + 30 * DAY),
        line(low),
        line(high),
        header(c.start + 50 * DAY),
        line(zsk2),
        format!(
            ";; KeySigningRequest 1.0 generated at {} by p11dnssec {}\n",
            date(c.start, "+%a %b %e %H:%M:%S %Y"),
            env!("CARGO_PKG_VERSION")
        ),
    ]
    .concat();
    assert_eq!(text, expected);
    // stdout is the same text.
    let output = c
        .tool("ksr-request", c.start)
        .args(["-K", c.zsk_dir.to_str().expect("path")])
        .args(["-i", &stamp(c.start), "-e", &stamp(c.end()), "example.com"])
        .output()
        .expect("ksr-request");
    assert_eq!(ok(&output, "stdout"), expected);
}

/// A Knot DNS `keymgr` side (3.2, Debian's `knot`): its own KASP database
/// and an offline-KSK policy.
fn knot_side(c: &Ceremony, name: &str) -> PathBuf {
    let dir = c.path(name);
    std::fs::create_dir(&dir).expect("knot dir");
    let conf = dir.join("knot.conf");
    std::fs::write(
        &conf,
        format!(
            "database:\n  kasp-db: {d}/db\ntemplate:\n  - id: default\n    storage: {d}\n\
             policy:\n  - id: offline\n    manual: on\n    offline-ksk: on\n    algorithm: ecdsap256sha256\n\
             \x20   zsk-lifetime: 30d\n    dnskey-ttl: 3600\n    zone-max-ttl: 3600\n    rrsig-lifetime: 14d\n    rrsig-refresh: 7d\n\
             zone:\n  - domain: example.com\n    dnssec-policy: offline\n",
            d = dir.display()
        ),
    )
    .expect("knot.conf");
    conf
}

fn keymgr(conf: &Path, args: &[&str]) -> Output {
    Command::new("keymgr")
        .arg("-c")
        .arg(conf)
        .arg("example.com")
        .args(args)
        .output()
        .expect("keymgr must be installed (scripts/test installs knot)")
}

#[test]
fn knot_keymgr_signs_our_request_and_validates_our_response() {
    let c = Ceremony::new();
    let real = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    // Knot's ceremony signs our request (Unix header times, which Knot
    // 3.2 needs) and our signer publishes its response: ZSK 2 is the one
    // ZSK from now on, Knot's KSK made just before the request's start.
    let ksk_side = knot_side(&c, "knot-ksk");
    ok(
        &keymgr(&ksk_side, &["generate", "ksk=yes", "zsk=no"]),
        "keymgr generate",
    );
    let dnskey = ok(&keymgr(&ksk_side, &["dnskey"]), "keymgr dnskey");
    std::fs::write(c.path("knot-ksk.key"), &dnskey).expect("ksk key");
    let output = c
        .tool("ksr-request", real + 60)
        .args(["-K", c.zsk_dir.to_str().expect("path")])
        .args([
            "-i",
            "now",
            "-e",
            "+30d",
            "--unix-time",
            "-f",
            "unix.ksr",
            "example.com",
        ])
        .output()
        .expect("ksr-request");
    ok(&output, "ksr-request --unix-time");
    let request = std::fs::read_to_string(c.path("unix.ksr")).expect("ksr");
    assert!(
        request.starts_with(&format!(";; KeySigningRequest 1.0 {} (", real + 60)),
        "{request}"
    );
    let knot_skr = ok(
        &keymgr(
            &ksk_side,
            &["sign-ksr", c.path("unix.ksr").to_str().expect("p")],
        ),
        "keymgr sign-ksr",
    );
    std::fs::write(c.path("knot.skr"), &knot_skr).expect("skr");
    let output = c
        .tool("zone-sign", real + 120)
        .args([
            "--token",
            "signer",
            "-S",
            "-K",
            c.zsk_dir.to_str().expect("path"),
        ])
        .args([
            "-o",
            "example.com",
            "-f",
            "knot.signed",
            "--skr",
            "knot.skr",
        ])
        .args(["--skr-ksk", "knot-ksk.key"])
        .arg(&c.zone)
        .output()
        .expect("zone-sign");
    ok(&output, "zone-sign --skr with Knot's response");
    assert_validates(&c.path("knot.signed"), "example.com", &[]);

    // Our ceremony signs Knot's request; Knot validates our response.
    let zsk_side = knot_side(&c, "knot-zsk");
    ok(
        &keymgr(&zsk_side, &["pregenerate", "+60d"]),
        "keymgr pregenerate",
    );
    let knot_ksr = ok(
        &keymgr(&zsk_side, &["generate-ksr", "+0", "+60d"]),
        "generate-ksr",
    );
    std::fs::write(c.path("knot.ksr"), &knot_ksr).expect("ksr");
    let output = c
        .tool("ksr-sign", real)
        .args([
            "--token",
            "ceremony",
            "-K",
            c.ksk_dir.to_str().expect("path"),
        ])
        .args([
            "-f",
            "knot.ksr",
            "-e",
            "+61d",
            "--unix-time",
            "-w",
            "ours.skr",
            "example.com",
        ])
        .output()
        .expect("ksr-sign");
    ok(&output, "ksr-sign of Knot's request");
    let validate = |file: &str| {
        let output = keymgr(
            &zsk_side,
            &["validate-skr", c.path(file).to_str().expect("p")],
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr)
    };
    let verdict = validate("ours.skr");
    assert!(
        verdict.contains("OK") && !verdict.contains("error"),
        "{verdict}"
    );
    // Knot is a judge here: a changed signature is an error to it (its
    // exit status stays 0, bind-lifecycle.md §7).
    let ours = std::fs::read_to_string(c.path("ours.skr")).expect("skr");
    let line = ours
        .lines()
        .find(|l| l.contains("\tRRSIG\tDNSKEY "))
        .expect("an RRSIG");
    let at = line.len() - 10;
    let flipped = if &line[at..=at] == "A" { "B" } else { "A" };
    let tampered = format!("{}{flipped}{}", &line[..at], &line[at + 1..]);
    std::fs::write(c.path("bad.skr"), ours.replacen(line, &tampered, 1)).expect("write");
    assert!(validate("bad.skr").contains("invalid SignedKeyResponse"));
    ok(
        &keymgr(
            &zsk_side,
            &["import-skr", c.path("ours.skr").to_str().expect("p")],
        ),
        "keymgr import-skr",
    );
}
