use super::denial::nsec3_hash;
use super::rrset::parse_rrsig;
use super::rrsig::{signed_data, RrsigFields};
use super::*;
use crate::name::Name;
use crate::record::Class;
use crate::zone::rdatas::Rdatas;
use crate::zone::ZoneReader;

fn read_zone(text: &str, origin: &str) -> Zone {
    let origin = Name::parse(origin, None).expect("origin");
    let reader = ZoneReader::new(
        Box::new(std::io::Cursor::new(text.as_bytes().to_vec())),
        "test",
        None,
        origin.clone(),
    );
    Zone::load(reader, &origin).expect("zone").0
}

/// One output record, owned (the signed zone only walks its records).
#[derive(Clone, Debug, PartialEq, Eq)]
struct OutRecord {
    owner: Name,
    ttl: u32,
    rtype: RType,
    rdata: Vec<u8>,
}

fn records(signed: &SignedZone) -> Vec<OutRecord> {
    let mut records = Vec::new();
    signed
        .each_rrset(|owner, rrset, signatures| {
            let record = |rtype, ttl, rdata: &[u8]| OutRecord {
                owner: owner.clone(),
                ttl,
                rtype,
                rdata: rdata.to_vec(),
            };
            records.extend(
                rrset
                    .rdatas
                    .iter()
                    .map(|r| record(rrset.rtype, rrset.ttl, r)),
            );
            records.extend(
                signatures
                    .into_iter()
                    .flatten()
                    .map(|r| record(RType::RRSIG, rrsig_ttl(rrset.ttl, r), r)),
            );
            Ok::<(), std::convert::Infallible>(())
        })
        .unwrap_or_else(|never| match never {});
    records
}

fn field<'a>(block: &'a str, name: &str) -> Option<&'a str> {
    block
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(": ")))
}

fn dnskey_of(line: &str) -> DnsKey {
    let tokens: Vec<&str> = line.split_whitespace().skip(4).collect();
    DnsKey::parse_rdata(&tokens).expect("dnskey")
}

#[test]
fn nsec3_hashes_match_the_vectors() {
    let text = include_str!("../../testdata/nsec3-hash.txt");
    let mut checked = 0;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let columns: Vec<&str> = line.split('\t').collect();
        let [_, owner, salt, iterations, expected, verified_by] = columns[..] else {
            continue;
        };
        if !verified_by.contains(',') {
            continue;
        }
        let name = Name::parse(owner, None).expect(owner);
        let salt = if salt == "-" {
            Vec::new()
        } else {
            data_encoding::HEXLOWER_PERMISSIVE
                .decode(salt.as_bytes())
                .expect("salt")
        };
        let hash = nsec3_hash(&name, &salt, iterations.parse().expect("iterations"));
        assert_eq!(
            data_encoding::BASE32HEX_NOPAD.encode(&hash).to_lowercase(),
            expected,
            "{line}"
        );
        checked += 1;
    }
    assert!(checked >= 50, "only {checked} hash vectors");
}

