//! Side effects behind one trait. The planner never runs a command: it reads the
//! backend's inventory (one call for everything), and the executor asks the backend
//! for the operations a step is made of.
//!
//! Backends: **dry-run** (runs nothing), **pve** (a Proxmox host through pct, qm
//! and pvesh, locally or over ssh), **sim** (a simulated host in a directory with
//! injected faults, for tests and benchmarks) and **lxc** (real containers through
//! liblxc's tools); [`select`] chooses one.
//!
//! Rooms: `ops` (the [`Backend`] trait and what its operations take), `error`,
//! `dry_run`, [`command`] (running
//! tools with timeouts and logs).
//!
//! Every guest phoenix builds carries a stamp: `building:<define key>` while it is
//! being built, then `built:<output key>`. A guest without a stamp was not created by
//! phoenix and is never modified or destroyed.

pub mod api;
mod claim;
pub mod command;
mod dry_run;
mod error;
mod log;
pub mod lxc;
mod ops;
pub mod pve;
pub mod select;
pub mod sim;

/// Re-exported: the backends report what they observe in these types.
pub use crate::inventory::{Inventory, Observed, Stamp};
pub use claim::Claim;
pub use dry_run::DryRun;
pub use error::{BackendError, OpError, OpResult, started_nothing};
pub use log::Log;
pub use ops::{Backend, CloneFrom, GuestCtx, HostStep, Script, interpreter};
