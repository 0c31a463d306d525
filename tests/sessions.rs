//! `zone-sign -n auto`: the session count found by measuring. It signs a
//! zone validators accept, its output is that of `-n 1` byte for byte
//! (Ed25519), and on a slow token (the fault module's latency, a network
//! HSM) it opens more than one session. No timing is asserted.

use crate::hsm::{Hsm, PIN};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

struct Setup {
    hsm: Hsm,
    keys: PathBuf,
    zone: PathBuf,
    /// Signature times pinned for every run of a test (around the real
    /// now: the keys are active from when they were made): RSA and Ed25519
    /// output then depends on nothing else.
    times: [String; 2],
    /// `P11DNSSEC_NOW` for every run (the header's time).
    now: String,
}

/// A token with a KSK and a ZSK of `algorithm` and a zone of `delegations`
/// delegations (a third with DS), enough RRsets for the ramp to measure.
fn setup(algorithm: &str, delegations: usize) -> Setup {
    let hsm = Hsm::new();
    let keys = hsm.dir().join("keys");
    std::fs::create_dir(&keys).expect("keys");
    hsm.ksk_and_zsk_key_files(algorithm, &keys);
    let mut text = String::from(
        "$TTL 3600\n$ORIGIN example.com.\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n\
         @ NS ns1\nns1 A 192.0.2.1\n",
    );
    for i in 0..delegations {
        let _ = writeln!(text, "d{i:05} NS ns.example.net.");
        if i % 3 == 0 {
            let _ = writeln!(text, "d{i:05} DS {} 13 2 {:064X}", i % 65536, i);
        }
    }
    let zone = hsm.dir().join("example.com.zone");
    std::fs::write(&zone, text).expect("zone");
    let now = crate::hsm::real_now();
    let times = [
        crate::hsm::stamp(now - 3600),
        crate::hsm::stamp(now + 30 * 86400),
    ];
    Setup {
        hsm,
        keys,
        zone,
        times,
        now: now.to_string(),
    }
}

impl Setup {
    /// Signs into `output` with `extra` options, through the fault module
    /// with this latency per call when `latency_us` is given; the `--json`
    /// statistics.
    fn sign(&self, output: &Path, latency_us: Option<&str>, extra: &[&str]) -> serde_json::Value {
        self.sign_with(output, latency_us, &[], extra)
    }

    /// [`Setup::sign`] with more fault-module variables.
    fn sign_with(
        &self,
        output: &Path,
        latency_us: Option<&str>,
        faults: &[(&str, &str)],
        extra: &[&str],
    ) -> serde_json::Value {
        let mut command = self.hsm.tool("zone-sign");
        command.envs(faults.iter().copied());
        command
            .current_dir(self.hsm.dir())
            .env("P11DNSSEC_NOW", &self.now);
        if let Some(latency) = latency_us {
            command
                .env("P11FAULT_LATENCY_US", latency)
                .arg("--module")
                .arg(crate::hsm::fault_crate_artifact("libp11_fault.so"));
        }
        let run = command
            .args(["-S", "-K", self.keys.to_str().expect("path")])
            .args([
                "-o",
                "example.com",
                "-s",
                &self.times[0],
                "-e",
                &self.times[1],
            ])
            .args(["--pin", PIN, "-q", "--json", "-f"])
            .arg(output)
            .args(extra)
            .arg(&self.zone)
            .output()
            .expect("run zone-sign");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(run.status.success(), "{stderr}");
        serde_json::from_slice(&run.stdout).expect("--json statistics")
    }
}

/// The sessions `-n auto` kept, from its `--json` report.
fn sessions_kept(stats: &serde_json::Value) -> u64 {
    stats["auto"]["sessions_kept"]
        .as_u64()
        .unwrap_or_else(|| panic!("no auto report: {stats}"))
}

#[test]
fn auto_signs_a_zone_that_dnssec_verify_accepts() {
    let setup = setup("ECDSAP256SHA256", 300);
    let output = setup.hsm.dir().join("signed");
    let stats = setup.sign(&output, None, &["-n", "auto"]);
    assert!(sessions_kept(&stats) >= 1, "{stats}");
    crate::zone_sign::assert_validates(&output, "example.com", &[]);
}

