//! `phoenix start`, `stop`, `restart`, `up` and `setup` on the sim backend, over
//! the 2025-11 fixture set (read from `../shared`) and small trees of the tests'
//! own: the order is what the graph says (checked against its `depends` edges and
//! the definitions' boot order), as the simulated host's `ops.log` records it.

mod pve;
mod small;
mod up;

use std::collections::BTreeSet;
use std::ops::Deref;
use std::path::PathBuf;

use phoenix::defs::{Definitions, Severity};
use phoenix::graph::{EdgeKind, Graph, NodeId};

use crate::helpers::{Output, Site};

/// A site on the sim backend, its simulated host in `sim/`.
pub(crate) struct Sim {
    site: Site,
    pub(crate) sim: PathBuf,
}

impl Deref for Sim {
    type Target = Site;
    fn deref(&self) -> &Site {
        &self.site
    }
}

/// One line of `ops.log`.
#[derive(Debug, Clone)]
pub(crate) struct Op {
    pub(crate) start: u128,
    pub(crate) end: u128,
    pub(crate) node: String,
    pub(crate) op: String,
}

impl Sim {
    pub(crate) fn on(site: Site) -> Sim {
        let sim = site.path().join("sim");
        let site = site
            .backend(["--backend", "sim", "--sim-dir"])
            .backend([&sim])
            .env("PHOENIX_RETRY_BACKOFF_MS", "10");
        Sim { site, sim }
    }

    /// The 2025-11 fixture, built; `None` without `../shared`.
    pub(crate) fn fixture_built() -> Option<Sim> {
        let s = Sim::on(Site::fixture("phoenix-2025-11")?);
        s.build(&["all"]).success();
        Some(s)
    }

    /// `phoenix <args> --output json`, whatever its exit code.
    pub(crate) fn op(&self, args: &[&str]) -> Output {
        self.phoenix().args(args).args(["--output", "json"]).run()
    }

    /// `ops.log` from here on only.
    pub(crate) fn forget_ops(&self) {
        std::fs::write(self.sim.join("ops.log"), "").unwrap();
    }

    pub(crate) fn ops(&self) -> Vec<Op> {
        std::fs::read_to_string(self.sim.join("ops.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let p: Vec<&str> = l.splitn(5, ' ').collect();
                Op {
                    start: p[0].parse().unwrap(),
                    end: p[1].parse().unwrap(),
                    node: p[2].into(),
                    op: p[3].into(),
                }
            })
            .collect()
    }

    /// The guests an operation `op` ran on, in the order the operations began.
    pub(crate) fn ops_of(&self, op: &str) -> Vec<String> {
        self.ops()
            .into_iter()
            .filter(|o| o.op == op)
            .map(|o| o.node)
            .collect()
    }

    pub(crate) fn loaded(&self) -> (Definitions, Graph) {
        let l = phoenix::pipeline::load(&self.defs, Severity::Warning);
        (l.defs, l.graph)
    }
}

/// What depends on `node` through `depends` edges, transitively, read off the
/// graph's edges.
fn dependents(g: &Graph, node: NodeId) -> BTreeSet<NodeId> {
    let mut out = BTreeSet::new();
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        for (d, kind) in g.needed_by(n) {
            if kind == EdgeKind::Depends && out.insert(d) {
                stack.push(d);
            }
        }
    }
    out
}

/// What `node` depends on, transitively (`depends` edges only).
fn prerequisites(g: &Graph, node: NodeId) -> BTreeSet<NodeId> {
    let mut out = BTreeSet::new();
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        for (d, kind) in g.needs(n) {
            if kind == EdgeKind::Depends && out.insert(d) {
                stack.push(d);
            }
        }
    }
    out
}

fn is_template(defs: &Definitions, n: NodeId) -> bool {
    defs.guest(n.guest_id().unwrap())
        .unwrap()
        .template
        .is_template()
}

fn labels(nodes: impl IntoIterator<Item = NodeId>) -> BTreeSet<String> {
    nodes.into_iter().map(|n| n.to_string()).collect()
}

/// `op`'s `b` began after `a`'s ended.
fn after(ops: &[Op], op: &str, a: &str, b: &str) -> bool {
    let find = |n: &str| {
        ops.iter()
            .find(|o| o.op == op && o.node == n)
            .unwrap_or_else(|| panic!("no {op} of {n} in {ops:#?}"))
    };
    find(b).start >= find(a).end
}

fn outcome(out: &Output, node: &str) -> String {
    out.summary()["nodes"][node]
        .as_str()
        .unwrap_or_else(|| panic!("{node} not in the summary: {}", out.stdout))
        .to_string()
}

