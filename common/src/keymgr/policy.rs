//! The policy file of BIND 9.16's `dnssec-keymgr` (bind-lifecycle.md §5.2):
//! `policy`, `algorithm-policy` and `zone` blocks, with the extensions token
//! keys and RFC 7583 timing need (token URI, label pattern, KSK rollover
//! method, parent servers, TTLs, delays and safety margins).
//!
//! Every error is `file:line: cause`; a policy that does not parse is
//! refused whole, before anything is read from a key directory or a token.

use crate::algorithm::Algorithm;
use crate::error::{Error, Result};
use crate::name::Name;
use crate::uri::Pkcs11Uri;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// BIND's month and year in the policy file (keymgr's `parse_duration`).
const MONTH: i64 = 2_592_000;
const YEAR: i64 = 31_536_000;
const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;

/// How a KSK is replaced (RFC 7583 §3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KskRoll {
    /// Double-KSK (double-signature): the new KSK is published and signs
    /// the DNSKEY RRset at once; CDS/CDNSKEY switch to it once its DNSKEY
    /// is in every cache; the old KSK goes once the parent shows the new DS.
    DoubleKsk,
}

/// The settings of one key role (KSK or ZSK).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RolePolicy {
    /// `key-size`: RSA modulus bits (None: the algorithm's size).
    pub bits: Option<u32>,
    /// `roll-period` (0: never rolled).
    pub roll_period: i64,
    /// `pre-publish`.
    pub pre_publish: i64,
    /// `post-publish`.
    pub post_publish: i64,
    /// `standby` (parsed, not used: as in dnssec-keymgr).
    pub standby: u32,
}

/// RFC 7583's delays and TTLs (§8.1 of the reference), in seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delays {
    /// TTLsig: `max-zone-ttl`.
    pub max_zone_ttl: i64,
    /// Dprp: `zone-propagation-delay`.
    pub zone_propagation: i64,
    /// DprpP: `parent-propagation-delay`.
    pub parent_propagation: i64,
    /// TTLds: `parent-ds-ttl`.
    pub parent_ds_ttl: i64,
    /// Dreg: `parent-registration-delay`.
    pub registration: i64,
    /// Dsgn: `signing-delay`.
    pub signing: i64,
    /// Sp: `publish-safety`.
    pub publish_safety: i64,
    /// Sr: `retire-safety`.
    pub retire_safety: i64,
    /// `parent-check-interval`: how far ahead a KSK retirement needs the
    /// new DS at the parent, and how far it is moved when it is not there.
    pub check_interval: i64,
    /// `purge-keys`: a deleted key's token objects and files are removed
    /// this long after its Delete (0: never, as dnssec-keymgr).
    pub purge_keys: i64,
}

/// Everything key-manager needs for one zone, resolved from the zone's
/// block, its `policy` chain, the `algorithm-policy` and the built-ins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZonePolicy {
    pub zone: Name,
    pub algorithm: Algorithm,
    pub directory: Option<PathBuf>,
    pub coverage: i64,
    /// TTLkey: `keyttl`, the DNSKEY TTL written into new `.key` files.
    pub keyttl: i64,
    pub ksk: RolePolicy,
    pub zsk: RolePolicy,
    /// `token-uri`: the token new keys are made in (none: the connection
    /// options choose).
    pub token: Option<Pkcs11Uri>,
    /// `label`: the CKA_LABEL of new keys; `%z` zone, `%r` ksk/zsk, `%a`
    /// algorithm number, `%t` planned activation (YYYYMMDDHHMMSS UTC).
    pub label: String,
    pub ksk_roll: KskRoll,
    /// `parent-servers` (empty: the parent's NS).
    pub parent_servers: Vec<SocketAddr>,
    /// `parent-unsigned yes;`: the parent zone is known to be unsigned, so
    /// a DS seen without a validated RRSIG may retire a KSK (default no:
    /// whoever answers for every parent server can make a signed parent
    /// look unsigned).
    pub parent_unsigned: bool,
    /// `parent-trust-anchor "file";`: the parent's DNSKEY records; its
    /// DNSKEY RRset must be signed by one of them.
    pub parent_trust_anchor: Option<PathBuf>,
    pub delays: Delays,
}

/// The default label pattern: unique per zone, role and activation.
pub const DEFAULT_LABEL: &str = "%z-%r-%t";

/// A parsed policy file.
#[derive(Clone, Debug, Default)]
pub struct PolicyFile {
    file: String,
    policies: HashMap<String, Block>,
    algorithms: HashMap<u8, Block>,
    zones: Vec<(String, Block)>,
}

