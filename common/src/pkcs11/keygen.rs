//! Key-pair generation on the token, with BIND 9.16's templates
//! (bind-tools.md §2.4) and its traps fixed: the algorithm name sets the
//! curve, and new keys get a unique `CKA_ID`.

use crate::algorithm::{Algorithm, KeyKind};
use crate::error::{Error, Result};
use crate::keys::{Curve, PublicKey};
use crate::pkcs11::object::{find_objects, id_hex, read_public_key, ObjectSelector};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectHandle};
use cryptoki::session::Session;

/// RSA public exponent F4 = 65537.
const EXPONENT_F4: &[u8] = &[0x01, 0x00, 0x01];
/// RSA public exponent F5 = 4294967297 (BIND's `-e`).
const EXPONENT_F5: &[u8] = &[0x01, 0x00, 0x00, 0x00, 0x01];
/// RSA key size when `-b` is not given.
pub const DEFAULT_RSA_BITS: u32 = 2048;

/// What kind of key pair to make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySpec {
    Rsa { bits: u32, large_exponent: bool },
    Ec(Curve),
}

impl KeySpec {
    /// Reads BIND's `-a`, `-b` and `-e`. `-a` is a DNSSEC algorithm (name
    /// or number), or a key class matched by prefix as BIND does: `rsa…`
    /// and `nsec3rsa…` for RSA, `ecc…`/`ecdsa…` for ECDSA, `ecx…`/`ed…` for
    /// EdDSA. Returns the spec and, when a default was chosen that BIND
    /// would have refused, a note for stderr.
    pub fn from_options(
        algorithm: Option<&str>,
        bits: Option<u32>,
        large_exponent: bool,
    ) -> Result<(KeySpec, Option<String>)> {
        let name = algorithm.unwrap_or("RSA");
        let lower = name.to_ascii_lowercase();
        let (spec, note) = if let Some(exact) = Algorithm::parse(name) {
            match exact.key_kind() {
                KeyKind::Rsa => rsa_spec(bits, large_exponent)?,
                KeyKind::Ec(curve) => {
                    if let Some(bits) = bits {
                        if bits != curve.bits() && !(curve == Curve::Ed448 && bits == 448) {
                            return Err(Error::usage(format!(
                                "-b {bits} does not match -a {name} ({} keys are {} bits)",
                                curve.name(),
                                curve.bits()
                            )));
                        }
                    }
                    (KeySpec::Ec(curve), None)
                }
            }
        } else if lower.starts_with("rsa") || lower.starts_with("nsec3rsa") {
            rsa_spec(bits, large_exponent)?
        } else if lower.starts_with("ecc") || lower.starts_with("ecdsa") {
            match bits {
                None | Some(256) => (KeySpec::Ec(Curve::P256), None),
                Some(384) => (KeySpec::Ec(Curve::P384), None),
                Some(_) => {
                    return Err(Error::usage(
                        "ECC keys only support bit sizes of 256 and 384",
                    ))
                }
            }
        } else if lower.starts_with("ecx") || lower.starts_with("ed") {
            match bits {
                None | Some(256) => (KeySpec::Ec(Curve::Ed25519), None),
                Some(456) | Some(448) => (KeySpec::Ec(Curve::Ed448), None),
                Some(_) => {
                    return Err(Error::usage(
                        "ECX keys only support bit sizes of 256 and 456",
                    ))
                }
            }
        } else {
            // Every name Algorithm::parse takes, so the list cannot fall
            // behind what is accepted.
            let names: Vec<String> = Algorithm::ALL
                .iter()
                .map(|a| format!("{} ({})", a.mnemonic(), a.number()))
                .collect();
            return Err(Error::usage(format!(
                "unknown key algorithm '{name}': use RSA, ECC, ECX, ECDSA256, ECDSA384 or a \
                 DNSSEC algorithm by name or number: {}",
                names.join(", ")
            )));
        };
        if large_exponent && !matches!(spec, KeySpec::Rsa { .. }) {
            return Err(Error::usage(
                "the -e option is only compatible with RSA key generation",
            ));
        }
        Ok((spec, note))
    }

