//! VM commands: the cloud image a template is made from (download, customised work
//! copy), `qm create` with the image imported, clones, disk growth, settings with
//! cloud-init, generalisation and conversion to a template.

use serde_json::Value;

use super::super::cmd::Cmd;
use super::config::Current;
use super::fields::{field, firewall_enabled, id, net, s};
use crate::defs::{Definitions, Guest};

/// Where a template's cloud image comes from: `template_image_url`, or Ubuntu's
/// cloud image site for `vm_defaults.ubuntu_release` (the shell tool's source).
pub fn image_url(g: &Guest, defs: &Definitions) -> Option<String> {
    if let Some(url) = field(g, "template_image_url") {
        return Some(url);
    }
    let image = field(g, "template_image")?;
    let release = defs.vm_defaults.get("ubuntu_release").and_then(s)?;
    Some(format!(
        "https://cloud-images.ubuntu.com/{release}/current/{image}"
    ))
}

/// The image as downloaded: `<dir>/<template_image>`.
pub fn image_path(g: &Guest, dir: &str) -> String {
    format!("{dir}/{}", field(g, "template_image").unwrap_or_default())
}

/// The copy of the image that is customised and imported for one VM; the
/// downloaded image stays as it came.
pub fn image_work_copy(g: &Guest, dir: &str) -> String {
    format!(
        "{dir}/phoenix-{}-{}",
        g.id,
        field(g, "template_image").unwrap_or_default()
    )
}

/// Download to a partial file; it is checked and renamed by the caller.
pub fn image_download(url: &str, partial: &str) -> Cmd {
    Cmd::new([
        "curl",
        "--fail",
        "--location",
        "--silent",
        "--show-error",
        "--retry",
        "3",
        "--output",
        partial,
        url,
    ])
}

/// Put the guest agent (its absence broke the shell tool's first boots) and the
/// NFS client into the work copy.
pub fn image_customise(g: &Guest, dir: &str) -> Vec<Cmd> {
    let image = image_path(g, dir);
    let work = image_work_copy(g, dir);
    vec![
        Cmd::new(["cp", "--reflink=auto", &image, &work]),
        Cmd::new([
            "virt-customize",
            "-a",
            &work,
            "--install",
            "qemu-guest-agent,nfs-common",
            "--run-command",
            "systemctl enable qemu-guest-agent",
        ]),
    ]
}

/// The VM's boot disk size in GiB: its `disk_size_gb`, for a template else
/// `vm_defaults.disk_size_gb` (a cloud image's own disk is a few GiB). Clones start
/// from their template's disk.
pub fn vm_disk_gb(g: &Guest, defs: &Definitions) -> Option<u64> {
    field(g, "disk_size_gb")
        .or_else(|| {
            g.is_template
                .then(|| defs.vm_defaults.get("disk_size_gb").and_then(s))
                .flatten()
        })
        .and_then(|v| v.parse().ok())
}

/// Grow the boot disk to its size; never shrink (Proxmox cannot).
pub fn vm_grow_disk(g: &Guest, defs: &Definitions, current: &Current) -> Option<Cmd> {
    let want = vm_disk_gb(g, defs)?;
    current
        .scsi0_gb
        .is_none_or(|have| want as f64 > have)
        .then(|| Cmd::new(["qm", "resize", &id(g), "scsi0", &format!("{want}G")]))
}

/// A template VM from a cloud image: create, then import the image as the boot
/// disk (`import-from`: Proxmox names the new volume, whatever the storage type,
/// and a stray volume of an earlier attempt is never picked up), a cloud-init
/// drive, boot from the disk. (`qm template` comes at the end of the chain.)
pub fn vm_create_template(g: &Guest, defs: &Definitions, image_path: &str, tags: &str) -> Vec<Cmd> {
    let storage = defs
        .vm_defaults
        .get("storage_pool")
        .and_then(s)
        .unwrap_or_else(|| "local-lvm".into());
    let bridge = defs
        .vm_defaults
        .get("network_bridge")
        .and_then(s)
        .unwrap_or_else(|| "vmbr0".into());
    let user = g
        .raw
        .get("user_config")
        .and_then(|u| u.get("username"))
        .and_then(s);
    let create = Cmd::new(["qm", "create", &id(g)])
        .opt("name", g.name.clone())
        .opt("memory", "2048")
        .opt("net0", format!("virtio,bridge={bridge}"))
        .opt("serial0", "socket")
        .opt("agent", "1")
        .opt("scsihw", "virtio-scsi-pci")
        .opt_if("ciuser", user)
        .opt("ipconfig0", "ip=dhcp")
        .opt("tags", tags);
    vec![
        create,
        Cmd::new(["qm", "set", &id(g)])
            .opt("scsi0", format!("{storage}:0,import-from={image_path}"))
            .opt("boot", "order=scsi0")
            .opt("ide2", format!("{storage}:cloudinit")),
    ]
}

