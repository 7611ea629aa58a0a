//! What a scheduler tells a pipeline program from outside: which resources to run and the data interval, so
//! one binary serves every task of a DAG (`ele deploy airflow` writes tasks that call it this way).
//!
//! ```text
//! my_pipeline --resources tickets,ticket_events --interval-start 2023-02-12T00:00:00Z --interval-end 2023-02-19T00:00:00Z
//! ELE_INTERVAL_START=2023-02-12T00:00:00Z ELE_INTERVAL_END=2023-02-19T00:00:00Z my_pipeline --resources tickets
//! ```
//!
//! Flags: `--resources a,b` (repeatable; all resources when absent), `--interval-start T` and `--interval-end T`
//! (ISO 8601; without them `ELE_INTERVAL_START`/`ELE_INTERVAL_END`, or dlt's `DLT_INTERVAL_START`/
//! `DLT_INTERVAL_END`), `--pipeline NAME` and `--dataset NAME` (overrides of the program's defaults, so two
//! DAGs can run the same binary side by side). `--flag=value` works too. No clap needed: this works with the
//! `cli` feature off.
//!
//! ```no_run
//! use ele::prelude::*;
//! use ele::RunArgs;
//!
//! #[resource]
//! async fn tickets(out: Emit<serde_json::Value>) -> ele::Result<()> { Ok(()) }
//! #[resource]
//! async fn users(out: Emit<serde_json::Value>) -> ele::Result<()> { Ok(()) }
//!
//! # async fn run() -> ele::Result<()> {
//! let args = RunArgs::from_env_args()?;
//! let pipeline = args
//!     .pipeline_builder("zendesk_support", Some("zendesk_support_data"))
//!     .destination(Postgres::from_env()?)
//!     .build()?;
//! let source = Source::new("zendesk_support").resource(tickets()).resource(users());
//! let info = args.run(&pipeline, source)?.await?; // the selected resources, with the interval
//! println!("{info}");
//! # Ok(())
//! # }
//! ```

use chrono::{DateTime, Utc};
use ele_core::interval::{INTERVAL_END_ENV, INTERVAL_START_ENV, interval_from_env, parse_bound};
use ele_core::{IntoResources, Resources};
use ele_core::{Pipeline, PipelineBuilder, Run};

use crate::{Error, Result};

/// The usage text of the flags [`RunArgs`] reads.
pub const USAGE: &str = "\
Options:
  --resources A,B         run only these resources (repeatable; all when absent)
  --interval-start TIME   start of the data interval, inclusive (ISO 8601; else $ELE_INTERVAL_START or $DLT_INTERVAL_START)
  --interval-end TIME     end of the data interval, exclusive (else $ELE_INTERVAL_END or $DLT_INTERVAL_END)
  --pipeline NAME         pipeline name (working dir and state) instead of the program's default
  --dataset NAME          dataset (PostgreSQL schema) instead of the program's default";

/// Resource selection, data interval and names given to a pipeline program from outside.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunArgs {
    /// The resources to run, in order; empty means all.
    pub resources: Vec<String>,
    /// The data interval's start (inclusive).
    pub interval_start: Option<DateTime<Utc>>,
    /// The data interval's end (exclusive); a missing or future end, or one equal to the start, is now.
    pub interval_end: Option<DateTime<Utc>>,
    /// A pipeline name overriding the program's default.
    pub pipeline: Option<String>,
    /// A dataset name overriding the program's default.
    pub dataset: Option<String>,
}

impl RunArgs {
    /// Reads the process's arguments (every one must be a flag of [`USAGE`]) and, for an interval not given by
    /// flags, the environment. `--help` is an error whose message is the usage.
    pub fn from_env_args() -> Result<RunArgs> {
        let (args, rest) = RunArgs::parse_known(std::env::args().skip(1))?;
        if let Some(unknown) = rest.first() {
            return Err(Error::config(format!(
                "unexpected argument `{unknown}`\n{USAGE}"
            )));
        }
        args.with_env_interval()
    }

