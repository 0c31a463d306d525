//! key-coverage: BIND 9.16's dnssec-coverage for a key directory of
//! token (or file) keys: is every moment of the window covered by an
//! active, published KSK and ZSK per algorithm?

use common::cli::{self, Parsed};
use common::keyfile::KeyFileTrust;
use common::keymgr::coverage::{self, CoverageParams};
use common::keymgr::plan;
use common::keymgr::policy::{parse_policy_duration, PolicyFile};
use common::name::Name;
use common::record::RType;
use common::zone::ZoneReader;
use common::{output::Stdout, time, Error, Result};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

const HELP: &str = "\
Usage: key-coverage [options] [zone...]

Check the timing of a zone's keys as BIND's dnssec-coverage does: from now
to the end of the window, some KSK and some ZSK of every algorithm must be
both active and published at every moment; no key may be deleted before a
successor's DNSKEY has propagated; a ZSK must stay published TTLsig + the
re-signing interval after it goes inactive, a KSK the DNSKEY TTL. One line
per gap on stdout, exit 1 if there is one. Zones: those named, else every
zone with a .private key file in the directory. Nothing is changed.

Options (dnssec-coverage's letters):
  -K DIR         key directory (default .)
  -f FILE        the zone file (one zone only): its largest TTL and its
                 DNSKEY TTL
  -m TTL         the zone's maximum TTL (default from -f, else 1 week)
  -d TTL         the DNSKEY TTL (default from -f, else the key files', else
                 1 day)
  -r INTERVAL    the re-signing interval (default 1944000: 22.5 days)
  -l LENGTH      the window (default 0: every future event)
  -c PATH        accepted (named-compilezone is not used)
  -k             KSKs only
  -z             ZSKs only
      --insecure-key-dir  trust key files and directories that others may write
  -h, --help     print this help
  -V, --version  print the version

Durations: seconds, or a number with y, mo, w, d, h, mi or s.
Exit status: 0 no gap, 1 a gap or an error, 2 usage error, 3 no keys found.
";

#[derive(Debug, Default)]
struct Args {
    directory: Option<PathBuf>,
    zone_file: Option<PathBuf>,
    max_ttl: Option<i64>,
    dnskey_ttl: Option<i64>,
    resign: Option<i64>,
    length: Option<i64>,
    ksk: bool,
    zsk: bool,
    insecure_key_dir: bool,
    zones: Vec<String>,
}

fn duration(parser: &mut lexopt::Parser, opt: &cli::Opt) -> Result<i64> {
    cli::value_parsed(parser, opt, "a duration (seconds, or e.g. 3d)", |s| {
        parse_policy_duration(&[s])
    })
}

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Parsed<Args>> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut parsed = Args::default();
    while let Some(opt) = cli::next_opt(&mut parser)? {
        if opt.is_short('K') {
            parsed.directory = Some(PathBuf::from(cli::value_os(&mut parser, &opt)?));
        } else if opt.is_short('f') {
            parsed.zone_file = Some(PathBuf::from(cli::value_os(&mut parser, &opt)?));
        } else if opt.is_short('m') {
            parsed.max_ttl = Some(duration(&mut parser, &opt)?);
        } else if opt.is_short('d') {
            parsed.dnskey_ttl = Some(duration(&mut parser, &opt)?);
        } else if opt.is_short('r') {
            parsed.resign = Some(duration(&mut parser, &opt)?);
        } else if opt.is_short('l') {
            parsed.length = Some(duration(&mut parser, &opt)?);
        } else if opt.is_short('c') {
            cli::value_os(&mut parser, &opt)?;
        } else if opt.is_short('k') {
            parsed.ksk = true;
        } else if opt.is_short('z') {
            parsed.zsk = true;
        } else if opt.is_long("insecure-key-dir") {
            parsed.insecure_key_dir = true;
        } else if opt.is('h', "help") {
            return Ok(Parsed::Help);
        } else if opt.is('V', "version") {
            return Ok(Parsed::Version);
        } else if let cli::Opt::Value(value) = opt {
            let zone = value
                .into_string()
                .map_err(|_| Error::usage("a zone name must be UTF-8 text"))?;
            parsed.zones.push(zone.trim_end_matches('.').to_string());
        } else {
            return Err(opt.unexpected());
        }
    }
    if parsed.ksk && parsed.zsk {
        return Err(Error::usage("-z and -k cannot be used together"));
    }
    if parsed.zone_file.is_some() && parsed.zones.len() > 1 {
        return Err(Error::usage("-f works with one zone only"));
    }
    Ok(Parsed::Run(parsed))
}