/// The options of one block, each with the line it was set on.
#[derive(Clone, Debug, Default)]
struct Block {
    line: usize,
    parent: Option<String>,
    algorithm: Option<Algorithm>,
    directory: Option<String>,
    coverage: Option<i64>,
    keyttl: Option<i64>,
    bits: [Option<u32>; 2],
    roll_period: [Option<i64>; 2],
    pre_publish: [Option<i64>; 2],
    post_publish: [Option<i64>; 2],
    standby: [Option<u32>; 2],
    token: Option<Pkcs11Uri>,
    label: Option<String>,
    ksk_roll: Option<KskRoll>,
    parent_servers: Option<Vec<SocketAddr>>,
    parent_unsigned: Option<bool>,
    parent_trust_anchor: Option<String>,
    delays: HashMap<&'static str, i64>,
}

/// The delay keywords and their built-in values (BIND dnssec-policy's
/// defaults where it has the symbol).
const DELAYS: [(&str, i64); 10] = [
    ("max-zone-ttl", DAY),
    ("zone-propagation-delay", 300),
    ("parent-propagation-delay", HOUR),
    ("parent-ds-ttl", DAY),
    ("parent-registration-delay", DAY),
    ("signing-delay", DAY),
    ("publish-safety", HOUR),
    ("retire-safety", HOUR),
    ("parent-check-interval", DAY),
    ("purge-keys", 0),
];

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Open,
    Close,
    Semicolon,
}

impl Token {
    fn text(&self) -> &str {
        match self {
            Token::Word(w) | Token::Quoted(w) => w,
            Token::Open => "{",
            Token::Close => "}",
            Token::Semicolon => ";",
        }
    }
}

fn tokenize(text: &str, file: &str) -> Result<Vec<(Token, usize)>> {
    let mut tokens = Vec::new();
    let bytes: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut line = 1;
    let error = |line: usize, message: String| Error::Input {
        file: file.to_string(),
        line: Some(line),
        message,
    };
    while i < bytes.len() {
        let c = bytes[i];
        let next = bytes.get(i + 1).copied();
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '#' || (c == '/' && next == Some('/')) {
            while i < bytes.len() && bytes[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let start = line;
            i += 2;
            loop {
                match bytes.get(i) {
                    None => return Err(error(start, "unterminated comment '/*'".into())),
                    Some('*') if bytes.get(i + 1) == Some(&'/') => {
                        i += 2;
                        break;
                    }
                    Some('\n') => line += 1,
                    Some(_) => {}
                }
                i += 1;
            }
        } else if c == '"' {
            let start = line;
            let mut value = String::new();
            i += 1;
            loop {
                match bytes.get(i) {
                    None => return Err(error(start, "unterminated string".into())),
                    Some('"') => break,
                    Some('\n') => {
                        return Err(error(start, "unterminated string".into()));
                    }
                    Some(&ch) => value.push(ch),
                }
                i += 1;
            }
            i += 1;
            tokens.push((Token::Quoted(value), start));
        } else if c == '{' {
            tokens.push((Token::Open, line));
            i += 1;
        } else if c == '}' {
            tokens.push((Token::Close, line));
            i += 1;
        } else if c == ';' {
            tokens.push((Token::Semicolon, line));
            i += 1;
        } else {
            let mut word = String::new();
            while i < bytes.len() {
                let ch = bytes[i];
                if ch.is_whitespace() || "{};\"#".contains(ch) {
                    break;
                }
                if ch == '/' && matches!(bytes.get(i + 1), Some('/') | Some('*')) {
                    break;
                }
                word.push(ch);
                i += 1;
            }
            tokens.push((Token::Word(word), line));
        }
    }
    Ok(tokens)
}

/// Reads a policy duration as dnssec-keymgr does: seconds, `none`, or a
/// number with a unit (`y`, `mo`, `w`, `d`, `h`, `mi`, `s`, or a longer
/// prefix of their words: `months`, `minutes`), with or without a space.
pub fn parse_policy_duration(words: &[&str]) -> Option<i64> {
    let text: String = words.concat();
    let lower = text.to_ascii_lowercase();
    if lower == "none" {
        return Some(0);
    }
    let end = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let number: i64 = lower[..end].parse().ok()?;
    let unit = &lower[end..];
    let multiplier = if unit.is_empty() {
        1
    } else if unit.starts_with("mo") {
        MONTH
    } else if unit.starts_with("mi") {
        60
    } else if "years".starts_with(unit) {
        YEAR
    } else if "weeks".starts_with(unit) {
        7 * DAY
    } else if "days".starts_with(unit) {
        DAY
    } else if "hours".starts_with(unit) {
        HOUR
    } else if "seconds".starts_with(unit) {
        1
    } else {
        return None;
    };
    number.checked_mul(multiplier)
}

struct Parser<'a> {
    file: &'a str,
    tokens: Vec<(Token, usize)>,
    at: usize,
}

