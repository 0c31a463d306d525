//! Moving a key pair between tokens without it ever being in the clear:
//! the private key wrapped by the token (`C_WrapKey`, AES key wrap with
//! padding, RFC 5649) under a key the security officer marked
//! `CKA_TRUSTED`, the public key as its attributes; and back, unwrapped
//! (`C_UnwrapKey`) with the original label, `CKA_ID` and protection flags,
//! the public object created (`C_CreateObject`), and the pair proved by a
//! signature verified in software before either object is kept.
//!
//! The file format is [`crate::backup`]; this module is the token side.

use crate::backup::{Backup, KeyKind, PrivateFlags, PublicAttributes, WrapKeyInfo};
use crate::error::{Error, Result};
use crate::keys::PublicKey;
use crate::pkcs11::keypair::KeyPair;
use crate::pkcs11::object::{find_objects, id_hex, ObjectSelector};
use crate::pkcs11::signer::{Pkcs11KeyStore, TokenKey};
use crate::sign::verify::Verifier;
use crate::sign::KeyStore;
use crate::uri::ObjectType;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

/// A secret key that wraps (backup) or unwraps (restore).
#[derive(Clone, Debug)]
pub struct WrappingKey {
    pub handle: ObjectHandle,
    pub label: Vec<u8>,
    pub id: Vec<u8>,
    /// `CKA_CHECK_VALUE`, empty where the token shows none.
    pub check_value: Vec<u8>,
    /// `CKA_TRUSTED`: only the security officer can set it.
    pub trusted: bool,
}

impl WrappingKey {
    fn name(&self) -> String {
        format!("'{}'", String::from_utf8_lossy(&self.label))
    }
}

/// What the wrapping key is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Use {
    Wrap,
    Unwrap,
}

fn quoted(label: &[u8]) -> String {
    format!("'{}'", String::from_utf8_lossy(label))
}

/// One attribute, asked for alone: a token answers a whole template with
/// an error when one attribute of it does not apply or is secret.
fn attribute(session: &Session, handle: ObjectHandle, kind: AttributeType) -> Option<Attribute> {
    session
        .get_attributes(handle, &[kind])
        .ok()
        .and_then(|values| values.into_iter().next())
}

fn flag(session: &Session, handle: ObjectHandle, kind: AttributeType) -> Option<bool> {
    match attribute(session, handle, kind)? {
        Attribute::Sign(b)
        | Attribute::Sensitive(b)
        | Attribute::Extractable(b)
        | Attribute::WrapWithTrusted(b)
        | Attribute::Modifiable(b)
        | Attribute::Private(b)
        | Attribute::Decrypt(b)
        | Attribute::Unwrap(b)
        | Attribute::SignRecover(b)
        | Attribute::Derive(b)
        | Attribute::Copyable(b)
        | Attribute::Trusted(b)
        | Attribute::Wrap(b) => Some(b),
        _ => None,
    }
}

/// Finds the one AES key labelled `label` that may wrap (or unwrap).
pub fn find_wrapping_key(session: &Session, label: &[u8], usage: Use) -> Result<WrappingKey> {
    let selector = ObjectSelector {
        label: Some(label.to_vec()),
        class: Some(ObjectType::SecretKey),
        ..ObjectSelector::default()
    };
    let handles = find_objects(session, &selector)?;
    let handle = match handles.as_slice() {
        [only] => *only,
        [] => {
            return Err(Error::NotFound(format!(
                "no secret key labelled {} on the token (the {} key the security officer \
                 made or imported)",
                quoted(label),
                if usage == Use::Wrap {
                    "wrapping"
                } else {
                    "unwrapping"
                }
            )))
        }
        several => {
            return Err(Error::Failed(format!(
                "{} secret keys are labelled {}: give the wrapping key a label of its own",
                several.len(),
                quoted(label)
            )))
        }
    };
    let key = WrappingKey {
        handle,
        label: label.to_vec(),
        id: match attribute(session, handle, AttributeType::Id) {
            Some(Attribute::Id(id)) => id,
            _ => Vec::new(),
        },
        check_value: match attribute(session, handle, AttributeType::CheckValue) {
            Some(Attribute::CheckValue(value)) => value,
            _ => Vec::new(),
        },
        trusted: flag(session, handle, AttributeType::Trusted) == Some(true),
    };
    let is_aes = matches!(
        attribute(session, handle, AttributeType::KeyType),
        Some(Attribute::KeyType(kt)) if kt == KeyType::AES
    );
    if !is_aes {
        return Err(Error::Failed(format!(
            "{} is not an AES key: {} needs one",
            key.name(),
            crate::backup::WRAP_MECHANISM
        )));
    }
    let (wanted, name) = match usage {
        Use::Wrap => (AttributeType::Wrap, "CKA_WRAP"),
        Use::Unwrap => (AttributeType::Unwrap, "CKA_UNWRAP"),
    };
    if flag(session, handle, wanted) != Some(true) {
        return Err(Error::Failed(format!(
            "{} may not {} keys ({name} is not true)",
            key.name(),
            if usage == Use::Wrap { "wrap" } else { "unwrap" }
        )));
    }
    Ok(key)
}

