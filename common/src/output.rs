//! Writing results: buffered stdout (flushed once, a closed pipe is not an
//! error) and atomic file replacement (temp file in the same directory,
//! fsync, rename), so a failure never leaves a half-written file.
//!
//! Output directories may be writable by other accounts (Debian's
//! `/var/cache/bind` is root:bind 775), so a temp file's name is random and
//! it is made with `O_CREAT|O_EXCL|O_NOFOLLOW`: a planted file or symlink is
//! never opened, only stepped around. Its mode is set explicitly (the umask
//! does not choose who can read a zone or a `.private`). While it is
//! written it is `flock`ed: that, not a PID (which another user can fake and
//! another PID namespace can share), tells a later run that it is stale.

use crate::error::{Error, Result};
use rustix::fs::FlockOperation;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What this run has on disk: temp files being written (removed if a
/// signal ends the run) and the targets already replaced (for a truthful
/// message). One lock for both: the signal thread takes it and exits while
/// holding it, so no rename can happen after its message.
struct State {
    temps: Vec<PathBuf>,
    written: Vec<PathBuf>,
}

static STATE: Mutex<State> = Mutex::new(State {
    temps: Vec::new(),
    written: Vec::new(),
});

fn state() -> std::sync::MutexGuard<'static, State> {
    // A panic while holding the lock does not make the lists wrong.
    STATE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn register_temp(path: &Path) {
    state().temps.push(path.to_path_buf());
}

fn unregister_temp(path: &Path) {
    state().temps.retain(|p| p != path);
}

/// On SIGINT, SIGTERM or SIGHUP: remove the temporary files being written
/// (the files they were to replace stay as they were), say on one line
/// what was already written, and exit with 128 + the signal number, as a
/// shell would report it. std has no safe signal API; signal-hook's
/// iterator runs the clean-up in an ordinary thread, not in a signal handler.
///
/// Fails (rather than going on unprotected) when the handler cannot be
/// installed or its thread cannot start: a run that cannot start one
/// thread could not sign either.
pub fn remove_temp_files_on_signals(tool: &'static str) -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(|e| Error::Failed(format!("cannot handle signals: {e}")))?;
    crate::threads::spawn("the signal-handling", move || {
        if let Some(signal) = signals.forever().next() {
            let state = state();
            for file in state.temps.iter() {
                let _ = std::fs::remove_file(file);
            }
            crate::cli::write_stderr(&format!(
                "{tool}: {}",
                signal_message(signal, &state.written)
            ));
            // _exit, not exit: exit runs the PKCS#11 module's static
            // destructors while other threads are still inside it, which
            // can crash the process (seen with SoftHSM2 mid-signing).
            // The state lock stays held: no file is renamed after this.
            signal_hook::low_level::exit(128 + signal);
        }
    })?;
    Ok(())
}

/// The line printed when signal `signal` ends a run that has already
/// written (renamed into place) the files `written`.
pub fn signal_message(signal: i32, written: &[PathBuf]) -> String {
    if written.is_empty() {
        return format!("interrupted by signal {signal}: no output file was changed");
    }
    let names: Vec<String> = written
        .iter()
        .map(|p| format!("'{}'", p.display()))
        .collect();
    format!(
        "interrupted by signal {signal}: {} {} already written; no other output file was changed",
        names.join(", "),
        if names.len() == 1 { "was" } else { "were" }
    )
}

/// Random characters in a temp file's name: 62^12 names, and the name is
/// never reused (`O_EXCL`), so one cannot be planted in advance.
const RANDOM_CHARS: usize = 12;

/// `.NAME.tmp-` — what our temp files for `NAME` start with.
fn temp_prefix(file_name: &std::ffi::OsStr) -> String {
    format!(".{}.tmp-", file_name.to_string_lossy())
}

/// Whether `name` is one of our temp files for the file whose prefix is given.
fn is_temp_name(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix).is_some_and(|rest| {
        rest.len() == RANDOM_CHARS && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// Removes temporary files for `file_name` left by runs that were killed,
/// so that they do not pile up. Only our own name pattern, only regular
/// files, only our own (another account's file is theirs to judge), and
/// only those no process holds the lock of (a run writing now holds it).
fn remove_stale_temp_files(directory: &Path, file_name: &std::ffi::OsStr) {
    let prefix = temp_prefix(file_name);
    let Ok(entries) = std::fs::read_dir(directory) else {
        return;
    };
    let uid = rustix::process::geteuid().as_raw();
    for entry in entries.flatten() {
        if !is_temp_name(&entry.file_name().to_string_lossy(), &prefix) {
            continue;
        }
        let path = entry.path();
        let Ok(seen) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if !seen.file_type().is_file() || seen.uid() != uid {
            continue;
        }
        // O_NONBLOCK: a FIFO swapped in after the check must not hang us;
        // what was opened is checked again.
        let Ok(file) = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nofollow() | rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(&path)
        else {
            continue;
        };
        let Ok(opened) = file.metadata() else {
            continue;
        };
        if !opened.file_type().is_file() || opened.uid() != uid {
            continue;
        }
        if rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
            continue;
        }
        // Removed only if the name still holds the file we locked.
        if same_file(&file, &path) {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Waits for an exclusive `flock` (a cleaner holds one only briefly).
/// rustix, not `File::lock`: that needs Rust 1.89, above our rust-version.
fn lock(file: &File) -> std::io::Result<()> {
    loop {
        match rustix::fs::flock(file, FlockOperation::LockExclusive) {
            Err(rustix::io::Errno::INTR) => continue,
            result => return result.map_err(std::io::Error::from),
        }
    }
}

fn nofollow() -> i32 {
    rustix::fs::OFlags::NOFOLLOW.bits() as i32
}

/// Whether `path` (not following a symlink) names the open `file`.
fn same_file(file: &File, path: &Path) -> bool {
    match (file.metadata(), std::fs::symlink_metadata(path)) {
        (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
        _ => false,
    }
}

/// The directory `path` is in ("." for a bare name).
fn directory_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Makes a locked temp file with mode `mode` in `directory`, for `file_name`.
fn create_temp(
    directory: &Path,
    file_name: &std::ffi::OsStr,
    mode: u32,
) -> std::io::Result<tempfile::NamedTempFile> {
    let prefix = temp_prefix(file_name);
    // A cleaner of another run may lock and remove our file between its
    // creation and our lock; then the name is gone and we make another.
    for _ in 0..10 {
        let temp = tempfile::Builder::new()
            .prefix(&prefix)
            .rand_bytes(RANDOM_CHARS)
            .make_in(directory, |path| {
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(mode)
                    .custom_flags(nofollow())
                    .open(path)
            })?;
        register_temp(temp.path());
        if let Err(error) = lock(temp.as_file()) {
            unregister_temp(temp.path());
            return Err(error);
        }
        if !same_file(temp.as_file(), temp.path()) {
            unregister_temp(temp.path());
            // Not ours any more: keep tempfile from removing that name.
            let _ = temp.into_temp_path().keep();
            continue;
        }
        // The mode is ours, not the umask's: 0644 for what named reads,
        // 0600 for a private key file.
        if let Err(error) = temp
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
        {
            unregister_temp(temp.path());
            return Err(error);
        }
        return Ok(temp);
    }
    Err(std::io::Error::other(
        "temporary files keep disappearing; is another run cleaning this directory?",
    ))
}

/// Buffered standard output. Errors are reported as I/O errors on
/// "stdout", which the `main` wrapper treats as success for a closed pipe.
pub struct Stdout {
    writer: BufWriter<std::io::StdoutLock<'static>>,
}

impl Stdout {
    /// Locks and buffers stdout.
    pub fn new() -> Stdout {
        Stdout {
            writer: BufWriter::with_capacity(64 * 1024, std::io::stdout().lock()),
        }
    }

    /// Writes raw bytes (labels are printed as the token holds them).
    pub fn bytes(&mut self, bytes: &[u8]) -> Result<()> {
        self.writer.write_all(bytes).map_err(stdout_error)
    }

    /// Writes text.
    pub fn text(&mut self, text: &str) -> Result<()> {
        self.bytes(text.as_bytes())
    }

    /// Writes text and a newline.
    pub fn line(&mut self, text: &str) -> Result<()> {
        self.text(text)?;
        self.bytes(b"\n")
    }

    /// Flushes now (before a pause, a prompt, or the end).
    pub fn flush(&mut self) -> Result<()> {
        self.writer.flush().map_err(stdout_error)
    }
}

/// For writers that report their own errors (a zone is written through
/// `dyn Write`).
impl Write for Stdout {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.writer.write(bytes)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.writer.flush()
    }
}

impl Default for Stdout {
    fn default() -> Self {
        Stdout::new()
    }
}

fn stdout_error(error: std::io::Error) -> Error {
    Error::io("stdout", error)
}

/// Writes `content` to `path` atomically: a temp file next to it is
/// written, synced and renamed over it. With `private`, the file gets mode
/// 0600, else 0644. An existing file is replaced only when `replace` is
/// true (and then never by a rename that could race with the check).
pub fn write_file_atomically(
    path: &Path,
    content: &[u8],
    private: bool,
    replace: bool,
) -> Result<()> {
    let mode = if private { 0o600 } else { 0o644 };
    let mut file = if replace {
        AtomicFile::create_with_mode(path, mode)?
    } else {
        AtomicFile::create_new(path, mode)?
    };
    file.write_all(content)
        .map_err(|e| Error::io(path.display().to_string(), e))?;
    file.commit()
}

/// Writes `text` to `file`, committed (renamed into place) when complete,
/// or to stdout without one: a tool's `-f FILE` or standard output.
pub fn write_text_or_stdout(file: Option<AtomicFile>, text: &str) -> Result<()> {
    match file {
        Some(mut file) => {
            let shown = file.path().display().to_string();
            file.write_all(text.as_bytes())
                .and_then(|()| file.flush())
                .map_err(|e| Error::io(shown, e))?;
            file.commit()
        }
        None => {
            let mut stdout = Stdout::new();
            stdout.text(text)?;
            stdout.flush()
        }
    }
}

/// A file written in place of `path` only when complete: the content goes
/// to a temporary file in the same directory, which [`AtomicFile::commit`]
/// (or [`commit_all`] for files that belong together) syncs and renames
/// over `path`. Dropped without a commit (an error, a panic), the temporary
/// file is removed and `path` is untouched.
pub struct AtomicFile {
    path: PathBuf,
    temp_path: PathBuf,
    writer: Option<BufWriter<tempfile::NamedTempFile>>,
    /// Whether an existing `path` may be replaced (zone, dsset) or must not
    /// be (K-files).
    replace: bool,
}

impl AtomicFile {
    /// Starts writing the new content of `path`, mode 0644 (a zone, a
    /// dsset: named and others read them).
    pub fn create(path: &Path) -> Result<AtomicFile> {
        AtomicFile::create_with_mode(path, 0o644)
    }

    /// Starts writing the new content of `path` with mode `mode`.
    pub fn create_with_mode(path: &Path, mode: u32) -> Result<AtomicFile> {
        AtomicFile::open(path, mode, true)
    }

    /// Starts writing `path`, which must not exist when it is committed:
    /// the commit installs it without ever replacing a file (a check
    /// before a rename could race with another writer).
    pub fn create_new(path: &Path, mode: u32) -> Result<AtomicFile> {
        AtomicFile::open(path, mode, false)
    }

    fn open(path: &Path, mode: u32, replace: bool) -> Result<AtomicFile> {
        let shown = path.display().to_string();
        let file_name = path
            .file_name()
            .ok_or_else(|| Error::Failed(format!("'{shown}' is not a file name")))?;
        let directory = directory_of(path);
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.is_dir() => {
                return Err(Error::Failed(format!("'{shown}' is a directory")));
            }
            Ok(_) if !replace => {
                return Err(Error::Failed(format!("'{shown}' already exists")));
            }
            _ => {}
        }
        remove_stale_temp_files(&directory, file_name);
        let temp = create_temp(&directory, file_name, mode)
            .map_err(|e| Error::io(directory.display().to_string(), e))?;
        Ok(AtomicFile {
            path: path.to_path_buf(),
            temp_path: temp.path().to_path_buf(),
            writer: Some(BufWriter::with_capacity(1 << 16, temp)),
            replace,
        })
    }

    /// Flushes, syncs and renames the temporary file over the target.
    pub fn commit(self) -> Result<()> {
        commit_all(vec![self])
    }

    /// The file being replaced (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes and syncs the content: after this only the rename is left.
    fn sync(&mut self) -> Result<()> {
        let shown = self.path.display().to_string();
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| Error::Failed(format!("'{shown}' was already written")))?;
        writer
            .flush()
            .and_then(|()| writer.get_ref().as_file().sync_all())
            .map_err(|e| Error::io(shown, e))
    }

    /// Renames the synced temp file to the target (the caller holds the
    /// state lock). Returns the open file, to undo an install.
    fn install(&mut self) -> std::io::Result<File> {
        let writer = self
            .writer
            .take()
            .ok_or_else(|| std::io::Error::other("already written"))?;
        let temp = writer.into_inner().map_err(|e| e.into_error())?;
        let installed = if self.replace {
            temp.persist(&self.path)
        } else {
            // renameat2(RENAME_NOREPLACE), or link + unlink where the file
            // system lacks it: an existing file is never replaced.
            temp.persist_noclobber(&self.path)
        };
        // On failure the returned temp file is dropped here: removed.
        installed.map_err(|e| e.error)
    }
}

/// Makes `files` the new content of their targets, as far as a file
/// system allows, all or nothing: every file is written and synced before
/// the first is renamed, and a signal cannot come between the renames.
/// Files that must not replace anything (K-files) are removed again if a
/// later one fails; a replaced file cannot be put back, and the error then
/// names what was already replaced. Temp files never stay behind.
pub fn commit_all(mut files: Vec<AtomicFile>) -> Result<()> {
    for file in files.iter_mut() {
        file.sync()?;
    }
    let mut installed: Vec<(PathBuf, File, bool)> = Vec::new();
    let mut failure = None;
    {
        let mut state = state();
        for file in files.iter_mut() {
            let result = file.install();
            state.temps.retain(|p| p != &file.temp_path);
            match result {
                Ok(open) => {
                    state.written.push(file.path.clone());
                    installed.push((file.path.clone(), open, file.replace));
                }
                Err(error) => {
                    failure = Some(Error::io(file.path.display().to_string(), error));
                    break;
                }
            }
        }
        if failure.is_some() {
            // A new file we just installed goes again (if it is still the
            // file we wrote); a replaced one cannot.
            installed.retain(|(path, open, replace)| {
                if !*replace && same_file(open, path) && std::fs::remove_file(path).is_ok() {
                    state.written.retain(|p| p != path);
                    return false;
                }
                true
            });
        }
    }
    // Make the renames themselves durable.
    let mut directories: Vec<PathBuf> = installed.iter().map(|(p, _, _)| directory_of(p)).collect();
    directories.dedup();
    for directory in directories {
        if let Ok(dir) = File::open(&directory) {
            let _ = dir.sync_all();
        }
    }
    match failure {
        None => Ok(()),
        Some(error) if installed.is_empty() => Err(error),
        Some(error) => {
            let names: Vec<String> = installed
                .iter()
                .map(|(p, _, _)| format!("'{}'", p.display()))
                .collect();
            Err(Error::Failed(format!(
                "{error} ({} already written)",
                names.join(", ")
            )))
        }
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.writer.as_mut() {
            Some(writer) => writer.write(buf),
            None => Err(std::io::Error::other("file already committed")),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.writer.as_mut() {
            Some(writer) => writer.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        // The NamedTempFile in the writer removes the temp file as it drops.
        self.writer.take();
        unregister_temp(&self.temp_path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signal_message_names_what_was_written() {
        assert_eq!(
            signal_message(15, &[]),
            "interrupted by signal 15: no output file was changed"
        );
        assert_eq!(
            signal_message(2, &[PathBuf::from("db.signed")]),
            "interrupted by signal 2: 'db.signed' was already written; no other output file was changed"
        );
        assert_eq!(
            signal_message(1, &[PathBuf::from("a"), PathBuf::from("b")]),
            "interrupted by signal 1: 'a', 'b' were already written; no other output file was changed"
        );
    }

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_pair_whose_second_file_cannot_be_installed_leaves_nothing() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let (first, second) = (dir.path().join("K.private"), dir.path().join("K.key"));
        let mut files = Vec::new();
        for path in [&first, &second] {
            let mut file = AtomicFile::create_new(path, 0o600)?;
            file.write_all(b"ours\n")
                .map_err(|e| Error::io("write", e))?;
            files.push(file);
        }
        // Another writer takes the second name after our check.
        std::fs::write(&second, "theirs\n").map_err(|e| Error::io("write", e))?;
        let error = commit_all(files).err().map(|e| e.to_string());
        assert!(
            error.as_deref().is_some_and(|e| e.contains("K.key")),
            "{error:?}"
        );
        assert_eq!(names_in(dir.path()), ["K.key"]);
        let theirs = std::fs::read_to_string(&second).map_err(|e| Error::io("read", e))?;
        assert_eq!(theirs, "theirs\n");
        assert!(!state().written.contains(&first));
        Ok(())
    }

    #[test]
    fn a_commit_that_fails_leaves_no_temp_file() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let path = dir.path().join("db.signed");
        let mut file = AtomicFile::create(&path)?;
        file.write_all(b"zone\n")
            .map_err(|e| Error::io("write", e))?;
        // The target became a directory during the run: rename fails.
        std::fs::create_dir(&path).map_err(|e| Error::io("mkdir", e))?;
        assert!(file.commit().is_err());
        assert_eq!(names_in(dir.path()), ["db.signed"]);
        Ok(())
    }

    #[test]
    fn two_writers_of_one_file_do_not_share_a_temp_file() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let path = dir.path().join("db.signed");
        let mut first = AtomicFile::create(&path)?;
        let mut second = AtomicFile::create(&path)?;
        first
            .write_all(b"first\n")
            .map_err(|e| Error::io("write", e))?;
        second
            .write_all(b"second\n")
            .map_err(|e| Error::io("write", e))?;
        first.commit()?;
        second.commit()?;
        let now = std::fs::read_to_string(&path).map_err(|e| Error::io("read", e))?;
        assert_eq!(now, "second\n");
        assert_eq!(names_in(dir.path()), ["db.signed"]);
        Ok(())
    }

    #[test]
    fn only_our_temp_names_match() {
        let prefix = temp_prefix(std::ffi::OsStr::new("db.signed"));
        assert!(is_temp_name(".db.signed.tmp-Ab3dEf9hIjK0", &prefix));
        assert!(!is_temp_name(".db.signed.tmp-12345", &prefix));
        assert!(!is_temp_name(".db.signed.tmp-Ab3dEf9hIjK0x", &prefix));
        assert!(!is_temp_name(".db.signed.tmp-Ab3dEf9hIj.0", &prefix));
        assert!(!is_temp_name("db.signed", &prefix));
    }
}
