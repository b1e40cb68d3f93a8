//! The Proxmox VE backend: containers and VMs through `pct`, `qm` and `pvesh`.
//!
//! This version generates and checks the command lines (`commands`, `schema`);
//! `build --dry-run --backend pve` prints them. Running them on a host (locally or
//! over ssh), the inventory and the stand-in executables for tests come next.

pub mod commands;
pub mod schema;
