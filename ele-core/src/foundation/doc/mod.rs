//! A compact owned JSON document: one item as a flat tape of nodes with its strings and numbers in one text
//! buffer, and [`JsonRef`], the view the normalizer and the incremental filter read items through (a tape or a
//! `serde_json::Value`).
//!
//! A [`Doc`] costs two allocations whatever its size and no hashing: it is what the JSON Lines reader parses a
//! line into ([`Doc::parse_json`]) and what typed items are serialized into ([`Doc::from_serialize`]). It holds
//! the same item as the `serde_json::Value` those paths gave before: numbers as the text of the `Number` (with
//! `arbitrary_precision`), object keys in order with a repeated key's last value at its first position (as
//! `serde_json`'s `preserve_order` map keeps them). Serialized with serde ([`JsonRef`] is `Serialize`) it writes
//! the bytes `serde_json` writes for that `Value`.

use std::fmt;
use std::str::FromStr as _;

use serde::ser::{self, Serialize, SerializeMap as _, SerializeSeq as _, Serializer as _};
use serde_json::{Number, Value};

mod parse;

/// One node of a [`Doc`]; strings are `(start, len)` in the text buffer. A container node is followed by its
/// contents: an array by its elements, an object by `Key` nodes each followed by its value. `size` counts the
/// container's nodes (itself included), so a subtree is skipped in one step and can be moved as a block.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Node {
    Null,
    Bool(bool),
    Number(u32, u32),
    String(u32, u32),
    Key(u32, u32),
    Array { len: u32, size: u32 },
    Object { len: u32, size: u32 },
}

impl Node {
    /// Nodes of the subtree starting with this node (an object's `Key` nodes included).
    fn size(self) -> usize {
        match self {
            Node::Array { size, .. } | Node::Object { size, .. } => size as usize,
            _ => 1,
        }
    }
}

/// One JSON item as a flat tape; see the [module](self) documentation.
#[derive(Debug, Clone, Default)]
pub struct Doc {
    nodes: Vec<Node>,
    text: String,
    /// Some offset or count went beyond `u32`: the document is unusable.
    overflow: bool,
}

/// The error of a document beyond 4 GiB of text or 4 billion nodes.
const TOO_LARGE: &str = "the item is too large (more than 4 GiB of text or 2^32 values)";

impl Doc {
    /// An empty document (no item yet).
    pub fn new() -> Self {
        Doc::default()
    }

    /// Empties the document, keeping its buffers.
    pub fn clear(&mut self) {
        self.nodes.clear();
        self.text.clear();
        self.overflow = false;
    }

    /// The bytes its buffers hold (their capacity).
    pub fn heap_size(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>() + self.text.capacity()
    }

