//! key-settime against BIND's dnssec-settime (Debian bind9-utils): for
//! BIND's own file keys the files written must be BIND's, byte for byte;
//! for token keys (which dnssec-settime refuses: "no engine") the timing
//! lines and comments must be the ones BIND writes for a file key with the
//! same dates, and every other line must stay as it was.
//!
//! BIND reads the real clock; ours is pinned with P11DNSSEC_NOW to each
//! second the BIND run could have seen, and one of them must match.

use crate::hsm::{tool_path, Hsm};
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A directory's files: name → (content, mode).
pub type Files = BTreeMap<String, (String, u32)>;

pub fn files(dir: &Path) -> Files {
    let mut files = Files::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let entry = entry.expect("entry");
        let meta = entry.metadata().expect("meta");
        if meta.is_file() {
            let text = std::fs::read_to_string(entry.path()).expect("read");
            files.insert(
                entry.file_name().to_string_lossy().into_owned(),
                (text, meta.permissions().mode() & 0o7777),
            );
        }
    }
    files
}

/// A fresh copy of `from` at `to` (files and their modes).
pub fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir(to).expect("mkdir");
    for (name, (text, mode)) in files(from) {
        let path = to.join(&name);
        std::fs::write(&path, text).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// Runs a BIND tool in `dir` (TZ=UTC); its output and the seconds it ran in.
pub fn bind(dir: &Path, program: &str, args: &[&str]) -> (Output, i64, i64) {
    let start = unix_now();
    let output = Command::new(program)
        .current_dir(dir)
        .env("TZ", "UTC")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} must be installed (bind9-utils): {e}"));
    (output, start, unix_now())
}

/// Runs one of our tools in `dir` (TZ=UTC) with "now" pinned.
pub fn ours(dir: &Path, tool: &str, args: &[&str], now: i64) -> Output {
    Command::new(tool_path(tool))
        .current_dir(dir)
        .env("TZ", "UTC")
        .env("P11DNSSEC_NOW", now.to_string())
        .args(args)
        .output()
        .expect("run")
}

/// Runs BIND's `program` and our `tool` with the same arguments on copies
/// of `pristine`; asserts that both succeed with the same stdout and leave
/// the same files. `what` names the case in failures.
pub fn same_as_bind(pristine: &Path, work: &Path, program: &str, tool: &str, args: &[&str]) {
    let bind_dir = work.join("bind");
    let our_dir = work.join("ours");
    copy_dir(pristine, &bind_dir);
    let (bind_output, start, end) = bind(&bind_dir, program, args);
    assert!(
        bind_output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&bind_output.stderr)
    );
    let expected = files(&bind_dir);
    let mut last = String::new();
    for now in start..=end {
        copy_dir(pristine, &our_dir);
        let output = ours(&our_dir, tool, args, now);
        assert!(
            output.status.success(),
            "{tool} {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let got = files(&our_dir);
        if got == expected && output.stdout == bind_output.stdout {
            return;
        }
        last = format!(
            "stdout BIND:\n{}\nours:\n{}\n{}",
            String::from_utf8_lossy(&bind_output.stdout),
            String::from_utf8_lossy(&output.stdout),
            diff(&expected, &got)
        );
    }
    panic!("{tool} {args:?} differs from {program}:\n{last}");
}

fn diff(expected: &Files, got: &Files) -> String {
    let mut text = String::new();
    for (name, value) in expected {
        match got.get(name) {
            Some(other) if other == value => {}
            Some(other) => text.push_str(&format!(
                "{name}: BIND {:o}\n{}ours {:o}\n{}",
                value.1, value.0, other.1, other.0
            )),
            None => text.push_str(&format!("{name}: missing\n")),
        }
    }
    for name in got.keys().filter(|n| !expected.contains_key(*n)) {
        text.push_str(&format!("{name}: extra\n"));
    }
    text
}

/// `dnssec-keygen` in `dir`; the base name.
pub fn keygen(dir: &Path, args: &[&str]) -> String {
    let (output, _, _) = bind(dir, "dnssec-keygen", &[&["-q"], args].concat());
    assert!(output.status.success(), "keygen {args:?}: {output:?}");
    String::from_utf8(output.stdout)
        .expect("utf8")
        .trim()
        .to_string()
}

