//! dnskey-from-label: the DNSKEY record of a key in a token, on stdout or
//! as BIND key files (BIND's dnssec-keyfromlabel).

use common::algorithm::Algorithm;
use common::cli::{self, ConnectionArgs, Environment, Opt, Parsed};
use common::dnskey::{self, DnsKey, FLAG_REVOKE, FLAG_SEP, FLAG_ZONE};
use common::keyfile::{KeyTiming, TokenKeyFiles};
use common::name::Name;
use common::pkcs11::keypair::find_key_pair;
use common::pkcs11::object::ObjectSelector;
use common::pkcs11::{Access, Token};
use common::record::{format_record, Class, RType};
use common::time::{self, parse_bind_time, KeyTime};
use common::uri::{PathAttr, Pkcs11Uri};
use common::{output::Stdout, Error, Result};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

const HELP: &str = "\
Usage: dnskey-from-label -l label [-a algorithm] [-f KSK|REVOKE] [-L ttl] [-c class]
                         [-K dir [-P date] [-A date] [-R date] [-I date] [-D date] [-G] [-C]]
                         [connection options] name

Print the DNSKEY record of a key pair that lives in a PKCS#11 token, or with
-K write BIND's key files for it (K<name>+<alg>+<tag>.key and .private; the
.private file names the token object, it holds no key material).

