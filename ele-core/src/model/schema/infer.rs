//! Type inference: the data type a JSON value gives a new column (`dlt/common/data_types/type_helpers.py`,
//! `dlt/normalize/items_normalizers/jsonl.py::_infer_column_type`, dlt's default `iso_timestamp` detection).

use serde_json::Value;

use super::data_type::DataType;
use crate::foundation::py_time::is_iso_timestamp;

/// The type of the value itself, without autodetection (dlt's `py_type_to_sc_type(type(v))`): string →
/// text, integer → bigint, float → double, bool → bool, object/array → json; `None` for null.
///
/// This is the type that names a variant column: `<col>__v_<value_type>`.
pub fn value_type(value: &Value) -> Option<DataType> {
    Some(match value {
        Value::Null => return None,
        Value::Bool(_) => DataType::Bool,
        Value::Number(n) if is_integer(n) => DataType::Bigint,
        Value::Number(_) => DataType::Double,
        Value::String(_) => DataType::Text,
        Value::Array(_) | Value::Object(_) => DataType::Json,
    })
}

/// Whether a JSON number is an integer in the 64-bit range (signed or unsigned); every other number is read as
/// a float, as `serde_json` reads them without `arbitrary_precision` (an integer beyond `u64` is a float).
pub fn is_integer(n: &serde_json::Number) -> bool {
    n.is_i64() || n.is_u64()
}

/// The type a new column gets from its first non-null value (`_infer_column_type` with dlt's default
/// detections, i.e. only `iso_timestamp`): a string that passes
/// `is_iso_timestamp` (dlt's ISO 8601 date-time detection) is a timestamp, any other string text; other
/// values as [`value_type`]. `None` for null.
///
/// This is also the type of a new variant column (`<col>__v_text` holding an ISO string is a `timestamp`).
pub fn infer(value: &Value) -> Option<DataType> {
    match value {
        Value::String(s) if is_iso_timestamp(s) => Some(DataType::Timestamp),
        other => value_type(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn inference() {
        assert_eq!(infer(&json!(null)), None);
        assert_eq!(infer(&json!(1)), Some(DataType::Bigint));
        assert_eq!(
            infer(&json!(18446744073709551615u64)),
            Some(DataType::Bigint)
        );
        assert_eq!(infer(&json!(2.0)), Some(DataType::Double));
        assert_eq!(infer(&json!(true)), Some(DataType::Bool));
        assert_eq!(infer(&json!("x")), Some(DataType::Text));
        assert_eq!(infer(&json!("")), Some(DataType::Text));
        assert_eq!(infer(&json!("2024-01-01")), Some(DataType::Text));
        assert_eq!(
            infer(&json!("2024-01-01T00:00:00Z")),
            Some(DataType::Timestamp)
        );
        assert_eq!(
            value_type(&json!("2024-01-01T00:00:00Z")),
            Some(DataType::Text)
        );
        assert_eq!(infer(&json!({"a": 1})), Some(DataType::Json));
        assert_eq!(infer(&json!([1])), Some(DataType::Json));
    }
}
