#!/usr/bin/env bash
# One dataset, either engine: runs the bench's workload (a base of N events merged on `id` with an incremental on
# `created_at`, then an increment) through both engines taking over each other's pipeline, each step with a fresh
# working dir (state and schema come from the destination):
#   rt_dlt_ele   dlt loads the base; ele reruns the base (nothing loaded) and merges the increment
#   rt_ele_dlt   ele loads the base; dlt (sync_destination() first, as run() does) reruns the base (nothing
#                written) and merges the increment
#   rt_dlt       dlt alone loads the base and merges the increment
# and compares every table of the three datasets after the base and at the end (row counts, columns, checksums
# of the sorted contents without dlt's random row ids; bench/dump_tables.py).
# usage: bench/interop_dlt.sh [--python PYTHON] [--n N] [--increment N] [--debug] [WORK_DIR]
#   PYTHON     has dlt 1.31 and psycopg2: $DLT_PYTHON, else /tmp/dltvenv/bin/python
#              (python3 -m venv /tmp/dltvenv && /tmp/dltvenv/bin/pip install 'dlt[postgres]==1.31.*')
#   N          base events, 20000 by default; the increment has 5000
#   --debug    use a debug build of ele and the bench (quicker to build)
#   WORK_DIR   data, pipelines, dumps and the server (.ele/postgres); /tmp/ele-interop by default
# Exits 0 when every rerun loaded nothing and the three datasets hold the same data after each step.
set -euo pipefail
usage() { sed -n 's/^# \(usage: .*\)/\1/p' "$0" >&2; exit 2; }
python=${DLT_PYTHON:-/tmp/dltvenv/bin/python}
n=20000
increment=5000
work=/tmp/ele-interop
profile=release
while [[ $# -gt 0 ]]; do
  case $1 in
    --python) [[ $# -ge 2 ]] || usage; python=$2; shift 2 ;;
    --n) [[ $# -ge 2 ]] || usage; n=$2; shift 2 ;;
    --increment) [[ $# -ge 2 ]] || usage; increment=$2; shift 2 ;;
    --debug) profile=debug; shift ;;
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

echo "building ele and the bench ($profile)"
if [[ $profile == release ]]; then
  cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin ele --example bench
else
  cargo build --quiet --manifest-path "$root/Cargo.toml" --bin ele --example bench
fi
ele=$root/target/$profile/ele
mapfile -t files < <("$root/target/$profile/examples/bench" --n "$n" --increment "$increment" \
  --work "$work/data" --generate-only | grep '\.jsonl$')
[[ ${#files[@]} -eq 2 ]] || { echo "the bench did not name two generated files" >&2; exit 1; }
base=${files[0]}
incr=${files[1]}

# A first small load starts the managed server (and makes database `ele`); then the datasets start empty.
rm -rf "$work/boot_pipelines"
echo '{"id": 1}' >boot.jsonl
"$ele" --quiet load boot.jsonl --table boot --local --pipeline rt_boot --dataset rt_boot \
  --pipelines-dir "$work/boot_pipelines" >/dev/null
server=$work/.ele/postgres
[[ -f $server/location ]] && server=$(head -n 1 "$server/location")
export PGPORT PGHOST PGUSER=postgres PGDATABASE=ele
PGPORT=$(sed -n 4p "$server/data/postmaster.pid")
PGHOST=$(sed -n 5p "$server/data/postmaster.pid")
dsn="postgresql://postgres:x@localhost/ele?host=$PGHOST&port=$PGPORT"
for schema in rt_boot rt_dlt rt_dlt_ele rt_ele_dlt; do
  psql -q -X -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" \
    -c "DROP SCHEMA IF EXISTS $schema CASCADE; DROP SCHEMA IF EXISTS ${schema}_staging CASCADE"
done

# Each step starts from a fresh working dir of its engine.
fresh_dir() { rm -rf "$work/pipelines"; echo "$work/pipelines"; }
ele_load() { # dataset file
  "$ele" --quiet load "$2" --table events --primary-key id --write-disposition merge \
    --cursor created_at --initial-value 1970-01-01T00:00:00Z --local \
    --pipeline "$1" --dataset "$1" --pipelines-dir "$(fresh_dir)" >/dev/null
}
dlt_load() { # dataset file [--sync]
  "$python" "$root/bench/dlt_load.py" --file "$2" --dataset "$1" --pipeline "$1" --dsn "$dsn" \
    --pipelines-dir "$(fresh_dir)" "${@:3}" | sed -n "s/^/  $1 dlt: /; /written\|hold/p"
}
loads() { psql -X -A -t -c "SELECT count(*) FROM $1._dlt_loads"; }
rows() { psql -X -A -t -c "SELECT (SELECT count(*) FROM $1.events) || ' ' || (SELECT max(_dlt_load_id) FROM $1.events)"; }

status=0
compare() { # step
  for ds in rt_dlt rt_dlt_ele rt_ele_dlt; do
    "$python" "$root/bench/dump_tables.py" --dsn "$dsn" --dataset "$ds" --out "dumps/$1/$ds" >/dev/null
  done
  for ds in rt_dlt_ele rt_ele_dlt; do
    for facts in counts columns checksums; do
      if cmp -s "dumps/$1/$ds/$facts.tsv" "dumps/$1/rt_dlt/$facts.tsv"; then
        echo "$1 $ds $facts: same as dlt alone"
      else
        echo "$1 $ds $facts: DIFFER (< $ds, > dlt alone)"
        diff "dumps/$1/$ds/$facts.tsv" "dumps/$1/rt_dlt/$facts.tsv" || true
        status=1
      fi
    done
  done
}
unchanged() { # dataset what before
  local after
  after=$(rows "$1")
  if [[ $after == "$3" ]]; then
    echo "$2: nothing loaded ($after)"
  else
    echo "$2: LOADED SOMETHING (events rows and newest load id before: $3, after: $after)"
    status=1
  fi
}

echo "base"
dlt_load rt_dlt "$base"
dlt_load rt_dlt_ele "$base"
ele_load rt_ele_dlt "$base"
compare base

echo "takeover: rerun the base"
before=$(rows rt_dlt_ele)
ele_load rt_dlt_ele "$base"
unchanged rt_dlt_ele "ele rerunning dlt's base" "$before"
before=$(rows rt_ele_dlt)
dlt_load rt_ele_dlt "$base" --sync
unchanged rt_ele_dlt "dlt rerunning ele's base" "$before"

echo "increment"
dlt_load rt_dlt "$incr"
ele_load rt_dlt_ele "$incr"
dlt_load rt_ele_dlt "$incr" --sync
compare increment
for ds in rt_dlt rt_dlt_ele rt_ele_dlt; do
  echo "  $ds: $(loads "$ds") loads, newest schema $(psql -X -A -t -c \
    "SELECT version || ' ' || version_hash || ' engine ' || engine_version FROM $ds._dlt_version ORDER BY inserted_at DESC LIMIT 1")"
done

if [[ $status -eq 0 ]]; then
  echo "round trip passed: either engine took over the other's pipeline without reloading, and the datasets match dlt alone"
else
  echo "round trip FAILED"
fi
exit $status
