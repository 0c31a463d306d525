//! Test-only PKCS#11 client, run by the integration tests as a process of
//! its own (SoftHSM2 reads `SOFTHSM2_CONF` once per process, so the tests
//! cannot open their tokens in-process). It plays the roles the tests need:
//!
//! - `p11-probe attrs LABEL`: prints, one line per object with this label,
//!   the attributes the key generation sets (`class=private decrypt=false …`,
//!   `?` for an attribute the token does not show);
//! - `p11-probe attack LABEL`: the user-PIN holder as an attacker: makes an
//!   AES key of its own, wraps the private key under it, unwraps it as a
//!   non-sensitive session object and reads the private value;
//! - `p11-probe copy LABEL`: tries to copy the private key into one with
//!   other attributes (`C_CopyObject`), as the user;
//! - `p11-probe trusted LABEL`: the security officer makes a `CKA_TRUSTED`
//!   wrapping key, then the user wraps the private key under it (a backup
//!   as the token allows it);
//! - `p11-probe kek LABEL`: the security officer imports an AES key of a
//!   known value (`P11PROBE_KEK_HEX`, 32 bytes in hex) that may wrap and
//!   unwrap, marked `CKA_TRUSTED` unless `P11PROBE_KEK_TRUSTED=0`: the same
//!   key-encryption key in two tokens, as an HA pair or a replacement HSM
//!   gets it from a key ceremony;
//! - `p11-probe value LABEL`: the attack of `attack`, printing the private
//!   value it read (`value HEX`), so a test can look for it in a file.
//!
//! The first slot with a token is used. `P11PROBE_PIN` is the user PIN,
//! `P11PROBE_SO_PIN` the SO PIN, `P11PROBE_MODULE` the module (default
//! SoftHSM2). Exit 0 when the role's operation worked, 1 with the CKR_
//! code on stdout when the token refused it, 2 on a setup failure.

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(role), Some(label)) = (args.first(), args.get(1)) else {
        eprintln!("usage: p11-probe attrs|attack|value|copy|trusted|kek LABEL");
        return ExitCode::from(2);
    };
    match run(role, label) {
        Ok(code) => ExitCode::from(code),
        Err(message) => {
            eprintln!("p11-probe: {message}");
            ExitCode::from(2)
        }
    }
}

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn run(role: &str, label: &str) -> Result<u8, String> {
    let module = env("P11PROBE_MODULE", "/usr/lib/softhsm/libsofthsm2.so");
    let pkcs11 = Pkcs11::new(&module).map_err(|e| format!("{module}: {e}"))?;
    pkcs11
        .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .map_err(|e| e.to_string())?;
    let slot = *pkcs11
        .get_slots_with_initialized_token()
        .map_err(|e| e.to_string())?
        .first()
        .ok_or("no token")?;
    let session = pkcs11.open_rw_session(slot).map_err(|e| e.to_string())?;
    let user_pin = AuthPin::new(env("P11PROBE_PIN", "1234").into());
    match role {
        "attrs" => {
            session
                .login(UserType::User, Some(&user_pin))
                .map_err(|e| e.to_string())?;
            attrs(&session, label)?;
            Ok(0)
        }
        "attack" | "value" => {
            session
                .login(UserType::User, Some(&user_pin))
                .map_err(|e| e.to_string())?;
            attack(&session, label, role == "value")
        }
        "kek" => {
            let so_pin = AuthPin::new(env("P11PROBE_SO_PIN", "5678").into());
            session
                .login(UserType::So, Some(&so_pin))
                .map_err(|e| e.to_string())?;
            let value = hex(&env("P11PROBE_KEK_HEX", ""))?;
            let trusted = env("P11PROBE_KEK_TRUSTED", "1") != "0";
            session
                .create_object(&[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::Token(true),
                    Attribute::Private(false),
                    Attribute::Trusted(trusted),
                    Attribute::Wrap(true),
                    Attribute::Unwrap(true),
                    Attribute::Value(value),
                    Attribute::Label(label.as_bytes().to_vec()),
                ])
                .map_err(|e| format!("SO importing the key-encryption key: {e}"))?;
            Ok(0)
        }
        "trusted" => {
            let so_pin = AuthPin::new(env("P11PROBE_SO_PIN", "5678").into());
            session
                .login(UserType::So, Some(&so_pin))
                .map_err(|e| e.to_string())?;
            // The SO may make public objects only; the user may use them.
            let kek = session
                .generate_key(
                    &Mechanism::AesKeyGen,
                    &[
                        Attribute::Token(true),
                        Attribute::Private(false),
                        Attribute::Trusted(true),
                        Attribute::Wrap(true),
                        Attribute::ValueLen(32.into()),
                        Attribute::Label(b"backup-kek".to_vec()),
                    ],
                )
                .map_err(|e| format!("SO making the trusted key: {e}"))?;
            session.logout().map_err(|e| e.to_string())?;
            session
                .login(UserType::User, Some(&user_pin))
                .map_err(|e| e.to_string())?;
            let key = private_key(&session, label)?;
            match session.wrap_key(&Mechanism::AesKeyWrapPad, kek, key) {
                Ok(wrapped) => {
                    println!("wrapped under the trusted key ({} bytes)", wrapped.len());
                    Ok(0)
                }
                Err(error) => {
                    println!("wrap refused: {error:?}");
                    Ok(1)
                }
            }
        }
        "copy" => {
            session
                .login(UserType::User, Some(&user_pin))
                .map_err(|e| e.to_string())?;
            let key = private_key(&session, label)?;
            for (name, template) in [
                ("modifiable=true", Attribute::Modifiable(true)),
                ("decrypt=true", Attribute::Decrypt(true)),
                ("label", Attribute::Label(b"copy".to_vec())),
            ] {
                match session.copy_object(key, &[template]) {
                    Ok(copy) => {
                        println!("copy with {name}: made");
                        let _ = session.destroy_object(copy);
                    }
                    Err(error) => println!("copy with {name}: refused {error:?}"),
                }
            }
            Ok(0)
        }
        other => Err(format!("unknown role '{other}'")),
    }
}

