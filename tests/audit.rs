//! Key generation and destruction leave an audit line in syslog: who,
//! which token, which key, the outcome, and never the PIN.

use crate::hsm::{Hsm, PIN};
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

fn received(socket: &UnixDatagram) -> Vec<String> {
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let mut lines = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(n) = socket.recv(&mut buffer) {
        lines.push(String::from_utf8_lossy(&buffer[..n]).into_owned());
    }
    lines
}

#[test]
fn keygen_and_destroy_are_audited_without_the_pin() {
    let hsm = Hsm::new();
    let path = hsm.dir().join("syslog.sock");
    let socket = UnixDatagram::bind(&path).expect("bind");
    let run = |tool: &str, args: &[&str]| {
        hsm.tool(tool)
            .env("P11DNSSEC_SYSLOG_SOCKET", &path)
            .args(args)
            .args(["-p", PIN])
            .output()
            .expect("run")
    };
    assert!(run(
        "pkcs11-keygen",
        &["-a", "ECDSAP256SHA256", "-l", "audited", "--id", "0a0b"]
    )
    .status
    .success());
    assert!(!run("pkcs11-keygen", &["-a", "ECC", "-l", "audited"])
        .status
        .success());
    assert!(run("pkcs11-destroy", &["-l", "audited", "-w", "0"])
        .status
        .success());
    let lines = received(&socket);
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert!(
        lines[0].starts_with("<85>"),
        "authpriv.notice: {}",
        lines[0]
    );
    assert!(lines[0].contains(" pkcs11-keygen["), "{}", lines[0]);
    for field in [
        "generate user=",
        " token=test ",
        " label=audited ",
        " id=0a0b ",
        " key=P-256 ",
        "protection=sensitive,never-extractable",
        " outcome=success",
    ] {
        assert!(lines[0].contains(field), "{field}: {}", lines[0]);
    }
    assert!(
        lines[1].contains("outcome=\"failure: Key already exists.\""),
        "{}",
        lines[1]
    );
    for line in &lines[2..] {
        assert!(
            line.contains(" pkcs11-destroy[")
                && line.contains("destroy user=")
                && line.contains(" label=audited ")
                && line.ends_with("outcome=success"),
            "{line}"
        );
    }
    assert!(
        lines.iter().any(|l| l.contains(" class=private "))
            && lines.iter().any(|l| l.contains(" class=public "))
    );
    for line in &lines {
        assert!(!line.contains(PIN), "PIN in the audit log: {line}");
    }
}

/// The name of this process's uid in /etc/passwd (what the tools must log).
fn own_user_name() -> (String, u32) {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").expect("proc").uid();
    let passwd = std::fs::read_to_string("/etc/passwd").expect("passwd");
    let name = passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.get(2) == Some(&uid.to_string().as_str())).then(|| fields[0].to_string())
        })
        .expect("own uid in /etc/passwd");
    (name, uid)
}

#[test]
fn wrong_pins_are_audited_with_the_real_user_and_escaped_labels() {
    let hsm = Hsm::new();
    let path = hsm.dir().join("syslog.sock");
    let socket = UnixDatagram::bind(&path).expect("bind");
    let run = |tool: &str, args: &[&str], pin: &str| {
        hsm.tool(tool)
            .env("P11DNSSEC_SYSLOG_SOCKET", &path)
            // What an unprivileged caller can claim: it must not be the user.
            .env("SUDO_USER", "mallory")
            .env("LOGNAME", "mallory")
            .env("USER", "mallory")
            .args(args)
            .args(["-p", pin])
            .output()
            .expect("run")
    };
    let wrong = "wrong-pin-4711";
    let evil = "evil\nJan  1 00:00:00 host pkcs11-keygen[1]: generate user=root\u{1b}[2K";
    let output = run("pkcs11-keygen", &["-a", "ECC", "-l", evil], wrong);
    assert_eq!(output.status.code(), Some(1));
    let output = run("pkcs11-destroy", &["-l", "some-key", "-w", "0"], wrong);
    assert_eq!(output.status.code(), Some(1));
    let output = run("pkcs11-keygen", &["-a", "ECC", "-l", evil], PIN);
    assert!(output.status.success(), "{output:?}");
    let lines = received(&socket);
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let (name, uid) = own_user_name();
    for line in &lines {
        assert!(
            line.contains(&format!(" user={name} uid={uid} ")),
            "the user from the uid: {line}"
        );
        assert!(line.contains(" sudo_user_claimed=mallory "), "{line}");
        assert!(!line.contains("user=mallory"), "{line}");
        assert!(!line.contains(wrong), "PIN in the audit log: {line}");
        assert!(
            line.bytes().all(|b| (0x20..0x7f).contains(&b)),
            "control characters in the audit line: {line:?}"
        );
    }
    let escaped =
        "label=\"evil\\x0aJan  1 00:00:00 host pkcs11-keygen[1]: generate user=root\\x1b[2K\"";
    assert!(
        lines[0].contains(" pkcs11-keygen[")
            && lines[0].contains(": login user=")
            && lines[0].contains(" token=test ")
            && lines[0].contains(escaped)
            && lines[0].contains("CKR_PIN_INCORRECT"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains(" pkcs11-destroy[")
            && lines[1].contains(": login user=")
            && lines[1].contains(" selection=\"label 'some-key'\" ")
            && lines[1].contains("CKR_PIN_INCORRECT"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].contains(": generate user=")
            && lines[2].contains(escaped)
            && lines[2].ends_with(" outcome=success"),
        "{}",
        lines[2]
    );
}

#[test]
fn an_audit_line_that_cannot_be_delivered_is_said_once_on_stderr() {
    let hsm = Hsm::new();
    let nowhere = hsm.dir().join("no-syslog-here");
    let run = |tool: &str, args: &[&str]| {
        hsm.tool(tool)
            .env("P11DNSSEC_SYSLOG_SOCKET", &nowhere)
            .args(args)
            .args(["-p", PIN])
            .output()
            .expect("run")
    };
    let output = run("pkcs11-keygen", &["-a", "ECC", "-q", "-l", "k"]);
    assert!(output.status.success(), "{output:?}");
    let warning = format!(
        "pkcs11-keygen: warning: audit line not logged: cannot send to syslog socket '{}': ",
        nowhere.display()
    );
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        stderr.starts_with(&warning) && stderr.lines().count() == 1,
        "{stderr}"
    );
    // Two objects destroyed, two lines lost: one warning.
    let output = run("pkcs11-destroy", &["-l", "k", "-w", "0"]);
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("audit line not logged"), "{stderr}");
}
