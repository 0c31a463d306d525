//! ksr-sign: the offline side of a KSK ceremony, as BIND 9.20's
//! `dnssec-ksr sign`: checks a key signing request against the policy and
//! answers it with a signed key response made by the KSK in its token.

use common::algorithm::Algorithm;
use common::cli::{self, ConnectionArgs, Environment, Opt, Parsed};
use common::keyfile::KeyFileTrust;
use common::ksr::format::{self, Kind};
use common::ksr::policy::{check_request, Policy};
use common::ksr::sign::{respond, Ksk};
use common::name::Name;
use common::sign::verify::Verifier;
use common::sign::KeyStore;
use common::time::{self, parse_bind_time, KeyTime};
use common::{keysource, output::AtomicFile, Error, Result};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

const HELP: &str = "\
Usage: ksr-sign [options] -f KSR -e END zone

Sign a key signing request (ksr-request's, BIND 9.20's or Knot's) with the
zone's KSKs in the token, after checking it against the policy: each bundle
holds only ZSKs of an allowed algorithm and size, with a KSK of their
algorithm; bundles strictly increasing, no slot longer than --max-slot; each
ZSK in one contiguous run of bundles. A request that fails is refused naming
the bundle and the reason, and nothing is signed. The signed key response
(BIND 9.20's SKR format) has, per slot and then every validity - refresh, the
DNSKEY RRset (KSKs, then the request's ZSKs), CDNSKEY and CDS of the KSKs
between their SyncPublish and SyncDelete, and RRSIGs by every active KSK
(inception one hour before the slot), each verified before it is written.
It needs no network and keeps no state.

Options:
  -f FILE          the key signing request (- for stdin)
  -e DATE          end of the period the response covers (required; BIND's
                   date syntax)
  -K DIR           key directory with the KSK key files (Label: lines naming
                   the token objects; default .)
  -w FILE          write the response to FILE (replaced atomically; default
                   stdout)
      --algorithms LIST
                   ZSK algorithms accepted, comma-separated (default RSASHA256,
                   RSASHA512,ECDSAP256SHA256,ECDSAP384SHA384,ED25519,ED448)
      --min-rsa-bits N
                   smallest RSA ZSK accepted (default 2048)
      --max-slot DURATION
                   longest slot (time between bundles) accepted (default 90d)
      --validity DURATION
                   validity of the signatures (default 14d)
      --refresh DURATION
                   a new response bundle this long before the last one's
                   signatures expire (default 5d)
      --cds-digest DIGEST
                   CDS digest type (SHA-256, SHA-384; repeatable; default
                   SHA-256)
      --unix-time  bundle times in the headers as Unix seconds, the form Knot
                   3.2's keymgr reads (BIND reads both)
      --insecure-key-dir  read key files and a DIR that anyone may write
                   (refused otherwise; group-writable gets a warning)
  -h, --help       print this help
  -V, --version    print the version

";

fn help_text() -> String {
    format!(
        "{HELP}{}\nExit status: 0 success, 1 failure (the request breaks the policy, token\nerror; nothing written), 2 usage error, 3 no KSK found.\n",
        cli::CONNECTION_HELP
    )
}

#[derive(Debug, Default)]
struct Args {
    connection: ConnectionArgs,
    request: Option<String>,
    end: Option<String>,
    key_dir: Option<PathBuf>,
    output: Option<PathBuf>,
    insecure_key_dir: bool,
    unix_time: bool,
    algorithms: Option<Vec<Algorithm>>,
    min_rsa_bits: Option<usize>,
    max_slot: Option<i64>,
    validity: Option<i64>,
    refresh: Option<i64>,
    cds_digests: Vec<common::ds::DigestType>,
    zone: Option<String>,
}

fn duration(parser: &mut lexopt::Parser, opt: &Opt) -> Result<i64> {
    let text = cli::value(parser, opt)?;
    time::parse_duration(&text).map_err(|e| e.with_value(&text))
}

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Parsed<Args>> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut a = Args::default();
    while let Some(opt) = cli::next_opt(&mut parser)? {
        if a.connection.take(&opt, &mut parser)? {
            continue;
        }
        match &opt {
            Opt::Short('f') => a.request = Some(cli::value(&mut parser, &opt)?),
            Opt::Short('e') => a.end = Some(cli::value(&mut parser, &opt)?),
            Opt::Short('K') => a.key_dir = Some(PathBuf::from(cli::value_os(&mut parser, &opt)?)),
            Opt::Short('w') => a.output = Some(PathBuf::from(cli::value_os(&mut parser, &opt)?)),
            _ if opt.is_long("insecure-key-dir") => a.insecure_key_dir = true,
            _ if opt.is_long("unix-time") => a.unix_time = true,
            _ if opt.is_long("algorithms") => {
                let text = cli::value(&mut parser, &opt)?;
                let list = text
                    .split(',')
                    .map(|name| {
                        Algorithm::parse(name.trim()).ok_or_else(|| {
                            Error::usage(format!("--algorithms: unknown algorithm '{name}'"))
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                a.algorithms = Some(list);
            }
            _ if opt.is_long("min-rsa-bits") => {
                a.min_rsa_bits = Some(cli::value_parsed(
                    &mut parser,
                    &opt,
                    "a number of bits",
                    |s| s.parse().ok(),
                )?)
            }
            _ if opt.is_long("max-slot") => a.max_slot = Some(duration(&mut parser, &opt)?),
            _ if opt.is_long("validity") => a.validity = Some(duration(&mut parser, &opt)?),
            _ if opt.is_long("refresh") => a.refresh = Some(duration(&mut parser, &opt)?),
            _ if opt.is_long("cds-digest") => a.cds_digests.push(
                common::ds::DigestType::parse(&cli::value(&mut parser, &opt)?)
                    .map_err(|e| Error::usage(format!("--cds-digest: {e}")))?,
            ),
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
    if a.request.is_none() {
        return Err(Error::usage("ksr-sign needs the key signing request (-f)"));
    }
    if a.end.is_none() {
        return Err(Error::usage("ksr-sign needs an end date (-e)"));
    }
    Ok(Parsed::Run(a))
}

fn main() -> ExitCode {
    cli::main_with("ksr-sign", &help_text(), |environment| {
        parse_args(std::env::args_os().skip(1))?.run(|args| run(&args, environment))
    })
}

fn policy(args: &Args) -> Result<Policy> {
    let mut policy = Policy::default();
    if let Some(list) = &args.algorithms {
        policy.algorithms = list.clone();
    }
    if let Some(bits) = args.min_rsa_bits {
        policy.min_rsa_bits = bits;
    }
    if let Some(slot) = args.max_slot {
        policy.max_slot = slot;
    }
    if let Some(validity) = args.validity {
        policy.validity = validity;
    }
    if let Some(refresh) = args.refresh {
        policy.refresh = refresh;
    }
    if !args.cds_digests.is_empty() {
        policy.cds_digests = args.cds_digests.clone();
    }
    policy.check()?;
    Ok(policy)
}

fn run(args: &Args, environment: &Environment) -> Result<()> {
    common::output::remove_temp_files_on_signals("ksr-sign")?;
    let now = time::now();
    let policy = policy(args)?;
    let zone = args.zone.clone().unwrap_or_default();
    let origin = Name::parse(&zone, Some(&Name::root()))
        .map_err(|e| Error::usage(format!("bad zone name '{zone}': {e}")))?;
    let end_text = args.end.clone().unwrap_or_default();
    let end = match parse_bind_time(&end_text, now, now)? {
        KeyTime::Set(t) => t,
        KeyTime::Unset => return Err(Error::usage(format!("'{end_text}' is not a date"))),
    };
    let out = args.output.as_deref().map(AtomicFile::create).transpose()?;
    let file = args.request.clone().unwrap_or_default();
    let shown = if file == "-" { "stdin" } else { file.as_str() };
    let request = format::parse(
        &common::ksr::read_file(&file)?,
        shown,
        Kind::Request,
        &origin,
    )?;

    // The KSKs: key files in -K whose .private names a token object.
    let dir = args.key_dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let trust = KeyFileTrust::new(args.insecure_key_dir);
    let pairs: Vec<common::keymeta::KeyPairFiles> =
        common::ksr::zone_key_files(&dir, &origin, &trust)?
            .into_iter()
            .filter(|p| p.record.dnskey.is_ksk())
            .collect();
    let mut requests = Vec::new();
    for pair in &pairs {
        let path = dir.join(pair.base_name() + ".key");
        let request =
            keysource::from_argument(&path.display().to_string(), None, &origin, true, &trust)?;
        if request.uri.is_some() {
            requests.push(request);
        }
    }
    if requests.is_empty() {
        return Err(Error::NotFound(format!(
            "no KSK of {origin} with a token key in '{}'",
            dir.display()
        )));
    }
    let ksk_algorithms: Vec<u8> = requests
        .iter()
        .filter_map(|r| r.dnskey.as_ref().map(|k| k.algorithm))
        .collect();
    // The policy first: a refused request never reaches the token.
    check_request(&request, &ksk_algorithms, end, &policy, shown)?;

    let (keys, mut stores) =
        keysource::open_keys(&requests, &args.connection, environment, &origin, &[], 1)?;
    let mut ksks = Vec::new();
    for (index, key) in keys.iter().enumerate() {
        let Some(pair) = pairs
            .iter()
            .find(|p| p.record.dnskey.public_key == key.dnskey.public_key)
        else {
            continue;
        };
        ksks.push(Ksk {
            dnskey: key.dnskey.clone(),
            timing: pair.timing.clone(),
            index,
            verifier: Verifier::new(&key.public_key, key.algorithm)?,
        });
    }
    let store = stores
        .first_mut()
        .ok_or_else(|| Error::Failed("no session on the token".into()))?;
    let (bundles, breaks) = respond(&request, &ksks, end, &origin, &policy, &mut |key, data| {
        store.sign(key, data)
    })?;
    let text = format::write(
        Kind::Response,
        &origin,
        &bundles,
        &breaks,
        now,
        args.unix_time,
    );
    common::output::write_text_or_stdout(out, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_a_request_an_end_and_a_zone_and_checks_the_policy_options() {
        for args in [
            &["-e", "+90d", "z"][..],
            &["-f", "ksr", "z"],
            &["-f", "ksr", "-e", "+90d"],
            &["-f", "ksr", "-e", "+9d", "--algorithms", "RSAMD5X", "z"],
            &["-f", "ksr", "-e", "+9d", "--validity", "10m", "z"],
        ] {
            let error = cli::parse_literal(parse_args, args).expect_err("usage");
            assert_eq!(error.exit_code(), 2, "{args:?}");
        }
        let args = cli::parse_literal(
            parse_args,
            &[
                "-f",
                "ksr",
                "-e",
                "+90d",
                "--refresh",
                "20d",
                "--validity",
                "14d",
                "z",
            ],
        )
        .expect("parse");
        assert_eq!(policy(&args).expect_err("refresh").exit_code(), 2);
    }
}
