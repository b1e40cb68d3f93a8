//! The shell tool's real definition files: they load unchanged, their graphs are
//! right, and plans against recorded state say the right thing.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use phoenix::defs::Severity;
use phoenix::state::{NodeRecord, StateDir};
use serde_json::Value;

use crate::helpers::{defs_with_scripts, edit, fixture, phoenix};

/// Record every node of `defs` as built with its current keys, as a build would.
pub fn record_all_built(defs: &Path, cache: &Path) {
    let loaded = phoenix::pipeline::load(defs, Severity::Error);
    assert!(!loaded.diags.has_errors(), "{:?}", loaded.diags);
    let state = StateDir::new(cache);
    let assessed = phoenix::pipeline::assess(&loaded, &[], &state).unwrap();
    for (node, keys) in &assessed.keys {
        state
            .write(&node.slug(), &NodeRecord::built(&node.to_string(), keys))
            .unwrap();
    }
}

fn plan_json(defs: &Path, cache: &Path, targets: &[&str]) -> Value {
    phoenix()
        .defs(defs)
        .cache(cache)
        .args(["plan", "--output", "json"])
        .args(targets)
        .run()
        .success()
        .json()
}

/// node → (action, key, reasons)
fn actions(plan: &Value) -> BTreeMap<String, (String, String, Vec<String>)> {
    plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let reasons = a["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_string())
                .collect();
            (
                a["node"].as_str().unwrap().to_string(),
                (
                    a["action"].as_str().unwrap().to_string(),
                    a["key"].as_str().unwrap().to_string(),
                    reasons,
                ),
            )
        })
        .collect()
}

