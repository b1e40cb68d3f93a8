//! Keys written twice in one JSON object: where, and whether it matters.
//!
//! `serde_json` keeps the last of two equal keys, as jq does, and the shell tool read
//! every file through jq, so phoenix reads such a file as the shell tool did: the last
//! value is used, and a warning names both places (line:column of each, and the JSON
//! path). It is an error only where the two values would give different guests: a
//! guest written twice (`lxc_configs.950`, a copied block whose key was not changed)
//! or a field inside a guest, with values that differ (compared as JSON values, so
//! formatting and key order do not count). The error shows both values.
//!
//! How it works: [`duplicate_keys`] is a small scanner over the bytes (run beside the
//! real parse), with an explicit stack instead of recursion so no nesting depth can
//! overflow it. It records each key's offset and its value's byte range; only the
//! values of repeated keys are parsed, to compare and show them (`dupreport`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;

use super::read::join;

/// One segment of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// Where one occurrence of a key is: its line and column (from 1), and its value's
/// bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub line: usize,
    pub column: usize,
    pub value: Range<usize>,
}

/// A key written more than once in its object: an earlier occurrence and the last
/// one, the one that is used. A key written three times gives two of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    /// The key's JSON path, the key last.
    pub path: Vec<Seg>,
    pub earlier: Place,
    pub last: Place,
}

/// Every repeated key of `text`, in the order their objects end. Text that is not
/// JSON gives what was found before the scanner stopped (the parser reports it).
pub fn duplicate_keys(text: &[u8]) -> Vec<Duplicate> {
    let mut s = Scanner {
        b: text,
        i: 0,
        stack: Vec::new(),
        out: Vec::new(),
        lines: None,
    };
    let _ = s.run();
    s.out
}

/// A key of an object being read, and its value's bytes.
struct Entry<'a> {
    key: Cow<'a, str>,
    at: usize,
    value: Range<usize>,
}

#[derive(Default)]
struct Obj<'a> {
    entries: Vec<Entry<'a>>,
    /// First entry of each key, once the object is too big to scan (most are small).
    index: HashMap<Cow<'a, str>, usize>,
    /// (first entry, repeating entry) for each repeat.
    repeats: Vec<(usize, usize)>,
}

enum Frame<'a> {
    Obj(Obj<'a>),
    Arr(usize),
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
    stack: Vec<Frame<'a>>,
    out: Vec<Duplicate>,
    /// Offsets of the line starts, made when the first duplicate needs them.
    lines: Option<Vec<usize>>,
}

const SMALL: usize = 32;