impl Parser<'_> {
    fn error(&self, line: usize, message: impl Into<String>) -> Error {
        Error::Input {
            file: self.file.to_string(),
            line: Some(line),
            message: message.into(),
        }
    }

    fn last_line(&self) -> usize {
        self.tokens.last().map_or(1, |(_, l)| *l)
    }

    fn next(&mut self) -> Result<(Token, usize)> {
        let token = self.tokens.get(self.at).cloned().ok_or_else(|| {
            self.error(self.last_line(), "unexpected end of file (missing '};'?)")
        })?;
        self.at += 1;
        Ok(token)
    }

    fn expect(&mut self, wanted: Token) -> Result<()> {
        let (token, line) = self.next()?;
        if token != wanted {
            return Err(self.error(
                line,
                format!(
                    "syntax error near '{}': expected '{}'",
                    token.text(),
                    wanted.text()
                ),
            ));
        }
        Ok(())
    }

    fn name(&mut self) -> Result<(String, usize)> {
        match self.next()? {
            (Token::Word(w) | Token::Quoted(w), line) => Ok((w, line)),
            (other, line) => Err(self.error(line, format!("syntax error near '{}'", other.text()))),
        }
    }

    /// The words of one option statement up to its `;`.
    fn statement(&mut self) -> Result<Option<(Vec<String>, usize)>> {
        let (first, line) = self.next()?;
        let mut words = match first {
            Token::Close => return Ok(None),
            Token::Word(w) => vec![w],
            other => return Err(self.error(line, format!("syntax error near '{}'", other.text()))),
        };
        loop {
            match self.next()? {
                (Token::Semicolon, _) => return Ok(Some((words, line))),
                (Token::Word(w) | Token::Quoted(w), _) => words.push(w),
                (other, l) => {
                    return Err(self.error(l, format!("syntax error near '{}'", other.text())))
                }
            }
        }
    }
}

impl PolicyFile {
    /// Parses the text of a policy file named `file` (for messages).
    pub fn parse(text: &str, file: &str) -> Result<PolicyFile> {
        let mut parser = Parser {
            file,
            tokens: tokenize(text, file)?,
            at: 0,
        };
        let mut policy = PolicyFile {
            file: file.to_string(),
            ..PolicyFile::default()
        };
        while parser.at < parser.tokens.len() {
            let (keyword, line) = parser.name()?;
            let kind = keyword.to_ascii_lowercase().replace('_', "-");
            let (name, name_line) = parser.name()?;
            parser.expect(Token::Open)?;
            let mut block = Block {
                line,
                ..Block::default()
            };
            while let Some((words, at)) = parser.statement()? {
                policy.option(&mut block, &kind, &words, at)?;
            }
            parser.expect(Token::Semicolon)?;
            match kind.as_str() {
                "policy" => {
                    policy.policies.insert(name.to_ascii_lowercase(), block);
                }
                "algorithm-policy" => {
                    let algorithm = Algorithm::parse(&name)
                        .ok_or_else(|| parser.error(name_line, unknown_algorithm(&name)))?;
                    policy.algorithms.insert(algorithm.number(), block);
                }
                "zone" => {
                    let zone = name.trim_end_matches('.').to_ascii_lowercase();
                    if Name::parse(&zone, Some(&Name::root())).is_err() {
                        return Err(parser.error(name_line, format!("bad zone name '{name}'")));
                    }
                    policy.zones.push((zone, block));
                }
                _ => {
                    return Err(parser.error(
                        line,
                        format!(
                        "syntax error near '{keyword}': expected policy, algorithm-policy or zone"
                    ),
                    ))
                }
            }
        }
        // Every zone resolves now, so that a bad policy is refused before
        // any key directory is read.
        for (zone, _) in &policy.zones {
            policy.zone(zone)?;
        }
        Ok(policy)
    }

