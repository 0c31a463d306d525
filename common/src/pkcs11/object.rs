//! Objects on a token: selecting them (by label, `CKA_ID`, class), reading
//! the attributes the tools show, and the `CKA_ID` notations of BIND.

use crate::error::{Error, Result};
use crate::uri::{ObjectType, PathAttr, Pkcs11Uri};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

/// Which objects to act on. Every field that is set must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectSelector {
    /// `CKA_LABEL`, exactly.
    pub label: Option<Vec<u8>>,
    /// `CKA_ID`, exactly.
    pub id: Option<Vec<u8>>,
    /// `CKA_CLASS`.
    pub class: Option<ObjectType>,
}

impl ObjectSelector {
    /// True if the selector would match every object.
    pub fn is_empty(&self) -> bool {
        *self == ObjectSelector::default()
    }

    /// True if the selector names objects by label or `CKA_ID`. A class
    /// alone (`pkcs11:type=private`) matches every object of that class,
    /// so a destructive tool must not take it for a selection.
    pub fn names_objects(&self) -> bool {
        self.label.is_some() || self.id.is_some()
    }

    /// The object part of a URI (`object=`, `id=`, `type=`).
    pub fn from_uri(uri: &Pkcs11Uri) -> ObjectSelector {
        ObjectSelector {
            label: uri.get(PathAttr::Object).map(<[u8]>::to_vec),
            id: uri.get(PathAttr::Id).map(<[u8]>::to_vec),
            class: uri.object_type(),
        }
    }

    /// Adds `other`'s fields; a field set in both must agree.
    pub fn merge(&mut self, other: ObjectSelector) -> Result<()> {
        fn one<T: PartialEq>(name: &str, mine: &mut Option<T>, theirs: Option<T>) -> Result<()> {
            match (mine.as_ref(), theirs) {
                (Some(a), Some(b)) if *a != b => Err(Error::usage(format!(
                    "the {name} is given twice with different values"
                ))),
                (None, Some(b)) => {
                    *mine = Some(b);
                    Ok(())
                }
                _ => Ok(()),
            }
        }
        one("label", &mut self.label, other.label)?;
        one("id", &mut self.id, other.id)?;
        one("object type", &mut self.class, other.class)
    }

    fn template(&self) -> Vec<Attribute> {
        let mut template = Vec::new();
        if let Some(label) = &self.label {
            template.push(Attribute::Label(label.clone()));
        }
        if let Some(id) = &self.id {
            template.push(Attribute::Id(id.clone()));
        }
        if let Some(class) = self.class {
            template.push(Attribute::Class(object_class(class)));
        }
        template
    }

    /// A description for messages: `label 'ksk', id 0x0102`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(label) = &self.label {
            parts.push(format!("label '{}'", String::from_utf8_lossy(label)));
        }
        if let Some(id) = &self.id {
            parts.push(format!("id {}", id_hex(id)));
        }
        if let Some(class) = self.class {
            parts.push(format!("type {}", class.name()));
        }
        if parts.is_empty() {
            "any object".into()
        } else {
            parts.join(", ")
        }
    }
}

/// The PKCS#11 class of a URI object type.
pub fn object_class(object_type: ObjectType) -> ObjectClass {
    match object_type {
        ObjectType::Public => ObjectClass::PUBLIC_KEY,
        ObjectType::Private => ObjectClass::PRIVATE_KEY,
        ObjectType::Cert => ObjectClass::CERTIFICATE,
        ObjectType::SecretKey => ObjectClass::SECRET_KEY,
        ObjectType::Data => ObjectClass::DATA,
    }
}

/// Every object the selector matches, in the token's order. There is no
/// limit on the count (BIND stopped at 50).
pub fn find_objects(session: &Session, selector: &ObjectSelector) -> Result<Vec<ObjectHandle>> {
    session
        .find_objects(&selector.template())
        .map_err(|e| Error::pkcs11(format!("searching for {}", selector.describe()), e))
}

/// The attributes of an object that the tools print.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectInfo {
    pub handle: u64,
    /// Raw `CKA_CLASS` (0 data, 1 certificate, 2 public, 3 private, 4 secret).
    pub class: u64,
    pub label: Vec<u8>,
    pub id: Vec<u8>,
    pub key_type: Option<u64>,
    pub private: Option<bool>,
    pub sensitive: Option<bool>,
    pub always_sensitive: Option<bool>,
    pub extractable: Option<bool>,
    pub never_extractable: Option<bool>,
    pub sign: Option<bool>,
    pub verify: Option<bool>,
    /// RSA modulus size: `CKA_MODULUS_BITS`, else the modulus length.
    pub modulus_bits: Option<u64>,
    /// `CKA_EC_PARAMS` (DER), for EC and EdDSA keys.
    pub ec_params: Option<Vec<u8>>,
}

impl ObjectInfo {
    /// True for private and secret keys (the objects BIND shows `E:` for).
    pub fn is_secret(&self) -> bool {
        self.class == u64::from(ObjectClass::PRIVATE_KEY)
            || self.class == u64::from(ObjectClass::SECRET_KEY)
    }

