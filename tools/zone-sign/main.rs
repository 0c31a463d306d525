//! zone-sign: sign a zone with keys that stay in a PKCS#11 token, as
//! BIND's dnssec-signzone does with keys in files.

use common::cli::{self, ConnectionArgs, Environment, Opt, Parsed};
use common::keysource;
use common::name::Name;
use common::progress::{Current, Progress};
use common::record::{Class, RType};
use common::sign::{self, check::check_signed, Denial, SerialMode, SignOptions, SigningKey};
use common::time::{self, parse_bind_time, KeyTime};
use common::zone::model::Zone;
use common::zone::write::{write_zone, Style};
use common::zone::ZoneReader;
use common::{output::AtomicFile, Error, Result};
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const HELP: &str = "\
Usage: zone-sign [options] zonefile [key...]

Sign a zone with DNSSEC keys that live in a PKCS#11 token. Keys are BIND key
files (K<zone>+<alg>+<tag>, whose .private names the token object), PKCS#11
URIs, or with -S the zone's keys in the key directory. Every signature is
verified in software before it is written; the output is written to a
temporary file and renamed, so a failure leaves the old file as it was.

Options (BIND's dnssec-signzone letters):
  -o ORIGIN        zone origin (default: the zone file name)
  -f FILE          output file (default: zonefile.signed; - for stdout)
  -K DIR           key directory (default .)
  -k, --ksk KEY    a key file or URI to use as a KSK (repeatable); needed when
                   several keys of one algorithm are named by URI alone
  -S               smart signing: the zone's keys in -K, by their timing metadata
      --insecure-key-dir  read key files and key directories that anyone may
                   write, and key files that are symbolic links (refused
                   otherwise; group-writable ones get a warning)
  -s TIME          signature inception (default now-3600)
  -e TIME          signature expiration (default inception+30d; +N counts from
                   the inception)
  -X TIME          expiration of the DNSKEY RRset's signatures
  -j SECONDS       jitter: shorten each expiration by up to SECONDS
  -i SECONDS       cycle interval: a signature of a signed input is kept if it
                   verifies and expires more than SECONDS from now (default a
                   quarter of the validity period)
  -N MODE          SOA serial: keep (default), increment, unixtime, date
  -3 SALT          NSEC3 with this hex salt (- for none)
  -H ITERATIONS    NSEC3 extra iterations (default 0, RFC 9276)
  -A               NSEC3 opt-out (toggles)
  -u               accepted (the chain is always built afresh)
  -R               accepted (signatures by keys not signing are always dropped)
  -x               only KSKs sign the DNSKEY, CDS and CDNSKEY RRsets
  -z               KSKs sign all RRsets too
  -T TTL           TTL of DNSKEYs added when the zone has none and no key file
                   gives one
  -O FORMAT        full (one record per line) or text (default; full with -f -)
  -D               output only DNSSEC records
  -P               do not check the signed zone before writing it
      --strict     fail (exit 1, nothing written) when dnssec-verify would
                   reject the key set: an algorithm with only KSKs or only
                   ZSKs signing (without -z); a warning otherwise
      --cds-digest DIGEST
                   CDS digest type (SHA-256, SHA-384, SHA-1; repeatable;
                   default SHA-256) for KSKs between SyncPublish and SyncDelete
      --cds-delete publish RFC 8078's delete form (CDS 0 0 0 00, CDNSKEY 0 3 0
                   AA==): asks the parent to remove the DS (go insecure)
      --zonemd     add (or refresh) the apex ZONEMD (RFC 8976, SIMPLE scheme):
                   a digest of the signed zone, made after every other
                   signature and signed itself; replaces the input's ZONEMDs
      --zonemd-digest HASH
                   its hash: sha384 (1, the default) or sha512 (2), as
                   ldns-signzone -z; repeatable; implies --zonemd
      --allow-unsigned-algorithm  let the check pass an apex DNSKEY algorithm
                   that no key signs with (warns; the zone is bogus for a
                   DS of that algorithm)
      --skr FILE   offline KSK: take the apex DNSKEY, CDS and CDNSKEY RRsets and
                   their signatures from the bundle of this signed key response
                   (ksr-sign's, or BIND 9.20's) that covers the signing time; the
                   ZSKs must be exactly the bundle's
      --skr-ksk FILE
                   the .key file of a KSK the parent's DS names (repeatable;
                   needed with --skr): every KSK in the bundle must be one of them
      --skr-warn DURATION
                   warn when the SKR runs out within DURATION (default 14d)
      --reverify   verify every kept signature of a signed input, ignoring the
                   verified-signature record (ZONEFILE.p11v) that vouches for
                   the ones an earlier run verified
      --no-sidecar do not write the verified-signature record OUTPUT.p11v
      --low-memory sort the zone on disk (in anonymous files beside the
                   output) and sign and write it in chunks, so memory stays
                   bounded for any zone size; needs -P and -f FILE, and is
                   not for --zonemd; chosen by itself for an input of 64 MiB
                   or more when -P is given
  -d DIR           where to write dsset-<zone>. (default .)
  -c CLASS         zone class (default IN)
  -n N|auto        signing workers, each with its own token session and a
                   verifier thread; N is fixed (capped at the token's session
                   limit); auto (the default) starts with one and adds sessions
                   while the measured rate rises, up to the token's limit or 64
      --pool       the tokens named by a repeated --slot, --token or --serial
                   are one pool holding the same keys (without it the last
                   one counts)
  -a               accepted (every signature is always verified)
  -t               print statistics: BIND's counts, then the wall time of each
                   phase and each session's measured signing rate
      --json       print the -t statistics as one JSON object (implies -t;
                   the other report lines are left out)
  -q               quiet: only the output file name (as BIND)
  -q -q, --quiet-all
                   nothing on success: no file name, no summary (warnings,
                   -t statistics and failures still go to stderr/stdout)
  -v LEVEL         on stderr: 1 phases and key choices, 2 each worker's and
                   session's events (reopen, retry, back-off), 3 each RRset's
                   re-signing decision (kept, renewed, dropped, and why)
  -E ENGINE        a module path is used as --module; an engine name is ignored
  --include-root DIR
                   $INCLUDE only files inside DIR (symbolic links resolved)
  --max-generate N at most N records from $GENERATE (default 10000000)
  -h, --help       print this help
  -V, --version    print the version

