//! The key backup file of `pkcs11-backup` and `pkcs11-restore`: a DNSSEC
//! key pair whose private key is wrapped under a token key (never in the
//! clear), with the attributes that re-create both objects on another
//! token, and a SHA-256 checksum over all of it.
//!
//! The format is text, one `Name: value` line each, in a fixed order, so
//! that an operator can read what a file holds (`less` shows it all) and a
//! change is a visible diff:
//!
//! ```text
//! ; p11dnssec key backup: the private key is wrapped, never in the clear
//! Format: p11dnssec-key-backup 1
//! Label: ksk-2027
//! Id: 3c1f…                         (hex; empty for no CKA_ID)
//! Key-Type: EC                      (RSA, EC or EC_EDWARDS)
//! Private-Sign: true                (one line per protection flag read)
//! …
//! Public-Ec-Params: 06082a8648ce3d030107        (or Public-Modulus and
//! Public-Ec-Point: 044104…                       Public-Exponent for RSA)
//! Wrap-Mechanism: CKM_AES_KEY_WRAP_PAD
//! Wrap-Key-Label: backup-kek
//! Wrap-Key-Id: 01                   (hex, may be empty)
//! Wrap-Key-Check-Value: 1a2b3c      (CKA_CHECK_VALUE, hex, may be empty)
//! Wrapped-Key: base64…
//! Checksum: SHA-256 9f86…           (over every byte before this line)
//! ```
//!
//! The checksum catches a damaged or edited file before anything is made
//! on a token; it is no signature (whoever can edit the file can compute
//! it again). What protects the key is the wrap: AES key wrap with padding
//! (RFC 5649) both hides and authenticates the private key, and
//! `pkcs11-restore` proves that the public key of the file belongs to it
//! (a signature made by the unwrapped key, verified in software) before it
//! keeps either.

use crate::error::{Error, Result};
use base64::Engine as _;
use sha2::Digest;

/// The first line after the comment, naming format and version.
pub const FORMAT_LINE: &str = "p11dnssec-key-backup 1";

/// The one wrap mechanism: AES key wrap with padding (RFC 5649), which
/// SoftHSM2 and the HSMs operators use (Luna, nShield, CloudHSM, YubiHSM)
/// all have for private keys (a PKCS#8 blob is not a multiple of 8 bytes,
/// so plain RFC 3394 key wrap cannot take it).
pub const WRAP_MECHANISM: &str = "CKM_AES_KEY_WRAP_PAD";

/// The largest backup file read (an RSA-4096 backup is about 4 KiB).
pub const MAX_FILE_SIZE: u64 = 1 << 20;

const COMMENT: &str = "; p11dnssec key backup: the private key is wrapped, never in the clear";

/// The key types a backup holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Rsa,
    Ec,
    EcEdwards,
}

impl KeyKind {
    /// The PKCS#11 name without `CKK_`.
    pub fn name(self) -> &'static str {
        match self {
            KeyKind::Rsa => "RSA",
            KeyKind::Ec => "EC",
            KeyKind::EcEdwards => "EC_EDWARDS",
        }
    }

    fn parse(text: &str) -> Option<KeyKind> {
        [KeyKind::Rsa, KeyKind::Ec, KeyKind::EcEdwards]
            .into_iter()
            .find(|k| k.name() == text)
    }
}

/// The private key's protection flags, as read from the token; a flag the
/// token did not show is `None` (not written, not set on restore).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrivateFlags {
    pub sign: Option<bool>,
    pub sensitive: Option<bool>,
    pub extractable: Option<bool>,
    pub wrap_with_trusted: Option<bool>,
    pub modifiable: Option<bool>,
    pub private: Option<bool>,
    pub decrypt: Option<bool>,
    pub unwrap: Option<bool>,
    pub sign_recover: Option<bool>,
    pub derive: Option<bool>,
    pub copyable: Option<bool>,
}

