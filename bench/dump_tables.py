#!/usr/bin/env python3
"""Facts about a loaded dataset that two loaders can be compared on, in three small files.

usage: dump_tables.py --dsn DSN --dataset NAME --out DIR [--root events] [--key id]

  counts.tsv     rows per data table
  columns.tsv    every table's columns in order, with type and nullability as information_schema has them
  checksums.tsv  sha256 of each data table's contents, sorted, as PostgreSQL's text COPY writes them

The row ids dlt draws at random (_dlt_id, _dlt_load_id, and _dlt_parent_id/_dlt_root_id that point at them) are
left out: a child table's rows are keyed by their root row's KEY (from the root table ROOT) and _dlt_list_idx
instead. So two datasets with equal files hold the same data. Needs psycopg2; TimeZone is UTC.
"""
import argparse
import hashlib
import os

import psycopg2

HIDDEN = ("_dlt_id", "_dlt_load_id", "_dlt_parent_id", "_dlt_root_id")


def ident(name):
    return '"' + name.replace('"', '""') + '"'


class Digest:
    """A file-like sink for copy_expert that only hashes what it is given."""

    def __init__(self):
        self.sha = hashlib.sha256()

    def write(self, data):
        self.sha.update(data.encode() if isinstance(data, str) else data)


def contents_query(dataset, table, columns, root, key):
    data = [c for c in columns if c not in HIDDEN]
    if table == root:
        select = [f"r.{ident(c)}" for c in data]
        source = f"{ident(dataset)}.{ident(table)} r"
    else:
        select = [f"r.{ident(key)} AS root_{key}"] + [f"c.{ident(c)}" for c in data if c != "_dlt_list_idx"]
        select.insert(1, "c._dlt_list_idx")
        source = (f"{ident(dataset)}.{ident(table)} c "
                  f"JOIN {ident(dataset)}.{ident(root)} r ON r._dlt_id = c._dlt_root_id")
    order = ", ".join(str(i + 1) for i in range(len(select)))
    return f'SELECT {", ".join(select)} FROM {source} ORDER BY {order}'


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--root", default="events", help="the root table of the dataset's data tables")
    ap.add_argument("--key", default="id", help="the root table's primary key")
    a = ap.parse_args()

    os.makedirs(a.out, exist_ok=True)
    conn = psycopg2.connect(a.dsn)
    cur = conn.cursor()
    cur.execute("SET TimeZone = 'UTC'")
    cur.execute("SELECT table_name, ordinal_position, column_name, data_type, is_nullable "
                "FROM information_schema.columns WHERE table_schema = %s "
                "ORDER BY table_name COLLATE \"C\", ordinal_position", (a.dataset,))
    columns = cur.fetchall()
    if not columns:
        raise SystemExit(f"dataset {a.dataset} has no tables")
    tables = {}
    for table, _, column, _, _ in columns:
        tables.setdefault(table, []).append(column)
    data_tables = [t for t in tables if not t.startswith("_dlt")]

    with open(os.path.join(a.out, "columns.tsv"), "w", encoding="utf-8") as f:
        f.write("table\tposition\tcolumn\ttype\tnullable\n")
        f.writelines("\t".join(map(str, row)) + "\n" for row in columns)
    with open(os.path.join(a.out, "counts.tsv"), "w", encoding="utf-8") as counts, \
            open(os.path.join(a.out, "checksums.tsv"), "w", encoding="utf-8") as sums:
        for table in data_tables:
            cur.execute(f"SELECT count(*) FROM {ident(a.dataset)}.{ident(table)}")
            counts.write(f"{table}\t{cur.fetchone()[0]}\n")
            digest = Digest()
            query = contents_query(a.dataset, table, tables[table], a.root, a.key)
            cur.copy_expert(f"COPY ({query}) TO STDOUT WITH (FORMAT text, HEADER true)", digest)
            sums.write(f"{table}\t{digest.sha.hexdigest()}\n")
    conn.close()
    print(f"{a.dataset}: {len(data_tables)} data tables dumped into {a.out}")


if __name__ == "__main__":
    main()
