//! The `host:nfs` step: export directories, phoenix's block in `/etc/exports`, and
//! the NFS storages once the server lists every export.

use std::time::Duration;

use super::super::Pve;
use super::super::cmd::Cmd;
use super::block::with_exports;
use super::model::{Export, exports, nfs_server, nfs_storages};
use super::steps::{READ_IF_EXISTS, SHORT};
use crate::backend::{HostStep, Log, OpError, OpResult, command};

impl Pve {
    pub(in crate::backend::pve) fn nfs(&self, step: &HostStep, log: &mut Log) -> OpResult {
        let host = &step.defs.host;
        let exports = exports(host);
        self.ensure_tool("exportfs", "nfs-kernel-server", step.timeout, log)?;
        for e in &exports {
            self.check(
                &Cmd::new(["mkdir", "-p", &self.host_path(&e.path)]),
                SHORT,
                log,
            )?;
        }
        let path = self.host_path("/etc/exports");
        let current = self.check(
            &Cmd::new(["sh", "-c", READ_IF_EXISTS, "sh", &path]),
            SHORT,
            log,
        )?;
        let lines: Vec<String> = exports.iter().map(Export::line).collect();
        let new =
            with_exports(&current, &lines).map_err(|e| OpError::new(format!("{path}: {e}")))?;
        if new != current {
            self.runner.upload(&path, new.as_bytes(), log)?;
        }
        self.check(&Cmd::new(["exportfs", "-ra"]), SHORT, log)?;
        let server = nfs_server(host).ok_or_else(|| {
            OpError::new(
                "network.interfaces.address is not set; the NFS storages need the host's address",
            )
        })?;
        // Guests mount these next: wait until the server lists every export.
        let mut missing: Vec<&str> = Vec::new();
        let listed_all =
            command::poll_until(Duration::from_secs(120), Duration::from_secs(2), || {
                let listed = self
                    .check(
                        &Cmd::new(["showmount", "-e", "--no-headers", &server]),
                        SHORT,
                        log,
                    )
                    .unwrap_or_default();
                missing = exports
                    .iter()
                    .map(|e| e.path.trim_end_matches('/'))
                    .filter(|p| {
                        !listed
                            .lines()
                            .any(|l| l.split_whitespace().next() == Some(p))
                    })
                    .collect();
                Ok(missing.is_empty().then_some(()))
            })?;
        if listed_all.is_none() {
            return Err(OpError::new(format!(
                "the NFS server at {server} does not list {} after 120s: check that it runs (`systemctl enable --now nfs-server`) and that `exportfs -v` shows the export",
                missing.join(", ")
            )));
        }
        self.sync_storages("nfs", &nfs_storages(host), log)
    }
}