impl PrivateFlags {
    /// The flags with their file names, in file order.
    pub fn named(&self) -> [(&'static str, Option<bool>); 11] {
        [
            ("Private-Sign", self.sign),
            ("Private-Sensitive", self.sensitive),
            ("Private-Extractable", self.extractable),
            ("Private-Wrap-With-Trusted", self.wrap_with_trusted),
            ("Private-Modifiable", self.modifiable),
            ("Private-Private", self.private),
            ("Private-Decrypt", self.decrypt),
            ("Private-Unwrap", self.unwrap),
            ("Private-Sign-Recover", self.sign_recover),
            ("Private-Derive", self.derive),
            ("Private-Copyable", self.copyable),
        ]
    }

    fn slot(&mut self, name: &str) -> Option<&mut Option<bool>> {
        Some(match name {
            "Private-Sign" => &mut self.sign,
            "Private-Sensitive" => &mut self.sensitive,
            "Private-Extractable" => &mut self.extractable,
            "Private-Wrap-With-Trusted" => &mut self.wrap_with_trusted,
            "Private-Modifiable" => &mut self.modifiable,
            "Private-Private" => &mut self.private,
            "Private-Decrypt" => &mut self.decrypt,
            "Private-Unwrap" => &mut self.unwrap,
            "Private-Sign-Recover" => &mut self.sign_recover,
            "Private-Derive" => &mut self.derive,
            "Private-Copyable" => &mut self.copyable,
            _ => return None,
        })
    }
}

/// The public key as the token's attributes hold it (raw attribute bytes,
/// so the restored object is what the original was).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicAttributes {
    /// `CKA_MODULUS`, `CKA_PUBLIC_EXPONENT`.
    Rsa { modulus: Vec<u8>, exponent: Vec<u8> },
    /// `CKA_EC_PARAMS`, `CKA_EC_POINT` (EC and EC_EDWARDS).
    Ec { params: Vec<u8>, point: Vec<u8> },
}

impl PublicAttributes {
    /// The public key, for DNSSEC and for software verification.
    pub fn public_key(&self) -> Result<crate::keys::PublicKey> {
        match self {
            PublicAttributes::Rsa { modulus, exponent } => {
                crate::keys::PublicKey::rsa(modulus, exponent)
            }
            PublicAttributes::Ec { params, point } => {
                crate::keys::PublicKey::from_ec_attributes(params, point)
            }
        }
    }
}

/// The wrapping key the private key was wrapped under, as the source token
/// named it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WrapKeyInfo {
    pub label: Vec<u8>,
    pub id: Vec<u8>,
    /// `CKA_CHECK_VALUE` (the key check value: the first 3 bytes of the
    /// key's encryption of a zero block), where the token shows it.
    pub check_value: Vec<u8>,
}

/// Everything a backup file holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backup {
    pub label: Vec<u8>,
    pub id: Vec<u8>,
    pub key_kind: KeyKind,
    pub flags: PrivateFlags,
    pub public: PublicAttributes,
    pub wrap_key: WrapKeyInfo,
    /// The private key, wrapped by the token under the wrapping key.
    pub wrapped: Vec<u8>,
}

/// A label as written: as it is when it is printable ASCII without
/// leading or trailing blanks (and does not look like hex), else `hex:`
/// and its bytes, so that any label survives the round trip.
fn label_text(label: &[u8]) -> String {
    let plain = label.iter().all(|b| (0x20..0x7f).contains(b))
        && label.first() != Some(&b' ')
        && label.last() != Some(&b' ')
        && !label.starts_with(b"hex:");
    if plain {
        String::from_utf8_lossy(label).into_owned()
    } else {
        format!("hex:{}", hex(label))
    }
}

fn parse_label(text: &str) -> Option<Vec<u8>> {
    match text.strip_prefix("hex:") {
        Some(digits) => unhex(digits),
        None => Some(text.as_bytes().to_vec()),
    }
}

fn hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    data_encoding::HEXLOWER_PERMISSIVE
        .decode(text.as_bytes())
        .ok()
}

impl Backup {
    /// The file's text, checksum line included.
    pub fn to_text(&self) -> String {
        let mut lines = vec![
            COMMENT.to_string(),
            format!("Format: {FORMAT_LINE}"),
            format!("Label: {}", label_text(&self.label)),
            format!("Id: {}", hex(&self.id)),
            format!("Key-Type: {}", self.key_kind.name()),
        ];
        for (name, value) in self.flags.named() {
            if let Some(value) = value {
                lines.push(format!("{name}: {value}"));
            }
        }
        match &self.public {
            PublicAttributes::Rsa { modulus, exponent } => {
                lines.push(format!("Public-Modulus: {}", hex(modulus)));
                lines.push(format!("Public-Exponent: {}", hex(exponent)));
            }
            PublicAttributes::Ec { params, point } => {
                lines.push(format!("Public-Ec-Params: {}", hex(params)));
                lines.push(format!("Public-Ec-Point: {}", hex(point)));
            }
        }
        lines.push(format!("Wrap-Mechanism: {WRAP_MECHANISM}"));
        lines.push(format!(
            "Wrap-Key-Label: {}",
            label_text(&self.wrap_key.label)
        ));
        lines.push(format!("Wrap-Key-Id: {}", hex(&self.wrap_key.id)));
        lines.push(format!(
            "Wrap-Key-Check-Value: {}",
            hex(&self.wrap_key.check_value)
        ));
        lines.push(format!(
            "Wrapped-Key: {}",
            base64::engine::general_purpose::STANDARD.encode(&self.wrapped)
        ));
        let mut text = lines.join("\n");
        text.push('\n');
        let checksum = hex(&sha2::Sha256::digest(text.as_bytes()));
        text.push_str(&format!("Checksum: SHA-256 {checksum}\n"));
        text
    }

