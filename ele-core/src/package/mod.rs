//! Load packages: the normalized rows of one run, on disk in the pipeline working dir, ready for `COPY`.
//!
//! A package is written under `load/new/<load_id>/`, renamed to `load/normalized/<load_id>/` once complete
//! (then it is pending: a later run loads it before extracting anything new), and moved to
//! `load/loaded/<load_id>/` after the destination committed it. Each job file holds the rows of one table as the
//! tuples of PostgreSQL's binary `COPY` format (the loader adds its header and trailer) for the column list
//! recorded in the manifest; a table gets a new job file when a column appears mid-run. Packages written before
//! binary jobs hold text `COPY` lines and are still loaded.

mod binary_copy;
mod row;

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::foundation::error::{Error, Result};
use crate::foundation::files::write_json_atomically;
use crate::model::hints::{MergeStrategy, SortOrder, WriteDisposition};
use crate::model::schema::{Schema, Table};
use crate::model::state::{PipelineState, StateRow};
pub use binary_copy::{
    BINARY_COPY_HEADER, BINARY_COPY_TRAILER, binary_column, decode_binary_tuples,
};
use binary_copy::{Layout, Positions, positions};
pub use row::{Cell, Row, RowSink};

const MANIFEST: &str = "package.json";
const JOBS: &str = "jobs";

/// One file of rows for one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// The table the rows go to.
    pub table: String,
    /// File name inside the package's `jobs/` folder.
    pub file: String,
    /// Columns, in the order of the values in each line.
    pub columns: Vec<String>,
    /// Number of rows.
    pub rows: u64,
    /// How the rows are encoded.
    #[serde(default)]
    pub format: JobFormat,
}

/// How a job file encodes its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobFormat {
    /// PostgreSQL's text `COPY` lines (packages written by earlier versions).
    #[default]
    Text,
    /// The tuples of PostgreSQL's binary `COPY` format, without its header and trailer
    /// ([`BINARY_COPY_HEADER`], [`BINARY_COPY_TRAILER`]).
    Binary,
}

/// What a root table's chain receives in this load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainLoad {
    /// The root table.
    pub root: String,
    /// How its rows are written.
    pub write_disposition: WriteDisposition,
    /// No primary key occurs twice among this load's rows, so merging needs no deduplication.
    #[serde(default)]
    pub unique_keys: bool,
    /// More primary keys than the normalizer tracks, none seen twice: the loader checks uniqueness itself.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unchecked_keys: bool,
    /// How a merge writes the chain.
    #[serde(default)]
    pub merge: MergeSpec,
}

/// How a merge writes a table chain, with column names normalized.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MergeSpec {
    /// The strategy.
    #[serde(default)]
    pub strategy: MergeStrategy,
    /// The root column flagging deleted keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hard_delete: Option<String>,
    /// The root column choosing which duplicate of a primary key is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup_sort: Option<(String, SortOrder)>,
    /// The scd2 columns and times (scd2 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scd2: Option<Scd2Spec>,
}

/// The scd2 part of a [`MergeSpec`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scd2Spec {
    /// Column holding when a version became valid.
    pub valid_from: String,
    /// Column holding when a version was retired.
    pub valid_to: String,
    /// The "valid to" value of active versions (NULL when `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_to: Option<DateTime<Utc>>,
    /// When this load retires and validates versions; set when the package is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boundary: Option<DateTime<Utc>>,
    /// The column identifying a version; `_dlt_id` (a hash of the item) when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_version: Option<String>,
}

impl Scd2Spec {
    /// The column identifying a version.
    pub fn version_column(&self) -> &str {
        self.row_version
            .as_deref()
            .unwrap_or(crate::model::schema::C_DLT_ID)
    }
}

/// What a run's refresh does to the destination's tables in the load transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefreshTables {
    /// Tables dropped (and created anew when the package's schema has them).
    pub drop: Vec<String>,
    /// Tables emptied.
    pub truncate: Vec<String>,
}

impl RefreshTables {
    /// Whether the refresh touches no table.
    pub fn is_empty(&self) -> bool {
        self.drop.is_empty() && self.truncate.is_empty()
    }
}

