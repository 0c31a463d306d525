//! Faults injected between the tools and SoftHSM2 by the test PKCS#11
//! module (tests/fault-module): lost sessions are reopened, device errors
//! end the run at once, bad signatures never reach the zone, and every
//! failure leaves the previous output as it was.

use crate::hsm::{data_dir, Hsm, PIN};
use std::path::PathBuf;
use std::process::Output;

/// The fault module, built on first use if the test run did not build it.
fn fault_module() -> PathBuf {
    crate::hsm::fault_crate_artifact("libp11_fault.so")
}

struct Setup {
    hsm: Hsm,
    keys: PathBuf,
    zone: PathBuf,
    output: PathBuf,
}

fn setup() -> Setup {
    let hsm = Hsm::new();
    let keys = hsm.dir().join("keys");
    std::fs::create_dir(&keys).expect("keys");
    let keys_text = keys.to_str().expect("path");
    hsm.run_ok("pkcs11-keygen", &["-a", "ECDSAP256SHA256", "-l", "ksk"]);
    hsm.run_ok("pkcs11-keygen", &["-a", "ECDSAP256SHA256", "-l", "zsk"]);
    hsm.run_ok(
        "dnskey-from-label",
        &["-l", "ksk", "-f", "KSK", "-K", keys_text, "example.com"],
    );
    hsm.run_ok(
        "dnskey-from-label",
        &["-l", "zsk", "-K", keys_text, "example.com"],
    );
    let zone = hsm.dir().join("example.com.zone");
    std::fs::copy(data_dir().join("zones/example.com.zone"), &zone).expect("zone");
    let output = hsm.dir().join("example.com.zone.signed");
    std::fs::write(&output, "; the previous zone\n").expect("old output");
    Setup {
        hsm,
        keys,
        zone,
        output,
    }
}

impl Setup {
    fn sign(&self, faults: &[(&str, &str)], extra: &[&str]) -> Output {
        let mut command = self.hsm.tool("zone-sign");
        command.current_dir(self.hsm.dir());
        for (name, value) in faults {
            command.env(format!("P11FAULT_{name}"), value);
        }
        command
            .args([
                "-S",
                "-K",
                self.keys.to_str().expect("p"),
                "-o",
                "example.com",
                "-q",
            ])
            .arg("--module")
            .arg(fault_module())
            .args(["--pin", PIN])
            .args(extra)
            .arg(&self.zone)
            .output()
            .expect("run zone-sign")
    }

