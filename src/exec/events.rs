//! What the executor tells reporters. Workers never print; the coordinator turns
//! their messages into these events and hands them to the reporter.

use std::path::PathBuf;

use serde::Serialize;

use crate::graph::NodeId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Built,
    Updated,
    Fresh,
    Failed,
    Skipped,
    /// Stopped by Ctrl-C: before its next step, or its running step killed.
    Interrupted,
    /// `phoenix start`: the guest was started.
    Started,
    /// `phoenix stop`: the guest was shut down.
    Stopped,
    /// `phoenix start`/`stop`: nothing to do (already running or stopped, or a
    /// template, which never starts); the detail says which.
    Unchanged,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeResult {
    pub node: NodeId,
    pub outcome: Outcome,
    /// Why it failed or was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub duration_ms: u128,
    pub steps_run: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<PathBuf>,
    /// Skipped because the backend cannot build this kind of guest (VMs on lxc):
    /// reported, but not a failure of the build.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unsupported: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    BuildStarted {
        nodes: usize,
        to_run: usize,
        jobs: usize,
        backend: &'static str,
    },
    NodeStarted {
        node: NodeId,
        step: Option<String>,
        action: &'static str,
    },
    StepStarted {
        node: NodeId,
        step: String,
    },
    StepFinished {
        node: NodeId,
        step: String,
        ok: bool,
        duration_ms: u128,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    Retry {
        node: NodeId,
        step: String,
        attempt: u32,
        error: String,
    },
    NodeFinished(NodeResult),
    /// `phoenix start`, `stop` (and `restart`, `up`): a run over guests begins, as
    /// `BuildStarted` begins a build. `to_run` counts the guests it may act on.
    OperationStarted {
        operation: &'static str,
        nodes: usize,
        to_run: usize,
        jobs: usize,
        backend: &'static str,
    },
    /// Ctrl-C: the first stops the build from starting anything new, the second
    /// kills the running steps (see `exec::interrupt`).
    Interrupted {
        /// Nodes still running.
        running: usize,
        killing: bool,
    },
}

impl Event {
    pub fn node(&self) -> Option<NodeId> {
        match self {
            Event::BuildStarted { .. }
            | Event::OperationStarted { .. }
            | Event::Interrupted { .. } => None,
            Event::NodeStarted { node, .. }
            | Event::StepStarted { node, .. }
            | Event::StepFinished { node, .. }
            | Event::Retry { node, .. } => Some(*node),
            Event::NodeFinished(r) => Some(r.node),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub results: Vec<NodeResult>,
    pub steps_run: usize,
    pub elapsed_ms: u128,
    /// Ctrl-C stopped the build (`phoenix build` then exits with 130).
    pub interrupted: bool,
    /// The command when it is not a build (`start`, `stop`, `restart`, `up`): the
    /// summary's last line counts what it did instead of what a build does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<&'static str>,
}

impl Summary {
    pub fn failed(&self) -> bool {
        self.results.iter().any(|r| {
            matches!(
                r.outcome,
                Outcome::Failed | Outcome::Skipped | Outcome::Interrupted
            ) && !r.unsupported
        })
    }
}

/// What a reporter does with events. Reporters see events and the summary, never
/// the scheduler, so progress bars, plain lines and JSON are interchangeable.
pub trait Reporter {
    fn event(&mut self, e: &Event);
    fn finish(&mut self, summary: &Summary);
}
