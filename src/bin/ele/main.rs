//! The `ele` command-line tool: load JSON Lines files into PostgreSQL with the full runtime, and manage
//! pipelines (info, state, schema, drop, reset, sync) as dlt's `dlt pipeline` command does.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use ele::config::{Config, POSTGRES_CREDENTIALS};
use ele::destination::{Destination, LoadOutcome, Restored};
use ele::prelude::*;
use ele::{FnResource, IncrementalConfig, Key};
use futures::future::BoxFuture;
use serde_json::Value;

mod deploy;
mod progress;

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
}

#[derive(Args)]
struct LoadArgs {
    /// JSON Lines files, read in order; `-` reads standard input.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Table to load into (also the resource name).
    #[arg(long)]
    table: String,
    /// Primary key column(s), comma-separated: `id` or `id,url`.
    #[arg(long)]
    primary_key: Option<String>,
    /// Merge key column(s), comma-separated.
    #[arg(long)]
    merge_key: Option<String>,
    /// How rows are written: append (the default), replace, or merge (implied by `--merge-strategy`).
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
    /// Schema contract (dlt's `schema_contract`): one mode, `evolve`, `freeze`, `discard_row` or
    /// `discard_value`, or JSON with a mode per entity, e.g. `{"columns": "freeze", "data_type": "discard_value"}`
    /// (`tables`, `columns`, `data_type`; entities left out evolve). Without it, the contract stored with the table.
    #[arg(long, value_name = "MODE|JSON", value_parser = parse_schema_contract)]
    schema_contract: Option<ele::SchemaContract>,
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
    /// Working dir, dataset, destination, state version, last load, pending packages, tables (local, no
    /// connection).
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
            eprintln!("error: {}", chain(&error));
            // A connection refused for its settings (TLS: an untrusted certificate, a host name mismatch, TLS
            // required or unsupported) is a configuration error too: retrying cannot help.
            let connection_settings =
                matches!(&error, Error::Config(m) if m.starts_with("cannot connect to "));
            if usage || connection_settings {
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

/// The error with its causes, `a: b: c`, skipping causes already spelled out by the message.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
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
                println!("stopped the local PostgreSQL instance in {}", dir.display());
            } else {
                println!("no local PostgreSQL instance runs in {}", dir.display());
            }
            Ok(())
        }
        Command::Deploy { command } => deploy::run(command).map_err(usage),
    }
}

/// The destination: `--local`, else `destination.postgres.credentials` from `--destination`, the environment,
/// `.ele/secrets.toml` or `.ele/config.toml`. None of them is an error naming every place looked at.
async fn destination(args: &DestinationArgs) -> Result<Postgres, Failure> {
    let pg = configured_destination(args).await?;
    match &args.staging {
        Some(staging) => Ok(pg.staging(staging.parse().map_err(usage)?)),
        None => Ok(pg),
    }
}

/// The destination without `--staging`.
async fn configured_destination(args: &DestinationArgs) -> Result<Postgres, Failure> {
    if args.local {
        return Ok(Postgres::local().await?);
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
    let destination = destination(&args.destination).await?;
    let disposition: WriteDisposition = match (&args.write_disposition, &args.merge_strategy) {
        (None, Some(_)) => WriteDisposition::Merge,
        (None, None) => WriteDisposition::Append,
        (Some(d), _) => d.parse().map_err(usage)?,
    };
    if args.merge_strategy.is_some() && disposition != WriteDisposition::Merge {
        return Err(usage(ele::Error::config(format!(
            "--merge-strategy needs --write-disposition merge, not {disposition}"
        ))));
    }
    let pipeline_name = args.pipeline.clone().unwrap_or_else(|| args.table.clone());
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

    let files = args.files.clone();
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
    let mut resource = FnResource::new(args.table.clone(), move |out: Emit<Value>| async move {
        if let Some(config) = incremental {
            out.bind_incremental::<Value>(config, None)?;
        }
        ele::jsonl::read_files(files, out).await
    })
    .write_disposition(disposition);
    if let Some(pk) = &args.primary_key {
        resource = resource.primary_key(Key::parse_list(pk));
    }
    if let Some(mk) = &args.merge_key {
        resource = resource.merge_key(Key::parse_list(mk));
    }
    if let Some(strategy) = &args.merge_strategy {
        resource = resource.merge_strategy(strategy.parse().map_err(usage)?);
    }
    if let Some(column) = &args.hard_delete {
        resource = resource.hard_delete(column);
    }
    if let Some(spec) = &args.dedup_sort {
        let (column, order) = match spec.rsplit_once(':') {
            Some((column, order)) => (column, order.parse().map_err(usage)?),
            None => (spec.as_str(), ele::SortOrder::Desc),
        };
        resource = resource.dedup_sort(column, order);
    }
    if let Some(contract) = args.schema_contract {
        resource = resource.schema_contract(contract);
    }
    let info = pipeline.run(resource).await?;
    progress.finish();
    print!("{info}");
    Ok(())
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
            print!("{}", local.info()?);
            return Ok(());
        }
        PipelineCommand::State => {
            let state = stored.ok_or_else(no_state)?;
            println!(
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
            println!(
                "{}",
                serde_json::to_string_pretty(&schema).map_err(Error::from)?
            );
            return Ok(());
        }
        PipelineCommand::Drop { .. } | PipelineCommand::Reset { .. } | PipelineCommand::Sync => {}
    }
    // The dataset of the stored state unless given: the pipeline may have been loaded with `--dataset`.
    let dataset = args
        .dataset
        .clone()
        .or_else(|| stored.map(|s| s.dataset_name));
    let pipeline = build(
        dataset.as_ref(),
        Some(destination(&args.destination).await?),
    )?;
    match &args.command {
        PipelineCommand::Drop { resources } => {
            print!("{}", pipeline.drop_resources(resources).await?)
        }
        PipelineCommand::Reset { resource } => {
            print!("{}", pipeline.reset_incremental(resource).await?)
        }
        PipelineCommand::Sync => print!("{}", pipeline.sync().await?),
        PipelineCommand::Info | PipelineCommand::State | PipelineCommand::Schema => {}
    }
    Ok(())
}

/// A value given on the command line: a JSON number is a number, anything else is text.
fn cli_value(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Number(_)) => v,
        _ => Value::String(text.to_owned()),
    }
}
