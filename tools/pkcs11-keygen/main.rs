//! pkcs11-keygen: generate a DNSSEC key pair on the token, as BIND 9.16's
//! pkcs11-keygen did, with its traps fixed.

use common::cli::{self, ConnectionArgs, Environment, Parsed};
use common::pkcs11::keygen::{self, KeyGenRequest, KeySpec, Protection};
use common::pkcs11::object::{parse_hex_id, parse_numeric_id, ObjectSelector};
use common::pkcs11::{Access, Token};
use common::uri::Pkcs11Uri;
use common::{output::Stdout, Error, Result};
use std::ffi::OsString;
use std::process::ExitCode;

const HELP: &str = "\
Usage: pkcs11-keygen [-a algorithm] [-b keysize] [-e] [-i id] [-m module] [-P | -E]
                     [--modifiable] [-p PIN] [-q] [-s slot] -l label | label

Generate a key pair for DNSSEC on a PKCS#11 token. The private key is
sensitive and never extractable unless -E or -P is given. Unless -i or --id
is given, both keys get CKA_ID = SHA-1 of the public key (Knot DNS's rule).

Options:
  -a, --algorithm ALG  RSASHA1, NSEC3RSASHA1, RSASHA256, RSASHA512,
                       ECDSAP256SHA256 (ECDSA256), ECDSAP384SHA384 (ECDSA384),
                       ED25519, ED448, or their numbers (5, 7, 8, 10, 13, 14,
                       15, 16), or BIND's classes RSA, ECC, ECX (default RSA)
  -b, --bits BITS      RSA: 1024..4096 (default 2048); ECC: 256 or 384; ECX: 256
                       or 456; with a named algorithm it must match its curve
  -e, --large-exponent RSA: public exponent 4294967297 (default 65537)
  -i ID                CKA_ID as a number, as BIND (<= 0xFFFF: 2 bytes, else 4)
      --id HEX         CKA_ID as hex bytes, any length
  -l, --label LABEL    CKA_LABEL of both keys (or a pkcs11: URI with object=,
                       id= and token attributes)
  -E, --wrap-only      extractable but sensitive, with CKA_WRAP_WITH_TRUSTED:
                       the key can leave the token only wrapped under a key
                       the security officer marked CKA_TRUSTED (for backup)
  -P, --exportable     neither sensitive nor protected from export (BIND's -P;
                       the private key can be read out in the clear)
      --modifiable     leave the private key CKA_MODIFIABLE (its label and ID
                       can be changed later); by default it is not
  -q, --quiet          do not print the success line
  -h, --help           print this help
  -V, --version        print the version

";

fn help_text() -> String {
    format!(
        "{HELP}{}\nExit status: 0 success, 1 failure (also: label already taken), \
         2 usage error, 3 no such slot or token.\n",
        cli::CONNECTION_HELP
    )
}

#[derive(Debug, Default)]
struct Args {
    connection: ConnectionArgs,
    algorithm: Option<String>,
    bits: Option<u32>,
    large_exponent: bool,
    id: Option<Vec<u8>>,
    label: Option<Vec<u8>>,
    uri: Option<Pkcs11Uri>,
    protection: Option<Protection>,
    modifiable: bool,
    quiet: bool,
}

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Parsed<Args>> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut parsed = Args::default();
    while let Some(opt) = cli::next_opt(&mut parser)? {
        if parsed.connection.take(&opt, &mut parser)? {
            continue;
        }
        if opt.is('a', "algorithm") {
            parsed.algorithm = Some(cli::value(&mut parser, &opt)?);
        } else if opt.is('b', "bits") {
            let bits =
                cli::value_parsed(&mut parser, &opt, "a key size in bits", |s| s.parse().ok())?;
            parsed.bits = Some(bits);
        } else if opt.is('e', "large-exponent") {
            parsed.large_exponent = true;
        } else if opt.is_short('i') {
            let id = cli::value_parsed(
                &mut parser,
                &opt,
                "a number (decimal, 0x hex or 0 octal)",
                |s| parse_numeric_id(s, true),
            )?;
            set_once(&mut parsed.id, id, "the ID")?;
        } else if opt.is_long("id") {
            let id = cli::value_parsed(&mut parser, &opt, "hex bytes", parse_hex_id)?;
            set_once(&mut parsed.id, id, "the ID")?;
        } else if opt.is('l', "label") {
            let label = cli::value_os(&mut parser, &opt)?;
            parsed.set_label(label)?;
        } else if opt.is('P', "exportable") {
            set_once(&mut parsed.protection, Protection::Exportable, "-P or -E")?;
        } else if opt.is('E', "wrap-only") {
            set_once(&mut parsed.protection, Protection::WrapOnly, "-P or -E")?;
        } else if opt.is_long("modifiable") {
            parsed.modifiable = true;
        } else if opt.is('q', "quiet") {
            parsed.quiet = true;
        } else if opt.is('h', "help") {
            return Ok(Parsed::Help);
        } else if opt.is('V', "version") {
            return Ok(Parsed::Version);
        } else if let cli::Opt::Value(value) = opt {
            // BIND: the first positional argument is the label if -l is
            // absent; further ones are ignored.
            if parsed.label.is_none() && parsed.uri.is_none() {
                parsed.set_label(value)?;
            }
        } else {
            return Err(opt.unexpected());
        }
    }
    if parsed.label.is_none() {
        return Err(Error::usage("no label: give -l LABEL"));
    }
    Ok(Parsed::Run(parsed))
}

