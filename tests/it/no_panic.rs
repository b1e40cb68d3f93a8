//! No input makes phoenix panic: arbitrary bytes and JSON values as definition files,
//! and random mutations of a valid tree, go through the library pipeline (load, and
//! when that finds no error, assess and render). A panic fails the test, with the input
//! proptest shrank it to. A last test runs the real binary on a few nasty files.

use std::path::Path;

use phoenix::defs::Severity;
use phoenix::pipeline::{self, Loaded};
use phoenix::state::{NodeRecord, StateDir};
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Map, Value, json};

use crate::helpers::phoenix;

const HYP: &str = "phoenix_hypervisor_config.json";
const LXC: &str = "phoenix_lxc_configs.json";
const VM: &str = "phoenix_vm_configs.json";

/// Field names phoenix interprets (and a few it does not), so generated objects reach
/// the typed reads instead of only the unknown-field warning.
const GUEST_FIELDS: &[&str] = &[
    "name",
    "vmid",
    "template",
    "template_image",
    "is_template",
    "clone_from_ctid",
    "clone_from_vmid",
    "template_snapshot_name",
    "dependencies",
    "features",
    "application_script",
    "health_checks",
    "memory_mb",
    "cores",
    "swap_mb",
    "storage_pool",
    "storage_size_gb",
    "disk_size_gb",
    "network_config",
    "mac_address",
    "gpu_assignment",
    "mount_points",
    "zfs_volumes",
    "volumes",
    "firewall",
    "user_config",
    "unprivileged",
    "start_at_boot",
    "boot_order",
    "pct_options",
    "lxc_options",
    "admin_password",
    "custom_field",
];

const HOST_FIELDS: &[&str] = &[
    "version",
    "network",
    "timezone",
    "zfs",
    "nfs",
    "samba",
    "users",
    "nvidia_driver",
    "dns_server",
    "firewall",
    "proxmox_storage_ids",
    "vm_defaults",
    "unknown_section",
];

/// Number literals a `serde_json::Value` cannot hold, spliced in as raw text.
const RAW_NUMBERS: &[&str] = &[
    "123456789012345678901234567890",
    "-123456789012345678901234567890",
    "1e400",
    "-1e400",
    "1e-400",
    "-0",
    "4294967296",
    "18446744073709551616",
];

fn raw_marker(i: usize) -> String {
    format!("\u{1}RAW{i}")
}

/// Serialize, replacing raw-number markers by their literal.
fn to_text(v: &Value) -> String {
    let mut text = v.to_string();
    for (i, lit) in RAW_NUMBERS.iter().enumerate() {
        let marker = Value::String(raw_marker(i)).to_string();
        text = text.replace(&marker, lit);
    }
    text
}

fn interesting_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("0".to_string()),
        Just("99".to_string()),
        Just("100".to_string()),
        Just("900".to_string()),
        Just("950".to_string()),
        Just(" 950 ".to_string()),
        Just("-1".to_string()),
        Just("4294967296".to_string()),
        Just("none".to_string()),
        Just("0,1".to_string()),
        Just(",".to_string()),
        Just("dhcp".to_string()),
        Just("10.0.0.5/24".to_string()),
        Just("10.0.0.5/99".to_string()),
        Just("10.0.0.5".to_string()),
        Just("52:54:00:AA:BB:CC".to_string()),
        Just("ff:ff:ff:ff:ff:ff".to_string()),
        Just("::::::".to_string()),
        Just("../../etc/passwd".to_string()),
        Just("-rf".to_string()),
        Just("docker".to_string()),
        Just("base_setup".to_string()),
        Just("a\u{0}b".to_string()),
        Just("ß🦀\u{202e}é".to_string()),
        Just("x".repeat(300)),
        "\\PC{0,12}",
        "[0-9,; ]{0,8}",
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (0u64..1200).prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(0.5)),
        (0..RAW_NUMBERS.len()).prop_map(|i| Value::String(raw_marker(i))),
        interesting_string().prop_map(Value::String),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(GUEST_FIELDS).prop_map(str::to_string),
        prop::sample::select(HOST_FIELDS).prop_map(str::to_string),
        interesting_string(),
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// An ID as the files write it, or nearly: numbers, digit strings, junk.
fn id_like() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0u32..1200).prop_map(Value::from),
        (100u32..110).prop_map(|n| Value::String(n.to_string())),
        "[0-9 +-]{0,6}".prop_map(Value::String),
        any::<i64>().prop_map(Value::from),
    ]
}

