//! The Proxmox VE backend: containers and VMs through `pct`, `qm` and `pvesh`, on the
//! host itself or over ssh.
//!
//! `commands` builds every command line as a pure function (checked against the API
//! schema in the tests); the rest runs them. `build --dry-run --backend pve` runs
//! this same backend with a recording runner (`recording`), so it prints what a
//! real build runs, probes included. The inventory is one `pvesh get /cluster/resources` call; the stamp is a pair
//! of tags (`phoenix` and `phx-built-<key>`), which that call returns, so a no-op
//! build costs one command. Guest IDs come from the definitions, never from
//! `/cluster/nextid`.
//!
//! The rooms: `cmd` (one command line), `commands` (all of them, pure), `runner`
//! (where they run: locally, over ssh, or recorded for a dry run by `recording`), `client` (`Pve` and `PveOptions`, the
//! queries every operation shares), `backend` (`impl Backend for Pve`), `inventory`
//! (reading the guest list), `ct` and `vm` (what containers and VMs need past the
//! plain `pct`/`qm` calls), `settle` (bind mount sources, firewall reconcile,
//! pending changes, the merged stamp, rollback past newer snapshots), `agent` (the
//! VM guest agent), `power` (a clean shutdown with a timeout), `migrate` (a guest
//! moved to the cluster node its definition names), `host_script` (a host step's
//! script, here, over ssh or on every node of a cluster) and `host` (the built-in
//! host steps, ZFS and NFS). Dependencies go one way: `cmd` and `runner` at the
//! bottom, then `client`, `commands` and `host`, then the operations, `backend` on
//! top.

mod agent;
mod backend;
mod client;
pub mod cmd;
pub mod commands;
mod ct;
pub mod host;
mod host_script;
mod inventory;
mod migrate;
pub mod observe;
pub mod power;
pub mod recording;
pub mod runner;
mod settle;
mod vm;

pub use self::client::{IMAGE_DIR, Pve, PveOptions};
pub use self::inventory::parse_inventory;
pub use self::recording::Recorder;
pub use self::runner::{Runner, SshTarget};
