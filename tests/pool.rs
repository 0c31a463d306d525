//! zone-sign with a pool of tokens holding the same key (`--token a
//! --token b`): two SoftHSM2 tokens in one token directory, the same
//! Ed25519 key imported into each; both sign, one failing mid-run (the
//! fault module targeting its sessions) hands its work to the other, both
//! failing leave the old output, and a token with another key under the
//! same label is refused.

use crate::hsm::{data_dir, Hsm, PIN};
use std::path::{Path, PathBuf};
use std::process::Output;

/// The key both tokens hold (Knot's test key).
const KEY: &str = "keys/knot/ed25519.pem";
/// Another Ed25519 key (RFC 8080 §6.2), for the planted token.
const OTHER_KEY: &str = "keys/rfc/Kexample.com.+015+35217.pem";
/// Fixed signature times and "now": Ed25519 signatures are deterministic,
/// so runs can be compared byte for byte.
const NOW: &str = "1767225600";
const INCEPTION: &str = "20260101000000";
const EXPIRATION: &str = "20360101000000";

struct Pool {
    hsm: Hsm,
    zone: PathBuf,
    pin_file: PathBuf,
}

/// Imports `pem` into the token `token` as `csk` with CKA_ID `id`.
fn import(hsm: &Hsm, token: &str, pem: &str, id: &str) {
    let output = hsm
        .command("softhsm2-util")
        .arg("--import")
        .arg(data_dir().join(pem))
        .args(["--token", token, "--label", "csk", "--id", id, "--pin", PIN])
        .output()
        .expect("softhsm2-util");
    assert!(output.status.success(), "import into {token}: {output:?}");
}

/// Tokens `a` and `b`; `b` gets `b_key` under CKA_ID `b_id`; a zone big
/// enough that both tokens' sessions take blocks.
fn pool(b_key: &str, b_id: &str) -> Pool {
    let hsm = Hsm::with_tokens(&["a", "b", "c"]);
    import(&hsm, "a", KEY, "01");
    import(&hsm, "b", b_key, b_id);
    let mut zone_text =
        std::fs::read_to_string(data_dir().join("zones/example.com.zone")).expect("zone");
    for host in 0..400 {
        zone_text.push_str(&format!("h{host} 300 IN A 192.0.2.{}\n", host % 250));
    }
    let zone = hsm.dir().join("example.com.zone");
    std::fs::write(&zone, zone_text).expect("zone");
    let pin_file = hsm.private_file("pin", PIN.as_bytes());
    Pool {
        hsm,
        zone,
        pin_file,
    }
}

impl Pool {
    /// Signs into `output` with `args` (the token options) and `faults`
    /// (through the fault module when there are any).
    fn sign(&self, output: &Path, args: &[&str], faults: &[(&str, &str)]) -> Output {
        let mut command = self.hsm.command(crate::hsm::tool_path("zone-sign"));
        command
            .current_dir(self.hsm.dir())
            .env("P11DNSSEC_NOW", NOW);
        if !faults.is_empty() {
            command
                .arg("--module")
                .arg(crate::hsm::fault_crate_artifact("libp11_fault.so"));
            for (name, value) in faults {
                command.env(format!("P11FAULT_{name}"), value);
            }
        }
        command
            .args([
                "-o",
                "example.com",
                "-z",
                "-s",
                INCEPTION,
                "-e",
                EXPIRATION,
                "-v",
                "1",
            ])
            .arg("--pin-file")
            .arg(&self.pin_file)
            .arg("-f")
            .arg(output)
            .args(args)
            .arg(&self.zone)
            .arg("pkcs11:object=csk")
            .output()
            .expect("run zone-sign")
    }

    /// zone-sign `-o example.com -z OPTIONS --pin-file … -f OUTPUT ZONE
    /// KEYS`, without the fixed times and the -v of [`Pool::sign`].
    fn sign_with_keys(&self, output: &Path, options: &[&str], keys: &[&str]) -> Output {
        self.hsm
            .tool("zone-sign")
            .current_dir(self.hsm.dir())
            .args(["-o", "example.com", "-z"])
            .args(options)
            .arg("--pin-file")
            .arg(&self.pin_file)
            .arg("-f")
            .arg(output)
            .arg(&self.zone)
            .args(keys)
            .output()
            .expect("run")
    }

