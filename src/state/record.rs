//! What the state directory records per node: the keys and input manifests of the
//! steps that completed, in order, and the settings step.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

pub use super::recorded::RecordedManifest;
use super::step_key::RecordedKey;
use crate::key::{NodeKeys, StepKey};
use crate::step::Step;

pub const RECORD_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    pub step: Step,
    pub key: RecordedKey,
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
            key: s.key.into(),
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
    pub fn last_key(&self) -> Option<&RecordedKey> {
        self.steps.last().map(|s| &s.key)
    }
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
