//! Code generation: the pipeline parse -> model -> check -> expand, and the expansion of a valid model.
//!
//! For
//!
//! ```text
//! #[resource(name = "issues", write_disposition = "merge", primary_key = "id", table_name = issue_table)]
//! pub async fn repo_issues(
//!     out: Emit<Issue>,
//!     token: String,
//!     #[incremental(cursor = "created_at", initial_value = "1970-01-01T00:00:00Z")]
//!     created_at: Incremental<String>,
//!     state: ResourceState,
//!     mut page_size: usize,
//! ) -> ele::Result<()> { .. }
//! ```
//!
//! the output is
//!
//! ```text
//! #[must_use = "a resource does nothing until a pipeline runs it"]
//! pub fn repo_issues(token: String, page_size: usize) -> RepoIssuesResource {
//!     RepoIssuesResource {
//!         __ele_args: (token, page_size,),
//!         __ele_incremental_created_at: None,
//!         __ele_hints: { /* ResourceHints */ },
//!     }
//! }
//! pub struct RepoIssuesResource {
//!     __ele_args: (String, usize,),
//!     __ele_incremental_created_at: Option<Incremental<String>>,
//!     __ele_hints: ResourceHints,
//! }
//! impl RepoIssuesResource {
//!     /// Overrides the `created_at` incremental for this call, ...
//!     pub fn created_at(mut self, value: Incremental<String>) -> Self { .. }
//! }
//! const _: () = {
//!     async fn __ele_body(out: Emit<Issue>, token: String, created_at: Incremental<String>,
//!         state: ResourceState, mut page_size: usize) -> ele::Result<()> { .. }
//!     impl Resource for RepoIssuesResource {
//!         fn table_name_fn(&self) -> Option<TableNameFn<Self::Item>> { Some(Arc::new(issue_table)) }
//!         fn extract(self, out: Emit<Self::Item>) -> BoxFuture<'static, Result<()>> {
//!             let (token, page_size,) = self.__ele_args;
//!             let call_site = self.__ele_incremental_created_at;
//!             Box::pin(async move {
//!                 let created_at = bind_incremental::<String, Issue>(&out, "created_at",
//!                     IncrementalConfig::new().cursor_path("created_at").initial_value("1970-..."),
//!                     call_site)?;
//!                 let state = resource_state(&out);
//!                 resource_result(&name, __ele_body(out, token, created_at, state, page_size).await)
//!             })
//!         }
//!         /* hints, hints_mut */
//!     }
//! };
//! ```
//!
//! with every ele item named through `::ele::__private` (or the `crate = "..."` path). The body stays a
//! plain `async fn` outside the trait impl, untouched, so lints and errors in it read as in the user's code.
//!
//! For a source,
//!
//! ```text
//! /// docs
//! #[source(name = "facebook_ads", root_key = true, max_table_nesting = 2)]
//! pub fn facebook_ads(token: String, mut states: Vec<String>) -> impl IntoResources { .. }
//! ```
//!
//! the output keeps the body in a nested function with the original signature:
//!
//! ```text
//! /// docs
//! #[must_use = "a source does nothing until a pipeline runs it"]
//! pub fn facebook_ads(token: String, states: Vec<String>) -> Source {
//!     fn __ele_body(token: String, mut states: Vec<String>) -> impl IntoResources { .. }
//!     from_resources("facebook_ads", IntoResources::into_resources(__ele_body(token, states)))
//!         .root_key(true)
//!         .max_table_nesting(2)
//! }
//! ```

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{ReturnType, Type};

use crate::ast::{self, Binding, ConfigParam, IncrementalParam, Resource, StateParam, StateScope};
use crate::attr::{self, IncrementalAttrs, Key, Lag, LastValueFunc, TableName, Variant};
use crate::check;
use crate::ctxt::Ctxt;
use crate::fallback;
use crate::respan::{bounds, parenthesized, respan};
use crate::typed;

