//! Column hints: what a resource declares about its columns, as dlt's `columns=` argument (`apply_hints`).
//!
//! A hint names only what it sets (every field optional); the schema's [`Column`](super::Column) holds the
//! result. The dict form is dlt's own: `{"amount": {"data_type": "decimal", "precision": 12, "scale": 2}}`.

use std::fmt;
use std::str::FromStr;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::data_type::DataType;
use crate::foundation::error::{Error, Result};

/// Which of several rows with the same primary key in one load is kept (dlt's `dedup_sort` column hint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    /// The row with the lowest value wins.
    Asc,
    /// The row with the highest value wins.
    #[default]
    Desc,
}

impl SortOrder {
    /// The name as dlt spells it: `asc` or `desc`.
    pub fn as_str(self) -> &'static str {
        match self {
            SortOrder::Asc => "asc",
            SortOrder::Desc => "desc",
        }
    }
}

impl FromStr for SortOrder {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "asc" => Ok(SortOrder::Asc),
            "desc" => Ok(SortOrder::Desc),
            other => Err(Error::config(format!(
                "unknown sort order `{other}`; expected `asc` or `desc`"
            ))),
        }
    }
}

/// The hints of one column, as dlt's column schema: every field optional, only what is set applies.
///
/// ```
/// use ele_core::schema::ColumnHint;
/// let amount = ColumnHint::decimal(12, 2).not_null();
/// let code = ColumnHint::text().precision(8).unique();
/// # let _ = (amount, code);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ColumnHint {
    /// `data_type`: the column's type; overrides inference.
    pub data_type: Option<DataType>,
    /// `nullable`: `false` makes the column NOT NULL.
    pub nullable: Option<bool>,
    /// `precision`: length of text, bits of bigint (16 → smallint, 32 → integer), digits of decimal and wei,
    /// fractional second digits of timestamp and time.
    pub precision: Option<u32>,
    /// `scale`: fractional digits of decimal and wei.
    pub scale: Option<u32>,
    /// `timezone`: `false` makes a timestamp `timestamp without time zone`.
    pub timezone: Option<bool>,
    /// `unique`: a UNIQUE constraint on PostgreSQL.
    pub unique: Option<bool>,
    /// `primary_key`: part of the primary key.
    pub primary_key: Option<bool>,
    /// `merge_key`: part of the merge key.
    pub merge_key: Option<bool>,
    /// `hard_delete`: the column flagging deleted rows in a merge.
    pub hard_delete: Option<bool>,
    /// `dedup_sort`: the column deciding between rows of one primary key in a merge load.
    pub dedup_sort: Option<SortOrder>,
    /// `partition` (kept in the schema; PostgreSQL ignores it, as in dlt).
    pub partition: Option<bool>,
    /// `cluster` (kept in the schema; PostgreSQL ignores it, as in dlt).
    pub cluster: Option<bool>,
    /// `sort` (kept in the schema; PostgreSQL ignores it, as in dlt).
    pub sort: Option<bool>,
    /// Custom hints `x-...` and dlt's `description`, kept in the schema as given.
    pub other: Map<String, Value>,
}

/// The hint keys dlt's column schema knows that ele reads, in dlt's order.
pub const HINT_KEYS: [&str; 13] = [
    "data_type",
    "nullable",
    "precision",
    "scale",
    "timezone",
    "unique",
    "primary_key",
    "merge_key",
    "hard_delete",
    "dedup_sort",
    "partition",
    "cluster",
    "sort",
];

impl ColumnHint {
    /// No hint set.
    pub fn new() -> Self {
        ColumnHint::default()
    }

    /// A column of type `data_type`.
    pub fn of(data_type: DataType) -> Self {
        ColumnHint {
            data_type: Some(data_type),
            ..ColumnHint::default()
        }
    }

    /// `text` (`varchar`; `varchar(n)` with [`precision`](Self::precision)).
    pub fn text() -> Self {
        ColumnHint::of(DataType::Text)
    }
    /// `bigint` (`smallint` / `integer` with a [`precision`](Self::precision) of 16 / 32 bits).
    pub fn bigint() -> Self {
        ColumnHint::of(DataType::Bigint)
    }
    /// `double` (`double precision`).
    pub fn double() -> Self {
        ColumnHint::of(DataType::Double)
    }
    /// `bool` (`boolean`).
    pub fn bool() -> Self {
        ColumnHint::of(DataType::Bool)
    }
    /// `timestamp` (`timestamp with time zone`; see [`timezone`](Self::timezone)).
    pub fn timestamp() -> Self {
        ColumnHint::of(DataType::Timestamp)
    }
    /// `date`.
    pub fn date() -> Self {
        ColumnHint::of(DataType::Date)
    }
    /// `time` (`time without time zone`).
    pub fn time() -> Self {
        ColumnHint::of(DataType::Time)
    }
    /// `decimal` with `precision` digits, `scale` of them after the point (`numeric(precision,scale)`).
    pub fn decimal(precision: u32, scale: u32) -> Self {
        ColumnHint::of(DataType::Decimal)
            .precision(precision)
            .scale(scale)
    }
    /// `wei` (`numeric(156,78)`).
    pub fn wei() -> Self {
        ColumnHint::of(DataType::Wei)
    }
    /// `binary` (`bytea`).
    pub fn binary() -> Self {
        ColumnHint::of(DataType::Binary)
    }
    /// `json` (`jsonb`): nested objects and lists stay whole in the column.
    pub fn json() -> Self {
        ColumnHint::of(DataType::Json)
    }

