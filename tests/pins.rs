//! Every PIN source, right and wrong, for every tool that logs in; the
//! PIN must never appear in what the tools print.

use crate::hsm::{Hsm, PIN};

const WRONG_PIN: &str = "wrong-pin-31337";

/// The tools that log in, with arguments that make them do so harmlessly.
fn login_commands() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        ("pkcs11-list", vec![]),
        ("pkcs11-keygen", vec!["-a", "ECC", "-q", "-l", "new-key"]),
        ("pkcs11-destroy", vec!["-l", "no-such-key", "-w", "0"]),
    ]
}

fn assert_no_pin(output: &std::process::Output, pin: &str) {
    for stream in [&output.stdout, &output.stderr] {
        let text = String::from_utf8_lossy(stream);
        assert!(!text.contains(pin), "PIN leaked: {text}");
    }
}

#[test]
fn every_pin_source_logs_in() {
    let hsm = Hsm::new();
    let with_newline = hsm.private_file("pin-newline", format!("{PIN}\n").as_bytes());
    let uri_file = hsm.private_file("pin-uri", PIN.as_bytes());
    // (arguments, PKCS11_PIN value)
    let sources: Vec<(Vec<String>, Option<&str>)> = vec![
        (vec!["-p".into(), PIN.into()], None),
        (
            vec!["--pin-file".into(), with_newline.display().to_string()],
            None,
        ),
        (vec![], Some(PIN)),
        (
            vec![
                "-l".into(),
                format!("pkcs11:token=test?pin-source={}", uri_file.display()),
            ],
            None,
        ),
        (
            vec![
                "-l".into(),
                format!("pkcs11:token=test?pin-source=file://{}", uri_file.display()),
            ],
            None,
        ),
        (
            vec!["-l".into(), format!("pkcs11:token=test?pin-value={PIN}")],
            None,
        ),
    ];
    for (args, env) in sources {
        let mut command = hsm.tool("pkcs11-list");
        command.args(&args);
        if let Some(pin) = env {
            command.env("PKCS11_PIN", pin);
        }
        let output = command.output().expect("run");
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_no_pin(&output, PIN);
        assert!(
            output.stderr.is_empty(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn wrong_pins_fail_cleanly_in_every_tool_and_source() {
    let hsm = Hsm::new();
    let wrong_file = hsm.private_file("wrong", WRONG_PIN.as_bytes());
    for (tool, args) in login_commands() {
        let sources: Vec<(Vec<String>, Option<&str>)> = vec![
            (vec!["-p".into(), WRONG_PIN.into()], None),
            (
                vec!["--pin-file".into(), wrong_file.display().to_string()],
                None,
            ),
            (vec![], Some(WRONG_PIN)),
        ];
        for (pin_args, env) in sources {
            let mut command = hsm.tool(tool);
            command.args(&args).args(&pin_args);
            if let Some(pin) = env {
                command.env("PKCS11_PIN", pin);
            }
            let output = command.output().expect("run");
            // BIND aborted (exit 134); we exit 1 with one line.
            assert_eq!(output.status.code(), Some(1), "{tool} {pin_args:?}");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
            assert!(stderr.contains("C_Login: CKR_PIN_INCORRECT"), "{stderr}");
            assert_no_pin(&output, WRONG_PIN);
        }
    }
    assert_eq!(hsm.run_ok("pkcs11-list", &[]).matches("object[").count(), 0);
}

#[test]
fn a_uri_pin_value_never_reaches_an_error_message() {
    let hsm = Hsm::new();
    for uri in [
        format!("pkcs11:token=test;object=%zz?pin-value={WRONG_PIN}"),
        format!("pkcs11:token=test?pin-value={WRONG_PIN}"),
        format!("pkcs11:token=nosuchtoken?pin-value={WRONG_PIN}"),
    ] {
        let output = hsm
            .tool("pkcs11-list")
            .args(["-l", &uri])
            .output()
            .expect("run");
        assert!(!output.status.success(), "{uri}");
        assert_no_pin(&output, WRONG_PIN);
    }
}

#[test]
fn without_pin_or_terminal_the_tool_fails_at_once() {
    let hsm = Hsm::new();
    let output = hsm.tool("pkcs11-list").output().expect("run");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("pkcs11-list: no PIN given and no terminal"),
        "{stderr}"
    );
}

#[test]
fn pin_file_problems_are_reported() {
    let hsm = Hsm::new();
    let missing = hsm.dir().join("missing-pin");
    let output = hsm
        .tool("pkcs11-list")
        .args(["--pin-file", missing.to_str().expect("path")])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("missing-pin': no such file or directory"),
        "{stderr}"
    );

    let open = hsm.dir().join("open-pin");
    std::fs::write(&open, PIN).expect("write");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    let output = hsm
        .tool("pkcs11-list")
        .args(["--pin-file", open.to_str().expect("path")])
        .output()
        .expect("run");
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("warning: PIN file") && stderr.contains("readable by group or others"),
        "{stderr}"
    );

    hsm.tool("pkcs11-list")
        .args(["-p", PIN, "--pin-file", open.to_str().expect("path")])
        .assert()
        .code(2);
}

/// The no-PIN hint names the PIN option as each tool spells it: zone-sign's
/// `-p` is BIND's (issue 11 item 6), so it must suggest `--pin` there.
#[test]
fn the_no_pin_hint_uses_each_tools_own_pin_option() {
    let hsm = Hsm::new();
    hsm.run_ok("pkcs11-keygen", &["-a", "ECDSAP256SHA256", "-l", "ksk"]);
    let keys = hsm.dir().join("keys");
    std::fs::create_dir(&keys).expect("keys");
    let keys_arg = keys.to_str().expect("path");
    hsm.run_ok(
        "dnskey-from-label",
        &["-l", "ksk", "-f", "KSK", "-K", keys_arg, "example.com"],
    );
    let zone = hsm.dir().join("example.com.zone");
    std::fs::copy(crate::hsm::data_dir().join("zones/example.com.zone"), &zone).expect("zone");
    let output = hsm
        .tool("zone-sign")
        .args(["-S", "-K", keys_arg, "-o", "example.com", "-f", "-"])
        .arg(&zone)
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no PIN given"), "{stderr}");
    assert!(
        stderr.contains("or --pin PIN") && !stderr.contains("-p PIN"),
        "{stderr}"
    );
    let output = hsm.tool("pkcs11-list").output().expect("run");
    assert!(String::from_utf8_lossy(&output.stderr).contains("or -p PIN"));
}
