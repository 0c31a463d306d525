//! DS records (RFC 4034 §5, RFC 4509, RFC 6605): the digest of a DNSKEY,
//! and the digest types BIND's `dnssec-dsfromkey` accepts.

use crate::dnskey::DnsKey;
use crate::error::{Error, Result};
use crate::name::Name;
use sha1::Digest;

/// A DS digest type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DigestType {
    Sha1,
    Sha256,
    Sha384,
}

impl DigestType {
    /// The digest type number.
    pub fn number(self) -> u8 {
        match self {
            DigestType::Sha1 => 1,
            DigestType::Sha256 => 2,
            DigestType::Sha384 => 4,
        }
    }

    /// Parses `SHA-1`, `SHA1`, `SHA-256`, `SHA256`, `SHA-384`, `SHA384`
    /// (any case) or a number, with `dnssec-dsfromkey`'s error texts.
    pub fn parse(text: &str) -> Result<DigestType> {
        if let Ok(number) = text.parse::<u8>() {
            return match number {
                1 => Ok(DigestType::Sha1),
                2 => Ok(DigestType::Sha256),
                4 => Ok(DigestType::Sha384),
                _ => Err(Error::usage(format!(
                    "can't build record: unsupported DS digest type {number}"
                ))),
            };
        }
        match text.to_ascii_uppercase().as_str() {
            "SHA-1" | "SHA1" => Ok(DigestType::Sha1),
            "SHA-256" | "SHA256" => Ok(DigestType::Sha256),
            "SHA-384" | "SHA384" => Ok(DigestType::Sha384),
            _ => Err(Error::usage(format!("unknown DS algorithm {text}"))),
        }
    }

    /// The digest of `owner` (canonical, lower case) and the DNSKEY RDATA.
    pub fn digest(self, owner: &Name, key: &DnsKey) -> Vec<u8> {
        let mut data = owner.canonical_wire();
        data.extend_from_slice(&key.rdata());
        match self {
            DigestType::Sha1 => sha1::Sha1::digest(&data).to_vec(),
            DigestType::Sha256 => sha2::Sha256::digest(&data).to_vec(),
            DigestType::Sha384 => sha2::Sha384::digest(&data).to_vec(),
        }
    }
}

/// The RDATA text of the DS for `key`: `tag alg type HEX` (upper-case hex
/// on one line, as `dnssec-dsfromkey` prints it).
pub fn ds_rdata_text(owner: &Name, key: &DnsKey, digest_type: DigestType) -> String {
    format!(
        "{} {} {} {}",
        key.key_tag(),
        key.algorithm,
        digest_type.number(),
        data_encoding::HEXUPPER.encode(&digest_type.digest(owner, key))
    )
}

