//! Parsing a definitions file so that its guests can be read in parallel.
//!
//! The container file is one object holding thousands of guests. Parsing it into one
//! `serde_json::Value` tree is serial, and so is everything read from that tree. Here
//! the file is skimmed once (`skim::containers_file_with`): `lxc_configs` is cut
//! into one entry per guest, each kept as the text it was written as (borrowed: no
//! copy), and the few other top-level entries are parsed. Each guest's text is
//! handed on as soon as it is cut out, and parsed on its own ([`guest`]), on
//! whichever core is free, straight before it is read (`ct::read_container`,
//! called from `load::containers_in_parallel`), while the skim goes on.
//!
//! Keys written twice. `serde_json` keeps the last value of a repeated key, and the
//! shell tool did the same through jq; phoenix warns about every repeat and refuses
//! some (`dupkeys`, `dupreport`). Finding them needs a second scan of the bytes, which
//! at 10,000 guests costs as much as the parse. So the parse here notices repeats
//! itself (a map insert that replaces a value, [`Checked`], or two fields of one
//! name in a guest's own list, [`as_object`]), and the caller runs that scan only
//! when there was one. A file without repeats, the usual case, is scanned
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
use serde_json::{Map, Number, Value};

/// An object's entries in the order written, each value as its text.
pub(crate) type RawEntries<'a> = Vec<(Cow<'a, str>, &'a str)>;

/// The container file's top-level entries in the order written.
pub(crate) type TopEntries<'a> = Vec<(Cow<'a, str>, Top<'a>)>;

/// A top-level entry of the container file, as `skim::containers_file_with` reads it.
pub(crate) enum Top<'a> {
    /// `lxc_configs`, an object: its entries, one per guest, as their texts.
    Guests(RawEntries<'a>),
    /// Any other entry, parsed.
    Value(Value),
}

/// What to make of a value that is an object ([`ObjectOr`]), and of any other.
trait OnObject<'de> {
    type Out;
    fn object<A: MapAccess<'de>>(self, map: A) -> Result<Self::Out, A::Error>;
    fn other(value: Value) -> Self::Out;
}

/// A value read by `M` when it is an object; any other parsed as [`Checked`]
/// parses it, and handed to `M::other`.
struct ObjectOr<'f, M>(Checked<'f>, M);

impl<'de, M: OnObject<'de>> DeserializeSeed<'de> for ObjectOr<'_, M> {
    type Value = M::Out;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<M::Out, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, M: OnObject<'de>> Visitor<'de> for ObjectOr<'_, M> {
    type Value = M::Out;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<M::Out, A::Error> {
        self.1.object(map)
    }

    fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<M::Out, E> {
        self.0.visit_bool(b).map(M::other)
    }

    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<M::Out, E> {
        self.0.visit_i64(n).map(M::other)
    }

    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<M::Out, E> {
        self.0.visit_u64(n).map(M::other)
    }

    fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<M::Out, E> {
        self.0.visit_f64(n).map(M::other)
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<M::Out, E> {
        self.0.visit_str(s).map(M::other)
    }

    fn visit_string<E: serde::de::Error>(self, s: String) -> Result<M::Out, E> {
        self.0.visit_string(s).map(M::other)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<M::Out, E> {
        self.0.visit_none().map(M::other)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<M::Out, E> {
        self.0.visit_unit().map(M::other)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<M::Out, D::Error> {
        self.0.visit_some(d).map(M::other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<M::Out, A::Error> {
        self.0.visit_seq(seq).map(M::other)
    }
}

/// `entries` as an object keeps them: sorted by key, and for a key written twice the
/// last value. The flag says whether some key was written twice.
pub(crate) fn as_object<V>(mut entries: Vec<(Cow<'_, str>, V)>) -> (Vec<(Cow<'_, str>, V)>, bool) {
    // Stable: of equal keys the last written stays last, and is the one kept.
    if entries.len() <= SMALL {
        sort_small(&mut entries);
    } else {
        // Most names differ in their first eight bytes, which compare as one
        // number where comparing the names was a call each time (see `prefix`).
        // Each name's number is worked out once, in the entries' order, and the
        // numbers (with the names, for equal numbers, and the places, which keep
        // it stable) are sorted beside them: a long list is a file's guests,
        // whose names lie far apart in its text, and working the numbers out
        // in every comparison read them again and again. At 10,000 guests that
        // sort took 2 to 3 ms, on one core, mostly waiting for memory. (A name
        // is nearly always borrowed from the text, and then taking it into the
        // key copies no text; only a name written with escapes is copied.)
        entries.sort_by_cached_key(|e| (prefix(&e.0), e.0.clone()));
    }
    // Of each run of one key, the last entry is kept, in place: `dedup_by` drops
    // the later of two equal entries, so the later is first swapped into the
    // earlier's place. (Copied into a new list, the entries of every guest and
    // every manifest were fresh memory of their own: 1% of a plan.)
    let before = entries.len();
    entries.dedup_by(|later, kept| {
        let same = later.0 == kept.0;
        if same {
            std::mem::swap(later, kept);
        }
        same
    });
    let repeated = entries.len() != before;
    (entries, repeated)
}

/// Up to how many entries [`sort_small`] sorts: a guest's fields, a manifest's.
const SMALL: usize = 32;

/// `entries` (at most [`SMALL`]) sorted by name, stably, by insertion: each
/// name's [`prefix`] worked out once and kept beside it, where the standard sort
/// worked out both of every pair it compared. At 10,000 guests that saved 7M of
/// 796M instructions. (Sorting the places and then moving each entry once to its
/// own was slower: the list of places cost more than the moves it saved.)
fn sort_small<V>(entries: &mut [(Cow<'_, str>, V)]) {
    let mut keys = [0u64; SMALL];
    for (key, e) in keys.iter_mut().zip(entries.iter()) {
        *key = prefix(&e.0);
    }
    let n = entries.len().min(SMALL);
    for i in 1..n {
        let mut j = i;
        while j > 0
            && (keys[j - 1] > keys[j]
                || (keys[j - 1] == keys[j] && entries[j - 1].0 > entries[j].0))
        {
            keys.swap(j - 1, j);
            entries.swap(j - 1, j);
            j -= 1;
        }
    }
}

/// A guest's entry as [`guest`] parses it: an object as the list of its fields,
/// sorted by name, one per name, each name borrowed from the text unless it holds
/// escapes; anything else as its value (which is no guest: an error says so).
pub(crate) type Parsed<'a> = Result<Vec<(Cow<'a, str>, Value)>, Value>;

/// The first eight bytes of `s` as a number, zeros after a shorter string: of two
/// strings whose numbers differ, the one with the smaller comes first.
fn prefix(s: &str) -> u64 {
    let b = s.as_bytes();
    let mut head = [0u8; 8];
    if let Some(first) = b.get(..8) {
        head.copy_from_slice(first);
    } else {
        head[..b.len()].copy_from_slice(b);
    }
    u64::from_be_bytes(head)
}

/// Parse a guest's text: its object as a list of its fields ([`Parsed`]), each
/// value as `serde_json` would parse it. The flag says whether an object inside,
/// the guest's own included, repeats a key (the last value is kept, as there).
/// `None` when the text is not JSON (the skim that cut it out did not check it:
/// see `skim`), or nests deeper than `serde_json` allows: the plain parse says
/// what is wrong.
pub(crate) fn guest(text: &str) -> Option<(Parsed<'_>, bool)> {
    let repeated = Cell::new(false);
    let mut de = serde_json::Deserializer::from_str(text);
    let checked = Checked {
        repeated: &repeated,
    };
    let parsed = ObjectOr(checked, GuestFields(checked))
        .deserialize(&mut de)
        .ok()?;
    de.end().ok()?;
    let parsed = parsed.map(|fields| {
        let (fields, r) = as_object(fields);
        if r {
            repeated.set(true);
        }
        fields
    });
    Some((parsed, repeated.get()))
}

/// A guest's object: its fields in the order written, each value parsed.
struct GuestFields<'f>(Checked<'f>);

impl<'de> OnObject<'de> for GuestFields<'_> {
    type Out = Parsed<'de>;

    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Parsed<'de>, A::Error> {
        let mut out = Vec::with_capacity(map.size_hint().unwrap_or(16));
        while let Some(key) = map.next_key::<Key<'de>>()? {
            out.push((key.0, map.next_value_seed(self.0)?));
        }
        Ok(Ok(out))
    }

    fn other(value: Value) -> Parsed<'de> {
        Err(value)
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

impl<'f> Checked<'f> {
    /// Values that set `repeated` where an object repeats a key.
    pub(crate) fn new(repeated: &'f Cell<bool>) -> Checked<'f> {
        Checked { repeated }
    }
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
#[path = "parse_tests.rs"]
mod tests;
