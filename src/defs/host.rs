//! Host setup steps: which sections of `phoenix_hypervisor_config.json` become
//! `host:` nodes, what each reads, and what it must come after.
//!
//! The order is the shell tool's (reference §4) turned into edges: the network first,
//! ZFS before NFS and Samba, the admin user before Samba, the driver before GPU init.
//! A step exists only when its section is configured, so a file without `zfs` has no
//! `host:zfs` and nothing waits for it. `zfs` and `nfs` are built in: the backend
//! carries them out from the hypervisor file (no script), see `backend::pve::host`.

use serde_json::{Map, Value};

/// What a host step reads from the guest definitions besides its own sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestInputs {
    None,
    /// Every guest's `firewall` section (the cluster firewall lists guest rules).
    Firewall,
    /// Every guest's name and address (the DNS server publishes them).
    Dns,
}

#[derive(Debug)]
pub struct HostStepSpec {
    pub name: &'static str,
    /// The shell tool's script for this step, used in the legacy layout.
    pub legacy_script: &'static str,
    /// Dotted paths of the sections this step reads; they are its key's inputs.
    pub sections: &'static [&'static str],
    /// Steps that run before this one, when they exist.
    pub after: &'static [&'static str],
    pub guest_inputs: GuestInputs,
    /// Carried out by the backend itself from the hypervisor file, with no script:
    /// the shell tool's scripts for these destroyed data (see `backend::pve::host`).
    pub builtin: bool,
    present: fn(&Map<String, Value>) -> bool,
    pub summary: &'static str,
}

impl HostStepSpec {
    pub fn is_present(&self, host: &Map<String, Value>) -> bool {
        (self.present)(host)
    }
}

/// The value at a dotted path.
pub fn lookup<'a>(root: &'a Map<String, Value>, dotted: &str) -> Option<&'a Value> {
    let mut parts = dotted.split('.');
    let mut cur = root.get(parts.next()?)?;
    for p in parts {
        cur = cur.as_object()?.get(p)?;
    }
    Some(cur).filter(|v| !v.is_null())
}

fn non_empty_array(root: &Map<String, Value>, dotted: &str) -> bool {
    lookup(root, dotted)
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
}

fn is_true(root: &Map<String, Value>, dotted: &str) -> bool {
    lookup(root, dotted).and_then(Value::as_bool) == Some(true)
}

pub const HOST_STEPS: &[HostStepSpec] = &[
    HostStepSpec {
        name: "network",
        legacy_script: "hypervisor_initial_setup.sh",
        sections: &["network", "timezone"],
        after: &[],
        guest_inputs: GuestInputs::None,
        builtin: false,
        present: |h| h.contains_key("network") || h.contains_key("timezone"),
        summary: "host network, bridge and time zone",
    },
    HostStepSpec {
        name: "zfs",
        legacy_script: "hypervisor_feature_setup_zfs.sh",
        sections: &["zfs", "proxmox_storage_ids"],
        after: &["network"],
        guest_inputs: GuestInputs::None,
        builtin: true,
        present: |h| non_empty_array(h, "zfs.pools") || non_empty_array(h, "zfs.datasets"),
        summary: "ZFS pools, datasets and the Proxmox storages on them",
    },
    HostStepSpec {
        name: "firewall",
        legacy_script: "hypervisor_feature_setup_firewall.sh",
        sections: &["shared_volumes.firewall", "firewall"],
        after: &["network"],
        guest_inputs: GuestInputs::Firewall,
        builtin: false,
        present: |h| {
            lookup(h, "shared_volumes.firewall").is_some() || lookup(h, "firewall").is_some()
        },
        summary: "cluster firewall with the guests' rules",
    },
    HostStepSpec {
        name: "nfs",
        legacy_script: "hypervisor_feature_setup_nfs.sh",
        sections: &["nfs", "network.interfaces"],
        after: &["network", "zfs"],
        guest_inputs: GuestInputs::None,
        builtin: true,
        present: |h| non_empty_array(h, "nfs.exports"),
        summary: "NFS exports for guest volumes",
    },
    HostStepSpec {
        name: "nvidia",
        legacy_script: "hypervisor_feature_install_nvidia.sh",
        sections: &["nvidia_driver"],
        after: &["network"],
        guest_inputs: GuestInputs::None,
        builtin: false,
        present: |h| is_true(h, "nvidia_driver.install"),
        summary: "NVIDIA host driver",
    },
    HostStepSpec {
        name: "gpu_init",
        legacy_script: "hypervisor_feature_initialize_nvidia_gpus.sh",
        sections: &[],
        after: &["nvidia"],
        guest_inputs: GuestInputs::None,
        builtin: false,
        present: |h| is_true(h, "nvidia_driver.install"),
        summary: "GPU device nodes before guests start",
    },
    HostStepSpec {
        name: "dns",
        legacy_script: "hypervisor_feature_setup_dns_server.sh",
        sections: &["dns_server", "domain_name", "network.interfaces"],
        after: &["network"],
        guest_inputs: GuestInputs::Dns,
        builtin: false,
        present: |h| is_true(h, "dns_server.enabled"),
        summary: "DNS server with a record per guest",
    },
    HostStepSpec {
        name: "users",
        legacy_script: "hypervisor_feature_create_admin_user.sh",
        sections: &["users"],
        after: &["network"],
        guest_inputs: GuestInputs::None,
        builtin: false,
        present: |h| lookup(h, "users.username").is_some(),
        summary: "admin user",
    },
    HostStepSpec {
        name: "samba",
        legacy_script: "hypervisor_feature_setup_samba.sh",
        sections: &["samba", "mount_point_base", "network.workgroup"],
        after: &["users", "zfs"],
        guest_inputs: GuestInputs::None,
        builtin: false,
        present: |h| non_empty_array(h, "samba.shares"),
        summary: "Samba shares",
    },
];

