//! Span helpers: generated tokens carry the spans of the user's tokens, so that rustc reports errors about them
//! at the user's code.

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use quote::ToTokens;

/// `tokens` with every span set to `span`, so that an error about them points at the user's code.
pub(crate) fn respan(tokens: TokenStream, span: Span) -> TokenStream {
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

/// The spans of the first and last tokens of `tokens`: an error on tokens spanned from one to the other covers
/// all of them, also where `Span::join` is not available.
pub(crate) fn bounds(tokens: impl ToTokens) -> (Span, Span) {
    let mut trees = tokens.into_token_stream().into_iter();
    let first = trees.next().map_or_else(Span::call_site, |t| t.span());
    let last = trees.last().map_or(first, |t| t.span());
    (first, last)
}

/// `(tokens)`, the parentheses spanned at `span`.
pub(crate) fn parenthesized(tokens: TokenStream, span: Span) -> TokenStream {
    let mut group = Group::new(Delimiter::Parenthesis, tokens);
    group.set_span(span);
    group.into_token_stream()
}
