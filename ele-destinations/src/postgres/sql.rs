//! SQL text: DDL and the statements of a load. Every identifier goes through [`ident`]; values are never
//! spliced in (they travel as COPY data or bind parameters).

use ele_core::package::{Manifest, Scd2Spec};
use ele_core::schema::DataType;
use ele_core::schema::{C_DLT_ID, C_DLT_LOAD_ID, C_DLT_PARENT_ID, C_DLT_ROOT_ID, Column, Table};
use ele_core::{MergeStrategy, SortOrder, WriteDisposition};

/// Quotes an identifier: `"na""me"`.
pub(super) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `"schema"."table"`.
pub(super) fn qualified(schema: &str, table: &str) -> String {
    format!("{}.{}", ident(schema), ident(table))
}

/// The tables a load stages in: where they live and how their names are made unique.
#[derive(Debug, Clone)]
pub(super) struct StageTables {
    /// The staging schema, or `None` for temp tables.
    schema: Option<String>,
    /// Appended to every name in the staging schema: unique per load, so concurrent loads never share a table.
    suffix: String,
}

impl StageTables {
    /// Temp tables of the transaction, dropped at its commit.
    pub(super) fn temp() -> Self {
        StageTables {
            schema: None,
            suffix: String::new(),
        }
    }

    /// Tables of `schema` named after the load (`schema_name`, `load_id`).
    pub(super) fn in_schema(schema: &str, schema_name: &str, load_id: &str) -> Self {
        StageTables {
            schema: Some(schema.to_owned()),
            suffix: load_tag(&format!("{schema_name}:{load_id}")),
        }
    }

    /// Whether these are temp tables.
    pub(super) fn is_temp(&self) -> bool {
        self.schema.is_none()
    }

    /// The schema of the tables: `pg_temp` for temp tables.
    pub(super) fn schema(&self) -> &str {
        self.schema.as_deref().unwrap_or("pg_temp")
    }

    /// The name of the staging table `base` (ele's short names: `_ele_stage_0_1`), unique per load in a schema.
    pub(super) fn name(&self, base: &str) -> String {
        if self.is_temp() {
            base.to_owned()
        } else {
            format!("{base}_{}", self.suffix)
        }
    }

    /// `"schema"."name"` of a table named by [`StageTables::name`].
    pub(super) fn qualified(&self, name: &str) -> String {
        qualified(self.schema(), name)
    }

    /// `CREATE ... TABLE name (LIKE like)`: a temp table dropped at commit, or an unlogged table of the schema.
    pub(super) fn create_like(&self, name: &str, like: &str) -> String {
        if self.is_temp() {
            format!(
                "CREATE TEMP TABLE {} (LIKE {like}) ON COMMIT DROP",
                ident(name)
            )
        } else {
            format!(
                "CREATE UNLOGGED TABLE {} (LIKE {like})",
                self.qualified(name)
            )
        }
    }

    /// `CREATE ... TABLE name AS query`, as [`StageTables::create_like`].
    pub(super) fn create_as(&self, name: &str, query: &str) -> String {
        if self.is_temp() {
            format!(
                "CREATE TEMP TABLE {} ON COMMIT DROP AS {query}",
                ident(name)
            )
        } else {
            format!("CREATE UNLOGGED TABLE {} AS {query}", self.qualified(name))
        }
    }

    /// The statement dropping `names` before the commit (none for temp tables, which go at the commit).
    pub(super) fn drop(&self, names: &[String]) -> Option<String> {
        if self.is_temp() || names.is_empty() {
            return None;
        }
        let list: Vec<String> = names.iter().map(|n| self.qualified(n)).collect();
        Some(format!("DROP TABLE IF EXISTS {}", list.join(", ")))
    }
}

/// 12 hex digits of FNV-1a of `text`: short enough that every staging name stays within 63 bytes.
fn load_tag(text: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:012x}", hash & 0xffff_ffff_ffff)
}

/// The PostgreSQL type of a column, as dlt's postgres type mapper writes it: precision and scale of decimals
/// (dlt's default `numeric(38,9)`) and wei (`numeric(156,78)`), `varchar(n)`, `smallint`/`integer` for bigints
/// of at most 16/32 bits, `timestamp (p) with[out] time zone`, `time (p) without time zone`.
fn pg_type(c: &Column, t: DataType) -> String {
    let (precision, scale) = (c.precision, c.scale);
    match t {
        DataType::Text => match precision {
            Some(n) => format!("varchar({n})"),
            None => "varchar".to_owned(),
        },
        DataType::Bigint => match precision {
            Some(p) if p <= 16 => "smallint".to_owned(),
            Some(p) if p <= 32 => "integer".to_owned(),
            _ => "bigint".to_owned(),
        },
        DataType::Double => "double precision".to_owned(),
        DataType::Bool => "boolean".to_owned(),
        DataType::Timestamp => {
            let p = precision.map(|p| format!(" ({p})")).unwrap_or_default();
            let zone = if c.timezone == Some(false) {
                "without"
            } else {
                "with"
            };
            format!("timestamp{p} {zone} time zone")
        }
        DataType::Date => "date".to_owned(),
        DataType::Time => match precision {
            Some(p) => format!("time ({p}) without time zone"),
            None => "time without time zone".to_owned(),
        },
        DataType::Decimal => format!(
            "numeric({},{})",
            precision.unwrap_or(38),
            scale.unwrap_or(9)
        ),
        DataType::Wei => format!(
            "numeric({},{})",
            precision.unwrap_or(156),
            scale.unwrap_or(78)
        ),
        DataType::Binary => "bytea".to_owned(),
        DataType::Json => "jsonb".to_owned(),
    }
}

