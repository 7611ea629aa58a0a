//! Runtime of ele: the pipeline that drives resources through extract, normalize and load.
//!
//! Users depend on the `ele` facade crate, which re-exports what they need from here. The modules are layers
//! that follow the data, each importing only from the layers below it:
//!
//! 1. `foundation`: errors, fault injection, hashing, Python-compatible parsing, atomic file writes;
//! 2. `model`: resource hints, the schema and naming convention, the pipeline state, configuration;
//! 3. stage boundaries: [`package`] (rows on disk) and [`destination`] (the trait a destination implements);
//! 4. stages: `extract` (resources, sources, incremental cursors) and `normalize` (items to rows);
//! 5. orchestration: `run` (the pipeline, its report and progress, inspecting and managing a pipeline).
//!
//! The public API below is deliberate: what users need is re-exported by the facade; what a destination
//! needs ([`package`], [`schema`], [`state`], [`destination`]) is documented here; what only the workspace's
//! own crates need is `#[doc(hidden)]`.
mod extract;
mod foundation;
mod model;
mod normalize;
mod run;

pub mod destination;
pub mod package;

pub use extract::column_type::{self, ColumnType};
pub use extract::incremental::{
    Cursor, CustomLastValueFunc, Incremental, IncrementalConfig, LastValueFunc,
    OnCursorValueMissing, RowOrder,
};
pub use extract::resource::{
    AfterIncremental, Dispatched, DynResource, Emit, Filtered, FlatMapped, FnResource, IntoPage,
    IntoResources, ItemsResource, Mapped, Resource, ResourceExt, Resources, TableNameFn, items,
};
pub use extract::source::{Accessor, Source};
pub use foundation::error::{BoxError, Error, Result};
pub use model::contract::{
    ContractEntity, ContractModes, Discarded, EvolutionMode, SchemaContract,
};
pub use model::hints::{
    ExtractLimit, Key, MergeStrategy, RefreshMode, ResourceHints, Scd2, SortOrder, WriteDisposition,
};
pub use model::state::{ResourceState, SourceState};
pub use model::{config, schema, state};
pub use run::manage::{LastDestination, PipelineInfo, StateChange, SyncInfo, TableInfo};
pub use run::pipeline::{Pipeline, PipelineBuilder, Run};
pub use run::progress;
pub use run::report::{LoadInfo, PackageInfo};

/// Support for the macros' generated code and compile-time checks; not for direct use.
#[doc(hidden)]
pub use extract::item;
/// Items as compact JSON documents (what the JSON Lines reader parses lines into).
#[doc(hidden)]
pub use foundation::doc;
/// Fault injection points for the workspace's crash tests.
#[doc(hidden)]
pub use foundation::fault;
/// dlt's hashes and JSON renderings, shared with the destinations.
#[doc(hidden)]
pub use foundation::hash;
/// Exact decimals: how JSON numbers keep their digits (used by the JSON Lines reader).
#[doc(hidden)]
pub use foundation::py_decimal;
/// The scheduler interval from the environment, shared with the facade's argument parser.
#[doc(hidden)]
pub use model::interval;
/// dlt's naming convention, shared with the destinations.
#[doc(hidden)]
pub use model::naming;
