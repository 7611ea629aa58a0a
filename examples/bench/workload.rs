//! The benchmark's workload: deterministic GitHub-events-like JSON Lines, and the same events flattened into
//! CSVs in dlt's table layout for the psql baselines.
//!
//! An event's stable part (type, actor, repo) depends only on its id, so an id present in two files is the same
//! event; its mutable part (payload, `public`, the jitter of `created_at`) depends on the file's seed and the id,
//! so the increment, made with another seed, changes the payload of the ids it repeats. `created_at` grows by one
//! second per event from the file's start time, with -2..+2 s of jitter.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

/// Bump when the generated data changes: it names the cached files.
pub const VERSION: u32 = 1;

/// Event ids in the base file repeated by the increment (with changed payloads).
const REPEATED_IDS: u64 = 10_000;
/// Ids are text, as GitHub's are, offset so that they all have the same length.
const ID_OFFSET: u64 = 30_000_000_000;

const TYPES: [&str; 8] = [
    "PushEvent",
    "PullRequestEvent",
    "IssuesEvent",
    "IssueCommentEvent",
    "WatchEvent",
    "ForkEvent",
    "CreateEvent",
    "DeleteEvent",
];
const ACTIONS: [&str; 4] = ["opened", "closed", "reopened", "edited"];
const LABELS: [&str; 6] = [
    "bug",
    "enhancement",
    "documentation",
    "help wanted",
    "duplicate",
    "invalid",
];
const WORDS: [&str; 16] = [
    "add", "fix", "drop", "rename", "tidy", "speed", "up", "loader", "cursor", "schema", "tests",
    "README", "deps", "retry", "logging", "config",
];
/// A commit message with everything a CSV or COPY writer must escape, and some non-ASCII text.
const AWKWARD: &str = "Revert \"wip, do not merge\"\n\nit broke the\tbuild on C:\\temp \u{2014} d\u{e9}j\u{e0} vu \u{2713}";

/// One generated file: `count` events with ids `first_id..`, from `t0` on.
#[derive(Clone, Debug)]
pub struct FileSpec {
    pub count: u64,
    pub first_id: u64,
    pub seed: u64,
    pub t0: DateTime<Utc>,
}

impl FileSpec {
    /// The base file: `n` events from id 0, seed 0, from 2024-01-01.
    pub fn base(n: u64) -> FileSpec {
        FileSpec {
            count: n,
            first_id: 0,
            seed: 0,
            t0: DateTime::from_timestamp(1_704_067_200, 0).unwrap_or_default(),
        }
    }

    /// The increment to a base of `n` events: `count` events from id `n - 10000` (the last 10,000 base ids
    /// repeated with changed payloads, the rest new), seed 1, from 2024-03-01 or, for a base that reaches past
    /// that, a minute after the base's last event, so every event passes the incremental cursor.
    pub fn increment(n: u64, count: u64) -> FileSpec {
        let base = FileSpec::base(n);
        let march = DateTime::from_timestamp(1_709_251_200, 0).unwrap_or_default();
        let after_base =
            base.t0 + TimeDelta::seconds(i64::try_from(n).unwrap_or(i64::MAX / 2) + 60);
        FileSpec {
            count,
            first_id: n.saturating_sub(REPEATED_IDS),
            seed: 1,
            t0: march.max(after_base),
        }
    }

    /// The events, in file order.
    pub fn events(&self) -> impl Iterator<Item = Event> + '_ {
        (0..self.count).map(move |row| event(self, row))
    }

    /// A file name for this spec and generator version; `role` (base or increment) stands for the seed.
    pub fn file_name(&self, role: &str) -> String {
        format!(
            "events-v{VERSION}-{role}-{}-from-{}.jsonl",
            self.count, self.first_id
        )
    }
}

/// A GitHub-like event, serialized in field order. As an `ele::Item` its columns are typed at compile time
/// (`--typed` loads the events straight from these structs); the JSON Lines path infers the same types.
#[derive(Serialize, ele::Item)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[ele(data_type = "timestamp")]
    pub created_at: String,
    pub actor: Actor,
    pub repo: Repo,
    pub payload: Payload,
    pub public: bool,
}

#[derive(Serialize, ele::Item)]
pub struct Actor {
    pub id: i64,
    pub login: String,
    pub url: String,
}

#[derive(Serialize, ele::Item)]
pub struct Repo {
    pub id: i64,
    pub name: String,
}

/// Push events carry `push_id`, `head` and a list of commits; pull request and issue events an action, a
/// number and a list of labels; all of them a ref and a size.
#[derive(Serialize, ele::Item)]
pub struct Payload {
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub size: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub push_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commits: Option<Vec<Commit>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<&'static str>>,
}

#[derive(Serialize, ele::Item)]
pub struct Commit {
    pub sha: String,
    pub message: String,
    pub author: Author,
    pub distinct: bool,
}

#[derive(Serialize, ele::Item)]
pub struct Author {
    pub name: String,
    pub email: String,
}

