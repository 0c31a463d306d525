//! Attacks on the trust boundaries found by an attacker's review after
//! the first round of fixes (each failed then): planted key files that
//! quote secrets, choose the token the PIN goes to or hang the run;
//! includes and generated records without bounds; labels quoted raw;
//! forged signatures that make re-signing quadratic.

use crate::hsm::{Hsm, PIN};
use std::path::Path;
use std::time::{Duration, Instant};

/// A token with a KSK and a ZSK, their key files in `<dir>/keys`, the
/// fixture zone and a PIN file (mode 0600, as an operator keeps it).
fn setup() -> (Hsm, std::path::PathBuf, [String; 2]) {
    let hsm = Hsm::new();
    let keys = hsm.dir().join("keys");
    std::fs::create_dir(&keys).expect("keys dir");
    let names = hsm.ksk_and_zsk_key_files("ECDSAP256SHA256", &keys);
    std::fs::copy(
        crate::hsm::data_dir().join("zones/example.com.zone"),
        hsm.dir().join("example.com.zone"),
    )
    .expect("copy zone");
    hsm.private_file("pin", format!("{PIN}\n").as_bytes());
    (hsm, keys, names)
}

fn replace_with_symlink(path: &Path, target: &Path) {
    std::fs::remove_file(path).expect("rm");
    std::os::unix::fs::symlink(target, path).expect("symlink");
}

/// Whoever can write the key directory plants `K….private` as a symlink
/// to the operator's PIN file (or to /proc/self/environ): root's cron run
/// reads it and the parse error quotes its first line, the PIN.
#[test]
fn key_file_symlinked_to_a_secret_never_prints_the_pin() {
    let (hsm, keys, [_, zsk]) = setup();
    let private = keys.join(format!("{zsk}.private"));
    replace_with_symlink(&private, &hsm.dir().join("pin"));
    let output = hsm
        .tool("zone-sign")
        .current_dir(hsm.dir())
        .timeout(Duration::from_secs(60))
        .args(["-S", "-K", "keys", "-o", "example.com", "--pin-file", "pin"])
        .arg("example.com.zone")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains(PIN), "PIN file echoed: {stderr}");

    replace_with_symlink(&private, Path::new("/proc/self/environ"));
    let output = std::process::Command::new(crate::hsm::tool_path("zone-sign"))
        .env_clear()
        // First in the environment, so the excerpt would show it.
        .env("PKCS11_PIN", PIN)
        .env("SOFTHSM2_CONF", hsm.dir().join("softhsm2.conf"))
        .current_dir(hsm.dir())
        .args(["-S", "-K", "keys", "-o", "example.com", "example.com.zone"])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains(PIN), "environment echoed: {stderr}");
}

/// A customer's zone of a few hundred bytes: 8 levels of files, each
/// including the next ten times (no file includes itself, the depth is
/// under the limit), 10^8 reads of one record. Bounded input means the
/// run ends, with file:line, in seconds.
#[test]
fn includes_fanning_out_are_bounded() {
    let (hsm, _keys, _) = setup();
    let dir = hsm.dir();
    let mut zone = std::fs::read_to_string(dir.join("example.com.zone")).expect("zone");
    zone.push_str("$INCLUDE l1\n");
    std::fs::write(dir.join("fan.zone"), zone).expect("zone");
    for level in 1..=8 {
        let line = format!("$INCLUDE l{}\n", level + 1);
        std::fs::write(dir.join(format!("l{level}")), line.repeat(10)).expect("level");
    }
    std::fs::write(dir.join("l9"), "fan.example.com. 3600 IN A 192.0.2.9\n").expect("leaf");
    let started = Instant::now();
    let output = hsm
        .tool("zone-sign")
        .current_dir(dir)
        .timeout(Duration::from_secs(40))
        .args(["-o", "example.com", "-f", "out.signed", "--pin-file", "pin"])
        .args(["fan.zone", "pkcs11:object=zsk"])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "still reading includes after {:?}: {stderr}",
        started.elapsed()
    );
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("$INCLUDE"), "{stderr}");
    assert!(!dir.join("out.signed").exists());
}

/// Without --include-root a zone may include any regular file (as BIND's
/// may), but what it quotes from it must not be the PIN: an operator's
/// environment file `export PKCS11_PIN=…` is quoted as a record type.
#[test]
fn include_of_an_environment_file_never_prints_the_pin() {
    let (hsm, _keys, _) = setup();
    let dir = hsm.dir();
    let env_file = hsm.private_file(
        "signer.env",
        format!("export PKCS11_PIN={PIN}\n").as_bytes(),
    );
    let mut zone = std::fs::read_to_string(dir.join("example.com.zone")).expect("zone");
    zone.push_str(&format!("$INCLUDE {}\n", env_file.display()));
    std::fs::write(dir.join("env.zone"), zone).expect("zone");
    let output = hsm
        .tool("zone-sign")
        .current_dir(dir)
        .timeout(Duration::from_secs(60))
        .args(["-o", "example.com", "-f", "out.signed", "--pin-file", "pin"])
        .args(["env.zone", "pkcs11:object=zsk"])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains(PIN), "PIN echoed: {stderr}");
}