#[test]
fn the_rfc5155_appendix_a_chain_is_reproduced() {
    let mut text = include_str!("../../testdata/rfc5155-appendix-a.unsigned.zone").to_string();
    // The RFC's zone has a DNSKEY at the apex; the bitmap lists it.
    text.push_str(
        "example. 3600 IN DNSKEY 257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=\n",
    );
    let mut zone = read_zone(&text, "example.");
    zone.nodes[0].rrsets.push(RrSet {
        rtype: RType::NSEC3PARAM,
        ttl: 0,
        rdatas: Rdatas::one(&[1, 0, 0, 12, 4, 0xaa, 0xbb, 0xcc, 0xdd]),
    });
    let kinds = classify(&zone);
    let denial = Denial::Nsec3 {
        salt: vec![0xaa, 0xbb, 0xcc, 0xdd],
        iterations: 12,
        opt_out: true,
    };
    let chain = denial::build(&zone, &kinds, &denial, 3600).expect("chain");
    let ours: Vec<String> = (0..chain.nsec3_len())
        .map(|position| chain.nsec3(&zone, &kinds, position))
        .map(|(owner, set)| {
            let label = owner
                .to_string()
                .split('.')
                .next()
                .expect("label")
                .to_lowercase();
            let text = crate::rdata::format(RType::NSEC3, set.rdatas.first().expect("rdata"));
            let fields: Vec<&str> = text.splitn(6, ' ').collect();
            format!(
                "{label}\t{}\t{}\t{}\t{}\t{}\t{}",
                fields[0],
                fields[1],
                fields[2],
                fields[3].to_lowercase(),
                fields[4].to_lowercase(),
                fields.get(5).copied().unwrap_or("")
            )
        })
        .collect();
    let expected: Vec<String> = include_str!("../../testdata/nsec3-chain-rfc5155-appendix-a.txt")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.rsplit_once('\t').expect("columns").0.to_string())
        .collect();
    assert_eq!(ours, expected);
}

#[test]
fn zone_cuts_and_occlusion() {
    let zone = read_zone(
        "$TTL 300\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\nsub NS ns.sub\nns.sub A 192.0.2.2\ndeep.ns.sub A 192.0.2.3\nsecure NS ns.other.\nsecure DS 1 13 2 AABB\nd DNAME other.\nx.d A 192.0.2.4\nz A 192.0.2.5\n",
        "example.",
    );
    let kinds = classify(&zone);
    let summary: Vec<(String, NodeKind)> = zone
        .nodes
        .iter()
        .map(|n| n.owner.to_string())
        .zip(kinds)
        .collect();
    assert_eq!(
        summary,
        [
            ("example.".to_string(), NodeKind::Apex),
            ("d.example.".into(), NodeKind::Authoritative),
            ("x.d.example.".into(), NodeKind::Occluded),
            ("ns.example.".into(), NodeKind::Authoritative),
            (
                "secure.example.".into(),
                NodeKind::Delegation { secure: true }
            ),
            (
                "sub.example.".into(),
                NodeKind::Delegation { secure: false }
            ),
            ("ns.sub.example.".into(), NodeKind::Occluded),
            ("deep.ns.sub.example.".into(), NodeKind::Occluded),
            ("z.example.".into(), NodeKind::Authoritative),
        ]
    );
}

/// A key store that signs in software with ring, for tests of the signer
/// logic without a token (Ed25519: deterministic).
struct RingStore(Vec<ring::signature::Ed25519KeyPair>);

impl KeyStore for RingStore {
    fn sign(&mut self, key: usize, data: &[u8]) -> Result<Vec<u8>> {
        Ok(self.0[key].sign(data).as_ref().to_vec())
    }
}

/// One worker with this store.
fn one(store: impl KeyStore + Send + 'static) -> Vec<Box<dyn KeyStore + Send>> {
    vec![Box::new(store)]
}

fn pem_der(pem: &str) -> Vec<u8> {
    use base64::Engine;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("pem")
}

fn ed25519_key(pem: &str, dnskey_line: &str) -> (SigningKey, ring::signature::Ed25519KeyPair) {
    let pair =
        ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pem_der(pem)).expect("pkcs8");
    let dnskey = dnskey_of(dnskey_line);
    let key = SigningKey {
        public_key: dnskey.to_public_key().expect("public"),
        algorithm: Algorithm::Ed25519,
        ksk: dnskey.is_ksk(),
        active: true,
        publish: true,
        key_file_ttl: None,
        cds: false,
        description: format!("example.com/ED25519/{}", dnskey.key_tag()),
        dnskey,
    };
    (key, pair)
}

fn options(inception: u32, expiration: u32) -> SignOptions {
    SignOptions {
        inception,
        expiration,
        dnskey_expiration: None,
        jitter: 0,
        denial: Denial::Nsec,
        zsk_signs_keys: true,
        ksk_signs_all: false,
        dnskey_ttl: None,
        allow_unsigned_algorithm: false,
        seed: 1,
        now: inception,
        refresh: 0,
        vouched: None,
        sync: Default::default(),
        presigned: None,
        zonemd: Vec::new(),
        ramp: None,
    }
}

