//! pkcs11-restore: put a key pair from a pkcs11-backup file on a token,
//! unwrapped inside the token with its label, CKA_ID and protection flags,
//! and kept only once it has been proved to sign for its public key.

use common::backup::{Backup, MAX_FILE_SIZE};
use common::cli::{self, ConnectionArgs, Environment, Parsed};
use common::pkcs11::object::id_hex;
use common::pkcs11::wrap::{check_target_free, find_wrapping_key, restore_key_pair, Use};
use common::pkcs11::{Access, Token};
use common::{output::Stdout, Error, Result};
use std::ffi::OsString;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

const HELP: &str = "\
Usage: pkcs11-restore [-m module] [-s slot] [--unwrap-key LABEL] [-p PIN] [-q] FILE

Restore the key pair in FILE, a pkcs11-backup file, on the token: the
checksum is checked first, a label or CKA_ID the token already has is
refused, the private key is unwrapped inside the token under the AES key
labelled as in the file (or --unwrap-key), with the original label, CKA_ID
and protection flags, and the public key is created. A signature made with
the restored key and verified in software against the file's public key
must succeed before the pair is kept; on any failure what was made is
destroyed and the token is as it was.

Options:
      --unwrap-key LABEL  the AES key to unwrap under (default: the file's
                          Wrap-Key-Label)
  -q, --quiet             print nothing on success
  -h, --help              print this help
  -V, --version           print the version

";

fn help_text() -> String {
    format!(
        "{HELP}{}\nExit status: 0 success, 1 failure (the token as it was), 2 usage error, \
         3 no such slot, token or unwrapping key.\n",
        cli::CONNECTION_HELP
    )
}

#[derive(Debug)]
struct Args {
    connection: ConnectionArgs,
    unwrap_key: Option<Vec<u8>>,
    file: PathBuf,
    quiet: bool,
}

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Parsed<Args>> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut connection = ConnectionArgs::default();
    let (mut unwrap_key, mut file, mut quiet) = (None, None, false);
    while let Some(opt) = cli::next_opt(&mut parser)? {
        if connection.take(&opt, &mut parser)? {
            continue;
        }
        // Long only: -u is BIND's in key-settime and zone-sign.
        if opt.is_long("unwrap-key") {
            unwrap_key = Some(cli::os_bytes(cli::value_os(&mut parser, &opt)?));
        } else if opt.is('q', "quiet") {
            quiet = true;
        } else if opt.is('h', "help") {
            return Ok(Parsed::Help);
        } else if opt.is('V', "version") {
            return Ok(Parsed::Version);
        } else if let cli::Opt::Value(value) = opt {
            if file.is_some() {
                return Err(Error::usage("give one backup file"));
            }
            file = Some(PathBuf::from(value));
        } else {
            return Err(opt.unexpected());
        }
    }
    let file = file.ok_or_else(|| Error::usage("give the backup file to restore"))?;
    Ok(Parsed::Run(Args {
        connection,
        unwrap_key,
        file,
        quiet,
    }))
}

fn main() -> ExitCode {
    cli::main_with("pkcs11-restore", &help_text(), |environment| {
        parse_args(std::env::args_os().skip(1))?.run(|args| run(&args, environment))
    })
}

/// Reads the backup file, at most [`MAX_FILE_SIZE`] bytes, as a regular file.
fn read_backup(path: &std::path::Path) -> Result<Backup> {
    let shown = path.display().to_string();
    // Not blocking on a FIFO, never /proc: the file is input, not trusted.
    let file = common::inputs::open_regular(path, true).map_err(|refusal| match refusal {
        common::inputs::Refusal::Io(error) => Error::io(shown.clone(), error),
        other => Error::Failed(format!("'{shown}' {other}")),
    })?;
    let mut text = Vec::new();
    file.take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut text)
        .map_err(|e| Error::io(shown.clone(), e))?;
    if text.len() as u64 > MAX_FILE_SIZE {
        return Err(Error::Failed(format!(
            "'{shown}' is larger than a key backup can be"
        )));
    }
    Backup::parse(&shown, &text)
}

fn run(args: &Args, environment: &Environment) -> Result<()> {
    // The whole file is checked before any module is loaded: a damaged
    // file changes nothing anywhere.
    let backup = read_backup(&args.file)?;
    let spec = args.connection.resolve(None, environment)?;
    let token = common::audit::open_token_audited(
        "pkcs11-restore",
        &spec,
        Access::ReadWrite,
        vec![("label", String::from_utf8_lossy(&backup.label).into_owned())],
    )?;
    let unwrap_label = args
        .unwrap_key
        .clone()
        .unwrap_or_else(|| backup.wrap_key.label.clone());
    let Token {
        module: _module,
        slot,
        session,
    } = token;
    let prepared = check_target_free(&session, &backup)
        .and_then(|()| find_wrapping_key(&session, &unwrap_label, Use::Unwrap));
    let outcome = match prepared {
        Ok(unwrapping) => restore_key_pair(session, &backup, &unwrapping).1,
        Err(error) => Err(error),
    };
    common::audit::log(&common::audit::AuditRecord {
        tool: "pkcs11-restore",
        event: "restore",
        fields: common::audit::token_fields(&slot)
            .into_iter()
            .chain([
                ("label", String::from_utf8_lossy(&backup.label).into_owned()),
                ("id", data_encoding::HEXLOWER.encode(&backup.id)),
                ("type", backup.key_kind.name().to_string()),
                (
                    "unwrap_key",
                    String::from_utf8_lossy(&unwrap_label).into_owned(),
                ),
                ("file", args.file.display().to_string()),
            ])
            .collect(),
        outcome: match &outcome {
            Ok(_) => "success".into(),
            Err(error) => format!("failure: {error}"),
        },
    });
    for note in outcome? {
        cli::warn(&note);
    }
    if !args.quiet {
        let mut out = Stdout::new();
        out.line(&format!(
            "Key pair '{}' (id {}) restored on {}.",
            String::from_utf8_lossy(&backup.label),
            if backup.id.is_empty() {
                "none".into()
            } else {
                id_hex(&backup.id)
            },
            slot.describe()
        ))?;
        out.flush()?;
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
    fn one_file_and_an_optional_unwrap_key() {
        let args = parse(&["--token", "b", "backup.txt"]).expect("parse");
        assert_eq!(args.file, PathBuf::from("backup.txt"));
        assert_eq!(args.unwrap_key, None);
        let args = parse(&["--unwrap-key", "kek", "f", "-q"]).expect("parse");
        assert_eq!(args.unwrap_key, Some(b"kek".to_vec()));
        assert!(args.quiet);
        for bad in [&[][..], &["a", "b"], &["-x", "f"], &["-u", "kek", "f"]] {
            assert_eq!(parse(bad).expect_err("must fail").exit_code(), 2, "{bad:?}");
        }
    }
}
