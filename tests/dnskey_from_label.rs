use crate::hsm::{data_dir, Hsm, PIN, SOFTHSM_MODULE};

/// Knot's sample keys (tests/data/keys/knot) and the algorithm each is for.
const SAMPLES: [(&str, &str); 10] = [
    ("rsa1024-256", "RSASHA256"),
    ("rsa2048-256", "RSASHA256"),
    ("rsa4096-256", "RSASHA256"),
    ("rsa1024-512", "RSASHA512"),
    ("rsa2048-512", "RSASHA512"),
    ("rsa4096-512", "RSASHA512"),
    ("ecdsa256", "ECDSAP256SHA256"),
    ("ecdsa384", "ECDSAP384SHA384"),
    ("ed25519", "ED25519"),
    ("ed448", "ED448"),
];

fn import_samples(hsm: &Hsm) {
    for (index, (sample, _)) in SAMPLES.iter().enumerate() {
        let pem = data_dir().join("keys/knot").join(format!("{sample}.pem"));
        hsm.import_pem(&pem, sample, &format!("{:02x}", index + 1));
    }
}

fn stdout(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("utf8")
}

#[test]
fn known_keys_give_the_published_dnskey_and_ds_for_every_algorithm() {
    let hsm = Hsm::new();
    import_samples(&hsm);
    let expected =
        std::fs::read_to_string(data_dir().join("keys/knot/expected-ds.txt")).expect("expected");
    for (sample, algorithm) in SAMPLES {
        let owner = format!("{sample}.");
        // Without -a the algorithm comes from the key (RSA: RSASHA256).
        let explicit = hsm.run_ok(
            "dnskey-from-label",
            &["-l", sample, "-a", algorithm, &owner],
        );
        if !algorithm.starts_with("RSASHA512") {
            assert_eq!(
                hsm.run_ok("dnskey-from-label", &["-l", sample, &owner]),
                explicit
            );
        }
        assert!(
            explicit.starts_with(&format!("{owner} IN DNSKEY 256 3 ")),
            "{explicit}"
        );
        let ds = crate::hsm::run_plain(
            "ds-from-key",
            &["-T", "3600", "-1", "-2", "-a", "SHA-384"],
            Some(explicit.as_bytes()),
        );
        let want: String = expected
            .lines()
            .filter(|l| l.starts_with(&owner))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(stdout(&ds), want, "{sample}");
    }
}

#[test]
fn key_files_are_bind_916s_and_bind_reads_them() {
    let hsm = Hsm::new();
    import_samples(&hsm);
    let dir = hsm.dir().join("keys");
    std::fs::create_dir(&dir).expect("dir");
    let dir_text = dir.to_str().expect("path");
    let base = hsm.run_ok(
        "dnskey-from-label",
        &["-l", "ecdsa256", "-f", "KSK", "-K", dir_text, "example.com"],
    );
    assert_eq!(base, "Kexample.com.+013+05346\n");
    let key_path = dir.join("Kexample.com.+013+05346.key");
    let private_path = dir.join("Kexample.com.+013+05346.private");
    let key = std::fs::read_to_string(&key_path).expect("key");
    let lines: Vec<&str> = key.lines().collect();
    assert_eq!(
        lines[0],
        "; This is a key-signing key, keyid 5346, for example.com."
    );
    assert!(
        lines[1].starts_with("; Created: ")
            && lines[2].starts_with("; Publish: ")
            && lines[3].starts_with("; Activate: ")
    );
    assert_eq!(lines[4], "example.com. IN DNSKEY 257 3 13 8uD7C4THTM/w7uhryRSToeE/jKT78/p853RX0L5EwrZrSLBubLPiBw7g bvUP6SsIga5ZQ4CSAxNmYA/gZsuXzA==");
    let private = std::fs::read_to_string(&private_path).expect("private");
    assert!(private.starts_with("Private-key-format: v1.3\nAlgorithm: 13 (ECDSAP256SHA256)\nEngine: cGtjczExAA==\nLabel: "), "{private}");
    assert!(
        !private.contains("PrivateKey"),
        "no key material may be written"
    );
    assert!(!private.contains(PIN));
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&private_path)
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
    // BIND's own tool reads our .key file, and ours agrees byte for byte.
    let bind = std::process::Command::new("dnssec-dsfromkey")
        .args(["-1", "-2", "-a", "SHA-384"])
        .arg(&key_path)
        .output()
        .expect("dnssec-dsfromkey must be installed (scripts/test installs bind9-utils)");
    let bind = stdout(&bind);
    let piped = hsm.run_ok(
        "dnskey-from-label",
        &["-l", "ecdsa256", "-f", "KSK", "example.com"],
    );
    let ours = crate::hsm::run_plain(
        "ds-from-key",
        &["-1", "-2", "-a", "SHA-384"],
        Some(piped.as_bytes()),
    );
    assert_eq!(stdout(&ours), bind);
    assert_eq!(
        stdout(&crate::hsm::run_plain(
            "ds-from-key",
            &["-1", "-2", "-a", "SHA-384", key_path.to_str().expect("p")],
            None
        )),
        bind
    );
    // The stored label is a URI naming token and object, never a PIN.
    let label = private
        .lines()
        .find_map(|l| l.strip_prefix("Label: "))
        .expect("label");
    let label = common_label(label);
    assert!(label.starts_with("pkcs11:token=test;serial="), "{label}");
    assert!(label.ends_with(";object=ecdsa256;id=%07"), "{label}");
    // A second run refuses to overwrite, and leaves the pair as it was.
    let assert = hsm
        .tool("dnskey-from-label")
        .args([
            "-l",
            "ecdsa256",
            "-f",
            "KSK",
            "-K",
            dir_text,
            "example.com",
            "-p",
            PIN,
        ])
        .assert()
        .code(1);
    assert!(String::from_utf8_lossy(&assert.get_output().stderr).contains("already exists"));
    assert_eq!(std::fs::read_to_string(&key_path).expect("key"), key);
    assert_eq!(std::fs::read_dir(&dir).expect("dir").count(), 2);
}

