//! One DNS question to one server (RFC 1035 §4.2): UDP from a fresh
//! ephemeral port with a random ID, the answer accepted only from the
//! server asked, with our ID and our question (RFC 5452 §9.1), one retry,
//! and TCP (2-octet length prefix, RFC 1035 §4.2.2) when the UDP answer is
//! truncated (RFC 7766 §5).

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name as HName, RecordType};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// The EDNS buffer size we announce: the DNS Flag Day 2020 value, which
/// avoids IP fragmentation on nearly every path.
pub const EDNS_PAYLOAD: u16 = 1232;

/// How a server is named in messages: BIND's `address#port`.
pub fn server_text(server: SocketAddr) -> String {
    format!("{}#{}", server.ip(), server.port())
}

/// Whether the question is one for an authoritative server (RD clear) or
/// for a recursive resolver (RD set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Authoritative,
    Recursive,
}

/// Asks `server` for `name`/`rtype`/IN with the DO bit; the answer, or a
/// one-line reason (without the server's name: the caller adds it).
pub fn ask(
    server: SocketAddr,
    name: &HName,
    rtype: RecordType,
    mode: Mode,
    timeout: Duration,
) -> Result<Message, String> {
    let mut last = String::new();
    // One retry: a lost datagram is common, two in a row mean the server
    // is not answering.
    for _ in 0..2 {
        let request = request(name, rtype, mode);
        let wire = request
            .to_vec()
            .map_err(|e| format!("cannot encode the query: {e}"))?;
        match udp(server, &wire, &request, timeout) {
            Ok(answer) if answer.metadata.truncation => {
                return tcp(server, &wire, &request, timeout);
            }
            Ok(answer) => return Ok(answer),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// A query message: random ID (hickory draws it from the OS-seeded RNG),
/// EDNS0 with DO and our payload size.
fn request(name: &HName, rtype: RecordType, mode: Mode) -> Message {
    let mut message = Message::query();
    message.metadata.recursion_desired = mode == Mode::Recursive;
    let mut query = Query::query(name.clone(), rtype);
    query.set_query_class(DNSClass::IN);
    message.add_query(query);
    let mut edns = Edns::new();
    edns.set_max_payload(EDNS_PAYLOAD).set_dnssec_ok(true);
    message.set_edns(edns);
    message
}

/// True when `answer` is the response to `request`: same ID, a response,
/// same opcode, and exactly our question (name compared without case,
/// RFC 4343).
fn answers(request: &Message, answer: &Message) -> bool {
    answer.metadata.id == request.metadata.id
        && answer.metadata.message_type == MessageType::Response
        && answer.metadata.op_code == OpCode::Query
        && answer.queries.len() == 1
        && request.queries.first().is_some_and(|q| {
            let a = &answer.queries[0];
            a.name() == q.name()
                && a.query_type() == q.query_type()
                && a.query_class() == q.query_class()
        })
}

fn udp(
    server: SocketAddr,
    wire: &[u8],
    request: &Message,
    timeout: Duration,
) -> Result<Message, String> {
    let local: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0"
            .parse()
            .map_err(|_| "bad local address".to_string())?
    } else {
        "[::]:0"
            .parse()
            .map_err(|_| "bad local address".to_string())?
    };
    // Port 0: the kernel picks a random ephemeral port for each query.
    let socket = UdpSocket::bind(local).map_err(|e| format!("cannot open a UDP socket: {e}"))?;
    // Connected: the kernel drops datagrams from any other address and
    // port, and reports an ICMP port unreachable as "connection refused".
    socket
        .connect(server)
        .map_err(|e| format!("cannot reach it over UDP: {e}"))?;
    socket
        .send(wire)
        .map_err(|e| format!("cannot send the UDP query: {e}"))?;
    let deadline = Instant::now() + timeout;
    let mut buffer = vec![0u8; 65535];
    let mut ignored = 0usize;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(if ignored > 0 {
                format!(
                    "no answer over UDP within {} ms ({ignored} unmatched or malformed replies ignored)",
                    timeout.as_millis()
                )
            } else {
                format!("no answer over UDP within {} ms", timeout.as_millis())
            });
        }
        socket
            .set_read_timeout(Some(left))
            .map_err(|e| format!("cannot set a socket timeout: {e}"))?;
        let length = match socket.recv(&mut buffer) {
            Ok(length) => length,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => return Err(format!("UDP: {e}")),
        };
        // Anything that is not our answer is dropped, and we keep
        // listening: a spoofer's guess must not cost us the real reply.
        match Message::from_vec(&buffer[..length]) {
            Ok(answer) if answers(request, &answer) => return Ok(answer),
            _ => ignored += 1,
        }
    }
}

fn tcp(
    server: SocketAddr,
    wire: &[u8],
    request: &Message,
    timeout: Duration,
) -> Result<Message, String> {
    let started = Instant::now();
    let mut stream = TcpStream::connect_timeout(&server, timeout)
        .map_err(|e| format!("truncated over UDP and cannot connect over TCP: {e}"))?;
    let left = || {
        let left = timeout.saturating_sub(started.elapsed());
        Some(left.max(Duration::from_millis(1)))
    };
    let length = u16::try_from(wire.len()).map_err(|_| "query too long".to_string())?;
    let mut framed = Vec::with_capacity(wire.len() + 2);
    framed.extend_from_slice(&length.to_be_bytes());
    framed.extend_from_slice(wire);
    let io = |e: std::io::Error| {
        if matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ) {
            format!("no answer over TCP within {} ms", timeout.as_millis())
        } else {
            format!("TCP: {e}")
        }
    };
    stream.set_write_timeout(left()).map_err(io)?;
    stream.write_all(&framed).map_err(io)?;
    stream.set_read_timeout(left()).map_err(io)?;
    let mut prefix = [0u8; 2];
    stream.read_exact(&mut prefix).map_err(io)?;
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
    stream.set_read_timeout(left()).map_err(io)?;
    stream.read_exact(&mut body).map_err(io)?;
    let answer = Message::from_vec(&body).map_err(|e| format!("malformed answer over TCP: {e}"))?;
    if !answers(request, &answer) {
        return Err("the TCP answer is not for our question (ID or question differs)".to_string());
    }
    Ok(answer)
}

/// The response code as an error, unless it is NOERROR or NXDOMAIN (both
/// are answers: the name has no such data).
pub fn rcode_problem(answer: &Message) -> Option<String> {
    match answer.metadata.response_code {
        ResponseCode::NoError | ResponseCode::NXDomain => None,
        code => Some(format!("answered {code}")),
    }
}
