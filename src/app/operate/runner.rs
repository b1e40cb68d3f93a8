//! Running one `start` or `stop` over a selection of guests: the schedule's groups
//! one after another, the guests of a group on up to `-j` threads at once, each
//! through the backend (`start`, which waits until the guest runs commands;
//! `shutdown`, with its timeout), reported as a build reports its nodes (the same
//! events, one `node_finished` per guest). A guest that fails takes what waits
//! for it along (skipped); everything else goes on. At start, the `boot_delay` of
//! the guests a group started passes before the next group with something to
//! start. Ctrl-C stops it from starting anything new, as it stops a build.

use std::collections::HashSet;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::decide::{Decision, decide, sync_flagged};
use super::hook::Hook;
use crate::backend::{Backend, Inventory};
use crate::defs::Definitions;
use crate::exec::{self, Event, Interrupt, NodeResult, Outcome, Reporter};
use crate::graph::runtime::{BootPlace, Schedule, Way};
use crate::graph::{Graph, NodeId};
use crate::state::StateDir;

/// How a run goes.
pub(super) struct Opts {
    pub(super) jobs: usize,
    /// What a guest gets to shut down, and whether it is killed then.
    pub(super) shutdown: Duration,
    pub(super) force: bool,
    /// Wait each started group's `boot_delay` (not with `--no-boot-delay`).
    pub(super) boot_delay: bool,
    /// `up`: the sync hook, run for flagged guests once they run.
    pub(super) hook: Option<Hook>,
    pub(super) retries: u32,
    pub(super) backoff: Duration,
    pub(super) interrupt: Interrupt,
}

/// What a run reads.
pub(super) struct Cx<'a> {
    pub(super) defs: &'a Definitions,
    pub(super) graph: &'a Graph,
    pub(super) backend: &'a dyn Backend,
    pub(super) inventory: &'a Inventory,
    pub(super) state: &'a StateDir,
    pub(super) opts: &'a Opts,
}

/// A run's results, in the order they finished, and the operations it ran.
#[derive(Default)]
pub(super) struct Ran {
    pub(super) results: Vec<NodeResult>,
    pub(super) ops: usize,
}

pub(super) enum Msg {
    Event(Event),
    Done(Done),
}

pub(super) struct Done {
    pub(super) node: NodeId,
    pub(super) outcome: Outcome,
    pub(super) detail: Option<String>,
    pub(super) ops: usize,
    pub(super) took: Duration,
    /// The guest was started (its `boot_delay` counts).
    pub(super) started: bool,
    /// At start: the guest runs now (started, or found running), whatever its
    /// hook did.
    pub(super) runs: bool,
}

impl Cx<'_> {
    /// Whether `node` is acted on at `up` although it runs: for its hook.
    fn hooked(&self, node: NodeId) -> bool {
        self.opts.hook.is_some()
            && node
                .guest_id()
                .and_then(|id| self.defs.guest(id))
                .is_some_and(sync_flagged)
    }

    pub(super) fn decide(&self, way: Way, node: NodeId) -> Decision {
        decide(
            self.defs,
            self.backend,
            Some(self.inventory),
            way,
            node,
            self.hooked(node),
        )
    }

    /// A template at start: never started, so outside the order.
    pub(super) fn never_started(&self, way: Way, node: NodeId) -> bool {
        way == Way::Start && crate::pipeline::is_template(self.defs, node)
    }

    pub(super) fn schedule(&self, way: Way, nodes: &[NodeId]) -> Schedule {
        let place = |n: NodeId| {
            n.guest_id().and_then(|id| self.defs.guest(id)).map_or(
                BootPlace {
                    later: true,
                    order: u64::MAX,
                },
                BootPlace::of,
            )
        };
        self.graph.schedule(nodes, way, place)
    }
}

/// Run `way` over `nodes` (a selection), reporting to `reporter` under the name
/// `operation`. `failed_before`: guests that count as failed already (at `up`,
/// those the build did not finish): not acted on or reported again, but what
/// waits for them is skipped.
pub(super) fn run(
    cx: &Cx,
    way: Way,
    operation: &'static str,
    nodes: &[NodeId],
    failed_before: &[NodeId],
    reporter: &mut dyn Reporter,
) -> Ran {
    // Templates never start: reported first, outside the order.
    let (templates, rest): (Vec<NodeId>, Vec<NodeId>) =
        nodes.iter().partition(|n| cx.never_started(way, **n));
    let schedule = cx.schedule(way, &rest);
    let to_run = nodes
        .iter()
        .filter(|n| !failed_before.contains(n) && cx.decide(way, **n) == Decision::Act)
        .count();
    reporter.event(&Event::OperationStarted {
        operation,
        nodes: nodes.len(),
        to_run,
        jobs: cx.opts.jobs,
        backend: cx.backend.name(),
    });
    let mut r = Run {
        cx,
        way,
        schedule: &schedule,
        reporter,
        results: HashSet::new(),
        ran: Ran::default(),
    };
    for &n in failed_before.iter().filter(|n| nodes.contains(n)) {
        r.results.insert(n);
        r.block(n, "did not build");
    }
    for n in templates {
        let d = cx.decide(way, n);
        r.leave(n, d);
    }
    for (i, group) in schedule.groups.iter().enumerate() {
        let mut act = Vec::new();
        for &node in group {
            if r.results.contains(&node) {
                continue;
            }
            if cx.opts.interrupt.requested() {
                r.finish(result(
                    node,
                    Outcome::Skipped,
                    Some("not started: interrupted".into()),
                ));
                r.block(node, "was interrupted");
                continue;
            }
            match cx.decide(way, node) {
                Decision::Act => act.push(node),
                leave @ Decision::Leave { .. } => r.leave(node, leave),
            }
        }
        let delay = r.group(&act);
        let more = schedule.groups[i + 1..]
            .iter()
            .flatten()
            .any(|n| !r.results.contains(n) && cx.decide(way, *n) == Decision::Act);
        if more && !delay.is_zero() {
            wait(delay, &cx.opts.interrupt);
        }
    }
    r.ran
}