/// `#[resource(args)] item`.
pub(crate) fn resource(args: TokenStream, item: TokenStream) -> TokenStream {
    let original = match syn::parse2::<ast::ItemFn>(item.clone()) {
        Ok(original) => original,
        Err(error) => {
            return fallback::unparsed(
                item,
                error,
                "`#[resource]` goes on an `async fn` that takes an `Emit<Item>` parameter",
            );
        }
    };
    let cx = Ctxt::new();
    let model = Resource::from_syn(&cx, &original, args);
    check::resource(&cx, &model);
    match (cx.check(), model.item_ty) {
        (Ok(()), Some(item_ty)) => expand(&model, item_ty),
        (Err(error), None) => match fallback::without_emitter(&model, error.clone()) {
            Some(output) => output,
            None => fallback::stub(
                fallback::function(item, &original, error),
                &original,
                "Resource",
            ),
        },
        (Err(error), _) => fallback::stub(
            fallback::function(item, &original, error),
            &original,
            "Resource",
        ),
        // Without an emitter `check` recorded an error; kept total rather than `unreachable!`.
        (Ok(()), None) => fallback::stub(
            fallback::function(
                item,
                &original,
                syn::Error::new(
                    Span::call_site(),
                    "`#[resource]` could not read this function",
                ),
            ),
            &original,
            "Resource",
        ),
    }
}

/// `#[source(args)] item`.
pub(crate) fn source(args: TokenStream, item: TokenStream) -> TokenStream {
    let original = match syn::parse2::<ast::ItemFn>(item.clone()) {
        Ok(original) => original,
        Err(error) => {
            return fallback::unparsed(
                item,
                error,
                "`#[source]` goes on a function that returns its resources, e.g. `fn facebook_ads(token: String) -> impl IntoResources`",
            );
        }
    };
    let cx = Ctxt::new();
    let model = ast::Source::from_syn(&cx, &original, args);
    check::source(&cx, &model);
    match cx.check() {
        Ok(()) => expand_source(&model),
        // The function as written, without the parameter attributes only the macro knows.
        Err(error) => fallback::stub(
            fallback::function(item, &original, error),
            &original,
            "Source",
        ),
    }
}

