//! Unprivileged containers on plain LXC: the guest's id map as `lxc.idmap` lines,
//! a root filesystem owned by that map, and the host's subordinate ids.
//!
//! The map is the one every backend uses, [`Guest::id_map`](crate::defs::Guest::id_map):
//! Proxmox's `u 0 100000 65536` and `g 0 100000 65536` for an unprivileged
//! container, its `id_maps` with the holes filled, raw `lxc.idmap` lines as
//! written, none for a privileged one. How each container comes to be owned by it:
//!
//! * created from scratch: the map goes into the config `lxc-create -f` starts
//!   from, and liblxc runs the busybox template inside the user namespace, so
//!   every file belongs to the mapped ids (lxccontainer.c `create_run_template`,
//!   `chown_mapped_root`);
//! * a copy (a snapshot, a rollback, a clone of a snapshot): `lxc-copy` copies with
//!   rsync `--numeric-ids` and keeps the source's config, so it holds the source's
//!   map; where the clone's map is another, its files are re-owned from one map
//!   to the other ([`shift_tree`]);
//! * a snapshot clone of a converted template (an overlay): its lower layer is the
//!   template's and cannot be re-owned, so a clone whose map differs from its
//!   template's is a full copy instead.
//!
//! liblxc, run as root, writes the map itself: root needs no `/etc/subuid` or
//! `/etc/subgid` entry to start the container. The entries reserve the ids for
//! root, so that shadow does not hand the same ones to a new user (`useradd`
//! allocates from 100000); `scripts/setup.sh` adds `root:100000:65536`, and a
//! build that creates a container with ids root is not given says so.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use super::client::{Lxc, SHORT};
use crate::backend::command::{self, argv};
use crate::backend::{Log, OpError, OpResult};
use crate::defs::{IdKind, IdMap, MapOrigin};

/// The file, next to the container's config, that `lxc-create -f` reads; removed
/// once the container is created.
const CREATE_CONF: &str = "phoenix-create.conf";

/// The values of `map`'s `lxc.idmap` lines (`u 0 100000 65536`); none without a map.
pub(super) fn idmap_values(map: &IdMap) -> Vec<String> {
    if map.origin == MapOrigin::None {
        return Vec::new();
    }
    map.ranges.iter().map(ToString::to_string).collect()
}

/// The map a container config's `lxc.idmap` lines give (no lines: no map).
pub(super) fn config_map(config: &str) -> IdMap {
    let lines: Vec<String> = config
        .lines()
        .filter(|l| l.trim_start().starts_with("lxc.idmap"))
        .map(str::to_string)
        .collect();
    IdMap::effective(false, &[], &lines)
}

/// Whether two maps give every id the same host id (in whatever order written).
pub(super) fn same_map(a: &IdMap, b: &IdMap) -> bool {
    let mut x = idmap_values(a);
    let mut y = idmap_values(b);
    x.sort();
    y.sort();
    x == y
}

/// `map`, as a log shows it: `u 0 100000 65536, g 0 100000 65536` or `none`.
pub(super) fn describe(map: &IdMap) -> String {
    let values = idmap_values(map);
    if values.is_empty() {
        "none (privileged)".into()
    } else {
        values.join(", ")
    }
}

/// The container id of host id `host` under `map`: the id itself without a map.
fn container_id(map: &IdMap, kind: IdKind, host: u64) -> Option<u64> {
    if map.origin == MapOrigin::None {
        return Some(host);
    }
    map.ranges
        .iter()
        .filter(|r| r.kind == kind)
        .find(|r| (u64::from(r.host)..u64::from(r.host) + u64::from(r.size)).contains(&host))
        .map(|r| host - u64::from(r.host) + u64::from(r.container))
}

/// The host id that host id `id`, owned under map `from`, has under map `to`:
/// the same container id. `None` where either map does not hold it (the file
/// keeps its owner).
fn shifted(from: &IdMap, to: &IdMap, kind: IdKind, id: u32) -> Option<u32> {
    let c = container_id(from, kind, u64::from(id))?;
    to.host_id(kind, c).and_then(|h| u32::try_from(h).ok())
}

/// Re-own every file under `root` (itself included, never following a symbolic
/// link, each inode once however many hard links it has) from map `from` to
/// map `to`. setuid and setgid bits, which `chown` clears, are put back.
/// Returns how many entries changed owner.
pub(super) fn shift_tree(root: &Path, from: &IdMap, to: &IdMap) -> Result<u64, OpError> {
    let fail = |p: &Path, e: std::io::Error| OpError::new(format!("{}: {e}", p.display()));
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let mut stack = vec![root.to_path_buf()];
    let mut changed = 0;
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path).map_err(|e| fail(&path, e))?;
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).map_err(|e| fail(&path, e))? {
                stack.push(entry.map_err(|e| fail(&path, e))?.path());
            }
        } else if meta.nlink() > 1 && !seen.insert((meta.dev(), meta.ino())) {
            continue;
        }
        let uid = shifted(from, to, IdKind::Uid, meta.uid()).unwrap_or(meta.uid());
        let gid = shifted(from, to, IdKind::Gid, meta.gid()).unwrap_or(meta.gid());
        if (uid, gid) == (meta.uid(), meta.gid()) {
            continue;
        }
        std::os::unix::fs::lchown(&path, Some(uid), Some(gid)).map_err(|e| fail(&path, e))?;
        let mode = meta.mode() & 0o7777;
        if !meta.file_type().is_symlink() && mode & 0o6000 != 0 {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                .map_err(|e| fail(&path, e))?;
        }
        changed += 1;
    }
    Ok(changed)
}

