//! The key rules: what enters which step, and what never does.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{NodeKeys, ScriptHashes, assess};
use crate::defs::{self, layout};
use crate::graph::NodeId;

fn container() -> Value {
    json!({
        "name": "app", "template": "/t/os.tar.zst", "storage_pool": "local-lvm",
        "memory_mb": 2048, "cores": 2, "features": ["base_setup"],
        "application_script": "app.sh", "template_snapshot_name": "final"
    })
}

/// Keys of containers 900 and 950 and VM 1001, from these definitions.
fn keys(ct: &Value, vm: &Value) -> crate::graph::NodeMap<NodeKeys> {
    let dir = tempfile::tempdir().unwrap();
    let write =
        |name: &str, v: Value| std::fs::write(dir.path().join(name), v.to_string()).unwrap();
    write(layout::HYPERVISOR_FILE, json!({}));
    write(
        layout::LXC_FILE,
        json!({ "lxc_configs": { "900": container(), "950": ct } }),
    );
    write(
        layout::VM_FILE,
        json!({ "vm_defaults": { "cores": 2, "memory_mb": 4096, "storage_pool": "vm-disks" },
                "vms": [vm] }),
    );
    let (defs, diags) = defs::load(dir.path());
    assert!(!diags.has_errors(), "{diags:?}");
    let nodes = [NodeId::Ct(900), NodeId::Ct(950), NodeId::Vm(1001)];
    assess(&defs, &nodes, &ScriptHashes::from_map(HashMap::new()))
}

fn clone_of_900() -> Value {
    json!({ "name": "clone", "clone_from_ctid": "900", "memory_mb": 1024, "cores": 1,
            "storage_pool": "local-lvm" })
}

fn vm() -> Value {
    json!({ "vmid": 1001, "name": "vm", "template_image": "a.img", "is_template": true })
}

fn chain(keys: &NodeKeys) -> Vec<String> {
    keys.chain.iter().map(|s| s.key.hex()).collect()
}

fn configure(keys: &NodeKeys) -> &super::StepKey {
    keys.configure.as_ref().unwrap()
}

#[test]
fn settings_never_enter_content_keys() {
    let before = keys(&clone_of_900(), &vm());
    let mut bigger = clone_of_900();
    bigger["memory_mb"] = json!(4096);
    bigger["network_config"] = json!({ "ip": "10.0.0.5/24", "gw": "10.0.0.1" });
    let after = keys(&bigger, &vm());
    let (b, a) = (&before[&NodeId::Ct(950)], &after[&NodeId::Ct(950)]);
    assert_eq!(chain(b), chain(a), "content keys moved with a setting");
    assert_ne!(configure(b).key, configure(a).key);
    assert_eq!(&configure(a).manifest["memory_mb"], "4096");
}

#[test]
fn a_template_setting_does_not_reach_its_clones() {
    let before = keys(&clone_of_900(), &vm());
    let dir_keys = |memory: u64| {
        let dir = tempfile::tempdir().unwrap();
        let mut tpl = container();
        tpl["memory_mb"] = json!(memory);
        let write = |n: &str, v: Value| std::fs::write(dir.path().join(n), v.to_string()).unwrap();
        write(layout::HYPERVISOR_FILE, json!({}));
        write(
            layout::LXC_FILE,
            json!({ "lxc_configs": { "900": tpl, "950": clone_of_900() } }),
        );
        let (defs, _) = defs::load(dir.path());
        let nodes = [NodeId::Ct(900), NodeId::Ct(950)];
        assess(&defs, &nodes, &ScriptHashes::from_map(HashMap::new()))
    };
    let after = dir_keys(65536);
    assert_eq!(
        before[&NodeId::Ct(950)].output(),
        after[&NodeId::Ct(950)].output()
    );
    assert_eq!(
        before[&NodeId::Ct(900)].output(),
        after[&NodeId::Ct(900)].output()
    );
}

#[test]
fn dependencies_enter_no_key() {
    let before = keys(&clone_of_900(), &vm());
    let mut with_dep = clone_of_900();
    with_dep["dependencies"] = json!(["1001"]);
    let after = keys(&with_dep, &vm());
    let (b, a) = (&before[&NodeId::Ct(950)], &after[&NodeId::Ct(950)]);
    assert_eq!(chain(b), chain(a));
    assert_eq!(configure(b).key, configure(a).key);
    let all = a.chain.iter().chain(a.configure.iter());
    assert!(
        all.flat_map(|s| s.manifest.keys())
            .all(|k| !k.contains("dependencies"))
    );
}