Options:
  -l, --label LABEL  the key: its CKA_LABEL, or a pkcs11: URI (object=, id=,
                     token=, serial=, pin-source=); text without ':' is read
                     as BIND reads it (pkcs11: put in front); the key files
                     record the token and object, never a PIN source
  -a, --algorithm ALG  RSASHA1, NSEC3RSASHA1, RSASHA256, RSASHA512,
                     ECDSAP256SHA256, ECDSAP384SHA384, ED25519, ED448 or a
                     number (default: from the key; RSA keys: RSASHA256)
  -3                 with RSASHA1: use NSEC3RSASHA1
  -f, --flag FLAG    KSK (flags 257) or REVOKE (+128); may be repeated
  -L, --ttl TTL      TTL of the DNSKEY record (units s, mi, h, d, w, mo, y)
  -c, --class CLASS  class (default IN)
  -K, --directory DIR  write BIND key files in DIR and print their base name
      --insecure-key-dir  write in a DIR that anyone may write (refused
                     otherwise; a group-writable DIR gets a warning)
  -P DATE            publish time; -P sync DATE: CDS/CDNSKEY publish time
  -A DATE            activation time
  -R DATE            revocation time
  -I DATE            inactivation time
  -D DATE            deletion time; -D sync DATE: CDS/CDNSKEY delete time
  -G                 set no publish or activation time
  -C                 old-style files (Private-key-format v1.2, no times)
  -i INTERVAL        with neither -P nor -A: activate INTERVAL after publication
  -y                 allow a key tag that could collide after revocation
  -n NAMETYPE        ZONE (default) or OTHER
      --protocol N   DNSKEY protocol (must be 3)
  -E ENGINE          BIND's engine: a module path (9.16) is used as -m,
                     an engine name (9.18's 'pkcs11') is ignored
      --no-login     do not log in: read public objects only, ask no PIN
  -v LEVEL           verbosity (accepted for compatibility)
  -h, --help         print this help
  -V, --version      print the version

Dates: YYYYMMDD[HHMMSS], Unix seconds, now, none, each with +N/-N[unit]; +N alone
counts from now.

";

fn help_text() -> String {
    format!(
        "{HELP}{}\nExit status: 0 success, 1 failure, 2 usage error, 3 no such token or key.\n",
        cli::CONNECTION_HELP
    )
}

#[derive(Debug, Default)]
struct Dates {
    publish: Option<String>,
    activate: Option<String>,
    revoke: Option<String>,
    inactive: Option<String>,
    delete: Option<String>,
    sync_publish: Option<String>,
    sync_delete: Option<String>,
}

#[derive(Debug, Default)]
struct Args {
    connection: ConnectionArgs,
    uri: Option<Pkcs11Uri>,
    algorithm: Option<Algorithm>,
    nsec3: bool,
    flags: u16,
    ttl: Option<u32>,
    class: Option<Class>,
    directory: Option<PathBuf>,
    insecure_key_dir: bool,
    dates: Dates,
    no_dates: bool,
    legacy: bool,
    interval: Option<i64>,
    allow_collision: bool,
    no_login: bool,
    name: Option<Name>,
}

fn set_date(slot: &mut Option<String>, option: &str, value: String) -> Result<()> {
    if slot.is_some() {
        return Err(Error::usage(format!("{option} specified more than once")));
    }
    *slot = Some(value);
    Ok(())
}

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Parsed<Args>> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut parsed = Args::default();
    while let Some(opt) = cli::next_opt(&mut parser)? {
        if parsed.connection.take(&opt, &mut parser)? {
            continue;
        }
        match opt {
            _ if opt.is('l', "label") => {
                if parsed.uri.is_some() {
                    return Err(Error::usage("the label is given twice"));
                }
                parsed.uri = Some(Pkcs11Uri::from_bind_label(&cli::value(&mut parser, &opt)?)?);
            }
            _ if opt.is('a', "algorithm") => {
                let text = cli::value(&mut parser, &opt)?;
                parsed.algorithm = Some(
                    Algorithm::parse(&text)
                        .ok_or_else(|| Error::usage(format!("unknown algorithm {text}")))?,
                );
            }
            _ if opt.is_short('3') => parsed.nsec3 = true,
            _ if opt.is('f', "flag") => {
                let text = cli::value(&mut parser, &opt)?;
                // BIND looks at the first letter only.
                parsed.flags |= match text.chars().next().map(|c| c.to_ascii_uppercase()) {
                    Some('K') => FLAG_SEP,
                    Some('R') => FLAG_REVOKE,
                    _ => return Err(Error::usage(format!("unknown flag '{text}'"))),
                };
            }
            _ if opt.is('L', "ttl") => {
                parsed.ttl = Some(time::parse_ttl_argument(&cli::value(&mut parser, &opt)?)?);
            }
            _ if opt.is('c', "class") => {
                let text = cli::value(&mut parser, &opt)?;
                parsed.class = Some(
                    Class::parse(&text)
                        .ok_or_else(|| Error::usage(format!("unknown class {text}")))?,
                );
            }
            _ if opt.is('K', "directory") => {
                parsed.directory = Some(PathBuf::from(cli::value_os(&mut parser, &opt)?));
            }
            Opt::Short(letter @ ('P' | 'A' | 'R' | 'I' | 'D')) => {
                let value = cli::value(&mut parser, &opt)?;
                let sync = value.eq_ignore_ascii_case("sync");
                let value = if sync || (letter == 'P' && value.eq_ignore_ascii_case("dnskey")) {
                    cli::value(&mut parser, &opt)?
                } else {
                    value
                };
                let option = format!("-{letter}{}", if sync { " sync" } else { "" });
                let dates = &mut parsed.dates;
                let slot = match (letter, sync) {
                    ('P', true) => &mut dates.sync_publish,
                    ('D', true) => &mut dates.sync_delete,
                    ('P', false) => &mut dates.publish,
                    ('A', false) => &mut dates.activate,
                    ('R', false) => &mut dates.revoke,
                    ('I', false) => &mut dates.inactive,
                    ('D', false) => &mut dates.delete,
                    _ => return Err(Error::usage(format!("-{letter} sync is not an option"))),
                };
                set_date(slot, &option, value)?;
            }
            _ if opt.is_long("insecure-key-dir") => parsed.insecure_key_dir = true,
            _ if opt.is_short('G') => parsed.no_dates = true,
            _ if opt.is_short('C') => parsed.legacy = true,
            _ if opt.is_short('i') => {
                let text = cli::value(&mut parser, &opt)?;
                parsed.interval =
                    Some(time::parse_duration(&text).map_err(|e| e.with_value(&text))?);
            }
            _ if opt.is_short('y') => parsed.allow_collision = true,
            _ if opt.is_short('n') => {
                let text = cli::value(&mut parser, &opt)?;
                if !matches!(text.to_ascii_uppercase().as_str(), "ZONE" | "OTHER") {
                    return Err(Error::usage(format!("invalid DNSKEY nametype {text}")));
                }
            }
            _ if opt.is_long("protocol") => {
                let text = cli::value(&mut parser, &opt)?;
                if text != "3" {
                    return Err(Error::usage(format!("invalid DNSKEY protocol: {text}")));
                }
            }
            _ if opt.is_short('E') => {
                let engine = cli::value(&mut parser, &opt)?;
                if engine.contains('/') && parsed.connection.module.is_none() {
                    parsed.connection.module = Some(PathBuf::from(engine));
                }
            }
            _ if opt.is_short('k') => {
                return Err(Error::usage(
                    "KEY records (-k) are not supported: DNSKEY only",
                ))
            }
            _ if opt.is_short('S') => {
                return Err(Error::usage(
                    "successor keys (-S) are not supported: set -P and -A on the new key",
                ))
            }
            _ if opt.is_short('t') => {
                cli::value(&mut parser, &opt)?;
            }
            _ if opt.is_short('v') => {
                cli::value(&mut parser, &opt)?;
            }
            _ if opt.is_long("no-login") => parsed.no_login = true,
            _ if opt.is('h', "help") => return Ok(Parsed::Help),
            _ if opt.is('V', "version") => return Ok(Parsed::Version),
            Opt::Value(value) => {
                if parsed.name.is_some() {
                    return Err(Error::usage("extraneous arguments"));
                }
                let text = value.to_string_lossy();
                parsed.name = Some(
                    Name::parse(&text, Some(&Name::root()))
                        .map_err(|e| Error::usage(format!("invalid key name {text}: {e}")))?,
                );
            }
            _ => return Err(opt.unexpected()),
        }
    }
    if parsed.uri.is_none() {
        return Err(Error::usage("the key label was not specified (-l)"));
    }
    if parsed.name.is_none() {
        return Err(Error::usage("the key name was not specified"));
    }
    let dates = &parsed.dates;
    let any_date = dates.publish.is_some()
        || dates.activate.is_some()
        || dates.revoke.is_some()
        || dates.inactive.is_some()
        || dates.delete.is_some()
        || dates.sync_publish.is_some()
        || dates.sync_delete.is_some();
    if parsed.legacy && (any_date || parsed.no_dates) {
        return Err(Error::usage(
            "cannot use -C together with -P, -A, -R, -I, -D, or -G options",
        ));
    }
    if parsed.no_dates && (dates.publish.is_some() || dates.activate.is_some()) {
        return Err(Error::usage("cannot use -G together with -P or -A options"));
    }
    Ok(Parsed::Run(parsed))
}

