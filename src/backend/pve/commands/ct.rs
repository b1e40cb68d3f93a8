//! Container commands: `pct create`/`clone` (a converted template's clones linked
//! where Proxmox can link them), its interfaces, the settings of `pct set` (mount points
//! and volumes keyed by container path, devices by index, both brought to exactly
//! the definition's list; rootfs growth only), bind mount sources on the host
//! (owned by the container's mapped ids), start, stop, and running a script inside.

use super::super::cmd::{Cmd, id};
use super::config::Current;
use crate::defs::{BindMount, Definitions, Guest, IdKind, MapOrigin, Network, host};

/// The container's interfaces as Proxmox numbers them: `net0` from
/// `network_config`, `net1` from `secondary_network_config` when it has one.
pub fn ct_interfaces(g: &Guest) -> Vec<(u32, &Network)> {
    let mut out = vec![(0, &g.net)];
    out.extend(g.net1.as_deref().map(|n| (1, n)));
    out
}

/// One interface's `netN` value:
/// `name=eth0,bridge=vmbr0,ip=10.0.0.5/24,gw=10.0.0.1,hwaddr=...,firewall=1`
/// (`ip=dhcp` as written). A missing name is `eth<N>`, a missing bridge `vmbr0`;
/// `firewall=1` on every interface when the guest's firewall is enabled, since
/// pve-firewall filters only the interfaces that have it.
pub fn ct_net(g: &Guest, index: u32, net: &Network) -> String {
    let name = net.name.clone().unwrap_or_else(|| format!("eth{index}"));
    let mut parts = vec![
        format!("name={name}"),
        format!("bridge={}", net.bridge.as_deref().unwrap_or("vmbr0")),
    ];
    if let Some(ip) = &net.ip {
        parts.push(format!("ip={ip}"));
    }
    if let Some(gw) = net.gateway {
        parts.push(format!("gw={gw}"));
    }
    if let Some(mac) = &net.mac {
        parts.push(format!("hwaddr={mac}"));
    }
    if g.firewall.enabled {
        parts.push("firewall=1".into());
    }
    parts.join(",")
}

/// `pct create` for a container made from its OS template.
pub fn ct_create(g: &Guest, tags: &str) -> Cmd {
    let pool = g.shape.storage_pool.as_deref().unwrap_or(DEFAULT_STORAGE);
    let size = g.settings.disk_gb.unwrap_or(8);
    let mut cmd = Cmd::new([
        "pct",
        "create",
        &id(g),
        g.shape.os_template.as_deref().unwrap_or_default(),
    ])
    .opt("hostname", g.name.clone())
    .opt("storage", pool)
    .opt("rootfs", format!("{pool}:{size}"))
    .flag("unprivileged", g.shape.unprivileged);
    for (n, net) in ct_interfaces(g) {
        cmd = cmd.opt(&format!("net{n}"), ct_net(g, n, net));
    }
    cmd.opt("tags", tags)
}

/// `pct clone`: from the source's template snapshot, a full copy on the guest's
/// storage; from a converted template (`snapshot` `None`), Proxmox's default for a
/// template, a linked clone on the template's storage, unless it cannot be one (see
/// [`linked_clone_blocker`]): then a full copy, on the guest's storage.
pub fn ct_clone(defs: &Definitions, g: &Guest, source: &Guest, snapshot: Option<&str>) -> Cmd {
    let cmd = Cmd::new(["pct", "clone", &id(source), &id(g)]);
    let cmd = match snapshot {
        Some(snapshot) => cmd.opt("snapname", snapshot),
        None if linked_clone_blocker(defs, g, source).is_none() => {
            return cmd.opt("hostname", g.name.clone());
        }
        None => cmd,
    };
    cmd.opt("hostname", g.name.clone())
        .opt("full", "1")
        .opt_if("storage", g.shape.storage_pool.clone())
}