    /// Reads and parses a policy file.
    pub fn read(path: &std::path::Path) -> Result<PolicyFile> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(&shown, e))?;
        PolicyFile::parse(&text, &shown)
    }

    /// The zones that have a block, in file order.
    pub fn zones(&self) -> Vec<String> {
        self.zones.iter().map(|(z, _)| z.clone()).collect()
    }

    fn option(&self, block: &mut Block, kind: &str, words: &[String], line: usize) -> Result<()> {
        let error = |message: String| Error::Input {
            file: self.file.clone(),
            line: Some(line),
            message,
        };
        let keyword = words[0].to_ascii_lowercase().replace('_', "-");
        let rest: Vec<&str> = words[1..].iter().map(String::as_str).collect();
        let in_algorithm = kind == "algorithm-policy";
        let one = |what: &str| -> Result<&str> {
            match rest.as_slice() {
                [value] => Ok(value),
                _ => Err(error(format!("'{keyword}' takes one {what}"))),
            }
        };
        let duration = |words: &[&str]| -> Result<i64> {
            parse_policy_duration(words).ok_or_else(|| {
                error(format!(
                    "invalid duration '{}' for '{keyword}' (seconds, or a number with \
                     y, mo, w, d, h, mi or s)",
                    words.join(" ")
                ))
            })
        };
        let role = |value: Option<&&str>| -> Result<usize> {
            match value.map(|v| v.to_ascii_lowercase()).as_deref() {
                Some("ksk") => Ok(0),
                Some("zsk") => Ok(1),
                _ => Err(error(format!("'{keyword}' needs ksk or zsk first"))),
            }
        };
        let not_in_algorithm = |_: ()| -> Result<()> {
            if in_algorithm {
                return Err(error(format!(
                    "'{keyword}' is not allowed in an algorithm-policy"
                )));
            }
            Ok(())
        };
        match keyword.as_str() {
            "policy" => {
                not_in_algorithm(())?;
                let parent = one("policy name")?.to_ascii_lowercase();
                if !self.policies.contains_key(&parent) {
                    return Err(error(format!(
                        "policy '{parent}' is not defined (define it before it is used)"
                    )));
                }
                block.parent = Some(parent);
            }
            "algorithm" => {
                not_in_algorithm(())?;
                let name = one("algorithm")?;
                block.algorithm =
                    Some(Algorithm::parse(name).ok_or_else(|| error(unknown_algorithm(name)))?);
            }
            "directory" => {
                not_in_algorithm(())?;
                block.directory = Some(one("quoted path")?.to_string());
            }
            "coverage" => block.coverage = Some(duration(&rest)?),
            "keyttl" => block.keyttl = Some(duration(&rest)?),
            "key-size" => {
                let index = role(rest.first())?;
                let bits = match rest.get(1..) {
                    Some([bits]) => bits.parse::<u32>().ok(),
                    _ => None,
                }
                .ok_or_else(|| error(format!("'{keyword}' needs ksk|zsk and a number of bits")))?;
                block.bits[index] = Some(bits);
            }
            "roll-period" | "pre-publish" | "post-publish" => {
                let index = role(rest.first())?;
                let value = duration(&rest[1..])?;
                let slot = match keyword.as_str() {
                    "roll-period" => &mut block.roll_period,
                    "pre-publish" => &mut block.pre_publish,
                    _ => &mut block.post_publish,
                };
                slot[index] = Some(value);
            }
            "standby" => {
                let index = role(rest.first())?;
                let count = match rest.get(1..) {
                    Some([n]) => n.parse::<u32>().ok(),
                    _ => None,
                }
                .ok_or_else(|| error(format!("'{keyword}' needs ksk|zsk and a number")))?;
                block.standby[index] = Some(count);
            }
            "token-uri" => {
                not_in_algorithm(())?;
                let text = one("quoted pkcs11: URI")?;
                let uri = Pkcs11Uri::parse(text)
                    .map_err(|e| error(format!("bad token-uri '{text}': {e}")))?;
                if uri.pin_value.is_some() || uri.pin_source.is_some() {
                    return Err(error(
                        "token-uri must not hold a PIN (give it with -p, --pin-file or PKCS11_PIN)"
                            .into(),
                    ));
                }
                if uri.module_path.is_some() || uri.module_name.is_some() {
                    return Err(error(
                        "token-uri must not name a module (give it with -m or PKCS11_PROVIDER)"
                            .into(),
                    ));
                }
                block.token = Some(uri);
            }
            "label" => {
                not_in_algorithm(())?;
                let pattern = one("quoted label pattern")?;
                check_pattern(pattern).map_err(error)?;
                block.label = Some(pattern.to_string());
            }
            "ksk-roll" => {
                let method = one("method")?.to_ascii_lowercase();
                block.ksk_roll = Some(match method.as_str() {
                    "double-ksk" | "double-signature" => KskRoll::DoubleKsk,
                    _ => {
                        return Err(error(format!(
                            "unsupported ksk-roll method '{method}' (supported: double-ksk)"
                        )))
                    }
                });
            }
            "parent-servers" => {
                not_in_algorithm(())?;
                let mut servers = Vec::new();
                let mut i = 0;
                while i < rest.len() {
                    let address: IpAddr = rest[i]
                        .parse()
                        .map_err(|_| error(format!("'{}' is not an IP address", rest[i])))?;
                    let mut port = 53;
                    if rest
                        .get(i + 1)
                        .is_some_and(|w| w.eq_ignore_ascii_case("port"))
                    {
                        port = rest
                            .get(i + 2)
                            .and_then(|p| p.parse::<u16>().ok())
                            .ok_or_else(|| error("'port' needs a port number".into()))?;
                        i += 2;
                    }
                    servers.push(SocketAddr::new(address, port));
                    i += 1;
                }
                if servers.is_empty() {
                    return Err(error("'parent-servers' needs an address".into()));
                }
                block.parent_servers = Some(servers);
            }
            "parent-trust-anchor" => {
                not_in_algorithm(())?;
                block.parent_trust_anchor = Some(one("quoted path")?.to_string());
            }
            "parent-unsigned" => {
                not_in_algorithm(())?;
                block.parent_unsigned =
                    Some(match one("yes or no")?.to_ascii_lowercase().as_str() {
                        "yes" | "true" => true,
                        "no" | "false" => false,
                        other => {
                            return Err(error(format!(
                                "'parent-unsigned' takes yes or no, not '{other}'"
                            )))
                        }
                    });
            }
            other => {
                let Some((name, _)) = DELAYS.iter().find(|(name, _)| *name == other) else {
                    return Err(error(format!("unknown option '{}'", words[0])));
                };
                block.delays.insert(name, duration(&rest)?);
            }
        }
        Ok(())
    }

    /// The policy of `zone` (a zone without a block gets policy `default`
    /// if the file defines one, else the built-ins).
    pub fn zone(&self, zone: &str) -> Result<ZonePolicy> {
        let key = zone.trim_end_matches('.').to_ascii_lowercase();
        let mut chain: Vec<&Block> = Vec::new();
        let own = self.zones.iter().find(|(z, _)| *z == key).map(|(_, b)| b);
        let mut next = match own {
            Some(block) => {
                chain.push(block);
                block.parent.clone()
            }
            None => self
                .policies
                .contains_key("default")
                .then(|| "default".to_string()),
        };
        while let Some(name) = next {
            let Some(block) = self.policies.get(&name) else {
                break;
            };
            if chain.iter().any(|b| std::ptr::eq(*b, block)) {
                break;
            }
            chain.push(block);
            next = block.parent.clone();
        }
        let line = chain.first().map_or(0, |b| b.line);
        let error = |message: String| Error::Input {
            file: self.file.clone(),
            line: (line > 0).then_some(line),
            message,
        };
        let algorithm = chain
            .iter()
            .find_map(|b| b.algorithm)
            .unwrap_or(Algorithm::RsaSha256);
        if let Some(block) = self.algorithms.get(&algorithm.number()) {
            chain.push(block);
        }
        fn pick<T: Clone>(chain: &[&Block], get: impl Fn(&Block) -> Option<T>) -> Option<T> {
            chain.iter().find_map(|b| get(b))
        }
        let rsa = matches!(algorithm.key_kind(), crate::algorithm::KeyKind::Rsa);
        let role = |i: usize| RolePolicy {
            bits: pick(&chain, |b| b.bits[i]).or(rsa.then_some(2048)),
            roll_period: pick(&chain, |b| b.roll_period[i]).unwrap_or(if i == 0 {
                0
            } else {
                YEAR
            }),
            pre_publish: pick(&chain, |b| b.pre_publish[i]).unwrap_or(MONTH),
            post_publish: pick(&chain, |b| b.post_publish[i]).unwrap_or(MONTH),
            standby: pick(&chain, |b| b.standby[i]).unwrap_or(0),
        };
        let (ksk, zsk) = (role(0), role(1));
        let delay = |name: &str| {
            pick(&chain, |b| b.delays.get(name).copied()).unwrap_or_else(|| {
                DELAYS
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map_or(0, |(_, v)| *v)
            })
        };
        let policy = ZonePolicy {
            zone: Name::parse(&key, Some(&Name::root()))
                .map_err(|e| error(format!("bad zone name '{zone}': {e}")))?,
            algorithm,
            directory: pick(&chain, |b| b.directory.clone()).map(PathBuf::from),
            coverage: pick(&chain, |b| b.coverage).unwrap_or(6 * MONTH),
            keyttl: pick(&chain, |b| b.keyttl).unwrap_or(HOUR),
            ksk,
            zsk,
            token: pick(&chain, |b| b.token.clone()),
            label: pick(&chain, |b| b.label.clone()).unwrap_or_else(|| DEFAULT_LABEL.into()),
            ksk_roll: pick(&chain, |b| b.ksk_roll).unwrap_or(KskRoll::DoubleKsk),
            parent_servers: pick(&chain, |b| b.parent_servers.clone()).unwrap_or_default(),
            parent_unsigned: pick(&chain, |b| b.parent_unsigned).unwrap_or(false),
            parent_trust_anchor: pick(&chain, |b| b.parent_trust_anchor.clone()).map(PathBuf::from),
            delays: Delays {
                max_zone_ttl: delay("max-zone-ttl"),
                zone_propagation: delay("zone-propagation-delay"),
                parent_propagation: delay("parent-propagation-delay"),
                parent_ds_ttl: delay("parent-ds-ttl"),
                registration: delay("parent-registration-delay"),
                signing: delay("signing-delay"),
                publish_safety: delay("publish-safety"),
                retire_safety: delay("retire-safety"),
                check_interval: delay("parent-check-interval"),
                purge_keys: delay("purge-keys"),
            },
        };
        validate(&policy).map_err(error)?;
        Ok(policy)
    }
}