/// A column's definition: name, type, `UNIQUE` (dlt's `unique` hint, created inline as dlt does, so PostgreSQL
/// names its index `<table>_<column>_key`), `NOT NULL`.
fn column_def(c: &Column, t: DataType) -> String {
    let unique = if c.unique { " UNIQUE" } else { "" };
    let null = if c.nullable { "" } else { " NOT NULL" };
    format!("{} {}{unique}{null}", ident(&c.name), pg_type(c, t))
}

/// `CREATE TABLE` with the table's typed columns in order.
pub(super) fn create_table(schema: &str, table: &Table) -> String {
    let columns: Vec<String> = table
        .columns
        .values()
        .filter_map(|c| c.data_type.map(|t| column_def(c, t)))
        .collect();
    format!(
        "CREATE TABLE {} ({})",
        qualified(schema, &table.name),
        columns.join(", ")
    )
}

/// `ALTER TABLE ... ADD COLUMN` for a typed column.
pub(super) fn add_column(schema: &str, table: &str, column: &Column) -> Option<String> {
    let t = column.data_type?;
    Some(format!(
        "ALTER TABLE {} ADD COLUMN {}",
        qualified(schema, table),
        column_def(column, t)
    ))
}

/// `CREATE INDEX IF NOT EXISTS` on `columns` of a table, named after the table and a suffix, shortened to fit.
/// `_dlt_root_id` is indexed under the byte-wise "C" collation (row ids are ASCII; lookups name the collation).
pub(super) fn create_index(schema: &str, table: &str, suffix: &str, columns: &[&str]) -> String {
    let name = index_name(table, suffix);
    let cols: Vec<String> = columns
        .iter()
        .map(|c| {
            if *c == C_DLT_ROOT_ID {
                format!("{} COLLATE \"C\"", ident(c))
            } else {
                ident(c)
            }
        })
        .collect();
    format!(
        "CREATE INDEX IF NOT EXISTS {} ON {} ({})",
        ident(&name),
        qualified(schema, table),
        cols.join(", ")
    )
}

/// An index name of at most 63 bytes, unique per table and suffix.
pub(super) fn index_name(table: &str, suffix: &str) -> String {
    let full = format!("{table}__{suffix}");
    if full.len() <= 63 {
        return full;
    }
    let tag = ele_core::hash::digest128(&full, 6);
    let keep = 63 - tag.len() - suffix.len() - 2;
    let mut cut = keep;
    while !table.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{tag}__{suffix}", &table[..cut])
}

