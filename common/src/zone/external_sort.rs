//! A zone read in bounded memory (`zone-sign --low-memory`): its records
//! sorted into canonical order on disk, then handed out as [`Zone`]s of
//! consecutive nodes (chunks), each loaded and checked as
//! [`Zone::load`](super::model::Zone::load) loads a whole zone.
//!
//! The records are parsed (and refused with their file and line) as they
//! are read, kept in memory up to a budget, sorted by owner (stably, so a
//! name's records keep their input order: BIND's TTL rule for runs of one
//! owner's records depends on it), and spilled as a run to a private
//! directory; the runs are then merged. A zone whose records fit the
//! budget is never written to disk.
//!
//! A chunk ends only before a name that is not occluded, so that what a
//! chunk's names are (RFC 4035 §2.2: cut, glue, authoritative) follows from
//! the chunk alone, and the first name of the next chunk is the next name
//! of the NSEC chain.

use super::model::{
    cname_conflict, is_signer_made, next_zone_record, repeated_soa, InputSignatures, LoadReport,
    Node, RrSet, Zone,
};
use super::rdatas::Rdatas;
use super::reader::ZoneReader;
use crate::error::{Error, Result};
use crate::name::Name;
use crate::rdata;
use crate::record::{Class, RType};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::sync::Arc;

/// Memory for records before a run is spilled, by default.
pub const DEFAULT_SORT_BUDGET: usize = 64 << 20;

/// One parsed record, with what an error message or BIND's TTL rule needs.
#[derive(Debug)]
struct Item {
    owner: Name,
    /// Input order, the tie-break of the sort.
    seq: u64,
    rtype: RType,
    ttl: u32,
    batch: u64,
    line: u64,
    file: u32,
    included: bool,
    wire: Vec<u8>,
}

impl Item {
    /// What memory it takes in a run, roughly (allocations and headers).
    fn cost(&self) -> usize {
        self.owner.wire().len() + self.wire.len() + 112
    }

    fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        let owner = self.owner.wire();
        out.write_all(&[owner.len() as u8])?;
        out.write_all(owner)?;
        out.write_all(&self.seq.to_be_bytes())?;
        out.write_all(&self.rtype.0.to_be_bytes())?;
        out.write_all(&self.ttl.to_be_bytes())?;
        out.write_all(&self.batch.to_be_bytes())?;
        out.write_all(&self.line.to_be_bytes())?;
        out.write_all(&self.file.to_be_bytes())?;
        out.write_all(&[u8::from(self.included)])?;
        out.write_all(&(self.wire.len() as u16).to_be_bytes())?;
        out.write_all(&self.wire)
    }

    /// The next item of a run, `None` at its end.
    fn read(input: &mut impl Read) -> std::io::Result<Option<Item>> {
        let mut len = [0u8; 1];
        if input.read(&mut len)? == 0 {
            return Ok(None);
        }
        let mut owner = vec![0; len[0] as usize];
        input.read_exact(&mut owner)?;
        let mut fixed = [0u8; 8 + 2 + 4 + 8 + 8 + 4 + 1 + 2];
        input.read_exact(&mut fixed)?;
        let u64_at =
            |at: usize| u64::from_be_bytes(fixed[at..at + 8].try_into().unwrap_or_default());
        let u32_at =
            |at: usize| u32::from_be_bytes(fixed[at..at + 4].try_into().unwrap_or_default());
        let u16_at = |at: usize| u16::from_be_bytes([fixed[at], fixed[at + 1]]);
        let mut wire = vec![0; u16_at(35) as usize];
        input.read_exact(&mut wire)?;
        let (owner, _) = Name::from_wire(&owner).map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, format!("a sort run: {e}"))
        })?;
        Ok(Some(Item {
            owner,
            seq: u64_at(0),
            rtype: RType(u16_at(8)),
            ttl: u32_at(10),
            batch: u64_at(14),
            line: u64_at(22),
            file: u32_at(30),
            included: fixed[34] != 0,
            wire,
        }))
    }

    fn order(&self, other: &Item) -> Ordering {
        self.owner
            .canonical_cmp(&other.owner)
            .then(self.seq.cmp(&other.seq))
    }
}

/// A run being merged: its next item.
struct Head {
    item: Item,
    run: usize,
}

impl PartialEq for Head {
    fn eq(&self, other: &Head) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Head {}
impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Head) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Head {
    /// Reversed: `BinaryHeap` is a max-heap and the smallest goes first.
    fn cmp(&self, other: &Head) -> Ordering {
        other.item.order(&self.item)
    }
}

