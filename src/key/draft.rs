//! [`Draft`]: a step's manifest while a guest's keys are computed, its entries
//! borrowed from the definitions where they can be.
//!
//! Why not a [`Manifest`] straight away. Every key is the hash of its manifest,
//! but a plan keeps a manifest only to compare it with a recorded one
//! ([`super::assess_keeping`]): at 10,000 guests with nothing recorded, none is
//! kept. Built as manifests, every field's canonical text was copied into a
//! manifest's string (and a feature's fields once more per feature), hashed, and
//! dropped. A draft lists the entries as slices of the guest's field texts and of
//! what the assessment made once; the key is hashed from them, and a manifest is
//! written only for a step whose manifest is kept.
//!
//! What a manifest does with its entries a draft does at the end ([`Draft::sorted`]):
//! entries in name order, and of a name inserted twice the value inserted last.

use std::borrow::Cow;

use super::Manifest;

/// A manifest's entries in the order they were inserted.
#[derive(Clone, Default)]
pub(super) struct Draft<'a> {
    entries: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> Draft<'a> {
    pub(super) fn with_capacity(entries: usize) -> Draft<'a> {
        Draft {
            entries: Vec::with_capacity(entries),
        }
    }

    /// Set `name` to `value` (the last value given for a name is its value).
    pub(super) fn insert(&mut self, name: impl Into<Cow<'a, str>>, value: impl Into<Cow<'a, str>>) {
        self.entries.push((name.into(), value.into()));
    }

    pub(super) fn contains_key(&self, name: &str) -> bool {
        self.entries.iter().any(|(k, _)| k == name)
    }

    /// The entries as a manifest holds them: sorted by name, one per name.
    pub(super) fn sorted(self) -> Sorted<'a> {
        // What a JSON object keeps of its entries, as the definitions' parse makes one.
        Sorted(crate::defs::as_object(self.entries).0)
    }
}

impl<'a, K: Into<Cow<'a, str>>, V: Into<Cow<'a, str>>> Extend<(K, V)> for Draft<'a> {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, items: I) {
        for (k, v) in items {
            self.insert(k, v);
        }
    }
}

/// A draft's entries in name order, one per name: what its key is hashed from.
pub(super) struct Sorted<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl Sorted<'_> {
    pub(super) fn iter(&self) -> impl Iterator<Item = (&str, &str)> + Clone {
        self.0.iter().map(|(k, v)| (k.as_ref(), v.as_ref()))
    }

    /// The manifest of these entries, written once at its size.
    pub(super) fn to_manifest(&self) -> Manifest {
        Manifest::of_sorted(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::Draft;
    use crate::key::Manifest;

    /// A draft ends as a manifest given the same inserts does: in name order,
    /// the last value of a name inserted twice.
    #[test]
    fn a_draft_sorts_and_keeps_the_last_value_as_a_manifest_does() {
        let inserts = [
            ("memory_mb", "2048"),
            ("kind", "\"ct\""),
            ("cores", "2"),
            ("memory_mb", "4096"),
            ("clone source ct:900", "\"abc\""),
            ("", "empty name"),
        ];
        let mut draft = Draft::with_capacity(2);
        let mut manifest = Manifest::new();
        for (k, v) in inserts {
            draft.insert(k, v.to_string());
            manifest.insert(k, v);
        }
        assert!(draft.contains_key("cores") && !draft.contains_key("core"));
        let sorted = draft.sorted();
        assert!(sorted.iter().eq(manifest.iter()));
        assert_eq!(sorted.to_manifest(), manifest);
        assert_eq!(sorted.to_manifest()["memory_mb"], *"4096");
    }
}
