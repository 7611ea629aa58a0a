//! dlt's default naming convention, `snake_case` (`dlt/common/normalizers/naming/snake_case.py` and
//! `naming.py`, dlt 1.31), with PostgreSQL's identifier limit of 63.
//!
//! One identifier is normalized in this order: trim (Python whitespace), translate `+-*@|` to `x_xal`,
//! replace each run of characters other than ASCII letters, Unicode decimal digits (Python's `\d`) and `_`
//! with one `_`, break camel case, lowercase, prefix `_` before a leading digit, turn each trailing `_`
//! into `x`, collapse `__+` to `_`, then shorten to the maximum length with a SHAKE-128 tag taken from the
//! (trimmed) original. Paths join normalized identifiers with `__` and are shortened as a whole.

use crate::foundation::py_str::{decimal_digit, is_py_space, py_strip};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use sha3::Shake128;
use sha3::digest::{ExtendableOutput, Update, XofReader};

/// Maximum identifier length on PostgreSQL (`max_identifier_length`, `max_column_identifier_length`).
pub const MAX_IDENTIFIER_LENGTH: usize = 63;
/// Maximum length of a schema name (`InvalidSchemaName.MAXIMUM_SCHEMA_NAME_LENGTH`).
pub const MAX_SCHEMA_NAME_LENGTH: usize = 64;
/// Separator of nested tables and flattened columns.
pub const PATH_SEPARATOR: &str = "__";
/// What the relational normalizer uses for an empty or whitespace-only key.
pub const EMPTY_KEY_IDENTIFIER: &str = "_empty";
/// Bytes of SHAKE-128 behind a shortening tag: `int(3 * log2(1 / 0.001) // 8 + 1)` = 4, 6 characters.
const TAG_BYTES: usize = 4;

/// Normalizes one identifier with the maximum length 63; `None` when it is empty or whitespace only
/// (dlt raises `ValueError` then).
pub fn try_normalize_identifier(identifier: &str) -> Option<String> {
    normalize_identifier_max(identifier, Some(MAX_IDENTIFIER_LENGTH))
}

/// Normalizes one identifier (table, column, dataset) with the maximum length 63. A blank identifier, which
/// dlt refuses, gives `_empty`; use [`try_normalize_identifier`] to tell it apart.
pub fn normalize_identifier(identifier: &str) -> String {
    try_normalize_identifier(identifier).unwrap_or_else(|| EMPTY_KEY_IDENTIFIER.to_owned())
}

/// Normalizes one identifier with `max_length` (`None`: no shortening); `None` when blank.
pub fn normalize_identifier_max(identifier: &str, max_length: Option<usize>) -> Option<String> {
    let identifier = py_strip(identifier);
    if identifier.is_empty() {
        return None;
    }
    let translated: Vec<char> = identifier
        .chars()
        .map(|c| match c {
            '+' | '*' => 'x',
            '-' => '_',
            '@' => 'a',
            '|' => 'l',
            c => c,
        })
        .collect();
    // RE_NON_ALPHANUMERIC = [^a-zA-Z\d_]+ -> "_"
    let mut reduced: Vec<char> = Vec::with_capacity(translated.len());
    let mut in_run = false;
    for c in translated {
        if c.is_ascii_alphabetic() || c == '_' || decimal_digit(c).is_some() {
            reduced.push(c);
            in_run = false;
        } else if !in_run {
            reduced.push('_');
            in_run = true;
        }
    }
    let snake = to_snake_case(reduced);
    Some(shorten_chars(snake, identifier, max_length))
}

