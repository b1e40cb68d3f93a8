//! What phoenix does against a guest as it is, around the plain `pct set`/`qm set`:
//! bind mount sources made on the host (and the container's id map allowed there),
//! the firewall reconciled, pending changes applied by a restart, the stamp merged
//! into the user's tags, a rollback past phoenix's own newer snapshots.

use super::Pve;
use super::client::SHORT;
use super::cmd::{Cmd, split_options, tool};
use super::commands;
use crate::backend::{GuestCtx, Log, OpError, OpResult};
use crate::defs::GuestKind;

impl Pve {
    /// What the host must have before a container starts, and before `pct set`
    /// adds a bind mount (hotplugged onto a running container, a missing directory
    /// fails the whole `pct set`): root allowed to map the container's id map (see
    /// [`Pve::allow_id_map`]; so also before `raw_lines` writes the map and the
    /// container first starts with it), and every bind mount's host directory
    /// that is missing (see [`commands::bind_source`]).
    pub(super) fn bind_sources(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        self.allow_id_map(g, log)?;
        for b in &g.guest.mounts.binds {
            let path = self.host_path(&b.host_path);
            self.check(&commands::bind_source(g.guest, b, &path), SHORT, log)?;
        }
        Ok(())
    }

    /// The guest's firewall: switched on or off, its rules exactly the defined ones
    /// in order (a clone's inherited rules included; see
    /// [`commands::firewall_reconcile`]).
    pub(super) fn firewall_sync(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        let node = self.node_of(g, log)?;
        let current = self.firewall_rules(g, &node, log)?;
        let mut cmds = commands::firewall_reconcile(g.guest, &node, &current);
        // The options line first: left out when the options already hold, so an
        // update that changes no firewall setting changes nothing there.
        let path = format!("{}/options", commands::firewall_base(g.guest, &node));
        let now = self.check(
            &Cmd::new(["pvesh", "get", &path, "--output-format", "json"]),
            SHORT,
            log,
        )?;
        if cmds.first().is_some_and(|c| options_hold(c, &now)) {
            cmds.remove(0);
        }
        self.all(&cmds, g.timeout, log)
    }

    /// After `pct set`/`qm set` on a running guest: what Proxmox could not apply
    /// live stays pending until the next start (pve-container
    /// `PVE::LXC::Config::vmconfig_hotplug_pending`, qemu-server
    /// `PVE::QemuServer::vmconfig_hotplug_pending`: `die "skip\n"`), so the guest is
    /// restarted once (a container with `pct reboot`, a VM shut down and started)
    /// and checked again. Still pending is an error naming the options.
    pub(super) fn settle_pending(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        if !self.status(g, log)?.contains("running") {
            return Ok(());
        }
        let pending = self.pending(g, log)?;
        if pending.options.is_empty() {
            return Ok(());
        }
        log.notice(&format!(
            "restarted to apply {} (pending until a start)",
            pending.options.join(", ")
        ));
        let id = g.guest.id.to_string();
        match g.guest.kind {
            GuestKind::Ct => {
                self.check(&Cmd::new(["pct", "reboot", &id]), g.timeout, log)?;
            }
            GuestKind::Vm => {
                self.all(
                    &[
                        Cmd::new(["qm", "shutdown", &id])
                            .opt("timeout", "180")
                            .opt("forceStop", "1"),
                        commands::vm_start(g.guest),
                    ],
                    g.timeout,
                    log,
                )?;
                self.wait_agent(g, log)?;
            }
        }
        self.refuse_pending(g, log).map(|_| ())
    }

    /// The guest's tags in effect, or an error naming the options that are still
    /// pending: a guest whose config differs from what runs is not built.
    fn refuse_pending(&self, g: &GuestCtx, log: &mut Log) -> Result<String, OpError> {
        let pending = self.pending(g, log)?;
        if pending.options.is_empty() {
            return Ok(pending.tags);
        }
        Err(OpError::new(format!(
            "{} still has pending changes after a restart ({}); see `{} pending {}`",
            g.node,
            pending.options.join(", "),
            tool(g.guest),
            g.guest.id
        )))
    }

    /// Write the stamp (`stamp_tags`) merged into the guest's other tags. A
    /// `built` stamp is refused while changes are pending; the `building` stamp of
    /// a fresh clone is not (it must replace the source's stamp first).
    pub(super) fn stamp_merged(&self, g: &GuestCtx, stamp: &str, log: &mut Log) -> OpResult {
        let tags = commands::stamp_tags(stamp);
        let current = if stamp.starts_with("built:") {
            self.refuse_pending(g, log)?
        } else {
            self.pending(g, log)?.tags
        };
        let merged = commands::merge_tags(&current, &tags);
        if merged == current {
            // Stamped so already (an update that changed no content).
            return Ok(());
        }
        self.check(&commands::stamp(g.guest, &merged), SHORT, log)
            .map(|_| ())
    }

    /// Roll back to `name`, deleting phoenix's own newer snapshots first (see
    /// [`commands::rollback_to`]).
    pub(super) fn rollback_past_newer(&self, g: &GuestCtx, name: &str, log: &mut Log) -> OpResult {
        let snaps = self.snapshots(g, log);
        let cmds = commands::rollback_to(g.guest, name, &snaps).map_err(OpError::new)?;
        self.all(&cmds, g.timeout, log)
    }
}

/// Whether every `--name value` of the firewall options command `cmd` is what
/// the guest's options (`pvesh get .../firewall/options` as JSON) say already; an
/// `enable` the options leave out is off (pve-firewall's default).
fn options_hold(cmd: &Cmd, now: &str) -> bool {
    let Ok(serde_json::Value::Object(now)) = serde_json::from_str::<serde_json::Value>(now) else {
        return false;
    };
    let Some((_, given)) = split_options(&cmd.argv) else {
        return false;
    };
    given.iter().all(|(name, want)| {
        let have = match now.get(*name) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            Some(serde_json::Value::Bool(b)) => u8::from(*b).to_string(),
            _ if *name == "enable" => "0".to_string(),
            _ => return false,
        };
        have == *want
    })
}
