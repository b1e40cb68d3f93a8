//! A journal line read without `serde_json`, when it is exactly as phoenix writes
//! one.
//!
//! Why. A no-op plan reads every node's record, and at 10,000 guests the
//! journal is 12 MB, most of it manifests: objects of strings whose values are
//! JSON texts, so every value holds escaped quotes. `serde_json` checks a manifest
//! (kept as text, [`RecordedManifest`]) through its general parser, a call per
//! token and a slow path per escape; that was 159M of a no-op plan's 916M
//! instructions. Here the line is read in the one form `serde_json::to_vec`
//! gives a [`NodeRecord`] (fields in their order, no spaces), and a manifest is
//! checked in one pass over its bytes, eight at a time (`ascii::run_until`).
//!
//! Why it reads the same. [`read`] takes a line only in that form, and only where
//! `serde_json` would read the same record from it: each name and value as
//! phoenix writes them, numbers without sign, fraction, exponent or leading
//! zero and within their types, names without escapes (a node, step or key with
//! one is read by `serde_json`), a manifest `null` or an object of strings whose
//! escapes are JSON's. Anything else (spaces, another order, a field phoenix did
//! not write, a damaged line) is `None`, and the caller parses the line with
//! `serde_json`, whose result and messages are the reference. The tests compare
//! the two on lines phoenix writes and on tens of thousands of damaged ones.

use std::fs::File;
use std::str::FromStr;
use std::sync::Arc;

use super::record::{NodeRecord, RecordedManifest, StepRecord};
use super::step_key::RecordedKey;
use crate::ascii::json_plain_run;
use crate::step::Step;

/// The record of `line` (one journal line, its end included), if it is written
/// exactly as phoenix writes one; `None` for any other line, which
/// `serde_json` reads (or says what is wrong with).
///
/// `place`: the journal the line was read from and the line's offset there.
/// Its manifests are then kept as their places in that file
/// ([`RecordedManifest::in_journal`]), not copied.
pub(super) fn read(line: &str, place: Option<(&Arc<File>, u64)>) -> Option<NodeRecord> {
    let mut c = Cursor {
        text: line,
        at: 0,
        place,
    };
    c.lit(b"{\"version\":")?;
    let version = u32::try_from(c.uint()?).ok()?;
    c.lit(b",\"node\":")?;
    let node = c.plain()?.to_string();
    c.lit(b",\"steps\":[")?;
    let mut steps = Vec::new();
    if !c.eat(b']') {
        loop {
            steps.push(c.step()?);
            if c.eat(b']') {
                break;
            }
            c.lit(b",")?;
        }
    }
    c.lit(b",\"configure\":")?;
    let configure = if c.eat_lit(b"null") {
        None
    } else {
        Some(c.step()?)
    };
    c.lit(b",\"updated_at\":")?;
    let updated_at = c.uint()?;
    let recovered = if c.eat_lit(b",\"recovered\":") {
        if c.eat_lit(b"true") {
            true
        } else {
            c.lit(b"false")?;
            false
        }
    } else {
        false
    };
    let started = if c.eat_lit(b",\"started\":") {
        Some(Step::from_str(c.plain()?).ok()?)
    } else {
        None
    };
    c.lit(b"}")?;
    // What `serde_json` allows after a value: white space.
    let rest = &line.as_bytes()[c.at..];
    if !rest
        .iter()
        .all(|b| matches!(b, b' ' | b'\n' | b'\t' | b'\r'))
    {
        return None;
    }
    Some(NodeRecord {
        version,
        node,
        steps,
        configure,
        updated_at,
        recovered,
        started,
    })
}

struct Cursor<'a> {
    text: &'a str,
    at: usize,
    /// Where `text` is in the journal, if it was read from one ([`read`]).
    place: Option<(&'a Arc<File>, u64)>,
}

