//! A representative part of the suite again on PostgreSQL 18, the newest major release (the rest runs on the
//! installed PostgreSQL, 15 in CI): each test runs another module's test body with its databases on a second
//! throwaway cluster started from `ELE_TEST_PG18_BIN` (see `support`). Without PostgreSQL 18 these tests fail
//! saying how to install it (`.ci/install-pg18`); they never skip.

use crate::support::{TestDb, on_pg18};
use crate::{
    dispositions, examples, faults, incremental, merge_strategies, refresh, relational,
    replace_strategies,
};

/// The databases really are on PostgreSQL 18.
#[test]
fn the_server_is_postgresql_18() {
    on_pg18(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(async {
                let db = TestDb::new("pg18_version").await;
                let version = db.lines("SHOW server_version").await;
                assert!(
                    version[0].starts_with("18."),
                    "the PostgreSQL 18 tests run on PostgreSQL {}",
                    version[0]
                );
            });
    });
}

/// Merge into per-type tables with nested lists, streamed first load, incremental re-runs.
#[test]
fn merge_with_nested_lists_and_incremental_reruns() {
    on_pg18(examples::github_events_table_per_type_merge_and_early_stop);
}

/// Replace with root keys, then merge.
#[test]
fn replace_then_merge_with_root_keys() {
    on_pg18(examples::facebook_ads_replace_with_root_key_then_merge);
}

#[test]
fn replace_twice() {
    on_pg18(dispositions::replace_twice_keeps_only_the_second_run);
}

/// Each replace strategy (the swap of staging-optimized included), with child tables.
#[test]
fn replace_strategies() {
    on_pg18(replace_strategies::each_strategy_replaces_the_root_and_its_child_tables);
}

#[test]
fn a_reader_during_a_replace() {
    on_pg18(replace_strategies::a_reader_during_a_replace_sees_the_old_or_the_new_rows);
}

/// A refresh's drops and new tables in the load transaction.
#[test]
fn refresh_drop_resources() {
    on_pg18(refresh::drop_resources_recreates_the_runs_tables_and_resets_their_state);
}

/// The streamed first load into new tables, COPY FREEZE.
#[test]
fn first_merge_lands_frozen() {
    on_pg18(dispositions::first_merge_lands_frozen_and_staging_leaves_no_schema);
}

#[test]
fn small_merges_through_the_key_index() {
    on_pg18(dispositions::small_merges_replace_exactly_their_keys);
}

#[test]
fn small_merges_of_text_keys_through_the_key_index() {
    on_pg18(dispositions::small_merges_of_text_keys_replace_their_child_rows);
}

#[test]
fn state_and_loads_rows_commit_with_the_data() {
    on_pg18(dispositions::state_and_loads_rows_are_committed_with_the_data);
}

/// `MERGE`.
#[test]
fn upsert() {
    on_pg18(
        merge_strategies::upsert_updates_in_place_deletes_flagged_keys_and_drops_vanished_list_elements,
    );
}

#[test]
fn scd2() {
    on_pg18(merge_strategies::scd2_retires_missing_versions_and_inserts_new_ones);
}

#[test]
fn insert_only() {
    on_pg18(merge_strategies::insert_only_skips_keys_already_present);
}

#[test]
fn delete_insert_with_hard_delete_and_dedup_sort() {
    on_pg18(merge_strategies::delete_insert_hard_delete_and_dedup_sort_choose_the_newest_version);
}

/// The `ele` binary, as a child process.
#[test]
fn ele_load_merge_strategies() {
    on_pg18(merge_strategies::ele_load_takes_a_merge_strategy_hard_delete_and_dedup_sort);
}

#[test]
fn schema_evolution() {
    on_pg18(relational::schema_evolves_new_columns_and_variants);
}

#[test]
fn state_restored_from_the_destination() {
    on_pg18(incremental::lost_working_dir_is_restored_from_the_destination);
}

/// The pipeline lock (advisory locks).
#[test]
fn concurrent_runs_wait() {
    on_pg18(incremental::concurrent_stateful_runs_wait_for_each_other);
}

/// A crash before the commit of a merge, and before the commit of a first load into new tables.
#[test]
fn crash_before_commit() {
    on_pg18(faults::crash_before_commit_loses_and_doubles_nothing);
}

#[test]
fn crash_before_committing_a_first_load() {
    on_pg18(faults::crash_before_committing_a_direct_load_loses_and_doubles_nothing);
}
