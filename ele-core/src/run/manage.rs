//! Managing a pipeline outside of a run, as dlt's `dlt pipeline` command does: what its working dir holds
//! ([`Pipeline::info`]), dropping resources with their tables and state ([`Pipeline::drop_resources`]), resetting
//! incremental state ([`Pipeline::reset_incremental`]) and restoring state and schema from the destination
//! ([`Pipeline::sync`]).
//!
//! Changes of the stored state go to the destination first, in one transaction with the dropped tables, the new
//! schema version, the `_dlt_pipeline_state` row and a `_dlt_loads` row; the working dir follows only after that
//! commit, as after a load.

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::destination::StateCommit;
use crate::foundation::error::{Error, Result};
use crate::model::hints::WriteDisposition;
use crate::model::schema::Schema;
use crate::model::state::{LocalState, PipelineState, StateRow};
use crate::package::LoadPackage;
use crate::run::pipeline::Pipeline;
use crate::run::versioning::new_load_id;
pub use crate::run::workdir::LastDestination;
use crate::run::workdir::{
    package_dirs, package_ids, remove_dir_if_exists, remove_file_if_exists, try_lock_package,
};

/// One table of the stored schema, as [`PipelineInfo`] shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    /// Table name.
    pub name: String,
    /// Parent table of a child table.
    pub parent: Option<String>,
    /// The resource writing the table's chain.
    pub resource: Option<String>,
    /// Write disposition of the table's chain.
    pub write_disposition: WriteDisposition,
    /// Columns with a type (those that exist in the destination).
    pub columns: usize,
    /// Rows the loaded packages of this working dir sent to the table (every load counted, whatever its
    /// disposition: for `merge` and `replace` tables this is not the number of rows the table holds).
    pub rows_loaded: u64,
    /// Rows the table holds at the destination now, when it was asked ([`Pipeline::info_at_destination`]);
    /// `None` when it was not, or the table does not exist there.
    pub rows_at_destination: Option<u64>,
}

/// What the working dir of a pipeline holds: `ele pipeline P info`. Read locally, no connection needed.
#[derive(Debug, Clone)]
pub struct PipelineInfo {
    /// Pipeline name.
    pub pipeline_name: String,
    /// The working dir.
    pub working_dir: PathBuf,
    /// Dataset of the stored state, else the pipeline's.
    pub dataset_name: String,
    /// Destination type of the stored state (`postgres`), if any state is stored.
    pub destination: Option<String>,
    /// Version of the stored state, if any.
    pub state_version: Option<u64>,
    /// The newest load id produced by this working dir.
    pub last_load_id: Option<String>,
    /// Name of the pipeline's schema.
    pub schema_name: String,
    /// Version of the stored schema, if any.
    pub schema_version: Option<u64>,
    /// Load ids of packages normalized but not loaded yet (loaded first by the next run).
    pub pending_packages: Vec<String>,
    /// Number of packages this working dir loaded.
    pub loaded_packages: usize,
    /// Resources known from the state and the schema.
    pub resources: Vec<String>,
    /// Tables of the stored schema, parents before children.
    pub tables: Vec<TableInfo>,
    /// Where the last load of this working dir went.
    pub last_destination: Option<LastDestination>,
    /// Why the rows at the destination could not be counted, when they were asked for.
    pub destination_error: Option<String>,
}

