//! pkcs11-list: list the objects on a token, in BIND 9.16's line format,
//! as JSON, or as PKCS#11 URIs to paste into the other tools.

use common::cli::{self, ConnectionArgs, Environment, Parsed};
use common::pkcs11::object::{list_objects, ObjectInfo, ObjectSelector};
use common::pkcs11::{Access, SlotSummary, Token};
use common::uri::{PathAttr, Pkcs11Uri};
use common::{output::Stdout, Error, Result};
use serde::Serialize;
use std::ffi::OsString;
use std::process::ExitCode;

const HELP: &str = "\
Usage: pkcs11-list [-P] [-m module] [-s slot] [-i id | -l label] [-p PIN] [--json | --uri]

List the objects on a PKCS#11 token, one line each in BIND 9.16's format.

Options:
  -P, --public      do not log in: list public objects only, ask no PIN
  -i ID             objects with this CKA_ID: a decimal number as BIND (2 bytes
                    up to 65535, else 4), or 0x-prefixed hex of any length
      --id HEX      objects with this CKA_ID, as hex bytes
  -l, --label LABEL objects with this CKA_LABEL (or a pkcs11: URI: object=, id=,
                    type=, and token attributes)
      --json        a JSON array: class, key type, label, id, URI, protection
                    flags, usage, key size or curve
      --uri         one PKCS#11 URI per object
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

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Format {
    #[default]
    Bind,
    Json,
    Uri,
}

#[derive(Debug, Default)]
struct Args {
    connection: ConnectionArgs,
    public_only: bool,
    selector: ObjectSelector,
    /// How `-i` was written, for BIND's `id N` header.
    id_text: Option<String>,
    uri: Option<Pkcs11Uri>,
    format: Format,
}

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Parsed<Args>> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut parsed = Args::default();
    while let Some(opt) = cli::next_opt(&mut parser)? {
        if parsed.connection.take(&opt, &mut parser)? {
            continue;
        }
        if opt.is('P', "public") {
            parsed.public_only = true;
        } else if let Some(selection) = cli::take_object_selection(&opt, &mut parser)? {
            parsed.add(selection.selector)?;
            match selection.by {
                cli::SelectedBy::NumericId(text) => parsed.id_text = Some(text),
                cli::SelectedBy::Label(Some(uri)) => parsed.uri = Some(uri),
                _ => {}
            }
        } else if opt.is_long("json") {
            parsed.set_format(Format::Json)?;
        } else if opt.is_long("uri") {
            parsed.set_format(Format::Uri)?;
        } else if opt.is('h', "help") {
            return Ok(Parsed::Help);
        } else if opt.is('V', "version") {
            return Ok(Parsed::Version);
        } else {
            return Err(opt.unexpected());
        }
    }
    Ok(Parsed::Run(parsed))
}

impl Args {
    fn add(&mut self, selector: ObjectSelector) -> Result<()> {
        self.selector.merge(selector)
    }

    fn set_format(&mut self, format: Format) -> Result<()> {
        if self.format != Format::Bind {
            return Err(Error::usage("give --json or --uri, not both"));
        }
        self.format = format;
        Ok(())
    }
}

fn main() -> ExitCode {
    cli::main_with("pkcs11-list", &help_text(), |environment| {
        parse_args(std::env::args_os().skip(1))?.run(|args| run(&args, environment))
    })
}

fn run(args: &Args, environment: &Environment) -> Result<()> {
    let spec = args.connection.resolve(args.uri.as_ref(), environment)?;
    let access = if args.public_only {
        Access::PublicReadOnly
    } else {
        Access::ReadOnly
    };
    // BIND printed its header lines before it asked for the PIN; we print
    // nothing until the login and the listing succeeded, so that a script
    // reading stdout never sees a partial answer (issue 17).
    let token = Token::open(&spec, access, |_| Ok(()))?;
    let objects: Vec<ObjectInfo> = list_objects(&token.session, &args.selector)?
        .into_iter()
        .map(|(_, info)| info)
        .collect();
    let mut out = Stdout::new();
    match args.format {
        Format::Bind => {
            print_header(&mut out, args, &token.slot)?;
            for (index, object) in objects.iter().enumerate() {
                out.bytes(&bind_line(index, object))?;
            }
        }
        Format::Uri => {
            for object in &objects {
                out.line(&object_uri(&token.slot, object).to_string())?;
            }
        }
        Format::Json => {
            let items: Vec<JsonObject> = objects
                .iter()
                .map(|o| json_object(&token.slot, o))
                .collect();
            out.line(
                &serde_json::to_string(&items)
                    .map_err(|e| Error::Failed(format!("writing JSON: {e}")))?,
            )?;
        }
    }
    out.flush()
}

