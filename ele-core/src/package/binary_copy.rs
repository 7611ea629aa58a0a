//! The binary job format: rows as the tuples of PostgreSQL's binary `COPY`, so the server skips text parsing.

use std::collections::HashMap;

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

/// Appends one tuple of binary COPY: the row's cells at their columns' positions, NULL for the others.
pub(super) fn encode_row(
    out: &mut Vec<u8>,
    order: &mut Vec<Option<usize>>,
    width: usize,
    positions: &Positions,
    row: &Row<'_>,
) {
    order.clear();
    order.resize(width, None);
    for (i, (column, _)) in row.iter().enumerate() {
        if let Some(&pos) = positions.get(&**column) {
            order[pos] = Some(i);
        }
    }
    // PostgreSQL tables have at most 1,600 columns.
    out.extend_from_slice(&(width.min(i16::MAX as usize) as i16).to_be_bytes());
    for cell in order.iter() {
        match cell.and_then(|i| row.get(i)) {
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            Some((_, cell)) => encode_cell(out, cell),
        }
    }
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
        Cell::Json(v) => {
            // jsonb: a version byte, then the JSON text; the length is patched in once it is known.
            let at = out.len();
            out.extend_from_slice(&[0, 0, 0, 0, 1]);
            let mut text = Vec::new();
            let _ = serde_json::to_writer(&mut text, v.as_ref());
            strip_nul(out, &text);
            patch_length(out, at);
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
pub fn decode_binary_tuples(mut bytes: &[u8]) -> Option<Vec<Vec<Option<&[u8]>>>> {
    fn take<'b>(bytes: &mut &'b [u8], n: usize) -> Option<&'b [u8]> {
        let (head, rest) = (bytes.get(..n)?, bytes.get(n..)?);
        *bytes = rest;
        Some(head)
    }
    let mut rows = Vec::new();
    while !bytes.is_empty() {
        let count = i16::from_be_bytes(take(&mut bytes, 2)?.try_into().ok()?);
        let mut row = Vec::with_capacity(usize::try_from(count).ok()?);
        for _ in 0..count {
            let len = i32::from_be_bytes(take(&mut bytes, 4)?.try_into().ok()?);
            row.push(match usize::try_from(len) {
                Ok(len) => Some(take(&mut bytes, len)?),
                Err(_) => None,
            });
        }
        rows.push(row);
    }
    Some(rows)
}

#[cfg(test)]
mod tests {
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
        encode_row(&mut out, &mut Vec::new(), 2, &positions, &row);
        encode_row(&mut out, &mut Vec::new(), 2, &positions, &row);
        let rows = decode_binary_tuples(&out).expect("well-formed");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0], vec![None, Some(&7i64.to_be_bytes()[..])]);
        assert!(decode_binary_tuples(&out[..out.len() - 1]).is_none());
    }
}
