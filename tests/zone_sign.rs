//! zone-sign end to end: keys in a real SoftHSM2 token, zones checked by
//! outside judges (BIND's dnssec-verify and ldns-verify-zone).

use crate::hsm::{data_dir, Hsm, PIN};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A token with a KSK and a ZSK of `algorithm`, their BIND key files in
/// `keys/`, a PIN file, and the fixture zone copied in.
struct Signing {
    hsm: Hsm,
    keys: PathBuf,
    pin_file: PathBuf,
    zone: PathBuf,
}

fn setup(algorithm: &str) -> Signing {
    let hsm = Hsm::new();
    let pin_file = hsm.private_file("pin", PIN.as_bytes());
    let keys = hsm.dir().join("keys");
    std::fs::create_dir(&keys).expect("keys dir");
    hsm.ksk_and_zsk_key_files(algorithm, &keys);
    let zone = hsm.dir().join("example.com.zone");
    std::fs::copy(data_dir().join("zones/example.com.zone"), &zone).expect("copy zone");
    Signing {
        hsm,
        keys,
        pin_file,
        zone,
    }
}

impl Signing {
    fn sign(&self, extra: &[&str]) -> Output {
        self.sign_file(&self.zone, extra)
    }

    /// Signs `input` (the fixture zone, or a zone signed before).
    fn sign_file(&self, input: &Path, extra: &[&str]) -> Output {
        self.hsm
            .tool("zone-sign")
            .current_dir(self.hsm.dir())
            .args([
                "-S",
                "-K",
                self.keys.to_str().expect("path"),
                "-o",
                "example.com",
            ])
            .args(["--pin-file", self.pin_file.to_str().expect("path")])
            .args(extra)
            .arg(input)
            .output()
            .expect("run zone-sign")
    }