fn set_once<T>(slot: &mut Option<T>, value: T, what: &str) -> Result<()> {
    if slot.is_some() {
        return Err(Error::usage(format!("{what} is given twice")));
    }
    *slot = Some(value);
    Ok(())
}

impl Args {
    /// `-l` takes a label, or a URI whose object=, id= and token
    /// attributes say where and under which name to make the key.
    fn set_label(&mut self, value: OsString) -> Result<()> {
        let text = value.to_string_lossy();
        if Pkcs11Uri::is_uri(&text) {
            let uri = Pkcs11Uri::parse(&text)?;
            let selector = ObjectSelector::from_uri(&uri);
            let label = selector.label.ok_or_else(|| {
                Error::usage("the URI names no object= (the label to give the key)")
            })?;
            self.label = Some(label);
            if let Some(id) = selector.id {
                set_once(&mut self.id, id, "the ID")?;
            }
            self.uri = Some(uri);
        } else {
            self.label = Some(cli::os_bytes(value));
        }
        Ok(())
    }
}

fn main() -> ExitCode {
    cli::main_with("pkcs11-keygen", &help_text(), |environment| {
        parse_args(std::env::args_os().skip(1))?.run(|args| run(args, environment))
    })
}

fn run(args: Args, environment: &Environment) -> Result<()> {
    let (spec, note) =
        KeySpec::from_options(args.algorithm.as_deref(), args.bits, args.large_exponent)?;
    let request = KeyGenRequest {
        label: args.label.unwrap_or_default(),
        id: args.id,
        spec,
        protection: args.protection.unwrap_or(Protection::Sensitive),
        modifiable: args.modifiable,
    };
    let spec = args.connection.resolve(args.uri.as_ref(), environment)?;
    let token = common::audit::open_token_audited(
        "pkcs11-keygen",
        &spec,
        Access::ReadWrite,
        key_fields(&request, request.id.clone().unwrap_or_default()),
    )?;
    let result = keygen::check_unused(&token.session, &request).and_then(|()| {
        if let Some(note) = &note {
            cli::note(note);
        }
        let key = keygen::generate(&token.session, &request)?;
        for warning in &key.warnings {
            cli::warn(warning);
        }
        Ok(key)
    });
    audit_generation(&token, &request, &result);
    result?;
    if !args.quiet {
        let mut out = Stdout::new();
        out.line("Key pair generation complete.")?;
        out.flush()?;
    }
    Ok(())
}

