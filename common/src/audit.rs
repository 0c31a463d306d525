//! Audit lines in syslog for what changes a token: key generation and
//! destruction, and the logins that tried to (the HSM guide's security
//! section). Each line says who, when, which token, which key (label, ID,
//! algorithm) and the outcome; it never holds a PIN (no caller has one to
//! give).
//!
//! Who is the real uid and its name in `/etc/passwd`, never the
//! environment: `SUDO_USER`, `LOGNAME` and `USER` are whatever the caller
//! set. Where `SUDO_USER` is set it is added as `sudo_user_claimed=`, for
//! the operator's information only.
//!
//! Every value is escaped so that a line is one line of printable ASCII
//! that parses: a backslash, a double quote and every byte outside
//! printable ASCII (control characters, and UTF-8 beyond ASCII) become
//! `\\`, `\"` and `\xNN`; a value that is empty or holds a space or a
//! quote is put in double quotes.
//!
//! Lines go to the local syslog socket (`/dev/log`, facility authpriv,
//! severity notice, RFC 3164 form). Where there is no syslog (a container),
//! the operation goes on with one warning on stderr: the token's own audit
//! log remains the authority.

use crate::pkcs11::{Access, ConnectionSpec, SlotSummary, Token};
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, Ordering};

/// Facility authpriv (10), severity notice (5).
const PRIORITY: u32 = 10 * 8 + 5;

/// Set once the "cannot deliver" warning was printed: one per process.
static WARNED: AtomicBool = AtomicBool::new(false);

/// One audit record: an event and its fields.
pub struct AuditRecord<'a> {
    pub tool: &'a str,
    pub event: &'a str,
    pub fields: Vec<(&'a str, String)>,
    pub outcome: String,
}

/// The token fields of a record: `token`, `serial`, `slot`.
pub fn token_fields(slot: &SlotSummary) -> Vec<(&'static str, String)> {
    let (label, serial) = slot
        .token
        .as_ref()
        .map(|t| (t.label().to_string(), t.serial_number().to_string()))
        .unwrap_or_default();
    vec![
        ("token", label),
        ("serial", serial),
        ("slot", slot.id.to_string()),
    ]
}

/// Opens the token as [`Token::open`] does and audits a failure once the
/// token is known (a wrong or locked PIN, a session refused): the line has
/// the event `login`, the token fields, `fields` (what the tool was about
/// to do) and the error as the outcome.
pub fn open_token_audited(
    tool: &str,
    spec: &ConnectionSpec,
    access: Access,
    fields: Vec<(&str, String)>,
) -> crate::error::Result<Token> {
    let mut known = None;
    let result = Token::open(spec, access, |slot| {
        known = Some(token_fields(slot));
        Ok(())
    });
    if let (Err(error), Some(mut all)) = (&result, known) {
        all.extend(fields);
        log(&AuditRecord {
            tool,
            event: "login",
            fields: all,
            outcome: format!("failure: {error}"),
        });
    }
    result
}

/// The real uid of the process and its name from `/etc/passwd` (`?` if
/// it has none there).
fn who() -> (String, u32) {
    let uid = rustix::process::getuid().as_raw();
    let name = std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| user_name(&passwd, uid))
        .unwrap_or_else(|| "?".into());
    (name, uid)
}

/// The name of `uid` in a passwd file (`name:x:uid:gid:…`).
fn user_name(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut parts = line.split(':');
        let name = parts.next()?;
        let entry_uid = parts.nth(1)?.parse::<u32>().ok()?;
        (entry_uid == uid && !name.is_empty()).then(|| name.to_string())
    })
}

