//! Hostile input: every bad zone file, key file, URI and flag value gives
//! one line naming the file, line and cause, a non-zero exit, no output,
//! in bounded time and memory.

use crate::hsm::{data_dir, tool_path, Hsm, PIN};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs a tool under a memory limit (2 GiB of address space), with a time
/// limit; the output.
fn bounded(hsm: &Hsm, dir: &Path, tool: &str, args: &[&str]) -> Output {
    let started = Instant::now();
    let output = Command::new("bash")
        .args(["-c", "ulimit -v 2097152; exec \"$@\"", "bounded"])
        .arg(tool_path(tool))
        .args(args)
        .current_dir(dir)
        .env("SOFTHSM2_CONF", hsm.dir().join("softhsm2.conf"))
        .env_remove("PKCS11_PIN")
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{tool} {args:?} took {:?}",
        started.elapsed()
    );
    output
}

fn errors(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|l| !l.contains(": warning: "))
        .map(str::to_string)
        .collect()
}

#[test]
fn bad_zone_files_are_rejected_with_file_line_and_cause() {
    let hsm = Hsm::new();
    let dir = tempfile::tempdir().expect("dir");
    let mut checked = 0;
    let mut files: Vec<_> = std::fs::read_dir(data_dir().join("hostile"))
        .expect("hostile")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "zone"))
        .collect();
    files.sort();
    for file in &files {
        std::fs::copy(file, dir.path().join(file.file_name().expect("name"))).expect("copy");
    }
    // A 100 MB line: refused at 1 MiB, without reading it all into memory.
    let huge = dir.path().join("huge-line.zone");
    let mut text = String::from("$TTL 1\n@ SOA ns hm 1 2 3 4 5\nt TXT \"");
    text.push_str(&"x".repeat(100 << 20));
    text.push_str("\"\n");
    std::fs::write(&huge, text).expect("huge");
    files.push(huge);
    // RDATA longer than a record can carry (258 strings of 255 octets).
    let long = dir.path().join("long-rdata.zone");
    let strings = vec![format!("\"{}\"", "x".repeat(255)); 258].join(" ");
    std::fs::write(
        &long,
        format!("; expect: 4: RDATA longer than 65535 octets\n$TTL 1\n@ SOA ns hm 1 2 3 4 5\nt TXT {strings}\n"),
    )
    .expect("long");
    files.push(long);
    for file in &files {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .expect("name")
            .to_string();
        let content = std::fs::read(dir.path().join(&name)).expect("read");
        let expect = String::from_utf8_lossy(&content)
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("; expect: "))
            .map(str::to_string);
        let output = bounded(
            &hsm,
            dir.path(),
            "zone-sign",
            &[
                "-o",
                "example.com",
                "-f",
                "out.signed",
                "--pin",
                PIN,
                &name,
                "pkcs11:object=any",
            ],
        );
        assert_eq!(
            output.status.code(),
            Some(1),
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let errors = errors(&output);
        assert_eq!(errors.len(), 1, "{name}: {errors:?}");
        let line = &errors[0];
        assert!(line.starts_with("zone-sign: "), "{name}: {line}");
        match (&expect, name.as_str()) {
            (Some(expect), _) if expect.as_bytes()[0].is_ascii_digit() => {
                let (number, cause) = expect.split_once(": ").expect("N: cause");
                assert!(
                    line.contains(&format!("{name}:{number}: ")) && line.contains(cause),
                    "{name}: {line}"
                );
            }
            (Some(expect), _) => assert!(line.contains(expect.as_str()), "{name}: {line}"),
            (None, "huge-line.zone") => assert!(
                line.contains("huge-line.zone:3: line longer than 1048576 bytes"),
                "{line}"
            ),
            (None, "empty.zone") => assert!(line.contains("has no SOA record"), "{line}"),
            (None, _) => assert!(line.contains(&format!("{name}:")), "{name}: {line}"),
        }
        assert!(output.stdout.is_empty(), "{name}");
        assert!(
            !dir.path().join("out.signed").exists(),
            "{name}: output written"
        );
        checked += 1;
    }
    assert!(checked >= 34, "only {checked} bad zones");
}

