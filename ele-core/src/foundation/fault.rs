//! Fault injection: `ELE_FAULT=<point>` aborts the process at that point of a run, so tests can prove that a
//! crash anywhere loses nothing and doubles nothing. Always compiled in; costs one environment lookup per
//! point reached. `ELE_FAULT_SKIP=<n>` lets the point pass `n` times first (e.g. the third COPY).

use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable naming the point to abort at.
pub const FAULT_ENV: &str = "ELE_FAULT";
/// How many times the point passes before the abort.
pub const FAULT_SKIP_ENV: &str = "ELE_FAULT_SKIP";

/// The points: while the resources produce items, after extract and normalize wrote the package, while the
/// normalizer writes rows, after each COPY, just before and just after the data transaction's COMMIT.
pub const POINTS: [&str; 6] = [
    "during_extract",
    "after_extract",
    "during_normalize",
    "after_copy",
    "before_commit",
    "after_commit",
];

static PASSED: AtomicU64 = AtomicU64::new(0);

/// Aborts the process (like `kill -9`: no destructors, no flushing) when `ELE_FAULT` names `point`.
pub fn point(point: &str) {
    let Ok(wanted) = std::env::var(FAULT_ENV) else {
        return;
    };
    if wanted != point {
        return;
    }
    let skip: u64 = std::env::var(FAULT_SKIP_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if PASSED.fetch_add(1, Ordering::SeqCst) < skip {
        return;
    }
    eprintln!("ele: injected fault at `{point}` ({FAULT_ENV}), aborting");
    std::process::abort();
}
