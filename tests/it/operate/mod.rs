//! `phoenix start`, `stop`, `restart`, `up` and `setup` on the sim backend, over
//! the 2025-11 fixture set (read from `../shared`) and small trees of the tests'
//! own: the order is what the graph says (checked against its `depends` edges and
//! the definitions' boot order), as the simulated host's `ops.log` records it.

mod pve;
mod small;

use std::collections::BTreeSet;
use std::ops::Deref;
use std::path::PathBuf;

use phoenix::defs::{Definitions, Severity};
use phoenix::graph::{EdgeKind, Graph, NodeId};
use serde_json::Value;

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

#[test]
fn a_failed_stop_keeps_what_it_needs_running_and_force_kills_it() {
    let Some(s) = Sim::fixture_built() else {
        return;
    };
    let faults = serde_json::json!([{"node": "ct:101", "op": "shutdown"}]);
    std::fs::write(s.sim.join("faults.json"), faults.to_string()).unwrap();
    s.forget_ops();
    let out = s.op(&["stop", "103", "--timeout", "7"]).code(1);
    assert_eq!(outcome(&out, "ct:101"), "failed");
    let why = out.finished("ct:101")["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        why.contains("did not stop within 7s and was left running"),
        "{why}"
    );
    // 103 is what 101 needs: it keeps running; the rest stopped.
    assert_eq!(outcome(&out, "ct:103"), "skipped");
    assert_eq!(
        out.finished("ct:103")["detail"],
        "ct:101 needs it and still runs"
    );
    assert_eq!(outcome(&out, "ct:102"), "stopped");
    assert!(!s.ops_of("shutdown").contains(&"ct:103".to_string()));
    // --force: the same guest ignores its shutdown again and is killed.
    std::fs::write(s.sim.join("faults.json"), faults.to_string()).unwrap();
    s.forget_ops();
    let out = s
        .op(&["stop", "103", "--force", "--timeout", "7"])
        .success();
    assert_eq!(s.ops_of("kill"), ["ct:101"]);
    assert_eq!(outcome(&out, "ct:103"), "stopped");
}

#[test]
fn up_builds_starts_in_boot_order_and_syncs_after_each_flagged_guest() {
    let Some(s) = Sim::fixture_built() else {
        return;
    };
    let (defs, _) = s.loaded();
    let record = s.path().join("synced");
    let hook = s.defs.join("hooks/sync.sh");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\necho \"sync $PHOENIX_GUEST_ID $1\" >> {}\necho synced $PHOENIX_GUEST_ID\n",
            record.display()
        ),
    )
    .unwrap();
    s.op(&["stop", "all"]).success();
    s.forget_ops();
    // The scripts run for real (the fixture's are stand-ins that exit 0).
    let out = s
        .phoenix()
        .env("PHOENIX_SIM_EXEC", "1")
        .args(["up", "--no-boot-delay", "-j", "1", "--output", "json"])
        .run()
        .success();
    let events = out.events();
    assert_eq!(events.iter().filter(|e| e["event"] == "summary").count(), 1);
    let summary = out.summary();
    assert_eq!(summary["operation"], "up");
    assert_eq!(summary["nodes"]["ct:801"], "started");
    assert!(events.iter().any(|e| e["event"] == "build_started"));
    // After each flagged guest's start, its hook; after no other.
    let flagged: BTreeSet<String> = defs
        .guests
        .values()
        .filter(|x| x.app_fields.get("trigger_sync_on_completion") == Some(&Value::Bool(true)))
        .map(phoenix::defs::Guest::label)
        .collect();
    assert_eq!(flagged.len(), 5, "801, 802, 914, 917, 1002");
    let ops = s.ops();
    let mut synced = Vec::new();
    for (i, o) in ops.iter().enumerate() {
        if o.op == "start" {
            let next_is_hook = ops.get(i + 1).is_some_and(|n| n.node == "host");
            assert_eq!(
                next_is_hook,
                flagged.contains(&o.node),
                "{o:?} then {:?}",
                ops.get(i + 1)
            );
            if next_is_hook {
                synced.push(
                    o.node
                        .trim_start_matches(|c: char| !c.is_ascii_digit())
                        .to_string(),
                );
            }
        }
    }
    let config = std::fs::canonicalize(s.defs.join("phoenix_hypervisor_config.json")).unwrap();
    let lines: Vec<String> = synced
        .iter()
        .map(|id| format!("sync {id} {}", config.display()))
        .collect();
    assert_eq!(
        std::fs::read_to_string(&record)
            .unwrap()
            .lines()
            .collect::<Vec<_>>(),
        lines
    );
    // The hook's output is in the guest's log.
    let log = std::fs::read_to_string(s.cache.join("logs/ct-801.log")).unwrap();
    assert!(log.contains("synced 801"), "{log}");

    // A failed hook fails its guest, which runs all the same: what needs it starts.
    s.op(&["stop", "all"]).success();
    let fault = serde_json::json!([{"node": "host", "op": "host", "match": "hooks/sync.sh"}]);
    std::fs::write(s.sim.join("faults.json"), fault.to_string()).unwrap();
    let out = s.op(&["up", "--no-boot-delay", "-j", "1"]).code(1);
    assert_eq!(
        synced[0], "1002",
        "1002 starts before the guests that need it"
    );
    let failed = out
        .events()
        .into_iter()
        .rev()
        .find(|e| e["node"] == "vm:1002" && e["event"] == "node_finished")
        .unwrap();
    assert_eq!(failed["outcome"], "failed");
    assert!(
        failed["detail"]
            .as_str()
            .unwrap()
            .starts_with("it runs, but its sync hook hooks/sync.sh failed"),
        "{failed}"
    );
    assert_eq!(out.summary()["nodes"]["ct:801"], "started");
    // Without a hook, the summary says so beside each flagged guest.
    std::fs::remove_file(&hook).unwrap();
    let out = s.op(&["up", "--no-boot-delay"]).success();
    let detail = out
        .events()
        .into_iter()
        .rev()
        .find(|e| e["node"] == "ct:801" && e["event"] == "node_finished")
        .unwrap()["detail"]
        .clone();
    assert_eq!(
        detail,
        "already running; trigger_sync_on_completion is set, but the definitions have no sync hook `hooks/sync.sh`; nothing run"
    );
}
