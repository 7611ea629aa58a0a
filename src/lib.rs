//! # ele
//!
//! Declarative, incremental, crash-safe data loading into PostgreSQL: dlt's model (resources, write
//! dispositions, merge keys, state committed with the data) with Rust's guarantees.
//!
//! ```no_run
//! use ele::prelude::*;
//! use serde::Serialize;
//!
//! #[derive(Serialize)]
//! struct Event {
//!     id: i64,
//!     kind: String,
//! }
//!
//! /// One row per event id.
//! #[resource(primary_key = "id", write_disposition = "merge")]
//! async fn events(out: Emit<Event>, count: i64) -> ele::Result<()> {
//!     for id in 0..count {
//!         out.send(Event { id, kind: "push".into() }).await?;
//!     }
//!     Ok(())
//! }
//!
//! # async fn run() -> ele::Result<()> {
//! let pipeline = Pipeline::builder("quickstart")
//!     .destination(Postgres::from_env()?)
//!     .dataset_name("quickstart_data")
//!     .build()?;
//! let info = pipeline.run(events(10)).await?;
//! println!("{info}");
//! # Ok(())
//! # }
//! ```
//!
//! A resource body sends items through its `Emit` parameter instead of `yield`: stable Rust has no generators,
//! and the emitter keeps the item type visible to the macro and to rust-analyzer (see [`Emit`]).

pub mod config;
pub mod deploy;
#[cfg(feature = "http")]
pub mod http;
pub mod jsonl;
pub mod run_args;

pub use ele_core::schema::{ColumnHint, ColumnHints, DataType};
pub use ele_core::state::{ResourceState, SourceState};
pub use ele_core::{Accessor, Source};
pub use ele_core::{
    AfterIncremental, Dispatched, DynResource, Emit, ExtractLimit, Filtered, FlatMapped,
    FnResource, IntoPage, IntoResources, ItemsResource, Key, Mapped, MergeStrategy, RefreshMode,
    Resource, ResourceExt, ResourceHints, Resources, Scd2, SortOrder, TableNameFn,
    WriteDisposition, items,
};
pub use ele_core::{BoxError, Error, Result};
pub use ele_core::{ContractEntity, ContractModes, Discarded, EvolutionMode, SchemaContract};
pub use ele_core::{
    Cursor, Incremental, IncrementalConfig, LastValueFunc, OnCursorValueMissing, RowOrder,
};
pub use ele_core::{LoadInfo, PackageInfo, Pipeline, PipelineBuilder, Run};
pub use ele_core::{destination, package, progress, schema, state};
#[cfg(feature = "postgres")]
pub use ele_destinations::postgres::{self, Postgres};
pub use run_args::RunArgs;

