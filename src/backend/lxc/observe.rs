//! What a container is on the host beside what `configure` would make it: the lxc
//! backend's [`Observation`] (see [`crate::live`]), read from its files alone, so
//! it works on a container phoenix did not build (no stamp) as on one it did.
//!
//! The settings are exactly what `configure` writes, compared key by key with
//! what it would write ([`Lxc::settings`]):
//!
//! * every config key phoenix owns ([`MANAGED`]), its values in the config against
//!   the values `configure` writes; a key the config has that `configure` would
//!   drop (an `lxc.net.0.hwaddr` the definition does not give) differs, since
//!   `configure` drops it. A key written more than once shows every value;
//!   `lxc.idmap` is a set (liblxc reads the lines in any order). The same
//!   comparison tells [`Lxc::rewrite_config`] whether it changed anything, so
//!   "every setting matches" is "configure changes nothing" by construction;
//! * the bind mounts' fstab ([`Lxc::write_mounts`]), line by line by mount point;
//! * the two files `configure` writes into the root filesystem (its boot script
//!   and the list of interfaces that take DHCP), except in a converted template,
//!   where `configure` leaves the root filesystem as it is.
//!
//! The shape: whether it is a converted template (the marker), the container a
//! snapshot clone's root filesystem is layered on, where the host shows one
//! (liblxc's `lxc_rdepends`, or an overlay's lower layer), and the id map where
//! `configure` cannot re-own the files for another (an overlay, a template with
//! snapshot clones: see [`Lxc::adopt_map`]); elsewhere the map is a setting.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::client::Lxc;
use super::config::{DHCP_FILE, MANAGED, RCS};
use super::idmap::idmap_values;
use super::mounts::fstab_line;
use crate::backend::{GuestCtx, Log, OpError};
use crate::defs::{Guest, IdMap, IpConfig, MapOrigin, TemplateModel};
use crate::live::{Observation, Setting};

/// One key phoenix owns: its value in a config and the one `configure` writes,
/// each in one normal form (`None`: no such line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct KeyValues {
    pub(super) key: String,
    pub(super) live: Option<String>,
    pub(super) want: Option<String>,
}

/// The values `text` (a container config) gives each key phoenix owns, as
/// written, in their order. A line is read as [`Lxc::rewrite_config`] reads it:
/// the text before its first `=` is the key.
fn managed_values(text: &str) -> BTreeMap<&str, Vec<String>> {
    let mut out: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for l in text.lines() {
        let (key, value) = l.split_once('=').unwrap_or((l, ""));
        if let Some(k) = MANAGED.iter().find(|k| **k == key.trim()) {
            out.entry(k).or_default().push(value.trim().to_string());
        }
    }
    out
}

/// `values` as one text: a set of `lxc.idmap` lines (each in one spelling,
/// sorted), any other key's values in their order; `None` for none.
fn normal(key: &str, values: &[String]) -> Option<String> {
    if values.is_empty() {
        return None;
    }
    if key == "lxc.idmap" {
        // Each line as liblxc reads it; one it cannot read, as written.
        let mut ranges: Vec<String> = values
            .iter()
            .map(|v| {
                let map = IdMap::effective(false, &[], &[format!("lxc.idmap = {v}")]);
                match idmap_values(&map).as_slice() {
                    [one] => one.clone(),
                    _ => v.clone(),
                }
            })
            .collect();
        ranges.sort();
        return Some(ranges.join(", "));
    }
    Some(values.join(", "))
}

/// Every key phoenix owns that `config` has or `want` (what `configure` writes)
/// gives, live against wanted: `want`'s keys in its order, then the keys only
/// the config has.
pub(super) fn compare_keys(config: &str, want: &[(String, String)]) -> Vec<KeyValues> {
    let live = managed_values(config);
    let mut wanted: Vec<(&str, Vec<String>)> = Vec::new();
    for (k, v) in want {
        match wanted.iter_mut().find(|(key, _)| key == k) {
            Some((_, values)) => values.push(v.clone()),
            None => wanted.push((k.as_str(), vec![v.clone()])),
        }
    }
    let mut out: Vec<KeyValues> = wanted
        .iter()
        .map(|(k, values)| KeyValues {
            key: (*k).to_string(),
            live: live.get(k).and_then(|l| normal(k, l)),
            want: normal(k, values),
        })
        .collect();
    for k in MANAGED {
        if let Some(values) = live.get(k).filter(|_| !wanted.iter().any(|(w, _)| w == k)) {
            out.push(KeyValues {
                key: (*k).to_string(),
                live: normal(k, values),
                want: None,
            });
        }
    }
    out
}

