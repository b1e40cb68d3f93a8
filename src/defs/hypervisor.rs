//! The hypervisor file's checks: unknown sections warned about, the sections host
//! steps interpret checked for shape and unsafe values, the configured host steps
//! selected, and its `vm_defaults` taken first.

use serde_json::Value;

use super::diag::{self, Diagnostics};
use super::model::Definitions;
use super::read::{self, At, Reader, join};
use super::{fields, host, values};

pub(crate) fn read_host(defs: &mut Definitions, diags: &mut Diagnostics) {
    let file = defs.hypervisor_file.clone();
    let mut r = Reader { file: &file, diags };
    for key in defs.host.keys() {
        if !fields::HOST_KNOWN.contains(&key.as_str()) {
            let hint = diag::did_you_mean(key, fields::HOST_KNOWN.iter().copied()).map_or_else(
                || "phoenix ignores it; remove it if it is a leftover".to_string(),
                |s| format!("did you mean `{s}`?"),
            );
            r.warn(key.clone(), format!("unknown section `{key}`"), hint);
        }
    }
    // Sections that host steps interpret must at least have the right shape.
    for (path, want_array) in [
        ("zfs.pools", true),
        ("zfs.datasets", true),
        ("nfs.exports", true),
        ("samba.shares", true),
        ("users", false),
        ("dns_server", false),
        ("nvidia_driver", false),
    ] {
        if let Some(v) = host::lookup(&defs.host, path) {
            let ok = if want_array {
                v.is_array()
            } else {
                v.is_object()
            };
            if !ok {
                let expected = if want_array { "an array" } else { "an object" };
                r.error(
                    path,
                    format!("expected {expected}, found {}", read::describe(v)),
                    "see the reference for this section's shape",
                );
            }
        }
    }
    // Exports become lines of /etc/exports.
    if let Some(exports) = host::lookup(&defs.host, "nfs.exports").and_then(Value::as_array) {
        for (i, e) in exports.iter().enumerate() {
            let ep = format!("nfs.exports[{i}]");
            match e.get("path").and_then(Value::as_str) {
                Some(path) => values::fstab_word(&mut r, At(&ep, "path"), path, true),
                None => r.error(
                    join(&ep, "path"),
                    "an export needs a `path`",
                    "write the directory to export, e.g. \"/tank/shared\"",
                ),
            }
            let clients = e.get("clients").and_then(Value::as_array);
            if clients.is_none_or(Vec::is_empty) {
                r.error(
                    join(&ep, "clients"),
                    "an export needs at least one client (without any, NFS exports it to everyone)",
                    "list the addresses or networks that may mount it, e.g. [\"10.0.0.0/24\"]",
                );
            }
            for (key, list) in [
                ("clients", clients),
                ("options", e.get("options").and_then(Value::as_array)),
            ] {
                for (j, v) in list.into_iter().flatten().enumerate() {
                    let vp = format!("{}[{j}]", join(&ep, key));
                    match v.as_str() {
                        Some(text)
                            if !text.is_empty()
                                && !text.contains(|c: char| {
                                    c.is_whitespace() || c.is_control() || "(),#".contains(c)
                                }) => {}
                        _ => r.error(
                            vp,
                            format!(
                                "`{}` cannot go into /etc/exports",
                                read::quote(
                                    &v.as_str().map_or_else(|| v.to_string(), str::to_string)
                                )
                            ),
                            if key == "clients" {
                                "write one address, network or host name, e.g. \"10.0.0.5\""
                            } else {
                                "write one option, e.g. \"rw\""
                            },
                        ),
                    }
                }
            }
        }
    }
    if let Some(v) = host::lookup(&defs.host, "nvidia_driver.install")
        && !v.is_boolean()
    {
        r.error(
            "nvidia_driver.install",
            format!("expected true or false, found {}", read::describe(v)),
            "write true or false without quotes",
        );
    }
    defs.host_steps = host::HOST_STEPS
        .iter()
        .filter(|s| s.is_present(&defs.host))
        .collect();
    if let Some(Value::Object(vd)) = defs.host.get("vm_defaults") {
        // The hypervisor file carries `ubuntu_release`; the VM file carries the rest.
        defs.vm_defaults.extend(vd.clone());
    }
}
