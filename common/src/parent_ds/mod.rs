//! Is a key's DS published at the parent? Asked of the parent zone's
//! authoritative servers over DNS (RFC 1035 messages through hickory-proto,
//! UDP with TCP fallback on truncation), so that a KSK is only retired once
//! the new DS can be seen where resolvers will fetch it (RFC 7583 §3.3).
//!
//! Each server is asked, with RD clear and the DO bit set, for the child's
//! DS RRset, for the SOA above the child (which names the parent zone's
//! apex) and for the parent's DNSKEY RRset. Only authoritative answers
//! (AA) count. A DS counts when its digest, recomputed from the key with
//! [`crate::ds`], matches: SHA-256 or SHA-384; a SHA-1 DS alone does not
//! (RFC 8624 §3.3: validators may ignore it).
//!
//! When the parent is signed (it serves a DNSKEY RRset), the DS RRset must
//! carry an RRSIG that verifies, valid at [`crate::time::now`], under a key
//! of a DNSKEY RRset that verifies under one of its own keys; otherwise the
//! answer is "not yet", so that a spoofed or broken answer cannot retire a
//! KSK. Without a trust anchor this is self-consistency of what the
//! parent's servers say, not a chain of trust from the root: an attacker
//! who can answer for every server asked (on the path, or in the
//! resolver's place for [`ParentServers::Discover`]) can make up a parent
//! that is unsigned or signed with its own keys. With
//! [`observe_parent_ds_anchored`] the parent's DNSKEY RRset must be signed
//! by one of the given keys, and an unsigned answer never validates.
//!
//! Against off-path forgery (RFC 5452): every query goes from a fresh
//! socket on a kernel-chosen ephemeral port with a random ID; the socket
//! is connected to the server, so the kernel drops datagrams from any
//! other address or port; a reply counts only with our ID, opcode and
//! question, and anything else (garbage included) is ignored while the
//! wait goes on. A server silent for the timeout is asked once more; a
//! truncated answer is asked again over TCP.
//!
//! [`ParentServers::Discover`] asks the resolvers named in the
//! `P11DNSSEC_RESOLVER` environment variable (`address[#port]`, several
//! separated by commas), else those of /etc/resolv.conf, for the parent
//! zone, its NS and their addresses; see [`discover_parent_servers`].

mod discover;
mod query;

pub use discover::{
    discover_parent_servers, resolvers, resolvers_from, DiscoveredServers, RESOLVER_ENV,
};
pub use query::EDNS_PAYLOAD;

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::dnssec::rdata::{DNSSECRData, DNSKEY as HDnsKey, RRSIG};
use hickory_proto::dnssec::Verifier;
use hickory_proto::op::Message;
use hickory_proto::rr::{DNSClass, Name as HName, RData, Record as HRecord, RecordType};
use hickory_proto::serialize::binary::BinEncodable;

use crate::dnskey::DnsKey;
use crate::ds::DigestType;
use crate::name::Name;
use crate::verify_zone::{hname_of, rrsig_time, signed_data, MAX_KEYS_PER_TAG};
use crate::{Error, Result};
use query::{ask, rcode_problem, server_text, Mode};

/// Which servers to ask for the zone's DS RRset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParentServers {
    /// Exactly these (the policy's `parent-servers`); every one must answer.
    Listed(Vec<SocketAddr>),
    /// The parent zone's NS, found through the system resolver (the
    /// `nameserver` lines of /etc/resolv.conf, or `P11DNSSEC_RESOLVER`, see
    /// [`resolvers`]), asked on port 53. When no resolver answers, the
    /// result is `Err` naming the resolver: the DS is never taken as
    /// published then.
    Discover,
}

/// One question: does the parent of `zone` publish a DS for `key`?
#[derive(Debug, Clone)]
pub struct ParentDsQuery {
    /// The child zone whose DS is asked for.
    pub zone: Name,
    /// The key the DS must match (any digest type the parent uses).
    pub key: DnsKey,
    /// Where to ask.
    pub servers: ParentServers,
    /// Per-query timeout (UDP, then TCP). A silent server costs twice
    /// this (one UDP retry) before it is given up.
    pub timeout: Duration,
}

/// What the parent's servers said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DsObservation {
    /// Every server asked returns a DS matching the key.
    Published {
        /// How many servers were asked and agreed.
        servers: usize,
        /// The DS RRset's RRSIG verified under the parent's DNSKEY RRset
        /// (false: the parent is unsigned).
        validated: bool,
    },
    /// Not (yet) there, or not everywhere: why, in one line for the operator
    /// (e.g. "ns1.example. (192.0.2.1#53) has no DS for key 12345").
    NotYet { detail: String },
}

