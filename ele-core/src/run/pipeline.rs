//! The pipeline: restore state, finish pending packages, extract and normalize into a new package, load it.

use std::fmt;
use std::future::IntoFuture;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

use crate::destination::{Destination, LoadOutcome, LoadStream};
use crate::extract::resource::{IntoResources, Resources};
use crate::foundation::error::{Error, Result};
use crate::model::hints::{Key, WriteDisposition};
use crate::model::naming;
use crate::model::schema::Schema;
use crate::model::state::PipelineState;
use crate::package::LoadPackage;
use crate::run::context::{PipelineContext, RunOverrides};
use crate::run::progress;
use crate::run::report::{LoadInfo, PackageInfo};
use crate::run::stage::{ExtractedPackage, extract_and_normalize};
use crate::run::workdir::{
    LastDestination, WorkingDir, create_dir, package_dirs, remove_dir_if_exists, try_lock_package,
};

/// Environment variable overriding where pipeline working dirs live.
pub const PIPELINES_DIR_ENV: &str = "ELE_PIPELINES_DIR";

/// Environment variable: seconds a stateful run waits for another run of its pipeline.
pub const LOCK_TIMEOUT_ENV: &str = "ELE_LOCK_TIMEOUT";

/// Builds a [`Pipeline`]: `Pipeline::builder("github").destination(pg).dataset_name("github_data").build()?`.
pub struct PipelineBuilder {
    name: String,
    dataset_name: Option<String>,
    destination: Option<Arc<dyn Destination>>,
    pipelines_dir: Option<PathBuf>,
    lock_timeout: Option<Duration>,
    dev_mode: bool,
    progress: Option<crate::run::progress::Observer>,
    refresh: Option<crate::model::hints::RefreshMode>,
}

impl PipelineBuilder {
    /// Where the data goes.
    pub fn destination(mut self, mut destination: impl Destination) -> Self {
        destination.attach_pipeline(&self.name);
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

    /// A refresh every run of this pipeline instance applies (dlt's `dlt.pipeline(refresh=...)`), unless the
    /// run sets one with [`Run::refresh`].
    pub fn refresh(mut self, mode: crate::model::hints::RefreshMode) -> Self {
        self.refresh = Some(mode);
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
            inner: Arc::new(PipelineContext {
                lock_timeout,
                schema_name: naming::normalize_schema_name(&self.name),
                name: self.name,
                dataset_name,
                destination,
                working_dir: WorkingDir::new(working_dir),
                progress: self.progress,
                refresh: self.refresh,
            }),
        })
    }
}

/// Drives sources and resources through extract, normalize and load.
#[derive(Clone)]
pub struct Pipeline {
    inner: Arc<PipelineContext>,
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
            refresh: None,
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
        self.inner.working_dir.root()
    }

    /// The working dir's layout (used by [`crate::run::manage`]).
    pub(crate) fn workdir(&self) -> &WorkingDir {
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
        self.inner.working_dir.read_state()
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
            overrides: RunOverrides {
                refresh: self.inner.refresh,
                ..RunOverrides::default()
            },
        }
    }
}

/// One run of a pipeline; await it to execute. Methods override the resources' hints for this run, like the
/// arguments of dlt's `pipeline.run(data, write_disposition=..., primary_key=..., table_name=...)`.
#[must_use = "a run does nothing until awaited"]
pub struct Run<'p> {
    pipeline: &'p Pipeline,
    resources: Resources,
    overrides: RunOverrides,
}

