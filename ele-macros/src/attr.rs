//! ele's attributes: parsing of `#[resource(...)]`, of the parameter attribute `#[incremental(...)]` and of
//! `#[source(...)]` into typed slots that remember the tokens that set them; recognising and stripping the
//! parameter attributes (`#[incremental]`, `#[config]`, `#[secret]`).
//!
//! The arguments are split at top-level commas first, and each `key = value` entry is parsed on its own: a
//! mistake in one entry is recorded and the next entry is still read, so every bad key of one attribute is
//! reported in the same build (serde_derive's approach, extended to syntax errors).

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{
    Attribute, Expr, ExprLit, FnArg, Ident, Lit, LitBool, LitInt, LitStr, Meta, Signature, Token,
};

use crate::ctxt::Ctxt;

/// `name = "issues"`
pub(crate) const NAME: &str = "name";
/// `table_name = "issues"` or `table_name = event_table`
pub(crate) const TABLE_NAME: &str = "table_name";
/// `write_disposition = "merge"`
pub(crate) const WRITE_DISPOSITION: &str = "write_disposition";
/// `primary_key = "id"`, in `#[resource]` and in `#[incremental]`
pub(crate) const PRIMARY_KEY: &str = "primary_key";
/// `merge_key = ("day", "region")`
pub(crate) const MERGE_KEY: &str = "merge_key";
/// `max_table_nesting = 2`
pub(crate) const MAX_TABLE_NESTING: &str = "max_table_nesting";
/// `selected = false`
pub(crate) const SELECTED: &str = "selected";
/// `crate = "my_reexport::ele"`
pub(crate) const CRATE: &str = "crate";
/// `merge_strategy = "upsert"`
pub(crate) const MERGE_STRATEGY: &str = "merge_strategy";
/// `hard_delete = "deleted"`
pub(crate) const HARD_DELETE: &str = "hard_delete";
/// `dedup_sort = "updated_at"` or `dedup_sort = ("updated_at", "asc")`
pub(crate) const DEDUP_SORT: &str = "dedup_sort";

/// `columns = r#"{"amount": {"data_type": "decimal", "precision": 12, "scale": 2}}"#` (dlt's dict form)
pub(crate) const COLUMNS: &str = "columns";
/// `schema_contract = "freeze"` or `schema_contract = (columns = "freeze", data_type = "discard_value")`
pub(crate) const SCHEMA_CONTRACT: &str = "schema_contract";

/// Every key of `#[resource]`, in the order error messages list them.
pub(crate) const KEYS: [&str; 13] = [
    NAME,
    TABLE_NAME,
    WRITE_DISPOSITION,
    PRIMARY_KEY,
    MERGE_KEY,
    MAX_TABLE_NESTING,
    MERGE_STRATEGY,
    HARD_DELETE,
    DEDUP_SORT,
    COLUMNS,
    SCHEMA_CONTRACT,
    SELECTED,
    CRATE,
];

/// `root_key = true`, in `#[source]`
pub(crate) const ROOT_KEY: &str = "root_key";
/// `resources(ads, campaigns)`, in `#[source]`
pub(crate) const RESOURCES: &str = "resources";

/// Every key of `#[source]`, in the order error messages list them.
pub(crate) const SOURCE_KEYS: [&str; 5] = [NAME, ROOT_KEY, MAX_TABLE_NESTING, RESOURCES, CRATE];

/// The parameter attribute of a value filled from the configuration.
pub(crate) const CONFIG: &str = "config";
/// The parameter attribute of a secret filled from the configuration.
pub(crate) const SECRET: &str = "secret";

/// The parameter attribute.
pub(crate) const INCREMENTAL: &str = "incremental";
/// `cursor = "created_at"`
pub(crate) const CURSOR: &str = "cursor";
/// `initial_value = "1970-01-01T00:00:00Z"`
pub(crate) const INITIAL_VALUE: &str = "initial_value";
/// `end_value = "2022-08-01T00:00:00Z"`
pub(crate) const END_VALUE: &str = "end_value";
/// `last_value_func = "max"`
pub(crate) const LAST_VALUE_FUNC: &str = "last_value_func";
/// `allow_external_schedulers = true`
pub(crate) const ALLOW_EXTERNAL_SCHEDULERS: &str = "allow_external_schedulers";
/// `on_cursor_value_missing = "include"`
pub(crate) const ON_CURSOR_VALUE_MISSING: &str = "on_cursor_value_missing";
/// `row_order = "desc"`
pub(crate) const ROW_ORDER: &str = "row_order";
/// `lag = 3600`
pub(crate) const LAG: &str = "lag";

/// Every key of `#[incremental]`, in the order error messages list them and the builder calls are generated.
pub(crate) const INCREMENTAL_KEYS: [&str; 9] = [
    CURSOR,
    INITIAL_VALUE,
    END_VALUE,
    LAST_VALUE_FUNC,
    PRIMARY_KEY,
    ALLOW_EXTERNAL_SCHEDULERS,
    ON_CURSOR_VALUE_MISSING,
    ROW_ORDER,
    LAG,
];

/// A well-formed setting of each key of `#[resource]`, for messages.
fn example(key: &str) -> &'static str {
    match key {
        NAME => "name = \"issues\"",
        TABLE_NAME => "table_name = \"issues\"",
        WRITE_DISPOSITION => "write_disposition = \"merge\"",
        PRIMARY_KEY => "primary_key = \"id\"",
        MERGE_KEY => "merge_key = (\"day\", \"region\")",
        MAX_TABLE_NESTING => "max_table_nesting = 2",
        MERGE_STRATEGY => "merge_strategy = \"upsert\"",
        HARD_DELETE => "hard_delete = \"deleted\"",
        DEDUP_SORT => "dedup_sort = (\"updated_at\", \"desc\")",
        COLUMNS => {
            "columns = r#\"{\"amount\": {\"data_type\": \"decimal\", \"precision\": 12, \"scale\": 2}}\"#"
        }
        SCHEMA_CONTRACT => "schema_contract = (columns = \"freeze\")",
        SELECTED => "selected = false",
        _ => "crate = \"my_reexport::ele\"",
    }
}