fn main() -> ExitCode {
    cli::main_with("dnskey-from-label", &help_text(), |environment| {
        parse_args(std::env::args_os().skip(1))?.run(|args| run(args, environment))
    })
}

/// The key's timing metadata from the options, as BIND sets it.
fn timing(args: &Args, now: i64) -> Result<KeyTiming> {
    let date = |text: &Option<String>| -> Result<Option<i64>> {
        match text {
            None => Ok(None),
            Some(text) => Ok(match parse_bind_time(text, now, now)? {
                KeyTime::Set(t) => Some(t),
                KeyTime::Unset => None,
            }),
        }
    };
    let d = &args.dates;
    let mut timing = KeyTiming {
        created: Some(now),
        publish: date(&d.publish)?,
        activate: date(&d.activate)?,
        revoke: date(&d.revoke)?,
        inactive: date(&d.inactive)?,
        delete: date(&d.delete)?,
        sync_publish: date(&d.sync_publish)?,
        sync_delete: date(&d.sync_delete)?,
        ds_publish: None,
    };
    if !args.no_dates {
        let interval = args.interval.filter(|&i| i > 0);
        match (d.publish.is_some(), d.activate.is_some(), interval) {
            (false, false, Some(interval)) => {
                timing.publish = Some(now);
                timing.activate = Some(now + interval);
            }
            _ => {
                if d.publish.is_none() {
                    timing.publish = Some(now);
                }
                if d.activate.is_none() {
                    timing.activate = Some(now);
                }
            }
        }
    }
    Ok(timing)
}

