//! Where Proxmox can take a container's snapshots, and which containers it can
//! convert into templates, read from the definitions.
//!
//! `pct snapshot` checks every volume of the container (pve-container
//! `PVE::LXC::Config::has_feature('snapshot', ...)`, called from pve-guest-common
//! `PVE::AbstractConfig::__snapshot_prepare`, which dies "snapshot feature is not
//! available"). A bind or device mount point is a host path, not a storage volume,
//! so pve-storage `volume_has_feature` answers no; a container volume (raw or
//! subvol) on a directory storage has no snapshots either (pve-storage
//! `PVE::Storage::Plugin::volume_has_feature` offers them for qcow2 only). ZFS,
//! LVM-thin, RBD and BTRFS storages have them.
//!
//! Storages phoenix cannot see the type of (made by hand on the host) are taken to
//! have snapshots; the backend then finds out at build time.
//!
//! `pct template` asks the same of every volume for the `template` feature
//! (pve-container `PVE::LXC::template_create` dies "Template feature is not
//! available for '\<volid>'" when pve-storage `PVE::Storage::volume_has_feature(...,
//! 'template', ...)` is false). For a bind mount the "volume" is a host path, which
//! `volume_has_feature` answers with `undef`; directory storages do have the
//! feature (`PVE::Storage::Plugin::volume_has_feature`: raw and subvol).

use super::{Definitions, Guest, GuestKind, host};

/// Why Proxmox cannot snapshot this guest, or `None` where it can.
pub fn snapshot_blocker(defs: &Definitions, g: &Guest) -> Option<String> {
    SnapshotRules::of(defs).blocker(g)
}

/// [`snapshot_blocker`] for many guests of one definitions: the host's directory
/// storages found once, not per guest (a plan asks it of every guest twice, and
/// reading the storages from the host's configuration was 1% of a 10,000-guest
/// plan).
pub struct SnapshotRules {
    dirs: Vec<String>,
}

impl SnapshotRules {
    pub fn of(defs: &Definitions) -> SnapshotRules {
        SnapshotRules {
            dirs: host::dir_storage_ids(&defs.host),
        }
    }

    /// Why Proxmox cannot snapshot `g`, or `None` where it can.
    pub fn blocker(&self, g: &Guest) -> Option<String> {
        if g.kind != GuestKind::Ct {
            return None;
        }
        if let Some(b) = g.mounts.binds.first() {
            return Some(format!(
                "bind mount `{}` at `{}`: Proxmox cannot snapshot a container with a bind mount",
                b.host_path, b.container_path
            ));
        }
        let on_dir = g
            .shape
            .storage_pool
            .iter()
            .chain(g.mounts.volumes.iter().map(|v| &v.pool))
            .find(|s| self.dirs.contains(s))?;
        Some(format!(
            "storage `{on_dir}` is a directory storage: container volumes there have no snapshots"
        ))
    }
}

/// Why Proxmox cannot convert this guest into a template (`pct template`), or
/// `None` where it can: a container's bind mount (see the module doc).
pub fn template_blocker(g: &Guest) -> Option<String> {
    if g.kind != GuestKind::Ct {
        return None;
    }
    let b = g.mounts.binds.first()?;
    Some(format!(
        "bind mount `{}` at `{}`: `pct template` refuses it (\"Template feature is not available for '{}'\")",
        b.host_path, b.container_path, b.host_path
    ))
}
