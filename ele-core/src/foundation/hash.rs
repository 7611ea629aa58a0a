//! dlt's hashes and ids: `digest128` (SHAKE-128), row ids, nested row ids and the incremental dedup hash.
//!
//! Every digest is base64 with the **standard** alphabet (`+`, `/`) and the `=` padding stripped, as
//! `dlt/common/utils.py` does. JSON handed to a hash is rendered the way dlt's default JSON backend (orjson)
//! renders it: compact, UTF-8 (no `\u` escapes above U+001F), floats in orjson's shortest form
//! (`1e+20`, `1e-7`, `0.00001`, `2.0`).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use rand::RngCore as _;
use serde_json::Value;

use super::doc::{JsonRef, Kind};
use sha3::digest::{ExtendableOutput, Update, XofReader};
use sha3::{Digest as _, Sha3_256, Shake128};

/// Bytes in a `_dlt_id` (`DLT_ID_LENGTH_BYTES`): 10 bytes, 14 base64 characters.
pub const DLT_ID_LENGTH_BYTES: usize = 10;
/// Bytes of an incremental dedup hash in dlt ≥ 1.29 (`DEDUP_HASH_BYTES`): 12 base64 characters.
pub const DEDUP_HASH_BYTES: usize = 9;
/// Bytes of an incremental dedup hash written before dlt 1.29: 20 base64 characters.
pub const LEGACY_DEDUP_HASH_BYTES: usize = 15;
/// Length in characters of a legacy (pre-1.29) dedup hash, used to tell the two apart in stored state.
pub const LEGACY_DEDUP_HASH_LEN: usize = 20;

/// SHAKE-128 of `input`, `len_bytes` long, base64 without padding (dlt's `digest128b`).
pub fn digest128_bytes(input: &[u8], len_bytes: usize) -> String {
    let mut hasher = Shake128::default();
    hasher.update(input);
    let mut out = vec![0u8; len_bytes];
    hasher.finalize_xof().read(&mut out);
    STANDARD_NO_PAD.encode(out)
}

/// SHAKE-128 of the UTF-8 of `input`, `len_bytes` long, base64 without padding (dlt's `digest128`).
pub fn digest128(input: &str, len_bytes: usize) -> String {
    digest128_bytes(input.as_bytes(), len_bytes)
}

/// SHA3-256 of the UTF-8 of `input`, base64 **with** padding (dlt's `digest256`, e.g. schema version hashes).
pub fn digest256(input: &str) -> String {
    STANDARD.encode(Sha3_256::digest(input.as_bytes()))
}

