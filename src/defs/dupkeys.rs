//! Duplicate keys in a JSON object. `serde_json` keeps the last and drops the rest
//! without a word; for definitions that means a copied container block whose key was
//! not changed silently replaces the original. This pass finds them.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};

use super::read::join;

/// JSON paths of keys that appear more than once in their object.
pub fn duplicate_keys(text: &[u8]) -> Vec<String> {
    let out = RefCell::new(Vec::new());
    let mut de = serde_json::Deserializer::from_slice(text);
    let _ = Walk {
        at: None,
        out: &out,
    }
    .deserialize(&mut de);
    out.into_inner()
}

/// Where the walk is: a chain of segments on the stack, rendered only for a duplicate.
#[derive(Clone, Copy)]
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

struct At<'a> {
    parent: Option<&'a At<'a>>,
    seg: Seg<'a>,
}

fn render(at: Option<&At>) -> String {
    let Some(at) = at else {
        return String::new();
    };
    let base = render(at.parent);
    match at.seg {
        Seg::Key(k) => join(&base, k),
        Seg::Index(i) => format!("{base}[{i}]"),
    }
}

struct Walk<'a> {
    at: Option<&'a At<'a>>,
    out: &'a RefCell<Vec<String>>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

/// A key, borrowed from the input when it has no escapes.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // Small objects (every guest) are scanned; big ones (`lxc_configs`) hashed.
        let mut few: Vec<Cow<'de, str>> = Vec::new();
        let mut many: HashSet<Cow<'de, str>> = HashSet::new();
        while let Some(key) = map.next_key_seed(Key)? {
            let dup = if many.is_empty() && few.len() < 32 {
                let dup = few.contains(&key);
                if !dup {
                    few.push(key.clone());
                }
                dup
            } else {
                if many.is_empty() {
                    many.extend(few.drain(..));
                }
                !many.insert(key.clone())
            };
            let at = At {
                parent: self.at,
                seg: Seg::Key(&key),
            };
            if dup {
                self.out.borrow_mut().push(render(Some(&at)));
            }
            map.next_value_seed(Walk {
                at: Some(&at),
                out: self.out,
            })?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        loop {
            let at = At {
                parent: self.at,
                seg: Seg::Index(i),
            };
            if seq
                .next_element_seed(Walk {
                    at: Some(&at),
                    out: self.out,
                })?
                .is_none()
            {
                break;
            }
            i += 1;
        }
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_repeated_keys_at_any_depth() {
        let text =
            br#"{"lxc_configs": {"950": {"a": 1}, "951": {"b": [{"x": 1, "x": 2}]}, "950": {}}}"#;
        assert_eq!(
            duplicate_keys(text),
            ["lxc_configs.951.b[0].x", "lxc_configs.950"]
        );
        assert!(duplicate_keys(br#"{"a": {"a": 1}}"#).is_empty());
    }
}
