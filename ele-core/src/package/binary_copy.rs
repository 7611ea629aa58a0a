//! The binary job format: rows as the tuples of PostgreSQL's binary `COPY`, so the server skips text parsing.

use std::collections::HashMap;
use std::sync::Arc;

use super::row::{Cell, Row};

/// Where each column of a job sits in its tuples.
pub(super) type Positions = HashMap<String, usize, foldhash::fast::RandomState>;

/// The positions of `columns` in the order given.
pub(super) fn positions(columns: &[String]) -> Positions {
    columns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.clone(), i))
        .collect()
}

/// The header of a binary `COPY` stream: signature, flags (no OIDs) and an empty header extension.
pub const BINARY_COPY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// The trailer of a binary `COPY` stream: a field count of -1.
pub const BINARY_COPY_TRAILER: &[u8] = &[0xff, 0xff];

/// Places rows into the tuples of one job: per position in the row, the column seen there last (held, so the
/// same allocation is the same name) and its position in the tuple. Rows of a table mostly carry the same
/// columns in the same order, with their names shared by the normalizer: a cell is placed by comparing
/// pointers, and looked up by name only when it differs.
#[derive(Default)]
pub(super) struct Layout {
    seen: Vec<Option<(Arc<str>, usize)>>,
    /// Per position in the tuple: the cell of the row last placed, `None` for NULL.
    order: Vec<Option<usize>>,
}

impl Layout {
    /// Places the cells of `row` among a tuple of `width` columns at `positions`; `false` when some column is
    /// not among them (its cell is left out).
    pub(super) fn place(&mut self, positions: &Positions, width: usize, row: &Row<'_>) -> bool {
        self.order.clear();
        self.order.resize(width, None);
        let mut all = true;
        for (i, (column, _)) in row.iter().enumerate() {
            let known = match self.seen.get(i) {
                Some(Some((name, pos))) if Arc::ptr_eq(name, column) => Some(*pos),
                _ => None,
            };
            let pos = match known {
                Some(pos) => pos,
                None => match positions.get(&**column) {
                    Some(&pos) => {
                        if self.seen.len() <= i {
                            self.seen.resize(i + 1, None);
                        }
                        self.seen[i] = Some((Arc::clone(column), pos));
                        pos
                    }
                    None => {
                        all = false;
                        continue;
                    }
                },
            };
            if let Some(slot) = self.order.get_mut(pos) {
                *slot = Some(i);
            }
        }
        all
    }

    /// Appends the tuple of `row`, as last placed: its cells at their columns' positions, NULL for the others.
    pub(super) fn encode(&self, out: &mut Vec<u8>, row: &Row<'_>) {
        // PostgreSQL tables have at most 1,600 columns.
        out.extend_from_slice(&(self.order.len().min(i16::MAX as usize) as i16).to_be_bytes());
        for cell in &self.order {
            match cell.and_then(|i| row.get(i)) {
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
                Some((_, cell)) => encode_cell(out, cell),
            }
        }
    }
}

/// Appends one tuple of binary COPY: the row's cells at their columns' positions, NULL for the others.
#[cfg(test)]
pub(super) fn encode_row(out: &mut Vec<u8>, width: usize, positions: &Positions, row: &Row<'_>) {
    let mut layout = Layout::default();
    layout.place(positions, width, row);
    layout.encode(out, row);
}