/// The definition field a config key phoenix owns comes from.
fn field_of(key: &str, guest: &Guest) -> &'static str {
    match key {
        "lxc.uts.name" => "name",
        "lxc.idmap" => match guest.id_map().origin {
            MapOrigin::IdMaps => "id_maps",
            MapOrigin::RawLines => "lxc_options",
            MapOrigin::None | MapOrigin::ProxmoxDefault => "unprivileged",
        },
        "lxc.mount.fstab" => "mount_points",
        "lxc.start.auto" => "start_at_boot",
        "lxc.start.order" => "boot_order",
        "lxc.start.delay" => "boot_delay",
        k if k.starts_with("lxc.net.0.") => "network_config",
        k if k.starts_with("lxc.net.1.") => "secondary_network_config",
        k if k.contains("memsw") || k.contains("swap") => "swap_mb",
        k if k.contains("memory") => "memory_mb",
        _ => "cores",
    }
}

/// An fstab's entries by mount point (the container path, as liblxc takes it:
/// relative to the root filesystem), each in one spelling (single spaces).
fn fstab_entries(text: &str) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for l in text.lines().map(str::trim) {
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = l.split_whitespace().collect();
        let at = words.get(1).map_or("", |p| p.trim_start_matches('/'));
        // Two entries on one mount point show both.
        out.entry(format!("/{at}"))
            .and_modify(|e| *e = format!("{e}; {}", words.join(" ")))
            .or_insert_with(|| words.join(" "));
    }
    out
}

/// One `lxc_rdepends` or `lxc_snapshots` pair, `<lxcpath>` then `<name>`.
fn last_pair(text: &str) -> Option<(String, String)> {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    match lines.chunks(2).rev().find(|p| p.len() == 2)? {
        [path, name] if !name.is_empty() => Some(((*path).to_string(), (*name).to_string())),
        _ => None,
    }
}