/// The manifest of a package: everything the destination needs besides the job files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The load id (a strictly increasing unix timestamp with fraction, as dlt writes it).
    pub load_id: String,
    /// Pipeline that produced it.
    pub pipeline_name: String,
    /// Dataset (schema in PostgreSQL) it goes to.
    pub dataset_name: String,
    /// The full schema after this package.
    pub schema: Schema,
    /// Root tables whose chains this package writes, with their dispositions.
    pub chains: Vec<ChainLoad>,
    /// The job files.
    pub jobs: Vec<Job>,
    /// The pipeline state after this package; becomes the local state once the package is committed.
    pub pipeline_state: PipelineState,
    /// The `_dlt_pipeline_state` row to commit with the data, when the state changed.
    pub state_row: Option<StateRow>,
    /// Tables a refresh (`drop_sources`, `drop_resources`) drops in the load transaction, before the tables of
    /// this package's schema that carry the same names are created anew.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drop_tables: Vec<String>,
    /// Tables a refresh (`drop_data`) empties in the load transaction, before any row is loaded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub truncate_tables: Vec<String>,
}

impl Manifest {
    /// Rows per table in this package.
    pub fn row_counts(&self) -> Vec<(String, u64)> {
        let mut counts: Vec<(String, u64)> = Vec::new();
        for job in &self.jobs {
            match counts.iter_mut().find(|(t, _)| *t == job.table) {
                Some((_, n)) => *n += job.rows,
                None => counts.push((job.table.clone(), job.rows)),
            }
        }
        counts
    }
}

/// A complete package on disk.
#[derive(Debug, Clone)]
pub struct LoadPackage {
    dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
}

impl LoadPackage {
    /// Reads the package in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST);
        let text = fs::read_to_string(&path)
            .map_err(|e| Error::io("cannot read load package", &path, e))?;
        let manifest = serde_json::from_str(&text).map_err(|e| Error::Corrupt {
            what: "load package manifest",
            path: path.clone(),
            message: e.to_string(),
        })?;
        Ok(LoadPackage {
            dir: dir.to_owned(),
            manifest,
        })
    }

    /// The package directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of a job's file.
    pub fn job_path(&self, job: &Job) -> PathBuf {
        self.dir.join(JOBS).join(&job.file)
    }
}

struct OpenJob {
    job: Job,
    /// The table's definition when the job was started.
    definition: Table,
    /// Bytes written so far.
    bytes: u64,
    positions: Positions,
    layout: Layout,
    out: BufWriter<File>,
}

/// A job file the writer finished while the package is still being written, with its table's definition at
/// the time (its columns include the job's); see [`PackageWriter::report_finished_jobs`].
#[derive(Debug, Clone)]
pub struct FinishedJob {
    /// The job.
    pub job: Job,
    /// Its file.
    pub path: PathBuf,
    /// The table's definition.
    pub table: Table,
}

/// Size at which a job file is finished and the next one started, when finished jobs are reported: a load that
/// runs beside the normalizer COPYs the finished ones while later rows are still being written. A table's first
/// file is finished at [`FIRST_REPORTED_JOB_BYTES`], each next one at twice the size, up to this one, so that
/// the load starts early in a small run and takes few large files in a big one. `ELE_JOB_FILE_BYTES` sets one
/// size for all files.
const REPORTED_JOB_BYTES: u64 = 16 << 20;

/// Size at which a table's first reported job file is finished (see [`REPORTED_JOB_BYTES`]).
const FIRST_REPORTED_JOB_BYTES: u64 = 1 << 20;

/// The environment variable setting the size (bytes) at which reported job files are finished (1 MB growing to
/// 16 MB).
pub const JOB_FILE_BYTES_ENV: &str = "ELE_JOB_FILE_BYTES";

/// Rows of one table in the binary COPY encoding for a fixed column list, encoded off the writer's thread (by a
/// normalizer worker) and appended to the package with [`PackageWriter::write_segment`].
#[derive(Debug)]
pub struct Segment {
    /// The table.
    pub table: String,
    /// The table's definition when the segment was started (its columns include [`Segment::columns`]).
    pub definition: Table,
    /// Columns, in the order of the values in each tuple.
    pub columns: Vec<String>,
    /// The encoded tuples.
    pub bytes: Vec<u8>,
    /// Number of rows.
    pub rows: u64,
}

struct OpenSegment {
    index: usize,
    positions: Positions,
    layout: Layout,
}

/// Encodes rows into in-memory [`Segment`]s, a new one per table whenever a row brings a column the current one
/// lacks (as [`PackageWriter`] starts a new job file); implements [`RowSink`].
#[derive(Default)]
pub struct SegmentWriter {
    segments: Vec<Segment>,
    open: HashMap<String, OpenSegment, foldhash::fast::RandomState>,
}

impl SegmentWriter {
    /// The segments written since the last call, in order.
    pub fn take(&mut self) -> Vec<Segment> {
        self.open.clear();
        std::mem::take(&mut self.segments)
    }
}