    fn signed_path(&self) -> PathBuf {
        PathBuf::from(format!("{}.signed", self.zone.display()))
    }
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Both validators accept the signed zone.
pub fn assert_validates(signed: &Path, origin: &str, verify_flags: &[&str]) {
    let bind = Command::new("dnssec-verify")
        .args(verify_flags)
        .args(["-o", origin])
        .arg(signed)
        .output()
        .expect("dnssec-verify must be installed (scripts/test installs bind9-utils)");
    let text = ok(&bind);
    assert!(text.contains("Zone fully signed"), "{text}");
    let ldns = Command::new("timeout")
        .args(["120", "ldns-verify-zone"])
        .arg(signed)
        .output()
        .expect("ldns-verify-zone must be installed (scripts/test installs ldnsutils)");
    assert!(
        ldns.status.success(),
        "ldns-verify-zone: {}{}",
        String::from_utf8_lossy(&ldns.stdout),
        String::from_utf8_lossy(&ldns.stderr)
    );
}

fn signed_text(signing: &Signing) -> String {
    std::fs::read_to_string(signing.signed_path()).expect("signed zone")
}

#[test]
fn every_algorithm_and_denial_mode_validates() {
    for algorithm in ["ECDSAP256SHA256", "RSASHA256", "ED25519"] {
        let signing = setup(algorithm);
        for mode in [
            &[][..],
            &["-3", "-"],
            &["-3", "-", "-A"],
            &["-3", "aabbccdd", "-H", "3", "-O", "full"],
        ] {
            let report = ok(&signing.sign(mode));
            assert!(report.contains("Zone fully signed:"), "{report}");
            assert!(
                report.ends_with(&format!("{}\n", signing.signed_path().display())),
                "{report}"
            );
            assert_validates(&signing.signed_path(), "example.com", &[]);
            let text = signed_text(&signing);
            if mode.is_empty() {
                assert!(text.contains("NSEC\t"), "{algorithm}: no NSEC");
            } else {
                assert!(
                    text.contains("NSEC3PARAM"),
                    "{algorithm} {mode:?}: no NSEC3PARAM"
                );
            }
        }
    }
}

#[test]
fn glue_and_occluded_data_are_not_signed_and_not_in_the_chain() {
    let signing = setup("ECDSAP256SHA256");
    ok(&signing.sign(&["-O", "full"]));
    let text = signed_text(&signing);
    let lines_of = |owner: &str| -> Vec<&str> {
        text.lines()
            .filter(|l| l.starts_with(&format!("{owner} ")))
            .collect()
    };
    for occluded in ["ns.insecure.example.com.", "x.dname.example.com."] {
        let lines = lines_of(occluded);
        assert_eq!(lines.len(), 1, "{occluded}: {lines:?}");
        assert!(lines[0].contains(" A "), "{lines:?}");
        assert!(
            !text.contains(&format!(" NSEC {occluded}")),
            "{occluded} is in the NSEC chain"
        );
    }
    // The insecure delegation: NS unsigned, NSEC signed, bitmap NS RRSIG NSEC.
    let insecure = lines_of("insecure.example.com.");
    assert!(
        insecure
            .iter()
            .any(|l| l.contains(" NSEC ") && l.ends_with("NS RRSIG NSEC")),
        "{insecure:?}"
    );
    assert!(
        !insecure.iter().any(|l| l.contains("RRSIG NS ")),
        "{insecure:?}"
    );
    let secure = lines_of("secure.example.com.");
    assert!(secure.iter().any(|l| l.contains("RRSIG DS ")), "{secure:?}");
    // Case and escapes survive; out-of-zone NS targets stay as they are.
    assert!(
        text.contains("Mail.example.com. 3600 IN A 192.0.2.2"),
        "case lost"
    );
    assert!(
        text.contains("odd\\.name.example.com. 3600 IN A 192.0.2.7"),
        "escape lost"
    );
    assert!(
        text.contains("unknown.example.com. 3600 IN TYPE65280 \\# 4 0A000001"),
        "unknown type"
    );
}

#[test]
fn the_guides_sign_command_works_with_our_keys() {
    let signing = setup("RSASHA256");
    let now = common_now();
    let output = signing
        .hsm
        .tool("zone-sign")
        .current_dir(signing.hsm.dir())
        .env("PKCS11_PIN", PIN)
        .args([
            "-S",
            "-K",
            signing.keys.to_str().expect("p"),
            "-o",
            "example.com",
            "-e",
            "+31536000",
        ])
        .arg(&signing.zone)
        .output()
        .expect("run");
    ok(&output);
    assert_validates(&signing.signed_path(), "example.com", &[]);
    // -e +N counts from the inception (now - 3600).
    let text = signed_text(&signing);
    let rrsig = text
        .lines()
        .find(|l| l.contains("RRSIG\tSOA"))
        .expect("SOA RRSIG");
    let tokens: Vec<&str> = rrsig.split_whitespace().collect();
    let at = tokens.iter().position(|t| *t == "RRSIG").expect("RRSIG");
    let expiration = tokens[at + 5];
    let year_ahead = (now - 3600 + 31_536_000) as u64;
    let expected_prefix = format_utc(year_ahead);
    assert_eq!(&expiration[..8], &expected_prefix[..8], "{rrsig}");
    // The DS set BIND writes, for the KSK only.
    let dsset =
        std::fs::read_to_string(signing.hsm.dir().join("dsset-example.com.")).expect("dsset");
    assert_eq!(dsset.lines().count(), 1, "{dsset}");
    assert!(dsset.starts_with("example.com.\t\tIN DS "), "{dsset}");
}

fn common_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

fn format_utc(seconds: u64) -> String {
    let output = Command::new("date")
        .args(["-u", "-d", &format!("@{seconds}"), "+%Y%m%d%H%M%S"])
        .output()
        .expect("date");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

#[test]
fn rfc8080_rrsigs_are_reproduced_through_the_token() {
    let hsm = Hsm::new();
    let pin_file = hsm.private_file("pin", PIN.as_bytes());
    let vectors =
        std::fs::read_to_string(data_dir().join("keys/rfc8080-vectors.txt")).expect("vectors");
    for block in vectors.split("\n\n").filter(|b| b.contains("rrsig:")) {
        let field = |name: &str| {
            block
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                .unwrap_or_else(|| panic!("{name}"))
        };
        let pem = data_dir().join("keys").join(field("pem"));
        let label = field("id");
        hsm.import_pem(&pem, label, "01");
        let zone = hsm.dir().join(format!("{label}.zone"));
        std::fs::write(
            &zone,
            format!(
                "example.com. 3600 IN SOA ns hm 1 2 3 4 5\n{}\n",
                field("rrset")
            ),
        )
        .expect("zone");
        let output = hsm
            .tool("zone-sign")
            .current_dir(hsm.dir())
            .args([
                "-o",
                "example.com",
                "-s",
                field("inception_epoch"),
                "-e",
                field("expiration_epoch"),
                "-f",
                "-",
                "-P",
            ])
            .args(["--pin-file", pin_file.to_str().expect("p")])
            .arg(&zone)
            .arg(format!("pkcs11:object={label}"))
            .output()
            .expect("run");
        let text = ok(&output);
        let expected: Vec<&str> = field("rrsig").split_whitespace().collect();
        let covered = expected[4];
        let line = text
            .lines()
            .find(|l| l.contains(&format!(" RRSIG {covered} ")))
            .unwrap_or_else(|| panic!("{label}: no RRSIG {covered}: {text}"));
        let ours: Vec<&str> = line.split_whitespace().collect();
        let signature: String = expected[12..].concat();
        assert_eq!(ours[4..12], expected[4..12], "{label}: RRSIG fields");
        assert_eq!(ours[12..].concat(), signature, "{label}: signature bytes");
        hsm.run_ok("pkcs11-destroy", &["-l", label, "-w", "0"]);
    }
}

#[test]
fn streaming_from_stdin_to_stdout_and_dnssec_only_output() {
    let signing = setup("ED25519");
    let zone_text = std::fs::read(&signing.zone).expect("zone");
    let output = signing
        .hsm
        .tool("zone-sign")
        .current_dir(signing.hsm.dir())
        .args([
            "-S",
            "-K",
            signing.keys.to_str().expect("p"),
            "-o",
            "example.com",
            "-q",
        ])
        .args(["--pin-file", signing.pin_file.to_str().expect("p"), "-"])
        .write_stdin(zone_text)
        .output()
        .expect("run");
    let text = ok(&output);
    assert!(
        text.lines()
            .any(|l| l.starts_with("example.com. 3600 IN SOA ")),
        "full style on stdout"
    );
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let path = signing.hsm.dir().join("piped.signed");
    std::fs::write(&path, &text).expect("write");
    assert_validates(&path, "example.com", &[]);
    let output = signing.sign(&["-D", "-f", "-", "-q"]);
    let text = ok(&output);
    for line in text.lines().filter(|l| !l.starts_with(';')) {
        let rtype = line.split_whitespace().nth(3).expect("type");
        assert!(["RRSIG", "NSEC", "DNSKEY"].contains(&rtype), "{line}");
    }
}

#[test]
fn serial_and_validity_options() {
    let signing = setup("ECDSAP256SHA256");
    ok(&signing.sign(&[
        "-N",
        "increment",
        "-s",
        "20300101000000",
        "-e",
        "20300201000000",
        "-X",
        "20300301000000",
        "-P",
        "-O",
        "full",
    ]));
    let text = signed_text(&signing);
    assert!(
        text.contains(" SOA ns1.example.com. hostmaster.example.com. 2024010102 "),
        "serial"
    );
    let soa_sig = text
        .lines()
        .find(|l| l.contains(" RRSIG SOA "))
        .expect("soa sig");
    assert!(
        soa_sig.contains(" 20300201000000 20300101000000 "),
        "{soa_sig}"
    );
    let key_sig = text
        .lines()
        .find(|l| l.contains(" RRSIG DNSKEY "))
        .expect("dnskey sig");
    assert!(
        key_sig.contains(" 20300301000000 20300101000000 "),
        "{key_sig}"
    );
    let output = signing.sign(&["-N", "unixtime", "-j", "3600", "-O", "full"]);
    ok(&output);
    let text = signed_text(&signing);
    let expirations: std::collections::BTreeSet<&str> = text
        .lines()
        .filter(|l| l.split_whitespace().nth(3) == Some("RRSIG"))
        .map(|l| l.split_whitespace().nth(8).expect("expiration"))
        .collect();
    assert!(
        expirations.len() > 3,
        "jitter spreads expirations: {expirations:?}"
    );
    assert_validates(&signing.signed_path(), "example.com", &[]);
}

#[test]
fn bad_zones_fail_with_file_line_and_leave_the_old_output() {
    let signing = setup("ECDSAP256SHA256");
    let old = "; the previous signed zone\n";
    std::fs::write(signing.signed_path(), old).expect("old output");
    let cases = std::fs::read_to_string(data_dir().join("zones/bad-zones.txt")).expect("bad zones");
    let mut checked = 0;
    for block in cases.split("-----\n") {
        let block: String = block
            .lines()
            .filter(|l| !l.starts_with("# "))
            .map(|l| format!("{l}\n"))
            .collect();
        let (message, zone) = block.split_once('\n').expect("block");
        let message = message.trim_start_matches("## ");
        std::fs::write(&signing.zone, zone).expect("zone");
        let output = signing.sign(&[]);
        assert_eq!(output.status.code(), Some(1), "{message}");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let errors: Vec<&str> = stderr.lines().filter(|l| !l.contains("warning:")).collect();
        assert_eq!(errors.len(), 1, "{message}: {stderr}");
        assert!(
            errors[0].starts_with("zone-sign: ") && errors[0].contains(message),
            "{message}: {stderr}"
        );
        assert_eq!(
            std::fs::read_to_string(signing.signed_path()).expect("output"),
            old,
            "{message}"
        );
        checked += 1;
    }
    assert!(checked >= 11, "{checked}");
    let leftovers: Vec<_> = std::fs::read_dir(signing.hsm.dir())
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}

#[test]
fn key_and_pin_problems_are_named() {
    let signing = setup("ECDSAP256SHA256");
    let output = signing
        .hsm
        .tool("zone-sign")
        .current_dir(signing.hsm.dir())
        .args(["-o", "example.com", "--pin", PIN])
        .arg(&signing.zone)
        .arg("pkcs11:object=no-such-key")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("no-such-key"),
        "{output:?}"
    );
    let wrong = signing.hsm.private_file("wrong", b"000000");
    let output = signing
        .hsm
        .tool("zone-sign")
        .current_dir(signing.hsm.dir())
        .args([
            "-S",
            "-K",
            signing.keys.to_str().expect("p"),
            "-o",
            "example.com",
            "--pin-file",
        ])
        .arg(&wrong)
        .arg(&signing.zone)
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("CKR_PIN_INCORRECT") && !stderr.contains("000000"),
        "{stderr}"
    );
    assert!(!signing.signed_path().exists());
    // A key file whose .private holds a software key is refused.
    let software = signing.keys.join("Kexample.com.+013+00001");
    std::fs::write(format!("{}.key", software.display()), "example.com. IN DNSKEY 256 3 13 8uD7C4THTM/w7uhryRSToeE/jKT78/p853RX0L5EwrZrSLBubLPiBw7gbvUP6SsIga5ZQ4CSAxNmYA/gZsuXzA==\n").expect("key");
    std::fs::write(
        format!("{}.private", software.display()),
        "Private-key-format: v1.3\nAlgorithm: 13 (ECDSAP256SHA256)\nPrivateKey: AAAA\n",
    )
    .expect("private");
    let output = signing.sign(&[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("signs only with keys in a token"));
}

#[test]
fn a_single_key_signs_everything() {
    let hsm = Hsm::new();
    hsm.run_ok("pkcs11-keygen", &["-a", "ED25519", "-l", "csk"]);
    let zone = hsm.dir().join("example.com.zone");
    std::fs::copy(data_dir().join("zones/example.com.zone"), &zone).expect("copy");
    let output = hsm
        .tool("zone-sign")
        .current_dir(hsm.dir())
        .args(["-o", "example.com", "--pin", PIN])
        .arg(&zone)
        .arg("pkcs11:object=csk")
        .output()
        .expect("run");
    ok(&output);
    // dnssec-verify wants a KSK and a ZSK per algorithm unless -z.
    assert_validates(
        &PathBuf::from(format!("{}.signed", zone.display())),
        "example.com",
        &["-z"],
    );
}

#[test]
fn out_of_zone_records_are_dropped_with_a_warning() {
    let signing = setup("ECDSAP256SHA256");
    let mut zone = std::fs::read_to_string(&signing.zone).expect("zone");
    zone.push_str(
        "other.example.net. 3600 IN A 192.0.2.99\nexample.org. 3600 IN TXT \"elsewhere\"\n",
    );
    std::fs::write(&signing.zone, zone).expect("zone");
    let output = signing.sign(&["-O", "full"]);
    ok(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("ignoring out-of-zone data (other.example.net.)"),
        "{stderr}"
    );
    assert!(stderr.contains("2 out-of-zone records ignored"), "{stderr}");
    let text = signed_text(&signing);
    assert!(
        !text.contains("example.org") && !text.contains("other.example.net"),
        "out-of-zone data written"
    );
    assert_validates(&signing.signed_path(), "example.com", &[]);
}

#[test]
fn a_zonemd_that_signing_makes_stale_is_reported() {
    let signing = setup("ECDSAP256SHA256");
    let mut zone = std::fs::read_to_string(&signing.zone).expect("zone");
    zone.push_str("@ 3600 IN ZONEMD 2024010101 1 1 ( 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef )\n");
    std::fs::write(&signing.zone, zone).expect("zone");
    let output = signing.sign(&[]);
    ok(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the zone has a ZONEMD record; it is not recomputed"),
        "{stderr}"
    );
}

#[test]
fn the_guides_hand_written_key_files_sign_the_zone() {
    // HSM guide, "Create DNSKEY files" and "Sign the zone", with our tools.
    let hsm = Hsm::new();
    let keys = hsm.dir().join("keys");
    std::fs::create_dir(&keys).expect("keys");
    for (label, tag) in [("ksk-example-com", "12345"), ("zsk-example-com", "23456")] {
        hsm.run_ok(
            "pkcs11-keygen",
            &["-a", "RSASHA256", "-b", "1024", "-l", label],
        );
        let dnskey = hsm.run_ok(
            "dnskey-from-label",
            &["-a", "RSASHA256", "-l", label, "example.com"],
        );
        let base = keys.join(format!("Kexample.com.+008+{tag}"));
        std::fs::write(format!("{}.key", base.display()), dnskey).expect("key");
        std::fs::write(
            format!("{}.private", base.display()),
            format!("Private-key-format: v1.3\nAlgorithm: 8 (RSASHA256)\nEngine: pkcs11\nLabel: {label}\n"),
        )
        .expect("private");
    }
    let zone = hsm.dir().join("example.com.zone");
    std::fs::copy(data_dir().join("zones/example.com.zone"), &zone).expect("zone");
    let output = hsm
        .tool("zone-sign")
        .current_dir(hsm.dir())
        .env("PKCS11_PIN", PIN)
        .args([
            "-S",
            "-K",
            keys.to_str().expect("p"),
            "-o",
            "example.com",
            "-e",
            "+31536000",
        ])
        .arg(&zone)
        .output()
        .expect("run");
    ok(&output);
    // Both keys are ZSKs (the guide sets no KSK flag): dnssec-verify needs -z.
    assert_validates(
        &PathBuf::from(format!("{}.signed", zone.display())),
        "example.com",
        &["-z"],
    );
}

/// The `-t` counter named `label` in a zone-sign report.
fn counter(report: &str, label: &str) -> u64 {
    report
        .lines()
        .find(|l| l.starts_with(label))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no '{label}' in:\n{report}"))
}

#[test]
fn re_signing_a_signed_zone_reuses_what_is_still_good() {
    let signing = setup("ECDSAP256SHA256");
    for denial in [&[][..], &["-3", "-"]] {
        let first = signing.hsm.dir().join("first.signed");
        let second = signing.hsm.dir().join("second.signed");
        let sign_input = |input: &Path, output: &Path, extra: &[&str]| {
            let mut args = vec!["-t", "-f", output.to_str().expect("path")];
            args.extend_from_slice(denial);
            args.extend_from_slice(extra);
            let report = ok(&signing.sign_file(input, &args));
            assert_validates(output, "example.com", &[]);
            report
        };
        let fresh = sign_input(&signing.zone, &first, &[]);
        let made = counter(&fresh, "Signatures generated:");
        assert_eq!(counter(&fresh, "Signatures retained:"), 0, "{fresh}");
        assert!(made > 20, "{fresh}");

        // Unchanged: every signature is reused, none is made.
        let again = sign_input(&first, &second, &[]);
        assert_eq!(counter(&again, "Signatures generated:"), 0, "{again}");
        assert_eq!(counter(&again, "Signatures retained:"), made, "{again}");
        assert_eq!(counter(&again, "Signatures dropped:"), 0, "{again}");
        let sigs = |path: &Path| -> std::collections::BTreeSet<String> {
            std::fs::read_to_string(path)
                .expect("signed zone")
                .lines()
                .filter(|l| l.contains("RRSIG"))
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(sigs(&first), sigs(&second), "the same signatures");

        // One changed RRset and a new serial: just their signatures are new.
        let text = std::fs::read_to_string(&first)
            .expect("signed zone")
            .replace("192.0.2.3", "192.0.2.33");
        assert!(text.contains("192.0.2.33"));
        std::fs::write(&first, text).expect("edit");
        let changed = sign_input(&first, &second, &["-N", "increment"]);
        assert_eq!(counter(&changed, "Signatures generated:"), 2, "{changed}");
        assert_eq!(
            counter(&changed, "Signatures retained:"),
            made - 2,
            "{changed}"
        );
        assert_eq!(counter(&changed, "Signatures dropped:"), 2, "{changed}");

        // A cycle interval longer than the validity left: all made afresh.
        let expiring = sign_input(&second, &first, &["-i", "5000000"]);
        assert_eq!(
            counter(&expiring, "Signatures generated:"),
            made,
            "{expiring}"
        );
        assert_eq!(counter(&expiring, "Signatures retained:"), 0, "{expiring}");
        assert_eq!(
            counter(&expiring, "Signatures dropped:"),
            made,
            "{expiring}"
        );
    }
}

/// The expiration fields of every RRSIG in a zone written with `-O full`.
fn rrsig_expirations(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .expect("signed zone")
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.get(3) == Some(&"RRSIG")).then(|| fields[8].to_string())
        })
        .collect()
}

