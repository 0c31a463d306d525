//! Audit lines in syslog for what changes a token: key generation and
//! destruction (the HSM guide's security section). Each line says who,
//! when, which token, which key (label, ID, algorithm) and the outcome; it
//! never holds a PIN (no caller has one to give).
//!
//! Lines go to the local syslog socket (`/dev/log`, facility authpriv,
//! severity notice, RFC 3164 form). Where there is no syslog (a container),
//! nothing is logged and the operation goes on: the token's own audit log
//! remains the authority.

use std::os::unix::net::UnixDatagram;

/// Facility authpriv (10), severity notice (5).
const PRIORITY: u32 = 10 * 8 + 5;

/// One audit record: an event and its fields.
pub struct AuditRecord<'a> {
    pub tool: &'a str,
    pub event: &'a str,
    pub fields: Vec<(&'a str, String)>,
    pub outcome: String,
}

/// Who runs the tool: the login name (the one behind sudo, if any) and uid.
fn who() -> (String, String) {
    let name = ["SUDO_USER", "LOGNAME", "USER"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "?".into());
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|rest| rest.split_whitespace().next().map(str::to_string))
        })
        .unwrap_or_else(|| "?".into());
    (name, uid)
}

/// The message text (without the syslog header).
pub fn message(record: &AuditRecord<'_>) -> String {
    let (user, uid) = who();
    let mut text = format!("{} user={user} uid={uid}", record.event);
    for (name, value) in &record.fields {
        text.push_str(&format!(" {name}={}", quote(value)));
    }
    text.push_str(&format!(" outcome={}", quote(&record.outcome)));
    text
}

/// Values with spaces or quotes are quoted, so that the line parses.
fn quote(value: &str) -> String {
    if !value.is_empty() && value.chars().all(|c| c.is_ascii_graphic() && c != '"') {
        value.to_string()
    } else {
        format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// Sends the record to syslog. `P11DNSSEC_SYSLOG_SOCKET` names another
/// socket than `/dev/log` (the tests listen on one of their own).
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
    if let Ok(socket) = UnixDatagram::unbound() {
        let _ = socket.send_to(line.as_bytes(), &path);
    }
}