struct Run<'a, 'r> {
    cx: &'a Cx<'a>,
    way: Way,
    schedule: &'a Schedule,
    reporter: &'r mut dyn Reporter,
    results: HashSet<NodeId>,
    ran: Ran,
}

impl Run<'_, '_> {
    fn finish(&mut self, res: NodeResult) {
        self.reporter.event(&Event::NodeFinished(res.clone()));
        self.results.insert(res.node);
        self.ran.results.push(res);
    }

    /// Report a guest left as it is, and skip what waits for it if it must.
    fn leave(&mut self, node: NodeId, d: Decision) {
        if let Decision::Leave {
            outcome,
            detail,
            unsupported,
            blocks,
        } = d
        {
            let mut res = result(node, outcome, Some(detail));
            res.unsupported = unsupported;
            self.finish(res);
            if blocks {
                self.block(node, self.why_blocked());
            }
        }
    }

    fn why_blocked(&self) -> &'static str {
        match self.way {
            Way::Start => "did not start",
            Way::Stop => "still runs",
        }
    }

    /// `node` failed: everything that waits for it, transitively, is skipped.
    fn block(&mut self, node: NodeId, why: &str) {
        for n in self.schedule.behind(node) {
            if self.results.contains(&n) {
                continue;
            }
            let detail = match self.way {
                Way::Start => format!("needs {node}, which {why}"),
                Way::Stop => format!("{node} needs it and {why}"),
            };
            let mut res = result(n, Outcome::Skipped, Some(detail));
            res.unsupported = self.way == Way::Start
                && n.guest_id()
                    .and_then(|id| self.cx.defs.guest(id))
                    .is_some_and(|g| !self.cx.backend.supports(g.kind));
            self.finish(res);
        }
    }

    /// Run one group's guests, up to `-j` at once; the `boot_delay` to wait after
    /// it (the longest of the guests it started).
    fn group(&mut self, act: &[NodeId]) -> Duration {
        if act.is_empty() {
            return Duration::ZERO;
        }
        let cx = self.cx;
        let way = self.way;
        let (tx, rx) = mpsc::channel::<Msg>();
        let queue = Arc::new(Mutex::new(act.to_vec()));
        let mut delay = Duration::ZERO;
        std::thread::scope(|scope| {
            for _ in 0..cx.opts.jobs.max(1).min(act.len()) {
                let tx = tx.clone();
                let queue = Arc::clone(&queue);
                scope.spawn(move || {
                    loop {
                        let next = queue
                            .lock()
                            .ok()
                            .and_then(|mut q| (!q.is_empty()).then(|| q.remove(0)));
                        let Some(node) = next else { break };
                        let done = super::worker::work(cx, way, node, &tx);
                        let _ = tx.send(Msg::Done(done));
                    }
                });
            }
            drop(tx);
            let mut announced = 0u8;
            loop {
                let presses = cx.opts.interrupt.presses();
                if presses > announced {
                    announced = presses;
                    self.reporter.event(&Event::Interrupted {
                        running: act.len(),
                        killing: cx.opts.interrupt.killing(),
                    });
                }
                let msg = match rx.recv_timeout(Duration::from_millis(50)) {
                    Ok(m) => m,
                    Err(mpsc::RecvTimeoutError::Timeout) => continue,
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                };
                match msg {
                    Msg::Event(e) => self.reporter.event(&e),
                    Msg::Done(d) => {
                        self.ran.ops += d.ops;
                        if d.started && cx.opts.boot_delay {
                            let secs = cx
                                .defs
                                .guest(d.node.guest_id().unwrap_or_default())
                                .and_then(|g| g.settings.boot_delay)
                                .unwrap_or(0);
                            delay = delay.max(Duration::from_secs(secs));
                        }
                        let failed = d.outcome == Outcome::Failed;
                        let mut res = result(d.node, d.outcome, d.detail);
                        res.duration_ms = d.took.as_millis();
                        res.steps_run = d.ops;
                        res.log = Some(exec::log_path(cx.state, d.node));
                        // A guest whose hook failed runs all the same.
                        self.finish(res);
                        if failed && !d.runs {
                            let why = self.why_blocked();
                            self.block(d.node, why);
                        }
                    }
                }
            }
        });
        delay
    }
}

/// Wait `delay`, or until Ctrl-C.
fn wait(delay: Duration, interrupt: &Interrupt) {
    let until = Instant::now() + delay;
    while Instant::now() < until && !interrupt.requested() {
        std::thread::sleep(Duration::from_millis(50).min(until - Instant::now()));
    }
}

fn result(node: NodeId, outcome: Outcome, detail: Option<String>) -> NodeResult {
    NodeResult {
        node,
        outcome,
        detail,
        duration_ms: 0,
        steps_run: 0,
        log: None,
        unsupported: false,
    }
}
