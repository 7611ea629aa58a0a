//! The pipeline's working directory, the one owner of its layout:
//!
//! ```text
//! <pipelines dir>/<pipeline>/
//!   state.json                      the state as last committed to the destination
//!   last_destination.json           where the last load went (kind, location; never credentials)
//!   schemas/<schema>.schema.json    the schema as last committed
//!   load/new/<load id>/             a package being written (locked by its writer: `.lock`)
//!   load/normalized/<load id>/      a complete package waiting to be loaded
//!   load/loaded/<load id>/          a loaded package (its manifest only)
//! ```

use std::fs::{File, OpenOptions, TryLockError};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::foundation::error::{Error, Result};
use crate::foundation::files::write_json_atomically;
use crate::model::schema::Schema;
use crate::model::state::PipelineState;

/// Where a pipeline last loaded, as its working dir remembers it: the destination's kind and location (never
/// credentials), and the directory of the managed local instance when it was that.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastDestination {
    /// The destination type (`postgres`).
    pub kind: String,
    /// Where the data went, without a password.
    pub location: String,
    /// The managed local instance's directory, when the destination was that instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_instance: Option<PathBuf>,
}

/// The working directory of one pipeline.
#[derive(Debug, Clone)]
pub(crate) struct WorkingDir {
    root: PathBuf,
}

impl WorkingDir {
    pub(crate) fn new(root: PathBuf) -> Self {
        WorkingDir { root }
    }

    /// The directory itself.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Packages being written.
    pub(crate) fn new_packages(&self) -> PathBuf {
        self.root.join("load").join("new")
    }

    /// Complete packages waiting to be loaded.
    pub(crate) fn normalized_packages(&self) -> PathBuf {
        self.root.join("load").join("normalized")
    }

    /// Loaded packages.
    pub(crate) fn loaded_packages(&self) -> PathBuf {
        self.root.join("load").join("loaded")
    }

    /// The file of the schema named `schema_name`.
    pub(crate) fn schema_file(&self, schema_name: &str) -> PathBuf {
        self.root
            .join("schemas")
            .join(format!("{schema_name}.schema.json"))
    }

    /// The local state's file.
    pub(crate) fn state_file(&self) -> PathBuf {
        self.root.join("state.json")
    }

    /// The local state, `None` when there is none.
    pub(crate) fn read_state(&self) -> Result<Option<PipelineState>> {
        PipelineState::read_file(&self.state_file())
    }

    /// Replaces the local state.
    pub(crate) fn write_state(&self, state: &PipelineState) -> Result<()> {
        create_dir(&self.root)?;
        state.write_file(&self.state_file())
    }

    /// The schema named `schema_name`, `None` when there is none.
    pub(crate) fn read_schema(&self, schema_name: &str) -> Result<Option<Schema>> {
        let path = self.schema_file(schema_name);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| Error::Corrupt {
                    what: "schema",
                    message: e.to_string(),
                    path,
                }),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("cannot read", &path, e)),
        }
    }

    /// Where the last load of this working dir went, `None` before the first.
    pub(crate) fn read_last_destination(&self) -> Result<Option<LastDestination>> {
        let path = self.root.join("last_destination.json");
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| Error::Corrupt {
                    what: "last destination",
                    message: e.to_string(),
                    path,
                }),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("cannot read", &path, e)),
        }
    }

    /// Records where a load went, unless it is already recorded.
    pub(crate) fn write_last_destination(&self, last: &LastDestination) -> Result<()> {
        if self.read_last_destination().ok().flatten().as_ref() == Some(last) {
            return Ok(());
        }
        create_dir(&self.root)?;
        write_json_atomically(&self.root.join("last_destination.json"), last)
    }

    /// Replaces the schema stored under its name.
    pub(crate) fn write_schema(&self, schema: &Schema) -> Result<()> {
        let path = self.schema_file(&schema.name);
        if let Some(dir) = path.parent() {
            create_dir(dir)?;
        }
        write_json_atomically(&path, schema)
    }
}

/// Package directories under `dir`, oldest load id first; none when `dir` does not exist.
pub(crate) fn package_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("cannot read", dir, e)),
    };
    let mut dirs: Vec<(f64, PathBuf)> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("cannot read", dir, e))?;
        if !entry.path().is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        dirs.push((name.parse::<f64>().unwrap_or(f64::MAX), entry.path()));
    }
    dirs.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(dirs.into_iter().map(|(_, d)| d).collect())
}

/// The load ids of the packages under `dir`, oldest first.
pub(crate) fn package_ids(dir: &Path) -> Result<Vec<String>> {
    Ok(package_dirs(dir)?
        .iter()
        .filter_map(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect())
}

/// Locks a package directory for this process (`<dir>/.lock`); `None` when another process holds it or the
/// package is gone.
pub(crate) fn try_lock_package(dir: &Path) -> Result<Option<File>> {
    let path = dir.join(".lock");
    let file = match OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("cannot open lock file", &path, e)),
    };
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(Error::io("cannot lock", &path, e)),
    }
}

/// Creates `dir` and its parents.
pub(crate) fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create directory", dir, e))
}

/// Removes `dir` with its content, if it exists.
pub(crate) fn remove_dir_if_exists(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("cannot remove", dir, e)),
    }
}

/// Removes the file at `path`, if it exists.
pub(crate) fn remove_file_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("cannot remove", path, e)),
    }
}
