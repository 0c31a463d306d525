//! Public keys as tokens hand them out, and as others expect them.
//!
//! Tokens differ in how they return EC keys: `CKA_EC_PARAMS` is a DER OID
//! (P-256, P-384, and Ed25519/Ed448 per PKCS#11 3.1) or a DER
//! PrintableString curve name (`edwards25519`, as SoftHSM2 and BIND use);
//! `CKA_EC_POINT` is a DER OCTET STRING or the raw point. All are accepted.
//!
//! From a public key we derive the DER SubjectPublicKeyInfo (RFC 5280,
//! RFC 5480, RFC 8410), whose SHA-1 is the `CKA_ID` that pkcs11-keygen
//! gives new keys (Knot DNS's convention, so Knot and libp11 find them).

use crate::error::{Error, Result};

/// The curves DNSSEC uses (RFC 6605, RFC 8080).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
    Ed25519,
    Ed448,
}

/// DER of the OID 1.2.840.10045.3.1.7 (prime256v1).
const OID_P256: &[u8] = &[0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
/// DER of the OID 1.3.132.0.34 (secp384r1).
const OID_P384: &[u8] = &[0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x22];
/// DER of the OID 1.3.101.112 (id-Ed25519).
const OID_ED25519: &[u8] = &[0x06, 0x03, 0x2B, 0x65, 0x70];
/// DER of the OID 1.3.101.113 (id-Ed448).
const OID_ED448: &[u8] = &[0x06, 0x03, 0x2B, 0x65, 0x71];
/// DER of the OID 1.2.840.10045.2.1 (id-ecPublicKey).
const OID_EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];
/// DER of the OID 1.2.840.113549.1.1.1 (rsaEncryption).
const OID_RSA: &[u8] = &[
    0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01,
];

impl Curve {
    /// The curve's usual name.
    pub fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::Ed25519 => "Ed25519",
            Curve::Ed448 => "Ed448",
        }
    }

    /// True for the Edwards curves (EdDSA, `CKK_EC_EDWARDS`).
    pub fn is_edwards(self) -> bool {
        matches!(self, Curve::Ed25519 | Curve::Ed448)
    }

    /// Size in bits as PKCS#11 and BIND's `-b` count it (Ed448: 456).
    pub fn bits(self) -> u32 {
        match self {
            Curve::P256 | Curve::Ed25519 => 256,
            Curve::P384 => 384,
            Curve::Ed448 => 456,
        }
    }

    /// Length of the public key in DNSKEY RDATA (X||Y, or the EdDSA key).
    pub fn public_key_len(self) -> usize {
        match self {
            Curve::P256 => 64,
            Curve::P384 => 96,
            Curve::Ed25519 => 32,
            Curve::Ed448 => 57,
        }
    }

    /// `CKA_EC_PARAMS` to send when generating a key. For the Edwards
    /// curves this is the PrintableString form SoftHSM2 and BIND 9.16 use,
    /// which more tokens accept than the newer OID form.
    pub fn ec_params(self) -> Vec<u8> {
        match self {
            Curve::P256 => OID_P256.to_vec(),
            Curve::P384 => OID_P384.to_vec(),
            Curve::Ed25519 => der(0x13, b"edwards25519"),
            Curve::Ed448 => der(0x13, b"edwards448"),
        }
    }

    /// Recognizes `CKA_EC_PARAMS` in any of the forms tokens use.
    pub fn from_ec_params(params: &[u8]) -> Option<Curve> {
        match params {
            p if p == OID_P256 => return Some(Curve::P256),
            p if p == OID_P384 => return Some(Curve::P384),
            p if p == OID_ED25519 => return Some(Curve::Ed25519),
            p if p == OID_ED448 => return Some(Curve::Ed448),
            _ => {}
        }
        // PrintableString (0x13) or UTF8String (0x0C) curve names.
        let (tag, body) = der_parse(params)?;
        if tag != 0x13 && tag != 0x0C {
            return None;
        }
        match body {
            b"edwards25519" | b"Ed25519" | b"ed25519" => Some(Curve::Ed25519),
            b"edwards448" | b"Ed448" | b"ed448" => Some(Curve::Ed448),
            b"prime256v1" | b"secp256r1" | b"P-256" => Some(Curve::P256),
            b"secp384r1" | b"P-384" => Some(Curve::P384),
            _ => None,
        }
    }
}