#[test]
fn malformed_input_signatures_are_not_parsed() {
    assert!(parse_rrsig(&[]).is_none());
    assert!(parse_rrsig(&[0; 17]).is_none());
    // Fixed fields and the root as signer, but no signature.
    assert!(parse_rrsig(&[0; 19]).is_none());
    // A signer name that runs off the end.
    let mut truncated = vec![0; 18];
    truncated.extend_from_slice(&[5, b'a']);
    assert!(parse_rrsig(&truncated).is_none());
    let mut whole = vec![
        0, 1, 13, 2, 0, 0, 14, 16, 0, 0, 0, 2, 0, 0, 0, 1, 0x30, 0x39, 0,
    ];
    whole.extend_from_slice(&[0xAA; 64]);
    let (fields, signature) = parse_rrsig(&whole).expect("a whole RRSIG");
    assert_eq!(
        (
            fields.type_covered,
            fields.algorithm,
            fields.labels,
            fields.original_ttl
        ),
        (RType::A, 13, 2, 3600)
    );
    assert_eq!(
        (fields.expiration, fields.inception, fields.key_tag),
        (2, 1, 12345)
    );
    assert_eq!(signature.len(), 64);
}

#[test]
fn rfc8080_signatures_are_reproduced_byte_for_byte() {
    let vectors = include_str!("../../testdata/rrsig.txt");
    let mut checked = 0;
    for (block, pem) in [
        (
            "rfc8080-sec6.1-ed25519-a",
            include_str!("../../testdata/keys/Kexample.com.+015+03613.pem"),
        ),
        (
            "rfc8080-sec6.1-ed25519-b",
            include_str!("../../testdata/keys/Kexample.com.+015+35217.pem"),
        ),
    ] {
        let block = vectors
            .split("\n\n")
            .find(|b| b.contains(&format!("id: {block}")))
            .expect("vector");
        let (key, pair) = ed25519_key(pem, field(block, "dnskey").expect("dnskey"));
        let rrset = field(block, "rrset").expect("rrset");
        let zone = read_zone(
            &format!("example.com. 3600 IN SOA ns hm 1 2 3 4 5\n{rrset}\n"),
            "example.com.",
        );
        let inception: u32 = field(block, "inception_epoch")
            .expect("i")
            .parse()
            .expect("i");
        let expiration: u32 = field(block, "expiration_epoch")
            .expect("e")
            .parse()
            .expect("e");
        let signed = sign_zone(
            zone,
            &[key],
            &mut one(RingStore(vec![pair])),
            &options(inception, expiration),
        )
        .expect("sign");
        let expected = field(block, "rrsig").expect("rrsig");
        let expected_rdata = {
            let origin = Name::parse("example.com.", None).expect("o");
            let mut lexer = crate::zone::lexer::Lexer::new(expected.as_bytes());
            let tokens = lexer.next_line().expect("lex").expect("line").tokens;
            crate::rdata::parse(RType::RRSIG, &tokens[4..], &origin).expect("rrsig")
        };
        let covered =
            RType::parse(expected.split_whitespace().nth(4).expect("type")).expect("type");
        let ours = records(&signed)
            .into_iter()
            .find(|r| r.rtype == RType::RRSIG && r.rdata[..2] == covered.0.to_be_bytes())
            .expect("our RRSIG");
        assert_eq!(ours.rdata, expected_rdata, "{block}");
        checked += 1;
    }
    assert_eq!(checked, 2);
}

