//! End to end on real LXC containers: the bundled demo built once, then operated:
//! `stop all` stops every container, `start all` starts the services and leaves
//! the templates stopped (and the services answer again), `stop 103` stops what
//! depends on 103 first and leaves 950 running, `destroy all --yes` cleans up.
//!
//! On the tests' network, under an LXC path and prefix (`phxp-`) of its own, one
//! at a time with the other tests on the bundled guests' addresses (`e2e_lxc`'s
//! lock); skipping, or failing in CI, as `e2e_lxc` does.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::e2e_lxc::serial;
use crate::helpers::lxc::{LxcSite, socket, to_test_net};
use crate::helpers::{Output, Site, update_json};

fn site() -> Option<LxcSite> {
    LxcSite::new("phxp-", Some(serial()), || {
        let site = Site::bundled();
        to_test_net(&site.defs);
        site
    })
}

const SERVICES: [u32; 4] = [101, 102, 103, 950];
const TEMPLATES: [u32; 4] = [900, 901, 902, 920];

fn run(site: &LxcSite, args: &[&str]) -> Output {
    site.phoenix().args(args).args(["--output", "json"]).run()
}

fn running(site: &LxcSite, id: u32) -> bool {
    site.state(&site.name(id)).contains("RUNNING")
}

/// The order in which guests finished, by the run's `node_finished` events.
fn finished(out: &Output, outcome: &str) -> Vec<String> {
    out.events()
        .iter()
        .filter(|e| e["event"] == "node_finished" && e["outcome"] == outcome)
        .map(|e| e["node"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The first line of what `addr` answers to `GET /`, retried for a few seconds.
fn answers(addr: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(mut s) =
            TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(2))
        {
            let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
            let _ = s.write_all(b"GET / HTTP/1.0\r\n\r\n");
            let mut body = String::new();
            let _ = s.read_to_string(&mut body);
            if body.starts_with("HTTP/1") {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    false
}

#[test]
fn the_bundled_demo_stops_and_starts_in_dependency_and_boot_order() {
    let Some(site) = site() else { return };
    let t0 = Instant::now();
    site.build(&["all"]).success();
    eprintln!("build all: {:.1}s", t0.elapsed().as_secs_f64());
    for id in SERVICES {
        assert!(running(&site, id), "{id} runs after the build");
    }

    // stop all: every container (the templates' snapshots never ran).
    let t = Instant::now();
    let out = run(&site, &["stop", "all", "--timeout", "20"]).success();
    eprintln!("stop all: {:.1}s", t.elapsed().as_secs_f64());
    for name in site.containers() {
        assert!(
            site.state(&name).contains("STOPPED"),
            "{name}: {}",
            site.state(&name)
        );
    }
    let stopped = finished(&out, "stopped");
    let at = |id: &str| stopped.iter().position(|n| n == id);
    // 102 depends on 101, 101 on 103.
    assert!(
        at("ct:102") < at("ct:101") && at("ct:101") < at("ct:103"),
        "{stopped:?}"
    );
    // The VMs: not run by plain LXC, not a failure.
    assert_eq!(out.summary()["nodes"]["vm:1001"], "skipped");

    // start all: the services, in order; the templates stay stopped.
    let t = Instant::now();
    let out = run(&site, &["start", "all", "--no-boot-delay"]).success();
    eprintln!("start all: {:.1}s", t.elapsed().as_secs_f64());
    let started = finished(&out, "started");
    let at = |id: &str| started.iter().position(|n| n == id);
    assert!(
        at("ct:103") < at("ct:101") && at("ct:101") < at("ct:102"),
        "{started:?}"
    );
    assert!(at("ct:950").is_some(), "{started:?}");
    for id in SERVICES {
        assert!(running(&site, id), "{id} runs after start all");
    }
    for id in TEMPLATES {
        assert!(!running(&site, id), "template {id} stays stopped");
        let node = format!("ct:{id}");
        assert_eq!(out.summary()["nodes"][&node], Value::from("unchanged"));
    }
    // The services came back with their guests (boot.d): the proxy copies 101.
    assert!(
        answers(&socket(102, 8080)),
        "102's proxy answers after start all"
    );

    // Every service's health checks pass on demand.
    let out = run(&site, &["check", "all"]).success();
    assert!(
        out.stderr.is_empty(),
        "all pass: nothing on stderr: {}",
        out.stderr
    );

    // stop 103: what needs it (102 through 101, 101), then 103; 950 runs on.
    let out = run(&site, &["stop", "103"]).success();
    assert_eq!(finished(&out, "stopped"), ["ct:102", "ct:101", "ct:103"]);
    for id in [101, 102, 103] {
        assert!(!running(&site, id), "{id} stopped");
    }
    assert!(running(&site, 950), "950 needs nothing of 103");

    // A health check made to fail: exit 1, and the check and its guest named.
    update_json(&site.defs.join("phoenix_lxc_configs.json"), |v| {
        v["lxc_configs"]["950"]["health_checks"][0]["args"][1] = "8001".into();
    });
    let out = run(&site, &["check", "950", "--timeout", "30"]).code(1);
    let row = out
        .stdout
        .lines()
        .find(|l| l.contains("ct:950") && l.contains("fail"))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(row.contains("api"), "{row}");

    let out = site
        .phoenix()
        .args(["destroy", "all", "--yes"])
        .run()
        .success();
    assert!(site.containers().is_empty(), "{}", out.stdout);
    eprintln!("whole test: {:.1}s", t0.elapsed().as_secs_f64());
}
