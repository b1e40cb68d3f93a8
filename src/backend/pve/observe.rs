//! Reading a guest back from Proxmox and comparing it with its definition
//! (`Backend::observe`), and stamping a guest phoenix did not build
//! (`Backend::adopt`).
//!
//! How it works: the reads are the guest's current config (`pct config <id>
//! --current 1`), its pending changes (`pct pending`), its firewall options and
//! rules (`pvesh get .../firewall/options|rules`), its snapshots and, from the
//! inventory, its node and whether it runs. What phoenix manages is not listed
//! here a second time: the settings are the options of the very `pct set`/`qm
//! set` that `configure` would run against this config (`commands::ct_configure`,
//! `commands::vm_configure`), the rootfs growth, the raw `lxc.*` lines
//! (`commands::guest_raw_lines`), and the firewall reconcile's options and rules
//! (`commands::firewall_reconcile`, `commands::wanted_rules`); each option is
//! compared with the live value in one normal form (`normal`). So "every
//! setting matches" is "configure would change nothing".
//!
//! Pending changes: `pct config` merges them into what it prints unless
//! `--current` is given (pve-container `PVE::API2::LXC::Config` `vm_config` →
//! `PVE::AbstractConfig::load_current_config`; qemu-server the same). What runs is
//! the current config, so that is the live value; a managed option with a
//! pending change reads `4096 (pending: 8192)` and so differs: `configure` would
//! restart the guest to settle it.
//!
//! The rooms: this module (the comparison of a config with what configure sets,
//! from the strings Proxmox prints: [`compare`]), `firewall` (options and rules),
//! `shape` (what no update changes: OS, template flag, root storage, linked-clone
//! base) and `host` (the reads on the host, and `adopt`'s one write, the tags).

use std::collections::BTreeMap;

use super::cmd::Cmd;
use super::commands::{self, Current, Pending};
use crate::defs::{Definitions, Guest, GuestKind};
use crate::live::{Observation, Setting, normal_property_string};

mod firewall;
mod host;
mod shape;

/// What is read of one guest, as the host printed it: the input of [`compare`].
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// `pct config <id> --current 1` / `qm config <id> --current 1`.
    pub config: String,
    /// `pct pending <id>` / `qm pending <id>`.
    pub pending: String,
    /// `pvesh get .../firewall/options --output-format json`.
    pub firewall_options: String,
    /// `pvesh get .../firewall/rules --output-format json`.
    pub firewall_rules: String,
    pub snapshots: Vec<String>,
    pub running: bool,
}

/// The main section of a config as `pct config`/`qm config` print it: options,
/// and a container's raw `lxc.*` lines (`key`, `value`) in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Config {
    pub(crate) options: BTreeMap<String, String>,
    pub(crate) raw: Vec<(String, String)>,
}

impl Config {
    pub(crate) fn parse(text: &str) -> Config {
        let mut c = Config::default();
        for line in text.lines() {
            if line.starts_with('[') {
                break;
            }
            if line.starts_with("lxc.") {
                c.raw.extend(raw_pair(line));
            } else if let Some((k, v)) = line.split_once(':') {
                c.options.insert(k.trim().to_string(), v.trim().to_string());
            }
        }
        c
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.options.get(key).map(String::as_str)
    }
}

/// A raw line as pve-container reads it (`PVE::LXC::Config::parse_pct_config`:
/// `lxc.key: value` or `lxc.key = value`, the value trimmed).
fn raw_pair(line: &str) -> Option<(String, String)> {
    let at = line.find([':', '='])?;
    let (k, v) = line.split_at(at);
    Some((k.trim().to_string(), v[1..].trim().to_string()))
}

/// The guest as `live` shows it, setting by setting beside its definition.
pub fn compare(defs: &Definitions, g: &Guest, live: &Live) -> Result<Observation, String> {
    let config = Config::parse(&live.config);
    let current = Current::parse(&live.config);
    let mut settings = match g.kind {
        GuestKind::Ct => ct_settings(g, &config, &current),
        GuestKind::Vm => vm_settings(g, &config, &current),
    };
    let pending = Pending::parse(&live.pending);
    for s in &mut settings {
        with_pending(g, s, &config, &pending);
    }
    settings.extend(firewall::firewall_settings(
        g,
        &live.firewall_options,
        &live.firewall_rules,
    )?);
    Ok(Observation {
        settings,
        shape: shape::shape(defs, g, &config),
        template: current.template,
        running: live.running,
        snapshots: live.snapshots.clone(),
    })
}