/// SplitMix64's output function: a bijection of `u64` that spreads every input bit over the output.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// SplitMix64: small, fast, and good enough for test data.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(mix(seed))
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is far below what a benchmark notices).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    fn between(&mut self, low: u64, high_exclusive: u64) -> u64 {
        low + self.below(high_exclusive - low)
    }

    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64) < p * (1u64 << 53) as f64
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    fn hex_sha(&mut self) -> String {
        format!(
            "{:016x}{:016x}{:08x}",
            self.next_u64(),
            self.next_u64(),
            self.next_u64() >> 32
        )
    }
}

fn event(spec: &FileSpec, row: u64) -> Event {
    let id = spec.first_id + row;
    let mut stable = Rng::new(id);
    let mut mutable = Rng::new(mix(id) ^ spec.seed.wrapping_mul(0xD6E8_FEB8_6659_FD93));
    let kind = stable.pick(&TYPES);
    // Every generated number is far below 2^63: the casts to the columns' i64 are exact.
    let actor_id = stable.between(1, 50_000) as i64;
    let repo_id = stable.between(1, 20_000) as i64;
    let login = format!("user{actor_id}");

    let branch = match mutable.below(3) {
        0 => "main".to_owned(),
        1 => "dev".to_owned(),
        _ => format!("feature-{}", mutable.below(100)),
    };
    let mut payload = Payload {
        git_ref: format!("refs/heads/{branch}"),
        size: 0,
        push_id: None,
        head: None,
        commits: None,
        action: None,
        number: None,
        labels: None,
    };
    match kind {
        "PushEvent" => {
            let commits: Vec<Commit> = (0..mutable.below(6))
                .map(|_| commit(&mut mutable))
                .collect();
            payload.size = commits.len() as i64;
            payload.push_id = Some(mutable.below(10_000_000_000) as i64);
            payload.head = Some(mutable.hex_sha());
            payload.commits = Some(commits);
        }
        "PullRequestEvent" | "IssuesEvent" | "IssueCommentEvent" => {
            payload.action = Some(mutable.pick(&ACTIONS));
            payload.number = Some(mutable.between(1, 5_000) as i64);
            let mut labels = LABELS;
            let wanted = mutable.below(4) as usize;
            // The first `wanted` of a partial Fisher-Yates shuffle: distinct labels in random order.
            for i in 0..wanted {
                let j = i + mutable.below((labels.len() - i) as u64) as usize;
                labels.swap(i, j);
            }
            payload.labels = Some(labels[..wanted].to_vec());
        }
        _ => {}
    }
    let jitter = mutable.below(5) as i64 - 2;
    let seconds = i64::try_from(row).unwrap_or(i64::MAX / 2) + jitter;
    let created_at = (spec.t0 + TimeDelta::seconds(seconds)).format("%Y-%m-%dT%H:%M:%SZ");
    Event {
        id: (ID_OFFSET + id).to_string(),
        kind,
        created_at: created_at.to_string(),
        actor: Actor {
            id: actor_id,
            url: format!("https://api.github.com/users/{login}"),
            login,
        },
        repo: Repo {
            id: repo_id,
            name: format!("org{}/repo{repo_id}", repo_id % 500),
        },
        payload,
        public: mutable.chance(0.95),
    }
}

fn commit(rng: &mut Rng) -> Commit {
    let name = format!("dev{}", rng.below(10_000));
    let message = if rng.chance(0.02) {
        AWKWARD.to_owned()
    } else {
        let words = rng.between(2, 9);
        (0..words)
            .map(|_| rng.pick(&WORDS))
            .collect::<Vec<_>>()
            .join(" ")
    };
    Commit {
        sha: rng.hex_sha(),
        message,
        author: Author {
            email: format!("{name}@example.com"),
            name,
        },
        distinct: rng.chance(0.9),
    }
}

