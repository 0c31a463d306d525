//! Re-signing at the cost of the change: the verified-signature record
//! (`OUTPUT.p11v`) spares the verification of what an earlier run verified,
//! never vouches for what it must not, and changes no output octet.

use crate::hsm::{data_dir, Hsm, PIN};
use crate::zone_sign::assert_validates;
use std::path::{Path, PathBuf};
use std::process::Output;

struct Signer {
    hsm: Hsm,
    /// A pinned "now" (after the keys' activation), so that runs can be
    /// compared octet for octet.
    now: String,
    pin_file: PathBuf,
    keys: PathBuf,
    zone: PathBuf,
}

/// Ed25519 (deterministic signatures) KSK and ZSK for example.com.
fn setup() -> Signer {
    let hsm = Hsm::new();
    let pin_file = hsm.private_file("pin", PIN.as_bytes());
    let keys = hsm.dir().join("keys");
    std::fs::create_dir(&keys).expect("keys dir");
    hsm.ksk_and_zsk_key_files("ED25519", &keys);
    let zone = hsm.dir().join("example.com.zone");
    std::fs::copy(data_dir().join("zones/example.com.zone"), &zone).expect("copy zone");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs()
        + 3600;
    Signer {
        hsm,
        now: now.to_string(),
        pin_file,
        keys,
        zone,
    }
}

impl Signer {
    fn path(&self, name: &str) -> PathBuf {
        self.hsm.dir().join(name)
    }

    /// zone-sign -S with the keys in `keys`, `-O full -t`, into `output`.
    fn run(
        &self,
        keys: &Path,
        origin: &str,
        input: &Path,
        output: &Path,
        extra: &[&str],
    ) -> Output {
        self.hsm
            .tool("zone-sign")
            .current_dir(self.hsm.dir())
            .env("P11DNSSEC_NOW", &self.now)
            .args(["-S", "-K", keys.to_str().expect("path"), "-o", origin])
            .args(["--pin-file", self.pin_file.to_str().expect("path")])
            .args(["-O", "full", "-t", "-f", output.to_str().expect("path")])
            .args(extra)
            .arg(input)
            .output()
            .expect("run zone-sign")
    }

    /// Signs `input` into `output` and expects success; the report and stderr.
    fn sign(&self, input: &Path, output: &Path, extra: &[&str]) -> (String, String) {
        let result = self.run(&self.keys, "example.com", input, output, extra);
        let stderr = String::from_utf8_lossy(&result.stderr).into_owned();
        assert!(result.status.success(), "{result:?}");
        assert_validates(output, "example.com", &[]);
        (String::from_utf8_lossy(&result.stdout).into_owned(), stderr)
    }

    /// The first signing: `first.signed` and its record.
    fn first(&self) -> (PathBuf, u64) {
        let first = self.path("first.signed");
        let (report, _) = self.sign(&self.zone, &first, &[]);
        assert!(record_of(&first).is_file(), "no record written");
        let made = counter(&report, "Signatures generated:");
        assert!(made > 20, "{report}");
        (first, made)
    }
}

fn record_of(zone: &Path) -> PathBuf {
    PathBuf::from(format!("{}.p11v", zone.display()))
}

/// The `-t` counter named `label`.
fn counter(report: &str, label: &str) -> u64 {
    report
        .lines()
        .find(|l| l.starts_with(label))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no '{label}' in:\n{report}"))
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read")
}

const IGNORED: &str = "ignoring the verified-signature record";

/// Re-signs `input` with the record beside it and with `--reverify`:
/// the outputs must be identical; returns the first run's report and stderr.
fn against_reverify(signer: &Signer, input: &Path) -> (String, String) {
    let (vouched_out, reverified_out) = (signer.path("a.signed"), signer.path("b.signed"));
    let (report, stderr) = signer.sign(input, &vouched_out, &[]);
    let (full, _) = signer.sign(input, &reverified_out, &["--reverify"]);
    assert_eq!(
        counter(&full, "Signatures vouched by the record:"),
        0,
        "{full}"
    );
    assert!(
        read(&vouched_out) == read(&reverified_out),
        "the output differs from --reverify's"
    );
    assert_eq!(
        read(&record_of(&vouched_out)),
        read(&record_of(&reverified_out))
    );
    (report, stderr)
}