/// A public key, as DNSSEC needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKey {
    /// RSA: modulus and public exponent, big-endian without leading zeros.
    Rsa { modulus: Vec<u8>, exponent: Vec<u8> },
    /// ECDSA: the uncompressed point X||Y (without the 0x04 prefix).
    Ecdsa { curve: Curve, point: Vec<u8> },
    /// EdDSA: the encoded public key (RFC 8032).
    Eddsa { curve: Curve, key: Vec<u8> },
}

impl PublicKey {
    /// An RSA key from `CKA_MODULUS` and `CKA_PUBLIC_EXPONENT`.
    pub fn rsa(modulus: &[u8], exponent: &[u8]) -> Result<PublicKey> {
        let modulus = strip_leading_zeros(modulus);
        let exponent = strip_leading_zeros(exponent);
        if modulus.is_empty() || exponent.is_empty() {
            return Err(Error::Failed(
                "RSA key with an empty modulus or exponent".into(),
            ));
        }
        Ok(PublicKey::Rsa {
            modulus: modulus.to_vec(),
            exponent: exponent.to_vec(),
        })
    }

    /// An EC or EdDSA key from `CKA_EC_PARAMS` and `CKA_EC_POINT`.
    pub fn from_ec_attributes(params: &[u8], point: &[u8]) -> Result<PublicKey> {
        let curve = Curve::from_ec_params(params).ok_or_else(|| {
            Error::Failed(format!(
                "unsupported curve (CKA_EC_PARAMS {})",
                data_encoding::HEXLOWER.encode(params)
            ))
        })?;
        let expected = curve.public_key_len();
        // The point is a DER OCTET STRING (PKCS#11) or, on some tokens, raw.
        let raw = match der_parse(point) {
            Some((0x04, body)) if body.len() == expected || body.len() == expected + 1 => body,
            _ => point,
        };
        if curve.is_edwards() {
            if raw.len() != expected {
                return Err(bad_point(curve, point));
            }
            return Ok(PublicKey::Eddsa {
                curve,
                key: raw.to_vec(),
            });
        }
        match raw {
            [0x04, xy @ ..] if xy.len() == expected => Ok(PublicKey::Ecdsa {
                curve,
                point: xy.to_vec(),
            }),
            xy if xy.len() == expected => Ok(PublicKey::Ecdsa {
                curve,
                point: xy.to_vec(),
            }),
            _ => Err(bad_point(curve, point)),
        }
    }

    /// The DER SubjectPublicKeyInfo of the key.
    pub fn spki_der(&self) -> Vec<u8> {
        let (algorithm, key_bits) = match self {
            PublicKey::Rsa { modulus, exponent } => {
                let rsa_key = der(
                    0x30,
                    &[der_integer(modulus), der_integer(exponent)].concat(),
                );
                (der(0x30, &[OID_RSA, &[0x05, 0x00]].concat()), rsa_key)
            }
            PublicKey::Ecdsa { curve, point } => {
                let curve_oid = if *curve == Curve::P256 {
                    OID_P256
                } else {
                    OID_P384
                };
                (
                    der(0x30, &[OID_EC_PUBLIC_KEY, curve_oid].concat()),
                    [&[0x04], point.as_slice()].concat(),
                )
            }
            PublicKey::Eddsa { curve, key } => {
                let oid = if *curve == Curve::Ed25519 {
                    OID_ED25519
                } else {
                    OID_ED448
                };
                (der(0x30, oid), key.clone())
            }
        };
        let bit_string = der(0x03, &[&[0x00], key_bits.as_slice()].concat());
        der(0x30, &[algorithm, bit_string].concat())
    }

    /// The `CKA_ID` pkcs11-keygen gives a new key: SHA-1 of the DER
    /// SubjectPublicKeyInfo (the key ID Knot DNS and GnuTLS compute).
    pub fn key_id(&self) -> Vec<u8> {
        use sha1::Digest;
        sha1::Sha1::digest(self.spki_der()).to_vec()
    }
}