/// The system tables, as dlt creates them.
pub(super) fn system_tables(schema: &str) -> Vec<String> {
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {} (\"load_id\" varchar(64) NOT NULL, \"schema_name\" varchar, \"status\" bigint NOT NULL, \"inserted_at\" timestamp with time zone NOT NULL, \"schema_version_hash\" varchar)",
            qualified(schema, "_dlt_loads")
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {} (\"version\" bigint NOT NULL, \"engine_version\" bigint NOT NULL, \"pipeline_name\" varchar NOT NULL, \"state\" varchar NOT NULL, \"created_at\" timestamp with time zone NOT NULL, \"version_hash\" varchar, \"_dlt_load_id\" varchar(64) NOT NULL, \"_dlt_id\" varchar NOT NULL)",
            qualified(schema, "_dlt_pipeline_state")
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {} (\"version\" bigint NOT NULL, \"engine_version\" bigint NOT NULL, \"inserted_at\" timestamp with time zone NOT NULL, \"schema_name\" varchar NOT NULL, \"version_hash\" varchar NOT NULL, \"schema\" varchar NOT NULL)",
            qualified(schema, "_dlt_version")
        ),
    ]
}

/// The column list of a table as `"a", "b"`.
pub(super) fn column_list(columns: &[&str]) -> String {
    columns
        .iter()
        .map(|c| ident(c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `link IN (subquery)` for a child table's link to its root row. Row ids are ASCII, so the byte-wise "C"
/// collation orders them as any other would; its comparisons are cheaper (the `_dlt_root_id` index is built in
/// about 60 % of the time under a libc locale), and lookups must name it to use that index.
fn root_link_in(link: &str, subquery: &str) -> String {
    format!("{} COLLATE \"C\" IN ({subquery})", ident(link))
}

/// One table of a chain as the merge sees it.
#[derive(Debug, Clone)]
pub(super) struct ChainTable<'a> {
    /// The table in the schema.
    pub(super) table: &'a Table,
    /// Its staging table (in the staging schema) when this load has rows for it.
    pub(super) staging: Option<String>,
    /// Its typed columns as they exist in the destination.
    pub(super) columns: Vec<&'a str>,
    /// The column linking it to the root row: `_dlt_root_id`, or `_dlt_parent_id` for a direct child without one.
    pub(super) root_link: Option<&'a str>,
}

/// The column flagging deleted keys, as it exists in the destination.
#[derive(Debug, Clone)]
pub(super) struct HardDelete<'a> {
    /// The column.
    pub(super) column: &'a str,
    /// Whether it is boolean: then `true` deletes; any other type deletes when not null.
    pub(super) boolean: bool,
}

impl HardDelete<'_> {
    /// The condition that a row of `alias` is a delete.
    fn deleted(&self, alias: &str) -> String {
        let c = format!("{alias}.{}", ident(self.column));
        if self.boolean {
            format!("{c} = TRUE")
        } else {
            format!("{c} IS NOT NULL")
        }
    }

    /// The condition that a row of `alias` is not a delete.
    fn kept(&self, alias: &str) -> String {
        let c = format!("{alias}.{}", ident(self.column));
        if self.boolean {
            format!("({c} IS NULL OR {c} = FALSE)")
        } else {
            format!("{c} IS NULL")
        }
    }
}

/// Everything the merge of one table chain needs: its tables as they exist, keys and hints.
#[derive(Debug, Clone)]
pub(super) struct ChainMerge<'a> {
    /// The dataset (schema) of the final tables.
    pub(super) dataset: &'a str,
    /// This load's staging tables: temp tables or the staging schema's.
    pub(super) stage: &'a StageTables,
    /// The root table.
    pub(super) root: ChainTable<'a>,
    /// The child tables, parents before children.
    pub(super) children: Vec<ChainTable<'a>>,
    /// Primary key columns of the root.
    pub(super) primary_key: Vec<&'a str>,
    /// Merge key columns of the root.
    pub(super) merge_key: Vec<&'a str>,
    /// No primary key occurs twice in staging.
    pub(super) unique_keys: bool,
    /// Makes staging table names unique within the transaction.
    pub(super) tag: String,
    /// The hard-delete column, when the root has one.
    pub(super) hard_delete: Option<HardDelete<'a>>,
    /// The column (and order) choosing which duplicate of a primary key is kept.
    pub(super) dedup_sort: Option<(&'a str, SortOrder)>,
    /// A small load into a big table: delete-insert plans its deletes as index lookups (when it matches on the
    /// primary key alone), so they cost what the load holds rather than a scan of the tables.
    pub(super) index_deletes: bool,
    /// A temp table holding the smallest (`lo`) and largest (`hi`) staged value of a single-column primary key
    /// when few destination rows lie between them (new keys beyond the old ones, as ids and timestamps grow):
    /// the root delete then reads only that index range and hashes the staged keys, instead of looking every
    /// staged key up.
    pub(super) key_range: Option<String>,
}

impl ChainMerge<'_> {
    /// The names of the id lists of deleted and inserted root rows.
    fn id_lists(&self) -> (String, String) {
        (
            self.stage.name(&format!("_ele_delete_{}", self.tag)),
            self.stage.name(&format!("_ele_insert_{}", self.tag)),
        )
    }

    /// The statement dropping the id lists before the commit (in the staging schema; temp tables go at it).
    pub(super) fn drop_id_lists(&self) -> Option<String> {
        let (delete, insert) = self.id_lists();
        self.stage.drop(&[delete, insert])
    }

    fn final_table(&self, t: &ChainTable<'_>) -> String {
        qualified(self.dataset, &t.table.name)
    }

    fn kept(&self, alias: &str) -> String {
        self.hard_delete
            .as_ref()
            .map_or_else(|| "TRUE".to_owned(), |h| h.kept(alias))
    }

    /// The `ORDER BY` choosing the row kept among duplicates: the `dedup_sort` column (nulls never win), then
    /// the order rows were sent in (`first` or last).
    fn dedup_order(&self, first: bool) -> String {
        let arrival = if first { "ctid" } else { "ctid DESC" };
        match self.dedup_sort {
            Some((column, SortOrder::Desc)) => {
                format!("{} DESC NULLS LAST, {arrival}", ident(column))
            }
            Some((column, SortOrder::Asc)) => {
                format!("{} ASC NULLS LAST, {arrival}", ident(column))
            }
            None => arrival.to_owned(),
        }
    }

    /// The staging root rows, one per primary key when staging may hold duplicates.
    fn deduplicated_root(&self, staging: &str, first: bool) -> String {
        let s = self.stage.qualified(staging);
        if self.unique_keys || self.primary_key.is_empty() {
            return s;
        }
        format!(
            "(SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY {} ORDER BY {}) AS _ele_rn FROM {s}) AS \
             _ele_numbered WHERE _ele_rn = 1)",
            column_list(&self.primary_key),
            self.dedup_order(first)
        )
    }

    /// Appends every staged row (a merge without keys, as dlt).
    fn append_all(&self) -> Vec<String> {
        let mut out = Vec::new();
        for t in std::iter::once(&self.root).chain(&self.children) {
            if let Some(stg) = &t.staging {
                let cols = column_list(&t.columns);
                out.push(format!(
                    "INSERT INTO {} ({cols}) SELECT {cols} FROM {}",
                    self.final_table(t),
                    self.stage.qualified(stg)
                ));
            }
        }
        out
    }

    /// Inserts the staged child rows whose root row id is in `roots` (a temp table of `_dlt_id`s).
    fn insert_children_of(&self, roots: &str, out: &mut Vec<String>) {
        let id = ident(C_DLT_ID);
        for child in &self.children {
            if let (Some(stg), Some(link)) = (&child.staging, child.root_link) {
                let cols = column_list(&child.columns);
                out.push(format!(
                    "INSERT INTO {} ({cols}) SELECT {cols} FROM {} WHERE {} IN (SELECT {id} FROM {roots})",
                    self.final_table(child),
                    self.stage.qualified(stg),
                    ident(link)
                ));
            }
        }
    }

    /// delete-insert (dlt's `gen_merge_sql`, §2.3): the destination rows matching a staged primary or merge
    /// key are deleted with their child rows, then the staged rows are inserted, one per primary key (the
    /// first sent, or the `dedup_sort` winner) and without those flagged as deleted.
    pub(super) fn delete_insert(&self) -> Vec<String> {
        let Some(root_staging) = &self.root.staging else {
            return Vec::new();
        };
        let d = self.final_table(&self.root);
        let s = self.stage.qualified(root_staging);
        let mut groups = Vec::new();
        for key in [&self.primary_key, &self.merge_key] {
            if !key.is_empty() {
                let conj: Vec<String> = key
                    .iter()
                    .map(|c| format!("d.{c} = s.{c}", c = ident(c)))
                    .collect();
                groups.push(format!("({})", conj.join(" AND ")));
            }
        }
        if groups.is_empty() {
            return self.append_all();
        }
        let mut out = Vec::new();
        let predicate = groups.join(" OR ");
        let (delete_name, insert_name) = self.id_lists();
        let delete_temp = self.stage.qualified(&delete_name);
        let insert_temp = self.stage.qualified(&insert_name);
        let id = ident(C_DLT_ID);
        let index_deletes =
            self.index_deletes && self.merge_key.is_empty() && !self.primary_key.is_empty();
        let key_range = match (self.primary_key.as_slice(), &self.key_range) {
            ([key], Some(range)) if index_deletes => {
                Some((ident(key), self.stage.qualified(range)))
            }
            _ => None,
        };
        // The root rows go first, their ids kept for the children: one pass over the matches.
        out.push(self.stage.create_as(
            &delete_name,
            &format!("SELECT d.{id} FROM {d} AS d WITH NO DATA"),
        ));
        let range = key_range.as_ref().map_or_else(String::new, |(k, r)| {
            format!("d.{k} BETWEEN (SELECT lo FROM {r}) AND (SELECT hi FROM {r}) AND ")
        });
        if index_deletes && key_range.is_none() {
            // The planner's estimates favour hashing whole tables; a lookup per staged key is proportional.
            out.push("SET LOCAL enable_hashjoin = off".to_owned());
            out.push("SET LOCAL enable_mergejoin = off".to_owned());
        }
        out.push(format!(
            "WITH _ele_deleted AS (DELETE FROM {d} AS d WHERE {range}EXISTS (SELECT 1 FROM {s} AS s WHERE \
             {predicate}) RETURNING d.{id}) INSERT INTO {delete_temp} SELECT {id} FROM _ele_deleted"
        ));
        if key_range.is_some() {
            out.push("SET LOCAL enable_hashjoin = off".to_owned());
            out.push("SET LOCAL enable_mergejoin = off".to_owned());
        }
        for child in &self.children {
            if let Some(link) = child.root_link {
                out.push(format!(
                    "DELETE FROM {} WHERE {}",
                    self.final_table(child),
                    root_link_in(link, &format!("SELECT {id} FROM {delete_temp}"))
                ));
            }
        }
        if index_deletes {
            out.push("SET LOCAL enable_hashjoin TO DEFAULT".to_owned());
            out.push("SET LOCAL enable_mergejoin TO DEFAULT".to_owned());
        }
        let dedup = !self.unique_keys && !self.primary_key.is_empty();
        if !dedup && self.hard_delete.is_none() {
            // Nothing to deduplicate or filter: every staged row goes in.
            return [out, self.append_all()].concat();
        }
        // One row per primary key; the row sent first wins (dlt's `ROW_NUMBER() ... ORDER BY (SELECT NULL)`
        // picks that one on a freshly filled staging table), or the `dedup_sort` winner. Deduplication comes
        // before the hard-delete filter, so a delete sent last for a key wins as in dlt.
        out.push(self.stage.create_as(
            &insert_name,
            &format!(
                "SELECT s.{id} FROM {} AS s WHERE {}",
                self.deduplicated_root(root_staging, true),
                self.kept("s")
            ),
        ));
        let cols = column_list(&self.root.columns);
        out.push(format!(
            "INSERT INTO {d} ({cols}) SELECT {cols} FROM {s} WHERE {id} IN (SELECT {id} FROM {insert_temp})"
        ));
        self.insert_children_of(&insert_temp, &mut out);
        out
    }

    /// upsert (dlt's `gen_upsert_sql`, §2.4): rows with a known primary key are updated in place, others are
    /// inserted, flagged rows delete their key. The root `_dlt_id` is a hash of the key, so child rows are
    /// matched by `_dlt_id`; list elements that disappeared are deleted. Unlike dlt, duplicates of a key in one
    /// load are resolved (the last sent wins, or the `dedup_sort` winner) and a flagged row of a new key is
    /// not inserted. (The loader merges unique keys without hard deletes with [`ChainMerge::delete_insert`]
    /// on the primary key, which gives the same rows.)
    pub(super) fn upsert(&self) -> Vec<String> {
        let Some(root_staging) = &self.root.staging else {
            return Vec::new();
        };
        let d = self.final_table(&self.root);
        let s_table = self.stage.qualified(root_staging);
        let id = ident(C_DLT_ID);
        let mut out = Vec::new();
        let on: Vec<String> = self
            .primary_key
            .iter()
            .map(|c| format!("d.{c} = s.{c}", c = ident(c)))
            .collect();
        let on = on.join(" AND ");
        out.push(merge_statement(
            &d,
            &self.deduplicated_root(root_staging, false),
            &on,
            &self.root.columns,
            &self.primary_key,
            self.hard_delete.as_ref(),
        ));
        for child in &self.children {
            let Some(link) = child.root_link else {
                continue;
            };
            let n = self.final_table(child);
            let mut stale = format!(
                "DELETE FROM {n} WHERE {}",
                root_link_in(link, &format!("SELECT {id} FROM {s_table}"))
            );
            if let Some(stg) = &child.staging {
                let stg = self.stage.qualified(stg);
                out.push(merge_statement(
                    &n,
                    &stg,
                    &format!("d.{id} = s.{id}"),
                    &child.columns,
                    &[C_DLT_ID],
                    None,
                ));
                stale.push_str(&format!(
                    " AND NOT EXISTS (SELECT 1 FROM {stg} AS s WHERE s.{id} = {n}.{id})"
                ));
            }
            // List elements that are gone from the new version of their root row.
            out.push(stale);
            if let Some(h) = &self.hard_delete {
                out.push(format!(
                    "DELETE FROM {n} WHERE {}",
                    root_link_in(
                        link,
                        &format!("SELECT s.{id} FROM {s_table} AS s WHERE {}", h.deleted("s"))
                    )
                ));
            }
        }
        out
    }

    /// insert-only (§2.4): staged rows whose primary key is not in the destination yet are inserted (the first
    /// sent per key, or the `dedup_sort` winner, without rows flagged as deleted); child rows only with their
    /// inserted root row.
    pub(super) fn insert_only(&self) -> Vec<String> {
        let Some(root_staging) = &self.root.staging else {
            return Vec::new();
        };
        let d = self.final_table(&self.root);
        let s_table = self.stage.qualified(root_staging);
        let id = ident(C_DLT_ID);
        let (_, insert_name) = self.id_lists();
        let insert_temp = self.stage.qualified(&insert_name);
        let on: Vec<String> = self
            .primary_key
            .iter()
            .map(|c| format!("d.{c} = s.{c}", c = ident(c)))
            .collect();
        let mut out = vec![self.stage.create_as(
            &insert_name,
            &format!(
                "SELECT s.{id} FROM {} AS s WHERE {} AND NOT EXISTS (SELECT 1 FROM {d} AS d WHERE {})",
                self.deduplicated_root(root_staging, true),
                self.kept("s"),
                on.join(" AND ")
            ),
        )];
        let cols = column_list(&self.root.columns);
        out.push(format!(
            "INSERT INTO {d} ({cols}) SELECT {cols} FROM {s_table} WHERE {id} IN (SELECT {id} FROM {insert_temp})"
        ));
        self.insert_children_of(&insert_temp, &mut out);
        out
    }

    /// scd2 (dlt's `gen_scd2_sql`, §2.5): active versions missing from the load (within the staged merge keys,
    /// when there is a merge key) are retired at the boundary, new versions are inserted as active from the
    /// boundary, child rows of new versions are inserted. Compound merge keys are compared as row values, not
    /// concatenated.
    pub(super) fn scd2(&self, spec: &Scd2Spec) -> Vec<String> {
        let Some(root_staging) = &self.root.staging else {
            return Vec::new();
        };
        let d = self.final_table(&self.root);
        let s = self.stage.qualified(root_staging);
        let version = ident(spec.version_column());
        let from = ident(&spec.valid_from);
        let to = ident(&spec.valid_to);
        let (boundary, active_value) = scd2_values(spec);
        let active = match spec.active_to {
            None => format!("{to} IS NULL"),
            Some(_) => format!("{to} = {active_value}"),
        };
        let mut retire = format!(
            "UPDATE {d} SET {to} = {boundary} WHERE {active} AND NOT EXISTS (SELECT 1 FROM {s} AS s WHERE s.{version} = {d}.{version})"
        );
        if !self.merge_key.is_empty() {
            let keys = column_list(&self.merge_key);
            let staged: Vec<String> = self
                .merge_key
                .iter()
                .map(|c| format!("s.{}", ident(c)))
                .collect();
            retire.push_str(&format!(
                " AND ({keys}) IN (SELECT {} FROM {s} AS s)",
                staged.join(", ")
            ));
        }
        let mut out = vec![retire];
        let data: Vec<&str> = self
            .root
            .columns
            .iter()
            .copied()
            .filter(|c| *c != spec.valid_from && *c != spec.valid_to)
            .collect();
        let cols = column_list(&data);
        let picked: Vec<String> = data.iter().map(|c| format!("s.{}", ident(c))).collect();
        // Versions are only grouped: text sorts byte-wise ("C"), several times faster than by a locale.
        let text_version = self
            .root
            .table
            .columns
            .get(spec.version_column())
            .is_some_and(|c| c.data_type == Some(DataType::Text));
        let by_version = if text_version {
            format!("s.{version} COLLATE \"C\"")
        } else {
            format!("s.{version}")
        };
        // One row per version: identical items sent twice are one version.
        out.push(format!(
            "INSERT INTO {d} ({cols}, {from}, {to}) SELECT DISTINCT ON ({by_version}) {}, {boundary}, {active_value} \
             FROM {s} AS s WHERE NOT EXISTS (SELECT 1 FROM {d} AS d WHERE d.{version} = s.{version} AND d.{active}) \
             ORDER BY {by_version}, s.ctid",
            picked.join(", ")
        ));
        let id = ident(C_DLT_ID);
        for child in &self.children {
            if let Some(stg) = &child.staging {
                let n = self.final_table(child);
                let ccols = column_list(&child.columns);
                let picked: Vec<String> = child
                    .columns
                    .iter()
                    .map(|c| format!("s.{}", ident(c)))
                    .collect();
                out.push(format!(
                    "INSERT INTO {n} ({ccols}) SELECT DISTINCT ON (s.{id} COLLATE \"C\") {} FROM {} AS s WHERE NOT \
                     EXISTS (SELECT 1 FROM {n} AS d WHERE d.{id} = s.{id}) ORDER BY s.{id} COLLATE \"C\", s.ctid",
                    picked.join(", "),
                    self.stage.qualified(stg)
                ));
            }
        }
        out
    }
}

