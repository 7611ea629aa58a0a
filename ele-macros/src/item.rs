//! `#[derive(ele::Item)]`: reads serde's attributes into the serialized fields of a struct (parse -> model),
//! then describes them as trait impls that `#[resource]`'s checks resolve (expand).
//!
//! For
//!
//! ```text
//! #[derive(Serialize, Item)]
//! #[serde(rename_all = "camelCase")]
//! struct Event { event_id: i64, #[serde(flatten)] meta: Meta, #[serde(skip)] cache: Vec<u8> }
//! ```
//!
//! the output is
//!
//! ```text
//! const _: () = {
//!     impl Item for Event {
//!         const NAMES: FieldNames = FieldNames { ty: "Event", own: &["eventId"], flattened: &[Probe::<Meta>::NAMES] };
//!     }
//!     #[diagnostic::on_unimplemented(message = "`Event` has no serialized field of this name",
//!         note = "the serialized fields of `Event` are `eventId`, and those of the flattened `Meta`")]
//!     pub trait __EleFields<__N, __I, __Ty> {}
//!     #[diagnostic::do_not_recommend]  // keeps the impls out of the error, which lists the names itself
//!     impl __EleFields<FieldName<'e', 'v', ..>, Here, i64> for Event {}
//!     #[diagnostic::do_not_recommend]
//!     impl<__N, __I, __Ty> __EleFields<__N, Flat<0, __I>, __Ty> for Event where Meta: Field<__N, __I, __Ty> {}
//!     impl<__N, __I, __Ty> Field<__N, __I, __Ty> for Event where Event: __EleFields<__N, __I, __Ty> {}
//! };
//! ```
//!
//! with every ele item named through `::ele::__private::item` (or `#[ele(crate = "...")]`). A
//! `#[serde(transparent)]` or `#[serde(into = "...")]` struct, or a newtype struct, is described by its inner
//! or target type: `Field` is implemented `where Inner: Field<..>`.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{ToTokens, format_ident, quote};
use syn::ext::IdentExt;
use syn::parse::ParseStream;
use syn::{
    Attribute, Data, DeriveInput, Fields, GenericParam, Generics, Ident, LitStr, Token, Type,
    WherePredicate,
};

use crate::case::RenameRule;
use crate::columns::{ColumnField, FieldHint, columns_body, field_hint, type_checks};
use crate::ctxt::Ctxt;
use crate::field_name::name_type;
use crate::respan::respan;

/// `#[ele(crate = "my_reexport::ele")]`
const CRATE: &str = "crate";

/// `#[derive(Item)] input`.
pub(crate) fn derive(input: TokenStream) -> TokenStream {
    let input = match syn::parse2::<DeriveInput>(input) {
        Ok(input) => input,
        Err(error) => return error.into_compile_error(),
    };
    let cx = Ctxt::new();
    let model = Item::from_syn(&cx, &input);
    match cx.check() {
        Ok(()) => model.map_or_else(TokenStream::new, |model| expand(&model)),
        // No fallback impl: without `Item`, `#[resource]` skips its compile-time checks for this type (they
        // stay run-time checks), so the errors here are the only ones.
        Err(error) => error.into_compile_error(),
    }
}

/// A struct that derives `Item`.
struct Item<'a> {
    ident: &'a Ident,
    generics: &'a Generics,
    shape: Shape<'a>,
    krate: syn::Path,
}

/// How the struct serializes.
enum Shape<'a> {
    /// As a map of its fields.
    Fields {
        /// The serialized fields of the struct itself, in order.
        fields: Vec<SerializedField<'a>>,
        /// The types of the `#[serde(flatten)]` fields, in order.
        flattened: Vec<&'a Type>,
        /// `#[serde(tag = "type")]`: a field holding the struct's name, first.
        tag: Option<String>,
    },
    /// As another type: the one field of a newtype or `#[serde(transparent)]` struct, or `#[serde(into)]`'s.
    Delegate(Type),
}

/// One serialized field.
struct SerializedField<'a> {
    name: String,
    /// The Rust type, or `None` when `serialize_with`/`with` makes the serialized type unknown.
    ty: Option<&'a Type>,
    /// The Rust type as declared.
    rust_ty: &'a Type,
    /// `#[serde(with = "serde_bytes")]`.
    bytes: bool,
    /// `skip_serializing_if`.
    maybe_missing: bool,
    /// `#[ele(...)]` column hints.
    hint: FieldHint,
}

/// serde's container attributes that change the serialized fields.
#[derive(Default)]
struct ContainerAttrs {
    rename_all: Option<RenameRule>,
    transparent: bool,
    into: Option<Type>,
    tag: Option<String>,
}