/// One RRset from presentation lines (no zone around it).
fn parse_rrset(text: &str) -> (Name, RrSet) {
    let mut reader = ZoneReader::new(
        Box::new(std::io::Cursor::new(format!("{text}\n").into_bytes())),
        "rrset",
        None,
        Name::root(),
    );
    let records = crate::zone::reader::read_all(&mut reader).expect("rrset");
    let wires: Vec<Vec<u8>> = records
        .iter()
        .map(|r| crate::rdata::parse(r.rtype, &r.rdata, &r.origin).expect("rdata"))
        .collect();
    let rdatas = wires.iter().map(Vec::as_slice).collect();
    (
        records[0].owner.clone(),
        RrSet {
            rtype: records[0].rtype,
            ttl: records[0].ttl,
            rdatas,
        },
    )
}

#[test]
fn published_rrsigs_verify_and_their_signed_data_matches() {
    let vectors = include_str!("../../testdata/rrsig.txt");
    let mut verified = 0;
    for block in vectors
        .split("\n\n")
        .filter(|b| b.contains("signed_data_hex:"))
    {
        let id = field(block, "id").expect("id");
        let dnskey = dnskey_of(field(block, "dnskey").expect("dnskey"));
        let rrsig_line = field(block, "rrsig").expect("rrsig");
        let origin = Name::parse(".", None).expect("root");
        let mut lexer = crate::zone::lexer::Lexer::new(rrsig_line.as_bytes());
        let tokens = lexer.next_line().expect("lex").expect("line").tokens;
        let wire = crate::rdata::parse(RType::RRSIG, &tokens[4..], &origin).expect("rrsig");
        let prefix_len = 18 + crate::rdata::name_len(&wire[18..]).expect("signer");
        let (prefix, signature) = wire.split_at(prefix_len);
        // Our signed data for the RRset equals the vector's.
        let (owner, rrset) = parse_rrset(field(block, "rrset").expect("rrset"));
        let rrset = &rrset;
        let fields = RrsigFields {
            type_covered: rrset.rtype,
            algorithm: wire[2],
            labels: wire[3],
            original_ttl: u32::from_be_bytes([wire[4], wire[5], wire[6], wire[7]]),
            expiration: u32::from_be_bytes([wire[8], wire[9], wire[10], wire[11]]),
            inception: u32::from_be_bytes([wire[12], wire[13], wire[14], wire[15]]),
            key_tag: u16::from_be_bytes([wire[16], wire[17]]),
            signer: crate::rdata::name_from_wire(&wire[18..prefix_len]).expect("signer"),
        };
        assert_eq!(fields.rdata_prefix(false), prefix, "{id}");
        let data = signed_data(&fields, &owner, Class::IN, rrset);
        assert_eq!(
            data_encoding::HEXLOWER.encode(&data),
            field(block, "signed_data_hex").expect("hex"),
            "{id}"
        );
        let algorithm = dnskey.algorithm().expect("algorithm");
        match Verifier::new(&dnskey.to_public_key().expect("public"), algorithm) {
            Ok(verifier) => {
                let valid = verifier.verify(&data, signature);
                let expected_valid = !block.contains("does NOT validate");
                assert_eq!(valid, expected_valid, "{id}");
                verified += usize::from(valid);
            }
            // RSA under 1024 bits is refused.
            Err(error) => assert!(dnskey.public_key.len() < 128, "{id}: {error}"),
        }
    }
    assert!(verified >= 4, "only {verified} signatures verified");
}

