//! The zone reader: directives (`$ORIGIN`, `$TTL`, `$INCLUDE`), owner
//! names, TTLs and classes, on top of the lexer.
//!
//! TTL rules (RFC 1035 §5.1, RFC 2308 §4, BIND): an explicit TTL wins; else
//! `$TTL`; else the last explicit TTL; else, for the SOA, its MINIMUM field
//! with a warning. Any other record with no TTL at all is an error unless
//! the reader is lenient (key files carry no TTL).

use super::generate::{substitute, Range};
use super::lexer::{LexError, Lexer, LogicalLine, Token};
use super::{escape, excerpt, parse_zone_ttl, MAX_TTL};
use crate::error::{Error, Result};
use crate::name::Name;
use crate::record::{Class, RType};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How many `$INCLUDE`s one zone may have in all: the depth limit alone
/// lets a few files that each include the next ten times make 10^8 reads.
pub const MAX_INCLUDES: u64 = 10_000;

/// How many octets of records (as text) `$GENERATE` may make in one zone:
/// 2 GiB, beside the cap on their number.
pub const MAX_GENERATED_OCTETS: u64 = 1 << 31;

/// What a message says of a file that `$INCLUDE` named: nothing quoted.
/// The zone file given on the command line is trusted, but what it
/// includes may be any file the signer can read (an environment file
/// holding `PKCS11_PIN=…`), and an excerpt of a secret is still a secret.
pub fn unquoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        if c == '\'' {
            if !quoted {
                out.push_str("'…'");
            }
            quoted = !quoted;
        } else if !quoted {
            out.push(c);
        }
    }
    out
}

/// How deep `$INCLUDE` may nest.
const MAX_INCLUDE_DEPTH: usize = 16;

/// How many records `$GENERATE` may make in one zone, unless the caller
/// sets another bound: ten times the largest generated zone we know of
/// (BIND has no bound; one `$GENERATE 0-4294967295` exhausts memory).
pub const DEFAULT_MAX_GENERATE: u64 = 10_000_000;

/// Trees an `$INCLUDE` never reads: their files are not zone data, some
/// hold secrets (`/proc/self/environ` holds the PIN's environment
/// variable) and some never end or block (`/dev/zero`, FIFOs, ttys).
const FORBIDDEN_TREES: [&str; 3] = ["/proc", "/sys", "/dev"];

/// One record as read: its RDATA still as tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub owner: Name,
    pub ttl: u32,
    /// False if no TTL was given anywhere (lenient reading only).
    pub ttl_known: bool,
    pub class: Class,
    pub rtype: RType,
    pub rdata: Vec<Token>,
    /// The origin in force, for relative names inside the RDATA.
    pub origin: Name,
    pub file: Arc<str>,
    pub line: usize,
    /// Which run of records with one owner this record belongs to. BIND
    /// loads a zone in such runs: inside one, a type's later records take
    /// the first one's TTL; a later run's TTL replaces an earlier one's.
    pub batch: u64,
    /// Read from a file that `$INCLUDE` named (see [`unquoted`]).
    pub included: bool,
}

impl Record {
    /// An input error at this record's file and line.
    pub fn error(&self, message: impl Into<String>) -> Error {
        let message = message.into();
        Error::Input {
            file: self.file.to_string(),
            line: Some(self.line),
            message: if self.included {
                unquoted(&message)
            } else {
                message
            },
        }
    }

    /// The RDATA tokens as text (for fields that are ASCII).
    pub fn rdata_texts(&self) -> Vec<String> {
        self.rdata.iter().map(|t| t.as_str().into_owned()).collect()
    }
}

struct Source {
    lexer: Lexer<Box<dyn BufRead>>,
    file: Arc<str>,
    path: Option<PathBuf>,
    origin: Name,
    last_owner: Option<Name>,
}

/// A `$GENERATE` being expanded, one record per call.
struct Generating {
    next: u64,
    stop: u64,
    step: u64,
    lhs: Vec<u8>,
    ttl: Option<u32>,
    class: Option<Class>,
    rtype: RType,
    rhs: Vec<u8>,
    line: usize,
}

/// The current run of records with one owner (see [`Record::batch`]):
/// each type's TTL, RRSIG and SIG by the type they cover, as BIND keys them.
#[derive(Default)]
struct Batch {
    number: u64,
    owner: Option<Name>,
    ttls: Vec<(RType, Vec<u8>, u32)>,
}

/// Reads records from a zone file and the files it includes.
pub struct ZoneReader {
    sources: Vec<Source>,
    generating: Option<Generating>,
    default_ttl: Option<u32>,
    last_ttl: Option<u32>,
    class: Option<Class>,
    lenient_ttl: bool,
    include_root: Option<PathBuf>,
    max_generate: u64,
    generated: u64,
    /// An upper bound of the octets the `$GENERATE` lines so far make.
    generated_octets: u64,
    /// `$INCLUDE`s read so far, nested or not.
    includes: u64,
    batch: Batch,
}