/// A random root-row `_dlt_id`: 10 random bytes, base64 (standard alphabet) without padding, 14 characters
/// (dlt's `generate_dlt_id`).
pub fn random_row_id() -> String {
    let mut bytes = [0u8; DLT_ID_LENGTH_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    STANDARD_NO_PAD.encode(bytes)
}

/// The deterministic `_dlt_id` of a nested row: `digest128("<parent>_<table>_<idx>", 10)`
/// (dlt's `get_nested_row_hash`).
pub fn nested_row_id(parent_row_id: &str, table_name: &str, list_idx: usize) -> String {
    // The same bytes as `format!("{parent}_{table}_{idx}")`, fed in pieces (no string per row).
    let mut hasher = Shake128::default();
    hasher.update(parent_row_id.as_bytes());
    hasher.update(b"_");
    hasher.update(table_name.as_bytes());
    hasher.update(b"_");
    let mut digits = [0u8; 20];
    let mut pos = digits.len();
    let mut n = list_idx;
    loop {
        pos -= 1;
        digits[pos] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    hasher.update(&digits[pos..]);
    let mut out = [0u8; DLT_ID_LENGTH_BYTES];
    hasher.finalize_xof().read(&mut out);
    STANDARD_NO_PAD.encode(out)
}

/// dlt's `get_row_hash`: `digest128b` (10 bytes) over the compact, key-sorted JSON of `row`.
///
/// For the `key_hash` row id (upsert, insert-only) pass an object holding only the normalized primary key
/// columns of the flattened row; for `row_hash` (scd2) pass the unflattened item without its top-level
/// `_dlt*` keys.
pub fn row_hash(row: &Value) -> String {
    digest128(&dumps_sorted(row), DLT_ID_LENGTH_BYTES)
}

/// The scd2 row version of an item (dlt's `row_hash` row id): [`row_hash`] of the unflattened item without its
/// top-level `_dlt*` keys, computed without copying the item.
pub fn item_version_hash(item: &serde_json::Map<String, Value>) -> String {
    item_version_hash_of(item.iter().map(|(k, v)| (k.as_str(), JsonRef::Value(v))))
}

/// [`item_version_hash`] of an item given as its top-level entries (of a `Value` or a document).
pub fn item_version_hash_of<'v>(entries: impl Iterator<Item = (&'v str, JsonRef<'v>)>) -> String {
    let mut entries: Vec<(&str, JsonRef<'_>)> =
        entries.filter(|(k, _)| !k.starts_with("_dlt")).collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    with_text(|out| {
        out.push('{');
        for (i, (k, v)) in entries.into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_json_string(out, k);
            out.push(':');
            write_json(out, v, true);
        }
        out.push('}');
        digest128(out, DLT_ID_LENGTH_BYTES)
    })
}

/// Runs `f` with an empty buffer of this thread (items are hashed by the million: the buffer is reused).
fn with_text<T>(f: impl FnOnce(&mut String) -> T) -> T {
    thread_local! {
        static TEXT: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    TEXT.with_borrow_mut(|out| {
        out.clear();
        let result = f(out);
        if out.capacity() > 1 << 20 {
            // A huge item's buffer is not kept.
            *out = String::new();
        }
        result
    })
}

/// The incremental dedup hash of dlt 1.31 (`digest_dedup_value`): compact key-sorted JSON of `value`, then
/// `digest128` with 9 bytes (12 characters). `value` is the primary key value (a list of values for a
/// compound key) or the whole row when the key is `None`.
pub fn unique_value_hash(value: &Value) -> String {
    digest128(&dumps_sorted(value), DEDUP_HASH_BYTES)
}

/// [`unique_value_hash`] of a value or a document node, without copying it.
pub fn unique_value_hash_ref(value: JsonRef<'_>) -> String {
    with_text(|out| {
        write_json(out, value, true);
        digest128(out, DEDUP_HASH_BYTES)
    })
}

/// The dedup hash written before dlt 1.29 (`digest_dedup_value(legacy=True)`): the same JSON, 15 bytes
/// (20 characters). The 9-byte hash is a prefix of it. Only differs for datetimes, which JSON input has not.
pub fn unique_value_hash_legacy(value: &Value) -> String {
    digest128(&dumps_sorted(value), LEGACY_DEDUP_HASH_BYTES)
}

/// Whether stored dedup hashes were written before dlt 1.29 (`has_legacy_dedup_hashes`).
pub fn has_legacy_dedup_hashes<S: AsRef<str>>(hashes: &[S]) -> bool {
    hashes
        .iter()
        .any(|h| h.as_ref().chars().count() == LEGACY_DEDUP_HASH_LEN)
}

/// Compact JSON with object keys sorted (recursively) by code point, as `orjson.dumps(.., OPT_SORT_KEYS)`.
pub fn dumps_sorted(value: &Value) -> String {
    let mut out = String::new();
    write_json(&mut out, JsonRef::Value(value), true);
    out
}

/// Compact JSON in the value's own key order, as `orjson.dumps` (dlt's `json.dumps`).
pub fn dumps(value: &Value) -> String {
    dumps_ref(JsonRef::Value(value))
}

/// [`dumps`] of a value or a document node.
pub fn dumps_ref(value: JsonRef<'_>) -> String {
    let mut out = String::new();
    write_json(&mut out, value, false);
    out
}

fn write_json(out: &mut String, value: JsonRef<'_>, sort_keys: bool) {
    match value.kind() {
        Kind::Null => out.push_str("null"),
        Kind::Bool(true) => out.push_str("true"),
        Kind::Bool(false) => out.push_str("false"),
        Kind::Number(n) => {
            if is_plain_integer(n.as_str()) {
                // Already as `i64` prints it (no sign but `-`, no leading zero, not `-0`, at most 18 digits).
                out.push_str(n.as_str());
            } else if let Some(i) = n.as_i64() {
                out.push_str(&i.to_string());
            } else if let Some(u) = n.as_u64() {
                out.push_str(&u.to_string());
            } else if let Some(f) = n.as_f64() {
                out.push_str(&orjson_float(f));
            } else {
                out.push_str(n.as_str());
            }
        }
        Kind::String(s) => write_json_string(out, s),
        Kind::Array(items) => {
            out.push('[');
            for (i, item) in items.enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, item, sort_keys);
            }
            out.push(']');
        }
        Kind::Object(map) => {
            let mut entries: Vec<(&str, JsonRef<'_>)> = map.collect();
            if sort_keys {
                entries.sort_by(|a, b| a.0.cmp(b.0));
            }
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(out, k);
                out.push(':');
                write_json(out, v, sort_keys);
            }
            out.push('}');
        }
    }
}

