//! Checks across guests and against the filesystem: references to guests that do
//! not exist, clone sources that are not templates, templates Proxmox cannot make,
//! two interfaces on one address, and scripts that are named but missing.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use super::diag::{Diagnostic, Diagnostics, Severity, did_you_mean};
use super::{Definitions, Guest, GuestKind};
use crate::fasthash::FastMap;

pub(crate) fn check_references(defs: &Definitions, diags: &mut Diagnostics) {
    // Only an unknown reference needs the known IDs as text, for its hint.
    let ids = std::cell::OnceCell::new();
    let unknown = |guest: &Guest, path: &str, id: u32, what: &str| {
        let text = id.to_string();
        let ids: &Vec<String> =
            ids.get_or_init(|| defs.guests.keys().map(u32::to_string).collect());
        let hint = did_you_mean(&text, ids.iter().map(String::as_str)).map_or_else(
            || format!("define guest {id}, or remove it from {what}"),
            |s| format!("did you mean `{s}`? otherwise define guest {id}"),
        );
        Diagnostic::error(&guest.file, path, format!("unknown guest `{id}`")).help(hint)
    };
    for g in defs.guests.values() {
        if let Some((src, path)) = &g.clone_from {
            match defs.guests.get(src) {
                None => diags.push(unknown(g, path, *src, "the clone source")),
                Some(s) if s.kind != g.kind => diags.push(
                    Diagnostic::error(&g.file, path, format!("{} cannot be cloned from {}", g.label(), s.label()))
                        .help("a container clones a container and a VM clones a VM"),
                ),
                Some(s) if g.kind == GuestKind::Ct && !s.template.is_template() && *src != g.id => diags.push(
                    Diagnostic::error(&g.file, path, format!("clone source {} is not a template", s.label()))
                        .help(format!("give {} ({}) a \"template_snapshot_name\" (its clones start from that snapshot) or \"is_template\": true (it is converted with `pct template`)", s.label(), s.path)),
                ),
                Some(_) => {}
            }
        }
        for &(dep, i) in &g.dependencies {
            if !defs.guests.contains_key(&dep) {
                diags.push(unknown(g, &g.dependency_path(i), dep, "`dependencies`"));
            }
        }
    }
}

/// Two interfaces on one static address or one MAC, in two guests or in one
/// (`net0` and a container's `net1`).
pub(crate) fn check_duplicates(defs: &Definitions, diags: &mut Diagnostics) {
    let n = defs.guests.len();
    // By the address's bits, in tables of the fast hasher: two lookups a guest.
    let mut by_ip: FastMap<std::net::Ipv4Addr, (&Guest, &str)> =
        FastMap::with_capacity_and_hasher(n, BuildHasherDefault::default());
    let mut by_mac: FastMap<u64, (&Guest, &str)> =
        FastMap::with_capacity_and_hasher(n, BuildHasherDefault::default());
    for g in defs.guests.values() {
        let net0 = std::iter::once(("network_config", &g.net));
        let net1 = g.net1.as_deref().map(|n| ("secondary_network_config", n));
        for (iface, net) in net0.chain(net1) {
            if let Some(ip) = net.static_address() {
                if let Some(first) = by_ip.get(&ip) {
                    diags.push(
                        Diagnostic::error(
                            &g.file,
                            format!("{}.{iface}.ip", g.path),
                            format!("address {ip} is also used by {}", user(*first, g)),
                        )
                        .help("give each interface its own address"),
                    );
                } else {
                    by_ip.insert(ip, (g, iface));
                }
            }
            if let Some(bits) = net.mac_bits() {
                if let Some(first) = by_mac.get(&bits) {
                    let mac = net.mac_key().unwrap_or_default();
                    diags.push(
                        Diagnostic::error(
                            &g.file,
                            format!("{}.{}", g.path, mac_field(g, iface)),
                            format!("MAC {mac} is also used by {}", user(*first, g)),
                        )
                        .help("give each interface its own MAC address"),
                    );
                } else {
                    by_mac.insert(bits, (g, iface));
                }
            }
        }
    }
}