/// Why `g` cannot be a linked clone of the converted template `source`, or `None`
/// where it can:
///
/// * `g` wants another storage: a linked clone stays on the template's
///   (pve-container `PVE::API2::LXC` `clone_vm`: "parameter 'storage' not allowed
///   for linked clones");
/// * a volume of the template is on a directory storage: `clone_vm` asks
///   pve-storage `volume_has_feature('clone', ..., { valid_target_formats => ['raw',
///   'subvol'] })`, and `PVE::Storage::Plugin::volume_has_feature` (directory, NFS,
///   CIFS storages) answers no to any request that cannot take qcow2, since its
///   `clone_image` makes a qcow2 volume ("Linked clone feature for '\<volid>' is not
///   available"). ZFS, LVM-thin, RBD and BTRFS clone a template's base volume.
///
/// Storages phoenix does not know the type of (made by hand) are taken to allow it.
pub fn linked_clone_blocker(defs: &Definitions, g: &Guest, source: &Guest) -> Option<String> {
    let template_storage = root_storage(defs, source);
    if let Some(want) = &g.shape.storage_pool
        && *want != template_storage
    {
        return Some(format!(
            "it goes on storage `{want}`, the template's root disk is on `{template_storage}`"
        ));
    }
    let dirs = host::dir_storage_ids(&defs.host);
    std::iter::once(&template_storage)
        .chain(source.mounts.volumes.iter().map(|v| &v.pool))
        .find(|s| dirs.contains(s))
        .map(|s| format!("the template has a volume on directory storage `{s}`"))
}

/// The storage a container's root disk is on: its `storage_pool`; without one, a
/// clone's is its source's (a linked clone, or a full one without `--storage`,
/// stays there) and a container made from its OS template's is `local-lvm` (the
/// `--storage` of [`ct_create`]).
pub fn root_storage(defs: &Definitions, g: &Guest) -> String {
    let mut at = g;
    // A cycle of clones is a definitions error; stop at the guest count.
    for _ in 0..=defs.guests.len() {
        if let Some(pool) = &at.shape.storage_pool {
            return pool.clone();
        }
        match defs.clone_source(at) {
            Some(source) => at = source,
            None => break,
        }
    }
    DEFAULT_STORAGE.to_string()
}

/// Where [`ct_create`] puts a container whose definition names no storage.
const DEFAULT_STORAGE: &str = "local-lvm";

/// `pct template`: convert a stopped container without snapshots.
pub fn ct_template(g: &Guest) -> Cmd {
    Cmd::new(["pct", "template", &id(g)])
}

/// `pct set` with every setting, plus what a re-run must not repeat: new mount
/// points and volumes only, the root disk only when it grows.
pub fn ct_configure(g: &Guest, current: &Current) -> Vec<Cmd> {
    let s = &g.settings;
    let mut set = Cmd::new(["pct", "set", &id(g)])
        .opt("hostname", g.name.clone())
        .opt_num("memory", s.memory_mb)
        .opt_num("swap", s.swap_mb)
        .opt_num("cores", s.cores)
        .flag("onboot", s.start_at_boot);
    let interfaces = ct_interfaces(g);
    for (n, net) in &interfaces {
        set = set.opt(&format!("net{n}"), ct_net(g, *n, net));
    }
    if let Some(order) = s.boot_order {
        let delay = s.boot_delay.unwrap_or(0);
        set = set.opt("startup", format!("order={order},up={delay},down={delay}"));
    }
    if !g.net.nameservers.is_empty() {
        set = set.opt("nameserver", g.net.nameservers.join(" "));
    }
    if !s.pct_features.is_empty() {
        set = set.opt("features", s.pct_features.join(","));
    }
    // Interfaces past the definition's go: one it dropped (`net1` without its
    // `secondary_network_config` now), one a clone inherited from its source.
    let mut delete: Vec<String> = current
        .nets
        .iter()
        .filter(|n| !interfaces.iter().any(|(have, _)| have == *n))
        .map(|n| format!("net{n}"))
        .collect();
    // Devices by index, exactly the definition's: a clone inherits its source's
    // `devN`, and two entries for one device make the start fail (pve-container
    // `PVE::LXC::create_passthrough_device_node`: mknod "File exists").
    // Each node is made `mode=0666`: pve-container's `create_passthrough_device_node`
    // makes it 0660 and root's otherwise, which no unprivileged service in the
    // guest (vLLM as its own user, say) can open; the definitions give no gid.
    let devices = g.devices.gpu_device_paths();
    for (i, dev) in devices.iter().enumerate() {
        let n = u32::try_from(i).unwrap_or(u32::MAX);
        let want = super::config::device_spec(dev, &[("mode", "0666")]);
        if current.devices.get(&n) != Some(&want) {
            set = set.opt(&format!("dev{n}"), want);
        }
    }
    delete.extend(
        current
            .devices
            .keys()
            .filter(|n| usize::try_from(**n).is_ok_and(|n| n >= devices.len()))
            .map(|n| format!("dev{n}")),
    );
    // Mount points, then volumes, keyed by container path: one already mounted at
    // the same path is left alone (a bind mount whose host path changed gets it
    // anew), a new one takes the first free index, one the definition no longer
    // lists is deleted (a volume becomes `unusedN`; Proxmox keeps its data).
    let mut taken: Vec<u32> = current.mounts.keys().copied().collect();
    let binds = g
        .mounts
        .binds
        .iter()
        .map(|b| (b.host_path.clone(), b.container_path.as_str(), true));
    let volumes = g.mounts.volumes.iter().map(|v| {
        (
            format!("{}:{}", v.pool, v.size_gb),
            v.mount_point.as_str(),
            false,
        )
    });
    let wanted: Vec<(String, &str, bool)> = binds.chain(volumes).collect();
    for (source, path, bind) in &wanted {
        if let Some((n, _)) = current.mounts.iter().find(|(_, p)| p == path) {
            if *bind && current.mount_sources.get(n) != Some(source) {
                set = set.opt(&format!("mp{n}"), format!("{source},mp={path}"));
            }
            continue;
        }
        let n = (0..=u32::MAX).find(|n| !taken.contains(n)).unwrap_or(0);
        taken.push(n);
        set = set.opt(&format!("mp{n}"), format!("{source},mp={path}"));
    }
    delete.extend(
        current
            .mounts
            .iter()
            .filter(|(_, p)| !wanted.iter().any(|(_, w, _)| w == p))
            .map(|(n, _)| format!("mp{n}")),
    );
    if !delete.is_empty() {
        set = set.opt("delete", delete.join(","));
    }
    let mut cmds = vec![set];
    if let Some(want) = s.disk_gb
        && current.rootfs_gb.is_none_or(|have| want as f64 > have)
    {
        cmds.push(Cmd::new([
            "pct",
            "resize",
            &id(g),
            "rootfs",
            &format!("{want}G"),
        ]));
    }
    cmds
}

