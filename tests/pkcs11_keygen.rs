use crate::hsm::{fault_crate_artifact, Hsm, PIN, SO_PIN};
use std::process::Output;

/// The block of pkcs11-tool's listing for the object of this kind and label.
fn hsm_block(listing: &str, kind: &str, label: &str) -> String {
    let mut blocks: Vec<String> = Vec::new();
    for line in listing.lines() {
        if !line.starts_with(' ') {
            blocks.push(String::new());
        }
        if let Some(block) = blocks.last_mut() {
            block.push_str(line);
            block.push('\n');
        }
    }
    blocks
        .into_iter()
        .find(|b| b.starts_with(kind) && b.contains(&format!("label:      {label}\n")))
        .unwrap_or_else(|| panic!("no {kind} {label}: {listing}"))
}

fn list_json(hsm: &Hsm, label: &str) -> String {
    hsm.run_ok("pkcs11-list", &["-l", label, "--json"])
}

#[test]
fn keygen_makes_every_algorithm_sensitive_and_never_extractable() {
    let hsm = Hsm::new();
    let cases = [
        ("RSASHA256", Some("1024"), "rsa", "RSA 1024 bits"),
        ("ECDSAP256SHA256", None, "p256", "EC_POINT 256 bits"),
        // BIND made P-256 here; the algorithm name must decide the curve.
        ("ECDSAP384SHA384", None, "p384", "EC_POINT 384 bits"),
        ("ED25519", None, "ed25519", "EC_EDWARDS"),
        ("ED448", None, "ed448", "EC_EDWARDS"),
    ];
    for (algorithm, bits, label, _) in cases {
        let mut args = vec!["-a", algorithm, "-l", label];
        if let Some(bits) = bits {
            args.extend(["-b", bits]);
        }
        assert_eq!(
            hsm.run_ok("pkcs11-keygen", &args),
            "Key pair generation complete.\n"
        );
    }
    let objects = hsm.pkcs11_tool_objects();
    for (_, _, label, kind) in cases {
        let private = hsm_block(&objects, "Private Key Object", label);
        assert!(
            private.contains("Access:     sensitive, always sensitive, never extractable, local"),
            "{label}: {private}"
        );
        let public = hsm_block(&objects, "Public Key Object", label);
        assert!(public.contains(kind), "{label}: {public}");
    }
    assert!(list_json(&hsm, "p384").contains("\"curve\":\"P-384\""));
    assert!(list_json(&hsm, "ed448").contains("\"curve\":\"Ed448\""));
    assert!(list_json(&hsm, "ed25519").contains("\"curve\":\"Ed25519\""));
    assert!(list_json(&hsm, "rsa").contains("\"rsa_bits\":1024"));
}

#[test]
fn keygen_default_id_is_sha1_of_the_public_key_info() {
    use sha1::Digest;
    let hsm = Hsm::new();
    hsm.run_ok(
        "pkcs11-keygen",
        &["-a", "RSASHA256", "-b", "1024", "-l", "knot-style"],
    );
    let der = hsm.dir().join("public.der");
    hsm.pkcs11_tool(&[
        "--token-label",
        "test",
        "--read-object",
        "--type",
        "pubkey",
        "--label",
        "knot-style",
        "--output-file",
        der.to_str().expect("path"),
    ]);
    let digest = sha1::Sha1::digest(std::fs::read(&der).expect("der"));
    let expected = data_encoding::HEXLOWER.encode(&digest);
    let json = list_json(&hsm, "knot-style");
    assert_eq!(
        json.matches(&format!("\"id\":\"{expected}\"")).count(),
        2,
        "{json}"
    );
}

