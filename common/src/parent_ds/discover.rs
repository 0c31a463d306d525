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

/// Asks the resolvers, in order, until one answers: the answer, or every
/// resolver's failure in one line.
fn resolve(
    resolvers: &[SocketAddr],
    name: &HName,
    rtype: RecordType,
    timeout: Duration,
) -> Result<Message> {
    let mut failures = Vec::new();
    for &resolver in resolvers {
        match ask(resolver, name, rtype, Mode::Recursive, timeout) {
            Ok(answer) => match rcode_problem(&answer) {
                None => return Ok(answer),
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
/// none answers, or when the parent has no servers with addresses.
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
        let answer = resolve(resolvers, &hname, RecordType::SOA, timeout)?;
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
    let answer = resolve(resolvers, &happex, RecordType::NS, timeout)?;
    let names: Vec<HName> = answer
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
    let mut servers = Vec::new();
    let mut failures = Vec::new();
    for name in names {
        let before = servers.len();
        for rtype in [RecordType::A, RecordType::AAAA] {
            match resolve(resolvers, &name, rtype, timeout) {
                Ok(answer) => {
                    for record in answer.answers.iter().filter(|r| r.name == name) {
                        let ip = match &record.data {
                            RData::A(a) => IpAddr::V4(a.0),
                            RData::AAAA(aaaa) => IpAddr::V6(aaaa.0),
                            _ => continue,
                        };
                        servers.push((name.to_string(), SocketAddr::new(ip, port)));
                    }
                }
                Err(e) => failures.push(e.to_string()),
            }
        }
        if servers.len() == before {
            failures.push(format!("{name} has no address"));
        }
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
