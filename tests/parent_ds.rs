//! common::parent_ds against real servers: the lab's `named` (tests/dns_lab.rs)
//! with and without the child's DS, signed and unsigned parents, and small
//! servers in test threads that answer too much, too late or falsely.

use crate::dns_lab::{dig_short, free_port, DnsLab, CHILD};
use common::dnskey::DnsKey;
use common::ds::DigestType;
use common::name::Name;
use common::parent_ds::{
    discover_parent_servers, observe_parent_ds, observe_parent_ds_anchored, DsObservation,
    ParentDsQuery, ParentServers,
};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn query(key: &DnsKey, servers: &[SocketAddr]) -> ParentDsQuery {
    ParentDsQuery {
        zone: Name::parse(CHILD, None).expect("name"),
        key: key.clone(),
        servers: ParentServers::Listed(servers.to_vec()),
        timeout: Duration::from_secs(2),
    }
}

fn not_yet(observation: DsObservation) -> String {
    match observation {
        DsObservation::NotYet { detail } => detail,
        other => panic!("expected NotYet, got {other:?}"),
    }
}

fn server_text(server: SocketAddr) -> String {
    format!("{}#{}", server.ip(), server.port())
}

#[test]
fn a_signed_parent_without_the_ds_is_not_yet_naming_the_server() {
    let lab = DnsLab::new(true);
    let key = lab.child_ksk();
    let observed = observe_parent_ds(&query(&key, &[lab.server()])).expect("an answer");
    let detail = not_yet(observed);
    assert_eq!(
        detail,
        format!("{} has no DS for child.test.", server_text(lab.server()))
    );
    // A DS for another key, and a SHA-1 DS for ours: neither counts.
    let other = DnsKey {
        public_key: vec![7; 64],
        ..key.clone()
    };
    let other_ds = DnsLab::ds_of(CHILD, &other, DigestType::Sha256);
    let sha1 = DnsLab::ds_of(CHILD, &key, DigestType::Sha1);
    lab.set_parent_ds(&[other_ds, sha1]);
    let detail = not_yet(observe_parent_ds(&query(&key, &[lab.server()])).expect("answer"));
    assert!(
        detail.starts_with(&server_text(lab.server()))
            && detail.contains("only a SHA-1 DS for key")
            && detail.contains(&format!("{}/13", key.key_tag())),
        "{detail}"
    );
    let other_only = DnsLab::ds_of(CHILD, &other, DigestType::Sha256);
    lab.set_parent_ds(&[other_only]);
    let detail = not_yet(observe_parent_ds(&query(&key, &[lab.server()])).expect("answer"));
    assert_eq!(
        detail,
        format!(
            "{} has DS {}/13/2 only, none for key {}/13",
            server_text(lab.server()),
            other.key_tag(),
            key.key_tag()
        )
    );
}

#[test]
fn a_signed_parent_with_the_ds_is_published_and_validated() {
    let lab = DnsLab::new(true);
    let key = lab.child_ksk();
    for digest in [DigestType::Sha256, DigestType::Sha384] {
        lab.set_parent_ds(&[DnsLab::ds_of(CHILD, &key, digest)]);
        let observed = observe_parent_ds(&query(&key, &[lab.server()])).expect("an answer");
        assert_eq!(
            observed,
            DsObservation::Published {
                servers: 1,
                validated: true
            },
            "{digest:?}"
        );
    }
    // What delv from the root says agrees.
    let (validated, text) = lab.delv("www.child.test.", "A");
    assert!(validated, "{text}");
}

#[test]
fn an_unsigned_parent_is_published_but_not_validated() {
    let lab = DnsLab::new(false);
    let key = lab.child_ksk();
    let detail = not_yet(observe_parent_ds(&query(&key, &[lab.server()])).expect("answer"));
    assert!(detail.contains("has no DS"), "{detail}");
    lab.set_parent_ds(&[DnsLab::ds_of(CHILD, &key, DigestType::Sha256)]);
    let observed = observe_parent_ds(&query(&key, &[lab.server()])).expect("an answer");
    assert_eq!(
        observed,
        DsObservation::Published {
            servers: 1,
            validated: false
        }
    );
}