    fn output(&self, name: &str) -> PathBuf {
        let path = self.hsm.dir().join(name);
        std::fs::write(&path, "; the previous zone\n").expect("old output");
        path
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Each token's signature count from the `-v 1` report.
fn signatures_by(text: &str, token: &str) -> u64 {
    text.lines()
        .find(|l| l.contains(&format!("(token '{token}'")) && l.contains(" signatures"))
        .and_then(|l| {
            l.rsplit_once("): ")?
                .1
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no signature count for token {token}: {text}"))
}

fn warnings(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.contains(": warning: ")).collect()
}

fn untouched(path: &Path) -> bool {
    std::fs::read_to_string(path).expect("output") == "; the previous zone\n"
}

#[test]
fn a_pool_signs_on_both_tokens_and_equals_the_one_token_output() {
    let pool = pool(KEY, "01");
    let single = pool.output("single.signed");
    let output = pool.sign(&single, &["--token", "a", "-n", "2"], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let pooled = pool.output("pooled.signed");
    let output = pool.sign(
        &pooled,
        &["--pool", "--token", "a", "--token", "b", "-n", "4"],
        &[],
    );
    let text = stderr(&output);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("a pool of 2 tokens"), "{text}");
    assert!(
        signatures_by(&text, "a") > 0 && signatures_by(&text, "b") > 0,
        "{text}"
    );
    assert!(warnings(&text).is_empty(), "{text}");
    crate::zone_sign::assert_validates(&pooled, "example.com", &["-z"]);
    assert_eq!(
        std::fs::read(&single).expect("single"),
        std::fs::read(&pooled).expect("pooled"),
        "a pool signs byte for byte as one token (Ed25519, fixed times)"
    );
}

#[test]
fn a_token_failing_mid_run_hands_its_work_to_the_other() {
    let pool = pool(KEY, "01");
    for code in ["CKR_DEVICE_ERROR", "CKR_TOKEN_NOT_PRESENT"] {
        let signed = pool.output("example.com.signed");
        let output = pool.sign(
            &signed,
            &["--pool", "--token", "a", "--token", "b", "-n", "4"],
            &[
                ("TOKEN", "b"),
                ("FUNCTION", "C_Sign"),
                ("ACTION", code),
                ("FROM", "20"),
            ],
        );
        let text = stderr(&output);
        assert!(output.status.success(), "{code}: {text}");
        let warned = warnings(&text);
        assert_eq!(warned.len(), 1, "{code}: one warning line: {text}");
        assert!(
            warned[0].contains("token 'b'") && warned[0].contains(code),
            "{code}: {text}"
        );
        assert_eq!(signatures_by(&text, "b"), 19, "{code}: {text}");
        assert!(signatures_by(&text, "a") > 19, "{code}: {text}");
        crate::zone_sign::assert_validates(&signed, "example.com", &["-z"]);
    }
}

#[test]
fn every_token_of_the_pool_failing_exits_1_and_keeps_the_old_output() {
    let pool = pool(KEY, "01");
    let signed = pool.output("example.com.signed");
    let output = pool.sign(
        &signed,
        &["--pool", "--token", "a", "--token", "b", "-n", "2"],
        &[
            ("FUNCTION", "C_Sign"),
            ("ACTION", "CKR_DEVICE_ERROR"),
            ("FROM", "20"),
        ],
    );
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("every token of the pool failed"), "{text}");
    assert!(untouched(&signed), "the old output is kept");
}

#[test]
fn a_token_holding_another_key_under_the_same_name_is_refused() {
    for (b_key, b_id, why) in [
        (OTHER_KEY, "01", "its public key differs"),
        (KEY, "02", "its CKA_ID is 0x02, not 0x01"),
    ] {
        let pool = pool(b_key, b_id);
        let signed = pool.output("example.com.signed");
        let output = pool.sign(&signed, &["--pool", "--token", "a", "--token", "b"], &[]);
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{text}");
        assert!(
            text.contains("token 'b'")
                && text.contains("does not hold the same key pair")
                && text.contains(why),
            "{text}"
        );
        assert!(untouched(&signed), "nothing written");
    }
}

#[test]
fn a_key_naming_a_token_outside_the_pool_is_refused() {
    let pool = pool(KEY, "01");
    let signed = pool.output("example.com.signed");
    let output = pool.sign_with_keys(
        &signed,
        &["--pool", "--token", "a", "--token", "b"],
        &["pkcs11:token=c;object=csk"],
    );
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("token 'c'") && text.contains("not a token of the pool"),
        "{text}"
    );
    assert!(untouched(&signed));
}

#[test]
fn key_uris_naming_one_key_on_two_tokens_make_a_pool() {
    let pool = pool(KEY, "01");
    let signed = pool.output("example.com.signed");
    let output = pool.sign_with_keys(
        &signed,
        &["-n", "4", "-v", "1"],
        &["pkcs11:token=a;object=csk", "pkcs11:token=b;object=csk"],
    );
    let text = stderr(&output);
    assert!(output.status.success(), "{text}");
    assert!(
        signatures_by(&text, "a") > 0 && signatures_by(&text, "b") > 0,
        "{text}"
    );
    crate::zone_sign::assert_validates(&signed, "example.com", &["-z"]);
    // The key once: one DNSKEY, one RRSIG per RRset.
    let zone = std::fs::read_to_string(&signed).expect("signed");
    assert_eq!(zone.matches("DNSKEY\t").count(), 1, "{zone}");
}

#[test]
fn key_files_naming_one_token_of_the_pool_sign_on_every_token() {
    let pool = pool(KEY, "01");
    let keys = pool.hsm.dir().join("keys");
    std::fs::create_dir(&keys).expect("keys");
    pool.hsm.run_ok(
        "dnskey-from-label",
        &[
            "--token",
            "a",
            "-l",
            "csk",
            "-f",
            "KSK",
            "-K",
            keys.to_str().expect("path"),
            "example.com",
        ],
    );
    let signed = pool.output("example.com.signed");
    let output = pool
        .hsm
        .tool("zone-sign")
        .current_dir(pool.hsm.dir())
        .args(["-S", "-z", "-o", "example.com", "-n", "4", "-v", "1", "-K"])
        .arg(&keys)
        .args(["--pool", "--token", "a", "--token", "b", "--pin-file"])
        .arg(&pool.pin_file)
        .arg("-f")
        .arg(&signed)
        .arg(&pool.zone)
        .output()
        .expect("run");
    let text = stderr(&output);
    assert!(output.status.success(), "{text}");
    assert!(
        signatures_by(&text, "a") > 0 && signatures_by(&text, "b") > 0,
        "{text}"
    );
    crate::zone_sign::assert_validates(&signed, "example.com", &["-z"]);
}

#[test]
fn a_slower_token_signs_less() {
    let pool = pool(KEY, "01");
    let signed = pool.output("example.com.signed");
    // Token b answers every call 20 ms late (a network HSM far away): a
    // margin wide enough that a loaded machine does not blur it.
    let output = pool.sign(
        &signed,
        &["--pool", "--token", "a", "--token", "b", "-n", "2"],
        &[("TOKEN", "b"), ("LATENCY_US", "20000")],
    );
    let text = stderr(&output);
    assert!(output.status.success(), "{text}");
    let (fast, slow) = (signatures_by(&text, "a"), signatures_by(&text, "b"));
    assert!(slow > 0 && fast > 2 * slow, "a {fast}, b {slow}: {text}");
    crate::zone_sign::assert_validates(&signed, "example.com", &["-z"]);
}

#[test]
fn a_missing_key_named_with_a_pin_value_does_not_show_the_pin() {
    let pool = pool(KEY, "01");
    let signed = pool.output("example.com.signed");
    let output = pool
        .hsm
        .tool("zone-sign")
        .current_dir(pool.hsm.dir())
        .args(["-o", "example.com", "-z", "-f"])
        .arg(&signed)
        .arg(&pool.zone)
        .arg(format!("pkcs11:token=a;object=nosuch?pin-value={PIN}"))
        .output()
        .expect("run");
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{text}");
    assert!(text.contains("object=nosuch"), "{text}");
    assert!(!text.contains(PIN), "the PIN shows: {text}");
    assert!(untouched(&signed));
}

#[test]
fn a_token_option_given_twice_without_pool_means_the_last_one() {
    let pool = pool(KEY, "01");
    let signed = pool.output("example.com.signed");
    // Token c lacks the key, and any login there fails: the run must
    // neither send it the PIN nor look for the key on it.
    let output = pool.sign(
        &signed,
        &["--token", "c", "--token", "a"],
        &[
            ("TOKEN", "c"),
            ("FUNCTION", "C_Login"),
            ("ACTION", "CKR_PIN_INCORRECT"),
        ],
    );
    let text = stderr(&output);
    assert!(output.status.success(), "{text}");
    let warned = warnings(&text);
    assert_eq!(warned.len(), 1, "{text}");
    assert!(
        warned[0].contains("--token given twice: the last counts; give --pool"),
        "{text}"
    );
    crate::zone_sign::assert_validates(&signed, "example.com", &["-z"]);
}

#[test]
fn a_module_given_twice_is_refused_only_in_a_pool() {
    let pool = pool(KEY, "01");
    let signed = pool.output("example.com.signed");
    let module = crate::hsm::fault_crate_artifact("libp11_fault.so");
    let output = pool.sign(
        &signed,
        &[
            "--module",
            module.to_str().expect("path"),
            "--pool",
            "--token",
            "a",
        ],
        &[("LATENCY_US", "0")],
    );
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(text.contains("give --module once"), "{text}");
    let output = pool.sign(
        &signed,
        &["--module", module.to_str().expect("path"), "--token", "a"],
        &[("LATENCY_US", "0")],
    );
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn key_uris_naming_two_different_keys_under_one_label_sign_with_both() {
    // A migration to a new HSM: token b holds the new key under the old
    // key's label.
    let pool = pool(OTHER_KEY, "02");
    let signed = pool.output("example.com.signed");
    let output = pool.sign_with_keys(
        &signed,
        &["-n", "2"],
        &[
            "pkcs11:token=a;object=csk",
            "-k",
            "pkcs11:token=b;object=csk",
        ],
    );
    let text = stderr(&output);
    assert!(output.status.success(), "{text}");
    crate::zone_sign::assert_validates(&signed, "example.com", &["-z"]);
    let zone = std::fs::read_to_string(&signed).expect("signed");
    assert_eq!(zone.matches("DNSKEY\t").count(), 2, "both keys: {zone}");
}

#[test]
fn two_pin_values_in_a_pool_are_refused() {
    let pool = pool(KEY, "01");
    let signed = pool.output("example.com.signed");
    let output = pool
        .hsm
        .tool("zone-sign")
        .current_dir(pool.hsm.dir())
        .args([
            "-o",
            "example.com",
            "-z",
            "--pool",
            "--token",
            "a",
            "--token",
            "b",
            "-f",
        ])
        .arg(&signed)
        .arg(&pool.zone)
        .arg(format!("pkcs11:object=csk?pin-value={PIN}"))
        .arg("-k")
        .arg("pkcs11:object=csk?pin-value=00000000")
        .output()
        .expect("run");
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(text.contains("a pool of tokens has one PIN"), "{text}");
    assert!(!text.contains(PIN) && !text.contains("00000000"), "{text}");
    assert!(untouched(&signed));
}

#[test]
fn a_token_whose_signatures_do_not_verify_is_left_for_the_other() {
    let pool = pool(KEY, "01");
    let signed = pool.output("example.com.signed");
    let output = pool.sign(
        &signed,
        &["--pool", "--token", "a", "--token", "b", "-n", "4"],
        &[
            ("TOKEN", "b"),
            ("FUNCTION", "C_Sign"),
            ("ACTION", "flip"),
            ("FROM", "5"),
        ],
    );
    let text = stderr(&output);
    assert!(output.status.success(), "{text}");
    // The signer tells each signature made again; the pool tells once
    // which token it left, and why.
    let about_b: Vec<&str> = warnings(&text)
        .into_iter()
        .filter(|l| l.contains("token 'b'"))
        .collect();
    assert_eq!(about_b.len(), 1, "one warning line naming b: {text}");
    assert!(
        about_b[0].contains("a signature that did not verify"),
        "{text}"
    );
    assert!(signatures_by(&text, "a") > 0, "{text}");
    crate::zone_sign::assert_validates(&signed, "example.com", &["-z"]);
}
