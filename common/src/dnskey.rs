//! DNSKEY records (RFC 4034 §2): RDATA from a token's public key, the key
//! tag (RFC 4034 App. B), flags, and the public key back from RDATA.
//!
//! Public key encodings: RSA per RFC 3110 §2 (exponent length in one octet,
//! or a zero octet and two length octets when longer than 255), ECDSA as
//! X||Y per RFC 6605 §4, EdDSA as the RFC 8032 key per RFC 8080 §3.

use crate::algorithm::{Algorithm, KeyKind};
use crate::error::{Error, Result};
use crate::keys::{Curve, PublicKey};

/// Zone Key flag (bit 7): every DNSSEC key has it.
pub const FLAG_ZONE: u16 = 0x0100;
/// Secure Entry Point flag (bit 15): a KSK.
pub const FLAG_SEP: u16 = 0x0001;
/// REVOKE flag (RFC 5011, bit 8).
pub const FLAG_REVOKE: u16 = 0x0080;
/// The only protocol value DNSKEY allows (RFC 4034 §2.1.2).
pub const PROTOCOL: u8 = 3;

/// The RDATA of a DNSKEY (or CDNSKEY, or KEY) record.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DnsKey {
    pub flags: u16,
    pub protocol: u8,
    pub algorithm: u8,
    pub public_key: Vec<u8>,
}

impl DnsKey {
    /// A DNSKEY for `key` with `algorithm`; the key must suit the algorithm.
    pub fn from_public_key(key: &PublicKey, algorithm: Algorithm, flags: u16) -> Result<DnsKey> {
        check_key_fits(key, algorithm)?;
        let public_key = match key {
            PublicKey::Rsa { modulus, exponent } => {
                let mut out = Vec::with_capacity(3 + exponent.len() + modulus.len());
                if exponent.len() <= 255 {
                    out.push(exponent.len() as u8);
                } else {
                    out.push(0);
                    out.extend_from_slice(&(exponent.len() as u16).to_be_bytes());
                }
                out.extend_from_slice(exponent);
                out.extend_from_slice(modulus);
                out
            }
            PublicKey::Ecdsa { point, .. } => point.clone(),
            PublicKey::Eddsa { key, .. } => key.clone(),
        };
        Ok(DnsKey {
            flags,
            protocol: PROTOCOL,
            algorithm: algorithm.number(),
            public_key,
        })
    }