/// A JSON string literal escaped like orjson: `"`, `\`, and control characters below U+0020 only.
fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    // Runs of characters written as they are go in one piece; only ASCII bytes are ever escaped, so every
    // split falls on a character boundary.
    let bytes = s.as_bytes();
    let mut start = 0;
    // Eight bytes at a time up to the first that may need escaping.
    let mut from = 0;
    while let Some(chunk) = bytes.get(from..from + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        if needs_escape(u64::from_le_bytes(word)) {
            break;
        }
        from += 8;
    }
    for (i, &b) in bytes.iter().enumerate().skip(from) {
        let escaped = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            b'\t' => "\\t",
            b'\n' => "\\n",
            0x0c => "\\f",
            b'\r' => "\\r",
            b if b < 0x20 => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escaped.is_empty() {
            out.push_str(&format!("\\u{:04x}", b));
        } else {
            out.push_str(escaped);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Whether one of the eight bytes of `word` is `"`, `\` or below 0x20 (the classic "has a zero byte" test:
/// exact about whether any byte is one).
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH != 0;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGH != 0;
    below_space
        || has_zero(word ^ (ONES * u64::from(b'"')))
        || has_zero(word ^ (ONES * u64::from(b'\\')))
}

/// Whether `text` is an integer written as `i64`'s `Display` writes it: optional `-`, digits without a
/// leading zero (`0` alone is one), not `-0`, and short enough (18 digits) to be in range.
fn is_plain_integer(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text).as_bytes();
    match digits {
        [] => false,
        [b'0'] => digits.len() == text.len(),
        [first, ..] => {
            *first != b'0' && digits.len() <= 18 && digits.iter().all(u8::is_ascii_digit)
        }
    }
}

/// Shortest round-trip digits of a finite `f` and its decimal exponent (`f = d.ddd × 10^exp`), ties between
/// two shortest candidates broken to even as Python's `repr` and orjson do.
pub(crate) fn shortest_digits(f: f64) -> (bool, String, i32) {
    fn split(s: &str) -> (String, i32) {
        let (mantissa, exp) = s.split_once('e').unwrap_or((s, "0"));
        (
            mantissa.chars().filter(char::is_ascii_digit).collect(),
            exp.parse().unwrap_or(0),
        )
    }
    let a = f.abs();
    let (digits, exp) = split(&format!("{a:e}"));
    // Rust's shortest form breaks exact ties upwards; the exact (round-half-even) form with as many digits
    // is the same string except on such a tie, and is taken whenever it still reads back as `a`.
    let exact = format!("{a:.*e}", digits.len().saturating_sub(1));
    let (digits, exp) = if exact.parse::<f64>() == Ok(a) {
        split(&exact)
    } else {
        (digits, exp)
    };
    (f.is_sign_negative(), digits, exp)
}

/// A float the way orjson writes it: `2.0`, `1.5`, `1e+20`, `1.234e+16`, `1e-7`, `0.00001`, `-0.0`.
pub fn orjson_float(f: f64) -> String {
    if !f.is_finite() {
        // orjson writes non-finite floats as null
        return "null".to_owned();
    }
    let (negative, digits, exp) = shortest_digits(f);
    let n = digits.len() as i32;
    let kk = exp + 1; // position of the decimal point relative to the first digit
    let k = kk - n; // exponent of the last digit
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if 0 <= k && kk <= 16 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', k as usize));
        out.push_str(".0");
    } else if 0 < kk && kk <= 16 {
        out.push_str(&digits[..kk as usize]);
        out.push('.');
        out.push_str(&digits[kk as usize..]);
    } else if -5 < kk && kk <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-kk) as usize));
        out.push_str(&digits);
    } else {
        out.push_str(&digits[..1]);
        if n > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        if exp >= 0 {
            out.push('+');
        }
        out.push_str(&exp.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // Expected values from dlt 1.31 (Python):
    // from dlt.common.utils import digest128
    // print(digest128('hello'), digest128('hello',10), digest128('',15), digest128('zażółć',6))
    #[test]
    fn digest128_matches_dlt() {
        assert_eq!(digest128("hello", 15), "jrS2qTLygDNe4aJ5+MII");
        assert_eq!(digest128("hello", 10), "jrS2qTLygDNe4Q");
        assert_eq!(digest128("", 15), "f5wrpOiPgn1hYEVQdgWF");
        assert_eq!(digest128("zażółć", 6), "/TM37jmT");
    }

    // from dlt.common.normalizers.json.helpers import get_nested_row_hash
    // get_nested_row_hash('S7/wD+fx47N5ew','items__list',0), get_nested_row_hash('abc','t__c',12)
    #[test]
    fn nested_row_id_matches_dlt() {
        assert_eq!(
            nested_row_id("S7/wD+fx47N5ew", "items__list", 0),
            "bUE7q/MGkeCWBg"
        );
        assert_eq!(nested_row_id("abc", "t__c", 12), "scclq0KBkpEvMA");
    }

    // from dlt.common.normalizers.json.helpers import get_row_hash
    // get_row_hash({'id':1,'name':'a'}, subset=['id']) -> 'z5jIxXIbUnmbKw' (also seen as the upsert _dlt_id)
    // get_row_hash({'id':1,'_dlt_id':'x','name':'a'}) (drops _dlt* keys) -> 'swX5JrcV4/PVUA'
    #[test]
    fn row_hash_matches_dlt() {
        assert_eq!(row_hash(&json!({"id": 1})), "z5jIxXIbUnmbKw");
        assert_eq!(row_hash(&json!({"name": "a", "id": 1})), "swX5JrcV4/PVUA");
    }

    #[test]
    fn random_row_id_shape() {
        let id = random_row_id();
        assert_eq!(id.len(), 14);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/')
        );
        assert_ne!(random_row_id(), random_row_id());
    }

    // from dlt.extract.utils import digest_dedup_value; from dlt.common.json import json
    // for v in vals: print(json.dumps(v, sort_keys=True), digest_dedup_value(v), digest_dedup_value(v, legacy=True))
    #[test]
    fn unique_value_hash_matches_dlt() {
        let cases: Vec<(Value, &str, &str, &str)> = vec![
            (json!(1), "1", "669czW83KR00", "669czW83KR00ut4bv/U5"),
            (json!("a"), "\"a\"", "HXVczKyPrzLo", "HXVczKyPrzLoPDkJtIV8"),
            (
                json!([1, "x"]),
                "[1,\"x\"]",
                "T2u7rnGEfmXm",
                "T2u7rnGEfmXm0tVkRBws",
            ),
            (
                json!({"b": 1, "a": [1.5, null, true]}),
                "{\"a\":[1.5,null,true],\"b\":1}",
                "av8YIigVXWJE",
                "av8YIigVXWJEf+ahC6Us",
            ),
            (
                json!({"id": 1, "ts": "2024-01-01T00:00:00Z", "é": "ü\n"}),
                "{\"id\":1,\"ts\":\"2024-01-01T00:00:00Z\",\"é\":\"ü\\n\"}",
                "IaQQNTUlOel1",
                "IaQQNTUlOel1YQT7g3u0",
            ),
            (json!(1e20), "1e+20", "UCqNvpuFWsvh", "UCqNvpuFWsvhEJwlxvqZ"),
            (json!(2.0), "2.0", "gWfO7sS/qPts", "gWfO7sS/qPts2I3W1dyI"),
            (json!(1e-7), "1e-7", "C6VOC+PwCccD", "C6VOC+PwCccDptkHpFNG"),
            (
                json!(0.00001),
                "0.00001",
                "oY0SHcDCiob2",
                "oY0SHcDCiob2+ZDgH07d",
            ),
            (json!(-0.0), "-0.0", "Tzo4CoCuMHp8", "Tzo4CoCuMHp8ilSyc5Im"),
            (
                json!(12345678901234567890u64),
                "12345678901234567890",
                "Cm/8sREve6fa",
                "Cm/8sREve6faf8fSAkwg",
            ),
            (json!(-5), "-5", "YKLpbTNFWBCZ", "YKLpbTNFWBCZ/yw6brY/"),
            (
                json!({"z": {"y": 1, "x": 2}}),
                "{\"z\":{\"x\":2,\"y\":1}}",
                "FeOYf/nD8FwI",
                "FeOYf/nD8FwI/XYKUl8A",
            ),
            (Value::Null, "null", "KtLhiM3tliLb", "KtLhiM3tliLbJ+hWaj3s"),
            (
                json!(false),
                "false",
                "z7kb3NcFWLXr",
                "z7kb3NcFWLXrrPXWZ5W0",
            ),
            (json!(""), "\"\"", "bd0H2eAFLX4Z", "bd0H2eAFLX4ZcalQ9Ip/"),
        ];
        for (value, rendered, hash, legacy) in cases {
            assert_eq!(dumps_sorted(&value), rendered, "{value}");
            assert_eq!(unique_value_hash(&value), hash, "{value}");
            assert_eq!(
                unique_value_hash_ref(JsonRef::Value(&value)),
                hash,
                "{value}"
            );
            let mut doc = crate::foundation::doc::Doc::new();
            doc.parse_json(value.to_string().as_bytes())
                .expect("parses");
            assert_eq!(unique_value_hash_ref(doc.root()), hash, "{value}");
            assert_eq!(unique_value_hash_legacy(&value), legacy, "{value}");
        }
        assert!(has_legacy_dedup_hashes(&["IaQQNTUlOel1YQT7g3u0"]));
        assert!(!has_legacy_dedup_hashes(&["IaQQNTUlOel1"]));
    }

    // import orjson; orjson.dumps(v) for each float, and
    // orjson.dumps({'b':'\u00e9\x01\x1f\x7f/"\\\u2028','a':[1,{'z':1,'y':None}],'A':True}, option=orjson.OPT_SORT_KEYS)
    // orjson.dumps({'é':1,'e':2,'Z':3,'\U0001F600':4,'\uffff':5}, option=orjson.OPT_SORT_KEYS)
    #[test]
    fn json_rendering_matches_orjson() {
        let floats = [
            (1.5, "1.5"),
            (1e20, "1e+20"),
            (2.0, "2.0"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1.2345678901234568e17, "1.2345678901234568e+17"),
            (1e-7, "1e-7"),
            (0.0001, "0.0001"),
            (1e-5, "0.00001"),
            (1e-6, "1e-6"),
            (1.5e-6, "1.5e-6"),
            (1.5e-5, "0.000015"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (0.30000000000000004, "0.30000000000000004"),
            (12345678.9, "12345678.9"),
            (3.0e10, "30000000000.0"),
            (1.234e16, "1.234e+16"),
            (9999999999999998.0, "9999999999999998.0"),
            (123456789012345.6, "123456789012345.6"),
            (1234567890123456.8, "1234567890123456.8"),
            (2.5e-10, "2.5e-10"),
            (-12.25, "-12.25"),
            (109513494626360.62, "109513494626360.62"),
        ];
        for (f, s) in floats {
            assert_eq!(orjson_float(f), s, "{f:e}");
        }
        let v = json!({"b": "é\u{1}\u{1f}\u{7f}/\"\\\u{2028}\u{8}\t\n\u{c}\r", "a": [1, {"z": 1, "y": null}], "A": true});
        assert_eq!(
            dumps_sorted(&v),
            "{\"A\":true,\"a\":[1,{\"y\":null,\"z\":1}],\"b\":\"é\\u0001\\u001f\u{7f}/\\\"\\\\\u{2028}\\b\\t\\n\\f\\r\"}"
        );
        let v = json!({"é": 1, "e": 2, "Z": 3, "\u{1F600}": 4, "\u{ffff}": 5});
        assert_eq!(
            dumps_sorted(&v),
            "{\"Z\":3,\"e\":2,\"é\":1,\"\u{ffff}\":5,\"\u{1F600}\":4}"
        );
        assert_eq!(dumps(&json!({"b": 1, "a": 2})), "{\"b\":1,\"a\":2}");
    }

    #[test]
    fn strings_are_escaped_wherever_the_character_is() {
        for special in ['"', '\\', '\u{0}', '\u{1f}', '\n', 'é', '\u{7f}', ' '] {
            for at in 0..20 {
                let text: String = (0..20)
                    .map(|i| if i == at { special } else { 'a' })
                    .collect();
                let mut out = String::new();
                write_json_string(&mut out, &text);
                assert_eq!(
                    out,
                    serde_json::to_string(&text).expect("serializes"),
                    "{text:?}"
                );
            }
        }
    }

    #[test]
    fn integers_are_written_as_i64_writes_them() {
        for text in [
            "0",
            "-0",
            "7",
            "-12",
            "007",
            "-",
            "",
            "1e5",
            "1.0",
            "123456789012345678",
        ] {
            let plain = is_plain_integer(text);
            let expected = text.parse::<i64>().is_ok_and(|i| i.to_string() == text);
            assert_eq!(plain, expected && text.len() <= 19, "{text}");
        }
        assert!(!is_plain_integer("9223372036854775807"));
        let doc = |text: &str| {
            let mut doc = crate::foundation::doc::Doc::new();
            doc.parse_json(text.as_bytes()).expect("parses");
            doc
        };
        let d = doc(r#"{"b": -0, "a": [0, -5, 12345678901234567890, 9223372036854775807, 1.0]}"#);
        assert_eq!(
            dumps_ref(d.root()),
            "{\"b\":0,\"a\":[0,-5,12345678901234567890,9223372036854775807,1.0]}"
        );
    }

    #[test]
    fn digest256_is_padded_base64() {
        let d = digest256("abc");
        assert_eq!(d.len(), 44);
        assert!(d.ends_with('='));
    }
}