impl<'a> Cursor<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.at).copied()
    }

    /// Whether the next byte is `b`, taken if so.
    fn eat(&mut self, b: u8) -> bool {
        let yes = self.peek() == Some(b);
        self.at += usize::from(yes);
        yes
    }

    /// Whether `lit` comes next, taken if so.
    fn eat_lit(&mut self, lit: &[u8]) -> bool {
        let yes = self.bytes()[self.at..].starts_with(lit);
        if yes {
            self.at += lit.len();
        }
        yes
    }

    /// `lit`, which must come next.
    fn lit(&mut self, lit: &[u8]) -> Option<()> {
        self.eat_lit(lit).then_some(())
    }

    /// A number as `serde_json` reads it into an unsigned integer type: digits, no
    /// leading zero but `0` itself, within `u64`. A sign, fraction or exponent is
    /// `None` here (the next literal does not match it).
    fn uint(&mut self) -> Option<u64> {
        let start = self.at;
        let mut n: u64 = 0;
        while let Some(d) = self.peek().filter(u8::is_ascii_digit) {
            n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            self.at += 1;
        }
        let digits = self.at - start;
        (digits == 1 || (digits > 1 && self.bytes()[start] != b'0')).then_some(n)
    }

    /// A string without escapes, as it is: the names phoenix writes need none.
    fn plain(&mut self) -> Option<&'a str> {
        if !self.eat(b'"') {
            return None;
        }
        let start = self.at;
        self.at += json_plain_run(&self.bytes()[start..]);
        if self.peek()? != b'"' {
            return None;
        }
        let s = self.text.get(start..self.at)?;
        self.at += 1;
        Some(s)
    }

    /// A step key: 64 lowercase hex digits (every key phoenix writes) read
    /// straight into their bytes, any other string without escapes as it is.
    fn key(&mut self) -> Option<RecordedKey> {
        let quoted = self.bytes().get(self.at..self.at + 66);
        if let Some([b'"', digits @ .., b'"']) = quoted
            && let Some(bytes) = super::step_key::hex32(digits)
        {
            self.at += 66;
            return Some(RecordedKey::Hex(bytes));
        }
        self.plain().map(RecordedKey::new)
    }

    /// A string checked as JSON (a byte below 0x20 only escaped, each escape one
    /// of JSON's), not decoded: a manifest's, kept as text.
    fn json_str(&mut self) -> Option<()> {
        if !self.eat(b'"') {
            return None;
        }
        let b = self.bytes();
        let mut i = self.at;
        loop {
            i += json_plain_run(&b[i..]);
            match *b.get(i)? {
                b'"' => break,
                b'\\' => match *b.get(i + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                    b'u' if b.get(i + 2..i + 6)?.iter().all(u8::is_ascii_hexdigit) => i += 6,
                    _ => return None,
                },
                _ => return None,
            }
        }
        self.at = i + 1;
        Some(())
    }

    /// A recorded manifest, written after the step key `key`: `null`, or an
    /// object of strings (kept as its place in the journal, when known).
    fn manifest(&mut self, key: &RecordedKey) -> Option<RecordedManifest> {
        let start = self.at;
        if self.eat_lit(b"null") {
            return Some(RecordedManifest::unknown());
        }
        self.lit(b"{")?;
        if !self.eat(b'}') {
            loop {
                self.json_str()?;
                self.lit(b":")?;
                self.json_str()?;
                if self.eat(b'}') {
                    break;
                }
                self.lit(b",")?;
            }
        }
        let text = self.text.get(start..self.at)?;
        Some(match self.place {
            Some((file, line_at)) => {
                RecordedManifest::in_journal(file, line_at + start as u64, text, key)
            }
            None => RecordedManifest::checked(text),
        })
    }

    /// A step's record.
    fn step(&mut self) -> Option<StepRecord> {
        self.lit(b"{\"step\":")?;
        let step = Step::from_str(self.plain()?).ok()?;
        self.lit(b",\"key\":")?;
        let key = self.key()?;
        self.lit(b",\"manifest\":")?;
        let manifest = self.manifest(&key)?;
        self.lit(b",\"finished_at\":")?;
        let finished_at = self.uint()?;
        self.lit(b"}")?;
        Some(StepRecord {
            step,
            key,
            manifest,
            finished_at,
        })
    }
}

#[cfg(test)]
#[path = "line_tests.rs"]
mod tests;