    /// The wire-form RDATA.
    pub fn rdata(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.public_key.len());
        out.extend_from_slice(&self.flags.to_be_bytes());
        out.push(self.protocol);
        out.push(self.algorithm);
        out.extend_from_slice(&self.public_key);
        out
    }

    /// The key tag (RFC 4034 Appendix B); it depends on the flags.
    pub fn key_tag(&self) -> u16 {
        if self.algorithm == 1 {
            // RSA/MD5 (B.1): bits 8..24 from the end of the modulus.
            let key = &self.public_key;
            return match key.len() {
                len if len >= 3 => u16::from_be_bytes([key[len - 3], key[len - 2]]),
                _ => 0,
            };
        }
        key_tag(&self.rdata())
    }

    /// True if the SEP (KSK) flag is set.
    pub fn is_ksk(&self) -> bool {
        self.flags & FLAG_SEP != 0
    }

    /// True if the REVOKE flag is set.
    pub fn is_revoked(&self) -> bool {
        self.flags & FLAG_REVOKE != 0
    }

    /// True if the Zone Key flag is set.
    pub fn is_zone_key(&self) -> bool {
        self.flags & FLAG_ZONE != 0
    }

    /// The algorithm, if it is one we know.
    pub fn algorithm(&self) -> Option<Algorithm> {
        Algorithm::from_number(self.algorithm)
    }

    /// The public key, decoded for the algorithm.
    pub fn to_public_key(&self) -> Result<PublicKey> {
        let algorithm = self.algorithm().ok_or_else(|| {
            Error::Failed(format!("unsupported DNSKEY algorithm {}", self.algorithm))
        })?;
        let bad = || Error::Failed(format!("malformed {algorithm} public key in DNSKEY"));
        match algorithm.key_kind() {
            KeyKind::Rsa => {
                let data = &self.public_key;
                let (exponent_len, rest) = match data.split_first() {
                    Some((0, rest)) if rest.len() >= 2 => {
                        (u16::from_be_bytes([rest[0], rest[1]]) as usize, &rest[2..])
                    }
                    Some((&len, rest)) => (len as usize, rest),
                    None => return Err(bad()),
                };
                if exponent_len == 0 || rest.len() <= exponent_len {
                    return Err(bad());
                }
                let (exponent, modulus) = rest.split_at(exponent_len);
                PublicKey::rsa(modulus, exponent)
            }
            KeyKind::Ec(curve) => {
                if self.public_key.len() != curve.public_key_len() {
                    return Err(bad());
                }
                Ok(if curve.is_edwards() {
                    PublicKey::Eddsa {
                        curve,
                        key: self.public_key.clone(),
                    }
                } else {
                    PublicKey::Ecdsa {
                        curve,
                        point: self.public_key.clone(),
                    }
                })
            }
        }
    }

    /// The RDATA in presentation form, key in 56-character base64 chunks
    /// separated by spaces, as in BIND's `.key` files.
    pub fn rdata_text(&self) -> String {
        format!(
            "{} {} {} {}",
            self.flags,
            self.protocol,
            self.algorithm,
            crate::record::base64_chunked(&self.public_key, 56)
        )
    }

    /// Parses presentation RDATA tokens: flags, protocol, algorithm (number
    /// or mnemonic), then base64 that may be split over several tokens.
    pub fn parse_rdata(tokens: &[&str]) -> std::result::Result<DnsKey, String> {
        use base64::Engine;
        let [flags, protocol, algorithm, key @ ..] = tokens else {
            return Err("DNSKEY needs flags, protocol, algorithm and key".into());
        };
        let flags: u16 = flags
            .parse()
            .map_err(|_| format!("bad DNSKEY flags '{flags}'"))?;
        let protocol: u8 = protocol
            .parse()
            .map_err(|_| format!("bad DNSKEY protocol '{protocol}'"))?;
        let algorithm = match algorithm.parse::<u8>() {
            Ok(number) => number,
            Err(_) => Algorithm::parse(algorithm)
                .map(Algorithm::number)
                .ok_or_else(|| format!("unknown algorithm '{algorithm}'"))?,
        };
        if key.is_empty() {
            return Err("DNSKEY has no public key".into());
        }
        let joined: String = key.concat();
        let public_key = base64::engine::general_purpose::STANDARD
            .decode(joined.as_bytes())
            .map_err(|_| "bad base64 in DNSKEY public key".to_string())?;
        Ok(DnsKey {
            flags,
            protocol,
            algorithm,
            public_key,
        })
    }
}

/// RFC 4034 Appendix B: the key tag of DNSKEY RDATA.
pub fn key_tag(rdata: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for (i, &byte) in rdata.iter().enumerate() {
        sum += if i & 1 == 0 {
            u32::from(byte) << 8
        } else {
            u32::from(byte)
        };
    }
    sum += (sum >> 16) & 0xFFFF;
    (sum & 0xFFFF) as u16
}

/// Checks that a token key can be used with a DNSSEC algorithm.
pub fn check_key_fits(key: &PublicKey, algorithm: Algorithm) -> Result<()> {
    let fits = match (key, algorithm.key_kind()) {
        (PublicKey::Rsa { .. }, KeyKind::Rsa) => true,
        (PublicKey::Ecdsa { curve, .. }, KeyKind::Ec(wanted))
        | (PublicKey::Eddsa { curve, .. }, KeyKind::Ec(wanted)) => *curve == wanted,
        _ => false,
    };
    if fits {
        Ok(())
    } else {
        Err(Error::Failed(format!(
            "the key is {}, which cannot sign with {algorithm}",
            describe_key(key)
        )))
    }
}

/// The algorithm a key implies when none is asked for: RSA keys sign
/// with RSASHA256, the curves with their one algorithm.
pub fn default_algorithm(key: &PublicKey) -> Algorithm {
    match key {
        PublicKey::Rsa { .. } => Algorithm::RsaSha256,
        PublicKey::Ecdsa { curve, .. } | PublicKey::Eddsa { curve, .. } => match curve {
            Curve::P256 => Algorithm::EcdsaP256Sha256,
            Curve::P384 => Algorithm::EcdsaP384Sha384,
            Curve::Ed25519 => Algorithm::Ed25519,
            Curve::Ed448 => Algorithm::Ed448,
        },
    }
}

