//! Compile-time checks of a resource's keys and cursors against a typed item (`#[derive(ele::Item)]`).
//!
//! For `out: Emit<Event>`, `primary_key = "id"` and `#[incremental(cursor = "user.created_at")]
//! created_at: Incremental<String>`, the resource's `const _` block gets
//!
//! ```text
//! const _: () = {                                                                             // at "id"
//!     use item::ProbeNamesOther as _;
//!     if let Some(message) = item::missing_field(item::Probe::<Event>::NAMES, "id").as_str() {
//!         panic!("{}", message)
//!     }
//! };
//! #[allow(dead_code, ..)]
//! fn __ele_check_item<__EleNever>() {
//!     use item::{ProbeItem as _, ProbeOther as _};
//!     item::cursor::<_, String>(                                                              // at `String`
//!         item::field::<_, FieldName<'c', ..>, _, _>(                                         // at the path
//!             item::field::<_, FieldName<'u', ..>, _, _>((&item::Probe::<Event>::new()).probe())));
//! }
//! ```
//!
//! where `item` is `::ele::__private::item`. A key is checked by evaluating a constant: a missing name is one
//! error at the user's literal that names the type, suggests the closest name and lists them all, and an item
//! type without `Item` has no names to check (`Probe::<T>::NAMES` is `None` then). A cursor path is checked by
//! types, as its field's type must also match `Incremental<T>`: the function is generic and never called, so it
//! is type-checked (by `cargo check` too) and never compiled to code. `probe()` starts the checks on `Event`
//! when it derives `Item`, and on a type that accepts everything otherwise (autoref specialization, see
//! ele-core's `item` module). A wrong name is an unsatisfied `Field` bound reported at the `_` spanned at the
//! user's literal, with the item's list of serialized names; a wrong cursor type is an unsatisfied `CursorOf`
//! bound at the user's type.
//!
//! Left to the run-time checks: items of type `serde_json::Value` (no code is emitted), keys containing `__`
//! (normalized columns of nested fields), and cursor paths written as JSONPath (`$`, `[`, `*`, quotes).

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::{LitStr, PathArguments, Type};

use crate::ast::Resource;
use crate::attr::{Key, LastValueFunc};
use crate::field_name::name_type;
use crate::respan::{bounds, respan};

/// The check function for `m`, or nothing when there is nothing to check.
pub(crate) fn checks(m: &Resource, item_ty: &Type, private: &TokenStream) -> TokenStream {
    if !is_plain_path(item_ty) {
        return TokenStream::new();
    }
    let item_mod = quote!(#private::item);
    let start = quote!((&#item_mod::Probe::<#item_ty>::new()).probe());
    let mut checks = Vec::new();
    let mut key_checks = Vec::new();

    let keys = [m.hints.primary_key.get(), m.hints.merge_key.get()];
    for Key { columns } in keys.into_iter().flatten() {
        for column in columns {
            key_checks.extend(key_check(&item_mod, item_ty, column));
        }
    }
    for p in m.incrementals() {
        if let Some(Key { columns }) = p.config.primary_key.get() {
            for column in columns {
                key_checks.extend(key_check(&item_mod, item_ty, column));
            }
        }
        let Some(cursor) = p.config.cursor.get() else {
            continue;
        };
        let Some(path) = path_check(&item_mod, &start, cursor) else {
            continue;
        };
        // A custom `last_value_func` keeps a last value of its own type (e.g. a map per event type), not the
        // field's; a `Value` cursor accepts any field.
        let custom = matches!(
            p.config.last_value_func.get(),
            Some(LastValueFunc::Custom(_))
        );
        match p.cursor_ty {
            Some(cursor_ty) if !custom && !is_value(cursor_ty) => {
                let (span, _) = bounds(cursor_ty);
                let call = quote_spanned!(span=> #item_mod::cursor::<_, #cursor_ty>);
                checks.push(quote!(#call(#path);));
            }
            _ => checks.push(quote!(#path;)),
        }
    }
    if checks.is_empty() {
        return quote!(#(#key_checks)*);
    }
    quote! {
        #(#key_checks)*
        #[allow(
            dead_code,
            unused_imports,
            unused_qualifications,
            unused_results,
            non_camel_case_types,
            clippy::all
        )]
        fn __ele_check_item<__EleNever>() {
            use #item_mod::{ProbeItem as _, ProbeOther as _};
            #(#checks)*
        }
    }
}

/// The constant that checks a key column against the item's serialized names, spanned at its literal; `None`
/// for a column that is only checked at run time.
fn key_check(item_mod: &TokenStream, item_ty: &Type, column: &LitStr) -> Option<TokenStream> {
    let name = column.value();
    if name.contains("__") {
        return None;
    }
    let span = column.span();
    let item_mod = respan(item_mod.clone(), span);
    let item_ty = respan(item_ty.to_token_stream(), span);
    Some(quote_spanned! {span=>
        #[allow(unused_imports, unused_qualifications, clippy::all)]
        const _: () = {
            use #item_mod::ProbeNamesOther as _;
            if let ::core::option::Option::Some(message) =
                #item_mod::missing_field(#item_mod::Probe::<#item_ty>::NAMES, #column).as_str()
            {
                ::core::panic!("{}", message)
            }
        };
    })
}

/// The nested `field` calls of a dotted cursor path, each spanned at the literal; `None` for a path that is
/// only checked at run time (JSONPath).
fn path_check(item_mod: &TokenStream, start: &TokenStream, cursor: &LitStr) -> Option<TokenStream> {
    let path = cursor.value();
    let path = path.trim();
    if path.is_empty()
        || path.contains(['$', '[', ']', '*', '\'', '"'])
        || path.contains(char::is_whitespace)
    {
        return None;
    }
    let segments: Vec<&str> = path.split('.').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return None;
    }
    let mut expr = respan(start.clone(), cursor.span());
    for segment in segments {
        let span = cursor.span();
        let step = step(item_mod, segment, span);
        expr = quote_spanned!(span=> #step(#expr));
    }
    Some(expr)
}

/// `item::field::<_, Name, _, _>`, every token spanned at `span`: rustc reports an unsatisfied bound at the
/// `_` standing for the type being looked into.
fn step(item_mod: &TokenStream, name: &str, span: Span) -> TokenStream {
    let item_mod = respan(item_mod.clone(), span);
    let name_ty = name_type(&item_mod, name, span);
    quote_spanned!(span=> #item_mod::field::<_, #name_ty, _, _>)
}

/// `Event` or `crate::model::Event<'static>`: a path type that is not `serde_json::Value` (whose items are
/// checked at run time).
fn is_plain_path(ty: &Type) -> bool {
    match ty {
        Type::Path(p) => p.qself.is_none() && !is_value(ty),
        Type::Group(g) => is_plain_path(&g.elem),
        Type::Paren(p) => is_plain_path(&p.elem),
        _ => false,
    }
}

/// `Value` or `serde_json::Value`, by the last path segment (the macro cannot see through aliases).
fn is_value(ty: &Type) -> bool {
    match ty {
        Type::Path(p) => p
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == "Value" && matches!(s.arguments, PathArguments::None)),
        Type::Group(g) => is_value(&g.elem),
        Type::Paren(p) => is_value(&p.elem),
        _ => false,
    }
}
