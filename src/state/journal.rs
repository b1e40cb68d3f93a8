//! The append-only record log of a running build.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::StateError;
use super::record::{NodeRecord, RECORD_VERSION};
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

/// How much of the journal the first pass of [`Journal::read_newest`] reads at once.
const BLOCK: usize = 8 << 20;

/// What the first pass of [`Journal::read_newest`] makes of a line: its node, or why
/// it is unusable.
enum Seen {
    Blank,
    Node(String),
    Damaged(String),
}

/// A journal line that could not be used: where it starts, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damaged {
    pub offset: u64,
    pub why: String,
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
    pub(super) fn read_newest(path: &Path) -> (HashMap<String, NodeRecord>, Vec<Damaged>) {
        Self::read_newest_in(path, BLOCK)
    }

    /// [`Journal::read_newest`], reading `block` bytes at a time in the first pass.
    fn read_newest_in(
        path: &Path,
        block_size: usize,
    ) -> (HashMap<String, NodeRecord>, Vec<Damaged>) {
        use std::io::{Read, Seek, SeekFrom};

        use rayon::prelude::*;
        #[derive(Deserialize)]
        struct Head<'a> {
            #[serde(borrow)]
            node: std::borrow::Cow<'a, str>,
        }
        let mut records = HashMap::new();
        let mut damaged = Vec::new();
        let Ok(mut file) = File::open(path) else {
            return (records, damaged);
        };
        // A build appends a record per step; only the last of each node counts. The
        // first pass reads just the node names and remembers where each node's
        // lines are, the second parses the last line of each alone (and, where it
        // is damaged, the one before): neither the whole file nor the superseded
        // records are ever held in memory. The first pass reads a block at a time
        // and reads the names of a block's lines on every core: after a build of
        // 10,000 guests the journal holds 60,000 lines, 47 MB, and this pass was
        // most of what a no-op plan cost.
        let mut lines_of: HashMap<String, Vec<(u64, usize)>> = HashMap::new();
        let mut block: Vec<u8> = Vec::new();
        // The file offset of `block[0]`.
        let mut base = 0u64;
        loop {
            // Appended after what the last block left of its last line, without
            // zeroing the room first; a read error ends the file there.
            let want = block_size as u64;
            // Room made once (the block keeps it): growing as it reads would copy.
            block.reserve(block_size + 64);
            let got = (&mut file).take(want).read_to_end(&mut block).unwrap_or(0);
            let eof = (got as u64) < want;
            // Whole lines only; at the end of the file, the rest is a line too.
            let end = if eof {
                block.len()
            } else {
                block.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1)
            };
            let mut lines: Vec<(usize, usize)> = Vec::new();
            let mut at = 0;
            while at < end {
                let n = block[at..end]
                    .iter()
                    .position(|b| *b == b'\n')
                    .map_or(end - at, |i| i + 1);
                lines.push((at, n));
                at += n;
            }
            let seen: Vec<Seen> = lines
                .par_iter()
                .map(|&(at, n)| {
                    let line = &block[at..at + n];
                    if line.iter().all(u8::is_ascii_whitespace) {
                        // The end a torn line was given when the journal was reopened.
                        Seen::Blank
                    } else if let Ok(head) = serde_json::from_slice::<Head>(line) {
                        Seen::Node(head.node.into_owned())
                    } else {
                        Seen::Damaged(unusable(line, None))
                    }
                })
                .collect();
            for ((at, n), seen) in lines.into_iter().zip(seen) {
                let offset = base + at as u64;
                match seen {
                    Seen::Blank => {}
                    Seen::Node(node) => lines_of.entry(node).or_default().push((offset, n)),
                    Seen::Damaged(why) => damaged.push(Damaged { offset, why }),
                }
            }
            if eof {
                break;
            }
            block.drain(..end);
            base += end as u64;
        }
        let mut line = Vec::new();
        let mut wanted: Vec<(u64, usize, String)> = Vec::new();
        for (node, places) in &mut lines_of {
            if let Some((at, len)) = places.pop() {
                wanted.push((at, len, node.clone()));
            }
        }
        while !wanted.is_empty() {
            wanted.sort_unstable();
            let mut again = Vec::new();
            for (at, len, node) in wanted {
                line.resize(len, 0);
                let read =
                    file.seek(SeekFrom::Start(at)).is_ok() && file.read_exact(&mut line).is_ok();
                let parsed = if read {
                    serde_json::from_slice::<NodeRecord>(&line).map_err(|e| e.to_string())
                } else {
                    Err("cannot be read again".to_string())
                };
                match parsed {
                    Ok(rec) if rec.version == RECORD_VERSION && rec.node == node => {
                        records.insert(node, rec);
                        continue;
                    }
                    Ok(rec) if rec.version != RECORD_VERSION => damaged.push(Damaged {
                        offset: at,
                        why: format!("record version {} is not {RECORD_VERSION}", rec.version),
                    }),
                    Ok(_) => damaged.push(Damaged {
                        offset: at,
                        why: "the record is not the node its line names".into(),
                    }),
                    Err(e) => damaged.push(Damaged {
                        offset: at,
                        why: unusable(&line, Some(e)),
                    }),
                }
                if let Some((at, len)) = lines_of.get_mut(&node).and_then(Vec::pop) {
                    again.push((at, len, node));
                }
            }
            wanted = again;
        }
        damaged.sort_by_key(|d| d.offset);
        (records, damaged)
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
mod tests {
    use super::*;
    use crate::state::{RecordedManifest, StepRecord};

    fn record(node: &str, key: &str) -> NodeRecord {
        let mut rec = NodeRecord::new(node);
        rec.steps.push(StepRecord {
            step: crate::step::Step::Define,
            key: key.into(),
            manifest: RecordedManifest::new(&crate::key::Manifest::from([(
                "kind".to_string(),
                "\"ct\"".to_string(),
            )])),
            finished_at: 1,
        });
        rec
    }

    #[test]
    fn blocks_of_any_size_read_the_same_records_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let mut text = Vec::new();
        for (i, (node, key)) in [
            ("ct:900", "a"),
            ("ct:901", "b"),
            ("ct:900", "c"),
            ("ct:902", "d"),
        ]
        .into_iter()
        .enumerate()
        {
            text.extend(serde_json::to_vec(&record(node, key)).unwrap());
            text.push(b'\n');
            if i == 1 {
                // A garbled line, a blank one, and a line of zeros in the middle.
                text.extend(b"{\"version\":1,\"node\":\"ct:9\n\n");
                text.extend([0u8; 40]);
                text.push(b'\n');
            }
        }
        // The newest line of ct:902 torn: it falls back to nothing, and is reported.
        text.extend(&serde_json::to_vec(&record("ct:902", "e")).unwrap()[..30]);
        std::fs::write(&path, &text).unwrap();

        let (whole, damaged) = Journal::read_newest(&path);
        assert_eq!(whole["ct:900"].steps[0].key, "c");
        assert_eq!(whole["ct:901"].steps[0].key, "b");
        assert_eq!(whole["ct:902"].steps[0].key, "d");
        assert_eq!(damaged.len(), 3, "{damaged:?}");
        for block in [1, 7, 64, 300] {
            let (records, again) = Journal::read_newest_in(&path, block);
            assert_eq!(records, whole, "block of {block}");
            assert_eq!(again, damaged, "block of {block}");
        }
    }
}
