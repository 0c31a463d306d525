//! ZONEMD (RFC 8976): a digest over the whole zone at its apex, so that a
//! copy of the zone can be checked as one piece.
//!
//! Only the SIMPLE scheme exists (§2.2.2): one hash over every record of
//! the zone in canonical form and order (RFC 4034 §6, §3.3.1.1), each
//! once (§3.3.1.2), occluded data and glue included, the apex ZONEMD
//! RRset and the apex RRSIGs over it left out. The signer adds
//! placeholders (§3.1) before the NSEC/NSEC3 chain is made, so the apex
//! bitmap names ZONEMD; once every other signature exists it computes the
//! digest (§3.3), puts it in, and signs the ZONEMD RRset last (§3.4.2).

use super::plan::Place;
use super::rrset::RrsetSigner;
use super::signed::{Arena, SignedZone, Slot};
use super::verify::Verifier;
use super::workers::Pending;
use super::{rrsig_ttl, KeyStore, SignOptions, SignStats, SigningKey};
use crate::error::{Error, Result};
use crate::name::Name;
use crate::rdata;
use crate::record::{Class, RType};
use crate::zone::model::{RrSet, Zone};
use crate::zone::rdatas::Rdatas;
use sha2::Digest;
use std::cmp::Ordering;

/// The SIMPLE scheme (RFC 8976 §2.2.2), the only one defined.
pub const SCHEME_SIMPLE: u8 = 1;

/// A ZONEMD hash algorithm (RFC 8976 §5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ZonemdHash {
    Sha384,
    Sha512,
}

impl ZonemdHash {
    /// The Hash Algorithm field.
    pub fn number(self) -> u8 {
        match self {
            ZonemdHash::Sha384 => 1,
            ZonemdHash::Sha512 => 2,
        }
    }

    /// Octets of its digest.
    pub fn digest_len(self) -> usize {
        match self {
            ZonemdHash::Sha384 => 48,
            ZonemdHash::Sha512 => 64,
        }
    }

    /// ldns-signzone's `-z` words: `sha384` or `1`, `sha512` or `2`,
    /// optionally after `simple:` or `1:` (the scheme).
    pub fn parse(text: &str) -> std::result::Result<ZonemdHash, String> {
        let lower = text.to_ascii_lowercase();
        let hash = match lower.split_once(':') {
            Some(("simple" | "1", hash)) => hash,
            Some((scheme, _)) => {
                return Err(format!(
                    "unknown ZONEMD scheme '{scheme}': only simple (1) is defined"
                ))
            }
            None => lower.as_str(),
        };
        match hash {
            "sha384" | "sha-384" | "1" => Ok(ZonemdHash::Sha384),
            "sha512" | "sha-512" | "2" => Ok(ZonemdHash::Sha512),
            _ => Err(format!(
                "unknown ZONEMD hash '{text}': use sha384 (1) or sha512 (2)"
            )),
        }
    }

    fn hasher(self) -> Hasher {
        match self {
            ZonemdHash::Sha384 => Hasher::Sha384(sha2::Sha384::new()),
            ZonemdHash::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }
}

impl std::fmt::Display for ZonemdHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ZonemdHash::Sha384 => "SHA-384",
            ZonemdHash::Sha512 => "SHA-512",
        })
    }
}

enum Hasher {
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl Hasher {
    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha384(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Sha384(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        }
    }
}

/// Hashes a zone owner by owner, the owners given in canonical order.
struct Digester {
    hashers: Vec<(ZonemdHash, Hasher)>,
    class: Class,
    /// The current owner's records: type, TTL, canonical RDATA.
    records: Vec<(RType, u32, Vec<u8>)>,
    buffer: Vec<u8>,
}

impl Digester {
    fn new(hashes: &[ZonemdHash], class: Class) -> Digester {
        Digester {
            hashers: hashes.iter().map(|&h| (h, h.hasher())).collect(),
            class,
            records: Vec::new(),
            buffer: Vec::new(),
        }
    }

    fn push(&mut self, rtype: RType, ttl: u32, wire: &[u8]) {
        self.records
            .push((rtype, ttl, rdata::canonical(rtype, wire).into_owned()));
    }

