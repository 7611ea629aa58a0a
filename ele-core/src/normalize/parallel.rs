//! The normalizer stage of a run: pages of items in, rows into the package, spread over worker threads.
//!
//! Schema inference stays sequential in effect. Workers normalize pages against a snapshot of the schema and
//! encode the rows; the coordinator appends their output in page order, but only when the worker's page left
//! the schema untouched and the snapshot is still current. Any other page (one that adds a table or a column,
//! fails, or ran on an outdated snapshot) is normalized again by the coordinator on the one master schema, in
//! order, exactly as a single thread would. The first pages, and the pages after a schema change, are done by
//! the coordinator directly, so tables, column order and types come out as dlt's first-seen order whatever the
//! number of workers. Root `_dlt_id`s are random and child ids derive from their parent, so which thread made a
//! row changes nothing.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use tokio::sync::mpsc;

use super::contract::Discards;
use super::relational::{KeysSeen, NameCache, Normalizer, RootConfig};
use crate::extract::resource::{ExtractedBatch, Items, Returns};
use crate::foundation::error::{Error, Result};
use crate::model::contract::Discarded;
use crate::model::hints::WriteDisposition;
use crate::model::naming;
use crate::model::schema::Schema;
use crate::package::{PackageWriter, Segment, SegmentWriter};

/// Environment variable: number of normalizer worker threads (default: the available cores; 1 normalizes on the
/// coordinator thread alone).
pub const WORKERS_ENV: &str = "ELE_NORMALIZE_WORKERS";

/// Pages the coordinator normalizes itself after a schema change before handing pages to workers again.
const CALM_PAGES: usize = 2;

/// Pages in flight per worker (queued or being normalized).
const PAGES_PER_WORKER: usize = 2;

/// The number of workers from [`WORKERS_ENV`] or the machine.
pub fn worker_count() -> usize {
    std::env::var(WORKERS_ENV)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, 16)
}

/// A page handed to a worker.
struct Page {
    generation: u64,
    schema: Arc<Schema>,
    resource: usize,
    /// Items of the resource before this page (for the item numbers in error messages).
    first_index: u64,
    items: Items,
    returns: Returns,
}

/// Frees `items`, or hands them back to the thread that asked for them.
fn give_back(items: Items, returns: Returns) {
    returns.give_back(items);
}

/// What a worker made of a page: its rows, or nothing when the coordinator must normalize it again.
struct Normalized {
    page: Page,
    output: Option<(Vec<Segment>, HashMap<String, KeysSeen>, Discards)>,
}

/// Counts that change whenever the normalizer grows the schema: tables, columns, typed columns.
fn fingerprint(schema: &Schema) -> (usize, usize, usize) {
    schema.tables.values().fold((0, 0, 0), |(t, c, k), table| {
        (
            t + 1,
            c + table.columns.len(),
            k + table.complete_columns().count(),
        )
    })
}

fn worker(
    pages: Receiver<Page>,
    results: SyncSender<Normalized>,
    configs: Arc<[RootConfig]>,
    load_id: String,
) {
    let mut local: Option<(u64, Schema)> = None;
    let mut names = NameCache::default();
    let mut sink = SegmentWriter::default();
    while let Ok(page) = pages.recv() {
        if local.as_ref().map(|(g, _)| *g) != Some(page.generation) {
            local = Some((page.generation, (*page.schema).clone()));
        }
        let Some((_, schema)) = local.as_mut() else {
            break;
        };
        let before = fingerprint(schema);
        let mut normalizer =
            Normalizer::new(schema, load_id.as_str()).with_names(std::mem::take(&mut names));
        let mut ok = true;
        if let Some(config) = configs.get(page.resource) {
            for (i, item) in page.items.iter().enumerate() {
                let index = page.first_index + i as u64 + 1;
                if normalizer
                    .normalize_item(config, item, index, &mut sink)
                    .is_err()
                {
                    ok = false;
                    break;
                }
            }
        } else {
            ok = false;
        }
        let keys = normalizer.take_keys_seen();
        let discards = normalizer.take_discards();
        names = normalizer.into_names();
        let segments = sink.take();
        let clean = ok && fingerprint(schema) == before;
        if !clean {
            // The schema copy holds this page's changes: take a fresh snapshot for the next page.
            local = None;
        }
        let output = clean.then_some((segments, keys, discards));
        if results.send(Normalized { page, output }).is_err() {
            break;
        }
    }
}

