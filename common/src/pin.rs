//! The user PIN: where it comes from, and how it is kept.
//!
//! A PIN lives only in a [`Pin`] (cryptoki's zeroizing secret type). It has
//! no `Display`, its `Debug` prints nothing of the value, and no error
//! message is ever built from it.
//!
//! Sources, in the order the tools consult them: `-p PIN` or `--pin-file
//! FILE` on the command line; `pin-value=` or `pin-source=` in a PKCS#11 URI;
//! the environment variable `PKCS11_PIN`; a no-echo prompt `Enter Pin: ` on
//! the controlling terminal. With none of these (a cron job) the tool stops
//! with an error instead of waiting for input.

use crate::error::{Error, Result};
use cryptoki::types::RawAuthPin;
use secrecy::ExposeSecret;
use std::path::{Path, PathBuf};

/// Keeps the PIN out of core files and out of other processes' reach.
/// Non-dumpable: the kernel writes no core (with the default
/// `fs.suid_dumpable=0`), and `/proc/PID/mem` and `/proc/PID/environ`
/// (where `PKCS11_PIN` lives) and ptrace are closed to other processes of
/// the same user. A core size limit of 0 covers `fs.suid_dumpable=2`,
/// where such cores still go to root-only files or to a pipe handler that,
/// like systemd-coredump, honours the limit. Every tool calls this first,
/// through [`crate::cli::main_with`], before the environment or any PIN
/// source is read. Returns what could not be done, for a warning: the
/// tool goes on, as it did before this existed.
pub fn protect_process() -> Vec<String> {
    use rustix::process::{set_dumpable_behavior, setrlimit, DumpableBehavior, Resource, Rlimit};
    let mut failed = Vec::new();
    if let Err(error) = set_dumpable_behavior(DumpableBehavior::NotDumpable) {
        failed.push(format!("cannot make the process non-dumpable: {error}"));
    }
    let no_core = Rlimit {
        current: Some(0),
        maximum: Some(0),
    };
    if let Err(error) = setrlimit(Resource::Core, no_core) {
        failed.push(format!("cannot set the core size limit to 0: {error}"));
    }
    failed
}

/// Longest PIN file we read; a larger file is surely not a PIN file.
const MAX_PIN_FILE_BYTES: u64 = 4096;

/// A PIN, zeroized when dropped and never printed.
pub struct Pin(RawAuthPin);

impl Pin {
    /// Wraps PIN bytes.
    pub fn new(bytes: Vec<u8>) -> Pin {
        Pin(RawAuthPin::new(Box::new(bytes)))
    }

    /// The secret as cryptoki wants it for `C_Login`.
    pub fn as_auth(&self) -> &RawAuthPin {
        &self.0
    }

    /// True if the PIN contains `needle` (for tests that check PIN hygiene).
    pub fn bytes_equal(&self, other: &[u8]) -> bool {
        self.0.expose_secret().as_slice() == other
    }
}

impl Clone for Pin {
    fn clone(&self) -> Pin {
        Pin::new(self.0.expose_secret().clone())
    }
}

impl PartialEq for Pin {
    fn eq(&self, other: &Pin) -> bool {
        self.0.expose_secret() == other.0.expose_secret()
    }
}

impl Eq for Pin {}

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pin(…)")
    }
}

/// Where the PIN for a login comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PinSource {
    /// Given directly: `-p PIN` or a URI's `pin-value`.
    Value(Pin),
    /// A file holding the PIN: `--pin-file` or a URI's `pin-source`.
    File(PathBuf),
    /// The environment variable `PKCS11_PIN`.
    Environment(Pin),
    /// Ask on the terminal; an error when there is none.
    Prompt,
}

impl PinSource {
    /// The PIN from this source. May read a file or prompt on the terminal.
    pub fn obtain(&self) -> Result<Pin> {
        match self {
            PinSource::Value(pin) | PinSource::Environment(pin) => Ok(pin.clone()),
            PinSource::File(path) => read_pin_file(path),
            PinSource::Prompt => prompt(),
        }
    }

