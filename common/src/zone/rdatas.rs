//! The RDATA of an RRset, packed into one allocation.
//!
//! A zone of a million names holds millions of RDATAs of a few dozen
//! octets each: as a `Vec<Vec<u8>>` every one costs a 24-octet header and
//! a heap allocation of its own, more than the data. Packed, an RRset
//! costs one header and one allocation, and two octets per record.

use std::cmp::Ordering;
use std::fmt;

/// Wire RDATAs, each stored as a two-octet length and the octets
/// (RFC 1035 §3.2.1 limits RDATA to 65535 octets).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Rdatas {
    packed: Vec<u8>,
}

/// The longest RDATA there can be.
pub const MAX_RDATA_LEN: usize = u16::MAX as usize;

impl Rdatas {
    /// No RDATA.
    pub fn new() -> Rdatas {
        Rdatas::default()
    }

    /// No RDATA yet, room for `octets` of packed form without moving.
    pub fn with_capacity(octets: usize) -> Rdatas {
        Rdatas {
            packed: Vec::with_capacity(octets),
        }
    }

    /// How many more octets of packed form fit without moving.
    pub fn room(&self) -> usize {
        self.packed.capacity() - self.packed.len()
    }

    /// How many octets `rdatas` take in packed form.
    pub fn packed_len<'a>(rdatas: impl IntoIterator<Item = &'a [u8]>) -> usize {
        rdatas.into_iter().map(|r| 2 + r.len()).sum()
    }

    /// One RDATA.
    pub fn one(rdata: &[u8]) -> Rdatas {
        let mut rdatas = Rdatas {
            packed: Vec::with_capacity(2 + rdata.len()),
        };
        rdatas.push(rdata);
        rdatas
    }

    /// Appends an RDATA. Panics if it is longer than [`MAX_RDATA_LEN`]:
    /// the zone reader refuses such records, and what the signer makes
    /// itself is far shorter.
    pub fn push(&mut self, rdata: &[u8]) {
        let len = u16::try_from(rdata.len()).expect("RDATA longer than 65535 octets");
        self.packed.extend_from_slice(&len.to_be_bytes());
        self.packed.extend_from_slice(rdata);
    }

    /// The RDATAs in their stored order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            packed: &self.packed,
        }
    }

    /// How many RDATAs there are (a walk over them).
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.packed.is_empty()
    }

    /// How many octets the packed form takes. Sets pushed one after
    /// another are ranges of it (see [`Rdatas::range`]).
    pub fn octets(&self) -> usize {
        self.packed.len()
    }

    /// The RDATAs pushed between two values of [`Rdatas::octets`]: one
    /// `Rdatas` can hold many sets (a signing worker's signatures).
    pub fn range(&self, octets: std::ops::Range<usize>) -> Iter<'_> {
        Iter {
            packed: &self.packed[octets],
        }
    }

    /// The first RDATA.
    pub fn first(&self) -> Option<&[u8]> {
        self.iter().next()
    }

    /// The first RDATA, to change in place (its length stays).
    pub fn first_mut(&mut self) -> Option<&mut [u8]> {
        let len = u16::from_be_bytes([*self.packed.first()?, *self.packed.get(1)?]) as usize;
        self.packed.get_mut(2..2 + len)
    }

    /// True if `rdata` is one of them (octet for octet).
    pub fn contains(&self, rdata: &[u8]) -> bool {
        self.iter().any(|r| r == rdata)
    }

    /// Sorts by `order` and keeps the first of each run of equal ones,
    /// then gives back spare capacity.
    pub fn sort_dedup_by(&mut self, order: impl Fn(&[u8], &[u8]) -> Ordering) {
        let mut entries: Vec<&[u8]> = self.iter().collect();
        if entries.len() > 1 {
            entries.sort_by(|a, b| order(a, b));
            entries.dedup_by(|a, b| order(a, b) == Ordering::Equal);
            let sorted: Rdatas = entries.into_iter().collect();
            *self = sorted;
        }
        self.packed.shrink_to_fit();
    }
}

impl<'a> FromIterator<&'a [u8]> for Rdatas {
    fn from_iter<I: IntoIterator<Item = &'a [u8]>>(iter: I) -> Rdatas {
        let mut rdatas = Rdatas::new();
        for rdata in iter {
            rdatas.push(rdata);
        }
        rdatas
    }
}

impl fmt::Debug for Rdatas {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// The RDATAs of an [`Rdatas`], in stored order.
#[derive(Clone)]
pub struct Iter<'a> {
    packed: &'a [u8],
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (len, rest) = self.packed.split_first_chunk::<2>()?;
        let (rdata, rest) = rest.split_at(u16::from_be_bytes(*len) as usize);
        self.packed = rest;
        Some(rdata)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_rdatas_keep_their_bounds() {
        let mut rdatas = Rdatas::new();
        assert!(rdatas.is_empty() && rdatas.first().is_none());
        rdatas.push(b"ccc");
        rdatas.push(b"");
        rdatas.push(b"a");
        rdatas.push(b"ccc");
        assert_eq!(rdatas.len(), 4);
        assert!(rdatas.contains(b"") && !rdatas.contains(b"cc"));
        rdatas.sort_dedup_by(<[u8]>::cmp);
        let sorted: Vec<&[u8]> = rdatas.iter().collect();
        assert_eq!(sorted, [&b""[..], b"a", b"ccc"]);
        assert!(rdatas.first_mut().expect("three").is_empty());
        let mut one = Rdatas::one(b"xy");
        one.first_mut().expect("one")[1] = b'z';
        assert_eq!(one.first(), Some(&b"xz"[..]));
        let long = vec![7u8; MAX_RDATA_LEN];
        let start = one.octets();
        one.push(b"second");
        one.push(b"third");
        let range: Vec<&[u8]> = one.range(start..one.octets()).collect();
        assert_eq!(range, [&b"second"[..], b"third"]);
        let collected: Rdatas = [&long[..], b"end"].into_iter().collect();
        assert_eq!(
            collected.iter().map(<[u8]>::len).collect::<Vec<_>>(),
            [MAX_RDATA_LEN, 3]
        );
    }
}