/// The delete of a keyed delete-insert: the rows of `root` whose single-column key `key` is in the array `$1`
/// go, their `_dlt_id`s into `id_list` (for their child rows). With `in_range` the index is read from the
/// smallest to the largest key of the list and the list is a hashed filter (the key wrapped so the planner
/// cannot look each key up: the "C" collation compares text for equality as the column's own does); without,
/// one index lookup per key. With `except_load` the rows of the load `$2` stay.
pub(super) fn delete_by_key_list(
    dataset: &str,
    root: &str,
    key: &str,
    integer: bool,
    id_list: &str,
    in_range: bool,
    except_load: bool,
) -> String {
    let id = ident(C_DLT_ID);
    let k = format!("d.{}", ident(key));
    let condition = if in_range {
        let unindexed = if integer {
            format!("({k} + 0)")
        } else {
            format!("({k} COLLATE \"C\")")
        };
        format!(
            "{k} BETWEEN (SELECT min(k) FROM unnest($1) AS k) AND (SELECT max(k) FROM unnest($1) AS k) AND \
             {unindexed} = ANY($1)"
        )
    } else {
        format!("{k} = ANY($1)")
    };
    let condition = if except_load {
        format!(
            "{condition} AND d.{} IS DISTINCT FROM $2",
            ident(C_DLT_LOAD_ID)
        )
    } else {
        condition
    };
    format!(
        "WITH _ele_deleted AS (DELETE FROM {} AS d WHERE {condition} RETURNING d.{id}) INSERT INTO {id_list} \
         SELECT {id} FROM _ele_deleted",
        qualified(dataset, root),
    )
}