fn edges(defs: &Path) -> BTreeSet<(String, String, String)> {
    let g = phoenix()
        .defs(defs)
        .args(["graph", "--format", "json"])
        .run()
        .success()
        .json();
    g["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["from"].as_str().unwrap().to_string(),
                e["to"].as_str().unwrap().to_string(),
                e["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn both_fixture_sets_load_unchanged() {
    for name in ["phoenix-2025-09", "phoenix-2025-11"] {
        let Some(dir) = fixture(name) else { return };
        // As they are (JSON only): graph draws them, warning about the missing scripts.
        let out = phoenix().defs(&dir).args(["graph"]).run().success();
        assert!(out.stderr.contains("warning"), "{name}: {}", out.stderr);
        assert!(out.stdout.contains("ct:900"), "{name}: {}", out.stdout);
        // validate names each missing script as an error, and nothing else.
        let out = phoenix().defs(&dir).args(["validate"]).run().code(3);
        for line in out.stderr.lines().filter(|l| l.starts_with("error:")) {
            assert!(
                line.contains("not found"),
                "{name}: unexpected error {line}"
            );
        }
        // With scripts beside a copy of the JSON, everything is valid.
        let copy = defs_with_scripts(&dir);
        let out = phoenix()
            .defs(copy.path())
            .args(["validate"])
            .run()
            .success();
        assert!(out.stdout.starts_with("ok:"), "{}", out.stdout);
    }
}

#[test]
fn fixture_2025_11_has_the_reference_edges() {
    let Some(dir) = fixture("phoenix-2025-11") else {
        return;
    };
    let e = edges(&dir);
    let has = |from: &str, to: &str, kind: &str| {
        e.contains(&(from.to_string(), to.to_string(), kind.to_string()))
    };
    // Reference §5.2: 101→900,103 · 102→900,103 · 103→900 · 801/802→911,1002 · 901→900,1002 ·
    // 910/911/912→901 · 914/917→901,1002 · 1001→9000,102 · 1002→9000,1001.
    let expected = [
        ("ct:101", "ct:900", "clone"),
        ("ct:101", "ct:103", "depends"),
        ("ct:102", "ct:900", "clone"),
        ("ct:102", "ct:103", "depends"),
        ("ct:103", "ct:900", "clone"),
        ("ct:801", "ct:911", "clone"),
        ("ct:801", "vm:1002", "depends"),
        ("ct:802", "ct:911", "clone"),
        ("ct:802", "vm:1002", "depends"),
        ("ct:901", "ct:900", "clone"),
        ("ct:901", "vm:1002", "depends"),
        ("ct:910", "ct:901", "clone"),
        ("ct:911", "ct:901", "clone"),
        ("ct:912", "ct:901", "clone"),
        ("ct:914", "ct:901", "clone"),
        ("ct:914", "vm:1002", "depends"),
        ("ct:917", "ct:901", "clone"),
        ("ct:917", "vm:1002", "depends"),
        ("vm:1001", "vm:9000", "clone"),
        ("vm:1001", "ct:102", "depends"),
        ("vm:1002", "vm:9000", "clone"),
        ("vm:1002", "vm:1001", "depends"),
    ];
    for (from, to, kind) in expected {
        assert!(has(from, to, kind), "missing edge {from} -> {to} ({kind})");
    }
    let guest_edges: Vec<_> = e.iter().filter(|(_, _, k)| k != "host").collect();
    assert_eq!(
        guest_edges.len(),
        expected.len(),
        "unexpected extra guest edges: {guest_edges:?}"
    );
    // Host edges: storage before guests, the GPU driver and device setup before GPU guests,
    // ZFS before NFS, the admin user before Samba.
    assert!(has("ct:901", "host:gpu_init", "host") && has("ct:901", "host:nvidia", "host"));
    assert!(!has("ct:103", "host:nvidia", "host"));
    assert!(has("ct:103", "host:zfs", "host"));
    assert!(
        has("host:nfs", "host:zfs", "host")
            && has("host:samba", "host:users", "host")
            && has("host:gpu_init", "host:nvidia", "host")
    );
    assert!(has("vm:1001", "host:nfs", "host"));
    // Guests whose resolver is the host (10.0.0.13) come after its DNS server;
    // the 9xx templates resolve elsewhere and do not.
    assert!(has("vm:1001", "host:dns", "host") && has("ct:103", "host:dns", "host"));
    assert!(
        !e.iter()
            .any(|(f, t, _)| f.starts_with("ct:9") && t == "host:dns")
    );
}

#[test]
fn plan_950_selects_its_chain_and_host_steps_only() {
    let Some(dir) = fixture("phoenix-2025-09") else {
        return;
    };
    let defs = defs_with_scripts(&dir);
    let cache = tempfile::tempdir().unwrap();
    let plan = plan_json(defs.path(), cache.path(), &["950"]);
    let got: Vec<String> = actions(&plan).into_keys().collect();
    let guests: Vec<&String> = got.iter().filter(|n| !n.starts_with("host:")).collect();
    assert_eq!(guests, ["ct:900", "ct:901", "ct:920", "ct:950"]);
    let hosts: BTreeSet<&str> = got.iter().filter_map(|n| n.strip_prefix("host:")).collect();
    assert_eq!(
        hosts,
        BTreeSet::from(["gpu_init", "network", "nvidia", "zfs"]),
        "950 is a GPU guest on ZFS storage"
    );
    // Every action is a create, and the order is one in which they can run.
    let order: Vec<&str> = plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["node"].as_str().unwrap())
        .collect();
    let pos = |n: &str| order.iter().position(|x| *x == n).unwrap();
    assert!(
        pos("ct:900") < pos("ct:901")
            && pos("ct:901") < pos("ct:920")
            && pos("ct:920") < pos("ct:950")
    );
    assert!(pos("host:nvidia") < pos("host:gpu_init") && pos("host:gpu_init") < pos("ct:901"));
    for a in plan["actions"].as_array().unwrap() {
        assert_eq!(a["action"], "create", "{a}");
        assert_eq!(a["key"].as_str().unwrap().len(), 64);
    }
    let ct950 = plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["node"] == "ct:950")
        .unwrap();
    assert_eq!(
        ct950["steps"],
        serde_json::json!(["define", "configure", "feature:vllm", "app"])
    );
}

#[test]
fn memory_change_plans_one_update() {
    let Some(dir) = fixture("phoenix-2025-09") else {
        return;
    };
    let defs = defs_with_scripts(&dir);
    let cache = tempfile::tempdir().unwrap();
    record_all_built(defs.path(), cache.path());
    let before = actions(&plan_json(defs.path(), cache.path(), &["950"]));
    assert!(before.values().all(|(a, _, _)| a == "fresh"), "{before:?}");

    let lxc = defs.path().join("phoenix_lxc_configs.json");
    let mut json: Value = serde_json::from_str(&std::fs::read_to_string(&lxc).unwrap()).unwrap();
    json["lxc_configs"]["950"]["memory_mb"] = 96000.into();
    std::fs::write(&lxc, serde_json::to_string_pretty(&json).unwrap()).unwrap();

    let after = actions(&plan_json(defs.path(), cache.path(), &["950"]));
    for (node, (action, key, reasons)) in &after {
        if node == "ct:950" {
            assert_eq!(action, "update");
            assert_eq!(reasons, &["memory_mb 72000 → 96000"]);
            assert_eq!(
                key, &before[node].1,
                "settings do not change the output key"
            );
        } else {
            assert_eq!(action, "fresh", "{node}");
        }
    }
    let plan = plan_json(defs.path(), cache.path(), &["950"]);
    let ct950 = plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["node"] == "ct:950")
        .unwrap();
    assert_eq!(ct950["steps"], serde_json::json!(["configure"]));

    let out = phoenix()
        .defs(defs.path())
        .cache(cache.path())
        .args(["explain", "950"])
        .run()
        .success();
    assert!(
        out.stdout.contains("memory_mb: 72000 → 96000"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("ct:950 vllm-Qwen3C-4bit: update"),
        "{}",
        out.stdout
    );
}

