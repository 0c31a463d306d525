//! The verified-signature record (`<output>.p11v`): what zone-sign
//! verified, so that the next run need not verify it again.
//!
//! Re-signing an unchanged zone used to cost half a full signing, most of
//! it verifying signatures zone-sign itself had made and verified the run
//! before. The record holds, per RRSIG written, 16 octets of
//! SHA-256(domain tag ‖ the verifying key's DNSKEY RDATA ‖ the signed data
//! (RFC 4034 §3.1.8.1: RRSIG RDATA without the signature, then the RRset in
//! canonical form) ‖ the signature), sorted. An input signature whose
//! digest is in the record is kept without verifying it: the same key, the
//! same data and the same signature verified before, and verification is
//! a function of those alone, so the output is the one `--reverify` gives.
//! Entries bind themselves to key, owner, RRset and signature: a record
//! that is older or newer than the zone beside it (a crash between the two
//! renames, a zone edited by hand) vouches only for pairs that did verify,
//! and whatever it does not vouch for is verified as before.
//!
//! The output folder may be writable by another account (the house rule:
//! output folders are untrusted), so the record is authenticated: its
//! SHA-256 is signed in the token by each of the zone's active keys, and a
//! record is believed only if one of those signatures verifies under a
//! key that signs this run (so a ZSK rollover, where the key that signed
//! the last record stops signing, keeps the record its KSK signed). A planted or edited record
//! cannot vouch for a forged signature without the token. The choices
//! considered: an HMAC under a secret key in the token would need a token
//! object that zone-sign would have to create (silently, or by a new
//! ceremony) and every HSM to offer generic-secret MACs; a secret in a
//! file would be one more secret to protect. A signature by a key the run
//! already holds needs neither and costs a token call and a verification
//! per active key and run.
//!
//! The signed message can never be DNSSEC data: it is [`AUTH_TAG`] (whose
//! octet 18 is 0xFF) followed by the record's SHA-256. In the data an RRSIG
//! or SIG(0) signs (RFC 4034 §3.1.8.1, RFC 2931 §3.1), octet 18 is the
//! first length octet of the uncompressed signer name, at most 63; so no
//! validator can take the record's signature for a signature over DNS data.
//!
//! A record that cannot be read, does not authenticate, belongs to another
//! zone or to keys not signing now is ignored with one warning; never an
//! error, the run then verifies everything.

use super::verify::Verifier;
use super::{KeyStore, SigningKey};
use crate::error::{Error, Result};
use crate::name::Name;
use crate::zone::signatures::PrefixIndex;
use ring::digest::{Context, SHA256};
use std::io::Read;
use std::path::Path;

/// One entry: a truncated SHA-256 (see the module documentation).
pub type Digest = [u8; 16];

/// The file's first octets (a text line, for `file(1)` and humans).
const MAGIC: &[u8; 20] = b"p11dnssec-sidecar 1\n";

/// Domain separation of the entries' digests.
const ENTRY_TAG: &[u8; 24] = b"p11dnssec sidecar entry\0";

/// What the key signs over the record: this, then the record's SHA-256.
/// Octet 18 is 0xFF, never a DNS label length (see the module docs).
pub const AUTH_TAG: &[u8; 19] = b"p11dnssec-sidecar1\xff";

/// The sidecar of an output file: its name with `.p11v` appended.
pub fn path_for(output: &Path) -> std::path::PathBuf {
    let mut name = output.as_os_str().to_os_string();
    name.push(".p11v");
    std::path::PathBuf::from(name)
}

/// Digests of (key, signed data, signature), one hashing state per key
/// with the tag and the key's DNSKEY RDATA already in it.
#[derive(Clone)]
pub struct Hashers {
    prefixes: Vec<Context>,
}

impl std::fmt::Debug for Hashers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hashers({})", self.prefixes.len())
    }
}

impl Hashers {
    /// One hashing state per key, in key order.
    pub fn new(keys: &[SigningKey]) -> Hashers {
        let prefixes = keys
            .iter()
            .map(|key| {
                let rdata = key.dnskey.rdata();
                let mut context = Context::new(&SHA256);
                context.update(ENTRY_TAG);
                context.update(&(rdata.len() as u16).to_be_bytes());
                context.update(&rdata);
                context
            })
            .collect();
        Hashers { prefixes }
    }

