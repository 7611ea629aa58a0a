//! The column hints of `#[derive(ele::Item)]`: a field's `#[ele(...)]` hints (dlt's column hint names), checked
//! against the explicit `data_type` here and against the field's Rust type through trait bounds, and the code of
//! `Item::columns`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::{Attribute, LitBool, LitInt, LitStr, Type};

use crate::ctxt::Ctxt;

/// dlt's data types, as `data_type = "..."` names them.
const DATA_TYPES: [&str; 11] = [
    "text",
    "bigint",
    "double",
    "bool",
    "timestamp",
    "date",
    "time",
    "decimal",
    "wei",
    "binary",
    "json",
];
/// The types that take `precision`, `scale` and `timezone`.
const TAKES_PRECISION: [&str; 7] = [
    "text",
    "bigint",
    "timestamp",
    "time",
    "decimal",
    "wei",
    "binary",
];
const TAKES_SCALE: [&str; 2] = ["decimal", "wei"];
const TAKES_TIMEZONE: [&str; 2] = ["timestamp", "time"];

/// The boolean hints, by dlt's names; a bare `unique` is `unique = true`.
const FLAGS: [&str; 8] = [
    "nullable",
    "unique",
    "primary_key",
    "merge_key",
    "hard_delete",
    "partition",
    "cluster",
    "sort",
];

/// A field's `#[ele(...)]` hints.
#[derive(Default)]
pub(crate) struct FieldHint {
    data_type: Option<String>,
    precision: Option<(u32, Span)>,
    scale: Option<(u32, Span)>,
    timezone: Option<(bool, Span)>,
    dedup_sort: Option<String>,
    flags: Vec<(&'static str, bool)>,
    /// Where the attribute is, for errors about the field as a whole.
    pub(crate) span: Option<Span>,
}

impl FieldHint {
    /// Whether the field has `#[ele(...)]` at all.
    pub(crate) fn is_given(&self) -> bool {
        self.span.is_some()
    }
}

/// Parses the `#[ele(...)]` attributes of a field, reporting unknown hints and hints the explicit data type
/// cannot hold.
pub(crate) fn field_hint(cx: &Ctxt, attrs: &[Attribute]) -> FieldHint {
    let mut out = FieldHint::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("ele")) {
        out.span.get_or_insert_with(|| {
            use syn::spanned::Spanned;
            attr.path().span()
        });
        let parsed = attr.parse_nested_meta(|meta| {
            let key = meta
                .path
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_default();
            match key.as_str() {
                "data_type" => {
                    let lit: LitStr = meta.value()?.parse()?;
                    let name = lit.value();
                    if DATA_TYPES.contains(&name.as_str()) {
                        out.data_type = Some(name);
                    } else {
                        cx.error_spanned_by(
                            &lit,
                            format!(
                                "unknown data type `{name}`; expected one of {}",
                                quoted(&DATA_TYPES)
                            ),
                        );
                    }
                }
                "precision" | "scale" => {
                    let lit: LitInt = meta.value()?.parse()?;
                    let value = lit.base10_parse::<u32>()?;
                    let slot = if key == "precision" {
                        &mut out.precision
                    } else {
                        &mut out.scale
                    };
                    *slot = Some((value, meta.path.get_ident().map_or(lit.span(), |i| i.span())));
                }
                "timezone" => {
                    let value = flag_value(&meta)?;
                    out.timezone = Some((value, meta.path.get_ident().map_or(Span::call_site(), |i| i.span())));
                }
                "dedup_sort" => {
                    let lit: LitStr = meta.value()?.parse()?;
                    match lit.value().as_str() {
                        order @ ("asc" | "desc") => out.dedup_sort = Some(order.to_owned()),
                        other => cx.error_spanned_by(
                            &lit,
                            format!("unknown sort order `{other}`; expected `asc` or `desc`"),
                        ),
                    }
                }
                _ => match FLAGS.iter().find(|f| **f == key) {
                    Some(flag) => {
                        let value = flag_value(&meta)?;
                        out.flags.push((flag, value));
                    }
                    None => {
                        cx.error_spanned_by(
                            &meta.path,
                            format!(
                                "unknown column hint `{}`; expected one of `data_type`, `precision`, `scale`, `timezone`, `dedup_sort`, {}",
                                quote::ToTokens::to_token_stream(&meta.path),
                                quoted(&FLAGS)
                            ),
                        );
                        skip_value(&meta)?;
                    }
                },
            }
            Ok(())
        });
        if let Err(error) = parsed {
            cx.syn_error(error);
        }
    }
    if let Some(data_type) = &out.data_type {
        let data_type = data_type.as_str();
        for (hint, span, takes) in [
            (
                "precision",
                out.precision.map(|p| p.1),
                &TAKES_PRECISION[..],
            ),
            ("scale", out.scale.map(|s| s.1), &TAKES_SCALE[..]),
            ("timezone", out.timezone.map(|t| t.1), &TAKES_TIMEZONE[..]),
        ] {
            if let Some(span) = span
                && !takes.contains(&data_type)
            {
                cx.error_at(
                    span,
                    format!(
                        "`{hint}` does not apply to a `{data_type}` column; it applies to {}",
                        quoted(takes)
                    ),
                );
            }
        }
    }
    out
}

/// `flag` or `flag = true|false`.
fn flag_value(meta: &syn::meta::ParseNestedMeta) -> syn::Result<bool> {
    if meta.input.peek(syn::Token![=]) {
        let lit: LitBool = meta.value()?.parse()?;
        Ok(lit.value)
    } else {
        Ok(true)
    }
}

