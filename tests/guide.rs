//! The commands of the HSM guide (shared/reference/hsm-dnssec-guide.md)
//! that name our tools, as written, with the SoftHSM2 module and slot.

use crate::hsm::{Hsm, PIN, SOFTHSM_MODULE};

#[test]
fn guide_key_generation_listing_and_rollover_commands_work_as_written() {
    let hsm = Hsm::new();
    let slot = hsm.slot_of("test").to_string();
    let lib = SOFTHSM_MODULE;
    // "Step 3: Generate DNSSEC Keys in HSM"
    for args in [
        vec![
            "-a",
            "RSASHA256",
            "-b",
            "2048",
            "-l",
            "ksk-example-com",
            "-m",
            lib,
            "-s",
            &slot,
            "-p",
            PIN,
        ],
        vec![
            "-a",
            "RSASHA256",
            "-b",
            "1024",
            "-l",
            "zsk-example-com",
            "-m",
            lib,
            "-s",
            &slot,
            "-p",
            PIN,
        ],
        vec![
            "-a",
            "ECDSAP256SHA256",
            "-l",
            "ksk-example-com-ecdsa",
            "-m",
            lib,
            "-s",
            &slot,
            "-p",
            PIN,
        ],
    ] {
        hsm.tool("pkcs11-keygen")
            .args(&args)
            .assert()
            .success()
            .stdout("Key pair generation complete.\n");
    }
    // "Step 4": list the keys.
    let listing = hsm
        .tool("pkcs11-list")
        .args(["-m", lib, "-s", &slot, "-p", PIN])
        .assert()
        .success();
    let listing = String::from_utf8_lossy(&listing.get_output().stdout).into_owned();
    assert_eq!(listing.matches("object[").count(), 6, "{listing}");
    // The KSK ceremony script: connectivity, then an extractable (-E) KSK.
    hsm.tool("pkcs11-tokens")
        .args(["-m", lib])
        .assert()
        .success();
    let label = "ksk-example.com-20261129";
    hsm.tool("pkcs11-keygen")
        .args([
            "-a",
            "RSASHA256",
            "-b",
            "2048",
            "-l",
            label,
            "-m",
            lib,
            "-s",
            &slot,
            "-p",
            PIN,
            "-E",
        ])
        .assert()
        .success();
    let json = hsm.run_ok("pkcs11-list", &["-l", label, "--json"]);
    assert!(
        json.contains("\"sensitive\":true,\"extractable\":true"),
        "{json}"
    );
    // The ZSK rollover's last step, PIN from the environment instead of a prompt.
    hsm.tool("pkcs11-destroy")
        .args(["-l", "zsk-example-com", "-m", lib, "-s", &slot])
        .env("PKCS11_PIN", PIN)
        .args(["-w", "0"])
        .assert()
        .success();
    assert_eq!(
        hsm.run_ok("pkcs11-list", &["-l", "zsk-example-com"])
            .matches("object[")
            .count(),
        0
    );
}

/// The guide's KSK ceremony script, steps 3–5, as written: its
/// `pkcs11-keyfromlabel` has no `-f KSK`, so the key file says flags 256
/// and the DS handed to the registrar would be for a key whose tag changes
/// once it is published as a KSK. Both tools say so on stderr; with
/// `-f KSK` neither does, and the DS is the one of the DNSKEY zone-sign
/// publishes with that key file.
#[test]
fn the_guides_ksk_ceremony_cannot_make_a_ds_for_the_wrong_key_silently() {
    let hsm = Hsm::new();
    let slot = hsm.slot_of("test").to_string();
    let lib = SOFTHSM_MODULE;
    let label = "ksk-example.com-20261129";
    hsm.tool("pkcs11-keygen")
        .args([
            "-a",
            "RSASHA256",
            "-b",
            "2048",
            "-l",
            label,
            "-m",
            lib,
            "-s",
            &slot,
            "-p",
            PIN,
            "-E",
        ])
        .assert()
        .success();
    let export = |extra: &[&str]| {
        hsm.tool("dnskey-from-label")
            .args([
                "-a",
                "RSASHA256",
                "-l",
                label,
                "-m",
                lib,
                "-s",
                &slot,
                "-p",
                PIN,
            ])
            .args(extra)
            .arg("example.com")
            .output()
            .expect("run dnskey-from-label")
    };
    let ds_from = |file: &std::path::Path| {
        crate::hsm::run_plain("ds-from-key", &["-2", file.to_str().expect("path")], None)
    };
    // As written: both steps warn.
    let output = export(&[]);
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the label names a KSK but -f KSK is not given"),
        "{stderr}"
    );
    let key_file = hsm.dir().join("Kexample.com.+008+1796000000.key");
    std::fs::write(&key_file, &output.stdout).expect("write key file");
    let ds = ds_from(&key_file);
    assert!(ds.status.success());
    let stderr = String::from_utf8_lossy(&ds.stderr);
    assert!(stderr.contains("has no SEP flag (flags 256"), "{stderr}");
    // With -f KSK: no warning, flags 257.
    let output = export(&["-f", "KSK"]);
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
    assert!(String::from_utf8_lossy(&output.stdout).contains(" DNSKEY 257 3 8 "));
    std::fs::write(&key_file, &output.stdout).expect("write key file");
    let ds = ds_from(&key_file);
    assert!(ds.status.success());
    assert_eq!(String::from_utf8_lossy(&ds.stderr), "");
}

