//! Procedural macros of ele. Use them through the `ele` crate (`ele::resource`), which documents them;
//! the code they generate names nothing but `::ele::__private`.
//!
//! Layout, after serde_derive and thiserror: `attr` parses the attribute into typed slots, `ast` builds the
//! model of the function, `check` holds the rules across fields, `expand` generates code from the model
//! only, and `fallback` is the output on error. `ctxt` collects the errors so that one build reports all.

mod ast;
mod attr;
mod check;
mod ctxt;
mod expand;
mod fallback;

use proc_macro::TokenStream;

/// Turns an `async fn` with an `Emit<Item>` parameter into a resource: calling the function returns a
/// resource value (a struct named after the function, `repo_issues` -> `RepoIssuesResource`) and runs
/// nothing; a pipeline runs the body.
///
/// ```text
/// #[resource(name = "issues", write_disposition = "merge", primary_key = ("id", "url"))]
/// pub async fn repo_issues(out: Emit<Issue>, token: String, page_size: usize) -> ele::Result<()> { .. }
/// ```
///
/// Attributes, all optional:
/// - `name = "issues"`: the resource name (and state key); the function name by default.
/// - `table_name = "issues"`: the table the rows go to; the resource name by default.
/// - `write_disposition = "append" | "replace" | "merge"`: `"append"` by default; `"merge"` needs a key.
/// - `primary_key`, `merge_key`: a column `"id"`, or columns `("id", "url")` / `["id", "url"]`; `()` for none.
/// - `max_table_nesting = 2`: how deep nested data becomes child tables.
/// - `crate = "my_reexport::ele"`: the path of the ele facade, for crates that re-export it.
///
/// The function must be `async`, non-generic, and take exactly one parameter whose type is `Emit<T>` (the
/// item type `T`, matched by the name `Emit`, not through type aliases). Its other parameters are plain
/// names (`mut` allowed) with owned types; they become the arguments of the generated function, in order.
/// The return type is any `Result<(), E>` where `E` converts into a boxed error, such as `ele::Result<()>`.
///
/// On a mistake the function is emitted unchanged next to the errors, all of them reported at once.
#[proc_macro_attribute]
pub fn resource(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::resource(args.into(), item.into()).into()
}
