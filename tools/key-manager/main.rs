//! key-manager: policy-driven key rollovers for keys in a PKCS#11 token,
//! from cron before `zone-sign -S` (BIND 9.16's dnssec-keymgr, with
//! dnssec-coverage as --check).

use common::cli::{self, ConnectionArgs, Environment, Parsed};
use common::keyfile::KeyFileTrust;
use common::keymgr::plan::{self, KeyStore, MadeKey, RunOptions, ZonePlan};
use common::keymgr::policy::{PolicyFile, ZonePolicy};
use common::keymgr::{coverage, Status, ZoneStatus};
use common::pkcs11::keygen::{self, KeyGenRequest, KeySpec, Protection};
use common::pkcs11::object::{find_objects, ObjectSelector};
use common::pkcs11::{Access, Token};
use common::uri::{PathAttr, Pkcs11Uri};
use common::{output::Stdout, time, Error, Result};
use std::cell::Cell;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit status when a KSK retirement waits for the parent's DS: the run
/// did what it could, and monitoring should look (as zone-verify's 4).
const EXIT_POSTPONED: u8 = 4;

/// dnssec-keymgr's default policy file (its sysconfdir on Debian).
const DEFAULT_POLICY: &str = "/etc/bind/dnssec-policy.conf";

const HELP: &str = "\
Usage: key-manager [options] [zone...]

Keep each zone's key directory holding keys whose timing covers the policy's
coverage period, as BIND 9.16's dnssec-keymgr did, for keys in a PKCS#11
token: make the keys in the token, write their K-files with Publish,
Activate, Inactive, Delete (and SyncPublish/SyncDelete for KSKs) by RFC 7583,
and retire a KSK only once the parent publishes its successor's DS. Keys that
are not the policy's are never changed. Run it from cron before zone-sign -S.

