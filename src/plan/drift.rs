//! Drift: a managed guest that was changed outside phoenix (memory set in the GUI,
//! a firewall rule deleted, the guest stopped, its template snapshot deleted), seen
//! by reading the live config (`status --live`, `plan --refresh`, `build
//! --refresh`), and made part of the plan as staleness with its own reasons.
//!
//! Pure, as the rest of the planner: the caller reads the host (one
//! [`Observation`] per managed guest) and passes it in.
//!
//! What counts as drift is what the live guest shows against what phoenix
//! *recorded*, not against the definition: a setting is drift only while the
//! guest's recorded `configure` key is the definition's (phoenix set exactly what
//! the definition says, so the definition's value is the recorded one). A guest
//! whose settings changed in the definition is already planned for an update,
//! which sets every setting anyway; its live differences are not reported as
//! drift.
//!
//! How each kind is brought back: a setting by the `configure` step (an update);
//! a stopped guest that phoenix left running by starting it; a deleted template
//! snapshot by taking it again (a resnapshot). A guest planned for create or
//! replace needs nothing more.

use serde::Serialize;

use super::action::{ActionKind, Plan};
use crate::graph::NodeId;
use crate::inventory::{Observed, Stamp};
use crate::key::NodeKeys;
use crate::live::{Observation, drift_reason};
use crate::state::NodeRecord;
use crate::step::Step;

/// How a drifted thing is brought back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fix {
    Configure,
    Start,
    Snapshot,
    /// Moved to the node its definition names (by the `configure` step).
    Migrate,
}

/// One thing about a guest that changed outside phoenix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriftItem {
    /// What changed: `memory_mb (memory)`, `running`, `snapshot golden`.
    pub what: String,
    /// What phoenix left.
    pub recorded: String,
    /// What the host has now.
    pub live: String,
    /// The plan's reason.
    pub reason: String,
    pub fix: Fix,
}

/// A managed guest's drift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    pub node: NodeId,
    pub items: Vec<DriftItem>,
}

/// What the definitions say of a guest that drift depends on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Expect<'a> {
    /// Phoenix leaves it running (not a template of either model).
    pub runs: bool,
    /// Its template snapshot (`template_snapshot_name`), for a snapshot template.
    pub template_snapshot: Option<&'a str>,
}

/// The drift of one managed guest: `observed` is its inventory entry, `live` what
/// its backend read. Nothing for a guest phoenix did not finish (no `built`
/// stamp), or has no record of.
pub fn find(
    desired: &NodeKeys,
    record: Option<&NodeRecord>,
    observed: &Observed,
    live: &Observation,
    expect: Expect,
) -> Vec<DriftItem> {
    let Some(record) = record else {
        return Vec::new();
    };
    if !matches!(observed.stamp, Stamp::Built(_)) {
        return Vec::new();
    }
    let mut items = Vec::new();
    let settings_current = match (&desired.configure, &record.configure) {
        (Some(want), Some(done)) => done.key.is(&want.key),
        _ => false,
    };
    if settings_current {
        for s in live.differing() {
            items.push(DriftItem {
                what: if s.field == s.name {
                    s.field.clone()
                } else {
                    format!("{} ({})", s.field, s.name)
                },
                recorded: s.want_text().to_string(),
                live: s.live_text().to_string(),
                reason: drift_reason(s),
                fix: Fix::Configure,
            });
        }
    }
    let content_current = record.steps.len() == desired.chain.len()
        && record
            .steps
            .iter()
            .zip(&desired.chain)
            .all(|(done, want)| done.key.is(&want.key));
    if expect.runs && content_current && !live.running {
        items.push(DriftItem {
            what: "running".into(),
            recorded: "running".into(),
            live: "stopped".into(),
            reason: "stopped outside phoenix; the build starts it again".into(),
            fix: Fix::Start,
        });
    }
    if let Some(snap) = expect.template_snapshot
        && content_current
        && record
            .steps
            .last()
            .is_some_and(|s| s.step == Step::Snapshot)
        && !live.snapshots.iter().any(|s| s == snap)
    {
        items.push(DriftItem {
            what: format!("snapshot {snap}"),
            recorded: "taken".into(),
            live: "missing".into(),
            reason: format!("snapshot `{snap}` deleted outside phoenix; taken again"),
            fix: Fix::Snapshot,
        });
    }
    items
}

/// Guests on another node than their definition's `node`: each is moved there
/// by its `configure` step (a migration, `/migrate`), not made again. Only
/// guests phoenix made; the inventory says where each is, so this costs no
/// request.
pub fn moves(
    defs: &crate::defs::Definitions,
    inventory: &crate::inventory::Inventory,
) -> Vec<Drift> {
    let mut out = Vec::new();
    for g in defs.guests.values() {
        let Some(want) = &g.node else { continue };
        let id = NodeId::guest(g.kind, g.id);
        let Some(seen) = inventory.get(&id) else {
            continue;
        };
        let Some(here) = &seen.node else { continue };
        if here == want || seen.stamp == Stamp::Foreign {
            continue;
        }
        let how = match (g.kind, seen.running) {
            (crate::defs::GuestKind::Ct, true) => {
                " (restart mode: it is shut down, moved and started)"
            }
            (crate::defs::GuestKind::Vm, true) => " (online)",
            _ => "",
        };
        out.push(Drift {
            node: id,
            items: vec![DriftItem {
                what: "node".into(),
                recorded: want.clone(),
                live: here.clone(),
                reason: format!("node: on {here}, the definition says {want}; migrated there{how}"),
                fix: Fix::Migrate,
            }],
        });
    }
    out.sort_by_key(|d| d.node);
    out
}

/// Make each drift part of the plan: its reasons added to the guest's action, and
/// the steps that bring it back (see the module doc). Guests planned for create
/// or replace are left as planned.
pub fn apply(plan: &mut Plan, drifts: &[Drift]) {
    for drift in drifts.iter().filter(|d| !d.items.is_empty()) {
        let Some(action) = plan.actions.iter_mut().find(|a| a.node == drift.node) else {
            continue;
        };
        if matches!(action.action, ActionKind::Create | ActionKind::Replace) {
            continue;
        }
        for item in &drift.items {
            match item.fix {
                Fix::Configure | Fix::Migrate if !action.steps.contains(&Step::Configure) => {
                    action.steps.insert(0, Step::Configure);
                }
                Fix::Snapshot if !action.steps.contains(&Step::Snapshot) => {
                    action.steps.push(Step::Snapshot);
                    if matches!(action.action, ActionKind::Fresh | ActionKind::Update) {
                        action.action = ActionKind::Resnapshot;
                    }
                }
                Fix::Start => action.start = true,
                _ => {}
            }
            action.reasons.push(item.reason.clone());
        }
        if action.action == ActionKind::Fresh {
            action.action = ActionKind::Update;
        }
    }
}
