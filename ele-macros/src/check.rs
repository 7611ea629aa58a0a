//! Rules across fields: the hints against each other, and the function's qualifiers and generics.
//!
//! The parameters are checked where the model is built (`ast::Resource::from_syn`, `ast::Source::from_syn`);
//! everything here only records errors, in source order.

use syn::{GenericParam, ReturnType, Signature};

use crate::attr::{Attr, Attrs, Disposition, Key};
use crate::ctxt::Ctxt;

/// `write_disposition = "merge"` needs a key to merge on; a merge strategy implies merge and upsert and
/// insert-only need a primary key; `hard_delete` and `dedup_sort` need a merge (and `dedup_sort` a primary key).
pub(crate) fn hints(cx: &Ctxt, attrs: &Attrs) {
    // A key given in a bad form already has its error; a second one about it would only be noise.
    let names_a_key =
        |key: &Attr<Key>| key.is_invalid() || key.get().is_some_and(|k| !k.columns.is_empty());
    let strategy = attrs.merge_strategy.get();
    let disposition = attrs.write_disposition.get();
    if let (Some(strategy), Some(disposition)) = (strategy, disposition)
        && disposition.value != Disposition::Merge
    {
        cx.error_spanned_by(
            &strategy.lit,
            format!(
                "`merge_strategy` applies to `write_disposition = \"merge\"`, not `\"{}\"`",
                disposition.lit.value()
            ),
        );
        return;
    }
    let merging = disposition.is_some_and(|d| d.value == Disposition::Merge)
        || (disposition.is_none() && strategy.is_some());
    if let Some(strategy) = strategy.filter(|s| s.needs_primary_key()) {
        if !names_a_key(&attrs.primary_key) {
            cx.error_spanned_by(
                &strategy.lit,
                format!(
                    "`merge_strategy = \"{}\"` needs a `primary_key`: it identifies rows by it",
                    strategy.lit.value()
                ),
            );
        }
    } else if merging
        && strategy.is_none_or(|s| s.variant == "DeleteInsert")
        && !names_a_key(&attrs.primary_key)
        && !names_a_key(&attrs.merge_key)
    {
        match (disposition, strategy) {
            (Some(d), _) => cx.error_spanned_by(
                &d.lit,
                "`write_disposition = \"merge\"` needs a `primary_key` or a `merge_key`; name a key, or use `\"append\"`",
            ),
            (None, Some(s)) => cx.error_spanned_by(
                &s.lit,
                "`merge_strategy = \"delete-insert\"` needs a `primary_key` or a `merge_key`",
            ),
            (None, None) => {}
        }
    }
    for (name, lit) in [
        ("hard_delete", attrs.hard_delete.get()),
        ("dedup_sort", attrs.dedup_sort.get().map(|d| &d.column)),
    ] {
        if let Some(lit) = lit
            && !merging
        {
            cx.error_spanned_by(
                lit,
                format!("`{name}` applies to merges only; add `write_disposition = \"merge\"`"),
            );
        }
    }
    if let Some(sort) = attrs.dedup_sort.get()
        && merging
        && !names_a_key(&attrs.primary_key)
    {
        cx.error_spanned_by(
            &sort.column,
            "`dedup_sort` chooses among rows with the same primary key; set a `primary_key`",
        );
    }
}

/// The function is a plain `async fn` without generics: the resource value stores its arguments, and the
/// generated struct has no type parameters.
pub(crate) fn signature(cx: &Ctxt, sig: &Signature) {
    if let Some(constness) = &sig.constness {
        cx.error_spanned_by(constness, "resource functions cannot be `const`");
    }
    if let Some(unsafety) = &sig.unsafety {
        cx.error_spanned_by(unsafety, "resource functions cannot be `unsafe`");
    }
    if let Some(abi) = &sig.abi {
        cx.error_spanned_by(abi, "resource functions cannot have an `extern` ABI");
    }
    if sig.asyncness.is_none() {
        cx.error_spanned_by(
            sig.fn_token,
            format!(
                "resource functions must be `async`: `async fn {}`",
                sig.ident
            ),
        );
    }
    for param in &sig.generics.params {
        match param {
            GenericParam::Lifetime(l) => cx.error_spanned_by(
                l,
                "resource functions cannot have lifetime parameters: the resource value owns its arguments and must be `'static`",
            ),
            GenericParam::Type(_) | GenericParam::Const(_) => cx.error_spanned_by(
                param,
                "resource functions cannot be generic: the resource value stores the arguments, so their types must be concrete",
            ),
        }
    }
    if let Some(variadic) = &sig.variadic {
        cx.error_spanned_by(variadic, "resource functions cannot be variadic");
    }
}

/// No `where` clause; checked after the parameters, which come first in the source.
pub(crate) fn where_clause(cx: &Ctxt, sig: &Signature) {
    if let Some(where_clause) = &sig.generics.where_clause {
        cx.error_spanned_by(
            where_clause,
            "resource functions cannot have a `where` clause: their argument types must be concrete",
        );
    }
}

/// A source is a plain, non-generic function that returns its resources; its arguments are passed on as they
/// are, so they may borrow (lifetime parameters are fine) or be `impl Trait`.
pub(crate) fn source_signature(cx: &Ctxt, sig: &Signature) {
    if let Some(constness) = &sig.constness {
        cx.error_spanned_by(constness, "source functions cannot be `const`");
    }
    if let Some(asyncness) = &sig.asyncness {
        cx.error_spanned_by(
            asyncness,
            "source functions cannot be `async`: a source is a plain function that returns its resources; the resources are the async ones",
        );
    }
    if let Some(unsafety) = &sig.unsafety {
        cx.error_spanned_by(unsafety, "source functions cannot be `unsafe`");
    }
    if let Some(abi) = &sig.abi {
        cx.error_spanned_by(abi, "source functions cannot have an `extern` ABI");
    }
    for param in &sig.generics.params {
        if let GenericParam::Type(_) | GenericParam::Const(_) = param {
            cx.error_spanned_by(
                param,
                "source functions cannot be generic: give the arguments concrete types",
            );
        }
    }
    if let Some(variadic) = &sig.variadic {
        cx.error_spanned_by(variadic, "source functions cannot be variadic");
    }
}

/// The function returns its resources; checked after the parameters, which come first in the source.
pub(crate) fn source_output(cx: &Ctxt, sig: &Signature) {
    if let ReturnType::Default = sig.output {
        cx.error_spanned_by(
            &sig.ident,
            format!(
                "a source function returns its resources, e.g. `fn {}(..) -> impl IntoResources`",
                sig.ident
            ),
        );
    }
}
