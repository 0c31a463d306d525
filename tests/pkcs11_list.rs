use crate::hsm::{Hsm, PIN};
use crate::pkcs11_tokens::{check_schema, parse_json, Type};

const OBJECT_SCHEMA: [(&str, Type); 16] = [
    ("handle", Type::Number),
    ("class", Type::Or(&Type::String)),
    ("class_number", Type::Number),
    ("key_type", Type::Or(&Type::String)),
    ("label", Type::String),
    ("id", Type::String),
    ("uri", Type::String),
    ("private", Type::Or(&Type::Bool)),
    ("sensitive", Type::Or(&Type::Bool)),
    ("extractable", Type::Or(&Type::Bool)),
    ("always_sensitive", Type::Or(&Type::Bool)),
    ("never_extractable", Type::Or(&Type::Bool)),
    ("sign", Type::Or(&Type::Bool)),
    ("verify", Type::Or(&Type::Bool)),
    ("rsa_bits", Type::Or(&Type::Number)),
    ("curve", Type::Or(&Type::String)),
];

#[test]
fn list_json_follows_its_schema() {
    let hsm = Hsm::new();
    hsm.run_ok(
        "pkcs11-keygen",
        &["-q", "-a", "RSASHA256", "-b", "1024", "-l", "rsa"],
    );
    hsm.run_ok(
        "pkcs11-keygen",
        &["-q", "-a", "ED25519", "-l", "ed", "-i", "258"],
    );
    let text = hsm.run_ok("pkcs11-list", &["--json"]);
    let value = parse_json(&text);
    let objects = value.as_array().expect("an array");
    assert_eq!(objects.len(), 4, "{text}");
    for object in objects {
        check_schema(object, &OBJECT_SCHEMA);
    }
    let rsa_public = objects
        .iter()
        .find(|o| o["label"] == "rsa" && o["class"] == "public")
        .expect("rsa public key");
    assert_eq!(rsa_public["rsa_bits"], 1024);
    assert_eq!(rsa_public["curve"], serde_json::Value::Null);
    assert_eq!(rsa_public["class_number"], 2);
    let ed_private = objects
        .iter()
        .find(|o| o["label"] == "ed" && o["class"] == "private")
        .expect("ed private key");
    assert_eq!(ed_private["id"], "0102");
    assert_eq!(ed_private["sensitive"], true);
    assert_eq!(ed_private["rsa_bits"], serde_json::Value::Null);
    // Nothing matching is an empty array, not nothing.
    assert_eq!(
        parse_json(&hsm.run_ok("pkcs11-list", &["--json", "-l", "nosuch"])),
        serde_json::json!([])
    );
}

#[test]
fn list_prints_bind_lines_with_headers() {
    let hsm = Hsm::new();
    let slot = hsm.slot_of("test");
    hsm.run_ok(
        "pkcs11-keygen",
        &["-a", "ECC", "-i", "258", "-l", "ksk-example-com"],
    );
    hsm.run_ok(
        "pkcs11-keygen",
        &[
            "-a",
            "ECC",
            "-P",
            "--id",
            "0102030405060708090a",
            "-l",
            "longid",
        ],
    );
    let text = hsm.run_ok("pkcs11-list", &[]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], format!("slot {slot}"));
    assert_eq!(lines.len(), 5, "{text}");
    let object_lines = &lines[1..];
    for (index, line) in object_lines.iter().enumerate() {
        assert!(
            line.starts_with(&format!("object[{index}]: handle ")),
            "{line}"
        );
    }
    let find = |needle: &str| object_lines.iter().filter(|l| l.contains(needle)).count();
    assert_eq!(
        find(" class 2 label[15] 'ksk-example-com' id[2] 258 (Public Key)"),
        1,
        "{text}"
    );
    assert_eq!(
        find(" class 3 label[15] 'ksk-example-com' id[2] 258 E:never (Private Key)"),
        1,
        "{text}"
    );
    assert_eq!(
        find(" class 2 label[6] 'longid' id[10] 0x0102030405060708... (Public Key)"),
        1,
        "{text}"
    );
    assert_eq!(
        find(" class 3 label[6] 'longid' id[10] 0x0102030405060708... E:true (Private Key)"),
        1,
        "{text}"
    );

    let by_label = hsm.run_ok("pkcs11-list", &["-l", "longid"]);
    assert!(
        by_label.starts_with(&format!("slot {slot}\nlabel longid\nobject[0]: ")),
        "{by_label}"
    );
    assert_eq!(by_label.lines().count(), 4);
    let by_id = hsm.run_ok("pkcs11-list", &["-i", "258"]);
    assert!(
        by_id.starts_with(&format!("slot {slot}\nid 258\n")),
        "{by_id}"
    );
    assert_eq!(by_id.lines().count(), 4);
    let by_hex = hsm.run_ok("pkcs11-list", &["-i", "0x0102030405060708090a"]);
    assert_eq!(by_hex.matches("'longid'").count(), 2, "{by_hex}");
}

