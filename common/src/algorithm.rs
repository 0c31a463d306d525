//! DNSSEC algorithm numbers and mnemonics (IANA registry, RFC 8624), and
//! what kind of key each needs.

use crate::error::{Error, Result};
use crate::keys::Curve;

/// The DNSKEY algorithms these tools can use with a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Algorithm {
    RsaSha1,
    Nsec3RsaSha1,
    RsaSha256,
    RsaSha512,
    EcdsaP256Sha256,
    EcdsaP384Sha384,
    Ed25519,
    Ed448,
}

/// The kind of key pair an algorithm signs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Rsa,
    Ec(Curve),
}

impl Algorithm {
    /// Every algorithm, by number.
    pub const ALL: [Algorithm; 8] = [
        Algorithm::RsaSha1,
        Algorithm::Nsec3RsaSha1,
        Algorithm::RsaSha256,
        Algorithm::RsaSha512,
        Algorithm::EcdsaP256Sha256,
        Algorithm::EcdsaP384Sha384,
        Algorithm::Ed25519,
        Algorithm::Ed448,
    ];

    /// The algorithm number in DNSKEY, DS and RRSIG records.
    pub fn number(self) -> u8 {
        match self {
            Algorithm::RsaSha1 => 5,
            Algorithm::Nsec3RsaSha1 => 7,
            Algorithm::RsaSha256 => 8,
            Algorithm::RsaSha512 => 10,
            Algorithm::EcdsaP256Sha256 => 13,
            Algorithm::EcdsaP384Sha384 => 14,
            Algorithm::Ed25519 => 15,
            Algorithm::Ed448 => 16,
        }
    }

    /// The mnemonic as BIND prints it.
    pub fn mnemonic(self) -> &'static str {
        match self {
            Algorithm::RsaSha1 => "RSASHA1",
            Algorithm::Nsec3RsaSha1 => "NSEC3RSASHA1",
            Algorithm::RsaSha256 => "RSASHA256",
            Algorithm::RsaSha512 => "RSASHA512",
            Algorithm::EcdsaP256Sha256 => "ECDSAP256SHA256",
            Algorithm::EcdsaP384Sha384 => "ECDSAP384SHA384",
            Algorithm::Ed25519 => "ED25519",
            Algorithm::Ed448 => "ED448",
        }
    }

    /// The algorithm with this number.
    pub fn from_number(number: u8) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.number() == number)
    }

    /// Parses a mnemonic (case-insensitive; also BIND's `ECDSA256` and
    /// `ECDSA384`) or a number.
    pub fn parse(text: &str) -> Option<Algorithm> {
        if let Ok(number) = text.parse::<u8>() {
            return Algorithm::from_number(number);
        }
        let upper = text.to_ascii_uppercase();
        match upper.as_str() {
            "ECDSA256" => return Some(Algorithm::EcdsaP256Sha256),
            "ECDSA384" => return Some(Algorithm::EcdsaP384Sha384),
            _ => {}
        }
        Algorithm::ALL.into_iter().find(|a| a.mnemonic() == upper)
    }

    /// The kind of key this algorithm signs with.
    pub fn key_kind(self) -> KeyKind {
        match self {
            Algorithm::RsaSha1
            | Algorithm::Nsec3RsaSha1
            | Algorithm::RsaSha256
            | Algorithm::RsaSha512 => KeyKind::Rsa,
            Algorithm::EcdsaP256Sha256 => KeyKind::Ec(Curve::P256),
            Algorithm::EcdsaP384Sha384 => KeyKind::Ec(Curve::P384),
            Algorithm::Ed25519 => KeyKind::Ec(Curve::Ed25519),
            Algorithm::Ed448 => KeyKind::Ec(Curve::Ed448),
        }
    }
}

impl std::str::FromStr for Algorithm {
    type Err = Error;
    fn from_str(text: &str) -> Result<Algorithm> {
        Algorithm::parse(text).ok_or_else(|| Error::usage(format!("unknown algorithm '{text}'")))
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.mnemonic())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mnemonics_and_numbers_round_trip() {
        for algorithm in Algorithm::ALL {
            assert_eq!(Algorithm::parse(algorithm.mnemonic()), Some(algorithm));
            assert_eq!(
                Algorithm::parse(&algorithm.number().to_string()),
                Some(algorithm)
            );
        }
        assert_eq!(
            Algorithm::parse("ecdsap256sha256"),
            Some(Algorithm::EcdsaP256Sha256)
        );
        assert_eq!(
            Algorithm::parse("ECDSA384"),
            Some(Algorithm::EcdsaP384Sha384)
        );
        assert_eq!(Algorithm::parse("DSA"), None);
        assert_eq!(Algorithm::parse("3"), None);
    }
}
