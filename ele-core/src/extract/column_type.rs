//! Column types from Rust types: what `#[derive(ele::Item)]` asks of each field's type, as dlt reads a Pydantic
//! model's fields (`Option<T>` nullable, other fields NOT NULL).
//!
//! | Rust type | column |
//! |---|---|
//! | `i8`, `u8`, `i16` | `bigint` with precision 8 / 16 / 16 (`smallint`) |
//! | `u16`, `i32` | `bigint` with precision 32 (`integer`) |
//! | `u32`, `i64`, `isize` | `bigint` |
//! | `u64`, `usize` | `decimal(20,0)`; `i128`, `u128`: `decimal(39,0)` (no value refused or rounded) |
//! | `f32`, `f64` | `double` |
//! | `bool` | `bool` |
//! | `String`, `str`, `char` | `text` |
//! | `chrono::NaiveDate`, `NaiveTime` | `date`, `time` |
//! | `chrono::DateTime<Tz>` | `timestamp` (with time zone) |
//! | `chrono::NaiveDateTime` | `timestamp` with `timezone: false` |
//! | `Vec<u8>` | `binary` |
//! | `serde_json::Value`, maps | `json` |
//! | `Vec<T>` (other `T`) | no column: a child table |
//! | a struct deriving `Item` | its columns, flattened as `field__column` |
//! | `rust_decimal::Decimal` (feature `rust_decimal`) | `decimal` (dlt's default `numeric(38,9)`) |
//! | `uuid::Uuid` (feature `uuid`) | `text` |
//! | `jiff::civil::{Date, Time, DateTime}`, `jiff::Timestamp` (feature `jiff`) | as chrono's |
//!
//! A field whose type implements none of this gets no column hint: its column is inferred from the data.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::model::schema::{ColumnHint, ColumnHints};

/// A Rust type whose serialized values go into columns of a known type; see the [module](self) for the types.
#[diagnostic::on_unimplemented(
    message = "ele does not know the column type of `{Self}`",
    label = "this field's type gives no column type, so the hint has nothing to check against",
    note = "name the type with `#[ele(data_type = \"...\")]` next to the hint, or derive `ele::Item` on `{Self}` if it is a struct"
)]
pub trait ColumnType {
    /// The column's type at the type level (a marker of [`kind`]), for the compile-time checks of
    /// `#[ele(...)]` hints.
    type Kind;
    /// The marker of a `Vec<Self>`: [`kind::List`] (a child table), [`kind::Binary`] for `u8`.
    type ListKind;

    /// The columns of a field named `name` of this type: one for a scalar, the `name__column`s of a struct, none
    /// for a list. `nullable` is set inside an `Option`.
    fn columns(name: &str, nullable: bool) -> ColumnHints;

    /// The columns of a field named `name` of type `Vec<Self>`: none (a child table), unless the list is a value
    /// of its own (`Vec<u8>` is `binary`).
    fn list_columns(name: &str, nullable: bool) -> ColumnHints {
        let _ = (name, nullable);
        ColumnHints::new()
    }
}

/// The type-level markers of [`ColumnType::Kind`] and the hints each takes.
pub mod kind {
    /// `text`.
    pub struct Text;
    /// `bigint`.
    pub struct Bigint;
    /// `double`.
    pub struct Double;
    /// `bool`.
    pub struct Bool;
    /// `timestamp`.
    pub struct Timestamp;
    /// `date`.
    pub struct Date;
    /// `time`.
    pub struct Time;
    /// `decimal`.
    pub struct Decimal;
    /// `binary`.
    pub struct Binary;
    /// `json`.
    pub struct Json;
    /// The columns of a nested struct.
    pub struct Struct;
    /// A child table.
    pub struct List;

    /// A column of this kind takes `precision`.
    #[diagnostic::on_unimplemented(
        message = "`precision` does not apply to a field of type `{F}`",
        label = "`{F}` gives no column with a precision",
        note = "`precision` is the length of text and binary, the bits of bigint (16: smallint, 32: integer), the digits of decimal and the fractional second digits of timestamp and time",
        note = "to change the column's type as well, give it: `#[ele(data_type = \"decimal\", precision = 12, scale = 2)]`"
    )]
    pub trait TakesPrecision<F: ?Sized> {}
    /// A column of this kind takes `scale`.
    #[diagnostic::on_unimplemented(
        message = "`scale` does not apply to a field of type `{F}`",
        label = "`{F}` gives no decimal column",
        note = "`scale` is the number of fractional digits of a decimal column: `#[ele(data_type = \"decimal\", precision = 12, scale = 2)]`"
    )]
    pub trait TakesScale<F: ?Sized> {}
    /// A column of this kind takes `timezone`.
    #[diagnostic::on_unimplemented(
        message = "`timezone` does not apply to a field of type `{F}`",
        label = "`{F}` gives no timestamp or time column",
        note = "`timezone` chooses between `timestamp with time zone` and `timestamp without time zone`"
    )]
    pub trait TakesTimezone<F: ?Sized> {}

    macro_rules! takes {
        ($t:ident: $($k:ident),*) => { $( impl<F: ?Sized> $t<F> for $k {} )* };
    }
    takes!(TakesPrecision: Text, Bigint, Timestamp, Time, Decimal, Binary);
    takes!(TakesScale: Decimal);
    takes!(TakesTimezone: Timestamp, Time);

    use super::ColumnType;

    /// Compiles when a field of type `F` takes `precision`.
    #[doc(hidden)]
    pub fn precision<F: ColumnType + ?Sized>()
    where
        F::Kind: TakesPrecision<F>,
    {
    }
    /// Compiles when a field of type `F` takes `scale`.
    #[doc(hidden)]
    pub fn scale<F: ColumnType + ?Sized>()
    where
        F::Kind: TakesScale<F>,
    {
    }
    /// Compiles when a field of type `F` takes `timezone`.
    #[doc(hidden)]
    pub fn timezone<F: ColumnType + ?Sized>()
    where
        F::Kind: TakesTimezone<F>,
    {
    }
}

