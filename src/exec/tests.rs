//! The executor's rules: the resource pools on their own, and the coordinator's
//! dispatching and failure handling on the sim backend in a temporary directory.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

use super::pool::{Pools, Semaphore};
use super::{Event, Options, Outcome, Reporter, Run, Summary, health, run};
use crate::backend::sim::{Sim, SimOptions};
use crate::backend::{GuestCtx, Log};
use crate::defs::{HealthCheck, Severity, layout};
use crate::graph::NodeId;
use crate::pipeline;
use crate::state::StateDir;

/// Whether a thread can take a permit of `sem` within `ms`. The thread stays
/// blocked when it cannot, which is harmless: pools are leaked on purpose.
fn acquires_within(sem: &'static Semaphore, ms: u64) -> bool {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _permit = sem.acquire();
        let _ = tx.send(());
    });
    rx.recv_timeout(Duration::from_millis(ms)).is_ok()
}

#[test]
fn clones_from_one_source_run_one_at_a_time() {
    let pools = Pools::new(2);
    let held = pools.source(900).acquire();
    assert!(
        !acquires_within(pools.source(900), 50),
        "a second clone of ct:900 started while the first held the source"
    );
    // Another source is not held up by this one.
    assert!(acquires_within(pools.source(901), 1000));
    drop(held);
    assert!(acquires_within(pools.source(900), 1000));
}

#[test]
fn a_storage_takes_per_storage_operations_at_once() {
    let pools = Pools::new(2);
    let a = pools.storage("local-lvm").acquire();
    let b = pools.storage("local-lvm").acquire();
    assert!(!acquires_within(pools.storage("local-lvm"), 50));
    assert!(acquires_within(pools.storage("tank"), 1000));
    drop(a);
    assert!(acquires_within(pools.storage("local-lvm"), 1000));
    drop(b);
    // The same name is the same pool.
    assert!(std::ptr::eq(pools.storage("tank"), pools.storage("tank")));
}

#[test]
fn a_zero_limit_still_lets_one_through() {
    // `--per-storage 0` must not deadlock the build.
    let pools = Pools::new(0);
    let held = pools.storage("local-lvm").acquire();
    assert!(!acquires_within(pools.storage("local-lvm"), 50));
    drop(held);
}

/// A reporter that keeps every event.
#[derive(Default)]
struct Recorder {
    events: Vec<Event>,
    finished: bool,
}

impl Reporter for Recorder {
    fn event(&mut self, e: &Event) {
        self.events.push(e.clone());
    }
    fn finish(&mut self, _: &Summary) {
        self.finished = true;
    }
}

/// Definitions, state and a simulated host in one temporary directory.
struct Site {
    dir: tempfile::TempDir,
}

fn ct(name: &str, extra: &Value) -> Value {
    let mut v = json!({ "name": name, "memory_mb": 512, "cores": 1, "storage_pool": "local-lvm" });
    for (k, x) in extra.as_object().expect("extra fields are an object") {
        v[k] = x.clone();
    }
    if v.get("clone_from_ctid").is_none() {
        v["template"] = json!("local:vztmpl/os.tar.zst");
    }
    v
}

impl Site {
    /// 900, a template, is cloned by 901, 902 and 903; 910 depends on 901; 920
    /// stands alone and 930 depends on it.
    fn new() -> Site {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let defs = dir.path().join("defs");
        std::fs::create_dir_all(&defs).expect("the definitions directory");
        let write = |name: &str, v: &Value| {
            std::fs::write(defs.join(name), v.to_string()).expect("definitions are written");
        };
        write(layout::HYPERVISOR_FILE, &json!({ "version": "1" }));
        write(
            layout::LXC_FILE,
            &json!({ "lxc_configs": {
                "900": ct("base", &json!({ "template_snapshot_name": "base" })),
                "901": ct("a", &json!({ "clone_from_ctid": 900 })),
                "902": ct("b", &json!({ "clone_from_ctid": 900 })),
                "903": ct("c", &json!({ "clone_from_ctid": 900 })),
                "910": ct("a2", &json!({ "dependencies": [901] })),
                "920": ct("solo", &json!({})),
                "930": ct("after-solo", &json!({ "dependencies": [920] })),
            }}),
        );
        write(layout::VM_FILE, &json!({ "vms": [] }));
        Site { dir }
    }

