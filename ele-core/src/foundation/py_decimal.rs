//! Exact decimal numbers as dlt reads them (Python's `Decimal`), without going through a float: the text of a
//! JSON number or a string becomes plain decimal text (`-123.4500`, no exponent) that PostgreSQL's `numeric`
//! takes digit for digit.

use super::py_number::parse_py_int;
use super::py_str::py_strip;

/// The most digits a plain decimal may have: PostgreSQL's `numeric(p,s)` allows `p <= 1000`, so anything longer
/// cannot be stored in a decimal column anyway (it goes to a variant column).
const MAX_PLAIN_DIGITS: usize = 2000;

/// The parts of a finite decimal: sign, its digits (no leading zeros), and the power of ten of the last digit.
#[derive(Debug, PartialEq, Eq)]
struct Parts {
    negative: bool,
    digits: String,
    exponent: i64,
}

/// Python's `Decimal(s)` syntax for finite numbers: surrounding whitespace, a sign, digits with single
/// underscores between them, an optional fraction, an optional exponent. `None` for NaN, infinities and text
/// that is not a number.
fn parse_parts(s: &str) -> Option<Parts> {
    let t = py_strip(s);
    let (negative, rest) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let (mantissa, exp) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let (int_part, frac_part) = match mantissa.find('.') {
        Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
        None => (mantissa, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let mut digits = String::with_capacity(int_part.len() + frac_part.len());
    let mut frac_digits = 0i64;
    for (part, is_frac) in [(int_part, false), (frac_part, true)] {
        let mut prev_underscore = true;
        for c in part.chars() {
            match c {
                '0'..='9' => {
                    digits.push(c);
                    prev_underscore = false;
                    if is_frac {
                        frac_digits += 1;
                    }
                }
                '_' if !prev_underscore => prev_underscore = true,
                _ => return None,
            }
        }
        if prev_underscore && !part.is_empty() {
            return None;
        }
    }
    let exponent = match exp {
        None => 0,
        Some(e) => {
            let v = parse_py_int(e, 10)?;
            i64::try_from(v).ok()?
        }
    };
    let digits = digits.trim_start_matches('0').to_owned();
    Some(Parts {
        negative,
        digits,
        exponent: exponent.checked_sub(frac_digits)?,
    })
}

/// `parts` as plain text: `-0.0450`, `1200`, `0`; `None` when it would be longer than PostgreSQL can store.
fn plain(parts: &Parts) -> Option<String> {
    let Parts {
        negative,
        digits,
        exponent,
    } = parts;
    let len = i64::try_from(digits.len()).ok()?;
    let width = if *exponent >= 0 {
        len + exponent
    } else {
        len.max(-exponent) + 1
    };
    if width > MAX_PLAIN_DIGITS as i64 {
        return None;
    }
    let mut out = String::with_capacity(width as usize + 2);
    if *negative && !digits.is_empty() {
        out.push('-');
    }
    if digits.is_empty() {
        out.push('0');
        if *exponent < 0 {
            out.push('.');
            out.extend(std::iter::repeat_n('0', (-exponent) as usize));
        }
    } else if *exponent >= 0 {
        out.push_str(digits);
        out.extend(std::iter::repeat_n('0', *exponent as usize));
    } else {
        let point = len + exponent;
        if point > 0 {
            out.push_str(&digits[..point as usize]);
            out.push('.');
            out.push_str(&digits[point as usize..]);
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-point) as usize));
            out.push_str(digits);
        }
    }
    Some(out)
}

/// dlt's `_text_to_decimal` (and `_text_to_wei`): strip, `0x…` as a hexadecimal integer, else Python's
/// `Decimal()`; as plain decimal text. `None` when dlt would write a variant column, and (deliberately) for NaN
/// and infinities, which a `numeric(p,s)` column cannot hold.
pub fn text_to_decimal(s: &str) -> Option<String> {
    let t = py_strip(s);
    if let Some(hex) = t.strip_prefix("0x") {
        return Some(parse_py_int(hex, 16)?.to_string());
    }
    plain(&parse_parts(t)?)
}

/// The exact value of a JSON number's text (its digits as written: `0.1` is 0.1, not the float nearest to it) as
/// plain decimal text; `None` when it is too long for PostgreSQL.
pub fn number_text_to_decimal(text: &str) -> Option<String> {
    plain(&parse_parts(text)?)
}

