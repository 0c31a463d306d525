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