";

fn help_text() -> String {
    format!(
        "{HELP}{}\nExit status: 0 success, 1 failure (nothing written), 2 usage error,\n3 a key could not be found.\n",
        cli::CONNECTION_HELP_LONG
    )
}

#[derive(Debug, Default)]
struct Args {
    connection: ConnectionArgs,
    /// `--pool`: repeated token options name one pool of tokens.
    pool: bool,
    zone_file: Option<String>,
    keys: Vec<String>,
    ksks: Vec<String>,
    origin: Option<String>,
    output: Option<String>,
    key_dir: Option<PathBuf>,
    insecure_key_dir: bool,
    smart: bool,
    inception: Option<String>,
    expiration: Option<String>,
    dnskey_expiration: Option<String>,
    jitter: u32,
    refresh: Option<u32>,
    serial: SerialMode,
    salt: Option<Vec<u8>>,
    iterations: u16,
    opt_out: bool,
    zsk_not_on_keys: bool,
    ksk_signs_all: bool,
    dnskey_ttl: Option<u32>,
    style: Option<Style>,
    dnssec_only: bool,
    skip_check: bool,
    allow_unsigned_algorithm: bool,
    ds_dir: Option<PathBuf>,
    class: Option<Class>,
    stats: bool,
    json: bool,
    verbosity: u8,
    /// 1: BIND's `-q` (only the file name); 2: `-q -q`, nothing on success.
    quiet: u8,
    /// `-n N`: a fixed worker count; `None`: `-n auto`.
    workers: Option<usize>,
    include_root: Option<PathBuf>,
    max_generate: Option<u64>,
    strict: bool,
    cds_digests: Vec<common::ds::DigestType>,
    cds_delete: bool,
    skr: Option<String>,
    skr_ksks: Vec<PathBuf>,
    skr_warn: Option<i64>,
    /// `--zonemd`/`--zonemd-digest`: the ZONEMD hashes (empty: none).
    zonemd: Vec<sign::zonemd::ZonemdHash>,
    reverify: bool,
    no_sidecar: bool,
    /// `--low-memory`: sort on disk and sign in chunks.
    low_memory: bool,
}

