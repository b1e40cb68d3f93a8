//! Ctrl-C while a step waits to be tried again: after a lock the backend
//! reports, or a health check that did not start.

use std::path::Path;

use serde_json::{Value, json};

use super::{Build, faults, ops, site};
use crate::helpers::Output;

/// `node` was interrupted while it waited to try `step` again, and its outcome
/// says so.
fn stopped_waiting(out: &Output, node: &str, step: &str) {
    assert_eq!(
        out.summary()["nodes"][node],
        "interrupted",
        "{}",
        out.stdout
    );
    let finished = out.finished(node);
    let detail = finished["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(&format!(
            "interrupted while waiting to try step `{step}` again"
        )),
        "{finished}"
    );
}

/// A Ctrl-C while a step waits to be tried again (the backend reported a lock)
/// ends the wait: the build does not sit out the backoff, the node is
/// interrupted, not failed, and the next build makes it.
#[test]
fn ctrl_c_ends_the_wait_before_a_new_try() {
    let (t, sim) = site();
    faults(
        &sim,
        &json!([{"node": "ct:900", "op": "create", "lock": true, "times": 1}]),
    );
    // Ten minutes before the second try, unless Ctrl-C cuts the wait.
    let mut build = Build::start(&t, &["900", "--retry-backoff-ms", "600000"]);
    let retry = build.wait_for_event("retry");
    assert_eq!(retry["step"], "define", "{retry}");
    build.ctrl_c();
    // `finish` gives up after a minute: the backoff is ten.
    let out = build.finish().code(130);
    stopped_waiting(&out, "ct:900", "define");
    let creates = |sim: &Path| {
        ops(sim)
            .iter()
            .filter(|(n, op, _)| n == "ct:900" && op == "create")
            .count()
    };
    // The first try failed (the fault), and is not in the host's log; a second
    // would have made the container.
    assert_eq!(creates(&sim), 0, "a second try was made after Ctrl-C");

    let again = t.build(&["900"]).success();
    assert_eq!(again.summary()["nodes"]["ct:900"], "built");
    assert_eq!(creates(&sim), 1);
}

/// The same for a health check whose run did not start (a lock the sim reports):
/// Ctrl-C during the wait before its next try ends the build, the node
/// interrupted, and the next build runs the check.
#[test]
fn ctrl_c_ends_the_wait_before_a_health_check_is_run_again() {
    let (t, sim) = site();
    let lxc = t.defs.join("phoenix_lxc_configs.json");
    let mut defs: Value = serde_json::from_str(&std::fs::read_to_string(&lxc).unwrap()).unwrap();
    defs["lxc_configs"]["901"]["health_checks"] = json!([{"name": "up", "script": "up.sh"}]);
    std::fs::write(&lxc, defs.to_string()).unwrap();
    std::fs::create_dir_all(t.defs.join("health")).unwrap();
    std::fs::write(t.defs.join("health/up.sh"), "#!/bin/sh\nexit 0\n").unwrap();
    faults(
        &sim,
        &json!([{"node": "ct:901", "op": "exec", "match": "up.sh", "lock": true, "times": 1}]),
    );
    let mut build = Build::start(&t, &["901", "--retry-backoff-ms", "600000"]);
    let retry = build.wait_for_event("retry");
    assert_eq!(
        (&retry["node"], &retry["step"]),
        (&json!("ct:901"), &json!("app")),
        "{retry}"
    );
    build.ctrl_c();
    let out = build.finish().code(130);
    assert_eq!(out.summary()["nodes"]["ct:900"], "built", "{}", out.stdout);
    stopped_waiting(&out, "ct:901", "app");
    // The check's own wait was cut (one try announced, by the check), not a
    // second wait of the whole step.
    let retries: Vec<Value> = out
        .events()
        .into_iter()
        .filter(|e| e["event"] == "retry" && e["node"] == "ct:901")
        .map(|e| e["attempt"].clone())
        .collect();
    assert_eq!(retries, [json!(1)], "{}", out.stdout);
    let log = std::fs::read_to_string(t.path().join("cache/logs/ct-901.log")).unwrap();
    assert!(log.contains("the check did not start"), "{log}");

    let again = t.build(&["901"]).success();
    assert_eq!(again.summary()["nodes"]["ct:901"], "built");
    let checks = ops(&sim)
        .iter()
        .filter(|(n, op, d)| n == "ct:901" && op == "exec" && d.contains("up.sh"))
        .count();
    assert_eq!(checks, 1, "the check ran once, in the second build");
}
