//! key-revoke: BIND's dnssec-revoke for key files, token keys and BIND's
//! own file keys alike.

use common::cli::{self, Environment, Opt, Parsed};
use common::keyfile::{key_file_path, KeyFileTrust};
use common::keymeta::{revoke, revoked_tag, write_new, KeyPairFiles};
use common::{output::Stdout, time, Error, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const HELP: &str = "\
Usage: key-revoke [-hrRf] [-K dir] [-E engine] [-v level] keyfile

Revoke a key (RFC 5011): set the REVOKE flag (128) in its DNSKEY, set its
Revoke time to now, and write the pair under the key's new tag
(K<name>+<alg>+<newtag>.key and .private), every other line and date kept.
A token key itself is not changed: the flag lives in DNS data only, and the
new .private names the same token object. Prints the new base name.

Options:
  -r                 remove the old .key and .private files afterwards
  -R                 print the tag the key has once revoked; write nothing
  -f                 upgrade v1.2 key files (an existing file of the new
                     name is never replaced, with or without -f)
  -K DIR             directory of the key files
      --insecure-key-dir  trust key files and a DIR that anyone may write, and
                     symlinked key files (refused otherwise; group-writable
                     gets a warning)
  -E ENGINE          accepted for compatibility and ignored
  -v LEVEL           with 3 or more, name the key on stderr
  -h, --help         print this help
  -V, --version      print the version

Exit status: 0 success, 1 failure (already revoked, new name taken, ...),
2 usage error.
";

#[derive(Debug, Default)]
struct Args {
    remove_old: bool,
    print_tag: bool,
    force: bool,
    directory: Option<PathBuf>,
    insecure_key_dir: bool,
    verbose: u32,
    key: Option<String>,
}

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Parsed<Args>> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut parsed = Args::default();
    while let Some(opt) = cli::next_opt(&mut parser)? {
        // BIND stops at the first operand.
        if parsed.key.is_some() {
            return Err(Error::usage("extraneous arguments"));
        }
        match opt {
            _ if opt.is_short('r') => parsed.remove_old = true,
            _ if opt.is_short('R') => parsed.print_tag = true,
            _ if opt.is_short('f') => parsed.force = true,
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
            _ if opt.is('h', "help") => return Ok(Parsed::Help),
            _ if opt.is('V', "version") => return Ok(Parsed::Version),
            Opt::Value(value) => parsed.key = Some(value.to_string_lossy().into_owned()),
            _ => return Err(opt.unexpected()),
        }
    }
    if parsed.key.is_none() {
        return Err(Error::usage("the key file was not specified"));
    }
    Ok(Parsed::Run(parsed))
}

fn main() -> ExitCode {
    cli::main_with("key-revoke", HELP, |_: &Environment| {
        parse_args(std::env::args_os().skip(1))?.run(run)
    })
}

fn run(args: Args) -> Result<()> {
    common::output::remove_temp_files_on_signals("key-revoke")?;
    let now = time::now();
    let mut path = key_file_path(args.key.as_deref().unwrap_or(""));
    if let Some(dir) = args.directory.as_ref().filter(|_| path.is_relative()) {
        path = dir.join(path);
    }
    let key = KeyPairFiles::read(&path, &KeyFileTrust::new(args.insecure_key_dir))?;
    if args.verbose > 2 {
        common::cli::stderr_line(&format!("key-revoke: {}", key.display_name()));
    }
    let mut out = Stdout::new();
    if args.print_tag {
        out.line(&revoked_tag(&key).to_string())?;
        return out.flush();
    }
    let revoked = revoke(&key, args.force, now)?;
    write_new(&revoked)?;
    if args.remove_old {
        let (old_key, old_private) = key.paths();
        for old in [old_private, old_key] {
            std::fs::remove_file(&old).map_err(|e| Error::io(old.display().to_string(), e))?;
        }
    }
    // BIND prints the base name, in its directory unless that is ".".
    let shown = if revoked.dir == Path::new(".") {
        PathBuf::from(revoked.base_name())
    } else {
        revoked.dir.join(revoked.base_name())
    };
    out.line(&shown.display().to_string())?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args> {
        cli::parse_literal(parse_args, args)
    }

    #[test]
    fn options() {
        let args = parse(&["-r", "-f", "-K", "keys", "-E", "pkcs11", "-v", "3", "K"]).expect("ok");
        assert!(args.remove_old && args.force && !args.print_tag);
        assert_eq!(args.directory, Some(PathBuf::from("keys")));
        assert_eq!(args.verbose, 3);
        for bad in [&[][..], &["K", "-r"], &["-v", "x", "K"], &["-x", "K"]] {
            assert_eq!(parse(bad).expect_err("bad").exit_code(), 2, "{bad:?}");
        }
    }
}