fn bad_point(curve: Curve, point: &[u8]) -> Error {
    Error::Failed(format!(
        "{} public key has an unexpected CKA_EC_POINT of {} bytes",
        curve.name(),
        point.len()
    ))
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// DER tag-length-value.
fn der(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = body.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u64).to_be_bytes();
        let significant = strip_leading_zeros(&bytes);
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(body);
    out
}

/// DER INTEGER of an unsigned big-endian number.
fn der_integer(value: &[u8]) -> Vec<u8> {
    let value = strip_leading_zeros(value);
    if value.is_empty() {
        return der(0x02, &[0]);
    }
    if value[0] & 0x80 != 0 {
        der(0x02, &[&[0x00], value].concat())
    } else {
        der(0x02, value)
    }
}

/// Splits one DER TLV that spans the whole input: (tag, body).
fn der_parse(input: &[u8]) -> Option<(u8, &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let count = (first & 0x7F) as usize;
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |acc, &b| acc << 8 | b as usize);
        (len, &rest[count..])
    };
    (rest.len() == len).then_some((tag, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec_params_in_every_form() {
        assert_eq!(Curve::from_ec_params(OID_P256), Some(Curve::P256));
        assert_eq!(Curve::from_ec_params(OID_P384), Some(Curve::P384));
        assert_eq!(Curve::from_ec_params(OID_ED25519), Some(Curve::Ed25519));
        assert_eq!(Curve::from_ec_params(OID_ED448), Some(Curve::Ed448));
        for curve in [Curve::P256, Curve::P384, Curve::Ed25519, Curve::Ed448] {
            assert_eq!(Curve::from_ec_params(&curve.ec_params()), Some(curve));
        }
        // BIND 9.16's PrintableString bytes (bind-tools.md §2.4).
        let bind_ed25519 = [
            0x13, 0x0C, 0x65, 0x64, 0x77, 0x61, 0x72, 0x64, 0x73, 0x32, 0x35, 0x35, 0x31, 0x39,
        ];
        assert_eq!(Curve::from_ec_params(&bind_ed25519), Some(Curve::Ed25519));
        assert_eq!(Curve::from_ec_params(&[0x06, 0x01, 0x00]), None);
    }

    #[test]
    fn ec_points_raw_or_wrapped() {
        let xy: Vec<u8> = (1..=64).collect();
        let uncompressed = [&[0x04], xy.as_slice()].concat();
        let wrapped = der(0x04, &uncompressed);
        for point in [&wrapped, &uncompressed, &xy] {
            let key = PublicKey::from_ec_attributes(OID_P256, point).expect("point");
            assert_eq!(
                key,
                PublicKey::Ecdsa {
                    curve: Curve::P256,
                    point: xy.clone()
                }
            );
        }
        let ed: Vec<u8> = (0..32).collect();
        let key = PublicKey::from_ec_attributes(&Curve::Ed25519.ec_params(), &der(0x04, &ed))
            .expect("ed");
        assert_eq!(
            key,
            PublicKey::Eddsa {
                curve: Curve::Ed25519,
                key: ed.clone()
            }
        );
        assert!(PublicKey::from_ec_attributes(OID_P256, &ed).is_err());
    }

    #[test]
    fn spki_matches_openssl_for_an_ed25519_key() {
        // RFC 8410 §10.1: the example Ed25519 public key and its SPKI.
        let key = data_encoding::HEXLOWER
            .decode(b"19bf44096984cdfe8541bac167dc3b96c85086aa30b6b6cb0c5c38ad703166e1")
            .expect("hex");
        let spki = PublicKey::Eddsa {
            curve: Curve::Ed25519,
            key,
        }
        .spki_der();
        assert_eq!(
            data_encoding::HEXLOWER.encode(&spki),
            "302a300506032b657003210019bf44096984cdfe8541bac167dc3b96c85086aa30b6b6cb0c5c38ad703166e1"
        );
    }

    #[test]
    fn rsa_spki_has_positive_integers() {
        let key = PublicKey::rsa(&[0x00, 0xC0, 0x01], &[0x01, 0x00, 0x01]).expect("rsa");
        assert_eq!(
            data_encoding::HEXLOWER.encode(&key.spki_der()),
            concat!(
                "301e",
                "300d06092a864886f70d0101010500",
                "030d00",
                "300a",
                "020300c001",
                "0203010001"
            )
        );
    }
}
