//! Typed reads out of `serde_json` values that record a diagnostic instead of failing.
//!
//! The real definition files are sloppy (IDs as strings here and integers there), so
//! phoenix parses JSON into [`serde_json::Value`] and reads each field it interprets
//! through a [`Reader`], which knows the file and JSON path and keeps going after a
//! wrong type so that one run reports every problem.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::diag::{Diagnostic, Diagnostics};

/// A JSON object fields are read from: a plain `serde_json` object, or a guest's
/// ([`Fields`]).
pub(crate) trait Obj {
    /// The value of `key`, `null` included.
    fn field(&self, key: &str) -> Option<&Value>;
}

impl Obj for Map<String, Value> {
    fn field(&self, key: &str) -> Option<&Value> {
        self.get(key)
    }
}

/// A guest's object: its fields in name order, one per name, and at once most of
/// the fields it does not have.
///
/// Not the object's B-tree. A container's object is parsed as a list of its
/// fields, sorted, the names borrowed from the file's text ([`super::parse::guest`]):
/// at 10,000 guests, inserting each field into a B-tree under a name copied out,
/// and freeing it all again, was about a tenth of what reading the guests cost. A
/// VM's object, parsed whole with its file, lends its entries the same way.
///
/// The readers ask a guest for every field its kind can have, some fifty names,
/// and a guest has a dozen or so: most lookups are of a field that is not there.
/// A filter of the names that are there (two bits of 128 for each, from its length
/// and some of its bytes) answers most of them without a look; when it cannot,
/// the list is searched.
pub(crate) struct Fields<'v> {
    entries: Vec<(&'v str, &'v Value)>,
    /// Each entry's name hashed ([`hash`]), in the entries' order.
    hashes: Vec<u64>,
    seen: u128,
}

impl<'v> Fields<'v> {
    /// The fields of a parsed object.
    pub(crate) fn new(map: &'v Map<String, Value>) -> Fields<'v> {
        Fields::sorted(map.iter().map(|(k, v)| (k.as_str(), v)).collect())
    }

    /// The fields of an object read as a list of its fields, sorted by name, one
    /// per name (as [`super::parse::as_object`] leaves them).
    pub(crate) fn of(object: &'v [(Cow<'_, str>, Value)]) -> Fields<'v> {
        Fields::sorted(object.iter().map(|(k, v)| (k.as_ref(), v)).collect())
    }

    fn sorted(entries: Vec<(&'v str, &'v Value)>) -> Fields<'v> {
        debug_assert!(entries.windows(2).all(|w| w[0].0 < w[1].0));
        let hashes: Vec<u64> = entries.iter().map(|(k, _)| hash(k)).collect();
        let seen = hashes.iter().fold(0, |seen, &h| seen | bits(h));
        Fields {
            entries,
            hashes,
            seen,
        }
    }

    /// The value of `key`, `null` included. A name that gets past the filter is
    /// looked for among the hashes, a dozen numbers side by side, and only a name
    /// of the same hash is compared: a search of the names compared half of them.
    pub(crate) fn get(&self, key: &str) -> Option<&'v Value> {
        let h = hash(key);
        let bits = bits(h);
        if self.seen & bits != bits {
            return None;
        }
        self.hashes
            .iter()
            .zip(&self.entries)
            .find(|(hk, (k, _))| **hk == h && *k == key)
            .map(|(_, (_, v))| *v)
    }

    /// The fields in name order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&'v str, &'v Value)> + '_ {
        self.entries.iter().copied()
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &'v str> + '_ {
        self.entries.iter().map(|(k, _)| *k)
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &'v Value> + '_ {
        self.entries.iter().map(|(_, v)| *v)
    }
}

/// A field name's hash, from its length, first and last bytes and the byte in
/// the middle (field names share prefixes and suffixes: `storage_pool`,
/// `storage_size_gb`, `*_mb`). Names of one hash are told apart by comparing them.
fn hash(key: &str) -> u64 {
    let b = key.as_bytes();
    let byte = |i: usize| u64::from(b.get(i).copied().unwrap_or(0));
    let mut h = (b.len() as u64) ^ (byte(0) << 8) ^ (byte(b.len() / 2) << 16);
    h ^= byte(b.len().saturating_sub(1)) << 24;
    h.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The filter bits of a name of hash `h`: two of 128.
fn bits(h: u64) -> u128 {
    (1u128 << (h >> 57)) | (1u128 << ((h >> 50) & 127))
}

/// The fields as the object they are, written as `serde_json` writes one.
impl serde::Serialize for Fields<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl Obj for Fields<'_> {
    fn field(&self, key: &str) -> Option<&Value> {
        Fields::get(self, key)
    }
}

pub(crate) struct Reader<'a> {
    pub file: &'a str,
    pub diags: &'a mut Diagnostics,
}

/// `"a number"`, `"the string \"x\""`: how a found value is described in an error.
pub(crate) fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.chars().count() > 40 => "a long string".into(),
        Value::String(s) => format!("the string \"{}\"", quote(s)),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// A value from the definitions as it appears in a message: escaped, and cut when
/// long, so a 10 MB string in a file never becomes 10 MB of terminal output.
pub fn quote(s: &str) -> String {
    const MAX: usize = 80;
    let escaped: String = s.escape_debug().collect();
    if escaped.chars().count() > MAX {
        let cut: String = escaped.chars().take(MAX).collect();
        format!("{cut}...")
    } else {
        escaped
    }
}

/// A guest ID as [`Reader::id_value`] takes one, without a message.
fn parse_id(v: &Value) -> Option<u32> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.trim().parse::<u32>().ok(),
        _ => None,
    }
}

