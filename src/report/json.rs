//! Pretty JSON whose long lists are written on every core: the same bytes as
//! `serde_json::to_writer_pretty` writes of the same object.
//!
//! Why. At 10,000 guests a plan's JSON is 3.5 MB and its graph's a little less;
//! written by one serializer, that was one core's work at the end of the command,
//! with the other idle (a twentieth of a plan's time). Here each list is cut into
//! runs of items; the runs of a batch are written side by side, then copied out in
//! order, and the next batch's buffers reuse the memory the last one freed.
//!
//! How the bytes stay the same. The pretty printer's indentation depends only on
//! how deep a value is. A run of items written as a list one level deep is written
//! exactly as the same items are inside the object's list: `at_depth` writes a
//! value inside lists of one item to give it its depth, and cuts them off again.

use std::io::{self, Write};

use rayon::prelude::*;
use serde::Serialize;
use serde::ser::{SerializeSeq, Serializer};

/// Items per run, and runs per batch.
const RUN: usize = 64;
const BATCH: usize = 16;

/// A pretty JSON object written field by field, to `out`: an object field is
/// written as `serde_json` would, a list field run by run on every core.
pub struct PrettyObject<W: Write> {
    out: W,
    fields: usize,
}

impl<W: Write> PrettyObject<W> {
    pub fn new(out: W) -> PrettyObject<W> {
        PrettyObject { out, fields: 0 }
    }

    fn key(&mut self, name: &str) -> io::Result<()> {
        self.out
            .write_all(if self.fields == 0 { b"{\n  " } else { b",\n  " })?;
        self.fields += 1;
        serde_json::to_writer(&mut self.out, name)?;
        self.out.write_all(b": ")
    }

    /// Field `name`, holding `value`.
    pub fn field<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> io::Result<()> {
        self.key(name)?;
        self.out.write_all(&at_depth(value, 1, 256)?)
    }

    /// Field `name`, holding the list of `items`, written on every core.
    pub fn list<T: Serialize + Sync>(&mut self, name: &str, items: &[T]) -> io::Result<()> {
        self.runs(name, items, |run, room| {
            // The run as a list one deep, `[` and `\n  ]` cut off: each item
            // on its line, with the separators between them.
            let text = at_depth(run, 1, room)?;
            Ok(text[1..text.len() - 4].to_vec())
        })
    }

    /// [`PrettyObject::list`] of items that write themselves ([`PrettyItem`]):
    /// the same bytes, without `serde_json`'s serializer in between.
    pub fn list_written<T: PrettyItem + Sync>(
        &mut self,
        name: &str,
        items: &[T],
    ) -> io::Result<()> {
        self.runs(name, items, |run, room| {
            let mut text = String::with_capacity(room);
            for (i, item) in run.iter().enumerate() {
                text.push_str(if i == 0 { "\n    " } else { ",\n    " });
                item.write_item(&mut text);
            }
            Ok(text.into_bytes())
        })
    }

    /// Field `name`, holding the list of `items`, cut into runs that `run`
    /// writes on every core, given a buffer size to start from: each run's
    /// items, each after a new line and its indent, with the commas between.
    fn runs<T: Sync>(
        &mut self,
        name: &str,
        items: &[T],
        run: impl Fn(&[T], usize) -> io::Result<Vec<u8>> + Sync,
    ) -> io::Result<()> {
        self.key(name)?;
        if items.is_empty() {
            return self.out.write_all(b"[]");
        }
        self.out.write_all(b"[")?;
        // Bytes per item, the most a run has written so far: each run's buffer is
        // made at about its size, not grown and copied as it is written.
        let mut per_item = 256;
        for (b, batch) in items.chunks(RUN * BATCH).enumerate() {
            let runs: Vec<io::Result<Vec<u8>>> = batch
                .par_chunks(RUN)
                .map(|items| run(items, items.len() * per_item))
                .collect();
            for (r, text) in runs.into_iter().enumerate() {
                if b > 0 || r > 0 {
                    self.out.write_all(b",")?;
                }
                let text = text?;
                per_item = per_item.max(text.len() / RUN + 16);
                self.out.write_all(&text)?;
            }
        }
        self.out.write_all(b"\n  ]")
    }

    /// The object closed, and `out` back.
    pub fn finish(mut self) -> io::Result<W> {
        self.out
            .write_all(if self.fields == 0 { b"{}" } else { b"\n}" })?;
        Ok(self.out)
    }
}

/// An item of a list field of a [`PrettyObject`] that writes itself as
/// `serde_json::to_writer_pretty` writes it there: two levels in, its own
/// lines indented by six spaces and its closing bracket by four.
///
/// Why. At 10,000 guests, writing a plan's actions through `serde_json`'s
/// serializer and pretty printer cost 45M instructions (a twentieth of the
/// plan), most of it in the serializer's calls per field and per list item, for
/// 3 MB of text.
pub trait PrettyItem {
    fn write_item(&self, out: &mut String);
}

/// The fields of a [`PrettyItem`], written one after the other as
/// `serde_json`'s pretty printer writes them there. Field names are written as
/// they are: they are the names of struct fields, which need no escape.
pub struct ItemFields<'o> {
    out: &'o mut String,
    any: bool,
}