fn unknown_algorithm(name: &str) -> String {
    let names: Vec<&str> = Algorithm::ALL.iter().map(|a| a.mnemonic()).collect();
    format!("unknown algorithm '{name}' (use {})", names.join(", "))
}

/// dnssec-keymgr's checks (bind-lifecycle.md §5.2), in its words.
fn validate(policy: &ZonePolicy) -> std::result::Result<(), String> {
    let zone = policy.zone.to_string();
    let zone = zone.trim_end_matches('.');
    // An anchor requires a signed parent: with both, no DS would ever count.
    if policy.parent_unsigned && policy.parent_trust_anchor.is_some() {
        return Err(format!(
            "zone {zone}: parent-unsigned yes and parent-trust-anchor contradict (an anchored parent is signed)"
        ));
    }
    for (name, role, strict) in [("KSK", &policy.ksk, false), ("ZSK", &policy.zsk, true)] {
        let rp = role.roll_period;
        if rp == 0 {
            continue;
        }
        let too_long = |v: i64| if strict { v >= rp } else { v > rp };
        if too_long(role.pre_publish) {
            return Err(format!(
                "zone {zone}: {name} pre-publish period ({}) exceeds rollover period ({rp})",
                role.pre_publish
            ));
        }
        if too_long(role.post_publish) {
            return Err(format!(
                "zone {zone}: {name} post-publish period ({}) exceeds rollover period ({rp})",
                role.post_publish
            ));
        }
        if strict && role.pre_publish + role.post_publish >= rp {
            return Err(format!(
                "zone {zone}: {name} pre/post-publish periods ({}/{}) combined exceed rollover period {rp}",
                role.pre_publish, role.post_publish
            ));
        }
    }
    if matches!(policy.algorithm.key_kind(), crate::algorithm::KeyKind::Rsa) {
        let (low, high) = match policy.algorithm {
            Algorithm::Nsec3RsaSha1 => (512, 4096),
            _ => (1024, 4096),
        };
        for (name, role) in [("KSK", &policy.ksk), ("ZSK", &policy.zsk)] {
            if let Some(bits) = role.bits {
                if !(low..=high).contains(&bits) {
                    return Err(format!(
                        "zone {zone}: {name} key size {bits} outside valid range [{low}, {high}]"
                    ));
                }
            }
        }
    }
    if policy.coverage <= 0 {
        return Err(format!("zone {zone}: coverage must be longer than 0"));
    }
    if policy.keyttl <= 0 || policy.keyttl > i64::from(u32::MAX >> 1) {
        return Err(format!(
            "zone {zone}: keyttl {} is out of range",
            policy.keyttl
        ));
    }
    Ok(())
}

