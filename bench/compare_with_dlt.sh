#!/usr/bin/env bash
# Loads the bench's generated workload (a base of N events merged on `id` with an incremental on `created_at`,
# then the increment) with `ele load --local` and with Python dlt (bench/dlt_load.py) into the same managed
# PostgreSQL, and after each of the two loads compares the datasets' row counts, column lists and checksums of
# every table's sorted contents (bench/dump_tables.py; dlt's random row ids left out).
# usage: bench/compare_with_dlt.sh [--python PYTHON] [--n N] [--increment N] [WORK_DIR]
#   PYTHON     has dlt 1.31 and psycopg2: $DLT_PYTHON, else /tmp/dltvenv/bin/python
#              (python3 -m venv /tmp/dltvenv && /tmp/dltvenv/bin/pip install dlt==1.31.0 psycopg2-binary)
#   N          base events, 200000 by default; the increment has 50000
#   WORK_DIR   data, pipelines, dumps and the server (.ele/postgres); /tmp/ele-compare by default
# Exits 0 when both loads leave the same data in both datasets.
set -euo pipefail
usage() { sed -n 's/^# \(usage: .*\)/\1/p' "$0" >&2; exit 2; }
python=${DLT_PYTHON:-/tmp/dltvenv/bin/python}
n=200000
increment=50000
work=/tmp/ele-compare
while [[ $# -gt 0 ]]; do
  case $1 in
    --python) [[ $# -ge 2 ]] || usage; python=$2; shift 2 ;;
    --n) [[ $# -ge 2 ]] || usage; n=$2; shift 2 ;;
    --increment) [[ $# -ge 2 ]] || usage; increment=$2; shift 2 ;;
    -h|--help) usage ;;
    -*) echo "unknown option $1" >&2; usage ;;
    *) work=$1; shift ;;
  esac
done
"$python" -c 'import dlt, psycopg2' 2>/dev/null \
  || { echo "$python cannot import dlt and psycopg2 (see the usage comment in $0)" >&2; exit 2; }

root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$work"
work=$(cd "$work" && pwd)
cd "$work"

echo "building ele and the bench (release)"
cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin ele --example bench
ele=$root/target/release/ele
mapfile -t files < <("$root/target/release/examples/bench" --n "$n" --increment "$increment" \
  --work "$work/data" --generate-only | grep '\.jsonl$')
[[ ${#files[@]} -eq 2 ]] || { echo "the bench did not name two generated files" >&2; exit 1; }

# A first small load starts the managed server (and makes database `ele`); then the datasets start empty.
echo '{"id": 1}' >boot.jsonl
"$ele" --quiet load boot.jsonl --table boot --local --pipeline cmp_boot --dataset cmp_boot \
  --pipelines-dir "$work/ele_pipelines" >/dev/null
server=$work/.ele/postgres
[[ -f $server/location ]] && server=$(head -n 1 "$server/location")
export PGPORT PGHOST PGUSER=postgres PGDATABASE=ele
PGPORT=$(sed -n 4p "$server/data/postmaster.pid")
PGHOST=$(sed -n 5p "$server/data/postmaster.pid")
dsn="postgresql://postgres:x@localhost/ele?host=$PGHOST&port=$PGPORT"
for schema in cmp_boot cmp_ele cmp_dlt; do
  psql -q -X -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" \
    -c "DROP SCHEMA IF EXISTS $schema CASCADE; DROP SCHEMA IF EXISTS ${schema}_staging CASCADE"
done
rm -rf "$work/ele_pipelines" "$work/dlt_pipelines" "$work/dumps"

status=0
for step in base:0 increment:1; do
  name=${step%%:*}
  file=${files[${step#*:}]}
  fresh=()
  [[ $name == base ]] && fresh=(--fresh)
  "$ele" --quiet load "$file" --table events --primary-key id --write-disposition merge \
    --cursor created_at --initial-value 1970-01-01T00:00:00Z --local \
    --pipeline cmp_ele --dataset cmp_ele --pipelines-dir "$work/ele_pipelines" >/dev/null
  "$python" "$root/bench/dlt_load.py" --file "$file" --dataset cmp_dlt --dsn "$dsn" \
    --pipelines-dir "$work/dlt_pipelines" "${fresh[@]}" | sed -n 's/^/  dlt: /; /total\|hold/p'
  for who in ele dlt; do
    "$python" "$root/bench/dump_tables.py" --dsn "$dsn" --dataset "cmp_$who" --out "dumps/$name/$who" >/dev/null
  done
  for facts in counts columns checksums; do
    if cmp -s "dumps/$name/ele/$facts.tsv" "dumps/$name/dlt/$facts.tsv"; then
      echo "$name $facts: same"
    else
      echo "$name $facts: DIFFER (< ele, > dlt)"
      diff "dumps/$name/ele/$facts.tsv" "dumps/$name/dlt/$facts.tsv" || true
      status=1
    fi
  done
  sed "s/^/  $name /" "dumps/$name/ele/counts.tsv"
done
if [[ $status -eq 0 ]]; then
  echo "the datasets are the same: ele and dlt $("$python" -c 'import dlt; print(dlt.__version__)') loaded the same data"
else
  echo "the datasets differ"
fi
exit $status