/// Where the sorted records come from: one run still in memory, or the
/// spilled runs merged.
enum Merge {
    Memory(std::vec::IntoIter<Item>),
    Runs {
        readers: Vec<BufReader<std::fs::File>>,
        heap: BinaryHeap<Head>,
        dir: String,
    },
}

impl Merge {
    fn next(&mut self) -> Result<Option<Item>> {
        match self {
            Merge::Memory(items) => Ok(items.next()),
            Merge::Runs { readers, heap, dir } => {
                let Some(Head { item, run }) = heap.pop() else {
                    return Ok(None);
                };
                if let Some(next) =
                    Item::read(&mut readers[run]).map_err(|e| Error::io(&*dir, e))?
                {
                    heap.push(Head { item: next, run });
                }
                Ok(Some(item))
            }
        }
    }
}

/// A node as loaded, with what its checks and the signer need besides.
struct Loaded {
    node: Node,
    /// The file and line of its first DS record.
    ds_line: Option<(Arc<str>, usize)>,
    signatures: Vec<((Name, RType), Vec<u8>)>,
}

/// A zone's records in canonical order, handed out in chunks.
pub struct SortedZone {
    origin: Name,
    /// The apex as the input spells it (the first spelling wins).
    apex_spelling: Option<Name>,
    class: Class,
    files: Vec<Arc<str>>,
    merge: Merge,
    /// Nodes per chunk (at least; a chunk also takes the occluded names
    /// below its last cut).
    chunk_nodes: usize,
    /// The next node, read ahead to see where a chunk may end.
    pending: Option<Loaded>,
    /// The zone cut (or DNAME) the names read last are below.
    cut: Option<Name>,
    first: bool,
    /// Input RRSIGs over NSEC3 RRsets, spilled in canonical order (which
    /// is hash order), for the NSEC3 records signed last.
    nsec3_signatures: Option<BufWriter<std::fs::File>>,
    nsec3_reader: Option<BufReader<std::fs::File>>,
    nsec3_ahead: Option<(Name, Vec<u8>)>,
    /// The next merged record, read ahead to see where a node ends.
    ahead: Option<Item>,
    /// Where the anonymous spill files are (for messages).
    dir: String,
    /// A chunk grew past [`OVERSIZED_CHUNK`] times its size (said once).
    warned_oversized: bool,
}

/// How many times the chunk size a chunk may grow with occluded names
/// before a warning says memory is no longer bounded by it.
const OVERSIZED_CHUNK: usize = 16;

impl std::fmt::Debug for SortedZone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SortedZone({})", self.origin)
    }
}

impl SortedZone {
    /// Reads every record of `reader`, with the record-level checks of
    /// [`Zone::load`], sorting them in runs of at most `budget` octets
    /// spilled into anonymous files in `temp_dir`.
    pub fn read(
        mut reader: ZoneReader,
        origin: &Name,
        budget: usize,
        chunk_nodes: usize,
        temp_dir: &Path,
    ) -> Result<(SortedZone, LoadReport)> {
        // The spill files have no name (O_TMPFILE, else made with O_EXCL,
        // mode 0600, and unlinked at once) and are only ever used through
        // their descriptors: the output directory is not trusted, and a
        // file reopened there by name could be another account's symlink
        // or a run edited under us. Nothing is left behind, even after
        // SIGKILL.
        let dir_text = temp_dir.display().to_string();
        let mut report = LoadReport::default();
        let mut class = None;
        let mut soa_seen: Option<(u32, Vec<u8>)> = None;
        let mut files: Vec<Arc<str>> = Vec::new();
        let mut buffer: Vec<Item> = Vec::new();
        let mut used = 0;
        let mut runs: Vec<std::fs::File> = Vec::new();
        let mut seq = 0u64;
        while let Some((record, wire, apex)) =
            next_zone_record(&mut reader, origin, &mut report, &mut class)?
        {
            if is_signer_made(record.rtype, apex) {
                report.input_dnssec += 1;
                if record.rtype != RType::RRSIG {
                    continue;
                }
                report.input_signatures += 1;
                if wire.len() < 2 {
                    continue;
                }
            }
            if record.rtype == RType::SOA && repeated_soa(&record, apex, &wire, &mut soa_seen)? {
                continue;
            }
            // Few files (the zone and its $INCLUDEs): found by a scan.
            let file = match files.iter().rposition(|f| *f == record.file) {
                Some(at) => at,
                None => {
                    files.push(record.file.clone());
                    files.len() - 1
                }
            } as u32;
            let item = Item {
                owner: record.owner,
                seq,
                rtype: record.rtype,
                ttl: record.ttl,
                batch: record.batch,
                line: record.line as u64,
                file,
                included: record.included,
                wire,
            };
            seq += 1;
            used += item.cost();
            buffer.push(item);
            if used >= budget {
                runs.push(spill(&mut buffer, temp_dir, runs.len())?);
                used = 0;
            }
        }
        if soa_seen.is_none() {
            return Err(Error::Failed(format!(
                "zone '{origin}' has no SOA record at its apex"
            )));
        }
        let merge = if runs.is_empty() {
            buffer.sort_by(|a, b| a.owner.canonical_cmp(&b.owner));
            Merge::Memory(buffer.into_iter())
        } else {
            if !buffer.is_empty() {
                runs.push(spill(&mut buffer, temp_dir, runs.len())?);
            }
            drop(buffer);
            crate::cli::verbose(1, &format!("merging {} sorted runs", runs.len()));
            let mut readers = Vec::with_capacity(runs.len());
            let mut heap = BinaryHeap::with_capacity(runs.len());
            for (run, file) in runs.into_iter().enumerate() {
                let mut input = BufReader::with_capacity(1 << 16, file);
                if let Some(item) = Item::read(&mut input).map_err(|e| Error::io(&dir_text, e))? {
                    heap.push(Head { item, run });
                }
                readers.push(input);
            }
            Merge::Runs {
                readers,
                heap,
                dir: dir_text.clone(),
            }
        };
        let nsec3_file = tempfile::tempfile_in(temp_dir).map_err(|e| Error::io(&dir_text, e))?;
        let mut zone = SortedZone {
            origin: origin.clone(),
            apex_spelling: None,
            class: class.unwrap_or(Class::IN),
            files,
            merge,
            chunk_nodes: chunk_nodes.max(1),
            pending: None,
            cut: None,
            first: true,
            nsec3_signatures: Some(BufWriter::new(nsec3_file)),
            nsec3_reader: None,
            nsec3_ahead: None,
            ahead: None,
            dir: dir_text,
            warned_oversized: false,
        };
        zone.pending = zone.next_node()?;
        Ok((zone, report))
    }

