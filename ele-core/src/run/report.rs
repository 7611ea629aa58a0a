//! What a run reports: per package, the rows per table and the outcome; per run, dlt's load info.

use std::fmt;
use std::time::Duration;

use crate::destination::LoadOutcome;
use crate::model::contract::Discarded;

/// What one package did.
#[derive(Debug, Clone)]
pub struct PackageInfo {
    /// Its load id.
    pub load_id: String,
    /// Rows per table.
    pub row_counts: Vec<(String, u64)>,
    /// Whether it was committed now or found committed before.
    pub outcome: LoadOutcome,
    /// Time spent loading it (schema changes, COPY, merge, commit).
    pub load_elapsed: Duration,
}

/// The result of a run, printed like dlt's load info.
#[derive(Debug, Clone)]
pub struct LoadInfo {
    /// Pipeline name.
    pub pipeline_name: String,
    /// Dataset name.
    pub dataset_name: String,
    /// Destination type.
    pub destination: String,
    /// Destination location (no password).
    pub location: String,
    /// A shell command that opens the data, when the destination has one (`psql '<url>'`).
    pub open_command: Option<String>,
    /// Packages loaded by this run, pending ones from earlier runs first.
    pub packages: Vec<PackageInfo>,
    /// Rows and values of this run's items that schema contracts discarded, per table (tables with none are
    /// left out).
    pub discarded: Vec<Discarded>,
    /// Time spent extracting and normalizing this run's new data.
    pub extract_elapsed: Duration,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl LoadInfo {
    /// Rows loaded into `table` by this run.
    pub fn rows(&self, table: &str) -> u64 {
        self.packages
            .iter()
            .flat_map(|p| &p.row_counts)
            .filter(|(t, _)| t == table)
            .map(|(_, n)| n)
            .sum()
    }

    /// Rows of `table` a schema contract discarded in this run.
    pub fn discarded_rows(&self, table: &str) -> u64 {
        self.discarded
            .iter()
            .filter(|d| d.table == table)
            .map(|d| d.rows)
            .sum()
    }

    /// Values a schema contract discarded from rows of `table` in this run (the rows were kept).
    pub fn discarded_values(&self, table: &str) -> u64 {
        self.discarded
            .iter()
            .filter(|d| d.table == table)
            .map(|d| d.values)
            .sum()
    }

    /// Whether the run loaded no package (nothing new).
    pub fn is_empty(&self) -> bool {
        self.packages.is_empty()
    }
}

impl fmt::Display for LoadInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Pipeline {} load step completed in {:.2} seconds",
            self.pipeline_name,
            self.elapsed.as_secs_f64()
        )?;
        writeln!(
            f,
            "{} load package(s) were loaded to destination {} and into dataset {}",
            self.packages.len(),
            self.destination,
            self.dataset_name
        )?;
        writeln!(
            f,
            "The {} destination used {} location to store data",
            self.destination, self.location
        )?;
        writeln!(
            f,
            "Extract and normalize took {:.2} seconds",
            self.extract_elapsed.as_secs_f64()
        )?;
        for package in &self.packages {
            let status = match package.outcome {
                LoadOutcome::Committed => "LOADED",
                LoadOutcome::AlreadyLoaded => "LOADED (found committed by an earlier run)",
            };
            writeln!(
                f,
                "Load package {} is {} and contains no failed jobs ({:.2} s)",
                package.load_id,
                status,
                package.load_elapsed.as_secs_f64()
            )?;
            for (table, rows) in &package.row_counts {
                writeln!(f, "  {table}: {rows} row(s)")?;
            }
        }
        for d in &self.discarded {
            writeln!(
                f,
                "Schema contract discarded {} row(s) and {} value(s) of table {}",
                d.rows, d.values, d.table
            )?;
        }
        if let Some(command) = &self.open_command {
            writeln!(f, "Open the data with: {command}")?;
        }
        Ok(())
    }
}
