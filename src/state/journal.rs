//! The append-only record log of a running build.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::StateError;
use super::record::{NodeRecord, RECORD_VERSION};
use crate::fasthash::FastMap;
use crate::fsutil::file_error;

/// The append-only record log of a running build. Appending a line and syncing it
/// costs no new inode, unlike write-to-temp-and-rename, which on ext4 made a
/// thousand-guest build spend most of its time allocating inodes. Concurrent
/// appends from several workers are serialised by a mutex; their syncs overlap and
/// the filesystem commits them together.
#[derive(Debug)]
pub struct Journal {
    file: std::sync::Mutex<File>,
    path: PathBuf,
}

/// How much of the journal [`Journal::read_newest`] reads at once: enough lines to
/// share out over the cores, and little enough memory that the same pages are
/// reused block after block (fresh pages cost the kernel zeroing them).
const BLOCK: usize = 1 << 20;

/// What [`Journal::read_newest`] makes of a line.
enum Seen {
    Blank,
    Record(NodeRecord),
    /// Unusable, but its node is known: it counts only while no newer line of
    /// the node is usable.
    DamagedOf(String, String),
    /// Unusable, and no node can be read from it.
    Damaged(String),
}

/// A block of the journal's lines, parsed: each line's place in the block and what
/// was made of it; `base` is the block's offset in the file.
struct Parsed {
    lines: Vec<(usize, usize)>,
    seen: Vec<Seen>,
    base: u64,
}

/// What [`Journal::read_newest_in`] has merged of the blocks read so far.
struct Merged<T> {
    newest: FastMap<String, T>,
    /// The unusable lines of a node after its newest usable one.
    damaged_after: HashMap<String, Vec<Damaged>>,
    damaged: Vec<Damaged>,
}

/// A journal line that could not be used: where it starts, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damaged {
    pub offset: u64,
    pub why: String,
}

/// Whether the journal at `path` is replaced when it is rewritten (a new file
/// renamed over it, by [`Journal::tidy`] and [`super::StateDir::compact`]), so
/// that a file opened on it before keeps every line it had: only a plain file.
/// The rename would put a file in place of a symlink someone made (to another
/// disk, or to `/dev/full` in a test); a symlink or a device is left in place.
pub(super) fn replaceable(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file())
}