#[test]
fn jitter_and_validity_bound_every_signature() {
    let signing = setup("ECDSAP256SHA256");
    // A jitter as long as the validity would wrap expirations around 2^32.
    for (jitter, validity) in [
        ("2592000", None),
        ("2592001", None),
        ("86400", Some("+86400")),
    ] {
        let mut args = vec!["-j", jitter];
        if let Some(validity) = validity {
            args.extend(["-e", validity]);
        }
        let output = signing.sign(&args);
        assert_eq!(output.status.code(), Some(2), "-j {jitter}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("-j") && stderr.contains("validity"),
            "{stderr}"
        );
        assert!(!signing.signed_path().exists(), "nothing is written");
    }

    // Signed for 60 days, then again for 30: what is kept from the first
    // run must not outlive the second run's expiration.
    let long = signing.hsm.dir().join("long.signed");
    let short = signing.hsm.dir().join("short.signed");
    let run = |input: &Path, output: &Path, expiration: &str| {
        let path = output.to_str().expect("path");
        ok(&signing.sign_file(input, &["-O", "full", "-e", expiration, "-f", path]));
        assert_validates(output, "example.com", &[]);
    };
    run(&signing.zone, &long, "now+5184000");
    let limit = format_utc(common_now() as u64 + 2_592_000 + 60);
    assert!(rrsig_expirations(&long).iter().any(|e| *e > limit));
    run(&long, &short, "now+2592000");
    let expirations = rrsig_expirations(&short);
    assert!(expirations.len() > 20, "{expirations:?}");
    for expiration in &expirations {
        assert!(*expiration <= limit, "{expiration} is after {limit}");
    }
}

