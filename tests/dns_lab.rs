//! A DNS tree for tests: `named` on 127.0.0.1 at a free port, serving a
//! root zone, a parent (`test.`) and a child (`child.test.`), each signed
//! by zone-sign with keys in a SoftHSM2 token; the parent's DS set can be
//! changed (re-signed, `rndc reload`), the child reloaded, and `delv`
//! asked from the root's trust anchor whether a name fully validates.
//!
//! Also the plain parts other tests use on their own: [`Named`] and
//! [`start_named`] (a named process on a free port, retried when another
//! test run takes the port first).

use crate::hsm::{Hsm, PIN};
use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `named` process, stopped when dropped.
pub struct Named(pub Child);

impl Drop for Named {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port that was free on 127.0.0.1 a moment ago (UDP and TCP).
pub fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = udp.local_addr().expect("addr").port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A running `named`: the process, its DNS port and its control port.
pub struct Running {
    /// Held for its `Drop`, which stops named.
    #[allow(dead_code)]
    pub named: Named,
    pub port: u16,
    /// The rndc port (with the key file `rndc.key` in the directory), if
    /// asked for.
    pub control: Option<u16>,
}

/// The rndc key every lab named accepts (a test secret).
const RNDC_KEY: &str =
    "key \"lab\" { algorithm hmac-sha256; secret \"cDExZG5zc2VjLWxhYi10ZXN0LXNlY3JldC0zMmJ5dGVzIQ==\"; };\n";

/// Starts `named` in `dir` serving `zones` (origin, file) as primary on
/// 127.0.0.1 at a free port, with an rndc control channel if `control`,
/// and waits (bounded) until `ready(port)`: another test run on this
/// machine can take a port found free before named binds it, so three
/// ports are tried.
pub fn start_named(
    dir: &Path,
    zones: &[(&str, &Path)],
    control: bool,
    ready: impl Fn(u16) -> bool,
) -> Running {
    std::fs::write(dir.join("rndc.key"), RNDC_KEY).expect("rndc.key");
    for attempt in 0..3 {
        let port = free_port();
        let control_port = control.then(free_port);
        let controls = match control_port {
            Some(c) => format!(
                "include \"{}/rndc.key\";\ncontrols {{ inet 127.0.0.1 port {c} allow {{ 127.0.0.1; }} keys {{ \"lab\"; }}; }};\n",
                dir.display()
            ),
            None => "controls { };\n".to_string(),
        };
        let zone_lines: String = zones
            .iter()
            .map(|(origin, file)| {
                format!(
                    "zone \"{origin}\" {{ type primary; file \"{}\"; }};\n",
                    file.display()
                )
            })
            .collect();
        let conf = dir.join(format!("named{attempt}.conf"));
        std::fs::write(
            &conf,
            format!(
                "options {{ directory \"{dir}\"; listen-on port {port} {{ 127.0.0.1; }}; listen-on-v6 {{ none; }};\n\
                 pid-file \"{dir}/named{attempt}.pid\"; recursion no; dnssec-validation no; notify no; check-names primary ignore; }};\n\
                 {controls}{zone_lines}",
                dir = dir.display(),
            ),
        )
        .expect("named.conf");
        let mut named = Named(
            Command::new("named")
                .args(["-g", "-c"])
                .arg(&conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("named must be installed (scripts/test installs bind9)"),
        );
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = named.0.try_wait() {
                break;
            }
            if ready(port) {
                return Running {
                    named,
                    port,
                    control: control_port,
                };
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    panic!("named did not serve the zones on any of three ports");
}

/// `dig +short` at 127.0.0.1#`port`, RD clear, one try of one second;
/// the words of its answer joined by spaces.
pub fn dig_short(port: u16, name: &str, rtype: &str) -> String {
    let output = Command::new("dig")
        .args(["+short", "+norec", "+time=1", "+tries=1", "-p"])
        .arg(port.to_string())
        .args(["@127.0.0.1", name, rtype])
        .output()
        .expect("dig must be installed (bind9-dnsutils)");
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The zones of the lab, top down.
pub const ROOT: &str = ".";
pub const PARENT: &str = "test.";
pub const CHILD: &str = "child.test.";

/// The tree of zones served by one named.
pub struct DnsLab {
    pub hsm: Hsm,
    /// Where the zones, key directories and named live.
    pub dir: PathBuf,
    pin_file: PathBuf,
    /// Whether the parent (`test.`) is signed; the root and child always are.
    pub parent_signed: bool,
    serial: Cell<u32>,
    parent_ds: RefCell<Vec<String>>,
    running: Option<Running>,
    /// `P11DNSSEC_NOW` for zone-sign, when the test moves time.
    pub now: Cell<Option<i64>>,
    /// Signature expiration (`-e`, unix seconds) for zone-sign, when a
    /// test moves time into the past and still wants the signatures valid
    /// at the real now, when delv judges them.
    pub expire: Cell<Option<i64>>,
}

impl DnsLab {
    /// Keys (an ECDSA P-256 KSK and ZSK per signed zone, made in the
    /// token; the child's KSK publishes its CDS), the three zones signed,
    /// named started; the parent holds no DS for the child yet.
    pub fn new(parent_signed: bool) -> DnsLab {
        DnsLab::with_child_keys(parent_signed, |lab| {
            lab.make_key(CHILD, true);
            lab.make_key(CHILD, false);
        })
    }

    /// As [`DnsLab::new`], with the child's key directory filled by
    /// `child_keys` (e.g. by key-manager) before the child is first
    /// signed with zone-sign -S.
    pub fn with_child_keys(parent_signed: bool, child_keys: impl FnOnce(&DnsLab)) -> DnsLab {
        let hsm = Hsm::new();
        let pin_file = hsm.private_file("pin", PIN.as_bytes());
        let dir = hsm.dir().join("dns");
        std::fs::create_dir(&dir).expect("lab dir");
        let mut lab = DnsLab {
            hsm,
            dir,
            pin_file,
            parent_signed,
            serial: Cell::new(1),
            parent_ds: RefCell::new(Vec::new()),
            running: None,
            now: Cell::new(None),
            expire: Cell::new(None),
        };
        for zone in [ROOT, PARENT] {
            if zone != PARENT || parent_signed {
                lab.make_key(zone, true);
                lab.make_key(zone, false);
            }
        }
        std::fs::create_dir_all(lab.keys_dir(CHILD)).expect("keys dir");
        child_keys(&lab);
        std::fs::write(
            lab.zone_file(CHILD),
            "$TTL 300\n\
             child.test. IN SOA ns.child.test. hostmaster.child.test. 1 300 300 86400 300\n\
             child.test. IN NS ns.child.test.\n\
             ns.child.test. IN A 127.0.0.1\n\
             www.child.test. IN A 192.0.2.80\n",
        )
        .expect("child zone");
        lab.sign(CHILD);
        lab.write_parent();
        lab.write_root();
        let zones: Vec<(&str, PathBuf)> = [ROOT, PARENT, CHILD]
            .iter()
            .map(|zone| (*zone, lab.served_file(zone)))
            .collect();
        let zones: Vec<(&str, &Path)> = zones.iter().map(|(z, p)| (*z, p.as_path())).collect();
        let serial = lab.serial_of(PARENT);
        lab.running = Some(start_named(&lab.dir, &zones, true, |port| {
            dig_short(port, PARENT, "SOA").contains(&format!(" {serial} "))
                && dig_short(port, "www.child.test.", "A") == "192.0.2.80"
        }));
        lab
    }

    /// The file holding the token's user PIN.
    pub fn pin_file(&self) -> &Path {
        &self.pin_file
    }

    /// The arguments that point `rndc` at the lab's named (key file,
    /// server, control port).
    pub fn rndc_args(&self) -> Vec<String> {
        let running = self.running.as_ref().expect("named runs");
        let control = running.control.expect("rndc control port");
        vec![
            "-k".into(),
            self.dir.join("rndc.key").display().to_string(),
            "-s".into(),
            "127.0.0.1".into(),
            "-p".into(),
            control.to_string(),
        ]
    }

    /// The DNS port of the lab's named.
    pub fn port(&self) -> u16 {
        self.running.as_ref().expect("named runs").port
    }

    /// The lab's named as a socket address.
    pub fn server(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port()))
    }

    /// The key directory of a zone (`K<zone>+…` files).
    pub fn keys_dir(&self, zone: &str) -> PathBuf {
        self.dir.join(format!("keys-{}", file_stem(zone)))
    }

    /// The unsigned zone file of a zone.
    pub fn zone_file(&self, zone: &str) -> PathBuf {
        self.dir.join(format!("{}.zone", file_stem(zone)))
    }

    /// The signed zone file (what named serves, but for an unsigned parent).
    pub fn signed_file(&self, zone: &str) -> PathBuf {
        self.dir.join(format!("{}.signed", file_stem(zone)))
    }

    fn served_file(&self, zone: &str) -> PathBuf {
        if zone == PARENT && !self.parent_signed {
            self.zone_file(zone)
        } else {
            self.signed_file(zone)
        }
    }

    /// A new ECDSA P-256 key for `zone` in the token (label
    /// `<zone>-ksk`/`-zsk`) and its key files, published and active from
    /// 400 days ago (the child's KSK with its CDS from then too).
    pub fn make_key(&self, zone: &str, ksk: bool) {
        let label = format!("{}-{}", file_stem(zone), if ksk { "ksk" } else { "zsk" });
        self.hsm.run_ok(
            "pkcs11-keygen",
            &["-q", "-a", "ECDSAP256SHA256", "-l", &label],
        );
        let keys = self.keys_dir(zone);
        std::fs::create_dir_all(&keys).expect("keys dir");
        let keys_text = keys.to_str().expect("path").to_string();
        // Published and active long before any "now" a test moves to.
        let since = (common::time::now() - 400 * 86400).to_string();
        let mut args = vec!["-l", label.as_str(), "-L", "300", "-K", &keys_text];
        args.extend(["-P", &since, "-A", &since]);
        if ksk {
            args.extend(["-f", "KSK"]);
            if zone == CHILD {
                args.extend(["-P", "sync", &since]);
            }
        }
        args.push(zone);
        self.hsm.run_ok("dnskey-from-label", &args);
    }

    /// The zone's KSKs, from its key directory.
    pub fn ksks(&self, zone: &str) -> Vec<common::dnskey::DnsKey> {
        let mut keys = Vec::new();
        let Ok(entries) = std::fs::read_dir(self.keys_dir(zone)) else {
            return keys;
        };
        for entry in entries {
            let path = entry.expect("entry").path();
            if path.extension().and_then(|e| e.to_str()) != Some("key") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("key file");
            for line in text.lines().filter(|l| !l.starts_with(';')) {
                let words: Vec<&str> = line.split_whitespace().collect();
                let Some(at) = words.iter().position(|w| *w == "DNSKEY") else {
                    continue;
                };
                let key = common::dnskey::DnsKey::parse_rdata(&words[at + 1..]).expect("DNSKEY");
                if key.is_ksk() {
                    keys.push(key);
                }
            }
        }
        keys.sort();
        keys
    }

    /// The child's KSK (there is one unless a test makes more).
    pub fn child_ksk(&self) -> common::dnskey::DnsKey {
        self.ksks(CHILD)
            .into_iter()
            .next()
            .expect("the child's KSK")
    }

    /// The DS RDATA text (`tag alg type HEX`) of `key` as owned by `zone`.
    pub fn ds_of(
        zone: &str,
        key: &common::dnskey::DnsKey,
        digest: common::ds::DigestType,
    ) -> String {
        let owner = common::name::Name::parse(zone, None).expect("name");
        common::ds::ds_rdata_text(&owner, key, digest)
    }

    /// Signs `zone` with zone-sign -S from its key directory.
    pub fn sign(&self, zone: &str) {
        let mut command = self.hsm.tool("zone-sign");
        if let Some(now) = self.now.get() {
            command.env("P11DNSSEC_NOW", now.to_string());
        }
        if let Some(expire) = self.expire.get() {
            command.args(["-e", &common::time::format_timestamp(expire)]);
        }
        let output = command
            .current_dir(&self.dir)
            .args(["-S", "-K", self.keys_dir(zone).to_str().expect("path")])
            .args(["-o", zone, "-O", "full", "-n", "1"])
            .args(["--pin-file", self.pin_file.to_str().expect("path")])
            .args(["-f", self.signed_file(zone).to_str().expect("path")])
            .arg(self.zone_file(zone))
            .output()
            .expect("run zone-sign");
        assert!(
            output.status.success(),
            "signing {zone}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn next_serial(&self) -> u32 {
        let serial = self.serial.get() + 1;
        self.serial.set(serial);
        serial
    }

    /// The SOA serial in the file named serves for `zone`.
    pub fn serial_of(&self, zone: &str) -> u32 {
        let text = std::fs::read_to_string(self.served_file(zone)).expect("zone file");
        text.lines()
            .filter(|l| !l.starts_with(';') && !l.starts_with('$'))
            .find_map(|line| {
                let words: Vec<&str> = line.split_whitespace().collect();
                let at = words.iter().position(|w| *w == "SOA")?;
                words.get(at + 3)?.parse().ok()
            })
            .expect("an SOA serial")
    }

    /// Writes (and signs, when signed) the parent with the current DS set.
    fn write_parent(&self) {
        let serial = self.next_serial();
        let ds: String = self
            .parent_ds
            .borrow()
            .iter()
            .map(|ds| format!("child.test. IN DS {ds}\n"))
            .collect();
        std::fs::write(
            self.zone_file(PARENT),
            format!(
                "$TTL 300\n\
                 test. IN SOA ns.test. hostmaster.test. {serial} 300 300 86400 300\n\
                 test. IN NS ns.test.\n\
                 ns.test. IN A 127.0.0.1\n\
                 child.test. IN NS ns.child.test.\n\
                 ns.child.test. IN A 127.0.0.1\n\
                 {ds}"
            ),
        )
        .expect("parent zone");
        if self.parent_signed {
            self.sign(PARENT);
        }
    }

    fn write_root(&self) {
        let serial = self.next_serial();
        let ds: String = self
            .ksks(PARENT)
            .iter()
            .map(|key| {
                format!(
                    "test. IN DS {}\n",
                    Self::ds_of(PARENT, key, common::ds::DigestType::Sha256)
                )
            })
            .collect();
        std::fs::write(
            self.zone_file(ROOT),
            format!(
                "$TTL 300\n\
                 . IN SOA ns.test. hostmaster.test. {serial} 300 300 86400 300\n\
                 . IN NS ns.test.\n\
                 test. IN NS ns.test.\n\
                 ns.test. IN A 127.0.0.1\n\
                 {ds}"
            ),
        )
        .expect("root zone");
        self.sign(ROOT);
    }

    /// The CDS RDATA (`tag alg type HEX`) in the signed file of `zone`.
    pub fn cds_of(&self, zone: &str) -> Vec<String> {
        let text = std::fs::read_to_string(self.signed_file(zone)).expect("signed zone");
        text.lines()
            .filter(|l| !l.starts_with(';'))
            .filter_map(|line| {
                let words: Vec<&str> = line.split_whitespace().collect();
                // `-O full`: owner, TTL, class, type.
                let at = 3;
                if words.get(at) != Some(&"CDS") {
                    return None;
                }
                Some(format!(
                    "{} {} {} {}",
                    words.get(at + 1)?,
                    words.get(at + 2)?,
                    words.get(at + 3)?,
                    words.get(at + 4..)?.concat()
                ))
            })
            .collect()
    }

    /// Re-signs the root and the parent (at [`DnsLab::now`], when a test
    /// moved time) with new serials and has named reload them.
    pub fn resign_tree(&self) {
        self.write_root();
        self.reload(ROOT);
        self.write_parent();
        self.reload(PARENT);
    }

    /// Makes the parent hold exactly these DS (RDATA text) for the child,
    /// re-signs it and has named reload it.
    pub fn set_parent_ds(&self, ds: &[String]) {
        *self.parent_ds.borrow_mut() = ds.to_vec();
        self.write_parent();
        self.reload(PARENT);
    }

    /// Has named reload the child (after a test re-signed it), and waits
    /// until it serves the new serial.
    pub fn reload_child(&self) {
        self.reload(CHILD);
    }

    /// `rndc reload zone`, then waits (bounded) for the file's serial.
    pub fn reload(&self, zone: &str) {
        let running = self.running.as_ref().expect("named runs");
        let control = running.control.expect("rndc control port");
        let origin = zone.trim_end_matches('.');
        let origin = if origin.is_empty() { "." } else { origin };
        let output = Command::new("rndc")
            .arg("-k")
            .arg(self.dir.join("rndc.key"))
            .args(["-s", "127.0.0.1", "-p", &control.to_string()])
            .args(["reload", origin])
            .output()
            .expect("rndc must be installed (bind9)");
        assert!(
            output.status.success(),
            "rndc reload {zone}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let serial = format!(" {} ", self.serial_of(zone));
        let started = Instant::now();
        while !dig_short(self.port(), zone, "SOA").contains(&serial) {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "named did not load serial{serial}of {zone}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `dig +short +norec` against the lab.
    pub fn dig(&self, name: &str, rtype: &str) -> String {
        dig_short(self.port(), name, rtype)
    }

    /// `delv` for `name`/`rtype` with the root KSK as the only trust
    /// anchor: whether it printed "fully validated", and all it printed.
    pub fn delv(&self, name: &str, rtype: &str) -> (bool, String) {
        let anchors = self.dir.join("root-anchor.conf");
        let entries: String = self
            .ksks(ROOT)
            .iter()
            .map(|key| {
                let text = key.rdata_text();
                let words: Vec<&str> = text.split_whitespace().collect();
                format!(
                    ". static-key {} {} {} \"{}\";\n",
                    words[0],
                    words[1],
                    words[2],
                    words[3..].concat()
                )
            })
            .collect();
        std::fs::write(&anchors, format!("trust-anchors {{\n{entries}}};\n")).expect("anchors");
        let mut text = String::new();
        // A loaded machine can make delv time out: ask again then, but
        // never past a definite answer.
        for _ in 0..5 {
            let output = Command::new("delv")
                .arg("-a")
                .arg(&anchors)
                .args(["-p", &self.port().to_string(), "@127.0.0.1", name, rtype])
                .output()
                .expect("delv must be installed (bind9-dnsutils)");
            text = String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr);
            if !text.contains("timed out") && !text.contains("connection refused") {
                break;
            }
        }
        (text.contains("; fully validated"), text)
    }
}

/// A zone's name as a file-name stem (`root` for the root).
fn file_stem(zone: &str) -> String {
    match zone.trim_end_matches('.') {
        "" => "root".to_string(),
        name => name.to_string(),
    }
}

#[test]
fn the_lab_tree_validates_from_the_root_once_the_parent_holds_the_ds() {
    let lab = DnsLab::new(true);
    // No DS at the parent: the child is an insecure delegation.
    let (validated, text) = lab.delv("www.child.test.", "A");
    assert!(!validated && text.contains("192.0.2.80"), "{text}");
    let ds = DnsLab::ds_of(CHILD, &lab.child_ksk(), common::ds::DigestType::Sha256);
    // The parent takes the child's CDS.
    let cds = lab.cds_of(CHILD);
    assert_eq!(cds, std::slice::from_ref(&ds));
    lab.set_parent_ds(&cds);
    let digits = |text: &str| text.replace(' ', "").to_uppercase();
    assert_eq!(
        digits(&lab.dig(CHILD, "DS")),
        digits(&ds),
        "the parent serves the DS"
    );
    let (validated, text) = lab.delv("www.child.test.", "A");
    assert!(validated, "{text}");
    // The child changed, re-signed and reloaded: still validated.
    let zone = std::fs::read_to_string(lab.zone_file(CHILD)).expect("zone");
    let zone = zone
        .replace(" 1 300 300 86400 300", " 2 300 300 86400 300")
        .replace("192.0.2.80", "192.0.2.81");
    std::fs::write(lab.zone_file(CHILD), zone).expect("zone");
    lab.sign(CHILD);
    lab.reload_child();
    let (validated, text) = lab.delv("www.child.test.", "A");
    assert!(validated && text.contains("192.0.2.81"), "{text}");
    // The root and parent signed a day earlier: still valid now.
    lab.now.set(Some(common::time::now() - 86400));
    lab.resign_tree();
    let (validated, text) = lab.delv("www.child.test.", "A");
    assert!(validated, "{text}");
    // A DS for another key: the child is bogus.
    let mut other = ds.clone();
    let last = other.pop();
    other.push(if last == Some('0') { '1' } else { '0' });
    lab.set_parent_ds(&[other]);
    let (validated, text) = lab.delv("www.child.test.", "A");
    assert!(!validated, "{text}");
}

/// Serves `signed` (example.com) with `named` from a temp dir in `work`
/// and asks `delv` for www.example.com, trusting only `parent_ds` (DS RDATA
/// text, as a parent holds it); what delv says.
pub fn delv_example_com(work: &Path, signed: &Path, parent_ds: &[String]) -> String {
    let dir = tempfile::tempdir_in(work).expect("named dir");
    let zone = dir.path().join("example.com.signed");
    std::fs::copy(signed, &zone).expect("copy signed zone");
    let anchors = dir.path().join("anchors.conf");
    let entries: String = parent_ds
        .iter()
        .map(|ds| {
            let f: Vec<&str> = ds.split_whitespace().collect();
            format!(
                "example.com. static-ds {} {} {} \"{}\";\n",
                f[0],
                f[1],
                f[2],
                f[3..].concat()
            )
        })
        .collect();
    std::fs::write(&anchors, format!("trust-anchors {{\n{entries}}};\n")).expect("anchors");
    // Our keys, to know that the named answering is ours: other test runs
    // on this machine serve example.com too, and a port found free can be
    // taken before named binds it (then try another).
    let text = std::fs::read_to_string(&zone).expect("signed zone");
    let our_key: String = text
        .lines()
        .find(|l| l.split_whitespace().nth(3) == Some("DNSKEY"))
        .map(|l| l.split_whitespace().skip(7).collect())
        .expect("a DNSKEY");
    let running = start_named(
        dir.path(),
        &[("example.com", zone.as_path())],
        false,
        |port| {
            dig_short(port, "example.com", "DNSKEY")
                .replace(' ', "")
                .contains(&our_key)
        },
    );
    let port = running.port.to_string();
    // A loaded machine can make delv time out: ask again then, but
    // never past a definite answer.
    let mut text = String::new();
    for _ in 0..5 {
        let delv = Command::new("delv")
            .arg("-a")
            .arg(&anchors)
            .args(["+root=example.com", "-p", &port, "@127.0.0.1"])
            .args(["www.example.com", "A"])
            .output()
            .expect("delv must be installed (bind9-dnsutils)");
        text = String::from_utf8_lossy(&delv.stdout).into_owned()
            + &String::from_utf8_lossy(&delv.stderr);
        if !text.contains("timed out") && !text.contains("connection refused") {
            break;
        }
    }
    text
}