    /// The item (its root node): `null` for an empty document.
    pub fn root(&self) -> JsonRef<'_> {
        JsonRef::Doc(self, 0)
    }

    /// The item as a `serde_json::Value`, as the reader built it before.
    pub fn to_value(&self) -> Value {
        self.root().to_value()
    }

    fn u32_of(&mut self, n: usize) -> u32 {
        u32::try_from(n).unwrap_or_else(|_| {
            self.overflow = true;
            u32::MAX
        })
    }

    fn push_text(&mut self, s: &str) -> (u32, u32) {
        let start = self.u32_of(self.text.len());
        self.text.push_str(s);
        let len = self.u32_of(s.len());
        (start, len)
    }

    fn push_null(&mut self) {
        self.nodes.push(Node::Null);
    }

    fn push_bool(&mut self, b: bool) {
        self.nodes.push(Node::Bool(b));
    }

    fn push_str(&mut self, s: &str) {
        let (start, len) = self.push_text(s);
        self.nodes.push(Node::String(start, len));
    }

    fn push_key(&mut self, s: &str) {
        let (start, len) = self.push_text(s);
        self.nodes.push(Node::Key(start, len));
    }

    fn push_number_text(&mut self, s: &str) {
        let (start, len) = self.push_text(s);
        self.nodes.push(Node::Number(start, len));
    }

    fn push_display_number(&mut self, n: impl fmt::Display) {
        use std::fmt::Write as _;
        let start = self.u32_of(self.text.len());
        let _ = write!(self.text, "{n}");
        let len = self.u32_of(self.text.len() - start as usize);
        self.nodes.push(Node::Number(start, len));
    }

    /// Opens an array or object: its position, to close it with `end_array` or `end_object`.
    fn begin(&mut self) -> usize {
        self.nodes.push(Node::Null);
        self.nodes.len() - 1
    }

    fn end_array(&mut self, mark: usize, len: usize) {
        let len = self.u32_of(len);
        let size = self.u32_of(self.nodes.len() - mark);
        self.nodes[mark] = Node::Array { len, size };
    }

    /// Closes the object opened at `mark` with `len` entries: a repeated key keeps its first position and its
    /// last value, as `serde_json`'s ordered map does.
    fn end_object(&mut self, mark: usize, len: usize) {
        let len32 = self.u32_of(len);
        let size = self.u32_of(self.nodes.len() - mark);
        self.nodes[mark] = Node::Object { len: len32, size };
        if len > 1 && self.has_repeated_key(mark, len) {
            self.keep_last_values(mark);
        }
    }

    /// The `(key node, value start, value end)` of each entry of the object at `mark`.
    fn entries_at(&self, mark: usize) -> Vec<(usize, usize, usize)> {
        let mut out = Vec::new();
        let Some(Node::Object { len, .. }) = self.nodes.get(mark) else {
            return out;
        };
        let mut pos = mark + 1;
        for _ in 0..*len {
            let end = self.next_entry(pos);
            out.push((pos, pos + 1, end));
            pos = end;
        }
        out
    }

    /// The position of the entry after the one whose key is at `pos`.
    #[inline]
    fn next_entry(&self, pos: usize) -> usize {
        pos + 1 + self.nodes.get(pos + 1).map_or(1, |n| n.size())
    }

    #[inline]
    fn key_at(&self, pos: usize) -> &str {
        match self.nodes.get(pos) {
            Some(Node::Key(start, len)) => self.slice(*start, *len),
            _ => "",
        }
    }

    #[inline]
    fn slice(&self, start: u32, len: u32) -> &str {
        let start = start as usize;
        self.text.get(start..start + len as usize).unwrap_or("")
    }

    /// Whether the object at `mark` (with `len` entries) repeats a key: pairwise without allocating for
    /// the usual small objects.
    fn has_repeated_key(&self, mark: usize, len: usize) -> bool {
        if len > 32 {
            let mut seen: std::collections::HashSet<&str, foldhash::fast::RandomState> =
                std::collections::HashSet::with_capacity_and_hasher(len, Default::default());
            return self
                .entries_at(mark)
                .into_iter()
                .any(|(k, _, _)| !seen.insert(self.key_at(k)));
        }
        let first = mark + 1;
        let mut pos = first;
        for i in 0..len {
            let key = self.key_at(pos);
            let mut other = first;
            for _ in 0..i {
                if self.key_at(other) == key {
                    return true;
                }
                other = self.next_entry(other);
            }
            pos = self.next_entry(pos);
        }
        false
    }

    /// Rewrites the object at `mark` (the last subtree of the tape) with one entry per key.
    fn keep_last_values(&mut self, mark: usize) {
        let entries = self.entries_at(mark);
        // (key node, value start, value end) per distinct key, at the key's first position.
        let mut kept: Vec<(usize, usize, usize)> = Vec::with_capacity(entries.len());
        for (k, start, end) in entries {
            let key = self.key_at(k);
            match kept
                .iter_mut()
                .find(|(other, _, _)| self.key_at(*other) == key)
            {
                Some(slot) => {
                    slot.1 = start;
                    slot.2 = end;
                }
                None => kept.push((k, start, end)),
            }
        }
        let mut rebuilt = vec![Node::Null];
        for (k, start, end) in &kept {
            rebuilt.push(self.nodes[*k]);
            rebuilt.extend_from_slice(&self.nodes[*start..*end]);
        }
        let len = self.u32_of(kept.len());
        let size = self.u32_of(rebuilt.len());
        rebuilt[0] = Node::Object { len, size };
        self.nodes.truncate(mark);
        self.nodes.extend(rebuilt);
    }

    /// Serializes `item` into a document: the item `serde_json::to_value` makes of it, without building it.
    pub fn from_serialize<T: Serialize + ?Sized>(item: &T) -> serde_json::Result<Doc> {
        let mut doc = Doc::default();
        doc.serialize_from(item)?;
        Ok(doc)
    }

    /// [`Doc::from_serialize`] into this document, replacing its content (its buffers are reused).
    pub fn serialize_from<T: Serialize + ?Sized>(&mut self, item: &T) -> serde_json::Result<()> {
        self.clear();
        item.serialize(&mut *self)?;
        if self.overflow {
            return Err(ser::Error::custom(TOO_LARGE));
        }
        Ok(())
    }
}

