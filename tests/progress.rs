//! The progress line of zone-sign, zone-verify and pkcs11-tokens: drawn on stderr when stderr is a terminal
//! (a pseudo-terminal made by script(1)), never otherwise nor with -q,
//! and stdout the same byte for byte either way.

use crate::hsm::{data_dir, tool_path, Hsm, PIN};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A zone big enough that signing it takes more than a redraw or two.
fn setup() -> (Hsm, PathBuf, PathBuf) {
    let hsm = Hsm::new();
    let keys = hsm.dir().join("keys");
    std::fs::create_dir(&keys).expect("keys dir");
    // Ed25519 signatures are deterministic (RFC 8032): with a fixed "now"
    // two runs write the same zone.
    hsm.ksk_and_zsk_key_files("ED25519", &keys);
    let zone = hsm.dir().join("example.com.zone");
    let mut text =
        std::fs::read_to_string(data_dir().join("zones/example.com.zone")).expect("zone");
    text.push_str("$GENERATE 1-500 host$ A 192.0.2.1\n");
    std::fs::write(&zone, text).expect("write zone");
    let pin_file = hsm.private_file("pin", PIN.as_bytes());
    (hsm, keys, pin_file)
}

fn arguments(keys: &Path, pin_file: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "-S",
        "-K",
        keys.to_str().expect("path"),
        "-o",
        "example.com",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(["--pin-file".into(), pin_file.to_str().expect("path").into()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push("example.com.zone".into());
    args
}

/// zone-sign with stdout to a file and stderr to a pseudo-terminal:
/// (stdout, what the terminal showed).
fn on_a_terminal(hsm: &Hsm, args: &[String], stdout: &Path) -> (Vec<u8>, String) {
    tool_on_a_terminal(hsm, "zone-sign", args, stdout)
}

fn tool_on_a_terminal(hsm: &Hsm, tool: &str, args: &[String], stdout: &Path) -> (Vec<u8>, String) {
    let line = format!(
        "{} {} > {}",
        tool_path(tool).display(),
        args.join(" "),
        stdout.display()
    );
    let output = with_env(hsm, Command::new("script"))
        .args(["-qefc", &line, "/dev/null"])
        .env("SHELL", "/bin/sh")
        .output()
        .expect("script(1) must be installed (util-linux)");
    assert!(output.status.success(), "{output:?}");
    (
        std::fs::read(stdout).expect("stdout"),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

fn with_env(hsm: &Hsm, mut command: Command) -> Command {
    // The same environment Hsm::tool gives, for a command run by script.
    let tool = hsm.tool("zone-sign");
    for (name, value) in tool.get_envs() {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
    command
        .current_dir(hsm.dir())
        .env("P11DNSSEC_NOW", now().to_string())
        .stdin(Stdio::null());
    command
}

/// One "now" for every run (after the keys' creation): the same zone twice.
fn now() -> u64 {
    static NOW: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *NOW.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs()
            + 3600
    })
}

fn plain(hsm: &Hsm, args: &[String]) -> Output {
    tool_plain(hsm, "zone-sign", args)
}

fn tool_plain(hsm: &Hsm, tool: &str, args: &[String]) -> Output {
    let output = with_env(hsm, Command::new(tool_path(tool)))
        .args(args)
        .output()
        .expect("run");
    assert!(output.status.success(), "{output:?}");
    output
}

#[test]
fn progress_only_on_a_terminal_and_stdout_the_same() {
    let (hsm, keys, pin_file) = setup();
    let args = arguments(&keys, &pin_file, &["-n", "1"]);
    let piped = plain(&hsm, &args);
    assert!(
        piped.stderr.is_empty(),
        "no progress into a pipe: {piped:?}"
    );
    let signed_piped = std::fs::read(hsm.dir().join("example.com.zone.signed")).expect("signed");

    let (stdout, terminal) = on_a_terminal(&hsm, &args, &hsm.dir().join("stdout"));
    assert_eq!(stdout, piped.stdout, "stdout differs on a terminal");
    let signed_terminal = std::fs::read(hsm.dir().join("example.com.zone.signed")).expect("signed");
    assert!(
        signed_terminal == signed_piped,
        "the signed zone differs on a terminal"
    );
    assert!(
        terminal.contains("zone-sign: "),
        "no progress line: {terminal:?}"
    );
    assert!(
        terminal.contains("RRsets"),
        "no signing progress: {terminal:?}"
    );

    // The zone on stdout: the same bytes too.
    let to_stdout = arguments(&keys, &pin_file, &["-n", "1", "-f", "-"]);
    let piped = plain(&hsm, &to_stdout);
    let (stdout, _) = on_a_terminal(&hsm, &to_stdout, &hsm.dir().join("zone-out"));
    assert!(
        stdout == piped.stdout,
        "the zone on stdout differs on a terminal"
    );

    // -q: nothing drawn (BIND's file name goes to stdout, not the terminal).
    for quiet in ["-q", "--quiet-all"] {
        let args = arguments(&keys, &pin_file, &[quiet]);
        let (_, terminal) = on_a_terminal(&hsm, &args, &hsm.dir().join("quiet-out"));
        assert_eq!(terminal, "", "{quiet}");
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

#[test]
fn zone_verify_progress_only_on_a_terminal_and_stdout_the_same() {
    let (hsm, keys, pin_file) = setup();
    plain(&hsm, &arguments(&keys, &pin_file, &["-n", "1"]));
    let args = strings(&["-o", "example.com", "example.com.zone.signed"]);
    let piped = tool_plain(&hsm, "zone-verify", &args);
    assert!(
        piped.stderr.is_empty(),
        "no progress into a pipe: {piped:?}"
    );
    assert!(!piped.stdout.is_empty(), "{piped:?}");
    let (stdout, terminal) =
        tool_on_a_terminal(&hsm, "zone-verify", &args, &hsm.dir().join("stdout"));
    assert_eq!(stdout, piped.stdout, "stdout differs on a terminal");
    assert!(
        terminal.contains("zone-verify: verifying [") && terminal.contains(" names, "),
        "no progress line: {terminal:?}"
    );
    let quiet = strings(&["-q", "-o", "example.com", "example.com.zone.signed"]);
    let (_, terminal) = tool_on_a_terminal(&hsm, "zone-verify", &quiet, &hsm.dir().join("q"));
    assert_eq!(terminal, "", "-q");
}

#[test]
fn pkcs11_tokens_test_progress_only_on_a_terminal_and_stdout_the_same() {
    let (hsm, _keys, pin_file) = setup();
    let pin = pin_file.to_str().expect("path");
    let args = strings(&["--test", "--pin-file", pin]);
    let piped = tool_plain(&hsm, "pkcs11-tokens", &args);
    assert!(
        piped.stderr.is_empty(),
        "no progress into a pipe: {piped:?}"
    );
    assert!(!piped.stdout.is_empty(), "{piped:?}");
    let (stdout, terminal) =
        tool_on_a_terminal(&hsm, "pkcs11-tokens", &args, &hsm.dir().join("stdout"));
    assert_eq!(stdout, piped.stdout, "stdout differs on a terminal");
    assert!(
        terminal.contains("pkcs11-tokens: ") && terminal.contains("testing"),
        "no progress line: {terminal:?}"
    );
    let quiet = strings(&["-q", "--test", "--pin-file", pin]);
    let (_, terminal) = tool_on_a_terminal(&hsm, "pkcs11-tokens", &quiet, &hsm.dir().join("q"));
    assert_eq!(terminal, "", "-q");

    // --speed: one line of numbers, the same shape on a terminal.
    let shape = |out: &[u8]| -> String {
        String::from_utf8_lossy(out)
            .chars()
            .map(|c| if c.is_ascii_digit() { '9' } else { c })
            .collect::<String>()
    };
    let speed = strings(&["--speed", "-n", "1", "--seconds", "0.3", "--pin-file", pin]);
    let piped = tool_plain(&hsm, "pkcs11-tokens", &speed);
    assert!(
        piped.stderr.is_empty(),
        "no progress into a pipe: {piped:?}"
    );
    let (stdout, terminal) =
        tool_on_a_terminal(&hsm, "pkcs11-tokens", &speed, &hsm.dir().join("speed"));
    let mask = |s: String| {
        let mut s = s;
        while s.contains("99") {
            s = s.replace("99", "9");
        }
        s
    };
    assert_eq!(mask(shape(&stdout)), mask(shape(&piped.stdout)));
    assert!(
        terminal.contains("measuring"),
        "no progress line: {terminal:?}"
    );
}

/// `tool args` in `dir` with no file allowed to grow (RLIMIT_FSIZE 0, the
/// SIGXFSZ ignored: each write of a file fails with EFBIG, even as root),
/// stdout and stderr pipes: a failure half-way through the work.
fn with_no_room(dir: &Path, tool: &str, args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 0; exec \"$0\" \"$@\"")
        .arg(tool_path(tool))
        .args(args)
        .current_dir(dir)
        .env("TZ", "UTC")
        .stdin(Stdio::null())
        .output()
        .expect("run")
}

#[test]
fn key_settime_prints_nothing_when_the_files_cannot_be_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let made = Command::new("dnssec-keygen")
        .args(["-q", "-a", "ED25519", "example.com"])
        .current_dir(dir.path())
        .output()
        .expect("dnssec-keygen must be installed (bind9-utils)");
    assert!(made.status.success(), "{made:?}");
    let base = String::from_utf8_lossy(&made.stdout).trim().to_string();
    let key = format!("{base}.key");
    let before = std::fs::read(dir.path().join(&key)).expect("key");
    let output = with_no_room(dir.path(), "key-settime", &["-P", "+1d", "-p", "all", &key]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        output.stdout.is_empty(),
        "stdout before the failure: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("file too large"),
        "{output:?}"
    );
    assert_eq!(std::fs::read(dir.path().join(&key)).expect("key"), before);
}