impl fmt::Display for PipelineInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let or_none = |v: Option<String>| v.unwrap_or_else(|| "none".to_owned());
        writeln!(f, "Pipeline {}", self.pipeline_name)?;
        writeln!(f, "  working dir:      {}", self.working_dir.display())?;
        writeln!(f, "  dataset:          {}", self.dataset_name)?;
        writeln!(
            f,
            "  destination:      {}",
            or_none(self.destination.clone())
        )?;
        if let Some(last) = &self.last_destination {
            let local = last
                .local_instance
                .as_ref()
                .map(|dir| format!(" (the local instance in {})", dir.display()))
                .unwrap_or_default();
            writeln!(f, "  last loaded into: {}{local}", last.location)?;
        }
        writeln!(
            f,
            "  state version:    {}",
            or_none(self.state_version.map(|v| v.to_string()))
        )?;
        writeln!(
            f,
            "  last load id:     {}",
            or_none(self.last_load_id.clone())
        )?;
        writeln!(
            f,
            "  schema:           {} (version {})",
            self.schema_name,
            or_none(self.schema_version.map(|v| v.to_string()))
        )?;
        if self.pending_packages.is_empty() {
            writeln!(f, "  pending packages: none")?;
        } else {
            writeln!(
                f,
                "  pending packages: {} ({})",
                self.pending_packages.len(),
                self.pending_packages.join(", ")
            )?;
        }
        writeln!(f, "  loaded packages:  {}", self.loaded_packages)?;
        let resources = if self.resources.is_empty() {
            "none".to_owned()
        } else {
            self.resources.join(", ")
        };
        writeln!(f, "  resources:        {resources}")?;
        if self.tables.is_empty() {
            return writeln!(f, "No tables");
        }
        let counted = self.tables.iter().any(|t| t.rows_at_destination.is_some());
        if counted {
            writeln!(
                f,
                "Tables (rows at the destination now; rows loaded by this working dir):"
            )?;
        } else {
            writeln!(f, "Tables (rows loaded by this working dir):")?;
        }
        let width = self.tables.iter().map(|t| t.name.len()).max().unwrap_or(0);
        for t in &self.tables {
            let role = match (&t.parent, &t.resource) {
                (Some(parent), _) => format!("child of {parent}"),
                (None, Some(resource)) => format!("resource {resource}"),
                (None, None) => "root".to_owned(),
            };
            let now = match (counted, t.rows_at_destination) {
                (false, _) => String::new(),
                (true, Some(n)) => format!("{n} row(s) now; "),
                (true, None) => "not at the destination; ".to_owned(),
            };
            writeln!(
                f,
                "  {:width$}  {:7}  {now}{} row(s) loaded  {} column(s)  {role}",
                t.name,
                t.write_disposition.as_str(),
                t.rows_loaded,
                t.columns,
            )?;
        }
        if let Some(error) = &self.destination_error {
            writeln!(f, "Rows at the destination: not counted ({error})")?;
        }
        Ok(())
    }
}

/// What a [`Pipeline::drop_resources`] or [`Pipeline::reset_incremental`] changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    /// Load id of the commit (its `_dlt_loads` row); `None` when there was nothing to change.
    pub load_id: Option<String>,
    /// Tables dropped in the destination and removed from the schema.
    pub dropped_tables: Vec<String>,
    /// Resources whose state was removed or changed.
    pub resources: Vec<String>,
    /// The state version afterwards.
    pub state_version: u64,
}

impl fmt::Display for StateChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(load_id) = &self.load_id else {
            return writeln!(f, "Nothing to change");
        };
        if !self.dropped_tables.is_empty() {
            writeln!(f, "Dropped tables: {}", self.dropped_tables.join(", "))?;
        }
        if !self.resources.is_empty() {
            writeln!(f, "Changed state of: {}", self.resources.join(", "))?;
        }
        writeln!(
            f,
            "Committed as load {load_id} (state version {})",
            self.state_version
        )
    }
}

/// What [`Pipeline::sync`] restored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncInfo {
    /// Version of the restored state (`None`: the destination holds none, the local state was removed).
    pub state_version: Option<u64>,
    /// Version of the restored schema (`None`: the destination holds none, the local schema was removed).
    pub schema_version: Option<u64>,
    /// Tables of the restored schema.
    pub tables: usize,
}

impl fmt::Display for SyncInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.state_version {
            Some(v) => writeln!(f, "Restored state version {v}")?,
            None => writeln!(f, "No state stored in the destination")?,
        }
        match self.schema_version {
            Some(v) => writeln!(
                f,
                "Restored schema version {v} with {} table(s)",
                self.tables
            ),
            None => writeln!(f, "No schema stored in the destination"),
        }
    }
}

