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
            Err(_) => {
                // A pin-value is never quoted: the value's letters and digits
                // are replaced (the parse takes the same path) and the
                // message must not hold the replacement.
                // (the attribute itself, not the tail of `x-pin-value=`)
                let attribute = text.match_indices("pin-value=").find(|(at, _)| {
                    *at == 0 || matches!(text.as_bytes()[at - 1], b';' | b'?' | b'&' | b':')
                });
                if let Some((at, _)) = attribute {
                    let start = at + "pin-value=".len();
                    let len = text[start..]
                        .find(|c: char| !c.is_ascii_alphanumeric())
                        .unwrap_or(text.len() - start);
                    if len >= 4 {
                        let marker: String = text[start..start + len]
                            .chars()
                            .map(|c| if c.is_ascii_digit() { '7' } else { 'Q' })
                            .collect();
                        let marked = format!("{}{marker}{}", &text[..start], &text[start + len..]);
                        if marked.matches(&marker).count() > 1 {
                            continue;
                        }
                        for again in [Pkcs11Uri::parse(&marked), Pkcs11Uri::from_bind_label(&marked)] {
                            if let Err(error) = again {
                                assert!(!error.to_string().contains(&marker), "{error}");
                            }
                        }
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