/// The `--option value` pairs of a `pct set`/`qm set`/`pvesh set` command.
fn options(cmd: &Cmd) -> impl Iterator<Item = (&str, &str)> {
    cmd.argv
        .get(3..)
        .unwrap_or_default()
        .chunks(2)
        .filter_map(|w| Some((w[0].strip_prefix("--")?, w.get(1)?.as_str())))
}

/// The definition field a Proxmox option comes from.
fn field_of(kind: GuestKind, key: &str, value: &str) -> &'static str {
    let numbered = |prefix: &str| {
        key.strip_prefix(prefix)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    match (kind, key) {
        (_, "hostname" | "name") => "name",
        (_, "memory") => "memory_mb",
        (_, "swap") => "swap_mb",
        (_, "cores") => "cores",
        (_, "onboot") => "start_at_boot",
        (_, "startup") => "boot_order",
        (_, "nameserver" | "ipconfig0") | (GuestKind::Ct, "net0") => "network_config",
        (_, "features") => "pct_options",
        (_, "rootfs") => "storage_size_gb",
        (_, "agent") => "agent",
        (GuestKind::Vm, "net0") => "firewall",
        _ if numbered("net") => "secondary_network_config",
        _ if numbered("dev") => "gpu_assignment",
        _ if numbered("mp") && value.starts_with('/') => "mount_points",
        _ if numbered("mp") => "volumes",
        _ => "pct_options",
    }
}

/// One option's value in the form both sides are compared in: a property string
/// with its keys sorted (see [`normal_property_string`]), MAC addresses in upper
/// case, the default key's name left out, and what Proxmox adds by itself
/// dropped: a container interface's `type=veth` (pve-container
/// `PVE::LXC::Config::parse_lxc_network` sets it on every one) and, where the
/// definition gives none, its generated `hwaddr` (same function,
/// `PVE::Tools::random_ether_addr`). A `firewall=0` is no firewall.
pub(crate) fn normal(g: &Guest, key: &str, value: &str) -> String {
    let net = key.strip_prefix("net").and_then(|n| n.parse::<u32>().ok());
    if let Some(n) = net {
        let parts: Vec<String> = value
            .split(',')
            .filter(|p| *p != "firewall=0")
            .map(|p| match p.split_once('=') {
                Some((k, v)) if k == "hwaddr" || v.len() == 17 && v.contains(':') => {
                    format!("{k}={}", v.to_ascii_uppercase())
                }
                _ => p.to_string(),
            })
            .collect();
        let defined = match n {
            0 => Some(&g.net),
            1 => g.net1.as_deref(),
            _ => None,
        };
        let mut ignore = Vec::new();
        if g.kind == GuestKind::Ct {
            ignore.push("type");
            if defined.is_some_and(|d| d.mac.is_none()) {
                ignore.push("hwaddr");
            }
        }
        return normal_property_string(&parts.join(","), &ignore);
    }
    let default_key = match key {
        "agent" => Some("enabled"),
        "rootfs" => Some("volume"),
        _ if key.starts_with("mp") => Some("volume"),
        _ => None,
    };
    if key.starts_with("dev") {
        let one = Current::parse(&format!("{key}: {value}\n"));
        return one.devices.into_values().next().unwrap_or_default();
    }
    match key {
        "nameserver" => value.split_whitespace().collect::<Vec<_>>().join(" "),
        "startup" | "features" | "ipconfig0" | "agent" | "rootfs" => {
            normal_property_string(&unkeyed(value, default_key), &[])
        }
        _ if default_key.is_some() => normal_property_string(&unkeyed(value, default_key), &[]),
        _ => value.trim().to_string(),
    }
}

/// `enabled=1` as `1`: the default key's value written without its name, as
/// Proxmox prints it.
fn unkeyed(value: &str, default_key: Option<&str>) -> String {
    let Some(k) = default_key else {
        return value.to_string();
    };
    let prefix = format!("{k}=");
    value
        .split(',')
        .map(|p| p.strip_prefix(&prefix).unwrap_or(p))
        .collect::<Vec<_>>()
        .join(",")
}

/// An option as the guest has it now, normal; a boolean Proxmox defaults to off
/// (`onboot`) reads `0` when absent.
fn live_value(g: &Guest, config: &Config, key: &str) -> Option<String> {
    match config.get(key) {
        Some(v) => Some(normal(g, key, v)),
        None if key == "onboot" => Some("0".into()),
        None => None,
    }
}

