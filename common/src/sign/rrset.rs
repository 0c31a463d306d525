//! Signing one RRset: which keys sign it (the roles), its RRSIGs with
//! their jitter, and which signatures of a signed input can stay.

use super::rrsig::{labels, signed_data, RrsigFields};
use super::serial::serial_gt;
use super::sidecar::{Digest, Hashers, Vouched};
use super::verify::Verifier;
use super::workers::Pending;
use super::{KeyStore, SignOptions, SignStats, SigningKey};
use crate::algorithm::Algorithm;
use crate::error::{Error, Result};
use crate::name::Name;
use crate::record::RType;
use crate::zone::model::{InputSignatures, RrSet};
use std::time::Instant;

pub(super) struct RrsetSigner<'a> {
    pub(super) keys: &'a [SigningKey],
    pub(super) verifiers: &'a [Verifier],
    pub(super) store: &'a mut (dyn KeyStore + Send),
    pub(super) options: &'a SignOptions,
    pub(super) origin: Name,
    pub(super) class: crate::record::Class,
    pub(super) input: &'a InputSignatures,
    pub(super) stats: SignStats,
    /// Where new signatures wait for their verification (by the worker's
    /// verifier thread); `None` to verify each one at once.
    pub(super) deferred: Option<Vec<Pending>>,
    /// Digests of the signatures made or kept here.
    pub(super) hashers: &'a Hashers,
    /// What the verified-signature record vouches for, if one is trusted.
    pub(super) vouched: Option<&'a Vouched>,
    /// The entries for the next record: what verified here.
    pub(super) record: Vec<Digest>,
}