fn number<T: std::str::FromStr>(parser: &mut lexopt::Parser, opt: &Opt, what: &str) -> Result<T> {
    cli::value_parsed(parser, opt, what, |s| s.parse().ok())
}

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Parsed<Args>> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut a = Args::default();
    let mut zonemd_digests = Vec::new();
    while let Some(opt) = cli::next_opt(&mut parser)? {
        if a.connection.take_pool(&opt, &mut parser)? {
            continue;
        }
        match &opt {
            _ if opt.is_long("pool") => a.pool = true,
            Opt::Short('o') => a.origin = Some(cli::value(&mut parser, &opt)?),
            Opt::Short('f') => a.output = Some(cli::value(&mut parser, &opt)?),
            Opt::Short('K') => a.key_dir = Some(PathBuf::from(cli::value_os(&mut parser, &opt)?)),
            _ if opt.is('k', "ksk") => a.ksks.push(cli::value(&mut parser, &opt)?),
            _ if opt.is_long("strict") => a.strict = true,
            _ if opt.is_long("cds-delete") => a.cds_delete = true,
            _ if opt.is_long("skr") => a.skr = Some(cli::value(&mut parser, &opt)?),
            _ if opt.is_long("skr-ksk") => a
                .skr_ksks
                .push(PathBuf::from(cli::value_os(&mut parser, &opt)?)),
            _ if opt.is_long("skr-warn") => {
                let text = cli::value(&mut parser, &opt)?;
                a.skr_warn = Some(
                    time::parse_duration(&text)
                        .map_err(|e| e.with_value(&format!("--skr-warn {text}")))?,
                );
            }
            _ if opt.is_long("reverify") => a.reverify = true,
            _ if opt.is_long("low-memory") => a.low_memory = true,
            _ if opt.is_long("no-sidecar") => a.no_sidecar = true,
            _ if opt.is_long("cds-digest") => a.cds_digests.push(
                common::ds::DigestType::parse(&cli::value(&mut parser, &opt)?)
                    .map_err(|e| Error::usage(format!("--cds-digest: {e}")))?,
            ),
            _ if opt.is_long("zonemd") => {
                if a.zonemd.is_empty() {
                    a.zonemd.push(sign::zonemd::ZonemdHash::Sha384);
                }
            }
            _ if opt.is_long("zonemd-digest") => {
                let hash = sign::zonemd::ZonemdHash::parse(&cli::value(&mut parser, &opt)?)
                    .map_err(|e| Error::usage(format!("--zonemd-digest: {e}")))?;
                zonemd_digests.push(hash);
            }
            Opt::Short('S') => a.smart = true,
            _ if opt.is_long("insecure-key-dir") => a.insecure_key_dir = true,
            _ if opt.is_long("allow-unsigned-algorithm") => a.allow_unsigned_algorithm = true,
            Opt::Short('s') => a.inception = Some(cli::value(&mut parser, &opt)?),
            Opt::Short('e') => a.expiration = Some(cli::value(&mut parser, &opt)?),
            Opt::Short('X') => a.dnskey_expiration = Some(cli::value(&mut parser, &opt)?),
            Opt::Short('j') => a.jitter = number(&mut parser, &opt, "a number of seconds")?,
            Opt::Short('i') => a.refresh = Some(number(&mut parser, &opt, "a number of seconds")?),
            Opt::Short('N') => {
                let text = cli::value(&mut parser, &opt)?;
                a.serial = match text.as_str() {
                    "keep" => SerialMode::Keep,
                    "increment" | "incr" => SerialMode::Increment,
                    "unixtime" => SerialMode::UnixTime,
                    "date" => SerialMode::Date,
                    _ => return Err(Error::usage(format!("unknown soa serial format: {text}"))),
                };
            }
            Opt::Short('3') => {
                let text = cli::value(&mut parser, &opt)?;
                a.salt = Some(if text == "-" {
                    Vec::new()
                } else {
                    data_encoding::HEXLOWER_PERMISSIVE
                        .decode(text.as_bytes())
                        .ok()
                        .filter(|s| s.len() <= 255)
                        .ok_or_else(|| {
                            Error::usage(format!("bad hex salt '{text}' (- for none)"))
                        })?
                });
            }
            Opt::Short('H') => {
                let text = cli::value(&mut parser, &opt)?;
                let value: u32 = text
                    .parse()
                    .map_err(|_| Error::usage("iterations must be numeric"))?;
                if value > 150 {
                    return Err(Error::usage(
                        "NSEC3 iterations too big. Maximum iterations allowed 150.",
                    ));
                }
                a.iterations = value as u16;
            }
            Opt::Short('A') => a.opt_out = !a.opt_out,
            Opt::Short('u') | Opt::Short('a') | Opt::Short('Q') | Opt::Short('R') => {}
            Opt::Short('x') => a.zsk_not_on_keys = true,
            Opt::Short('z') => a.ksk_signs_all = true,
            Opt::Short('T') => {
                a.dnskey_ttl = Some(time::parse_ttl_argument(&cli::value(&mut parser, &opt)?)?)
            }
            Opt::Short('O') => {
                let text = cli::value(&mut parser, &opt)?;
                a.style = Some(match text.as_str() {
                    "full" => Style::Full,
                    "text" => Style::Text,
                    _ => {
                        return Err(Error::usage(format!(
                            "output format '{text}' is not supported: use text or full"
                        )))
                    }
                });
            }
            Opt::Short('D') => a.dnssec_only = true,
            Opt::Short('P') => a.skip_check = true,
            Opt::Short('d') => a.ds_dir = Some(PathBuf::from(cli::value_os(&mut parser, &opt)?)),
            Opt::Short('c') => {
                let text = cli::value(&mut parser, &opt)?;
                a.class = Some(
                    Class::parse(&text)
                        .ok_or_else(|| Error::usage(format!("unknown class {text}")))?,
                );
            }
            Opt::Short('n') => {
                // `auto` is the default; given, it undoes an earlier -n N.
                let workers: Option<usize> =
                    cli::value_parsed(&mut parser, &opt, "a worker count or 'auto'", |s| {
                        if s == "auto" {
                            Some(None)
                        } else {
                            s.parse().ok().map(Some)
                        }
                    })?;
                if workers == Some(0) {
                    return Err(Error::usage(
                        "option '-n' needs a worker count of 1 or more",
                    ));
                }
                a.workers = workers;
            }
            Opt::Short('t') => a.stats = true,
            _ if opt.is_long("json") => {
                a.stats = true;
                a.json = true;
            }
            Opt::Short('q') => a.quiet = a.quiet.saturating_add(1).min(2),
            _ if opt.is_long("quiet-all") => a.quiet = 2,
            Opt::Short('v') => {
                let level: u32 = number(&mut parser, &opt, "a verbosity level")?;
                // BIND takes any level; past 3 there is nothing more to say.
                a.verbosity = level.min(3) as u8;
            }
            Opt::Short('E') => {
                let engine = cli::value(&mut parser, &opt)?;
                if engine.contains('/') && a.connection.module.is_none() {
                    a.connection.module = Some(PathBuf::from(engine));
                }
            }
            Opt::Short('p') => return Err(Error::usage("The -p option has been deprecated.")),
            Opt::Short('l') => return Err(Error::usage("-l option (DLV lookaside) is obsolete")),
            Opt::Short('g')
            | Opt::Short('C')
            | Opt::Short('M')
            | Opt::Short('L')
            | Opt::Short('I') => {
                return Err(Error::usage(format!(
                    "option '{}' is not supported by zone-sign",
                    short_name(&opt)
                )))
            }
            _ if opt.is_long("include-root") => {
                a.include_root = Some(PathBuf::from(cli::value_os(&mut parser, &opt)?))
            }
            _ if opt.is_long("max-generate") => {
                a.max_generate = Some(number(&mut parser, &opt, "a number of records")?)
            }
            _ if opt.is('h', "help") => return Ok(Parsed::Help),
            _ if opt.is('V', "version") => return Ok(Parsed::Version),
            Opt::Value(value) => {
                let text = value.to_string_lossy().into_owned();
                if a.zone_file.is_none() {
                    a.zone_file = Some(text);
                } else {
                    a.keys.push(text);
                }
            }
            _ => return Err(opt.unexpected()),
        }
    }
    a.connection.finish_pool(a.pool)?;
    if a.zone_file.is_none() {
        return Err(Error::usage("no zone file given"));
    }
    if a.skr.is_some() {
        if a.skr_ksks.is_empty() {
            return Err(Error::usage(
                "--skr needs --skr-ksk: the .key files of the KSKs the parent's DS names",
            ));
        }
        if a.ksk_signs_all || a.cds_delete || !a.ksks.is_empty() {
            return Err(Error::usage(
                "--skr takes the key RRsets from the SKR: -z, -k and --cds-delete do not apply",
            ));
        }
    }
    if !zonemd_digests.is_empty() {
        zonemd_digests.sort();
        zonemd_digests.dedup();
        a.zonemd = zonemd_digests;
    }
    if a.dnssec_only && a.serial != SerialMode::Keep {
        return Err(Error::usage("option -D can only be used with \"-N keep\""));
    }
    Ok(Parsed::Run(a))
}

fn short_name(opt: &Opt) -> String {
    match opt {
        Opt::Short(c) => format!("-{c}"),
        Opt::Long(l) => format!("--{l}"),
        Opt::Value(v) => v.to_string_lossy().into_owned(),
    }
}

fn main() -> ExitCode {
    // -p is BIND's here: PIN hints must say --pin.
    cli::long_connection_options();
    cli::main_with("zone-sign", &help_text(), |environment| {
        parse_args(std::env::args_os().skip(1))?.run(|args| run(&args, environment))
    })
}

/// Report lines go to stdout, or to stderr when the zone goes to stdout.
struct Report {
    to_stderr: bool,
    quiet: u8,
    /// The progress line, cleared around each report line.
    progress: Current,
}

impl Report {
    fn line(&self, text: &str) {
        if self.quiet > 0 {
            return;
        }
        self.always(text);
    }

    /// The output file name, which BIND prints even with `-q`: a cron job
    /// that wants silence on success says `-q -q`.
    fn file_name(&self, text: &str) {
        if self.quiet < 2 {
            self.always(text);
        }
    }

