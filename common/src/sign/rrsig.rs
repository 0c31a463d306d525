//! RRSIG records (RFC 4034 §3): the fields, and the data a signature
//! covers (§3.1.8.1): the RRSIG RDATA without the signature, then every
//! RR of the set in canonical form and order (§6.2, §6.3).

use crate::name::Name;
use crate::rdata;
use crate::record::{Class, RType};
use crate::zone::model::RrSet;

/// The fields of an RRSIG before the signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RrsigFields {
    pub type_covered: RType,
    pub algorithm: u8,
    pub labels: u8,
    pub original_ttl: u32,
    pub expiration: u32,
    pub inception: u32,
    pub key_tag: u16,
    pub signer: Name,
}

impl RrsigFields {
    /// The RDATA up to the signature, with the signer name as given
    /// (`canonical`: lower case, for the signed data).
    pub fn rdata_prefix(&self, canonical: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(18 + self.signer.wire().len());
        out.extend_from_slice(&self.type_covered.0.to_be_bytes());
        out.push(self.algorithm);
        out.push(self.labels);
        out.extend_from_slice(&self.original_ttl.to_be_bytes());
        out.extend_from_slice(&self.expiration.to_be_bytes());
        out.extend_from_slice(&self.inception.to_be_bytes());
        out.extend_from_slice(&self.key_tag.to_be_bytes());
        if canonical {
            out.extend_from_slice(&self.signer.canonical_wire());
        } else {
            out.extend_from_slice(self.signer.wire());
        }
        out
    }

    /// The whole RRSIG RDATA.
    pub fn rdata(&self, signature: &[u8]) -> Vec<u8> {
        let mut out = self.rdata_prefix(false);
        out.extend_from_slice(signature);
        out
    }
}

/// The RRSIG Labels field of an owner: its labels, less a leading `*`.
pub fn labels(owner: &Name) -> u8 {
    let count = owner.label_count();
    (if owner.is_wildcard() {
        count - 1
    } else {
        count
    }) as u8
}

/// The data an RRSIG over `rrset` signs.
pub fn signed_data(fields: &RrsigFields, owner: &Name, class: Class, rrset: &RrSet) -> Vec<u8> {
    let owner_wire = owner.canonical_wire();
    let mut canonical: Vec<std::borrow::Cow<'_, [u8]>> = rrset
        .rdatas
        .iter()
        .map(|r| rdata::canonical(rrset.rtype, r))
        .collect();
    canonical.sort();
    canonical.dedup();
    let size: usize = canonical
        .iter()
        .map(|r| owner_wire.len() + 10 + r.len())
        .sum();
    let mut data = Vec::with_capacity(fields.signer.wire().len() + 18 + size);
    data.extend_from_slice(&fields.rdata_prefix(true));
    for rdata in canonical {
        data.extend_from_slice(&owner_wire);
        data.extend_from_slice(&rrset.rtype.0.to_be_bytes());
        data.extend_from_slice(&class.0.to_be_bytes());
        data.extend_from_slice(&fields.original_ttl.to_be_bytes());
        data.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        data.extend_from_slice(&rdata);
    }
    data
}

/// The fields and signature of RRSIG RDATA, or `None` if it is malformed
/// (for readers of signatures made elsewhere, such as a signed key response).
pub fn parse(rdata: &[u8]) -> Option<(RrsigFields, &[u8])> {
    super::rrset::parse_rrsig(rdata)
}