#[test]
fn expired_signatures_at_the_parent_are_not_yet() {
    let lab = DnsLab::new(true);
    let key = lab.child_ksk();
    // Signed 40 days ago with zone-sign's 30-day validity.
    let real_now = common::time::now();
    lab.now.set(Some(real_now - 40 * 86400));
    lab.set_parent_ds(&[DnsLab::ds_of(CHILD, &key, DigestType::Sha256)]);
    let detail = not_yet(observe_parent_ds(&query(&key, &[lab.server()])).expect("answer"));
    assert!(
        detail.starts_with(&server_text(lab.server())) && detail.contains("expired at"),
        "{detail}"
    );
}

#[test]
fn two_listed_servers_where_one_lacks_the_ds_is_not_yet() {
    let with = DnsLab::new(true);
    let without = DnsLab::new(true);
    let key = with.child_ksk();
    with.set_parent_ds(&[DnsLab::ds_of(CHILD, &key, DigestType::Sha256)]);
    let both = [with.server(), without.server()];
    let detail = not_yet(observe_parent_ds(&query(&key, &both)).expect("answers"));
    assert_eq!(
        detail,
        format!(
            "{} has no DS for child.test.",
            server_text(without.server())
        )
    );
    without.set_parent_ds(&[DnsLab::ds_of(CHILD, &key, DigestType::Sha256)]);
    let observed = observe_parent_ds(&query(&key, &both)).expect("answers");
    assert_eq!(
        observed,
        DsObservation::Published {
            servers: 2,
            validated: true
        }
    );
}

/// A UDP socket that never answers, held while the test runs.
fn silent_server() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").expect("bind")
}

#[test]
fn unreachable_servers_fail_within_the_timeout() {
    let key = DnsKey::parse_rdata(&["257", "3", "13", &"A".repeat(88)]).expect("key");
    // Nothing listening: refused at once; a socket that never answers:
    // the UDP attempt and its one retry.
    let closed = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let silent = silent_server();
    let silent_address = silent.local_addr().expect("addr");
    for server in [closed, silent_address] {
        let mut q = query(&key, &[server]);
        q.timeout = Duration::from_millis(300);
        let started = Instant::now();
        let error = observe_parent_ds(&q).expect_err("no answer");
        let elapsed = started.elapsed();
        assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
        let text = error.to_string();
        assert!(
            text.contains(&server_text(server)) && !text.contains('\n'),
            "{text}"
        );
        if server == silent_address {
            assert!(text.contains("no answer over UDP within 300 ms"), "{text}");
        }
    }
    // One server that answers and one that does not: not yet, both named.
    let lab = DnsLab::new(false);
    let key = lab.child_ksk();
    lab.set_parent_ds(&[DnsLab::ds_of(CHILD, &key, DigestType::Sha256)]);
    let mut q = query(&key, &[lab.server(), silent_address]);
    q.timeout = Duration::from_millis(300);
    let detail = not_yet(observe_parent_ds(&q).expect("one answered"));
    assert!(
        detail.starts_with(&server_text(silent_address)) && detail.contains("no answer"),
        "{detail}"
    );
}

#[test]
fn a_truncated_udp_answer_is_asked_again_over_tcp() {
    let lab = DnsLab::new(true);
    let key = lab.child_ksk();
    // 30 SHA-384 DS besides ours: some 2,000 octets, past the 1,232 we
    // announce, so named sets TC and the answer comes over TCP.
    let mut ds: Vec<String> = (0..30u8)
        .map(|i| {
            let other = DnsKey {
                public_key: vec![i; 64],
                ..key.clone()
            };
            DnsLab::ds_of(CHILD, &other, DigestType::Sha384)
        })
        .collect();
    ds.push(DnsLab::ds_of(CHILD, &key, DigestType::Sha256));
    lab.set_parent_ds(&ds);
    let dig = std::process::Command::new("dig")
        .args(["+norec", "+dnssec", "+bufsize=1232", "+ignore", "-p"])
        .arg(lab.port().to_string())
        .args(["@127.0.0.1", CHILD, "DS"])
        .output()
        .expect("dig");
    let text = String::from_utf8_lossy(&dig.stdout);
    assert!(
        text.contains("flags: qr aa tc;"),
        "the UDP answer is truncated: {text}"
    );
    let observed = observe_parent_ds(&query(&key, &[lab.server()])).expect("an answer");
    assert_eq!(
        observed,
        DsObservation::Published {
            servers: 1,
            validated: true
        }
    );
}

