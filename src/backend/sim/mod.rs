//! The sim backend: a simulated host in a directory, for tests, scale runs and
//! benchmarks. Not a product backend.
//!
//! `<dir>/guests.json` holds the guests (stamp, snapshots, running, the settings
//! they were configured with: `config`, see [`settings_of`]); every
//! operation is appended to `<dir>/ops.log` as `<start ms> <end ms> <node> <op> <detail>`
//! so tests can check what ran, in which order and what overlapped.
//!
//! The host survives kill -9 like a real one: an operation that returned is on
//! disk, so the host never lags behind the state journal that records the step.
//! Each operation appends the guest's new state (or its removal) as one line to
//! `<dir>/guests.log` before it returns; loading replays that log over
//! `guests.json`, and dropping the backend folds it in (`guests.json` written
//! and renamed into place, the log emptied). This is the state journal's design,
//! for the same reason: rewriting every guest after every operation would cost a
//! thousand-guest build a thousand-guest file per step, and the scheduler
//! benchmark would measure the simulator's writes. A torn last line (a kill in the
//! middle of an append) is an operation that never returned, and is ignored.
//!
//! Converted templates behave as Proxmox's do: a template cannot start, take a
//! snapshot or be converted while it has any; a clone of one is linked to it
//! (`linked_from`), and the template cannot be destroyed while a linked clone
//! exists (pve-storage refuses to free a base volume in use).
//!
//! A build claims the directory (`<dir>/lock`, see [`super::Claim`]): a second
//! build driving the same simulated host from another cache is refused.
//!
//! Faults come from `<dir>/faults.json`, a list of
//! `{"node": "ct:950", "op": "exec", "match": "vllm", "lock": false, "times": 1}`:
//! the next `times` matching operations fail (with a lock error when `lock` is true,
//! which the executor retries). `times` is decremented on disk, so a fault that fired
//! is gone for the next build. [`SimOptions`]: a latency per operation
//! (`--sim-latency-ms`), and with `--sim-exec` scripts really run (through their `#!` line) on this machine,
//! which is how the scheduler is compared with ninja on the same DAG.
//!
//! Guests another tool built, and changes made by hand: [`Sim::place_foreign`]
//! puts an unstamped guest with given settings on the host, and
//! [`Sim::edit_setting`] changes one setting outside phoenix (as does editing a
//! guest's `config` in `guests.json` between commands, e.g. `{"node": "ct:920",
//! "stamp": "", "running": true, "snapshots": {}, "layers": [], "config":
//! {"memory_mb": "512", "cores": "1", "start_at_boot": "0", "net0":
//! "bridge=vmbr0,ip=10.0.0.5/24,name=eth0"}}`). `observe` compares `config`
//! with the definition; `adopt` stamps a guest without touching anything else.
//!
//! Rooms: `host` (the simulated host: its guests on disk, the operation log,
//! faults and latencies, changes by hand), `ops` (the
//! [`Backend`](super::Backend) operations on it, with Proxmox's rules for
//! templates) and `observe` (a guest's settings beside its definition).

mod host;
mod observe;
mod ops;

pub use host::{Sim, SimOptions};
pub use observe::settings_of;
