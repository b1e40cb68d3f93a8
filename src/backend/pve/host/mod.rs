//! The built-in host steps of the pve backend: `host:zfs` (pools, datasets and the
//! Proxmox storages on them) and `host:nfs` (exports and the storage on them).
//!
//! The shell tool ran a script for each (reference §4, steps 2 and 4). phoenix does
//! them itself, because the scripts' bugs were in exactly the parts a build system
//! must get right (reference §7, "Host setup"):
//! - A disk that holds any signature (a filesystem, a partition table, an old
//!   `zfs_member`) is never wiped unless the build is run with `--wipe-disks`; the
//!   script wiped non-ZFS disks even in its "safe" mode. A disk of an imported pool
//!   is never touched, flag or not.
//! - Only storages phoenix created are ever removed. The script removed every storage
//!   it did not declare, which deleted the NFS step's storage on each re-run. phoenix
//!   keeps the list of storages it created on the host itself
//!   (`/var/lib/phoenix/owned-storages`, one `<step> <id>` per line), so the ownership
//!   check survives a lost cache, and updates it after every change.
//! - `/etc/exports` is not rewritten: phoenix owns one marked block in it and leaves
//!   every other line alone.
//! - Directory storages on datasets are added with `is_mountpoint yes` (Proxmox will
//!   not write into the empty directory of an unmounted dataset) and without
//!   `shared`, which would tell a cluster that a local disk is shared. Export
//!   directories are created but not made world-writable.
//!
//! The rooms: `model` (the definitions read into pools, datasets, exports and
//! storages, and the commands for each), `parse` (tool output), `ledger`, `block`
//! (phoenix's block in a shared config file): pure functions of the hypervisor
//! definitions and of what the host reported. Then the steps themselves, which run
//! the commands through `Pve`: `zfs`, `nfs`, and what both share in `steps`.
//! `gpu` is not a step of its own: it checks what `host:gpu_init` must leave.

mod block;
mod gpu;
mod ledger;
mod model;
mod nfs;
mod parse;
mod steps;
mod zfs;

pub use self::block::{with_block, with_exports};
pub use self::ledger::Ledger;
pub use self::model::{
    Dataset, Export, Pool, WantedStorage, arc_max_bytes, datasets, exports, full_run, nfs_server,
    nfs_storages, pools, zfs_storages,
};
pub use self::parse::{importable_pools, is_member, signatures, storage_ids};
pub(in crate::backend::pve) use self::steps::READ_IF_EXISTS;