impl Scanner<'_> {
    fn ws(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn next(&mut self) -> Option<u8> {
        let c = *self.b.get(self.i)?;
        self.i += 1;
        Some(c)
    }

    /// Past a string starting at `"`: its contents' range and whether it has escapes.
    fn string(&mut self) -> Option<(Range<usize>, bool)> {
        self.i += 1;
        let start = self.i;
        let mut escaped = false;
        loop {
            match self.next()? {
                b'"' => return Some((start..self.i - 1, escaped)),
                b'\\' => {
                    escaped = true;
                    self.next()?;
                }
                _ => {}
            }
        }
    }

    /// A key, the `:` after it, and the start of its value, as a new entry of `o`.
    fn key(&mut self) -> Option<()> {
        self.ws();
        if self.b.get(self.i) != Some(&b'"') {
            return None;
        }
        let at = self.i;
        let (range, escaped) = self.string()?;
        let key = if escaped {
            Cow::Owned(serde_json::from_slice::<String>(self.b.get(at..self.i)?).ok()?)
        } else {
            Cow::Borrowed(std::str::from_utf8(self.b.get(range)?).ok()?)
        };
        self.ws();
        if self.next()? != b':' {
            return None;
        }
        self.ws();
        let Some(Frame::Obj(o)) = self.stack.last_mut() else {
            return None;
        };
        let n = o.entries.len();
        let first = if n < SMALL {
            o.entries.iter().position(|e| e.key == key)
        } else {
            if o.index.is_empty() {
                for (j, e) in o.entries.iter().enumerate() {
                    o.index.entry(e.key.clone()).or_insert(j);
                }
            }
            let first = o.index.get(&key).copied();
            if first.is_none() {
                o.index.insert(key.clone(), n);
            }
            first
        };
        if let Some(first) = first {
            o.repeats.push((first, n));
        }
        o.entries.push(Entry {
            key,
            at,
            value: self.i..self.i,
        });
        Some(())
    }

    fn run(&mut self) -> Option<()> {
        loop {
            // A value starts here.
            self.ws();
            match *self.b.get(self.i)? {
                b'{' => {
                    self.i += 1;
                    self.ws();
                    if self.b.get(self.i) == Some(&b'}') {
                        self.i += 1;
                    } else {
                        self.stack.push(Frame::Obj(Obj::default()));
                        self.key()?;
                        continue;
                    }
                }
                b'[' => {
                    self.i += 1;
                    self.ws();
                    if self.b.get(self.i) == Some(&b']') {
                        self.i += 1;
                    } else {
                        self.stack.push(Frame::Arr(0));
                        continue;
                    }
                }
                b'"' => {
                    self.string()?;
                }
                _ => {
                    let start = self.i;
                    while !matches!(
                        self.b.get(self.i),
                        None | Some(b',' | b'}' | b']' | b':' | b' ' | b'\t' | b'\n' | b'\r')
                    ) {
                        self.i += 1;
                    }
                    if self.i == start {
                        return None;
                    }
                }
            }
            // The value ended: on to the next one, closing what ends here.
            loop {
                let end = self.i;
                self.ws();
                match self.stack.last_mut() {
                    None => return Some(()),
                    Some(Frame::Obj(o)) => {
                        if let Some(e) = o.entries.last_mut() {
                            e.value.end = end;
                        }
                        match self.next()? {
                            b',' => {
                                self.key()?;
                                break;
                            }
                            b'}' => {
                                if let Some(Frame::Obj(o)) = self.stack.pop() {
                                    self.emit(&o);
                                }
                            }
                            _ => return None,
                        }
                    }
                    Some(Frame::Arr(_)) => match self.next()? {
                        b',' => {
                            if let Some(Frame::Arr(n)) = self.stack.last_mut() {
                                *n += 1;
                            }
                            break;
                        }
                        b']' => {
                            self.stack.pop();
                        }
                        _ => return None,
                    },
                }
            }
        }
    }

    /// The duplicates of an object that just ended (its ancestors are on the stack).
    fn emit(&mut self, o: &Obj) {
        if o.repeats.is_empty() {
            return;
        }
        let mut base: Vec<Seg> = Vec::with_capacity(self.stack.len() + 1);
        for f in &self.stack {
            match f {
                Frame::Obj(p) => {
                    let key = p.entries.last().map_or("", |e| &*e.key);
                    base.push(Seg::Key(key.to_string()));
                }
                Frame::Arr(n) => base.push(Seg::Index(*n)),
            }
        }
        // Every occurrence but the last, against the last: the one that is used.
        let mut by_first: Vec<(usize, Vec<usize>)> = Vec::new();
        for &(first, again) in &o.repeats {
            match by_first.iter_mut().find(|(f, _)| *f == first) {
                Some((_, all)) => all.push(again),
                None => by_first.push((first, vec![first, again])),
            }
        }
        for (first, all) in by_first {
            let last = &o.entries[*all.last().unwrap_or(&first)];
            let mut path = base.clone();
            path.push(Seg::Key(o.entries[first].key.to_string()));
            for &j in &all[..all.len() - 1] {
                let e = &o.entries[j];
                let dup = Duplicate {
                    path: path.clone(),
                    earlier: self.place(e),
                    last: self.place(last),
                };
                self.out.push(dup);
            }
        }
    }

    fn place(&mut self, e: &Entry) -> Place {
        let b = self.b;
        let lines = self.lines.get_or_insert_with(|| {
            std::iter::once(0)
                .chain(
                    b.iter()
                        .enumerate()
                        .filter(|(_, c)| **c == b'\n')
                        .map(|(i, _)| i + 1),
                )
                .collect()
        });
        let line = lines.partition_point(|start| *start <= e.at);
        let start = lines[line.saturating_sub(1)];
        let column = String::from_utf8_lossy(b.get(start..e.at).unwrap_or_default())
            .chars()
            .count()
            + 1;
        Place {
            line,
            column,
            value: e.value.clone(),
        }
    }
}

