//! Which keys sign a zone, and where they are: BIND key files named on the
//! command line, the key directory under smart signing (`-S`, with the
//! timing metadata rules of BIND 9.18, bind-tools.md §9.5), or PKCS#11
//! URIs given directly. Every key's private half is in a token: a key file
//! with private key material is refused. A key whose `.private` is missing
//! or says `External:` (BIND's dnssec-importkey) is published and never
//! signs: multi-signer setups and migrations pre-publish such keys.

use crate::algorithm::Algorithm;
use crate::cli::{ConnectionArgs, Environment, TokenArgs};
use crate::dnskey::{self, DnsKey, FLAG_REVOKE, FLAG_SEP, FLAG_ZONE};
use crate::error::{Error, Result};
use crate::keyfile::{key_file_path, parse_private, read_key_file, KeyFileTrust};
use crate::name::Name;
use crate::pkcs11::keypair::find_key_pair;
use crate::pkcs11::object::ObjectSelector;
use crate::pkcs11::pool::{Member, PoolKey, PoolStore, TokenPool};
use crate::pkcs11::signer::TokenIdentity;
use crate::pkcs11::{Module, ModuleChoice, SlotSummary};
use crate::sign::SigningKey;
use crate::uri::{KeyLabel, Pkcs11Uri};
use std::path::{Path, PathBuf};

/// A key's URI and where it came from, which decides what it may choose.
#[derive(Clone, Debug)]
pub enum KeyUri {
    /// Named on the command line: all of RFC 7512, the module and the PIN too.
    CommandLine(Pkcs11Uri),
    /// A key file's `Label:`: the token and the object only.
    KeyFile(KeyLabel),
}

impl KeyUri {
    /// The URI, for finding the object.
    pub fn uri(&self) -> &Pkcs11Uri {
        match self {
            KeyUri::CommandLine(uri) => uri,
            KeyUri::KeyFile(label) => label.uri(),
        }
    }
}

/// A key to use, before the token is opened.
#[derive(Clone, Debug)]
pub struct KeyRequest {
    /// The token object (from a key file's `Label:` or the command line);
    /// `None` for a publish-only key (no `.private`, or `External:`).
    pub uri: Option<KeyUri>,
    /// The DNSKEY a key file gives; `None` for a URI.
    pub dnskey: Option<DnsKey>,
    /// `-k`: treat as a KSK.
    pub force_ksk: bool,
    pub publish: bool,
    pub active: bool,
    /// The key file's base name or the URI, for messages.
    pub name: String,
    /// Found in the key directory by `-S` (for the report line).
    pub from_repository: bool,
    /// The TTL written in the `.key` file, if any (it sets the DNSKEY
    /// RRset's TTL when the zone has none, as in BIND).
    pub ttl: Option<u32>,
    /// Between SyncPublish and SyncDelete: its CDS and CDNSKEY are published.
    pub cds: bool,
}

/// What smart signing takes out of the zone: DNSKEYs past their Delete
/// time (and the unrevoked form of revoked keys), and the CDS/CDNSKEY of
/// keys past SyncDelete.
#[derive(Clone, Debug, Default)]
pub struct Withdrawn {
    /// Past Delete.
    pub dnskeys: Vec<DnsKey>,
    /// The unrevoked DNSKEYs of revoked keys.
    pub revoked: Vec<DnsKey>,
    /// CDS and CDNSKEY to remove (past SyncDelete or Delete).
    pub sync: Vec<DnsKey>,
}

/// The keys chosen for a run and what is withdrawn from the zone.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    pub requests: Vec<KeyRequest>,
    pub withdrawn: Withdrawn,
}

/// A key named on the command line: a PKCS#11 URI, or a BIND key file
/// (relative names are looked for in the key directory, as BIND does).
pub fn from_argument(
    argument: &str,
    key_dir: Option<&Path>,
    origin: &Name,
    force_ksk: bool,
    trust: &KeyFileTrust,
) -> Result<KeyRequest> {
    if Pkcs11Uri::is_uri(argument) {
        let uri = Pkcs11Uri::parse(argument)?;
        // Messages name the key without its pin-value (nor module): an
        // error line ends up in cron mail and logs.
        let name = uri.without_secrets().to_string();
        return Ok(KeyRequest {
            uri: Some(KeyUri::CommandLine(uri)),
            dnskey: None,
            force_ksk,
            publish: true,
            active: true,
            name,
            from_repository: false,
            ttl: None,
            cds: false,
        });
    }
    let mut path = key_file_path(argument);
    if let Some(dir) = key_dir {
        if path.is_relative() {
            path = dir.join(path);
        }
    }
    let (request, _) = from_key_files(&path, origin, force_ksk, trust)?;
    let active = request.uri.is_some();
    if !active {
        crate::cli::warn(&format!(
            "key {} has no private key in a token (no .private, or External:): it is published and does not sign",
            request.name
        ));
    }
    Ok(KeyRequest {
        publish: true,
        active,
        ..request
    })
}

