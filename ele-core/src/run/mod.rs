//! Orchestration: the pipeline that drives resources through extract, normalize and load, its run report,
//! progress events, the working directory and the commands that inspect and manage a pipeline.
pub mod manage;
pub mod pipeline;
pub mod progress;
pub mod report;