    /// Hashes the records pushed since the last call, all of `owner`: by
    /// type, then RDATA (§3.3.1.1); a duplicate once (§3.3.1.2); at the
    /// apex without ZONEMD and the RRSIGs over it.
    fn flush(&mut self, owner: &Name, apex: bool) {
        if self.records.is_empty() {
            return;
        }
        if apex {
            self.records.retain(|(rtype, _, rdata)| {
                *rtype != RType::ZONEMD
                    && !(*rtype == RType::RRSIG && rdata.get(..2) == Some(&[0, 63][..]))
            });
        }
        self.records
            .sort_unstable_by(|a, b| (a.0, &a.2).cmp(&(b.0, &b.2)));
        self.records.dedup_by(|a, b| a.0 == b.0 && a.2 == b.2);
        let owner = owner.canonical_wire();
        self.buffer.clear();
        for (rtype, ttl, rdata) in self.records.drain(..) {
            self.buffer.extend_from_slice(&owner);
            self.buffer.extend_from_slice(&rtype.0.to_be_bytes());
            self.buffer.extend_from_slice(&self.class.0.to_be_bytes());
            self.buffer.extend_from_slice(&ttl.to_be_bytes());
            self.buffer
                .extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            self.buffer.extend_from_slice(&rdata);
        }
        for (_, hasher) in &mut self.hashers {
            hasher.update(&self.buffer);
        }
    }

    fn finish(self) -> Vec<(ZonemdHash, Vec<u8>)> {
        self.hashers
            .into_iter()
            .map(|(hash, hasher)| (hash, hasher.finish()))
            .collect()
    }
}

/// The SIMPLE digests of a zone given as records in any order (owner,
/// type, TTL, wire RDATA): records outside `origin` are left out. For
/// small zones and for checking; the signer streams its output instead.
pub fn digest_records(
    origin: &Name,
    class: Class,
    records: &[(Name, RType, u32, Vec<u8>)],
    hashes: &[ZonemdHash],
) -> Vec<(ZonemdHash, Vec<u8>)> {
    let mut order: Vec<&(Name, RType, u32, Vec<u8>)> = records
        .iter()
        .filter(|r| r.0.is_subdomain_of(origin))
        .collect();
    order.sort_by(|a, b| a.0.canonical_cmp(&b.0));
    let mut digester = Digester::new(hashes, class);
    let mut current: Option<&Name> = None;
    for (owner, rtype, ttl, rdata) in order {
        if let Some(previous) = current.filter(|p| p.canonical_cmp(owner) != Ordering::Equal) {
            digester.flush(previous, previous.eq_ignore_case(origin));
        }
        current = Some(owner);
        digester.push(*rtype, *ttl, rdata);
    }
    if let Some(last) = current {
        digester.flush(last, last.eq_ignore_case(origin));
    }
    digester.finish()
}

/// ZONEMD RDATA: the serial, SIMPLE, the hash, the digest.
fn zonemd_rdata(serial: u32, hash: ZonemdHash, digest: &[u8]) -> Vec<u8> {
    let mut rdata = serial.to_be_bytes().to_vec();
    rdata.push(SCHEME_SIMPLE);
    rdata.push(hash.number());
    rdata.extend_from_slice(digest);
    rdata
}

/// RFC 8976 §3.1: the apex ZONEMD RRset of the input goes (every record
/// of it: a digest over the old signatures cannot match the new zone),
/// and one placeholder per hash takes its place, with the SOA's serial
/// and TTL and a digest of zeros. Input ZONEMDs of another scheme or
/// hash than those made are named in a warning, as they are not kept.
pub(super) fn add_placeholders(zone: &mut Zone, hashes: &[ZonemdHash]) -> Result<()> {
    let (soa_ttl, _, serial) = zone.soa()?;
    let apex = &mut zone.nodes[0];
    if let Some(old) = apex.rrset(RType::ZONEMD) {
        for rdata in old.rdatas.iter() {
            let (scheme, hash) = (rdata.get(4).copied(), rdata.get(5).copied());
            let remade =
                scheme == Some(SCHEME_SIMPLE) && hashes.iter().any(|h| Some(h.number()) == hash);
            if !remade {
                crate::cli::warn(&format!(
                    "the input's apex ZONEMD with scheme {} and hash algorithm {} is removed (RFC 8976 §3.1); only the --zonemd-digest ones are made",
                    scheme.unwrap_or(0),
                    hash.unwrap_or(0)
                ));
            }
        }
    }
    apex.rrsets.retain(|s| s.rtype != RType::ZONEMD);
    let mut rdatas = Rdatas::new();
    let mut sorted = hashes.to_vec();
    sorted.sort();
    sorted.dedup();
    for hash in sorted {
        rdatas.push(&zonemd_rdata(serial, hash, &vec![0; hash.digest_len()]));
    }
    apex.rrsets.push(RrSet {
        rtype: RType::ZONEMD,
        ttl: soa_ttl,
        rdatas,
    });
    apex.rrsets.sort_by_key(|s| s.rtype);
    Ok(())
}

/// Takes the apex ZONEMD RRset's job out of `jobs`, to be signed once
/// its digest is known; its index in the walk.
pub(super) fn take_job(jobs: &mut Vec<Place>, zone: &Zone) -> Option<usize> {
    let at = zone.nodes[0]
        .rrsets
        .iter()
        .position(|s| s.rtype == RType::ZONEMD)?;
    let job = jobs.iter().position(
        |place| matches!(place, Place::Zone { node: 0, rrset } if *rrset as usize == at),
    )?;
    jobs.remove(job);
    Some(job)
}

/// What signing the ZONEMD RRset needs.
pub(super) struct Finish<'a> {
    pub(super) keys: &'a [SigningKey],
    pub(super) verifiers: &'a [Verifier],
    pub(super) hashers: &'a super::sidecar::Hashers,
    pub(super) options: &'a SignOptions,
    pub(super) store: &'a mut (dyn KeyStore + Send),
}