#[test]
fn bad_key_files_uris_and_flags_are_rejected() {
    let hsm = Hsm::new();
    let hostile = data_dir().join("hostile");
    let dir = hostile.as_path();
    let cases: Vec<(&str, Vec<&str>, i32, &str)> = vec![
        (
            "ds-from-key",
            vec!["bad-key.key"],
            1,
            "bad-key.key:1: bad base64",
        ),
        ("ds-from-key", vec!["not-a-key.key"], 1, "not a key file"),
        (
            "ds-from-key",
            vec!["-a", "9", "bad-key.key"],
            2,
            "can't build record",
        ),
        (
            "ds-from-key",
            vec!["-T", "1m", "bad-key.key"],
            2,
            "ambiguous",
        ),
        (
            "pkcs11-list",
            vec!["-l", "pkcs11:object=%G1"],
            2,
            "bad percent escape '%G1'",
        ),
        (
            "pkcs11-list",
            vec!["-l", "pkcs11:slot-id=abc"],
            2,
            "'slot-id' has value 'abc'",
        ),
        (
            "pkcs11-list",
            vec!["-l", "pkcs11:type=key"],
            2,
            "'type' has value 'key'",
        ),
        (
            "pkcs11-list",
            vec!["-l", "pkcs11:colour=red"],
            2,
            "unknown attribute 'colour'",
        ),
        (
            "pkcs11-list",
            vec!["-l", "pkcs11:object=a;object=b"],
            2,
            "'object' appears twice",
        ),
        (
            "pkcs11-list",
            vec!["-l", "pkcs11:object=a?pin-source=/a&pin-value=b"],
            2,
            "cannot both be given",
        ),
        (
            "pkcs11-list",
            vec!["-s", "slot-one"],
            2,
            "needs a slot number",
        ),
        (
            "pkcs11-keygen",
            vec!["-b", "huge", "-l", "k"],
            2,
            "needs a key size",
        ),
        (
            "pkcs11-keygen",
            vec!["-a", "RSA", "-b", "65536", "-l", "k"],
            2,
            "outside 1024..4096",
        ),
        (
            "pkcs11-destroy",
            vec!["-w", "-3", "-l", "k"],
            2,
            "needs a number of seconds",
        ),
        (
            "dnskey-from-label",
            vec!["-l", "k", "-P", "yesterday", "x"],
            2,
            "",
        ),
        (
            "zone-sign",
            vec!["-H", "999", "z"],
            2,
            "Maximum iterations allowed 150",
        ),
        (
            "zone-sign",
            vec!["-N", "sometimes", "z"],
            2,
            "unknown soa serial format",
        ),
        (
            "zone-sign",
            vec!["-e", "whenever", "-o", "example.com", "empty.zone"],
            2,
            "time value 'whenever' is invalid",
        ),
        ("zone-sign", vec!["-3", "nothex", "z"], 2, "bad hex salt"),
        (
            "zone-sign",
            vec![
                "-o",
                "example.com",
                "-k",
                "bad-key",
                "--pin",
                PIN,
                "two-soas.zone",
            ],
            1,
            "",
        ),
    ];
    // The input with which fuzzing found a panic in the URI parser.
    let crash = std::fs::read_to_string(hostile.join("fuzz-uri-crash-1.bin")).expect("fuzz input");
    let mut cases = cases;
    cases.push((
        "ds-from-key",
        vec!["-a", &crash, "x"],
        2,
        "unknown DS algorithm",
    ));
    cases.push((
        "pkcs11-list",
        vec!["-l", &crash, "-s", &crash],
        2,
        "needs a slot number",
    ));
    let label_case = ("dnskey-from-label", vec!["-l", crash.as_str(), "x"]);
    let output = bounded(&hsm, dir, label_case.0, &label_case.1);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("bad PKCS#11 URI"));
    for (tool, args, code, message) in cases {
        let output = bounded(&hsm, dir, tool, &args);
        let text = String::from_utf8_lossy(&output.stderr).into_owned();
        if tool == "dnskey-from-label" {
            // Dates are checked when the key is made; a bad one is a usage
            // error before any token is touched.
            assert_eq!(output.status.code(), Some(2), "{tool} {args:?}: {text}");
            assert!(text.contains("time value 'yesterday' is invalid"), "{text}");
            continue;
        }
        assert_eq!(output.status.code(), Some(code), "{tool} {args:?}: {text}");
        let errors = errors(&output);
        assert_eq!(errors.len(), 1, "{tool} {args:?}: {errors:?}");
        assert!(
            errors[0].starts_with(&format!("{tool}: ")) && errors[0].contains(message),
            "{tool} {args:?}: {}",
            errors[0]
        );
        assert!(output.stdout.is_empty(), "{tool} {args:?}");
    }
}