impl ZoneReader {
    /// A reader over `input`, named `file` in messages (`-` is stdin, shown
    /// as "stdin"), with the zone's origin.
    pub fn new(
        input: Box<dyn BufRead>,
        file: &str,
        path: Option<PathBuf>,
        origin: Name,
    ) -> ZoneReader {
        let shown: Arc<str> = if file == "-" {
            "stdin".into()
        } else {
            file.into()
        };
        ZoneReader {
            sources: vec![Source {
                lexer: Lexer::new(input),
                file: shown,
                path,
                origin,
                last_owner: None,
            }],
            generating: None,
            default_ttl: None,
            last_ttl: None,
            class: None,
            lenient_ttl: false,
            include_root: None,
            max_generate: DEFAULT_MAX_GENERATE,
            generated: 0,
            generated_octets: 0,
            includes: 0,
            batch: Batch::default(),
        }
    }

    /// Opens a file (or stdin for `-`).
    pub fn open(path: &str, origin: Name) -> Result<ZoneReader> {
        let input: Box<dyn BufRead> = if path == "-" {
            Box::new(std::io::BufReader::with_capacity(1 << 16, std::io::stdin()))
        } else {
            let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
            Box::new(std::io::BufReader::with_capacity(1 << 16, file))
        };
        let real = (path != "-").then(|| PathBuf::from(path));
        Ok(ZoneReader::new(input, path, real, origin))
    }

    /// Accept records with no TTL anywhere (ttl 0, `ttl_known` false), as
    /// key files have none.
    pub fn lenient_ttl(mut self) -> ZoneReader {
        self.lenient_ttl = true;
        self
    }

    /// Confines `$INCLUDE` to the tree under `dir` (for operators who sign
    /// zones that others write): an include whose real path, symbolic
    /// links resolved, lies outside it is refused.
    pub fn include_root(mut self, dir: &Path) -> Result<ZoneReader> {
        let shown = escape(dir.as_os_str().as_encoded_bytes());
        let root = std::fs::canonicalize(dir).map_err(|e| {
            Error::usage(format!(
                "--include-root '{shown}': {}",
                crate::error::io_reason(&e)
            ))
        })?;
        if !root.is_dir() {
            return Err(Error::usage(format!(
                "--include-root '{shown}' is not a directory"
            )));
        }
        self.include_root = Some(root);
        Ok(self)
    }

    /// At most `count` records from all `$GENERATE` lines together.
    pub fn max_generate(mut self, count: u64) -> ZoneReader {
        self.max_generate = count;
        self
    }

    /// Sets the zone class (records of another class are an error).
    pub fn with_class(mut self, class: Class) -> ZoneReader {
        self.class = Some(class);
        self
    }

    /// The next record, or `None` at the end of the zone.
    pub fn next_record(&mut self) -> Result<Option<Record>> {
        loop {
            if let Some(record) = self.next_generated()? {
                return Ok(Some(record));
            }
            let Some(source) = self.sources.last_mut() else {
                return Ok(None);
            };
            let line = match source.lexer.next_line() {
                Ok(Some(line)) => line,
                Ok(None) => {
                    self.sources.pop();
                    self.batch.owner = None;
                    continue;
                }
                Err(LexError { line, message }) => {
                    return Err(Error::Input {
                        file: source.file.to_string(),
                        line: Some(line),
                        message,
                    })
                }
            };
            let first = &line.tokens[0].text;
            if !line.blank_owner && first.first() == Some(&b'$') {
                self.directive(line)?;
                continue;
            }
            return self.record(line).map(Some);
        }
    }

    fn error(&self, line: usize, message: impl Into<String>) -> Error {
        let file = self
            .sources
            .last()
            .map_or_else(String::new, |s| s.file.to_string());
        let message = message.into();
        Error::Input {
            file,
            line: Some(line),
            message: if self.sources.len() > 1 {
                unquoted(&message)
            } else {
                message
            },
        }
    }

    /// RFC 2181 §8: a TTL above 2^31 - 1 is read as zero, with BIND's
    /// warning.
    fn max_ttl(&self, line: usize, ttl: u32) -> u32 {
        if ttl <= MAX_TTL {
            return ttl;
        }
        crate::cli::warn(&format!(
            "{}:{line}: TTL {ttl} > MAXTTL, setting TTL to 0",
            self.sources.last().map_or("", |s| &s.file),
        ));
        0
    }

