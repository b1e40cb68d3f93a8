//! Issue 15: losing or damaging the cache never costs a guest. The guests' stamps
//! are the source of truth for what they were built with; the cache is a cache.
//!
//! Each case builds, does its damage (the journal removed, cut short, zeroed,
//! emptied, a record garbled, the simulated host wiped, restored from an older
//! copy, or killed with phoenix), then builds twice, and checks that no guest that
//! did not change is destroyed or created again and that the second build runs
//! nothing. On the sim backend (the tree of `build_sim`: 900 → 901 → 910,
//! 900 → 902 → 920), and the journal cases on real LXC where the machine allows.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::build_sim::{SimSite, tree};
use crate::helpers::lxc::{BRIDGE, GATEWAY, LxcSite, addr};
use crate::helpers::{Output, Site, phoenix, set_field};

const GUESTS: [&str; 5] = ["ct:900", "ct:901", "ct:902", "ct:910", "ct:920"];

fn journal(site: &Site) -> PathBuf {
    site.cache.join("journal")
}

/// Every `create` and `destroy` in the sim's ops log from entry `from` on.
fn recreations(t: &SimSite, from: usize) -> Vec<String> {
    t.ops()
        .into_iter()
        .skip(from)
        .filter(|o| o.op == "create" || o.op == "destroy")
        .map(|o| format!("{} {}", o.op, o.node))
        .collect()
}

/// A build that ran nothing: every guest fresh.
#[track_caller]
fn assert_no_op(out: &Output) {
    let s = out.summary();
    assert_eq!(s["steps_run"], 0, "{}\n{}", out.stdout, out.stderr);
    for n in GUESTS {
        assert_eq!(s["nodes"][n], "fresh", "{n}: {}", out.stdout);
    }
}

/// Build everything, do `damage` to the cache, then build twice: no guest is
/// destroyed or created again, neither build runs a step (the stamps prove every
/// guest fresh), and the second has nothing left to warn about. The outputs of
/// the two builds after the damage.
fn damage_the_cache(t: &SimSite, damage: impl FnOnce(&SimSite)) -> (Output, Output) {
    t.build(&["all"]).success();
    let before = t.ops().len();
    damage(t);
    let first = t.build(&["all"]).success();
    let second = t.build(&["all"]).success();
    let touched = recreations(t, before);
    assert!(
        touched.is_empty(),
        "guests destroyed or created again after the damage: {touched:?}\n{}",
        first.stderr
    );
    assert_no_op(&first);
    assert_no_op(&second);
    assert!(
        !second.stderr.contains("warning"),
        "the damage is warned about once: {}",
        second.stderr
    );
    (first, second)
}

