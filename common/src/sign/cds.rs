//! CDS and CDNSKEY at the apex (RFC 7344, RFC 8078): the child's word to
//! its parent about the DS it wants. As BIND 9.16's signzone, a key's
//! records are added between its SyncPublish and SyncDelete times and
//! removed after SyncDelete; records already in the zone stay otherwise.
//! Only KSKs (SEP flag, not revoked) get them: a parent that takes a DS
//! for a ZSK or a revoked key from a CDS would break the chain.

use super::SigningKey;
use crate::dnskey::DnsKey;
use crate::ds::DigestType;
use crate::error::Result;
use crate::name::Name;
use crate::record::RType;
use crate::zone::model::{RrSet, Zone};
use crate::zone::rdatas::Rdatas;

/// What to publish as CDS and CDNSKEY.
#[derive(Clone, Debug)]
pub struct SyncOptions {
    /// CDS digest types (`--cds-digest`; SHA-256 by default, as BIND).
    pub digests: Vec<DigestType>,
    /// Publish RFC 8078 §4's delete form instead (`--cds-delete`).
    pub delete: bool,
    /// Keys whose CDS and CDNSKEY go (past SyncDelete or Delete).
    pub withdraw: Vec<DnsKey>,
}

impl Default for SyncOptions {
    fn default() -> SyncOptions {
        SyncOptions {
            digests: vec![DigestType::Sha256],
            delete: false,
            withdraw: Vec::new(),
        }
    }
}

/// The CDS RDATA for `key`: like a DS (RFC 7344 §3.1).
pub fn cds_rdata(owner: &Name, key: &DnsKey, digest: DigestType) -> Vec<u8> {
    let mut rdata = key.key_tag().to_be_bytes().to_vec();
    rdata.push(key.algorithm);
    rdata.push(digest.number());
    rdata.extend_from_slice(&digest.digest(owner, key));
    rdata
}

/// RFC 8078 §4: `CDS 0 0 0 00`.
const CDS_DELETE: [u8; 5] = [0, 0, 0, 0, 0];
/// RFC 8078 §4: `CDNSKEY 0 3 0 AA==`.
const CDNSKEY_DELETE: [u8; 5] = [0, 0, 3, 0, 0];

