//! ds-from-key: DS (or CDS, CDNSKEY) records from DNSKEY records, byte for
//! byte as BIND's dnssec-dsfromkey prints them.

use common::cli::{self, Environment, Opt, Parsed};
use common::ds::{ds_rdata_text, DigestType};
use common::keyfile::{key_file_path, read_dnskeys, read_key_file, KeyRecord};
use common::name::Name;
use common::record::{format_record, Class, RType};
use common::zone::ZoneReader;
use common::{output::Stdout, time, Error, Result};
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

const HELP: &str = "\
Usage: ds-from-key [options] keyfile
       ds-from-key [options] -f zonefile [zonename]
       ds-from-key [options] -s zonename
       ds-from-key [options] < dnskey-records

Print the DS records of DNSKEY records, as BIND's dnssec-dsfromkey does: one
line per key and digest, digests in ascending type order, hex in upper case.
Revoked keys are skipped. With no key file, -f or -s, DNSKEY records are read
from stdin and every key gets its DS (so that dnskey-from-label can pipe in).

Options:
  -1                  SHA-1 digest (deprecated by RFC 8624)
  -2                  SHA-256 digest (the default when no digest is asked for)
  -a, --digest ALG    a digest: SHA-1, SHA-256, SHA-384 or 1, 2, 4 (repeatable)
  -A                  with -f: ZSKs too (keys without the KSK flag)
  -C                  print CDS instead of DS records
      --cdnskey       print the CDNSKEY record of each key as well
  -c, --class CLASS   class of -f and -s input (default IN)
  -f, --file FILE     read the DNSKEY RRset at the zone apex from a zone file
                      (- is stdin); the zone name is the operand, else the
                      owner of the keys, else the file name
  -K, --directory DIR directory of the -s keyset file
  -d DIR              deprecated spelling of -K
  -s                  read keyset-<zonename>. from the -K directory
      --insecure-key-dir  read a key file, or a key file in a directory, that
                      anyone may write, or a symbolic link (refused otherwise)
  -T, --ttl TTL       print this TTL in each record (units s, mi, h, d, w, mo, y)
  -v LEVEL            with 3 or more, name each key on stderr
  -h, --help          print this help
  -V, --version       print the version

Exit status: 0 success (also when every key was revoked), 1 failure, 2 usage error.
";

#[derive(Debug, Default)]
struct Args {
    digests: BTreeSet<DigestType>,
    sha1_asked: bool,
    include_zsks: bool,
    cds: bool,
    cdnskey: bool,
    class: Option<Class>,
    file: Option<String>,
    keyset: bool,
    directory: Option<PathBuf>,
    ttl: Option<u32>,
    verbose: u32,
    operand: Option<OsString>,
    insecure_key_dir: bool,
}

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Parsed<Args>> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut parsed = Args::default();
    while let Some(opt) = cli::next_opt(&mut parser)? {
        match opt {
            _ if opt.is_short('1') => parsed.add_digest(DigestType::Sha1)?,
            _ if opt.is_short('2') => parsed.add_digest(DigestType::Sha256)?,
            _ if opt.is('a', "digest") => {
                let digest = DigestType::parse(&cli::value(&mut parser, &opt)?)?;
                parsed.add_digest(digest)?;
            }
            _ if opt.is_short('A') => parsed.include_zsks = true,
            _ if opt.is_short('C') => parsed.cds = true,
            _ if opt.is_long("cdnskey") => parsed.cdnskey = true,
            _ if opt.is_long("insecure-key-dir") => parsed.insecure_key_dir = true,
            _ if opt.is('c', "class") => {
                let text = cli::value(&mut parser, &opt)?;
                parsed.class = Some(
                    Class::parse(&text)
                        .ok_or_else(|| Error::usage(format!("unknown class {text}")))?,
                );
            }
            _ if opt.is('f', "file") => parsed.file = Some(cli::value(&mut parser, &opt)?),
            _ if opt.is('K', "directory") => {
                parsed.directory = Some(PathBuf::from(cli::value_os(&mut parser, &opt)?));
            }
            _ if opt.is_short('d') => {
                cli::warn("the -d option is deprecated; use -K");
                parsed.directory = Some(PathBuf::from(cli::value_os(&mut parser, &opt)?));
            }
            _ if opt.is_short('s') => parsed.keyset = true,
            _ if opt.is('T', "ttl") => {
                parsed.ttl = Some(time::parse_ttl_argument(&cli::value(&mut parser, &opt)?)?);
            }
            _ if opt.is_short('v') => {
                parsed.verbose =
                    cli::value_parsed(&mut parser, &opt, "a number", |s| s.parse().ok())?;
            }
            _ if opt.is_short('l') => {
                return Err(Error::Failed(
                    "-l option (DLV lookaside) is obsolete".into(),
                ))
            }
            _ if opt.is('h', "help") => return Ok(Parsed::Help),
            _ if opt.is('V', "version") => return Ok(Parsed::Version),
            Opt::Value(value) => {
                if parsed.operand.is_some() {
                    return Err(Error::usage("extraneous arguments"));
                }
                parsed.operand = Some(value);
            }
            _ => return Err(opt.unexpected()),
        }
    }
    if parsed.keyset && parsed.file.is_some() {
        return Err(Error::usage("cannot use both -s and -f"));
    }
    if parsed.keyset && parsed.operand.is_none() {
        return Err(Error::usage("-s needs the zone name"));
    }
    if parsed.digests.is_empty() {
        parsed.digests.insert(DigestType::Sha256);
    }
    Ok(Parsed::Run(parsed))
}