#[test]
fn base_setup_change_makes_every_clone_of_900_stale() {
    let Some(dir) = fixture("phoenix-2025-09") else {
        return;
    };
    let defs = defs_with_scripts(&dir);
    let cache = tempfile::tempdir().unwrap();
    record_all_built(defs.path(), cache.path());
    std::fs::write(
        defs.path().join("features/lxc/base_setup.sh"),
        "#!/bin/sh\necho changed\n",
    )
    .unwrap();
    let after = actions(&plan_json(defs.path(), cache.path(), &["all"]));
    // Every container of this set descends from 900, directly or not.
    let containers: Vec<_> = after.iter().filter(|(n, _)| n.starts_with("ct:")).collect();
    assert_eq!(containers.len(), 13);
    for (node, (action, _, reasons)) in containers {
        assert!(
            reasons
                .iter()
                .any(|r| r.contains("features/lxc/base_setup.sh changed")),
            "{node}: {reasons:?}"
        );
        if node == "ct:900" {
            assert_eq!(action, "resume", "900 rolls back to before base_setup");
            assert!(
                reasons.iter().any(|r| r.contains("rolls back")),
                "{reasons:?}"
            );
        } else {
            assert_eq!(
                action, "replace",
                "{node}: a clone of a changed template is re-cloned"
            );
            assert!(
                reasons.iter().any(|r| r.contains("clone source ct:")),
                "{node}: {reasons:?}"
            );
        }
    }
    for (node, (action, _, _)) in after.iter().filter(|(n, _)| n.starts_with("host:")) {
        assert_eq!(action, "fresh", "{node}");
    }
    // 950 is no template: building it would need --allow-replace; 920 is a template.
    let plan = plan_json(defs.path(), cache.path(), &["950"]);
    let flag = |n: &str| {
        plan["actions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["node"] == n)
            .unwrap()
            .get("needs_allow_replace")
            .cloned()
    };
    assert_eq!(flag("ct:950"), Some(Value::Bool(true)));
    assert_eq!(flag("ct:920"), None);
}

#[test]
fn vm_feature_change_touches_no_container() {
    let Some(dir) = fixture("phoenix-2025-11") else {
        return;
    };
    let defs = defs_with_scripts(&dir);
    let cache = tempfile::tempdir().unwrap();
    let before = actions(&plan_json(defs.path(), cache.path(), &["all"]));
    std::fs::write(
        defs.path().join("features/vm/docker.sh"),
        "#!/bin/sh\necho new docker\n",
    )
    .unwrap();
    let after = actions(&plan_json(defs.path(), cache.path(), &["all"]));
    for (node, (_, key, _)) in &after {
        if node.starts_with("ct:") {
            assert_eq!(
                key, &before[node].1,
                "{node} changed although only a VM script changed"
            );
        }
    }
    // ct:901 depends on vm:1002, whose features include docker: still unchanged above.
    assert_ne!(after["vm:1002"].1, before["vm:1002"].1);
    assert_ne!(after["vm:1001"].1, before["vm:1001"].1);
    assert_eq!(
        after["vm:9000"].1, before["vm:9000"].1,
        "the template has no features"
    );
}

#[test]
fn keys_ignore_formatting_and_key_order() {
    let Some(dir) = fixture("phoenix-2025-11") else {
        return;
    };
    let defs = defs_with_scripts(&dir);
    let cache = tempfile::tempdir().unwrap();
    let before = actions(&plan_json(defs.path(), cache.path(), &["all"]));
    for file in [
        "phoenix_lxc_configs.json",
        "phoenix_vm_configs.json",
        "phoenix_hypervisor_config.json",
    ] {
        let path = defs.path().join(file);
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        std::fs::write(&path, reversed(&v)).unwrap();
    }
    let after = actions(&plan_json(defs.path(), cache.path(), &["all"]));
    assert_eq!(before, after);
}

/// The same JSON with every object's keys written in reverse order, on one line.
fn reversed(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let items: Vec<String> = m
                .iter()
                .rev()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), reversed(v)))
                .collect();
            format!("{{ {} }}", items.join(" ,\n\t"))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(reversed).collect::<Vec<_>>().join(" , ")
        ),
        other => other.to_string(),
    }
}

