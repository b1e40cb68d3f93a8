//! A guest whose definition names another `node` than the one it is on is moved
//! there, in place, by its `configure` step: `pct migrate` / `qm migrate` (the
//! API's `/migrate`), never made again. A running container migrates in restart
//! mode (pve-container `PVE::API2::LXC` `migrate_vm`: "can't migrate running
//! container without --online or --restart", and `PVE::LXC::Migrate`: "lxc live
//! migration is currently not implemented"), so it is shut down, moved and
//! started; a running VM migrates online. Only a cluster has other nodes: on one
//! host (the pve backend without the API) a guest's `node` is not acted on.

use super::Pve;
use super::cmd::{Cmd, id, tool};
use super::runner::Runner;
use crate::backend::{GuestCtx, Log, OpResult};
use crate::defs::GuestKind;

impl Pve {
    pub(super) fn follow_node(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        let (Runner::Api(_), Some(want)) = (&self.runner, &g.guest.node) else {
            return Ok(());
        };
        let here = self.node_of(g, log)?;
        if &here == want {
            return Ok(());
        }
        let running = self.status(g, log)?.contains("running");
        let mut cmd = Cmd::new([tool(g.guest), "migrate", &id(g.guest), want]);
        if running {
            cmd = match g.guest.kind {
                GuestKind::Ct => cmd.opt("restart", "1"),
                GuestKind::Vm => cmd.opt("online", "1"),
            };
        }
        self.check(&cmd, g.timeout, log)?;
        log.notice(&format!(
            "migrated from {here} to {want}{}",
            match (g.guest.kind, running) {
                (GuestKind::Ct, true) => " (restart mode: shut down, moved, started)",
                (GuestKind::Vm, true) => " (online)",
                _ => "",
            }
        ));
        Ok(())
    }
}
