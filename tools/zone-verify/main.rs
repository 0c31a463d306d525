//! zone-verify: checks that a signed zone, from any signer, is completely
//! and correctly signed, as BIND's dnssec-verify does; and says when its
//! first signature expires, for cron and Prometheus.

use common::cli::{self, Opt, Parsed};
use common::name::Name;
use common::progress::Progress;
use common::record::Class;
use common::verify_zone::{algorithm_name, verify_zone_watched, Expiring, Options, Report};
use common::zone::ZoneReader;
use common::{output::Stdout, time, Error, Result};
use serde::Serialize;
use std::cell::Cell;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit status when the zone is valid but a signature expires within
/// `--expire-warn` (as distinct from 1, invalid, so cron can tell them
/// apart).
const EXIT_EXPIRING: u8 = 4;

const HELP: &str = "\
Usage: zone-verify [options] zonefile [keys...]

Verify a signed zone as BIND's dnssec-verify does: every RRset signed by
every algorithm of the zone's self-signed keys, each signature valid now,
the DNSKEY RRset self-signed, a complete NSEC or NSEC3 chain with the right
type bitmaps and opt-out, and no signatures on glue or occluded data. Each
problem is one line on stderr naming owner/type. No key or PIN is involved.

Options:
  -o ORIGIN           zone origin (default: the zone file name)
  -c CLASS            zone class (default IN)
  -I FORMAT           input format: text (the only one)
  -x                  the DNSKEY RRset needs KSK signatures only, and an
                      algorithm no ZSK
  -z                  ignore the KSK flag: any self-signed key counts
  -q                  no report on stdout (problems still go to stderr,
                      --expire-warn lines to stdout)
      --quiet-all     the same as -q (and -q -q), as in zone-sign: nothing
                      at all on success
  -v LEVEL            with 1 or more, notes and counts on stderr
      --expire-warn DURATION
                      exit 4, with one line per RRset on stdout, when a
                      signature expires within DURATION (units s, mi, h, d,
                      w, mo, y; e.g. 7d)
      --json          print the result as one JSON object instead
      --metrics FILE  write a Prometheus textfile (replaced atomically)
  -h, --help          print this help
  -V, --version       print the version

Exit status: 0 valid, 1 invalid or error, 2 usage error, 4 valid but a
signature expires within --expire-warn.
";

#[derive(Debug, Default)]
struct Args {
    origin: Option<String>,
    class: Option<Class>,
    ksk_only_dnskey: bool,
    ignore_ksk_flag: bool,
    quiet: bool,
    verbose: u32,
    expire_warn: Option<u32>,
    json: bool,
    metrics: Option<PathBuf>,
    zone_file: Option<String>,
}

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Parsed<Args>> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut parsed = Args::default();
    while let Some(opt) = cli::next_opt(&mut parser)? {
        match opt {
            _ if opt.is_short('o') => parsed.origin = Some(cli::value(&mut parser, &opt)?),
            _ if opt.is_short('c') => {
                let text = cli::value(&mut parser, &opt)?;
                parsed.class = Some(
                    Class::parse(&text)
                        .ok_or_else(|| Error::usage(format!("unknown class '{text}'")))?,
                );
            }
            _ if opt.is_short('I') => {
                let format = cli::value(&mut parser, &opt)?;
                if format != "text" {
                    return Err(Error::usage(format!(
                        "unknown file format '{format}' (only text)"
                    )));
                }
            }
            _ if opt.is_short('x') => parsed.ksk_only_dnskey = true,
            _ if opt.is_short('z') => parsed.ignore_ksk_flag = true,
            // zone-sign's "nothing on success": -q is that here already.
            _ if opt.is_short('q') || opt.is_long("quiet-all") => parsed.quiet = true,
            _ if opt.is_short('v') => {
                parsed.verbose =
                    cli::value_parsed(&mut parser, &opt, "a number", |s| s.parse().ok())?;
            }
            _ if opt.is_long("expire-warn") => {
                let text = cli::value(&mut parser, &opt)?;
                let seconds = time::parse_ttl_argument(&text)?;
                if seconds == 0 {
                    return Err(Error::usage(format!(
                        "--expire-warn '{text}': a duration longer than 0 is needed"
                    )));
                }
                parsed.expire_warn = Some(seconds);
            }
            _ if opt.is_long("json") => parsed.json = true,
            _ if opt.is_long("metrics") => {
                parsed.metrics = Some(PathBuf::from(cli::value_os(&mut parser, &opt)?));
            }
            _ if opt.is('h', "help") => return Ok(Parsed::Help),
            _ if opt.is('V', "version") => return Ok(Parsed::Version),
            Opt::Value(value) => {
                // dnssec-verify accepts key files after the zone and
                // ignores them: so do we, for scripts written for it.
                if parsed.zone_file.is_none() {
                    parsed.zone_file = Some(
                        value
                            .into_string()
                            .map_err(|_| Error::usage("the zone file name is not valid UTF-8"))?,
                    );
                }
            }
            _ => return Err(opt.unexpected()),
        }
    }
    if parsed.zone_file.is_none() {
        return Err(Error::usage("a zone file is needed (- for stdin)"));
    }
    Ok(Parsed::Run(parsed))
}

