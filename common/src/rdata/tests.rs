use super::*;
use crate::zone::lexer::Lexer;

fn tokens(text: &str) -> Vec<Token> {
    let mut lexer = Lexer::new(text.as_bytes());
    lexer
        .next_line()
        .expect("lex")
        .map(|l| l.tokens)
        .unwrap_or_default()
}

fn origin() -> Name {
    Name::parse("example.com.", None).expect("origin")
}

fn wire(rtype: &str, text: &str) -> Result<Vec<u8>, String> {
    parse(RType::parse(rtype).expect(rtype), &tokens(text), &origin())
}

/// Parse, print, parse again: the same wire, and the printed text stable.
fn round_trip(rtype: &str, text: &str) -> String {
    let t = RType::parse(rtype).expect(rtype);
    let first = wire(rtype, text).unwrap_or_else(|e| panic!("{rtype} {text}: {e}"));
    let printed = format(t, &first);
    let second = wire(rtype, &printed).unwrap_or_else(|e| panic!("{rtype} {printed}: {e}"));
    assert_eq!(first, second, "{rtype} {text} -> {printed}");
    assert_eq!(format(t, &second), printed);
    printed
}

#[test]
fn every_type_of_the_corpus_round_trips() {
    let cases = [
        ("A", "192.0.2.1", "192.0.2.1"),
        ("AAAA", "2001:db8::1", "2001:db8::1"),
        ("NS", "ns1", "ns1.example.com."),
        (
            "SOA",
            "ns hm 1 1h 2 3 1w",
            "ns.example.com. hm.example.com. 1 3600 2 3 604800",
        ),
        ("MX", "10 mail", "10 mail.example.com."),
        (
            "TXT",
            "\"foo\\010bar\" \"\\\"x\\\"\" plain",
            "\"foo\\010bar\" \"\\\"x\\\"\" \"plain\"",
        ),
        ("HINFO", "\"PC\" \"NetBSD\"", "\"PC\" \"NetBSD\""),
        (
            "GPOS",
            "\"-22.6882\" \"116.8652\" \"250.0\"",
            "\"-22.6882\" \"116.8652\" \"250.0\"",
        ),
        (
            "ISDN",
            "\"isdn-address\" \"subaddress\"",
            "\"isdn-address\" \"subaddress\"",
        ),
        ("X25", "\"123456789\"", "\"123456789\""),
        (
            "NAPTR",
            "65535 65535 \"blurgh\" \"blorf\" \"blllbb\" foo.",
            "65535 65535 \"blurgh\" \"blorf\" \"blllbb\" foo.",
        ),
        ("SRV", "0 0 0 .", "0 0 0 ."),
        ("PX", "65535 . .", "65535 . ."),
        (
            "RP",
            "mbox-dname txt-dname",
            "mbox-dname.example.com. txt-dname.example.com.",
        ),
        ("MINFO", ". .", ". ."),
        ("AFSDB", "0 hostname", "0 hostname.example.com."),
        ("RT", "65535 .", "65535 ."),
        ("KX", "10 kdc", "10 kdc.example.com."),
        (
            "NSAP",
            "0x47.0005.80.005a00.0000.0001.e133.ffffff000161.00",
            "0x47000580005a0000000001e133ffffff00016100",
        ),
        ("NSAP-PTR", "foo.", "foo."),
        (
            "LOC",
            "60 9 0.000 N 24 39 0.000 E 10.00m 20m 2000m 20m",
            "60 9 0.000 N 24 39 0.000 E 10.00m 20m 2000m 20m",
        ),
        (
            "LOC",
            "37 52 56.788 N 121 54 55.02 W 1120m 10m 100m 10m",
            "37 52 56.788 N 121 54 55.020 W 1120.00m 10m 100m 10m",
        ),
        (
            "LOC",
            "43 02 20.000 N 77 43 12.000 W 170.00m 1.00m 30.00m 10.00m",
            "43 2 20.000 N 77 43 12.000 W 170.00m 1m 30m 10m",
        ),
        (
            "WKS",
            "10.0.0.1 6 ( 0 1 2 21 23 )",
            "10.0.0.1 6 0 1 2 21 23",
        ),
        ("WKS", "1.2.3.4 udp domain", "1.2.3.4 17 53"),
        (
            "NXT",
            "a.secure ( NS SOA MX SIG KEY LOC NXT )",
            "a.secure.example.com. NS SOA MX SIG KEY LOC NXT",
        ),
        ("NXT", ". ( 127 )", ". TYPE127"),
        (
            "CERT",
            "65534 65535 PRIVATEOID MxFcby9k/yvedMfQgKzhH5er0Mu/",
            "65534 65535 254 MxFcby9k/yvedMfQgKzhH5er0Mu/",
        ),
        ("CERT", "PKIX 1 8 AAAA", "PKIX 1 8 AAAA"),
        ("KEY", "512 255 1 AQMFD5raczCJ", "512 255 1 AQMFD5raczCJ"),
        (
            "SIG",
            "NXT 1 3 3600 20000102030405 19961211100908 2143 foo MxFcby9k",
            "NXT 1 3 3600 20000102030405 19961211100908 2143 foo.example.com. MxFcby9k",
        ),
        (
            "DS",
            "60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118",
            "60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118",
        ),
        (
            "SSHFP",
            "1 1 dd465c09cfa51fb45020cc83316fff21b9ec74ac",
            "1 1 DD465C09CFA51FB45020CC83316FFF21B9EC74AC",
        ),
        (
            "NSEC",
            "host.example.com. A MX RRSIG NSEC TYPE1234",
            "host.example.com. A MX RRSIG NSEC TYPE1234",
        ),
        (
            "NSEC3",
            "1 1 12 aabbccdd 2t7b4g4vsa5smi47k61mv5bv1a22bojr A RRSIG",
            "1 1 12 AABBCCDD 2T7B4G4VSA5SMI47K61MV5BV1A22BOJR A RRSIG",
        ),
        ("NSEC3PARAM", "1 0 0 -", "1 0 0 -"),
        (
            "ZONEMD",
            "2018031900 1 1 31cefb03814f5062ad12",
            "2018031900 1 1 31CEFB03814F5062AD12",
        ),
        ("L32", "2 0.0.0.0", "2 0.0.0.0"),
        ("L64", "2 0:0:0:0", "2 0000:0000:0000:0000"),
        ("NID", "2 0:0:0:1", "2 0000:0000:0000:0001"),
        ("LP", "2 ns1", "2 ns1.example.com."),
        ("EUI48", "00-00-5e-00-53-2a", "00-00-5e-00-53-2a"),
        (
            "EUI64",
            "00-00-5e-ef-10-00-00-2a",
            "00-00-5e-ef-10-00-00-2a",
        ),
        ("A6", "0 2001:db8::1", "0 2001:db8::1"),
        // BIND 9.18 writes and reads these two in base64.
        ("HHIT", "AAECAwQF", "AAECAwQF"),
        ("BRID", "AAECAwQF", "AAECAwQF"),
        (
            "A6",
            "64 ::1:2:3:4 prefix.example.",
            "64 ::1:2:3:4 prefix.example.",
        ),
        (
            "APL",
            "1:192.168.32.0/21 !1:192.168.38.0/28 2:2001:db8::/32",
            "1:192.168.32.0/21 !1:192.168.38.0/28 2:2001:db8::/32",
        ),
        (
            "IPSECKEY",
            "10 1 2 192.0.2.38 AQNRU3mG7TVTO2BkR47usntb102uFJtugbo6BSGvgqt4AQ==",
            "10 1 2 192.0.2.38 AQNRU3mG7TVTO2BkR47usntb102uFJtugbo6BSGvgqt4AQ==",
        ),
        ("IPSECKEY", "10 0 2 . AQNRU3mG", "10 0 2 . AQNRU3mG"),
        (
            "IPSECKEY",
            "10 3 2 gw.example.net. AQNRU3mG",
            "10 3 2 gw.example.net. AQNRU3mG",
        ),
        (
            "HIP",
            "2 200100107B1A74DF365639CC39F1D578 AwEAAbdxyhNuSutc rvs.example.com.",
            "2 200100107B1A74DF365639CC39F1D578 AwEAAbdxyhNuSutc rvs.example.com.",
        ),
        (
            "URI",
            "10 1 \"ftp://ftp1.example.com/public\"",
            "10 1 \"ftp://ftp1.example.com/public\"",
        ),
        (
            "CAA",
            "0 issue \"ca.example.net\"",
            "0 issue \"ca.example.net\"",
        ),
        ("TLSA", "3 1 1 0123456789abcdef", "3 1 1 0123456789ABCDEF"),
        (
            "DHCID",
            "AAIBY2/AuCccgoJbsaxcQc9TUapptP69lOjxfNuVAA2kjEA=",
            "AAIBY2/AuCccgoJbsaxcQc9TUapptP69lOjxfNuVAA2kjEA=",
        ),
        ("CSYNC", "66 3 A NS AAAA", "66 3 A NS AAAA"),
        ("AMTRELAY", "10 0 1 203.0.113.15", "10 0 1 203.0.113.15"),
        (
            "SVCB",
            "1 . port=60 alpn=h3 ech=\"ZWFzdGVyIGVnZyE=\"",
            "1 . alpn=\"h3\" port=60 ech=\"ZWFzdGVyIGVnZyE=\"",
        ),
        (
            "SVCB",
            "2 . no-default-alpn alpn=alpn",
            "2 . alpn=\"alpn\" no-default-alpn",
        ),
        (
            "SVCB",
            "4 . ipv6hint=\"feed:a::bee\"",
            "4 . ipv6hint=feed:a::bee",
        ),
        (
            "SVCB",
            "5 . key9999=\"something\"",
            "5 . key9999=\"something\"",
        ),
        (
            "SVCB",
            "8 . mandatory=port,alpn port=60 alpn=\"h1\\\\,h2,h3\"",
            "8 . mandatory=alpn,port alpn=\"h1\\\\,h2,h3\" port=60",
        ),
        (
            "SVCB",
            "7 . alpn=\"h2,h3\" dohpath=/{?dns}",
            "7 . alpn=\"h2,h3\" key7=\"/{?dns}\"",
        ),
        // RFC 9540's ohttp (key 8) takes no value: BIND 9.18 and ldns 1.8
        // load only the generic form, and only bare.
        ("HTTPS", "1 . alpn=h2 ohttp", "1 . alpn=\"h2\" key8"),
        ("HTTPS", "1 . alpn=h2 ohttp=\"\"", "1 . alpn=\"h2\" key8"),
        (
            "HTTPS",
            "1 . key8 key7=/q{?dns}",
            "1 . key7=\"/q{?dns}\" key8",
        ),
        (
            "SVCB",
            "1 . mandatory=ohttp,alpn alpn=h2 ohttp",
            "1 . mandatory=alpn,key8 alpn=\"h2\" key8",
        ),
        ("SVCB", "1 . key65000=\"\"", "1 . key65000"),
        ("SVCB", "0 44._svbc.example.net.", "0 44._svbc.example.net."),
        (
            "HTTPS",
            "1 . ipv4hint=\"10.10.10.10\"",
            "1 . ipv4hint=10.10.10.10",
        ),
    ];
    for (rtype, input, expected) in cases {
        assert_eq!(round_trip(rtype, input), expected, "{rtype} {input}");
    }
}

