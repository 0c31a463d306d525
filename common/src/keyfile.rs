//! BIND key files (bind-tools.md §7.4–7.7): `K<name>+<alg>+<tag>.key`
//! holds the DNSKEY record with comment lines, `.private` the key material
//! or, for a key in a token, `Engine:` and `Label:` (base64 of a
//! NUL-terminated string) and the timing metadata.

use crate::algorithm::Algorithm;
use crate::dnskey::DnsKey;
use crate::error::{Error, Result};
use crate::name::Name;
use crate::record::{format_record, Class, RType};
use crate::time::{format_ctime_local, format_timestamp, parse_timestamp};
use crate::uri::KeyLabel;
use crate::zone::reader::read_all;
use crate::zone::ZoneReader;
use base64::Engine as _;
use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// The timing tags of BIND's `.private` files (dst_parse.c): a bad value
/// in any of them makes BIND refuse the file, and so do we, because a
/// retired key whose `Inactive:` is unreadable would otherwise keep signing.
/// The first nine are the ones we use ([`KeyTiming`]); the others are
/// BIND 9.18's key-state times, which we check but do not use.
pub(crate) const TIMING_TAGS: [&str; 14] = [
    "Created",
    "Publish",
    "Activate",
    "Revoke",
    "Inactive",
    "Delete",
    "DSPublish",
    "SyncPublish",
    "SyncDelete",
    "DNSKEYChange",
    "ZRRSIGChange",
    "KRRSIGChange",
    "DSChange",
    "DSRemoved",
];

/// The timing metadata of a key (seconds since the epoch), in BIND's order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyTiming {
    pub created: Option<i64>,
    pub publish: Option<i64>,
    pub activate: Option<i64>,
    pub revoke: Option<i64>,
    pub inactive: Option<i64>,
    pub delete: Option<i64>,
    pub ds_publish: Option<i64>,
    pub sync_publish: Option<i64>,
    pub sync_delete: Option<i64>,
}

impl KeyTiming {
    /// The times as (tag, value) in the `.private` order.
    pub fn private_entries(&self) -> [(&'static str, Option<i64>); 9] {
        [
            ("Created", self.created),
            ("Publish", self.publish),
            ("Activate", self.activate),
            ("Revoke", self.revoke),
            ("Inactive", self.inactive),
            ("Delete", self.delete),
            ("DSPublish", self.ds_publish),
            ("SyncPublish", self.sync_publish),
            ("SyncDelete", self.sync_delete),
        ]
    }

    /// The times as (tag, value) in the `.key` comment order: the same,
    /// less DSPublish, which BIND does not show there.
    pub fn key_comment_entries(&self) -> impl Iterator<Item = (&'static str, Option<i64>)> {
        self.private_entries()
            .into_iter()
            .filter(|(tag, _)| *tag != "DSPublish")
    }

    fn set(&mut self, tag: &str, value: i64) -> bool {
        let slot = match tag {
            "Created" => &mut self.created,
            "Publish" => &mut self.publish,
            "Activate" => &mut self.activate,
            "Revoke" => &mut self.revoke,
            "Inactive" => &mut self.inactive,
            "Delete" => &mut self.delete,
            "DSPublish" => &mut self.ds_publish,
            "SyncPublish" => &mut self.sync_publish,
            "SyncDelete" => &mut self.sync_delete,
            _ => return false,
        };
        *slot = Some(value);
        true
    }
}

/// A key in a token, as its BIND key-file pair describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenKeyFiles {
    pub owner: Name,
    /// TTL written in the `.key` RR line (none when 0, as BIND).
    pub ttl: Option<u32>,
    pub class: Class,
    pub dnskey: DnsKey,
    pub timing: KeyTiming,
    /// The PKCS#11 URI of the key object (never holding a PIN).
    pub label: String,
    /// `-C`: the old `v1.2` format, with no timing metadata.
    pub legacy: bool,
}

/// `K<name>+<alg>+<tag>`: the base name of a key's files.
pub fn base_name(owner: &Name, algorithm: u8, tag: u16) -> String {
    format!("K{}+{algorithm:03}+{tag:05}", owner.key_file_text())
}