/// Microseconds from the Unix epoch to PostgreSQL's epoch, 2000-01-01 00:00:00 UTC.
const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// Appends `cell` as a binary COPY field (length, then the value in the column type's binary form). Cells
/// carry their column's type (the normalizer coerces every value to its column).
fn encode_cell(out: &mut Vec<u8>, cell: &Cell) {
    match cell {
        Cell::Text(s) => encode_text(out, s),
        Cell::Bigint(v) => field(out, &v.to_be_bytes()),
        // Negative zero is stored as zero, as dlt does.
        Cell::Double(v) => field(out, &(if *v == 0.0 { 0.0f64 } else { *v }).to_be_bytes()),
        Cell::Bool(v) => field(out, &[u8::from(*v)]),
        Cell::Timestamp(ts) => field(
            out,
            &ts.timestamp_micros()
                .saturating_sub(POSTGRES_EPOCH_MICROS)
                .to_be_bytes(),
        ),
        Cell::Smallint(v) => field(out, &v.to_be_bytes()),
        Cell::Integer(v) => field(out, &v.to_be_bytes()),
        Cell::NaiveTimestamp(ts) => field(
            out,
            &ts.and_utc()
                .timestamp_micros()
                .saturating_sub(POSTGRES_EPOCH_MICROS)
                .to_be_bytes(),
        ),
        Cell::Date(d) => {
            let days = d.signed_duration_since(POSTGRES_EPOCH_DATE).num_days();
            field(out, &(days as i32).to_be_bytes())
        }
        Cell::Time(t) => {
            let micros = t
                .signed_duration_since(chrono::NaiveTime::MIN)
                .num_microseconds();
            field(out, &micros.unwrap_or(0).to_be_bytes())
        }
        Cell::Numeric(text) => encode_numeric(out, text),
        Cell::Binary(bytes) => field(out, bytes),
        Cell::Json(v) => {
            // jsonb: a version byte, then the JSON text; the length is patched in once it is known.
            let at = out.len();
            out.extend_from_slice(&[0, 0, 0, 0, 1]);
            let mut text = Vec::new();
            let _ = serde_json::to_writer(&mut text, &FloatNumbers(v.as_ref()));
            strip_nul(out, &text);
            patch_length(out, at);
        }
    }
}

/// PostgreSQL's epoch for dates.
const POSTGRES_EPOCH_DATE: chrono::NaiveDate = match chrono::NaiveDate::from_ymd_opt(2000, 1, 1) {
    Some(d) => d,
    None => chrono::NaiveDate::MIN,
};

/// A `numeric` field from plain decimal text (`-12.050`): digits in base 10,000 around the point, the weight of
/// the first, the sign and the display scale (the fraction's digits). PostgreSQL applies the column's precision
/// and scale when it receives the value, as for text input.
fn encode_numeric(out: &mut Vec<u8>, text: &str) {
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int_part, frac_part) = body.split_once('.').unwrap_or((body, ""));
    let int_part = int_part.trim_start_matches('0');
    // Groups of four digits aligned at the point: the integer part padded on the left, the fraction on the right.
    let int_pad = (4 - int_part.len() % 4) % 4;
    let frac_pad = (4 - frac_part.len() % 4) % 4;
    let mut padded = String::with_capacity(int_pad + int_part.len() + frac_part.len() + frac_pad);
    padded.extend(std::iter::repeat_n('0', int_pad));
    padded.push_str(int_part);
    padded.push_str(frac_part);
    padded.extend(std::iter::repeat_n('0', frac_pad));
    let mut groups: Vec<i16> = padded
        .as_bytes()
        .chunks(4)
        .map(|c| {
            c.iter()
                .fold(0i16, |acc, d| acc * 10 + i16::from(d.wrapping_sub(b'0')))
        })
        .collect();
    let mut weight = ((int_pad + int_part.len()) / 4) as i32 - 1;
    let leading = groups.iter().take_while(|g| **g == 0).count();
    groups.drain(..leading);
    weight -= leading as i32;
    while groups.last() == Some(&0) {
        groups.pop();
    }
    let sign: u16 = if negative && !groups.is_empty() {
        0x4000
    } else {
        0
    };
    if groups.is_empty() {
        weight = 0;
    }
    let dscale = frac_part.len().min(i16::MAX as usize) as i16;
    let len = 8 + 2 * groups.len();
    out.extend_from_slice(&(len as i32).to_be_bytes());
    out.extend_from_slice(&(groups.len() as i16).to_be_bytes());
    out.extend_from_slice(&(weight as i16).to_be_bytes());
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&dscale.to_be_bytes());
    for g in groups {
        out.extend_from_slice(&g.to_be_bytes());
    }
}

/// A JSON value written with every non-integer number as the `f64` it reads as: a json column holds what it
/// held before numbers kept their digits (a number with more digits than a float holds is written as that
/// float, as `serde_json` without `arbitrary_precision` wrote it).
struct FloatNumbers<'v>(&'v serde_json::Value);

impl serde::Serialize for FloatNumbers<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        use serde_json::Value;
        match self.0 {
            Value::Number(n) if !crate::model::schema::is_integer(n) => match n.as_f64() {
                Some(f) => serializer.serialize_f64(f),
                None => n.serialize(serializer),
            },
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&FloatNumbers(item))?;
                }
                seq.end()
            }
            Value::Object(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, &FloatNumbers(v))?;
                }
                map.end()
            }
            other => other.serialize(serializer),
        }
    }
}

