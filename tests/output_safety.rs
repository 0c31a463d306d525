//! Output folders other accounts can write: a planted symlink or file is
//! never followed or replaced, runs that share a PID (other PID
//! namespaces) do not share a temp file, modes do not follow the umask,
//! the zone and its dsset change together, and only our own unlocked temp
//! files are taken for stale.

use crate::crash::{setup, Setup};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// `command` run by `sh -c 'SCRIPT; exec …'`: the script runs with the
/// PID the tool will have (`$$`), and can set the umask.
fn through_shell(command: &Command, script: &str) -> Command {
    let mut shell = Command::new("sh");
    shell
        .arg("-c")
        .arg(format!("{script}; exec \"$0\" \"$@\""))
        .arg(command.get_program())
        .args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => shell.env(key, value),
            None => shell.env_remove(key),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        shell.current_dir(dir);
    }
    shell.stdout(Stdio::null()).stderr(Stdio::piped());
    shell
}

/// One of our tools on the setup's token, as a std Command (to wrap).
fn tool(setup: &Setup, name: &str) -> Command {
    let mut command = Command::new(crate::hsm::tool_path(name));
    command
        .env("SOFTHSM2_CONF", setup.hsm.dir().join("softhsm2.conf"))
        .env_remove("PKCS11_PROVIDER")
        .env_remove("PKCS11_MODULE")
        .env_remove("PKCS11_LIBRARY")
        .env_remove("PKCS11_PIN")
        .current_dir(setup.hsm.dir());
    command
}

fn run(mut command: Command) -> Output {
    command.output().expect("run")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o7777
}

fn dsset(setup: &Setup) -> std::path::PathBuf {
    setup.hsm.dir().join("dsset-example.com.")
}

/// A root-only file the attacker wants overwritten.
fn victim(setup: &Setup) -> std::path::PathBuf {
    let victim = setup.hsm.dir().join("victim");
    std::fs::write(&victim, "root only\n").expect("victim");
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    victim
}

#[test]
fn a_symlink_planted_at_the_temp_name_is_not_followed() {
    let setup = setup(50);
    let victim = victim(&setup);
    // Today's names and any name of that shape for the PID the run has.
    let plant =
        "for n in .big.zone.signed.tmp-$$ .dsset-example.com..tmp-$$; do ln -s victim $n; done";
    let output = run(through_shell(&setup.command(), plant));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        std::fs::read_to_string(&victim).expect("victim"),
        "root only\n"
    );
    assert_eq!(mode(&victim), 0o600);
    let zone = std::fs::read_to_string(&setup.output).expect("zone");
    assert!(zone.contains("RRSIG"));
    assert!(
        std::fs::symlink_metadata(&setup.output)
            .expect("output")
            .file_type()
            .is_file(),
        "the output is a new file, not the symlink"
    );
}

#[test]
fn two_runs_in_separate_pid_namespaces_publish_a_complete_zone() {
    let setup = setup(3000);
    let unshare = Command::new("unshare")
        .args(["--pid", "--fork", "true"])
        .status();
    if !unshare.is_ok_and(|s| s.success()) {
        // Without CAP_SYS_ADMIN no PID namespace: both runs could not have
        // PID 1, which is what made them share a temp file.
        // CI runs as root, where it is: a skip there would hide the test.
        assert!(
            std::env::var_os("CI").is_none(),
            "unshare --pid is not possible here"
        );
        eprintln!("skipped: unshare --pid is not possible here");
        return;
    }
    let reference = run(setup.command());
    assert!(reference.status.success(), "{}", stderr(&reference));
    let complete = std::fs::read(&setup.output).expect("output");
    // The second run signs with a copy of the token (the same key, in files
    // of its own): two processes reading one SoftHSM2 token directory while
    // one logs in can see it half-written ("no initialized token").
    let copy = setup.hsm.dir().join("tokens-copy");
    let copied = Command::new("cp")
        .arg("-a")
        .arg(setup.hsm.dir().join("tokens"))
        .arg(&copy)
        .status()
        .expect("cp");
    assert!(copied.success());
    let copy_conf = setup.hsm.dir().join("softhsm2-copy.conf");
    std::fs::write(
        &copy_conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            copy.display()
        ),
    )
    .expect("conf");
    for _ in 0..3 {
        std::fs::write(&setup.output, "old\n").expect("old");
        // In its own PID namespace each run is PID 1.
        let start = |conf: Option<&Path>| {
            let mut command = setup.command();
            if let Some(conf) = conf {
                command.env("SOFTHSM2_CONF", conf);
            }
            let mut wrapped = Command::new("unshare");
            wrapped
                .args(["--pid", "--fork"])
                .arg(command.get_program())
                .args(command.get_args());
            for (key, value) in command.get_envs() {
                match value {
                    Some(value) => wrapped.env(key, value),
                    None => wrapped.env_remove(key),
                };
            }
            wrapped
                .current_dir(setup.hsm.dir())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        };
        let (first, second) = (start(None), start(Some(&copy_conf)));
        for child in [first, second] {
            let output = child.wait_with_output().expect("wait");
            assert!(output.status.success(), "{}", stderr(&output));
        }
        assert!(
            std::fs::read(&setup.output).expect("output") == complete,
            "a corrupted zone was published"
        );
        assert!(setup.temp_files().is_empty(), "{:?}", setup.temp_files());
    }
}