/// A label pattern may use `%z %r %a %t %%` and must contain `%t`, so
/// that every new key gets its own label.
fn check_pattern(pattern: &str) -> std::result::Result<(), String> {
    let mut chars = pattern.chars();
    let mut has_time = false;
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.next() {
                Some('t') => has_time = true,
                Some('z' | 'r' | 'a' | '%') => {}
                other => {
                    return Err(format!(
                        "label pattern '{pattern}': unknown '%{}' (use %z, %r, %a, %t)",
                        other.map(String::from).unwrap_or_default()
                    ))
                }
            }
        }
    }
    if !has_time {
        return Err(format!(
            "label pattern '{pattern}' has no %t: every new key needs its own label"
        ));
    }
    Ok(())
}

/// The label of a new key from the pattern.
pub fn make_label(pattern: &str, zone: &Name, ksk: bool, algorithm: u8, activate: i64) -> String {
    let zone = zone.to_string();
    let zone = zone.trim_end_matches('.');
    let mut out = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('z') => out.push_str(zone),
            Some('r') => out.push_str(if ksk { "ksk" } else { "zsk" }),
            Some('a') => out.push_str(&algorithm.to_string()),
            Some('t') => out.push_str(&crate::time::format_timestamp(activate)),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// Whether an existing key's label is one the pattern makes for this
/// zone, role and algorithm (any `%t`).
pub fn label_matches(pattern: &str, label: &str, zone: &Name, ksk: bool, algorithm: u8) -> bool {
    let zone = zone.to_string();
    let zone = zone.trim_end_matches('.').to_ascii_lowercase();
    let parts: Vec<char> = pattern.chars().collect();
    let label: Vec<char> = label.chars().collect();
    fn matches(p: &[char], l: &[char], zone: &str, role: &str, alg: &str) -> bool {
        match p {
            [] => l.is_empty(),
            ['%', 't', rest @ ..] => {
                l.len() >= 14
                    && l[..14].iter().all(char::is_ascii_digit)
                    && matches(rest, &l[14..], zone, role, alg)
            }
            ['%', c @ ('z' | 'r' | 'a'), rest @ ..] => {
                let literal: Vec<char> = match c {
                    'z' => zone.chars().collect(),
                    'r' => role.chars().collect(),
                    _ => alg.chars().collect(),
                };
                l.len() >= literal.len()
                    && l[..literal.len()]
                        .iter()
                        .zip(&literal)
                        .all(|(a, b)| a.eq_ignore_ascii_case(b))
                    && matches(rest, &l[literal.len()..], zone, role, alg)
            }
            ['%', '%', rest @ ..] => {
                l.first() == Some(&'%') && matches(rest, &l[1..], zone, role, alg)
            }
            [c, rest @ ..] => l.first() == Some(c) && matches(rest, &l[1..], zone, role, alg),
        }
    }
    matches(
        &parts,
        &label,
        &zone,
        if ksk { "ksk" } else { "zsk" },
        &algorithm.to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"
# a comment
policy base { algorithm ecdsap256sha256; keyttl 2h; coverage 120 days; };
algorithm-policy ECDSAP256SHA256 { roll-period zsk 30d; pre-publish zsk 1w; post-publish zsk 1w; };
/* multi
   line */
zone example.com {
    policy base;
    directory "keys";
    roll_period ksk 3 months;   // keymgr: _ is -
    pre-publish ksk 2w; post-publish ksk 2w;
    token-uri "pkcs11:token=dnssec";
    label "%z-%r-%t";
    parent-servers 127.0.0.1 port 5353 ::1;
    max-zone-ttl 1h;
};
"#;

    #[test]
    fn resolves_zone_policy_chain_and_algorithm_policy() {
        let file = PolicyFile::parse(POLICY, "p.conf").expect("parse");
        let p = file.zone("example.com.").expect("zone");
        assert_eq!(p.algorithm, Algorithm::EcdsaP256Sha256);
        assert_eq!(p.keyttl, 7200);
        assert_eq!(p.coverage, 120 * DAY);
        assert_eq!(p.zsk.roll_period, 30 * DAY);
        assert_eq!(p.zsk.pre_publish, 7 * DAY);
        assert_eq!(p.ksk.roll_period, 3 * MONTH);
        assert_eq!(p.ksk.bits, None);
        assert_eq!(p.delays.max_zone_ttl, HOUR);
        assert_eq!(p.delays.parent_ds_ttl, DAY);
        assert_eq!(p.parent_servers.len(), 2);
        assert_eq!(p.parent_servers[0].port(), 5353);
        assert_eq!(p.parent_servers[1].port(), 53);
        assert_eq!(p.directory, Some(PathBuf::from("keys")));
        let other = file.zone("other.example").expect("builtin");
        assert_eq!(other.algorithm, Algorithm::RsaSha256);
        assert_eq!(other.zsk.roll_period, YEAR);
        assert_eq!(other.ksk.bits, Some(2048));
    }

    #[test]
    fn errors_name_file_and_line() {
        for (text, line, cause) in [
            ("zone a { algorithm foo; };", 1, "unknown algorithm 'foo'"),
            (
                "zone a {\n coverage 3 fortnights;\n};",
                2,
                "invalid duration",
            ),
            ("zone a {\n\n bogus 1;\n};", 3, "unknown option 'bogus'"),
            (
                "zone a { policy nope; };",
                1,
                "policy 'nope' is not defined",
            ),
            ("zone a {\n coverage 1d\n};", 3, "syntax error near '}'"),
            (
                "zone a {\n roll-period zsk 10d;\n pre-publish zsk 20d;\n};",
                1,
                "ZSK pre-publish period",
            ),
            ("zone a { label \"x\"; };", 1, "has no %t"),
            ("zone a {\n token-uri \"pkcs11:pin-value=1\";\n};", 2, "PIN"),
            ("zone a { coverage 1d; }", 1, "unexpected end of file"),
        ] {
            let error = PolicyFile::parse(text, "p.conf")
                .expect_err(text)
                .to_string();
            assert!(
                error.starts_with(&format!("p.conf:{line}: ")) && error.contains(cause),
                "{text}: {error}"
            );
        }
    }

    #[test]
    fn parent_unsigned_is_no_unless_said_and_inherited_from_a_policy() {
        let file = PolicyFile::parse(
            "policy insecure { parent-unsigned yes; };
             zone a { policy insecure; };
             zone b { policy insecure; parent-unsigned no; };
             zone c { coverage 30d; };",
            "p.conf",
        )
        .expect("parse");
        assert!(file.zone("a").expect("a").parent_unsigned);
        assert!(!file.zone("b").expect("b").parent_unsigned);
        assert!(!file.zone("c").expect("c").parent_unsigned);
        assert!(!file.zone("other").expect("builtin").parent_unsigned);
        let error = PolicyFile::parse("zone a {\n parent-unsigned maybe;\n};", "p.conf")
            .expect_err("maybe")
            .to_string();
        assert_eq!(
            error,
            "p.conf:2: 'parent-unsigned' takes yes or no, not 'maybe'"
        );
        let error = PolicyFile::parse(
            "zone a { parent-unsigned yes; parent-trust-anchor \"a.anchor\"; };",
            "p.conf",
        )
        .expect_err("both")
        .to_string();
        assert!(error.contains("contradict"), "{error}");
        let anchored = PolicyFile::parse("zone a { parent-trust-anchor \"a.anchor\"; };", "p.conf")
            .expect("anchored");
        assert_eq!(
            anchored.zone("a").expect("a").parent_trust_anchor,
            Some(PathBuf::from("a.anchor"))
        );
    }

    #[test]
    fn durations_as_keymgr_reads_them() {
        assert_eq!(parse_policy_duration(&["3", "mo"]), Some(3 * MONTH));
        assert_eq!(parse_policy_duration(&["3months"]), Some(3 * MONTH));
        assert_eq!(parse_policy_duration(&["2mi"]), Some(120));
        assert_eq!(parse_policy_duration(&["1y"]), Some(YEAR));
        assert_eq!(parse_policy_duration(&["none"]), Some(0));
        assert_eq!(parse_policy_duration(&["86400"]), Some(DAY));
        assert_eq!(parse_policy_duration(&["1x"]), None);
    }

    #[test]
    fn labels_from_and_against_the_pattern() {
        let zone = Name::parse("example.com", Some(&Name::root())).expect("name");
        let label = make_label(DEFAULT_LABEL, &zone, true, 13, 0);
        assert_eq!(label, "example.com-ksk-19700101000000");
        assert!(label_matches(DEFAULT_LABEL, &label, &zone, true, 13));
        assert!(!label_matches(DEFAULT_LABEL, &label, &zone, false, 13));
        assert!(!label_matches(DEFAULT_LABEL, "ksk", &zone, true, 13));
        assert!(!label_matches(
            DEFAULT_LABEL,
            "example.com-ksk-1970",
            &zone,
            true,
            13
        ));
    }
}
