//! The typed models of a resource (the function, its emitter parameter, its ordinary arguments, its hints) and
//! of a source (the function, its arguments, its settings).
//!
//! Every piece keeps a reference to the user's tokens, so errors and generated items carry the user's spans.

use proc_macro2::{Delimiter, Group, Span, TokenTree};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::{
    AngleBracketedGenericArguments, Attribute, FnArg, GenericArgument, Ident, LitBool, LitStr,
    Meta, Pat, PatIdent, PatType, PathArguments, Signature, Type, Visibility,
};

use crate::attr::{
    self, Attrs, Disposition, IncrementalAttrs, Key, Nesting, SourceAttrs, TableName,
};
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
    /// An `Incremental<T>` parameter, bound by the runtime from state before the body runs. Boxed: its
    /// attribute slots make it much larger than the other variants.
    Incremental(Box<IncrementalParam<'a>>),
    /// A `ResourceState` or `SourceState` parameter, handed over by the runtime.
    State(StateParam<'a>),
    /// A `#[config]` or `#[secret]` parameter, filled from the configuration unless the caller sets it.
    Config(ConfigParam<'a>),
}

/// `#[config] page_size: u32` or `#[secret] token: Secret<String>`.
pub(crate) struct ConfigParam<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) ty: &'a Type,
    /// `#[secret]`: looked up in the environment and `.ele/secrets.toml` only.
    pub(crate) secret: bool,
}

/// An ordinary argument: `mut page_size: usize` gives `page_size` and `usize`.
pub(crate) struct Arg<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) ty: &'a Type,
}

/// `#[incremental(cursor = "created_at")] created_at: Incremental<String>`.
pub(crate) struct IncrementalParam<'a> {
    pub(crate) ident: &'a Ident,
    /// `T` of `Incremental<T>`; `None` for a bare `Incremental`, whose cursor type is the runtime's default
    /// (`serde_json::Value`).
    pub(crate) cursor_ty: Option<&'a Type>,
    /// The settings of the `#[incremental(...)]` attribute, merged at run time under the call site's.
    pub(crate) config: IncrementalAttrs,
}

/// `state: ResourceState` or `state: SourceState`.
pub(crate) struct StateParam<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) scope: StateScope,
}

/// Whose state a state parameter holds.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum StateScope {
    /// `ResourceState`: private to the resource.
    Resource,
    /// `SourceState`: shared by the resources of the source.
    Source,
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
    pub(crate) table_name: Option<TableName>,
    pub(crate) write_disposition: Option<(Disposition, Span)>,
    pub(crate) primary_key: Option<Key>,
    pub(crate) merge_key: Option<Key>,
    pub(crate) max_table_nesting: Option<Nesting>,
    /// `MergeStrategy` variant and the span of its literal.
    pub(crate) merge_strategy: Option<(&'static str, Span)>,
    pub(crate) hard_delete: Option<LitStr>,
    pub(crate) dedup_sort: Option<attr::DedupSort>,
    /// `selected = false` (or `true`), with its literal's span.
    pub(crate) selected: Option<LitBool>,
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
            merge_strategy: attrs
                .merge_strategy
                .into_inner()
                .map(|s| (s.variant, s.lit.span())),
            hard_delete: attrs.hard_delete.into_inner(),
            dedup_sort: attrs.dedup_sort.into_inner(),
            selected: attrs.selected.into_inner(),
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
            Param::Emitter | Param::Incremental(_) | Param::State(_) | Param::Config(_) => None,
        })
    }

    /// The `#[config]` and `#[secret]` parameters, in order.
    pub(crate) fn configs(&self) -> impl Iterator<Item = &ConfigParam<'a>> {
        self.params.iter().filter_map(|p| match p {
            Param::Config(config) => Some(config),
            _ => None,
        })
    }

    /// The incremental parameters, in order.
    pub(crate) fn incrementals(&self) -> impl Iterator<Item = &IncrementalParam<'a>> {
        self.params.iter().filter_map(|p| match p {
            Param::Incremental(incremental) => Some(&**incremental),
            _ => None,
        })
    }
}

