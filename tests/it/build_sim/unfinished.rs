//! What a build that did not finish a guest leaves behind, and how the next build
//! picks it up (GitHub issue 15): a stamp that failed is a step still to do; a
//! feature that failed is rolled back to the snapshot taken before it, or, where
//! Proxmox cannot snapshot the guest, run again on top with a word in the summary.

use serde_json::{Value, json};

use super::{SimSite, tree};
use crate::helpers::update_json;

/// A guest's entry in the simulated host's `guests.json`.
fn guest(t: &SimSite, node: &str) -> Value {
    let all: Value =
        serde_json::from_str(&std::fs::read_to_string(t.sim.join("guests.json")).unwrap()).unwrap();
    all.as_array()
        .unwrap()
        .iter()
        .find(|g| g["node"] == node)
        .unwrap_or_else(|| panic!("{node} is not on the host: {all}"))
        .clone()
}

/// The operations on `node` from the `from`th line of the sim's log on, as `op detail`.
fn ops_of(t: &SimSite, node: &str, from: usize) -> Vec<String> {
    t.ops()[from..]
        .iter()
        .filter(|o| o.node == node)
        .map(|o| format!("{} {}", o.op, o.detail).trim_end().to_string())
        .collect()
}

#[test]
fn a_failed_stamp_is_retried_by_the_next_build() {
    let t = tree();
    t.faults(&json!([{"node": "ct:910", "op": "stamp", "match": "built:", "times": 1}]));
    let out = t.build(&["all"]).code(1);
    let failed = out.finished("ct:910");
    assert_eq!(failed["outcome"], "failed", "{failed}");
    assert!(
        failed["detail"].as_str().unwrap().contains("cannot stamp"),
        "{failed}"
    );
    // 920 depends on 910, which is not built until it is stamped.
    assert_eq!(out.summary()["nodes"]["ct:920"], "skipped");
    assert!(
        guest(&t, "ct:910")["stamp"]
            .as_str()
            .unwrap()
            .starts_with("building:")
    );

    // The next build does not take 910 for fresh: every step is recorded, so it
    // writes the stamp again, and nothing else of it runs again.
    let plan = t.plan(&["910"]);
    let action = plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["node"] == "ct:910")
        .unwrap()
        .clone();
    assert_eq!(action["action"], "update", "{action}");
    let ops_before = t.ops().len();
    let out = t.build(&["all"]).success();
    assert!(out.steps_of("ct:910").is_empty(), "{}", out.stdout);
    let ops = ops_of(&t, "ct:910", ops_before);
    assert_eq!(ops.len(), 1, "{ops:?}");
    let built = format!("stamp built:{}", action["key"].as_str().unwrap());
    assert_eq!(ops[0].lines().next(), Some(built.as_str()));
    assert_eq!(out.summary()["nodes"]["ct:920"], "built");
    let stamp = guest(&t, "ct:910")["stamp"].as_str().unwrap().to_string();
    assert_eq!(
        stamp.lines().next().unwrap(),
        format!("built:{}", action["key"].as_str().unwrap())
    );

    let again = t.build(&["all"]).success();
    assert_eq!(again.summary()["steps_run"], 0, "{}", again.stdout);
}

#[test]
fn a_locked_guest_is_stamped_once_the_lock_is_gone() {
    let t = tree();
    t.faults(&json!([{"node": "ct:920", "op": "stamp", "lock": true, "times": 2}]));
    let out = t.build(&["all"]).success();
    let retries: Vec<Value> = out
        .events()
        .into_iter()
        .filter(|e| e["event"] == "retry" && e["node"] == "ct:920")
        .collect();
    assert_eq!(retries.len(), 2, "{retries:?}");
    assert_eq!(retries[0]["step"], "stamp");
    assert!(
        guest(&t, "ct:920")["stamp"]
            .as_str()
            .unwrap()
            .starts_with("built:")
    );
}

