//! Converted templates (`is_template`) on the simulated host, which behaves as
//! Proxmox does: a template never starts and holds no snapshots, a clone of it
//! is linked, and a template with linked clones cannot be destroyed.

use serde_json::{Value, json};

use super::{SimSite, ct, site};
use crate::helpers::edit;

/// 900 (converted) ← 901 (converted) ← 910 (snapshot template) ← 951, and
/// 901 ← 950, 900 ← 101; lifecycle snapshots on 900 and 910.
fn converted_tree() -> SimSite {
    let lxc = json!({
        "900": ct("base", 10, &json!({"template": "local:vztmpl/x.tar.zst", "is_template": true,
            "features": ["base_setup"], "enable_lifecycle_snapshots": true})),
        "901": ct("gpu", 11, &json!({"clone_from_ctid": "900", "is_template": true, "features": ["gpu"]})),
        "910": ct("vllm", 12, &json!({"clone_from_ctid": "901", "template_snapshot_name": "final-form",
            "features": ["vllm"], "enable_lifecycle_snapshots": true})),
        "950": ct("svc-a", 13, &json!({"clone_from_ctid": "901", "application_script": "app.sh"})),
        "951": ct("svc-b", 14, &json!({"clone_from_ctid": "910", "application_script": "app.sh"})),
        "101": ct("svc-c", 15, &json!({"clone_from_ctid": "900", "application_script": "app.sh"})),
    });
    site(&lxc, &["base_setup", "gpu", "vllm"])
}

fn guest<'a>(host: &'a [Value], node: &str) -> &'a Value {
    host.iter()
        .find(|g| g["node"] == node)
        .unwrap_or_else(|| panic!("{node} is not on the host: {host:?}"))
}

fn snapshots(g: &Value) -> Vec<String> {
    g["snapshots"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn a_converted_chain_builds_its_clones_linked_and_rebuilds_nothing() {
    let t = converted_tree();
    let out = t.build(&["all"]).success();
    // Its feature gets a `pre-` snapshot (a failed feature resumes from it)
    // but no lifecycle snapshot: a converted template may hold none.
    assert_eq!(
        out.steps_of("ct:900"),
        [
            "define",
            "configure",
            "start",
            "snapshot:pre-base_setup",
            "feature:base_setup",
            "template"
        ]
    );
    let host = t.host();
    for tpl in ["ct:900", "ct:901"] {
        let g = guest(&host, tpl);
        assert_eq!(g["template"], true, "{g}");
        assert_eq!(g["running"], false, "{g}");
        assert!(
            snapshots(g).is_empty(),
            "a template holds no snapshots: {g}"
        );
    }
    // Clones of a converted template are linked to it; clones of a snapshot
    // template are copies of the snapshot.
    assert_eq!(guest(&host, "ct:901")["linked_from"], "ct:900");
    assert_eq!(guest(&host, "ct:950")["linked_from"], "ct:901");
    assert_eq!(guest(&host, "ct:101")["linked_from"], "ct:900");
    assert!(guest(&host, "ct:951").get("linked_from").is_none());
    let creates: Vec<String> = t
        .ops()
        .into_iter()
        .filter(|o| o.op == "create")
        .map(|o| format!("{} {}", o.node, o.detail))
        .collect();
    assert!(
        creates.contains(&"ct:950 clone ct:901".to_string()),
        "{creates:?}"
    );
    assert!(
        creates.contains(&"ct:951 clone ct:910@final-form".to_string()),
        "{creates:?}"
    );
    // Lifecycle snapshots where Proxmox can take them: on 910, not on 900.
    let s910 = snapshots(guest(&host, "ct:910"));
    for want in ["pre-configured", "pre-vllm", "final-form"] {
        assert!(s910.contains(&want.to_string()), "{s910:?}");
    }
    // Nothing started a template after it was converted.
    let ops = t.ops();
    let converted_at = |n: &str| {
        ops.iter()
            .position(|o| o.node == n && o.op == "template")
            .unwrap_or_else(|| panic!("{n} was not converted"))
    };
    for n in ["ct:900", "ct:901"] {
        let at = converted_at(n);
        assert!(
            !ops[at..].iter().any(|o| o.node == n && o.op == "start"),
            "{n} started after its conversion"
        );
    }
    let again = t.build(&["all"]).success();
    assert_eq!(again.summary()["steps_run"], 0, "{}", again.stdout);
}

#[test]
fn a_changed_converted_template_goes_after_its_linked_clones() {
    let t = converted_tree();
    t.build(&["all"]).success();
    let before = t.ops().len();
    edit(
        &t.defs.join("features/lxc/base_setup.sh"),
        "echo base_setup",
        "echo base_setup v2",
    );

    // Its clones are not templates: replacing them needs consent.
    let out = t.build(&["all"]).code(1);
    assert!(out.stderr.contains("--allow-replace"), "{}", out.stderr);
    // A target that leaves linked clones out is refused, naming them.
    let out = t.build(&["901", "--allow-replace"]).code(1);
    for clone in ["ct:101", "ct:950", "ct:910"] {
        assert!(out.stderr.contains(clone), "{clone}: {}", out.stderr);
    }
    assert!(out.stderr.contains("linked clones"), "{}", out.stderr);
    assert_eq!(
        t.ops().len(),
        before,
        "nothing may be touched before the guards"
    );

    let plan = t.plan(&["all"]);
    let a900 = plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["node"] == "ct:900")
        .unwrap();
    assert_eq!(a900["action"], "replace");
    assert_eq!(
        a900["destroy_first"],
        json!(["ct:101", "ct:910", "ct:950", "ct:901"])
    );

    let out = t.build(&["all", "--allow-replace"]).success();
    // The simulated host refuses to destroy a template with a linked clone, so
    // the build getting through proves the order; check it all the same.
    let destroys: Vec<String> = t.ops()[before..]
        .iter()
        .filter(|o| o.op == "destroy")
        .map(|o| o.node.clone())
        .collect();
    let at = |n: &str| {
        destroys
            .iter()
            .position(|d| d == n)
            .unwrap_or_else(|| panic!("{n} not destroyed: {destroys:?}"))
    };
    assert!(at("ct:950") < at("ct:901") && at("ct:910") < at("ct:901"));
    assert!(at("ct:101") < at("ct:900") && at("ct:901") < at("ct:900"));
    for n in ["ct:900", "ct:901", "ct:910", "ct:950", "ct:951", "ct:101"] {
        assert_eq!(out.summary()["nodes"][n], "built", "{n}: {}", out.stdout);
    }
    let again = t.build(&["all"]).success();
    assert_eq!(again.summary()["steps_run"], 0, "{}", again.stdout);
}