fn hex(text: &str) -> Result<Vec<u8>, String> {
    if text.len() % 2 != 0 {
        return Err(format!("odd hex '{text}'"));
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&text[at..at + 2], 16).map_err(|e| e.to_string()))
        .collect()
}

fn private_key(session: &Session, label: &str) -> Result<ObjectHandle, String> {
    let found = session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(label.as_bytes().to_vec()),
        ])
        .map_err(|e| e.to_string())?;
    found
        .first()
        .copied()
        .ok_or_else(|| format!("no private key '{label}'"))
}

const SHOWN: [(&str, AttributeType); 13] = [
    ("sign", AttributeType::Sign),
    ("decrypt", AttributeType::Decrypt),
    ("unwrap", AttributeType::Unwrap),
    ("sign_recover", AttributeType::SignRecover),
    ("derive", AttributeType::Derive),
    ("modifiable", AttributeType::Modifiable),
    ("copyable", AttributeType::Copyable),
    ("sensitive", AttributeType::Sensitive),
    ("extractable", AttributeType::Extractable),
    ("wrap_with_trusted", AttributeType::WrapWithTrusted),
    ("private", AttributeType::Private),
    ("token", AttributeType::Token),
    ("verify", AttributeType::Verify),
];

fn attrs(session: &Session, label: &str) -> Result<(), String> {
    let objects = session
        .find_objects(&[Attribute::Label(label.as_bytes().to_vec())])
        .map_err(|e| e.to_string())?;
    for object in objects {
        let class = session
            .get_attributes(object, &[AttributeType::Class])
            .map_err(|e| e.to_string())?;
        let class = match class.first() {
            Some(Attribute::Class(c)) if *c == ObjectClass::PRIVATE_KEY => "private",
            Some(Attribute::Class(c)) if *c == ObjectClass::PUBLIC_KEY => "public",
            _ => "other",
        };
        let mut line = format!("class={class}");
        for (name, attribute) in SHOWN {
            // One attribute per call: a token answers a whole template
            // with an error if one of its attributes is invalid.
            let value = session
                .get_attributes(object, &[attribute])
                .ok()
                .and_then(|values| values.into_iter().next())
                .and_then(|value| bool_of(&value));
            let shown = value.map(|b| b.to_string()).unwrap_or_else(|| "?".into());
            line.push_str(&format!(" {name}={shown}"));
        }
        println!("{line}");
    }
    Ok(())
}

fn bool_of(attribute: &Attribute) -> Option<bool> {
    Some(match attribute {
        Attribute::Sign(b)
        | Attribute::Decrypt(b)
        | Attribute::Unwrap(b)
        | Attribute::SignRecover(b)
        | Attribute::Derive(b)
        | Attribute::Modifiable(b)
        | Attribute::Copyable(b)
        | Attribute::Sensitive(b)
        | Attribute::Extractable(b)
        | Attribute::WrapWithTrusted(b)
        | Attribute::Private(b)
        | Attribute::Token(b)
        | Attribute::Verify(b) => *b,
        _ => return None,
    })
}

/// The attack: anyone with the user PIN exports an extractable key
/// under a wrapping key of their own and reads it in the clear.
fn attack(session: &Session, label: &str, show: bool) -> Result<u8, String> {
    let key = private_key(session, label)?;
    let key_type = match session.get_attributes(key, &[AttributeType::KeyType]) {
        Ok(values) => match values.first() {
            Some(Attribute::KeyType(t)) => *t,
            _ => return Err("no key type".into()),
        },
        Err(e) => return Err(e.to_string()),
    };
    let own = session
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Token(false),
                Attribute::Wrap(true),
                Attribute::Unwrap(true),
                Attribute::ValueLen(32.into()),
            ],
        )
        .map_err(|e| format!("making the attacker's key: {e}"))?;
    let wrapped = match session.wrap_key(&Mechanism::AesKeyWrapPad, own, key) {
        Ok(wrapped) => wrapped,
        Err(error) => {
            println!("wrap refused: {error:?}");
            return Ok(1);
        }
    };
    let clear = session
        .unwrap_key(
            &Mechanism::AesKeyWrapPad,
            own,
            &wrapped,
            &[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::KeyType(key_type),
                Attribute::Token(false),
                Attribute::Sensitive(false),
                Attribute::Extractable(true),
            ],
        )
        .map_err(|e| format!("unwrapping: {e}"))?;
    let secret = if key_type == KeyType::RSA {
        AttributeType::PrivateExponent
    } else {
        AttributeType::Value
    };
    let values = session
        .get_attributes(clear, &[secret])
        .map_err(|e| format!("reading the unwrapped key: {e}"))?;
    let value = match values.first() {
        Some(Attribute::Value(v)) | Some(Attribute::PrivateExponent(v)) => v.clone(),
        _ => Vec::new(),
    };
    println!("read the private key in the clear ({} bytes)", value.len());
    if show {
        let text: String = value.iter().map(|b| format!("{b:02x}")).collect();
        println!("value {text}");
    }
    Ok(0)
}