impl<'p> Run<'p> {
    /// An external scheduler's data interval for incrementals that allow it (`allow_external_schedulers`):
    /// start becomes the initial value, end the end value (a missing or future end, or one equal to the start,
    /// is now), so the run is stateless. Without it, `ELE_INTERVAL_START`/`ELE_INTERVAL_END` (or dlt's
    /// `DLT_INTERVAL_START`/`DLT_INTERVAL_END`) are read.
    pub fn interval(mut self, start: DateTime<Utc>, end: Option<DateTime<Utc>>) -> Self {
        self.overrides.interval = Some((start, end));
        self
    }
    /// Write disposition of every resource in this run.
    pub fn write_disposition(mut self, disposition: WriteDisposition) -> Self {
        self.overrides.write_disposition = Some(disposition);
        self
    }
    /// Primary key of every resource in this run.
    pub fn primary_key(mut self, key: impl Into<Key>) -> Self {
        self.overrides.primary_key = Some(key.into());
        self
    }
    /// Merge key of every resource in this run.
    pub fn merge_key(mut self, key: impl Into<Key>) -> Self {
        self.overrides.merge_key = Some(key.into());
        self
    }
    /// Schema contract of every resource in this run (dlt's `pipeline.run(..., schema_contract=...)`): it
    /// replaces the resources' and the source's own.
    pub fn schema_contract(
        mut self,
        contract: impl Into<crate::model::contract::SchemaContract>,
    ) -> Self {
        self.overrides.schema_contract = Some(contract.into());
        self
    }
    /// Drops or empties tables and wipes state before this run loads (dlt's `refresh`), in the run's load
    /// transaction: readers see the old tables until the new rows commit. See [`RefreshMode`] for what each
    /// mode touches.
    ///
    /// [`RefreshMode`]: crate::model::hints::RefreshMode
    pub fn refresh(mut self, mode: crate::model::hints::RefreshMode) -> Self {
        self.overrides.refresh = Some(mode);
        self
    }
    /// Table name of the (single) resource in this run.
    pub fn table_name(mut self, table: impl Into<String>) -> Self {
        self.overrides.table_name = Some(table.into());
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

async fn execute(run: Run<'_>) -> Result<LoadInfo> {
    let started = Instant::now();
    let p = &*run.pipeline.inner;
    let dir = &p.working_dir;
    create_dir(dir.root())?;
    // A package left half-written by a crash during extract or normalize never reached the destination;
    // one still locked belongs to a run in progress.
    for stale in package_dirs(&dir.new_packages())? {
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
    for package_dir in package_dirs(&dir.normalized_packages())? {
        // A package another process is loading right now is its to finish.
        if let Some(lock) = try_lock_package(&package_dir)? {
            packages.push(load_package(p, &package_dir, None).await?);
            drop(lock);
        }
    }

    let (mut state, mut schema) = restore(p).await?;
    let extract_started = Instant::now();
    progress::extract_started(p.progress.as_ref(), &run.resources);
    let mut discarded = Vec::new();
    let extracted = extract_and_normalize(
        p,
        run.resources,
        run.overrides,
        &mut state,
        &mut schema,
        &mut discarded,
    )
    .await?;
    let extract_elapsed = extract_started.elapsed();
    let new_package = extracted.as_ref().map(|e| (&e.manifest, e.items));
    progress::normalized(p.progress.as_ref(), new_package, extract_elapsed);
    let Some(ExtractedPackage {
        manifest,
        lock: _lock,
        copier,
        ..
    }) = extracted
    else {
        return Ok(load_info(p, packages, discarded, extract_elapsed, started));
    };
    tracing::info!(
        load_id = %manifest.load_id,
        rows = manifest.jobs.iter().map(|j| j.rows).sum::<u64>(),
        seconds = extract_elapsed.as_secs_f64(),
        "extracted and normalized"
    );
    crate::foundation::fault::point("after_extract");
    // The stream COPYs the jobs the writer finished early from where they were written: the package moves once
    // it has taken them all (or gave up), and it takes the rest from the moved package.
    let stream = match copier {
        Some(copier) => copier.await.ok().flatten(),
        None => None,
    };
    let normalized = dir.normalized_packages().join(&manifest.load_id);
    create_dir(&dir.normalized_packages())?;
    std::fs::rename(dir.new_packages().join(&manifest.load_id), &normalized)
        .map_err(|e| Error::io("cannot move load package to", &normalized, e))?;
    packages.push(load_package(p, &normalized, stream).await?);
    Ok(load_info(p, packages, discarded, extract_elapsed, started))
}

fn load_info(
    p: &PipelineContext,
    packages: Vec<PackageInfo>,
    discarded: Vec<crate::model::contract::Discarded>,
    extract_elapsed: Duration,
    started: Instant,
) -> LoadInfo {
    LoadInfo {
        pipeline_name: p.name.clone(),
        dataset_name: p.dataset_name.clone(),
        destination: p.destination.kind().to_owned(),
        location: p.destination.location(),
        open_command: p.destination.open_command(),
        packages,
        discarded,
        extract_elapsed,
        elapsed: started.elapsed(),
    }
}

/// Local state and schema, replaced by the destination's when that is newer (another machine, a lost dir).
async fn restore(p: &PipelineContext) -> Result<(PipelineState, Schema)> {
    let local = p.working_dir.read_state()?;
    let local_schema = p.working_dir.read_schema(&p.schema_name)?;
    let restored = p
        .destination
        .restore(&p.dataset_name, &p.name, &p.schema_name)
        .await?;
    let fresh = || {
        PipelineState::new(
            &p.name,
            &p.dataset_name,
            &p.schema_name,
            p.destination.kind(),
        )
    };
    // dlt's rule (`sync_destination`): a local state whose dataset holds nothing at this destination was
    // committed to another one (or the dataset was dropped); it would filter everything, so the run starts
    // from the initial values.
    if restored.dataset_missing && local.is_some() {
        tracing::warn!(
            "dataset `{}` holds no loads at {}: the local state of pipeline `{}` (committed to another destination, \
             or the dataset was dropped) is reset, and the run starts from the initial values",
            p.dataset_name,
            p.destination.location(),
            p.name
        );
        return Ok((fresh(), Schema::new(&p.schema_name)));
    }
    let mut state = local.unwrap_or_else(fresh);
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

/// A load failure that retrying cannot fix, with what happens to the package: nothing of it was loaded, and it
/// waits for the cause to be fixed (it may be the only copy of its rows); the way to discard it is said for when
/// it cannot be loaded at all. Transient failures are returned as they are.
fn pending_hint(error: Error, load_id: &str, pipeline: &str) -> Error {
    let hint = format!(
        "; load package {load_id} stays pending and is loaded first by the next run: fix the cause, or discard \
         it with `ele pipeline {pipeline} drop-pending-packages` (`Pipeline::drop_pending_packages`)"
    );
    match error {
        Error::Config(message) => Error::Config(message + &hint),
        Error::Destination {
            message,
            transient: false,
            source,
        } => Error::Destination {
            message: message + &hint,
            transient: false,
            source,
        },
        other => other,
    }
}

/// Loads one complete package (the `stream` that began loading it takes it first; whatever it cannot take loads
/// the usual way) and, after the commit, advances the local state and schema.
async fn load_package(
    p: &PipelineContext,
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
        Err(e) => return Err(pending_hint(e, &package.manifest.load_id, &p.name)),
    };
    tracing::info!(load_id = %package.manifest.load_id, seconds = started.elapsed().as_secs_f64(), ?outcome, "loaded");
    let manifest = &package.manifest;
    if manifest.state_row.is_some() {
        p.working_dir.write_state(&manifest.pipeline_state)?;
    }
    p.working_dir.write_schema(&manifest.schema)?;
    p.working_dir.write_last_destination(&LastDestination {
        kind: p.destination.kind().to_owned(),
        location: p.destination.location(),
        local_instance: p.destination.local_instance(),
    })?;
    let loaded = p.working_dir.loaded_packages().join(&manifest.load_id);
    create_dir(&p.working_dir.loaded_packages())?;
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
async fn load_with_retries(p: &PipelineContext, package: &LoadPackage) -> Result<LoadOutcome> {
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
