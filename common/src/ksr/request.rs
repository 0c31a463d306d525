//! Which ZSKs each time slot of a key signing request holds, as BIND 9.20's
//! `dnssec-ksr request` computes them (bind-lifecycle.md §6.2): a bundle at
//! the start of the period and at every ZSK Publish and Delete time after
//! it, up to the end; each bundle holds the ZSKs published at its time.
//!
//! "Published" is zone-sign `-S`'s rule (keysource::smart), so that the
//! signer, which checks its ZSKs against the bundle, agrees at every
//! instant: a key with no timing at all is published, one without Publish
//! is published while active, one past Delete is not.

use crate::dnskey::DnsKey;
use crate::error::{Error, Result};
use crate::keyfile::KeyTiming;

/// A ZSK and its timing metadata.
#[derive(Clone, Debug)]
pub struct TimedKey {
    pub dnskey: DnsKey,
    pub timing: KeyTiming,
}

/// Is the key's DNSKEY in the zone at `t` (zone-sign `-S`'s rule)?
pub fn published_at(timing: &KeyTiming, t: i64) -> bool {
    if *timing == KeyTiming::default() {
        return true;
    }
    let passed = |time: Option<i64>| time.is_some_and(|time| time <= t);
    if passed(timing.delete) {
        return false;
    }
    passed(timing.publish) || (timing.publish.is_none() && active_at(timing, t))
}

/// Does the key sign at `t` (Activate passed, Inactive not)?
pub fn active_at(timing: &KeyTiming, t: i64) -> bool {
    if *timing == KeyTiming::default() {
        return true;
    }
    let passed = |time: Option<i64>| time.is_some_and(|time| time <= t);
    passed(timing.activate) && !passed(timing.inactive) && !passed(timing.delete)
}

/// The times at which a key's publication can change.
fn events(timing: &KeyTiming) -> impl Iterator<Item = i64> {
    let by_activity = timing.publish.is_none();
    [
        timing.publish,
        timing.delete,
        timing.activate.filter(|_| by_activity),
        timing.inactive.filter(|_| by_activity),
    ]
    .into_iter()
    .flatten()
}

/// The bundles of a request for `[start, end]`: (time, ZSKs sorted by
/// algorithm then key tag). A slot without any ZSK is an error naming it.
pub fn bundles(keys: &[TimedKey], start: i64, end: i64) -> Result<Vec<(i64, Vec<DnsKey>)>> {
    if end < start {
        return Err(Error::usage("the end (-e) is before the start (-i)"));
    }
    let mut out = Vec::new();
    let mut t = start;
    while t <= end {
        let mut published: Vec<DnsKey> = keys
            .iter()
            .filter(|k| published_at(&k.timing, t))
            .map(|k| k.dnskey.clone())
            .collect();
        published.sort_by_key(|k| (k.algorithm, k.key_tag()));
        if published.is_empty() {
            return Err(Error::Failed(format!(
                "no ZSK is published at {} (bundle of {}): set the ZSKs' timing with key-settime",
                crate::time::format_timestamp(t),
                crate::time::format_ctime_local(t)
            )));
        }
        out.push((t, published));
        t = keys
            .iter()
            .flat_map(|k| events(&k.timing))
            .filter(|&e| e > t)
            .min()
            .unwrap_or(end.saturating_add(1));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(tag_seed: u8, publish: i64, delete: Option<i64>) -> TimedKey {
        TimedKey {
            dnskey: DnsKey {
                flags: 256,
                protocol: 3,
                algorithm: 13,
                public_key: vec![tag_seed; 64],
            },
            timing: KeyTiming {
                publish: Some(publish),
                activate: Some(publish),
                delete,
                ..KeyTiming::default()
            },
        }
    }

    #[test]
    fn bundles_at_the_start_and_at_each_publish_and_delete_as_bind() {
        // §6.2's observation: start, Publish(ZSK2), Delete(ZSK1).
        let one = key(1, 0, Some(300));
        let two = key(2, 200, None);
        let got = bundles(&[one.clone(), two.clone()], 100, 1000).expect("bundles");
        let times: Vec<i64> = got.iter().map(|(t, _)| *t).collect();
        assert_eq!(times, [100, 200, 300]);
        assert_eq!(got[0].1, std::slice::from_ref(&one.dnskey));
        assert_eq!(got[1].1.len(), 2);
        assert_eq!(got[2].1, std::slice::from_ref(&two.dnskey));
        // A gap with no ZSK is refused, naming the slot.
        let error = bundles(&[key(1, 0, Some(300))], 100, 1000).expect_err("gap");
        assert!(
            error
                .to_string()
                .contains("no ZSK is published at 19700101000500"),
            "{error}"
        );
    }
}