#[test]
fn generic_rdata_of_rfc3597() {
    assert_eq!(wire("A", "\\# 4 0A000001").expect("a"), vec![10, 0, 0, 1]);
    assert_eq!(
        wire("A", "\\# 4 0A 00 00 01").expect("a"),
        vec![10, 0, 0, 1]
    );
    assert_eq!(wire("TYPE1", "10.0.0.1").expect("type1"), vec![10, 0, 0, 1]);
    assert_eq!(wire("NULL", "\\# 0").expect("empty"), Vec::<u8>::new());
    assert_eq!(wire("TYPE124", "\\# 0").expect("empty"), Vec::<u8>::new());
    assert_eq!(
        wire("TXT", "\\# 6 0568656C6C6F").expect("txt"),
        b"\x05hello".to_vec()
    );
    assert_eq!(
        wire("TXT", "\"\\#\" 2 0145").expect("quoted"),
        b"\x01#\x012\x040145".to_vec()
    );
    assert_eq!(
        wire("TXT", "\\# text").expect("not generic"),
        b"\x01#\x04text".to_vec()
    );
    assert_eq!(format(RType(123), &[0]), "\\# 1 00");
    assert_eq!(format(RType(124), &[]), "\\# 0");
    // A HIP with an empty HIT, given as \#, has no other form to print.
    let hip = wire("HIP", "\\# 6 00030001 0000").expect("hip");
    assert_eq!(format(RType(55), &hip), "\\# 6 000300010000");
    for (rtype, text, message) in [
        ("A", "\\# 3 0A0000", "bad A RDATA"),
        ("A", "\\# 4 0A0000", "does not match"),
        ("TYPE123", "\\# 2 0", "bad hex"),
        ("TYPE123", "00", "no known presentation"),
    ] {
        let error = wire(rtype, text).expect_err(text);
        assert!(error.contains(message), "{rtype} {text}: {error}");
    }
}

