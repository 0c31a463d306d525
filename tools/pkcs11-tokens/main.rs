//! pkcs11-tokens: list the slots and tokens of a PKCS#11 module, in BIND
//! 9.16's format, with what an operator needs to choose a token.

use common::algorithm::Algorithm;
use common::cli::{self, ConnectionArgs, Environment, Parsed};
use common::pkcs11::mechanisms::{self, Capabilities};
use common::pkcs11::speed;
use common::pkcs11::{Module, SlotSummary};
use common::progress::Progress;
use common::uri::{PathAttr, Pkcs11Uri};
use common::{output::Stdout, Error, Result};
use cryptoki::slot::{Limit, TokenInfo};
use serde::Serialize;
use std::ffi::OsString;
use std::process::ExitCode;

const HELP: &str = "\
Usage: pkcs11-tokens [-v] [-m module] [--json]
       pkcs11-tokens --speed [-l label | -a algorithm [-b bits]] [-n sessions] [--seconds S]
                     [connection options]
       pkcs11-tokens --test [--json] [connection options]

List the slots and tokens of a PKCS#11 module and what each token can do;
with --speed, measure the token's signing rate the way zone-sign signs: with
the key labelled -l (the key zone-sign will use; nothing on the token
changes), or a session key made for it that leaves nothing on the token;
with --test, check every DNSSEC algorithm the token offers: make a session
key pair, sign, verify the signature in software, destroy the pair.

Options:
  -v, --verbose      trace slot discovery and missing mechanisms on stderr
  -q, --quiet        no progress line on a terminal with --speed and --test
      --json         print JSON instead of BIND's format
      --speed        measure signatures per second
      --test         self-test each DNSSEC algorithm the token offers (exit 1
                     if one fails)
  -l, --label LABEL  with --speed: sign with the token's private key of this label
  -a, --algorithm ALG  with --speed: the DNSSEC algorithm (default ECDSAP256SHA256;
                     with -l, the key's own, RSASHA256 for RSA)
  -b, --bits BITS    with --speed and RSA: the key size (default 2048)
  -n, --sessions N   with --speed: sessions signing at once (default: CPUs)
      --seconds S    with --speed: how long to measure (default 3)
  -h, --help         print this help
  -V, --version      print the version

";

fn help_text() -> String {
    format!(
        "{HELP}{}\nExit status: 0 success, 1 failure, 2 usage error, 3 no such slot or token.\n",
        cli::CONNECTION_HELP
    )
}

#[derive(Debug, Default)]
struct Args {
    connection: ConnectionArgs,
    verbose: bool,
    quiet: bool,
    json: bool,
    speed: bool,
    test: bool,
    label: Option<String>,
    algorithm: Option<Algorithm>,
    bits: Option<u32>,
    sessions: Option<usize>,
    seconds: Option<f64>,
}

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Parsed<Args>> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut parsed = Args::default();
    while let Some(opt) = cli::next_opt(&mut parser)? {
        if parsed.connection.take(&opt, &mut parser)? {
            continue;
        }
        if opt.is('q', "quiet") {
            parsed.quiet = true;
        } else if opt.is_long("speed") {
            parsed.speed = true;
        } else if opt.is_long("test") {
            parsed.test = true;
        } else if opt.is('l', "label") {
            parsed.label = Some(cli::value(&mut parser, &opt)?);
        } else if opt.is('a', "algorithm") {
            let text = cli::value(&mut parser, &opt)?;
            parsed.algorithm = Some(
                Algorithm::parse(&text)
                    .ok_or_else(|| Error::usage(format!("unknown algorithm '{text}'")))?,
            );
        } else if opt.is('b', "bits") {
            parsed.bits = Some(cli::value_parsed(&mut parser, &opt, "a key size", |s| {
                s.parse().ok()
            })?);
        } else if opt.is('n', "sessions") {
            parsed.sessions = Some(cli::value_parsed(
                &mut parser,
                &opt,
                "a session count of 1 or more",
                |s| s.parse().ok().filter(|n| *n > 0),
            )?);
        } else if opt.is_long("seconds") {
            parsed.seconds = Some(cli::value_parsed(
                &mut parser,
                &opt,
                "a number of seconds",
                |s| s.parse().ok().filter(|n: &f64| *n > 0.0),
            )?);
        } else if opt.is('v', "verbose") {
            parsed.verbose = true;
        } else if opt.is_long("json") {
            parsed.json = true;
        } else if opt.is('h', "help") {
            return Ok(Parsed::Help);
        } else if opt.is('V', "version") {
            return Ok(Parsed::Version);
        } else {
            return Err(opt.unexpected());
        }
    }
    let speed_only = parsed.label.is_some()
        || parsed.algorithm.is_some()
        || parsed.bits.is_some()
        || parsed.sessions.is_some()
        || parsed.seconds.is_some();
    if speed_only && !parsed.speed {
        return Err(Error::usage("-l, -a, -b, -n and --seconds go with --speed"));
    }
    if parsed.speed && parsed.test {
        return Err(Error::usage("give --speed or --test, not both"));
    }
    if parsed.label.is_some() && parsed.bits.is_some() {
        return Err(Error::usage(
            "-b makes a key of that size: it does not go with -l (the key has its size)",
        ));
    }
    Ok(Parsed::Run(parsed))
}

