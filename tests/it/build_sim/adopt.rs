//! `phoenix adopt` and drift on the sim backend, end to end through the CLI: a
//! host whose guests another tool built (no stamps, no cache) is adopted, and the
//! next build changes exactly what differs; managed guests changed by hand are
//! reported by `status --live` and brought back by `build --refresh`, or left
//! with `--keep-drift`.

use std::path::Path;

use phoenix::backend::sim::{Sim, SimOptions, settings_of};
use phoenix::graph::NodeId;
use serde_json::{Value, json};

use super::{SimSite, ct, site, tree};

fn sim(dir: &Path) -> Sim {
    Sim::new(dir, SimOptions::default()).unwrap()
}

/// Every guest on the simulated host loses its stamp, and the cache goes: the
/// host as the tool that built it left it.
fn built_by_someone_else(t: &SimSite) {
    let path = t.sim.join("guests.json");
    let mut guests: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for g in guests.as_array_mut().unwrap() {
        g["stamp"] = json!("");
    }
    std::fs::write(&path, guests.to_string()).unwrap();
    std::fs::remove_dir_all(&t.cache).unwrap();
}

/// The plan's actions that are not `fresh`, as (node, action, steps).
fn pending(t: &SimSite, extra: &[&str]) -> Vec<(String, String, Vec<String>, Vec<String>)> {
    let plan = t
        .phoenix()
        .args(["plan", "all", "--output", "json"])
        .args(extra)
        .run()
        .success()
        .json();
    plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] != "fresh")
        .map(|a| {
            let strings = |v: &Value| -> Vec<String> {
                v.as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s.as_str().unwrap().to_string())
                    .collect()
            };
            (
                a["node"].as_str().unwrap().to_string(),
                a["action"].as_str().unwrap().to_string(),
                strings(&a["steps"]),
                strings(&a["reasons"]),
            )
        })
        .collect()
}

#[test]
fn a_host_built_by_another_tool_is_adopted_and_the_next_build_changes_only_what_differs() {
    let t = tree();
    t.build(&["all"]).success();
    built_by_someone_else(&t);
    sim(&t.sim)
        .edit_setting(NodeId::Ct(920), "memory_mb", Some("1024"))
        .unwrap();
    // Without phoenix's stamps a build touches nothing.
    let plan = t.plan(&["all"]);
    assert_eq!(plan["foreign"].as_array().unwrap().len(), 5, "{plan}");

    // Without --yes and without a terminal: the table, and nothing recorded.
    let dry = t.phoenix().args(["adopt", "all"]).run().success();
    assert!(
        dry.stdout.contains("ct:920 (svc-b): adopt"),
        "{}",
        dry.stdout
    );
    assert!(dry.stdout.contains("nothing recorded"), "{}", dry.stdout);
    let line = dry
        .stdout
        .lines()
        .find(|l| l.contains("memory_mb") && l.contains("differs"))
        .unwrap_or_else(|| panic!("{}", dry.stdout));
    assert!(line.contains("1024") && line.contains("512"), "{line}");
    assert!(dry.stdout.contains("feature:docker"), "{}", dry.stdout);
    assert_eq!(t.plan(&["all"])["foreign"].as_array().unwrap().len(), 5);
    let ops = t.ops().len();

    let out = t
        .phoenix()
        .args(["adopt", "all", "--yes", "--output", "json"])
        .run()
        .success();
    let lines: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5, "{}", out.stdout);
    assert!(
        lines
            .iter()
            .all(|l| l["verdict"] == "adopt" && l["adopted"] == true)
    );
    // Adoption changes nothing but the stamps.
    let new_ops: Vec<String> = t.ops()[ops..].iter().map(|o| o.op.clone()).collect();
    assert_eq!(new_ops.len(), 5, "{new_ops:?}");
    assert!(new_ops.iter().all(|o| o == "adopt"), "{new_ops:?}");

    // The next build: one settings update, on 920, and nothing else.
    let todo = pending(&t, &[]);
    assert_eq!(todo.len(), 1, "{todo:?}");
    let (node, action, steps, reasons) = &todo[0];
    assert_eq!((node.as_str(), action.as_str()), ("ct:920", "update"));
    assert_eq!(steps, &["configure"]);
    assert!(
        reasons[0].contains("memory_mb") && reasons[0].contains("1024"),
        "{reasons:?}"
    );
    let out = t.build(&["all"]).success();
    assert_eq!(out.summary()["steps_run"], 1, "{}", out.stdout);
    assert!(pending(&t, &[]).is_empty());
    assert_eq!(t.build(&["all"]).success().summary()["steps_run"], 0);
    // And the host has the definition's memory.
    let g920 = t
        .host()
        .into_iter()
        .find(|g| g["node"] == "ct:920")
        .unwrap();
    assert_eq!(g920["config"]["memory_mb"], "512", "{g920}");
}

