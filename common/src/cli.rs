//! Command-line vocabulary shared by every tool: the `main` wrapper, option
//! helpers over lexopt, the environment (read once), and the PKCS#11
//! connection options (`-m`, `-s`, `-p`, `--pin-file`, `--token`,
//! `--serial`), which mean the same thing in every tool.

use crate::error::{Error, Result, EXIT_OK};
use crate::pin::{Pin, PinSource};
use crate::pkcs11::{ConnectionSpec, ModuleChoice, TokenSelector};
use crate::uri::{KeyLabel, PathAttr, Pkcs11Uri};
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::OnceLock;

static TOOL_NAME: OnceLock<String> = OnceLock::new();

/// Set by tools whose `-p`, `-s` and `-m` are BIND's (zone-sign), so that
/// hints name the options that tool takes.
static LONG_CONNECTION_OPTIONS: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Says that this tool takes the connection options in their long forms
/// only ([`ConnectionArgs::take_long`]): hints then suggest `--pin`, not
/// `-p`, which means something else there.
pub fn long_connection_options() {
    LONG_CONNECTION_OPTIONS.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// The PIN option as this tool spells it, for hints: `-p` or `--pin`.
pub fn pin_option() -> &'static str {
    if LONG_CONNECTION_OPTIONS.load(std::sync::atomic::Ordering::Relaxed) {
        "--pin"
    } else {
        "-p"
    }
}

/// What argument parsing produced: work to do, or a request for help or
/// the version (printed by the wrapper, so parsers never exit).
#[derive(Debug)]
pub enum Parsed<T> {
    Run(T),
    Help,
    Version,
}

impl<T> Parsed<T> {
    /// Runs `body` on parsed arguments; passes help and version requests
    /// through to the `main` wrapper.
    pub fn run(self, body: impl FnOnce(T) -> Result<()>) -> Result<Parsed<()>> {
        match self {
            Parsed::Run(args) => body(args).map(Parsed::Run),
            Parsed::Help => Ok(Parsed::Help),
            Parsed::Version => Ok(Parsed::Version),
        }
    }
}

/// For parser unit tests: parses literal arguments and expects work to do
/// (not a help or version request).
pub fn parse_literal<T: std::fmt::Debug>(
    parse: impl FnOnce(Vec<OsString>) -> Result<Parsed<T>>,
    args: &[&str],
) -> Result<T> {
    match parse(args.iter().map(OsString::from).collect())? {
        Parsed::Run(args) => Ok(args),
        other => Err(Error::usage(format!(
            "expected arguments to run, got {other:?}"
        ))),
    }
}

/// Runs a tool's body and turns its result into the process exit code.
/// Only this wrapper prints errors: one line `tool: message` on stderr.
pub fn main_with(
    tool: &str,
    help: &str,
    body: impl FnOnce(&Environment) -> Result<Parsed<()>>,
) -> ExitCode {
    let _ = TOOL_NAME.set(tool.to_string());
    // Before anything reads PKCS11_PIN or a PIN file.
    for problem in crate::pin::protect_process() {
        warn(&problem);
    }
    let environment = Environment::from_process();
    let outcome = body(&environment);
    match outcome {
        Ok(Parsed::Run(())) => ExitCode::from(EXIT_OK),
        Ok(Parsed::Help) => print_and_exit(help),
        Ok(Parsed::Version) => print_and_exit(&format!(
            "{tool} (p11dnssec) {}\n",
            env!("CARGO_PKG_VERSION")
        )),
        // A reader that went away (`| head`) is not a failure.
        Err(Error::Io { path, source })
            if path == "stdout" && source.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            ExitCode::from(EXIT_OK)
        }
        Err(error) => {
            write_stderr(&format!("{tool}: {error}"));
            ExitCode::from(error.exit_code())
        }
    }
}

fn print_and_exit(text: &str) -> ExitCode {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
    ExitCode::from(EXIT_OK)
}

/// Where stderr lines go when not straight to stderr (see
/// [`set_stderr_sink`]).
type StderrSink = Box<dyn Fn(&str) + Send + Sync>;
static STDERR_SINK: OnceLock<StderrSink> = OnceLock::new();

