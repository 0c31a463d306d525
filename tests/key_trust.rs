//! Trust boundaries of key files (issue 10, item 1): a key file names a key,
//! never the module to load or the PIN; `module-name` is a bare name; key
//! files and directories anyone may write are refused; a timing line with a
//! bad date is an error. Each attack runs against a real SoftHSM2 token, and
//! the planted module is a real shared object whose constructor leaves a
//! marker file, so "refused" means the code never ran.

use crate::hsm::{Hsm, PIN};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

/// A token with a KSK and a ZSK, their key files in `keys/`, the fixture
/// zone, a PIN file and a planted module that would write `marker`.
struct Setup {
    hsm: Hsm,
    keys: PathBuf,
    zone: PathBuf,
    pin_file: PathBuf,
    evil: PathBuf,
    marker: PathBuf,
    /// The ZSK's `.key` file (its DNSKEY is copied into planted files).
    zsk_key: PathBuf,
}

fn setup() -> Setup {
    let hsm = Hsm::new();
    let pin_file = hsm.private_file("pin", PIN.as_bytes());
    let keys = hsm.dir().join("keys");
    std::fs::create_dir(&keys).expect("keys dir");
    let [_, zsk] = hsm.ksk_and_zsk_key_files("ECDSAP256SHA256", &keys);
    let zsk_key = keys.join(format!("{zsk}.key"));
    let zone = hsm.dir().join("example.com.zone");
    std::fs::copy(crate::hsm::data_dir().join("zones/example.com.zone"), &zone).expect("copy zone");
    let (evil, marker) = build_evil_module(hsm.dir());
    Setup {
        hsm,
        keys,
        zone,
        pin_file,
        evil,
        marker,
        zsk_key,
    }
}

/// A shared object whose constructor writes a marker file when it is
/// loaded: what an attacker would plant.
fn build_evil_module(dir: &Path) -> (PathBuf, PathBuf) {
    let evil_dir = dir.join("x");
    std::fs::create_dir(&evil_dir).expect("evil dir");
    let marker = dir.join("marker");
    let source = evil_dir.join("evil.c");
    std::fs::write(
        &source,
        format!(
            "#include <stdio.h>\n\
             __attribute__((constructor)) static void planted(void) {{\n\
             FILE *f = fopen(\"{}\", \"w\");\n\
             if (f) {{ fputs(\"loaded\\n\", f); fclose(f); }}\n\
             }}\n",
            marker.display()
        ),
    )
    .expect("evil.c");
    let evil = evil_dir.join("evil.so");
    let status = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&evil)
        .arg(&source)
        .status()
        .expect("cc must be installed");
    assert!(status.success(), "cc failed");
    (evil, marker)
}

impl Setup {
    /// Plants `Kexample.com.+013+00000` (sorted before the real keys, so
    /// that it is the first key the signer would connect for) with the ZSK's
    /// DNSKEY and this `Label:` (base64 of a C string, as BIND writes it).
    /// Returns the `.private` path and the line number of its Label.
    fn plant(&self, label: &str) -> (PathBuf, usize) {
        let base = self
            .keys
            .join("Kexample.com.+013+00000")
            .display()
            .to_string();
        std::fs::copy(&self.zsk_key, format!("{base}.key")).expect("key");
        let private = PathBuf::from(format!("{base}.private"));
        let text = format!(
            "Private-key-format: v1.3\nAlgorithm: 13 (ECDSAP256SHA256)\nEngine: cGtjczExAA==\n\
             Label: {}\nCreated: 20260101000000\nPublish: 20260101000000\nActivate: 20260101000000\n",
            c_string_base64(label)
        );
        std::fs::write(&private, text).expect("private");
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        (private, 4)
    }

    fn zone_sign(&self, args: &[&str]) -> Output {
        self.hsm
            .tool("zone-sign")
            .current_dir(self.hsm.dir())
            // Today's main blocks for ever on a FIFO: fail instead.
            .timeout(std::time::Duration::from_secs(120))
            .args(["-K", self.keys.to_str().expect("path"), "-o", "example.com"])
            .args(args)
            .output()
            .expect("run zone-sign")
    }