/// Make a bind mount's host directory when it is missing: Proxmox refuses to
/// start a container whose bind source is not a directory (pve-container
/// `PVE::LXC::__mountpoint_mount`: "directory '\<path>' does not exist"), and `pct
/// set` does not check. A directory phoenix creates is given to the host ids that
/// `owner_uid`/`owner_gid` (absent: 0, the container's root) map to under the
/// container's id map ([`Guest::id_map`]: 100000 + id by Proxmox's default,
/// `gid 33` stays 33 with an `id_maps` entry `33 → 33`); where the map does not
/// hold one of them, the directory is not chowned (`validate` warns). A privileged
/// container without a map gets `owner_uid`/`owner_gid` as they are, when given. A
/// directory that already exists is never touched. `path` is the host path as the
/// runner sees it (under `PveOptions::root`).
pub fn bind_source(g: &Guest, b: &BindMount, path: &str) -> Cmd {
    let (uid, gid) = (b.owner_uid, b.owner_gid);
    let map = g.id_map();
    let owner = if map.origin == MapOrigin::None {
        if uid.is_some() || gid.is_some() {
            format!("{}:{}", uid.unwrap_or(0), gid.unwrap_or(0))
        } else {
            String::new()
        }
    } else {
        match (
            map.host_id(IdKind::Uid, uid.unwrap_or(0)),
            map.host_id(IdKind::Gid, gid.unwrap_or(0)),
        ) {
            (Some(u), Some(g)) => format!("{u}:{g}"),
            _ => String::new(),
        }
    };
    Cmd::new([
        "/bin/sh",
        "-c",
        "[ -d \"$1\" ] && exit 0; mkdir -p \"$1\" || exit 1; [ -z \"$2\" ] || chown \"$2\" \"$1\"",
        "sh",
        path,
        &owner,
    ])
}

pub fn ct_start(g: &Guest) -> Cmd {
    Cmd::new(["pct", "start", &id(g)])
}

pub fn ct_stop(g: &Guest) -> Cmd {
    Cmd::new(["pct", "stop", &id(g)])
}

#[cfg(test)]
#[path = "ct_tests.rs"]
mod tests;
