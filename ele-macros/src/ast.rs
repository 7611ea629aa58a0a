//! The models of a resource (the function, its parameters as written, the settings of its attribute) and of a
//! source (the function, its parameters, its settings), built from syn's tree and the parsed attributes.
//!
//! Building a model records only parse errors (of the macro's attributes); every rule about what is allowed
//! lives in `check`, which runs on the model. Every piece keeps a reference to the user's tokens, so errors and
//! generated items carry the user's spans.

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::{
    AngleBracketedGenericArguments, Attribute, FnArg, GenericArgument, Ident, LitStr, Pat,
    PatIdent, PatType, PathArguments, Receiver, Signature, Type, Visibility,
};

use crate::attr::{self, Attrs, IncrementalAttrs, Nesting, SourceAttrs};
use crate::ctxt::{Ctxt, Place};

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

/// A resource function as written. `check` decides whether it is valid; the generator reads the valid parts
/// through [`Resource::bindings`].
pub(crate) struct Resource<'a> {
    pub(crate) original: &'a ItemFn,
    /// The function name, which the constructor keeps.
    pub(crate) ident: &'a Ident,
    /// `RepoIssuesResource`, spanned at the function name.
    pub(crate) struct_ident: Ident,
    /// The parameters in their original order.
    pub(crate) params: Vec<Param<'a>>,
    /// `T` of the first emitter, when it is written `Emit<T>`.
    pub(crate) item_ty: Option<&'a Type>,
    pub(crate) attrs: FnAttrs<'a>,
    /// The settings of `#[resource(...)]`, the hints the resource value starts with.
    pub(crate) hints: Attrs,
    /// The path of the ele facade: `::ele` or the `crate = "..."` path.
    pub(crate) krate: syn::Path,
}

/// A parameter of the resource function, as written.
pub(crate) enum Param<'a> {
    /// `self`, which a resource function cannot take.
    Receiver(&'a Receiver),
    /// `pattern: Type`.
    Typed(TypedParam<'a>),
}

/// `pattern: Type` with its attributes, and the role the macro gives it.
pub(crate) struct TypedParam<'a> {
    pub(crate) pat_type: &'a PatType,
    /// The name, when the pattern is a plain name (optionally `mut`).
    pub(crate) ident: Option<&'a Ident>,
    /// The `#[config]` and `#[secret]` attributes, in order.
    pub(crate) config_attrs: Vec<ConfigAttr<'a>>,
    pub(crate) role: Role<'a>,
}

/// What a parameter is, by the last segment of its type's path and its attributes.
pub(crate) enum Role<'a> {
    /// `Emit<T>`: the emitter.
    Emitter(Shape<'a>),
    /// `Incremental<T>` or `Incremental`, with the settings of its `#[incremental(...)]` attributes (boxed: the
    /// attribute slots make it much larger than the other variants).
    Incremental(Shape<'a>, Box<IncrementalAttrs>),
    /// `ResourceState` or `SourceState`.
    State(StateScope, Shape<'a>),
    /// An ordinary type with `#[config]` or `#[secret]` (the first of them).
    Config(ConfigAttr<'a>),
    /// An ordinary argument.
    Arg,
}

impl Role<'_> {
    /// "the emitter", for messages; `None` for the roles of ordinary types.
    pub(crate) fn describe(&self) -> Option<&'static str> {
        match self {
            Role::Emitter(_) => Some("the emitter"),
            Role::Incremental(..) => Some("an incremental"),
            Role::State(..) => Some("a state parameter"),
            Role::Config(_) | Role::Arg => None,
        }
    }
}

/// How a recognised type is written.
pub(crate) enum Shape<'a> {
    /// By value, with the type arguments of its last segment (empty for none).
    Owned(Vec<&'a GenericArgument>),
    /// `Name(..)`: parenthesized arguments.
    Malformed,
    /// `&T` or `&mut T`.
    Borrowed,
}

impl<'a> Shape<'a> {
    /// `T` of `Name<T>`: `Some(Some(T))`; `Some(None)` for a bare `Name`; `None` for any other form.
    pub(crate) fn one_type(&self) -> Option<Option<&'a Type>> {
        match self {
            Shape::Owned(args) => match args.as_slice() {
                [] => Some(None),
                [GenericArgument::Type(ty)] => Some(Some(ty)),
                _ => None,
            },
            Shape::Malformed | Shape::Borrowed => None,
        }
    }
}

