//! The pipeline every command shares: `defs::load → graph::build → key::assess →
//! plan::make`, with the diagnostics of every stage gathered in one list; and
//! (`refresh`) the live configs read into the plan where a command asks for them.

use std::path::Path;

use crate::backend::Backend;
use crate::defs::{self, Definitions, Diagnostics, KeyTexts, Severity};
use crate::graph::{self, Graph, NodeId, target};
use crate::inventory::{self, Inventory};
use crate::key::{self, NodeKeys, ScriptHashes};
use crate::plan::{self, GuestFacts, Plan};
use crate::state::{NodeRecord, Recorded, StateDir, StateError};
use crate::timing::timed;

mod refresh;
pub use refresh::{LIVE_READS, Refreshed, observe, refresh};

/// Definitions with their graph and every problem found in them.
pub struct Loaded {
    pub defs: Definitions,
    pub graph: Graph,
    pub diags: Diagnostics,
}

/// Load and check a definitions directory. Missing scripts are reported with
/// `missing_scripts` severity: errors where phoenix will act, warnings for drawing.
pub fn load(dir: &Path, missing_scripts: Severity) -> Loaded {
    load_with(dir, missing_scripts, KeyTexts::Now)
}

/// [`load`], writing the guests' key texts when `texts` says: a command that
/// computes no key need not write them as it reads ([`KeyTexts`]).
pub fn load_with(dir: &Path, missing_scripts: Severity, texts: KeyTexts) -> Loaded {
    let (mut defs, mut diags) = timed("read definitions", || defs::load_unchecked(dir, texts));
    // Passes over the guests that only read them, side by side: the cross-guest
    // checks (two groups), the graph and the scripts. What the checks change, the
    // graph does not read (see `defs::across`); it is changed after.
    let (across, ((graph, cycle_diags), missing)) = rayon::join(
        || timed("cross-guest checks", || defs::across::across(&defs)),
        || {
            rayon::join(
                || timed("graph", || graph::build(&defs)),
                || {
                    timed("scripts checked", || {
                        defs::checks::check_scripts(&defs, missing_scripts)
                    })
                },
            )
        },
    );
    across.apply(&mut defs, &mut diags);
    diags.extend(cycle_diags);
    diags.extend(missing);
    Loaded { defs, graph, diags }
}

/// Desired keys, recorded state and the plan for a selection of nodes.
pub struct Assessed {
    /// Selected nodes in build order.
    pub order: Vec<NodeId>,
    pub keys: crate::graph::NodeMap<NodeKeys>,
    /// The state directory's records, with those the plan rebuilt from guests'
    /// stamps in place of missing or overruled ones ([`Plan::recovered`]): what
    /// a build runs from.
    pub recorded: Recorded,
    pub plan: Plan,
    pub inventory: Inventory,
    /// What the plan was told about the guests (to plan again after `--force`).
    pub facts: GuestFacts,
}

