//! The zone reader and RDATA parser on arbitrary bytes: errors, never
//! panics; what parses prints and parses back to the same wire form; and
//! loading the same bytes as a zone (grouping, ordering, packing) never
//! panics either.
#![no_main]
use common::name::Name;
use common::zone::ZoneReader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(origin) = Name::parse("example.com.", None) else { return };
    let mut reader = ZoneReader::new(Box::new(std::io::Cursor::new(data.to_vec())), "fuzz", None, origin.clone()).lenient_ttl().max_generate(100_000);
    let again = ZoneReader::new(Box::new(std::io::Cursor::new(data.to_vec())), "fuzz", None, origin.clone()).lenient_ttl().max_generate(100_000);
    let _ = common::zone::model::Zone::load(again, &origin);
    for _ in 0..10_000 {
        let Ok(Some(record)) = reader.next_record() else { break };
        if let Ok(wire) = common::rdata::parse(record.rtype, &record.rdata, &record.origin) {
            let text = common::rdata::format(record.rtype, &wire);
            let _ = common::rdata::canonical(record.rtype, &wire);
            let mut lexer = common::zone::lexer::Lexer::new(text.as_bytes());
            if let Ok(Some(line)) = lexer.next_line() {
                let again = common::rdata::parse(record.rtype, &line.tokens, &record.origin);
                assert_eq!(again.as_ref(), Ok(&wire), "{} {text}", record.rtype);
            }
        }
    }
});