/// `#[config]` or `#[secret]` on a parameter.
#[derive(Clone, Copy)]
pub(crate) struct ConfigAttr<'a> {
    pub(crate) attr: &'a Attribute,
    pub(crate) secret: bool,
}

impl ConfigAttr<'_> {
    /// `config` or `secret`, for messages.
    pub(crate) fn name(self) -> &'static str {
        if self.secret {
            attr::SECRET
        } else {
            attr::CONFIG
        }
    }
}

/// Whose state a state parameter holds.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum StateScope {
    /// `ResourceState`: private to the resource.
    Resource,
    /// `SourceState`: shared by the resources of the source.
    Source,
}

impl StateScope {
    /// `ResourceState` or `SourceState`, for messages.
    pub(crate) fn type_name(self) -> &'static str {
        match self {
            StateScope::Resource => "ResourceState",
            StateScope::Source => "SourceState",
        }
    }
}

/// A valid parameter as the generated code binds it before calling the body: what [`Resource::bindings`] yields.
pub(crate) enum Binding<'m> {
    /// The `Emit<T>` parameter.
    Emitter,
    /// An ordinary argument, stored in the resource value.
    Arg(Arg<'m>),
    /// An `Incremental<T>` parameter, bound by the runtime from state before the body runs.
    Incremental(IncrementalParam<'m>),
    /// A `ResourceState` or `SourceState` parameter, handed over by the runtime.
    State(StateParam<'m>),
    /// A `#[config]` or `#[secret]` parameter, filled from the configuration unless the caller sets it.
    Config(ConfigParam<'m>),
}

/// An ordinary argument: `mut page_size: usize` gives `page_size` and `usize`.
pub(crate) struct Arg<'m> {
    pub(crate) ident: &'m Ident,
    pub(crate) ty: &'m Type,
}

/// `#[incremental(cursor = "created_at")] created_at: Incremental<String>`.
pub(crate) struct IncrementalParam<'m> {
    pub(crate) ident: &'m Ident,
    /// `T` of `Incremental<T>`; `None` for a bare `Incremental`, whose cursor type is the runtime's default
    /// (`serde_json::Value`).
    pub(crate) cursor_ty: Option<&'m Type>,
    /// The settings of the `#[incremental(...)]` attribute, merged at run time under the call site's.
    pub(crate) config: &'m IncrementalAttrs,
}

/// `state: ResourceState` or `state: SourceState`.
pub(crate) struct StateParam<'m> {
    pub(crate) ident: &'m Ident,
    pub(crate) scope: StateScope,
}

/// `#[config] page_size: u32` or `#[secret] token: Secret<String>`.
pub(crate) struct ConfigParam<'m> {
    pub(crate) ident: &'m Ident,
    pub(crate) ty: &'m Type,
    /// `#[secret]`: looked up in the environment and `.ele/secrets.toml` only.
    pub(crate) secret: bool,
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

impl<'a> Resource<'a> {
    /// Parses `#[resource(args)]` and reads the function's parameters, recording the parse errors.
    pub(crate) fn from_syn(cx: &Ctxt, original: &'a ItemFn, args: TokenStream) -> Self {
        let hints = cx.at(Place::Attribute, || Attrs::from_args(cx, args));
        let sig = &original.sig;
        let params: Vec<Param<'a>> = sig
            .inputs
            .iter()
            .enumerate()
            .map(|(index, input)| cx.at(Place::Param(index), || param(cx, input)))
            .collect();
        let item_ty = params
            .iter()
            .find_map(|p| match p {
                Param::Typed(TypedParam {
                    role: Role::Emitter(shape),
                    ..
                }) => Some(shape),
                _ => None,
            })
            .and_then(|shape| shape.one_type().flatten());
        let krate = hints
            .krate
            .get()
            .cloned()
            .unwrap_or_else(|| syn::parse_quote!(::ele));
        Resource {
            original,
            ident: &sig.ident,
            struct_ident: suffixed_ident(&sig.ident, "Resource"),
            params,
            item_ty,
            attrs: FnAttrs::sort(&original.attrs),
            hints,
            krate,
        }
    }

    /// The resource name: `name = "..."`, else the function name.
    pub(crate) fn name(&self) -> LitStr {
        match self.hints.name.get() {
            Some(name) => name.clone(),
            None => LitStr::new(&self.ident.unraw().to_string(), self.ident.span()),
        }
    }

