//! Reading and writing a guest's Proxmox config: what `pct config`/`qm config`
//! report that a re-run must respect (`Current`), what `pct pending`/`qm pending`
//! report (`Pending`), and the raw `lxc.*` lines that phoenix writes into a
//! container's config file itself.

use std::collections::{BTreeMap, BTreeSet};

use crate::defs::Guest;
use crate::defs::idmap::split_raw_option;

/// A `devN` value in one form: `path=<path>`, then its other keys sorted
/// (`gid`, `mode`, `uid`, `deny-write`, as pve-container's `$dev_desc` has them).
pub fn device_spec(path: &str, options: &[(&str, &str)]) -> String {
    let mut options = options.to_vec();
    options.sort_unstable();
    let mut out = format!("path={path}");
    for (k, v) in options {
        out.push_str(&format!(",{k}={v}"));
    }
    out
}

/// What a guest's config holds now (from `pct config`), as far as re-runs care.
#[derive(Debug, Clone, Default)]
pub struct Current {
    /// mpN → the container path it is mounted at.
    pub mounts: BTreeMap<u32, String>,
    /// mpN → its source: a host path (a bind mount) or a volume.
    pub mount_sources: BTreeMap<u32, String>,
    /// devN → the device it passes through, as [`device_spec`] writes it (so two
    /// ways of writing one entry compare equal).
    pub devices: BTreeMap<u32, String>,
    /// Root disk size in GiB (a container's `rootfs`).
    pub rootfs_gb: Option<f64>,
    /// A VM's boot disk (`scsi0`) size in GiB.
    pub scsi0_gb: Option<f64>,
    /// A VM's `net0` as it is.
    pub net0: Option<String>,
    /// Whether it is a template (`template: 1`, what `pct template` and `qm
    /// template` leave).
    pub template: bool,
    /// The N of every `netN` interface it has (a container's `net1` from its
    /// clone source, say).
    pub nets: BTreeSet<u32>,
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
                let source = value.split(',').next().unwrap_or_default();
                cur.mount_sources.insert(n, source.to_string());
            }
            if let Some(n) = key.strip_prefix("net").and_then(|n| n.parse::<u32>().ok()) {
                cur.nets.insert(n);
            }
            if let Some(n) = key.strip_prefix("dev").and_then(|n| n.parse::<u32>().ok()) {
                // `path` is the default key: `dev0: /dev/x` or `dev0: path=/dev/x,...`.
                let mut path = "";
                let mut rest: Vec<(&str, &str)> = Vec::new();
                for part in value.split(',') {
                    match part.split_once('=') {
                        Some(("path", v)) => path = v,
                        Some((k, v)) => rest.push((k, v)),
                        None => path = part,
                    }
                }
                cur.devices.insert(n, device_spec(path, &rest));
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
                "template" => cur.template = value.trim() == "1",
                _ => {}
            }
        }
        cur
    }
}

/// What `pct pending <id>` / `qm pending <id>` report (pve-guest-common
/// `PVE::GuestHelpers::format_pending`: `cur k: v`, `new k: v`, `del k: v` lines).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pending {
    /// The tags in effect (`tags` is fast-pluggable, so never pending).
    pub tags: String,
    /// Options changed or deleted that apply only at the next start, in order.
    pub options: Vec<String>,
    /// Each of those options with its new value; `None`: deleted at the next start.
    pub values: BTreeMap<String, Option<String>>,
}

impl Pending {
    pub fn parse(text: &str) -> Pending {
        let mut p = Pending::default();
        for line in text.lines() {
            let Some((state, rest)) = line.split_once(' ') else {
                continue;
            };
            let Some((key, value)) = rest.split_once(':') else {
                continue;
            };
            match state {
                "cur" if key == "tags" => p.tags = value.trim().to_string(),
                "new" | "del" if !p.options.iter().any(|o| o == key) => {
                    p.options.push(key.to_string());
                    let value = (state == "new").then(|| value.trim().to_string());
                    p.values.insert(key.to_string(), value);
                }
                _ => {}
            }
        }
        p
    }
}

/// A raw `lxc_options` entry as a Proxmox config line: `key=value`, `key: value` and
/// the fixtures' `lxc.mount.auto:sys:rw` all become `key: value`.
/// (Split as the definitions split it, so the `lxc.idmap` lines phoenix reads as a
/// container's map are the ones it writes.)
pub fn raw_line(option: &str) -> Option<String> {
    let (key, value) = split_raw_option(option)?;
    key.starts_with("lxc.").then(|| format!("{key}: {value}"))
}

/// The raw `lxc.*` lines phoenix makes the main section of a container's config
/// hold: its `lxc_options`, then the `lxc.idmap` lines of a map made from `id_maps`.
pub fn guest_raw_lines(g: &Guest) -> Vec<String> {
    let mut lines: Vec<String> = g
        .settings
        .lxc_options
        .iter()
        .filter_map(|o| raw_line(o))
        .collect();
    lines.extend(g.id_map().config_lines());
    lines
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
    fn pending_options_and_tags_are_read() {
        let p = Pending::parse(
            "cur arch: amd64\ncur tags: phoenix;prod\ncur features: nesting=0\nnew features: nesting=1\ndel mp1: /srv,mp=/srv\n",
        );
        assert_eq!(p.tags, "phoenix;prod");
        assert_eq!(p.options, ["features", "mp1"]);
        assert_eq!(p.values["features"].as_deref(), Some("nesting=1"));
        assert_eq!(p.values["mp1"], None, "deleted at the next start");
        assert!(Pending::parse("cur memory: 512\n").options.is_empty());
    }

    #[test]
    fn devices_and_mount_sources_are_read() {
        let c = Current::parse(
            "dev0: /dev/nvidiactl\ndev4: path=/dev/nvidia1,mode=0666\nmp2: /srv/data,mp=/data\n[s]\ndev9: /dev/x\n",
        );
        assert_eq!(
            c.devices.get(&0).map(String::as_str),
            Some("path=/dev/nvidiactl")
        );
        assert_eq!(
            c.devices.get(&4).map(String::as_str),
            Some("path=/dev/nvidia1,mode=0666")
        );
        assert_eq!(c.devices.len(), 2);
        assert_eq!(
            c.mount_sources.get(&2).map(String::as_str),
            Some("/srv/data")
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