/// Writes the events of `spec` as JSON Lines to `path`, through a temporary file renamed at the end (so an
/// interrupted run leaves no partial file behind under the final name). The file is synced, so that its
/// writeback does not overlap the timed loads.
pub fn write_jsonl(spec: &FileSpec, path: &Path) -> io::Result<()> {
    let tmp = path.with_extension("jsonl.partial");
    let mut out = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
    for event in spec.events() {
        serde_json::to_writer(&mut out, &event)?;
        out.write_all(b"\n")?;
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// The three tables dlt makes of the events.
pub const TABLES: [&str; 3] = [
    "events",
    "events__payload__commits",
    "events__payload__labels",
];

/// Writes the events of `spec` into `dir` as `events.csv`, `events__payload__commits.csv` and
/// `events__payload__labels.csv`: dlt's tables and column names (nested objects joined with `__`, lists in child
/// tables with `_dlt_parent_id`, `_dlt_root_id`, `_dlt_list_idx`), a header line naming the columns, and an
/// unquoted empty field for NULL. `_dlt_id` is a deterministic 16-hex-digit stand-in for dlt's random id.
/// Written into `<dir>.partial` and renamed at the end.
pub fn write_csvs(spec: &FileSpec, dir: &Path) -> io::Result<()> {
    let tmp = PathBuf::from(format!("{}.partial", dir.display()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    std::fs::create_dir_all(&tmp)?;
    let open = |table: &str| -> io::Result<BufWriter<File>> {
        Ok(BufWriter::with_capacity(
            1 << 20,
            File::create(tmp.join(format!("{table}.csv")))?,
        ))
    };
    let [mut events, mut commits, mut labels] =
        [open(TABLES[0])?, open(TABLES[1])?, open(TABLES[2])?];
    events.write_all(
        b"id,type,created_at,public,payload__ref,payload__size,repo__id,repo__name,actor__id,actor__login,\
actor__url,_dlt_load_id,_dlt_id,payload__action,payload__number,payload__push_id,payload__head\n",
    )?;
    commits.write_all(
        b"sha,message,distinct,author__name,author__email,_dlt_root_id,_dlt_parent_id,_dlt_list_idx,_dlt_id\n",
    )?;
    labels.write_all(b"value,_dlt_root_id,_dlt_parent_id,_dlt_list_idx,_dlt_id\n")?;

    let load_id = format!("{}.{:06}", spec.t0.timestamp(), spec.seed);
    let row_id = |id: u64, table: u64, index: usize| {
        // Distinct inputs (the id shifted past the table and list index bits) give distinct outputs, as `mix`
        // is a bijection; the seed makes a repeated event's rows new rows.
        let key =
            (id << 8 | table << 4 | index as u64) ^ spec.seed.wrapping_mul(0xA076_1D64_78BD_642F);
        format!("{:016x}", mix(key))
    };
    let mut line = CsvLine::default();
    for (row, event) in spec.events().enumerate() {
        let id = spec.first_id + row as u64;
        let root_id = row_id(id, 0, 0);
        let p = &event.payload;
        line.text(&event.id)
            .text(event.kind)
            .text(&event.created_at)
            .bool(event.public)
            .text(&p.git_ref)
            .int(p.size)
            .int(event.repo.id)
            .text(&event.repo.name)
            .int(event.actor.id)
            .text(&event.actor.login)
            .text(&event.actor.url)
            .text(&load_id)
            .text(&root_id)
            .opt_text(p.action)
            .opt_int(p.number)
            .opt_int(p.push_id)
            .opt_text(p.head.as_deref());
        line.finish(&mut events)?;
        for (index, c) in p.commits.iter().flatten().enumerate() {
            line.text(&c.sha)
                .text(&c.message)
                .bool(c.distinct)
                .text(&c.author.name)
                .text(&c.author.email)
                .text(&root_id)
                .text(&root_id)
                .int(index as i64)
                .text(&row_id(id, 1, index));
            line.finish(&mut commits)?;
        }
        for (index, label) in p.labels.iter().flatten().enumerate() {
            line.text(label)
                .text(&root_id)
                .text(&root_id)
                .int(index as i64)
                .text(&row_id(id, 2, index));
            line.finish(&mut labels)?;
        }
    }
    for out in [events, commits, labels] {
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::rename(&tmp, dir)
}

/// One CSV line being built; fields are appended in column order.
#[derive(Default)]
struct CsvLine {
    text: String,
    fields: usize,
}

impl CsvLine {
    fn separator(&mut self) {
        if self.fields > 0 {
            self.text.push(',');
        }
        self.fields += 1;
    }

    /// A text field, quoted when it is empty (an unquoted empty field is NULL) or holds a separator, quote or
    /// line break.
    fn text(&mut self, value: &str) -> &mut Self {
        self.separator();
        if value.is_empty() || value.contains([',', '"', '\n', '\r']) {
            self.text.push('"');
            self.text.push_str(&value.replace('"', "\"\""));
            self.text.push('"');
        } else {
            self.text.push_str(value);
        }
        self
    }

    fn opt_text(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            Some(value) => self.text(value),
            None => self.null(),
        }
    }

    fn int(&mut self, value: i64) -> &mut Self {
        self.separator();
        self.text.push_str(&value.to_string());
        self
    }

    fn opt_int(&mut self, value: Option<i64>) -> &mut Self {
        match value {
            Some(value) => self.int(value),
            None => self.null(),
        }
    }

    fn bool(&mut self, value: bool) -> &mut Self {
        self.separator();
        self.text.push_str(if value { "true" } else { "false" });
        self
    }

    /// NULL: an unquoted empty field.
    fn null(&mut self) -> &mut Self {
        self.separator();
        self
    }

    /// Writes the line and starts the next one.
    fn finish(&mut self, out: &mut impl Write) -> io::Result<()> {
        self.text.push('\n');
        out.write_all(self.text.as_bytes())?;
        self.text.clear();
        self.fields = 0;
        Ok(())
    }
}
