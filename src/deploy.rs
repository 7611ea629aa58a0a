//! Deployment to an orchestrator: `ele deploy airflow` writes an Airflow DAG file that runs a pipeline program
//! (a binary reading [`crate::RunArgs`]) once per data interval.
//!
//! Each task runs the binary with `--resources` for its resource (`Decompose::Serialize`: one task per
//! resource, chained) or for all selected ones (`Decompose::None`), and passes through the environment the run's
//! data interval (`ELE_INTERVAL_START={{ data_interval_start }}`, `ELE_INTERVAL_END={{ data_interval_end }}`) and
//! the destination credentials, rendered by Airflow when the task runs from a connection
//! (`{{ conn.<id>.get_uri() }}`) or a variable (`{{ var.value.<name> }}`); no credential is ever written into
//! the file.
//!
//! ```
//! use ele::deploy::{AirflowDag, Credentials, Decompose};
//!
//! let mut dag = AirflowDag::new("zendesk_backfill", "zendesk_pipeline", "2023-02-01", Credentials::Connection("ele_postgres".into()));
//! dag.schedule = "@weekly".into();
//! dag.end_date = Some("2023-08-01".into());
//! dag.catchup = true;
//! dag.resources = vec!["tickets".into(), "ticket_events".into()];
//! dag.decompose = Decompose::Serialize;
//! let python = dag.render()?;
//! assert!(python.contains("tickets >> ticket_events"));
//! # Ok::<(), ele::Error>(())
//! ```

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Timelike, Utc};

use crate::{Error, Result};

/// How a pipeline run maps onto Airflow tasks (dlt's `decompose`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Decompose {
    /// One task per selected resource, each depending on the one before.
    #[default]
    Serialize,
    /// One task running every selected resource.
    None,
}

impl std::str::FromStr for Decompose {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "serialize" => Ok(Decompose::Serialize),
            "none" => Ok(Decompose::None),
            other => Err(Error::config(format!(
                "unknown decompose `{other}`; expected `serialize` or `none`"
            ))),
        }
    }
}

/// Where the task takes the destination credentials from when it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// An Airflow connection id: `{{ conn.<id>.get_uri() }}`.
    Connection(String),
    /// An Airflow variable holding a connection string: `{{ var.value.<name> }}`.
    Variable(String),
}

impl Credentials {
    /// The Jinja template Airflow renders into `DESTINATION__POSTGRES__CREDENTIALS`.
    pub fn template(&self) -> String {
        match self {
            Credentials::Connection(id) => format!("{{{{ conn.{id}.get_uri() }}}}"),
            Credentials::Variable(name) => format!("{{{{ var.value.{name} }}}}"),
        }
    }
}

/// The environment variable the PostgreSQL credentials are passed in (dlt's name).
pub const CREDENTIALS_ENV: &str = "DESTINATION__POSTGRES__CREDENTIALS";

/// An Airflow DAG running a pipeline program; [`AirflowDag::render`] writes its Python file.
#[derive(Debug, Clone)]
pub struct AirflowDag {
    /// The DAG id (letters, digits, `_`, `-`, `.`).
    pub dag_id: String,
    /// The pipeline program: a path, or a name found on the worker's `PATH`.
    pub binary: String,
    /// Arguments given to the program before ele's flags.
    pub args: Vec<String>,
    /// `--pipeline` for the program (its default name when `None`).
    pub pipeline: Option<String>,
    /// `--dataset` for the program (its default when `None`).
    pub dataset: Option<String>,
    /// The resources to run; all of the program's when empty (then only `Decompose::None` is possible).
    pub resources: Vec<String>,
    /// A preset (`@daily`, `@weekly`), a cron expression, or `None` (manual runs only).
    pub schedule: String,
    /// First data interval's start: `2023-02-01` or an RFC 3339 date-time.
    pub start_date: String,
    /// No run after this (same forms).
    pub end_date: Option<String>,
    /// Whether Airflow creates the runs of every interval since `start_date` (a backfill).
    pub catchup: bool,
    /// Runs of the DAG at the same time; 1 keeps one pipeline's runs in order.
    pub max_active_runs: u32,
    /// Retries of a failed task (a failed load commits nothing, so a retry is safe).
    pub retries: u32,
    /// Minutes between retries.
    pub retry_delay_minutes: u32,
    /// Tasks per run.
    pub decompose: Decompose,
    /// Airflow's trigger rule of every task but the first (`all_success` by default).
    pub trigger_rule: Option<String>,
    /// Where the credentials come from.
    pub credentials: Credentials,
    /// `ELE_PIPELINES_DIR` of the tasks (a temporary directory of each task by default: state is restored
    /// from the destination).
    pub pipelines_dir: Option<String>,
    /// The command that generated the file, recorded in its header so it can be regenerated.
    pub command: Option<String>,
}