    /// Sets the type.
    pub fn data_type(mut self, data_type: DataType) -> Self {
        self.data_type = Some(data_type);
        self
    }
    /// NOT NULL.
    pub fn not_null(self) -> Self {
        self.nullable(false)
    }
    /// Whether NULL is allowed.
    pub fn nullable(mut self, nullable: bool) -> Self {
        self.nullable = Some(nullable);
        self
    }
    /// Sets the precision (see [`ColumnHint::precision`](struct.ColumnHint.html#structfield.precision)).
    pub fn precision(mut self, precision: u32) -> Self {
        self.precision = Some(precision);
        self
    }
    /// Sets the scale of a decimal or wei.
    pub fn scale(mut self, scale: u32) -> Self {
        self.scale = Some(scale);
        self
    }
    /// `false`: `timestamp without time zone` (values are converted to UTC and stored without zone).
    pub fn timezone(mut self, timezone: bool) -> Self {
        self.timezone = Some(timezone);
        self
    }
    /// A UNIQUE constraint.
    pub fn unique(mut self) -> Self {
        self.unique = Some(true);
        self
    }
    /// Part of the primary key (as in dlt, NOT NULL only with [`not_null`](Self::not_null)).
    pub fn primary_key(mut self) -> Self {
        self.primary_key = Some(true);
        self
    }
    /// Part of the merge key (as in dlt, NOT NULL only with [`not_null`](Self::not_null)).
    pub fn merge_key(mut self) -> Self {
        self.merge_key = Some(true);
        self
    }
    /// The column flagging deleted rows in a merge.
    pub fn hard_delete(mut self) -> Self {
        self.hard_delete = Some(true);
        self
    }
    /// The column deciding between rows of one primary key in a merge load.
    pub fn dedup_sort(mut self, order: SortOrder) -> Self {
        self.dedup_sort = Some(order);
        self
    }
    /// dlt's `partition` hint (kept in the schema, not used on PostgreSQL).
    pub fn partition(mut self) -> Self {
        self.partition = Some(true);
        self
    }
    /// dlt's `cluster` hint (kept in the schema, not used on PostgreSQL).
    pub fn cluster(mut self) -> Self {
        self.cluster = Some(true);
        self
    }
    /// dlt's `sort` hint (kept in the schema, not used on PostgreSQL).
    pub fn sort(mut self) -> Self {
        self.sort = Some(true);
        self
    }
    /// A custom hint `x-...` (the name must start with `x-`), kept in the schema.
    pub fn x_hint(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.other.insert(name.into(), value.into());
        self
    }