#[test]
fn a_valid_record_spares_every_verification_and_changes_no_octet() {
    let signer = setup();
    let (first, made) = signer.first();
    let (report, stderr) = against_reverify(&signer, &first);
    assert_eq!(counter(&report, "Signatures generated:"), 0, "{report}");
    assert_eq!(counter(&report, "Signatures retained:"), made, "{report}");
    assert_eq!(
        counter(&report, "Signatures vouched by the record:"),
        made,
        "{report}"
    );
    assert_eq!(
        counter(&report, "Signatures successfully verified:"),
        0,
        "{report}"
    );
    assert!(!stderr.contains(IGNORED), "{stderr}");
    // --reverify verified each one.
    let (full, _) = signer.sign(&first, &signer.path("c.signed"), &["--reverify"]);
    assert_eq!(
        counter(&full, "Signatures successfully verified:"),
        made,
        "{full}"
    );
}

/// The record's verdict when it was ignored: every kept signature verified.
fn assert_ignored(report: &str, stderr: &str, made: u64, why: &str) {
    assert_eq!(
        counter(report, "Signatures vouched by the record:"),
        0,
        "{report}"
    );
    assert_eq!(
        counter(report, "Signatures successfully verified:"),
        made,
        "{report}"
    );
    assert_eq!(stderr.matches(IGNORED).count(), 1, "{stderr}");
    assert!(stderr.contains(why), "{stderr}");
}

#[test]
fn an_edited_record_is_ignored_with_one_warning() {
    let signer = setup();
    let (first, made) = signer.first();
    let original = read(&record_of(&first));
    // An octet of an entry, then one of each of the record's own
    // signatures (Ed25519: 64 octets each, after a key index and a length).
    for at in [
        &[original.len() / 2][..],
        &[original.len() - 3, original.len() - 71],
    ] {
        let mut edited = original.clone();
        for &at in at {
            edited[at] ^= 0x01;
        }
        std::fs::write(record_of(&first), &edited).expect("edit");
        let (report, stderr) = against_reverify(&signer, &first);
        assert_ignored(&report, &stderr, made, "its signature does not verify");
    }
    // Cut short.
    std::fs::write(record_of(&first), &original[..original.len() / 3]).expect("cut");
    let (report, stderr) = against_reverify(&signer, &first);
    assert_ignored(&report, &stderr, made, "truncated");
}

#[test]
fn a_record_of_another_zone_or_other_keys_vouches_for_nothing() {
    let signer = setup();
    let (first, made) = signer.first();

    // Other keys (another ZSK and KSK on the same token) for example.com.
    let other_keys = signer.path("other-keys");
    std::fs::create_dir(&other_keys).expect("dir");
    for (label, flag) in [("ksk2", Some("KSK")), ("zsk2", None)] {
        signer
            .hsm
            .run_ok("pkcs11-keygen", &["-a", "ED25519", "-l", label]);
        let mut args = vec![
            "-l",
            label,
            "-K",
            other_keys.to_str().expect("path"),
            "example.com",
        ];
        args.extend(flag.map(|f| ["-f", f]).into_iter().flatten());
        signer.hsm.run_ok("dnskey-from-label", &args);
    }
    let other = signer.path("other.signed");
    let result = signer.run(&other_keys, "example.com", &signer.zone, &other, &[]);
    assert!(result.status.success(), "{result:?}");
    std::fs::copy(record_of(&other), record_of(&first)).expect("plant");
    let (report, stderr) = against_reverify(&signer, &first);
    assert_ignored(
        &report,
        &stderr,
        made,
        "keys that do not sign this zone now",
    );

    // The same keys, another zone.
    let org_keys = signer.path("org-keys");
    std::fs::create_dir(&org_keys).expect("dir");
    for (label, flag) in [("ksk", Some("KSK")), ("zsk", None)] {
        let mut args = vec![
            "-l",
            label,
            "-K",
            org_keys.to_str().expect("path"),
            "example.org",
        ];
        args.extend(flag.map(|f| ["-f", f]).into_iter().flatten());
        signer.hsm.run_ok("dnskey-from-label", &args);
    }
    let org_zone = signer.path("example.org.zone");
    let text = std::fs::read_to_string(&signer.zone)
        .expect("zone")
        .replace("example.com.", "example.org.");
    std::fs::write(&org_zone, text).expect("org zone");
    let org = signer.path("org.signed");
    let result = signer.run(&org_keys, "example.org", &org_zone, &org, &[]);
    assert!(result.status.success(), "{result:?}");
    std::fs::copy(record_of(&org), record_of(&first)).expect("plant");
    let (report, stderr) = against_reverify(&signer, &first);
    assert_ignored(&report, &stderr, made, "it belongs to another zone");
}