#[test]
fn output_modes_do_not_follow_the_umask() {
    let setup = setup(20);
    for umask in ["077", "000"] {
        let output = run(through_shell(&setup.command(), &format!("umask {umask}")));
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(mode(&setup.output), 0o644, "zone, umask {umask}");
        assert_eq!(mode(&dsset(&setup)), 0o644, "dsset, umask {umask}");

        let keys = setup.hsm.dir().join(format!("keys-{umask}"));
        std::fs::create_dir(&keys).expect("mkdir");
        let mut command = tool(&setup, "dnskey-from-label");
        command
            .args(["-l", "csk", "-K"])
            .arg(&keys)
            .args(["-p", crate::hsm::PIN, "example.com"]);
        let output = run(through_shell(&command, &format!("umask {umask}")));
        assert!(output.status.success(), "{}", stderr(&output));
        for entry in std::fs::read_dir(&keys).expect("keys").flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let expected = if name.ends_with(".private") {
                0o600
            } else {
                0o644
            };
            assert_eq!(mode(&entry.path()), expected, "{name}, umask {umask}");
        }
    }
}

#[test]
fn a_dsset_that_cannot_be_written_leaves_the_zone_untouched() {
    let setup = setup(20);
    std::fs::write(&setup.output, "old\n").expect("old");
    std::fs::create_dir(dsset(&setup)).expect("mkdir");
    let output = run(setup.command());
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("dsset-example.com."),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        std::fs::read_to_string(&setup.output).expect("output"),
        "old\n"
    );
    assert!(setup.temp_files().is_empty(), "{:?}", setup.temp_files());
}

#[test]
fn output_locations_are_checked_before_signing() {
    let setup = setup(20);
    // The key does not exist: a run that got as far as the keys would
    // exit 3; the output locations are refused first.
    let check = |args: &[&str], named: &str| {
        let mut command = tool(&setup, "zone-sign");
        command
            .current_dir(setup.hsm.dir())
            .args(["-o", "example.com", "--pin", crate::hsm::PIN, "-q"])
            .args(args)
            .arg(&setup.zone)
            .arg("pkcs11:object=nosuch");
        let output = run(command);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(&format!("'{named}'")),
            "{args:?}: {}",
            stderr(&output)
        );
    };
    check(&["-f", "nodir/out"], "nodir");
    check(&["-d", "nodir"], "nodir");
    check(&["-f", "-", "-d", "big.zone"], "big.zone");
    std::fs::create_dir(setup.hsm.dir().join("adir")).expect("mkdir");
    check(&["-f", "adir"], "adir");
}