#[test]
fn bad_rdata_is_named() {
    for (rtype, text, message) in [
        ("A", "192.0.2", "bad IPv4 address"),
        ("A", "192.0.2.1 extra", "too many fields"),
        ("MX", "mail", "bad 16-bit number"),
        ("MX", "10", "missing domain name"),
        (
            "TXT",
            &format!("\"{}\"", "x".repeat(256)),
            "longer than 255",
        ),
        ("DNSKEY", "256 3 13 !!!", "bad base64"),
        ("DS", "1 13 2 XYZ", "bad hex"),
        ("NSEC", "a. BOGUS", "unknown type 'BOGUS'"),
        ("LOC", "91 0 0 N 0 0 0 E 0m", "out of range"),
        ("SVCB", "1 . bogus=1", "unknown SvcParam key"),
        // An empty HIT prints as nothing (found by fuzzing: the key was
        // then read back as the HIT).
        ("HIP", "3 \"\" AwEAAQ==", "needs a HIT and a public key"),
    ] {
        let error = wire(rtype, text).expect_err(text);
        assert!(error.contains(message), "{rtype} {text}: {error}");
    }
}

#[test]
fn type_bitmaps_match_the_vectors() {
    let text = include_str!("../../testdata/type-bitmap.txt");
    let mut checked = 0;
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let mut columns = line.split('\t');
        let (Some(types), Some(hex)) = (columns.next(), columns.next()) else {
            continue;
        };
        let types: Vec<RType> = types
            .split_whitespace()
            .map(|t| RType::parse(t).expect(t))
            .collect();
        let bitmap = type_bitmap(&types);
        assert_eq!(
            data_encoding::HEXLOWER.encode(&bitmap),
            hex.trim(),
            "{line}"
        );
        assert_eq!(bitmap_types(&bitmap).expect("decode"), {
            let mut sorted = types.clone();
            sorted.sort();
            sorted
        });
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} bitmap vectors");
}