/// A UDP server in a test thread: for each datagram, `reply` gives the
/// datagrams to send back, in order. Stops when dropped.
struct Responder {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Responder {
    fn new(reply: impl Fn(&[u8], SocketAddr) -> Vec<Vec<u8>> + Send + 'static) -> Responder {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let address = socket.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buffer = [0u8; 65535];
            while !stopped.load(Ordering::Relaxed) {
                let Ok((length, from)) = socket.recv_from(&mut buffer) else {
                    continue;
                };
                for datagram in reply(&buffer[..length], from) {
                    let _ = socket.send_to(&datagram, from);
                }
            }
        });
        Responder {
            address,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The query's ID, and its question (name, type, class) as wire octets.
fn question(query: &[u8]) -> (u16, Vec<u8>, u16) {
    let mut at = 12;
    while at < query.len() && query[at] != 0 {
        at += 1 + usize::from(query[at]);
    }
    let end = (at + 5).min(query.len());
    let rtype = u16::from_be_bytes([query[at + 1], query[at + 2]]);
    (
        u16::from_be_bytes([query[0], query[1]]),
        query[12..end].to_vec(),
        rtype,
    )
}

/// An authoritative response with this ID and question holding one DS
/// (owner: the question's name) for `key`.
fn ds_response(id: u16, question: &[u8], key: &DnsKey) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&[0x84, 0x00, 0, 1, 0, 1, 0, 0, 0, 0]);
    out.extend_from_slice(question);
    let owner = Name::parse(CHILD, None).expect("name");
    let digest = DigestType::Sha256.digest(&owner, key);
    let mut rdata = key.key_tag().to_be_bytes().to_vec();
    rdata.extend_from_slice(&[key.algorithm, 2]);
    rdata.extend_from_slice(&digest);
    out.extend_from_slice(&[0xC0, 0x0C, 0, 43, 0, 1, 0, 0, 1, 44]);
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(&rdata);
    out
}

/// Asks `upstream` the same query over UDP; its answer.
fn relay(upstream: SocketAddr, query: &[u8]) -> Vec<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    socket.send_to(query, upstream).expect("send");
    let mut buffer = [0u8; 65535];
    match socket.recv_from(&mut buffer) {
        Ok((length, _)) => vec![buffer[..length].to_vec()],
        Err(_) => Vec::new(),
    }
}

#[test]
fn replies_from_another_port_or_with_another_id_or_question_are_ignored() {
    // An unsigned parent without the DS; before each of its answers to a
    // DS query come forged ones that hold it: from another source port,
    // with another ID, another question, a query instead of a response,
    // garbage.
    let lab = DnsLab::new(false);
    let key = lab.child_ksk();
    let upstream = lab.server();
    let forged = Arc::new(AtomicUsize::new(0));
    let counter = forged.clone();
    let side = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let spoofer = Responder::new(move |query, from| {
        let (id, question_wire, rtype) = question(query);
        let mut replies = Vec::new();
        if rtype == 43 {
            // Right ID and question, from another port of the server's
            // address.
            let _ = side.send_to(&ds_response(id, &question_wire, &key), from);
            std::thread::sleep(Duration::from_millis(20));
            replies.push(ds_response(id.wrapping_add(1), &question_wire, &key));
            let mut other = question_wire.clone();
            // "child" → "chilc": another name, same length.
            if let Some(at) = other.windows(5).position(|w| w == b"child") {
                other[at + 4] = b'c';
            }
            replies.push(ds_response(id, &other, &key));
            let mut not_response = ds_response(id, &question_wire, &key);
            not_response[2] &= 0x7F;
            replies.push(not_response);
            let mut mangled = ds_response(id, &question_wire, &key);
            mangled.truncate(mangled.len() - 9);
            replies.push(mangled);
            replies.push(vec![0xFF; 3]);
            counter.fetch_add(replies.len(), Ordering::Relaxed);
        }
        replies.extend(relay(upstream, query));
        replies
    });
    let key = lab.child_ksk();
    let detail = not_yet(observe_parent_ds(&query(&key, &[spoofer.address])).expect("answer"));
    assert_eq!(
        detail,
        format!("{} has no DS for child.test.", server_text(spoofer.address))
    );
    assert!(forged.load(Ordering::Relaxed) >= 5);
    // The forgeries would have counted had they matched: the same with
    // our ID and question from the server's address is taken.
    let forger_key = key.clone();
    let honest_forger = Responder::new(move |query, _| {
        let (id, question_wire, rtype) = question(query);
        if rtype == 43 {
            vec![ds_response(id, &question_wire, &forger_key)]
        } else {
            relay(upstream, query)
        }
    });
    let observed = observe_parent_ds(&query(&key, &[honest_forger.address])).expect("answer");
    assert_eq!(
        observed,
        DsObservation::Published {
            servers: 1,
            validated: false
        }
    );
}

