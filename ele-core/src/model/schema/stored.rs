//! dlt's stored schema document (schema engine version 11): how a [`Schema`] is written to
//! `_dlt_version.schema`, the working dir and load packages, and read back.
//!
//! The document is dlt 1.31's own (`name`, `version`, `version_hash`, `engine_version`, `tables` with the system
//! tables, `settings`, `normalizers`, `previous_hashes`), so dlt restores a dataset ele wrote and ele continues one
//! dlt wrote. What ele does not model (dlt's processing hints, `row_key`, `incremental`, descriptions, table
//! formats, the naming and normalizer settings, ...) is kept from the document the schema was read from and
//! written back as it was; a column or table ele adds is written the way dlt writes it. Documents of ele before
//! it wrote dlt's form (`name`, `version`, `tables` in ele's own shape) are still read.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha3::{Digest, Sha3_256};

use super::table::{
    C_DLT_ID, C_DLT_LOAD_ID, C_DLT_PARENT_ID, C_DLT_ROOT_ID, Column, Columns, Schema, Table,
};
use crate::foundation::hash::dumps_sorted;
use crate::model::hints::WriteDisposition;
use crate::model::state::object_entry;

/// dlt's schema engine version of the documents ele writes.
pub const ENGINE_VERSION: u64 = 11;

/// How many earlier version hashes a document keeps (dlt's `store_prev_hash`).
const PREVIOUS_HASHES_KEPT: usize = 10;

/// dlt's system tables, which every stored schema holds.
pub const SYSTEM_TABLES: [&str; 3] = ["_dlt_version", "_dlt_loads", "_dlt_pipeline_state"];

/// Top-level keys ele writes itself; the document's other top-level keys are kept as read.
const OWN_KEYS: [&str; 8] = [
    "version",
    "version_hash",
    "engine_version",
    "name",
    "tables",
    "settings",
    "normalizers",
    "previous_hashes",
];

/// Keys left out of the version hash (dlt's `generate_version_hash`).
const UNHASHED_KEYS: [&str; 4] = [
    "version",
    "version_hash",
    "imported_version_hash",
    "previous_hashes",
];

impl Schema {
    /// The version hash of the document, by dlt's rule: base64 of SHA3-256 over the sorted-keys JSON of the
    /// document without its version, hashes and history, followed by each table's name (sorted) and its column
    /// names in order. `_dlt_loads.schema_version_hash` and `_dlt_version.version_hash` hold it.
    pub fn version_hash(&self) -> String {
        let mut content = self.content();
        for key in UNHASHED_KEYS {
            content.remove(key);
        }
        hash_of(&content)
    }

    /// The stored document, as dlt writes it into `_dlt_version.schema` (engine version [`ENGINE_VERSION`]).
    pub fn to_document(&self) -> Value {
        let content = self.content();
        let mut doc = Map::new();
        doc.insert("version".into(), json!(self.version));
        doc.insert("version_hash".into(), json!(self.version_hash()));
        doc.insert("engine_version".into(), json!(ENGINE_VERSION));
        let mut content = content;
        for key in ["name", "tables", "settings", "normalizers"] {
            if let Some(v) = content.remove(key) {
                doc.insert(key.into(), v);
            }
        }
        doc.insert("previous_hashes".into(), json!(self.previous_hashes));
        if let Some(imported) = self.base.get("imported_version_hash") {
            doc.insert("imported_version_hash".into(), imported.clone());
        }
        doc.extend(content);
        Value::Object(doc)
    }

    /// Reads a stored document: dlt's (any engine version from 9 on, which share this layout), or the one ele
    /// wrote before it wrote dlt's.
    pub fn from_document(doc: Value) -> Result<Schema, String> {
        let Value::Object(map) = doc else {
            return Err("a stored schema is a JSON object".into());
        };
        if map.contains_key("engine_version") {
            from_dlt(map)
        } else {
            let legacy: LegacySchema =
                serde_json::from_value(Value::Object(map)).map_err(|e| e.to_string())?;
            let mut schema = Schema::new(legacy.name);
            schema.version = legacy.version;
            schema.tables = legacy.tables;
            Ok(schema)
        }
    }

