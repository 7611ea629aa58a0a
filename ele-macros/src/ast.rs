//! The typed model of a resource: the function, its emitter parameter, its ordinary arguments, its hints.
//!
//! Every piece keeps a reference to the user's tokens, so errors and generated items carry the user's spans.

use proc_macro2::{Delimiter, Group, Span, TokenTree};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::{
    AngleBracketedGenericArguments, Attribute, FnArg, GenericArgument, Ident, LitStr, Pat,
    PatIdent, PatType, PathArguments, Signature, Type, Visibility,
};

use crate::attr::{Attrs, Disposition, Key, Nesting};
use crate::ctxt::Ctxt;

/// The annotated function, with its body kept as raw tokens.
///
/// The body is never parsed: that is faster, and a half-typed body does not stop the expansion, so
/// rust-analyzer keeps completing inside it (tokio-macros does the same, tokio PR #4162).
pub(crate) struct ItemFn {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    pub(crate) body: Group,
}

impl Parse for ItemFn {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        let sig = input.parse()?;
        let body = match input.parse::<TokenTree>() {
            Ok(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => g,
            Ok(other) => return Err(syn::Error::new(other.span(), "expected the function body")),
            Err(e) => return Err(e),
        };
        Ok(ItemFn {
            attrs,
            vis,
            sig,
            body,
        })
    }
}

/// A resource function, ready for code generation.
pub(crate) struct Resource<'a> {
    pub(crate) original: &'a ItemFn,
    /// The function name, which the constructor keeps.
    pub(crate) ident: &'a Ident,
    /// `RepoIssuesResource`, spanned at the function name.
    pub(crate) struct_ident: Ident,
    /// The parameters in their original order.
    pub(crate) params: Vec<Param<'a>>,
    /// `T` of the emitter's `Emit<T>`.
    pub(crate) item_ty: &'a Type,
    pub(crate) attrs: FnAttrs<'a>,
    pub(crate) hints: Hints,
    /// The path of the ele facade: `::ele` or the `crate = "..."` path.
    pub(crate) krate: syn::Path,
}

/// A parameter of the resource function.
pub(crate) enum Param<'a> {
    /// The `Emit<T>` parameter.
    Emitter,
    /// An ordinary argument, stored in the resource value.
    Arg(Arg<'a>),
}

/// An ordinary argument: `mut page_size: usize` gives `page_size` and `usize`.
pub(crate) struct Arg<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) ty: &'a Type,
}

/// The user's attributes on the function, sorted by the generated item they belong to.
pub(crate) struct FnAttrs<'a> {
    /// `#[cfg]`: on every generated item.
    pub(crate) cfg: Vec<&'a Attribute>,
    /// Docs, `deprecated`, `must_use`, `cfg_attr` and lint levels: on the constructor.
    pub(crate) constructor: Vec<&'a Attribute>,
    /// Lint levels (including `expect`) and any other attribute, e.g. `#[tracing::instrument]`: on the body.
    pub(crate) body: Vec<&'a Attribute>,
    /// Whether the user wrote `#[must_use]` (then the macro does not add its own).
    pub(crate) must_use: bool,
}

/// The hints the resource value starts with.
pub(crate) struct Hints {
    /// The resource name: `name = "..."`, else the function name.
    pub(crate) name: LitStr,
    pub(crate) table_name: Option<LitStr>,
    pub(crate) write_disposition: Option<(Disposition, Span)>,
    pub(crate) primary_key: Option<Key>,
    pub(crate) merge_key: Option<Key>,
    pub(crate) max_table_nesting: Option<Nesting>,
}

impl<'a> Resource<'a> {
    /// Builds the model, recording what does not fit it; `None` when it cannot be built (the error is
    /// recorded).
    pub(crate) fn from_syn(cx: &Ctxt, original: &'a ItemFn, attrs: Attrs) -> Option<Self> {
        let sig = &original.sig;
        let (params, emitter) = params(cx, sig);
        let item_ty = emitter?;
        let ident = &sig.ident;
        let name = match attrs.name.into_inner() {
            Some(name) => name,
            None => LitStr::new(&ident.unraw().to_string(), ident.span()),
        };
        let hints = Hints {
            name,
            table_name: attrs.table_name.into_inner(),
            write_disposition: attrs
                .write_disposition
                .into_inner()
                .map(|wd| (wd.value, wd.lit.span())),
            primary_key: attrs.primary_key.into_inner(),
            merge_key: attrs.merge_key.into_inner(),
            max_table_nesting: attrs.max_table_nesting.into_inner(),
        };
        let krate = attrs
            .krate
            .into_inner()
            .unwrap_or_else(|| syn::parse_quote!(::ele));
        Some(Resource {
            original,
            ident,
            struct_ident: struct_ident(ident),
            params,
            item_ty,
            attrs: FnAttrs::sort(&original.attrs),
            hints,
            krate,
        })
    }

