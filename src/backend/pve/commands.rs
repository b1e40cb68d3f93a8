//! The exact `pct`, `qm` and `pvesh` command lines for each operation, as pure
//! functions of the definitions (and, where a re-run must not add things twice, of
//! the guest's current config). Nothing here runs a command: the backend runs them,
//! `build --dry-run` prints them, and the tests check every one against the Proxmox
//! API schema.
//!
//! Field mapping (reference §1.2, §2.1, §3), with the shell tool's bugs left out:
//! memory, cores, swap, onboot, startup (only with `boot_order`), net0 (with
//! `firewall=1` when the guest's firewall is enabled), nameserver, `pct_options` as
//! one `--features`, GPUs as native `devN` passthrough (no hard-coded cgroup majors),
//! mount points and volumes keyed by container path so a re-run adds nothing twice,
//! rootfs growth only (`pct resize` never shrinks). Firewall rules go through
//! `pvesh`, and the guest's firewall is switched on, which the shell tool forgot.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::backend::{Preview, Work};
use crate::defs::{Definitions, Guest, GuestKind};
use crate::step::Step;

/// Where cloud images are kept on a Proxmox host (`PHOENIX_PVE_IMAGE_DIR` moves it).
pub const IMAGE_DIR: &str = "/var/lib/vz/template/cache";

/// One command line: argv, never a shell string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    pub argv: Vec<String>,
}

impl Cmd {
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(items: I) -> Cmd {
        Cmd {
            argv: items.into_iter().map(Into::into).collect(),
        }
    }

    pub(crate) fn opt(mut self, name: &str, value: impl Into<String>) -> Cmd {
        self.argv.push(format!("--{name}"));
        self.argv.push(value.into());
        self
    }

    fn opt_if(self, name: &str, value: Option<String>) -> Cmd {
        match value {
            Some(v) => self.opt(name, v),
            None => self,
        }
    }

    /// The command as a person would type it, quoted where needed.
    pub fn display(&self) -> String {
        self.argv
            .iter()
            .map(|a| super::super::command::shown(a))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What a guest's config holds now (from `pct config`), as far as re-runs care.
#[derive(Debug, Clone, Default)]
pub struct Current {
    /// mpN → the container path it is mounted at.
    pub mounts: BTreeMap<u32, String>,
    /// Root disk size in GiB (a container's `rootfs`).
    pub rootfs_gb: Option<f64>,
    /// A VM's boot disk (`scsi0`) size in GiB.
    pub scsi0_gb: Option<f64>,
    /// A VM's `net0` as it is.
    pub net0: Option<String>,
}

/// `32G`, `2252M`, `1T`, `512K` (Proxmox's `size=`) in GiB.
fn size_gb(s: &str) -> Option<f64> {
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len()));
    let n: f64 = num.parse().ok()?;
    let scale = match unit {
        "T" => 1024.0,
        "G" | "" => 1.0,
        "M" => 1.0 / 1024.0,
        "K" => 1.0 / (1024.0 * 1024.0),
        _ => return None,
    };
    Some(n * scale)
}

impl Current {
    /// Parse `pct config <id>` output; only the main section counts (snapshot
    /// sections `[name]` describe the past).
    pub fn parse(text: &str) -> Current {
        let mut cur = Current::default();
        for line in text.lines() {
            if line.starts_with('[') {
                break;
            }
            let Some((key, value)) = line.split_once(": ") else {
                continue;
            };
            if let Some(n) = key.strip_prefix("mp").and_then(|n| n.parse::<u32>().ok())
                && let Some(path) = value.split(',').find_map(|p| p.strip_prefix("mp="))
            {
                cur.mounts.insert(n, path.to_string());
            }
            let size = || {
                value
                    .split(',')
                    .find_map(|p| p.strip_prefix("size="))
                    .and_then(size_gb)
            };
            match key {
                "rootfs" => cur.rootfs_gb = size(),
                "scsi0" => cur.scsi0_gb = size(),
                "net0" => cur.net0 = Some(value.to_string()),
                _ => {}
            }
        }
        cur
    }
}

fn s(v: &Value) -> Option<String> {
    match v {
        Value::String(x) => Some(x.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.into()),
        _ => None,
    }
}

fn field(g: &Guest, key: &str) -> Option<String> {
    g.raw.get(key).and_then(s)
}

fn net(g: &Guest, key: &str) -> Option<String> {
    g.raw
        .get("network_config")
        .and_then(|n| n.get(key))
        .and_then(s)
}

