//! Output on error: the user's function unchanged (without ele's parameter attributes), followed by the errors,
//! and a stand-in for the struct the macro would have generated.
//!
//! Emitting the input keeps rust-analyzer's completions and hints working while the attribute or the
//! signature is being typed (tokio PR #4162). The unchanged function has its `Emit` parameter, so it still
//! type-checks as a plain `async fn`, and every other use of it keeps resolving.

use proc_macro2::TokenStream;
use quote::{ToTokens, format_ident, quote};
use syn::ext::IdentExt;

use crate::ast::{ItemFn, Resource};
use crate::attr;

/// The function as the user wrote it, and the errors.
pub(crate) fn original(item: TokenStream, error: syn::Error) -> TokenStream {
    let errors = error.into_compile_error();
    quote!(#item #errors)
}

/// The function as the user wrote it without the parameter attributes `#[incremental(...)]`, `#[config]` and
/// `#[secret]`, which only the macro understands (left in, each would add "cannot find attribute `incremental`"), and the errors.
pub(crate) fn function(item: TokenStream, function: &ItemFn, error: syn::Error) -> TokenStream {
    let mut sig = function.sig.clone();
    if !attr::strip_param_attrs(&mut sig, attr::is_param_attr) {
        // The tokens exactly as written.
        return original(item, error);
    }
    let mut stripped = TokenStream::new();
    for a in &function.attrs {
        a.to_tokens(&mut stripped);
    }
    function.vis.to_tokens(&mut stripped);
    sig.to_tokens(&mut stripped);
    function.body.to_tokens(&mut stripped);
    original(stripped, error)
}

/// A unit struct standing in for the struct the macro generates (`RepoIssuesResource`, `FacebookAdsSource`),
/// so that code naming it still resolves while the attribute has an error; it carries the function's `#[cfg]`s.
pub(crate) fn stub(output: TokenStream, function: &ItemFn, suffix: &str) -> TokenStream {
    let vis = &function.vis;
    let ident = crate::ast::suffixed_ident(&function.sig.ident, suffix);
    let cfgs = function.attrs.iter().filter(|a| a.path().is_ident("cfg"));
    quote! {
        #output
        #(#cfgs)*
        #[doc(hidden)]
        #[allow(dead_code)]
        #vis struct #ident;
    }
}

/// A resource function without an emitter: the one error, the user's function kept under another name (so its
/// body is still type-checked), and in its place a constructor with the arguments the macro would have taken,
/// returning a stand-in resource. Code that calls it and runs the result compiles, so the error stays the only
/// one, without follow-ons about the arguments or about a future that "cannot be run by a pipeline".
pub(crate) fn without_emitter(m: &Resource, error: syn::Error) -> Option<TokenStream> {
    let function = m.original;
    if !function.sig.generics.params.is_empty() {
        return None;
    }
    let mut sig = function.sig.clone();
    attr::strip_param_attrs(&mut sig, attr::is_param_attr);
    sig.ident = format_ident!("__ele_{}_without_emitter", function.sig.ident.unraw());
    let body = &function.body;
    let vis = &function.vis;
    let ident = m.ident;
    let struct_ident = &m.struct_ident;
    let krate = &m.krate;
    let idents: Vec<_> = m.args().map(|a| a.ident).collect();
    let tys: Vec<_> = m.args().map(|a| a.ty).collect();
    let cfgs: Vec<_> = function
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("cfg"))
        .collect();
    let errors = error.into_compile_error();
    Some(quote! {
        #(#cfgs)*
        #[allow(dead_code, non_snake_case, clippy::all)]
        #sig #body
        #errors
        #(#cfgs)*
        #[doc(hidden)]
        #[allow(dead_code)]
        #vis type #struct_ident = #krate::ItemsResource<::std::vec::Vec<()>>;
        #(#cfgs)*
        #[allow(dead_code, unused_variables, clippy::all)]
        #vis fn #ident(#(#idents: #tys),*) -> #struct_ident {
            #krate::items(::std::vec::Vec::new())
        }
    })
}

/// The input could not be read as a function: the item unchanged, with a clearer error when it is another
/// kind of item (`expected` says where the attribute goes).
pub(crate) fn unparsed(item: TokenStream, error: syn::Error, expected: &str) -> TokenStream {
    let error = match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Fn(_)) | Err(_) => error,
        Ok(other) => syn::Error::new_spanned(other, expected),
    };
    original(item, error)
}