/// Counts the rows of `root` whose key `key` lies between the smallest and the largest key of the array `$1`,
/// stopping at `$2`: few rows there make [`delete_by_key_list`]'s range read cheap.
pub(super) fn count_key_range(dataset: &str, root: &str, key: &str) -> String {
    format!(
        "SELECT count(*) FROM (SELECT 1 FROM {} AS d WHERE d.{} BETWEEN (SELECT min(k) FROM unnest($1) AS k) AND \
         (SELECT max(k) FROM unnest($1) AS k) LIMIT $2) AS within",
        qualified(dataset, root),
        ident(key)
    )
}

/// Deletes the rows of the child table `child` (linked to its root row by `link`) whose root row id is in
/// `id_list`. With `by_lookups` (few ids beside a big table) one index lookup per id: the planner's estimates of
/// a table without statistics would hash all of it.
pub(super) fn delete_children_of(
    dataset: &str,
    child: &str,
    link: &str,
    id_list: &str,
    by_lookups: bool,
) -> Vec<String> {
    let delete = format!(
        "DELETE FROM {} WHERE {}",
        qualified(dataset, child),
        root_link_in(link, &format!("SELECT {} FROM {id_list}", ident(C_DLT_ID)))
    );
    if !by_lookups {
        return vec![delete];
    }
    vec![
        "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off".to_owned(),
        delete,
        "SET LOCAL enable_hashjoin TO DEFAULT; SET LOCAL enable_mergejoin TO DEFAULT".to_owned(),
    ]
}

