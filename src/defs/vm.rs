//! The VM reader: `phoenix_vm_configs.json`, its `vm_defaults` and every VM's
//! fields, checked and typed, with the defaults resolved into each VM: cores, memory,
//! a template's disk size, the storage, the bridge and the Ubuntu release.

use serde_json::{Map, Value};

use super::diag::Diagnostics;
use super::guest::{self, scalar_text};
use super::model::{Definitions, Guest, GuestKind, KeyTexts};
use super::net;
use super::read::{self, At, Fields, Reader, join};
use super::settings::{CloudImage, NfsMount, TemplateModel};
use super::values;

pub(crate) fn read_vms(
    defs: &mut Definitions,
    root: Value,
    diags: &mut Diagnostics,
    texts: KeyTexts,
) {
    let Value::Object(root) = root else { return };
    let file = defs.vm_file.clone();
    let mut r = Reader { file: &file, diags };
    if let Some(vd) = r.object(&root, "", "vm_defaults") {
        // Its storage, bridge and release go into `qm` commands and URLs.
        for (k, v) in vd {
            values::no_control_characters(&mut r, &join("vm_defaults", k), v);
        }
        for (k, v) in vd {
            defs.vm_defaults
                .entry(k.clone())
                .or_insert_with(|| v.clone());
        }
    }
    let Some(vms) = r.array(&root, "", "vms") else {
        return;
    };
    for (i, value) in vms.iter().enumerate() {
        let path = format!("vms[{i}]");
        let Value::Object(obj) = value else {
            r.error(
                path,
                format!("expected an object, found {}", read::describe(value)),
                "each VM is an object with at least vmid and name",
            );
            continue;
        };
        let Some(id) = r.id(obj, &path, "vmid") else {
            if Reader::get(obj, "vmid").is_none() {
                r.error(
                    path,
                    "missing `vmid`",
                    "add \"vmid\": <number of 100 or more>",
                );
            }
            continue;
        };
        let obj = &Fields::new(obj);
        let entries = super::fields::entries(GuestKind::Vm, obj);
        let mut guest = guest::read_common(&mut r, GuestKind::Vm, id, &path, obj, &entries);
        read_vm_fields(&mut r, obj, &defs.vm_defaults, &mut guest);
        let guest = guest::finish(guest, obj, &entries, None, texts);
        if let Some(other) = defs.guests.get(&id) {
            let help = if other.kind == GuestKind::Vm {
                format!(
                    "two VMs cannot share an ID: give this one another vmid (the first is {})",
                    other.path
                )
            } else {
                "containers and VMs share one ID space on Proxmox: give one of them another ID"
                    .to_string()
            };
            r.error(
                join(&path, "vmid"),
                format!("ID {id} is used by both {} and this VM", other.label()),
                help,
            );
            continue;
        }
        defs.guests.insert(id, guest);
    }
}