/// RFC 8976 §3.3–3.4: with every other signature made, computes the
/// digests over the signed zone, puts them in the apex ZONEMD RRset, and
/// signs it (job number `job`, whose slot is missing from `slots`), each
/// signature verified like every other.
pub(super) fn finish(
    signed: &mut SignedZone,
    job: usize,
    hashes: &[ZonemdHash],
    with: Finish<'_>,
) -> Result<()> {
    // Nothing is read from the missing slot: the RRSIGs over the apex
    // ZONEMD are not digested.
    signed.slots.insert(job, Slot::default());
    let started = std::time::Instant::now();
    let digests = digest_signed(signed, hashes, job);
    crate::cli::verbose(
        1,
        &format!(
            "ZONEMD digest of the signed zone in {:.3} s",
            started.elapsed().as_secs_f64()
        ),
    );
    let (_, _, serial) = signed.plan.zone.soa()?;
    let apex = &mut signed.plan.zone.nodes[0];
    let at = apex
        .rrsets
        .iter()
        .position(|s| s.rtype == RType::ZONEMD)
        .ok_or_else(|| Error::Failed("the ZONEMD placeholder is gone".into()))?;
    let mut rdatas = Rdatas::new();
    for (hash, digest) in &digests {
        rdatas.push(&zonemd_rdata(serial, *hash, digest));
    }
    rdatas.sort_dedup_by(<[u8]>::cmp);
    apex.rrsets[at].rdatas = rdatas;

    let origin = signed.origin.clone();
    let plan = &signed.plan;
    let mut signer = RrsetSigner {
        keys: with.keys,
        verifiers: with.verifiers,
        store: with.store,
        options: with.options,
        origin: origin.clone(),
        class: plan.zone.class,
        input: &plan.zone.input_signatures,
        stats: SignStats::default(),
        deferred: Some(Vec::new()),
        hashers: with.hashers,
        vouched: with.options.vouched.as_deref(),
        record: Vec::new(),
    };
    let (owner, rrset) = plan.rrset(Place::Zone {
        node: 0,
        rrset: at as u32,
    });
    let mut signatures = signer.sign_rrset(job, &owner, &rrset)?;
    let made: Vec<Pending> = signer.deferred.take().unwrap_or_default();
    let failed: Vec<&Pending> = made
        .iter()
        .filter(|p| !with.verifiers[p.key].verify(&p.data, &p.signature))
        .collect();
    signer.stats.verified += (made.len() - failed.len()) as u64;
    if !failed.is_empty() {
        // As the workers do: once more on a fresh session, then refuse.
        for pending in &failed {
            signer.stats.retried += 1;
            crate::cli::warn(&format!(
                "the signature by {} over {owner}/ZONEMD failed verification; signing again on a fresh session",
                with.keys[pending.key].description
            ));
        }
        signer.store.fresh_session()?;
        signatures = signer.sign_rrset(job, &owner, &rrset)?;
    }
    let mut arena = Arena::default();
    let arena_index = signed.arenas.len() as u32;
    signed.slots[job] = arena.slot(arena_index, &signatures);
    signed.arenas.push(arena);
    let (made, into) = (&signer.stats, &mut signed.stats);
    into.generated += made.generated;
    into.retained += made.retained;
    into.verified += made.verified;
    into.retried += made.retried;
    into.token_time += made.token_time;
    into.verify_time += made.verify_time;
    if let Some(session) = into.sessions.first_mut() {
        session.generated += made.generated;
        session.token_time += made.token_time;
    }
    Ok(())
}

