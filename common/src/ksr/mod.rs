//! Offline KSK (the root's and the TLDs' KSK ceremony): the online signer
//! sends a key signing request (KSR) with the ZSKs each future time slot
//! needs; the offline side, with the KSK in its own token, answers with a
//! signed key response (SKR) holding, per slot, the DNSKEY, CDS and
//! CDNSKEY RRsets and their KSK signatures; the signer takes the key
//! RRsets of the slot covering the signing time from it. Both files are
//! BIND 9.20's `dnssec-ksr` format (bind-lifecycle.md §6), read leniently
//! enough for Knot's `keymgr` (§7).
//!
//! The signer trusts an SKR only as far as the KSKs it already knows (the
//! ones whose DS the parent holds, from their `.key` files): a response
//! from an untrusted place cannot swap in another KSK, and every RRSIG in
//! the bundle used must verify.

pub mod format;
pub mod policy;
pub mod request;
pub mod sign;

use crate::dnskey::DnsKey;
use crate::error::{Error, Result};
use crate::name::Name;
use crate::record::{Class, RType};
use crate::sign::rrsig::signed_data;
use crate::sign::verify::Verifier;
use crate::zone::model::RrSet;
use crate::zone::rdatas::Rdatas;
use format::Bundle;

/// Reads a request or response file (`-` for stdin), at most
/// [`format::MAX_FILE_BYTES`].
pub fn read_file(path: &str) -> Result<String> {
    use std::io::Read;
    let shown = if path == "-" { "stdin" } else { path };
    let mut bytes = Vec::new();
    let limit = format::MAX_FILE_BYTES as u64 + 1;
    let read = if path == "-" {
        std::io::stdin().lock().take(limit).read_to_end(&mut bytes)
    } else {
        let file = std::fs::File::open(path).map_err(|e| Error::io(shown, e))?;
        let meta = file.metadata().map_err(|e| Error::io(shown, e))?;
        // A FIFO or a device would block or never end.
        if !meta.is_file() {
            return Err(Error::Failed(format!("{shown}: not a regular file")));
        }
        file.take(limit).read_to_end(&mut bytes)
    };
    read.map_err(|e| Error::io(shown, e))?;
    if bytes.len() > format::MAX_FILE_BYTES {
        return Err(Error::Failed(format!(
            "{shown}: larger than {} MiB",
            format::MAX_FILE_BYTES >> 20
        )));
    }
    String::from_utf8(bytes).map_err(|_| Error::Input {
        file: shown.to_string(),
        line: None,
        message: "not text (UTF-8)".into(),
    })
}

/// The key RRsets of the response bundle covering a time, verified.
#[derive(Clone, Debug)]
pub struct KeySet {
    /// The bundle's time.
    pub time: i64,
    /// DNSKEY, then CDNSKEY and CDS if the bundle has them.
    pub rrsets: Vec<RrSet>,
    /// The bundle's RRSIGs over each of them.
    pub signatures: Vec<(RType, Vec<Vec<u8>>)>,
    /// The bundle's KSKs (SEP flag) and ZSKs.
    pub ksks: Vec<DnsKey>,
    pub zsks: Vec<DnsKey>,
    /// When the response runs out: the last bundle's first expiring RRSIG.
    pub end: i64,
}

fn dnskey_of(rdata: &[u8]) -> Option<DnsKey> {
    (rdata.len() > 4).then(|| DnsKey {
        flags: u16::from_be_bytes([rdata[0], rdata[1]]),
        protocol: rdata[2],
        algorithm: rdata[3],
        public_key: rdata[4..].to_vec(),
    })
}

fn first_expiration(bundle: &Bundle) -> Option<i64> {
    bundle
        .rdatas(RType::RRSIG)
        .filter_map(crate::sign::rrsig::parse)
        .map(|(fields, _)| i64::from(fields.expiration))
        .min()
}