    /// A short description: `RSA 2048`, `P-256`, `Ed25519`.
    pub fn describe(&self) -> String {
        match self {
            KeySpec::Rsa { bits, .. } => format!("RSA {bits}"),
            KeySpec::Ec(curve) => curve.name().to_string(),
        }
    }
}

fn rsa_spec(bits: Option<u32>, large_exponent: bool) -> Result<(KeySpec, Option<String>)> {
    let (bits, note) = match bits {
        Some(bits) => (bits, None),
        None => (
            DEFAULT_RSA_BITS,
            Some(format!(
                "no -b given: making a {DEFAULT_RSA_BITS}-bit RSA key"
            )),
        ),
    };
    if !(1024..=4096).contains(&bits) {
        return Err(Error::usage(format!(
            "RSA key size {bits} is outside 1024..4096 bits (RFC 3110, RFC 5702)"
        )));
    }
    Ok((
        KeySpec::Rsa {
            bits,
            large_exponent,
        },
        note,
    ))
}

/// How well the private key is kept in the token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protection {
    /// Sensitive and never extractable (the default).
    Sensitive,
    /// Sensitive but extractable with `CKA_WRAP_WITH_TRUSTED`: it can
    /// leave the token only wrapped under a key the security officer
    /// marked `CKA_TRUSTED`, for backup (`-E`).
    WrapOnly,
    /// Neither sensitive nor protected from export (BIND's `-P`).
    Exportable,
}

/// A key pair to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyGenRequest {
    pub label: Vec<u8>,
    /// `CKA_ID`; `None` means SHA-1 of the public key's DER SPKI.
    pub id: Option<Vec<u8>>,
    pub spec: KeySpec,
    pub protection: Protection,
    /// Leave the private key `CKA_MODIFIABLE` (`--modifiable`), so that its
    /// label or ID can be changed later; by default it cannot.
    pub modifiable: bool,
}

/// A key pair that was made.
#[derive(Clone, Debug)]
pub struct GeneratedKey {
    pub public: ObjectHandle,
    pub private: ObjectHandle,
    pub public_key: PublicKey,
    /// The `CKA_ID` the pair carries (empty if the token refused one).
    pub id: Vec<u8>,
    /// What the operator should know (a weaker template the token forced,
    /// a missing ID): the tool prints these with [`crate::cli::warn`].
    pub warnings: Vec<String>,
}

/// Refuses a label or ID that is already on the token (BIND checked the
/// label only; a shared ID makes libp11's and Knot's lookups ambiguous).
pub fn check_unused(session: &Session, request: &KeyGenRequest) -> Result<()> {
    let by_label = ObjectSelector {
        label: Some(request.label.clone()),
        ..ObjectSelector::default()
    };
    if !find_objects(session, &by_label)?.is_empty() {
        return Err(Error::Failed("Key already exists.".into()));
    }
    if let Some(id) = &request.id {
        let by_id = ObjectSelector {
            id: Some(id.clone()),
            ..ObjectSelector::default()
        };
        if !find_objects(session, &by_id)?.is_empty() {
            return Err(Error::Failed(format!(
                "an object with id {} already exists",
                id_hex(id)
            )));
        }
    }
    Ok(())
}

/// The private-key attributes that narrow what the key can do beyond
/// signing, against SoftHSM2's defaults (CKA_DECRYPT, CKA_UNWRAP,
/// CKA_SIGN_RECOVER, CKA_MODIFIABLE, CKA_COPYABLE all true): a DNSSEC key
/// only signs. They are optional: some tokens refuse attributes that do
/// not apply to a key type or that they do not implement (CloudHSM
/// answers CKR_ATTRIBUTE_VALUE_INVALID, YubiHSM and Cavium refuse parts of
/// common templates), and a key without them still stays in the token.
fn optional_private_attributes(request: &KeyGenRequest, id_known: bool) -> Vec<Attribute> {
    let mut optional = vec![
        Attribute::Decrypt(false),
        Attribute::Unwrap(false),
        Attribute::SignRecover(false),
        Attribute::Derive(false),
    ];
    if request.modifiable {
        optional.push(Attribute::Copyable(false));
    } else if id_known {
        optional.push(Attribute::Copyable(false));
        optional.push(Attribute::Modifiable(false));
    }
    // Else the computed ID is set by a copy that clears CKA_MODIFIABLE (see
    // `set_computed_id`): the original must be copyable until then.
    optional
}

