//! Choosing each node's action from its desired keys, its record and what the host
//! has.
//!
//! Pure: no I/O and no definitions. What the planner would otherwise ask the
//! definitions ([`GuestFacts`]: which guests are templates, so may be replaced
//! freely; which cannot have snapshots, so cannot roll back) the caller passes in,
//! so the rules are tested from keys, records and inventories built in memory.

use rayon::prelude::*;

use super::action::{Action, ActionKind, Plan, Recovered};
use super::reasons::{Upstream, diff};
use super::recover::{self, Basis, STAMP_DIFFERS, Source};
use crate::fasthash::FastSet;
use crate::graph::{NodeId, NodeMap};
use crate::inventory::{Inventory, Stamp};
use crate::key::NodeKeys;
use crate::state::NodeRecord;
use crate::step::Step;

/// What the planner needs to know about guests beyond their keys. Its tables are
/// hashed by `fasthash`: each is looked up once or more per node planned.
#[derive(Debug, Clone, Default)]
pub struct GuestFacts {
    /// Guests that are templates: replacing one needs no `--allow-replace`, since
    /// its clones hold the data, not it.
    pub(crate) templates: FastSet<NodeId>,
    /// Guests Proxmox cannot snapshot, with the reason (a bind mount, a directory
    /// storage). They take no `pre-<feature>` snapshots, so a changed feature
    /// cannot roll back: the guest is built again.
    pub(crate) no_snapshots: NodeMap<String>,
    /// Each clone's source. Proxmox copies the source's tags into a clone, stamp
    /// included, so a clone left between `pct clone` and its own stamp carries
    /// its source's stamp; it is known by that. A clone is also planned after its
    /// source, whose first reason its own quotes: a clone missing here is planned
    /// beside its source, and its reason does not say why the source changed.
    pub(crate) clone_sources: NodeMap<NodeId>,
    /// Converted templates (`is_template`): they cannot change in place, and
    /// their clones are linked to them.
    pub(crate) converted: FastSet<NodeId>,
}

/// Make the plan for `order` (selected nodes in build order): `keys` are the
/// desired keys, `recorded` the state directory's records by node label,
/// `inventory` what the host has, and `facts` what the definitions say about the
/// guests. Records rebuilt from guests' stamps are in [`Plan::recovered`].
///
/// Each node is decided on its own, on every core, but for one thing: a clone's
/// reason quotes its source's first reason ([`Upstream`]). So the nodes are
/// decided in waves by clone depth, as the keys are computed (a node whose clone
/// source is not in `order` is in the first wave), each wave after the first
/// reading the first reasons of the waves before it. The plan lists the nodes in
/// `order`, whatever the wave that decided them.
pub fn make(
    order: &[NodeId],
    keys: &NodeMap<NodeKeys>,
    recorded: &crate::state::RecordMap,
    inventory: &Inventory,
    facts: &GuestFacts,
) -> Plan {
    let sources: FastSet<NodeId> = facts.clone_sources.values().copied().collect();
    let (waves, wave_of) = waves(order, facts, &sources);
    // The first reason of each planned clone source, for its clones' reasons.
    let mut first_reasons: NodeMap<String> = NodeMap::default();
    let mut decided: Vec<std::vec::IntoIter<Decision>> = Vec::with_capacity(waves.len());
    for wave in waves {
        let upstream = Upstream::new(&first_reasons);
        let done: Vec<Decision> = wave
            .par_iter()
            .map(|&i| decide(order[i], keys, recorded, inventory, facts, upstream))
            .collect();
        for decision in &done {
            if let Decision::Planned(action, _) = decision
                && sources.contains(&action.node)
                && let Some(first) = action.reasons.first()
            {
                first_reasons.insert(action.node, first.clone());
            }
        }
        decided.push(done.into_iter());
    }
    let mut plan = Plan {
        actions: Vec::with_capacity(order.len()),
        ..Plan::default()
    };
    // Back in `order`: each wave holds its nodes in that order.
    for w in wave_of {
        match decided[w as usize].next() {
            None | Some(Decision::Skipped) => {}
            Some(Decision::Foreign(node)) => plan.foreign.push(node),
            Some(Decision::Planned(action, recovered)) => {
                plan.recovered.extend(recovered.map(|r| *r));
                plan.actions.push(action);
            }
        }
    }
    super::linked::order_teardown(&mut plan, facts, inventory, keys);
    plan
}