/// An item as the normalizer reads it: a node of a [`Doc`] or a `serde_json::Value`.
#[derive(Clone, Copy)]
pub enum JsonRef<'v> {
    /// A `serde_json::Value`.
    Value(&'v Value),
    /// The node at this position of a document.
    Doc(&'v Doc, usize),
    /// A string made by the normalizer (an id, the load id).
    Str(&'v str),
    /// An integer made by the normalizer (a list index), as its text.
    Int(&'v str),
}

/// What a [`JsonRef`] holds.
pub enum Kind<'v> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as its text.
    Number(Num<'v>),
    /// A string.
    String(&'v str),
    /// An array.
    Array(Elements<'v>),
    /// An object.
    Object(Entries<'v>),
}

/// A JSON number as its text, read as `serde_json::Number` reads it with `arbitrary_precision`.
#[derive(Clone, Copy, Debug)]
pub struct Num<'v>(pub &'v str);

impl<'v> Num<'v> {
    /// The number as an `i64`, when it is an integer in range.
    pub fn as_i64(self) -> Option<i64> {
        self.0.parse().ok()
    }

    /// The number as a `u64`, when it is a non-negative integer in range.
    pub fn as_u64(self) -> Option<u64> {
        self.0.parse().ok()
    }

    /// The number as a finite `f64`.
    pub fn as_f64(self) -> Option<f64> {
        self.0.parse::<f64>().ok().filter(|f| f.is_finite())
    }

    /// Whether it is an integer in the `u64` range.
    pub fn is_u64(self) -> bool {
        self.as_u64().is_some()
    }

    /// Whether it is an integer in the `i64` range.
    pub fn is_i64(self) -> bool {
        self.as_i64().is_some()
    }

    /// The number as written.
    pub fn as_str(self) -> &'v str {
        self.0
    }
}

impl fmt::Display for Num<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// The elements of an array.
#[derive(Clone)]
pub enum Elements<'v> {
    /// Of a `Value`.
    Value(std::slice::Iter<'v, Value>),
    /// Of a document: the position of the next element and how many are left.
    Doc(&'v Doc, usize, usize),
}

impl<'v> Iterator for Elements<'v> {
    type Item = JsonRef<'v>;

    #[inline]
    fn next(&mut self) -> Option<JsonRef<'v>> {
        match self {
            Elements::Value(it) => it.next().map(JsonRef::Value),
            Elements::Doc(doc, pos, left) => {
                if *left == 0 {
                    return None;
                }
                let at = *pos;
                *left -= 1;
                *pos += doc.nodes.get(at).map_or(1, |n| n.size());
                Some(JsonRef::Doc(doc, at))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.len();
        (n, Some(n))
    }
}

impl ExactSizeIterator for Elements<'_> {
    fn len(&self) -> usize {
        match self {
            Elements::Value(it) => it.len(),
            Elements::Doc(_, _, left) => *left,
        }
    }
}

/// The entries of an object, in order.
#[derive(Clone)]
pub enum Entries<'v> {
    /// Of a `Value`.
    Value(serde_json::map::Iter<'v>),
    /// Of a document: the position of the next key and how many entries are left.
    Doc(&'v Doc, usize, usize),
}

impl<'v> Iterator for Entries<'v> {
    type Item = (&'v str, JsonRef<'v>);

    #[inline]
    fn next(&mut self) -> Option<(&'v str, JsonRef<'v>)> {
        match self {
            Entries::Value(it) => it.next().map(|(k, v)| (k.as_str(), JsonRef::Value(v))),
            Entries::Doc(doc, pos, left) => {
                if *left == 0 {
                    return None;
                }
                let key = doc.key_at(*pos);
                let value = *pos + 1;
                *left -= 1;
                *pos = value + doc.nodes.get(value).map_or(1, |n| n.size());
                Some((key, JsonRef::Doc(doc, value)))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.len();
        (n, Some(n))
    }
}

impl ExactSizeIterator for Entries<'_> {
    fn len(&self) -> usize {
        match self {
            Entries::Value(it) => it.len(),
            Entries::Doc(_, _, left) => *left,
        }
    }
}

impl<'v> JsonRef<'v> {
    /// What the value holds.
    #[inline]
    pub fn kind(self) -> Kind<'v> {
        match self {
            JsonRef::Value(v) => match v {
                Value::Null => Kind::Null,
                Value::Bool(b) => Kind::Bool(*b),
                Value::Number(n) => Kind::Number(Num(n.as_str())),
                Value::String(s) => Kind::String(s),
                Value::Array(items) => Kind::Array(Elements::Value(items.iter())),
                Value::Object(map) => Kind::Object(Entries::Value(map.iter())),
            },
            JsonRef::Str(s) => Kind::String(s),
            JsonRef::Int(n) => Kind::Number(Num(n)),
            JsonRef::Doc(doc, at) => match doc.nodes.get(at) {
                None | Some(Node::Null) => Kind::Null,
                Some(Node::Bool(b)) => Kind::Bool(*b),
                Some(Node::Number(start, len)) => Kind::Number(Num(doc.slice(*start, *len))),
                Some(Node::String(start, len) | Node::Key(start, len)) => {
                    Kind::String(doc.slice(*start, *len))
                }
                Some(Node::Array { len, .. }) => {
                    Kind::Array(Elements::Doc(doc, at + 1, *len as usize))
                }
                Some(Node::Object { len, .. }) => {
                    Kind::Object(Entries::Doc(doc, at + 1, *len as usize))
                }
            },
        }
    }

    /// Whether it is `null`.
    pub fn is_null(self) -> bool {
        matches!(self.kind(), Kind::Null)
    }

    /// The string, when it is one.
    pub fn as_str(self) -> Option<&'v str> {
        match self.kind() {
            Kind::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number, when it is one.
    pub fn as_number(self) -> Option<Num<'v>> {
        match self.kind() {
            Kind::Number(n) => Some(n),
            _ => None,
        }
    }

    /// Whether it is an object.
    pub fn is_object(self) -> bool {
        matches!(self.kind(), Kind::Object(_))
    }

    /// Whether it is an array.
    pub fn is_array(self) -> bool {
        matches!(self.kind(), Kind::Array(_))
    }

    /// The value of `key` when this is an object holding it.
    pub fn get(self, key: &str) -> Option<JsonRef<'v>> {
        match self {
            JsonRef::Value(v) => v.get(key).map(JsonRef::Value),
            _ => match self.kind() {
                Kind::Object(mut entries) => entries.find(|(k, _)| *k == key).map(|(_, v)| v),
                _ => None,
            },
        }
    }

    /// The element at `index` when this is an array that long.
    pub fn index(self, index: usize) -> Option<JsonRef<'v>> {
        match self.kind() {
            Kind::Array(mut items) => items.nth(index),
            _ => None,
        }
    }

    /// The value as a `serde_json::Value` (a copy).
    pub fn to_value(self) -> Value {
        match self {
            JsonRef::Value(v) => v.clone(),
            _ => match self.kind() {
                Kind::Null => Value::Null,
                Kind::Bool(b) => Value::Bool(b),
                Kind::Number(n) => Number::from_str(n.0).map_or(Value::Null, Value::Number),
                Kind::String(s) => Value::String(s.to_owned()),
                Kind::Array(items) => Value::Array(items.map(JsonRef::to_value).collect()),
                Kind::Object(entries) => {
                    Value::Object(entries.map(|(k, v)| (k.to_owned(), v.to_value())).collect())
                }
            },
        }
    }
}

impl<'v> From<&'v Value> for JsonRef<'v> {
    fn from(v: &'v Value) -> Self {
        JsonRef::Value(v)
    }
}

impl Serialize for JsonRef<'_> {
    fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if let JsonRef::Value(v) = self {
            return v.serialize(serializer);
        }
        match self.kind() {
            Kind::Null => serializer.serialize_unit(),
            Kind::Bool(b) => serializer.serialize_bool(b),
            Kind::Number(n) => Number::from_str(n.0)
                .map_err(ser::Error::custom)?
                .serialize(serializer),
            Kind::String(s) => serializer.serialize_str(s),
            Kind::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&item)?;
                }
                seq.end()
            }
            Kind::Object(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, &v)?;
                }
                map.end()
            }
        }
    }
}

