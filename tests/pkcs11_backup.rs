//! pkcs11-backup and pkcs11-restore: a key pair moved from one SoftHSM2
//! token to another under a key-encryption key both hold (imported by the
//! security officer with p11-probe), never in the clear.

use crate::hsm::{data_dir, fault_crate_artifact, Hsm, PIN, SO_PIN};
use crate::zone_sign::assert_validates;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

/// The key-encryption key of the tests' key ceremony.
const KEK: &str = "00112233445566778899aabbccddeeff0123456789abcdeffedcba9876543210";
/// Another one, for "the wrong key" and "another key, another blob".
const OTHER_KEK: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

/// Runs p11-probe in `role` on the HSM's token, with extra environment.
fn probe(hsm: &Hsm, role: &str, label: &str, env: &[(&str, &str)]) -> Output {
    let output = std::process::Command::new(fault_crate_artifact("p11-probe"))
        .args([role, label])
        .env("SOFTHSM2_CONF", hsm.dir().join("softhsm2.conf"))
        .env("P11PROBE_PIN", PIN)
        .env("P11PROBE_SO_PIN", SO_PIN)
        .envs(env.iter().copied())
        .output()
        .expect("p11-probe");
    assert_ne!(
        output.status.code(),
        Some(2),
        "p11-probe {role} {label}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The security officer imports `value` as the AES key `label`.
fn import_kek(hsm: &Hsm, label: &str, value: &str, trusted: bool) {
    let trusted = if trusted { "1" } else { "0" };
    let output = probe(
        hsm,
        "kek",
        label,
        &[
            ("P11PROBE_KEK_HEX", value),
            ("P11PROBE_KEK_TRUSTED", trusted),
        ],
    );
    assert!(output.status.success(), "{output:?}");
}

/// Token A and token B (each its own SoftHSM2 directory, both labelled
/// "test", as an HA pair's twins), both holding the trusted `kek`.
fn two_tokens() -> (Hsm, Hsm) {
    let (a, b) = (Hsm::new(), Hsm::new());
    import_kek(&a, "kek", KEK, true);
    import_kek(&b, "kek", KEK, true);
    (a, b)
}

fn run(hsm: &Hsm, tool: &str, args: &[&str]) -> Output {
    hsm.tool(tool)
        .args(args)
        .args(["-p", PIN])
        .output()
        .expect("run")
}

fn backup(hsm: &Hsm, label: &str, kek: &str, file: &Path) -> Output {
    run(
        hsm,
        "pkcs11-backup",
        &["-l", label, "--wrap-key", kek, file.to_str().expect("path")],
    )
}

fn restore(hsm: &Hsm, file: &Path) -> Output {
    run(hsm, "pkcs11-restore", &[file.to_str().expect("path")])
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_refused(output: &Output, expected: &str) {
    assert_eq!(output.status.code(), Some(1), "{}", stderr(output));
    let text = stderr(output);
    assert!(text.contains(expected), "{text}");
    assert_eq!(text.trim_end().lines().count(), 1, "one line: {text}");
    assert!(!text.contains(PIN), "no PIN in messages: {text}");
    assert!(output.stdout.is_empty(), "nothing on stdout: {output:?}");
}

/// The token's objects as pkcs11-list prints them.
fn objects(hsm: &Hsm) -> String {
    hsm.run_ok("pkcs11-list", &[])
}

/// The names in a directory (to see that nothing, not even a temporary
/// file, was left).
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The private key's line of `p11-probe attrs`.
fn private_attributes(hsm: &Hsm, label: &str) -> String {
    let output = probe(hsm, "attrs", label, &[]);
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find(|l| l.starts_with("class=private "))
        .unwrap_or_else(|| panic!("no private key {label}"))
        .to_string()
}

/// A file with one byte of it changed, and its checksum made right again
/// (what someone who edits the file can do).
fn edited(file: &Path, from: &str, to: &str) -> PathBuf {
    use sha2::Digest;
    let text = std::fs::read_to_string(file).expect("read");
    let body = &text[..text.find("Checksum: ").expect("checksum")];
    let changed = body.replacen(from, to, 1);
    assert_ne!(changed, body, "{from} not in the file");
    let sum: String = sha2::Sha256::digest(changed.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    static EDITS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = EDITS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = file.with_extension(format!("edited{n}"));
    std::fs::write(&path, format!("{changed}Checksum: SHA-256 {sum}\n")).expect("write");
    path
}

#[test]
fn a_key_pair_moves_to_another_token_and_signs_under_the_same_dnskey() {
    let (a, b) = two_tokens();
    let files = a.dir().join("backups");
    std::fs::create_dir(&files).expect("dir");
    for label in ["ksk", "zsk"] {
        a.run_ok(
            "pkcs11-keygen",
            &["-q", "-E", "-a", "ECDSAP256SHA256", "-l", label],
        );
        let file = files.join(format!("{label}.backup"));
        let output = backup(&a, label, "kek", &file);
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(
            String::from_utf8_lossy(&output.stdout).starts_with(&format!("Key pair '{label}'")),
            "{output:?}"
        );
        let text = std::fs::read_to_string(&file).expect("backup file");
        assert!(
            text.contains("\nWrap-Mechanism: CKM_AES_KEY_WRAP_PAD\n"),
            "{text}"
        );
        assert!(text.contains("\nWrap-Key-Label: kek\n"), "{text}");
        let output = restore(&b, &file);
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(stderr(&output), "", "no warning for a -E key");
        // Same label, CKA_ID and protection flags on B as on A.
        assert_eq!(private_attributes(&a, label), private_attributes(&b, label));
    }
    let listing = |hsm: &Hsm| -> Vec<String> {
        objects(hsm)
            .lines()
            .filter(|l| l.contains("'ksk'") || l.contains("'zsk'"))
            .map(|l| l.split_once(" class ").expect("line").1.to_string())
            .collect()
    };
    assert_eq!(listing(&a), listing(&b));

    // K-files from each token: the DNSKEYs are the same, so are the names.
    let key_files = |hsm: &Hsm, dir: &Path| {
        std::fs::create_dir(dir).expect("dir");
        for (label, flag) in [("ksk", Some("KSK")), ("zsk", None)] {
            let mut args = vec![
                "-l",
                label,
                "-K",
                dir.to_str().expect("path"),
                "example.com",
            ];
            args.extend(flag.map(|f| ["-f", f]).into_iter().flatten());
            hsm.run_ok("dnskey-from-label", &args);
        }
    };
    let (dir_a, dir_b) = (a.dir().join("keys-a"), b.dir().join("keys-b"));
    key_files(&a, &dir_a);
    key_files(&b, &dir_b);
    assert_eq!(names(&dir_a), names(&dir_b));
    // Sign with B's keys (its .private names token B's objects) and the
    // DNSKEYs made from token A.
    let signing = b.dir().join("signing");
    std::fs::create_dir(&signing).expect("dir");
    for name in names(&dir_a) {
        let from = if name.ends_with(".key") {
            &dir_a
        } else {
            &dir_b
        };
        std::fs::copy(from.join(&name), signing.join(&name)).expect("copy");
        if name.ends_with(".key") {
            let ds = |dir: &Path| {
                let output = crate::hsm::run_plain(
                    "ds-from-key",
                    &["-2", dir.join(&name).to_str().expect("path")],
                    None,
                );
                assert!(output.status.success(), "{output:?}");
                output.stdout
            };
            assert_eq!(ds(&dir_a), ds(&dir_b), "{name}: the DS is unchanged");
        }
    }
    let zone = b.dir().join("example.com.zone");
    std::fs::copy(data_dir().join("zones/example.com.zone"), &zone).expect("zone");
    let output = b
        .tool("zone-sign")
        .current_dir(b.dir())
        .args([
            "-S",
            "-K",
            signing.to_str().expect("path"),
            "-o",
            "example.com",
        ])
        .args(["--pin", PIN])
        .arg(&zone)
        .output()
        .expect("zone-sign");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_validates(
        &PathBuf::from(format!("{}.signed", zone.display())),
        "example.com",
        &[],
    );
}

#[test]
fn rsa_and_p384_keys_round_trip_and_eddsa_is_refused_with_nothing_written() {
    let (a, b) = two_tokens();
    a.run_ok(
        "pkcs11-keygen",
        &["-q", "-E", "-a", "RSASHA256", "-b", "1024", "-l", "rsa"],
    );
    a.run_ok(
        "pkcs11-keygen",
        &["-q", "-E", "-a", "ECDSAP384SHA384", "-l", "p384"],
    );
    for label in ["rsa", "p384"] {
        let file = a.dir().join(label);
        let output = backup(&a, label, "kek", &file);
        assert!(output.status.success(), "{}", stderr(&output));
        let output = restore(&b, &file);
        assert!(output.status.success(), "{}", stderr(&output));
        let dnskey = |hsm: &Hsm| hsm.run_ok("dnskey-from-label", &["-l", label, "example.com"]);
        assert_eq!(dnskey(&a), dnskey(&b));
    }
    // SoftHSM2 2.6 cannot wrap EdDSA private keys: said, and no file.
    a.run_ok("pkcs11-keygen", &["-q", "-E", "-a", "ED25519", "-l", "ed"]);
    let before = names(a.dir());
    let output = backup(&a, "ed", "kek", &a.dir().join("ed.backup"));
    assert_refused(&output, "cannot wrap the EdDSA key 'ed'");
    assert_eq!(names(a.dir()), before);
}

#[test]
fn a_key_that_cannot_leave_the_token_is_refused_with_nothing_written() {
    let hsm = Hsm::new();
    import_kek(&hsm, "kek", KEK, true);
    import_kek(&hsm, "untrusted", OTHER_KEK, false);
    // Made without -E, as BIND's pkcs11-keygen makes keys: never extractable.
    hsm.run_ok(
        "pkcs11-keygen",
        &["-q", "-a", "ECDSAP256SHA256", "-l", "plain"],
    );
    hsm.run_ok(
        "pkcs11-keygen",
        &["-q", "-E", "-a", "ECDSAP256SHA256", "-l", "wrap-only"],
    );
    let before = names(hsm.dir());
    let file = hsm.dir().join("backup");
    let output = backup(&hsm, "plain", "kek", &file);
    assert_refused(&output, "is not extractable (CKA_EXTRACTABLE false)");
    assert!(
        stderr(&output).contains("without -E"),
        "{}",
        stderr(&output)
    );
    // A -E key goes only under a key the security officer trusts.
    let output = backup(&hsm, "wrap-only", "untrusted", &file);
    assert_refused(&output, "'untrusted' is not marked CKA_TRUSTED");
    let output = backup(&hsm, "wrap-only", "no-such-kek", &file);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let output = backup(&hsm, "no-such-key", "kek", &file);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert_eq!(names(hsm.dir()), before);
    // An existing file is never replaced.
    std::fs::write(&file, "earlier backup").expect("write");
    let output = backup(&hsm, "wrap-only", "kek", &file);
    assert_refused(&output, "already exists");
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        "earlier backup"
    );
}

#[test]
fn a_changed_file_or_the_wrong_key_restores_nothing() {
    let (a, b) = two_tokens();
    import_kek(&b, "other", OTHER_KEK, true);
    a.run_ok(
        "pkcs11-keygen",
        &["-q", "-E", "-a", "ECDSAP256SHA256", "-l", "ksk"],
    );
    let file = a.dir().join("ksk.backup");
    assert!(backup(&a, "ksk", "kek", &file).status.success());
    let before = objects(&b);

    // One flipped bit anywhere: the checksum refuses it.
    let mut bytes = std::fs::read(&file).expect("read");
    let at = bytes
        .windows(13)
        .position(|w| w == b"Wrapped-Key: ")
        .expect("blob")
        + 20;
    bytes[at] ^= 0x01;
    let flipped = a.dir().join("flipped");
    std::fs::write(&flipped, &bytes).expect("write");
    assert_refused(&restore(&b, &flipped), "checksum mismatch");

    // The blob changed and the checksum made right: the unwrap refuses it.
    let text = std::fs::read_to_string(&file).expect("read");
    let blob = text
        .lines()
        .find_map(|l| l.strip_prefix("Wrapped-Key: "))
        .expect("blob");
    let changed_blob = format!(
        "{}{}",
        if blob.starts_with('A') { "B" } else { "A" },
        &blob[1..]
    );
    let forged = edited(&file, blob, &changed_blob);
    assert_refused(&restore(&b, &forged), "does not unwrap under 'kek'");

    // Another key of the same label on the target: the check value says
    // it is not the key, before the token is asked.
    let wrong = edited(&file, "Wrap-Key-Label: kek", "Wrap-Key-Label: other");
    assert_refused(
        &restore(&b, &wrong),
        "'other' is not the key the backup was wrapped under",
    );
    let output = run(
        &b,
        "pkcs11-restore",
        &["--unwrap-key", "other", file.to_str().expect("path")],
    );
    assert_refused(
        &output,
        "'other' is not the key the backup was wrapped under",
    );
    // And with no check value in the file, the token's unwrap tells.
    let kcv = text
        .lines()
        .find(|l| l.starts_with("Wrap-Key-Check-Value: "))
        .expect("check value");
    let no_kcv = edited(&wrong, kcv, "Wrap-Key-Check-Value: ");
    assert_refused(&restore(&b, &no_kcv), "does not unwrap under 'other'");

    // A public key that is not the private key's: the proof signature
    // fails, and what was made is destroyed.
    let point_of = |text: &str| -> String {
        text.lines()
            .find_map(|l| l.strip_prefix("Public-Ec-Point: "))
            .expect("point")
            .to_string()
    };
    let other_file = a.dir().join("other.backup");
    a.run_ok(
        "pkcs11-keygen",
        &["-q", "-E", "-a", "ECDSAP256SHA256", "-l", "second"],
    );
    assert!(backup(&a, "second", "kek", &other_file).status.success());
    let mixed = edited(
        &file,
        &point_of(&text),
        &point_of(&std::fs::read_to_string(&other_file).expect("read")),
    );
    let output = restore(&b, &mixed);
    assert_refused(&output, "does not verify under the backup's public key");
    assert!(
        stderr(&output).contains("the token is as it was"),
        "{}",
        stderr(&output)
    );

    assert_eq!(objects(&b), before, "nothing was left on B");
    assert!(
        restore(&b, &file).status.success(),
        "the good file still restores"
    );
}

#[test]
fn a_label_or_id_the_target_has_is_refused() {
    let (a, b) = two_tokens();
    a.run_ok(
        "pkcs11-keygen",
        &["-q", "-E", "-a", "ECDSAP256SHA256", "-l", "ksk"],
    );
    let file = a.dir().join("ksk.backup");
    assert!(backup(&a, "ksk", "kek", &file).status.success());
    assert!(restore(&b, &file).status.success());
    let before = objects(&b);
    assert_refused(
        &restore(&b, &file),
        "already holds an object labelled 'ksk'",
    );
    // The same CKA_ID under another label is refused too.
    let renamed = edited(&file, "Label: ksk", "Label: ksk-copy");
    assert_refused(&restore(&b, &renamed), "already holds an object with id 0x");
    assert_eq!(objects(&b), before);
    // A restore into the token the key came from is the same clash.
    assert_refused(
        &restore(&a, &file),
        "already holds an object labelled 'ksk'",
    );
}

#[test]
fn the_file_is_private_and_holds_no_key_in_the_clear() {
    let (a, b) = two_tokens();
    import_kek(&a, "second-kek", OTHER_KEK, true);
    // A key as Knot DNS or pkcs11-tool make it: sensitive, extractable,
    // without CKA_WRAP_WITH_TRUSTED, so the user PIN can read it out.
    a.pkcs11_tool(&[
        "--token-label",
        "test",
        "--login",
        "--pin",
        PIN,
        "--keypairgen",
        "--key-type",
        "EC:prime256v1",
        "--label",
        "knot",
        "--id",
        "0102",
        "--usage-sign",
        "--sensitive",
        "--extractable",
    ]);
    let read = probe(&a, "value", "knot", &[]);
    let value = String::from_utf8_lossy(&read.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("value ").map(str::to_string))
        .expect("the private value, read as an attacker would");
    assert_eq!(value.len(), 64, "{value}");
    let file = a.dir().join("knot.backup");
    let output = backup(&a, "knot", "kek", &file);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("lacks CKA_WRAP_WITH_TRUSTED"),
        "{}",
        stderr(&output)
    );
    let mode = std::fs::metadata(&file).expect("meta").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let bytes = std::fs::read(&file).expect("read");
    let secret: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&value[2 * i..2 * i + 2], 16).expect("hex"))
        .collect();
    assert!(!bytes.windows(32).any(|w| w == secret.as_slice()), "raw");
    let text = String::from_utf8_lossy(&bytes).to_lowercase();
    assert!(!text.contains(&value), "hex");
    use base64::Engine as _;
    for shift in 0..3 {
        // Base64 of the value at any alignment in a longer blob.
        let encoded = base64::engine::general_purpose::STANDARD.encode(&secret[shift..]);
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&encoded[4..36]),
            "base64"
        );
    }
    // Restored, it is no weaker than a -E key: wrap-only under a trusted key.
    let output = restore(&b, &file);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("restored with CKA_WRAP_WITH_TRUSTED=true"),
        "{}",
        stderr(&output)
    );
    let attributes = private_attributes(&b, "knot");
    for expected in [
        "sensitive=true",
        "extractable=true",
        "wrap_with_trusted=true",
    ] {
        assert!(attributes.split(' ').any(|a| a == expected), "{attributes}");
    }
    assert_eq!(probe(&b, "attack", "knot", &[]).status.code(), Some(1));

    // A -E key: the blob depends on the wrapping key.
    a.run_ok(
        "pkcs11-keygen",
        &["-q", "-E", "-a", "ECDSAP256SHA256", "-l", "ksk"],
    );
    let blob = |kek: &str| {
        let file = a.dir().join(format!("ksk-{kek}.backup"));
        assert!(backup(&a, "ksk", kek, &file).status.success());
        std::fs::read_to_string(&file)
            .expect("read")
            .lines()
            .find_map(|l| l.strip_prefix("Wrapped-Key: ").map(str::to_string))
            .expect("blob")
    };
    assert_ne!(blob("kek"), blob("second-kek"));

    // An edited file cannot make the restored copy readable.
    let weakened = edited(
        &a.dir().join("ksk-kek.backup"),
        "Private-Sensitive: true",
        "Private-Sensitive: false",
    );
    let weakened = edited(
        &weakened,
        "Private-Wrap-With-Trusted: true",
        "Private-Wrap-With-Trusted: false",
    );
    let output = restore(&b, &weakened);
    assert!(output.status.success(), "{}", stderr(&output));
    let attributes = private_attributes(&b, "ksk");
    for expected in ["sensitive=true", "wrap_with_trusted=true"] {
        assert!(attributes.split(' ').any(|a| a == expected), "{attributes}");
    }
}

