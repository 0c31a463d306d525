//! Authenticated denial of existence: the NSEC chain (RFC 4034 §4,
//! RFC 4035 §2.3) or the NSEC3 chain (RFC 5155 §7.1, RFC 9276).

use super::NodeKind;
use crate::error::{Error, Result};
use crate::name::Name;
use crate::rdata::type_bitmap;
use crate::record::RType;
use crate::zone::model::{Node, RrSet, Zone};
use sha1::Digest;
use std::collections::HashSet;

use super::Denial;

/// The denial records of a zone.
pub struct Chain {
    /// The NSEC RRset of each node (by node index), for NSEC zones.
    nsec: Vec<Option<RrSet>>,
    /// NSEC3 records by hash order: (owner, RRset).
    nsec3: Vec<(Name, RrSet)>,
}

impl Chain {
    /// The NSEC RRset of node `index`.
    pub fn nsec_for(&self, index: usize) -> Option<&RrSet> {
        self.nsec.get(index).and_then(Option::as_ref)
    }

    /// The NSEC3 records, in hash order.
    pub fn nsec3_records(&self) -> impl Iterator<Item = (&Name, &RrSet)> {
        self.nsec3.iter().map(|(owner, set)| (owner, set))
    }
}

/// The types an NSEC or NSEC3 bitmap lists for a node of this kind
/// (without RRSIG/NSEC, which the caller adds where they exist).
fn node_types(node: &Node, kind: NodeKind) -> Vec<RType> {
    match kind {
        // At a cut only the parent's authoritative data counts (RFC 4035 §2.3).
        NodeKind::Delegation { .. } => node
            .rrsets
            .iter()
            .map(|s| s.rtype)
            .filter(|t| matches!(*t, RType::NS | RType::DS))
            .collect(),
        _ => node.rrsets.iter().map(|s| s.rtype).collect(),
    }
}

/// Builds the chain for the zone's nodes.
pub fn build(zone: &Zone, kinds: &[NodeKind], denial: &Denial, ttl: u32) -> Result<Chain> {
    match denial {
        Denial::Nsec => Ok(Chain {
            nsec: build_nsec(zone, kinds, ttl),
            nsec3: Vec::new(),
        }),
        Denial::Nsec3 {
            salt,
            iterations,
            opt_out,
        } => Ok(Chain {
            nsec: vec![None; zone.nodes.len()],
            nsec3: build_nsec3(zone, kinds, salt, *iterations, *opt_out, ttl)?,
        }),
    }
}

fn build_nsec(zone: &Zone, kinds: &[NodeKind], ttl: u32) -> Vec<Option<RrSet>> {
    let in_chain: Vec<usize> = (0..zone.nodes.len())
        .filter(|&i| kinds[i] != NodeKind::Occluded)
        .collect();
    let mut out = vec![None; zone.nodes.len()];
    for (position, &index) in in_chain.iter().enumerate() {
        let next = &zone.nodes[in_chain[(position + 1) % in_chain.len()]].owner;
        let mut types = node_types(&zone.nodes[index], kinds[index]);
        types.push(RType::RRSIG);
        types.push(RType::NSEC);
        let mut rdata = next.wire().to_vec();
        rdata.extend_from_slice(&type_bitmap(&types));
        out[index] = Some(RrSet {
            rtype: RType::NSEC,
            ttl,
            rdatas: vec![rdata],
        });
    }
    out
}

/// The NSEC3 hash of a name (RFC 5155 §5): SHA-1 of the canonical name
/// and salt, then `iterations` more times of the digest and salt.
pub fn nsec3_hash(name: &Name, salt: &[u8], iterations: u16) -> [u8; 20] {
    let mut hasher = sha1::Sha1::new();
    hasher.update(name.canonical_wire());
    hasher.update(salt);
    let mut digest: [u8; 20] = hasher.finalize().into();
    for _ in 0..iterations {
        let mut hasher = sha1::Sha1::new();
        hasher.update(digest);
        hasher.update(salt);
        digest = hasher.finalize().into();
    }
    digest
}

fn build_nsec3(
    zone: &Zone,
    kinds: &[NodeKind],
    salt: &[u8],
    iterations: u16,
    opt_out: bool,
    ttl: u32,
) -> Result<Vec<(Name, RrSet)>> {
    // (name, bitmap types) of every name that gets an NSEC3.
    let mut entries: Vec<(Name, Vec<RType>)> = Vec::new();
    let existing: HashSet<Name> = zone.nodes.iter().map(|n| n.owner.to_lowercase()).collect();
    let mut empty_non_terminals: HashSet<Name> = HashSet::new();
    for (index, node) in zone.nodes.iter().enumerate() {
        let kind = kinds[index];
        let mut types = match kind {
            NodeKind::Occluded => continue,
            NodeKind::Delegation { secure: false } if opt_out => continue,
            _ => node_types(node, kind),
        };
        let signed = !matches!(kind, NodeKind::Delegation { secure: false });
        if signed {
            types.push(RType::RRSIG);
        }
        entries.push((node.owner.clone(), types));
        // Empty non-terminals between this name and the apex.
        let mut ancestor = node.owner.parent();
        while let Some(name) = ancestor {
            if !name.is_subdomain_of(&zone.origin) || name.eq_ignore_case(&zone.origin) {
                break;
            }
            let lower = name.to_lowercase();
            if existing.contains(&lower) || !empty_non_terminals.insert(lower) {
                break;
            }
            ancestor = name.parent();
        }
    }
    for name in empty_non_terminals {
        entries.push((name, Vec::new()));
    }
    let mut hashed: Vec<([u8; 20], Vec<RType>, Name)> = entries
        .into_iter()
        .map(|(name, types)| (nsec3_hash(&name, salt, iterations), types, name))
        .collect();
    hashed.sort_by_key(|a| a.0);
    for pair in hashed.windows(2) {
        if pair[0].0 == pair[1].0 {
            return Err(Error::Failed(format!(
                "NSEC3 hash collision between '{}' and '{}': choose another salt (-3)",
                pair[0].2, pair[1].2
            )));
        }
    }
    let mut out = Vec::with_capacity(hashed.len());
    for (position, (hash, types, _)) in hashed.iter().enumerate() {
        let next = &hashed[(position + 1) % hashed.len()].0;
        let label = data_encoding::BASE32HEX_NOPAD.encode(hash);
        let owner = Name::parse(&label, Some(&zone.origin))
            .map_err(|e| Error::Failed(format!("NSEC3 owner name for '{}': {e}", zone.origin)))?;
        let mut rdata = vec![1, u8::from(opt_out)];
        rdata.extend_from_slice(&iterations.to_be_bytes());
        rdata.push(salt.len() as u8);
        rdata.extend_from_slice(salt);
        rdata.push(20);
        rdata.extend_from_slice(next);
        rdata.extend_from_slice(&type_bitmap(types));
        out.push((
            owner,
            RrSet {
                rtype: RType::NSEC3,
                ttl,
                rdatas: vec![rdata],
            },
        ));
    }
    Ok(out)
}