    /// `-S` with the PIN in PKCS11_PIN, as cron jobs often give it: the
    /// case where a key file's PIN or PIN source would win.
    fn smart_sign_pin_from_environment(&self) -> Output {
        self.hsm
            .tool("zone-sign")
            .current_dir(self.hsm.dir())
            .env("PKCS11_PIN", PIN)
            .args([
                "-S",
                "-K",
                self.keys.to_str().expect("p"),
                "-o",
                "example.com",
            ])
            .arg(&self.zone)
            .output()
            .expect("run")
    }

    fn smart_sign(&self, extra: &[&str]) -> Output {
        let mut args = vec!["-S", "--pin-file", self.pin_file.to_str().expect("p")];
        args.extend_from_slice(extra);
        args.push(self.zone.to_str().expect("zone"));
        self.zone_sign(&args)
    }

    /// Nothing was written and the planted code never ran.
    fn assert_nothing_happened(&self) {
        assert!(!self.marker.exists(), "the planted module was loaded");
        assert!(
            !PathBuf::from(format!("{}.signed", self.zone.display())).exists(),
            "a signed zone was written"
        );
        assert!(
            !self.hsm.dir().join("dsset-example.com.").exists(),
            "a dsset was written"
        );
    }

    /// SoftHSM2 sets "user PIN count low" after a failed C_Login.
    fn assert_no_failed_login(&self) {
        let info = self.hsm.pkcs11_tool(&["-L"]);
        assert!(
            !info.contains("PIN count low"),
            "a wrong PIN was tried: {info}"
        );
    }
}

