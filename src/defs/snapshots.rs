//! Where Proxmox can take a container's snapshots, read from the definitions.
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

use super::{Definitions, Guest, GuestKind, host};

/// Why Proxmox cannot snapshot this guest, or `None` where it can.
pub fn snapshot_blocker(defs: &Definitions, g: &Guest) -> Option<String> {
    if g.kind != GuestKind::Ct {
        return None;
    }
    if let Some(b) = g.mounts.binds.first() {
        return Some(format!(
            "bind mount `{}` at `{}`: Proxmox cannot snapshot a container with a bind mount",
            b.host_path, b.container_path
        ));
    }
    let dirs = host::dir_storage_ids(&defs.host);
    let on_dir = g
        .shape
        .storage_pool
        .iter()
        .chain(g.mounts.volumes.iter().map(|v| &v.pool))
        .find(|s| dirs.contains(s))?;
    Some(format!(
        "storage `{on_dir}` is a directory storage: container volumes there have no snapshots"
    ))
}
