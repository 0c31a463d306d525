//! ksr-request: the online side of an offline-KSK ceremony, as BIND 9.20's
//! `dnssec-ksr request`: the ZSKs of each future time slot, to be signed
//! by the KSK elsewhere.

use common::cli::{self, Opt, Parsed};
use common::keyfile::KeyFileTrust;
use common::ksr::format::{self, Bundle, Kind, Record};
use common::ksr::request::{bundles, TimedKey};
use common::name::Name;
use common::record::RType;
use common::time::{self, parse_bind_time, KeyTime};
use common::{output::AtomicFile, Error, Result};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

const HELP: &str = "\
Usage: ksr-request [options] -e END zone

Write a key signing request (BIND 9.20's KSR format) for the ZSKs of zone in
the key directory: a bundle at the start of the period and at every ZSK
Publish and Delete time up to END, each listing the ZSKs published then (the
same rule zone-sign -S uses). The KSK's ceremony signs it with ksr-sign; no
token is opened and no PIN is needed.

Options:
  -K DIR           key directory with the ZSK key files (default .)
  -i DATE          start of the period (default now; BIND's date syntax:
                   YYYYMMDDHHMMSS, Unix seconds, now+N, +N with units)
  -e DATE          end of the period (required)
  -f FILE          write the request to FILE (replaced atomically; default
                   stdout)
      --unix-time  bundle times in the headers as Unix seconds, the form Knot
                   3.2's keymgr reads (BIND reads both)
      --insecure-key-dir  read key files and a DIR that anyone may write
                   (refused otherwise; group-writable gets a warning)
  -h, --help       print this help
  -V, --version    print the version

Exit status: 0 success, 1 failure (no ZSK for a slot, bad key file), 2 usage
error.
";

#[derive(Debug, Default)]
struct Args {
    key_dir: Option<PathBuf>,
    start: Option<String>,
    end: Option<String>,
    output: Option<PathBuf>,
    insecure_key_dir: bool,
    unix_time: bool,
    zone: Option<String>,
}

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Parsed<Args>> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut a = Args::default();
    while let Some(opt) = cli::next_opt(&mut parser)? {
        match &opt {
            Opt::Short('K') => a.key_dir = Some(PathBuf::from(cli::value_os(&mut parser, &opt)?)),
            Opt::Short('i') => a.start = Some(cli::value(&mut parser, &opt)?),
            Opt::Short('e') => a.end = Some(cli::value(&mut parser, &opt)?),
            Opt::Short('f') => a.output = Some(PathBuf::from(cli::value_os(&mut parser, &opt)?)),
            _ if opt.is_long("insecure-key-dir") => a.insecure_key_dir = true,
            _ if opt.is_long("unix-time") => a.unix_time = true,
            _ if opt.is('h', "help") => return Ok(Parsed::Help),
            _ if opt.is('V', "version") => return Ok(Parsed::Version),
            Opt::Value(value) if a.zone.is_none() => {
                a.zone = Some(value.to_string_lossy().into_owned())
            }
            _ => return Err(opt.unexpected()),
        }
    }
    if a.zone.is_none() {
        return Err(Error::usage("no zone name given"));
    }
    if a.end.is_none() {
        return Err(Error::usage("a request needs an end date (-e)"));
    }
    Ok(Parsed::Run(a))
}

fn main() -> ExitCode {
    cli::main_with("ksr-request", HELP, |_| {
        parse_args(std::env::args_os().skip(1))?.run(|args| run(&args))
    })
}

fn date(text: &str, now: i64) -> Result<i64> {
    match parse_bind_time(text, now, now)? {
        KeyTime::Set(t) => Ok(t),
        KeyTime::Unset => Err(Error::usage(format!("'{text}' is not a date"))),
    }
}

fn run(args: &Args) -> Result<()> {
    let now = time::now();
    let zone = args.zone.clone().unwrap_or_default();
    let origin = Name::parse(&zone, Some(&Name::root()))
        .map_err(|e| Error::usage(format!("bad zone name '{zone}': {e}")))?;
    let start = args.start.as_deref().map_or(Ok(now), |t| date(t, now))?;
    let end = date(args.end.as_deref().unwrap_or_default(), now)?;
    // The output is begun before the work: a bad -f fails at once.
    let out = args.output.as_deref().map(AtomicFile::create).transpose()?;
    let dir = args.key_dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let trust = KeyFileTrust::new(args.insecure_key_dir);
    let pairs = common::ksr::zone_key_files(&dir, &origin, &trust)?;
    let zsks: Vec<&common::keymeta::KeyPairFiles> =
        pairs.iter().filter(|p| !p.record.dnskey.is_ksk()).collect();
    if zsks.is_empty() {
        return Err(Error::NotFound(format!(
            "no ZSK key files of {origin} in '{}'",
            dir.display()
        )));
    }
    // The DNSKEY TTL: the ZSK files' (the shortest), else BIND's
    // dnskey-ttl default of one hour.
    let ttl = zsks
        .iter()
        .filter_map(|p| p.record.ttl)
        .filter(|&t| t > 0)
        .min()
        .unwrap_or(3600);
    let keys: Vec<TimedKey> = zsks
        .iter()
        .map(|p| TimedKey {
            dnskey: p.record.dnskey.clone(),
            timing: p.timing.clone(),
        })
        .collect();
    let slots: Vec<Bundle> = bundles(&keys, start, end)?
        .into_iter()
        .map(|(t, keys)| Bundle {
            time: t,
            line: 0,
            records: keys
                .iter()
                .map(|k| Record {
                    ttl,
                    rtype: RType::DNSKEY,
                    rdata: k.rdata(),
                    line: 0,
                })
                .collect(),
        })
        .collect();
    let text = format::write(Kind::Request, &origin, &slots, &[], now, args.unix_time);
    common::output::write_text_or_stdout(out, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_a_zone_and_an_end() {
        for args in [&["-e", "+90d"][..], &["example.com"], &["-x", "z"]] {
            let error = cli::parse_literal(parse_args, args).expect_err("usage");
            assert_eq!(error.exit_code(), 2, "{args:?}");
        }
        let args = cli::parse_literal(parse_args, &["-K", "k", "-i", "now", "-e", "+90d", "z"])
            .expect("parse");
        assert_eq!(args.zone.as_deref(), Some("z"));
    }
}