impl Args {
    fn add_digest(&mut self, digest: DigestType) -> Result<()> {
        self.sha1_asked |= digest == DigestType::Sha1;
        self.digests.insert(digest);
        Ok(())
    }
}

fn main() -> ExitCode {
    cli::main_with("ds-from-key", HELP, |environment| {
        parse_args(std::env::args_os().skip(1))?.run(|args| run(&args, environment))
    })
}

fn run(args: &Args, _environment: &Environment) -> Result<()> {
    let keys = select_keys(args)?;
    if args.sha1_asked && !keys.is_empty() {
        cli::warn("DS digest type 1 (SHA-1) is deprecated (RFC 8624)");
    }
    let record_type = if args.cds { RType::CDS } else { RType::DS };
    let mut out = Stdout::new();
    for key in &keys {
        // The guide's ceremony writes a KSK's key file without -f KSK: the
        // DS handed to the registrar is then for flags 256, and the key
        // later published with flags 257 has another tag (a bogus zone).
        let zsks_asked = args.file.is_some() && args.include_zsks;
        if !key.dnskey.is_ksk() && !zsks_asked {
            let algorithm = key
                .dnskey
                .algorithm()
                .map_or_else(|| key.dnskey.algorithm.to_string(), |a| a.to_string());
            cli::warn(&format!(
                "key {}/{algorithm}/{} has no SEP flag (flags {}, a ZSK): a parent DS for it is only right if this exact key signs the DNSKEY RRset; for a KSK, write its key file with dnskey-from-label -f KSK",
                key.owner.to_string().trim_end_matches('.'),
                key.dnskey.key_tag(),
                key.dnskey.flags
            ));
        }
        if args.verbose >= 3 {
            let algorithm = key
                .dnskey
                .algorithm()
                .map_or_else(|| key.dnskey.algorithm.to_string(), |a| a.to_string());
            common::cli::stderr_line(&format!(
                "ds-from-key: {}/{algorithm}/{}",
                key.owner,
                key.dnskey.key_tag()
            ));
        }
        for digest in &args.digests {
            let rdata = ds_rdata_text(&key.owner, &key.dnskey, *digest);
            out.line(&format_record(
                &key.owner,
                args.ttl,
                key.class,
                record_type,
                &rdata,
            ))?;
        }
        if args.cdnskey {
            let rdata = key.dnskey.rdata_text();
            out.line(&format_record(
                &key.owner,
                args.ttl,
                key.class,
                RType::CDNSKEY,
                &rdata,
            ))?;
        }
    }
    out.flush()
}