/// serde's field attributes that change the serialized fields.
#[derive(Default)]
struct FieldAttrs {
    rename: Option<String>,
    skip: bool,
    flatten: bool,
    /// `serialize_with` or `with`.
    custom: bool,
    /// `with = "serde_bytes"` or `serialize_with = "serde_bytes::serialize"`.
    bytes: bool,
    /// `skip_serializing_if`.
    skip_if: bool,
}

impl<'a> Item<'a> {
    fn from_syn(cx: &Ctxt, input: &'a DeriveInput) -> Option<Self> {
        let krate = ele_attrs(cx, &input.attrs);
        let container = container_attrs(&input.attrs);
        let data = match &input.data {
            Data::Struct(data) => data,
            Data::Enum(data) => {
                cx.error_spanned_by(
                    data.enum_token,
                    "`#[derive(ele::Item)]` describes structs; an enum item can be sent as `serde_json::Value` and checked at run time",
                );
                return None;
            }
            Data::Union(data) => {
                cx.error_spanned_by(
                    data.union_token,
                    "`#[derive(ele::Item)]` describes structs with named fields",
                );
                return None;
            }
        };
        let shape = if let Some(into) = container.into {
            Shape::Delegate(into)
        } else {
            match &data.fields {
                Fields::Named(named) => {
                    let fields: Vec<_> = named
                        .named
                        .iter()
                        .map(|f| (f, field_attrs(&f.attrs)))
                        .collect();
                    if container.transparent {
                        // serde: exactly one field is not skipped; serde reports the other cases.
                        let mut kept = fields.iter().filter(|(_, attrs)| !attrs.skip);
                        match (kept.next(), kept.next()) {
                            (Some((field, _)), None) => Shape::Delegate(field.ty.clone()),
                            _ => return None,
                        }
                    } else {
                        struct_shape(cx, fields, container.rename_all, container.tag)
                    }
                }
                Fields::Unnamed(unnamed) if unnamed.unnamed.len() == 1 => {
                    // A newtype struct serializes as its field.
                    Shape::Delegate(unnamed.unnamed[0].ty.clone())
                }
                Fields::Unnamed(unnamed) => {
                    cx.error_spanned_by(
                        unnamed,
                        "`#[derive(ele::Item)]` describes structs with named fields; a tuple struct serializes as an array",
                    );
                    return None;
                }
                Fields::Unit => {
                    cx.error_spanned_by(
                        &input.ident,
                        "`#[derive(ele::Item)]` describes structs with named fields; a unit struct has none",
                    );
                    return None;
                }
            }
        };
        Some(Item {
            ident: &input.ident,
            generics: &input.generics,
            shape,
            krate: krate.unwrap_or_else(|| syn::parse_quote!(::ele)),
        })
    }
}

/// The serialized fields of a struct with named fields; two fields serialized under one name are an error.
fn struct_shape<'a>(
    cx: &Ctxt,
    fields: Vec<(&'a syn::Field, FieldAttrs)>,
    rename_all: Option<RenameRule>,
    tag: Option<String>,
) -> Shape<'a> {
    let mut serialized: Vec<SerializedField<'a>> = Vec::new();
    let mut flattened = Vec::new();
    for (field, attrs) in fields {
        let hint = field_hint(cx, &field.attrs);
        if (attrs.skip || attrs.flatten)
            && let Some(span) = hint.span
        {
            cx.error_at(
                span,
                if attrs.skip {
                    "column hints on a field that is not serialized; it gives no column"
                } else {
                    "column hints on a flattened field, which gives the columns of its own fields; hint those fields"
                },
            );
        }
        if attrs.skip {
            continue;
        }
        if attrs.flatten {
            flattened.push(&field.ty);
            continue;
        }
        let Some(ident) = &field.ident else {
            continue;
        };
        let name = attrs.rename.unwrap_or_else(|| {
            rename_all
                .unwrap_or(RenameRule::None)
                .apply_to_field(&ident.unraw().to_string())
        });
        let taken = serialized.iter().any(|f| f.name == name) || tag.as_deref() == Some(&name);
        if taken {
            cx.error_spanned_by(
                ident,
                format!(
                    "two fields are serialized as `{name}`; rename one with `#[serde(rename = \"...\")]`"
                ),
            );
            continue;
        }
        serialized.push(SerializedField {
            name,
            ty: (!attrs.custom).then_some(&field.ty),
            rust_ty: &field.ty,
            bytes: attrs.bytes,
            maybe_missing: attrs.skip_if,
            hint,
        });
    }
    Shape::Fields {
        fields: serialized,
        flattened,
        tag,
    }
}

