//! The one `Destination` implementation of `Postgres`, delegating to the load, the streamed load and the state
//! code.

use ele_core::Result;
use ele_core::destination::{
    Destination, LoadOutcome, LoadPlan, LoadStream, PipelineLock, Restored, StateCommit,
};
use ele_core::package::LoadPackage;
use futures::future::BoxFuture;

use super::config::Postgres;
use super::{catalog, load, state, stream};

impl Destination for Postgres {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn location(&self) -> String {
        Postgres::location(self)
    }

    fn open_command(&self) -> Option<String> {
        // The location is percent-encoded: it holds no quote.
        Some(format!("psql '{}'", self.location()))
    }

    fn local_instance(&self) -> Option<std::path::PathBuf> {
        self.local_instance.clone()
    }

    fn row_counts<'a>(
        &'a self,
        dataset: &'a str,
        tables: &'a [String],
    ) -> BoxFuture<'a, Result<ele_core::destination::RowCounts>> {
        Box::pin(catalog::row_counts(self, dataset, tables))
    }

    fn datasets_of<'a>(&'a self, pipeline_name: &'a str) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(state::datasets_of(self, pipeline_name))
    }

    /// Names the connections `ele <version> <pipeline>` (unless the connection string names them).
    fn attach_pipeline(&mut self, pipeline_name: &str) {
        self.set_application_name(Some(pipeline_name));
    }

    fn restore<'a>(
        &'a self,
        dataset: &'a str,
        pipeline_name: &'a str,
        schema_name: &'a str,
    ) -> BoxFuture<'a, Result<Restored>> {
        Box::pin(state::restore(self, dataset, pipeline_name, schema_name))
    }

    fn lock_pipeline<'a>(
        &'a self,
        dataset: &'a str,
        pipeline_name: &'a str,
        timeout: std::time::Duration,
    ) -> BoxFuture<'a, Result<PipelineLock>> {
        Box::pin(state::lock_pipeline(self, dataset, pipeline_name, timeout))
    }

    fn load<'a>(&'a self, package: &'a LoadPackage) -> BoxFuture<'a, Result<LoadOutcome>> {
        Box::pin(load::load(self, package))
    }

    fn begin_load<'a>(
        &'a self,
        plan: &'a LoadPlan,
    ) -> BoxFuture<'a, Result<Option<Box<dyn LoadStream>>>> {
        Box::pin(stream::begin(self, plan))
    }

    fn commit_state<'a>(&'a self, commit: &'a StateCommit) -> BoxFuture<'a, Result<()>> {
        Box::pin(state::commit_state(self, commit))
    }
}
