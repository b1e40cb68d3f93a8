//! The reads `observe` makes on the host, and `adopt`'s one write.

use serde_json::Value;

use super::firewall::text;
use super::{Live, compare};
use crate::backend::pve::Pve;
use crate::backend::pve::client::SHORT;
use crate::backend::pve::cmd::{Cmd, tool};
use crate::backend::pve::commands;
use crate::backend::{GuestCtx, Log, OpError, OpResult};
use crate::defs::GuestKind;
use crate::live::Observation;

impl Pve {
    /// Read the guest and compare it with its definition (see the module doc).
    pub(in crate::backend::pve) fn observe_guest(
        &self,
        g: &GuestCtx,
        log: &mut Log,
    ) -> Result<Observation, OpError> {
        let (node, running) = self.locate(g, log)?;
        let id = g.guest.id.to_string();
        let tool = tool(g.guest);
        let base = commands::firewall_base(g.guest, &node);
        let get = |path: String| Cmd::new(["pvesh", "get", &path, "--output-format", "json"]);
        let live = Live {
            config: self.check(
                &Cmd::new([tool, "config", &id, "--current", "1"]),
                SHORT,
                log,
            )?,
            pending: self.check(&Cmd::new([tool, "pending", &id]), SHORT, log)?,
            firewall_options: self.check(&get(format!("{base}/options")), SHORT, log)?,
            firewall_rules: self.check(&get(format!("{base}/rules")), SHORT, log)?,
            snapshots: self.snapshots(g, log).into_iter().map(|s| s.name).collect(),
            running,
        };
        compare(g.defs, g.guest, &live).map_err(|e| OpError::new(format!("{}: {e}", g.node)))
    }

    /// The guest's node and whether it runs, from the inventory; an error when
    /// its ID is free or holds a guest of the other kind.
    /// The inventory the command read last serves, where there is one (one
    /// inventory call for all the guests a command observes).
    fn locate(&self, g: &GuestCtx, log: &mut Log) -> Result<(String, bool), OpError> {
        let last = self.last_inventory.lock().ok().and_then(|l| l.clone());
        let out = match last {
            Some(text) => text,
            None => self.check(&commands::inventory(), SHORT, log)?,
        };
        let all: Value = serde_json::from_str(&out)
            .map_err(|e| OpError::new(format!("unreadable inventory: {e}")))?;
        let entry = all
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r.get("vmid").and_then(Value::as_u64) == Some(u64::from(g.guest.id)));
        let Some(entry) = entry else {
            return Err(OpError::new(format!(
                "{}: no guest with ID {} on the host",
                g.node, g.guest.id
            )));
        };
        let kind = entry
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let want = if g.guest.kind == GuestKind::Ct {
            "lxc"
        } else {
            "qemu"
        };
        if kind != want {
            let other = if kind == "lxc" { "a container" } else { "a VM" };
            return Err(OpError::new(format!(
                "{}: ID {} holds {other}, not the {} defined",
                g.node,
                g.guest.id,
                if want == "lxc" { "container" } else { "VM" }
            )));
        }
        let node = text(entry.get("node"))
            .ok_or_else(|| OpError::new(format!("{}: the inventory names no node", g.node)))?;
        let running = entry.get("status").and_then(Value::as_str) == Some("running");
        Ok((node, running))
    }

    /// Write the stamp on a guest phoenix did not build: its tags merged as
    /// [`commands::merge_tags`] merges them, nothing else. `tags` is applied at
    /// once and alone, so pending changes stay pending: pve-container
    /// `PVE::LXC::Config::update_pct_config` hot-plugs (or, stopped, applies)
    /// only the options of this call, and `tags` is in `$LXC_FASTPLUG_OPTIONS`;
    /// qemu-server `PVE::API2::Qemu` `update_vm` does the same for a running VM
    /// (`vmconfig_hotplug_pending` with the changed options), but for a stopped
    /// one runs `vmconfig_apply_pending` on all of them. A stopped VM with
    /// pending changes is therefore refused: stamping it would apply them.
    pub(in crate::backend::pve) fn adopt_guest(
        &self,
        g: &GuestCtx,
        stamp: &str,
        log: &mut Log,
    ) -> OpResult {
        let pending = self.pending(g, log)?;
        if g.guest.kind == GuestKind::Vm
            && !pending.options.is_empty()
            && !self.status(g, log)?.contains("running")
        {
            return Err(OpError::new(format!(
                "{} is stopped with pending changes ({}): `qm set --tags` would apply them; apply them (start it) or revert them first (`qm pending {}`)",
                g.node,
                pending.options.join(", "),
                g.guest.id
            )));
        }
        let tags = commands::merge_tags(&pending.tags, &commands::stamp_tags(stamp));
        self.check(&commands::stamp(g.guest, &tags), SHORT, log)
            .map(|_| ())
    }
}