    /// Reads the text of `_dlt_version.schema`: the document's JSON, or (as dlt stores a document larger than
    /// the column allows) base64 of its zlib-compressed JSON.
    pub fn from_stored_text(text: &str) -> Result<Schema, String> {
        use base64::Engine as _;
        use std::io::Read as _;
        let json = if text.trim_start().starts_with('{') {
            text.to_owned()
        } else {
            let compressed = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|e| e.to_string())?;
            let mut out = String::new();
            flate2::read::ZlibDecoder::new(&compressed[..])
                .read_to_string(&mut out)
                .map_err(|e| e.to_string())?;
            out
        };
        let doc: Value = serde_json::from_str(&json).map_err(|e| e.to_string())?;
        Schema::from_document(doc)
    }

    /// Records that the content changed and is now `version`: the hash of the content before
    /// (`previous_hash`) goes first into the history of earlier hashes, as dlt's `bump_version_if_modified`.
    pub(crate) fn set_version(&mut self, version: u64, previous_hash: String) {
        if version != self.version && !self.previous_hashes.contains(&previous_hash) {
            self.previous_hashes.insert(0, previous_hash);
            self.previous_hashes.truncate(PREVIOUS_HASHES_KEPT);
        }
        self.version = version;
    }

    /// Marks `column` of `table` as the cursor of an incremental (dlt's `incremental` column hint); a column
    /// not seen yet is declared without a type. Nothing happens for a table the schema does not have.
    pub(crate) fn mark_incremental(&mut self, table: &str, column: &str) {
        if let Some(table) = self.tables.get_mut(table) {
            table
                .columns
                .entry(column.to_owned())
                .or_insert_with(|| Column::new(column, None))
                .other
                .insert("incremental".into(), json!(true));
        }
    }

    /// The merge strategy stated for `table` (dlt's `x-merge-strategy`), if any.
    pub fn merge_strategy(&self, table: &str) -> Option<crate::model::hints::MergeStrategy> {
        let stated = match self.tables.get(table)?.hints.get("x-merge-strategy") {
            Some(s) => s,
            None => self.base_table(table)?.get("x-merge-strategy")?,
        };
        stated.as_str()?.parse().ok()
    }

    /// Records how a merge writes root table `table`, with dlt's hints: `x-merge-strategy` for a strategy
    /// other than the default, and for scd2 the validity columns (`x-valid-from`, `x-valid-to`,
    /// `x-active-record-timestamp`) and the row version (`x-row-version`; `_dlt_id`, a hash of the item, is then
    /// neither unique nor the row key).
    pub(crate) fn mark_merge(
        &mut self,
        table: &str,
        strategy: crate::model::hints::MergeStrategy,
        scd2: Option<Scd2Hints<'_>>,
    ) {
        use crate::model::hints::MergeStrategy;
        // The default is stated once a strategy was stated (a table that switched back from another).
        let stated = self
            .base_table(table)
            .is_some_and(|b| b.contains_key("x-merge-strategy"));
        let Some(t) = self.tables.get_mut(table) else {
            return;
        };
        if strategy != MergeStrategy::DeleteInsert || stated {
            t.hints
                .insert("x-merge-strategy".into(), json!(strategy.as_str()));
        }
        let Some(scd2) = scd2 else {
            return;
        };
        let mut mark = |column: &str, hints: Value| {
            if let (Some(c), Value::Object(hints)) = (t.columns.get_mut(column), hints) {
                c.other.extend(hints);
            }
        };
        mark(scd2.valid_from, json!({"x-valid-from": true}));
        mark(
            scd2.valid_to,
            json!({"x-valid-to": true, "x-active-record-timestamp": scd2.active_to}),
        );
        if scd2.row_version == C_DLT_ID {
            mark(
                C_DLT_ID,
                json!({"x-row-version": true, "unique": false, "row_key": false}),
            );
        } else {
            mark(scd2.row_version, json!({"x-row-version": true}));
        }
    }

    /// Whether the document says `_dlt_root_id` is written into the child rows of root table `root` (dlt's
    /// propagation config of the relational normalizer, for the table or for all tables).
    pub fn propagates_root_key(&self, root: &str) -> bool {
        let config = self
            .base
            .get("normalizers")
            .and_then(|n| n.get("json"))
            .and_then(|j| j.get("config"))
            .and_then(|c| c.get("propagation"));
        let Some(propagation) = config else {
            return false;
        };
        let to_root = |v: Option<&Value>| {
            v.and_then(Value::as_object)
                .is_some_and(|m| m.values().any(|t| t == C_DLT_ROOT_ID))
        };
        to_root(propagation.get("root"))
            || to_root(propagation.get("tables").and_then(|t| t.get(root)))
    }

    /// The document without `version`, `version_hash` and `previous_hashes`.
    fn content(&self) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("engine_version".into(), json!(ENGINE_VERSION));
        out.insert("name".into(), json!(self.name));
        out.insert("tables".into(), Value::Object(self.tables_document()));
        out.insert("settings".into(), self.settings_document());
        out.insert("normalizers".into(), self.normalizers_document());
        for (k, v) in &self.base {
            if !OWN_KEYS.contains(&k.as_str()) && k != "imported_version_hash" {
                out.insert(k.clone(), v.clone());
            }
        }
        out
    }

    fn base_table(&self, name: &str) -> Option<&Map<String, Value>> {
        self.base.get("tables")?.get(name)?.as_object()
    }

    fn tables_document(&self) -> Map<String, Value> {
        let mut out = Map::new();
        let system = |name: &str| -> Value {
            match self.base_table(name) {
                Some(t) => Value::Object(t.clone()),
                None => standard_system_table(name),
            }
        };
        out.insert("_dlt_version".into(), system("_dlt_version"));
        out.insert("_dlt_loads".into(), system("_dlt_loads"));
        // A table declared without a column (a run that sent nothing) is not stored, as dlt stores none.
        for table in self.tables.values().filter(|t| {
            !t.columns.is_empty()
                || t.schema_contract.is_some()
                || self.base_table(&t.name).is_some()
        }) {
            out.insert(
                table.name.clone(),
                Value::Object(table_document(table, self.base_table(&table.name))),
            );
        }
        out.insert("_dlt_pipeline_state".into(), system("_dlt_pipeline_state"));
        out
    }

    fn settings_document(&self) -> Value {
        match self.base.get("settings") {
            Some(settings) => settings.clone(),
            None => json!({
                "detections": ["iso_timestamp"],
                "default_hints": {
                    "not_null": [C_DLT_ID, C_DLT_ROOT_ID, C_DLT_PARENT_ID, "_dlt_list_idx", C_DLT_LOAD_ID],
                    "parent_key": [C_DLT_PARENT_ID],
                    "root_key": [C_DLT_ROOT_ID],
                    "unique": [C_DLT_ID],
                    "row_key": [C_DLT_ID],
                }
            }),
        }
    }

    /// The normalizers: as read (or dlt's defaults), with a propagation entry for every root table whose
    /// child tables hold `_dlt_root_id`, and for merge tables (dlt's `requires_root_key`).
    fn normalizers_document(&self) -> Value {
        let mut normalizers = match self.base.get("normalizers") {
            Some(Value::Object(n)) => n.clone(),
            _ => {
                let mut n = Map::new();
                n.insert("names".into(), json!("snake_case"));
                n.insert(
                    "json".into(),
                    json!({"module": "dlt.common.normalizers.json.relational"}),
                );
                n
            }
        };
        let propagated: Vec<&str> = self
            .tables
            .values()
            .filter(|t| t.parent.is_none())
            .filter(|root| {
                let scd2 = root
                    .hints
                    .get("x-merge-strategy")
                    .or_else(|| self.base_table(&root.name)?.get("x-merge-strategy"))
                    .is_some_and(|s| s == "scd2");
                self.tables.values().any(|t| {
                    t.parent.is_some() && t.has_root_key() && self.root_of(&t.name) == root.name
                }) || (root.write_disposition == WriteDisposition::Merge
                    && !scd2
                    && !self.tables.values().any(|t| {
                        t.parent.as_deref() == Some(root.name.as_str()) && !t.has_root_key()
                    }))
            })
            .map(|t| t.name.as_str())
            .collect();
        // A table no longer in the schema loses its entry (dlt's `remove_table`).
        if let Some(Value::Object(tables)) = normalizers
            .get_mut("json")
            .and_then(|j| j.get_mut("config"))
            .and_then(|c| c.get_mut("propagation"))
            .and_then(|p| p.get_mut("tables"))
        {
            tables.retain(|name, _| self.tables.contains_key(name));
        }
        if propagated.is_empty() {
            return Value::Object(normalizers);
        }
        let json_normalizer = object_entry(&mut normalizers, "json");
        let config = object_entry(json_normalizer, "config");
        let propagation = object_entry(config, "propagation");
        let tables = object_entry(propagation, "tables");
        for root in propagated {
            let entry = object_entry(tables, root);
            if !entry.values().any(|v| v == C_DLT_ROOT_ID) {
                entry.insert(C_DLT_ID.into(), json!(C_DLT_ROOT_ID));
            }
        }
        Value::Object(normalizers)
    }
}

