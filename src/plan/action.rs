//! What a plan is made of: one [`Action`] per node, of one [`ActionKind`].

use serde::Serialize;

use std::hash::BuildHasherDefault;

use crate::graph::{NodeId, NodeMap};
use crate::state::NodeRecord;
use crate::step::Step;

/// What happens to a node; the module docs of [`crate::plan`] say when each applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionKind {
    Create,
    Replace,
    Resume,
    Update,
    RerunApp,
    Resnapshot,
    Fresh,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Create => "create",
            ActionKind::Replace => "replace",
            ActionKind::Resume => "resume",
            ActionKind::Update => "update",
            ActionKind::RerunApp => "rerun-app",
            ActionKind::Resnapshot => "resnapshot",
            ActionKind::Fresh => "fresh",
        }
    }
}

/// One node's action: what runs and why.
#[derive(Debug, Clone, Serialize)]
pub struct Action {
    pub node: NodeId,
    pub action: ActionKind,
    /// The node's desired output key, hex.
    pub key: String,
    /// Steps to run, in order.
    pub steps: Vec<Step>,
    pub reasons: Vec<String>,
    /// A replace of a guest that is not a template: destroys data, needs `--allow-replace`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub needs_allow_replace: bool,
    /// Guests destroyed, in this order, before this one is: the linked clones
    /// of a converted template that is made again (see `plan::linked`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub destroy_first: Vec<NodeId>,
    /// Start the guest once its steps ran, though an update does not start a
    /// guest otherwise: it was stopped outside phoenix (see `plan::drift`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub start: bool,
}

/// One action per selected node, in build order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// Guests that exist on the host but were not created by phoenix: never touched.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub foreign: Vec<NodeId>,
    /// Linked clones on the host, with their template, that must be destroyed
    /// before the template is made again but are not among the targets: the
    /// build is refused until they are.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub linked_outside: Vec<(NodeId, NodeId)>,
    /// Records the plan rebuilt from guests' stamps (see `plan::recover`), which
    /// the build runs from.
    #[serde(skip)]
    pub recovered: Vec<Recovered>,
}

/// A guest's record rebuilt from its stamp.
#[derive(Debug, Clone)]
pub struct Recovered {
    pub node: NodeId,
    pub record: NodeRecord,
    /// The record holds only what the stamp proves, so a build keeps it in the
    /// state directory. Not so when nothing could be proven and `define` was
    /// taken as defined.
    pub proven: bool,
}

impl Plan {
    /// A node's action, found by a walk through the plan: for one node. Where
    /// every node's is wanted, `Plan::by_node` finds each at once.
    pub fn action(&self, node: NodeId) -> Option<&Action> {
        self.actions.iter().find(|a| a.node == node)
    }

    /// Every node's action, by node.
    pub(crate) fn by_node(&self) -> NodeMap<&Action> {
        let mut out =
            NodeMap::with_capacity_and_hasher(self.actions.len(), BuildHasherDefault::default());
        out.extend(self.actions.iter().map(|a| (a.node, a)));
        out
    }

    pub fn pending(&self) -> impl Iterator<Item = &Action> {
        self.actions
            .iter()
            .filter(|a| a.action != ActionKind::Fresh)
    }

    pub fn blocked_replacements(&self) -> Vec<NodeId> {
        self.actions
            .iter()
            .filter(|a| a.needs_allow_replace)
            .map(|a| a.node)
            .collect()
    }
}