/// `_to_snake_case`: camel-case breaks, lowercase, leading digit prefix, trailing `_` to `x`, `__+` to `_`.
fn to_snake_case(chars: Vec<char>) -> Vec<char> {
    // _SNAKE_CASE_BREAK_1 = "([^_])([A-Z][a-z]+)" -> r"\1_\2", left to right, non-overlapping
    let mut out: Vec<char> = Vec::with_capacity(chars.len() + 4);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '_'
            && chars.get(i + 1).is_some_and(char::is_ascii_uppercase)
            && chars.get(i + 2).is_some_and(char::is_ascii_lowercase)
        {
            let mut end = i + 2;
            while chars.get(end).is_some_and(char::is_ascii_lowercase) {
                end += 1;
            }
            out.push(c);
            out.push('_');
            out.extend_from_slice(&chars[i + 1..end]);
            i = end;
        } else {
            out.push(c);
            i += 1;
        }
    }
    // _SNAKE_CASE_BREAK_2 = "([a-z0-9])([A-Z])" -> r"\1_\2", then lower()
    let chars = out;
    let mut out: Vec<char> = Vec::with_capacity(chars.len() + 4);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if (c.is_ascii_lowercase() || c.is_ascii_digit())
            && chars.get(i + 1).is_some_and(char::is_ascii_uppercase)
        {
            out.push(c);
            out.push('_');
            out.push(chars[i + 1]);
            i += 2;
        } else {
            out.push(c);
            i += 1;
        }
    }
    // only ASCII letters, decimal digits and `_` are left: lowercasing ASCII is Python's lower() here
    let mut chars: Vec<char> = out.into_iter().map(|c| c.to_ascii_lowercase()).collect();
    // RE_LEADING_DIGITS = ^\d+
    if chars.first().is_some_and(|&c| decimal_digit(c).is_some()) {
        chars.insert(0, '_');
    }
    // each trailing `_` becomes `x`
    let stripped_len = chars.iter().rposition(|&c| c != '_').map_or(0, |p| p + 1);
    for c in &mut chars[stripped_len..] {
        *c = 'x';
    }
    // RE_UNDERSCORES = __+ -> _
    let mut collapsed: Vec<char> = Vec::with_capacity(chars.len());
    for c in chars {
        if c == '_' && collapsed.last() == Some(&'_') {
            continue;
        }
        collapsed.push(c);
    }
    collapsed
}

