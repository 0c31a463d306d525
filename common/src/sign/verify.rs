//! Software verification of every signature before it is written
//! (RFC 4034 §3, RFC 5702, RFC 6605, RFC 8080), with ring: a faulty
//! token signature never reaches the zone.
//!
//! ring has no Ed448; RustCrypto's ed448-goldilocks verifies those (RFC
//! 8032 §5.2.7, pure Ed448 with an empty context, as RFC 8080 §4 says).

use crate::algorithm::Algorithm;
use crate::error::{Error, Result};
use crate::keys::PublicKey;
use ring::signature;

/// A public key ready to verify signatures of one algorithm.
pub struct Verifier {
    algorithm: Algorithm,
    key: VerifierKey,
}

enum VerifierKey {
    Ecdsa(signature::UnparsedPublicKey<Vec<u8>>),
    Ed25519(signature::UnparsedPublicKey<Vec<u8>>),
    Ed448(Box<ed448_goldilocks::VerifyingKey>),
    Rsa(
        signature::RsaPublicKeyComponents<Vec<u8>>,
        &'static signature::RsaParameters,
    ),
}

impl Verifier {
    /// A verifier for `key` with `algorithm`; an error for algorithms this
    /// build cannot verify (so that they are not used to sign).
    pub fn new(key: &PublicKey, algorithm: Algorithm) -> Result<Verifier> {
        let key = match (key, algorithm) {
            (PublicKey::Ecdsa { point, .. }, Algorithm::EcdsaP256Sha256) => {
                VerifierKey::Ecdsa(signature::UnparsedPublicKey::new(
                    &signature::ECDSA_P256_SHA256_FIXED,
                    uncompressed(point),
                ))
            }
            (PublicKey::Ecdsa { point, .. }, Algorithm::EcdsaP384Sha384) => {
                VerifierKey::Ecdsa(signature::UnparsedPublicKey::new(
                    &signature::ECDSA_P384_SHA384_FIXED,
                    uncompressed(point),
                ))
            }
            (PublicKey::Eddsa { key, .. }, Algorithm::Ed25519) => VerifierKey::Ed25519(
                signature::UnparsedPublicKey::new(&signature::ED25519, key.clone()),
            ),
            (PublicKey::Eddsa { key, .. }, Algorithm::Ed448) => {
                let bytes: &[u8; 57] = key.as_slice().try_into().map_err(|_| {
                    Error::Failed(format!(
                        "an Ed448 public key has 57 octets, not {}",
                        key.len()
                    ))
                })?;
                let key = ed448_goldilocks::VerifyingKey::from_bytes(bytes).map_err(|_| {
                    Error::Failed("the Ed448 public key is not a curve point".into())
                })?;
                VerifierKey::Ed448(Box::new(key))
            }
            (PublicKey::Rsa { modulus, .. }, _) if modulus.len() < 128 => {
                return Err(Error::Failed(format!(
                    "RSA keys of {} bits are too short to sign with (1024 at least)",
                    modulus.len() * 8
                )))
            }
            (PublicKey::Rsa { modulus, exponent }, algorithm) => {
                let parameters: &'static signature::RsaParameters = match algorithm {
                    Algorithm::RsaSha1 | Algorithm::Nsec3RsaSha1 => {
                        &signature::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY
                    }
                    Algorithm::RsaSha256 => {
                        &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY
                    }
                    Algorithm::RsaSha512 => {
                        &signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY
                    }
                    other => return Err(unsupported(other)),
                };
                VerifierKey::Rsa(
                    signature::RsaPublicKeyComponents {
                        n: modulus.clone(),
                        e: exponent.clone(),
                    },
                    parameters,
                )
            }
            (_, other) => return Err(unsupported(other)),
        };
        Ok(Verifier { algorithm, key })
    }

    /// True if `signature` is valid for `data`.
    pub fn verify(&self, data: &[u8], signature: &[u8]) -> bool {
        match &self.key {
            VerifierKey::Ecdsa(key) | VerifierKey::Ed25519(key) => {
                key.verify(data, signature).is_ok()
            }
            VerifierKey::Ed448(key) => ed448_goldilocks::Signature::from_slice(signature)
                .is_ok_and(|signature| key.verify_raw(&signature, data).is_ok()),
            VerifierKey::Rsa(key, parameters) => key.verify(parameters, data, signature).is_ok(),
        }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

fn uncompressed(point: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(point.len() + 1);
    out.push(0x04);
    out.extend_from_slice(point);
    out
}

fn unsupported(algorithm: Algorithm) -> Error {
    Error::Failed(format!(
        "{algorithm} signatures cannot be verified in software by this build, so zone-sign will not make them"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Curve;

    fn hex(text: &str) -> Vec<u8> {
        let text: String = text.split_whitespace().collect();
        data_encoding::HEXLOWER_PERMISSIVE
            .decode(text.as_bytes())
            .expect("hex")
    }

    /// RFC 8032 §7.4: "1 octet" and "-----Blank" test vectors.
    #[test]
    fn ed448_verifies_the_rfc_8032_vectors() {
        let vectors = [
            (
                "5fd7449b59b461fd2ce787ec616ad46a1da1342485a70e1f8a0ea75d80e96778
                 edf124769b46c7061bd6783df1e50f6cd1fa1abeafe8256180",
                "",
                "533a37f6bbe457251f023c0d88f976ae2dfb504a843e34d2074fd823d41a591f
                 2b233f034f628281f2fd7a22ddd47d7828c59bd0a21bfd3980ff0d2028d4b18a
                 9df63e006c5d1c2d345b925d8dc00b4104852db99ac5c7cdda8530a113a0f4db
                 b61149f05a7363268c71d95808ff2e652600",
            ),
            (
                "43ba28f430cdff456ae531545f7ecd0ac834a55d9358c0372bfa0c6c6798c086
                 6aea01eb00742802b8438ea4cb82169c235160627b4c3a9480",
                "03",
                "26b8f91727bd62897af15e41eb43c377efb9c610d48f2335cb0bd0087810f435
                 2541b143c4b981b7e18f62de8ccdf633fc1bf037ab7cd779805e0dbcc0aae1cb
                 cee1afb2e027df36bc04dcecbf154336c19f0af7e0a6472905e799f1953d2a0f
                 f3348ab21aa4adafd1d234441cf807c03a00",
            ),
        ];
        for (public, message, signature) in vectors {
            let key = PublicKey::Eddsa {
                curve: Curve::Ed448,
                key: hex(public),
            };
            let verifier = Verifier::new(&key, Algorithm::Ed448).expect("verifier");
            let (message, mut signature) = (hex(message), hex(signature));
            assert!(verifier.verify(&message, &signature));
            signature[3] ^= 1;
            assert!(!verifier.verify(&message, &signature));
            assert!(!verifier.verify(b"other", &hex("00")));
        }
    }
}
