//! A load that runs beside the normalizer: when every root table of a run is new, its job files are COPYed as
//! the writer finishes them, into tables this transaction creates (and so COPYs frozen), and the package
//! commits as soon as it is complete. Whatever the stream cannot take (a table that exists after all, duplicate
//! keys, a failed COPY) rolls it back and leaves the package to the usual load.
//!
//! A delete-insert merge on one key column into tables loaded before streams too: its rows are COPYed into the
//! existing tables, whose merge locks the stream holds, and once the package is complete the rows of earlier
//! loads with the same keys are deleted with their child rows (the keyed path of [`super::keyed`]).

use std::collections::{BTreeSet, HashMap, HashSet};
use tokio_postgres::types::Type;

use ele_core::destination::{LoadOutcome, LoadPlan, LoadStream};
use ele_core::package::{ChainLoad, FinishedJob, Job, LoadPackage, Manifest, Scd2Spec};
use ele_core::schema::{DataType, Table};
use ele_core::{Error, Result};
use ele_core::{MergeStrategy, WriteDisposition};
use futures::future::BoxFuture;
use tokio_postgres::Client;

use super::catalog::{existing_columns, index_names, keys_are_unique, versions_are_unique};
use super::classify::{sql_error, statement_error};
use super::config::Postgres;
use super::connect::connect;
use super::copy::copy_job_omitting;
use super::keyed;
use super::sql::{self, merge_indexes};

/// An open load transaction taking the job files of a package being written.
struct PgLoadStream {
    pg: Postgres,
    dataset: String,
    load_id: String,
    client: Client,
    /// The tables the stream writes, with their columns: those created in this transaction, or, merging, the
    /// existing tables it locked.
    created: HashMap<String, Vec<String>>,
    /// Job files COPYed so far.
    copied: HashSet<String>,
    /// The scd2 settings of the plan's scd2 roots: their tables are created with defaults giving the validity
    /// columns the values of new versions, dropped again before the commit.
    scd2: HashMap<String, Scd2Spec>,
    /// Set after the first failure: the transaction is aborted, the package goes to the usual load.
    failed: Option<Error>,
    /// The tables exist (`created` holds their columns): a delete-insert merge into them.
    merging: bool,
    /// Root rows COPYed so far (merging).
    root_rows: u64,
}

/// Whether a table of `existing` is one of `roots` or named like one of their children.
fn taken(existing: &super::catalog::Existing, roots: &[String]) -> bool {
    !chain_tables(existing, roots).is_empty()
}

/// Starts a stream when none of `plan`'s root tables (nor a table named like one of their children) exists and
/// no other load is creating them: the stream holds their creation locks (see
/// [`super::state::lock_table_creation`]) until it ends, so it creates every table it COPYs into itself, and a
/// concurrent load waits for it rather than creating the same tables. When the dataset is new too, the stream
/// holds the dataset's schema-change lock as well and creates the dataset in its transaction. A plan of merges
/// into existing tables (`merges_into_existing`) whose tables exist starts a merge stream instead
/// ([`begin_merge`]).
pub(super) async fn begin(pg: &Postgres, plan: &LoadPlan) -> Result<Option<Box<dyn LoadStream>>> {
    let ds = plan.dataset.as_str();
    if plan.roots.is_empty() {
        return Ok(None);
    }
    let client = connect(pg).await?;
    let existing = existing_columns(&client, pg, ds).await?;
    if taken(&existing, &plan.roots) {
        return if plan.merges_into_existing {
            begin_merge(pg, plan, client, &existing).await
        } else {
            Ok(None)
        };
    }
    begin_transaction(&client, pg, plan).await?;
    let roots: BTreeSet<&str> = plan.roots.iter().map(String::as_str).collect();
    let system_tables_exist = ["_dlt_loads", "_dlt_pipeline_state", "_dlt_version"]
        .iter()
        .all(|t| existing.contains_key(*t));
    // Only when the locks are free at once: a stream never waits for another load.
    let mut locked = super::state::try_lock_table_creation(&client, pg, ds, &roots).await?;
    if locked && !system_tables_exist {
        locked = super::state::try_lock_dataset_ddl(&client, pg, ds).await?;
    }
    // Tables another load committed since the look above.
    if !locked || taken(&existing_columns(&client, pg, ds).await?, &plan.roots) {
        let _ = client.batch_execute("ROLLBACK").await;
        tracing::debug!(load_id = %plan.load_id, "another load is creating these tables: not loading while normalizing");
        return Ok(None);
    }
    if !system_tables_exist {
        // The dataset and the system tables are created in this transaction too: a run that fails leaves
        // nothing behind.
        super::staging::ensure_schema(&client, pg, ds).await?;
        client
            .batch_execute(&sql::system_tables(ds).join(";\n"))
            .await
            .map_err(|e| sql_error(pg, &format!("creating dataset `{ds}`"), e))?;
    }
    tracing::debug!(load_id = %plan.load_id, "loading while normalizing");
    Ok(Some(Box::new(PgLoadStream {
        pg: pg.clone(),
        dataset: ds.to_owned(),
        load_id: plan.load_id.clone(),
        client,
        created: HashMap::new(),
        copied: HashSet::new(),
        scd2: plan.scd2.iter().cloned().collect(),
        failed: None,
        merging: false,
        root_rows: 0,
    })))
}