/// A well-formed setting of each key of `#[source]`, for messages.
fn source_example(key: &str) -> &'static str {
    match key {
        NAME => "name = \"facebook_ads\"",
        ROOT_KEY => "root_key = true",
        MAX_TABLE_NESTING => "max_table_nesting = 2",
        RESOURCES => "resources(ads, campaigns)",
        _ => "crate = \"my_reexport::ele\"",
    }
}

/// A well-formed setting of each key of `#[incremental]`, for messages.
fn incremental_example(key: &str) -> &'static str {
    match key {
        CURSOR => "cursor = \"created_at\"",
        INITIAL_VALUE => "initial_value = \"1970-01-01T00:00:00Z\"",
        END_VALUE => "end_value = \"2022-08-01T00:00:00Z\"",
        LAST_VALUE_FUNC => "last_value_func = \"max\"",
        PRIMARY_KEY => "primary_key = \"id\"",
        ALLOW_EXTERNAL_SCHEDULERS => "allow_external_schedulers = true",
        ON_CURSOR_VALUE_MISSING => "on_cursor_value_missing = \"exclude\"",
        ROW_ORDER => "row_order = \"asc\"",
        _ => "lag = 3600",
    }
}

const KEY_FORM: &str =
    "expected a column name `\"id\"` or a tuple of column names `(\"id\", \"url\")`";
const TABLE_NAME_FORM: &str = "expected a table name `\"issues\"`, the path of a function `event_table` taking `&Item` and returning `String`, or a closure `|e: &Event| e.kind.clone()`";
const LAST_VALUE_FUNC_FORM: &str = "expected `\"max\"`, `\"min\"`, or the path of a function `fn(&[serde_json::Value]) -> serde_json::Value`";

const STRATEGIES: [(&str, &str); 4] = [
    ("delete-insert", "DeleteInsert"),
    ("upsert", "Upsert"),
    ("insert-only", "InsertOnly"),
    ("scd2", "Scd2"),
];
const SORT_ORDERS: [(&str, &str); 2] = [("asc", "Asc"), ("desc", "Desc")];
/// dlt's schema evolution modes and their `EvolutionMode` variants.
const EVOLUTION_MODES: [(&str, &str); 4] = [
    ("evolve", "Evolve"),
    ("freeze", "Freeze"),
    ("discard_row", "DiscardRow"),
    ("discard_value", "DiscardValue"),
];
/// The entities of a schema contract, in dlt's order.
pub(crate) const CONTRACT_ENTITIES: [&str; 3] = ["tables", "columns", "data_type"];

const DISPOSITIONS: [(&str, Disposition); 3] = [
    ("append", Disposition::Append),
    ("replace", Disposition::Replace),
    ("merge", Disposition::Merge),
];
const CURSOR_VALUE_MISSING: [(&str, &str); 3] = [
    ("raise", "Raise"),
    ("include", "Include"),
    ("exclude", "Exclude"),
];
const ROW_ORDERS: [(&str, &str); 2] = [("asc", "Asc"), ("desc", "Desc")];

/// One attribute's keys, for reading its entries and wording its messages.
struct Keys {
    /// `resource`, `incremental` or `source`, as in "unknown resource attribute".
    kind: &'static str,
    names: &'static [&'static str],
    example: fn(&str) -> &'static str,
}

const RESOURCE_KEYS: Keys = Keys {
    kind: "resource",
    names: &KEYS,
    example,
};

const INCREMENTAL_ATTR_KEYS: Keys = Keys {
    kind: INCREMENTAL,
    names: &INCREMENTAL_KEYS,
    example: incremental_example,
};

const SOURCE_ATTR_KEYS: Keys = Keys {
    kind: "source",
    names: &SOURCE_KEYS,
    example: source_example,
};

/// One attribute slot: unset, or set by a key (kept for spans), possibly to an invalid value.
pub(crate) struct Attr<T> {
    /// `resource`, `incremental` or `source`, for the duplicate message.
    kind: &'static str,
    name: &'static str,
    key: Option<Ident>,
    value: Option<T>,
}

impl<T> Attr<T> {
    fn new(kind: &'static str, name: &'static str) -> Self {
        Attr {
            kind,
            name,
            key: None,
            value: None,
        }
    }

    /// Records a setting; `None` means the value was invalid (its error is already recorded). A second
    /// setting is reported at its key and ignored.
    fn set(&mut self, cx: &Ctxt, key: &Ident, value: Option<T>) {
        if self.key.is_some() {
            cx.error_spanned_by(
                key,
                format!("duplicate {} attribute `{}`", self.kind, self.name),
            );
            return;
        }
        self.key = Some(key.clone());
        self.value = value;
    }

    /// The value, when the key was given a valid one.
    pub(crate) fn get(&self) -> Option<&T> {
        self.value.as_ref()
    }

    /// The value, consuming the slot.
    pub(crate) fn into_inner(self) -> Option<T> {
        self.value
    }

    /// Whether the key was given a value that could not be read (its error is already recorded).
    pub(crate) fn is_invalid(&self) -> bool {
        self.key.is_some() && self.value.is_none()
    }
}

/// A write disposition, as written.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Disposition {
    Append,
    Replace,
    Merge,
}

impl Disposition {
    /// The variant of `WriteDisposition` in ele-core.
    pub(crate) fn variant(self) -> &'static str {
        match self {
            Disposition::Append => "Append",
            Disposition::Replace => "Replace",
            Disposition::Merge => "Merge",
        }
    }
}

