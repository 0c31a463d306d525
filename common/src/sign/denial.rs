//! Authenticated denial of existence: the NSEC chain (RFC 4034 §4,
//! RFC 4035 §2.3) or the NSEC3 chain (RFC 5155 §7.1, RFC 9276).

use super::NodeKind;
use crate::error::{Error, Result};
use crate::name::Name;
use crate::rdata::type_bitmap;
use crate::record::RType;
use crate::zone::model::{Node, RrSet, Zone};
use crate::zone::rdatas::Rdatas;
use sha1::Digest;
use std::collections::HashSet;

use super::Denial;

/// The denial records of a zone. They are not stored: an NSEC record
/// follows from its node and the next name in the chain, an NSEC3 record
/// from its node and the next hash, so the chain keeps only the NSEC3
/// hashes in order and makes each record when it is signed or written.
#[derive(Debug)]
pub struct Chain {
    ttl: u32,
    nsec3: Option<Nsec3Chain>,
    /// The next name after the last node, when the zone is signed in
    /// chunks (`chunked`); else the chain wraps to the apex, node 0.
    after: Option<Name>,
}

#[derive(Debug)]
struct Nsec3Chain {
    salt: Vec<u8>,
    iterations: u16,
    opt_out: bool,
    /// (hash, node index or [`EMPTY_NON_TERMINAL`]), in hash order.
    entries: Vec<([u8; 20], u32)>,
    /// Signed in chunks: the entries hold bitmap numbers into this
    /// table, not node numbers, and `next` is the hash after the last.
    bitmaps: Option<std::sync::Arc<Vec<Vec<u8>>>>,
    next: Option<[u8; 20]>,
}

/// The node of an NSEC3 entry that hashes an empty non-terminal.
const EMPTY_NON_TERMINAL: u32 = u32::MAX;

impl Chain {
    /// True if node `index` has an NSEC record.
    pub fn has_nsec(&self, kinds: &[NodeKind], index: usize) -> bool {
        self.nsec3.is_none() && kinds[index] != NodeKind::Occluded
    }

    /// The NSEC RRset of node `index` (see [`Chain::has_nsec`]): the next
    /// name in the chain (back to the apex after the last) and the types.
    pub fn nsec(&self, zone: &Zone, kinds: &[NodeKind], index: usize) -> RrSet {
        let next = (index + 1..zone.nodes.len()).find(|&i| kinds[i] != NodeKind::Occluded);
        let mut types = node_types(&zone.nodes[index], kinds[index]);
        types.push(RType::RRSIG);
        types.push(RType::NSEC);
        let mut rdata = match (next, &self.after) {
            (Some(next), _) => zone.nodes[next].owner.wire().to_vec(),
            (None, Some(after)) => after.wire().to_vec(),
            (None, None) => zone.nodes[0].owner.wire().to_vec(),
        };
        rdata.extend_from_slice(&type_bitmap(&types));
        RrSet {
            rtype: RType::NSEC,
            ttl: self.ttl,
            rdatas: Rdatas::one(&rdata),
        }
    }

    /// How many NSEC3 records there are.
    pub fn nsec3_len(&self) -> usize {
        self.nsec3.as_ref().map_or(0, |c| c.entries.len())
    }

    /// NSEC3 record number `position` in hash order: owner and RRset.
    pub fn nsec3(&self, zone: &Zone, kinds: &[NodeKind], position: usize) -> (Name, RrSet) {
        let chain = self.nsec3.as_ref().expect("an NSEC3 chain");
        let (hash, node) = chain.entries[position];
        let next = match chain.entries.get(position + 1) {
            Some(entry) => entry.0,
            None => chain.next.unwrap_or(chain.entries[0].0),
        };
        let mut types = Vec::new();
        let bitmap = chain.bitmaps.as_ref().map(|b| b[node as usize].as_slice());
        if node != EMPTY_NON_TERMINAL && bitmap.is_none() {
            let kind = kinds[node as usize];
            types = node_types(&zone.nodes[node as usize], kind);
            if kind != (NodeKind::Delegation { secure: false }) {
                types.push(RType::RRSIG);
            }
        }
        let mut rdata = vec![1, u8::from(chain.opt_out)];
        rdata.extend_from_slice(&chain.iterations.to_be_bytes());
        rdata.push(chain.salt.len() as u8);
        rdata.extend_from_slice(&chain.salt);
        rdata.push(20);
        rdata.extend_from_slice(&next);
        match bitmap {
            Some(bitmap) => rdata.extend_from_slice(bitmap),
            None => rdata.extend_from_slice(&type_bitmap(&types)),
        }
        let owner = nsec3_owner(&hash, &zone.origin).expect("checked when the chain was built");
        let rrset = RrSet {
            rtype: RType::NSEC3,
            ttl: self.ttl,
            rdatas: Rdatas::one(&rdata),
        };
        (owner, rrset)
    }
}