/// Starts the load transaction of `plan` on `client`; as in the usual load, a second process finishing the same
/// package waits for this one.
async fn begin_transaction(client: &Client, pg: &Postgres, plan: &LoadPlan) -> Result<()> {
    client
        .batch_execute("BEGIN")
        .await
        .map_err(|e| sql_error(pg, "starting the load transaction", e))?;
    client
        .query_typed(
            "SELECT pg_advisory_xact_lock(hashtext($1))",
            &[(
                &format!("ele-load:{}:{}", plan.dataset, plan.load_id),
                Type::TEXT,
            )],
        )
        .await
        .map_err(|e| sql_error(pg, "locking the load", e))?;
    Ok(())
}

/// The tables of `existing` that are one of `roots` or named like one of their children.
fn chain_tables<'e>(existing: &'e super::catalog::Existing, roots: &[String]) -> BTreeSet<&'e str> {
    existing
        .keys()
        .filter(|table| {
            roots.iter().any(|root| {
                *table == root
                    || table
                        .strip_prefix(root.as_str())
                        .is_some_and(|rest| rest.starts_with("__"))
            })
        })
        .map(String::as_str)
        .collect()
}

/// Starts a stream of delete-insert merges into the existing root tables of `plan` (and their child tables),
/// when their merge locks are free at once: the stream holds them until it ends, as the usual load's
/// transaction would, so concurrent merges into the same tables wait for it.
async fn begin_merge(
    pg: &Postgres,
    plan: &LoadPlan,
    client: Client,
    existing: &super::catalog::Existing,
) -> Result<Option<Box<dyn LoadStream>>> {
    let ds = plan.dataset.as_str();
    let system_tables_exist = ["_dlt_loads", "_dlt_pipeline_state", "_dlt_version"]
        .iter()
        .all(|t| existing.contains_key(*t));
    // The id list of the replaced rows is a temp table: not where the destination stages in its schema.
    if !system_tables_exist
        || !plan.roots.iter().all(|r| existing.contains_key(r))
        || pg.staging == super::config::Staging::Schema
    {
        return Ok(None);
    }
    begin_transaction(&client, pg, plan).await?;
    // In name order, as the usual load locks them; without waiting: a stream never waits for another load.
    let locked = chain_tables(existing, &plan.roots);
    let tables: Vec<String> = locked.iter().map(|t| sql::qualified(ds, t)).collect();
    let lock = format!(
        "LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE NOWAIT",
        tables.join(", ")
    );
    if let Err(e) = client.batch_execute(&lock).await {
        let _ = client.batch_execute("ROLLBACK").await;
        if e.code() == Some(&tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE) {
            tracing::debug!("another load holds these tables: not loading while normalizing");
        } else {
            tracing::warn!(error = %super::classify::sql_error(pg, "locking the tables of the load", e), "not loading while normalizing");
        }
        return Ok(None);
    }
    // Columns a schema change committed before the locks were taken; a table created meanwhile is not locked,
    // so the stream leaves the package to the usual load.
    let existing = existing_columns(&client, pg, ds).await?;
    if chain_tables(&existing, &plan.roots) != locked {
        let _ = client.batch_execute("ROLLBACK").await;
        return Ok(None);
    }
    let created = locked
        .iter()
        .filter_map(|t| Some(((*t).to_owned(), existing.get(*t)?.clone())))
        .collect();
    tracing::debug!(load_id = %plan.load_id, "merging while normalizing");
    Ok(Some(Box::new(PgLoadStream {
        pg: pg.clone(),
        dataset: ds.to_owned(),
        load_id: plan.load_id.clone(),
        client,
        created,
        copied: HashSet::new(),
        scd2: HashMap::new(),
        failed: None,
        merging: true,
        root_rows: 0,
    })))
}

