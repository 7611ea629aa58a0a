//! The pipeline: restore state, finish pending packages, extract and normalize into a new package, load it.

use std::fmt;
use std::future::IntoFuture;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde_json::{Map, Value};
use tokio::task::JoinSet;

use crate::destination::{Destination, LoadOutcome, LoadPlan, LoadStream};
use crate::extract::resource::{EmitContext, IntoResources, Resources};
use crate::foundation::error::{Error, Result};
use crate::model::hints::{Key, MergeStrategy, WriteDisposition};
use crate::model::interval::{Interval, interval_from_env};
use crate::model::naming;
use crate::model::schema::Schema;
use crate::model::state::{PipelineState, ResourceState, SourceState, StateRow};
use crate::normalize::relational::{DEFAULT_MAX_NESTING, RootConfig};
use crate::package::{ChainLoad, LoadPackage, Manifest, MergeSpec, PackageWriter, Scd2Spec};
use crate::run::progress;
use crate::run::report::{LoadInfo, PackageInfo};

/// Environment variable overriding where pipeline working dirs live.
pub const PIPELINES_DIR_ENV: &str = "ELE_PIPELINES_DIR";

/// Environment variable: seconds a stateful run waits for another run of its pipeline.
pub const LOCK_TIMEOUT_ENV: &str = "ELE_LOCK_TIMEOUT";

/// How many extracted batches may wait for the normalizer (its workers hold a few more): memory stays flat.
const EXTRACT_QUEUE: usize = 4;

/// Builds a [`Pipeline`]: `Pipeline::builder("github").destination(pg).dataset_name("github_data").build()?`.
pub struct PipelineBuilder {
    name: String,
    dataset_name: Option<String>,
    destination: Option<Arc<dyn Destination>>,
    pipelines_dir: Option<PathBuf>,
    lock_timeout: Option<Duration>,
    dev_mode: bool,
    progress: Option<crate::run::progress::Observer>,
}

impl PipelineBuilder {
    /// Where the data goes.
    pub fn destination(mut self, destination: impl Destination) -> Self {
        self.destination = Some(Arc::new(destination));
        self
    }

    /// The dataset (PostgreSQL schema); `<pipeline name>_dataset` by default, as in dlt.
    pub fn dataset_name(mut self, name: impl Into<String>) -> Self {
        self.dataset_name = Some(name.into());
        self
    }

    /// The folder holding pipeline working dirs; `$ELE_PIPELINES_DIR`, else `.ele/pipelines`.
    pub fn pipelines_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.pipelines_dir = Some(dir.into());
        self
    }

    /// How long a stateful run waits for another run of the same pipeline to finish; `$ELE_LOCK_TIMEOUT`
    /// seconds, else 10 minutes.
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = Some(timeout);
        self
    }

    /// Dev mode, for experiments (dlt's `dev_mode`, formerly `full_refresh`): this instance loads into a fresh
    /// dataset `<dataset>_<YYYYMMDDhhmmss>` and starts from empty state (its working dir is wiped on build).
    pub fn dev_mode(mut self, enabled: bool) -> Self {
        self.dev_mode = enabled;
        self
    }

    /// Reports the progress of every run (items extracted, rows normalized, packages loaded) to `observer`,
    /// called on the pipeline's tasks and threads: keep it quick.
    pub fn progress(
        mut self,
        observer: impl Fn(&crate::run::progress::Progress) + Send + Sync + 'static,
    ) -> Self {
        self.progress = Some(Arc::new(observer));
        self
    }

    /// Checks the settings and builds the pipeline.
    pub fn build(self) -> Result<Pipeline> {
        if self.name.trim().is_empty() {
            return Err(Error::config("the pipeline name is empty"));
        }
        let destination = self.destination.ok_or_else(|| {
            Error::config(format!(
                "pipeline `{}` has no destination: call `.destination(...)` on the builder",
                self.name
            ))
        })?;
        let mut dataset = self
            .dataset_name
            .unwrap_or_else(|| format!("{}_dataset", self.name));
        if self.dev_mode {
            dataset = dev_mode_dataset(&dataset);
        }
        let dataset_name = naming::normalize_dataset_name(&dataset);
        let pipelines_dir = self
            .pipelines_dir
            .or_else(|| std::env::var_os(PIPELINES_DIR_ENV).map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(".ele").join("pipelines"));
        let working_dir = pipelines_dir.join(&self.name);
        if self.dev_mode {
            remove_dir_if_exists(&working_dir)?;
        }
        let lock_timeout = self
            .lock_timeout
            .or_else(|| {
                std::env::var(LOCK_TIMEOUT_ENV)
                    .ok()
                    .and_then(|v| v.parse::<f64>().ok())
                    .map(Duration::from_secs_f64)
            })
            .unwrap_or(Duration::from_secs(600));
        Ok(Pipeline {
            inner: Arc::new(Inner {
                lock_timeout,
                schema_name: naming::normalize_schema_name(&self.name),
                name: self.name,
                dataset_name,
                destination,
                working_dir,
                progress: self.progress,
            }),
        })
    }
}

