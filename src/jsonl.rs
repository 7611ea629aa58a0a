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
    let mut reader = BufReader::with_capacity(1 << 20, input);
    // One buffer for every line: parsing from bytes skips a String per line and its UTF-8 check.
    let mut line = Vec::with_capacity(4096);
    let mut number = 0usize;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::io("cannot read", path, e))?;
        if n == 0 {
            break;
        }
        number += 1;
        let blank = match line.iter().find(|b| !b.is_ascii_whitespace()) {
            None => true,
            Some(b) if b.is_ascii() => false,
            Some(_) => std::str::from_utf8(&line).is_ok_and(|s| s.trim().is_empty()),
        };
        if blank {
            continue;
        }
        let value: Value = serde_json::from_slice(&line).map_err(|e| {
            Error::config(format!("{}:{number}: not valid JSON: {e}", path.display()))
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