#[test]
fn a_signed_parents_ds_without_rrsig_is_not_yet() {
    // The parent is signed; a DS answer with our ID and question but no
    // RRSIG (spoofed, or stripped on the way) must not count.
    let lab = DnsLab::new(true);
    let key = lab.child_ksk();
    let upstream = lab.server();
    let forger_key = key.clone();
    let forger = Responder::new(move |query, _| {
        let (id, question_wire, rtype) = question(query);
        if rtype == 43 {
            vec![ds_response(id, &question_wire, &forger_key)]
        } else {
            relay(upstream, query)
        }
    });
    let detail = not_yet(observe_parent_ds(&query(&key, &[forger.address])).expect("answer"));
    assert_eq!(
        detail,
        format!(
            "{} has the DS, but test. is signed and the DS RRset has no valid RRSIG: no RRSIG over child.test. DS in the answer",
            server_text(forger.address)
        )
    );
}

#[test]
fn a_server_that_is_not_authoritative_does_not_count() {
    let lab = DnsLab::new(false);
    let key = lab.child_ksk();
    lab.set_parent_ds(&[DnsLab::ds_of(CHILD, &key, DigestType::Sha256)]);
    let upstream = lab.server();
    let relay_without_aa = Responder::new(move |query, _| {
        let mut replies = relay(upstream, query);
        for reply in &mut replies {
            reply[2] &= !0x04;
        }
        replies
    });
    let error = observe_parent_ds(&query(&key, &[relay_without_aa.address])).expect_err("no AA");
    assert!(
        error
            .to_string()
            .contains(&server_text(relay_without_aa.address))
            && error.to_string().contains("not authoritative"),
        "{error}"
    );
}

#[test]
fn discovery_finds_the_parent_and_its_servers_through_the_resolver() {
    let lab = DnsLab::new(true);
    assert_eq!(dig_short(lab.port(), "ns.test.", "A"), "127.0.0.1");
    let zone = Name::parse("www.deep.child.test.", None).expect("name");
    let found = discover_parent_servers(&zone, &[lab.server()], lab.port(), Duration::from_secs(2))
        .expect("discovered");
    assert_eq!(found.apex.to_string(), "child.test.");
    assert_eq!(
        found.servers,
        vec![("ns.child.test.".to_string(), lab.server())]
    );
    let found = discover_parent_servers(
        &Name::parse(CHILD, None).expect("name"),
        &[lab.server()],
        lab.port(),
        Duration::from_secs(2),
    )
    .expect("discovered");
    assert_eq!(found.apex.to_string(), "test.");
    assert_eq!(found.servers, vec![("ns.test.".to_string(), lab.server())]);
    // No resolver: an error naming it, never "published".
    let silent = silent_server();
    let address = silent.local_addr().expect("addr");
    let error = discover_parent_servers(
        &Name::parse(CHILD, None).expect("name"),
        &[address],
        53,
        Duration::from_millis(200),
    )
    .expect_err("no resolver");
    assert!(
        error.to_string().contains(&format!(
            "cannot ask the resolver for SOA test.: {}",
            server_text(address)
        )),
        "{error}"
    );
}