impl TokenKeyFiles {
    /// The base name of the pair.
    pub fn base_name(&self) -> String {
        base_name(&self.owner, self.dnskey.algorithm, self.dnskey.key_tag())
    }

    /// The `.key` file's text.
    pub fn key_text(&self) -> String {
        key_text(
            &self.owner,
            self.ttl,
            self.class,
            &self.dnskey,
            (!self.legacy).then_some(&self.timing),
        )
    }

    /// The `.private` file's text: no private key material, only where the
    /// key lives.
    pub fn private_text(&self) -> Result<String> {
        let algorithm = Algorithm::from_number(self.dnskey.algorithm)
            .map_or_else(|| "?".to_string(), |a| a.mnemonic().to_string());
        let mut text = format!(
            "Private-key-format: v1.{}\nAlgorithm: {} ({algorithm})\n",
            if self.legacy { 2 } else { 3 },
            self.dnskey.algorithm
        );
        if let crate::keys::PublicKey::Rsa { modulus, exponent } = self.dnskey.to_public_key()? {
            let b64 = base64::engine::general_purpose::STANDARD;
            text.push_str(&format!("Modulus: {}\n", b64.encode(modulus)));
            text.push_str(&format!("PublicExponent: {}\n", b64.encode(exponent)));
        }
        text.push_str(&format!("Engine: {}\n", c_string_base64("pkcs11")));
        text.push_str(&format!("Label: {}\n", c_string_base64(&self.label)));
        if !self.legacy {
            for (tag, value) in self.timing.private_entries() {
                if let Some(value) = value {
                    text.push_str(&format!("{tag}: {}\n", format_timestamp(value)));
                }
            }
        }
        Ok(text)
    }

    /// Writes `<dir>/<base>.private` (mode 0600) and `<dir>/<base>.key`
    /// (0644), both complete before either is installed, and installed
    /// without ever replacing a file (no check-then-rename race). If the
    /// second cannot be installed the first is removed again: nothing is
    /// left half-done.
    pub fn write(&self, dir: &Path) -> Result<PathBuf> {
        use crate::output::AtomicFile;
        use std::io::Write;
        let base = dir.join(self.base_name());
        let key_path = base.with_extension_added("key");
        let private_path = base.with_extension_added("private");
        let private = self.private_text()?;
        let mut files = Vec::new();
        for (path, text, mode) in [
            (&private_path, private, 0o600),
            (&key_path, self.key_text(), 0o644),
        ] {
            let mut file = AtomicFile::create_new(path, mode)?;
            file.write_all(text.as_bytes())
                .map_err(|e| Error::io(path.display().to_string(), e))?;
            files.push(file);
        }
        crate::output::commit_all(files)?;
        Ok(base)
    }
}

/// A `.key` file's text as BIND writes it (dst_key_tofile): the comment
/// naming the key, the timing comments (none for a v1.2 key: `timing`
/// None), and the DNSKEY record (no TTL when it is 0).
pub fn key_text(
    owner: &Name,
    ttl: Option<u32>,
    class: Class,
    dnskey: &DnsKey,
    timing: Option<&KeyTiming>,
) -> String {
    let kind = if dnskey.is_ksk() { "key" } else { "zone" };
    let revoked = if dnskey.is_revoked() { "revoked " } else { "" };
    let mut text = format!(
        "; This is a {revoked}{kind}-signing key, keyid {}, for {owner}\n",
        dnskey.key_tag(),
    );
    for (tag, value) in timing.into_iter().flat_map(KeyTiming::key_comment_entries) {
        if let Some(value) = value {
            text.push_str(&format!(
                "; {tag}: {} ({})\n",
                format_timestamp(value),
                format_ctime_local(value)
            ));
        }
    }
    text.push_str(&format_record(
        owner,
        ttl.filter(|&t| t != 0),
        class,
        RType::DNSKEY,
        &dnskey.rdata_text(),
    ));
    text.push('\n');
    text
}

/// Appends `.ext` to a path whose file name already has dots in it.
trait WithExtensionAdded {
    fn with_extension_added(&self, extension: &str) -> PathBuf;
}

