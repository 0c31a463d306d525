//! The coverage check of BIND 9.16's `dnssec-coverage` (bind-lifecycle.md
//! §5.4), on key timing alone: over a window, per zone, role and
//! algorithm, some key must be both active and published at every
//! moment; a key must not be deleted before a successor's DNSKEY has
//! propagated (Dprp + TTLkey); a ZSK must stay published until its last
//! signatures have expired from caches (Delete − Inactive ≥ TTLsig +
//! Dsgn), a KSK until its DNSKEY RRset signature has (≥ TTLkey).

use crate::keyfile::KeyTiming;
use crate::time::format_timestamp;

/// A key as the check sees it.
#[derive(Clone, Debug)]
pub struct CoverageKey {
    /// `zone/ALGORITHM/tag`, for messages.
    pub name: String,
    pub ksk: bool,
    pub algorithm: u8,
    pub timing: KeyTiming,
}

/// What the check needs besides the keys.
#[derive(Clone, Copy, Debug)]
pub struct CoverageParams {
    /// TTLkey.
    pub keyttl: i64,
    /// TTLsig.
    pub max_zone_ttl: i64,
    /// Dsgn.
    pub signing_delay: i64,
    /// Dprp.
    pub propagation: i64,
    /// Start and end of the window.
    pub from: i64,
    pub until: i64,
    /// `-k`: KSKs only; `-z`: ZSKs only.
    pub ksk: bool,
    pub zsk: bool,
}

fn published(t: &KeyTiming, at: i64) -> bool {
    let start = t.publish.or(t.activate);
    start.is_some_and(|p| p <= at) && t.delete.is_none_or(|d| d > at)
}

fn active(t: &KeyTiming, at: i64) -> bool {
    t.activate.is_some_and(|a| a <= at) && t.inactive.is_none_or(|i| i > at)
}

fn role(ksk: bool) -> &'static str {
    if ksk {
        "KSK"
    } else {
        "ZSK"
    }
}

