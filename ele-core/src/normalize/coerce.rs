//! Value coercion into an existing column's type, as dlt 1.31's `coerce_value` does it.

use std::borrow::Cow;

use serde_json::Value;

use crate::foundation::doc::{Elements, JsonRef, Kind};
use crate::foundation::py_decimal::{number_text_to_decimal, text_to_decimal};
use crate::foundation::py_number::{python_float_repr, str2bool, text_to_bigint, text_to_double};
use crate::foundation::py_time::{
    coerce_text_to_time, coerce_text_to_timestamp, timestamp_from_f64, timestamp_from_i64,
};
use crate::model::schema::DataType;
use crate::package::Cell;

/// What dlt writes into a `text` column for a value (`coerce_value("text", ...)`): strings as they are,
/// integers in decimal, floats as Python's `repr` (`1.5`, `2.0`, `1e+20`, `1e-05`), bools as `True`/`False`,
/// objects and arrays as compact JSON in their own key order (`{"k":[1,2.0]}`); `None` for null.
pub fn coerce_to_text(value: JsonRef<'_>) -> Option<String> {
    Some(match value.kind() {
        Kind::Null => return None,
        Kind::Bool(true) => "True".to_owned(),
        Kind::Bool(false) => "False".to_owned(),
        Kind::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (None, Some(u), _) => u.to_string(),
            (None, None, Some(f)) => python_float_repr(f),
            _ => n.as_str().to_owned(),
        },
        Kind::String(s) => s.to_owned(),
        Kind::Array(_) | Kind::Object(_) => crate::foundation::hash::dumps_ref(value),
    })
}