impl WithExtensionAdded for PathBuf {
    fn with_extension_added(&self, extension: &str) -> PathBuf {
        let mut text = self.clone().into_os_string();
        text.push(".");
        text.push(extension);
        PathBuf::from(text)
    }
}

/// base64 of a string with its terminating NUL, as BIND stores
/// `Engine:` and `Label:`.
pub fn c_string_base64(text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    bytes.push(0);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes an `Engine:`/`Label:` value: base64 of a NUL-terminated string;
/// a plain value (as hand-written files hold, e.g. `Label: ksk-example-com`)
/// is taken as it is.
pub fn decode_c_string(value: &str) -> String {
    match base64::engine::general_purpose::STANDARD.decode(value.trim()) {
        Ok(bytes) if bytes.last() == Some(&0) => {
            let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
            String::from_utf8_lossy(&bytes[..end]).into_owned()
        }
        _ => value.trim().to_string(),
    }
}

/// A short, escaped excerpt of a value read from a file, for a message:
/// a planted file must not make us print control characters or pages.
fn excerpt(value: &str) -> String {
    let mut shown: String = value
        .chars()
        .take(32)
        .flat_map(char::escape_debug)
        .collect();
    if value.chars().count() > 32 {
        shown.push('…');
    }
    shown
}

/// What a `.private` file says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrivateKeyFile {
    pub major: u32,
    pub minor: u32,
    pub algorithm: u8,
    pub engine: Option<String>,
    /// The token key's label or URI: names the key, never the module or
    /// the PIN (refused when the file is parsed).
    pub label: Option<KeyLabel>,
    pub timing: KeyTiming,
    /// True if the file holds private key material (a software key).
    pub has_key_material: bool,
    /// `External:` (written by BIND's dnssec-importkey): a key to publish
    /// whose private half is elsewhere.
    pub external: bool,
}

/// Parses a `.private` file. Errors name the file and line.
pub fn parse_private(text: &str, file: &str) -> Result<PrivateKeyFile> {
    let error = |line: usize, message: String| Error::Input {
        file: file.to_string(),
        line: Some(line),
        message,
    };
    let mut parsed = PrivateKeyFile::default();
    let mut saw_format = false;
    let mut saw_algorithm = false;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let Some((tag, value)) = line.split_once(':') else {
            // The line is not quoted: a key file is not trusted, and what
            // it holds may be another file's secret.
            return Err(error(
                number,
                "not a key file line (no 'Tag: value')".into(),
            ));
        };
        let value = value.trim();
        match tag.trim() {
            "Private-key-format" => {
                let version = value.strip_prefix('v').and_then(|v| v.split_once('.'));
                let Some((major, minor)) =
                    version.and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
                else {
                    return Err(error(
                        number,
                        format!("bad Private-key-format '{}'", excerpt(value)),
                    ));
                };
                (parsed.major, parsed.minor) = (major, minor);
                saw_format = true;
            }
            _ if !saw_format => {
                return Err(error(
                    number,
                    "not a BIND private key file (no Private-key-format line first)".into(),
                ))
            }
            "Algorithm" => {
                let number_text = value.split_whitespace().next().unwrap_or("");
                parsed.algorithm = number_text
                    .parse()
                    .map_err(|_| error(number, format!("bad Algorithm '{}'", excerpt(value))))?;
                saw_algorithm = true;
            }
            "Engine" => parsed.engine = Some(decode_c_string(value)),
            "External" => parsed.external = true,
            "Label" => {
                let label = KeyLabel::parse(&decode_c_string(value))
                    .map_err(|message| error(number, format!("bad Label: {message}")))?;
                parsed.label = Some(label);
            }
            "PrivateKey" | "PrivateExponent" | "Prime1" | "Prime2" | "Exponent1" | "Exponent2"
            | "Coefficient" => parsed.has_key_material = true,
            tag if TIMING_TAGS.contains(&tag) => {
                let Some(time) = parse_timestamp(value) else {
                    return Err(error(
                        number,
                        format!(
                            "bad {tag} time '{}': expected YYYYMMDDHHMMSS",
                            excerpt(value)
                        ),
                    ));
                };
                parsed.timing.set(tag, time);
            }
            // Other tags (Modulus, PublicExponent, Predecessor, MaxTTL,
            // key states) carry nothing we need.
            _ => {}
        }
    }
    if !saw_format || !saw_algorithm {
        return Err(Error::Input {
            file: file.to_string(),
            line: None,
            message: "not a BIND private key file (no Private-key-format and Algorithm lines)"
                .into(),
        });
    }
    Ok(parsed)
}

