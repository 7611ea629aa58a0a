//! Typed items: every serde attribute `#[derive(Item)]` reads, the forms that are checked at compile time, and
//! the ones left to run time; resources made from their function with `from_fn`.
#![deny(warnings)]

use std::collections::HashMap;

use ele::prelude::*;
use serde::Serialize;
use serde_json::{Value, json};

#[derive(Serialize, Item)]
pub struct User {
    pub login: String,
    pub id: u64,
}

#[derive(Serialize, Item)]
#[serde(rename_all(serialize = "SCREAMING_SNAKE_CASE", deserialize = "snake_case"))]
pub struct Meta {
    pub source_name: String,
}

/// Raw identifiers, `rename` (both forms), `rename_all`, `skip`, `skip_serializing`, `skip_serializing_if`,
/// `flatten` of an `Item` struct, nested `Item`s behind `Option` and `Box`, `serialize_with`, and a tag.
#[derive(Serialize, Item)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub struct Event {
    pub event_id: i64,
    pub r#type: String,
    #[serde(rename = "ts")]
    pub created_at: String,
    #[serde(rename(serialize = "upd", deserialize = "updated"))]
    pub updated_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<User>,
    pub owner: Box<User>,
    #[serde(flatten)]
    pub meta: Meta,
    #[serde(serialize_with = "as_text")]
    pub weight: f64,
    pub payload: Value,
    pub counts: HashMap<String, i64>,
    #[serde(skip)]
    pub cache: Vec<u8>,
    #[serde(skip_serializing)]
    pub secret: String,
}

fn as_text<S: serde::Serializer>(value: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&value.to_string())
}

/// Keys and cursors in their serialized spelling, nested paths through `Item`s, `Option`, `Box`, a map and
/// `Value`; `Incremental<Value>`, bare `Incremental` and a field's `Option` are all accepted.
#[resource(
    write_disposition = "merge",
    primary_key = ("eventId", "kind"),
    merge_key = ["SOURCE_NAME", "type", "user__login"]
)]
async fn events(
    out: Emit<Event>,
    #[incremental(cursor = "ts", initial_value = "1970-01-01T00:00:00Z", primary_key = ("eventId", "ts"))]
    ts: Incremental<String>,
    #[incremental(cursor = "upd")] upd: Incremental<i64>,
    #[incremental(cursor = "actor.login")] login: Incremental<String>,
    #[incremental(cursor = "owner.id")] owner: Incremental<u64>,
    #[incremental(cursor = "payload.deep.er")] deep: Incremental<String>,
    #[incremental(cursor = "counts.push")] pushes: Incremental<i64>,
    #[incremental(cursor = "weight")] weight: Incremental<f64>,
    #[incremental(cursor = "ts")] as_value: Incremental<Value>,
    #[incremental(cursor = "kind")] kind: Incremental,
    #[incremental(cursor = "$.actor[*].anything")] json_path: Incremental<String>,
    #[incremental(cursor = "$", last_value_func = by_kind)] custom: Incremental<Value>,
) -> ele::Result<()> {
    let _ = (
        ts, upd, login, owner, deep, pushes, weight, as_value, kind, json_path, custom,
    );
    out.send(Vec::<Event>::new()).await
}

fn by_kind(values: &[Value]) -> Value {
    values.last().cloned().unwrap_or(Value::Null)
}

/// A flattened map accepts any name (checked at run time), next to the struct's own names.
#[derive(Serialize, Item)]
pub struct Open {
    pub id: i64,
    #[serde(flatten)]
    pub extra: HashMap<String, Value>,
}

#[resource(write_disposition = "merge", primary_key = ("id", "anything"))]
async fn open(out: Emit<Open>) -> ele::Result<()> {
    out.send(Vec::<Open>::new()).await
}

/// Transparent and newtype structs are described by their inner type; generic structs work too.
#[derive(Serialize, Item)]
#[serde(transparent)]
pub struct Wrapped {
    pub user: User,
    #[serde(skip)]
    pub seen: bool,
}

#[derive(Serialize, Item)]
pub struct Newtype(User);

#[derive(Serialize, Item)]
pub struct Page<'a, T: Serialize>
where
    T: Send,
{
    pub items: Vec<T>,
    pub cursor: &'a str,
    pub next: Option<T>,
}