/// `#[ele(crate = "...")]`: the facade's path.
fn ele_attrs(cx: &Ctxt, attrs: &[Attribute]) -> Option<syn::Path> {
    let mut krate = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("ele")) {
        let parsed = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident(CRATE) {
                // crate = "my_reexport::ele"
                let lit: LitStr = meta.value()?.parse()?;
                match lit.parse_with(syn::Path::parse_mod_style) {
                    Ok(path) if krate.is_none() => krate = Some(path),
                    Ok(_) => cx.error_spanned_by(&meta.path, "duplicate ele attribute `crate`"),
                    Err(_) => cx.error_spanned_by(
                        &lit,
                        "expected a path, e.g. `crate = \"my_reexport::ele\"`",
                    ),
                }
                Ok(())
            } else {
                let key = meta.path.to_token_stream().to_string();
                cx.error_spanned_by(
                    &meta.path,
                    format!("unknown ele attribute `{key}`; expected `{CRATE}`"),
                );
                skip_value(meta.input)
            }
        });
        if let Err(error) = parsed {
            cx.syn_error(error);
        }
    }
    krate
}

/// The container attributes in `#[serde(...)]`. Malformed ones are left to serde_derive, which reports them.
fn container_attrs(attrs: &[Attribute]) -> ContainerAttrs {
    let mut out = ContainerAttrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename_all") {
                // rename_all = "camelCase" | rename_all(serialize = "camelCase", deserialize = "...")
                if let Some(rule) = serialize_value(&meta)? {
                    out.rename_all = RenameRule::from_name(&rule.value());
                }
            } else if meta.path.is_ident("transparent") {
                // transparent
                out.transparent = true;
            } else if meta.path.is_ident("into") {
                // into = "Other"
                let lit: LitStr = meta.value()?.parse()?;
                out.into = lit.parse().ok();
            } else if meta.path.is_ident("tag") {
                // tag = "type"
                let lit: LitStr = meta.value()?.parse()?;
                out.tag = Some(lit.value());
            } else {
                skip_value(meta.input)?;
            }
            Ok(())
        });
    }
    out
}

/// The field attributes in `#[serde(...)]`. Malformed ones are left to serde_derive, which reports them.
fn field_attrs(attrs: &[Attribute]) -> FieldAttrs {
    let mut out = FieldAttrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                // rename = "x" | rename(serialize = "x", deserialize = "y")
                if let Some(name) = serialize_value(&meta)? {
                    out.rename = Some(name.value());
                }
            } else if meta.path.is_ident("skip") || meta.path.is_ident("skip_serializing") {
                // skip | skip_serializing
                out.skip = true;
            } else if meta.path.is_ident("flatten") {
                // flatten
                out.flatten = true;
            } else if meta.path.is_ident("serialize_with") || meta.path.is_ident("with") {
                // serialize_with = "path" | with = "module"
                out.custom = true;
                let lit: LitStr = meta.value()?.parse()?;
                let path = lit.value();
                out.bytes = path == "serde_bytes" || path == "serde_bytes::serialize";
            } else if meta.path.is_ident("skip_serializing_if") {
                // skip_serializing_if = "Option::is_none"
                out.skip_if = true;
                skip_value(meta.input)?;
            } else {
                // skip_serializing_if, default, alias, skip_deserializing, bound, borrow, getter, ...
                skip_value(meta.input)?;
            }
            Ok(())
        });
    }
    out
}

/// The serialize side of `key = "..."` or `key(serialize = "...", deserialize = "...")`.
fn serialize_value(meta: &syn::meta::ParseNestedMeta) -> syn::Result<Option<LitStr>> {
    if meta.input.peek(Token![=]) {
        return Ok(Some(meta.value()?.parse()?));
    }
    let mut serialize = None;
    meta.parse_nested_meta(|inner| {
        if inner.path.is_ident("serialize") {
            serialize = Some(inner.value()?.parse()?);
        } else {
            skip_value(inner.input)?;
        }
        Ok(())
    })?;
    Ok(serialize)
}

/// Consumes the value of an entry this derive does not read: `= expr`, `(...)`, or nothing.
fn skip_value(input: ParseStream) -> syn::Result<()> {
    if input.peek(Token![=]) {
        input.parse::<Token![=]>()?;
        input.parse::<syn::Expr>()?;
    } else if input.peek(syn::token::Paren) {
        input.parse::<proc_macro2::Group>()?;
    }
    Ok(())
}

