//! Issue 15: losing or damaging the cache never costs a guest. The guests' stamps
//! are the source of truth for what they were built with; the cache is a cache.
//!
//! Each case builds, does its damage (the journal removed, cut short, zeroed,
//! emptied, a record garbled, the simulated host wiped, restored from an older
//! copy, or killed with phoenix), then builds twice, and checks that no guest that
//! did not change is destroyed or created again and that the second build runs
//! nothing. On the sim backend (the tree of `build_sim`: 900 → 901 → 910,
//! 900 → 902 → 920), and the journal cases on real LXC where the machine allows.

mod host;
mod lxc;

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::build_sim::{SimSite, tree};
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
