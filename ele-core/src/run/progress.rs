//! Progress of a run, reported to an observer given to the pipeline builder
//! ([`crate::run::pipeline::PipelineBuilder::progress`]): items extracted as they arrive, then rows per table once a
//! package is normalized, then each package's load. The core only reports; front ends (the `ele` CLI's bars
//! and lines) render.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::destination::LoadOutcome;
use crate::extract::resource::{ExtractedBatch, Resources};
use crate::package::Manifest;
use crate::run::report::PackageInfo;

/// What receives the progress of a pipeline's runs.
pub type Observer = Arc<dyn Fn(&Progress) + Send + Sync>;

/// One step of a run.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Progress {
    /// The resources start: extract and normalize into a new package.
    ExtractStarted {
        /// The resources of the run, in order.
        resources: Vec<String>,
    },
    /// Items went through the resources' pipes (after incremental filtering); sent after every page or item.
    Extracted {
        /// Items so far, all resources together.
        items: u64,
        /// Since extraction started.
        elapsed: Duration,
    },
    /// Extraction and normalization are over.
    Normalized {
        /// The new package, `None` when there was nothing new to load.
        load_id: Option<String>,
        /// Items extracted.
        items: u64,
        /// Rows written per table (root and child tables).
        rows: Vec<(String, u64)>,
        /// Time spent extracting and normalizing.
        elapsed: Duration,
    },
    /// A package starts loading (a pending one from an earlier run, or the new one).
    LoadStarted {
        /// Its load id.
        load_id: String,
        /// Rows per table.
        rows: Vec<(String, u64)>,
    },
    /// A package is committed (or was found committed by an earlier run).
    Loaded {
        /// Its load id.
        load_id: String,
        /// Rows per table.
        rows: Vec<(String, u64)>,
        /// What happened.
        outcome: LoadOutcome,
        /// Time spent loading it.
        elapsed: Duration,
    },
}

/// The sum of the row counts of `rows`.
pub fn total_rows(rows: &[(String, u64)]) -> u64 {
    rows.iter().map(|(_, n)| n).sum()
}

/// Reports [`Progress::ExtractStarted`].
pub(crate) fn extract_started(observer: Option<&Observer>, resources: &Resources) {
    if let Some(observer) = observer {
        observer(&Progress::ExtractStarted {
            resources: resources
                .list
                .iter()
                .map(|r| r.hints().name.clone())
                .collect(),
        });
    }
}

/// Reports [`Progress::Normalized`]: the new package and its item count, or `None` when nothing was new.
pub(crate) fn normalized(
    observer: Option<&Observer>,
    package: Option<(&Manifest, u64)>,
    elapsed: Duration,
) {
    if let Some(observer) = observer {
        observer(&Progress::Normalized {
            load_id: package.map(|(m, _)| m.load_id.clone()),
            items: package.map_or(0, |(_, items)| items),
            rows: package.map(|(m, _)| m.row_counts()).unwrap_or_default(),
            elapsed,
        });
    }
}

/// Reports [`Progress::LoadStarted`].
pub(crate) fn load_started(observer: Option<&Observer>, manifest: &Manifest) {
    if let Some(observer) = observer {
        observer(&Progress::LoadStarted {
            load_id: manifest.load_id.clone(),
            rows: manifest.row_counts(),
        });
    }
}

/// Reports [`Progress::Loaded`].
pub(crate) fn loaded(observer: Option<&Observer>, package: &PackageInfo) {
    if let Some(observer) = observer {
        observer(&Progress::Loaded {
            load_id: package.load_id.clone(),
            rows: package.row_counts.clone(),
            outcome: package.outcome,
            elapsed: package.load_elapsed,
        });
    }
}

/// The channel from the resources to the normalizer. With an observer, a forwarding task between the two
/// counts the items of every batch and reports [`Progress::Extracted`]; without one it is a plain channel.
pub(crate) fn extract_channel(
    observer: Option<&Observer>,
    capacity: usize,
) -> (
    mpsc::Sender<ExtractedBatch>,
    mpsc::Receiver<ExtractedBatch>,
    ItemCount,
) {
    let count = ItemCount::default();
    let Some(observer) = observer else {
        let (tx, rx) = mpsc::channel(capacity);
        return (tx, rx, count);
    };
    let (tx, mut from_resources) = mpsc::channel::<ExtractedBatch>(capacity);
    let (to_normalizer, rx) = mpsc::channel(capacity);
    let observer = Arc::clone(observer);
    let counted = count.clone();
    let started = Instant::now();
    tokio::spawn(async move {
        while let Some(batch) = from_resources.recv().await {
            let items = counted.add(batch.items.len() as u64);
            if to_normalizer.send(batch).await.is_err() {
                // The normalizer stopped (it failed): dropping our receiver stops the resources.
                break;
            }
            observer(&Progress::Extracted {
                items,
                elapsed: started.elapsed(),
            });
        }
    });
    (tx, rx, count)
}

/// Items counted by [`extract_channel`] (zero without an observer).
#[derive(Debug, Clone, Default)]
pub(crate) struct ItemCount(Arc<std::sync::atomic::AtomicU64>);

impl ItemCount {
    fn add(&self, n: u64) -> u64 {
        self.0.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n
    }

    /// The items counted so far.
    pub(crate) fn get(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}