    /// The well-formed parameters, in order, as the generated code binds them. After `check` found nothing
    /// wrong, these are all the parameters.
    pub(crate) fn bindings(&self) -> impl Iterator<Item = Binding<'_>> {
        self.params.iter().filter_map(|p| {
            let Param::Typed(p) = p else {
                return None;
            };
            let ty = &*p.pat_type.ty;
            Some(match &p.role {
                Role::Emitter(_) => Binding::Emitter,
                Role::Arg => Binding::Arg(Arg {
                    ident: p.ident?,
                    ty,
                }),
                Role::Incremental(shape, config) => Binding::Incremental(IncrementalParam {
                    ident: p.ident?,
                    cursor_ty: shape.one_type()?,
                    config,
                }),
                Role::State(scope, _) => Binding::State(StateParam {
                    ident: p.ident?,
                    scope: *scope,
                }),
                Role::Config(config) => Binding::Config(ConfigParam {
                    ident: p.ident?,
                    ty,
                    secret: config.secret,
                }),
            })
        })
    }

    /// The ordinary arguments, in order.
    pub(crate) fn args(&self) -> impl Iterator<Item = Arg<'_>> {
        self.bindings().filter_map(|b| match b {
            Binding::Arg(arg) => Some(arg),
            _ => None,
        })
    }

    /// The `#[config]` and `#[secret]` parameters, in order.
    pub(crate) fn configs(&self) -> impl Iterator<Item = ConfigParam<'_>> {
        self.bindings().filter_map(|b| match b {
            Binding::Config(config) => Some(config),
            _ => None,
        })
    }

    /// The incremental parameters, in order.
    pub(crate) fn incrementals(&self) -> impl Iterator<Item = IncrementalParam<'_>> {
        self.bindings().filter_map(|b| match b {
            Binding::Incremental(incremental) => Some(incremental),
            _ => None,
        })
    }
}

/// One parameter of a resource function: its role, by its type and attributes; the `#[incremental(...)]`
/// attributes of an incremental are parsed here.
fn param<'a>(cx: &Ctxt, input: &'a FnArg) -> Param<'a> {
    let pat_type = match input {
        FnArg::Receiver(receiver) => return Param::Receiver(receiver),
        FnArg::Typed(pat_type) => pat_type,
    };
    let config_attrs = config_attrs(&pat_type.attrs);
    let role = match recognise(&pat_type.ty) {
        Some((Kind::Emit, shape)) => Role::Emitter(shape),
        Some((Kind::Incremental, shape)) => {
            let mut settings = IncrementalAttrs::new();
            for attr in pat_type.attrs.iter().filter(|a| attr::is_incremental(a)) {
                settings.read(cx, attr);
            }
            Role::Incremental(shape, Box::new(settings))
        }
        Some((Kind::ResourceState, shape)) => Role::State(StateScope::Resource, shape),
        Some((Kind::SourceState, shape)) => Role::State(StateScope::Source, shape),
        None => match config_attrs.first() {
            Some(config) => Role::Config(*config),
            None => Role::Arg,
        },
    };
    Param::Typed(TypedParam {
        pat_type,
        ident: plain_ident(pat_type),
        config_attrs,
        role,
    })
}

/// The name of a parameter written as a plain name (optionally `mut`).
pub(crate) fn plain_ident(pat_type: &PatType) -> Option<&Ident> {
    match &*pat_type.pat {
        Pat::Ident(PatIdent {
            by_ref: None,
            subpat: None,
            ident,
            ..
        }) => Some(ident),
        _ => None,
    }
}

/// The `#[config]` and `#[secret]` attributes of a parameter, in order.
fn config_attrs(attrs: &[Attribute]) -> Vec<ConfigAttr<'_>> {
    attrs
        .iter()
        .filter(|a| attr::is_config(a))
        .map(|attr| ConfigAttr {
            attr,
            secret: attr.path().is_ident(attr::SECRET),
        })
        .collect()
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

