//! The `ele` command-line tool: load JSON Lines files into PostgreSQL with the full runtime, and manage
//! pipelines (info, state, schema, drop, reset, sync) as dlt's `dlt pipeline` command does.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use ele::config::{Config, POSTGRES_CREDENTIALS};
use ele::destination::{Destination, LoadOutcome, Restored};
use ele::jsonl::{BadLines, SkippedLines};
use ele::prelude::*;
use ele::{FnResource, IncrementalConfig, Key};
use futures::future::BoxFuture;
use serde_json::Value;

/// `print!` to standard output, ending the program quietly with exit code 0 when the reader has gone
/// (`ele pipeline P state | head`).
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::write_out(format_args!($($arg)*))
    };
}

/// `println!` as [`out!`].
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod deploy;
mod progress;
mod stored;

use progress::Progress;

/// mimalloc instead of the system allocator: normalizing allocates and frees many small strings and maps, and
/// frees them on other threads than the ones that allocated them, where glibc's allocator is slow.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EXIT_CODES: &str = "\
Exit codes:
  0   success
  1   the run failed (a failed load commits nothing: running it again is safe)
  2   usage or configuration error (bad arguments, no destination, invalid credentials or config files, TLS)
  75  the destination could not be reached or failed transiently (retry later)

Configuration (first found wins): flags, environment variables with `__` between sections
(DESTINATION__POSTGRES__CREDENTIALS), .ele/secrets.toml, .ele/config.toml ([destination.postgres] credentials).
Logs: RUST_LOG (e.g. RUST_LOG=info or RUST_LOG=ele_core=debug) on standard error.";

/// Declarative, incremental data loading into PostgreSQL.
#[derive(Parser)]
#[command(name = "ele", version, about, after_help = EXIT_CODES)]
struct Cli {
    /// No progress output on standard error (errors and warnings still show).
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load JSON Lines files (`-` for standard input, `.gz` accepted) into a table.
    Load(Box<LoadArgs>),
    /// Inspect and manage a pipeline: its state, schema and tables.
    Pipeline(Box<PipelineArgs>),
    /// The managed local PostgreSQL instance under `.ele/postgres`.
    Local {
        #[command(subcommand)]
        command: LocalCommand,
    },
    /// Write the files that run a pipeline program under an orchestrator.
    Deploy {
        #[command(subcommand)]
        command: deploy::DeployCommand,
    },
}

#[derive(Subcommand)]
enum LocalCommand {
    /// Stop the managed local instance.
    Stop,
}

/// Where the data goes.
#[derive(Args, Clone, Default)]
struct DestinationArgs {
    /// PostgreSQL connection string, e.g. postgresql://user:password@host:5432/db. Without it:
    /// `destination.postgres.credentials` from DESTINATION__POSTGRES__CREDENTIALS, .ele/secrets.toml or
    /// .ele/config.toml.
    #[arg(long, global = true, conflicts_with = "local")]
    destination: Option<String>,
    /// Use the managed local PostgreSQL instance under `.ele/postgres` (started if needed).
    #[arg(long, global = true)]
    local: bool,
    /// Where merges and replaces stage their rows: `temp` (temp tables; the default, and the staging schema
    /// when the role has no TEMPORARY privilege) or `schema` (`<dataset>_staging`). Without it:
    /// `destination.postgres.staging`.
    #[arg(long, global = true, value_parser = ["temp", "schema"])]
    staging: Option<String>,
    /// How a replace puts its rows into the tables, all within the load transaction (readers see the old rows
    /// or the new, never an empty table): `truncate-and-insert` (the default: TRUNCATE, then COPY; readers wait
    /// for the COPY), `insert-from-staging` (COPY into staging tables, then TRUNCATE and INSERT ... SELECT) or
    /// `staging-optimized` (new tables built in `<dataset>_staging` swapped in; indexes added by hand are lost).
    /// Without it: `destination.postgres.replace_strategy`.
    #[arg(long, global = true, value_parser = ["truncate-and-insert", "insert-from-staging", "staging-optimized"])]
    replace_strategy: Option<String>,
}

