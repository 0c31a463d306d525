//! Every tool through every PIN path (flag, file, environment, URI
//! pin-value and pin-source, terminal prompt), right and wrong: the PIN
//! never shows on stdout, stderr, or in any file the tools write.

use crate::hsm::{data_dir, tool_path, Hsm, PIN};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const WRONG: &str = "wrong-pin-90210";

/// How the PIN is given.
#[derive(Clone, Copy, Debug)]
enum Source {
    Flag,
    File,
    Environment,
    UriPinValue,
    UriPinFile,
    Prompt,
}

const SOURCES: [Source; 6] = [
    Source::Flag,
    Source::File,
    Source::Environment,
    Source::UriPinValue,
    Source::UriPinFile,
    Source::Prompt,
];

struct World {
    hsm: Hsm,
    work: PathBuf,
}

impl World {
    fn new() -> World {
        let hsm = Hsm::new();
        hsm.run_ok("pkcs11-keygen", &["-a", "ED25519", "-l", "key"]);
        let work = hsm.dir().join("work");
        std::fs::create_dir(&work).expect("work");
        std::fs::copy(
            data_dir().join("zones/example.com.zone"),
            work.join("example.com.zone"),
        )
        .expect("zone");
        World { hsm, work }
    }

    /// The arguments of each tool for a harmless run that logs in; `uri`
    /// is where a PKCS#11 URI (with the PIN in it) goes.
    fn args(&self, tool: &str, uri: &str) -> Vec<String> {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        match tool {
            "pkcs11-list" => s(&["-l", uri]),
            "pkcs11-keygen" => s(&[
                "-a",
                "ECC",
                "-q",
                "-l",
                &uri.replace("object=key", "object=new"),
            ]),
            "pkcs11-destroy" => s(&[
                "-w",
                "0",
                "-l",
                &uri.replace("object=key", "object=nothing"),
            ]),
            "dnskey-from-label" => {
                let _ = std::fs::remove_dir_all(self.work.join("keys"));
                std::fs::create_dir(self.work.join("keys")).expect("keys");
                s(&["-l", uri, "-K", "keys", "example.com"])
            }
            "zone-sign" => s(&["-o", "example.com", "-f", "signed", "example.com.zone", uri]),
            _ => unreachable!(),
        }
    }

    fn run(&self, tool: &str, source: Source, pin: &str) -> Output {
        let pin_file = self.work.join("pin-file");
        std::fs::write(&pin_file, format!("{pin}\n")).expect("pin file");
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(0o600))
                .expect("chmod");
        }
        let uri = match source {
            Source::UriPinValue => format!("pkcs11:object=key?pin-value={pin}"),
            Source::UriPinFile => format!("pkcs11:object=key?pin-source={}", pin_file.display()),
            _ => "pkcs11:object=key".to_string(),
        };
        let mut args = self.args(tool, &uri);
        let long = tool == "zone-sign";
        match source {
            Source::Flag => args.extend([
                if long { "--pin" } else { "-p" }.to_string(),
                pin.to_string(),
            ]),
            Source::File => args.extend(["--pin-file".to_string(), pin_file.display().to_string()]),
            _ => {}
        }
        let mut command = if let Source::Prompt = source {
            // A terminal: script(1) gives the tool a pseudo-terminal and
            // passes our stdin to it.
            let line: Vec<String> = std::iter::once(tool_path(tool).display().to_string())
                .chain(args.iter().map(|a| shell_quote(a)))
                .collect();
            let mut command = Command::new("script");
            command.args(["-qefc", &line.join(" "), "/dev/null"]);
            command
        } else {
            let mut command = Command::new(tool_path(tool));
            command.args(&args);
            command
        };
        command
            .current_dir(&self.work)
            .env("SOFTHSM2_CONF", self.hsm.dir().join("softhsm2.conf"))
            .env("P11DNSSEC_SYSLOG_SOCKET", self.work.join("no-syslog"))
            .env_remove("PKCS11_PIN")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Source::Environment = source {
            command.env("PKCS11_PIN", pin);
        }
        let mut child = command.spawn().expect("spawn");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            if let Source::Prompt = source {
                std::thread::sleep(std::time::Duration::from_millis(300));
                let _ = stdin.write_all(format!("{pin}\n").as_bytes());
            }
        }
        child.wait_with_output().expect("wait")
    }
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// Every file under `dir` (what the tools wrote), as bytes.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path));
        } else if path.file_name().is_some_and(|n| n != "pin-file") {
            out.push((path.clone(), std::fs::read(&path).expect("read")));
        }
    }
    out
}

