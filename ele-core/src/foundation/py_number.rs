//! Python-compatible number parsing and rendering: `float(str)`, `int(str, base)`, `repr(float)` and dlt's
//! text → number helpers built on them.

use super::py_str::{decimal_digit, is_py_space, py_strip};

/// Python's `_PyUnicode_TransformDecimalAndSpaceToASCII` then the strip `float()`/`int()` do: non-ASCII
/// whitespace to spaces, Unicode decimal digits to ASCII, `None` for any other character from U+007F; then
/// ASCII whitespace (`\t`..`\r`, space) trimmed.
fn to_py_ascii(s: &str) -> Option<String> {
    let ascii: String = s
        .chars()
        .map(|c| {
            if (c as u32) < 127 {
                Some(c)
            } else if is_py_space(c) {
                Some(' ')
            } else {
                decimal_digit(c).and_then(|d| char::from_digit(d, 10))
            }
        })
        .collect::<Option<String>>()?;
    Some(
        ascii
            .trim_matches(|c: char| c == ' ' || ('\t'..='\r').contains(&c))
            .to_owned(),
    )
}

/// Python's `float(str)`: surrounding whitespace, Unicode digits, `_` between digits, `inf`/`infinity`/`nan`.
/// Overflow gives an infinity, as in Python.
pub fn parse_py_float(s: &str) -> Option<f64> {
    let t = to_py_ascii(s)?;
    let cleaned = remove_digit_underscores(&t)?;
    let body = cleaned.strip_prefix(['+', '-']).unwrap_or(&cleaned);
    let lower = body.to_ascii_lowercase();
    if matches!(lower.as_str(), "inf" | "infinity" | "nan") {
        return cleaned.parse::<f64>().ok();
    }
    // digits [. digits] [e [sign] digits], at least one mantissa digit
    let bytes = body.as_bytes();
    let int_digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    let mut i = int_digits;
    let mut frac_digits = 0;
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        i += frac_digits;
    }
    if int_digits + frac_digits == 0 {
        return None;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        if exp_digits == 0 {
            return None;
        }
        i += exp_digits;
    }
    if i != bytes.len() {
        return None;
    }
    cleaned.parse::<f64>().ok()
}

