//! `zone-sign --low-memory`: the zone sorted on disk and signed in chunks
//! writes the same octets as the in-memory path, for NSEC, NSEC3 and NSEC3
//! opt-out, signing and re-signing, and fails leaving nothing behind.
//! A ~2,000-name zone out of order at record level crosses many chunks and
//! spills many sort runs with the test-only knobs `P11DNSSEC_CHUNK_NODES`
//! and `P11DNSSEC_SORT_BUDGET`.

use crate::hsm::{Hsm, PIN};
use crate::zone_sign::assert_validates;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Output;

struct Signer {
    hsm: Hsm,
    /// A pinned "now" after the keys' activation: runs compare octet for octet.
    now: String,
    pin_file: PathBuf,
    keys: PathBuf,
    zone: PathBuf,
}

/// A zone with what a chunk boundary can cut through: delegations with
/// and without DS and with glue below them (the glue's records come after
/// the cut's NS and before its DS, as in scripts/bench's TLD zone),
/// empty non-terminals, a wildcard, a DNAME with names below it, case
/// variants of one name, and records of one RRset spread over the file.
fn zone_text(names: usize) -> String {
    let mut text = String::from(
        "$TTL 3600\n$ORIGIN example.com.\n@ SOA ns1 hostmaster 2026120101 7200 3600 1209600 300\n@ NS ns1\n@ NS ns2\nns1 A 192.0.2.1\nns2 A 192.0.2.2\n",
    );
    for i in 0..names {
        let name = format!("n{i:05}");
        match i % 7 {
            0..=2 => {
                writeln!(text, "{name} NS ns1.{name}\n{name} NS ns.example.net.").ok();
                writeln!(text, "ns1.{name} A 198.51.100.{}", i % 256).ok();
                if i % 3 == 0 {
                    writeln!(text, "{name} DS {} 13 2 {:064X}", i % 65536, i * 7919).ok();
                }
            }
            3 => {
                writeln!(text, "www.deep.{name} A 192.0.2.{}", i % 256).ok();
                writeln!(text, "mail.deep.{name} MX 10 www.deep.{name}").ok();
            }
            4 => {
                writeln!(text, "*.{name} TXT \"wild {i}\"").ok();
                writeln!(text, "{}.example.com. A 192.0.2.9", name.to_uppercase()).ok();
            }
            5 => {
                writeln!(text, "{name} DNAME example.net.").ok();
                writeln!(text, "below.{name} A 192.0.2.10").ok();
            }
            _ => {
                writeln!(text, "{name} AAAA 2001:db8::{:x}", i).ok();
                writeln!(text, "{name} TXT \"t {i}\"").ok();
            }
        }
    }
    // A record of an early RRset at the end of the file (same TTL).
    text.push_str("n00006 AAAA 2001:db8::ffff\n");
    text
}

fn setup(algorithm: &str) -> Signer {
    let hsm = Hsm::new();
    let pin_file = hsm.private_file("pin", PIN.as_bytes());
    let keys = hsm.dir().join("keys");
    std::fs::create_dir(&keys).expect("keys dir");
    hsm.ksk_and_zsk_key_files(algorithm, &keys);
    let zone = hsm.dir().join("example.com.zone");
    std::fs::write(&zone, zone_text(2000)).expect("zone");
    Signer {
        hsm,
        now: (crate::hsm::real_now() + 3600).to_string(),
        pin_file,
        keys,
        zone,
    }
}

impl Signer {
    fn path(&self, name: &str) -> PathBuf {
        self.hsm.dir().join(name)
    }

    /// zone-sign -P with fixed times; `--low-memory` with tiny chunks and
    /// sort runs when `low` is set.
    fn run(&self, input: &Path, output: &Path, low: bool, extra: &[&str]) -> Output {
        let mut command = self.hsm.tool("zone-sign");
        command
            .current_dir(self.hsm.dir())
            .env("P11DNSSEC_NOW", &self.now)
            .env("P11DNSSEC_CHUNK_NODES", "97")
            .env("P11DNSSEC_SORT_BUDGET", "40000")
            .args(["-S", "-K", self.keys.to_str().expect("path")])
            .args(["-o", "example.com", "-P", "-t", "-v", "2"])
            .args(["-s", "20261201000000", "-e", "20280101000000"])
            .args(["--pin-file", self.pin_file.to_str().expect("path")])
            .args(["-f", output.to_str().expect("path")])
            .args(extra);
        if low {
            command.arg("--low-memory");
        }
        command.arg(input).output().expect("run zone-sign")
    }

    fn sign(&self, input: &Path, output: &Path, low: bool, extra: &[&str]) -> String {
        let result = self.run(input, output, low, extra);
        assert!(
            result.status.success(),
            "{}",
            String::from_utf8_lossy(&result.stderr)
        );
        format!(
            "{}{}",
            String::from_utf8_lossy(&result.stdout),
            String::from_utf8_lossy(&result.stderr)
        )
    }
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read")
}

/// Signs in both paths and expects the same octets (zone and record).
fn same_output(algorithm: &str, extra: &[&str]) {
    let signer = setup(algorithm);
    let memory = signer.path("memory.signed");
    let low = signer.path("low.signed");
    signer.sign(&signer.zone, &memory, false, extra);
    let log = signer.sign(&signer.zone, &low, true, extra);
    let runs: usize = log
        .lines()
        .find_map(|l| l.split("merging ").nth(1))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(runs >= 3, "the sort spilled {runs} runs:\n{log}");
    let memory_text = read(&memory);
    assert!(
        memory_text.len() > 300_000,
        "a zone of many chunks: {} octets",
        memory_text.len()
    );
    assert!(
        memory_text == read(&low),
        "--low-memory wrote other octets than the in-memory path"
    );
    assert_eq!(
        read(&signer.path("memory.signed.p11v")),
        read(&signer.path("low.signed.p11v"))
    );
    assert_validates(&low, "example.com", &[]);
}

