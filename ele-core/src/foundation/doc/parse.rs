//! Parsing JSON text into a [`Doc`], through `serde_json`'s parser (its errors, its numbers).

use std::fmt;

use serde::de;
use serde_json::Number;

use super::{Doc, TOO_LARGE};

impl Doc {
    /// Parses one JSON text (a JSON Lines line) into this document, replacing its content, with the numbers
    /// [`canonical_json_number`](crate::foundation::py_decimal::canonical_json_number) keeps (integers in the
    /// 64-bit range as integers, `-0` as 0) and `serde_json`'s errors.
    pub fn parse_json(&mut self, bytes: &[u8]) -> serde_json::Result<()> {
        self.clear();
        let mut de = serde_json::Deserializer::from_slice(bytes);
        de::DeserializeSeed::deserialize(DocSeed(self), &mut de)?;
        de.end()?;
        if self.overflow {
            return Err(de::Error::custom(TOO_LARGE));
        }
        Ok(())
    }
}

/// The key under which `serde_json` (with `arbitrary_precision`) hands a number to a visitor.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// Parses one value into the document.
struct DocSeed<'d>(&'d mut Doc);

impl<'de> de::DeserializeSeed<'de> for DocSeed<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// A number given as its text (how `arbitrary_precision` hands it over).
struct NumberText<'d>(&'d mut Doc);

impl<'de> de::DeserializeSeed<'de> for NumberText<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> de::Visitor<'de> for NumberText<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<(), E> {
        let integer = !text.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'));
        if integer {
            // What `canonical_json_number` gives an integer in range, without building a `Number`.
            if let Ok(i) = text.parse::<i64>() {
                self.0.push_display_number(i);
                return Ok(());
            }
            if let Ok(u) = text.parse::<u64>() {
                self.0.push_display_number(u);
                return Ok(());
            }
        }
        let number = crate::foundation::py_decimal::canonical_json_number(text)
            .ok_or_else(|| E::custom("number out of range"))?;
        self.0.push_number_text(number.as_str());
        Ok(())
    }
}

/// An object key: pushed as a key node, or recognised as the token of a number (then nothing is pushed).
struct KeySeed<'d>(&'d mut Doc);

impl<'de> de::DeserializeSeed<'de> for KeySeed<'_> {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> de::Visitor<'de> for KeySeed<'_> {
    /// Whether the key is the number token.
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, v: &str) -> Result<bool, E> {
        if v == NUMBER_TOKEN {
            return Ok(true);
        }
        self.0.push_key(v);
        Ok(false)
    }
}

impl<'de> de::Visitor<'de> for DocSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.0.push_bool(v);
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.0.push_display_number(v);
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.0.push_display_number(v);
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        match Number::from_f64(v) {
            Some(n) => self.0.push_number_text(n.as_str()),
            None => self.0.push_null(),
        }
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.0.push_str(v);
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.0.push_null();
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        self.0.push_null();
        Ok(())
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mark = self.0.begin();
        let mut len = 0;
        while seq.next_element_seed(DocSeed(&mut *self.0))?.is_some() {
            len += 1;
        }
        self.0.end_array(mark, len);
        Ok(())
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mark = self.0.begin();
        let mut len = 0;
        loop {
            let is_number = match map.next_key_seed(KeySeed(&mut *self.0))? {
                None => break,
                Some(is_number) => is_number,
            };
            if is_number {
                if len == 0 {
                    // serde_json's `arbitrary_precision` hands a number over as a map of its text.
                    self.0.nodes.truncate(mark);
                    return map.next_value_seed(NumberText(&mut *self.0));
                }
                self.0.push_key(NUMBER_TOKEN);
            }
            map.next_value_seed(DocSeed(&mut *self.0))?;
            len += 1;
        }
        self.0.end_object(mark, len);
        Ok(())
    }
}
