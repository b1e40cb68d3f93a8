//! The executor: runs a plan on a backend.
//!
//! How it works: one coordinator (the calling thread) owns the plan, the state
//! directory and the reporter. `-j N` worker threads take ready nodes from a queue
//! and run their steps one after another (so one step at a time per guest); they
//! send events back on a channel, which the coordinator forwards to the reporter;
//! when a node finishes, it dispatches the nodes that were waiting only for it.
//!
//! Records are the one thing workers write themselves, after every step (DESIGN §5
//! has the coordinator write them): a node's record has exactly one writer, the
//! worker running that node, and they go to the state directory's append-only
//! journal (see `state::Journal`). An appended record is in the kernel at once, so it
//! survives kill -9 and any crash of phoenix; the journal is synced to disk when a
//! node finishes, before anything that needs the node starts, so after a power loss
//! a build resumes at worst at the start of the nodes that were running (their
//! steps are idempotent by contract). DESIGN §5 asks for an fsync after every step,
//! written by the coordinator: thousands of synced records one after another made
//! the coordinator the bottleneck of large builds, and syncing once per node instead
//! of once per step cut a thousand-guest build by a fifth. Readers merge the
//! journal with the per-node files; it is folded into them once it has grown. A failed node marks
//! everything that needs it, transitively, as skipped; independent branches go on
//! (`--fail-fast` stops dispatching instead). Clones from one source take that
//! source's pool (one at a time); creations take a slot of their storage's pool.
//! A Ctrl-C stops dispatching too, and a running node before its next step; a
//! second one kills the running steps ([`interrupt`]).
//!
//! Layout: `coordinator` ([`run`] and its bookkeeping), `worker` (one node's
//! steps), `scripts` (what a step hands the backend to run), [`health`] (a
//! guest's health checks, for the build and `phoenix check`), [`pool`] (the
//! resource pools), [`events`] (what reporters see), [`interrupt`] (Ctrl-C),
//! `options` and `output` (log files, terminal detection).

mod coordinator;
pub mod events;
pub mod health;
pub mod interrupt;
mod options;
mod output;
pub mod pool;
pub mod retry;
mod scripts;
#[cfg(test)]
mod tests;
mod worker;

pub use coordinator::{Run, run};
pub use events::{Event, NodeResult, Outcome, Reporter, Summary};
pub use interrupt::{Interrupt, Press};
pub use options::Options;
pub use output::{is_terminal_stderr, log_path};