impl Assessed {
    /// What the executor needs to run this plan of `loaded`'s definitions on
    /// `backend`, writing into `state` through `journal`.
    pub fn run<'a>(
        &'a self,
        loaded: &'a Loaded,
        state: &'a StateDir,
        journal: &'a crate::state::Journal,
        backend: &'a dyn Backend,
    ) -> crate::exec::Run<'a> {
        crate::exec::Run {
            defs: &loaded.defs,
            graph: &loaded.graph,
            plan: &self.plan,
            keys: &self.keys,
            records: &self.recorded.records,
            inventory: &self.inventory,
            state,
            journal,
            backend,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Target(#[from] target::UnknownTarget),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Backend(#[from] crate::backend::BackendError),
    /// Guests that cannot be made where their definitions put them.
    #[error("{0}")]
    Placement(String),
}

/// On a backend with several nodes, where each guest to be made goes, as a
/// reason of its action; the guests that cannot be placed, as one error.
fn place_new(
    defs: &Definitions,
    plan: &mut plan::Plan,
    backend: &dyn Backend,
) -> Result<(), PipelineError> {
    let mut refused = Vec::new();
    for a in &mut plan.actions {
        if !matches!(
            a.action,
            plan::ActionKind::Create | plan::ActionKind::Replace
        ) {
            continue;
        }
        let Some(g) = a.node.guest_id().and_then(|id| defs.guest(id)) else {
            continue;
        };
        let ctx = crate::backend::GuestCtx {
            node: a.node,
            guest: g,
            defs,
            source: crate::backend::CloneFrom::of(defs, g),
            timeout: std::time::Duration::from_secs(60),
        };
        match backend.place(&ctx) {
            None => return Ok(()),
            Some(Ok(reason)) => a.reasons.push(reason),
            Some(Err(why)) => refused.push(why),
        }
    }
    if refused.is_empty() {
        Ok(())
    } else {
        Err(PipelineError::Placement(format!(
            "cannot place every guest:\n  {}",
            refused.join("\n  ")
        )))
    }
}

/// Select `targets` and what they need, compute keys, and plan against the recorded
/// state and the dry-run backend's inventory.
pub fn assess(
    loaded: &Loaded,
    targets: &[String],
    state: &StateDir,
) -> Result<Assessed, PipelineError> {
    assess_with(loaded, targets, state, None)
}

/// [`assess`] against a backend's inventory (`None`: the dry-run backend, whose host
/// is what the state directory recorded).
pub fn assess_with(
    loaded: &Loaded,
    targets: &[String],
    state: &StateDir,
    backend: Option<&dyn Backend>,
) -> Result<Assessed, PipelineError> {
    assess_keeping(loaded, targets, state, backend, Manifests::All)
}

/// Which step manifests an assessment keeps (the keys are the same either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manifests {
    /// Every one: what a build records, and what explanations show.
    All,
    /// Only those a plan compares with a recorded manifest: of steps recorded with
    /// another key, and of guests on the host that have no record (a record is
    /// rebuilt for them from their stamps). What `plan` and `graph` need, for a
    /// fraction of the memory.
    Plan,
}

/// Where an assessment finds the recorded state.
pub enum Records<'a> {
    /// In this state directory, read beside the selection.
    In(&'a StateDir),
    /// Read already: beside the definitions' load ([`read_records`]).
    Read(Result<Recorded, StateError>),
}

/// The records of `state`, as an assessment reads them: what a command that will
/// assess reads beside loading the definitions.
///
/// Why beside. Nothing in the records depends on the definitions, and loading them
/// left a core idle for a third of its time (the container file was cut into
/// guests on one core before any was read; the cross-guest checks and the graph
/// were one core's work each). Read after the load, a no-op plan of 10,000 guests
/// waited for the journal's 12 MB on both cores; read beside it, the read fills
/// what gaps are left and takes its share of the cores the rest of the time.
pub fn read_records(state: &StateDir) -> Result<Recorded, StateError> {
    timed("state read", || state.read_all())
}

/// [`assess_with`], keeping the manifests `manifests` says.
pub fn assess_keeping(
    loaded: &Loaded,
    targets: &[String],
    state: &StateDir,
    backend: Option<&dyn Backend>,
    manifests: Manifests,
) -> Result<Assessed, PipelineError> {
    assess_records(loaded, targets, Records::In(state), backend, manifests)
}

