//! The extract-and-normalize stage of a run: resources run as tasks, their items are normalized on worker
//! threads into a new load package, and, when every table is new, a load begins beside it.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::task::JoinSet;

use crate::destination::{LoadPlan, LoadStream};
use crate::extract::resource::{EmitContext, LimitState, Resources};
use crate::foundation::error::{Error, Result};
use crate::model::contract::{Discarded, SchemaContract};
use crate::model::hints::{MergeStrategy, RefreshMode, WriteDisposition};
use crate::model::interval::interval_from_env;
use crate::model::naming;
use crate::model::schema::Schema;
use crate::model::schema::stored::Scd2Hints;
use crate::model::state::{PipelineState, ResourceState, SourceState, StateRow};
use crate::normalize::contract::is_new_table;
use crate::normalize::relational::{DEFAULT_MAX_NESTING, RootConfig};
use crate::package::{ChainLoad, Manifest, PackageWriter, RefreshTables};
use crate::run::context::{PipelineContext, RunOverrides};
use crate::run::merge_spec::merge_spec;
use crate::run::progress;
use crate::run::versioning::{load_id_time, new_load_id, next_schema_version};
use crate::run::workdir::{remove_dir_if_exists, try_lock_package};

/// How many extracted batches may wait for the normalizer (its workers hold a few more): memory stays flat.
const EXTRACT_QUEUE: usize = 4;

/// A package the stage wrote, complete under `load/new/`.
pub(crate) struct ExtractedPackage {
    /// Its manifest.
    pub(crate) manifest: Manifest,
    /// The lock this process holds on it (released when dropped).
    pub(crate) lock: std::fs::File,
    /// How many items the resources sent.
    pub(crate) items: u64,
    /// The load begun while it was written, when one was.
    pub(crate) copier: Option<Copier>,
}

/// The task COPYing finished job files while the package is being written; it returns the stream when the
/// writer is done, or `None` when no load began (or it gave up).
pub(crate) type Copier = tokio::task::JoinHandle<Option<Box<dyn LoadStream>>>;

