#!/usr/bin/env bash
# Loads the standard bench data (200k events, then the 50k increment) with `ele load` into the managed local
# PostgreSQL and compares every table with Python dlt 1.31's reference dump (row counts, columns, checksums).
#   bench/compare_with_dlt.sh [WORK_DIR]      (needs python3 with psycopg2 for dump_results.py: DUMP_PYTHON=...)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${SHARED_DIR:-$root/../shared}
work=${1:-/tmp/ele-compare}
py=${DUMP_PYTHON:-python3}
mkdir -p "$work" && cd "$work"
[ -f base.jsonl ] || python3 "$shared/bench/gen_events.py" --n 200000 --start-id 0 --out base.jsonl
[ -f incr.jsonl ] || python3 "$shared/bench/gen_events.py" --n 50000 --start-id 190000 --seed 1 --t0 2024-03-01T00:00:00Z --out incr.jsonl
cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin ele
ele=$root/target/release/ele
rm -rf .ele/pipelines
dataset=cmp_$(date +%s)
dsn="host=$work/.ele/postgres port=5432 user=postgres dbname=ele"
status=0
for step in full:base.jsonl incr:incr.jsonl; do
  name=${step%%:*}; file=${step#*:}
  "$ele" load "$file" --table events --primary-key id --write-disposition merge \
      --cursor created_at --initial-value 1970-01-01T00:00:00Z --local --dataset "$dataset" >/dev/null
  "$py" "$shared/bench/dump_results.py" --dataset "$dataset" --out "res_$name" --dsn "$dsn" >/dev/null
  for f in counts columns checksums; do
    if diff -q "res_$name/$f.tsv" "$shared/bench/reference-dlt-1.31/200k_merge_$name/$f.tsv" >/dev/null; then
      echo "200k_merge_$name $f: same as dlt 1.31"
    else
      echo "200k_merge_$name $f: DIFFERS"; diff "res_$name/$f.tsv" "$shared/bench/reference-dlt-1.31/200k_merge_$name/$f.tsv" || true; status=1
    fi
  done
done
exit $status
