//! Starting threads without panicking: `std::thread::scope`'s `spawn`
//! panics when the system cannot create a thread (a process or memory
//! limit, a container's pids cgroup), which would end a signing run with
//! exit 101 and no message. These helpers turn that into an error.

use crate::error::{Error, Result};
use std::thread::{Scope, ScopedJoinHandle};

/// Starts `body` on a new thread of `scope`; `what` names the thread's job
/// for the error ("a signing", "a verifier").
pub fn spawn_scoped<'scope, 'env, T: Send + 'scope>(
    scope: &'scope Scope<'scope, 'env>,
    what: &str,
    body: impl FnOnce() -> T + Send + 'scope,
) -> Result<ScopedJoinHandle<'scope, T>> {
    std::thread::Builder::new()
        .spawn_scoped(scope, body)
        .map_err(|e| Error::Failed(format!("cannot start {what} thread: {e}")))
}

/// Starts `body` on a new detached thread.
pub fn spawn<T: Send + 'static>(
    what: &str,
    body: impl FnOnce() -> T + Send + 'static,
) -> Result<std::thread::JoinHandle<T>> {
    std::thread::Builder::new()
        .spawn(body)
        .map_err(|e| Error::Failed(format!("cannot start {what} thread: {e}")))
}