#[derive(Args)]
struct LoadArgs {
    /// JSON Lines files, read in order; `-` reads standard input.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Table to load into (also the resource name); by default the input file's name without `.jsonl`,
    /// `.ndjson`, `.json` and `.gz` (`events.jsonl.gz` -> `events`). Required for standard input and several files.
    #[arg(long)]
    table: Option<String>,
    /// Primary key column(s), comma-separated: `id` or `id,url`.
    #[arg(long)]
    primary_key: Option<String>,
    /// Merge key column(s), comma-separated.
    #[arg(long)]
    merge_key: Option<String>,
    /// How rows are written: append, replace, or merge (implied by `--merge-strategy`). Without it a stored table
    /// keeps its own (and a merge its keys and strategy, where their flags are not given); a new one appends.
    #[arg(long, value_parser = ["append", "replace", "merge"])]
    write_disposition: Option<String>,
    /// How a merge writes rows.
    #[arg(long, value_parser = ["delete-insert", "upsert", "insert-only", "scd2"])]
    merge_strategy: Option<String>,
    /// Column flagging a deleted row: `true` (or, for non-boolean columns, any value) deletes its key.
    #[arg(long)]
    hard_delete: Option<String>,
    /// Which duplicate of a primary key in one load is kept: `column` (highest wins) or `column:asc`.
    #[arg(long)]
    dedup_sort: Option<String>,
    /// Column hints in dlt's dict form, e.g. '{"amount": {"data_type": "decimal", "precision": 12, "scale": 2},
    /// "note": {"nullable": false}}': data_type (text, bigint, double, bool, timestamp, date, time, decimal, wei,
    /// binary, json), nullable, precision, scale, timezone, unique, primary_key, merge_key, hard_delete,
    /// dedup_sort, partition, cluster, sort, x-... Hinted columns come first in the table.
    #[arg(long, value_name = "JSON")]
    columns: Option<String>,
    /// Schema contract (dlt's `schema_contract`): one mode, `evolve`, `freeze`, `discard_row` or
    /// `discard_value`, or JSON with a mode per entity, e.g. `{"columns": "freeze", "data_type": "discard_value"}`
    /// (`tables`, `columns`, `data_type`; entities left out evolve). Without it, the contract stored with the table.
    #[arg(long, value_name = "MODE|JSON", value_parser = parse_schema_contract)]
    schema_contract: Option<ele::SchemaContract>,
    /// Before loading, in the load transaction (dlt's `refresh`): `drop_resources` drops the table (and its
    /// child tables) and its incremental state, `drop_data` empties them and wipes that state, `drop_sources`
    /// drops every table of the pipeline and all its state.
    #[arg(long, value_parser = ["drop_sources", "drop_resources", "drop_data"])]
    refresh: Option<String>,
    /// Cursor of an incremental load: a field, a nested path `a.b`, or a JSONPath `$.a.b`.
    #[arg(long)]
    cursor: Option<String>,
    /// Initial value of the cursor (inclusive); a JSON number is a number, anything else text.
    #[arg(long, requires = "cursor")]
    initial_value: Option<String>,
    /// End value of the cursor (exclusive); makes the run a stateless backfill.
    #[arg(long, requires = "cursor")]
    end_value: Option<String>,
    /// Re-load a window behind the last value: seconds for date-times, days for dates, units for numbers.
    #[arg(long, requires = "cursor")]
    lag: Option<f64>,
    /// Lines that are not JSON: `fail` the run (the default, nothing is loaded), `skip` them, or append them to
    /// a file (any other value) and load the rest; skipped lines are counted and reported.
    #[arg(long, value_name = "fail|skip|FILE")]
    bad_lines: Option<String>,
    /// Pipeline name (working dir and state); the table name by default.
    #[arg(long)]
    pipeline: Option<String>,
    /// Dataset (PostgreSQL schema); `<pipeline>_dataset` by default.
    #[arg(long)]
    dataset: Option<String>,
    #[command(flatten)]
    destination: DestinationArgs,
    /// Folder of pipeline working dirs; `$ELE_PIPELINES_DIR` or `.ele/pipelines` by default.
    #[arg(long)]
    pipelines_dir: Option<PathBuf>,
}

