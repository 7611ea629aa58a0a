//! Tables, columns, data types and their evolution.
pub mod detect;
pub mod types;
mod model;
pub use model::*;
