//! Parsing of `#[resource(...)]` into typed slots that remember the tokens that set them.
//!
//! The arguments are split at top-level commas first, and each `key = value` entry is parsed on its own: a
//! mistake in one entry is recorded and the next entry is still read, so every bad key of one attribute is
//! reported in the same build (serde_derive's approach, extended to syntax errors).

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Expr, ExprLit, Ident, Lit, LitInt, LitStr, Token};

use crate::ctxt::Ctxt;

/// `name = "issues"`
pub(crate) const NAME: &str = "name";
/// `table_name = "issues"`
pub(crate) const TABLE_NAME: &str = "table_name";
/// `write_disposition = "merge"`
pub(crate) const WRITE_DISPOSITION: &str = "write_disposition";
/// `primary_key = "id"`
pub(crate) const PRIMARY_KEY: &str = "primary_key";
/// `merge_key = ("day", "region")`
pub(crate) const MERGE_KEY: &str = "merge_key";
/// `max_table_nesting = 2`
pub(crate) const MAX_TABLE_NESTING: &str = "max_table_nesting";
/// `crate = "my_reexport::ele"`
pub(crate) const CRATE: &str = "crate";

/// Every key, in the order error messages list them.
pub(crate) const KEYS: [&str; 7] = [
    NAME,
    TABLE_NAME,
    WRITE_DISPOSITION,
    PRIMARY_KEY,
    MERGE_KEY,
    MAX_TABLE_NESTING,
    CRATE,
];

/// A well-formed setting of each key, for messages.
fn example(key: &str) -> &'static str {
    match key {
        NAME => "name = \"issues\"",
        TABLE_NAME => "table_name = \"issues\"",
        WRITE_DISPOSITION => "write_disposition = \"merge\"",
        PRIMARY_KEY => "primary_key = \"id\"",
        MERGE_KEY => "merge_key = (\"day\", \"region\")",
        MAX_TABLE_NESTING => "max_table_nesting = 2",
        _ => "crate = \"my_reexport::ele\"",
    }
}

const KEY_FORM: &str =
    "expected a column name `\"id\"` or a tuple of column names `(\"id\", \"url\")`";
const DISPOSITIONS: &str = "`\"append\"`, `\"replace\"`, `\"merge\"`";

/// One attribute slot: unset, or set by a key (kept for spans), possibly to an invalid value.
pub(crate) struct Attr<T> {
    name: &'static str,
    key: Option<Ident>,
    value: Option<T>,
}

impl<T> Attr<T> {
    fn new(name: &'static str) -> Self {
        Attr {
            name,
            key: None,
            value: None,
        }
    }

    /// Records a setting; `None` means the value was invalid (its error is already recorded). A second
    /// setting is reported at its key and ignored.
    fn set(&mut self, cx: &Ctxt, key: &Ident, value: Option<T>) {
        if self.key.is_some() {
            cx.error_spanned_by(key, format!("duplicate resource attribute `{}`", self.name));
            return;
        }
        self.key = Some(key.clone());
        self.value = value;
    }

    /// The value, when the key was given a valid one.
    pub(crate) fn get(&self) -> Option<&T> {
        self.value.as_ref()
    }

    /// The value, consuming the slot.
    pub(crate) fn into_inner(self) -> Option<T> {
        self.value
    }

    /// Whether the key was given a value that could not be read (its error is already recorded).
    pub(crate) fn is_invalid(&self) -> bool {
        self.key.is_some() && self.value.is_none()
    }
}

/// A write disposition, as written.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Disposition {
    Append,
    Replace,
    Merge,
}

impl Disposition {
    /// The variant of `WriteDisposition` in ele-core.
    pub(crate) fn variant(self) -> &'static str {
        match self {
            Disposition::Append => "Append",
            Disposition::Replace => "Replace",
            Disposition::Merge => "Merge",
        }
    }
}

/// `write_disposition = "..."` with its literal.
pub(crate) struct WriteDisposition {
    pub(crate) value: Disposition,
    pub(crate) lit: LitStr,
}

/// `primary_key` or `merge_key`: the column literals, in order; empty for `()`.
pub(crate) struct Key {
    pub(crate) columns: Vec<LitStr>,
}

/// `max_table_nesting = N`.
pub(crate) struct Nesting {
    pub(crate) depth: usize,
    pub(crate) span: Span,
}