    /// The next chunk of nodes (the first starts at the apex), loaded and
    /// checked; `None` after the last.
    pub fn next_chunk(&mut self) -> Result<Option<Zone>> {
        let Some(first) = self.pending.take() else {
            return Ok(None);
        };
        let mut nodes = Vec::new();
        let mut ds_lines = HashMap::new();
        let mut input_signatures = InputSignatures::new();
        let mut loaded = Some(first);
        while let Some(Loaded {
            node,
            ds_line,
            signatures,
        }) = loaded.take()
        {
            // What `classify` would say of the node: below the cut or not.
            let below = self.cut.as_ref().is_some_and(|cut| {
                node.owner.is_subdomain_of(cut) && !node.owner.eq_ignore_case(cut)
            });
            if !below {
                if !nodes.is_empty() && nodes.len() >= self.chunk_nodes {
                    loaded = Some(Loaded {
                        node,
                        ds_line,
                        signatures,
                    });
                    break;
                }
                let apex = self.first && nodes.is_empty();
                self.cut = ((!apex && node.has(RType::NS)) || node.has(RType::DNAME))
                    .then(|| node.owner.clone());
            }
            if nodes.len() >= OVERSIZED_CHUNK * self.chunk_nodes && !self.warned_oversized {
                // A chunk ends only before a name that is not occluded:
                // the names below one cut all go in its chunk. Correct,
                // but no longer bounded by the chunk size.
                self.warned_oversized = true;
                crate::cli::warn(&format!(
                    "more than {} names lie below the zone cut at '{}': they are held in memory together (--low-memory bounds chunks of names that are not occluded)",
                    nodes.len(),
                    self.cut.as_ref().map_or_else(String::new, ToString::to_string)
                ));
            }
            if let Some(line) = ds_line {
                ds_lines.insert(node.owner.to_lowercase(), line);
            }
            for (key, rdata) in signatures {
                input_signatures.push(&key.0, key.1, &rdata);
            }
            nodes.push(node);
            loaded = self.next_node()?;
        }
        self.pending = loaded;
        input_signatures.finish();
        if self.first {
            let apex = nodes
                .first()
                .filter(|n| n.owner.eq_ignore_case(&self.origin));
            let Some(apex) = apex else {
                return Err(Error::Failed(format!(
                    "zone '{}' has no SOA record at its apex",
                    self.origin
                )));
            };
            self.apex_spelling = Some(apex.owner.clone());
        }
        let zone = Zone {
            origin: self
                .apex_spelling
                .clone()
                .unwrap_or_else(|| self.origin.clone()),
            class: self.class,
            nodes,
            input_signatures,
        };
        zone.check(&ds_lines)?;
        self.first = false;
        Ok(Some(zone))
    }