#[test]
fn roles_nsec_chain_and_ttls() {
    let zone = read_zone(
        "$TTL 3600\n@ SOA ns hm 1 2 3 4 300\n@ NS ns\nns A 192.0.2.1\nsub NS ns.sub\nns.sub A 192.0.2.2\n*.w A 192.0.2.3\n",
        "example.com.",
    );
    let (ksk, ksk_pair) = ed25519_key(
        include_str!("../../testdata/keys/Kexample.com.+015+03613.pem"),
        "example.com. 3600 IN DNSKEY 257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=",
    );
    let (zsk, zsk_pair) = ed25519_key(
        include_str!("../../testdata/keys/Kexample.com.+015+35217.pem"),
        "example.com. 3600 IN DNSKEY 256 3 15 zPnZ/QwEe7S8C5SPz2OfS5RR40ATk2/rYnE9xHIEijs=",
    );
    let mut opts = options(1_000_000, 1_000_000 + 86_400);
    opts.zsk_signs_keys = false;
    let signed = sign_zone(
        zone,
        &[ksk.clone(), zsk.clone()],
        &mut one(RingStore(vec![ksk_pair, zsk_pair])),
        &opts,
    )
    .expect("sign");
    let sigs = |owner: &str, covered: RType| -> Vec<u16> {
        records(&signed)
            .iter()
            .filter(|r| {
                r.rtype == RType::RRSIG
                    && r.owner.to_string() == owner
                    && r.rdata[..2] == covered.0.to_be_bytes()
            })
            .map(|r| u16::from_be_bytes([r.rdata[16], r.rdata[17]]))
            .collect()
    };
    let (ksk_tag, zsk_tag) = (ksk.dnskey.key_tag(), zsk.dnskey.key_tag());
    assert_eq!(
        sigs("example.com.", RType::DNSKEY),
        [ksk_tag],
        "-x: only the KSK signs DNSKEY"
    );
    assert_eq!(sigs("example.com.", RType::SOA), [zsk_tag]);
    assert!(
        sigs("sub.example.com.", RType::NS).is_empty(),
        "delegation NS is not signed"
    );
    assert_eq!(sigs("sub.example.com.", RType::NSEC), [zsk_tag]);
    assert!(
        sigs("ns.sub.example.com.", RType::A).is_empty(),
        "glue is not signed"
    );
    // Wildcard: the Labels field does not count the '*'.
    let wildcard = records(&signed)
        .into_iter()
        .find(|r| r.rtype == RType::RRSIG && r.owner.is_wildcard())
        .expect("wildcard sig");
    assert_eq!(wildcard.rdata[3], 3);
    // NSEC TTL: min(SOA TTL, MINIMUM); chain skips glue and wraps to the apex.
    let nsecs: Vec<(String, String, u32)> = records(&signed)
        .iter()
        .filter(|r| r.rtype == RType::NSEC)
        .map(|r| {
            (
                r.owner.to_string(),
                crate::rdata::format(RType::NSEC, &r.rdata),
                r.ttl,
            )
        })
        .collect();
    assert_eq!(
        nsecs,
        [
            (
                "example.com.".to_string(),
                "ns.example.com. NS SOA RRSIG NSEC DNSKEY".to_string(),
                300
            ),
            (
                "ns.example.com.".into(),
                "sub.example.com. A RRSIG NSEC".into(),
                300
            ),
            (
                "sub.example.com.".into(),
                "*.w.example.com. NS RRSIG NSEC".into(),
                300
            ),
            (
                "*.w.example.com.".into(),
                "example.com. A RRSIG NSEC".into(),
                300
            ),
        ]
    );
    // Both keys were published at the apex.
    assert_eq!(
        records(&signed)
            .iter()
            .filter(|r| r.rtype == RType::DNSKEY)
            .count(),
        2
    );
}

#[test]
fn a_signature_that_does_not_verify_is_retried_then_refused() {
    struct Broken(std::sync::Arc<std::sync::atomic::AtomicU32>);
    impl KeyStore for Broken {
        fn sign(&mut self, _key: usize, _data: &[u8]) -> Result<Vec<u8>> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(vec![0; 64])
        }
    }
    let zone = read_zone("example.com. 300 IN SOA ns hm 1 2 3 4 5\n", "example.com.");
    let (key, _) = ed25519_key(
        include_str!("../../testdata/keys/Kexample.com.+015+03613.pem"),
        "example.com. 3600 IN DNSKEY 257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=",
    );
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let error = sign_zone(
        zone,
        &[key],
        &mut one(Broken(calls.clone())),
        &options(1, 2),
    )
    .expect_err("must refuse");
    assert!(
        error.to_string().contains("does not verify, twice"),
        "{error}"
    );
    // The first signature, the next block's (made while the first was
    // verified), and the first one again on a fresh session: then it stops.
    assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 3);
}