/// The scd2 columns of a merge, for [`Schema::mark_merge`].
pub(crate) struct Scd2Hints<'a> {
    /// The column holding when a version became valid.
    pub(crate) valid_from: &'a str,
    /// The column holding when a version was retired.
    pub(crate) valid_to: &'a str,
    /// The "valid to" of active versions (RFC 3339), `None` for NULL.
    pub(crate) active_to: Option<String>,
    /// The column identifying a version.
    pub(crate) row_version: &'a str,
}

/// dlt's version hash of a document's content (see [`Schema::version_hash`]).
fn hash_of(content: &Map<String, Value>) -> String {
    use base64::Engine as _;
    let mut hasher = Sha3_256::new();
    let value = Value::Object(content.clone());
    hasher.update(dumps_sorted(&value).as_bytes());
    if let Some(Value::Object(tables)) = content.get("tables") {
        let mut names: Vec<&String> = tables.keys().collect();
        names.sort();
        for name in names {
            hasher.update(name.as_bytes());
            if let Some(Value::Object(columns)) = tables[name].get("columns") {
                for column in columns.keys() {
                    hasher.update(column.as_bytes());
                }
            }
        }
    }
    base64::engine::general_purpose::STANDARD.encode(hasher.finalize())
}

/// A table of the document: the one it was read from (`base`) with what ele models set on it.
fn table_document(table: &Table, base: Option<&Map<String, Value>>) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("name".into(), json!(table.name));
    let base_columns = base
        .and_then(|b| b.get("columns"))
        .and_then(Value::as_object);
    // A column only ever seen holding nulls, without hints, is not stored (dlt adds it at its first value).
    let columns: Map<String, Value> = table
        .columns
        .values()
        .filter(|c| {
            c.is_complete()
                || **c != Column::new(c.name.clone(), None)
                || base_columns.is_some_and(|b| b.contains_key(&c.name))
        })
        .map(|c| {
            let base = base_columns
                .and_then(|b| b.get(&c.name))
                .and_then(Value::as_object);
            (c.name.clone(), Value::Object(column_document(c, base)))
        })
        .collect();
    out.insert("columns".into(), Value::Object(columns));
    if let Some(base) = base {
        for (k, v) in base {
            if !out.contains_key(k) {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    match &table.parent {
        Some(parent) => {
            out.insert("parent".into(), json!(parent));
            out.remove("write_disposition");
            out.remove("resource");
        }
        None => {
            out.remove("parent");
            out.insert(
                "write_disposition".into(),
                json!(table.write_disposition.as_str()),
            );
            let resource = table.resource.as_deref().unwrap_or(&table.name);
            out.insert("resource".into(), json!(resource));
        }
    }
    match table.schema_contract {
        Some(contract) => {
            out.insert(
                "schema_contract".into(),
                serde_json::to_value(contract).unwrap_or(Value::Null),
            );
        }
        None => {
            out.remove("schema_contract");
        }
    }
    out.extend(table.hints.iter().map(|(k, v)| (k.clone(), v.clone())));
    if table.complete_columns().next().is_some() {
        object_entry(&mut out, "x-normalizer").insert("seen-data".into(), json!(true));
    }
    out
}

/// A column of the document: the one it was read from (`base`) with what ele models set on it. dlt's system
/// columns get dlt's hints (`row_key`, `unique`, `parent_key`, `root_key`), which ele applies its own way.
fn column_document(column: &Column, base: Option<&Map<String, Value>>) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("name".into(), json!(column.name));
    if let Some(base) = base {
        out.extend(base.iter().map(|(k, v)| (k.clone(), v.clone())));
        out.insert("name".into(), json!(column.name));
    }
    let mut set = |key: &str, value: Option<Value>| match value {
        Some(v) => {
            out.insert(key.into(), v);
        }
        None => {
            out.remove(key);
        }
    };
    set("data_type", column.data_type.map(|t| json!(t.as_str())));
    set("precision", column.precision.map(|p| json!(p)));
    set("scale", column.scale.map(|s| json!(s)));
    set("timezone", column.timezone.map(|t| json!(t)));
    set("dedup_sort", column.dedup_sort.map(|d| json!(d.as_str())));
    // `nullable` as read; stated once a column is typed by its first value (as dlt writes inferred columns),
    // left out when a hint typed it without saying.
    let base_typed = base.is_some_and(|b| b.contains_key("data_type"));
    let explicit = base.is_some_and(|b| b.contains_key("nullable"))
        || (!base_typed && column.data_type.is_some() && !column.nullable_unsaid);
    if explicit || !column.nullable {
        out.insert("nullable".into(), json!(column.nullable));
    }
    let flags = [
        ("unique", column.unique),
        ("primary_key", column.primary_key),
        ("merge_key", column.merge_key),
        ("hard_delete", column.hard_delete),
        ("partition", column.partition),
        ("cluster", column.cluster),
        ("sort", column.sort),
        ("variant", column.variant),
    ];
    // dlt's hints of its system columns, unless the document says otherwise (scd2's `_dlt_id`).
    let system: &[&str] = match column.name.as_str() {
        C_DLT_ID => &["unique", "row_key"],
        C_DLT_PARENT_ID => &["parent_key"],
        C_DLT_ROOT_ID => &["root_key"],
        _ => &[],
    };
    for (key, on) in flags {
        if system.contains(&key) {
            continue;
        }
        if on || out.contains_key(key) {
            out.insert(key.into(), json!(on));
        }
    }
    for key in system {
        let keep = base.is_some_and(|b| b.contains_key(*key));
        if !keep {
            out.insert((*key).into(), json!(true));
        }
    }
    out.extend(column.other.iter().map(|(k, v)| (k.clone(), v.clone())));
    if column.variant && !out.contains_key("description") {
        // dlt's words, naming the variant column itself
        out.insert(
            "description".into(),
            json!(format!(
                "Variant of column {} generated by dlt",
                column.name
            )),
        );
    }
    out
}

/// dlt 1.31's definition of a system table, as it writes it into every stored schema.
fn standard_system_table(name: &str) -> Value {
    let column = |name: &str, data_type: &str, nullable: bool, description: &str| {
        (
            name.to_owned(),
            json!({"name": name, "data_type": data_type, "nullable": nullable, "description": description}),
        )
    };
    let table =
        |name: &str, columns: Vec<(String, Value)>, disposition: &str, description: &str| {
            let mut t = Map::new();
            t.insert("name".into(), json!(name));
            t.insert(
                "columns".into(),
                Value::Object(columns.into_iter().collect()),
            );
            t.insert("write_disposition".into(), json!(disposition));
            t.insert("resource".into(), json!(name));
            t.insert("description".into(), json!(description));
            t
        };
    let with_precision = |name: &str, description: &str| {
        (
            name.to_owned(),
            json!({"name": name, "data_type": "text", "nullable": false, "precision": 64, "description": description}),
        )
    };
    match name {
        "_dlt_version" => Value::Object(table(
            name,
            vec![
                column(
                    "version",
                    "bigint",
                    false,
                    "Numeric version of the schema, incremented on each schema change",
                ),
                column(
                    "engine_version",
                    "bigint",
                    false,
                    "Version of the dlt schema engine that created this schema",
                ),
                column(
                    "inserted_at",
                    "timestamp",
                    false,
                    "Timestamp when this schema version was stored",
                ),
                column("schema_name", "text", false, "Name of the schema"),
                column(
                    "version_hash",
                    "text",
                    false,
                    "Unique hash of the schema content, used to detect changes",
                ),
                column(
                    "schema",
                    "text",
                    false,
                    "JSON representation of the complete schema definition",
                ),
            ],
            "skip",
            "Created by DLT. Tracks schema updates",
        )),
        "_dlt_loads" => Value::Object(table(
            name,
            vec![
                with_precision("load_id", "Unique identifier of the load operation"),
                column(
                    "schema_name",
                    "text",
                    true,
                    "Name of the schema associated with this load",
                ),
                column(
                    "status",
                    "bigint",
                    false,
                    "Status of the load operation (0 = success)",
                ),
                column(
                    "inserted_at",
                    "timestamp",
                    false,
                    "Timestamp when the load was completed",
                ),
                column(
                    "schema_version_hash",
                    "text",
                    true,
                    "Hash of the schema version used during this load",
                ),
            ],
            "skip",
            "Created by DLT. Tracks completed loads",
        )),
        _ => {
            let mut t = table(
                name,
                vec![
                    column(
                        "version",
                        "bigint",
                        false,
                        "Numeric version of the pipeline state",
                    ),
                    column(
                        "engine_version",
                        "bigint",
                        false,
                        "Version of the dlt state engine",
                    ),
                    column(
                        "pipeline_name",
                        "text",
                        false,
                        "Name of the pipeline this state belongs to",
                    ),
                    column(
                        "state",
                        "text",
                        false,
                        "Compressed JSON representation of the pipeline state",
                    ),
                    column(
                        "created_at",
                        "timestamp",
                        false,
                        "Timestamp when this state was created",
                    ),
                    column(
                        "version_hash",
                        "text",
                        true,
                        "Hash of the state content, used to detect changes",
                    ),
                    with_precision(
                        C_DLT_LOAD_ID,
                        "Load identifier linking this row to its load operation",
                    ),
                    (
                        C_DLT_ID.to_owned(),
                        json!({"name": C_DLT_ID, "data_type": "text", "nullable": false, "unique": true, "row_key": true}),
                    ),
                ],
                "append",
                "Created by DLT. Tracks pipeline state",
            );
            // dlt describes the columns of this table, not the table itself.
            t.shift_remove("description");
            t.insert("file_format".into(), json!("preferred"));
            t.insert("x-normalizer".into(), json!({"seen-data": true}));
            Value::Object(t)
        }
    }
}

/// Reads dlt's document.
fn from_dlt(map: Map<String, Value>) -> Result<Schema, String> {
    let name = map
        .get("name")
        .and_then(Value::as_str)
        .ok_or("the stored schema has no `name`")?
        .to_owned();
    let mut schema = Schema::new(name);
    schema.version = map.get("version").and_then(Value::as_u64).unwrap_or(1);
    schema.previous_hashes = map
        .get("previous_hashes")
        .and_then(Value::as_array)
        .map(|hashes| {
            hashes
                .iter()
                .filter_map(|h| h.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let empty = Map::new();
    let tables = map
        .get("tables")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    // Parents before children, as ele keeps them (a document lists tables in the order they were added).
    let mut pending: Vec<(&String, &Value)> = tables
        .iter()
        .filter(|(n, _)| !SYSTEM_TABLES.contains(&n.as_str()))
        .collect();
    while !pending.is_empty() {
        let before = pending.len();
        let mut rest = Vec::new();
        for (table_name, doc) in pending {
            let parent = doc.get("parent").and_then(Value::as_str);
            let parent_disposition = match parent {
                None => None,
                Some(p) => match schema.tables.get(p) {
                    Some(t) => Some(t.write_disposition),
                    None if tables.contains_key(p) => {
                        rest.push((table_name, doc));
                        continue;
                    }
                    None => {
                        return Err(format!(
                            "table `{table_name}` names a parent table `{p}` that the schema does not have"
                        ));
                    }
                },
            };
            let table = table_from_dlt(table_name, doc, parent_disposition)?;
            schema.tables.insert(table.name.clone(), table);
        }
        if rest.len() == before {
            return Err("the stored schema's parent tables form a circle".into());
        }
        pending = rest;
    }
    let mut base = map;
    for key in ["version", "version_hash", "previous_hashes"] {
        base.remove(key);
    }
    schema.base = base;
    Ok(schema)
}

fn table_from_dlt(
    name: &str,
    doc: &Value,
    parent_disposition: Option<WriteDisposition>,
) -> Result<Table, String> {
    let bad = |what: &str, e: &dyn std::fmt::Display| format!("table `{name}`: {what}: {e}");
    let parent = doc.get("parent").and_then(Value::as_str).map(str::to_owned);
    let write_disposition = match doc.get("write_disposition").and_then(Value::as_str) {
        Some(wd) => match wd.parse::<WriteDisposition>() {
            Ok(wd) => wd,
            Err(_) => parent_disposition.unwrap_or_default(),
        },
        None => parent_disposition.unwrap_or_default(),
    };
    let mut table = Table::new(name, parent, write_disposition);
    if table.parent.is_none() {
        table.resource = Some(
            doc.get("resource")
                .and_then(Value::as_str)
                .unwrap_or(name)
                .to_owned(),
        );
    }
    if let Some(contract) = doc.get("schema_contract") {
        table.schema_contract =
            Some(serde_json::from_value(contract.clone()).map_err(|e| bad("schema_contract", &e))?);
    }
    let mut columns = Columns::default();
    if let Some(Value::Object(docs)) = doc.get("columns") {
        for (column_name, column_doc) in docs {
            let mut column_doc = column_doc.clone();
            if let Value::Object(m) = &mut column_doc {
                m.insert("name".into(), json!(column_name));
                if m.get("data_type").and_then(Value::as_str) == Some("complex") {
                    m.insert("data_type".into(), json!("json"));
                }
            }
            let mut column: Column = serde_json::from_value(column_doc)
                .map_err(|e| bad(&format!("column `{column_name}`"), &e))?;
            // `_dlt_id` is dlt's row key: ele keeps it unique its own way (see the README), not by a constraint.
            if column.name == C_DLT_ID {
                column.unique = false;
            }
            columns.insert(column.name.clone(), column);
        }
    }
    table.columns = columns;
    Ok(table)
}

/// The document ele wrote before it wrote dlt's.
#[derive(Deserialize)]
struct LegacySchema {
    name: String,
    version: u64,
    tables: IndexMap<String, Table, super::table::FastHash>,
}

impl Serialize for Schema {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_document().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Schema {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Schema::from_document(Value::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::schema::DataType;

    /// Documents dlt 1.31 stored in `_dlt_version.schema` (regenerate with `tests/dlt/make_schema_fixtures.py`).
    const FIXTURES: [(&str, &str); 3] = [
        (
            "merge_nested.v2",
            include_str!("../../../tests/fixtures/dlt-1.31/merge_nested.v2.schema.json"),
        ),
        (
            "hints_contract.v2",
            include_str!("../../../tests/fixtures/dlt-1.31/hints_contract.v2.schema.json"),
        ),
        (
            "hints_contract.v3",
            include_str!("../../../tests/fixtures/dlt-1.31/hints_contract.v3.schema.json"),
        ),
    ];

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).expect("fixture is JSON")
    }

    #[test]
    fn the_version_hash_is_dlts_for_documents_dlt_wrote() {
        for (name, text) in FIXTURES {
            let doc = parse(text);
            let mut content = doc.as_object().cloned().unwrap_or_default();
            for key in UNHASHED_KEYS {
                content.remove(key);
            }
            assert_eq!(json!(hash_of(&content)), doc["version_hash"], "{name}");
            let schema = Schema::from_stored_text(text).expect("reads");
            assert_eq!(json!(schema.version_hash()), doc["version_hash"], "{name}");
        }
    }

    #[test]
    fn documents_dlt_wrote_are_written_back_as_they_were() {
        for (name, text) in FIXTURES {
            let doc = parse(text);
            let schema = Schema::from_stored_text(text).expect("reads");
            assert_eq!(schema.to_document(), doc, "{name}");
            // and through the working dir's serialization
            let again: Schema =
                serde_json::from_str(&serde_json::to_string(&schema).expect("writes"))
                    .expect("reads");
            assert_eq!(again, schema, "{name}");
        }
    }

    #[test]
    fn dlts_columns_and_hints_are_read_as_ele_models_them() {
        let schema = Schema::from_stored_text(FIXTURES[0].1).expect("reads");
        assert_eq!(schema.version, 2);
        let events = &schema.tables["events"];
        assert_eq!(events.write_disposition, WriteDisposition::Merge);
        assert_eq!(events.primary_key(), vec!["id"]);
        let amount = &events.columns["amount"];
        assert_eq!(
            (amount.data_type, amount.precision, amount.scale),
            (Some(DataType::Decimal), Some(12), Some(2))
        );
        assert_eq!(events.columns["note"].other["x-annotation"], "free text");
        assert!(
            !events.columns[C_DLT_ID].unique,
            "ele's row key is not a constraint"
        );
        let sub = &schema.tables["events__items__sub"];
        assert_eq!(sub.parent.as_deref(), Some("events__items"));
        assert_eq!(sub.write_disposition, WriteDisposition::Merge);
        assert!(schema.propagates_root_key("events"));
        assert!(!schema.tables.contains_key("_dlt_version"));

        let frozen = Schema::from_stored_text(FIXTURES[2].1).expect("reads");
        let table = &frozen.tables["frozen"];
        assert!(table.schema_contract.is_some());
        let code = &table.columns["code"];
        assert!(code.unique && !code.nullable && code.precision == Some(8));
        assert_eq!(table.columns["at"].timezone, Some(false));
        assert!(table.columns["n__v_text"].variant);
        assert_eq!(frozen.previous_hashes.len(), 3);
        assert!(!frozen.propagates_root_key("frozen"));
    }

    /// Checks what dlt's `validate_stored_schema` and `Schema.from_dict` check, as far as that goes without
    /// Python: the keys and their types, the system tables, parents, column names, types, the hash.
    fn check_as_dlt_would(doc: &Value) {
        let m = doc.as_object().expect("an object");
        for key in OWN_KEYS {
            assert!(m.contains_key(key), "missing `{key}`: {doc}");
        }
        assert_eq!(m["engine_version"], json!(ENGINE_VERSION));
        assert!(m["version"].as_u64().is_some());
        assert!(m["previous_hashes"].is_array());
        let tables = m["tables"].as_object().expect("tables");
        for system in SYSTEM_TABLES {
            assert!(tables.contains_key(system), "no {system}");
        }
        for (name, table) in tables {
            assert_eq!(table["name"], json!(name));
            if let Some(parent) = table.get("parent").and_then(Value::as_str) {
                assert!(tables.contains_key(parent), "{name}'s parent {parent}");
            } else {
                let wd = table["write_disposition"]
                    .as_str()
                    .expect("write_disposition");
                assert!(["append", "replace", "merge", "skip"].contains(&wd));
            }
            for (column_name, column) in table["columns"].as_object().expect("columns") {
                assert_eq!(column["name"], json!(column_name));
                if let Some(t) = column.get("data_type") {
                    let t: DataType = serde_json::from_value(t.clone()).expect("dlt's type");
                    let _ = t;
                }
                for (key, value) in column.as_object().expect("column") {
                    let known_bool = [
                        "nullable",
                        "unique",
                        "primary_key",
                        "merge_key",
                        "hard_delete",
                        "partition",
                        "cluster",
                        "sort",
                        "variant",
                        "row_key",
                        "parent_key",
                        "root_key",
                        "incremental",
                    ];
                    if known_bool.contains(&key.as_str()) {
                        assert!(value.is_boolean(), "{name}.{column_name}.{key}");
                    }
                }
            }
        }
        let mut content = m.clone();
        for key in UNHASHED_KEYS {
            content.remove(key);
        }
        assert_eq!(json!(hash_of(&content)), m["version_hash"]);
    }

    #[test]
    fn a_schema_ele_makes_is_stored_as_dlt_stores_one() {
        let mut schema = Schema::new("events");
        let mut root = Table::new("events", None, WriteDisposition::Merge);
        root.resource = Some("events".into());
        let mut id = Column::new("id", Some(DataType::Bigint));
        id.primary_key = true;
        id.nullable = false;
        root.columns.insert("id".into(), id);
        root.columns
            .insert("only_nulls".into(), Column::new("only_nulls", None));
        for c in [C_DLT_LOAD_ID, C_DLT_ID] {
            root.columns
                .insert(c.into(), Column::system(c, DataType::Text));
        }
        let mut child = Table::new(
            "events__tags",
            Some("events".into()),
            WriteDisposition::Merge,
        );
        child
            .columns
            .insert("value".into(), Column::new("value", Some(DataType::Text)));
        for c in [C_DLT_ROOT_ID, C_DLT_PARENT_ID, C_DLT_ID] {
            child
                .columns
                .insert(c.into(), Column::system(c, DataType::Text));
        }
        schema.tables.insert("events".into(), root);
        schema.tables.insert("events__tags".into(), child);
        let before = schema.version_hash();
        schema.set_version(2, "first".into());
        schema.set_version(2, "ignored: the version did not change".into());
        let doc = schema.to_document();
        check_as_dlt_would(&doc);
        assert_eq!(schema.version_hash(), before, "the version is not hashed");
        assert_eq!(doc["previous_hashes"], json!(["first"]));
        let events = &doc["tables"]["events"];
        assert_eq!(events["x-normalizer"], json!({"seen-data": true}));
        assert!(events["columns"].get("only_nulls").is_none(), "{events}");
        assert_eq!(
            events["columns"][C_DLT_ID],
            json!({"name": C_DLT_ID, "data_type": "text", "nullable": false, "unique": true, "row_key": true})
        );
        assert_eq!(
            doc["tables"]["events__tags"]["columns"][C_DLT_ROOT_ID]["root_key"],
            true
        );
        assert!(
            doc["tables"]["events__tags"]
                .get("write_disposition")
                .is_none()
        );
        assert_eq!(
            doc["normalizers"]["json"]["config"]["propagation"]["tables"]["events"],
            json!({C_DLT_ID: C_DLT_ROOT_ID})
        );
        // dlt's system tables as dlt 1.31 writes them
        let dlt = parse(FIXTURES[0].1);
        for system in SYSTEM_TABLES {
            assert_eq!(doc["tables"][system], dlt["tables"][system], "{system}");
        }
        assert_eq!(doc["settings"], dlt["settings"]);
        // read back, it is the same schema (the null-only column is forgotten, as dlt does)
        let back = Schema::from_document(doc.clone()).expect("reads");
        assert_eq!(back.to_document(), doc);
    }

    #[test]
    fn an_scd2_table_is_stored_with_dlts_hints_and_reads_back_the_same() {
        use crate::model::hints::MergeStrategy;
        let mut schema = Schema::new("s");
        let mut root = Table::new("sc", None, WriteDisposition::Merge);
        for c in ["_dlt_valid_from", "_dlt_valid_to"] {
            root.columns
                .insert(c.into(), Column::new(c, Some(DataType::Timestamp)));
        }
        root.columns
            .insert(C_DLT_ID.into(), Column::system(C_DLT_ID, DataType::Text));
        schema.tables.insert("sc".into(), root);
        let hints = |schema: &mut Schema| {
            schema.mark_merge(
                "sc",
                MergeStrategy::Scd2,
                Some(Scd2Hints {
                    valid_from: "_dlt_valid_from",
                    valid_to: "_dlt_valid_to",
                    active_to: None,
                    row_version: C_DLT_ID,
                }),
            )
        };
        hints(&mut schema);
        let doc = schema.to_document();
        let sc = &doc["tables"]["sc"];
        assert_eq!(sc["x-merge-strategy"], "scd2");
        assert_eq!(
            sc["columns"]["_dlt_valid_to"]["x-active-record-timestamp"],
            Value::Null
        );
        assert_eq!(sc["columns"]["_dlt_valid_from"]["x-valid-from"], true);
        let id = &sc["columns"][C_DLT_ID];
        assert_eq!(
            (&id["unique"], &id["row_key"], &id["x-row-version"]),
            (&json!(false), &json!(false), &json!(true))
        );
        assert!(
            doc["normalizers"]["json"].get("config").is_none(),
            "no root key for scd2: {doc}"
        );
        // A fixed point: read back (and hinted again by the next run) it is the same document.
        let mut back = Schema::from_document(doc.clone()).expect("reads");
        assert_eq!(back.to_document(), doc);
        hints(&mut back);
        assert_eq!(back.version_hash(), schema.version_hash());
    }

    #[test]
    fn documents_of_older_ele_still_load() {
        let legacy = json!({
            "name": "p",
            "version": 3,
            "tables": {"t": {"name": "t", "columns": {
                "id": {"name": "id", "data_type": "bigint", "nullable": false, "primary_key": true},
                "_dlt_id": {"name": "_dlt_id", "data_type": "text", "nullable": false}
            }, "write_disposition": "merge", "resource": "t"}}
        });
        let schema = Schema::from_document(legacy).expect("reads");
        assert_eq!(schema.version, 3);
        assert_eq!(schema.tables["t"].primary_key(), vec!["id"]);
        let doc = schema.to_document();
        check_as_dlt_would(&doc);
        assert_eq!(doc["version"], 3);
    }
}