/// Raises `work_mem` to 64 MB for the rest of the load transaction (never lowers it): the merges sort and hash
/// the staged rows, which spill to disk at PostgreSQL's default of 4 MB from a few ten thousand rows on.
pub(super) const MERGE_WORK_MEM: &str = "SELECT set_config('work_mem', '64MB', true) \
     WHERE pg_size_bytes(current_setting('work_mem')) < pg_size_bytes('64MB')";

/// The values scd2 gives the validity columns of a new version: the boundary (`valid_from`; the load
/// transaction's `now()` without one) and the "valid to" of active versions (`NULL`, or `active_to`).
fn scd2_values(spec: &Scd2Spec) -> (String, String) {
    let boundary = spec
        .boundary
        .map_or_else(|| "now()".to_owned(), timestamp_literal);
    let active_value = spec
        .active_to
        .map_or_else(|| "NULL".to_owned(), timestamp_literal);
    (boundary, active_value)
}

/// The statements that let a first scd2 load COPY its root rows straight into the empty root `table`: the
/// first gives the validity columns defaults of what [`ChainMerge::scd2`] would insert (the boundary, and the
/// "valid to" of active versions), so COPYs that leave them out fill them in; the second drops those defaults
/// again, leaving the columns as [`create_table`] made them.
pub(super) fn scd2_defaults(schema: &str, table: &str, spec: &Scd2Spec) -> [String; 2] {
    let t = qualified(schema, table);
    let (from, to) = (ident(&spec.valid_from), ident(&spec.valid_to));
    let (boundary, active_value) = scd2_values(spec);
    [
        format!(
            "ALTER TABLE {t} ALTER COLUMN {from} SET DEFAULT {boundary}, ALTER COLUMN {to} SET DEFAULT \
             {active_value}"
        ),
        format!("ALTER TABLE {t} ALTER COLUMN {from} DROP DEFAULT, ALTER COLUMN {to} DROP DEFAULT"),
    ]
}

