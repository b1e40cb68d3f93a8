//! No input makes phoenix panic: arbitrary bytes and JSON values as definition files,
//! and random mutations of a valid tree, go through the library pipeline (load, and
//! when that finds no error, assess and render). A panic fails the test, with the input
//! proptest shrank it to. A last test runs the real binary on a few nasty files.
//!
//! `arbitrary`: bytes, JSON and definition-shaped trees of arbitrary values;
//! `mutations`: random mutations of a generated valid tree; `nasty_files`: the binary.

mod arbitrary;
mod mutations;
mod nasty_files;

use std::path::Path;

use phoenix::defs::Severity;
use phoenix::pipeline::{self, Loaded};
use phoenix::state::StateDir;
use proptest::test_runner::Config;

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
    "id_maps",
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
        let json = phoenix::report::plan::json(&assessed.plan);
        let written = phoenix::report::plan::write_json(&assessed.plan, Vec::new()).unwrap();
        assert_eq!(
            String::from_utf8(written).unwrap(),
            json,
            "the plan written on every core"
        );
        let view = phoenix::report::graph::View {
            defs: &loaded.defs,
            graph: &loaded.graph,
            nodes: &assessed.order,
            states: None,
            all_edges: false,
        };
        let _ = phoenix::report::graph::tree(&view, &[], phoenix::report::graph::Marks::default());
        let _ = phoenix::report::graph::text(&view);
        let _ = phoenix::report::graph::dot(&view);
        let _ = phoenix::report::graph::mermaid(&view);
        let json = phoenix::report::graph::json(&view);
        let written = phoenix::report::graph::write_json(&view, Vec::new()).unwrap();
        assert_eq!(
            String::from_utf8(written).unwrap(),
            json,
            "the graph written on every core"
        );
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