fn main() -> ExitCode {
    let expiring = Cell::new(false);
    let code = cli::main_with("zone-verify", HELP, |_environment| {
        parse_args(std::env::args_os().skip(1))?.run(|args| run(&args, &expiring))
    });
    if code == ExitCode::from(0) && expiring.get() {
        return ExitCode::from(EXIT_EXPIRING);
    }
    code
}

fn run(args: &Args, expiring: &Cell<bool>) -> Result<()> {
    let zone_file = args.zone_file.clone().unwrap_or_default();
    let origin_text = match (&args.origin, zone_file.as_str()) {
        (Some(origin), _) => origin.clone(),
        (None, "-") => return Err(Error::usage("reading the zone from stdin needs -o ORIGIN")),
        (None, file) => file.to_string(),
    };
    let origin = Name::parse(&origin_text, Some(&Name::root()))
        .map_err(|e| Error::usage(format!("bad origin '{origin_text}': {e}")))?;
    let now = time::now();
    let options = Options {
        origin: origin.clone(),
        class: args.class,
        ksk_only_dnskey: args.ksk_only_dnskey,
        ignore_ksk_flag: args.ignore_ksk_flag,
        now,
        expire_warn: args.expire_warn.map(i64::from),
    };
    let progress = Progress::new("zone-verify", !args.quiet && args.verbose == 0);
    let reader = ZoneReader::open(&zone_file, origin)?;
    let report = progress.verifying(|watch| verify_zone_watched(reader, &options, watch))?;
    progress.clear();
    if let Some(path) = &args.metrics {
        common::output::write_file_atomically(path, metrics(&report, now).as_bytes(), false, true)?;
    }
    for failure in &report.failures {
        common::cli::stderr_line(&format!("zone-verify: {failure}"));
    }
    if args.verbose > 0 {
        cli::note(&format!(
            "{} RRsets, {} signatures",
            report.rrsets, report.signatures
        ));
    }
    let mut out = Stdout::new();
    if args.json {
        out.line(&json(&report, &zone_file, now)?)?;
    } else {
        if !args.quiet {
            out.text(&text(&report, &zone_file))?;
        }
        out.text(&expiring_lines(&report))?;
    }
    out.flush()?;
    if !report.valid() {
        return Err(Error::Failed(format!(
            "zone '{}' is not correctly signed: {} problem{}",
            report.origin,
            report.failures.len(),
            if report.failures.len() == 1 { "" } else { "s" }
        )));
    }
    expiring.set(!report.expiring.is_empty());
    Ok(())
}

/// dnssec-verify's report, then one line per RRset that expires soon.
fn text(report: &Report, file: &str) -> String {
    let origin = report.origin.trim_end_matches('.');
    let origin = if origin.is_empty() { "." } else { origin };
    let mut out = format!("Loading zone '{origin}' from file '{file}'\n\n");
    if !report.algorithms.is_empty() {
        out.push_str("Verifying the zone using the following algorithms:\n");
        for algorithm in &report.algorithms {
            out.push_str(&format!("- {}\n", algorithm_name(*algorithm)));
        }
    }
    if !report.valid() {
        if !report.incomplete_algorithms.is_empty() {
            out.push_str("The zone is not fully signed for the following algorithms:\n");
            for algorithm in &report.incomplete_algorithms {
                out.push_str(&format!(" {}\n", algorithm_name(*algorithm)));
            }
            out.push_str(".\n");
        }
        out.push_str("DNSSEC completeness test failed.\n");
        return out;
    }
    out.push_str("Zone fully signed:\n");
    for keys in &report.keys {
        let head = format!("Algorithm: {}: ", algorithm_name(keys.algorithm));
        out.push_str(&format!(
            "{head}KSKs: {} active, {} stand-by, {} revoked\n",
            keys.ksk_active, keys.ksk_standby, keys.ksk_revoked
        ));
        out.push_str(&format!(
            "{:width$}ZSKs: {} active, {} stand-by, {} revoked\n",
            "",
            keys.zsk_active,
            keys.zsk_standby,
            keys.zsk_revoked,
            width = head.len()
        ));
    }
    out
}

/// One line per RRset that `--expire-warn` names (printed with -q too:
/// they are what a cron job mails).
fn expiring_lines(report: &Report) -> String {
    let mut out = String::new();
    for soon in &report.expiring {
        out.push_str(&format!(
            "Expiring: {}/{}: signatures expire {}\n",
            soon.owner,
            soon.rtype,
            time::format_timestamp(soon.expiration)
        ));
    }
    out
}

