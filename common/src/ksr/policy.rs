//! What `ksr-sign` accepts from the online side (the ceremony
//! checks): every key in every bundle a ZSK of an allowed algorithm and
//! size that a KSK of its algorithm can vouch for, slots strictly
//! increasing and never longer than the policy allows, and each ZSK in
//! one contiguous run of bundles (a key that comes back after leaving is
//! a request nobody's rollover makes). A refusal names the bundle's time.

use super::format::Bundle;
use crate::algorithm::Algorithm;
use crate::dnskey::DnsKey;
use crate::ds::DigestType;
use crate::error::{Error, Result};
use crate::keys::PublicKey;
use crate::record::RType;

/// The policy's knobs (ksr-sign's options; defaults as BIND 9.20's
/// `dnssec-policy "default"` where it has one).
#[derive(Clone, Debug)]
pub struct Policy {
    /// ZSK algorithms accepted (`--algorithms`).
    pub algorithms: Vec<Algorithm>,
    /// Smallest RSA modulus accepted (`--min-rsa-bits`, default 2048).
    pub min_rsa_bits: usize,
    /// Validity of the DNSKEY, CDS and CDNSKEY signatures (`--validity`,
    /// BIND's signatures-validity-dnskey, 14 days).
    pub validity: i64,
    /// How long before expiry the next response bundle starts
    /// (`--refresh`, BIND's signatures-refresh, 5 days).
    pub refresh: i64,
    /// The longest slot accepted (`--max-slot`, default 90 days).
    pub max_slot: i64,
    /// CDS digest types (`--cds-digest`, default SHA-256).
    pub cds_digests: Vec<DigestType>,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            algorithms: vec![
                Algorithm::RsaSha256,
                Algorithm::RsaSha512,
                Algorithm::EcdsaP256Sha256,
                Algorithm::EcdsaP384Sha384,
                Algorithm::Ed25519,
                Algorithm::Ed448,
            ],
            min_rsa_bits: 2048,
            validity: 14 * 86400,
            refresh: 5 * 86400,
            max_slot: 90 * 86400,
            cds_digests: vec![DigestType::Sha256],
        }
    }
}

impl Policy {
    /// The interval between response bundles within one slot.
    pub fn interval(&self) -> i64 {
        self.validity - self.refresh
    }

    /// Refresh must leave a positive interval, or the bundles never end.
    pub fn check(&self) -> Result<()> {
        if self.validity <= 0 || self.refresh <= 0 || self.refresh >= self.validity {
            return Err(Error::usage(format!(
                "--refresh ({} s) must be positive and shorter than --validity ({} s)",
                self.refresh, self.validity
            )));
        }
        Ok(())
    }
}

/// The longest DNSKEY TTL a request may ask for (two days).
pub const MAX_DNSKEY_TTL: u32 = 172_800;

/// The size BIND counts (RSA: modulus bits).
fn bits(key: &PublicKey, dnskey: &DnsKey) -> usize {
    match key {
        PublicKey::Rsa { modulus, .. } => {
            let leading = modulus.first().map_or(0, |b| b.leading_zeros() as usize);
            modulus.len() * 8 - leading
        }
        _ => dnskey.public_key.len() * 8,
    }
}