fn run(args: Args, environment: &Environment) -> Result<()> {
    common::output::remove_temp_files_on_signals("dnskey-from-label")?;
    let now = time::now();
    let timing = timing(&args, now)?;
    // Before the token is opened: a refused directory costs no login.
    if let Some(directory) = args.directory.as_deref().filter(|d| d.is_dir()) {
        common::keyfile::KeyFileTrust::new(args.insecure_key_dir).check_dir(directory)?;
    }
    let uri = args.uri.clone().unwrap_or_default();
    let name = args.name.clone().unwrap_or_else(Name::root);
    let spec = args.connection.resolve(Some(&uri), environment)?;
    let access = if args.no_login {
        Access::PublicReadOnly
    } else {
        Access::ReadOnly
    };
    let token = Token::open(&spec, access, |_| Ok(()))?;
    let selector = ObjectSelector::from_uri(&uri);
    if selector.label.is_none() && selector.id.is_none() {
        return Err(Error::usage(
            "the label names no object: give object= or id=",
        ));
    }
    let pair = find_key_pair(&token.session, &selector)?;
    if pair.private.is_none() && !args.no_login {
        cli::warn("the token shows no private key for this public key: it cannot sign");
    }
    let mut algorithm = args
        .algorithm
        .unwrap_or_else(|| dnskey::default_algorithm(&pair.public_key));
    if args.nsec3 && algorithm == Algorithm::RsaSha1 {
        algorithm = Algorithm::Nsec3RsaSha1;
    }
    if matches!(algorithm, Algorithm::RsaSha1 | Algorithm::Nsec3RsaSha1) {
        cli::warn(&format!(
            "DNSKEY algorithm '{algorithm}' is deprecated (RFC 8624): do not sign with it"
        ));
    }
    if timing.revoke.is_some() && args.flags & FLAG_SEP == 0 {
        cli::warn(
            "Key is not flagged as a KSK, but -R was used. Revoking a ZSK is legal, but undefined.",
        );
    }
    if args.flags & FLAG_SEP == 0
        && selector.label.as_ref().is_some_and(|l| {
            String::from_utf8_lossy(l)
                .to_ascii_lowercase()
                .contains("ksk")
        })
    {
        cli::warn(
            "the label names a KSK but -f KSK is not given: this DNSKEY has flags 256 (a ZSK), and a DS made from it will not match the key once published with flags 257",
        );
    }
    let dnskey = DnsKey::from_public_key(&pair.public_key, algorithm, FLAG_ZONE | args.flags)?;
    let class = args.class.unwrap_or(Class::IN);
    let mut out = Stdout::new();
    let Some(directory) = &args.directory else {
        let line = format_record(
            &name,
            args.ttl.filter(|&t| t != 0),
            class,
            RType::DNSKEY,
            &dnskey.rdata_text(),
        );
        out.line(&line)?;
        return out.flush();
    };
    if !directory.is_dir() {
        return Err(Error::Failed(format!(
            "cannot open directory '{}'",
            directory.display()
        )));
    }
    let files = TokenKeyFiles {
        owner: name,
        ttl: args.ttl,
        class,
        dnskey,
        timing,
        label: stored_label(&token, &pair),
        legacy: args.legacy,
    };
    if !args.allow_collision {
        check_revoke_collision(&files, directory)?;
    }
    refuse_external(&files, directory)?;
    let base = files.write(directory)?;
    let file_name = base
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    out.line(&file_name)?;
    out.flush()
}

/// An existing pair for this key that BIND's dnssec-importkey wrote
/// (`External:`: a publish-only key) is never replaced (the files are made
/// with O_EXCL anyway); say what it is and how to go on.
fn refuse_external(files: &TokenKeyFiles, directory: &std::path::Path) -> Result<()> {
    let private = directory.join(files.base_name() + ".private");
    let Ok(text) = std::fs::read_to_string(&private) else {
        return Ok(());
    };
    if text
        .lines()
        .any(|l| l.trim_start().starts_with("External:"))
    {
        return Err(Error::Failed(format!(
            "'{}' is a publish-only key (External:, from dnssec-importkey) for this key; it is left as it is: move that pair away to write the token key's files",
            private.display()
        )));
    }
    Ok(())
}