/// Turns an async function into a resource: calling the function returns a resource value, a struct named after
/// it (`repo_issues` -> `RepoIssuesResource`), and runs nothing; a pipeline runs the body.
///
/// ```no_run
/// use ele::prelude::*;
///
/// #[resource(name = "issues", primary_key = ("id", "url"), write_disposition = "merge", table_name = "issues")]
/// async fn repo_issues(out: Emit<serde_json::Value>, repo: String) -> ele::Result<()> {
///     out.send(serde_json::json!({"id": 1, "url": repo})).await?;
///     Ok(())
/// }
/// ```
///
/// # Attributes
/// All optional. Each hint is also a builder method of the same name on the resource value ([`ResourceExt`]).
/// - `name = "issues"`: the resource name (and state key); the function name by default.
/// - `table_name = "issues"`: the table the rows go to; the resource name by default. Or a function of the
///   item naming the table of each item: a path `table_name = event_table` (`fn(&Item) -> String`) or a
///   closure `table_name = |e: &Event| e.kind.clone()`.
/// - `write_disposition = "append" | "replace" | "merge"`: `"append"` by default; `"merge"` needs a key.
/// - `primary_key`, `merge_key`: a column `"id"`, or columns `("id", "url")` / `["id", "url"]`; `()` for none.
/// - `merge_strategy = "delete-insert" | "upsert" | "insert-only" | "scd2"`: implies `"merge"`; `"upsert"` and
///   `"insert-only"` need a `primary_key`.
/// - `hard_delete = "deleted"` (merges only): the column whose `true` (or non-null) value deletes the row's key.
/// - `dedup_sort = "updated_at"` or `("updated_at", "asc" | "desc")` (merges with a `primary_key`): of several
///   rows with the same key in one load, keeps the one with the highest (by default) or lowest value.
/// - `max_table_nesting = 2`: how deep nested data becomes child tables.
/// - `selected = false`: a source holding the resource does not extract it unless `with_resources` names it.
/// - `crate = "my_reexport::ele"`: the path of the ele facade, for crates that re-export it.
///
/// # Parameters
/// The function is `async` and non-generic, and takes exactly one parameter of type `Emit<T>` (the item type
/// `T`). Parameters are recognised by the last segment of their type's path, not through type aliases:
/// - `Emit<T>`: the emitter.
/// - `Incremental<T>` (`Incremental` alone: `serde_json::Value` cursors): bound by the runtime from state
///   before the body runs, and kept current by `out.send`. `#[incremental(...)]` on it gives the settings
///   `cursor`, `initial_value`, `end_value` (any expression), `last_value_func` (`"max"`, `"min"`, or a
///   path to a `fn(&[serde_json::Value]) -> serde_json::Value`), `primary_key` (`()` disables dedup),
///   `allow_external_schedulers` (`true`/`false`), `on_cursor_value_missing` (`"raise"`, `"include"`,
///   `"exclude"`), `row_order` (`"asc"`, `"desc"`) and `lag` (a number). It is not an argument of the
///   generated function: the resource value gets a setter of the same name that overrides it for one call,
///   merged field by field with the attribute's settings.
/// - `ResourceState`, `SourceState`: the state of the resource or of its source, committed with the data;
///   not arguments of the generated function either.
/// - `#[config]` and `#[secret]` parameters: see below.
///
/// The other parameters are plain names (`mut` allowed) with owned types; they become the arguments of the
/// generated function, in order. A parameter with a setter (incremental, `#[config]`, `#[secret]`) cannot be
/// named like a method of [`Resource`] or [`ResourceExt`]. The return type is any `Result<(), E>` where `E`
/// converts into a boxed error, such as `ele::Result<()>`.
///
/// Besides the resource struct, the macro generates `RepoIssuesResourceMut<'_>`, the handle a `#[source]`
/// accessor returns: one setter per ordinary, incremental and config parameter.
///
/// On a mistake the function is emitted unchanged (without ele's parameter attributes) next to the errors, all
/// of them reported at once.
///
/// # Configuration and secrets
/// A parameter marked `#[config]` or `#[secret]` is not an argument of the generated function: the resource
/// value has a setter of its name, and when the caller does not use it the value is looked up when the run
/// starts, under dlt's names ([`config::Config::param`]: `SOURCES__<SOURCE>__<RESOURCE>__<PARAM>`, then
/// `SOURCES__<SOURCE>__<PARAM>`, ..., in the environment, then `.ele/secrets.toml`, then, for `#[config]` only,
/// `.ele/config.toml`). A `#[secret]` parameter has type [`Secret<T>`](config::Secret), whose `Debug` and
/// `Display` print `***`. A missing value fails the run with an error naming every place looked at.
///
/// ```no_run
/// use ele::prelude::*;
///
/// #[resource(write_disposition = "append")]
/// async fn search_tweets(
///     out: Emit<serde_json::Value>,
///     search_terms: Vec<String>,
///     #[secret] twitter_bearer_token: Secret<String>, // the seed's `dlt.secrets.value`
///     #[config] page_size: u32,
/// ) -> ele::Result<()> {
///     let _ = (search_terms, twitter_bearer_token.expose(), page_size);
///     Ok(())
/// }
///
/// let looked_up = search_tweets(vec!["rust".into()]);
/// let given = search_tweets(vec!["rust".into()])
///     .twitter_bearer_token(Secret::new("token".into()))
///     .page_size(100);
/// # let _ = (looked_up, given);
/// ```
///
/// # Compile-time checks with typed items
/// When the item type `T` of `Emit<T>` derives [`Item`](macro@Item), `primary_key`, `merge_key`, and the
/// `cursor` and `primary_key` of every `#[incremental]` must name serialized fields of `T` (serde's renames
/// applied; a nested cursor `a.b` walks into the type of `a`), and `T` of `Incremental<T>` must be the cursor
/// field's type (or its `Option`'s inner type, or `serde_json::Value`). A mistake is a compile error at the
/// string literal, listing `T`'s serialized fields, or at `T` of `Incremental<T>`:
///
/// ```compile_fail,E0277
/// use ele::prelude::*;
/// use serde::Serialize;
///
/// #[derive(Serialize, Item)]
/// struct Event { id: i64, created_at: String }
///
/// #[resource(primary_key = "idd", write_disposition = "merge")] // error: `Event` has no serialized field of this name
/// async fn events(out: Emit<Event>) -> ele::Result<()> { Ok(()) }
/// # fn main() {}
/// ```
///
/// These stay run-time checks (made when the run starts or the first item arrives): items of a type without
/// the derive and `serde_json::Value` items; names inside a `serde_json::Value` or map field, or brought in
/// by a flattened map; keys containing `__` (normalized columns of nested fields); cursor paths written as
/// JSONPath (`$.a.b`, `$.items[*].ts`, `$`); and the cursor type with a custom `last_value_func`.
pub use ele_macros::resource;

