//! What every stage of a run reads: the pipeline's settings, and the hints a run overrides.

use std::sync::Arc;
use std::time::Duration;

use crate::destination::Destination;
use crate::model::hints::{Key, WriteDisposition};
use crate::model::interval::Interval;
use crate::run::progress::Observer;
use crate::run::workdir::WorkingDir;

/// A built pipeline's settings.
pub(crate) struct PipelineContext {
    pub(crate) lock_timeout: Duration,
    pub(crate) name: String,
    pub(crate) schema_name: String,
    pub(crate) dataset_name: String,
    pub(crate) destination: Arc<dyn Destination>,
    pub(crate) working_dir: WorkingDir,
    pub(crate) progress: Option<Observer>,
    /// The refresh every run applies unless it sets its own.
    pub(crate) refresh: Option<crate::model::hints::RefreshMode>,
}

/// What one run overrides of its resources' hints (dlt's `pipeline.run(..., write_disposition=...)`), and the
/// scheduler interval it was given.
#[derive(Debug, Clone, Default)]
pub(crate) struct RunOverrides {
    pub(crate) write_disposition: Option<WriteDisposition>,
    pub(crate) primary_key: Option<Key>,
    pub(crate) merge_key: Option<Key>,
    pub(crate) table_name: Option<String>,
    pub(crate) interval: Option<Interval>,
    pub(crate) schema_contract: Option<crate::model::contract::SchemaContract>,
    pub(crate) refresh: Option<crate::model::hints::RefreshMode>,
}