impl PgLoadStream {
    async fn run(&self, statement: &str) -> Result<()> {
        self.client
            .batch_execute(statement)
            .await
            .map_err(|e| statement_error(&self.pg, statement, e))
    }

    /// Creates `table` in this transaction, or adds the columns of `columns` it lacks.
    async fn ensure_table(&mut self, table: &Table, columns: &[String]) -> Result<()> {
        let ds = self.dataset.clone();
        match self.created.get(&table.name) {
            None => {
                self.run(&sql::create_table(&ds, table)).await?;
                if let Some(spec) = self.scd2_root(table) {
                    let [set_defaults, _] = sql::scd2_defaults(&ds, &table.name, spec);
                    self.run(&set_defaults).await?;
                }
                let names = table
                    .columns
                    .values()
                    .filter(|c| c.data_type.is_some())
                    .map(|c| c.name.clone())
                    .collect();
                self.created.insert(table.name.clone(), names);
            }
            Some(have) => {
                let missing: Vec<String> = columns
                    .iter()
                    .filter(|c| !have.contains(c))
                    .cloned()
                    .collect();
                for name in missing {
                    let column = table.columns.get(&name).ok_or_else(|| {
                        Error::internal(format!(
                            "column `{name}` of `{}` has no definition",
                            table.name
                        ))
                    })?;
                    if let Some(statement) = sql::add_column(&ds, &table.name, column) {
                        self.run(&statement).await?;
                    }
                    if let Some(have) = self.created.get_mut(&table.name) {
                        have.push(name);
                    }
                }
            }
        }
        Ok(())
    }

    /// The scd2 settings of `table` when it is the root of an scd2 chain.
    fn scd2_root(&self, table: &Table) -> Option<&Scd2Spec> {
        self.scd2
            .get(&table.name)
            .filter(|_| table.parent.is_none())
    }

    async fn copy_one(&mut self, job: &Job, path: &std::path::Path, table: &Table) -> Result<()> {
        let omit: Vec<&str> = if self.merging {
            // Into a table as it is: a new table or column is left to the usual load's schema change.
            let have = self.created.get(&table.name);
            if !have.is_some_and(|have| job.columns.iter().all(|c| have.contains(c))) {
                return Err(Error::destination(
                    format!(
                        "`{}` is new or has new columns: the merge waits for the complete package",
                        table.name
                    ),
                    None,
                ));
            }
            // What the key list cannot take is known from the root rows already.
            if table.parent.is_none() {
                self.root_rows += job.rows;
                let key_type = match table.primary_key().as_slice() {
                    [key] => table.columns.get(*key).and_then(|c| c.data_type),
                    _ => None,
                };
                if !matches!(key_type, Some(DataType::Text | DataType::Bigint))
                    || self.root_rows > keyed::MAX_KEYED_ROWS
                {
                    return Err(Error::destination(
                        format!(
                            "`{}` has more rows or another key than a merge by key list takes",
                            table.name
                        ),
                        None,
                    ));
                }
            }
            Vec::new()
        } else {
            self.ensure_table(table, &job.columns).await?;
            // scd2's validity columns take their defaults, whatever the rows hold (its merge overwrites them
            // too).
            self.scd2_root(table)
                .map(|spec| vec![spec.valid_from.as_str(), spec.valid_to.as_str()])
                .unwrap_or_default()
        };
        // A table created in this transaction takes its rows frozen.
        copy_job_omitting(
            &self.client,
            &self.pg,
            path,
            job,
            &self.dataset,
            &job.table,
            !self.merging,
            &omit,
        )
        .await?;
        self.copied.insert(job.file.clone());
        Ok(())
    }