/// BIND's `dsset-<zone>.` file: SHA-256 DS lines, owner padded with tabs
/// to column 24, the digest split after 56 hex digits (bind-tools.md §9.4).
pub fn dsset_text(owner: &Name, keys: &[DnsKey]) -> String {
    let owner_text = owner.to_string();
    let mut padded = owner_text.clone();
    let mut column = owner_text.len();
    loop {
        padded.push('\t');
        column = (column / 8 + 1) * 8;
        if column >= 24 {
            break;
        }
    }
    let mut out = String::new();
    for key in keys {
        let digest = data_encoding::HEXUPPER.encode(&DigestType::Sha256.digest(owner, key));
        out.push_str(&format!(
            "{padded}IN DS {} {} 2 {}\n",
            key.key_tag(),
            key.algorithm,
            crate::record::chunked(&digest, 56)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> DnsKey {
        let tokens: Vec<&str> = text.split_whitespace().collect();
        DnsKey::parse_rdata(&tokens).expect("dnskey")
    }

    #[test]
    fn rfc_ds_vectors() {
        let owner = Name::parse("dskey.example.com.", None).expect("name");
        let rfc4034 = key("256 3 5 AQOeiiR0GOMYkDshWoSKz9XzfwJr1AYt smx3TGkJaNXVbfi/2pHm822aJ5iI9BMz NXxeYCmZDRD99WYwYqUSdjMmmAphXdvx egXd/M5+X7OrzKBaMbCVdFLUUh6DhweJ BjEVv5f2wwjM9XzcnOf+EPbtG9DMBmAD jFDc2w/rljwvFw==");
        assert_eq!(
            ds_rdata_text(&owner, &rfc4034, DigestType::Sha1),
            "60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118"
        );
        assert_eq!(
            ds_rdata_text(&owner, &rfc4034, DigestType::Sha256),
            "60485 5 2 D4B7D520E7BB5F0F67674A0CCEB1E3E0614B93C4F9E99B8383F6A1E4469DA50A"
        );
        let net = Name::parse("example.net.", None).expect("name");
        let p384 = key("257 3 14 xKYaNhWdGOfJ+nPrL8/arkwf2EY3MDJ+ SErKivBVSum1w/egsXvSADtNJhyem5RC OpgQ6K8X1DRSEkrbYQ+OB+v8/uX45NBw Y8rp65F6Glur8I/mlVNgF6W/qTI37m40");
        assert_eq!(
            ds_rdata_text(&net, &p384, DigestType::Sha384),
            "10771 14 4 72D7B62976CE06438E9C0BF319013CF801F09ECC84B8D7E9495F27E305C6A9B0563A9B5F4D288405C3008A946DF983D6"
        );
        // The owner is hashed in lower case.
        let upper = Name::parse("EXAMPLE.NET.", None).expect("name");
        assert_eq!(
            ds_rdata_text(&upper, &p384, DigestType::Sha384),
            ds_rdata_text(&net, &p384, DigestType::Sha384)
        );
    }

    /// Every block of the shared DNSKEY/key tag/DS vectors (copied from the
    /// corpus into testdata/): key tag, DS line, and Knot's SPKI key ID.
    #[test]
    fn published_vectors() {
        use crate::record::{format_record, Class, RType};
        use crate::zone::ZoneReader;
        let text = include_str!("../testdata/ds-keytag.txt");
        let mut checked = (0, 0, 0);
        for block in text.split("\n\n") {
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                    .map(str::to_string)
            };
            let (Some(id), Some(line), Some(tag)) =
                (field("id"), field("dnskey"), field("key_tag"))
            else {
                continue;
            };
            let mut reader = ZoneReader::new(
                Box::new(std::io::Cursor::new(line.clone().into_bytes())),
                &id,
                None,
                Name::root(),
            );
            let record = reader.next_record().expect(&id).expect(&id);
            let texts = record.rdata_texts();
            let tokens: Vec<&str> = texts.iter().map(String::as_str).collect();
            let key = DnsKey::parse_rdata(&tokens).expect(&id);
            assert_eq!(key.key_tag().to_string(), tag, "{id}");
            checked.0 += 1;
            if let Some(expected) = field("ds") {
                let digest = match expected.split_whitespace().nth(6) {
                    Some("1") => DigestType::Sha1,
                    Some("2") => DigestType::Sha256,
                    _ => DigestType::Sha384,
                };
                let rdata = ds_rdata_text(&record.owner, &key, digest);
                let line = format_record(
                    &record.owner,
                    Some(record.ttl),
                    Class::IN,
                    RType::DS,
                    &rdata,
                );
                assert_eq!(line, expected, "{id}");
                checked.1 += 1;
            }
            if let Some(expected) = field("knot_key_id") {
                let public = key.to_public_key().expect(&id);
                assert_eq!(
                    data_encoding::HEXLOWER.encode(&public.key_id()),
                    expected,
                    "{id}"
                );
                checked.2 += 1;
            }
        }
        assert_eq!(checked, (70, 65, 30), "vectors checked (tags, DS, key IDs)");
    }

    #[test]
    fn dsset_lines_look_like_binds() {
        let owner = Name::parse("example.com.", None).expect("name");
        let key = key("257 3 13 U5c+cuMBc6ihuRN3cOAIUuLkU6mMSfwdFX3r3e+rbMWcUeHNssyA6qmj EtJ5u5PkA/NN/nzjWpuxDQmmSh1j5Q==");
        assert_eq!(
            dsset_text(&owner, &[key]),
            "example.com.\t\tIN DS 17914 13 2 9D2C98B8ADE7B972716C0F5445825B5F1E42A49EB7452571C5A55748 199C8DF0\n"
        );
    }

    #[test]
    fn digest_names_follow_dsfromkey() {
        assert_eq!(
            DigestType::parse("sha-256").expect("ok"),
            DigestType::Sha256
        );
        assert_eq!(DigestType::parse("4").expect("ok"), DigestType::Sha384);
        assert!(DigestType::parse("3")
            .expect_err("3")
            .to_string()
            .contains("can't build record"));
        assert!(DigestType::parse("MD5")
            .expect_err("md5")
            .to_string()
            .contains("unknown DS algorithm MD5"));
    }
}