/// The timing comments of a `.key` file (`; Publish: YYYYMMDDHHMMSS (...)`),
/// for a publish-only key that has no `.private` to hold them.
fn key_comment_timing(text: &str) -> crate::keyfile::KeyTiming {
    let mut timing = crate::keyfile::KeyTiming::default();
    for line in text.lines() {
        let Some(rest) = line.trim_start().strip_prefix(';') else {
            continue;
        };
        let Some((tag, value)) = rest.split_once(':') else {
            continue;
        };
        let time = value
            .split_whitespace()
            .next()
            .and_then(crate::time::parse_timestamp);
        let slot = match tag.trim() {
            "Created" => &mut timing.created,
            "Publish" => &mut timing.publish,
            "Activate" => &mut timing.activate,
            "Revoke" => &mut timing.revoke,
            "Inactive" => &mut timing.inactive,
            "Delete" => &mut timing.delete,
            "SyncPublish" => &mut timing.sync_publish,
            "SyncDelete" => &mut timing.sync_delete,
            _ => continue,
        };
        *slot = time;
    }
    timing
}

/// Reads a `.key`/`.private` pair; returns the request and the private
/// file's timing and format version.
fn from_key_files(
    key_path: &Path,
    origin: &Name,
    force_ksk: bool,
    trust: &KeyFileTrust,
) -> Result<(KeyRequest, crate::keyfile::PrivateKeyFile)> {
    let key = read_key_file(key_path, trust)?;
    let shown = key_path.display().to_string();
    if !key.owner.eq_ignore_case(origin) {
        return Err(Error::Failed(format!(
            "key {shown} not at origin ({} is not {origin})",
            key.owner
        )));
    }
    let private_path = PathBuf::from(shown.trim_end_matches(".key").to_string() + ".private");
    let private_shown = private_path.display().to_string();
    let private = match trust.read(&private_path) {
        Ok(text) => parse_private(&text, &private_shown)?,
        // No .private: a publish-only key, timed by its .key comments.
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            let text = trust.read(key_path)?;
            crate::keyfile::PrivateKeyFile {
                major: 1,
                minor: 3,
                algorithm: key.dnskey.algorithm,
                timing: key_comment_timing(&text),
                external: true,
                ..Default::default()
            }
        }
        Err(other) => return Err(other),
    };
    if private.has_key_material {
        return Err(Error::Failed(format!(
            "{private_shown} holds a private key: zone-sign signs only with keys in a token"
        )));
    }
    let uri = match (&private.label, private.external) {
        (Some(label), _) => Some(KeyUri::KeyFile(label.clone())),
        (None, true) => None,
        (None, false) => {
            return Err(Error::Input {
                file: private_shown.clone(),
                line: None,
                message:
                    "no Label: naming the key in a token (nor External: for a publish-only key)"
                        .into(),
            })
        }
    };
    let name = key_path
        .file_name()
        .map(|n| n.to_string_lossy().trim_end_matches(".key").to_string())
        .unwrap_or(shown);
    Ok((
        KeyRequest {
            uri,
            dnskey: Some(key.dnskey),
            force_ksk,
            publish: false,
            active: false,
            name,
            from_repository: false,
            ttl: key.ttl,
            cds: false,
        },
        private,
    ))
}

/// The zone's keys in the key directory, with their state at `now`
/// (BIND 9.16 smart signing, bind-lifecycle.md §3.2): published once
/// Publish has passed (or when signing without a Publish time), signing
/// between Activate and Inactive, revoked after Revoke (and then signing
/// the DNSKEY RRset until Delete, even after Inactive, as RFC 5011 §2.1
/// needs), withdrawn after Delete, with CDS/CDNSKEY between SyncPublish
/// and SyncDelete. Keys in the old v1.2 format are ignored, as BIND
/// ignores them. A v1.3 file with no timing metadata at all (as the HSM
/// guide writes by hand) is published and used, as BIND's manual says;
/// BIND 9.18 itself ignores such keys, which would leave the guide's zone
/// unsigned. A `.key` without `.private` is published by its comments'
/// times (BIND never takes it from the repository; a key pre-published
/// for a multi-signer zone needs it).
pub fn smart(key_dir: &Path, origin: &Name, now: i64, trust: &KeyFileTrust) -> Result<Selection> {
    let prefix = format!("K{}+", origin.key_file_text());
    let entries =
        std::fs::read_dir(key_dir).map_err(|e| Error::io(key_dir.display().to_string(), e))?;
    let mut names: Vec<String> = entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter_map(|name| {
            // K<zone>+NNN+NNNNN.private or .key, compared as bytes (names
            // need not be ASCII).
            let base = name
                .strip_suffix(".private")
                .or_else(|| name.strip_suffix(".key"))?;
            let bytes = base.as_bytes();
            let digits = |range: std::ops::Range<usize>| {
                bytes
                    .get(range)
                    .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
            };
            let p = prefix.len();
            (bytes.len() == p + 3 + 1 + 5
                && bytes[..p].eq_ignore_ascii_case(prefix.as_bytes())
                && digits(p..p + 3)
                && bytes[p + 3] == b'+'
                && digits(p + 4..p + 9))
            .then(|| base.to_string())
        })
        .collect();
    names.sort();
    names.dedup();
    let mut selection = Selection::default();
    for base in names {
        let key_path = key_dir.join(base + ".key");
        if !key_path.exists() {
            continue;
        }
        let (mut request, private) = from_key_files(&key_path, origin, false, trust)?;
        if (private.major, private.minor) < (1, 3) {
            continue;
        }
        let token = request.uri.is_some();
        let t = &private.timing;
        request.from_repository = true;
        if *t == crate::keyfile::KeyTiming::default() {
            request.publish = true;
            request.active = token;
            selection.requests.push(request);
            continue;
        }
        let passed = |time: Option<i64>| time.is_some_and(|t| t <= now);
        let Some(dnskey) = request.dnskey.clone() else {
            continue;
        };
        let mut unrevoked = dnskey.clone();
        unrevoked.flags &= !FLAG_REVOKE;
        let mut revoked = dnskey.clone();
        revoked.flags |= FLAG_REVOKE;
        if passed(t.sync_delete) || passed(t.delete) {
            selection.withdrawn.sync.push(unrevoked.clone());
            selection.withdrawn.sync.push(revoked.clone());
        }
        if passed(t.delete) {
            selection.withdrawn.dnskeys.push(unrevoked);
            selection.withdrawn.dnskeys.push(revoked);
            continue;
        }
        let mut active = passed(t.activate) && !passed(t.inactive);
        let published = passed(t.publish) || (active && t.publish.is_none());
        if !published && !active {
            continue;
        }
        if published && (passed(t.revoke) || dnskey.is_revoked()) {
            if let Some(key) = request.dnskey.as_mut() {
                key.flags |= FLAG_REVOKE;
            }
            // The unrevoked DNSKEY goes: a validator must see the revoked one.
            selection.withdrawn.revoked.push(unrevoked);
            active = true;
        }
        if active && !token {
            crate::cli::warn(&format!(
                "key {} is active but has no private key in a token (External: or no .private): it is published and does not sign",
                request.name
            ));
            active = false;
        }
        request.cds = passed(t.sync_publish) && !passed(t.sync_delete);
        request.publish = published;
        request.active = active;
        selection.requests.push(request);
    }
    Ok(selection)
}