struct Inner {
    lock_timeout: Duration,
    name: String,
    schema_name: String,
    dataset_name: String,
    destination: Arc<dyn Destination>,
    working_dir: PathBuf,
    progress: Option<crate::run::progress::Observer>,
}

/// Drives sources and resources through extract, normalize and load.
#[derive(Clone)]
pub struct Pipeline {
    inner: Arc<Inner>,
}

impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("name", &self.inner.name)
            .field("dataset_name", &self.inner.dataset_name)
            .field("destination", &self.inner.destination.location())
            .finish()
    }
}

impl Pipeline {
    /// Starts building a pipeline named `name` (also the name of its working dir and schema).
    pub fn builder(name: impl Into<String>) -> PipelineBuilder {
        PipelineBuilder {
            name: name.into(),
            dataset_name: None,
            destination: None,
            pipelines_dir: None,
            lock_timeout: None,
            dev_mode: false,
            progress: None,
        }
    }

    /// The pipeline name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The (normalized) dataset name.
    pub fn dataset_name(&self) -> &str {
        &self.inner.dataset_name
    }

    /// The working dir holding state, schema and load packages.
    pub fn working_dir(&self) -> &Path {
        &self.inner.working_dir
    }

    /// The destination (used by [`crate::run::manage`]).
    pub(crate) fn destination_ref(&self) -> &Arc<dyn Destination> {
        &self.inner.destination
    }

    /// The (normalized) schema name (used by [`crate::run::manage`]).
    pub(crate) fn schema_name(&self) -> &str {
        &self.inner.schema_name
    }

    /// The state as last committed by this working dir, if any.
    pub fn state(&self) -> Result<Option<PipelineState>> {
        PipelineState::load(&self.inner.working_dir)
    }

    /// The state and schema a run starts from: local ones, replaced by the destination's when newer.
    pub(crate) async fn restore_current(&self) -> Result<(PipelineState, Schema)> {
        restore(&self.inner).await
    }

    /// Runs resources: `pipeline.run(events(client)).await?`. Hints can be overridden for this run with the
    /// methods of [`Run`] before awaiting it.
    pub fn run<R: IntoResources>(&self, resources: R) -> Run<'_> {
        Run {
            pipeline: self,
            resources: resources.into_resources().selected(),
            write_disposition: None,
            primary_key: None,
            merge_key: None,
            table_name: None,
            interval: None,
        }
    }
}

/// One run of a pipeline; await it to execute. Methods override the resources' hints for this run, like the
/// arguments of dlt's `pipeline.run(data, write_disposition=..., primary_key=..., table_name=...)`.
#[must_use = "a run does nothing until awaited"]
pub struct Run<'p> {
    pipeline: &'p Pipeline,
    resources: Resources,
    write_disposition: Option<WriteDisposition>,
    primary_key: Option<Key>,
    merge_key: Option<Key>,
    table_name: Option<String>,
    interval: Option<Interval>,
}