/// The bundle of `bundles` that covers `now` (its time ≤ now < the next
/// bundle's; the last one until its signatures expire), its signatures
/// verified against its KSKs, each of which must be one of `trusted`
/// (the KSKs whose DS the parent holds).
pub fn key_set_at(
    bundles: &[Bundle],
    now: i64,
    origin: &Name,
    trusted: &[DnsKey],
    file: &str,
) -> Result<KeySet> {
    let stamp = crate::time::format_timestamp;
    let first = bundles.first().map_or(now, |b| b.time);
    let Some(index) = bundles.iter().rposition(|b| b.time <= now) else {
        return Err(Error::Failed(format!(
            "no bundle of the SKR {file} covers {}: the first starts at {}; nothing was written",
            stamp(now),
            stamp(first)
        )));
    };
    let last = &bundles[bundles.len() - 1];
    let end = first_expiration(last).unwrap_or(last.time);
    if index + 1 == bundles.len() && now >= end {
        return Err(Error::Failed(format!(
            "no bundle of the SKR {file} covers {}: its last bundle ({}) ran out at {}; hold the next KSK ceremony; nothing was written",
            stamp(now),
            stamp(last.time),
            stamp(end)
        )));
    }
    let bundle = &bundles[index];
    let refuse = |line: usize, why: String| Error::Input {
        file: file.to_string(),
        line: (line > 0).then_some(line),
        message: format!("bundle {}: {why}; nothing was written", stamp(bundle.time)),
    };
    let mut rrsets: Vec<RrSet> = Vec::new();
    for record in bundle.records.iter().filter(|r| r.rtype != RType::RRSIG) {
        match rrsets.iter_mut().find(|s| s.rtype == record.rtype) {
            Some(set) => {
                if set.ttl != record.ttl {
                    return Err(refuse(
                        record.line,
                        format!("its {} records have different TTLs", record.rtype),
                    ));
                }
                set.rdatas.push(&record.rdata);
            }
            None => rrsets.push(RrSet {
                rtype: record.rtype,
                ttl: record.ttl,
                rdatas: Rdatas::one(&record.rdata),
            }),
        }
    }
    rrsets.sort_by_key(|s| s.rtype);
    let Some(dnskeys) = rrsets.iter().find(|s| s.rtype == RType::DNSKEY) else {
        return Err(refuse(bundle.line, "it holds no DNSKEY RRset".into()));
    };
    let keys: Vec<DnsKey> = dnskeys.rdatas.iter().filter_map(dnskey_of).collect();
    let (ksks, zsks): (Vec<DnsKey>, Vec<DnsKey>) = keys.into_iter().partition(DnsKey::is_ksk);
    let same = |a: &DnsKey, b: &DnsKey| {
        a.algorithm == b.algorithm
            && a.public_key == b.public_key
            && (a.flags & !crate::dnskey::FLAG_REVOKE) == (b.flags & !crate::dnskey::FLAG_REVOKE)
    };
    for ksk in &ksks {
        if !trusted.iter().any(|t| same(t, ksk)) {
            return Err(refuse(
                bundle.line,
                format!(
                    "KSK {} is not one of the trusted KSKs (--skr-ksk): an SKR cannot bring a KSK the parent's DS does not name",
                    ksk.key_tag()
                ),
            ));
        }
    }
    let mut signatures: Vec<(RType, Vec<Vec<u8>>)> = Vec::new();
    for record in bundle.records.iter().filter(|r| r.rtype == RType::RRSIG) {
        let Some((fields, signature)) = crate::sign::rrsig::parse(&record.rdata) else {
            return Err(refuse(record.line, "a malformed RRSIG".into()));
        };
        let covered = fields.type_covered;
        let Some(rrset) = rrsets.iter().find(|s| s.rtype == covered) else {
            return Err(refuse(
                record.line,
                format!("an RRSIG over {covered}, which the bundle does not hold"),
            ));
        };
        let tag = fields.key_tag;
        let Some(ksk) = ksks
            .iter()
            .find(|k| k.key_tag() == tag && k.algorithm == fields.algorithm)
        else {
            return Err(refuse(
                record.line,
                format!("the RRSIG over {covered} is by key {tag}, not by a KSK of the bundle"),
            ));
        };
        if !fields.signer.eq_ignore_case(origin) || fields.original_ttl != rrset.ttl {
            return Err(refuse(
                record.line,
                format!("the RRSIG by KSK {tag} over {covered} names another signer or TTL"),
            ));
        }
        let algorithm = ksk
            .algorithm()
            .ok_or_else(|| refuse(record.line, format!("KSK {tag}: unknown algorithm")))?;
        let verifier = Verifier::new(&ksk.to_public_key()?, algorithm)?;
        let data = signed_data(&fields, origin, Class::IN, rrset);
        if !verifier.verify(&data, signature) {
            return Err(refuse(
                record.line,
                format!(
                    "the RRSIG by KSK {tag} over {covered} does not verify: the SKR was changed or damaged"
                ),
            ));
        }
        let (inception, expiration) = (i64::from(fields.inception), i64::from(fields.expiration));
        if !(inception <= now && now < expiration) {
            return Err(refuse(
                record.line,
                format!(
                    "the RRSIG by KSK {tag} over {covered} is not valid at {} ({} to {})",
                    stamp(now),
                    stamp(inception),
                    stamp(expiration)
                ),
            ));
        }
        match signatures.iter_mut().find(|(t, _)| *t == covered) {
            Some((_, list)) => list.push(record.rdata.clone()),
            None => signatures.push((covered, vec![record.rdata.clone()])),
        }
    }
    for rrset in &rrsets {
        if !signatures.iter().any(|(t, _)| *t == rrset.rtype) {
            return Err(refuse(
                bundle.line,
                format!("its {} RRset has no KSK signature", rrset.rtype),
            ));
        }
    }
    Ok(KeySet {
        time: bundle.time,
        rrsets,
        signatures,
        ksks,
        zsks,
        end,
    })
}

