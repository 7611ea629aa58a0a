//! The error collector: every rule records its error here and carries on, so one build reports all of them.

use std::cell::{Cell, RefCell};
use std::fmt::Display;

use proc_macro2::Span;
use quote::ToTokens;

/// The part of the annotated function an error belongs to. The model is built before the checks run, so errors
/// are recorded out of order; [`Ctxt::check`] reports them by place (stably: within a place, in the order they
/// were recorded), which follows the source.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Place {
    /// The macro's own attribute, `#[resource(...)]` or `#[source(...)]` (and the whole of a derive).
    Attribute,
    /// The function's qualifiers and generics.
    Signature,
    /// The parameter at this index.
    Param(usize),
    /// What comes after the parameters, or concerns them all: the return type, the `where` clause, the emitter
    /// count, the listed resources of a source.
    Rest,
}

/// Errors of one macro invocation, reported by [`Place`].
///
/// As in serde_derive's `Ctxt`, the parsers and checks return no `Result`: they record the error and keep
/// going. [`Ctxt::check`] consumes the collector, and the type is `#[must_use]`, so the errors cannot be
/// forgotten; unlike serde there is no panicking drop guard, because the macro never panics.
#[must_use = "call `check` to turn the collected errors into the result"]
pub(crate) struct Ctxt {
    errors: RefCell<Vec<(Place, syn::Error)>>,
    place: Cell<Place>,
}

impl Ctxt {
    pub(crate) fn new() -> Self {
        Ctxt {
            errors: RefCell::new(Vec::new()),
            place: Cell::new(Place::Attribute),
        }
    }

    /// Runs `f`, recording its errors at `place`.
    pub(crate) fn at<R>(&self, place: Place, f: impl FnOnce() -> R) -> R {
        let outer = self.place.replace(place);
        let result = f();
        self.place.set(outer);
        result
    }

    /// Records an error spanning `tokens` (from their first to their last token).
    pub(crate) fn error_spanned_by<T: ToTokens, M: Display>(&self, tokens: T, message: M) {
        self.syn_error(syn::Error::new_spanned(tokens.into_token_stream(), message));
    }

    /// Records an error at one span.
    pub(crate) fn error_at<M: Display>(&self, span: Span, message: M) {
        self.syn_error(syn::Error::new(span, message));
    }

    /// Records an error produced by a syn parser.
    pub(crate) fn syn_error(&self, error: syn::Error) {
        self.errors.borrow_mut().push((self.place.get(), error));
    }

    /// All recorded errors folded into one, by place, or `Ok` when there were none.
    pub(crate) fn check(self) -> syn::Result<()> {
        let mut errors = self.errors.into_inner();
        errors.sort_by_key(|(place, _)| *place);
        let mut errors = errors.into_iter().map(|(_, error)| error);
        let Some(mut combined) = errors.next() else {
            return Ok(());
        };
        for error in errors {
            combined.combine(error);
        }
        Err(combined)
    }
}
