//! [`Manifest`]: a step's inputs, name → canonical value, sorted by name.
//!
//! Why not a `BTreeMap<String, String>`, which it was: a guest has five or so
//! manifests of one to ten entries, and a B-tree gives each map a node of eleven
//! slots (over 500 bytes) however few it holds. At 10,000 guests that was 28 MB of
//! nodes, most of them empty, and writing fresh memory is what planning spent most of
//! its time on. One string holding every name and value, with a sorted index into it,
//! holds exactly its entries; and the map's behaviour is kept: sorted iteration, one value per name (the last inserted wins), and the same
//! JSON (an object with its keys in order), so recorded manifests read as before.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Input name → canonical value. Sorted, so hashing and diffing are stable.
///
/// Stored packed: every name and value in one string, and for each entry, in name
/// order, where its name and value are in it. Two allocations per manifest, not
/// two per entry.
#[derive(Clone, Default)]
pub struct Manifest {
    text: String,
    /// Per entry, in name order: name start, name end (= value start), value end.
    index: Vec<(u32, u32, u32)>,
}

impl Manifest {
    pub fn new() -> Manifest {
        Manifest::default()
    }

    /// Room for `entries` entries of usual length (a name and a short value).
    pub fn with_capacity(entries: usize) -> Manifest {
        Manifest {
            text: String::with_capacity(entries * 40),
            index: Vec::with_capacity(entries),
        }
    }