/// Whether a parameter type is one the macro recognises, by the last segment of its path, and how it is
/// written. Type aliases are not seen through; the macro has no type information.
fn recognise(ty: &Type) -> Option<(Kind, Shape<'_>)> {
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
            let shape = match &last.arguments {
                PathArguments::None => Shape::Owned(Vec::new()),
                PathArguments::AngleBracketed(AngleBracketedGenericArguments { args, .. }) => {
                    Shape::Owned(args.iter().collect())
                }
                // `Emit(..)`: the name is recognised, the form is wrong.
                PathArguments::Parenthesized(_) => Shape::Malformed,
            };
            Some((kind, shape))
        }
        Type::Reference(r) => recognise(&r.elem).map(|(kind, _)| (kind, Shape::Borrowed)),
        _ => None,
    }
}

/// Looks through parentheses and the invisible groups a `macro_rules!` fragment leaves around a type.
pub(crate) fn ungroup(mut ty: &Type) -> &Type {
    loop {
        match ty {
            Type::Group(g) => ty = &g.elem,
            Type::Paren(p) => ty = &p.elem,
            _ => return ty,
        }
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

/// `repo_issues` and `ResourceMut` -> `RepoIssuesResourceMut`, spanned at the function name so that the user can
/// name it and go-to-definition lands on the function.
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

/// A source function as written, with the settings of its attribute.
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
    /// The parameters in their original order.
    pub(crate) params: Vec<SourceParam<'a>>,
    pub(crate) attrs: FnAttrs<'a>,
    /// The path of the ele facade: `::ele` or the `crate = "..."` path.
    pub(crate) krate: syn::Path,
}

/// A parameter of the source function, as written.
pub(crate) enum SourceParam<'a> {
    /// `self`, which a source function cannot take.
    Receiver(&'a Receiver),
    /// `pattern: Type`, passed on to the body.
    Typed(SourceArg<'a>),
}

/// A parameter of the generated source function: the user's name when it is a plain one (without `mut`, which
/// belongs to the body), else a hygienic `__ele_arg<N>`.
pub(crate) struct SourceArg<'a> {
    pub(crate) pat_type: &'a PatType,
    pub(crate) ident: Ident,
    pub(crate) ty: &'a Type,
    /// The `#[config]` and `#[secret]` attributes, in order: with one, the generated function takes an `Option` of
    /// the type, and `None` looks it up.
    pub(crate) config_attrs: Vec<ConfigAttr<'a>>,
}

impl SourceArg<'_> {
    /// `Some(secret)` for a `#[config]` (`false`) or `#[secret]` (`true`) parameter.
    pub(crate) fn config(&self) -> Option<bool> {
        self.config_attrs.first().map(|c| c.secret)
    }
}

impl<'a> Source<'a> {
    /// Parses `#[source(args)]` and reads the function's parameters, recording the parse errors.
    pub(crate) fn from_syn(cx: &Ctxt, original: &'a ItemFn, args: TokenStream) -> Self {
        let attrs = cx.at(Place::Attribute, || SourceAttrs::from_args(cx, args));
        let sig = &original.sig;
        let ident = &sig.ident;
        let params = sig
            .inputs
            .iter()
            .enumerate()
            .map(|(index, input)| match input {
                FnArg::Receiver(receiver) => SourceParam::Receiver(receiver),
                FnArg::Typed(pat_type) => SourceParam::Typed(SourceArg {
                    pat_type,
                    ident: plain_ident(pat_type).cloned().unwrap_or_else(|| {
                        Ident::new(&format!("__ele_arg{index}"), Span::mixed_site())
                    }),
                    ty: &pat_type.ty,
                    config_attrs: config_attrs(&pat_type.attrs),
                }),
            })
            .collect();
        let name = match attrs.name.into_inner() {
            Some(name) => name,
            None => LitStr::new(&ident.unraw().to_string(), ident.span()),
        };
        Source {
            original,
            ident,
            struct_ident: suffixed_ident(ident, "Source"),
            resources: attrs.resources.into_inner().unwrap_or_default(),
            name,
            root_key: attrs.root_key.into_inner().is_some_and(|b| b.value),
            max_table_nesting: attrs.max_table_nesting.into_inner(),
            params,
            attrs: FnAttrs::sort(&original.attrs),
            krate: attrs
                .krate
                .into_inner()
                .unwrap_or_else(|| syn::parse_quote!(::ele)),
        }
    }

    /// The parameters of the generated function, in order.
    pub(crate) fn args(&self) -> impl Iterator<Item = &SourceArg<'a>> {
        self.params.iter().filter_map(|p| match p {
            SourceParam::Typed(arg) => Some(arg),
            SourceParam::Receiver(_) => None,
        })
    }
}