    fn directive(&mut self, line: LogicalLine) -> Result<()> {
        let name = line.tokens[0].as_str().to_ascii_uppercase();
        let args = &line.tokens[1..];
        match name.as_str() {
            "$ORIGIN" => {
                let [origin] = args else {
                    return Err(self.error(line.line, "$ORIGIN needs one name"));
                };
                let current = self.current_origin();
                let origin = Name::parse_bytes(&origin.text, Some(&current)).map_err(|e| {
                    self.error(
                        line.line,
                        format!("bad $ORIGIN '{}': {e}", excerpt(&origin.text)),
                    )
                })?;
                if let Some(source) = self.sources.last_mut() {
                    source.origin = origin;
                }
                Ok(())
            }
            "$TTL" => {
                let [ttl] = args else {
                    return Err(self.error(line.line, "$TTL needs one TTL"));
                };
                let value = parse_zone_ttl(&ttl.as_str()).ok_or_else(|| {
                    self.error(line.line, format!("bad $TTL '{}'", excerpt(&ttl.text)))
                })?;
                self.default_ttl = Some(self.max_ttl(line.line, value));
                Ok(())
            }
            "$INCLUDE" => self.include(line.line, args),
            "$GENERATE" => self.generate(line.line, args),
            _ => Err(self.error(
                line.line,
                format!("unknown directive '{}'", excerpt(&line.tokens[0].text)),
            )),
        }
    }

    fn include(&mut self, line: usize, args: &[Token]) -> Result<()> {
        let (file, origin) = match args {
            [file] => (file, None),
            [file, origin] => (file, Some(origin)),
            _ => {
                return Err(self.error(line, "$INCLUDE needs a file name and optionally an origin"))
            }
        };
        self.includes += 1;
        if self.includes > MAX_INCLUDES {
            return Err(self.error(
                line,
                format!("more than {MAX_INCLUDES} $INCLUDEs in one zone"),
            ));
        }
        if self.sources.len() >= MAX_INCLUDE_DEPTH {
            return Err(self.error(
                line,
                format!("$INCLUDE nested deeper than {MAX_INCLUDE_DEPTH}"),
            ));
        }
        let current = self.current_origin();
        let origin = match origin {
            Some(origin) => Name::parse_bytes(&origin.text, Some(&current)).map_err(|e| {
                self.error(
                    line,
                    format!("bad $INCLUDE origin '{}': {e}", excerpt(&origin.text)),
                )
            })?,
            None => current,
        };
        let name = file.as_str().into_owned();
        let shown = excerpt(&file.text);
        let path = self.resolve_include(&name);
        let opened = self
            .open_include(&path)
            .map_err(|reason| self.error(line, format!("$INCLUDE '{shown}': {reason}")))?;
        let canonical = std::fs::canonicalize(&path).ok();
        let looping = self.sources.iter().any(|s| {
            s.path.as_ref().and_then(|p| std::fs::canonicalize(p).ok()) == canonical
                && canonical.is_some()
        });
        if looping {
            return Err(self.error(line, format!("$INCLUDE loop: '{shown}' includes itself")));
        }
        self.batch.owner = None;
        self.sources.push(Source {
            lexer: Lexer::new(Box::new(std::io::BufReader::new(opened))),
            file: escape(path.as_os_str().as_encoded_bytes()).into(),
            path: Some(path),
            origin,
            last_owner: None,
        });
        Ok(())
    }

    /// Opens an included file if it may be read: a regular file, not under
    /// /proc, /sys or /dev (symbolic links resolved), inside the include
    /// root if there is one. The checks on the path give the reason; the
    /// same checks on the opened file (which was opened without blocking,
    /// so a FIFO swapped in cannot hang us) close the race with a path
    /// changed in between. Returns the reason for a refusal.
    fn open_include(&self, path: &Path) -> std::result::Result<std::fs::File, String> {
        use rustix::fs::{Mode, OFlags, ResolveFlags};
        let real = std::fs::canonicalize(path).map_err(|e| crate::error::io_reason(&e))?;
        if let Some(tree) = FORBIDDEN_TREES.iter().find(|t| real.starts_with(t)) {
            return Err(format!("refusing to read a file under {tree}"));
        }
        let metadata = std::fs::metadata(&real).map_err(|e| crate::error::io_reason(&e))?;
        if !metadata.is_file() {
            return Err("not a regular file".into());
        }
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let fd = match &self.include_root {
            Some(root) => {
                let inside = real
                    .strip_prefix(root)
                    .map_err(|_| "outside the include root".to_string())?;
                let dir = rustix::fs::open(
                    root,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| crate::error::io_reason(&e.into()))?;
                // RESOLVE_BENEATH: the kernel refuses any step out of the
                // root, even by a symbolic link planted after our check.
                match rustix::fs::openat2(
                    &dir,
                    inside,
                    flags,
                    Mode::empty(),
                    ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
                ) {
                    Ok(fd) => fd,
                    Err(rustix::io::Errno::XDEV) => return Err("outside the include root".into()),
                    // Kernels before 5.6 have no openat2: the path checks
                    // above are what we have.
                    Err(rustix::io::Errno::NOSYS) => rustix::fs::open(&real, flags, Mode::empty())
                        .map_err(|e| crate::error::io_reason(&e.into()))?,
                    Err(e) => return Err(crate::error::io_reason(&e.into())),
                }
            }
            // The canonical path holds no symbolic link: RESOLVE_NO_SYMLINKS
            // refuses one swapped in after the check (a directory replaced
            // by a link to /dev/shm).
            None => match rustix::fs::openat2(
                rustix::fs::CWD,
                &real,
                flags,
                Mode::empty(),
                ResolveFlags::NO_SYMLINKS,
            ) {
                Ok(fd) => fd,
                Err(rustix::io::Errno::NOSYS) => rustix::fs::open(&real, flags, Mode::empty())
                    .map_err(|e| crate::error::io_reason(&e.into()))?,
                Err(rustix::io::Errno::LOOP) => {
                    return Err("a symbolic link appeared in its path while it was read".into())
                }
                Err(e) => return Err(crate::error::io_reason(&e.into())),
            },
        };
        crate::inputs::checked(fd).map_err(|refusal| match refusal {
            crate::inputs::Refusal::NotRegular => "not a regular file".into(),
            crate::inputs::Refusal::PseudoFileSystem => {
                "refusing to read a file of a kernel pseudo file system".into()
            }
            other => other.to_string(),
        })
    }

