//! delete-insert without staging its root rows. When the load's primary keys are distinct and a single text or
//! integer column, staging the root rows only serves to find the rows they replace, and the `INSERT ... SELECT`
//! out of staging costs more than a `COPY` of the same rows. So the key
//! column is read back from the root's job files and sent as one array: the rows it names are deleted with their
//! child rows through the indexes, and every job is then COPYed into its final table.

use tokio_postgres::types::{ToSql, Type};

use ele_core::package::{Job, JobFormat, LoadPackage, binary_column};
use ele_core::schema::{C_DLT_ID, DataType, Table};
use ele_core::{Error, Result};

use super::classify::statement_error;
use super::config::Postgres;
use super::sql::{self, StageTables, qualified};

/// Root rows beyond this many are staged as usual: the keys are held in memory and sent as one array.
pub(super) const MAX_KEYED_ROWS: u64 = 250_000;

/// The primary key values of a load, as their column's type.
#[derive(Debug, PartialEq)]
enum Keys {
    Text(Vec<String>),
    Integer(Vec<i64>),
}

impl Keys {
    fn len(&self) -> usize {
        match self {
            Keys::Text(keys) => keys.len(),
            Keys::Integer(keys) => keys.len(),
        }
    }

    fn param(&self) -> (&(dyn ToSql + Sync), Type) {
        match self {
            Keys::Text(keys) => (keys, Type::TEXT_ARRAY),
            Keys::Integer(keys) => (keys, Type::INT8_ARRAY),
        }
    }
}

/// The values of column `key` in `bytes` (binary COPY tuples of `columns`), or `None` when one is missing or
/// not of the column's type.
fn keys_of(
    bytes: &[u8],
    columns: &[String],
    key: &str,
    data_type: DataType,
    keys: &mut Keys,
) -> Option<()> {
    let position = columns.iter().position(|c| c == key)?;
    let values = binary_column(bytes, position)?;
    match (keys, data_type) {
        (Keys::Text(keys), DataType::Text) => {
            for value in values {
                keys.push(std::str::from_utf8(value?).ok()?.to_owned());
            }
        }
        (Keys::Integer(keys), DataType::Bigint) => {
            for value in values {
                // smallint, integer or bigint, as the column's precision made it.
                keys.push(match value? {
                    v @ [_, _] => i64::from(i16::from_be_bytes(v.try_into().ok()?)),
                    v @ [_, _, _, _] => i64::from(i32::from_be_bytes(v.try_into().ok()?)),
                    v => i64::from_be_bytes(v.try_into().ok()?),
                });
            }
        }
        _ => return None,
    }
    Some(())
}

/// The chain of one delete-insert as the keyed path sees it.
pub(super) struct KeyedChain<'a> {
    /// The dataset of the final tables.
    pub(super) dataset: &'a str,
    /// The root table.
    pub(super) root: &'a Table,
    /// Its single primary key column.
    pub(super) key: &'a str,
    /// The load is small beside the root table (see [`super::catalog::is_small_beside`]): its keys and their
    /// child rows are found through the indexes (a range of the key's index, or a lookup per key), whatever the
    /// planner's estimates of a table without statistics say.
    pub(super) small: bool,
    /// The child tables and the column linking each to its root row.
    pub(super) children: Vec<(&'a str, &'a str)>,
    /// The root's jobs.
    pub(super) root_jobs: Vec<&'a Job>,
    /// The children's jobs.
    pub(super) child_jobs: Vec<&'a Job>,
    /// Where the list of replaced root row ids is kept.
    pub(super) stage: &'a StageTables,
    /// Makes the id list's name unique within the transaction.
    pub(super) tag: usize,
}

/// Applies `chain` by its key list; `Ok(false)` (nothing done) when the keys cannot be read back from the job
/// files, so the caller stages the rows as usual. The id list made in the staging schema is added to `made`.
pub(super) async fn delete_insert(
    tx: &tokio_postgres::Transaction<'_>,
    pg: &Postgres,
    package: &LoadPackage,
    chain: &KeyedChain<'_>,
    made: &mut Vec<String>,
) -> Result<bool> {
    let Some(keys) = read_keys(package, chain, chain.key).await? else {
        return Ok(false);
    };
    delete_replaced(tx.client(), pg, chain, &keys, None, made).await?;
    for job in chain.root_jobs.iter().chain(&chain.child_jobs) {
        super::copy::copy_to_final(tx.client(), pg, package, job, false).await?;
    }
    Ok(true)
}