/// The private key's protection flags, as the token shows them.
fn read_flags(session: &Session, handle: ObjectHandle) -> PrivateFlags {
    let read = |kind| flag(session, handle, kind);
    PrivateFlags {
        sign: read(AttributeType::Sign),
        sensitive: read(AttributeType::Sensitive),
        extractable: read(AttributeType::Extractable),
        wrap_with_trusted: read(AttributeType::WrapWithTrusted),
        modifiable: read(AttributeType::Modifiable),
        private: read(AttributeType::Private),
        decrypt: read(AttributeType::Decrypt),
        unwrap: read(AttributeType::Unwrap),
        sign_recover: read(AttributeType::SignRecover),
        derive: read(AttributeType::Derive),
        copyable: read(AttributeType::Copyable),
    }
}

/// A flag's value and the attribute that carries it.
type FlagAttribute = (Option<bool>, fn(bool) -> Attribute);

fn flag_attributes(flags: &PrivateFlags) -> Vec<Attribute> {
    let pairs: [FlagAttribute; 11] = [
        (flags.sign, Attribute::Sign),
        (flags.sensitive, Attribute::Sensitive),
        (flags.extractable, Attribute::Extractable),
        (flags.wrap_with_trusted, Attribute::WrapWithTrusted),
        (flags.private, Attribute::Private),
        (flags.decrypt, Attribute::Decrypt),
        (flags.unwrap, Attribute::Unwrap),
        (flags.sign_recover, Attribute::SignRecover),
        (flags.derive, Attribute::Derive),
        (flags.copyable, Attribute::Copyable),
        // Last: SoftHSM2 applies a template in order, and once
        // CKA_MODIFIABLE is false it refuses every later attribute
        // (CKR_ATTRIBUTE_READ_ONLY).
        (flags.modifiable, Attribute::Modifiable),
    ];
    pairs
        .into_iter()
        .filter_map(|(value, make)| value.map(make))
        .collect()
}

fn key_kind(session: &Session, handle: ObjectHandle) -> Result<(KeyKind, KeyType)> {
    match attribute(session, handle, AttributeType::KeyType) {
        Some(Attribute::KeyType(kt)) if kt == KeyType::RSA => Ok((KeyKind::Rsa, kt)),
        Some(Attribute::KeyType(kt)) if kt == KeyType::EC => Ok((KeyKind::Ec, kt)),
        Some(Attribute::KeyType(kt)) if kt == KeyType::EC_EDWARDS => Ok((KeyKind::EcEdwards, kt)),
        Some(Attribute::KeyType(kt)) => Err(Error::Failed(format!(
            "the key is of type {kt}, not a DNSSEC key (RSA, EC, EC_EDWARDS)"
        ))),
        _ => Err(Error::Failed("the object shows no key type".into())),
    }
}

