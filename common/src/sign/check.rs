//! The check of a signed zone before it is written (skipped with `-P`):
//! every signed RRset carries a signature of every algorithm, the DNSKEY
//! RRset one by a KSK of every algorithm, and the NSEC or NSEC3 chain is
//! closed and in order, every algorithm of the apex DNSKEY RRset signs
//! (RFC 4035 §2.2), and every RRSIG is valid now and within what was
//! asked for (inception before expiration, expiration no later than `-e`
//! or `-X`). Signatures themselves were verified as they were made; this
//! catches what is missing or out of bounds, not what is forged.

use super::{serial_gt, SignOptions, SignedZone, SigningKey};
use crate::error::{Error, Result};
use crate::name::Name;
use crate::record::RType;
use std::collections::BTreeSet;

/// Checks a signed zone, walking it once.
pub fn check_signed(signed: &SignedZone, keys: &[SigningKey], options: &SignOptions) -> Result<()> {
    let signing: BTreeSet<u8> = keys
        .iter()
        .filter(|k| k.active)
        .map(|k| k.algorithm.number())
        .collect();
    // An algorithm at the apex that no key signs with (an old key left
    // after an algorithm rollover) makes the zone bogus for a validator
    // whose DS names it: refused, or let pass with a warning on request.
    let mut algorithms = signing.clone();
    for unsigned in signed.apex_dnskey_algorithms().difference(&signing) {
        if options.allow_unsigned_algorithm {
            crate::cli::warn(&format!(
                "the apex DNSKEY RRset has algorithm {unsigned}, which signs nothing (--allow-unsigned-algorithm)"
            ));
        } else {
            algorithms.insert(*unsigned);
        }
    }
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
    let origin = &signed.origin;
    let mut apex_signed: BTreeSet<RType> = BTreeSet::new();
    let mut chain = ChainCheck::default();
    let mut by_key: Vec<(u8, u16)> = Vec::new();
    signed.each_rrset(|owner, rrset, signatures| {
        match rrset.rtype {
            RType::NSEC => chain.nsec(owner, rrset.rdatas.first().unwrap_or_default())?,
            RType::NSEC3 => chain.nsec3(owner, rrset.rdatas.first().unwrap_or_default())?,
            _ => {}
        }
        let Some(signatures) = signatures else {
            return Ok(());
        };
        // (algorithm, key tag) of each signature.
        by_key.clear();
        for rdata in signatures {
            let fixed = rdata
                .get(..18)
                .ok_or_else(|| Error::Failed(format!("a short RRSIG at {owner}")))?;
            if fixed[..2] != rrset.rtype.0.to_be_bytes() {
                return Err(Error::Failed(format!(
                    "an RRSIG at {owner} over {} covers another type",
                    rrset.rtype
                )));
            }
            let tag = u16::from_be_bytes([fixed[16], fixed[17]]);
            check_validity(owner, rrset.rtype, tag, fixed, options)?;
            by_key.push((fixed[2], tag));
        }
        if let Some(missing) = algorithms
            .iter()
            .find(|a| !by_key.iter().any(|(algorithm, _)| algorithm == *a))
        {
            let why = if signing.contains(missing) {
                String::new()
            } else {
                format!(
                    " (algorithm {missing} is in the apex DNSKEY RRset, but no key of it signs: \
                     give its key, remove its DNSKEY, or --allow-unsigned-algorithm)"
                )
            };
            return Err(Error::Failed(format!(
                "the zone is not fully signed: {owner}/{} has no signature of algorithm {missing}{why}",
                rrset.rtype
            )));
        }
        if rrset.rtype == RType::DNSKEY {
            for algorithm in &algorithms {
                if !by_key
                    .iter()
                    .any(|s| ksk_tags.contains(s) && s.0 == *algorithm)
                {
                    return Err(Error::Failed(format!(
                        "No self-signed KSK DNSKEY found for algorithm {algorithm}"
                    )));
                }
            }
        }
        if owner.eq_ignore_case(origin) && !by_key.is_empty() {
            apex_signed.insert(rrset.rtype);
        }
        Ok(())
    })?;
    for required in [RType::SOA, RType::DNSKEY] {
        if !apex_signed.contains(&required) {
            return Err(Error::Failed(format!(
                "{required} is not signed (keys offline or inactive?)"
            )));
        }
    }
    chain.finish(origin)
}