/// Whether the decimal text `a` and `b` spell the same number (`1.50` and `1.5`, `1e2` and `100.0`).
pub fn same_decimal(a: &str, b: &str) -> bool {
    match (parse_parts(a), parse_parts(b)) {
        (Some(x), Some(y)) => normalized(x) == normalized(y),
        _ => false,
    }
}

/// A JSON number as ele keeps it: an integer in the 64-bit range as that integer (`-0` is 0, as Python reads
/// it), a float that `f64` holds exactly as written (`1.50`, `1e2`) as that float (as `serde_json` writes it),
/// and any other number (more digits than a float holds, an integer beyond 64 bits) with all its digits, so a
/// decimal column gets them unrounded. Every number reads as the same `f64` as before. `None` for a float
/// beyond `f64`'s range (`1e400`), which is not valid JSON for ele.
pub fn canonical_json_number(text: &str) -> Option<serde_json::Number> {
    let integer = !text.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'));
    if integer {
        if let Ok(i) = text.parse::<i64>() {
            return Some(i.into());
        }
        if let Ok(u) = text.parse::<u64>() {
            return Some(u.into());
        }
    }
    let f: f64 = text.parse().ok()?;
    if !f.is_finite() {
        return None;
    }
    let float = serde_json::Number::from_f64(f)?;
    if !integer && same_decimal(text, &float.to_string()) {
        return Some(float);
    }
    text.parse().ok()
}

/// Trailing zeros moved into the exponent; zero has no sign.
fn normalized(mut p: Parts) -> Parts {
    let trimmed = p.digits.trim_end_matches('0').len();
    p.exponent += (p.digits.len() - trimmed) as i64;
    p.digits.truncate(trimmed);
    if p.digits.is_empty() {
        p.negative = false;
        p.exponent = 0;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_as_python_reads_them() {
        let d = |s: &str| text_to_decimal(s);
        assert_eq!(d("12.345").as_deref(), Some("12.345"));
        assert_eq!(d(" 1e3 ").as_deref(), Some("1000"));
        assert_eq!(d("0x1F").as_deref(), Some("31"));
        assert_eq!(d("1_000").as_deref(), Some("1000"));
        assert_eq!(d("-0.0450").as_deref(), Some("-0.0450"));
        assert_eq!(d("+.5").as_deref(), Some("0.5"));
        assert_eq!(d("5.").as_deref(), Some("5"));
        assert_eq!(d("1.5E-3").as_deref(), Some("0.0015"));
        assert_eq!(d("-0").as_deref(), Some("0"));
        assert_eq!(d("0.000").as_deref(), Some("0.000"));
        assert_eq!(
            d("123456789012345678901234567890.123456789012345678901").as_deref(),
            Some("123456789012345678901234567890.123456789012345678901")
        );
        for bad in [
            "abc", "NaN", "Infinity", "-inf", "", ".", "1__0", "_1", "1_", "1e", "1.2.3", "0X1F",
        ] {
            assert_eq!(d(bad), None, "{bad}");
        }
        assert_eq!(d("1e5000"), None);
        assert!(same_decimal("1.50", "1.5"));
        assert!(same_decimal("1e2", "100.0"));
        assert!(same_decimal("-0.0", "0"));
        assert!(!same_decimal("0.1", "0.1000000000000000055511151231257827"));
        let canonical = |s: &str| canonical_json_number(s).map(|n| n.to_string());
        assert_eq!(canonical("-0").as_deref(), Some("0"));
        assert_eq!(canonical("1.50").as_deref(), Some("1.5"));
        assert_eq!(canonical("-0e1").as_deref(), Some("-0.0"));
        assert_eq!(canonical("1e2").as_deref(), Some("100.0"));
        assert_eq!(
            canonical("18446744073709551615").as_deref(),
            Some("18446744073709551615")
        );
        assert_eq!(
            canonical("0.12345678901234567890123").as_deref(),
            Some("0.12345678901234567890123")
        );
        assert_eq!(
            canonical("123456789012345678901234567890").as_deref(),
            Some("123456789012345678901234567890")
        );
        assert_eq!(canonical("1e400"), None);
    }
}