/// `$GENERATE` is capped by record count (10 million), not by what the
/// records hold: one 64-kB line of 250 TXT strings, a million times, is
/// 64 GB. Under a 400 MB address-space limit today's main dies of SIGABRT
/// ("memory allocation failed", exit 134) after ~20 s; a bound on the
/// generated bytes must refuse it with file:line first (if the chosen
/// bound is above ~300 MB, raise the limit here to match).
#[test]
fn generate_with_large_records_is_bounded_in_memory() {
    let (hsm, _keys, _) = setup();
    let dir = hsm.dir();
    let mut zone = std::fs::read_to_string(dir.join("example.com.zone")).expect("zone");
    let string = format!("\"{}\" ", "a".repeat(255));
    zone.push_str(&format!(
        "$GENERATE 1-1000000 big$ 3600 IN TXT {}\n",
        string.repeat(250)
    ));
    std::fs::write(dir.join("gen.zone"), zone).expect("zone");
    let output = std::process::Command::new("prlimit")
        .arg("--as=400000000")
        .arg(crate::hsm::tool_path("zone-sign"))
        .env("SOFTHSM2_CONF", dir.join("softhsm2.conf"))
        .env_remove("PKCS11_PIN")
        .current_dir(dir)
        .args(["-o", "example.com", "-f", "out.signed", "--pin-file", "pin"])
        .args(["gen.zone", "pkcs11:object=zsk"])
        .output()
        .expect("prlimit (util-linux) runs zone-sign");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("gen.zone:"), "{stderr}");
    assert!(!dir.join("out.signed").exists());
}

/// A planted `.private` whose `Label:` (base64, so it may hold any byte)
/// is not a URI: the message quotes it whole and raw, so a newline forges
/// a line of its own in cron mail and an escape sequence reaches the
/// terminal. It must be a short, escaped excerpt, as zone errors are.
#[test]
fn bad_labels_are_quoted_short_and_escaped() {
    let (hsm, keys, [_, zsk]) = setup();
    let private = keys.join(format!("{zsk}.private"));
    for label in [
        format!(
            "evil:x\nzone-sign: zone signed\x1b[2J{}\0",
            "A".repeat(3000)
        ),
        format!(
            "pkcs11:object=%ZZ\nzone-sign: zone signed\x1b[2J{}\0",
            "A".repeat(3000)
        ),
    ] {
        let encoded = data_encoding::BASE64.encode(label.as_bytes());
        let text = std::fs::read_to_string(&private).expect("private");
        let text: String = text
            .lines()
            .map(|line| {
                if line.starts_with("Label:") {
                    format!("Label: {encoded}\n")
                } else {
                    format!("{line}\n")
                }
            })
            .collect();
        std::fs::write(&private, text).expect("plant");
        let output = hsm
            .tool("zone-sign")
            .current_dir(hsm.dir())
            .timeout(Duration::from_secs(60))
            .args(["-S", "-K", "keys", "-o", "example.com", "--pin-file", "pin"])
            .arg("example.com.zone")
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "forged line: {stderr}");
        assert!(!stderr.contains('\x1b'), "escape sequence: {stderr:?}");
        assert!(stderr.len() < 600, "{} bytes of message", stderr.len());
    }
}

/// A key file may no longer carry a PIN, but its label still picks the
/// token: a planted `Label: pkcs11:token=victim;object=zsk` makes every
/// cron run present the operator's PIN (PKCS11_PIN) to another token or
/// HSM partition, whose PIN counter then runs down just as with the
/// planted pin-value of issue 10. The operator's PIN must only go to a
/// token the command line or environment chose (or the run must refuse
/// keys spread over tokens it was not told about) before any C_Login.
#[test]
fn key_file_label_cannot_send_the_pin_to_another_token() {
    let (hsm, keys, [_, zsk]) = setup();
    let init = std::process::Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", hsm.dir().join("softhsm2.conf"))
        .args(["--init-token", "--free", "--label", "victim"])
        .args(["--pin", "11112222", "--so-pin", "33334444"])
        .output()
        .expect("softhsm2-util");
    assert!(init.status.success(), "{init:?}");
    std::fs::copy(
        keys.join(format!("{zsk}.key")),
        keys.join("Kexample.com.+013+00000.key"),
    )
    .expect("copy key");
    let label = data_encoding::BASE64.encode(b"pkcs11:token=victim;object=zsk\0");
    hsm.private_file(
        "keys/Kexample.com.+013+00000.private",
        format!(
            "Private-key-format: v1.3\nAlgorithm: 13 (ECDSAP256SHA256)\n\
             Engine: cGtjczExAA==\nLabel: {label}\n"
        )
        .as_bytes(),
    );
    let output = hsm
        .tool("zone-sign")
        .current_dir(hsm.dir())
        .env("PKCS11_PIN", PIN)
        .timeout(Duration::from_secs(60))
        .args(["-S", "-K", "keys", "-o", "example.com", "-f", "out.signed"])
        .arg("example.com.zone")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("C_Login") && !stderr.contains("PIN is wrong"),
        "the operator's PIN was tried on the planted token: {stderr}"
    );
}

