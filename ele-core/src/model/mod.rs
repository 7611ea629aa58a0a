//! The model layer: what a pipeline declares and keeps. Resource hints, the schema and its naming convention,
//! the pipeline state, configuration and the scheduler interval. Built on the foundation only.
pub mod config;
pub mod contract;
pub mod hints;
pub mod interval;
pub mod naming;
pub mod schema;
pub mod state;