impl Journal {
    /// Open the journal for appending. A last line without its end (a build died
    /// in the middle of an append, or the file was cut) is ended first, so the next
    /// record starts a line of its own instead of being glued to the torn one.
    pub(super) fn open(path: PathBuf) -> Result<Journal, StateError> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(file_error("open", &path))?;
        if ends_torn(&path) {
            file.write_all(b"\n")
                .map_err(file_error("append to", &path))?;
        }
        Ok(Journal {
            file: std::sync::Mutex::new(file),
            path,
        })
    }

    /// The newest usable journal entry of each node, and every line that could
    /// not be used. A damaged line (torn by a crash in the middle of an append,
    /// zeroed by a power loss, garbled) is skipped, and a node whose newest line is
    /// damaged falls back to its line before: that step is simply not recorded and
    /// the plan checks it again against the guest's stamp.
    pub(super) fn read_newest(path: &Path) -> (super::RecordMap, Vec<Damaged>) {
        Self::read_newest_in(path, BLOCK, |_, rec| rec)
    }

    /// [`Journal::read_newest`], reading `block` bytes at a time, keeping of each
    /// node's newest usable line what `keep` makes of its place (offset, length)
    /// and record.
    ///
    /// One pass: a block of whole lines is read, its lines are parsed on every
    /// core, and the records are merged in file order, a newer line of a node
    /// replacing the older. A block's merge and the next block's read, each one
    /// core's work, run beside the parse of the block's lines. With the merge
    /// between the parses, a plan that read the 118 MB journal of 100,000 guests
    /// (beside a handful of guests' definitions) took 31 ms more, of 301 (medians
    /// of 15 paired runs); with the read between them too, 8 ms more, of 184 (31,
    /// a faster minute). A damaged line whose node can be read is reported only
    /// if no newer line of its node is usable, as the plan never looks past that
    /// one; a damaged line that names no node is always reported. Neither the
    /// whole file nor more than two blocks' text and superseded records are held
    /// in memory.
    /// After a build the journal holds one line per node ([`Journal::tidy`]), so
    /// this reads each record once.
    fn read_newest_in<T: Send>(
        path: &Path,
        block_size: usize,
        keep: impl Fn((u64, usize), NodeRecord) -> T + Sync,
    ) -> (FastMap<String, T>, Vec<Damaged>) {
        use std::io::Read;

        use rayon::prelude::*;
        #[derive(Deserialize)]
        struct Head<'a> {
            #[serde(borrow)]
            node: std::borrow::Cow<'a, str>,
        }
        let mut to = Merged {
            newest: FastMap::default(),
            damaged_after: HashMap::new(),
            damaged: Vec::new(),
        };
        let Ok(file) = File::open(path) else {
            return (to.newest, to.damaged);
        };
        // The journal's manifests are kept as their places in it (see
        // `super::recorded`) where it is replaced, never rewritten in place; of
        // anything else they are copied.
        let file = std::sync::Arc::new(file);
        let lazy = replaceable(path).then_some(&file);
        // A block's lines parsed ([`Seen`]); `base` is the block's offset in the file.
        let parse = |block: &[u8], lines: &[(usize, usize)], base: u64| -> Vec<Seen> {
            lines
                .par_iter()
                .map(|&(at, n)| {
                    let line = &block[at..at + n];
                    if line.iter().all(u8::is_ascii_whitespace) {
                        // The end a torn line was given when the journal was reopened.
                        return Seen::Blank;
                    }
                    // Read as text where the line is UTF-8, as every line phoenix
                    // writes is: the parser then checks no string again (a tenth of
                    // the journal's read). A line in the one form phoenix writes is
                    // read without `serde_json` (`super::line`), any other text by it;
                    // a line that is not UTF-8 goes through the byte parser, which
                    // says where.
                    let parsed = match std::str::from_utf8(line) {
                        Ok(text) => super::line::read(text, lazy.map(|f| (f, base + at as u64)))
                            .map_or_else(|| serde_json::from_str::<NodeRecord>(text), Ok),
                        Err(_) => serde_json::from_slice::<NodeRecord>(line),
                    };
                    let error = match parsed {
                        Ok(rec) if rec.version == RECORD_VERSION => return Seen::Record(rec),
                        Ok(rec) => {
                            let why =
                                format!("record version {} is not {RECORD_VERSION}", rec.version);
                            return Seen::DamagedOf(rec.node, why);
                        }
                        Err(e) => e.to_string(),
                    };
                    match serde_json::from_slice::<Head>(line) {
                        Ok(head) => {
                            Seen::DamagedOf(head.node.into_owned(), unusable(line, Some(error)))
                        }
                        Err(_) => Seen::Damaged(unusable(line, None)),
                    }
                })
                .collect()
        };
        // A block's records merged, in file order: a newer line of a node replaces
        // the older.
        let merge = |to: &mut Merged<T>, Parsed { lines, seen, base }: Parsed| {
            for ((at, n), seen) in lines.into_iter().zip(seen) {
                let offset = base + at as u64;
                match seen {
                    Seen::Blank => {}
                    Seen::Record(rec) => {
                        if !to.damaged_after.is_empty() {
                            to.damaged_after.remove(&rec.node);
                        }
                        to.newest.insert(rec.node.clone(), keep((offset, n), rec));
                    }
                    Seen::DamagedOf(node, why) => {
                        to.damaged_after
                            .entry(node)
                            .or_default()
                            .push(Damaged { offset, why });
                    }
                    Seen::Damaged(why) => to.damaged.push(Damaged { offset, why }),
                }
            }
        };
        // The last block read, parsed, not merged yet.
        let mut last: Option<Parsed> = None;
        // Appended to `into` (after what the block before left of its last line),
        // without zeroing the room first; whether the file ended (a read error
        // ends it there).
        let want = block_size as u64;
        let read = |into: &mut Vec<u8>| {
            // Room made once (each buffer keeps it): growing as it reads would copy.
            into.reserve(block_size + 64);
            let got = (&*file).take(want).read_to_end(into).unwrap_or(0);
            (got as u64) < want
        };
        let mut block: Vec<u8> = Vec::new();
        // The next block, read while this one is parsed.
        let mut next: Vec<u8> = Vec::new();
        let mut eof = read(&mut block);
        // The file offset of `block[0]`.
        let mut base = 0u64;
        loop {
            // Whole lines only; at the end of the file, the rest is a line too.
            let end = if eof {
                block.len()
            } else {
                memchr::memrchr(b'\n', &block).map_or(0, |i| i + 1)
            };
            if end == 0 && !eof {
                // A line longer than a block: read on into this buffer (copied
                // into the other block after block, a long line cost the square
                // of its length).
                eof = read(&mut block);
                continue;
            }
            let mut lines: Vec<(usize, usize)> = Vec::new();
            let mut at = 0;
            for newline in memchr::memchr_iter(b'\n', &block[..end]) {
                lines.push((at, newline + 1 - at));
                at = newline + 1;
            }
            if at < end {
                lines.push((at, end - at));
            }
            if base == 0 && !eof {
                // Room for the nodes as many as the first block's lines promise,
                // so the map is not grown (and copied) block after block.
                let size = file.metadata().map_or(0, |m| m.len());
                let guess = lines.len() as u64 * size / (end.max(1) as u64);
                to.newest
                    .reserve(usize::try_from(guess).unwrap_or(0).min(1 << 20));
            }
            // This block's lines parsed on every core; beside them, the merge of
            // the last block's records and the read of the next block, each one
            // core's work.
            let ((seen, ()), next_eof) = rayon::join(
                || {
                    rayon::join(
                        || parse(&block, &lines, base),
                        || {
                            if let Some(parsed) = last.take() {
                                merge(&mut to, parsed);
                            }
                        },
                    )
                },
                || {
                    next.clear();
                    next.extend_from_slice(&block[end..]);
                    eof || read(&mut next)
                },
            );
            last = Some(Parsed { lines, seen, base });
            if eof {
                break;
            }
            std::mem::swap(&mut block, &mut next);
            eof = next_eof;
            base += end as u64;
        }
        if let Some(parsed) = last.take() {
            merge(&mut to, parsed);
        }
        let Merged {
            newest,
            damaged_after,
            mut damaged,
        } = to;
        damaged.extend(damaged_after.into_values().flatten());
        damaged.sort_by_key(|d| d.offset);
        (newest, damaged)
    }

    /// Rewrite the journal with only the newest line of each node, in their order,
    /// once at least half its lines are superseded. A build appends a line per
    /// step, each holding the node's whole record so far, so after building 10,000
    /// guests the journal held 60,000 lines and 47 MB, every later command read
    /// them all, and most were stale. This is ninja's rule for its log: rewrite
    /// it when it is mostly dead. The new file replaces the old one atomically
    /// (temporary file, sync, rename), so a crash leaves one or the other whole.
    /// Anything but a plain file (a symlink, a device) is left as it is.
    ///
    /// A journal with an unusable line is left as it is: the next command reports
    /// the line, and folding the journal into the node files
    /// ([`super::StateDir::compact`]) is what disposes of it. Run with the build
    /// lock held and no [`Journal`] of this file still appending: an append to the
    /// replaced file would be lost.
    pub(super) fn tidy(path: &Path) -> Result<bool, StateError> {
        use std::io::{Read, Seek, SeekFrom};

        // A device has no end to read to.
        if !replaceable(path) {
            return Ok(false);
        }

        let (newest, damaged) = Self::read_newest_in(path, BLOCK, |place, _| place);
        if !damaged.is_empty() {
            return Ok(false);
        }
        let mut places: Vec<(u64, usize)> = newest.into_values().collect();
        let live: u64 = places.iter().map(|(_, n)| *n as u64).sum();
        let total = std::fs::metadata(path).map_or(0, |m| m.len());
        if live * 2 > total {
            return Ok(false);
        }
        places.sort_unstable();
        let mut file = File::open(path).map_err(file_error("open", path))?;
        let mut text = Vec::with_capacity(usize::try_from(live).unwrap_or(0));
        for (at, n) in places {
            let from = text.len();
            text.resize(from + n, 0);
            file.seek(SeekFrom::Start(at))
                .and_then(|_| file.read_exact(&mut text[from..]))
                .map_err(file_error("read", path))?;
            if text.last() != Some(&b'\n') {
                // The last line of the file, whole but without its end.
                text.push(b'\n');
            }
        }
        crate::fsutil::write_atomic(path, &text)?;
        Ok(true)
    }

    /// Append one record. Once this returns the record is in the kernel, so it
    /// survives the death of phoenix (kill -9, a panic); [`Journal::sync`] makes it
    /// survive a power loss too.
    pub fn append(&self, record: &NodeRecord) -> Result<(), StateError> {
        let mut line = serde_json::to_vec(record).unwrap_or_default();
        line.push(b'\n');

        let mut f = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(append_whole(&mut f, &line).map_err(file_error("append to", &self.path))?)
    }

    /// Make every record appended so far durable. Concurrent calls from several
    /// workers overlap, and the filesystem commits them together.
    pub fn sync(&self) -> Result<(), StateError> {
        let file = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .try_clone()
            .map_err(file_error("sync", &self.path))?;
        Ok(file.sync_data().map_err(file_error("sync", &self.path))?)
    }
}

