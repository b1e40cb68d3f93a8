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
//! Rooms: `record` (the record types), `recorded` (a recorded manifest, kept
//! as its place in the journal), `step_key` (a recorded step key, held as its
//! bytes), `journal` (the build's log), `line` (a journal line read as phoenix
//! writes it), `dir` (reading, compaction, the lock), `error`.

mod dir;
mod error;
mod journal;
mod line;
mod record;
mod recorded;
mod step_key;

pub use dir::{BuildLock, Recorded, StateDir};

/// Each node's newest record, by its label (`ct:950`). Hashed by
/// [`FastHasher`](crate::fasthash::FastHasher): a no-op plan looks up every
/// node's record, and `SipHash` over the labels was 1% of it at 10,000 guests.
pub type RecordMap = crate::fasthash::FastMap<String, NodeRecord>;
pub use error::StateError;
pub use journal::Journal;
pub use record::{NodeRecord, RECORD_VERSION, RecordedManifest, StepRecord, now};
pub use step_key::RecordedKey;