impl RrsetSigner<'_> {
    /// The keys that sign an RRset of this type at this node (see the
    /// module documentation of the roles).
    fn signers_for(&self, rtype: RType, apex: bool) -> Vec<usize> {
        let key_set = apex && matches!(rtype, RType::DNSKEY | RType::CDS | RType::CDNSKEY);
        let mut chosen = Vec::new();
        let mut algorithms: Vec<Algorithm> = self
            .keys
            .iter()
            .filter(|k| k.active)
            .map(|k| k.algorithm)
            .collect();
        algorithms.sort();
        algorithms.dedup();
        for algorithm in algorithms {
            let of_algorithm = |ksk: bool| -> Vec<usize> {
                (0..self.keys.len())
                    .filter(|&i| {
                        let k = &self.keys[i];
                        k.active
                            && k.algorithm == algorithm
                            && k.ksk == ksk
                            && !k.dnskey.is_revoked()
                    })
                    .collect()
            };
            let (ksks, zsks) = (of_algorithm(true), of_algorithm(false));
            if key_set {
                chosen.extend(&ksks);
                // CDS and CDNSKEY speak to the parent, which trusts only
                // the keys its DS names: the KSKs sign them (RFC 7344 §4.1).
                let zsks_sign =
                    ksks.is_empty() || (rtype == RType::DNSKEY && self.options.zsk_signs_keys);
                if zsks_sign {
                    chosen.extend(&zsks);
                }
                if rtype == RType::DNSKEY {
                    // A revoked key signs the DNSKEY RRset (RFC 5011).
                    chosen.extend((0..self.keys.len()).filter(|&i| {
                        let k = &self.keys[i];
                        k.active && k.algorithm == algorithm && k.dnskey.is_revoked()
                    }));
                }
            } else {
                chosen.extend(&zsks);
                if self.options.ksk_signs_all || zsks.is_empty() {
                    chosen.extend(&ksks);
                }
            }
        }
        chosen
    }

    /// The expiration asked for signatures over RRsets of this type (`-X`
    /// for the DNSKEY RRset, else `-e`), before jitter.
    fn expiration_for(&self, rtype: RType) -> u32 {
        match rtype {
            RType::DNSKEY => self
                .options
                .dnskey_expiration
                .unwrap_or(self.options.expiration),
            _ => self.options.expiration,
        }
    }

    /// The jitter of one signature: a function of the seed, the RRset's
    /// place and the key, so that it does not depend on which worker signs.
    fn jitter(&self, job: usize, key: usize) -> u32 {
        if self.options.jitter == 0 {
            return 0;
        }
        // splitmix64: spread, not secrecy, is what jitter needs.
        let mut x =
            self.options.seed ^ (job as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ key as u64;
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 31;
        (x % u64::from(self.options.jitter)) as u32
    }

    /// The RRSIGs over one RRset, sorted as BIND orders them.
    pub(super) fn sign_rrset(
        &mut self,
        job: usize,
        owner: &Name,
        rrset: &RrSet,
    ) -> Result<Vec<Vec<u8>>> {
        let apex = owner.eq_ignore_case(&self.origin);
        if apex && matches!(rrset.rtype, RType::DNSKEY | RType::CDS | RType::CDNSKEY) {
            if let Some(presigned) = &self.options.presigned {
                return self.presigned(presigned, owner, rrset);
            }
        }
        let mut signatures: Vec<Vec<u8>> = Vec::new();
        // The input's signatures over this RRset, parsed once for all keys.
        let input: Vec<(RrsigFields, &[u8])> = if self.input.is_empty() {
            Vec::new()
        } else {
            self.input
                .get(owner, rrset.rtype)
                .filter_map(parse_rrsig)
                .filter(|(fields, _)| fields.type_covered == rrset.rtype)
                .collect()
        };
        let signers = self.signers_for(rrset.rtype, apex);
        // -v 3 tells each decision of a re-sign; a first signing has none.
        let explain = !self.input.is_empty() && crate::cli::verbosity() >= 3;
        if explain {
            self.explain_dropped(&signers, owner, rrset.rtype, &input);
        }
        for key_index in signers {
            let checking = (!input.is_empty()).then(Instant::now);
            let reused = self.reusable(key_index, owner, rrset, &input);
            if let Some(checking) = checking {
                self.stats.verify_time += checking.elapsed();
            }
            if explain {
                let key = &self.keys[key_index].description;
                let rtype = rrset.rtype;
                crate::cli::verbose(
                    3,
                    &match reused {
                        Some(_) => format!("{owner}/{rtype}: kept the signature by {key}"),
                        None => format!(
                            "{owner}/{rtype}: renewed the signature by {key}: {}",
                            self.renewal_reason(key_index, owner, rrset, &input)
                        ),
                    },
                );
            }
            if let Some(kept) = reused {
                self.stats.retained += 1;
                signatures.push(kept);
                continue;
            }
            let key = &self.keys[key_index];
            // `-j` is shorter than the validity (checked when parsing), so
            // this never wraps below the inception.
            let expiration = self
                .expiration_for(rrset.rtype)
                .wrapping_sub(self.jitter(job, key_index));
            let fields = RrsigFields {
                type_covered: rrset.rtype,
                algorithm: key.algorithm.number(),
                labels: labels(owner),
                original_ttl: rrset.ttl,
                expiration,
                inception: self.options.inception,
                key_tag: key.dnskey.key_tag(),
                signer: self.origin.clone(),
            };
            let data = signed_data(&fields, owner, self.class, rrset);
            let asked = Instant::now();
            let signature = self.store.sign(key_index, &data)?;
            self.stats.token_time += asked.elapsed();
            self.stats.generated += 1;
            signatures.push(fields.rdata(&signature));
            match &mut self.deferred {
                Some(deferred) => deferred.push(Pending {
                    job,
                    key: key_index,
                    data,
                    signature,
                }),
                None => {
                    self.check_second_attempt(key_index, &data, &signature, owner, rrset.rtype)?
                }
            }
        }
        signatures.sort();
        Ok(signatures)
    }

    /// Offline KSK: the signed key response's RRSIGs over an apex key
    /// RRset, each verified over the RRset as the zone now holds it by the
    /// KSK it names (a KSK of the key list), so a bundle that does not
    /// match the zone is never published.
    fn presigned(
        &mut self,
        presigned: &[(RType, Vec<Vec<u8>>)],
        owner: &Name,
        rrset: &RrSet,
    ) -> Result<Vec<Vec<u8>>> {
        let mut signatures = Vec::new();
        let given = presigned
            .iter()
            .filter(|(rtype, _)| *rtype == rrset.rtype)
            .flat_map(|(_, list)| list);
        for rdata in given {
            let verified = parse_rrsig(rdata).is_some_and(|(fields, signature)| {
                let data = signed_data(&fields, owner, self.class, rrset);
                (0..self.keys.len()).any(|i| {
                    let key = &self.keys[i];
                    key.ksk
                        && key.dnskey.key_tag() == fields.key_tag
                        && key.algorithm.number() == fields.algorithm
                        && self.verifiers[i].verify(&data, signature)
                })
            });
            if !verified {
                return Err(Error::Failed(format!(
                    "the SKR's signature over {owner}/{} does not verify over the zone's RRset by a KSK; nothing was written",
                    rrset.rtype
                )));
            }
            self.stats.verified += 1;
            signatures.push(rdata.clone());
        }
        signatures.sort();
        Ok(signatures)
    }

    /// An input signature by key `key_index` over this RRset that can stay
    /// (the latest-expiring, if there are several). It must name the key
    /// (algorithm, tag, signer), the owner's labels and the RRset's TTL,
    /// be valid now, not expire within the refresh interval, and verify
    /// over the RRset as it is now — so a changed RRset is signed again.
    /// A signature by a key that no longer signs this RRset is dropped.
    fn reusable(
        &mut self,
        key_index: usize,
        owner: &Name,
        rrset: &RrSet,
        input: &[(RrsigFields, &[u8])],
    ) -> Option<Vec<u8>> {
        let key = &self.keys[key_index];
        let now = self.options.now;
        let mut candidates: Vec<&(RrsigFields, &[u8])> = input
            .iter()
            .filter(|(fields, _)| {
                fields.algorithm == key.algorithm.number()
                    && fields.key_tag == key.dnskey.key_tag()
                    && fields.signer.eq_ignore_case(&self.origin)
                    && fields.labels == labels(owner)
                    && fields.original_ttl == rrset.ttl
                    && !serial_gt(fields.inception, now)
                    && serial_gt(fields.expiration, now.wrapping_add(self.options.refresh))
                    // Not beyond this run's expiration: a shorter -e than
                    // last time must shorten what is kept too.
                    && !serial_gt(fields.expiration, self.expiration_for(rrset.rtype))
            })
            .collect();
        // Latest expiration first.
        candidates
            .sort_by_key(|(fields, _)| std::cmp::Reverse(fields.expiration.wrapping_sub(now)));
        // At most two are tried: a signed input holds one signature per key
        // and RRset (two across a re-sign with jitter), and each try costs a
        // verification over the whole RRset, so N forged candidates over an
        // N-record RRset would cost N^2. The rest are dropped and re-made.
        candidates
            .into_iter()
            .take(2)
            .find_map(|(fields, signature)| {
                let data = signed_data(fields, owner, self.class, rrset);
                // The record vouches for this key, data and signature
                // having verified before: verifying again would agree.
                let digest = self.hashers.digest(key_index, &data, signature);
                if self.vouched.is_some_and(|v| v.contains(&digest)) {
                    self.stats.vouched += 1;
                } else if self.verifiers[key_index].verify(&data, signature) {
                    self.stats.verified += 1;
                } else {
                    return None;
                }
                self.record.push(digest);
                Some(fields.rdata(signature))
            })
    }

    /// For `-v 3`: the input signatures over this RRset by keys that do
    /// not sign it now, which are dropped.
    fn explain_dropped(
        &self,
        signers: &[usize],
        owner: &Name,
        rtype: RType,
        input: &[(RrsigFields, &[u8])],
    ) {
        for (fields, _) in input {
            let signs = signers.iter().any(|&i| {
                let key = &self.keys[i];
                fields.algorithm == key.algorithm.number() && fields.key_tag == key.dnskey.key_tag()
            });
            if !signs {
                crate::cli::verbose(
                    3,
                    &format!(
                        "{owner}/{rtype}: dropped the signature by key {} (algorithm {}): that key does not sign this RRset now",
                        fields.key_tag, fields.algorithm
                    ),
                );
            }
        }
    }

    /// For `-v 3`: why no input signature by `key_index` could stay (the
    /// first of [`Self::reusable`]'s conditions that none met).
    fn renewal_reason(
        &self,
        key_index: usize,
        owner: &Name,
        rrset: &RrSet,
        input: &[(RrsigFields, &[u8])],
    ) -> &'static str {
        let key = &self.keys[key_index];
        let now = self.options.now;
        let by_key: Vec<&RrsigFields> = input
            .iter()
            .map(|(fields, _)| fields)
            .filter(|f| {
                f.algorithm == key.algorithm.number()
                    && f.key_tag == key.dnskey.key_tag()
                    && f.signer.eq_ignore_case(&self.origin)
            })
            .collect();
        if by_key.is_empty() {
            return "the input has no signature by this key";
        }
        let by_key: Vec<&RrsigFields> = by_key
            .into_iter()
            .filter(|f| f.labels == labels(owner) && f.original_ttl == rrset.ttl)
            .collect();
        if by_key.is_empty() {
            return "its labels or original TTL do not match the RRset (the TTL changed?)";
        }
        if by_key.iter().all(|f| serial_gt(f.inception, now)) {
            return "its inception is in the future";
        }
        if by_key
            .iter()
            .all(|f| !serial_gt(f.expiration, now.wrapping_add(self.options.refresh)))
        {
            return "it expires within the cycle interval (-i)";
        }
        if by_key
            .iter()
            .all(|f| serial_gt(f.expiration, self.expiration_for(rrset.rtype)))
        {
            return "it expires after this run's expiration (-e)";
        }
        "it does not verify over the RRset as it is now (the RRset changed?)"
    }

    /// Verifies a signature made again after the first one failed: a
    /// second failure stops the run.
    fn check_second_attempt(
        &mut self,
        key: usize,
        data: &[u8],
        signature: &[u8],
        owner: &Name,
        rtype: RType,
    ) -> Result<()> {
        if self.verifiers[key].verify(data, signature) {
            self.stats.verified += 1;
            self.record.push(self.hashers.digest(key, data, signature));
            return Ok(());
        }
        Err(Error::Failed(format!(
            "the token made a signature by {} over {owner}/{rtype} that does not verify, twice; nothing was written",
            self.keys[key].description
        )))
    }
}

/// The fields and signature of RRSIG RDATA, or `None` if it is malformed.
pub(super) fn parse_rrsig(rdata: &[u8]) -> Option<(RrsigFields, &[u8])> {
    let word =
        |at: usize| u32::from_be_bytes([rdata[at], rdata[at + 1], rdata[at + 2], rdata[at + 3]]);
    let fixed = rdata.get(..18)?;
    let (signer, signer_len) = Name::from_wire(&rdata[18..]).ok()?;
    let signature = rdata.get(18 + signer_len..).filter(|s| !s.is_empty())?;
    let fields = RrsigFields {
        type_covered: RType(u16::from_be_bytes([fixed[0], fixed[1]])),
        algorithm: fixed[2],
        labels: fixed[3],
        original_ttl: word(4),
        expiration: word(8),
        inception: word(12),
        key_tag: u16::from_be_bytes([fixed[16], fixed[17]]),
        signer,
    };
    Some((fields, signature))
}