/// A DNSKEY read from a `.key` file (or any file holding DNSKEY records).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    pub owner: Name,
    pub ttl: Option<u32>,
    pub class: Class,
    pub dnskey: DnsKey,
    pub file: String,
    pub line: usize,
}

/// Reads the DNSKEY records of a zone or key file (all owners), in file
/// order. Records of other types are skipped.
pub fn read_dnskeys(reader: &mut ZoneReader) -> Result<Vec<KeyRecord>> {
    let mut keys = Vec::new();
    for record in read_all(reader)? {
        if record.rtype != RType::DNSKEY {
            continue;
        }
        let texts = record.rdata_texts();
        let tokens: Vec<&str> = texts.iter().map(String::as_str).collect();
        let dnskey = DnsKey::parse_rdata(&tokens).map_err(|message| record.error(message))?;
        keys.push(KeyRecord {
            owner: record.owner.clone(),
            ttl: record.ttl_known.then_some(record.ttl),
            class: record.class,
            dnskey,
            file: record.file.to_string(),
            line: record.line,
        });
    }
    Ok(keys)
}

/// Splits a key file argument into the path of its `.key` file:
/// `Kname+013+12345`, `….key` or `….private`, with or without a folder.
pub fn key_file_path(argument: &str) -> PathBuf {
    let base = argument
        .strip_suffix(".key")
        .or_else(|| argument.strip_suffix(".private"))
        .unwrap_or(argument);
    PathBuf::from(format!("{base}.key"))
}

/// The most a key file may hold: BIND's largest (RSA 4096 with every
/// timing line) is a few kilobytes.
const MAX_KEY_FILE: u64 = 1 << 20;

/// Whether key files, and the directories they are in, are trusted when
/// someone other than their owner may write them.
///
/// As ssh's StrictModes does, a key file or key directory that anyone may
/// write (o+w, also with the sticky bit, as `/tmp` has) is refused: a
/// planted or edited key file would choose the key that signs and what its
/// timing says. Group-writable ones get a warning, since BIND's own key
/// directories are often group `bind`. The owner does not matter: named
/// keeps its key files as `bind` and operators sign as root, so whoever
/// owns the files is trusted with them, and a warning about that would
/// show on every cron run. `--insecure-key-dir` ([`KeyFileTrust::new`]
/// with `true`) trusts them anyway and says so once on stderr.
///
/// Key files must be regular files (a FIFO would block the run, a device
/// would be read without end); a symbolic link is followed and its target
/// is checked.
#[derive(Debug, Default)]
pub struct KeyFileTrust {
    insecure: bool,
    said: AtomicBool,
    /// Directories already checked, so that each is warned about once.
    checked: Mutex<Vec<PathBuf>>,
}

impl KeyFileTrust {
    /// Strict checks, or with `insecure` (`--insecure-key-dir`) none.
    pub fn new(insecure: bool) -> KeyFileTrust {
        KeyFileTrust {
            insecure,
            ..KeyFileTrust::default()
        }
    }

    /// Checks a key directory that is read or written.
    pub fn check_dir(&self, dir: &Path) -> Result<()> {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        {
            let mut checked = self.checked.lock().unwrap_or_else(|e| e.into_inner());
            if checked.iter().any(|d| d == dir) {
                return Ok(());
            }
            checked.push(dir.to_path_buf());
        }
        let shown = dir.display().to_string();
        let metadata = std::fs::metadata(dir).map_err(|e| Error::io(&shown, e))?;
        if !metadata.is_dir() {
            return Err(Error::Failed(format!(
                "key directory '{shown}' is not a directory"
            )));
        }
        self.check_mode("key directory", &shown, metadata.permissions().mode())
    }