#[test]
fn output_is_the_same_whatever_the_worker_count() {
    let mut text = String::from("$TTL 300\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n");
    for i in 0..300 {
        text.push_str(&format!(
            "host{i} A 192.0.2.{}\nsub{i} NS ns.elsewhere.\n",
            i % 250
        ));
    }
    let pem = include_str!("../../testdata/keys/Kexample.com.+015+03613.pem");
    let line = "example.com. 3600 IN DNSKEY 257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=";
    let mut outputs = Vec::new();
    for workers in [1, 2, 5] {
        let zone = read_zone(&text, "example.com.");
        let (key, _) = ed25519_key(pem, line);
        let mut stores: Vec<Box<dyn KeyStore + Send>> = (0..workers)
            .map(|_| {
                Box::new(RingStore(vec![ed25519_key(pem, line).1])) as Box<dyn KeyStore + Send>
            })
            .collect();
        let mut opts = options(1_000_000, 2_000_000);
        opts.jitter = 3600;
        opts.seed = 42;
        let signed = sign_zone(zone, &[key], &mut stores, &opts).expect("sign");
        assert!(signed.stats.generated > 600);
        outputs.push(records(&signed));
    }
    assert_eq!(outputs[0], outputs[1]);
    assert_eq!(outputs[0], outputs[2]);
}

#[test]
fn serial_modes() {
    assert_eq!(new_serial(SerialMode::Keep, 5, 0), 5);
    assert_eq!(new_serial(SerialMode::Increment, u32::MAX, 0), 1);
    assert_eq!(
        new_serial(SerialMode::UnixTime, 5, 1_795_976_391),
        1_795_976_391
    );
    assert_eq!(
        new_serial(SerialMode::Date, 2024010101, 1_795_976_391),
        2026112900
    );
    assert_eq!(
        new_serial(SerialMode::Date, 2026112999, 1_795_976_391),
        2026113000
    );
}

#[test]
fn serial_arithmetic() {
    assert!(serial_gt(2, 1));
    assert!(serial_gt(0, u32::MAX));
    assert!(!serial_gt(1, 1));
    assert!(!serial_gt(1, 2));
    assert!(!serial_gt(0x8000_0000, 0));
}

#[test]
fn the_check_refuses_signatures_outside_the_requested_validity() {
    let zone = read_zone(
        "$TTL 300\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n",
        "example.com.",
    );
    let pem = include_str!("../../testdata/keys/Kexample.com.+015+03613.pem");
    let line = "example.com. 3600 IN DNSKEY 257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=";
    let (key, pair) = ed25519_key(pem, line);
    let opts = options(1_000_000, 1_086_400);
    let keys = [key];
    let signed = sign_zone(zone, &keys, &mut one(RingStore(vec![pair])), &opts).expect("sign");
    check::check_signed(&signed, &keys, &opts).expect("within what was asked");
    // The same signatures judged against a shorter validity.
    let shorter = options(1_000_000, 1_050_000);
    let error = check::check_signed(&signed, &keys, &shorter).expect_err("too long");
    assert!(
        error.to_string().contains("after the requested expiration"),
        "{error}"
    );
    let mut dnskey_shorter = options(1_000_000, 1_086_400);
    dnskey_shorter.dnskey_expiration = Some(1_050_000);
    let error = check::check_signed(&signed, &keys, &dnskey_shorter).expect_err("-X");
    assert!(error.to_string().contains("/DNSKEY"), "{error}");
}

