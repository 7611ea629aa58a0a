//! Integration tests against a real PostgreSQL: one throwaway cluster for this binary, one database per test.

mod support;

mod bad_input;
mod cli;
mod concurrency;
mod dispositions;
mod examples;
mod faults;
mod incremental;
mod macros;
mod merge_strategies;
mod normalize;
mod orchestration;
mod relational;