/// The coordinator's side: the master normalizer, the package writer and the current snapshot.
struct Coordinator<'a, 's> {
    configs: &'a [RootConfig],
    normalizer: Normalizer<'s>,
    writer: PackageWriter,
    roots: Vec<RootConfig>,
    dispatched: HashMap<(usize, String), RootConfig>,
    generation: u64,
    snapshot: Arc<Schema>,
    /// Pages since the last schema change.
    calm: usize,
}

impl Coordinator<'_, '_> {
    /// Normalizes a batch on the master schema, in order, as a single thread would.
    fn normalize_here(
        &mut self,
        resource: usize,
        items: &Items,
        tables: Option<&[String]>,
        first_index: u64,
    ) -> Result<()> {
        let before = fingerprint(self.normalizer.schema());
        let dispatched_before = self.dispatched.len();
        let Some(base) = self.configs.get(resource) else {
            return Err(Error::internal(format!(
                "no resource #{resource} in this run"
            )));
        };
        for (i, item) in items.iter().enumerate() {
            let config = match tables.and_then(|t| t.get(i)) {
                None => base,
                Some(table) => {
                    let key = (resource, table.clone());
                    if !self.dispatched.contains_key(&key) {
                        let table = naming::normalize_tables_path(table);
                        let config = RootConfig {
                            evolve_columns_once: super::contract::is_new_table(
                                self.normalizer.schema().tables.get(&table),
                            ),
                            table,
                            ..base.clone()
                        };
                        self.normalizer.declare_root(&config);
                        if !self.roots.iter().any(|r| r.table == config.table) {
                            self.roots.push(config.clone());
                        }
                        self.dispatched.insert(key.clone(), config);
                    }
                    &self.dispatched[&key]
                }
            };
            let index = first_index + i as u64 + 1;
            self.normalizer
                .normalize_item(config, item, index, &mut self.writer)?;
        }
        if fingerprint(self.normalizer.schema()) != before
            || self.dispatched.len() != dispatched_before
        {
            self.generation += 1;
            self.snapshot = Arc::new(self.normalizer.schema().clone());
            self.calm = 0;
        } else {
            self.calm += 1;
        }
        Ok(())
    }

    /// Takes a worker's page: its rows when they are valid, else normalizes the page again here.
    fn commit(&mut self, done: Normalized) -> Result<()> {
        match done.output {
            Some((segments, keys, discards)) if done.page.generation == self.generation => {
                for segment in segments {
                    self.writer.write_segment(segment)?;
                }
                self.normalizer.merge_keys_seen(keys);
                self.normalizer.merge_discards(discards);
                give_back(done.page.items, done.page.returns);
                Ok(())
            }
            _ => {
                let page = done.page;
                self.normalize_here(page.resource, &page.items, None, page.first_index)?;
                give_back(page.items, page.returns);
                Ok(())
            }
        }
    }
}

/// A root table written by a run: its config, whether its primary keys were unique in this load, and whether
/// they were too many to tell.
pub(crate) type RootWritten = (RootConfig, bool, bool);