/// The zone's key RRsets become the bundle's: its DNSKEY, CDS and CDNSKEY
/// RRsets are replaced (named does the same with an imported SKR).
pub fn apply(zone: &mut crate::zone::model::Zone, key_set: &KeySet) {
    let apex = &mut zone.nodes[0];
    apex.rrsets
        .retain(|s| !matches!(s.rtype, RType::DNSKEY | RType::CDS | RType::CDNSKEY));
    apex.rrsets.extend(key_set.rrsets.iter().cloned());
    apex.rrsets.sort_by_key(|s| s.rtype);
}

/// The ZSKs zone-sign has (published or signing) must be exactly the
/// bundle's ZSKs, and every KSK algorithm needs a signing ZSK: otherwise
/// the zone would publish a DNSKEY RRset the KSK signed for other keys.
pub fn check_zsks(keys: &[crate::sign::SigningKey], key_set: &KeySet) -> Result<()> {
    let stamp = crate::time::format_timestamp(key_set.time);
    let ours: Vec<&crate::sign::SigningKey> = keys
        .iter()
        .filter(|k| !k.ksk && (k.publish || k.active))
        .collect();
    for key in &ours {
        if !key_set.zsks.iter().any(|z| z.rdata() == key.dnskey.rdata()) {
            return Err(Error::Failed(format!(
                "ZSK {} ({}) is not in the SKR bundle of {stamp}: the ZSKs on hand do not match the bundle (ksr-request again, or check the ZSKs' timing); nothing was written",
                key.dnskey.key_tag(),
                key.description
            )));
        }
    }
    for zsk in &key_set.zsks {
        if !ours.iter().any(|k| k.dnskey.rdata() == zsk.rdata()) {
            return Err(Error::Failed(format!(
                "the SKR bundle of {stamp} publishes ZSK {}, which is not among the keys zone-sign has now (-K, -S and the ZSKs' timing); nothing was written",
                zsk.key_tag()
            )));
        }
    }
    for ksk in &key_set.ksks {
        if !ours
            .iter()
            .any(|k| k.active && k.dnskey.algorithm == ksk.algorithm)
        {
            return Err(Error::Failed(format!(
                "no active ZSK of KSK {}'s algorithm {} signs the zone; nothing was written",
                ksk.key_tag(),
                ksk.algorithm
            )));
        }
    }
    Ok(())
}

/// The bundle's KSKs as signer keys: they "sign" the key RRsets with the
/// bundle's signatures ([`crate::sign::SignOptions::presigned`]) and
/// nothing else (no token holds them here).
pub fn ksk_signing_keys(key_set: &KeySet, origin: &Name) -> Result<Vec<crate::sign::SigningKey>> {
    key_set
        .ksks
        .iter()
        .map(|dnskey| {
            let algorithm = dnskey.algorithm().ok_or_else(|| {
                Error::Failed(format!(
                    "KSK {}: unsupported algorithm {}",
                    dnskey.key_tag(),
                    dnskey.algorithm
                ))
            })?;
            Ok(crate::sign::SigningKey {
                public_key: dnskey.to_public_key()?,
                algorithm,
                ksk: true,
                active: true,
                publish: true,
                key_file_ttl: None,
                cds: false,
                description: format!(
                    "{}/{algorithm}/{} (offline KSK, from the SKR)",
                    origin.to_string().trim_end_matches('.'),
                    dnskey.key_tag()
                ),
                dnskey: dnskey.clone(),
            })
        })
        .collect()
}

/// The key pairs of zone `origin` in `dir` (`K<zone>+NNN+NNNNN.key` with
/// its `.private`), read through the key-file trust checks, in name
/// order. Pairs older than format v1.3 are left out, as zone-sign `-S`
/// leaves them out (their timing is not BIND's).
pub fn zone_key_files(
    dir: &std::path::Path,
    origin: &Name,
    trust: &crate::keyfile::KeyFileTrust,
) -> Result<Vec<crate::keymeta::KeyPairFiles>> {
    trust.check_dir(dir)?;
    let prefix = format!("K{}+", origin.key_file_text());
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir.display().to_string(), e))?;
    let mut names: Vec<String> = entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| {
            let Some(base) = name.strip_suffix(".key") else {
                return false;
            };
            let rest = base.get(prefix.len()..).unwrap_or("");
            base.len() > prefix.len()
                && base[..prefix.len()].eq_ignore_ascii_case(&prefix)
                && rest.len() == 9
                && rest.as_bytes()[3] == b'+'
                && rest
                    .bytes()
                    .enumerate()
                    .all(|(i, b)| i == 3 || b.is_ascii_digit())
        })
        .collect();
    names.sort();
    let mut pairs = Vec::new();
    for name in names {
        let pair = crate::keymeta::KeyPairFiles::read(&dir.join(&name), trust)?;
        if pair.version >= (1, 3) && pair.record.owner.eq_ignore_case(origin) {
            pairs.push(pair);
        }
    }
    Ok(pairs)
}
