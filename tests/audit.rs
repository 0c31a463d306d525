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
