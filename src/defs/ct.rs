//! The container reader: `phoenix_lxc_configs.json`, its root globals and every
//! container's fields, checked and typed (`id_maps` and the map as a whole by
//! `idmap`, the interfaces by `net`, the fields whose meaning changed over the
//! shell tool's eras by `eras`).

use std::borrow::Cow;

use rayon::prelude::*;
use serde_json::{Map, Value};

use super::diag::Diagnostics;
use super::guest;
use super::idmap;
use super::model::{Definitions, Guest, GuestKind, KeyTexts};
use super::parse::Parsed;
use super::read::{self, At, Fields, Reader, join, quote};
use super::settings::{Apparmor, BindMount, Volume};
use super::written::Written;
use super::{eras, net, values};

pub(crate) fn read_lxc(
    defs: &mut Definitions,
    root: Value,
    diags: &mut Diagnostics,
    texts: KeyTexts,
) {
    let Value::Object(mut root) = root else {
        return;
    };
    let file = defs.lxc_file.clone();
    let configs = root.remove("lxc_configs");
    set_globals(defs, root);
    let mut r = Reader { file: &file, diags };
    let configs = match configs {
        Some(Value::Object(m)) => m,
        Some(other) => {
            r.error(
                "lxc_configs",
                format!(
                    "expected an object of containers, found {}",
                    read::describe(&other)
                ),
                "write { \"900\": { ... } }",
            );
            return;
        }
        None => {
            r.error(
                "lxc_configs",
                "missing",
                "add \"lxc_configs\": { \"<CTID>\": { ... } } with your containers",
            );
            return;
        }
    };
    let entries: Vec<(String, Value)> = configs.into_iter().collect();
    let read = entries
        .into_par_iter()
        .map(|(key, value)| {
            let parsed = match value {
                // In name order, one per name, as the map holds them.
                Value::Object(m) => Ok(m.into_iter().map(|(k, v)| (Cow::Owned(k), v)).collect()),
                other => Err(other),
            };
            read_container(&file, &defs.host, &key, parsed, None, texts)
        })
        .collect();
    insert_containers(defs, read, diags);
}

/// The LXC file's root keys other than `lxc_configs`: every feature step's globals.
pub(crate) fn set_globals(defs: &mut Definitions, mut root: Map<String, Value>) {
    root.remove("$schema");
    defs.lxc_globals = root;
}

/// One container read: the guest, if its entry is one, and what was found wrong.
pub(crate) type ReadContainer = (Option<(u32, Guest)>, Diagnostics);

/// Read the entry `key` of `lxc_configs`, `parsed`, whose text is `written` (if
/// known), its key texts when `texts` says. Entries are independent of each other, so callers read them in parallel
/// and [`insert_containers`] them in file order.
pub(crate) fn read_container(
    file: &str,
    host: &Map<String, Value>,
    key: &str,
    parsed: Parsed<'_>,
    written: Option<Written>,
    texts: KeyTexts,
) -> ReadContainer {
    let mut diags = Diagnostics::default();
    let mut r = Reader {
        file,
        diags: &mut diags,
    };
    let path = join("lxc_configs", key);
    let id = match key.parse::<u32>() {
        Ok(id) if key.chars().all(|c| c.is_ascii_digit()) && !key.starts_with('0') => id,
        _ => {
            r.error(
                path,
                format!("`{}` is not a container ID", quote(key)),
                "use the CTID as the key: a number from 100 to 999999999, without sign or leading zeros",
            );
            return (None, diags);
        }
    };
    let obj = match parsed {
        Ok(obj) => obj,
        Err(value) => {
            r.error(
                path,
                format!("expected an object, found {}", read::describe(&value)),
                "each container is an object of fields",
            );
            return (None, diags);
        }
    };
    let fields = Fields::of(&obj);
    let entries = super::fields::entries(GuestKind::Ct, &fields);
    let mut guest = guest::read_common(&mut r, GuestKind::Ct, id, &path, &fields, &entries);
    read_ct_fields(&mut r, host, &fields, &mut guest);
    let guest = guest::finish(guest, &fields, &entries, written, texts);
    (Some((id, guest)), diags)
}

/// The containers read, in the order of their entries: diagnostics kept in that
/// order, guests added.
fn insert_containers(defs: &mut Definitions, read: Vec<ReadContainer>, diags: &mut Diagnostics) {
    defs.guests
        .extend(read.into_iter().filter_map(|(guest, found)| {
            diags.extend(found);
            guest
        }));
}