impl Pipeline {
    /// The schema stored in the working dir (`schemas/<schema>.schema.json`), if any.
    pub fn stored_schema(&self) -> Result<Option<Schema>> {
        self.workdir().read_schema(self.schema_name())
    }

    /// The schema a run would start from: the working dir's, or the destination's when that is newer (another
    /// machine, a lost working dir). Nothing is written.
    pub async fn current_schema(&self) -> Result<Schema> {
        Ok(self.restore_current().await?.1)
    }

    /// What the working dir holds: state, schema, packages, tables with rows loaded. No connection is made.
    pub fn info(&self) -> Result<PipelineInfo> {
        let state = self.state()?;
        let schema = self.stored_schema()?;
        let dir = self.workdir();
        let pending = package_ids(&dir.normalized_packages())?;
        let loaded = package_ids(&dir.loaded_packages())?;
        let mut rows: Vec<(String, u64)> = Vec::new();
        for id in &loaded {
            // A loaded package keeps only its manifest; one that cannot be read is skipped.
            let Ok(package) = LoadPackage::open(&dir.loaded_packages().join(id)) else {
                continue;
            };
            for (table, n) in package.manifest.row_counts() {
                match rows.iter_mut().find(|(t, _)| *t == table) {
                    Some((_, total)) => *total += n,
                    None => rows.push((table, n)),
                }
            }
        }
        let tables = schema
            .as_ref()
            .map(|schema| {
                schema
                    .tables
                    .values()
                    .map(|t| TableInfo {
                        name: t.name.clone(),
                        parent: t.parent.clone(),
                        resource: schema
                            .tables
                            .get(schema.root_of(&t.name))
                            .and_then(|root| root.resource.clone()),
                        write_disposition: t.write_disposition,
                        columns: t.complete_columns().count(),
                        rows_loaded: rows
                            .iter()
                            .find(|(name, _)| *name == t.name)
                            .map_or(0, |(_, n)| *n),
                        rows_at_destination: None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let empty = Schema::new(self.schema_name());
        let resources = known_resources(state.as_ref(), schema.as_ref().unwrap_or(&empty));
        Ok(PipelineInfo {
            pipeline_name: self.name().to_owned(),
            working_dir: dir.root().to_owned(),
            dataset_name: state.as_ref().map_or_else(
                || self.dataset_name().to_owned(),
                |s| s.dataset_name.clone(),
            ),
            destination: state.as_ref().map(|s| {
                s.destination_type
                    .strip_prefix("dlt.destinations.")
                    .unwrap_or(&s.destination_type)
                    .to_owned()
            }),
            state_version: state.as_ref().map(|s| s.version),
            last_load_id: state
                .as_ref()
                .and_then(|s| s.local.last_load_id.clone())
                .or_else(|| loaded.last().cloned()),
            schema_name: self.schema_name().to_owned(),
            schema_version: schema.as_ref().map(|s| s.version),
            pending_packages: pending,
            loaded_packages: loaded.len(),
            resources: resources.into_iter().collect(),
            tables,
            last_destination: dir.read_last_destination()?,
            destination_error: None,
        })
    }

    /// [`Pipeline::info`] with the rows each table holds at the pipeline's destination now. When the
    /// destination cannot be asked (unreachable, refused), the working dir's facts are still returned, with
    /// the reason in [`PipelineInfo::destination_error`].
    pub async fn info_at_destination(&self) -> Result<PipelineInfo> {
        let mut info = self.info()?;
        let tables: Vec<String> = info.tables.iter().map(|t| t.name.clone()).collect();
        match self
            .destination_ref()
            .row_counts(&info.dataset_name, &tables)
            .await
        {
            Ok(counts) => {
                for table in &mut info.tables {
                    table.rows_at_destination = counts
                        .iter()
                        .find(|(name, _)| *name == table.name)
                        .and_then(|(_, n)| *n);
                }
            }
            Err(e) => info.destination_error = Some(e.to_string()),
        }
        Ok(info)
    }

    /// Discards the load packages waiting to be loaded, as dlt's `drop-pending-packages`: their rows are not
    /// loaded and the state they carry is not committed (the next run starts from the committed state). A
    /// package another process is loading right now is left alone. Returns the load ids discarded.
    pub fn drop_pending_packages(&self) -> Result<Vec<String>> {
        let mut dropped = Vec::new();
        for dir in package_dirs(&self.workdir().normalized_packages())? {
            if let Some(_lock) = try_lock_package(&dir)? {
                remove_dir_if_exists(&dir)?;
                if let Some(id) = dir.file_name().and_then(|n| n.to_str()) {
                    dropped.push(id.to_owned());
                }
            }
        }
        Ok(dropped)
    }

    /// Where the last load of this working dir went, if it loaded anything.
    pub fn last_destination(&self) -> Result<Option<LastDestination>> {
        self.workdir().read_last_destination()
    }

    /// Drops resources as dlt's `dlt pipeline P drop R` does: the tables of their chains (root and child
    /// tables, from the schema) are dropped in the destination and removed from the schema, and their state
    /// (`sources.*.resources.<R>`) is removed; the new state, schema and a `_dlt_loads` row are committed in the
    /// same transaction, then the working dir follows. An unknown resource is an error listing the known ones.
    pub async fn drop_resources<I, S>(&self, resources: I) -> Result<StateChange>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let names: Vec<String> = resources
            .into_iter()
            .map(|r| r.as_ref().to_owned())
            .collect();
        if names.is_empty() {
            return Err(Error::config("name at least one resource to drop"));
        }
        self.refuse_pending("drop resources")?;
        let (state, mut schema) = self.current().await?;
        self.check_known(&state, &schema, &names)?;
        let roots: Vec<String> = schema
            .tables
            .values()
            .filter(|t| {
                t.parent.is_none() && t.resource.as_ref().is_some_and(|r| names.contains(r))
            })
            .map(|t| t.name.clone())
            .collect();
        let mut dropped = Vec::new();
        for root in &roots {
            dropped.extend(schema.chain(root).into_iter().map(|t| t.name.clone()));
        }
        let previous_hash = schema.version_hash();
        for table in &dropped {
            schema.tables.shift_remove(table);
        }
        if !dropped.is_empty() {
            schema.set_version(schema.version + 1, previous_hash);
        }
        let mut new_state = state.clone();
        let mut changed = Vec::new();
        for_each_resource_state(&mut new_state, |resource, entry| {
            if names.iter().any(|n| n == resource) {
                entry.clear();
                changed.push(resource.to_owned());
            }
        });
        changed.sort();
        changed.dedup();
        self.commit_change(state, new_state, schema, dropped, changed)
            .await
    }

    /// Resets the incremental state (the `incremental` entries) of the given resources, or of all resources
    /// when none is given, so their next run starts again from the initial values. Committed like
    /// [`Pipeline::drop_resources`]; the tables and their rows stay.
    pub async fn reset_incremental<I, S>(&self, resources: I) -> Result<StateChange>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let names: Vec<String> = resources
            .into_iter()
            .map(|r| r.as_ref().to_owned())
            .collect();
        self.refuse_pending("reset incremental state")?;
        let (state, schema) = self.current().await?;
        self.check_known(&state, &schema, &names)?;
        let mut new_state = state.clone();
        let mut changed = Vec::new();
        for_each_resource_state(&mut new_state, |resource, entry| {
            if (names.is_empty() || names.iter().any(|n| n == resource))
                && entry.remove("incremental").is_some()
            {
                changed.push(resource.to_owned());
            }
        });
        changed.sort();
        changed.dedup();
        self.commit_change(state, new_state, schema, Vec::new(), changed)
            .await
    }

    /// The datasets of the destination holding a committed state of this pipeline, sorted: where `sync` can
    /// restore it from when its dataset is not known.
    pub async fn find_datasets(&self) -> Result<Vec<String>> {
        self.destination_ref().datasets_of(self.name()).await
    }

    /// Restores state and schema from the destination into the working dir, replacing the local ones (dlt's
    /// `dlt pipeline P sync`): for a lost or stale working dir, or one on another machine. Load packages stay.
    /// An error when the destination holds neither state nor schema of the pipeline (nothing is changed then).
    pub async fn sync(&self) -> Result<SyncInfo> {
        let destination = self.destination_ref();
        let restored = destination
            .restore(self.dataset_name(), self.name(), self.schema_name())
            .await?;
        if restored.state.is_none() && restored.schema.is_none() {
            return Err(Error::config(format!(
                "nothing to restore: {} holds no state and no schema of pipeline `{}` in dataset `{}`",
                destination.location(),
                self.name(),
                self.dataset_name()
            )));
        }
        let dir = self.workdir();
        let local = self.state()?;
        let state_version = match restored.state {
            Some(mut state) => {
                state.local = LocalState {
                    last_extracted_hash: Some(state.version_hash.clone()),
                    last_load_id: local.and_then(|l| l.local.last_load_id),
                };
                dir.write_state(&state)?;
                Some(state.version)
            }
            None => {
                remove_file_if_exists(&dir.state_file())?;
                None
            }
        };
        let schema_file = dir.schema_file(self.schema_name());
        let (schema_version, tables) = match &restored.schema {
            Some(schema) => {
                dir.write_schema(schema)?;
                (Some(schema.version), schema.tables.len())
            }
            None => {
                remove_file_if_exists(&schema_file)?;
                (None, 0)
            }
        };
        Ok(SyncInfo {
            state_version,
            schema_version,
            tables,
        })
    }

    /// State and schema as a run would start from: the local ones, replaced by the destination's when newer.
    async fn current(&self) -> Result<(PipelineState, Schema)> {
        self.restore_current().await
    }

    /// A change must not overtake packages built on the state before it (they would be discarded).
    fn refuse_pending(&self, what: &str) -> Result<()> {
        let dir = self.workdir().normalized_packages();
        let pending = package_ids(&dir)?;
        if pending.is_empty() {
            return Ok(());
        }
        Err(Error::config(format!(
            "cannot {what} of pipeline `{}`: {} load package(s) are pending in {} ({}); run the pipeline once \
             more to load them (pending packages are loaded before anything new), then try again",
            self.name(),
            pending.len(),
            dir.display(),
            pending.join(", ")
        )))
    }

    fn check_known(&self, state: &PipelineState, schema: &Schema, names: &[String]) -> Result<()> {
        let known = known_resources(Some(state), schema);
        let unknown: Vec<&String> = names.iter().filter(|n| !known.contains(*n)).collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let unknown: Vec<String> = unknown.iter().map(|n| format!("`{n}`")).collect();
        let known = if known.is_empty() {
            "it has none yet (no state and no tables: has it been run with this dataset?)"
                .to_owned()
        } else {
            format!(
                "known resources: {}",
                known.into_iter().collect::<Vec<_>>().join(", ")
            )
        };
        Err(Error::config(format!(
            "pipeline `{}` (dataset `{}`) has no resource {}; {known}",
            self.name(),
            self.dataset_name(),
            unknown.join(", ")
        )))
    }

    /// Commits the new state and schema (and drops tables) in the destination, then saves them locally.
    async fn commit_change(
        &self,
        state: PipelineState,
        mut new_state: PipelineState,
        schema: Schema,
        dropped: Vec<String>,
        changed: Vec<String>,
    ) -> Result<StateChange> {
        prune_empty(&mut new_state);
        let state_changed = new_state.sources != state.sources;
        if !state_changed && dropped.is_empty() {
            return Ok(StateChange {
                load_id: None,
                dropped_tables: dropped,
                resources: Vec::new(),
                state_version: state.version,
            });
        }
        new_state.bump_if_modified();
        let state_row = if state_changed {
            Some(StateRow::encode(&new_state)?)
        } else {
            None
        };
        let load_id = new_load_id(state.local.last_load_id.as_deref());
        let commit = StateCommit {
            dataset: self.dataset_name().to_owned(),
            load_id: load_id.clone(),
            schema: schema.clone(),
            drop_tables: dropped.clone(),
            state_row,
        };
        self.destination_ref().commit_state(&commit).await?;
        tracing::info!(load_id = %load_id, dropped = ?dropped, resources = ?changed, "state change committed");
        // The destination has it now; the working dir follows.
        new_state.local.last_extracted_hash = Some(new_state.version_hash.clone());
        new_state.local.last_load_id = Some(load_id.clone());
        self.workdir().write_state(&new_state)?;
        self.workdir().write_schema(&schema)?;
        Ok(StateChange {
            load_id: Some(load_id),
            dropped_tables: dropped,
            resources: changed,
            state_version: new_state.version,
        })
    }
}

/// Resource names found in the state (`sources.*.resources.*`) and as writers of root tables in the schema.
fn known_resources(state: Option<&PipelineState>, schema: &Schema) -> BTreeSet<String> {
    let mut known = BTreeSet::new();
    if let Some(state) = state {
        for source in state.sources.values() {
            if let Some(resources) = source.get("resources").and_then(Value::as_object) {
                known.extend(resources.keys().cloned());
            }
        }
    }
    known.extend(
        schema
            .tables
            .values()
            .filter(|t| t.parent.is_none())
            .filter_map(|t| t.resource.clone()),
    );
    known
}

/// Calls `f` with every resource state object `sources.<source>.resources.<resource>`.
fn for_each_resource_state(
    state: &mut PipelineState,
    mut f: impl FnMut(&str, &mut Map<String, Value>),
) {
    for source in state.sources.values_mut() {
        let Some(resources) = source.get_mut("resources").and_then(Value::as_object_mut) else {
            continue;
        };
        for (name, entry) in resources.iter_mut() {
            if let Value::Object(entry) = entry {
                f(name, entry);
            }
        }
    }
}

/// Removes empty resource entries, empty `resources` maps and empty sources, as a run leaves them.
fn prune_empty(state: &mut PipelineState) {
    let is_empty_object = |v: &Value| v.as_object().is_some_and(Map::is_empty);
    for source in state.sources.values_mut() {
        let Some(source) = source.as_object_mut() else {
            continue;
        };
        if let Some(resources) = source.get_mut("resources").and_then(Value::as_object_mut) {
            resources.retain(|_, entry| !is_empty_object(entry));
            if resources.is_empty() {
                source.remove("resources");
            }
        }
    }
    state.sources.retain(|_, source| !is_empty_object(source));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state_with(sources: Value) -> PipelineState {
        let mut state = PipelineState::new("p", "p_dataset", "p", "postgres");
        state.sources = sources.as_object().cloned().unwrap_or_default();
        state
    }

    #[test]
    fn resources_are_found_in_state_and_schema() {
        let state =
            state_with(json!({"p": {"resources": {"a": {"x": 1}}}, "s": {"resources": {"b": {}}}}));
        let mut schema = Schema::new("p");
        let mut table = crate::model::schema::Table::new(
            "c_table",
            None,
            crate::model::hints::WriteDisposition::Append,
        );
        table.resource = Some("c".into());
        schema.tables.insert("c_table".into(), table);
        let known: Vec<String> = known_resources(Some(&state), &schema).into_iter().collect();
        assert_eq!(known, ["a", "b", "c"]);
    }

    #[test]
    fn emptied_entries_are_pruned() {
        let mut state = state_with(json!({
            "p": {"resources": {"a": {}, "b": {"k": 1}}},
            "q": {"resources": {"c": {}}},
            "r": {"shared": true, "resources": {"d": {}}}
        }));
        prune_empty(&mut state);
        assert_eq!(
            Value::Object(state.sources),
            json!({"p": {"resources": {"b": {"k": 1}}}, "r": {"shared": true}})
        );
    }
}