/// `KeyFileTrust::read` checks a key file with `metadata` (following the
/// name) and then opens the name again, blocking: a key file swapped for
/// a FIFO between the two hangs root's cron run for ever (runs then pile
/// up). Here a thread swaps the ZSK's `.key` with a FIFO as fast as it
/// can (renameat2 RENAME_EXCHANGE, as an attacker with write access to
/// the key directory would); on today's main a run hangs within ~50 tries.
#[test]
fn key_file_swapped_for_a_fifo_never_hangs() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let (hsm, keys, [_, zsk]) = setup();
    let key = keys.join(format!("{zsk}.key"));
    let fifo = keys.join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let stop = Arc::new(AtomicBool::new(false));
    let racer = {
        let (stop, key, fifo) = (stop.clone(), key.clone(), fifo.clone());
        std::thread::spawn(move || {
            let cwd = rustix::fs::CWD;
            while !stop.load(Ordering::Relaxed) {
                let _ = rustix::fs::renameat_with(
                    cwd,
                    &key,
                    cwd,
                    &fifo,
                    rustix::fs::RenameFlags::EXCHANGE,
                );
            }
        })
    };
    let mut hung = None;
    for attempt in 1..=150 {
        let mut child = std::process::Command::new(crate::hsm::tool_path("zone-sign"))
            .env("SOFTHSM2_CONF", hsm.dir().join("softhsm2.conf"))
            .env_remove("PKCS11_PIN")
            .current_dir(hsm.dir())
            .args(["-S", "-K", "keys", "-o", "example.com", "-f", "out.signed"])
            .args(["--pin-file", "pin", "example.com.zone"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("zone-sign");
        let started = Instant::now();
        let done = loop {
            if child.try_wait().expect("wait").is_some() {
                break true;
            }
            if started.elapsed() > Duration::from_secs(5) {
                break false;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        if !done {
            child.kill().ok();
            child.wait().ok();
            hung = Some(attempt);
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    racer.join().expect("racer");
    assert_eq!(
        hung, None,
        "zone-sign blocked on the FIFO (attempt {hung:?})"
    );
}

/// Input signatures are indexed by (owner, type), but every candidate for
/// a key is still verified over the whole RRset until one verifies: N
/// forged RRSIGs (right key tag, times inside the reuse window) over an
/// N-record RRset cost N^2 (debug build: 1000 -> 1 s, 2000 -> 3.6 s,
/// 4000 -> 11 s), from a 433-byte zone via two $GENERATE lines. Legitimate
/// input has one signature per key and RRset; time must stay linear.
#[test]
fn forged_signatures_over_a_large_rrset_cost_linear_time() {
    let (hsm, _keys, [_, zsk]) = setup();
    let tag: u16 = zsk.rsplit('+').next().expect("tag").parse().expect("tag");
    // P11DNSSEC_NOW 1800000000 is 2027-01-15 08:00 UTC: the forged
    // signatures run from a day before to 20 days after (the reuse window).
    let now = 1_800_000_000i64;
    let (expiration, inception) = ("20270204080000", "20270114080000");
    let dir = hsm.dir();
    let mut zone = std::fs::read_to_string(dir.join("example.com.zone")).expect("zone");
    let n = 6000;
    zone.push_str(&format!(
        "$GENERATE 1-{n} big 3600 IN TXT \"record-$-padding-padding-padding-padding-padding\"\n\
         $GENERATE 1-{n} big 3600 IN RRSIG TXT 13 3 3600 {} {} {tag} example.com. {}${{0,6,d}}A==\n",
        expiration,
        inception,
        "A".repeat(79)
    ));
    std::fs::write(dir.join("forged.zone"), zone).expect("zone");
    let started = Instant::now();
    let output = hsm
        .tool("zone-sign")
        .current_dir(dir)
        .env("P11DNSSEC_NOW", now.to_string())
        .timeout(Duration::from_secs(90))
        .args(["-S", "-K", "keys", "-o", "example.com", "-f", "out.signed"])
        .args(["--pin-file", "pin", "forged.zone"])
        .output()
        .expect("run");
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        elapsed < Duration::from_secs(30),
        "{n} forged RRSIGs took {elapsed:?}"
    );
}