impl Lxc {
    /// Read container `g`'s files and compare them with its definition.
    pub(super) fn observe_guest(
        &self,
        g: &GuestCtx,
        log: &mut Log,
    ) -> Result<Observation, OpError> {
        let name = self.name(g.guest.id);
        if !self.exists(&name) {
            return Err(OpError::new(format!(
                "{} ({name}) does not exist in {}",
                g.node,
                self.lxcpath.display()
            )));
        }
        let path = self.dir(&name).join("config");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| OpError::new(format!("{}: {e}", path.display())))?;
        let mut settings: Vec<Setting> = compare_keys(&text, &self.settings(g))
            .into_iter()
            .map(|k| Setting::new(field_of(&k.key, g.guest), &k.key, k.live, k.want))
            .collect();
        settings.extend(self.compare_mounts(&name, &text, g.guest));
        let template = self.is_template(&name);
        if !template {
            settings.extend(self.compare_rootfs_files(&name, g.guest));
        }
        let mut shape = vec![Setting::new(
            "is_template",
            super::client::TEMPLATE_FILE,
            Some(flag(template)),
            Some(flag(g.guest.template == TemplateModel::Converted)),
        )];
        if let Some((shown_by, base)) = self.layered_on(&name) {
            let want = g.guest.clone_from.as_ref().map(|(id, _)| ct_label(*id));
            shape.push(Setting::new("clone_from_ctid", shown_by, Some(base), want));
        }
        // An id map `configure` cannot change (its files are shared) is shape.
        let shared = self
            .rootfs_path(&name)
            .is_some_and(|p| p.starts_with("overlay"))
            || !self.linked_clones(&name).is_empty();
        if shared && let Some(i) = settings.iter().position(|s| s.name == "lxc.idmap") {
            shape.push(settings.remove(i));
        }
        let prefix = format!("{name}--");
        let snapshots = self
            .snapshots_of(&name)
            .into_iter()
            .filter(|s| self.exists(s))
            .filter_map(|s| s.strip_prefix(&prefix).map(str::to_string))
            .collect();
        Ok(Observation {
            settings,
            shape,
            template,
            running: self.running(&name, log),
            snapshots,
        })
    }

    /// The bind mounts of `name`'s fstab (the file its config's `lxc.mount.fstab`
    /// names) against those `configure` writes, by mount point.
    fn compare_mounts(&self, name: &str, config: &str, guest: &Guest) -> Vec<Setting> {
        let file = managed_values(config)
            .get("lxc.mount.fstab")
            .and_then(|v| v.last().cloned());
        let live = file.map_or_else(BTreeMap::new, |f| {
            let p = PathBuf::from(&f);
            let p = if p.is_absolute() {
                p
            } else {
                self.dir(name).join(p)
            };
            fstab_entries(&std::fs::read_to_string(p).unwrap_or_default())
        });
        let want: String = guest.mounts.binds.iter().map(fstab_line).collect();
        let want = fstab_entries(&want);
        let mut points: Vec<&String> = want.keys().chain(live.keys()).collect();
        points.sort();
        points.dedup();
        points
            .into_iter()
            .map(|at| {
                Setting::new(
                    "mount_points",
                    &format!("fstab {at}"),
                    live.get(at).cloned(),
                    want.get(at).cloned(),
                )
            })
            .collect()
    }

    /// The boot script and the DHCP interface list in `name`'s root filesystem
    /// against what `configure` writes there ([`Lxc::prepare_rootfs`]).
    fn compare_rootfs_files(&self, name: &str, guest: &Guest) -> Vec<Setting> {
        let rcs = self.read_rootfs(name, "etc/init.d/rcS").map(|b| {
            if b == RCS.as_bytes() {
                "phoenix's boot script".to_string()
            } else {
                "another boot script".to_string()
            }
        });
        let interfaces = |text: &str| {
            let names: Vec<&str> = text.split_whitespace().collect();
            if names.is_empty() {
                "no interface".to_string()
            } else {
                names.join(" ")
            }
        };
        let dhcp = self
            .read_rootfs(name, DHCP_FILE)
            .map(|b| interfaces(&String::from_utf8_lossy(&b)));
        let mut want = Vec::new();
        if guest.net.ip == Some(IpConfig::Dhcp) {
            want.push(guest.net.name.as_deref().unwrap_or("eth0"));
        }
        if let Some(n) = guest.net1.as_ref().filter(|n| n.ip == Some(IpConfig::Dhcp)) {
            want.push(n.name.as_deref().unwrap_or("eth1"));
        }
        vec![
            Setting::new(
                "network_config",
                "/etc/init.d/rcS",
                rcs,
                Some("phoenix's boot script".into()),
            ),
            Setting::new(
                "network_config",
                &format!("/{DHCP_FILE}"),
                dhcp,
                Some(interfaces(&want.join(" "))),
            ),
        ]
    }

    /// A file of `name`'s root filesystem as the container sees it: a snapshot
    /// clone's upper layer first, then its lower one (a `dir` store: the directory).
    fn read_rootfs(&self, name: &str, rel: &str) -> Option<Vec<u8>> {
        let path = self.rootfs_path(name).unwrap_or_default();
        let mut dirs = vec![self.rootfs_dir(name)];
        if let Some(("overlay" | "overlayfs", layers)) = path.split_once(':')
            && let Some((lower, _)) = layers.rsplit_once(':')
        {
            dirs.push(PathBuf::from(lower));
        }
        dirs.iter().find_map(|d| std::fs::read(d.join(rel)).ok())
    }

    /// The container `name` is a snapshot clone of, where the host shows one: the
    /// last entry of its `lxc_rdepends` (liblxc appends the source after the
    /// source's own, lxccontainer.c `copy_rdepends`, `add_rdepends`), else the
    /// container whose root filesystem its overlay's lower layer is. With the
    /// file or key that shows it.
    fn layered_on(&self, name: &str) -> Option<(&'static str, String)> {
        let rdepends = std::fs::read_to_string(self.dir(name).join("lxc_rdepends"));
        if let Some((path, base)) = rdepends.ok().as_deref().and_then(last_pair) {
            return Some(("lxc_rdepends", self.describe_container(&path, &base)));
        }
        let path = self.rootfs_path(name)?;
        let (kind, layers) = path.split_once(':')?;
        if !matches!(kind, "overlay" | "overlayfs") {
            return None;
        }
        let (lower, _) = layers.rsplit_once(':')?;
        let lower = PathBuf::from(lower);
        let base = match lower.strip_prefix(&self.lxcpath) {
            Ok(rel) => {
                let base = rel.components().next()?.as_os_str().to_string_lossy();
                self.describe_container(&self.lxcpath.display().to_string(), &base)
            }
            Err(_) => lower.display().to_string(),
        };
        Some(("lxc.rootfs.path", base))
    }

    /// `ct:900` for this backend's container 900 in its LXC path, else the
    /// container's name (`<lxcpath>/<name>` elsewhere).
    fn describe_container(&self, path: &str, name: &str) -> String {
        let here = std::path::Path::new(path) == self.lxcpath.as_path();
        match name.strip_prefix(&self.prefix).map(str::parse::<u32>) {
            Some(Ok(id)) if here => ct_label(id),
            _ if here => name.to_string(),
            _ => format!("{path}/{name}"),
        }
    }
}

/// How the shape names a container: `ct:900`.
fn ct_label(id: u32) -> String {
    format!("ct:{id}")
}

fn flag(on: bool) -> String {
    if on { "1" } else { "0" }.to_string()
}

#[cfg(test)]
#[path = "observe_tests.rs"]
mod tests;
