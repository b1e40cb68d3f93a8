//! The shape of a guest on Proxmox: what it was made as, which no `pct set`/`qm
//! set` changes. A mismatch means the guest is not the one defined (adoption is
//! refused; phoenix would replace it).
//!
//! A container: its `ostype`, which Proxmox sets at `pct create` from the OS
//! inside the template (below); `unprivileged`, read-only after creation
//! (pve-container `PVE::LXC::Config::update_pct_config`: "unable to modify
//! read-only option: 'unprivileged'"); the converted-template flag; the storage
//! of its root disk; and, where the volume name shows it, the template it is a
//! linked clone of. A VM: the template flag only (what else made it, the cloud
//! image, is not in its config).

use super::Config;
use crate::backend::pve::commands;
use crate::defs::{Definitions, Guest, GuestKind, TemplateModel};
use crate::live::Setting;

pub(super) fn shape(defs: &Definitions, g: &Guest, config: &Config) -> Vec<Setting> {
    let flag = |key: &str| {
        config
            .get(key)
            .map_or("0", |v| if v == "1" { "1" } else { "0" })
            .to_string()
    };
    let bit = |on: bool| if on { "1" } else { "0" }.to_string();
    let template = Setting::new(
        "is_template",
        "template",
        Some(flag("template")),
        Some(bit(g.template == TemplateModel::Converted)),
    );
    if g.kind == GuestKind::Vm {
        return vec![template];
    }
    let mut out = Vec::new();
    if let Some(want) = os_template(defs, g).and_then(ostype_of) {
        out.push(Setting::new(
            "template",
            "ostype",
            config.get("ostype").map(str::to_string),
            Some(want.to_string()),
        ));
    }
    out.push(Setting::new(
        "unprivileged",
        "unprivileged",
        Some(flag("unprivileged")),
        Some(bit(g.shape.unprivileged)),
    ));
    out.push(template);
    let rootfs = config.get("rootfs").unwrap_or_default();
    let volume = rootfs.split(',').next().unwrap_or_default();
    let volume = volume.strip_prefix("volume=").unwrap_or(volume);
    out.push(Setting::new(
        "storage_pool",
        "rootfs storage",
        volume.split_once(':').map(|(s, _)| s.to_string()),
        Some(commands::root_storage(defs, g)),
    ));
    if let Some(base) = linked_base(volume) {
        out.push(Setting::new(
            "clone_from_ctid",
            "linked clone of",
            Some(base.to_string()),
            linked_source(defs, g).map(|id| id.to_string()),
        ));
    }
    out
}

/// The OS template the container, or the first of its clone sources that was
/// made from one, was created from.
fn os_template<'a>(defs: &'a Definitions, g: &'a Guest) -> Option<&'a str> {
    let mut at = g;
    // A cycle of clones is a definitions error; stop at the guest count.
    for _ in 0..=defs.guests.len() {
        if at.clone_from.is_none() {
            return at.shape.os_template.as_deref();
        }
        at = defs.clone_source(at)?;
    }
    None
}

/// The `ostype` Proxmox gives a container made from `template`, from the
/// template's file name (`debian-12-standard_12.7-1_amd64.tar.zst` → `debian`).
///
/// Proxmox reads it from the archive: pve-container `PVE::API2::LXC` `create_vm`
/// extracts it and runs `PVE::LXC::Setup->new` ("detect OS") before writing the
/// config; `PVE::LXC::Setup` `$autodetect_type` takes `ID` of the container's
/// `/etc/os-release` (a plugin name, or one of `$plugin_alias`: `rocky` and
/// `almalinux` are `centos`, `opensuse-leap` is `opensuse`, `arch` is
/// `archlinux`), and the plugin sets it (`PVE::LXC::Setup::Debian`:
/// `$conf->{ostype} = "debian"`). Proxmox's templates are named after the same
/// distribution (pve-appliance `aplinfo`: `rockylinux-9-default_...`,
/// `almalinux-9-default_...`, `opensuse-15.6-default_...`); a name that tells
/// nothing gives `None`, and the shape then says nothing about the OS.
pub(crate) fn ostype_of(template: &str) -> Option<&'static str> {
    let file = template.rsplit(['/', ':']).next()?;
    let distro = file.split(['-', '_', '.']).next()?.to_ascii_lowercase();
    Some(match distro.as_str() {
        "alpine" => "alpine",
        "archlinux" | "arch" => "archlinux",
        "centos" | "rockylinux" | "rocky" | "almalinux" => "centos",
        "debian" => "debian",
        "devuan" => "devuan",
        "fedora" => "fedora",
        "gentoo" => "gentoo",
        "opensuse" | "sles" => "opensuse",
        "ubuntu" => "ubuntu",
        "nixos" => "nixos",
        "openeuler" => "openeuler",
        _ => return None,
    })
}

/// The template a container's root volume is a linked clone of, where the
/// volume name shows it. pve-storage names a linked clone after its base on
/// ZFS and RBD (`ZFSPoolPlugin`/`RBDPlugin` `clone_image`: `"$basename/$name"`,
/// `basevol-900-disk-0/subvol-101-disk-0`) and on directory storages
/// (`Plugin::clone_image`: `900/base-900-disk-0.raw/101/vm-101-disk-0.qcow2`),
/// not on LVM-thin (`LvmThinPlugin::clone_image` returns the new LV's own name),
/// whose linked clones therefore show no base. A template's own base volume
/// (`basevol-900-disk-0`, one part) is not a clone of anything.
pub(crate) fn linked_base(volume: &str) -> Option<u32> {
    let name = volume.split_once(':')?.1;
    let parts: Vec<&str> = name.split('/').collect();
    parts[..parts.len().saturating_sub(1)]
        .iter()
        .rev()
        .find_map(|p| {
            let rest = p
                .strip_prefix("basevol-")
                .or_else(|| p.strip_prefix("base-"))?;
            rest.split('-').next()?.parse().ok()
        })
}

/// The converted template `g` is defined as a linked clone of: its clone source,
/// when that is a converted template and nothing keeps the clone from being
/// linked (see [`commands::linked_clone_blocker`]).
fn linked_source(defs: &Definitions, g: &Guest) -> Option<u32> {
    let source = defs.clone_source(g)?;
    (source.template == TemplateModel::Converted
        && commands::linked_clone_blocker(defs, g, source).is_none())
    .then_some(source.id)
}