    fn always(&self, text: &str) {
        if self.to_stderr {
            cli::stderr_line(text);
            return;
        }
        self.progress.suspend(|| println!("{text}"));
    }
}

fn timestamp(text: &Option<String>, now: i64, base: i64, default: i64) -> Result<u32> {
    let value = match text {
        None => default,
        Some(text) => match parse_bind_time(text, now, base)? {
            KeyTime::Set(t) => t,
            KeyTime::Unset => {
                return Err(Error::usage(format!("time value '{text}' is invalid here")))
            }
        },
    };
    u32::try_from(value).map_err(|_| Error::usage(format!("time {value} does not fit an RRSIG")))
}

/// `-j` must be shorter than every validity period it shortens: a jitter
/// as long as the validity would put expirations before the inception,
/// where the 32-bit times wrap (to 1985 or 2092).
fn check_jitter(jitter: u32, inception: u32, expiration: u32, dnskey: Option<u32>) -> Result<()> {
    for end in std::iter::once(expiration).chain(dnskey) {
        let validity = end.wrapping_sub(inception);
        if sign::serial_gt(end, inception) && jitter >= validity {
            return Err(Error::usage(format!(
                "-j {jitter} is not shorter than the signature validity period ({validity} seconds)"
            )));
        }
    }
    Ok(())
}

