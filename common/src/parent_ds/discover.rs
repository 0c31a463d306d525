//! Finding the parent zone's servers through a recursive resolver: the
//! closest enclosing zone with an SOA (walking up from the child's parent
//! name), its NS RRset, and their addresses (A and AAAA).

use std::ffi::OsStr;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use hickory_proto::op::Message;
use hickory_proto::rr::{Name as HName, RData, RecordType};

use super::query::{ask, rcode_problem, server_text, Mode};
use crate::name::Name;
use crate::verify_zone::hname_of;
use crate::{Error, Result};

/// The environment variable that names the resolver instead of
/// /etc/resolv.conf: `address` or `address#port` (BIND's notation), e.g.
/// `127.0.0.1#5353` or `::1`; several separated by commas.
pub const RESOLVER_ENV: &str = "P11DNSSEC_RESOLVER";

/// The most NS names a parent may have. Real zones have a handful (the
/// root and most TLDs 13 at most); a resolver naming thousands would have
/// us ask thousands of servers.
pub const MAX_NS: usize = 32;

/// The most addresses (A and AAAA together) one NS name may have.
pub const MAX_ADDRESSES_PER_NS: usize = 8;

/// The parent zone and its servers, as the resolver reported them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredServers {
    /// The parent zone's apex.
    pub apex: Name,
    /// Each NS name (absolute text) with one of its addresses.
    pub servers: Vec<(String, SocketAddr)>,
}

/// The resolvers to ask: `P11DNSSEC_RESOLVER` when set, else the
/// `nameserver` lines of /etc/resolv.conf (port 53).
pub fn resolvers() -> Result<Vec<SocketAddr>> {
    resolvers_from(
        std::env::var_os(RESOLVER_ENV).as_deref(),
        Path::new("/etc/resolv.conf"),
    )
}

/// [`resolvers`] from this value of `P11DNSSEC_RESOLVER` and this
/// resolv.conf.
pub fn resolvers_from(variable: Option<&OsStr>, resolv_conf: &Path) -> Result<Vec<SocketAddr>> {
    if let Some(value) = variable {
        let text = value.to_string_lossy().into_owned();
        return text
            .split(',')
            .map(|one| {
                parse_server(one.trim()).ok_or_else(|| {
                    Error::Failed(format!(
                        "{RESOLVER_ENV}: '{}' is not an address or address#port",
                        one.trim()
                    ))
                })
            })
            .collect();
    }
    let path = resolv_conf.display().to_string();
    let text = std::fs::read_to_string(resolv_conf).map_err(|e| Error::io(&path, e))?;
    let found: Vec<SocketAddr> = text
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver"))
                .then(|| words.next())
                .flatten()
                // A zone index (fe80::1%eth0) is not something std parses.
                .and_then(|address| address.parse::<IpAddr>().ok())
                .map(|ip| SocketAddr::new(ip, 53))
        })
        .collect();
    if found.is_empty() {
        return Err(Error::Failed(format!(
            "{path} names no nameserver (set {RESOLVER_ENV} to ask another resolver)"
        )));
    }
    Ok(found)
}

/// `address` or `address#port`.
fn parse_server(text: &str) -> Option<SocketAddr> {
    let (address, port) = match text.split_once('#') {
        Some((address, port)) => (address, port.parse().ok()?),
        None => (text, 53),
    };
    Some(SocketAddr::new(address.parse().ok()?, port))
}

/// Asks the resolvers, in order, until one answers: the one that did and
/// its answer, or every resolver's failure in one line.
fn resolve(
    resolvers: &[SocketAddr],
    name: &HName,
    rtype: RecordType,
    timeout: Duration,
) -> Result<(SocketAddr, Message)> {
    let mut failures = Vec::new();
    for &resolver in resolvers {
        match ask(resolver, name, rtype, Mode::Recursive, timeout) {
            Ok(answer) => match rcode_problem(&answer) {
                None => return Ok((resolver, answer)),
                Some(problem) => failures.push(format!("{}: {problem}", server_text(resolver))),
            },
            Err(e) => failures.push(format!("{}: {e}", server_text(resolver))),
        }
    }
    Err(Error::Failed(format!(
        "cannot ask the resolver for {rtype} {name}: {}",
        failures.join("; ")
    )))
}

