//! The one error type of every tool, and the exit codes it maps to.
//!
//! Exit codes are shared by all tools and documented in every man page:
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success (also: stdout closed early by the reader, e.g. `| head`) |
//! | 1 | runtime failure: PKCS#11 error, I/O error, bad input data |
//! | 2 | usage error: unknown option, missing or malformed value |
//! | 3 | nothing matched: no such slot, token or key object |
//!
//! Messages are lowercase, carry no trailing period, quote user input and
//! never contain a PIN: no variant holds one, and values that come from a
//! PIN source are never formatted into a message.

use std::fmt;
use std::io;

/// Result type used throughout `common` and the tools.
pub type Result<T> = std::result::Result<T, Error>;

/// Exit code for success.
pub const EXIT_OK: u8 = 0;
/// Exit code for a runtime failure.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for a usage error.
pub const EXIT_USAGE: u8 = 2;
/// Exit code when a selection (slot, token, key object) matched nothing.
pub const EXIT_NOT_FOUND: u8 = 3;

/// Everything that can go wrong in a tool.
#[derive(Debug)]
pub enum Error {
    /// The command line is wrong: unknown option, missing or malformed value.
    Usage(String),
    /// Reading or writing a file (or stdin/stdout) failed.
    Io { path: String, source: io::Error },
    /// A PKCS#11 function returned an error code.
    Pkcs11 {
        /// What we were doing, e.g. "logging in to token 'dnssec'"; may be empty.
        context: String,
        /// The PKCS#11 function, e.g. `C_Login`.
        function: String,
        /// The return value by name, e.g. `CKR_PIN_INCORRECT`.
        code: String,
    },
    /// The PKCS#11 module could not be loaded; every path tried, with why.
    ModuleLoad { tried: Vec<(String, String)> },
    /// A selection matched nothing (slot, token, key object).
    NotFound(String),
    /// Input data is malformed (a file and line, where there is one).
    Input {
        file: String,
        line: Option<usize>,
        message: String,
    },
    /// Any other runtime failure, already phrased for the operator.
    Failed(String),
}

