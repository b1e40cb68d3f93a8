//! What `configure` writes into a container's config (the keys phoenix owns, from
//! the guest's typed settings) and the busybox root filesystem's boot script.
//!
//! Resources are cgroup limits liblxc sets when the container starts: on a cgroup
//! v2 host `memory.max` (`memory_mb`), `memory.swap.max` (`swap_mb`) and `cpu.max`
//! (`cores` × the 100 ms period); on a cgroup v1 (or hybrid) host, best effort,
//! the v1 controllers' `memory.limit_in_bytes`, `memory.memsw.limit_in_bytes`
//! (memory plus swap, where the kernel accounts swap) and the CFS quota.

use std::path::PathBuf;

use super::client::{Lxc, set_mode};
use super::idmap::{idmap_values, root_owner};
use super::observe::compare_keys;
use crate::backend::{GuestCtx, Log, OpError, OpResult};
use crate::defs::IpConfig;
use crate::defs::settings::Network;

/// Config keys phoenix owns; `configure` rewrites them and leaves everything else.
pub(super) const MANAGED: &[&str] = &[
    "lxc.uts.name",
    "lxc.net.0.link",
    "lxc.net.0.hwaddr",
    "lxc.net.0.ipv4.address",
    "lxc.net.0.ipv4.gateway",
    "lxc.net.1.type",
    "lxc.net.1.link",
    "lxc.net.1.flags",
    "lxc.net.1.name",
    "lxc.net.1.hwaddr",
    "lxc.net.1.ipv4.address",
    "lxc.net.1.ipv4.gateway",
    "lxc.idmap",
    "lxc.mount.fstab",
    "lxc.cgroup2.memory.max",
    "lxc.cgroup2.memory.swap.max",
    "lxc.cgroup2.cpu.max",
    "lxc.cgroup.memory.limit_in_bytes",
    "lxc.cgroup.memory.memsw.limit_in_bytes",
    "lxc.cgroup.cpu.cfs_quota_us",
    "lxc.cgroup.cpu.cfs_period_us",
    "lxc.start.auto",
    "lxc.start.order",
    "lxc.start.delay",
];

/// The file in the root filesystem naming the interfaces that take their address
/// from DHCP (`ip: "dhcp"`), one a line; always written (empty when none), so a
/// snapshot clone's overlay never needs a whiteout to drop its template's.
pub(super) const DHCP_FILE: &str = "etc/phoenix-dhcp";

pub(super) const RCS: &str = "#!/bin/sh\n# Written by phoenix: the address comes from the container config, so no DHCP\n# client may reset it; the interfaces defined with ip=dhcp get one.\n/bin/syslogd\n/bin/mount -a\nfor i in $(cat /etc/phoenix-dhcp 2>/dev/null); do /bin/udhcpc -b -q -i \"$i\"; done\n# Services the guest's scripts registered to start at boot.\nfor f in /etc/phoenix/boot.d/*; do [ -f \"$f\" ] && /bin/sh \"$f\"; done\nexit 0\n";