/// Asks the parent's servers; `Err` only when no answer could be had at all
/// (no server reachable, malformed replies), which the caller treats as
/// "not yet" with the error's text.
pub fn observe_parent_ds(query: &ParentDsQuery) -> Result<DsObservation> {
    observe(query, None)
}

/// [`observe_parent_ds`] with a trust anchor for the parent: its DNSKEY
/// RRset must be signed by one of `anchors` (the parent's KSKs, e.g. from
/// its own DS at the grandparent, checked by the operator), and an
/// unsigned parent is "not yet". `validated: true` then means a chain from
/// the anchor to the DS.
pub fn observe_parent_ds_anchored(
    query: &ParentDsQuery,
    anchors: &[DnsKey],
) -> Result<DsObservation> {
    if anchors.is_empty() {
        return Err(Error::Failed(
            "an empty trust anchor list for the parent".to_string(),
        ));
    }
    observe(query, Some(anchors))
}

/// A server to ask and how messages name it.
struct Server {
    label: String,
    address: SocketAddr,
}

/// What one server said.
enum Verdict {
    Has { validated: bool },
    Lacks(String),
}

/// What the check of every server shares.
struct Context<'a> {
    zone: &'a Name,
    hzone: HName,
    key: &'a DnsKey,
    timeout: Duration,
    anchors: Option<&'a [DnsKey]>,
    /// The parent's apex, when discovery found it.
    apex: Option<HName>,
    now: i64,
}

fn observe(query: &ParentDsQuery, anchors: Option<&[DnsKey]>) -> Result<DsObservation> {
    if query.zone.is_root() {
        return Err(Error::Failed(
            "the root zone has no parent to hold its DS".to_string(),
        ));
    }
    let (servers, apex) = match &query.servers {
        ParentServers::Listed(list) => (
            list.iter()
                .map(|&address| Server {
                    label: server_text(address),
                    address,
                })
                .collect::<Vec<_>>(),
            None,
        ),
        ParentServers::Discover => {
            let found = discover_parent_servers(&query.zone, &resolvers()?, 53, query.timeout)?;
            let apex = hname_of(&found.apex);
            let servers = found
                .servers
                .into_iter()
                .map(|(name, address)| Server {
                    label: format!("{name} ({})", server_text(address)),
                    address,
                })
                .collect();
            (servers, Some(apex))
        }
    };
    if servers.is_empty() {
        return Err(Error::Failed(format!(
            "no parent servers to ask for the DS of '{}'",
            query.zone
        )));
    }
    let context = Context {
        zone: &query.zone,
        hzone: hname_of(&query.zone),
        key: &query.key,
        timeout: query.timeout,
        anchors,
        apex,
        now: crate::time::now(),
    };
    // In parallel: an unreachable server costs its timeout once, not once
    // per server.
    let verdicts: Vec<std::result::Result<Verdict, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = servers
            .iter()
            .map(|server| {
                let context = &context;
                scope.spawn(move || context.check(server))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("the query thread failed".to_string()))
            })
            .collect()
    });
    let mut published = 0;
    let mut validated = true;
    let mut lacking = Vec::new();
    let mut errors = Vec::new();
    for (server, verdict) in servers.iter().zip(verdicts) {
        match verdict {
            Ok(Verdict::Has { validated: v }) => {
                published += 1;
                validated &= v;
            }
            Ok(Verdict::Lacks(detail)) => lacking.push(detail),
            Err(e) => errors.push(format!("{}: {e}", server.label)),
        }
    }
    if published == servers.len() {
        return Ok(DsObservation::Published {
            servers: published,
            validated,
        });
    }
    if published == 0 && lacking.is_empty() {
        return Err(Error::Failed(format!(
            "cannot ask the parent of '{}' for its DS: {}",
            query.zone,
            errors.join("; ")
        )));
    }
    lacking.extend(errors);
    Ok(DsObservation::NotYet {
        detail: lacking.join("; "),
    })
}