/// Sorts the parameters into the emitter, the incrementals, the states and the ordinary arguments,
/// recording every misfit.
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
        let recognised = recognise(&pat_type.ty);
        let config = config_attr(cx, &pat_type.attrs);
        if let Some(config) = config {
            if let Some(r) = &recognised {
                cx.error_spanned_by(
                    config.attr,
                    format!(
                        "`#[{}]` goes on an ordinary argument, not on {}",
                        config.name(),
                        r.kind.describe()
                    ),
                );
            } else {
                if let Some(param) = config_param(cx, pat_type, config, "resource") {
                    params.push(Param::Config(param));
                }
                continue;
            }
        }
        if recognised.as_ref().map(|r| r.kind) != Some(Kind::Incremental) {
            for attr in pat_type.attrs.iter().filter(|a| attr::is_incremental(a)) {
                cx.error_spanned_by(
                    attr,
                    "`#[incremental]` goes on an `Incremental` parameter only, e.g. `created_at: Incremental<String>`",
                );
            }
        }
        let Some(recognised) = recognised else {
            if let Some(arg) = arg(cx, pat_type) {
                params.push(Param::Arg(arg));
            }
            continue;
        };
        match recognised.kind {
            Kind::Emit => {
                if emitter_seen {
                    cx.error_spanned_by(
                        pat_type,
                        "a resource has exactly one emitter parameter; this is a second `Emit`",
                    );
                    continue;
                }
                emitter_seen = true;
                match recognised.shape {
                    Shape::Owned(args) if args.len() == 1 => {
                        if let Some(GenericArgument::Type(item_ty)) = args.first() {
                            owned_type(cx, &pat_type.ty);
                            emitter = Some(item_ty);
                            params.push(Param::Emitter);
                        } else {
                            malformed_emitter(cx, &pat_type.ty);
                        }
                    }
                    Shape::Owned(_) | Shape::Malformed => malformed_emitter(cx, &pat_type.ty),
                    Shape::Borrowed => cx.error_spanned_by(
                        &pat_type.ty,
                        "the emitter is taken by value, e.g. `out: Emit<Item>`",
                    ),
                }
            }
            Kind::Incremental => {
                if let Some(incremental) = incremental(cx, pat_type, &recognised.shape) {
                    params.push(Param::Incremental(Box::new(incremental)));
                }
            }
            Kind::ResourceState | Kind::SourceState => {
                if let Some(state) = state(cx, pat_type, recognised.kind, &recognised.shape) {
                    params.push(Param::State(state));
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

fn malformed_emitter(cx: &Ctxt, ty: &Type) {
    cx.error_spanned_by(
        ty,
        "`Emit` takes the item type as its one argument, e.g. `out: Emit<Item>`",
    );
}

/// An ordinary argument: a plain name (optionally `mut`) with an owned type.
fn arg<'a>(cx: &Ctxt, pat_type: &'a PatType) -> Option<Arg<'a>> {
    let mut valid = true;
    // `#[incremental]` here has its own error already.
    if let Some(attr) = pat_type.attrs.iter().find(|a| !attr::is_param_attr(a)) {
        cx.error_spanned_by(
            attr,
            "attributes on resource arguments are not supported, but `#[config]` and `#[secret]`",
        );
        valid = false;
    }
    owned_type(cx, &pat_type.ty);
    let ident = plain_name(
        cx,
        pat_type,
        "resource arguments must be plain names, e.g. `page_size: usize`; destructure inside the body",
    )?;
    valid.then_some(Arg {
        ident,
        ty: &pat_type.ty,
    })
}

/// Names of the methods of `Resource` and `ResourceExt` (ele-core) that a setter named after an incremental
/// parameter would hide: an inherent method wins over a trait method in method-call syntax, so `.name("x")`
/// would call the setter. Keep in step with those traits.
const RESOURCE_METHODS: [&str; 17] = [
    "name",
    "selected",
    "backfill_only",
    "merge_strategy",
    "scd2",
    "hard_delete",
    "dedup_sort",
    "table_name",
    "write_disposition",
    "primary_key",
    "merge_key",
    "max_table_nesting",
    "table_name_fn",
    "root_key",
    "hints",
    "hints_mut",
    "extract",
];

const MALFORMED_INCREMENTAL: &str = "`Incremental` takes the cursor type as its one argument, e.g. `created_at: Incremental<String>`";

/// `#[incremental(...)] created_at: Incremental<T>`: the attribute, the cursor type, a plain name.
fn incremental<'a>(
    cx: &Ctxt,
    pat_type: &'a PatType,
    shape: &Shape<'a>,
) -> Option<IncrementalParam<'a>> {
    let mut config = IncrementalAttrs::new();
    let mut valid = true;
    for attr in &pat_type.attrs {
        if attr::is_incremental(attr) {
            config.read(cx, attr);
        } else if !attr::is_config(attr) {
            // `#[config]` here has its own error already.
            cx.error_spanned_by(
                attr,
                "an incremental parameter takes no attribute but `#[incremental(...)]`",
            );
            valid = false;
        }
    }
    let cursor_ty = match shape {
        Shape::Owned(args) => match args.as_slice() {
            [] => Ok(None),
            [GenericArgument::Type(cursor_ty)] => Ok(Some(cursor_ty)),
            _ => Err(MALFORMED_INCREMENTAL),
        },
        Shape::Malformed => Err(MALFORMED_INCREMENTAL),
        Shape::Borrowed => Err(
            "an incremental is taken by value, e.g. `created_at: Incremental<String>`; it is a handle that `out.send` keeps current",
        ),
    };
    let cursor_ty = cursor_ty.unwrap_or_else(|message| {
        cx.error_spanned_by(&pat_type.ty, message);
        valid = false;
        None
    });
    if let Some(cursor_ty) = cursor_ty {
        owned_type(cx, cursor_ty);
    }
    let ident = plain_name(
        cx,
        pat_type,
        "incremental parameters must be plain names, e.g. `created_at: Incremental<String>`",
    )?;
    let name = ident.unraw().to_string();
    if RESOURCE_METHODS.contains(&name.as_str()) {
        cx.error_spanned_by(
            ident,
            format!(
                "an incremental parameter cannot be named `{name}`: its setter `.{name}(...)` would hide the resource method of that name; rename the parameter"
            ),
        );
        valid = false;
    }
    valid.then_some(IncrementalParam {
        ident,
        cursor_ty,
        config,
    })
}