/// The parsed `#[resource(...)]` attribute.
pub(crate) struct Attrs {
    pub(crate) name: Attr<LitStr>,
    pub(crate) table_name: Attr<LitStr>,
    pub(crate) write_disposition: Attr<WriteDisposition>,
    pub(crate) primary_key: Attr<Key>,
    pub(crate) merge_key: Attr<Key>,
    pub(crate) max_table_nesting: Attr<Nesting>,
    pub(crate) krate: Attr<syn::Path>,
}

impl Attrs {
    /// Parses the tokens inside `#[resource(...)]`, recording every error in `cx`.
    pub(crate) fn from_args(cx: &Ctxt, args: TokenStream) -> Self {
        let mut attrs = Attrs {
            name: Attr::new(NAME),
            table_name: Attr::new(TABLE_NAME),
            write_disposition: Attr::new(WRITE_DISPOSITION),
            primary_key: Attr::new(PRIMARY_KEY),
            merge_key: Attr::new(MERGE_KEY),
            max_table_nesting: Attr::new(MAX_TABLE_NESTING),
            krate: Attr::new(CRATE),
        };
        for entry in split_entries(cx, args) {
            let parser = |input: ParseStream| attrs.parse_entry(cx, input);
            if let Err(error) = parser.parse2(entry) {
                cx.syn_error(error);
            }
        }
        attrs
    }

    /// One `key = value` entry. Syntax errors are returned; errors in a well-formed value are recorded.
    fn parse_entry(&mut self, cx: &Ctxt, input: ParseStream) -> syn::Result<()> {
        // `Ident::parse_any` so that the keyword `crate` is a key like the others.
        let key = input
            .call(Ident::parse_any)
            .map_err(|_| input.error("expected `key = value`, e.g. `name = \"issues\"`"))?;
        let key_name = key.unraw().to_string();
        let Some(&known) = KEYS.iter().find(|k| **k == key_name) else {
            cx.error_spanned_by(
                &key,
                format!(
                    "unknown resource attribute `{key_name}`; expected one of {}",
                    list(&KEYS)
                ),
            );
            // The rest of the entry belongs to the unknown key; the next entry is read normally.
            input.parse::<TokenStream>()?;
            return Ok(());
        };
        if !input.peek(Token![=]) {
            return Err(syn::Error::new_spanned(
                &key,
                format!("`{known}` needs a value, e.g. `{}`", example(known)),
            ));
        }
        let eq: Token![=] = input.parse()?;
        if input.is_empty() {
            return Err(syn::Error::new(
                eq.span,
                format!("expected a value after `=`, e.g. `{}`", example(known)),
            ));
        }
        let value: Expr = input.parse()?;
        if !input.is_empty() {
            return Err(input.error(format!("expected `,` after the value of `{known}`")));
        }
        match known {
            // name = "issues"
            NAME => {
                let lit = non_empty_str(cx, NAME, &value, "a resource name cannot be empty");
                self.name.set(cx, &key, lit);
            }
            // table_name = "issues"
            TABLE_NAME => {
                let lit = non_empty_str(cx, TABLE_NAME, &value, "a table name cannot be empty");
                self.table_name.set(cx, &key, lit);
            }
            // write_disposition = "append" | "replace" | "merge"
            WRITE_DISPOSITION => {
                let disposition = write_disposition(cx, &value);
                self.write_disposition.set(cx, &key, disposition);
            }
            // primary_key = "id" | ("id", "url") | ["id", "url"] | ()
            PRIMARY_KEY => {
                let columns = key_columns(cx, PRIMARY_KEY, &value);
                self.primary_key.set(cx, &key, columns);
            }
            // merge_key = "day" | ("day", "region") | ["day", "region"] | ()
            MERGE_KEY => {
                let columns = key_columns(cx, MERGE_KEY, &value);
                self.merge_key.set(cx, &key, columns);
            }
            // max_table_nesting = 2
            MAX_TABLE_NESTING => {
                let nesting = nesting(cx, &value);
                self.max_table_nesting.set(cx, &key, nesting);
            }
            // crate = "my_reexport::ele"
            _ => {
                let path = crate_path(cx, &value);
                self.krate.set(cx, &key, path);
            }
        }
        Ok(())
    }
}

