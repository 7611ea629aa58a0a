//! Every rule about what `#[resource]` and `#[source]` accept, run on the models `ast` builds (after serde_derive's
//! `check` and thiserror's `valid`): the hints against each other, the function's qualifiers and generics, each
//! parameter, the emitter count and the listed resources.
//!
//! The checks only record errors, each at its [`Place`], so that they are reported in source order together with
//! the parse errors recorded while the model was built.

use syn::ext::IdentExt;
use syn::{GenericArgument, GenericParam, Meta, PathArguments, ReturnType, Signature, Type};

use crate::ast::{
    self, ConfigAttr, Param, Resource, Role, Shape, Source, SourceArg, SourceParam, TypedParam,
};
use crate::attr::{self, Attr, Attrs, Disposition, Key};
use crate::ctxt::{Ctxt, Place};

/// The rules of `#[resource]`, in source order.
pub(crate) fn resource(cx: &Ctxt, m: &Resource) {
    cx.at(Place::Attribute, || hints(cx, &m.hints));
    cx.at(Place::Signature, || signature(cx, &m.original.sig));
    let mut emitters = 0;
    for (index, param) in m.params.iter().enumerate() {
        cx.at(Place::Param(index), || match param {
            Param::Receiver(receiver) => cx.error_spanned_by(
                receiver,
                "a resource is a free function; it cannot take `self`",
            ),
            Param::Typed(p) => resource_param(cx, p, &mut emitters),
        });
    }
    cx.at(Place::Rest, || {
        if emitters == 0 {
            cx.error_spanned_by(
                m.ident,
                "a resource needs an emitter parameter, e.g. `out: Emit<Item>`",
            );
        }
        where_clause(cx, &m.original.sig);
    });
}

/// The rules of `#[source]`, in source order.
pub(crate) fn source(cx: &Ctxt, m: &Source) {
    cx.at(Place::Signature, || source_signature(cx, &m.original.sig));
    for (index, param) in m.params.iter().enumerate() {
        cx.at(Place::Param(index), || match param {
            SourceParam::Receiver(receiver) => cx.error_spanned_by(
                receiver,
                "a source is a free function; it cannot take `self`",
            ),
            SourceParam::Typed(arg) => source_param(cx, arg),
        });
    }
    cx.at(Place::Rest, || {
        listed_resources(cx, &m.resources);
        source_output(cx, &m.original.sig);
    });
}