fn main() -> ExitCode {
    cli::main_with("pkcs11-tokens", &help_text(), |environment| {
        parse_args(std::env::args_os().skip(1))?.run(|args| run(&args, environment))
    })
}

fn run(args: &Args, environment: &Environment) -> Result<()> {
    if args.speed {
        return speed(args, environment);
    }
    if args.test {
        return self_test(args, environment);
    }
    let spec = args.connection.resolve(None, environment)?;
    let module = Module::load(&spec.module)?;
    let slots = module.slots()?;
    if args.verbose {
        common::cli::stderr_line(&format!("slotCount={}", slots.len()));
        for (i, slot) in slots.iter().enumerate() {
            common::cli::stderr_line(&format!("slot#{i}=0x{:x}", slot.id));
        }
    }
    let probed: Vec<(SlotSummary, Option<Capabilities>)> = slots
        .into_iter()
        .map(|slot| {
            let capabilities = slot
                .token
                .is_some()
                .then(|| mechanisms::probe(&module, slot.slot));
            (slot, capabilities)
        })
        .collect();
    if args.verbose {
        for (_, capabilities) in &probed {
            for (name, why) in capabilities.iter().flat_map(|c| &c.missing) {
                common::cli::stderr_line(&format!("{name}: {why}"));
            }
        }
    }
    let mut out = Stdout::new();
    if args.json {
        print_json(&mut out, &probed)?;
    } else {
        print_bind(&mut out, &probed)?;
    }
    out.flush()
}

/// `--speed`: the token's signing rate with zone-sign's mechanisms.
fn speed(args: &Args, environment: &Environment) -> Result<()> {
    let spec = args.connection.resolve(None, environment)?;
    let module = Module::load(&spec.module)?;
    let slot = module.select_token(&spec.token)?;
    let pin = match slot.token.as_ref() {
        Some(token) if token.login_required() => Some(spec.pin.obtain()?),
        _ => None,
    };
    let key = match &args.label {
        Some(label) => speed::SpeedKey::Label {
            label: label.clone(),
            algorithm: args.algorithm,
        },
        None => speed::SpeedKey::Fresh {
            algorithm: args.algorithm.unwrap_or(Algorithm::EcdsaP256Sha256),
            rsa_bits: args.bits.unwrap_or(2048),
        },
    };
    let sessions = args
        .sessions
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let seconds = args.seconds.unwrap_or(3.0);
    // After the PIN: nothing may draw while it is asked for.
    let progress = Progress::new("pkcs11-tokens", !args.quiet);
    progress.phase(format!(
        "measuring {} with {sessions} session{} for {seconds} s",
        match &key {
            speed::SpeedKey::Label { label, .. } => format!("the key '{label}'"),
            speed::SpeedKey::Fresh { algorithm, .. } => algorithm.mnemonic().to_string(),
        },
        if sessions == 1 { "" } else { "s" }
    ));
    let report = speed::measure(
        &module,
        &slot,
        pin.as_ref(),
        &key,
        sessions,
        std::time::Duration::from_secs_f64(seconds),
    )?;
    progress.clear();
    let algorithm = report.algorithm;
    let mut out = Stdout::new();
    if args.json {
        out.line(&to_json(&JsonSpeed {
            algorithm: algorithm.mnemonic(),
            sessions: report.sessions,
            signatures: report.signatures,
            seconds: rounded(report.elapsed.as_secs_f64(), 1000.0),
            signatures_per_second: rounded(report.per_second(), 10.0),
        })?)?;
    } else {
        out.line(&format!(
            "{algorithm}: {} signatures in {:.3} s with {} session{}: {:.1} signatures/s",
            report.signatures,
            report.elapsed.as_secs_f64(),
            report.sessions,
            if report.sessions == 1 { "" } else { "s" },
            report.per_second()
        ))?;
    }
    out.flush()
}