#[test]
fn list_public_only_needs_no_pin() {
    let hsm = Hsm::new();
    hsm.run_ok("pkcs11-keygen", &["-a", "ED25519", "-l", "pub"]);
    let assert = hsm.tool("pkcs11-list").arg("-P").assert().success();
    let text = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert_eq!(text.matches(" class 2 ").count(), 1, "{text}");
    assert!(!text.contains(" class 3 "), "{text}");
}

#[test]
fn list_shows_every_object_past_fifty() {
    let hsm = Hsm::new();
    for i in 0..30 {
        hsm.run_ok(
            "pkcs11-keygen",
            &["-a", "ECC", "-q", "-l", &format!("key-{i:02}")],
        );
    }
    let text = hsm.run_ok("pkcs11-list", &[]);
    assert_eq!(text.matches("object[").count(), 60, "{text}");
    assert!(
        text.contains("object[59]: "),
        "indices must not restart at 50"
    );
    let json = hsm.run_ok("pkcs11-list", &["--json"]);
    assert_eq!(json.matches("\"handle\":").count(), 60);
}

#[test]
fn list_sees_keys_made_by_pkcs11_tool() {
    let hsm = Hsm::new();
    hsm.pkcs11_tool(&[
        "--token-label",
        "test",
        "--login",
        "--pin",
        PIN,
        "--keypairgen",
        "--key-type",
        "EC:prime256v1",
        "--label",
        "opensc-key",
        "--id",
        "0a0b",
    ]);
    let text = hsm.run_ok("pkcs11-list", &["-l", "opensc-key"]);
    assert!(text.contains("label[10] 'opensc-key' id[2] 2571"), "{text}");
    let json = hsm.run_ok("pkcs11-list", &["-l", "opensc-key", "--json"]);
    assert!(json.contains("\"key_type\":\"EC\""), "{json}");
    assert!(json.contains("\"curve\":\"P-256\""), "{json}");
    assert!(json.contains("\"sign\":true"), "{json}");
}

#[test]
fn list_uris_select_the_same_objects() {
    let hsm = Hsm::with_tokens(&["test", "other"]);
    hsm.run_ok(
        "pkcs11-keygen",
        &["--token", "test", "-a", "ED25519", "-l", "my key/1"],
    );
    let uris = hsm.run_ok("pkcs11-list", &["--token", "test", "--uri"]);
    let uris: Vec<&str> = uris.lines().collect();
    assert_eq!(uris.len(), 2);
    for uri in &uris {
        assert!(uri.starts_with("pkcs11:token=test;serial="), "{uri}");
        assert!(uri.contains(";object=my%20key%2F1;"), "{uri}");
        // Pasted back, a URI selects its token and exactly its object.
        let text = hsm.run_ok("pkcs11-list", &["-l", uri]);
        assert_eq!(text.matches("object[").count(), 1, "{uri}: {text}");
    }
}

#[test]
fn list_without_selection_with_two_tokens_asks_to_choose() {
    let hsm = Hsm::with_tokens(&["a", "b"]);
    let assert = hsm.tool("pkcs11-list").args(["-p", PIN]).assert().code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(
        stderr.contains("several tokens: choose one with -s SLOT"),
        "{stderr}"
    );
    assert!(
        stderr.contains("token 'a'") && stderr.contains("token 'b'"),
        "{stderr}"
    );
    let slot = hsm.slot_of("b").to_string();
    hsm.tool("pkcs11-list")
        .args(["-s", &slot, "-p", PIN])
        .assert()
        .success();
    hsm.tool("pkcs11-list")
        .args(["--token", "a", "-p", PIN])
        .assert()
        .success();
    hsm.tool("pkcs11-list")
        .args(["-l", "pkcs11:token=b", "-p", PIN])
        .assert()
        .success();
    let assert = hsm
        .tool("pkcs11-list")
        .args(["-s", "4242", "-p", PIN])
        .assert()
        .code(3);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("no token matches slot 4242"), "{stderr}");
    hsm.tool("pkcs11-list")
        .args(["--token", "zzz", "-p", PIN])
        .assert()
        .code(3);
}

#[test]
fn list_failure_prints_nothing_on_stdout() {
    let hsm = Hsm::new();
    hsm.run_ok("pkcs11-keygen", &["-q", "-a", "ED25519", "-l", "k"]);
    // BIND printed `slot N` before the login that fails; a script reading
    // stdout would take it for a (empty) listing.
    for args in [
        &["-p", "1111"][..],
        &["-p", "1111", "-l", "k"],
        &["-p", "1111", "-i", "1"],
    ] {
        let output = hsm.tool("pkcs11-list").args(args).output().expect("run");
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&output.stdout), "", "{args:?}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("CKR_PIN_INCORRECT"));
    }
}