    /// The ordinary arguments, in order.
    pub(crate) fn args(&self) -> impl Iterator<Item = &Arg<'a>> {
        self.params.iter().filter_map(|p| match p {
            Param::Arg(arg) => Some(arg),
            Param::Emitter => None,
        })
    }
}

/// Sorts the parameters into the emitter and the ordinary arguments, recording every misfit.
fn params<'a>(cx: &Ctxt, sig: &'a Signature) -> (Vec<Param<'a>>, Option<&'a Type>) {
    let mut params = Vec::with_capacity(sig.inputs.len());
    let mut emitter: Option<&Type> = None;
    // Set by a malformed emitter too, so that its error is not followed by "needs an emitter".
    let mut emitter_seen = false;
    for input in &sig.inputs {
        let pat_type = match input {
            FnArg::Receiver(receiver) => {
                cx.error_spanned_by(
                    receiver,
                    "a resource is a free function; it cannot take `self`",
                );
                continue;
            }
            FnArg::Typed(pat_type) => pat_type,
        };
        match emitter_shape(&pat_type.ty) {
            Some(shape) => {
                if emitter_seen {
                    cx.error_spanned_by(
                        pat_type,
                        "a resource has exactly one emitter parameter; this is a second `Emit`",
                    );
                    continue;
                }
                emitter_seen = true;
                match shape {
                    EmitterShape::Item(item_ty) => {
                        owned_type(cx, &pat_type.ty);
                        emitter = Some(item_ty);
                        params.push(Param::Emitter);
                    }
                    EmitterShape::Malformed(ty) => cx.error_spanned_by(
                        ty,
                        "`Emit` takes the item type as its one argument, e.g. `out: Emit<Item>`",
                    ),
                    EmitterShape::Borrowed(ty) => cx.error_spanned_by(
                        ty,
                        "the emitter is taken by value, e.g. `out: Emit<Item>`",
                    ),
                }
            }
            None => {
                if let Some(arg) = arg(cx, pat_type) {
                    params.push(Param::Arg(arg));
                }
            }
        }
    }
    if !emitter_seen {
        cx.error_spanned_by(
            &sig.ident,
            "a resource needs an emitter parameter, e.g. `out: Emit<Item>`",
        );
    }
    (params, emitter)
}

/// An ordinary argument: a plain name (optionally `mut`) with an owned type.
fn arg<'a>(cx: &Ctxt, pat_type: &'a PatType) -> Option<Arg<'a>> {
    let mut valid = true;
    if let Some(attr) = pat_type.attrs.first() {
        cx.error_spanned_by(attr, "attributes on resource arguments are not supported");
        valid = false;
    }
    owned_type(cx, &pat_type.ty);
    match &*pat_type.pat {
        Pat::Ident(PatIdent {
            by_ref: None,
            subpat: None,
            ident,
            ..
        }) => valid.then_some(Arg {
            ident,
            ty: &pat_type.ty,
        }),
        other => {
            cx.error_spanned_by(
                other,
                "resource arguments must be plain names, e.g. `page_size: usize`; destructure inside the body",
            );
            None
        }
    }
}

