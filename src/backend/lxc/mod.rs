//! The lxc backend: real containers through liblxc's command-line tools.
//!
//! Containers are named `<prefix><id>` (prefix `phx-` by default) under `--lxcpath`,
//! so a build never touches containers it did not name. Snapshots are stopped full
//! copies named `<prefix><id>--<snapshot>` (`lxc-copy -B dir`, which works on every
//! storage type, unlike `lxc-snapshot`'s unnamed `snapN`). A running container on a
//! directory is frozen while it is copied and keeps running, as Proxmox freezes one
//! for a snapshot; a snapshot clone (an overlay) is stopped for it, and started
//! again. A container is killed before it is destroyed, as `pct stop` kills one
//! (see `client`). A clone of a snapshot
//! template is a full copy of the source's template snapshot, and a rollback
//! replaces the container by a copy of the snapshot. A snapshot template stays
//! stopped once its template snapshot is taken, as on Proxmox: nothing runs in it
//! any more, its clones being copies of the snapshot. A converted template
//! (`is_template`) is marked, stopped and holds no snapshots; its clones are
//! snapshot clones (`lxc-copy -s`: an overlay on a directory store), destroyed
//! before it (see `template`). The stamp is the file `phoenix-stamp` in the container's directory,
//! with the key of every step the container was built with (its proof, see
//! [`crate::inventory`]), so a lost cache is rebuilt from it; a rolled-back
//! container is stamped `building` until its build stamps it again. A build holds
//! `<lxcpath>/.phoenix-lock`, so two caches never drive one LXC path.
//!
//! The root filesystem is busybox (`lxc-create -t busybox`) whatever the `template`
//! field names: this backend exists to run the demo and the end-to-end tests on any
//! Linux machine. Its `/etc/init.d/rcS` is replaced so a static address from the
//! definition is not thrown away by a DHCP client.
//!
//! A container is unprivileged where its definition says so (`unprivileged`,
//! `id_maps`, raw `lxc.idmap` lines): its id map, the one Proxmox gives it, is in
//! its config and its root filesystem is owned by it (see `idmap`). Memory, swap
//! and cores are cgroup limits (see `config`).
//!
//! Every command gets its arguments as argv; values from definitions never pass
//! through a shell.
//!
//! Rooms: `client` (the [`Lxc`] handle, names, stamps and the lxc tools),
//! `config` (the config lines phoenix owns, `net0` and `net1`, resources, and the
//! busybox root filesystem), `idmap` (unprivileged containers), `mounts` (bind
//! mounts), `observe` (a container's files beside its definition, for
//! `phoenix adopt` and drift), `template` (converted templates and their
//! snapshot clones),
//! `backend` (the [`crate::backend::Backend`] operations).

mod backend;
mod client;
mod config;
mod idmap;
mod mounts;
mod observe;
mod template;

pub use client::{Lxc, which};

#[cfg(test)]
mod tests;
