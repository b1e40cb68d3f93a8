//! Container commands: `pct create`/`clone`, the settings of `pct set` (mount points
//! and volumes keyed by container path, devices by index, both brought to exactly
//! the definition's list; rootfs growth only), bind mount sources on the host
//! (owned by the container's mapped ids), start, stop, and running a script inside.

use super::super::cmd::{Cmd, id};
use super::config::Current;
use crate::defs::{BindMount, Guest, IdKind, MapOrigin};

/// `name=eth0,bridge=vmbr0,ip=10.0.0.5/24,gw=10.0.0.1,hwaddr=...,firewall=1`
pub fn ct_net0(g: &Guest) -> String {
    let net = &g.net;
    let mut parts = vec![
        format!("name={}", net.name.as_deref().unwrap_or("eth0")),
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
    let pool = g.shape.storage_pool.as_deref().unwrap_or("local-lvm");
    let size = g.settings.disk_gb.unwrap_or(8);
    Cmd::new([
        "pct",
        "create",
        &id(g),
        g.shape.os_template.as_deref().unwrap_or_default(),
    ])
    .opt("hostname", g.name.clone())
    .opt("storage", pool)
    .opt("rootfs", format!("{pool}:{size}"))
    .flag("unprivileged", g.shape.unprivileged)
    .opt("net0", ct_net0(g))
    .opt("tags", tags)
}

/// `pct clone`: from the source's template snapshot, a full copy on the guest's
/// storage; from a converted template (`snapshot` `None`), Proxmox's default for a
/// template, a linked clone on the template's storage.
pub fn ct_clone(g: &Guest, source: &Guest, snapshot: Option<&str>) -> Cmd {
    let cmd = Cmd::new(["pct", "clone", &id(source), &id(g)]);
    match snapshot {
        Some(snapshot) => cmd
            .opt("snapname", snapshot)
            .opt("hostname", g.name.clone())
            .opt("full", "1")
            .opt_if("storage", g.shape.storage_pool.clone()),
        None => cmd.opt("hostname", g.name.clone()),
    }
}

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
        .flag("onboot", s.start_at_boot)
        .opt("net0", ct_net0(g));
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
    let mut delete: Vec<String> = Vec::new();
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
/// `PVE::LXC::__mountpoint_mount`: "directory '<path>' does not exist"), and `pct
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