#[test]
fn file_keys_are_rewritten_as_dnssec_settime_rewrites_them() {
    let work = tempfile::tempdir().expect("tmp");
    let keys = work.path().join("keys");
    std::fs::create_dir(&keys).expect("keys");
    let zsk = keygen(&keys, &["-a", "ECDSAP256SHA256", "example.com"]);
    let zsk2 = keygen(&keys, &["-a", "ECDSAP256SHA256", "example.com"]);
    let ksk = keygen(
        &keys,
        &["-a", "RSASHA256", "-b", "2048", "-f", "KSK", "example.com"],
    );
    let legacy = keygen(&keys, &["-C", "-a", "ED25519", "example.com"]);
    // A publish-only key from dnssec-importkey: its .private says External:.
    let elsewhere = work.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).expect("mkdir");
    let imported = keygen(&elsewhere, &["-a", "ECDSAP384SHA384", "example.com"]);
    let source = elsewhere.join(format!("{imported}.key"));
    let (output, _, _) = bind(
        &keys,
        "dnssec-importkey",
        &["-f", source.to_str().expect("path"), "example.com"],
    );
    assert!(output.status.success(), "{output:?}");
    // The predecessor of -S needs Inactive and Delete dates.
    let (output, _, _) = bind(&keys, "dnssec-settime", &["-I", "+60d", "-D", "+70d", &zsk]);
    assert!(output.status.success(), "{output:?}");
    let zsk2_private = format!("{zsk2}.private");
    let cases: Vec<Vec<&str>> = vec![
        vec!["-I", "+30d", "-D", "+40d", &zsk2],
        vec!["-P", "sync", "+1d", "-D", "sync", "+60d", &ksk],
        vec!["-P", "20270101", "-A", "20270102120000", &zsk2],
        vec!["-A", "none", "-P", "never", &zsk2],
        vec!["-I", "unset", "-D", "never", &zsk],
        vec!["-f", "-D", "-", &zsk],
        vec!["-L", "3600", &ksk],
        vec!["-L", "none", "-R", "now+1d", &ksk],
        vec!["-P", "now+1h", "-i", "2d", &zsk2],
        vec!["-A", "+10d", "-i", "2d", &zsk2],
        vec!["-P", "ds", "now", "-P", "dnskey", "1796000000", &ksk],
        vec!["-S", &zsk, "-i", "1d", &zsk2],
        vec!["-S", &zsk, &zsk2],
        vec!["-f", "-I", "20270101", "-D", "20261201", &zsk2],
        vec!["-E", "pkcs11", "-v", "1", "-I", "+1w", &zsk2_private],
        vec!["-f", &legacy],
        vec!["-f", "-I", "+1y", &legacy],
        vec!["-p", "all", &zsk],
        vec!["-up", "all", &zsk],
        vec!["-p", "C Psync A", "-p", "Dds", "-D", "+90d", &zsk],
        vec!["-u", "-p", "R", &ksk],
        vec![&zsk],
        vec![
            "-P", "now", "-A", "+1d", "-I", "+10d", "-D", "+20d", &imported,
        ],
        vec!["-P", "sync", "+1d", "-p", "all", &imported],
    ];
    for args in cases {
        same_as_bind(&keys, work.path(), "dnssec-settime", "key-settime", &args);
    }
    // -K: paths are read and printed relative to it.
    let args = ["-K", "keys", "-I", "+5d", zsk2.as_str()];
    let (bind_output, start, _) = bind(work.path(), "dnssec-settime", &args);
    assert!(bind_output.status.success());
    let printed = String::from_utf8(bind_output.stdout).expect("utf8");
    assert_eq!(
        printed,
        format!("keys/{zsk2}.key\nkeys/{zsk2}.private\n"),
        "BIND's form"
    );
    let output = ours(work.path(), "key-settime", &args, start);
    assert_eq!(String::from_utf8_lossy(&output.stdout), printed);
}