/// The zone above `zone` and its servers' addresses (with `port`), found
/// through `resolvers`; `Err` naming the resolver and the question when
/// none answers, or when the parent has no servers with addresses; `Err`
/// naming the resolver when it gives more than [`MAX_NS`] NS names or more
/// than [`MAX_ADDRESSES_PER_NS`] addresses for one.
pub fn discover_parent_servers(
    zone: &Name,
    resolvers: &[SocketAddr],
    port: u16,
    timeout: Duration,
) -> Result<DiscoveredServers> {
    let Some(mut candidate) = zone.parent() else {
        return Err(Error::Failed(
            "the root zone has no parent to hold its DS".to_string(),
        ));
    };
    // Walk up to the first name that owns an SOA: the parent zone's apex
    // (a child's parent name need not be a zone, e.g. a.b.example.).
    let apex = loop {
        let hname = hname_of(&candidate);
        let (_, answer) = resolve(resolvers, &hname, RecordType::SOA, timeout)?;
        if answer
            .answers
            .iter()
            .any(|r| r.record_type() == RecordType::SOA && r.name == hname)
        {
            break candidate;
        }
        match candidate.parent() {
            Some(up) => candidate = up,
            None => {
                return Err(Error::Failed(format!(
                    "the resolver knows no SOA above '{zone}', not even the root's"
                )))
            }
        }
    };
    let happex = hname_of(&apex);
    let (resolver, answer) = resolve(resolvers, &happex, RecordType::NS, timeout)?;
    let mut names: Vec<HName> = answer
        .answers
        .iter()
        .filter(|r| r.name == happex)
        .filter_map(|r| match &r.data {
            RData::NS(ns) => Some(ns.0.clone()),
            _ => None,
        })
        .collect();
    if names.is_empty() {
        return Err(Error::Failed(format!(
            "the resolver has no NS RRset for '{apex}'"
        )));
    }
    names.sort();
    names.dedup();
    // Every server is asked, each on a thread for a while: a resolver
    // that names thousands is refused, not obeyed.
    if names.len() > MAX_NS {
        return Err(Error::Failed(format!(
            "the resolver {} names {} NS for '{apex}', more than {MAX_NS}: refused",
            server_text(resolver),
            names.len()
        )));
    }
    let mut servers = Vec::new();
    let mut failures = Vec::new();
    for name in names {
        let mut addresses: Vec<IpAddr> = Vec::new();
        for rtype in [RecordType::A, RecordType::AAAA] {
            match resolve(resolvers, &name, rtype, timeout) {
                Ok((resolver, answer)) => {
                    for record in answer.answers.iter().filter(|r| r.name == name) {
                        let ip = match &record.data {
                            RData::A(a) => IpAddr::V4(a.0),
                            RData::AAAA(aaaa) => IpAddr::V6(aaaa.0),
                            _ => continue,
                        };
                        if !addresses.contains(&ip) {
                            addresses.push(ip);
                        }
                    }
                    if addresses.len() > MAX_ADDRESSES_PER_NS {
                        return Err(Error::Failed(format!(
                            "the resolver {} gives more than {MAX_ADDRESSES_PER_NS} addresses for {name}, an NS of '{apex}': refused",
                            server_text(resolver)
                        )));
                    }
                }
                Err(e) => failures.push(e.to_string()),
            }
        }
        if addresses.is_empty() {
            failures.push(format!("{name} has no address"));
        }
        servers.extend(
            addresses
                .into_iter()
                .map(|ip| (name.to_string(), SocketAddr::new(ip, port))),
        );
    }
    // A server we could not find an address for is one we cannot ask:
    // "every server agrees" would then be a claim about fewer servers.
    if !failures.is_empty() {
        return Err(Error::Failed(format!(
            "cannot find the addresses of the servers of '{apex}': {}",
            failures.join("; ")
        )));
    }
    servers.sort();
    servers.dedup();
    Ok(DiscoveredServers { apex, servers })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::OpCode;
    use hickory_proto::rr::rdata::{A, NS, SOA};
    use hickory_proto::rr::Record;
    use std::net::UdpSocket;

    fn hname(text: &str) -> HName {
        HName::from_ascii(text).expect("name")
    }

    /// A resolver in a thread for the parent test.: its SOA, `ns` NS
    /// names, and `addresses(n)` A records for the n-th; until idle 2 s.
    fn resolver(
        ns: usize,
        addresses: impl Fn(usize) -> usize + Send + 'static,
    ) -> (SocketAddr, std::thread::JoinHandle<()>) {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket
            .set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        let address = socket.local_addr().expect("addr");
        let thread = std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok((length, from)) = socket.recv_from(&mut buffer) {
                let Ok(query) = Message::from_vec(&buffer[..length]) else {
                    continue;
                };
                let mut response = Message::response(query.metadata.id, OpCode::Query);
                response.metadata.recursion_available = true;
                response.add_queries(query.queries.iter().cloned());
                let Some(question) = query.queries.first() else {
                    continue;
                };
                let name = question.name().clone();
                match question.query_type() {
                    RecordType::SOA if name == hname("test.") => {
                        response.add_answer(Record::from_rdata(
                            name,
                            300,
                            RData::SOA(SOA::new(
                                hname("ns0.test."),
                                hname("h.test."),
                                1,
                                2,
                                3,
                                4,
                                5,
                            )),
                        ));
                    }
                    RecordType::NS if name == hname("test.") => {
                        for n in 0..ns {
                            response.add_answer(Record::from_rdata(
                                name.clone(),
                                300,
                                RData::NS(NS(hname(&format!("ns{n}.test.")))),
                            ));
                        }
                    }
                    RecordType::A => {
                        let n: usize = name.to_ascii()[2..]
                            .split('.')
                            .next()
                            .and_then(|n| n.parse().ok())
                            .unwrap_or(0);
                        for a in 0..addresses(n) {
                            response.add_answer(Record::from_rdata(
                                name.clone(),
                                300,
                                RData::A(A::new(192, 0, 2, a as u8 + 1)),
                            ));
                        }
                    }
                    _ => {}
                }
                let _ = socket.send_to(&response.to_vec().expect("encode"), from);
            }
        });
        (address, thread)
    }

    fn child() -> Name {
        Name::parse("child.test.", None).expect("name")
    }

    #[test]
    fn a_resolver_naming_too_many_servers_is_refused() {
        let (address, thread) = resolver(32, |_| 2);
        let found = discover_parent_servers(&child(), &[address], 53, Duration::from_secs(2))
            .expect("32 NS with 2 addresses each");
        assert_eq!(found.servers.len(), 64);
        let (address, thread2) = resolver(40, |_| 1);
        let error = discover_parent_servers(&child(), &[address], 53, Duration::from_secs(2))
            .expect_err("40 NS");
        assert_eq!(
            error.to_string(),
            format!(
                "the resolver {} names 40 NS for 'test.', more than 32: refused",
                server_text(address)
            )
        );
        let (address, thread3) = resolver(3, |n| if n == 1 { 9 } else { 1 });
        let error = discover_parent_servers(&child(), &[address], 53, Duration::from_secs(2))
            .expect_err("9 addresses");
        assert_eq!(
            error.to_string(),
            format!(
                "the resolver {} gives more than 8 addresses for ns1.test., an NS of 'test.': refused",
                server_text(address)
            )
        );
        for thread in [thread, thread2, thread3] {
            thread.join().expect("resolver");
        }
    }

    #[test]
    fn resolver_addresses_take_bind_port_notation() {
        assert_eq!(
            parse_server("127.0.0.1#5353"),
            "127.0.0.1:5353".parse().ok()
        );
        assert_eq!(parse_server("::1"), "[::1]:53".parse().ok());
        assert_eq!(parse_server("localhost"), None);
        assert_eq!(parse_server("127.0.0.1#x"), None);
    }

    #[test]
    fn the_variable_overrides_resolv_conf() {
        let dir = tempfile::tempdir().expect("dir");
        let conf = dir.path().join("resolv.conf");
        std::fs::write(
            &conf,
            "# comment\nsearch example.\nnameserver 192.0.2.53\nnameserver fe80::1%eth0\nnameserver ::1\n",
        )
        .expect("write");
        assert_eq!(
            resolvers_from(None, &conf).expect("resolv.conf"),
            [
                "192.0.2.53:53".parse().expect("addr"),
                "[::1]:53".parse().expect("addr")
            ]
        );
        assert_eq!(
            resolvers_from(Some(OsStr::new("127.0.0.1#5300, ::1")), &conf).expect("variable"),
            [
                "127.0.0.1:5300".parse().expect("addr"),
                "[::1]:53".parse().expect("addr")
            ]
        );
        let error = resolvers_from(Some(OsStr::new("ns1.example")), &conf).expect_err("a name");
        assert_eq!(
            error.to_string(),
            "P11DNSSEC_RESOLVER: 'ns1.example' is not an address or address#port"
        );
        std::fs::write(&conf, "search example.\n").expect("write");
        let error = resolvers_from(None, &conf).expect_err("none");
        assert!(
            error
                .to_string()
                .ends_with("names no nameserver (set P11DNSSEC_RESOLVER to ask another resolver)"),
            "{error}"
        );
        assert!(resolvers_from(None, &dir.path().join("missing")).is_err());
    }
}