#[test]
fn a_zone_that_is_not_valid_now_is_not_written() {
    let signing = setup("ECDSAP256SHA256");
    for times in [
        &["-s", "+3600"][..],
        &["-s", "20261101000000", "-e", "20261130000000"],
        &["-s", "0", "-e", "+1d"],
        &["-e", "+0x100"],
        // Ten digits are Unix seconds, as in BIND: valid from 2034.
        &["-s", "2026113012"],
    ] {
        let output = signing.sign(times);
        assert_eq!(output.status.code(), Some(1), "{times:?}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("Zone verification failed")
                && (stderr.contains("not valid yet") || stderr.contains("has expired")),
            "{times:?}: {stderr}"
        );
        assert!(
            !signing.signed_path().exists(),
            "{times:?}: nothing written"
        );
        // -P skips the check, as in BIND: the operator asked for it.
        let mut unchecked = times.to_vec();
        unchecked.push("-P");
        ok(&signing.sign(&unchecked));
        std::fs::remove_file(signing.signed_path()).expect("remove");
    }
}

#[test]
fn an_apex_algorithm_that_signs_nothing_is_refused_unless_allowed() {
    let signing = setup("ECDSAP256SHA256");
    // An RSASHA256 key left at the apex after an algorithm rollover.
    let old_key = std::fs::read_to_string(data_dir().join("keys/bind/Ktest.+008+60616.key"))
        .expect("key")
        .replacen("test.\t", "example.com.\t3600\t", 1);
    let mut zone = std::fs::read_to_string(&signing.zone).expect("zone");
    zone.push_str(&old_key);
    std::fs::write(&signing.zone, zone).expect("zone");
    let output = signing.sign(&[]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no signature of algorithm 8")
            && stderr.contains("--allow-unsigned-algorithm"),
        "{stderr}"
    );
    assert!(!signing.signed_path().exists());
    let output = signing.sign(&["--allow-unsigned-algorithm"]);
    ok(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("warning") && stderr.contains("algorithm 8"),
        "{stderr}"
    );
}