fn ip_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "([0-9]{1,3}\\.){0,4}[0-9]{0,3}(/[0-9]{0,3})?",
        // Four octets and a prefix, each maybe out of range.
        "(25[0-9]|1?[0-9]{1,2}|[0-9]{4})(\\.(25[0-9]|1?[0-9]{1,2}|300)){3}/(3[0-9]|[0-9]|[0-9]{3})",
        Just("dhcp".to_string()),
        Just("10.0.0.5/24".to_string()),
        "[ -~]{0,16}",
    ]
}

fn name_like() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z0-9_.-]{0,10}", "[ -~]{0,12}", "\\PC{0,8}",]
}

/// A value for `field`: two times in three shaped like what the field holds (so the
/// value checks behind the type checks are reached), otherwise any JSON.
fn field_value(field: &'static str) -> BoxedStrategy<Value> {
    let specific: BoxedStrategy<Value> = match field {
        "gpu_assignment" => "[0-9, ;a-z+-]{0,6}".prop_map(Value::String).boxed(),
        "mac_address" => prop_oneof![
            "([0-9a-fA-FzZ]{0,3}:){0,7}[0-9a-fA-F]{0,3}",
            // Six parts, each a good pair or not.
            "([0-9a-fA-F]{2}|[0-9a-fA-FzZ]{0,3}|é)(:([0-9a-fA-F]{2}|[0-9a-fA-FzZ]{1,3}|é)){5}",
            "([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}",
        ]
        .prop_map(Value::String)
        .boxed(),
        "network_config" => (ip_like(), prop::option::of(ip_like()))
            .prop_map(|(ip, gw)| match gw {
                Some(gw) => json!({"name": "eth0", "bridge": "vmbr0", "ip": ip, "gw": gw}),
                None => json!({"ip": ip}),
            })
            .boxed(),
        "vmid" | "clone_from_ctid" | "clone_from_vmid" => id_like().boxed(),
        "dependencies" => prop::collection::vec(id_like(), 0..4)
            .prop_map(Value::Array)
            .boxed(),
        "features" | "pct_options" | "lxc_options" => {
            prop::collection::vec(name_like().prop_map(Value::String), 0..4)
                .prop_map(Value::Array)
                .boxed()
        }
        "health_checks" => prop::collection::vec(
            (name_like(), prop::option::of(name_like()), arb_json()).prop_map(
                |(script, name, args)| json!({"name": name, "script": script, "args": args}),
            ),
            0..3,
        )
        .prop_map(Value::Array)
        .boxed(),
        "mount_points" | "zfs_volumes" | "volumes" => prop::collection::vec(
            (name_like(), name_like(), arb_json()).prop_map(|(a, b, size)| {
                json!({"container_path": a, "mount_point": b, "host_path": "/srv", "pool": "tank",
                       "size_gb": size, "type": "nfs", "server": "10.0.0.1", "path": "/x"})
            }),
            0..3,
        )
        .prop_map(Value::Array)
        .boxed(),
        "firewall" => prop::collection::vec(
            ("[a-zA-Z]{0,6}", "[a-zA-Z]{0,6}").prop_map(|(t, a)| json!({"type": t, "action": a})),
            0..3,
        )
        .prop_map(|rules| json!({"enabled": true, "rules": rules}))
        .boxed(),
        "memory_mb" | "cores" | "swap_mb" | "storage_size_gb" | "disk_size_gb" | "boot_order" => {
            prop_oneof![
                (0u64..5).prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                Just(json!(u64::MAX)),
                Just(json!(1.5)),
                "[0-9]{0,5}".prop_map(Value::String),
            ]
            .boxed()
        }
        "is_template" | "unprivileged" | "start_at_boot" => prop_oneof![
            any::<bool>().prop_map(Value::Bool),
            Just(json!("true")),
            Just(json!(1)),
        ]
        .boxed(),
        _ => name_like().prop_map(Value::String).boxed(),
    };
    prop_oneof![1 => arb_json(), 2 => specific].boxed()
}

fn arb_field() -> impl Strategy<Value = (&'static str, Value)> {
    prop::sample::select(GUEST_FIELDS).prop_flat_map(|f| (Just(f), field_value(f)))
}

/// A guest-shaped object: known fields with arbitrary values.
fn arb_guest() -> impl Strategy<Value = Value> {
    prop::collection::vec(arb_field(), 0..10)
        .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

fn arb_id_key() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..1100).prop_map(|n| n.to_string()),
        (100u32..110).prop_map(|n| n.to_string()),
        interesting_string(),
    ]
}