/// An RRSIG's inception must come before its expiration, and its
/// expiration no later than the one asked for: jitter or a reused input
/// signature must never stretch a validity period (RFC 1982 arithmetic,
/// as the 32-bit times wrap in 2106).
fn check_validity(
    owner: &Name,
    rtype: RType,
    tag: u16,
    fixed: &[u8],
    options: &SignOptions,
) -> Result<()> {
    let word =
        |at: usize| u32::from_be_bytes([fixed[at], fixed[at + 1], fixed[at + 2], fixed[at + 3]]);
    let (expiration, inception) = (word(8), word(12));
    let limit = match rtype {
        RType::DNSKEY => options.dnskey_expiration.unwrap_or(options.expiration),
        _ => options.expiration,
    };
    let shown = |t: u32| crate::time::format_timestamp(i64::from(t));
    // Valid at the time of signing, as a validator will judge it at once:
    // a zone signed with a future inception or a past expiration is bogus
    // the moment it is written.
    if serial_gt(inception, options.now) {
        return Err(Error::Failed(format!(
            "the RRSIG by key {tag} over {owner}/{rtype} is not valid yet: its inception ({}) is after now ({})",
            shown(inception),
            shown(options.now)
        )));
    }
    if serial_gt(options.now, expiration) {
        return Err(Error::Failed(format!(
            "the RRSIG by key {tag} over {owner}/{rtype} has expired: its expiration ({}) is before now ({})",
            shown(expiration),
            shown(options.now)
        )));
    }
    if !serial_gt(expiration, inception) {
        return Err(Error::Failed(format!(
            "the RRSIG by key {tag} over {owner}/{rtype} expires ({}) before its inception ({})",
            shown(expiration),
            shown(inception)
        )));
    }
    // An SKR's signatures carry the ceremony's validity, not this run's -e/-X.
    let presigned =
        options.presigned.is_some() && matches!(rtype, RType::DNSKEY | RType::CDS | RType::CDNSKEY);
    if serial_gt(expiration, limit) && !presigned {
        return Err(Error::Failed(format!(
            "the RRSIG by key {tag} over {owner}/{rtype} expires ({}) after the requested expiration ({})",
            shown(expiration),
            shown(limit)
        )));
    }
    Ok(())
}

/// The NSEC or NSEC3 chain seen so far, one record at a time: each
/// record's next name must be the owner (or hash) of the one after it,
/// and the last must lead back to the first.
#[derive(Default)]
struct ChainCheck {
    /// The last NSEC: its owner and next name.
    nsec: Option<(Name, Name)>,
    /// The first NSEC3's owner hash, and the last one's owner and next hash.
    nsec3_first: Option<Vec<u8>>,
    nsec3_last: Option<(Name, Vec<u8>)>,
}

impl ChainCheck {
    fn nsec(&mut self, owner: &Name, rdata: &[u8]) -> Result<()> {
        let (next, _) = Name::from_wire(rdata).map_err(|e| Error::Failed(e.to_string()))?;
        if let Some((previous, expected)) = &self.nsec {
            if !expected.eq_ignore_case(owner) {
                return Err(next_name_mismatch(previous, owner, expected));
            }
            if previous.canonical_cmp(owner) != std::cmp::Ordering::Less {
                return Err(Error::Failed(format!("NSEC chain out of order at {owner}")));
            }
        }
        self.nsec = Some((owner.clone(), next));
        Ok(())
    }

    fn nsec3(&mut self, owner: &Name, rdata: &[u8]) -> Result<()> {
        let hash = owner_hash(owner)?;
        if let Some((previous, next)) = &self.nsec3_last {
            if *next != hash {
                return Err(nsec3_break(previous));
            }
        }
        self.nsec3_first.get_or_insert(hash);
        let salt_len = *rdata.get(4).unwrap_or(&0) as usize;
        let hash_len = *rdata.get(5 + salt_len).unwrap_or(&0) as usize;
        let next = rdata
            .get(6 + salt_len..6 + salt_len + hash_len)
            .ok_or_else(|| nsec3_break(owner))?;
        self.nsec3_last = Some((owner.clone(), next.to_vec()));
        Ok(())
    }

    fn finish(&self, origin: &Name) -> Result<()> {
        if let Some((last, next)) = &self.nsec {
            if !next.eq_ignore_case(origin) {
                return Err(next_name_mismatch(last, origin, next));
            }
        }
        if let (Some(first), Some((last, next))) = (&self.nsec3_first, &self.nsec3_last) {
            if first != next {
                return Err(nsec3_break(last));
            }
        }
        Ok(())
    }
}

fn next_name_mismatch(owner: &Name, expected: &Name, found: &Name) -> Error {
    Error::Failed(format!(
        "Bad NSEC record for {owner}, next name mismatch (expected:{expected}, found:{found})"
    ))
}

fn nsec3_break(owner: &Name) -> Error {
    Error::Failed(format!("Break in NSEC3 chain at: {owner}"))
}

/// The hash an NSEC3 owner name spells in its first label (base32hex).
fn owner_hash(owner: &Name) -> Result<Vec<u8>> {
    let label = owner.labels().next().unwrap_or_default();
    data_encoding::BASE32HEX_NOPAD
        .decode(&label.to_ascii_uppercase())
        .map_err(|_| Error::Failed(format!("bad NSEC3 owner {owner}")))
}
