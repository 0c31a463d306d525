//! key-settime: BIND's dnssec-settime for key files, token keys
//! (`Engine:`/`Label:`) and BIND's own file keys alike.

use common::cli::{self, Environment, Opt, Parsed};
use common::keyfile::{key_file_path, KeyFileTrust};
use common::keymeta::{apply_settime, write_in_place, KeyPairFiles, PrintFields, TimingChanges};
use common::time::{self, parse_bind_time};
use common::{output::Stdout, Error, Result};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

const HELP: &str = "\
Usage: key-settime [-f] [-K dir] [-L ttl] [-P date] [-P sync date] [-P ds date]
                   [-A date] [-R date] [-I date] [-D date] [-D sync date]
                   [-D ds date] [-S predecessor] [-i interval] [-p what] [-u]
                   [-E engine] [-v level] keyfile

Change the timing metadata of a key, as BIND's dnssec-settime does: the
comments of its .key file and the timing lines of its .private file are
rewritten in place (each file complete or not at all; .private mode 0600),
every other line (Label:, Engine:, External:, key material) kept. Works on
token keys and on BIND's own file keys. Prints the paths written.

Options:
  -P DATE            publish time; -P sync DATE: CDS/CDNSKEY publish time;
                     -P ds DATE: when the DS was seen in the parent
  -A DATE            activation time
  -R DATE            revocation time (metadata only: see key-revoke)
  -I DATE            inactivation time
  -D DATE            deletion time; -D sync DATE: CDS/CDNSKEY delete time;
                     -D ds DATE: accepted, not saved (BIND keeps it in .state)
  -S KEY             make the key the successor of KEY: published INTERVAL
                     before KEY goes inactive, active when it does
  -i INTERVAL        prepublication interval (default 30d with -S; without
                     -S, with -P or -A alone, sets the other)
  -L TTL             TTL of the DNSKEY record (0 or none: no TTL)
  -f                 write dates that contradict each other (deleted before
                     inactive, inactive before active, ...) with a warning
                     instead of refusing them; upgrade v1.2 key files
  -p WHAT            print times: C P Psync Pds A R I D Dsync Dds, or all
  -u                 print times as Unix seconds
  -K DIR             directory of the key files
      --insecure-key-dir  trust key files and a DIR that anyone may write, and
                     symlinked key files (refused otherwise; group-writable
                     gets a warning)
  -E ENGINE          accepted for compatibility and ignored
  -v LEVEL           with 3 or more, name the key on stderr
  -h, --help         print this help
  -V, --version      print the version

Dates: YYYYMMDD[HHMMSS], Unix seconds, now, none, each with +N/-N[unit]; +N alone
counts from now. Units s, mi, h, d, w, mo, y.

Exit status: 0 success (also when nothing changed), 1 failure, 2 usage error.
";

/// One timing option's raw date; dates are read against "now" in `run`.
type Date = Option<String>;

#[derive(Debug, Default)]
struct Args {
    /// -P -A -R -I -D, -P sync, -D sync, -P ds, -D ds.
    dates: [Date; 9],
    successor_of: Option<String>,
    interval: Option<i64>,
    ttl: Option<u32>,
    force: bool,
    print: PrintFields,
    unix: bool,
    directory: Option<PathBuf>,
    insecure_key_dir: bool,
    verbose: u32,
    key: Option<String>,
}

const DATE_OPTIONS: [&str; 9] = [
    "-P", "-A", "-R", "-I", "-D", "-P sync", "-D sync", "-P ds", "-D ds",
];

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Parsed<Args>> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut parsed = Args::default();
    while let Some(opt) = cli::next_opt(&mut parser)? {
        // BIND stops at the first operand: anything after it is refused
        // rather than read as an option.
        if parsed.key.is_some() {
            return Err(Error::usage("extraneous arguments"));
        }
        match opt {
            Opt::Short(letter @ ('P' | 'A' | 'R' | 'I' | 'D')) => {
                let mut value = cli::value(&mut parser, &opt)?;
                let mut qualifier = "";
                for word in ["sync", "ds", "dnskey"] {
                    if matches!(letter, 'P' | 'D') && value.eq_ignore_ascii_case(word) {
                        value = cli::value(&mut parser, &opt).map_err(|_| {
                            Error::usage(format!("missing argument -{letter} {word}"))
                        })?;
                        qualifier = if word == "dnskey" { "" } else { word };
                        break;
                    }
                }
                let option = format!(
                    "-{letter}{}{qualifier}",
                    if qualifier.is_empty() { "" } else { " " }
                );
                let index = DATE_OPTIONS.iter().position(|o| *o == option).unwrap_or(0);
                if parsed.dates[index].is_some() {
                    return Err(Error::usage(format!("{option} specified more than once")));
                }
                parsed.dates[index] = Some(value);
            }
            _ if opt.is_short('S') => parsed.successor_of = Some(cli::value(&mut parser, &opt)?),
            _ if opt.is_short('i') => {
                let text = cli::value(&mut parser, &opt)?;
                parsed.interval =
                    Some(time::parse_duration(&text).map_err(|e| e.with_value(&text))?);
            }
            _ if opt.is_short('L') => {
                parsed.ttl = Some(time::parse_ttl_argument(&cli::value(&mut parser, &opt)?)?);
            }
            _ if opt.is_short('f') => parsed.force = true,
            _ if opt.is_short('p') => parsed.print.add(&cli::value(&mut parser, &opt)?)?,
            _ if opt.is_short('u') => parsed.unix = true,
            _ if opt.is_short('K') => {
                parsed.directory = Some(PathBuf::from(cli::value_os(&mut parser, &opt)?));
            }
            _ if opt.is_long("insecure-key-dir") => parsed.insecure_key_dir = true,
            _ if opt.is_short('E') => {
                cli::value(&mut parser, &opt)?;
            }
            _ if opt.is_short('v') => {
                let text = cli::value(&mut parser, &opt)?;
                parsed.verbose = text
                    .parse()
                    .map_err(|_| Error::usage("-v must be followed by a number"))?;
            }
            Opt::Short(letter @ ('s' | 'g' | 'd' | 'k' | 'r' | 'z')) => {
                return Err(Error::usage(format!(
                    "-{letter}: .state files (dnssec-policy key states) are not supported: \
                     named manages those keys"
                )))
            }
            _ if opt.is('h', "help") => return Ok(Parsed::Help),
            _ if opt.is('V', "version") => return Ok(Parsed::Version),
            Opt::Value(value) => {
                parsed.key = Some(value.to_string_lossy().into_owned());
            }
            _ => return Err(opt.unexpected()),
        }
    }
    if parsed.key.is_none() {
        return Err(Error::usage("the key file was not specified"));
    }
    Ok(Parsed::Run(parsed))
}

