//! Benchmark: N generated GitHub-like events merged on `id` with an incremental on `created_at`, then an
//! increment of 50k events (10k repeated ids with changed payloads, 40k new), loaded by ele into a local
//! PostgreSQL with default durability, beside a raw `COPY` of the same rows into plain tables, and optionally the
//! psql baselines and Python dlt on the same files.
//!
//! ```sh
//! cargo run --release --example bench -- --n 1000000 [--increment 50000] [--work /tmp/ele-bench] [--floor] [--dlt /tmp/dltvenv/bin/python]
//!     [--strategy delete-insert|upsert|insert-only|scd2] [--typed]
//! ```
//! The workload is generated into `--work` (see `workload.rs`) and reused by later runs. `RUST_LOG` shows ele's
//! logs. Prints seconds, rows/s and peak RSS per stage, and ele's ratios to raw COPY, to the psql `\copy` of the
//! flattened CSVs and the "stage everything" merge floor of `bench/merge_floor.sh` (with `--floor`) and to dlt
//! (with `--dlt`). `--strategy` picks the merge strategy (delete-insert by default; scd2 merges on the merge key
//! `id`), for ele and dlt alike. `--typed` loads the same events once more, into another dataset, straight from
//! the `#[derive(Serialize, ele::Item)]` structs the generator makes in the process (no JSON text), and prints
//! the ratio to the JSON Lines load. `--generate-only` writes the two JSON Lines files, prints their paths and
//! stops.

mod baselines;
mod workload;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ele::postgres::local::LocalCluster;
use ele::prelude::*;
use ele::{IncrementalConfig, LoadInfo};
use tokio_postgres::NoTls;

use workload::FileSpec;

/// mimalloc instead of the system allocator: normalizing allocates and frees many small strings and maps, and
/// frees them on other threads than the ones that allocated them, where glibc's allocator is slow.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "usage: bench [--n N] [--increment N] [--work DIR] [--floor] [--dlt PYTHON] [--strategy STRATEGY] [--typed] [--generate-only]";

struct Args {
    n: u64,
    increment: u64,
    work: PathBuf,
    dlt: Option<PathBuf>,
    strategy: MergeStrategy,
    floor: bool,
    typed: bool,
    generate_only: bool,
}

/// Exits with the usage line after `message`.
fn usage_error(message: &str) -> ! {
    eprintln!("bench: {message}\n{USAGE}");
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut args = Args {
        n: 1_000_000,
        increment: 50_000,
        work: PathBuf::from("/tmp/ele-bench"),
        dlt: None,
        strategy: MergeStrategy::DeleteInsert,
        floor: false,
        typed: false,
        generate_only: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--floor" => args.floor = true,
            "--typed" => args.typed = true,
            "--generate-only" => args.generate_only = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0)
            }
            "--n" | "--increment" | "--work" | "--dlt" | "--strategy" => {
                let Some(value) = it.next() else {
                    usage_error(&format!("{flag} needs a value"))
                };
                let count = || {
                    value.parse::<u64>().unwrap_or_else(|_| {
                        usage_error(&format!("{flag} wants a number, not {value:?}"))
                    })
                };
                match flag.as_str() {
                    "--n" => args.n = count(),
                    "--increment" => args.increment = count(),
                    "--work" => args.work = PathBuf::from(&value),
                    "--strategy" => {
                        args.strategy = value.parse().unwrap_or_else(|_| {
                            usage_error(&format!(
                                "--strategy is one of {}, not {value:?}",
                                MergeStrategy::NAMES.join(", ")
                            ))
                        })
                    }
                    _ => args.dlt = Some(PathBuf::from(&value)),
                }
            }
            other => usage_error(&format!("unknown argument {other}")),
        }
    }
    // The psql scripts and dlt run in other processes: a relative path must not depend on their directory.
    args.work = std::path::absolute(&args.work).unwrap_or(args.work);
    args
}

/// Peak resident set size of this process so far (since the last [`reset_peak_rss`]), in MB.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The CPU time (user + system) the process used so far, in seconds (Linux: `/proc/self/stat`, in clock ticks
/// of 1/100 s).
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which may hold spaces), from the third field (state) on.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are the 14th and 15th fields, the 12th and 13th after the command name.
    (ticks(11) + ticks(12)) / 100.0
}

