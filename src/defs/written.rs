//! A guest as written: its JSON text, and its fields' canonical texts.
//!
//! Why not the parsed object. A guest's `serde_json` object is kept by nobody for
//! long: the readers take the typed values out of it, the keys need each field's
//! canonical text, and a script needs the whole object once, when it runs. Kept for
//! every guest, the objects were the largest thing a plan held (a few kilobytes a
//! guest, 30 MB at 10,000), and building that much fresh memory was most of what
//! reading cost. So while the object is at hand, in the reader, each field's
//! canonical text is written once ([`FieldTexts`]), and the object itself is kept as
//! the text it was written as ([`Written`], a slice of the file, shared), parsed
//! again where the whole object is needed.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::canon;
use super::fields::{Class, FieldEntry};
use super::model::GuestKind;
use super::read::Fields;

/// A guest's JSON object as written: a slice of its file's text.
#[derive(Clone)]
pub struct Written {
    text: Arc<String>,
    range: Range<usize>,
}

impl Written {
    /// The object at `range` of `text` (a whole file, shared by its guests).
    pub(crate) fn new(text: Arc<String>, range: Range<usize>) -> Written {
        Written { text, range }
    }

    /// An object that has no text of its own to point at: written out.
    pub(crate) fn of(obj: &Fields) -> Written {
        let text = Arc::new(serde_json::to_string(obj).unwrap_or_else(|_| "{}".into()));
        let range = 0..text.len();
        Written { text, range }
    }

    pub fn text(&self) -> &str {
        self.text.get(self.range.clone()).unwrap_or("{}")
    }

    /// The object, parsed again. It parsed when it was read, so this does not fail;
    /// if it did, the object would be empty.
    pub fn parse(&self) -> Map<String, Value> {
        serde_json::from_str(self.text()).unwrap_or_default()
    }
}

/// The empty object every guest starts from, shared.
static EMPTY: std::sync::LazyLock<Arc<String>> =
    std::sync::LazyLock::new(|| Arc::new("{}".to_string()));

impl Default for Written {
    fn default() -> Written {
        Written {
            text: EMPTY.clone(),
            range: 0..2,
        }
    }
}

impl fmt::Debug for Written {
    // Not the text: it may hold secrets, and a `{:?}` of a guest must not show them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Written({} bytes)", self.range.len())
    }
}

/// Every field of a guest that enters a key, with the class of the step that
/// consumes it, the name it enters under and its canonical text ([`canon`]), as
/// `key` puts them in the manifests. Packed: one string and one index.
#[derive(Clone, Default)]
pub struct FieldTexts {
    text: String,
    /// Per field: its class, where its name starts, ends (= where its text
    /// starts), and where its text ends.
    index: Vec<(Class, u32, u32, u32)>,
}

impl FieldTexts {
    /// The fields of a guest whose object is `raw`, each with the class and name it
    /// enters the keys under (`entries`, in `raw`'s order, as
    /// [`super::fields::field_entry`] gives them): the interpreted fields by their class
    /// (`null` is absent, as it was for the shell tool), then the application
    /// fields (unknown ones included).
    pub(crate) fn of(raw: &Fields, entries: &[FieldEntry]) -> FieldTexts {
        // Written into a buffer each thread keeps, then copied at its size: every
        // guest's texts are held at once, and a guess at their size was a few
        // hundred bytes off either way (a buffer grown, or one too large).
        thread_local! {
            static SCRATCH: std::cell::RefCell<FieldTexts> = std::cell::RefCell::default();
        }
        SCRATCH.with_borrow_mut(|out| {
            out.text.clear();
            out.index.clear();
            out.fill(raw, entries);
            FieldTexts {
                text: out.text.as_str().into(),
                index: out.index.as_slice().into(),
            }
        })
    }

    /// [`FieldTexts::of`] a guest of `kind` written as `written`: its object parsed
    /// again.
    pub(crate) fn of_written(kind: GuestKind, written: &Written) -> FieldTexts {
        let object = written.parse();
        let raw = Fields::new(&object);
        let entries = super::fields::entries(kind, &raw);
        FieldTexts::of(&raw, &entries)
    }

    fn fill(&mut self, raw: &Fields, entries: &[FieldEntry]) {
        let fields = || {
            raw.values()
                .zip(entries)
                .filter(|(value, _)| !value.is_null())
        };
        for (value, entry) in fields() {
            if !matches!(entry.class, Class::App | Class::Structural) {
                self.push(entry, value);
            }
        }
        // The application fields after, in the same (name) order.
        for (value, entry) in fields() {
            if entry.class == Class::App {
                self.push(entry, value);
            }
        }
    }

    fn push(&mut self, entry: &FieldEntry, value: &Value) {
        // A definition of 4 GiB is not read this far: the offsets saturate.
        let at = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let a = at(self.text.len());
        self.text.push_str(entry.name);
        let b = at(self.text.len());
        canon::write_canonical_marked(&mut self.text, entry.marks, value);
        let c = at(self.text.len());
        self.index.push((entry.class, a, b, c));
    }

    /// Each field: its class, the name it enters under, its canonical text.
    pub fn iter(&self) -> impl Iterator<Item = (Class, &str, &str)> {
        self.index.iter().map(|&(class, a, b, c)| {
            let get = |from: u32, to: u32| self.text.get(from as usize..to as usize).unwrap_or("");
            (class, get(a, b), get(b, c))
        })
    }
}

impl fmt::Debug for FieldTexts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Canonical texts have their secrets replaced already.
        f.debug_list().entries(self.iter()).finish()
    }
}