    /// The entry for a signature by key `key` over `data`.
    pub fn digest(&self, key: usize, data: &[u8], signature: &[u8]) -> Digest {
        let mut context = self.prefixes[key].clone();
        context.update(&(data.len() as u32).to_be_bytes());
        context.update(data);
        context.update(signature);
        let mut out = [0; 16];
        out.copy_from_slice(&context.finish().as_ref()[..16]);
        out
    }
}

/// The entries of a record that authenticated: what needs no verifying.
#[derive(Debug, Default)]
pub struct Vouched {
    entries: Vec<Digest>,
    /// By the first four octets: the digests are uniform, so a lookup
    /// reads a slot and an entry or two, not a cache miss per step of a
    /// binary search (a twentieth of a re-sign).
    index: PrefixIndex,
}

/// The first four octets of a digest, the key of [`Vouched`]'s index.
fn prefix(digest: &Digest) -> u32 {
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

impl Vouched {
    fn new(entries: Vec<Digest>) -> Vouched {
        let index = PrefixIndex::new(entries.iter().map(prefix), entries.len());
        Vouched { entries, index }
    }

    /// True if the record vouches for this entry.
    pub fn contains(&self, digest: &Digest) -> bool {
        self.entries
            .get(self.index.range(prefix(digest)))
            .is_some_and(|slot| slot.binary_search(digest).is_ok())
    }

    /// How many entries the record has.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if the record has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Reads the record at `path` for a zone `origin` signed with `keys`.
/// `None` (after one warning, unless there is no file) when it is absent,
/// unreadable, larger than `max_entries` entries, malformed, of another
/// zone, or not signed by a key that signs now.
pub fn read(
    path: &Path,
    origin: &Name,
    keys: &[SigningKey],
    max_entries: usize,
) -> Option<Vouched> {
    let ignored = |why: &str| {
        crate::cli::warn(&format!(
            "ignoring the verified-signature record '{}': {why}; every kept signature is verified",
            path.display()
        ));
        None
    };
    let file = match crate::inputs::open_regular(path, false) {
        Ok(file) => file,
        Err(crate::inputs::Refusal::Io(error)) if error.kind() == std::io::ErrorKind::NotFound => {
            return None
        }
        Err(refusal) => return ignored(&refusal.to_string()),
    };
    // The header (origin, keys, signature) is small; the rest is entries.
    let limit = (max_entries as u64 + 1) * 16 + 65536;
    let mut bytes = Vec::new();
    if let Err(error) = file.take(limit + 1).read_to_end(&mut bytes) {
        return ignored(&crate::error::io_reason(&error));
    }
    if bytes.len() as u64 > limit {
        return ignored("it is larger than the input's signatures can need");
    }
    match parse(&bytes, origin, keys) {
        Ok(vouched) => Some(vouched),
        Err(why) => ignored(why),
    }
}

/// A cursor over the record's octets.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, len: usize) -> std::result::Result<&'a [u8], &'static str> {
        let end = self.at.checked_add(len).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or("it is truncated")?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u16(&mut self) -> std::result::Result<usize, &'static str> {
        let b = self.take(2)?;
        Ok(usize::from(u16::from_be_bytes([b[0], b[1]])))
    }

    fn u32(&mut self) -> std::result::Result<usize, &'static str> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }

    fn sized(&mut self) -> std::result::Result<&'a [u8], &'static str> {
        let len = self.u16()?;
        self.take(len)
    }
}