#[test]
fn a_server_of_the_child_only_is_not_a_parent_server() {
    // A named serving child.test. alone answers the DS question from the
    // child zone: an error naming it, not "no DS yet" forever.
    let lab = DnsLab::new(true);
    let dir = lab.dir.join("child-only");
    std::fs::create_dir(&dir).expect("dir");
    let signed = lab.signed_file(CHILD);
    let running = crate::dns_lab::start_named(&dir, &[(CHILD, signed.as_path())], false, |port| {
        dig_short(port, "www.child.test.", "A") == "192.0.2.80"
    });
    let server = SocketAddr::from(([127, 0, 0, 1], running.port));
    let error = observe_parent_ds(&query(&lab.child_ksk(), &[server])).expect_err("child only");
    assert_eq!(
        error.to_string(),
        format!(
            "cannot ask the parent of 'child.test.' for its DS: {}: DS child.test.: answered from the zone child.test. itself, not from its parent: not a server of the parent zone",
            server_text(server)
        )
    );
}

#[test]
fn a_trust_anchor_for_the_parent_must_sign_its_dnskey_rrset() {
    let lab = DnsLab::new(true);
    let key = lab.child_ksk();
    lab.set_parent_ds(&[DnsLab::ds_of(CHILD, &key, DigestType::Sha256)]);
    let q = query(&key, &[lab.server()]);
    let observed =
        observe_parent_ds_anchored(&q, &lab.ksks(crate::dns_lab::PARENT)).expect("answer");
    assert_eq!(
        observed,
        DsObservation::Published {
            servers: 1,
            validated: true
        }
    );
    // Another key as the anchor: the parent's keys are not trusted.
    let detail = not_yet(observe_parent_ds_anchored(&q, &lab.ksks(CHILD)).expect("answer"));
    assert!(
        detail.contains(
            "serves a DNSKEY RRset for test. that does not verify under the trust anchor"
        ),
        "{detail}"
    );
    // An unsigned parent never validates against an anchor.
    let unsigned = DnsLab::new(false);
    let key = unsigned.child_ksk();
    unsigned.set_parent_ds(&[DnsLab::ds_of(CHILD, &key, DigestType::Sha256)]);
    let detail = not_yet(
        observe_parent_ds_anchored(
            &query(&key, &[unsigned.server()]),
            &lab.ksks(crate::dns_lab::PARENT),
        )
        .expect("answer"),
    );
    assert!(
        detail.contains("without a DNSKEY RRset, but a trust anchor"),
        "{detail}"
    );
}

#[test]
fn a_ds_rrsig_that_does_not_verify_is_not_yet() {
    // The parent's real DS answer with one bit of its RRSIG's signature
    // changed on the way.
    let lab = DnsLab::new(true);
    let key = lab.child_ksk();
    lab.set_parent_ds(&[DnsLab::ds_of(CHILD, &key, DigestType::Sha256)]);
    let upstream = lab.server();
    let flipped = Arc::new(AtomicUsize::new(0));
    let counter = flipped.clone();
    let tamperer = Responder::new(move |query, _| {
        let (_, _, rtype) = question(query);
        let mut replies = relay(upstream, query);
        for reply in &mut replies {
            let n = reply.len();
            // The answer ends with the signature, then an OPT without
            // options (root owner, type 41, and 8 more octets).
            if rtype == 43 && n > 12 && reply[n - 11] == 0 && reply[n - 10..n - 8] == [0, 41] {
                reply[n - 12] ^= 0x01;
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
        replies
    });
    let detail = not_yet(observe_parent_ds(&query(&key, &[tamperer.address])).expect("answer"));
    assert!(
        flipped.load(Ordering::Relaxed) >= 1,
        "the signature was changed"
    );
    assert!(
        detail.starts_with(&format!(
            "{} has the DS, but test. is signed and the DS RRset has no valid RRSIG: RRSIG by key ",
            server_text(tamperer.address)
        )) && detail.contains("does not verify"),
        "{detail}"
    );
    // Asked directly, the same server is believed.
    let observed = observe_parent_ds(&query(&key, &[upstream])).expect("answer");
    assert_eq!(
        observed,
        DsObservation::Published {
            servers: 1,
            validated: true
        }
    );
}
