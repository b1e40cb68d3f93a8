//! Issue 15, the simulated host beside the cache: a kill leaves the two
//! consistent, two caches cannot drive one host, a forced rebuild of a guest that
//! is not a template needs consent, and a guest whose build did not finish is
//! stamped again or replaced only with consent.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{GUESTS, assert_no_op, journal};
use crate::build_sim::tree;
use crate::helpers::phoenix;

/// Issue 15 item 9: the simulated host is written after every operation, so a
/// kill -9 leaves it consistent with the journal: after kills at three moments
/// and a build to the end, every guest was created once (net of the creations a
/// kill interrupted, which are destroyed first), and nothing is left to do.
#[test]
fn kill_9_leaves_the_simulated_host_consistent_with_the_journal() {
    let t = tree();
    for after_ms in [250, 500, 800] {
        let mut child = t
            .phoenix()
            .env("PHOENIX_SIM_LATENCY_MS", "40")
            .args(["build", "all", "-j", "2", "--output", "json"])
            .command()
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(after_ms));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    assert!(
        t.ops().iter().any(|o| o.op == "create"),
        "the builds were killed before they did anything"
    );
    let out = t.build(&["all"]).success();
    for n in GUESTS {
        // `updated`: killed between its last step and its final stamp, so only
        // the stamp is written.
        let s = &out.summary()["nodes"][n];
        assert!(s == "built" || s == "fresh" || s == "updated", "{n}: {s}");
    }
    let ops = t.ops();
    for n in GUESTS {
        let count = |op: &str| ops.iter().filter(|o| o.node == n && o.op == op).count();
        assert_eq!(
            count("create") - count("destroy"),
            1,
            "{n} created {} times, destroyed {} times",
            count("create"),
            count("destroy")
        );
    }
    assert_no_op(&t.build(&["all"]).success());
}

/// Issue 15 item 10: a second cache driving the same simulated host is refused,
/// before it touches anything, while the first build runs.
#[test]
fn two_caches_cannot_drive_one_simulated_host() {
    let t = tree();
    let mut first = t
        .phoenix()
        .env("PHOENIX_SIM_LATENCY_MS", "100")
        .args(["build", "all", "--output", "json"])
        .command()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while t.ops().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let other = t.path().join("other-cache");
    let out = phoenix()
        .defs(&t.defs)
        .cache(&other)
        .args(["--backend", "sim", "--sim-dir"])
        .args([&t.sim])
        .args(["build", "all", "--output", "json"])
        .run()
        .code(4);
    assert!(
        out.stderr.contains("another phoenix build")
            && out.stderr.contains("simulated host")
            && out.stderr.contains("another cache"),
        "{}",
        out.stderr
    );
    assert!(first.wait().unwrap().success());
    assert!(
        !other.join("journal").exists()
            || std::fs::metadata(other.join("journal")).unwrap().len() == 0,
        "the refused build recorded nothing"
    );
    assert_no_op(&t.build(&["all"]).success());
}

/// Issue 15 item 10: `--force` on a guest that is not a template destroys its root
/// disk like any replacement, so it needs `--allow-replace`; a template does not.
#[test]
fn force_on_a_guest_that_is_not_a_template_needs_allow_replace() {
    let t = tree();
    t.build(&["all"]).success();
    let before = t.ops().len();
    let out = t.build(&["all", "--force", "910"]).code(1);
    assert!(
        out.stderr.contains("ct:910 (svc-a): forced with --force")
            && out.stderr.contains("--allow-replace"),
        "{}",
        out.stderr
    );
    assert_eq!(
        t.ops().len(),
        before,
        "nothing may be touched before the guard"
    );
    let out = t
        .build(&["all", "--force", "910", "--allow-replace"])
        .success();
    assert_eq!(out.steps_of("ct:910")[0], "define");
    let out = t.build(&["all", "--force", "902"]).success();
    assert_eq!(
        out.steps_of("ct:902")[0],
        "define",
        "a template needs no consent"
    );
}

/// Issue 15 item 3 (the planner's half): the final stamp of ct:910 failed, so the
/// guest still says `building` though every step is recorded. The next build does
/// not take it for fresh: it writes the stamp and nothing else.
#[test]
fn a_guest_whose_final_stamp_failed_is_stamped_again() {
    let t = tree();
    t.faults(&json!([{"node": "ct:910", "op": "stamp", "match": "built", "times": 1}]));
    let out = t.build(&["all"]).code(1);
    assert_eq!(out.summary()["nodes"]["ct:910"], "failed");
    let before = t.ops().len();
    let out = t.build(&["all"]).success();
    assert_eq!(out.summary()["nodes"]["ct:910"], "updated");
    let since: Vec<String> = t
        .ops()
        .into_iter()
        .skip(before)
        .filter(|o| o.node == "ct:910")
        .map(|o| o.op)
        .collect();
    assert_eq!(since, ["stamp"], "only the stamp is written again");
    assert_no_op(&t.build(&["all"]).success());
}

/// Issue 15: a guest with a `building` stamp and no record (its final stamp
/// failed, then the cache was lost) is never destroyed without --allow-replace.
#[test]
fn a_building_guest_without_a_record_is_replaced_only_with_consent() {
    let t = tree();
    t.faults(&json!([{"node": "ct:910", "op": "stamp", "match": "built", "times": 1}]));
    t.build(&["all"]).code(1);
    std::fs::remove_file(journal(&t)).unwrap();
    let before = t.ops().len();
    let out = t.build(&["all"]).code(1);
    assert!(
        out.stderr
            .contains("ct:910 (svc-a): carries a `building` stamp")
            && out.stderr.contains("--allow-replace"),
        "{}",
        out.stderr
    );
    assert_eq!(
        t.ops().len(),
        before,
        "nothing may be touched before the guard"
    );
    let out = t.build(&["all", "--allow-replace"]).success();
    assert_eq!(out.steps_of("ct:910")[0], "define");
    assert_no_op(&t.build(&["all"]).success());
}
