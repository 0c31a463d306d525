//! What a token can do, as `pkcs11-tokens` reports it: BIND's
//! "supported operations" bitmask, and which DNSSEC algorithms it can
//! generate keys for and sign with.

use crate::algorithm::{Algorithm, KeyKind};
use crate::keys::Curve;
use crate::pkcs11::Module;
use cryptoki::mechanism::{MechanismInfo, MechanismType};
use cryptoki::slot::Slot;

/// BIND's bit for RSA in "supported operations".
pub const BIND_RSA: u32 = 1 << 1;
/// BIND's bit for ECDSA.
pub const BIND_ECDSA: u32 = 1 << 4;
/// BIND's bit for EdDSA.
pub const BIND_EDDSA: u32 = 1 << 5;

/// A token's capabilities.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// BIND 9.16's bitmask (§1.2 of bind-tools.md).
    pub bind_operations: u32,
    /// DNSSEC algorithms with key generation and signing available.
    pub algorithms: Vec<Algorithm>,
    /// Mechanisms BIND probes that are missing, with why (for `-v`).
    pub missing: Vec<(&'static str, String)>,
}

impl Capabilities {
    /// BIND's parenthesised list: only ever `RSA` and `EC`.
    pub fn bind_names(&self) -> String {
        let mut names = Vec::new();
        if self.bind_operations & BIND_RSA != 0 {
            names.push("RSA");
        }
        if self.bind_operations & BIND_ECDSA != 0 {
            names.push("EC");
        }
        names.join(",")
    }
}

const GENERATE: u8 = 1;
const SIGN_VERIFY: u8 = 2;

/// BIND's probe list: (mechanism, name, required use, class bit). BIND
/// also required CKM_MD5_RSA_PKCS for RSA; MD5 plays no part in DNSSEC
/// signing (RFC 8624) and cryptoki cannot name it, so it is not probed.
fn bind_probes() -> [(MechanismType, &'static str, u8, u32); 9] {
    [
        (
            MechanismType::RSA_PKCS_KEY_PAIR_GEN,
            "CKM_RSA_PKCS_KEY_PAIR_GEN",
            GENERATE,
            BIND_RSA,
        ),
        (
            MechanismType::SHA1_RSA_PKCS,
            "CKM_SHA1_RSA_PKCS",
            SIGN_VERIFY,
            BIND_RSA,
        ),
        (
            MechanismType::SHA256_RSA_PKCS,
            "CKM_SHA256_RSA_PKCS",
            SIGN_VERIFY,
            BIND_RSA,
        ),
        (
            MechanismType::SHA512_RSA_PKCS,
            "CKM_SHA512_RSA_PKCS",
            SIGN_VERIFY,
            BIND_RSA,
        ),
        (
            MechanismType::RSA_PKCS,
            "CKM_RSA_PKCS",
            SIGN_VERIFY,
            BIND_RSA,
        ),
        (
            MechanismType::ECC_KEY_PAIR_GEN,
            "CKM_EC_KEY_PAIR_GEN",
            GENERATE,
            BIND_ECDSA,
        ),
        (MechanismType::ECDSA, "CKM_ECDSA", SIGN_VERIFY, BIND_ECDSA),
        (
            MechanismType::ECC_EDWARDS_KEY_PAIR_GEN,
            "CKM_EC_EDWARDS_KEY_PAIR_GEN",
            GENERATE,
            BIND_EDDSA,
        ),
        (MechanismType::EDDSA, "CKM_EDDSA", SIGN_VERIFY, BIND_EDDSA),
    ]
}

/// Probes the token in `slot`.
pub fn probe(module: &Module, slot: Slot) -> Capabilities {
    let context = module.context();
    let info = |mechanism: MechanismType| context.get_mechanism_info(slot, mechanism);
    let mut capabilities = Capabilities::default();

    let mut class_ok = BIND_RSA | BIND_ECDSA | BIND_EDDSA;
    for (mechanism, name, usage, class) in bind_probes() {
        let usable = match info(mechanism) {
            Ok(i) => {
                let ok = if usage == GENERATE {
                    i.generate_key_pair()
                } else {
                    i.sign() && i.verify()
                };
                if !ok {
                    capabilities.missing.push((name, "flags missing".into()));
                }
                ok
            }
            Err(error) => {
                let code = crate::error::Error::pkcs11("", error);
                let code = code.pkcs11_code().unwrap_or("error").to_string();
                capabilities.missing.push((name, code));
                false
            }
        };
        if !usable {
            class_ok &= !class;
        }
    }
    capabilities.bind_operations = class_ok;

    let generates = |m| info(m).is_ok_and(|i| i.generate_key_pair());
    let signs = |m| info(m).is_ok_and(|i| i.sign());
    // Key sizes: PKCS#11 reports bits for RSA and EC; some tokens report
    // bytes for EC, so a curve counts if either reading fits.
    let fits = |i: &MechanismInfo, bits: usize| {
        let (min, max) = (i.min_key_size(), i.max_key_size());
        (min <= bits && bits <= max) || (min <= bits / 8 && bits / 8 <= max) || max == 0
    };
    let curve_ok = |generate: MechanismType, sign: MechanismType, curve: Curve| {
        let bits = match curve {
            Curve::Ed25519 => 255,
            Curve::Ed448 => 448,
            other => other.bits() as usize,
        };
        info(generate).is_ok_and(|i| {
            i.generate_key_pair() && (fits(&i, bits) || fits(&i, curve.bits() as usize))
        }) && signs(sign)
    };
    for algorithm in Algorithm::ALL {
        let ok = match algorithm.key_kind() {
            KeyKind::Rsa => {
                let hashed = match algorithm {
                    Algorithm::RsaSha512 => MechanismType::SHA512_RSA_PKCS,
                    Algorithm::RsaSha256 => MechanismType::SHA256_RSA_PKCS,
                    _ => MechanismType::SHA1_RSA_PKCS,
                };
                generates(MechanismType::RSA_PKCS_KEY_PAIR_GEN)
                    && (signs(MechanismType::RSA_PKCS) || signs(hashed))
            }
            KeyKind::Ec(curve) if curve.is_edwards() => curve_ok(
                MechanismType::ECC_EDWARDS_KEY_PAIR_GEN,
                MechanismType::EDDSA,
                curve,
            ),
            KeyKind::Ec(curve) => {
                curve_ok(MechanismType::ECC_KEY_PAIR_GEN, MechanismType::ECDSA, curve)
            }
        };
        if ok {
            capabilities.algorithms.push(algorithm);
        }
    }
    capabilities
}
