//! Runtime of ele: the pipeline that drives resources through extract, normalize and load.
//!
//! Users depend on the `ele` facade crate, which re-exports what they need from here. The modules follow the
//! data: [`resource`] (what user code produces, through [`resource::Emit`]), [`pipeline`] (a run),
//! [`normalize`] (items to rows), [`schema`] (tables and types), [`package`] (rows on disk), [`state`]
//! (committed with the data) and [`destination`] (the trait a destination implements).
pub mod config;
pub mod destination;
pub mod error;
pub mod fault;
pub mod hash;
pub mod incremental;
pub mod item;
pub mod manage;
pub mod normalize;
pub mod package;
pub mod pipeline;
pub mod progress;
pub mod resource;
pub mod schema;
pub mod source;
pub mod state;

pub use error::{BoxError, Error, Result};