/// `write_disposition = "merge"` needs a key to merge on; a merge strategy implies merge and upsert and
/// insert-only need a primary key; `hard_delete` and `dedup_sort` need a merge (and `dedup_sort` a primary key).
fn hints(cx: &Ctxt, attrs: &Attrs) {
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
fn signature(cx: &Ctxt, sig: &Signature) {
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

/// No `where` clause.
fn where_clause(cx: &Ctxt, sig: &Signature) {
    if let Some(where_clause) = &sig.generics.where_clause {
        cx.error_spanned_by(
            where_clause,
            "resource functions cannot have a `where` clause: their argument types must be concrete",
        );
    }
}

/// A source is a plain, non-generic function that returns its resources; its arguments are passed on as they
/// are, so they may borrow (lifetime parameters are fine) or be `impl Trait`.
fn source_signature(cx: &Ctxt, sig: &Signature) {
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

/// The function returns its resources.
fn source_output(cx: &Ctxt, sig: &Signature) {
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

/// One typed parameter of a resource function. `emitters` counts the emitters so far.
fn resource_param(cx: &Ctxt, p: &TypedParam, emitters: &mut usize) {
    let pat_type = p.pat_type;
    config_attrs(cx, &p.config_attrs);
    if let (Some(config), Some(what)) = (p.config_attrs.first(), p.role.describe()) {
        cx.error_spanned_by(
            config.attr,
            format!(
                "`#[{}]` goes on an ordinary argument, not on {what}",
                config.name()
            ),
        );
    }
    match &p.role {
        Role::Config(config) => {
            config_param(cx, p.pat_type, p.ident, *config, Owner::Resource);
            return;
        }
        Role::Incremental(..) => {}
        Role::Emitter(_) | Role::State(..) | Role::Arg => {
            for attr in pat_type.attrs.iter().filter(|a| attr::is_incremental(a)) {
                cx.error_spanned_by(
                    attr,
                    "`#[incremental]` goes on an `Incremental` parameter only, e.g. `created_at: Incremental<String>`",
                );
            }
        }
    }
    // `#[incremental]` and `#[config]` in the wrong place have their own errors already.
    let foreign_attr = pat_type.attrs.iter().find(|a| !attr::is_param_attr(a));
    match &p.role {
        Role::Arg => {
            if let Some(attr) = foreign_attr {
                cx.error_spanned_by(
                    attr,
                    "attributes on resource arguments are not supported, but `#[config]` and `#[secret]`",
                );
            }
            owned_type(cx, &pat_type.ty);
            plain_name(
                cx,
                p,
                "resource arguments must be plain names, e.g. `page_size: usize`; destructure inside the body",
            );
        }
        Role::Emitter(shape) => {
            *emitters += 1;
            if *emitters > 1 {
                cx.error_spanned_by(
                    pat_type,
                    "a resource has exactly one emitter parameter; this is a second `Emit`",
                );
                return;
            }
            match shape {
                Shape::Owned(args) if matches!(args.as_slice(), [GenericArgument::Type(_)]) => {
                    owned_type(cx, &pat_type.ty);
                }
                Shape::Owned(_) | Shape::Malformed => cx.error_spanned_by(
                    &pat_type.ty,
                    "`Emit` takes the item type as its one argument, e.g. `out: Emit<Item>`",
                ),
                Shape::Borrowed => cx.error_spanned_by(
                    &pat_type.ty,
                    "the emitter is taken by value, e.g. `out: Emit<Item>`",
                ),
            }
        }
        Role::Incremental(shape, _) => {
            for attr in pat_type.attrs.iter().filter(|a| !attr::is_param_attr(a)) {
                cx.error_spanned_by(
                    attr,
                    "an incremental parameter takes no attribute but `#[incremental(...)]`",
                );
            }
            match shape {
                Shape::Borrowed => cx.error_spanned_by(
                    &pat_type.ty,
                    "an incremental is taken by value, e.g. `created_at: Incremental<String>`; it is a handle that `out.send` keeps current",
                ),
                _ => match shape.one_type() {
                    Some(Some(cursor_ty)) => owned_type(cx, cursor_ty),
                    Some(None) => {}
                    None => cx.error_spanned_by(
                        &pat_type.ty,
                        "`Incremental` takes the cursor type as its one argument, e.g. `created_at: Incremental<String>`",
                    ),
                },
            }
            let Some(ident) = plain_name(
                cx,
                p,
                "incremental parameters must be plain names, e.g. `created_at: Incremental<String>`",
            ) else {
                return;
            };
            let name = ident.unraw().to_string();
            if RESOURCE_METHODS.contains(&name.as_str()) {
                cx.error_spanned_by(
                    ident,
                    format!(
                        "an incremental parameter cannot be named `{name}`: its setter `.{name}(...)` would hide the resource method of that name; rename the parameter"
                    ),
                );
            }
        }
        Role::State(scope, shape) => {
            let type_name = scope.type_name();
            if let Some(attr) = foreign_attr {
                cx.error_spanned_by(attr, "attributes on resource arguments are not supported");
            }
            match shape {
                Shape::Owned(args) if args.is_empty() => {}
                Shape::Owned(_) | Shape::Malformed => cx.error_spanned_by(
                    &pat_type.ty,
                    format!("`{type_name}` takes no type arguments, e.g. `state: {type_name}`"),
                ),
                Shape::Borrowed => cx.error_spanned_by(
                    &pat_type.ty,
                    format!("the state is taken by value, e.g. `state: {type_name}`"),
                ),
            }
            plain_name(
                cx,
                p,
                &format!("state parameters must be plain names, e.g. `state: {type_name}`"),
            );
        }
        Role::Config(_) => {}
    }
}

/// One typed parameter of a source function: only `#[config]` and `#[secret]` ones have rules; the others are
/// passed on to the body as they are.
fn source_param(cx: &Ctxt, arg: &SourceArg) {
    config_attrs(cx, &arg.config_attrs);
    if let Some(config) = arg.config_attrs.first() {
        config_param(
            cx,
            arg.pat_type,
            ast::plain_ident(arg.pat_type),
            *config,
            Owner::Source,
        );
    }
}

/// The name of a parameter that must be a plain name (optionally `mut`); otherwise `message` is recorded.
fn plain_name<'a>(cx: &Ctxt, p: &TypedParam<'a>, message: &str) -> Option<&'a syn::Ident> {
    if p.ident.is_none() {
        cx.error_spanned_by(&p.pat_type.pat, message);
    }
    p.ident
}

/// One `#[config]` or `#[secret]` per parameter, without arguments.
fn config_attrs(cx: &Ctxt, attrs: &[ConfigAttr]) {
    for (index, &this) in attrs.iter().enumerate() {
        if !matches!(this.attr.meta, Meta::Path(_)) {
            cx.error_spanned_by(
                this.attr,
                format!(
                    "`#[{0}]` takes no arguments: the value is looked up under the parameter's name, e.g. `#[{0}] page_size: u32`",
                    this.name()
                ),
            );
        }
        match attrs.first() {
            Some(first) if index > 0 && first.secret == this.secret => {
                cx.error_spanned_by(this.attr, format!("duplicate `#[{}]`", this.name()));
            }
            Some(_) if index > 0 => cx.error_spanned_by(
                this.attr,
                "a parameter is `#[config]` or `#[secret]`, not both; a secret is read from the environment and `.ele/secrets.toml` only",
            ),
            _ => {}
        }
    }
}

/// The function a `#[config]` or `#[secret]` parameter belongs to, for messages and the reserved names.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Owner {
    Resource,
    Source,
}

/// A `#[config]` or `#[secret]` parameter: a plain name whose type is owned, and `Secret<T>` for a secret; a
/// resource's is not named like a method of the resource (it gets a setter of its name).
fn config_param(
    cx: &Ctxt,
    pat_type: &syn::PatType,
    ident: Option<&syn::Ident>,
    config: ConfigAttr,
    owner: Owner,
) {
    if let Some(attr) = pat_type.attrs.iter().find(|a| !attr::is_param_attr(a)) {
        cx.error_spanned_by(
            attr,
            format!(
                "a `#[{}]` parameter takes no other attribute",
                config.name()
            ),
        );
    }
    if config.secret && !is_secret_type(&pat_type.ty) {
        cx.error_spanned_by(
            &pat_type.ty,
            "a `#[secret]` parameter has type `Secret<T>`, so that its value never shows in logs, errors or `Debug` output, e.g. `#[secret] token: Secret<String>`",
        );
    }
    owned_type(cx, &pat_type.ty);
    let Some(ident) = ident else {
        cx.error_spanned_by(
            &pat_type.pat,
            format!(
                "`#[{}]` parameters must be plain names: the name is the configuration key, e.g. `page_size: u32`",
                config.name()
            ),
        );
        return;
    };
    let name = ident.unraw().to_string();
    if owner == Owner::Resource && RESOURCE_METHODS.contains(&name.as_str()) {
        cx.error_spanned_by(
            ident,
            format!(
                "a `#[{}]` parameter cannot be named `{name}`: its setter `.{name}(...)` would hide the resource method of that name; rename the parameter",
                config.name()
            ),
        );
    }
}

/// Whether a type is written `Secret<T>` (by the last segment of its path).
fn is_secret_type(ty: &Type) -> bool {
    match ast::ungroup(ty) {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last().is_some_and(|s| {
            s.ident == "Secret"
                && matches!(&s.arguments, PathArguments::AngleBracketed(a) if a.args.len() == 1)
        }),
        _ => false,
    }
}

/// Records the parts of a type that cannot be stored in a `'static` resource value: borrows with a lifetime
/// other than `'static`, and `impl Trait`. Function pointers and trait objects are not entered: lifetimes in
/// them are higher-ranked or default to `'static`.
fn owned_type(cx: &Ctxt, ty: &Type) {
    match ty {
        Type::Reference(r) => {
            if r.lifetime.as_ref().is_some_and(|l| l.ident == "static") {
                owned_type(cx, &r.elem);
            } else {
                cx.error_spanned_by(
                    r,
                    "resource arguments cannot borrow: the resource value owns them; take an owned type such as `String`, or a `&'static` reference",
                );
            }
        }
        Type::ImplTrait(t) => cx.error_spanned_by(
            t,
            "resource arguments cannot be `impl Trait`: the resource value stores them, so their types must be concrete",
        ),
        Type::Path(p) => {
            if let Some(q) = &p.qself {
                owned_type(cx, &q.ty);
            }
            for segment in &p.path.segments {
                let PathArguments::AngleBracketed(args) = &segment.arguments else {
                    continue;
                };
                for arg in &args.args {
                    match arg {
                        GenericArgument::Lifetime(l) if l.ident != "static" => cx.error_spanned_by(
                            l,
                            "resource arguments cannot borrow: the resource value owns them and must be `'static`",
                        ),
                        GenericArgument::Type(t) => owned_type(cx, t),
                        GenericArgument::AssocType(a) => owned_type(cx, &a.ty),
                        _ => {}
                    }
                }
            }
        }
        Type::Tuple(t) => t.elems.iter().for_each(|t| owned_type(cx, t)),
        Type::Array(a) => owned_type(cx, &a.elem),
        Type::Slice(s) => owned_type(cx, &s.elem),
        Type::Paren(p) => owned_type(cx, &p.elem),
        Type::Group(g) => owned_type(cx, &g.elem),
        _ => {}
    }
}

/// A listed resource gets an accessor named after it, which must not hide a method of the source, and is named
/// without arguments.
fn listed_resources(cx: &Ctxt, resources: &[syn::Path]) {
    for path in resources {
        let Some(last) = path.segments.last() else {
            continue;
        };
        let accessor = last.ident.unraw().to_string();
        if SOURCE_METHODS.contains(&accessor.as_str()) {
            cx.error_spanned_by(
                &last.ident,
                format!(
                    "a listed resource cannot be named `{accessor}`: its accessor `.{accessor}()` would hide the source method of that name; rename the resource function"
                ),
            );
        }
        if !last.arguments.is_empty() {
            cx.error_spanned_by(
                &last.arguments,
                "expected the name of a `#[resource]` function, without arguments",
            );
        }
    }
}

/// The methods of ele-core's `Resource` and `ResourceExt` traits, which a setter named after an incremental or
/// config parameter would hide: an inherent method wins over a trait method in method-call syntax, so `.name("x")`
/// would call the setter. A test (below) keeps this list equal to the traits' methods.
const RESOURCE_METHODS: [&str; 28] = [
    // `Resource`
    "hints",
    "hints_mut",
    "extract",
    "table_name_fn",
    "backfill_only",
    "wrapped_mut",
    // `ResourceExt` (its `table_name_fn` is listed above)
    "name",
    "table_name",
    "write_disposition",
    "primary_key",
    "merge_key",
    "max_table_nesting",
    "root_key",
    "merge_strategy",
    "scd2",
    "hard_delete",
    "dedup_sort",
    "columns",
    "column",
    "selected",
    "schema_contract",
    "map",
    "filter",
    "flat_map",
    "limit",
    "limit_rows",
    "limit_time",
    "after_incremental",
];

/// Methods of the generated source struct and of `Source` (reached through `Deref`) that an accessor named after
/// a listed resource would hide. Keep in step with `expand::expand_source` and ele-core's `Source`.
const SOURCE_METHODS: [&str; 20] = [
    "with_resources",
    "root_key",
    "max_table_nesting",
    "into_source",
    "name",
    "resource",
    "push",
    "push_boxed",
    "set_root_key",
    "has_root_key",
    "resource_names",
    "selected_resource_names",
    "resource_mut",
    "resource_of_type_mut",
    "fail",
    "error",
    "schema_contract",
    "limit",
    "limit_rows",
    "limit_time",
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    use syn::{ImplItem, Item, TraitItem, Type};

    use super::{RESOURCE_METHODS, SOURCE_METHODS};

    /// The first of `candidates` (relative to the workspace root) that exists, parsed.
    fn ele_core_file(candidates: &[&str]) -> syn::File {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let path = candidates
            .iter()
            .map(|c| root.join(c))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("none of {candidates:?} exists"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        syn::parse_file(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
    }

    /// The names of the methods of the trait `name` in `file`.
    fn trait_methods(file: &syn::File, name: &str) -> BTreeSet<String> {
        file.items
            .iter()
            .find_map(|item| match item {
                Item::Trait(t) if t.ident == name => Some(t),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no trait `{name}`"))
            .items
            .iter()
            .filter_map(|item| match item {
                TraitItem::Fn(f) => Some(f.sig.ident.to_string()),
                _ => None,
            })
            .collect()
    }

    /// The names of the methods (functions taking `self`) of the inherent impls of `name` in `file`.
    fn inherent_methods(file: &syn::File, name: &str) -> BTreeSet<String> {
        file.items
            .iter()
            .filter_map(|item| match item {
                Item::Impl(i)
                    if i.trait_.is_none()
                        && matches!(&*i.self_ty, Type::Path(p) if p.path.is_ident(name)) =>
                {
                    Some(i)
                }
                _ => None,
            })
            .flat_map(|i| &i.items)
            .filter_map(|item| match item {
                ImplItem::Fn(f) if f.sig.receiver().is_some() => Some(f.sig.ident.to_string()),
                _ => None,
            })
            .collect()
    }

    /// Without duplicates, as a set.
    fn set(names: &[&str]) -> BTreeSet<String> {
        let set: BTreeSet<String> = names.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            set.len(),
            names.len(),
            "a name is listed twice in {names:?}"
        );
        set
    }

    #[test]
    fn reserved_resource_names_are_the_resource_traits_methods() {
        let file = ele_core_file(&[
            "ele-core/src/extract/resource.rs",
            "ele-core/src/resource.rs",
        ]);
        let mut methods = trait_methods(&file, "Resource");
        methods.extend(trait_methods(&file, "ResourceExt"));
        assert_eq!(set(&RESOURCE_METHODS), methods);
    }

    #[test]
    fn reserved_source_names_are_the_source_methods() {
        let file = ele_core_file(&["ele-core/src/extract/source.rs", "ele-core/src/source.rs"]);
        let mut methods = inherent_methods(&file, "Source");
        // The generated source struct's own methods (`expand::expand_source`).
        methods.extend(
            [
                "with_resources",
                "root_key",
                "max_table_nesting",
                "into_source",
            ]
            .map(String::from),
        );
        assert_eq!(set(&SOURCE_METHODS), methods);
    }
}