#[test]
fn the_dnskey_ttl_comes_from_the_key_files_as_in_bind() {
    let signing = setup("ECDSAP256SHA256");
    // Key files written with -L 600 (dnskey-from-label, like dnssec-keygen -L).
    let keys = signing.hsm.dir().join("keys600");
    std::fs::create_dir(&keys).expect("dir");
    for (label, flag) in [("ksk", Some("KSK")), ("zsk", None)] {
        let mut args = vec![
            "-l",
            label,
            "-L",
            "600",
            "-K",
            keys.to_str().expect("path"),
            "example.com",
        ];
        if let Some(flag) = flag {
            args.extend(["-f", flag]);
        }
        signing.hsm.run_ok("dnskey-from-label", &args);
    }
    let dnskey_ttls = |extra: &[&str]| -> Vec<String> {
        let mut args = vec!["-S", "-K", keys.to_str().expect("path"), "-O", "full"];
        args.extend_from_slice(extra);
        let output = signing
            .hsm
            .tool("zone-sign")
            .current_dir(signing.hsm.dir())
            .args([
                "-o",
                "example.com",
                "--pin-file",
                signing.pin_file.to_str().expect("path"),
            ])
            .args(&args)
            .arg(&signing.zone)
            .output()
            .expect("run");
        ok(&output);
        assert_validates(&signing.signed_path(), "example.com", &[]);
        std::fs::read_to_string(signing.signed_path())
            .expect("signed")
            .lines()
            .filter(|l| l.split_whitespace().nth(3) == Some("DNSKEY"))
            .map(|l| l.split_whitespace().nth(1).unwrap_or_default().to_string())
            .collect()
    };
    // The key files' TTL beats -T and the SOA's, as BIND's smart signing does.
    for extra in [&[][..], &["-T", "7200"]] {
        let ttls = dnskey_ttls(extra);
        assert_eq!(ttls.len(), 2, "{ttls:?}");
        assert!(ttls.iter().all(|t| t == "600"), "{extra:?}: {ttls:?}");
    }
}

