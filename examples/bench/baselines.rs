//! What ele is measured against: a raw `COPY` of the rows it loaded, the psql scripts of `bench/` (a `\copy`
//! of the flattened CSVs, the "stage everything" merge floor) and Python dlt through `bench/dlt_load.py`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ele::postgres::local::LocalCluster;
use ele::{Error, MergeStrategy};
use futures::{SinkExt, StreamExt, pin_mut};

/// A script of the project's `bench/` folder.
fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("bench")
        .join(name)
}

/// Times a raw COPY of every data table of `dataset` (exported first, untimed) into plain tables.
pub async fn raw_copy(client: &tokio_postgres::Client, dataset: &str) -> ele::Result<Duration> {
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

/// The number after the word `key` in `text`, with a trailing `,` or `s` left out.
fn number_after(text: &str, key: &str) -> Option<f64> {
    text.split_whitespace()
        .skip_while(|word| *word != key)
        .nth(1)
        .and_then(|word| word.trim_end_matches([',', 's']).parse().ok())
}

/// Runs a psql script of `bench/` against the benchmark's database, echoes its output and returns it, or `None`
/// (with the reason on standard error) when it fails.
fn run_psql_script(cluster: &LocalCluster, name: &str, args: &[&Path]) -> Option<String> {
    let out = Command::new("bash")
        .arg(script(name))
        .args(args)
        .env("PGHOST", cluster.socket_dir())
        .env("PGPORT", cluster.port().to_string())
        .env("PGUSER", "postgres")
        .env("PGDATABASE", "bench")
        .output();
    let out = match out {
        Ok(out) => out,
        Err(e) => {
            eprintln!("cannot run {name}: {e}");
            return None;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    print!("{text}");
    if !out.status.success() {
        eprintln!(
            "{name} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return None;
    }
    Some(text)
}

/// `bench/copy_baseline.sh DIR plain`: seconds of a psql `\copy` of the CSVs in `dir` into plain tables.
pub fn copy_csv(cluster: &LocalCluster, dir: &Path) -> Option<f64> {
    let text = run_psql_script(cluster, "copy_baseline.sh", &[dir, Path::new("plain")])?;
    number_after(&text, "plain:")
}

/// `bench/merge_floor.sh BASE INCR`: seconds of the full and of the incremental "stage everything" merge.
pub fn merge_floor(cluster: &LocalCluster, base: &Path, increment: &Path) -> Option<(f64, f64)> {
    let text = run_psql_script(cluster, "merge_floor.sh", &[base, increment])?;
    Some((
        number_after(&text, "full")?,
        number_after(&text, "increment")?,
    ))
}

/// Where and how `bench/dlt_load.py` loads.
pub struct Dlt<'a> {
    pub python: &'a Path,
    pub dsn: String,
    pub dataset: &'a str,
    pub pipelines_dir: PathBuf,
    pub strategy: MergeStrategy,
}

impl Dlt<'_> {
    /// Loads `file` with Python dlt (into an empty dataset when `fresh`); returns its total seconds.
    pub fn load(&self, file: &Path, fresh: bool) -> Option<f64> {
        let mut cmd = Command::new(self.python);
        cmd.arg(script("dlt_load.py"))
            .arg("--file")
            .arg(file)
            .args(["--dataset", self.dataset, "--dsn", &self.dsn])
            .arg("--pipelines-dir")
            .arg(&self.pipelines_dir);
        if fresh {
            cmd.arg("--fresh");
        }
        if self.strategy != MergeStrategy::DeleteInsert {
            cmd.args(["--strategy", &self.strategy.to_string()]);
        }
        let out = match cmd.output() {
            Ok(out) => out,
            Err(e) => {
                eprintln!("cannot run {}: {e}", self.python.display());
                return None;
            }
        };
        let text = String::from_utf8_lossy(&out.stdout);
        print!("{text}");
        if !out.status.success() {
            eprintln!(
                "dlt failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        number_after(&text, "total")
    }
}