/// The gaps, one line each (none: the schedule covers the window).
/// `zone` names the zone in the lines.
pub fn check(zone: &str, keys: &[CoverageKey], params: &CoverageParams) -> Vec<String> {
    let mut gaps = Vec::new();
    let mut algorithms: Vec<u8> = keys.iter().map(|k| k.algorithm).collect();
    algorithms.sort_unstable();
    algorithms.dedup();
    let ipub = params.propagation + params.keyttl;
    for algorithm in algorithms {
        let name = crate::algorithm::Algorithm::from_number(algorithm)
            .map_or_else(|| algorithm.to_string(), |a| a.mnemonic().to_string());
        for ksk in [true, false] {
            if (ksk && params.zsk) || (!ksk && params.ksk) {
                continue;
            }
            let these: Vec<&CoverageKey> = keys
                .iter()
                .filter(|k| k.algorithm == algorithm && k.ksk == ksk)
                .collect();
            // Every moment at which a key's state changes, and the start.
            let mut moments = vec![params.from];
            for key in &these {
                let t = &key.timing;
                for time in [t.publish, t.activate, t.inactive, t.delete]
                    .into_iter()
                    .flatten()
                {
                    if time > params.from && time <= params.until {
                        moments.push(time);
                    }
                }
            }
            moments.sort_unstable();
            moments.dedup();
            let mut in_gap = false;
            for &at in &moments {
                let covered = these
                    .iter()
                    .any(|k| active(&k.timing, at) && published(&k.timing, at));
                if !covered && !in_gap {
                    gaps.push(format!(
                        "{zone}/{name}: no {} is both active and published from {} UTC",
                        role(ksk),
                        format_timestamp(at)
                    ));
                }
                in_gap = !covered;
            }
            for key in &these {
                let t = &key.timing;
                // Deleted before a successor's DNSKEY has propagated.
                if let Some(delete) = t.delete.filter(|&d| d > params.from && d <= params.until) {
                    let successor_ready = these.iter().any(|other| {
                        !std::ptr::eq(*other, *key)
                            && active(&other.timing, delete)
                            && other
                                .timing
                                .publish
                                .or(other.timing.activate)
                                .is_some_and(|p| p + ipub <= delete)
                    });
                    if !successor_ready {
                        gaps.push(format!(
                            "{}: {} deleted at {} UTC before a successor's DNSKEY has \
                             propagated (Dprp + TTLkey = {ipub}s)",
                            key.name,
                            role(ksk),
                            format_timestamp(delete)
                        ));
                    }
                }
                // A ZSK activated before its DNSKEY can be in caches,
                // while another key signed before it.
                if !ksk {
                    if let (Some(publish), Some(activate)) = (t.publish, t.activate) {
                        let first = !these.iter().any(|other| {
                            !std::ptr::eq(*other, *key)
                                && other.timing.activate.is_some_and(|a| a < activate)
                        });
                        if activate > params.from
                            && activate <= params.until
                            && activate - publish < ipub
                            && !first
                        {
                            gaps.push(format!(
                                "{}: ZSK activated at {} UTC, {}s after its publication: its \
                                 DNSKEY is not yet in caches (Dprp + TTLkey = {ipub}s)",
                                key.name,
                                format_timestamp(activate),
                                activate - publish
                            ));
                        }
                    }
                }
                // Signatures outliving the key.
                if let (Some(inactive), Some(delete)) = (t.inactive, t.delete) {
                    let needed = if ksk {
                        params.keyttl
                    } else {
                        params.max_zone_ttl + params.signing_delay
                    };
                    if delete > params.from && delete - inactive < needed {
                        gaps.push(format!(
                            "{}: {} deleted {}s after it became inactive, before its \
                             signatures expire from caches ({} needs {needed}s)",
                            key.name,
                            role(ksk),
                            delete - inactive,
                            if ksk { "TTLkey" } else { "TTLsig + Dsgn" }
                        ));
                    }
                }
            }
        }
    }
    gaps
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    fn key(tag: u16, ksk: bool, p: i64, a: i64, i: Option<i64>, d: Option<i64>) -> CoverageKey {
        CoverageKey {
            name: format!("ex/ECDSAP256SHA256/{tag}"),
            ksk,
            algorithm: 13,
            timing: KeyTiming {
                publish: Some(p),
                activate: Some(a),
                inactive: i,
                delete: d,
                ..KeyTiming::default()
            },
        }
    }

    fn params() -> CoverageParams {
        CoverageParams {
            keyttl: 3600,
            max_zone_ttl: 3600,
            signing_delay: 3600,
            propagation: 300,
            from: 0,
            until: 100 * DAY,
            ksk: false,
            zsk: false,
        }
    }

    #[test]
    fn a_clean_rollover_has_no_gaps() {
        let keys = [
            key(1, true, 0, 0, None, None),
            key(2, false, 0, 0, Some(30 * DAY), Some(37 * DAY)),
            key(3, false, 23 * DAY, 30 * DAY, None, None),
        ];
        assert_eq!(check("ex", &keys, &params()), Vec::<String>::new());
    }

    #[test]
    fn an_early_inactive_is_a_gap() {
        let keys = [
            key(1, true, 0, 0, None, None),
            key(2, false, 0, 0, Some(20 * DAY), Some(37 * DAY)),
            key(3, false, 23 * DAY, 30 * DAY, None, None),
        ];
        let gaps = check("ex", &keys, &params());
        assert_eq!(gaps.len(), 1, "{gaps:?}");
        assert!(
            gaps[0].starts_with("ex/ECDSAP256SHA256: no ZSK is both active and published from ")
        );
        let keys = [
            key(1, true, 0, 0, None, None),
            key(2, false, 0, 0, Some(30 * DAY), Some(30 * DAY + 60)),
            key(3, false, 30 * DAY - 60, 30 * DAY, None, None),
        ];
        let gaps = check("ex", &keys, &params());
        assert_eq!(gaps.len(), 3, "{gaps:?}");
    }
}