/// "`a`, `b`", with `{` and `}` doubled for `#[diagnostic::on_unimplemented]`.
fn listed(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{}`", n.replace('{', "{{").replace('}', "}}")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A type as a user would write it: `Option<Meta>`, not `Option < Meta >`.
fn display_type(ty: &Type) -> String {
    let mut text = ty.to_token_stream().to_string();
    for (from, to) in [
        (" < ", "<"),
        ("< ", "<"),
        (" >", ">"),
        (" :: ", "::"),
        (":: ", "::"),
        (" ,", ","),
        ("& ", "&"),
    ] {
        text = text.replace(from, to);
    }
    text
}

fn expand(m: &Item) -> TokenStream {
    let krate = &m.krate;
    let item_mod = quote!(#krate::__private::item);
    let ident = m.ident;
    let (impl_generics, ty_generics, where_clause) = m.generics.split_for_impl();
    let self_ty = quote!(#ident #ty_generics);
    let lookup = [
        format_ident!("__N"),
        format_ident!("__I"),
        format_ident!("__Ty"),
    ];
    let [n, i, ty] = &lookup;
    // The struct's generics with `__N, __I, __Ty` appended, for the impls over every name.
    let generic_impl = generics_with(m.generics, &lookup);
    let (generic_impl_generics, _, _) = generic_impl.split_for_impl();
    let predicates: Vec<&WherePredicate> = m
        .generics
        .where_clause
        .iter()
        .flat_map(|w| w.predicates.iter())
        .collect();

    match &m.shape {
        Shape::Delegate(inner) => quote! {
            #[allow(unused_qualifications)]
            const _: () = {
                #[automatically_derived]
                impl #impl_generics #item_mod::Item for #self_ty
                where
                    #(#predicates,)*
                    #inner: #item_mod::Item,
                {
                    const NAMES: #item_mod::FieldNames = <#inner as #item_mod::Item>::NAMES;
                    fn columns() -> #krate::__private::ColumnHints {
                        <#inner as #item_mod::Item>::columns()
                    }
                }

                #[automatically_derived]
                impl #generic_impl_generics #item_mod::Field<#n, #i, #ty> for #self_ty
                where
                    #(#predicates,)*
                    #inner: #item_mod::Field<#n, #i, #ty>,
                {
                }
            };
        },
        Shape::Fields {
            fields,
            flattened,
            tag,
        } => {
            let own_names: Vec<&str> = tag
                .iter()
                .chain(fields.iter().map(|f| &f.name))
                .map(String::as_str)
                .collect();
            let type_name = ident.unraw().to_string();
            let private = quote!(#krate::__private);
            let column_fields: Vec<ColumnField> = fields
                .iter()
                .map(|f| ColumnField {
                    name: &f.name,
                    ty: f.rust_ty,
                    custom: f.ty.is_none() && !f.bytes,
                    bytes: f.bytes,
                    maybe_missing: f.maybe_missing,
                    hint: &f.hint,
                })
                .collect();
            let columns = columns_body(
                &item_mod,
                &private,
                tag.as_deref(),
                &column_fields,
                flattened,
            );
            let checks = type_checks(&item_mod, m.generics, &column_fields);
            let item_impl = quote! {
                #[automatically_derived]
                impl #impl_generics #item_mod::Item for #self_ty #where_clause {
                    const NAMES: #item_mod::FieldNames = {
                        use #item_mod::ProbeNamesOther as _;
                        #item_mod::FieldNames {
                            ty: #type_name,
                            own: &[#(#own_names),*],
                            flattened: &[#(#item_mod::Probe::<#flattened>::NAMES),*],
                        }
                    };
                    fn columns() -> #private::ColumnHints {
                        #columns
                    }
                }

                #[automatically_derived]
                impl #impl_generics #item_mod::ColumnType for #self_ty #where_clause {
                    type Kind = #item_mod::kind::Struct;
                    type ListKind = #item_mod::kind::List;
                    fn columns(name: &str, nullable: bool) -> #private::ColumnHints {
                        #item_mod::nested_columns(name, nullable, <Self as #item_mod::Item>::columns())
                    }
                }

                #checks
            };

            // A flattened map may hold any name, which would also make every name of the struct's own
            // ambiguous (rustc could find it in two places): the struct accepts any name, of unknown type, and
            // the names are checked at run time.
            if flattened.iter().any(|t| is_map(t)) {
                let any_name = generics_with(m.generics, std::slice::from_ref(n));
                let (any_name_generics, _, _) = any_name.split_for_impl();
                return quote! {
                        #[allow(unused_qualifications)]
                const _: () = {
                            #item_impl

                            impl #any_name_generics #item_mod::Field<#n, #item_mod::Dynamic, #item_mod::Dyn>
                                for #self_ty
                            where
                                #(#predicates,)*
                            {
                            }
                        };
                    };
            }

            // The error message, with the names (the tag first, as serde writes it).
            let mut all: Vec<String> = tag.iter().cloned().collect();
            all.extend(fields.iter().map(|f| f.name.clone()));
            let flattened_names: Vec<String> = flattened
                .iter()
                .map(|t| {
                    format!(
                        "`{}`",
                        display_type(t).replace('{', "{{").replace('}', "}}")
                    )
                })
                .collect();
            let note = match (all.is_empty(), flattened_names.is_empty()) {
                (true, true) => format!("`{type_name}` has no serialized fields"),
                (true, false) => format!(
                    "the serialized fields of `{type_name}` are those of the flattened {}",
                    flattened_names.join(", ")
                ),
                (false, true) => format!(
                    "the serialized fields of `{type_name}` are {}",
                    listed(&all)
                ),
                (false, false) => format!(
                    "the serialized fields of `{type_name}` are {}, and those of the flattened {}",
                    listed(&all),
                    flattened_names.join(", ")
                ),
            };
            let message = format!("`{type_name}` has no serialized field of this name");
            let label = format!("not a serialized field of `{type_name}`");

            let span = Span::call_site();
            let mut direct = Vec::new();
            if let Some(tag) = tag {
                let name_ty = name_type(&item_mod, tag, span);
                direct.push(quote! {
                    #[diagnostic::do_not_recommend]
                    impl #impl_generics __EleFields<#name_ty, #item_mod::Here, ::std::string::String>
                        for #self_ty #where_clause {}
                });
            }
            for field in fields {
                let name_ty = name_type(&item_mod, &field.name, span);
                let field_ty = match field.ty {
                    Some(t) => t.to_token_stream(),
                    None => quote!(#item_mod::Dyn),
                };
                direct.push(quote! {
                    #[diagnostic::do_not_recommend]
                    impl #impl_generics __EleFields<#name_ty, #item_mod::Here, #field_ty>
                        for #self_ty #where_clause {}
                });
            }
            let via_flattened = flattened.iter().enumerate().map(|(k, flat_ty)| {
                let k = Literal::usize_unsuffixed(k);
                quote! {
                    #[diagnostic::do_not_recommend]
                    impl #generic_impl_generics __EleFields<#n, #item_mod::Flat<#k, #i>, #ty> for #self_ty
                    where
                        #(#predicates,)*
                        #flat_ty: #item_mod::Field<#n, #i, #ty>,
                    {
                    }
                }
            });

            // Spanned at the struct's name rather than at the derive: rustc explains a missing name through
            // an impl that comes from a derive as a bound the derive failed to add ("type parameter would
            // need to implement ..., consider manually implementing"), which is noise here.
            let field_impl = respan(
                quote! {
                    impl #generic_impl_generics #item_mod::Field<#n, #i, #ty> for #self_ty
                    where
                        #(#predicates,)*
                        #self_ty: __EleFields<#n, #i, #ty>,
                    {
                    }
                },
                ident.span(),
            );

            quote! {
                #[allow(unused_qualifications)]
            const _: () = {
                    #item_impl

                    #[doc(hidden)]
                    #[diagnostic::on_unimplemented(message = #message, label = #label, note = #note)]
                    pub trait __EleFields<#n, #i, #ty> {}

                    #(#direct)*
                    #(#via_flattened)*

                    #field_impl
                };
            }
        }
    }
}

/// Whether a flattened field is a map (or `serde_json::Value`), whose keys are only known at run time. By the
/// last segment of the type's path, through `Option`; an alias of a map is taken for a struct.
fn is_map(ty: &Type) -> bool {
    let Type::Path(p) = ty else {
        return false;
    };
    let Some(last) = p.path.segments.last() else {
        return false;
    };
    if last.ident == "Option"
        && let syn::PathArguments::AngleBracketed(args) = &last.arguments
        && let Some(syn::GenericArgument::Type(inner)) = args.args.first()
    {
        return is_map(inner);
    }
    ["HashMap", "BTreeMap", "IndexMap", "Map", "Value"]
        .iter()
        .any(|name| last.ident == name)
}

/// `generics` with the type parameters `extra` appended (after lifetimes, types and consts).
fn generics_with(generics: &Generics, extra: &[Ident]) -> Generics {
    let mut out = generics.clone();
    for ident in extra {
        out.params
            .push(GenericParam::Type(syn::TypeParam::from(ident.clone())));
    }
    // The where clause is written out by the caller, with the extra bounds.
    out.where_clause = None;
    out
}
