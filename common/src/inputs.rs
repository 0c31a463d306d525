//! Opening input files that another account may have planted or may swap
//! while we look (key files, included zone files): regular files only,
//! opened without blocking (a FIFO or a tty swapped in after a check must
//! not hang a cron run), never on a kernel pseudo file system (`/proc`
//! holds the environment, and with it the PIN), and checked as opened,
//! so that nothing can be swapped in between the check and the read.

use rustix::fs::{Mode, OFlags};
use std::path::Path;

/// statfs(2) f_type of the pseudo file systems never read as input
/// (linux/magic.h: PROC_SUPER_MAGIC, SYSFS_MAGIC, DEBUGFS_MAGIC,
/// SECURITYFS_MAGIC, CGROUP2_SUPER_MAGIC).
pub const FORBIDDEN_FS: [u64; 5] = [0x9fa0, 0x6265_6572, 0x6462_6720, 0x7363_6673, 0x6367_7270];

/// Why an input file was refused.
#[derive(Debug)]
pub enum Refusal {
    /// A symbolic link, where links are not followed.
    SymbolicLink,
    /// A directory, FIFO, device or socket.
    NotRegular,
    /// A file of `/proc`, `/sys` and the like.
    PseudoFileSystem,
    /// The file could not be opened or examined.
    Io(std::io::Error),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::SymbolicLink => f.write_str("is a symbolic link"),
            Refusal::NotRegular => f.write_str("is not a regular file"),
            Refusal::PseudoFileSystem => {
                f.write_str("is on a kernel pseudo file system (/proc, /sys, ...)")
            }
            Refusal::Io(error) => write!(f, "{}", crate::error::io_reason(error)),
        }
    }
}

/// Opens `path` for reading if it is a regular file of an ordinary file
/// system; with `follow_links` false, a symbolic link is refused too.
pub fn open_regular(path: &Path, follow_links: bool) -> Result<std::fs::File, Refusal> {
    let mut flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    if !follow_links {
        flags |= OFlags::NOFOLLOW;
    }
    let fd = rustix::fs::open(path, flags, Mode::empty()).map_err(|errno| {
        if errno == rustix::io::Errno::LOOP && !follow_links {
            Refusal::SymbolicLink
        } else {
            Refusal::Io(errno.into())
        }
    })?;
    checked(fd)
}

/// The opened file `fd`, if it is a regular file of an ordinary file
/// system (checked on the descriptor, so nothing can be swapped in).
pub fn checked(fd: rustix::fd::OwnedFd) -> Result<std::fs::File, Refusal> {
    let stat = rustix::fs::fstat(&fd).map_err(|e| Refusal::Io(e.into()))?;
    if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::RegularFile {
        return Err(Refusal::NotRegular);
    }
    let fs = rustix::fs::fstatfs(&fd).map_err(|e| Refusal::Io(e.into()))?;
    #[allow(clippy::unnecessary_cast)] // f_type's width differs by target
    if FORBIDDEN_FS.contains(&(fs.f_type as u64)) {
        return Err(Refusal::PseudoFileSystem);
    }
    Ok(std::fs::File::from(fd))
}