#[resource(primary_key = "login")]
async fn wrapped(
    out: Emit<Wrapped>,
    #[incremental(cursor = "id")] id: Incremental<u64>,
) -> ele::Result<()> {
    let _ = id;
    out.send(Vec::<Wrapped>::new()).await
}

#[resource(primary_key = "login")]
async fn newtype(out: Emit<Newtype>) -> ele::Result<()> {
    out.send(Vec::<Newtype>::new()).await
}

#[resource(primary_key = "cursor")]
async fn pages(
    out: Emit<Page<'static, User>>,
    #[incremental(cursor = "next.id")] next: Incremental<u64>,
) -> ele::Result<()> {
    let _ = next;
    out.send(Vec::<Page<'static, User>>::new()).await
}

/// Without the derive nothing is checked at compile time: the run-time checks stay.
#[derive(Serialize)]
pub struct Plain {
    pub id: i64,
}

#[resource(write_disposition = "merge", primary_key = "not_checked_here")]
async fn plain(
    out: Emit<Plain>,
    #[incremental(cursor = "nor.this")] nothing: Incremental<String>,
) -> ele::Result<()> {
    let _ = nothing;
    out.send(Plain { id: 1 }).await
}

/// A re-exported facade: `#[ele(crate = "...")]`.
mod reexport {
    pub use ::ele;
}

#[derive(Serialize, ele::Item)]
#[ele(crate = "crate::reexport::ele")]
pub struct Renamed {
    pub id: i64,
}

#[resource(
    crate = "crate::reexport::ele",
    primary_key = "id",
    write_disposition = "merge"
)]
async fn renamed(out: Emit<Renamed>) -> ele::Result<()> {
    out.send(Renamed { id: 1 }).await
}

/// The seed's dynamic resources: made from the function, bound per endpoint.
#[resource(write_disposition = "merge", primary_key = "id")]
async fn get_resource(
    out: Emit<Value>,
    key: String,
    endpoint: String,
    #[incremental(cursor = "created", initial_value = 0)] created: Incremental<i64>,
) -> ele::Result<()> {
    let _ = created;
    out.send(json!({ "id": 1, "key": key, "endpoint": endpoint }))
        .await
}

#[resource]
async fn no_args(out: Emit<Value>) -> ele::Result<()> {
    out.send(Value::Null).await
}

#[source]
fn stripe(endpoints: Vec<(&'static str, &'static str)>) -> Vec<Box<dyn ele::DynResource>> {
    endpoints
        .into_iter()
        .map(|(key, endpoint)| {
            let resource = ele::from_fn(get_resource)
                .name(key)
                .table_name(format!("stripe_{key}"))
                .bind((key.to_owned(), endpoint.to_owned()));
            Box::new(resource) as Box<dyn ele::DynResource>
        })
        .collect()
}

fn main() {
    assert_eq!(
        <Event as ele::Item>::NAMES.own,
        [
            "kind", "eventId", "type", "ts", "upd", "actor", "owner", "weight", "payload", "counts"
        ]
    );
    let flattened = <Event as ele::Item>::NAMES.flattened;
    assert_eq!(flattened.len(), 1);
    assert_eq!(flattened[0].map(|names| names.own), Some(&["SOURCE_NAME"][..]));
    assert_eq!(<Meta as ele::Item>::NAMES.own, ["SOURCE_NAME"]);
    assert_eq!(<Wrapped as ele::Item>::NAMES.own, ["login", "id"]);
    assert_eq!(
        <Page<'static, User> as ele::Item>::NAMES.own,
        ["items", "cursor", "next"]
    );

    let _ = (
        events(),
        open(),
        wrapped(),
        newtype(),
        pages(),
        plain(),
        renamed(),
    );
    let source = stripe(vec![
        ("charges", "/v1/charges"),
        ("customers", "/v1/customers"),
    ]);
    let _ = source;

    let r = ele::from_fn(get_resource)
        .name("charges")
        .bind(("charges".to_owned(), "/v1".to_owned()));
    assert_eq!(Resource::hints(&r).name, "charges");
    assert_eq!(Resource::hints(&r).primary_key, Key::from("id"));
    let r = ele::from_fn(no_args).write_disposition(Replace).bind(());
    assert_eq!(
        Resource::hints(&r).write_disposition,
        WriteDisposition::Replace
    );
    let r = ele::from_fn(|endpoint: String| get_resource("k".to_owned(), endpoint))
        .bind(("/v1".to_owned(),));
    assert_eq!(Resource::hints(&r).name, "get_resource");
}
