//! The RRSIGs of a signed input, kept aside for reuse when the zone is
//! signed again, packed into one arena.
//!
//! A re-sign holds the input's signatures beside the zone until signing
//! ends. Kept as a hash map of (owner, type) to RDATA, every entry cost a
//! name allocation, an RDATA allocation and the map's slack: at 100,000
//! delegations the re-sign's peak RSS was 1.25–1.33 times the full
//! signing's. Packed, a signature costs its RDATA octets, the owner's
//! octets once per owner (a signed input writes an owner's signatures
//! together), and one fixed-size index entry.
//!
//! Lookups are by (owner, covered type), case-insensitively: the index is
//! sorted by a hash of the lower-cased owner and type, then by owner,
//! type and RDATA, so a lookup is a binary search whose cost does not
//! depend on the hash being good (an input crafted to collide costs
//! comparisons of owner octets, never a scan).

use crate::name::Name;
use crate::record::RType;
use std::cmp::Ordering;

/// The input's RRSIG RDATA by lower-cased owner and the type they cover.
/// Keyed by type too so that each RRset looks only at its own
/// signatures: keyed by owner alone, an owner with many RRsets and many
/// RRSIGs cost their product (200 types × 100,000 RRSIGs took seconds).
#[derive(Clone, Debug, Default)]
pub struct InputSignatures {
    /// Lower-cased owner names (wire form) and RRSIG RDATA, back to back,
    /// in chunks of [`CHUNK`] octets that are never moved: one growing
    /// vector doubles, and at the end of loading held twice the octets
    /// (the re-sign's peak memory).
    chunks: Vec<Vec<u8>>,
    /// One per signature; sorted and without duplicates once loaded.
    entries: Vec<Entry>,
    /// Where the last owner pushed starts, and its length.
    last_owner: Option<(u64, usize)>,
    /// Where each hash prefix starts among the entries.
    index: PrefixIndex,
}

/// Where each prefix of a sorted list of 32-bit keys starts: a lookup
/// reads one slot, then searches the entries of its prefix (one or two;
/// all of them if the keys collide, and then by binary search). A plain
/// binary search over the index was a tenth of a re-sign, a cache miss
/// per step.
#[derive(Clone, Debug, Default)]
pub struct PrefixIndex {
    shift: u32,
    starts: Vec<u32>,
}

impl PrefixIndex {
    /// The index of `len` sorted keys.
    pub fn new(keys: impl Iterator<Item = u32>, len: usize) -> PrefixIndex {
        // One or two keys per slot (four octets a slot), at most 2^24 slots.
        let bits = (usize::BITS - (len / 2).max(1).leading_zeros()).clamp(1, 24);
        let shift = 32 - bits;
        let slots = 1usize << bits;
        let mut starts = vec![0u32; slots + 1];
        for key in keys {
            let slot = (key >> shift) as usize;
            starts[slot + 1] = starts[slot + 1].saturating_add(1);
        }
        for slot in 1..=slots {
            starts[slot] = starts[slot].saturating_add(starts[slot - 1]);
        }
        PrefixIndex { shift, starts }
    }

    /// Where the keys with the prefix of `key` are.
    pub fn range(&self, key: u32) -> std::ops::Range<usize> {
        let slot = (key >> self.shift) as usize;
        match (self.starts.get(slot), self.starts.get(slot + 1)) {
            (Some(&start), Some(&end)) => start as usize..end as usize,
            _ => 0..0,
        }
    }
}

/// The octets of one chunk; a piece (an owner or an RDATA, at most
/// 65,535 octets) never spans two.
const CHUNK: usize = 1 << 20;

/// 24 octets: the index is one entry per signature of the zone.
#[derive(Clone, Copy, Debug)]
struct Entry {
    /// Where the RDATA starts (chunk × [`CHUNK`] + offset).
    rdata: u64,
    /// How far before the RDATA the owner starts.
    owner_back: u32,
    hash: u32,
    rdata_len: u16,
    covered: RType,
    owner_len: u8,
}

