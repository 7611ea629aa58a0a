//! Tables, columns, data types and how a value's type is inferred.
mod data_type;
mod infer;
mod table;

pub use data_type::DataType;
pub use infer::{infer, value_type};
pub use table::*;