/// The keys to print, in BIND's order, revoked ones left out.
fn select_keys(args: &Args) -> Result<Vec<KeyRecord>> {
    let class = args.class.unwrap_or(Class::IN);
    let operand = args
        .operand
        .as_ref()
        .map(|o| o.to_string_lossy().into_owned());
    let (keys, all_keys) = if args.keyset {
        let zone = parse_zone_name(operand.as_deref().unwrap_or("."))?;
        let dir = args.directory.clone().unwrap_or_else(|| PathBuf::from("."));
        let path = dir.join(format!("keyset-{}", zone.key_file_text()));
        let shown = path.display().to_string();
        (zone_keys(&shown, Some(zone), class)?, true)
    } else if let Some(file) = &args.file {
        let zone = match &operand {
            Some(name) => Some(parse_zone_name(name)?),
            None => None,
        };
        (zone_keys(file, zone, class)?, args.include_zsks)
    } else if let Some(argument) = &operand {
        // The keyfile form: -K does not apply (the path is used as given).
        let trust = common::keyfile::KeyFileTrust::new(args.insecure_key_dir);
        let key = read_key_file(&key_file_path(argument), &trust)?;
        (vec![key], true)
    } else {
        (zone_keys("-", None, class)?, true)
    };
    Ok(keys
        .into_iter()
        .filter(|k| !k.dnskey.is_revoked() && (all_keys || k.dnskey.is_ksk()))
        .collect())
}

fn parse_zone_name(text: &str) -> Result<Name> {
    Name::parse(text, Some(&Name::root()))
        .map_err(|e| Error::usage(format!("could not initialize name {text}: {e}")))
}

/// The apex DNSKEYs of a zone file, in canonical RDATA order (as BIND
/// stores the RRset). Without a zone name: the keys' one owner, else the
/// file name as the zone name (BIND's rule).
fn zone_keys(file: &str, zone: Option<Name>, class: Class) -> Result<Vec<KeyRecord>> {
    let origin = zone.clone().unwrap_or_else(Name::root);
    let mut reader = ZoneReader::open(file, origin)?
        .lenient_ttl()
        .with_class(class);
    let keys = read_dnskeys(&mut reader)?;
    let shown = if file == "-" { "input" } else { file };
    let zone = match zone {
        Some(zone) => zone,
        None => {
            let owners: BTreeSet<&Name> = keys.iter().map(|k| &k.owner).collect();
            match owners.into_iter().collect::<Vec<_>>().as_slice() {
                [only] => (*only).clone(),
                _ => parse_zone_name(shown)?,
            }
        }
    };
    apex_of(keys, &zone, shown)
}

fn apex_of(keys: Vec<KeyRecord>, zone: &Name, shown: &str) -> Result<Vec<KeyRecord>> {
    let mut apex: Vec<KeyRecord> = keys
        .into_iter()
        .filter(|k| k.owner.eq_ignore_case(zone))
        .collect();
    if apex.is_empty() {
        return Err(Error::Failed(format!("no DNSKEY RR for {zone} in {shown}")));
    }
    apex.sort_by_key(|k| k.dnskey.rdata());
    apex.dedup_by(|a, b| a.dnskey == b.dnskey);
    Ok(apex)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args> {
        cli::parse_literal(parse_args, args)
    }

    #[test]
    fn digests_default_and_order() {
        let args = parse(&["K"]).expect("default");
        assert_eq!(
            args.digests.iter().copied().collect::<Vec<_>>(),
            [DigestType::Sha256]
        );
        let args = parse(&["-a", "sha384", "-a", "2", "-1", "-2", "K"]).expect("several");
        assert_eq!(
            args.digests.iter().copied().collect::<Vec<_>>(),
            [DigestType::Sha1, DigestType::Sha256, DigestType::Sha384]
        );
    }

    #[test]
    fn usage_errors() {
        for args in [
            &["a", "b"][..],
            &["-s", "-f", "x", "z"],
            &["-a", "MD5", "K"],
            &["-a", "3", "K"],
            &["-T", "1m", "K"],
            &["-x"],
            &["-s"],
        ] {
            let error = parse(args).expect_err("should fail");
            assert_eq!(error.exit_code(), 2, "{args:?}: {error}");
        }
        assert_eq!(parse(&["-l", "x"]).expect_err("obsolete").exit_code(), 1);
    }
}