/// Sends every line of [`warn`], [`note`], [`verbose`] and [`stderr_line`]
/// through `sink` from now on: a progress line on a terminal clears
/// itself, prints the line and redraws, instead of being cut by it.
/// Only the first sink set counts.
pub fn set_stderr_sink(sink: StderrSink) {
    let _ = STDERR_SINK.set(sink);
}

/// Prints one line on stderr (through the sink, if one is set).
pub fn stderr_line(line: &str) {
    match STDERR_SINK.get() {
        Some(sink) => sink(line),
        None => write_stderr(line),
    }
}

/// Writes one line on stderr, ignoring a failure: `eprintln!` panics when
/// stderr cannot be written (a full file, a closed descriptor), which would
/// turn a one-line error into exit 101 and a panic message nobody reads.
pub fn write_stderr(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Prints `tool: warning: message` on stderr.
pub fn warn(message: &str) {
    let tool = TOOL_NAME.get().map(String::as_str).unwrap_or("p11dnssec");
    stderr_line(&format!("{tool}: warning: {message}"));
}

/// Prints `tool: note: message` on stderr.
pub fn note(message: &str) {
    let tool = TOOL_NAME.get().map(String::as_str).unwrap_or("p11dnssec");
    stderr_line(&format!("{tool}: note: {message}"));
}

/// The `-v` level: 0 (the default) prints nothing through [`verbose`].
static VERBOSITY: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

thread_local! {
    /// The signing worker this thread is, for [`verbose`]'s prefix.
    static WORKER: std::cell::Cell<Option<u32>> = const { std::cell::Cell::new(None) };
}

/// Sets the `-v` level for [`verbose`]: 1 phases and key choices, 2 each
/// worker's and session's events (reopen, retry, back-off), 3 each RRset's
/// re-signing decision.
pub fn set_verbosity(level: u8) {
    VERBOSITY.store(level, std::sync::atomic::Ordering::Relaxed);
}

/// The `-v` level; a hot loop asks this before it formats a message.
pub fn verbosity() -> u8 {
    VERBOSITY.load(std::sync::atomic::Ordering::Relaxed)
}

/// Says that this thread is signing worker `index`: its [`verbose`] lines
/// name it, so that one session's events can be told from another's.
pub fn set_worker(index: u32) {
    WORKER.with(|worker| worker.set(Some(index)));
}

/// Prints `tool: [worker N: ]message` on stderr when the `-v` level is at
/// least `level`. Messages never carry a PIN: none is ever formatted here.
pub fn verbose(level: u8, message: &str) {
    if verbosity() < level {
        return;
    }
    let tool = TOOL_NAME.get().map(String::as_str).unwrap_or("p11dnssec");
    stderr_line(&match WORKER.with(std::cell::Cell::get) {
        Some(index) => format!("{tool}: worker {index}: {message}"),
        None => format!("{tool}: {message}"),
    });
}

/// The environment variables the tools honour, read once at start-up so
/// that parsing stays a pure function of (arguments, environment).
#[derive(Clone, Debug, Default)]
pub struct Environment {
    /// The PKCS#11 module from `PKCS11_PROVIDER`, `PKCS11_MODULE` or
    /// `PKCS11_LIBRARY` (first set wins), with the variable's name.
    pub module: Option<(&'static str, PathBuf)>,
    /// `PKCS11_PIN`.
    pub pin: Option<Pin>,
}

impl Environment {
    /// Reads the process environment.
    pub fn from_process() -> Environment {
        let module = ["PKCS11_PROVIDER", "PKCS11_MODULE", "PKCS11_LIBRARY"]
            .into_iter()
            .find_map(|name| {
                let value = std::env::var_os(name)?;
                (!value.is_empty()).then(|| (name, PathBuf::from(value)))
            });
        let pin = std::env::var_os("PKCS11_PIN").map(|value| {
            use std::os::unix::ffi::OsStringExt;
            Pin::new(value.into_vec())
        });
        Environment { module, pin }
    }
}

/// An option or value from the command line, owned so that it can be
/// passed around while the parser is borrowed again for the option's value.
#[derive(Debug)]
pub enum Opt {
    Short(char),
    Long(String),
    Value(OsString),
}

impl Opt {
    /// True if this is `-short` or `--long`.
    pub fn is(&self, short: char, long: &str) -> bool {
        match self {
            Opt::Short(c) => *c == short,
            Opt::Long(l) => l == long,
            Opt::Value(_) => false,
        }
    }

    /// True if this is `-short` (an option with no long form).
    pub fn is_short(&self, short: char) -> bool {
        matches!(self, Opt::Short(c) if *c == short)
    }

    /// True if this is `--long` (an option with no short form).
    pub fn is_long(&self, long: &str) -> bool {
        matches!(self, Opt::Long(l) if l == long)
    }

    /// The error for an option the tool does not know.
    pub fn unexpected(&self) -> Error {
        match self {
            Opt::Short(c) => Error::usage(format!("unknown option '-{c}'")),
            Opt::Long(l) => Error::usage(format!("unknown option '--{l}'")),
            Opt::Value(v) => Error::usage(format!("unexpected argument '{}'", v.to_string_lossy())),
        }
    }

    fn display(&self) -> String {
        match self {
            Opt::Short(c) => format!("-{c}"),
            Opt::Long(l) => format!("--{l}"),
            Opt::Value(v) => v.to_string_lossy().into_owned(),
        }
    }
}

/// The next option or positional value.
pub fn next_opt(parser: &mut lexopt::Parser) -> Result<Option<Opt>> {
    use lexopt::Arg;
    let arg = parser.next().map_err(usage_error)?;
    Ok(arg.map(|arg| match arg {
        Arg::Short(c) => Opt::Short(c),
        Arg::Long(l) => Opt::Long(l.to_string()),
        Arg::Value(v) => Opt::Value(v),
    }))
}

/// The value of option `opt` as raw OS string.
pub fn value_os(parser: &mut lexopt::Parser, opt: &Opt) -> Result<OsString> {
    parser
        .value()
        .map_err(|_| Error::usage(format!("option '{}' needs a value", opt.display())))
}

/// The value of option `opt` as UTF-8 text.
pub fn value(parser: &mut lexopt::Parser, opt: &Opt) -> Result<String> {
    let value = value_os(parser, opt)?;
    value
        .into_string()
        .map_err(|_| Error::usage(format!("option '{}' needs UTF-8 text", opt.display())))
}

/// The value of option `opt`, parsed with `parse`; errors name the option.
pub fn value_parsed<T>(
    parser: &mut lexopt::Parser,
    opt: &Opt,
    what: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T> {
    let text = value(parser, opt)?;
    parse(&text).ok_or_else(|| {
        Error::usage(format!(
            "option '{}' needs {what}, not '{text}'",
            opt.display()
        ))
    })
}

fn usage_error(error: lexopt::Error) -> Error {
    Error::usage(error.to_string())
}

/// Parses a decimal number (the slot IDs of BIND's `-s`), also `0x` hex.
pub fn parse_number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// The PKCS#11 connection options, common to every tool that talks to a token.
#[derive(Clone, Debug, Default)]
pub struct ConnectionArgs {
    /// `-m PATH` / `--module PATH`.
    pub module: Option<PathBuf>,
    /// `-s SLOT` / `--slot SLOT`: a slot ID as in BIND.
    pub slot: Option<u64>,
    /// `--token LABEL`.
    pub token_label: Option<Vec<u8>>,
    /// `--serial SERIAL`.
    pub token_serial: Option<Vec<u8>>,
    /// `-p PIN` or `--pin-file FILE`.
    pub pin: Option<PinSource>,
    /// zone-sign's pool: the further tokens, each started by a repeated
    /// `--slot`, `--token` or `--serial` (see [`ConnectionArgs::take_pool`]).
    pub pool: Vec<TokenArgs>,
    /// `--module` was given more than once (refused in a pool, see
    /// [`ConnectionArgs::finish_pool`]).
    pub module_repeated: bool,
}

/// One token of a pool, as the options name it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenArgs {
    pub slot: Option<u64>,
    pub label: Option<Vec<u8>>,
    pub serial: Option<Vec<u8>>,
}

/// Which token option was given.
#[derive(Clone, Copy)]
enum TokenField {
    Slot,
    Label,
    Serial,
}

/// One object-selection option of the tools that pick existing objects
/// (pkcs11-list, pkcs11-destroy, pkcs11-backup), with BIND's letters.
#[derive(Debug)]
pub struct ObjectSelection {
    /// What the option selects.
    pub selector: crate::pkcs11::object::ObjectSelector,
    /// Which option it was.
    pub by: SelectedBy,
}

/// The option an [`ObjectSelection`] came from.
#[derive(Debug)]
pub enum SelectedBy {
    /// `-i N`: BIND's numeric ID, as typed.
    NumericId(String),
    /// `--id HEX`.
    HexId,
    /// `-l LABEL`, or `-l pkcs11:…` (the URI).
    Label(Option<Pkcs11Uri>),
}

/// Takes `-i`, `--id` or `-l`/`--label` if `opt` is one of them.
pub fn take_object_selection(
    opt: &Opt,
    parser: &mut lexopt::Parser,
) -> Result<Option<ObjectSelection>> {
    use crate::pkcs11::object::{parse_hex_id, parse_numeric_id, ObjectSelector};
    if opt.is_short('i') {
        let text = value(parser, opt)?;
        let id = parse_numeric_id(&text, false).ok_or_else(|| {
            Error::usage(format!(
                "option '-i' needs a number or 0x hex, not '{text}'"
            ))
        })?;
        return Ok(Some(ObjectSelection {
            selector: ObjectSelector {
                id: Some(id),
                ..Default::default()
            },
            by: SelectedBy::NumericId(text),
        }));
    }
    if opt.is_long("id") {
        let id = value_parsed(parser, opt, "hex bytes", parse_hex_id)?;
        return Ok(Some(ObjectSelection {
            selector: ObjectSelector {
                id: Some(id),
                ..Default::default()
            },
            by: SelectedBy::HexId,
        }));
    }
    if opt.is('l', "label") {
        let given = value_os(parser, opt)?;
        let text = given.to_string_lossy().into_owned();
        if Pkcs11Uri::is_uri(&text) {
            let uri = Pkcs11Uri::parse(&text)?;
            return Ok(Some(ObjectSelection {
                selector: ObjectSelector::from_uri(&uri),
                by: SelectedBy::Label(Some(uri)),
            }));
        }
        return Ok(Some(ObjectSelection {
            selector: ObjectSelector {
                label: Some(os_bytes(given)),
                ..Default::default()
            },
            by: SelectedBy::Label(None),
        }));
    }
    Ok(None)
}

impl ConnectionArgs {
    /// Consumes `opt` if it is a connection option; returns whether it was.
    pub fn take(&mut self, opt: &Opt, parser: &mut lexopt::Parser) -> Result<bool> {
        self.take_inner(opt, parser, false)
    }

    /// Like [`ConnectionArgs::take_long`], for zone-sign, whose `--pool`
    /// makes tokens holding the same keys one pool: a `--slot`, `--token`
    /// or `--serial` given again (already set for the token being named)
    /// starts the next token, so `--token a --token b` and `--token a
    /// --serial 1 --token b --serial 2` each name two. Whether they are a
    /// pool is settled by [`ConnectionArgs::finish_pool`] once every option
    /// is read (`--pool` may come anywhere).
    pub fn take_pool(&mut self, opt: &Opt, parser: &mut lexopt::Parser) -> Result<bool> {
        if !matches!(opt, Opt::Long(_)) {
            return Ok(false);
        }
        if opt.is_long("module") && self.module.is_some() {
            self.module_repeated = true;
        }
        self.take_inner(opt, parser, true)
    }

    /// After [`ConnectionArgs::take_pool`]: with `pool` (`--pool`) the
    /// repeated token options name the pool's tokens, in one module (a
    /// second `--module` is refused). Without it, the last of each option
    /// counts, as before pools existed (wrappers run `zone-sign --token
    /// default "$@"`, and the PIN must not go to the token overridden),
    /// with a warning for each option given again.
    pub fn finish_pool(&mut self, pool: bool) -> Result<()> {
        if pool {
            if self.module_repeated {
                return Err(Error::usage(
                    "give --module once: the tokens of a pool are in one module",
                ));
            }
            return Ok(());
        }
        if self.pool.is_empty() {
            return Ok(());
        }
        let tokens = self.tokens();
        let count = |set: &dyn Fn(&TokenArgs) -> bool| tokens.iter().filter(|t| set(t)).count();
        for (option, times) in [
            ("--slot", count(&|t| t.slot.is_some())),
            ("--token", count(&|t| t.label.is_some())),
            ("--serial", count(&|t| t.serial.is_some())),
        ] {
            if times > 1 {
                warn(&format!(
                    "{option} given {}: the last counts; give --pool for a pool of tokens",
                    if times == 2 {
                        "twice".to_string()
                    } else {
                        format!("{times} times")
                    }
                ));
            }
        }
        // The last token given that sets a field holds its last value.
        let last = tokens.iter().rev();
        self.slot = last.clone().find_map(|t| t.slot);
        self.token_label = last.clone().find_map(|t| t.label.clone());
        self.token_serial = last.clone().find_map(|t| t.serial.clone());
        self.pool.clear();
        Ok(())
    }

    /// Every token the options name, the first one's fields first (one
    /// entry, possibly empty, without a pool).
    pub fn tokens(&self) -> Vec<TokenArgs> {
        let mut tokens = vec![TokenArgs {
            slot: self.slot,
            label: self.token_label.clone(),
            serial: self.token_serial.clone(),
        }];
        tokens.extend(self.pool.iter().cloned());
        tokens
    }

    /// These options with only `token`'s selection (for resolving one
    /// member of a pool).
    pub fn for_token(&self, token: &TokenArgs) -> ConnectionArgs {
        ConnectionArgs {
            slot: token.slot,
            token_label: token.label.clone(),
            token_serial: token.serial.clone(),
            pool: Vec::new(),
            ..self.clone()
        }
    }

    fn take_inner(&mut self, opt: &Opt, parser: &mut lexopt::Parser, pool: bool) -> Result<bool> {
        if opt.is('m', "module") {
            self.module = Some(PathBuf::from(value_os(parser, opt)?));
        } else if opt.is('s', "slot") {
            let slot = value_parsed(parser, opt, "a slot number", parse_number)?;
            self.set_token(TokenField::Slot, Some(slot), None, pool);
        } else if opt.is_long("token") {
            let label = os_bytes(value_os(parser, opt)?);
            self.set_token(TokenField::Label, None, Some(label), pool);
        } else if opt.is_long("serial") {
            let serial = os_bytes(value_os(parser, opt)?);
            self.set_token(TokenField::Serial, None, Some(serial), pool);
        } else if opt.is('p', "pin") {
            let pin = Pin::new(os_bytes(value_os(parser, opt)?));
            self.set_pin(PinSource::Value(pin))?;
        } else if opt.is_long("pin-file") {
            let path = PathBuf::from(value_os(parser, opt)?);
            self.set_pin(PinSource::File(path))?;
        } else {
            return Ok(false);
        }
        Ok(true)
    }

    /// Like [`ConnectionArgs::take`], for tools whose short letters mean
    /// something else (zone-sign: BIND's `-s`, `-p`, `-m`): long forms only.
    pub fn take_long(&mut self, opt: &Opt, parser: &mut lexopt::Parser) -> Result<bool> {
        if matches!(opt, Opt::Long(_)) {
            self.take(opt, parser)
        } else {
            Ok(false)
        }
    }

    /// Sets a token field of the token being named; with `pool`, a field
    /// already set starts the next token (without, the last one counts,
    /// as always).
    fn set_token(
        &mut self,
        field: TokenField,
        number: Option<u64>,
        bytes: Option<Vec<u8>>,
        pool: bool,
    ) {
        let mut current = self.pool.last().cloned().unwrap_or_else(|| TokenArgs {
            slot: self.slot,
            label: self.token_label.clone(),
            serial: self.token_serial.clone(),
        });
        let taken = match field {
            TokenField::Slot => current.slot.is_some(),
            TokenField::Label => current.label.is_some(),
            TokenField::Serial => current.serial.is_some(),
        };
        let new_member = pool && taken;
        if new_member {
            current = TokenArgs::default();
        }
        match field {
            TokenField::Slot => current.slot = number,
            TokenField::Label => current.label = bytes,
            TokenField::Serial => current.serial = bytes,
        }
        if new_member {
            self.pool.push(current);
        } else if let Some(last) = self.pool.last_mut() {
            *last = current;
        } else {
            self.slot = current.slot;
            self.token_label = current.label;
            self.token_serial = current.serial;
        }
    }

    fn set_pin(&mut self, source: PinSource) -> Result<()> {
        if self.pin.is_some() {
            return Err(Error::usage(format!(
                "give the PIN once: {} or --pin-file, not both",
                pin_option()
            )));
        }
        self.pin = Some(source);
        Ok(())
    }

    /// Like [`ConnectionArgs::resolve`], for a key named by a key file's
    /// `Label:`: a [`KeyLabel`] holds no module and no PIN, so both come
    /// from the command line and the environment only — and so does the
    /// token, since the PIN goes to it: a planted label naming another
    /// token would otherwise make every run present the operator's PIN
    /// there and run down that token's PIN counter. Returns the connection
    /// (token from the options, or the default) and the token the label
    /// names, which the caller checks against the token it opens.
    pub fn resolve_label(
        &self,
        label: &KeyLabel,
        environment: &Environment,
    ) -> Result<(ConnectionSpec, TokenSelector)> {
        let named = self.resolve(Some(label.uri()), environment)?.token;
        Ok((self.resolve(None, environment)?, named))
    }

    /// Combines the options with a URI given on the command line (if the
    /// tool got one) and the environment into what to connect to. A URI
    /// read from a file goes through [`ConnectionArgs::resolve_label`]
    /// instead. Precedence, highest first:
    /// module `-m`, URI `module-path`/`module-name`, `PKCS11_PROVIDER`,
    /// `PKCS11_MODULE`, `PKCS11_LIBRARY`, the SoftHSM2 default; PIN `-p` or
    /// `--pin-file`, URI `pin-value`/`pin-source`, `PKCS11_PIN`, prompt.
    /// A token attribute given both as an option and in the URI must agree.
    pub fn resolve(
        &self,
        uri: Option<&Pkcs11Uri>,
        environment: &Environment,
    ) -> Result<ConnectionSpec> {
        let empty = Pkcs11Uri::default();
        let uri = uri.unwrap_or(&empty);
        if uri.has_vendor_attributes() {
            return Err(Error::usage(
                "PKCS#11 URI has vendor-specific (x-) attributes, which these tools do not support",
            ));
        }
        let module = if let Some(path) = &self.module {
            ModuleChoice::Explicit(path.clone())
        } else if let Some(path) = &uri.module_path {
            ModuleChoice::Explicit(PathBuf::from(path))
        } else if let Some(name) = &uri.module_name {
            ModuleChoice::Named(name.clone())
        } else if let Some((_, path)) = &environment.module {
            ModuleChoice::Explicit(path.clone())
        } else {
            ModuleChoice::Default
        };

        let slot_id = agree("slot", self.slot, uri.slot_id())?;
        let label = agree_bytes("token", &self.token_label, uri.get(PathAttr::Token))?;
        let serial = agree_bytes("serial", &self.token_serial, uri.get(PathAttr::Serial))?;
        let owned = |attr| uri.get(attr).map(<[u8]>::to_vec);
        let token = TokenSelector {
            slot_id,
            label,
            serial,
            manufacturer: owned(PathAttr::Manufacturer),
            model: owned(PathAttr::Model),
            slot_description: owned(PathAttr::SlotDescription),
            slot_manufacturer: owned(PathAttr::SlotManufacturer),
        };

        let pin = if let Some(source) = &self.pin {
            source.clone()
        } else if let Some(pin) = &uri.pin_value {
            PinSource::Value(pin.clone())
        } else if let Some(source) = &uri.pin_source {
            PinSource::from_uri_pin_source(source)?
        } else if let Some(pin) = &environment.pin {
            PinSource::Environment(pin.clone())
        } else {
            PinSource::Prompt
        };
        Ok(ConnectionSpec { module, token, pin })
    }
}

fn agree(what: &str, option: Option<u64>, from_uri: Option<u64>) -> Result<Option<u64>> {
    match (option, from_uri) {
        (Some(a), Some(b)) if a != b => Err(Error::usage(format!(
            "the {what} option ({a}) and the URI's {what} ({b}) differ"
        ))),
        (a, b) => Ok(a.or(b)),
    }
}

fn agree_bytes(
    what: &str,
    option: &Option<Vec<u8>>,
    from_uri: Option<&[u8]>,
) -> Result<Option<Vec<u8>>> {
    match (option, from_uri) {
        (Some(a), Some(b)) if a.as_slice() != b => Err(Error::usage(format!(
            "--{what} '{}' and the URI's {what} '{}' differ",
            String::from_utf8_lossy(a),
            String::from_utf8_lossy(b)
        ))),
        (a, b) => Ok(a.clone().or_else(|| b.map(<[u8]>::to_vec))),
    }
}

/// The raw bytes of an OS string (labels and PINs need not be UTF-8).
pub fn os_bytes(value: OsString) -> Vec<u8> {
    use std::os::unix::ffi::OsStringExt;
    value.into_vec()
}

/// The raw bytes of an OS string slice.
pub fn os_str_bytes(value: &OsStr) -> &[u8] {
    use std::os::unix::ffi::OsStrExt;
    value.as_bytes()
}

/// The help text of the connection options in their long forms only.
pub const CONNECTION_HELP_LONG: &str = "\
PKCS#11 connection (long forms only: -s, -p and -m are BIND's here):
      --module PATH     PKCS#11 module (default: $PKCS11_PROVIDER, $PKCS11_MODULE,
                        $PKCS11_LIBRARY, else SoftHSM2)
      --slot SLOT       slot ID (default: slot 0 if it holds an initialized
                        token, else the only initialized token)
      --token LABEL     the token with this label
      --serial SERIAL   the token with this serial number
                        --slot, --token or --serial given again names one more
                        token of a pool holding the same keys (same label,
                        CKA_ID and public key; one module, one PIN for all):
                        the sessions are spread over the tokens, and one that
                        fails mid-run hands its work to the others
      --pin-file FILE   read the user PIN from FILE (one trailing newline ignored)
      --pin PIN         the user PIN (visible in ps: prefer --pin-file or
                        PKCS11_PIN)
";

/// The help text of the connection options, for every tool's `--help`.
pub const CONNECTION_HELP: &str = "\
PKCS#11 connection:
  -m, --module PATH     PKCS#11 module (default: $PKCS11_PROVIDER, $PKCS11_MODULE,
                        $PKCS11_LIBRARY, else SoftHSM2)
  -s, --slot SLOT       slot ID, as in BIND (default: slot 0 if it holds an
                        initialized token, else the only initialized token)
      --token LABEL     the token with this label
      --serial SERIAL   the token with this serial number
      --pin-file FILE   read the user PIN from FILE (one trailing newline ignored)
  -p, --pin PIN         the user PIN (visible to other users in ps: prefer
                        --pin-file, PKCS11_PIN or pin-source= in a URI)