    /// Reads a backup file's text (`file` names it in messages). The
    /// checksum is checked first: a file that fails it is refused whatever
    /// else it holds.
    pub fn parse(file: &str, text: &[u8]) -> Result<Backup> {
        let error = |line: Option<usize>, message: String| Error::Input {
            file: file.to_string(),
            line,
            message,
        };
        let marker = b"\nChecksum: ";
        let at = find(text, marker).ok_or_else(|| {
            error(
                None,
                "no 'Checksum:' line: not a p11dnssec key backup, or cut short".into(),
            )
        })?;
        let body = &text[..at + 1];
        let checksum_line = &text[at + marker.len()..];
        let checksum_line_number = body.iter().filter(|&&b| b == b'\n').count() + 1;
        let stated = std::str::from_utf8(checksum_line)
            .ok()
            .and_then(|line| line.strip_suffix('\n'))
            .and_then(|line| line.strip_prefix("SHA-256 "))
            .and_then(unhex)
            .ok_or_else(|| {
                error(
                    Some(checksum_line_number),
                    "the checksum line must be 'Checksum: SHA-256 HEX' and the file's last line"
                        .into(),
                )
            })?;
        if stated != sha2::Sha256::digest(body).as_slice() {
            return Err(error(
                None,
                "checksum mismatch: the file was changed or damaged since it was written; \
                 nothing was restored"
                    .into(),
            ));
        }
        let body = std::str::from_utf8(body).map_err(|_| error(None, "not UTF-8 text".into()))?;
        let mut fields: Vec<(usize, &str, &str)> = Vec::new();
        for (index, line) in body.lines().enumerate() {
            let number = index + 1;
            if line.starts_with(';') || line.is_empty() {
                continue;
            }
            let (name, value) = line
                .split_once(": ")
                .or_else(|| line.strip_suffix(':').map(|n| (n, "")))
                .ok_or_else(|| error(Some(number), "expected 'Name: value'".into()))?;
            if fields.iter().any(|(_, seen, _)| *seen == name) {
                return Err(error(Some(number), format!("'{name}' is given twice")));
            }
            fields.push((number, name, value));
        }
        let last_line = fields.last().map_or(1, |(n, _, _)| *n);
        // Each field is taken once; what is left at the end is unknown.
        let take = |fields: &mut Vec<(usize, &str, &str)>, name: &str| {
            fields.iter().position(|(_, n, _)| *n == name).map(|at| {
                let (number, _, value) = fields.remove(at);
                (number, value.to_string())
            })
        };
        let need = |fields: &mut Vec<(usize, &str, &str)>, name: &str| {
            take(fields, name).ok_or_else(|| error(Some(last_line), format!("no '{name}:' line")))
        };
        let (number, format) = need(&mut fields, "Format")?;
        if format != FORMAT_LINE {
            return Err(error(
                Some(number),
                format!("unknown format '{format}': this version reads '{FORMAT_LINE}'"),
            ));
        }
        let hex_field = |(number, value): (usize, String), what: &str| {
            unhex(&value).ok_or_else(|| error(Some(number), format!("{what} is not hex")))
        };
        let label_field = |(number, value): (usize, String), what: &str| {
            parse_label(&value).ok_or_else(|| error(Some(number), format!("bad {what}")))
        };
        let label = label_field(need(&mut fields, "Label")?, "label")?;
        let id = hex_field(need(&mut fields, "Id")?, "the id")?;
        let (number, kind) = need(&mut fields, "Key-Type")?;
        let key_kind = KeyKind::parse(&kind).ok_or_else(|| {
            error(
                Some(number),
                format!("unknown key type '{kind}' (RSA, EC or EC_EDWARDS)"),
            )
        })?;
        let mut flags = PrivateFlags::default();
        for (name, _) in PrivateFlags::default().named() {
            if let Some((number, value)) = take(&mut fields, name) {
                let value = match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(error(Some(number), format!("{name} must be true or false"))),
                };
                if let Some(slot) = flags.slot(name) {
                    *slot = Some(value);
                }
            }
        }
        let public = match key_kind {
            KeyKind::Rsa => PublicAttributes::Rsa {
                modulus: hex_field(need(&mut fields, "Public-Modulus")?, "the modulus")?,
                exponent: hex_field(need(&mut fields, "Public-Exponent")?, "the exponent")?,
            },
            KeyKind::Ec | KeyKind::EcEdwards => PublicAttributes::Ec {
                params: hex_field(need(&mut fields, "Public-Ec-Params")?, "the EC parameters")?,
                point: hex_field(need(&mut fields, "Public-Ec-Point")?, "the EC point")?,
            },
        };
        let (number, mechanism) = need(&mut fields, "Wrap-Mechanism")?;
        if mechanism != WRAP_MECHANISM {
            return Err(error(
                Some(number),
                format!("unknown wrap mechanism '{mechanism}' (this version: {WRAP_MECHANISM})"),
            ));
        }
        let wrap_key = WrapKeyInfo {
            label: label_field(need(&mut fields, "Wrap-Key-Label")?, "wrapping key label")?,
            id: hex_field(need(&mut fields, "Wrap-Key-Id")?, "the wrapping key id")?,
            check_value: hex_field(
                need(&mut fields, "Wrap-Key-Check-Value")?,
                "the check value",
            )?,
        };
        let (number, blob) = need(&mut fields, "Wrapped-Key")?;
        let wrapped = base64::engine::general_purpose::STANDARD
            .decode(blob.as_bytes())
            .map_err(|_| error(Some(number), "the wrapped key is not base64".into()))?;
        if wrapped.is_empty() {
            return Err(error(Some(number), "the wrapped key is empty".into()));
        }
        if let Some((number, name, _)) = fields.first() {
            return Err(error(Some(*number), format!("unknown line '{name}'")));
        }
        Ok(Backup {
            label,
            id,
            key_kind,
            flags,
            public,
            wrap_key,
            wrapped,
        })
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .rposition(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Backup {
        Backup {
            label: b"ksk-2027".to_vec(),
            id: vec![0x3c, 0x1f],
            key_kind: KeyKind::Ec,
            flags: PrivateFlags {
                sign: Some(true),
                sensitive: Some(true),
                extractable: Some(true),
                wrap_with_trusted: Some(true),
                modifiable: Some(false),
                private: Some(true),
                decrypt: Some(false),
                ..PrivateFlags::default()
            },
            public: PublicAttributes::Ec {
                params: vec![6, 8, 0x2a],
                point: vec![4, 65, 4, 1, 2],
            },
            wrap_key: WrapKeyInfo {
                label: b"backup-kek".to_vec(),
                id: vec![],
                check_value: vec![1, 2, 3],
            },
            wrapped: vec![9; 40],
        }
    }

    #[test]
    fn a_backup_reads_back_as_written() {
        let backup = sample();
        let text = backup.to_text();
        assert!(text.contains("\nLabel: ksk-2027\n"), "{text}");
        assert!(
            text.contains("\nPrivate-Wrap-With-Trusted: true\n"),
            "{text}"
        );
        assert!(!text.contains("Private-Derive"), "{text}");
        assert_eq!(Backup::parse("f", text.as_bytes()).expect("parse"), backup);
        let odd = Backup {
            label: b" \x01odd".to_vec(),
            key_kind: KeyKind::Rsa,
            public: PublicAttributes::Rsa {
                modulus: vec![0xc0; 8],
                exponent: vec![1, 0, 1],
            },
            ..sample()
        };
        let text = odd.to_text();
        assert!(text.contains("\nLabel: hex:20016f6464\n"), "{text}");
        assert_eq!(Backup::parse("f", text.as_bytes()).expect("parse"), odd);
    }

    #[test]
    fn any_changed_byte_fails_the_checksum() {
        let text = sample().to_text().into_bytes();
        for at in (0..text.len()).step_by(7) {
            let mut changed = text.clone();
            changed[at] ^= 0x01;
            let error = Backup::parse("f", &changed).expect_err("changed byte");
            assert!(matches!(error, Error::Input { .. }), "{at}: {error}");
        }
        let error = Backup::parse("f", &text[..text.len() - 10]).expect_err("cut");
        assert!(error.to_string().starts_with("f:"), "{error}");
    }

    #[test]
    fn a_valid_checksum_over_bad_content_is_still_refused() {
        let text = sample().to_text();
        let body = &text[..text.find("Checksum:").expect("checksum")];
        for (from, to) in [
            (
                "Format: p11dnssec-key-backup 1",
                "Format: p11dnssec-key-backup 2",
            ),
            ("Key-Type: EC", "Key-Type: DSA"),
            ("Private-Sign: true", "Private-Sign: yes"),
            (
                "Wrap-Mechanism: CKM_AES_KEY_WRAP_PAD",
                "Wrap-Mechanism: CKM_AES_KEY_WRAP",
            ),
            ("Id: 3c1f", "Id: xyz"),
            ("Id: 3c1f", "Id: 3c1f\nId: 3c1f"),
            ("Id: 3c1f", "Extra: 1"),
        ] {
            let changed = body.replace(from, to);
            let sum = hex(&sha2::Sha256::digest(changed.as_bytes()));
            let file = format!("{changed}Checksum: SHA-256 {sum}\n");
            let error = Backup::parse("f", file.as_bytes()).expect_err(to);
            assert!(
                matches!(error, Error::Input { line: Some(_), .. }),
                "{to}: {error}"
            );
        }
    }
}