/// Who has an address already: `ct:900`, `ct:101's secondary_network_config`, or
/// `its network_config` when that is the guest itself.
fn user(first: (&Guest, &str), of: &Guest) -> String {
    match first {
        (g, iface) if g.id == of.id => format!("its {iface}"),
        (g, "network_config") => g.label(),
        (g, iface) => format!("{}'s {iface}", g.label()),
    }
}

/// Where an interface's MAC is written: its `hwaddr`, else (for `net0`) the
/// container's `mac_address`.
fn mac_field(g: &Guest, iface: &str) -> String {
    let has_hwaddr = g
        .definition()
        .get(iface)
        .and_then(|n| n.get("hwaddr"))
        .is_some_and(serde_json::Value::is_string);
    if has_hwaddr || iface != "network_config" {
        format!("{iface}.hwaddr")
    } else {
        "mac_address".into()
    }
}

/// Every script the definitions name must exist. `severity` is an error for
/// `validate`, `plan` and `build`, a warning for `graph` (which can draw JSON-only trees).
pub fn check_scripts(defs: &Definitions, severity: Severity) -> Diagnostics {
    let mut diags = Diagnostics::default();
    let mut push = |file: &str, path: String, script: &str, help: String| {
        let shown = super::read::quote(script);
        let help = help.replace(script, &shown);
        let mut d = Diagnostic::error(file, path, format!("script `{shown}` not found")).help(help);
        d.severity = severity;
        diags.push(d);
    };
    // 10,000 guests name a handful of scripts: stat each once.
    let mut exists: HashMap<String, bool> = HashMap::new();
    let mut is_file = |rel: &str| -> bool {
        if let Some(b) = exists.get(rel) {
            return *b;
        }
        let b = defs.path_of(rel).is_file();
        exists.insert(rel.to_string(), b);
        b
    };
    // Features found, by kind and name: most guests name the same few, and the
    // path of each need not be made again.
    let mut found: crate::fasthash::FastSet<(super::GuestKind, &str)> =
        crate::fasthash::FastSet::default();
    for g in defs.guests.values() {
        for (i, f) in g.features.iter().enumerate() {
            // Names that are not plain were reported already, and must not become paths.
            if found.contains(&(g.kind, f.as_str()))
                || !super::layout::is_plain_file_name(f)
                || f.contains('.')
            {
                continue;
            }
            let rel = defs.feature_script(g.kind, f);
            if is_file(&rel) {
                found.insert((g.kind, f));
            } else {
                let dir = rel.rsplit_once('/').map_or("", |(d, _)| d).to_string();
                let existing = list_names(defs, &dir);
                let hint = did_you_mean(f, existing.iter().map(String::as_str)).map_or_else(
                    || format!("write the feature script at {rel}"),
                    |s| format!("did you mean `{s}`? otherwise write {rel}"),
                );
                push(&g.file, format!("{}.features[{i}]", g.path), &rel, hint);
            }
        }
        if let Some(app) = g
            .application_script
            .as_ref()
            .filter(|a| super::layout::is_plain_file_name(a))
        {
            let rel = defs.layout.app(app);
            if !is_file(&rel) {
                push(
                    &g.file,
                    format!("{}.application_script", g.path),
                    &rel,
                    format!("write {rel} or remove `application_script`"),
                );
            }
        }
        for (i, h) in g.health_checks.iter().enumerate() {
            if !super::layout::is_plain_file_name(&h.script) {
                continue;
            }
            let rel = defs.layout.health(&h.script);
            if !is_file(&rel) {
                push(
                    &g.file,
                    format!("{}.health_checks[{i}].script", g.path),
                    &rel,
                    format!("write {rel} or remove this check"),
                );
            }
        }
    }
    for spec in &defs.host_steps {
        let Some(rel) = defs.host_script(spec) else {
            continue;
        };
        if !defs.path_of(&rel).is_file() {
            let section = spec.sections.first().copied().unwrap_or(spec.name);
            push(
                &defs.hypervisor_file,
                section.to_string(),
                &rel,
                format!(
                    "write {rel} for host step `{}` ({})",
                    spec.name, spec.summary
                ),
            );
        }
    }
    diags
}

