//! Writing results: buffered stdout (flushed once, a closed pipe is not an
//! error) and atomic file replacement (temp file in the same directory,
//! fsync, rename), so a failure never leaves a half-written file.

use crate::error::{Error, Result};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

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
    let temp = directory.join(format!(
        ".{}.tmp-{}",
        file_name.to_string_lossy(),
        std::process::id()
    ));
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
        let temp = directory.join(format!(
            ".{}.tmp-{}",
            file_name.to_string_lossy(),
            std::process::id()
        ));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)
            .map_err(|e| Error::io(temp.display().to_string(), e))?;
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
    }
}
