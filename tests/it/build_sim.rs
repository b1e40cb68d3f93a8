//! `phoenix build` on the sim backend: scheduling, failure, resume, retries and
//! guards, with faults injected into a simulated host.

use std::ops::Deref;
use std::path::PathBuf;

use serde_json::{Value, json};

use crate::helpers::{Site, set_field};

/// A [`Site`] on the sim backend, whose simulated host lives in `sim/`:
/// 900 → 901 (gpu) → 910; 900 → 902 (docker) → 920, which also depends on 910.
struct SimSite {
    site: Site,
    sim: PathBuf,
}

impl Deref for SimSite {
    type Target = Site;
    fn deref(&self) -> &Site {
        &self.site
    }
}

fn tree() -> SimSite {
    let site = Site::empty();
    let defs = &site.defs;
    let ct = |name: &str, n: u8, extra: Value| {
        let mut v = json!({
            "name": name, "memory_mb": 512, "cores": 1, "storage_pool": "local-lvm", "storage_size_gb": 4,
            "network_config": {"name": "eth0", "bridge": "lxcbr0", "ip": format!("10.9.0.{n}/24"), "gw": "10.9.0.1"},
            "mac_address": format!("52:54:00:00:00:{n:02x}"), "unprivileged": true
        });
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    let lxc = json!({"lxc_configs": {
        "900": ct("base", 10, json!({"template": "local:vztmpl/x.tar.zst", "template_snapshot_name": "base", "features": ["base_setup"]})),
        "901": ct("gpu", 11, json!({"clone_from_ctid": "900", "template_snapshot_name": "gpu", "features": ["gpu"]})),
        "902": ct("docker", 12, json!({"clone_from_ctid": "900", "template_snapshot_name": "docker", "features": ["docker"]})),
        "910": ct("svc-a", 13, json!({"clone_from_ctid": "901", "application_script": "app.sh"})),
        "920": ct("svc-b", 14, json!({"clone_from_ctid": "902", "dependencies": ["910"], "application_script": "app.sh"})),
    }});
    std::fs::create_dir_all(defs.join("features/lxc")).unwrap();
    std::fs::create_dir_all(defs.join("apps")).unwrap();
    std::fs::write(
        defs.join("phoenix_lxc_configs.json"),
        serde_json::to_string_pretty(&lxc).unwrap(),
    )
    .unwrap();
    std::fs::write(
        defs.join("phoenix_hypervisor_config.json"),
        r#"{"version": "1"}"#,
    )
    .unwrap();
    for f in ["base_setup", "gpu", "docker"] {
        std::fs::write(
            defs.join(format!("features/lxc/{f}.sh")),
            format!("#!/bin/sh\necho {f}\n"),
        )
        .unwrap();
    }
    std::fs::write(defs.join("apps/app.sh"), "#!/bin/sh\necho app\n").unwrap();
    let sim = site.path().join("sim");
    let site = site
        .backend(["--backend", "sim", "--sim-dir"])
        .backend([&sim])
        .env("PHOENIX_RETRY_BACKOFF_MS", "10");
    SimSite { site, sim }
}

impl SimSite {
    fn faults(&self, faults: &Value) {
        std::fs::create_dir_all(&self.sim).unwrap();
        std::fs::write(self.sim.join("faults.json"), faults.to_string()).unwrap();
    }

    /// Guests on the simulated host.
    fn guests(&self) -> Vec<String> {
        let v: Value = serde_json::from_str(
            &std::fs::read_to_string(self.sim.join("guests.json")).unwrap_or_else(|_| "[]".into()),
        )
        .unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|g| g["node"].as_str().unwrap().to_string())
            .collect()
    }

    fn ops(&self) -> Vec<Op> {
        std::fs::read_to_string(self.sim.join("ops.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let mut p = l.splitn(5, ' ');
                let start = p.next().unwrap().parse().unwrap();
                let end = p.next().unwrap().parse().unwrap();
                Op {
                    start,
                    end,
                    node: p.next().unwrap().into(),
                    op: p.next().unwrap().into(),
                    detail: p.next().unwrap_or("").into(),
                }
            })
            .collect()
    }
}

#[derive(Debug)]
struct Op {
    start: u128,
    end: u128,
    node: String,
    op: String,
    detail: String,
}

