//! The signed zone as the signer leaves it: the zone and its chain (the
//! plan) and the signatures of each signed RRset, packed in per-worker
//! arenas and walked in output order rather than copied into records.

use super::plan::Plan;
use super::SignStats;
use crate::name::Name;
use crate::zone::model::RrSet;
use crate::zone::rdatas::{self, Rdatas};

/// A signed zone: the zone, its NSEC or NSEC3 chain, and the signatures
/// of each signed RRset. The output is not copied into records of its
/// own: [`SignedZone::each_rrset`] walks it in order.
#[derive(Debug)]
pub struct SignedZone {
    pub origin: Name,
    pub class: crate::record::Class,
    pub stats: SignStats,
    pub(super) plan: Plan,
    /// The workers' signatures.
    pub(super) arenas: Vec<Arena>,
    /// Where the signatures of each signed RRset are, in walk order.
    pub(super) slots: Vec<Slot>,
    /// The verified-signature record's entries: one per signature that
    /// verified or was vouched for (unsorted, maybe repeated).
    pub verified: Vec<super::sidecar::Digest>,
}

/// A worker's signatures, packed one RRset after another in blocks that
/// are allocated once and never grow: a growing buffer would be copied
/// each time it doubles and leave the allocator holding the old copies
/// (measured: 14 MB of a 100k-delegation zone's 88 MB peak).
#[derive(Debug, Default)]
pub(super) struct Arena {
    blocks: Vec<Rdatas>,
}

/// Capacity of an arena block: a few thousand signatures.
const ARENA_BLOCK: usize = 1 << 20;

/// Where the signatures of one RRset are: worker, block, octets.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Slot {
    arena: u32,
    block: u32,
    start: u32,
    len: u32,
}

impl Arena {
    /// Stores the signatures of one RRset for worker `worker`; where they are.
    pub(super) fn slot(&mut self, worker: u32, signatures: &[Vec<u8>]) -> Slot {
        let len = Rdatas::packed_len(signatures.iter().map(Vec::as_slice));
        if self.blocks.last().is_none_or(|block| block.room() < len) {
            self.blocks
                .push(Rdatas::with_capacity(len.max(ARENA_BLOCK)));
        }
        let block = self.blocks.last_mut().expect("a block");
        let start = block.octets();
        for signature in signatures {
            block.push(signature);
        }
        Slot {
            arena: worker,
            block: (self.blocks.len() - 1) as u32,
            start: start as u32,
            len: len as u32,
        }
    }

    fn get(&self, slot: Slot) -> rdatas::Iter<'_> {
        let start = slot.start as usize;
        self.blocks[slot.block as usize].range(start..start + slot.len as usize)
    }
}

impl SignedZone {
    /// The signatures of signed RRset number `job`, in walk order.
    pub(super) fn signatures(&self, job: usize) -> rdatas::Iter<'_> {
        let slot = self.slots[job];
        self.arenas[slot.arena as usize].get(slot)
    }

    /// The algorithms of the apex DNSKEY RRset's keys that are not revoked
    /// (RFC 4035 §2.2: each must sign every authoritative RRset).
    pub fn apex_dnskey_algorithms(&self) -> std::collections::BTreeSet<u8> {
        self.plan.zone.nodes[0]
            .rrset(crate::record::RType::DNSKEY)
            .into_iter()
            .flat_map(|set| set.rdatas.iter())
            .filter(|rdata| rdata.len() > 3 && rdata[1] & crate::dnskey::FLAG_REVOKE as u8 == 0)
            .map(|rdata| rdata[3])
            .collect()
    }

    /// Calls `visit` with every RRset in output order (apex first, then
    /// canonical order; in a node SOA, NS, then by type; NSEC3 records
    /// last, by hash) and, if the RRset is signed, its RRSIG RDATA.
    pub fn each_rrset<E>(
        &self,
        mut visit: impl FnMut(&Name, &RrSet, Option<rdatas::Iter<'_>>) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let mut next_job = 0;
        self.plan.walk(|place, signed| {
            let (owner, rrset) = self.plan.rrset(place);
            let signatures = signed.then(|| {
                let slot = self.slots[next_job];
                next_job += 1;
                self.arenas[slot.arena as usize].get(slot)
            });
            visit(&owner, &rrset, signatures)
        })
    }
}

/// The TTL of an RRSIG record: the covered RRset's, but no longer than the
/// signature's validity period (expiration − inception).
pub fn rrsig_ttl(rrset_ttl: u32, rrsig_rdata: &[u8]) -> u32 {
    let word = |at: usize| {
        rrsig_rdata
            .get(at..at + 4)
            .map_or(0, |w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
    };
    rrset_ttl.min(word(8).wrapping_sub(word(12)))
}