/// The first attempt of a feature leaves something behind (the sim runs the script
/// for real, after adding its layer) and fails; the resumed build rolls back to the
/// snapshot taken before that attempt, so the guest holds the feature once.
#[test]
fn a_resumed_feature_starts_from_the_snapshot_before_its_failed_attempt() {
    let t = tree();
    let marker = t.path().join("gpu-tried");
    std::fs::write(
        t.defs.join("features/lxc/gpu.sh"),
        format!(
            "#!/bin/sh\n[ -e {m} ] && exit 0\ntouch {m}\necho half installed >&2\nexit 1\n",
            m = marker.display()
        ),
    )
    .unwrap();
    let build = |code| {
        t.phoenix()
            .env("PHOENIX_SIM_EXEC", "1")
            .args(["build", "901", "--output", "json"])
            .run()
            .code(code)
    };
    let out = build(1);
    assert_eq!(out.summary()["nodes"]["ct:901"], "failed");
    let layers = |t: &SimSite| -> Vec<String> {
        guest(t, "ct:901")["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        layers(&t).last().map(String::as_str),
        Some("features/lxc/gpu.sh"),
        "the failed attempt left its layer"
    );

    let ops_before = t.ops().len();
    let out = build(0);
    let ops = ops_of(&t, "ct:901", ops_before);
    assert_eq!(
        ops[..4],
        [
            "rollback pre-gpu",
            "configure",
            "start",
            "exec features/lxc/gpu.sh"
        ],
        "{ops:?}"
    );
    assert!(
        !ops.contains(&"snapshot pre-gpu".to_string()),
        "pre-gpu was taken again over the failed attempt: {ops:?}"
    );
    assert_eq!(
        layers(&t)
            .iter()
            .filter(|l| *l == "features/lxc/gpu.sh")
            .count(),
        1,
        "{:?}",
        layers(&t)
    );
    assert_eq!(out.summary()["nodes"]["ct:901"], "built");
    assert_eq!(build(0).summary()["steps_run"], 0);
}

/// A `pre-` snapshot left from before an earlier step ran again is not the one to
/// go back to: the resume takes it afresh instead. Here 900's first feature changes
/// and the snapshot before its second fails once, after the first has run again.
#[test]
fn a_snapshot_older_than_the_steps_before_it_is_never_rolled_back_to() {
    let t = tree();
    update_json(&t.defs.join("phoenix_lxc_configs.json"), |v| {
        v["lxc_configs"]["900"]["features"] = json!(["base_setup", "extra"]);
    });
    std::fs::write(t.defs.join("features/lxc/extra.sh"), "#!/bin/sh\n").unwrap();
    t.build(&["900"]).success();
    std::fs::write(
        t.defs.join("features/lxc/base_setup.sh"),
        "#!/bin/sh\necho base v2\n",
    )
    .unwrap();
    t.faults(&json!([{"node": "ct:900", "op": "snapshot", "match": "pre-extra", "times": 1}]));
    let out = t.build(&["900"]).code(1);
    assert_eq!(
        out.steps_of("ct:900"),
        ["rollback:pre-base_setup", "start", "feature:base_setup"]
    );

    let ops_before = t.ops().len();
    t.build(&["900"]).success();
    let ops = ops_of(&t, "ct:900", ops_before);
    assert!(
        !ops.iter().any(|o| o.starts_with("rollback")),
        "rolled back to a snapshot older than the new base_setup: {ops:?}"
    );
    assert_eq!(
        ops[..3],
        ["start", "snapshot pre-extra", "exec features/lxc/extra.sh"],
        "{ops:?}"
    );
}

/// A container with a bind mount has no snapshots: its failed feature runs again on
/// top of what the attempt left, and the summary says so.
#[test]
fn without_snapshots_a_failed_feature_runs_again_on_top_and_says_so() {
    let t = tree();
    update_json(&t.defs.join("phoenix_lxc_configs.json"), |v| {
        let svc = &mut v["lxc_configs"]["910"];
        svc["features"] = json!(["svc"]);
        svc["mount_points"] = json!([{"host_path": "/srv/data", "container_path": "/data"}]);
    });
    std::fs::write(t.defs.join("features/lxc/svc.sh"), "#!/bin/sh\n").unwrap();
    t.faults(&json!([{"node": "ct:910", "op": "exec", "match": "svc.sh", "times": 1}]));
    assert_eq!(
        t.build(&["910"]).code(1).summary()["nodes"]["ct:910"],
        "failed"
    );

    let out = t.build(&["910"]).success();
    assert_eq!(out.steps_of("ct:910"), ["start", "feature:svc", "app"]);
    let detail = out.finished("ct:910")["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        detail.contains("`feature:svc` did not finish last time and cannot be rolled back")
            && detail.contains("bind mount")
            && detail.contains("it runs again on top of what it left"),
        "{detail}"
    );
}