impl<'p> Run<'p> {
    /// An external scheduler's data interval for incrementals that allow it (`allow_external_schedulers`):
    /// start becomes the initial value, end the end value (a missing or future end, or one equal to the start,
    /// is now), so the run is stateless. Without it, `ELE_INTERVAL_START`/`ELE_INTERVAL_END` (or dlt's
    /// `DLT_INTERVAL_START`/`DLT_INTERVAL_END`) are read.
    pub fn interval(mut self, start: DateTime<Utc>, end: Option<DateTime<Utc>>) -> Self {
        self.interval = Some((start, end));
        self
    }
    /// Write disposition of every resource in this run.
    pub fn write_disposition(mut self, disposition: WriteDisposition) -> Self {
        self.write_disposition = Some(disposition);
        self
    }
    /// Primary key of every resource in this run.
    pub fn primary_key(mut self, key: impl Into<Key>) -> Self {
        self.primary_key = Some(key.into());
        self
    }
    /// Merge key of every resource in this run.
    pub fn merge_key(mut self, key: impl Into<Key>) -> Self {
        self.merge_key = Some(key.into());
        self
    }
    /// Table name of the (single) resource in this run.
    pub fn table_name(mut self, table: impl Into<String>) -> Self {
        self.table_name = Some(table.into());
        self
    }
}

impl<'p> IntoFuture for Run<'p> {
    type Output = Result<LoadInfo>;
    type IntoFuture = BoxFuture<'p, Result<LoadInfo>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(execute(self))
    }
}

const NEW: &str = "load/new";
const NORMALIZED: &str = "load/normalized";
const LOADED: &str = "load/loaded";

async fn execute(run: Run<'_>) -> Result<LoadInfo> {
    let started = Instant::now();
    let p = &*run.pipeline.inner;
    let dir = &p.working_dir;
    create_dir(dir)?;
    // A package left half-written by a crash during extract or normalize never reached the destination;
    // one still locked belongs to a run in progress.
    for stale in package_dirs(&dir.join(NEW))? {
        if let Some(_lock) = try_lock_package(&stale)? {
            remove_dir_if_exists(&stale)?;
        }
    }

    // Stateful runs of one pipeline run one at a time (the lock is held until this run returns); backfill
    // chunks neither read nor write state and run side by side.
    let stateful = !run.resources.list.iter().all(|r| r.is_backfill());
    let _lock = if stateful {
        Some(
            p.destination
                .lock_pipeline(&p.dataset_name, &p.name, p.lock_timeout)
                .await?,
        )
    } else {
        None
    };

    let mut packages = Vec::new();
    for package_dir in package_dirs(&dir.join(NORMALIZED))? {
        // A package another process is loading right now is its to finish.
        if let Some(lock) = try_lock_package(&package_dir)? {
            packages.push(load_package(p, &package_dir, None).await?);
            drop(lock);
        }
    }

    let (mut state, mut schema) = restore(p).await?;
    let extract_started = Instant::now();
    progress::extract_started(p.progress.as_ref(), &run.resources);
    let extracted = extract_and_normalize(p, run, &mut state, &mut schema).await?;
    let extract_elapsed = extract_started.elapsed();
    let new_package = extracted.as_ref().map(|(m, _, items, _)| (m, *items));
    progress::normalized(p.progress.as_ref(), new_package, extract_elapsed);
    let Some((manifest, _lock, _, copier)) = extracted else {
        return Ok(load_info(p, packages, extract_elapsed, started));
    };
    tracing::info!(
        load_id = %manifest.load_id,
        rows = manifest.jobs.iter().map(|j| j.rows).sum::<u64>(),
        seconds = extract_elapsed.as_secs_f64(),
        "extracted and normalized"
    );
    crate::foundation::fault::point("after_extract");
    let normalized = dir.join(NORMALIZED).join(&manifest.load_id);
    create_dir(&dir.join(NORMALIZED))?;
    std::fs::rename(dir.join(NEW).join(&manifest.load_id), &normalized)
        .map_err(|e| Error::io("cannot move load package to", &normalized, e))?;
    // The jobs the writer finished early are COPYed by now (or the stream gave up): it takes the rest.
    let stream = match copier {
        Some(copier) => copier.await.ok().flatten(),
        None => None,
    };
    packages.push(load_package(p, &normalized, stream).await?);
    Ok(load_info(p, packages, extract_elapsed, started))
}