impl AirflowDag {
    /// A DAG with Airflow's usual defaults: daily, no end, no catchup, one active run, no retries, serialized.
    pub fn new(
        dag_id: impl Into<String>,
        binary: impl Into<String>,
        start_date: impl Into<String>,
        credentials: Credentials,
    ) -> AirflowDag {
        AirflowDag {
            dag_id: dag_id.into(),
            binary: binary.into(),
            args: Vec::new(),
            pipeline: None,
            dataset: None,
            resources: Vec::new(),
            schedule: "@daily".into(),
            start_date: start_date.into(),
            end_date: None,
            catchup: false,
            max_active_runs: 1,
            retries: 0,
            retry_delay_minutes: 5,
            decompose: Decompose::Serialize,
            trigger_rule: None,
            credentials,
            pipelines_dir: None,
            command: None,
        }
    }

    /// One command line (program and arguments) per task, with the task ids, in order.
    pub fn tasks(&self) -> Result<Vec<(String, Vec<String>)>> {
        let mut base = vec![self.binary.clone()];
        base.extend(self.args.iter().cloned());
        if let Some(pipeline) = &self.pipeline {
            base.extend(["--pipeline".to_owned(), pipeline.clone()]);
        }
        if let Some(dataset) = &self.dataset {
            base.extend(["--dataset".to_owned(), dataset.clone()]);
        }
        match self.decompose {
            Decompose::Serialize => {
                if self.resources.is_empty() {
                    return Err(Error::config(
                        "decompose `serialize` makes one task per resource: name them with --resources a,b \
                         (or use --decompose none for one task running all of them)",
                    ));
                }
                Ok(self
                    .resources
                    .iter()
                    .map(|resource| {
                        let mut command = base.clone();
                        command.extend(["--resources".to_owned(), resource.clone()]);
                        (task_id(resource), command)
                    })
                    .collect())
            }
            Decompose::None => {
                let mut command = base;
                if !self.resources.is_empty() {
                    command.extend(["--resources".to_owned(), self.resources.join(",")]);
                }
                let id = self.pipeline.as_deref().map_or("run".to_owned(), task_id);
                Ok(vec![(id, command)])
            }
        }
    }