/// Each option of `set` (the `pct set`/`qm set` configure would run) as a
/// setting; its `--delete` list as settings the definition makes go.
fn set_settings(g: &Guest, set: &Cmd, config: &Config) -> Vec<Setting> {
    let mut out = Vec::new();
    for (key, value) in options(set) {
        if key == "delete" {
            for k in value.split(',') {
                let live = config.get(k).unwrap_or_default();
                out.push(Setting::new(
                    field_of(g.kind, k, live),
                    k,
                    live_value(g, config, k),
                    None,
                ));
            }
            continue;
        }
        out.push(Setting::new(
            field_of(g.kind, key, value),
            key,
            live_value(g, config, key),
            Some(normal(g, key, value)),
        ));
    }
    out
}

/// Options configure leaves as they are because they are already right (a mount
/// at its path, a device at its index, a VM's `net0` with the right firewall
/// flag): matching settings, so the table lists them.
fn left_alone(g: &Guest, config: &Config, out: &mut Vec<Setting>, keep: impl Fn(&str) -> bool) {
    for (k, v) in &config.options {
        if keep(k) && !out.iter().any(|s| s.name == *k) {
            let value = normal(g, k, v);
            out.push(Setting::new(
                field_of(g.kind, k, v),
                k,
                Some(value.clone()),
                Some(value),
            ));
        }
    }
}

fn ct_settings(g: &Guest, config: &Config, current: &Current) -> Vec<Setting> {
    let cmds = commands::ct_configure(g, current);
    let mut out = set_settings(g, &cmds[0], config);
    let indexed = |k: &str, p: &str| {
        k.strip_prefix(p)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    left_alone(g, config, &mut out, |k| {
        indexed(k, "mp") || indexed(k, "dev")
    });
    // The root disk only grows: one larger than defined is what configure leaves.
    if let Some(want) = g.settings.disk_gb {
        let size = config
            .get("rootfs")
            .and_then(|r| r.split(',').find_map(|p| p.strip_prefix("size=")))
            .map(str::to_string);
        let grow = cmds
            .iter()
            .find(|c| c.argv.get(1).map(String::as_str) == Some("resize"))
            .map(|_| format!("{want}G"));
        let want = grow.or_else(|| size.clone());
        out.push(Setting::new("storage_size_gb", "rootfs size", size, want));
    }
    out.extend(raw_settings(g, config));
    out
}

/// The raw `lxc.*` lines by key, values in order (`lxc.idmap` from `id_maps`, the
/// rest from `lxc_options`): the main section holds exactly the defined ones.
fn raw_settings(g: &Guest, config: &Config) -> Vec<Setting> {
    let wanted: Vec<(String, String)> = commands::guest_raw_lines(g)
        .iter()
        .filter_map(|l| raw_pair(l))
        .collect();
    let mut keys: Vec<&str> = Vec::new();
    for (k, _) in wanted.iter().chain(&config.raw) {
        if !keys.contains(&k.as_str()) {
            keys.push(k);
        }
    }
    let joined = |list: &[(String, String)], key: &str| {
        let values: Vec<&str> = list
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect();
        (!values.is_empty()).then(|| values.join("; "))
    };
    keys.into_iter()
        .map(|k| {
            let field = if k == "lxc.idmap" {
                "id_maps"
            } else {
                "lxc_options"
            };
            Setting::new(field, k, joined(&config.raw, k), joined(&wanted, k))
        })
        .collect()
}

fn vm_settings(g: &Guest, config: &Config, current: &Current) -> Vec<Setting> {
    let cmds = commands::vm_configure(g, current);
    let mut out = set_settings(g, &cmds[0], config);
    left_alone(g, config, &mut out, |k| k == "net0");
    out
}

/// A setting whose option has a pending change shows it beside the current
/// value: the guest changes at its next start.
fn with_pending(g: &Guest, s: &mut Setting, config: &Config, pending: &Pending) {
    let Some(new) = pending.values.get(&s.name) else {
        return;
    };
    let new = new.as_deref().map(|v| normal(g, &s.name, v));
    let now = config.get(&s.name).map(|v| normal(g, &s.name, v));
    if new == now {
        return;
    }
    s.live = Some(format!(
        "{} (pending: {})",
        s.live_text(),
        new.as_deref().unwrap_or("delete")
    ));
}

#[cfg(test)]
#[path = "observe_tests.rs"]
mod tests;
