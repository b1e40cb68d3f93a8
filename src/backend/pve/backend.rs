//! `impl Backend for Pve`: each operation of the `Backend` trait as the `pct`, `qm`
//! and `pvesh` calls it takes, with the VM, container and host-step parts in their
//! own modules (`vm`, `ct`, `host`).

use std::time::Duration;

use super::Pve;
use super::client::SHORT;
use super::cmd::Cmd;
use super::commands::{self, Current};
use super::inventory::parse_inventory;
use super::runner::Runner;
use crate::backend::{
    Backend, BackendError, GuestCtx, HostStep, Inventory, Log, OpError, OpResult, Script, Stamp,
    command,
};
use crate::defs::GuestKind;
use crate::live::Observation;

impl Backend for Pve {
    fn name(&self) -> &'static str {
        if matches!(self.runner, Runner::Api(_)) {
            "api"
        } else {
            "pve"
        }
    }

    fn supports(&self, _: GuestKind) -> bool {
        true
    }

    fn inventory(&self) -> Result<Inventory, BackendError> {
        let text = self
            .check(&commands::inventory(), SHORT, &mut Log::sink())
            .map_err(|e| BackendError::Failed {
                backend: "pve",
                message: e.message,
            })?;
        let inventory = parse_inventory(&text).map_err(|message| BackendError::Failed {
            backend: "pve",
            message,
        })?;
        if let Ok(mut last) = self.last_inventory.lock() {
            *last = Some(text);
        }
        Ok(inventory)
    }

    fn create(&self, g: &GuestCtx, stamp: &str, log: &mut Log) -> OpResult {
        let _on = self.on(g);
        let tags = commands::stamp_tags(stamp);
        // A clone carries its source's tags, `phx-built-<source key>` among them:
        // its own stamp replaces that before anything else happens to it.
        match (g.guest.kind, &g.source) {
            (GuestKind::Ct, Some(from)) => {
                let clone =
                    commands::ct_clone(g.defs, g.guest, from.guest, from.snapshot.as_deref());
                self.check(&clone, g.timeout, log)?;
                self.stamp_merged(g, stamp, log)
            }
            (GuestKind::Ct, None) => self
                .check(&commands::ct_create(g.guest, &tags), g.timeout, log)
                .map(|_| ()),
            (GuestKind::Vm, Some(from)) => {
                self.check(&commands::vm_clone(g.guest, from.guest), g.timeout, log)?;
                self.stamp_merged(g, stamp, log)?;
                self.grow_vm_disk(g, log)
            }
            (GuestKind::Vm, None) => self.create_template_vm(g, &tags, log),
        }
    }

    fn destroy(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        let _on = self.on(g);
        let inv = self
            .inventory_logged(log)
            .map_err(|e| OpError::new(e.to_string()))?;
        match inv.get(&g.node).map(|o| &o.stamp) {
            None => return Ok(()),
            Some(Stamp::Foreign) => {
                return Err(OpError::new(format!(
                    "{} was not created by phoenix; refusing to destroy it",
                    g.node
                )));
            }
            Some(_) => {}
        }
        let cmds = commands::destroy(g.guest);
        // Stopping a stopped guest fails; that is fine.
        let _ = self.check(&cmds[0], SHORT, log);
        self.all(&cmds[1..], g.timeout, log)
    }

    /// The guest's settings, in place. A converted container template takes them
    /// as any container does: pve-container `PVE::API2::LXC::Config` `update_vm`
    /// (`pct set`, its stamp's `--tags` too) and `PVE::API2::LXC` `resize_vm` do
    /// not look at `template`, and nothing here starts it (pending changes and raw
    /// lines restart only a running guest). Only a mount point is refused on one
    /// (see `refuse_template_mounts`).
    fn configure(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        let _on = self.on(g);
        self.follow_node(g, log)?;
        let id = g.guest.id.to_string();
        let cmds = match g.guest.kind {
            GuestKind::Ct => {
                let current =
                    Current::parse(&self.check(&Cmd::new(["pct", "config", &id]), SHORT, log)?);
                let cmds = commands::ct_configure(g.guest, &current);
                if current.template {
                    refuse_template_mounts(g, &cmds)?;
                }
                self.bind_sources(g, log)?;
                cmds
            }
            GuestKind::Vm => {
                let current =
                    Current::parse(&self.check(&Cmd::new(["qm", "config", &id]), SHORT, log)?);
                commands::vm_configure(g.guest, &current)
            }
        };
        self.all(&cmds, g.timeout, log)?;
        self.firewall_sync(g, log)?;
        match g.guest.kind {
            GuestKind::Ct => {
                self.raw_lines(g, log)?;
                self.settle_pending(g, log)
            }
            // Volumes are mounted at start; a running VM gets changes now.
            GuestKind::Vm if self.status(g, log)?.contains("running") => {
                self.settle_pending(g, log)?;
                self.vm_volumes(g, log)
            }
            GuestKind::Vm => Ok(()),
        }
    }

    fn start(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        let _on = self.on(g);
        let id = g.guest.id.to_string();
        if !self.status(g, log)?.contains("running") {
            let start = if g.guest.kind == GuestKind::Ct {
                self.bind_sources(g, log)?;
                commands::ct_start(g.guest)
            } else {
                commands::vm_start(g.guest)
            };
            let mut last = None;
            for _ in 0..3 {
                match self.check(&start, SHORT, log) {
                    Ok(_) => {
                        last = None;
                        break;
                    }
                    Err(e) if e.message.contains("already running") => {
                        last = None;
                        break;
                    }
                    Err(e) => {
                        last = Some(e);
                        std::thread::sleep(Duration::from_secs(2));
                    }
                }
            }
            if let Some(e) = last {
                return Err(e);
            }
        }
        // Ready: a VM's guest agent answers and cloud-init is done, its volumes
        // are mounted; a container runs commands.
        if g.guest.kind == GuestKind::Vm {
            self.wait_agent(g, log)?;
            self.cloud_init_wait(g, log)?;
            return self.vm_volumes(g, log);
        }
        let probe = Cmd::new(["pct", "exec", &id, "--", "/bin/sh", "-c", "true"]);
        command::poll_until(Duration::from_secs(300), Duration::from_secs(1), || {
            match self.check(&probe, SHORT, log) {
                Ok(_) => Ok(Some(())),
                // The node is gone, not slow: no point in waiting for it.
                Err(e) if e.message.starts_with(super::runner::UNREACHABLE) => Err(e),
                Err(_) => Ok(None),
            }
        })?
        .ok_or_else(|| OpError::new(format!("{} started but is not ready after 300s", g.node)))
    }

    fn stop(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        let _on = self.on(g);
        // `shutdown` of a stopped guest is an error ("CT is not running").
        if !self.status(g, log)?.contains("running") {
            return Ok(());
        }
        let tool = commands::tool(g.guest);
        self.check(
            &Cmd::new([tool, "shutdown", &g.guest.id.to_string()]),
            g.timeout,
            log,
        )
        .map(|_| ())
    }

    fn shutdown(&self, g: &GuestCtx, timeout: Duration, force: bool, log: &mut Log) -> OpResult {
        let _on = self.on(g);
        self.shutdown_guest(g, timeout, force, log)
    }

    fn snapshot(&self, g: &GuestCtx, name: &str, log: &mut Log) -> OpResult {
        let _on = self.on(g);
        let exists = self.snapshots(g, log).iter().any(|s| s.name == name);
        self.all(&commands::snapshot(g.guest, name, exists), g.timeout, log)
    }

    fn rollback(&self, g: &GuestCtx, name: &str, log: &mut Log) -> OpResult {
        let _on = self.on(g);
        self.rollback_past_newer(g, name, log)
    }

    fn template(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        let _on = self.on(g);
        match g.guest.kind {
            GuestKind::Vm => self.vm_make_template(g, log),
            GuestKind::Ct => self.ct_make_template(g, log),
        }
    }

    fn exec(&self, g: &GuestCtx, script: &Script, log: &mut Log) -> OpResult {
        let _on = self.on(g);
        if g.guest.kind == GuestKind::Vm {
            return self.vm_exec(g, script, log);
        }
        self.ct_exec(g, script, log)
    }

    fn stamp(&self, g: &GuestCtx, stamp: &str, log: &mut Log) -> OpResult {
        let _on = self.on(g);
        self.stamp_merged(g, stamp, log)
    }

    fn observe(&self, g: &GuestCtx, log: &mut Log) -> Result<Observation, OpError> {
        let _on = self.on(g);
        self.observe_guest(g, log)
    }

    fn adopt(&self, g: &GuestCtx, stamp: &str, log: &mut Log) -> OpResult {
        let _on = self.on(g);
        self.adopt_guest(g, stamp, log)
    }

    fn supports_builtin_host(&self) -> bool {
        true
    }

    fn place(&self, g: &GuestCtx) -> Option<Result<String, String>> {
        let Runner::Api(api) = &self.runner else {
            return None;
        };
        Some(
            api.0
                .place_wish(&crate::backend::api::wish_of(g), &mut Log::sink())
                .map(|p| format!("placed on {}: {}", p.node, p.reason))
                .map_err(|e| format!("{}: {}", g.node, e.message)),
        )
    }

    fn host_builtin(&self, step: &HostStep, log: &mut Log) -> OpResult {
        match step.name {
            "zfs" => self.zfs(step, log),
            "nfs" => self.nfs(step, log),
            other => Err(OpError::new(format!(
                "`{other}` is not a built-in host step"
            ))),
        }
    }

    fn after_host_step(&self, step: &HostStep, log: &mut Log) -> OpResult {
        match step.name {
            "gpu_init" => self.gpu_device_nodes(step, log),
            _ => Ok(()),
        }
    }

    fn host(&self, script: &Script, timeout: Duration, log: &mut Log) -> OpResult {
        self.host_script(script, timeout, log)
    }
}