/// Whether the file is a non-empty regular file whose last byte is not the end of
/// a line (a device standing in for the journal, as `/dev/full` in a test, is not).
fn ends_torn(path: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = File::open(path) else {
        return false;
    };
    let mut last = [0u8];
    f.metadata().is_ok_and(|m| m.is_file() && m.len() > 0)
        && f.seek(SeekFrom::End(-1)).is_ok()
        && f.read_exact(&mut last).is_ok()
        && last[0] != b'\n'
}

/// Why a line is no record, in words: cut short, zeroed, or not JSON.
fn unusable(line: &[u8], parse_error: Option<String>) -> String {
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    if body.iter().all(|b| *b == 0) {
        return format!("{} zero bytes, not a record", body.len());
    }
    let why = parse_error.unwrap_or_else(|| {
        serde_json::from_slice::<serde_json::Value>(body)
            .err()
            .map_or_else(|| "not a record".to_string(), |e| e.to_string())
    });
    if line.last() == Some(&b'\n') {
        why
    } else {
        format!("the last line, cut short ({why})")
    }
}

/// Write `line` at the end of the journal, whole or not at all: what a failed write
/// (a full disk) got out of it is cut off again. Left there, a record cut just
/// before its newline would read as written, and any other would swallow the
/// record appended after it.
fn append_whole(f: &mut File, line: &[u8]) -> std::io::Result<()> {
    let mut written = 0;
    while written < line.len() {
        match f.write(&line[written..]) {
            Ok(0) => {
                return Err(std::io::Error::from(std::io::ErrorKind::WriteZero));
            }
            Ok(n) => written += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                if written > 0 {
                    let cut = f
                        .metadata()
                        .and_then(|m| f.set_len(m.len().saturating_sub(written as u64)));
                    if let Err(cut) = cut {
                        tracing::warn!("cannot cut a partly written record off the journal: {cut}");
                    }
                }
                return Err(e);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "journal_tests.rs"]
mod tests;
