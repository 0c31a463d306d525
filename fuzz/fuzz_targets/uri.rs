//! The PKCS#11 URI parser on arbitrary text: errors, never panics; any URI
//! it accepts prints and parses back to the same thing; a key file's label
//! never carries a module or a PIN, and no error quotes a pin-value.
#![no_main]
use common::uri::{KeyLabel, Pkcs11Uri};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for parsed in [Pkcs11Uri::parse(text), Pkcs11Uri::from_bind_label(text)] {
        match parsed {
            Ok(uri) => {
                let printed = uri.to_string();
                let again = Pkcs11Uri::parse(&printed).expect("a printed URI parses");
                // pin-value is never printed; everything else comes back.
                let mut expected = uri.clone();
                expected.pin_value = None;
                assert_eq!(again, expected, "{printed}");
            }
            Err(error) => {
                // A pin-value is never quoted (where the same text stands
                // nowhere else in the input, e.g. as an attribute name).
                if let Some(at) = text.find("pin-value=") {
                    let value = &text[at + "pin-value=".len()..];
                    let value = &value[..value.find([';', '&', '?', '\'', '%']).unwrap_or(value.len())];
                    let elsewhere = text.replacen(value, "", 1).contains(value);
                    if value.len() >= 6 && !elsewhere {
                        assert!(!error.to_string().contains(value), "{error}");
                    }
                }
            }
        }
    }
    if let Ok(label) = KeyLabel::parse(text) {
        let uri = label.uri();
        assert!(uri.module_path.is_none() && uri.module_name.is_none(), "{text}");
        assert!(uri.pin_value.is_none() && uri.pin_source.is_none(), "{text}");
    }
});
