//! Container commands: `pct create`/`clone`, the settings of `pct set` (mount points
//! and volumes keyed by container path, rootfs growth only), start, stop, and
//! running a script inside.

use serde_json::Value;

use super::super::cmd::Cmd;
use super::config::Current;
use super::fields::{field, firewall_enabled, id, net, s};
use crate::defs::Guest;

/// `name=eth0,bridge=vmbr0,ip=10.0.0.5/24,gw=10.0.0.1,hwaddr=...,firewall=1`
pub fn ct_net0(g: &Guest) -> String {
    let mut parts = vec![format!(
        "name={}",
        net(g, "name").unwrap_or_else(|| "eth0".into())
    )];
    parts.push(format!(
        "bridge={}",
        net(g, "bridge").unwrap_or_else(|| "vmbr0".into())
    ));
    if let Some(ip) = net(g, "ip") {
        parts.push(format!("ip={ip}"));
    }
    if let Some(gw) = net(g, "gw") {
        parts.push(format!("gw={gw}"));
    }
    if let Some(mac) = field(g, "mac_address") {
        parts.push(format!("hwaddr={mac}"));
    }
    if firewall_enabled(g) {
        parts.push("firewall=1".into());
    }
    parts.join(",")
}

/// `pct create` for a container made from its OS template.
pub fn ct_create(g: &Guest, tags: &str) -> Cmd {
    let pool = g.storage_pool.clone().unwrap_or_else(|| "local-lvm".into());
    let size = field(g, "storage_size_gb").unwrap_or_else(|| "8".into());
    Cmd::new([
        "pct",
        "create",
        &id(g),
        &field(g, "template").unwrap_or_default(),
    ])
    .opt("hostname", g.name.clone())
    .opt("storage", pool.clone())
    .opt("rootfs", format!("{pool}:{size}"))
    .opt(
        "unprivileged",
        if g.raw.get("unprivileged").and_then(Value::as_bool) == Some(true) {
            "1"
        } else {
            "0"
        },
    )
    .opt("net0", ct_net0(g))
    .opt("tags", tags)
}

/// `pct clone` from the source's template snapshot, a full copy on the guest's storage.
pub fn ct_clone(g: &Guest, source: &Guest, snapshot: &str) -> Cmd {
    let mut c = Cmd::new(["pct", "clone", &id(source), &id(g)])
        .opt("snapname", snapshot)
        .opt("hostname", g.name.clone())
        .opt("full", "1");
    if let Some(pool) = &g.storage_pool {
        c = c.opt("storage", pool.clone());
    }
    c
}

/// `pct set` with every setting, plus what a re-run must not repeat: new mount
/// points and volumes only, the root disk only when it grows.
pub fn ct_configure(g: &Guest, current: &Current) -> Vec<Cmd> {
    let mut set = Cmd::new(["pct", "set", &id(g)])
        .opt("hostname", g.name.clone())
        .opt_if("memory", field(g, "memory_mb"))
        .opt_if("swap", field(g, "swap_mb"))
        .opt_if("cores", field(g, "cores"))
        .opt(
            "onboot",
            if g.raw.get("start_at_boot").and_then(Value::as_bool) == Some(true) {
                "1"
            } else {
                "0"
            },
        )
        .opt("net0", ct_net0(g));
    if let Some(order) = field(g, "boot_order") {
        let delay = field(g, "boot_delay").unwrap_or_else(|| "0".into());
        set = set.opt("startup", format!("order={order},up={delay},down={delay}"));
    }
    if let Some(ns) = net(g, "nameservers") {
        set = set.opt("nameserver", ns.replace(',', " "));
    }
    let features: Vec<String> = g
        .raw
        .get("pct_options")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(s).collect())
        .unwrap_or_default();
    if !features.is_empty() {
        set = set.opt("features", features.join(","));
    }
    let mut devices = Vec::new();
    if !g.gpus.is_empty() {
        for dev in ["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"] {
            devices.push(dev.to_string());
        }
        devices.extend(g.gpus.iter().map(|n| format!("/dev/nvidia{n}")));
    }
    for (i, dev) in devices.iter().enumerate() {
        set = set.opt(&format!("dev{i}"), format!("path={dev}"));
    }
    // Mount points and volumes, keyed by container path: one already mounted at the
    // same path is left alone, a new one takes the first free index.
    let mut taken: Vec<u32> = current.mounts.keys().copied().collect();
    let mut next_free = || {
        let n = (0..=u32::MAX).find(|n| !taken.contains(n)).unwrap_or(0);
        taken.push(n);
        n
    };
    for m in g
        .raw
        .get("mount_points")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(host), Some(ct)) = (
            m.get("host_path").and_then(s),
            m.get("container_path").and_then(s),
        ) else {
            continue;
        };
        if current.mounts.values().any(|p| *p == ct) {
            continue;
        }
        set = set.opt(&format!("mp{}", next_free()), format!("{host},mp={ct}"));
    }
    for key in ["zfs_volumes", "volumes"] {
        for v in g
            .raw
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(pool), Some(size), Some(ct)) = (
                v.get("pool").and_then(s),
                v.get("size_gb").and_then(s),
                v.get("mount_point").and_then(s),
            ) else {
                continue;
            };
            if current.mounts.values().any(|p| *p == ct) {
                continue;
            }
            set = set.opt(
                &format!("mp{}", next_free()),
                format!("{pool}:{size},mp={ct}"),
            );
        }
    }
    let mut cmds = vec![set];
    if let Some(want) = field(g, "storage_size_gb").and_then(|x| x.parse::<u64>().ok())
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

pub fn ct_start(g: &Guest) -> Cmd {
    Cmd::new(["pct", "start", &id(g)])
}

pub fn ct_stop(g: &Guest) -> Cmd {
    Cmd::new(["pct", "stop", &id(g)])
}

/// Push a script (and the guest's definition) into a container and run it.
pub fn ct_exec(g: &Guest, local: &str, remote: &str, args: &[String]) -> Vec<Cmd> {
    let mut run = Cmd::new(["pct", "exec", &id(g), "--", "/bin/sh", remote]);
    run.argv.extend(args.iter().cloned());
    vec![
        Cmd::new(["pct", "exec", &id(g), "--", "mkdir", "-p", "/phoenix/run"]),
        Cmd::new(["pct", "push", &id(g), local, remote]),
        run,
    ]
}