impl Lxc {
    /// The config lines `configure` owns, from the guest's typed settings.
    pub(super) fn settings(&self, g: &GuestCtx) -> Vec<(String, String)> {
        let guest = g.guest;
        let (net, set) = (&guest.net, &guest.settings);
        let mut out = vec![("lxc.uts.name".to_string(), guest.name.clone())];
        for v in idmap_values(&guest.id_map()) {
            out.push(("lxc.idmap".into(), v));
        }
        if !guest.mounts.binds.is_empty() {
            out.push((
                "lxc.mount.fstab".into(),
                self.fstab(&self.name(guest.id)).display().to_string(),
            ));
        }
        out.push((
            "lxc.net.0.link".into(),
            net.bridge.clone().unwrap_or_else(|| "lxcbr0".into()),
        ));
        if let Some(mac) = &net.mac {
            out.push(("lxc.net.0.hwaddr".into(), mac.clone()));
        }
        if let Some(ip @ IpConfig::Static { .. }) = &net.ip {
            out.push(("lxc.net.0.ipv4.address".into(), ip.to_string()));
            if let Some(gw) = net.gateway {
                out.push(("lxc.net.0.ipv4.gateway".into(), gw.to_string()));
            }
        }
        if let Some(net1) = &guest.net1 {
            out.extend(second_interface(net1, net0_gateway(net).is_some()));
        }
        if self.cgroup2 {
            if let Some(m) = set.memory_mb {
                out.push(("lxc.cgroup2.memory.max".into(), format!("{m}M")));
            }
            if let Some(s) = set.swap_mb {
                out.push(("lxc.cgroup2.memory.swap.max".into(), format!("{s}M")));
            }
            if let Some(c) = set.cores {
                out.push((
                    "lxc.cgroup2.cpu.max".into(),
                    format!("{} 100000", c * 100_000),
                ));
            }
        } else {
            if let Some(m) = set.memory_mb {
                out.push((
                    "lxc.cgroup.memory.limit_in_bytes".into(),
                    format!("{}", m * 1024 * 1024),
                ));
                // Memory plus swap; liblxc writes it after the memory limit, which
                // it may not be below.
                if let Some(s) = set.swap_mb.filter(|_| self.memsw) {
                    out.push((
                        "lxc.cgroup.memory.memsw.limit_in_bytes".into(),
                        format!("{}", (m + s) * 1024 * 1024),
                    ));
                }
            }
            if let Some(c) = set.cores {
                out.push(("lxc.cgroup.cpu.cfs_period_us".into(), "100000".into()));
                out.push((
                    "lxc.cgroup.cpu.cfs_quota_us".into(),
                    format!("{}", c * 100_000),
                ));
            }
        }
        // A converted template never starts, at boot or otherwise.
        let auto = set.start_at_boot && !self.is_template(&self.name(guest.id));
        out.push(("lxc.start.auto".into(), if auto { "1" } else { "0" }.into()));
        if let Some(o) = set.boot_order {
            out.push(("lxc.start.order".into(), o.to_string()));
        }
        if let Some(d) = set.boot_delay {
            out.push(("lxc.start.delay".into(), d.to_string()));
        }
        out
    }