/// The `--json` object; its schema is in the man page (JSON OUTPUT).
#[derive(Serialize)]
struct JsonReport<'a> {
    zone: &'a str,
    file: &'a str,
    now: i64,
    valid: bool,
    denial: &'a str,
    algorithms: Vec<String>,
    keys: Vec<JsonKeys>,
    rrsets: u64,
    signatures: u64,
    failures: Vec<JsonFailure<'a>>,
    earliest_expiration: Option<JsonRrset<'a>>,
    expiring: Vec<JsonRrset<'a>>,
}

#[derive(Serialize)]
struct JsonKeys {
    algorithm: String,
    ksk: JsonCounts,
    zsk: JsonCounts,
}

#[derive(Serialize)]
struct JsonCounts {
    active: u32,
    standby: u32,
    revoked: u32,
}

#[derive(Serialize)]
struct JsonFailure<'a> {
    owner: &'a str,
    #[serde(rename = "type")]
    rtype: &'a str,
    message: &'a str,
}

#[derive(Serialize)]
struct JsonRrset<'a> {
    owner: &'a str,
    #[serde(rename = "type")]
    rtype: &'a str,
    expiration: i64,
}

impl<'a> From<&'a Expiring> for JsonRrset<'a> {
    fn from(e: &'a Expiring) -> Self {
        JsonRrset {
            owner: &e.owner,
            rtype: &e.rtype,
            expiration: e.expiration,
        }
    }
}

fn json(report: &Report, file: &str, now: i64) -> Result<String> {
    let object = JsonReport {
        zone: &report.origin,
        file,
        now,
        valid: report.valid(),
        denial: report.denial,
        algorithms: report
            .algorithms
            .iter()
            .map(|a| algorithm_name(*a))
            .collect(),
        keys: report
            .keys
            .iter()
            .map(|k| JsonKeys {
                algorithm: algorithm_name(k.algorithm),
                ksk: JsonCounts {
                    active: k.ksk_active,
                    standby: k.ksk_standby,
                    revoked: k.ksk_revoked,
                },
                zsk: JsonCounts {
                    active: k.zsk_active,
                    standby: k.zsk_standby,
                    revoked: k.zsk_revoked,
                },
            })
            .collect(),
        rrsets: report.rrsets,
        signatures: report.signatures,
        failures: report
            .failures
            .iter()
            .map(|f| JsonFailure {
                owner: &f.owner,
                rtype: &f.rtype,
                message: &f.message,
            })
            .collect(),
        earliest_expiration: report.earliest_expiration.as_ref().map(JsonRrset::from),
        expiring: report.expiring.iter().map(JsonRrset::from).collect(),
    };
    serde_json::to_string(&object).map_err(|e| Error::Failed(format!("writing JSON: {e}")))
}

/// A Prometheus textfile (the node exporter's textfile collector).
fn metrics(report: &Report, now: i64) -> String {
    let zone = prometheus_label(&report.origin);
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, value: String| {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name}{{zone=\"{zone}\"}} {value}\n"
        ));
    };
    gauge(
        "zone_verify_valid",
        "1 when the zone is completely and correctly signed",
        u8::from(report.valid()).to_string(),
    );
    gauge(
        "zone_verify_earliest_expiration_timestamp_seconds",
        "the earliest expiration of a signature in the zone, unix time",
        report
            .earliest_expiration
            .as_ref()
            .map_or("NaN".to_string(), |e| e.expiration.to_string()),
    );
    gauge(
        "zone_verify_rrsets",
        "authoritative RRsets that must be signed",
        report.rrsets.to_string(),
    );
    gauge(
        "zone_verify_signatures",
        "RRSIG records in the zone",
        report.signatures.to_string(),
    );
    gauge(
        "zone_verify_failures",
        "problems found",
        report.failures.len().to_string(),
    );
    gauge(
        "zone_verify_last_run_timestamp_seconds",
        "when the zone was verified, unix time",
        now.to_string(),
    );
    out
}

fn prometheus_label(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Parsed<Args>> {
        parse_args(args.iter().map(OsString::from))
    }

    #[test]
    fn options_become_typed_values() {
        let Ok(Parsed::Run(args)) = parse(&[
            "-o",
            "example.com",
            "-x",
            "-z",
            "--expire-warn",
            "7d",
            "--json",
            "zone.signed",
            "Kkey.key",
        ]) else {
            panic!("parse failed");
        };
        assert_eq!(args.origin.as_deref(), Some("example.com"));
        assert!(args.ksk_only_dnskey && args.ignore_ksk_flag && args.json);
        assert_eq!(args.expire_warn, Some(7 * 86400));
        assert_eq!(args.zone_file.as_deref(), Some("zone.signed"));
    }

    #[test]
    fn bad_usage_is_a_usage_error() {
        for args in [
            &["-I", "raw", "zone"][..],
            &["--expire-warn", "soon", "zone"][..],
            &["--expire-warn", "0", "zone"][..],
            &["--bogus", "zone"][..],
            &[][..],
        ] {
            match parse(args) {
                Err(e) => assert_eq!(e.exit_code(), 2, "{args:?}"),
                Ok(_) => panic!("{args:?} parsed"),
            }
        }
    }
}