/// Runs the resources and normalizes their items into a new package under `load/new/`, with the task loading
/// it meanwhile when the destination does that. Returns `None` when there is nothing to load (no rows and no
/// state change). What schema contracts discarded is added to `discarded`.
pub(crate) async fn extract_and_normalize(
    p: &PipelineContext,
    resources: Resources,
    overrides: RunOverrides,
    state: &mut PipelineState,
    schema: &mut Schema,
    discarded: &mut Vec<Discarded>,
) -> Result<Option<ExtractedPackage>> {
    let RunOverrides {
        write_disposition,
        primary_key,
        merge_key,
        table_name,
        interval,
        schema_contract,
        refresh,
    } = overrides;
    let Resources {
        source_name,
        root_key,
        mut list,
    } = resources;
    if table_name.is_some() && list.len() != 1 {
        return Err(Error::config(format!(
            "`table_name` can only be set for a run of one resource, this run has {}",
            list.len()
        )));
    }
    let source_name = source_name.unwrap_or_else(|| p.name.clone());
    let refreshed = match refresh {
        Some(mode) => {
            let names: Vec<String> = list.iter().map(|r| r.hints().name.clone()).collect();
            apply_refresh(mode, &names, &source_name, state, schema)
        }
        None => RefreshTables::default(),
    };
    let mut configs = Vec::with_capacity(list.len());
    let mut replaced_resource = false;
    for resource in &mut list {
        let hints = resource.hints_mut();
        if let Some(d) = write_disposition {
            hints.write_disposition = d;
        }
        if let Some(k) = &primary_key {
            hints.primary_key = k.clone();
        }
        if let Some(k) = &merge_key {
            hints.merge_key = k.clone();
        }
        if let Some(t) = &table_name {
            hints.table_name = Some(t.clone());
        }
        if let Some(c) = schema_contract {
            hints.schema_contract = Some(c);
        }
        if hints.write_disposition == WriteDisposition::Merge
            && hints.primary_key.is_empty()
            && hints.merge_key.is_empty()
        {
            tracing::warn!(
                resource = %hints.name,
                "merge without primary key or merge key: rows are appended, as in dlt"
            );
        }
        if hints.write_disposition == WriteDisposition::Replace {
            // dlt resets a replaced resource's state (its incremental cursors included) at every extract, which
            // leaves at least an empty entry for the source.
            replaced_resource = true;
            if let Some(resources) = state
                .sources
                .get_mut(&source_name)
                .and_then(|s| s.get_mut("resources"))
                .and_then(|r| r.as_object_mut())
            {
                resources.remove(&hints.name);
            }
        }
        let table = naming::normalize_tables_path(hints.table());
        let columns = super::hinted::resolve_column_hints(hints, schema, &table)?;
        let merge = merge_spec(hints)?;
        // The run's contract, else the resource's (or its source's), else the one stored with the table.
        let contract = hints
            .schema_contract
            .or_else(|| schema.tables.get(&table).and_then(|t| t.schema_contract));
        configs.push(RootConfig {
            schema_contract: hints.schema_contract,
            contract: contract.map(SchemaContract::expand).unwrap_or_default(),
            evolve_columns_once: is_new_table(schema.tables.get(&table)),
            resource: hints.name.clone(),
            table: table.clone(),
            write_disposition: hints.write_disposition,
            primary_key: hints
                .primary_key
                .columns()
                .iter()
                .map(|c| naming::normalize_path(c))
                .collect(),
            merge_key: hints
                .merge_key
                .columns()
                .iter()
                .map(|c| naming::normalize_path(c))
                .collect(),
            max_nesting: hints.max_table_nesting.unwrap_or(DEFAULT_MAX_NESTING),
            // As dlt: once a child table of this root has `_dlt_root_id`, it is always written (it is NOT NULL).
            propagate_root_key: RootConfig::root_key_required(
                hints.write_disposition,
                merge.strategy,
                root_key || hints.root_key,
            ) || schema.tables.values().any(|t| {
                t.parent.is_some() && t.has_root_key() && schema.root_of(&t.name) == table
            }) || schema.propagates_root_key(&table),
            merge,
            columns,
        });
    }

    let load_id = new_load_id(state.local.last_load_id.as_deref());
    let package_dir = p.working_dir.new_packages().join(&load_id);
    let mut writer = PackageWriter::create(&package_dir)?;
    let lock = try_lock_package(&package_dir)?.ok_or_else(|| {
        Error::internal(format!(
            "load package {} is locked by another process",
            package_dir.display()
        ))
    })?;
    // A refresh drops or empties tables in the load transaction, which a load begun beside the normalizer
    // (into new tables only) does not do.
    let copier = if refreshed.is_empty() {
        begin_load(p, &configs, schema, &load_id, &mut writer)
    } else {
        None
    };

    let (tx, rx, item_count) = progress::extract_channel(p.progress.as_ref(), EXTRACT_QUEUE);
    let normalize_configs = configs.clone();
    let mut working_schema = schema.clone();
    let load_id_for_normalizer = load_id.clone();
    let normalizer = tokio::task::spawn_blocking(move || {
        crate::normalize::parallel::normalize_stream(
            rx,
            &normalize_configs,
            &mut working_schema,
            &load_id_for_normalizer,
            writer,
            crate::normalize::parallel::worker_count(),
        )
        .map(|(writer, roots, discarded)| (working_schema, writer, roots, discarded))
    });

    let interval = match interval {
        Some(i) => Some(i),
        None => interval_from_env()?,
    };
    let source_entry = state
        .sources
        .get(&source_name)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let source_state = SourceState::new({
        let mut m = source_entry.clone();
        m.remove("resources");
        m
    });
    let mut contexts = Vec::with_capacity(list.len());
    let mut tasks = JoinSet::new();
    for (index, resource) in list.into_iter().enumerate() {
        let hints = resource.hints();
        let name = hints.name.clone();
        let stored = source_entry
            .get("resources")
            .and_then(|r| r.get(&name))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let ctx = Arc::new(EmitContext {
            resource_index: index,
            resource_name: name.clone(),
            source_name: source_name.clone(),
            primary_key: hints.primary_key.clone(),
            stored_incremental: stored
                .get("incremental")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            resource_state: ResourceState::new(stored),
            source_state: source_state.clone(),
            interval,
            trackers: Default::default(),
            limit: LimitState::start(hints.limit),
            after_incremental: Default::default(),
        });
        contexts.push(Arc::clone(&ctx));
        let fut = resource.start(ctx, tx.clone());
        tasks.spawn(async move { (name, fut.await) });
    }
    drop(tx);
    let mut extract_error = None;
    while let Some(joined) = tasks.join_next().await {
        let failure = match joined {
            Ok((_, Ok(()))) | Ok((_, Err(Error::Closed { .. }))) => None,
            Ok((name, Err(e))) => Some(match e {
                e @ (Error::Resource { .. } | Error::Item { .. }) => e,
                other => Error::resource(name, other),
            }),
            Err(join_error) => Some(Error::resource(
                "<unknown>",
                format!("the resource task panicked or was cancelled: {join_error}"),
            )),
        };
        if let Some(e) = failure {
            extract_error.get_or_insert(e);
            tasks.abort_all();
        }
    }
    let normalized = normalizer
        .await
        .map_err(|e| Error::internal(format!("the normalizer panicked: {e}")));
    let (mut new_schema, writer, roots, discards) = match (normalized, extract_error) {
        (Ok(Ok(done)), None) => done,
        (Ok(Err(e)), _) | (Err(e), _) | (Ok(Ok(_)), Some(e)) => {
            remove_dir_if_exists(&package_dir)?;
            return Err(e);
        }
    };
    // Items a contract discarded still make a load, as in dlt (its `_dlt_loads` row records the run).
    let contract_discarded = !discards.is_empty();
    discarded.extend(discards);
    let with_rows: Vec<&str> = roots
        .iter()
        .filter(|(r, ..)| writer.has_rows(&r.table))
        .map(|(r, ..)| r.table.as_str())
        .collect();
    // dlt marks the column an incremental's cursor names (`incremental: true`).
    for ctx in &contexts {
        let Some(config) = configs.iter().find(|c| c.resource == ctx.resource_name) else {
            continue;
        };
        let trackers = ctx
            .trackers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for tracker in trackers {
            let column = tracker
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .cursor_column();
            if let Some(column) = column {
                new_schema.mark_incremental(&config.table, &naming::normalize_path(&column));
            }
        }
    }
    for config in configs
        .iter()
        .filter(|c| c.write_disposition == WriteDisposition::Merge)
    {
        let scd2 = config.merge.scd2.as_ref().map(|s| Scd2Hints {
            valid_from: &s.valid_from,
            valid_to: &s.valid_to,
            active_to: s.active_to.map(|t| t.to_rfc3339()),
            row_version: s.version_column(),
        });
        new_schema.mark_merge(&config.table, config.merge.strategy, scd2);
    }
    let version = next_schema_version(schema, &new_schema, &with_rows);
    let previous_hash = schema.version_hash();
    *schema = new_schema;
    schema.set_version(version, previous_hash);

    // The state after this run: resource and source state as the bodies left it, incrementals advanced.
    let mut new_state = state.clone();
    {
        let source = new_state
            .sources
            .entry(source_name.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !source.is_object() {
            *source = Value::Object(Map::new());
        }
        if let Value::Object(source) = source {
            let resources = source.remove("resources");
            *source = source_state.snapshot();
            let mut resources = match resources {
                Some(Value::Object(r)) => r,
                _ => Map::new(),
            };
            for ctx in &contexts {
                let mut entry = ctx.resource_state.snapshot();
                let trackers = ctx
                    .trackers
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                for tracker in trackers {
                    let tracker = tracker.lock().unwrap_or_else(|p| p.into_inner());
                    if tracker.is_stateless() {
                        continue;
                    }
                    let incremental = entry
                        .entry("incremental")
                        .or_insert_with(|| Value::Object(Map::new()));
                    if let Value::Object(incremental) = incremental {
                        let previous = incremental
                            .get(tracker.cursor_path())
                            .and_then(Value::as_object);
                        let value = tracker.state_entry(previous);
                        incremental.insert(tracker.cursor_path().to_owned(), value);
                    }
                }
                if !entry.is_empty() {
                    resources.insert(ctx.resource_name.clone(), Value::Object(entry));
                }
            }
            if !resources.is_empty() {
                source.insert("resources".to_owned(), Value::Object(resources));
            }
        }
        if !replaced_resource
            && new_state
                .sources
                .get(&source_name)
                .is_some_and(|s| s.as_object().is_some_and(Map::is_empty))
        {
            new_state.sources.remove(&source_name);
        }
    }
    // A backfill chunk (an incremental with an end value) leaves the state alone unless the run changed it
    // itself, so chunks running beside the pipeline's incremental runs never overwrite their state.
    let backfill = contexts.iter().any(|ctx| {
        ctx.trackers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|t| t.lock().unwrap_or_else(|p| p.into_inner()).is_stateless())
    });
    let sources_changed = new_state.sources != state.sources;
    new_state.bump_if_modified();
    let state_row = if (sources_changed || !backfill)
        && new_state.local.last_extracted_hash.as_deref() != Some(new_state.version_hash.as_str())
    {
        Some(StateRow::encode(&new_state)?)
    } else {
        None
    };
    new_state.local.last_extracted_hash = Some(new_state.version_hash.clone());
    new_state.local.last_load_id = Some(load_id.clone());
    let chains = roots
        .into_iter()
        .map(|(c, unique_keys, unchecked_keys)| {
            let mut merge = c.merge;
            if let Some(scd2) = &mut merge.scd2 {
                scd2.boundary = scd2.boundary.or_else(|| load_id_time(&load_id));
            }
            ChainLoad {
                root: c.table,
                write_disposition: c.write_disposition,
                unique_keys,
                unchecked_keys,
                merge,
            }
        })
        .collect();
    let manifest = writer.finish(
        &load_id,
        &p.name,
        &p.dataset_name,
        schema.clone(),
        chains,
        new_state,
        state_row,
        refreshed,
    )?;
    let replaces = manifest
        .chains
        .iter()
        .any(|c| c.write_disposition == WriteDisposition::Replace);
    let refreshes = !manifest.drop_tables.is_empty() || !manifest.truncate_tables.is_empty();
    if manifest.jobs.is_empty()
        && manifest.state_row.is_none()
        && !replaces
        && !contract_discarded
        && !refreshes
    {
        remove_dir_if_exists(&package_dir)?;
        return Ok(None);
    }
    Ok(Some(ExtractedPackage {
        manifest,
        lock,
        items: item_count.get(),
        copier,
    }))
}