enum EmitterShape<'a> {
    /// `Emit<T>`, with `T`.
    Item(&'a Type),
    /// `Emit` or `Emit<A, B>`.
    Malformed(&'a Type),
    /// `&Emit<T>`, `&mut Emit<T>`.
    Borrowed(&'a Type),
}

/// Whether a parameter type is the emitter: its last path segment is `Emit`. Type aliases are not seen
/// through; the macro has no type information.
fn emitter_shape(ty: &Type) -> Option<EmitterShape<'_>> {
    match ungroup(ty) {
        Type::Path(p) if p.qself.is_none() => {
            let last = p.path.segments.last()?;
            if last.ident != "Emit" {
                return None;
            }
            if let PathArguments::AngleBracketed(AngleBracketedGenericArguments { args, .. }) =
                &last.arguments
                && args.len() == 1
                && let Some(GenericArgument::Type(item)) = args.first()
            {
                return Some(EmitterShape::Item(item));
            }
            Some(EmitterShape::Malformed(ty))
        }
        Type::Reference(r) => emitter_shape(&r.elem).map(|_| EmitterShape::Borrowed(ty)),
        _ => None,
    }
}

fn ungroup(mut ty: &Type) -> &Type {
    loop {
        match ty {
            Type::Group(g) => ty = &g.elem,
            Type::Paren(p) => ty = &p.elem,
            _ => return ty,
        }
    }
}

/// Records the parts of a type that cannot be stored in a `'static` resource value: borrows with a lifetime
/// other than `'static`, and `impl Trait`. Function pointers and trait objects are not entered: lifetimes in
/// them are higher-ranked or default to `'static`.
fn owned_type(cx: &Ctxt, ty: &Type) {
    match ty {
        Type::Reference(r) => {
            if r.lifetime.as_ref().is_some_and(|l| l.ident == "static") {
                owned_type(cx, &r.elem);
            } else {
                cx.error_spanned_by(
                    r,
                    "resource arguments cannot borrow: the resource value owns them; take an owned type such as `String`, or a `&'static` reference",
                );
            }
        }
        Type::ImplTrait(t) => cx.error_spanned_by(
            t,
            "resource arguments cannot be `impl Trait`: the resource value stores them, so their types must be concrete",
        ),
        Type::Path(p) => {
            if let Some(q) = &p.qself {
                owned_type(cx, &q.ty);
            }
            for segment in &p.path.segments {
                let PathArguments::AngleBracketed(args) = &segment.arguments else {
                    continue;
                };
                for arg in &args.args {
                    match arg {
                        GenericArgument::Lifetime(l) if l.ident != "static" => cx.error_spanned_by(
                            l,
                            "resource arguments cannot borrow: the resource value owns them and must be `'static`",
                        ),
                        GenericArgument::Type(t) => owned_type(cx, t),
                        GenericArgument::AssocType(a) => owned_type(cx, &a.ty),
                        _ => {}
                    }
                }
            }
        }
        Type::Tuple(t) => t.elems.iter().for_each(|t| owned_type(cx, t)),
        Type::Array(a) => owned_type(cx, &a.elem),
        Type::Slice(s) => owned_type(cx, &s.elem),
        Type::Paren(p) => owned_type(cx, &p.elem),
        Type::Group(g) => owned_type(cx, &g.elem),
        _ => {}
    }
}

impl<'a> FnAttrs<'a> {
    fn sort(attrs: &'a [Attribute]) -> Self {
        let mut sorted = FnAttrs {
            cfg: Vec::new(),
            constructor: Vec::new(),
            body: Vec::new(),
            must_use: false,
        };
        for attr in attrs {
            let path = attr.path();
            let is = |name: &str| path.is_ident(name);
            if is("cfg") {
                sorted.cfg.push(attr);
            } else if is("doc") || is("deprecated") || is("must_use") || is("cfg_attr") {
                sorted.must_use |= is("must_use");
                sorted.constructor.push(attr);
            } else if is("allow") || is("warn") || is("deny") || is("forbid") {
                sorted.constructor.push(attr);
                sorted.body.push(attr);
            } else {
                // `expect` only on the body: on the constructor it would be unfulfilled.
                sorted.body.push(attr);
            }
        }
        sorted
    }
}

/// `repo_issues` -> `RepoIssuesResource`, spanned at the function name so that the user can name it and
/// go-to-definition lands on the function.
fn struct_ident(ident: &Ident) -> Ident {
    let name = ident.unraw().to_string();
    let mut camel = String::with_capacity(name.len() + 8);
    for part in name.split('_') {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            camel.extend(first.to_uppercase());
            camel.push_str(chars.as_str());
        }
    }
    camel.push_str("Resource");
    // A name that does not make an identifier this way (`_2fa`) keeps its own spelling, with a prefix.
    let mut ident_out = syn::parse_str::<Ident>(&camel)
        .or_else(|_| syn::parse_str::<Ident>(&format!("__{name}Resource")))
        .unwrap_or_else(|_| Ident::new("__EleResource", Span::call_site()));
    ident_out.set_span(ident.span());
    ident_out
}