#[test]
fn a_tampered_signature_the_record_vouched_for_is_verified_and_remade() {
    let signer = setup();
    let (first, made) = signer.first();
    // Change one base64 character of the signature of the www A RRSIG,
    // keeping the (valid, authentic) record beside the zone.
    let original = read(&first);
    let text = String::from_utf8(original.clone()).expect("zone");
    let mut forged = None;
    let tampered: Vec<String> = text
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let www_a = line.starts_with("www.example.com.")
                && fields.get(3) == Some(&"RRSIG")
                && fields.get(4) == Some(&"A");
            if forged.is_some() || !www_a {
                return line.to_string();
            }
            let signature = fields[fields.len() - 1];
            let mut chars: Vec<char> = signature.chars().collect();
            chars[10] = if chars[10] == 'A' { 'B' } else { 'A' };
            let changed: String = chars.into_iter().collect();
            forged = Some(changed.clone());
            let mut out: Vec<&str> = fields[..fields.len() - 1].to_vec();
            out.push(&changed);
            out.join(" ")
        })
        .collect();
    let forged = forged.unwrap_or_else(|| panic!("no www A RRSIG in:\n{text}"));
    std::fs::write(&first, tampered.join("\n") + "\n").expect("tamper");
    let (report, stderr) = against_reverify(&signer, &first);
    assert!(!stderr.contains(IGNORED), "{stderr}");
    assert_eq!(counter(&report, "Signatures generated:"), 1, "{report}");
    assert_eq!(counter(&report, "Signatures dropped:"), 1, "{report}");
    assert_eq!(
        counter(&report, "Signatures retained:"),
        made - 1,
        "{report}"
    );
    assert_eq!(
        counter(&report, "Signatures vouched by the record:"),
        made - 1,
        "{report}"
    );
    // Only the one made again was verified (the forged one failed).
    assert_eq!(
        counter(&report, "Signatures successfully verified:"),
        1,
        "{report}"
    );
    let output = std::fs::read_to_string(signer.path("a.signed")).expect("output");
    assert!(!output.contains(&forged), "the forged signature was kept");
    // Ed25519 is deterministic: the signature made again is the original.
    assert!(
        read(&signer.path("a.signed")) == original,
        "not the first output"
    );
}

#[test]
fn a_planted_record_symlink_is_neither_read_nor_written_through() {
    let signer = setup();
    let (first, made) = signer.first();
    // Read: the record beside the input is a symbolic link to a valid one.
    let elsewhere = signer.path("elsewhere.p11v");
    std::fs::rename(record_of(&first), &elsewhere).expect("move");
    std::os::unix::fs::symlink(&elsewhere, record_of(&first)).expect("symlink");
    let (report, stderr) = against_reverify(&signer, &first);
    assert_ignored(&report, &stderr, made, "symbolic link");

    // Write: the output's record is a symbolic link to a victim file.
    let victim = signer.path("victim");
    std::fs::write(&victim, b"precious").expect("victim");
    let out = signer.path("out.signed");
    std::os::unix::fs::symlink(&victim, record_of(&out)).expect("symlink");
    signer.sign(&signer.zone, &out, &[]);
    assert_eq!(read(&victim), b"precious");
    let meta = std::fs::symlink_metadata(record_of(&out)).expect("record");
    assert!(meta.file_type().is_file(), "the record is no longer a link");
}

#[test]
fn an_authentic_record_of_another_run_vouches_for_nothing_and_says_so() {
    let signer = setup();
    let (first, _) = signer.first();
    // The same zone and keys signed with another expiration: every
    // signature differs from the first run's.
    let second = signer.path("second.signed");
    let (report, _) = signer.sign(&signer.zone, &second, &["-e", "+2000000"]);
    let made = counter(&report, "Signatures generated:");
    std::fs::copy(record_of(&first), record_of(&second)).expect("plant");
    let (report, stderr) = signer.sign(&second, &signer.path("a.signed"), &["-e", "+2000000"]);
    assert_eq!(counter(&report, "Signatures retained:"), made, "{report}");
    assert_eq!(
        counter(&report, "Signatures vouched by the record:"),
        0,
        "{report}"
    );
    assert_eq!(
        counter(&report, "Signatures successfully verified:"),
        made,
        "{report}"
    );
    assert_eq!(stderr.matches("stale").count(), 1, "{stderr}");
}
