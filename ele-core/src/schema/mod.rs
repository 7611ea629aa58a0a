//! Tables, columns, data types and their evolution.
pub mod detect;
mod model;
pub mod types;
pub use model::*;
