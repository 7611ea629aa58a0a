//! Cleaning up after throwaway clusters that are never dropped: a watchdog shell that stops the server and
//! removes the directory when this process dies in any way, and handlers run when it exits normally (statics
//! are never dropped, e.g. a test binary's shared cluster).

use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Mutex, Once, PoisonError};

use super::process::{ServerUser, command};
use super::sys;

/// Starts the watchdog of the cluster in `root`: a shell, in its own process group, blocked reading a pipe
/// only we hold (the child's stdin); when this process dies in any way the pipe closes and the shell stops the
/// server (with `pg_ctl` from `bin`) and removes `root`.
pub(super) fn spawn(bin: &Path, user: Option<&ServerUser>, root: &Path) -> io::Result<Child> {
    let script = r#"read -r _; "$1" -D "$2" -m fast -w stop >/dev/null 2>&1; rm -rf -- "$3""#;
    let mut cmd = command(Path::new("/bin/sh"), user);
    cmd.arg("-c")
        .arg(script)
        .arg("ele-postgres-watchdog")
        .arg(bin.join("pg_ctl"))
        .arg(root.join("data"))
        .arg(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Not in our process group: a Ctrl-C on the terminal must not kill it before it cleans up.
        .process_group(0);
    cmd.spawn()
}

/// Cleanups (of throwaway clusters) to run when the process exits.
static AT_EXIT: Mutex<Vec<Box<dyn FnOnce() + Send>>> = Mutex::new(Vec::new());

/// Runs `cleanup` when the process exits normally (`atexit`), even after failed tests.
pub(super) fn at_exit(cleanup: Box<dyn FnOnce() + Send>) {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        if !sys::at_exit(run_cleanups) {
            tracing::warn!(
                "cannot register the exit handler that stops throwaway PostgreSQL clusters"
            );
        }
    });
    AT_EXIT
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(cleanup);
}

extern "C" fn run_cleanups() {
    // Unwinding out of an `extern "C"` function aborts: contain any panic.
    let _ = std::panic::catch_unwind(|| {
        let cleanups = std::mem::take(&mut *AT_EXIT.lock().unwrap_or_else(PoisonError::into_inner));
        for cleanup in cleanups {
            cleanup();
        }
    });
}