#[test]
fn rerun_features_leaves_the_features_to_the_next_build() {
    let t = tree();
    t.build(&["all"]).success();
    built_by_someone_else(&t);
    t.phoenix()
        .args(["adopt", "910", "--yes", "--rerun-features"])
        .run()
        .success();
    // 910's chain (900, 901): their features and what follows run; 910 has no
    // feature, so its application stays as adopted.
    let todo = pending(&t, &["910"]);
    let nodes: Vec<&str> = todo.iter().map(|(n, ..)| n.as_str()).collect();
    assert_eq!(nodes, ["ct:900", "ct:901"], "{todo:?}");
    assert!(todo.iter().all(|(_, a, ..)| a == "resume"), "{todo:?}");
    assert!(
        todo[0].2.contains(&"feature:base_setup".to_string()),
        "{todo:?}"
    );
    assert!(
        !todo[0].2.contains(&"define".to_string()),
        "nothing re-created"
    );
    // 902 and 920 were not among the targets: still another tool's.
    let plan = t.plan(&["all"]);
    let foreign: Vec<&str> = plan["foreign"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(foreign, ["ct:902", "ct:920"]);
}

#[test]
fn a_guest_of_the_other_kind_or_another_template_flag_is_refused() {
    let t = site(
        &json!({
            "950": ct("svc", 50, &json!({"template": "local:vztmpl/x.tar.zst"})),
            "951": ct("tpl", 51, &json!({"template": "local:vztmpl/x.tar.zst", "is_template": true})),
        }),
        &[],
    );
    let (defs, _) = phoenix::defs::load(&t.defs);
    let host = sim(&t.sim);
    host.place_foreign(NodeId::Vm(950), settings_of(defs.guest(950).unwrap()))
        .unwrap();
    // 951 is defined as a converted template; the host's is a plain container.
    host.place_foreign(NodeId::Ct(951), settings_of(defs.guest(951).unwrap()))
        .unwrap();
    drop(host);
    let out = t.phoenix().args(["adopt", "all", "--yes"]).run().code(1);
    let said = |node: &str| {
        out.stdout
            .lines()
            .find(|l| l.starts_with(node))
            .unwrap_or_else(|| panic!("{node}: {}", out.stdout))
            .to_string()
    };
    assert!(
        said("ct:950").contains("refused: ID 950 holds a VM on the host (vm:950)"),
        "{}",
        out.stdout
    );
    let tpl = said("ct:951");
    assert!(tpl.contains("refused") && tpl.contains("template"), "{tpl}");
    assert!(tpl.contains("replace"), "{tpl}");
    // Nothing was stamped or recorded.
    let plan = t.plan(&["all"]);
    let mut foreign: Vec<&str> = plan["foreign"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    foreign.sort_unstable();
    assert_eq!(
        foreign,
        ["ct:951"],
        "vm:950 is not among the definitions' nodes"
    );
    assert!(t.ops().iter().all(|o| o.op != "adopt"));
}

#[test]
fn drift_is_shown_live_restored_by_a_refreshing_build_or_kept() {
    let t = tree();
    t.build(&["all"]).success();
    let host = sim(&t.sim);
    host.edit_setting(NodeId::Ct(910), "memory_mb", Some("2048"))
        .unwrap();
    drop(host);
    // Offline, as before: nothing to do.
    assert!(pending(&t, &[]).is_empty());
    let status = t.phoenix().args(["status", "--live"]).run().success();
    let line = status
        .stdout
        .lines()
        .find(|l| l.starts_with("ct:910") && l.contains("memory_mb"))
        .unwrap_or_else(|| panic!("{}", status.stdout));
    assert!(line.contains("512") && line.contains("2048"), "{line}");

    let todo = pending(&t, &["--refresh"]);
    assert_eq!(todo.len(), 1, "{todo:?}");
    assert_eq!(todo[0].1, "update");
    assert_eq!(
        todo[0].3,
        ["memory_mb changed outside phoenix: 512 → 2048; update restores 512"]
    );

    let kept = t.build(&["all", "--refresh", "--keep-drift"]).success();
    assert_eq!(kept.summary()["steps_run"], 0);
    assert!(
        kept.stderr
            .contains("ct:910 changed outside phoenix and is left as it is"),
        "{}",
        kept.stderr
    );

    let out = t.build(&["all", "--refresh"]).success();
    assert_eq!(out.summary()["steps_run"], 1, "{}", out.stdout);
    let status = t.phoenix().args(["status", "--live"]).run().success();
    assert!(status.stdout.contains("no drift"), "{}", status.stdout);
}

#[test]
fn a_guest_stopped_or_deleted_by_hand_is_started_or_created_again() {
    let t = tree();
    t.build(&["all"]).success();
    let path = t.sim.join("guests.json");
    let mut guests: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let list = guests.as_array_mut().unwrap();
    for g in list.iter_mut().filter(|g| g["node"] == "ct:920") {
        g["running"] = json!(false);
    }
    list.retain(|g| g["node"] != "ct:910");
    std::fs::write(&path, guests.to_string()).unwrap();

    let status = t.phoenix().args(["status", "--live"]).run().success();
    let has = |node: &str, what: &str| {
        status
            .stdout
            .lines()
            .any(|l| l.starts_with(node) && l.contains(what))
    };
    assert!(has("ct:920", "stopped"), "{}", status.stdout);
    assert!(
        has("ct:910", "deleted outside phoenix"),
        "{}",
        status.stdout
    );
    let todo = pending(&t, &["--refresh"]);
    let find = |n: &str| todo.iter().find(|(node, ..)| node == n).unwrap();
    assert_eq!(find("ct:910").1, "create");
    assert!(find("ct:910").3[0].starts_with("missing (deleted outside phoenix)"));
    assert_eq!(find("ct:920").1, "update");
    t.build(&["all", "--refresh"]).success();
    let host = sim(&t.sim);
    let inv = phoenix::backend::Backend::inventory(&host).unwrap();
    assert!(inv[&NodeId::Ct(920)].running && inv[&NodeId::Ct(910)].running);
}