#[test]
fn keygen_numeric_and_hex_ids() {
    let hsm = Hsm::new();
    hsm.run_ok(
        "pkcs11-keygen",
        &["-a", "ECC", "-q", "-i", "70000", "-l", "ec-num"],
    );
    assert!(list_json(&hsm, "ec-num").contains("\"id\":\"00011170\""));
    hsm.run_ok(
        "pkcs11-keygen",
        &["-a", "ECC", "-q", "-i", "0x102", "-l", "ec-hex"],
    );
    assert!(list_json(&hsm, "ec-hex").contains("\"id\":\"0102\""));
    hsm.run_ok(
        "pkcs11-keygen",
        &["-a", "ECC", "-q", "--id", "0a0b0c", "ec-bytes"],
    );
    assert!(list_json(&hsm, "ec-bytes").contains("\"id\":\"0a0b0c\""));
    // The same ID again would make lookups by ID ambiguous.
    hsm.tool("pkcs11-keygen")
        .args(["-a", "ECC", "--id", "0a0b0c", "-l", "other", "-p", PIN])
        .assert()
        .code(1)
        .stderr("pkcs11-keygen: an object with id 0x0a0b0c already exists\n");
}

#[test]
fn keygen_protection_flags() {
    let hsm = Hsm::new();
    hsm.run_ok("pkcs11-keygen", &["-a", "ECC", "-P", "-l", "plain"]);
    let json = list_json(&hsm, "plain");
    assert!(
        json.contains("\"sensitive\":false,\"extractable\":true"),
        "{json}"
    );
    hsm.run_ok("pkcs11-keygen", &["-a", "ECC", "-E", "-l", "wrappable"]);
    let json = list_json(&hsm, "wrappable");
    assert!(
        json.contains("\"sensitive\":true,\"extractable\":true"),
        "{json}"
    );
    let json = hsm.run_ok("pkcs11-list", &["-l", "wrappable", "-i", "0x00"]);
    assert!(
        !json.contains("object["),
        "label and id must both match: {json}"
    );
}

#[test]
fn keygen_refuses_a_taken_label_and_creates_nothing() {
    let hsm = Hsm::new();
    hsm.run_ok("pkcs11-keygen", &["-a", "ED25519", "-l", "taken"]);
    let before = hsm.run_ok("pkcs11-list", &[]);
    hsm.tool("pkcs11-keygen")
        .args(["-a", "ECC", "-l", "taken", "-p", PIN])
        .assert()
        .code(1)
        .stdout("")
        .stderr("pkcs11-keygen: Key already exists.\n");
    assert_eq!(hsm.run_ok("pkcs11-list", &[]), before);
}

#[test]
fn keygen_rsa_without_size_is_2048_with_a_note() {
    let hsm = Hsm::new();
    hsm.tool("pkcs11-keygen")
        .args(["-a", "RSASHA256", "-l", "rsa-default", "-p", PIN])
        .assert()
        .success()
        .stderr("pkcs11-keygen: note: no -b given: making a 2048-bit RSA key\n");
    assert!(list_json(&hsm, "rsa-default").contains("\"rsa_bits\":2048"));
}

#[test]
fn keygen_usage_errors_create_nothing() {
    let hsm = Hsm::new();
    for args in [
        &["-a", "DSA", "-l", "k"][..],
        &["-a", "ECC", "-b", "521", "-l", "k"],
        &["-a", "ECDSAP256SHA256", "-b", "384", "-l", "k"],
        &["-a", "RSA", "-b", "100000", "-l", "k"],
        &["-a", "ECC", "-e", "-l", "k"],
        &["-a", "ECC"],
        &["-S", "-l", "k"],
        &["-l", "pkcs11:object=%zz"],
    ] {
        let assert = hsm
            .tool("pkcs11-keygen")
            .args(args)
            .args(["-p", PIN])
            .assert()
            .code(2);
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("pkcs11-keygen: "), "{stderr}");
    }
    assert_eq!(
        hsm.run_ok("pkcs11-list", &[]),
        format!("slot {}\n", hsm.slot_of("test"))
    );
}