impl<'o> ItemFields<'o> {
    /// An item begun in `out`.
    pub fn begin(out: &'o mut String) -> ItemFields<'o> {
        out.push('{');
        ItemFields { out, any: false }
    }

    fn name(&mut self, name: &str) {
        self.out.push_str(if self.any {
            ",\n      \""
        } else {
            "\n      \""
        });
        self.any = true;
        self.out.push_str(name);
        self.out.push_str("\": ");
    }

    /// Field `name`: a JSON string of `parts`, one after the other.
    pub fn str(&mut self, name: &str, parts: &[&str]) {
        self.name(name);
        crate::json_text::push_str(self.out, parts);
    }

    /// Field `name`: `true`.
    pub fn yes(&mut self, name: &str) {
        self.name(name);
        self.out.push_str("true");
    }

    /// Field `name`: a list of JSON strings, each of the parts `parts_of` gives
    /// its item, one per line; `[]` when there are none.
    pub fn str_list<T>(
        &mut self,
        name: &str,
        items: &[T],
        parts_of: impl Fn(&T, &mut dyn FnMut(&[&str])),
    ) {
        self.name(name);
        if items.is_empty() {
            self.out.push_str("[]");
            return;
        }
        self.out.push('[');
        for (i, item) in items.iter().enumerate() {
            self.out
                .push_str(if i == 0 { "\n        " } else { ",\n        " });
            parts_of(item, &mut |parts| {
                crate::json_text::push_str(self.out, parts);
            });
        }
        self.out.push_str("\n      ]");
    }

    /// The item closed.
    pub fn end(self) {
        self.out.push_str(if self.any { "\n    }" } else { "}" });
    }
}

/// `value` written pretty as it is where it is `depth` lists deep, into a buffer
/// made with room for `room` bytes.
fn at_depth<T: Serialize + ?Sized>(value: &T, depth: usize, room: usize) -> io::Result<Vec<u8>> {
    let mut text = Vec::with_capacity(room);
    serde_json::to_writer_pretty(&mut text, &Nested { value, depth })?;
    // `[`, a new line and the next level's indent, per level; at the end the
    // same in reverse.
    let (mut head, mut tail) = (0, 0);
    for level in 1..=depth {
        head += 2 + 2 * level;
        tail += 2 + 2 * (level - 1);
    }
    if text.len() < head + tail {
        return Err(io::Error::other("a nested value was written short"));
    }
    text.truncate(text.len() - tail);
    text.drain(..head);
    Ok(text)
}

/// `value` inside `depth` lists of one item.
struct Nested<'a, T: ?Sized> {
    value: &'a T,
    depth: usize,
}

impl<T: Serialize + ?Sized> Serialize for Nested<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.depth == 0 {
            return self.value.serialize(s);
        }
        let mut seq = s.serialize_seq(Some(1))?;
        seq.serialize_element(&Nested {
            value: self.value,
            depth: self.depth - 1,
        })?;
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Serialize;

    use super::{BATCH, PrettyObject, RUN, at_depth};

    #[derive(Serialize)]
    struct Item {
        name: String,
        list: Vec<u32>,
        empty: Vec<u32>,
        map: BTreeMap<String, Option<bool>>,
    }

    fn item(i: usize) -> Item {
        Item {
            name: format!("item \"{i}\"\n\u{1}é"),
            list: (0..i % 4).map(|k| u32::try_from(k).unwrap()).collect(),
            empty: Vec::new(),
            map: (0..i % 3)
                .map(|k| (format!("k{k}"), (k > 0).then_some(k == 1)))
                .collect(),
        }
    }

    #[derive(Serialize)]
    struct Whole<'a> {
        first: &'a [Item],
        scalar: u32,
        second: &'a [Item],
        object: &'a BTreeMap<String, Vec<u8>>,
    }

    /// Every way a list meets a run's and a batch's edges, an empty list, and plain
    /// fields between them: the bytes `serde_json` writes of the whole.
    #[test]
    fn an_object_is_written_as_serde_json_writes_it() {
        let object: BTreeMap<String, Vec<u8>> =
            [("a".to_string(), vec![1, 2]), ("b".to_string(), vec![])].into();
        let sizes = [
            0,
            1,
            2,
            RUN - 1,
            RUN,
            RUN + 1,
            RUN * BATCH,
            RUN * BATCH + 3,
            2 * RUN * BATCH + RUN,
        ];
        for &n in &sizes {
            for &m in &[0, 1, RUN + 2] {
                let first: Vec<Item> = (0..n).map(item).collect();
                let second: Vec<Item> = (0..m).map(|i| item(i + 7)).collect();
                let whole = Whole {
                    first: &first,
                    scalar: 7,
                    second: &second,
                    object: &object,
                };
                let mut o = PrettyObject::new(Vec::new());
                o.list("first", &first).unwrap();
                o.field("scalar", &7).unwrap();
                o.list("second", &second).unwrap();
                o.field("object", &object).unwrap();
                let ours = String::from_utf8(o.finish().unwrap()).unwrap();
                assert_eq!(
                    ours,
                    serde_json::to_string_pretty(&whole).unwrap(),
                    "{n} and {m} items"
                );
            }
        }
        let empty = PrettyObject::new(Vec::new()).finish().unwrap();
        assert_eq!(
            empty,
            serde_json::to_vec_pretty(&BTreeMap::<u8, u8>::new()).unwrap()
        );
    }

    /// A value at depth 0 is what `serde_json` writes of it; deeper, each line but
    /// the first is indented two more spaces a level.
    #[test]
    fn a_value_at_a_depth_is_indented_for_it() {
        let v = item(5);
        let plain = serde_json::to_string_pretty(&v).unwrap();
        assert_eq!(at_depth(&v, 0, 0).unwrap(), plain.as_bytes());
        for depth in 1..4 {
            let pad = "  ".repeat(depth);
            let want = plain.replace('\n', &format!("\n{pad}"));
            assert_eq!(
                String::from_utf8(at_depth(&v, depth, 8).unwrap()).unwrap(),
                want
            );
        }
        assert_eq!(at_depth(&3, 2, 1).unwrap(), b"3");
    }
}