/// Completes `chain` in a load transaction that already COPYed the load's rows (of load `load_id`) into the
/// final tables: deletes the rows of earlier loads that they replace, with their child rows. `Ok(false)` when
/// the keys cannot be read back from the job files, or when a replaced root row has the id of a new one (items
/// that bring their own `_dlt_id`), whose child rows could not be told apart: the transaction must then be
/// rolled back and the package loaded the usual way.
pub(super) async fn delete_replaced_after_copy(
    client: &tokio_postgres::Client,
    pg: &Postgres,
    package: &LoadPackage,
    chain: &KeyedChain<'_>,
    load_id: &str,
) -> Result<bool> {
    let Some(keys) = read_keys(package, chain, chain.key).await? else {
        return Ok(false);
    };
    let Some(Keys::Text(new_ids)) = read_keys(package, chain, C_DLT_ID).await? else {
        return Ok(false);
    };
    let id_list = delete_replaced(client, pg, chain, &keys, Some(load_id), &mut Vec::new()).await?;
    let clash = format!(
        "SELECT EXISTS (SELECT 1 FROM {id_list} WHERE {} = ANY($1))",
        sql::ident(C_DLT_ID)
    );
    let clashes: bool = client
        .query_typed_one(&clash, &[(&new_ids, Type::TEXT_ARRAY)])
        .await
        .map_err(|e| statement_error(pg, &clash, e))?
        .get(0);
    Ok(!clashes)
}

/// The values of column `column` of the root rows of `chain`, read back from its job files; `None` when a job
/// is not in the binary format, or a value is missing or of a type the path does not take.
async fn read_keys(
    package: &LoadPackage,
    chain: &KeyedChain<'_>,
    column: &str,
) -> Result<Option<Keys>> {
    let Some(data_type) = chain.root.columns.get(column).and_then(|c| c.data_type) else {
        return Ok(None);
    };
    let mut keys = match data_type {
        DataType::Text => Keys::Text(Vec::new()),
        DataType::Bigint => Keys::Integer(Vec::new()),
        _ => return Ok(None),
    };
    for job in &chain.root_jobs {
        if job.format != JobFormat::Binary {
            return Ok(None);
        }
        let path = package.job_path(job);
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|e| Error::io("cannot read job file", &path, e))?;
        if keys_of(&bytes, &job.columns, column, data_type, &mut keys).is_none() {
            return Ok(None);
        }
    }
    Ok(Some(keys))
}