/// The return values with which tokens refuse an attribute they do not
/// support (PKCS#11 does not say which attribute it was).
fn refuses_attribute(error: &cryptoki::error::Error) -> bool {
    use cryptoki::error::{Error as E, RvError};
    matches!(
        error,
        E::Pkcs11(
            RvError::AttributeTypeInvalid
                | RvError::AttributeValueInvalid
                | RvError::AttributeReadOnly
                | RvError::TemplateInconsistent,
            _
        )
    )
}

/// `CKA_DECRYPT=false`, for messages.
fn attribute_text(attribute: &Attribute) -> String {
    let value = match attribute {
        Attribute::Decrypt(b)
        | Attribute::Unwrap(b)
        | Attribute::SignRecover(b)
        | Attribute::Derive(b)
        | Attribute::Copyable(b)
        | Attribute::Modifiable(b) => b.to_string(),
        _ => "…".into(),
    };
    format!("{}={value}", attribute_name(attribute.attribute_type()))
}

fn attribute_name(attribute: AttributeType) -> &'static str {
    match attribute {
        AttributeType::Decrypt => "CKA_DECRYPT",
        AttributeType::Unwrap => "CKA_UNWRAP",
        AttributeType::SignRecover => "CKA_SIGN_RECOVER",
        AttributeType::Derive => "CKA_DERIVE",
        AttributeType::Copyable => "CKA_COPYABLE",
        AttributeType::Modifiable => "CKA_MODIFIABLE",
        _ => "an attribute",
    }
}

/// Generates the key pair. The caller has checked the label with
/// [`check_unused`].
///
/// The private key is always `CKA_TOKEN`, `CKA_PRIVATE` and `CKA_SIGN`;
/// `CKA_SENSITIVE`, `CKA_EXTRACTABLE` and (for `-E`) `CKA_WRAP_WITH_TRUSTED`
/// follow [`Protection`]. These are never dropped: a token that refuses
/// them makes no key. The optional narrowing attributes
/// ([`optional_private_attributes`]) are dropped, once, if the token
/// refuses the template for an attribute, with a warning naming them.
pub fn generate(session: &Session, request: &KeyGenRequest) -> Result<GeneratedKey> {
    generate_objects(session, request, true)
}

/// [`generate`] with the same templates, but as session objects
/// (`CKA_TOKEN` false), which the token forgets when the session closes:
/// for `pkcs11-tokens --test`, which must change nothing persistent.
pub fn generate_session_pair(session: &Session, request: &KeyGenRequest) -> Result<GeneratedKey> {
    generate_objects(session, request, false)
}