#[test]
fn canonical_form_lowercases_the_listed_types_only() {
    let mx = wire("MX", "10 MAIL.Example.COM.").expect("mx");
    assert_eq!(
        &*canonical(RType(15), &mx),
        &wire("MX", "10 mail.example.com.").expect("mx")[..]
    );
    let nsec = wire("NSEC", "Host.Example.COM. A").expect("nsec");
    assert_eq!(
        &*canonical(RType::NSEC, &nsec),
        &nsec[..],
        "RFC 6840 §5.1: NSEC keeps its case"
    );
    let rrsig = wire(
        "RRSIG",
        "A 13 2 300 20270101000000 20260101000000 1 Example.COM. AAAA",
    )
    .expect("rrsig");
    assert!(canonical(RType::RRSIG, &rrsig)
        .windows(7)
        .any(|w| w == b"example"));
    let txt = wire("TXT", "\"ABC\"").expect("txt");
    assert_eq!(&*canonical(RType(16), &txt), &txt[..]);
    let soa = wire("SOA", "NS.A. HM.A. 1 2 3 4 5").expect("soa");
    assert!(!canonical(RType::SOA, &soa)
        .iter()
        .any(u8::is_ascii_uppercase));
}

#[test]
fn rrsig_times_read_as_jiff_reads_them() {
    // Valid dates at the edges (epoch, leap days, 2038, 2106 and past it,
    // year 0000) and invalid ones jiff refuses (a 29 February of a common
    // year, day 31 of a 30-day month, hour 24, second 60, month 0 or 13).
    for text in [
        "19700101000000",
        "20000229235959",
        "21000229000000",
        "19000228120000",
        "20380119031408",
        "21060207062815",
        "21060207062816",
        "99991231235959",
        "99991230220000",
        "99991230220001",
        "00000101000000",
        "00000229000000",
        "20261202043000",
        "20270431000000",
        "20270230000000",
        "20270101240000",
        "20270101006000",
        "20270101000060",
        "20270001000000",
        "20271301000000",
        "20270100000000",
        "2027010100000x",
    ] {
        let jiff = crate::time::parse_timestamp(text).map(|t| t.rem_euclid(1 << 32) as u32);
        assert_eq!(rrsig_time(text.as_bytes()), jiff, "{text}");
    }
    let mut day = 0i64;
    while day < 50_000 {
        let text = crate::time::format_timestamp(day * 86_400 + 86_399);
        let jiff = crate::time::parse_timestamp(&text).map(|t| t.rem_euclid(1 << 32) as u32);
        assert_eq!(rrsig_time(text.as_bytes()), jiff, "{text}");
        day += 7;
    }
}

