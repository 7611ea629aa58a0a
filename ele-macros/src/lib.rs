//! Procedural macros of ele: `#[resource]`, `#[source]` and `#[derive(Item)]`. Use them through the `ele` crate
//! (`ele::resource`, `ele::source`, `ele::Item`), whose re-exports document them; the code they generate names
//! nothing but `::ele::__private`.
//!
//! Layout, after serde_derive and thiserror (parse -> model -> check -> generate):
//! - `attr`: ele's attributes parsed into typed slots; recognising and stripping the parameter attributes.
//! - `ast`: the models of a resource and of a source function, built from syn's tree (parse errors only).
//! - `check`: every rule about what the macros accept, run on the models.
//! - `expand`: the pipeline of `#[resource]` and `#[source]`, and the code generated from a checked model.
//! - `typed`: the compile-time checks `#[resource]` emits against a typed item's fields.
//! - `fallback`: the output on error.
//! - `item`: `#[derive(Item)]`, with `case` (serde's rename rules).
//! - `field_name`: the type-level spelling of a field name, shared by `item` and `typed`.
//! - `respan`: span helpers. `ctxt`: the error collector, so that one build reports every error.

mod ast;
mod attr;
mod case;
mod check;
mod columns;
mod ctxt;
mod expand;
mod fallback;
mod field_name;
mod item;
mod respan;
mod typed;

use proc_macro::TokenStream;

/// `#[resource]`: documented at its re-export, `ele::resource`.
#[proc_macro_attribute]
pub fn resource(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::resource(args.into(), item.into()).into()
}

/// `#[source]`: documented at its re-export, `ele::source`.
#[proc_macro_attribute]
pub fn source(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::source(args.into(), item.into()).into()
}

/// `#[derive(Item)]`: documented at its re-export, `ele::Item`.
#[proc_macro_derive(Item, attributes(ele))]
pub fn derive_item(input: TokenStream) -> TokenStream {
    item::derive(input.into()).into()
}
