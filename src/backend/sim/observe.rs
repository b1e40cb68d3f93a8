//! What a simulated guest is beside its definition: the settings it was
//! configured with (or placed with, for a guest another tool built) against the
//! ones `configure` would give it now, and its shape (converted template, linked
//! clone source).
//!
//! The settings are named by their definition fields, as `configure` records
//! them ([`settings_of`]): `memory_mb`, `cores`, `swap_mb`, `start_at_boot`,
//! `boot_order`, `boot_delay`, `pct_options`, and the interfaces `net0` and
//! `net1` as Proxmox-style property strings in one order (`bridge=…,gw=…,
//! hwaddr=…,ip=…,name=…`). A test changes one by hand with
//! [`Sim::edit_setting`], or by editing `config` in `guests.json` between
//! commands.

use std::collections::BTreeMap;

use super::host::Sim;
use crate::backend::{GuestCtx, OpError};
use crate::defs::settings::Network;
use crate::defs::{Guest, TemplateModel};
use crate::graph::NodeId;
use crate::live::{Observation, Setting, normal_property_string};

/// The settings `configure` gives guest `g` on the simulated host, by name.
pub fn settings_of(g: &Guest) -> BTreeMap<String, String> {
    let s = &g.settings;
    let mut out = BTreeMap::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            out.insert(k.to_string(), v);
        }
    };
    put("memory_mb", s.memory_mb.map(|v| v.to_string()));
    put("cores", s.cores.map(|v| v.to_string()));
    put("swap_mb", s.swap_mb.map(|v| v.to_string()));
    put(
        "start_at_boot",
        Some(if s.start_at_boot { "1" } else { "0" }.into()),
    );
    put("boot_order", s.boot_order.map(|v| v.to_string()));
    put("boot_delay", s.boot_delay.map(|v| v.to_string()));
    put(
        "pct_options",
        (!s.pct_features.is_empty()).then(|| s.pct_features.join(",")),
    );
    put("net0", Some(interface(&g.net)));
    put("net1", g.net1.as_deref().map(interface));
    out
}

/// An interface as one property string, keys sorted.
fn interface(n: &Network) -> String {
    let mut parts = Vec::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            parts.push(format!("{k}={v}"));
        }
    };
    put("name", n.name.clone());
    put("bridge", n.bridge.clone());
    put("ip", n.ip.map(|ip| ip.to_string()));
    put("gw", n.gateway.map(|gw| gw.to_string()));
    put("hwaddr", n.mac.clone());
    normal_property_string(&parts.join(","), &[])
}

/// The definition field a setting's name comes from.
fn field_of(name: &str) -> &str {
    match name {
        "net0" => "network_config",
        "net1" => "secondary_network_config",
        other => other,
    }
}

impl Sim {
    /// Guest `g` as the simulated host holds it, beside its definition. An
    /// injected fault on `observe` makes it fail (a guest that cannot be read).
    pub(super) fn observe_guest(&self, g: &GuestCtx) -> Result<Observation, OpError> {
        if let Some(err) = self.fault(&g.node.to_string(), "observe", "") {
            return Err(err);
        }
        let guests = self
            .guests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let x = guests
            .get(&g.node)
            .ok_or_else(|| OpError::new(format!("{} does not exist", g.node)))?;
        let want = settings_of(g.guest);
        let mut names: Vec<&String> = want.keys().chain(x.config.keys()).collect();
        names.sort();
        names.dedup();
        let settings = names
            .into_iter()
            .map(|n| {
                Setting::new(
                    field_of(n),
                    n,
                    x.config.get(n).cloned(),
                    want.get(n).cloned(),
                )
            })
            .collect();
        let flag = |on: bool| Some(if on { "1" } else { "0" }.to_string());
        let mut shape = vec![Setting::new(
            "is_template",
            "template",
            flag(x.template),
            flag(g.guest.template == TemplateModel::Converted),
        )];
        if let Some(base) = &x.linked_from {
            let field = match g.node {
                NodeId::Vm(_) => "clone_from_vmid",
                _ => "clone_from_ctid",
            };
            let want = g
                .guest
                .clone_from
                .as_ref()
                .map(|(id, _)| NodeId::guest(g.guest.kind, *id).to_string());
            shape.push(Setting::new(
                field,
                "linked clone of",
                Some(base.clone()),
                want,
            ));
        }
        Ok(Observation {
            settings,
            shape,
            template: x.template,
            running: x.running,
            snapshots: x.snapshots.keys().cloned().collect(),
        })
    }
}
