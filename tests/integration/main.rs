//! Integration tests against a real PostgreSQL: one throwaway cluster for this binary, one database per test;
//! `pg18` runs a part of them again on a second cluster of PostgreSQL 18.

mod support;

mod bad_input;
mod cli;
mod colliding_names;
mod column_types;
mod concurrency;
mod contracts;
mod cursor_types;
mod destination_switch;
mod dispositions;
mod dlt_interop;
mod errors;
mod examples;
mod faults;
mod finding_data;
mod first_merges;
mod http;
mod incremental;
mod macros;
mod merge_strategies;
mod normalize;
mod orchestration;
mod pg18;
mod pooler;
mod refresh;
mod relational;
mod replace_strategies;
mod staging;
mod streamed_merges;
mod tls;
mod transforms;
mod typed_items;