fn key_type_of(kind: KeyKind) -> KeyType {
    match kind {
        KeyKind::Rsa => KeyType::RSA,
        KeyKind::Ec => KeyType::EC,
        KeyKind::EcEdwards => KeyType::EC_EDWARDS,
    }
}

/// The public key's attributes, from the public object of the pair where
/// there is one, else from the private object.
fn read_public_attributes(
    session: &Session,
    pair: &KeyPair,
    private: ObjectHandle,
    kind: KeyKind,
) -> Result<PublicAttributes> {
    let selector = ObjectSelector {
        label: Some(pair.label.clone()),
        id: Some(pair.id.clone()),
        class: Some(ObjectType::Public),
    };
    let holder = find_objects(session, &selector)?
        .first()
        .copied()
        .unwrap_or(private);
    let bytes = |kind| match attribute(session, holder, kind) {
        Some(
            Attribute::Modulus(v)
            | Attribute::PublicExponent(v)
            | Attribute::EcParams(v)
            | Attribute::EcPoint(v),
        ) => Ok(v),
        _ => Err(Error::Failed(
            "the token does not show this key's public part".into(),
        )),
    };
    let public = match kind {
        KeyKind::Rsa => PublicAttributes::Rsa {
            modulus: bytes(AttributeType::Modulus)?,
            exponent: bytes(AttributeType::PublicExponent)?,
        },
        KeyKind::Ec | KeyKind::EcEdwards => PublicAttributes::Ec {
            params: bytes(AttributeType::EcParams)?,
            point: bytes(AttributeType::EcPoint)?,
        },
    };
    if public.public_key()? != pair.public_key {
        return Err(Error::Failed(
            "the key's public object and the key pair disagree".into(),
        ));
    }
    Ok(public)
}

/// A PKCS#11 error with a sentence that says what it means here, where
/// `explain` has one for its code; the function and code stay in the line.
fn explained(
    context: &str,
    error: cryptoki::error::Error,
    explain: impl Fn(&str) -> Option<String>,
) -> Error {
    let error = Error::pkcs11(context, error);
    match &error {
        Error::Pkcs11 { function, code, .. } => match explain(code) {
            Some(sentence) => Error::Failed(format!("{sentence} ({function}: {code})")),
            None => error,
        },
        _ => error,
    }
}

