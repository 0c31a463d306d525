//! The test fixture: a fresh SoftHSM2 token in a temp dir, with its own
//! `SOFTHSM2_CONF` set on child processes only, so tests run in parallel.
//! A missing SoftHSM2 or OpenSC is a failure here, never a skip.

use assert_cmd::Command;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// A syslog socket for the audit lines of keygen and destroy (a test
/// machine may have no /dev/log, and then the tools warn on stderr), read
/// and discarded until the temp dir goes (a full queue would block senders).
fn drain_syslog(path: PathBuf) {
    let socket = std::os::unix::net::UnixDatagram::bind(&path).expect("syslog socket");
    socket
        .set_read_timeout(Some(std::time::Duration::from_millis(200)))
        .expect("timeout");
    std::thread::spawn(move || {
        let mut buffer = [0u8; 8192];
        while socket.recv(&mut buffer).is_ok() || path.exists() {}
    });
}

/// The user PIN of every test token.
pub const PIN: &str = "87654321";
/// The security officer PIN of every test token.
pub const SO_PIN: &str = "12345678";
/// Where Debian's softhsm2 package puts the module.
pub const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// A temp dir with a SoftHSM2 configuration and initialized tokens.
pub struct Hsm {
    dir: TempDir,
    conf: PathBuf,
}

impl Hsm {
    /// One initialized token labelled "test".
    pub fn new() -> Hsm {
        Hsm::with_tokens(&["test"])
    }

    /// Initialized tokens with these labels, in this order.
    pub fn with_tokens(labels: &[&str]) -> Hsm {
        let dir = tempfile::tempdir().expect("temp dir");
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).expect("token dir");
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .expect("conf");
        drain_syslog(dir.path().join("fixture-syslog.sock"));
        let hsm = Hsm { dir, conf };
        for label in labels {
            let output = std::process::Command::new("softhsm2-util")
                .env("SOFTHSM2_CONF", &hsm.conf)
                .args([
                    "--init-token",
                    "--free",
                    "--label",
                    label,
                    "--pin",
                    PIN,
                    "--so-pin",
                    SO_PIN,
                ])
                .output()
                .expect("softhsm2-util must be installed (scripts/test installs it)");
            assert!(output.status.success(), "init-token: {output:?}");
        }
        hsm
    }

    /// The temp dir (for PIN files and such).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A command running one of our tools against this HSM, with a clean
    /// environment for the variables the tools read.
    pub fn tool(&self, name: &str) -> Command {
        Command::from_std(self.command(tool_path(name)))
    }

    /// A command running any program (a script of ours) in the environment
    /// `tool` gives our tools.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
        let mut command = std::process::Command::new(program);
        command
            .env("SOFTHSM2_CONF", &self.conf)
            .env(
                "P11DNSSEC_SYSLOG_SOCKET",
                self.dir.path().join("fixture-syslog.sock"),
            )
            .env_remove("PKCS11_PROVIDER")
            .env_remove("PKCS11_MODULE")
            .env_remove("PKCS11_LIBRARY")
            .env_remove("PKCS11_PIN");
        command
    }

    /// Runs one of our tools with the PIN and expects success; its stdout.
    pub fn run_ok(&self, name: &str, args: &[&str]) -> String {
        let output = self
            .tool(name)
            .args(args)
            .args(["-p", PIN])
            .output()
            .expect("run");
        assert!(
            output.status.success(),
            "{name} {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("utf8")
    }

    /// Makes a KSK (label `ksk`) and a ZSK (`zsk`) of `algorithm` in the
    /// token and their BIND key files for example.com in `keys`; returns
    /// the key files' base names, KSK first.
    pub fn ksk_and_zsk_key_files(&self, algorithm: &str, keys: &Path) -> [String; 2] {
        let bits: &[&str] = if algorithm.starts_with("RSA") {
            &["-b", "1024"]
        } else {
            &[]
        };
        [("ksk", Some("KSK")), ("zsk", None)].map(|(label, flag)| {
            let mut args = vec!["-a", algorithm, "-l", label];
            args.extend_from_slice(bits);
            self.run_ok("pkcs11-keygen", &args);
            let mut args = vec![
                "-l",
                label,
                "-K",
                keys.to_str().expect("path"),
                "example.com",
            ];
            if let Some(flag) = flag {
                args.extend(["-f", flag]);
            }
            self.run_ok("dnskey-from-label", &args).trim().to_string()
        })
    }

    /// OpenSC's pkcs11-tool on this HSM's SoftHSM2.
    pub fn pkcs11_tool(&self, args: &[&str]) -> String {
        let output = std::process::Command::new("pkcs11-tool")
            .env("SOFTHSM2_CONF", &self.conf)
            .args(["--module", SOFTHSM_MODULE])
            .args(args)
            .output()
            .expect("pkcs11-tool must be installed (scripts/test installs opensc)");
        assert!(output.status.success(), "pkcs11-tool {args:?}: {output:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// pkcs11-tool's object listing, logged in.
    pub fn pkcs11_tool_objects(&self) -> String {
        self.pkcs11_tool(&[
            "--token-label",
            "test",
            "--login",
            "--pin",
            PIN,
            "--list-objects",
        ])
    }

    /// The slot ID SoftHSM2 gave the token with this label.
    pub fn slot_of(&self, label: &str) -> u64 {
        let output = std::process::Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &self.conf)
            .arg("--show-slots")
            .output()
            .expect("softhsm2-util");
        let text = String::from_utf8_lossy(&output.stdout);
        let mut slot = None;
        for line in text.lines() {
            if let Some(id) = line.strip_prefix("Slot ") {
                slot = id.trim().parse().ok();
            }
            if line.trim_start().starts_with("Label:")
                && line.split_once(':').map(|x| x.1.trim()) == Some(label)
            {
                return slot.expect("slot line before label");
            }
        }
        panic!("no token labelled {label}: {text}");
    }

    /// Imports a PKCS#8 PEM key pair into the "test" token (known keys,
    /// so the DNSKEY and DS are known in advance).
    pub fn import_pem(&self, pem: &Path, label: &str, id_hex: &str) {
        let output = std::process::Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &self.conf)
            .args(["--import"])
            .arg(pem)
            .args([
                "--token", "test", "--label", label, "--id", id_hex, "--pin", PIN,
            ])
            .output()
            .expect("softhsm2-util");
        assert!(
            output.status.success(),
            "import {}: {output:?}",
            pem.display()
        );
    }

    /// Writes a file in the temp dir with mode 0600; returns its path.
    pub fn private_file(&self, name: &str, content: &[u8]) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        path
    }
}

