//! A cluster's root directory: where it may live (short enough for a socket path, reachable by the server
//! user), making it private to that user, the managed instance's directory (with its lock and a recorded
//! fallback location) and fresh directories for throwaway clusters.

use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::error::{LocalError, io_error};
use super::process::ServerUser;
use super::settings::{MAX_ROOT_LEN, SERVER_USER};
use super::sys::effective_uid;

/// The uid that must own a cluster's root directory.
fn owner_uid(user: Option<&ServerUser>) -> u32 {
    user.map_or_else(effective_uid, |u| u.uid)
}

/// Whether `dir` and all its ancestors are traversable by `user` (with the credentials `Command::uid/gid`
/// gives: no supplementary groups). Always true when not root.
pub(super) fn traversable_by(dir: &Path, user: Option<&ServerUser>) -> bool {
    let Some(user) = user else { return true };
    dir.ancestors()
        .filter(|a| !a.as_os_str().is_empty())
        .all(|a| match fs::metadata(a) {
            Ok(m) => {
                let bit = if m.uid() == user.uid {
                    0o100
                } else if m.gid() == user.gid {
                    0o010
                } else {
                    0o001
                };
                m.is_dir() && m.mode() & bit != 0
            }
            Err(_) => false,
        })
}

/// Whether `root` can be a cluster root: short enough for a socket path, and free of characters that
/// `pg_ctl`'s shell command line or our quoting would not survive.
pub(super) fn usable_root(root: &Path) -> bool {
    root.to_str().is_some_and(|s| {
        root.is_absolute()
            && s.len() <= MAX_ROOT_LEN
            && !s
                .chars()
                .any(|c| c.is_control() || matches!(c, '"' | '$' | '`' | '\\'))
    })
}

/// Makes `root` private to the user the server runs as.
fn claim(root: &Path, user: Option<&ServerUser>) -> Result<(), LocalError> {
    fs::set_permissions(root, fs::Permissions::from_mode(0o700))
        .map_err(io_error("cannot set the mode of", root))?;
    if let Some(user) = user {
        std::os::unix::fs::chown(root, Some(user.uid), Some(user.gid)).map_err(io_error(
            format!("cannot give the `{SERVER_USER}` user the directory"),
            root,
        ))?;
    }
    Ok(())
}

pub(super) fn remove_if_exists(path: &Path) -> Result<(), LocalError> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_error("cannot remove", path)(e)),
        _ => Ok(()),
    }
}

/// Serializes work on one managed instance across processes; released when the file is dropped.
pub(super) fn lock_dir(dir: &Path) -> Result<fs::File, LocalError> {
    let path = dir.join(".lock");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_error("cannot open the lock file", &path))?;
    file.lock().map_err(io_error("cannot lock", &path))?;
    Ok(file)
}

/// The root recorded in `dir/location` by an earlier run, if any.
pub(super) fn recorded_location(dir: &Path) -> Result<Option<PathBuf>, LocalError> {
    let path = dir.join("location");
    match fs::read_to_string(&path) {
        Ok(text) => {
            let root = PathBuf::from(text.trim());
            if root.is_absolute() {
                Ok(Some(root))
            } else {
                Err(LocalError::Unusable(format!(
                    "`{}` should hold the absolute path of the local cluster, not {:?}: fix or remove it",
                    path.display(),
                    text.trim()
                )))
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("cannot read", &path)(e)),
    }
}

/// 64-bit FNV-1a: a short, stable name for a directory.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Where a managed instance lives when its own directory cannot hold it: under the server user's home
/// (persistent, e.g. `/var/lib/postgresql`) when we are root and it is usable, else under `/var/tmp`.
fn fallback_root(dir: &Path, user: Option<&ServerUser>) -> PathBuf {
    let name = format!("ele-postgres-{:016x}", fnv1a(dir.as_os_str().as_bytes()));
    if let Some(user) = user {
        let home_ok = fs::metadata(&user.home).is_ok_and(|m| m.is_dir() && m.uid() == user.uid);
        let root = user.home.join(&name);
        if home_ok && usable_root(&root) && traversable_by(&user.home, Some(user)) {
            return root;
        }
    }
    Path::new("/var/tmp").join(name)
}

/// Creates `root` for the server user, or checks that an existing one belongs to it.
fn ensure_root_dir(root: &Path, user: Option<&ServerUser>) -> Result<(), LocalError> {
    match fs::create_dir(root) {
        Ok(()) => claim(root, user),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let meta = fs::metadata(root).map_err(io_error("cannot inspect", root))?;
            let uid = owner_uid(user);
            if meta.is_dir() && meta.uid() == uid {
                Ok(())
            } else {
                Err(LocalError::Unusable(format!(
                    "`{}` should be a directory of uid {uid} (the user that runs the local cluster) but is not: \
                     remove it",
                    root.display()
                )))
            }
        }
        Err(e) => Err(io_error("cannot create the cluster directory", root)(e)),
    }
}

/// The root directory of the managed instance for `dir` (canonical), created if needed.
pub(super) fn managed_root(dir: &Path, user: Option<&ServerUser>) -> Result<PathBuf, LocalError> {
    if let Some(root) = recorded_location(dir)? {
        ensure_root_dir(&root, user)?;
        return Ok(root);
    }
    if dir.join("data").exists() {
        return Ok(dir.to_owned());
    }
    if usable_root(dir)
        && dir
            .parent()
            .is_none_or(|parent| traversable_by(parent, user))
    {
        claim(dir, user)?;
        return Ok(dir.to_owned());
    }
    let root = fallback_root(dir, user);
    tracing::info!(
        dir = %dir.display(),
        cluster = %root.display(),
        "the local PostgreSQL directory is unreachable for the server user or too long for a socket path; \
         keeping the cluster elsewhere"
    );
    ensure_root_dir(&root, user)?;
    let location = dir.join("location");
    fs::write(&location, format!("{}\n", root.display()))
        .map_err(io_error("cannot write", &location))?;
    Ok(root)
}

/// The root of an existing managed instance for `dir` (canonical), without creating anything.
pub(super) fn existing_managed_root(dir: &Path) -> Result<PathBuf, LocalError> {
    Ok(recorded_location(dir)?.unwrap_or_else(|| dir.to_owned()))
}

static TEMP_COUNTER: AtomicU32 = AtomicU32::new(0);

/// Where throwaway clusters go: the temp dir when the server user can reach it and it is short, else `/tmp`.
fn temp_base(user: Option<&ServerUser>) -> PathBuf {
    let dir = std::env::temp_dir();
    let dir = fs::canonicalize(&dir).unwrap_or(dir);
    let longest = dir.join(format!("ele-pg-{}-{}-{:x}", u32::MAX, u32::MAX, u32::MAX));
    if usable_root(&longest) && traversable_by(&dir, user) {
        dir
    } else {
        PathBuf::from("/tmp")
    }
}

pub(super) fn create_temp_root(user: Option<&ServerUser>) -> Result<PathBuf, LocalError> {
    let base = temp_base(user);
    let pid = std::process::id();
    loop {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let root = base.join(format!("ele-pg-{pid}-{n}-{nanos:x}"));
        match fs::create_dir(&root) {
            Ok(()) => {
                if let Err(e) = claim(&root, user) {
                    let _ = fs::remove_dir_all(&root);
                    return Err(e);
                }
                return Ok(root);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1_000_000 => continue,
            Err(e) => return Err(io_error("cannot create a temporary directory", &root)(e)),
        }
    }
}