    /// Everything after the streamed COPYs; an error leaves the transaction to be rolled back.
    async fn complete(&mut self, package: &LoadPackage) -> Result<Option<LoadOutcome>> {
        let m = &package.manifest;
        if self.merging {
            return self.complete_merge(package).await;
        }
        if m.dataset_name != self.dataset || m.load_id != self.load_id || !streamable(m) {
            return Ok(None);
        }
        // The validity values given while COPYing must be the ones the package asks for.
        let scd2_roots: HashMap<&str, &Scd2Spec> = m
            .chains
            .iter()
            .filter(|c| {
                c.write_disposition == WriteDisposition::Merge
                    && c.merge.strategy == MergeStrategy::Scd2
            })
            .filter_map(|c| Some((c.root.as_str(), c.merge.scd2.as_ref()?)))
            .collect();
        let planned_as = |root: &str| self.scd2.get(root);
        if scd2_roots.len() != self.scd2.len()
            || scd2_roots
                .iter()
                .any(|(root, spec)| planned_as(root) != Some(*spec))
        {
            return Ok(None);
        }
        let chain_tables: Vec<&Table> = m
            .chains
            .iter()
            .flat_map(|c| m.schema.chain(&c.root))
            .filter(|t| t.complete_columns().next().is_some())
            .collect();
        self.copy_rest(package).await?;
        // Tables and columns of the final schema that no job brought.
        for table in &chain_tables {
            let columns: Vec<String> = table.complete_columns().map(|c| c.name.clone()).collect();
            self.ensure_table(table, &columns).await?;
        }
        for table in &chain_tables {
            for (suffix, columns) in merge_indexes(m, table) {
                self.run(&sql::create_index(
                    &self.dataset,
                    &table.name,
                    suffix,
                    &columns,
                ))
                .await?;
            }
        }
        for chain in &m.chains {
            if let Some(spec) = scd2_roots.get(chain.root.as_str()) {
                if !versions_are_unique(&self.client, &self.pg, &self.dataset, &chain.root, spec)
                    .await?
                {
                    tracing::info!(table = %chain.root, "a version occurs twice: loading with deduplication instead");
                    return Ok(None);
                }
                let [_, drop_defaults] = sql::scd2_defaults(&self.dataset, &chain.root, spec);
                self.run(&drop_defaults).await?;
            } else if chain.unchecked_keys
                && !keys_are_unique(&self.client, &self.pg, m, &chain.root).await?
            {
                tracing::info!(table = %chain.root, "a primary key occurs twice: loading with deduplication instead");
                return Ok(None);
            }
        }
        self.commit(m).await
    }
}

impl PgLoadStream {
    /// Completes a stream of merges into existing tables: COPYs the rest, deletes the rows the new ones replace
    /// and commits; `None` (to be rolled back) when the package turns out to need the usual load: duplicate
    /// keys, a new table, column or index, more rows than the key list takes.
    async fn complete_merge(&mut self, package: &LoadPackage) -> Result<Option<LoadOutcome>> {
        let m = &package.manifest;
        if m.dataset_name != self.dataset
            || m.load_id != self.load_id
            || !m.drop_tables.is_empty()
            || !m.truncate_tables.is_empty()
            || !m.chains.iter().all(merges_by_key_list)
        {
            return Ok(None);
        }
        self.copy_rest(package).await?;
        let (pg, ds) = (&self.pg, self.dataset.as_str());
        let indexes = index_names(&self.client, pg, ds).await?;
        let stage = sql::StageTables::temp();
        for (tag, chain) in m.chains.iter().enumerate() {
            let Some(keyed) = self.keyed_chain(m, chain, &indexes, &stage, tag).await? else {
                tracing::debug!(table = %chain.root, "the merge needs a schema change or staging: loading it the usual way");
                return Ok(None);
            };
            if !keyed::delete_replaced_after_copy(&self.client, pg, package, &keyed, &self.load_id)
                .await?
            {
                tracing::debug!(table = %chain.root, "the merge cannot go by its key list: loading it the usual way");
                return Ok(None);
            }
        }
        self.commit(m).await
    }

    /// COPYs the jobs of `package` that were not streamed.
    async fn copy_rest(&mut self, package: &LoadPackage) -> Result<()> {
        let m = &package.manifest;
        for job in &m.jobs {
            if self.copied.contains(&job.file) {
                continue;
            }
            let table = m.schema.tables.get(&job.table).ok_or_else(|| {
                Error::internal(format!("job table `{}` is not in the schema", job.table))
            })?;
            self.copy_one(job, &package.job_path(job), table).await?;
        }
        Ok(())
    }

    /// Stores the schema of `m` (when new), its state and load rows, and commits.
    async fn commit(&self, m: &Manifest) -> Result<Option<LoadOutcome>> {
        let (pg, ds) = (&self.pg, self.dataset.as_str());
        super::state::write_schema_version(
            &self.client,
            pg,
            ds,
            &m.schema,
            super::state::KnownSchema::Anywhere,
        )
        .await?;
        super::state::write_package_rows(&self.client, pg, m).await?;
        ele_core::fault::point("before_commit");
        self.client
            .batch_execute("COMMIT")
            .await
            .map_err(|e| sql_error(pg, "committing the load", e))?;
        ele_core::fault::point("after_commit");
        Ok(Some(LoadOutcome::Committed))
    }