    /// The manifest of `entries`, which are in name order, one per name (a
    /// [`super::draft::Sorted`]'s): written at its size, with no search.
    pub(super) fn of_sorted<'e>(
        entries: impl Iterator<Item = (&'e str, &'e str)> + Clone,
    ) -> Manifest {
        let len = entries.clone().map(|(k, v)| k.len() + v.len()).sum();
        let mut m = Manifest {
            text: String::with_capacity(len),
            index: Vec::with_capacity(entries.size_hint().0),
        };
        for (name, value) in entries {
            debug_assert!(m.index.is_empty() || m.name_at(m.index.len() - 1) < name);
            let (a, b) = m.push(name);
            let c = m.push(value).1;
            m.index.push((a, b, c));
        }
        m
    }

    fn name_at(&self, i: usize) -> &str {
        let (a, b, _) = self.index[i];
        &self.text[a as usize..b as usize]
    }

    fn value_at(&self, i: usize) -> &str {
        let (_, b, c) = self.index[i];
        &self.text[b as usize..c as usize]
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        // Entries mostly arrive in order: try the end first.
        let n = self.index.len();
        if n == 0 || self.name_at(n - 1) < name {
            return Err(n);
        }
        let mut lo = 0;
        let mut hi = n;
        while lo < hi {
            let mid = usize::midpoint(lo, hi);
            match self.name_at(mid).cmp(name) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    /// Append `s` to the text; where it starts and ends.
    fn push(&mut self, s: &str) -> (u32, u32) {
        let start = self.text.len();
        self.text.push_str(s);
        // A manifest of 4 GiB is not a manifest: the offsets saturate rather than wrap.
        let at = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        (at(start), at(self.text.len()))
    }

    /// Set `name` to `value`; whether it had a value before (which is replaced).
    pub fn insert(&mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> bool {
        let (name, value) = (name.as_ref(), value.as_ref());
        match self.find(name) {
            Ok(i) => {
                // The old entry's bytes stay behind in the text, unused.
                let (a, b) = self.push(name);
                let c = self.push(value).1;
                self.index[i] = (a, b, c);
                true
            }
            Err(i) => {
                let (a, b) = self.push(name);
                let c = self.push(value).1;
                self.index.insert(i, (a, b, c));
                false
            }
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.find(name).ok().map(|i| self.value_at(i))
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.find(name).is_ok()
    }

    /// Take `name` out; whether it was there.
    pub fn remove(&mut self, name: &str) -> bool {
        self.find(name).ok().map(|i| self.index.remove(i)).is_some()
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Entries in name order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            m: self,
            front: 0,
            back: self.index.len(),
        }
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &str> + ExactSizeIterator {
        self.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &str> + ExactSizeIterator {
        self.iter().map(|(_, v)| v)
    }
}

impl PartialEq for Manifest {
    fn eq(&self, other: &Manifest) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Manifest {}

/// Iterator over a manifest's entries, in name order.
#[derive(Clone)]
pub struct Iter<'a> {
    m: &'a Manifest,
    front: usize,
    back: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        (self.front < self.back).then(|| {
            self.front += 1;
            (
                self.m.name_at(self.front - 1),
                self.m.value_at(self.front - 1),
            )
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.back - self.front, Some(self.back - self.front))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        (self.front < self.back).then(|| {
            self.back -= 1;
            (self.m.name_at(self.back), self.m.value_at(self.back))
        })
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a Manifest {
    type Item = (&'a str, &'a str);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl<K: AsRef<str>, V: AsRef<str>> Extend<(K, V)> for Manifest {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, items: I) {
        for (k, v) in items {
            self.insert(k, v);
        }
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for Manifest {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(items: I) -> Manifest {
        let mut m = Manifest::new();
        m.extend(items);
        m
    }
}

impl<const N: usize> From<[(String, String); N]> for Manifest {
    fn from(items: [(String, String); N]) -> Manifest {
        items.into_iter().collect()
    }
}

/// `manifest["name"]`, as for a map: panics when the name is absent.
impl std::ops::Index<&str> for Manifest {
    type Output = str;

    fn index(&self, name: &str) -> &str {
        self.get(name)
            .unwrap_or_else(|| panic!("no input named {name:?} in the manifest"))
    }
}

impl fmt::Debug for Manifest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for Manifest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.len()))?;
        for (k, v) in self {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Manifest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Manifest, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Manifest;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Manifest, A::Error> {
                let mut m = Manifest::with_capacity(map.size_hint().unwrap_or(0));
                while let Some((k, v)) = map.next_entry::<String, String>()? {
                    m.insert(k, v);
                }
                Ok(m)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn s(x: &str) -> String {
        x.to_string()
    }

    #[test]
    fn behaves_as_the_sorted_map_it_replaces() {
        let ops = [
            ("memory_mb", "1"),
            ("cores", "2"),
            ("name", "3"),
            ("cores", "4"),
            ("a", "5"),
            ("zz", "6"),
            ("m", "7"),
            ("name", "8"),
            ("", "9"),
        ];
        let mut m = Manifest::new();
        let mut b: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in ops {
            assert_eq!(m.insert(k, v), b.insert(s(k), s(v)).is_some(), "{k}");
            let ours: Vec<(String, String)> = m.iter().map(|(k, v)| (s(k), s(v))).collect();
            let theirs: Vec<(String, String)> = b.clone().into_iter().collect();
            assert_eq!(ours, theirs);
        }
        assert_eq!(m.get("cores"), b.get("cores").map(String::as_str));
        assert_eq!(m.get("nope"), None);
        assert!(m.contains_key("zz") && !m.contains_key("z"));
        assert_eq!(m.remove("m"), b.remove("m").is_some());
        assert!(!m.remove("m"));
        assert_eq!(m.len(), b.len());
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            serde_json::to_string(&b).unwrap()
        );
        assert_eq!(m.iter().next_back(), Some(("zz", "6")));
        let same: Manifest = b.iter().collect();
        assert_eq!(m, same, "equal whatever bytes replaced values left behind");
        assert_eq!(&m["name"], "8");
        m.insert("cores", "10");
        m.insert("b", "11");
        assert_eq!(
            m.iter().take(3).collect::<Vec<_>>(),
            [("", "9"), ("a", "5"), ("b", "11")]
        );
        assert_eq!(m.get("cores"), Some("10"));
    }

    #[test]
    fn reads_recorded_json_and_keeps_the_last_of_a_repeated_name() {
        let m: Manifest = serde_json::from_str(r#"{"b":"1","a":"2","b":"3"}"#).unwrap();
        assert_eq!(m.iter().collect::<Vec<_>>(), [("a", "2"), ("b", "3")]);
        assert!(serde_json::from_str::<Manifest>("[1]").is_err());
        assert_eq!(format!("{m:?}"), r#"{"a": "2", "b": "3"}"#);
    }
}