fn generate_objects(
    session: &Session,
    request: &KeyGenRequest,
    token: bool,
) -> Result<GeneratedKey> {
    let mut warnings = Vec::new();
    let label = Attribute::Label(request.label.clone());
    let mut public_template = vec![
        label.clone(),
        Attribute::Verify(true),
        Attribute::Token(token),
        Attribute::Private(false),
    ];
    let (sensitive, extractable) = match request.protection {
        Protection::Sensitive => (true, false),
        Protection::WrapOnly => (true, true),
        Protection::Exportable => (false, true),
    };
    let mut private_template = vec![
        label,
        Attribute::Sign(true),
        Attribute::Token(token),
        Attribute::Private(true),
        Attribute::Sensitive(sensitive),
        Attribute::Extractable(extractable),
    ];
    // -E's whole point: without it anyone with the user PIN wraps the key
    // under an AES key of their own and unwraps it in the clear.
    if request.protection == Protection::WrapOnly {
        private_template.push(Attribute::WrapWithTrusted(true));
    }
    let mechanism = match request.spec {
        KeySpec::Rsa {
            bits,
            large_exponent,
        } => {
            let exponent = if large_exponent {
                EXPONENT_F5
            } else {
                EXPONENT_F4
            };
            public_template.push(Attribute::ModulusBits(u64::from(bits).into()));
            public_template.push(Attribute::PublicExponent(exponent.to_vec()));
            Mechanism::RsaPkcsKeyPairGen
        }
        KeySpec::Ec(curve) => {
            public_template.push(Attribute::EcParams(curve.ec_params()));
            if curve.is_edwards() {
                Mechanism::EccEdwardsKeyPairGen
            } else {
                Mechanism::EccKeyPairGen
            }
        }
    };
    if let Some(id) = &request.id {
        public_template.push(Attribute::Id(id.clone()));
        private_template.push(Attribute::Id(id.clone()));
    }
    let context = || format!("generating a {} key pair", request.spec.describe());
    let optional = optional_private_attributes(request, request.id.is_some());
    let full: Vec<Attribute> = private_template.iter().chain(&optional).cloned().collect();
    let mut dropped = false;
    let (public, private) = match session.generate_key_pair(&mechanism, &public_template, &full) {
        Ok(pair) => pair,
        Err(error) if refuses_attribute(&error) => {
            let names: Vec<String> = optional.iter().map(attribute_text).collect();
            warnings.push(format!(
                "the token refused the key template ({}): made the key without {}",
                Error::pkcs11("", error),
                names.join(", ")
            ));
            dropped = true;
            session
                .generate_key_pair(&mechanism, &public_template, &private_template)
                .map_err(|e| {
                    Error::pkcs11(
                        format!(
                            "{} (also without the optional attributes{})",
                            context(),
                            if request.protection == Protection::WrapOnly {
                                "; -E needs CKA_WRAP_WITH_TRUSTED"
                            } else {
                                ""
                            }
                        ),
                        e,
                    )
                })?
        }
        Err(error) => return Err(Error::pkcs11(context(), error)),
    };
    let public_key = read_public_key(session, public)?;
    let (private, id) = match &request.id {
        Some(id) => (private, id.clone()),
        None => set_computed_id(
            session,
            request,
            (public, private),
            public_key.key_id(),
            dropped,
            &mut warnings,
        ),
    };
    if dropped {
        let kept: Vec<String> = optional
            .iter()
            .chain(
                [Attribute::Copyable(false), Attribute::Modifiable(false)]
                    .iter()
                    .filter(|_| request.id.is_none() && !request.modifiable),
            )
            .filter_map(|wanted| {
                let have = session
                    .get_attributes(private, &[wanted.attribute_type()])
                    .ok()?
                    .into_iter()
                    .next()?;
                (have != *wanted).then(|| attribute_text(&have))
            })
            .collect();
        if !kept.is_empty() {
            warnings.push(format!(
                "the private key has the token's defaults {}",
                kept.join(", ")
            ));
        }
    }
    Ok(GeneratedKey {
        public,
        private,
        public_key,
        id,
        warnings,
    })
}

