//! Relational normalizer and naming convention.
pub mod naming;
pub mod parallel;
pub mod relational;