fn main() -> ExitCode {
    cli::main_with("key-settime", HELP, |_: &Environment| {
        parse_args(std::env::args_os().skip(1))?.run(run)
    })
}

/// The `.key` path of a key argument: relative to `-K` when given.
fn key_path(args: &Args, argument: &str) -> PathBuf {
    let path = key_file_path(argument);
    match &args.directory {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path,
    }
}

fn run(args: Args) -> Result<()> {
    common::output::remove_temp_files_on_signals("key-settime")?;
    let now = time::now();
    let date = |text: &Date| {
        text.as_deref()
            .map(|t| parse_bind_time(t, now, now))
            .transpose()
    };
    let d = &args.dates;
    let changes = TimingChanges {
        publish: date(&d[0])?,
        activate: date(&d[1])?,
        revoke: date(&d[2])?,
        inactive: date(&d[3])?,
        delete: date(&d[4])?,
        sync_publish: date(&d[5])?,
        sync_delete: date(&d[6])?,
        ds_publish: date(&d[7])?,
        ds_delete: date(&d[8])?,
        ttl: args.ttl,
        interval: args.interval,
        force: args.force,
    };
    let trust = KeyFileTrust::new(args.insecure_key_dir);
    let mut key = KeyPairFiles::read(&key_path(&args, args.key.as_deref().unwrap_or("")), &trust)?;
    let mut predecessor = match &args.successor_of {
        Some(argument) => Some(KeyPairFiles::read(&key_path(&args, argument), &trust)?),
        None => None,
    };
    if args.verbose > 2 {
        common::cli::stderr_line(&format!("key-settime: {}", key.display_name()));
    }
    let changed = apply_settime(&mut key, &changes, predecessor.as_mut(), now)?;
    // The -p lines wait for the files to be written: a script reading
    // stdout sees the new times only when they are on disk.
    let mut text = key.print_text(&args.print, args.unix);
    if changed {
        let mut pairs = vec![&key];
        pairs.extend(predecessor.as_ref());
        for path in write_in_place(&pairs)? {
            text.push_str(&format!("{}\n", path.display()));
        }
    }
    let mut out = Stdout::new();
    out.text(&text)?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args> {
        cli::parse_literal(parse_args, args)
    }

    #[test]
    fn dates_and_qualifiers() {
        let args = parse(&[
            "-P", "sync", "+1d", "-D", "ds", "now", "-P", "dnskey", "+2d", "-I", "+30d", "-p", "C",
            "-p", "Psync", "-u", "-E", "pkcs11", "K",
        ])
        .expect("parse");
        assert_eq!(args.dates[5].as_deref(), Some("+1d"));
        assert_eq!(args.dates[8].as_deref(), Some("now"));
        assert_eq!(args.dates[0].as_deref(), Some("+2d"));
        assert_eq!(args.dates[3].as_deref(), Some("+30d"));
        assert!(args.print.created && args.print.sync_publish && args.unix);
    }

    #[test]
    fn usage_errors() {
        for args in [
            &[][..],
            &["-P", "now", "-P", "+1d", "K"],
            &["-P", "sync"],
            &["-v", "x", "K"],
            &["-s", "K"],
            &["-p", "Q", "K"],
            &["K", "-P", "+2d"],
            &["-i", "1m", "K"],
        ] {
            let error = parse(args).expect_err("should fail");
            assert_eq!(error.exit_code(), 2, "{args:?}: {error}");
        }
    }
}