#[test]
fn stop_103_stops_exactly_what_depends_on_it_then_103() {
    let Some(s) = Sim::fixture_built() else {
        return;
    };
    let (defs, g) = s.loaded();
    s.forget_ops();
    let out = s.op(&["stop", "103"]).success();
    let ops = s.ops();
    let stopped = s.ops_of("shutdown");
    // Every running guest that depends on 103, through any chain, and 103: the
    // templates among them (901 depends on 1002) were stopped already.
    let deps = dependents(&g, NodeId::Ct(103));
    let running: Vec<NodeId> = deps
        .iter()
        .copied()
        .filter(|n| !is_template(&defs, *n))
        .collect();
    let mut want = labels(running.iter().copied());
    want.insert("ct:103".into());
    assert_eq!(stopped.iter().cloned().collect::<BTreeSet<_>>(), want);
    assert_eq!(stopped.len(), want.len(), "each once: {stopped:?}");
    assert_eq!(
        want,
        labels(
            [101, 102, 103, 801, 802, 914, 917]
                .map(NodeId::Ct)
                .into_iter()
                .chain([NodeId::Vm(1001), NodeId::Vm(1002)])
        ),
        "the fixture as the reference describes it"
    );
    // 103 last; each guest after everything that depends on it.
    assert_eq!(stopped.last().map(String::as_str), Some("ct:103"));
    for n in &running {
        for d in dependents(&g, *n)
            .iter()
            .filter(|d| !is_template(&defs, **d))
        {
            assert!(
                after(&ops, "shutdown", &d.to_string(), &n.to_string()),
                "{d} stops before {n}"
            );
        }
    }
    // Within a level, the reverse of the boot order: 102 (boot 3) before 101 (boot 2).
    assert!(after(&ops, "shutdown", "ct:102", "ct:101"));
    assert_eq!(outcome(&out, "ct:901"), "unchanged");
    assert_eq!(out.summary()["operation"], "stop");
    // Never what 103 or the others depend on: stopping 1001 leaves 102 and 103.
    s.op(&["start", "all", "--no-boot-delay"]).success();
    s.forget_ops();
    s.op(&["stop", "1001"]).success();
    let stopped: BTreeSet<String> = s.ops_of("shutdown").into_iter().collect();
    assert!(
        !stopped.contains("ct:102") && !stopped.contains("ct:103"),
        "{stopped:?}"
    );
    assert!(
        stopped.contains("vm:1002") && stopped.contains("ct:801"),
        "{stopped:?}"
    );
}

#[test]
fn start_801_starts_what_1002_needs_first_and_no_template() {
    let Some(s) = Sim::fixture_built() else {
        return;
    };
    let (defs, g) = s.loaded();
    s.op(&["stop", "all"]).success();
    s.forget_ops();
    s.op(&["start", "801", "--no-boot-delay"]).success();
    let started = s.ops_of("start");
    // 801 depends on 1002, 1002 on 1001, 1001 on 102, 102 on 103; 801 is cloned
    // from 911, which does not start.
    let mut want = labels(prerequisites(&g, NodeId::Ct(801)));
    want.insert("ct:801".into());
    assert_eq!(started.iter().cloned().collect::<BTreeSet<_>>(), want);
    assert_eq!(
        started,
        ["ct:103", "ct:102", "vm:1001", "vm:1002", "ct:801"]
    );
    let ops = s.ops();
    for n in prerequisites(&g, NodeId::Ct(801))
        .into_iter()
        .chain([NodeId::Ct(801)])
    {
        for p in prerequisites(&g, n) {
            assert!(
                after(&ops, "start", &p.to_string(), &n.to_string()),
                "{p} before {n}"
            );
        }
    }
    assert!(
        !started.contains(&"ct:101".to_string()),
        "101 is not needed"
    );
    // --no-deps: the target alone.
    s.op(&["stop", "all"]).success();
    s.forget_ops();
    s.op(&["start", "801", "--no-deps"]).success();
    assert_eq!(s.ops_of("start"), ["ct:801"]);
    // No template starts, named or not.
    s.forget_ops();
    let out = s.op(&["start", "all", "--no-boot-delay"]).success();
    let out2 = s.op(&["start", "900", "9000", "911"]).success();
    for n in defs.guests.values().filter(|g| g.template.is_template()) {
        let label = n.label();
        assert!(!s.ops_of("start").contains(&label), "{label} started");
        assert_eq!(outcome(&out, &label), "unchanged");
        let fin = out.finished(&label);
        assert_eq!(fin["detail"], "a template: never started", "{label}");
    }
    assert_eq!(outcome(&out2, "vm:9000"), "unchanged");
    assert_eq!(outcome(&out2, "ct:911"), "unchanged");
}

#[test]
fn boot_order_decides_within_a_level() {
    let Some(s) = Sim::fixture_built() else {
        return;
    };
    let (defs, g) = s.loaded();
    s.op(&["stop", "all"]).success();
    s.forget_ops();
    s.op(&["start", "all", "--no-boot-delay", "-j", "4"])
        .success();
    let ops = s.ops();
    let started = s.ops_of("start");
    // Guests at the same depth of the `depends` graph (what they depend on all
    // started) go by boot order: a lower place ends before a higher one begins.
    let depth = |n: NodeId| prerequisites(&g, n).len();
    let place = |n: NodeId| {
        let s = &defs.guest(n.guest_id().unwrap()).unwrap().settings;
        (!s.start_at_boot, s.boot_order.unwrap_or(u64::MAX))
    };
    let nodes: Vec<NodeId> = defs
        .guests
        .values()
        .filter(|x| !x.template.is_template())
        .map(|x| phoenix::graph::NodeId::guest(x.kind, x.id))
        .collect();
    let mut pairs = 0;
    for a in &nodes {
        for b in &nodes {
            if depth(*a) == depth(*b) && place(*a) < place(*b) {
                pairs += 1;
                assert!(
                    after(&ops, "start", &a.to_string(), &b.to_string()),
                    "{a} before {b}"
                );
            }
        }
    }
    // 101 (boot 2) and 102 (boot 3) both need only 103.
    assert!(
        pairs >= 1,
        "the fixture has guests of one level at different places"
    );
    assert!(after(&ops, "start", "ct:101", "ct:102"));
    // 801, 802, 914 and 917 share boot order 6: they start together.
    let last4: BTreeSet<&str> = started[started.len() - 4..]
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(
        last4,
        BTreeSet::from(["ct:801", "ct:802", "ct:914", "ct:917"])
    );
}
