#!/usr/bin/env bash
# What a loader that stages everything must at least pay inside PostgreSQL for the bench's two merges: the
# pre-flattened CSVs `\copy`d into UNLOGGED staging tables, then one transaction that deletes the rows whose `id`
# comes again (children first, by `_dlt_root_id`) and inserts the staged rows, deduplicated on `id`, into final
# tables with dlt's NOT NULLs, a unique index on `events.id` and indexes on the children's `_dlt_root_id`.
# usage: bench/merge_floor.sh BASE_CSV_DIR INCREMENT_CSV_DIR
#   both `<file>.csv.d` folders written by `cargo run --release --example bench -- --floor`; the server is the
#   one of PGHOST, PGPORT, PGUSER and PGDATABASE; schemas floor and floor_staging are recreated.
# Prints `merge floor: full <s> s, increment <s> s`.
set -euo pipefail
if [[ $# -ne 2 ]]; then
  sed -n 's/^# \(usage: .*\)/\1/p' "$0" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
source "$here/event_tables.sh"
base=$(cd "$1" && pwd)
increment=$(cd "$2" && pwd)
final=floor
stage=floor_staging
children=(events__payload__commits events__payload__labels)
sql() { psql -q -X -v ON_ERROR_STOP=1 "$@"; }

{
  echo "SET client_min_messages = warning;"
  echo "DROP SCHEMA IF EXISTS $final CASCADE; DROP SCHEMA IF EXISTS $stage CASCADE;"
  echo "CREATE SCHEMA $final; CREATE SCHEMA $stage;"
  event_tables "$final" dlt
  event_tables "$stage" dlt unlogged
  echo "CREATE UNIQUE INDEX ON $final.events (id);"
  for t in "${children[@]}"; do echo "CREATE INDEX ON $final.$t (_dlt_root_id);"; done
} | sql

# merge DIR: stage the CSVs of DIR, then merge them in one transaction.
merge() {
  local dir=$1
  {
    echo "TRUNCATE $stage.events, $stage.events__payload__commits, $stage.events__payload__labels;"
    for t in events "${children[@]}"; do copy_csv "$stage.$t" "$dir/$t.csv"; done
    echo "BEGIN;"
    echo "CREATE TEMP TABLE replaced ON COMMIT DROP AS
            SELECT f._dlt_id FROM $final.events f WHERE f.id IN (SELECT id FROM $stage.events);"
    for t in "${children[@]}"; do
      echo "DELETE FROM $final.$t WHERE _dlt_root_id IN (SELECT _dlt_id FROM replaced);"
    done
    echo "DELETE FROM $final.events WHERE _dlt_id IN (SELECT _dlt_id FROM replaced);"
    echo "INSERT INTO $final.events SELECT DISTINCT ON (id) * FROM $stage.events ORDER BY id, created_at DESC;"
    for t in "${children[@]}"; do echo "INSERT INTO $final.$t SELECT * FROM $stage.$t;"; done
    echo "COMMIT;"
  } | sql
}

t0=$(now_ns)
merge "$base"
t1=$(now_ns)
merge "$increment"
t2=$(now_ns)
sql -c CHECKPOINT
echo "merge floor: full $(seconds_between "$t0" "$t1") s, increment $(seconds_between "$t1" "$t2") s"
