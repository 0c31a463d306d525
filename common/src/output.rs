//! Writing results: buffered stdout (flushed once, a closed pipe is not an
//! error) and atomic file replacement (temp file in the same directory,
//! fsync, rename), so a failure never leaves a half-written file.

use crate::error::{Error, Result};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Temporary files being written now: removed if a signal ends the run.
static TEMP_FILES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn register_temp(path: &Path) {
    if let Ok(mut files) = TEMP_FILES.lock() {
        files.push(path.to_path_buf());
    }
}

fn unregister_temp(path: &Path) {
    if let Ok(mut files) = TEMP_FILES.lock() {
        files.retain(|p| p != path);
    }
}

/// On SIGINT, SIGTERM or SIGHUP: remove the temporary files being written
/// (the files they were to replace stay as they were), say so on one line,
/// and exit with 128 + the signal number, as a shell would report it.
/// std has no safe signal API; signal-hook's iterator runs the clean-up in
/// an ordinary thread, not in a signal handler.
pub fn remove_temp_files_on_signals(tool: &'static str) {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            if let Ok(files) = TEMP_FILES.lock() {
                for file in files.iter() {
                    let _ = std::fs::remove_file(file);
                }
            }
            eprintln!("{tool}: interrupted by signal {signal}: no output file was changed");
            // _exit, not exit: exit runs the PKCS#11 module's static
            // destructors while other threads are still inside it, which
            // can crash the process (seen with SoftHSM2 mid-signing).
            signal_hook::low_level::exit(128 + signal);
        }
    });
}

/// The temporary file next to `path` that this process writes.
fn temp_path(directory: &Path, file_name: &std::ffi::OsStr) -> PathBuf {
    directory.join(format!(
        ".{}.tmp-{}",
        file_name.to_string_lossy(),
        std::process::id()
    ))
}

/// Removes temporary files for `file_name` left by runs that were killed
/// (their process no longer exists), so that they do not pile up.
fn remove_stale_temp_files(directory: &Path, file_name: &std::ffi::OsStr) {
    let prefix = format!(".{}.tmp-", file_name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(directory) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(&prefix) else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
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
/// written, synced and renamed over it. With `private`, the file is made
/// with mode 0600 from the start. An existing file is replaced only when
/// `replace` is true.
pub fn write_file_atomically(
    path: &Path,
    content: &[u8],
    private: bool,
    replace: bool,
) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let shown = path.display().to_string();
    if !replace && path.exists() {
        return Err(Error::Failed(format!("'{shown}' already exists")));
    }
    let directory = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| Error::Failed(format!("'{shown}' is not a file name")))?;
    remove_stale_temp_files(&directory, file_name);
    let temp = temp_path(&directory, file_name);
    register_temp(&temp);
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(if private { 0o600 } else { 0o644 })
            .open(&temp)?;
        file.write_all(content)?;
        file.sync_all()?;
        if !replace && path.exists() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "file exists",
            ));
        }
        std::fs::rename(&temp, path)?;
        // Make the rename itself durable.
        if let Ok(dir) = std::fs::File::open(&directory) {
            let _ = dir.sync_all();
        }
        Ok(())
    })();
    unregister_temp(&temp);
    if let Err(error) = result {
        let _ = std::fs::remove_file(&temp);
        return Err(Error::io(shown, error));
    }
    Ok(())
}

/// A file written in place of `path` only when complete: the content goes
/// to a temporary file in the same directory, which [`AtomicFile::commit`]
/// syncs and renames over `path`. Dropped without a commit (an error, a
/// panic), the temporary file is removed and `path` is untouched.
pub struct AtomicFile {
    path: PathBuf,
    temp: PathBuf,
    writer: Option<BufWriter<std::fs::File>>,
}

impl AtomicFile {
    /// Starts writing the new content of `path`.
    pub fn create(path: &Path) -> Result<AtomicFile> {
        let shown = path.display().to_string();
        let directory = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let file_name = path
            .file_name()
            .ok_or_else(|| Error::Failed(format!("'{shown}' is not a file name")))?;
        remove_stale_temp_files(&directory, file_name);
        let temp = temp_path(&directory, file_name);
        register_temp(&temp);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)
            .map_err(|e| {
                unregister_temp(&temp);
                Error::io(temp.display().to_string(), e)
            })?;
        Ok(AtomicFile {
            path: path.to_path_buf(),
            temp,
            writer: Some(BufWriter::with_capacity(1 << 16, file)),
        })
    }

    /// Flushes, syncs and renames the temporary file over the target.
    pub fn commit(mut self) -> Result<()> {
        let shown = self.path.display().to_string();
        let writer = self
            .writer
            .take()
            .ok_or_else(|| Error::Failed(format!("'{shown}' was already written")))?;
        let result = (|| {
            let file = writer.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            std::fs::rename(&self.temp, &self.path)?;
            unregister_temp(&self.temp);
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                if let Ok(dir) = std::fs::File::open(dir) {
                    let _ = dir.sync_all();
                }
            }
            Ok::<(), std::io::Error>(())
        })();
        result.map_err(|e| Error::io(shown, e))
    }

    /// The file being replaced (for messages).
    pub fn path(&self) -> &Path {
        &self.path
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
        if self.writer.take().is_some() {
            let _ = std::fs::remove_file(&self.temp);
        }
        unregister_temp(&self.temp);
    }
}
