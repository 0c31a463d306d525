//! zone-sign against BIND 9.18's dnssec-signzone, record by record: every
//! zone of the corpus (`../shared/corpus/zones`, or `P11DNSSEC_CORPUS`;
//! missing, it fails in CI) and our edge-case zones (`tests/data/zones/
//! diff-*.zone`) are signed by both, with the same algorithm, validity and
//! NSEC/NSEC3 parameters, and everything that does not depend on the key
//! material must agree: owner names, RRsets, TTLs, NSEC and NSEC3 records
//! (hashes and bitmaps), which RRsets are signed, and each RRSIG's type
//! covered, algorithm, labels, original TTL, signer and times. The
//! differences that remain are listed in zone-sign(1), DIFFERENCES FROM
//! BIND, and in [`ALLOWED`] here with their reason: a difference not
//! listed fails the test, and so does a listed one that no longer occurs.

use crate::hsm::{data_dir, Hsm, PIN};
use common::name::Name;
use common::record::RType;
use common::zone::ZoneReader;
use std::path::{Path, PathBuf};
use std::process::Command;

/// How a zone is signed, with the same parameters by both signers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Nsec,
    /// A salt and extra iterations, so that equal hashes mean equal
    /// hashing (RFC 5155 §5).
    Nsec3,
    /// Opt-out (RFC 5155 §6), no salt, no extra iterations (RFC 9276).
    OptOut,
}

impl Mode {
    fn args(self) -> &'static [&'static str] {
        match self {
            Mode::Nsec => &[],
            Mode::Nsec3 => &["-3", "5EED", "-H", "3"],
            Mode::OptOut => &["-3", "-", "-H", "0", "-A"],
        }
    }
}

/// A difference that is known and explained: in this zone (a file name,
/// or "*"), in these modes, records of this kind.
struct Allowed {
    zone: &'static str,
    modes: &'static [Mode],
    kind: Kind,
    /// Why, in the words of zone-sign(1) DIFFERENCES FROM BIND.
    reason: &'static str,
}