impl Context<'_> {
    /// Asks one server; `Err` when it gave no usable answer.
    fn check(&self, server: &Server) -> std::result::Result<Verdict, String> {
        let answer = self.authoritative(server, &self.hzone, RecordType::DS)?;
        let ds_records: Vec<&HRecord> = rrset(&answer, &self.hzone, RecordType::DS);
        // The child's own SOA in a DS answer: the server answered from the
        // child zone (RFC 4035 §3.1.4.1 sends DS questions to the parent
        // side), so it is no server of the parent's and never will show
        // the DS.
        if ds_records.is_empty()
            && answer
                .authorities
                .iter()
                .any(|r| r.record_type() == RecordType::SOA && r.name == self.hzone)
        {
            return Err(format!(
                "DS {}: answered from the zone {} itself, not from its parent: not a server of the parent zone",
                self.hzone, self.hzone
            ));
        }
        if let Some(problem) = self.match_ds(&ds_records) {
            return Ok(Verdict::Lacks(format!("{} {problem}", server.label)));
        }
        let apex = match &self.apex {
            Some(apex) => apex.clone(),
            None => self.find_apex(server)?,
        };
        let keys_answer = self.authoritative(server, &apex, RecordType::DNSKEY)?;
        let keys = rrset(&keys_answer, &apex, RecordType::DNSKEY);
        if keys.is_empty() {
            if self.anchors.is_some() {
                return Ok(Verdict::Lacks(format!(
                    "{} serves {apex} without a DNSKEY RRset, but a trust anchor for it was given",
                    server.label
                )));
            }
            // An unsigned parent: the DS is there, and nothing can be
            // validated (RFC 4035 §5: an insecure delegation).
            return Ok(Verdict::Has { validated: false });
        }
        let dnskeys: Vec<HDnsKey> = keys
            .iter()
            .filter_map(|r| match &r.data {
                RData::DNSSEC(DNSSECRData::DNSKEY(k)) => Some(k.clone()),
                _ => None,
            })
            .collect();
        let signing: Vec<HDnsKey> = match self.anchors {
            Some(anchors) => dnskeys
                .iter()
                .filter(|k| {
                    let rdata = k.to_bytes().unwrap_or_default();
                    anchors.iter().any(|a| a.rdata() == rdata)
                })
                .cloned()
                .collect(),
            None => dnskeys.clone(),
        };
        let owned: Vec<HRecord> = keys.iter().map(|r| (*r).clone()).collect();
        if let Err(why) = self.verify(
            &keys_answer,
            &apex,
            RecordType::DNSKEY,
            &owned,
            &signing,
            &apex,
        ) {
            return Ok(Verdict::Lacks(format!(
                "{} serves a DNSKEY RRset for {apex} that does not verify{}: {why}",
                server.label,
                if self.anchors.is_some() {
                    " under the trust anchor"
                } else {
                    ""
                }
            )));
        }
        let owned: Vec<HRecord> = ds_records.iter().map(|r| (*r).clone()).collect();
        if let Err(why) = self.verify(
            &answer,
            &self.hzone,
            RecordType::DS,
            &owned,
            &dnskeys,
            &apex,
        ) {
            return Ok(Verdict::Lacks(format!(
                "{} has the DS, but {apex} is signed and the DS RRset has no valid RRSIG: {why}",
                server.label
            )));
        }
        Ok(Verdict::Has { validated: true })
    }

    /// An authoritative answer from `server`, or why there is none.
    fn authoritative(
        &self,
        server: &Server,
        name: &HName,
        rtype: RecordType,
    ) -> std::result::Result<Message, String> {
        let answer = ask(
            server.address,
            name,
            rtype,
            Mode::Authoritative,
            self.timeout,
        )
        .map_err(|e| format!("{rtype} {name}: {e}"))?;
        if let Some(problem) = rcode_problem(&answer) {
            return Err(format!("{rtype} {name}: {problem}"));
        }
        if !answer.metadata.authoritative {
            return Err(format!(
                "{rtype} {name}: the answer is not authoritative (no AA bit): not a server of the parent zone"
            ));
        }
        Ok(answer)
    }

    /// The parent's apex as this server sees it: the owner of the SOA
    /// for (or above) the child's parent name, which must enclose the
    /// child.
    fn find_apex(&self, server: &Server) -> std::result::Result<HName, String> {
        let above = self.hzone.base_name();
        let answer = self.authoritative(server, &above, RecordType::SOA)?;
        let soa = answer
            .answers
            .iter()
            .chain(answer.authorities.iter())
            .find(|r| r.record_type() == RecordType::SOA && r.name.zone_of(&above));
        match soa {
            Some(record) if record.name.zone_of(&self.hzone) && record.name != self.hzone => {
                Ok(record.name.clone())
            }
            _ => Err(format!(
                "SOA {above}: no SOA of a zone above {} in the answer",
                self.zone
            )),
        }
    }

    /// Why the DS RRset does not hold a usable DS for the key, if it does not.
    fn match_ds(&self, records: &[&HRecord]) -> Option<String> {
        let tag = self.key.key_tag();
        let mut seen = Vec::new();
        let mut sha1_match = false;
        for record in records {
            let RData::DNSSEC(DNSSECRData::DS(ds)) = &record.data else {
                continue;
            };
            let algorithm = u8::from(ds.algorithm());
            let digest_type = u8::from(ds.digest_type());
            seen.push(format!("{}/{algorithm}/{digest_type}", ds.key_tag()));
            if ds.key_tag() != tag || algorithm != self.key.algorithm {
                continue;
            }
            let ours = match digest_type {
                1 => DigestType::Sha1,
                2 => DigestType::Sha256,
                4 => DigestType::Sha384,
                _ => continue,
            };
            if ours.digest(self.zone, self.key) != ds.digest() {
                continue;
            }
            if ours == DigestType::Sha1 {
                sha1_match = true;
                continue;
            }
            return None;
        }
        let key = format!("{tag}/{}", self.key.algorithm);
        Some(if sha1_match {
            format!(
                "has only a SHA-1 DS for key {key}, which does not count (RFC 8624 §3.3: validators may ignore SHA-1)"
            )
        } else if seen.is_empty() {
            format!("has no DS for {}", self.zone)
        } else {
            format!("has DS {} only, none for key {key}", seen.join(", "))
        })
    }

    /// Checks that one RRSIG over `records` (`owner`/`rtype` in `answer`)
    /// by `signer` verifies under one of `keys` and is valid now.
    fn verify(
        &self,
        answer: &Message,
        owner: &HName,
        rtype: RecordType,
        records: &[HRecord],
        keys: &[HDnsKey],
        signer: &HName,
    ) -> std::result::Result<(), String> {
        let sigs: Vec<&RRSIG> = answer
            .answers
            .iter()
            .filter(|r| &r.name == owner && r.dns_class == DNSClass::IN)
            .filter_map(|r| match &r.data {
                RData::DNSSEC(DNSSECRData::RRSIG(sig)) if sig.input().type_covered == rtype => {
                    Some(sig)
                }
                _ => None,
            })
            .collect();
        if sigs.is_empty() {
            return Err(format!("no RRSIG over {owner} {rtype} in the answer"));
        }
        let mut why = String::new();
        // Bounded work (KeyTrap, CVE-2023-50387): a few keys per tag, and
        // at most 32 signature checks per RRset.
        let mut attempts = 0;
        for sig in sigs {
            let input = sig.input();
            if &input.signer_name != signer {
                why = format!("RRSIG signed by {}, not {signer}", input.signer_name);
                continue;
            }
            let expiration = rrsig_time(input.sig_expiration.get(), self.now);
            let inception = rrsig_time(input.sig_inception.get(), self.now);
            if expiration < self.now {
                why = format!(
                    "RRSIG by key {} expired at {}",
                    input.key_tag,
                    crate::time::format_timestamp(expiration)
                );
                continue;
            }
            if inception > self.now {
                why = format!(
                    "RRSIG by key {} is not valid before {}",
                    input.key_tag,
                    crate::time::format_timestamp(inception)
                );
                continue;
            }
            let candidates = keys
                .iter()
                .filter(|k| {
                    k.zone_key()
                        && !k.revoke()
                        && k.algorithm() == input.algorithm
                        && k.calculate_key_tag().ok() == Some(input.key_tag)
                })
                .take(MAX_KEYS_PER_TAG);
            let mut found = false;
            for key in candidates {
                found = true;
                attempts += 1;
                if attempts > 32 {
                    return Err("too many signatures to check".to_string());
                }
                let verified = signed_data(owner, DNSClass::IN, sig, records)
                    .and_then(|data| key.verify(&data, sig.sig()).map_err(|e| e.to_string()));
                match verified {
                    Ok(()) => return Ok(()),
                    Err(e) => why = format!("RRSIG by key {} does not verify ({e})", input.key_tag),
                }
            }
            if !found {
                why = format!(
                    "RRSIG by key {}/{}, which is not in the DNSKEY RRset{}",
                    input.key_tag,
                    u8::from(input.algorithm),
                    if self.anchors.is_some() {
                        " as anchored"
                    } else {
                        ""
                    }
                );
            }
        }
        Err(why)
    }
}

/// The records of one RRset in the answer section (class IN, owner
/// compared without case).
fn rrset<'a>(answer: &'a Message, owner: &HName, rtype: RecordType) -> Vec<&'a HRecord> {
    answer
        .answers
        .iter()
        .filter(|r| r.record_type() == rtype && &r.name == owner && r.dns_class == DNSClass::IN)
        .collect()
}
