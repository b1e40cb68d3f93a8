//! (b) Mutations of a valid generated tree: self-clones, unknown IDs, wrong types,
//! duplicate addresses, planned against the records of the valid tree.

use std::path::Path;

use phoenix::pipeline;
use phoenix::state::{NodeRecord, StateDir};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::arbitrary::{field_value, to_text};
use super::{GUEST_FIELDS, config, exercise, write_tree};

const FEATURES: &[&str] = &["base_setup", "docker", "nvidia"];

/// Shape of a valid tree: per container (after the first), the index of its clone
/// source among the earlier ones, a dependency on an earlier one, and a feature mask.
#[derive(Debug, Clone)]
struct TreeSpec {
    cts: Vec<(usize, Option<usize>, u8, bool)>,
    vms: usize,
    gpu_host: bool,
}

fn arb_tree_spec() -> impl Strategy<Value = TreeSpec> {
    (
        prop::collection::vec(
            (
                any::<usize>(),
                prop::option::of(any::<usize>()),
                0u8..8,
                any::<bool>(),
            ),
            1..7,
        ),
        0usize..4,
        any::<bool>(),
    )
        .prop_map(|(cts, vms, gpu_host)| TreeSpec { cts, vms, gpu_host })
}

fn ct_id(i: usize) -> u32 {
    900 + u32::try_from(i).expect("small index") * 10
}

fn vm_id(i: usize) -> u32 {
    8000 + u32::try_from(i).expect("small index")
}

/// The three files as JSON values, and the scripts they name.
fn valid_tree(spec: &TreeSpec) -> (Value, Value, Value, Vec<String>) {
    let mut scripts = vec!["apps/app.sh".to_string(), "health/check.sh".to_string()];
    let mut cts = Map::new();
    for (i, (src, dep, mask, gpu)) in spec.cts.iter().enumerate() {
        let features: Vec<&str> = FEATURES
            .iter()
            .enumerate()
            .filter(|(b, _)| mask & (1 << b) != 0)
            .map(|(_, f)| *f)
            .collect();
        for f in &features {
            scripts.push(format!("features/lxc/{f}.sh"));
        }
        let mut ct = json!({
            "name": format!("ct{i}"),
            "memory_mb": 1024,
            "cores": 1,
            "storage_pool": "local-lvm",
            "template_snapshot_name": format!("snap{i}"),
            "features": features,
            "network_config": {"name": "eth0", "bridge": "vmbr0", "ip": format!("10.0.1.{}/24", i + 10), "gw": "10.0.1.1"},
            "mac_address": format!("52:54:00:00:01:{:02X}", i + 10),
            "application_script": "app.sh",
            "health_checks": [{"name": "up", "script": "check.sh", "args": ["1"]}],
        });
        if i == 0 {
            ct["template"] = json!("local:vztmpl/ubuntu.tar.zst");
        } else {
            ct["clone_from_ctid"] = json!(ct_id(src % i));
            if let Some(d) = dep {
                ct["dependencies"] = json!([ct_id(d % i).to_string()]);
            }
        }
        if *gpu && spec.gpu_host {
            ct["gpu_assignment"] = json!("0");
        }
        cts.insert(ct_id(i).to_string(), ct);
    }
    let mut vms = Vec::new();
    for i in 0..spec.vms {
        let mut vm = json!({
            "vmid": vm_id(i),
            "name": format!("vm{i}"),
            "memory_mb": 2048,
            "cores": 2,
            "network_config": {"ip": format!("10.0.2.{}/24", i + 10), "gw": "10.0.2.1"},
        });
        if i == 0 {
            vm["is_template"] = json!(true);
            vm["template_image"] = json!("noble.img");
        } else {
            vm["clone_from_vmid"] = json!(vm_id(0));
            vm["dependencies"] = json!([ct_id(0)]);
        }
        vms.push(vm);
    }
    let mut host = json!({"version": "1", "timezone": "Europe/Berlin"});
    scripts.push("features/host/network.sh".into());
    if spec.gpu_host {
        host["nvidia_driver"] = json!({"install": true, "version": "580.76.05"});
        scripts.push("features/host/nvidia.sh".into());
        scripts.push("features/host/gpu_init.sh".into());
    }
    (
        host,
        json!({"nvidia_driver_version": "580.76.05", "lxc_configs": cts}),
        json!({"vm_defaults": {"storage_pool": "local-lvm"}, "vms": vms}),
        scripts,
    )
}

/// One mutation: which guest (index into all guests), which field, which value.
#[derive(Debug, Clone)]
enum NewValue {
    Json(Value),
    OwnId,
    OtherId(usize),
    /// The same field's value of another guest (a duplicate address or MAC).
    CopyFrom(usize),
    Remove,
}

/// Fields that link guests (and so make cycles, self-clones, kind mismatches) come up
/// most, then the fields behind value checks, then any field.
fn arb_field_name() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        4 => prop::sample::select(&["clone_from_ctid", "clone_from_vmid", "dependencies", "vmid"][..]),
        3 => prop::sample::select(
            &[
                "gpu_assignment",
                "mac_address",
                "network_config",
                "name",
                "template_snapshot_name",
                "features",
                "health_checks",
                "memory_mb",
            ][..]
        ),
        2 => prop::sample::select(GUEST_FIELDS),
    ]
}