#[test]
fn auto_is_the_default_and_reports_its_ramp() {
    let setup = setup("ECDSAP256SHA256", 300);
    let output = setup.hsm.dir().join("signed");
    let stats = setup.sign(&output, None, &[]);
    let kept = sessions_kept(&stats);
    let steps = stats["auto"]["steps"].as_array().expect("steps");
    assert!(
        steps.iter().all(|s| s["sessions"].as_u64().is_some()),
        "{stats}"
    );
    assert!(stats["auto"]["reason"].as_str().is_some(), "{stats}");
    // Every session that signed is in the per-session list, the kept ones
    // among them.
    let used = stats["sessions"].as_array().expect("sessions").len() as u64;
    assert!(used >= kept, "{stats}");
}

#[test]
fn auto_output_equals_one_session_output_byte_for_byte() {
    let setup = setup("ED25519", 1500);
    let one = setup.hsm.dir().join("one.signed");
    let auto = setup.hsm.dir().join("auto.signed");
    setup.sign(&one, None, &["-n", "1"]);
    // The latency makes auto open several sessions, so that the RRsets
    // are signed out of order by different sessions.
    let stats = setup.sign(&auto, Some("2000"), &["-n", "auto"]);
    assert!(
        stats["sessions"].as_array().expect("sessions").len() > 1,
        "{stats}"
    );
    let one = std::fs::read_to_string(&one).expect("-n 1 output");
    let auto = std::fs::read_to_string(&auto).expect("-n auto output");
    let differ = one.lines().zip(auto.lines()).find(|(a, b)| a != b);
    assert!(
        one == auto,
        "-n auto and -n 1 outputs differ: {differ:?} ({} and {} lines)",
        one.lines().count(),
        auto.lines().count()
    );
}

#[test]
fn auto_on_a_slow_token_opens_more_than_one_session() {
    let setup = setup("ECDSAP256SHA256", 1500);
    let output = setup.hsm.dir().join("signed");
    let stats = setup.sign(&output, Some("2000"), &[]);
    assert!(sessions_kept(&stats) > 1, "{stats}");
    let steps = stats["auto"]["steps"].as_array().expect("steps");
    assert!(steps.len() > 1, "{stats}");
    crate::zone_sign::assert_validates(&output, "example.com", &[]);
}

#[test]
fn a_fixed_session_count_makes_no_auto_report() {
    let setup = setup("ECDSAP256SHA256", 30);
    let output = setup.hsm.dir().join("signed");
    let stats = setup.sign(&output, None, &["-n", "auto", "-n", "2"]);
    assert!(stats.get("auto").is_none(), "{stats}");
    assert_eq!(stats["sessions"].as_array().expect("sessions").len(), 2);
}

#[test]
fn auto_stays_within_the_token_session_limit() {
    let setup = setup("ECDSAP256SHA256", 1500);
    let output = setup.hsm.dir().join("signed");
    // Without the limit this latency has auto open 16 sessions or more.
    let limit = [("P11FAULT_MAX_SESSIONS", "3")];
    let stats = setup.sign_with(&output, Some("2000"), &limit, &["-n", "auto"]);
    let used = stats["sessions"].as_array().expect("sessions").len();
    assert!(used <= 3, "{stats}");
    assert!(sessions_kept(&stats) <= 3, "{stats}");
    let steps = stats["auto"]["steps"].as_array().expect("steps");
    assert!(
        steps.iter().all(|s| s["sessions"].as_u64() <= Some(3)),
        "{stats}"
    );
}

#[test]
fn auto_goes_on_with_the_sessions_it_has_when_the_token_refuses_one() {
    let setup = setup("ECDSAP256SHA256", 1500);
    let output = setup.hsm.dir().join("signed");
    // The first C_OpenSession is the run's own session, the second the
    // ramp's first extra one; the third (of the step to 16) is refused.
    let refuse = [
        ("P11FAULT_FUNCTION", "C_OpenSession"),
        ("P11FAULT_ACTION", "0xB1"), // CKR_SESSION_COUNT
        ("P11FAULT_NTH", "3"),
    ];
    let stats = setup.sign_with(&output, Some("2000"), &refuse, &["-n", "auto"]);
    // The refusal ends the ramp at 2 (3 when the other worker opened one
    // at the same moment) instead of the 16 it was growing to.
    let kept = sessions_kept(&stats);
    assert!((2..=3).contains(&kept), "{stats}");
    crate::zone_sign::assert_validates(&output, "example.com", &[]);
}