fn run(args: &Args, environment: &Environment) -> Result<()> {
    let run_started = Instant::now();
    cli::set_verbosity(args.verbosity);
    common::output::remove_temp_files_on_signals("zone-sign")?;
    let now = time::now();
    let zone_file = args.zone_file.clone().unwrap_or_default();
    let origin_text = match (&args.origin, zone_file.as_str()) {
        (Some(origin), _) => origin.clone(),
        (None, "-") => return Err(Error::usage("reading the zone from stdin needs -o ORIGIN")),
        (None, file) => file.to_string(),
    };
    let origin = Name::parse(&origin_text, Some(&Name::root()))
        .map_err(|e| Error::usage(format!("bad origin '{origin_text}': {e}")))?;
    let output = args.output.clone().unwrap_or_else(|| {
        if zone_file == "-" {
            "-".to_string()
        } else {
            format!("{zone_file}.signed")
        }
    });
    let to_stdout = output == "-";
    // -v's lines are the progress there; -q asks for silence.
    let progress = Progress::new("zone-sign", args.quiet == 0 && args.verbosity == 0);
    let report = Report {
        to_stderr: to_stdout,
        // The JSON object is the whole report: a script parses it alone.
        quiet: if args.json { 2 } else { args.quiet },
        progress: progress.current(),
    };
    let mut phases = Phases::default();
    let inception = timestamp(&args.inception, now, now, now - 3600)?;
    let expiration = timestamp(
        &args.expiration,
        now,
        i64::from(inception),
        i64::from(inception) + 30 * 86400,
    )?;
    let dnskey_expiration = match &args.dnskey_expiration {
        Some(_) => Some(timestamp(
            &args.dnskey_expiration,
            now,
            i64::from(inception),
            0,
        )?),
        None => None,
    };
    if std::iter::once(expiration)
        .chain(dnskey_expiration)
        .any(|end| !sign::serial_gt(end, inception))
    {
        return Err(Error::Failed(
            "the signature expiration is not after the inception: invalid time".into(),
        ));
    }
    check_jitter(args.jitter, inception, expiration, dnskey_expiration)?;
    if let Some(salt) = &args.salt {
        if !salt.is_empty() || args.iterations > 0 {
            cli::warn("RFC 9276 recommends no salt and 0 extra iterations for NSEC3 (-3 - -H 0)");
        }
    } else if args.iterations > 0 || args.opt_out {
        return Err(Error::usage(
            "-H and -A need NSEC3: give -3 SALT (or -3 - for none)",
        ));
    }

    // The output files are begun (as temp files) before the zone is read:
    // a typo in -f or -d fails now, not after an hour of signing.
    let mut zone_out = if to_stdout {
        None
    } else {
        Some(AtomicFile::create(std::path::Path::new(&output))?)
    };
    // The verified-signature record goes with the zone, in one commit.
    let sidecar_out = if to_stdout || args.no_sidecar {
        None
    } else {
        Some(AtomicFile::create(&sign::sidecar::path_for(
            std::path::Path::new(&output),
        ))?)
    };
    let ds_dir = args.ds_dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let dsset = AtomicFile::create(&ds_dir.join(format!("dsset-{}", origin.key_file_text())))?;

    let mut reader = ZoneReader::open(&zone_file, origin.clone())?;
    if let Some(class) = args.class {
        reader = reader.with_class(class);
    }
    if let Some(root) = &args.include_root {
        reader = reader.include_root(root)?;
    }
    if let Some(count) = args.max_generate {
        reader = reader.max_generate(count);
    }
    cli::verbose(1, &format!("reading the zone {zone_file:?}"));
    let parsing = Instant::now();
    progress.phase("loading the zone");
    let (mut zone, load_report, mut sorted) = match low_memory(args, &zone_file, to_stdout)? {
        Some(tuning) => {
            let dir = std::path::Path::new(&output)
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let (mut sorted, report) = common::zone::external_sort::SortedZone::read(
                reader,
                &origin,
                tuning.sort_budget,
                tuning.chunk_nodes,
                dir,
            )?;
            let first = sorted.next_chunk()?.ok_or_else(|| {
                Error::Failed(format!("zone '{origin}' has no SOA record at its apex"))
            })?;
            (first, report, Some((sorted, tuning)))
        }
        None => {
            let (zone, report) = Zone::load(reader, &origin)?;
            (zone, report, None)
        }
    };
    // Nothing may draw while a PIN is asked for on the terminal.
    progress.clear();
    phases.parse = parsing.elapsed();
    cli::verbose(
        1,
        &format!(
            "read {} names in {:.3} s",
            zone.nodes.len(),
            phases.parse.as_secs_f64()
        ),
    );
    if load_report.out_of_zone > 0 {
        cli::warn(&format!(
            "{} out-of-zone records ignored",
            load_report.out_of_zone
        ));
    }
    // RFC 8976: the digest covers the signatures, which are new; without
    // --zonemd a ZONEMD from the input would not match the output.
    if zone.apex().has(RType::ZONEMD) && args.zonemd.is_empty() {
        cli::warn(
            "the zone has a ZONEMD record; it is not recomputed and will not match the signed zone (--zonemd refreshes it)",
        );
    }

    let selection = keysource::collect(
        &args.keys,
        &args.ksks,
        args.smart,
        args.key_dir.as_deref(),
        &zone,
        now,
        &common::keyfile::KeyFileTrust::new(args.insecure_key_dir),
    )?;
    let mut requests = selection.requests;
    // Offline KSK: the bundle covering the signing time, verified; the KSK
    // stays in its ceremony, so key files of KSKs here are not used.
    let key_set = match &args.skr {
        Some(file) => {
            let trust = common::keyfile::KeyFileTrust::new(args.insecure_key_dir);
            // The slot covering the signing time: -s if given, else now.
            let at = match args.inception {
                Some(_) => i64::from(inception),
                None => now,
            };
            let key_set = skr_key_set(file, &args.skr_ksks, &origin, at, &trust)?;
            let margin = args.skr_warn.unwrap_or(14 * 86400);
            if key_set.end - now < margin {
                cli::warn(&format!(
                    "the SKR {file} runs out at {}, in less than {} days: hold the next KSK ceremony",
                    time::format_timestamp(key_set.end),
                    margin / 86400
                ));
            }
            requests.retain(|r| !r.dnskey.as_ref().is_some_and(|k| k.is_ksk()));
            Some(key_set)
        }
        None => None,
    };
    for line in keysource::withdraw(&mut zone, &selection.withdrawn) {
        report.line(&line);
    }
    if requests.is_empty() {
        return Err(Error::Failed("No signing keys specified or found.".into()));
    }
    for request in requests.iter().filter(|r| r.from_repository && r.publish) {
        if let Some(dnskey) = &request.dnskey {
            let present = zone
                .apex()
                .rrset(RType::DNSKEY)
                .is_some_and(|s| s.rdatas.contains(&dnskey.rdata()));
            if !present {
                let algorithm = dnskey
                    .algorithm()
                    .map_or_else(|| dnskey.algorithm.to_string(), |a| a.to_string());
                let role = if dnskey.is_ksk() { "KSK" } else { "ZSK" };
                report.line(&format!(
                    "Fetching {}/{algorithm}/{} ({role}) from key repository.",
                    origin.to_string().trim_end_matches('.'),
                    dnskey.key_tag()
                ));
            }
        }
    }
    let zone_dnskeys = zone.apex_dnskeys();
    // -n auto starts with one session and lets the signer add more.
    let workers = args.workers.unwrap_or(1);
    let (mut keys, stores) = keysource::open_keys(
        &requests,
        &args.connection,
        environment,
        &origin,
        &zone_dnskeys,
        workers,
    )?;
    let pool = stores.first().map(|store| store.pool().clone());
    let mut stores: Vec<Box<dyn sign::KeyStore + Send>> = stores
        .into_iter()
        .map(|store| Box::new(store) as Box<dyn sign::KeyStore + Send>)
        .collect();
    if let Some(key_set) = &key_set {
        common::ksr::check_zsks(&keys, key_set)?;
        keys.extend(common::ksr::ksk_signing_keys(key_set, &origin)?);
        common::ksr::apply(&mut zone, key_set);
    }
    check_key_set(&keys)?;
    for key in &keys {
        cli::verbose(1, &key_choice(key, args.ksk_signs_all));
    }
    cli::verbose(1, &{
        let on = match pool.as_ref().map(|p| p.report().len()) {
            Some(tokens) if tokens > 1 => format!("{tokens} tokens"),
            _ => "the token".to_string(),
        };
        if args.workers.is_some() {
            format!("signing with {} session(s) on {on}", stores.len())
        } else {
            format!(
                "signing with -n auto: {} session(s) on {on}, more while they sign faster",
                stores.len()
            )
        }
    });
    let role_problems = keysource::role_problems(&keys, args.ksk_signs_all);
    for problem in &role_problems {
        cli::warn(problem);
    }
    if !role_problems.is_empty() {
        if args.strict {
            return Err(Error::Failed(
                "the key set is one dnssec-verify rejects (--strict); nothing was written".into(),
            ));
        }
        cli::warn(
            "dnssec-verify rejects this zone unless given -z (validators accept it); sign a single-key (CSK) zone with -z, or add the missing key",
        );
    }

    let vouched = if args.reverify || zone_file == "-" || load_report.input_signatures == 0 {
        None
    } else {
        let path = sign::sidecar::path_for(std::path::Path::new(&zone_file));
        let vouched = sign::sidecar::read(&path, &origin, &keys, load_report.input_signatures);
        if let Some(vouched) = &vouched {
            cli::verbose(
                1,
                &format!(
                    "the verified-signature record {path:?} vouches for {} signatures",
                    vouched.len()
                ),
            );
        }
        vouched
    };

    let (_, _, old_serial) = zone.soa()?;
    let serial = sign::new_serial(args.serial, old_serial, now);
    zone.set_serial(serial)?;

    let options = SignOptions {
        inception,
        expiration,
        dnskey_expiration,
        jitter: args.jitter,
        denial: match &args.salt {
            Some(salt) => Denial::Nsec3 {
                salt: salt.clone(),
                iterations: args.iterations,
                opt_out: args.opt_out,
            },
            None => Denial::Nsec,
        },
        zsk_signs_keys: !args.zsk_not_on_keys,
        ksk_signs_all: args.ksk_signs_all,
        dnskey_ttl: args.dnskey_ttl,
        allow_unsigned_algorithm: args.allow_unsigned_algorithm,
        seed: now as u64 ^ u64::from(std::process::id()) << 32,
        now: now as u32,
        // BIND's default cycle interval: a quarter of the validity period.
        refresh: args
            .refresh
            .unwrap_or(expiration.wrapping_sub(inception) / 4),
        vouched: vouched.map(std::sync::Arc::new),
        sync: sign::cds::SyncOptions {
            digests: if args.cds_digests.is_empty() {
                vec![common::ds::DigestType::Sha256]
            } else {
                args.cds_digests.clone()
            },
            delete: args.cds_delete,
            // With an SKR the bundle says which CDS and CDNSKEY there are.
            withdraw: if key_set.is_some() {
                Vec::new()
            } else {
                selection.withdrawn.sync.clone()
            },
        },
        presigned: key_set.as_ref().map(|k| k.signatures.clone()),
        zonemd: args.zonemd.clone(),
        ramp: args.workers.is_none().then_some(sign::ramp::Ramp {
            cap: sign::ramp::AUTO_CAP,
        }),
    };
    if let Some((sorted, tuning)) = sorted.as_mut() {
        let writing = Instant::now();
        let style = args.style.unwrap_or(Style::Text);
        let file = zone_out
            .as_mut()
            .ok_or_else(|| Error::usage("--low-memory writes a file, not stdout"))?;
        let mut header = Some(vec![
            format!("File written on {}", time::format_ctime_local(now)),
            format!(
                "zone-sign (p11dnssec) version {}",
                env!("CARGO_PKG_VERSION")
            ),
        ]);
        let outcome = progress.signing(|watch| {
            sign::chunked::sign_chunked(
                zone,
                sorted,
                tuning.chunk_nodes,
                &keys,
                &mut stores,
                &options,
                watch,
                &mut |chunk| {
                    let header = header.take().unwrap_or_default();
                    write_zone(file, chunk, style, args.dnssec_only, &header)
                        .map_err(|e| Error::io(&output, e))
                },
            )
        })?;
        file.flush().map_err(|e| Error::io(&output, e))?;
        // The old record's entries are of no more use: freed before the
        // new record is built, a re-sign needs no more than a signing.
        drop(options);
        commit_outputs(
            &origin,
            &keys,
            outcome.verified,
            stores[0].as_mut(),
            zone_out,
            sidecar_out,
            dsset,
        )?;
        phases.write = writing.elapsed();
        progress.clear();
        report.file_name(&output);
        return report_stats(args, &report, &output, &outcome.stats, &phases, run_started);
    }
    let mut signed = progress
        .signing(|watch| sign::sign_zone_watched(zone, &keys, &mut stores, &options, watch))?;
    // A record that authenticated but matched nothing is of another run
    // than the zone beside it (both verified now; the new record fits).
    if options.vouched.as_ref().is_some_and(|v| !v.is_empty())
        && signed.stats.vouched == 0
        && signed.stats.retained > 0
    {
        cli::warn(
            "the verified-signature record beside the input vouched for none of its signatures (stale); every kept signature was verified",
        );
    }
    cli::verbose(
        1,
        &format!(
            "signed: {} signatures made, {} kept, {} dropped in {:.3} s (chain {:.3} s)",
            signed.stats.generated,
            signed.stats.retained,
            signed.stats.dropped,
            signed.stats.signing_time.as_secs_f64(),
            signed.stats.chain_time.as_secs_f64()
        ),
    );
    for member in pool.iter().filter(|p| p.is_pool()).flat_map(|p| p.report()) {
        cli::verbose(
            1,
            &format!(
                "{}: {} signatures{}",
                member.name,
                member.signatures,
                if member.failed { " (failed)" } else { "" }
            ),
        );
    }
    let checking = Instant::now();
    if !args.skip_check {
        progress.phase("checking the signed zone");
        cli::verbose(1, "checking the signed zone");
        report.line("Verifying the zone using the following algorithms:");
        for algorithm in keysource::algorithms(&keys) {
            report.line(&format!("- {algorithm}"));
        }
        if let Err(error) = check_signed(&signed, &keys, &options) {
            progress.clear();
            cli::stderr_line(&format!("zone-sign: {error}"));
            return Err(Error::Failed("Zone verification failed (failure)".into()));
        }
        report.line("Zone fully signed:");
        for line in keysource::summary(&keys) {
            report.line(&line);
        }
    }

    phases.check = checking.elapsed();
    cli::verbose(1, &format!("writing {output:?}"));
    let writing = Instant::now();
    progress.phase("writing the signed zone");
    let style = args
        .style
        .unwrap_or(if to_stdout { Style::Full } else { Style::Text });
    let header = vec![
        format!("File written on {}", time::format_ctime_local(now)),
        format!(
            "zone-sign (p11dnssec) version {}",
            env!("CARGO_PKG_VERSION")
        ),
    ];
    if let Some(file) = zone_out.as_mut() {
        write_zone(file, &signed, style, args.dnssec_only, &header)
            .and_then(|()| file.flush())
            .map_err(|e| Error::io(&output, e))?;
    } else {
        let mut out = common::output::Stdout::new();
        write_zone(&mut out, &signed, style, args.dnssec_only, &header)
            .map_err(|e| Error::io("stdout", e))?;
        out.flush()?;
    }
    let verified = std::mem::take(&mut signed.verified);
    commit_outputs(
        &signed.origin,
        &keys,
        verified,
        stores[0].as_mut(),
        zone_out,
        sidecar_out,
        dsset,
    )?;
    phases.write = writing.elapsed();
    // The signed zone's millions of small allocations are the process's
    // to free at exit: freeing them one by one cost 4% of a re-sign.
    let stats = std::mem::take(&mut signed.stats);
    std::mem::forget(signed);
    progress.clear();
    if !to_stdout {
        report.file_name(&output);
    }
    report_stats(args, &report, &output, &stats, &phases, run_started)
}

