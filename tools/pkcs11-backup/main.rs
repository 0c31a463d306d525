//! pkcs11-backup: write a key pair to a file with its private key wrapped
//! by the token under the security officer's trusted key, never in the
//! clear, for pkcs11-restore to put on another token.

use common::cli::{self, ConnectionArgs, Environment, Parsed};
use common::pkcs11::keypair::find_key_pair;
use common::pkcs11::object::{id_hex, ObjectSelector};
use common::pkcs11::wrap::{backup_key_pair, find_wrapping_key, quoted, Use};
use common::pkcs11::Access;
use common::uri::Pkcs11Uri;
use common::{output::AtomicFile, output::Stdout, Error, Result};
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

const HELP: &str = "\
Usage: pkcs11-backup [-m module] [-s slot] {-l label | -i id} --wrap-key LABEL
                     [-p PIN] [-q] FILE

Write a DNSSEC key pair to FILE (mode 0600, never replacing a file): the
private key wrapped by the token with AES key wrap (RFC 5649) under a key the
security officer marked CKA_TRUSTED, the public key and the attributes that
re-create both on another token (pkcs11-restore), and a SHA-256 checksum. The
private key is never in the clear: a key that is not extractable (made without
pkcs11-keygen -E) is refused.

Options:
  -l, --label LABEL     the key pair with this CKA_LABEL (or a pkcs11: URI)
  -i ID                 the key pair with this CKA_ID: decimal as BIND, or 0x hex
      --id HEX          the key pair with this CKA_ID, as hex bytes
      --wrap-key LABEL  the trusted AES key to wrap under (CKA_LABEL)
  -q, --quiet           print nothing on success
  -h, --help            print this help
  -V, --version         print the version

";

fn help_text() -> String {
    format!(
        "{HELP}{}\nExit status: 0 success, 1 failure (nothing written), 2 usage error, \
         3 no such slot, token or key.\n",
        cli::CONNECTION_HELP
    )
}

#[derive(Debug)]
struct Args {
    connection: ConnectionArgs,
    selector: ObjectSelector,
    uri: Option<Pkcs11Uri>,
    wrap_key: Vec<u8>,
    output: PathBuf,
    quiet: bool,
}

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Parsed<Args>> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut connection = ConnectionArgs::default();
    let mut selector = ObjectSelector::default();
    let (mut uri, mut wrap_key, mut output, mut quiet) = (None, None, None, false);
    while let Some(opt) = cli::next_opt(&mut parser)? {
        if connection.take(&opt, &mut parser)? {
            continue;
        }
        if let Some(selection) = cli::take_object_selection(&opt, &mut parser)? {
            selector.merge(selection.selector)?;
            if let cli::SelectedBy::Label(Some(given)) = selection.by {
                uri = Some(given);
            }
        } else if opt.is_long("wrap-key") {
            // Long only: -w is pkcs11-destroy's --wait, -o zone-sign's origin.
            wrap_key = Some(cli::os_bytes(cli::value_os(&mut parser, &opt)?));
        } else if opt.is('q', "quiet") {
            quiet = true;
        } else if opt.is('h', "help") {
            return Ok(Parsed::Help);
        } else if opt.is('V', "version") {
            return Ok(Parsed::Version);
        } else if let cli::Opt::Value(value) = opt {
            if output.is_some() {
                return Err(Error::usage("give one backup file"));
            }
            output = Some(PathBuf::from(value));
        } else {
            return Err(opt.unexpected());
        }
    }
    if !selector.names_objects() {
        return Err(Error::usage(
            "no key selected: give -l LABEL, -i ID or a URI with object= or id=",
        ));
    }
    let wrap_key = wrap_key
        .ok_or_else(|| Error::usage("give the trusted wrapping key with --wrap-key LABEL"))?;
    let output = output.ok_or_else(|| Error::usage("give the backup file with -o FILE"))?;
    Ok(Parsed::Run(Args {
        connection,
        selector,
        uri,
        wrap_key,
        output,
        quiet,
    }))
}

fn main() -> ExitCode {
    cli::main_with("pkcs11-backup", &help_text(), |environment| {
        parse_args(std::env::args_os().skip(1))?.run(|args| run(&args, environment))
    })
}

fn run(args: &Args, environment: &Environment) -> Result<()> {
    common::output::remove_temp_files_on_signals("pkcs11-backup")?;
    let spec = args.connection.resolve(args.uri.as_ref(), environment)?;
    // Read-only: a backup changes nothing on the token.
    let token = common::audit::open_token_audited(
        "pkcs11-backup",
        &spec,
        Access::ReadOnly,
        vec![("selection", args.selector.describe())],
    )?;
    let shown = args.output.display().to_string();
    let outcome = (|| {
        // Made before the token is asked to wrap: a file that cannot be
        // written is found out before the key leaves the token.
        let mut file = AtomicFile::create_new(&args.output, 0o600)?;
        let pair = find_key_pair(&token.session, &args.selector)?;
        let wrapping = find_wrapping_key(&token.session, &args.wrap_key, Use::Wrap)?;
        let (backup, warnings) = backup_key_pair(&token.session, &pair, &wrapping)?;
        for warning in &warnings {
            cli::warn(warning);
        }
        file.write_all(backup.to_text().as_bytes())
            .map_err(|e| Error::io(shown.clone(), e))?;
        file.commit()?;
        Ok(backup)
    })();
    common::audit::log(&common::audit::AuditRecord {
        tool: "pkcs11-backup",
        event: "backup",
        fields: common::audit::token_fields(&token.slot)
            .into_iter()
            .chain([
                ("selection", args.selector.describe()),
                (
                    "wrap_key",
                    String::from_utf8_lossy(&args.wrap_key).into_owned(),
                ),
                ("file", shown.clone()),
            ])
            .collect(),
        outcome: match &outcome {
            Ok(_) => "success".into(),
            Err(error) => format!("failure: {error}"),
        },
    });
    let backup = outcome?;
    if !args.quiet {
        let mut out = Stdout::new();
        out.line(&format!(
            "Key pair {} (id {}) backed up to '{}', wrapped under {}.",
            quoted(&backup.label),
            if backup.id.is_empty() {
                "none".into()
            } else {
                id_hex(&backup.id)
            },
            common::audit::escape(shown.as_bytes()),
            quoted(&backup.wrap_key.label)
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
    fn key_wrap_key_and_file_are_required() {
        let args = parse(&["-l", "ksk", "--wrap-key", "kek", "f"]).expect("parse");
        assert_eq!(args.selector.label, Some(b"ksk".to_vec()));
        assert_eq!(args.wrap_key, b"kek".to_vec());
        assert_eq!(args.output, PathBuf::from("f"));
        let args = parse(&["-i", "4660", "--wrap-key", "kek", "f", "-q"]).expect("parse");
        assert_eq!(args.selector.id, Some(vec![0x12, 0x34]));
        assert!(args.quiet);
        for bad in [
            &["--wrap-key", "kek", "f"][..],
            &["-l", "ksk", "f"],
            &["-l", "ksk", "--wrap-key", "kek"],
            &["-l", "ksk", "--wrap-key", "kek", "f", "g"],
            &["-l", "ksk", "-w", "kek", "f"],
            &["-l", "pkcs11:type=private", "--wrap-key", "kek", "f"],
        ] {
            let error = parse(bad).expect_err("must fail");
            assert_eq!(error.exit_code(), 2, "{bad:?}");
        }
    }
}