/// Compact JSON, as `serde_json` writes the `Value` (`{"a":[1,"x"]}`).
impl fmt::Display for JsonRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonRef::Value(v) => fmt::Display::fmt(v, f),
            _ => {
                let text = serde_json::to_string(self).map_err(|_| fmt::Error)?;
                f.write_str(&text)
            }
        }
    }
}

impl fmt::Debug for JsonRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

// ---- Serializing typed items into a document (as `serde_json::to_value` would build them). ----

/// The name `serde_json` gives the struct a `Number` serializes as (with `arbitrary_precision`).
const NUMBER_STRUCT: &str = "$serde_json::private::Number";

/// An open array or object of the serializer: where it starts and how many elements or entries it has.
#[doc(hidden)]
pub struct Open<'d> {
    doc: &'d mut Doc,
    mark: usize,
    len: usize,
    /// For the variant forms (`{"Variant": [...]}`): the outer object's position.
    outer: Option<usize>,
    /// A `serde_json::Number` in its struct form: its text is the one field.
    number: bool,
}

impl Open<'_> {
    fn close_array(self) {
        self.doc.end_array(self.mark, self.len);
        if let Some(outer) = self.outer {
            self.doc.end_object(outer, 1);
        }
    }

    fn close_object(self) {
        self.doc.end_object(self.mark, self.len);
        if let Some(outer) = self.outer {
            self.doc.end_object(outer, 1);
        }
    }
}