/// [`assess_keeping`], with the records from where `records` says.
pub fn assess_records(
    loaded: &Loaded,
    targets: &[String],
    records: Records<'_>,
    backend: Option<&dyn Backend>,
    manifests: Manifests,
) -> Result<Assessed, PipelineError> {
    let targets = target::resolve(&loaded.defs, &loaded.graph, targets)?;
    // Independent of each other: the selection (one core), and on the other the
    // recorded state, with what a plan without a host takes for the host's guests
    // (from those records) and what the planner needs to know of the guests; the
    // scripts' hashes beside.
    let no_host = backend.is_none();
    let ((selected, order), ((recorded, from_records, facts), scripts)) = rayon::join(
        || {
            timed("selected", || {
                let selected = loaded.graph.select(&targets);
                let order = loaded.graph.order(&selected);
                (selected, order)
            })
        },
        || {
            rayon::join(
                || {
                    let recorded = match records {
                        Records::In(state) => read_records(state),
                        Records::Read(read) => read,
                    };
                    let from_records = match &recorded {
                        Ok(r) if no_host => Some(timed("inventory", || {
                            inventory::from_records(records_by_node(&loaded.defs, &r.records))
                        })),
                        _ => None,
                    };
                    (recorded, from_records, guest_facts(&loaded.defs))
                },
                || timed("scripts hashed", || ScriptHashes::prefetch(&loaded.defs)),
            )
        },
    );
    let mut recorded = recorded?;
    let inventory = match backend {
        Some(b) => timed("inventory", || b.inventory())?,
        None => from_records.unwrap_or_default(),
    };
    let keys = timed("keys", || match manifests {
        Manifests::All => key::assess(&loaded.defs, &order, &scripts),
        Manifests::Plan => {
            let records = &recorded.records;
            // An empty state has no record to name.
            let record = |node: NodeId| {
                (!records.is_empty())
                    .then(|| node.with_name(|label| records.get(label)))
                    .flatten()
            };
            let compared = |node: NodeId, at: key::StepAt, k: &key::Key| match record(node) {
                // Nothing to compare with, unless a record is rebuilt from the guest.
                None => inventory.contains_key(&node),
                Some(rec) => {
                    let done = match at {
                        key::StepAt::Chain(i) => rec.steps.get(i),
                        key::StepAt::Configure => rec.configure.as_ref(),
                    };
                    done.is_none_or(|d| !d.key.is(k))
                }
            };
            key::assess_keeping(&loaded.defs, &order, &scripts, &compared)
        }
    });
    let mut plan = timed("planned", || {
        plan::make(&order, &keys, &recorded.records, &inventory, &facts)
    });
    let moves: Vec<_> = plan::drift::moves(&loaded.defs, &inventory)
        .into_iter()
        .filter(|d| selected.contains(&d.node))
        .collect();
    plan::drift::apply(&mut plan, &moves);
    if let Some(b) = backend {
        place_new(&loaded.defs, &mut plan, b)?;
    }
    for r in &plan.recovered {
        recorded
            .records
            .insert(r.node.to_string(), r.record.clone());
    }
    Ok(Assessed {
        order,
        keys,
        recorded,
        plan,
        inventory,
        facts,
    })
}

/// Keep the records a build's plan rebuilt from guests' stamps (those holding only
/// what the stamps prove), so the next build finds them; and leave the damage
/// behind, so it is warned about once: an unreadable record file is moved aside
/// (`<name>.unreadable`), a journal with damaged lines is folded into the node
/// files. Run with the build lock held.
pub fn keep_recovered(state: &StateDir, assessed: &Assessed) -> Result<(), StateError> {
    state.set_aside(&assessed.recorded)?;
    if assessed.recorded.damaged_journal {
        state.compact()?;
    }
    let proven: Vec<&NodeRecord> = assessed
        .plan
        .recovered
        .iter()
        .filter(|r| r.proven)
        .map(|r| &r.record)
        .collect();
    if proven.is_empty() {
        return Ok(());
    }
    state.append_all(proven)
}

/// Whether `node` is a template (replacing it needs no `--allow-replace`).
pub fn is_template(defs: &Definitions, node: NodeId) -> bool {
    node.guest_id()
        .and_then(|id| defs.guest(id))
        .is_some_and(|g| g.template.is_template())
}

/// The records of the nodes the definitions name, by node.
fn records_by_node<'a>(
    defs: &Definitions,
    records: &'a crate::state::RecordMap,
) -> crate::graph::NodeMap<&'a NodeRecord> {
    records
        .iter()
        .filter_map(|(label, r)| target::parse(defs, label).map(|id| (id, r)))
        .collect()
}

/// What the planner needs to know of the guests: which are templates (replaced
/// without `--allow-replace`, since their clones hold the data) and which Proxmox
/// cannot snapshot (a changed feature is then a rebuild, not a rollback).
fn guest_facts(defs: &Definitions) -> GuestFacts {
    let mut facts = GuestFacts::default();
    facts.clone_sources.reserve(defs.guests.len());
    let snapshots = defs::SnapshotRules::of(defs);
    for g in defs.guests.values() {
        let node = NodeId::guest(g.kind, g.id);
        if g.template.is_template() {
            facts.templates.insert(node);
        }
        if g.template == defs::TemplateModel::Converted {
            facts.converted.insert(node);
        }
        if let Some(why) = snapshots.blocker(g) {
            facts.no_snapshots.insert(node, why);
        }
        if let Some(src) = defs.clone_source(g) {
            facts
                .clone_sources
                .insert(node, NodeId::guest(src.kind, src.id));
        }
    }
    facts
}
