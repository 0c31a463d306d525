//! scripts/hsm-health-check against real SoftHSM2 tokens: a healthy token
//! and zone give OK in all three formats; each broken part (token gone,
//! wrong PIN, a key missing from the token, signatures about to expire)
//! gives the Nagios code a monitoring system acts on, and a line naming it.

use crate::hsm::{data_dir, tool_path, Hsm, PIN};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/hsm-health-check")
}

/// A token with a KSK and a ZSK, their key files, and example.com signed
/// with them (signatures valid for `validity`, zone-sign's -e syntax).
struct Setup {
    hsm: Hsm,
    keys: PathBuf,
    signed: PathBuf,
    pin_file: PathBuf,
}

fn setup(validity: &str) -> Setup {
    let hsm = Hsm::new();
    let keys = hsm.dir().join("keys");
    std::fs::create_dir(&keys).expect("key dir");
    hsm.ksk_and_zsk_key_files("ECDSAP256SHA256", &keys);
    let signed = hsm.dir().join("example.com.signed");
    let output = hsm
        .tool("zone-sign")
        .args(["-S", "-K"])
        .arg(&keys)
        .args(["-e", validity, "-o", "example.com", "--pin", PIN, "-f"])
        .arg(&signed)
        .arg(data_dir().join("zones/example.com.zone"))
        .output()
        .expect("zone-sign");
    assert!(output.status.success(), "{}", stderr(&output));
    let pin_file = hsm.private_file("pin", format!("{PIN}\n").as_bytes());
    Setup {
        hsm,
        keys,
        signed,
        pin_file,
    }
}

impl Setup {
    fn check(&self, args: &[&str]) -> Output {
        let bin = tool_path("zone-sign");
        self.hsm
            .command("python3")
            .arg(script())
            .arg("--bin")
            .arg(bin.parent().expect("bin dir"))
            .arg("--pin-file")
            .arg(&self.pin_file)
            .args(args)
            .output()
            .expect("python3 must be installed (scripts/install-deps installs it)")
    }