use common::keyfile::{c_string_base64, decode_c_string};

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_refused_at(output: &Output, private: &Path, line: usize, attribute: &str) {
    let text = stderr(output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.starts_with(&format!(
            "zone-sign: {}:{line}: bad Label: the key's label holds '{attribute}'",
            private.display()
        )),
        "{text}"
    );
    assert!(text.contains("--pin-file or PKCS11_PIN"), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
}

#[test]
fn a_planted_module_path_is_refused_before_anything_is_loaded() {
    let s = setup();
    let (private, line) = s.plant(&format!(
        "pkcs11:object=zsk?module-path={}",
        s.evil.display()
    ));
    let output = s.smart_sign(&[]);
    assert_refused_at(&output, &private, line, "module-path");
    s.assert_nothing_happened();
}

#[test]
fn re_signing_a_zone_with_a_planted_dnskey_refuses_its_key_file() {
    // Without -S the keys are those in -K whose DNSKEY is at the apex: the
    // attacker puts their DNSKEY in the zone and their key file in -K.
    let s = setup();
    let (private, line) = s.plant(&format!(
        "pkcs11:object=zsk;module-path={}",
        s.evil.display()
    ));
    let dnskey = std::fs::read_to_string(&s.zsk_key).expect("key");
    let record = dnskey
        .lines()
        .find(|l| !l.starts_with(';'))
        .expect("DNSKEY line");
    let mut zone = std::fs::read_to_string(&s.zone).expect("zone");
    zone.push_str(record);
    zone.push('\n');
    std::fs::write(&s.zone, zone).expect("zone");
    let output = s.zone_sign(&[
        "--pin-file",
        s.pin_file.to_str().expect("p"),
        s.zone.to_str().expect("zone"),
    ]);
    assert_refused_at(&output, &private, line, "module-path");
    s.assert_nothing_happened();
}

#[test]
fn a_module_name_is_a_bare_name_in_key_files_and_on_the_command_line() {
    let s = setup();
    let evil_stem = s.evil.with_extension("");
    let climbing = format!(
        "{}{}",
        "../".repeat(12),
        evil_stem.display().to_string().trim_start_matches('/')
    );
    for name in [evil_stem.display().to_string(), climbing.clone()] {
        let (private, line) = s.plant(&format!("pkcs11:object=zsk?module-name={name}"));
        let output = s.smart_sign(&[]);
        assert_refused_at(&output, &private, line, "module-name");
        s.assert_nothing_happened();
    }
    std::fs::remove_file(s.keys.join("Kexample.com.+013+00000.private")).expect("rm");
    for name in [evil_stem.display().to_string(), climbing] {
        let uri = format!("pkcs11:token=test;object=zsk?module-name={name}");
        let output = s
            .hsm
            .tool("pkcs11-list")
            .args(["-l", &uri, "-p", PIN])
            .output()
            .expect("run");
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{text}");
        assert!(
            text.contains("'module-name' must be a bare module name"),
            "{text}"
        );
        let output = s.zone_sign(&[
            "--pin-file",
            s.pin_file.to_str().expect("p"),
            s.zone.to_str().expect("zone"),
            &uri,
        ]);
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        s.assert_nothing_happened();
    }
}

#[test]
fn a_planted_pin_value_is_refused_before_any_login() {
    let s = setup();
    let (private, line) = s.plant("pkcs11:object=zsk?pin-value=00000000");
    let output = s.smart_sign_pin_from_environment();
    assert_refused_at(&output, &private, line, "pin-value");
    assert!(!stderr(&output).contains("00000000"));
    s.assert_nothing_happened();
    s.assert_no_failed_login();
}

#[test]
fn a_pin_source_in_a_key_file_is_refused_with_a_hint_for_bind_916_files() {
    let s = setup();
    let secret = s.hsm.private_file("secret", b"not-the-pin-but-a-secret\n");
    // As BIND 9.16's dnssec-keyfromlabel stored it: pin-source in the path.
    let (private, line) = s.plant(&format!(
        "pkcs11:object=zsk;pin-source={}",
        secret.display()
    ));
    let output = s.smart_sign_pin_from_environment();
    assert_refused_at(&output, &private, line, "pin-source");
    let text = stderr(&output);
    assert!(text.contains("BIND 9.16"), "{text}");
    assert!(!text.contains("not-the-pin"), "{text}");
    s.assert_nothing_happened();
    s.assert_no_failed_login();
    // Our own key files never hold one, even when -l did.
    let output = s
        .hsm
        .tool("dnskey-from-label")
        .args([
            "-l",
            &format!("pkcs11:object=ksk?pin-source={}", s.pin_file.display()),
        ])
        .args(["-K", s.hsm.dir().to_str().expect("p"), "example.net"])
        .output()
        .expect("run");
    assert!(output.status.success(), "{}", stderr(&output));
    let base = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let written =
        std::fs::read_to_string(s.hsm.dir().join(format!("{base}.private"))).expect("private");
    let label = written
        .lines()
        .find_map(|l| l.strip_prefix("Label: "))
        .expect("label");
    let label = decode_c_string(label);
    assert!(label.starts_with("pkcs11:"), "{label}");
    assert!(!label.contains("pin-source"), "{label}");
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[test]
fn key_files_and_directories_anyone_may_write_are_refused() {
    let s = setup();
    let signed = PathBuf::from(format!("{}.signed", s.zone.display()));
    let refused = |output: &Output, what: &str, path: &Path| {
        let text = stderr(output);
        assert_eq!(output.status.code(), Some(1), "{text}");
        assert!(
            text.contains(&format!(
                "{what} '{}' is writable by anyone",
                path.display()
            )),
            "{text}"
        );
        assert!(text.contains("--insecure-key-dir"), "{text}");
        assert!(!signed.exists());
    };
    // o+w, and o+w with the sticky bit as /tmp has.
    for mode in [0o757, 0o1777] {
        chmod(&s.keys, mode);
        refused(&s.smart_sign(&[]), "key directory", &s.keys);
    }
    chmod(&s.keys, 0o755);
    let zsk_private = s.zsk_key.with_extension("private");
    chmod(&zsk_private, 0o602);
    refused(&s.smart_sign(&[]), "key file", &zsk_private);
    // ds-from-key reads key files too.
    chmod(&s.zsk_key, 0o646);
    let output = s
        .hsm
        .tool("ds-from-key")
        .arg(&s.zsk_key)
        .output()
        .expect("run");
    refused(&output, "key file", &s.zsk_key);
    let output = s
        .hsm
        .tool("ds-from-key")
        .arg("--insecure-key-dir")
        .arg(&s.zsk_key)
        .output()
        .expect("run");
    assert!(output.status.success(), "{}", stderr(&output));
    // dnskey-from-label -K writes key files there: refused before any login.
    chmod(&s.keys, 0o1777);
    let output = s
        .hsm
        .tool("dnskey-from-label")
        .args([
            "-l",
            "zsk",
            "-K",
            s.keys.to_str().expect("p"),
            "-p",
            "00000000",
        ])
        .arg("example.org")
        .output()
        .expect("run");
    refused(&output, "key directory", &s.keys);
    s.assert_no_failed_login();

    // --insecure-key-dir signs, and says so once.
    let output = s.smart_sign(&["--insecure-key-dir"]);
    let text = stderr(&output);
    assert!(output.status.success(), "{text}");
    let line = "zone-sign: warning: --insecure-key-dir: trusting key files and key directories that others may write";
    assert_eq!(text.matches(line).count(), 1, "{text}");
}

#[test]
fn group_writable_key_directories_get_a_warning() {
    let s = setup();
    chmod(&s.keys, 0o775);
    let output = s.smart_sign(&[]);
    let text = stderr(&output);
    assert!(output.status.success(), "{text}");
    assert_eq!(
        text.matches(&format!(
            "zone-sign: warning: key directory '{}' is group-writable (mode 0775)",
            s.keys.display()
        ))
        .count(),
        1,
        "{text}"
    );
}

#[test]
fn a_key_file_that_is_not_a_regular_file_is_refused() {
    let s = setup();
    let zsk_private = s.zsk_key.with_extension("private");
    std::fs::remove_file(&zsk_private).expect("rm");
    // A FIFO would block a read for ever.
    let status = std::process::Command::new("mkfifo")
        .arg(&zsk_private)
        .status()
        .expect("mkfifo");
    assert!(status.success());
    let output = s.smart_sign(&[]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!(
            "key file '{}' is not a regular file: refusing it",
            zsk_private.display()
        )),
        "{text}"
    );
}

#[test]
fn a_timing_line_with_a_bad_date_is_an_error_with_file_line() {
    let s = setup();
    let zsk_private = s.zsk_key.with_extension("private");
    let mut text = std::fs::read_to_string(&zsk_private).expect("private");
    let line = text.lines().count() + 1;
    // Month 13: the key is meant to be retired, so it must not keep signing.
    text.push_str("Inactive: 20261301000000\n");
    std::fs::write(&zsk_private, text).expect("write");
    let output = s.smart_sign(&[]);
    let stderr = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        format!(
            "zone-sign: {}:{line}: bad Inactive time '20261301000000': expected YYYYMMDDHHMMSS",
            zsk_private.display()
        )
    );
    s.assert_nothing_happened();
}

#[test]
fn a_key_file_with_an_include_is_refused() {
    let s = setup();
    let mut text = std::fs::read_to_string(&s.zsk_key).expect("key");
    text.insert_str(0, "$INCLUDE /etc/passwd\n");
    std::fs::write(&s.zsk_key, text).expect("write");
    let output = s
        .hsm
        .tool("ds-from-key")
        .arg(&s.zsk_key)
        .output()
        .expect("run");
    let stderr = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        format!(
            "ds-from-key: {}:1: a key file holds no directives such as '$INCLUDE'",
            s.zsk_key.display()
        )
    );
}