    /// Reads a key file (`.key` or `.private`) after checking it and its
    /// directory. The checks are made on the file as opened (without
    /// blocking), so that nothing can be swapped in between. A symbolic
    /// link is refused unless `--insecure-key-dir`: one planted in the key
    /// directory could point at the PIN file or `/proc/self/environ`, and
    /// a parse error would quote what it reads.
    pub fn read(&self, path: &Path) -> Result<String> {
        self.check_dir(path.parent().unwrap_or(Path::new(".")))?;
        let shown = path.display().to_string();
        let file =
            crate::inputs::open_regular(path, self.insecure).map_err(|refusal| match refusal {
                crate::inputs::Refusal::Io(error) => Error::io(&shown, error),
                crate::inputs::Refusal::SymbolicLink => Error::Failed(format!(
                    "key file '{shown}' is a symbolic link: refusing to follow it, since a \
                     planted link would make us read another file (or give --insecure-key-dir)"
                )),
                other => Error::Failed(format!("key file '{shown}' {other}: refusing it")),
            })?;
        let metadata = file.metadata().map_err(|e| Error::io(&shown, e))?;
        self.check_mode("key file", &shown, metadata.permissions().mode())?;
        let mut bytes = Vec::new();
        file.take(MAX_KEY_FILE + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(&shown, e))?;
        if bytes.len() as u64 > MAX_KEY_FILE {
            return Err(Error::Input {
                file: shown,
                line: None,
                message: "larger than any key file (1 MiB)".into(),
            });
        }
        String::from_utf8(bytes).map_err(|_| Error::Input {
            file: shown,
            line: None,
            message: "not a key file: it is not UTF-8 text".into(),
        })
    }

    fn check_mode(&self, what: &str, shown: &str, mode: u32) -> Result<()> {
        let writable = mode & 0o022;
        if writable == 0 {
            return Ok(());
        }
        if self.insecure {
            if !self.said.swap(true, Ordering::Relaxed) {
                crate::cli::warn(
                    "--insecure-key-dir: trusting key files and key directories that others may write",
                );
            }
            return Ok(());
        }
        let mode = mode & 0o7777;
        if writable & 0o002 != 0 {
            return Err(Error::Failed(format!(
                "{what} '{shown}' is writable by anyone (mode {mode:04o}): refusing to trust it, \
                 since a planted key file would choose the signing keys; chmod o-w it \
                 (or give --insecure-key-dir)"
            )));
        }
        crate::cli::warn(&format!(
            "{what} '{shown}' is group-writable (mode {mode:04o}): its group can choose the signing keys"
        ));
        Ok(())
    }
}