/// Decodes a `Label:` value: base64 of a NUL-terminated string.
fn common_label(value: &str) -> String {
    let bytes = data_encoding::BASE64
        .decode(value.as_bytes())
        .expect("base64");
    assert_eq!(bytes.last(), Some(&0));
    String::from_utf8(bytes[..bytes.len() - 1].to_vec()).expect("utf8")
}

#[test]
fn flags_ttl_class_and_timing_options() {
    let hsm = Hsm::new();
    import_samples(&hsm);
    let line = hsm.run_ok(
        "dnskey-from-label",
        &[
            "-l",
            "ed25519",
            "-f",
            "KSK",
            "-f",
            "REVOKE",
            "-L",
            "1h",
            "example.net",
        ],
    );
    assert!(
        line.starts_with("example.net. 3600 IN DNSKEY 385 3 15 "),
        "{line}"
    );
    let dir = hsm.dir().join("k");
    std::fs::create_dir(&dir).expect("dir");
    let dir_text = dir.to_str().expect("path");
    hsm.run_ok(
        "dnskey-from-label",
        &[
            "-l",
            "ed448",
            "-K",
            dir_text,
            "-P",
            "20270101",
            "-A",
            "20270102",
            "-I",
            "20280101",
            "-D",
            "20280201",
            "-P",
            "sync",
            "20270105",
            "example.net",
        ],
    );
    let private = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(|e| e.ok())
        .find(|e| e.path().extension().is_some_and(|x| x == "private"))
        .expect("private file");
    let text = std::fs::read_to_string(private.path()).expect("read");
    for line in [
        "Publish: 20270101000000",
        "Activate: 20270102000000",
        "Inactive: 20280101000000",
        "Delete: 20280201000000",
        "SyncPublish: 20270105000000",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
    let dir2 = hsm.dir().join("legacy");
    std::fs::create_dir(&dir2).expect("dir");
    hsm.run_ok(
        "dnskey-from-label",
        &[
            "-l",
            "ecdsa384",
            "-C",
            "-K",
            dir2.to_str().expect("p"),
            "example.net",
        ],
    );
    let legacy = std::fs::read_dir(&dir2)
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| std::fs::read_to_string(e.path()).expect("read"))
        .collect::<Vec<_>>();
    assert!(legacy
        .iter()
        .any(|t| t.starts_with("Private-key-format: v1.2\n") && !t.contains("Created")));
    assert!(legacy.iter().any(|t| t.lines().count() == 2));
}

#[test]
fn bad_selections_fail_with_one_clear_line() {
    let hsm = Hsm::new();
    import_samples(&hsm);
    // Two keys under one label: ambiguous.
    hsm.run_ok("pkcs11-keygen", &["-a", "ECC", "-l", "twice"]);
    hsm.run_ok(
        "pkcs11-keygen",
        &["-a", "ED25519", "--id", "ff", "-l", "pkcs11:object=twice2"],
    );
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
        "twice",
        "--id",
        "0b",
    ]);
    let cases: [(&[&str], i32, &str); 6] = [
        (
            &["-l", "missing", "x"],
            3,
            "no key with label 'missing' on the token",
        ),
        (&["-l", "twice", "x"], 1, "matches 2 keys (ids 0x"),
        (
            &["-l", "ecdsa256", "-a", "RSASHA256", "x"],
            1,
            "P-256 key, which cannot sign with RSASHA256",
        ),
        (
            &["-l", "ecdsa256", "-a", "DSA", "x"],
            2,
            "unknown algorithm DSA",
        ),
        (&["-l", "pkcs11:object=%zz", "x"], 2, "bad percent escape"),
        (
            &["-l", "ecdsa256", "-K", "/nonexistent/dir", "x"],
            1,
            "cannot open directory '/nonexistent/dir'",
        ),
    ];
    for (args, code, message) in cases {
        let assert = hsm
            .tool("dnskey-from-label")
            .args(args)
            .args(["-p", PIN])
            .assert()
            .code(code);
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("dnskey-from-label: ") && stderr.contains(message),
            "{args:?}: {stderr}"
        );
        assert!(assert.get_output().stdout.is_empty());
    }
    // With a URI naming the ID, the ambiguous label is fine.
    let line = hsm.run_ok(
        "dnskey-from-label",
        &["-l", "pkcs11:object=twice;id=%0b", "x"],
    );
    assert!(line.starts_with("x. IN DNSKEY 256 3 13 "), "{line}");
}