fn print_header(out: &mut Stdout, args: &Args, slot: &SlotSummary) -> Result<()> {
    if slot.id != 0 {
        out.line(&format!("slot {}", slot.id))?;
    }
    if let Some(text) = &args.id_text {
        out.line(&format!("id {text}"))?;
    } else if let Some(label) = &args.selector.label {
        out.bytes(b"label ")?;
        out.bytes(label)?;
        out.bytes(b"\n")?;
    }
    Ok(())
}

/// BIND's line: `object[i]: handle H class C label[LL] 'label' id[IL] idtext[ E:x]`,
/// and the class in words: ` (Private Key)`.
/// The index counts all objects (BIND restarted it every 50).
fn bind_line(index: usize, object: &ObjectInfo) -> Vec<u8> {
    let mut line = format!(
        "object[{index}]: handle {} class {} label[{}] '",
        object.handle,
        object.class,
        object.label.len()
    )
    .into_bytes();
    line.extend_from_slice(&object.label);
    line.extend_from_slice(
        format!("' id[{}] {}", object.id.len(), bind_id_text(&object.id)).as_bytes(),
    );
    if object.is_secret() {
        if let (Some(extractable), Some(never)) = (object.extractable, object.never_extractable) {
            let e = if extractable {
                "true"
            } else if never {
                "never"
            } else {
                "false"
            };
            line.extend_from_slice(format!(" E:{e}").as_bytes());
        }
    }
    // Appended after BIND's fields, which keep their place: the HSM
    // guide's scripts count keys with `grep -c "Private Key"`.
    if let Some(name) = class_text(object.class) {
        line.extend_from_slice(format!(" ({name})").as_bytes());
    }
    line.push(b'\n');
    line
}

/// The class in words, as PKCS#11 names it (`CKO_PRIVATE_KEY`: private key).
fn class_text(class: u64) -> Option<&'static str> {
    Some(match class {
        0 => "Data",
        1 => "Certificate",
        2 => "Public Key",
        3 => "Private Key",
        4 => "Secret Key",
        _ => return None,
    })
}

/// BIND's ID rendering: a 2-byte ID in decimal, otherwise `0x` and the
/// first 8 bytes in hex, `...` if longer.
fn bind_id_text(id: &[u8]) -> String {
    match id {
        [] => String::new(),
        [high, low] => u16::from_be_bytes([*high, *low]).to_string(),
        _ => {
            let shown = data_encoding::HEXLOWER.encode(&id[..id.len().min(8)]);
            let more = if id.len() > 8 { "..." } else { "" };
            format!("0x{shown}{more}")
        }
    }
}

/// The object's URI: its token, label, id and type.
fn object_uri(slot: &SlotSummary, object: &ObjectInfo) -> Pkcs11Uri {
    let mut uri = Pkcs11Uri::default();
    if let Some(token) = &slot.token {
        uri.set(PathAttr::Token, Some(token.label().as_bytes().to_vec()));
        uri.set(
            PathAttr::Serial,
            Some(token.serial_number().as_bytes().to_vec()),
        );
    }
    uri.set(PathAttr::Object, Some(object.label.clone()));
    if !object.id.is_empty() {
        uri.set(PathAttr::Id, Some(object.id.clone()));
    }
    if let Some(class) = object.class_name() {
        uri.set(PathAttr::Type, Some(class.as_bytes().to_vec()));
    }
    uri
}