/// Reads the one DNSKEY of a `.key` file, checked by `trust`. BIND reads a
/// `.key` file with its lexer, not its zone file loader, so `$INCLUDE`
/// and the other directives are refused (they would let a planted key file
/// make us read any file).
pub fn read_key_file(path: &Path, trust: &KeyFileTrust) -> Result<KeyRecord> {
    let shown = path.display().to_string();
    let text = trust.read(path)?;
    if let Some((index, line)) = text
        .lines()
        .enumerate()
        .find(|(_, line)| line.trim_start().starts_with('$'))
    {
        let directive: String = line
            .trim_start()
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect();
        return Err(Error::Input {
            file: shown,
            line: Some(index + 1),
            message: format!(
                "a key file holds no directives such as '{}'",
                excerpt(&directive)
            ),
        });
    }
    let mut reader = ZoneReader::new(
        Box::new(std::io::Cursor::new(text.into_bytes())),
        &shown,
        Some(path.to_path_buf()),
        Name::root(),
    )
    .lenient_ttl();
    let mut keys = read_dnskeys(&mut reader)?;
    match keys.len() {
        1 => Ok(keys.remove(0)),
        0 => Err(Error::Input {
            file: shown,
            line: None,
            message: "not a key file: it holds no DNSKEY record".into(),
        }),
        _ => Err(Error::Input {
            file: shown,
            line: None,
            message: "not a key file: it holds more than one DNSKEY record".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TokenKeyFiles {
        let tokens = ["257", "3", "13", "sn2NprnPfPzAUeMOY6fOhj9RNVQ9BX+jR0fQu+24HlzS3xqVCaxc7bIkbx2zRFMEJDcd0q9yTCV/FvFO1D2aIA=="];
        TokenKeyFiles {
            owner: Name::parse("example.com.", None).expect("name"),
            ttl: None,
            class: Class::IN,
            dnskey: DnsKey::parse_rdata(&tokens).expect("key"),
            timing: KeyTiming {
                created: Some(1_795_976_391),
                publish: Some(1_795_976_391),
                activate: Some(1_795_976_391),
                ..KeyTiming::default()
            },
            label: "pkcs11:object=ksk-example-com".into(),
            legacy: false,
        }
    }

    #[test]
    fn files_look_like_bind_916s() {
        let files = sample();
        assert_eq!(files.base_name(), "Kexample.com.+013+15858");
        let key = files.key_text();
        let lines: Vec<&str> = key.lines().collect();
        assert_eq!(
            lines[0],
            "; This is a key-signing key, keyid 15858, for example.com."
        );
        assert!(lines[1].starts_with("; Created: 20261129181951 ("), "{key}");
        assert_eq!(
            lines[4],
            "example.com. IN DNSKEY 257 3 13 sn2NprnPfPzAUeMOY6fOhj9RNVQ9BX+jR0fQu+24HlzS3xqVCaxc7bIk bx2zRFMEJDcd0q9yTCV/FvFO1D2aIA=="
        );
        assert_eq!(
            files.private_text().expect("private"),
            "Private-key-format: v1.3\nAlgorithm: 13 (ECDSAP256SHA256)\nEngine: cGtjczExAA==\n\
             Label: cGtjczExOm9iamVjdD1rc2stZXhhbXBsZS1jb20A\n\
             Created: 20261129181951\nPublish: 20261129181951\nActivate: 20261129181951\n"
        );
    }

    #[test]
    fn private_files_parse_back() {
        let files = sample();
        let parsed =
            parse_private(&files.private_text().expect("text"), "K.private").expect("parse");
        let label = parsed.label.as_ref().expect("label").uri().to_string();
        assert_eq!(label, files.label);
        assert_eq!(parsed.engine.as_deref(), Some("pkcs11"));
        assert_eq!(parsed.timing, files.timing);
        assert_eq!((parsed.major, parsed.minor, parsed.algorithm), (1, 3, 13));
        // The HSM guide's hand-written file.
        let guide = "Private-key-format: v1.3\nAlgorithm: 8 (RSASHA256)\nEngine: pkcs11\nLabel: ksk-example-com\n";
        let parsed = parse_private(guide, "guide").expect("guide");
        let label = parsed.label.expect("label");
        assert_eq!(label.uri().to_string(), "pkcs11:object=ksk-example-com");
        assert!(parse_private("hello\n", "x").is_err());
        assert!(parse_private("Algorithm: 8\n", "x").is_err());
    }

    /// A fresh directory, removed when dropped (common has no tempfile).
    struct TestDir(PathBuf);
    impl TestDir {
        fn new(name: &str) -> TestDir {
            let path = std::env::temp_dir()
                .join(format!("p11dnssec-keyfile-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir(&path).expect("test dir");
            TestDir(path)
        }
    }
    impl Drop for TestDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const HEAD: &str =
        "Private-key-format: v1.3\nAlgorithm: 13 (ECDSAP256SHA256)\nEngine: pkcs11\n";

    #[test]
    fn a_label_that_chooses_the_module_or_pin_is_refused_at_its_line() {
        for label in [
            "pkcs11:object=zsk?module-path=/tmp/x/evil.so".to_string(),
            c_string_base64("pkcs11:object=zsk?module-path=/tmp/x/evil.so"),
            "pkcs11:object=zsk?module-name=../../tmp/x/evil".to_string(),
            "pkcs11:object=zsk?pin-value=secret-1234".to_string(),
            c_string_base64("pkcs11:object=ksk-example-com;pin-source=/tmp/hsm/pin"),
        ] {
            let text = format!("{HEAD}Label: {label}\nCreated: 20260101000000\n");
            let error = parse_private(&text, "Kx.+013+00001.private").expect_err(&label);
            let message = error.to_string();
            assert!(
                message.starts_with("Kx.+013+00001.private:4: bad Label: "),
                "{message}"
            );
            assert!(message.contains("PKCS11_PIN"), "{message}");
            assert!(!message.contains("secret-1234"), "{message}");
        }
    }

    #[test]
    fn known_timing_tags_with_bad_dates_are_errors() {
        for line in [
            "Inactive: 20261301000000",
            "Delete: tomorrow",
            "Activate: 2026010100000",
            "Publish: ",
            "Revoke: 20260230000000",
            "SyncDelete: -1",
            "DSRemoved: 2026\u{1b}[0m",
        ] {
            let text = format!("{HEAD}Label: k\n{line}\n");
            let message = parse_private(&text, "K.private")
                .expect_err(line)
                .to_string();
            let tag = line.split(':').next().unwrap_or_default();
            assert!(
                message.starts_with(&format!("K.private:5: bad {tag} time '")),
                "{message}"
            );
            assert!(!message.contains('\u{1b}'), "{message}");
        }
        // Tags that are not times, and unknown ones, are no concern of ours.
        let text = format!("{HEAD}Label: k\nPredecessor: 12345\nMaxTTL: x\nFuture: y\n");
        assert!(parse_private(&text, "K.private").is_ok());
    }

    #[test]
    fn key_files_with_directives_are_refused() {
        let dir = TestDir::new("directives");
        let path = dir.0.join("Kx.+013+00001.key");
        std::fs::write(&path, "; comment\n$INCLUDE /etc/passwd\n").expect("write");
        let message = read_key_file(&path, &KeyFileTrust::new(false))
            .expect_err("include")
            .to_string();
        assert!(
            message.ends_with(":2: a key file holds no directives such as '$INCLUDE'"),
            "{message}"
        );
    }

    #[test]
    fn key_files_and_directories_anyone_may_write_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = TestDir::new("modes");
        let keys = dir.0.join("keys");
        std::fs::create_dir(&keys).expect("keys");
        let file = keys.join("K.private");
        std::fs::write(&file, HEAD).expect("write");
        let chmod = |path: &Path, mode: u32| {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod")
        };
        chmod(&keys, 0o755);
        chmod(&file, 0o600);
        assert!(KeyFileTrust::new(false).read(&file).is_ok());
        for (dir_mode, file_mode, what) in [
            (0o757, 0o600, "key directory"),
            (0o1777, 0o600, "key directory"),
            (0o755, 0o606, "key file"),
        ] {
            chmod(&keys, dir_mode);
            chmod(&file, file_mode);
            let message = KeyFileTrust::new(false)
                .read(&file)
                .expect_err(what)
                .to_string();
            assert!(message.starts_with(what), "{message}");
            assert!(message.contains("writable by anyone"), "{message}");
            assert!(KeyFileTrust::new(true).read(&file).is_ok());
        }
        chmod(&keys, 0o775);
        chmod(&file, 0o660);
        assert!(KeyFileTrust::new(false).read(&file).is_ok());
        // Not a regular file: a directory in the file's place.
        let message = KeyFileTrust::new(true)
            .read(&keys)
            .expect_err("dir")
            .to_string();
        assert!(message.contains("not a regular file"), "{message}");
    }

    #[test]
    fn key_file_arguments() {
        assert_eq!(
            key_file_path("Kx.+013+00001"),
            PathBuf::from("Kx.+013+00001.key")
        );
        assert_eq!(
            key_file_path("d/Kx.+013+00001.private"),
            PathBuf::from("d/Kx.+013+00001.key")
        );
        assert_eq!(
            key_file_path("Kx.+013+00001.key"),
            PathBuf::from("Kx.+013+00001.key")
        );
    }
}