/// zone-sign on `zone` in `dir` with `extra` options and `PKCS11_PIN` set
/// (the README's pipeline sets it), killed if it runs longer than 20 s:
/// (exit code, stderr); `None` for the code if it had to be killed.
fn sign_zone(hsm: &Hsm, dir: &Path, zone: &str, extra: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(tool_path("zone-sign"))
        .env_clear()
        // First in the environment, so that a parser echoing the start of
        // /proc/self/environ would echo it.
        .env("PKCS11_PIN", PIN)
        .env("SOFTHSM2_CONF", hsm.dir().join("softhsm2.conf"))
        .env("PATH", "/usr/bin:/bin")
        .current_dir(dir)
        .args(["-o", "example.com", "-f", "out.signed"])
        .args(extra)
        .args([zone, "pkcs11:object=any"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("zone-sign");
    let started = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code();
        }
        if started.elapsed() > Duration::from_secs(20) {
            child.kill().ok();
            child.wait().ok();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        std::io::Read::read_to_string(&mut pipe, &mut stderr).ok();
    }
    assert!(!dir.join("out.signed").exists(), "{zone}: output written");
    (code, stderr)
}

#[test]
fn include_of_proc_environ_is_refused_and_never_shows_the_pin() {
    let hsm = Hsm::new();
    let dir = tempfile::tempdir().expect("dir");
    let soa = "$TTL 1\n@ SOA ns hm 1 2 3 4 5\n";
    std::fs::write(
        dir.path().join("direct.zone"),
        format!("{soa}$INCLUDE /proc/self/environ\n"),
    )
    .expect("zone");
    std::os::unix::fs::symlink("/proc/self/environ", dir.path().join("env.db")).expect("link");
    std::fs::write(
        dir.path().join("linked.zone"),
        format!("{soa}$INCLUDE env.db\n"),
    )
    .expect("zone");
    for zone in ["direct.zone", "linked.zone"] {
        let (code, stderr) = sign_zone(&hsm, dir.path(), zone, &[]);
        assert_eq!(code, Some(1), "{zone}: {stderr}");
        assert!(!stderr.contains(PIN), "{zone}: the PIN in {stderr}");
        assert!(
            stderr.contains(&format!("{zone}:3: $INCLUDE '"))
                && stderr.contains("refusing to read a file under /proc"),
            "{zone}: {stderr}"
        );
    }
}

#[test]
fn include_of_a_fifo_is_refused_at_once() {
    let hsm = Hsm::new();
    let dir = tempfile::tempdir().expect("dir");
    let made = Command::new("mkfifo")
        .arg(dir.path().join("pipe.db"))
        .status()
        .expect("mkfifo");
    assert!(made.success());
    std::fs::write(
        dir.path().join("fifo.zone"),
        "$TTL 1\n@ SOA ns hm 1 2 3 4 5\n$INCLUDE pipe.db\n",
    )
    .expect("zone");
    let started = Instant::now();
    let (code, stderr) = sign_zone(&hsm, dir.path(), "fifo.zone", &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        stderr.contains("fifo.zone:3: $INCLUDE 'pipe.db': not a regular file"),
        "{stderr}"
    );
}

#[test]
fn include_outside_the_include_root_is_refused() {
    let hsm = Hsm::new();
    let dir = tempfile::tempdir().expect("dir");
    let root = dir.path().join("customer");
    std::fs::create_dir(&root).expect("root");
    std::fs::write(dir.path().join("secret.db"), "x A 192.0.2.1\n").expect("outside");
    std::fs::write(root.join("hosts.db"), "www A 192.0.2.1\n").expect("inside");
    std::os::unix::fs::symlink("../secret.db", root.join("link.db")).expect("link");
    let soa = "$TTL 1\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 192.0.2.53\n";
    for (zone, include) in [
        ("dotdot.zone", "../secret.db"),
        (
            "absolute.zone",
            dir.path().join("secret.db").to_str().expect("path"),
        ),
        ("link.zone", "link.db"),
    ] {
        std::fs::write(root.join(zone), format!("{soa}$INCLUDE {include}\n")).expect("zone");
        let (code, stderr) = sign_zone(&hsm, &root, zone, &["--include-root", "."]);
        assert_eq!(code, Some(1), "{zone}: {stderr}");
        assert!(
            stderr.contains(&format!("{zone}:5: $INCLUDE '"))
                && stderr.contains("outside the include root"),
            "{zone}: {stderr}"
        );
    }
    // Inside the root an include is read: the run gets as far as the key.
    std::fs::write(
        root.join("inside.zone"),
        format!("{soa}$INCLUDE hosts.db\n"),
    )
    .expect("zone");
    let (code, stderr) = sign_zone(&hsm, &root, "inside.zone", &["--include-root", "."]);
    assert_ne!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("$INCLUDE"), "{stderr}");
}