/// The message text (without the syslog header).
pub fn message(record: &AuditRecord<'_>) -> String {
    let (user, uid) = who();
    let mut text = format!("{} user={} uid={uid}", quote(record.event), quote(&user));
    if let Some(claimed) = std::env::var_os("SUDO_USER").filter(|s| !s.is_empty()) {
        text.push_str(&format!(
            " sudo_user_claimed={}",
            quote(&claimed.to_string_lossy())
        ));
    }
    for (name, value) in &record.fields {
        text.push_str(&format!(" {name}={}", quote(value)));
    }
    text.push_str(&format!(" outcome={}", quote(&record.outcome)));
    text
}

/// Bytes as one line of printable ASCII (see the module documentation):
/// `\\`, `\"` and `\xNN` for every byte outside printable ASCII, so
/// that a label from a token or a file cannot move the cursor, clear the
/// screen or start a line of its own on a terminal or in a log. Shared by
/// the audit lines and the messages of pkcs11-backup and pkcs11-restore.
pub fn escape(value: &[u8]) -> String {
    let mut escaped = String::with_capacity(value.len());
    for &byte in value {
        match byte {
            b'\\' => escaped.push_str("\\\\"),
            b'"' => escaped.push_str("\\\""),
            b' '..=b'~' => escaped.push(char::from(byte)),
            _ => escaped.push_str(&format!("\\x{byte:02x}")),
        }
    }
    escaped
}

/// Escapes a value (see the module documentation) and quotes it if needed.
fn quote(value: &str) -> String {
    let escaped = escape(value.as_bytes());
    if escaped.is_empty() || escaped.contains([' ', '"']) {
        format!("\"{escaped}\"")
    } else {
        escaped
    }
}

/// Sends the record to syslog. `P11DNSSEC_SYSLOG_SOCKET` names another
/// socket than `/dev/log` (the tests listen on one of their own). A line
/// that cannot be delivered gets one warning on stderr per process; the
/// operation goes on.
pub fn log(record: &AuditRecord<'_>) {
    let path = std::env::var("P11DNSSEC_SYSLOG_SOCKET").unwrap_or_else(|_| "/dev/log".into());
    let timestamp = jiff::tz::TimeZone::system()
        .to_datetime(jiff::Timestamp::now())
        .strftime("%b %e %H:%M:%S")
        .to_string();
    let line = format!(
        "<{PRIORITY}>{timestamp} {}[{}]: {}",
        record.tool,
        std::process::id(),
        message(record)
    );
    // A syslog daemon that stopped reading fills the socket's queue:
    // wait a little, not for ever (a cron run must end).
    let sent = UnixDatagram::unbound().and_then(|socket| {
        socket.set_write_timeout(Some(std::time::Duration::from_secs(2)))?;
        socket.send_to(line.as_bytes(), &path)
    });
    if let Err(error) = sent {
        if !WARNED.swap(true, Ordering::SeqCst) {
            crate::cli::warn(&format!(
                "audit line not logged: cannot send to syslog socket '{path}': {error}"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_to_one_line_of_printable_ascii() {
        assert_eq!(quote("audited"), "audited");
        assert_eq!(quote(""), "\"\"");
        assert_eq!(quote("a b"), "\"a b\"");
        assert_eq!(quote("say \"hi\""), "\"say \\\"hi\\\"\"");
        assert_eq!(quote("back\\slash"), "back\\\\slash");
        assert_eq!(
            quote("evil\nuser=root\u{1b}[2K"),
            "evil\\x0auser=root\\x1b[2K"
        );
        assert_eq!(quote("zsk-\u{fc}"), "zsk-\\xc3\\xbc");
        assert_eq!(quote("\u{202e}"), "\\xe2\\x80\\xae");
    }

    #[test]
    fn user_names_come_from_the_passwd_file() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n\
                      bind:x:105:112::/var/cache/bind:/usr/sbin/nologin\n\
                      broken\n";
        assert_eq!(user_name(passwd, 0).as_deref(), Some("root"));
        assert_eq!(user_name(passwd, 105).as_deref(), Some("bind"));
        assert_eq!(user_name(passwd, 1000), None);
    }
}