#[test]
fn a_thread_that_cannot_start_is_an_error_not_a_panic() {
    let signing = setup("ECDSAP256SHA256");
    // A stack no system can give makes every new thread fail to start, as
    // a process limit or a container's pids cgroup would.
    let output = signing
        .hsm
        .tool("zone-sign")
        .current_dir(signing.hsm.dir())
        .env("RUST_MIN_STACK", "1000000000000")
        .args(["-S", "-K", signing.keys.to_str().expect("path")])
        .args([
            "-o",
            "example.com",
            "--pin-file",
            signing.pin_file.to_str().expect("path"),
        ])
        .arg(&signing.zone)
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot start") && !stderr.contains("panicked"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!signing.signed_path().exists());
    let output = signing
        .hsm
        .tool("pkcs11-tokens")
        .env("RUST_MIN_STACK", "1000000000000")
        .args(["--speed", "-a", "ECDSAP256SHA256", "--seconds", "1"])
        .args(["--pin-file", signing.pin_file.to_str().expect("path")])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot start") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

#[test]
fn quiet_twice_or_quiet_all_prints_nothing_on_success() {
    let signing = setup("ECDSAP256SHA256");
    // BIND's -q: the file name alone.
    let output = signing.sign(&["-q"]);
    assert_eq!(
        ok(&output).trim(),
        signing.signed_path().display().to_string()
    );
    for quiet in [&["-q", "-q"][..], &["--quiet-all"]] {
        std::fs::remove_file(signing.signed_path()).expect("remove");
        let output = signing.sign(quiet);
        assert_eq!(ok(&output), "", "{quiet:?}");
        assert!(output.stderr.is_empty(), "{quiet:?}: {output:?}");
        assert!(signing.signed_path().exists());
    }
    // A failure still says so, in one line.
    let output = signing.sign_file(&signing.hsm.dir().join("missing.zone"), &["--quiet-all"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(output.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).lines().count(),
        1,
        "{output:?}"
    );
}

/// A `-t` line's number: `Label:   12.345`.
fn seconds(report: &str, label: &str) -> f64 {
    report
        .lines()
        .find_map(|line| line.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} in {report}"))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{label:?}: {e} in {report}"))
}

