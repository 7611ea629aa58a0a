//! dlt's full type set and column hints on PostgreSQL: the types columns get (`format_type`, NOT NULL), how
//! values are coerced into them, the order of hinted columns, `--columns` on `ele load`, and the errors.

use ele::prelude::*;
use serde_json::{Value, json};

use crate::cli::ele;
use crate::support::TestDb;

/// One column of every type and precision dlt maps on PostgreSQL.
fn every_type() -> ColumnHints {
    ColumnHints::new()
        .column("code", ColumnHint::text().precision(8).not_null())
        .column("small", ColumnHint::bigint().precision(16))
        .column("medium", ColumnHint::bigint().precision(32))
        .column("big", ColumnHint::bigint())
        .column("ratio", ColumnHint::double())
        .column("flag", ColumnHint::bool())
        .column("at", ColumnHint::timestamp())
        .column("local_at", ColumnHint::timestamp().timezone(false))
        .column("at_ms", ColumnHint::timestamp().precision(3))
        .column("day", ColumnHint::date())
        .column("clock", ColumnHint::time())
        .column("amount", ColumnHint::decimal(12, 2).not_null())
        .column("plain_decimal", ColumnHint::of(DataType::Decimal))
        .column("balance", ColumnHint::wei())
        .column("blob", ColumnHint::binary())
        .column("doc", ColumnHint::json())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_gets_dlts_postgres_type_and_values_are_coerced() {
    let db = TestDb::new("types").await;
    let p = db.pipeline("types", "typed");
    let rows = vec![json!({
        "id": 1,
        "code": "AB-12",
        "small": "12",
        "medium": 70000,
        "big": 9007199254740993i64,
        "ratio": 3,
        "flag": "yes",
        "at": "2024-03-01T10:00:00+02:00",
        "local_at": "2024-03-01T10:00:00+02:00",
        "at_ms": "2024-03-01T10:00:00.123456Z",
        "day": "2024-03-01T23:30:00-05:00",
        "clock": "12:34:56.5+01:00",
        "amount": "1234567890.125",
        "plain_decimal": 12345678901234567890i128,
        "balance": "0x1F",
        "blob": "0xdeadbeef",
        "doc": {"a": [1, 2.5]},
    })];
    p.run(ele::items(rows).name("things").columns(every_type()))
        .await
        .expect("loads");
    assert_eq!(
        db.typed_columns("typed", "things").await,
        [
            "code character varying(8) NOT NULL",
            "small smallint",
            "medium integer",
            "big bigint",
            "ratio double precision",
            "flag boolean",
            "at timestamp with time zone",
            "local_at timestamp without time zone",
            "at_ms timestamp(3) with time zone",
            "day date",
            "clock time without time zone",
            "amount numeric(12,2) NOT NULL",
            "plain_decimal numeric(38,9)",
            "balance numeric(156,78)",
            "blob bytea",
            "doc jsonb",
            "id bigint",
            "_dlt_load_id character varying NOT NULL",
            "_dlt_id character varying NOT NULL",
        ]
    );
    assert_eq!(
        db.lines(
            "SELECT code, small, medium, big, ratio, flag, at, local_at, at_ms, day, clock, amount, plain_decimal, \
             balance::text, encode(blob, 'hex'), doc::text FROM typed.things"
        )
        .await,
        ["AB-12|12|70000|9007199254740993|3|t|2024-03-01 08:00:00+00|2024-03-01 08:00:00|2024-03-01 10:00:00.123+00|\
          2024-03-02|11:34:56.5|1234567890.13|12345678901234567890.000000000|\
          31.000000000000000000000000000000000000000000000000000000000000000000000000000000|deadbeef|\
          {\"a\": [1, 2.5]}"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_that_do_not_coerce_go_to_variant_columns_as_in_dlt() {
    let db = TestDb::new("variants").await;
    let p = db.pipeline("variants", "v");
    let rows = vec![
        json!({"day": "2024-01-05", "clock": "08:00", "amount": 5, "blob": "aGVsbG8=", "n": 1}),
        json!({"day": "soon", "clock": 5, "amount": "lots", "blob": "hello", "n": 300}),
        json!({"day": 1700000000, "clock": "25:00:00", "amount": true, "blob": 258, "n": "7"}),
    ];
    let hints = ColumnHints::new()
        .column("day", ColumnHint::date())
        .column("clock", ColumnHint::time())
        .column("amount", ColumnHint::decimal(10, 3))
        .column("blob", ColumnHint::binary())
        .column("n", ColumnHint::bigint().precision(16));
    p.run(ele::items(rows).name("odd").columns(hints))
        .await
        .expect("loads");
    assert_eq!(
        db.typed_columns("v", "odd").await,
        [
            "day date",
            "clock time without time zone",
            "amount numeric(10,3)",
            "blob bytea",
            "n smallint",
            "_dlt_load_id character varying NOT NULL",
            "_dlt_id character varying NOT NULL",
            "day__v_text character varying",
            "clock__v_bigint bigint",
            "amount__v_text character varying",
            "blob__v_text character varying",
            "clock__v_text character varying",
            "amount__v_bool boolean",
        ]
    );
    assert_eq!(
        db.lines(
            "SELECT day, clock, amount, encode(blob, 'hex'), n, day__v_text, clock__v_bigint, amount__v_text, \
             blob__v_text, clock__v_text, amount__v_bool FROM v.odd ORDER BY n"
        )
        .await,
        [
            "2024-01-05|08:00:00|5.000|68656c6c6f|1|NULL|NULL|NULL|NULL|NULL|NULL",
            "2023-11-14|NULL|NULL|0201|7|NULL|NULL|NULL|NULL|25:00:00|t",
            "NULL|NULL|NULL|NULL|300|soon|5|lots|hello|NULL|NULL",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_beyond_a_narrow_integer_fails_before_anything_is_loaded() {
    let db = TestDb::new("narrow").await;
    let p = db.pipeline("narrow", "n");
    let err = p
        .run(
            ele::items(vec![json!({"n": 1}), json!({"n": 40000})])
                .name("counts")
                .column("n", ColumnHint::bigint().precision(16)),
        )
        .await
        .expect_err("40000 is no smallint");
    let text = err.to_string();
    assert!(
        text.contains("table `counts`")
            && text.contains("40000 is out of range for smallint (bigint with precision 16)"),
        "{text}"
    );
    assert!(db.lines("SELECT 1 FROM information_schema.tables WHERE table_schema = 'n' AND table_name = 'counts'").await.is_empty());
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path.to_str().expect("utf-8 path").to_owned()
}

fn status(out: &std::process::Output) -> (Option<i32>, String) {
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ele_load_columns_types_orders_and_keeps_every_digit() {
    let db = TestDb::new("colcli").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(
        dir.path(),
        "payments.jsonl",
        "{\"id\": 1, \"note\": \"a\", \"extra\": true, \"amount\": 0.12345678901234567890123, \"paid\": \"2024-02-01\"}\n\
         {\"id\": 2, \"note\": \"b\", \"amount\": 123456789012345678901234567890.5, \"paid\": \"20240202\"}\n",
    );
    let columns = r#"{"amount": {"data_type": "decimal", "precision": 60, "scale": 25},
                      "note": {"nullable": false}, "paid": {"data_type": "date", "x-source": "bank", "partition": true}}"#;
    let out = ele(
        &db,
        &[
            "load",
            &file,
            "--table",
            "payments",
            "--primary-key",
            "id",
            "--columns",
            columns,
        ],
    );
    let (code, stderr) = status(&out);
    assert_eq!(code, Some(0), "{stderr}");
    // As dlt: columns hinted with a type first in the hint's order, then the others (keys and hints without a
    // type included) as they appear, then the system columns.
    assert_eq!(
        db.typed_columns("payments_dataset", "payments").await,
        [
            "amount numeric(60,25)",
            "paid date",
            "id bigint NOT NULL",
            "note character varying NOT NULL",
            "extra boolean",
            "_dlt_load_id character varying NOT NULL",
            "_dlt_id character varying NOT NULL",
        ]
    );
    assert_eq!(
        db.lines("SELECT id, amount, paid FROM payments_dataset.payments ORDER BY id")
            .await,
        [
            "1|0.1234567890123456789012300|2024-02-01",
            "2|123456789012345678901234567890.5000000000000000000000000|2024-02-02",
        ]
    );
    // The stored schema has the hints under dlt's names.
    let out = ele(&db, &["pipeline", "payments", "schema"]);
    let (code, stderr) = status(&out);
    assert_eq!(code, Some(0), "{stderr}");
    let schema: Value = serde_json::from_slice(&out.stdout).expect("schema is JSON");
    let columns = &schema["tables"]["payments"]["columns"];
    assert_eq!(columns["amount"]["data_type"], "decimal");
    assert_eq!(columns["amount"]["precision"], 60);
    assert_eq!(columns["amount"]["scale"], 25);
    assert_eq!(columns["note"]["nullable"], false);
    assert_eq!(columns["paid"]["x-source"], "bank");
    assert_eq!(columns["paid"]["partition"], true);
    assert_eq!(columns["id"]["primary_key"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ele_load_columns_errors_name_the_key_and_load_nothing() {
    let db = TestDb::new("colerr").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "t.jsonl", "{\"id\": 1, \"amount\": 5}\n");
    let load = |columns: &str| ele(&db, &["load", &file, "--table", "t", "--columns", columns]);
    for (columns, expected) in [
        (
            "{\"amount\": ",
            "--columns: column hints are not valid JSON",
        ),
        (
            r#"{"amount": {"data_typ": "decimal"}}"#,
            "--columns: unknown column hint `data_typ` of column `amount`",
        ),
        (
            r#"{"amount": {"data_type": "money"}}"#,
            "--columns: unknown data type `money` of column `amount`; expected one of `text`",
        ),
        (
            r#"{"amount": {"nullable": "no"}}"#,
            "--columns: column hint `nullable` of column `amount` must be true or false",
        ),
    ] {
        let (code, stderr) = status(&load(columns));
        assert_eq!(code, Some(2), "{columns}: {stderr}");
        assert!(stderr.contains(expected), "{columns}: {stderr}");
    }
    // Loaded once as inferred, the column is bigint: a hint making it decimal contradicts it.
    let (code, stderr) = status(&load(r#"{"note": {"data_type": "text"}}"#));
    assert_eq!(code, Some(0), "{stderr}");
    let (code, stderr) = status(&load(
        r#"{"amount": {"data_type": "decimal", "precision": 12, "scale": 2}}"#,
    ));
    // A configuration error: running again fails the same way until the hint or the table changes.
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "column `amount` of table `t` is bigint in the schema, the column hint says decimal(12,2)"
        ),
        "{stderr}"
    );
    assert_eq!(db.lines("SELECT count(*) FROM t_dataset.t").await, ["1"]);
    assert_eq!(
        db.lines("SELECT count(*) FROM t_dataset._dlt_loads").await,
        ["1"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_creates_dlts_unique_constraint() {
    let db = TestDb::new("unique").await;
    let p = db.pipeline("unique", "u");
    let users = || {
        ele::items(vec![
            json!({"id": 1, "email": "a@x"}),
            json!({"id": 2, "email": "b@x"}),
        ])
        .name("users")
        .column("email", ColumnHint::text().unique())
    };
    p.run(users()).await.expect("loads");
    assert_eq!(
        db.lines(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint \
             WHERE conrelid = 'u.users'::regclass AND contype = 'u'"
        )
        .await,
        ["users_email_key|UNIQUE (email)"]
    );
    // Appending the same emails again violates it: the load fails and commits nothing.
    let err = p.run(users()).await.expect_err("duplicate emails");
    assert!(err.to_string().contains("users_email_key"), "{err}");
    assert_eq!(db.lines("SELECT count(*) FROM u.users").await, ["2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_hints_as_column_hints_merge_like_the_resource_options() {
    let db = TestDb::new("keyhints").await;
    let p = db.pipeline("keyhints", "k");
    let hints = ColumnHints::from_json_str(
        r#"{"id": {"primary_key": true}, "deleted": {"hard_delete": true},
            "version": {"dedup_sort": "desc"}}"#,
    )
    .expect("hints");
    let load = |rows: Vec<Value>| {
        ele::items(rows)
            .name("customers")
            .write_disposition(Merge)
            .columns(hints.clone())
    };
    p.run(load(vec![
        json!({"id": 1, "name": "Ann", "version": 1, "deleted": false}),
        json!({"id": 1, "name": "Anne", "version": 2, "deleted": false}),
        json!({"id": 2, "name": "Bob", "version": 1, "deleted": false}),
    ]))
    .await
    .expect("first");
    p.run(load(vec![
        json!({"id": 2, "name": "Bob", "version": 2, "deleted": true}),
    ]))
    .await
    .expect("second");
    assert_eq!(
        db.lines("SELECT id, name, version FROM k.customers ORDER BY id")
            .await,
        ["1|Anne|2"]
    );
    assert_eq!(
        db.typed_columns("k", "customers").await[..4],
        // A key named by a column hint is nullable unless the hint says otherwise, as in dlt.
        [
            "id bigint",
            "name character varying",
            "version bigint",
            "deleted boolean"
        ]
    );
    // The same as stored schema hints, whichever way they were given.
    let schema = p.stored_schema().expect("reads").expect("a schema");
    let table = &schema.tables["customers"];
    assert!(table.columns["id"].primary_key);
    assert!(table.columns["deleted"].hard_delete);
    assert_eq!(table.columns["version"].dedup_sort, Some(SortOrder::Desc));
    let via_options = db.pipeline("keyopts", "k2");
    via_options
        .run(
            ele::items(vec![json!({"id": 1, "version": 1, "deleted": false})])
                .name("customers")
                .write_disposition(Merge)
                .primary_key("id")
                .hard_delete("deleted")
                .dedup_sort("version", SortOrder::Desc),
        )
        .await
        .expect("options");
    let options_schema = via_options
        .stored_schema()
        .expect("reads")
        .expect("a schema");
    let columns = &options_schema.tables["customers"].columns;
    assert!(columns["id"].primary_key && columns["deleted"].hard_delete);
    assert_eq!(columns["version"].dedup_sort, Some(SortOrder::Desc));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hints_survive_a_restore_from_the_destination() {
    let db = TestDb::new("hintsync").await;
    let p = db.pipeline("hintsync", "h");
    p.run(
        ele::items(vec![json!({"id": 1, "amount": "1.50"})])
            .name("orders")
            .column(
                "amount",
                ColumnHint::decimal(9, 2)
                    .not_null()
                    .cluster()
                    .x_hint("x-unit", "EUR"),
            ),
    )
    .await
    .expect("loads");
    std::fs::remove_dir_all(db.pipelines_dir.join("hintsync")).expect("working dir removed");
    let restored = db.pipeline("hintsync", "h");
    restored.sync().await.expect("restores");
    // The next run restores the schema from the destination: a contradicting hint is refused, naming both types.
    let err = restored
        .run(
            ele::items(vec![json!({"id": 2, "amount": 3})])
                .name("orders")
                .column("amount", ColumnHint::bigint()),
        )
        .await
        .expect_err("contradiction");
    assert!(
        err.to_string()
            .contains("column `amount` of table `orders` is decimal(9,2) in the schema, the column hint says bigint"),
        "{err}"
    );
    let schema = restored.stored_schema().expect("reads").expect("a schema");
    let amount = &schema.tables["orders"].columns["amount"];
    assert_eq!(amount.type_label().as_deref(), Some("decimal(9,2)"));
    assert!(!amount.nullable && amount.cluster);
    assert_eq!(amount.other["x-unit"], "EUR");
    assert_eq!(db.lines("SELECT amount FROM h.orders").await, ["1.50"]);
}

/// Column hints on the attribute, in dlt's dict form (checked when the macro expands).
#[resource(
    primary_key = "id",
    write_disposition = "merge",
    columns = r#"{"price": {"data_type": "decimal", "precision": 8, "scale": 3, "nullable": false},
                 "sku": {"data_type": "text", "precision": 5}}"#
)]
async fn products(out: Emit<Value>) -> ele::Result<()> {
    out.send(json!({"id": 1, "sku": "A1", "price": "2.5"}))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_attribute_columns_type_the_table() {
    let db = TestDb::new("attrcols").await;
    let p = db.pipeline("attrcols", "a");
    p.run(products()).await.expect("loads");
    assert_eq!(
        db.typed_columns("a", "products").await,
        [
            "price numeric(8,3) NOT NULL",
            "sku character varying(5)",
            "id bigint NOT NULL",
            "_dlt_load_id character varying NOT NULL",
            "_dlt_id character varying NOT NULL",
        ]
    );
    assert_eq!(db.lines("SELECT price FROM a.products").await, ["2.500"]);
}
