//! `up`'s sync hook: what the shell tool's `LetsGo` meant to run after each guest
//! flagged `trigger_sync_on_completion` started, and never did (reference §5.4).
//!
//! The definitions name it by where it lives:
//!
//! * native layout: `hooks/sync.sh`, run on the host as a host step's script is:
//!   `$1` is the absolute path of the hypervisor file, `PHOENIX_GUEST_ID` and
//!   `PHOENIX_GUEST_NAME` name the guest that now runs, `PHOENIX_HYPERVISOR_JSON`,
//!   `PHOENIX_LXC_JSON` and `PHOENIX_VM_JSON` the definition files;
//! * a shell tool install (legacy layout): its Portainer manager, as `LetsGo`
//!   meant it: `bin/managers/portainer-manager.sh sync all --config <hypervisor
//!   file>`, with the same environment.
//!
//! It runs through the backend's `host` operation (on the Proxmox host, over ssh
//! where phoenix drives one), its output in the guest's log. A flagged guest
//! without a hook in the definitions gets a note in the summary, nothing else.

use std::path::PathBuf;
use std::time::Duration;

use crate::backend::{Backend, Log, OpResult, Script};
use crate::defs::{Definitions, Guest, Layout};

/// The definitions' sync hook.
#[derive(Debug, Clone)]
pub(super) struct Hook {
    /// Relative to the definitions directory.
    pub(super) rel: String,
    /// Whether the file is there.
    pub(super) exists: bool,
    pub(super) timeout: Duration,
}

impl Hook {
    /// The hook of `defs`' layout (see the module doc), found or not.
    pub(super) fn of(defs: &Definitions, timeout: Duration) -> Hook {
        let rel = match defs.layout {
            Layout::Native => "hooks/sync.sh",
            Layout::Legacy => "bin/managers/portainer-manager.sh",
        }
        .to_string();
        Hook {
            exists: defs.path_of(&rel).is_file(),
            rel,
            timeout,
        }
    }

    /// What to say for a flagged guest when the hook is missing.
    pub(super) fn missing(&self) -> String {
        format!(
            "trigger_sync_on_completion is set, but the definitions have no sync hook `{}`; nothing run",
            self.rel
        )
    }

    /// The hook as the backend runs it, for guest `g`.
    pub(super) fn script(&self, defs: &Definitions, g: &Guest) -> Script {
        let config = absolute(defs.path_of(&defs.hypervisor_file));
        let config = config.display().to_string();
        let args = match defs.layout {
            Layout::Native => vec![config],
            Layout::Legacy => vec!["sync".into(), "all".into(), "--config".into(), config],
        };
        let inputs = [
            ("PHOENIX_HYPERVISOR_JSON", &defs.hypervisor_file),
            ("PHOENIX_LXC_JSON", &defs.lxc_file),
            ("PHOENIX_VM_JSON", &defs.vm_file),
        ]
        .into_iter()
        .map(|(var, rel)| (var.to_string(), absolute(defs.path_of(rel))))
        .filter(|(_, p)| p.is_file())
        .collect();
        Script {
            name: self.rel.clone(),
            path: defs.path_of(&self.rel),
            args,
            env: vec![
                ("PHOENIX_GUEST_ID".into(), g.id.to_string()),
                ("PHOENIX_GUEST_NAME".into(), g.name.clone()),
            ],
            files: Vec::new(),
            inputs,
        }
    }

    /// Run the hook for `g` on the host.
    pub(super) fn run(
        &self,
        backend: &dyn Backend,
        defs: &Definitions,
        g: &Guest,
        log: &mut Log,
    ) -> OpResult {
        log.note(&format!("sync hook {} for {}", self.rel, g.label()));
        backend.host(&self.script(defs, g), self.timeout, log)
    }
}

fn absolute(p: PathBuf) -> PathBuf {
    std::fs::canonicalize(&p).unwrap_or(p)
}
