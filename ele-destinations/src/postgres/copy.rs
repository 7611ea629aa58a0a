//! COPY of a job file into a table (binary or text, optionally frozen), shared by the normal and the streamed
//! load.

use bytes::{Bytes, BytesMut};
use ele_core::package::{BINARY_COPY_HEADER, BINARY_COPY_TRAILER, Job, JobFormat, LoadPackage};
use ele_core::{Error, Result};
use futures::{SinkExt, pin_mut};
use tokio::io::AsyncReadExt;

use super::classify::sql_error;
use super::config::Postgres;
use super::sql::{self, qualified};

/// Streams a job file into `COPY table (columns) FROM STDIN`.
pub(super) async fn copy_job(
    client: &tokio_postgres::Client,
    pg: &Postgres,
    path: &std::path::Path,
    job: &Job,
    schema: &str,
    table: &str,
    freeze: bool,
) -> Result<u64> {
    let columns: Vec<&str> = job.columns.iter().map(String::as_str).collect();
    let binary = job.format == JobFormat::Binary;
    let options: Vec<&str> = [(binary, "FORMAT binary"), (freeze, "FREEZE")]
        .into_iter()
        .filter_map(|(on, option)| on.then_some(option))
        .collect();
    let statement = format!(
        "COPY {} ({}) FROM STDIN{}",
        qualified(schema, table),
        sql::column_list(&columns),
        if options.is_empty() {
            String::new()
        } else {
            format!(" WITH ({})", options.join(", "))
        }
    );
    let what = format!("COPY of {} into {}", job.file, qualified(schema, table));
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| Error::io("cannot open job file", path, e))?;
    let sink = client
        .copy_in::<_, Bytes>(&statement)
        .await
        .map_err(|e| sql_error(pg, &what, e))?;
    pin_mut!(sink);
    if binary {
        sink.send(Bytes::from_static(BINARY_COPY_HEADER))
            .await
            .map_err(|e| sql_error(pg, &what, e))?;
    }
    let mut buf = BytesMut::with_capacity(256 * 1024);
    loop {
        buf.reserve(256 * 1024);
        let n = file
            .read_buf(&mut buf)
            .await
            .map_err(|e| Error::io("cannot read job file", path, e))?;
        if n == 0 {
            break;
        }
        sink.send(buf.split().freeze())
            .await
            .map_err(|e| sql_error(pg, &what, e))?;
    }
    if binary {
        sink.send(Bytes::from_static(BINARY_COPY_TRAILER))
            .await
            .map_err(|e| sql_error(pg, &what, e))?;
    }
    let rows = sink.finish().await.map_err(|e| sql_error(pg, &what, e))?;
    ele_core::fault::point("after_copy");
    Ok(rows)
}

/// COPYs a job of `package` into its own table in the package's dataset.
pub(super) async fn copy_to_final(
    client: &tokio_postgres::Client,
    pg: &Postgres,
    package: &LoadPackage,
    job: &Job,
    freeze: bool,
) -> Result<u64> {
    let ds = package.manifest.dataset_name.as_str();
    copy_job(
        client,
        pg,
        &package.job_path(job),
        job,
        ds,
        &job.table,
        freeze,
    )
    .await
}
