//! The check of a signed zone before it is written (skipped with `-P`):
//! every signed RRset carries a signature of every algorithm, the DNSKEY
//! RRset one by a KSK of every algorithm, and the NSEC or NSEC3 chain is
//! closed and in order. Signatures themselves were verified as they were
//! made; this catches what is missing, not what is wrong.

use super::{OutRecord, SigningKey};
use crate::error::{Error, Result};
use crate::name::Name;
use crate::record::RType;
use std::collections::{BTreeMap, BTreeSet};

/// Checks the records of a signed zone.
pub fn check_signed(records: &[OutRecord], origin: &Name, keys: &[SigningKey]) -> Result<()> {
    let algorithms: BTreeSet<u8> = keys
        .iter()
        .filter(|k| k.active)
        .map(|k| k.algorithm.number())
        .collect();
    // A key signs for the KSK role if it is one, or if its algorithm has
    // no active KSK (then its ZSKs sign the DNSKEY RRset).
    let ksk_tags: BTreeSet<(u8, u16)> = keys
        .iter()
        .filter(|k| {
            k.active
                && (k.ksk
                    || !keys
                        .iter()
                        .any(|o| o.active && o.ksk && o.algorithm == k.algorithm))
        })
        .map(|k| (k.algorithm.number(), k.dnskey.key_tag()))
        .collect();
    // (owner, covered type) -> algorithms and (algorithm, tag) of its signatures.
    let mut signed: BTreeMap<(Name, u16), Vec<(u8, u16)>> = BTreeMap::new();
    for record in records.iter().filter(|r| r.rtype == RType::RRSIG) {
        let covered = u16::from_be_bytes([record.rdata[0], record.rdata[1]]);
        let tag = u16::from_be_bytes([record.rdata[16], record.rdata[17]]);
        signed
            .entry((record.owner.to_lowercase(), covered))
            .or_default()
            .push((record.rdata[2], tag));
    }
    for ((owner, covered), signatures) in &signed {
        let present: BTreeSet<u8> = signatures.iter().map(|(a, _)| *a).collect();
        if let Some(missing) = algorithms.difference(&present).next() {
            return Err(Error::Failed(format!(
                "the zone is not fully signed: {owner}/{} has no signature of algorithm {missing}",
                RType(*covered)
            )));
        }
        if *covered == RType::DNSKEY.0 {
            for algorithm in &algorithms {
                if !signatures
                    .iter()
                    .any(|s| ksk_tags.contains(s) && s.0 == *algorithm)
                {
                    return Err(Error::Failed(format!(
                        "No self-signed KSK DNSKEY found for algorithm {algorithm}"
                    )));
                }
            }
        }
    }
    for required in [RType::SOA, RType::DNSKEY] {
        if !signed.contains_key(&(origin.to_lowercase(), required.0)) {
            return Err(Error::Failed(format!(
                "{required} is not signed (keys offline or inactive?)"
            )));
        }
    }
    check_chain(records, origin)
}

fn check_chain(records: &[OutRecord], origin: &Name) -> Result<()> {
    let nsec: Vec<&OutRecord> = records.iter().filter(|r| r.rtype == RType::NSEC).collect();
    for (index, record) in nsec.iter().enumerate() {
        let (next, _) = Name::from_wire(&record.rdata).map_err(|e| Error::Failed(e.to_string()))?;
        let expected = nsec.get(index + 1).map_or(origin, |r| &r.owner);
        if !next.eq_ignore_case(expected) {
            return Err(Error::Failed(format!(
                "Bad NSEC record for {}, next name mismatch (expected:{expected}, found:{next})",
                record.owner
            )));
        }
        if index > 0
            && nsec[index - 1].owner.canonical_cmp(&record.owner) != std::cmp::Ordering::Less
        {
            return Err(Error::Failed(format!(
                "NSEC chain out of order at {}",
                record.owner
            )));
        }
    }
    let nsec3: Vec<&OutRecord> = records.iter().filter(|r| r.rtype == RType::NSEC3).collect();
    for (index, record) in nsec3.iter().enumerate() {
        let salt_len = record.rdata[4] as usize;
        let hash_len = record.rdata[5 + salt_len] as usize;
        let next = &record.rdata[6 + salt_len..6 + salt_len + hash_len];
        let following = nsec3[(index + 1) % nsec3.len()];
        let label = following.owner.labels().next().unwrap_or_default();
        let decoded = data_encoding::BASE32HEX_NOPAD
            .decode(&label.to_ascii_uppercase())
            .map_err(|_| Error::Failed(format!("bad NSEC3 owner {}", following.owner)))?;
        if decoded != next {
            return Err(Error::Failed(format!(
                "Break in NSEC3 chain at: {}",
                record.owner
            )));
        }
    }
    Ok(())
}