/// Runs a script of the guide, copied into tests/data/guide/ with only
/// its module path, slot (and the backup's vendor tool and directory)
/// replaced, with our tools and stubs for `mail`, `gpg` and Luna's
/// `lunacm` first in PATH; the PINs come from the environment, as cron
/// would give them.
fn run_guide_script(
    hsm: &Hsm,
    name: &str,
    module: &str,
    pin: &str,
) -> (std::process::Output, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let slot = hsm.slot_of("test").to_string();
    let work = hsm.dir().join(format!("guide-{name}"));
    let bin = work.join("bin");
    std::fs::create_dir_all(&bin).expect("stub dir");
    let stub = |file: &str, body: &str| {
        let path = bin.join(file);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("stub");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    };
    let mail_log = work.join("mail.log");
    stub("mail", &format!("cat >> '{}'", mail_log.display()));
    stub("gpg", "exit 0");
    // `lunacm backup ... -f FILE` writes the partition backup.
    let lunacm = stub(
        "lunacm",
        "while [ $# -gt 0 ]; do [ \"$1\" = -f ] && echo backup > \"$2\"; shift; done",
    );
    let text = std::fs::read_to_string(crate::hsm::data_dir().join("guide").join(name))
        .expect("guide script")
        .replace("@HSM_LIB@", module)
        .replace("@SLOT@", &slot)
        .replace("@LUNACM@", &lunacm.display().to_string())
        .replace("@BACKUP_DIR@", &work.join("backups").display().to_string());
    let script = work.join(name);
    std::fs::write(&script, text).expect("script");
    let tools = crate::hsm::tool_path("pkcs11-tokens");
    let path = format!(
        "{}:{}:{}",
        bin.display(),
        tools.parent().expect("tool dir").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // The environment Hsm::tool gives our tools, for the whole script.
    let envs: Vec<(std::ffi::OsString, Option<std::ffi::OsString>)> = hsm
        .tool("pkcs11-tokens")
        .get_envs()
        .map(|(k, v)| (k.to_owned(), v.map(|v| v.to_owned())))
        .collect();
    let mut command = std::process::Command::new("bash");
    for (key, value) in envs {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    let output = command
        .arg(&script)
        .env("PATH", path)
        .env("PKCS11_PIN", pin)
        .env("HSM_PIN", pin)
        .current_dir(&work)
        .output()
        .expect("bash");
    (output, work)
}

fn make_keys(hsm: &Hsm, count: usize) {
    for i in 0..count {
        let role = if i % 2 == 0 { "ksk" } else { "zsk" };
        hsm.run_ok(
            "pkcs11-keygen",
            &["-q", "-a", "ECDSAP256SHA256", "-l", &format!("{role}-{i}")],
        );
    }
}

#[test]
fn guide_health_check_passes_on_a_healthy_token_and_alerts_on_a_broken_one() {
    let hsm = Hsm::new();
    make_keys(&hsm, 4);
    let (output, work) = run_guide_script(&hsm, "hsm-health-check.sh", SOFTHSM_MODULE, PIN);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("HSM Status: OK"), "{stdout}");
    assert!(stdout.contains("Key Count: OK (4 keys)"), "{stdout}");
    assert!(stdout.contains("All checks passed"), "{stdout}");
    assert!(!work.join("mail.log").exists());

    // A wrong PIN: no key is counted, the session fails, mail goes out.
    let (output, work) = run_guide_script(&hsm, "hsm-health-check.sh", SOFTHSM_MODULE, "1111");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("HSM Status: OK"), "{stdout}");
    assert!(
        stdout.contains("Key Count: WARNING (expected 4, found 0)"),
        "{stdout}"
    );
    assert!(stdout.contains("ALERT: 2 check(s) failed"), "{stdout}");
    assert!(work.join("mail.log").exists());

    // No module: the token is not present either.
    let (output, _) = run_guide_script(&hsm, "hsm-health-check.sh", "/nonexistent/lib.so", PIN);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("HSM Status: FAILED"), "{stdout}");
    assert!(stdout.contains("ALERT: 3 check(s) failed"), "{stdout}");

    // Too few keys.
    let fewer = Hsm::new();
    make_keys(&fewer, 3);
    let (output, _) = run_guide_script(&fewer, "hsm-health-check.sh", SOFTHSM_MODULE, PIN);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("Key Count: WARNING (expected 4, found 3)"),
        "{stdout}"
    );
}

#[test]
fn guide_backup_manifest_records_the_serial_and_the_key_count() {
    let hsm = Hsm::new();
    make_keys(&hsm, 4);
    let json = hsm.run_ok("pkcs11-tokens", &["--json"]);
    let slots: serde_json::Value = serde_json::from_str(&json).expect("json");
    let serial = slots
        .as_array()
        .and_then(|s| s.iter().find(|s| s["label"] == "test"))
        .and_then(|s| s["serial"].as_str())
        .expect("serial")
        .to_string();
    let manifest = |pin: &str| {
        // Each run writes a dated folder: only this run's may be there
        // (two runs a second apart would leave two, read in any order).
        let _ = std::fs::remove_dir_all(hsm.dir().join("guide-hsm-backup.sh/backups"));
        let (output, work) = run_guide_script(&hsm, "hsm-backup.sh", SOFTHSM_MODULE, pin);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert_eq!(output.status.code(), Some(0), "{stdout}");
        assert!(stdout.contains("Backup complete: "), "{stdout}");
        let dated = std::fs::read_dir(work.join("backups"))
            .expect("backup dir")
            .next()
            .expect("a dated dir")
            .expect("entry")
            .path();
        std::fs::read_to_string(dated.join("manifest.txt")).expect("manifest")
    };
    let text = manifest(PIN);
    assert!(
        text.contains(&format!("HSM Serial: \tSerial={serial}\n")),
        "{text}"
    );
    assert!(text.contains("\nKey Count: 4\n"), "{text}");
    // pkcs11-list fails: nothing of its output reaches the manifest.
    let text = manifest("1111");
    assert!(text.contains("\nKey Count: 0\n"), "{text}");
}
