//! The state directory itself: reading every record, the journal of a build,
//! compaction into per-node files, and the one-build-at-a-time lock.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::StateError;
use super::journal::Journal;
use super::record::{NodeRecord, RECORD_VERSION};
use crate::fsutil::{FileError, file_error, write_atomic};

/// What reading the state directory found: the records, and the files it could not use.
#[derive(Debug, Default)]
pub struct Recorded {
    pub records: super::RecordMap,
    pub unreadable: Vec<(PathBuf, String)>,
    /// Some journal lines could not be used (they are in `unreadable`).
    pub damaged_journal: bool,
}

/// `ct:950` → `ct-950`, the record's file name.
fn slug_of(node: &str) -> String {
    node.replace(':', "-")
}

/// Held while a build runs; dropping it releases the lock.
#[derive(Debug)]
pub struct BuildLock {
    _file: File,
}

#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    pub fn new(root: &Path) -> StateDir {
        StateDir {
            root: root.to_path_buf(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn nodes_dir(&self) -> PathBuf {
        self.root.join("nodes")
    }

    pub fn record_path(&self, slug: &str) -> PathBuf {
        self.nodes_dir().join(format!("{slug}.json"))
    }

    /// All records: the node files, then the journal of a build that has not been
    /// compacted yet (a running or crashed one), whose entries are newer. A missing
    /// directory is an empty state, not an error. Every file or journal line that
    /// could not be used is in [`Recorded::unreadable`], the journal's by offset.
    pub fn read_all(&self) -> Result<Recorded, StateError> {
        let mut out = self.read_node_files()?;
        let path = self.journal_path();
        let (records, damaged) = Journal::read_newest(&path);
        if out.records.is_empty() {
            out.records = records;
        } else {
            out.records.extend(records);
        }
        out.damaged_journal = !damaged.is_empty();
        out.unreadable.extend(damaged.into_iter().map(|d| {
            (
                path.clone(),
                format!("line at byte offset {}: {}; skipped", d.offset, d.why),
            )
        }));
        Ok(out)
    }

    fn journal_path(&self) -> PathBuf {
        self.root.join("journal")
    }

    /// Open the journal a build appends its records to.
    pub fn journal(&self) -> Result<Journal, StateError> {
        fs::create_dir_all(&self.root).map_err(file_error("create", &self.root))?;
        Journal::open(self.journal_path())
    }

    /// Append records to the journal and make them durable: records a build did not
    /// run steps for (rebuilt from guests' stamps), which it keeps all the same.
    pub fn append_all<'a>(
        &self,
        records: impl IntoIterator<Item = &'a NodeRecord>,
    ) -> Result<(), StateError> {
        let journal = self.journal()?;
        for rec in records {
            journal.append(rec)?;
        }
        journal.sync()
    }

    /// Move the record files `recorded` found unreadable aside, to
    /// `<name>.unreadable` beside them: they are kept for a look, and no longer
    /// read (or warned about) by every command.
    pub fn set_aside(&self, recorded: &Recorded) -> Result<(), StateError> {
        let nodes = self.nodes_dir();
        for (path, _) in &recorded.unreadable {
            if path.parent() != Some(nodes.as_path()) || !path.exists() {
                continue;
            }
            let mut aside = path.clone().into_os_string();
            aside.push(".unreadable");
            fs::rename(path, &aside).map_err(file_error("move aside", path))?;
        }
        Ok(())
    }

    /// Rewrite the journal with the newest line of each node when most of its
    /// lines are superseded (`Journal::tidy`); whether it did. Run at the end of a
    /// build, with the build lock held and its [`Journal`] no longer appending.
    pub fn tidy_journal(&self) -> Result<bool, StateError> {
        Journal::tidy(&self.journal_path())
    }

    /// [`StateDir::compact`] when the journal holds more than `bytes`.
    pub fn compact_if_larger(&self, bytes: u64) -> Result<(), StateError> {
        match fs::metadata(self.journal_path()) {
            Ok(m) if m.len() > bytes => self.compact(),
            _ => Ok(()),
        }
    }

    /// Fold the journal into the node files (atomically, one by one), then empty it;
    /// its damaged lines go with it. Run with the build lock held.
    ///
    /// Emptied by an empty file renamed over it, not cut in place: records read
    /// from it before keep their manifests' places in the old file
    /// (`super::recorded`), and a build that compacts goes on to write those
    /// records again. A journal that is not a plain file (a symlink, a device) is
    /// cut in place; its records were read with their manifests copied. As for
    /// [`StateDir::tidy_journal`], no [`Journal`] of this state may be appending:
    /// an append to the replaced file would be lost (builds open theirs after).
    pub fn compact(&self) -> Result<(), StateError> {
        let (latest, damaged) = Journal::read_newest(&self.journal_path());
        if latest.is_empty() && damaged.is_empty() {
            return Ok(());
        }
        for rec in latest.values() {
            self.write(&slug_of(&rec.node), rec)?;
        }
        let path = self.journal_path();
        if super::journal::replaceable(&path) {
            return Ok(write_atomic(&path, b"")?);
        }
        Ok(File::create(&path)
            .and_then(|f| f.sync_all())
            .map_err(file_error("truncate", &path))?)
    }

    fn read_node_files(&self) -> Result<Recorded, StateError> {
        let mut out = Recorded::default();
        let dir = self.nodes_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(source) => {
                return Err(FileError {
                    action: "read",
                    path: dir,
                    source,
                }
                .into());
            }
        };
        let mut paths = Vec::new();
        for entry in entries {
            let entry = entry.map_err(file_error("read", &dir))?;
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) == Some("json") {
                paths.push(path);
            }
        }
        // A file per node, so a host of 10,000 guests has 10,000: read on every core.
        let read: Vec<Result<NodeRecord, String>> = {
            use rayon::prelude::*;
            paths
                .par_iter()
                .map(|path| {
                    fs::read(path).map_err(|e| e.to_string()).and_then(|b| {
                        serde_json::from_slice::<NodeRecord>(&b).map_err(|e| e.to_string())
                    })
                })
                .collect()
        };
        out.records.reserve(read.len());
        for (path, read) in paths.into_iter().zip(read) {
            match read {
                Ok(rec) if rec.version == RECORD_VERSION => {
                    out.records.insert(rec.node.clone(), rec);
                }
                Ok(rec) => out.unreadable.push((
                    path,
                    format!("record version {} is not {RECORD_VERSION}", rec.version),
                )),
                Err(e) => out.unreadable.push((path, e)),
            }
        }
        Ok(out)
    }

    /// Take the state directory's lock for the duration of a build. The lock is an
    /// advisory file lock: the kernel drops it when the process dies, even by kill -9,
    /// so a crashed build never leaves a stale lock behind.
    pub fn lock(&self) -> Result<BuildLock, StateError> {
        fs::create_dir_all(&self.root).map_err(file_error("create", &self.root))?;
        let path = self.root.join("lock");
        let mut file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(file_error("open", &path))?;
        match file.try_lock() {
            Ok(()) => {
                let _ = file.set_len(0);
                let _ = writeln!(file, "{}", std::process::id());
                Ok(BuildLock { _file: file })
            }
            Err(fs::TryLockError::WouldBlock) => {
                let holder = fs::read_to_string(&path)
                    .map(|p| format!(" (pid {})", p.trim()))
                    .unwrap_or_default();
                Err(StateError::Locked { path, holder })
            }
            Err(fs::TryLockError::Error(source)) => Err(FileError {
                action: "lock",
                path,
                source,
            }
            .into()),
        }
    }

    pub fn read(&self, slug: &str) -> Option<NodeRecord> {
        let bytes = fs::read(self.record_path(slug)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Write a record atomically: temp file, fsync, rename, fsync the directory.
    pub fn write(&self, slug: &str, record: &NodeRecord) -> Result<(), StateError> {
        let dir = self.nodes_dir();
        fs::create_dir_all(&dir).map_err(file_error("create", &dir))?;
        let path = self.record_path(slug);
        let bytes = serde_json::to_vec_pretty(record).unwrap_or_default();
        Ok(write_atomic(&path, &bytes)?)
    }

    pub fn remove(&self, slug: &str) -> Result<(), StateError> {
        let path = self.record_path(slug);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(FileError {
                action: "remove",
                path,
                source,
            }
            .into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::key::Manifest;
    use crate::state::{RecordedManifest, StepRecord};

    #[test]
    fn records_round_trip_and_bad_files_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        assert!(state.read_all().unwrap().records.is_empty());
        let mut rec = NodeRecord::new("ct:950");
        rec.steps.push(StepRecord {
            step: crate::step::Step::Define,
            key: "ab".into(),
            manifest: RecordedManifest::new(&Manifest::new()),
            finished_at: 1,
        });
        state.write("ct-950", &rec).unwrap();
        fs::write(dir.path().join("nodes/ct-951.json"), b"{ torn").unwrap();
        let all = state.read_all().unwrap();
        assert_eq!(all.records["ct:950"], rec);
        assert_eq!(all.unreadable.len(), 1);
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("nodes"))
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn the_journal_wins_until_compacted_and_a_torn_line_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let mut old = NodeRecord::new("ct:950");
        old.updated_at = 1;
        state.write("ct-950", &old).unwrap();
        let journal = state.journal().unwrap();
        let mut new = NodeRecord::new("ct:950");
        new.steps.push(StepRecord {
            step: crate::step::Step::Define,
            key: "k".into(),
            manifest: RecordedManifest::new(&Manifest::new()),
            finished_at: 2,
        });
        journal.append(&new).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join("journal"))
            .unwrap()
            .write_all(b"{\"version\": 1, \"node\": \"ct:9")
            .unwrap();
        assert_eq!(state.read_all().unwrap().records["ct:950"], new);
        state.compact().unwrap();
        assert_eq!(
            std::fs::metadata(dir.path().join("journal")).unwrap().len(),
            0
        );
        assert_eq!(state.read("ct-950").unwrap(), new);
        assert_eq!(state.read_all().unwrap().records.len(), 1);
    }

    fn step(key: &str) -> StepRecord {
        StepRecord {
            step: crate::step::Step::Define,
            key: key.into(),
            manifest: RecordedManifest::new(&Manifest::new()),
            finished_at: 2,
        }
    }

    /// Issue 15: a garbled newest line of a node is reported by its offset, and
    /// the node falls back to its line before; lines of zero bytes are reported.
    #[test]
    fn a_damaged_journal_line_is_skipped_with_its_offset_and_the_line_before_counts() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let journal = state.journal().unwrap();
        let mut old = NodeRecord::new("ct:950");
        old.steps.push(step("old"));
        journal.append(&old).unwrap();
        let mut other = NodeRecord::new("ct:951");
        other.steps.push(step("other"));
        journal.append(&other).unwrap();
        let path = dir.path().join("journal");
        let garbled_at = fs::metadata(&path).unwrap().len();
        let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
        let garbled = b"{\"version\": 1, \"node\": \"ct:950\", \"steps\": 7}\n";
        f.write_all(garbled).unwrap();
        let zeros_at = garbled_at + garbled.len() as u64;
        f.write_all(&[0u8; 100]).unwrap();
        f.write_all(b"\n").unwrap();
        let all = state.read_all().unwrap();
        assert_eq!(all.records["ct:950"], old);
        assert_eq!(all.records["ct:951"], other);
        assert!(all.damaged_journal);
        let why: Vec<&str> = all.unreadable.iter().map(|(_, w)| w.as_str()).collect();
        assert_eq!(why.len(), 2, "{why:?}");
        assert!(
            why[0].starts_with(&format!("line at byte offset {garbled_at}: ")),
            "{why:?}"
        );
        assert!(
            why[1].starts_with(&format!("line at byte offset {zeros_at}: 100 zero bytes")),
            "{why:?}"
        );
        // Compaction keeps what was usable and drops the damage.
        state.compact().unwrap();
        let all = state.read_all().unwrap();
        assert!(all.unreadable.is_empty() && !all.damaged_journal);
        assert_eq!(all.records["ct:950"], old);
    }

    /// Issue 15: after a crash in the middle of an append the journal ends in a
    /// torn line; the next record goes on a line of its own, and is read back.
    #[test]
    fn the_next_record_never_lands_on_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let path = dir.path().join("journal");
        fs::write(&path, b"{\"version\": 1, \"node\": \"ct:9").unwrap();
        let mut rec = NodeRecord::new("ct:950");
        rec.steps.push(step("k"));
        state.journal().unwrap().append(&rec).unwrap();
        let all = state.read_all().unwrap();
        assert_eq!(all.records.get("ct:950"), Some(&rec));
        assert_eq!(all.unreadable.len(), 1, "{:?}", all.unreadable);
        assert!(
            all.unreadable[0].1.starts_with("line at byte offset 0: "),
            "{:?}",
            all.unreadable
        );
        // Reopening a journal that ends well adds nothing.
        let len = fs::metadata(&path).unwrap().len();
        drop(state.journal().unwrap());
        assert_eq!(fs::metadata(&path).unwrap().len(), len);
    }

    #[test]
    fn one_build_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let held = state.lock().unwrap();
        let err = state.lock().unwrap_err();
        assert!(err.to_string().contains("another phoenix build"), "{err}");
        drop(held);
        state.lock().unwrap();
    }
}
