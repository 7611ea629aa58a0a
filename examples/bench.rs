//! Benchmark: the standard workload of `../shared/bench` (N events merged on `id` with an incremental on
//! `created_at`, then the 50k increment), loaded by ele into a local PostgreSQL with default durability, beside a
//! raw `COPY` of the same rows into plain tables, and optionally Python dlt on the same files.
//!
//! ```sh
//! cargo run --release --example bench -- --n 1000000 [--shared ../shared] [--work /tmp/ele-bench] [--floor] [--dlt /tmp/dltvenv/bin/python]
//! ```
//! `RUST_LOG` shows ele's logs. Prints seconds, rows/s and peak RSS per stage, and ele's ratios to raw COPY, to the "stage everything" merge
//! floor of `../shared/bench/merge_floor.sh` (with `--floor`) and to dlt (with `--dlt`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ele::postgres::local::LocalCluster;
use ele::prelude::*;
use ele::{IncrementalConfig, LoadInfo};
use futures::{SinkExt, StreamExt, pin_mut};
use tokio_postgres::NoTls;

/// mimalloc instead of the system allocator: normalizing allocates and frees many small strings and maps, and
/// frees them on other threads than the ones that allocated them, where glibc's allocator is slow.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Args {
    n: u64,
    increment: u64,
    shared: PathBuf,
    work: PathBuf,
    dlt: Option<PathBuf>,
    floor: bool,
}

fn parse_args() -> Args {
    let mut args = Args {
        n: 1_000_000,
        increment: 50_000,
        shared: PathBuf::from("../shared"),
        work: PathBuf::from("/tmp/ele-bench"),
        dlt: None,
        floor: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--floor" {
            args.floor = true;
            continue;
        }
        let value = it.next().unwrap_or_default();
        match flag.as_str() {
            "--n" => args.n = value.parse().unwrap_or(args.n),
            "--increment" => args.increment = value.parse().unwrap_or(args.increment),
            "--shared" => args.shared = value.into(),
            "--work" => args.work = value.into(),
            "--dlt" => args.dlt = Some(value.into()),
            other => eprintln!("ignoring unknown argument {other}"),
        }
    }
    // Scripts run inside the work dir: a relative `--shared` must not depend on it.
    if let Ok(shared) = std::path::absolute(&args.shared) {
        args.shared = shared;
    }
    args
}

/// Peak resident set size of this process so far, in MB.
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

fn generate(shared: &Path, out: &Path, n: u64, start_id: u64, extra: &[&str]) -> ele::Result<()> {
    if out.exists() {
        return Ok(());
    }
    let status = Command::new("python3")
        .arg(shared.join("bench/gen_events.py"))
        .args(["--n", &n.to_string(), "--start-id", &start_id.to_string()])
        .args(extra)
        .arg("--out")
        .arg(out)
        .status()
        .map_err(|e| Error::config(format!("cannot run gen_events.py: {e}")))?;
    if !status.success() {
        return Err(Error::config("gen_events.py failed"));
    }
    Ok(())
}

fn events(file: &Path) -> impl Resource + use<> {
    let path = file.to_owned();
    ele::FnResource::new("events", move |out: Emit<serde_json::Value>| async move {
        let config = IncrementalConfig::new()
            .cursor_path("created_at")
            .initial_value("1970-01-01T00:00:00Z");
        out.bind_incremental::<serde_json::Value>(config, None)?;
        ele::jsonl::read_files(vec![path], out).await
    })
    .primary_key("id")
    .write_disposition(Merge)
}

fn report(stage: &str, info: &LoadInfo, wall: Duration) -> u64 {
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
        "{stage:<18} rows {rows:>9}  extract+normalize {:>6.2} s  load {load:>6.2} s  total {:>6.2} s  {:>9.0} rows/s  peak RSS {:.0} MB",
        info.extract_elapsed.as_secs_f64(),
        wall.as_secs_f64(),
        rows as f64 / wall.as_secs_f64(),
        peak_rss_mb()
    );
    rows
}

/// Times a raw COPY of every data table of `dataset` (exported first, untimed) into plain tables.
async fn raw_copy(client: &tokio_postgres::Client, dataset: &str) -> ele::Result<Duration> {
    let pg = |e: tokio_postgres::Error| Error::config(format!("raw COPY: {e}"));
    client
        .batch_execute("DROP SCHEMA IF EXISTS raw_copy CASCADE; CREATE SCHEMA raw_copy")
        .await
        .map_err(pg)?;
    let tables = client
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 AND table_name NOT LIKE '\\_dlt%' ORDER BY 1",
            &[&dataset],
        )
        .await
        .map_err(pg)?;
    let mut total = Duration::ZERO;
    for row in tables {
        let table: String = row.get(0);
        let source = format!("\"{dataset}\".\"{table}\"");
        let target = format!("raw_copy.\"{table}\"");
        client
            .batch_execute(&format!("CREATE TABLE {target} (LIKE {source})"))
            .await
            .map_err(pg)?;
        let mut data = Vec::new();
        let stream = client
            .copy_out(&format!("COPY {source} TO STDOUT"))
            .await
            .map_err(pg)?;
        pin_mut!(stream);
        while let Some(chunk) = stream.next().await {
            data.extend_from_slice(&chunk.map_err(pg)?);
        }
        let started = Instant::now();
        let sink = client
            .copy_in::<_, bytes::Bytes>(&format!("COPY {target} FROM STDIN"))
            .await
            .map_err(pg)?;
        pin_mut!(sink);
        for chunk in data.chunks(1 << 20) {
            sink.send(bytes::Bytes::copy_from_slice(chunk))
                .await
                .map_err(pg)?;
        }
        sink.finish().await.map_err(pg)?;
        total += started.elapsed();
    }
    Ok(total)
}