/// `--test`: each DNSSEC algorithm the token offers, tried with a session
/// key pair; every algorithm is reported before a failure ends the run.
fn self_test(args: &Args, environment: &Environment) -> Result<()> {
    let spec = args.connection.resolve(None, environment)?;
    let module = Module::load(&spec.module)?;
    let slot = module.select_token(&spec.token)?;
    let pin = match slot.token.as_ref() {
        Some(token) if token.login_required() => Some(spec.pin.obtain()?),
        _ => None,
    };
    let algorithms = mechanisms::probe(&module, slot.slot).algorithms;
    if algorithms.is_empty() {
        return Err(Error::Failed(format!(
            "{} offers no DNSSEC algorithm (pkcs11-tokens -v says which mechanisms are missing)",
            slot.describe()
        )));
    }
    // One algorithm at a time, for a progress line that says which.
    let progress = Progress::new("pkcs11-tokens", !args.quiet);
    let mut results = Vec::new();
    for (i, algorithm) in algorithms.iter().enumerate() {
        progress.phase(format!(
            "testing {} ({} of {})",
            algorithm.mnemonic(),
            i + 1,
            algorithms.len()
        ));
        results.extend(speed::self_test(
            &module,
            &slot,
            pin.as_ref(),
            std::slice::from_ref(algorithm),
        )?);
    }
    progress.clear();
    let mut out = Stdout::new();
    if args.json {
        let objects: Vec<JsonTest> = results
            .iter()
            .map(|r| JsonTest {
                algorithm: r.algorithm.mnemonic(),
                number: r.algorithm.number(),
                key: &r.key,
                ok: r.error.is_none(),
                error: r.error.as_deref(),
            })
            .collect();
        out.line(&to_json(&objects)?)?;
    } else {
        for r in &results {
            match &r.error {
                None => out.line(&format!("{} ({}): ok", r.algorithm, r.key))?,
                Some(error) => {
                    out.line(&format!("{} ({}): failed: {error}", r.algorithm, r.key))?
                }
            }
        }
    }
    out.flush()?;
    let failed: Vec<&str> = results
        .iter()
        .filter(|r| r.error.is_some())
        .map(|r| r.algorithm.mnemonic())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::Failed(format!(
            "the self-test failed for {} of {} algorithms: {}",
            failed.len(),
            results.len(),
            failed.join(", ")
        )))
    }
}

/// One algorithm of `--test --json`; its schema is in the man page.
#[derive(Serialize)]
struct JsonTest<'a> {
    algorithm: &'a str,
    number: u8,
    key: &'a str,
    ok: bool,
    error: Option<&'a str>,
}

/// The token's URI: the stable identifier printed where BIND printed a
/// C pointer, and pasteable into the other tools.
fn token_uri(slot: &SlotSummary) -> String {
    let mut uri = Pkcs11Uri::default();
    if let Some(token) = &slot.token {
        uri.set(PathAttr::Token, Some(token.label().as_bytes().to_vec()));
        uri.set(
            PathAttr::Manufacturer,
            Some(token.manufacturer_id().as_bytes().to_vec()),
        );
        uri.set(
            PathAttr::Serial,
            Some(token.serial_number().as_bytes().to_vec()),
        );
        uri.set(PathAttr::Model, Some(token.model().as_bytes().to_vec()));
    }
    uri.set_slot_id(slot.id);
    uri.to_string()
}

/// Pads a token field to its fixed PKCS#11 width, as BIND prints it.
fn padded(text: &str, width: usize) -> String {
    format!("{text:<width$}")
}

fn yes_no(value: bool) -> &'static str {
    if value {
        "yes"
    } else {
        "no"
    }
}

