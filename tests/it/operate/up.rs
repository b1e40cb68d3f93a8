//! On the 2025-11 fixture set: a stop that fails keeps what the guest needs
//! running (and `--force` kills it), and `up` builds, then starts in boot order.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{Sim, outcome};

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