fn assert_no_pin(output: &Output, dir: &Path, pin: &str, what: &str) {
    for (name, stream) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
        let text = String::from_utf8_lossy(stream);
        // The prompt echoes nothing; script(1) shows what the tool printed.
        assert!(!text.contains(pin), "{what}: PIN on {name}: {text}");
    }
    for (path, content) in files(dir) {
        assert!(
            !content.windows(pin.len()).any(|w| w == pin.as_bytes()),
            "{what}: PIN in {}",
            path.display()
        );
    }
}

#[test]
fn every_tool_every_pin_source_right_and_wrong() {
    let world = World::new();
    let tools = [
        "pkcs11-list",
        "pkcs11-keygen",
        "pkcs11-destroy",
        "dnskey-from-label",
        "zone-sign",
    ];
    let mut runs = 0;
    for tool in tools {
        for source in SOURCES {
            let what = format!("{tool} with {source:?}");
            let output = world.run(tool, source, PIN);
            assert!(
                output.status.success(),
                "{what}: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            assert_no_pin(&output, &world.work, PIN, &what);
            if let Source::Prompt = source {
                let shown = String::from_utf8_lossy(&output.stdout);
                assert!(
                    shown.contains("Enter Pin: "),
                    "{what}: no prompt on the terminal: {shown}"
                );
            }
            if tool == "pkcs11-keygen" {
                world
                    .hsm
                    .run_ok("pkcs11-destroy", &["-l", "new", "-w", "0"]);
            }
            let output = world.run(tool, source, WRONG);
            assert_eq!(output.status.code(), Some(1), "{what}, wrong PIN");
            let text = String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr);
            assert!(
                text.contains("CKR_PIN_INCORRECT"),
                "{what}, wrong PIN: {text}"
            );
            assert_no_pin(&output, &world.work, WRONG, &format!("{what}, wrong PIN"));
            runs += 2;
        }
    }
    assert_eq!(runs, 60);
    // The speed mode logs in too.
    let output = world.run_speed(PIN);
    assert!(output.status.success());
    assert_no_pin(&output, &world.work, PIN, "pkcs11-tokens --speed");
}

impl World {
    fn run_speed(&self, pin: &str) -> Output {
        Command::new(tool_path("pkcs11-tokens"))
            .args(["--speed", "--seconds", "0.1", "-n", "1", "-p", pin])
            .env("SOFTHSM2_CONF", self.hsm.dir().join("softhsm2.conf"))
            .output()
            .expect("run")
    }
}

#[test]
fn private_key_files_are_owner_only() {
    let world = World::new();
    let output = world.run("dnskey-from-label", Source::Flag, PIN);
    assert!(output.status.success());
    use std::os::unix::fs::PermissionsExt;
    let mut privates = 0;
    for (path, _) in files(&world.work.join("keys")) {
        if path.extension().is_some_and(|x| x == "private") {
            assert_eq!(
                std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777,
                0o600,
                "{}",
                path.display()
            );
            privates += 1;
        }
    }
    assert_eq!(privates, 1);
}

/// The soft core-size limit of a running process, from `/proc/PID/limits`.
fn core_limit(pid: u32) -> Option<String> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))?;
    line.split_whitespace().nth(4).map(str::to_string)
}

#[test]
fn tools_are_not_dumpable_and_write_no_core() {
    use std::os::unix::fs::MetadataExt;
    // ds-from-key with no file reads its keys from stdin: it waits there,
    // after the main wrapper ran. As another user than root (the tests run
    // as root here), /proc/PID belongs to root only if the process is
    // non-dumpable; run unprivileged when the tests are not root.
    // The core limit starts above 0 (prlimit), so that the tool must
    // lower it itself.
    let root = std::fs::metadata("/proc/self").expect("proc").uid() == 0;
    let mut command = Command::new("prlimit");
    command.arg("--core=1000000:unlimited");
    if root {
        command.args([
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ]);
    }
    command.arg(tool_path("ds-from-key"));
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut limit = None;
    while std::time::Instant::now() < deadline {
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
        if exe.ends_with("ds-from-key") {
            limit = core_limit(pid);
            if limit.as_deref() == Some("0") {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let owner = std::fs::metadata(format!("/proc/{pid}/status"))
        .expect("status")
        .uid();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    drop(child.stdin.take());
    let _ = child.wait();
    assert_eq!(limit.as_deref(), Some("0"), "core size limit");
    let process_uid: u32 = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|uid| uid.parse().ok())
        .expect("uid");
    assert_ne!(process_uid, 0, "the tool must run unprivileged here");
    // The kernel gives a non-dumpable process's /proc entries to root.
    assert_eq!(
        owner, 0,
        "/proc/{pid} belongs to uid {owner}: still dumpable"
    );
}
