//! ds-from-key against BIND's dnssec-dsfromkey, byte for byte, on key
//! files, zone files, keysets and stdin.

use crate::hsm::{data_dir, run_plain};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bind(args: &[&str], dir: &Path) -> Output {
    Command::new("dnssec-dsfromkey")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("dnssec-dsfromkey must be installed (scripts/test installs bind9-utils)")
}

fn ours(args: &[&str], dir: &Path, stdin: Option<&[u8]>) -> Output {
    let mut command = assert_cmd::Command::new(crate::hsm::tool_path("ds-from-key"));
    command.args(args).current_dir(dir);
    if let Some(input) = stdin {
        command.write_stdin(input.to_vec());
    }
    command.output().expect("run")
}

fn key_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data_dir().join("keys/bind"))
        .expect("keys")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "key"))
        .collect();
    files.sort();
    files
}

fn assert_same(ours: &Output, bind: &Output, what: &str) {
    assert!(
        bind.status.success(),
        "BIND failed on {what}: {}",
        String::from_utf8_lossy(&bind.stderr)
    );
    assert!(
        ours.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&ours.stderr)
    );
    assert!(!bind.stdout.is_empty(), "{what}: BIND printed nothing");
    assert_eq!(
        String::from_utf8_lossy(&ours.stdout),
        String::from_utf8_lossy(&bind.stdout),
        "{what}"
    );
}

const OPTION_SETS: [&[&str]; 7] = [
    &[],
    &["-1"],
    &["-2"],
    &["-a", "SHA-384"],
    &["-a", "sha384", "-a", "2", "-1"],
    &["-C", "-T", "1h"],
    &["-T", "86400", "-a", "4"],
];

#[test]
fn key_file_form_matches_bind_byte_for_byte() {
    let dir = data_dir().join("keys/bind");
    for file in key_files() {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .expect("name")
            .to_string();
        let base = name.trim_end_matches(".key").to_string();
        for options in OPTION_SETS {
            for argument in [&name, &base] {
                let mut args: Vec<&str> = options.to_vec();
                args.push(argument);
                assert_same(
                    &ours(&args, &dir, None),
                    &bind(&args, &dir),
                    &format!("{args:?}"),
                );
            }
        }
    }
}

/// A zone (and keyset) file made of all the key files, with a $TTL.
fn keys_zone(dir: &Path) -> PathBuf {
    let mut text = String::from("$TTL 300\n");
    for file in key_files() {
        text.push_str(&std::fs::read_to_string(file).expect("key"));
    }
    let path = dir.join("keyset-test.");
    std::fs::write(&path, text).expect("write");
    path
}

#[test]
fn zone_keyset_and_stdin_forms_match_bind() {
    let temp = tempfile::tempdir().expect("temp");
    let dir = temp.path();
    keys_zone(dir);
    for options in OPTION_SETS {
        for form in [
            &["-f", "keyset-test.", "test."][..],
            &["-A", "-f", "keyset-test.", "test."],
            &["-s", "test."],
            &["-A", "-f", "-", "test."],
        ] {
            let mut args: Vec<&str> = options.to_vec();
            args.extend_from_slice(form);
            let input = std::fs::read(dir.join("keyset-test.")).expect("read");
            let stdin = form.contains(&"-").then_some(input.as_slice());
            let bind_output = match stdin {
                Some(input) => {
                    let mut child = Command::new("dnssec-dsfromkey")
                        .args(&args)
                        .current_dir(dir)
                        .stdin(std::process::Stdio::piped())
                        .stdout(std::process::Stdio::piped())
                        .stderr(std::process::Stdio::piped())
                        .spawn()
                        .expect("spawn");
                    use std::io::Write;
                    child
                        .stdin
                        .take()
                        .expect("stdin")
                        .write_all(input)
                        .expect("write");
                    child.wait_with_output().expect("wait")
                }
                None => bind(&args, dir),
            };
            assert_same(&ours(&args, dir, stdin), &bind_output, &format!("{args:?}"));
        }
    }
}

#[test]
fn revoked_keys_are_skipped_as_bind_does() {
    let temp = tempfile::tempdir().expect("temp");
    let source =
        std::fs::read_to_string(data_dir().join("keys/bind/Ktest.+013+42253.key")).expect("key");
    let revoked = source.replace("DNSKEY\t257 3 13", "DNSKEY\t385 3 13");
    assert_ne!(revoked, source, "fixture changed?");
    let path = temp.path().join("Ktest.+013+42381.key");
    std::fs::write(&path, revoked).expect("write");
    let args = [path.to_str().expect("path")];
    let output = ours(&args, temp.path(), None);
    assert!(output.status.success() && output.stdout.is_empty());
    let output = bind(&args, temp.path());
    assert!(output.status.success() && output.stdout.is_empty());
}

#[test]
fn piped_dnskeys_get_a_ds_each_and_cdnskey_on_request() {
    let text: String = key_files()
        .iter()
        .map(|f| std::fs::read_to_string(f).expect("read"))
        .collect();
    let output = run_plain("ds-from-key", &["--cdnskey", "-C"], Some(text.as_bytes()));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out = String::from_utf8(output.stdout).expect("utf8");
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with("test. IN CDS "))
            .count(),
        8,
        "{out}"
    );
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with("test. IN CDNSKEY "))
            .count(),
        8,
        "{out}"
    );
    // Canonical RDATA order: the one ZSK (flags 256) first; the two files
    // holding the same key give it once; each CDS is followed by its key.
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("test. IN CDS 46731 10 2 "), "{out}");
    assert!(lines[1].starts_with("test. IN CDNSKEY 256 3 10 "), "{out}");
    assert!(lines[2].starts_with("test. IN CDS 439 5 2 "), "{out}");
}

#[test]
fn bad_input_gives_one_line_and_no_output() {
    let temp = tempfile::tempdir().expect("temp");
    let dir = temp.path();
    std::fs::write(
        dir.join("Kbad.+013+00001.key"),
        "bad. IN DNSKEY 257 3 13 !!notbase64!!\n",
    )
    .expect("write");
    std::fs::write(dir.join("Knot.+013+00001.key"), "; nothing here\n").expect("write");
    std::fs::write(dir.join("zone"), "$TTL 1\nexample. IN A 192.0.2.1\n").expect("write");
    let cases: [(&[&str], i32, &str); 7] = [
        (
            &["Kbad.+013+00001"],
            1,
            "Kbad.+013+00001.key:1: bad base64 in DNSKEY public key",
        ),
        (&["Knot.+013+00001"], 1, "not a key file"),
        (
            &["Kmissing.+013+00001"],
            1,
            "'Kmissing.+013+00001.key': no such file or directory",
        ),
        (
            &["-f", "zone", "example."],
            1,
            "no DNSKEY RR for example. in zone",
        ),
        (&["-a", "MD5", "K"], 2, "unknown DS algorithm MD5"),
        (
            &["-s", "-f", "zone", "example."],
            2,
            "cannot use both -s and -f",
        ),
        (&["a", "b"], 2, "extraneous arguments"),
    ];
    for (args, code, message) in cases {
        let output = ours(args, dir, None);
        assert_eq!(output.status.code(), Some(code), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("ds-from-key: ") && stderr.contains(message),
            "{args:?}: {stderr}"
        );
        assert!(output.stdout.is_empty());
    }
}
