#!/usr/bin/env python3
"""Drives Python dlt 1.31 on a dataset for tests/integration/dlt_interop.rs (and by hand).

    PYTHON tests/dlt/takeover.py '<json spec>'

The spec: credentials (a connection URL), pipeline, dataset, pipelines_dir (a fresh one makes dlt take over from the destination), action
(`sync`: `sync_destination()` only; `run`: `run()` the resource on `file`, a JSON Lines file, as
`ele load FILE --table <table> --primary-key <pk> --write-disposition <wd> --cursor <cursor> --initial-value
<initial>` would), and for `run`: table, file, wd, pk, cursor, initial, columns (dlt's `columns=`), plus
`extra_resource` (a second resource, only dlt's, with its own incremental state). Prints one JSON line:
the state after it, the default schema's version, its stored hash and whether it matches dlt's own hash of the
content, the rows each table received in this run, and the schema document dlt keeps (`to_dict()`).
"""
import json
import os
import sys


def main():
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    import dlt
    from dlt.common.schema import utils as schema_utils

    spec = json.loads(sys.argv[1])
    pipeline = dlt.pipeline(pipeline_name=spec["pipeline"], pipelines_dir=spec["pipelines_dir"],
                            destination=dlt.destinations.postgres(credentials=spec["credentials"]),
                            dataset_name=spec["dataset"])
    rows = {}
    if spec["action"] == "sync":
        pipeline.sync_destination()
    else:
        def read(path):
            with open(path, encoding="utf-8") as f:
                return [json.loads(line) for line in f if line.strip()]

        kw = dict(name=spec["table"], write_disposition=spec.get("wd", "append"))
        if spec.get("pk"):
            kw["primary_key"] = spec["pk"]
        if spec.get("columns"):
            kw["columns"] = spec["columns"]
        if spec.get("cursor"):
            @dlt.resource(**kw)
            def resource(cursor=dlt.sources.incremental(spec["cursor"], initial_value=spec.get("initial"))):
                yield read(spec["file"])
        else:
            @dlt.resource(**kw)
            def resource():
                yield read(spec["file"])
        resources = [resource()]
        if spec.get("extra_resource"):
            @dlt.resource(name=spec["extra_resource"], write_disposition="append")
            def extra(n=dlt.sources.incremental("n", initial_value=0)):
                yield [{"n": 1}, {"n": 2}]
            resources.append(extra())
        pipeline.run(resources)
        trace = pipeline.last_trace
        if trace and trace.last_normalize_info:
            rows = {t: n for t, n in trace.last_normalize_info.row_counts.items() if not t.startswith("_dlt")}
    schema = pipeline.default_schema
    stored = schema.to_dict()
    content_hash = schema_utils.generate_version_hash(stored)
    print(json.dumps({
        "state": pipeline.state.get("sources", {}),
        "schema_version": schema.stored_version,
        "schema_hash": schema.stored_version_hash,
        "hash_matches_content": content_hash == schema.stored_version_hash,
        "rows": rows,
        "schema": stored,
    }, default=str))


if __name__ == "__main__":
    main()
