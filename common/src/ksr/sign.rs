//! The response to a request, as BIND 9.20's `dnssec-ksr sign` builds it
//! (bind-lifecycle.md §6.2): for each request bundle, response bundles at
//! its time and then every validity − refresh (sooner at a KSK timing
//! event) until the next request bundle; each holds the DNSKEY RRset (the
//! KSKs published then, then the request's ZSKs), the CDNSKEY and CDS of
//! the KSKs in their sync window, and the RRSIGs over each by every
//! active KSK, inception one hour before the bundle (clock skew), TTL the
//! request's. Every signature is verified in software before it is kept.
//!
//! A slot with no active KSK is refused (BIND writes it unsigned, which
//! the signer would publish as a bogus zone).

use super::format::{Bundle, Record};
use super::policy::Policy;
use super::request::{active_at, published_at};
use crate::dnskey::DnsKey;
use crate::error::{Error, Result};
use crate::keyfile::KeyTiming;
use crate::name::Name;
use crate::record::{Class, RType};
use crate::sign::rrsig::{labels, signed_data, RrsigFields};
use crate::sign::verify::Verifier;
use crate::zone::model::RrSet;
use crate::zone::rdatas::Rdatas;

/// A KSK of the ceremony: its DNSKEY, timing and verifier; `index` is its
/// key number in the signer.
pub struct Ksk {
    pub dnskey: DnsKey,
    pub timing: KeyTiming,
    pub index: usize,
    pub verifier: Verifier,
}

/// Makes a signature with a KSK's key number (the token, in ksr-sign).
pub type SignFn<'a> = dyn FnMut(usize, &[u8]) -> Result<Vec<u8>> + 'a;

/// More response bundles than this is a mistake (10 years of 9-day slots
/// are 400).
const MAX_BUNDLES: usize = 100_000;

/// Signature inception this long before the bundle (BIND's one hour).
const INCEPTION_SKEW: i64 = 3600;

/// The response bundles for `request` up to `end`, and the indexes where
/// each new request bundle's group starts (after the first). `sign` makes
/// a signature with a KSK's key number.
pub fn respond(
    request: &[Bundle],
    ksks: &[Ksk],
    end: i64,
    origin: &Name,
    policy: &Policy,
    sign: &mut SignFn<'_>,
) -> Result<(Vec<Bundle>, Vec<usize>)> {
    policy.check()?;
    let mut out = Vec::new();
    let mut breaks = Vec::new();
    for (index, slot) in request.iter().enumerate() {
        let until = request.get(index + 1).map_or(end, |next| next.time);
        if index > 0 {
            breaks.push(out.len());
        }
        let mut t = slot.time;
        loop {
            out.push(bundle_at(t, slot, ksks, origin, policy, sign)?);
            if out.len() > MAX_BUNDLES {
                return Err(Error::Failed(format!(
                    "more than {MAX_BUNDLES} response bundles: check --validity and --refresh"
                )));
            }
            let mut next = t + policy.interval();
            if let Some(event) = ksks
                .iter()
                .flat_map(|k| events(&k.timing))
                .filter(|&e| e > t && e < next)
                .min()
            {
                next = event;
            }
            if next >= until {
                break;
            }
            t = next;
        }
    }
    Ok((out, breaks))
}

fn events(timing: &KeyTiming) -> impl Iterator<Item = i64> {
    [
        timing.publish,
        timing.activate,
        timing.inactive,
        timing.delete,
        timing.sync_publish,
        timing.sync_delete,
    ]
    .into_iter()
    .flatten()
}

fn in_sync_window(timing: &KeyTiming, t: i64) -> bool {
    let passed = |time: Option<i64>| time.is_some_and(|time| time <= t);
    passed(timing.sync_publish) && !passed(timing.sync_delete)
}

fn bundle_at(
    t: i64,
    slot: &Bundle,
    ksks: &[Ksk],
    origin: &Name,
    policy: &Policy,
    sign: &mut SignFn<'_>,
) -> Result<Bundle> {
    let shown = crate::time::format_timestamp(t);
    let ttl = slot.records.first().map_or(3600, |r| r.ttl);
    let published: Vec<&Ksk> = ksks.iter().filter(|k| published_at(&k.timing, t)).collect();
    let signers: Vec<&Ksk> = published
        .iter()
        .copied()
        .filter(|k| active_at(&k.timing, t) || k.dnskey.is_revoked())
        .collect();
    if signers.is_empty() {
        return Err(Error::Failed(format!(
            "bundle {shown}: no KSK is active then (key-settime -A sets it); nothing was signed"
        )));
    }
    let syncing: Vec<&Ksk> = published
        .iter()
        .copied()
        .filter(|k| !k.dnskey.is_revoked() && in_sync_window(&k.timing, t))
        .collect();
    let mut dnskeys: Vec<Vec<u8>> = published.iter().map(|k| k.dnskey.rdata()).collect();
    dnskeys.extend(slot.rdatas(RType::DNSKEY).map(<[u8]>::to_vec));
    let cdnskeys: Vec<Vec<u8>> = syncing.iter().map(|k| k.dnskey.rdata()).collect();
    let mut cds = Vec::new();
    for key in &syncing {
        for &digest in &policy.cds_digests {
            cds.push(crate::sign::cds::cds_rdata(origin, &key.dnskey, digest));
        }
    }
    let inception = u32::try_from(t - INCEPTION_SKEW).ok();
    let expiration = u32::try_from(t + policy.validity).ok();
    let (Some(inception), Some(expiration)) = (inception, expiration) else {
        return Err(Error::Failed(format!(
            "bundle {shown}: its signature times do not fit an RRSIG"
        )));
    };
    let mut records = Vec::new();
    for (rtype, rdatas) in [
        (RType::DNSKEY, dnskeys),
        (RType::CDNSKEY, cdnskeys),
        (RType::CDS, cds),
    ] {
        if rdatas.is_empty() {
            continue;
        }
        let mut set = Rdatas::new();
        for rdata in &rdatas {
            set.push(rdata);
            records.push(Record {
                ttl,
                rtype,
                rdata: rdata.clone(),
                line: 0,
            });
        }
        let rrset = RrSet {
            rtype,
            ttl,
            rdatas: set,
        };
        for ksk in &signers {
            let fields = RrsigFields {
                type_covered: rtype,
                algorithm: ksk.dnskey.algorithm,
                labels: labels(origin),
                original_ttl: ttl,
                expiration,
                inception,
                key_tag: ksk.dnskey.key_tag(),
                signer: origin.clone(),
            };
            let data = signed_data(&fields, origin, Class::IN, &rrset);
            let signature = sign(ksk.index, &data)?;
            if !ksk.verifier.verify(&data, &signature) {
                return Err(Error::Failed(format!(
                    "bundle {shown}: the token's signature by KSK {} over {origin}/{rtype} does not verify; nothing was written",
                    ksk.dnskey.key_tag()
                )));
            }
            records.push(Record {
                ttl,
                rtype: RType::RRSIG,
                rdata: fields.rdata(&signature),
                line: 0,
            });
        }
    }
    Ok(Bundle {
        time: t,
        line: 0,
        records,
    })
}