/// `-t`: the statistics, as lines or (`--json`) one JSON object.
fn report_stats(
    args: &Args,
    report: &Report,
    output: &str,
    stats: &sign::SignStats,
    phases: &Phases,
    run_started: Instant,
) -> Result<()> {
    if args.stats {
        let signing = stats.signing_time.as_secs_f64();
        let runtime = run_started.elapsed().as_secs_f64();
        if args.json {
            report.always(&stats_json(output, stats, phases, runtime)?);
            return Ok(());
        }
        let seconds = |label: &str, d: Duration| format!("{label:<36}{:>14.3}", d.as_secs_f64());
        let mut lines = vec![
            format!("{:<36}{:>10}", "Signatures generated:", stats.generated),
            format!("{:<36}{:>10}", "Signatures retained:", stats.retained),
            format!("{:<36}{:>10}", "Signatures dropped:", stats.dropped),
            format!(
                "{:<36}{:>10}",
                "Signatures successfully verified:", stats.verified
            ),
            format!(
                "{:<36}{:>10}",
                "Signatures unsuccessfully verified:", stats.retried
            ),
            format!(
                "{:<36}{:>10}",
                "Signatures vouched by the record:", stats.vouched
            ),
            format!("{:<36}{:>14.3}", "Signing time in seconds:", signing),
            format!(
                "{:<36}{:>14.3}",
                "Signatures per second:",
                if signing > 0.0 {
                    stats.generated as f64 / signing
                } else {
                    0.0
                }
            ),
            format!("{:<36}{:>14.3}", "Runtime in seconds:", runtime),
            // Where the time went; the token and verify times are summed
            // over the sessions, so with -n N they can reach N times the
            // signing time.
            seconds("Parse time in seconds:", phases.parse),
            seconds("Sort and chain time in seconds:", stats.chain_time),
            seconds("Token wait time in seconds:", stats.token_time),
            seconds("Verify time in seconds:", stats.verify_time),
            seconds("Check time in seconds:", phases.check),
            seconds("Write time in seconds:", phases.write),
        ];
        for (index, session) in stats.sessions.iter().enumerate() {
            lines.push(format!(
                "{:<36}{:>14.3}",
                format!("Session {index} signatures per second:"),
                session.rate()
            ));
        }
        if let Some(ramp) = &stats.ramp {
            for step in &ramp.steps {
                lines.push(format!(
                    "{:<36}{:>14.3}",
                    format!("Auto: {} sessions RRsets per second:", step.sessions),
                    step.rate
                ));
            }
            lines.push(format!("{:<36}{:>10}", "Auto: sessions kept:", ramp.chosen));
        }
        for line in lines {
            report.always(&line);
        }
    }
    Ok(())
}