/// dlt 1.31's coercion of a non-null value into a column of type `to` (`coerce_value` plus timezone
/// normalization to UTC); `None` when dlt would put the value into a variant column `<col>__v_<type>`
/// instead. `None` for null.
///
/// | to \ value | string | integer | float | bool | object/array |
/// |---|---|---|---|---|---|
/// | text | as is | `"5"` | `repr`: `"1.5"`, `"1e+20"` | `"True"` | compact JSON |
/// | bigint | `int()`, `0x` hex, spaces ok | as is | whole floats (`2.0`) | variant | variant |
/// | double | `float()`, `0x` hex | `float` | as is | variant | variant |
/// | bool | `str2bool` (`yes`/`t`/`1`...) | `!= 0` | `!= 0` | as is | variant |
/// | timestamp | ISO, date at midnight, epoch string | epoch seconds | epoch seconds | variant | variant |
/// | json | parsed JSON text (any JSON value) | variant | variant | variant | as is |
/// | binary | `0x` hex, base64 | little-endian bytes | variant | variant | a list of bytes (0..=255) |
///
/// Deliberate differences from dlt, where dlt's normalizer accepts a value its load then rejects: integers
/// outside `i64` give `None`, and so do non-finite doubles (`"1e400"`, `"nan"`).
pub fn coerce(value: JsonRef<'_>, to: DataType) -> Option<Cell<'static>> {
    match (to, value.kind()) {
        (_, Kind::Null) => None,
        (DataType::Text, _) => coerce_to_text(value).map(|s| Cell::Text(s.into())),

        (DataType::Bigint, Kind::Number(n)) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Some(Cell::Bigint(i)),
            (None, Some(_), _) => None,
            (None, None, Some(f)) => {
                if f.is_finite()
                    && f.fract() == 0.0
                    && (i64::MIN as f64..-(i64::MIN as f64)).contains(&f)
                {
                    Some(Cell::Bigint(f as i64))
                } else {
                    None
                }
            }
            _ => None,
        },
        (DataType::Bigint, Kind::String(s)) => text_to_bigint(s).map(Cell::Bigint),
        (DataType::Bigint, _) => None,

        (DataType::Double, Kind::Number(n)) => {
            n.as_f64().filter(|f| f.is_finite()).map(Cell::Double)
        }
        (DataType::Double, Kind::String(s)) => text_to_double(s)
            .filter(|f| f.is_finite())
            .map(Cell::Double),
        (DataType::Double, _) => None,

        (DataType::Bool, Kind::Bool(b)) => Some(Cell::Bool(b)),
        (DataType::Bool, Kind::Number(n)) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Some(Cell::Bool(i != 0)),
            (None, Some(u), _) => Some(Cell::Bool(u != 0)),
            (None, None, Some(f)) => Some(Cell::Bool(f != 0.0)),
            _ => None,
        },
        (DataType::Bool, Kind::String(s)) => str2bool(s).map(Cell::Bool),
        (DataType::Bool, _) => None,

        (DataType::Timestamp, Kind::String(s)) => coerce_text_to_timestamp(s).map(Cell::Timestamp),
        (DataType::Timestamp, Kind::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => timestamp_from_i64(i),
            (None, Some(f)) if !n.is_u64() => timestamp_from_f64(f),
            _ => None,
        }
        .map(Cell::Timestamp),
        (DataType::Timestamp, _) => None,

        (DataType::Json, Kind::Array(_) | Kind::Object(_)) => {
            Some(Cell::Json(Cow::Owned(value.to_value())))
        }
        (DataType::Json, Kind::String(s)) => serde_json::from_str::<Value>(s)
            .ok()
            .map(|v| Cell::Json(Cow::Owned(v))),
        (DataType::Json, _) => None,

        (DataType::Date, Kind::String(s)) => {
            coerce_text_to_timestamp(s).map(|t| Cell::Date(t.date_naive()))
        }
        (DataType::Date, Kind::Number(_)) => {
            coerce(value, DataType::Timestamp).and_then(|c| match c {
                Cell::Timestamp(t) => Some(Cell::Date(t.date_naive())),
                _ => None,
            })
        }
        (DataType::Date, _) => None,

        (DataType::Time, Kind::String(s)) => coerce_text_to_time(s).map(Cell::Time),
        (DataType::Time, _) => None,

        (DataType::Decimal | DataType::Wei, Kind::String(s)) => {
            text_to_decimal(s).map(|d| Cell::Numeric(d.into()))
        }
        (DataType::Decimal | DataType::Wei, Kind::Number(n)) => {
            number_text_to_decimal(n.as_str()).map(|d| Cell::Numeric(d.into()))
        }
        (DataType::Decimal | DataType::Wei, _) => None,

        (DataType::Binary, Kind::String(s)) => text_to_binary(s).map(|b| Cell::Binary(b.into())),
        (DataType::Binary, Kind::Number(n)) => n.as_u64().map(|u| {
            // Python's `int.to_bytes((bit_length + 7) // 8, "little")`: 0 is no bytes.
            let bytes = u.to_le_bytes();
            let used = (64 - u.leading_zeros() as usize).div_ceil(8);
            Cell::Binary(bytes[..used].to_vec().into())
        }),
        (DataType::Binary, Kind::Array(items)) if is_byte_list(items.clone()) => {
            Some(Cell::Binary(
                items
                    .filter_map(|v| v.as_number().and_then(|n| n.as_u64()))
                    .filter_map(|b| u8::try_from(b).ok())
                    .collect::<Vec<u8>>()
                    .into(),
            ))
        }
        (DataType::Binary, _) => None,
    }
}

/// Whether `items` is a list of integers 0 to 255: serde's form of `Vec<u8>` and `serde_bytes`, which a
/// binary column takes as its bytes (ele's addition: dlt makes a child table of any list).
pub(crate) fn is_byte_list(mut items: Elements<'_>) -> bool {
    items.all(|v| {
        v.as_number()
            .and_then(|n| n.as_u64())
            .is_some_and(|b| b <= u64::from(u8::MAX))
    })
}