impl RowSink for SegmentWriter {
    fn write_row(&mut self, table: &Table, row: Row<'_>) -> Result<()> {
        let fits = self.open.get_mut(&table.name).is_some_and(|open| {
            let width = self.segments.get(open.index).map_or(0, |s| s.columns.len());
            open.layout.place(&open.positions, width, &row)
        });
        if !fits {
            let columns: Vec<String> = table.complete_columns().map(|c| c.name.clone()).collect();
            let positions = positions(&columns);
            let mut layout = Layout::default();
            layout.place(&positions, columns.len(), &row);
            self.segments.push(Segment {
                table: table.name.clone(),
                definition: table.clone(),
                columns,
                bytes: Vec::with_capacity(64 * 1024),
                rows: 0,
            });
            let index = self.segments.len() - 1;
            self.open.insert(
                table.name.clone(),
                OpenSegment {
                    index,
                    positions,
                    layout,
                },
            );
        }
        let Some(open) = self.open.get(&table.name) else {
            return Ok(());
        };
        let Some(segment) = self.segments.get_mut(open.index) else {
            return Ok(());
        };
        open.layout.encode(&mut segment.bytes, &row);
        segment.rows += 1;
        Ok(())
    }
}

/// Writes the rows of a new package; implements [`RowSink`].
pub struct PackageWriter {
    dir: PathBuf,
    open: HashMap<String, OpenJob, foldhash::fast::RandomState>,
    finished: Vec<Job>,
    file_seq: u64,
    line: Vec<u8>,
    report_to: Option<tokio::sync::mpsc::UnboundedSender<FinishedJob>>,
    /// The size at which a table's reported job files are finished: (first, largest).
    report_bytes: (u64, u64),
    /// Reported job files finished per table.
    reported: HashMap<String, u32>,
}

impl PackageWriter {
    /// Starts a package in `dir` (created, must not exist).
    pub fn create(dir: &Path) -> Result<Self> {
        let jobs = dir.join(JOBS);
        fs::create_dir_all(&jobs).map_err(|e| Error::io("cannot create load package", &jobs, e))?;
        Ok(PackageWriter {
            dir: dir.to_owned(),
            open: HashMap::default(),
            finished: Vec::new(),
            file_seq: 0,
            line: Vec::with_capacity(1024),
            report_to: None,
            report_bytes: (FIRST_REPORTED_JOB_BYTES, REPORTED_JOB_BYTES),
            reported: HashMap::new(),
        })
    }

    /// Reports every job file finished from now on (flushed, complete) to `to`, and finishes job files at 1 MB,
    /// then twice the size for each next file of a table up to 16 MB (or all at `ELE_JOB_FILE_BYTES`), so that a
    /// load can COPY them while the package is still being written. The jobs open when the package is finished
    /// are not reported: they are in its manifest.
    pub fn report_finished_jobs(&mut self, to: tokio::sync::mpsc::UnboundedSender<FinishedJob>) {
        self.report_to = Some(to);
        if let Some(bytes) = std::env::var(JOB_FILE_BYTES_ENV)
            .ok()
            .and_then(|v| v.parse().ok())
        {
            self.report_bytes = (bytes, bytes);
        }
    }

    fn open_job(&mut self, definition: &Table, columns: Vec<String>) -> Result<OpenJob> {
        let table = definition.name.as_str();
        self.file_seq += 1;
        let file = format!("{}.{}.copy", table, self.file_seq);
        let path = self.dir.join(JOBS).join(&file);
        let f = File::create(&path).map_err(|e| Error::io("cannot create job file", &path, e))?;
        let positions = positions(&columns);
        Ok(OpenJob {
            job: Job {
                table: table.to_owned(),
                file,
                columns,
                rows: 0,
                format: JobFormat::Binary,
            },
            definition: definition.clone(),
            bytes: 0,
            positions,
            layout: Layout::default(),
            out: BufWriter::with_capacity(256 * 1024, f),
        })
    }

    /// Whether any row was written for `table`.
    pub fn has_rows(&self, table: &str) -> bool {
        self.open.get(table).is_some_and(|j| j.job.rows > 0)
            || self.finished.iter().any(|j| j.table == table && j.rows > 0)
    }

