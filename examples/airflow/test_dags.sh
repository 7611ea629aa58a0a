#!/usr/bin/env bash
# Loads the generated DAGs into Apache Airflow's DagBag and runs one rendered task against a real PostgreSQL.
#
#   examples/airflow/test_dags.sh
#
# Installs Apache Airflow from PyPI into a virtual environment (target/airflow-venv, or $AIRFLOW_VENV; the
# first run takes a few minutes), builds the pipeline program, starts a throwaway PostgreSQL cluster from the
# installed server binaries (or uses $ELE_TEST_POSTGRES_URL, a server where the user may create databases),
# and runs test_dags.py (see there for the checks). Not part of .ci/run: it needs PyPI and minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

venv=${AIRFLOW_VENV:-$root/target/airflow-venv}
airflow_version=${AIRFLOW_VERSION:-3.3.2}
if ! "$venv/bin/python" -c "import airflow, airflow.providers.standard" 2>/dev/null; then
  echo "installing apache-airflow $airflow_version into $venv (a few minutes)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q "apache-airflow==$airflow_version" apache-airflow-providers-standard
fi

cargo build -q --example zendesk_support

work=$(mktemp -d)
pg_data=""
pg_ctl=""
as_server_user() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
cleanup() {
  if [ -n "$pg_data" ]; then as_server_user "$pg_ctl" -D "$pg_data" -m immediate stop >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

database=ele_airflow_$$
if [ -n "${ELE_TEST_POSTGRES_URL:-}" ]; then
  admin_url=$ELE_TEST_POSTGRES_URL
else
  bindir=$(pg_config --bindir 2>/dev/null || true)
  if [ ! -x "$bindir/initdb" ]; then bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1); fi
  pg_ctl=$bindir/pg_ctl
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p "$work/pg"
  [ "$(id -u)" = 0 ] && chown postgres "$work" "$work/pg" && chmod 755 "$work"
  pg_data=$work/pg/data
  as_server_user "$bindir/initdb" -D "$pg_data" -U postgres -A trust --no-sync >/dev/null
  as_server_user "$pg_ctl" -D "$pg_data" -l "$work/pg/postgres.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $work/pg -c fsync=off" start >/dev/null
  admin_url=postgresql://postgres@127.0.0.1:$port/postgres
fi
psql "$admin_url" -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $database" >/dev/null
trap 'psql "$admin_url" -q -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true; cleanup' EXIT
database_url=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$admin_url" "$database")

export AIRFLOW_HOME=$work/airflow
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export ELE_TEST_DATABASE_URL=$database_url
export ELE_PROGRAM_DIR=$root/target/debug/examples
"$venv/bin/python" examples/airflow/test_dags.py