/// Runs `merge_floor.sh` on CSVs of the two files (flattened once by `flatten_csv.py`); returns its full and
/// incremental seconds.
fn run_floor(
    shared: &Path,
    work: &Path,
    files: [&Path; 2],
    cluster: &LocalCluster,
) -> Option<(f64, f64)> {
    let mut dirs = Vec::new();
    for file in files {
        let dir = file.with_extension("csv.d");
        if !dir.join("events.csv").exists() {
            let status = Command::new("python3")
                .arg(shared.join("bench/flatten_csv.py"))
                .arg("--file")
                .arg(file)
                .arg("--outdir")
                .arg(&dir)
                .status()
                .ok()?;
            if !status.success() {
                return None;
            }
        }
        dirs.push(dir);
    }
    let out = Command::new("bash")
        .arg(shared.join("bench/merge_floor.sh"))
        .args(&dirs)
        .current_dir(work)
        .env("PGHOST", cluster.socket_dir())
        .env("PGPORT", cluster.port().to_string())
        .env("PGUSER", "postgres")
        .env("PGDATABASE", "bench")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    print!("{text}");
    if !out.status.success() {
        eprintln!(
            "merge_floor.sh failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return None;
    }
    let number = |key: &str| {
        text.split_whitespace()
            .skip_while(|w| !w.starts_with(key))
            .nth(1)
            .and_then(|t| t.trim_end_matches([',', 's']).parse::<f64>().ok())
    };
    Some((number("full")?, number("increment")?))
}

fn run_dlt(
    python: &Path,
    shared: &Path,
    file: &Path,
    dataset: &str,
    dsn: &str,
    fresh: bool,
) -> Option<f64> {
    let mut cmd = Command::new(python);
    cmd.arg(shared.join("bench/dlt_load.py")).args([
        "--file",
        &file.display().to_string(),
        "--dataset",
        dataset,
        "--dsn",
        dsn,
    ]);
    if fresh {
        cmd.arg("--fresh");
    }
    let out = cmd.output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    print!("{text}");
    if !out.status.success() {
        eprintln!("dlt failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    text.split_whitespace()
        .skip_while(|w| *w != "total")
        .nth(1)
        .and_then(|t| t.trim_end_matches('s').parse().ok())
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
    let base = args.work.join(format!("base_{}.jsonl", args.n));
    let incr = args.work.join(format!("incr_{}.jsonl", args.n));
    generate(&args.shared, &base, args.n, 0, &[])?;
    let incr_start = args.n.saturating_sub(10_000);
    generate(
        &args.shared,
        &incr,
        args.increment,
        incr_start,
        &["--seed", "1", "--t0", "2024-03-01T00:00:00Z"],
    )?;

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
        "workload: {} events, then an increment of {} ({})",
        args.n,
        args.increment,
        args.work.display()
    );
    let started = Instant::now();
    let info = pipeline.run(events(&base)).await?;
    let full_wall = started.elapsed();
    report("ele full merge", &info, full_wall);
    let started = Instant::now();
    let info = pipeline.run(events(&incr)).await?;
    let incr_wall = started.elapsed();
    report("ele incremental", &info, incr_wall);

    let copy = raw_copy(&client, "ele_bench").await?;
    println!(
        "raw COPY of the same rows into plain tables: {:.2} s",
        copy.as_secs_f64()
    );
    println!(
        "ratios: ele full merge / raw COPY = {:.2}",
        full_wall.as_secs_f64() / copy.as_secs_f64()
    );
    if args.floor
        && let Some((full, inc)) = run_floor(&args.shared, &args.work, [&base, &incr], &cluster)
    {
        println!(
            "ratios: ele / merge floor: full merge = {:.2}, incremental = {:.2}",
            full_wall.as_secs_f64() / full,
            incr_wall.as_secs_f64() / inc
        );
    }
    if let Some(python) = &args.dlt {
        let dsn = format!(
            "postgresql://postgres:x@localhost/bench?host={}&port={}",
            cluster.socket_dir().display(),
            cluster.port()
        );
        let full = run_dlt(python, &args.shared, &base, "dlt_bench", &dsn, true);
        let inc = run_dlt(python, &args.shared, &incr, "dlt_bench", &dsn, false);
        if let (Some(full), Some(inc)) = (full, inc) {
            println!(
                "ratios: dlt / ele full merge = {:.1}x, incremental = {:.1}x",
                full / full_wall.as_secs_f64(),
                inc / incr_wall.as_secs_f64()
            );
        }
    }
    Ok(())
}