/// Turns a function that returns resources into a source: calling it runs the body, which builds the resources,
/// and returns a source struct named after the function (`facebook_ads` -> `FacebookAdsSource`), a [`Source`]
/// through `Deref` with typed accessors; no resource runs until a pipeline runs the source.
///
/// ```no_run
/// use ele::prelude::*;
/// use serde_json::{Value, json};
///
/// #[resource]
/// async fn ads(out: Emit<Value>, token: String, states: Vec<String>) -> ele::Result<()> {
///     out.send(json!({"id": 1, "token": token, "states": states})).await
/// }
///
/// #[resource(selected = false)]
/// async fn campaigns(out: Emit<Value>) -> ele::Result<()> {
///     out.send(json!({"id": 1})).await
/// }
///
/// #[source(name = "facebook_ads", root_key = true, max_table_nesting = 2, resources(ads, campaigns))]
/// fn facebook_ads(#[secret] token: Secret<String>) -> impl ele::IntoResources {
///     (ads(token.expose().clone(), vec![]), campaigns())
/// }
///
/// # fn main() -> ele::Result<()> {
/// let mut fb_ads = facebook_ads(None); // `None`: the token comes from the configuration
/// fb_ads.ads().states(vec!["DISAPPROVED".into()]); // dlt's `fb_ads.ads.bind(states=...)`
/// let only_ads = fb_ads.with_resources(["ads"])?;
/// # let _ = only_ads;
/// # Ok(())
/// # }
/// ```
///
/// Attributes, all optional: `name` (the source name, the state key of its resources; the function name by
/// default), `root_key` (`true` writes `_dlt_root_id` into every child table), `max_table_nesting` (for the
/// resources that do not set their own), `resources(ads, campaigns)` (see below), `crate` (the path of a crate
/// re-exporting ele). `root_key` is also on when the body returns a source with `root_key` set; `false` leaves it
/// to the body. The function is a plain (not `async`) function without type or const parameters; it returns a
/// resource, a tuple of resources, a `Vec<Box<dyn DynResource>>` (resources made in a loop) or a `Source` (whose
/// name is replaced). On a mistake the function is emitted unchanged next to the errors, all of them reported at
/// once.
///
/// # Typed accessors
/// `resources(...)` lists the `#[resource]` functions (by name or path, e.g. `crate::stripe::charges`) whose
/// resources the body returns. Each gets an accessor on the struct, `fb_ads.ads()`, returning the resource's
/// `AdsResourceMut` handle with one setter per argument of the resource function (ordinary, incremental,
/// `#[config]` and `#[secret]` ones). The accessor finds the first resource of that type, whatever its name. The
/// list is written out rather than read from the body, which may build its resources in any way (loops,
/// helpers, `from_fn`). A listed resource the body did not return makes `with_resources` and the run fail with
/// an error naming it.
///
/// # Selection
/// A run extracts the selected resources: all but those with `selected = false`, or exactly those named by
/// [`with_resources`](Source::with_resources), which is an error listing the known names for an unknown one.
///
/// # Configuration and secrets
/// A source parameter marked `#[config]` or `#[secret]` is an `Option` of its type in the generated function:
/// `None` looks it up when the function is called, at `sources.<source>.<param>` and then up the sections (see
/// [`config::Config::param`]). A missing value makes the returned source fail its run and `with_resources` with
/// an error naming every place looked at.
pub use ele_macros::source;

