//! What fails on a cluster, and what is kept: a task that ends in an error has
//! its log in `phoenix logs`; a node that goes away mid-build fails its guests
//! only, and the next build resumes them.

use std::time::{Duration, Instant};

use super::cluster_build::{changes, cluster_site, nodes_of};
use crate::api_standin::Options;

/// A clone whose task fails: the step fails with the task's exit status, the
/// task's log is in the guest's log, the other guests finish, and the next build
/// makes only what is missing.
#[test]
fn a_failed_task_s_log_reaches_phoenix_logs() {
    let Some(s) = cluster_site(&Options::default()) else {
        return;
    };
    s.api.fail("newid=101", 1);
    let out = s.run(&["build", "all"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let logs = s.run(&["logs", "101"]).success();
    assert!(
        logs.stdout.contains("task: TASK ERROR: injected failure")
            && logs.stdout.contains("vzclone:902")
            && logs.stdout.contains("failed: injected failure"),
        "{}",
        logs.stdout
    );
    assert!(out.stderr.contains("ct:101") || out.stdout.contains("ct:101"));
    let nodes = nodes_of(&s);
    // Independent branches finished; 102, which depends on 101, waits.
    assert!(
        nodes.contains_key("950") && nodes.contains_key("103"),
        "{nodes:?}"
    );
    assert!(!nodes.contains_key("102"), "{nodes:?}");
    assert!(
        !nodes.contains_key("101"),
        "the failed clone left no guest: {nodes:?}"
    );
    let before = s.api.requests().len();
    s.run(&["build", "all"]).success();
    let made: Vec<String> = changes(&s.requests_since(before))
        .into_iter()
        .filter(|c| c.ends_with("/clone") || c.ends_with("/lxc") || c.ends_with("/qemu"))
        .collect();
    assert_eq!(
        made,
        [
            "POST /nodes/pve1/lxc/902/clone",
            "POST /nodes/pve1/lxc/902/clone"
        ],
        "only 101 and 102 are made"
    );
    assert!(nodes_of(&s).contains_key("102"));
}

/// A guest locked by Proxmox (`CT is locked (snapshot)`, HTTP 500) is waited
/// for and tried again, as `pct`'s lock errors are; a read that fails with a
/// server error is retried by the client itself.
#[test]
fn lock_errors_and_failed_reads_are_retried() {
    let Some(s) = cluster_site(&Options::default()) else {
        return;
    };
    std::fs::write(
        s.api.state_dir().join("fail"),
        "lock:/lxc/101/status/start 2\nGET /nodes/pve1/lxc/101/status/current 1\n",
    )
    .unwrap();
    let out = s.run(&["build", "all"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    // The HTTP status of every request to `path`, in order.
    let statuses = |path: &str| -> Vec<u64> {
        s.api
            .requests()
            .iter()
            .filter(|r| r["path"] == path)
            .map(|r| r["status"].as_u64().unwrap_or(0))
            .collect()
    };
    let starts = statuses("/nodes/pve1/lxc/101/status/start");
    assert_eq!(
        starts,
        [500, 500, 200],
        "two refusals on the lock, then the start"
    );
    let reads = statuses("/nodes/pve1/lxc/101/status/current");
    assert_eq!(
        reads[..2],
        [500, 200],
        "the failed read, then its retry: {reads:?}"
    );
    let log = s.run(&["logs", "101"]).success();
    assert!(
        log.stdout.contains("CT is locked (snapshot)"),
        "{}",
        log.stdout
    );
}

/// pve2 goes down right after 920 was cloned onto it and started: 920 fails
/// (and 950, which is cloned from it, does not start), everything on pve1 and
/// pve3 finishes; with pve2 back, the next build goes on with 920 where it
/// stopped (no second clone) and makes 950.
#[test]
fn a_node_that_fails_mid_build_fails_only_its_guests() {
    let Some(s) = cluster_site(&Options::default()) else {
        return;
    };
    let state = s.api.state_dir();
    let watcher = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            let log = std::fs::read_to_string(state.join("requests.log")).unwrap_or_default();
            if log.contains("/nodes/pve2/lxc/920/status/start") {
                std::fs::write(state.join("down"), "pve2 595\n").unwrap();
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    });
    let out = s.run(&["build", "all"]);
    assert!(watcher.join().unwrap(), "920 never started on pve2");
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let nodes = nodes_of(&s);
    assert!(!nodes.contains_key("950"), "950 needs 920: {nodes:?}");
    for id in ["900", "901", "902", "101", "102", "103"] {
        assert!(nodes.contains_key(id), "{id} finished: {nodes:?}");
    }
    let st = s.api.state();
    for id in ["101", "102", "103"] {
        assert_eq!(st["guests"][id]["status"], "running", "{id}");
    }
    std::fs::remove_file(s.api.state_dir().join("down")).unwrap();
    let before = s.api.requests().len();
    let out = s.run(&["build", "all"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let since = changes(&s.requests_since(before));
    assert!(
        !since
            .iter()
            .any(|c| c.contains("/901/clone") || c.contains("DELETE")),
        "920 is not made again: {since:#?}"
    );
    assert!(
        since.iter().any(|c| c.ends_with("/lxc/920/clone")),
        "950 is made: {since:#?}"
    );
    assert_eq!(s.api.violations(), "");
}