/// A backup of `pair`: its private key wrapped under `wrapping` by the
/// token, its public key and attributes. Returns warnings for the
/// operator beside it (a key anyone with the PIN could export anyway).
///
/// Refused, before the token is asked: a key that is not extractable
/// (`CKA_EXTRACTABLE` false: it cannot leave the token at all), and a
/// wrapping key that is not `CKA_TRUSTED`: the backup is the security
/// officer's procedure, so it goes only under the officer's key even where
/// the private key would allow another (no `CKA_WRAP_WITH_TRUSTED`).
pub fn backup_key_pair(
    session: &Session,
    pair: &KeyPair,
    wrapping: &WrappingKey,
) -> Result<(Backup, Vec<String>)> {
    let name = quoted(&pair.label);
    let private = pair.private.ok_or_else(|| {
        Error::NotFound(format!(
            "the key {name} has no private key on the token (or the session cannot see it)"
        ))
    })?;
    let flags = read_flags(session, private);
    if flags.extractable != Some(true) {
        return Err(Error::Failed(format!(
            "the private key {name} is not extractable (CKA_EXTRACTABLE false): it cannot \
             leave the token, not even wrapped; keys made by pkcs11-keygen or BIND's \
             pkcs11-keygen without -E cannot be backed up this way (use the HSM's own \
             backup, or roll to a key made with -E)"
        )));
    }
    if !wrapping.trusted {
        let why = if flags.wrap_with_trusted == Some(true) {
            "the private key has CKA_WRAP_WITH_TRUSTED, so the token wraps it only under a \
             trusted key"
        } else {
            "pkcs11-backup wraps only under a key the security officer trusts"
        };
        return Err(Error::Failed(format!(
            "the wrapping key {} is not marked CKA_TRUSTED by the token's security officer: \
             {why}",
            wrapping.name()
        )));
    }
    let mut warnings = Vec::new();
    if flags.wrap_with_trusted != Some(true) {
        warnings.push(format!(
            "the private key {name} lacks CKA_WRAP_WITH_TRUSTED: anyone with the user PIN can \
             wrap it under a key of their own and read it (pkcs11-keygen -E sets it)"
        ));
    }
    if flags.sensitive == Some(false) {
        warnings.push(format!(
            "the private key {name} is not sensitive (CKA_SENSITIVE false): the token shows \
             it in the clear to anyone with the user PIN"
        ));
    }
    let (kind, _) = key_kind(session, private)?;
    let public = read_public_attributes(session, pair, private, kind)?;
    let wrapped = session
        .wrap_key(&Mechanism::AesKeyWrapPad, wrapping.handle, private)
        .map_err(|e| {
            explained(
                &format!("wrapping {name} under {}", wrapping.name()),
                e,
                |code| {
                    Some(match code {
                        "CKR_KEY_UNEXTRACTABLE" => format!(
                            "the token refuses to let {name} out (not extractable): keys made \
                             without -E cannot be backed up this way"
                        ),
                        // The wrapping key is trusted (checked above): the token
                        // cannot wrap this kind of key at all.
                        "CKR_KEY_NOT_WRAPPABLE" if kind == KeyKind::EcEdwards => format!(
                            "the token cannot wrap the EdDSA key {name}, not even under the \
                             trusted {} (SoftHSM2 2.6 wraps RSA and ECDSA keys only)",
                            wrapping.name()
                        ),
                        "CKR_KEY_NOT_WRAPPABLE" => format!(
                            "the token refuses to wrap {name} under {}: it wraps this key \
                             under none, or only under another kind of key",
                            wrapping.name()
                        ),
                        "CKR_WRAPPING_KEY_HANDLE_INVALID"
                        | "CKR_WRAPPING_KEY_TYPE_INCONSISTENT"
                        | "CKR_WRAPPING_KEY_SIZE_RANGE"
                        | "CKR_KEY_FUNCTION_NOT_PERMITTED" => format!(
                            "{} cannot wrap {name}: it must be an AES key with CKA_WRAP true",
                            wrapping.name()
                        ),
                        "CKR_MECHANISM_INVALID" => format!(
                            "the token cannot wrap private keys with {}",
                            crate::backup::WRAP_MECHANISM
                        ),
                        _ => return None,
                    })
                },
            )
        })?;
    Ok((
        Backup {
            label: pair.label.clone(),
            id: pair.id.clone(),
            key_kind: kind,
            flags,
            public,
            wrap_key: WrapKeyInfo {
                label: wrapping.label.clone(),
                id: wrapping.id.clone(),
                check_value: wrapping.check_value.clone(),
            },
            wrapped,
        },
        warnings,
    ))
}

/// Refuses a target token that already holds an object with the backup's
/// label or `CKA_ID`: a restore adds a key, it never shadows or replaces one.
pub fn check_target_free(session: &Session, backup: &Backup) -> Result<()> {
    let by_label = ObjectSelector {
        label: Some(backup.label.clone()),
        ..ObjectSelector::default()
    };
    if !find_objects(session, &by_label)?.is_empty() {
        return Err(Error::Failed(format!(
            "the token already holds an object labelled {}: nothing was restored",
            quoted(&backup.label)
        )));
    }
    if !backup.id.is_empty() {
        let by_id = ObjectSelector {
            id: Some(backup.id.clone()),
            ..ObjectSelector::default()
        };
        if !find_objects(session, &by_id)?.is_empty() {
            return Err(Error::Failed(format!(
                "the token already holds an object with id {}: nothing was restored",
                id_hex(&backup.id)
            )));
        }
    }
    Ok(())
}

