//! A resource over JSON Lines files: what `ele load` runs, usable from programs too.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use ele_core::error::{Error, Result};
use ele_core::resource::{Emit, FnResource};
use futures::future::BoxFuture;
use serde_json::Value;
use tokio::sync::mpsc;

/// Lines per page sent to the pipeline.
const PAGE: usize = 1000;

/// The body of a [`files`] resource.
pub type JsonlBody = Box<dyn FnOnce(Emit<Value>) -> BoxFuture<'static, Result<()>> + Send>;

/// A resource named `name` reading JSON Lines `paths` in order (`-` is standard input, `.gz` files are
/// decompressed), one page of parsed lines at a time on a blocking thread; empty lines are skipped, a line that
/// is not JSON is an error naming the file and line.
pub fn files(name: impl Into<String>, paths: Vec<PathBuf>) -> FnResource<Value, JsonlBody> {
    let body: JsonlBody = Box::new(move |out| {
        let read: BoxFuture<'static, Result<()>> = Box::pin(read_files(paths, out));
        read
    });
    FnResource::new(name, body)
}

/// Sends the parsed lines of `paths` to `out`.
pub async fn read_files(paths: Vec<PathBuf>, out: Emit<Value>) -> Result<()> {
    let (tx, mut rx) = mpsc::channel::<Result<Vec<Value>>>(4);
    let reader = tokio::task::spawn_blocking(move || {
        for path in paths {
            if let Err(e) = read_file(&path, &tx) {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        }
    });
    while let Some(page) = rx.recv().await {
        out.send(page?).await?;
    }
    reader
        .await
        .map_err(|e| Error::config(format!("the file reader stopped: {e}")))
}

fn read_file(path: &Path, tx: &mpsc::Sender<Result<Vec<Value>>>) -> Result<()> {
    let raw: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(path).map_err(|e| Error::io("cannot open", path, e))?)
    };
    let input: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(raw))
    } else {
        raw
    };
    let mut page = Vec::with_capacity(PAGE);
    for (number, line) in BufReader::with_capacity(1 << 20, input).lines().enumerate() {
        let line = line.map_err(|e| Error::io("cannot read", path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(&line).map_err(|e| {
            Error::config(format!(
                "{}:{}: not valid JSON: {e}",
                path.display(),
                number + 1
            ))
        })?;
        page.push(value);
        if page.len() == PAGE {
            if tx.blocking_send(Ok(std::mem::take(&mut page))).is_err() {
                return Ok(());
            }
            page.reserve(PAGE);
        }
    }
    if !page.is_empty() {
        let _ = tx.blocking_send(Ok(page));
    }
    Ok(())
}
