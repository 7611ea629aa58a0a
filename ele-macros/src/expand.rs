//! Code generation: the pipeline parse -> model -> check -> expand, and the expansion of a valid model.
//!
//! For
//!
//! ```text
//! #[resource(name = "issues", write_disposition = "merge", primary_key = "id")]
//! pub async fn repo_issues(out: Emit<Issue>, token: String, mut page_size: usize) -> ele::Result<()> { .. }
//! ```
//!
//! the output is
//!
//! ```text
//! #[must_use = "a resource does nothing until a pipeline runs it"]
//! pub fn repo_issues(token: String, page_size: usize) -> RepoIssuesResource {
//!     RepoIssuesResource { __ele_args: (token, page_size,), __ele_hints: { /* ResourceHints */ } }
//! }
//! pub struct RepoIssuesResource { __ele_args: (String, usize,), __ele_hints: ResourceHints }
//! const _: () = {
//!     async fn __ele_body(out: Emit<Issue>, token: String, mut page_size: usize) -> ele::Result<()> { .. }
//!     impl Resource for RepoIssuesResource { /* `extract` calls `__ele_body` */ }
//! };
//! ```
//!
//! with every ele item named through `::ele::__private` (or the `crate = "..."` path). The body stays a
//! plain `async fn` outside the trait impl, untouched, so lints and errors in it read as in the user's code.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::ReturnType;
use syn::ext::IdentExt;
use syn::spanned::Spanned;

use crate::ast::{self, Param, Resource};
use crate::attr::{self, Key};
use crate::check;
use crate::ctxt::Ctxt;
use crate::fallback;

/// `#[resource(args)] item`.
pub(crate) fn resource(args: TokenStream, item: TokenStream) -> TokenStream {
    let original = match syn::parse2::<ast::ItemFn>(item.clone()) {
        Ok(original) => original,
        Err(error) => return fallback::unparsed(item, error),
    };
    let cx = Ctxt::new();
    let attrs = attr::Attrs::from_args(&cx, args);
    check::hints(&cx, &attrs);
    check::signature(&cx, &original.sig);
    let model = Resource::from_syn(&cx, &original, attrs);
    check::where_clause(&cx, &original.sig);
    match (cx.check(), model) {
        (Ok(()), Some(model)) => expand(&model),
        (Err(error), _) => fallback::original(item, error),
        // `from_syn` returns `None` only after recording an error; kept total rather than `unreachable!`.
        (Ok(()), None) => fallback::original(
            item,
            syn::Error::new(
                Span::call_site(),
                "`#[resource]` could not read this function",
            ),
        ),
    }
}