/// Derives [`Item`](trait@Item): describes the serialized fields of a struct that also derives
/// `serde::Serialize`, so that `#[resource]` checks its keys and cursors against them at compile time.
///
/// ```
/// use ele::prelude::*;
/// use serde::Serialize;
///
/// #[derive(Serialize, Item)]
/// struct User {
///     login: String,
/// }
///
/// #[derive(Serialize, Item)]
/// struct Meta {
///     source: String,
/// }
///
/// #[derive(Serialize, Item)]
/// #[serde(rename_all = "camelCase")]
/// struct Event {
///     event_id: i64,                 // serialized as `eventId`
///     #[serde(rename = "ts")]
///     created_at: Option<String>,    // serialized as `ts`
///     user: User,
///     #[serde(flatten)]
///     meta: Meta,                    // adds `source`
///     #[serde(skip)]
///     cache: Vec<u8>,                // not serialized
/// }
///
/// #[resource(primary_key = ("eventId", "source"), write_disposition = "merge")]
/// async fn events(
///     out: Emit<Event>,
///     #[incremental(cursor = "ts", initial_value = "1970-01-01T00:00:00Z")] ts: Incremental<String>,
///     #[incremental(cursor = "user.login")] login: Incremental<String>,
/// ) -> ele::Result<()> {
///     let _ = (ts, login);
///     let user = User { login: "ele".into() };
///     let meta = Meta { source: "api".into() };
///     out.send(Event { event_id: 1, created_at: None, user, meta, cache: vec![] }).await
/// }
/// # fn main() {}
/// ```
///
/// A key that is not a serialized field is a compile error at the literal, listing the serialized names:
///
/// ```compile_fail,E0277
/// # use ele::prelude::*;
/// # use serde::Serialize;
/// #[derive(Serialize, Item)]
/// struct Event { id: i64, created_at: String }
///
/// #[resource(primary_key = "idd", write_disposition = "merge")]
/// //                       ^^^^^ `Event` has no serialized field of this name
/// //                             note: the serialized fields of `Event` are `id`, `created_at`
/// async fn events(out: Emit<Event>) -> ele::Result<()> { Ok(()) }
/// # fn main() {}
/// ```
///
/// and so is an `Incremental<T>` whose `T` is not the cursor field's type, at `T`:
///
/// ```compile_fail,E0277
/// # use ele::prelude::*;
/// # use serde::Serialize;
/// #[derive(Serialize, Item)]
/// struct Event { id: i64, created_at: String }
///
/// #[resource]
/// async fn events(
///     out: Emit<Event>,
///     #[incremental(cursor = "created_at")] created_at: Incremental<i64>,
///     //                                                            ^^^ the cursor field has type `String`
/// ) -> ele::Result<()> { let _ = created_at; Ok(()) }
/// # fn main() {}
/// ```
///
/// The checks are opt-in: a resource over a struct without this derive (or over `serde_json::Value`) compiles
/// as before and keeps the run-time checks. The trait's documentation lists the serde attributes read and
/// what stays a run-time check.
pub use ele_macros::Item;