/// `state: ResourceState` or `state: SourceState`, taken by value under a plain name.
fn state<'a>(
    cx: &Ctxt,
    pat_type: &'a PatType,
    kind: Kind,
    shape: &Shape<'a>,
) -> Option<StateParam<'a>> {
    let (scope, type_name) = match kind {
        Kind::SourceState => (StateScope::Source, "SourceState"),
        _ => (StateScope::Resource, "ResourceState"),
    };
    let mut valid = true;
    if let Some(attr) = pat_type.attrs.iter().find(|a| !attr::is_param_attr(a)) {
        cx.error_spanned_by(attr, "attributes on resource arguments are not supported");
        valid = false;
    }
    match shape {
        Shape::Owned(args) if args.is_empty() => {}
        Shape::Owned(_) | Shape::Malformed => {
            cx.error_spanned_by(
                &pat_type.ty,
                format!("`{type_name}` takes no type arguments, e.g. `state: {type_name}`"),
            );
            valid = false;
        }
        Shape::Borrowed => {
            cx.error_spanned_by(
                &pat_type.ty,
                format!("the state is taken by value, e.g. `state: {type_name}`"),
            );
            valid = false;
        }
    }
    let ident = plain_name(
        cx,
        pat_type,
        &format!("state parameters must be plain names, e.g. `state: {type_name}`"),
    )?;
    valid.then_some(StateParam { ident, scope })
}

