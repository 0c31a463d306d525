//! The PKCS#11 URI parser on arbitrary text: errors, never panics; any URI
//! it accepts prints and parses back to the same thing.
#![no_main]
use common::uri::Pkcs11Uri;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for parsed in [Pkcs11Uri::parse(text), Pkcs11Uri::from_bind_label(text)] {
        if let Ok(uri) = parsed {
            let printed = uri.to_string();
            let again = Pkcs11Uri::parse(&printed).expect("a printed URI parses");
            // pin-value is never printed; everything else comes back.
            let mut expected = uri.clone();
            expected.pin_value = None;
            assert_eq!(again, expected, "{printed}");
        }
    }
});