/// The flags a restored key gets: the file's, but never weaker than a key
/// of pkcs11-keygen -E. The checksum proves no origin (whoever can write
/// the file can compute it again), so a file must not be able to make the
/// new copy readable: CKA_SENSITIVE and CKA_PRIVATE are always true, and an
/// extractable key gets CKA_WRAP_WITH_TRUSTED (else anyone with the user
/// PIN could wrap it under a key of their own). Returns the flags and a
/// note for each one raised.
pub fn restore_flags(file: &PrivateFlags) -> (PrivateFlags, Vec<String>) {
    let mut flags = file.clone();
    let mut notes = Vec::new();
    let mut raise = |slot: &mut Option<bool>, name: &str| {
        if *slot != Some(true) {
            notes.push(format!(
                "the backup gives the key {name}={}: it is restored with {name}=true",
                slot.map_or("unset".to_string(), |b| b.to_string())
            ));
            *slot = Some(true);
        }
    };
    raise(&mut flags.sign, "CKA_SIGN");
    raise(&mut flags.sensitive, "CKA_SENSITIVE");
    raise(&mut flags.private, "CKA_PRIVATE");
    if flags.extractable == Some(true) {
        raise(&mut flags.wrap_with_trusted, "CKA_WRAP_WITH_TRUSTED");
    }
    // A DNSSEC key only signs (pkcs11-keygen's template): an edited file
    // must not give the copy a decryption, unwrapping or key-agreement use
    // the original never had.
    for (slot, name) in [
        (&mut flags.decrypt, "CKA_DECRYPT"),
        (&mut flags.unwrap, "CKA_UNWRAP"),
        (&mut flags.sign_recover, "CKA_SIGN_RECOVER"),
        (&mut flags.derive, "CKA_DERIVE"),
    ] {
        if *slot == Some(true) {
            notes.push(format!(
                "the backup gives the key {name}=true: it is restored with {name}=false"
            ));
            *slot = Some(false);
        }
    }
    (flags, notes)
}

/// The message signed with the restored key to prove the pair.
const PROOF_MESSAGE: &[u8] = b"p11dnssec restore: the unwrapped key signs for the public key";