fn read_ct_fields(r: &mut Reader, host: &Map<String, Value>, raw: &Fields, g: &mut Guest) {
    // Lent out while the readers fill in `g`, and put back at the end.
    let path = std::mem::take(&mut g.path);
    let p = path.as_str();
    eras::os_template(r, host, raw, p, g);
    g.template = eras::template_model(r, raw, p);
    g.shape.unprivileged = r.bool(raw, p, "unprivileged").unwrap_or(false);
    g.shape.storage_pool = r.str(raw, p, "storage_pool");
    g.node = values::node_name(r, raw, p);
    let s = &mut g.settings;
    // pve-container `PVE::LXC::Config` `$confdesc`: `memory` minimum 16, `cores`
    // 1 to 8192.
    s.memory_mb = values::positive_within(r, raw, p, "memory_mb", (16, None), " MiB");
    s.cores = values::positive_within(r, raw, p, "cores", (1, Some(8192)), "");
    s.disk_gb = values::positive(r, raw, p, "storage_size_gb");
    s.swap_mb = r.uint(raw, p, "swap_mb");
    s.boot_order = r.uint(raw, p, "boot_order");
    s.boot_delay = r.uint(raw, p, "boot_delay");
    s.start_at_boot = r.bool(raw, p, "start_at_boot").unwrap_or(false);
    g.lifecycle_snapshots = r
        .bool(raw, p, "enable_lifecycle_snapshots")
        .unwrap_or(false);
    // Read in this order so that diagnostics come out as they always have.
    let manages_nesting = r.bool(raw, p, "apparmor_manages_nesting").unwrap_or(false);
    let profile = r.str(raw, p, "apparmor_profile");
    g.settings.apparmor = Apparmor {
        profile,
        manages_nesting,
    };
    g.bootstrap_ca_url = r.str(raw, p, "bootstrap_ca_url");
    g.settings.pct_features = eras::pct_features(r, raw, p);
    g.settings.lxc_options = r.str_list(raw, p, "lxc_options");
    g.shape.id_maps = idmap::read_id_maps(r, raw, p);
    let id_maps_given = Reader::get(raw, "id_maps")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    idmap::check_map(
        r,
        p,
        g.shape.unprivileged,
        id_maps_given,
        &g.settings.lxc_options,
    );
    net::read_ct_networks(r, raw, p, g);
    if let Some(gpu) = r.s(raw, p, "gpu_assignment") {
        g.devices.gpus = values::parse_gpus(r, At(p, "gpu_assignment"), gpu);
    }
    read_mounts(r, raw, p, g);
    g.firewall = guest::read_firewall(r, raw, p);
    g.path = path;
}

/// `mount_points`, `zfs_volumes` and `volumes`.
fn read_mounts(r: &mut Reader, raw: &Fields, p: &str, g: &mut Guest) {
    let map = g.id_map();
    for key in ["mount_points", "zfs_volumes", "volumes"] {
        let Some(items) = r.array(raw, p, key) else {
            continue;
        };
        for (i, item) in items.iter().enumerate() {
            let ip = format!("{}[{i}]", join(p, key));
            let Value::Object(o) = item else {
                r.error(
                    ip,
                    format!("expected an object, found {}", read::describe(item)),
                    "see the reference for this list's fields",
                );
                continue;
            };
            let target = if key == "mount_points" {
                "container_path"
            } else {
                "mount_point"
            };
            let inside = match r.s(o, &ip, target) {
                Some(t) if t.starts_with('/') => Some(t.to_string()),
                Some(t) => {
                    r.error(
                        join(&ip, target),
                        format!("`{}` is not an absolute path", quote(t)),
                        "container paths start with `/`",
                    );
                    None
                }
                None if !o.contains_key(target) => {
                    r.error(
                        ip.clone(),
                        format!("missing `{target}`"),
                        "say where the volume appears inside the container",
                    );
                    None
                }
                None => None,
            };
            let owner = |k: &str| o.get(k).and_then(Value::as_u64);
            let name = o.get("name").and_then(Value::as_str).map(str::to_string);
            if key == "mount_points" {
                let host = r.s(o, &ip, "host_path");
                if let (Some(host_path), Some(container_path)) = (host, inside) {
                    let bind = BindMount {
                        host_path: host_path.to_string(),
                        container_path,
                        owner_uid: owner("owner_uid"),
                        owner_gid: owner("owner_gid"),
                    };
                    idmap::check_owner(r, &map, &ip, &bind);
                    g.mounts.binds.push(bind);
                }
            } else {
                let pool = r.str(o, &ip, "pool");
                let size = r.uint(o, &ip, "size_gb");
                // A volume the backend could not allocate is an error here, not a
                // volume silently left out at build time.
                for (k, missing) in [("pool", pool.is_none()), ("size_gb", size.is_none())] {
                    if missing && !o.contains_key(k) {
                        r.error(
                            ip.clone(),
                            format!("missing `{k}`"),
                            "a volume needs the storage to allocate it on (`pool`) and its `size_gb`",
                        );
                    }
                }
                if let (Some(pool), Some(size_gb), Some(mount_point)) = (pool, size, inside) {
                    g.mounts.volumes.push(Volume {
                        name,
                        pool,
                        size_gb,
                        mount_point,
                    });
                }
            }
        }
    }
}