/// One column `name` with `hint`, nullable or NOT NULL.
fn one(name: &str, nullable: bool, hint: ColumnHint) -> ColumnHints {
    ColumnHints::new().column(name, hint.nullable(nullable))
}

macro_rules! scalar {
    ($kind:ident => $hint:expr; $($t:ty),* $(,)?) => {$(
        impl ColumnType for $t {
            type Kind = kind::$kind;
            type ListKind = kind::List;
            fn columns(name: &str, nullable: bool) -> ColumnHints {
                one(name, nullable, $hint)
            }
        }
    )*};
}

scalar!(Bigint => ColumnHint::bigint().precision(8); i8);
scalar!(Bigint => ColumnHint::bigint().precision(16); i16);
scalar!(Bigint => ColumnHint::bigint().precision(32); u16, i32);
scalar!(Bigint => ColumnHint::bigint(); u32, i64, isize);
scalar!(Decimal => ColumnHint::decimal(20, 0); u64, usize);
scalar!(Decimal => ColumnHint::decimal(39, 0); i128, u128);
scalar!(Double => ColumnHint::double(); f32, f64);
scalar!(Bool => ColumnHint::bool(); bool);
scalar!(Text => ColumnHint::text(); String, str, char);
scalar!(Json => ColumnHint::json(); Value, Map<String, Value>);
scalar!(Date => ColumnHint::date(); chrono::NaiveDate);
scalar!(Time => ColumnHint::time(); chrono::NaiveTime);
scalar!(Timestamp => ColumnHint::timestamp().timezone(false); chrono::NaiveDateTime);

impl ColumnType for u8 {
    type Kind = kind::Bigint;
    type ListKind = kind::Binary;
    fn columns(name: &str, nullable: bool) -> ColumnHints {
        one(name, nullable, ColumnHint::bigint().precision(16))
    }
    fn list_columns(name: &str, nullable: bool) -> ColumnHints {
        one(name, nullable, ColumnHint::binary())
    }
}

impl<Tz: chrono::TimeZone> ColumnType for chrono::DateTime<Tz> {
    type Kind = kind::Timestamp;
    type ListKind = kind::List;
    fn columns(name: &str, nullable: bool) -> ColumnHints {
        one(name, nullable, ColumnHint::timestamp())
    }
}

#[cfg(feature = "rust_decimal")]
scalar!(Decimal => ColumnHint::of(crate::model::schema::DataType::Decimal); rust_decimal::Decimal);
#[cfg(feature = "uuid")]
scalar!(Text => ColumnHint::text(); uuid::Uuid);
#[cfg(feature = "jiff")]
scalar!(Date => ColumnHint::date(); jiff::civil::Date);
#[cfg(feature = "jiff")]
scalar!(Time => ColumnHint::time(); jiff::civil::Time);
#[cfg(feature = "jiff")]
scalar!(Timestamp => ColumnHint::timestamp().timezone(false); jiff::civil::DateTime);
#[cfg(feature = "jiff")]
scalar!(Timestamp => ColumnHint::timestamp(); jiff::Timestamp);

impl<V, S> ColumnType for HashMap<String, V, S> {
    type Kind = kind::Json;
    type ListKind = kind::List;
    fn columns(name: &str, nullable: bool) -> ColumnHints {
        one(name, nullable, ColumnHint::json())
    }
}

impl<V> ColumnType for BTreeMap<String, V> {
    type Kind = kind::Json;
    type ListKind = kind::List;
    fn columns(name: &str, nullable: bool) -> ColumnHints {
        one(name, nullable, ColumnHint::json())
    }
}

impl<V, S> ColumnType for indexmap::IndexMap<String, V, S> {
    type Kind = kind::Json;
    type ListKind = kind::List;
    fn columns(name: &str, nullable: bool) -> ColumnHints {
        one(name, nullable, ColumnHint::json())
    }
}

