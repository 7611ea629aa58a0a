//! Tables, columns, data types and how a value's type is inferred.
mod column_hints;
mod data_type;
pub(crate) mod hinted;
mod infer;
pub(crate) mod stored;
mod table;

pub use column_hints::{ColumnHint, ColumnHints, SortOrder};
pub use data_type::DataType;
pub use infer::{infer, is_integer, value_type};
pub use stored::{ENGINE_VERSION, SYSTEM_TABLES};
pub use table::*;