/// The name of a parameter written as a plain name (optionally `mut`); otherwise `message` is recorded.
fn plain_name<'a>(cx: &Ctxt, pat_type: &'a PatType, message: &str) -> Option<&'a Ident> {
    match &*pat_type.pat {
        Pat::Ident(PatIdent {
            by_ref: None,
            subpat: None,
            ident,
            ..
        }) => Some(ident),
        other => {
            cx.error_spanned_by(other, message);
            None
        }
    }
}

/// `#[config]` or `#[secret]` on a parameter.
#[derive(Clone, Copy)]
pub(crate) struct ConfigAttr<'a> {
    attr: &'a Attribute,
    secret: bool,
}

impl ConfigAttr<'_> {
    fn name(self) -> &'static str {
        if self.secret {
            attr::SECRET
        } else {
            attr::CONFIG
        }
    }
}

/// The parameter's `#[config]` or `#[secret]`, recording a second one and arguments given to it.
fn config_attr<'a>(cx: &Ctxt, attrs: &'a [Attribute]) -> Option<ConfigAttr<'a>> {
    let mut found: Option<ConfigAttr> = None;
    for attr in attrs.iter().filter(|a| attr::is_config(a)) {
        let this = ConfigAttr {
            attr,
            secret: attr.path().is_ident(attr::SECRET),
        };
        if !matches!(attr.meta, Meta::Path(_)) {
            cx.error_spanned_by(
                attr,
                format!(
                    "`#[{0}]` takes no arguments: the value is looked up under the parameter's name, e.g. `#[{0}] page_size: u32`",
                    this.name()
                ),
            );
        }
        match found {
            Some(first) if first.secret == this.secret => {
                cx.error_spanned_by(attr, format!("duplicate `#[{}]`", this.name()));
            }
            Some(_) => cx.error_spanned_by(
                attr,
                "a parameter is `#[config]` or `#[secret]`, not both; a secret is read from the environment and `.ele/secrets.toml` only",
            ),
            None => found = Some(this),
        }
    }
    found
}

/// A `#[config]` or `#[secret]` parameter: a plain name whose type is owned, and `Secret<T>` for a secret.
/// `owner` is `resource` or `source`, for messages.
fn config_param<'a>(
    cx: &Ctxt,
    pat_type: &'a PatType,
    config: ConfigAttr,
    owner: &str,
) -> Option<ConfigParam<'a>> {
    let mut valid = true;
    if let Some(attr) = pat_type.attrs.iter().find(|a| !attr::is_param_attr(a)) {
        cx.error_spanned_by(
            attr,
            format!(
                "a `#[{}]` parameter takes no other attribute",
                config.name()
            ),
        );
        valid = false;
    }
    if config.secret && !is_secret_type(&pat_type.ty) {
        cx.error_spanned_by(
            &pat_type.ty,
            "a `#[secret]` parameter has type `Secret<T>`, so that its value never shows in logs, errors or `Debug` output, e.g. `#[secret] token: Secret<String>`",
        );
        valid = false;
    }
    owned_type(cx, &pat_type.ty);
    let ident = plain_name(
        cx,
        pat_type,
        &format!(
            "`#[{}]` parameters must be plain names: the name is the configuration key, e.g. `page_size: u32`",
            config.name()
        ),
    )?;
    let name = ident.unraw().to_string();
    if owner == "resource" && RESOURCE_METHODS.contains(&name.as_str()) {
        cx.error_spanned_by(
            ident,
            format!(
                "a `#[{}]` parameter cannot be named `{name}`: its setter `.{name}(...)` would hide the resource method of that name; rename the parameter",
                config.name()
            ),
        );
        valid = false;
    }
    valid.then_some(ConfigParam {
        ident,
        ty: &pat_type.ty,
        secret: config.secret,
    })
}

/// Whether a type is written `Secret<T>` (by the last segment of its path).
fn is_secret_type(ty: &Type) -> bool {
    match ungroup(ty) {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last().is_some_and(|s| {
            s.ident == "Secret"
                && matches!(&s.arguments, PathArguments::AngleBracketed(a) if a.args.len() == 1)
        }),
        _ => false,
    }
}