/// `merge_strategy = "..."`: the `MergeStrategy` variant, with its literal.
pub(crate) struct MergeStrategy {
    pub(crate) variant: &'static str,
    pub(crate) lit: LitStr,
}

impl MergeStrategy {
    /// Whether the strategy identifies rows by primary key.
    pub(crate) fn needs_primary_key(&self) -> bool {
        matches!(self.variant, "Upsert" | "InsertOnly")
    }
}

/// `dedup_sort = "col"` (highest wins) or `("col", "asc" | "desc")`.
pub(crate) struct DedupSort {
    pub(crate) column: LitStr,
    /// The `SortOrder` variant.
    pub(crate) order: &'static str,
}

/// `write_disposition = "..."` with its literal.
pub(crate) struct WriteDisposition {
    pub(crate) value: Disposition,
    pub(crate) lit: LitStr,
}

/// `table_name`: a fixed name, or a function of the item that names the table of each item.
pub(crate) enum TableName {
    /// `table_name = "issues"`.
    Fixed(LitStr),
    /// `table_name = event_table` or `table_name = |e: &Event| e.kind.clone()`.
    Dynamic(Expr),
}

/// `primary_key` or `merge_key`: the column literals, in order; empty for `()`.
pub(crate) struct Key {
    pub(crate) columns: Vec<LitStr>,
}