    /// The next node of the merged records, its records applied in input
    /// order as [`Zone::load`] applies them. Owners with only RRSIGs make
    /// no node; their signatures ride with the next node's.
    fn next_node(&mut self) -> Result<Option<Loaded>> {
        let mut node: Option<Node> = None;
        let mut ds_line = None;
        let mut signatures = Vec::new();
        let mut run: (u64, Vec<RType>) = (u64::MAX, Vec::new());
        let mut first_owner: Option<Name> = None;
        while let Some(item) = self.peek_item()? {
            if let Some(owner) = &first_owner {
                if !owner.eq_ignore_case(&item.owner) {
                    if node.is_some() {
                        break;
                    }
                    // An owner with signatures alone: no node, go on.
                    run = (u64::MAX, Vec::new());
                }
            }
            let item = self.take_item()?;
            first_owner = Some(item.owner.clone());
            if item.rtype == RType::RRSIG {
                let covered = RType(u16::from_be_bytes([item.wire[0], item.wire[1]]));
                let key = (item.owner.to_lowercase(), covered);
                if covered == RType::NSEC3 {
                    self.spill_nsec3_signature(&key.0, &item.wire)?;
                } else {
                    signatures.push((key, item.wire));
                }
                continue;
            }
            let file = self.files[item.file as usize].clone();
            let apex = item.owner.eq_ignore_case(&self.origin);
            let record = super::Record {
                owner: item.owner,
                ttl: item.ttl,
                ttl_known: true,
                class: self.class,
                rtype: item.rtype,
                rdata: Vec::new(),
                origin: self.origin.clone(),
                file: file.clone(),
                line: item.line as usize,
                batch: item.batch,
                included: item.included,
            };
            let node = node.get_or_insert_with(|| Node {
                owner: record.owner.clone(),
                rrsets: Vec::with_capacity(1),
            });
            if record.rtype == RType::DS && ds_line.is_none() {
                ds_line = Some((file, record.line));
            }
            cname_conflict(&node.rrsets, &record, &item.wire, apex)?;
            if run.0 != record.batch {
                run = (record.batch, Vec::new());
            }
            let first_in_run = !run.1.contains(&record.rtype);
            if first_in_run {
                run.1.push(record.rtype);
            }
            match node.rrsets.iter_mut().find(|s| s.rtype == record.rtype) {
                Some(rrset) => {
                    if first_in_run && rrset.ttl != record.ttl {
                        crate::cli::warn(&format!(
                            "{}:{}: TTL {} replaces the TTL {} of earlier records of the RRset, as BIND loads it",
                            record.file, record.line, record.ttl, rrset.ttl
                        ));
                        rrset.ttl = record.ttl;
                    }
                    rrset.rdatas.push(&item.wire);
                }
                None => node.rrsets.push(RrSet {
                    rtype: record.rtype,
                    ttl: record.ttl,
                    rdatas: Rdatas::one(&item.wire),
                }),
            }
        }
        let Some(mut node) = node else {
            // Signatures after the last node: nothing to reuse them for.
            return Ok(None);
        };
        node.rrsets.sort_by_key(|s| s.rtype);
        node.rrsets.shrink_to_fit();
        for rrset in &mut node.rrsets {
            let rtype = rrset.rtype;
            rrset
                .rdatas
                .sort_dedup_by(|a, b| rdata::canonical(rtype, a).cmp(&rdata::canonical(rtype, b)));
        }
        Ok(Some(Loaded {
            node,
            ds_line,
            signatures,
        }))
    }

    fn peek_item(&mut self) -> Result<Option<&Item>> {
        if self.ahead.is_none() {
            self.ahead = self.merge.next()?;
        }
        Ok(self.ahead.as_ref())
    }

    fn take_item(&mut self) -> Result<Item> {
        match self.ahead.take() {
            Some(item) => Ok(item),
            None => self
                .merge
                .next()?
                .ok_or_else(|| Error::Failed("the sorted records ended early".into())),
        }
    }

    fn dir_text(&self) -> String {
        self.dir.clone()
    }

    fn spill_nsec3_signature(&mut self, owner: &Name, rdata: &[u8]) -> Result<()> {
        let dir = self.dir_text();
        let Some(out) = self.nsec3_signatures.as_mut() else {
            return Err(Error::Failed("NSEC3 signatures after the chain".into()));
        };
        let wire = owner.wire();
        out.write_all(&[wire.len() as u8])
            .and_then(|()| out.write_all(wire))
            .and_then(|()| out.write_all(&(rdata.len() as u16).to_be_bytes()))
            .and_then(|()| out.write_all(rdata))
            .map_err(|e| Error::io(dir, e))
    }

