//! A build of the bundled definitions across a 3-node stand-in cluster through
//! the API: placement (pinned, by the clone source, by free memory), a
//! cross-node full clone with `target`, container scripts over the nodes' ssh,
//! a no-op of one request, a memory change of one config update, and a `node`
//! change that migrates.

use serde_json::{Value, json};

use super::{ApiSite, Trusting, assert_no_secret, assert_no_secret_under};
use crate::api_standin::Options;
use crate::helpers::set_field;

/// The nodes every guest of the stand-in is on, by ID.
pub fn nodes_of(s: &ApiSite) -> std::collections::BTreeMap<String, String> {
    let state = s.api.state();
    state["guests"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(id, g)| (id.clone(), g["node"].as_str().unwrap_or("?").to_string()))
        .collect()
}

/// Requests that change something (not GET).
pub fn changes(requests: &[Value]) -> Vec<String> {
    requests
        .iter()
        .filter(|r| r["method"] != "GET")
        .map(|r| {
            format!(
                "{} {}",
                r["method"].as_str().unwrap(),
                r["path"].as_str().unwrap()
            )
        })
        .collect()
}

/// The stand-in cluster with a shared storage `ceph` beside each node's
/// `local-lvm`, and the bundled definitions set out on it: 900 pinned to pve1,
/// 920 pinned to pve2 on `ceph` (a full clone of 901's snapshot, across nodes),
/// 103 pinned to pve3 on `ceph`, 950 on `ceph` placed by memory. Host steps are
/// made harmless (they run on a node, which is this machine).
pub fn cluster_site(opts: &Options) -> Option<ApiSite> {
    let opts = Options {
        state: Some(json!({
            "storages": {"ceph": {"type": "rbd", "content": "images,rootdir"}},
            "guests": {}
        })),
        ..opts.clone()
    };
    let s = ApiSite::start(&opts, Trusting::Fingerprint)?;
    let defs = &s.site.defs;
    set_field(defs, "900", "node", json!("pve1"));
    set_field(defs, "920", "node", json!("pve2"));
    set_field(defs, "920", "storage_pool", json!("ceph"));
    set_field(defs, "950", "storage_pool", json!("ceph"));
    set_field(defs, "103", "node", json!("pve3"));
    set_field(defs, "103", "storage_pool", json!("ceph"));
    for step in ["network", "firewall", "dns"] {
        let path = defs.join(format!("features/host/{step}.sh"));
        if path.exists() {
            std::fs::write(path, format!("#!/bin/sh\necho host step {step}\n")).unwrap();
        }
    }
    Some(s)
}

/// A clone pinned away from a template on local storage cannot be made: the
/// plan says so, with the fix, and the build makes nothing.
#[test]
fn an_impossible_placement_is_refused_before_anything_is_made() {
    let Some(s) = cluster_site(&Options::default()) else {
        return;
    };
    set_field(&s.site.defs, "901", "node", json!("pve2"));
    set_field(&s.site.defs, "102", "node", json!("pve9"));
    for args in [&["plan", "all"][..], &["build", "all"]] {
        let out = s.run(args);
        assert_eq!(out.code, 1, "{args:?}: {}\n{}", out.stdout, out.stderr);
        assert!(
            out.stderr.contains("cannot place every guest")
                && out
                    .stderr
                    .contains("ct:901: guest 901 cannot be cloned from 900 on pve1 onto pve2")
                && out.stderr.contains("set `node` to pve1")
                && out.stderr.contains(
                    "ct:102: guest 102: its `node` is `pve9`, which is not a node of the cluster"
                ),
            "{args:?}: {}",
            out.stderr
        );
    }
    assert!(changes(&s.api.requests()).is_empty(), "nothing was made");
}

