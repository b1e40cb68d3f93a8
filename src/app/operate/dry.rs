//! `--dry-run` of `start`, `stop`, `restart` and `up`: what a run would do to
//! each guest, group by group, in order, and the boot delays between groups.
//! With a named backend it reads the host once (which guests exist and run);
//! without one, every guest is listed as the run would take it, unread.

use std::process::ExitCode;

use serde_json::json;

use super::decide::{Decision, decide, sync_flagged};
use super::hook::Hook;
use crate::app::output::print;
use crate::backend::{Backend, Inventory};
use crate::cli::Output;
use crate::defs::Definitions;
use crate::graph::runtime::{BootPlace, Way};
use crate::graph::{Graph, NodeId};

/// One phase of a dry run: a `start` or `stop` over a selection.
pub(super) struct Phase {
    pub(super) way: Way,
    pub(super) nodes: Vec<NodeId>,
}

/// What the dry run reads.
pub(super) struct Dry<'a> {
    pub(super) defs: &'a Definitions,
    pub(super) graph: &'a Graph,
    pub(super) backend: &'a dyn Backend,
    /// The host as read, when a backend was named.
    pub(super) inventory: Option<Inventory>,
    pub(super) boot_delay: bool,
    pub(super) hook: Option<Hook>,
}

/// Print the phases in order; a guest a stop phase stops counts as stopped in
/// the phases after it.
pub(super) fn print_phases(dry: &mut Dry, phases: &[Phase], output: Output) -> ExitCode {
    let mut lines = Vec::new();
    for phase in phases {
        let way = phase.way;
        let name = match way {
            Way::Start => "start",
            Way::Stop => "stop",
        };
        let place = |n: NodeId| {
            n.guest_id().and_then(|id| dry.defs.guest(id)).map_or(
                BootPlace {
                    later: true,
                    order: u64::MAX,
                },
                BootPlace::of,
            )
        };
        // Templates never start: listed first, outside the order.
        let (templates, rest): (Vec<NodeId>, Vec<NodeId>) = phase
            .nodes
            .iter()
            .partition(|n| way == Way::Start && crate::pipeline::is_template(dry.defs, **n));
        let schedule = dry.graph.schedule(&rest, way, place);
        let decisions: Vec<Vec<(NodeId, Decision)>> = schedule
            .groups
            .iter()
            .map(|group| {
                group
                    .iter()
                    .map(|n| (*n, decide_one(dry, way, *n)))
                    .collect()
            })
            .collect();
        if output == Output::Text {
            lines.push(format!(
                "{name}, in this order ({}; a group goes together, each guest after what it waits for):",
                match &dry.inventory {
                    Some(_) => format!("as the {} backend reports the guests", dry.backend.name()),
                    None => "the host not read: name a backend to see which guests run".into(),
                }
            ));
        }
        for n in templates {
            lines.push(line(dry, output, way, 0, n, &decide_one(dry, way, n)));
        }
        for (i, group) in decisions.iter().enumerate() {
            for (n, d) in group {
                lines.push(line(dry, output, way, i + 1, *n, d));
            }
            let delay = group
                .iter()
                .filter(|(_, d)| way == Way::Start && dry.boot_delay && *d == Decision::Act)
                .filter_map(|(n, _)| dry.defs.guest(n.guest_id()?)?.settings.boot_delay)
                .max()
                .unwrap_or(0);
            let more = decisions[i + 1..]
                .iter()
                .flatten()
                .any(|(_, d)| *d == Decision::Act);
            if delay > 0 && more && output == Output::Text {
                lines.push(format!("     then wait {delay}s (boot_delay)"));
            }
        }
        // What this phase stops is stopped for the phases after it.
        if let (Way::Stop, Some(inv)) = (way, dry.inventory.as_mut()) {
            for (n, d) in decisions.iter().flatten() {
                if *d == Decision::Act
                    && let Some(o) = inv.get_mut(n)
                {
                    o.running = false;
                }
            }
        }
    }
    print(&lines.join("\n"));
    ExitCode::SUCCESS
}

fn decide_one(dry: &Dry, way: Way, n: NodeId) -> Decision {
    let hooked = dry.hook.is_some()
        && n.guest_id()
            .and_then(|id| dry.defs.guest(id))
            .is_some_and(sync_flagged);
    decide(
        dry.defs,
        dry.backend,
        dry.inventory.as_ref(),
        way,
        n,
        hooked,
    )
}

fn line(dry: &Dry, output: Output, way: Way, group: usize, n: NodeId, d: &Decision) -> String {
    let name = match way {
        Way::Start => "start",
        Way::Stop => "stop",
    };
    let hook = dry.hook.as_ref().filter(|_| {
        way == Way::Start
            && n.guest_id()
                .and_then(|id| dry.defs.guest(id))
                .is_some_and(sync_flagged)
    });
    let (action, detail) = match d {
        Decision::Act => {
            let mut what = match (way, &dry.inventory) {
                (Way::Start, Some(inv)) if inv.get(&n).is_some_and(|o| o.running) => {
                    "already running".to_string()
                }
                (_, Some(_)) => String::new(),
                (Way::Start, None) => "unless it runs already".to_string(),
                (Way::Stop, None) => "if it runs".to_string(),
            };
            if let Some(h) = hook {
                let sep = if what.is_empty() { "" } else { "; " };
                what.push_str(&if h.exists {
                    format!("{sep}then the sync hook {}", h.rel)
                } else {
                    format!("{sep}{}", h.missing())
                });
            }
            (name.to_string(), what)
        }
        Decision::Leave {
            outcome, detail, ..
        } => {
            let outcome = serde_json::to_value(outcome)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            (format!("leave ({outcome})"), detail.clone())
        }
    };
    match output {
        Output::Text => {
            let group = if group == 0 {
                "-".into()
            } else {
                group.to_string()
            };
            format!(
                "  {group:>2}  {:<10} {:<18} {detail}",
                n.to_string(),
                action
            )
            .trim_end()
            .to_string()
        }
        Output::Json => json!({
            "event": "dry_run", "operation": name, "group": (group > 0).then_some(group), "node": n,
            "action": if *d == Decision::Act { name } else { "leave" },
            "detail": detail,
        })
        .to_string(),
    }
}