/// Writes the verified-signature record (signed with `store`'s keys) and
/// the dsset, then renames every output into place: all are complete and
/// synced before any is renamed.
fn commit_outputs(
    origin: &Name,
    keys: &[SigningKey],
    verified: Vec<sign::sidecar::Digest>,
    store: &mut (dyn sign::KeyStore + Send),
    zone_out: Option<AtomicFile>,
    mut sidecar_out: Option<AtomicFile>,
    mut dsset: AtomicFile,
) -> Result<()> {
    if let Some(file) = sidecar_out.as_mut() {
        let record = sign::sidecar::build(origin, keys, verified, store)?;
        file.write_all(&record)
            .map_err(|e| Error::io(file.path().display().to_string(), e))?;
    }
    let text = common::ds::dsset_text(origin, &keysource::ds_keys(keys));
    dsset
        .write_all(text.as_bytes())
        .map_err(|e| Error::io(dsset.path().display().to_string(), e))?;
    common::output::commit_all(
        zone_out
            .into_iter()
            .chain(sidecar_out)
            .chain([dsset])
            .collect(),
    )
}

/// How the low-memory path sorts and chunks (the defaults; tests make
/// them small with `P11DNSSEC_SORT_BUDGET` and `P11DNSSEC_CHUNK_NODES`
/// so that a small zone spills several runs and crosses several chunks).
struct Tuning {
    sort_budget: usize,
    chunk_nodes: usize,
}

/// An input this large (about 600k TLD-like delegations) is signed in the
/// low-memory path when nothing needs the whole zone: measured quiet at 1M
/// delegations (107 MB), that path took 148 MiB and 98.6 s, the in-memory
/// one 700 MiB and 104.1 s, so above this size chunks cost nothing.
const LOW_MEMORY_INPUT: u64 = 64 << 20;

/// Whether to sign in chunks: `--low-memory`, refused with what needs the
/// whole zone; or by itself for a large input file when nothing does.
fn low_memory(args: &Args, zone_file: &str, to_stdout: bool) -> Result<Option<Tuning>> {
    let whole_zone = if !args.skip_check {
        Some("the check of the whole signed zone (give -P)")
    } else if !args.zonemd.is_empty() {
        Some("--zonemd")
    } else if to_stdout {
        Some("output to stdout (give -f FILE)")
    } else {
        None
    };
    let chosen = if args.low_memory {
        if let Some(what) = whole_zone {
            return Err(Error::usage(format!(
                "--low-memory signs the zone in chunks; {what} needs the whole zone"
            )));
        }
        true
    } else {
        whole_zone.is_none()
            && zone_file != "-"
            && std::fs::metadata(zone_file).is_ok_and(|m| m.len() >= LOW_MEMORY_INPUT)
    };
    if !chosen {
        return Ok(None);
    }
    let tuned = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&v| v > 0)
            .unwrap_or(default)
    };
    cli::verbose(1, "signing in chunks (low-memory path)");
    Ok(Some(Tuning {
        sort_budget: tuned(
            "P11DNSSEC_SORT_BUDGET",
            common::zone::external_sort::DEFAULT_SORT_BUDGET,
        ),
        chunk_nodes: tuned("P11DNSSEC_CHUNK_NODES", sign::chunked::DEFAULT_CHUNK_NODES),
    }))
}

/// Wall time of the phases the tool itself runs (the signer measures its own).
#[derive(Default)]
struct Phases {
    parse: Duration,
    check: Duration,
    write: Duration,
}

#[derive(serde::Serialize)]
struct JsonStats<'a> {
    output: &'a str,
    signatures_generated: u64,
    signatures_retained: u64,
    signatures_dropped: u64,
    signatures_verified: u64,
    signatures_unsuccessfully_verified: u64,
    signatures_vouched: u64,
    runtime_seconds: f64,
    parse_seconds: f64,
    chain_seconds: f64,
    signing_seconds: f64,
    token_wait_seconds: f64,
    verify_seconds: f64,
    check_seconds: f64,
    write_seconds: f64,
    sessions: Vec<JsonSession>,
    /// `-n auto`: each step's sessions and rate, the count kept and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    auto: Option<JsonAuto<'a>>,
}

#[derive(serde::Serialize)]
struct JsonAuto<'a> {
    steps: Vec<JsonStep>,
    sessions_kept: usize,
    reason: &'a str,
}

#[derive(serde::Serialize)]
struct JsonStep {
    sessions: usize,
    rrsets_per_second: f64,
}

#[derive(serde::Serialize)]
struct JsonSession {
    signatures: u64,
    token_wait_seconds: f64,
    signatures_per_second: f64,
}