impl Error {
    /// The process exit code for this error (see the module documentation).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => EXIT_USAGE,
            Error::NotFound(_) => EXIT_NOT_FOUND,
            _ => EXIT_FAILURE,
        }
    }

    /// Shorthand for a usage error.
    pub fn usage(message: impl Into<String>) -> Self {
        Error::Usage(message.into())
    }

    /// Shorthand for an I/O error on a named file.
    pub fn io(path: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Converts a cryptoki error, naming the function and the CKR_ code.
    pub fn pkcs11(context: impl Into<String>, error: cryptoki::error::Error) -> Self {
        use cryptoki::error::Error as E;
        let context = context.into();
        match error {
            E::Pkcs11(rv, function) => Error::Pkcs11 {
                context,
                function: format!("C_{function:?}"),
                code: ckr_name(&rv),
            },
            E::LibraryLoading(e) => Error::ModuleLoad {
                tried: vec![(context, e.to_string())],
            },
            other => Error::Failed(if context.is_empty() {
                format!("PKCS#11 library error: {other}")
            } else {
                format!("{context}: PKCS#11 library error: {other}")
            }),
        }
    }

    /// The CKR_ code of a PKCS#11 error, if this is one.
    pub fn pkcs11_code(&self) -> Option<&str> {
        match self {
            Error::Pkcs11 { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// The `CKR_` name of a cryptoki return value, e.g. `CKR_PIN_INCORRECT`.
///
/// cryptoki's variant names are the CKR_ names in CamelCase, so the name is
/// derived from the variant rather than kept in a second table.
pub fn ckr_name(rv: &cryptoki::error::RvError) -> String {
    use cryptoki::error::RvError;
    match rv {
        RvError::VendorDefined(code) => format!("CKR_VENDOR_DEFINED+0x{:X}", code - 0x8000_0000),
        RvError::UnknownErrorCode(code) => format!("CKR_0x{code:08X}"),
        other => {
            let camel = format!("{other:?}");
            let mut name = String::from("CKR");
            for c in camel.chars() {
                if c.is_ascii_uppercase() {
                    name.push('_');
                }
                name.push(c.to_ascii_uppercase());
            }
            name
        }
    }
}

/// A one-line hint for the return codes operators meet most often
/// (the troubleshooting table of the HSM guide).
pub fn ckr_hint(code: &str) -> Option<&'static str> {
    Some(match code {
        "CKR_PIN_INCORRECT" => {
            "the PIN is wrong (a PIN file must hold the PIN alone; one trailing newline is ignored)"
        }
        "CKR_PIN_LOCKED" => "the user PIN is locked: the security officer must unlock or reset it",
        "CKR_PIN_LEN_RANGE" => "the PIN is shorter or longer than the token allows",
        "CKR_USER_PIN_NOT_INITIALIZED" => "the token has no user PIN yet: initialize it first",
        "CKR_TOKEN_NOT_PRESENT" | "CKR_DEVICE_REMOVED" => {
            "the token is not present: check the HSM's network or USB connection"
        }
        "CKR_TOKEN_NOT_RECOGNIZED" => "the module does not recognize the token in this slot",
        "CKR_SESSION_HANDLE_INVALID" | "CKR_SESSION_CLOSED" => {
            "the session was closed (HSM timeout, restart or fail-over): run the command again"
        }
        "CKR_SESSION_COUNT" => "the token has no free sessions: close other applications",
        "CKR_USER_NOT_LOGGED_IN" => "the session is not logged in: give the user PIN",
        "CKR_DEVICE_ERROR" => "the HSM reports a hardware fault: check its status and logs",
        "CKR_DEVICE_MEMORY" => "the token is out of memory: remove unused objects",
        "CKR_KEY_HANDLE_INVALID" | "CKR_OBJECT_HANDLE_INVALID" => {
            "the key object is gone: list the keys and check the label"
        }
        "CKR_MECHANISM_INVALID" | "CKR_CURVE_NOT_SUPPORTED" | "CKR_KEY_SIZE_RANGE" => {
            "the token does not support this algorithm or key size (see pkcs11-tokens)"
        }
        "CKR_TOKEN_WRITE_PROTECTED" => "the token is read-only",
        "CKR_SLOT_ID_INVALID" => "no such slot: list the slots with pkcs11-tokens",
        "CKR_CRYPTOKI_NOT_INITIALIZED" | "CKR_GENERAL_ERROR" => {
            "the PKCS#11 module failed: check its configuration (e.g. SOFTHSM2_CONF)"
        }
        _ => return None,
    })
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(message) => write!(f, "{message} (see --help)"),
            Error::Io { path, source } => write!(f, "'{path}': {}", io_reason(source)),
            Error::Pkcs11 {
                context,
                function,
                code,
            } => {
                if !context.is_empty() {
                    write!(f, "{context}: ")?;
                }
                write!(f, "{function}: {code}")?;
                if let Some(hint) = ckr_hint(code) {
                    write!(f, ": {hint}")?;
                }
                Ok(())
            }
            Error::ModuleLoad { tried } => {
                write!(f, "cannot load a PKCS#11 module; tried ")?;
                for (i, (path, reason)) in tried.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "'{path}' ({reason})")?;
                }
                write!(f, "; name one with -m PATH or PKCS11_PROVIDER")
            }
            Error::NotFound(message) | Error::Failed(message) => f.write_str(message),
            Error::Input {
                file,
                line: Some(line),
                message,
            } => write!(f, "{file}:{line}: {message}"),
            Error::Input {
                file,
                line: None,
                message,
            } => write!(f, "{file}: {message}"),
        }
    }
}

impl std::error::Error for Error {}

/// The OS reason of an I/O error without Rust's "(os error N)" suffix.
pub fn io_reason(error: &io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_lowercase(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cryptoki::error::RvError;

    #[test]
    fn ckr_names_follow_the_standard_spelling() {
        assert_eq!(ckr_name(&RvError::PinIncorrect), "CKR_PIN_INCORRECT");
        assert_eq!(
            ckr_name(&RvError::SessionHandleInvalid),
            "CKR_SESSION_HANDLE_INVALID"
        );
        assert_eq!(ckr_name(&RvError::SlotIdInvalid), "CKR_SLOT_ID_INVALID");
        assert_eq!(ckr_name(&RvError::RandomNoRng), "CKR_RANDOM_NO_RNG");
        assert_eq!(
            ckr_name(&RvError::VendorDefined(0x8000_0042)),
            "CKR_VENDOR_DEFINED+0x42"
        );
    }

    #[test]
    fn pkcs11_errors_name_function_code_and_hint() {
        let error = Error::Pkcs11 {
            context: String::new(),
            function: "C_Login".into(),
            code: "CKR_PIN_INCORRECT".into(),
        };
        let text = error.to_string();
        assert!(text.starts_with("C_Login: CKR_PIN_INCORRECT: the PIN is wrong"));
        assert_eq!(error.exit_code(), EXIT_FAILURE);
    }

    #[test]
    fn exit_codes_match_the_documented_table() {
        assert_eq!(Error::usage("x").exit_code(), 2);
        assert_eq!(Error::NotFound("x".into()).exit_code(), 3);
        assert_eq!(Error::Failed("x".into()).exit_code(), 1);
    }
}