/// The URI stored in `.private`: the token (label, serial) and the object
/// (label, id). Never a PIN or a PIN source (BIND 9.16 stored the
/// pin-source as typed; zone-sign refuses a key file that chooses the PIN).
fn stored_label(token: &Token, pair: &common::pkcs11::keypair::KeyPair) -> String {
    let mut uri = Pkcs11Uri::default();
    if let Some(info) = &token.slot.token {
        uri.set(PathAttr::Token, Some(info.label().as_bytes().to_vec()));
        uri.set(
            PathAttr::Serial,
            Some(info.serial_number().as_bytes().to_vec()),
        );
    }
    uri.set(PathAttr::Object, Some(pair.label.clone()));
    if !pair.id.is_empty() {
        uri.set(PathAttr::Id, Some(pair.id.clone()));
    }
    uri.to_string()
}

/// BIND refuses a key whose tag, once revoked (or unrevoked), equals that
/// of a key already in the directory, unless -y.
fn check_revoke_collision(files: &TokenKeyFiles, directory: &std::path::Path) -> Result<()> {
    let mut other = files.dnskey.clone();
    other.flags ^= FLAG_REVOKE;
    let base = common::keyfile::base_name(&files.owner, other.algorithm, other.key_tag());
    let path = directory.join(format!("{base}.key"));
    if path.exists() {
        return Err(Error::Failed(format!(
            "'{}' could collide with another key upon revocation (use -y to allow)",
            directory.join(files.base_name()).display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args> {
        cli::parse_literal(parse_args, args)
    }

    #[test]
    fn parses_the_guides_command() {
        let args = parse(&[
            "-a",
            "RSASHA256",
            "-l",
            "ksk-example-com",
            "-m",
            "/lib.so",
            "-s",
            "0",
            "-p",
            "1234",
            "example.com",
        ])
        .expect("guide");
        assert_eq!(args.algorithm, Some(Algorithm::RsaSha256));
        assert_eq!(
            args.name.map(|n| n.to_string()),
            Some("example.com.".into())
        );
        let uri = args.uri.expect("uri");
        assert_eq!(uri.get(PathAttr::Object), Some(&b"ksk-example-com"[..]));
    }

    #[test]
    fn flags_dates_and_sync() {
        let args = parse(&[
            "-l", "k", "-f", "KSK", "-f", "revoke", "-P", "sync", "+1d", "-A", "now", "-K", ".",
            "x",
        ])
        .expect("parse");
        assert_eq!(args.flags, FLAG_SEP | FLAG_REVOKE);
        assert_eq!(args.dates.sync_publish.as_deref(), Some("+1d"));
        assert_eq!(args.dates.activate.as_deref(), Some("now"));
        let t = timing(&args, 1000).expect("timing");
        assert_eq!(
            (t.created, t.publish, t.activate, t.sync_publish),
            (Some(1000), Some(1000), Some(1000), Some(87_400))
        );
        let args = parse(&["-l", "k", "-G", "x"]).expect("G");
        assert_eq!(timing(&args, 5).expect("timing").publish, None);
        let args = parse(&["-l", "k", "-i", "1d", "x"]).expect("i");
        assert_eq!(timing(&args, 0).expect("timing").activate, Some(86_400));
    }

    #[test]
    fn usage_errors() {
        for args in [
            &["x"][..],
            &["-l", "k"],
            &["-l", "k", "-a", "DSA", "x"],
            &["-l", "k", "-f", "ZSK", "x"],
            &["-l", "k", "-P", "now", "-P", "now", "x"],
            &["-l", "k", "-C", "-P", "now", "x"],
            &["-l", "k", "-G", "-A", "now", "x"],
            &["-l", "k", "-k", "x"],
            &["-l", "k", "--protocol", "2", "x"],
            &["-l", "k", "x", "y"],
            &["-l", "k", "a..b"],
            &["-l", "file:k", "x"],
        ] {
            let error = parse(args).expect_err("should fail");
            assert_eq!(error.exit_code(), 2, "{args:?}: {error}");
        }
    }
}
