//! A resource over JSON Lines files: what `ele load` runs, usable from programs too.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use ele_core::doc::Doc;
use ele_core::{Emit, FnResource};
use ele_core::{Error, Result};
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

/// What a read does with a line that is not JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum BadLines {
    /// Fail the run: nothing of it is loaded (the default).
    #[default]
    Fail,
    /// Skip the line, counting it in [`SkippedLines`].
    Skip,
    /// Skip the line and append it as it was to this file (a dead-letter file), counting it.
    DeadLetter(PathBuf),
}

/// How many positions of skipped lines [`SkippedLines`] keeps.
const SKIPPED_KEPT: usize = 10;

/// The lines a read skipped: how many, and what was wrong with the first ones (file, line, JSON error).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SkippedLines {
    /// Lines skipped.
    pub count: u64,
    /// What was wrong with the first few, e.g. ``"`events.jsonl` line 2: not valid JSON: ..."``.
    pub first: Vec<String>,
}

/// Sends the parsed lines of `paths` to `out`; a line that is not JSON fails the read.
pub async fn read_files(paths: Vec<PathBuf>, out: Emit<Value>) -> Result<()> {
    read_files_with(paths, out, BadLines::Fail, Default::default()).await
}

/// Sends the parsed lines of `paths` to `out`, doing with lines that are not JSON what `bad_lines` says and
/// recording the skipped ones in `skipped`.
pub async fn read_files_with(
    paths: Vec<PathBuf>,
    out: Emit<Value>,
    bad_lines: BadLines,
    skipped: std::sync::Arc<std::sync::Mutex<SkippedLines>>,
) -> Result<()> {
    let (tx, mut rx) = mpsc::channel::<Result<Vec<Doc>>>(4);
    // The normalizer hands the pages back: the reader parses the next lines into their documents.
    let (back_tx, back) = std::sync::mpsc::channel();
    let out = out.return_docs_to(back_tx);
    let reader = tokio::task::spawn_blocking(move || {
        let mut pool = DocPool {
            back,
            spare: Vec::new(),
            pages: Vec::new(),
        };
        let mut bad = BadLineSink {
            mode: bad_lines,
            skipped,
            dead_letters: None,
        };
        for path in paths {
            if let Err(e) = read_file(&path, &tx, &mut pool, &mut bad) {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        }
        if let Err(e) = bad.flush() {
            let _ = tx.blocking_send(Err(e));
        }
    });
    while let Some(page) = rx.recv().await {
        out.send_docs(page?).await?;
    }
    reader
        .await
        .map_err(|e| Error::internal(format!("the file reader stopped: {e}")))
}

/// A document above this size (of its buffers) is not reused: one huge line does not keep its memory.
const MAX_REUSED_DOC: usize = 1 << 16;

/// The documents and pages the normalizer handed back, reused for the next lines: once the pipeline is full,
/// reading allocates nothing.
struct DocPool {
    back: std::sync::mpsc::Receiver<Vec<Doc>>,
    spare: Vec<Doc>,
    pages: Vec<Vec<Doc>>,
}

impl DocPool {
    /// Takes back the pages the normalizer is done with.
    fn collect(&mut self) {
        for mut page in self.back.try_iter() {
            self.spare.extend(
                page.drain(..)
                    .filter(|doc| doc.heap_size() <= MAX_REUSED_DOC),
            );
            self.pages.push(page);
        }
    }

    /// A document to parse a line into.
    fn doc(&mut self) -> Doc {
        if self.spare.is_empty() {
            self.collect();
        }
        self.spare.pop().unwrap_or_default()
    }

    /// An empty page.
    fn page(&mut self) -> Vec<Doc> {
        self.collect();
        self.pages.pop().unwrap_or_else(|| Vec::with_capacity(PAGE))
    }
}

/// Where the lines that are not JSON go.
struct BadLineSink {
    mode: BadLines,
    skipped: std::sync::Arc<std::sync::Mutex<SkippedLines>>,
    dead_letters: Option<std::io::BufWriter<std::fs::File>>,
}

impl BadLineSink {
    /// Takes bad line `line` (`problem` says what is wrong), or fails with it when bad lines fail the read.
    fn take(&mut self, line: &[u8], problem: String) -> Result<()> {
        use std::io::Write as _;
        if let BadLines::DeadLetter(file) = &self.mode {
            let writer = match &mut self.dead_letters {
                Some(writer) => writer,
                None => {
                    let opened = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(file)
                        .map_err(|e| Error::io("cannot open the bad-lines file", file, e))?;
                    self.dead_letters.insert(std::io::BufWriter::new(opened))
                }
            };
            let content = line.strip_suffix(b"\n").unwrap_or(line);
            let content = content.strip_suffix(b"\r").unwrap_or(content);
            writer
                .write_all(content)
                .and_then(|()| writer.write_all(b"\n"))
                .map_err(|e| Error::io("cannot write the bad-lines file", file, e))?;
        }
        if self.mode == BadLines::Fail {
            return Err(Error::input(problem));
        }
        let mut skipped = self
            .skipped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        skipped.count += 1;
        if skipped.first.len() < SKIPPED_KEPT {
            skipped.first.push(problem);
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        use std::io::Write as _;
        if let (Some(writer), BadLines::DeadLetter(file)) = (&mut self.dead_letters, &self.mode) {
            writer
                .flush()
                .map_err(|e| Error::io("cannot write the bad-lines file", file, e))?;
        }
        Ok(())
    }
}

fn read_file(
    path: &Path,
    tx: &mpsc::Sender<Result<Vec<Doc>>>,
    pool: &mut DocPool,
    bad: &mut BadLineSink,
) -> Result<()> {
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
    let mut page = pool.page();
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
        let mut doc = pool.doc();
        if let Err(e) = doc.parse_json(&line) {
            pool.spare.push(doc);
            bad.take(&line, bad_line(path, number, &line, &e))?;
            continue;
        }
        page.push(doc);
        if page.len() == PAGE {
            let next = pool.page();
            if tx
                .blocking_send(Ok(std::mem::replace(&mut page, next)))
                .is_err()
            {
                return Ok(());
            }
        }
    }
    if !page.is_empty() {
        let _ = tx.blocking_send(Ok(page));
    }
    Ok(())
}

/// What is wrong with line `number` of `path`, placed in the line itself: `events.jsonl line 2: not valid JSON:
/// expected `,` or `}` at column 9`, or `... EOF while parsing a value at the end of the line` (serde_json counts
/// the line's own newline as a second line).
fn bad_line(path: &Path, number: usize, line: &[u8], e: &serde_json::Error) -> String {
    let place = if path.as_os_str() == "-" {
        "standard input".to_owned()
    } else {
        format!("`{}`", path.display())
    };
    let text = e.to_string();
    let what = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(what, _)| what);
    let content = line.trim_ascii_end();
    let at = if e.is_eof() || e.line() > 1 || e.column() > content.len() {
        "at the end of the line".to_owned()
    } else {
        format!("at column {}", e.column())
    };
    format!("{place} line {number}: not valid JSON: {what} {at}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `line` into `doc`, as the reader does, and gives the item as a `Value`.
    fn parse_line(line: &[u8], doc: &mut Doc) -> serde_json::Result<Value> {
        doc.parse_json(line)?;
        Ok(doc.to_value())
    }

    /// `value` with its numbers as the reader keeps them.
    fn canonical(value: Value) -> Value {
        match value {
            Value::Number(n) => Value::Number(
                ele_core::py_decimal::canonical_json_number(&n.to_string()).expect("in range"),
            ),
            Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
            Value::Object(map) => {
                Value::Object(map.into_iter().map(|(k, v)| (k, canonical(v))).collect())
            }
            other => other,
        }
    }

    #[test]
    fn parses_as_serde_json_does() {
        let lines = [
            r#"{"b": 1, "a": {"z": [1, -2, 3.5, -0.0, -0e1, null, true], "y": "\u00e9\n"}, "c": []}"#,
            r#"{"k": 1, "j": 2, "k": 3}"#,
            r#"{"big": 18446744073709551615, "neg": -9223372036854775808, "f": 0.1, "e": 1.7976931348623157e308}"#,
            r#"  [{"a": {}}, {"b": [[{"c": {"d": "e"}}]]}, "s", 0]  "#,
            r#""just a string""#,
            r#"{"d": 0.12345678901234567890123, "i": 123456789012345678901234567890, "x": 1.50, "y": 1E2}"#,
        ];
        let mut scratch = Doc::new();
        for line in lines {
            let ours = parse_line(line.as_bytes(), &mut scratch).expect("parses");
            let theirs = canonical(serde_json::from_slice(line.as_bytes()).expect("parses"));
            assert_eq!(ours, theirs, "{line}");
            let keys = |v: &Value| v.as_object().map(|m| m.keys().cloned().collect::<Vec<_>>());
            assert_eq!(keys(&ours), keys(&theirs), "{line}");
            assert_eq!(ours.to_string(), theirs.to_string(), "{line}");
        }
        let digits = parse_line(lines[5].as_bytes(), &mut scratch).expect("parses");
        assert_eq!(digits["d"].to_string(), "0.12345678901234567890123");
        assert_eq!(digits["i"].to_string(), "123456789012345678901234567890");
        assert_eq!(digits["x"].to_string(), "1.5");
        assert_eq!(digits["y"].to_string(), "100.0");
        for bad in [r#"{"a": 1"#, r#"{"a": 1} x"#, r#"{"a" 1}"#] {
            let ours = parse_line(bad.as_bytes(), &mut scratch).map_err(|e| e.to_string());
            let theirs = serde_json::from_slice::<Value>(bad.as_bytes()).map_err(|e| e.to_string());
            assert_eq!(ours, theirs, "{bad}");
        }
        let out_of_range = parse_line(br#"{"a": 1e400}"#, &mut scratch).expect_err("refused");
        assert!(
            out_of_range.to_string().contains("number out of range"),
            "{out_of_range}"
        );
    }

    #[test]
    fn a_bad_line_is_named_by_file_line_and_column() {
        let message = |line: &str| {
            let mut scratch = Doc::new();
            let e = parse_line(line.as_bytes(), &mut scratch).expect_err("not JSON");
            bad_line(Path::new("data/events.jsonl"), 7, line.as_bytes(), &e)
        };
        assert_eq!(
            message("{\"id\" 1}\n"),
            "`data/events.jsonl` line 7: not valid JSON: expected `:` at column 7"
        );
        assert_eq!(
            message("{\"id\": \n"),
            "`data/events.jsonl` line 7: not valid JSON: EOF while parsing a value at the end of the line"
        );
        assert_eq!(
            message("{\"id\": 1} x\n"),
            "`data/events.jsonl` line 7: not valid JSON: trailing characters at column 11"
        );
    }

    #[test]
    fn integer_negative_zero_is_the_integer_zero() {
        let mut scratch = Doc::new();
        let line = r#"{"a": -0, "b": -0.0, "c": "x\"-0", "d": [-0,-0 ], "e": -0E2, "f": -1}"#;
        let value = parse_line(line.as_bytes(), &mut scratch).expect("parses");
        assert_eq!(value["a"].as_u64(), Some(0));
        assert!(
            value["b"]
                .as_f64()
                .is_some_and(|f| f == 0.0 && f.is_sign_negative())
        );
        assert_eq!(value["c"], "x\"-0");
        assert_eq!(value["d"], serde_json::json!([0, 0]));
        assert!(value["e"].is_f64());
        assert_eq!(value["f"].as_i64(), Some(-1));
    }
}
