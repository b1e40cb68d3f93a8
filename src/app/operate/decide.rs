//! What `start` or `stop` does to one guest, from the inventory read once at the
//! beginning: act on it, or leave it with an outcome and a reason. Pure, so the
//! dry run prints exactly what a run would do.

use crate::backend::{Backend, Inventory, Stamp};
use crate::defs::{Definitions, Guest};
use crate::exec::Outcome;
use crate::graph::NodeId;
use crate::graph::runtime::Way;

/// One guest's part in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Decision {
    /// Start it (or at `up`, run its sync hook), or shut it down.
    Act,
    /// Nothing to do, with the outcome to report and why.
    Leave {
        outcome: Outcome,
        detail: String,
        /// Not a failure: the backend does not run guests of this kind.
        unsupported: bool,
        /// What waits for it cannot go: at start, what depends on it (it does
        /// not run); at stop, what it depends on (it still runs).
        blocks: bool,
    },
}

fn leave(outcome: Outcome, detail: impl Into<String>, blocks: bool) -> Decision {
    Decision::Leave {
        outcome,
        detail: detail.into(),
        unsupported: false,
        blocks,
    }
}

/// What a run does to `node`. `hooked`: at `up`, a running guest flagged
/// `trigger_sync_on_completion` is acted on all the same, for its hook.
pub(super) fn decide(
    defs: &Definitions,
    backend: &dyn Backend,
    inventory: Option<&Inventory>,
    way: Way,
    node: NodeId,
    hooked: bool,
) -> Decision {
    let Some(g) = node.guest_id().and_then(|id| defs.guest(id)) else {
        return leave(Outcome::Skipped, "not defined", false);
    };
    if way == Way::Start && g.template.is_template() {
        return leave(Outcome::Unchanged, "a template: never started", false);
    }
    if !backend.supports(g.kind) {
        return Decision::Leave {
            outcome: Outcome::Skipped,
            detail: format!(
                "the {} backend does not run {}s",
                backend.name(),
                g.kind.prefix().to_uppercase()
            ),
            unsupported: true,
            blocks: way == Way::Start,
        };
    }
    // A dry run without a host to read: every guest is taken as the run finds it.
    let Some(inventory) = inventory else {
        return Decision::Act;
    };
    let Some(seen) = inventory.get(&node) else {
        return match way {
            Way::Start => leave(
                Outcome::Failed,
                format!("does not exist; `phoenix build {}` builds it", g.id),
                true,
            ),
            Way::Stop => leave(Outcome::Unchanged, "does not exist", false),
        };
    };
    if seen.stamp == Stamp::Foreign {
        let blocks = match way {
            Way::Start => !seen.running,
            Way::Stop => seen.running,
        };
        return leave(
            Outcome::Skipped,
            format!(
                "exists but was not created by phoenix; left alone (`phoenix adopt {}` takes it over)",
                g.id
            ),
            blocks,
        );
    }
    match way {
        Way::Start if seen.running && !hooked => {
            leave(Outcome::Unchanged, "already running", false)
        }
        Way::Stop if !seen.running => leave(Outcome::Unchanged, "already stopped", false),
        Way::Start | Way::Stop => Decision::Act,
    }
}

/// `trigger_sync_on_completion: true` (or `"true"`, which the shell tool's text
/// comparison took as true too).
pub(super) fn sync_flagged(g: &Guest) -> bool {
    match g.app_fields.get("trigger_sync_on_completion") {
        Some(serde_json::Value::Bool(b)) => *b,
        Some(serde_json::Value::String(s)) => s == "true",
        _ => false,
    }
}