/// What became of one node of the order.
enum Decision {
    /// No desired keys: not planned.
    Skipped,
    /// A guest another tool built: left alone.
    Foreign(NodeId),
    /// Its action, and the record rebuilt from its stamp where there is one (boxed:
    /// few nodes have one).
    Planned(Action, Option<Box<Recovered>>),
}

/// The places in `order` by clone depth, and each place's wave: a node whose
/// clone source is in `order` comes one wave after it (in build order a source
/// comes first, so its wave is known); any other node is in the first wave. Each
/// wave lists its places in order.
fn waves(
    order: &[NodeId],
    facts: &GuestFacts,
    sources: &FastSet<NodeId>,
) -> (Vec<Vec<usize>>, Vec<u32>) {
    // The wave of each clone source in `order`.
    let mut depth: NodeMap<u32> = NodeMap::default();
    let mut waves: Vec<Vec<usize>> = vec![Vec::with_capacity(order.len())];
    let mut wave_of = Vec::with_capacity(order.len());
    for (i, node) in order.iter().enumerate() {
        let d = facts
            .clone_sources
            .get(node)
            .and_then(|s| depth.get(s))
            .map_or(0, |d| d + 1);
        if sources.contains(node) {
            depth.insert(*node, d);
        }
        let w = d as usize;
        if waves.len() <= w {
            waves.resize_with(w + 1, Vec::new);
        }
        waves[w].push(i);
        wave_of.push(d);
    }
    (waves, wave_of)
}

/// One node's decision, `upstream` holding the first reasons of the clone sources
/// decided before it.
fn decide(
    node: NodeId,
    keys: &NodeMap<NodeKeys>,
    recorded: &crate::state::RecordMap,
    inventory: &Inventory,
    facts: &GuestFacts,
    upstream: Upstream<'_>,
) -> Decision {
    let Some(desired) = keys.get(&node) else {
        return Decision::Skipped;
    };
    let record = node.with_name(|label| recorded.get(label));
    let observed = inventory.get(&node);
    let is_guest = node.guest_id().is_some();
    if is_guest && observed.is_some_and(|o| o.stamp == Stamp::Foreign) {
        return Decision::Foreign(node);
    }
    let mut recovered = None;
    let (action, steps, reasons) = match (record, observed) {
        _ if !is_guest => match record {
            None => (
                ActionKind::Create,
                all_steps(desired),
                vec!["never run".to_string()],
            ),
            Some(rec) => host_action(desired, rec),
        },
        (None, None) => (
            ActionKind::Create,
            all_steps(desired),
            vec!["not built yet".to_string()],
        ),
        (Some(_), None) => (
            ActionKind::Create,
            all_steps(desired),
            vec![format!(
                "{MISSING}: recorded as built, but {node} does not exist on the host"
            )],
        ),
        (_, Some(observed)) => {
            let source_stamp = facts
                .clone_sources
                .get(&node)
                .and_then(|s| inventory.get(s))
                .map(|o| &o.stamp);
            let inherited =
                matches!(observed.stamp, Stamp::Built(_)) && Some(&observed.stamp) == source_stamp;
            let template = facts.templates.contains(&node);
            let basis = recover::basis(node, desired, record, observed, inherited, template);
            let no_snapshots = facts.no_snapshots.get(&node).map(String::as_str);
            let from = |rec: &NodeRecord| from_record(node, desired, rec, upstream, no_snapshots);
            match basis {
                Basis::Decided(action, reasons) => (action, all_steps(desired), reasons),
                Basis::Record { record, restamp } => {
                    let (action, steps, reasons) = from(record);
                    if restamp && matches!(action, ActionKind::Fresh | ActionKind::Update) {
                        let mut why = vec![format!(
                            "{STAMP_DIFFERS}: every step is recorded, but the guest is stamped `building`; its stamp is written again"
                        )];
                        why.extend(reasons);
                        (ActionKind::Update, steps, why)
                    } else {
                        (action, steps, reasons)
                    }
                }
                Basis::Recovered {
                    record,
                    why,
                    from: source,
                } => {
                    let (action, steps, reasons) = from(&record);
                    let mut all = vec![why];
                    if source == Source::Proof {
                        all.extend(reasons);
                    }
                    recovered = Some(Box::new(Recovered {
                        node,
                        record,
                        proven: source.proven(),
                    }));
                    (action, steps, all)
                }
            }
        }
    };
    let needs_allow_replace =
        action == ActionKind::Replace && is_guest && !facts.templates.contains(&node);
    Decision::Planned(
        Action {
            node,
            action,
            key: desired.output().hex(),
            steps,
            reasons,
            needs_allow_replace,
            destroy_first: Vec::new(),
            start: false,
        },
        recovered,
    )
}