/// `-t --json`: the statistics as one JSON object, numbers as numbers.
fn stats_json(
    output: &str,
    stats: &sign::SignStats,
    phases: &Phases,
    runtime: f64,
) -> Result<String> {
    let json = JsonStats {
        output,
        signatures_generated: stats.generated,
        signatures_retained: stats.retained,
        signatures_dropped: stats.dropped,
        signatures_verified: stats.verified,
        signatures_unsuccessfully_verified: stats.retried,
        signatures_vouched: stats.vouched,
        runtime_seconds: runtime,
        parse_seconds: phases.parse.as_secs_f64(),
        chain_seconds: stats.chain_time.as_secs_f64(),
        signing_seconds: stats.signing_time.as_secs_f64(),
        token_wait_seconds: stats.token_time.as_secs_f64(),
        verify_seconds: stats.verify_time.as_secs_f64(),
        check_seconds: phases.check.as_secs_f64(),
        write_seconds: phases.write.as_secs_f64(),
        sessions: stats
            .sessions
            .iter()
            .map(|s| JsonSession {
                signatures: s.generated,
                token_wait_seconds: s.token_time.as_secs_f64(),
                signatures_per_second: s.rate(),
            })
            .collect(),
        auto: stats.ramp.as_ref().map(|ramp| JsonAuto {
            steps: ramp
                .steps
                .iter()
                .map(|step| JsonStep {
                    sessions: step.sessions,
                    rrsets_per_second: step.rate,
                })
                .collect(),
            sessions_kept: ramp.chosen,
            reason: &ramp.reason,
        }),
    };
    serde_json::to_string(&json).map_err(|e| Error::Failed(format!("statistics as JSON: {e}")))
}

/// For `-v 1`: a key, its role and what it signs.
fn key_choice(key: &SigningKey, ksk_signs_all: bool) -> String {
    let role = if key.ksk { "KSK" } else { "ZSK" };
    let what = match (key.active, key.ksk, ksk_signs_all) {
        (false, _, _) => "published only (not active)",
        (true, true, false) => "signs the key RRsets (all RRsets if no ZSK of its algorithm)",
        (true, true, true) => "signs all RRsets (-z)",
        (true, false, _) => "signs the zone",
    };
    let revoked = if key.dnskey.is_revoked() {
        ", revoked"
    } else {
        ""
    };
    format!("key {}: {role}{revoked}, {what}", key.description)
}

/// The bundle of the SKR `file` covering `now`, checked against the KSKs
/// of the `.key` files `ksks` (read with the key-file trust checks).
fn skr_key_set(
    file: &str,
    ksks: &[PathBuf],
    origin: &Name,
    now: i64,
    trust: &common::keyfile::KeyFileTrust,
) -> Result<common::ksr::KeySet> {
    let mut trusted = Vec::new();
    for path in ksks {
        let record = common::keyfile::read_key_file(path, trust)?;
        if !record.owner.eq_ignore_case(origin) || !record.dnskey.is_ksk() {
            return Err(Error::Failed(format!(
                "--skr-ksk {}: not a KSK of {origin}",
                path.display()
            )));
        }
        trusted.push(record.dnskey);
    }
    let text = common::ksr::read_file(file)?;
    let bundles =
        common::ksr::format::parse(&text, file, common::ksr::format::Kind::Response, origin)?;
    common::ksr::key_set_at(&bundles, now, origin, &trusted, file)
}

fn check_key_set(keys: &[SigningKey]) -> Result<()> {
    if !keys.iter().any(|k| k.active) {
        return Err(Error::Failed(
            "No signing keys specified or found (none is active).".into(),
        ));
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
            "-S",
            "-K",
            "/var/named/keys",
            "-o",
            "example.com",
            "-e",
            "+31536000",
            "/var/named/example.com.zone",
        ])
        .expect("guide");
        assert!(args.smart);
        assert_eq!(args.origin.as_deref(), Some("example.com"));
        assert_eq!(args.expiration.as_deref(), Some("+31536000"));
        assert_eq!(
            args.zone_file.as_deref(),
            Some("/var/named/example.com.zone")
        );
    }

    #[test]
    fn nsec3_serial_and_connection_options() {
        let args = parse(&[
            "-3",
            "-",
            "-H",
            "0",
            "-A",
            "-N",
            "increment",
            "--token",
            "t",
            "--pin-file",
            "/p",
            "z",
            "Kz.+013+00001",
        ])
        .expect("parse");
        assert_eq!(args.salt, Some(Vec::new()));
        assert!(args.opt_out);
        assert_eq!(args.serial, SerialMode::Increment);
        assert_eq!(args.keys, ["Kz.+013+00001"]);
        assert_eq!(args.connection.token_label, Some(b"t".to_vec()));
    }

    #[test]
    fn zonemd_options() {
        use sign::zonemd::ZonemdHash;
        assert!(parse(&["z"]).expect("none").zonemd.is_empty());
        assert_eq!(
            parse(&["--zonemd", "z"]).expect("-").zonemd,
            [ZonemdHash::Sha384]
        );
        let args = parse(&["--zonemd", "--zonemd-digest", "sha512", "z"]).expect("512");
        assert_eq!(args.zonemd, [ZonemdHash::Sha512]);
        let args = parse(&[
            "--zonemd-digest",
            "2",
            "--zonemd-digest",
            "simple:sha384",
            "z",
        ]);
        assert_eq!(
            args.expect("both").zonemd,
            [ZonemdHash::Sha384, ZonemdHash::Sha512]
        );
        // -z stays BIND's: KSKs sign everything.
        let args = parse(&["-z", "z"]).expect("-z");
        assert!(args.ksk_signs_all && args.zonemd.is_empty());
    }

    #[test]
    fn usage_errors() {
        for args in [
            &[][..],
            &["-H", "151", "z"],
            &["-N", "bogus", "z"],
            &["-3", "xyz", "z"],
            &["-O", "raw", "z"],
            &["-D", "-N", "date", "z"],
            &["-p", "z"],
            &["-g", "z"],
            &["--zonemd-digest", "sha256", "z"],
        ] {
            assert_eq!(parse(args).expect_err("fail").exit_code(), 2, "{args:?}");
        }
    }
}
