//! What the state directory records per node: the keys and input manifests of the
//! steps that completed, in order, and the settings step.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::key::{Manifest, NodeKeys, StepKey};
use crate::step::Step;

pub const RECORD_VERSION: u32 = 1;

/// A recorded input manifest, kept as the JSON text it was stored as and parsed
/// only when someone asks why a step is stale: a no-op plan compares keys and never
/// needs the manifests, which are most of a record's size.
///
/// Text known to be JSON: a manifest written out, `null`, or text a parser checked
/// (`serde_json`'s, or the journal's line reader, `super::line`). Not
/// `serde_json`'s `RawValue`, which can only be made by parsing its text again:
/// the journal's lines are read without `serde_json` where they can be.
#[derive(Debug, Clone)]
pub struct RecordedManifest(Box<str>);

impl RecordedManifest {
    pub fn new(manifest: &Manifest) -> RecordedManifest {
        RecordedManifest(
            serde_json::to_string(manifest)
                .unwrap_or_else(|_| "{}".into())
                .into(),
        )
    }

    /// A manifest whose text the caller checked is JSON.
    pub(super) fn checked(text: &str) -> RecordedManifest {
        RecordedManifest(text.into())
    }

    /// The manifest; an unreadable one counts as empty (every input then shows as new).
    pub fn parse(&self) -> Manifest {
        serde_json::from_str(&self.0).unwrap_or_default()
    }

    /// The manifest of a step rebuilt from a guest's stamp with a key the
    /// definitions no longer give: the key is known, what entered it is not.
    /// Stored as JSON `null`.
    pub fn unknown() -> RecordedManifest {
        RecordedManifest("null".into())
    }

    /// Whether this is an [`RecordedManifest::unknown`] manifest.
    pub fn is_unknown(&self) -> bool {
        &*self.0 == "null"
    }
}

/// Written as the JSON text it is, checked once more as it is written (a
/// `RawValue` is made only by a parse): once per record a build appends.
impl Serialize for RecordedManifest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let raw: &serde_json::value::RawValue =
            serde_json::from_str(&self.0).map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

/// Any JSON value, kept as its text.
impl<'de> Deserialize<'de> for RecordedManifest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<RecordedManifest, D::Error> {
        Box::<serde_json::value::RawValue>::deserialize(d).map(|raw| RecordedManifest(raw.into()))
    }
}

impl PartialEq for RecordedManifest {
    fn eq(&self, other: &Self) -> bool {
        self.parse() == other.parse()
    }
}

impl Eq for RecordedManifest {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    pub step: Step,
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
    /// Rebuilt from the guest's stamp, not recorded by the build that ran the
    /// steps (the state directory had lost or garbled the record, or the stamp
    /// contradicted it). Its steps carry no time (`finished_at` 0); see
    /// [`NodeRecord::is_recovered`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recovered: bool,
    /// The content step that began after the last completed one and has not
    /// finished (it failed, or the build was stopped). For a feature, its `pre-`
    /// snapshot was taken just before, over exactly the steps above: a resume rolls
    /// the guest back to it rather than running over what the attempt left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<Step>,
}

impl NodeRecord {
    pub fn new(node: &str) -> NodeRecord {
        NodeRecord {
            version: RECORD_VERSION,
            node: node.to_string(),
            steps: Vec::new(),
            configure: None,
            updated_at: now(),
            recovered: false,
            started: None,
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
            recovered: false,
            started: None,
        }
    }

    /// Whether the guest's content as this record has it still comes from a stamp:
    /// it was [`NodeRecord::recovered`] and its `define` was not run since (a
    /// build that re-creates the guest records a time for it).
    pub fn is_recovered(&self) -> bool {
        self.recovered && self.steps.first().is_some_and(|s| s.finished_at == 0)
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