    /// Rewrite the keys phoenix owns in `name`'s config as `settings`, every
    /// other line kept. Returns whether a setting changed: a key's values, not
    /// where its lines stand. It is the comparison `observe` makes, so a setting
    /// observed to differ is exactly one this changes, and a config that only
    /// reads differently is put in phoenix's order without counting as a change.
    pub(super) fn rewrite_config(
        &self,
        name: &str,
        settings: &[(String, String)],
    ) -> Result<bool, OpError> {
        let path = self.dir(name).join("config");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| OpError::new(format!("{}: {e}", path.display())))?;
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| {
                let key = l.split('=').next().unwrap_or("").trim();
                !MANAGED.contains(&key) && !l.starts_with("# phoenix")
            })
            .collect();
        let mut out = kept.join("\n");
        out.push_str("\n# phoenix: settings below are rewritten on every configure\n");
        for (k, v) in settings {
            out.push_str(&format!("{k} = {v}\n"));
        }
        if out != text {
            crate::fsutil::write_atomic(&path, out.as_bytes())
                .map_err(|e| OpError::new(e.to_string()))?;
        }
        Ok(compare_keys(&text, settings)
            .iter()
            .any(|k| k.live != k.want))
    }

    /// Set a few keys of `name`'s config, leaving every other line as it is.
    pub(super) fn set_keys(&self, name: &str, keys: &[(&str, &str)]) -> OpResult {
        let names: Vec<&str> = keys.iter().map(|(k, _)| *k).collect();
        self.replace_keys(name, &names, keys)
    }

    /// Drop every line of `name`'s config with one of the keys `remove`, then add
    /// `lines` (a key may come more than once: `lxc.idmap`).
    pub(super) fn replace_keys(
        &self,
        name: &str,
        remove: &[&str],
        lines: &[(&str, &str)],
    ) -> OpResult {
        let path = self.dir(name).join("config");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| OpError::new(format!("{}: {e}", path.display())))?;
        let mut out = String::new();
        for l in text.lines().filter(|l| {
            let key = l.split('=').next().unwrap_or("").trim();
            !remove.contains(&key)
        }) {
            out.push_str(l);
            out.push('\n');
        }
        for (k, v) in lines {
            out.push_str(&format!("{k} = {v}\n"));
        }
        crate::fsutil::write_atomic(&path, out.as_bytes()).map_err(|e| OpError::new(e.to_string()))
    }

    /// `lxc.rootfs.path` of `name`, as its config says.
    pub(super) fn rootfs_path(&self, name: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.dir(name).join("config")).ok()?;
        text.lines().rev().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == "lxc.rootfs.path").then(|| v.trim().to_string())
        })
    }

    /// Where phoenix writes into `name`'s root filesystem while it is stopped: the
    /// directory of a `dir` store, the upper layer of an overlay (a snapshot
    /// clone: `overlay:<lower>:<upper>`, liblxc overlay.c), else `<dir>/rootfs`.
    pub(super) fn rootfs_dir(&self, name: &str) -> PathBuf {
        let path = self.rootfs_path(name).unwrap_or_default();
        let dir = match path.split_once(':') {
            Some(("overlay" | "overlayfs", layers)) => layers.rsplit(':').next(),
            Some(("dir", p)) => Some(p),
            None if path.starts_with('/') => Some(path.as_str()),
            _ => None,
        };
        dir.map_or_else(|| self.dir(name).join("rootfs"), PathBuf::from)
    }

    pub(super) fn prepare_rootfs(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        let name = self.name(g.guest.id);
        if self.is_template(&name) {
            // Its root filesystem is the lower layer of its snapshot clones' overlays:
            // it holds what its key says, and changes no more.
            log.note(&format!(
                "{name} is a template: its root filesystem is left as it is"
            ));
            return Ok(());
        }
        let rootfs = self.rootfs_dir(&name);
        // Owned by the container's root, who may change them as any of its files.
        let (uid, gid) = root_owner(&g.guest.id_map());
        let write = |rel: &str, bytes: &[u8]| -> OpResult {
            let p = rootfs.join(rel);
            if let Some(d) = p.parent() {
                std::fs::create_dir_all(d).map_err(|e| OpError::new(e.to_string()))?;
            }
            std::fs::write(&p, bytes)
                .and_then(|()| std::os::unix::fs::lchown(&p, uid, gid))
                .map_err(|e| OpError::new(format!("{}: {e}", p.display())))
        };
        write("etc/init.d/rcS", RCS.as_bytes())?;
        set_mode(&rootfs.join("etc/init.d/rcS"), 0o755);
        let guest = g.guest;
        let mut dhcp = String::new();
        if guest.net.ip == Some(IpConfig::Dhcp) {
            dhcp.push_str(guest.net.name.as_deref().unwrap_or("eth0"));
            dhcp.push('\n');
        }
        if let Some(net1) = guest.net1.as_ref().filter(|n| n.ip == Some(IpConfig::Dhcp)) {
            dhcp.push_str(net1.name.as_deref().unwrap_or("eth1"));
            dhcp.push('\n');
        }
        write(DHCP_FILE, dhcp.as_bytes())
    }
}

/// The gateway net0 gets from the config, if any.
pub(super) fn net0_gateway(net: &Network) -> Option<std::net::Ipv4Addr> {
    matches!(net.ip, Some(IpConfig::Static { .. }))
        .then_some(net.gateway)
        .flatten()
}

/// `lxc.net.1.*` for a container's second interface (`secondary_network_config`):
/// a veth on its bridge, named as defined (`eth1` otherwise), with its hwaddr and
/// static address. Its gateway only where net0 has none: liblxc adds each
/// interface's gateway as the default route and does not start a container with
/// two (network.c `lxc_network_setup_in_child_namespaces_common`: "File exists -
/// Failed to setup ipv4 gateway").
fn second_interface(net1: &Network, net0_has_gateway: bool) -> Vec<(String, String)> {
    let mut out = vec![
        ("lxc.net.1.type".to_string(), "veth".to_string()),
        (
            "lxc.net.1.link".into(),
            net1.bridge.clone().unwrap_or_else(|| "lxcbr0".into()),
        ),
        ("lxc.net.1.flags".into(), "up".into()),
        (
            "lxc.net.1.name".into(),
            net1.name.clone().unwrap_or_else(|| "eth1".into()),
        ),
    ];
    if let Some(mac) = &net1.mac {
        out.push(("lxc.net.1.hwaddr".into(), mac.clone()));
    }
    if let Some(ip @ IpConfig::Static { .. }) = &net1.ip {
        out.push(("lxc.net.1.ipv4.address".into(), ip.to_string()));
        if let Some(gw) = net1.gateway.filter(|_| !net0_has_gateway) {
            out.push(("lxc.net.1.ipv4.gateway".into(), gw.to_string()));
        }
    }
    out
}
