//! [`RecordedManifest`]: a step's recorded input manifest, parsed only when
//! someone asks why the step is stale.
//!
//! Why a place in the journal, not a copy. A no-op plan compares keys and never
//! reads a manifest, and manifests are most of a record's size: at 10,000 guests
//! the journal's lines hold about 10 MB of them. Copied out of the journal as it
//! was read, they were fresh memory the kernel had to hand over page by page
//! (about 2,200 page faults), for text nobody read. So a manifest read from the
//! journal is kept as where it is there: the file, open since it was read, and
//! the place of the text. Asked for, it is read back from the file.
//!
//! Why that stays right. The journal is only appended to while it is read from,
//! and it is replaced, never rewritten in place: [`super::Journal::tidy`] and
//! [`super::StateDir::compact`] write a new file and rename it over the old one,
//! so the file held open still has every line that was read. Should the text at
//! that place have changed all the same (a journal someone cut and wrote again),
//! the step key written just before the manifest in the line tells: it is checked
//! against the key the record read there, and a place that does not hold it reads
//! as an unreadable manifest (one with no inputs, as an unparsable manifest
//! always was).
//!
//! What that costs. A manifest asked for is a read of the file. A no-op plan
//! of 10,004 guests asks for none and is 5.0 to 9.5 ms faster (medians of two
//! sets of 31 alternated pairs; 2,200 fewer page faults, 5.6 MB less memory).
//! A plan in which every guest's settings changed asks for 10,004, and is 8.1
//! ms slower (interquartile range -1.2 to +16.8; its planning stage took 25
//! ms, not 20). Keeping the last blocks of the journal read, so that
//! neighbouring manifests came from memory, did not pay: the plan asks by
//! clone depth, not in the journal's order, and a third of the reads found
//! their block.

use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::step_key::RecordedKey;
use crate::key::Manifest;

/// A recorded input manifest: JSON text known to be valid (a manifest written
/// out, `null`, or text a parser checked: `serde_json`'s, or the journal's line
/// reader, `super::line`), held as that text or as its place in the journal.
#[derive(Clone)]
pub struct RecordedManifest(Text);

#[derive(Clone)]
enum Text {
    Own(Box<str>),
    /// In the journal opened as `file`: `len` bytes from `at`, written right
    /// after a step key whose first sixteen hex digits are `key`.
    Journal {
        file: Arc<File>,
        at: u64,
        len: u32,
        key: u64,
    },
}

/// What comes between a step's key and its manifest in a journal line.
const BETWEEN: &[u8] = b"\",\"manifest\":";

/// The hex digits of a step key as phoenix writes it.
const KEY_DIGITS: usize = 64;

impl RecordedManifest {
    pub fn new(manifest: &Manifest) -> RecordedManifest {
        RecordedManifest(Text::Own(
            serde_json::to_string(manifest)
                .unwrap_or_else(|_| "{}".into())
                .into(),
        ))
    }

    /// A manifest whose text the caller checked is JSON.
    pub(super) fn checked(text: &str) -> RecordedManifest {
        RecordedManifest(Text::Own(text.into()))
    }

    /// A manifest the caller checked is JSON, found at byte `at` of the journal
    /// opened as `file`, right after the step key `key` (as the line has it,
    /// hex). A key that is not 64 hex digits as phoenix writes one, or a
    /// manifest of 4 GiB, is copied ([`RecordedManifest::checked`]).
    pub(super) fn in_journal(
        file: &Arc<File>,
        at: u64,
        text: &str,
        key: &RecordedKey,
    ) -> RecordedManifest {
        let key = match key {
            // The number its first 16 digits write.
            RecordedKey::Hex(bytes) => bytes.first_chunk().map(|b| u64::from_be_bytes(*b)),
            RecordedKey::Text(key) => hex16(key.as_bytes()).filter(|_| key.len() == KEY_DIGITS),
        };
        match (key, u32::try_from(text.len())) {
            (Some(key), Ok(len)) => RecordedManifest(Text::Journal {
                file: Arc::clone(file),
                at,
                len,
                key,
            }),
            _ => RecordedManifest::checked(text),
        }
    }

    /// The manifest; an unreadable one counts as empty (every input then shows as new).
    pub fn parse(&self) -> Manifest {
        self.text()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default()
    }

    /// The manifest of a step rebuilt from a guest's stamp with a key the
    /// definitions no longer give: the key is known, what entered it is not.
    /// Stored as JSON `null`.
    pub fn unknown() -> RecordedManifest {
        RecordedManifest::checked("null")
    }

    /// Whether this is an [`RecordedManifest::unknown`] manifest. (The journal's
    /// reader keeps `null` as text, never as a place.)
    pub fn is_unknown(&self) -> bool {
        matches!(&self.0, Text::Own(text) if &**text == "null")
    }

    /// The text; `None` when the journal no longer holds it where it was read.
    fn text(&self) -> Option<Cow<'_, str>> {
        match &self.0 {
            Text::Own(text) => Some(Cow::Borrowed(text)),
            Text::Journal { file, at, len, key } => {
                let lead = KEY_DIGITS + BETWEEN.len();
                let from = at.checked_sub(lead as u64)?;
                let mut bytes = vec![0; lead + *len as usize];
                file.read_exact_at(&mut bytes, from).ok()?;
                let right_place =
                    bytes[KEY_DIGITS..lead] == *BETWEEN && hex16(&bytes) == Some(*key);
                if !right_place {
                    return None;
                }
                bytes.drain(..lead);
                String::from_utf8(bytes).ok().map(Cow::Owned)
            }
        }
    }
}

/// The number the first sixteen bytes of `hex` write in hex digits (either case).
fn hex16(hex: &[u8]) -> Option<u64> {
    let digits = hex.get(..16)?;
    digits.iter().try_fold(0u64, |n, &b| {
        let d = char::from(b).to_digit(16)?;
        Some(n << 4 | u64::from(d))
    })
}

impl fmt::Debug for RecordedManifest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Text::Own(text) => f.debug_tuple("RecordedManifest").field(text).finish(),
            Text::Journal { at, len, .. } => {
                write!(f, "RecordedManifest(journal bytes {at}+{len})")
            }
        }
    }
}

/// Written as the JSON text it is, checked once more as it is written (a
/// `RawValue` is made only by a parse): once per record a build appends.
impl Serialize for RecordedManifest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = self.text().ok_or_else(|| {
            serde::ser::Error::custom(
                "a recorded manifest is no longer in the state journal it was read from",
            )
        })?;
        let raw: &serde_json::value::RawValue =
            serde_json::from_str(&text).map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

/// Any JSON value, kept as its text.
impl<'de> Deserialize<'de> for RecordedManifest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<RecordedManifest, D::Error> {
        Box::<serde_json::value::RawValue>::deserialize(d)
            .map(|raw| RecordedManifest(Text::Own(raw.into())))
    }
}

impl PartialEq for RecordedManifest {
    fn eq(&self, other: &Self) -> bool {
        self.parse() == other.parse()
    }
}

impl Eq for RecordedManifest {}

#[cfg(test)]
#[path = "recorded_tests.rs"]
mod tests;