/// Starts the peak RSS over (Linux: writing 5 to `clear_refs` resets `VmHWM`), so that a later stage reports
/// its own peak and not that of the raw COPY baseline, which holds the exported tables in memory.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The JSON Lines file of `spec` in `work`, generated unless an earlier run left it there.
fn jsonl_file(spec: &FileSpec, role: &str, work: &Path) -> ele::Result<PathBuf> {
    let path = work.join(spec.file_name(role));
    if !path.exists() {
        let started = Instant::now();
        workload::write_jsonl(spec, &path).map_err(|e| Error::io("cannot write", &path, e))?;
        let mb = std::fs::metadata(&path).map_or(0, |m| m.len()) as f64 / 1e6;
        println!(
            "generated {} ({} events, {mb:.0} MB) in {:.2} s",
            path.display(),
            spec.count,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(path)
}

/// The CSVs of `spec` next to its JSON Lines file (`<file>.csv.d/`), written unless already there.
fn csv_dir(spec: &FileSpec, jsonl: &Path) -> ele::Result<PathBuf> {
    let dir = jsonl.with_extension("csv.d");
    if !dir.join("events.csv").exists() {
        let started = Instant::now();
        workload::write_csvs(spec, &dir).map_err(|e| Error::io("cannot write", &dir, e))?;
        println!(
            "flattened into {} in {:.2} s",
            dir.display(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(dir)
}

/// The events of `file`, merged on `id` with `strategy` (scd2: `id` is the merge key, as in dlt_load.py).
fn events(file: &Path, strategy: MergeStrategy) -> impl Resource + use<> {
    let path = file.to_owned();
    let resource = ele::FnResource::new("events", move |out: Emit<serde_json::Value>| async move {
        let config = IncrementalConfig::new()
            .cursor_path("created_at")
            .initial_value("1970-01-01T00:00:00Z");
        out.bind_incremental::<serde_json::Value>(config, None)?;
        ele::jsonl::read_files(vec![path], out).await
    })
    .write_disposition(Merge)
    .merge_strategy(strategy);
    match strategy {
        MergeStrategy::Scd2 => resource.merge_key("id"),
        _ => resource.primary_key("id"),
    }
}

/// How many events the typed resource sends at once.
const TYPED_PAGE: usize = 1000;

/// The events of `spec` as typed items, generated while they are loaded: the same rows as [`events`] gives from
/// the JSON Lines file of `spec`, with column types from [`workload::Event`]'s `ele::Item` derive. The merge
/// settings come from `--strategy`, at the call site.
#[ele::resource(name = "events")]
async fn typed_events(
    out: Emit<workload::Event>,
    spec: FileSpec,
    #[incremental(cursor = "created_at", initial_value = "1970-01-01T00:00:00Z")]
    created_at: Incremental<serde_json::Value>,
) -> ele::Result<()> {
    let _ = &created_at;
    let mut page = Vec::with_capacity(TYPED_PAGE);
    for event in spec.events() {
        page.push(event);
        if page.len() == TYPED_PAGE {
            out.send(std::mem::replace(&mut page, Vec::with_capacity(TYPED_PAGE)))
                .await?;
        }
    }
    out.send(page).await
}

/// [`typed_events`] merged on `id` with `strategy`, as [`events`].
fn typed(spec: &FileSpec, strategy: MergeStrategy) -> impl Resource + use<> {
    let resource = typed_events(spec.clone())
        .write_disposition(Merge)
        .merge_strategy(strategy);
    match strategy {
        MergeStrategy::Scd2 => resource.merge_key("id"),
        _ => resource.primary_key("id"),
    }
}

/// Prints where the tables of `typed` differ from those of `jsonl` in columns, types and row counts (the typed
/// items' columns are NOT NULL where their fields are not `Option`s).
async fn compare_columns(
    client: &tokio_postgres::Client,
    jsonl: &'static str,
    typed: &'static str,
) -> ele::Result<()> {
    let columns = |schema: &'static str| async move {
        client
            .query(
                "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text \
                 FROM information_schema.columns WHERE table_schema = $1 AND table_name NOT LIKE '\\_dlt%' \
                 ORDER BY table_name, column_name",
                &[&schema],
            )
            .await
            .map(|rows| {
                rows.iter()
                    .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1), r.get::<_, String>(2), r.get::<_, String>(3)))
                    .collect::<Vec<_>>()
            })
            .map_err(|e| Error::config(format!("cannot read the columns of {schema}: {e}")))
    };
    let (a, b) = (columns(jsonl).await?, columns(typed).await?);
    let types = |c: &[(String, String, String, String)]| -> Vec<(String, String, String)> {
        c.iter()
            .map(|(t, n, ty, _)| (t.clone(), n.clone(), ty.clone()))
            .collect()
    };
    let not_null: Vec<String> = b
        .iter()
        .filter(|(t, n, _, nullable)| {
            nullable == "NO" && !a.iter().any(|x| &x.0 == t && &x.1 == n && x.3 == "NO")
        })
        .map(|(t, n, _, _)| format!("{t}.{n}"))
        .collect();
    if types(&a) == types(&b) {
        println!(
            "typed tables: same tables, columns and types as from JSON Lines; NOT NULL only in the typed ones: {}",
            not_null.join(", ")
        );
    } else {
        println!(
            "typed tables differ from JSON Lines ones:\n  json: {:?}\n  typed: {:?}",
            types(&a),
            types(&b)
        );
    }
    for table in workload::TABLES {
        let count = |schema: &str| {
            let sql = format!("SELECT count(*) FROM {schema}.{table}");
            async move {
                client
                    .query_one(&sql, &[])
                    .await
                    .map(|r| r.get::<_, i64>(0))
                    .map_err(|e| Error::config(format!("cannot count {table}: {e}")))
            }
        };
        let (x, y) = (count(jsonl).await?, count(typed).await?);
        if x != y {
            println!("typed tables: {table} has {y} rows, {x} from JSON Lines");
        }
    }
    Ok(())
}

fn report(stage: &str, info: &LoadInfo, wall: Duration, cpu_before: f64) {
    let rows: u64 = info
        .packages
        .iter()
        .flat_map(|p| &p.row_counts)
        .map(|(_, n)| n)
        .sum();
    let load: f64 = info
        .packages
        .iter()
        .map(|p| p.load_elapsed.as_secs_f64())
        .sum();
    println!(
        "{stage:<18} rows {rows:>9}  extract+normalize {:>6.2} s  load {load:>6.2} s  total {:>6.2} s  {:>9.0} rows/s  peak RSS {:.0} MB  process CPU {:.2} s",
        info.extract_elapsed.as_secs_f64(),
        wall.as_secs_f64(),
        rows as f64 / wall.as_secs_f64(),
        peak_rss_mb(),
        process_cpu_seconds() - cpu_before
    );
}

#[tokio::main]
async fn main() -> ele::Result<()> {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let args = parse_args();
    std::fs::create_dir_all(&args.work).map_err(|e| Error::io("cannot create", &args.work, e))?;
    // Two benches in one work dir would remove each other's pipelines and share one server: one at a time.
    let lock_path = args.work.join(".bench.lock");
    let lock =
        std::fs::File::create(&lock_path).map_err(|e| Error::io("cannot create", &lock_path, e))?;
    if lock.try_lock().is_err() {
        return Err(Error::config(format!(
            "another benchmark is running in {}; wait for it or pass another --work",
            args.work.display()
        )));
    }
    let base_spec = FileSpec::base(args.n);
    let incr_spec = FileSpec::increment(args.n, args.increment);
    let base = jsonl_file(&base_spec, "base", &args.work)?;
    let incr = jsonl_file(&incr_spec, "increment", &args.work)?;
    if args.generate_only {
        println!("{}\n{}", base.display(), incr.display());
        return Ok(());
    }

    let cluster = LocalCluster::ensure_managed(&args.work.join("postgres"))
        .map_err(|e| Error::config(format!("cannot start PostgreSQL: {e}")))?;
    cluster
        .create_database("bench")
        .await
        .map_err(|e| Error::config(format!("cannot create the database: {e}")))?;
    let url = cluster.connection_string("bench");
    let (client, connection) = tokio_postgres::connect(&url, NoTls)
        .await
        .map_err(|e| Error::config(format!("cannot connect: {e}")))?;
    tokio::spawn(connection);
    client
        .batch_execute("DROP SCHEMA IF EXISTS ele_bench CASCADE; DROP SCHEMA IF EXISTS ele_bench_staging CASCADE")
        .await
        .map_err(|e| Error::config(format!("cannot reset the dataset: {e}")))?;
    let pipelines = args.work.join("pipelines");
    let _ = std::fs::remove_dir_all(&pipelines);
    let pipeline = Pipeline::builder("bench")
        .destination(Postgres::new(&url)?)
        .dataset_name("ele_bench")
        .pipelines_dir(&pipelines)
        .build()?;

    println!(
        "workload: {} events, then an increment of {} ({}), merged with {}",
        args.n,
        args.increment,
        args.work.display(),
        args.strategy
    );
    let cpu = process_cpu_seconds();
    let started = Instant::now();
    let info = pipeline.run(events(&base, args.strategy)).await?;
    let full_wall = started.elapsed();
    report("ele full merge", &info, full_wall, cpu);
    let full_wall = full_wall.as_secs_f64();
    let cpu = process_cpu_seconds();
    let started = Instant::now();
    let info = pipeline.run(events(&incr, args.strategy)).await?;
    let incr_wall = started.elapsed();
    report("ele incremental", &info, incr_wall, cpu);
    let incr_wall = incr_wall.as_secs_f64();

    let copy = baselines::raw_copy(&client, "ele_bench")
        .await?
        .as_secs_f64();
    println!("raw COPY of the same rows into plain tables: {copy:.2} s");
    println!(
        "ratios: ele full merge / raw COPY = {:.2}",
        full_wall / copy
    );
    if args.typed {
        reset_peak_rss();
        let started = Instant::now();
        let generated = base_spec.events().count();
        println!(
            "generating the {generated} base events in the process, without loading them: {:.2} s",
            started.elapsed().as_secs_f64()
        );
        let typed_pipeline = Pipeline::builder("bench_typed")
            .destination(Postgres::new(&url)?)
            .dataset_name("ele_bench_typed")
            .pipelines_dir(&pipelines)
            .build()?;
        client
            .batch_execute("DROP SCHEMA IF EXISTS ele_bench_typed CASCADE; DROP SCHEMA IF EXISTS ele_bench_typed_staging CASCADE")
            .await
            .map_err(|e| Error::config(format!("cannot reset the dataset: {e}")))?;
        let cpu = process_cpu_seconds();
        let started = Instant::now();
        let info = typed_pipeline.run(typed(&base_spec, args.strategy)).await?;
        let typed_full = started.elapsed();
        report("typed full merge", &info, typed_full, cpu);
        let cpu = process_cpu_seconds();
        let started = Instant::now();
        let info = typed_pipeline.run(typed(&incr_spec, args.strategy)).await?;
        let typed_incr = started.elapsed();
        report("typed incremental", &info, typed_incr, cpu);
        println!(
            "ratios: JSON Lines / typed items: full merge = {:.2}, incremental = {:.2}",
            full_wall / typed_full.as_secs_f64(),
            incr_wall / typed_incr.as_secs_f64()
        );
        compare_columns(&client, "ele_bench", "ele_bench_typed").await?;
    }
    if args.floor {
        let base_csv = csv_dir(&base_spec, &base)?;
        let incr_csv = csv_dir(&incr_spec, &incr)?;
        if let Some(csv_copy) = baselines::copy_csv(&cluster, &base_csv) {
            println!(
                "ratios: ele full merge / psql \\copy of the flattened CSVs = {:.2}",
                full_wall / csv_copy
            );
        }
        if let Some((full, inc)) = baselines::merge_floor(&cluster, &base_csv, &incr_csv) {
            println!(
                "ratios: ele / merge floor: full merge = {:.2}, incremental = {:.2}",
                full_wall / full,
                incr_wall / inc
            );
        }
    }
    if let Some(python) = &args.dlt {
        let dlt = baselines::Dlt {
            python,
            dsn: format!(
                "postgresql://postgres:x@localhost/bench?host={}&port={}",
                cluster.socket_dir().display(),
                cluster.port()
            ),
            dataset: "dlt_bench",
            pipelines_dir: args.work.join("dlt_pipelines"),
            strategy: args.strategy,
        };
        let full = dlt.load(&base, true);
        let inc = dlt.load(&incr, false);
        if let (Some(full), Some(inc)) = (full, inc) {
            println!(
                "ratios: dlt / ele full merge = {:.1}x, incremental = {:.1}x",
                full / full_wall,
                inc / incr_wall
            );
        }
    }
    Ok(())
}
