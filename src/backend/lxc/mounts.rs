//! Bind mounts on plain LXC: a container's `mount_points` (host directories bound
//! into it) as the fstab file its config names (`lxc.mount.fstab`, a key phoenix
//! owns, so the mount entries the busybox template wrote stay as they are).
//! `lxc-copy` copies the file with the container (lxccontainer.c `copy_fstab`) and
//! `configure` writes it anew. A missing host directory is made and given to the
//! host ids its `owner_uid`/`owner_gid` map to under the container's id map, as on
//! Proxmox ([`bind_source`]); one that exists is never touched.

use std::path::PathBuf;

use super::client::{Lxc, SHORT};
use crate::backend::command;
use crate::backend::pve::commands::bind_source;
use crate::backend::{GuestCtx, Log, OpError};
use crate::defs::BindMount;

impl Lxc {
    /// The fstab file of `name`'s bind mounts, in its directory.
    pub(super) fn fstab(&self, name: &str) -> PathBuf {
        self.dir(name).join("phoenix-fstab")
    }

    /// Write `g`'s fstab file (none without bind mounts), making the host
    /// directories that are missing. Returns whether its mounts changed.
    pub(super) fn write_mounts(&self, g: &GuestCtx, log: &mut Log) -> Result<bool, OpError> {
        let guest = g.guest;
        let path = self.fstab(&self.name(guest.id));
        let before = std::fs::read_to_string(&path).ok();
        if guest.mounts.binds.is_empty() {
            let _ = std::fs::remove_file(&path);
            return Ok(before.is_some());
        }
        let mut text = String::from("# Written by phoenix: the guest's mount_points.\n");
        for b in &guest.mounts.binds {
            command::check(&bind_source(guest, b, &b.host_path).argv, None, SHORT, log)?;
            text.push_str(&fstab_line(b));
        }
        if before.as_deref() == Some(text.as_str()) {
            return Ok(false);
        }
        crate::fsutil::write_atomic(&path, text.as_bytes())
            .map_err(|e| OpError::new(format!("{}: {e}", path.display())))?;
        Ok(true)
    }
}

/// `<host path> <container path> none bind,create=dir 0 0`: the container path
/// relative, which liblxc takes as under the container's root filesystem; spaces
/// and the like escaped as getmntent(3) reads them.
pub(super) fn fstab_line(b: &BindMount) -> String {
    format!(
        "{} {} none bind,create=dir 0 0\n",
        escape(&b.host_path),
        escape(b.container_path.trim_start_matches('/'))
    )
}

fn escape(path: &str) -> String {
    path.replace('\\', "\\134")
        .replace(' ', "\\040")
        .replace('\t', "\\011")
        .replace('\n', "\\012")
}
