//! Plans for the shell tool's real definition files against recorded state: what a
//! change of memory, of a template's feature or of a VM script makes stale, and what
//! it leaves alone.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::helpers::{Site, reordered_json, set_field};

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

/// The plan's action for `node`.
fn action_of<'a>(plan: &'a Value, node: &str) -> &'a Value {
    plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["node"] == node)
        .unwrap_or_else(|| panic!("no action for {node}: {plan}"))
}

#[test]
fn plan_950_selects_its_chain_and_host_steps_only() {
    let Some(site) = Site::fixture("phoenix-2025-09") else {
        return;
    };
    let plan = site.plan(&["950"]);
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
    let ct950 = action_of(&plan, "ct:950");
    assert_eq!(
        ct950["steps"],
        serde_json::json!(["define", "configure", "feature:vllm", "app"])
    );
}

#[test]
fn memory_change_plans_one_update() {
    let Some(site) = Site::fixture("phoenix-2025-09") else {
        return;
    };
    site.record_all_built();
    let before = actions(&site.plan(&["950"]));
    assert!(before.values().all(|(a, _, _)| a == "fresh"), "{before:?}");

    set_field(&site.defs, "950", "memory_mb", 96000.into());

    let after = actions(&site.plan(&["950"]));
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
    let plan = site.plan(&["950"]);
    let ct950 = action_of(&plan, "ct:950");
    assert_eq!(ct950["steps"], serde_json::json!(["configure"]));

    let out = site.phoenix().args(["explain", "950"]).run().success();
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
    let Some(site) = Site::fixture("phoenix-2025-09") else {
        return;
    };
    site.record_all_built();
    std::fs::write(
        site.defs.join("features/lxc/base_setup.sh"),
        "#!/bin/sh\necho changed\n",
    )
    .unwrap();
    let after = actions(&site.plan(&["all"]));
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
    let plan = site.plan(&["950"]);
    let flag = |n: &str| action_of(&plan, n).get("needs_allow_replace").cloned();
    assert_eq!(flag("ct:950"), Some(Value::Bool(true)));
    assert_eq!(flag("ct:920"), None);
}

#[test]
fn vm_feature_change_touches_no_container() {
    let Some(site) = Site::fixture("phoenix-2025-11") else {
        return;
    };
    let before = actions(&site.plan(&["all"]));
    std::fs::write(
        site.defs.join("features/vm/docker.sh"),
        "#!/bin/sh\necho new docker\n",
    )
    .unwrap();
    let after = actions(&site.plan(&["all"]));
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
    let Some(site) = Site::fixture("phoenix-2025-11") else {
        return;
    };
    let before = actions(&site.plan(&["all"]));
    for file in [
        "phoenix_lxc_configs.json",
        "phoenix_vm_configs.json",
        "phoenix_hypervisor_config.json",
    ] {
        let path = site.defs.join(file);
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        std::fs::write(&path, reordered_json(&v)).unwrap();
    }
    let after = actions(&site.plan(&["all"]));
    assert_eq!(before, after);
}
