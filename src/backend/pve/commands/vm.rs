//! VM commands: the cloud image a template is made from (download, customised work
//! copy), `qm create` with the image imported, clones, disk growth, settings with
//! cloud-init, generalisation and conversion to a template.

use super::super::cmd::{Cmd, id};
use super::config::Current;
use crate::defs::{Guest, IpConfig};

/// Where a template's cloud image comes from: `template_image_url`, or Ubuntu's
/// cloud image site for `vm_defaults.ubuntu_release` (the shell tool's source).
pub fn image_url(g: &Guest) -> Option<String> {
    g.shape.image.as_ref()?.url.clone()
}

/// The image's file name (`template_image`), empty when there is none.
fn image_file(g: &Guest) -> &str {
    g.shape.image.as_ref().map_or("", |i| i.file.as_str())
}

/// The image as downloaded: `<dir>/<template_image>`.
pub fn image_path(g: &Guest, dir: &str) -> String {
    format!("{dir}/{}", image_file(g))
}

/// The copy of the image that is customised and imported for one VM; the
/// downloaded image stays as it came.
pub fn image_work_copy(g: &Guest, dir: &str) -> String {
    format!("{dir}/phoenix-{}-{}", g.id, image_file(g))
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

/// Grow the boot disk to its size ([`crate::defs::Settings::disk_gb`]: its own, a
/// template's default; clones start from their template's disk); never shrink
/// (Proxmox cannot).
pub fn vm_grow_disk(g: &Guest, current: &Current) -> Option<Cmd> {
    let want = g.settings.disk_gb?;
    current
        .scsi0_gb
        .is_none_or(|have| want as f64 > have)
        .then(|| Cmd::new(["qm", "resize", &id(g), "scsi0", &format!("{want}G")]))
}

/// A template VM from a cloud image: create, then import the image as the boot
/// disk (`import-from`: Proxmox names the new volume, whatever the storage type,
/// and a stray volume of an earlier attempt is never picked up), a cloud-init
/// drive, boot from the disk. (`qm template` comes at the end of the chain.)
pub fn vm_create_template(g: &Guest, image_path: &str, tags: &str) -> Vec<Cmd> {
    let storage = g.shape.storage_pool.as_deref().unwrap_or("local-lvm");
    let create = Cmd::new(["qm", "create", &id(g)])
        .opt("name", g.name.clone())
        .opt("memory", "2048")
        .opt("net0", format!("virtio,bridge={}", bridge(g)))
        .opt("serial0", "socket")
        .opt("agent", "1")
        .opt("scsihw", "virtio-scsi-pci")
        .opt_if("ciuser", g.shape.ci_user.clone())
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

/// The bridge of a new VM's `net0` (`vm_defaults.network_bridge`).
fn bridge(g: &Guest) -> &str {
    g.net.bridge.as_deref().unwrap_or("vmbr0")
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
pub fn vm_configure(g: &Guest, current: &Current) -> Vec<Cmd> {
    let s = &g.settings;
    let mut set = Cmd::new(["qm", "set", &id(g)])
        .opt("name", g.name.clone())
        .opt_num("cores", s.cores)
        .opt_num("memory", s.memory_mb)
        .flag("onboot", s.start_at_boot)
        .opt("agent", "1");
    if let Some(order) = s.boot_order {
        let delay = s.boot_delay.unwrap_or(0);
        set = set.opt("startup", format!("order={order},up={delay}"));
    }
    match g.net.ip {
        None => {}
        Some(IpConfig::Dhcp) => set = set.opt("ipconfig0", "ip=dhcp"),
        Some(ip) => {
            let gw = g.net.gateway.map(|gw| gw.to_string()).unwrap_or_default();
            set = set.opt("ipconfig0", format!("ip={ip},gw={gw}"));
        }
    }
    if !g.net.nameservers.is_empty() {
        set = set.opt("nameserver", g.net.nameservers.join(" "));
    }
    let firewall = g.firewall.enabled;
    match &current.net0 {
        Some(now) => {
            let want = vm_net0(now, firewall);
            if want != *now {
                set = set.opt("net0", want);
            }
        }
        // Unknown (a dry run): what a fresh clone would get.
        None if firewall => {
            set = set.opt("net0", format!("virtio,bridge={},firewall=1", bridge(g)));
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

/// Ask the guest agent whether it answers. `qm agent` is an alias of `qm guest cmd`
/// kept only by a "FIXME: remove with PVE 8.0" (qemu-server `PVE::CLI::qm`).
pub fn agent_ping(g: &Guest) -> Cmd {
    Cmd::new(["qm", "guest", "cmd", &id(g), "ping"])
}

pub fn vm_start(g: &Guest) -> Cmd {
    Cmd::new(["qm", "start", &id(g)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_is_pinged_by_its_real_command() {
        let g = Guest::empty(crate::defs::GuestKind::Vm, 1001, "f.json", "x");
        assert_eq!(agent_ping(&g).display(), "qm guest cmd 1001 ping");
    }

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