    /// `$INCLUDE` names are relative to the working directory (as BIND's
    /// are); if no such file exists there, to the including file's folder.
    fn resolve_include(&self, name: &str) -> PathBuf {
        let direct = PathBuf::from(name);
        if direct.is_absolute() || direct.exists() {
            return direct;
        }
        let beside = self
            .sources
            .last()
            .and_then(|s| s.path.as_ref())
            .and_then(|p| p.parent())
            .map(|dir| dir.join(name));
        match beside {
            Some(path) if path.exists() => path,
            _ => direct,
        }
    }

    fn current_origin(&self) -> Name {
        self.sources
            .last()
            .map_or_else(Name::root, |s| s.origin.clone())
    }

    fn record(&mut self, line: LogicalLine) -> Result<Record> {
        let origin = self.current_origin();
        let mut tokens = line.tokens.into_iter().peekable();
        let owner = if line.blank_owner {
            let last = self.sources.last().and_then(|s| s.last_owner.clone());
            last.ok_or_else(|| {
                self.error(
                    line.line,
                    "no owner name: the first record starts with a blank",
                )
            })?
        } else {
            let token = tokens
                .next()
                .ok_or_else(|| self.error(line.line, "empty record"))?;
            Name::parse_bytes(&token.text, Some(&origin)).map_err(|e| {
                self.error(
                    line.line,
                    format!("bad owner name '{}': {e}", excerpt(&token.text)),
                )
            })?
        };
        // [TTL] [class] type, or [class] [TTL] type.
        let mut ttl = None;
        let mut class = None;
        let rtype = loop {
            let token = tokens
                .next()
                .ok_or_else(|| self.error(line.line, "no record type"))?;
            let text = token.as_str();
            if ttl.is_none() && text.as_bytes().first().is_some_and(u8::is_ascii_digit) {
                let value = parse_zone_ttl(&text).ok_or_else(|| {
                    self.error(line.line, format!("bad TTL '{}'", excerpt(&token.text)))
                })?;
                ttl = Some(self.max_ttl(line.line, value));
                continue;
            }
            if class.is_none() {
                if let Some(c) = Class::parse(&text) {
                    class = Some(c);
                    continue;
                }
            }
            break RType::parse(&text).ok_or_else(|| {
                self.error(
                    line.line,
                    format!("unknown record type '{}'", excerpt(&token.text)),
                )
            })?;
        };
        let rdata: Vec<Token> = tokens.collect();
        self.finish_record(owner, ttl, class, rtype, rdata, origin, line.line)
    }

    /// Applies the class and TTL rules and records the owner.
    #[allow(clippy::too_many_arguments)] // the parts of one record, as read
    fn finish_record(
        &mut self,
        owner: Name,
        ttl: Option<u32>,
        class: Option<Class>,
        rtype: RType,
        rdata: Vec<Token>,
        origin: Name,
        line: usize,
    ) -> Result<Record> {
        let class = match (class, self.class) {
            (Some(c), Some(zone)) if c != zone => {
                return Err(self.error(
                    line,
                    format!("class {c} differs from the zone's class {zone}"),
                ))
            }
            (Some(c), _) | (None, Some(c)) => c,
            (None, None) => Class::IN,
        };
        self.class = Some(class);
        let (ttl, ttl_known) = match ttl {
            Some(ttl) => {
                self.last_ttl = Some(ttl);
                (ttl, true)
            }
            None => match self.default_ttl.or(self.last_ttl) {
                Some(ttl) => (ttl, true),
                None if rtype == RType::SOA => {
                    let minimum = rdata
                        .get(6)
                        .and_then(|t| parse_zone_ttl(&t.as_str()))
                        .ok_or_else(|| self.error(line, "SOA without TTL or MINIMUM"))?;
                    let minimum = self.max_ttl(line, minimum);
                    crate::cli::warn(&format!(
                        "{}:{}: no TTL specified; using SOA MINTTL ({minimum}) instead",
                        self.sources.last().map_or("", |s| &s.file),
                        line
                    ));
                    // BIND makes the MINIMUM the default for the records
                    // that follow, as a $TTL would be (RFC 2308 §4).
                    self.default_ttl = Some(minimum);
                    (minimum, true)
                }
                None if self.lenient_ttl => (0, false),
                None => {
                    return Err(self.error(line, "no TTL specified (no $TTL and no earlier TTL)"))
                }
            },
        };
        let ttl = self.batch_ttl(&owner, rtype, &rdata, ttl, line);
        let source = self
            .sources
            .last_mut()
            .ok_or_else(|| Error::Failed("zone reader has no source".into()))?;
        source.last_owner = Some(owner.clone());
        Ok(Record {
            owner,
            ttl,
            ttl_known,
            class,
            rtype,
            rdata,
            origin,
            file: source.file.clone(),
            line,
            batch: self.batch.number,
            included: self.sources.len() > 1,
        })
    }

