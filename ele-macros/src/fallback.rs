//! Output on error: the user's function unchanged, followed by the errors.
//!
//! Emitting the input keeps rust-analyzer's completions and hints working while the attribute or the
//! signature is being typed (tokio PR #4162). The unchanged function has its `Emit` parameter, so it still
//! type-checks as a plain `async fn`, and every other use of it keeps resolving.

use proc_macro2::TokenStream;
use quote::quote;

/// The function as the user wrote it, and the errors.
pub(crate) fn original(item: TokenStream, error: syn::Error) -> TokenStream {
    let errors = error.into_compile_error();
    quote!(#item #errors)
}

/// The input could not be read as a function: the item unchanged, with a clearer error when it is another
/// kind of item.
pub(crate) fn unparsed(item: TokenStream, error: syn::Error) -> TokenStream {
    let error = match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Fn(_)) | Err(_) => error,
        Ok(other) => syn::Error::new_spanned(
            other,
            "`#[resource]` goes on an `async fn` that takes an `Emit<Item>` parameter",
        ),
    };
    original(item, error)
}