fn load_info(
    p: &Inner,
    packages: Vec<PackageInfo>,
    extract_elapsed: Duration,
    started: Instant,
) -> LoadInfo {
    LoadInfo {
        pipeline_name: p.name.clone(),
        dataset_name: p.dataset_name.clone(),
        destination: p.destination.kind().to_owned(),
        location: p.destination.location(),
        packages,
        extract_elapsed,
        elapsed: started.elapsed(),
    }
}

/// Local state and schema, replaced by the destination's when that is newer (another machine, a lost dir).
async fn restore(p: &Inner) -> Result<(PipelineState, Schema)> {
    let local = PipelineState::load(&p.working_dir)?;
    let schema_path = schema_path(&p.working_dir, &p.schema_name);
    let local_schema = read_schema(&schema_path)?;
    let restored = p
        .destination
        .restore(&p.dataset_name, &p.name, &p.schema_name)
        .await?;
    let mut state = local.unwrap_or_else(|| {
        PipelineState::new(
            &p.name,
            &p.dataset_name,
            &p.schema_name,
            p.destination.kind(),
        )
    });
    if let Some(remote) = restored.state
        && remote.version >= state.version
        && remote.version_hash != state.version_hash
    {
        let local_part = std::mem::take(&mut state.local);
        state = remote;
        state.local = local_part;
        state.local.last_extracted_hash = Some(state.version_hash.clone());
    }
    let schema = match (local_schema, restored.schema) {
        (Some(local), Some(remote)) if remote.version > local.version => remote,
        (Some(local), _) => local,
        (None, Some(remote)) => remote,
        (None, None) => Schema::new(&p.schema_name),
    };
    Ok((state, schema))
}

fn schema_path(dir: &Path, schema_name: &str) -> PathBuf {
    dir.join("schemas")
        .join(format!("{schema_name}.schema.json"))
}

/// The schema stored at `path`, `None` when there is none.
pub(crate) fn read_schema(path: &Path) -> Result<Option<Schema>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::Corrupt {
                what: "schema",
                path: path.to_owned(),
                message: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("cannot read", path, e)),
    }
}

/// The task COPYing finished job files while the package is being written; it returns the stream when the
/// writer is done, or `None` when no load began (or it gave up).
type Copier = tokio::task::JoinHandle<Option<Box<dyn LoadStream>>>;