/// The three files, shaped like definitions but filled with arbitrary values.
fn arb_shaped_tree() -> impl Strategy<Value = (Value, Value, Option<Value>)> {
    let host = prop::collection::vec((prop::sample::select(HOST_FIELDS), arb_json()), 0..5)
        .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()));
    let lxc = prop::collection::vec((arb_id_key(), arb_guest()), 0..6)
        .prop_map(|kv| json!({ "lxc_configs": Value::Object(kv.into_iter().collect()) }));
    let vm = prop::option::of(
        (arb_json(), prop::collection::vec(arb_guest(), 0..4))
            .prop_map(|(defaults, vms)| json!({ "vm_defaults": defaults, "vms": vms })),
    );
    (host, lxc, vm)
}

fn write_tree(dir: &Path, host: &str, lxc: &str, vm: Option<&str>) {
    std::fs::write(dir.join(HYP), host).expect("write hypervisor file");
    std::fs::write(dir.join(LXC), lxc).expect("write lxc file");
    let vm_path = dir.join(VM);
    match vm {
        Some(text) => std::fs::write(vm_path, text).expect("write vm file"),
        None if vm_path.exists() => std::fs::remove_file(vm_path).expect("remove vm file"),
        None => {}
    }
}

/// Everything a command would do with the tree, short of running a build.
fn exercise(dir: &Path, cache: &Path) -> Loaded {
    let loaded = pipeline::load(dir, Severity::Error);
    for d in &loaded.diags.0 {
        assert!(!d.file.is_empty(), "diagnostic without a file: {d:?}");
        assert!(!d.message.is_empty(), "diagnostic without a message: {d:?}");
    }
    let _ = phoenix::report::diagnostics(&loaded.diags, true);
    if !loaded.diags.has_errors() {
        let state = StateDir::new(cache);
        let assessed = pipeline::assess(&loaded, &[], &state)
            .unwrap_or_else(|e| panic!("a valid tree must plan: {e}"));
        let _ = phoenix::report::plan::text(&assessed.plan, &loaded.defs);
        let _ = phoenix::report::plan::json(&assessed.plan);
        let view = phoenix::report::graph::View {
            defs: &loaded.defs,
            graph: &loaded.graph,
            nodes: &assessed.order,
            states: None,
        };
        let _ = phoenix::report::graph::text(&view);
        let _ = phoenix::report::graph::dot(&view);
        let _ = phoenix::report::graph::mermaid(&view);
        let _ = phoenix::report::graph::json(&view);
        for node in &assessed.order {
            if let Some(keys) = assessed.keys.get(node) {
                let rec = assessed.recorded.records.get(&node.to_string());
                let _ = phoenix::plan::explain(keys, rec);
            }
        }
    }
    loaded
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

const MIN_HOST: &str = r#"{"version": "1"}"#;
const MIN_LXC: &str =
    r#"{"lxc_configs": {"900": {"name": "base", "template": "local:vztmpl/x.tar.zst"}}}"#;

proptest! {
    #![proptest_config(config(96))]

    /// (a) Arbitrary bytes as any one of the three files.
    #[test]
    fn arbitrary_bytes_do_not_panic(
        which in 0usize..3,
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..256),
            // Mostly-JSON bytes: the shape of a definition with noise in it.
            prop::collection::vec(prop::sample::select(b"{}[]\":,0123456789.-eE tfnulrsa\\\xef\xbb\xbf\xff".to_vec()), 0..128),
        ],
    ) {
        let dir = tempfile::tempdir().unwrap();
        let file = [HYP, LXC, VM][which];
        write_tree(dir.path(), MIN_HOST, MIN_LXC, None);
        std::fs::write(dir.path().join(file), &bytes).unwrap();
        let loaded = exercise(dir.path(), &dir.path().join("cache"));
        // Bytes are not a valid definition unless they happen to be an object.
        if serde_json::from_slice::<Value>(bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes)).map_or(true, |v| !v.is_object()) {
            prop_assert!(loaded.diags.0.iter().any(|d| d.is_error() && d.file == file), "{:?}", loaded.diags);
        }
    }

    /// (a) An arbitrary JSON value as any one of the three files.
    #[test]
    fn arbitrary_json_does_not_panic(which in 0usize..3, value in arb_json()) {
        let dir = tempfile::tempdir().unwrap();
        let mut files = [MIN_HOST.to_string(), MIN_LXC.to_string(), String::new()];
        files[which] = to_text(&value);
        let vm = (which == 2).then_some(files[2].as_str());
        write_tree(dir.path(), &files[0], &files[1], vm);
        exercise(dir.path(), &dir.path().join("cache"));
    }

    /// (a) Files shaped like definitions (guest maps, VM arrays, host sections)
    /// with arbitrary values, so the typed reads, graph and keys see them.
    #[test]
    fn shaped_arbitrary_trees_do_not_panic((host, lxc, vm) in arb_shaped_tree()) {
        let dir = tempfile::tempdir().unwrap();
        write_tree(dir.path(), &to_text(&host), &to_text(&lxc), vm.as_ref().map(to_text).as_deref());
        exercise(dir.path(), &dir.path().join("cache"));
    }
}