#[test]
fn input_signatures_are_kept_by_owner_and_covered_type() {
    let rrsig = |covered: &str, tag: u16| {
        format!(
            "www RRSIG {covered} 15 3 300 20270101000000 20261101000000 {tag} example.com. AAAA\n"
        )
    };
    let mut text = String::from(
        "$TTL 300\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\nwww A 192.0.2.2\nwww TXT x\n",
    );
    for tag in 0..10 {
        text.push_str(&rrsig("A", tag));
        text.push_str(&rrsig("TXT", tag));
    }
    let zone = read_zone(&text, "example.com.");
    let www = Name::parse("www.example.com.", None).expect("name");
    // Each RRset looks only at its own signatures: an owner with many
    // RRsets and many RRSIGs costs their sum, not their product.
    assert_eq!(zone.input_signatures.rrsets(), 2);
    for covered in [RType::A, RType(16)] {
        let signatures = zone.input_signatures.get(&www, covered);
        assert_eq!(signatures.count(), 10);
    }
}

#[test]
fn zonemd_covers_the_signed_zone_and_is_signed_last() {
    use super::zonemd::{digest_records, ZonemdHash};
    let mut text = String::from(
        "$TTL 300\n@ SOA ns hm 7 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n@ ZONEMD 1 1 1 00\n@ ZONEMD 1 241 1 00\n",
    );
    for i in 0..50 {
        text.push_str(&format!(
            "Host{i} A 192.0.2.{i}\nsub{i} NS ns.sub{i}\nns.sub{i} A 192.0.2.9\n"
        ));
    }
    let pem = include_str!("../../testdata/keys/Kexample.com.+015+03613.pem");
    let line = "example.com. 3600 IN DNSKEY 257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=";
    let hashes = [ZonemdHash::Sha512, ZonemdHash::Sha384];
    for denial in [
        Denial::Nsec,
        Denial::Nsec3 {
            salt: Vec::new(),
            iterations: 0,
            opt_out: true,
        },
    ] {
        let mut outputs = Vec::new();
        for workers in [1, 3] {
            let (key, _) = ed25519_key(pem, line);
            let mut stores: Vec<Box<dyn KeyStore + Send>> = (0..workers)
                .map(|_| {
                    Box::new(RingStore(vec![ed25519_key(pem, line).1])) as Box<dyn KeyStore + Send>
                })
                .collect();
            let mut opts = options(1_000_000, 2_000_000);
            opts.denial = denial.clone();
            opts.zonemd = hashes.to_vec();
            let zone = read_zone(&text, "example.com.");
            let signed =
                sign_zone(zone, std::slice::from_ref(&key), &mut stores, &opts).expect("sign");
            check::check_signed(&signed, &[key], &opts).expect("the ZONEMD RRSIG verifies");
            outputs.push(records(&signed));
        }
        assert_eq!(outputs[0], outputs[1], "{denial:?}");
        let output = &outputs[0];
        let origin = Name::parse("example.com.", None).expect("origin");
        let all: Vec<(Name, RType, u32, Vec<u8>)> = output
            .iter()
            .map(|r| (r.owner.clone(), r.rtype, r.ttl, r.rdata.clone()))
            .collect();
        let zonemds: Vec<&OutRecord> = output.iter().filter(|r| r.rtype == RType::ZONEMD).collect();
        // The input's two are replaced by one per hash, serial 7, SOA TTL.
        assert_eq!(zonemds.len(), 2, "{denial:?}");
        for (record, hash) in zonemds.iter().zip([ZonemdHash::Sha384, ZonemdHash::Sha512]) {
            assert_eq!(record.rdata[..6], [0, 0, 0, 7, 1, hash.number()]);
            assert_eq!(record.ttl, 300);
            let digest = digest_records(&origin, Class::IN, &all, &[hash]);
            assert_eq!(record.rdata[6..], digest[0].1[..], "{denial:?} {hash}");
        }
        let chain_lists_zonemd = output.iter().any(|r| {
            matches!(r.rtype, RType::NSEC | RType::NSEC3)
                && crate::rdata::format(r.rtype, &r.rdata).contains("ZONEMD")
        });
        assert!(chain_lists_zonemd, "{denial:?}");
        let zonemd_sigs = output
            .iter()
            .filter(|r| r.rtype == RType::RRSIG && r.rdata[..2] == [0, 63])
            .count();
        assert_eq!(zonemd_sigs, 1);
    }
}
