//! pkcs11-destroy: destroy objects on a token, as BIND 9.16's tool did,
//! but only objects the operator selected explicitly.

use common::cli::{self, ConnectionArgs, Environment, Parsed};
use common::pkcs11::object::{list_objects, ObjectSelector};
use common::pkcs11::Access;
use common::uri::Pkcs11Uri;
use common::{output::Stdout, Error, Result};
use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Duration;

const HELP: &str = "\
Usage: pkcs11-destroy [-m module] [-s slot] {-i id | -l label | --all} [-p PIN] [-w seconds]

Destroy the objects on a PKCS#11 token that match the selection, after a
countdown (Ctrl-C aborts). Unlike BIND's pkcs11-destroy, nothing is destroyed
without a selection: every object on the token goes only with --all.

Options:
  -i ID             objects with this CKA_ID: a decimal number as BIND (2 bytes
                    up to 65535, else 4), or 0x-prefixed hex of any length
      --id HEX      objects with this CKA_ID, as hex bytes
  -l, --label LABEL objects with this CKA_LABEL (or a pkcs11: URI: object=, id=,
                    type=, and token attributes)
      --all         every object on the token
  -w, --wait SEC    wait this long before destroying (default 5; 0: at once)
  -h, --help        print this help
  -V, --version     print the version

";

fn help_text() -> String {
    format!(
        "{HELP}{}\nExit status: 0 success (also when nothing matches), 1 failure, \
         2 usage error, 3 no such slot or token.\n",
        cli::CONNECTION_HELP
    )
}

#[derive(Debug)]
struct Args {
    connection: ConnectionArgs,
    selector: ObjectSelector,
    uri: Option<Pkcs11Uri>,
    all: bool,
    wait_seconds: u64,
}

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Parsed<Args>> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut parsed = Args {
        connection: ConnectionArgs::default(),
        selector: ObjectSelector::default(),
        uri: None,
        all: false,
        wait_seconds: 5,
    };
    let (mut by_id, mut by_label) = (false, false);
    while let Some(opt) = cli::next_opt(&mut parser)? {
        if parsed.connection.take(&opt, &mut parser)? {
            continue;
        }
        if let Some(selection) = cli::take_object_selection(&opt, &mut parser)? {
            parsed.selector.merge(selection.selector)?;
            match selection.by {
                cli::SelectedBy::Label(uri) => {
                    if uri.is_some() {
                        parsed.uri = uri;
                    }
                    by_label = true;
                }
                _ => by_id = true,
            }
        } else if opt.is_long("all") {
            parsed.all = true;
        } else if opt.is('w', "wait") {
            parsed.wait_seconds =
                cli::value_parsed(&mut parser, &opt, "a number of seconds", |s| s.parse().ok())?;
        } else if opt.is('h', "help") {
            return Ok(Parsed::Help);
        } else if opt.is('V', "version") {
            return Ok(Parsed::Version);
        } else {
            return Err(opt.unexpected());
        }
    }
    // BIND: -i and -l together are a usage error (a URI may combine them).
    if by_id && by_label && parsed.uri.is_none() {
        return Err(Error::usage("give -i or -l, not both"));
    }
    if parsed.all && !parsed.selector.is_empty() {
        return Err(Error::usage(
            "--all destroys every object: do not combine it with -i or -l",
        ));
    }
    // A URI with only type= (or token attributes) names no object: it
    // would select every private key, say, so it is no selection.
    if !parsed.all && !parsed.selector.names_objects() {
        return Err(Error::usage(
            "nothing selected: give -i ID or -l LABEL, or a URI with object= or id= \
             (or --all to destroy every object on the token)",
        ));
    }
    Ok(Parsed::Run(parsed))
}

fn main() -> ExitCode {
    cli::main_with("pkcs11-destroy", &help_text(), |environment| {
        parse_args(std::env::args_os().skip(1))?.run(|args| run(&args, environment))
    })
}