#[test]
fn keygen_accepts_a_uri_naming_token_object_and_id() {
    let hsm = Hsm::with_tokens(&["first", "second"]);
    hsm.tool("pkcs11-keygen")
        .args([
            "-a",
            "ED25519",
            "-l",
            "pkcs11:token=second;object=via-uri;id=%AB%CD",
            "-p",
            PIN,
        ])
        .assert()
        .success();
    let json = hsm.run_ok(
        "pkcs11-list",
        &["--token", "second", "-l", "via-uri", "--json"],
    );
    assert!(json.contains("\"id\":\"abcd\""), "{json}");
    let json = hsm.run_ok("pkcs11-list", &["--token", "first", "--json"]);
    assert_eq!(json.trim(), "[]");
}

/// Runs p11-probe (tests/fault-module/src/bin) in one of its roles on the
/// HSM's token.
fn probe(hsm: &Hsm, role: &str, label: &str) -> Output {
    let output = std::process::Command::new(fault_crate_artifact("p11-probe"))
        .args([role, label])
        .env("SOFTHSM2_CONF", hsm.dir().join("softhsm2.conf"))
        .env("P11PROBE_PIN", PIN)
        .env("P11PROBE_SO_PIN", SO_PIN)
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

/// The private key's line of `p11-probe attrs`.
fn private_attributes(hsm: &Hsm, label: &str) -> String {
    let output = probe(hsm, "attrs", label);
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find(|l| l.starts_with("class=private "))
        .unwrap_or_else(|| panic!("no private key {label}"))
        .to_string()
}

fn assert_attributes(line: &str, expected: &[&str], what: &str) {
    for attribute in expected {
        assert!(
            line.split(' ').any(|a| a == *attribute),
            "{what}: {attribute}: {line}"
        );
    }
}

/// What every private key is, whatever the options: it signs and does
/// nothing else, and stays in the token.
const ONLY_SIGNS: [&str; 9] = [
    "sign=true",
    "decrypt=false",
    "unwrap=false",
    "sign_recover=false",
    "derive=false",
    "sensitive=true",
    "private=true",
    "token=true",
    "modifiable=false",
];

#[test]
fn keygen_private_keys_only_sign_and_cannot_be_changed() {
    let hsm = Hsm::new();
    let cases: [(&str, &[&str]); 4] = [
        ("rsa", &["-a", "RSASHA256", "-b", "1024"]),
        ("p256", &["-a", "ECDSAP256SHA256"]),
        ("ed25519", &["-a", "ED25519"]),
        ("with-id", &["-a", "ECDSAP384SHA384", "--id", "0f0e"]),
    ];
    for (label, args) in cases {
        let output = hsm
            .tool("pkcs11-keygen")
            .args(args)
            .args(["-l", label, "-p", PIN])
            .output()
            .expect("run");
        assert!(output.status.success(), "{label}: {output:?}");
        // SoftHSM2 takes the full template: no warning.
        assert_eq!(String::from_utf8_lossy(&output.stderr), "", "{label}");
        let line = private_attributes(&hsm, label);
        assert_attributes(&line, &ONLY_SIGNS, label);
        assert_attributes(&line, &["extractable=false"], label);
        // Nor can a copy of it be made with other attributes.
        let copies = String::from_utf8_lossy(&probe(&hsm, "copy", label).stdout).into_owned();
        assert_eq!(copies.matches(": refused ").count(), 3, "{label}: {copies}");
    }
    // With the ID known at creation the key is not even copyable.
    assert_attributes(
        &private_attributes(&hsm, "with-id"),
        &["copyable=false"],
        "with-id",
    );
    // The ID is still SHA-1 of the public key (see above): the copy kept it.
    let json = list_json(&hsm, "p256");
    assert_eq!(json.matches("\"id\":\"").count(), 2, "{json}");
    // --modifiable, when the operator wants to relabel later.
    hsm.run_ok(
        "pkcs11-keygen",
        &["-a", "ECC", "--modifiable", "-l", "relabel"],
    );
    let line = private_attributes(&hsm, "relabel");
    assert_attributes(
        &line,
        &["modifiable=true", "copyable=false", "decrypt=false"],
        "relabel",
    );
}

#[test]
fn keygen_wrap_only_keys_leave_only_under_a_key_the_so_trusts() {
    let hsm = Hsm::new();
    hsm.run_ok(
        "pkcs11-keygen",
        &["-a", "ECDSAP256SHA256", "-E", "-l", "backup-me"],
    );
    // The attacker holds the user PIN and makes an AES key of its own.
    let attack = probe(&hsm, "attack", "backup-me");
    let text = String::from_utf8_lossy(&attack.stdout).into_owned();
    assert_eq!(
        attack.status.code(),
        Some(1),
        "the key was read out: {text}"
    );
    assert!(text.contains("KeyNotWrappable"), "{text}");
    let line = private_attributes(&hsm, "backup-me");
    assert_attributes(
        &line,
        &[
            "sensitive=true",
            "extractable=true",
            "wrap_with_trusted=true",
        ],
        "-E",
    );
    // The security officer's CKA_TRUSTED key is the way out, for backups.
    let backup = probe(&hsm, "trusted", "backup-me");
    let text = String::from_utf8_lossy(&backup.stdout).into_owned();
    assert_eq!(backup.status.code(), Some(0), "{text}");
    assert!(text.contains("wrapped under the trusted key"), "{text}");
    // -P keys stay readable: that is what -P asks for.
    hsm.run_ok("pkcs11-keygen", &["-a", "ECC", "-P", "-l", "plain"]);
    assert_eq!(probe(&hsm, "attack", "plain").status.code(), Some(0));
}

#[test]
fn keygen_retries_once_without_the_optional_attributes_a_token_refuses() {
    let hsm = Hsm::new();
    let module = fault_crate_artifact("libp11_fault.so");
    let keygen = |label: &str, refuse: &str, extra: &[&str]| {
        hsm.tool("pkcs11-keygen")
            .args(["-a", "ECC", "-q", "-l", label, "-p", PIN, "-m"])
            .arg(&module)
            .args(extra)
            .env("P11FAULT_REFUSE_ATTRIBUTE", refuse)
            .env("P11FAULT_REFUSE_WITH", "CKR_ATTRIBUTE_VALUE_INVALID")
            .output()
            .expect("run")
    };
    // A token that does not know CKA_COPYABLE (CloudHSM's answer).
    let output = keygen("picky", "CKA_COPYABLE", &["--id", "0101"]);
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        stderr.starts_with(
            "pkcs11-keygen: warning: the token refused the key template \
             (C_GenerateKeyPair: CKR_ATTRIBUTE_VALUE_INVALID): made the key without "
        ) && stderr.contains("CKA_COPYABLE=false")
            && stderr.contains("the private key has the token's defaults")
            && stderr.contains("CKA_DECRYPT=true"),
        "{stderr}"
    );
    let line = private_attributes(&hsm, "picky");
    assert_attributes(
        &line,
        &[
            "sign=true",
            "sensitive=true",
            "extractable=false",
            "private=true",
            "token=true",
        ],
        "after the retry",
    );
    // What keeps the key in the token is never dropped: no key at all.
    for (label, refuse, extra) in [
        ("no-sensitive", "CKA_SENSITIVE", &[][..]),
        ("no-trusted", "CKA_WRAP_WITH_TRUSTED", &["-E"][..]),
    ] {
        let output = keygen(label, refuse, extra);
        assert_eq!(output.status.code(), Some(1), "{label}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            stderr.contains("(also without the optional attributes")
                && stderr.contains("CKR_ATTRIBUTE_VALUE_INVALID"),
            "{label}: {stderr}"
        );
        assert!(
            !hsm.run_ok("pkcs11-list", &[]).contains(label),
            "{label} was made"
        );
    }
}
