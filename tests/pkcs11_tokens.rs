use crate::hsm::{Hsm, PIN, SOFTHSM_MODULE};
use serde_json::Value;

/// The JSON type of a key in a tool's documented schema (its man page's
/// JSON OUTPUT); `Or(t)` is `t` or `null`.
#[derive(Clone, Copy, Debug)]
pub enum Type {
    Number,
    String,
    Bool,
    Strings,
    Or(&'static Type),
}

fn has_type(value: &Value, wanted: Type) -> bool {
    match wanted {
        Type::Number => value.is_number(),
        Type::String => value.is_string(),
        Type::Bool => value.is_boolean(),
        Type::Strings => value
            .as_array()
            .is_some_and(|items| items.iter().all(Value::is_string)),
        Type::Or(inner) => value.is_null() || has_type(value, *inner),
    }
}

/// Checks that `text` is JSON by `python3 -m json.tool` and parses it.
pub fn parse_json(text: &str) -> Value {
    use std::io::Write;
    let mut child = std::process::Command::new("python3")
        .args(["-m", "json.tool"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 must be installed");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let output = child.wait_with_output().expect("python3");
    assert!(
        output.status.success(),
        "python3 -m json.tool: {}: {text}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(text).expect("serde_json parses it too")
}

/// Checks that `object` has exactly the keys of `schema`, each of its type.
pub fn check_schema(object: &Value, schema: &[(&str, Type)]) {
    let map = object
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {object}"));
    let keys: Vec<&str> = map.keys().map(String::as_str).collect();
    let mut wanted: Vec<&str> = schema.iter().map(|(k, _)| *k).collect();
    let mut got = keys.clone();
    wanted.sort_unstable();
    got.sort_unstable();
    assert_eq!(got, wanted, "keys of {object}");
    for (key, wanted) in schema {
        assert!(
            has_type(&map[*key], *wanted),
            "{key} should be {wanted:?} in {object}"
        );
    }
}

const SLOT_SCHEMA: [(&str, Type); 19] = [
    ("slot_id", Type::Number),
    ("slot_description", Type::String),
    ("slot_manufacturer", Type::String),
    ("token_present", Type::Bool),
    ("uri", Type::Or(&Type::String)),
    ("label", Type::Or(&Type::String)),
    ("manufacturer", Type::Or(&Type::String)),
    ("model", Type::Or(&Type::String)),
    ("serial", Type::Or(&Type::String)),
    ("initialized", Type::Or(&Type::Bool)),
    ("login_required", Type::Or(&Type::Bool)),
    ("user_pin_initialized", Type::Or(&Type::Bool)),
    ("user_pin_locked", Type::Or(&Type::Bool)),
    ("write_protected", Type::Or(&Type::Bool)),
    ("session_count", Type::Or(&Type::Number)),
    ("max_session_count", Type::Or(&Type::Number)),
    ("sessions_unlimited", Type::Or(&Type::Bool)),
    ("bind_operations", Type::Or(&Type::Number)),
    ("dnssec_algorithms", Type::Or(&Type::Strings)),
];

#[test]
fn tokens_prints_bind_blocks_with_padded_fields() {
    let hsm = Hsm::new();
    let slot = hsm.slot_of("test");
    let output = hsm
        .tool("pkcs11-tokens")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(output).expect("utf8");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("DEFAULTS"));
    assert!(
        text.contains("\tbest_rsa_token=pkcs11:token=test;"),
        "{text}"
    );
    assert!(text.contains("\tbest_eddsa_token=pkcs11:"), "{text}");
    let block = text
        .split("\n\n")
        .find(|b| b.contains(&format!("slotID={slot}")))
        .expect("token block");
    assert!(
        block.starts_with("TOKEN\n\taddress=pkcs11:token=test;"),
        "{block}"
    );
    assert!(
        block.contains(&format!("\tlabel={:<32}\n", "test")),
        "{block}"
    );
    assert!(block.contains(&format!("\tmanufacturerID={:<32}\n", "SoftHSM project")));
    assert!(block.contains(&format!("\tmodel={:<16}\n", "SoftHSM v2")));
    assert!(
        block.contains("\tsupported operations=0x32 (RSA,EC)\n"),
        "{block}"
    );
    assert!(block.contains("\tinitialized=yes\n"));
    assert!(block.contains("\tloginRequired=yes\n"));
    assert!(block.contains("\tdnssecAlgorithms=") && block.contains("ECDSAP256SHA256"));
    assert!(block.contains("ED25519"), "{block}");
    // The HSM guide's scripts grep for these, after BIND's lines.
    assert!(
        block.ends_with(&format!(
            "\n\tstatus=Token present\n\tSerial={}",
            block
                .lines()
                .find_map(|l| l.strip_prefix("\tserialNumber="))
                .expect("serialNumber")
                .trim_end()
        )),
        "{block}"
    );
    // SoftHSM2 keeps one free, uninitialized token: shown, not initialized.
    assert!(text.contains("\tinitialized=no\n"), "{text}");
}

#[test]
fn tokens_json_lists_every_slot() {
    let hsm = Hsm::with_tokens(&["one", "two"]);
    let text = String::from_utf8(
        hsm.tool("pkcs11-tokens")
            .arg("--json")
            .assert()
            .success()
            .get_output()
            .stdout
            .clone(),
    )
    .expect("utf8");
    let value = parse_json(&text);
    let slots = value.as_array().expect("an array");
    assert_eq!(slots.len(), 3, "{text}");
    for slot in slots {
        check_schema(slot, &SLOT_SCHEMA);
    }
    let labels: Vec<&Value> = slots.iter().map(|s| &s["label"]).collect();
    assert!(labels.contains(&&Value::from("one")) && labels.contains(&&Value::from("two")));
    let two = slots
        .iter()
        .find(|s| s["label"] == "two")
        .expect("token two");
    assert_eq!(two["slot_id"], hsm.slot_of("two"));
    assert_eq!(two["token_present"], true);
    assert_eq!(two["dnssec_algorithms"][0], "RSASHA1", "{text}");
    // SoftHSM2 has no session limit: a number or null, never a string.
    assert_eq!(two["max_session_count"], Value::Null, "{text}");
    assert_eq!(two["sessions_unlimited"], true, "{text}");
}

#[test]
fn tokens_missing_module_names_the_path_and_exits_1() {
    let hsm = Hsm::new();
    let assert = hsm
        .tool("pkcs11-tokens")
        .args(["-m", "/nonexistent/libnone.so"])
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(
            "pkcs11-tokens: cannot load a PKCS#11 module; tried '/nonexistent/libnone.so'"
        ),
        "{stderr}"
    );
    assert!(assert.get_output().stdout.is_empty());
}

#[test]
fn tokens_explicit_module_beats_the_environment() {
    let hsm = Hsm::new();
    // BIND let PKCS11_PROVIDER override -m; we let -m win.
    hsm.tool("pkcs11-tokens")
        .env("PKCS11_PROVIDER", "/nonexistent/provider.so")
        .args(["-m", SOFTHSM_MODULE])
        .assert()
        .success();
    let assert = hsm
        .tool("pkcs11-tokens")
        .env("PKCS11_LIBRARY", "/nonexistent/library.so")
        .assert()
        .code(1);
    assert!(
        String::from_utf8_lossy(&assert.get_output().stderr).contains("/nonexistent/library.so")
    );
    hsm.tool("pkcs11-tokens")
        .env("PKCS11_MODULE", SOFTHSM_MODULE)
        .assert()
        .success();
}

#[test]
fn tokens_usage_errors_exit_2() {
    let hsm = Hsm::new();
    for args in [&["-x"][..], &["-m"], &["--bogus"], &["extra"]] {
        let assert = hsm.tool("pkcs11-tokens").args(args).assert().code(2);
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
        assert!(stderr.starts_with("pkcs11-tokens: "), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}

#[test]
fn speed_measures_signing_and_leaves_nothing_behind() {
    let hsm = Hsm::new();
    for algorithm in ["ECDSAP256SHA256", "ED25519"] {
        let text = hsm.run_ok(
            "pkcs11-tokens",
            &["--speed", "-a", algorithm, "-n", "2", "--seconds", "0.3"],
        );
        assert!(text.starts_with(&format!("{algorithm}: ")), "{text}");
        assert!(
            text.contains(" with 2 sessions: ") && text.trim_end().ends_with(" signatures/s"),
            "{text}"
        );
        let count: u64 = text
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .expect("count");
        assert!(count > 0, "{text}");
    }
    let json = hsm.run_ok(
        "pkcs11-tokens",
        &[
            "--speed",
            "-a",
            "RSASHA256",
            "-b",
            "1024",
            "-n",
            "1",
            "--seconds",
            "0.2",
            "--json",
        ],
    );
    let value = parse_json(&json);
    check_schema(
        &value,
        &[
            ("algorithm", Type::String),
            ("sessions", Type::Number),
            ("signatures", Type::Number),
            ("seconds", Type::Number),
            ("signatures_per_second", Type::Number),
        ],
    );
    assert_eq!(value["algorithm"], "RSASHA256");
    assert_eq!(value["sessions"], 1);
    assert!(
        value["seconds"].as_f64().is_some_and(|s| s >= 0.2),
        "{json}"
    );
    assert_eq!(
        hsm.run_ok("pkcs11-list", &[]).matches("object[").count(),
        0,
        "session keys must not stay"
    );
    hsm.tool("pkcs11-tokens")
        .args(["--speed", "--seconds", "0.1", "-p", "wrong-pin-1"])
        .assert()
        .code(1);
}

#[test]
fn speed_with_a_token_key_uses_it_and_changes_nothing() {
    let hsm = Hsm::new();
    hsm.run_ok(
        "pkcs11-keygen",
        &["-q", "-a", "ECDSAP256SHA256", "-l", "zsk"],
    );
    let before = hsm.run_ok("pkcs11-list", &[]);
    let text = hsm.run_ok(
        "pkcs11-tokens",
        &["--speed", "-l", "zsk", "-n", "2", "--seconds", "0.3"],
    );
    // The algorithm is the key's own.
    assert!(
        text.starts_with("ECDSAP256SHA256: ") && text.contains(" with 2 sessions: "),
        "{text}"
    );
    assert_eq!(
        hsm.run_ok("pkcs11-list", &[]),
        before,
        "nothing made or lost"
    );
    // A key that is not there, an algorithm the key cannot do, and -b
    // (which sizes a new key) with an existing key are refused.
    hsm.tool("pkcs11-tokens")
        .args(["--speed", "-l", "nosuch", "--seconds", "0.1", "-p", PIN])
        .assert()
        .code(3);
    let output = hsm
        .tool("pkcs11-tokens")
        .args([
            "--speed",
            "-l",
            "zsk",
            "-a",
            "RSASHA256",
            "--seconds",
            "0.1",
            "-p",
            PIN,
        ])
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&output.get_output().stderr).to_string();
    assert!(stderr.contains("cannot sign with RSASHA256"), "{stderr}");
    hsm.tool("pkcs11-tokens")
        .args(["--speed", "-l", "zsk", "-b", "2048"])
        .assert()
        .code(2);
}

const ALGORITHMS: [&str; 8] = [
    "RSASHA1",
    "NSEC3RSASHA1",
    "RSASHA256",
    "RSASHA512",
    "ECDSAP256SHA256",
    "ECDSAP384SHA384",
    "ED25519",
    "ED448",
];

#[test]
fn self_test_checks_every_algorithm_and_changes_nothing() {
    let hsm = Hsm::new();
    hsm.run_ok("pkcs11-keygen", &["-q", "-a", "ED25519", "-l", "zsk"]);
    let before = hsm.run_ok("pkcs11-list", &[]);
    let text = hsm.run_ok("pkcs11-tokens", &["--test"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), ALGORITHMS.len(), "{text}");
    for (line, algorithm) in lines.iter().zip(ALGORITHMS) {
        assert!(
            line.starts_with(&format!("{algorithm} (")) && line.ends_with("): ok"),
            "{text}"
        );
    }
    assert!(text.contains("RSASHA256 (RSA 2048): ok\n"), "{text}");
    assert!(text.contains("ED448 (Ed448): ok\n"), "{text}");
    let json = hsm.run_ok("pkcs11-tokens", &["--test", "--json"]);
    let value = parse_json(&json);
    let results = value.as_array().expect("an array");
    assert_eq!(results.len(), ALGORITHMS.len(), "{json}");
    for result in results {
        check_schema(
            result,
            &[
                ("algorithm", Type::String),
                ("number", Type::Number),
                ("key", Type::String),
                ("ok", Type::Bool),
                ("error", Type::Or(&Type::String)),
            ],
        );
        assert_eq!(result["ok"], true, "{json}");
    }
    assert_eq!(results[4]["number"], 13, "{json}");
    assert_eq!(
        hsm.run_ok("pkcs11-list", &[]),
        before,
        "nothing made or lost"
    );
    // A wrong PIN is a failure before any test.
    let output = hsm
        .tool("pkcs11-tokens")
        .args(["--test", "-p", "1111"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    hsm.tool("pkcs11-tokens")
        .args(["--test", "--speed"])
        .assert()
        .code(2);
}

#[test]
fn self_test_reports_a_failing_algorithm_and_exits_1() {
    let hsm = Hsm::new();
    let module = crate::hsm::fault_crate_artifact("libp11_fault.so");
    let before = hsm.run_ok("pkcs11-list", &[]);
    let run = |faults: &[(&str, &str)]| {
        let mut command = hsm.tool("pkcs11-tokens");
        for (name, value) in faults {
            command.env(format!("P11FAULT_{name}"), value);
        }
        command
            .args(["--test", "-p", PIN, "-m"])
            .arg(&module)
            .output()
            .expect("run")
    };
    // The fifth signature (ECDSAP256SHA256's) comes back with a bit flipped.
    let output = run(&[("FUNCTION", "C_Sign"), ("ACTION", "flip"), ("NTH", "5")]);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert_eq!(stdout.lines().count(), ALGORITHMS.len(), "{stdout}");
    assert!(
        stdout.contains(
            "ECDSAP256SHA256 (P-256): failed: the token's ECDSAP256SHA256 signature does not verify\n"
        ),
        "{stdout}"
    );
    assert_eq!(stdout.matches("): ok\n").count(), 7, "{stdout}");
    assert_eq!(
        stderr,
        "pkcs11-tokens: the self-test failed for 1 of 8 algorithms: ECDSAP256SHA256\n"
    );
    // The first key pair cannot be made: RSASHA1 fails with the CKR code.
    let output = run(&[
        ("FUNCTION", "C_GenerateKeyPair"),
        ("ACTION", "CKR_DEVICE_ERROR"),
        ("NTH", "1"),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let first = stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("RSASHA1 (RSA 2048): failed: ") && first.contains("CKR_DEVICE_ERROR"),
        "{stdout}"
    );
    assert_eq!(stdout.matches("): ok\n").count(), 7, "{stdout}");
    assert_eq!(
        hsm.run_ok("pkcs11-list", &[]),
        before,
        "nothing made or lost"
    );
}