/// A struct whose serialized fields are known at compile time; see the derive [`Item`](macro@Item).
pub use ele_core::item::Item;

/// A Rust type whose values go into columns of a known type: what `#[derive(ele::Item)]` reads from each
/// field's type (`Option<T>` nullable, other fields NOT NULL). The [`column_type`] module lists the types.
pub use ele_core::ColumnType;
/// Column types from Rust types: the table of types, and the markers a [`ColumnType`] implementation names.
pub use ele_core::column_type;

pub use ele_core::config::Secret;
/// Makes a resource from its function: `ele::from_fn(get_resource).name(key).bind((key, endpoint))`.
///
/// The seed's dynamic resources (one per endpoint, made in a loop) are built from the function, never from a
/// call of it, so every argument arrives through `bind` at once (a tuple, `(endpoint,)` for one argument)
/// and incremental parameters are bound by the runtime as usual. Hints given before `bind` (`name`,
/// `table_name`, `write_disposition`, `primary_key`, `merge_key`, `max_table_nesting`) are applied to the
/// resource it returns.
///
/// ```no_run
/// use ele::prelude::*;
/// use serde_json::{Value, json};
///
/// #[resource(write_disposition = "merge", primary_key = "id")]
/// async fn get_resource(
///     out: Emit<Value>,
///     key: String,
///     endpoint: String,
///     #[incremental(cursor = "created", initial_value = 0)] created: Incremental<i64>,
/// ) -> ele::Result<()> {
///     let since = created.start_value().unwrap_or_default();
///     out.send(json!({ "id": 1, "created": since, "key": key, "endpoint": endpoint })).await
/// }
///
/// #[source]
/// fn stripe(endpoints: Vec<(String, String)>) -> Vec<Box<dyn ele::DynResource>> {
///     endpoints
///         .into_iter()
///         .map(|(key, endpoint)| {
///             let resource = ele::from_fn(get_resource).name(key.clone()).bind((key, endpoint));
///             Box::new(resource) as Box<dyn ele::DynResource>
///         })
///         .collect()
/// }
///
/// # async fn run() -> ele::Result<()> {
/// let source = stripe(vec![("charges".into(), "/v1/charges".into())]);
/// # let _ = source;
/// # Ok(())
/// # }
/// # fn main() {}
/// ```
///
/// The seed's "typical mistake", handing over a called resource (or a stream) instead of the function, does
/// not compile; the message shows the right form:
///
/// ```compile_fail,E0277
/// # use ele::prelude::*;
/// # #[resource]
/// # async fn get_resource(out: Emit<serde_json::Value>, endpoint: String) -> ele::Result<()> { Ok(()) }
/// let resource = ele::from_fn(get_resource("/v1/charges".into()));
/// // error: `GetResourceResource` is not a resource function
/// //   = note: pass the function and give its arguments to `bind`:
/// //           `ele::from_fn(get_resource).name(key).bind((key, endpoint))`
/// ```
pub use ele_core::item::from_fn;
pub use ele_core::item::{FromFn, ResourceFn};

/// The README's code samples, compiled as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// Everything a pipeline program usually needs.
pub mod prelude {
    #[cfg(feature = "postgres")]
    pub use crate::Postgres;
    pub use crate::Secret;
    pub use crate::{
        Emit, Error, Incremental, Item, Key, LastValueFunc, LoadInfo, MergeStrategy, Pipeline,
        RefreshMode, Resource, ResourceExt, ResourceState, Scd2, SortOrder, Source, SourceState,
        WriteDisposition, items, resource, source,
    };
    pub use ele_core::WriteDisposition::{Append, Merge, Replace};
    pub use ele_core::schema::{ColumnHint, ColumnHints, DataType};
    pub use ele_core::{EvolutionMode, SchemaContract};
}

