//! The coordinator: owns the plan's progress and the reporter, dispatches ready
//! nodes to workers and turns their outcomes into what may run next. After a
//! Ctrl-C it dispatches nothing more and waits for the running nodes (see
//! `interrupt`); it notices the presses between messages, so it never blocks on
//! the workers for longer than [`WATCH`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::events::{Event, NodeResult, Outcome, Reporter, Summary};
use super::options::Options;
use super::output::log_path;
use super::pool;
use super::worker;
use crate::backend::Backend;
use crate::defs::Definitions;
use crate::graph::{Graph, NodeId};
use crate::inventory::Inventory;
use crate::key::NodeKeys;
use crate::plan::{ActionKind, Plan};
use crate::state::{NodeRecord, StateDir};

/// How often the coordinator looks for a Ctrl-C while it waits for the workers.
const WATCH: Duration = Duration::from_millis(50);

/// What workers send the coordinator.
pub(crate) enum Msg {
    Event(Event),
    Done(NodeId, Outcome, Option<String>, usize, Duration),
}

/// Everything a run reads: the pipeline's products, the state directory and the backend.
pub struct Run<'a> {
    pub defs: &'a Definitions,
    pub graph: &'a Graph,
    pub plan: &'a Plan,
    pub keys: &'a crate::graph::NodeMap<NodeKeys>,
    pub records: &'a crate::state::RecordMap,
    pub inventory: &'a Inventory,
    pub state: &'a StateDir,
    pub journal: &'a crate::state::Journal,
    pub backend: &'a dyn Backend,
}

