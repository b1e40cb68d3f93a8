//! The recording runner behind `build --dry-run --backend pve`: the real backend
//! runs, and every command it would run is recorded instead, under the node whose
//! log it was written to (the log's path names the node), so workers may run in
//! parallel and each node's commands still come out together.
//!
//! The backend probes the host as it goes (`pct config`, `status`, `pending`,
//! `listsnapshot`, the firewall rules, `/cluster/resources`, `cat` of a config file
//! …); a small model of the host answers them. It starts as the inventory the plan
//! was made against and follows what the recorded commands do: `pct create`/`clone`
//! make a stopped guest (a clone with its source's config and firewall rules, as
//! Proxmox copies them), `start` runs it, `pct set` is remembered, snapshots taken
//! are listed, ZFS pools and datasets exist once created, firewall rules are created on top, moved and deleted as
//! pve-firewall does, uploaded files (and lines appended to one) read back. Where an answer cannot be known, it is what
//! a freshly built guest would have: an existing guest's snapshots are the ones its
//! build takes, its config is empty (so every setting is shown), its firewall has
//! no rules yet, nothing is pending, commands inside a guest succeed silently, a
//! ZFS pool or dataset phoenix has not created does not exist (the first build of
//! a host shows every `zpool create` and `zfs create` it may run), and anything
//! else (a file test) succeeds with no output.
//!
//! The rooms: this module (the [`Recorder`]: what was recorded, under which log),
//! `model` (the host it answers from: guests, files, ZFS), `firewall` (a guest's
//! firewall rules as pve-firewall orders them), `volumes` (volume names: new,
//! a template's base, a linked or full clone's).

mod firewall;
mod model;
mod volumes;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use self::model::Host;
use super::cmd::Cmd;
use crate::backend::command::Ran;
use crate::backend::{Inventory, Log};
use crate::defs::Definitions;

/// Records commands and answers probes from a model of the host; clones share one.
#[derive(Debug, Clone, Default)]
pub struct Recorder(Arc<Mutex<Host>>);

impl PartialEq for Recorder {
    fn eq(&self, other: &Recorder) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Recorder {}

impl Recorder {
    /// A host named `node` with the guests of `inventory` (stamped as observed,
    /// running as observed, with the snapshots their definitions' builds take).
    pub fn new(node: &str, inventory: &Inventory, defs: &Definitions) -> Recorder {
        Recorder(Arc::new(Mutex::new(Host::seeded(node, inventory, defs))))
    }

    fn host(&self) -> MutexGuard<'_, Host> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The command lines recorded under the log at `path`, in the order they ran.
    pub fn lines(&self, path: &Path) -> Vec<String> {
        self.host().lines.get(path).cloned().unwrap_or_default()
    }

    /// Record `cmd` under `log` (and write it there, as a real run would) and
    /// answer it from the model; it always succeeds.
    pub fn run(&self, cmd: &Cmd, stdin: Option<&[u8]>, log: &mut Log) -> Ran {
        let line = cmd.display();
        log.raw(format!("$ {line}\n").as_bytes());
        let mut host = self.host();
        host.lines.entry(log.path.clone()).or_default().push(line);
        let words: Vec<&str> = cmd.argv.iter().map(String::as_str).collect();
        let status = match words.as_slice() {
            ["zpool" | "zfs", "list", "-H", "-o", "name", name] => {
                i32::from(!host.zfs.contains(*name))
            }
            _ => 0,
        };
        let stdout = host.answer(&cmd.argv, stdin);
        Ran {
            status,
            stdout,
            stderr: String::new(),
        }
    }
}

#[cfg(test)]
mod tests;