    /// Reads the flags of [`USAGE`] from `args` (without the program name) and returns the other arguments,
    /// in order, for a program with flags of its own. Does not look at the environment.
    pub fn parse_known<I, S>(args: I) -> Result<(RunArgs, Vec<String>)>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut parsed = RunArgs::default();
        let mut rest = Vec::new();
        let mut args = args.into_iter().map(Into::into);
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => {
                    (flag.to_owned(), Some(value.to_owned()))
                }
                _ => (arg.clone(), None),
            };
            if flag == "--help" || flag == "-h" {
                return Err(Error::config(USAGE));
            }
            if !matches!(
                flag.as_str(),
                "--resources" | "--interval-start" | "--interval-end" | "--pipeline" | "--dataset"
            ) {
                rest.push(arg);
                continue;
            }
            let value = match inline.or_else(|| args.next()) {
                Some(v) => v,
                None => return Err(Error::config(format!("`{flag}` needs a value\n{USAGE}"))),
            };
            match flag.as_str() {
                "--resources" => parsed.resources.extend(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                ),
                "--interval-start" => parsed.interval_start = Some(parse_time(&flag, &value)?),
                "--interval-end" => parsed.interval_end = Some(parse_time(&flag, &value)?),
                "--pipeline" => parsed.pipeline = Some(value),
                _ => parsed.dataset = Some(value),
            }
        }
        if parsed.interval_end.is_some() && parsed.interval_start.is_none() {
            return Err(Error::config(
                "`--interval-end` needs `--interval-start` as well",
            ));
        }
        Ok((parsed, rest))
    }

    /// Fills a missing interval from `ELE_INTERVAL_START`/`ELE_INTERVAL_END` (or dlt's `DLT_INTERVAL_*`).
    pub fn with_env_interval(mut self) -> Result<RunArgs> {
        if self.interval_start.is_none()
            && let Some((start, end)) = interval_from_env()?
        {
            self.interval_start = Some(start);
            self.interval_end = end;
        }
        Ok(self)
    }

    /// The interval, when a start was given.
    pub fn interval(&self) -> Option<(DateTime<Utc>, Option<DateTime<Utc>>)> {
        self.interval_start.map(|start| (start, self.interval_end))
    }

    /// `Pipeline::builder` named by `--pipeline`, else `default_name`, into the dataset `--dataset`, else
    /// `default_dataset` (else dlt's default `<pipeline>_dataset`).
    pub fn pipeline_builder(
        &self,
        default_name: &str,
        default_dataset: Option<&str>,
    ) -> PipelineBuilder {
        let builder = Pipeline::builder(self.pipeline.as_deref().unwrap_or(default_name));
        match self.dataset.as_deref().or(default_dataset) {
            Some(dataset) => builder.dataset_name(dataset),
            None => builder,
        }
    }

    /// Keeps the resources of `resources` (a source, a resource or a tuple) named by `--resources`, in the order
    /// given, deselected ones (`selected = false`) included; without `--resources`, the selected ones run. An
    /// unknown name is an error listing the known ones.
    pub fn select(&self, resources: impl IntoResources) -> Result<Resources> {
        let mut resources = resources.into_resources();
        if self.resources.is_empty() {
            return Ok(resources);
        }
        let mut selected = Vec::with_capacity(self.resources.len());
        for name in &self.resources {
            let Some(pos) = resources.list.iter().position(|r| r.hints().name == *name) else {
                let known: Vec<String> = resources
                    .list
                    .iter()
                    .chain(&selected)
                    .map(|r| format!("`{}`", r.hints().name))
                    .collect();
                let owner = match &resources.source_name {
                    Some(source) => format!("source `{source}`"),
                    None => "the pipeline program".to_owned(),
                };
                return Err(Error::config(format!(
                    "--resources: {owner} has no resource `{name}`; its resources are {}",
                    known.join(", ")
                )));
            };
            let mut picked = resources.list.remove(pos);
            // Named on the command line: picked even when deselected (`selected = false`), as `with_resources`.
            picked.hints_mut().selected = true;
            selected.push(picked);
        }
        resources.list = selected;
        Ok(resources)
    }

    /// A run of the selected resources on `pipeline`, with the interval when one was given (it applies to
    /// incrementals with `allow_external_schedulers`, and makes their run stateless).
    pub fn run<'p>(
        &self,
        pipeline: &'p Pipeline,
        resources: impl IntoResources,
    ) -> Result<Run<'p>> {
        let run = pipeline.run(self.select(resources)?);
        Ok(match self.interval() {
            Some((start, end)) => run.interval(start, end),
            None => run,
        })
    }
}