/// Runs the resources and normalizes their items into a new package under `load/new/`, with the task loading
/// it meanwhile when the destination does that. Returns `None` when there is nothing to load (no rows and no
/// state change).
async fn extract_and_normalize(
    p: &Inner,
    run: Run<'_>,
    state: &mut PipelineState,
    schema: &mut Schema,
) -> Result<Option<(Manifest, std::fs::File, u64, Option<Copier>)>> {
    let Run {
        resources,
        write_disposition,
        primary_key,
        merge_key,
        table_name,
        interval,
        ..
    } = run;
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
        let merge = merge_spec(hints)?;
        let table = naming::normalize_tables_path(hints.table());
        configs.push(RootConfig {
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
            }),
            merge,
        });
    }

    let load_id = new_load_id(state.local.last_load_id.as_deref());
    let package_dir = p.working_dir.join(NEW).join(&load_id);
    let mut writer = PackageWriter::create(&package_dir)?;
    let lock = try_lock_package(&package_dir)?.ok_or_else(|| {
        Error::config(format!(
            "load package {} is locked by another process",
            package_dir.display()
        ))
    })?;
    let copier = begin_load(p, &configs, schema, &load_id, &mut writer);

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
        .map(|(writer, roots)| (working_schema, writer, roots))
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
        .map_err(|e| Error::config(format!("the normalizer panicked: {e}")));
    let (new_schema, writer, roots) = match (normalized, extract_error) {
        (Ok(Ok(done)), None) => done,
        (Ok(Err(e)), _) | (Err(e), _) | (Ok(Ok(_)), Some(e)) => {
            remove_dir_if_exists(&package_dir)?;
            return Err(e);
        }
    };
    let with_rows: Vec<&str> = roots
        .iter()
        .filter(|(r, ..)| writer.has_rows(&r.table))
        .map(|(r, ..)| r.table.as_str())
        .collect();
    let version = next_schema_version(schema, &new_schema, &with_rows);
    *schema = new_schema;
    schema.version = version;

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
    )?;
    let replaces = manifest
        .chains
        .iter()
        .any(|c| c.write_disposition == WriteDisposition::Replace);
    if manifest.jobs.is_empty() && manifest.state_row.is_none() && !replaces {
        remove_dir_if_exists(&package_dir)?;
        return Ok(None);
    }
    Ok(Some((manifest, lock, item_count.get(), copier)))
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