/// `phoenix status` rows of the guests.
fn status_rows(t: &SimSite) -> Vec<String> {
    let out = t.phoenix().args(["status"]).run().success();
    out.stdout
        .lines()
        .filter(|l| GUESTS.iter().any(|g| l.starts_with(g)))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_removed_journal_costs_no_guest_and_no_step() {
    let t = tree();
    let (first, _) = damage_the_cache(&t, |t| {
        std::fs::remove_file(journal(t)).unwrap();
        // Before any build: status and plan see the guests as their stamps say.
        let rows = status_rows(t);
        assert_eq!(rows.len(), 5, "{rows:?}");
        for row in &rows {
            assert!(
                row.contains("fresh") && row.contains("recovered from guest stamps"),
                "{row}"
            );
        }
        let explain = t.phoenix().args(["explain", "910"]).run().success();
        assert!(
            explain.stdout.starts_with("ct:910 svc-a: fresh")
                && explain
                    .stdout
                    .contains("recovered from the guest's stamp: "),
            "{}",
            explain.stdout
        );
        let plan = t.plan(&["all"]);
        for a in plan["actions"].as_array().unwrap() {
            assert_eq!(a["action"], "fresh", "{a}");
            assert_eq!(
                a["reasons"][0],
                "no record in the state directory: recovered from the guest's stamp"
            );
        }
    });
    assert!(
        first
            .stderr
            .contains("note: recovered from guest stamps: ct:900"),
        "{}",
        first.stderr
    );
    // The build kept the rebuilt records: status still says where they came from.
    for row in status_rows(&t) {
        assert!(row.contains("recovered from guest stamps"), "{row}");
    }
}

/// A build appends a line per step; when it ends, the journal keeps only each
/// node's newest line, so the commands after it read one record per node. The
/// records read the same, and a build that changes nothing leaves the file alone.
#[test]
fn a_build_leaves_one_journal_line_per_node() {
    let t = tree();
    t.build(&["all"]).success();
    let text = std::fs::read_to_string(journal(&t)).unwrap();
    let nodes: Vec<String> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["node"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let mut distinct = nodes.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(nodes.len(), distinct.len(), "{nodes:?}");
    for g in GUESTS {
        assert!(nodes.iter().any(|n| n == g), "{g} has no line: {nodes:?}");
    }
    let status = status_rows(&t);
    assert!(status.iter().all(|r| r.contains("fresh")), "{status:?}");
    assert_no_op(&t.build(&["all"]).success());
    assert_eq!(std::fs::read_to_string(journal(&t)).unwrap(), text);
}

#[test]
fn a_journal_cut_short_costs_no_guest() {
    let t = tree();
    let (first, _) = damage_the_cache(&t, |t| {
        let len = std::fs::metadata(journal(t)).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(journal(t))
            .unwrap()
            .set_len(len / 2)
            .unwrap();
    });
    assert!(
        first.stderr.contains("line at byte offset") && first.stderr.contains("cut short"),
        "{}",
        first.stderr
    );
}

#[test]
fn a_journal_of_zero_bytes_costs_no_guest() {
    let t = tree();
    let (first, _) = damage_the_cache(&t, |t| {
        let len = std::fs::metadata(journal(t)).unwrap().len();
        std::fs::write(journal(t), vec![0u8; usize::try_from(len).unwrap()]).unwrap();
    });
    assert!(
        first.stderr.contains("line at byte offset 0: ")
            && first.stderr.contains("zero bytes, not a record"),
        "{}",
        first.stderr
    );
}

#[test]
fn an_empty_journal_costs_no_guest() {
    let t = tree();
    damage_the_cache(&t, |t| std::fs::write(journal(t), b"").unwrap());
}

/// The last record of ct:910 garbled (its node name still readable): the warning
/// names the line's offset, 910 falls back to its record before, which its stamp
/// overrules.
#[test]
fn a_garbled_journal_line_is_skipped_with_a_warning_naming_its_offset() {
    let t = tree();
    let mut offset = 0;
    let (first, _) = damage_the_cache(&t, |t| {
        let text = std::fs::read_to_string(journal(t)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let last = lines
            .iter()
            .rposition(|l| l.contains("\"node\":\"ct:910\""))
            .unwrap();
        let mut out = String::new();
        for (i, line) in lines.iter().enumerate() {
            if i == last {
                offset = out.len();
                out.push_str(&line.replacen("\"steps\":[", "\"steps\":7,\"x\":[", 1));
            } else {
                out.push_str(line);
            }
            out.push('\n');
        }
        std::fs::write(journal(t), out).unwrap();
    });
    assert!(
        first
            .stderr
            .contains(&format!("journal: line at byte offset {offset}: ")),
        "{}",
        first.stderr
    );
}

/// A garbled record file (after the journal was folded into the node files).
#[test]
fn a_garbled_record_file_costs_no_guest() {
    let t = tree();
    let (first, _) = damage_the_cache(&t, |t| {
        phoenix::state::StateDir::new(&t.cache).compact().unwrap();
        std::fs::write(t.cache.join("nodes/ct-920.json"), b"{\"version\": 1, \"no").unwrap();
    });
    assert!(
        first.stderr.contains("nodes/ct-920.json"),
        "{}",
        first.stderr
    );
}

/// Issue 15 item 5: after the simulated host is wiped, `plan`, `explain` and
/// `graph --state` with `--backend sim` say what the build will do: create them
/// all. They used to say fresh, from the recorded state.
#[test]
fn with_a_backend_named_plan_explain_and_graph_look_at_its_host() {
    let t = tree();
    t.build(&["all"]).success();
    std::fs::remove_dir_all(&t.sim).unwrap();
    let plan = t.plan(&["all"]);
    for a in plan["actions"].as_array().unwrap() {
        assert_eq!(a["action"], "create", "{a}");
    }
    let explain = t.phoenix().args(["explain", "910"]).run().success();
    assert!(
        explain.stdout.starts_with("ct:910 svc-a: create"),
        "{}",
        explain.stdout
    );
    let graph = t.phoenix().args(["graph", "--state"]).run().success();
    assert!(
        graph.stdout.contains("[missing]") && !graph.stdout.contains("[fresh]"),
        "{}",
        graph.stdout
    );
    // Without a backend named they still show the recorded state.
    let recorded = phoenix()
        .defs(&t.defs)
        .cache(&t.cache)
        .args(["plan", "all", "--output", "json"])
        .run()
        .success()
        .json();
    assert!(
        recorded["actions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["action"] == "fresh")
    );
    let out = t.build(&["all"]).success();
    for n in GUESTS {
        assert_eq!(out.summary()["nodes"][n], "built");
    }
    assert_no_op(&t.build(&["all"]).success());
}

/// Issue 15 item 9: the host restored from an older copy, so each guest's stamp is
/// older than the record of the last build: the plan compares them, and a guest
/// whose stamp differs is stale, planned from what its stamp proves.
#[test]
fn a_stamp_that_differs_from_the_record_is_stale() {
    let t = tree();
    t.build(&["all"]).success();
    let backup = std::fs::read(t.sim.join("guests.json")).unwrap();
    std::fs::write(t.defs.join("apps/app.sh"), "#!/bin/sh\necho app v2\n").unwrap();
    t.build(&["all"]).success();
    std::fs::write(t.sim.join("guests.json"), backup).unwrap();
    let before = t.ops().len();

    let plan = t.plan(&["all"]);
    for a in plan["actions"].as_array().unwrap() {
        if a["node"] == "ct:910" || a["node"] == "ct:920" {
            assert_eq!(a["action"], "rerun-app", "{a}");
            assert_eq!(
                a["reasons"][0],
                "stamp on guest differs from the record: recovered from the guest's stamp"
            );
        } else {
            assert_eq!(a["action"], "fresh", "{a}");
        }
    }
    let out = t.build(&["all"]).success();
    assert_eq!(out.steps_of("ct:910"), ["start", "app"]);
    assert_eq!(out.steps_of("ct:920"), ["start", "app"]);
    assert!(recreations(&t, before).is_empty());
    assert_no_op(&t.build(&["all"]).success());
}

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

/// With the cache lost, changed definitions are planned from the stamps as they
/// are from the records: a settings change updates, a changed template feature
/// rolls the template back and replaces its clone (with consent), and the rest
/// is left alone.
#[test]
fn after_a_lost_cache_changes_are_planned_as_with_the_cache() {
    let t = tree();
    t.build(&["all"]).success();
    set_field(&t.defs, "920", "memory_mb", json!(1024));
    std::fs::write(
        t.defs.join("features/lxc/gpu.sh"),
        "#!/bin/sh\necho gpu v2\n",
    )
    .unwrap();
    let actions = |plan: &Value| -> Vec<(String, String, Value)> {
        plan["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["node"].as_str().unwrap().to_string(),
                    a["action"].as_str().unwrap().to_string(),
                    a["steps"].clone(),
                )
            })
            .collect()
    };
    let with_cache = actions(&t.plan(&["all"]));
    std::fs::remove_file(journal(&t)).unwrap();
    let without = actions(&t.plan(&["all"]));
    assert_eq!(with_cache, without);
    let by_node: Vec<(&str, &str)> = without
        .iter()
        .map(|(n, a, _)| (n.as_str(), a.as_str()))
        .collect();
    assert_eq!(
        by_node,
        [
            ("ct:900", "fresh"),
            ("ct:901", "resume"),
            ("ct:902", "fresh"),
            ("ct:910", "replace"),
            ("ct:920", "update")
        ]
    );
    let explain = t.phoenix().args(["explain", "901"]).run().success();
    assert!(
        explain.stdout.lines().any(|l| l.contains("feature:gpu")
            && l.contains("stale (the inputs it was built from were not recorded)")),
        "{}",
        explain.stdout
    );
    let before = t.ops().len();
    let out = t.build(&["all", "--allow-replace"]).success();
    assert_eq!(out.steps_of("ct:901")[0], "rollback:pre-gpu");
    assert_eq!(out.steps_of("ct:920"), ["configure"]);
    assert_eq!(
        recreations(&t, before),
        ["destroy ct:910", "create ct:910"],
        "only the clone of the changed template is made again"
    );
    assert_no_op(&t.build(&["all"]).success());
}

/// The journal cases on real LXC containers: the journal removed, then garbled;
/// each time the next two builds create nothing and the containers keep what was
/// put in them. Needs root, the LXC tools, busybox and the tests' bridge
/// (`phxtest0`, see [`crate::helpers::lxc`]); skipped without.
#[test]
fn real_lxc_containers_survive_a_lost_or_garbled_journal() {
    let Some(site) = lxc_site() else { return };
    let canary = site.lxcpath.join("phxs-910/rootfs/root/canary");
    site.build(&["all"]).success();
    std::fs::write(&canary, "kept").unwrap();

    std::fs::remove_file(journal(&site)).unwrap();
    for _ in 0..2 {
        let out = site.build(&["all"]).success();
        assert_eq!(
            out.summary()["steps_run"],
            0,
            "{}\n{}",
            out.stdout,
            out.stderr
        );
    }

    let text = std::fs::read_to_string(journal(&site)).unwrap();
    std::fs::write(journal(&site), text.replace("\"steps\":[", "\"steps\":{")).unwrap();
    let out = site.build(&["all"]).success();
    assert!(out.stderr.contains("line at byte offset"), "{}", out.stderr);
    assert_eq!(out.summary()["steps_run"], 0, "{}", out.stdout);
    let out = site.build(&["all"]).success();
    assert_eq!(out.summary()["steps_run"], 0, "{}", out.stdout);
    assert_eq!(std::fs::read_to_string(&canary).unwrap(), "kept");
    let stamp = std::fs::read_to_string(site.lxcpath.join("phxs-910/phoenix-stamp")).unwrap();
    assert!(
        stamp.starts_with("built:") && stamp.lines().count() > 1,
        "the stamp file carries its proof: {stamp}"
    );
}

/// A small tree of two real containers (a template and its clone) on the tests'
/// network, with addresses and a prefix (`phxs-`) of their own, so it runs beside
/// the other real-LXC tests and never meets the bundled demo's.
fn lxc_site() -> Option<LxcSite> {
    LxcSite::new("phxs-", None, || {
        let site = Site::empty();
        let ct = |name: &str, n: u8, extra: Value| {
            let mut v = json!({
                "name": name, "memory_mb": 256, "cores": 1, "storage_pool": "local-lvm", "storage_size_gb": 4,
                "network_config": {"name": "eth0", "bridge": BRIDGE, "ip": format!("{}/24", addr(n)), "gw": GATEWAY},
                "mac_address": format!("52:54:00:15:00:{n:02x}"), "unprivileged": true
            });
            for (k, x) in extra.as_object().unwrap() {
                v[k] = x.clone();
            }
            v
        };
        let lxc = json!({"lxc_configs": {
            "900": ct("base", 241, json!({"template": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", "template_snapshot_name": "base", "features": ["base_setup"]})),
            "910": ct("svc", 242, json!({"clone_from_ctid": "900", "application_script": "app.sh"})),
        }});
        let defs = &site.defs;
        std::fs::create_dir_all(defs.join("features/lxc")).unwrap();
        std::fs::create_dir_all(defs.join("apps")).unwrap();
        std::fs::write(defs.join("phoenix_lxc_configs.json"), lxc.to_string()).unwrap();
        std::fs::write(
            defs.join("phoenix_hypervisor_config.json"),
            r#"{"version": "1"}"#,
        )
        .unwrap();
        std::fs::write(
            defs.join("features/lxc/base_setup.sh"),
            "#!/bin/sh\necho base > /root/base\n",
        )
        .unwrap();
        std::fs::write(
            defs.join("apps/app.sh"),
            "#!/bin/sh\necho app > /root/app\n",
        )
        .unwrap();
        site
    })
}
