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
    copy_job_omitting(client, pg, path, job, schema, table, freeze, &[]).await
}

/// [`copy_job`] leaving the job's columns named in `omit` out (the table fills them with their defaults); only
/// binary jobs can leave columns out.
#[allow(clippy::too_many_arguments)]
pub(super) async fn copy_job_omitting(
    client: &tokio_postgres::Client,
    pg: &Postgres,
    path: &std::path::Path,
    job: &Job,
    schema: &str,
    table: &str,
    freeze: bool,
    omit: &[&str],
) -> Result<u64> {
    let dropped: Vec<bool> = job
        .columns
        .iter()
        .map(|c| omit.contains(&c.as_str()))
        .collect();
    let mut filter = dropped
        .contains(&true)
        .then(|| FieldFilter::new(dropped.clone()));
    let columns: Vec<&str> = job
        .columns
        .iter()
        .zip(&dropped)
        .filter(|(_, dropped)| !**dropped)
        .map(|(c, _)| c.as_str())
        .collect();
    let binary = job.format == JobFormat::Binary;
    if filter.is_some() && !binary {
        return Err(Error::internal(format!(
            "job {} is not binary: its columns cannot be left out",
            job.file
        )));
    }
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
        let chunk = match &mut filter {
            Some(filter) => filter.feed(&buf.split(), &what)?,
            None => buf.split().freeze(),
        };
        sink.send(chunk)
            .await
            .map_err(|e| sql_error(pg, &what, e))?;
    }
    if let Some(filter) = &filter {
        filter.finish(&what)?;
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

/// Drops fields from the tuples of a binary COPY stream (without header and trailer) read in chunks of any size.
struct FieldFilter {
    /// Per field of a tuple: whether it is dropped.
    dropped: Vec<bool>,
    /// The fields a tuple keeps.
    kept: i16,
    /// The start of a tuple not complete yet.
    pending: BytesMut,
}

impl FieldFilter {
    /// A filter for tuples of `dropped.len()` fields, leaving out those marked.
    fn new(dropped: Vec<bool>) -> Self {
        let kept = dropped.iter().filter(|d| !**d).count();
        FieldFilter {
            kept: i16::try_from(kept).unwrap_or(i16::MAX),
            dropped,
            pending: BytesMut::new(),
        }
    }

    /// The complete tuples of what came so far and `chunk`, without the dropped fields; keeps the rest.
    fn feed(&mut self, chunk: &[u8], what: &str) -> Result<Bytes> {
        self.pending.extend_from_slice(chunk);
        let buf = &self.pending[..];
        let mut out = BytesMut::with_capacity(buf.len());
        let mut pos = 0;
        'tuples: while buf.len() >= pos + 2 {
            let count = i16::from_be_bytes([buf[pos], buf[pos + 1]]);
            if usize::try_from(count).ok() != Some(self.dropped.len()) {
                return Err(Error::internal(format!(
                    "{what}: a tuple of {count} fields where {} were expected",
                    self.dropped.len()
                )));
            }
            let start = out.len();
            out.extend_from_slice(&self.kept.to_be_bytes());
            let mut p = pos + 2;
            for dropped in &self.dropped {
                let Some(head) = buf.get(p..p + 4) else {
                    out.truncate(start);
                    break 'tuples;
                };
                let len = i32::from_be_bytes([head[0], head[1], head[2], head[3]]);
                let end = p + 4 + usize::try_from(len).unwrap_or(0);
                if buf.len() < end {
                    out.truncate(start);
                    break 'tuples;
                }
                if !dropped {
                    out.extend_from_slice(&buf[p..end]);
                }
                p = end;
            }
            pos = p;
        }
        let _ = self.pending.split_to(pos);
        Ok(out.freeze())
    }

    /// Fails when the stream ended inside a tuple.
    fn finish(&self, what: &str) -> Result<()> {
        if self.pending.is_empty() {
            Ok(())
        } else {
            Err(Error::internal(format!(
                "{what}: the job file ends inside a row"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A binary tuple of `fields` (`None` is NULL).
    fn tuple(fields: &[Option<&[u8]>]) -> Vec<u8> {
        let mut out = (fields.len() as i16).to_be_bytes().to_vec();
        for field in fields {
            match field {
                Some(bytes) => {
                    out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
                    out.extend_from_slice(bytes);
                }
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        out
    }

    #[test]
    fn fields_are_dropped_across_chunk_boundaries() {
        let input = [
            tuple(&[Some(b"a"), None, Some(b"bcd")]),
            tuple(&[None, Some(b"xy"), Some(b"")]),
        ]
        .concat();
        let expected = [
            tuple(&[Some(b"a"), Some(b"bcd")]),
            tuple(&[None, Some(b"")]),
        ]
        .concat();
        for size in 1..=input.len() {
            let mut filter = FieldFilter::new(vec![false, true, false]);
            let mut out = Vec::new();
            for chunk in input.chunks(size) {
                out.extend_from_slice(&filter.feed(chunk, "test").expect("valid tuples"));
            }
            filter.finish("test").expect("complete");
            assert_eq!(out, expected, "chunks of {size}");
        }
    }

    #[test]
    fn a_truncated_or_foreign_stream_is_refused() {
        let mut filter = FieldFilter::new(vec![false, true]);
        let whole = tuple(&[Some(b"a"), Some(b"b")]);
        filter
            .feed(&whole[..whole.len() - 1], "test")
            .expect("partial");
        assert!(filter.finish("test").is_err());
        let mut filter = FieldFilter::new(vec![false, true]);
        assert!(filter.feed(&tuple(&[Some(b"a")]), "test").is_err());
    }
}