#[test]
fn a_private_key_alone_still_gives_its_dnskey_where_the_token_shows_it() {
    let hsm = Hsm::new();
    import_samples(&hsm);
    let before = hsm.run_ok("dnskey-from-label", &["-l", "rsa1024-256", "x"]);
    hsm.run_ok(
        "pkcs11-destroy",
        &["-l", "pkcs11:object=rsa1024-256;type=public", "-w", "0"],
    );
    assert_eq!(
        hsm.run_ok("dnskey-from-label", &["-l", "rsa1024-256", "x"]),
        before
    );
    // SoftHSM keeps no EC point on private EC keys: a clear error.
    hsm.run_ok(
        "pkcs11-destroy",
        &["-l", "pkcs11:object=ecdsa256;type=public", "-w", "0"],
    );
    let assert = hsm
        .tool("dnskey-from-label")
        .args(["-l", "ecdsa256", "x", "-p", PIN])
        .assert()
        .code(1);
    assert!(String::from_utf8_lossy(&assert.get_output().stderr)
        .contains("does not show this key's public part"));
}

#[test]
fn the_guides_dnskey_steps_and_ceremony_work_with_our_tools() {
    let hsm = Hsm::new();
    let slot = hsm.slot_of("test").to_string();
    let lib = SOFTHSM_MODULE;
    // KSK ceremony: keygen (-E), keyfromlabel > file, dsfromkey -2 file.
    hsm.tool("pkcs11-keygen")
        .args([
            "-a",
            "RSASHA256",
            "-b",
            "2048",
            "-l",
            "ksk-example.com-20261129",
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
    let output = hsm
        .tool("dnskey-from-label")
        .args([
            "-a",
            "RSASHA256",
            "-l",
            "ksk-example.com-20261129",
            "-m",
            lib,
            "-s",
            &slot,
            "-p",
            PIN,
            "example.com",
        ])
        .output()
        .expect("run");
    let key_file = hsm.dir().join("Kexample.com.+008+1796000000.key");
    std::fs::write(&key_file, &output.stdout).expect("write");
    let bind = std::process::Command::new("dnssec-dsfromkey")
        .arg("-2")
        .arg(&key_file)
        .output()
        .expect("dnssec-dsfromkey");
    let ours = crate::hsm::run_plain("ds-from-key", &["-2", key_file.to_str().expect("p")], None);
    let bind = stdout(&bind);
    assert!(bind.starts_with("example.com. IN DS "), "{bind}");
    assert_eq!(stdout(&ours), bind);
}

/// A pair that BIND's dnssec-importkey wrote for the same key (a
/// publish-only key, `External:`) is left as it is, and the refusal says
/// what it is.
#[test]
fn an_external_pair_from_dnssec_importkey_is_never_replaced() {
    let hsm = Hsm::new();
    hsm.run_ok("pkcs11-keygen", &["-a", "ECDSAP256SHA256", "-l", "ksk"]);
    let (ours, keys) = (hsm.dir().join("ours"), hsm.dir().join("keys"));
    for dir in [&ours, &keys] {
        std::fs::create_dir(dir).expect("dir");
    }
    let base = hsm.run_ok(
        "dnskey-from-label",
        &[
            "-l",
            "ksk",
            "-f",
            "KSK",
            "-K",
            ours.to_str().expect("p"),
            "example.com",
        ],
    );
    let base = base.trim();
    let imported = std::process::Command::new("dnssec-importkey")
        .args(["-K", keys.to_str().expect("p")])
        .arg(ours.join(format!("{base}.key")))
        .output()
        .expect("dnssec-importkey must be installed (bind9-utils)");
    assert!(imported.status.success(), "{imported:?}");
    let private = keys.join(format!("{base}.private"));
    let before = std::fs::read(&private).expect("private");
    assert!(String::from_utf8_lossy(&before).contains("External:"));
    let output = hsm
        .tool("dnskey-from-label")
        .args(["-l", "ksk", "-f", "KSK", "-K", keys.to_str().expect("p")])
        .args(["-p", PIN, "example.com"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("is a publish-only key (External:, from dnssec-importkey)"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&private).expect("private"), before);
}
