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