impl<'d> ser::Serializer for &'d mut Doc {
    type Ok = ();
    type Error = serde_json::Error;
    type SerializeSeq = Open<'d>;
    type SerializeTuple = Open<'d>;
    type SerializeTupleStruct = Open<'d>;
    type SerializeTupleVariant = Open<'d>;
    type SerializeMap = Open<'d>;
    type SerializeStruct = Open<'d>;
    type SerializeStructVariant = Open<'d>;

    fn serialize_bool(self, v: bool) -> serde_json::Result<()> {
        self.push_bool(v);
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> serde_json::Result<()> {
        self.push_display_number(v);
        Ok(())
    }

    fn serialize_i16(self, v: i16) -> serde_json::Result<()> {
        self.push_display_number(v);
        Ok(())
    }

    fn serialize_i32(self, v: i32) -> serde_json::Result<()> {
        self.push_display_number(v);
        Ok(())
    }

    fn serialize_i64(self, v: i64) -> serde_json::Result<()> {
        self.push_display_number(v);
        Ok(())
    }

    fn serialize_i128(self, v: i128) -> serde_json::Result<()> {
        self.push_display_number(v);
        Ok(())
    }

    fn serialize_u8(self, v: u8) -> serde_json::Result<()> {
        self.push_display_number(v);
        Ok(())
    }

    fn serialize_u16(self, v: u16) -> serde_json::Result<()> {
        self.push_display_number(v);
        Ok(())
    }

    fn serialize_u32(self, v: u32) -> serde_json::Result<()> {
        self.push_display_number(v);
        Ok(())
    }

    fn serialize_u64(self, v: u64) -> serde_json::Result<()> {
        self.push_display_number(v);
        Ok(())
    }

    fn serialize_u128(self, v: u128) -> serde_json::Result<()> {
        self.push_display_number(v);
        Ok(())
    }

    fn serialize_f32(self, v: f32) -> serde_json::Result<()> {
        // serde_json writes an `f32` with its own shortest digits.
        match serde_json::value::Serializer.serialize_f32(v)? {
            Value::Number(n) => self.push_number_text(n.as_str()),
            _ => self.push_null(),
        }
        Ok(())
    }

    fn serialize_f64(self, v: f64) -> serde_json::Result<()> {
        match Number::from_f64(v) {
            Some(n) => self.push_number_text(n.as_str()),
            None => self.push_null(),
        }
        Ok(())
    }

    fn serialize_char(self, v: char) -> serde_json::Result<()> {
        let mut buf = [0u8; 4];
        self.push_str(v.encode_utf8(&mut buf));
        Ok(())
    }

    fn serialize_str(self, v: &str) -> serde_json::Result<()> {
        self.push_str(v);
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> serde_json::Result<()> {
        let mark = self.begin();
        for b in v {
            self.push_display_number(b);
        }
        self.end_array(mark, v.len());
        Ok(())
    }

    fn serialize_none(self) -> serde_json::Result<()> {
        self.push_null();
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> serde_json::Result<()> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> serde_json::Result<()> {
        self.push_null();
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> serde_json::Result<()> {
        self.push_null();
        Ok(())
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> serde_json::Result<()> {
        self.push_str(variant);
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> serde_json::Result<()> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> serde_json::Result<()> {
        let mark = self.begin();
        self.push_key(variant);
        value.serialize(&mut *self)?;
        self.end_object(mark, 1);
        Ok(())
    }

    fn serialize_seq(self, _len: Option<usize>) -> serde_json::Result<Open<'d>> {
        let mark = self.begin();
        Ok(Open {
            doc: self,
            mark,
            len: 0,
            outer: None,
            number: false,
        })
    }

    fn serialize_tuple(self, len: usize) -> serde_json::Result<Open<'d>> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> serde_json::Result<Open<'d>> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> serde_json::Result<Open<'d>> {
        let outer = self.begin();
        self.push_key(variant);
        let mark = self.begin();
        Ok(Open {
            doc: self,
            mark,
            len: 0,
            outer: Some(outer),
            number: false,
        })
    }

    fn serialize_map(self, _len: Option<usize>) -> serde_json::Result<Open<'d>> {
        self.serialize_seq(None)
    }

    fn serialize_struct(self, name: &'static str, _len: usize) -> serde_json::Result<Open<'d>> {
        if name == NUMBER_STRUCT {
            return Ok(Open {
                mark: self.nodes.len(),
                doc: self,
                len: 0,
                outer: None,
                number: true,
            });
        }
        self.serialize_seq(None)
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> serde_json::Result<Open<'d>> {
        self.serialize_tuple_variant(name, index, variant, len)
    }
}

impl ser::SerializeSeq for Open<'_> {
    type Ok = ();
    type Error = serde_json::Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> serde_json::Result<()> {
        value.serialize(&mut *self.doc)?;
        self.len += 1;
        Ok(())
    }

    fn end(self) -> serde_json::Result<()> {
        self.close_array();
        Ok(())
    }
}

impl ser::SerializeTuple for Open<'_> {
    type Ok = ();
    type Error = serde_json::Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> serde_json::Result<()> {
        ser::SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> serde_json::Result<()> {
        self.close_array();
        Ok(())
    }
}

impl ser::SerializeTupleStruct for Open<'_> {
    type Ok = ();
    type Error = serde_json::Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> serde_json::Result<()> {
        ser::SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> serde_json::Result<()> {
        self.close_array();
        Ok(())
    }
}

impl ser::SerializeTupleVariant for Open<'_> {
    type Ok = ();
    type Error = serde_json::Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> serde_json::Result<()> {
        ser::SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> serde_json::Result<()> {
        self.close_array();
        Ok(())
    }
}

/// A map key as `serde_json` turns it into a string (integers and bools written out, other keys refused):
/// its own key serializer, through a one-entry map.
fn map_key<T: Serialize + ?Sized>(key: &T) -> serde_json::Result<String> {
    let mut map = serde_json::value::Serializer.serialize_map(Some(1))?;
    map.serialize_key(key)?;
    map.serialize_value(&())?;
    match map.end()? {
        Value::Object(map) => Ok(map.into_iter().next().map(|(k, _)| k).unwrap_or_default()),
        _ => Err(ser::Error::custom("key must be a string")),
    }
}

impl ser::SerializeMap for Open<'_> {
    type Ok = ();
    type Error = serde_json::Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> serde_json::Result<()> {
        let key = map_key(key)?;
        self.doc.push_key(&key);
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> serde_json::Result<()> {
        value.serialize(&mut *self.doc)?;
        self.len += 1;
        Ok(())
    }

    fn end(self) -> serde_json::Result<()> {
        self.close_object();
        Ok(())
    }
}

impl ser::SerializeStruct for Open<'_> {
    type Ok = ();
    type Error = serde_json::Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> serde_json::Result<()> {
        if self.number {
            match serde_json::value::to_value(value)? {
                Value::String(text) => {
                    let number = Number::from_str(&text).map_err(ser::Error::custom)?;
                    self.doc.push_number_text(number.as_str());
                    return Ok(());
                }
                _ => return Err(ser::Error::custom("invalid number")),
            }
        }
        self.doc.push_key(key);
        value.serialize(&mut *self.doc)?;
        self.len += 1;
        Ok(())
    }

    fn end(self) -> serde_json::Result<()> {
        if self.number {
            return Ok(());
        }
        self.close_object();
        Ok(())
    }
}

impl ser::SerializeStructVariant for Open<'_> {
    type Ok = ();
    type Error = serde_json::Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> serde_json::Result<()> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }

    fn end(self) -> serde_json::Result<()> {
        self.close_object();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Serialize;
    use serde_json::{Value, json};

    use super::*;
    use crate::foundation::hash;

    /// Lines whose numbers are written as the reader keeps them, so `serde_json` reads the same `Value`.
    const LINES: &[&str] = &[
        r#"{"b": {"y": 1, "x": {"q": 2, "p": 3}}, "a": 1, "c": [[1, 2], [3, [4, 5]], []]}"#,
        r#"{"k": 1, "j": {"z": 1, "z": {"w": [1]}}, "k": {"n": null}, "k": 3, "j": 2}"#,
        r#"{"f": 1e300, "g": -0.0, "big": 12345678901234567890123, "u": 18446744073709551615, "i": -9223372036854775808}"#,
        r#"{"d": 0.12345678901234567890123, "s": "\u00e9\n\t\"\\ \u0001 \u2713 \ud83d\ude00", "ключ": "значение"}"#,
        r#"{"e": {}, "l": [], "n": {"e": {}, "l": [[]]}, "x": null, "t": true, "f": false}"#,
        r#"[{"a": {}}, {"b": [[{"c": {"d": "e"}}]]}, "s", 0, 1.5]"#,
        r#""just a string""#,
        r#"-12"#,
        r#"null"#,
        r#"{}"#,
        r#"[]"#,
    ];

    fn keys_in_order(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    out.push(k.clone());
                    keys_in_order(v, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| keys_in_order(v, out)),
            _ => {}
        }
    }