#[test]
fn generate_beyond_max_generate_and_a_huge_ttl_are_refused_with_file_and_line() {
    let hsm = Hsm::new();
    let dir = tempfile::tempdir().expect("dir");
    let soa = "$TTL 1\n@ SOA ns hm 1 2 3 4 5\n";
    std::fs::write(
        dir.path().join("gen.zone"),
        format!("{soa}$GENERATE 1-6 a$ A 192.0.2.$\n$GENERATE 1-5 b$ A 192.0.2.$\n"),
    )
    .expect("zone");
    let (code, stderr) = sign_zone(&hsm, dir.path(), "gen.zone", &["--max-generate", "10"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("gen.zone:4: $GENERATE range '1-5' makes 5 records (with 6 from earlier lines); at most 10 are allowed"),
        "{stderr}"
    );
    // A 78-kB TTL worth 2^64 + 3600 seconds: wrapping made it 3600.
    let per_term: u128 = 4_294_967_295 * 604_800;
    let total: u128 = (1u128 << 64) + 3600;
    let terms = total / per_term;
    let rest = total - terms * per_term;
    let ttl = format!(
        "{}{}w{}s",
        "4294967295w".repeat(terms as usize),
        rest / 604_800,
        rest % 604_800
    );
    assert!(ttl.len() > 78_000);
    std::fs::write(
        dir.path().join("ttl.zone"),
        format!("{soa}www {ttl} A 192.0.2.1\n"),
    )
    .expect("zone");
    let (code, stderr) = sign_zone(&hsm, dir.path(), "ttl.zone", &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.starts_with(
            "zone-sign: ttl.zone:3: bad TTL '4294967295w4294967295w4294967295w4294967...'"
        ) && stderr.lines().count() == 1,
        "{stderr}"
    );
}

#[test]
fn a_label_that_is_not_a_uri_never_shows_its_query_or_pin() {
    // Found by fuzzing: "contains ':' but is not a pkcs11: URI" quoted the
    // whole label, query and pin-value included.
    let hsm = Hsm::new();
    for label in [
        "p1:object=k?pin-value=SECRETPIN",
        "p1:object=k;pin-value=SECRETPIN",
    ] {
        let args = ["-l", label, "example.com"];
        let output = bounded(&hsm, hsm.dir(), "dnskey-from-label", &args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{label}: {stderr}");
        assert!(!stderr.contains("SECRETPIN"), "{stderr}");
        assert!(stderr.contains("not a pkcs11: URI"), "{stderr}");
    }
}

#[test]
fn a_stderr_that_cannot_be_written_is_no_panic() {
    // eprintln! panics when stderr fails (exit 101); the one error line is
    // lost then, but the exit status must still say what happened.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let output = Command::new(tool_path("ds-from-key"))
        .args(["-a", "NOT-A-DIGEST", "example.com"])
        .stderr(full)
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
}