#[test]
fn independent_branches_overlap_and_clones_of_one_source_do_not() {
    let t = tree();
    let out = t
        .phoenix()
        .env("PHOENIX_SIM_LATENCY_MS", "60")
        .args(["build", "all", "-j", "4", "--output", "json"])
        .run()
        .success();
    assert_eq!(
        out.summary()["nodes"],
        json!({"ct:900": "built", "ct:901": "built", "ct:902": "built", "ct:910": "built", "ct:920": "built"})
    );
    let ops = t.ops();
    let find = |node: &str, op: &str, detail: &str| {
        ops.iter()
            .find(|o| o.node == node && o.op == op && o.detail.contains(detail))
            .unwrap_or_else(|| panic!("no {op} {detail} on {node}: {ops:?}"))
    };
    // The two branches below 900 run at the same time (each is several operations long).
    let span = |node: &str| {
        let mine: Vec<&Op> = ops.iter().filter(|o| o.node == node).collect();
        (
            mine.iter().map(|o| o.start).min().unwrap(),
            mine.iter().map(|o| o.end).max().unwrap(),
        )
    };
    let (gpu, docker) = (span("ct:901"), span("ct:902"));
    assert!(
        gpu.0 < docker.1 && docker.0 < gpu.1,
        "901 and 902 should be built at the same time: {gpu:?} {docker:?}"
    );
    let (c1, c2) = (
        find("ct:901", "create", "clone ct:900@base"),
        find("ct:902", "create", "clone ct:900@base"),
    );
    assert!(
        c1.end <= c2.start || c2.end <= c1.start,
        "two clones of ct:900 overlapped: {c1:?} {c2:?}"
    );
    // Order: 920 waits for 910 (depends) and 902 (clone).
    let svc_b = find("ct:920", "create", "");
    assert!(svc_b.start >= find("ct:910", "stamp", "built").end);

    let again = t.build(&["all"]).success();
    assert_eq!(again.summary()["steps_run"], 0);
    assert!(
        again.summary()["nodes"]
            .as_object()
            .unwrap()
            .values()
            .all(|v| v == "fresh")
    );
}

#[test]
fn a_failing_feature_skips_what_needs_it_and_the_next_build_resumes() {
    let t = tree();
    t.faults(&json!([{"node": "ct:901", "op": "exec", "match": "gpu.sh", "times": 1}]));
    let out = t.build(&["all", "-j", "2"]).code(1);
    let s = out.summary();
    assert_eq!(
        s["nodes"],
        json!({"ct:900": "built", "ct:901": "failed", "ct:902": "built", "ct:910": "skipped", "ct:920": "skipped"})
    );
    let failed = out.finished("ct:901");
    assert!(
        failed["detail"]
            .as_str()
            .unwrap()
            .contains("injected failure"),
        "{failed}"
    );
    assert!(failed["log"].as_str().unwrap().ends_with("logs/ct-901.log"));
    assert!(
        std::fs::read_to_string(t.cache.join("logs/ct-901.log"))
            .unwrap()
            .contains("injected failure")
    );

    // The fault fired once; the next build resumes 901 at its feature, without re-creating it.
    let out = t.build(&["all"]).success();
    assert_eq!(
        out.steps_of("ct:901"),
        ["start", "snapshot:pre-gpu", "feature:gpu", "snapshot"]
    );
    assert!(
        out.steps_of("ct:900").is_empty() && out.steps_of("ct:902").is_empty(),
        "completed work is not redone"
    );
    assert_eq!(out.summary()["nodes"]["ct:920"], "built");
    assert_eq!(
        t.ops()
            .iter()
            .filter(|o| o.node == "ct:901" && o.op == "create")
            .count(),
        1
    );
}

#[test]
fn lock_errors_are_retried() {
    let t = tree();
    t.faults(&json!([{"node": "ct:902", "op": "create", "lock": true, "times": 2}]));
    let out = t.build(&["all"]).success();
    let retries: Vec<Value> = out
        .events()
        .into_iter()
        .filter(|e| e["event"] == "retry")
        .collect();
    assert_eq!(retries.len(), 2, "{retries:?}");
    assert!(retries[0]["error"].as_str().unwrap().contains("is locked"));
    assert_eq!(out.summary()["nodes"]["ct:902"], "built");
}