#[test]
fn a_failure_after_the_unwrap_destroys_what_was_made() {
    let (a, b) = two_tokens();
    a.run_ok(
        "pkcs11-keygen",
        &["-q", "-E", "-a", "ECDSAP256SHA256", "-l", "ksk"],
    );
    let file = a.dir().join("ksk.backup");
    assert!(backup(&a, "ksk", "kek", &file).status.success());
    let before = objects(&b);
    let module = fault_crate_artifact("libp11_fault.so");
    let faulted = |function: &str, action: &str| {
        b.tool("pkcs11-restore")
            .args(["-m", module.to_str().expect("path"), "-p", PIN])
            .arg(&file)
            .env("P11FAULT_FUNCTION", function)
            .env("P11FAULT_ACTION", action)
            .env("P11FAULT_NTH", "1")
            .output()
            .expect("run")
    };
    for (function, action, expected) in [
        // The proof signature comes back wrong: the pair is not kept.
        (
            "C_Sign",
            "flip",
            "does not verify under the backup's public key",
        ),
        // The public key cannot be made: the unwrapped private key goes.
        (
            "C_CreateObject",
            "CKR_DEVICE_MEMORY",
            "creating the public key",
        ),
        // The token makes the key and reports a failure (SoftHSM2 2.6 on
        // a template it refuses): the key it left is found and destroyed.
        (
            "C_UnwrapKey",
            "CKR_GENERAL_ERROR",
            "does not unwrap under 'kek'",
        ),
    ] {
        let output = faulted(function, action);
        assert_refused(&output, expected);
        assert!(
            stderr(&output).contains("the objects made were destroyed, the token is as it was"),
            "{function}: {}",
            stderr(&output)
        );
        assert_eq!(objects(&b), before, "{function}: nothing was left on B");
    }
    assert!(
        restore(&b, &file).status.success(),
        "the file still restores"
    );
}