/// Applies a run's refresh (dlt's `refresh`) to the state and schema the run starts from, as dlt's
/// `prepare_refresh_source` does, and returns the tables the load transaction drops or empties: those that
/// exist at the destination (have a typed column).
fn apply_refresh(
    mode: RefreshMode,
    resources: &[String],
    source_name: &str,
    state: &mut PipelineState,
    schema: &mut Schema,
) -> RefreshTables {
    let data_table = |t: &&crate::model::schema::Table| !t.name.starts_with("_dlt");
    let roots: Vec<String> = schema
        .tables
        .values()
        .filter(data_table)
        .filter(|t| t.parent.is_none())
        .filter(|t| {
            mode == RefreshMode::DropSources
                || t.resource.as_ref().is_some_and(|r| resources.contains(r))
        })
        .map(|t| t.name.clone())
        .collect();
    let mut tables = Vec::new();
    for root in &roots {
        tables.extend(schema.chain(root).into_iter().map(|t| t.name.clone()));
    }
    let with_data: Vec<String> = tables
        .iter()
        .filter(|t| {
            schema
                .tables
                .get(t.as_str())
                .is_some_and(|t| t.complete_columns().next().is_some())
        })
        .cloned()
        .collect();
    // State: the whole source's for drop_sources, else the resources' of the run.
    match mode {
        RefreshMode::DropSources => {
            state.sources.remove(source_name);
        }
        RefreshMode::DropResources | RefreshMode::DropData => {
            if let Some(entries) = state
                .sources
                .get_mut(source_name)
                .and_then(|s| s.get_mut("resources"))
                .and_then(Value::as_object_mut)
            {
                for name in resources {
                    entries.remove(name);
                }
            }
        }
    }
    tracing::info!(
        refresh = %mode,
        tables = ?with_data,
        "refresh: {} in the load transaction",
        if mode == RefreshMode::DropData { "emptying tables" } else { "dropping tables" }
    );
    if mode == RefreshMode::DropData {
        return RefreshTables {
            drop: Vec::new(),
            truncate: with_data,
        };
    }
    for table in &tables {
        schema.tables.shift_remove(table);
    }
    if !tables.is_empty() {
        schema.version += 1;
    }
    RefreshTables {
        drop: with_data,
        truncate: Vec::new(),
    }
}