    /// The document and the `Value` hold the same item: equal, same key order, same JSON (serde_json's and
    /// dlt's renderings), same scd2 version hash.
    fn assert_same(doc: &Doc, value: &Value, what: &str) {
        let from_doc = doc.to_value();
        assert_eq!(&from_doc, value, "{what}");
        let (mut a, mut b) = (Vec::new(), Vec::new());
        keys_in_order(&from_doc, &mut a);
        keys_in_order(value, &mut b);
        assert_eq!(a, b, "{what}");
        assert_eq!(
            serde_json::to_string(&doc.root()).expect("serializes"),
            serde_json::to_string(value).expect("serializes"),
            "{what}"
        );
        assert_eq!(doc.root().to_string(), value.to_string(), "{what}");
        assert_eq!(hash::dumps_ref(doc.root()), hash::dumps(value), "{what}");
        if let (Kind::Object(entries), Value::Object(map)) = (doc.root().kind(), value) {
            assert_eq!(
                hash::item_version_hash_of(entries),
                hash::item_version_hash(map),
                "{what}"
            );
        }
    }

    #[test]
    fn parsed_lines_are_the_values_serde_json_reads() {
        let mut doc = Doc::new();
        for line in LINES {
            doc.parse_json(line.as_bytes()).expect("parses");
            let value: Value = serde_json::from_str(line).expect("parses");
            assert_same(&doc, &value, line);
        }
        // A large object repeating keys (found through a set, not pairwise).
        let entries: Vec<String> = (0..40)
            .map(|i| format!(r#""k{}": {{"i": {i}, "i": [{i}]}}"#, i % 37))
            .collect();
        let line = format!("{{{}}}", entries.join(", "));
        doc.parse_json(line.as_bytes()).expect("parses");
        let value: Value = serde_json::from_str(&line).expect("parses");
        assert_same(&doc, &value, &line);
        assert_eq!(value.as_object().map(|m| m.len()), Some(37));
        // Numbers as the reader keeps them: `-0` is 0, `1.50` and `1E2` are floats as serde_json writes them.
        doc.parse_json(br#"{"a": -0, "b": 1.50, "c": 1E2, "d": -0E2, "e": 1e22}"#)
            .expect("parses");
        assert_eq!(
            doc.root().to_string(),
            r#"{"a":0,"b":1.5,"c":100.0,"d":-0.0,"e":1e+22}"#
        );
        let e = doc.parse_json(br#"{"a": 1e400}"#).expect_err("refused");
        assert!(e.to_string().contains("number out of range"), "{e}");
        for bad in [r#"{"a": 1"#, r#"{"a": 1} x"#, r#"{"a" 1}"#, r#"[1,]"#] {
            let ours = doc.parse_json(bad.as_bytes()).map_err(|e| e.to_string());
            let theirs = serde_json::from_str::<Value>(bad)
                .map(|_| ())
                .map_err(|e| e.to_string());
            assert_eq!(ours, theirs, "{bad}");
        }
    }

    #[test]
    fn views_read_documents_as_values() {
        let mut doc = Doc::new();
        doc.parse_json(br#"{"a": {"b": [10, {"c": "x"}]}, "n": null}"#)
            .expect("parses");
        let value = doc.to_value();
        for item in [doc.root(), JsonRef::Value(&value)] {
            let c = item
                .get("a")
                .and_then(|a| a.get("b"))
                .and_then(|b| b.index(1))
                .and_then(|x| x.get("c"));
            assert_eq!(c.and_then(JsonRef::as_str), Some("x"));
            assert!(item.get("n").is_some_and(JsonRef::is_null));
            assert!(item.get("missing").is_none());
            let ten = item
                .get("a")
                .and_then(|a| a.get("b"))
                .and_then(|b| b.index(0));
            assert_eq!(
                ten.and_then(JsonRef::as_number).and_then(Num::as_i64),
                Some(10)
            );
        }
    }

    #[derive(Serialize)]
    enum Shape {
        Dot,
        Circle(f64),
        Pair(i32, String),
        Rect { w: u32, h: Option<u32> },
    }

    #[derive(Serialize)]
    struct Unit;

    #[derive(Serialize)]
    struct Inner {
        name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<u8>,
        extra: Value,
    }

    #[derive(Serialize)]
    struct Typed {
        id: u64,
        missing: Option<String>,
        present: Option<i16>,
        shapes: Vec<Shape>,
        by_name: BTreeMap<String, f32>,
        by_number: BTreeMap<u32, bool>,
        at: chrono::DateTime<chrono::Utc>,
        day: chrono::NaiveDate,
        big: i128,
        huge: u128,
        ratio: f64,
        nan: f64,
        letter: char,
        bytes: Vec<u8>,
        unit: Unit,
        tuple: (u8, &'static str),
        inner: Inner,
        #[serde(flatten)]
        rest: BTreeMap<String, Value>,
    }

    #[test]
    fn typed_items_serialize_as_to_value_does() {
        let at = chrono::DateTime::from_timestamp(1_700_000_000, 250_000_000).expect("in range");
        let mut rest = BTreeMap::new();
        rest.insert(
            "id".to_owned(),
            json!("repeated key: last value, first position"),
        );
        rest.insert("zz".to_owned(), json!({"deep": [1, 2.5, null]}));
        let item = Typed {
            id: u64::MAX,
            missing: None,
            present: Some(-3),
            shapes: vec![
                Shape::Dot,
                Shape::Circle(0.1),
                Shape::Pair(-7, "é\n".into()),
                Shape::Rect { w: 2, h: None },
            ],
            by_name: [("b".to_owned(), 1.1f32), ("a".to_owned(), -0.0)]
                .into_iter()
                .collect(),
            by_number: [(10, true), (2, false)].into_iter().collect(),
            at,
            day: at.date_naive(),
            big: -170141183460469231731687303715884105728,
            huge: u128::MAX,
            ratio: 1e-7,
            nan: f64::NAN,
            letter: '✓',
            bytes: vec![0, 255, 7],
            unit: Unit,
            tuple: (1, "t"),
            inner: Inner {
                name: "inner".into(),
                skipped: None,
                extra: serde_json::from_str(r#"{"n": 12345678901234567890123, "f": 1e400}"#)
                    .unwrap_or(Value::Null),
            },
            rest,
        };
        let doc = Doc::from_serialize(&item).expect("serializes");
        let value = serde_json::to_value(&item).expect("serializes");
        assert_same(&doc, &value, "typed item");
        for scalar in [json!(1), json!("s"), json!(null), json!([1, [2]])] {
            let doc = Doc::from_serialize(&scalar).expect("serializes");
            assert_same(&doc, &scalar, "scalar");
        }
        let bad: BTreeMap<Vec<u8>, u8> = [(vec![1u8], 1u8)].into_iter().collect();
        assert_eq!(
            Doc::from_serialize(&bad)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            serde_json::to_value(&bad)
                .map(|_| ())
                .map_err(|e| e.to_string())
        );
    }
}