#[test]
fn backups_and_restores_are_audited_without_the_pin() {
    use std::os::unix::net::UnixDatagram;
    let (a, b) = two_tokens();
    a.run_ok(
        "pkcs11-keygen",
        &["-q", "-E", "-a", "ECDSAP256SHA256", "-l", "ksk"],
    );
    let path = a.dir().join("audit.sock");
    let socket = UnixDatagram::bind(&path).expect("bind");
    socket
        .set_read_timeout(Some(std::time::Duration::from_millis(500)))
        .expect("timeout");
    let file = a.dir().join("ksk.backup");
    let audited = |hsm: &Hsm, tool: &str, args: &[&str]| {
        hsm.tool(tool)
            .env("P11DNSSEC_SYSLOG_SOCKET", &path)
            .args(args)
            .args(["-p", PIN])
            .output()
            .expect("run")
    };
    let file_arg = file.to_str().expect("path");
    let args = ["-l", "ksk", "--wrap-key", "kek", file_arg];
    assert!(audited(&a, "pkcs11-backup", &args).status.success());
    assert!(!audited(&a, "pkcs11-backup", &args).status.success());
    assert!(audited(&b, "pkcs11-restore", &[file_arg]).status.success());
    let mut lines = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(n) = socket.recv(&mut buffer) {
        lines.push(String::from_utf8_lossy(&buffer[..n]).into_owned());
    }
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(lines[0].contains(" pkcs11-backup[") && lines[0].contains("backup user="));
    assert!(lines[0].contains(" wrap_key=kek ") && lines[0].ends_with("outcome=success"));
    assert!(lines[1].contains("outcome=\"failure: "), "{}", lines[1]);
    assert!(lines[2].contains(" pkcs11-restore[") && lines[2].contains("restore user="));
    assert!(lines[2].contains(" label=ksk ") && lines[2].ends_with("outcome=success"));
    for line in &lines {
        assert!(!line.contains(PIN), "{line}");
    }
}