fn expand(m: &Resource) -> TokenStream {
    let krate = &m.krate;
    let private = quote!(#krate::__private);
    let vis = &m.original.vis;
    let ident = m.ident;
    let ty = &m.struct_ident;
    let item_ty = m.item_ty;
    let cfg = &m.attrs.cfg;
    let constructor_attrs = &m.attrs.constructor;
    let body_attrs = &m.attrs.body;

    let arg_idents: Vec<_> = m.args().map(|a| a.ident).collect();
    let arg_tys: Vec<_> = m.args().map(|a| a.ty).collect();
    // No field at all for a resource without arguments: a `()` field would never be read.
    let (args_field, args_value, args_let) = if arg_idents.is_empty() {
        (quote!(), quote!(), quote!())
    } else {
        (
            quote!(__ele_args: (#(#arg_tys,)*),),
            quote!(__ele_args: (#(#arg_idents,)*),),
            quote!(let (#(#arg_idents,)*) = self.__ele_args;),
        )
    };

    let must_use = if m.attrs.must_use {
        quote!()
    } else {
        quote!(#[must_use = "a resource does nothing until a pipeline runs it"])
    };
    let struct_doc = format!(
        "Resource value returned by [`{}`]; run it with a pipeline.",
        ident.unraw()
    );
    let hints = hints(m, &private);

    // Local variables of the generated code are hygienic, so they cannot clash with the user's arguments.
    let out = syn::Ident::new("__ele_out", Span::mixed_site());
    let name = syn::Ident::new("__ele_name", Span::mixed_site());
    let call_args = m.params.iter().map(|p| match p {
        Param::Emitter => out.to_token_stream(),
        Param::Arg(arg) => arg.ident.to_token_stream(),
    });

    let sig = &m.original.sig;
    let asyncness = &sig.asyncness;
    let fn_token = &sig.fn_token;
    let inputs = &sig.inputs;
    let output = &sig.output;
    let body = &m.original.body;
    let body_fn = format_ident!("__ele_body");
    // A return type that is not `Result<(), E: Into<BoxError>>` is reported on the user's return type (or
    // the function name when there is none), not on the attribute.
    let result_span = match output {
        ReturnType::Type(_, ret) => ret.span(),
        ReturnType::Default => ident.span(),
    };
    let body_call = syn::Ident::new("__ele_body", result_span);
    let resource_result = respan(quote!(#private::resource_result), result_span);
    let result = quote_spanned! {result_span=>
        #resource_result(&#name, #body_call(#(#call_args),*).await)
    };
    // A body future that is not `Send` is reported on the function name.
    let boxed = quote_spanned! {ident.span()=>
        ::std::boxed::Box::pin(async move { #result })
    };

    // Spanned at the item type, so that errors about it (not `Serialize`, a private type behind a public
    // function: E0446) point at `Emit<Item>` in the signature.
    let item_assoc = quote_spanned!(item_ty.span()=> type Item = #item_ty;);

    quote! {
        #(#cfg)*
        #(#constructor_attrs)*
        #must_use
        #vis fn #ident(#(#arg_idents: #arg_tys),*) -> #ty {
            #ty { #args_value __ele_hints: #hints }
        }

        #(#cfg)*
        #[doc = #struct_doc]
        #[allow(non_camel_case_types)]
        #vis struct #ty {
            #args_field
            __ele_hints: #private::ResourceHints,
        }

        #(#cfg)*
        const _: () = {
            #(#body_attrs)*
            #asyncness #fn_token #body_fn(#inputs) #output #body

            #[automatically_derived]
            impl #private::Resource for #ty {
                #item_assoc

                fn hints(&self) -> &#private::ResourceHints {
                    &self.__ele_hints
                }

                fn hints_mut(&mut self) -> &mut #private::ResourceHints {
                    &mut self.__ele_hints
                }

                fn extract(
                    self,
                    #out: #private::Emit<Self::Item>,
                ) -> #private::BoxFuture<'static, #private::Result<()>> {
                    #args_let
                    let #name = self.__ele_hints.name;
                    #boxed
                }
            }
        };
    }
}

/// `tokens` with every span set to `span`, so that an error about them points at the user's code.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            if let TokenTree::Group(g) = &tree {
                let mut group = Group::new(g.delimiter(), respan(g.stream(), span));
                group.set_span(span);
                tree = TokenTree::Group(group);
            } else {
                tree.set_span(span);
            }
            tree
        })
        .collect()
}

/// The initial `ResourceHints`: `ResourceHints::new(name)` with the given hints assigned.
fn hints(m: &Resource, private: &TokenStream) -> TokenStream {
    let h = syn::Ident::new("__ele_hints", Span::mixed_site());
    let hints = &m.hints;
    let mut sets = Vec::new();
    if let Some(table) = &hints.table_name {
        sets.push(quote! {
            #h.table_name = ::core::option::Option::Some(::std::string::String::from(#table));
        });
    }
    if let Some((disposition, span)) = hints.write_disposition {
        let variant = syn::Ident::new(disposition.variant(), span);
        sets.push(quote!(#h.write_disposition = #private::WriteDisposition::#variant;));
    }
    // `()` is the default, so an empty key needs no assignment.
    for (field, key) in [
        ("primary_key", &hints.primary_key),
        ("merge_key", &hints.merge_key),
    ] {
        if let Some(Key { columns }) = key
            && !columns.is_empty()
        {
            let field = syn::Ident::new(field, Span::call_site());
            sets.push(quote!(#h.#field = #private::Key::from([#(#columns),*]);));
        }
    }
    if let Some(nesting) = &hints.max_table_nesting {
        let mut depth = proc_macro2::Literal::usize_unsuffixed(nesting.depth);
        depth.set_span(nesting.span);
        sets.push(quote!(#h.max_table_nesting = ::core::option::Option::Some(#depth);));
    }
    let name = &hints.name;
    if sets.is_empty() {
        quote!(#private::ResourceHints::new(#name))
    } else {
        quote!({
            let mut #h = #private::ResourceHints::new(#name);
            #(#sets)*
            #h
        })
    }
}