// ---------------------------------------------------------------------------
// (b) Mutations of a valid generated tree.

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

// ---------------------------------------------------------------------------
// The real binary on nasty files.

/// The start of a possibly huge output, for assertion messages.
fn head(text: &str) -> String {
    text.chars().take(2000).collect()
}

#[test]
fn nasty_files_are_clean_errors() {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_in_guest = format!(
        r#"{{"lxc_configs": {{"900": {{"name": "a", "template": "t", "x": {}{}}}}}}}"#,
        "{\"a\":".repeat(10_000),
        "1".to_string() + &"}".repeat(10_000)
    );
    let huge_string = format!("\"{}\"", "a".repeat(10 * 1024 * 1024));
    let nasty: Vec<(&str, Vec<u8>)> = vec![
        ("empty file", Vec::new()),
        ("[]", b"[]".to_vec()),
        ("null", b"null".to_vec()),
        ("BOM only", b"\xef\xbb\xbf".to_vec()),
        (
            "invalid UTF-8",
            b"{\"lxc_configs\": {\"900\": {\"name\": \"\xff\xfe\"}}}".to_vec(),
        ),
        ("NUL bytes", b"\0\0\0\0".to_vec()),
        (
            "1e400",
            b"{\"lxc_configs\": {\"900\": {\"memory_mb\": 1e400}}}".to_vec(),
        ),
        ("10 MB string", huge_string.into_bytes()),
        ("10,000 nested arrays", deep.into_bytes()),
        (
            "10,000 nested objects in a guest",
            deep_in_guest.into_bytes(),
        ),
    ];
    for file in [LXC, VM, HYP] {
        for (what, bytes) in &nasty {
            let dir = tempfile::tempdir().unwrap();
            write_tree(dir.path(), MIN_HOST, MIN_LXC, None);
            std::fs::write(dir.path().join(file), bytes).unwrap();
            for cmd in ["validate", "plan", "graph"] {
                let out = phoenix()
                    .defs(dir.path())
                    .cache(&dir.path().join("cache"))
                    .args([cmd])
                    .run();
                assert_eq!(
                    out.code, 3,
                    "{what} as {file}: `{cmd}` exit code\nstderr:\n{}",
                    out.stderr
                );
                let first = out.stderr.lines().next().unwrap_or_default();
                assert!(
                    first.starts_with(&format!("error: {file}")),
                    "{what} as {file}: `{cmd}` does not name the file\nstderr:\n{}",
                    head(&out.stderr)
                );
                assert!(
                    out.stderr.len() < 4096,
                    "{what} as {file}: `{cmd}` printed {} bytes of stderr",
                    out.stderr.len()
                );
                assert!(!out.stderr.contains("panicked"), "{what}: {}", out.stderr);
            }
        }
    }
}

/// A 10 MB hostname is an error, located, that does not echo the 10 MB back.
#[test]

fn huge_hostname_is_not_echoed_back() {
    let huge_name = format!(
        r#"{{"lxc_configs": {{"900": {{"name": "{}", "template": "t"}}}}}}"#,
        "a".repeat(10 * 1024 * 1024)
    );
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path(), MIN_HOST, &huge_name, None);
    let out = phoenix().defs(dir.path()).args(["validate"]).run();
    let start = head(&out.stderr);
    assert_eq!(out.code, 3, "{start}");
    assert!(
        out.stderr
            .contains("phoenix_lxc_configs.json: lxc_configs.900.name"),
        "{start}"
    );
    assert!(
        out.stderr.len() < 4096,
        "a 10 MB hostname is echoed back: {} bytes of stderr",
        out.stderr.len()
    );
}