    /// The input's RRSIGs over NSEC3 RRsets whose owners sort at or before
    /// `last` and after those of the previous call (NSEC3 owners sort in
    /// hash order), for signing the NSEC3 records up to `last` (`None`:
    /// all that are left). Called
    /// once every chunk was taken.
    pub fn nsec3_signatures_upto(&mut self, last: Option<&Name>) -> Result<InputSignatures> {
        let dir = self.dir_text();
        if let Some(out) = self.nsec3_signatures.take() {
            let file = rewound(out).map_err(|e| Error::io(&dir, e))?;
            self.nsec3_reader = Some(BufReader::with_capacity(1 << 16, file));
        }
        let mut found = InputSignatures::new();
        loop {
            if self.nsec3_ahead.is_none() {
                let Some(input) = self.nsec3_reader.as_mut() else {
                    break;
                };
                self.nsec3_ahead = read_signature(input).map_err(|e| Error::io(&dir, e))?;
            }
            let Some((owner, _)) = &self.nsec3_ahead else {
                break;
            };
            if last.is_some_and(|last| owner.canonical_cmp(last) == Ordering::Greater) {
                break;
            }
            if let Some((owner, rdata)) = self.nsec3_ahead.take() {
                found.push(&owner, RType::NSEC3, &rdata);
            }
        }
        found.finish();
        Ok(found)
    }
}

fn read_signature(input: &mut impl Read) -> std::io::Result<Option<(Name, Vec<u8>)>> {
    let mut len = [0u8; 1];
    if input.read(&mut len)? == 0 {
        return Ok(None);
    }
    let mut owner = vec![0; len[0] as usize];
    input.read_exact(&mut owner)?;
    let mut rdata_len = [0u8; 2];
    input.read_exact(&mut rdata_len)?;
    let mut rdata = vec![0; u16::from_be_bytes(rdata_len) as usize];
    input.read_exact(&mut rdata)?;
    let (owner, _) = Name::from_wire(&owner)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
    Ok(Some((owner, rdata)))
}

/// Sorts `buffer` (stably: a name's records keep their input order) and
/// writes it as run number `number`, an anonymous file in `dir`, rewound
/// for reading; empties the buffer.
fn spill(buffer: &mut Vec<Item>, dir: &Path, number: usize) -> Result<std::fs::File> {
    buffer.sort_by(|a, b| a.owner.canonical_cmp(&b.owner));
    let shown = dir.display().to_string();
    let file = tempfile::tempfile_in(dir).map_err(|e| Error::io(&shown, e))?;
    let mut out = BufWriter::with_capacity(1 << 16, file);
    for item in buffer.drain(..) {
        item.write(&mut out).map_err(|e| Error::io(&shown, e))?;
    }
    let file = rewound(out).map_err(|e| Error::io(&shown, e))?;
    crate::cli::verbose(2, &format!("spilled sort run {number}"));
    Ok(file)
}

/// The file behind `out`, flushed and rewound for reading.
fn rewound(out: BufWriter<std::fs::File>) -> std::io::Result<std::fs::File> {
    use std::io::{Seek, SeekFrom};
    let mut file = out.into_inner().map_err(|e| e.into_error())?;
    file.seek(SeekFrom::Start(0))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The output's directory is not trusted: the sort's spill files must
    /// have no names there that another account could swap for a symbolic
    /// link or edit between writing and reading them.
    #[test]
    fn spilled_runs_leave_no_name_in_the_directory() {
        let origin = Name::parse("example.com.", None).expect("origin");
        let mut text = String::from("$TTL 300\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n");
        for i in (0..400).rev() {
            text.push_str(&format!("h{i} A 192.0.2.{}\n", i % 250));
        }
        let reader = ZoneReader::new(
            Box::new(std::io::Cursor::new(text.into_bytes())),
            "t.zone",
            None,
            origin.clone(),
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut sorted, _) =
            SortedZone::read(reader, &origin, 2_000, 50, dir.path()).expect("sorted");
        let names = |dir: &Path| -> Vec<String> {
            std::fs::read_dir(dir)
                .expect("list")
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(names(dir.path()), Vec::<String>::new());
        let mut count = 0;
        while let Some(chunk) = sorted.next_chunk().expect("chunk") {
            count += chunk.nodes.len();
        }
        assert_eq!(count, 402, "every name, in chunks");
        assert_eq!(names(dir.path()), Vec::<String>::new());
    }
}