    fn sim_dir(&self) -> PathBuf {
        self.dir.path().join("sim")
    }

    fn faults(&self, faults: &Value) {
        std::fs::create_dir_all(self.sim_dir()).expect("the sim directory");
        std::fs::write(self.sim_dir().join("faults.json"), faults.to_string())
            .expect("faults are written");
    }

    fn build(&self, opts: &Options, latency_ms: u64) -> (Summary, Recorder) {
        self.build_on(opts, latency_ms, |_| {})
    }

    /// [`Site::build`], with `prepare` called on the state directory once the plan
    /// is made and before the build's journal is opened.
    fn build_on(
        &self,
        opts: &Options,
        latency_ms: u64,
        prepare: impl FnOnce(&Path),
    ) -> (Summary, Recorder) {
        let loaded = pipeline::load(&self.dir.path().join("defs"), Severity::Warning);
        assert!(!loaded.diags.has_errors(), "{:#?}", loaded.diags);
        let state = StateDir::new(&self.dir.path().join("state"));
        let sim = Sim::new(
            &self.sim_dir(),
            SimOptions {
                latency: Duration::from_millis(latency_ms),
                exec: false,
            },
        )
        .expect("the sim backend");
        let assessed =
            pipeline::assess_with(&loaded, &[], &state, Some(&sim)).expect("the plan is made");
        std::fs::create_dir_all(state.root()).expect("the state directory");
        prepare(state.root());
        let journal = state.journal().expect("the journal opens");
        let r = Run {
            defs: &loaded.defs,
            graph: &loaded.graph,
            plan: &assessed.plan,
            keys: &assessed.keys,
            records: &assessed.recorded.records,
            inventory: &assessed.inventory,
            state: &state,
            journal: &journal,
            backend: &sim,
        };
        let mut rec = Recorder::default();
        let summary = run(&r, opts, &mut rec);
        assert!(rec.finished, "the reporter gets the summary");
        (summary, rec)
    }
}

fn outcome(s: &Summary, node: NodeId) -> (Outcome, Option<&str>) {
    let r = s
        .results
        .iter()
        .find(|r| r.node == node)
        .unwrap_or_else(|| panic!("{node} has no result"));
    (r.outcome, r.detail.as_deref())
}

fn opts(jobs: usize) -> Options {
    Options {
        jobs,
        backoff: Duration::from_millis(1),
        ..Options::default()
    }
}

/// `(start, end)` in ms of every `op` in the sim's log whose detail starts with `detail`.
fn ops(sim: &Path, op: &str, detail: &str) -> Vec<(u128, u128)> {
    let log = std::fs::read_to_string(sim.join("ops.log")).unwrap_or_default();
    log.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.splitn(5, ' ').collect();
            (f.len() == 5 && f[3] == op && f[4].starts_with(detail))
                .then(|| (f[0].parse().ok(), f[1].parse().ok()))
                .and_then(|(a, b)| Some((a?, b?)))
        })
        .collect()
}

#[test]
fn a_failed_node_skips_what_needs_it_and_the_rest_goes_on() {
    let site = Site::new();
    site.faults(&json!([{ "node": "ct:901", "op": "create" }]));
    let (s, _) = site.build(&opts(2), 0);
    assert!(s.failed());
    assert_eq!(outcome(&s, NodeId::Ct(901)).0, Outcome::Failed);
    assert_eq!(
        outcome(&s, NodeId::Ct(910)),
        (Outcome::Skipped, Some("needs ct:901, which did not build"))
    );
    for built in [900, 902, 903, 920, 930] {
        assert_eq!(
            outcome(&s, NodeId::Ct(built)).0,
            Outcome::Built,
            "ct:{built}"
        );
    }
    // The summary lists the nodes in plan order, each once.
    assert_eq!(s.results.len(), 7);

    // The fault fired once; the next build does only what is left.
    let (s, rec) = site.build(&opts(2), 0);
    assert!(!s.failed(), "{s:#?}");
    for fresh in [900, 902, 903, 920, 930] {
        assert_eq!(outcome(&s, NodeId::Ct(fresh)).0, Outcome::Fresh);
    }
    let started: Vec<NodeId> = rec
        .events
        .iter()
        .filter_map(|e| match e {
            Event::NodeStarted { node, .. } => Some(*node),
            _ => None,
        })
        .collect();
    assert_eq!(started, vec![NodeId::Ct(901), NodeId::Ct(910)]);
}

