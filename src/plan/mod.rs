//! The plan: desired keys vs recorded keys vs what the host has → one action per node.
//!
//! Pure: no I/O. For each selected node, in build order:
//!
//! * **create**: never built, or recorded but gone from the host;
//! * **replace**: the `define` step changed (shape field, clone source, snapshot):
//!   destroy and re-create. A guest that is not a template needs `--allow-replace`;
//! * **resume**: a feature step changed (roll back to the snapshot before it and run
//!   from there), or an earlier build stopped part way;
//! * **rerun-app**: only the application step (script, health checks, app fields) changed;
//! * **resnapshot**: only the snapshot step changed;
//! * **update**: content is current but settings changed (`pct set` in place); also a
//!   host step whose inputs changed;
//! * **fresh**: nothing to do.
//!
//! Content and settings are independent: a content action also lists `configure`
//! when the settings changed. Reasons come from diffing the recorded input manifest
//! with the desired one; a clone whose source changed repeats the source's reason.

use std::collections::HashMap;

use serde::Serialize;

use crate::defs::Definitions;
use crate::graph::NodeId;
use crate::inventory::{Inventory, Stamp};
use crate::key::{Manifest, NodeKeys, StepKey, canon};
use crate::state::NodeRecord;
use crate::step::Step;

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
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// Guests that exist on the host but were not created by phoenix: never touched.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub foreign: Vec<NodeId>,
}