fn parse_time(flag: &str, text: &str) -> Result<DateTime<Utc>> {
    // The same forms as the environment variables: ISO 8601 with `T` or a space (how Airflow prints a
    // date-time), a zone or UTC, or a date.
    parse_bound(text).ok_or_else(|| {
            Error::config(format!(
                "{flag} {text} is not an ISO 8601 date-time (like 2023-02-12T00:00:00Z); the environment's \
                 {} and {} take the same form",
                INTERVAL_START_ENV[0], INTERVAL_END_ENV[0]
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<(RunArgs, Vec<String>)> {
        RunArgs::parse_known(args.iter().copied())
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("valid")
            .with_timezone(&Utc)
    }

    #[test]
    fn reads_resources_interval_and_names() {
        let (args, rest) = parse(&[
            "--resources",
            "tickets, ticket_events",
            "--resources=users",
            "--interval-start",
            "2023-02-12T00:00:00+00:00",
            "--interval-end=2023-02-19 00:00:00+00:00",
            "--verbose",
            "--pipeline",
            "zendesk_support_new",
            "--dataset=zendesk_support_data",
        ])
        .expect("parses");
        assert_eq!(args.resources, ["tickets", "ticket_events", "users"]);
        assert_eq!(
            args.interval(),
            Some((at("2023-02-12T00:00:00Z"), Some(at("2023-02-19T00:00:00Z"))))
        );
        assert_eq!(args.pipeline.as_deref(), Some("zendesk_support_new"));
        assert_eq!(args.dataset.as_deref(), Some("zendesk_support_data"));
        assert_eq!(rest, ["--verbose"]);
    }

    #[test]
    fn rejects_bad_values() {
        let err = parse(&["--interval-start", "last tuesday"]).expect_err("not a date");
        assert!(err.to_string().contains("--interval-start last tuesday"));
        let err = parse(&["--resources"]).expect_err("no value");
        assert!(err.to_string().contains("`--resources` needs a value"));
        let err = parse(&["--interval-end", "2023-02-19T00:00:00Z"]).expect_err("no start");
        assert!(err.to_string().contains("needs `--interval-start`"));
        let err = parse(&["--help"]).expect_err("usage");
        assert!(err.to_string().contains("--resources A,B"));
    }

    #[test]
    fn selects_resources_in_the_order_given() {
        use crate::FnResource;
        use ele_core::Emit;
        let resource = |name: &str| {
            FnResource::new(name.to_owned(), |_out: Emit<serde_json::Value>| async {
                Ok(())
            })
        };
        let source = || {
            crate::Source::new("zendesk")
                .resource(resource("tickets"))
                .resource(resource("users"))
                .resource(ele_core::ResourceExt::selected(
                    resource("ticket_events"),
                    false,
                ))
        };
        let names = |r: &Resources| -> Vec<String> {
            r.list.iter().map(|r| r.hints().name.clone()).collect()
        };
        // Without `--resources` the deselected `ticket_events` does not run; named, it does.
        let all = RunArgs::default().select(source()).expect("all");
        assert_eq!(names(&all.selected()), ["tickets", "users"]);
        let (args, _) = parse(&["--resources", "ticket_events,tickets"]).expect("parses");
        let some = args.select(source()).expect("selects");
        assert_eq!(names(&some.selected()), ["ticket_events", "tickets"]);
        let some = args.select(source()).expect("selects");
        assert_eq!(some.source_name.as_deref(), Some("zendesk"));
        let (args, _) = parse(&["--resources", "tikets"]).expect("parses");
        let Err(err) = args.select(source()) else {
            panic!("an unknown resource is an error")
        };
        assert!(
            err.to_string().contains(
                "source `zendesk` has no resource `tikets`; its resources are `tickets`, `users`, `ticket_events`"
            ),
            "{err}"
        );
    }
}
