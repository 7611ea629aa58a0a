//! The foundation layer: errors, fault injection, hashing, Python-compatible parsing of dates and numbers,
//! atomic file writes. It depends on nothing else of the crate.
pub mod doc;
pub mod error;
pub mod fault;
pub mod files;
pub mod hash;
pub mod py_decimal;
pub mod py_number;
pub mod py_str;
pub mod py_time;
