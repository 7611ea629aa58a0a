//! All the `unsafe` code of the local clusters, in one place. The workspace denies `unsafe_code`; this module
//! alone allows it, for two libc calls the standard library does not offer:
//!
//! - `geteuid(2)`, to know whether we are root: `initdb` refuses to run as root, so the server tools then run
//!   as the `postgres` OS user. It takes no arguments, touches no memory of ours and cannot fail.
//! - `atexit(3)`, to stop throwaway clusters when the process exits normally: a `static` cluster (shared by
//!   the tests of a binary) is never dropped. It only stores a function pointer, which lives forever; an
//!   `extern "C" fn` that panics aborts the process instead of unwinding into libc, so any such function is
//!   sound to register (the registered one also catches panics itself).
#![allow(unsafe_code)]

/// The effective user id of this process.
pub(super) fn effective_uid() -> u32 {
    // SAFETY: see the module documentation: geteuid(2) has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Registers `handler` to run when the process exits normally; false when it could not be registered.
pub(super) fn at_exit(handler: extern "C" fn()) -> bool {
    // SAFETY: see the module documentation: atexit(3) only stores the ('static) function pointer, and an
    // `extern "C" fn` never unwinds into its caller.
    unsafe { libc::atexit(handler) == 0 }
}