/// `schema_contract`: one `EvolutionMode` variant for every entity, or one per entity (`tables`, `columns`,
/// `data_type`; `None` evolves).
pub(crate) enum SchemaContract {
    /// `schema_contract = "freeze"`.
    Mode(&'static str, Span),
    /// `schema_contract = (columns = "freeze", ...)`.
    Entities([Option<&'static str>; 3], Span),
}

/// `max_table_nesting = N`.
pub(crate) struct Nesting {
    pub(crate) depth: usize,
    pub(crate) span: Span,
}

/// The parsed `#[resource(...)]` attribute.
pub(crate) struct Attrs {
    pub(crate) name: Attr<LitStr>,
    pub(crate) table_name: Attr<TableName>,
    pub(crate) write_disposition: Attr<WriteDisposition>,
    pub(crate) primary_key: Attr<Key>,
    pub(crate) merge_key: Attr<Key>,
    pub(crate) max_table_nesting: Attr<Nesting>,
    pub(crate) merge_strategy: Attr<MergeStrategy>,
    pub(crate) hard_delete: Attr<LitStr>,
    pub(crate) dedup_sort: Attr<DedupSort>,
    pub(crate) columns: Attr<LitStr>,
    pub(crate) schema_contract: Attr<SchemaContract>,
    pub(crate) selected: Attr<LitBool>,
    pub(crate) krate: Attr<syn::Path>,
}

impl Attrs {
    /// Parses the tokens inside `#[resource(...)]`, recording every error in `cx`.
    pub(crate) fn from_args(cx: &Ctxt, args: TokenStream) -> Self {
        let kind = RESOURCE_KEYS.kind;
        let mut attrs = Attrs {
            name: Attr::new(kind, NAME),
            table_name: Attr::new(kind, TABLE_NAME),
            write_disposition: Attr::new(kind, WRITE_DISPOSITION),
            primary_key: Attr::new(kind, PRIMARY_KEY),
            merge_key: Attr::new(kind, MERGE_KEY),
            max_table_nesting: Attr::new(kind, MAX_TABLE_NESTING),
            merge_strategy: Attr::new(kind, MERGE_STRATEGY),
            hard_delete: Attr::new(kind, HARD_DELETE),
            dedup_sort: Attr::new(kind, DEDUP_SORT),
            columns: Attr::new(kind, COLUMNS),
            schema_contract: Attr::new(kind, SCHEMA_CONTRACT),
            selected: Attr::new(kind, SELECTED),
            krate: Attr::new(kind, CRATE),
        };
        read_entries(cx, args, &RESOURCE_KEYS, |known, key, value| {
            attrs.set_entry(cx, known, key, value);
        });
        attrs
    }

    /// Records one well-formed `key = value` entry; errors in the value are recorded.
    fn set_entry(&mut self, cx: &Ctxt, known: &'static str, key: &Ident, value: &Expr) {
        match known {
            // name = "issues"
            NAME => {
                let lit = non_empty_str(cx, value, "a resource name cannot be empty", || {
                    format!("expected a string literal, e.g. `{}`", example(NAME))
                });
                self.name.set(cx, key, lit);
            }
            // table_name = "issues" | event_table | |e: &Event| e.kind.clone()
            TABLE_NAME => {
                let table = table_name(cx, value);
                self.table_name.set(cx, key, table);
            }
            // write_disposition = "append" | "replace" | "merge"
            WRITE_DISPOSITION => {
                if let Some(lit) = string_lit(value)
                    && STRATEGIES.iter().any(|(name, _)| *name == lit.value())
                {
                    cx.error_spanned_by(
                        lit,
                        format!(
                            "`{}` is a merge strategy, not a write disposition; write `merge_strategy = \"{}\"` (it implies `write_disposition = \"merge\"`)",
                            lit.value(),
                            lit.value()
                        ),
                    );
                    self.write_disposition.set(cx, key, None);
                    return;
                }
                let disposition =
                    choice(cx, value, "write disposition", &DISPOSITIONS).map(|(value, lit)| {
                        WriteDisposition {
                            value,
                            lit: lit.clone(),
                        }
                    });
                self.write_disposition.set(cx, key, disposition);
            }
            // primary_key = "id" | ("id", "url") | ["id", "url"] | ()
            PRIMARY_KEY => {
                let columns = key_columns(cx, PRIMARY_KEY, value);
                self.primary_key.set(cx, key, columns);
            }
            // merge_key = "day" | ("day", "region") | ["day", "region"] | ()
            MERGE_KEY => {
                let columns = key_columns(cx, MERGE_KEY, value);
                self.merge_key.set(cx, key, columns);
            }
            // max_table_nesting = 2
            MAX_TABLE_NESTING => {
                let nesting = nesting(cx, value);
                self.max_table_nesting.set(cx, key, nesting);
            }
            // merge_strategy = "delete-insert" | "upsert" | "insert-only" | "scd2"
            MERGE_STRATEGY => {
                let strategy =
                    choice(cx, value, "merge strategy", &STRATEGIES).map(|(variant, lit)| {
                        MergeStrategy {
                            variant,
                            lit: lit.clone(),
                        }
                    });
                self.merge_strategy.set(cx, key, strategy);
            }
            // hard_delete = "deleted"
            HARD_DELETE => {
                let lit = non_empty_str(cx, value, "a column name cannot be empty", || {
                    format!("expected a column name, e.g. `{}`", example(HARD_DELETE))
                });
                self.hard_delete.set(cx, key, lit);
            }
            // dedup_sort = "updated_at" | ("updated_at", "asc" | "desc")
            DEDUP_SORT => {
                let sort = dedup_sort(cx, value);
                self.dedup_sort.set(cx, key, sort);
            }
            // columns = r#"{"amount": {"data_type": "decimal"}}"#
            COLUMNS => {
                let lit = column_hints(cx, value);
                self.columns.set(cx, key, lit);
            }
            // schema_contract = "freeze" | (columns = "freeze", data_type = "discard_value")
            SCHEMA_CONTRACT => {
                let contract = schema_contract(cx, value);
                self.schema_contract.set(cx, key, contract);
            }
            // selected = true | false
            SELECTED => {
                let flag = bool_lit(cx, SELECTED, value);
                self.selected.set(cx, key, flag);
            }
            // crate = "my_reexport::ele"
            _ => {
                let path = crate_path(cx, value);
                self.krate.set(cx, key, path);
            }
        }
    }
}

/// dlt's column hint keys ele knows (as ele-core's `ColumnHint`), besides `x-...` hints and `description`.
const COLUMN_HINT_KEYS: [&str; 14] = [
    "name",
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

/// dlt's data types (as ele-core's `DataType`).
const DATA_TYPES: [&str; 11] = [
    "text",
    "double",
    "bool",
    "timestamp",
    "bigint",
    "binary",
    "json",
    "decimal",
    "wei",
    "date",
    "time",
];

/// `columns = "<dlt's dict form>"`: a string literal holding a JSON object of column hints, checked here as
/// ele-core's `ColumnHints::from_json_str` checks it at run time, so a mistake is a compile error.
fn column_hints(cx: &Ctxt, value: &Expr) -> Option<LitStr> {
    let Some(lit) = string_lit(value) else {
        cx.error_spanned_by(
            value,
            format!(
                "expected a string literal with column hints in dlt's dict form, e.g. `{}`",
                example(COLUMNS)
            ),
        );
        return None;
    };
    match check_column_hints(&lit.value()) {
        Ok(()) => Some(lit.clone()),
        Err(message) => {
            cx.error_spanned_by(lit, message);
            None
        }
    }
}

/// What is wrong with column hints in dlt's dict form, if anything.
fn check_column_hints(text: &str) -> Result<(), String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("column hints are not valid JSON: {e}"))?;
    let serde_json::Value::Object(columns) = value else {
        return Err(
            "column hints must be a JSON object such as `{\"amount\": {\"data_type\": \"decimal\"}}`".into(),
        );
    };
    for (column, hints) in &columns {
        let serde_json::Value::Object(hints) = hints else {
            return Err(format!(
                "column hints of `{column}` must be an object such as `{{\"data_type\": \"text\"}}`, not {hints}"
            ));
        };
        for (key, v) in hints {
            let kind_ok = match key.as_str() {
                "name" => v.as_str() == Some(column.as_str()),
                "data_type" => match v.as_str() {
                    Some(t) if DATA_TYPES.contains(&t) => true,
                    Some(t) => {
                        return Err(format!(
                            "unknown data type `{t}` of column `{column}`; expected one of {}",
                            DATA_TYPES.map(|t| format!("`{t}`")).join(", ")
                        ));
                    }
                    None => false,
                },
                "precision" | "scale" => v.as_u64().is_some_and(|n| u32::try_from(n).is_ok()),
                "dedup_sort" => matches!(v.as_str(), Some("asc" | "desc")),
                k if k.starts_with("x-") || k == "description" => true,
                k if COLUMN_HINT_KEYS.contains(&k) => v.is_boolean(),
                _ => {
                    return Err(format!(
                        "unknown column hint `{key}` of column `{column}`; expected one of {}, `description` or a \
                         custom `x-...` hint",
                        COLUMN_HINT_KEYS[1..]
                            .iter()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            };
            if !kind_ok {
                return Err(format!(
                    "column hint `{key}` of column `{column}` has the wrong kind of value: {v}"
                ));
            }
        }
    }
    Ok(())
}

/// `schema_contract = "mode"` or `schema_contract = (entity = "mode", ...)` with dlt's entities and modes.
fn schema_contract(cx: &Ctxt, value: &Expr) -> Option<SchemaContract> {
    const FORM: &str = "expected a mode for every entity, `\"freeze\"`, or a mode per entity, \
        `(columns = \"freeze\", data_type = \"discard_value\")` (entities: `tables`, `columns`, `data_type`)";
    let value = ungroup(value);
    if let Some(lit) = string_lit(value) {
        if lit.value().trim_start().starts_with('{') {
            cx.error_spanned_by(
                lit,
                "dlt's dict form is written `(columns = \"freeze\", data_type = \"discard_value\")` here",
            );
            return None;
        }
        let (mode, lit) = choice(cx, value, "schema contract mode", &EVOLUTION_MODES)?;
        return Some(SchemaContract::Mode(mode, lit.span()));
    }
    let entries: Vec<&Expr> = match value {
        Expr::Tuple(tuple) if !tuple.elems.is_empty() => tuple.elems.iter().collect(),
        Expr::Paren(paren) => vec![&*paren.expr],
        other => {
            cx.error_spanned_by(other, FORM);
            return None;
        }
    };
    let mut modes: [Option<&'static str>; 3] = [None; 3];
    let mut ok = true;
    for entry in entries {
        let Expr::Assign(assign) = ungroup(entry) else {
            cx.error_spanned_by(entry, FORM);
            ok = false;
            continue;
        };
        let entity = match ungroup(&assign.left) {
            Expr::Path(p) => p.path.get_ident().map(ToString::to_string),
            _ => None,
        };
        let Some(slot) = entity
            .as_deref()
            .and_then(|e| CONTRACT_ENTITIES.iter().position(|known| *known == e))
        else {
            cx.error_spanned_by(
                &assign.left,
                "unknown schema contract entity; expected `tables`, `columns` or `data_type`",
            );
            ok = false;
            continue;
        };
        if modes[slot].is_some() {
            cx.error_spanned_by(
                &assign.left,
                format!("`{}` is set twice", CONTRACT_ENTITIES[slot]),
            );
            ok = false;
            continue;
        }
        match choice(cx, &assign.right, "schema contract mode", &EVOLUTION_MODES) {
            Some((mode, _)) => modes[slot] = Some(mode),
            None => ok = false,
        }
    }
    ok.then(|| SchemaContract::Entities(modes, syn::spanned::Spanned::span(value)))
}

/// `dedup_sort = "col"` or `dedup_sort = ("col", "asc" | "desc")`.
fn dedup_sort(cx: &Ctxt, value: &Expr) -> Option<DedupSort> {
    const FORM: &str = "expected a column name `\"updated_at\"` (the highest value wins) or a column and an order `(\"updated_at\", \"asc\")`";
    let column = |expr: &Expr| {
        let lit = string_lit(expr)?;
        (!lit.value().is_empty()).then(|| lit.clone())
    };
    match ungroup(value) {
        Expr::Tuple(tuple) if tuple.elems.len() == 2 => {
            let Some(col) = column(&tuple.elems[0]) else {
                cx.error_spanned_by(&tuple.elems[0], FORM);
                return None;
            };
            let (order, _) = choice(cx, &tuple.elems[1], "sort order", &SORT_ORDERS)?;
            Some(DedupSort { column: col, order })
        }
        other => match column(other) {
            Some(col) => Some(DedupSort {
                column: col,
                order: "Desc",
            }),
            None => {
                cx.error_spanned_by(other, FORM);
                None
            }
        },
    }
}

/// The parsed `#[source(...)]` attribute.
pub(crate) struct SourceAttrs {
    pub(crate) name: Attr<LitStr>,
    pub(crate) root_key: Attr<LitBool>,
    pub(crate) max_table_nesting: Attr<Nesting>,
    pub(crate) resources: Attr<Vec<syn::Path>>,
    pub(crate) krate: Attr<syn::Path>,
}

impl SourceAttrs {
    /// Parses the tokens inside `#[source(...)]`, recording every error in `cx`.
    pub(crate) fn from_args(cx: &Ctxt, args: TokenStream) -> Self {
        let kind = SOURCE_ATTR_KEYS.kind;
        let mut attrs = SourceAttrs {
            name: Attr::new(kind, NAME),
            root_key: Attr::new(kind, ROOT_KEY),
            max_table_nesting: Attr::new(kind, MAX_TABLE_NESTING),
            resources: Attr::new(kind, RESOURCES),
            krate: Attr::new(kind, CRATE),
        };
        read_entries(cx, args, &SOURCE_ATTR_KEYS, |known, key, value| {
            attrs.set_entry(cx, known, key, value);
        });
        attrs
    }

    /// Records one well-formed `key = value` entry; errors in the value are recorded.
    fn set_entry(&mut self, cx: &Ctxt, known: &'static str, key: &Ident, value: &Expr) {
        match known {
            // name = "facebook_ads"
            NAME => {
                let lit = non_empty_str(cx, value, "a source name cannot be empty", || {
                    format!("expected a string literal, e.g. `{}`", source_example(NAME))
                });
                self.name.set(cx, key, lit);
            }
            // root_key = true | false
            ROOT_KEY => {
                let flag = bool_lit(cx, ROOT_KEY, value);
                self.root_key.set(cx, key, flag);
            }
            // max_table_nesting = 2
            MAX_TABLE_NESTING => {
                let nesting = nesting(cx, value);
                self.max_table_nesting.set(cx, key, nesting);
            }
            // resources(ads, campaigns, crate::stripe::charges)
            RESOURCES => {
                let paths = resource_paths(cx, value);
                self.resources.set(cx, key, paths);
            }
            // crate = "my_reexport::ele"
            _ => {
                let path = crate_path(cx, value);
                self.krate.set(cx, key, path);
            }
        }
    }
}

/// `last_value_func`: dlt's `max` and `min`, or a function of the user's.
pub(crate) enum LastValueFunc {
    /// `"max"` or `"min"`: the variant of `LastValueFunc` in ele-core, spanned at the literal.
    Builtin(&'static str, Span),
    /// `last_value_func = by_event_type`: a path (or a closure that captures nothing).
    Custom(Expr),
}

/// A variant of an ele-core enum chosen by a string literal: `"include"` gives `Include`.
pub(crate) struct Variant {
    pub(crate) name: &'static str,
    pub(crate) span: Span,
}

/// `lag = 3600`: the number, and the span of its literal.
pub(crate) struct Lag {
    pub(crate) value: f64,
    pub(crate) span: Span,
}

/// The parsed `#[incremental(...)]` attributes of one parameter (several are merged, as serde does).
pub(crate) struct IncrementalAttrs {
    pub(crate) cursor: Attr<LitStr>,
    pub(crate) initial_value: Attr<Expr>,
    pub(crate) end_value: Attr<Expr>,
    pub(crate) last_value_func: Attr<LastValueFunc>,
    pub(crate) primary_key: Attr<Key>,
    pub(crate) allow_external_schedulers: Attr<LitBool>,
    pub(crate) on_cursor_value_missing: Attr<Variant>,
    pub(crate) row_order: Attr<Variant>,
    pub(crate) lag: Attr<Lag>,
}

impl IncrementalAttrs {
    /// Nothing set: the call site may give every setting.
    pub(crate) fn new() -> Self {
        let kind = INCREMENTAL_ATTR_KEYS.kind;
        IncrementalAttrs {
            cursor: Attr::new(kind, CURSOR),
            initial_value: Attr::new(kind, INITIAL_VALUE),
            end_value: Attr::new(kind, END_VALUE),
            last_value_func: Attr::new(kind, LAST_VALUE_FUNC),
            primary_key: Attr::new(kind, PRIMARY_KEY),
            allow_external_schedulers: Attr::new(kind, ALLOW_EXTERNAL_SCHEDULERS),
            on_cursor_value_missing: Attr::new(kind, ON_CURSOR_VALUE_MISSING),
            row_order: Attr::new(kind, ROW_ORDER),
            lag: Attr::new(kind, LAG),
        }
    }

    /// Reads one `#[incremental]`, `#[incremental()]` or `#[incremental(key = value, ...)]`, recording every
    /// error in `cx`.
    pub(crate) fn read(&mut self, cx: &Ctxt, attr: &Attribute) {
        let args = match &attr.meta {
            Meta::Path(_) => return,
            Meta::List(list) => list.tokens.clone(),
            Meta::NameValue(_) => {
                cx.error_spanned_by(
                    attr,
                    "expected `#[incremental(key = value, ...)]`, e.g. `#[incremental(cursor = \"created_at\")]`",
                );
                return;
            }
        };
        read_entries(cx, args, &INCREMENTAL_ATTR_KEYS, |known, key, value| {
            self.set_entry(cx, known, key, value);
        });
    }

    /// Records one well-formed `key = value` entry; errors in the value are recorded.
    fn set_entry(&mut self, cx: &Ctxt, known: &'static str, key: &Ident, value: &Expr) {
        match known {
            // cursor = "created_at" | "item.ts" | "$.items[*].ts" | "$"
            CURSOR => {
                let lit = non_empty_str(cx, value, "a cursor path cannot be empty", || {
                    format!(
                        "expected a string literal holding a field name or a JSONPath, e.g. `{}`",
                        incremental_example(CURSOR)
                    )
                });
                self.cursor.set(cx, key, lit);
            }
            // initial_value = "1970-01-01T00:00:00Z" | 0 | any serializable expression
            INITIAL_VALUE => self.initial_value.set(cx, key, Some(value.clone())),
            // end_value = "2022-08-01T00:00:00Z" | any serializable expression
            END_VALUE => self.end_value.set(cx, key, Some(value.clone())),
            // last_value_func = "max" | "min" | by_event_type
            LAST_VALUE_FUNC => {
                let func = last_value_func(cx, value);
                self.last_value_func.set(cx, key, func);
            }
            // primary_key = "id" | ("id", "url") | ["id", "url"] | ()
            PRIMARY_KEY => {
                let columns = key_columns(cx, PRIMARY_KEY, value);
                self.primary_key.set(cx, key, columns);
            }
            // allow_external_schedulers = true | false
            ALLOW_EXTERNAL_SCHEDULERS => {
                let flag = bool_lit(cx, ALLOW_EXTERNAL_SCHEDULERS, value);
                self.allow_external_schedulers.set(cx, key, flag);
            }
            // on_cursor_value_missing = "raise" | "include" | "exclude"
            ON_CURSOR_VALUE_MISSING => {
                let variant = choice(
                    cx,
                    value,
                    "`on_cursor_value_missing` option",
                    &CURSOR_VALUE_MISSING,
                )
                .map(|(name, lit)| Variant {
                    name,
                    span: lit.span(),
                });
                self.on_cursor_value_missing.set(cx, key, variant);
            }
            // row_order = "asc" | "desc"
            ROW_ORDER => {
                let variant =
                    choice(cx, value, "row order", &ROW_ORDERS).map(|(name, lit)| Variant {
                        name,
                        span: lit.span(),
                    });
                self.row_order.set(cx, key, variant);
            }
            // lag = 3600 | 0.5
            _ => {
                let lag = lag(cx, value);
                self.lag.set(cx, key, lag);
            }
        }
    }
}

/// Whether an attribute is `#[incremental ...]`.
pub(crate) fn is_incremental(attr: &Attribute) -> bool {
    attr.path().is_ident(INCREMENTAL)
}

/// Whether an attribute is `#[config]` or `#[secret]`.
pub(crate) fn is_config(attr: &Attribute) -> bool {
    attr.path().is_ident(CONFIG) || attr.path().is_ident(SECRET)
}

/// Whether a parameter attribute is one of the macros' own, which the body must not see.
pub(crate) fn is_param_attr(attr: &Attribute) -> bool {
    is_incremental(attr) || is_config(attr)
}

/// Removes the parameter attributes that `is_ours` picks (ele's own, such as [`is_param_attr`]) from the
/// parameters of `sig`: only the macro understands them, and left in, each would add "cannot find attribute".
/// Returns whether it removed any.
pub(crate) fn strip_param_attrs(sig: &mut Signature, is_ours: fn(&Attribute) -> bool) -> bool {
    let mut stripped = false;
    for input in &mut sig.inputs {
        if let FnArg::Typed(p) = input {
            let before = p.attrs.len();
            p.attrs.retain(|a| !is_ours(a));
            stripped |= p.attrs.len() != before;
        }
    }
    stripped
}

/// Reads every `key = value` entry of one attribute, handing each well-formed one with a known key to `set`.
fn read_entries(
    cx: &Ctxt,
    args: TokenStream,
    keys: &Keys,
    mut set: impl FnMut(&'static str, &Ident, &Expr),
) {
    for entry in split_entries(cx, args) {
        let parser = |input: ParseStream| {
            if let Some((known, key, value)) = parse_entry(cx, keys, input)? {
                set(known, &key, &value);
            }
            Ok(())
        };
        if let Err(error) = parser.parse2(entry) {
            cx.syn_error(error);
        }
    }
}

/// One `key = value` entry: its known key and value, or `None` when the key is unknown (the error is
/// recorded). Syntax errors are returned.
fn parse_entry(
    cx: &Ctxt,
    keys: &Keys,
    input: ParseStream,
) -> syn::Result<Option<(&'static str, Ident, Expr)>> {
    let example = keys.example;
    // `Ident::parse_any` so that the keyword `crate` is a key like the others.
    let key = input.call(Ident::parse_any).map_err(|_| {
        input.error(format!(
            "expected `key = value`, e.g. `{}`",
            example(keys.names[0])
        ))
    })?;
    let key_name = key.unraw().to_string();
    let Some(&known) = keys.names.iter().find(|k| **k == key_name) else {
        cx.error_spanned_by(
            &key,
            format!(
                "unknown {} attribute `{key_name}`; expected one of {}",
                keys.kind,
                list(keys.names)
            ),
        );
        // The rest of the entry belongs to the unknown key; the next entry is read normally.
        input.parse::<TokenStream>()?;
        return Ok(None);
    };
    // `resources(ads, campaigns)`: a list, written like `#[derive(...)]`.
    if known == RESOURCES && input.peek(syn::token::Paren) {
        let value: Expr = input.parse()?;
        if !input.is_empty() {
            return Err(input.error(format!("expected `,` after `{known}(...)`")));
        }
        return Ok(Some((known, key, value)));
    }
    if !input.peek(Token![=]) {
        return Err(syn::Error::new_spanned(
            &key,
            format!("`{known}` needs a value, e.g. `{}`", example(known)),
        ));
    }
    let eq: Token![=] = input.parse()?;
    if input.is_empty() {
        return Err(syn::Error::new(
            eq.span,
            format!("expected a value after `=`, e.g. `{}`", example(known)),
        ));
    }
    let value: Expr = input.parse()?;
    if !input.is_empty() {
        return Err(input.error(format!("expected `,` after the value of `{known}`")));
    }
    Ok(Some((known, key, value)))
}

/// `"a", "b"` -> "`a`, `b`".
fn list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Splits the attribute arguments at top-level commas (values with commas are inside a group). An empty
/// entry before a comma is reported at that comma; a trailing comma is fine.
fn split_entries(cx: &Ctxt, args: TokenStream) -> Vec<TokenStream> {
    let mut entries = Vec::new();
    let mut current = Vec::new();
    for tree in args {
        match tree {
            TokenTree::Punct(p) if p.as_char() == ',' => {
                if current.is_empty() {
                    cx.error_at(p.span(), "expected `key = value` before `,`");
                } else {
                    entries.push(current.drain(..).collect());
                }
            }
            other => current.push(other),
        }
    }
    if !current.is_empty() {
        entries.push(current.into_iter().collect());
    }
    entries
}

/// Looks through the invisible groups a `macro_rules!` fragment leaves around an expression.
fn ungroup(mut value: &Expr) -> &Expr {
    while let Expr::Group(g) = value {
        value = &g.expr;
    }
    value
}

fn string_lit(value: &Expr) -> Option<&LitStr> {
    match ungroup(value) {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Some(s),
        _ => None,
    }
}

fn non_empty_str(
    cx: &Ctxt,
    value: &Expr,
    empty: &str,
    not_a_string: impl FnOnce() -> String,
) -> Option<LitStr> {
    let Some(lit) = string_lit(value) else {
        cx.error_spanned_by(value, not_a_string());
        return None;
    };
    if lit.value().is_empty() {
        cx.error_spanned_by(lit, empty);
        return None;
    }
    Some(lit.clone())
}

/// A string literal naming one of `options`: the option's value and the literal. `what` names the setting in
/// messages ("unknown write disposition `upsert`; expected one of ...").
fn choice<'v, V: Copy>(
    cx: &Ctxt,
    value: &'v Expr,
    what: &str,
    options: &[(&str, V)],
) -> Option<(V, &'v LitStr)> {
    let names = options
        .iter()
        .map(|(name, _)| format!("`\"{name}\"`"))
        .collect::<Vec<_>>()
        .join(", ");
    let Some(lit) = string_lit(value) else {
        cx.error_spanned_by(value, format!("expected a string literal, one of {names}"));
        return None;
    };
    let given = lit.value();
    match options.iter().find(|(name, _)| *name == given) {
        Some((_, chosen)) => Some((*chosen, lit)),
        None => {
            cx.error_spanned_by(
                lit,
                format!("unknown {what} `{given}`; expected one of {names}"),
            );
            None
        }
    }
}

fn table_name(cx: &Ctxt, value: &Expr) -> Option<TableName> {
    match ungroup(value) {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => {
            if lit.value().is_empty() {
                cx.error_spanned_by(lit, "a table name cannot be empty");
                return None;
            }
            Some(TableName::Fixed(lit.clone()))
        }
        Expr::Path(p) if p.qself.is_none() => Some(TableName::Dynamic(value.clone())),
        Expr::Closure(_) => Some(TableName::Dynamic(value.clone())),
        other => {
            cx.error_spanned_by(other, TABLE_NAME_FORM);
            None
        }
    }
}

fn last_value_func(cx: &Ctxt, value: &Expr) -> Option<LastValueFunc> {
    match ungroup(value) {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => match lit.value().as_str() {
            "max" => Some(LastValueFunc::Builtin("Max", lit.span())),
            "min" => Some(LastValueFunc::Builtin("Min", lit.span())),
            other => {
                cx.error_spanned_by(
                    lit,
                    format!("unknown `last_value_func` `{other}`; {LAST_VALUE_FUNC_FORM}"),
                );
                None
            }
        },
        // A closure that captures nothing coerces to the function pointer the runtime takes.
        Expr::Path(p) if p.qself.is_none() => Some(LastValueFunc::Custom(value.clone())),
        Expr::Closure(_) => Some(LastValueFunc::Custom(value.clone())),
        other => {
            cx.error_spanned_by(other, LAST_VALUE_FUNC_FORM);
            None
        }
    }
}

fn bool_lit(cx: &Ctxt, key: &str, value: &Expr) -> Option<LitBool> {
    match ungroup(value) {
        Expr::Lit(ExprLit {
            lit: Lit::Bool(b), ..
        }) => Some(b.clone()),
        other => {
            cx.error_spanned_by(
                other,
                format!("expected `true` or `false`, e.g. `{key} = true`"),
            );
            None
        }
    }
}

fn lag(cx: &Ctxt, value: &Expr) -> Option<Lag> {
    let (parsed, span) = match ungroup(value) {
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => (i.base10_parse::<f64>(), i.span()),
        Expr::Lit(ExprLit {
            lit: Lit::Float(f), ..
        }) => (f.base10_parse::<f64>(), f.span()),
        other => {
            cx.error_spanned_by(
                other,
                format!(
                    "expected a non-negative number literal (seconds for timestamps, days for dates, units for numbers), e.g. `{}`",
                    incremental_example(LAG)
                ),
            );
            return None;
        }
    };
    match parsed {
        Ok(value) if value.is_finite() => Some(Lag { value, span }),
        _ => {
            cx.error_at(span, "`lag` must be a finite number");
            None
        }
    }
}

fn key_columns(cx: &Ctxt, key: &str, value: &Expr) -> Option<Key> {
    let elements: Vec<&Expr> = match ungroup(value) {
        Expr::Lit(_) => vec![value],
        Expr::Tuple(t) => t.elems.iter().collect(),
        Expr::Array(a) => a.elems.iter().collect(),
        // `("id")` is not a tuple in Rust, but the intent is plain.
        Expr::Paren(p) => vec![&*p.expr],
        other => {
            cx.error_spanned_by(other, KEY_FORM);
            return None;
        }
    };
    let mut columns: Vec<LitStr> = Vec::with_capacity(elements.len());
    let mut valid = true;
    for element in elements {
        let Some(lit) = string_lit(element) else {
            cx.error_spanned_by(element, KEY_FORM);
            valid = false;
            continue;
        };
        let column = lit.value();
        if column.is_empty() {
            cx.error_spanned_by(lit, "a column name cannot be empty");
            valid = false;
        } else if columns.iter().any(|c| c.value() == column) {
            cx.error_spanned_by(lit, format!("column `{column}` appears twice in `{key}`"));
            valid = false;
        }
        columns.push(lit.clone());
    }
    valid.then_some(Key { columns })
}

fn nesting(cx: &Ctxt, value: &Expr) -> Option<Nesting> {
    let lit: &LitInt = match ungroup(value) {
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => i,
        other => {
            cx.error_spanned_by(
                other,
                format!(
                    "expected an integer literal, e.g. `{}`",
                    example(MAX_TABLE_NESTING)
                ),
            );
            return None;
        }
    };
    match lit.base10_parse::<usize>() {
        Ok(depth) => Some(Nesting {
            depth,
            span: lit.span(),
        }),
        Err(_) => {
            cx.error_spanned_by(lit, "`max_table_nesting` must fit in a `usize`");
            None
        }
    }
}

fn crate_path(cx: &Ctxt, value: &Expr) -> Option<syn::Path> {
    let Some(lit) = string_lit(value) else {
        cx.error_spanned_by(
            value,
            format!(
                "expected a string literal holding a path, e.g. `{}`",
                example(CRATE)
            ),
        );
        return None;
    };
    match lit.parse_with(syn::Path::parse_mod_style) {
        Ok(path) => Some(path),
        Err(_) => {
            cx.error_spanned_by(lit, format!("expected a path, e.g. `{}`", example(CRATE)));
            None
        }
    }
}

/// `resources(ads, campaigns)` (parsed as a tuple or a parenthesized path): the paths of `#[resource]` functions.
fn resource_paths(cx: &Ctxt, value: &Expr) -> Option<Vec<syn::Path>> {
    let elements: Vec<&Expr> = match ungroup(value) {
        Expr::Tuple(t) => t.elems.iter().collect(),
        Expr::Paren(p) => vec![&*p.expr],
        other => {
            cx.error_spanned_by(other, RESOURCES_FORM);
            return None;
        }
    };
    let mut paths: Vec<syn::Path> = Vec::with_capacity(elements.len());
    for element in elements {
        match ungroup(element) {
            Expr::Path(p) if p.qself.is_none() && p.attrs.is_empty() => {
                let last = p.path.segments.last().map(|s| s.ident.to_string());
                if paths
                    .iter()
                    .any(|q| q.segments.last().map(|s| s.ident.to_string()) == last)
                {
                    cx.error_spanned_by(
                        p,
                        format!(
                            "resource `{}` is listed twice; each listed resource gets one accessor",
                            last.unwrap_or_default()
                        ),
                    );
                } else {
                    paths.push(p.path.clone());
                }
            }
            other => {
                cx.error_spanned_by(other, RESOURCES_FORM);
            }
        }
    }
    // The valid names are kept even next to invalid ones, so that their own checks run too.
    Some(paths)
}

const RESOURCES_FORM: &str = "expected the names of `#[resource]` functions, e.g. `resources(ads, campaigns)` or `resources(crate::stripe::charges)`";