    /// Flushes all files and writes the manifest; the package is complete but still under its writing dir.
    #[allow(clippy::too_many_arguments)]
    pub fn finish(
        mut self,
        load_id: &str,
        pipeline_name: &str,
        dataset_name: &str,
        schema: Schema,
        chains: Vec<ChainLoad>,
        pipeline_state: PipelineState,
        state_row: Option<StateRow>,
        refresh: RefreshTables,
    ) -> Result<Manifest> {
        self.report_to = None;
        let mut open: Vec<OpenJob> = self.open.drain().map(|(_, j)| j).collect();
        open.sort_by(|a, b| a.job.file.cmp(&b.job.file));
        for job in open {
            self.finish_job(job)?;
        }
        self.finished.sort_by_key(|j| {
            j.file
                .rsplit('.')
                .nth(1)
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0)
        });
        let manifest = Manifest {
            load_id: load_id.to_owned(),
            pipeline_name: pipeline_name.to_owned(),
            dataset_name: dataset_name.to_owned(),
            schema,
            chains,
            jobs: self.finished,
            pipeline_state,
            state_row,
            drop_tables: refresh.drop,
            truncate_tables: refresh.truncate,
        };
        let path = self.dir.join(MANIFEST);
        write_json_atomically(&path, &manifest)?;
        Ok(manifest)
    }
}

impl PackageWriter {
    /// Starts a new job file of `definition` with `columns`; the open one, if any, is finished.
    fn start_job(&mut self, definition: &Table, columns: Vec<String>) -> Result<()> {
        let job = self.open_job(definition, columns)?;
        if let Some(old) = self.open.insert(definition.name.clone(), job) {
            self.finish_job(old)?;
        }
        Ok(())
    }

    /// Flushes and syncs a job file, and reports it when someone listens.
    fn finish_job(&mut self, mut job: OpenJob) -> Result<()> {
        let path = self.dir.join(JOBS).join(&job.job.file);
        job.out
            .flush()
            .and_then(|_| job.out.get_ref().sync_data())
            .map_err(|e| Error::io("cannot write job file", &path, e))?;
        if let Some(to) = &self.report_to
            && job.job.rows > 0
        {
            // A closed receiver only means nobody loads early; the manifest still lists the job.
            let _ = to.send(FinishedJob {
                job: job.job.clone(),
                path,
                table: job.definition,
            });
        }
        self.finished.push(job.job);
        Ok(())
    }

    /// Finishes the open job of `table` once it reached the reporting size.
    fn finish_if_large(&mut self, table: &str) -> Result<()> {
        if self.report_to.is_none() {
            return Ok(());
        }
        let (first, largest) = self.report_bytes;
        let earlier = self.reported.get(table).copied().unwrap_or(0);
        let size = if earlier >= 32 {
            largest
        } else {
            first.saturating_mul(1 << earlier).min(largest)
        };
        if self.open.get(table).is_none_or(|j| j.bytes < size) {
            return Ok(());
        }
        *self.reported.entry(table.to_owned()).or_default() += 1;
        match self.open.remove(table) {
            Some(job) => self.finish_job(job),
            None => Ok(()),
        }
    }

    /// Appends rows encoded elsewhere (see [`SegmentWriter`]) after the rows written so far.
    pub fn write_segment(&mut self, segment: Segment) -> Result<()> {
        if segment.rows == 0 {
            return Ok(());
        }
        let same = self
            .open
            .get(&segment.table)
            .is_some_and(|j| j.job.columns == segment.columns);
        if !same {
            self.start_job(&segment.definition, segment.columns)?;
        }
        let Some(job) = self.open.get_mut(&segment.table) else {
            return Ok(());
        };
        let path = &job.job.file;
        job.out
            .write_all(&segment.bytes)
            .map_err(|e| Error::io("cannot write job file", self.dir.join(JOBS).join(path), e))?;
        job.job.rows += segment.rows;
        job.bytes += segment.bytes.len() as u64;
        self.finish_if_large(&segment.table)
    }
}

impl RowSink for PackageWriter {
    fn write_row(&mut self, table: &Table, row: Row<'_>) -> Result<()> {
        let fits = self.open.get_mut(&table.name).is_some_and(|job| {
            job.layout
                .place(&job.positions, job.job.columns.len(), &row)
        });
        if !fits {
            let columns = table.complete_columns().map(|c| c.name.clone()).collect();
            self.start_job(table, columns)?;
            if let Some(job) = self.open.get_mut(&table.name) {
                job.layout
                    .place(&job.positions, job.job.columns.len(), &row);
            }
        }
        let Some(job) = self.open.get_mut(&table.name) else {
            return Ok(());
        };
        self.line.clear();
        job.layout.encode(&mut self.line, &row);
        let path = &job.job.file;
        job.out
            .write_all(&self.line)
            .map_err(|e| Error::io("cannot write job file", self.dir.join(JOBS).join(path), e))?;
        job.job.rows += 1;
        job.bytes += self.line.len() as u64;
        self.finish_if_large(&table.name)
    }
}
