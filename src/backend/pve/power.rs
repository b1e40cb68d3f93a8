//! A clean shutdown with a timeout (`phoenix stop`): `pct shutdown` and `qm
//! shutdown` with `--timeout` and, to kill what is still running then,
//! `--forceStop 1`.
//!
//! What Proxmox does with them (the API's `status/shutdown` of each kind):
//! pve-container (`PVE::API2::LXC::Status` `vm_shutdown`, `PVE::LXC::vm_stop`)
//! runs `lxc-stop --timeout T`, with `--nokill` unless `forceStop`: without it a
//! container still running after T seconds stays running and the task dies with
//! "container did not stop"; a container that is not running is refused ("CT
//! \<id> not running"). qemu-server (`PVE::API2::Qemu` `vm_shutdown`,
//! `PVE::QemuServer::_do_vm_stop`) sends the guest agent's `guest-shutdown` (or
//! an ACPI power button press) and waits T seconds (60 by default, or the
//! guest's `startup` `down` value); after that, with `forceStop` it terminates
//! the VM (SIGTERM, then SIGKILL 10 s later), without it dies with "VM
//! quit/powerdown failed - got timeout" and the VM keeps running; a paused VM
//! is refused unless `forceStop`, which stops it at once.

use std::time::Duration;

use super::Pve;
use super::cmd::{Cmd, id, tool};
use crate::backend::{GuestCtx, Log, OpError, OpResult};

/// How much longer than its own `--timeout` a shutdown command may take: the
/// task's start, and a forced VM's 10 s between SIGTERM and SIGKILL.
const MARGIN: Duration = Duration::from_secs(60);

/// `pct shutdown <id> --timeout T [--forceStop 1]`, `qm shutdown` likewise.
pub fn shutdown(g: &crate::defs::Guest, timeout: Duration, force: bool) -> Cmd {
    let cmd = Cmd::new([tool(g), "shutdown", &id(g)]).opt("timeout", timeout.as_secs().to_string());
    if force {
        cmd.flag("forceStop", true)
    } else {
        cmd
    }
}

impl Pve {
    /// [`crate::backend::Backend::shutdown`] on Proxmox (see the module doc).
    pub(super) fn shutdown_guest(
        &self,
        g: &GuestCtx,
        timeout: Duration,
        force: bool,
        log: &mut Log,
    ) -> OpResult {
        // A stopped container's shutdown is an error ("CT <id> not running").
        if !self.status(g, log)?.contains("running") {
            return Ok(());
        }
        match self.check(&shutdown(g.guest, timeout, force), timeout + MARGIN, log) {
            Ok(_) => Ok(()),
            // Stopped meanwhile (by its own shutdown, late): what was asked for.
            Err(_) if !self.status(g, log)?.contains("running") => Ok(()),
            // "got timeout" reads as a lock error (`OpError::from_output`), but a
            // guest that ignored the request is not retried.
            Err(e) if force => Err(OpError::new(e.message)),
            Err(e) => Err(OpError::new(format!(
                "{} did not stop within {}s and was left running, its shutdown perhaps still under way ({}); --force stops it after the timeout",
                g.node,
                timeout.as_secs(),
                e.message.lines().last().unwrap_or_default().trim()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defs::{Guest, GuestKind};

    #[test]
    fn a_shutdown_names_its_timeout_and_forces_only_when_asked() {
        let mut g = Guest::empty(GuestKind::Ct, 101, "f", "p");
        let argv = |g: &Guest, force| shutdown(g, Duration::from_secs(30), force).argv;
        assert_eq!(
            argv(&g, false),
            ["pct", "shutdown", "101", "--timeout", "30"]
        );
        assert_eq!(
            argv(&g, true),
            [
                "pct",
                "shutdown",
                "101",
                "--timeout",
                "30",
                "--forceStop",
                "1"
            ]
        );
        g.kind = GuestKind::Vm;
        assert_eq!(argv(&g, false)[..3], ["qm", "shutdown", "101"]);
    }
}
