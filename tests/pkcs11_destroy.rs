use crate::hsm::{Hsm, PIN};

fn object_count(hsm: &Hsm) -> usize {
    hsm.run_ok("pkcs11-list", &[]).matches("object[").count()
}

#[test]
fn destroy_without_a_selection_destroys_nothing() {
    let hsm = Hsm::new();
    hsm.run_ok("pkcs11-keygen", &["-a", "ECC", "-l", "keep-me"]);
    let assert = hsm
        .tool("pkcs11-destroy")
        .args(["-p", PIN, "-w", "0"])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("nothing selected"), "{stderr}");
    assert_eq!(object_count(&hsm), 2);
}

#[test]
fn destroy_with_a_uri_naming_only_a_type_destroys_nothing() {
    let hsm = Hsm::new();
    hsm.run_ok("pkcs11-keygen", &["-a", "ECC", "-l", "keep-me"]);
    hsm.run_ok("pkcs11-keygen", &["-a", "ECC", "-l", "keep-me-too"]);
    for uri in ["pkcs11:type=private", "pkcs11:token=test;type=public"] {
        let assert = hsm
            .tool("pkcs11-destroy")
            .args(["-l", uri, "-p", PIN, "-w", "0"])
            .assert()
            .code(2);
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
        assert!(stderr.contains("nothing selected"), "{uri}: {stderr}");
    }
    assert_eq!(object_count(&hsm), 4);
}

#[test]
fn destroy_by_label_prints_bind_lines() {
    let hsm = Hsm::new();
    hsm.run_ok(
        "pkcs11-keygen",
        &["-a", "ED448", "-i", "4660", "-l", "ed448-key"],
    );
    hsm.run_ok("pkcs11-keygen", &["-a", "ECC", "-l", "other"]);
    let text = hsm.run_ok("pkcs11-destroy", &["-l", "ed448-key", "-w", "1"]);
    assert_eq!(
        text,
        "Key objects found:\n\
         \x20 object[0]: class 2, label 'ed448-key', id[2] 0x1234\n\
         \x20 object[1]: class 3, label 'ed448-key', id[2] 0x1234\n\
         WARNING: This action is irreversible! Destroying key objects in 1 seconds\n\
         \x20 .\n\
         Destruction complete.\n"
    );
    assert_eq!(object_count(&hsm), 2);
    let listing = hsm.pkcs11_tool_objects();
    assert!(
        !listing.contains("ed448-key") && listing.contains("other"),
        "{listing}"
    );
}

#[test]
fn destroy_by_id_and_by_uri() {
    let hsm = Hsm::new();
    hsm.run_ok("pkcs11-keygen", &["-a", "ECC", "-i", "4660", "-l", "by-id"]);
    hsm.run_ok(
        "pkcs11-keygen",
        &["-a", "ECC", "--id", "a1a2a3a4a5", "-l", "by-uri"],
    );
    let text = hsm.run_ok("pkcs11-destroy", &["-i", "4660", "-w", "0"]);
    assert!(
        text.ends_with("Destruction complete.\n") && text.contains("'by-id', id[2] 0x1234"),
        "{text}"
    );
    let text = hsm.run_ok(
        "pkcs11-destroy",
        &["-l", "pkcs11:id=%A1%A2%A3%A4%A5;type=private", "-w", "0"],
    );
    assert!(
        text.starts_with(
            "Key object found:\n  object[0]: class 3, label 'by-uri', id[5] 0xa1a2a3a4...\n"
        ),
        "{text}"
    );
    assert_eq!(object_count(&hsm), 1);
}

#[test]
fn destroy_no_match_and_all() {
    let hsm = Hsm::new();
    hsm.run_ok("pkcs11-keygen", &["-a", "ECC", "-l", "a"]);
    hsm.run_ok("pkcs11-keygen", &["-a", "ECC", "-l", "b"]);
    assert_eq!(
        hsm.run_ok("pkcs11-destroy", &["-l", "nope", "-w", "0"]),
        "No matching key objects found.\n"
    );
    assert_eq!(object_count(&hsm), 4);
    let text = hsm.run_ok("pkcs11-destroy", &["--all", "-w", "0"]);
    assert!(text.starts_with("Key objects found:\n") && text.ends_with("Destruction complete.\n"));
    assert_eq!(object_count(&hsm), 0);
}
