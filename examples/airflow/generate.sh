#!/usr/bin/env bash
# Regenerates the two DAGs of the seed's "Using Airflow schedule for backfill and incremental loading" with
# `ele deploy airflow`. Both run the pipeline program `zendesk_support` (examples/airflow/zendesk_support.rs),
# found on the workers' PATH: `cargo install --path . --example zendesk_support`.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build -q --bin ele
ele=target/debug/ele

# Weekly backfill from 2023-02-01 to 2023-08-01 with catchup: one task per incremental resource, chained.
"$ele" deploy airflow zendesk_support --pipeline zendesk_support_backfill --resources tickets,ticket_events,ticket_metric_events --schedule @weekly --start-date 2023-02-01 --end-date 2023-08-01 --catchup --connection ele_postgres -o examples/airflow/zendesk_support_backfill.py

# Then daily without catchup, under a second pipeline name so both DAGs can run side by side; every resource.
"$ele" deploy airflow zendesk_support --pipeline zendesk_support_new --resources tickets,ticket_events,ticket_metric_events,users --schedule @daily --start-date 2023-02-01 --connection ele_postgres -o examples/airflow/zendesk_support_new.py