    /// The URI class name (`private`, `public`, …) if it has one.
    pub fn class_name(&self) -> Option<&'static str> {
        let class = ObjectClass::try_from(self.class).ok()?;
        [
            ObjectType::Public,
            ObjectType::Private,
            ObjectType::Cert,
            ObjectType::SecretKey,
            ObjectType::Data,
        ]
        .into_iter()
        .find(|t| object_class(*t) == class)
        .map(ObjectType::name)
    }

    /// The key type by PKCS#11 name (`RSA`, `EC`, `EC_EDWARDS`, …).
    pub fn key_type_name(&self) -> Option<String> {
        let raw = self.key_type?;
        Some(match KeyType::try_from(raw) {
            Ok(kt) if kt == KeyType::RSA => "RSA".into(),
            Ok(kt) if kt == KeyType::EC => "EC".into(),
            Ok(kt) if kt == KeyType::EC_EDWARDS => "EC_EDWARDS".into(),
            Ok(kt) => kt.to_string().trim_start_matches("CKK_").to_string(),
            Err(_) => format!("0x{raw:x}"),
        })
    }

    /// The curve of an EC or EdDSA key, by name, if we know it.
    pub fn curve_name(&self) -> Option<&'static str> {
        crate::keys::Curve::from_ec_params(self.ec_params.as_deref()?).map(|c| c.name())
    }
}

/// Reads the attributes of one object. Attributes the token does not have
/// for this object (or keeps secret) are `None`.
pub fn read_object_info(session: &Session, handle: ObjectHandle) -> Result<ObjectInfo> {
    let wanted = [
        AttributeType::Class,
        AttributeType::Label,
        AttributeType::Id,
        AttributeType::KeyType,
        AttributeType::Private,
        AttributeType::Sensitive,
        AttributeType::AlwaysSensitive,
        AttributeType::Extractable,
        AttributeType::NeverExtractable,
        AttributeType::Sign,
        AttributeType::Verify,
        AttributeType::ModulusBits,
        AttributeType::Modulus,
        AttributeType::EcParams,
    ];
    let attributes = session
        .get_attributes(handle, &wanted)
        .map_err(|e| Error::pkcs11("reading object attributes", e))?;
    let mut info = ObjectInfo {
        handle: handle.handle(),
        ..ObjectInfo::default()
    };
    let mut modulus_len = None;
    for attribute in attributes {
        match attribute {
            Attribute::Class(c) => info.class = u64::from(c),
            Attribute::Label(l) => info.label = l,
            Attribute::Id(id) => info.id = id,
            Attribute::KeyType(kt) => info.key_type = Some(u64::from(kt)),
            Attribute::Private(b) => info.private = Some(b),
            Attribute::Sensitive(b) => info.sensitive = Some(b),
            Attribute::AlwaysSensitive(b) => info.always_sensitive = Some(b),
            Attribute::Extractable(b) => info.extractable = Some(b),
            Attribute::NeverExtractable(b) => info.never_extractable = Some(b),
            Attribute::Sign(b) => info.sign = Some(b),
            Attribute::Verify(b) => info.verify = Some(b),
            Attribute::ModulusBits(bits) => info.modulus_bits = Some(u64::from(bits)),
            Attribute::Modulus(m) => {
                let significant = m.iter().skip_while(|&&b| b == 0).count();
                modulus_len = Some(significant as u64 * 8);
            }
            Attribute::EcParams(p) => info.ec_params = Some(p),
            _ => {}
        }
    }
    if info.modulus_bits.is_none() {
        info.modulus_bits = modulus_len;
    }
    Ok(info)
}

/// Every object the selector matches, with its attributes, in a stable
/// order (label, ID, class, handle): tokens return objects in whatever
/// order their storage keeps, and the tools' output must not vary.
pub fn list_objects(
    session: &Session,
    selector: &ObjectSelector,
) -> Result<Vec<(ObjectHandle, ObjectInfo)>> {
    let handles = find_objects(session, selector)?;
    let mut objects = Vec::with_capacity(handles.len());
    for handle in handles {
        objects.push((handle, read_object_info(session, handle)?));
    }
    objects.sort_by(|(_, a), (_, b)| {
        (&a.label, &a.id, a.class, a.handle).cmp(&(&b.label, &b.id, b.class, b.handle))
    });
    Ok(objects)
}

