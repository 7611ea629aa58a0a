//! Where a load stages merge and replace rows: in temp tables of the load transaction, or, for a role without
//! the TEMPORARY privilege (or when asked), in the staging schema `<dataset>_staging` (dlt's layout) in tables
//! named per load, created and dropped inside the load transaction. The role's privileges decide, and a role
//! that can do neither gets an error naming the grant it needs.

use ele_core::{Error, Result};
use tokio_postgres::GenericClient;
use tokio_postgres::types::Type;

use super::classify::sql_error;
use super::config::{Postgres, Staging};
use super::sql::{StageTables, ident};

/// The staging schema of a dataset, as dlt names it (`staging_dataset_name_layout = "%s_staging"`, normalized:
/// a dataset name too long for `_staging` is shortened with dlt's tag, never truncated by the server).
pub(super) fn staging_schema(dataset: &str) -> String {
    ele_core::naming::normalize_staging_dataset_name(dataset)
}

/// What the connected role may do in the database.
struct Privileges {
    role: String,
    database: String,
    temporary: bool,
    create: bool,
    /// `Some(may create in it)` when the dataset schema exists.
    dataset: Option<bool>,
    /// `Some(may create in it)` when the staging schema exists.
    staging: Option<bool>,
}

async fn privileges(client: &impl GenericClient, pg: &Postgres, ds: &str) -> Result<Privileges> {
    let row = client
        .query_typed_one(
            "SELECT current_user::text, current_database()::text, \
             has_database_privilege(current_database(), 'TEMPORARY'), \
             has_database_privilege(current_database(), 'CREATE'), \
             (SELECT has_schema_privilege(oid, 'USAGE') AND has_schema_privilege(oid, 'CREATE') \
              FROM pg_namespace WHERE nspname = $1), \
             (SELECT has_schema_privilege(oid, 'USAGE') AND has_schema_privilege(oid, 'CREATE') \
              FROM pg_namespace WHERE nspname = $2)",
            &[(&ds, Type::TEXT), (&staging_schema(ds), Type::TEXT)],
        )
        .await
        .map_err(|e| sql_error(pg, "reading the role's privileges", e))?;
    Ok(Privileges {
        role: row.get(0),
        database: row.get(1),
        temporary: row.get(2),
        create: row.get(3),
        dataset: row.get(4),
        staging: row.get(5),
    })
}

/// Checks that the role can create the dataset schema when it is missing; with `stages` (the load merges or
/// replaces) also decides where it stages: temp tables when asked for (the default) and allowed, else the
/// staging schema, when the role may create it or create tables in it. `in_schema` (a staging-optimized
/// replace, whose new tables move from the staging schema into the dataset) requires the staging schema.
pub(super) async fn plan(
    client: &impl GenericClient,
    pg: &Postgres,
    ds: &str,
    schema_name: &str,
    load_id: &str,
    stages: bool,
    in_schema: bool,
) -> Result<StageTables> {
    let p = privileges(client, pg, ds).await?;
    let (role, db) = (&p.role, &p.database);
    // The suggested statements quote every name, so they can be pasted as they are.
    let (role_sql, db_sql, ds_sql) = (ident(role), ident(db), ident(ds));
    if p.dataset.is_none() && !p.create {
        return Err(Error::config(format!(
            "role `{role}` cannot create the dataset schema `{ds}`: it has no CREATE privilege on database \
             `{db}`. Grant it (`GRANT CREATE ON DATABASE {db_sql} TO {role_sql}`), or create the schema for \
             it (`CREATE SCHEMA {ds_sql} AUTHORIZATION {role_sql}`)"
        )));
    }
    if !in_schema && (!stages || (pg.staging == Staging::Temp && p.temporary)) {
        return Ok(StageTables::temp());
    }
    let schema = staging_schema(ds);
    let schema_sql = ident(&schema);
    if pg.staging == Staging::Temp && !in_schema {
        tracing::info!(
            role = %role,
            database = %db,
            "the role has no TEMPORARY privilege: staging merges and replaces in schema `{schema}`"
        );
    }
    let allowed = match p.staging {
        Some(may_create) => may_create,
        None => p.create,
    };
    if !allowed {
        let why = if pg.staging == Staging::Temp && !in_schema {
            format!("it has no TEMPORARY privilege on database `{db}` (for temp tables) and ")
        } else {
            String::new()
        };
        let fix = match p.staging {
            None => format!(
                "`GRANT CREATE ON DATABASE {db_sql} TO {role_sql}`, or create the schema for it (`CREATE SCHEMA \
                 {schema_sql} AUTHORIZATION {role_sql}`)"
            ),
            Some(_) => format!("`GRANT USAGE, CREATE ON SCHEMA {schema_sql} TO {role_sql}`"),
        };
        let temporary = if pg.staging == Staging::Temp && !in_schema {
            format!(", or `GRANT TEMPORARY ON DATABASE {db_sql} TO {role_sql}`")
        } else {
            String::new()
        };
        return Err(Error::config(format!(
            "role `{role}` cannot stage the rows of a merge or replace: {why}it cannot create tables in the \
             staging schema `{schema}`. Grant one: {fix}{temporary}"
        )));
    }
    Ok(StageTables::in_schema(&schema, schema_name, load_id))
}

/// Creates schema `name` unless it exists (`CREATE SCHEMA IF NOT EXISTS` alone needs CREATE on the database
/// even when the schema is there, so a role owning pre-created schemas could not load).
pub(super) async fn ensure_schema(
    client: &impl GenericClient,
    pg: &Postgres,
    name: &str,
) -> Result<()> {
    let exists = client
        .query_typed_opt(
            "SELECT 1 FROM pg_namespace WHERE nspname = $1",
            &[(&name, Type::TEXT)],
        )
        .await
        .map_err(|e| sql_error(pg, &format!("looking for schema `{name}`"), e))?
        .is_some();
    if !exists {
        client
            .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {}", ident(name)))
            .await
            .map_err(|e| sql_error(pg, &format!("creating schema `{name}`"), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::staging_schema;

    #[test]
    fn staging_schemas_are_named_as_dlt_names_them() {
        assert_eq!(staging_schema("shop"), "shop_staging");
        // PostgreSQL would cut a longer name silently; dlt shortens it with a tag of the full name.
        let long = "d".repeat(60);
        let name = staging_schema(&long);
        assert!(name.len() <= 63, "{name}");
        assert_ne!(name, staging_schema(&"d".repeat(61)));
    }
}
