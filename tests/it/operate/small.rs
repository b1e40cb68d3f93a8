//! Operating small trees of the tests' own on the sim backend: boot delays,
//! guests phoenix did not create, guests that do not exist, dry runs, `setup`.

use std::collections::BTreeMap;

use phoenix::graph::NodeId;
use serde_json::json;

use super::{Sim, after, outcome};
use crate::build_sim::{ct, site};

/// 110 (boot 1, `boot_delay` 1 s) and 120 (boot 2) need nothing; 130 (not started
/// at boot) depends on 120.
fn three() -> Sim {
    let os = |extra: serde_json::Value| {
        let mut v = json!({"template": "local:vztmpl/x.tar.zst"});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    let (site, sim) = site(
        &json!({
            "110": ct("first", 10, &os(json!({"start_at_boot": true, "boot_order": 1, "boot_delay": 1}))),
            "120": ct("second", 20, &os(json!({"start_at_boot": true, "boot_order": 2}))),
            "130": ct("third", 30, &os(json!({"dependencies": ["120"]}))),
        }),
        &[],
    )
    .into_parts();
    Sim { site, sim }
}

#[test]
fn each_started_group_waits_its_boot_delay_before_the_next() {
    let s = three();
    s.build(&["all"]).success();
    s.op(&["stop", "all"]).success();
    s.forget_ops();
    s.op(&["start", "all"]).success();
    let ops = s.ops();
    assert_eq!(s.ops_of("start"), ["ct:110", "ct:120", "ct:130"]);
    let at = |n: &str| ops.iter().find(|o| o.op == "start" && o.node == n).unwrap();
    let gap = at("ct:120").start - at("ct:110").end;
    assert!(gap >= 1000, "110's boot_delay of 1 s: {gap} ms");
    // 120 has none: 130 follows at once.
    assert!(at("ct:130").start - at("ct:120").end < 900);
    // A group that starts nothing waits for nothing, and --no-boot-delay skips it.
    s.op(&["stop", "120", "130"]).success();
    s.forget_ops();
    let t0 = std::time::Instant::now();
    s.op(&["start", "all"]).success();
    assert_eq!(s.ops_of("start"), ["ct:120", "ct:130"]);
    assert!(t0.elapsed().as_millis() < 900, "110 ran already: no delay");
    s.op(&["stop", "all"]).success();
    s.forget_ops();
    s.op(&["start", "all", "--no-boot-delay"]).success();
    let ops = s.ops();
    assert!(after(&ops, "start", "ct:110", "ct:120"));
    let at = |n: &str| ops.iter().find(|o| o.op == "start" && o.node == n).unwrap();
    assert!(at("ct:120").start - at("ct:110").end < 900);
}

#[test]
fn a_guest_phoenix_did_not_create_is_left_alone() {
    let s = three();
    s.build(&["all"]).success();
    let host =
        phoenix::backend::sim::Sim::new(&s.sim, phoenix::backend::sim::SimOptions::default())
            .unwrap();
    host.place_foreign(NodeId::Ct(120), BTreeMap::new())
        .unwrap();
    drop(host);
    s.forget_ops();
    let out = s.op(&["stop", "all"]).code(1);
    assert_eq!(outcome(&out, "ct:120"), "skipped");
    let why = out.finished("ct:120")["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        why.contains("was not created by phoenix; left alone"),
        "{why}"
    );
    assert_eq!(outcome(&out, "ct:130"), "stopped");
    assert!(s.ops().iter().all(|o| o.node != "ct:120"));
    // It still runs, so 130, which depends on it, starts.
    let out = s.op(&["start", "all", "--no-boot-delay"]).code(1);
    assert_eq!(outcome(&out, "ct:130"), "started");
    assert!(s.ops().iter().all(|o| o.node != "ct:120"));
}

#[test]
fn a_guest_that_does_not_exist_fails_its_start_and_skips_what_needs_it() {
    let s = three();
    s.build(&["110"]).success();
    let out = s.op(&["start", "130"]).code(1);
    assert_eq!(outcome(&out, "ct:120"), "failed");
    assert_eq!(
        out.finished("ct:120")["detail"],
        "does not exist; `phoenix build 120` builds it"
    );
    assert_eq!(outcome(&out, "ct:130"), "skipped");
    assert_eq!(
        out.finished("ct:130")["detail"],
        "needs ct:120, which did not start"
    );
    // Stopping a guest that does not exist changes nothing.
    let out = s.op(&["stop", "120"]).success();
    assert_eq!(outcome(&out, "ct:120"), "unchanged");
}

#[test]
fn a_dry_run_prints_the_order_and_touches_nothing() {
    let s = three();
    s.build(&["all"]).success();
    s.forget_ops();
    let out = s
        .phoenix()
        .args(["stop", "120", "--dry-run"])
        .run()
        .success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("stop, in this order"),
        "{}",
        out.stdout
    );
    assert!(
        lines[1].contains("ct:130") && lines[1].contains("stop"),
        "{}",
        out.stdout
    );
    assert!(lines[2].contains("ct:120"), "{}", out.stdout);
    assert_eq!(lines.len(), 3, "{}", out.stdout);
    let out = s.op(&["restart", "120", "--dry-run"]).success();
    let events: Vec<(String, String, String)> = out
        .events()
        .iter()
        .map(|e| {
            (
                e["operation"].as_str().unwrap().to_string(),
                e["node"].as_str().unwrap().to_string(),
                e["action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String, String)> = [
        ("stop", "ct:130", "stop"),
        ("stop", "ct:120", "stop"),
        ("start", "ct:120", "start"),
        ("start", "ct:130", "start"),
    ]
    .iter()
    .map(|(a, b, c)| ((*a).into(), (*b).into(), (*c).into()))
    .collect();
    assert_eq!(events, want);
    assert!(s.ops().is_empty(), "a dry run runs nothing");
    // A host step is not a guest.
    let out = s.phoenix().args(["start", "host:network"]).run();
    assert_eq!(out.code, 2, "{}", out.stderr);
}