#[derive(Args)]
struct PipelineArgs {
    /// The pipeline name.
    name: String,
    #[command(subcommand)]
    command: PipelineCommand,
    /// Dataset (PostgreSQL schema); the one in the pipeline's state, else `<pipeline>_dataset`.
    #[arg(long, global = true)]
    dataset: Option<String>,
    #[command(flatten)]
    destination: DestinationArgs,
    /// Folder of pipeline working dirs; `$ELE_PIPELINES_DIR` or `.ele/pipelines` by default.
    #[arg(long, global = true)]
    pipelines_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum PipelineCommand {
    /// Working dir, dataset, destination, state version, last load, pending packages, tables (with the rows
    /// each holds at the destination when one is given or configured).
    Info,
    /// The pipeline state as JSON (local).
    State,
    /// The stored schema as JSON (local).
    Schema,
    /// Drop resources: their tables in the destination and their state, committed in one transaction.
    Drop {
        /// Resources to drop.
        #[arg(required = true)]
        resources: Vec<String>,
    },
    /// Reset the incremental state of all resources (or of `--resource`), so the next run starts from the
    /// initial values; tables and rows stay.
    Reset {
        /// Only this resource (repeatable).
        #[arg(long)]
        resource: Vec<String>,
    },
    /// Restore state and schema from the destination into the working dir, replacing the local ones.
    Sync,
    /// Discard the load packages waiting to be loaded (their rows are not loaded, their state not committed).
    DropPendingPackages,
}

/// A failure with the exit code it maps to.
struct Failure {
    error: Error,
    usage: bool,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure {
            error,
            usage: false,
        }
    }
}

