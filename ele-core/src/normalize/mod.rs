//! The normalize stage: extracted batches become rows of the package (dlt's relational normalizer), values
//! are coerced into their columns' types, and pages are normalized on worker threads.
pub mod coerce;
pub(crate) mod contract;
pub mod parallel;
pub mod relational;
