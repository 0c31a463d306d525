//! Signing with keys in tokens: the [`KeyStore`] the zone signer uses.
//!
//! Each key is found once; signing hashes on the host where the mechanism
//! allows (ECDSA: `CKM_ECDSA` over the SHA-256/384 digest; RSA:
//! `CKM_RSA_PKCS` over DigestInfo and digest, falling back to the hashing
//! `CKM_SHA*_RSA_PKCS` mechanisms when a token refuses raw RSA; EdDSA:
//! `CKM_EDDSA` over the data, as RFC 8032 requires).

use crate::algorithm::{Algorithm, KeyKind};
use crate::error::{Error, Result};
use crate::sign::KeyStore;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::ObjectHandle;
use cryptoki::session::Session;
use sha2::Digest;

/// DER DigestInfo prefixes (RFC 8017 §9.2, note 1).
const DIGEST_INFO_SHA1: &[u8] = &[
    0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14,
];
const DIGEST_INFO_SHA256: &[u8] = &[
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];
const DIGEST_INFO_SHA512: &[u8] = &[
    0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05,
    0x00, 0x04, 0x40,
];

/// One signing key: which session, which object, which algorithm.
pub struct TokenKey {
    pub session: usize,
    pub private: ObjectHandle,
    pub algorithm: Algorithm,
    /// For messages.
    pub description: String,
    /// The token refused raw RSA: use the hashing mechanism.
    rsa_hash_in_token: bool,
}

impl TokenKey {
    /// A key in session number `session`.
    pub fn new(
        session: usize,
        private: ObjectHandle,
        algorithm: Algorithm,
        description: String,
    ) -> TokenKey {
        TokenKey {
            session,
            private,
            algorithm,
            description,
            rsa_hash_in_token: false,
        }
    }
}

/// Keys in one or more token sessions.
pub struct Pkcs11KeyStore {
    pub sessions: Vec<Session>,
    pub keys: Vec<TokenKey>,
}

fn digest(algorithm: Algorithm, data: &[u8]) -> Vec<u8> {
    match algorithm {
        Algorithm::RsaSha1 | Algorithm::Nsec3RsaSha1 => sha1::Sha1::digest(data).to_vec(),
        Algorithm::RsaSha256 | Algorithm::EcdsaP256Sha256 => sha2::Sha256::digest(data).to_vec(),
        Algorithm::RsaSha512 => sha2::Sha512::digest(data).to_vec(),
        Algorithm::EcdsaP384Sha384 => sha2::Sha384::digest(data).to_vec(),
        Algorithm::Ed25519 | Algorithm::Ed448 => data.to_vec(),
    }
}

impl KeyStore for Pkcs11KeyStore {
    fn sign(&mut self, key: usize, data: &[u8]) -> Result<Vec<u8>> {
        let token_key = &mut self.keys[key];
        let session = &self.sessions[token_key.session];
        let algorithm = token_key.algorithm;
        let context = || format!("signing with {}", token_key.description);
        let result = match algorithm.key_kind() {
            KeyKind::Ec(curve) if curve.is_edwards() => session.sign(
                &Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
                token_key.private,
                data,
            ),
            KeyKind::Ec(_) => session.sign(
                &Mechanism::Ecdsa,
                token_key.private,
                &digest(algorithm, data),
            ),
            KeyKind::Rsa if !token_key.rsa_hash_in_token => {
                let prefix = match algorithm {
                    Algorithm::RsaSha512 => DIGEST_INFO_SHA512,
                    Algorithm::RsaSha256 => DIGEST_INFO_SHA256,
                    _ => DIGEST_INFO_SHA1,
                };
                let mut info = prefix.to_vec();
                info.extend_from_slice(&digest(algorithm, data));
                match session.sign(&Mechanism::RsaPkcs, token_key.private, &info) {
                    Err(cryptoki::error::Error::Pkcs11(
                        cryptoki::error::RvError::MechanismInvalid,
                        _,
                    )) => {
                        token_key.rsa_hash_in_token = true;
                        return self.sign(key, data);
                    }
                    other => other,
                }
            }
            KeyKind::Rsa => {
                let mechanism = match algorithm {
                    Algorithm::RsaSha512 => Mechanism::Sha512RsaPkcs,
                    Algorithm::RsaSha256 => Mechanism::Sha256RsaPkcs,
                    _ => Mechanism::Sha1RsaPkcs,
                };
                session.sign(&mechanism, token_key.private, data)
            }
        };
        result.map_err(|e| Error::pkcs11(context(), e))
    }
}
