//! The state directory (`--cache`): one record per node, written atomically.
//!
//! Layout: `nodes/<slug>.json` (e.g. `nodes/ct-950.json`) holds the keys and input
//! manifests of the steps that completed, in order, and the settings step. A record
//! is written to a temporary file, fsynced, renamed over the old one, and the
//! directory is fsynced, so a crash leaves either the old or the new record, never a
//! torn one. A record that cannot be parsed is reported and treated as absent: the
//! plan then re-checks that node instead of trusting garbage.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::key::{Manifest, NodeKeys, StepKey};

pub const RECORD_VERSION: u32 = 1;

/// A recorded input manifest, kept as the JSON text it was stored as and parsed
/// only when someone asks why a step is stale: a no-op plan compares keys and never
/// needs the manifests, which are most of a record's size.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RecordedManifest(Box<serde_json::value::RawValue>);

impl RecordedManifest {
    pub fn new(manifest: &Manifest) -> RecordedManifest {
        let text = serde_json::to_string(manifest).unwrap_or_else(|_| "{}".into());
        RecordedManifest(
            serde_json::value::RawValue::from_string(text).unwrap_or_else(|_| empty_raw()),
        )
    }

    /// The manifest; an unreadable one counts as empty (every input then shows as new).
    pub fn parse(&self) -> Manifest {
        serde_json::from_str(self.0.get()).unwrap_or_default()
    }
}

fn empty_raw() -> Box<serde_json::value::RawValue> {
    serde_json::value::RawValue::from_string("{}".into())
        .unwrap_or_else(|_| unreachable!("`{{}}` is JSON"))
}

impl PartialEq for RecordedManifest {
    fn eq(&self, other: &Self) -> bool {
        self.parse() == other.parse()
    }
}

impl Eq for RecordedManifest {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    pub step: String,
    pub key: String,
    pub manifest: RecordedManifest,
    /// Seconds since the Unix epoch.
    pub finished_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    pub version: u32,
    pub node: String,
    /// Content steps that completed, in execution order.
    pub steps: Vec<StepRecord>,
    pub configure: Option<StepRecord>,
    pub updated_at: u64,
}

impl NodeRecord {
    pub fn new(node: &str) -> NodeRecord {
        NodeRecord {
            version: RECORD_VERSION,
            node: node.to_string(),
            steps: Vec::new(),
            configure: None,
            updated_at: now(),
        }
    }

    /// The record of a node whose every step completed with the given keys: what a
    /// successful build writes, and what tests use to stand for one.
    pub fn built(node: &str, keys: &NodeKeys) -> NodeRecord {
        let at = now();
        let step = |s: &StepKey| StepRecord {
            step: s.step.clone(),
            key: s.key.hex(),
            manifest: RecordedManifest::new(&s.manifest),
            finished_at: at,
        };
        NodeRecord {
            version: RECORD_VERSION,
            node: node.to_string(),
            steps: keys.chain.iter().map(step).collect(),
            configure: keys.configure.as_ref().map(step),
            updated_at: at,
        }
    }

    /// Output key of the last completed content step.
    pub fn last_key(&self) -> Option<&str> {
        self.steps.last().map(|s| s.key.as_str())
    }
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("another phoenix build holds `{}`{holder}; wait for it to finish, or stop it first", path.display())]
    Locked { path: PathBuf, holder: String },
    #[error("cannot {action} `{}`: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What reading the state directory found: the records, and the files it could not use.
#[derive(Debug, Default)]
pub struct Recorded {
    pub records: HashMap<String, NodeRecord>,
    pub unreadable: Vec<(PathBuf, String)>,
}

