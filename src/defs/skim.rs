//! Cutting the container file into its guests' texts, without parsing them.
//!
//! [`containers_file_with`] walks the file's top-level object and the object
//! `lxc_configs` itself, and cuts each guest's entry out as the text it was
//! written as. It follows only what a cut needs: strings (to their closing quote)
//! and brackets (to the one that closes the guest's), looked for eight bytes at a
//! time (`ascii::run_until`). `serde_json`'s own skip (`&RawValue`) checked every
//! byte of every guest: 74M instructions at 10,000 guests, against 51M here with
//! `memchr` finding each string's end and 36M with eight bytes at a time, beside
//! the 225M that reading the guests costs.
//!
//! Nothing is accepted that is not JSON. The structure walked here (the two
//! objects, their keys, colons and commas, what follows the top level) is checked
//! here. Every text cut out is parsed whole afterwards: a guest's by
//! [`parse::guest`](super::parse::guest) when it is read, every other value here,
//! by `serde_json`. A text that does not parse, like a file whose structure is
//! wrong, sends the caller to the plain parse of the whole file, which says what
//! is wrong: a cut that went wrong because the text is not JSON never reaches a
//! reader. So does nesting deeper than [`MAX_DEPTH`]: the plain parse decides
//! what `serde_json`'s own limit (128) makes of it, where a guest parsed on its
//! own would have that limit to itself.

use std::borrow::Cow;
use std::cell::Cell;

use serde::de::DeserializeSeed;
use serde_json::Value;

use super::parse::{Checked, Top, TopEntries};

/// How many bytes at the start of `s` come before a quote or a backslash: where a
/// string inside goes on.
fn quote_or_backslash(s: &[u8]) -> usize {
    use crate::ascii::equal;
    crate::ascii::run_until(
        s,
        |x| equal(x, b'"') | equal(x, b'\\'),
        |c| c == b'"' || c == b'\\',
    )
}

/// How many bytes at the start of `s` come before a quote or bracket, or perhaps a
/// `Y`, `y`, `_` or DEL: where a cut has to look. With `0x20` set and bits 1 and
/// 2 cleared, each of `{`, `}`, `[` and `]` is `0x79`, and so are those four, which
/// the cut passes over as it does white space.
fn quote_or_bracket(s: &[u8]) -> usize {
    use crate::ascii::equal;
    const SET: u64 = 0x2020_2020_2020_2020;
    const CLEAR: u64 = 0xf9f9_f9f9_f9f9_f9f9;
    crate::ascii::run_until(
        s,
        |x| equal(x, b'"') | equal((x | SET) & CLEAR, 0x79),
        |c| matches!(c, b'"' | b'{' | b'}' | b'[' | b']'),
    )
}

/// The deepest nesting, counted from the file's top level, that a cut may hold.
pub(crate) const MAX_DEPTH: usize = 100;

/// Where a guest's entry goes as it is cut out: its place among the entries of
/// `lxc_configs` (of each written, in turn), its key and its text.
pub(crate) type GuestSink<'f, 't> = dyn FnMut(usize, (&Cow<'t, str>, &'t str)) + 'f;

/// [`containers_file_with`], the entries kept only in what it returns.
#[cfg(test)]
pub(crate) fn containers_file(text: &str) -> Option<(TopEntries<'_>, bool)> {
    containers_file_with(text, &mut |_, _| {})
}

/// The top-level entries of the container file `text`, in one pass: an object
/// `lxc_configs` is cut into its guests' texts as it is met, each handed to `sink`
/// at once, and every other value is parsed. The flag says whether a parsed value
/// repeats a key inside. `None` when the file is not one object, or what this
/// pass reads of it is not JSON: the plain parse says what is wrong, and what
/// `sink` was given is to be dropped. Every entry is handed over, a key written
/// twice included. A guest's text is not checked here: it is JSON only if it
/// parses (see the module doc).
pub(crate) fn containers_file_with<'t>(
    text: &'t str,
    sink: &mut GuestSink<'_, 't>,
) -> Option<(TopEntries<'t>, bool)> {
    let repeated = Cell::new(false);
    let checked = Checked::new(&repeated);
    let mut s = Scan {
        text,
        at: 0,
        reserved: false,
    };
    s.eat(b'{')?;
    let mut out = Vec::new();
    // Each `lxc_configs`'s entries are numbered on from the last one's, as they
    // are cut into one list in the end.
    let mut cut = 0;
    if !s.empty()? {
        loop {
            let key = s.key()?;
            s.eat(b':')?;
            let value = if key == "lxc_configs" && s.peek()? == b'{' {
                let entries = s.entries(cut, sink)?;
                cut += entries.len();
                Top::Guests(entries)
            } else {
                Top::Value(parse(s.value(1)?, checked)?)
            };
            out.push((key, value));
            if s.last()? {
                break;
            }
        }
    }
    s.ws();
    (s.at == text.len()).then_some((out, repeated.get()))
}

