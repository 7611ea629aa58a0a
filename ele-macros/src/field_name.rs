//! The type-level spelling of a serialized field name, shared by `#[derive(Item)]` (which implements a trait
//! per name) and `#[resource]`'s compile-time checks (which look names up): `"id"` is
//! `item::FieldName<'i', 'd'>`, ele-core's `FieldName` taking the characters as const parameters.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{ToTokens, quote_spanned};

/// The number of characters of ele-core's `FieldName`.
const NAME_CHUNK: usize = 24;

/// The type of a field name: `"id"` is `FieldName<'i', 'd'>`, each token spanned at `span`; a name longer than
/// [`NAME_CHUNK`] characters continues in `FieldName`'s last parameter. `item_mod` is the path of ele's
/// `__private::item` module.
pub(crate) fn name_type(item_mod: &TokenStream, name: &str, span: Span) -> TokenStream {
    let chars: Vec<char> = name.chars().collect();
    chunk_type(item_mod, &chars, span)
}

fn chunk_type(item_mod: &TokenStream, chars: &[char], span: Span) -> TokenStream {
    let (chunk, rest) = chars.split_at(chars.len().min(NAME_CHUNK));
    let mut args: Vec<TokenStream> = chunk
        .iter()
        .map(|c| {
            let mut lit = Literal::character(*c);
            lit.set_span(span);
            lit.into_token_stream()
        })
        .collect();
    if !rest.is_empty() {
        args.push(chunk_type(item_mod, rest, span));
    }
    quote_spanned!(span=> #item_mod::FieldName<#(#args),*>)
}