impl Pve {
    /// The guest list, its call written to `log` (a node's, when an operation
    /// checks what exists).
    fn inventory_logged(&self, log: &mut Log) -> Result<Inventory, BackendError> {
        let out = self
            .check(&commands::inventory(), SHORT, log)
            .map_err(|e| BackendError::Failed {
                backend: "pve",
                message: e.message,
            })?;
        parse_inventory(&out).map_err(|message| BackendError::Failed {
            backend: "pve",
            message,
        })
    }
}

/// Refuse to add a mount point or volume to a converted template in place:
/// Proxmox takes the `pct set`, but then clones none of it. A bind mount cannot
/// be cloned (pve-container `PVE::API2::LXC` `clone_vm`: "unable to clone
/// mountpoint"), and a new volume is not a base volume, which is all a template's
/// linked clone can be made from (pve-storage `volume_has_feature('clone')`, key
/// `current`: "Linked clone feature for '<volid>' is not available"); `pct
/// template` does not run twice. Taking mount points away is fine.
fn refuse_template_mounts(g: &GuestCtx, cmds: &[Cmd]) -> OpResult {
    let added: Vec<&str> = cmds
        .iter()
        .flat_map(|c| c.argv.windows(2))
        .filter(|w| {
            w[0].strip_prefix("--mp")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(|w| w[1].as_str())
        .collect();
    if added.is_empty() {
        return Ok(());
    }
    Err(OpError::new(format!(
        "{} is a converted template: its clones could not be made with a mount point added now ({}); `phoenix build --force {}` makes it again, with its clones",
        g.node,
        added.join("; "),
        g.node
    )))
}