/// A usage or configuration error (exit code 2).
fn usage(error: Error) -> Failure {
    Failure { error, usage: true }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let progress = Progress::new(!cli.quiet);
    init_tracing(progress.clone());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli, progress.clone()));
    progress.finish();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure { error, usage }) => {
            eprintln!("error: {}", error.with_causes());
            if usage || error.is_config() {
                ExitCode::from(2)
            } else if error.is_transient() {
                ExitCode::from(75)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Logs from `RUST_LOG` (warnings by default) on standard error, written around the live progress line.
fn init_tracing(progress: Progress) {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let logs = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(move || progress.log_writer())
        .with_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        );
    tracing_subscriber::registry().with(logs).init();
}

async fn run(cli: Cli, progress: Progress) -> Result<(), Failure> {
    match cli.command {
        Command::Load(args) => load(*args, progress).await,
        Command::Pipeline(args) => pipeline_command(*args).await,
        Command::Local {
            command: LocalCommand::Stop,
        } => {
            let dir = ele::postgres::local_dir();
            let stopped = ele::postgres::local::LocalCluster::stop_managed(&dir)
                .map_err(|e| Error::config(format!("cannot stop the local instance: {e}")))?;
            if stopped {
                outln!("stopped the local PostgreSQL instance in {}", dir.display());
            } else {
                outln!("no local PostgreSQL instance runs in {}", dir.display());
            }
            Ok(())
        }
        Command::Deploy { command } => deploy::run(command).map_err(usage),
    }
}

/// The destination: `--local`, else `destination.postgres.credentials` from `--destination`, the environment,
/// `.ele/secrets.toml` or `.ele/config.toml`. None of them is an error naming every place looked at.
async fn destination(args: &DestinationArgs) -> Result<Postgres, Failure> {
    let mut pg = configured_destination(args).await?;
    if let Some(staging) = &args.staging {
        pg = pg.staging(staging.parse().map_err(usage)?);
    }
    if let Some(strategy) = &args.replace_strategy {
        pg = pg.replace_strategy(strategy.parse().map_err(usage)?);
    }
    Ok(pg)
}

/// The destination without `--staging` and `--replace-strategy`.
async fn configured_destination(args: &DestinationArgs) -> Result<Postgres, Failure> {
    if args.local {
        let pg = Postgres::local().await?;
        eprintln!("{}", pg.local_notice(&ele::postgres::local_dir()));
        return Ok(pg);
    }
    let mut config = Config::load().map_err(usage)?;
    if let Some(url) = &args.destination {
        config.set(&POSTGRES_CREDENTIALS, url.as_str());
    }
    if !Postgres::is_configured(&config) {
        return Err(usage(Error::config(format!(
            "no destination: pass --destination postgresql://user:password@host:port/database, or --local for \
             the managed local instance, or configure `{}`; looked in: the --destination flag, {}",
            POSTGRES_CREDENTIALS.join("."),
            config.places(&POSTGRES_CREDENTIALS).join(", ")
        ))));
    }
    Postgres::from_config(&config).map_err(usage)
}

async fn load(args: LoadArgs, progress: Progress) -> Result<(), Failure> {
    // A missing or unreadable input file is a bad argument: said before connecting anywhere (and before the
    // managed local instance starts).
    let check_files = || -> Result<(), Failure> {
        for file in args.files.iter().filter(|f| f.as_os_str() != "-") {
            if let Err(e) = std::fs::File::open(file) {
                return Err(usage(Error::io("cannot read input file", file, e)));
            }
        }
        Ok(())
    };
    if args.destination.local {
        check_files()?;
    }
    let destination = destination(&args.destination).await?;
    check_files()?;
    let stated = stored::Stated {
        disposition: match (&args.write_disposition, &args.merge_strategy) {
            (None, Some(_)) => Some(WriteDisposition::Merge),
            (None, None) => None,
            (Some(d), _) => Some(d.parse().map_err(usage)?),
        },
        strategy: args.merge_strategy.is_some(),
        primary_key: args.primary_key.is_some(),
        merge_key: args.merge_key.is_some(),
        hard_delete: args.hard_delete.is_some(),
        dedup_sort: args.dedup_sort.is_some(),
    };
    if let Some(disposition) = stated.disposition
        && args.merge_strategy.is_some()
        && disposition != WriteDisposition::Merge
    {
        return Err(usage(ele::Error::config(format!(
            "--merge-strategy needs --write-disposition merge, not {disposition}"
        ))));
    }
    let refresh: Option<ele::RefreshMode> = args
        .refresh
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(usage)?;
    let table = match &args.table {
        Some(table) => table.clone(),
        None => table_from_file_name(&args.files).map_err(usage)?,
    };
    let columns = args
        .columns
        .as_deref()
        .map(|text| {
            ele::ColumnHints::from_json_str(text).map_err(|e| {
                usage(ele::Error::config(format!(
                    "--columns: {}",
                    config_message(e)
                )))
            })
        })
        .transpose()?;
    let pipeline_name = args.pipeline.clone().unwrap_or_else(|| table.clone());
    let mut builder = Pipeline::builder(&pipeline_name).destination(destination);
    if let Some(dataset) = &args.dataset {
        builder = builder.dataset_name(dataset);
    }
    if let Some(dir) = &args.pipelines_dir {
        builder = builder.pipelines_dir(dir);
    }
    if progress.enabled() {
        builder = builder.progress(progress.observer());
    }
    let pipeline = builder.build().map_err(usage)?;
    // Hints no flag states come from the stored table (dlt keeps them), unless the refresh drops the table.
    let mut taken = stored::Taken::default();
    if stated.may_take() && matches!(refresh, None | Some(ele::RefreshMode::DropData)) {
        let local = pipeline.stored_schema()?;
        let schema = pipeline.current_schema().await?;
        taken = stored::take(&schema, &table, &stated);
        if let Some(what) = taken.describe() {
            let origin = match local {
                Some(l) if l.version == schema.version => "in the working dir",
                _ => "at the destination",
            };
            outln!("table {table}: {what}, as stored {origin}");
        }
    }
    let disposition = stated
        .disposition
        .or(taken.disposition)
        .unwrap_or(WriteDisposition::Append);

    let files = args.files.clone();
    let bad_lines = match args.bad_lines.as_deref() {
        None | Some("fail") => BadLines::Fail,
        Some("skip") => BadLines::Skip,
        Some(file) => BadLines::DeadLetter(PathBuf::from(file)),
    };
    let dead_letters = match &bad_lines {
        BadLines::DeadLetter(file) => Some(file.clone()),
        _ => None,
    };
    let skipped = std::sync::Arc::new(std::sync::Mutex::new(SkippedLines::default()));
    let skipped_by_reader = skipped.clone();
    let incremental = args.cursor.as_ref().map(|cursor| {
        let mut config = IncrementalConfig::new().cursor_path(cursor);
        if let Some(v) = &args.initial_value {
            config = config.initial_value(cli_value(v));
        }
        if let Some(v) = &args.end_value {
            config = config.end_value(cli_value(v));
        }
        if let Some(lag) = args.lag {
            config = config.lag(lag);
        }
        config
    });
    let mut resource = FnResource::new(table, move |out: Emit<Value>| async move {
        if let Some(config) = incremental {
            out.bind_incremental::<Value>(config, None)?;
        }
        ele::jsonl::read_files_with(files, out, bad_lines, skipped_by_reader).await
    })
    .write_disposition(disposition);
    if let Some(pk) = &args.primary_key {
        resource = resource.primary_key(Key::parse_list(pk));
    } else if !taken.primary_key.is_empty() {
        resource = resource.primary_key(taken.primary_key);
    }
    if let Some(mk) = &args.merge_key {
        resource = resource.merge_key(Key::parse_list(mk));
    } else if !taken.merge_key.is_empty() {
        resource = resource.merge_key(taken.merge_key);
    }
    if let Some(strategy) = &args.merge_strategy {
        resource = resource.merge_strategy(strategy.parse().map_err(usage)?);
    } else if let Some(strategy) = taken.strategy {
        resource = resource.merge_strategy(strategy);
    }
    if let Some(column) = &args.hard_delete {
        resource = resource.hard_delete(column);
    } else if let Some(column) = &taken.hard_delete {
        resource = resource.hard_delete(column);
    }
    if let Some((column, order)) = &taken.dedup_sort {
        resource = resource.dedup_sort(column, *order);
    }
    if let Some(spec) = &args.dedup_sort {
        let (column, order) = match spec.rsplit_once(':') {
            Some((column, order)) => (column, order.parse().map_err(usage)?),
            None => (spec.as_str(), ele::SortOrder::Desc),
        };
        resource = resource.dedup_sort(column, order);
    }
    if let Some(columns) = columns {
        resource = resource.columns(columns);
    }
    if let Some(contract) = args.schema_contract {
        resource = resource.schema_contract(contract);
    }
    let mut run = pipeline.run(resource);
    if let Some(mode) = refresh {
        run = run.refresh(mode);
    }
    let info = run.await?;
    progress.finish();
    out!("{info}");
    let skipped = skipped
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    if skipped.count > 0 {
        let more = skipped.count.saturating_sub(skipped.first.len() as u64);
        eprintln!(
            "warning: skipped {} line(s) that are not JSON{}:\n  {}{}",
            skipped.count,
            dead_letters
                .map(|file| format!(", appended to `{}`", file.display()))
                .unwrap_or_default(),
            skipped.first.join("\n  "),
            if more > 0 {
                format!("\n  ... and {more} more")
            } else {
                String::new()
            }
        );
    }
    Ok(())
}

/// The table `ele load` names after its one input file: `events.jsonl.gz` -> `events`.
fn table_from_file_name(files: &[PathBuf]) -> Result<String, Error> {
    let [file] = files else {
        return Err(Error::config(
            "--table is needed when loading several files: name the table they go to",
        ));
    };
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|_| file.as_os_str() != "-")
        .ok_or_else(|| {
            Error::config(
                "--table is needed when reading standard input: name the table it goes to",
            )
        })?;
    let name = name.strip_suffix(".gz").unwrap_or(name);
    let name = [".jsonl", ".ndjson", ".json"]
        .iter()
        .find_map(|ext| name.strip_suffix(ext))
        .unwrap_or(name);
    if name.is_empty() {
        return Err(Error::config(format!(
            "cannot name a table after `{}`: pass --table",
            file.display()
        )));
    }
    Ok(name.to_owned())
}