/// Opens the tokens of the requested keys and finds each key; checks it
/// against its key file. Returns the signer's view of the keys and one
/// store per worker: each worker has its own logged-in session on every
/// token involved, and finds its key objects once (the PIN is obtained
/// once per token). Fewer workers than asked are opened if a token allows
/// fewer sessions. Publish-only keys need no token; they come last in the
/// key list, after the token keys (whose indexes the stores share).
///
/// With several tokens given as a pool (`--pool --token a --token b`, see
/// [`ConnectionArgs::take_pool`]) every key must be on every token, under
/// the same label and `CKA_ID` with the same public key (a token holding
/// another key is refused before anything is signed); the workers'
/// sessions are spread over the tokens, and a token that fails mid-run
/// hands its work to the others ([`crate::pkcs11::pool`]). One PIN, from
/// the one PIN source, goes to every token of the pool.
pub fn open_keys(
    all_requests: &[KeyRequest],
    connection: &ConnectionArgs,
    environment: &Environment,
    origin: &Name,
    zone_dnskeys: &[DnsKey],
    workers: usize,
) -> Result<(Vec<SigningKey>, Vec<PoolStore>)> {
    let requests: Vec<KeyRequest> = all_requests
        .iter()
        .filter(|r| r.uri.is_some())
        .cloned()
        .collect();
    let requests = &requests[..];
    let tokens = connection.tokens();
    let pooled = tokens.len() > 1;
    // Without a pool, key URIs choose their tokens; in a pool, the options do.
    let unpooled = connection.for_token(&TokenArgs::default());
    let mut module: Option<(ModuleChoice, Module)> = None;
    // The tokens involved, with the PIN for each.
    let mut slots: Vec<(SlotSummary, Option<crate::pin::Pin>)> = Vec::new();
    let mut key_slots = Vec::new();
    // In a pool: the token each key names (checked against the pool) and
    // the PIN source.
    let mut named_in_pool = Vec::new();
    let mut pool_pin = None;
    for request in requests {
        let (spec, named_by_key_file) = match token_uri(request)? {
            KeyUri::CommandLine(uri) if pooled => {
                let spec = unpooled.resolve(Some(uri), environment)?;
                let named = spec.token.clone();
                (spec, Some(named))
            }
            KeyUri::CommandLine(uri) => (connection.resolve(Some(uri), environment)?, None),
            KeyUri::KeyFile(label) if pooled => {
                let (spec, named) = unpooled.resolve_label(label, environment)?;
                (spec, Some(named))
            }
            KeyUri::KeyFile(label) => {
                let (spec, named) = connection.resolve_label(label, environment)?;
                (spec, Some(named))
            }
        };
        if module
            .as_ref()
            .is_some_and(|(choice, _)| *choice != spec.module)
        {
            return Err(Error::Failed(format!(
                "key {} is in another PKCS#11 module than the others: use one module",
                request.name
            )));
        }
        if module.is_none() {
            module = Some((spec.module.clone(), Module::load(&spec.module)?));
        }
        let Some((_, loaded)) = module.as_ref() else {
            return Err(Error::Failed("no PKCS#11 module".into()));
        };
        if pooled {
            named_in_pool.push((request, named_by_key_file.unwrap_or_default()));
            // One PIN goes to every token of a pool: a second one (another
            // pin-value) would be dropped without a word.
            if pool_pin.as_ref().is_some_and(|first| *first != spec.pin) {
                return Err(Error::usage(format!(
                    "key {}: its PIN is not the other keys' (pin-value or pin-source): a pool \
                     of tokens has one PIN",
                    request.name
                )));
            }
            pool_pin.get_or_insert(spec.pin);
            key_slots.push(0);
            continue;
        }
        let slot = loaded.select_token(&spec.token)?;
        // Checked before any login: see ConnectionArgs::resolve_label.
        if let Some(named) = named_by_key_file.filter(|named| !named.matches(&slot)) {
            return Err(Error::Failed(format!(
                "key {}: its key file names {}, but this run signs with {}, chosen by the \
                 command line or as the only token: the PIN goes only there (give --token \
                 to sign with another token)",
                request.name,
                named.describe(),
                slot.describe()
            )));
        }
        let index = match slots.iter().position(|(s, _)| s.id == slot.id) {
            Some(index) => index,
            None => {
                let needs_pin = slot.token.as_ref().is_some_and(|t| t.login_required());
                let pin = if needs_pin {
                    Some(spec.pin.obtain()?)
                } else {
                    None
                };
                slots.push((slot, pin));
                slots.len() - 1
            }
        };
        key_slots.push(index);
    }
    let Some((_, module)) = module else {
        return Err(Error::Failed("No signing keys specified or found.".into()));
    };
    // Key URIs naming one object on different tokens make them a pool
    // only when each token holds the same key pair: two keys under one
    // label on two tokens (a migration to a new HSM, an algorithm
    // rollover) stay two keys, each signing, as before pools existed.
    // The probe that shows it is the run's first session otherwise.
    let mut first_probe = None;
    let deduplicated;
    let mut requests = requests;
    if !pooled {
        let probe = open_worker(&module, &slots, requests, &key_slots)?;
        let pairs: Vec<&crate::pkcs11::keypair::KeyPair> =
            probe.1.iter().map(|(_, pair)| pair).collect();
        match same_key_on_tokens(requests, &key_slots, &pairs, slots.len()) {
            Some(kept) => {
                deduplicated = kept;
                key_slots = vec![0; deduplicated.len()];
                requests = &deduplicated[..];
            }
            None => first_probe = Some(probe),
        }
    }
    let by_uris = requests.len() < all_requests.iter().filter(|r| r.uri.is_some()).count();
    let members: Vec<Vec<(SlotSummary, Option<crate::pin::Pin>)>> = if by_uris {
        slots.into_iter().map(|slot| vec![slot]).collect()
    } else if pooled {
        pool_members(
            &module,
            connection,
            environment,
            &tokens,
            &named_in_pool,
            pool_pin,
        )?
        .into_iter()
        .map(|member| vec![member])
        .collect()
    } else {
        vec![slots]
    };
    let limits: Vec<usize> = members
        .iter()
        .map(|slots| {
            slots
                .iter()
                .filter_map(|(slot, _)| match slot.token.as_ref()?.max_session_count() {
                    cryptoki::slot::Limit::Max(max) if max > 0 => Some(max as usize),
                    _ => None,
                })
                .min()
                .unwrap_or(usize::MAX)
        })
        .collect();
    let session_limit = limits.iter().fold(0usize, |sum, l| sum.saturating_add(*l));
    let workers = workers.clamp(1, session_limit.max(1));

    // Each token's first session finds the keys (the first token's are
    // checked against their key files, every other token's against the
    // first's); the other sessions are opened afterwards in parallel,
    // since a network HSM takes a round trip or more for each call.
    let mut probes = Vec::with_capacity(members.len());
    for member in &members {
        let probe = match first_probe.take() {
            Some(probe) => Ok(probe),
            None => open_worker(&module, member, requests, &key_slots),
        };
        probes.push(probe.map_err(|error| match error {
            Error::NotFound(message) if members.len() > 1 => Error::NotFound(format!(
                "{message} ({}: every token of a pool must hold every signing key)",
                member[0].0.describe()
            )),
            other => other,
        })?);
    }
    let first_pairs: Vec<&crate::pkcs11::keypair::KeyPair> =
        probes[0].1.iter().map(|(_, pair)| pair).collect();
    for (member, (_, pairs)) in members.iter().zip(&probes).skip(1) {
        for ((request, (_, pair)), first) in requests.iter().zip(pairs).zip(&first_pairs) {
            check_same_key(request, &member[0].0, &members[0][0].0, pair, first)?;
        }
    }
    let mut keys: Vec<SigningKey> = Vec::new();
    let mut generated = Vec::new();
    for (request, pair) in requests.iter().zip(&first_pairs) {
        let (key, made_here) = signing_key(request, pair.public_key.clone(), origin, zone_dnskeys)?;
        keys.push(key);
        generated.push(made_here);
    }
    for request in all_requests.iter().filter(|r| r.uri.is_none()) {
        if let Some(dnskey) = &request.dnskey {
            let (key, _) = signing_key(request, dnskey.to_public_key()?, origin, zone_dnskeys)?;
            keys.push(key);
        }
    }
    check_roles_chosen(&keys, &generated, requests)?;
    // A key named by URI alone, the only kind of its algorithm, is a CSK:
    // give its new DNSKEY the SEP flag so that the zone has a KSK
    // (check_roles_chosen refused two such keys of one algorithm).
    for index in 0..generated.len() {
        let algorithm = keys[index].algorithm;
        let has_ksk = keys.iter().any(|k| k.algorithm == algorithm && k.ksk);
        if generated[index] && !has_ksk {
            let key = &mut keys[index];
            key.dnskey.flags |= FLAG_SEP;
            key.ksk = true;
            key.description = describe(origin, algorithm, &key.dnskey);
        }
    }
    let pool_keys = requests
        .iter()
        .zip(&first_pairs)
        .zip(keys.iter().zip(&key_slots))
        .map(|((request, pair), (key, &session))| {
            Ok(PoolKey {
                selector: ObjectSelector::from_uri(token_uri(request)?.uri()),
                session,
                label: pair.label.clone(),
                id: pair.id.clone(),
                public_key: pair.public_key.clone(),
                algorithm: key.algorithm,
                description: key.description.clone(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let pool_members = members
        .iter()
        .zip(&limits)
        .map(|(slots, &session_limit)| Member {
            name: slots
                .iter()
                .map(|(slot, _)| slot.describe())
                .collect::<Vec<_>>()
                .join(" and "),
            slots: slots.iter().map(|(s, pin)| (s.slot, pin.clone())).collect(),
            session_limit,
            tokens: slots
                .iter()
                .map(|(s, _)| s.token.as_ref().map(TokenIdentity::of))
                .collect(),
        })
        .collect();
    let pool = TokenPool::new(module.context().clone(), pool_members, pool_keys);
    if pool.is_pool() {
        crate::cli::verbose(
            1,
            &format!(
                "a pool of {} tokens: {}",
                members.len(),
                pool.report()
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    // The probes become the first session on their tokens; the rest go
    // to the token with the fewest sessions, which spreads them evenly.
    let mut stores = Vec::with_capacity(workers);
    for (member, (sessions, pairs)) in probes.into_iter().enumerate().take(workers) {
        let private = pairs
            .into_iter()
            .zip(requests)
            .map(|((_, pair), request)| {
                pair.private.ok_or_else(|| {
                    Error::NotFound(format!(
                        "key {}: the token shows no private key for it",
                        request.name
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        stores.push(pool.adopt(member, sessions, private));
    }
    let mut plan = Vec::new();
    for _ in stores.len()..workers {
        // Counted now so that the next one goes elsewhere; the store
        // opened counts itself, so this placeholder is released below.
        let Some(member) = pool.claim(&[]) else {
            break;
        };
        plan.push(member);
    }
    let others: Vec<Result<PoolStore>> = std::thread::scope(|scope| {
        let handles: Vec<_> = plan
            .iter()
            .map(|&member| {
                let pool = &pool;
                crate::threads::spawn_scoped(scope, "a session-opening", move || pool.open(member))
            })
            .collect();
        handles
            .into_iter()
            .map(|started| {
                started.and_then(|handle| {
                    handle.join().unwrap_or_else(|_| {
                        Err(Error::Failed("opening a signing session panicked".into()))
                    })
                })
            })
            .collect()
    });
    for &member in &plan {
        pool.release(member);
    }
    for opened in others {
        stores.push(opened?);
    }
    Ok((keys, stores))
}

/// Without pool options: the requests, each key once, when URIs name one
/// object (label, ID, class) on different tokens (`pkcs11:token=a;object=k`
/// and `pkcs11:token=b;object=k`) and `pairs` (each request's key as the
/// probe found it) show the same key pair (public key, `CKA_ID`, label)
/// under each name, every key on every one of the `slot_count` tokens;
/// `None` when no URI names a key on two tokens, or when any does but its
/// keys differ or a key is not on every token: then each URI is its own
/// key. A `-k` on any of a key's names makes it a KSK.
fn same_key_on_tokens(
    requests: &[KeyRequest],
    key_slots: &[usize],
    pairs: &[&crate::pkcs11::keypair::KeyPair],
    slot_count: usize,
) -> Option<Vec<KeyRequest>> {
    let mut kept: Vec<(KeyRequest, ObjectSelector, usize, Vec<usize>)> = Vec::new();
    let mut shared = false;
    for (index, ((request, &slot), pair)) in requests.iter().zip(key_slots).zip(pairs).enumerate() {
        let selector = ObjectSelector::from_uri(token_uri(request).ok()?.uri());
        match kept.iter_mut().find(|(_, s, _, _)| *s == selector) {
            Some((first, _, first_index, slots)) => {
                let first_pair = pairs.get(*first_index)?;
                if pair.public_key != first_pair.public_key
                    || pair.id != first_pair.id
                    || pair.label != first_pair.label
                {
                    return None;
                }
                shared |= !slots.contains(&slot);
                slots.push(slot);
                first.force_ksk |= request.force_ksk;
            }
            None => kept.push((request.clone(), selector, index, vec![slot])),
        }
    }
    let everywhere = kept
        .iter()
        .all(|(_, _, _, slots)| (0..slot_count).all(|s| slots.contains(&s)));
    (shared && everywhere).then(|| kept.into_iter().map(|(request, _, _, _)| request).collect())
}

/// The pool's tokens, each selected by its own `--slot`/`--token`/
/// `--serial`, with the one PIN for all: a key whose label or URI names a
/// token outside the pool is refused before any login, as for one token
/// (see ConnectionArgs::resolve_label).
fn pool_members(
    module: &Module,
    connection: &ConnectionArgs,
    environment: &Environment,
    tokens: &[TokenArgs],
    named: &[(&KeyRequest, crate::pkcs11::TokenSelector)],
    pin: Option<crate::pin::PinSource>,
) -> Result<Vec<(SlotSummary, Option<crate::pin::Pin>)>> {
    let mut slots: Vec<SlotSummary> = Vec::new();
    for token in tokens {
        let selector = connection
            .for_token(token)
            .resolve(None, environment)?
            .token;
        let slot = module.select_token(&selector)?;
        if slots.iter().any(|s| s.id == slot.id) {
            return Err(Error::usage(format!(
                "{} is named twice in the pool of tokens",
                slot.describe()
            )));
        }
        slots.push(slot);
    }
    for (request, selector) in named {
        if !selector.is_empty() && !slots.iter().any(|slot| selector.matches(slot)) {
            return Err(Error::Failed(format!(
                "key {}: it names {}, which is not a token of the pool ({}): the PIN goes \
                 only to the tokens given with --slot, --token or --serial",
                request.name,
                selector.describe(),
                slots
                    .iter()
                    .map(SlotSummary::describe)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let mut obtained = None;
    let mut members = Vec::with_capacity(slots.len());
    for slot in slots {
        let needs_pin = slot.token.as_ref().is_some_and(|t| t.login_required());
        let pin_here = match (&pin, needs_pin) {
            (Some(source), true) => {
                if obtained.is_none() {
                    obtained = Some(source.obtain()?);
                }
                obtained.clone()
            }
            _ => None,
        };
        members.push((slot, pin_here));
    }
    Ok(members)
}

/// Refuses a pool token whose key under the request's name is not the
/// first token's: another public key, label or `CKA_ID` (a token planted
/// in the pool must not sign).
fn check_same_key(
    request: &KeyRequest,
    token: &SlotSummary,
    first_token: &SlotSummary,
    pair: &crate::pkcs11::keypair::KeyPair,
    first: &crate::pkcs11::keypair::KeyPair,
) -> Result<()> {
    let what = if pair.public_key != first.public_key {
        "its public key differs".to_string()
    } else if pair.id != first.id {
        format!(
            "its CKA_ID is {}, not {}",
            crate::pkcs11::object::id_hex(&pair.id),
            crate::pkcs11::object::id_hex(&first.id)
        )
    } else if pair.label != first.label {
        format!(
            "its label is '{}', not '{}'",
            String::from_utf8_lossy(&pair.label),
            String::from_utf8_lossy(&first.label)
        )
    } else {
        return Ok(());
    };
    Err(Error::Failed(format!(
        "key {}: {} does not hold the same key pair as {} ({what}): every token of a pool must hold the same key; refused, nothing signed",
        request.name,
        token.describe(),
        first_token.describe()
    )))
}

/// The token URI of a request (publish-only ones have none and are never
/// looked for in a token).
fn token_uri(request: &KeyRequest) -> Result<&KeyUri> {
    request.uri.as_ref().ok_or_else(|| {
        Error::Failed(format!(
            "key {}: no token object (publish-only)",
            request.name
        ))
    })
}

/// Refuses to guess roles: two or more keys of one algorithm named by URI
/// alone (their DNSKEY neither in a key file nor at the apex), with no KSK
/// of that algorithm, would make the first one the KSK by argument order —
/// and the DS at the parent would follow that order.
fn check_roles_chosen(
    keys: &[SigningKey],
    generated: &[bool],
    requests: &[KeyRequest],
) -> Result<()> {
    for algorithm in algorithms(keys) {
        if keys.iter().any(|k| k.algorithm == algorithm && k.ksk) {
            continue;
        }
        let unsure: Vec<&str> = generated
            .iter()
            .zip(keys.iter().zip(requests))
            .filter(|(made_here, (key, _))| **made_here && key.algorithm == algorithm)
            .map(|(_, (_, request))| request.name.as_str())
            .collect();
        if unsure.len() > 1 {
            return Err(Error::usage(format!(
                "{} {algorithm} keys are named by URI alone ({}): which is the KSK is not known; give the KSK with -k URI (or --ksk URI), or use key files whose flags say (dnskey-from-label -f KSK -K DIR)",
                unsure.len(),
                unsure
                    .iter()
                    .map(|n| format!("'{n}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    Ok(())
}

/// One worker's logged-in sessions (one per token) and, for each request,
/// the index of its session and its key pair as that session sees it.
type WorkerSessions = (
    Vec<cryptoki::session::Session>,
    Vec<(usize, crate::pkcs11::keypair::KeyPair)>,
);

/// Opens and logs in one worker's sessions and finds every requested key.
fn open_worker(
    module: &Module,
    slots: &[(SlotSummary, Option<crate::pin::Pin>)],
    requests: &[KeyRequest],
    key_slots: &[usize],
) -> Result<WorkerSessions> {
    let mut sessions = Vec::with_capacity(slots.len());
    for (slot, pin) in slots {
        let session = module.open_session(slot, false)?;
        if let Some(pin) = pin {
            module.login_with_pin(&session, slot, pin)?;
        }
        sessions.push(session);
    }
    let mut pairs = Vec::with_capacity(requests.len());
    for (request, &session_index) in requests.iter().zip(key_slots) {
        let selector = ObjectSelector::from_uri(token_uri(request)?.uri());
        if selector.label.is_none() && selector.id.is_none() {
            return Err(Error::Failed(format!(
                "key {}: its label names no object (object= or id=)",
                request.name
            )));
        }
        let pair = find_key_pair(&sessions[session_index], &selector).map_err(|e| match e {
            Error::NotFound(message) => Error::NotFound(format!("key {}: {message}", request.name)),
            other => other,
        })?;
        pairs.push((session_index, pair));
    }
    Ok((sessions, pairs))
}

fn describe(origin: &Name, algorithm: Algorithm, dnskey: &DnsKey) -> String {
    format!(
        "{}/{}/{}",
        origin.to_string().trim_end_matches('.'),
        algorithm,
        dnskey.key_tag()
    )
}

/// The signer's view of one key; true if its DNSKEY was made here (named
/// by URI and not in the zone).
fn signing_key(
    request: &KeyRequest,
    public_key: crate::keys::PublicKey,
    origin: &Name,
    zone_dnskeys: &[DnsKey],
) -> Result<(SigningKey, bool)> {
    let mut made_here = false;
    let dnskey = match &request.dnskey {
        Some(dnskey) => {
            if dnskey.to_public_key()? != public_key {
                return Err(Error::Failed(format!(
                    "key file {} does not match the token object it names ({})",
                    request.name,
                    token_uri(request)?.uri().without_secrets()
                )));
            }
            dnskey.clone()
        }
        None => match zone_dnskeys
            .iter()
            .find(|k| k.to_public_key().is_ok_and(|p| p == public_key))
        {
            Some(key) => key.clone(),
            None => {
                made_here = true;
                let algorithm = dnskey::default_algorithm(&public_key);
                let flags = FLAG_ZONE | if request.force_ksk { FLAG_SEP } else { 0 };
                DnsKey::from_public_key(&public_key, algorithm, flags)?
            }
        },
    };
    let algorithm = dnskey.algorithm().ok_or_else(|| {
        Error::Failed(format!(
            "key {}: unsupported algorithm {}",
            request.name, dnskey.algorithm
        ))
    })?;
    dnskey::check_key_fits(&public_key, algorithm)?;
    let description = describe(origin, algorithm, &dnskey);
    Ok((
        SigningKey {
            ksk: dnskey.is_ksk() || request.force_ksk,
            algorithm,
            public_key,
            active: request.active,
            publish: request.publish,
            key_file_ttl: request.ttl,
            cds: request.cds,
            description,
            dnskey,
        },
        made_here,
    ))
}

/// The algorithms of a key list, for the report.
pub fn algorithms(keys: &[SigningKey]) -> Vec<Algorithm> {
    let mut out: Vec<Algorithm> = keys.iter().map(|k| k.algorithm).collect();
    out.sort();
    out.dedup();
    out
}

/// The keys to sign with: `named` ones (key files or URIs), `-k` ones,
/// and with `smart` (or when none are named) the zone's keys in the key
/// directory: by timing metadata under `-S`, else those whose DNSKEY is at
/// the apex (BIND's rule).
pub fn collect(
    named: &[String],
    ksks: &[String],
    smart_signing: bool,
    key_dir: Option<&Path>,
    zone: &crate::zone::model::Zone,
    now: i64,
    trust: &KeyFileTrust,
) -> Result<Selection> {
    let origin = &zone.origin;
    let mut withdrawn = Withdrawn::default();
    let mut requests = Vec::new();
    for key in named {
        requests.push(from_argument(key, key_dir, origin, false, trust)?);
    }
    for key in ksks {
        requests.push(from_argument(key, key_dir, origin, true, trust)?);
    }
    let dir = key_dir.map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    if smart_signing {
        let found = smart(&dir, origin, now, trust)?;
        withdrawn = found.withdrawn;
        for request in found.requests {
            let same_key = |r: &KeyRequest| {
                r.dnskey.as_ref().map(|k| &k.public_key)
                    == request.dnskey.as_ref().map(|k| &k.public_key)
            };
            if !requests.iter().any(|r| r.dnskey.is_some() && same_key(r)) {
                requests.push(request);
            }
        }
    } else if requests.is_empty() {
        let apex = zone.apex_dnskeys();
        for mut request in smart(&dir, origin, i64::MAX, trust)?.requests {
            if request
                .dnskey
                .as_ref()
                .is_some_and(|k| apex.iter().any(|a| a.public_key == k.public_key))
            {
                request.active = request.uri.is_some();
                request.publish = true;
                requests.push(request);
            }
        }
    }
    Ok(Selection {
        requests,
        withdrawn,
    })
}

/// Takes the withdrawn DNSKEYs out of the zone's apex DNSKEY RRset (a
/// signed input still holds them); returns BIND's report lines.
pub fn withdraw(zone: &mut crate::zone::model::Zone, withdrawn: &Withdrawn) -> Vec<String> {
    let origin = zone.origin.to_string().trim_end_matches('.').to_string();
    let mut lines = Vec::new();
    let Some(apex) = zone.nodes.first_mut() else {
        return lines;
    };
    if let Some(set) = apex
        .rrsets
        .iter_mut()
        .find(|s| s.rtype == crate::record::RType::DNSKEY)
    {
        let gone = withdrawn
            .dnskeys
            .iter()
            .map(|k| (k, "expired"))
            .chain(withdrawn.revoked.iter().map(|k| (k, "revoked")));
        for (key, what) in gone {
            let rdata = key.rdata();
            if set.rdatas.contains(&rdata) {
                let kept: Vec<Vec<u8>> = set
                    .rdatas
                    .iter()
                    .filter(|r| *r != rdata.as_slice())
                    .map(<[u8]>::to_vec)
                    .collect();
                set.rdatas = crate::zone::rdatas::Rdatas::new();
                for r in &kept {
                    set.rdatas.push(r);
                }
                let algorithm = key
                    .algorithm()
                    .map_or_else(|| key.algorithm.to_string(), |a| a.to_string());
                lines.push(format!(
                    "Removing {what} key {origin}/{}/{algorithm} from DNSKEY RRset.",
                    key.key_tag()
                ));
            }
        }
    }
    apex.rrsets
        .retain(|s| s.rtype != crate::record::RType::DNSKEY || !s.rdatas.is_empty());
    lines
}

/// BIND's summary lines: `Algorithm: ALG: KSKs: n active, n stand-by, n revoked`
/// and the ZSK line under it.
pub fn summary(keys: &[SigningKey]) -> Vec<String> {
    let mut lines = Vec::new();
    for algorithm in algorithms(keys) {
        let count = |ksk: bool, what: &dyn Fn(&SigningKey) -> bool| {
            keys.iter()
                .filter(|k| k.algorithm == algorithm && k.ksk == ksk && what(k))
                .count()
        };
        let line = |ksk: bool| {
            format!(
                "{} active, {} stand-by, {} revoked",
                count(ksk, &|k| k.active && !k.dnskey.is_revoked()),
                count(ksk, &|k| !k.active && !k.dnskey.is_revoked()),
                count(ksk, &|k| k.dnskey.is_revoked())
            )
        };
        let head = format!("Algorithm: {algorithm}: ");
        lines.push(format!("{head}KSKs: {}", line(true)));
        lines.push(format!("{}ZSKs: {}", " ".repeat(head.len()), line(false)));
    }
    lines
}

/// The keys whose DS goes in `dsset-<zone>.`: the KSKs, or all keys of an
/// algorithm that has no KSK; never revoked ones (BIND §9.4).
pub fn ds_keys(keys: &[SigningKey]) -> Vec<DnsKey> {
    let mut chosen = Vec::new();
    for algorithm in algorithms(keys) {
        let of: Vec<&SigningKey> = keys
            .iter()
            .filter(|k| {
                k.algorithm == algorithm && !k.dnskey.is_revoked() && (k.active || k.publish)
            })
            .collect();
        let has_both = of.iter().any(|k| k.ksk) && of.iter().any(|k| !k.ksk);
        chosen.extend(
            of.into_iter()
                .filter(|k| !has_both || k.ksk)
                .map(|k| k.dnskey.clone()),
        );
    }
    chosen
}

/// What BIND's `dnssec-verify` (without `-z`) says of the signing key set:
/// an algorithm with only KSKs or only ZSKs signing is rejected
/// (`Missing ZSK for algorithm ALG`, `No self-signed KSK DNSKEY found`),
/// though validators accept it. With `-z` (KSKs sign everything) BIND's
/// signzone checks as `dnssec-verify -z` does, and says nothing.
pub fn role_problems(keys: &[SigningKey], ksk_signs_all: bool) -> Vec<String> {
    if ksk_signs_all {
        return Vec::new();
    }
    let signing = |algorithm: Algorithm, ksk: bool| {
        keys.iter()
            .any(|k| k.active && !k.dnskey.is_revoked() && k.algorithm == algorithm && k.ksk == ksk)
    };
    let mut problems = Vec::new();
    let used: Vec<Algorithm> = algorithms(keys)
        .into_iter()
        .filter(|&a| signing(a, true) || signing(a, false))
        .collect();
    if !used.iter().any(|&a| signing(a, true)) {
        problems.push("No self-signed KSK DNSKEY found".to_string());
        return problems;
    }
    for algorithm in used {
        match (signing(algorithm, true), signing(algorithm, false)) {
            (true, false) => problems.push(format!("Missing ZSK for algorithm {algorithm}")),
            (false, true) => {
                problems.push(format!("Missing self-signed KSK for algorithm {algorithm}"))
            }
            _ => {}
        }
    }
    problems
}