/// Control characters in every value that reaches a command line (see
/// [`super::values::no_control_characters`]): each guest's fields that phoenix
/// interprets and `bootstrap_ca_url` (a feature script's argument), and the
/// hypervisor file's known sections, which host steps turn into commands. Fields
/// phoenix does not interpret reach the application script in a JSON file only, so
/// a multi-line value there is fine; so are the LXC file's root globals.
pub(crate) fn check_control_characters(defs: &Definitions, diags: &mut Diagnostics) {
    let mut r = super::read::Reader {
        file: &defs.hypervisor_file,
        diags,
    };
    for (section, value) in &defs.host {
        if super::fields::HOST_KNOWN.contains(&section.as_str()) {
            super::values::no_control_characters(&mut r, section, value);
        }
    }
    // Found while each guest was read; the rare guest with one is read again here.
    for g in defs.guests.values().filter(|g| g.control_characters) {
        let mut r = super::read::Reader {
            file: &g.file,
            diags: r.diags,
        };
        for (field, value) in &g.definition() {
            if super::fields::reaches_commands(g.kind, field)
                && super::values::has_control_character(value)
            {
                super::values::no_control_characters(&mut r, &format!("{}.{field}", g.path), value);
            }
        }
    }
}

/// A clone does not carry its source's raw `lxc_options` over: phoenix writes
/// exactly a container's own list into its config. Say so where a source has lines
/// the clone does not list, which the shell tool's clones kept by accident.
pub(crate) fn check_inherited_raw_lines(defs: &Definitions, diags: &mut Diagnostics) {
    let options = |g: &Guest| -> Vec<String> {
        g.settings
            .lxc_options
            .iter()
            .map(|o| o.trim().to_string())
            .collect()
    };
    for g in defs.guests.values().filter(|g| g.kind == GuestKind::Ct) {
        let Some(src) = defs.clone_source(g) else {
            continue;
        };
        let own = options(g);
        let missing: Vec<String> = options(src)
            .into_iter()
            .filter(|o| !own.contains(o))
            .collect();
        if missing.is_empty() {
            continue;
        }
        let list = missing
            .iter()
            .map(|o| format!("`{}`", super::read::quote(o)))
            .collect::<Vec<_>>()
            .join(", ");
        diags.push(
            Diagnostic::warning(
                &g.file,
                format!("{}.lxc_options", g.path),
                format!(
                    "not in this container's config: {list}, which its clone source ct:{} has",
                    src.id
                ),
            )
            .help("raw lines are not inherited from the clone source; add them to lxc_options if this container needs them"),
        );
    }
}

/// Feature names present in a script directory, for "did you mean".
fn list_names(defs: &Definitions, dir: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(defs.path_of(dir)) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            e.file_name().to_str().map(|n| {
                n.trim_end_matches(".sh")
                    .trim_start_matches("phoenix_hypervisor_feature_install_")
                    .trim_start_matches("feature_install_")
                    .to_string()
            })
        })
        .collect()
}

/// A snapshot template Proxmox cannot snapshot (a bind mount, a directory
/// storage) can never give its clones their snapshot: an error where a guest
/// clones it. Where none does, the name is all there is to the template (the
/// November 2025 files name `final-form`, the lifecycle snapshot, on such
/// guests): the guest is built as a plain container, without the snapshot Proxmox
/// would refuse, and a warning says so.
///
/// Only read here: the guests to build as plain containers are returned, and the
/// caller makes them so ([`super::across::Across::apply`]), once every other check
/// has read the definitions.
pub(crate) fn check_template_snapshots(defs: &Definitions, diags: &mut Diagnostics) -> Vec<u32> {
    let mut plain = Vec::new();
    let rules = super::SnapshotRules::of(defs);
    for g in defs.guests.values() {
        let Some(snap) = g.template.snapshot_name() else {
            continue;
        };
        let Some(why) = rules.blocker(g) else {
            continue;
        };
        let clones: Vec<String> = defs
            .guests
            .values()
            .filter(|c| c.clone_from.as_ref().is_some_and(|(id, _)| *id == g.id) && c.id != g.id)
            .map(Guest::label)
            .collect();
        let path = format!("{}.template_snapshot_name", g.path);
        let message = format!(
            "Proxmox cannot take snapshot `{snap}` of {}: {why}",
            g.label()
        );
        if clones.is_empty() {
            diags.push(
                Diagnostic::warning(&g.file, path, format!("{message}; nothing clones {}, so it is built as a plain container, without that snapshot", g.label()))
                    .help("to make it a template, move the bind mount to its clones, or the container to ZFS or LVM-thin storage"),
            );
            plain.push(g.id);
        } else {
            diags.push(
                Diagnostic::error(&g.file, path, format!("{message}, and {} clone{} it from that snapshot", clones.join(", "), if clones.len() == 1 { "s" } else { "" }))
                    .help("move the bind mount to the clones, or the container to ZFS or LVM-thin storage"),
            );
        }
    }
    plain
}