#[test]
fn rrsig_text_forms_read_alike() {
    let zone = |text: &str| {
        let mut lexer = Lexer::new(text.as_bytes());
        let line = lexer.next_line().expect("lex").expect("a line");
        parse(RType::RRSIG, &line.tokens[1..], &origin())
    };
    let signature = "MEUCIQD3Lq0yP0b7ERs8dmWQ9nUi1/gdsZUUjrCIsu9XP0C6UgIgbl1uVxqLNy7y1w5Z4m1v9YqUt0hyOtRWb7ZP+1vVJ1A=";
    let (head, tail) = signature.split_at(30);
    let plain = zone(&format!(
        "RRSIG A 13 3 300 20270101000000 20261201000000 12345 example.com. {signature}"
    ))
    .expect("plain");
    for text in [
        // Numeric times, mnemonics in other cases, a relative signer.
        format!("RRSIG a ECDSAP256SHA256 3 300 1798761600 1796083200 12345 example.com. {signature}"),
        format!("RRSIG A 13 3 300 20270101000000 20261201000000 12345 EXAMPLE.com. {signature}"),
        format!("RRSIG A 13 3 300 20270101000000 20261201000000 12345 @ {signature}"),
        // Parentheses over lines, comments, and the signature in pieces.
        format!("RRSIG A 13 3 300 (\n 20270101000000 ; expiration\n 20261201000000 12345 example.com.\n {head} ; one half\n {tail} )"),
        format!("RRSIG A 13 3 300 20270101000000 20261201000000 12345 example.com. {head} {tail}"),
        format!("RRSIG A 13 3 300 20270101000000 20261201000000 12345 example.com. \"{signature}\""),
    ] {
        let got = zone(&text).expect(&text);
        // Only the signer's spelling may differ: names keep their case.
        assert_eq!(
            got.to_ascii_lowercase(),
            plain.to_ascii_lowercase(),
            "{text}"
        );
    }
    for bad in [
        format!("RRSIG A 13 3 300 20270230000000 20261201000000 12345 example.com. {signature}"),
        format!("RRSIG A 13 3 300 20270101000000 20261201000000 12345 example.com. {head}!{tail}"),
        "RRSIG A 13 3 300 20270101000000 20261201000000 12345 example.com. \"\"".to_string(),
        "RRSIG A 13 3 300 20270101000000 20261201000000 12345 example.com.".to_string(),
    ] {
        assert!(zone(&bad).is_err(), "{bad}");
    }
}