    fn old_output_kept(&self) -> bool {
        std::fs::read_to_string(&self.output).expect("output") == "; the previous zone\n"
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn lost_sessions_are_reopened_and_the_zone_validates() {
    let setup = setup();
    for code in [
        "CKR_SESSION_HANDLE_INVALID",
        "CKR_SESSION_CLOSED",
        "CKR_USER_NOT_LOGGED_IN",
        "CKR_DEVICE_REMOVED",
    ] {
        for workers in ["1", "2"] {
            let output = setup.sign(
                &[("FUNCTION", "C_Sign"), ("ACTION", code), ("NTH", "7")],
                &["-n", workers],
            );
            assert!(output.status.success(), "{code}: {}", stderr(&output));
            let text = stderr(&output);
            assert!(
                text.contains(&format!("C_Sign: {code}"))
                    && text.contains("reopening the session and signing again (1/3)"),
                "{text}"
            );
            crate::zone_sign::assert_validates(&setup.output, "example.com", &[]);
        }
    }
    // Repeated losses (every 9th signature) are each recovered from.
    let output = setup.sign(
        &[
            ("FUNCTION", "C_Sign"),
            ("ACTION", "CKR_SESSION_HANDLE_INVALID"),
            ("EVERY", "9"),
        ],
        &["-n", "1"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).matches("reopening the session").count() >= 3);
    crate::zone_sign::assert_validates(&setup.output, "example.com", &[]);
}

#[test]
fn a_token_that_stays_away_is_given_up_on_after_bounded_retries() {
    let setup = setup();
    let started = std::time::Instant::now();
    let output = setup.sign(
        &[
            ("FUNCTION", "C_Sign"),
            ("ACTION", "CKR_TOKEN_NOT_PRESENT"),
            ("AFTER_MS", "0"),
        ],
        &["-n", "1"],
    );
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert_eq!(
        text.matches("reopening the session and signing again")
            .count(),
        3,
        "{text}"
    );
    assert!(text.contains("gave up after 3 attempts"), "{text}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "retries must be bounded"
    );
    assert!(setup.old_output_kept());
}

#[test]
fn device_errors_fail_at_once() {
    let setup = setup();
    for (function, code) in [
        ("C_Sign", "CKR_DEVICE_ERROR"),
        ("C_Sign", "CKR_GENERAL_ERROR"),
        ("C_Login", "CKR_DEVICE_ERROR"),
        ("C_OpenSession", "CKR_DEVICE_ERROR"),
    ] {
        let output = setup.sign(
            &[("FUNCTION", function), ("ACTION", code), ("NTH", "1")],
            &["-n", "1"],
        );
        assert_eq!(output.status.code(), Some(1), "{function} {code}");
        let text = stderr(&output);
        assert!(
            !text.contains("reopening"),
            "{function} {code}: no retry on a device error: {text}"
        );
        assert!(text.contains(&format!("{function}: {code}")), "{text}");
        assert!(setup.old_output_kept(), "{function} {code}");
    }
}

#[test]
fn a_bad_signature_from_the_token_is_never_written() {
    let setup = setup();
    // One flipped bit: caught, signed again on a fresh session.
    let output = setup.sign(
        &[("FUNCTION", "C_Sign"), ("ACTION", "flip"), ("NTH", "4")],
        &["-n", "1"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("failed verification; signing again on a fresh session"));
    crate::zone_sign::assert_validates(&setup.output, "example.com", &[]);
    // Every signature bad: the run stops and writes nothing.
    std::fs::write(&setup.output, "; the previous zone\n").expect("old");
    let output = setup.sign(
        &[("FUNCTION", "C_Sign"), ("ACTION", "flip"), ("EVERY", "1")],
        &["-n", "1"],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("does not verify, twice; nothing was written"),
        "{}",
        stderr(&output)
    );
    assert!(setup.old_output_kept());
}

#[test]
fn a_slow_network_hsm_with_many_sessions_signs_correctly() {
    let setup = setup();
    let output = setup.sign(&[("LATENCY_US", "2000")], &["-n", "16"]);
    assert!(output.status.success(), "{}", stderr(&output));
    crate::zone_sign::assert_validates(&setup.output, "example.com", &[]);
}

#[test]
fn token_tools_report_faults_in_one_line() {
    let hsm = Hsm::new();
    let module = fault_module();
    let module = module.to_str().expect("path");
    for (tool, args, function) in [
        (
            "pkcs11-keygen",
            &["-a", "ECC", "-l", "k"][..],
            "C_GenerateKeyPair",
        ),
        ("pkcs11-list", &[][..], "C_FindObjectsInit"),
        (
            "pkcs11-destroy",
            &["--all", "-w", "0"][..],
            "C_FindObjectsInit",
        ),
        (
            "dnskey-from-label",
            &["-l", "k", "example.com"][..],
            "C_FindObjectsInit",
        ),
    ] {
        let output = hsm
            .tool(tool)
            .env("P11FAULT_FUNCTION", function)
            .env("P11FAULT_ACTION", "CKR_DEVICE_ERROR")
            .env("P11FAULT_NTH", "1")
            .args(["-m", module, "-p", PIN])
            .args(args)
            .output()
            .expect("run");
        assert_eq!(output.status.code(), Some(1), "{tool}");
        let text = stderr(&output);
        assert_eq!(text.lines().count(), 1, "{tool}: {text}");
        assert!(
            text.contains(&format!("{function}: CKR_DEVICE_ERROR")) && !text.contains(PIN),
            "{tool}: {text}"
        );
    }
    assert_eq!(
        hsm.run_ok("pkcs11-list", &[]).matches("object[").count(),
        0,
        "nothing was created"
    );
}