/// `"a", "b"` -> "`a`, `b`".
fn list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Splits the attribute arguments at top-level commas (values with commas are inside a group). An empty
/// entry before a comma is reported at that comma; a trailing comma is fine.
fn split_entries(cx: &Ctxt, args: TokenStream) -> Vec<TokenStream> {
    let mut entries = Vec::new();
    let mut current = Vec::new();
    for tree in args {
        match tree {
            TokenTree::Punct(p) if p.as_char() == ',' => {
                if current.is_empty() {
                    cx.error_at(p.span(), "expected `key = value` before `,`");
                } else {
                    entries.push(current.drain(..).collect());
                }
            }
            other => current.push(other),
        }
    }
    if !current.is_empty() {
        entries.push(current.into_iter().collect());
    }
    entries
}

/// Looks through the invisible groups a `macro_rules!` fragment leaves around an expression.
fn ungroup(mut value: &Expr) -> &Expr {
    while let Expr::Group(g) = value {
        value = &g.expr;
    }
    value
}

fn string_lit(value: &Expr) -> Option<&LitStr> {
    match ungroup(value) {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Some(s),
        _ => None,
    }
}

fn non_empty_str(cx: &Ctxt, key: &str, value: &Expr, empty: &str) -> Option<LitStr> {
    let Some(lit) = string_lit(value) else {
        cx.error_spanned_by(
            value,
            format!("expected a string literal, e.g. `{}`", example(key)),
        );
        return None;
    };
    if lit.value().is_empty() {
        cx.error_spanned_by(lit, empty);
        return None;
    }
    Some(lit.clone())
}

fn write_disposition(cx: &Ctxt, value: &Expr) -> Option<WriteDisposition> {
    let Some(lit) = string_lit(value) else {
        cx.error_spanned_by(
            value,
            format!("expected a string literal, one of {DISPOSITIONS}"),
        );
        return None;
    };
    let disposition = match lit.value().as_str() {
        "append" => Disposition::Append,
        "replace" => Disposition::Replace,
        "merge" => Disposition::Merge,
        other => {
            cx.error_spanned_by(
                lit,
                format!("unknown write disposition `{other}`; expected one of {DISPOSITIONS}"),
            );
            return None;
        }
    };
    Some(WriteDisposition {
        value: disposition,
        lit: lit.clone(),
    })
}

fn key_columns(cx: &Ctxt, key: &str, value: &Expr) -> Option<Key> {
    let elements: Vec<&Expr> = match ungroup(value) {
        Expr::Lit(_) => vec![value],
        Expr::Tuple(t) => t.elems.iter().collect(),
        Expr::Array(a) => a.elems.iter().collect(),
        // `("id")` is not a tuple in Rust, but the intent is plain.
        Expr::Paren(p) => vec![&*p.expr],
        other => {
            cx.error_spanned_by(other, KEY_FORM);
            return None;
        }
    };
    let mut columns: Vec<LitStr> = Vec::with_capacity(elements.len());
    let mut valid = true;
    for element in elements {
        let Some(lit) = string_lit(element) else {
            cx.error_spanned_by(element, KEY_FORM);
            valid = false;
            continue;
        };
        let column = lit.value();
        if column.is_empty() {
            cx.error_spanned_by(lit, "a column name cannot be empty");
            valid = false;
        } else if columns.iter().any(|c| c.value() == column) {
            cx.error_spanned_by(lit, format!("column `{column}` appears twice in `{key}`"));
            valid = false;
        }
        columns.push(lit.clone());
    }
    valid.then_some(Key { columns })
}

fn nesting(cx: &Ctxt, value: &Expr) -> Option<Nesting> {
    let lit: &LitInt = match ungroup(value) {
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => i,
        other => {
            cx.error_spanned_by(
                other,
                format!(
                    "expected an integer literal, e.g. `{}`",
                    example(MAX_TABLE_NESTING)
                ),
            );
            return None;
        }
    };
    match lit.base10_parse::<usize>() {
        Ok(depth) => Some(Nesting {
            depth,
            span: lit.span(),
        }),
        Err(_) => {
            cx.error_spanned_by(lit, "`max_table_nesting` must fit in a `usize`");
            None
        }
    }
}

fn crate_path(cx: &Ctxt, value: &Expr) -> Option<syn::Path> {
    let Some(lit) = string_lit(value) else {
        cx.error_spanned_by(
            value,
            format!(
                "expected a string literal holding a path, e.g. `{}`",
                example(CRATE)
            ),
        );
        return None;
    };
    match lit.parse_with(syn::Path::parse_mod_style) {
        Ok(path) => Some(path),
        Err(_) => {
            cx.error_spanned_by(lit, format!("expected a path, e.g. `{}`", example(CRATE)));
            None
        }
    }
}