/// Sets the apex CDS and CDNSKEY RRsets. Called after the DNSKEYs are
/// published: the records take the DNSKEY RRset's TTL (BIND 9.16).
pub(super) fn publish_sync(
    zone: &mut Zone,
    keys: &[SigningKey],
    options: &SyncOptions,
) -> Result<()> {
    let (soa_ttl, _, _) = zone.soa()?;
    let origin = zone.origin.clone();
    let apex = &mut zone.nodes[0];
    let ttl = apex.rrset(RType::DNSKEY).map_or(soa_ttl, |s| s.ttl);
    let existing = |rtype: RType| -> Vec<Vec<u8>> {
        apex.rrset(rtype)
            .map(|s| s.rdatas.iter().map(<[u8]>::to_vec).collect())
            .unwrap_or_default()
    };
    let mut cds = existing(RType::CDS);
    let mut cdnskey = existing(RType::CDNSKEY);
    let all_digests = [DigestType::Sha1, DigestType::Sha256, DigestType::Sha384];
    for key in &options.withdraw {
        cdnskey.retain(|r| *r != key.rdata());
        for digest in all_digests {
            let gone = cds_rdata(&origin, key, digest);
            cds.retain(|r| *r != gone);
        }
    }
    let mut wanted = Vec::new();
    for key in keys.iter().filter(|k| k.cds) {
        if !key.dnskey.is_ksk() || key.dnskey.is_revoked() {
            crate::cli::warn(&format!(
                "key {} is between SyncPublish and SyncDelete but is {}: no CDS/CDNSKEY for it",
                key.description,
                if key.dnskey.is_revoked() {
                    "revoked"
                } else {
                    "not a KSK"
                }
            ));
            continue;
        }
        wanted.push(key);
    }
    if options.delete {
        if !wanted.is_empty() {
            crate::cli::warn(
                "--cds-delete: the zone asks its parent to remove every DS; the keys between SyncPublish and SyncDelete get no CDS/CDNSKEY",
            );
        }
        cds = vec![CDS_DELETE.to_vec()];
        cdnskey = vec![CDNSKEY_DELETE.to_vec()];
    } else {
        // RFC 8078 §4: the delete form never stands beside other records.
        cds.retain(|r| *r != CDS_DELETE);
        cdnskey.retain(|r| *r != CDNSKEY_DELETE);
        for key in wanted {
            cdnskey.push(key.dnskey.rdata());
            for &digest in &options.digests {
                cds.push(cds_rdata(&origin, &key.dnskey, digest));
            }
        }
    }
    for (rtype, mut rdatas) in [(RType::CDS, cds), (RType::CDNSKEY, cdnskey)] {
        rdatas.sort();
        rdatas.dedup();
        let old_ttl = apex.rrset(rtype).map(|s| s.ttl);
        apex.rrsets.retain(|s| s.rtype != rtype);
        if rdatas.is_empty() {
            continue;
        }
        let mut set = Rdatas::new();
        for rdata in &rdatas {
            set.push(rdata);
        }
        apex.rrsets.push(RrSet {
            rtype,
            ttl: old_ttl.unwrap_or(ttl),
            rdatas: set,
        });
    }
    apex.rrsets.sort_by_key(|s| s.rtype);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::ZoneReader;

    fn zone(text: &str) -> Zone {
        let origin = Name::parse("example.com.", None).expect("origin");
        let reader = ZoneReader::new(
            Box::new(std::io::Cursor::new(text.as_bytes().to_vec())),
            "test",
            None,
            origin.clone(),
        );
        Zone::load(reader, &origin).expect("zone").0
    }

    fn key(flags: &str, cds: bool) -> SigningKey {
        let dnskey = DnsKey::parse_rdata(&[
            flags,
            "3",
            "13",
            "sn2NprnPfPzAUeMOY6fOhj9RNVQ9BX+jR0fQu+24HlzS3xqVCaxc7bIkbx2zRFMEJDcd0q9yTCV/FvFO1D2aIA==",
        ])
        .expect("key");
        SigningKey {
            public_key: dnskey.to_public_key().expect("public"),
            algorithm: crate::algorithm::Algorithm::EcdsaP256Sha256,
            ksk: dnskey.is_ksk(),
            active: true,
            publish: true,
            key_file_ttl: None,
            cds,
            description: "example.com/ECDSAP256SHA256/1".into(),
            dnskey,
        }
    }

    fn rdatas(zone: &Zone, rtype: RType) -> Vec<Vec<u8>> {
        zone.nodes[0]
            .rrset(rtype)
            .map(|s| s.rdatas.iter().map(<[u8]>::to_vec).collect())
            .unwrap_or_default()
    }

    const ZONE: &str = "$TTL 3600\n@ SOA ns hm 1 2 3 4 300\n@ NS ns\n@ 600 DNSKEY 257 3 13 sn2NprnPfPzAUeMOY6fOhj9RNVQ9BX+jR0fQu+24HlzS3xqVCaxc7bIkbx2zRFMEJDcd0q9yTCV/FvFO1D2aIA==\nns A 192.0.2.1\n";

    #[test]
    fn a_ksk_in_its_sync_window_gets_cds_and_cdnskey_with_the_dnskey_ttl() {
        let mut zone = zone(ZONE);
        let ksk = key("257", true);
        publish_sync(
            &mut zone,
            std::slice::from_ref(&ksk),
            &SyncOptions::default(),
        )
        .expect("sync");
        let origin = zone.origin.clone();
        let cds = rdatas(&zone, RType::CDS);
        assert_eq!(cds, [cds_rdata(&origin, &ksk.dnskey, DigestType::Sha256)]);
        // The same digest as the DS (RFC 7344 §3.1).
        assert!(
            crate::ds::ds_rdata_text(&origin, &ksk.dnskey, DigestType::Sha256)
                .starts_with(&format!("{} 13 2 ", ksk.dnskey.key_tag()))
        );
        assert_eq!(rdatas(&zone, RType::CDNSKEY), [ksk.dnskey.rdata()]);
        assert_eq!(zone.nodes[0].rrset(RType::CDS).map(|s| s.ttl), Some(600));
        // Withdrawn after SyncDelete, whatever the digest.
        let options = SyncOptions {
            withdraw: vec![ksk.dnskey.clone()],
            ..SyncOptions::default()
        };
        publish_sync(&mut zone, &[key("257", false)], &options).expect("sync");
        assert!(rdatas(&zone, RType::CDS).is_empty());
        assert!(rdatas(&zone, RType::CDNSKEY).is_empty());
    }

    #[test]
    fn zsks_get_none_and_the_delete_form_stands_alone() {
        let mut zone = zone(ZONE);
        publish_sync(&mut zone, &[key("256", true)], &SyncOptions::default()).expect("sync");
        assert!(rdatas(&zone, RType::CDS).is_empty());
        let delete = SyncOptions {
            delete: true,
            ..SyncOptions::default()
        };
        publish_sync(&mut zone, &[key("257", true)], &delete).expect("sync");
        assert_eq!(rdatas(&zone, RType::CDS), [CDS_DELETE.to_vec()]);
        assert_eq!(rdatas(&zone, RType::CDNSKEY), [CDNSKEY_DELETE.to_vec()]);
        // Keys in their window again: the delete form goes.
        publish_sync(&mut zone, &[key("257", true)], &SyncOptions::default()).expect("sync");
        assert_eq!(rdatas(&zone, RType::CDS).len(), 1);
        assert_ne!(rdatas(&zone, RType::CDS)[0], CDS_DELETE.to_vec());
    }
}