/// A token key and a file key with the same dates: key-settime on the
/// token key writes the timing lines dnssec-settime writes on the file key.
#[test]
fn token_keys_get_the_timing_bind_gives_a_file_key_and_keep_their_label() {
    let hsm = Hsm::new();
    let work = hsm.dir().join("work");
    let keys = hsm.dir().join("keys");
    std::fs::create_dir_all(&work).expect("work");
    std::fs::create_dir(&keys).expect("keys");
    let file_key = keygen(
        &keys,
        &["-a", "ECDSAP256SHA256", "-f", "KSK", "example.com"],
    );
    let created = std::fs::read_to_string(keys.join(format!("{file_key}.private")))
        .expect("private")
        .lines()
        .find_map(|l| l.strip_prefix("Created: ").map(str::to_string))
        .expect("created");
    let created = common_time(&created);
    hsm.run_ok("pkcs11-keygen", &["-a", "ECDSAP256SHA256", "-l", "ksk"]);
    let output = hsm
        .tool("dnskey-from-label")
        .env("P11DNSSEC_NOW", created.to_string())
        .args(["-l", "ksk", "-f", "KSK", "-K"])
        .arg(&keys)
        .args(["-p", crate::hsm::PIN, "example.com"])
        .output()
        .expect("run");
    assert!(output.status.success(), "{output:?}");
    let token_key = String::from_utf8(output.stdout)
        .expect("utf8")
        .trim()
        .to_string();
    let token_private = keys.join(format!("{token_key}.private"));
    let before = std::fs::read_to_string(&token_private).expect("read");
    let cases: Vec<Vec<&str>> = vec![
        vec!["-I", "+30d", "-D", "+40d"],
        vec!["-P", "sync", "+1d", "-D", "sync", "+60d", "-R", "20270101"],
        vec!["-A", "none", "-P", "ds", "now"],
        vec!["-L", "300", "-P", "now+1h", "-i", "2d"],
    ];
    for case in cases {
        let bind_dir = work.join("bind");
        let our_dir = work.join("ours");
        copy_dir(&keys, &bind_dir);
        let (bind_output, start, end) = bind(
            &bind_dir,
            "dnssec-settime",
            &[&case[..], &[&file_key]].concat(),
        );
        assert!(bind_output.status.success(), "{bind_output:?}");
        let expected_private = timing_lines(&bind_dir.join(format!("{file_key}.private")));
        let expected_key = key_comments(&bind_dir.join(format!("{file_key}.key")));
        let matched = (start..=end).any(|now| {
            copy_dir(&keys, &our_dir);
            let output = ours(
                &our_dir,
                "key-settime",
                &[&case[..], &[&token_key]].concat(),
                now,
            );
            assert!(output.status.success(), "{case:?}: {output:?}");
            timing_lines(&our_dir.join(format!("{token_key}.private"))) == expected_private
                && key_comments(&our_dir.join(format!("{token_key}.key"))) == expected_key
        });
        assert!(
            matched,
            "{case:?}: {}",
            diff(&files(&bind_dir), &files(&our_dir))
        );
        // Engine:, Label: and the key's DNSKEY stay; .private stays 0600.
        let private = our_dir.join(format!("{token_key}.private"));
        let after = std::fs::read_to_string(&private).expect("read");
        let kept = |text: &str| -> Vec<String> {
            text.lines()
                .filter(|l| !l.contains(": 20") && !l.starts_with("Created"))
                .map(str::to_string)
                .collect()
        };
        assert_eq!(kept(&after), kept(&before), "{case:?}");
        assert!(after.contains("\nLabel: "), "{after}");
        let mode = std::fs::metadata(&private)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // And the rewritten pair still reads as a key.
    let output = ours(&keys, "key-settime", &["-I", "+30d", &token_key], created);
    assert!(output.status.success(), "{output:?}");
    let record = std::fs::read_to_string(keys.join(format!("{token_key}.key"))).expect("key");
    let ds = crate::hsm::run_plain("ds-from-key", &[], Some(record.as_bytes()));
    assert!(ds.status.success() && !ds.stdout.is_empty(), "{ds:?}");
}

fn common_time(text: &str) -> i64 {
    common::time::parse_timestamp(text).expect("timestamp")
}

/// The metadata lines of a `.private` (from `Created:` on, as BIND orders
/// them; key material and Label: differ between the two keys).
fn timing_lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("read");
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("Created:"))
        .expect("Created");
    lines[start..].to_vec()
}

/// The timing comments of a `.key` and its DNSKEY's TTL and flags.
fn key_comments(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("read");
    let mut lines: Vec<String> = text
        .lines()
        .skip(1)
        .filter(|l| l.starts_with(';'))
        .map(str::to_string)
        .collect();
    let record = text.lines().last().expect("record");
    let head: Vec<&str> = record.split_whitespace().take(6).collect();
    lines.push(head.join(" "));
    lines
}

fn key_pair(dir: &Path) -> (PathBuf, String) {
    let base = keygen(dir, &["-a", "ECDSAP256SHA256", "example.com"]);
    (dir.join(format!("{base}.private")), base)
}

