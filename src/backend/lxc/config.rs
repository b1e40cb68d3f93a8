//! What `configure` writes into a container's config (the keys phoenix owns, from
//! the guest's typed settings) and the busybox root filesystem's boot script.

use super::client::{Lxc, set_mode};
use crate::backend::{GuestCtx, OpError, OpResult};
use crate::defs::IpConfig;

/// Config keys phoenix owns; `configure` rewrites them and leaves everything else.
pub(super) const MANAGED: &[&str] = &[
    "lxc.uts.name",
    "lxc.net.0.link",
    "lxc.net.0.hwaddr",
    "lxc.net.0.ipv4.address",
    "lxc.net.0.ipv4.gateway",
    "lxc.cgroup2.memory.max",
    "lxc.cgroup2.cpu.max",
    "lxc.cgroup.memory.limit_in_bytes",
    "lxc.cgroup.cpu.cfs_quota_us",
    "lxc.cgroup.cpu.cfs_period_us",
    "lxc.start.auto",
    "lxc.start.order",
    "lxc.start.delay",
];

pub(super) const RCS: &str = "#!/bin/sh\n# Written by phoenix: the address comes from the container config, so no DHCP\n# client may reset it; guests defined with ip=dhcp get one.\n/bin/syslogd\n/bin/mount -a\n[ -f /etc/phoenix-dhcp ] && /bin/udhcpc -b -q\n# Services the guest's scripts registered to start at boot.\nfor f in /etc/phoenix/boot.d/*; do [ -f \"$f\" ] && /bin/sh \"$f\"; done\nexit 0\n";

impl Lxc {
    /// The config lines `configure` owns, from the guest's typed settings.
    pub(super) fn settings(&self, g: &GuestCtx) -> Vec<(String, String)> {
        let guest = g.guest;
        let (net, set) = (&guest.net, &guest.settings);
        let mut out = vec![("lxc.uts.name".to_string(), guest.name.clone())];
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
        if self.cgroup2 {
            if let Some(m) = set.memory_mb {
                out.push(("lxc.cgroup2.memory.max".into(), format!("{m}M")));
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
            }
            if let Some(c) = set.cores {
                out.push(("lxc.cgroup.cpu.cfs_period_us".into(), "100000".into()));
                out.push((
                    "lxc.cgroup.cpu.cfs_quota_us".into(),
                    format!("{}", c * 100_000),
                ));
            }
        }
        out.push((
            "lxc.start.auto".into(),
            if set.start_at_boot { "1" } else { "0" }.into(),
        ));
        if let Some(o) = set.boot_order {
            out.push(("lxc.start.order".into(), o.to_string()));
        }
        if let Some(d) = set.boot_delay {
            out.push(("lxc.start.delay".into(), d.to_string()));
        }
        out
    }

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
        let changed = out != text;
        if changed {
            crate::fsutil::write_atomic(&path, out.as_bytes())
                .map_err(|e| OpError::new(e.to_string()))?;
        }
        Ok(changed)
    }

    pub(super) fn prepare_rootfs(&self, g: &GuestCtx) -> OpResult {
        let rootfs = self.dir(&self.name(g.guest.id)).join("rootfs");
        let write = |rel: &str, bytes: &[u8]| -> OpResult {
            let p = rootfs.join(rel);
            if let Some(d) = p.parent() {
                std::fs::create_dir_all(d).map_err(|e| OpError::new(e.to_string()))?;
            }
            std::fs::write(&p, bytes).map_err(|e| OpError::new(format!("{}: {e}", p.display())))
        };
        write("etc/init.d/rcS", RCS.as_bytes())?;
        set_mode(&rootfs.join("etc/init.d/rcS"), 0o755);
        let dhcp = g.guest.net.ip == Some(IpConfig::Dhcp);
        let flag = rootfs.join("etc/phoenix-dhcp");
        if dhcp {
            write("etc/phoenix-dhcp", b"")?;
        } else {
            let _ = std::fs::remove_file(flag);
        }
        Ok(())
    }
}