/// FNV-1a over the lower-cased owner and the covered type: spread, not
/// secrecy (see the module documentation for why collisions are cheap).
fn key_hash(owner_lower: impl Iterator<Item = u8>, covered: RType) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in owner_lower.chain(covered.0.to_be_bytes()) {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

impl InputSignatures {
    /// No signatures.
    pub fn new() -> InputSignatures {
        InputSignatures::default()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many signatures there are (duplicates counted once, after
    /// [`InputSignatures::finish`]).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// How many (owner, covered type) pairs have signatures.
    pub fn rrsets(&self) -> usize {
        let mut count = 0;
        let mut previous: Option<&Entry> = None;
        for entry in &self.entries {
            if previous.is_none_or(|p| self.key_cmp(p, entry) != Ordering::Equal) {
                count += 1;
            }
            previous = Some(entry);
        }
        count
    }

    /// Adds an RRSIG RDATA over `covered` at `owner`. Call
    /// [`InputSignatures::finish`] when all are in.
    pub fn push(&mut self, owner: &Name, covered: RType, rdata: &[u8]) {
        let Ok(rdata_len) = u16::try_from(rdata.len()) else {
            // The zone reader refuses longer RDATA.
            return;
        };
        let wire = owner.wire();
        let same_owner = self.last_owner.is_some_and(|(at, len)| {
            len == wire.len() && self.slice(at, len).eq_ignore_ascii_case(wire)
        });
        let (owner_at, owner_len) = match self.last_owner {
            Some(last) if same_owner => last,
            _ => {
                let at = self.append(wire);
                self.slice_mut(at, wire.len()).make_ascii_lowercase();
                self.last_owner = Some((at, wire.len()));
                (at, wire.len())
            }
        };
        let hash = key_hash(self.slice(owner_at, owner_len).iter().copied(), covered);
        let at = self.append(rdata);
        let Ok(owner_back) = u32::try_from(at - owner_at) else {
            // Four GiB of one owner's signatures: store the owner again.
            self.last_owner = None;
            return self.push(owner, covered, rdata);
        };
        self.entries.push(Entry {
            rdata: at,
            owner_back,
            hash,
            rdata_len,
            covered,
            // A wire name is at most 255 octets.
            owner_len: owner_len as u8,
        });
    }

    /// Appends octets, in one chunk; returns where they start.
    fn append(&mut self, octets: &[u8]) -> u64 {
        let full = self
            .chunks
            .last()
            .is_none_or(|c| c.len() + octets.len() > CHUNK);
        if full {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        let index = self.chunks.len() - 1;
        let chunk = &mut self.chunks[index];
        let at = (index * CHUNK + chunk.len()) as u64;
        chunk.extend_from_slice(octets);
        at
    }

    fn slice_mut(&mut self, at: u64, len: usize) -> &mut [u8] {
        let at = at as usize;
        let chunk = &mut self.chunks[at / CHUNK];
        let start = at % CHUNK;
        &mut chunk[start..start + len]
    }

    fn slice(&self, at: u64, len: usize) -> &[u8] {
        let at = at as usize;
        let chunk = &self.chunks[at / CHUNK];
        let start = at % CHUNK;
        &chunk[start..start + len]
    }

    /// Sorts the index and drops duplicate signatures.
    pub fn finish(&mut self) {
        let mut entries = std::mem::take(&mut self.entries);
        entries.sort_unstable_by(|a, b| {
            self.key_cmp(a, b)
                .then_with(|| self.rdata(a).cmp(self.rdata(b)))
        });
        entries.dedup_by(|a, b| {
            self.key_cmp(a, b) == Ordering::Equal && self.rdata(a) == self.rdata(b)
        });
        entries.shrink_to_fit();
        self.index = PrefixIndex::new(entries.iter().map(|e| e.hash), entries.len());
        self.entries = entries;
        if let Some(last) = self.chunks.last_mut() {
            last.shrink_to_fit();
        }
        self.last_owner = None;
    }

    fn owner(&self, entry: &Entry) -> &[u8] {
        self.slice(
            entry.rdata - u64::from(entry.owner_back),
            usize::from(entry.owner_len),
        )
    }

    fn rdata(&self, entry: &Entry) -> &[u8] {
        self.slice(entry.rdata, usize::from(entry.rdata_len))
    }

    fn key_cmp(&self, a: &Entry, b: &Entry) -> Ordering {
        a.hash
            .cmp(&b.hash)
            .then_with(|| self.owner(a).cmp(self.owner(b)))
            .then_with(|| a.covered.cmp(&b.covered))
    }

    /// The signatures over `covered` at `owner` (in any case), in the
    /// order of their RDATA octets.
    pub fn get<'a>(&'a self, owner: &Name, covered: RType) -> impl Iterator<Item = &'a [u8]> {
        let wire = owner.wire();
        let hash = key_hash(wire.iter().map(u8::to_ascii_lowercase), covered);
        self.find(hash, wire, covered)
    }

    /// [`InputSignatures::get`] with the hash given.
    fn find(&self, hash: u32, wire: &[u8], covered: RType) -> impl Iterator<Item = &[u8]> {
        let cmp = |entry: &Entry| {
            entry
                .hash
                .cmp(&hash)
                .then_with(|| {
                    self.owner(entry)
                        .iter()
                        .copied()
                        .cmp(wire.iter().map(u8::to_ascii_lowercase))
                })
                .then_with(|| entry.covered.cmp(&covered))
        };
        let slot = self.entries.get(self.index.range(hash)).unwrap_or_default();
        let start = slot.partition_point(|e| cmp(e) == Ordering::Less);
        let end = start + slot[start..].partition_point(|e| cmp(e) == Ordering::Equal);
        let found = &slot[start..end];
        found.iter().map(|e| self.rdata(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Name {
        Name::parse(text, None).expect("name")
    }

    #[test]
    fn lookups_ignore_case_and_separate_types_and_duplicates_go() {
        let mut store = InputSignatures::new();
        let www = name("WWW.example.com.");
        store.push(&www, RType::A, b"\x00\x01b");
        store.push(&name("www.EXAMPLE.com."), RType::A, b"\x00\x01a");
        store.push(&www, RType::A, b"\x00\x01b");
        store.push(&www, RType(16), b"\x00\x10t");
        store.push(&name("mail.example.com."), RType::A, b"\x00\x01m");
        // The same owner again after another: its octets are stored twice,
        // and both spellings are one key.
        store.push(&www, RType::A, b"\x00\x01c");
        store.finish();
        assert_eq!(store.len(), 5);
        assert_eq!(store.rrsets(), 3);
        let got: Vec<&[u8]> = store.get(&name("www.example.COM."), RType::A).collect();
        assert_eq!(got, [&b"\x00\x01a"[..], b"\x00\x01b", b"\x00\x01c"]);
        let txt: Vec<&[u8]> = store.get(&www, RType(16)).collect();
        assert_eq!(txt, [&b"\x00\x10t"[..]]);
        assert_eq!(store.get(&www, RType(28)).count(), 0);
        assert_eq!(store.get(&name("example.com."), RType::A).count(), 0);
        assert_eq!(store.get(&name("mail.example.com."), RType::A).count(), 1);
    }

    #[test]
    fn colliding_keys_still_find_only_their_own() {
        // Entries whose hashes are equal sort by owner and type: a lookup
        // compares octets and never takes another key's signatures.
        let mut store = InputSignatures::new();
        for i in 0..50u8 {
            let owner = name(&format!("n{i}.example."));
            store.push(&owner, RType::NS, &[i]);
        }
        for entry in &mut store.entries {
            entry.hash = 7;
        }
        store.finish();
        for i in 0..50u8 {
            let owner = name(&format!("N{i}.example."));
            let got: Vec<&[u8]> = store.find(7, owner.wire(), RType::NS).collect();
            assert_eq!(got, [&[i][..]]);
        }
    }

    #[test]
    fn prefix_index_ranges_hold_every_key_of_their_prefix() {
        let mut keys: Vec<u32> = (0..1000u32)
            .map(|i| i.wrapping_mul(2_654_435_761))
            .collect();
        keys.extend([0, 0, 1, u32::MAX, u32::MAX, 1 << 31]);
        keys.extend(std::iter::repeat_n(0x8000_0001, 100));
        keys.sort_unstable();
        let index = PrefixIndex::new(keys.iter().copied(), keys.len());
        for &key in &keys {
            let range = index.range(key);
            let found = keys[range.clone()].iter().filter(|&&k| k == key).count();
            assert_eq!(found, keys.iter().filter(|&&k| k == key).count(), "{key}");
            assert!(range.len() < 120, "{key}: {range:?}");
        }
        assert_eq!(PrefixIndex::default().range(5), 0..0);
    }
}