/// A field of known bytes.
fn field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// A text field; PostgreSQL text cannot hold NUL, so it is dropped, as dlt does.
fn encode_text(out: &mut Vec<u8>, s: &str) {
    if !s.as_bytes().contains(&0) {
        return field(out, s.as_bytes());
    }
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    strip_nul(out, s.as_bytes());
    patch_length(out, at);
}

fn strip_nul(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend(bytes.iter().copied().filter(|b| *b != 0));
}

/// Writes the length of the field starting at `at` (its 4 length bytes, then the value) into those bytes.
fn patch_length(out: &mut [u8], at: usize) {
    let len = i32::try_from(out.len() - at - 4).unwrap_or(i32::MAX);
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

/// Splits binary COPY tuples (as job files hold them) into rows of fields, `None` for NULL; `None` when the
/// bytes are not well-formed tuples.
pub fn decode_binary_tuples(bytes: &[u8]) -> Option<Vec<Vec<Option<&[u8]>>>> {
    let mut rows = Vec::new();
    for_each_tuple(
        bytes,
        Vec::with_capacity,
        |row, field| row.push(field),
        |row| rows.push(row),
    )?;
    Some(rows)
}

/// The field at `position` of every binary COPY tuple in `bytes` (`None` for NULL or a shorter tuple); `None`
/// when the bytes are not well-formed tuples.
pub fn binary_column(bytes: &[u8], position: usize) -> Option<Vec<Option<&[u8]>>> {
    let mut column = Vec::new();
    for_each_tuple(
        bytes,
        |_| (0usize, None),
        |(index, found), field| {
            if *index == position {
                *found = field;
            }
            *index += 1;
        },
        |(_, found)| column.push(found),
    )?;
    Some(column)
}

/// Walks binary COPY tuples: `start` makes a row's accumulator from its field count, `field` takes each field
/// in order (`None` for NULL), `end` takes the finished accumulator.
fn for_each_tuple<'b, R>(
    mut bytes: &'b [u8],
    mut start: impl FnMut(usize) -> R,
    mut field: impl FnMut(&mut R, Option<&'b [u8]>),
    mut end: impl FnMut(R),
) -> Option<()> {
    fn take<'b>(bytes: &mut &'b [u8], n: usize) -> Option<&'b [u8]> {
        let (head, rest) = (bytes.get(..n)?, bytes.get(n..)?);
        *bytes = rest;
        Some(head)
    }
    while !bytes.is_empty() {
        let count = i16::from_be_bytes(take(&mut bytes, 2)?.try_into().ok()?);
        let mut row = start(usize::try_from(count).ok()?);
        for _ in 0..count {
            let len = i32::from_be_bytes(take(&mut bytes, 4)?.try_into().ok()?);
            let value = match usize::try_from(len) {
                Ok(len) => Some(take(&mut bytes, len)?),
                Err(_) => None,
            };
            field(&mut row, value);
        }
        end(row);
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn encoded(cell: Cell) -> Vec<u8> {
        let mut out = Vec::new();
        encode_cell(&mut out, &cell);
        out
    }

    #[test]
    fn cells_are_encoded_in_postgres_binary_form() {
        assert_eq!(
            encoded(Cell::Bigint(-2)),
            [0, 0, 0, 8, 255, 255, 255, 255, 255, 255, 255, 254]
        );
        assert_eq!(encoded(Cell::Bool(true)), [0, 0, 0, 1, 1]);
        assert_eq!(encoded(Cell::Double(-0.0)), encoded(Cell::Double(0.0)));
        assert_eq!(encoded(Cell::Double(1.5))[4..], 1.5f64.to_be_bytes());
        assert_eq!(encoded(Cell::Text("a\0b".into())), [0, 0, 0, 2, b'a', b'b']);
        assert_eq!(encoded(Cell::Text("".into())), [0, 0, 0, 0]);
        let json = encoded(Cell::Json(std::borrow::Cow::Owned(
            serde_json::json!({"a": [1]}),
        )));
        assert_eq!(json, [&[0, 0, 0, 10, 1][..], br#"{"a":[1]}"#].concat());
        let digits: serde_json::Value =
            serde_json::from_str(r#"[0.12345678901234567890123, 12345678901234567890123, 7, 1.5]"#)
                .expect("json");
        let json = encoded(Cell::Json(std::borrow::Cow::Owned(digits)));
        assert_eq!(
            std::str::from_utf8(&json[5..]).expect("utf-8"),
            "[0.12345678901234568,1.2345678901234568e+22,7,1.5]"
        );
    }

    #[test]
    fn one_column_is_read_back_from_tuples() {
        let columns = ["id".to_owned(), "name".to_owned(), "n".to_owned()];
        let positions = positions(&columns);
        let mut out = Vec::new();
        let row = |id: &'static str, n: Option<i64>| -> Row<'static> {
            let mut row: Row<'static> = vec![(Arc::from("id"), Cell::Text(id.into()))];
            if let Some(n) = n {
                row.push((Arc::from("n"), Cell::Bigint(n)));
            }
            row
        };
        encode_row(&mut out, 3, &positions, &row("a", Some(7)));
        encode_row(&mut out, 3, &positions, &row("bé", None));
        assert_eq!(
            binary_column(&out, 0),
            Some(vec![Some(&b"a"[..]), Some("bé".as_bytes())])
        );
        let seven = 7i64.to_be_bytes();
        assert_eq!(binary_column(&out, 2), Some(vec![Some(&seven[..]), None]));
        assert_eq!(binary_column(&out, 1), Some(vec![None, None]));
        assert_eq!(decode_binary_tuples(&out).map(|rows| rows.len()), Some(2));
        assert_eq!(binary_column(&out[..out.len() - 1], 0), None);
    }

    #[test]
    fn numerics_are_base_10000_digits() {
        let numeric = |s: &str| encoded(Cell::Numeric(s.into()));
        // ndigits, weight, sign, dscale, digits
        let words = |w: &[i16]| {
            let mut v = ((w.len() * 2) as i32).to_be_bytes().to_vec();
            for x in w {
                v.extend_from_slice(&x.to_be_bytes());
            }
            v
        };
        assert_eq!(numeric("12345.678"), words(&[3, 1, 0, 3, 1, 2345, 6780]));
        assert_eq!(numeric("-0.0045"), words(&[1, -1, 0x4000, 4, 45]));
        assert_eq!(numeric("0"), words(&[0, 0, 0, 0]));
        assert_eq!(numeric("0.00"), words(&[0, 0, 0, 2]));
        assert_eq!(numeric("100000000"), words(&[1, 2, 0, 0, 1]));
        assert_eq!(numeric("-1.5"), words(&[2, 0, 0x4000, 1, 1, 5000]));
        assert_eq!(
            encoded(Cell::Date(
                chrono::NaiveDate::from_ymd_opt(1999, 12, 31).expect("date")
            ))[4..],
            (-1i32).to_be_bytes()
        );
        assert_eq!(
            encoded(Cell::Time(
                chrono::NaiveTime::from_hms_micro_opt(0, 0, 1, 5).expect("time")
            ))[4..],
            1_000_005i64.to_be_bytes()
        );
        assert_eq!(encoded(Cell::Smallint(-2)), [0, 0, 0, 2, 255, 254]);
        assert_eq!(
            encoded(Cell::Binary(vec![0u8, 1].into())),
            [0, 0, 0, 2, 0, 1]
        );
    }

    #[test]
    fn timestamps_count_microseconds_from_2000() {
        let at = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .expect("timestamp")
                .with_timezone(&chrono::Utc)
        };
        assert_eq!(
            encoded(Cell::Timestamp(at("2000-01-01T00:00:00Z")))[4..],
            0i64.to_be_bytes()
        );
        assert_eq!(
            encoded(Cell::Timestamp(at("2000-01-01T00:00:01.000089Z")))[4..],
            1_000_089i64.to_be_bytes()
        );
        assert_eq!(
            encoded(Cell::Timestamp(at("1999-12-31T23:59:59Z")))[4..],
            (-1_000_000i64).to_be_bytes()
        );
    }

    #[test]
    fn tuples_round_trip() {
        let mut positions = Positions::default();
        positions.insert("a".to_owned(), 0);
        positions.insert("b".to_owned(), 1);
        let row: Row = vec![(std::sync::Arc::from("b"), Cell::Bigint(7))];
        let mut out = Vec::new();
        encode_row(&mut out, 2, &positions, &row);
        encode_row(&mut out, 2, &positions, &row);
        let rows = decode_binary_tuples(&out).expect("well-formed");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0], vec![None, Some(&7i64.to_be_bytes()[..])]);
        assert!(decode_binary_tuples(&out[..out.len() - 1]).is_none());
    }
}