fn parse(
    bytes: &[u8],
    origin: &Name,
    keys: &[SigningKey],
) -> std::result::Result<Vouched, &'static str> {
    let mut cursor = Cursor { bytes, at: 0 };
    if cursor.take(MAGIC.len()).ok() != Some(&MAGIC[..]) {
        return Err("it is not a p11dnssec record of this version");
    }
    if cursor.sized()? != origin.canonical_wire().as_slice() {
        return Err("it belongs to another zone");
    }
    let key_count = cursor.u16()?;
    let mut recorded = Vec::with_capacity(key_count.min(64));
    for _ in 0..key_count {
        recorded.push(cursor.sized()?);
    }
    let count = cursor.u32()?;
    let entries = cursor.take(count.checked_mul(16).ok_or("it is truncated")?)?;
    let body_end = cursor.at;
    let message = auth_message(&bytes[..body_end]);
    let signatures = cursor.u16()?;
    let mut by_signing_key = false;
    let mut authentic = false;
    for _ in 0..signatures {
        let signer = recorded
            .get(cursor.u16()?)
            .ok_or("it names no signing key")?;
        let signature = cursor.sized()?;
        let Some(key) = keys
            .iter()
            .find(|k| k.active && k.dnskey.rdata() == *signer)
        else {
            continue;
        };
        by_signing_key = true;
        authentic = authentic
            || Verifier::new(&key.public_key, key.algorithm)
                .is_ok_and(|verifier| verifier.verify(&message, signature));
    }
    if cursor.at != bytes.len() {
        return Err("it has data after its signatures");
    }
    if !by_signing_key {
        return Err("it was signed by keys that do not sign this zone now");
    }
    if !authentic {
        return Err("its signature does not verify");
    }
    let mut out: Vec<Digest> = entries
        .chunks_exact(16)
        .map(|c| {
            let mut d = [0; 16];
            d.copy_from_slice(c);
            d
        })
        .collect();
    // Written sorted; sorting again costs little and keeps the search honest.
    out.sort_unstable();
    Ok(Vouched::new(out))
}

/// What the key signs: the tag, then the SHA-256 of the record's body.
fn auth_message(body: &[u8]) -> Vec<u8> {
    let mut message = AUTH_TAG.to_vec();
    message.extend_from_slice(ring::digest::digest(&SHA256, body).as_ref());
    message
}

/// The record for `entries` (sorted and deduplicated here), signed with
/// every active key through `store`, each signature verified before it is
/// written. A key the token cannot sign with now (a KSK kept offline) is
/// left out; with none at all the run fails.
pub fn build(
    origin: &Name,
    keys: &[SigningKey],
    mut entries: Vec<Digest>,
    store: &mut dyn KeyStore,
) -> Result<Vec<u8>> {
    entries.sort_unstable();
    entries.dedup();
    let mut body = Vec::with_capacity(64 + entries.len() * 16);
    body.extend_from_slice(MAGIC);
    let origin_wire = origin.canonical_wire();
    body.extend_from_slice(&(origin_wire.len() as u16).to_be_bytes());
    body.extend_from_slice(&origin_wire);
    body.extend_from_slice(&(keys.len() as u16).to_be_bytes());
    for key in keys {
        let rdata = key.dnskey.rdata();
        body.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        body.extend_from_slice(&rdata);
    }
    body.extend_from_slice(&(entries.len() as u32).to_be_bytes());
    for entry in &entries {
        body.extend_from_slice(entry);
    }
    let message = auth_message(&body);
    let mut signatures: Vec<(usize, Vec<u8>)> = Vec::new();
    let mut failure = None;
    for (index, key) in keys.iter().enumerate().filter(|(_, k)| k.active) {
        let signature = match store.sign(index, &message) {
            Ok(signature) => signature,
            Err(error) => {
                crate::cli::verbose(
                    2,
                    &format!(
                        "{} did not sign the verified-signature record: {error}",
                        key.description
                    ),
                );
                failure = Some(error);
                continue;
            }
        };
        if !Verifier::new(&key.public_key, key.algorithm)?.verify(&message, &signature) {
            return Err(Error::Failed(format!(
                "the token's signature by {} over the verified-signature record does not verify",
                key.description
            )));
        }
        signatures.push((index, signature));
    }
    if signatures.is_empty() {
        return Err(failure.unwrap_or_else(|| {
            Error::Failed("no active key to sign the verified-signature record".into())
        }));
    }
    body.extend_from_slice(&(signatures.len() as u16).to_be_bytes());
    for (index, signature) in &signatures {
        body.extend_from_slice(&(*index as u16).to_be_bytes());
        body.extend_from_slice(&(signature.len() as u16).to_be_bytes());
        body.extend_from_slice(signature);
    }
    Ok(body)
}