    /// BIND's rule for records of one RRset in one run of an owner's
    /// records: they take the TTL of the run's first one, with BIND's
    /// warning, and that TTL becomes the last TTL seen (RFC 1035's
    /// default for records that give none).
    fn batch_ttl(
        &mut self,
        owner: &Name,
        rtype: RType,
        rdata: &[Token],
        ttl: u32,
        line: usize,
    ) -> u32 {
        let same_run = self
            .batch
            .owner
            .as_ref()
            .is_some_and(|o| o.eq_ignore_case(owner));
        if !same_run {
            self.batch.number += 1;
            self.batch.owner = Some(owner.clone());
            self.batch.ttls.clear();
        }
        // The covered type as written, compared without case; copied only
        // when the run sees it first (one allocation per RRSIG record was
        // a twentieth of reading a signed zone).
        let covered: &[u8] = if matches!(rtype, RType::RRSIG | RType(24)) {
            rdata.first().map_or(&[], |t| t.text.as_slice())
        } else {
            &[]
        };
        let prior = self
            .batch
            .ttls
            .iter()
            .find(|(t, c, _)| *t == rtype && c.eq_ignore_ascii_case(covered))
            .map(|(_, _, ttl)| *ttl);
        match prior {
            Some(prior) if prior != ttl => {
                crate::cli::warn(&format!(
                    "{}:{line}: TTL set to prior TTL ({prior})",
                    self.sources.last().map_or("", |s| &s.file),
                ));
                self.last_ttl = Some(prior);
                prior
            }
            Some(_) => ttl,
            None => {
                self.batch
                    .ttls
                    .push((rtype, covered.to_ascii_uppercase(), ttl));
                ttl
            }
        }
    }

    /// Starts a `$GENERATE range lhs [ttl] [class] type rhs`.
    fn generate(&mut self, line: usize, args: &[Token]) -> Result<()> {
        let usage = "$GENERATE needs: range lhs [ttl] [class] type rhs";
        if args.len() < 4 {
            return Err(self.error(line, usage));
        }
        let range = Range::parse(&args[0].as_str()).map_err(|e| self.error(line, e))?;
        let count = u64::from(range.stop - range.start) / u64::from(range.step) + 1;
        let total = self.generated.saturating_add(count);
        if total > self.max_generate {
            let earlier = if self.generated > 0 {
                format!(" (with {} from earlier lines)", self.generated)
            } else {
                String::new()
            };
            return Err(self.error(
                line,
                format!(
                    "$GENERATE range '{}' makes {count} records{earlier}; at most {} are allowed",
                    excerpt(&args[0].text),
                    self.max_generate
                ),
            ));
        }
        // Records are counted, and so are their octets: one line of long
        // TXT strings, a million times, would be tens of gigabytes. Each
        // `$` may widen to a modifier's width (at most 255) or a number.
        let line_octets: u64 = args
            .iter()
            .map(|token| {
                let dollars = token.text.iter().filter(|&&b| b == b'$').count() as u64;
                token.text.len() as u64 + 1 + dollars * 256
            })
            .sum();
        let octets = self
            .generated_octets
            .saturating_add(count.saturating_mul(line_octets));
        if octets > MAX_GENERATED_OCTETS {
            return Err(self.error(
                line,
                format!(
                    "$GENERATE range '{}' of {line_octets}-octet lines makes up to {octets} octets of records; at most {MAX_GENERATED_OCTETS} are allowed",
                    excerpt(&args[0].text)
                ),
            ));
        }
        self.generated = total;
        self.generated_octets = octets;
        let lhs = args[1].text.clone();
        let mut at = 2;
        let (mut ttl, mut class) = (None, None);
        let rtype = loop {
            let text = args
                .get(at)
                .ok_or_else(|| self.error(line, usage))?
                .as_str();
            at += 1;
            if ttl.is_none() && text.as_bytes().first().is_some_and(u8::is_ascii_digit) {
                let value = parse_zone_ttl(&text)
                    .ok_or_else(|| self.error(line, format!("bad TTL '{}'", excerpt(&*text))))?;
                ttl = Some(self.max_ttl(line, value));
            } else if class.is_none() && Class::parse(&text).is_some() {
                class = Class::parse(&text);
            } else {
                break RType::parse(&text).ok_or_else(|| {
                    self.error(line, format!("unknown record type '{}'", excerpt(&*text)))
                })?;
            }
        };
        if at >= args.len() {
            return Err(self.error(line, usage));
        }
        // The right-hand side is the rest of the line, re-read after each
        // substitution (quoted parts keep their quotes).
        let mut rhs = Vec::new();
        for token in &args[at..] {
            if !rhs.is_empty() {
                rhs.push(b' ');
            }
            if token.quoted {
                rhs.push(b'"');
                rhs.extend_from_slice(&token.text);
                rhs.push(b'"');
            } else {
                rhs.extend_from_slice(&token.text);
            }
        }
        self.batch.owner = None;
        self.generating = Some(Generating {
            next: u64::from(range.start),
            stop: u64::from(range.stop),
            step: u64::from(range.step),
            lhs,
            ttl,
            class,
            rtype,
            rhs,
            line,
        });
        Ok(())
    }