/// Drops `_` that stand between two digits (Python's numeric literal rule); `None` for any other `_`.
fn remove_digit_underscores(s: &str) -> Option<String> {
    if !s.contains('_') {
        return Some(s.to_owned());
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    for (i, &c) in chars.iter().enumerate() {
        if c == '_' {
            let before = i
                .checked_sub(1)
                .and_then(|j| chars.get(j))
                .is_some_and(char::is_ascii_digit);
            let after = chars.get(i + 1).is_some_and(char::is_ascii_digit);
            if !(before && after) {
                return None;
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// Python's `int(s, base)` for base 10 or 16 (whitespace, sign, `0x` prefix in base 16 with one optional `_`
/// after it, `_` between digits, Unicode decimal digits), as an `i128`; `None` when Python raises or the value
/// needs more than 127 bits.
pub(crate) fn parse_py_int(s: &str, base: u32) -> Option<i128> {
    let t = to_py_ascii(s)?;
    let (negative, rest) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(&t)),
    };
    let mut body = rest;
    if base == 16
        && let Some(r) = rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X"))
    {
        body = r.strip_prefix('_').unwrap_or(r);
    }
    if body.is_empty() || body.starts_with('_') {
        return None;
    }
    let mut value: i128 = 0;
    let mut prev_underscore = false;
    for c in body.chars() {
        if c == '_' {
            if prev_underscore {
                return None;
            }
            prev_underscore = true;
            continue;
        }
        let d = c.to_digit(base)?;
        value = value
            .checked_mul(i128::from(base))?
            .checked_add(i128::from(d))?;
        prev_underscore = false;
    }
    if prev_underscore {
        return None;
    }
    Some(if negative { -value } else { value })
}

/// dlt's `_text_to_bigint`: strip, `0x…` as hexadecimal, else Python `int()`; `None` outside `i64`.
pub fn text_to_bigint(s: &str) -> Option<i64> {
    let t = py_strip(s);
    let v = match t.strip_prefix("0x") {
        Some(hex) => parse_py_int(hex, 16)?,
        None => parse_py_int(t, 10)?,
    };
    i64::try_from(v).ok()
}

/// dlt's `_text_to_double`: strip, `0x…` as hexadecimal integer, else Python `float()`.
pub fn text_to_double(s: &str) -> Option<f64> {
    let t = py_strip(s);
    match t.strip_prefix("0x") {
        Some(hex) => Some(parse_py_int(hex, 16)? as f64),
        None => parse_py_float(t),
    }
}

/// dlt's `str2bool`.
pub fn str2bool(s: &str) -> Option<bool> {
    match s.to_lowercase().as_str() {
        "yes" | "true" | "t" | "y" | "1" => Some(true),
        "no" | "false" | "f" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// Python's `repr(float)`: `1.5`, `2.0`, `1e+20`, `1e+16`, `1000000000000000.0`, `0.0001`, `1e-05`, `inf`.
pub fn python_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "inf".to_owned()
        } else {
            "-inf".to_owned()
        };
    }
    let (negative, digits, exp) = crate::foundation::hash::shortest_digits(f);
    let n = digits.len() as i32;
    let decpt = exp + 1;
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if -4 < decpt && decpt <= 16 {
        if decpt <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-decpt) as usize));
            out.push_str(&digits);
        } else if decpt >= n {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', (decpt - n) as usize));
            out.push_str(".0");
        } else {
            out.push_str(&digits[..decpt as usize]);
            out.push('.');
            out.push_str(&digits[decpt as usize..]);
        }
    } else {
        out.push_str(&digits[..1]);
        if n > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.abs()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `repr(v)` in Python.
    #[test]
    fn float_repr() {
        for (f, s) in [
            (1.5, "1.5"),
            (1e20, "1e+20"),
            (2.0, "2.0"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1e-7, "1e-07"),
            (-0.0, "-0.0"),
            (0.1, "0.1"),
            (1.2345678901234568e17, "1.2345678901234568e+17"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (123456789012345.6, "123456789012345.6"),
            (12345.678, "12345.678"),
        ] {
            assert_eq!(python_float_repr(f), s, "{f:e}");
        }
    }

    #[test]
    fn python_numbers() {
        assert_eq!(parse_py_float(" 12 "), Some(12.0));
        assert_eq!(parse_py_float("1_000.5"), Some(1000.5));
        assert_eq!(parse_py_float(".5"), Some(0.5));
        assert_eq!(parse_py_float("5."), Some(5.0));
        assert_eq!(parse_py_float("+1.5e3"), Some(1500.0));
        assert_eq!(parse_py_float("-iNF"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_py_float("1e400"), Some(f64::INFINITY));
        assert_eq!(parse_py_float("١_٢"), Some(12.0));
        assert_eq!(parse_py_float("\u{3000} 5 "), Some(5.0));
        assert_eq!(parse_py_float("\u{85}5"), Some(5.0));
        assert_eq!(parse_py_float("1e1_0"), Some(1e10));
        for bad in [
            "", " ", "_1", "1_", "1__0", "1e", "e5", ".", "0x10", "1.0.0", "1 2", "5\u{1c}", "1_e5",
        ] {
            assert_eq!(parse_py_float(bad), None, "{bad:?}");
        }
        assert_eq!(parse_py_int("0x_1f", 16), Some(31));
        assert_eq!(parse_py_int(" -1f ", 16), Some(-31));
        assert_eq!(parse_py_int("1_0", 10), Some(10));
        assert_eq!(parse_py_int("٣", 10), Some(3));
        for bad in ["", "_1", "1_", "1__0", "0x", "1f"] {
            assert_eq!(parse_py_int(bad, 10), None, "{bad:?}");
        }
        assert_eq!(parse_py_int("0x", 16), None);
        assert_eq!(parse_py_int("0x_", 16), None);
        assert_eq!(parse_py_int("0x__1", 16), None);
        assert_eq!(parse_py_int("0X1F", 16), Some(31));
        assert_eq!(parse_py_int("-0x1f", 16), Some(-31));
        assert_eq!(parse_py_int("1f", 16), Some(31));
        // dlt's `_text_to_bigint`: only a lowercase `0x` after stripping switches to base 16
        assert_eq!(text_to_bigint("\u{1c} 0x1f "), Some(31));
        assert_eq!(text_to_bigint("-0x1f"), None);
    }
}