fn expand_source(m: &ast::Source) -> TokenStream {
    let krate = &m.krate;
    let private = quote!(#krate::__private);
    let vis = &m.original.vis;
    let ident = m.ident;
    let ty = &m.struct_ident;
    let cfg = &m.attrs.cfg;
    let outer_attrs = &m.attrs.constructor;
    let body_attrs = &m.attrs.body;
    let must_use = if m.attrs.must_use {
        quote!()
    } else {
        quote!(#[must_use = "a source does nothing until a pipeline runs it"])
    };

    // `#[config]` and `#[secret]` are the macro's; the body does not see them.
    let mut sig = m.original.sig.clone();
    attr::strip_param_attrs(&mut sig, attr::is_config);
    let fn_token = &sig.fn_token;
    let generics = &sig.generics;
    let where_clause = &sig.generics.where_clause;
    let inputs = &sig.inputs;
    let output = &sig.output;
    let body = &m.original.body;
    let body_fn = format_ident!("__ele_body");
    let arg_idents: Vec<_> = m.args().map(|a| &a.ident).collect();
    // A config parameter is an `Option` of its type: `None` looks it up.
    let arg_tys: Vec<_> = m
        .args()
        .map(|a| {
            let ty = a.ty;
            match a.config() {
                Some(_) => quote!(::std::option::Option<#ty>),
                None => quote!(#ty),
            }
        })
        .collect();

    // A return type that is not `IntoResources` is reported on the whole of the user's return type: the calls
    // start at its first token and their parentheses carry its last.
    let (first, last) = match output {
        ReturnType::Type(_, ret) => bounds(ret),
        ReturnType::Default => (ident.span(), ident.span()),
    };
    let body_call = syn::Ident::new("__ele_body", first);
    let body_args = parenthesized(quote!(#(#arg_idents),*), last);
    let into_resources_fn = syn::Ident::new("into_resources", last);
    let into_resources = respan(quote!(#private::IntoResources::), first);
    let into_resources = quote!(#into_resources #into_resources_fn);
    let resources = parenthesized(quote!(#body_call #body_args), last);
    let resources = quote!(#into_resources #resources);

    let name = &m.name;
    let root_key = if m.root_key {
        quote!(.root_key(true))
    } else {
        quote!()
    };
    let nesting = m.max_table_nesting.as_ref().map(|nesting| {
        let mut depth = proc_macro2::Literal::usize_unsuffixed(nesting.depth);
        depth.set_span(nesting.span);
        quote!(.max_table_nesting(#depth))
    });

    // `let (token,) = match (source_config::<T>("name", "token", true, token),) { (Ok(token),) => (token,),
    // (token,) => return failed(..) };`: every missing value is reported at once.
    let configs: Vec<_> = m.args().filter(|a| a.config().is_some()).collect();
    let config_binds = if configs.is_empty() {
        quote!()
    } else {
        let idents: Vec<_> = configs.iter().map(|a| &a.ident).collect();
        let lookups = configs.iter().map(|a| {
            let arg = &a.ident;
            let key = arg.unraw().to_string();
            let secret = a.config().unwrap_or(false);
            let ty = a.ty;
            quote_spanned! {ty.span()=>
                #private::source_config::<#ty>(#name, #key, #secret, #arg)
            }
        });
        quote! {
            let (#(#idents,)*) = match (#(#lookups,)*) {
                (#(::std::result::Result::Ok(#idents),)*) => (#(#idents,)*),
                (#(#idents,)*) => {
                    return #ty::from(#private::Source::failed(
                        #name,
                        #private::config_errors([#(#idents.err()),*]),
                    ));
                }
            };
        }
    };

    // One alias per listed resource, so that a name that is not a `#[resource]` function is one error, at the name.
    let listed: Vec<_> = m
        .resources
        .iter()
        .enumerate()
        .map(|(index, path)| {
            let accessor = path
                .segments
                .last()
                .map(|s| s.ident.clone())
                .unwrap_or_else(|| format_ident!("__ele_resource"));
            // Items are not hygienic: the name carries the source's struct name to stay unique in the module.
            let alias = format_ident!("__{}Listed{}", ty, index);
            (accessor, alias, resource_type(path, "Resource"))
        })
        .collect();
    let aliases = listed.iter().map(|(_, alias, resource_ty)| {
        quote! {
            #(#cfg)*
            #[allow(non_camel_case_types)]
            type #alias = #resource_ty;
        }
    });
    let checks = listed.iter().map(|(accessor, alias, _)| {
        let listed = accessor.unraw().to_string();
        quote!(#private::check_listed::<#alias>(&mut __ele_source, #listed);)
    });
    let accessors = listed.iter().map(|(accessor, alias, _)| {
        let doc = format!(
            "The `{0}` resource of this source, to set its arguments before a run (dlt's `source.{0}.bind(...)`).",
            accessor.unraw()
        );
        quote! {
            #[doc = #doc]
            #[allow(dead_code)]
            #vis fn #accessor(&mut self) -> <#alias as #private::Accessor>::Mut<'_> {
                <#alias as #private::Accessor>::access(self.0.resource_of_type_mut::<#alias>())
            }
        }
    });
    let struct_doc = format!(
        "Source returned by [`{}`]: a [`Source`]({}::Source) (through `Deref`) with an accessor per listed resource; run it with a pipeline.",
        ident.unraw(),
        quote!(#krate).to_string().replace(' ', "")
    );

    quote! {
        #(#cfg)*
        #(#outer_attrs)*
        #must_use
        #vis fn #ident #generics (#(#arg_idents: #arg_tys),*) -> #ty #where_clause {
            #(#body_attrs)*
            #fn_token #body_fn #generics (#inputs) #output #where_clause #body

            #config_binds
            #[allow(unused_mut)]
            let mut __ele_source = #private::from_resources(#name, #resources) #root_key #nesting;
            #(#checks)*
            #ty::from(__ele_source)
        }

        #(#aliases)*

        #(#cfg)*
        #[doc = #struct_doc]
        #[allow(non_camel_case_types)]
        #vis struct #ty(#private::Source);

        #(#cfg)*
        #[allow(dead_code)]
        impl #ty {
            #(#accessors)*

            /// Selects exactly the named resources (deselected ones included) and deselects the others; an
            /// unknown name is an error listing the known ones.
            #vis fn with_resources<I, S>(self, names: I) -> #private::Result<Self>
            where
                I: ::std::iter::IntoIterator<Item = S>,
                S: ::std::convert::AsRef<str>,
            {
                self.0.with_resources(names).map(#ty)
            }

            /// Writes `_dlt_root_id` into the child tables of every resource (dlt's `source.root_key = True`).
            #vis fn root_key(self, enabled: bool) -> Self {
                #ty(self.0.root_key(enabled))
            }

            /// Limits the nesting of every resource that does not set its own.
            #vis fn max_table_nesting(self, depth: usize) -> Self {
                #ty(self.0.max_table_nesting(depth))
            }

            /// The source without its accessors.
            #vis fn into_source(self) -> #private::Source {
                self.0
            }
        }

        #(#cfg)*
        impl ::std::convert::From<#private::Source> for #ty {
            fn from(source: #private::Source) -> Self {
                #ty(source)
            }
        }

        #(#cfg)*
        impl ::std::convert::From<#ty> for #private::Source {
            fn from(source: #ty) -> Self {
                source.0
            }
        }

        #(#cfg)*
        impl ::std::ops::Deref for #ty {
            type Target = #private::Source;
            fn deref(&self) -> &#private::Source {
                &self.0
            }
        }

        #(#cfg)*
        impl ::std::ops::DerefMut for #ty {
            fn deref_mut(&mut self) -> &mut #private::Source {
                &mut self.0
            }
        }

        #(#cfg)*
        impl ::std::fmt::Debug for #ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Debug::fmt(&self.0, f)
            }
        }

        #(#cfg)*
        #[automatically_derived]
        impl #private::IntoResources for #ty {
            fn into_resources(self) -> #private::Resources {
                #private::IntoResources::into_resources(self.0)
            }
        }
    }
}