Options (dnssec-keymgr's letters):
  -c FILE          policy file (default /etc/bind/dnssec-policy.conf if it
                   exists, else the built-in policy)
  -K DIR           key directory (default: the policy's directory, else .)
  -k               KSKs only
  -z               ZSKs only
  -f               write dates that contradict each other (with a warning)
  -q               print no actions but postponements
  -n, --dry-run    print what would be done and change nothing (no key is
                   made, no file written)
      --check      check the coverage (dnssec-coverage): one line per gap,
                   exit 1 if there is one; changes nothing
      --status     after the run, print a table of every key's state
      --json       after the run, print the state as JSON (see key-manager(1))
      --insecure-key-dir  trust key files and directories that others may write
  -h, --help       print this help
  -V, --version    print the version

";

fn help_text() -> String {
    format!(
        "{HELP}{}\nExit status: 0 done (or nothing due), 1 failure or a coverage gap, \
         2 usage error, 4 a KSK retirement postponed (the parent's DS is not seen).\n",
        cli::CONNECTION_HELP
    )
}

#[derive(Debug, Default)]
struct Args {
    connection: ConnectionArgs,
    policy: Option<PathBuf>,
    directory: Option<PathBuf>,
    options: RunOptions,
    quiet: bool,
    dry_run: bool,
    check: bool,
    status: bool,
    json: bool,
    insecure_key_dir: bool,
    zones: Vec<String>,
}

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Parsed<Args>> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut parsed = Args::default();
    while let Some(opt) = cli::next_opt(&mut parser)? {
        if parsed.connection.take(&opt, &mut parser)? {
            continue;
        }
        if opt.is_short('c') {
            parsed.policy = Some(PathBuf::from(cli::value_os(&mut parser, &opt)?));
        } else if opt.is_short('K') {
            parsed.directory = Some(PathBuf::from(cli::value_os(&mut parser, &opt)?));
        } else if opt.is_short('k') {
            parsed.options.ksk_only = true;
        } else if opt.is_short('z') {
            parsed.options.zsk_only = true;
        } else if opt.is_short('f') {
            parsed.options.force = true;
        } else if opt.is_short('q') {
            parsed.quiet = true;
        } else if opt.is('n', "dry-run") {
            parsed.dry_run = true;
        } else if opt.is_long("check") {
            parsed.check = true;
        } else if opt.is_long("status") {
            parsed.status = true;
        } else if opt.is_long("json") {
            parsed.json = true;
        } else if opt.is_long("insecure-key-dir") {
            parsed.insecure_key_dir = true;
        } else if opt.is_short('r') {
            return Err(Error::usage("-r option has been deprecated"));
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
    if parsed.options.ksk_only && parsed.options.zsk_only {
        return Err(Error::usage("-z and -k cannot be used together"));
    }
    Ok(Parsed::Run(parsed))
}

fn main() -> ExitCode {
    let postponed = Cell::new(false);
    let code = cli::main_with("key-manager", &help_text(), |environment| {
        parse_args(std::env::args_os().skip(1))?.run(|args| run(&args, environment, &postponed))
    });
    if code == ExitCode::from(0) && postponed.get() {
        return ExitCode::from(EXIT_POSTPONED);
    }
    code
}

fn load_policy(args: &Args) -> Result<PolicyFile> {
    match &args.policy {
        Some(path) => {
            if !path.exists() {
                return Err(Error::NotFound(format!(
                    "policy file '{}' not found",
                    path.display()
                )));
            }
            PolicyFile::read(path)
        }
        None if Path::new(DEFAULT_POLICY).exists() => PolicyFile::read(Path::new(DEFAULT_POLICY)),
        None => PolicyFile::parse("", "(built-in policy)"),
    }
}

/// The zones to manage: those named, else the policy's, else those with
/// keys in the directory (dnssec-keymgr).
fn zones(args: &Args, policy: &PolicyFile) -> Result<Vec<String>> {
    if !args.zones.is_empty() {
        return Ok(args.zones.clone());
    }
    let named = policy.zones();
    if !named.is_empty() {
        return Ok(named);
    }
    let dir = args.directory.clone().unwrap_or_else(|| PathBuf::from("."));
    plan::zones_in_dir(&dir)
}

fn run(args: &Args, environment: &Environment, postponed: &Cell<bool>) -> Result<()> {
    common::output::remove_temp_files_on_signals("key-manager")?;
    let now = time::now();
    // The whole policy is read and checked before any directory or token.
    let file = load_policy(args)?;
    let mut policies = Vec::new();
    for zone in zones(args, &file)? {
        policies.push(file.zone(&zone)?);
    }
    let trust = KeyFileTrust::new(args.insecure_key_dir);
    let mut out = Stdout::new();
    let mut statuses = Vec::new();
    let mut gap_count = 0;
    for policy in &policies {
        let dir = args
            .directory
            .clone()
            .or_else(|| policy.directory.clone())
            .unwrap_or_else(|| PathBuf::from("."));
        if args.check {
            let keys = plan::read_keys(policy, &dir, &trust)?;
            let gaps = check(policy, &keys, now, &args.options);
            gap_count += gaps.len();
            if !args.json {
                for gap in &gaps {
                    out.line(gap)?;
                }
            }
            let plan = ZonePlan {
                policy: policy.clone(),
                dir: dir.clone(),
                keys,
                actions: Vec::new(),
            };
            statuses.push(ZoneStatus::of(&plan, now, Vec::new(), gaps, false));
            continue;
        }
        let _lock = if args.dry_run {
            None
        } else {
            Some(plan::lock_dir(&dir)?)
        };
        let plan = plan::plan_zone(
            policy,
            &dir,
            &trust,
            now,
            &args.options,
            &common::parent_ds::observe_parent_ds,
        )?;
        if plan.postponed() {
            postponed.set(true);
        }
        let (lines, shown) = if args.dry_run {
            let lines: Vec<String> = plan
                .actions
                .iter()
                .map(|a| plan.describe(a, None))
                .collect();
            (lines, plan.clone())
        } else {
            let mut store = TokenStore {
                policy,
                connection: &args.connection,
                environment,
                token: None,
            };
            let mut lines = Vec::new();
            let result = plan::apply(&plan, &args.options, now, &mut store, &mut lines);
            if let Err(error) = result {
                if !args.quiet {
                    for line in &lines {
                        out.line(line)?;
                    }
                }
                return Err(error);
            }
            // The state as it is now on disk.
            let after = ZonePlan {
                keys: plan::read_keys(policy, &dir, &trust)?,
                actions: Vec::new(),
                ..plan.clone()
            };
            (lines, after)
        };
        if !args.json {
            if !args.quiet {
                for line in &lines {
                    out.line(line)?;
                }
            } else {
                // -q hides what was done, not what still waits.
                for action in &plan.actions {
                    if matches!(action, plan::Action::Postponed { .. }) {
                        out.line(&plan.describe(action, Some("")))?;
                    }
                }
            }
        }
        statuses.push(ZoneStatus::of(
            &shown,
            now,
            lines,
            Vec::new(),
            plan.postponed(),
        ));
    }
    if args.json {
        let status = Status {
            now,
            dry_run: args.dry_run,
            zones: statuses,
        };
        let text = serde_json::to_string_pretty(&status)
            .map_err(|e| Error::Failed(format!("writing JSON: {e}")))?;
        out.line(&text)?;
    } else if args.status {
        out.text(&common::keymgr::table(&statuses))?;
    }
    out.flush()?;
    if gap_count > 0 {
        return Err(Error::Failed(format!(
            "{gap_count} gap{} in the key coverage",
            if gap_count == 1 { "" } else { "s" }
        )));
    }
    Ok(())
}

/// dnssec-coverage over the zone's keys (all of them, per algorithm) from
/// now to now + coverage.
fn check(
    policy: &ZonePolicy,
    keys: &[plan::DirKey],
    now: i64,
    options: &RunOptions,
) -> Vec<String> {
    let zone = policy.zone.to_string();
    let zone = zone.trim_end_matches('.');
    let keys = plan::coverage_keys(keys);
    let params = coverage::CoverageParams {
        keyttl: policy.keyttl,
        max_zone_ttl: policy.delays.max_zone_ttl,
        signing_delay: policy.delays.signing,
        propagation: policy.delays.zone_propagation,
        from: now,
        until: now + policy.coverage,
        ksk: options.ksk_only,
        zsk: options.zsk_only,
    };
    coverage::check(zone, &keys, &params)
}

/// The policy's token, opened and logged in once, on the first key to
/// make or destroy (a run with nothing to do never asks for the PIN).
struct TokenStore<'a> {
    policy: &'a ZonePolicy,
    connection: &'a ConnectionArgs,
    environment: &'a Environment,
    token: Option<Token>,
}

impl TokenStore<'_> {
    fn open(&mut self, fields: Vec<(&str, String)>) -> Result<&Token> {
        if self.token.is_none() {
            let spec = self
                .connection
                .resolve(self.policy.token.as_ref(), self.environment)?;
            self.token = Some(common::audit::open_token_audited(
                "key-manager",
                &spec,
                Access::ReadWrite,
                fields,
            )?);
        }
        self.token
            .as_ref()
            .ok_or_else(|| Error::Failed("the token is not open".into()))
    }
}

fn audit(token: &Token, event: &str, mut extra: Vec<(&str, String)>, outcome: &Result<()>) {
    let mut fields = common::audit::token_fields(&token.slot);
    fields.append(&mut extra);
    common::audit::log(&common::audit::AuditRecord {
        tool: "key-manager",
        event,
        fields,
        outcome: match outcome {
            Ok(()) => "success".into(),
            Err(error) => format!("failure: {error}"),
        },
    });
}

impl KeyStore for TokenStore<'_> {
    /// As pkcs11-keygen makes a key: sensitive, never extractable,
    /// CKA_ID = SHA-1 of the public key.
    fn make(&mut self, label: &str, ksk: bool) -> Result<MadeKey> {
        let policy = self.policy;
        let bits = if ksk {
            policy.ksk.bits
        } else {
            policy.zsk.bits
        };
        let rsa = matches!(policy.algorithm.key_kind(), common::algorithm::KeyKind::Rsa);
        let (spec, _) = KeySpec::from_options(
            Some(policy.algorithm.mnemonic()),
            bits.filter(|_| rsa),
            false,
        )?;
        let request = KeyGenRequest {
            label: label.as_bytes().to_vec(),
            id: None,
            spec,
            protection: Protection::Sensitive,
            modifiable: false,
        };
        let token = self.open(vec![("label", label.to_string())])?;
        let result = keygen::check_unused(&token.session, &request)
            .map_err(|e| {
                Error::Failed(format!(
                    "cannot make key '{label}': {e} (a key of this label is on the token but \
                     has no key files: remove it with pkcs11-destroy, or write its files \
                     with dnskey-from-label)"
                ))
            })
            .and_then(|()| keygen::generate(&token.session, &request));
        audit(
            token,
            "generate",
            vec![
                ("label", label.to_string()),
                ("key", request.spec.describe()),
            ],
            &result
                .as_ref()
                .map(|_| ())
                .map_err(|e| Error::Failed(e.to_string())),
        );
        let key = result?;
        for warning in &key.warnings {
            cli::warn(warning);
        }
        // The .private's Label: the token (label, serial) and the object
        // (label, id); never a PIN or module (dnskey-from-label's rule).
        let mut uri = Pkcs11Uri::default();
        if let Some(info) = &token.slot.token {
            uri.set(PathAttr::Token, Some(info.label().as_bytes().to_vec()));
            uri.set(
                PathAttr::Serial,
                Some(info.serial_number().as_bytes().to_vec()),
            );
        }
        uri.set(PathAttr::Object, Some(request.label.clone()));
        if !key.id.is_empty() {
            uri.set(PathAttr::Id, Some(key.id.clone()));
        }
        Ok(MadeKey {
            public_key: key.public_key,
            stored_uri: uri.to_string(),
        })
    }

    /// Destroys the public and private object of the key the URI names
    /// (label and ID), in the run's token only.
    fn destroy(&mut self, uri: &Pkcs11Uri) -> Result<usize> {
        let selector = ObjectSelector::from_uri(uri);
        let label = selector
            .label
            .as_ref()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .ok_or_else(|| Error::Failed(format!("key URI '{uri}' names no object")))?;
        let token = self.open(vec![("label", label.clone())])?;
        let info = token.slot.token.as_ref();
        for (attr, have) in [
            (PathAttr::Token, info.map(|t| t.label().to_string())),
            (
                PathAttr::Serial,
                info.map(|t| t.serial_number().to_string()),
            ),
        ] {
            if let Some(wanted) = uri.get(attr) {
                if have.as_deref().map(str::as_bytes) != Some(wanted) {
                    return Err(Error::Failed(format!(
                        "key '{label}' is in another token than {}: not purged",
                        token.slot.describe()
                    )));
                }
            }
        }
        let handles = find_objects(&token.session, &selector)?;
        if handles.len() > 2 {
            return Err(Error::Failed(format!(
                "{} objects match key '{label}': not purged (remove them with pkcs11-destroy)",
                handles.len()
            )));
        }
        let mut result = Ok(());
        for handle in &handles {
            if let Err(e) = token.session.destroy_object(*handle) {
                result = Err(Error::pkcs11(format!("destroying key '{label}'"), e));
                break;
            }
        }
        audit(token, "destroy", vec![("label", label)], &result);
        result.map(|()| handles.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args> {
        cli::parse_literal(parse_args, args)
    }

    #[test]
    fn keymgr_letters() {
        let args = parse(&[
            "-K",
            "keys",
            "-c",
            "p.conf",
            "-k",
            "-q",
            "-f",
            "example.com.",
        ])
        .expect("parse");
        assert_eq!(args.directory, Some(PathBuf::from("keys")));
        assert_eq!(args.policy, Some(PathBuf::from("p.conf")));
        assert!(args.options.ksk_only && args.quiet && args.options.force);
        assert_eq!(args.zones, vec!["example.com".to_string()]);
        assert!(parse(&["-n", "--json", "--check"]).expect("n").dry_run);
    }

    #[test]
    fn usage_errors() {
        for args in [&["-k", "-z"][..], &["-r"], &["-c"], &["-x"]] {
            assert_eq!(parse(args).expect_err("fails").exit_code(), 2, "{args:?}");
        }
    }
}
