//! The trait a destination implements: restore what it stores, load a package in one transaction.

use futures::future::BoxFuture;

use crate::error::Result;
use crate::package::LoadPackage;
use crate::schema::Schema;
use crate::state::PipelineState;

/// What a destination holds about a pipeline, read at the start of a run.
#[derive(Debug, Clone, Default)]
pub struct Restored {
    /// The newest state committed by a completed load of the pipeline.
    pub state: Option<PipelineState>,
    /// The newest stored version of the pipeline's schema.
    pub schema: Option<Schema>,
}

/// What happened to a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadOutcome {
    /// The package was committed now.
    Committed,
    /// A `_dlt_loads` row showed it was committed before (a crash after commit): nothing was applied.
    AlreadyLoaded,
}

/// A place packages are loaded into.
pub trait Destination: Send + Sync + 'static {
    /// The destination type as dlt names it (`postgres`).
    fn kind(&self) -> &'static str;

    /// Where the data goes, for messages; never contains a password.
    fn location(&self) -> String;

    /// Reads the stored state and schema of `pipeline_name` in `dataset`; empty when the dataset is new.
    fn restore<'a>(
        &'a self,
        dataset: &'a str,
        pipeline_name: &'a str,
        schema_name: &'a str,
    ) -> BoxFuture<'a, Result<Restored>>;

    /// Loads a package: schema changes first, then all rows, the state row and the `_dlt_loads` row in one
    /// transaction. Loading a package that was already committed changes nothing.
    fn load<'a>(&'a self, package: &'a LoadPackage) -> BoxFuture<'a, Result<LoadOutcome>>;
}