/// Support for the code generated by ele's macros. Not public API: may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use ele_core::schema::{ColumnHint, ColumnHints, DataType};
    pub use ele_core::state::{ResourceState, SourceState};
    pub use ele_core::{Accessor, Source};
    pub use ele_core::{BoxError, Error, Result};
    pub use ele_core::{
        Cursor, Incremental, IncrementalConfig, LastValueFunc, OnCursorValueMissing, RowOrder,
    };
    pub use ele_core::{
        Emit, Key, MergeStrategy, Resource, ResourceHints, SortOrder, TableNameFn, WriteDisposition,
    };
    pub use ele_core::{EvolutionMode, IntoResources, Resources, SchemaContract};
    pub use futures::future::BoxFuture;

    /// Binds the incremental parameter `param` of a resource for this run.
    pub fn bind_incremental<T: Cursor, I>(
        out: &Emit<I>,
        param: &str,
        attribute: IncrementalConfig,
        call_site: Option<Incremental<T>>,
    ) -> Result<Incremental<T>> {
        let _ = param;
        out.bind_incremental(attribute, call_site)
    }

    /// The state of the resource `out` belongs to.
    pub fn resource_state<I>(out: &Emit<I>) -> ResourceState {
        out.resource_state()
    }

    /// The state of the source of the resource `out` belongs to.
    pub fn source_state<I>(out: &Emit<I>) -> SourceState {
        out.source_state()
    }

    /// Turns what a resource body returned into ele's result, keeping ele's own errors as they are.
    pub fn resource_result<E: Into<BoxError>>(
        resource: &str,
        result: std::result::Result<(), E>,
    ) -> Result<()> {
        match result {
            Ok(()) => Ok(()),
            Err(e) => match e.into().downcast::<Error>() {
                Ok(e) => Err(*e),
                Err(other) => Err(Error::resource(resource, other)),
            },
        }
    }

    /// The source named `name` holding what a `#[source]` body returned, with the body's `root_key`.
    pub fn from_resources(name: &str, resources: Resources) -> Source {
        let mut source = Source::new(name).root_key(resources.root_key);
        for resource in resources.list {
            source.push_boxed(resource);
        }
        source
    }

    /// The `#[config]` or `#[secret]` parameter `key` of the resource `out` belongs to, from
    /// [`Config::current`](crate::config::Config::current).
    pub fn resource_config<T: serde::de::DeserializeOwned, I>(
        out: &Emit<I>,
        key: &str,
        secret: bool,
    ) -> Result<T> {
        crate::config::Config::current()?.param(
            out.source_name(),
            Some(out.resource_name()),
            key,
            secret,
        )
    }

    /// The `#[config]` or `#[secret]` parameter `key` of the source `source`: the caller's value, else looked up.
    pub fn source_config<T: serde::de::DeserializeOwned>(
        source: &str,
        key: &str,
        secret: bool,
        given: Option<T>,
    ) -> Result<T> {
        match given {
            Some(value) => Ok(value),
            None => crate::config::Config::current()?.param(source, None, key, secret),
        }
    }

    /// The messages of the lookups that failed, joined.
    pub fn config_errors<const N: usize>(errors: [Option<Error>; N]) -> String {
        errors
            .into_iter()
            .flatten()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Records an error in `source` when it holds no resource of type `R`, which `resources(...)` lists.
    pub fn check_listed<R: Resource>(source: &mut Source, listed: &str) {
        if source.resource_of_type_mut::<R>().is_none() {
            let message = format!(
                "source `{}` lists resource `{listed}` in `#[source(resources(...))]`, but its function returned no `{listed}` resource",
                source.name()
            );
            source.fail(message);
        }
    }

    /// Compile-time checks against typed items (`#[derive(ele::Item)]`) and the traits of the derive.
    pub use ele_core::item;
}