impl Chain {
    /// The chain of one chunk of a zone signed in chunks: NSEC records
    /// whose last points to `after`; with NSEC3, none (they are made by
    /// [`Chain::nsec3_window`] once every name's hash is known).
    pub(super) fn chunk(denial: &Denial, ttl: u32, after: Name) -> Chain {
        let nsec3 = match denial {
            Denial::Nsec => None,
            Denial::Nsec3 {
                salt,
                iterations,
                opt_out,
            } => Some(Nsec3Chain {
                salt: salt.clone(),
                iterations: *iterations,
                opt_out: *opt_out,
                entries: Vec::new(),
                bitmaps: None,
                next: None,
            }),
        };
        Chain {
            ttl,
            nsec3,
            after: Some(after),
        }
    }

    /// NSEC3 records `entries` (hash, number of its bitmap in `bitmaps`)
    /// of a zone signed in chunks; `next` is the hash after the last.
    pub(super) fn nsec3_window(
        denial: &Denial,
        ttl: u32,
        entries: Vec<([u8; 20], u32)>,
        next: [u8; 20],
        bitmaps: std::sync::Arc<Vec<Vec<u8>>>,
    ) -> Chain {
        let mut chain = Chain::chunk(denial, ttl, Name::root());
        if let Some(nsec3) = &mut chain.nsec3 {
            nsec3.entries = entries;
            nsec3.next = Some(next);
            nsec3.bitmaps = Some(bitmaps);
        }
        chain
    }
}

/// The owner name of the NSEC3 record of `hash`.
pub(super) fn nsec3_owner(hash: &[u8; 20], origin: &Name) -> Result<Name> {
    let label = data_encoding::BASE32HEX_NOPAD.encode(hash);
    Name::parse(&label, Some(origin))
        .map_err(|e| Error::Failed(format!("NSEC3 owner name for '{origin}': {e}")))
}

/// The types an NSEC or NSEC3 bitmap lists for a node of this kind
/// (without RRSIG/NSEC, which the caller adds where they exist).
pub(super) fn node_types(node: &Node, kind: NodeKind) -> Vec<RType> {
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

/// Plans the chain for the zone's nodes.
pub fn build(zone: &Zone, kinds: &[NodeKind], denial: &Denial, ttl: u32) -> Result<Chain> {
    let nsec3 = match denial {
        Denial::Nsec => None,
        Denial::Nsec3 {
            salt,
            iterations,
            opt_out,
        } => Some(Nsec3Chain {
            salt: salt.clone(),
            iterations: *iterations,
            opt_out: *opt_out,
            entries: nsec3_entries(zone, kinds, salt, *iterations, *opt_out)?,
            bitmaps: None,
            next: None,
        }),
    };
    Ok(Chain {
        ttl,
        nsec3,
        after: None,
    })
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

/// The hashes of every name that gets an NSEC3 record, in hash order.
fn nsec3_entries(
    zone: &Zone,
    kinds: &[NodeKind],
    salt: &[u8],
    iterations: u16,
    opt_out: bool,
) -> Result<Vec<([u8; 20], u32)>> {
    nsec3_owner(&[0; 20], &zone.origin)?;
    let mut entries: Vec<([u8; 20], u32)> = Vec::new();
    let mut empty_non_terminals: HashSet<Name> = HashSet::new();
    for (index, node) in zone.nodes.iter().enumerate() {
        match kinds[index] {
            NodeKind::Occluded => continue,
            NodeKind::Delegation { secure: false } if opt_out => continue,
            _ => {}
        }
        let at = u32::try_from(index)
            .ok()
            .filter(|&at| at != EMPTY_NON_TERMINAL)
            .ok_or_else(|| Error::Failed("too many names for one zone".into()))?;
        entries.push((nsec3_hash(&node.owner, salt, iterations), at));
        // Empty non-terminals between this name and the apex. The nodes
        // are in canonical order: whether a name exists is a binary search.
        let mut ancestor = node.owner.parent();
        while let Some(name) = ancestor {
            if !name.is_subdomain_of(&zone.origin) || name.eq_ignore_case(&zone.origin) {
                break;
            }
            let exists = zone
                .nodes
                .binary_search_by(|n| n.owner.canonical_cmp(&name))
                .is_ok();
            if exists || !empty_non_terminals.insert(name.to_lowercase()) {
                break;
            }
            ancestor = name.parent();
        }
    }
    entries.extend(
        empty_non_terminals
            .iter()
            .map(|name| (nsec3_hash(name, salt, iterations), EMPTY_NON_TERMINAL)),
    );
    entries.sort_unstable();
    entries.shrink_to_fit();
    if let Some(pair) = entries.windows(2).find(|pair| pair[0].0 == pair[1].0) {
        let name_of = |node: u32| match node {
            EMPTY_NON_TERMINAL => "an empty non-terminal".to_string(),
            node => format!("'{}'", zone.nodes[node as usize].owner),
        };
        return Err(Error::Failed(format!(
            "NSEC3 hash collision between {} and {}: choose another salt (-3)",
            name_of(pair[0].1),
            name_of(pair[1].1)
        )));
    }
    Ok(entries)
}