/// The message of a configuration error, without the "configuration error: " its display starts with.
fn config_message(e: ele::Error) -> String {
    match e {
        ele::Error::Config(message) => message,
        other => other.to_string(),
    }
}

/// `--schema-contract MODE|JSON` (a usage error names the wrong mode or entity).
fn parse_schema_contract(text: &str) -> Result<ele::SchemaContract, String> {
    ele::SchemaContract::parse(text).map_err(|e| match e {
        Error::Config(message) => message,
        other => other.to_string(),
    })
}

/// A stand-in destination for the commands that only read the working dir.
struct Offline;

impl Destination for Offline {
    fn kind(&self) -> &'static str {
        "none"
    }

    fn location(&self) -> String {
        "no destination".to_owned()
    }

    fn restore<'a>(
        &'a self,
        _dataset: &'a str,
        _pipeline_name: &'a str,
        _schema_name: &'a str,
    ) -> BoxFuture<'a, ele::Result<Restored>> {
        Box::pin(async { Err(Error::config("this command needs a destination")) })
    }

    fn load<'a>(
        &'a self,
        _package: &'a ele_core::package::LoadPackage,
    ) -> BoxFuture<'a, ele::Result<LoadOutcome>> {
        Box::pin(async { Err(Error::config("this command needs a destination")) })
    }
}

