//! Output on error: the user's function unchanged (without ele's parameter attributes), followed by the errors,
//! and a stand-in for the struct the macro would have generated.
//!
//! Emitting the input keeps rust-analyzer's completions and hints working while the attribute or the
//! signature is being typed (tokio PR #4162). The unchanged function has its `Emit` parameter, so it still
//! type-checks as a plain `async fn`, and every other use of it keeps resolving.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};

use crate::ast::ItemFn;
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

/// The input could not be read as a function: the item unchanged, with a clearer error when it is another
/// kind of item (`expected` says where the attribute goes).
pub(crate) fn unparsed(item: TokenStream, error: syn::Error, expected: &str) -> TokenStream {
    let error = match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Fn(_)) | Err(_) => error,
        Ok(other) => syn::Error::new_spanned(other, expected),
    };
    original(item, error)
}
