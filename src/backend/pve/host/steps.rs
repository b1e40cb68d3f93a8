//! What both built-in host steps share: installing a missing tool, and bringing the
//! Proxmox storages a step wants in line with the ledger.

use std::time::Duration;

use super::super::Pve;
use super::super::cmd::Cmd;
use super::ledger::Ledger;
use super::model::WantedStorage;
use super::parse::storage_ids;
use crate::backend::{Log, OpError, OpResult};

pub(super) const SHORT: Duration = Duration::from_secs(120);

/// A file's text, or nothing when it does not exist; any other failure to read it
/// is an error (a file that could not be read is never taken for an empty one).
pub(in crate::backend::pve) const READ_IF_EXISTS: &str = "[ ! -e \"$1\" ] || cat \"$1\"";

impl Pve {
    /// Install `package` on the host when `tool` is not there.
    pub(in crate::backend::pve) fn ensure_tool(
        &self,
        tool: &str,
        package: &str,
        timeout: Duration,
        log: &mut Log,
    ) -> OpResult {
        let probe = Cmd::new(["sh", "-c", "command -v \"$1\"", "sh", tool]);
        if self.check(&probe, SHORT, log).is_ok() {
            return Ok(());
        }
        let install = Cmd::new([
            "env",
            "DEBIAN_FRONTEND=noninteractive",
            "apt-get",
            "install",
            "-y",
            "-q",
            package,
        ]);
        self.check(&install, timeout, log).map(|_| ())
    }

    /// Add the storages a step wants, update the ones it created, and remove the
    /// ones it created that are no longer wanted. A storage phoenix did not create
    /// is never changed or removed. The ledger is written after every change.
    pub(super) fn sync_storages(
        &self,
        step: &str,
        wanted: &[WantedStorage],
        log: &mut Log,
    ) -> OpResult {
        let existing = storage_ids(&self.check(
            &Cmd::new(["pvesh", "get", "/storage", "--output-format", "json"]),
            SHORT,
            log,
        )?)
        .map_err(OpError::new)?;
        let ledger_path = self.host_path(Ledger::PATH);
        let mut ledger = Ledger::parse(&self.check(
            &Cmd::new(["sh", "-c", READ_IF_EXISTS, "sh", &ledger_path]),
            SHORT,
            log,
        )?);
        for w in wanted {
            if !existing.contains(&w.id) {
                self.check(&w.add, SHORT, log)?;
                ledger.insert(step, &w.id);
                self.runner
                    .upload(&ledger_path, ledger.render().as_bytes(), log)?;
            } else if ledger.owns(step, &w.id) {
                self.check(&w.update, SHORT, log)?;
            } else {
                log.note(&format!(
                    "storage {} exists and phoenix did not create it; left as it is",
                    w.id
                ));
            }
        }
        for id in ledger.of(step) {
            if wanted.iter().any(|w| w.id == id) {
                continue;
            }
            if existing.contains(&id) {
                // Never pull a storage out from under guests' disks.
                let volumes = self.check(&Cmd::new(["pvesm", "list", &id]), SHORT, log)?;
                let held: Vec<&str> = volumes
                    .lines()
                    .skip(1)
                    .filter_map(|l| l.split_whitespace().next())
                    .collect();
                if !held.is_empty() {
                    return Err(OpError::new(format!(
                        "storage {id} is no longer defined, but it still holds {}: move or remove those volumes, then build again (it is removed once empty)",
                        held.join(", ")
                    )));
                }
                log.note(&format!(
                    "storage {id} is no longer defined; phoenix created it, so it goes"
                ));
                self.check(&Cmd::new(["pvesm", "remove", &id]), SHORT, log)?;
            }
            ledger.remove(step, &id);
            self.runner
                .upload(&ledger_path, ledger.render().as_bytes(), log)?;
        }
        Ok(())
    }
}