/// Deletes the root rows of `chain` whose key is one of `keys` (but those of load `except_load`), and their
/// child rows; returns the (qualified) table listing the deleted root rows' ids, added to `made` when it is in
/// the staging schema.
async fn delete_replaced(
    client: &tokio_postgres::Client,
    pg: &Postgres,
    chain: &KeyedChain<'_>,
    keys: &Keys,
    except_load: Option<&str>,
    made: &mut Vec<String>,
) -> Result<String> {
    let id_list_name = chain.stage.name(&format!("_ele_delete_{}", chain.tag));
    let id_list = chain.stage.qualified(&id_list_name);
    let run = |statement: String| async move {
        client
            .batch_execute(&statement)
            .await
            .map_err(|e| statement_error(pg, &statement, e))
    };
    run(chain.stage.create_as(
        &id_list_name,
        &format!(
            "SELECT d.{id} FROM {} AS d WITH NO DATA",
            qualified(chain.dataset, &chain.root.name),
            id = sql::ident(C_DLT_ID)
        ),
    ))
    .await?;
    if !chain.stage.is_temp() {
        made.push(id_list_name);
    }
    // New keys beyond the old ones (growing ids): the index range between the smallest and largest key holds
    // few other rows (beside the new rows, when they are in the table already), and reading it beats a lookup
    // per key.
    let in_range = if chain.small {
        let count = sql::count_key_range(chain.dataset, &chain.root.name, chain.key);
        let factor = if except_load.is_some() { 3 } else { 2 };
        let bound = i64::try_from(keys.len().saturating_mul(factor)).unwrap_or(i64::MAX);
        let within: i64 = client
            .query_typed_one(&count, &[keys.param(), (&bound, Type::INT8)])
            .await
            .map_err(|e| statement_error(pg, &count, e))?
            .get(0);
        within < bound
    } else {
        false
    };
    tracing::debug!(
        table = %chain.root.name,
        keys = keys.len(),
        small = chain.small,
        in_range,
        "deleting the replaced rows by their keys"
    );
    let delete = sql::delete_by_key_list(
        chain.dataset,
        &chain.root.name,
        chain.key,
        matches!(keys, Keys::Integer(_)),
        &id_list,
        in_range,
        except_load.is_some(),
    );
    // Without statistics on a table its first load just filled, the planner would scan all of it for a few
    // keys. A load that is not small leaves the choice to the planner: a scan of the table against the hashed
    // key list, or a lookup per key.
    if chain.small {
        run("SET LOCAL enable_seqscan = off".to_owned()).await?;
    }
    let load = except_load.unwrap_or_default();
    let params: Vec<(&(dyn ToSql + Sync), Type)> = match except_load {
        Some(_) => vec![keys.param(), (&load, Type::TEXT)],
        None => vec![keys.param()],
    };
    client
        .query_typed(&delete, &params)
        .await
        .map_err(|e| statement_error(pg, &delete, e))?;
    if chain.small {
        run("SET LOCAL enable_seqscan TO DEFAULT".to_owned()).await?;
    }
    for (child, link) in &chain.children {
        for statement in sql::delete_children_of(chain.dataset, child, link, &id_list, chain.small)
        {
            run(statement).await?;
        }
    }
    Ok(id_list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_read_back_as_their_column_type() {
        let field = |bytes: &[u8]| [&(bytes.len() as i32).to_be_bytes()[..], bytes].concat();
        let tuple = |fields: &[Vec<u8>]| {
            let mut out = (fields.len() as i16).to_be_bytes().to_vec();
            fields.iter().for_each(|f| out.extend_from_slice(f));
            out
        };
        let columns = ["name".to_owned(), "id".to_owned()];
        let text = [
            tuple(&[field(b"x"), field("k\u{e9}".as_bytes())]),
            tuple(&[field(b"y"), field(b"2")]),
        ]
        .concat();
        let mut keys = Keys::Text(Vec::new());
        assert_eq!(
            keys_of(&text, &columns, "id", DataType::Text, &mut keys),
            Some(())
        );
        assert_eq!(keys, Keys::Text(vec!["k\u{e9}".to_owned(), "2".to_owned()]));

        let ints = [
            tuple(&[field(b"x"), field(&7i64.to_be_bytes())]),
            tuple(&[field(b"y"), field(&(-3i32).to_be_bytes())]),
            tuple(&[field(b"z"), field(&5i16.to_be_bytes())]),
        ]
        .concat();
        let mut keys = Keys::Integer(Vec::new());
        assert_eq!(
            keys_of(&ints, &columns, "id", DataType::Bigint, &mut keys),
            Some(())
        );
        assert_eq!(keys, Keys::Integer(vec![7, -3, 5]));

        // A NULL key, a column the job does not have, a type the path does not take: the rows are staged.
        let null = tuple(&[field(b"x"), (-1i32).to_be_bytes().to_vec()]);
        assert_eq!(
            keys_of(
                &null,
                &columns,
                "id",
                DataType::Text,
                &mut Keys::Text(Vec::new())
            ),
            None
        );
        assert_eq!(
            keys_of(
                &text,
                &columns,
                "other",
                DataType::Text,
                &mut Keys::Text(Vec::new())
            ),
            None
        );
        assert_eq!(
            keys_of(
                &text,
                &columns,
                "id",
                DataType::Double,
                &mut Keys::Text(Vec::new())
            ),
            None
        );
    }
}