#[test]
fn an_existing_key_file_even_a_dangling_symlink_is_never_replaced() {
    let setup = setup(1);
    let keys = setup.hsm.dir().join("keys");
    std::fs::create_dir(&keys).expect("mkdir");
    let base = setup.hsm.run_ok(
        "dnskey-from-label",
        &[
            "-l",
            "csk",
            "-K",
            keys.to_str().expect("path"),
            "example.com",
        ],
    );
    let key = keys.join(format!("{}.key", base.trim()));
    let private = keys.join(format!("{}.private", base.trim()));
    // A name taken by a symlink to nowhere is taken all the same.
    for (existing, other) in [(&key, &private), (&private, &key)] {
        for path in [&key, &private] {
            let _ = std::fs::remove_file(path);
        }
        std::os::unix::fs::symlink("nowhere", existing).expect("symlink");
        let output = tool(&setup, "dnskey-from-label")
            .args(["-l", "csk", "-K"])
            .arg(&keys)
            .args(["-p", crate::hsm::PIN, "example.com"])
            .output()
            .expect("run");
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("already exists"),
            "{}",
            stderr(&output)
        );
        assert_eq!(
            std::fs::read_link(existing).expect("still the symlink"),
            Path::new("nowhere")
        );
        assert!(!other.exists(), "no half pair: {}", other.display());
        let left: Vec<_> = std::fs::read_dir(&keys)
            .expect("keys")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left.len(), 1, "{left:?}");
    }
}

#[test]
fn only_our_own_unlocked_temp_files_are_taken_for_stale() {
    let setup = setup(20);
    let dir = setup.hsm.dir();
    let path = |name: &str| dir.join(format!(".big.zone.signed.tmp-{name}"));
    // Left by a killed run of ours: not locked, ours, our pattern.
    let killed = path("Killed0run00");
    std::fs::write(&killed, "partial").expect("write");
    // Another account's, under a name that looks like a dead PID or ours.
    let mut theirs = vec![path("4000000"), path("TheirsNotOur")];
    for file in &theirs {
        std::fs::write(file, "theirs").expect("write");
    }
    if theirs
        .iter()
        .any(|file| std::os::unix::fs::chown(file, Some(4242), Some(4242)).is_err())
    {
        // Only root can give a file away; the other checks still run. CI
        // runs as root: there, this part must run.
        assert!(std::env::var_os("CI").is_none(), "chown needs root");
        eprintln!("skipped: another user's temp files (chown needs root)");
        theirs.clear();
    }
    // A run writing now holds the lock.
    let running = path("RunningNow00");
    let held = std::fs::File::create(&running).expect("create");
    rustix::fs::flock(&held, rustix::fs::FlockOperation::LockExclusive).expect("lock");
    // Not a regular file.
    let link = path("ASymlink0000");
    std::os::unix::fs::symlink("victim", &link).expect("symlink");

    let output = run(setup.command());
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        !killed.exists(),
        "the killed run's temp file was not removed"
    );
    for file in &theirs {
        assert_eq!(std::fs::metadata(file).expect("theirs stays").uid(), 4242);
    }
    assert!(running.exists(), "a locked temp file was removed");
    assert!(
        std::fs::symlink_metadata(&link).is_ok(),
        "the symlink was removed"
    );
    drop(held);
}

#[test]
fn a_signal_after_the_zone_was_written_says_what_was_changed() {
    let setup = setup(20);
    std::fs::write(&setup.output, "old\n").expect("old");
    // stdout is a full pipe: the run blocks on its last line, which it
    // prints after both files are renamed; then the signal comes.
    let fifo = setup.hsm.dir().join("stdout.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let mut pipe = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .expect("fifo");
    std::io::Write::write_all(&mut pipe, &[b'x'; 65536]).expect("fill the pipe");
    let stdout = std::fs::OpenOptions::new()
        .write(true)
        .open(&fifo)
        .expect("fifo");
    let mut command = setup.command();
    command.stdout(stdout);
    let child = command.spawn().expect("spawn");
    let started = std::time::Instant::now();
    while std::fs::read(&setup.output).expect("output") == b"old\n" {
        assert!(
            started.elapsed().as_secs() < 60,
            "the zone was never written"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let output = child.wait_with_output().expect("wait");
    assert_eq!(output.status.code(), Some(143), "{}", stderr(&output));
    let stderr = stderr(&output);
    assert!(!stderr.contains("no output file was changed"), "{stderr}");
    assert!(
        stderr.contains("big.zone.signed'") && stderr.contains("dsset-example.com.'"),
        "{stderr}"
    );
    drop(pipe);
}