/// The normalizer loop, on a blocking thread: items in, rows into the package, with `workers` threads. Returns
/// the writer, the root tables written, each with whether its primary keys were unique in this load and
/// whether they were too many to tell, and the rows and values schema contracts discarded.
pub(crate) fn normalize_stream(
    mut rx: mpsc::Receiver<ExtractedBatch>,
    configs: &[RootConfig],
    schema: &mut Schema,
    load_id: &str,
    writer: PackageWriter,
    workers: usize,
) -> Result<(PackageWriter, Vec<RootWritten>, Vec<Discarded>)> {
    let mut normalizer = Normalizer::new(schema, load_id);
    let mut roots: Vec<RootConfig> = Vec::new();
    for config in configs {
        normalizer.declare_root(config);
        if !roots.iter().any(|r| r.table == config.table) {
            roots.push(config.clone());
        }
    }
    let snapshot = Arc::new(normalizer.schema().clone());
    let mut c = Coordinator {
        configs,
        normalizer,
        writer,
        roots,
        dispatched: HashMap::new(),
        generation: 0,
        snapshot,
        calm: 0,
    };
    let mut counts = vec![0u64; configs.len()];
    let shared_configs: Arc<[RootConfig]> = configs.into();
    std::thread::scope(|scope| -> Result<()> {
        let mut senders = Vec::new();
        let mut receivers = Vec::new();
        if workers > 1 {
            for _ in 0..workers {
                let (page_tx, page_rx) = sync_channel::<Page>(PAGES_PER_WORKER);
                let (done_tx, done_rx) = sync_channel::<Normalized>(PAGES_PER_WORKER);
                let configs = Arc::clone(&shared_configs);
                let load_id = load_id.to_owned();
                scope.spawn(move || worker(page_rx, done_tx, configs, load_id));
                senders.push(page_tx);
                receivers.push(done_rx);
            }
        }
        let lost = || Error::internal("a normalizer worker stopped");
        // Workers holding pages, in page order.
        let mut in_flight: VecDeque<usize> = VecDeque::new();
        let mut next_worker = 0;
        while let Some(batch) = rx.blocking_recv() {
            let Some(count) = counts.get_mut(batch.resource) else {
                return Err(Error::internal(format!(
                    "no resource #{} in this run",
                    batch.resource
                )));
            };
            let first_index = *count;
            *count += batch.items.len() as u64;
            if senders.is_empty() || batch.tables.is_some() || c.calm < CALM_PAGES {
                while let Some(w) = in_flight.pop_front() {
                    let done = receivers[w].recv().map_err(|_| lost())?;
                    c.commit(done)?;
                }
                c.normalize_here(
                    batch.resource,
                    &batch.items,
                    batch.tables.as_deref(),
                    first_index,
                )?;
                give_back(batch.items, batch.returns);
            } else {
                if in_flight.len() >= senders.len() * PAGES_PER_WORKER
                    && let Some(w) = in_flight.pop_front()
                {
                    let done = receivers[w].recv().map_err(|_| lost())?;
                    c.commit(done)?;
                }
                let page = Page {
                    generation: c.generation,
                    schema: Arc::clone(&c.snapshot),
                    resource: batch.resource,
                    first_index,
                    items: batch.items,
                    returns: batch.returns,
                };
                senders[next_worker].send(page).map_err(|_| lost())?;
                in_flight.push_back(next_worker);
                next_worker = (next_worker + 1) % senders.len();
            }
            crate::foundation::fault::point("during_normalize");
        }
        while let Some(w) = in_flight.pop_front() {
            let done = receivers[w].recv().map_err(|_| lost())?;
            c.commit(done)?;
        }
        Ok(())
    })?;
    let Coordinator {
        mut normalizer,
        writer,
        mut roots,
        dispatched,
        ..
    } = c;
    // A resource that chose every table per item has no rows in its default table.
    roots.retain(|r| {
        configs.iter().all(|c| c.table != r.table)
            || dispatched.is_empty()
            || writer.has_rows(&r.table)
    });
    for r in &roots {
        let by_key =
            r.write_disposition == WriteDisposition::Merge && r.merge.strategy.needs_primary_key();
        if by_key && normalizer.saw_duplicate_key(&r.table) {
            let nested = normalizer
                .schema()
                .chain(&r.table)
                .iter()
                .skip(1)
                .any(|t| writer.has_rows(&t.name));
            if nested {
                return Err(Error::Item {
                    resource: r.resource.clone(),
                    table: r.table.clone(),
                    message: format!(
                        "a primary key occurs more than once in this load and the items have nested lists: \
                         `{}` cannot tell which nested rows belong to which version; deduplicate the items \
                         or merge with `delete-insert` (and `dedup_sort`)",
                        r.merge.strategy
                    ),
                });
            }
        }
    }
    let roots = roots
        .into_iter()
        .map(|r| {
            let unique = !normalizer.has_duplicate_keys(&r.table);
            let unchecked = normalizer.keys_unchecked(&r.table);
            (r, unique, unchecked)
        })
        .collect();
    let discarded = normalizer.take_discards().into_vec();
    Ok((writer, roots, discarded))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::model::state::PipelineState;
    use crate::package::{LoadPackage, Manifest};

    /// Items with their own `_dlt_id`s (so rows are comparable) whose schema keeps changing after the first
    /// pages: a new column, a value of another type (a variant column), a new child table, a repeated key.
    fn pages() -> Vec<Vec<Value>> {
        (0..12)
            .map(|p| {
                (0..300)
                    .map(|i| {
                        let n = p * 300 + i;
                        let mut item = json!({
                            "_dlt_id": format!("row{n}"),
                            "id": n % 3500,
                            "when": "2024-01-01T00:00:00Z",
                            "nested": {"a": n, "b": {"c": "x\ty"}},
                            "tags": ["a", "b"],
                        });
                        if n >= 1500 {
                            item["late"] = json!(true);
                        }
                        if n == 2100 {
                            item["nested"]["a"] = json!("not a number");
                        }
                        if n >= 2500 {
                            item["commits"] = json!([{"sha": n, "files": [[1, 2], [3]]}]);
                        }
                        item
                    })
                    .collect()
            })
            .collect()
    }

    fn run(workers: usize) -> (Manifest, Vec<(String, Vec<String>)>) {
        let dir = tempfile::tempdir().expect("temp dir");
        let package = dir.path().join("package");
        let writer = PackageWriter::create(&package).expect("writer");
        let (tx, rx) = mpsc::channel(64);
        let (back_tx, back) = std::sync::mpsc::channel();
        let mut sent = 0;
        for items in pages() {
            sent += items.len();
            tx.try_send(ExtractedBatch {
                resource: 0,
                items: Items::Values(items),
                tables: None,
                returns: Returns {
                    values: Some(back_tx.clone()),
                    docs: None,
                },
            })
            .expect("queue");
        }
        drop(tx);
        drop(back_tx);
        let config = RootConfig {
            resource: "events".into(),
            table: "events".into(),
            write_disposition: WriteDisposition::Merge,
            primary_key: vec!["id".into()],
            merge_key: Vec::new(),
            max_nesting: 1000,
            propagate_root_key: true,
            merge: Default::default(),
            columns: Vec::new(),
            schema_contract: None,
            contract: Default::default(),
            evolve_columns_once: true,
        };
        let mut schema = Schema::new("s");
        let (writer, roots, _) =
            normalize_stream(rx, &[config], &mut schema, "1.5", writer, workers)
                .expect("normalize");
        let returned: usize = back.try_iter().map(|page| page.len()).sum();
        assert_eq!(returned, sent, "every page is handed back");
        assert_eq!(roots.len(), 1);
        assert!(!roots[0].1, "the repeated ids are noticed");
        assert!(!roots[0].2);
        let manifest = writer
            .finish(
                "1.5",
                "p",
                "d",
                schema,
                Vec::new(),
                PipelineState::new("p", "d", "s", "postgres"),
                None,
                Default::default(),
            )
            .expect("finish");
        let opened = LoadPackage::open(&package).expect("open");
        // Every row as `table: col=value ...` with the columns sorted, in file order per table.
        let mut rows: Vec<(String, Vec<String>)> = Vec::new();
        for job in &manifest.jobs {
            let bytes = std::fs::read(opened.job_path(job)).expect("job file");
            for tuple in crate::package::decode_binary_tuples(&bytes).expect("binary tuples") {
                let mut cells: Vec<String> = job
                    .columns
                    .iter()
                    .zip(tuple)
                    .filter_map(|(c, v)| Some(format!("{c}={:?}", v?)))
                    .collect();
                cells.sort();
                match rows.iter_mut().find(|(t, _)| *t == job.table) {
                    Some((_, r)) => r.push(cells.join(" ")),
                    None => rows.push((job.table.clone(), vec![cells.join(" ")])),
                }
            }
        }
        rows.sort();
        (manifest, rows)
    }

    #[test]
    fn workers_write_what_one_thread_writes() {
        let (one, one_rows) = run(1);
        let (many, many_rows) = run(3);
        assert_eq!(one.schema, many.schema);
        assert_eq!(one_rows, many_rows);
        let events = &one.schema.tables["events"];
        assert!(events.columns.contains_key("late"));
        assert!(events.columns.contains_key("nested__a__v_text"));
        assert!(one.schema.tables.contains_key("events__commits__files"));
        assert_eq!(
            one_rows.iter().map(|(_, r)| r.len()).sum::<usize>(),
            3600 * 3 + 1100 * 6
        );
    }
}