impl Plan {
    pub fn action(&self, node: NodeId) -> Option<&Action> {
        self.actions.iter().find(|a| a.node == node)
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

/// Make the plan for `order` (selected nodes in build order).
pub fn make(
    defs: &Definitions,
    order: &[NodeId],
    keys: &HashMap<NodeId, NodeKeys>,
    recorded: &HashMap<String, NodeRecord>,
    inventory: &Inventory,
) -> Plan {
    let mut plan = Plan::default();
    let mut reasons_of: HashMap<NodeId, Vec<String>> = HashMap::new();
    for &node in order {
        let Some(desired) = keys.get(&node) else {
            continue;
        };
        let label = node.to_string();
        let record = recorded.get(&label);
        let observed = inventory.get(&node);
        let is_guest = node.guest_id().is_some();
        if is_guest && observed.is_some_and(|o| o.stamp == Stamp::Foreign) {
            plan.foreign.push(node);
            continue;
        }
        let stamp = observed.map(|o| &o.stamp);
        let (action, steps, reasons) = match (record, is_guest) {
            (None, false) => (ActionKind::Create, all_steps(desired), vec!["never run".to_string()]),
            (Some(rec), false) => host_action(desired, rec),
            (_, true) if stamp == Some(&Stamp::Building) && record.is_none_or(|r| r.steps.is_empty()) => (
                ActionKind::Create,
                all_steps(desired),
                vec!["left unfinished by an interrupted build; created again".to_string()],
            ),
            (None, true) => match stamp {
                None | Some(Stamp::Foreign | Stamp::Building) => (ActionKind::Create, all_steps(desired), vec!["not built yet".to_string()]),
                Some(Stamp::Built(k)) if k.len() >= 16 && desired.output().hex().starts_with(k.as_str()) => (
                    ActionKind::Update,
                    vec![Step::Configure],
                    vec!["no record in the state directory; the guest's stamp matches, settings are re-applied".to_string()],
                ),
                Some(Stamp::Built(k)) => (
                    ActionKind::Replace,
                    all_steps(desired),
                    vec![format!("no record in the state directory; the guest carries key {} from another build", &k[..k.len().min(12)])],
                ),
            },
            (Some(_), true) if observed.is_none() => {
                (ActionKind::Create, all_steps(desired), vec![format!("recorded as built, but {node} does not exist on the host")])
            }
            (Some(rec), true) => {
                let (action, steps, mut reasons) = guest_action(desired, rec, &reasons_of);
                // A VM that `qm template` converted can neither start nor roll back:
                // any change to its content makes it again.
                let converted = matches!(node, NodeId::Vm(_))
                    && rec.steps.last().is_some_and(|s| s.step == Step::Template);
                if converted
                    && matches!(
                        action,
                        ActionKind::Resume | ActionKind::RerunApp | ActionKind::Resnapshot
                    )
                {
                    reasons.push("a converted VM template cannot change in place; it is made again".into());
                    (ActionKind::Replace, all_steps(desired), reasons)
                } else {
                    (action, steps, reasons)
                }
            }
        };
        let needs_allow_replace = action == ActionKind::Replace
            && node
                .guest_id()
                .and_then(|id| defs.guest(id))
                .is_some_and(|g| !g.is_template);
        reasons_of.insert(node, reasons.clone());
        plan.actions.push(Action {
            node,
            action,
            key: desired.output().hex(),
            steps,
            reasons,
            needs_allow_replace,
        });
    }
    plan
}

/// Every step of a node, in execution order: what a create or replace runs.
pub fn all_steps(desired: &NodeKeys) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::with_capacity(desired.chain.len() + 1);
    for (i, s) in desired.chain.iter().enumerate() {
        steps.push(s.step.clone());
        if i == 0 && desired.configure.is_some() {
            steps.push(Step::Configure);
        }
    }
    steps
}

fn host_action(desired: &NodeKeys, rec: &NodeRecord) -> (ActionKind, Vec<Step>, Vec<String>) {
    let want = &desired.chain[0];
    match rec.steps.first() {
        Some(done) if done.key == want.key.hex() => (ActionKind::Fresh, Vec::new(), Vec::new()),
        Some(done) => (
            ActionKind::Update,
            vec![want.step.clone()],
            diff(&done.manifest.parse(), &want.manifest, &HashMap::new()),
        ),
        None => (
            ActionKind::Create,
            vec![want.step.clone()],
            vec!["never completed".into()],
        ),
    }
}

fn guest_action(
    desired: &NodeKeys,
    rec: &NodeRecord,
    upstream: &HashMap<NodeId, Vec<String>>,
) -> (ActionKind, Vec<Step>, Vec<String>) {
    let chain = &desired.chain;
    let first_stale = chain
        .iter()
        .enumerate()
        .find(|(i, want)| {
            rec.steps
                .get(*i)
                .is_none_or(|done| done.key != want.key.hex())
        })
        .map(|(i, _)| i);
    let settings_stale = match (&desired.configure, &rec.configure) {
        (Some(want), Some(done)) => (done.key != want.key.hex())
            .then(|| diff(&done.manifest.parse(), &want.manifest, upstream)),
        (Some(_), None) => Some(vec!["settings never applied".to_string()]),
        (None, _) => None,
    };
    let Some(i) = first_stale else {
        if rec.steps.len() > chain.len() {
            // Steps were removed from the end (e.g. the app script was dropped): the
            // guest's content no longer matches its definition.
            let removed: Vec<String> = rec.steps[chain.len()..]
                .iter()
                .map(|s| s.step.to_string())
                .collect();
            return (
                ActionKind::Replace,
                all_steps(desired),
                vec![format!(
                    "steps removed from the definition: {}",
                    removed.join(", ")
                )],
            );
        }
        return match settings_stale {
            Some(reasons) => (ActionKind::Update, vec![Step::Configure], reasons),
            None => (ActionKind::Fresh, Vec::new(), Vec::new()),
        };
    };
    let want = &chain[i];
    let mut reasons = match rec.steps.get(i) {
        None => vec![format!("the last build stopped before `{}`", want.step)],
        Some(done) if done.step != want.step => {
            vec![format!("step `{}` is now `{}`", done.step, want.step)]
        }
        Some(done) => {
            let mut r: Vec<String> = diff(&done.manifest.parse(), &want.manifest, upstream)
                .into_iter()
                .map(|d| format!("{}: {d}", want.step))
                .collect();
            if r.is_empty() {
                r.push(format!("{}: an earlier step changed", want.step));
            }
            r
        }
    };
    let kind = if i == 0 {
        ActionKind::Replace
    } else if rec.steps.get(i).is_none()
        || want.step.feature().is_some()
        || rec.steps[i].step != want.step
    {
        ActionKind::Resume
    } else if want.step == Step::App {
        ActionKind::RerunApp
    } else {
        ActionKind::Resnapshot
    };
    let mut steps: Vec<Step> = if kind == ActionKind::Replace {
        all_steps(desired)
    } else {
        chain[i..].iter().map(|s| s.step.clone()).collect()
    };
    if kind != ActionKind::Replace
        && let Some(settings) = settings_stale
    {
        steps.insert(0, Step::Configure);
        reasons.extend(settings);
    }
    if kind == ActionKind::Resume && rec.steps.get(i).is_some() && want.step.feature().is_some() {
        reasons.push(format!(
            "rolls back to the snapshot taken before `{}`",
            want.step
        ));
    }
    (kind, steps, reasons)
}

/// Human reasons for the difference between two manifests.
pub fn diff(
    old: &Manifest,
    new: &Manifest,
    upstream: &HashMap<NodeId, Vec<String>>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (name, new_v) in new {
        match old.get(name) {
            Some(old_v) if old_v == new_v => {}
            Some(old_v) => out.push(changed(name, old_v, new_v, upstream)),
            None => out.push(format!(
                "{} added ({})",
                pretty_name(name),
                canon::display(new_v)
            )),
        }
    }
    for name in old.keys().filter(|k| !new.contains_key(*k)) {
        out.push(format!("{} removed", pretty_name(name)));
    }
    out
}

fn pretty_name(name: &str) -> &str {
    name.strip_prefix("script ")
        .or_else(|| name.strip_prefix("section "))
        .or_else(|| name.strip_prefix("global "))
        .unwrap_or(name)
}

fn changed(name: &str, old: &str, new: &str, upstream: &HashMap<NodeId, Vec<String>>) -> String {
    if let Some(path) = name.strip_prefix("script ") {
        return format!("{path} changed");
    }
    if let Some(source) = name.strip_prefix("clone source ") {
        let why = upstream
            .iter()
            .find(|(id, _)| id.to_string() == source)
            .and_then(|(_, r)| r.first())
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        return format!("clone source {source} changed{why}");
    }
    if let Some(h) = name.strip_prefix("health ") {
        return format!("health check `{h}` changed");
    }
    let (o, n) = (canon::display(old), canon::display(new));
    if o.ends_with("...") || n.ends_with("...") {
        format!("{} changed", pretty_name(name))
    } else {
        format!("{} {o} → {n}", pretty_name(name))
    }
}

/// Steps as recorded vs desired, input by input: what `phoenix explain` prints.
pub struct StepDiff {
    pub step: Step,
    pub status: &'static str,
    pub changes: Vec<(String, Option<String>, Option<String>)>,
}

pub fn explain(desired: &NodeKeys, rec: Option<&NodeRecord>) -> Vec<StepDiff> {
    let mut want: Vec<&StepKey> = desired.chain.iter().collect();
    if let Some(c) = &desired.configure {
        want.insert(1.min(want.len()), c);
    }
    let mut out = Vec::new();
    for w in want {
        let done = rec.and_then(|r| {
            if w.step == Step::Configure {
                r.configure.as_ref()
            } else {
                r.steps.iter().find(|s| s.step == w.step)
            }
        });
        let mut changes = Vec::new();
        let status = match done {
            None => "not recorded",
            Some(d) if d.key == w.key.hex() => "fresh",
            Some(d) => {
                let recorded = d.manifest.parse();
                for (k, v) in &w.manifest {
                    if recorded.get(k) != Some(v) {
                        changes.push((k.clone(), recorded.get(k).cloned(), Some(v.clone())));
                    }
                }
                for (k, v) in &recorded {
                    if !w.manifest.contains_key(k) {
                        changes.push((k.clone(), Some(v.clone()), None));
                    }
                }
                if changes.is_empty() {
                    "stale (an earlier step changed)"
                } else {
                    "stale"
                }
            }
        };
        out.push(StepDiff {
            step: w.step.clone(),
            status,
            changes,
        });
    }
    out
}