    /// Parses dlt's dict form of one column's hints; `column` names the column in error messages.
    pub fn from_json(column: &str, value: &Value) -> Result<Self> {
        let Value::Object(map) = value else {
            return Err(Error::config(format!(
                "column hints of `{column}` must be an object such as {{\"data_type\": \"text\"}}, not {value}"
            )));
        };
        let mut hint = ColumnHint::default();
        for (key, v) in map {
            let bad = |expected: &str| {
                Error::config(format!(
                    "column hint `{key}` of column `{column}` must be {expected}, not {v}"
                ))
            };
            let flag = || v.as_bool().ok_or_else(|| bad("true or false"));
            let number = || {
                v.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| bad("a non-negative integer"))
            };
            match key.as_str() {
                "name" => {
                    if v.as_str() != Some(column) {
                        return Err(bad(&format!("the column's own name `{column}`")));
                    }
                }
                "data_type" => {
                    let name = v.as_str().ok_or_else(|| bad("a type name"))?;
                    hint.data_type = Some(DataType::from_name(name).ok_or_else(|| {
                        Error::config(format!(
                            "unknown data type `{name}` of column `{column}`; expected one of {}",
                            DataType::ALL.map(|t| format!("`{t}`")).join(", ")
                        ))
                    })?);
                }
                "nullable" => hint.nullable = Some(flag()?),
                "precision" => hint.precision = Some(number()?),
                "scale" => hint.scale = Some(number()?),
                "timezone" => hint.timezone = Some(flag()?),
                "unique" => hint.unique = Some(flag()?),
                "primary_key" => hint.primary_key = Some(flag()?),
                "merge_key" => hint.merge_key = Some(flag()?),
                "hard_delete" => hint.hard_delete = Some(flag()?),
                "dedup_sort" => {
                    let order = v.as_str().ok_or_else(|| bad("`asc` or `desc`"))?;
                    hint.dedup_sort = Some(order.parse().map_err(|_| bad("`asc` or `desc`"))?);
                }
                "partition" => hint.partition = Some(flag()?),
                "cluster" => hint.cluster = Some(flag()?),
                "sort" => hint.sort = Some(flag()?),
                k if k.starts_with("x-") || k == "description" => {
                    hint.other.insert(key.clone(), v.clone());
                }
                _ => {
                    return Err(Error::config(format!(
                        "unknown column hint `{key}` of column `{column}`; expected one of {}, `description` or a \
                         custom `x-...` hint",
                        HINT_KEYS.map(|k| format!("`{k}`")).join(", ")
                    )));
                }
            }
        }
        Ok(hint)
    }

    /// dlt's dict form: only what is set, under dlt's key names.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(v) = value {
                map.insert(key.to_owned(), v);
            }
        };
        put("data_type", self.data_type.map(|t| t.as_str().into()));
        put("nullable", self.nullable.map(Value::from));
        put("precision", self.precision.map(Value::from));
        put("scale", self.scale.map(Value::from));
        put("timezone", self.timezone.map(Value::from));
        put("unique", self.unique.map(Value::from));
        put("primary_key", self.primary_key.map(Value::from));
        put("merge_key", self.merge_key.map(Value::from));
        put("hard_delete", self.hard_delete.map(Value::from));
        put("dedup_sort", self.dedup_sort.map(|o| o.as_str().into()));
        put("partition", self.partition.map(Value::from));
        put("cluster", self.cluster.map(Value::from));
        put("sort", self.sort.map(Value::from));
        for (k, v) in &self.other {
            map.insert(k.clone(), v.clone());
        }
        Value::Object(map)
    }
}

/// The column hints of a resource, in the order given (hinted columns come first in the table, in this order).
///
/// ```
/// use ele_core::schema::{ColumnHint, ColumnHints};
/// let typed = ColumnHints::new()
///     .column("amount", ColumnHint::decimal(12, 2).not_null())
///     .column("day", ColumnHint::date());
/// let same = ColumnHints::from_json_str(
///     r#"{"amount": {"data_type": "decimal", "precision": 12, "scale": 2, "nullable": false},
///         "day": {"data_type": "date"}}"#,
/// )?;
/// assert_eq!(typed, same);
/// # Ok::<(), ele_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ColumnHints(IndexMap<String, ColumnHint>);

impl ColumnHints {
    /// No hints.
    pub fn new() -> Self {
        ColumnHints::default()
    }

    /// Adds (or replaces) the hints of column `name` (the name as in the items; it is normalized as keys are).
    pub fn column(mut self, name: impl Into<String>, hint: ColumnHint) -> Self {
        self.0.insert(name.into(), hint);
        self
    }

    /// Merges `other` into these hints as dlt's `apply_hints` does: a column hinted again gets the new hint's
    /// fields on top of its old ones, new columns come after the old ones.
    pub fn merge(&mut self, other: ColumnHints) {
        for (name, hint) in other.0 {
            match self.0.get_mut(&name) {
                None => {
                    self.0.insert(name, hint);
                }
                Some(old) => {
                    macro_rules! over {
                        ($($f:ident),*) => { $( if hint.$f.is_some() { old.$f = hint.$f; } )* };
                    }
                    over!(
                        data_type,
                        nullable,
                        precision,
                        scale,
                        timezone,
                        unique,
                        primary_key,
                        merge_key,
                        hard_delete,
                        dedup_sort,
                        partition,
                        cluster,
                        sort
                    );
                    old.other.extend(hint.other);
                }
            }
        }
    }

    /// Whether no column is hinted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The hinted columns with their hints, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ColumnHint)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The hints of column `name` (as given).
    pub fn get(&self, name: &str) -> Option<&ColumnHint> {
        self.0.get(name)
    }

