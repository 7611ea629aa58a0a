//! Progress of `ele load` on standard error, rendered from the pipeline's [`ele::progress::Progress`] reports:
//! live spinners with items, rows/s and tables (indicatif) when standard error is a terminal, one quiet line per
//! finished stage otherwise, nothing with `-q`. Logs (`RUST_LOG`) go through [`Progress::log_writer`] so they
//! never tear a live line.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ele::destination::LoadOutcome;
use ele::progress::{self as core_progress, total_rows};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The renderer; clones share one state.
#[derive(Clone)]
pub(crate) struct Progress {
    inner: Arc<Mutex<State>>,
}

struct State {
    enabled: bool,
    terminal: bool,
    /// The live spinner of the running stage (terminal only).
    bar: Option<ProgressBar>,
    /// The load id of this run's new package (a package loaded before it was pending from an earlier run).
    new_package: Option<String>,
}

impl Progress {
    pub(crate) fn new(enabled: bool) -> Self {
        Progress {
            inner: Arc::new(Mutex::new(State {
                enabled,
                terminal: std::io::stderr().is_terminal(),
                bar: None,
                new_package: None,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether progress is shown at all (not `-q`).
    pub(crate) fn enabled(&self) -> bool {
        self.lock().enabled
    }

    /// The observer to give `Pipeline::builder(..).progress(..)`.
    pub(crate) fn observer(&self) -> impl Fn(&core_progress::Progress) + Send + Sync + 'static {
        let this = self.clone();
        move |event| this.on(event)
    }

    /// Clears a live line left by a run that stopped early (an error).
    pub(crate) fn finish(&self) {
        if let Some(bar) = self.lock().bar.take() {
            bar.finish_and_clear();
        }
    }

    /// A writer for log lines that suspends the live line while writing.
    pub(crate) fn log_writer(&self) -> LogWriter {
        LogWriter {
            progress: self.clone(),
        }
    }

    fn on(&self, event: &core_progress::Progress) {
        use core_progress::Progress as P;
        let mut state = self.lock();
        if !state.enabled {
            return;
        }
        match event {
            P::ExtractStarted { resources } => {
                let what = format!("extract and normalize {}", resources.join(", "));
                state.spinner(what, "starting".into());
            }
            P::Extracted { items, elapsed } => {
                if let Some(bar) = &state.bar {
                    bar.set_message(format!(
                        "{items} items ({} items/s)",
                        rate(*items, elapsed.as_secs_f64())
                    ));
                }
            }
            P::Normalized {
                load_id,
                items,
                rows,
                elapsed,
            } => {
                let seconds = elapsed.as_secs_f64();
                let line = match load_id {
                    Some(_) => {
                        let total = total_rows(rows);
                        format!(
                            "extract and normalize: {total} rows in {seconds:.2} s ({} rows/s), {} from {items} items",
                            rate(total, seconds),
                            tables(rows),
                        )
                    }
                    None => format!(
                        "extract and normalize: nothing new in {seconds:.2} s ({items} items)"
                    ),
                };
                state.new_package = load_id.clone();
                state.line(&line);
            }
            P::LoadStarted { load_id, rows } => {
                let what = format!("load {}", state.package(load_id));
                let detail = format!("{} rows, {}", total_rows(rows), tables(rows));
                state.spinner(what, detail);
            }
            P::Loaded {
                load_id,
                rows,
                outcome,
                elapsed,
            } => {
                let total = total_rows(rows);
                let seconds = elapsed.as_secs_f64();
                let what = match outcome {
                    LoadOutcome::Committed => "committed",
                    LoadOutcome::AlreadyLoaded => "found committed by an earlier run",
                };
                let line = format!(
                    "load: {} {what}, {total} rows into {} in {seconds:.2} s ({} rows/s)",
                    state.package(load_id),
                    tables(rows),
                    rate(total, seconds)
                );
                state.line(&line);
            }
            _ => {}
        }
    }
}

impl State {
    /// `package <id>`, or `pending package <id>` for one left by an earlier run.
    fn package(&self, load_id: &str) -> String {
        if self.new_package.as_deref() == Some(load_id) {
            format!("package {load_id}")
        } else {
            format!("pending package {load_id}")
        }
    }

    /// Starts a live spinner for a stage (terminal only).
    fn spinner(&mut self, what: String, detail: String) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if !self.terminal {
            return;
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{spinner} {prefix}: {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        bar.set_prefix(what);
        bar.set_message(detail);
        bar.enable_steady_tick(Duration::from_millis(120));
        self.bar = Some(bar);
    }

    /// Ends the running stage with its line.
    fn line(&mut self, text: &str) {
        match self.bar.take() {
            Some(bar) => {
                bar.finish_and_clear();
                eprintln!("{text}");
            }
            None => eprintln!("{text}"),
        }
    }
}

/// `N table(s)`.
fn tables(rows: &[(String, u64)]) -> String {
    match rows.len() {
        1 => "1 table".to_owned(),
        n => format!("{n} tables"),
    }
}

fn rate(count: u64, seconds: f64) -> u64 {
    if seconds > 0.0 {
        (count as f64 / seconds).round() as u64
    } else {
        count
    }
}

/// Writes log lines to standard error around the live line.
pub(crate) struct LogWriter {
    progress: Progress,
}

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = self.progress.lock().bar.clone();
        match bar {
            Some(bar) => bar.suspend(|| std::io::stderr().write_all(buf))?,
            None => std::io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