/// The `root:<host>:<count>` lines `/etc/subuid` and `/etc/subgid` lack for root
/// to be given every host range of `map`, each after the file it belongs in.
fn unreserved(map: &IdMap) -> Vec<(&'static str, Vec<String>)> {
    IdKind::BOTH
        .iter()
        .filter_map(|&kind| {
            let ranges: Vec<_> = map
                .ranges
                .iter()
                .filter(|r| r.kind == kind)
                .copied()
                .collect();
            let text = std::fs::read_to_string(kind.subid_file()).unwrap_or_default();
            let missing = crate::backend::pve::commands::missing_subids(&text, &ranges);
            (!missing.is_empty()).then_some((kind.subid_file(), missing))
        })
        .collect()
}

impl Lxc {
    /// The map `name`'s config gives, which its root filesystem is owned by.
    pub(super) fn map_of(&self, name: &str) -> IdMap {
        config_map(&std::fs::read_to_string(self.dir(name).join("config")).unwrap_or_default())
    }

    /// `lxc-create -t busybox` for `name`, with `map` in the config it starts
    /// from: LXC's default config (the network lines every container gets) without
    /// a map of its own, then `map`'s lines.
    pub(super) fn create_busybox(
        &self,
        name: &str,
        map: &IdMap,
        timeout: Duration,
        log: &mut Log,
    ) -> OpResult {
        let values = idmap_values(map);
        if values.is_empty() {
            return command::check(
                &self.cmd("lxc-create", name, &["-t", "busybox"]),
                None,
                timeout,
                log,
            );
        }
        for (file, lines) in unreserved(map) {
            log.notice(&format!(
                "{file} does not give root the ids of {name}'s map ({}): liblxc maps them anyway, \
                 but shadow may hand them to a new user; add them (scripts/setup.sh adds root:100000:65536)",
                lines.join(", ")
            ));
        }
        let mut conf = String::new();
        for l in std::fs::read_to_string(default_config(log))
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim_start().starts_with("lxc.idmap"))
        {
            conf.push_str(l);
            conf.push('\n');
        }
        for v in &values {
            conf.push_str(&format!("lxc.idmap = {v}\n"));
        }
        let path = self.dir(name).join(CREATE_CONF);
        std::fs::write(&path, conf)
            .map_err(|e| OpError::new(format!("{}: {e}", path.display())))?;
        let path_arg = path.display().to_string();
        let created = command::check(
            &self.cmd("lxc-create", name, &["-t", "busybox", "-f", &path_arg]),
            None,
            timeout,
            log,
        );
        let _ = std::fs::remove_file(&path);
        created?;
        log.note(&format!("{name} is unprivileged: {}", describe(map)));
        Ok(())
    }

    /// Make `name` hold `want`: where its config gives another map, stop it, re-own
    /// its root filesystem from that map to `want` and write `want`'s lines.
    /// Returns whether it did. An overlay (a snapshot clone) or a template with
    /// snapshot clones cannot be re-owned: that is an error saying to rebuild.
    pub(super) fn adopt_map(
        &self,
        name: &str,
        want: &IdMap,
        log: &mut Log,
    ) -> Result<bool, OpError> {
        let have = self.map_of(name);
        if same_map(&have, want) {
            return Ok(false);
        }
        let rootfs_path = self.rootfs_path(name).unwrap_or_default();
        let clones = self.linked_clones(name);
        if rootfs_path.starts_with("overlay") || !clones.is_empty() {
            return Err(OpError::new(format!(
                "the id map of `{name}` changes from {} to {}, but its files are shared with {}: \
                 they cannot be re-owned in place; rebuild it (phoenix build --allow-replace)",
                describe(&have),
                describe(want),
                if clones.is_empty() {
                    "its template (an overlay)".to_string()
                } else {
                    format!("its snapshot clones {}", clones.join(", "))
                }
            )));
        }
        self.stop_name(name, log)?;
        let rootfs = self.rootfs_dir(name);
        let n = shift_tree(&rootfs, &have, want)?;
        log.note(&format!(
            "re-owned {n} files of {name} from the map {} to {}",
            describe(&have),
            describe(want)
        ));
        let values = idmap_values(want);
        let lines: Vec<(&str, &str)> = values.iter().map(|v| ("lxc.idmap", v.as_str())).collect();
        self.replace_keys(name, &["lxc.idmap"], &lines)?;
        Ok(true)
    }
}

/// LXC's default container config (`lxc.default_config`).
fn default_config(log: &mut Log) -> String {
    command::run(
        &argv(["lxc-config", "lxc.default_config"]),
        None,
        SHORT,
        log,
    )
    .ok()
    .filter(|r| r.status == 0 && !r.stdout.trim().is_empty())
    .map_or_else(
        || "/etc/lxc/default.conf".to_string(),
        |r| r.stdout.trim().to_string(),
    )
}

/// The host uid and gid of `map`'s root (container ids 0), for the files phoenix
/// writes into a root filesystem; `None` for host root (no map).
pub(super) fn root_owner(map: &IdMap) -> (Option<u32>, Option<u32>) {
    let host = |kind| {
        map.host_id(kind, 0)
            .and_then(|h| u32::try_from(h).ok())
            .filter(|h| *h != 0)
    };
    (host(IdKind::Uid), host(IdKind::Gid))
}

#[cfg(test)]
#[path = "idmap_tests.rs"]
mod tests;