impl<T: ColumnType> ColumnType for Option<T> {
    type Kind = T::Kind;
    type ListKind = kind::List;
    fn columns(name: &str, _nullable: bool) -> ColumnHints {
        T::columns(name, true)
    }
}

impl<T: ColumnType> ColumnType for Vec<T> {
    type Kind = T::ListKind;
    type ListKind = kind::List;
    fn columns(name: &str, nullable: bool) -> ColumnHints {
        T::list_columns(name, nullable)
    }
}

macro_rules! pointer {
    ($($p:ident),*) => {$(
        impl<T: ColumnType + ?Sized> ColumnType for $p<T> {
            type Kind = T::Kind;
            type ListKind = kind::List;
            fn columns(name: &str, nullable: bool) -> ColumnHints {
                T::columns(name, nullable)
            }
        }
    )*};
}
pointer!(Box, Rc, Arc);

impl<T: ColumnType + ?Sized> ColumnType for &T {
    type Kind = T::Kind;
    type ListKind = kind::List;
    fn columns(name: &str, nullable: bool) -> ColumnHints {
        T::columns(name, nullable)
    }
}

impl<T: ColumnType + ToOwned + ?Sized> ColumnType for Cow<'_, T> {
    type Kind = T::Kind;
    type ListKind = kind::List;
    fn columns(name: &str, nullable: bool) -> ColumnHints {
        T::columns(name, nullable)
    }
}

/// The columns of a field `name` of a struct deriving `Item` whose own columns are `inner`: `name__column`, each
/// nullable when the field is.
#[doc(hidden)]
pub fn nested_columns(name: &str, nullable: bool, inner: ColumnHints) -> ColumnHints {
    let mut out = ColumnHints::new();
    for (column, hint) in inner.iter() {
        let mut hint = hint.clone();
        if nullable {
            hint.nullable = Some(true);
        }
        out = out.column(format!("{name}__{column}"), hint);
    }
    out
}

/// `explicit` over the type's columns `typed`, as [`ColumnHints::merge`], except that a column given a new
/// `data_type` drops the type's `precision`, `scale` and `timezone` (which belonged to the type's data type).
pub fn overlay_type_columns(typed: &ColumnHints, explicit: &ColumnHints) -> ColumnHints {
    let mut out = ColumnHints::new();
    for (name, hint) in typed.iter() {
        let mut hint = hint.clone();
        if let Some(new) = explicit.get(name).and_then(|h| h.data_type)
            && hint.data_type != Some(new)
        {
            hint.precision = None;
            hint.scale = None;
            hint.timezone = None;
        }
        out = out.column(name, hint);
    }
    out.merge(explicit.clone());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json<T: ColumnType + ?Sized>(name: &str) -> Value {
        T::columns(name, false).to_json()
    }

    #[test]
    fn scalars_options_and_lists() {
        assert_eq!(
            json::<i32>("a").to_string(),
            r#"{"a":{"data_type":"bigint","nullable":false,"precision":32}}"#
        );
        assert_eq!(
            json::<Option<u64>>("a").to_string(),
            r#"{"a":{"data_type":"decimal","nullable":true,"precision":20,"scale":0}}"#
        );
        assert_eq!(
            json::<Vec<u8>>("a").to_string(),
            r#"{"a":{"data_type":"binary","nullable":false}}"#
        );
        assert_eq!(json::<Vec<String>>("a").to_string(), "{}");
        assert_eq!(
            json::<chrono::NaiveDateTime>("a").to_string(),
            r#"{"a":{"data_type":"timestamp","nullable":false,"timezone":false}}"#
        );
        assert_eq!(
            json::<Option<Box<str>>>("a").to_string(),
            r#"{"a":{"data_type":"text","nullable":true}}"#
        );
    }

    #[test]
    fn nested_columns_are_prefixed_and_nullable_under_an_option() {
        let inner = ColumnHints::new().column("id", ColumnHint::bigint().not_null());
        let out = nested_columns("user", true, inner);
        assert_eq!(
            out.to_json().to_string(),
            r#"{"user__id":{"data_type":"bigint","nullable":true}}"#
        );
    }

    #[test]
    fn a_new_type_drops_the_types_precision() {
        let typed = ColumnHints::new().column("n", ColumnHint::decimal(20, 0).not_null());
        let explicit = ColumnHints::new().column("n", ColumnHint::bigint());
        let out = overlay_type_columns(&typed, &explicit);
        assert_eq!(
            out.to_json().to_string(),
            r#"{"n":{"data_type":"bigint","nullable":false}}"#
        );
        let same = ColumnHints::new().column("n", ColumnHint::new().unique());
        let out = overlay_type_columns(&typed, &same);
        assert_eq!(
            out.get("n").map(|h| (h.precision, h.unique)),
            Some((Some(20), Some(true)))
        );
    }
}