/// Consumes `= expr` or `(...)` after an unknown key.
fn skip_value(meta: &syn::meta::ParseNestedMeta) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        meta.input.parse::<syn::Token![=]>()?;
        meta.input.parse::<syn::Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        meta.input.parse::<proc_macro2::Group>()?;
    }
    Ok(())
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A serialized field, as the columns see it.
pub(crate) struct ColumnField<'a> {
    /// The serialized name.
    pub(crate) name: &'a str,
    /// The Rust type.
    pub(crate) ty: &'a Type,
    /// `serialize_with`/`with` other than serde_bytes: the Rust type says nothing about the column.
    pub(crate) custom: bool,
    /// `#[serde(with = "serde_bytes")]`: binary.
    pub(crate) bytes: bool,
    /// `skip_serializing_if`: the key may be missing, so the column is nullable.
    pub(crate) maybe_missing: bool,
    /// `#[ele(...)]`.
    pub(crate) hint: &'a FieldHint,
}

/// The body of `Item::columns`: the type's columns of each field, the field's hints on top, then the columns of
/// the flattened fields.
pub(crate) fn columns_body(
    item_mod: &TokenStream,
    private: &TokenStream,
    tag: Option<&str>,
    fields: &[ColumnField],
    flattened: &[&Type],
) -> TokenStream {
    let c = quote!(__ele_columns);
    let mut steps = Vec::new();
    if let Some(tag) = tag {
        steps.push(quote! {
            #c.merge(#private::ColumnHints::new().column(#tag, #private::ColumnHint::text().not_null()));
        });
    }
    for field in fields {
        let name = field.name;
        let ty = field.ty;
        let nullable = field.maybe_missing;
        let typed = if field.custom {
            quote!(#private::ColumnHints::new())
        } else {
            quote!((&#item_mod::Probe::<#ty>::new()).type_columns(#name, #nullable))
        };
        let typed = if field.bytes {
            quote!(#item_mod::overlay_type_columns(
                &#typed,
                &#private::ColumnHints::new().column(#name, #private::ColumnHint::binary()),
            ))
        } else {
            typed
        };
        let step = if field.hint.is_given() {
            let hint = hint_expr(private, field.hint);
            quote!(#item_mod::overlay_type_columns(
                &#typed,
                &#private::ColumnHints::new().column(#name, #hint),
            ))
        } else {
            typed
        };
        steps.push(quote!(#c.merge(#step);));
    }
    for flat in flattened {
        steps.push(quote!(#c.merge((&#item_mod::Probe::<#flat>::new()).item_columns());));
    }
    quote! {
        #[allow(unused_imports)]
        use #item_mod::{
            ProbeColumnType as _, ProbeColumnTypeOther as _, ProbeItemColumns as _, ProbeItemColumnsOther as _,
        };
        let mut #c = #private::ColumnHints::new();
        #(#steps)*
        #c
    }
}

/// `ColumnHint::new()` with the field's hints set.
fn hint_expr(private: &TokenStream, hint: &FieldHint) -> TokenStream {
    let mut calls = Vec::new();
    if let Some(data_type) = &hint.data_type {
        calls.push(quote! {
            .data_type(match #private::DataType::from_name(#data_type) {
                ::core::option::Option::Some(t) => t,
                // Checked by the derive.
                ::core::option::Option::None => #private::DataType::Text,
            })
        });
    }
    if let Some((p, _)) = hint.precision {
        calls.push(quote!(.precision(#p)));
    }
    if let Some((s, _)) = hint.scale {
        calls.push(quote!(.scale(#s)));
    }
    if let Some((t, _)) = hint.timezone {
        calls.push(quote!(.timezone(#t)));
    }
    if let Some(order) = &hint.dedup_sort {
        let variant = syn::Ident::new(
            if order == "asc" { "Asc" } else { "Desc" },
            Span::call_site(),
        );
        calls.push(quote!(.dedup_sort(#private::SortOrder::#variant)));
    }
    let mut sets = Vec::new();
    for (flag, value) in &hint.flags {
        let field = syn::Ident::new(flag, Span::call_site());
        sets.push(quote!(__ele_hint.#field = ::core::option::Option::Some(#value);));
    }
    quote!({
        #[allow(unused_mut)]
        let mut __ele_hint = #private::ColumnHint::new() #(#calls)*;
        #(#sets)*
        __ele_hint
    })
}

/// The compile-time checks of hints without an explicit `data_type` against the field's Rust type: calls of
/// functions whose bounds hold when the type's column takes each hint, spanned at the hint.
pub(crate) fn type_checks(
    item_mod: &TokenStream,
    generics: &syn::Generics,
    fields: &[ColumnField],
) -> TokenStream {
    let mut calls = Vec::new();
    for field in fields {
        if field.hint.data_type.is_some() || field.custom || field.bytes {
            continue;
        }
        let ty = field.ty;
        for (span, check) in [
            (field.hint.precision.map(|p| p.1), "precision"),
            (field.hint.scale.map(|s| s.1), "scale"),
            (field.hint.timezone.map(|t| t.1), "timezone"),
        ] {
            if let Some(span) = span {
                let check = syn::Ident::new(check, span);
                calls.push(quote_spanned! {span=>
                    #item_mod::kind::#check::<#ty>();
                });
            }
        }
    }
    if calls.is_empty() {
        return TokenStream::new();
    }
    let (impl_generics, _, where_clause) = generics.split_for_impl();
    quote! {
        #[allow(dead_code, non_snake_case)]
        fn __ele_check_column_hints #impl_generics () #where_clause {
            #(#calls)*
        }
    }
}
