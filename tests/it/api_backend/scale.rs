//! Scale through the API: the synthetic graph of `../shared/bench/gen_graph.py`
//! (a template chain of 4 and N containers cloned from it) built on a stand-in
//! cluster of M nodes, then built again as a no-op. Each run's wall time,
//! request count and ssh calls are printed as one `bench-api:` line.
//!
//! The ignored benchmark takes N and M from `PHOENIX_BENCH_GUESTS` (1000) and
//! `PHOENIX_BENCH_NODES` (10); `scripts/bench-api.sh` runs it in release mode
//! and tabulates the lines. A small variant (40 on 10) runs in every test run.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{ApiSite, Trusting, with_api};
use crate::api_standin::{ApiStandIn, Options};
use crate::helpers::{Site, shared, update_json};

const GIB: u64 = 1024 * 1024 * 1024;
/// What `gen_graph.py` gives every guest (`memory_mb`).
const GUEST_MIB: u64 = 2048;
/// The templates `gen_graph.py` puts before the clones (900, 901, 902, 920).
const TEMPLATES: usize = 4;

/// `site` driving the stand-in `api`: its nodes' ssh first on PATH, the nodes'
/// root and image directory under the stand-in's, and the API with `trust`
/// (what [`ApiSite::start`] does for the bundled definitions).
pub fn api_site(site: Site, api: ApiStandIn, trust: Trusting) -> ApiSite {
    let path = format!(
        "{}:{}",
        api.ssh_bin().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let root = api.state_dir().join("root");
    let images = root.join("images");
    std::fs::create_dir_all(&images).unwrap();
    let site = site.env("PATH", path).backend([
        "--pve-root".to_string(),
        root.display().to_string(),
        "--pve-image-dir".into(),
        images.display().to_string(),
    ]);
    let site = with_api(site, &api, trust);
    ApiSite { site, api }
}

/// A Python for the generator: the system one without site packages (fast to
/// start), else whatever `python3` is.
fn python() -> (String, Vec<String>) {
    let works = |cmd: &str, args: &[&str]| {
        Command::new(cmd)
            .args(args)
            .args(["-c", "import argparse, json, random"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if works("/usr/bin/python3", &["-S"]) {
        ("/usr/bin/python3".into(), vec!["-S".into()])
    } else {
        ("python3".into(), Vec::new())
    }
}

/// `gen_graph.py`'s definitions of `guests` clones, made buildable on the
/// stand-in: their storage `local-lxc` is a shared RBD pool (so a full clone
/// may go to any node), and the GPU of the vLLM chain is dropped (a GPU is
/// passed through by host steps on a node with one; the stand-in's nodes have
/// none). The nodes get memory for all the guests, so that placement by free
/// memory has room everywhere. `None` (after saying why) without `../shared`
/// or the stand-in's tools.
fn generated_site(guests: usize, nodes: usize) -> Option<ApiSite> {
    let script = shared()?.join("bench/gen_graph.py");
    assert!(script.is_file(), "{} is missing", script.display());
    let site = Site::empty();
    let (py, args) = python();
    let out = Command::new(&py)
        .args(&args)
        .arg(&script)
        .arg(&site.defs)
        .args(["--guests", &guests.to_string()])
        .output()
        .unwrap_or_else(|e| panic!("{py}: {e}"));
    assert!(
        out.status.success(),
        "gen_graph.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Its ninja and make files are for other measurements.
    for f in ["build.ninja", "Makefile"] {
        let _ = std::fs::remove_file(site.defs.join(f));
    }
    update_json(&site.defs.join("phoenix_lxc_configs.json"), |v| {
        for g in v["lxc_configs"].as_object_mut().unwrap().values_mut() {
            g["gpu_assignment"] = json!("none");
        }
    });
    let per_node = (guests + TEMPLATES).div_ceil(nodes) as u64 * GUEST_MIB * 1024 * 1024;
    let memory = 2 * per_node + 64 * GIB;
    let node_list: serde_json::Map<String, Value> = (1..=nodes)
        .map(|i| {
            let ip = format!("10.0.0.{i}");
            (
                format!("pve{i}"),
                json!({"ip": ip, "memory": memory, "cpus": 16}),
            )
        })
        .collect();
    let opts = Options {
        nodes,
        state: Some(json!({
            "nodes": node_list,
            "storages": {"local-lxc": {"type": "rbd", "content": "rootdir,images"}},
            "guests": {}
        })),
        ..Options::default()
    };
    let api = ApiStandIn::start_with(&opts)?;
    Some(api_site(site, api, Trusting::Fingerprint))
}

/// One run's figures.
struct Run {
    wall: Duration,
    /// The requests it made, in order.
    requests: Vec<Value>,
    ssh: usize,
}

/// `phoenix build all -j 16`, which must succeed; what it cost.
fn build_all(s: &ApiSite) -> Run {
    let (requests, ssh) = (s.api.requests().len(), s.api.ssh_log().len());
    let start = Instant::now();
    let out = s.run(&["build", "all", "-j", "16"]);
    let wall = start.elapsed();
    assert_eq!(
        out.code,
        0,
        "{}\n{}\n{}",
        tail(&out.stdout),
        tail(&out.stderr),
        tail(&s.api.server_log())
    );
    Run {
        wall,
        requests: s.requests_since(requests),
        ssh: s.api.ssh_log().len() - ssh,
    }
}

/// The last lines of a long text, for a failure message.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// The summary line `scripts/bench-api.sh` reads.
fn report(what: &str, guests: usize, nodes: usize, r: &Run) {
    let line = format!(
        "bench-api: run={what} guests={guests} nodes={nodes} wall_s={:.2} requests={} \
         requests_per_guest={:.2} ssh={}",
        r.wall.as_secs_f64(),
        r.requests.len(),
        r.requests.len() as f64 / guests as f64,
        r.ssh
    );
    eprintln!("{line}");
}

/// Build `guests` clones (and the templates) on `nodes` nodes, check where they
/// went, then the no-op; both runs reported.
fn build_and_rebuild(guests: usize, nodes: usize) {
    let Some(s) = generated_site(guests, nodes) else {
        return;
    };
    let total = guests + TEMPLATES;
    let build = build_all(&s);
    assert_eq!(s.api.violations(), "", "requests the API would refuse");
    let state = s.api.state();
    let placed: BTreeMap<&str, &str> = state["guests"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(id, g)| (id.as_str(), g["node"].as_str().unwrap_or("?")))
        .collect();
    let defs: Value = serde_json::from_str(
        &std::fs::read_to_string(s.site.defs.join("phoenix_lxc_configs.json")).unwrap(),
    )
    .unwrap();
    let ids: Vec<&String> = defs["lxc_configs"].as_object().unwrap().keys().collect();
    assert_eq!(ids.len(), total);
    let missing: Vec<&&String> = ids
        .iter()
        .filter(|id| !placed.contains_key(id.as_str()))
        .collect();
    assert!(missing.is_empty(), "not in the cluster: {missing:?}");
    assert_eq!(placed.len(), total, "guests nobody defined: {placed:?}");
    let mut per_node: BTreeMap<&str, usize> = BTreeMap::new();
    for node in placed.values() {
        *per_node.entry(node).or_default() += 1;
    }
    let want: BTreeSet<String> = (1..=nodes).map(|i| format!("pve{i}")).collect();
    let used: BTreeSet<String> = per_node.keys().map(ToString::to_string).collect();
    assert_eq!(used, want, "nodes used: {per_node:?}");
    // Same memory, same guest size: placement by free memory spreads them evenly.
    let fair = total / nodes;
    assert!(
        per_node.values().all(|&n| n + 1 >= fair && n <= fair + 2),
        "uneven placement of {total} guests: {per_node:?}"
    );
    report("build", total, nodes, &build);
    eprintln!("bench-api: requests by kind {:?}", kinds(&build.requests));
    eprintln!(
        "bench-api: ssh by command {:?}",
        ssh_kinds(&s.api.ssh_log())
    );
    eprintln!("bench-api: placement {per_node:?}");

    let noop = build_all(&s);
    assert_eq!(
        noop.requests.len(),
        1,
        "a no-op is one request: {:#?}",
        noop.requests
    );
    assert_eq!(noop.requests[0]["path"], "/cluster/resources");
    assert_eq!(noop.ssh, 0, "a no-op goes to no node");
    report("no-op", total, nodes, &noop);
}

/// How many requests of each kind (`GET /nodes/{node}/lxc/{id}/status/current`),
/// most first.
fn kinds(requests: &[Value]) -> Vec<(String, usize)> {
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for r in requests {
        let path = r["path"].as_str().unwrap_or_default();
        let shape: Vec<&str> = path
            .split('/')
            .map(|p| match p {
                _ if p.starts_with("pve") && p[3..].parse::<u32>().is_ok() => "{node}",
                _ if p.starts_with("UPID") => "{upid}",
                _ if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => "{id}",
                _ => p,
            })
            .collect();
        *count
            .entry(format!(
                "{} {}",
                r["method"].as_str().unwrap_or("?"),
                shape.join("/")
            ))
            .or_default() += 1;
    }
    most_first(count)
}

/// How many ssh calls ran each command (its first words), most first.
fn ssh_kinds(calls: &[(String, String)]) -> Vec<(String, usize)> {
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for (_, cmd) in calls {
        // The tool and its subcommand; a path or a number is left out.
        let words: Vec<&str> = cmd
            .split_whitespace()
            .map(|w| w.trim_matches('\''))
            .take(2)
            .take_while(|w| !w.contains('/') && w.parse::<u64>().is_err())
            .collect();
        *count.entry(words.join(" ")).or_default() += 1;
    }
    most_first(count)
}

fn most_first(count: BTreeMap<String, usize>) -> Vec<(String, usize)> {
    let mut list: Vec<(String, usize)> = count.into_iter().collect();
    list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    list
}

/// The count in `var`, else `default`.
fn env_count(var: &str, default: usize) -> usize {
    match std::env::var(var) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{var}={v} is not a count")),
        Err(_) => default,
    }
}

#[test]
fn forty_guests_on_ten_nodes_build_and_rebuild_as_one_request() {
    build_and_rebuild(40, 10);
}

#[test]
#[ignore = "a benchmark: scripts/bench-api.sh runs it"]
fn bench_a_thousand_guests_on_ten_nodes() {
    let guests = env_count("PHOENIX_BENCH_GUESTS", 1000);
    let nodes = env_count("PHOENIX_BENCH_NODES", 10);
    assert!(
        (1..=250).contains(&nodes),
        "PHOENIX_BENCH_NODES={nodes}: 1 to 250 nodes"
    );
    build_and_rebuild(guests, nodes);
}