#[test]
fn nsec_output_is_the_in_memory_output() {
    same_output("ED25519", &[]);
}

#[test]
fn nsec3_opt_out_output_is_the_in_memory_output() {
    same_output("RSASHA256", &["-3", "-", "-A"]);
}

#[test]
fn nsec3_output_is_the_in_memory_output() {
    same_output("ED25519", &["-3", "AABBCCDD", "-H", "2"]);
}

/// A signed input (with its verified-signature record) re-signed in
/// chunks keeps every signature, verifies none again, and writes what the
/// in-memory re-sign writes; for NSEC3 its NSEC3 signatures are kept too.
#[test]
fn resign_in_chunks_is_the_in_memory_resign() {
    let signer = setup("ED25519");
    for extra in [&[][..], &["-3", "-"][..]] {
        let first = signer.path("first.signed");
        signer.sign(&signer.zone, &first, true, extra);
        let memory = signer.path("again-memory.signed");
        let low = signer.path("again-low.signed");
        signer.sign(&first, &memory, false, extra);
        let log = signer.sign(&first, &low, true, extra);
        let count = |label: &str| -> u64 {
            log.lines()
                .find(|l| l.starts_with(label))
                .and_then(|l| l.split_whitespace().last())
                .and_then(|n| n.parse().ok())
                .unwrap_or(u64::MAX)
        };
        assert_eq!(count("Signatures generated:"), 0, "{log}");
        assert_eq!(count("Signatures dropped:"), 0, "{log}");
        assert!(count("Signatures vouched by the record:") > 4000, "{log}");
        assert!(read(&memory) == read(&low), "re-signed outputs differ");
        assert_validates(&low, "example.com", &[]);
    }
}

/// A bad record late in the file: exit 1 naming its line, the previous
/// output and record untouched, no sort runs or temp files left.
#[test]
fn failure_late_in_the_input_leaves_the_previous_output() {
    let signer = setup("ED25519");
    let output = signer.path("out.signed");
    signer.sign(&signer.zone, &output, true, &[]);
    let before = read(&output);
    let record_before = read(&signer.path("out.signed.p11v"));
    let listing = || {
        let mut names: Vec<String> = std::fs::read_dir(signer.hsm.dir())
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let files_before = listing();
    let mut text = zone_text(2000);
    let lines = text.lines().count();
    text.push_str("late A 192.0.2.300\n");
    let bad = signer.path("bad.zone");
    std::fs::write(&bad, text).expect("zone");
    let result = signer.run(&bad, &output, true, &[]);
    assert_eq!(result.status.code(), Some(1), "{result:?}");
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        stderr.contains(&format!("bad.zone:{}:", lines + 1)),
        "{stderr}"
    );
    assert!(read(&output) == before, "the previous output changed");
    assert_eq!(read(&signer.path("out.signed.p11v")), record_before);
    let mut files_after = listing();
    files_after.retain(|name| name != "bad.zone");
    assert_eq!(files_after, files_before, "files left behind");
    // A DS without NS found only when the chunk is assembled.
    let mut text = zone_text(2000);
    text.push_str("n01999x DS 1 13 2 AABB\n");
    std::fs::write(&bad, text).expect("zone");
    let result = signer.run(&bad, &output, true, &[]);
    assert_eq!(result.status.code(), Some(1), "{result:?}");
    assert!(
        String::from_utf8_lossy(&result.stderr).contains("without NS"),
        "{result:?}"
    );
    assert!(read(&output) == before, "the previous output changed");
    let mut files_after = listing();
    files_after.retain(|name| name != "bad.zone");
    assert_eq!(files_after, files_before, "files left behind");
}

/// What needs the whole zone is refused with --low-memory (usage, exit 2).
#[test]
fn whole_zone_features_are_refused() {
    let signer = setup("ED25519");
    let output = signer.path("out.signed");
    let pin = signer.pin_file.to_str().expect("path");
    let keys = signer.keys.to_str().expect("path");
    for extra in [
        &["-f", "out.signed"][..],
        &["-P", "--zonemd", "-f", "out.signed"][..],
        &["-P", "-f", "-"][..],
    ] {
        let result = signer
            .hsm
            .tool("zone-sign")
            .current_dir(signer.hsm.dir())
            .args(["-S", "-K", keys, "-o", "example.com", "--pin-file", pin])
            .args(extra)
            .arg("--low-memory")
            .arg(&signer.zone)
            .output()
            .expect("run");
        assert_eq!(result.status.code(), Some(2), "{extra:?}: {result:?}");
        assert!(
            String::from_utf8_lossy(&result.stderr).contains("needs the whole zone"),
            "{result:?}"
        );
    }
    assert!(!output.exists());
}

/// `-n auto` ramps once, on the first chunk, and its choice signs every
/// later chunk: a ramp per chunk would open and close sessions by the
/// thousand on a large zone, each time measuring again from one.
#[test]
fn auto_ramps_on_the_first_chunk_only() {
    let signer = setup("ED25519");
    let low = signer.path("low.signed");
    let log = signer.sign(&signer.zone, &low, true, &[]);
    let ramps = log
        .lines()
        .filter(|l| l.contains("-n auto: signing with"))
        .count();
    assert_eq!(ramps, 1, "one ramp for the whole zone:\n{log}");
    assert!(
        log.lines().any(|l| l.starts_with("Auto: sessions kept:")),
        "-t reports the ramp:\n{log}"
    );
    assert!(log.contains("session(s) sign the later chunks"), "{log}");
    crate::zone_sign::assert_validates(&low, "example.com", &[]);
}