/// The type `#[resource]` generates next to the function at `path`: `crate::fb::ads` and `Resource` give
/// `crate::fb::AdsResource`, spanned at the function name.
fn resource_type(path: &syn::Path, suffix: &str) -> syn::Path {
    let mut path = path.clone();
    if let Some(last) = path.segments.last_mut() {
        last.ident = ast::suffixed_ident(&last.ident, suffix);
    }
    path
}

fn expand(m: &Resource, item_ty: &Type) -> TokenStream {
    let krate = &m.krate;
    let private = quote!(#krate::__private);
    let vis = &m.original.vis;
    let ident = m.ident;
    let ty = &m.struct_ident;
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
    let hints = hints(m, item_ty, &private);

    // Local variables of the generated code are hygienic, so they cannot clash with the user's arguments.
    let out = syn::Ident::new("__ele_out", Span::mixed_site());
    let name = syn::Ident::new("__ele_name", Span::mixed_site());
    let IncrementalParts {
        fields: incremental_fields,
        values: incremental_values,
        setters,
        takes: incremental_takes,
    } = incrementals(m, &private);
    // The runtime's values for the incremental and state parameters, bound before the body runs, in order.
    let binds = m.bindings().filter_map(|p| match p {
        Binding::Incremental(p) => Some(bind_incremental(&p, item_ty, &private, &out)),
        Binding::State(StateParam { ident, scope }) => {
            let getter = match scope {
                StateScope::Resource => quote!(resource_state),
                StateScope::Source => quote!(source_state),
            };
            Some(quote!(let #ident = #private::#getter(&#out);))
        }
        Binding::Config(p) => Some(bind_config(&p, &private, &out)),
        Binding::Emitter | Binding::Arg(_) => None,
    });
    let call_args = m.bindings().map(|p| match p {
        Binding::Emitter => out.to_token_stream(),
        Binding::Arg(arg) => arg.ident.to_token_stream(),
        Binding::Incremental(p) => p.ident.to_token_stream(),
        Binding::State(p) => p.ident.to_token_stream(),
        Binding::Config(p) => p.ident.to_token_stream(),
    });

    // The parameter attributes `#[incremental(...)]`, `#[config]` and `#[secret]` are the macro's; the body does
    // not see them.
    let mut sig = m.original.sig.clone();
    attr::strip_param_attrs(&mut sig, attr::is_param_attr);
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
        ::std::boxed::Box::pin(async move {
            #(#binds)*
            #result
        })
    };

    // Spanned at the item type, so that errors about it (not `Serialize`, a private type behind a public
    // function: E0446) point at `Emit<Item>` in the signature.
    let item_assoc = quote_spanned!(item_ty.span()=> type Item = #item_ty;);
    let table_name_fn = table_name_fn(m, item_ty, &private);
    let backfill_only = backfill_only(m);
    let item_checks = typed::checks(m, item_ty, &private);

    let resource_mut = resource_mut(m, &private);
    let setters = if setters.is_empty() {
        quote!()
    } else {
        quote! {
            #(#cfg)*
            impl #ty {
                #(#setters)*
            }
        }
    };

    quote! {
        #(#cfg)*
        #(#constructor_attrs)*
        #must_use
        #vis fn #ident(#(#arg_idents: #arg_tys),*) -> #ty {
            #ty { #args_value #(#incremental_values)* __ele_hints: #hints }
        }

        #(#cfg)*
        #[doc = #struct_doc]
        #[allow(non_camel_case_types)]
        #vis struct #ty {
            #args_field
            #(#incremental_fields)*
            __ele_hints: #private::ResourceHints,
        }

        #setters

        #resource_mut

        #(#cfg)*
        const _: () = {
            #(#body_attrs)*
            #asyncness #fn_token #body_fn(#inputs) #output #body

            #item_checks

            #[automatically_derived]
            impl #private::Resource for #ty {
                #item_assoc

                fn hints(&self) -> &#private::ResourceHints {
                    &self.__ele_hints
                }

                fn hints_mut(&mut self) -> &mut #private::ResourceHints {
                    &mut self.__ele_hints
                }

                #table_name_fn

                #backfill_only

                fn extract(
                    self,
                    #out: #private::Emit<Self::Item>,
                ) -> #private::BoxFuture<'static, #private::Result<()>> {
                    #args_let
                    #(#incremental_takes)*
                    let #name = self.__ele_hints.name;
                    #boxed
                }
            }
        };
    }
}

