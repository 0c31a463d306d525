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

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{RData, Record};
    use std::net::TcpListener;

    fn name() -> HName {
        HName::from_ascii("child.test.").expect("name")
    }

    /// The answer a server would give to `query`: our A record, AA set.
    fn response_to(query: &[u8], truncated: bool) -> Vec<u8> {
        let request = Message::from_vec(query).expect("our query decodes");
        let mut response = Message::response(request.metadata.id, OpCode::Query);
        response.metadata.authoritative = true;
        response.metadata.truncation = truncated;
        response.add_queries(request.queries.iter().cloned());
        if !truncated {
            response.add_answer(Record::from_rdata(
                name(),
                300,
                RData::A(A::new(192, 0, 2, 1)),
            ));
        }
        response.to_vec().expect("encode")
    }

    /// Deterministic junk (a 64-bit LCG), so a failure can be replayed.
    fn junk(seed: u64, length: usize) -> Vec<u8> {
        let mut state = seed;
        (0..length)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 33) as u8
            })
            .collect()
    }

    /// A UDP server thread answering a query with `replies(query)`; a
    /// second one too (the retry, should a loaded machine drop the last
    /// datagram of a burst), until the socket is idle for 2 s.
    fn serve_once(
        replies: impl Fn(&[u8]) -> Vec<Vec<u8>> + Send + 'static,
    ) -> (SocketAddr, std::thread::JoinHandle<()>) {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let address = socket.local_addr().expect("addr");
        let thread = std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            let _ = socket.set_read_timeout(Some(Duration::from_secs(2)));
            for _ in 0..2 {
                if let Ok((length, from)) = socket.recv_from(&mut buffer) {
                    let replies = replies(&buffer[..length]);
                    let count = replies.len();
                    for (n, reply) in replies.into_iter().enumerate() {
                        // The last one after a pause: a burst can overflow
                        // the receive buffer, and the junk may be lost,
                        // not the answer.
                        if n + 1 == count {
                            std::thread::sleep(Duration::from_millis(100));
                        }
                        let _ = socket.send_to(&reply, from);
                    }
                }
            }
        });
        (address, thread)
    }

    #[test]
    fn truncated_and_garbage_replies_are_ignored_until_the_real_answer() {
        let (address, thread) = serve_once(|query| {
            let good = response_to(query, false);
            let mut replies: Vec<Vec<u8>> = (0..good.len()).map(|n| good[..n].to_vec()).collect();
            for seed in 0..200 {
                let mut garbage = junk(seed, (seed as usize * 7) % 600);
                // Some with our ID, so that only the parser stands between
                // them and us.
                if garbage.len() >= 2 && seed % 2 == 0 {
                    garbage[..2].copy_from_slice(&good[..2]);
                }
                replies.push(garbage);
            }
            replies.push(good);
            replies
        });
        let answer = ask(
            address,
            &name(),
            RecordType::A,
            Mode::Authoritative,
            Duration::from_secs(5),
        )
        .expect("the real answer");
        assert_eq!(answer.answers.len(), 1);
        assert!(answer.metadata.authoritative);
        thread.join().expect("server");
    }

    #[test]
    fn a_server_sending_only_garbage_gives_one_line() {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let address = socket.local_addr().expect("addr");
        let thread = std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            // Both attempts.
            for _ in 0..2 {
                if let Ok((_, from)) = socket.recv_from(&mut buffer) {
                    for seed in 0..20 {
                        let _ = socket.send_to(&junk(seed, 40), from);
                    }
                }
            }
        });
        let error = ask(
            address,
            &name(),
            RecordType::DS,
            Mode::Authoritative,
            Duration::from_millis(300),
        )
        .expect_err("garbage only");
        assert!(
            error.starts_with("no answer over UDP within 300 ms (")
                && error.contains("unmatched or malformed replies ignored")
                && !error.contains('\n'),
            "{error}"
        );
        thread.join().expect("server");
    }

    #[test]
    fn mutated_answers_never_panic_the_decoder_or_the_matcher() {
        let request = request(&name(), RecordType::DS, Mode::Authoritative);
        let query = request.to_vec().expect("encode");
        let good = response_to(&query, false);
        for at in 0..good.len() {
            for value in [0u8, 1, 0x3F, 0x7F, 0xC0, 0xFF] {
                let mut mutated = good.clone();
                mutated[at] = value;
                if let Ok(message) = Message::from_vec(&mutated) {
                    let _ = answers(&request, &message);
                    let _ = rcode_problem(&message);
                }
                let _ = Message::from_vec(&mutated[..at]);
            }
        }
    }

    /// A UDP socket and a TCP listener on one port of 127.0.0.1.
    fn udp_and_tcp() -> (UdpSocket, TcpListener) {
        loop {
            let udp = UdpSocket::bind("127.0.0.1:0").expect("bind");
            let port = udp.local_addr().expect("addr").port();
            if let Ok(tcp) = TcpListener::bind(("127.0.0.1", port)) {
                return (udp, tcp);
            }
        }
    }

    /// A server that sets TC over UDP and answers over TCP with
    /// `tcp_answer(query)`.
    fn truncating_server(
        tcp_answer: impl FnOnce(&[u8]) -> Vec<u8> + Send + 'static,
    ) -> (SocketAddr, std::thread::JoinHandle<bool>) {
        let (udp, tcp) = udp_and_tcp();
        let address = udp.local_addr().expect("addr");
        let thread = std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            let Ok((length, from)) = udp.recv_from(&mut buffer) else {
                return false;
            };
            let _ = udp.send_to(&response_to(&buffer[..length], true), from);
            let Ok((mut stream, _)) = tcp.accept() else {
                return false;
            };
            let mut prefix = [0u8; 2];
            if stream.read_exact(&mut prefix).is_err() {
                return false;
            }
            let mut query = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
            if stream.read_exact(&mut query).is_err() {
                return false;
            }
            let answer = tcp_answer(&query);
            let mut framed = (answer.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&answer);
            stream.write_all(&framed).is_ok()
        });
        (address, thread)
    }

    #[test]
    fn a_truncated_answer_is_asked_again_over_tcp() {
        let (address, thread) = truncating_server(|query| response_to(query, false));
        let answer = ask(
            address,
            &name(),
            RecordType::A,
            Mode::Authoritative,
            Duration::from_secs(5),
        )
        .expect("the TCP answer");
        assert!(!answer.metadata.truncation);
        assert_eq!(answer.answers.len(), 1);
        assert!(thread.join().expect("server"), "asked over TCP");
    }

    #[test]
    fn a_tcp_answer_to_another_question_is_refused() {
        let (address, thread) = truncating_server(|query| {
            let mut answer = response_to(query, false);
            answer[0] ^= 0xFF;
            answer
        });
        let error = ask(
            address,
            &name(),
            RecordType::A,
            Mode::Authoritative,
            Duration::from_secs(5),
        )
        .expect_err("another ID");
        assert_eq!(
            error,
            "the TCP answer is not for our question (ID or question differs)"
        );
        let _ = thread.join();
        // Garbage over TCP: an error, no panic.
        let (address, thread) = truncating_server(|_| junk(9, 30));
        let error = ask(
            address,
            &name(),
            RecordType::A,
            Mode::Authoritative,
            Duration::from_secs(5),
        )
        .expect_err("garbage");
        assert!(error.starts_with("malformed answer over TCP: "), "{error}");
        let _ = thread.join();
    }

    #[test]
    fn queries_ask_with_do_and_our_payload_and_without_rd() {
        let message = request(&name(), RecordType::DS, Mode::Authoritative);
        let wire = message.to_vec().expect("encode");
        let decoded = Message::from_vec(&wire).expect("decode");
        assert!(!decoded.metadata.recursion_desired);
        let edns = decoded.edns.expect("EDNS0");
        assert!(edns.flags().dnssec_ok);
        assert_eq!(edns.max_payload(), 1232);
        assert_eq!(decoded.queries[0].query_class(), DNSClass::IN);
        assert!(
            request(&name(), RecordType::SOA, Mode::Recursive)
                .metadata
                .recursion_desired
        );
        // IDs are random: a hundred queries do not share one.
        let ids: std::collections::BTreeSet<u16> = (0..100)
            .map(|_| {
                request(&name(), RecordType::DS, Mode::Authoritative)
                    .metadata
                    .id
            })
            .collect();
        assert!(ids.len() > 90, "{}", ids.len());
    }
}