fn arb_mutation() -> impl Strategy<Value = (usize, &'static str, NewValue)> {
    (any::<usize>(), arb_field_name()).prop_flat_map(|(g, field)| {
        let links = matches!(
            field,
            "clone_from_ctid" | "clone_from_vmid" | "dependencies"
        );
        let unique = matches!(field, "network_config" | "mac_address");
        let value = prop_oneof![
            6 => field_value(field).prop_map(NewValue::Json),
            if links { 3 } else { 1 } => Just(NewValue::OwnId),
            if links { 6 } else { 1 } => any::<usize>().prop_map(NewValue::OtherId),
            if unique { 4 } else { 1 } => any::<usize>().prop_map(NewValue::CopyFrom),
            1 => Just(NewValue::Remove),
        ];
        (Just(g), Just(field), value)
    })
}

fn arb_mutations() -> impl Strategy<Value = Vec<(usize, &'static str, NewValue)>> {
    prop::collection::vec(arb_mutation(), 1..8)
}

/// Apply a mutation to guest number `g` (containers first, then VMs).
fn mutate(lxc: &mut Value, vm: &mut Value, g: usize, field: &str, value: &NewValue) {
    let ct_ids: Vec<String> = lxc["lxc_configs"]
        .as_object()
        .expect("lxc_configs")
        .keys()
        .cloned()
        .collect();
    let vm_count = vm["vms"].as_array().expect("vms").len();
    let all_ids: Vec<u32> = ct_ids
        .iter()
        .map(|k| k.parse().expect("numeric CTID"))
        .chain((0..vm_count).map(vm_id))
        .collect();
    let g = g % all_ids.len();
    let own = all_ids[g];
    let copied = match value {
        NewValue::CopyFrom(i) => {
            let i = i % all_ids.len();
            let other = if i < ct_ids.len() {
                &lxc["lxc_configs"][&ct_ids[i]]
            } else {
                &vm["vms"][i - ct_ids.len()]
            };
            other.get(field).cloned()
        }
        _ => None,
    };
    let obj = if g < ct_ids.len() {
        lxc["lxc_configs"][&ct_ids[g]]
            .as_object_mut()
            .expect("container object")
    } else {
        vm["vms"][g - ct_ids.len()]
            .as_object_mut()
            .expect("vm object")
    };
    let linked = match value {
        NewValue::Json(v) => {
            obj.insert(field.to_string(), v.clone());
            return;
        }
        NewValue::Remove => {
            obj.remove(field);
            return;
        }
        NewValue::CopyFrom(_) => {
            if let Some(v) = copied {
                obj.insert(field.to_string(), v);
            }
            return;
        }
        NewValue::OwnId => own,
        NewValue::OtherId(i) => all_ids[i % all_ids.len()],
    };
    let new = if field == "dependencies" {
        // Added to the existing list, so longer cycles form.
        let mut deps = obj
            .get(field)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        deps.push(json!(linked));
        Value::Array(deps)
    } else {
        json!(linked)
    };
    obj.insert(field.to_string(), new);
}

fn write_scripts(dir: &Path, scripts: &[String]) {
    for s in scripts {
        let path = dir.join(s);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, format!("#!/bin/sh\n# {s}\nexit 0\n")).expect("write script");
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// (b) A generated valid tree validates and plans; after random fields of random
    /// guests are replaced (self-clones, unknown IDs, wrong types, junk GPU lists ...),
    /// loading and planning, against the state recorded for the valid tree, never panic.
    #[test]
    fn mutated_valid_trees_do_not_panic(spec in arb_tree_spec(), mutations in arb_mutations()) {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let (host, mut lxc, mut vm, scripts) = valid_tree(&spec);
        write_scripts(dir.path(), &scripts);
        write_tree(dir.path(), &host.to_string(), &lxc.to_string(), Some(&vm.to_string()));

        let loaded = exercise(dir.path(), &cache);
        prop_assert!(!loaded.diags.has_errors(), "generated tree is invalid:\n{}", phoenix::report::diagnostics(&loaded.diags, true));
        // Record it as built, so the mutated tree is planned against real records.
        let state = StateDir::new(&cache);
        let assessed = pipeline::assess(&loaded, &[], &state).unwrap();
        for (node, keys) in &assessed.keys {
            // Written directly: `StateDir::write` syncs to disk, too slow for many cases.
            let path = state.record_path(&node.slug());
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let record = NodeRecord::built(&node.to_string(), keys);
            std::fs::write(path, serde_json::to_vec(&record).unwrap()).unwrap();
        }

        for (g, field, value) in &mutations {
            mutate(&mut lxc, &mut vm, *g, field, value);
        }
        write_tree(dir.path(), &to_text(&host), &to_text(&lxc), Some(&to_text(&vm)));
        exercise(dir.path(), &cache);
    }
}