/// A converted template Proxmox cannot convert (a bind mount) fails at the end of
/// its build, after every feature and the application ran: an error now.
pub(crate) fn check_template_conversions(defs: &Definitions, diags: &mut Diagnostics) {
    for g in defs.guests.values() {
        if g.template != super::TemplateModel::Converted {
            continue;
        }
        let Some(why) = super::template_blocker(g) else {
            continue;
        };
        diags.push(
            Diagnostic::error(
                &g.file,
                format!("{}.is_template", g.path),
                format!("Proxmox cannot convert {} into a template: {why}", g.label()),
            )
            .help("move the bind mount to the clones that need it (a template's clones get their own mount points)"),
        );
    }
}

/// Enabling a guest's firewall without `policy_in` drops every inbound packet no
/// rule accepts (pve-firewall's guest default is `policy_in` DROP): traffic the
/// shell tool's guests received may stop. Name each such guest.
pub(crate) fn check_firewall_policies(defs: &Definitions, diags: &mut Diagnostics) {
    for g in defs.guests.values() {
        let fw = &g.firewall;
        if !fw.enabled || fw.policy_in.is_some() {
            continue;
        }
        let accepted = fw
            .rules
            .iter()
            .filter(|r| r.direction == super::settings::Direction::In)
            .filter(|r| r.action == super::settings::RuleAction::Accept)
            .count();
        diags.push(
            Diagnostic::warning(
                &g.file,
                format!("{}.firewall", g.path),
                format!(
                    "{}'s firewall drops inbound traffic that none of its {accepted} inbound ACCEPT rule{} matches (Proxmox's default policy_in is DROP)",
                    g.label(),
                    if accepted == 1 { "" } else { "s" }
                ),
            )
            .help("add an `in` ACCEPT rule for every service it offers, or set \"policy_in\": \"ACCEPT\" (or \"DROP\" to say it is meant)"),
        );
    }
}

/// A clone starts from its source's disk, and Proxmox never shrinks a disk
/// (pve-container and qemu-server `resize_vm`: "unable to shrink disk size",
/// "shrinking disks is not supported"): a clone defined smaller than its source
/// gets the source's size. Say so, naming both sizes.
pub(crate) fn check_clone_disk_sizes(defs: &Definitions, diags: &mut Diagnostics) {
    for g in defs.guests.values() {
        let Some(src) = defs.clone_source(g) else {
            continue;
        };
        let (Some(want), Some(has)) = (g.settings.disk_gb, src.settings.disk_gb) else {
            continue;
        };
        if want >= has {
            continue;
        }
        let field = if g.kind == GuestKind::Ct {
            "storage_size_gb"
        } else {
            "disk_size_gb"
        };
        diags.push(
            Diagnostic::warning(
                &g.file,
                format!("{}.{field}", g.path),
                format!(
                    "{} asks for {want} GB but is cloned from {}, whose disk is {has} GB; Proxmox cannot shrink a disk, so it keeps {has} GB",
                    g.label(),
                    src.label()
                ),
            )
            .help(format!("set {field} to {has} or more (or make the source's disk smaller)")),
        );
    }
}