    fn next_generated(&mut self) -> Result<Option<Record>> {
        let Some(state) = self.generating.as_mut() else {
            return Ok(None);
        };
        if state.next > state.stop {
            self.generating = None;
            return Ok(None);
        }
        let value = state.next as u32;
        state.next += state.step;
        let (line, ttl, class, rtype) = (state.line, state.ttl, state.class, state.rtype);
        let substituted =
            substitute(&state.lhs, value).and_then(|lhs| Ok((lhs, substitute(&state.rhs, value)?)));
        let (lhs, rhs) = substituted.map_err(|e| self.error(line, e))?;
        let origin = self.current_origin();
        let owner = Name::parse_bytes(&lhs, Some(&origin)).map_err(|e| {
            self.error(
                line,
                format!("bad $GENERATE owner '{}': {e}", excerpt(&lhs)),
            )
        })?;
        let mut lexer = Lexer::new(&rhs[..]);
        let rdata = match lexer.next_line() {
            Ok(Some(parsed)) => parsed.tokens,
            Ok(None) => Vec::new(),
            Err(e) => return Err(self.error(line, e.message)),
        };
        self.finish_record(owner, ttl, class, rtype, rdata, origin, line)
            .map(Some)
    }
}

/// Reads every record of a file (for small inputs: key files, keysets).
pub fn read_all(reader: &mut ZoneReader) -> Result<Vec<Record>> {
    let mut records = Vec::new();
    while let Some(record) = reader.next_record()? {
        records.push(record);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, origin: &str) -> Result<Vec<Record>> {
        let origin = Name::parse(origin, None).expect("origin");
        let mut reader = ZoneReader::new(
            Box::new(std::io::Cursor::new(text.as_bytes().to_vec())),
            "test.zone",
            None,
            origin,
        );
        read_all(&mut reader)
    }

    #[test]
    fn owners_ttls_and_classes() {
        let records = read(
            "$TTL 1h\n@ IN SOA ns hm 1 2 3 4 5\n  NS ns\nwww 300 IN A 192.0.2.1\n IN 60 AAAA ::1\n$ORIGIN sub.example.com.\nx CH TXT a\n",
            "example.com.",
        );
        let error = records.expect_err("class mismatch");
        assert!(
            error
                .to_string()
                .starts_with("test.zone:7: class CH differs"),
            "{error}"
        );
        let records = read(
            "$TTL 1h\n@ IN SOA ns hm 1 2 3 4 5\n  NS ns\nwww 300 IN A 192.0.2.1\n IN 60 AAAA ::1\n$ORIGIN sub.example.com.\nx TXT a\n",
            "example.com.",
        )
        .expect("zone");
        let summary: Vec<(String, u32, String)> = records
            .iter()
            .map(|r| (r.owner.to_string(), r.ttl, r.rtype.to_string()))
            .collect();
        assert_eq!(
            summary,
            [
                ("example.com.".into(), 3600, "SOA".into()),
                ("example.com.".into(), 3600, "NS".into()),
                ("www.example.com.".into(), 300, "A".into()),
                ("www.example.com.".into(), 60, "AAAA".into()),
                ("x.sub.example.com.".into(), 3600, "TXT".into()),
            ]
        );
        assert_eq!(records[4].line, 7);
        assert_eq!(records[4].origin.to_string(), "sub.example.com.");
    }

    #[test]
    fn generate_expands_like_named_checkzone() {
        let records = read(
            "$TTL 600\n$GENERATE 0-1 host$ A 1.2.3.${1,0,d}\n$GENERATE 1024-1025 ${-2000,0,n} AAAA 2001:db8::${0,4,x}\n$GENERATE 1-2/1 x$ 30 IN TXT \"v=$\" \\$\nafter A 1.1.1.1\n",
            "g.",
        )
        .expect("generate");
        let text: Vec<String> = records
            .iter()
            .map(|r| {
                format!(
                    "{} {} {} {}",
                    r.owner,
                    r.ttl,
                    r.rtype,
                    r.rdata_texts().join(" ")
                )
            })
            .collect();
        assert_eq!(
            text,
            [
                "host0.g. 600 A 1.2.3.1",
                "host1.g. 600 A 1.2.3.2",
                "0.3.c.f.f.f.f.f.g. 600 AAAA 2001:db8::0400",
                "1.3.c.f.f.f.f.f.g. 600 AAAA 2001:db8::0401",
                "x1.g. 30 TXT v=1 \\$",
                "x2.g. 30 TXT v=2 \\$",
                "after.g. 600 A 1.1.1.1",
            ]
        );
        assert!(read("$GENERATE 5-1 a A 1.2.3.4\n", "g.").is_err());
        assert!(read("$GENERATE 1-2 a\n", "g.").is_err());
    }

    #[test]
    fn missing_ttl_rules() {
        let records = read(
            "@ SOA ns hm 1 2 3 4 300\nwww A 192.0.2.1\nx 60 A 1.2.3.4\ny A 1.2.3.5\n",
            "e.",
        )
        .expect("zone");
        let ttls: Vec<u32> = records.iter().map(|r| r.ttl).collect();
        // As named-checkzone: the MINIMUM then acts as $TTL (y is 300, not 60).
        assert_eq!(ttls, [300, 300, 60, 300]);
        let error = read("www A 192.0.2.1\n", "e.").expect_err("no ttl");
        assert_eq!(
            error.to_string(),
            "test.zone:1: no TTL specified (no $TTL and no earlier TTL)"
        );
    }

    #[test]
    fn bad_records_name_file_and_line() {
        for (text, message) in [
            (
                "$TTL 1\na BOGUS x\n",
                "test.zone:2: unknown record type 'BOGUS'",
            ),
            ("$TTL x\n", "test.zone:1: bad $TTL 'x'"),
            ("$TTL 1\n a A 1\n", "test.zone:2: no owner name"),
            (
                "$TTL 1\na..b A 1\n",
                "test.zone:2: bad owner name 'a..b': empty label",
            ),
            ("$FOO\n", "test.zone:1: unknown directive '$FOO'"),
            (
                "$INCLUDE /nonexistent/file\n",
                "test.zone:1: $INCLUDE '/nonexistent/file': no such file or directory",
            ),
            ("$TTL 1\na\n", "test.zone:2: no record type"),
        ] {
            let error = read(text, "e.").expect_err(text).to_string();
            assert!(error.starts_with(message), "{text:?}: {error}");
        }
    }

    #[test]
    fn ttls_of_one_rrset_follow_bind() {
        // Runs of one owner's records, as named-checkzone 9.18 -D reads
        // them: inside a run the first TTL; a later run's TTL replaces an
        // earlier one's (x 50, z 100, w 5); RRSIGs by type covered.
        let records = read(
            "$TTL 300\n@ SOA ns hm 1 2 3 4 5\nx 100 A 192.0.2.1\nx 200 A 192.0.2.2\ny A 192.0.2.1\nx 50 A 192.0.2.3\nx 30 A 192.0.2.4\ng 100 RRSIG A 8 2 300 20300101000000 20200101000000 1 t. AAAA\ng 200 RRSIG TXT 8 2 300 20300101000000 20200101000000 1 t. AAAA\n",
            "t.",
        )
        .expect("zone");
        let ttls: Vec<(String, u32, u64)> = records
            .iter()
            .map(|r| (r.owner.to_string(), r.ttl, r.batch))
            .collect();
        assert_eq!(
            ttls,
            [
                ("t.".into(), 300, 1),
                ("x.t.".into(), 100, 2),
                ("x.t.".into(), 100, 2),
                ("y.t.".into(), 300, 3),
                ("x.t.".into(), 50, 4),
                ("x.t.".into(), 50, 4),
                ("g.t.".into(), 100, 5),
                ("g.t.".into(), 200, 5),
            ]
        );
        // Without $TTL the prior TTL also becomes the last TTL, as in BIND.
        let records = read(
            "@ 300 SOA ns hm 1 2 3 4 5\na 100 A 192.0.2.1\na 200 A 192.0.2.2\nd A 192.0.2.3\n",
            "t.",
        )
        .expect("zone");
        assert_eq!(records[3].ttl, 100);
    }

    #[test]
    fn ttls_from_2_to_the_31_are_zero_and_overflow_is_refused() {
        let records = read(
            "$TTL 2147483648\n@ SOA ns hm 1 2 3 4 5\na 2147483647 A 192.0.2.1\nb 4294967295 A 192.0.2.1\nc A 192.0.2.1\n$GENERATE 1-1 g 3000000000 A 192.0.2.1\n",
            "t.",
        )
        .expect("zone");
        let ttls: Vec<u32> = records.iter().map(|r| r.ttl).collect();
        assert_eq!(ttls, [0, 2_147_483_647, 0, 0, 0]);
        let error = read("$TTL 4294967296\n", "t.").expect_err("overflow");
        assert_eq!(error.to_string(), "test.zone:1: bad $TTL '4294967296'");
        let error = read("a 4294967295w4294967295w A 1.2.3.4\n", "t.").expect_err("overflow");
        assert!(
            error.to_string().starts_with("test.zone:1: bad TTL"),
            "{error}"
        );
    }

    #[test]
    fn generate_is_bounded() {
        let error = read("$TTL 1\n$GENERATE 0-4294967295 h$ A 192.0.2.1\n", "t.")
            .expect_err("cap")
            .to_string();
        assert_eq!(
            error,
            "test.zone:2: $GENERATE range '0-4294967295' makes 4294967296 records; at most 10000000 are allowed"
        );
        let origin = Name::parse("t.", None).expect("origin");
        let reader = |text: &str| {
            ZoneReader::new(
                Box::new(std::io::Cursor::new(text.as_bytes().to_vec())),
                "test.zone",
                None,
                origin.clone(),
            )
            .max_generate(4)
        };
        let mut ok = reader("$TTL 1\n$GENERATE 1-2 a$ A 1.2.3.4\n$GENERATE 0-3/2 b$ A 1.2.3.4\n");
        assert_eq!(read_all(&mut ok).expect("4 records").len(), 4);
        let mut over = reader("$TTL 1\n$GENERATE 1-2 a$ A 1.2.3.4\n$GENERATE 0-4/2 b$ A 1.2.3.4\n");
        assert!(read_all(&mut over).is_err());
    }

    #[test]
    fn errors_quote_short_escaped_excerpts() {
        let secret = format!("PKCS11_PIN=1234\u{1}{}", "S".repeat(100));
        let error = read(&format!("$TTL 1\n{secret} A 1.2.3.4\n"), "t.").expect_err("owner");
        let text = error.to_string();
        assert!(text.contains("'PKCS11_PIN=1234\\001SSSS"), "{text}");
        assert!(!text.contains(&"S".repeat(30)), "{text}");
        let error = read(&format!("$TTL 1\na TXT {secret}\\"), "t.").expect_err("lexer");
        assert!(!error.to_string().contains("SSSS"), "{error}");
    }

    #[test]
    fn includes_refuse_pseudo_files_directories_and_escapes_from_the_root() {
        let dir = std::env::temp_dir().join(format!("p11dnssec-guard-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("root")).expect("dir");
        std::fs::write(dir.join("outside.db"), "x A 192.0.2.9\n").expect("write");
        std::fs::write(dir.join("root/inside.db"), "y A 192.0.2.9\n").expect("write");
        let error = read("$INCLUDE /proc/self/environ\n", "e.").expect_err("proc");
        assert_eq!(
            error.to_string(),
            "test.zone:1: $INCLUDE '/proc/self/environ': refusing to read a file under /proc"
        );
        let error = read("$INCLUDE /dev/null\n", "e.").expect_err("dev");
        assert!(error.to_string().ends_with("under /dev"), "{error}");
        let error = read(&format!("$INCLUDE {}\n", dir.display()), "e.").expect_err("dir");
        assert!(error.to_string().ends_with("not a regular file"), "{error}");
        let origin = Name::parse("e.", None).expect("origin");
        let confined = |text: String| {
            let reader = ZoneReader::new(
                Box::new(std::io::Cursor::new(text.into_bytes())),
                "test.zone",
                None,
                origin.clone(),
            )
            .include_root(&dir.join("root"))
            .expect("root");
            let mut reader = reader;
            read_all(&mut reader)
        };
        let error = confined(format!("$INCLUDE {}/root/../outside.db\n", dir.display()))
            .expect_err("outside");
        assert!(
            error.to_string().ends_with("outside the include root"),
            "{error}"
        );
        let inside = confined(format!(
            "$TTL 1\n$INCLUDE {}/root/inside.db\n",
            dir.display()
        ));
        assert_eq!(inside.expect("inside").len(), 1);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn includes_with_origin_and_loops() {
        let dir = std::env::temp_dir().join(format!("p11dnssec-include-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let inner = dir.join("inner.db");
        std::fs::write(&inner, "host A 192.0.2.9\n").expect("write");
        let text = format!(
            "$TTL 5\n$INCLUDE {} sub.e.\nafter A 192.0.2.1\n",
            inner.display()
        );
        let records = read(&text, "e.").expect("include");
        assert_eq!(records[0].owner.to_string(), "host.sub.e.");
        assert_eq!(records[1].owner.to_string(), "after.e.");
        let looping = dir.join("loop.db");
        std::fs::write(&looping, format!("$INCLUDE {}\n", looping.display())).expect("write");
        let error = read(&format!("$INCLUDE {}\n", looping.display()), "e.").expect_err("loop");
        assert!(error.to_string().contains("$INCLUDE loop"), "{error}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