fn read_vm_fields(r: &mut Reader, raw: &Fields, defaults: &Map<String, Value>, g: &mut Guest) {
    let p = g.path.clone();
    let p = p.as_str();
    let is_template = r.bool(raw, p, "is_template").unwrap_or(false);
    if is_template {
        g.template = TemplateModel::Converted;
    }
    let image = r.s(raw, p, "template_image");
    let template = r.s(raw, p, "template");
    if is_template && image.is_none() && template.is_none() {
        r.error(
            p,
            "a template VM needs `template_image`",
            "name the cloud image file, e.g. \"noble-server-cloudimg-amd64.img\"",
        );
    }
    // The name becomes a path on the host: a file name, nothing else.
    if let Some(img) = image
        && (img.is_empty() || img.contains('/') || img.starts_with('.'))
    {
        r.error(
            join(p, "template_image"),
            format!("`{}` is not a file name", read::quote(img)),
            "write the image's file name only, e.g. \"noble-server-cloudimg-amd64.img\"; where to download it from goes in template_image_url",
        );
    }
    if let Some(url) = r.s(raw, p, "template_image_url")
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        r.error(
            join(p, "template_image_url"),
            format!("`{}` is not an http(s) URL", read::quote(url)),
            "write the full download address of the cloud image, e.g. \"https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2\"",
        );
    }
    if let Some(sum) = r.s(raw, p, "template_image_sha256")
        && !(sum.len() == 64 && sum.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        r.error(
            join(p, "template_image_sha256"),
            format!("`{}` is not a SHA-256 checksum", read::quote(sum)),
            "write the image's 64 hex digit SHA-256 (from the distribution's SHA256SUMS), or remove the field",
        );
    }
    // Checked above: read again without a second diagnostic.
    let url = raw.get("template_image_url").and_then(Value::as_str);
    let sha256 = raw.get("template_image_sha256").and_then(Value::as_str);
    let release = defaults.get("ubuntu_release").and_then(scalar_text);
    g.shape.image = image.map(|file| {
        Box::new(CloudImage {
            file: file.to_string(),
            url: url.map(str::to_string).or_else(|| {
                release
                    .as_ref()
                    .map(|rel| format!("https://cloud-images.ubuntu.com/{rel}/current/{file}"))
            }),
            sha256: sha256.map(str::to_ascii_lowercase),
        })
    });
    if is_template {
        g.shape.ubuntu_release = release;
    }
    if !is_template && g.clone_from.is_none() && image.is_none() {
        r.error(p, "neither `clone_from_vmid` nor `template_image` is set", "clone the VM from a template VM, or make it a template with is_template and template_image");
    }
    // A setting the VM lacks comes from `vm_defaults`; one it has but got wrong is
    // diagnosed above and stays absent.
    let own_or_default = |own: Option<u64>, key: &str| {
        if Reader::get(raw, key).is_some() {
            own
        } else {
            defaults.get(key).and_then(whole_number)
        }
    };
    // qemu-server `PVE::QemuServer::Memory`: `memory`'s `current` minimum 16.
    let memory = values::positive_within(r, raw, p, "memory_mb", (16, None), " MiB");
    g.settings.memory_mb = own_or_default(memory, "memory_mb");
    let cores = values::positive(r, raw, p, "cores");
    g.settings.cores = own_or_default(cores, "cores");
    // A cloud image's own disk is a few GiB: a template gets the default size.
    let disk = values::positive(r, raw, p, "disk_size_gb");
    g.settings.disk_gb = if Reader::get(raw, "disk_size_gb").is_some() || !is_template {
        disk
    } else {
        defaults.get("disk_size_gb").and_then(whole_number)
    };
    g.settings.boot_order = r.uint(raw, p, "boot_order");
    g.settings.boot_delay = r.uint(raw, p, "boot_delay");
    g.settings.start_at_boot = r.bool(raw, p, "start_at_boot").unwrap_or(false);
    g.shape.storage_pool = defaults.get("storage_pool").and_then(scalar_text);
    g.node = values::node_name(r, raw, p);
    g.net.bridge = defaults.get("network_bridge").and_then(scalar_text);
    // Not an interpreted VM field, but every feature script gets it.
    g.bootstrap_ca_url = raw
        .get("bootstrap_ca_url")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(net) = r.object(raw, p, "network_config") {
        let np = join(p, "network_config");
        let nameservers = r.s(net, &np, "nameserver");
        g.net.nameservers = nameservers.map(net::name_list).unwrap_or_default();
        values::check_name_servers(r, At(&np, "nameserver"), &g.net.nameservers);
        if let Some(ip) = r.s(net, &np, "ip") {
            g.net.ip = values::check_ip(r, At(&np, "ip"), ip);
            if g.net.static_address().is_some() && !net.contains_key("gw") {
                r.error(
                    join(&np, "gw"),
                    "a static `ip` needs a gateway",
                    "add \"gw\": \"<gateway address>\", or use \"ip\": \"dhcp\"",
                );
            }
        }
        if let Some(gw) = r.s(net, &np, "gw") {
            g.net.gateway = values::check_plain_ip(r, At(&np, "gw"), gw);
        }
    }
    if let Some(uc) = r.object(raw, p, "user_config") {
        g.shape.ci_user = r.str(uc, &join(p, "user_config"), "username");
    }
    if let Some(items) = r.array(raw, p, "volumes") {
        for (i, item) in items.iter().enumerate() {
            let ip = format!("{}[{i}]", join(p, "volumes"));
            let Value::Object(o) = item else {
                r.error(ip, format!("expected an object, found {}", read::describe(item)), "write { \"type\": \"nfs\", \"path\": ..., \"mount_point\": ..., \"server\": ... }");
                continue;
            };
            let nfs = r.s(o, &ip, "type") == Some("nfs");
            let mut words = [None, None, None, None];
            for (k, word) in ["path", "mount_point", "server", "name"]
                .into_iter()
                .zip(&mut words)
            {
                *word = r.s(o, &ip, k);
                if let Some(v) = *word
                    && k != "name"
                {
                    // These become a line of the guest's /etc/fstab.
                    values::fstab_word(r, At(&ip, k), v, k != "server");
                }
            }
            if nfs {
                // An entry the backend could not mount is an error here, not a
                // volume silently left out at build time.
                for (k, word) in ["path", "mount_point", "server"].into_iter().zip(&words) {
                    if word.is_none() && !o.contains_key(k) {
                        r.error(
                            ip.clone(),
                            format!("an NFS volume needs `{k}`"),
                            "write { \"type\": \"nfs\", \"server\": ..., \"path\": ..., \"mount_point\": ... }",
                        );
                    }
                }
            }
            if let [Some(path), Some(mount_point), Some(server), name] = words
                && nfs
            {
                g.mounts.nfs.push(NfsMount {
                    name: name.map(str::to_string),
                    server: server.to_string(),
                    path: path.to_string(),
                    mount_point: mount_point.to_string(),
                });
            }
        }
    }
    g.firewall = guest::read_firewall(r, raw, p);
}

/// A whole number from `vm_defaults`, which the shell tool never checked: a number
/// or a string of digits.
fn whole_number(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}