fn print_bind(out: &mut Stdout, slots: &[(SlotSummary, Option<Capabilities>)]) -> Result<()> {
    let best = |bit: u32| {
        slots
            .iter()
            .find(|(_, c)| c.as_ref().is_some_and(|c| c.bind_operations & bit != 0))
            .map_or_else(|| "(nil)".to_string(), |(slot, _)| token_uri(slot))
    };
    out.line("DEFAULTS")?;
    out.line(&format!("\tbest_rsa_token={}", best(mechanisms::BIND_RSA)))?;
    out.line(&format!(
        "\tbest_ecdsa_token={}",
        best(mechanisms::BIND_ECDSA)
    ))?;
    out.line(&format!(
        "\tbest_eddsa_token={}",
        best(mechanisms::BIND_EDDSA)
    ))?;
    for (slot, capabilities) in slots {
        out.line("")?;
        let (Some(token), Some(capabilities)) = (&slot.token, capabilities) else {
            // BIND skipped slots without a token; we show them, in a block
            // of their own so that parsers of TOKEN blocks are unaffected.
            out.line("SLOT")?;
            out.line(&format!("\tslotID={}", slot.id))?;
            out.line(&format!("\tdescription={}", slot.info.slot_description()))?;
            out.line("\ttokenPresent=no")?;
            continue;
        };
        out.line("TOKEN")?;
        out.line(&format!("\taddress={}", token_uri(slot)))?;
        out.line(&format!("\tslotID={}", slot.id))?;
        out.line(&format!("\tlabel={}", padded(token.label(), 32)))?;
        out.line(&format!(
            "\tmanufacturerID={}",
            padded(token.manufacturer_id(), 32)
        ))?;
        out.line(&format!("\tmodel={}", padded(token.model(), 16)))?;
        out.line(&format!(
            "\tserialNumber={}",
            padded(token.serial_number(), 16)
        ))?;
        out.line(&format!(
            "\tsupported operations=0x{:x} ({})",
            capabilities.bind_operations,
            capabilities.bind_names()
        ))?;
        out.line(&format!(
            "\tinitialized={}",
            yes_no(token.token_initialized())
        ))?;
        out.line(&format!(
            "\tloginRequired={}",
            yes_no(token.login_required())
        ))?;
        out.line(&format!(
            "\tuserPinLocked={}",
            yes_no(token.user_pin_locked())
        ))?;
        out.line(&format!("\tsessions={}", sessions(token)))?;
        let names: Vec<&str> = capabilities
            .algorithms
            .iter()
            .map(|a| a.mnemonic())
            .collect();
        out.line(&format!("\tdnssecAlgorithms={}", names.join(",")))?;
        // The HSM guide's health check and backup scripts grep for these
        // two (BIND printed neither); they follow BIND's lines so that
        // parsers of BIND's block are unaffected.
        out.line("\tstatus=Token present")?;
        let serial = token.serial_number().trim_end();
        if !serial.is_empty() {
            out.line(&format!("\tSerial={serial}"))?;
        }
    }
    Ok(())
}

/// Open sessions and the token's limit: `0/unlimited`, `3/64`.
fn sessions(token: &TokenInfo) -> String {
    let count = token
        .session_count()
        .map_or_else(|| "?".to_string(), |c| c.to_string());
    format!("{count}/{}", max_sessions(token))
}

fn max_sessions(token: &TokenInfo) -> String {
    match token.max_session_count() {
        Limit::Max(max) => max.to_string(),
        Limit::Infinite => "unlimited".into(),
        Limit::Unavailable => "?".into(),
    }
}

/// The `--speed --json` object; its schema is in the man page (JSON OUTPUT).
#[derive(Serialize)]
struct JsonSpeed<'a> {
    algorithm: &'a str,
    sessions: usize,
    signatures: u64,
    seconds: f64,
    signatures_per_second: f64,
}

/// One slot of the `--json` array; its schema is in the man page (JSON
/// OUTPUT). The token's fields are `null` for a slot without a token.
#[derive(Serialize)]
struct JsonSlot<'a> {
    slot_id: u64,
    slot_description: &'a str,
    slot_manufacturer: &'a str,
    token_present: bool,
    uri: Option<String>,
    label: Option<&'a str>,
    manufacturer: Option<&'a str>,
    model: Option<&'a str>,
    serial: Option<&'a str>,
    initialized: Option<bool>,
    login_required: Option<bool>,
    user_pin_initialized: Option<bool>,
    user_pin_locked: Option<bool>,
    write_protected: Option<bool>,
    session_count: Option<u64>,
    /// `null` when the token has no limit or does not say.
    max_session_count: Option<u64>,
    sessions_unlimited: Option<bool>,
    bind_operations: Option<u32>,
    dnssec_algorithms: Option<Vec<&'static str>>,
}

