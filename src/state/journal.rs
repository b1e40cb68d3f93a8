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

impl Journal {
    pub(super) fn open(path: PathBuf) -> Result<Journal, StateError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(file_error("open", &path))?;
        Ok(Journal {
            file: std::sync::Mutex::new(file),
            path,
        })
    }

    /// The newest journal entry of each node. A torn last line (a crash in the middle
    /// of an append) is ignored: that step is simply not recorded and runs again.
    pub(super) fn read_newest(path: &Path) -> HashMap<String, NodeRecord> {
        use std::io::{BufRead, Read, Seek, SeekFrom};
        #[derive(Deserialize)]
        struct Head<'a> {
            #[serde(borrow)]
            node: std::borrow::Cow<'a, str>,
        }
        let mut records = HashMap::new();
        let Ok(file) = File::open(path) else {
            return records;
        };
        // A build appends a record per step; only the last of each node counts. The
        // first pass reads just the node names and remembers where each node's last
        // line is, the second parses those lines alone: neither the whole file nor
        // the superseded records are ever held in memory.
        let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
        let mut newest: HashMap<String, (u64, usize)> = HashMap::new();
        let (mut line, mut offset) = (Vec::new(), 0u64);
        while let Ok(n) = reader.read_until(b'\n', &mut line) {
            if n == 0 {
                break;
            }
            if let Ok(head) = serde_json::from_slice::<Head>(&line) {
                newest.insert(head.node.into_owned(), (offset, n));
            }
            offset += n as u64;
            line.clear();
        }
        let mut places: Vec<(u64, usize)> = newest.into_values().collect();
        places.sort_unstable();
        let mut file = reader.into_inner();
        for (at, len) in places {
            line.resize(len, 0);
            if file.seek(SeekFrom::Start(at)).is_err() || file.read_exact(&mut line).is_err() {
                continue;
            }
            if let Ok(rec) = serde_json::from_slice::<NodeRecord>(&line)
                && rec.version == RECORD_VERSION
            {
                records.insert(rec.node.clone(), rec);
            }
        }
        records
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
