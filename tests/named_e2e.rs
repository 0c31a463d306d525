//! End to end: a zone signed with token keys is served by a real `named`
//! on 127.0.0.1 and `delv` validates answers from it, with a trust anchor
//! made from ds-from-key's output.

use crate::hsm::{data_dir, run_plain, Hsm, PIN};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `named` process, stopped when dropped.
struct Named(Child);

impl Drop for Named {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.local_addr().expect("addr").port()
}

#[test]
fn named_serves_the_signed_zone_and_delv_validates_it() {
    let hsm = Hsm::new();
    let dir = hsm.dir().to_path_buf();
    let keys = dir.join("keys");
    std::fs::create_dir(&keys).expect("keys");
    let keys_text = keys.to_str().expect("path");
    hsm.run_ok("pkcs11-keygen", &["-a", "ECDSAP256SHA256", "-l", "ksk"]);
    hsm.run_ok("pkcs11-keygen", &["-a", "ECDSAP256SHA256", "-l", "zsk"]);
    hsm.run_ok(
        "dnskey-from-label",
        &["-l", "ksk", "-f", "KSK", "-K", keys_text, "example.com"],
    );
    hsm.run_ok(
        "dnskey-from-label",
        &["-l", "zsk", "-K", keys_text, "example.com"],
    );
    std::fs::copy(
        data_dir().join("zones/example.com.zone"),
        dir.join("example.com.zone"),
    )
    .expect("zone");
    let output = hsm
        .tool("zone-sign")
        .current_dir(&dir)
        .args([
            "-S",
            "-K",
            keys_text,
            "-o",
            "example.com",
            "-3",
            "-",
            "--pin",
            PIN,
            "example.com.zone",
        ])
        .output()
        .expect("zone-sign");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // The trust anchor: the KSK's DS, from our pipeline.
    let dnskey = hsm.run_ok(
        "dnskey-from-label",
        &["-l", "ksk", "-f", "KSK", "example.com"],
    );
    let ds = run_plain("ds-from-key", &[], Some(dnskey.as_bytes()));
    let ds = String::from_utf8(ds.stdout).expect("utf8");
    let fields: Vec<&str> = ds.split_whitespace().collect();
    assert_eq!(fields[2], "DS", "{ds}");
    let anchors = dir.join("anchors.conf");
    std::fs::write(
        &anchors,
        format!(
            "trust-anchors {{ example.com. static-ds {} {} {} \"{}\"; }};\n",
            fields[3], fields[4], fields[5], fields[6]
        ),
    )
    .expect("anchors");

    let port = free_port();
    let conf = dir.join("named.conf");
    std::fs::write(
        &conf,
        format!(
            "options {{ directory \"{dir}\"; listen-on port {port} {{ 127.0.0.1; }}; listen-on-v6 {{ none; }};\n\
             pid-file \"{dir}/named.pid\"; recursion no; dnssec-validation no; notify no; check-names primary ignore; }};\n\
             controls {{ }};\n\
             zone \"example.com\" {{ type primary; file \"example.com.zone.signed\"; }};\n",
            dir = dir.display()
        ),
    )
    .expect("conf");
    let named = Command::new("named")
        .args(["-g", "-c"])
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("named must be installed (scripts/test installs bind9)");
    let mut named = Named(named);

    let delv = |name: &str, rtype: &str| {
        Command::new("delv")
            .args(["-a"])
            .arg(&anchors)
            .args([
                "+root=example.com",
                "-p",
                &port.to_string(),
                "@127.0.0.1",
                name,
                rtype,
            ])
            .output()
            .expect("delv must be installed (scripts/test installs bind9-dnsutils)")
    };
    // Wait for named to load the zone (bounded).
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < Duration::from_secs(20) {
        if let Ok(Some(status)) = named.0.try_wait() {
            let mut log = String::new();
            use std::io::Read;
            if let Some(mut stderr) = named.0.stderr.take() {
                let _ = stderr.read_to_string(&mut log);
            }
            panic!("named exited with {status}: {log}");
        }
        let output = delv("www.example.com", "A");
        last = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        if last.contains("fully validated") {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(last.contains("; fully validated"), "{last}");
    assert!(last.contains("192.0.2.3"), "{last}");
    // Denial of existence validates too (NSEC3), and a wildcard answer.
    let output = delv("nope.example.com", "A");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(
        text.contains("fully validated") && text.contains("NXDOMAIN"),
        "{text}"
    );
    let output = delv("anything.wild.example.com", "TXT");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        text.contains("fully validated") && text.contains("wildcard"),
        "{text}"
    );
}