#[test]
fn fail_fast_stops_dispatching_but_finishes_what_runs() {
    let site = Site::new();
    site.faults(&json!([{ "node": "ct:900", "op": "create" }]));
    // One worker takes ct:900 and then ct:920 (both ready at the start, in plan
    // order), so ct:900 has failed before ct:920 finishes and releases ct:930.
    let (s, _) = site.build(
        &Options {
            fail_fast: true,
            ..opts(1)
        },
        0,
    );
    assert_eq!(outcome(&s, NodeId::Ct(900)).0, Outcome::Failed);
    assert_eq!(outcome(&s, NodeId::Ct(920)).0, Outcome::Built);
    assert_eq!(
        outcome(&s, NodeId::Ct(930)),
        (
            Outcome::Skipped,
            Some("not started: --fail-fast after a failure")
        )
    );
    assert_eq!(
        outcome(&s, NodeId::Ct(901)),
        (Outcome::Skipped, Some("needs ct:900, which did not build"))
    );
    assert_eq!(
        outcome(&s, NodeId::Ct(910)),
        (Outcome::Skipped, Some("needs ct:901, which was skipped"))
    );
}

#[test]
fn lock_errors_are_retried() {
    let site = Site::new();
    site.faults(&json!([{ "node": "ct:920", "op": "create", "lock": true, "times": 2 }]));
    let (s, rec) = site.build(&opts(2), 0);
    assert!(!s.failed(), "{s:#?}");
    let retries: Vec<u32> = rec
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Retry { node, attempt, .. } if *node == NodeId::Ct(920) => Some(*attempt),
            _ => None,
        })
        .collect();
    assert_eq!(retries, vec![1, 2]);

    // Without retries the same fault fails the guest.
    let site = Site::new();
    site.faults(&json!([{ "node": "ct:920", "op": "create", "lock": true }]));
    let (s, _) = site.build(
        &Options {
            retries: 0,
            ..opts(2)
        },
        0,
    );
    assert_eq!(outcome(&s, NodeId::Ct(920)).0, Outcome::Failed);
}

#[test]
fn clones_of_one_source_never_overlap_on_the_host() {
    let site = Site::new();
    let (s, _) = site.build(&opts(4), 20);
    assert!(!s.failed(), "{s:#?}");
    let mut clones = ops(&site.sim_dir(), "create", "clone ct:900@");
    assert_eq!(clones.len(), 3, "901, 902 and 903 are cloned from ct:900");
    clones.sort_unstable();
    for pair in clones.windows(2) {
        assert!(
            pair[1].0 >= pair[0].1,
            "two clones of ct:900 overlapped: {clones:?}"
        );
    }
}

/// A guest's stamp on the simulated host, once the build's backend is gone.
fn stamp_on_host(sim: &Path, node: &str) -> Option<String> {
    let guests: Value =
        serde_json::from_slice(&std::fs::read(sim.join("guests.json")).ok()?).ok()?;
    guests
        .as_array()?
        .iter()
        .find(|g| g["node"] == node)
        .and_then(|g| g["stamp"].as_str())
        .map(str::to_string)
}