/// The audit fields that name the key: label, ID, type, protection.
fn key_fields(request: &KeyGenRequest, id: Vec<u8>) -> Vec<(&'static str, String)> {
    let protection = match request.protection {
        Protection::Sensitive => "sensitive,never-extractable",
        Protection::WrapOnly => "sensitive,extractable-wrapped-with-trusted",
        Protection::Exportable => "exportable",
    };
    vec![
        (
            "label",
            String::from_utf8_lossy(&request.label).into_owned(),
        ),
        ("id", data_encoding::HEXLOWER.encode(&id)),
        ("key", request.spec.describe()),
        ("protection", protection.to_string()),
    ]
}

/// The syslog audit line of a key generation, made or refused.
fn audit_generation(token: &Token, request: &KeyGenRequest, result: &Result<keygen::GeneratedKey>) {
    let id = match result {
        Ok(key) => key.id.clone(),
        Err(_) => request.id.clone().unwrap_or_default(),
    };
    let mut fields = common::audit::token_fields(&token.slot);
    fields.extend(key_fields(request, id));
    common::audit::log(&common::audit::AuditRecord {
        tool: "pkcs11-keygen",
        event: "generate",
        fields,
        outcome: match result {
            Ok(_) => "success".into(),
            Err(error) => format!("failure: {error}"),
        },
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args> {
        cli::parse_literal(parse_args, args)
    }

    #[test]
    fn help_and_the_unknown_algorithm_error_list_every_algorithm() {
        let error = common::pkcs11::keygen::KeySpec::from_options(Some("DSA"), None, false)
            .expect_err("DSA")
            .to_string();
        for algorithm in common::algorithm::Algorithm::ALL {
            let name = algorithm.mnemonic();
            assert!(
                HELP.contains(&format!("{name},")) || HELP.contains(&format!("{name} ")),
                "{name}"
            );
            assert!(error.contains(name), "{name}: {error}");
            assert!(
                error.contains(&format!("({})", algorithm.number())),
                "{error}"
            );
        }
    }

    #[test]
    fn parses_the_guides_commands() {
        let args = parse(&[
            "-a",
            "RSASHA256",
            "-b",
            "2048",
            "-l",
            "ksk-example-com",
            "-m",
            "/lib.so",
            "-s",
            "0",
            "-p",
            "1234",
            "-E",
        ])
        .expect("guide command");
        assert_eq!(args.algorithm.as_deref(), Some("RSASHA256"));
        assert_eq!(args.bits, Some(2048));
        assert_eq!(args.label, Some(b"ksk-example-com".to_vec()));
        assert_eq!(args.connection.slot, Some(0));
        assert_eq!(args.protection, Some(Protection::WrapOnly));
        assert!(!args.modifiable);
        assert!(
            parse(&["--modifiable", "-l", "k"])
                .expect("modifiable")
                .modifiable
        );
    }

    #[test]
    fn positional_label_and_ids() {
        let args = parse(&["-a", "ECC", "-q", "-i", "70000", "ec384"]).expect("positional");
        assert_eq!(args.label, Some(b"ec384".to_vec()));
        assert_eq!(args.id, Some(vec![0, 1, 0x11, 0x70]));
        assert!(args.quiet);
        let args = parse(&["--id", "a1b2c3", "-l", "x", "ignored"]).expect("hex id");
        assert_eq!(args.id, Some(vec![0xa1, 0xb2, 0xc3]));
        assert_eq!(args.label, Some(b"x".to_vec()));
        let args = parse(&["-l", "pkcs11:token=t;object=k;id=%01"]).expect("uri");
        assert_eq!(args.label, Some(b"k".to_vec()));
        assert_eq!(args.id, Some(vec![1]));
    }

    #[test]
    fn usage_errors() {
        for args in [
            &[][..],
            &["-a"],
            &["-b", "x", "k"],
            &["-i", "0xz", "k"],
            &["-P", "-E", "k"],
            &["-S", "k"],
            &["-w", "1", "k"],
            &["-l", "pkcs11:token=t"],
            &["-i", "1", "--id", "01", "k"],
        ] {
            let error = parse(args).expect_err("should fail");
            assert_eq!(error.exit_code(), 2, "{args:?}");
        }
    }
}