/// Restores `backup` on the session's token: unwraps the private key under
/// `unwrapping` with the original label, `CKA_ID` and flags, creates the
/// public key, and signs with the new private key, verifying the signature
/// in software against the file's public key. Any failure destroys what
/// was created, so that the token is as it was. The session is handed back
/// (the proof signs through the zone signer's key store, which owns it)
/// with the notes of [`restore_flags`] on success.
pub fn restore_key_pair(
    session: Session,
    backup: &Backup,
    unwrapping: &WrappingKey,
) -> (Session, Result<Vec<String>>) {
    let name = quoted(&backup.label);
    if !backup.wrap_key.check_value.is_empty()
        && !unwrapping.check_value.is_empty()
        && backup.wrap_key.check_value != unwrapping.check_value
    {
        return (
            session,
            Err(Error::Failed(format!(
                "{} is not the key the backup was wrapped under (its check value is {}, the \
                 file's {}): nothing was restored",
                unwrapping.name(),
                data_encoding::HEXLOWER.encode(&unwrapping.check_value),
                data_encoding::HEXLOWER.encode(&backup.wrap_key.check_value)
            ))),
        );
    }
    let public_key = match backup.public.public_key() {
        Ok(key) => key,
        Err(error) => return (session, Err(error)),
    };
    let key_type = key_type_of(backup.key_kind);
    let mut template = vec![
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(key_type),
        Attribute::Token(true),
        Attribute::Label(backup.label.clone()),
        Attribute::Id(backup.id.clone()),
    ];
    let (flags, notes) = restore_flags(&backup.flags);
    template.extend(flag_attributes(&flags));
    let before = private_keys(&session);
    let private = match session.unwrap_key(
        &Mechanism::AesKeyWrapPad,
        unwrapping.handle,
        &backup.wrapped,
        &template,
    ) {
        Ok(handle) => handle,
        Err(error) => {
            let error = explained(
                &format!("unwrapping {name} under {}", unwrapping.name()),
                error,
                |code| {
                    Some(match code {
                        "CKR_WRAPPED_KEY_INVALID"
                        | "CKR_WRAPPED_KEY_LEN_RANGE"
                        | "CKR_ENCRYPTED_DATA_INVALID"
                        | "CKR_ENCRYPTED_DATA_LEN_RANGE"
                        | "CKR_DATA_INVALID" => format!(
                            "the wrapped key does not unwrap under {}: it is not the key the \
                             backup was wrapped under, or the wrapped key was changed; nothing \
                             was restored",
                            unwrapping.name()
                        ),
                        // SoftHSM2 2.6 answers a failed RFC 5649 integrity
                        // check so (its AES key unwrap returns no reason).
                        "CKR_GENERAL_ERROR" | "CKR_FUNCTION_FAILED" => format!(
                            "the wrapped key does not unwrap under {} (the token gives no \
                             reason; SoftHSM2 answers so when the unwrapping key or the wrapped \
                             key is not the backup's); nothing was restored",
                            unwrapping.name()
                        ),
                        "CKR_UNWRAPPING_KEY_HANDLE_INVALID"
                        | "CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT"
                        | "CKR_UNWRAPPING_KEY_SIZE_RANGE"
                        | "CKR_KEY_FUNCTION_NOT_PERMITTED" => format!(
                            "{} cannot unwrap: it must be an AES key with CKA_UNWRAP true",
                            unwrapping.name()
                        ),
                        "CKR_TEMPLATE_INCONSISTENT"
                        | "CKR_ATTRIBUTE_VALUE_INVALID"
                        | "CKR_ATTRIBUTE_TYPE_INVALID" => format!(
                            "the token refuses to make {name} with the backup's attributes; \
                             nothing was restored"
                        ),
                        _ => return None,
                    })
                },
            );
            let leftovers = leftovers(&session, &before, backup);
            let error = if leftovers.is_empty() {
                error
            } else {
                with_undo(error, undo(&session, &leftovers), &backup.label)
            };
            return (session, Err(error));
        }
    };
    let mut created = vec![private];
    let outcome = create_public(&session, backup, key_type).and_then(|public| {
        created.push(public);
        check_restored_flags(&session, private, &flags)
    });
    let (session, outcome) = match outcome {
        Ok(()) => prove_pair(session, private, &public_key),
        Err(error) => (session, Err(error)),
    };
    match outcome {
        Ok(()) => (session, Ok(notes)),
        Err(error) => {
            let undone = undo(&session, &created);
            (session, Err(with_undo(error, undone, &backup.label)))
        }
    }
}

/// The private keys the session sees, to tell afterwards what a failed
/// unwrap left behind.
fn private_keys(session: &Session) -> Option<Vec<ObjectHandle>> {
    session
        .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
        .ok()
}

/// What a failed `C_UnwrapKey` left on the token: SoftHSM2 2.6 creates the
/// object before it applies the template, and when an attribute is refused
/// it returns the error and keeps a private key without label or ID. Only
/// new private keys that carry the backup's label and ID, or none, are
/// taken for ours.
fn leftovers(
    session: &Session,
    before: &Option<Vec<ObjectHandle>>,
    backup: &Backup,
) -> Vec<ObjectHandle> {
    let (Some(before), Some(after)) = (before, private_keys(session)) else {
        return Vec::new();
    };
    after
        .into_iter()
        .filter(|handle| !before.contains(handle))
        .filter(|handle| {
            let label = match attribute(session, *handle, AttributeType::Label) {
                Some(Attribute::Label(label)) => label,
                _ => Vec::new(),
            };
            let id = match attribute(session, *handle, AttributeType::Id) {
                Some(Attribute::Id(id)) => id,
                _ => Vec::new(),
            };
            (label.is_empty() || label == backup.label) && (id.is_empty() || id == backup.id)
        })
        .collect()
}

fn create_public(session: &Session, backup: &Backup, key_type: KeyType) -> Result<ObjectHandle> {
    let mut template = vec![
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(key_type),
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Verify(true),
        Attribute::Label(backup.label.clone()),
        Attribute::Id(backup.id.clone()),
    ];
    match &backup.public {
        PublicAttributes::Rsa { modulus, exponent } => {
            template.push(Attribute::Modulus(modulus.clone()));
            template.push(Attribute::PublicExponent(exponent.clone()));
        }
        PublicAttributes::Ec { params, point } => {
            template.push(Attribute::EcParams(params.clone()));
            template.push(Attribute::EcPoint(point.clone()));
        }
    }
    session
        .create_object(&template)
        .map_err(|e| Error::pkcs11("creating the public key", e))
}