/// Run `r.plan` on `r.backend`, reporting to `reporter`; the summary lists every
/// selected node with its outcome.
pub fn run(r: &Run, opts: &Options, reporter: &mut dyn Reporter) -> Summary {
    let started = Instant::now();
    let selected: HashSet<NodeId> = r
        .plan
        .actions
        .iter()
        .map(|a| a.node)
        .chain(r.plan.foreign.iter().copied())
        .collect();
    let to_run = r.plan.pending().count();
    reporter.event(&Event::BuildStarted {
        nodes: selected.len(),
        to_run,
        jobs: opts.jobs,
        backend: r.backend.name(),
    });

    let actions: HashMap<NodeId, &crate::plan::Action> =
        r.plan.actions.iter().map(|a| (a.node, a)).collect();
    let mut c = Coordinator {
        r,
        actions: &actions,
        results: HashMap::new(),
        waiting: HashMap::new(),
        ready: VecDeque::new(),
        reporter,
    };
    for a in &r.plan.actions {
        let needs = r
            .graph
            .needs(a.node)
            .into_iter()
            .filter(|(n, _)| selected.contains(n))
            .count();
        c.waiting.insert(a.node, needs);
        if needs == 0 {
            c.ready.push_back(a.node);
        }
    }
    for f in &r.plan.foreign {
        let detail =
            format!("{f} exists but was not created by phoenix; phoenix will not modify it");
        c.finish(result(
            *f,
            Outcome::Failed,
            Some(detail),
            0,
            Duration::ZERO,
            None,
        ));
        c.block(*f);
    }

    let (tx, rx) = mpsc::channel::<Msg>();
    let (job_tx, job_rx) = mpsc::channel::<NodeId>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    let pools = pool::Pools::new(opts.per_storage);
    let mut steps_run = 0;
    let mut stopped = false;

    std::thread::scope(|scope| {
        for _ in 0..opts.jobs.max(1) {
            let tx = tx.clone();
            let job_rx = Arc::clone(&job_rx);
            let pools = &pools;
            let actions = &actions;
            let journal = r.journal;
            scope.spawn(move || {
                let w = worker::Worker {
                    defs: r.defs,
                    backend: r.backend,
                    opts,
                    pools,
                    tx: tx.clone(),
                    journal,
                };
                loop {
                    let next = job_rx.lock().map(|rx| rx.recv());
                    let Ok(Ok(node)) = next else { break };
                    let action = actions[&node];
                    let t0 = Instant::now();
                    let _ = tx.send(Msg::Event(Event::NodeStarted {
                        node,
                        step: action.steps.first().map(ToString::to_string),
                        action: action.action.as_str(),
                    }));
                    let job = worker::Job {
                        action,
                        keys: &r.keys[&node],
                        record: r
                            .records
                            .get(&node.to_string())
                            .cloned()
                            .unwrap_or_else(|| NodeRecord::new(&node.to_string())),
                        observed: r.inventory.get(&node),
                        log_path: log_path(r.state, node),
                    };
                    let (outcome, detail, n) = w.run(job);
                    let _ = tx.send(Msg::Done(node, outcome, detail, n, t0.elapsed()));
                }
            });
        }
        drop(tx);

        let mut in_flight = 0usize;
        let mut announced = 0u8;
        loop {
            while let Some(node) = c.ready.pop_front() {
                if c.results.contains_key(&node) {
                    continue;
                }
                if actions[&node].action == ActionKind::Fresh {
                    c.finish(result(node, Outcome::Fresh, None, 0, Duration::ZERO, None));
                    c.release(node);
                } else if let NodeId::Host(name) = node
                    && crate::defs::host::spec(name).is_some_and(|s| s.builtin)
                    && !r.backend.supports_builtin_host()
                {
                    // Nothing on this backend uses what the step makes (Proxmox
                    // storages), so what needs it goes ahead.
                    let detail = format!(
                        "the {} backend does not carry out host step `{name}` (it needs Proxmox)",
                        r.backend.name()
                    );
                    c.finish(unsupported(node, detail));
                    c.release(node);
                } else if let Some(kind) = node
                    .guest_id()
                    .and_then(|id| r.defs.guest(id))
                    .map(|g| g.kind)
                    .filter(|k| !r.backend.supports(*k))
                {
                    let detail = format!(
                        "the {} backend does not build {}s",
                        r.backend.name(),
                        kind.prefix().to_uppercase()
                    );
                    c.finish(unsupported(node, detail));
                    c.block(node);
                } else if stopped || opts.interrupt.requested() {
                    let why = if opts.interrupt.requested() {
                        "not started: the build was interrupted"
                    } else {
                        "not started: --fail-fast after a failure"
                    };
                    c.finish(result(
                        node,
                        Outcome::Skipped,
                        Some(why.into()),
                        0,
                        Duration::ZERO,
                        None,
                    ));
                    c.block(node);
                } else {
                    in_flight += 1;
                    let _ = job_tx.send(node);
                }
            }
            if in_flight == 0 {
                break;
            }
            let presses = opts.interrupt.presses();
            if presses > announced {
                announced = presses;
                c.reporter.event(&Event::Interrupted {
                    running: in_flight,
                    killing: opts.interrupt.killing(),
                });
            }
            let msg = match rx.recv_timeout(WATCH) {
                Ok(msg) => msg,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            match msg {
                Msg::Event(e) => c.reporter.event(&e),
                Msg::Done(node, outcome, detail, n, took) => {
                    in_flight -= 1;
                    steps_run += n;
                    // Stopped between two steps or before a new try, or its running
                    // step killed.
                    let outcome = if outcome == Outcome::Failed
                        && (opts.interrupt.stopped(node) || opts.interrupt.killing())
                    {
                        Outcome::Interrupted
                    } else {
                        outcome
                    };
                    c.finish(result(
                        node,
                        outcome,
                        detail,
                        n,
                        took,
                        Some(log_path(r.state, node)),
                    ));
                    if matches!(
                        outcome,
                        Outcome::Failed | Outcome::Skipped | Outcome::Interrupted
                    ) {
                        stopped |= outcome == Outcome::Failed && opts.fail_fast;
                        c.block(node);
                    } else {
                        c.release(node);
                    }
                }
            }
        }
        drop(job_tx);
    });

    let mut results = c.results;
    let mut ordered: Vec<NodeResult> = Vec::with_capacity(results.len());
    for a in &r.plan.actions {
        if let Some(res) = results.remove(&a.node) {
            ordered.push(res);
        }
    }
    let mut rest: Vec<NodeResult> = results.into_values().collect();
    rest.sort_by_key(|r| r.node);
    ordered.extend(rest);
    let summary = Summary {
        results: ordered,
        steps_run,
        elapsed_ms: started.elapsed().as_millis(),
        interrupted: opts.interrupt.requested(),
        operation: None,
    };
    c.reporter.finish(&summary);
    summary
}

/// The coordinator's bookkeeping: outcomes, what each node still waits for, what is ready.
struct Coordinator<'a, 'r> {
    r: &'a Run<'a>,
    actions: &'a HashMap<NodeId, &'a crate::plan::Action>,
    results: HashMap<NodeId, NodeResult>,
    waiting: HashMap<NodeId, usize>,
    ready: VecDeque<NodeId>,
    reporter: &'r mut dyn Reporter,
}

impl Coordinator<'_, '_> {
    fn finish(&mut self, res: NodeResult) {
        self.reporter.event(&Event::NodeFinished(res.clone()));
        self.results.insert(res.node, res);
    }

    /// `node` succeeded: its dependents wait for one thing less.
    fn release(&mut self, node: NodeId) {
        for (dep, _) in self.r.graph.needed_by(node) {
            if let Some(w) = self.waiting.get_mut(&dep) {
                *w = w.saturating_sub(1);
                if *w == 0 && !self.results.contains_key(&dep) {
                    self.ready.push_back(dep);
                }
            }
        }
    }

    /// `node` failed or was skipped: everything that needs it, transitively, is skipped.
    /// A dependent the backend could not build anyway is marked unsupported, not failed.
    fn block(&mut self, node: NodeId) {
        let why = match self.results.get(&node).map(|r| r.outcome) {
            Some(Outcome::Interrupted) => "was interrupted",
            _ => "did not build",
        };
        let mut stack = vec![node];
        while let Some(n) = stack.pop() {
            for (dep, _) in self.r.graph.needed_by(n) {
                if self.actions.contains_key(&dep) && !self.results.contains_key(&dep) {
                    let detail = format!(
                        "needs {n}, which {}",
                        if n == node { why } else { "was skipped" }
                    );
                    let mut res =
                        result(dep, Outcome::Skipped, Some(detail), 0, Duration::ZERO, None);
                    res.unsupported = dep
                        .guest_id()
                        .and_then(|id| self.r.defs.guest(id))
                        .is_some_and(|g| !self.r.backend.supports(g.kind));
                    self.finish(res);
                    stack.push(dep);
                }
            }
        }
    }
}

/// Skipped because the backend cannot do it: not a failure.
fn unsupported(node: NodeId, detail: String) -> NodeResult {
    let mut res = result(
        node,
        Outcome::Skipped,
        Some(detail),
        0,
        Duration::ZERO,
        None,
    );
    res.unsupported = true;
    res
}

fn result(
    node: NodeId,
    outcome: Outcome,
    detail: Option<String>,
    steps_run: usize,
    took: Duration,
    log: Option<PathBuf>,
) -> NodeResult {
    NodeResult {
        node,
        outcome,
        detail,
        duration_ms: took.as_millis(),
        steps_run,
        log,
        unsupported: false,
    }
}