/// One object of the `--json` array; its schema is in the man page (JSON
/// OUTPUT). Attributes the token does not give are `null`.
#[derive(Serialize)]
struct JsonObject {
    handle: u64,
    class: Option<&'static str>,
    class_number: u64,
    key_type: Option<String>,
    label: String,
    id: String,
    uri: String,
    private: Option<bool>,
    sensitive: Option<bool>,
    extractable: Option<bool>,
    always_sensitive: Option<bool>,
    never_extractable: Option<bool>,
    sign: Option<bool>,
    verify: Option<bool>,
    rsa_bits: Option<u64>,
    curve: Option<&'static str>,
}

fn json_object(slot: &SlotSummary, object: &ObjectInfo) -> JsonObject {
    JsonObject {
        handle: object.handle,
        class: object.class_name(),
        class_number: object.class,
        key_type: object.key_type_name(),
        // A label that is not UTF-8 is shown with U+FFFD (its URI is exact).
        label: String::from_utf8_lossy(&object.label).into_owned(),
        id: data_encoding::HEXLOWER.encode(&object.id),
        uri: object_uri(slot, object).to_string(),
        private: object.private,
        sensitive: object.sensitive,
        extractable: object.extractable,
        always_sensitive: object.always_sensitive,
        never_extractable: object.never_extractable,
        sign: object.sign,
        verify: object.verify,
        rsa_bits: object.modulus_bits,
        curve: object.curve_name(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args> {
        cli::parse_literal(parse_args, args)
    }

    #[test]
    fn ids_in_decimal_hex_and_any_length() {
        assert_eq!(
            parse(&["-i", "258"]).expect("dec").selector.id,
            Some(vec![1, 2])
        );
        assert_eq!(
            parse(&["-i", "0x0102"]).expect("hex").selector.id,
            Some(vec![1, 2])
        );
        let long = parse(&["-i", "0x0102030405060708090a"]).expect("long");
        assert_eq!(long.selector.id.map(|id| id.len()), Some(10));
        assert_eq!(
            parse(&["--id", "0a0b0c"]).expect("--id").selector.id,
            Some(vec![10, 11, 12])
        );
        assert_eq!(parse(&["-i", "x"]).err().map(|e| e.exit_code()), Some(2));
    }

    #[test]
    fn labels_uris_and_formats() {
        let args = parse(&["-l", "ksk", "-P", "--json"]).expect("label");
        assert_eq!(args.selector.label, Some(b"ksk".to_vec()));
        assert!(args.public_only);
        assert_eq!(args.format, Format::Json);
        let args = parse(&["-l", "pkcs11:token=t;object=k;type=private"]).expect("uri");
        assert_eq!(args.selector.label, Some(b"k".to_vec()));
        assert!(args.uri.is_some());
        assert!(parse(&["--json", "--uri"]).is_err());
        assert!(parse(&["-l", "a", "-l", "b"]).is_err());
    }

    #[test]
    fn bind_line_format() {
        let mut object = ObjectInfo {
            handle: 4,
            class: 3,
            label: b"rsa-ksk".to_vec(),
            extractable: Some(false),
            never_extractable: Some(true),
            ..ObjectInfo::default()
        };
        assert_eq!(
            String::from_utf8(bind_line(2, &object)).expect("utf8"),
            "object[2]: handle 4 class 3 label[7] 'rsa-ksk' id[0]  E:never (Private Key)\n"
        );
        object.id = vec![1, 2];
        object.extractable = Some(true);
        assert!(String::from_utf8(bind_line(0, &object))
            .expect("utf8")
            .ends_with("id[2] 258 E:true (Private Key)\n"));
        object.class = 2;
        object.id = (1..=10).collect();
        assert_eq!(
            String::from_utf8(bind_line(0, &object)).expect("utf8"),
            "object[0]: handle 4 class 2 label[7] 'rsa-ksk' id[10] 0x0102030405060708... (Public Key)\n"
        );
        assert_eq!(bind_id_text(&[0, 1, 0x11, 0x70]), "0x00011170");
    }
}