/// The digests over the signed zone as it is written, streamed: the
/// zone's nodes in canonical order with their NSEC and RRSIG records,
/// the NSEC3 records (in hash order, which is their canonical order)
/// merged in where their owner names fall.
fn digest_signed(
    signed: &SignedZone,
    hashes: &[ZonemdHash],
    zonemd_job: usize,
) -> Vec<(ZonemdHash, Vec<u8>)> {
    let plan = &signed.plan;
    let zone = &plan.zone;
    let mut digester = Digester::new(hashes, zone.class);
    let nsec3_len = plan.chain.nsec3_len();
    let first_nsec3_job = signed.slots.len() - nsec3_len;
    let mut next_nsec3 = 0;
    let signatures_of = |job: usize| signed.signatures(job);
    // Pushes NSEC3 records whose owner sorts before `owner` (flushed as
    // owners of their own) or equals it (left in the digester for it).
    let nsec3_up_to = |digester: &mut Digester, owner: Option<&Name>, next: &mut usize| {
        while *next < nsec3_len {
            let (nsec3_owner, rrset) = plan.chain.nsec3(zone, &plan.kinds, *next);
            let order = owner.map_or(Ordering::Less, |o| nsec3_owner.canonical_cmp(o));
            if order == Ordering::Greater {
                return;
            }
            for rdata in rrset.rdatas.iter() {
                digester.push(rrset.rtype, rrset.ttl, rdata);
            }
            for rdata in signatures_of(first_nsec3_job + *next) {
                digester.push(RType::RRSIG, rrsig_ttl(rrset.ttl, rdata), rdata);
            }
            *next += 1;
            if order == Ordering::Less {
                digester.flush(&nsec3_owner, false);
            }
        }
    };
    let mut job = 0;
    let mut current: Option<u32> = None;
    let flush_node = |digester: &mut Digester, node: u32| {
        let owner = &zone.nodes[node as usize].owner;
        digester.flush(owner, node == 0);
    };
    let _ = plan.walk(|place, is_signed| {
        let node = match place {
            Place::Zone { node, .. } | Place::Nsec { node } => node,
            // Merged in above, in canonical order.
            Place::Nsec3 { .. } => return Ok::<(), std::convert::Infallible>(()),
        };
        if current != Some(node) {
            if let Some(previous) = current {
                flush_node(&mut digester, previous);
            }
            nsec3_up_to(
                &mut digester,
                Some(&zone.nodes[node as usize].owner),
                &mut next_nsec3,
            );
            current = Some(node);
        }
        let (_, rrset) = plan.rrset(place);
        for rdata in rrset.rdatas.iter() {
            digester.push(rrset.rtype, rrset.ttl, rdata);
        }
        if is_signed {
            if job != zonemd_job {
                for rdata in signatures_of(job) {
                    digester.push(RType::RRSIG, rrsig_ttl(rrset.ttl, rdata), rdata);
                }
            }
            job += 1;
        }
        Ok(())
    });
    if let Some(previous) = current {
        flush_node(&mut digester, previous);
    }
    nsec3_up_to(&mut digester, None, &mut next_nsec3);
    digester.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::ZoneReader;

    /// RFC 8976 Appendix A.1, the simple EXAMPLE zone (as corrected by
    /// its errata: every example's digest, recomputed by dnspython).
    const SIMPLE: &str = "
example.      86400  IN  SOA     ns1 admin 2018031900 (
                                 1800 900 604800 86400 )
              86400  IN  NS      ns1
              86400  IN  NS      ns2
              86400  IN  ZONEMD  2018031900 1 1 (
                                 c68090d90a7aed71
                                 6bc459f9340e3d7c
                                 1370d4d24b7e2fc3
                                 a1ddc0b9a87153b9
                                 a9713b3c9ae5cc27
                                 777f98b8e730044c )
ns1           3600   IN  A       203.0.113.63
ns2           3600   IN  AAAA    2001:db8::63
";

    /// Appendix A.2: occluded data, duplicates, out-of-zone data, case,
    /// a wildcard, RDATA names to lower, a non-apex ZONEMD.
    const COMPLEX: &str = "
example.      86400  IN  SOA     ns1 admin 2018031900 (
                                 1800 900 604800 86400 )
              86400  IN  NS      ns1
              86400  IN  NS      ns2
              86400  IN  ZONEMD  2018031900 1 1 (
                                 a3b69bad980a3504
                                 e1cffcb0fd6397f9
                                 3848071c93151f55
                                 2ae2f6b1711d4bd2
                                 d8b39808226d7b9d
                                 b71e34b72077f8fe )
ns1           3600   IN  A       203.0.113.63
NS2           3600   IN  AAAA    2001:db8::63
occluded.sub  7200   IN  TXT     \"I'm occluded but must be digested\"
sub           7200   IN  NS      ns1
duplicate     300    IN  TXT     \"I must be digested just once\"
duplicate     300    IN  TXT     \"I must be digested just once\"
foo.test.     555    IN  TXT     \"out-of-zone data must be excluded\"
UPPERCASE     3600   IN  TXT     \"canonicalize uppercase owner names\"
*             777    IN  PTR     dont-forget-about-wildcards
mail          3600   IN  MX      20 MAIL1
mail          3600   IN  MX      10 Mail2.Example.
sortme        3600   IN  AAAA    2001:db8::5:61
sortme        3600   IN  AAAA    2001:db8::3:62
sortme        3600   IN  AAAA    2001:db8::4:63
sortme        3600   IN  AAAA    2001:db8::1:65
sortme        3600   IN  AAAA    2001:db8::2:64
non-apex      900    IN  ZONEMD  2018031900 1 1 (
                                 616c6c6f77656420
                                 6275742069676e6f
                                 7265642e20616c6c
                                 6f77656420627574
                                 2069676e6f726564
                                 2e20616c6c6f7765 )
";

    /// Appendix A.3: SHA-384 and SHA-512 digests, and two of a hash and
    /// a scheme nobody defines (to be ignored).
    const MULTIPLE: &str = "
example.      86400  IN  SOA     ns1 admin 2018031900 (
                                 1800 900 604800 86400 )
example.      86400  IN  NS      ns1.example.
example.      86400  IN  NS      ns2.example.
example.      86400  IN  ZONEMD  2018031900 1 1 (
                                 62e6cf51b02e54b9
                                 b5f967d547ce4313
                                 6792901f9f88e637
                                 493daaf401c92c27
                                 9dd10f0edb1c56f8
                                 080211f8480ee306 )
example.      86400  IN  ZONEMD  2018031900 1 2 (
                                 08cfa1115c7b948c
                                 4163a901270395ea
                                 226a930cd2cbcf2f
                                 a9a5e6eb85f37c8a
                                 4e114d884e66f176
                                 eab121cb02db7d65
                                 2e0cc4827e7a3204
                                 f166b47e5613fd27 )
example.      86400  IN  ZONEMD  2018031900 1 240 (
                                 e2d523f654b9422a
                                 96c5a8f44607bbee )
example.      86400  IN  ZONEMD  2018031900 241 1 (
                                 e1846540e33a9e41
                                 89792d18d5d131f6
                                 05fc283eaaaaaaaa
                                 aaaaaaaaaaaaaaaa
                                 aaaaaaaaaaaaaaaa
                                 aaaaaaaaaaaaaaaa)
ns1.example.  3600   IN  A       203.0.113.63
ns2.example.  86400  IN  TXT     \"This example has multiple digests\"
NS2.EXAMPLE.  3600   IN  AAAA    2001:db8::63
";

    type Records = Vec<(Name, RType, u32, Vec<u8>)>;

    fn read(text: &str, origin: &str) -> (Name, Records) {
        let origin = Name::parse(origin, None).expect("origin");
        let mut reader = ZoneReader::new(
            Box::new(std::io::Cursor::new(text.as_bytes().to_vec())),
            "test",
            None,
            origin.clone(),
        );
        let mut records = Vec::new();
        while let Some(r) = reader.next_record().expect("record") {
            let wire = rdata::parse(r.rtype, &r.rdata, &r.origin).expect("rdata");
            records.push((r.owner, r.rtype, r.ttl, wire));
        }
        (origin, records)
    }

    /// Checks every SIMPLE SHA-384/SHA-512 apex ZONEMD of the zone
    /// against our digest; how many were checked.
    fn check(text: &str, origin: &str) -> usize {
        let (origin, records) = read(text, origin);
        let mut checked = 0;
        for (owner, rtype, _, rdata) in &records {
            if *rtype != RType::ZONEMD || !owner.eq_ignore_case(&origin) {
                continue;
            }
            let Some(hash) = [ZonemdHash::Sha384, ZonemdHash::Sha512]
                .into_iter()
                .find(|h| rdata[4] == SCHEME_SIMPLE && rdata[5] == h.number())
            else {
                continue;
            };
            let digests = digest_records(&origin, Class::IN, &records, &[hash]);
            assert_eq!(
                data_encoding::HEXLOWER.encode(&digests[0].1),
                data_encoding::HEXLOWER.encode(&rdata[6..]),
                "{origin} {hash}"
            );
            checked += 1;
        }
        checked
    }

    #[test]
    fn rfc8976_appendix_a_digests_are_reproduced() {
        assert_eq!(check(SIMPLE, "example."), 1);
        assert_eq!(check(COMPLEX, "example."), 1);
        // SHA-384 and SHA-512; the unknown scheme and hash are not ours.
        assert_eq!(check(MULTIPLE, "example."), 2);
    }

    /// The corpus's copies of ldns's test zones: A.2 as ldns has it, the
    /// signed uri.arpa (A.4: RRSIG and NSEC digested, the RRSIG over the
    /// ZONEMD not) and root-servers.net (A.5).
    #[test]
    fn the_corpus_zonemd_zones_are_reproduced() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/zones");
        if !dir.exists() {
            assert!(std::env::var_os("CI").is_none(), "no corpus at {dir:?}");
            return;
        }
        for (file, origin) in [
            ("ldns-zonemd-A.2-complex.zone", "example."),
            ("ldns-zonemd-A.4-uri.arpa.zone", "uri.arpa."),
            ("ldns-zonemd-A.5-root-servers.net.zone", "root-servers.net."),
        ] {
            let text = std::fs::read_to_string(dir.join(file)).expect("corpus zone");
            assert_eq!(check(&text, origin), 1, "{file}");
        }
    }

    #[test]
    fn a_changed_record_changes_the_digest() {
        let (origin, records) = read(SIMPLE, "example.");
        let before = digest_records(&origin, Class::IN, &records, &[ZonemdHash::Sha384]);
        let mut changed = records.clone();
        changed.iter_mut().find(|r| r.1 == RType::A).expect("A").2 = 3601;
        let after = digest_records(&origin, Class::IN, &changed, &[ZonemdHash::Sha384]);
        assert_ne!(before, after);
    }

    #[test]
    fn hash_names_are_ldns_signzone_s() {
        for (text, hash) in [
            ("sha384", ZonemdHash::Sha384),
            ("SHA384", ZonemdHash::Sha384),
            ("1", ZonemdHash::Sha384),
            ("simple:sha512", ZonemdHash::Sha512),
            ("1:2", ZonemdHash::Sha512),
        ] {
            assert_eq!(ZonemdHash::parse(text), Ok(hash), "{text}");
        }
        for text in ["sha256", "3", "2:sha384", ""] {
            assert!(ZonemdHash::parse(text).is_err(), "{text}");
        }
    }
}