/// `ct:950` → `ct-950`, the record's file name.
fn slug_of(node: &str) -> String {
    node.replace(':', "-")
}

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
        f.write_all(&line)
            .map_err(io_error("append to", &self.path))
    }

    /// Make every record appended so far durable. Concurrent calls from several
    /// workers overlap, and the filesystem commits them together.
    pub fn sync(&self) -> Result<(), StateError> {
        let file = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .try_clone()
            .map_err(io_error("sync", &self.path))?;
        file.sync_data().map_err(io_error("sync", &self.path))
    }
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
    /// directory is an empty state, not an error.
    pub fn read_all(&self) -> Result<Recorded, StateError> {
        let mut out = self.read_node_files()?;
        out.records.extend(self.read_journal());
        Ok(out)
    }

    fn journal_path(&self) -> PathBuf {
        self.root.join("journal")
    }

    /// The newest journal entry of each node. A torn last line (a crash in the middle
    /// of an append) is ignored: that step is simply not recorded and runs again.
    fn read_journal(&self) -> HashMap<String, NodeRecord> {
        use std::io::{BufRead, Read, Seek, SeekFrom};
        #[derive(Deserialize)]
        struct Head<'a> {
            #[serde(borrow)]
            node: std::borrow::Cow<'a, str>,
        }
        let mut records = HashMap::new();
        let Ok(file) = File::open(self.journal_path()) else {
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

    /// Open the journal a build appends its records to.
    pub fn journal(&self) -> Result<Journal, StateError> {
        fs::create_dir_all(&self.root).map_err(io_error("create", &self.root))?;
        let path = self.journal_path();
        let file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_error("open", &path))?;
        Ok(Journal {
            file: std::sync::Mutex::new(file),
            path,
        })
    }

    /// [`StateDir::compact`] when the journal holds more than `bytes`.
    pub fn compact_if_larger(&self, bytes: u64) -> Result<(), StateError> {
        match fs::metadata(self.journal_path()) {
            Ok(m) if m.len() > bytes => self.compact(),
            _ => Ok(()),
        }
    }

    /// Fold the journal into the node files (atomically, one by one), then empty it.
    /// Run with the build lock held.
    pub fn compact(&self) -> Result<(), StateError> {
        let latest = self.read_journal();
        if latest.is_empty() {
            return Ok(());
        }
        for rec in latest.values() {
            self.write(&slug_of(&rec.node), rec)?;
        }
        let path = self.journal_path();
        File::create(&path)
            .and_then(|f| f.sync_all())
            .map_err(io_error("truncate", &path))
    }

    fn read_node_files(&self) -> Result<Recorded, StateError> {
        let mut out = Recorded::default();
        let dir = self.nodes_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(source) => {
                return Err(StateError::Io {
                    action: "read",
                    path: dir,
                    source,
                });
            }
        };
        for entry in entries {
            let entry = entry.map_err(io_error("read", &dir))?;
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            match fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<NodeRecord>(&b).map_err(|e| e.to_string()))
            {
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
        fs::create_dir_all(&self.root).map_err(io_error("create", &self.root))?;
        let path = self.root.join("lock");
        let mut file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io_error("open", &path))?;
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
            Err(fs::TryLockError::Error(source)) => Err(StateError::Io {
                action: "lock",
                path,
                source,
            }),
        }
    }

    pub fn read(&self, slug: &str) -> Option<NodeRecord> {
        let bytes = fs::read(self.record_path(slug)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Write a record atomically: temp file, fsync, rename, fsync the directory.
    pub fn write(&self, slug: &str, record: &NodeRecord) -> Result<(), StateError> {
        let dir = self.nodes_dir();
        fs::create_dir_all(&dir).map_err(io_error("create", &dir))?;
        let path = self.record_path(slug);
        let bytes = serde_json::to_vec_pretty(record).unwrap_or_default();
        write_atomic(&path, &bytes)
    }

    pub fn remove(&self, slug: &str) -> Result<(), StateError> {
        let path = self.record_path(slug);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StateError::Io {
                action: "remove",
                path,
                source,
            }),
        }
    }
}

fn io_error(
    action: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> StateError + use<> {
    let path = path.to_path_buf();
    move |source| StateError::Io {
        action,
        path,
        source,
    }
}

pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("record");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut f = File::create(&tmp).map_err(io_error("create", &tmp))?;
    f.write_all(bytes).map_err(io_error("write", &tmp))?;
    f.sync_all().map_err(io_error("sync", &tmp))?;
    drop(f);
    fs::rename(&tmp, path).map_err(io_error("rename", path))?;
    if let Ok(d) = File::open(dir) {
        // Makes the rename itself durable; not every filesystem supports it.
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_bad_files_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        assert!(state.read_all().unwrap().records.is_empty());
        let mut rec = NodeRecord::new("ct:950");
        rec.steps.push(StepRecord {
            step: "define".into(),
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
            step: "define".into(),
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
