//! The extract stage: resources and sources produce items, incremental cursors filter them, typed items are
//! checked against keys at compile time.
pub mod column_type;
mod field_names;
pub mod incremental;
pub mod item;
pub mod resource;
pub mod source;
