//! key-revoke against BIND's dnssec-revoke: BIND's file keys give BIND's
//! files byte for byte; a token key gets the REVOKE flag in its DNS data
//! only (the token object is untouched, the new `.private` names it).

use crate::hsm::Hsm;
use crate::key_settime::{bind, copy_dir, files, keygen, ours, same_as_bind};
use std::path::Path;

#[test]
fn file_keys_are_revoked_as_dnssec_revoke_revokes_them() {
    let work = tempfile::tempdir().expect("tmp");
    let keys = work.path().join("keys");
    std::fs::create_dir(&keys).expect("keys");
    let ksk = keygen(
        &keys,
        &["-a", "ECDSAP256SHA256", "-f", "KSK", "example.com"],
    );
    let rsa = keygen(
        &keys,
        &["-a", "RSASHA256", "-b", "2048", "-f", "KSK", "example.com"],
    );
    let zsk = keygen(&keys, &["-a", "ED25519", "example.com"]);
    let legacy = keygen(
        &keys,
        &["-C", "-a", "ECDSAP256SHA256", "-f", "KSK", "example.com"],
    );
    // A scheduled Revoke is replaced by now; the other dates stay.
    let (output, _, _) = bind(
        &keys,
        "dnssec-settime",
        &[
            "-R", "+30d", "-I", "+60d", "-D", "+90d", "-P", "sync", "+1d", &ksk,
        ],
    );
    assert!(output.status.success(), "{output:?}");
    for args in [
        vec![ksk.as_str()],
        vec!["-R", &ksk],
        vec!["-r", &rsa],
        vec!["-E", "pkcs11", "-v", "1", &format!("{zsk}.key")],
        vec!["-f", &legacy],
    ] {
        same_as_bind(&keys, work.path(), "dnssec-revoke", "key-revoke", &args);
    }
    // With -K the name printed is in that directory, as BIND prints it.
    let args = ["-K", "keys", ksk.as_str()];
    let ours_dir = work.path().join("k");
    std::fs::create_dir(&ours_dir).expect("mkdir");
    copy_dir(&keys, &ours_dir.join("keys"));
    let (bind_output, start, _) = bind(work.path(), "dnssec-revoke", &args);
    assert!(bind_output.status.success(), "{bind_output:?}");
    let output = ours(&ours_dir, "key-revoke", &args, start);
    assert_eq!(output.stdout, bind_output.stdout);
}

#[test]
fn a_revoked_key_is_refused_and_no_key_file_is_ever_replaced() {
    let dir = tempfile::tempdir().expect("tmp");
    let ksk = keygen(
        dir.path(),
        &["-a", "ECDSAP256SHA256", "-f", "KSK", "example.com"],
    );
    let now = 1_796_000_000;
    let tag =
        String::from_utf8(ours(dir.path(), "key-revoke", &["-R", &ksk], now).stdout).expect("utf8");
    let revoked = format!(
        "{}{:05}",
        &ksk[..ksk.len() - 5],
        tag.trim().parse::<u16>().expect("tag")
    );
    // A file of the new name is never replaced, not even with -f.
    let planted = dir.path().join(format!("{revoked}.private"));
    std::fs::write(&planted, "planted\n").expect("plant");
    for args in [vec![ksk.as_str()], vec!["-f", &ksk]] {
        let before = files(dir.path());
        let output = ours(dir.path(), "key-revoke", &args, now);
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("already exists"), "{stderr}");
        assert_eq!(files(dir.path()), before);
    }
    std::fs::remove_file(&planted).expect("rm");
    let output = ours(dir.path(), "key-revoke", &[&ksk], now);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("{revoked}\n")
    );
    // Revoking it again is refused, as BIND refuses it; -R prints its tag.
    let output = ours(dir.path(), "key-revoke", &[&revoked], now);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("is already revoked"));
    let output = ours(dir.path(), "key-revoke", &["-R", &revoked], now);
    assert_eq!(String::from_utf8_lossy(&output.stdout), tag);
}

#[test]
fn a_token_key_is_revoked_in_its_dns_data_only() {
    let hsm = Hsm::new();
    let keys = hsm.dir().join("keys");
    std::fs::create_dir(&keys).expect("keys");
    hsm.run_ok("pkcs11-keygen", &["-a", "ECDSAP256SHA256", "-l", "ksk"]);
    let keys_arg = keys.to_str().expect("path");
    let base = hsm.run_ok(
        "dnskey-from-label",
        &["-l", "ksk", "-f", "KSK", "-K", keys_arg, "example.com"],
    );
    let base = base.trim();
    let objects = hsm.pkcs11_tool_objects();
    let private_before =
        std::fs::read_to_string(keys.join(format!("{base}.private"))).expect("read");
    let now = 1_796_500_000;
    let output = ours(&keys, "key-revoke", &[base], now);
    assert!(output.status.success(), "{output:?}");
    let revoked = String::from_utf8(output.stdout)
        .expect("utf8")
        .trim()
        .to_string();
    assert_ne!(revoked, base);
    // The token is as it was.
    assert_eq!(hsm.pkcs11_tool_objects(), objects);
    // The new .private: the same lines, plus Revoke: now.
    let private = std::fs::read_to_string(keys.join(format!("{revoked}.private"))).expect("read");
    let mut expected = private_before.clone();
    expected.push_str(&format!(
        "Revoke: {}\n",
        common::time::format_timestamp(now)
    ));
    assert_eq!(private, expected);
    // Its DNSKEY is the token key's with REVOKE set.
    let record = std::fs::read_to_string(keys.join(format!("{revoked}.key"))).expect("key");
    let from_token = hsm.run_ok(
        "dnskey-from-label",
        &["-l", "ksk", "-f", "KSK", "-f", "REVOKE", "example.com"],
    );
    assert_eq!(
        record.lines().last().map(str::to_string),
        from_token.lines().next().map(str::to_string)
    );
    assert!(record.starts_with(&format!(
        "; This is a revoked key-signing key, keyid {}, for example.com.\n",
        &revoked[revoked.len() - 5..].trim_start_matches('0')
    )));
    // The same timing BIND gives a file key revoked at the same second.
    check_revoke_timing_like_bind(hsm.dir(), &keys.join(format!("{revoked}.private")));
}

/// Revokes a fresh file key with dnssec-revoke and checks that its timing
/// lines have the shape of ours (Created … Revoke, in BIND's order).
fn check_revoke_timing_like_bind(work: &Path, ours_private: &Path) {
    let dir = work.join("bind");
    std::fs::create_dir(&dir).expect("mkdir");
    let ksk = keygen(&dir, &["-a", "ECDSAP256SHA256", "-f", "KSK", "example.com"]);
    let (output, _, _) = bind(&dir, "dnssec-revoke", &[&ksk]);
    assert!(output.status.success(), "{output:?}");
    let revoked = String::from_utf8(output.stdout)
        .expect("utf8")
        .trim()
        .to_string();
    let tags = |path: &Path| -> Vec<String> {
        std::fs::read_to_string(path)
            .expect("read")
            .lines()
            .filter_map(|l| l.split_once(':').map(|(t, _)| t.to_string()))
            .filter(|t| ["Created", "Publish", "Activate", "Revoke"].contains(&t.as_str()))
            .collect()
    };
    assert_eq!(
        tags(ours_private),
        tags(&dir.join(format!("{revoked}.private")))
    );
}