/// The parameter types the macro recognises, by the last segment of their path.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `Emit<T>`.
    Emit,
    /// `Incremental<T>` or `Incremental`.
    Incremental,
    /// `ResourceState`.
    ResourceState,
    /// `SourceState`.
    SourceState,
}

impl Kind {
    /// "the emitter", for messages.
    fn describe(self) -> &'static str {
        match self {
            Kind::Emit => "the emitter",
            Kind::Incremental => "an incremental",
            Kind::ResourceState | Kind::SourceState => "a state parameter",
        }
    }
}

/// How a recognised type is written.
enum Shape<'a> {
    /// By value, with the type arguments of its last segment (empty for none).
    Owned(Vec<&'a GenericArgument>),
    /// `Name(..)`: parenthesized arguments.
    Malformed,
    /// `&T` or `&mut T`.
    Borrowed,
}

struct Recognised<'a> {
    kind: Kind,
    shape: Shape<'a>,
}

/// Whether a parameter type is one the macro recognises, by the last segment of its path. Type aliases are
/// not seen through; the macro has no type information.
fn recognise(ty: &Type) -> Option<Recognised<'_>> {
    match ungroup(ty) {
        Type::Path(p) if p.qself.is_none() => {
            let last = p.path.segments.last()?;
            let kind = if last.ident == "Emit" {
                Kind::Emit
            } else if last.ident == "Incremental" {
                Kind::Incremental
            } else if last.ident == "ResourceState" {
                Kind::ResourceState
            } else if last.ident == "SourceState" {
                Kind::SourceState
            } else {
                return None;
            };
            let args = match &last.arguments {
                PathArguments::None => Vec::new(),
                PathArguments::AngleBracketed(AngleBracketedGenericArguments { args, .. }) => {
                    args.iter().collect()
                }
                // `Emit(..)`: the name is recognised, the form is wrong.
                PathArguments::Parenthesized(_) => {
                    return Some(Recognised {
                        kind,
                        shape: Shape::Malformed,
                    });
                }
            };
            Some(Recognised {
                kind,
                shape: Shape::Owned(args),
            })
        }
        Type::Reference(r) => recognise(&r.elem).map(|r| Recognised {
            kind: r.kind,
            shape: Shape::Borrowed,
        }),
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
    suffixed_ident(ident, "Resource")
}

/// `repo_issues` and `ResourceMut` -> `RepoIssuesResourceMut`, spanned at the function name.
pub(crate) fn suffixed_ident(ident: &Ident, suffix: &str) -> Ident {
    let name = ident.unraw().to_string();
    let mut camel = String::with_capacity(name.len() + suffix.len());
    for part in name.split('_') {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            camel.extend(first.to_uppercase());
            camel.push_str(chars.as_str());
        }
    }
    camel.push_str(suffix);
    // A name that does not make an identifier this way (`_2fa`) keeps its own spelling, with a prefix.
    let mut ident_out = syn::parse_str::<Ident>(&camel)
        .or_else(|_| syn::parse_str::<Ident>(&format!("__{name}{suffix}")))
        .unwrap_or_else(|_| Ident::new(&format!("__Ele{suffix}"), Span::call_site()));
    ident_out.set_span(ident.span());
    ident_out
}

/// A source function, ready for code generation.
pub(crate) struct Source<'a> {
    pub(crate) original: &'a ItemFn,
    /// The function name, which the generated function keeps.
    pub(crate) ident: &'a Ident,
    /// The source name: `name = "..."`, else the function name.
    pub(crate) name: LitStr,
    /// `root_key = true`; `false` and no key both leave it to what the body returns.
    pub(crate) root_key: bool,
    pub(crate) max_table_nesting: Option<Nesting>,
    /// `resources(ads, campaigns)`: the `#[resource]` functions whose resources get an accessor.
    pub(crate) resources: Vec<syn::Path>,
    /// `FacebookAdsSource`, spanned at the function name.
    pub(crate) struct_ident: Ident,
    /// The parameters of the generated function, in order, each passed on to the body.
    pub(crate) args: Vec<SourceArg<'a>>,
    pub(crate) attrs: FnAttrs<'a>,
    /// The path of the ele facade: `::ele` or the `crate = "..."` path.
    pub(crate) krate: syn::Path,
}

