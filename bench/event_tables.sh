# Sourced by copy_baseline.sh and merge_floor.sh: the tables dlt creates for the benchmark's events, and a
# psql `\copy` of one CSV written by the bench (`<file>.csv.d/<table>.csv`, header line naming the columns).

# event_tables SCHEMA [plain|dlt] [unlogged]: CREATE TABLE statements for events and its two child tables.
# `dlt` adds dlt's NOT NULL on its own columns; `unlogged` makes the tables UNLOGGED.
event_tables() {
  local schema=$1 mode=${2:-plain} kind=""
  local req=""
  [[ $mode == dlt ]] && req="NOT NULL"
  [[ ${3:-} == unlogged ]] && kind="UNLOGGED"
  cat <<SQL
CREATE $kind TABLE $schema.events (
  id varchar NOT NULL, type varchar, created_at timestamptz, public boolean,
  payload__ref varchar, payload__size bigint, repo__id bigint, repo__name varchar,
  actor__id bigint, actor__login varchar, actor__url varchar,
  _dlt_load_id varchar $req, _dlt_id varchar $req,
  payload__action varchar, payload__number bigint, payload__push_id bigint, payload__head varchar);
CREATE $kind TABLE $schema.events__payload__commits (
  sha varchar, message varchar, "distinct" boolean, author__name varchar, author__email varchar,
  _dlt_root_id varchar $req, _dlt_parent_id varchar $req, _dlt_list_idx bigint $req, _dlt_id varchar $req);
CREATE $kind TABLE $schema.events__payload__labels (
  value varchar, _dlt_root_id varchar $req, _dlt_parent_id varchar $req, _dlt_list_idx bigint $req,
  _dlt_id varchar $req);
SQL
}

# copy_csv SCHEMA.TABLE FILE: a psql `\copy` meta-command loading FILE, its columns named by its header line.
copy_csv() {
  local target=$1 file=$2 columns
  columns=$(head -n 1 "$file" | sed -e 's/[^,]*/"&"/g')
  printf "\\\\copy %s (%s) FROM '%s' WITH (FORMAT csv, HEADER true)\n" "$target" "$columns" "${file//\'/\'\'}"
}

# Nanoseconds since the epoch, and the seconds between two of them with two decimals.
now_ns() { date +%s%N; }
seconds_between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b - a) / 1e9 }'; }
