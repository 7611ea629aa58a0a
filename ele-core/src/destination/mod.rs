//! The trait a destination implements: restore what it stores, load a package in one transaction.

use std::path::PathBuf;

use futures::future::BoxFuture;

use crate::foundation::error::{Error, Result};
use crate::model::schema::Schema;
use crate::model::state::{PipelineState, StateRow};
use crate::package::{FinishedJob, LoadPackage};

pub mod memory;

/// What a destination holds about a pipeline, read at the start of a run.
#[derive(Debug, Clone, Default)]
pub struct Restored {
    /// The newest state committed by a completed load of the pipeline.
    pub state: Option<PipelineState>,
    /// The newest stored version of the pipeline's schema.
    pub schema: Option<Schema>,
    /// The dataset holds no load at the destination (it does not exist, or has no `_dlt_loads`): a local state
    /// committed elsewhere does not apply to it. A destination that cannot tell leaves it `false`.
    pub dataset_missing: bool,
}

/// A held pipeline lock; released when dropped.
pub struct PipelineLock(#[allow(dead_code)] Box<dyn Send + Sync>);

impl PipelineLock {
    /// A guard keeping `held` (e.g. the connection holding an advisory lock) alive.
    pub fn new(held: impl Send + Sync + 'static) -> Self {
        PipelineLock(Box::new(held))
    }

    /// No lock.
    pub fn none() -> Self {
        PipelineLock(Box::new(()))
    }
}

impl std::fmt::Debug for PipelineLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PipelineLock")
    }
}

/// What happened to a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadOutcome {
    /// The package was committed now.
    Committed,
    /// A `_dlt_loads` row showed it was committed before (a crash after commit): nothing was applied.
    AlreadyLoaded,
}

/// A change of a pipeline's stored state outside of a data load (dlt's `pipeline drop`, an incremental reset):
/// tables dropped, the new schema, the new state row and a `_dlt_loads` row, committed in one transaction.
#[derive(Debug, Clone)]
pub struct StateCommit {
    /// The dataset.
    pub dataset: String,
    /// The load id of the `_dlt_loads` and `_dlt_pipeline_state` rows.
    pub load_id: String,
    /// The schema after the change; stored as a new version when it differs from the stored one.
    pub schema: Schema,
    /// Tables to drop (children after or with their parents), which may be missing in the destination.
    pub drop_tables: Vec<String>,
    /// The new state row, when the state changed; committing it fails with [`Error::StateConflict`] when a
    /// newer state was committed meanwhile.
    pub state_row: Option<StateRow>,
}

/// The root tables a package being written will fill, known before extraction, for a load that starts while the
/// package is still being written (see [`Destination::begin_load`]).
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// The dataset.
    pub dataset: String,
    /// The load id of the package.
    pub load_id: String,
    /// The root tables (normalized names) of the run's resources.
    pub roots: Vec<String>,
    /// The scd2 settings of the roots merged with scd2, with the boundary the manifest will carry: a stream
    /// gives their validity columns these values as it COPYs.
    pub scd2: Vec<(String, crate::package::Scd2Spec)>,
    /// The roots' tables were loaded before and every root is a delete-insert merge on one primary key column:
    /// a stream may COPY the new rows into the existing tables and delete the rows they replace once the
    /// package is complete. Otherwise the roots are new tables.
    pub merges_into_existing: bool,
}

/// A load begun while its package is still being written: it COPYs the job files the writer finished, in one
/// open transaction, and completes with the package.
pub trait LoadStream: Send {
    /// COPYs a finished job file. After a failure the stream takes nothing more; [`LoadStream::finish`] then
    /// hands the package back to the usual load.
    fn copy<'a>(&'a mut self, job: &'a FinishedJob) -> BoxFuture<'a, ()>;

    /// Loads the rest of the complete `package` and commits it with its state, as [`Destination::load`] does;
    /// `Ok(None)` when the stream cannot take it (nothing was committed; load it the usual way).
    fn finish<'a>(
        self: Box<Self>,
        package: &'a LoadPackage,
    ) -> BoxFuture<'a, Result<Option<LoadOutcome>>>;
}