async fn pipeline_command(args: PipelineArgs) -> Result<(), Failure> {
    let build = |dataset: Option<&String>, destination: Option<Postgres>| {
        let builder = Pipeline::builder(&args.name);
        let mut builder = match destination {
            Some(pg) => builder.destination(pg),
            None => builder.destination(Offline),
        };
        if let Some(dataset) = dataset {
            builder = builder.dataset_name(dataset);
        }
        if let Some(dir) = &args.pipelines_dir {
            builder = builder.pipelines_dir(dir);
        }
        builder.build().map_err(usage)
    };
    let local = build(args.dataset.as_ref(), None)?;
    let reads_local = matches!(
        args.command,
        PipelineCommand::Info | PipelineCommand::State | PipelineCommand::Schema
    );
    if reads_local && !local.working_dir().is_dir() {
        return Err(Error::config(format!(
            "no pipeline `{}`: its working dir {} does not exist (pass --pipelines-dir or set ELE_PIPELINES_DIR \
             if it lives elsewhere, or restore it from the destination with `ele pipeline {} sync`)",
            args.name,
            local.working_dir().display(),
            args.name
        ))
        .into());
    }
    let stored = local.state()?;
    let no_state = || {
        Error::config(format!(
            "pipeline `{}` has no state in {}: run it first, or restore it from the destination with \
             `ele pipeline {} sync`",
            args.name,
            local.working_dir().display(),
            args.name
        ))
    };
    match &args.command {
        PipelineCommand::Info => {
            // With a destination (given, configured, or the local instance it last loaded into), the rows each
            // table holds there now; without one, what the working dir knows.
            let info = match remembered_destination(&args.destination, &local).await? {
                Some(pg) => {
                    let dataset = args
                        .dataset
                        .clone()
                        .or_else(|| stored.as_ref().map(|s| s.dataset_name.clone()));
                    build(dataset.as_ref(), Some(pg))?
                        .info_at_destination()
                        .await?
                }
                None => local.info()?,
            };
            out!("{info}");
            return Ok(());
        }
        PipelineCommand::State => {
            let state = stored.ok_or_else(no_state)?;
            outln!(
                "{}",
                serde_json::to_string_pretty(&state).map_err(Error::from)?
            );
            return Ok(());
        }
        PipelineCommand::Schema => {
            let schema = local.stored_schema()?.ok_or_else(|| {
                Error::config(format!(
                    "pipeline `{}` has no schema in {}: run it first, or restore it from the destination \
                     with `ele pipeline {} sync`",
                    args.name,
                    local.working_dir().display(),
                    args.name
                ))
            })?;
            outln!(
                "{}",
                serde_json::to_string_pretty(&schema).map_err(Error::from)?
            );
            return Ok(());
        }
        PipelineCommand::DropPendingPackages => {
            let dropped = local.drop_pending_packages()?;
            if dropped.is_empty() {
                outln!("No pending load packages");
            } else {
                outln!(
                    "Discarded {} pending load package(s): {}",
                    dropped.len(),
                    dropped.join(", ")
                );
            }
            return Ok(());
        }
        PipelineCommand::Drop { .. } | PipelineCommand::Reset { .. } | PipelineCommand::Sync => {}
    }
    // The dataset of the stored state unless given: the pipeline may have been loaded with `--dataset`.
    let dataset = args
        .dataset
        .clone()
        .or_else(|| stored.map(|s| s.dataset_name));
    let pg = match remembered_destination(&args.destination, &local).await? {
        Some(pg) => pg,
        None => match destination(&args.destination).await {
            Ok(pg) => pg,
            Err(Failure { error, usage }) => {
                // Say where the pipeline last loaded: its credentials are what is missing.
                let error = match local.last_destination()? {
                    Some(last) => Error::config(format!(
                        "{}; pipeline `{}` last loaded into {}: give its credentials",
                        error
                            .to_string()
                            .trim_start_matches("configuration error: "),
                        args.name,
                        last.location
                    )),
                    None => error,
                };
                return Err(Failure { error, usage });
            }
        },
    };
    let mut pipeline = build(dataset.as_ref(), Some(pg.clone()))?;
    // `sync` without a dataset, and no local state naming one: the dataset that holds the pipeline's state.
    if dataset.is_none() && matches!(args.command, PipelineCommand::Sync) {
        let found = pipeline.find_datasets().await?;
        match found.as_slice() {
            [] => {}
            [one] => {
                eprintln!("Found pipeline `{}` in dataset `{one}`", args.name);
                pipeline = build(Some(one), Some(pg))?;
            }
            several => {
                return Err(usage(Error::config(format!(
                    "pipeline `{}` has state in {} datasets: {}; choose one with --dataset",
                    args.name,
                    several.len(),
                    several.join(", ")
                ))));
            }
        }
    }
    match &args.command {
        PipelineCommand::Drop { resources } => {
            out!("{}", pipeline.drop_resources(resources).await?)
        }
        PipelineCommand::Reset { resource } => {
            out!("{}", pipeline.reset_incremental(resource).await?)
        }
        PipelineCommand::Sync => out!("{}", pipeline.sync().await?),
        PipelineCommand::Info
        | PipelineCommand::State
        | PipelineCommand::Schema
        | PipelineCommand::DropPendingPackages => {}
    }
    Ok(())
}

/// The destination of a pipeline command: the one given (`--destination`, `--local`) or configured, else the
/// managed local instance the pipeline last loaded into (no need to repeat `--local`); `None` when there is
/// neither. Only a location is remembered, never credentials.
async fn remembered_destination(
    args: &DestinationArgs,
    pipeline: &Pipeline,
) -> Result<Option<Postgres>, Failure> {
    let configured = args.local
        || args.destination.is_some()
        || Postgres::is_configured(&Config::load().map_err(usage)?);
    if configured {
        return destination(args).await.map(Some);
    }
    match pipeline.last_destination()?.and_then(|l| l.local_instance) {
        Some(dir) => {
            let pg = Postgres::local_at(&dir).await?;
            eprintln!("{}", pg.local_notice(&dir));
            Ok(Some(pg))
        }
        None => Ok(None),
    }
}

/// A value given on the command line: a JSON number is a number, anything else is text.
fn cli_value(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Number(_)) => v,
        _ => Value::String(text.to_owned()),
    }
}

/// Writes to standard output; a closed pipe ends the program with exit code 0 (the reader has what it wanted),
/// any other failure with exit code 1.
fn write_out(text: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(text).and_then(|()| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}