/// `MERGE INTO target USING source ON ...`: flagged rows delete, matches update every non-key column,
/// others are inserted.
fn merge_statement(
    target: &str,
    source: &str,
    on: &str,
    columns: &[&str],
    key: &[&str],
    hard_delete: Option<&HardDelete<'_>>,
) -> String {
    let mut sql = format!("MERGE INTO {target} AS d USING {source} AS s ON {on}");
    if let Some(h) = hard_delete {
        sql.push_str(&format!(" WHEN MATCHED AND {} THEN DELETE", h.deleted("s")));
    }
    let updates: Vec<String> = columns
        .iter()
        .filter(|c| !key.contains(c))
        .map(|c| format!("{c} = s.{c}", c = ident(c)))
        .collect();
    if !updates.is_empty() {
        sql.push_str(&format!(
            " WHEN MATCHED THEN UPDATE SET {}",
            updates.join(", ")
        ));
    }
    let values: Vec<String> = columns.iter().map(|c| format!("s.{}", ident(c))).collect();
    sql.push_str(" WHEN NOT MATCHED");
    if let Some(h) = hard_delete {
        sql.push_str(&format!(" AND {}", h.kept("s")));
    }
    sql.push_str(&format!(
        " THEN INSERT ({}) VALUES ({})",
        column_list(columns),
        values.join(", ")
    ));
    sql
}