/// Loads while normalizing when every resource writes straight into new tables (appends, replaces, delete-insert
/// merges without hard deletes): from the first finished job file on (a run too small to finish one loads once
/// complete), if the destination takes the package that way (its tables are all new).
fn begin_load(
    p: &Inner,
    configs: &[RootConfig],
    schema: &Schema,
    load_id: &str,
    writer: &mut PackageWriter,
) -> Option<Copier> {
    // Tables the pipeline loaded before exist: no need to ask the destination.
    let direct = !configs.iter().any(|c| schema.tables.contains_key(&c.table))
        && !configs.is_empty()
        && configs.iter().all(|c| match c.write_disposition {
            WriteDisposition::Append | WriteDisposition::Replace => true,
            WriteDisposition::Merge => {
                c.merge.strategy == MergeStrategy::DeleteInsert && c.merge.hard_delete.is_none()
            }
        });
    if !direct {
        return None;
    }
    let plan = LoadPlan {
        dataset: p.dataset_name.clone(),
        load_id: load_id.to_owned(),
        roots: configs.iter().map(|c| c.table.clone()).collect(),
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

/// The merge settings of a resource with normalized column names, checked as dlt's
/// `verify_schema_merge_disposition` does: a strategy that identifies rows by primary key without one is an
/// error; hints that do not apply are ignored with a warning.
fn merge_spec(hints: &crate::model::hints::ResourceHints) -> Result<MergeSpec> {
    let merging = hints.write_disposition == WriteDisposition::Merge;
    let strategy = hints.merge_strategy;
    if merging && strategy.needs_primary_key() && hints.primary_key.is_empty() {
        return Err(Error::config(format!(
            "resource `{}`: the `{strategy}` merge strategy needs a primary key; set `primary_key` (or use \
             `delete-insert` with a merge key)",
            hints.name
        )));
    }
    if !merging && (hints.hard_delete.is_some() || hints.dedup_sort.is_some()) {
        tracing::warn!(resource = %hints.name, disposition = %hints.write_disposition,
            "`hard_delete` and `dedup_sort` apply to merges only; ignored");
    }
    if merging && strategy.needs_primary_key() && !hints.merge_key.is_empty() {
        tracing::warn!(resource = %hints.name, %strategy, "the merge key is ignored by this merge strategy");
    }
    if merging && hints.dedup_sort.is_some() && hints.primary_key.is_empty() {
        tracing::warn!(resource = %hints.name, "`dedup_sort` needs a primary key; ignored");
    }
    if !merging {
        return Ok(MergeSpec::default());
    }
    let scd2 = (strategy == MergeStrategy::Scd2).then(|| Scd2Spec {
        valid_from: naming::normalize_path(&hints.scd2.validity_columns.0),
        valid_to: naming::normalize_path(&hints.scd2.validity_columns.1),
        active_to: hints.scd2.active_record_timestamp,
        boundary: hints.scd2.boundary_timestamp,
        row_version: hints
            .scd2
            .row_version_column
            .as_deref()
            .map(naming::normalize_path),
    });
    Ok(MergeSpec {
        strategy,
        hard_delete: hints.hard_delete.as_deref().map(naming::normalize_path),
        dedup_sort: hints
            .dedup_sort
            .as_ref()
            .filter(|_| !hints.primary_key.is_empty())
            .map(|(c, order)| (naming::normalize_path(c), *order)),
        scd2,
    })
}

/// The schema version after a run, numbered as dlt numbers it: one step for each stage that changed the schema.
/// Extract changes it when a table receiving rows is declared or its hints change (always on the first run,
/// which also declares the state table), normalize when columns or tables appear.
fn next_schema_version(before: &Schema, after: &Schema, with_rows: &[&str]) -> u64 {
    if before.content_hash() == after.content_hash() {
        return before.version;
    }
    if before.version == 0 {
        return 2;
    }
    let complete =
        |t: &crate::model::schema::Table| -> Vec<(String, Option<crate::model::schema::DataType>, bool)> {
            t.complete_columns()
                .map(|c| (c.name.clone(), c.data_type, c.nullable))
                .collect()
        };
    let extract =
        with_rows.iter().any(
            |name| match (before.tables.get(*name), after.tables.get(*name)) {
                (None, _) => true,
                (Some(old), Some(new)) => {
                    old.complete_columns().next().is_none()
                        || old.write_disposition != new.write_disposition
                        || old.primary_key() != new.primary_key()
                        || old.merge_key() != new.merge_key()
                }
                (Some(_), None) => false,
            },
        );
    let normalize = after
        .tables
        .values()
        .any(|t| match before.tables.get(&t.name) {
            None => t.complete_columns().next().is_some(),
            Some(old) => complete(old) != complete(t),
        });
    before.version + (u64::from(extract) + u64::from(normalize)).max(1)
}

/// The time a load id stands for (it is a unix timestamp with fraction), rounded to microseconds.
fn load_id_time(load_id: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let seconds: f64 = load_id.parse().ok()?;
    let micros = (seconds * 1_000_000.0).round() as i64;
    chrono::DateTime::from_timestamp_micros(micros)
}

/// Loads one complete package (the `stream` that began loading it takes it first; whatever it cannot take loads
/// the usual way) and, after the commit, advances the local state and schema.
async fn load_package(
    p: &Inner,
    package_dir: &Path,
    stream: Option<Box<dyn LoadStream>>,
) -> Result<PackageInfo> {
    let started = Instant::now();
    let package = LoadPackage::open(package_dir)?;
    progress::load_started(p.progress.as_ref(), &package.manifest);
    let streamed = match stream {
        Some(stream) => stream.finish(&package).await,
        None => Ok(None),
    };
    let loaded = match streamed {
        Ok(Some(outcome)) => Ok(outcome),
        Ok(None) => load_with_retries(p, &package).await,
        Err(e) => Err(e),
    };
    let outcome = match loaded {
        Ok(outcome) => outcome,
        Err(e @ Error::StateConflict { .. }) => {
            // The package was built on an outdated state: it must never be loaded.
            remove_dir_if_exists(package_dir)?;
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    tracing::info!(load_id = %package.manifest.load_id, seconds = started.elapsed().as_secs_f64(), ?outcome, "loaded");
    let manifest = &package.manifest;
    if manifest.state_row.is_some() {
        manifest.pipeline_state.save(&p.working_dir)?;
    }
    let schema_file = schema_path(&p.working_dir, &p.schema_name);
    create_dir(&p.working_dir.join("schemas"))?;
    crate::foundation::files::write_json_atomically(&schema_file, &manifest.schema)?;
    let loaded = p.working_dir.join(LOADED).join(&manifest.load_id);
    create_dir(&p.working_dir.join(LOADED))?;
    remove_dir_if_exists(&loaded)?;
    std::fs::rename(package_dir, &loaded)
        .map_err(|e| Error::io("cannot move load package to", &loaded, e))?;
    // The rows are in the destination now; keep only the manifest.
    remove_dir_if_exists(&loaded.join("jobs"))?;
    let info = PackageInfo {
        load_id: manifest.load_id.clone(),
        row_counts: manifest.row_counts(),
        outcome,
        load_elapsed: started.elapsed(),
    };
    progress::loaded(p.progress.as_ref(), &info);
    Ok(info)
}

/// How often a package load is tried when it fails transiently (connection lost mid-COPY, server restart).
const LOAD_ATTEMPTS: u32 = 3;

/// Loads a package, again from the start after a transient failure: a load is idempotent (its staging tables
/// are rebuilt, and a commit that happened is recognised by its `_dlt_loads` row).
async fn load_with_retries(p: &Inner, package: &LoadPackage) -> Result<LoadOutcome> {
    let mut attempt = 1;
    loop {
        match p.destination.load(package).await {
            Err(e) if e.is_transient() && attempt < LOAD_ATTEMPTS => {
                let wait = Duration::from_secs(u64::from(attempt));
                tracing::warn!(error = %e, attempt, ?wait, load_id = %package.manifest.load_id, "load failed, retrying");
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Package directories under `dir`, oldest load id first.
fn package_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("cannot read", dir, e)),
    };
    let mut dirs: Vec<(f64, PathBuf)> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("cannot read", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let order = name.parse::<f64>().unwrap_or(f64::MAX);
        dirs.push((order, entry.path()));
    }
    dirs.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(dirs.into_iter().map(|(_, d)| d).collect())
}

/// Locks a package directory for this process (`<dir>/.lock`); `None` when another process holds it or the
/// package is gone.
fn try_lock_package(dir: &Path) -> Result<Option<std::fs::File>> {
    let path = dir.join(".lock");
    let file = match std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("cannot open lock file", &path, e)),
    };
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io("cannot lock", &path, e)),
    }
}

/// A load id as dlt makes them, `str(time.time())`, strictly greater than `previous`.
pub fn new_load_id(previous: Option<&str>) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut micros = now.as_micros();
    if let Some(prev) = previous.and_then(|p| p.parse::<f64>().ok()) {
        let prev_micros = (prev * 1e6).round() as u128;
        if micros <= prev_micros {
            micros = prev_micros + 1;
        }
    }
    let secs = micros / 1_000_000;
    let frac = micros % 1_000_000;
    let id = format!("{secs}.{frac:06}");
    id.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The dataset of a dev-mode instance: `dataset` with dlt's instance suffix `_YYYYMMDDhhmmss` (here in UTC on a
/// 24-hour clock), later than the suffix of any earlier instance of this process, so two instances never
/// share a dataset.
fn dev_mode_dataset(dataset: &str) -> String {
    static LAST: std::sync::Mutex<i64> = std::sync::Mutex::new(0);
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    let now = Utc::now().timestamp().max(*last + 1);
    *last = now;
    let suffix = DateTime::<Utc>::from_timestamp(now, 0)
        .unwrap_or_default()
        .format("%Y%m%d%H%M%S");
    // dlt avoids a double `_`.
    if dataset.ends_with('_') {
        format!("{dataset}{suffix}")
    } else {
        format!("{dataset}_{suffix}")
    }
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create directory", dir, e))
}

fn remove_dir_if_exists(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("cannot remove", dir, e)),
    }
}