/// A parameter of the generated source function: the user's name when it is a plain one (without `mut`, which
/// belongs to the body), else a hygienic `__ele_arg<N>`.
pub(crate) struct SourceArg<'a> {
    pub(crate) ident: Ident,
    pub(crate) ty: &'a Type,
    /// `Some(secret)` for a `#[config]` (`false`) or `#[secret]` (`true`) parameter: the generated function takes
    /// an `Option` of its type, and `None` looks it up.
    pub(crate) config: Option<bool>,
}

/// Methods of the generated source struct and of `Source` (reached through `Deref`) that an accessor named after
/// a listed resource would hide. Keep in step with `expand_source` and ele-core's `Source`.
const SOURCE_METHODS: [&str; 16] = [
    "with_resources",
    "root_key",
    "max_table_nesting",
    "into_source",
    "name",
    "resource",
    "push",
    "push_boxed",
    "set_root_key",
    "has_root_key",
    "resource_names",
    "selected_resource_names",
    "resource_mut",
    "resource_of_type_mut",
    "fail",
    "error",
];

impl<'a> Source<'a> {
    /// Builds the model, recording what does not fit it.
    pub(crate) fn from_syn(cx: &Ctxt, original: &'a ItemFn, attrs: SourceAttrs) -> Self {
        let sig = &original.sig;
        let ident = &sig.ident;
        let mut args = Vec::with_capacity(sig.inputs.len());
        for (index, input) in sig.inputs.iter().enumerate() {
            match input {
                FnArg::Receiver(receiver) => cx.error_spanned_by(
                    receiver,
                    "a source is a free function; it cannot take `self`",
                ),
                FnArg::Typed(pat_type) => {
                    if let Some(config) = config_attr(cx, &pat_type.attrs) {
                        if let Some(param) = config_param(cx, pat_type, config, "source") {
                            args.push(SourceArg {
                                ident: param.ident.clone(),
                                ty: param.ty,
                                config: Some(param.secret),
                            });
                        }
                        continue;
                    }
                    let ident = match &*pat_type.pat {
                        Pat::Ident(PatIdent {
                            by_ref: None,
                            subpat: None,
                            ident,
                            ..
                        }) => ident.clone(),
                        _ => Ident::new(&format!("__ele_arg{index}"), Span::mixed_site()),
                    };
                    args.push(SourceArg {
                        ident,
                        ty: &pat_type.ty,
                        config: None,
                    });
                }
            }
        }
        let name = match attrs.name.into_inner() {
            Some(name) => name,
            None => LitStr::new(&ident.unraw().to_string(), ident.span()),
        };
        let resources = attrs.resources.into_inner().unwrap_or_default();
        for path in &resources {
            if let Some(last) = path.segments.last() {
                let accessor = last.ident.unraw().to_string();
                if SOURCE_METHODS.contains(&accessor.as_str()) {
                    cx.error_spanned_by(
                        &last.ident,
                        format!(
                            "a listed resource cannot be named `{accessor}`: its accessor `.{accessor}()` would hide the source method of that name; rename the resource function"
                        ),
                    );
                }
                if !last.arguments.is_empty() {
                    cx.error_spanned_by(
                        &last.arguments,
                        "expected the name of a `#[resource]` function, without arguments",
                    );
                }
            }
        }
        Source {
            original,
            ident,
            struct_ident: suffixed_ident(ident, "Source"),
            resources,
            name,
            root_key: attrs.root_key.into_inner().is_some_and(|b| b.value),
            max_table_nesting: attrs.max_table_nesting.into_inner(),
            args,
            attrs: FnAttrs::sort(&original.attrs),
            krate: attrs
                .krate
                .into_inner()
                .unwrap_or_else(|| syn::parse_quote!(::ele)),
        }
    }
}