fn main() -> ExitCode {
    cli::main_with("key-coverage", HELP, |_| {
        parse_args(std::env::args_os().skip(1))?.run(|args| run(&args))
    })
}

/// The largest TTL of the zone file and its DNSKEY TTL.
fn zone_ttls(path: &std::path::Path, zone: &str) -> Result<(i64, Option<i64>)> {
    let origin = Name::parse(zone, Some(&Name::root()))
        .map_err(|e| Error::usage(format!("bad zone name '{zone}': {e}")))?;
    let mut reader = ZoneReader::open(&path.display().to_string(), origin)?;
    let (mut max, mut dnskey) = (0i64, None);
    while let Some(record) = reader.next_record()? {
        max = max.max(i64::from(record.ttl));
        if record.rtype == RType::DNSKEY {
            dnskey = Some(i64::from(record.ttl));
        }
    }
    Ok((max, dnskey))
}

fn run(args: &Args) -> Result<()> {
    let now = time::now();
    let dir = args.directory.clone().unwrap_or_else(|| PathBuf::from("."));
    let zones = if args.zones.is_empty() {
        plan::zones_in_dir(&dir)?
    } else {
        args.zones.clone()
    };
    if args.zone_file.is_some() && zones.len() > 1 {
        return Err(Error::usage("-f works with one zone only: name it"));
    }
    let builtin = PolicyFile::parse("", "(built-in policy)")?;
    let trust = KeyFileTrust::new(args.insecure_key_dir);
    let mut out = Stdout::new();
    let mut gaps = 0;
    for zone in &zones {
        let policy = builtin.zone(zone)?;
        let keys = plan::read_keys(&policy, &dir, &trust)?;
        if keys.is_empty() {
            return Err(Error::NotFound(format!(
                "no key events found for {zone} in '{}'",
                dir.display()
            )));
        }
        let (file_max, file_dnskey) = match &args.zone_file {
            Some(path) => {
                let (max, dnskey) = zone_ttls(path, zone)?;
                (Some(max), dnskey)
            }
            None => (None, None),
        };
        let max_ttl = args.max_ttl.or(file_max).unwrap_or_else(|| {
            cli::warn("Maximum TTL value was not specified.  Using 1 week");
            7 * 86_400
        });
        let key_ttl = keys
            .iter()
            .filter_map(|k| k.files.record.ttl)
            .max()
            .map(i64::from);
        let keyttl = args
            .dnskey_ttl
            .or(file_dnskey)
            .or(key_ttl)
            .unwrap_or_else(|| {
                cli::warn("DNSKEY TTL was not specified.  Using 1 day");
                86_400
            });
        let until = match args.length {
            Some(length) if length > 0 => now + length,
            _ => i64::MAX / 4,
        };
        let params = CoverageParams {
            keyttl,
            max_zone_ttl: max_ttl,
            signing_delay: args.resign.unwrap_or(1_944_000),
            propagation: 0,
            from: now,
            until,
            ksk: args.ksk,
            zsk: args.zsk,
        };
        let zone_gaps = coverage::check(zone, &plan::coverage_keys(&keys), &params);
        for gap in &zone_gaps {
            out.line(gap)?;
        }
        gaps += zone_gaps.len();
    }
    out.flush()?;
    if gaps > 0 {
        return Err(Error::Failed(format!(
            "{gaps} gap{} in the key coverage",
            if gaps == 1 { "" } else { "s" }
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
    fn dnssec_coverage_letters() {
        let args = parse(&[
            "-K", "k", "-m", "1d", "-d", "3600", "-r", "2w", "-l", "6mo", "-z", "ex",
        ])
        .expect("parse");
        assert_eq!(args.max_ttl, Some(86_400));
        assert_eq!(args.dnskey_ttl, Some(3600));
        assert_eq!(args.resign, Some(14 * 86_400));
        assert_eq!(args.length, Some(6 * 2_592_000));
        assert!(args.zsk);
        for bad in [
            &["-k", "-z"][..],
            &["-m", "x"],
            &["-f", "z", "a", "b"],
            &["-q"],
        ] {
            assert_eq!(parse(bad).expect_err("bad").exit_code(), 2, "{bad:?}");
        }
    }
}
