//! Parsing a definitions file so that its guests can be read in parallel.
//!
//! The container file is one object holding thousands of guests. Parsing it into one
//! `serde_json::Value` tree is serial, and so is everything read from that tree. Here
//! the file is first skimmed into its top-level entries, each value kept as the text
//! it was written as ([`RawValue`], borrowed: no copy), and `lxc_configs` likewise into
//! one entry per guest. Each guest's text is then parsed on its own, on whichever
//! core is free, straight before it is read (`ct::read_container`, called from
//! `load::containers_in_parallel`).
//!
//! Keys written twice. `serde_json` keeps the last value of a repeated key, and the
//! shell tool did the same through jq; phoenix warns about every repeat and refuses
//! some (`dupkeys`, `dupreport`). Finding them needs a second scan of the bytes, which
//! at 10,000 guests costs as much as the parse. So the parse here notices repeats
//! itself (a map insert that replaces a value: [`Checked`]), and the caller runs that
//! scan only when there was one. A file without repeats, the usual case, is scanned
//! once.
//!
//! Anything this path does not expect (a syntax error, a top level that is not an
//! object, `lxc_configs` that is not an object) makes the caller fall back to the
//! plain parse of the whole file, whose diagnostics are the reference: both paths
//! give the same guests and the same messages.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};

/// An object's entries in the order written, each value as its text.
pub(crate) type RawEntries<'a> = Vec<(Cow<'a, str>, &'a RawValue)>;

/// The entries of the object `text` holds; `None` when it is not one object (or not
/// JSON at all: the plain parse says what is wrong).
pub(crate) fn entries(text: &str) -> Option<RawEntries<'_>> {
    let mut de = serde_json::Deserializer::from_str(text);
    let out = de.deserialize_map(EntriesVisitor).ok()?;
    de.end().ok()?;
    Some(out)
}

/// `entries` as an object keeps them: sorted by key, and for a key written twice the
/// last value. The flag says whether some key was written twice.
pub(crate) fn as_object(mut entries: RawEntries<'_>) -> (RawEntries<'_>, bool) {
    // Stable: of equal keys the last written stays last, and is the one kept.
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let before = entries.len();
    let mut out: RawEntries<'_> = Vec::with_capacity(before);
    for e in entries {
        match out.last_mut() {
            Some(last) if last.0 == e.0 => *last = e,
            _ => out.push(e),
        }
    }
    let repeated = out.len() != before;
    (out, repeated)
}

/// Parse one value's text into a `Value`, as `serde_json` would; the flag says
/// whether an object inside repeats a key. The text was already checked as JSON by
/// the skim that cut it out; `None` (nesting deeper than `serde_json` allows) is
/// left to the plain parse.
pub(crate) fn value(raw: &RawValue) -> Option<(Value, bool)> {
    let repeated = Cell::new(false);
    let mut de = serde_json::Deserializer::from_str(raw.get());
    let v = Checked {
        repeated: &repeated,
    }
    .deserialize(&mut de)
    .ok()?;
    de.end().ok()?;
    Some((v, repeated.get()))
}

struct EntriesVisitor;

impl<'de> Visitor<'de> for EntriesVisitor {
    type Value = RawEntries<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let value: &'de RawValue = map.next_value()?;
            out.push((key.0, value));
        }
        Ok(out)
    }
}

/// An object key, borrowed from the text unless it holds escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_string())))
            }
            fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Builds the `Value` `serde_json` builds, and records whether an object repeated a
/// key (the repeat's value replaces the earlier one, as there).
#[derive(Clone, Copy)]
pub(crate) struct Checked<'f> {
    repeated: &'f Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for Checked<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Checked<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(Number::from_f64(n).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_string()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element_seed(self)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value_seed(self)?;
            if out.insert(k, v).is_some() {
                self.repeated.set(true);
            }
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_string()).unwrap()
    }

    #[test]
    fn values_are_what_serde_json_parses() {
        for text in [
            r#"{"b":1,"a":[true,null,-3,2.5,1.5e300],"c":{"x":"y\u00e9","n":18446744073709551615}}"#,
            r#"[{"a":{"b":{"c":[[]]}}},"",0]"#,
            r#""just a string""#,
        ] {
            let (v, repeated) = value(&raw(text)).unwrap();
            let plain: Value = serde_json::from_str(text).unwrap();
            assert_eq!(v, plain, "{text}");
            assert!(!repeated, "{text}");
        }
    }

    #[test]
    fn a_repeated_key_anywhere_is_noticed_and_the_last_value_kept() {
        let (v, repeated) = value(&raw(r#"{"a":{"m":1,"m":2},"b":[{"k":0}]}"#)).unwrap();
        assert!(repeated);
        assert_eq!(v["a"]["m"], 2);
        let (_, repeated) = value(&raw(r#"{"a":{"m":1},"b":[{"m":1}]}"#)).unwrap();
        assert!(!repeated, "the same key in two objects is no repeat");
    }

    #[test]
    fn entries_keep_the_text_and_an_object_keeps_the_last_of_a_key() {
        let text = r#" {"900": {"name": "a"}, "10\u0030": 1, "900": {"name":"b"}} "#;
        let e = entries(text).expect("an object");
        assert_eq!(e.len(), 3);
        assert_eq!(e[1].0, "100", "escapes in keys are decoded");
        assert_eq!(e[0].1.get(), r#"{"name": "a"}"#);
        let (obj, repeated) = as_object(e);
        assert!(repeated);
        let keys: Vec<&str> = obj.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(keys, ["100", "900"]);
        assert_eq!(obj[1].1.get(), r#"{"name":"b"}"#);
        assert!(entries("[1]").is_none());
        assert!(entries(r#"{"a": 1,}"#).is_none());
        assert!(entries(r#"{"a": 1} x"#).is_none());
    }
}