/// A timestamp literal made by ele (never from data): `'2024-01-01T00:00:00.000000Z'::timestamptz`.
fn timestamp_literal(t: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "'{}'::timestamptz",
        t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    )
}

/// The column of a child table that links it to its root row, if any.
pub(super) fn root_link<'a>(
    table: &Table,
    parent_is_root: bool,
    existing: &[&'a str],
) -> Option<&'a str> {
    let _ = table;
    if let Some(c) = existing.iter().find(|c| **c == C_DLT_ROOT_ID) {
        return Some(c);
    }
    if parent_is_root {
        return existing.iter().find(|c| **c == C_DLT_PARENT_ID).copied();
    }
    None
}

/// The index on the `_dlt_id` of the child table `table` that a MERGE of its rows (upsert) looks rows up by;
/// [`merge_indexes`] leaves it out for upsert, whose loads mostly replace their keys' rows without a MERGE.
pub(super) fn row_key_index(schema: &str, table: &str) -> String {
    create_index(schema, table, "row_key", &[C_DLT_ID])
}

/// The indexes a merge needs on `table` (suffix of the index name and columns): the root's primary key, the
/// children's `_dlt_root_id`, and the ids upsert and scd2 match on; none for other dispositions.
pub(super) fn merge_indexes<'t>(
    m: &'t Manifest,
    table: &'t Table,
) -> Vec<(&'static str, Vec<&'t str>)> {
    let root = m.schema.root_of(&table.name);
    let merging = m
        .schema
        .tables
        .get(root)
        .is_some_and(|t| t.write_disposition == WriteDisposition::Merge);
    if !merging {
        return Vec::new();
    }
    let strategy = m.chains.iter().find(|c| c.root == root).map(|c| &c.merge);
    let complete = |c: &str| table.columns.get(c).is_some_and(|c| c.is_complete());
    let mut indexes = Vec::new();
    if table.parent.is_none() {
        let pk = table.primary_key();
        if !pk.is_empty() && pk.iter().all(|c| complete(c)) {
            indexes.push(("primary_key", pk));
        }
        // scd2 looks versions up by their hash.
        if let Some(scd2) = strategy.and_then(|m| m.scd2.as_ref())
            && complete(scd2.version_column())
        {
            indexes.push(("row_version", vec![scd2.version_column()]));
        }
    } else {
        if complete(C_DLT_ROOT_ID) {
            indexes.push(("root_key", vec![C_DLT_ROOT_ID]));
        }
        // scd2 matches child rows by their (deterministic) ids. So does an upsert that MERGEs, which creates
        // the index when it first needs it ([`row_key_index`]): most upserts replace their keys' rows instead.
        if strategy.is_some_and(|m| m.strategy == MergeStrategy::Scd2) && complete(C_DLT_ID) {
            indexes.push(("row_key", vec![C_DLT_ID]));
        }
    }
    indexes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_and_escaped() {
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(qualified("d s", "t;drop"), "\"d s\".\"t;drop\"");
    }

    #[test]
    fn long_index_names_fit() {
        let table = "x".repeat(63);
        let name = index_name(&table, "root_key");
        assert!(name.len() <= 63, "{name}");
        assert!(name.ends_with("__root_key"));
        assert_ne!(
            index_name(&table, "root_key"),
            index_name(&"y".repeat(63), "root_key")
        );
    }

    #[test]
    fn staging_names_are_unique_per_load_and_short() {
        let a = StageTables::in_schema("d_staging", "s", "1700000000.1");
        let b = StageTables::in_schema("d_staging", "s", "1700000000.2");
        assert_ne!(a.name("_ele_stage_0_0"), b.name("_ele_stage_0_0"));
        assert!(a.name("_ele_key_range_999").len() <= 63);
        assert_eq!(
            a.create_like(&a.name("x"), "\"d\".\"t\""),
            format!(
                "CREATE UNLOGGED TABLE \"d_staging\".\"{}\" (LIKE \"d\".\"t\")",
                a.name("x")
            )
        );
        let temp = StageTables::temp();
        assert_eq!(temp.name("x"), "x");
        assert_eq!(temp.drop(&["x".into()]), None);
        assert!(
            temp.create_as("x", "SELECT 1")
                .starts_with("CREATE TEMP TABLE \"x\" ON COMMIT DROP")
        );
        assert_eq!(
            a.drop(&[a.name("x")]),
            Some(format!(
                "DROP TABLE IF EXISTS \"d_staging\".\"{}\"",
                a.name("x")
            ))
        );
    }
}