/// The flags the token gave the unwrapped key must be the backup's: a token
/// that quietly drops `CKA_SENSITIVE` or `CKA_WRAP_WITH_TRUSTED` from an
/// unwrap template would leave a weaker key than the one backed up.
fn check_restored_flags(
    session: &Session,
    private: ObjectHandle,
    wanted: &PrivateFlags,
) -> Result<()> {
    let have = read_flags(session, private);
    let differ: Vec<String> = wanted
        .named()
        .into_iter()
        .zip(have.named())
        .filter_map(|((name, want), (_, got))| match (want, got) {
            (Some(want), Some(got)) if want != got => {
                Some(format!("{name} {got} instead of {want}"))
            }
            _ => None,
        })
        .collect();
    if differ.is_empty() {
        Ok(())
    } else {
        Err(Error::Failed(format!(
            "the token made the key with other attributes than the backup's ({})",
            differ.join(", ")
        )))
    }
}

/// Signs with the restored private key as zone-sign does and verifies the
/// signature in software against the file's public key: the two halves
/// belong together, and the token can sign with what it unwrapped.
fn prove_pair(
    session: Session,
    private: ObjectHandle,
    public_key: &PublicKey,
) -> (Session, Result<()>) {
    let algorithm = crate::dnskey::default_algorithm(public_key);
    let mut store = Pkcs11KeyStore {
        sessions: vec![session],
        keys: vec![TokenKey::new(
            0,
            private,
            algorithm,
            "the restored key".into(),
        )],
        reopen: None,
    };
    let outcome = store.sign(0, PROOF_MESSAGE).and_then(|signature| {
        let verifier = Verifier::new(public_key, algorithm)?;
        if verifier.verify(PROOF_MESSAGE, &signature) {
            Ok(())
        } else {
            Err(Error::Failed(
                "the restored private key's signature does not verify under the backup's \
                 public key: the file's public key is not this key's"
                    .into(),
            ))
        }
    });
    let session = store.sessions.remove(0);
    (session, outcome)
}

fn undo(session: &Session, created: &[ObjectHandle]) -> Result<()> {
    let mut first_error = None;
    for handle in created.iter().rev() {
        if let Err(error) = session.destroy_object(*handle) {
            first_error.get_or_insert(Error::pkcs11("destroying a restored object", error));
        }
    }
    first_error.map_or(Ok(()), Err)
}

fn with_undo(error: Error, undone: Result<()>, label: &[u8]) -> Error {
    match undone {
        Ok(()) => Error::Failed(format!(
            "{error}; the objects made were destroyed, the token is as it was"
        )),
        Err(undo_error) => Error::Failed(format!(
            "{error}; destroying what was made failed too ({undo_error}): remove the objects \
             labelled {} by hand (pkcs11-destroy -l)",
            quoted(label)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edited_backup_cannot_weaken_or_widen_the_restored_key() {
        let file = PrivateFlags {
            sign: Some(true),
            sensitive: Some(false),
            extractable: Some(true),
            wrap_with_trusted: Some(false),
            private: None,
            decrypt: Some(true),
            unwrap: Some(true),
            sign_recover: Some(true),
            derive: Some(true),
            ..PrivateFlags::default()
        };
        let (restored, notes) = restore_flags(&file);
        assert_eq!(restored.sensitive, Some(true));
        assert_eq!(restored.private, Some(true));
        assert_eq!(restored.wrap_with_trusted, Some(true));
        for flag in [
            restored.decrypt,
            restored.unwrap,
            restored.sign_recover,
            restored.derive,
        ] {
            assert_eq!(flag, Some(false));
        }
        assert_eq!(notes.len(), 7, "{notes:?}");
    }
}