";

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<ConnectionArgs> {
        let mut parser = lexopt::Parser::from_args(args.iter().copied());
        let mut connection = ConnectionArgs::default();
        while let Some(opt) = next_opt(&mut parser)? {
            if !connection.take(&opt, &mut parser)? {
                return Err(opt.unexpected());
            }
        }
        Ok(connection)
    }

    #[test]
    fn connection_options_parse_in_bind_and_long_forms() {
        let c = parse(&["-m", "/lib/x.so", "-s", "5", "-p1234"]).expect("parse");
        assert_eq!(c.module, Some(PathBuf::from("/lib/x.so")));
        assert_eq!(c.slot, Some(5));
        assert!(matches!(c.pin, Some(PinSource::Value(p)) if p.bytes_equal(b"1234")));
        let c = parse(&["--token", "dnssec", "--serial=abc", "--pin-file", "/p"]).expect("parse");
        assert_eq!(c.token_label, Some(b"dnssec".to_vec()));
        assert_eq!(c.token_serial, Some(b"abc".to_vec()));
        assert_eq!(c.pin, Some(PinSource::File("/p".into())));
    }

    #[test]
    fn repeated_token_options_name_a_pool_only_where_taken_as_one() {
        let pool = |args: &[&str]| {
            let mut parser = lexopt::Parser::from_args(args.iter().copied());
            let mut connection = ConnectionArgs::default();
            while let Some(opt) = next_opt(&mut parser)? {
                if !connection.take_pool(&opt, &mut parser)? {
                    return Err(opt.unexpected());
                }
            }
            connection.finish_pool(true)?;
            Ok::<_, Error>(connection)
        };
        let c = pool(&["--token", "a", "--token", "b"]).expect("parse");
        let labels: Vec<_> = c.tokens().into_iter().map(|t| t.label).collect();
        assert_eq!(labels, [Some(b"a".to_vec()), Some(b"b".to_vec())]);
        let c = pool(&[
            "--token",
            "a",
            "--serial",
            "1",
            "--token",
            "b",
            "--serial=2",
        ])
        .expect("parse");
        let tokens = c.tokens();
        assert_eq!(tokens.len(), 2);
        assert_eq!(tokens[1].serial, Some(b"2".to_vec()));
        assert_eq!(c.for_token(&tokens[1]).token_label, Some(b"b".to_vec()));
        let c = pool(&["--slot", "1", "--slot", "2", "--slot", "3"]).expect("parse");
        assert_eq!(c.tokens().len(), 3);
        assert_eq!(pool(&["--token", "a"]).expect("parse").tokens().len(), 1);
        let error = pool(&["--module", "/a.so", "--module", "/b.so"]).expect_err("two modules");
        assert_eq!(error.exit_code(), 2);
        // Elsewhere the last one counts, as before.
        let c = parse(&["--token", "a", "--token", "b"]).expect("parse");
        assert_eq!(c.tokens().len(), 1);
        assert_eq!(c.token_label, Some(b"b".to_vec()));
    }

    #[test]
    fn bad_connection_options_are_usage_errors() {
        for args in [&["-s", "x"][..], &["-m"], &["-p", "1", "--pin-file", "f"]] {
            let error = parse(args).expect_err("should fail");
            assert_eq!(error.exit_code(), 2, "{args:?}");
            assert!(!error.to_string().contains("1234"));
        }
    }

    #[test]
    fn module_and_pin_precedence() {
        let environment = Environment {
            module: Some(("PKCS11_PROVIDER", PathBuf::from("/env.so"))),
            pin: Some(Pin::new(b"env".to_vec())),
        };
        let uri = Pkcs11Uri::parse("pkcs11:token=t?module-path=/uri.so&pin-value=u").expect("uri");
        let none = ConnectionArgs::default();
        let spec = none.resolve(None, &environment).expect("resolve");
        assert_eq!(spec.module, ModuleChoice::Explicit("/env.so".into()));
        assert_eq!(spec.pin, PinSource::Environment(Pin::new(b"env".to_vec())));
        let spec = none.resolve(Some(&uri), &environment).expect("resolve");
        assert_eq!(spec.module, ModuleChoice::Explicit("/uri.so".into()));
        assert_eq!(spec.pin, PinSource::Value(Pin::new(b"u".to_vec())));
        assert_eq!(spec.token.label, Some(b"t".to_vec()));
        let explicit = parse(&["-m", "/m.so", "-p", "p"]).expect("parse");
        let spec = explicit.resolve(Some(&uri), &environment).expect("resolve");
        assert_eq!(spec.module, ModuleChoice::Explicit("/m.so".into()));
        assert_eq!(spec.pin, PinSource::Value(Pin::new(b"p".to_vec())));
        let spec = ConnectionArgs::default()
            .resolve(None, &Environment::default())
            .expect("resolve");
        assert_eq!(spec.module, ModuleChoice::Default);
        assert_eq!(spec.pin, PinSource::Prompt);
    }

    #[test]
    fn conflicting_token_selections_are_refused() {
        let uri = Pkcs11Uri::parse("pkcs11:token=a;slot-id=2").expect("uri");
        let c = parse(&["--token", "b"]).expect("parse");
        assert!(c.resolve(Some(&uri), &Environment::default()).is_err());
        let c = parse(&["-s", "3"]).expect("parse");
        assert!(c.resolve(Some(&uri), &Environment::default()).is_err());
        let c = parse(&["-s", "2", "--token", "a"]).expect("parse");
        assert!(c.resolve(Some(&uri), &Environment::default()).is_ok());
    }
}