/// A guest's action from its record (one the stamp agrees with, or one rebuilt
/// from the stamp).
fn from_record(
    node: NodeId,
    desired: &NodeKeys,
    rec: &NodeRecord,
    upstream: Upstream<'_>,
    no_snapshots: Option<&str>,
) -> (ActionKind, Vec<Step>, Vec<String>) {
    let (action, steps, mut reasons) = guest_action(desired, rec, upstream, no_snapshots);
    // A guest that `pct template` or `qm template` converted can neither start
    // nor roll back: any change to its content makes it again.
    let converted = rec.steps.last().is_some_and(|s| s.step == Step::Template);
    if converted
        && matches!(
            action,
            ActionKind::Resume | ActionKind::RerunApp | ActionKind::Resnapshot
        )
    {
        // Nothing rolls back: a converted template holds no snapshots.
        reasons.retain(|r| !r.starts_with(ROLLS_BACK));
        reasons.push(format!(
            "a converted {} template cannot change in place; it is made again",
            if matches!(node, NodeId::Vm(_)) {
                "VM"
            } else {
                "container"
            }
        ));
        (ActionKind::Replace, all_steps(desired), reasons)
    } else {
        (action, steps, reasons)
    }
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

/// How the reason of a managed guest that is gone from the host begins.
pub const MISSING: &str = "missing (deleted outside phoenix)";

/// How the reason of a resume that rolls back begins.
const ROLLS_BACK: &str = "rolls back to the snapshot taken before";

/// Why a recovered step's old inputs cannot be shown.
const UNRECORDED: &str = "its stamp has the old key; what it was built from was not recorded";

fn host_action(desired: &NodeKeys, rec: &NodeRecord) -> (ActionKind, Vec<Step>, Vec<String>) {
    let want = &desired.chain[0];
    match rec.steps.first() {
        Some(done) if done.key.is(&want.key) => (ActionKind::Fresh, Vec::new(), Vec::new()),
        Some(done) => (
            ActionKind::Update,
            vec![want.step.clone()],
            diff(&done.manifest.parse(), &want.manifest, Upstream::none()),
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
    upstream: Upstream<'_>,
    no_snapshots: Option<&str>,
) -> (ActionKind, Vec<Step>, Vec<String>) {
    let chain = &desired.chain;
    let first_stale = chain
        .iter()
        .enumerate()
        .find(|(i, want)| rec.steps.get(*i).is_none_or(|done| !done.key.is(&want.key)))
        .map(|(i, _)| i);
    let settings_stale = match (&desired.configure, &rec.configure) {
        (Some(want), Some(done)) if done.manifest.is_unknown() => {
            (!done.key.is(&want.key)).then(|| {
                vec![format!(
                    "settings changed since the guest was built ({UNRECORDED})"
                )]
            })
        }
        (Some(want), Some(done)) => (!done.key.is(&want.key))
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
        Some(done) if done.manifest.is_unknown() => {
            vec![format!(
                "{}: changed since the guest was built ({UNRECORDED})",
                want.step
            )]
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
        // A feature that ran changed: the guest must return to before it.
        if let Some(why) = no_snapshots {
            reasons.push(format!(
                "no snapshot before `{}` to roll back to ({why}); built again",
                want.step
            ));
            return (ActionKind::Replace, all_steps(desired), reasons);
        }
        reasons.push(format!("{ROLLS_BACK} `{}`", want.step));
    }
    (kind, steps, reasons)
}