#[test]
fn a_secret_enters_the_app_key_as_a_fingerprint() {
    let with = |secret: &str| {
        let mut ct = container();
        ct["admin_password"] = json!(secret);
        keys(&ct, &vm())
    };
    let (one, two) = (with("hunter2"), with("hunter3"));
    let app = |k: &crate::graph::NodeMap<NodeKeys>| {
        k[&NodeId::Ct(950)]
            .chain
            .iter()
            .find(|s| s.step == crate::step::Step::App)
            .unwrap()
            .clone()
    };
    let (a, b) = (app(&one), app(&two));
    let text = &a.manifest["admin_password"];
    assert!(
        text.starts_with("\"<redacted ") && !text.contains("hunter2"),
        "{text}"
    );
    assert_ne!(a.key, b.key, "a changed secret must change the key");
}

#[test]
fn a_vm_without_its_own_settings_keys_the_resolved_defaults() {
    let ks = keys(&clone_of_900(), &vm());
    let vm_keys = &ks[&NodeId::Vm(1001)];
    assert_eq!(&configure(vm_keys).manifest["cores"], "2");
    assert_eq!(&configure(vm_keys).manifest["memory_mb"], "4096");
    assert_eq!(&vm_keys.chain[0].manifest["storage"], "\"vm-disks\"");
    assert_eq!(
        vm_keys.chain.last().unwrap().step,
        crate::step::Step::Template
    );

    let mut own = vm();
    own["cores"] = json!(8);
    let ks = keys(&clone_of_900(), &own);
    assert_eq!(&configure(&ks[&NodeId::Vm(1001)]).manifest["cores"], "8");
}

#[test]
fn kept_manifests_are_the_asked_ones_and_the_keys_do_not_change() {
    let dir = tempfile::tempdir().unwrap();
    let write =
        |name: &str, v: Value| std::fs::write(dir.path().join(name), v.to_string()).unwrap();
    write(layout::HYPERVISOR_FILE, json!({}));
    // A chain three deep: 900 ← 950 ← 960, so three waves.
    let mut mid = clone_of_900();
    mid["template_snapshot_name"] = json!("mid");
    let mut leaf = clone_of_900();
    leaf["clone_from_ctid"] = json!("950");
    write(
        layout::LXC_FILE,
        json!({ "lxc_configs": { "900": container(), "950": mid, "960": leaf } }),
    );
    let (defs, diags) = defs::load(dir.path());
    assert!(!diags.has_errors(), "{diags:?}");
    let nodes = [NodeId::Ct(900), NodeId::Ct(950), NodeId::Ct(960)];
    let scripts = ScriptHashes::from_map(HashMap::new());
    let all = assess(&defs, &nodes, &scripts);
    // Keep only 950's define step and 960's settings.
    let some = super::assess_keeping(&defs, &nodes, &scripts, &|node, at, _| {
        matches!(
            (node, at),
            (NodeId::Ct(950), super::StepAt::Chain(0))
                | (NodeId::Ct(960), super::StepAt::Configure)
        )
    });
    for node in nodes {
        assert_eq!(chain(&all[&node]), chain(&some[&node]), "{node}");
        assert_eq!(configure(&all[&node]).key, configure(&some[&node]).key);
        assert!(!all[&node].chain[0].manifest.is_empty());
    }
    // The clone chain's keys consumed their sources' output keys.
    assert_eq!(
        all[&NodeId::Ct(960)].chain[0].manifest["clone source ct:950"],
        format!("\"{}\"", all[&NodeId::Ct(950)].output())
    );
    assert_eq!(
        some[&NodeId::Ct(950)].chain[0].manifest,
        all[&NodeId::Ct(950)].chain[0].manifest
    );
    assert!(some[&NodeId::Ct(950)].chain[1].manifest.is_empty());
    assert!(
        some[&NodeId::Ct(900)]
            .chain
            .iter()
            .all(|s| s.manifest.is_empty())
    );
    assert_eq!(
        configure(&some[&NodeId::Ct(960)]).manifest,
        configure(&all[&NodeId::Ct(960)]).manifest
    );
    assert!(configure(&some[&NodeId::Ct(950)]).manifest.is_empty());
}