/// A field's JSON path, `base.key`, written out only when a message needs it: most
/// values are fine, and each check of each guest made one.
#[derive(Clone, Copy)]
pub(crate) struct At<'a>(pub &'a str, pub &'a str);

impl From<At<'_>> for String {
    fn from(at: At<'_>) -> String {
        join(at.0, at.1)
    }
}

pub(crate) fn join(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_string()
    } else {
        // Not `format!`: every field read builds a path, and the formatting
        // machinery was a sixth of the time reading took.
        let mut out = String::with_capacity(base.len() + 1 + key.len());
        out.push_str(base);
        out.push('.');
        out.push_str(key);
        out
    }
}

impl Reader<'_> {
    pub fn error(
        &mut self,
        path: impl Into<String>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.diags
            .push(Diagnostic::error(self.file, path, message).help(help));
    }

    pub fn warn(
        &mut self,
        path: impl Into<String>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.diags
            .push(Diagnostic::warning(self.file, path, message).help(help));
    }

    fn wrong_type(&mut self, path: &str, expected: &str, got: &Value, example: &str) {
        self.error(
            path,
            format!("expected {expected}, found {}", describe(got)),
            format!("write it as {example}"),
        );
    }

    /// The value at `obj[key]`, treating `null` as absent (as the shell tool did).
    pub fn get<'v, O: Obj + ?Sized>(obj: &'v O, key: &str) -> Option<&'v Value> {
        obj.field(key).filter(|v| !v.is_null())
    }

    pub fn str<O: Obj + ?Sized>(&mut self, obj: &O, base: &str, key: &str) -> Option<String> {
        self.s(obj, base, key).map(str::to_string)
    }

    /// Like [`Reader::str`], borrowing: most fields are only checked, not kept.
    pub fn s<'v, O: Obj + ?Sized>(&mut self, obj: &'v O, base: &str, key: &str) -> Option<&'v str> {
        match Self::get(obj, key)? {
            Value::String(s) => Some(s),
            other => {
                self.wrong_type(&join(base, key), "a string", other, "\"text\"");
                None
            }
        }
    }

    pub fn bool<O: Obj + ?Sized>(&mut self, obj: &O, base: &str, key: &str) -> Option<bool> {
        match Self::get(obj, key)? {
            Value::Bool(b) => Some(*b),
            other => {
                self.wrong_type(
                    &join(base, key),
                    "true or false",
                    other,
                    "true or false (no quotes)",
                );
                None
            }
        }
    }

    /// A non-negative integer; integral strings are refused so that typos surface.
    pub fn uint<O: Obj + ?Sized>(&mut self, obj: &O, base: &str, key: &str) -> Option<u64> {
        match Self::get(obj, key)? {
            Value::Number(n) if n.as_u64().is_some() => n.as_u64(),
            // A number below zero or with a fraction: quotes are not what is wrong.
            other @ Value::Number(_) => {
                self.wrong_type(
                    &join(base, key),
                    "a whole number",
                    other,
                    "a whole number of 0 or more, without a sign or a decimal point",
                );
                None
            }
            other => {
                self.wrong_type(
                    &join(base, key),
                    "a whole number",
                    other,
                    "a number without quotes",
                );
                None
            }
        }
    }

    /// A guest ID: the real files write them as strings of digits (`"900"`) in some
    /// places and integers in others; both are accepted.
    pub fn id_value(&mut self, v: &Value, path: &str) -> Option<u32> {
        let parsed = parse_id(v);
        if parsed.is_none() {
            self.wrong_type(
                path,
                "a guest ID",
                v,
                "a number such as 900 or the string \"900\"",
            );
        }
        parsed
    }

    pub fn id<O: Obj + ?Sized>(&mut self, obj: &O, base: &str, key: &str) -> Option<u32> {
        let v = Self::get(obj, key)?;
        self.id_value(v, &join(base, key))
    }

    pub fn array<'v, O: Obj + ?Sized>(
        &mut self,
        obj: &'v O,
        base: &str,
        key: &str,
    ) -> Option<&'v Vec<Value>> {
        match Self::get(obj, key)? {
            Value::Array(a) => Some(a),
            other => {
                self.wrong_type(&join(base, key), "an array", other, "[ ... ]");
                None
            }
        }
    }

    pub fn object<'v, O: Obj + ?Sized>(
        &mut self,
        obj: &'v O,
        base: &str,
        key: &str,
    ) -> Option<&'v Map<String, Value>> {
        match Self::get(obj, key)? {
            Value::Object(m) => Some(m),
            other => {
                self.wrong_type(&join(base, key), "an object", other, "{ ... }");
                None
            }
        }
    }

    pub fn str_list<O: Obj + ?Sized>(&mut self, obj: &O, base: &str, key: &str) -> Vec<String> {
        let Some(items) = self.array(obj, base, key) else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::String(s) => out.push(s.clone()),
                other => self.wrong_type(
                    &format!("{}[{i}]", join(base, key)),
                    "a string",
                    other,
                    "\"text\"",
                ),
            }
        }
        out
    }

    /// IDs with the place of each in the array, so later checks can point at the
    /// entry (its path is made only for a message: most lists are fine).
    pub fn id_list<O: Obj + ?Sized>(
        &mut self,
        obj: &O,
        base: &str,
        key: &str,
    ) -> Vec<(u32, usize)> {
        let Some(items) = self.array(obj, base, key) else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let id = parse_id(item)
                .or_else(|| self.id_value(item, &format!("{}[{i}]", join(base, key))));
            if let Some(id) = id {
                out.push((id, i));
            }
        }
        out
    }
}

#[cfg(test)]
#[path = "read_tests.rs"]
mod tests;