/// Gives the pair the `CKA_ID` computed from its public key; returns the
/// private key's handle (it changes when the key is copied) and the ID
/// (empty if the token refused one). CKA_MODIFIABLE can become false only
/// at creation or in `C_CopyObject` (SoftHSM2 refuses it in
/// `C_SetAttributeValue`), and the ID is known only after creation: so the
/// private key is copied with the ID and CKA_MODIFIABLE=false, and the
/// original destroyed. A token that cannot copy keeps the original, with
/// the ID set and a warning.
fn set_computed_id(
    session: &Session,
    request: &KeyGenRequest,
    (public, private): (ObjectHandle, ObjectHandle),
    id: Vec<u8>,
    dropped: bool,
    warnings: &mut Vec<String>,
) -> (ObjectHandle, Vec<u8>) {
    let set = [Attribute::Id(id.clone())];
    if let Err(error) = session.update_attributes(public, &set) {
        warnings.push(format!(
            "the key pair was made but has no CKA_ID: {}",
            Error::pkcs11("", error)
        ));
        return (private, Vec::new());
    }
    if !request.modifiable && !dropped {
        let template = [Attribute::Id(id.clone()), Attribute::Modifiable(false)];
        match session.copy_object(private, &template) {
            Ok(copy) => match session.destroy_object(private) {
                Ok(()) => {
                    // Tokens that let CKA_COPYABLE be cleared on an object
                    // that is not modifiable do it here; on the others (SoftHSM2)
                    // a copy of a key that is not modifiable can change
                    // nothing (PKCS#11 §5.7: only what could be modified).
                    let _ = session.update_attributes(copy, &[Attribute::Copyable(false)]);
                    return (copy, id);
                }
                Err(error) => {
                    // Two private keys of one label: keep the original.
                    let _ = session.destroy_object(copy);
                    warnings.push(format!(
                        "the private key stays CKA_MODIFIABLE: {}",
                        Error::pkcs11("", error)
                    ));
                }
            },
            Err(error) => warnings.push(format!(
                "the private key stays CKA_MODIFIABLE (give -i or --id to make it \
                 otherwise): {}",
                Error::pkcs11("", error)
            )),
        }
    }
    match session.update_attributes(private, &set) {
        Ok(()) => (private, id),
        Err(error) => {
            warnings.push(format!(
                "the key pair was made but has no CKA_ID: {}",
                Error::pkcs11("", error)
            ));
            (private, Vec::new())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(a: Option<&str>, b: Option<u32>, e: bool) -> Result<KeySpec> {
        KeySpec::from_options(a, b, e).map(|(spec, _)| spec)
    }

    #[test]
    fn algorithm_names_choose_the_curve() {
        assert_eq!(
            spec(Some("ECDSAP384SHA384"), None, false).ok(),
            Some(KeySpec::Ec(Curve::P384))
        );
        assert_eq!(
            spec(Some("ED448"), None, false).ok(),
            Some(KeySpec::Ec(Curve::Ed448))
        );
        assert_eq!(
            spec(Some("ed25519"), None, false).ok(),
            Some(KeySpec::Ec(Curve::Ed25519))
        );
        assert_eq!(
            spec(Some("13"), None, false).ok(),
            Some(KeySpec::Ec(Curve::P256))
        );
        assert_eq!(
            spec(Some("ECC"), Some(384), false).ok(),
            Some(KeySpec::Ec(Curve::P384))
        );
        assert_eq!(
            spec(Some("ECX"), Some(456), false).ok(),
            Some(KeySpec::Ec(Curve::Ed448))
        );
        assert_eq!(
            spec(Some("ECC"), None, false).ok(),
            Some(KeySpec::Ec(Curve::P256))
        );
        assert_eq!(
            spec(Some("ecdsa"), None, false).ok(),
            Some(KeySpec::Ec(Curve::P256))
        );
    }

    #[test]
    fn rsa_defaults_to_2048_with_a_note() {
        let (spec, note) = KeySpec::from_options(Some("RSASHA256"), None, false).expect("rsa");
        assert_eq!(
            spec,
            KeySpec::Rsa {
                bits: 2048,
                large_exponent: false
            }
        );
        assert!(note.expect("note").contains("2048"));
        let (spec, note) = KeySpec::from_options(None, Some(1024), true).expect("rsa");
        assert_eq!(
            spec,
            KeySpec::Rsa {
                bits: 1024,
                large_exponent: true
            }
        );
        assert!(note.is_none());
        let (spec, _) =
            KeySpec::from_options(Some("NSEC3RSASHA1"), Some(4096), false).expect("rsa");
        assert_eq!(
            spec,
            KeySpec::Rsa {
                bits: 4096,
                large_exponent: false
            }
        );
    }

    #[test]
    fn contradictions_and_bad_sizes_are_usage_errors() {
        for (a, b, e) in [
            (Some("ECDSAP256SHA256"), Some(384), false),
            (Some("ECC"), Some(521), false),
            (Some("ECX"), Some(384), false),
            (Some("RSA"), Some(512), false),
            (Some("RSA"), Some(8192), false),
            (Some("ECC"), None, true),
            (Some("DSA"), None, false),
            (Some("DH"), None, false),
        ] {
            let error = spec(a, b, e).expect_err("should fail");
            assert_eq!(error.exit_code(), 2, "{a:?} {b:?} {e}");
        }
    }
}