/// dlt's `_text_to_binary`: `0x…` as hexadecimal bytes, else strict base64.
fn text_to_binary(s: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    if let Some(hex) = s.strip_prefix("0x") {
        // `bytes.fromhex`: pairs of hex digits, whitespace allowed between them.
        let digits: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        if !digits.len().is_multiple_of(2) {
            return None;
        }
        return digits
            .chunks(2)
            .map(|pair| {
                let text = std::str::from_utf8(pair).ok()?;
                u8::from_str_radix(text, 16).ok()
            })
            .collect();
    }
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

/// Fits a cell coerced to a column's type to the column's hints: a bigint column with a precision of 16 or 32
/// bits takes `smallint` / `integer` cells, a timestamp column with `timezone: false` naive UTC timestamps.
/// `Err` names the range when the value does not fit the narrower integer.
pub(crate) fn fit_to_column<'v>(
    cell: Cell<'v>,
    precision: Option<u32>,
    timezone: Option<bool>,
) -> std::result::Result<Cell<'v>, String> {
    Ok(match cell {
        Cell::Bigint(v) => match precision {
            Some(p) if p <= 16 => Cell::Smallint(i16::try_from(v).map_err(|_| {
                format!("{v} is out of range for smallint (bigint with precision {p})")
            })?),
            Some(p) if p <= 32 => Cell::Integer(i32::try_from(v).map_err(|_| {
                format!("{v} is out of range for integer (bigint with precision {p})")
            })?),
            _ => Cell::Bigint(v),
        },
        Cell::Timestamp(t) if timezone == Some(false) => Cell::NaiveTimestamp(t.naive_utc()),
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// [`super::coerce`] of a `Value`.
    fn coerce(value: &Value, to: DataType) -> Option<Cell<'static>> {
        super::coerce(JsonRef::Value(value), to)
    }

    use crate::foundation::py_time::format_timestamp_iso;

    fn text(c: Option<Cell>) -> Option<String> {
        match c {
            Some(Cell::Text(s)) => Some(s.into_owned()),
            _ => None,
        }
    }

    /// Observed in dlt 1.31 by extract + normalize into a postgres pipeline (insert_values files):
    /// a `text` column receiving True, 5, 1.5, 1e20, 2.0, 1e-5 wrote 'True', '5', '1.5', '1e+20', '2.0', '1e-05';
    /// a `bigint` column took 2.0 -> 2, "123" -> 123, " 0x1F " -> 31 and sent 2.5 to b__v_double, True to b__v_bool,
    /// "abc" to b__v_text; a `double` column took 3 -> 3.0, "1.25" -> 1.25 and sent False to d__v_bool;
    /// a `bool` column took 0 -> False, 2.5 -> True, "yes" -> True and sent "maybe" to bo__v_text;
    /// a `timestamp` column took "2024-01-01", 1700000000, 1700000000.25, "1700000000" and sent "hello"/"12:00:00"
    /// to ts__v_text, True to ts__v_bool; a `json` column took "[1,2]" and "\"s\"" and sent "nope" to j__v_text,
    /// 5 to j__v_bigint, True to j__v_bool, 1.5 to j__v_double.
    #[test]
    fn coercions_match_dlt() {
        use DataType::*;
        assert_eq!(text(coerce(&json!(true), Text)).as_deref(), Some("True"));
        assert_eq!(text(coerce(&json!(5), Text)).as_deref(), Some("5"));
        assert_eq!(text(coerce(&json!(1.5), Text)).as_deref(), Some("1.5"));
        assert_eq!(text(coerce(&json!(1e20), Text)).as_deref(), Some("1e+20"));
        assert_eq!(text(coerce(&json!(2.0), Text)).as_deref(), Some("2.0"));
        assert_eq!(text(coerce(&json!(1e-5), Text)).as_deref(), Some("1e-05"));
        assert_eq!(
            text(coerce(&json!({"k": [1, 2.0, "é"], "a": 1e16}), Text)).as_deref(),
            Some("{\"k\":[1,2.0,\"é\"],\"a\":1e+16}")
        );

        assert_eq!(coerce(&json!(2.0), Bigint), Some(Cell::Bigint(2)));
        assert_eq!(coerce(&json!(2.5), Bigint), None);
        assert_eq!(coerce(&json!("123"), Bigint), Some(Cell::Bigint(123)));
        assert_eq!(coerce(&json!(" 0x1F "), Bigint), Some(Cell::Bigint(31)));
        assert_eq!(
            coerce(&json!(" -1_000 "), Bigint),
            Some(Cell::Bigint(-1000))
        );
        assert_eq!(coerce(&json!("0X1F"), Bigint), None);
        assert_eq!(coerce(&json!("1.0"), Bigint), None);
        assert_eq!(coerce(&json!(true), Bigint), None);
        assert_eq!(coerce(&json!("abc"), Bigint), None);
        assert_eq!(coerce(&json!({"x": 1}), Bigint), None);
        assert_eq!(coerce(&json!(1e20), Bigint), None);

        assert_eq!(coerce(&json!(3), Double), Some(Cell::Double(3.0)));
        assert_eq!(coerce(&json!("1.25"), Double), Some(Cell::Double(1.25)));
        assert_eq!(coerce(&json!("0x10"), Double), Some(Cell::Double(16.0)));
        assert_eq!(coerce(&json!(false), Double), None);
        assert_eq!(coerce(&json!("1e400"), Double), None);

        assert_eq!(coerce(&json!(0), Bool), Some(Cell::Bool(false)));
        assert_eq!(coerce(&json!(2.5), Bool), Some(Cell::Bool(true)));
        assert_eq!(coerce(&json!("yes"), Bool), Some(Cell::Bool(true)));
        assert_eq!(coerce(&json!("F"), Bool), Some(Cell::Bool(false)));
        assert_eq!(coerce(&json!("maybe"), Bool), None);
        assert_eq!(coerce(&json!(" true"), Bool), None);

        let ts = |v: Value| match coerce(&v, Timestamp) {
            Some(Cell::Timestamp(t)) => Some(format_timestamp_iso(&t)),
            _ => None,
        };
        assert_eq!(
            ts(json!("2024-01-01")).as_deref(),
            Some("2024-01-01T00:00:00+00:00")
        );
        assert_eq!(
            ts(json!(1700000000)).as_deref(),
            Some("2023-11-14T22:13:20+00:00")
        );
        assert_eq!(
            ts(json!(1700000000.25)).as_deref(),
            Some("2023-11-14T22:13:20.250000+00:00")
        );
        assert_eq!(
            ts(json!("1700000000")).as_deref(),
            Some("2023-11-14T22:13:20+00:00")
        );
        assert_eq!(ts(json!("hello")), None);
        assert_eq!(ts(json!("12:00:00")), None);
        assert_eq!(ts(json!(true)), None);
        assert_eq!(ts(json!([1])), None);

        assert_eq!(
            coerce(&json!("[1,2]"), Json),
            Some(Cell::Json(Cow::Owned(json!([1, 2]))))
        );
        assert_eq!(
            coerce(&json!("\"s\""), Json),
            Some(Cell::Json(Cow::Owned(json!("s"))))
        );
        assert_eq!(coerce(&json!("nope"), Json), None);
        assert_eq!(coerce(&json!(5), Json), None);
        assert_eq!(coerce(&json!(true), Json), None);
        assert_eq!(coerce(&json!(1.5), Json), None);
        assert_eq!(
            coerce(&json!({"a": 1}), Json),
            Some(Cell::Json(Cow::Owned(json!({"a": 1}))))
        );

        assert_eq!(coerce(&Value::Null, Text), None);
        assert_eq!(
            coerce(&json!("2024-01-01T00:00:00Z"), Timestamp),
            coerce(&json!("2024-01-01T00:00:00Z"), Timestamp)
        );
    }
}