    /// The keyed view of `chain`, when its tables, columns and merge indexes all exist as the final schema
    /// wants them and every child table links to its root row.
    async fn keyed_chain<'a>(
        &'a self,
        m: &'a Manifest,
        chain: &'a ChainLoad,
        indexes: &HashSet<String>,
        stage: &'a sql::StageTables,
        tag: usize,
    ) -> Result<Option<keyed::KeyedChain<'a>>> {
        let tables = m.schema.chain(&chain.root);
        let Some(root) = tables.first().copied() else {
            return Ok(None);
        };
        let primary_key = root.primary_key();
        let [key] = primary_key.as_slice() else {
            return Ok(None);
        };
        if !root.merge_key().is_empty() {
            return Ok(None);
        }
        let mut children = Vec::new();
        for table in &tables {
            let Some(have) = self.created.get(&table.name) else {
                if table.complete_columns().next().is_some() {
                    return Ok(None);
                }
                continue;
            };
            if !table.complete_columns().all(|c| have.contains(&c.name)) {
                return Ok(None);
            }
            let wanted = merge_indexes(m, table);
            if !wanted
                .iter()
                .all(|(suffix, _)| indexes.contains(&sql::index_name(&table.name, suffix)))
            {
                return Ok(None);
            }
            if table.parent.is_some() {
                let columns: Vec<&str> = have.iter().map(String::as_str).collect();
                let parent_is_root = table.parent.as_deref() == Some(root.name.as_str());
                let Some(link) = sql::root_link(table, parent_is_root, &columns) else {
                    return Ok(None);
                };
                children.push((table.name.as_str(), link));
            }
        }
        let root_jobs: Vec<&Job> = m.jobs.iter().filter(|j| j.table == root.name).collect();
        let rows: u64 = root_jobs.iter().map(|j| j.rows).sum();
        if rows > keyed::MAX_KEYED_ROWS {
            return Ok(None);
        }
        // Sized by its statistics, which the new rows are not in yet (autovacuum cannot analyze a table this
        // transaction holds), or, never analyzed, by its pages, which they are (and the table looks bigger).
        let small = super::catalog::is_small_beside(
            &self.client,
            &self.pg,
            &self.dataset,
            &root.name,
            rows,
        )
        .await?;
        Ok(Some(keyed::KeyedChain {
            dataset: &self.dataset,
            root,
            key,
            small,
            children,
            root_jobs,
            child_jobs: Vec::new(),
            stage,
            tag,
        }))
    }
}

/// Whether `chain` is a delete-insert merge whose rows can replace their keys' rows by a key list: distinct
/// keys (known to the normalizer), no hard deletes.
fn merges_by_key_list(chain: &ChainLoad) -> bool {
    chain.write_disposition == WriteDisposition::Merge
        && chain.merge.strategy == MergeStrategy::DeleteInsert
        && chain.merge.hard_delete.is_none()
        && chain.unique_keys
}

/// Whether every chain of `m` goes straight into its (new) tables: appends, replaces (of tables that did not
/// exist), and merges into empty tables that amount to inserting every row
/// ([`super::load::first_merge_is_insert`]).
fn streamable(m: &Manifest) -> bool {
    m.chains.iter().all(|c| match c.write_disposition {
        WriteDisposition::Append | WriteDisposition::Replace => true,
        WriteDisposition::Merge => super::load::first_merge_is_insert(m, c),
    })
}

impl LoadStream for PgLoadStream {
    fn copy<'a>(&'a mut self, job: &'a FinishedJob) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if self.failed.is_some() {
                return;
            }
            if let Err(e) = self.copy_one(&job.job, &job.path, &job.table).await {
                // Ends the transaction at once: its locks must not outlive the stream's use.
                let _ = self.client.batch_execute("ROLLBACK").await;
                self.failed = Some(e);
            }
        })
    }

    fn finish<'a>(
        mut self: Box<Self>,
        package: &'a LoadPackage,
    ) -> BoxFuture<'a, Result<Option<LoadOutcome>>> {
        Box::pin(async move {
            if let Some(e) = &self.failed {
                tracing::debug!(error = %e, "the load beside the normalizer stopped; the package loads after it");
                let _ = self.client.batch_execute("ROLLBACK").await;
                return Ok(None);
            }
            match self.complete(package).await {
                Ok(Some(outcome)) => Ok(Some(outcome)),
                Ok(None) => {
                    // Dropping the connection would roll back too; this ends the transaction at once.
                    let _ = self.client.batch_execute("ROLLBACK").await;
                    Ok(None)
                }
                Err(e @ Error::StateConflict { .. }) => Err(e),
                Err(e) => {
                    tracing::debug!(error = %e, "the load beside the normalizer failed; the package loads again");
                    let _ = self.client.batch_execute("ROLLBACK").await;
                    Ok(None)
                }
            }
        })
    }
}