    fn zone_arg(&self) -> String {
        format!("example.com.={}", self.signed.display())
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_no_pin(output: &Output) {
    for text in [stdout(output), stderr(output)] {
        assert!(!text.contains(PIN), "the PIN was printed: {text}");
    }
}

#[test]
fn healthy_token_and_zone_are_ok_in_text_json_and_prometheus() {
    let setup = setup("+30d");
    let metrics = setup.hsm.dir().join("metrics.prom");
    let keys = setup.keys.to_str().expect("path").to_string();
    let zone = setup.zone_arg();
    let text = setup.check(&[
        "-K",
        &keys,
        "--zone",
        &zone,
        "--prometheus",
        metrics.to_str().expect("path"),
        "--speed-seconds",
        "0.2",
    ]);
    assert_eq!(
        text.status.code(),
        Some(0),
        "{}{}",
        stdout(&text),
        stderr(&text)
    );
    let report = stdout(&text);
    let first = report.lines().next().unwrap_or_default();
    assert!(first.starts_with("HSM OK - "), "{report}");
    assert!(first.contains("ksk_keys=1 zsk_keys=1"), "{report}");
    assert!(report.contains("OK: keys: 1 KSK, 1 ZSK"), "{report}");
    assert!(report.contains("OK: zone example.com.: valid"), "{report}");
    assert_no_pin(&text);

    let prom = std::fs::read_to_string(&metrics).expect("metrics written");
    for line in [
        "p11dnssec_hsm_health_status{token=\"test\"} 0",
        "p11dnssec_hsm_token_present{token=\"test\"} 1",
        "p11dnssec_hsm_login_ok{token=\"test\"} 1",
        "p11dnssec_hsm_keys{token=\"test\",role=\"ksk\"} 1",
        "p11dnssec_hsm_keys{token=\"test\",role=\"zsk\"} 1",
        "p11dnssec_zone_valid{zone=\"example.com.\"} 1",
    ] {
        assert!(prom.lines().any(|l| l == line), "no '{line}' in\n{prom}");
    }
    assert!(prom.contains(
        "p11dnssec_hsm_signatures_per_second{token=\"test\",algorithm=\"ECDSAP256SHA256\"} "
    ));

    let json = setup.check(&["-K", &keys, "--zone", &zone, "--json", "--no-speed"]);
    assert_eq!(json.status.code(), Some(0), "{}", stdout(&json));
    let parsed: serde_json::Value = serde_json::from_slice(&json.stdout).expect("one JSON object");
    assert_eq!(parsed["status"], "OK");
    assert_eq!(parsed["keys"]["ksk"], 1);
    assert_eq!(parsed["keys"]["zsk"], 1);
    assert_eq!(parsed["token"]["label"], "test");
    assert!(parsed["signing_rate"].is_null());
    let left = parsed["zones"][0]["seconds_left"]
        .as_i64()
        .expect("a number");
    assert!(left > 29 * 86400 && left <= 30 * 86400, "{left}");
}

#[test]
fn a_wrong_pin_is_critical_and_costs_one_login_try() {
    let setup = setup("+30d");
    let bad = setup.hsm.private_file("bad-pin", b"11111111\n");
    let output = setup.check(&["--pin-file", bad.to_str().expect("path")]);
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    let report = stdout(&output);
    assert!(
        report.starts_with("HSM CRITICAL - login or listing failed"),
        "{report}"
    );
    assert!(report.contains("CKR_PIN_INCORRECT"), "{report}");
    // No second login (the signing test) after the first failed.
    assert!(!report.contains("signing"), "{report}");
    assert_no_pin(&output);
}

#[test]
fn a_missing_token_and_a_missing_key_are_critical_and_named() {
    let setup = setup("+30d");
    let gone = setup.check(&["--token", "no-such-token"]);
    assert_eq!(gone.status.code(), Some(2), "{}", stdout(&gone));
    assert!(stdout(&gone).starts_with("HSM CRITICAL - token 'no-such-token' is not present"));

    // The ZSK destroyed on the token while its key files stay.
    setup
        .hsm
        .run_ok("pkcs11-destroy", &["-l", "zsk", "-w", "0"]);
    let keys = setup.keys.to_str().expect("path").to_string();
    let missing = setup.check(&["-K", &keys, "--no-speed"]);
    assert_eq!(missing.status.code(), Some(2), "{}", stdout(&missing));
    let report = stdout(&missing);
    assert!(
        report.contains("key files name keys the token does not hold: Kexample.com.+013+"),
        "{report}"
    );
    assert!(report.contains("(ZSK, object 'zsk')"), "{report}");
}

#[test]
fn signatures_near_expiry_warn_then_go_critical() {
    let setup = setup("+5d");
    let zone = setup.zone_arg();
    let warn = setup.check(&["--zone", &zone, "--no-speed"]);
    assert_eq!(warn.status.code(), Some(1), "{}", stdout(&warn));
    assert!(
        stdout(&warn).starts_with("HSM WARNING - a signature expires in 4d"),
        "{}",
        stdout(&warn)
    );

    let critical = setup.check(&["--zone", &zone, "--no-speed", "--expire-crit", "6d"]);
    assert_eq!(critical.status.code(), Some(2), "{}", stdout(&critical));

    // Four days on, zone-verify itself finds the zone expired.
    let later = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 6 * 86400)
        .to_string();
    let expired = setup
        .hsm
        .command("python3")
        .arg(script())
        .env("P11DNSSEC_NOW", &later)
        .arg("--bin")
        .arg(tool_path("zone-verify").parent().expect("bin dir"))
        .args(["--zone", &zone, "--no-speed", "--token", "test"])
        .arg("--pin-file")
        .arg(&setup.pin_file)
        .output()
        .expect("run");
    assert_eq!(expired.status.code(), Some(2), "{}", stdout(&expired));
    assert!(
        stdout(&expired).contains("CRITICAL: zone example.com.: invalid"),
        "{}",
        stdout(&expired)
    );
}

#[test]
fn usage_errors_are_unknown_not_critical() {
    let output = Command::new("python3")
        .arg(script())
        .arg("--no-such-option")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(3));
    let output = Command::new("python3")
        .arg(script())
        .args(["--bin", "/nonexistent"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(3));
    assert!(stdout(&output).starts_with("HSM UNKNOWN - pkcs11-tokens not found in '/nonexistent'"));
}

#[test]
fn planted_files_neither_block_nor_redirect_the_check() {
    let setup = setup("+30d");
    // A FIFO posing as a key file: the check must not wait on it.
    let fifo = setup.keys.join("Kexample.com.+013+00001.private");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    std::fs::write(setup.keys.join("Kexample.com.+013+00001.key"), "x").expect("key");
    let keys = setup.keys.to_str().expect("path").to_string();
    let started = std::time::Instant::now();
    let blocked = setup.check(&["-K", &keys, "--no-speed", "--timeout", "20"]);
    assert!(started.elapsed().as_secs() < 20, "waited on the FIFO");
    assert_eq!(blocked.status.code(), Some(3), "{}", stdout(&blocked));
    assert!(
        stdout(&blocked).contains("is not a regular file"),
        "{}",
        stdout(&blocked)
    );
    std::fs::remove_file(&fifo).expect("rm fifo");
    std::fs::remove_file(setup.keys.join("Kexample.com.+013+00001.key")).expect("rm");

    // The textfile's name planted as a symlink to another file: the link is
    // replaced, the file it points to untouched.
    let victim = setup.hsm.dir().join("victim");
    std::fs::write(&victim, "precious\n").expect("victim");
    let metrics = setup.hsm.dir().join("hsm.prom");
    std::os::unix::fs::symlink(&victim, &metrics).expect("symlink");
    let output = setup.check(&[
        "--no-speed",
        "--prometheus",
        metrics.to_str().expect("path"),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert_eq!(
        std::fs::read_to_string(&victim).expect("victim"),
        "precious\n"
    );
    let written = std::fs::symlink_metadata(&metrics).expect("metrics");
    assert!(written.file_type().is_file(), "still a symlink");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(written.permissions().mode() & 0o777, 0o644);
}