/// Rows per table (`None` for a table that does not exist), as [`Destination::row_counts`] reports them.
pub type RowCounts = Vec<(String, Option<u64>)>;

/// A place packages are loaded into.
pub trait Destination: Send + Sync + 'static {
    /// The destination type as dlt names it (`postgres`).
    fn kind(&self) -> &'static str;

    /// Where the data goes, for messages; never contains a password.
    fn location(&self) -> String;

    /// A shell command that opens the data (`psql '<url>'`), printed with the load summary; `None` when there
    /// is none (the default).
    fn open_command(&self) -> Option<String> {
        None
    }

    /// The directory of the managed local instance this destination is, when it is one, so that pipeline
    /// commands find it again without being told; `None` (the default) for any other destination.
    fn local_instance(&self) -> Option<PathBuf> {
        None
    }

    /// How many rows each of `tables` of `dataset` holds now (`None` for a table that does not exist); the
    /// default counts nothing (an empty list).
    fn row_counts<'a>(
        &'a self,
        dataset: &'a str,
        tables: &'a [String],
    ) -> BoxFuture<'a, Result<RowCounts>> {
        let _ = (dataset, tables);
        Box::pin(async { Ok(Vec::new()) })
    }

    /// The datasets holding a committed state of `pipeline_name`, sorted (to find a pipeline's dataset when it is
    /// not given); the default finds none.
    fn datasets_of<'a>(&'a self, pipeline_name: &'a str) -> BoxFuture<'a, Result<Vec<String>>> {
        let _ = pipeline_name;
        Box::pin(async { Ok(Vec::new()) })
    }

    /// Called when a pipeline takes this destination ([`crate::PipelineBuilder::destination`]), with the
    /// pipeline's name (e.g. to name the destination's connections after it). The default does nothing.
    fn attach_pipeline(&mut self, pipeline_name: &str) {
        let _ = pipeline_name;
    }

    /// Reads the stored state and schema of `pipeline_name` in `dataset`; empty when the dataset is new.
    fn restore<'a>(
        &'a self,
        dataset: &'a str,
        pipeline_name: &'a str,
        schema_name: &'a str,
    ) -> BoxFuture<'a, Result<Restored>>;

    /// Takes the lock that serialises stateful runs of `pipeline_name` into `dataset`, waiting at most
    /// `timeout`; the lock is held until the returned guard is dropped. The default takes no lock.
    fn lock_pipeline<'a>(
        &'a self,
        dataset: &'a str,
        pipeline_name: &'a str,
        timeout: std::time::Duration,
    ) -> BoxFuture<'a, Result<PipelineLock>> {
        let _ = (dataset, pipeline_name, timeout);
        Box::pin(async { Ok(PipelineLock::none()) })
    }

    /// Loads a package: schema changes first, then all rows, the state row and the `_dlt_loads` row in one
    /// transaction. Loading a package that was already committed changes nothing.
    fn load<'a>(&'a self, package: &'a LoadPackage) -> BoxFuture<'a, Result<LoadOutcome>>;

    /// Starts loading a package that is still being written, when the destination can take its rows as they
    /// come (e.g. into tables the package creates); `None` to load it once complete. The default declines.
    fn begin_load<'a>(
        &'a self,
        plan: &'a LoadPlan,
    ) -> BoxFuture<'a, Result<Option<Box<dyn LoadStream>>>> {
        let _ = plan;
        Box::pin(async { Ok(None) })
    }

    /// Commits a [`StateCommit`]: drops its tables, stores its schema, state row and `_dlt_loads` row, all in one
    /// transaction. Destinations that cannot do this return an error saying so.
    fn commit_state<'a>(&'a self, commit: &'a StateCommit) -> BoxFuture<'a, Result<()>> {
        let _ = commit;
        Box::pin(async move {
            Err(Error::config(format!(
                "changing the stored pipeline state (drop, reset) is not supported by the {} destination",
                self.kind()
            )))
        })
    }
}