#[test]
fn a_cluster_is_built_placed_kept_and_moved_through_the_api() {
    let Some(s) = cluster_site(&Options::default()) else {
        return;
    };
    // The plan says where each guest goes and why, before anything is made.
    let plan = s.run(&["plan", "all"]).success();
    for line in [
        "placed on pve2: its definition's `node`",
        "placed on pve1: the node of its clone source 900 (storage `local-lvm` is local to that node)",
        "the most free memory",
    ] {
        assert!(plan.stdout.contains(line), "{line}:\n{}", plan.stdout);
    }
    assert!(
        changes(&s.api.requests()).is_empty(),
        "planning changes nothing"
    );
    let out = s.run(&["build", "all"]);
    assert_eq!(
        out.code,
        0,
        "{}\n{}\n{}",
        out.stdout,
        out.stderr,
        s.api.server_log()
    );
    assert_eq!(s.api.violations(), "", "requests the API would refuse");
    let nodes = nodes_of(&s);
    // Pinned; then what stays with its source (local-lvm clones of 900).
    for (id, node) in [
        ("900", "pve1"),
        ("901", "pve1"),
        ("902", "pve1"),
        ("101", "pve1"),
        ("102", "pve1"),
        ("920", "pve2"),
        ("103", "pve3"),
    ] {
        assert_eq!(nodes[id], node, "guest {id}: {nodes:?}");
    }
    let requests = s.api.requests();
    // 920 is a full clone of 901's snapshot made on pve1 and moved to pve2.
    let clone = requests
        .iter()
        .find(|r| r["path"] == "/nodes/pve1/lxc/901/clone")
        .expect("the clone of 920");
    assert_eq!(clone["params"]["newid"], "920");
    assert_eq!(clone["params"]["target"], "pve2");
    assert_eq!(clone["params"]["full"], "1");
    // 950 went where memory was, and its scripts ran on its node.
    let log950 = std::fs::read_to_string(s.site.cache.join("logs/ct-950.log")).unwrap_or_default();
    assert!(
        log950.contains("placed on") && log950.contains("the most free memory"),
        "{log950}"
    );
    let ip = |node: &str| format!("10.0.0.{}", &node[3..]);
    let ssh = s.api.ssh_log();
    assert!(
        ssh.iter()
            .any(|(dest, cmd)| dest.ends_with(&ip(&nodes["950"]))
                && cmd.contains("pct")
                && cmd.contains("950")),
        "no pct command for 950 went to its node {}: {ssh:#?}",
        nodes["950"]
    );
    assert!(
        !ssh.iter()
            .any(|(dest, cmd)| cmd.contains("'950'") && !dest.ends_with(&ip(&nodes["950"]))),
        "a command for 950 went to another node: {ssh:#?}"
    );
    // A host step is every node's: its script ran on each of them.
    for n in 1..=3 {
        assert!(
            ssh.iter()
                .any(|(dest, cmd)| dest.ends_with(&format!("10.0.0.{n}"))
                    && cmd.contains("network.sh")),
            "host:network did not run on pve{n}: {ssh:#?}"
        );
    }
    assert_no_secret(
        &s.api,
        "the build's output",
        &format!("{}{}", out.stdout, out.stderr),
    );
    assert_no_secret_under(&s.api, &s.site.cache);

    // A no-op: the inventory, and nothing else (no ssh either).
    let (before, ssh_before) = (s.api.requests().len(), s.api.ssh_log().len());
    let out = s.run(&["build", "all"]).success();
    let since = s.requests_since(before);
    assert_eq!(since.len(), 1, "{since:#?}\n{}", out.stdout);
    assert_eq!(since[0]["path"], "/cluster/resources");
    assert_eq!(s.api.ssh_log().len(), ssh_before);

    // A memory change is one config update.
    set_field(&s.site.defs, "950", "memory_mb", json!(2048));
    let before = s.api.requests().len();
    s.run(&["build", "all"]).success();
    let since = s.requests_since(before);
    let node950 = nodes["950"].clone();
    let changed: Vec<String> = since
        .iter()
        .filter(|r| r["method"].as_str() != Some("GET"))
        .map(|r| format!("{} {} {}", r["method"], r["path"], r["params"]))
        .collect();
    assert_eq!(
        changes(&since),
        [format!("PUT /nodes/{node950}/lxc/950/config")],
        "{changed:#?}"
    );
    let put = since.iter().find(|r| r["method"] == "PUT").unwrap();
    assert_eq!(put["params"]["memory"], "2048");

    // A `node` change migrates the running container, in restart mode.
    let to = if node950 == "pve1" { "pve2" } else { "pve1" };
    set_field(&s.site.defs, "950", "node", json!(to));
    let plan = s.run(&["plan", "950"]).success();
    assert!(
        plan.stdout
            .contains(&format!("node: on {node950}, the definition says {to}")),
        "{}",
        plan.stdout
    );
    let before = s.api.requests().len();
    let out = s.run(&["build", "950"]).success();
    let since = s.requests_since(before);
    let migrate = since
        .iter()
        .find(|r| r["path"] == format!("/nodes/{node950}/lxc/950/migrate"))
        .unwrap_or_else(|| panic!("no migration: {since:#?}\n{}", out.stdout));
    assert_eq!(
        (
            migrate["params"]["target"].as_str(),
            migrate["params"]["restart"].as_str()
        ),
        (Some(to), Some("1"))
    );
    assert!(
        !changes(&since)
            .iter()
            .any(|c| c.contains("/clone") || c.starts_with("DELETE")),
        "{since:#?}"
    );
    assert_eq!(nodes_of(&s)["950"], to);
    assert_eq!(s.api.state()["guests"]["950"]["status"], "running");
    let before = s.api.requests().len();
    s.run(&["build", "all"]).success();
    assert_eq!(
        s.requests_since(before).len(),
        1,
        "after the move, a no-op again"
    );

    // A change made by hand through the API is seen and undone.
    s.api
        .call(
            "PUT",
            &format!("/nodes/{to}/lxc/950/config"),
            &[("memory", "4096")],
        )
        .ok();
    let live = s.run(&["status", "--live"]).success();
    assert!(
        live.stdout.contains("memory") && live.stdout.contains("4096"),
        "{}",
        live.stdout
    );
    let before = s.api.requests().len();
    s.run(&["build", "--refresh", "all"]).success();
    let since = s.requests_since(before);
    assert_eq!(
        changes(&since),
        [format!("PUT /nodes/{to}/lxc/950/config")],
        "{since:#?}"
    );
    assert_eq!(s.api.state()["guests"]["950"]["config"]["memory"], "2048");

    // Everything goes, on every node.
    s.run(&["destroy", "all", "--yes"]).success();
    assert_eq!(nodes_of(&s), std::collections::BTreeMap::new());
    assert_eq!(s.api.violations(), "");
}