    fn check(&self) -> Result<()> {
        let name_ok = |s: &str, extra: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || extra.contains(c))
        };
        if !name_ok(&self.dag_id, "-.") {
            return Err(Error::config(format!(
                "invalid DAG id `{}`: use letters, digits, `_`, `-` and `.`",
                self.dag_id
            )));
        }
        let (kind, id) = match &self.credentials {
            Credentials::Connection(id) => ("connection id", id),
            Credentials::Variable(name) => ("variable name", name),
        };
        if !name_ok(id, "") || id.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(Error::config(format!(
                "invalid Airflow {kind} `{id}`: use letters, digits and `_` (it is written into a template as \
                 an attribute)"
            )));
        }
        if self.binary.trim().is_empty() {
            return Err(Error::config("the pipeline program is empty"));
        }
        for value in std::iter::once(&self.binary)
            .chain(&self.args)
            .chain(&self.resources)
            .chain(&self.pipeline)
            .chain(&self.dataset)
            .chain(&self.pipelines_dir)
        {
            if value.contains("{{") || value.contains("{%") || value.contains("{#") {
                return Err(Error::config(format!(
                    "`{value}` contains Jinja markup, which Airflow would render"
                )));
            }
        }
        if let Some(bad) = self.resources.iter().find(|r| !name_ok(r, "-.")) {
            return Err(Error::config(format!(
                "invalid resource name `{bad}`: use letters, digits, `_`, `-` and `.`"
            )));
        }
        if self.schedule.trim().is_empty() {
            return Err(Error::config(
                "the schedule is empty: use a preset (@daily), a cron expression or None",
            ));
        }
        if self.max_active_runs == 0 {
            return Err(Error::config("max_active_runs must be at least 1"));
        }
        Ok(())
    }

    /// The DAG file: Python for Airflow 3 (`schedule=`, `BashOperator` from the standard provider), importing
    /// Airflow 2's names when those are missing.
    pub fn render(&self) -> Result<String> {
        self.check()?;
        let tasks = self.tasks()?;
        let start = py_datetime(&self.start_date, "start date")?;
        let end = match &self.end_date {
            Some(end) => py_datetime(end, "end date")?,
            None => "None".to_owned(),
        };
        // Cron schedules get a timetable with data intervals: Airflow 3 runs a plain cron schedule with zero-length
        // intervals (start == end), which the program would take for a manual run and load until now.
        let schedule = match self.schedule.trim() {
            "None" | "none" => "None".to_owned(),
            preset @ ("@once" | "@continuous") => py_str(preset),
            cron => format!(
                "CronDataIntervalTimetable({}, timezone=\"UTC\")",
                py_str(cron)
            ),
        };
        let mut out = String::new();
        let w = &mut out;
        let _ = writeln!(
            w,
            "\"\"\"Airflow DAG `{}`: runs the ele pipeline program `{}` once per data interval.",
            self.dag_id,
            self.binary.replace('\\', "/").replace("\"\"\"", "'''")
        );
        let _ = writeln!(w);
        let _ = writeln!(
            w,
            "Each task passes the run's data interval to the program in ELE_INTERVAL_START / ELE_INTERVAL_END: its"
        );
        let _ = writeln!(
            w,
            "incrementals that allow external schedulers load exactly [start, end) and leave the incremental state alone."
        );
        let _ = writeln!(
            w,
            "The destination credentials are rendered from Airflow when the task runs: {}.",
            match &self.credentials {
                Credentials::Connection(id) => format!("connection `{id}`"),
                Credentials::Variable(name) => format!("variable `{name}`"),
            }
        );
        let _ = writeln!(w);
        match &self.command {
            Some(command) => {
                let _ = writeln!(
                    w,
                    "Generated by: {}",
                    command.replace("\"\"\"", "'''").replace('\\', "\\\\")
                );
            }
            None => {
                let _ = writeln!(w, "Generated by `ele deploy airflow`.");
            }
        }
        let _ = writeln!(w, "Regenerate it rather than edit it.");
        let _ = writeln!(w, "\"\"\"");
        let _ = writeln!(w);
        let _ = writeln!(w, "import pendulum");
        let _ = writeln!(w);
        let _ = writeln!(w, "try:  # Airflow 3");
        let _ = writeln!(
            w,
            "    from airflow.providers.standard.operators.bash import BashOperator"
        );
        let _ = writeln!(
            w,
            "    from airflow.sdk import DAG, CronDataIntervalTimetable"
        );
        let _ = writeln!(w, "except ImportError:  # Airflow 2");
        let _ = writeln!(w, "    from airflow import DAG");
        let _ = writeln!(w, "    from airflow.operators.bash import BashOperator");
        let _ = writeln!(
            w,
            "    from airflow.timetables.interval import CronDataIntervalTimetable"
        );
        let _ = writeln!(w);
        let _ = writeln!(
            w,
            "# Rendered by Airflow for each task run; the credentials never appear in this file."
        );
        let _ = writeln!(w, "ENV = {{");
        let _ = writeln!(
            w,
            "    \"ELE_INTERVAL_START\": \"{{{{ data_interval_start }}}}\","
        );
        let _ = writeln!(
            w,
            "    \"ELE_INTERVAL_END\": \"{{{{ data_interval_end }}}}\","
        );
        let _ = writeln!(
            w,
            "    {}: {},",
            py_str(CREDENTIALS_ENV),
            py_str(&self.credentials.template())
        );
        if let Some(dir) = &self.pipelines_dir {
            let _ = writeln!(w, "    \"ELE_PIPELINES_DIR\": {},", py_str(dir));
        }
        let _ = writeln!(w, "}}");
        let _ = writeln!(w);
        let _ = writeln!(w, "with DAG(");
        let _ = writeln!(w, "    dag_id={},", py_str(&self.dag_id));
        let _ = writeln!(w, "    schedule={schedule},");
        let _ = writeln!(w, "    start_date={start},");
        let _ = writeln!(w, "    end_date={end},");
        let _ = writeln!(
            w,
            "    catchup={},",
            if self.catchup { "True" } else { "False" }
        );
        let _ = writeln!(w, "    max_active_runs={},", self.max_active_runs);
        let _ = writeln!(
            w,
            "    default_args={{\"retries\": {}, \"retry_delay\": pendulum.duration(minutes={})}},",
            self.retries, self.retry_delay_minutes
        );
        let _ = writeln!(w, "    tags=[\"ele\"],");
        let _ = writeln!(w, ") as dag:");
        for (i, (id, command)) in tasks.iter().enumerate() {
            let _ = writeln!(w, "    {} = BashOperator(", py_ident(id));
            let _ = writeln!(w, "        task_id={},", py_str(id));
            let _ = writeln!(
                w,
                "        bash_command={},",
                py_str(&bash_command(command))
            );
            let _ = writeln!(w, "        env=ENV,");
            let _ = writeln!(w, "        append_env=True,");
            if i > 0
                && let Some(rule) = &self.trigger_rule
            {
                let _ = writeln!(w, "        trigger_rule={},", py_str(rule));
            }
            let _ = writeln!(w, "    )");
        }
        if tasks.len() > 1 {
            let chain: Vec<String> = tasks.iter().map(|(id, _)| py_ident(id)).collect();
            let _ = writeln!(w, "    {}", chain.join(" >> "));
        }
        Ok(out)
    }
}