/// The path of one of our binaries, as cargo built it for this test run.
pub fn tool_path(name: &str) -> PathBuf {
    let path = match name {
        "pkcs11-tokens" => env!("CARGO_BIN_EXE_pkcs11-tokens"),
        "pkcs11-keygen" => env!("CARGO_BIN_EXE_pkcs11-keygen"),
        "pkcs11-list" => env!("CARGO_BIN_EXE_pkcs11-list"),
        "pkcs11-destroy" => env!("CARGO_BIN_EXE_pkcs11-destroy"),
        "dnskey-from-label" => env!("CARGO_BIN_EXE_dnskey-from-label"),
        "ds-from-key" => env!("CARGO_BIN_EXE_ds-from-key"),
        "zone-sign" => env!("CARGO_BIN_EXE_zone-sign"),
        "key-settime" => env!("CARGO_BIN_EXE_key-settime"),
        "key-revoke" => env!("CARGO_BIN_EXE_key-revoke"),
        "zone-verify" => env!("CARGO_BIN_EXE_zone-verify"),
        "key-manager" => env!("CARGO_BIN_EXE_key-manager"),
        "key-coverage" => env!("CARGO_BIN_EXE_key-coverage"),
        "pkcs11-backup" => env!("CARGO_BIN_EXE_pkcs11-backup"),
        "pkcs11-restore" => env!("CARGO_BIN_EXE_pkcs11-restore"),
        "ksr-request" => env!("CARGO_BIN_EXE_ksr-request"),
        "ksr-sign" => env!("CARGO_BIN_EXE_ksr-sign"),
        other => panic!("unknown tool {other}"),
    };
    PathBuf::from(path)
}

/// Every tool of the project.
pub const TOOLS: [&str; 16] = [
    "pkcs11-tokens",
    "pkcs11-keygen",
    "pkcs11-list",
    "pkcs11-destroy",
    "dnskey-from-label",
    "ds-from-key",
    "zone-sign",
    "key-settime",
    "key-revoke",
    "zone-verify",
    "key-manager",
    "key-coverage",
    "pkcs11-backup",
    "pkcs11-restore",
    "ksr-request",
    "ksr-sign",
];

