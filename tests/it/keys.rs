//! Property tests of the content keys: formatting never matters, every consumed
//! input does, and each input reaches exactly the step that consumes it.

use std::path::Path;

use phoenix::defs::Severity;
use phoenix::graph::NodeId;
use phoenix::key::NodeKeys;
use phoenix::state::StateDir;
use phoenix::step::Step;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use crate::helpers::reordered_json;

fn keys_of(dir: &Path) -> phoenix::graph::NodeMap<NodeKeys> {
    let loaded = phoenix::pipeline::load(dir, Severity::Error);
    assert!(!loaded.diags.has_errors(), "{:?}", loaded.diags.sorted());
    let empty = tempfile::tempdir().unwrap();
    phoenix::pipeline::assess(&loaded, &[], &StateDir::new(empty.path()))
        .unwrap()
        .keys
}

/// A small valid tree: template 900, clone 901 with an app script; `extra` fields go on 901.
fn tree(dir: &Path, extra: &Map<String, Value>, style: u8) {
    let mut ct901 = json!({
        "name": "svc", "memory_mb": 1024, "cores": 1, "storage_pool": "local-lvm", "storage_size_gb": 8,
        "clone_from_ctid": "900", "features": ["base_setup", "tools"], "application_script": "app.sh",
        "network_config": {"name": "eth0", "bridge": "vmbr0", "ip": "10.0.0.2/24", "gw": "10.0.0.1"},
        "mac_address": "52:54:00:00:00:02", "unprivileged": true
    });
    for (k, v) in extra {
        ct901[k] = v.clone();
    }
    let lxc = json!({
        "nvidia_driver_version": "580.1",
        "lxc_configs": {
            "900": {"name": "base", "memory_mb": 1024, "cores": 1, "template": "local:vztmpl/debian.tar.zst",
                    "storage_pool": "local-lvm", "template_snapshot_name": "base", "features": ["base_setup"]},
            "901": ct901
        }
    });
    let text = match style % 3 {
        0 => serde_json::to_string_pretty(&lxc).unwrap(),
        1 => serde_json::to_string(&lxc).unwrap(),
        _ => reordered_json(&lxc),
    };
    std::fs::write(dir.join("phoenix_lxc_configs.json"), text).unwrap();
    std::fs::write(
        dir.join("phoenix_hypervisor_config.json"),
        "{\"version\": \"1\"}",
    )
    .unwrap();
    for (path, body) in [
        ("features/lxc/base_setup.sh", "echo base"),
        ("features/lxc/tools.sh", "echo tools"),
        ("apps/app.sh", "echo app"),
    ] {
        std::fs::create_dir_all(dir.join(path).parent().unwrap()).unwrap();
        if !dir.join(path).exists() {
            std::fs::write(dir.join(path), body).unwrap();
        }
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        "[a-z0-9 ._-]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Application fields phoenix does not interpret (unknown names included).
fn app_fields() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map("x_[a-z]{1,8}", json_value(), 0..4)
        .prop_map(|m| m.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn formatting_and_key_order_never_change_a_key(extra in app_fields(), a in 0u8..3, b in 0u8..3) {
        let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        tree(d1.path(), &extra, a);
        tree(d2.path(), &extra, b);
        let (k1, k2) = (keys_of(d1.path()), keys_of(d2.path()));
        for (node, keys) in &k1 {
            prop_assert_eq!(keys.output(), k2[node].output());
            prop_assert_eq!(&keys.configure, &k2[node].configure);
        }
    }

    #[test]
    fn each_input_changes_exactly_its_step(extra in app_fields(), field in 0usize..6, value in json_value()) {
        let dir = tempfile::tempdir().unwrap();
        tree(dir.path(), &extra, 0);
        let before = keys_of(dir.path());
        // (field, new value, the step whose key must change)
        let (name, new, step): (&str, Value, &str) = match field {
            0 => ("memory_mb", json!(4096), "configure"),
            1 => ("cores", json!(3), "configure"),
            2 => ("storage_pool", json!("other-pool"), "define"),
            3 => ("unprivileged", json!(false), "define"),
            4 => ("bootstrap_ca_url", json!("https://10.0.0.9:9000"), "feature:base_setup"),
            _ => ("x_unknown_app_field", value.clone(), "app"),
        };
        prop_assume!(extra.get(name) != Some(&new));
        let mut changed = extra.clone();
        changed.insert(name.to_string(), new);
        tree(dir.path(), &changed, 0);
        let after = keys_of(dir.path());
        let (b, a) = (&before[&NodeId::Ct(901)], &after[&NodeId::Ct(901)]);
        let step: Step = step.parse().unwrap();
        let key = |k: &NodeKeys, s: &Step| if *s == Step::Configure { k.configure.as_ref().unwrap().key } else { k.chain.iter().find(|x| x.step == *s).unwrap().key };
        prop_assert_ne!(key(b, &step), key(a, &step), "{} did not change {}", name, step);
        if step == Step::Configure {
            prop_assert_eq!(b.output(), a.output(), "settings must not change content");
        } else {
            prop_assert_eq!(&b.configure, &a.configure);
            prop_assert_ne!(b.output(), a.output());
            // Steps before the consuming one keep their keys.
            for s in b.chain.iter().take_while(|s| s.step != step) {
                prop_assert_eq!(s.key, key(a, &s.step), "{} changed {}", name, s.step);
            }
        }
        prop_assert_eq!(before[&NodeId::Ct(900)].output(), after[&NodeId::Ct(900)].output(), "901's fields never reach 900");
    }

    #[test]
    fn script_bytes_change_their_feature_step(body in "[ -~]{0,40}") {
        let dir = tempfile::tempdir().unwrap();
        tree(dir.path(), &Map::new(), 0);
        let before = keys_of(dir.path());
        prop_assume!(body != "echo tools");
        std::fs::write(dir.path().join("features/lxc/tools.sh"), &body).unwrap();
        let after = keys_of(dir.path());
        let (b, a) = (&before[&NodeId::Ct(901)], &after[&NodeId::Ct(901)]);
        prop_assert_eq!(b.chain[1].key, a.chain[1].key, "feature:base_setup comes before tools");
        prop_assert_ne!(b.chain[2].key, a.chain[2].key);
        prop_assert_eq!(before[&NodeId::Ct(900)].output(), after[&NodeId::Ct(900)].output());
    }
}

#[test]
fn template_change_reaches_its_clone_through_the_define_step() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path(), &Map::new(), 0);
    let before = keys_of(dir.path());
    std::fs::write(
        dir.path().join("features/lxc/base_setup.sh"),
        "echo base v2",
    )
    .unwrap();
    let after = keys_of(dir.path());
    assert_ne!(
        before[&NodeId::Ct(900)].output(),
        after[&NodeId::Ct(900)].output()
    );
    let (b, a) = (&before[&NodeId::Ct(901)], &after[&NodeId::Ct(901)]);
    assert_ne!(
        b.chain[0].key, a.chain[0].key,
        "the clone's define step consumes the source's output key"
    );
    assert_eq!(b.configure, a.configure);
}

#[test]
fn secrets_are_fingerprinted_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut extra = Map::new();
    extra.insert("api_token".into(), json!("s3cr3t-value"));
    extra.insert(
        "db".into(),
        json!({"admin_password": "hunter2", "host": "db1"}),
    );
    tree(dir.path(), &extra, 0);
    let keys = keys_of(dir.path());
    let manifests = format!("{:?}", keys[&NodeId::Ct(901)]);
    assert!(
        !manifests.contains("s3cr3t-value") && !manifests.contains("hunter2"),
        "{manifests}"
    );
    assert!(manifests.contains("db1"));
    extra.insert("api_token".into(), json!("another"));
    tree(dir.path(), &extra, 0);
    assert_ne!(
        keys[&NodeId::Ct(901)].output(),
        keys_of(dir.path())[&NodeId::Ct(901)].output()
    );
}