/// Rounds to the precision the text output prints, so that JSON carries
/// no digits of timer noise.
fn rounded(value: f64, scale: f64) -> f64 {
    (value * scale).round() / scale
}

fn to_json(value: &impl Serialize) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Failed(format!("writing JSON: {e}")))
}

fn print_json(out: &mut Stdout, slots: &[(SlotSummary, Option<Capabilities>)]) -> Result<()> {
    let objects: Vec<JsonSlot> = slots
        .iter()
        .map(|(slot, capabilities)| {
            let token = slot.token.as_ref().zip(capabilities.as_ref());
            let field = |f: fn(&TokenInfo) -> bool| token.map(|(t, _)| f(t));
            JsonSlot {
                slot_id: slot.id,
                slot_description: slot.info.slot_description(),
                slot_manufacturer: slot.info.manufacturer_id(),
                token_present: slot.token.is_some(),
                uri: token.map(|_| token_uri(slot)),
                label: token.map(|(t, _)| t.label()),
                manufacturer: token.map(|(t, _)| t.manufacturer_id()),
                model: token.map(|(t, _)| t.model()),
                serial: token.map(|(t, _)| t.serial_number()),
                initialized: field(TokenInfo::token_initialized),
                login_required: field(TokenInfo::login_required),
                user_pin_initialized: field(TokenInfo::user_pin_initialized),
                user_pin_locked: field(TokenInfo::user_pin_locked),
                write_protected: field(TokenInfo::write_protected),
                session_count: token.and_then(|(t, _)| t.session_count()),
                max_session_count: token.and_then(|(t, _)| match t.max_session_count() {
                    Limit::Max(max) => Some(max),
                    Limit::Infinite | Limit::Unavailable => None,
                }),
                sessions_unlimited: token.and_then(|(t, _)| match t.max_session_count() {
                    Limit::Max(_) => Some(false),
                    Limit::Infinite => Some(true),
                    Limit::Unavailable => None,
                }),
                bind_operations: token.map(|(_, c)| c.bind_operations),
                dnssec_algorithms: token
                    .map(|(_, c)| c.algorithms.iter().map(|a| a.mnemonic()).collect()),
            }
        })
        .collect();
    out.line(&to_json(&objects)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Parsed<Args>> {
        parse_args(args.iter().map(OsString::from))
    }

    #[test]
    fn parses_bind_flags_and_json() {
        let Ok(Parsed::Run(args)) = parse(&["-v", "-m", "/x.so", "--json"]) else {
            panic!("should parse");
        };
        assert!(args.verbose && args.json);
        assert_eq!(args.connection.module, Some("/x.so".into()));
        assert!(matches!(parse(&["--help"]), Ok(Parsed::Help)));
        assert!(matches!(parse(&["--version"]), Ok(Parsed::Version)));
        assert_eq!(
            parse(&["-a", "ED25519"]).err().map(|e| e.exit_code()),
            Some(2)
        );
        let Ok(Parsed::Run(args)) =
            parse(&["--speed", "-a", "ED25519", "-n", "4", "--seconds", "0.5"])
        else {
            panic!("speed should parse");
        };
        assert_eq!(
            (args.algorithm, args.sessions),
            (Some(Algorithm::Ed25519), Some(4))
        );
        assert!(parse(&["--speed", "-n", "0"]).is_err());
        let Ok(Parsed::Run(args)) = parse(&["--test", "--json", "--token", "t"]) else {
            panic!("--test should parse");
        };
        assert!(args.test && args.json && !args.speed);
        assert_eq!(
            parse(&["--test", "--speed"]).err().map(|e| e.exit_code()),
            Some(2)
        );
        assert_eq!(
            parse(&["--test", "-a", "ED25519"])
                .err()
                .map(|e| e.exit_code()),
            Some(2)
        );
        assert_eq!(parse(&["-m"]).err().map(|e| e.exit_code()), Some(2));
    }
}
