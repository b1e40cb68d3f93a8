//! Converted templates (`is_template`) on plain LXC, and their snapshot clones.
//!
//! A converted template is a stopped container whose directory holds the marker
//! [`TEMPLATE_FILE`] next to its stamp, with `lxc.start.auto = 0` and none of
//! phoenix's snapshot copies. From then on it refuses what Proxmox refuses a
//! template: starting, snapshots, rollbacks and, as it never runs, commands.
//!
//! A clone of a converted template is a snapshot clone (`lxc-copy -s`) where the
//! backing store allows one: liblxc picks the store's own snapshot (btrfs, ZFS,
//! LVM) and, on a directory store, an overlay whose lower layer is the template's
//! root filesystem (storage.c `storage_copy`: "If newtype is NULL and snapshot is
//! set, then use overlay"). Where that fails (no overlay in the kernel, an lxcpath
//! on a filesystem overlayfs cannot use as its upper layer) the clone is a full
//! copy. liblxc records a snapshot clone in the template's `lxc_snapshots` and
//! the clone's `lxc_rdepends` (lxccontainer.c `copy_storage`, `add_rdepends`,
//! `mod_rdep`); a snapshot clone of a snapshot clone depends on both (its
//! `copy_rdepends`). A container whose `lxc_snapshots` lists clones is not
//! destroyed (`lxc_destroy.c` `do_destroy`: "Destroying %s failed: %s has clones";
//! lxccontainer.c `do_lxcapi_destroy` and `has_fs_snapshots`): phoenix refuses
//! first, naming the clones.

use std::time::Duration;

use super::client::{Lxc, TEMPLATE_FILE};
use super::idmap::{describe, same_map};
use crate::backend::command;
use crate::backend::{GuestCtx, Log, OpError, OpResult};
use crate::defs::IdMap;

impl Lxc {
    /// Whether `name` is a converted template.
    pub(super) fn is_template(&self, name: &str) -> bool {
        self.dir(name).join(TEMPLATE_FILE).is_file()
    }

    /// Refuse an operation on a converted template, with Proxmox's words for it.
    pub(super) fn refuse_template(&self, g: &GuestCtx, name: &str, why: &str) -> OpResult {
        if self.is_template(name) {
            return Err(OpError::new(format!(
                "{} ({name}) is a converted template: {why}",
                g.node
            )));
        }
        Ok(())
    }