#[test]
fn legacy_layout_is_detected() {
    let Some(dir) = fixture("phoenix-2025-11") else {
        return;
    };
    let native = defs_with_scripts(&dir);
    let legacy = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(legacy.path().join("etc")).unwrap();
    for file in [
        "phoenix_lxc_configs.json",
        "phoenix_vm_configs.json",
        "phoenix_hypervisor_config.json",
    ] {
        std::fs::copy(dir.join(file), legacy.path().join("etc").join(file)).unwrap();
    }
    let out = phoenix()
        .defs(legacy.path())
        .args(["validate"])
        .run()
        .code(3);
    assert!(out.stderr.contains("etc/phoenix_lxc_configs.json: lxc_configs.900.features[0]: script `bin/lxc_setup/phoenix_hypervisor_feature_install_base_setup.sh` not found"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("bin/vm_features/feature_install_docker.sh"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("bin/hypervisor_setup/hypervisor_feature_setup_firewall.sh"),
        "{}",
        out.stderr
    );
    // ZFS and NFS are built in: their scripts (which wiped disks and swept
    // storages) are not needed and never run.
    assert!(
        !out.stderr.contains("hypervisor_feature_setup_zfs.sh")
            && !out.stderr.contains("hypervisor_feature_setup_nfs.sh"),
        "{}",
        out.stderr
    );
    crate::helpers::write_missing_scripts(legacy.path());
    let out = phoenix()
        .defs(legacy.path())
        .args(["validate"])
        .run()
        .success();
    assert!(out.stdout.contains("(legacy layout)"), "{}", out.stdout);
    assert_eq!(edges(legacy.path()), edges(native.path()));
}

#[test]
fn plan_refuses_missing_scripts_but_graph_draws() {
    let Some(dir) = fixture("phoenix-2025-09") else {
        return;
    };
    let out = phoenix().defs(&dir).args(["plan", "950"]).run().code(3);
    assert!(
        out.stderr.contains("features/lxc/vllm.sh"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty());
    phoenix().defs(&dir).args(["graph", "950"]).run().success();
}

#[test]
fn graph_formats_and_state() {
    let Some(dir) = fixture("phoenix-2025-09") else {
        return;
    };
    let defs = defs_with_scripts(&dir);
    let cache = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        phoenix()
            .defs(defs.path())
            .cache(cache.path())
            .args(args)
            .run()
            .success()
            .stdout
    };

    let dot = run(&["graph", "--format", "dot"]);
    assert!(dot.starts_with("digraph phoenix {"));
    assert!(
        dot.contains("\"ct:920\" -> \"ct:950\" [label=\"clone\", style=bold"),
        "{dot}"
    );
    let mermaid = run(&["graph", "950", "--format", "mermaid"]);
    assert!(mermaid.starts_with("graph TD\n"));
    assert!(mermaid.contains("ct_920 ==>|clone| ct_950"), "{mermaid}");
    assert!(!mermaid.contains("ct_902"), "902 is not needed by 950");

    // Build only 920's chain, then change 950: 900/901/920 fresh, 950 missing.
    record_all_built(defs.path(), cache.path());
    std::fs::remove_file(cache.path().join("nodes/ct-950.json")).unwrap();
    edit(
        &defs.path().join("phoenix_lxc_configs.json"),
        "\"memory_mb\": 2048",
        "\"memory_mb\": 4096",
    );
    let json: Value =
        serde_json::from_str(&run(&["graph", "950", "--format", "json", "--state"])).unwrap();
    let state = |id: &str| {
        json["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == id)
            .unwrap()["state"]
            .clone()
    };
    assert_eq!(state("ct:950"), "missing");
    assert_eq!(state("ct:900"), "stale", "900's memory changed");
    assert_eq!(state("ct:920"), "fresh");
    let mermaid = run(&["graph", "950", "--format", "mermaid", "--state"]);
    assert!(
        mermaid.contains("class ct_950 missing") && mermaid.contains("class ct_900 stale"),
        "{mermaid}"
    );

    if std::process::Command::new("dot").arg("-V").output().is_ok() {
        let mut child = std::process::Command::new("dot")
            .arg("-Tsvg")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(dot.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("<svg"),
            "graphviz rejected the DOT"
        );
    } else {
        eprintln!("SKIPPED: graphviz `dot` not installed; DOT not rendered");
    }
}