/// The 6-character tag of an identifier: SHAKE-128 (4 bytes) of `identifier`, base64 without padding,
/// `/`→`a`, `+`→`b`, lowercased (`NamingConvention._compute_tag`).
pub fn compute_tag(identifier: &str) -> String {
    let mut hasher = Shake128::default();
    hasher.update(identifier.as_bytes());
    let mut out = [0u8; TAG_BYTES];
    hasher.finalize_xof().read(&mut out);
    STANDARD_NO_PAD
        .encode(out)
        .chars()
        .map(|c| match c {
            '/' => 'a',
            '+' => 'b',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// `NamingConvention.shorten_identifier`: when `normalized` is longer (in characters) than `max_length`,
/// keeps its head and tail around the tag of `identifier` (29 + 6 + 28 for 63).
pub fn shorten_identifier(normalized: &str, identifier: &str, max_length: usize) -> String {
    shorten_chars(normalized.chars().collect(), identifier, Some(max_length))
}

fn shorten_chars(normalized: Vec<char>, identifier: &str, max_length: Option<usize>) -> String {
    match max_length {
        Some(max) if max > 0 && normalized.len() > max => {
            let tag = compute_tag(identifier);
            let remaining = max.saturating_sub(tag.chars().count());
            let head = remaining / 2 + remaining % 2;
            let tail = remaining / 2;
            let mut out: String = normalized[..head].iter().collect();
            out.push_str(&tag);
            out.extend(&normalized[normalized.len() - tail..]);
            out
        }
        _ => normalized.into_iter().collect(),
    }
}

/// `normalize_table_identifier`: a table, dataset or schema name; the same as [`normalize_identifier`] for
/// snake_case.
pub fn normalize_table_identifier(identifier: &str) -> String {
    normalize_identifier(identifier)
}

/// The dataset (PostgreSQL schema) name dlt uses: `normalize_table_identifier(dataset_name)`, max 63.
pub fn normalize_dataset_name(dataset_name: &str) -> String {
    normalize_table_identifier(dataset_name)
}

/// The staging dataset name: `<dataset>_staging`, normalized (`staging_dataset_name_layout = "%s_staging"`).
pub fn normalize_staging_dataset_name(dataset_name: &str) -> String {
    normalize_table_identifier(&format!("{dataset_name}_staging"))
}

/// A schema name (`normalize_schema_name`): snake_case with the maximum length 64; blank gives `_empty`.
pub fn normalize_schema_name(name: &str) -> String {
    normalize_identifier_max(name, Some(MAX_SCHEMA_NAME_LENGTH))
        .unwrap_or_else(|| EMPTY_KEY_IDENTIFIER.to_owned())
}

/// `make_path`: joins identifiers with `__`, skipping blank ones; neither normalizes nor shortens.
pub fn make_path<S: AsRef<str>>(identifiers: &[S]) -> String {
    identifiers
        .iter()
        .map(AsRef::as_ref)
        .filter(|s| !py_strip(s).is_empty())
        .collect::<Vec<_>>()
        .join(PATH_SEPARATOR)
}

/// `break_path`: splits on `__`, dropping blank parts (`"a____b"` gives `a`, `b`; `"a___b"` gives `a`, `_b`).
pub fn break_path(path: &str) -> Vec<&str> {
    path.split(PATH_SEPARATOR)
        .filter(|s| !py_strip(s).is_empty())
        .collect()
}

/// `normalize_path`: breaks `path` on `__`, normalizes each part, joins them and shortens the whole with a
/// tag from the original `path`. A path of blank parts only (e.g. `"__"`) gives an empty string, as in dlt.
pub fn normalize_path(path: &str) -> String {
    let parts: Vec<String> = break_path(path)
        .into_iter()
        .map(normalize_identifier)
        .collect();
    shorten_identifier(&make_path(&parts), path, MAX_IDENTIFIER_LENGTH)
}

/// `normalize_tables_path`: [`normalize_path`] with table identifiers (identical for snake_case).
pub fn normalize_tables_path(path: &str) -> String {
    let parts: Vec<String> = break_path(path)
        .into_iter()
        .map(normalize_table_identifier)
        .collect();
    shorten_identifier(&make_path(&parts), path, MAX_IDENTIFIER_LENGTH)
}

/// `shorten_fragments`: joins already normalized identifiers with `__` and shortens the whole, the tag
/// computed from the joined path itself. Used for nested table names, flattened columns and variants.
pub fn shorten_fragments<S: AsRef<str>>(fragments: &[S]) -> String {
    let path = make_path(fragments);
    shorten_identifier(&path, &path, MAX_IDENTIFIER_LENGTH)
}

/// How the relational normalizer names a dict key: `_empty` when empty or whitespace only, else
/// [`normalize_path`] (dlt's default `use_break_path_on_normalize`).
pub fn normalize_key(key: &str) -> String {
    if key.chars().all(is_py_space) {
        EMPTY_KEY_IDENTIFIER.to_owned()
    } else {
        normalize_path(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (input, normalize_identifier, normalize_path) computed by dlt 1.31:
    /// ```python
    /// from dlt.common.normalizers.naming.snake_case import NamingConvention as N
    /// n = N(63); [(c, n.normalize_identifier(c), n.normalize_path(c)) for c in cases]
    /// ```
    const CASES: &[(&str, &str, &str)] = &[
        ("Hello World!", "hello_worldx", "hello_worldx"),
        ("camelCase", "camel_case", "camel_case"),
        (
            "CamelCaseHTTPServer",
            "camel_case_http_server",
            "camel_case_http_server",
        ),
        (
            "getHTTPResponseCode",
            "get_http_response_code",
            "get_http_response_code",
        ),
        ("XMLHttpRequest", "xml_http_request", "xml_http_request"),
        ("ABCdef", "ab_cdef", "ab_cdef"),
        ("a1B2c3", "a1_b2c3", "a1_b2c3"),
        ("+-*@|", "x_xal", "x_xal"),
        ("a+b-c*d@e|f", "axb_cxdaelf", "axb_cxdaelf"),
        ("123abc", "_123abc", "_123abc"),
        ("1_", "_1x", "_1x"),
        ("__init__", "_initxx", "init"),
        ("trailing__", "trailingxx", "trailing"),
        ("a__", "axx", "a"),
        ("__", "xx", ""),
        ("_", "x", "x"),
        ("!!!", "x", "x"),
        ("ünïcödé", "_n_c_dx", "_n_c_dx"),
        ("日本語", "x", "x"),
        ("Straße", "stra_e", "stra_e"),
        ("١٢٣abc", "_١٢٣abc", "_١٢٣abc"),
        ("３４", "_３４", "_３４"),
        ("  padded  ", "padded", "padded"),
        ("\u{1f}\u{1c}a\u{1e}", "a", "a"),
        ("a\u{a0}b", "a_b", "a_b"),
        ("a__b", "a_b", "a__b"),
        ("a___b", "a_b", "a___b"),
        ("a____b", "a_b", "a__b"),
        ("Foo__Bar", "foo_bar", "foo__bar"),
        (
            "quote\"s'semi;colon",
            "quote_s_semi_colon",
            "quote_s_semi_colon",
        ),
        ("DROP TABLE x;--", "drop_table_xxxx", "drop_table_xxxx"),
        ("@timestamp", "atimestamp", "atimestamp"),
        ("100%", "_100x", "_100x"),
        ("$price", "_price", "_price"),
        ("İstanbul", "_stanbul", "_stanbul"),
        ("e\u{301}", "ex", "ex"),
        (
            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxuaqhmqxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxuaqhmqxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        ),
        (
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaarl1pjqaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaarl1pjqaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ),
        (
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ),
        (
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaafv1mmaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaafv1mmaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ),
        (
            "1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "_1aaaaaaaaaaaaaaaaaaaaaaaaaaajlch8gaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "_1aaaaaaaaaaaaaaaaaaaaaaaaaaajlch8gaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ),
        (
            "AbCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC",
            "ab_ccccccccccccccccccccccccccqhyf8qcccccccccccccccccccccccccccc",
            "ab_ccccccccccccccccccccccccccqhyf8qcccccccccccccccccccccccccccc",
        ),
        (
            "x__yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy",
            "x_yyyyyyyyyyyyyyyyyyyyyyyyyyy3u6hswyyyyyyyyyyyyyyyyyyyyyyyyyyyy",
            "x__yyyyyyyyyyyyyyyyyyyyyyyyyy3u6hswyyyyyyyyyyyyyyyyyyyyyyyyyyyy",
        ),
    ];

    #[test]
    fn identifiers_match_dlt() {
        for &(input, ident, path) in CASES {
            assert_eq!(
                normalize_identifier(input),
                ident,
                "normalize_identifier({input:?})"
            );
            assert_eq!(normalize_path(input), path, "normalize_path({input:?})");
            assert_eq!(
                normalize_tables_path(input),
                path,
                "normalize_tables_path({input:?})"
            );
        }
        // 'ab' * 100 and 'ÄÖÜ' * 30
        assert_eq!(
            normalize_identifier(&"ab".repeat(100)),
            "ababababababababababababababaycazeqabababababababababababababab"
        );
        assert_eq!(normalize_identifier(&"ÄÖÜ".repeat(30)), "x");
    }

    #[test]
    fn blank_identifiers() {
        assert_eq!(try_normalize_identifier(""), None);
        assert_eq!(try_normalize_identifier(" \t\u{1f}"), None);
        assert_eq!(normalize_identifier("  "), "_empty");
        assert_eq!(normalize_key(""), "_empty");
        assert_eq!(normalize_key(" "), "_empty");
        assert_eq!(normalize_key("a__b"), "a__b");
    }

    /// n.shorten_fragments('a'*40, 'b'*30); n.shorten_fragments('parent_table', 'child',
    /// 'grand_child_with_long_name', 'and_even_longer_name_here'); n.make_path('a', ' ', '', 'b');
    /// n.normalize_path('Very Long Parent Name With Spaces__and a child__AND_GRANDCHILD_NAME_LONG');
    /// n.normalize_tables_path('x'*40+'__'+'y'*40); n.shorten_fragments('c'*60, 'v_double');
    /// normalize_schema_name('My Pipe-Line'), normalize_schema_name('p'*70)
    #[test]
    fn paths_match_dlt() {
        assert_eq!(
            shorten_fragments(&["a".repeat(40), "b".repeat(30)]),
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaa0ssgyqbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
        );
        assert_eq!(
            shorten_fragments(&[
                "parent_table",
                "child",
                "grand_child_with_long_name",
                "and_even_longer_name_here"
            ]),
            "parent_table__child__grand_ch2bpklwe__and_even_longer_name_here"
        );
        assert_eq!(make_path(&["a", " ", "", "b"]), "a__b");
        assert_eq!(
            normalize_path(
                "Very Long Parent Name With Spaces__and a child__AND_GRANDCHILD_NAME_LONG"
            ),
            "very_long_parent_name_with_spbbhqwgld__and_grandchild_name_long"
        );
        assert_eq!(
            normalize_tables_path(&format!("{}__{}", "x".repeat(40), "y".repeat(40))),
            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxn35ruayyyyyyyyyyyyyyyyyyyyyyyyyyyy"
        );
        assert_eq!(shorten_fragments(&["price", "v_text"]), "price__v_text");
        assert_eq!(
            shorten_fragments(&["c".repeat(60), "v_double".to_owned()]),
            "cccccccccccccccccccccccccccccumj0qwcccccccccccccccccc__v_double"
        );
        assert_eq!(normalize_schema_name("My Pipe-Line"), "my_pipe_line");
        assert_eq!(
            normalize_schema_name(&"p".repeat(70)),
            "ppppppppppppppppppppppppppppp6skllwppppppppppppppppppppppppppppp"
        );
        assert_eq!(normalize_dataset_name("My Data Set!"), "my_data_setx");
        assert_eq!(break_path("a___b"), vec!["a", "_b"]);
        let v: Vec<String> = vec!["items".into(), "list".into()];
        assert_eq!(shorten_fragments(&v), "items__list");
    }

    #[test]
    fn decimal_digits() {
        assert_eq!(decimal_digit('7'), Some(7));
        assert_eq!(decimal_digit('٣'), Some(3));
        assert_eq!(decimal_digit('９'), Some(9));
        assert_eq!(decimal_digit('a'), None);
        assert_eq!(decimal_digit('²'), None);
        assert_eq!(decimal_digit('\u{1FBF9}'), Some(9));
        assert_eq!(decimal_digit('\u{1FBFA}'), None);
    }
}
