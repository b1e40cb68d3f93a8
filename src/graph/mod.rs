//! The dependency graph: `host:`, `ct:` and `vm:` nodes with typed edges.
//!
//! Edges point from a node to what it needs (`ct:950 → ct:920`), and carry their
//! meaning: **clone** (content: the source's output key enters the clone's key),
//! **depends** (order only: the dependency is built and running first), and **host**
//! (the host step runs first; content only where the guest consumes a host value,
//! which the key module handles). Unknown references were reported by `defs` and are
//! left out here; cycles are reported here, every one of them, as paths.
//!
//! How it works: [`build`] adds a node per guest and per configured host step, then
//! the edges each guest's definition implies: its clone source, its `dependencies`,
//! and the host steps it relies on (`network` always; `zfs` when it sits on a ZFS
//! storage; `gpu_init` and `nvidia` with GPUs; `nfs` with NFS volumes; `dns` when it
//! resolves through the host). An edge whose end has no node (a host step that is
//! not configured, a reference `defs` already reported) is left out. Host steps
//! also need the host steps they run after (`after` in their spec). Then
//! [`Graph::select`] takes the targets and everything they need, and
//! [`Graph::order`] sorts a selection so every node comes after what it needs.
//!
//! Layout: `node` ([`NodeId`], [`EdgeKind`]), `build` (the [`Graph`] and its
//! queries), `select` (selection and order), `cycles`, [`runtime`] (what `start`
//! and `stop` touch, and their order: `depends` edges and boot order), and
//! [`target`] (command-line names to nodes).

mod build;
mod cycles;
mod node;
pub mod runtime;
#[cfg(test)]
mod runtime_tests;
mod select;
pub mod target;
#[cfg(test)]
mod tests;

pub use build::{Graph, build};
pub use node::NodeMap;
pub use node::{EdgeKind, NodeId};
