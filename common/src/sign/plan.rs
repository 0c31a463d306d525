//! What a zone is made of, for signing: which nodes are apex,
//! authoritative, delegations or occluded (RFC 4035 §2.2), which of their
//! RRsets get signatures, and the order in which the output is walked.

use super::denial;
use crate::name::Name;
use crate::record::RType;
use crate::zone::model::{RrSet, Zone};
use std::borrow::Cow;

/// A zone ready to sign: its nodes, what each one is, and its chain.
#[derive(Debug)]
pub(super) struct Plan {
    pub(super) zone: Zone,
    pub(super) kinds: Vec<NodeKind>,
    pub(super) chain: denial::Chain,
}

/// Where an output RRset comes from: the zone, or the chain (made when it
/// is signed or written, not stored). Indexes are `u32` because a zone
/// has millions of RRsets to sign and each job is one of these.
#[derive(Clone, Copy, Debug)]
pub(super) enum Place {
    Zone { node: u32, rrset: u32 },
    Nsec { node: u32 },
    Nsec3 { position: u32 },
}

impl Plan {
    /// Visits the places of the output RRsets in order, saying of each
    /// whether it gets signatures.
    pub(super) fn walk<E>(
        &self,
        mut visit: impl FnMut(Place, bool) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let mut order: Vec<(RType, Place)> = Vec::new();
        for (index, node) in self.zone.nodes.iter().enumerate() {
            let at = index as u32;
            order.clear();
            order.extend(node.rrsets.iter().enumerate().map(|(rrset, set)| {
                let place = Place::Zone {
                    node: at,
                    rrset: rrset as u32,
                };
                (set.rtype, place)
            }));
            if self.chain.has_nsec(&self.kinds, index) {
                order.push((RType::NSEC, Place::Nsec { node: at }));
            }
            // SOA first, NS second, then by type code (BIND's order).
            order.sort_by_key(|(rtype, _)| match *rtype {
                RType::SOA => (0, 0),
                RType::NS => (1, 0),
                other => (2, other.0),
            });
            for (rtype, place) in &order {
                visit(*place, needs_signature(self.kinds[index], *rtype))?;
            }
        }
        for position in 0..self.chain.nsec3_len() {
            visit(
                Place::Nsec3 {
                    position: position as u32,
                },
                true,
            )?;
        }
        Ok(())
    }

    /// The owner and RRset at `place`.
    pub(super) fn rrset(&self, place: Place) -> (Cow<'_, Name>, Cow<'_, RrSet>) {
        let nodes = &self.zone.nodes;
        match place {
            Place::Zone { node, rrset } => {
                let node = &nodes[node as usize];
                (
                    Cow::Borrowed(&node.owner),
                    Cow::Borrowed(&node.rrsets[rrset as usize]),
                )
            }
            Place::Nsec { node } => (
                Cow::Borrowed(&nodes[node as usize].owner),
                Cow::Owned(self.chain.nsec(&self.zone, &self.kinds, node as usize)),
            ),
            Place::Nsec3 { position } => {
                let (owner, rrset) = self.chain.nsec3(&self.zone, &self.kinds, position as usize);
                (Cow::Owned(owner), Cow::Owned(rrset))
            }
        }
    }
}

/// What a node is, for signing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    Apex,
    Authoritative,
    /// A zone cut; `secure` if it has a DS RRset.
    Delegation {
        secure: bool,
    },
    /// Below a zone cut or a DNAME: glue or occluded data, never signed.
    Occluded,
}

/// Classifies every node (the nodes are in canonical order, so a cut's
/// descendants follow it).
pub fn classify(zone: &Zone) -> Vec<NodeKind> {
    classify_nodes(zone, true)
}

/// [`classify`] for a run of consecutive nodes (a chunk of a zone signed in
/// chunks): the first node is the apex only if `has_apex`. A chunk starts
/// at a name that is not occluded, so no cut carries over into it.
pub(super) fn classify_nodes(zone: &Zone, has_apex: bool) -> Vec<NodeKind> {
    let mut kinds = Vec::with_capacity(zone.nodes.len());
    let mut cut: Option<&Name> = None;
    for (index, node) in zone.nodes.iter().enumerate() {
        if let Some(above) = cut {
            if node.owner.is_subdomain_of(above) && !node.owner.eq_ignore_case(above) {
                kinds.push(NodeKind::Occluded);
                continue;
            }
            cut = None;
        }
        let kind = if has_apex && index == 0 {
            NodeKind::Apex
        } else if node.has(RType::NS) {
            NodeKind::Delegation {
                secure: node.has(RType::DS),
            }
        } else {
            NodeKind::Authoritative
        };
        // Names below a delegation or below a DNAME are occluded.
        if matches!(kind, NodeKind::Delegation { .. }) || node.has(RType::DNAME) {
            cut = Some(&node.owner);
        }
        kinds.push(kind);
    }
    kinds
}

/// Which RRsets get signatures: all authoritative data; at a delegation
/// only DS and NSEC (RFC 4035 §2.2); nothing that is occluded.
pub(super) fn needs_signature(kind: NodeKind, rtype: RType) -> bool {
    match kind {
        NodeKind::Apex | NodeKind::Authoritative => true,
        NodeKind::Delegation { .. } => matches!(rtype, RType::DS | RType::NSEC),
        NodeKind::Occluded => false,
    }
}