    /// The PIN source named by a URI's `pin-source` (a path or `file:` URI).
    /// Errors do not quote the value: nothing after a URI's `?` goes into a
    /// message (a PIN pasted there by mistake would show).
    pub fn from_uri_pin_source(value: &str) -> Result<PinSource> {
        let path = match value.strip_prefix("file:") {
            // file:///etc/pin and file:/etc/pin both name /etc/pin.
            Some(rest) => match rest.strip_prefix("//") {
                Some(authority_and_path) => match authority_and_path.find('/') {
                    Some(at) if at == 0 || &authority_and_path[..at] == "localhost" => {
                        &authority_and_path[at..]
                    }
                    _ => {
                        return Err(Error::usage(
                            "pin-source: only local file: URIs are supported",
                        ))
                    }
                },
                None => rest,
            },
            None => value,
        };
        if path.starts_with('|') {
            return Err(Error::usage(
                "pin-source: running a command for the PIN is not supported",
            ));
        }
        Ok(PinSource::File(PathBuf::from(path)))
    }
}

/// Reads a PIN file: the whole content, less one trailing newline (BIND
/// 9.16 kept it, and logins with `echo 1234 > pin` files failed).
pub fn read_pin_file(path: &Path) -> Result<Pin> {
    let shown = path.display().to_string();
    let metadata = std::fs::metadata(path).map_err(|e| Error::io(&shown, e))?;
    if !metadata.is_file() {
        return Err(Error::Failed(format!(
            "PIN file '{shown}' is not a regular file"
        )));
    }
    if metadata.len() > MAX_PIN_FILE_BYTES {
        return Err(Error::Failed(format!(
            "PIN file '{shown}' is larger than {MAX_PIN_FILE_BYTES} bytes: not a PIN file"
        )));
    }
    warn_if_readable_by_others(path, &metadata);
    let mut bytes = std::fs::read(path).map_err(|e| Error::io(&shown, e))?;
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    Ok(Pin::new(bytes))
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path, metadata: &std::fs::Metadata) {
    use std::os::unix::fs::PermissionsExt;
    if metadata.permissions().mode() & 0o044 != 0 {
        crate::cli::warn(&format!(
            "PIN file '{}' is readable by group or others (chmod 600 it)",
            path.display()
        ));
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path, _metadata: &std::fs::Metadata) {}

/// Prompts `Enter Pin: ` on the controlling terminal without echo.
fn prompt() -> Result<Pin> {
    use std::io::IsTerminal;
    let no_pin = || {
        Error::Failed(format!(
            "no PIN given and no terminal to ask on: use --pin-file FILE, \
             PKCS11_PIN, pin-source= in a PKCS#11 URI, or {} PIN",
            crate::cli::pin_option()
        ))
    };
    // Without a terminal on stdin or stderr this is a script or cron job:
    // fail at once rather than wait for input that will never come.
    if !std::io::stdin().is_terminal() && !std::io::stderr().is_terminal() {
        return Err(no_pin());
    }
    let text = rpassword::prompt_password("Enter Pin: ").map_err(|_| no_pin())?;
    Ok(Pin::new(text.into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_pin() {
        let pin = Pin::new(b"123456".to_vec());
        assert_eq!(format!("{pin:?}"), "Pin(…)");
        let source = PinSource::Value(pin);
        assert!(!format!("{source:?}").contains("123456"));
    }

    #[test]
    fn pin_files_lose_one_trailing_newline() {
        let dir = std::env::temp_dir().join(format!("p11dnssec-pin-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        for (content, expected) in [
            (&b"1234\n"[..], &b"1234"[..]),
            (b"1234\r\n", b"1234"),
            (b"1234", b"1234"),
            (b"1234\n\n", b"1234\n"),
            (b"", b""),
        ] {
            let path = dir.join("pin");
            std::fs::write(&path, content).expect("write");
            let pin = read_pin_file(&path).expect("read");
            assert!(pin.bytes_equal(expected), "{content:?}");
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn uri_pin_sources_are_files() {
        for (value, path) in [
            ("/etc/pin", "/etc/pin"),
            ("file:/etc/pin", "/etc/pin"),
            ("file:///etc/pin", "/etc/pin"),
            ("file://localhost/etc/pin", "/etc/pin"),
        ] {
            assert_eq!(
                PinSource::from_uri_pin_source(value).expect(value),
                PinSource::File(PathBuf::from(path))
            );
        }
        for value in ["file://host/etc/pin", "|/bin/getpin"] {
            let error = PinSource::from_uri_pin_source(value).expect_err(value);
            assert!(!error.to_string().contains(value), "{error}");
        }
    }
}