/// `an RSA 2048-bit key`, `a P-256 key`.
pub fn describe_key(key: &PublicKey) -> String {
    match key {
        PublicKey::Rsa { modulus, .. } => format!("an RSA {}-bit key", modulus.len() * 8),
        PublicKey::Ecdsa { curve, .. } | PublicKey::Eddsa { curve, .. } => {
            format!("a {} key", curve.name())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> DnsKey {
        let tokens: Vec<&str> = text.split_whitespace().collect();
        DnsKey::parse_rdata(&tokens).expect(text)
    }

    #[test]
    fn key_tags_of_the_rfc_vectors() {
        // RFC 4034 §5.4 (tag 60485), RFC 6605 §6.1 (55648), RFC 8080 §6.1 (3613).
        let rfc4034 = parse("256 3 5 AQOeiiR0GOMYkDshWoSKz9XzfwJr1AYt smx3TGkJaNXVbfi/2pHm822aJ5iI9BMz NXxeYCmZDRD99WYwYqUSdjMmmAphXdvx egXd/M5+X7OrzKBaMbCVdFLUUh6DhweJ BjEVv5f2wwjM9XzcnOf+EPbtG9DMBmAD jFDc2w/rljwvFw==");
        assert_eq!(rfc4034.key_tag(), 60485);
        let rfc6605 = parse("257 3 13 GojIhhXUN/u4v54ZQqGSnyhWJwaubCvT meexv7bR6edbkrSqQpF64cYbcB7wNcP+ e+MAnLr+Wi9xMWyQLc8NAA==");
        assert_eq!(rfc6605.key_tag(), 55648);
        let rfc8080 = parse("257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQw AQEX1SxZJA4=");
        assert_eq!(rfc8080.key_tag(), 3613);
        assert!(rfc8080.is_ksk() && rfc8080.is_zone_key() && !rfc8080.is_revoked());
    }

    #[test]
    fn public_keys_round_trip_through_rdata() {
        for text in [
            "256 3 8 AwEAAcFcGsaxxdgiuuGmCkVImy4h99CqT7jwY3pexPGcnUFtR2Fh36BponcwtkZ4cAgtvd4Qs8PkxUdp6p/DlUmObdk=",
            "257 3 13 GojIhhXUN/u4v54ZQqGSnyhWJwaubCvTmeexv7bR6edbkrSqQpF64cYbcB7wNcP+e+MAnLr+Wi9xMWyQLc8NAA==",
            "257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=",
        ] {
            let dnskey = parse(text);
            let key = dnskey.to_public_key().expect("decode");
            let algorithm = dnskey.algorithm().expect("algorithm");
            assert_eq!(DnsKey::from_public_key(&key, algorithm, dnskey.flags).expect("encode"), dnskey);
        }
    }

    #[test]
    fn long_rsa_exponents_use_three_length_octets() {
        let key = PublicKey::rsa(&[0xC0; 64], &[1; 256]).expect("rsa");
        let dnskey = DnsKey::from_public_key(&key, Algorithm::RsaSha256, 256).expect("dnskey");
        assert_eq!(&dnskey.public_key[..3], &[0, 1, 0]);
        assert_eq!(dnskey.to_public_key().expect("decode"), key);
    }

    #[test]
    fn mismatched_keys_are_refused() {
        let key = PublicKey::rsa(&[0xC0; 64], &[1, 0, 1]).expect("rsa");
        let error =
            DnsKey::from_public_key(&key, Algorithm::EcdsaP256Sha256, 256).expect_err("mismatch");
        assert!(error
            .to_string()
            .contains("RSA 512-bit key, which cannot sign with ECDSAP256SHA256"));
        assert!(parse("256 3 13 AAAA").to_public_key().is_err());
        assert!(DnsKey::parse_rdata(&["256", "3", "13", "!!"]).is_err());
        assert!(DnsKey::parse_rdata(&["256", "3", "13"]).is_err());
    }
}
