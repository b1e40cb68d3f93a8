//! A planned node's work as a backend needs it to show what it would run, so
//! backends never depend on the planner.

use crate::graph::NodeId;
use crate::step::Step;

/// What a planned node will have done to it, as a backend needs to know it to show
/// the operations it would run (`build --dry-run --backend pve`). The plan's actions
/// map onto this, so backends never depend on the planner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Build from nothing.
    Create,
    /// Destroy, then build from nothing.
    Replace,
    /// Apply the settings in place.
    Update,
    /// Run the listed steps on the existing guest (resume, re-run the app, re-snapshot).
    Steps,
}

/// One node's planned work: what is done, which steps, and the output key it ends with.
#[derive(Debug, Clone, Copy)]
pub struct Preview<'a> {
    pub node: NodeId,
    pub work: Work,
    pub steps: &'a [Step],
    pub key: &'a str,
}