enum Kind {
    /// A record (as [`normalise`] writes it) containing this text, only in
    /// BIND's output.
    BindOnly(&'static str),
    /// A record both write, an RRSIG or NSEC, whose RDATA names (signer,
    /// next owner) are spelt in another case: a pair, one on each side.
    NameCase,
}

const ALL: &[Mode] = &[Mode::Nsec, Mode::Nsec3, Mode::OptOut];
const NSEC3: &[Mode] = &[Mode::Nsec3, Mode::OptOut];

/// The differences zone-sign(1) lists; nothing else may differ.
const ALLOWED: &[Allowed] = &[
    Allowed {
        zone: "*",
        modes: ALL,
        kind: Kind::NameCase,
        reason: "BIND writes an RRSIG's signer in lower case and an NSEC's next \
                 owner with its tree's spelling of each label; zone-sign writes \
                 the origin and the next owner as the zone spells them (names \
                 compare without case, RFC 4343; validation is unaffected)",
    },
    Allowed {
        zone: "bind9-verify-unsigned.zone",
        modes: ALL,
        kind: Kind::BindOnly("out-of-zone. 3600 A 1.2.3.4"),
        reason: "out-of-zone records are dropped with a warning (named ignores \
                 them on loading; dnssec-signzone copies them unsigned)",
    },
    Allowed {
        zone: "ldns-zonemd-A.2-complex.zone",
        modes: ALL,
        kind: Kind::BindOnly("foo.test. 555 TXT"),
        reason: "out-of-zone records are dropped with a warning",
    },
    Allowed {
        zone: "diff-dname-apex.zone",
        modes: NSEC3,
        kind: Kind::BindOnly("www.apex-dname.example. 300 RRSIG A "),
        reason: "with NSEC3, dnssec-signzone signs a name occluded by an apex \
                 DNAME (RFC 6672 §2.3: it is not authoritative); zone-sign \
                 leaves it unsigned, as BIND does with NSEC",
    },
    Allowed {
        zone: "diff-other-algorithm.zone",
        modes: ALL,
        kind: Kind::BindOnly("dsset: other.example. 0 DS "),
        reason: "dnssec-signzone's dsset lists every key of the DNSKEY RRset, \
                 also one that signs nothing; zone-sign's lists the keys that \
                 sign the DNSKEY RRset (a DS of an algorithm that signs nothing \
                 makes the zone bogus, RFC 4035 §2.2 and §5.2)",
    },
    Allowed {
        zone: "ldns-zonemd-A.4-uri.arpa.zone",
        modes: ALL,
        kind: Kind::BindOnly("dsset: uri.arpa. 0 DS 8 2"),
        reason: "dnssec-signzone's dsset lists the zone's own keys that sign nothing",
    },
];

/// Zones whose own apex DNSKEYs are of algorithms no key here signs with
/// (RFC 8976's uri.arpa, our other-algorithm zone): zone-sign needs
/// `--allow-unsigned-algorithm` and dnssec-signzone `-P` (its check
/// refuses them just as ours does).
const FOREIGN_KEYS: &[&str] = &["ldns-zonemd-A.4-uri.arpa.zone", "diff-other-algorithm.zone"];

/// Our edge-case zones: file, origin, modes.
const EDGE_ZONES: &[(&str, &str)] = &[
    ("diff-wildcards.zone", "wild.example."),
    ("diff-dname.zone", "dname.example."),
    ("diff-dname-apex.zone", "apex-dname.example."),
    ("diff-delegations.zone", "cuts.example."),
    ("diff-optout-ents.zone", "ents.example."),
    ("diff-ttls.zone", "ttls.example."),
    ("diff-escapes.zone", "Escapes.Example."),
    ("diff-soa-ttl.zone", "soa.example."),
    ("diff-soa-min.zone", "soa-min.example."),
    ("diff-other-algorithm.zone", "other.example."),
    ("diff-big-ttls.zone", "big.example."),
];

/// Corpus zones too big to sign in NSEC mode inside the time budget
/// (50,000 signed DS RRsets in a debug build); opt-out signs them.
const NSEC_TOO_BIG: &[&str] = &["bind9-optout-test.zone"];

struct Case {
    dir: PathBuf,
    file: String,
    origin: String,
    modes: Vec<Mode>,
}

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    if let Some((dir, corpus)) = crate::hsm::corpus() {
        for zone in corpus {
            let modes = if NSEC_TOO_BIG.contains(&zone.file.as_str()) {
                vec![Mode::OptOut]
            } else {
                vec![Mode::Nsec, Mode::OptOut]
            };
            cases.push(Case {
                dir: dir.clone(),
                file: zone.file,
                origin: zone.origin,
                modes,
            });
        }
    }
    // The big zones first, so that the two workers end together.
    cases.sort_by_key(|c| {
        std::cmp::Reverse(std::fs::metadata(c.dir.join(&c.file)).map_or(0, |m| m.len()))
    });
    for (file, origin) in EDGE_ZONES {
        cases.push(Case {
            dir: data_dir().join("zones"),
            file: (*file).into(),
            origin: (*origin).into(),
            modes: ALL.to_vec(),
        });
    }
    cases
}

use common::time::format_timestamp as rrsig_time;

/// One difference list per zone and mode: records only BIND writes, and
/// records only we write.
struct Diff {
    zone: String,
    mode: Mode,
    bind_only: Vec<String>,
    ours_only: Vec<String>,
}