/// The JSON path as written in diagnostics (`lxc_configs.950`, `vms[1].name`).
pub fn render(path: &[Seg]) -> String {
    path.iter().fold(String::new(), |acc, seg| match seg {
        Seg::Key(k) => join(&acc, k),
        Seg::Index(i) => format!("{acc}[{i}]"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(text: &[u8]) -> Vec<String> {
        duplicate_keys(text)
            .iter()
            .map(|d| render(&d.path))
            .collect()
    }

    #[test]
    fn finds_repeated_keys_at_any_depth() {
        let text =
            br#"{"lxc_configs": {"950": {"a": 1}, "951": {"b": [{"x": 1, "x": 2}]}, "950": {}}}"#;
        assert_eq!(paths(text), ["lxc_configs.951.b[0].x", "lxc_configs.950"]);
        assert!(duplicate_keys(br#"{"a": {"a": 1}}"#).is_empty());
        // Spelled differently, the same key.
        assert_eq!(paths(br#"{"a\u0062": 1, "ab": 2}"#), ["ab"]);
    }

    #[test]
    fn places_are_lines_and_columns_and_values_are_byte_ranges() {
        let text = "{\n  \"a\": [1, 2],\n  \"b\": 0,\n    \"a\": {\"x\": \"é\"}\n}";
        let [d] = duplicate_keys(text.as_bytes()).try_into().unwrap();
        assert_eq!((d.earlier.line, d.earlier.column), (2, 3));
        assert_eq!((d.last.line, d.last.column), (4, 5));
        assert_eq!(&text[d.earlier.value.clone()], "[1, 2]");
        assert_eq!(&text[d.last.value.clone()], "{\"x\": \"é\"}");
    }

    #[test]
    fn a_key_written_three_times_gives_two_pairs_against_the_last() {
        let text = br#"{"k": 1, "k": 2, "k": 3}"#;
        let d = duplicate_keys(text);
        let pairs: Vec<(usize, usize)> = d
            .iter()
            .map(|d| (d.earlier.column, d.last.column))
            .collect();
        assert_eq!(pairs, [(2, 18), (10, 18)]);
    }

    #[test]
    fn big_objects_are_indexed_and_still_found() {
        let mut text = String::from("{");
        for i in 0..100 {
            text.push_str(&format!("\"k{i}\": {i},"));
        }
        text.push_str("\"k3\": 0, \"k99\": 1}");
        assert_eq!(paths(text.as_bytes()), ["k3", "k99"]);
    }

    #[test]
    fn bad_or_deep_input_stops_without_panicking() {
        let deep = "[".repeat(1_000_000);
        assert!(duplicate_keys(deep.as_bytes()).is_empty());
        for bad in [
            &b""[..],
            b"{",
            b"{\"a\"",
            b"{\"a\":",
            b"{\"a\": 1, \"a\"",
            b"{\"a\\",
            b"\xff\xfe",
            b"{\"\xff\": 1, \"\xff\": 2}",
            b"}}]]",
            b"{:}",
        ] {
            let _ = duplicate_keys(bad);
        }
        // Found before the text broke off: kept.
        assert_eq!(paths(br#"{"a": {"b": 1, "b": 2}, "#), ["a.b"]);
    }
}