/// What each incremental parameter adds to the struct, the constructor, the inherent impl and `extract`.
struct IncrementalParts {
    /// `__ele_incremental_created_at: Option<Incremental<String>>,`
    fields: Vec<TokenStream>,
    /// `__ele_incremental_created_at: None,`
    values: Vec<TokenStream>,
    /// `pub fn created_at(mut self, value: Incremental<String>) -> Self`, with the function's visibility
    setters: Vec<TokenStream>,
    /// `let __ele_incremental_created_at = self.__ele_incremental_created_at;`, before the future takes over.
    takes: Vec<TokenStream>,
}

impl IncrementalParts {
    /// An optional field set by a setter of the parameter's name, and taken into a local when the resource runs.
    fn push_override(
        &mut self,
        vis: &syn::Visibility,
        field: syn::Ident,
        local: syn::Ident,
        ty: TokenStream,
        setter: &syn::Ident,
        doc: &str,
    ) {
        self.fields
            .push(quote!(#field: ::std::option::Option<#ty>,));
        self.values
            .push(quote!(#field: ::std::option::Option::None,));
        // The struct's visibility, which reaches as far as a bare `pub` on its method would, without
        // `unreachable_pub`; `dead_code` allowed: a private resource whose override is never used must not warn.
        self.setters.push(quote! {
            #[doc = #doc]
            #[allow(dead_code)]
            #vis fn #setter(mut self, value: #ty) -> Self {
                self.#field = ::std::option::Option::Some(value);
                self
            }
        });
        self.takes.push(quote!(let #local = self.#field;));
    }
}

/// `__ele_incremental_created_at`: the struct field of an incremental parameter.
fn incremental_field(p: &IncrementalParam) -> syn::Ident {
    format_ident!("__ele_incremental_{}", p.ident.unraw())
}

/// The same name, hygienic: the local that holds the call site's override in `extract`.
fn incremental_local(p: &IncrementalParam) -> syn::Ident {
    syn::Ident::new(
        &format!("__ele_incremental_{}", p.ident.unraw()),
        Span::mixed_site(),
    )
}

/// `Incremental<T>`, or the bare `Incremental` (the runtime's default cursor type) when the user wrote that.
fn incremental_ty(p: &IncrementalParam, private: &TokenStream) -> TokenStream {
    match p.cursor_ty {
        Some(cursor_ty) => quote!(#private::Incremental<#cursor_ty>),
        None => quote!(#private::Incremental),
    }
}

fn incrementals(m: &Resource, private: &TokenStream) -> IncrementalParts {
    let vis = &m.original.vis;
    let mut parts = IncrementalParts {
        fields: Vec::new(),
        values: Vec::new(),
        setters: Vec::new(),
        takes: Vec::new(),
    };
    for p in m.incrementals() {
        let doc = format!(
            "Overrides the `{}` incremental for this call, merged field by field with the attribute's settings (e.g. a backfill chunk with only `initial_value` and `end_value`).",
            p.ident.unraw()
        );
        parts.push_override(
            vis,
            incremental_field(&p),
            incremental_local(&p),
            incremental_ty(&p, private),
            p.ident,
            &doc,
        );
    }
    for p in m.configs() {
        let doc = format!(
            "Sets the `{}` argument, which is then not looked up in the configuration.",
            p.ident.unraw()
        );
        let ty = p.ty;
        parts.push_override(
            vis,
            config_field(&p),
            config_local(&p),
            quote!(#ty),
            p.ident,
            &doc,
        );
    }
    parts
}

/// `__ele_config_token`: the struct field of a `#[config]` or `#[secret]` parameter.
fn config_field(p: &ConfigParam) -> syn::Ident {
    format_ident!("__ele_config_{}", p.ident.unraw())
}

/// The same name, hygienic: the local that holds the caller's value in `extract`.
fn config_local(p: &ConfigParam) -> syn::Ident {
    syn::Ident::new(
        &format!("__ele_config_{}", p.ident.unraw()),
        Span::mixed_site(),
    )
}

/// `let token = match <caller's value> { Some(v) => v, None => resource_config::<T>(&out, "token", true)? };`
fn bind_config(p: &ConfigParam, private: &TokenStream, out: &syn::Ident) -> TokenStream {
    let ident = p.ident;
    let local = config_local(p);
    let key = p.ident.unraw().to_string();
    let secret = p.secret;
    let ty = p.ty;
    // Spanned at the type, so that a type that cannot be deserialized is reported there.
    let lookup = quote_spanned! {ty.span()=>
        #private::resource_config::<#ty, _>(&#out, #key, #secret)
    };
    quote! {
        let #ident = match #local {
            ::std::option::Option::Some(value) => value,
            ::std::option::Option::None => #lookup?,
        };
    }
}

/// `AdsResourceMut<'a>`: the resource inside a source, as a `#[source]` struct's accessor returns it, with one
/// setter per argument (dlt's `source.ads.bind(states=...)` is `source.ads().states(...)`).
fn resource_mut(m: &Resource, private: &TokenStream) -> TokenStream {
    let vis = &m.original.vis;
    let cfg = &m.attrs.cfg;
    let ty = &m.struct_ident;
    let mut_ty = ast::suffixed_ident(m.ident, "ResourceMut");
    let name = m.ident.unraw();
    let lifetime = syn::Lifetime::new("'__ele", Span::call_site());
    let mut setters = Vec::new();
    for (index, arg) in m.args().enumerate() {
        let setter = arg.ident;
        let arg_ty = arg.ty;
        let index = syn::Index::from(index);
        let doc = format!("Sets the `{}` argument.", arg.ident.unraw());
        setters.push(quote! {
            #[doc = #doc]
            #[allow(dead_code)]
            #vis fn #setter(mut self, value: #arg_ty) -> Self {
                if let ::std::option::Option::Some(resource) = &mut self.0 {
                    resource.__ele_args.#index = value;
                }
                self
            }
        });
    }
    for p in m.incrementals() {
        let setter = p.ident;
        let field = incremental_field(&p);
        let incremental_ty = incremental_ty(&p, private);
        let doc = format!(
            "Overrides the `{}` incremental, merged field by field with the attribute's settings.",
            p.ident.unraw()
        );
        setters.push(quote! {
            #[doc = #doc]
            #[allow(dead_code)]
            #vis fn #setter(mut self, incremental: #incremental_ty) -> Self {
                if let ::std::option::Option::Some(resource) = &mut self.0 {
                    resource.#field = ::std::option::Option::Some(incremental);
                }
                self
            }
        });
    }
    for p in m.configs() {
        let setter = p.ident;
        let field = config_field(&p);
        let config_ty = p.ty;
        let doc = format!(
            "Sets the `{}` argument, which is then not looked up in the configuration.",
            p.ident.unraw()
        );
        setters.push(quote! {
            #[doc = #doc]
            #[allow(dead_code)]
            #vis fn #setter(mut self, value: #config_ty) -> Self {
                if let ::std::option::Option::Some(resource) = &mut self.0 {
                    resource.#field = ::std::option::Option::Some(value);
                }
                self
            }
        });
    }
    let doc = format!(
        "The [`{name}`] resource inside a source, as the source's accessor returns it: one setter per argument of [`{name}`]. Empty when the source does not hold it (the source then reports why)."
    );
    quote! {
        #(#cfg)*
        #[doc = #doc]
        #[allow(dead_code, non_camel_case_types)]
        #vis struct #mut_ty<#lifetime>(::std::option::Option<&#lifetime mut #ty>);

        #(#cfg)*
        #[automatically_derived]
        impl #private::Accessor for #ty {
            type Mut<#lifetime> = #mut_ty<#lifetime>;

            fn access(resource: ::std::option::Option<&mut Self>) -> #mut_ty<'_> {
                #mut_ty(resource)
            }
        }

        #(#cfg)*
        impl<#lifetime> #mut_ty<#lifetime> {
            #(#setters)*
        }
    }
}

/// `let created_at = bind_incremental::<T, Item>(&out, "created_at", <attribute>, <call site>)?;`
fn bind_incremental(
    p: &IncrementalParam,
    item_ty: &Type,
    private: &TokenStream,
    out: &syn::Ident,
) -> TokenStream {
    let ident = p.ident;
    let local = incremental_local(p);
    let param = p.ident.unraw().to_string();
    // `_` for a bare `Incremental`: the cursor type is the default of the field's type.
    let cursor_ty = match p.cursor_ty {
        Some(cursor_ty) => cursor_ty.to_token_stream(),
        None => quote!(_),
    };
    let config = incremental_config(p.config, private);
    quote! {
        let #ident = #private::bind_incremental::<#cursor_ty, #item_ty>(&#out, #param, #config, #local)?;
    }
}

/// `IncrementalConfig::new()` with one builder call per key the attribute gives, in the order of
/// [`attr::INCREMENTAL_KEYS`].
fn incremental_config(c: &IncrementalAttrs, private: &TokenStream) -> TokenStream {
    let mut calls = Vec::new();
    if let Some(cursor) = c.cursor.get() {
        calls.push(quote!(.cursor_path(#cursor)));
    }
    if let Some(initial) = c.initial_value.get() {
        calls.push(quote!(.initial_value(#initial)));
    }
    if let Some(end) = c.end_value.get() {
        calls.push(quote!(.end_value(#end)));
    }
    match c.last_value_func.get() {
        Some(LastValueFunc::Builtin(variant, span)) => {
            let variant = syn::Ident::new(variant, *span);
            calls.push(quote!(.last_value_func(#private::LastValueFunc::#variant)));
        }
        Some(LastValueFunc::Custom(func)) => {
            calls.push(quote!(.last_value_func(#private::LastValueFunc::custom(#func))));
        }
        None => {}
    }
    if let Some(Key { columns }) = c.primary_key.get() {
        // `()` is kept: it disables deduplication, unlike no key (the resource's primary key).
        if columns.is_empty() {
            calls.push(quote!(.primary_key(#private::Key::none())));
        } else {
            calls.push(quote!(.primary_key(#private::Key::from([#(#columns),*]))));
        }
    }
    if let Some(allow) = c.allow_external_schedulers.get() {
        calls.push(quote!(.allow_external_schedulers(#allow)));
    }
    if let Some(Variant { name, span }) = c.on_cursor_value_missing.get() {
        let variant = syn::Ident::new(name, *span);
        calls.push(quote!(.on_cursor_value_missing(#private::OnCursorValueMissing::#variant)));
    }
    if let Some(Variant { name, span }) = c.row_order.get() {
        let variant = syn::Ident::new(name, *span);
        calls.push(quote!(.row_order(#private::RowOrder::#variant)));
    }
    if let Some(Lag { value, span }) = c.lag.get() {
        // An `f64` literal rather than `3600 as f64`, which clippy's `unnecessary_cast` flags for floats.
        let mut lag = proc_macro2::Literal::f64_suffixed(*value);
        lag.set_span(*span);
        calls.push(quote!(.lag(#lag)));
    }
    quote!(#private::IncrementalConfig::new() #(#calls)*)
}

/// `fn backfill_only`: true when every incremental has an end value (in the attribute or the call site's
/// override) and no state parameter exists; nothing (the trait's `false`) without incrementals.
fn backfill_only(m: &Resource) -> TokenStream {
    let mut checks = Vec::new();
    for p in m.bindings() {
        match p {
            Binding::Incremental(p) => {
                if p.config.end_value.get().is_some() {
                    continue;
                }
                let field = incremental_field(&p);
                checks.push(quote! {
                    self.#field.as_ref().is_some_and(|i| i.config().has_end_value())
                });
            }
            Binding::State(_) => return TokenStream::new(),
            _ => {}
        }
    }
    if m.incrementals().next().is_none() {
        return TokenStream::new();
    }
    let body = if checks.is_empty() {
        quote!(true)
    } else {
        quote!(#(#checks)&&*)
    };
    quote! {
        fn backfill_only(&self) -> bool {
            #body
        }
    }
}

/// `fn table_name_fn` when `table_name` is a function of the item; nothing otherwise (the trait's default).
fn table_name_fn(m: &Resource, item_ty: &Type, private: &TokenStream) -> TokenStream {
    let Some(TableName::Dynamic(func)) = m.hints.table_name.get() else {
        return quote!();
    };
    // `Arc::new` inside a function with the bound: the bound gives an unannotated closure (`|e| e.kind.clone()`)
    // its signature, which `Arc::new` alone would not, and a wrong signature is one error on the user's
    // expression rather than a second one about the unsizing cast.
    quote! {
        fn table_name_fn(&self) -> ::std::option::Option<#private::TableNameFn<Self::Item>> {
            fn table_name_fn<F>(f: F) -> #private::TableNameFn<#item_ty>
            where
                F: ::std::ops::Fn(&#item_ty) -> ::std::string::String
                    + ::std::marker::Send
                    + ::std::marker::Sync
                    + 'static,
            {
                ::std::sync::Arc::new(f)
            }
            ::std::option::Option::Some(table_name_fn(#func))
        }
    }
}

/// The initial `ResourceHints`: `ResourceHints::new(name)` with the given hints assigned, and the column hints
/// of the item type when it derives `Item`.
fn hints(m: &Resource, item_ty: &Type, private: &TokenStream) -> TokenStream {
    let h = syn::Ident::new("__ele_hints", Span::mixed_site());
    let hints = &m.hints;
    let mut sets = Vec::new();
    sets.push(quote! {
        #h.type_columns = {
            #[allow(unused_imports)]
            use #private::item::{ProbeItemColumns as _, ProbeItemColumnsOther as _};
            (&#private::item::Probe::<#item_ty>::new()).item_columns()
        };
    });
    if let Some(TableName::Fixed(table)) = hints.table_name.get() {
        sets.push(quote! {
            #h.table_name = ::core::option::Option::Some(::std::string::String::from(#table));
        });
    }
    if let Some(disposition) = hints.write_disposition.get() {
        let variant = syn::Ident::new(disposition.value.variant(), disposition.lit.span());
        sets.push(quote!(#h.write_disposition = #private::WriteDisposition::#variant;));
    }
    // `()` is the default, so an empty key needs no assignment.
    for (field, key) in [
        ("primary_key", hints.primary_key.get()),
        ("merge_key", hints.merge_key.get()),
    ] {
        if let Some(Key { columns }) = key
            && !columns.is_empty()
        {
            let field = syn::Ident::new(field, Span::call_site());
            sets.push(quote!(#h.#field = #private::Key::from([#(#columns),*]);));
        }
    }
    if let Some(strategy) = hints.merge_strategy.get() {
        let variant = syn::Ident::new(strategy.variant, strategy.lit.span());
        if hints.write_disposition.get().is_none() {
            sets.push(quote!(#h.write_disposition = #private::WriteDisposition::Merge;));
        }
        sets.push(quote!(#h.merge_strategy = #private::MergeStrategy::#variant;));
    }
    if let Some(column) = hints.hard_delete.get() {
        sets.push(quote! {
            #h.hard_delete = ::core::option::Option::Some(::std::string::String::from(#column));
        });
    }
    if let Some(contract) = hints.schema_contract.get() {
        let mode = |variant: &str, span| {
            let variant = syn::Ident::new(variant, span);
            quote!(#private::EvolutionMode::#variant)
        };
        let value = match contract {
            crate::attr::SchemaContract::Mode(variant, span) => {
                let mode = mode(variant, *span);
                quote!(#private::SchemaContract::Mode(#mode))
            }
            crate::attr::SchemaContract::Entities(modes, span) => {
                let [tables, columns, data_type] = modes.map(|m| match m {
                    Some(variant) => {
                        let mode = mode(variant, *span);
                        quote!(::core::option::Option::Some(#mode))
                    }
                    None => quote!(::core::option::Option::None),
                });
                quote!(#private::SchemaContract::Entities {
                    tables: #tables,
                    columns: #columns,
                    data_type: #data_type,
                })
            }
        };
        sets.push(quote! {
            #h.schema_contract = ::core::option::Option::Some(#value);
        });
    }
    if let Some(sort) = hints.dedup_sort.get() {
        let column = &sort.column;
        let order = syn::Ident::new(sort.order, column.span());
        sets.push(quote! {
            #h.dedup_sort = ::core::option::Option::Some((
                ::std::string::String::from(#column),
                #private::SortOrder::#order,
            ));
        });
    }
    if let Some(columns) = hints.columns.get() {
        // Checked when the macro expanded, so parsing cannot fail here.
        sets.push(quote! {
            #h.columns = #private::ColumnHints::from_json_str(#columns).unwrap_or_default();
        });
    }
    if let Some(nesting) = hints.max_table_nesting.get() {
        let mut depth = proc_macro2::Literal::usize_unsuffixed(nesting.depth);
        depth.set_span(nesting.span);
        sets.push(quote!(#h.max_table_nesting = ::core::option::Option::Some(#depth);));
    }
    if let Some(selected) = hints.selected.get() {
        sets.push(quote!(#h.selected = #selected;));
    }
    let name = m.name();
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