/// A task id for a resource: Airflow allows letters, digits, `_`, `-` and `.`.
fn task_id(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A Python identifier for a task variable.
fn py_ident(id: &str) -> String {
    let mut ident: String = id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if ident.starts_with(|c: char| c.is_ascii_digit()) || is_py_keyword(&ident) {
        ident.insert_str(0, "task_");
    }
    ident
}

fn is_py_keyword(s: &str) -> bool {
    matches!(
        s,
        "False"
            | "None"
            | "True"
            | "and"
            | "as"
            | "assert"
            | "async"
            | "await"
            | "break"
            | "class"
            | "continue"
            | "def"
            | "del"
            | "elif"
            | "else"
            | "except"
            | "finally"
            | "for"
            | "from"
            | "global"
            | "if"
            | "import"
            | "in"
            | "is"
            | "lambda"
            | "nonlocal"
            | "not"
            | "or"
            | "pass"
            | "raise"
            | "return"
            | "try"
            | "while"
            | "with"
            | "yield"
            | "dag"
            | "pendulum"
            | "ENV"
            | "DAG"
            | "BashOperator"
    )
}

/// A double-quoted Python string literal.
fn py_str(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A shell word: as it is when it has only safe characters, else single-quoted.
pub fn shell_word(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./,:=@%+".contains(c))
    {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// The command line of a task. Airflow takes a `bash_command` ending in `.sh` or `.bash` for a template file,
/// so such a command gets a trailing space.
fn bash_command(command: &[String]) -> String {
    let words: Vec<String> = command.iter().map(|w| shell_word(w)).collect();
    let mut text = words.join(" ");
    if text.ends_with(".sh") || text.ends_with(".bash") {
        text.push(' ');
    }
    text
}

/// `pendulum.datetime(...)` of a date (`2023-02-01`) or an RFC 3339 date-time, in UTC.
fn py_datetime(text: &str, what: &str) -> Result<String> {
    let t = text.trim();
    let at: DateTime<Utc> = if let Ok(date) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        date.and_time(chrono::NaiveTime::MIN).and_utc()
    } else {
        DateTime::parse_from_rfc3339(t)
            .map_err(|_| {
                Error::config(format!(
                    "invalid {what} `{text}`: use a date (2023-02-01) or an RFC 3339 date-time \
                     (2023-02-01T06:00:00Z)"
                ))
            })?
            .with_timezone(&Utc)
    };
    let date = at.date_naive();
    use chrono::Datelike as _;
    let mut args = format!("{}, {}, {}", date.year(), date.month(), date.day());
    if at.time() != chrono::NaiveTime::MIN {
        let _ = write!(args, ", {}, {}, {}", at.hour(), at.minute(), at.second());
    }
    Ok(format!("pendulum.datetime({args}, tz=\"UTC\")"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backfill() -> AirflowDag {
        let mut dag = AirflowDag::new(
            "zendesk_support_backfill",
            "zendesk_airflow",
            "2023-02-01",
            Credentials::Connection("ele_postgres".into()),
        );
        dag.schedule = "@weekly".into();
        dag.end_date = Some("2023-08-01".into());
        dag.catchup = true;
        dag.pipeline = Some("zendesk_support_backfill".into());
        dag.resources = vec![
            "tickets".into(),
            "ticket_events".into(),
            "ticket_metric_events".into(),
        ];
        dag
    }

    #[test]
    fn serialize_chains_one_task_per_resource() {
        let py = backfill().render().expect("renders");
        for line in [
            "schedule=CronDataIntervalTimetable(\"@weekly\", timezone=\"UTC\"),",
            "start_date=pendulum.datetime(2023, 2, 1, tz=\"UTC\"),",
            "end_date=pendulum.datetime(2023, 8, 1, tz=\"UTC\"),",
            "catchup=True,",
            "max_active_runs=1,",
            "default_args={\"retries\": 0, \"retry_delay\": pendulum.duration(minutes=5)},",
            "\"ELE_INTERVAL_START\": \"{{ data_interval_start }}\",",
            "\"ELE_INTERVAL_END\": \"{{ data_interval_end }}\",",
            "\"DESTINATION__POSTGRES__CREDENTIALS\": \"{{ conn.ele_postgres.get_uri() }}\",",
            "task_id=\"ticket_events\",",
            "bash_command=\"zendesk_airflow --pipeline zendesk_support_backfill --resources ticket_events\",",
            "tickets >> ticket_events >> ticket_metric_events",
            "from airflow.providers.standard.operators.bash import BashOperator",
        ] {
            assert!(py.contains(line), "missing `{line}` in\n{py}");
        }
        assert_eq!(py.matches("BashOperator(").count(), 3);
        assert_eq!(py.matches("env=ENV,").count(), 3);
    }

    #[test]
    fn none_is_one_task_and_a_variable_gives_the_credentials() {
        let mut dag = backfill();
        dag.decompose = Decompose::None;
        dag.catchup = false;
        dag.end_date = None;
        dag.schedule = "0 6 * * *".into();
        dag.start_date = "2023-02-01T06:30:00Z".into();
        dag.credentials = Credentials::Variable("zendesk_dsn".into());
        dag.retries = 2;
        let py = dag.render().expect("renders");
        assert!(
            py.contains("schedule=CronDataIntervalTimetable(\"0 6 * * *\", timezone=\"UTC\"),")
        );
        assert!(py.contains("start_date=pendulum.datetime(2023, 2, 1, 6, 30, 0, tz=\"UTC\"),"));
        assert!(py.contains("end_date=None,"));
        assert!(py.contains("catchup=False,"));
        assert!(py.contains("\"retries\": 2"));
        assert!(py.contains("{{ var.value.zendesk_dsn }}"));
        assert!(py.contains("--resources tickets,ticket_events,ticket_metric_events\","));
        assert_eq!(py.matches("BashOperator(").count(), 1);
        assert!(!py.contains(">>"));
    }

    #[test]
    fn quotes_and_rejects() {
        let mut dag = backfill();
        dag.binary = "/opt/my pipelines/zendesk\"x".into();
        dag.resources = vec!["tickets".into()];
        let py = dag.render().expect("renders");
        assert!(
            py.contains(r#"bash_command="'/opt/my pipelines/zendesk\"x' --pipeline"#),
            "{py}"
        );

        dag.binary = "run_{{ params.x }}".into();
        assert!(dag.render().is_err());
        let mut dag = backfill();
        dag.resources.clear();
        let err = dag.render().expect_err("serialize needs resources");
        assert!(err.to_string().contains("--resources"));
        let mut dag = backfill();
        dag.credentials = Credentials::Connection("my-conn".into());
        assert!(dag.render().is_err());
        let mut dag = backfill();
        dag.start_date = "February".into();
        assert!(
            dag.render()
                .expect_err("bad date")
                .to_string()
                .contains("invalid start date")
        );
    }
}