/// A full clone of a template VM.
pub fn vm_clone(g: &Guest, source: &Guest) -> Cmd {
    Cmd::new(["qm", "clone", &id(source), &id(g)])
        .opt("name", g.name.clone())
        .opt("full", "1")
}

/// `net0` with the firewall flag as the definition wants it; every other part
/// (the MAC address above all: cloud-init keys its instance on it) kept.
pub fn vm_net0(current: &str, firewall: bool) -> String {
    let mut parts: Vec<&str> = current
        .split(',')
        .filter(|p| !p.starts_with("firewall="))
        .collect();
    if firewall {
        parts.push("firewall=1");
    }
    parts.join(",")
}

/// Settings of a VM, cloud-init included, then `qm cloudinit update`. `current`
/// is its config now (`net0` is changed in place, never replaced).
pub fn vm_configure(g: &Guest, defs: &Definitions, current: &Current) -> Vec<Cmd> {
    let default = |k: &str| defs.vm_defaults.get(k).and_then(s);
    let mut set = Cmd::new(["qm", "set", &id(g)])
        .opt("name", g.name.clone())
        .opt_if("cores", field(g, "cores").or_else(|| default("cores")))
        .opt_if(
            "memory",
            field(g, "memory_mb").or_else(|| default("memory_mb")),
        )
        .opt(
            "onboot",
            if g.raw.get("start_at_boot").and_then(Value::as_bool) == Some(true) {
                "1"
            } else {
                "0"
            },
        )
        .opt("agent", "1");
    if let Some(order) = field(g, "boot_order") {
        let delay = field(g, "boot_delay").unwrap_or_else(|| "0".into());
        set = set.opt("startup", format!("order={order},up={delay}"));
    }
    match net(g, "ip").as_deref() {
        None => {}
        Some("dhcp") => set = set.opt("ipconfig0", "ip=dhcp"),
        Some(ip) => {
            set = set.opt(
                "ipconfig0",
                format!("ip={ip},gw={}", net(g, "gw").unwrap_or_default()),
            );
        }
    }
    set = set.opt_if("nameserver", net(g, "nameserver"));
    match &current.net0 {
        Some(now) => {
            let want = vm_net0(now, firewall_enabled(g));
            if want != *now {
                set = set.opt("net0", want);
            }
        }
        // Unknown (a dry run): what a fresh clone would get.
        None if firewall_enabled(g) => {
            let bridge = default("network_bridge").unwrap_or_else(|| "vmbr0".into());
            set = set.opt("net0", format!("virtio,bridge={bridge},firewall=1"));
        }
        None => {}
    }
    vec![set, Cmd::new(["qm", "cloudinit", "update", &id(g)])]
}

/// Make a booted template generic, through the guest agent: clones must get their
/// own machine ID and run cloud-init afresh. `cloud-init clean` can stop the agent,
/// so it comes last.
pub fn vm_generalise(g: &Guest) -> Vec<Cmd> {
    let exec = |argv: &[&str]| {
        let mut c = Cmd::new(["qm", "guest", "exec", &id(g), "--"]);
        c.argv.extend(argv.iter().map(|a| (*a).to_string()));
        c
    };
    vec![
        exec(&[
            "/bin/sh",
            "-c",
            "rm -rf /var/lib/cloud/instance /var/lib/cloud/instances && truncate -s 0 /etc/machine-id && rm -f /var/lib/dbus/machine-id",
        ]),
        exec(&["cloud-init", "clean", "--logs"]),
    ]
}

/// Shut the template down cleanly (stopped hard after three minutes), convert it.
pub fn vm_template(g: &Guest) -> Vec<Cmd> {
    vec![
        Cmd::new(["qm", "shutdown", &id(g)])
            .opt("timeout", "180")
            .opt("forceStop", "1"),
        Cmd::new(["qm", "template", &id(g)]),
    ]
}

pub fn vm_start(g: &Guest) -> Cmd {
    Cmd::new(["qm", "start", &id(g)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_net0_keeps_the_mac_and_only_flips_the_firewall() {
        let now = "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0";
        assert_eq!(
            vm_net0(now, true),
            "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,firewall=1"
        );
        assert_eq!(vm_net0(&vm_net0(now, true), true), vm_net0(now, true));
        assert_eq!(vm_net0(&vm_net0(now, true), false), now);
        let cur = Current::parse(
            "scsi0: local-lvm:vm-9-disk-0,size=2252M\nnet0: virtio=AA:BB:CC:DD:EE:FF,bridge=vmbr0\n",
        );
        assert!((cur.scsi0_gb.unwrap() - 2.2).abs() < 0.01);
        assert_eq!(
            cur.net0.as_deref(),
            Some("virtio=AA:BB:CC:DD:EE:FF,bridge=vmbr0")
        );
    }
}