#[test]
fn zone_sign_writes_what_dnssec_signzone_writes() {
    let cases = cases();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    // Absolute times, the same for both (and a "now" inside them for both
    // signers' checks).
    let (inception, expiration) = (rrsig_time(now - 86_400), rrsig_time(now + 30 * 86_400));
    let failures = std::sync::Mutex::new(Vec::new());
    let diffs = std::sync::Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    // Two workers, a token each (SoftHSM2 processes sharing a token
    // directory can see it uninitialized).
    std::thread::scope(|scope| {
        for worker in 0..2 {
            let (cases, next, failures, diffs) = (&cases, &next, &failures, &diffs);
            let (inception, expiration) = (&inception, &expiration);
            scope.spawn(move || {
                let hsm = Hsm::new();
                // ECDSA P-256: the fast algorithm in a debug build.
                hsm.run_ok(
                    "pkcs11-keygen",
                    &["-q", "-a", "ECDSAP256SHA256", "-l", "csk"],
                );
                let ours_key = our_public_key(&hsm);
                let out = hsm.dir().join("out");
                std::fs::create_dir(&out).expect("out");
                loop {
                    let at = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(case) = cases.get(at) else {
                        break;
                    };
                    let work = out.join(format!("{worker}-{at}"));
                    std::fs::create_dir(&work).expect("work dir");
                    let bind_key = bind_key(&work, &case.origin);
                    for &mode in &case.modes {
                        let times = (inception.as_str(), expiration.as_str(), now);
                        match compare(&hsm, &work, case, mode, times, &ours_key, &bind_key) {
                            Ok(diff) => diffs.lock().expect("lock").push(diff),
                            Err(failure) => failures.lock().expect("lock").push(failure),
                        }
                    }
                }
            });
        }
    });
    let mut failures = failures.into_inner().expect("lock");
    let diffs = diffs.into_inner().expect("lock");
    let mut used = vec![false; ALLOWED.len()];
    for diff in &diffs {
        let applies = |allowed: &Allowed| {
            (allowed.zone == "*" || allowed.zone == diff.zone) && allowed.modes.contains(&diff.mode)
        };
        let mut bind_only = diff.bind_only.clone();
        let mut ours_only = diff.ours_only.clone();
        for (at, allowed) in ALLOWED.iter().enumerate() {
            if !applies(allowed) {
                continue;
            }
            match allowed.kind {
                Kind::NameCase => {
                    let before = bind_only.len();
                    bind_only.retain(|theirs| {
                        let Some(paired) = ours_only
                            .iter()
                            .position(|ours| same_but_name_case(theirs, ours))
                        else {
                            return true;
                        };
                        ours_only.remove(paired);
                        false
                    });
                    used[at] |= bind_only.len() < before;
                }
                Kind::BindOnly(text) => {
                    let before = bind_only.len();
                    bind_only.retain(|record| !record.contains(text));
                    used[at] |= bind_only.len() < before;
                }
            }
        }
        for (side, records) in [("BIND writes", &bind_only), ("we write", &ours_only)] {
            if !records.is_empty() {
                let shown: Vec<&String> = records.iter().take(8).collect();
                failures.push(format!(
                    "{} ({:?}): {} records only {side}: {shown:#?}",
                    diff.zone,
                    diff.mode,
                    records.len()
                ));
            }
        }
    }
    for (allowed, used) in ALLOWED.iter().zip(used) {
        if !used {
            failures.push(format!(
                "listed difference no longer seen (drop it here and in zone-sign(1)): {} {:?}: {}",
                allowed.zone, allowed.modes, allowed.reason
            ));
        }
    }
    failures.sort();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The public key of the token's key, as DNSKEY RDATA after the first
/// four octets.
fn our_public_key(hsm: &Hsm) -> Vec<u8> {
    let text = hsm.run_ok(
        "dnskey-from-label",
        &[
            "-l",
            "csk",
            "-a",
            "ECDSAP256SHA256",
            "-f",
            "KSK",
            "example.",
        ],
    );
    public_key_of(&text)
}

/// The key material of the one DNSKEY record in `text` (a key file).
fn public_key_of(text: &str) -> Vec<u8> {
    let line = text
        .lines()
        .find(|l| !l.starts_with(';') && l.contains("DNSKEY"))
        .expect("a DNSKEY line");
    let fields: Vec<&str> = line.split_whitespace().collect();
    let at = fields.iter().position(|f| *f == "DNSKEY").expect("DNSKEY");
    let base64: String = fields[at + 4..].concat();
    data_encoding::BASE64
        .decode(base64.as_bytes())
        .expect("base64")
}

/// A BIND key pair for the zone in `dir` (a KSK, as our one key is, made
/// to sign everything with `-z`); its key material.
fn bind_key(dir: &Path, origin: &str) -> Vec<u8> {
    let output = Command::new("dnssec-keygen")
        .args(["-q", "-a", "ECDSAP256SHA256", "-f", "KSK", "-K"])
        .arg(dir)
        .arg(origin)
        .output()
        .expect("dnssec-keygen must be installed (scripts/install-deps installs bind9-utils)");
    assert!(output.status.success(), "dnssec-keygen: {output:?}");
    let name = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let text = std::fs::read_to_string(dir.join(format!("{name}.key"))).expect("key file");
    public_key_of(&text)
}

fn compare(
    hsm: &Hsm,
    work: &Path,
    case: &Case,
    mode: Mode,
    (inception, expiration, now): (&str, &str, i64),
    ours_key: &[u8],
    bind_key: &[u8],
) -> Result<Diff, String> {
    let foreign = FOREIGN_KEYS.contains(&case.file.as_str());
    let tag = format!("{}-{mode:?}", case.file);
    let ours_file = work.join(format!("{tag}.ours"));
    let bind_file = work.join(format!("{tag}.bind"));
    let (ours_ds, bind_ds) = (
        work.join(format!("{tag}.ours-ds")),
        work.join(format!("{tag}.bind-ds")),
    );
    std::fs::create_dir(&ours_ds).expect("ds dir");
    std::fs::create_dir(&bind_ds).expect("ds dir");

    let mut ours = hsm.tool("zone-sign");
    ours.current_dir(&case.dir)
        .env("P11DNSSEC_NOW", now.to_string())
        .args(["-q", "-n", "1", "-s", inception, "-e", expiration])
        .args(mode.args())
        .args(["-o", &case.origin, "-f"])
        .arg(&ours_file)
        .arg("-d")
        .arg(&ours_ds);
    if foreign {
        ours.arg("--allow-unsigned-algorithm");
    }
    let output = ours
        .args(["--pin", PIN, &case.file, "pkcs11:object=csk"])
        .output()
        .expect("zone-sign");
    if !output.status.success() {
        return Err(format!(
            "{tag}: zone-sign failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }

    // -S: the key from the key directory (a key file on the command line
    // is not added to the DNSKEY RRset); -z: our one key signs all, as
    // a KSK alone does in zone-sign; -R: signatures by keys that do not
    // sign are dropped, as zone-sign always does; -u: the chain is built
    // afresh, as zone-sign always does.
    let mut bind = Command::new("dnssec-signzone");
    bind.current_dir(&case.dir)
        .args(["-q", "-S", "-z", "-R", "-u", "-K"])
        .arg(work)
        .args(["-s", inception, "-e", expiration])
        .args(mode.args())
        .args(["-o", &case.origin, "-f"])
        .arg(&bind_file)
        .arg("-d")
        .arg(&bind_ds);
    if foreign {
        bind.arg("-P");
    }
    let output = bind
        .arg(&case.file)
        .output()
        .expect("dnssec-signzone must be installed (scripts/install-deps installs bind9-utils)");
    if !output.status.success() {
        return Err(format!(
            "{tag}: dnssec-signzone failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }

    let origin = Name::parse(&case.origin, None).map_err(|e| format!("{tag}: origin: {e:?}"))?;
    let mut ours = normalise(&ours_file, &origin, ours_key)?;
    let mut theirs = normalise(&bind_file, &origin, bind_key)?;
    // The dsset: which keys, algorithms and digest types it lists (the
    // tags and digests are the keys' own).
    ours.extend(normalise_dsset(&ours_ds, &origin)?);
    theirs.extend(normalise_dsset(&bind_ds, &origin)?);
    ours.sort();
    theirs.sort();
    Ok(Diff {
        zone: case.file.clone(),
        mode,
        bind_only: minus(&theirs, &ours),
        ours_only: minus(&ours, &theirs),
    })
}

/// The one dsset file in `dir`: its name, and its DS records as
/// `dsset: owner TTL DS algorithm digest-type`.
fn normalise_dsset(dir: &Path, origin: &Name) -> Result<Vec<String>, String> {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .map(|entry| entry.expect("dir entry").path())
        .collect();
    let [path] = files.as_slice() else {
        return Err(format!("{}: not one dsset file: {files:?}", dir.display()));
    };
    let name = path.file_name().expect("name").to_string_lossy();
    let text = path.display().to_string();
    let mut reader = ZoneReader::open(&text, origin.clone())
        .map_err(|e| format!("{e}"))?
        .lenient_ttl();
    let mut lines = vec![format!("dsset file: {name}")];
    while let Some(record) = reader.next_record().map_err(|e| format!("{e}"))? {
        let wire = common::rdata::parse(record.rtype, &record.rdata, &record.origin)
            .map_err(|e| format!("{text}:{}: {e}", record.line))?;
        if record.rtype != RType::DS || wire.len() < 4 {
            return Err(format!("{text}:{}: not a DS record", record.line));
        }
        lines.push(format!(
            "dsset: {} {} DS {} {}",
            record.owner, record.ttl, wire[2], wire[3]
        ));
    }
    Ok(lines)
}

/// True for two RRSIG or NSEC records alike but for the case of the
/// names in their RDATA.
fn same_but_name_case(a: &str, b: &str) -> bool {
    let fields = |r: &str| r.splitn(4, ' ').map(str::to_string).collect::<Vec<_>>();
    let (a, b) = (fields(a), fields(b));
    a.len() == 4
        && b.len() == 4
        && a[..3] == b[..3]
        && (a[2] == "RRSIG" || a[2] == "NSEC")
        && a[3] != b[3]
        && a[3].eq_ignore_ascii_case(&b[3])
}

/// The records of `a` not in `b` (both sorted; duplicates counted).
fn minus(a: &[String], b: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut j = 0;
    for record in a {
        while j < b.len() && b[j] < *record {
            j += 1;
        }
        if j < b.len() && b[j] == *record {
            j += 1;
        } else {
            out.push(record.clone());
        }
    }
    out
}

/// A signed zone's records, one line each, sorted, without what depends
/// on the key: an RRSIG without its key tag and signature, the signing
/// key's DNSKEY as `<signing key>`. Owners keep their case (BIND keeps
/// the input's spelling, and so must we).
fn normalise(path: &Path, origin: &Name, signing_key: &[u8]) -> Result<Vec<String>, String> {
    let text = path.display().to_string();
    let mut reader = ZoneReader::open(&text, origin.clone()).map_err(|e| format!("{e}"))?;
    let mut lines = Vec::new();
    while let Some(record) = reader.next_record().map_err(|e| format!("{e}"))? {
        let wire = common::rdata::parse(record.rtype, &record.rdata, &record.origin)
            .map_err(|e| format!("{text}:{}: {e}", record.line))?;
        let rdata = match record.rtype {
            RType::RRSIG if wire.len() > 18 => {
                let signer = common::rdata::name_from_wire(&wire[18..])?;
                let covered =
                    common::rdata::type_text(RType(u16::from_be_bytes([wire[0], wire[1]])));
                let word = |at: usize| {
                    u32::from_be_bytes([wire[at], wire[at + 1], wire[at + 2], wire[at + 3]])
                };
                format!(
                    "{covered} {} {} {} {} {} {signer}",
                    wire[2],
                    wire[3],
                    word(4),
                    word(8),
                    word(12)
                )
            }
            RType::DNSKEY if wire.len() > 4 && wire[4..] == *signing_key => {
                format!(
                    "{} {} {} <signing key>",
                    u16::from_be_bytes([wire[0], wire[1]]),
                    wire[2],
                    wire[3]
                )
            }
            rtype => common::rdata::format(rtype, &wire),
        };
        lines.push(format!(
            "{} {} {} {rdata}",
            record.owner,
            record.ttl,
            common::rdata::type_text(record.rtype)
        ));
    }
    lines.sort();
    Ok(lines)
}

/// What named-checkzone refuses about owner names, zone-sign refuses, at
/// the record's line; what it accepts (check-names only warns there),
/// zone-sign signs. Both halves are checked against BIND itself.
#[test]
fn owner_names_named_checkzone_refuses_are_refused_with_file_and_line() {
    let hsm = Hsm::new();
    hsm.run_ok(
        "pkcs11-keygen",
        &["-q", "-a", "ECDSAP256SHA256", "-l", "csk"],
    );
    let cases = std::fs::read_to_string(data_dir().join("zones/owner-names.txt")).expect("cases");
    let mut failures = Vec::new();
    for (at, block) in cases.split("\n-----\n").enumerate() {
        let header = block
            .lines()
            .find_map(|l| l.strip_prefix("## "))
            .expect("a ## line");
        let zone: String = block
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        let file = hsm.dir().join(format!("owner-{at}.zone"));
        std::fs::write(&file, &zone).expect("zone");
        let bind = Command::new("named-checkzone")
            .arg("example.com")
            .arg(&file)
            .output()
            .expect("named-checkzone");
        let ours = hsm
            .tool("zone-sign")
            .args(["-q", "-o", "example.com", "-f"])
            .arg(hsm.dir().join(format!("owner-{at}.signed")))
            .arg("-d")
            .arg(hsm.dir())
            .arg("--pin")
            .arg(PIN)
            .arg(&file)
            .arg("pkcs11:object=csk")
            .output()
            .expect("zone-sign");
        let stderr = String::from_utf8_lossy(&ours.stderr);
        if header == "accepted" {
            if !bind.status.success() {
                failures.push(format!(
                    "{header} (block {at}): named-checkzone refuses: {bind:?}"
                ));
            }
            if !ours.status.success() {
                failures.push(format!(
                    "{header} (block {at}): zone-sign refuses: {stderr}"
                ));
            }
            continue;
        }
        let (line, message) = header
            .strip_prefix("refused ")
            .and_then(|rest| rest.split_once(' '))
            .expect("## refused LINE MESSAGE");
        if bind.status.success() {
            failures.push(format!("{header} (block {at}): named-checkzone accepts it"));
        }
        let place = format!("{}:{line}: ", file.display());
        if ours.status.code() != Some(1) || !stderr.contains(&place) || !stderr.contains(message) {
            failures.push(format!(
                "{header} (block {at}): zone-sign: {:?} {stderr}",
                ours.status.code()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// RFC 5155 §4: only the apex NSEC3PARAM is the signer's. One below a
/// cut is occluded data, kept unsigned; one at an authoritative name is
/// data, signed (both as dnssec-signzone keeps them).
#[test]
fn an_nsec3param_below_the_apex_is_data_kept_as_written() {
    let hsm = Hsm::new();
    hsm.run_ok(
        "pkcs11-keygen",
        &["-q", "-a", "ECDSAP256SHA256", "-l", "csk"],
    );
    let signed = hsm.dir().join("signed");
    let output = hsm
        .tool("zone-sign")
        .current_dir(data_dir().join("zones"))
        .args(["-q", "-3", "AB", "-o", "cuts.example.", "-O", "full", "-f"])
        .arg(&signed)
        .arg("-d")
        .arg(hsm.dir())
        .args(["--pin", PIN, "diff-delegations.zone", "pkcs11:object=csk"])
        .output()
        .expect("zone-sign");
    assert!(output.status.success(), "{output:?}");
    let text = std::fs::read_to_string(&signed).expect("signed");
    let has = |wanted: &str| {
        text.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>().join(" ") == wanted)
    };
    assert!(
        has("x.sub.insecure.cuts.example. 300 IN NSEC3PARAM 1 0 0 -"),
        "{text}"
    );
    assert!(
        has("n3p.cuts.example. 300 IN NSEC3PARAM 1 0 5 ABCD"),
        "{text}"
    );
    assert!(has("cuts.example. 0 IN NSEC3PARAM 1 0 0 AB"), "{text}");
    let signed_owners: Vec<&str> = text
        .lines()
        .filter_map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            (fields.get(3..5) == Some(&["RRSIG", "NSEC3PARAM"][..])).then(|| fields[0])
        })
        .collect();
    assert_eq!(
        signed_owners,
        ["cuts.example.", "n3p.cuts.example."],
        "{text}"
    );
}
