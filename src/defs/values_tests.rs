//! Values a Proxmox host refuses are found by `validate`: a size out of the API's
//! range, a snapshot name that is no `pve-configid` or is too long (a feature's
//! `pre-<name>` included), a name server that is no address.

use serde_json::{Value, json};

use crate::defs::{Diagnostics, layout};

/// The errors of loading `lxc` and `vms`, each as "path: message".
fn errors_of(lxc: &Value, vms: &Value) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(layout::HYPERVISOR_FILE), "{}").unwrap();
    std::fs::write(dir.path().join(layout::LXC_FILE), lxc.to_string()).unwrap();
    std::fs::write(dir.path().join(layout::VM_FILE), vms.to_string()).unwrap();
    for dir_name in ["features/lxc", "features/vm"] {
        std::fs::create_dir_all(dir.path().join(dir_name)).unwrap();
    }
    for name in ["a".repeat(36), "b".repeat(37)] {
        for kind in ["lxc", "vm"] {
            let script = dir.path().join(format!("features/{kind}/{name}.sh"));
            std::fs::write(script, "#!/bin/sh\n").unwrap();
        }
    }
    let (_, diags): (_, Diagnostics) = crate::defs::load(dir.path());
    let mut found: Vec<String> = diags
        .0
        .iter()
        .filter(|d| d.is_error())
        .map(|d| format!("{}: {}", d.path, d.message))
        .collect();
    found.sort();
    found
}

fn ct(extra: &Value) -> Value {
    let mut ct = json!({ "name": "web", "template": "/t/os.tar.zst", "storage_pool": "fast" });
    for (k, v) in extra.as_object().unwrap() {
        ct[k] = v.clone();
    }
    ct
}

#[test]
fn values_at_the_edges_of_what_proxmox_takes_pass() {
    let lxc = json!({ "lxc_configs": {
        "900": ct(&json!({ "memory_mb": 16, "cores": 8192,
            "template_snapshot_name": "s".repeat(40),
            "features": ["a".repeat(36)],
            "network_config": { "name": "eth0", "bridge": "vmbr0", "ip": "dhcp",
                                "nameservers": "010.0.0.1, fe80::1%eth0 1.1.1.1" } })),
        "901": ct(&json!({ "template_snapshot_name": "ab" })),
    } });
    let vms = json!({ "vms": [{ "vmid": 9000, "name": "vm", "memory_mb": 16,
        "template_image": "debian.qcow2", "storage_pool": "fast",
        "network_config": { "ip": "dhcp", "nameserver": "10.0.0.13" } }] });
    assert_eq!(errors_of(&lxc, &vms), Vec::<String>::new());
}

#[test]
fn values_a_proxmox_host_refuses_are_errors_that_say_what_it_takes() {
    let lxc = json!({ "lxc_configs": {
        "900": ct(&json!({ "memory_mb": 15, "cores": 8193,
            "template_snapshot_name": "s".repeat(41),
            "features": ["b".repeat(37)],
            "network_config": { "name": "eth0", "bridge": "vmbr0", "ip": "dhcp",
                                "nameservers": "10.0.0.300, dns.google" } })),
        "901": ct(&json!({ "template_snapshot_name": "a" })),
    } });
    let vms = json!({ "vms": [{ "vmid": 9000, "name": "vm", "memory_mb": 8,
        "template_image": "debian.qcow2", "storage_pool": "fast",
        "network_config": { "ip": "dhcp", "nameserver": "10.0.0.13 dns.google" } }] });
    let b37 = "b".repeat(37);
    let s41 = "s".repeat(41);
    assert_eq!(
        errors_of(&lxc, &vms),
        [
            "lxc_configs.900.cores: `cores` is 8193: Proxmox takes 1 to 8192".to_string(),
            format!(
                "lxc_configs.900.features[0]: feature name `{b37}` is 37 characters long: its snapshot `pre-{b37}` would pass the 40 Proxmox takes"
            ),
            "lxc_configs.900.memory_mb: `memory_mb` is 15: Proxmox takes at least 16 MiB".into(),
            "lxc_configs.900.network_config.nameservers: name server `10.0.0.300` is not an IP address".into(),
            "lxc_configs.900.network_config.nameservers: name server `dns.google` is not an IP address".into(),
            format!(
                "lxc_configs.900.template_snapshot_name: snapshot name `{s41}` is 41 characters long; Proxmox takes at most 40"
            ),
            "lxc_configs.901.template_snapshot_name: `a` is not a valid snapshot name".into(),
            "vms[0].memory_mb: `memory_mb` is 8: Proxmox takes at least 16 MiB".into(),
            "vms[0].network_config.nameserver: name server `dns.google` is not an IP address".into(),
        ]
    );
}
