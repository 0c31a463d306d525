//! The BIND key-file readers on arbitrary bytes: errors, never panics.
#![no_main]
use common::name::Name;
use common::zone::ZoneReader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = common::keyfile::parse_private(text, "fuzz.private");
        let _ = common::keyfile::decode_c_string(text);
    }
    let mut reader = ZoneReader::new(Box::new(std::io::Cursor::new(data.to_vec())), "fuzz.key", None, Name::root()).lenient_ttl().max_generate(100_000);
    if let Ok(keys) = common::keyfile::read_dnskeys(&mut reader) {
        for key in keys {
            let _ = key.dnskey.key_tag();
            let _ = key.dnskey.to_public_key();
        }
    }
});