/// Checks a request against `policy`, for KSKs of `ksk_algorithms` and a
/// period ending at `end`. `file` names the request in messages.
pub fn check_request(
    bundles: &[Bundle],
    ksk_algorithms: &[u8],
    end: i64,
    policy: &Policy,
    file: &str,
) -> Result<()> {
    let refuse = |bundle: &Bundle, line: usize, why: String| Error::Input {
        file: file.to_string(),
        line: Some(line),
        message: format!(
            "bundle {}: {why}; nothing was signed",
            crate::time::format_timestamp(bundle.time)
        ),
    };
    let days = |s: i64| format!("{}d{}h", s / 86400, s % 86400 / 3600);
    for (index, bundle) in bundles.iter().enumerate() {
        if let Some(previous) = index.checked_sub(1).map(|i| &bundles[i]) {
            if bundle.time <= previous.time {
                return Err(refuse(
                    bundle,
                    bundle.line,
                    format!(
                        "not after the previous bundle ({}): slots overlap or are out of order",
                        crate::time::format_timestamp(previous.time)
                    ),
                ));
            }
            let slot = bundle.time - previous.time;
            if slot > policy.max_slot {
                return Err(refuse(
                    bundle,
                    bundle.line,
                    format!(
                        "starts {} after the previous bundle, a gap longer than the policy's slot of {} (--max-slot)",
                        days(slot),
                        days(policy.max_slot)
                    ),
                ));
            }
        }
        if bundle.time > end {
            return Err(refuse(
                bundle,
                bundle.line,
                format!(
                    "after the end of the period ({}, -e)",
                    crate::time::format_timestamp(end)
                ),
            ));
        }
        if index + 1 == bundles.len() && end - bundle.time > policy.max_slot {
            return Err(refuse(
                bundle,
                bundle.line,
                format!(
                    "the last slot runs {} to the end (-e), longer than the policy's slot of {} (--max-slot)",
                    days(end - bundle.time),
                    days(policy.max_slot)
                ),
            ));
        }
        if bundle.records.is_empty() {
            return Err(refuse(bundle, bundle.line, "it holds no ZSK".into()));
        }
        let mut seen: Vec<&[u8]> = Vec::new();
        for record in &bundle.records {
            // The response's records take the request's TTL: one the
            // online side cannot stretch past what caches should hold.
            let first_ttl = bundles[0].records.first().map_or(record.ttl, |r| r.ttl);
            if record.ttl != first_ttl || record.ttl == 0 || record.ttl > MAX_DNSKEY_TTL {
                return Err(refuse(
                    bundle,
                    record.line,
                    format!(
                        "TTL {}: a request's DNSKEY TTL is one value from 1 to {MAX_DNSKEY_TTL} ({first_ttl} first)",
                        record.ttl
                    ),
                ));
            }
            if record.rdata.len() < 5 {
                return Err(refuse(bundle, record.line, "a DNSKEY without a key".into()));
            }
            let key = DnsKey {
                flags: u16::from_be_bytes([record.rdata[0], record.rdata[1]]),
                protocol: record.rdata[2],
                algorithm: record.rdata[3],
                public_key: record.rdata[4..].to_vec(),
            };
            let tag = key.key_tag();
            let line = record.line;
            if record.rtype != RType::DNSKEY || key.flags != 256 || key.protocol != 3 {
                return Err(refuse(
                    bundle,
                    line,
                    format!(
                        "key {tag} has flags {} protocol {}: a request holds ZSKs only (256, protocol 3)",
                        key.flags, key.protocol
                    ),
                ));
            }
            let algorithm = key
                .algorithm()
                .filter(|a| policy.algorithms.contains(a))
                .ok_or_else(|| {
                    refuse(
                        bundle,
                        line,
                        format!(
                            "ZSK {tag} uses algorithm {}, which the policy does not allow (--algorithms {})",
                            key.algorithm()
                                .map_or_else(|| key.algorithm.to_string(), |a| a.to_string()),
                            policy
                                .algorithms
                                .iter()
                                .map(|a| a.mnemonic())
                                .collect::<Vec<_>>()
                                .join(",")
                        ),
                    )
                })?;
            let public = key
                .to_public_key()
                .map_err(|e| refuse(bundle, line, format!("ZSK {tag}: {e}")))?;
            crate::dnskey::check_key_fits(&public, algorithm)
                .map_err(|e| refuse(bundle, line, format!("ZSK {tag}: {e}")))?;
            if matches!(public, PublicKey::Rsa { .. }) && bits(&public, &key) < policy.min_rsa_bits
            {
                return Err(refuse(
                    bundle,
                    line,
                    format!(
                        "ZSK {tag} has {} bits, fewer than the policy's {} (--min-rsa-bits)",
                        bits(&public, &key),
                        policy.min_rsa_bits
                    ),
                ));
            }
            if !ksk_algorithms.contains(&key.algorithm) {
                return Err(refuse(
                    bundle,
                    line,
                    format!(
                        "ZSK {tag} uses {algorithm}, and no KSK of that algorithm signs (RFC 4035 §2.2)"
                    ),
                ));
            }
            if seen.contains(&record.rdata.as_slice()) {
                return Err(refuse(bundle, line, format!("ZSK {tag} is listed twice")));
            }
            seen.push(&record.rdata);
        }
    }
    // Each ZSK in one contiguous run of bundles.
    for (index, bundle) in bundles.iter().enumerate() {
        for record in &bundle.records {
            let holds = |b: &Bundle| b.records.iter().any(|r| r.rdata == record.rdata);
            let first = bundles.iter().position(holds).unwrap_or(index);
            if first >= index {
                continue;
            }
            if let Some(gap) = bundles[first..index].iter().find(|b| !holds(b)) {
                return Err(refuse(
                    gap,
                    gap.line,
                    format!(
                        "ZSK {} is missing, but is in the bundles before and after ({} and {}): each ZSK must appear in one contiguous run of bundles",
                        super::format::tag(&record.rdata),
                        crate::time::format_timestamp(bundles[first].time),
                        crate::time::format_timestamp(bundle.time)
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ksr::format::Record;

    const KEY: [&str; 2] = [
        "qqkPLhDb1zWQC0O+nw2sIfL/rw6yMQ9Cquh/YjldsODipPDbFS7pMU0MSWGkr5RqppBnjjtLP3fbc4oYyyuRZA==",
        "sn2NprnPfPzAUeMOY6fOhj9RNVQ9BX+jR0fQu+24HlzS3xqVCaxc7bIkbx2zRFMEJDcd0q9yTCV/FvFO1D2aIA==",
    ];

    fn bundle(time: i64, keys: &[usize]) -> Bundle {
        Bundle {
            time,
            line: time as usize,
            records: keys
                .iter()
                .map(|&k| Record {
                    ttl: 3600,
                    rtype: RType::DNSKEY,
                    rdata: DnsKey::parse_rdata(&["256", "3", "13", KEY[k]])
                        .expect("key")
                        .rdata(),
                    line: time as usize,
                })
                .collect(),
        }
    }

    fn check(bundles: &[Bundle], end: i64) -> Result<()> {
        check_request(bundles, &[13], end, &Policy::default(), "ksr")
    }

    #[test]
    fn slots_in_order_without_gaps_and_each_zsk_in_one_run() {
        let day = 86400;
        let good = [
            bundle(0, &[0]),
            bundle(30 * day, &[0, 1]),
            bundle(40 * day, &[1]),
        ];
        check(&good, 90 * day).expect("a rollover");
        for (bundles, end, why) in [
            (vec![bundle(0, &[0]), bundle(0, &[0])], day, "overlap"),
            (
                vec![bundle(day, &[0]), bundle(0, &[0])],
                day,
                "out of order",
            ),
            (
                vec![bundle(0, &[0]), bundle(91 * day, &[0])],
                92 * day,
                "a gap longer",
            ),
            (vec![bundle(0, &[0])], 91 * day, "the last slot runs"),
            (
                vec![bundle(0, &[0]), bundle(day, &[1]), bundle(2 * day, &[0])],
                3 * day,
                "one contiguous run",
            ),
            (
                vec![bundle(0, &[0]), bundle(2 * day, &[0])],
                day,
                "after the end",
            ),
            (vec![bundle(0, &[])], day, "no ZSK"),
            (
                vec![Bundle {
                    records: vec![Record {
                        ttl: 0,
                        ..bundle(0, &[0]).records[0].clone()
                    }],
                    ..bundle(0, &[0])
                }],
                day,
                "TTL 0",
            ),
        ] {
            let error = check(&bundles, end).expect_err(why);
            assert!(error.to_string().contains(why), "{why}: {error}");
            assert!(error.to_string().contains("nothing was signed"), "{error}");
        }
        let error = check_request(&good, &[8], 90 * day, &Policy::default(), "ksr")
            .expect_err("no KSK of the ZSKs' algorithm");
        assert!(
            error.to_string().contains("no KSK of that algorithm"),
            "{error}"
        );
    }
}