#[test]
fn statistics_say_where_the_time_went() {
    let signing = setup("ECDSAP256SHA256");
    let report = ok(&signing.sign(&["-t", "-n", "2"]));
    let runtime = seconds(&report, "Runtime in seconds:");
    let signing_time = seconds(&report, "Signing time in seconds:");
    let phases: f64 = [
        "Parse time in seconds:",
        "Sort and chain time in seconds:",
        "Signing time in seconds:",
        "Check time in seconds:",
        "Write time in seconds:",
    ]
    .iter()
    .map(|label| seconds(&report, label))
    .sum();
    // Rounded to milliseconds each.
    assert!(phases <= runtime + 0.005, "{report}");
    // Summed over the two sessions.
    let token = seconds(&report, "Token wait time in seconds:");
    let verify = seconds(&report, "Verify time in seconds:");
    assert!(token <= 2.0 * signing_time + 0.005, "{report}");
    assert!(verify <= 2.0 * signing_time + 0.005, "{report}");
    assert!(token > 0.0, "{report}");
    for session in ["Session 0", "Session 1"] {
        seconds(&report, &format!("{session} signatures per second:"));
    }

    std::fs::remove_file(signing.signed_path()).expect("remove");
    let output = signing.sign(&["--json", "-n", "2"]);
    let text = ok(&output);
    assert_eq!(text.lines().count(), 1, "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(
        json["output"].as_str(),
        Some(signing.signed_path().to_str().expect("path"))
    );
    let number = |key: &str| {
        json[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} in {json}"))
    };
    let phases: f64 = ["parse", "chain", "signing", "check", "write"]
        .iter()
        .map(|p| number(&format!("{p}_seconds")))
        .sum();
    assert!(phases <= number("runtime_seconds"), "{json}");
    assert!(number("signatures_generated") > 0.0);
    let sessions = json["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 2, "{json}");
    let generated: f64 = sessions
        .iter()
        .map(|s| s["signatures"].as_f64().expect("signatures"))
        .sum();
    assert_eq!(generated, number("signatures_generated"), "{json}");
    assert!(sessions
        .iter()
        .all(|s| s["signatures_per_second"].is_number()));
}

#[test]
fn verbosity_levels_say_phases_sessions_and_rrset_decisions() {
    let signing = setup("ECDSAP256SHA256");
    let stderr = |output: &Output| {
        ok(output);
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let quiet = stderr(&signing.sign(&["-n", "2"]));
    assert!(quiet.is_empty(), "{quiet}");

    let one = stderr(&signing.sign(&["-v", "1", "-n", "2"]));
    for phase in [
        "reading the zone",
        "read ",
        "signing with 2 session",
        "signed: ",
        "checking",
        "writing",
    ] {
        assert!(
            one.contains(&format!("zone-sign: {phase}")),
            "{phase}: {one}"
        );
    }
    assert!(
        one.contains(": KSK, signs the key RRsets") && one.contains(": ZSK, signs the zone"),
        "{one}"
    );
    assert!(!one.contains("worker"), "{one}");

    let two = stderr(&signing.sign(&["-v", "2", "-n", "2"]));
    for worker in [
        "worker 0: started",
        "worker 1: started",
        "worker 0: done: ",
        "worker 1: done: ",
    ] {
        assert!(two.contains(worker), "{worker}: {two}");
    }
    assert!(!two.contains("kept the signature"), "{two}");

    // Re-signing with one RRset changed: its signature renewed, the rest kept.
    let input = signing.hsm.dir().join("input.signed");
    std::fs::rename(signing.signed_path(), &input).expect("rename");
    let text = std::fs::read_to_string(&input).expect("read");
    let changed = text.replacen("192.0.2.1", "192.0.2.99", 1);
    assert_ne!(changed, text, "the fixture has 192.0.2.1");
    std::fs::write(&input, changed).expect("write");
    let three = stderr(&signing.sign_file(&input, &["-v", "3"]));
    assert!(
        three.contains("kept the signature by example.com/"),
        "{three}"
    );
    assert!(
        three.contains("renewed the signature by example.com/")
            && three.contains("does not verify over the RRset as it is now"),
        "{three}"
    );
    for text in [&one, &two, &three] {
        assert!(!text.contains(PIN), "the PIN: {text}");
    }
}

#[test]
fn verbosity_two_tells_a_lost_session_reopened_and_the_back_off() {
    let signing = setup("ECDSAP256SHA256");
    let output = signing
        .hsm
        .tool("zone-sign")
        .current_dir(signing.hsm.dir())
        .env("P11FAULT_FUNCTION", "C_Sign")
        .env("P11FAULT_ACTION", "CKR_SESSION_HANDLE_INVALID")
        .env("P11FAULT_NTH", "5")
        .args(["-S", "-K", signing.keys.to_str().expect("path")])
        .args(["-o", "example.com", "-n", "1", "-v", "2"])
        .arg("--module")
        .arg(crate::hsm::fault_crate_artifact("libp11_fault.so"))
        .args(["--pin-file", signing.pin_file.to_str().expect("path")])
        .arg(&signing.zone)
        .output()
        .expect("run");
    ok(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("zone-sign: worker 0: backing off 50 ms before reopening the session"),
        "{stderr}"
    );
    assert!(
        stderr.contains("zone-sign: worker 0: reopened 1 session(s) and found 2 key(s) again"),
        "{stderr}"
    );
    assert!(!stderr.contains(crate::hsm::PIN), "{stderr}");
}
