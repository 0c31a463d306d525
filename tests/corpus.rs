//! Real zones from other projects' test suites (`../shared/corpus/zones`,
//! or `P11DNSSEC_CORPUS`), plus our own BIND-compatibility zones: each one
//! signed by zone-sign must load in `named-checkzone` (BIND is what our
//! users serve with), and its non-DNSSEC RRsets and TTLs must be the ones
//! `named-checkzone -D` reads from the unsigned zone. Without the corpus
//! the test fails in CI (`CI` set) and says so elsewhere.

use crate::hsm::{data_dir, Hsm, PIN};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Types the signer makes or adds; the rest must come out as BIND reads it.
const DNSSEC_TYPES: [&str; 5] = ["RRSIG", "NSEC", "NSEC3", "NSEC3PARAM", "DNSKEY"];

/// `named-checkzone -D` of a zone: its exit status, messages, and the
/// records without DNSSEC types, one normalised line each (fields joined
/// by one space, owner lowercased), sorted.
fn bind_reads(dir: &Path, origin: &str, file: &Path) -> (bool, String, Vec<String>) {
    let output = Command::new("named-checkzone")
        .current_dir(dir)
        .args(["-D", "-o", "-", origin])
        .arg(file)
        .output()
        .expect("named-checkzone must be installed (scripts/install-deps installs bind9-utils)");
    let text = String::from_utf8_lossy(&output.stdout);
    let mut records: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .filter_map(|line| {
            let mut fields: Vec<String> = line.split_whitespace().map(str::to_string).collect();
            if fields.len() < 4 || DNSSEC_TYPES.contains(&fields[3].as_str()) {
                return None;
            }
            fields[0] = fields[0].to_ascii_lowercase();
            Some(fields.join(" "))
        })
        .collect();
    records.sort();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        records,
    )
}

#[test]
fn corpus_zones_signed_load_in_bind_with_bind_s_rrsets_and_ttls() {
    // (directory, file, origin, compare with BIND's reading of the input)
    let mut zones: Vec<(PathBuf, String, String, bool)> = Vec::new();
    if let Some((dir, corpus)) = crate::hsm::corpus() {
        for zone in corpus {
            zones.push((dir.clone(), zone.file, zone.origin, true));
        }
    }
    let ours = data_dir().join("zones");
    zones.push((
        ours.clone(),
        "bind-compat.zone".into(),
        "bind-compat.".into(),
        true,
    ));
    zones.push((
        ours.clone(),
        "ttl-rules.zone".into(),
        "ttl-rules.".into(),
        true,
    ));
    // BIND 9.18 cannot read this input (ohttp by name), only our output.
    zones.push((ours, "svcb-names.zone".into(), "svcb-names.".into(), false));

    // One ECDSA key, NSEC and one signer keep the corpus (100,000
    // signatures) under a minute.
    let failures: Vec<String> =
        crate::hsm::on_two_tokens(&zones, |hsm, out, _, (dir, file, origin, compare)| {
            check_zone(hsm, out, dir, file, origin, *compare)
        })
        .into_iter()
        .filter_map(Result::err)
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn check_zone(
    hsm: &Hsm,
    out: &Path,
    dir: &Path,
    file: &str,
    origin: &str,
    compare: bool,
) -> Result<(), String> {
    let signed = out.join(format!("{file}.signed"));
    let ds_dir = out.join(format!("{file}.ds"));
    std::fs::create_dir(&ds_dir).expect("ds dir");
    let output = hsm
        .tool("zone-sign")
        .current_dir(dir)
        // Some corpus zones carry DNSKEYs of their own (RFC 8976's
        // examples): their algorithms sign nothing here, which the check
        // refuses unless told; this test is about the data BIND loads.
        .args([
            "-q",
            "-n",
            "1",
            "--allow-unsigned-algorithm",
            "-o",
            origin,
            "-f",
        ])
        .arg(&signed)
        .arg("-d")
        .arg(&ds_dir)
        .args(["--pin", PIN, file, "pkcs11:object=csk"])
        .output()
        .expect("zone-sign");
    if !output.status.success() {
        return Err(format!(
            "{file}: zone-sign failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    // Our own zones are small: dnssec-verify too (a TTL of 2^31 kept as
    // written made it reject the zone, the RRSIG's original TTL being what
    // BIND reads as 0).
    if dir == data_dir().join("zones") {
        let verify = Command::new("dnssec-verify")
            .args(["-z", "-o", origin])
            .arg(&signed)
            .output()
            .expect("dnssec-verify must be installed (scripts/install-deps)");
        if !verify.status.success() {
            return Err(format!(
                "{file}: dnssec-verify rejects the signed zone: {}",
                String::from_utf8_lossy(&verify.stderr)
            ));
        }
    }
    let (loaded, messages, ours) = bind_reads(dir, origin, &signed);
    if !loaded {
        return Err(format!(
            "{file}: named-checkzone refuses the signed zone:\n{messages}"
        ));
    }
    if !compare {
        return Ok(());
    }
    let (loaded, messages, theirs) = bind_reads(dir, origin, Path::new(file));
    if !loaded {
        return Err(format!(
            "{file}: named-checkzone refuses the input:\n{messages}"
        ));
    }
    if ours != theirs {
        let missing: Vec<&String> = theirs
            .iter()
            .filter(|r| !ours.contains(r))
            .take(5)
            .collect();
        let extra: Vec<&String> = ours
            .iter()
            .filter(|r| !theirs.contains(r))
            .take(5)
            .collect();
        return Err(format!(
            "{file}: the signed zone means other data than BIND reads from the input\n  BIND reads (not in ours): {missing:?}\n  ours (not BIND's): {extra:?}"
        ));
    }
    Ok(())
}
