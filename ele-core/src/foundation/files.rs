//! Atomic file writes: a file is either its old content or its new one, never half written.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::error::{Error, Result};

/// Writes `value` as JSON to a temp file next to `path`, syncs it, and renames it over `path`.
pub fn write_json_atomically<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    // Unique per writer, so concurrent runs of one pipeline never rename each other's half-written files.
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("{}.{seq}.tmp", std::process::id()));
    let bytes = serde_json::to_vec_pretty(value)?;
    let mut f = File::create(&tmp).map_err(|e| Error::io("cannot write", &tmp, e))?;
    f.write_all(&bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io("cannot write", &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| Error::io("cannot replace", path, e))?;
    Ok(())
}