    /// Parses dlt's dict form (`{"col": {"data_type": ...}, ...}`), or its list form (`[{"name": "col",
    /// ...}]`). An unknown hint or type, or a value of the wrong kind, is a configuration error naming it.
    pub fn from_json(value: &Value) -> Result<Self> {
        let mut hints = ColumnHints::new();
        match value {
            Value::Object(map) => {
                for (name, hint) in map {
                    hints
                        .0
                        .insert(name.clone(), ColumnHint::from_json(name, hint)?);
                }
            }
            Value::Array(list) => {
                for hint in list {
                    let name = hint.get("name").and_then(Value::as_str).ok_or_else(|| {
                        Error::config(format!(
                            "each column in a list of column hints needs a \"name\": {hint}"
                        ))
                    })?;
                    hints
                        .0
                        .insert(name.to_owned(), ColumnHint::from_json(name, hint)?);
                }
            }
            other => {
                return Err(Error::config(format!(
                    "column hints must be an object such as {{\"amount\": {{\"data_type\": \"decimal\"}}}}, not \
                     {other}"
                )));
            }
        }
        Ok(hints)
    }

    /// Parses dlt's dict form from JSON text; text that is not JSON is a configuration error.
    pub fn from_json_str(text: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| Error::config(format!("column hints are not valid JSON: {e}")))?;
        ColumnHints::from_json(&value)
    }

    /// dlt's dict form.
    pub fn to_json(&self) -> Value {
        Value::Object(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect(),
        )
    }
}

impl fmt::Display for ColumnHints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

impl FromStr for ColumnHints {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        ColumnHints::from_json_str(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dict_form_round_trips_and_matches_the_builder() {
        let text = r#"{"amount": {"data_type": "decimal", "precision": 12, "scale": 2}, "note": {"nullable": false},
            "code": {"data_type": "text", "precision": 8, "unique": true, "x-owner": "ops", "partition": true},
            "v": {"dedup_sort": "asc", "hard_delete": true, "primary_key": true, "merge_key": false,
                  "timezone": false, "cluster": true, "sort": true, "description": "d"}}"#;
        let hints = ColumnHints::from_json_str(text).expect("parses");
        let built = ColumnHints::new()
            .column("amount", ColumnHint::decimal(12, 2))
            .column("note", ColumnHint::new().not_null())
            .column(
                "code",
                ColumnHint::text()
                    .precision(8)
                    .unique()
                    .x_hint("x-owner", "ops")
                    .partition(),
            )
            .column("v", {
                let mut h = ColumnHint::new()
                    .dedup_sort(SortOrder::Asc)
                    .hard_delete()
                    .primary_key()
                    .timezone(false)
                    .cluster()
                    .sort()
                    .x_hint("description", "d");
                h.merge_key = Some(false);
                h
            });
        assert_eq!(hints, built);
        assert_eq!(
            ColumnHints::from_json(&hints.to_json()).expect("parses"),
            hints
        );
        let names: Vec<&str> = hints.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["amount", "note", "code", "v"]);
    }

    #[test]
    fn errors_name_the_key() {
        let err = |text: &str| {
            ColumnHints::from_json_str(text)
                .expect_err("refused")
                .to_string()
        };
        assert!(err("{not json").contains("not valid JSON"));
        let unknown = err(r#"{"a": {"data_typ": "text"}}"#);
        assert!(
            unknown.contains("unknown column hint `data_typ` of column `a`"),
            "{unknown}"
        );
        let bad_type = err(r#"{"a": {"data_type": "money"}}"#);
        assert!(
            bad_type.contains("unknown data type `money` of column `a`"),
            "{bad_type}"
        );
        assert!(bad_type.contains("`decimal`"), "{bad_type}");
        let kind = err(r#"{"a": {"nullable": "no"}}"#);
        assert!(
            kind.contains("`nullable` of column `a` must be true or false"),
            "{kind}"
        );
        assert!(err(r#"{"a": {"precision": -1}}"#).contains("non-negative integer"));
        assert!(err(r#"{"a": {"dedup_sort": "up"}}"#).contains("`asc` or `desc`"));
        assert!(err(r#"["a"]"#).contains("needs a \"name\""));
        assert!(err("5").contains("must be an object"));
        assert!(err(r#"{"a": 5}"#).contains("column hints of `a` must be an object"));
    }

    #[test]
    fn list_form_and_merge() {
        let mut hints =
            ColumnHints::from_json(&json!([{"name": "a", "data_type": "bigint"}])).expect("parses");
        hints.merge(ColumnHints::new().column("a", ColumnHint::new().not_null().precision(16)));
        hints.merge(ColumnHints::new().column("b", ColumnHint::bool()));
        assert_eq!(
            hints.to_json(),
            json!({"a": {"data_type": "bigint", "nullable": false, "precision": 16}, "b": {"data_type": "bool"}})
        );
    }
}