/// How long a load begun beside the normalizer may wait for the next finished job file before it gives up (rolls
/// back; the package loads once complete): a slow source must not keep a transaction open and idle.
/// `ELE_STREAM_IDLE_SECS` sets another limit.
fn stream_idle() -> Duration {
    std::env::var("ELE_STREAM_IDLE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(60), Duration::from_secs)
}

/// Loads while normalizing when every resource writes straight into new tables (appends, replaces, merges
/// without hard deletes; scd2 ignores them), or merges with delete-insert on one key into tables loaded
/// before: from the first finished job file on (a run too small to finish one loads once complete), if the
/// destination takes the package that way.
fn begin_load(
    p: &PipelineContext,
    configs: &[RootConfig],
    schema: &Schema,
    load_id: &str,
    writer: &mut PackageWriter,
) -> Option<Copier> {
    // Under a schema contract a row may still fail the run, which must not have begun loading.
    if configs.is_empty() || !configs.iter().all(|c| c.contract.is_evolve()) {
        return None;
    }
    // Tables the pipeline loaded before exist: only delete-insert merges on one key column go into them while
    // normalizing (their replaced rows are deleted once the package is complete).
    let merges_into_existing = configs.iter().all(|c| {
        schema.tables.contains_key(&c.table)
            && c.write_disposition == WriteDisposition::Merge
            && c.merge.strategy == MergeStrategy::DeleteInsert
            && c.merge.hard_delete.is_none()
            && c.primary_key.len() == 1
            && c.merge_key.is_empty()
    });
    let direct = merges_into_existing
        || !configs.iter().any(|c| schema.tables.contains_key(&c.table))
            && configs.iter().all(|c| match c.write_disposition {
                WriteDisposition::Append | WriteDisposition::Replace => true,
                WriteDisposition::Merge => match c.merge.strategy {
                    MergeStrategy::DeleteInsert => c.merge.hard_delete.is_none(),
                    MergeStrategy::Upsert | MergeStrategy::InsertOnly => {
                        c.merge.hard_delete.is_none() && !c.primary_key.is_empty()
                    }
                    MergeStrategy::Scd2 => c.merge.scd2.is_some(),
                },
            });
    if !direct {
        return None;
    }
    let plan = LoadPlan {
        dataset: p.dataset_name.clone(),
        load_id: load_id.to_owned(),
        roots: configs.iter().map(|c| c.table.clone()).collect(),
        scd2: configs
            .iter()
            .filter(|c| {
                c.write_disposition == WriteDisposition::Merge
                    && c.merge.strategy == MergeStrategy::Scd2
            })
            .filter_map(|c| {
                let mut spec = c.merge.scd2.clone()?;
                spec.boundary = spec.boundary.or_else(|| load_id_time(load_id));
                Some((c.table.clone(), spec))
            })
            .collect(),
        merges_into_existing,
    };
    let destination = Arc::clone(&p.destination);
    let idle = stream_idle();
    let (finished, mut jobs) = tokio::sync::mpsc::unbounded_channel();
    writer.report_finished_jobs(finished);
    Some(tokio::spawn(async move {
        let first = jobs.recv().await?;
        let mut stream = match destination.begin_load(&plan).await {
            Ok(stream) => stream?,
            Err(e) => {
                tracing::debug!(error = %e, "not loading while normalizing");
                return None;
            }
        };
        stream.copy(&first).await;
        loop {
            match tokio::time::timeout(idle, jobs.recv()).await {
                Ok(Some(job)) => stream.copy(&job).await,
                Ok(None) => return Some(stream),
                Err(_) => {
                    tracing::info!(
                        "no rows for {} s: the load waits until the package is complete",
                        idle.as_secs()
                    );
                    return None;
                }
            }
        }
    }))
}