#[test]
fn contradictory_dates_are_refused_and_leave_the_files_alone() {
    let dir = tempfile::tempdir().expect("tmp");
    let (private, base) = key_pair(dir.path());
    let now = unix_now();
    let before = files(dir.path());
    let inode = std::fs::metadata(&private).expect("meta").ino();
    for (args, words) in [
        (
            vec!["-I", "+10d", "-D", "+5d"],
            "deleted before it is scheduled to be inactive",
        ),
        (
            vec!["-A", "+20d", "-I", "+10d"],
            "inactive before it is scheduled to be active",
        ),
        (
            vec!["-P", "sync", "+2d", "-D", "sync", "+1d"],
            "deleted before they are published",
        ),
        (
            vec!["-D", "-1d"],
            "deleted before it is scheduled to be active",
        ),
        (
            vec!["-P", "now", "-A", "now+1d", "-i", "2d"],
            "closer together",
        ),
        (vec!["-A", "now+1d", "-i", "2d"], "time until activation"),
    ] {
        let output = ours(
            dir.path(),
            "key-settime",
            &[&args[..], &[&base]].concat(),
            now,
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(words), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty());
        assert_eq!(files(dir.path()), before, "{args:?}");
        assert_eq!(std::fs::metadata(&private).expect("meta").ino(), inode);
    }
    // -f writes them, with BIND's warning.
    let output = ours(
        dir.path(),
        "key-settime",
        &["-f", "-I", "+10d", "-D", "+5d", &base],
        now,
    );
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains(
        "warning: Key is scheduled to be deleted before it is scheduled to be inactive."
    ));
    // A later change of another date is not blocked by them.
    let output = ours(
        dir.path(),
        "key-settime",
        &["-P", "sync", "+1d", &base],
        now,
    );
    assert!(output.status.success(), "{output:?}");
}

#[test]
fn key_files_others_may_write_are_refused_and_a_loose_private_becomes_0600() {
    let dir = tempfile::tempdir().expect("tmp");
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).expect("keys");
    let (private, base) = key_pair(&keys);
    let chmod = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod")
    };
    chmod(&keys, 0o757);
    let before = files(&keys);
    let output = ours(&keys, "key-settime", &["-I", "+1d", &base], unix_now());
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("writable by anyone"));
    assert_eq!(files(&keys), before);
    let output = ours(
        &keys,
        "key-settime",
        &["--insecure-key-dir", "-I", "+1d", &base],
        unix_now(),
    );
    assert!(output.status.success(), "{output:?}");
    chmod(&keys, 0o755);
    chmod(&private, 0o640);
    let output = ours(&keys, "key-settime", &["-D", "+2d", &base], unix_now());
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr)
        .contains("have changed from 0640 to 0600 as a result of this operation"));
    assert_eq!(
        std::fs::metadata(&private)
            .expect("meta")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    // Not a key pair: a .private without key material, Label: or External:.
    std::fs::write(
        &private,
        "Private-key-format: v1.3\nAlgorithm: 13 (ECDSAP256SHA256)\n",
    )
    .expect("write");
    chmod(&private, 0o600);
    let output = ours(&keys, "key-settime", &["-D", "+2d", &base], unix_now());
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a private key"));
}

/// Operators run the tools as root on files named (user `bind`) reads: a
/// rewritten or revoked pair keeps the owner and group of the old one.
#[test]
fn rewritten_and_revoked_pairs_keep_their_owner_and_group() {
    let dir = tempfile::tempdir().expect("tmp");
    let base = keygen(
        dir.path(),
        &["-a", "ECDSAP256SHA256", "-f", "KSK", "example.com"],
    );
    let pair = [format!("{base}.key"), format!("{base}.private")];
    if pair
        .iter()
        .any(|f| std::os::unix::fs::chown(dir.path().join(f), Some(4242), Some(4343)).is_err())
    {
        // Only root can give a file away. CI runs as root: there, this must run.
        assert!(std::env::var_os("CI").is_none(), "chown needs root");
        eprintln!("skipped: owners of rewritten key files (chown needs root)");
        return;
    }
    let owner = |name: &str| {
        let meta = std::fs::metadata(dir.path().join(name)).expect("meta");
        (meta.uid(), meta.gid())
    };
    let output = ours(dir.path(), "key-settime", &["-I", "+1d", &base], unix_now());
    assert!(output.status.success(), "{output:?}");
    let output = ours(dir.path(), "key-revoke", &[&base], unix_now());
    assert!(output.status.success(), "{output:?}");
    let revoked = String::from_utf8(output.stdout)
        .expect("utf8")
        .trim()
        .to_string();
    for name in [
        pair[0].clone(),
        pair[1].clone(),
        format!("{revoked}.key"),
        format!("{revoked}.private"),
    ] {
        assert_eq!(owner(&name), (4242, 4343), "{name}");
    }
}