pub fn spec(name: &str) -> Option<&'static HostStepSpec> {
    HOST_STEPS.iter().find(|s| s.name == name)
}

/// The host's own address, `network.interfaces.address` without its prefix length
/// (an array of interfaces: the first).
pub fn address(host: &Map<String, Value>) -> Option<String> {
    let interfaces = lookup(host, "network.interfaces")?;
    let first = match interfaces {
        Value::Array(a) => a.first()?,
        v => v,
    };
    let addr = first.get("address")?.as_str()?;
    Some(addr.split('/').next().unwrap_or_default().to_string())
}

/// Storage IDs of directory storages: Proxmox's own `local`, and the datasets the
/// ZFS step adds as `dir` storages (`proxmox_storage_type: "dir"`).
pub fn dir_storage_ids(host: &Map<String, Value>) -> Vec<String> {
    let mut ids = vec!["local".to_string()];
    if let Some(datasets) = lookup(host, "zfs.datasets").and_then(Value::as_array) {
        for d in datasets {
            if let (Some(pool), Some(name), Some("dir")) = (
                d.get("pool").and_then(Value::as_str),
                d.get("name").and_then(Value::as_str),
                d.get("proxmox_storage_type").and_then(Value::as_str),
            ) {
                ids.push(format!("{pool}-{name}"));
            }
        }
    }
    ids
}

/// Storage IDs that the ZFS step creates: guests on them need `host:zfs` first.
pub fn zfs_storage_ids(host: &Map<String, Value>) -> Vec<String> {
    let mut ids: Vec<String> = lookup(host, "proxmox_storage_ids")
        .and_then(Value::as_object)
        .map(|m| {
            m.values()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if let Some(datasets) = lookup(host, "zfs.datasets").and_then(Value::as_array) {
        for d in datasets {
            if let (Some(pool), Some(name)) = (
                d.get("pool").and_then(Value::as_str),
                d.get("name").and_then(Value::as_str),
            ) {
                ids.push(format!("{pool}-{name}"));
            }
        }
    }
    ids.sort();
    ids.dedup();
    ids
}

/// The storage that holds OS template tarballs (`vztmpl`), where a container's
/// `template_file` is found: `proxmox_storage_ids.fastData_shared_iso`, the entry the
/// shell tool downloaded templates to (`pveam download`, reference §2.1), else the
/// one entry whose name ends in `iso`, if there is exactly one.
pub fn iso_storage_id(host: &Map<String, Value>) -> Option<String> {
    let ids = lookup(host, "proxmox_storage_ids")?.as_object()?;
    if let Some(id) = ids.get("fastData_shared_iso").and_then(Value::as_str) {
        return Some(id.to_string());
    }
    let mut isos = ids
        .iter()
        .filter(|(k, _)| k.to_ascii_lowercase().ends_with("iso"))
        .filter_map(|(_, v)| v.as_str());
    match (isos.next(), isos.next()) {
        (Some(id), None) => Some(id.to_string()),
        _ => None,
    }
}
