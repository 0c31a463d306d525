use crate::hsm::{Hsm, PIN};

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
