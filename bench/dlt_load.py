#!/usr/bin/env python3
"""Load a JSON Lines file of the bench's events with Python dlt (1.31) into PostgreSQL and time its phases.

usage: dlt_load.py --file FILE --dataset NAME --dsn DSN [--pipelines-dir DIR] [--fresh] [--pipeline NAME] [--sync]
                   [--strategy delete-insert|upsert|insert-only|scd2] [--loader-file-format insert_values|csv]

The resource `events` merges on `id` (scd2: `id` is the merge key instead) with an incremental on `created_at`
from 1970-01-01T00:00:00Z; the file is read lazily in lists of 1000 items. The pipeline is `dlt_<dataset>` (or
--pipeline), its working dir under --pipelines-dir; --sync first restores its state and schema from the
destination (`sync_destination()`, as `run()` does), e.g. to take over a pipeline ele loaded. --fresh first drops that working dir and the dataset's schemas, so the run
loads into an empty dataset. dlt wants a password in the DSN even when the server trusts local users: any will
do, e.g. postgresql://postgres:x@localhost/bench?host=/socket/dir&port=5432.

Prints the dlt version, `extract X s  normalize X s  load X s  total X s`, the rows this run wrote and the rows
each table holds afterwards.
"""
import argparse
import itertools
import json
import os
import shutil
import time

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

import dlt  # noqa: E402
import psycopg2  # noqa: E402

BATCH = 1000


def batches(path):
    """The file's items in lists of BATCH, read as they are needed."""
    with open(path, encoding="utf-8") as lines:
        items = (json.loads(line) for line in lines if line.strip())
        while batch := list(itertools.islice(items, BATCH)):
            yield batch


def events(path, strategy):
    if strategy is None:
        disposition, keys = "merge", {"primary_key": "id"}
    else:
        disposition = {"disposition": "merge", "strategy": strategy}
        keys = {"merge_key": "id"} if strategy == "scd2" else {"primary_key": "id"}

    @dlt.resource(name="events", write_disposition=disposition, **keys)
    def resource(created_at=dlt.sources.incremental("created_at", initial_value="1970-01-01T00:00:00Z")):
        yield from batches(path)

    return resource


def drop_dataset(dsn, dataset):
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            for schema in (dataset, dataset + "_staging"):
                cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", required=True)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--pipelines-dir", default="/tmp/dlt_pipelines")
    ap.add_argument("--fresh", action="store_true", help="start from an empty dataset and no local state")
    ap.add_argument("--pipeline", help="pipeline name (dlt_<dataset> by default)")
    ap.add_argument("--sync", action="store_true", help="sync_destination() first")
    ap.add_argument("--strategy", choices=["delete-insert", "upsert", "insert-only", "scd2"],
                    help="merge strategy (dlt's default, delete-insert, without it)")
    ap.add_argument("--loader-file-format", choices=["insert_values", "csv"],
                    help="dlt's postgres default is insert_values")
    a = ap.parse_args()

    name = a.pipeline or f"dlt_{a.dataset}"
    if a.fresh:
        shutil.rmtree(os.path.join(a.pipelines_dir, name), ignore_errors=True)
        drop_dataset(a.dsn, a.dataset)
    pipeline = dlt.pipeline(pipeline_name=name, pipelines_dir=a.pipelines_dir, dataset_name=a.dataset,
                            destination=dlt.destinations.postgres(credentials=a.dsn))

    if a.sync:
        pipeline.sync_destination()
    marks = [time.perf_counter()]
    pipeline.extract(events(a.file, a.strategy), loader_file_format=a.loader_file_format)
    marks.append(time.perf_counter())
    normalized = pipeline.normalize()
    marks.append(time.perf_counter())
    pipeline.load()
    marks.append(time.perf_counter())

    phases = zip(("extract", "normalize", "load"), marks, marks[1:])
    print(f"dlt {dlt.__version__}, {a.file} into {a.dataset}, strategy {a.strategy or 'delete-insert'}, "
          f"loader file format {a.loader_file_format or 'default'}")
    print("  ".join(f"{phase} {end - start:.2f} s" for phase, start, end in phases)
          + f"  total {marks[-1] - marks[0]:.2f} s")
    # dlt 1.31 counts csv fields rather than rows here, so with csv only the table totals below are rows.
    written = {t: n for t, n in sorted(normalized.row_counts.items()) if not t.startswith("_dlt")}
    print("written this run:", ", ".join(f"{t} {n}" for t, n in written.items()) or "nothing")
    with pipeline.sql_client() as client:
        totals = {t: client.execute_sql(f"SELECT count(*) FROM {client.make_qualified_table_name(t)}")[0][0]
                  for t in sorted(pipeline.default_schema.data_table_names())}
    print("tables now hold:", ", ".join(f"{t} {n}" for t, n in totals.items()),
          f"({sum(totals.values())} rows)")


if __name__ == "__main__":
    main()
