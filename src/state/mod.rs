//! The state directory (`--cache`): what each node's completed steps were, with
//! their keys and input manifests.
//!
//! How it works: workers append a record per step to an append-only [`Journal`]
//! (one line per record; synced once per node). Readers take the node files under
//! `nodes/<slug>.json` (e.g. `nodes/ct-950.json`) and then the journal, whose entries
//! are newer. [`StateDir::compact`] folds the journal into the node files, each
//! written atomically (temp file, fsync, rename, fsync the directory), so a crash
//! leaves either the old or the new record, never a torn one. A record that cannot
//! be parsed is reported and treated as absent: the plan then re-checks that node
//! instead of trusting garbage.
//!
//! Rooms: `record` (the record types), `journal` (the build's log), `dir`
//! (reading, compaction, the lock).

mod dir;
mod journal;
mod record;

use std::collections::HashMap;
use std::path::PathBuf;

pub use dir::{BuildLock, StateDir};
pub use journal::Journal;
pub use record::{NodeRecord, RECORD_VERSION, RecordedManifest, StepRecord, now};

use crate::fsutil::FileError;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("another phoenix build holds `{}`{holder}; wait for it to finish, or stop it first", path.display())]
    Locked { path: PathBuf, holder: String },
    #[error(transparent)]
    Io(#[from] FileError),
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
