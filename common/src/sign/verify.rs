//! Software verification of every signature before it is written
//! (RFC 4034 §3, RFC 5702, RFC 6605, RFC 8080), with ring: a faulty
//! token signature never reaches the zone.
//!
//! ring has no Ed448; Ed448 keys are refused for signing until a verifier
//! for it is added (an unverified signature is never written).

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
