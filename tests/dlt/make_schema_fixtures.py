#!/usr/bin/env python3
"""Writes the golden schema documents of ele-core/tests/fixtures/dlt-1.31/: the `_dlt_version.schema` dlt 1.31
stores after loading a few small pipelines into PostgreSQL.

    python3 -m venv target/dlt-venv && target/dlt-venv/bin/pip install "dlt[postgres]==1.31.*"
    target/dlt-venv/bin/python tests/dlt/make_schema_fixtures.py postgresql://USER:PASSWORD@HOST:PORT/DB

Each pipeline loads into a dataset `fixture_<name>` (dropped first), with a throwaway working dir; every stored
version is written, oldest first, as `<name>.v<version>.schema.json` (the column's text, as dlt wrote it).
"""
import json
import os
import shutil
import sys
import tempfile

import dlt
import psycopg2

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "ele-core", "tests", "fixtures", "dlt-1.31")


def merge_nested():
    """A merge on `id` with an incremental cursor, column hints (a decimal, an x- hint), nested lists and an
    object: propagation config, row/parent/root keys, `incremental`, processing hints."""

    @dlt.resource(primary_key="id", write_disposition="merge",
                  columns={"amount": {"data_type": "decimal", "precision": 12, "scale": 2},
                           "note": {"x-annotation": "free text", "description": "what the user wrote"}})
    def events(created=dlt.sources.incremental("created_at", initial_value="2024-01-01")):
        yield [{"id": 1, "created_at": "2024-01-02", "amount": "1.5", "note": "n", "tags": ["a", "b"],
                "meta": {"k": 1}, "items": [{"x": 1, "sub": [{"y": 2}]}]},
               {"id": 2, "created_at": "2024-01-03", "amount": 2, "tags": [], "meta": {"k": None}}]

    return [[events()], [events()]]


def hints_contract():
    """Append and replace tables: a frozen-columns contract, not-null, unique and timestamp hints, a variant
    column, a column never given a value, a second run adding a column."""

    @dlt.resource(write_disposition="append", schema_contract={"columns": "freeze", "data_type": "evolve"},
                  columns={"code": {"data_type": "text", "precision": 8, "unique": True, "nullable": False},
                           "at": {"data_type": "timestamp", "timezone": False, "precision": 3}})
    def frozen():
        yield [{"code": "a", "at": "2024-01-01T00:00:00", "n": 1}, {"code": "b", "at": "2024-01-02T00:00:00", "n": "x"}]

    @dlt.resource(write_disposition="replace")
    def snapshot(extra=False):
        row = {"id": 1, "never": None, "ts": "2024-05-01T10:00:00+00:00"}
        if extra:
            row["added"] = True
        yield row

    return [[frozen(), snapshot()], [snapshot(extra=True)]]


CASES = {"merge_nested": merge_nested, "hints_contract": hints_contract}


def main():
    url = sys.argv[1]
    os.makedirs(OUT, exist_ok=True)
    conn = psycopg2.connect(url)
    conn.autocommit = True
    for name, case in CASES.items():
        dataset = f"fixture_{name}"
        with conn.cursor() as cur:
            cur.execute(f'DROP SCHEMA IF EXISTS "{dataset}" CASCADE')
        workdir = tempfile.mkdtemp()
        try:
            pipeline = dlt.pipeline(name, destination=dlt.destinations.postgres(url), dataset_name=dataset,
                                    pipelines_dir=workdir)
            for run in case():
                pipeline.run(run)
        finally:
            shutil.rmtree(workdir)
        with conn.cursor() as cur:
            cur.execute(f'SELECT version, schema FROM "{dataset}"._dlt_version ORDER BY inserted_at, version')
            for version, schema in cur.fetchall():
                with open(os.path.join(OUT, f"{name}.v{version}.schema.json"), "w") as f:
                    f.write(schema)
        print(name, "written")


if __name__ == "__main__":
    main()