/// `text`, one JSON value, as [`Checked`] parses it.
fn parse(text: &str, checked: Checked) -> Option<Value> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = checked.deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(value)
}

/// A place in the text being cut.
struct Scan<'t> {
    text: &'t str,
    at: usize,
    /// Whether an `lxc_configs` with entries has had its list made at its room.
    reserved: bool,
}

impl<'t> Scan<'t> {
    fn bytes(&self) -> &'t [u8] {
        self.text.as_bytes()
    }

    /// Past the white space JSON allows.
    fn ws(&mut self) {
        let b = self.bytes();
        while b
            .get(self.at)
            .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.at += 1;
        }
    }

    /// The next byte that is not white space, not taken.
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.bytes().get(self.at).copied()
    }

    /// Take `c`, the next byte that is not white space; `None` if it is another.
    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.at += 1)
    }

    /// Just past an object's opening brace: whether the object is empty (its
    /// closing brace, then taken, is next).
    fn empty(&mut self) -> Option<bool> {
        let empty = self.peek()? == b'}';
        if empty {
            self.at += 1;
        }
        Some(empty)
    }

    /// After an object's entry: whether it was the last (a closing brace, taken)
    /// or another follows (a comma, taken); `None` for anything else.
    fn last(&mut self) -> Option<bool> {
        let last = match self.peek()? {
            b'}' => true,
            b',' => false,
            _ => return None,
        };
        self.at += 1;
        Some(last)
    }

    /// The end of the string whose opening quote is at `from` (just past its
    /// closing quote), and whether it holds an escape.
    fn string_end(&self, from: usize) -> Option<(usize, bool)> {
        let b = self.bytes();
        let mut i = from + 1;
        let mut escaped = false;
        loop {
            let j = i + quote_or_backslash(b.get(i..)?);
            if *b.get(j)? == b'"' {
                return Some((j + 1, escaped));
            }
            // The escaped byte is passed over: `\"` does not close the string.
            escaped = true;
            i = j + 2;
        }
    }

    /// An object's key, borrowed from the text unless it holds escapes.
    fn key(&mut self) -> Option<Cow<'t, str>> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.at;
        let (end, escaped) = self.string_end(start)?;
        self.at = end;
        if escaped {
            serde_json::from_str::<String>(&self.text[start..end])
                .ok()
                .map(Cow::Owned)
        } else {
            let key = &self.text[start + 1..end - 1];
            // A control character must be escaped: the plain parse says so.
            (!key.bytes().any(|c| c < 0x20)).then_some(Cow::Borrowed(key))
        }
    }

    /// The text of the value that starts here, nested `depth` deep: a string to its
    /// closing quote, an object or array to the bracket that closes it, anything
    /// else to the next comma, bracket or white space.
    fn value(&mut self, depth: usize) -> Option<&'t str> {
        self.ws();
        let b = self.bytes();
        let start = self.at;
        let end = match *b.get(start)? {
            b'"' => self.string_end(start)?.0,
            b'{' | b'[' => {
                let mut open = 0;
                let mut i = start;
                loop {
                    i += quote_or_bracket(b.get(i..)?);
                    match *b.get(i)? {
                        b'"' => {
                            i = self.string_end(i)?.0;
                            continue;
                        }
                        b'{' | b'[' => {
                            open += 1;
                            if depth + open > MAX_DEPTH {
                                return None;
                            }
                        }
                        b'}' | b']' => {
                            open -= 1;
                            if open == 0 {
                                break i + 1;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
            }
            _ => b[start..]
                .iter()
                .position(|c| matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                .map_or(b.len(), |n| start + n),
        };
        self.at = end;
        Some(&self.text[start..end])
    }

    /// The entries of the object `lxc_configs`, whose opening brace is next: each
    /// handed to `sink` as it is cut, numbered on from `first`.
    fn entries(
        &mut self,
        first: usize,
        sink: &mut GuestSink<'_, 't>,
    ) -> Option<Vec<(Cow<'t, str>, &'t str)>> {
        self.eat(b'{')?;
        if self.empty()? {
            return Some(Vec::new());
        }
        // Room for a guest per 128 bytes of the file, more than any real file has:
        // the list is then made once. Grown by doubling, each larger copy took
        // fresh memory of its own (the room not used is not touched). Only the
        // first `lxc_configs` with entries gets it: a file that writes it again
        // and again would take that room each time.
        let room = if self.reserved {
            0
        } else {
            self.text.len() / 128
        };
        self.reserved = true;
        let mut out = Vec::with_capacity(room);
        loop {
            let key = self.key()?;
            self.eat(b':')?;
            let text = self.value(2)?;
            sink(first + out.len(), (&key, text));
            out.push((key, text));
            if self.last()? {
                return Some(out);
            }
        }
    }
}

#[cfg(test)]
#[path = "skim_tests.rs"]
mod tests;