#[test]
fn fail_fast_starts_nothing_new() {
    let t = tree();
    t.faults(&json!([{"node": "ct:900", "op": "exec", "match": "base_setup", "times": 1}]));
    let out = t.build(&["all", "--fail-fast", "-j", "1"]).code(1);
    let nodes = out.summary()["nodes"].clone();
    assert_eq!(nodes["ct:900"], "failed");
    for n in ["ct:901", "ct:902", "ct:910", "ct:920"] {
        assert_eq!(nodes[n], "skipped");
    }
}

#[test]
fn replacing_a_guest_needs_allow_replace() {
    let t = tree();
    t.build(&["all"]).success();
    let ops_before = t.ops().len();
    set_field(&t.defs, "910", "storage_pool", json!("fast-pool"));
    let out = t.build(&["all"]).code(1);
    assert!(
        out.stderr
            .contains("ct:910 (svc-a): define: storage_pool local-lvm → fast-pool"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--allow-replace"));
    assert_eq!(
        t.ops().len(),
        ops_before,
        "nothing may be touched before the guard"
    );
    let out = t.build(&["all", "--allow-replace"]).success();
    assert_eq!(out.summary()["nodes"]["ct:910"], "built");
    assert_eq!(out.steps_of("ct:910")[0], "define");
    assert!(
        out.steps_of("ct:920").is_empty(),
        "a depends edge carries no content"
    );
}

#[test]
fn memory_change_runs_only_configure() {
    let t = tree();
    t.build(&["all"]).success();
    set_field(&t.defs, "920", "memory_mb", json!(1024));
    let out = t.build(&["all"]).success();
    assert_eq!(out.summary()["steps_run"], 1);
    assert_eq!(out.summary()["nodes"]["ct:920"], "updated");
    assert_eq!(out.steps_of("ct:920"), ["configure"]);
}

#[test]
fn template_feature_change_rolls_back_and_rebuilds_its_clones() {
    let t = tree();
    t.build(&["all"]).success();
    std::fs::write(
        t.defs.join("features/lxc/gpu.sh"),
        "#!/bin/sh\necho gpu v2\n",
    )
    .unwrap();
    let out = t.build(&["all", "--allow-replace"]).success();
    assert_eq!(
        out.steps_of("ct:901"),
        ["rollback:pre-gpu", "start", "feature:gpu", "snapshot"]
    );
    assert_eq!(
        out.steps_of("ct:910")[0],
        "define",
        "910 is cloned again from the new snapshot"
    );
    assert!(out.steps_of("ct:902").is_empty() && out.steps_of("ct:920").is_empty());
}

/// A VM template, once `qm template` converted it, can neither start nor roll back:
/// a change to its features makes it again (no consent needed for a template),
/// and its clone, which is not a template, is replaced only with consent.
#[test]
fn a_converted_vm_template_is_made_again_not_resumed() {
    let t = tree();
    std::fs::create_dir_all(t.defs.join("features/vm")).unwrap();
    std::fs::write(
        t.defs.join("features/vm/tools.sh"),
        "#!/bin/sh\necho tools\n",
    )
    .unwrap();
    let vms = json!({"vm_defaults": {"cores": 1, "memory_mb": 1024, "storage_pool": "local-lvm"},
    "vms": [
        {"vmid": 9000, "name": "tmpl", "is_template": true, "template_image": "img.qcow2", "features": ["tools"]},
        {"vmid": 1001, "name": "worker", "clone_from_vmid": 9000}
    ]});
    std::fs::write(
        t.defs.join("phoenix_vm_configs.json"),
        serde_json::to_string_pretty(&vms).unwrap(),
    )
    .unwrap();
    t.build(&["all"]).success();
    std::fs::write(
        t.defs.join("features/vm/tools.sh"),
        "#!/bin/sh\necho tools v2\n",
    )
    .unwrap();
    let out = t.build(&["all"]).code(1);
    assert!(
        out.stderr.contains("vm:1001 (worker)") && !out.stderr.contains("vm:9000 (tmpl)"),
        "{}",
        out.stderr
    );
    let out = t.build(&["all", "--allow-replace"]).success();
    assert_eq!(out.steps_of("vm:9000")[0], "define", "{}", out.stdout);
    assert_eq!(out.steps_of("vm:1001")[0], "define");
}

#[test]
fn force_rebuilds_a_fresh_guest_and_dry_run_runs_nothing() {
    let t = tree();
    let out = t.build(&["all", "--dry-run"]).success();
    assert!(t.ops().is_empty(), "dry run ran something");
    assert!(
        out.stdout.contains("\"action\": \"create\""),
        "{}",
        out.stdout
    );
    t.build(&["all"]).success();
    let out = t.build(&["all", "--force", "902"]).success();
    assert_eq!(out.steps_of("ct:902")[0], "define");
    assert!(out.steps_of("ct:901").is_empty());
}

#[test]
fn every_event_has_event_node_and_step() {
    let t = tree();
    let out = t.build(&["910"]).success();
    let all = out.events();
    for e in &all {
        for k in ["event", "node", "step"] {
            assert!(e.get(k).is_some(), "{k} missing in {e}");
        }
    }
    let last = all.last().unwrap();
    assert_eq!(last["event"], "summary");
    assert_eq!(
        last["nodes"],
        json!({"ct:900": "built", "ct:901": "built", "ct:910": "built"})
    );
    assert!(last["steps_run"].as_u64().unwrap() >= 9);
}

#[test]
fn a_guest_phoenix_did_not_create_is_never_touched() {
    let t = tree();
    std::fs::create_dir_all(&t.sim).unwrap();
    let foreign = json!([{"node": "ct:920", "stamp": "", "running": true, "snapshots": {}, "layers": ["hand-made"], "settings": 0}]);
    std::fs::write(t.sim.join("guests.json"), foreign.to_string()).unwrap();
    let out = t.build(&["all"]).code(1);
    let fin = out.finished("ct:920");
    assert_eq!(fin["outcome"], "failed");
    assert!(
        fin["detail"]
            .as_str()
            .unwrap()
            .contains("not created by phoenix"),
        "{fin}"
    );
    assert!(
        t.ops().iter().all(|o| o.node != "ct:920"),
        "ct:920 was touched"
    );
    let status = t.phoenix().args(["status"]).run().success();
    assert!(
        status.stdout.contains("ct:920") && status.stdout.contains("foreign"),
        "{}",
        status.stdout
    );
    let d = t
        .phoenix()
        .args(["destroy", "all", "--yes"])
        .run()
        .success();
    assert!(
        d.stderr
            .contains("ct:920: exists but was not created by phoenix; left alone"),
        "{}",
        d.stderr
    );
    let guests = t.guests();
    assert!(
        guests.contains(&"ct:920".to_string()) && !guests.contains(&"ct:910".to_string()),
        "{guests:?}"
    );
}

#[test]
fn destroy_asks_unless_yes_and_goes_dependents_first() {
    let t = tree();
    t.build(&["all"]).success();
    let out = t.phoenix().args(["destroy", "all"]).run().code(2);
    assert!(out.stderr.contains("--yes"), "{}", out.stderr);
    assert_eq!(t.guests().len(), 5);
    t.phoenix()
        .args(["destroy", "all", "--yes"])
        .run()
        .success();
    let destroys: Vec<String> = t
        .ops()
        .into_iter()
        .filter(|o| o.op == "destroy")
        .map(|o| o.node)
        .collect();
    let pos = |n: &str| destroys.iter().position(|d| d == n).unwrap();
    assert!(
        pos("ct:910") < pos("ct:901")
            && pos("ct:901") < pos("ct:900")
            && pos("ct:920") < pos("ct:902"),
        "{destroys:?}"
    );
    assert!(t.guests().is_empty());
    assert!(!t.cache.join("nodes/ct-900.json").exists());
}

#[test]
fn a_second_build_on_the_same_cache_stops_at_once() {
    let t = tree();
    let state = phoenix::state::StateDir::new(&t.cache);
    let _held = state.lock().unwrap();
    let out = t.build(&["all"]).code(4);
    assert!(
        out.stderr.contains("another phoenix build"),
        "{}",
        out.stderr
    );
    assert!(t.ops().is_empty());
}

#[test]
fn steps_time_out() {
    let t = tree();
    std::fs::write(t.defs.join("features/lxc/base_setup.sh"), "sleep 20\n").unwrap();
    let started = std::time::Instant::now();
    let out = t
        .phoenix()
        .env("PHOENIX_SIM_EXEC", "1")
        .args(["build", "900", "--step-timeout", "1", "--output", "json"])
        .run()
        .code(1);
    assert!(started.elapsed().as_secs() < 15);
    assert!(out.stdout.contains("timed out after 1s"), "{}", out.stdout);
}
