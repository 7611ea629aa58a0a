//! `ele deploy airflow`: the command line of [`ele::deploy::AirflowDag`].

use std::path::PathBuf;

use clap::{Args, Subcommand};
use ele::Error;
use ele::deploy::{AirflowDag, Credentials, Decompose, shell_word};

#[derive(Subcommand)]
pub(crate) enum DeployCommand {
    /// Write an Airflow DAG file running a pipeline program once per data interval: the interval goes to the
    /// program in ELE_INTERVAL_START/ELE_INTERVAL_END, the credentials come from an Airflow connection or
    /// variable when the task runs (never written into the file).
    Airflow(Box<AirflowArgs>),
}

#[derive(Args)]
pub(crate) struct AirflowArgs {
    /// The pipeline program (a binary reading `ele::RunArgs`): a path, or a name on the workers' PATH.
    binary: String,
    /// Arguments given to the program before ele's flags.
    #[arg(last = true)]
    args: Vec<String>,
    /// The DAG id; the pipeline name (else the program's file name) by default.
    #[arg(long)]
    dag_id: Option<String>,
    /// `--pipeline` for the program: a second name lets two DAGs of one program run side by side.
    #[arg(long)]
    pipeline: Option<String>,
    /// `--dataset` for the program.
    #[arg(long)]
    dataset: Option<String>,
    /// Resources to run, comma-separated (one task each with `--decompose serialize`).
    #[arg(long, value_delimiter = ',')]
    resources: Vec<String>,
    /// `serialize`: one task per resource, chained; `none`: one task.
    #[arg(long, default_value = "serialize", value_parser = ["serialize", "none"])]
    decompose: String,
    /// A preset (@hourly, @daily, @weekly, @monthly), a cron expression, or None.
    #[arg(long, default_value = "@daily")]
    schedule: String,
    /// Start of the first data interval: 2023-02-01 or 2023-02-01T06:00:00Z (UTC).
    #[arg(long)]
    start_date: String,
    /// No run whose data interval starts after this date (the last interval may end after it).
    #[arg(long)]
    end_date: Option<String>,
    /// Create a run for every interval since the start date (a backfill).
    #[arg(long)]
    catchup: bool,
    /// Runs of the DAG at the same time.
    #[arg(long, default_value_t = 1)]
    max_active_runs: u32,
    /// Retries of a failed task (a failed load commits nothing, so retrying is safe).
    #[arg(long, default_value_t = 0)]
    retries: u32,
    /// Minutes between retries.
    #[arg(long, default_value_t = 5)]
    retry_delay_minutes: u32,
    /// Airflow trigger rule of every task after the first (e.g. all_done to run the next resource even when
    /// one failed); Airflow's all_success by default.
    #[arg(long)]
    trigger_rule: Option<String>,
    /// Airflow connection holding the PostgreSQL credentials: `{{ conn.ID.get_uri() }}`.
    #[arg(
        long,
        required_unless_present = "variable",
        conflicts_with = "variable"
    )]
    connection: Option<String>,
    /// Airflow variable holding a PostgreSQL connection string: `{{ var.value.NAME }}`.
    #[arg(long)]
    variable: Option<String>,
    /// ELE_PIPELINES_DIR of the tasks; each task's temporary directory by default (state is restored from
    /// the destination).
    #[arg(long)]
    pipelines_dir: Option<String>,
    /// The DAG file to write; `dags/<dag id>.py` by default (`-` for standard output).
    #[arg(long, short)]
    output: Option<PathBuf>,
}

pub(crate) fn run(command: DeployCommand) -> Result<(), Error> {
    let DeployCommand::Airflow(args) = command;
    let args = *args;
    let dag_id = args
        .dag_id
        .clone()
        .or_else(|| args.pipeline.clone())
        .unwrap_or_else(|| {
            std::path::Path::new(&args.binary)
                .file_stem()
                .map_or_else(|| args.binary.clone(), |s| s.to_string_lossy().into_owned())
        });
    let credentials = match (args.connection, args.variable) {
        (Some(id), _) => Credentials::Connection(id),
        (None, Some(name)) => Credentials::Variable(name),
        (None, None) => {
            return Err(Error::config(
                "pass --connection ID or --variable NAME: where the tasks take the credentials from",
            ));
        }
    };
    let mut dag = AirflowDag::new(dag_id, args.binary, args.start_date, credentials);
    dag.args = args.args;
    dag.pipeline = args.pipeline;
    dag.dataset = args.dataset;
    dag.resources = args
        .resources
        .into_iter()
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .collect();
    dag.decompose = args.decompose.parse::<Decompose>()?;
    dag.schedule = args.schedule;
    dag.end_date = args.end_date;
    dag.catchup = args.catchup;
    dag.max_active_runs = args.max_active_runs;
    dag.retries = args.retries;
    dag.retry_delay_minutes = args.retry_delay_minutes;
    dag.trigger_rule = args.trigger_rule;
    dag.pipelines_dir = args.pipelines_dir;
    dag.command = Some(recorded_command());
    let python = dag.render()?;
    let output = args
        .output
        .unwrap_or_else(|| PathBuf::from("dags").join(format!("{}.py", dag.dag_id)));
    if output.as_os_str() == "-" {
        out!("{python}");
        return Ok(());
    }
    if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::config(format!("cannot create {}: {e}", dir.display())))?;
    }
    std::fs::write(&output, python)
        .map_err(|e| Error::config(format!("cannot write {}: {e}", output.display())))?;
    outln!(
        "wrote the Airflow DAG `{}` to {}: put it in the DAGs folder, install the program on the workers and \
         create the Airflow {}",
        dag.dag_id,
        output.display(),
        match &dag.credentials {
            Credentials::Connection(id) =>
                format!("connection `{id}` (the PostgreSQL destination)"),
            Credentials::Variable(name) =>
                format!("variable `{name}` (a PostgreSQL connection string)"),
        }
    );
    Ok(())
}

/// This command line as a user would type it (`ele deploy airflow ...`), for the DAG file's header.
fn recorded_command() -> String {
    std::iter::once("ele".to_owned())
        .chain(std::env::args().skip(1).map(|a| shell_word(&a)))
        .collect::<Vec<_>>()
        .join(" ")
}