    /// The names of phoenix's snapshot copies of `name` (`<name>--<snapshot>`).
    pub(super) fn snapshots_of(&self, name: &str) -> Vec<String> {
        let prefix = format!("{name}--");
        let mut out: Vec<String> = std::fs::read_dir(&self.lxcpath)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&prefix))
            .collect();
        out.sort();
        out
    }

    /// The snapshot clones liblxc records as depending on `name`: its
    /// `lxc_snapshots`, pairs of lines `<lxcpath>\n<name>` (lxccontainer.c
    /// `mod_rdep`), or a bare count in the old format. Each as its guest (`ct:901
    /// (phx-901)`) when it is one of this backend's, else as `<lxcpath>/<name>`.
    pub(super) fn linked_clones(&self, name: &str) -> Vec<String> {
        let Ok(text) = std::fs::read_to_string(self.dir(name).join("lxc_snapshots")) else {
            return Vec::new();
        };
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        if let [count] = lines.as_slice()
            && let Ok(n) = count.parse::<u32>()
        {
            return (0..n)
                .map(|i| format!("snapshot clone #{}", i + 1))
                .collect();
        }
        let mut out: Vec<String> = lines
            .chunks(2)
            .filter_map(|pair| match pair {
                [path, clone] if !clone.is_empty() => Some(self.describe(path, clone)),
                _ => None,
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    fn describe(&self, path: &str, name: &str) -> String {
        let here = std::path::Path::new(path) == self.lxcpath.as_path();
        match name.strip_prefix(&self.prefix).map(str::parse::<u32>) {
            Some(Ok(id)) if here => format!("ct:{id} ({name})"),
            _ if here => name.to_string(),
            _ => format!("{path}/{name}"),
        }
    }

    /// Refuse to destroy `name` while snapshot clones use its root filesystem,
    /// before `lxc-destroy` says only "has clones".
    pub(super) fn refuse_linked(&self, name: &str) -> OpResult {
        let clones = self.linked_clones(name);
        if clones.is_empty() {
            return Ok(());
        }
        Err(OpError::new(format!(
            "cannot destroy container `{name}`: its snapshot clones {} use its root filesystem \
             (liblxc refuses: lxc-destroy \"{name} has clones\"); destroy them first \
             (phoenix destroy <clone>, or rebuild the template, which destroys them before it)",
            clones.join(", ")
        )))
    }

    /// Make `name` a clone of the converted template `from`: a snapshot clone
    /// where the store allows it, else (and for a source that is not converted:
    /// Proxmox clones a non-template in full, pve-container `PVE::API2::LXC`
    /// `clone_vm`, `$full = !is_template($src_conf)`) a full copy. `stamp` is
    /// written again should a failed snapshot clone have taken the directory.
    pub(super) fn clone_converted(
        &self,
        from: &str,
        name: &str,
        stamp: &str,
        map: &IdMap,
        timeout: Duration,
        log: &mut Log,
    ) -> OpResult {
        if !self.is_template(from) {
            log.note(&format!(
                "{from} is not a converted template: {name} is a full copy of it"
            ));
            return self.copy(from, name, false, timeout, log);
        }
        if !same_map(&self.map_of(from), map) {
            // An overlay's lower layer is the template's: its owners are the
            // template's map, which cannot be the clone's.
            log.notice(&format!(
                "{name}'s id map ({}) is not its template's ({}): it is a full copy of {from}, re-owned",
                describe(map),
                describe(&self.map_of(from))
            ));
            return self.copy(from, name, false, timeout, log);
        }
        let mut v = self.cmd("lxc-copy", from, &["-N", name, "-s"]);
        v.extend(["-p".to_string(), self.lxcpath.display().to_string()]);
        match command::check(&v, None, timeout, log) {
            Ok(()) => {
                log.note(&format!(
                    "{name} is a snapshot clone of the template {from} ({})",
                    self.rootfs_path(name).unwrap_or_default()
                ));
                Ok(())
            }
            Err(e) => {
                log.notice(&format!(
                    "no snapshot clone of {from} here ({}); {name} is a full copy",
                    e.message.lines().last().unwrap_or_default()
                ));
                if self.exists(name) {
                    command::check(&self.cmd("lxc-destroy", name, &[]), None, timeout, log)?;
                }
                std::fs::create_dir_all(self.dir(name))
                    .map_err(|e| OpError::new(format!("{}: {e}", self.lxcpath.display())))?;
                self.write_stamp(name, stamp)?;
                self.copy(from, name, false, timeout, log)
            }
        }
    }

    /// Convert `name`: stopped, its snapshot copies destroyed (Proxmox converts no
    /// CT that has snapshots: pve-container `PVE::API2::LXC` `template`, "unable to
    /// create template, because CT contains snapshots"), never started at boot, and
    /// the marker written last. Converting a template again changes nothing.
    pub(super) fn make_template(&self, g: &GuestCtx, name: &str, log: &mut Log) -> OpResult {
        if !self.exists(name) {
            return Err(OpError::new(format!(
                "{} ({name}) does not exist: nothing to convert to a template",
                g.node
            )));
        }
        self.stop_name(name, log)?;
        for snap in self.snapshots_of(name) {
            log.note(&format!("deleting snapshot {snap}: a template holds none"));
            self.destroy_name(&snap, log)?;
        }
        self.set_keys(name, &[("lxc.start.auto", "0")])?;
        crate::fsutil::write_atomic(&self.dir(name).join(TEMPLATE_FILE), b"template\n")
            .map_err(|e| OpError::new(e.to_string()))?;
        log.note(&format!("{name} is a template"));
        Ok(())
    }
}
