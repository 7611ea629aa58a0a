//! Procedural macros of ele. Use them through the `ele` crate (`ele::resource`, `ele::source`, `ele::Item`),
//! which documents them; the code they generate names nothing but `::ele::__private`.
//!
//! Layout, after serde_derive and thiserror: `attr` parses the attribute into typed slots, `ast` builds the
//! model of the function, `check` holds the rules across fields, `expand` generates code from the model
//! only, and `fallback` is the output on error. `ctxt` collects the errors so that one build reports all.
//! `item` is the `Item` derive (with `case`, serde's rename rules), and `typed` the checks `#[resource]`
//! emits against a typed item; both spell field names as types through `field_name`. `respan` holds the span
//! helpers.

mod ast;
mod attr;
mod case;
mod check;
mod ctxt;
mod expand;
mod fallback;
mod field_name;
mod item;
mod respan;
mod typed;

use proc_macro::TokenStream;

/// Turns an `async fn` with an `Emit<Item>` parameter into a resource: calling the function returns a
/// resource value (a struct named after the function, `repo_issues` -> `RepoIssuesResource`) and runs
/// nothing; a pipeline runs the body.
///
/// ```text
/// #[resource(name = "issues", write_disposition = "merge", primary_key = ("id", "url"))]
/// pub async fn repo_issues(
///     out: Emit<Issue>,
///     token: String,
///     #[incremental(cursor = "created_at", initial_value = "1970-01-01T00:00:00Z")]
///     created_at: Incremental<String>,
///     state: ResourceState,
/// ) -> ele::Result<()> { .. }
///
/// let july = repo_issues(token).created_at(Incremental::range("2022-07-01", "2022-08-01"));
/// ```
///
/// Attributes, all optional:
/// - `name = "issues"`: the resource name (and state key); the function name by default.
/// - `table_name = "issues"`: the table the rows go to; the resource name by default. Or a function of the
///   item naming the table of each item: a path `table_name = event_table` (`fn(&Item) -> String`) or a
///   closure `table_name = |e: &Event| e.kind.clone()`.
/// - `write_disposition = "append" | "replace" | "merge"`: `"append"` by default; `"merge"` needs a key.
/// - `primary_key`, `merge_key`: a column `"id"`, or columns `("id", "url")` / `["id", "url"]`; `()` for none.
/// - `max_table_nesting = 2`: how deep nested data becomes child tables.
/// - `selected = false`: a source holding the resource does not extract it unless `with_resources` names it.
/// - `crate = "my_reexport::ele"`: the path of the ele facade, for crates that re-export it.
///
/// The function must be `async`, non-generic, and take exactly one parameter whose type is `Emit<T>` (the
/// item type `T`). Parameters are recognised by the last segment of their type's path, not through type
/// aliases:
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
/// - `#[config] page_size: u32`, `#[secret] token: Secret<String>`: filled from the configuration when the run
///   starts unless the setter of the same name gave a value; not arguments of the generated function. A secret's
///   type is `Secret<T>` (so its value never shows) and it is not read from `.ele/config.toml`.
///
/// Besides the resource struct, the macro generates `RepoIssuesResourceMut<'_>`, the handle a `#[source]`
/// accessor returns: one setter per ordinary, incremental and config parameter.
///
/// The other parameters are plain names (`mut` allowed) with owned types; they become the arguments of the
/// generated function, in order. The return type is any `Result<(), E>` where `E` converts into a boxed
/// error, such as `ele::Result<()>`.
///
/// With an item type that derives `ele::Item`, the keys, the cursor paths and `T` of each `Incremental<T>`
/// are checked against the item's serialized fields at compile time (a never-called generic function with one
/// type assertion per name, spanned at the user's literal; see `typed.rs`). Items without the derive, and
/// `serde_json::Value` items, keep the run-time checks.
///
/// On a mistake the function is emitted unchanged (without its `#[incremental]` attributes) next to the
/// errors, all of them reported at once.
#[proc_macro_attribute]
pub fn resource(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::resource(args.into(), item.into()).into()
}

/// Turns a function that returns resources into a source: the generated function of the same name, visibility
/// and arguments returns a source struct (`facebook_ads` -> `FacebookAdsSource`, a `Source` through `Deref`)
/// named after it, holding the resources the body returned, with an accessor per resource listed in
/// `resources(...)`.
///
/// ```text
/// #[source(name = "facebook_ads", root_key = true, resources(ads, campaigns))]
/// pub fn facebook_ads(#[secret] token: Secret<String>) -> impl IntoResources {
///     (ads(token.clone(), vec![]), campaigns(token))
/// }
///
/// let mut fb_ads = facebook_ads(None);               // `None`: looked up in the configuration
/// fb_ads.ads().states(vec!["DISAPPROVED".into()]);    // dlt's `fb_ads.ads.bind(states=...)`
/// let ads_only = fb_ads.with_resources(["ads"])?;
/// ```
///
/// Attributes, all optional:
/// - `name = "facebook_ads"`: the source name (the state key of its resources); the function name by default.
/// - `root_key = true`: writes `_dlt_root_id` into the child tables of every resource; also on when the body
///   returns a source with `root_key` set. `false` leaves it to the body.
/// - `max_table_nesting = 2`: the nesting of every resource that does not set its own.
/// - `resources(ads, crate::x::campaigns)`: the `#[resource]` functions whose resources get a typed accessor
///   (found in the source by type; written out because reading the body would be fragile).
/// - `crate = "my_reexport::ele"`: the path of the ele facade, for crates that re-export it.
///
/// A parameter marked `#[config]` or `#[secret]` becomes an `Option` of its type: `None` looks it up.
///
/// The function is a plain (not `async`) function without type or const parameters; the resources are the
/// async ones. It returns anything implementing `IntoResources`: a resource, a tuple of resources, a
/// `Vec<Box<dyn DynResource>>` (resources made in a loop), or a `Source` (whose name is replaced). The body runs
/// when the function is called, and no resource runs until a pipeline runs the source.
///
/// On a mistake the function is emitted unchanged next to the errors, all of them reported at once.
#[proc_macro_attribute]
pub fn source(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::source(args.into(), item.into()).into()
}

/// Describes the serialized fields of a struct that also derives `serde::Serialize`, so that `#[resource]`
/// checks keys and cursor paths against them at compile time. Documented at its re-export, `ele::Item`.
#[proc_macro_derive(Item, attributes(ele))]
pub fn derive_item(input: TokenStream) -> TokenStream {
    item::derive(input.into()).into()
}