fn run(args: &Args, environment: &Environment) -> Result<()> {
    let spec = args.connection.resolve(args.uri.as_ref(), environment)?;
    let token = common::audit::open_token_audited(
        "pkcs11-destroy",
        &spec,
        Access::ReadWrite,
        vec![("selection", args.selector.describe())],
    )?;
    let objects = list_objects(&token.session, &args.selector)?;
    let mut out = Stdout::new();
    if objects.is_empty() {
        out.line("No matching key objects found.")?;
        return out.flush();
    }
    out.line(if objects.len() == 1 {
        "Key object found:"
    } else {
        "Key objects found:"
    })?;
    for (index, (_, object)) in objects.iter().enumerate() {
        out.text(&format!(
            "  object[{index}]: class {}, label '",
            object.class
        ))?;
        out.bytes(&object.label)?;
        out.line(&format!(
            "', id[{}] {}",
            object.id.len(),
            destroy_id_text(&object.id)
        ))?;
    }
    if args.wait_seconds > 0 {
        out.line(&format!(
            "WARNING: This action is irreversible! Destroying key objects in {} seconds",
            args.wait_seconds
        ))?;
        out.text("  ")?;
        out.flush()?;
        // Ctrl-C during the countdown ends the process before anything is
        // destroyed (the default SIGINT action).
        for _ in 0..args.wait_seconds {
            std::thread::sleep(Duration::from_secs(1));
            out.text(".")?;
            out.flush()?;
        }
        out.line("")?;
    }
    let mut failures = Vec::new();
    for (index, (handle, object)) in objects.into_iter().enumerate() {
        let result = token
            .session
            .destroy_object(handle)
            .map_err(|e| Error::pkcs11(format!("destroying object[{index}]"), e));
        let outcome = match &result {
            Ok(()) => "success".to_string(),
            Err(error) => format!("failure: {error}"),
        };
        common::audit::log(&common::audit::AuditRecord {
            tool: "pkcs11-destroy",
            event: "destroy",
            fields: common::audit::token_fields(&token.slot)
                .into_iter()
                .chain([
                    ("class", object.class_name().unwrap_or("?").to_string()),
                    ("label", String::from_utf8_lossy(&object.label).into_owned()),
                    ("id", data_encoding::HEXLOWER.encode(&object.id)),
                ])
                .collect(),
            outcome,
        });
        if let Err(error) = result {
            common::cli::stderr_line(&format!("pkcs11-destroy: {error}"));
            failures.push(index);
        }
    }
    if failures.is_empty() {
        out.line("Destruction complete.")?;
        out.flush()
    } else {
        out.flush()?;
        Err(Error::Failed(format!(
            "{} of the objects could not be destroyed",
            failures.len()
        )))
    }
}

/// BIND's rendering here: always `0x` hex, the first 4 bytes, `...` if longer.
fn destroy_id_text(id: &[u8]) -> String {
    if id.is_empty() {
        return String::new();
    }
    let shown = data_encoding::HEXLOWER.encode(&id[..id.len().min(4)]);
    let more = if id.len() > 4 { "..." } else { "" };
    format!("0x{shown}{more}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args> {
        cli::parse_literal(parse_args, args)
    }

    #[test]
    fn nothing_is_selected_without_an_explicit_choice() {
        let error = parse(&["-p", "1234"]).expect_err("no selection");
        assert_eq!(error.exit_code(), 2);
        assert!(error.to_string().contains("--all"));
        assert!(parse(&["--all", "-w", "0"]).expect("all").all);
        assert!(parse(&["--all", "-l", "x"]).is_err());
        assert!(parse(&["-i", "1", "-l", "x"]).is_err());
        assert!(parse(&["-l", "pkcs11:object=x;id=%01"]).is_ok());
        for uri in [
            "pkcs11:type=private",
            "pkcs11:token=t;type=public",
            "pkcs11:token=t",
        ] {
            let error = parse(&["-l", uri]).expect_err(uri);
            assert!(error.to_string().contains("nothing selected"), "{uri}");
        }
    }

    #[test]
    fn bind_options() {
        let args = parse(&["-l", "ed448-key", "-w", "2", "-s", "7"]).expect("bind");
        assert_eq!(args.selector.label, Some(b"ed448-key".to_vec()));
        assert_eq!(args.wait_seconds, 2);
        assert_eq!(args.connection.slot, Some(7));
        assert_eq!(
            parse(&["-i", "4660"]).expect("id").selector.id,
            Some(vec![0x12, 0x34])
        );
        assert_eq!(parse(&["-i", "4660"]).expect("id").wait_seconds, 5);
        assert!(parse(&["-w", "x", "-l", "a"]).is_err());
    }

    #[test]
    fn ids_are_shown_as_bind_does() {
        assert_eq!(destroy_id_text(&[0x12, 0x34]), "0x1234");
        assert_eq!(destroy_id_text(&[1, 2, 3, 4, 5]), "0x01020304...");
        assert_eq!(destroy_id_text(&[]), "");
    }
}