/// The project's own test data (`tests/data`).
pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("data")
}

/// Runs one of our tools that needs no token; returns the output.
pub fn run_plain(tool: &str, args: &[&str], stdin: Option<&[u8]>) -> std::process::Output {
    let mut command = Command::new(tool_path(tool));
    command.args(args);
    if let Some(input) = stdin {
        command.write_stdin(input.to_vec());
    }
    command.output().expect("run")
}

/// An artifact of the fault-module crate (the fault module, p11-probe),
/// built on first use if the test run did not build it.
pub fn fault_crate_artifact(name: &str) -> PathBuf {
    // Built once per test run, not only when missing: a stale p11-probe
    // from before a change would test the old code.
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args(["build", "--quiet", "-p", "p11-fault"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo build -p p11-fault");
        assert!(status.success());
    });
    tool_path("zone-sign")
        .parent()
        .expect("target dir")
        .join(name)
}

/// One zone of the shared corpus (`../shared/corpus/zones/MANIFEST.tsv`).
pub struct CorpusZone {
    pub file: String,
    pub origin: String,
    /// Its record count, as the manifest gives it.
    pub records: u64,
}

/// The zone corpus (`P11DNSSEC_CORPUS`, else `../shared/corpus/zones`
/// beside the clone, as CI lays it) and its zones, largest first (so that
/// parallel workers end together). Missing, it is `None` — and a failure
/// in CI (`CI` set), where a skip would hide the tests that need it.
pub fn corpus() -> Option<(PathBuf, Vec<CorpusZone>)> {
    let dir = match std::env::var_os("P11DNSSEC_CORPUS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/zones"),
    };
    let Ok(manifest) = std::fs::read_to_string(dir.join("MANIFEST.tsv")) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "the zone corpus is missing: ../shared/corpus/zones (or P11DNSSEC_CORPUS)"
        );
        eprintln!(
            "no zone corpus at {}: only our own zones are used",
            dir.display()
        );
        return None;
    };
    let mut zones: Vec<CorpusZone> = manifest
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            Some(CorpusZone {
                file: fields.first()?.to_string(),
                origin: fields.get(1)?.to_string(),
                records: fields.get(5).and_then(|n| n.parse().ok()).unwrap_or(0),
            })
        })
        .collect();
    assert!(
        zones.len() >= 20,
        "{}: {} zones",
        dir.display(),
        zones.len()
    );
    zones.sort_by_key(|z| std::cmp::Reverse(z.records));
    Some((dir, zones))
}

/// Runs `work` on every job with two workers, each with a token of its own
/// holding an ECDSA P-256 key labelled `csk` (the fast algorithm in a debug
/// build) and an empty folder for output: SoftHSM2 processes that share a
/// token directory can see it uninitialized while another opens it. Jobs
/// are handed out in order (put the big ones first); the results come back
/// in job order.
pub fn on_two_tokens<J: Sync, R: Send>(
    jobs: &[J],
    work: impl Fn(&Hsm, &Path, usize, &J) -> R + Sync,
) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                let hsm = Hsm::new();
                hsm.run_ok(
                    "pkcs11-keygen",
                    &["-q", "-a", "ECDSAP256SHA256", "-l", "csk"],
                );
                let out = hsm.dir().join("out");
                std::fs::create_dir(&out).expect("out");
                loop {
                    let at = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(job) = jobs.get(at) else { break };
                    let result = work(&hsm, &out, at, job);
                    results.lock().expect("lock").push((at, result));
                }
            });
        }
    });
    let mut results = results.into_inner().expect("lock");
    results.sort_by_key(|(at, _)| *at);
    results.into_iter().map(|(_, result)| result).collect()
}

/// The real time (not P11DNSSEC_NOW), Unix seconds: what BIND's
/// validators judge signatures by.
pub fn real_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// `YYYYMMDDHHMMSS` (UTC) for a key-file date, computed here
/// independently of the tools (Howard Hinnant's civil_from_days).
pub fn stamp(seconds: i64) -> String {
    const DAY: i64 = 86_400;
    let days = seconds.div_euclid(DAY);
    let rest = seconds.rem_euclid(DAY);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}
