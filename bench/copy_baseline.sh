#!/usr/bin/env bash
# The physical limit: a psql `\copy` of the bench's pre-flattened CSVs into fresh tables, timed.
# usage: bench/copy_baseline.sh CSV_DIR [plain|dlt] [SCHEMA]
#   CSV_DIR  a `<file>.csv.d` folder written by `cargo run --release --example bench -- --floor`
#   plain    tables without constraints (the default); dlt: dlt's NOT NULLs and a UNIQUE (_dlt_id) per table
#   SCHEMA   where the tables go, recreated; copy_<mode> by default
# The server is the one of PGHOST, PGPORT, PGUSER and PGDATABASE.
set -euo pipefail
if [[ $# -lt 1 || $# -gt 3 ]]; then
  sed -n 's/^# \(usage: .*\)/\1/p' "$0" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
source "$here/event_tables.sh"
dir=$(cd "$1" && pwd)
mode=${2:-plain}
schema=${3:-copy_$mode}
[[ $mode == plain || $mode == dlt ]] || { echo "mode must be plain or dlt, not $mode" >&2; exit 2; }
tables=(events events__payload__commits events__payload__labels)

{
  echo "SET client_min_messages = warning;"
  echo "DROP SCHEMA IF EXISTS $schema CASCADE; CREATE SCHEMA $schema;"
  event_tables "$schema" "$mode"
  if [[ $mode == dlt ]]; then
    for t in "${tables[@]}"; do echo "ALTER TABLE $schema.$t ADD UNIQUE (_dlt_id);"; done
  fi
} | psql -q -X -v ON_ERROR_STOP=1

start=$(now_ns)
for t in "${tables[@]}"; do copy_csv "$schema.$t" "$dir/$t.csv"; done | psql -q -X -v ON_ERROR_STOP=1
end=$(now_ns)

read -r events commits labels < <(psql -X -At -F ' ' -c "SELECT (SELECT count(*) FROM $schema.events),
  (SELECT count(*) FROM $schema.events__payload__commits), (SELECT count(*) FROM $schema.events__payload__labels)")
rows=$((events + commits + labels))
secs=$(seconds_between "$start" "$end")
rate=$(awk -v r="$rows" -v s="$secs" 'BEGIN { printf "%.0f", r / s }')
echo "copy $mode: $secs s, $rows rows (events $events, commits $commits, labels $labels), $rate rows/s"