fn firewall_enabled(g: &Guest) -> bool {
    g.raw
        .get("firewall")
        .and_then(|f| f.get("enabled"))
        .and_then(Value::as_bool)
        == Some(true)
}

fn id(g: &Guest) -> String {
    g.id.to_string()
}

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

/// Firewall: switch the guest's firewall on or off, replace its rules. `existing`
/// is the number of rules it has now (they are deleted from the last one down).
pub fn firewall(g: &Guest, node: &str, existing: usize) -> Vec<Cmd> {
    let kind = if g.kind == GuestKind::Ct {
        "lxc"
    } else {
        "qemu"
    };
    let base = format!("/nodes/{node}/{kind}/{}/firewall", g.id);
    let enabled = firewall_enabled(g);
    let mut cmds = vec![
        Cmd::new(["pvesh", "set", &format!("{base}/options")])
            .opt("enable", if enabled { "1" } else { "0" }),
    ];
    for pos in (0..existing).rev() {
        cmds.push(Cmd::new([
            "pvesh",
            "delete",
            &format!("{base}/rules/{pos}"),
        ]));
    }
    if !enabled {
        return cmds;
    }
    for rule in g
        .raw
        .get("firewall")
        .and_then(|f| f.get("rules"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let get = |k: &str| rule.get(k).and_then(s);
        let mut c = Cmd::new(["pvesh", "create", &format!("{base}/rules")])
            .opt("type", get("type").unwrap_or_else(|| "in".into()))
            .opt("action", get("action").unwrap_or_else(|| "ACCEPT".into()))
            .opt("enable", "1");
        for (from, to) in [
            ("source", "source"),
            ("dest", "dest"),
            ("proto", "proto"),
            ("port", "dport"),
            ("comment", "comment"),
        ] {
            c = c.opt_if(to, get(from));
        }
        cmds.push(c);
    }
    cmds
}

pub fn ct_start(g: &Guest) -> Cmd {
    Cmd::new(["pct", "start", &id(g)])
}

pub fn ct_stop(g: &Guest) -> Cmd {
    Cmd::new(["pct", "stop", &id(g)])
}

/// Retake a snapshot: delete the old one of that name first when there is one.
pub fn snapshot(g: &Guest, name: &str, exists: bool) -> Vec<Cmd> {
    let tool = tool(g);
    let mut cmds = Vec::new();
    if exists {
        cmds.push(Cmd::new([tool, "delsnapshot", &id(g), name]));
    }
    cmds.push(Cmd::new([tool, "snapshot", &id(g), name]));
    cmds
}

pub fn rollback(g: &Guest, name: &str) -> Cmd {
    Cmd::new([tool(g), "rollback", &id(g), name])
}

pub fn destroy(g: &Guest) -> Vec<Cmd> {
    vec![
        Cmd::new([tool(g), "stop", &id(g)]),
        Cmd::new([tool(g), "destroy", &id(g)]).opt("purge", "1"),
    ]
}

/// Stamp the guest: the `phoenix` tag marks ownership, a second tag carries the key.
pub fn stamp(g: &Guest, tags: &str) -> Cmd {
    Cmd::new([tool(g), "set", &id(g)]).opt("tags", tags)
}

/// Tags for a stamp: `phoenix;phx-built-<key prefix>` or `phoenix;phx-building`.
pub fn stamp_tags(stamp: &str) -> String {
    match stamp.strip_prefix("built:") {
        Some(key) => format!("phoenix;phx-built-{}", &key[..key.len().min(32)]),
        None => "phoenix;phx-building".into(),
    }
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

/// `pct` for a container, `qm` for a VM.
pub fn tool(g: &Guest) -> &'static str {
    if g.kind == GuestKind::Ct { "pct" } else { "qm" }
}

/// Where a template's cloud image comes from: `template_image_url`, or Ubuntu's
/// cloud image site for `vm_defaults.ubuntu_release` (the shell tool's source).
pub fn image_url(g: &Guest, defs: &Definitions) -> Option<String> {
    if let Some(url) = field(g, "template_image_url") {
        return Some(url);
    }
    let image = field(g, "template_image")?;
    let release = defs.vm_defaults.get("ubuntu_release").and_then(s)?;
    Some(format!(
        "https://cloud-images.ubuntu.com/{release}/current/{image}"
    ))
}

/// The image as downloaded: `<dir>/<template_image>`.
pub fn image_path(g: &Guest, dir: &str) -> String {
    format!("{dir}/{}", field(g, "template_image").unwrap_or_default())
}

/// The copy of the image that is customised and imported for one VM; the
/// downloaded image stays as it came.
pub fn image_work_copy(g: &Guest, dir: &str) -> String {
    format!(
        "{dir}/phoenix-{}-{}",
        g.id,
        field(g, "template_image").unwrap_or_default()
    )
}

/// Download to a partial file; it is checked and renamed by the caller.
pub fn image_download(url: &str, partial: &str) -> Cmd {
    Cmd::new([
        "curl",
        "--fail",
        "--location",
        "--silent",
        "--show-error",
        "--retry",
        "3",
        "--output",
        partial,
        url,
    ])
}

/// Put the guest agent (its absence broke the shell tool's first boots) and the
/// NFS client into the work copy.
pub fn image_customise(g: &Guest, dir: &str) -> Vec<Cmd> {
    let image = image_path(g, dir);
    let work = image_work_copy(g, dir);
    vec![
        Cmd::new(["cp", "--reflink=auto", &image, &work]),
        Cmd::new([
            "virt-customize",
            "-a",
            &work,
            "--install",
            "qemu-guest-agent,nfs-common",
            "--run-command",
            "systemctl enable qemu-guest-agent",
        ]),
    ]
}

/// The VM's boot disk size in GiB: its `disk_size_gb`, for a template else
/// `vm_defaults.disk_size_gb` (a cloud image's own disk is a few GiB). Clones start
/// from their template's disk.
pub fn vm_disk_gb(g: &Guest, defs: &Definitions) -> Option<u64> {
    field(g, "disk_size_gb")
        .or_else(|| {
            g.is_template
                .then(|| defs.vm_defaults.get("disk_size_gb").and_then(s))
                .flatten()
        })
        .and_then(|v| v.parse().ok())
}

/// Grow the boot disk to its size; never shrink (Proxmox cannot).
pub fn vm_grow_disk(g: &Guest, defs: &Definitions, current: &Current) -> Option<Cmd> {
    let want = vm_disk_gb(g, defs)?;
    current
        .scsi0_gb
        .is_none_or(|have| want as f64 > have)
        .then(|| Cmd::new(["qm", "resize", &id(g), "scsi0", &format!("{want}G")]))
}

/// A template VM from a cloud image: create, then import the image as the boot
/// disk (`import-from`: Proxmox names the new volume, whatever the storage type,
/// and a stray volume of an earlier attempt is never picked up), a cloud-init
/// drive, boot from the disk. (`qm template` comes at the end of the chain.)
pub fn vm_create_template(g: &Guest, defs: &Definitions, image_path: &str, tags: &str) -> Vec<Cmd> {
    let storage = defs
        .vm_defaults
        .get("storage_pool")
        .and_then(s)
        .unwrap_or_else(|| "local-lvm".into());
    let bridge = defs
        .vm_defaults
        .get("network_bridge")
        .and_then(s)
        .unwrap_or_else(|| "vmbr0".into());
    let user = g
        .raw
        .get("user_config")
        .and_then(|u| u.get("username"))
        .and_then(s);
    let create = Cmd::new(["qm", "create", &id(g)])
        .opt("name", g.name.clone())
        .opt("memory", "2048")
        .opt("net0", format!("virtio,bridge={bridge}"))
        .opt("serial0", "socket")
        .opt("agent", "1")
        .opt("scsihw", "virtio-scsi-pci")
        .opt_if("ciuser", user)
        .opt("ipconfig0", "ip=dhcp")
        .opt("tags", tags);
    vec![
        create,
        Cmd::new(["qm", "set", &id(g)])
            .opt("scsi0", format!("{storage}:0,import-from={image_path}"))
            .opt("boot", "order=scsi0")
            .opt("ide2", format!("{storage}:cloudinit")),
    ]
}

/// A full clone of a template VM.
pub fn vm_clone(g: &Guest, source: &Guest) -> Cmd {
    Cmd::new(["qm", "clone", &id(source), &id(g)])
        .opt("name", g.name.clone())
        .opt("full", "1")
}

/// `net0` with the firewall flag as the definition wants it; every other part
/// (the MAC address above all: cloud-init keys its instance on it) kept.
pub fn vm_net0(current: &str, firewall: bool) -> String {
    let mut parts: Vec<&str> = current
        .split(',')
        .filter(|p| !p.starts_with("firewall="))
        .collect();
    if firewall {
        parts.push("firewall=1");
    }
    parts.join(",")
}

/// Settings of a VM, cloud-init included, then `qm cloudinit update`. `current`
/// is its config now (`net0` is changed in place, never replaced).
pub fn vm_configure(g: &Guest, defs: &Definitions, current: &Current) -> Vec<Cmd> {
    let default = |k: &str| defs.vm_defaults.get(k).and_then(s);
    let mut set = Cmd::new(["qm", "set", &id(g)])
        .opt("name", g.name.clone())
        .opt_if("cores", field(g, "cores").or_else(|| default("cores")))
        .opt_if(
            "memory",
            field(g, "memory_mb").or_else(|| default("memory_mb")),
        )
        .opt(
            "onboot",
            if g.raw.get("start_at_boot").and_then(Value::as_bool) == Some(true) {
                "1"
            } else {
                "0"
            },
        )
        .opt("agent", "1");
    if let Some(order) = field(g, "boot_order") {
        let delay = field(g, "boot_delay").unwrap_or_else(|| "0".into());
        set = set.opt("startup", format!("order={order},up={delay}"));
    }
    match net(g, "ip").as_deref() {
        None => {}
        Some("dhcp") => set = set.opt("ipconfig0", "ip=dhcp"),
        Some(ip) => {
            set = set.opt(
                "ipconfig0",
                format!("ip={ip},gw={}", net(g, "gw").unwrap_or_default()),
            );
        }
    }
    set = set.opt_if("nameserver", net(g, "nameserver"));
    match &current.net0 {
        Some(now) => {
            let want = vm_net0(now, firewall_enabled(g));
            if want != *now {
                set = set.opt("net0", want);
            }
        }
        // Unknown (a dry run): what a fresh clone would get.
        None if firewall_enabled(g) => {
            let bridge = default("network_bridge").unwrap_or_else(|| "vmbr0".into());
            set = set.opt("net0", format!("virtio,bridge={bridge},firewall=1"));
        }
        None => {}
    }
    vec![set, Cmd::new(["qm", "cloudinit", "update", &id(g)])]
}

/// Make a booted template generic, through the guest agent: clones must get their
/// own machine ID and run cloud-init afresh. `cloud-init clean` can stop the agent,
/// so it comes last.
pub fn vm_generalise(g: &Guest) -> Vec<Cmd> {
    let exec = |argv: &[&str]| {
        let mut c = Cmd::new(["qm", "guest", "exec", &id(g), "--"]);
        c.argv.extend(argv.iter().map(|a| (*a).to_string()));
        c
    };
    vec![
        exec(&[
            "/bin/sh",
            "-c",
            "rm -rf /var/lib/cloud/instance /var/lib/cloud/instances && truncate -s 0 /etc/machine-id && rm -f /var/lib/dbus/machine-id",
        ]),
        exec(&["cloud-init", "clean", "--logs"]),
    ]
}

/// Shut the template down cleanly (stopped hard after three minutes), convert it.
pub fn vm_template(g: &Guest) -> Vec<Cmd> {
    vec![
        Cmd::new(["qm", "shutdown", &id(g)])
            .opt("timeout", "180")
            .opt("forceStop", "1"),
        Cmd::new(["qm", "template", &id(g)]),
    ]
}

pub fn vm_start(g: &Guest) -> Cmd {
    Cmd::new(["qm", "start", &id(g)])
}

/// Everything on the host in one call.
pub fn inventory() -> Cmd {
    Cmd::new([
        "pvesh",
        "get",
        "/cluster/resources",
        "--type",
        "vm",
        "--output-format",
        "json",
    ])
}

/// Every command a full build of `g` runs, in order, against an empty host (the
/// final stamp excepted, which carries the output key): what
/// `build --dry-run` prints for a create, and what the schema tests check.
pub fn full_build(g: &Guest, defs: &Definitions, node: &str) -> Vec<Cmd> {
    let building = stamp_tags("building:");
    let source = g.clone_from.as_ref().and_then(|(src, _)| defs.guest(*src));
    let mut cmds = Vec::new();
    match (g.kind, source) {
        (GuestKind::Ct, Some(src)) => cmds.push(ct_clone(
            g,
            src,
            src.template_snapshot.as_deref().unwrap_or("template"),
        )),
        (GuestKind::Ct, None) => cmds.push(ct_create(g, &building)),
        (GuestKind::Vm, Some(src)) => {
            cmds.push(vm_clone(g, src));
            cmds.extend(vm_grow_disk(g, defs, &Current::default()));
        }
        (GuestKind::Vm, None) => {
            let dir = IMAGE_DIR;
            cmds.extend(image_customise(g, dir));
            cmds.extend(vm_create_template(
                g,
                defs,
                &image_work_copy(g, dir),
                &building,
            ));
            cmds.extend(vm_grow_disk(g, defs, &Current::default()));
            cmds.push(Cmd::new(["rm", "-f", &image_work_copy(g, dir)]));
        }
    }
    match g.kind {
        GuestKind::Ct => {
            cmds.extend(ct_configure(g, &Current::default()));
            cmds.extend(firewall(g, node, 0));
            cmds.push(ct_start(g));
            for f in &g.features {
                cmds.extend(snapshot(g, &format!("pre-{f}"), false));
                let remote = format!("/phoenix/run/{f}.sh");
                let local = defs
                    .path_of(&defs.feature_script(g.kind, f))
                    .display()
                    .to_string();
                let ca = field(g, "bootstrap_ca_url").unwrap_or_default();
                cmds.extend(ct_exec(g, &local, &remote, &[g.id.to_string(), ca]));
            }
            if let Some(app) = &g.application_script {
                let local = defs.path_of(&defs.layout.app(app)).display().to_string();
                cmds.extend(ct_exec(
                    g,
                    &local,
                    &format!("/phoenix/run/{app}"),
                    &[g.id.to_string()],
                ));
            }
            for h in &g.health_checks {
                let local = defs
                    .path_of(&defs.layout.health(&h.script))
                    .display()
                    .to_string();
                cmds.extend(ct_exec(
                    g,
                    &local,
                    &format!("/phoenix/run/{}", h.script),
                    &h.args,
                ));
            }
            if let Some(snap) = &g.template_snapshot {
                cmds.extend(snapshot(g, snap, false));
            }
        }
        GuestKind::Vm => {
            cmds.extend(vm_configure(g, defs, &Current::default()));
            cmds.extend(firewall(g, node, 0));
            if g.is_template {
                cmds.push(vm_start(g));
                cmds.extend(vm_generalise(g));
                cmds.extend(vm_template(g));
            } else {
                cmds.push(vm_start(g));
                for f in &g.features {
                    cmds.extend(snapshot(g, &format!("pre-{f}"), false));
                }
            }
        }
    }
    cmds
}

/// The commands one planned piece of work runs, for `build --dry-run --backend pve`.
/// Against an unknown host: mounts are taken as absent, snapshots as present.
pub fn preview(w: &Preview, defs: &Definitions, node: &str) -> Vec<Cmd> {
    let Some(g) = w.node.guest_id().and_then(|id| defs.guest(id)) else {
        // Host steps run their script on the host, with the hypervisor file as $1;
        // built-in ones run phoenix's own commands.
        if let crate::graph::NodeId::Host(name) = w.node
            && let Some(spec) = crate::defs::host::spec(name)
        {
            let Some(rel) = defs.host_script(spec) else {
                return super::host::full_run(name, &defs.host);
            };
            let script = defs.path_of(&rel).display().to_string();
            let config = defs.path_of(&defs.hypervisor_file).display().to_string();
            return vec![Cmd::new(["/bin/sh", &script, &config])];
        }
        return Vec::new();
    };
    let mut cmds = Vec::new();
    match w.work {
        Work::Create => cmds.extend(full_build(g, defs, node)),
        Work::Replace => {
            cmds.extend(destroy(g));
            cmds.extend(full_build(g, defs, node));
        }
        Work::Update => {
            cmds.extend(if g.kind == GuestKind::Ct {
                ct_configure(g, &Current::default())
            } else {
                vm_configure(g, defs, &Current::default())
            });
            cmds.extend(firewall(g, node, 0));
        }
        Work::Steps => {
            for step in w.steps {
                if let Some(f) = step.feature() {
                    if step == &w.steps[0]
                        || w.steps.first() == Some(&Step::Configure) && w.steps.get(1) == Some(step)
                    {
                        cmds.push(rollback(g, &format!("pre-{f}")));
                    }
                    let local = defs
                        .path_of(&defs.feature_script(g.kind, f))
                        .display()
                        .to_string();
                    let ca = field(g, "bootstrap_ca_url").unwrap_or_default();
                    cmds.extend(ct_exec(
                        g,
                        &local,
                        &format!("/phoenix/run/{f}.sh"),
                        &[g.id.to_string(), ca],
                    ));
                } else if *step == Step::App {
                    if let Some(app) = &g.application_script {
                        let local = defs.path_of(&defs.layout.app(app)).display().to_string();
                        cmds.extend(ct_exec(
                            g,
                            &local,
                            &format!("/phoenix/run/{app}"),
                            &[g.id.to_string()],
                        ));
                    }
                } else if *step == Step::Snapshot {
                    cmds.extend(snapshot(
                        g,
                        g.template_snapshot.as_deref().unwrap_or("template"),
                        true,
                    ));
                } else if *step == Step::Configure {
                    cmds.extend(ct_configure(g, &Current::default()));
                }
            }
        }
    }
    cmds.push(stamp(g, &stamp_tags(&format!("built:{}", w.key))));
    cmds
}

/// A raw `lxc_options` entry as a Proxmox config line: `key=value`, `key: value` and
/// the fixtures' `lxc.mount.auto:sys:rw` all become `key: value`.
pub fn raw_line(option: &str) -> Option<String> {
    let option = option.trim();
    let (key, value) = match (option.find('='), option.find(':')) {
        (Some(e), Some(c)) if c < e => (&option[..c], &option[c + 1..]),
        (Some(e), _) => (&option[..e], &option[e + 1..]),
        (None, Some(c)) => (&option[..c], &option[c + 1..]),
        (None, None) => return None,
    };
    let key = key.trim();
    key.starts_with("lxc.")
        .then(|| format!("{key}: {}", value.trim()))
}

/// The container config with exactly `lines` as its raw `lxc.*` entries, written in
/// the main section only. Snapshot sections (`[name]` and below) describe the past
/// and are left byte for byte: appending there, as the shell tool did once snapshots
/// existed, silently never applies. phoenix owns the raw `lxc.*` lines of the main
/// section of guests it created; running this twice changes nothing.
pub fn with_raw_lines(conf: &str, lines: &[String]) -> String {
    let split = conf.find("\n[").map_or(conf.len(), |i| i + 1);
    let (main, snapshots) = conf.split_at(split);
    let mut out: Vec<&str> = main.lines().filter(|l| !l.starts_with("lxc.")).collect();
    while out.last().is_some_and(|l| l.trim().is_empty()) {
        out.pop();
    }
    let mut text = out.join("\n");
    for l in lines {
        text.push('\n');
        text.push_str(l);
    }
    text.push('\n');
    if !snapshots.is_empty() {
        text.push('\n');
        text.push_str(snapshots);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = "arch: amd64\nhostname: web\nlxc.apparmor.profile: old\nmemory: 1024\nparent: final-form\n\n[final-form]\narch: amd64\nlxc.apparmor.profile: old\nsnaptime: 1\n";

    #[test]
    fn vm_net0_keeps_the_mac_and_only_flips_the_firewall() {
        let now = "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0";
        assert_eq!(
            vm_net0(now, true),
            "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,firewall=1"
        );
        assert_eq!(vm_net0(&vm_net0(now, true), true), vm_net0(now, true));
        assert_eq!(vm_net0(&vm_net0(now, true), false), now);
        let cur = Current::parse(
            "scsi0: local-lvm:vm-9-disk-0,size=2252M\nnet0: virtio=AA:BB:CC:DD:EE:FF,bridge=vmbr0\n",
        );
        assert!((cur.scsi0_gb.unwrap() - 2.2).abs() < 0.01);
        assert_eq!(
            cur.net0.as_deref(),
            Some("virtio=AA:BB:CC:DD:EE:FF,bridge=vmbr0")
        );
    }

    #[test]
    fn raw_lines_go_to_the_main_section_only() {
        let lines: Vec<String> = ["lxc.apparmor.profile=unconfined", "lxc.mount.auto:sys:rw"]
            .iter()
            .filter_map(|o| raw_line(o))
            .collect();
        assert_eq!(
            lines,
            ["lxc.apparmor.profile: unconfined", "lxc.mount.auto: sys:rw"]
        );
        let new = with_raw_lines(CONF, &lines);
        let (main, snap) = new.split_once("[final-form]").unwrap();
        assert!(
            main.contains("lxc.mount.auto: sys:rw") && !main.contains("profile: old"),
            "{new}"
        );
        assert_eq!(
            snap, "\narch: amd64\nlxc.apparmor.profile: old\nsnaptime: 1\n",
            "the snapshot section is untouched"
        );
        assert_eq!(with_raw_lines(&new, &lines), new, "idempotent");
        assert!(
            !with_raw_lines(&new, &[])
                .split_once('[')
                .unwrap()
                .0
                .contains("lxc."),
            "removed lines go away"
        );
    }
}