/// A full disk under the state directory (GitHub issue 15): the journal is
/// `/dev/full`, where every write fails with ENOSPC as on a full filesystem. The
/// guest whose progress cannot be recorded fails like a failed step, what needs it
/// is skipped, and its stamp keeps saying what the state last recorded.
#[test]
fn a_record_that_cannot_be_written_fails_the_node_and_nothing_is_stamped_built() {
    let site = Site::new();
    let (s, _) = site.build(&opts(2), 0);
    assert!(!s.failed(), "{s:#?}");
    let before = stamp_on_host(&site.sim_dir(), "ct:920").expect("ct:920 is built");

    // 920 gets an application step, so it resumes and records again.
    let lxc = site.dir.path().join("defs").join(layout::LXC_FILE);
    let mut defs: Value =
        serde_json::from_slice(&std::fs::read(&lxc).expect("read")).expect("JSON");
    defs["lxc_configs"]["920"]["application_script"] = json!("app.sh");
    std::fs::write(&lxc, defs.to_string()).expect("write");
    let (s, _) = site.build_on(&opts(2), 0, |state| {
        std::fs::remove_file(state.join("journal")).expect("the first build's journal");
        std::os::unix::fs::symlink("/dev/full", state.join("journal")).expect("symlink");
    });
    assert!(s.failed());
    let (failed, detail) = outcome(&s, NodeId::Ct(920));
    assert_eq!(failed, Outcome::Failed);
    let detail = detail.unwrap_or_default();
    assert!(
        detail.contains("cannot record the progress of ct:920")
            && detail.contains("No space left on device"),
        "{detail}"
    );
    assert_eq!(
        outcome(&s, NodeId::Ct(930)),
        (Outcome::Skipped, Some("needs ct:920, which did not build"))
    );
    assert_eq!(
        stamp_on_host(&site.sim_dir(), "ct:920").as_deref(),
        Some(before.as_str()),
        "ct:920 was stamped with a key the state never recorded"
    );
}

/// A health check that did not start is run again until Ctrl-C. Once it is
/// pressed no new try is made, nor announced, and the run says it was cut short;
/// with no try left, the failure is the check's own, pressed or not.
#[test]
fn a_check_that_did_not_start_is_cut_short_only_where_a_try_was_left() {
    let site = Site::new();
    site.faults(
        &json!([{ "node": "ct:920", "op": "exec", "match": "up.sh", "lock": true, "times": 20 }]),
    );
    let loaded = pipeline::load(&site.dir.path().join("defs"), Severity::Warning);
    let sim = Sim::new(
        &site.sim_dir(),
        SimOptions {
            latency: Duration::ZERO,
            exec: false,
        },
    )
    .expect("the sim backend");
    let ctx = GuestCtx {
        node: NodeId::Ct(920),
        guest: loaded.defs.guest(920).expect("920 is defined"),
        defs: &loaded.defs,
        source: None,
        timeout: Duration::from_secs(10),
    };
    let check = HealthCheck {
        name: "up".into(),
        script: "up.sh".into(),
        args: Vec::new(),
    };
    let interrupt = super::Interrupt::default();
    let announced = std::cell::Cell::new(0);
    let run = |retries| {
        let again = health::Again {
            retry: super::retry::Retry {
                retries,
                backoff: Duration::from_millis(1),
                interrupt: Some(&interrupt),
            },
            on_retry: &|_, _| announced.set(announced.get() + 1),
        };
        let mut log = Log::open(&site.dir.path().join("check.log"));
        health::run(&loaded.defs, &sim, &ctx, &check, &again, &mut log)
    };

    let ran = run(2);
    assert!(ran.result.is_err() && !ran.interrupted, "{:?}", ran.result);
    assert_eq!(announced.get(), 2, "every try is made");

    interrupt.press();
    announced.set(0);
    let ran = run(2);
    assert!(
        ran.result.as_ref().is_err_and(|e| e.retryable) && ran.interrupted,
        "{:?}",
        ran.result
    );
    assert_eq!(announced.get(), 0, "a new try after Ctrl-C");
    let ran = run(0);
    assert!(
        ran.result.is_err() && !ran.interrupted,
        "no try was left to skip: the check failed"
    );
}
