//! The `ele` command-line tool: load JSON Lines files into PostgreSQL with the full runtime.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use ele::prelude::*;
use ele::{FnResource, IncrementalConfig, Key};
use serde_json::Value;

/// Declarative, incremental data loading into PostgreSQL.
#[derive(Parser)]
#[command(name = "ele", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load JSON Lines files (`-` for standard input, `.gz` accepted) into a table.
    Load(Box<LoadArgs>),
    /// The managed local PostgreSQL instance under `.ele/postgres`.
    Local {
        #[command(subcommand)]
        command: LocalCommand,
    },
}

#[derive(Subcommand)]
enum LocalCommand {
    /// Stop the managed local instance.
    Stop,
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
    /// How rows are written.
    #[arg(long, default_value = "append", value_parser = ["append", "replace", "merge"])]
    write_disposition: String,
    /// Cursor of an incremental load: a field, a nested path `a.b`, or a JSONPath `$.a.b`.
    #[arg(long)]
    cursor: Option<String>,
    /// Initial value of the cursor (inclusive); a JSON number is a number, anything else text.
    #[arg(long, requires = "cursor")]
    initial_value: Option<String>,
    /// End value of the cursor (exclusive); makes the run a stateless backfill.
    #[arg(long, requires = "cursor")]
    end_value: Option<String>,
    /// Pipeline name (working dir and state); the table name by default.
    #[arg(long)]
    pipeline: Option<String>,
    /// Dataset (PostgreSQL schema); `<pipeline>_dataset` by default.
    #[arg(long)]
    dataset: Option<String>,
    /// PostgreSQL connection string, e.g. postgresql://user:password@host:5432/db.
    #[arg(
        long,
        env = "DESTINATION__POSTGRES__CREDENTIALS",
        hide_env_values = true,
        conflicts_with = "local"
    )]
    destination: Option<String>,
    /// Use the managed local PostgreSQL instance under `.ele/postgres` (started if needed).
    #[arg(long)]
    local: bool,
    /// Folder of pipeline working dirs; `$ELE_PIPELINES_DIR` or `.ele/pipelines` by default.
    #[arg(long)]
    pipelines_dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
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
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
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

async fn run(cli: Cli) -> ele::Result<()> {
    match cli.command {
        Command::Load(args) => load(*args).await,
        Command::Local {
            command: LocalCommand::Stop,
        } => {
            let dir = ele::postgres::config::local_dir();
            let stopped = ele::postgres::local::LocalCluster::stop_managed(&dir)
                .map_err(|e| Error::config(format!("cannot stop the local instance: {e}")))?;
            if stopped {
                println!("stopped the local PostgreSQL instance in {}", dir.display());
            } else {
                println!("no local PostgreSQL instance runs in {}", dir.display());
            }
            Ok(())
        }
    }
}

async fn load(args: LoadArgs) -> ele::Result<()> {
    let destination = match (&args.destination, args.local) {
        (Some(url), false) => Postgres::new(url)?,
        (None, true) => Postgres::local().await?,
        _ => {
            return Err(Error::config(
                "no destination: pass --destination postgresql://user:password@host:port/db (or set \
                 DESTINATION__POSTGRES__CREDENTIALS), or --local for the managed local instance",
            ));
        }
    };
    let disposition: WriteDisposition = args.write_disposition.parse()?;
    let pipeline_name = args.pipeline.clone().unwrap_or_else(|| args.table.clone());
    let mut builder = Pipeline::builder(&pipeline_name).destination(destination);
    if let Some(dataset) = &args.dataset {
        builder = builder.dataset_name(dataset);
    }
    if let Some(dir) = &args.pipelines_dir {
        builder = builder.pipelines_dir(dir);
    }
    let pipeline = builder.build()?;

    let files = args.files.clone();
    let incremental = args.cursor.as_ref().map(|cursor| {
        let mut config = IncrementalConfig::new().cursor_path(cursor);
        if let Some(v) = &args.initial_value {
            config = config.initial_value(cli_value(v));
        }
        if let Some(v) = &args.end_value {
            config = config.end_value(cli_value(v));
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
    let info = pipeline.run(resource).await?;
    print!("{info}");
    Ok(())
}

/// A value given on the command line: a JSON number is a number, anything else is text.
fn cli_value(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Number(_)) => v,
        _ => Value::String(text.to_owned()),
    }
}