/// Reads the public key of a key object: a public key, or a private key
/// whose token keeps the public attributes on it (some tokens keep no
/// separate public object).
pub fn read_public_key(session: &Session, handle: ObjectHandle) -> Result<crate::keys::PublicKey> {
    let attributes = session
        .get_attributes(
            handle,
            &[
                AttributeType::KeyType,
                AttributeType::Modulus,
                AttributeType::PublicExponent,
                AttributeType::EcParams,
                AttributeType::EcPoint,
            ],
        )
        .map_err(|e| Error::pkcs11("reading the public key", e))?;
    let (mut key_type, mut modulus, mut exponent, mut params, mut point) =
        (None, None, None, None, None);
    for attribute in attributes {
        match attribute {
            Attribute::KeyType(kt) => key_type = Some(kt),
            Attribute::Modulus(m) => modulus = Some(m),
            Attribute::PublicExponent(e) => exponent = Some(e),
            Attribute::EcParams(p) => params = Some(p),
            Attribute::EcPoint(p) => point = Some(p),
            _ => {}
        }
    }
    match (key_type, modulus, exponent, params, point) {
        (Some(kt), Some(modulus), Some(exponent), _, _) if kt == KeyType::RSA => {
            crate::keys::PublicKey::rsa(&modulus, &exponent)
        }
        (Some(kt), _, _, Some(params), Some(point))
            if kt == KeyType::EC || kt == KeyType::EC_EDWARDS =>
        {
            crate::keys::PublicKey::from_ec_attributes(&params, &point)
        }
        (Some(kt), ..) if kt == KeyType::RSA || kt == KeyType::EC || kt == KeyType::EC_EDWARDS => {
            Err(Error::Failed(
                "the token does not show this key's public part".into(),
            ))
        }
        (Some(kt), ..) => Err(Error::Failed(format!("unsupported key type {kt}"))),
        (None, ..) => Err(Error::Failed("the object is not a key".into())),
    }
}

/// `CKA_ID` as `0x` and lower-case hex (empty for an empty ID).
pub fn id_hex(id: &[u8]) -> String {
    if id.is_empty() {
        return String::new();
    }
    format!("0x{}", data_encoding::HEXLOWER.encode(id))
}

/// Parses BIND's numeric `-i ID`: decimal (or, with `octal_and_hex`,
/// `strtoul` base 0: `0x…` hex, `0…` octal, as pkcs11-keygen does). Values
/// up to 0xFFFF become 2 bytes big-endian, larger ones up to 2^32−1 become
/// 4 bytes (BIND's pkcs11-keygen rule). A `0x` value with more than 8 hex
/// digits is taken as the bytes it spells (BIND could not express those).
pub fn parse_numeric_id(text: &str, octal_and_hex: bool) -> Option<Vec<u8>> {
    let hex = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X"));
    let value = match hex {
        Some(digits) if digits.len() > 8 => return parse_hex_id(digits),
        Some(digits) if !digits.is_empty() => u64::from_str_radix(digits, 16).ok()?,
        Some(_) => return None,
        None if octal_and_hex && text.len() > 1 && text.starts_with('0') => {
            u64::from_str_radix(&text[1..], 8).ok()?
        }
        None => {
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            text.parse().ok()?
        }
    };
    if value <= 0xFFFF {
        Some((value as u16).to_be_bytes().to_vec())
    } else if value <= 0xFFFF_FFFF {
        Some((value as u32).to_be_bytes().to_vec())
    } else {
        None
    }
}

/// Parses `--id HEX`: the bytes the hex digits spell (an optional `0x`,
/// `:` separators allowed, an odd count gets a leading zero).
pub fn parse_hex_id(text: &str) -> Option<Vec<u8>> {
    let digits: String = text
        .strip_prefix("0x")
        .unwrap_or(text)
        .chars()
        .filter(|c| *c != ':')
        .collect();
    if digits.is_empty() {
        return None;
    }
    let padded = if digits.len() % 2 == 1 {
        format!("0{digits}")
    } else {
        digits
    };
    data_encoding::HEXLOWER_PERMISSIVE
        .decode(padded.as_bytes())
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_ids_follow_bind() {
        assert_eq!(parse_numeric_id("258", false), Some(vec![1, 2]));
        assert_eq!(parse_numeric_id("0", false), Some(vec![0, 0]));
        assert_eq!(
            parse_numeric_id("70000", false),
            Some(vec![0, 1, 0x11, 0x70])
        );
        assert_eq!(parse_numeric_id("0x102", false), Some(vec![1, 2]));
        assert_eq!(parse_numeric_id("010", true), Some(vec![0, 8]));
        assert_eq!(parse_numeric_id("010", false), Some(vec![0, 10]));
        assert_eq!(
            parse_numeric_id("0x0102030405060708", false),
            Some(vec![1, 2, 3, 4, 5, 6, 7, 8])
        );
        assert_eq!(parse_numeric_id("4294967296", false), None);
        assert_eq!(parse_numeric_id("12a", false), None);
        assert_eq!(parse_numeric_id("", false), None);
        assert_eq!(parse_numeric_id("-1", false), None);
    }

    #[test]
    fn hex_ids_are_the_bytes_they_spell() {
        assert_eq!(parse_hex_id("0102"), Some(vec![1, 2]));
        assert_eq!(parse_hex_id("0x10"), Some(vec![0x10]));
        assert_eq!(parse_hex_id("abc"), Some(vec![0x0a, 0xbc]));
        assert_eq!(parse_hex_id("01:02:ff"), Some(vec![1, 2, 0xff]));
        assert_eq!(parse_hex_id("xyz"), None);
        assert_eq!(parse_hex_id(""), None);
        assert_eq!(id_hex(&[0, 0xab]), "0x00ab");
        assert_eq!(id_hex(&[]), "");
    }
}
