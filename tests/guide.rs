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
