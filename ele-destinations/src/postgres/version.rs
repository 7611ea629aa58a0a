//! What the server's version allows: `MERGE`, which the `upsert` merge strategy is written with, came with
//! PostgreSQL 15. Everything else ele writes (delete-insert, insert-only and scd2 merges, appends, replaces,
//! COPY FREEZE, the `IF NOT EXISTS` forms) runs on older servers too. A package that needs `MERGE` on an older
//! server is refused before anything of it is written.

use ele_core::package::{ChainLoad, Manifest};
use ele_core::{Error, MergeStrategy, Result, WriteDisposition};
use tokio_postgres::GenericClient;

use super::classify::sql_error;
use super::config::Postgres;

/// `server_version_num` of the first release with `MERGE`.
const MERGE_SINCE: i32 = 150_000;

/// Whether a merge strategy is written with `MERGE`.
fn needs_merge(strategy: MergeStrategy) -> bool {
    strategy == MergeStrategy::Upsert
}

/// The release of a `server_version` setting: `14.11 (Debian 14.11-1.pgdg120+1)` → `14.11`.
fn release(server_version: &str) -> &str {
    server_version
        .split_whitespace()
        .next()
        .unwrap_or(server_version)
}

/// The first chain written with `MERGE`.
fn merging_chain(chains: &[ChainLoad]) -> Option<&ChainLoad> {
    chains
        .iter()
        .find(|c| c.write_disposition == WriteDisposition::Merge && needs_merge(c.merge.strategy))
}

/// Refuses a package's chains when one needs `MERGE` and the server (`server_version_num`, `server_version`)
/// has none, naming the version, the strategy and the table.
fn check(chains: &[ChainLoad], version_num: i32, server_version: &str) -> Result<()> {
    if version_num >= MERGE_SINCE {
        return Ok(());
    }
    match merging_chain(chains) {
        None => Ok(()),
        Some(chain) => Err(Error::config(format!(
            "PostgreSQL {} has no MERGE, which the `{}` merge strategy of table `{}` needs: use PostgreSQL 15 or \
             newer, or the delete-insert strategy (nothing was loaded)",
            release(server_version),
            chain.merge.strategy,
            chain.root
        ))),
    }
}

/// Asks the server its version when `manifest` has a chain that needs `MERGE`, and refuses the package when the
/// server is older than PostgreSQL 15. Call it before the package writes anything.
pub(super) async fn require_merge_support(
    client: &impl GenericClient,
    pg: &Postgres,
    manifest: &Manifest,
) -> Result<()> {
    if merging_chain(&manifest.chains).is_none() {
        return Ok(());
    }
    let row = client
        .query_typed_one(
            "SELECT current_setting('server_version_num')::int, current_setting('server_version')",
            &[],
        )
        .await
        .map_err(|e| sql_error(pg, "asking the server's version", e))?;
    check(&manifest.chains, row.get(0), row.get(1))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use ele_core::package::{ChainLoad, MergeSpec};
    use ele_core::{MergeStrategy, WriteDisposition};

    use super::{check, release};

    fn chains(chains: &[(&str, WriteDisposition, MergeStrategy)]) -> Vec<ChainLoad> {
        chains
            .iter()
            .map(|&(root, write_disposition, strategy)| ChainLoad {
                root: root.into(),
                write_disposition,
                unique_keys: false,
                unchecked_keys: false,
                merge: MergeSpec {
                    strategy,
                    ..MergeSpec::default()
                },
            })
            .collect()
    }

    #[test]
    fn release_is_the_first_word_of_server_version() {
        assert_eq!(release("14.11 (Debian 14.11-1.pgdg120+1)"), "14.11");
        assert_eq!(release("18.4"), "18.4");
        assert_eq!(release("18beta1"), "18beta1");
        assert_eq!(release(""), "");
    }

    #[test]
    fn upsert_is_refused_before_15_naming_version_strategy_and_table() {
        use MergeStrategy::*;
        use WriteDisposition::*;
        let m = chains(&[
            ("events", Append, DeleteInsert),
            ("orders", Merge, DeleteInsert),
            ("customers", Merge, Upsert),
        ]);
        let err = check(&m, 140_011, "14.11 (Debian 14.11-1.pgdg120+1)").unwrap_err();
        assert_eq!(
            err.to_string(),
            "configuration error: PostgreSQL 14.11 has no MERGE, which the `upsert` merge strategy of table \
             `customers` needs: use PostgreSQL 15 or newer, or the delete-insert strategy (nothing was loaded)"
        );
        assert!(check(&m, 150_000, "15.0").is_ok());
        assert!(check(&m, 180_004, "18.4").is_ok());
        // Strategies written without MERGE, and an upsert hint on a chain that does not merge, load anywhere.
        let old_ok = chains(&[
            ("a", Merge, DeleteInsert),
            ("b", Merge, InsertOnly),
            ("c", Merge, Scd2),
            ("d", Replace, Upsert),
        ]);
        assert!(check(&old_ok, 90_624, "9.6.24").is_ok());
    }
}
