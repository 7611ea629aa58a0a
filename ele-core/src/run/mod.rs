//! Orchestration: the pipeline that drives resources through extract, normalize and load, its run report,
//! progress events, the working directory and the commands that inspect and manage a pipeline.
mod context;
mod hinted;
pub mod manage;
mod merge_spec;
pub mod pipeline;
pub mod progress;
pub mod report;
mod stage;
mod versioning;
mod workdir;
