//! Loading the Phoenix JSON definitions into raw, typed guests.
//!
//! How it works: each JSON file is parsed into a `serde_json::Value` (so a syntax
//! error is reported with line and column and the other files are still read), then
//! every field phoenix interprets is read through [`read::Reader`], which records a
//! diagnostic for a wrong type and moves on. The whole JSON object of each guest is
//! kept in [`Guest::raw`]: fields phoenix does not interpret feed the application
//! script and the content keys. Cross-guest checks (references, duplicates, scripts)
//! live in [`checks`]; dependency cycles are found by the graph.

pub mod checks;
pub mod diag;
mod dupkeys;
pub mod fields;
pub mod host;
pub mod layout;
pub(crate) mod read;
mod values;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

pub use diag::{Diagnostic, Diagnostics, Severity};
pub use layout::Layout;

use host::HostStepSpec;
use read::{Reader, join, quote};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GuestKind {
    Ct,
    Vm,
}

impl GuestKind {
    pub fn prefix(self) -> &'static str {
        match self {
            GuestKind::Ct => "ct",
            GuestKind::Vm => "vm",
        }
    }
}

/// One health check of a guest: `health/<script> <args...>` run after the app script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub name: String,
    pub script: String,
    pub args: Vec<String>,
}

/// A container or VM as defined, with the fields phoenix interprets already typed.
#[derive(Debug, Clone)]
pub struct Guest {
    pub kind: GuestKind,
    pub id: u32,
    pub name: String,
    /// The definition file, relative to the definitions directory.
    pub file: String,
    /// JSON path of the guest's object in that file (`lxc_configs.950`, `vms[1]`).
    pub path: String,
    /// The whole JSON object, unknown fields included.
    pub raw: Map<String, Value>,
    /// Clone source and the JSON path that names it.
    pub clone_from: Option<(u32, String)>,
    pub dependencies: Vec<(u32, String)>,
    pub features: Vec<String>,
    pub application_script: Option<String>,
    pub health_checks: Vec<HealthCheck>,
    /// Snapshot a container takes of itself for its clones.
    pub template_snapshot: Option<String>,
    /// A template: a container with a template snapshot, or a VM with `is_template`.
    /// Templates may be replaced without `--allow-replace`.
    pub is_template: bool,
    pub gpus: Vec<u32>,
    pub storage_pool: Option<String>,
    pub extra_storages: Vec<String>,
    pub nfs_volumes: bool,
    pub address: Option<String>,
    pub mac: Option<String>,
}

impl Guest {
    pub fn label(&self) -> String {
        format!("{}:{}", self.kind.prefix(), self.id)
    }
}

/// Everything read from one definitions directory.
#[derive(Debug, Clone)]
pub struct Definitions {
    pub dir: PathBuf,
    pub layout: Layout,
    pub hypervisor_file: String,
    pub lxc_file: String,
    pub vm_file: String,
    /// The hypervisor file's top-level object.
    pub host: Map<String, Value>,
    /// Root keys of the LXC file other than `lxc_configs` (e.g. `nvidia_driver_version`).
    pub lxc_globals: Map<String, Value>,
    pub vm_defaults: Map<String, Value>,
    /// Guests by ID. Containers and VMs share one ID space.
    pub guests: BTreeMap<u32, Guest>,
    /// Host steps configured in the hypervisor file, in catalogue order.
    pub host_steps: Vec<&'static HostStepSpec>,
}

impl Definitions {
    pub fn guest(&self, id: u32) -> Option<&Guest> {
        self.guests.get(&id)
    }

    /// Absolute path of a script named relative to the definitions directory.
    pub fn path_of(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    pub fn feature_script(&self, kind: GuestKind, feature: &str) -> String {
        match kind {
            GuestKind::Ct => self.layout.lxc_feature(feature),
            GuestKind::Vm => self.layout.vm_feature(feature),
        }
    }

    /// The script of a host step; built-in steps have none.
    pub fn host_script(&self, spec: &HostStepSpec) -> Option<String> {
        (!spec.builtin).then(|| self.layout.host_step(spec.name, spec.legacy_script))
    }
}

/// Read a definitions directory. Always returns what could be read, with every
/// problem found on the way; callers decide whether errors stop them.
pub fn load(dir: &Path) -> (Definitions, Diagnostics) {
    let mut diags = Diagnostics::default();
    let layout = Layout::detect(dir);
    let mut defs = Definitions {
        dir: dir.to_path_buf(),
        layout,
        hypervisor_file: layout.json(layout::HYPERVISOR_FILE),
        lxc_file: layout.json(layout::LXC_FILE),
        vm_file: layout.json(layout::VM_FILE),
        host: Map::new(),
        lxc_globals: Map::new(),
        vm_defaults: Map::new(),
        guests: BTreeMap::new(),
        host_steps: Vec::new(),
    };
    if !dir.is_dir() {
        diags.push(
            Diagnostic::error(&dir.display().to_string(), "", "definitions directory not found")
                .help("pass --defs DIR or set PHOENIX_DEFS to the folder that holds phoenix_lxc_configs.json"),
        );
        return (defs, diags);
    }

    if let Some(Value::Object(host)) = read_json(dir, &defs.hypervisor_file, true, &mut diags) {
        defs.host = host;
    }
    read_host(&mut defs, &mut diags);
    if let Some(lxc) = read_json(dir, &defs.lxc_file, true, &mut diags) {
        read_lxc(&mut defs, lxc, &mut diags);
    }
    if let Some(vms) = read_json(dir, &defs.vm_file, false, &mut diags) {
        read_vms(&mut defs, vms, &mut diags);
    }
    checks::check_references(&defs, &mut diags);
    checks::check_duplicates(&defs, &mut diags);
    checks::check_inherited_raw_lines(&defs, &mut diags);
    (defs, diags)
}

fn read_json(dir: &Path, rel: &str, required: bool, diags: &mut Diagnostics) -> Option<Value> {
    let path = dir.join(rel);
    let text = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if required {
                diags.push(Diagnostic::error(rel, "", "file not found").help(format!(
                    "create `{rel}` in {} or point --defs at the right folder",
                    dir.display()
                )));
            }
            return None;
        }
        Err(e) => {
            diags.push(
                Diagnostic::error(rel, "", format!("cannot read: {e}"))
                    .help("check the file's permissions"),
            );
            return None;
        }
    };
    let text = text.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&text);
    // The duplicate-key pass reads the same bytes: run it beside the real parse.
    let (parsed, duplicates) = rayon::join(
        || serde_json::from_slice::<Value>(text),
        || dupkeys::duplicate_keys(text),
    );
    match parsed {
        Ok(v) if v.is_object() => {
            for path in duplicates {
                let key = path.rsplit(['.', '[']).next().unwrap_or(&path).to_string();
                diags.push(
                    Diagnostic::error(rel, path, format!("key `{}` appears twice in the same object", quote(&key)))
                        .help("JSON keeps only the last one, so the first would be silently lost: rename or merge them"),
                );
            }
            Some(v)
        }
        Ok(other) => {
            diags.push(
                Diagnostic::error(
                    rel,
                    "",
                    format!(
                        "expected a JSON object at the top, found {}",
                        read::describe(&other)
                    ),
                )
                .help("the file must hold one object: { ... }"),
            );
            None
        }
        Err(e) => {
            let msg = e.to_string();
            let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
            diags.push(
                Diagnostic::error(rel, format!("{}:{}", e.line(), e.column()), format!("malformed JSON: {msg}"))
                    .help("fix the syntax at that line and column (often a missing comma or quote just before it)"),
            );
            None
        }
    }
}

fn read_host(defs: &mut Definitions, diags: &mut Diagnostics) {
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
                Some(path) => values::fstab_word(&mut r, &join(&ep, "path"), path, true),
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

fn read_lxc(defs: &mut Definitions, root: Value, diags: &mut Diagnostics) {
    let Value::Object(mut root) = root else {
        return;
    };
    let file = defs.lxc_file.clone();
    let configs = root.remove("lxc_configs");
    root.remove("$schema");
    defs.lxc_globals = root;
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
    for (key, value) in configs {
        let path = join("lxc_configs", &key);
        let id = match key.parse::<u32>() {
            Ok(id) if key.chars().all(|c| c.is_ascii_digit()) && !key.starts_with('0') => id,
            _ => {
                r.error(
                    path,
                    format!("`{}` is not a container ID", quote(&key)),
                    "use the CTID as the key: a number from 100 to 999999999, without sign or leading zeros",
                );
                continue;
            }
        };
        let Value::Object(obj) = value else {
            r.error(
                path,
                format!("expected an object, found {}", read::describe(&value)),
                "each container is an object of fields",
            );
            continue;
        };
        let guest = read_guest(&mut r, GuestKind::Ct, id, &path, obj);
        defs.guests.insert(id, guest);
    }
}

fn read_vms(defs: &mut Definitions, root: Value, diags: &mut Diagnostics) {
    let Value::Object(root) = root else { return };
    let file = defs.vm_file.clone();
    let mut r = Reader { file: &file, diags };
    if let Some(vd) = r.object(&root, "", "vm_defaults") {
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
        let guest = read_guest(&mut r, GuestKind::Vm, id, &path, obj.clone());
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

fn read_guest(r: &mut Reader, kind: GuestKind, id: u32, p: &str, raw: Map<String, Value>) -> Guest {
    if id < 100 {
        let field = if kind == GuestKind::Vm {
            join(p, "vmid")
        } else {
            p.to_string()
        };
        r.error(
            field,
            format!("guest ID {id} is below 100"),
            "Proxmox reserves IDs below 100: use 100 or more",
        );
    }
    let name = r.str(&raw, p, "name");
    if name.is_none() && Reader::get(&raw, "name").is_none() {
        r.error(p, "missing `name`", "add \"name\": \"<hostname>\"");
    }
    if let Some(n) = &name {
        values::check_hostname(r, &join(p, "name"), n);
    }
    for f in raw.keys() {
        let known = match kind {
            GuestKind::Ct => fields::is_known_ct(f),
            GuestKind::Vm => fields::is_known_vm(f),
        };
        if !known {
            let candidates: Vec<&str> = match kind {
                GuestKind::Ct => [
                    fields::CT_DEFINE,
                    fields::CT_CONFIGURE,
                    fields::CT_FEATURE,
                    fields::CT_SNAPSHOT,
                    fields::CT_STRUCTURAL,
                    fields::CT_APP_KNOWN,
                ]
                .concat(),
                GuestKind::Vm => [
                    fields::VM_DEFINE,
                    fields::VM_CONFIGURE,
                    fields::VM_SNAPSHOT,
                    fields::VM_STRUCTURAL,
                    fields::VM_APP_KNOWN,
                ]
                .concat(),
            };
            let help = diag::did_you_mean(f, candidates).map_or_else(
                || "phoenix passes it to the application script; nothing else reads it".to_string(),
                |s| {
                    format!("did you mean `{s}`? as written it only reaches the application script")
                },
            );
            r.warn(join(p, f), format!("unknown field `{f}`"), help);
        }
    }

    let clone_key = if kind == GuestKind::Ct {
        "clone_from_ctid"
    } else {
        "clone_from_vmid"
    };
    let clone_from = r
        .id(&raw, p, clone_key)
        .map(|src| (src, join(p, clone_key)));
    let dependencies = r.id_list(&raw, p, "dependencies");
    let features = r.str_list(&raw, p, "features");
    for (i, f) in features.iter().enumerate() {
        if !layout::is_plain_file_name(f) || f.contains('.') {
            r.error(
                format!("{}[{i}]", join(p, "features")),
                format!("feature name `{}` is not a plain name", quote(f)),
                "use letters, digits, `_` and `-` only: the name selects features/<kind>/<name>.sh",
            );
        }
    }
    let application_script = r.str(&raw, p, "application_script");
    if let Some(s) = &application_script
        && !layout::is_plain_file_name(s)
    {
        r.error(
            join(p, "application_script"),
            format!("`{}` is not a plain file name", quote(s)),
            "name a file inside apps/, without directories",
        );
    }
    let health_checks = read_health_checks(r, &raw, p);

    let mut g = Guest {
        kind,
        id,
        name: name.unwrap_or_default(),
        file: r.file.to_string(),
        path: p.to_string(),
        clone_from,
        dependencies,
        features,
        application_script,
        health_checks,
        template_snapshot: None,
        is_template: false,
        gpus: Vec::new(),
        storage_pool: None,
        extra_storages: Vec::new(),
        nfs_volumes: false,
        address: None,
        mac: None,
        raw: Map::new(),
    };
    match kind {
        GuestKind::Ct => read_ct_fields(r, &raw, &mut g),
        GuestKind::Vm => read_vm_fields(r, &raw, &mut g),
    }
    g.raw = raw;
    g
}

fn read_health_checks(r: &mut Reader, raw: &Map<String, Value>, p: &str) -> Vec<HealthCheck> {
    let mut out = Vec::new();
    let Some(items) = r.array(raw, p, "health_checks") else {
        return out;
    };
    for (i, item) in items.iter().enumerate() {
        let ip = format!("{}[{i}]", join(p, "health_checks"));
        let Value::Object(o) = item else {
            r.error(
                ip,
                format!("expected an object, found {}", read::describe(item)),
                "write { \"name\": ..., \"script\": ..., \"args\": [...] }",
            );
            continue;
        };
        let Some(script) = r.str(o, &ip, "script") else {
            if Reader::get(o, "script").is_none() {
                r.error(ip, "missing `script`", "name a file inside health/");
            }
            continue;
        };
        if !layout::is_plain_file_name(&script) {
            r.error(
                join(&ip, "script"),
                format!("`{}` is not a plain file name", quote(&script)),
                "name a file inside health/, without directories",
            );
        }
        let args = match o.get("args") {
            Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
            Some(Value::Array(_)) => r.str_list(o, &ip, "args"),
            None | Some(Value::Null) => Vec::new(),
            Some(other) => {
                r.error(
                    join(&ip, "args"),
                    format!(
                        "expected an array of strings, found {}",
                        read::describe(other)
                    ),
                    "write [\"arg1\", \"arg2\"]",
                );
                Vec::new()
            }
        };
        let name = r.str(o, &ip, "name").unwrap_or_else(|| script.clone());
        out.push(HealthCheck { name, script, args });
    }
    out
}

fn read_ct_fields(r: &mut Reader, raw: &Map<String, Value>, g: &mut Guest) {
    let p = g.path.clone();
    let p = p.as_str();
    let template = r.s(raw, p, "template");
    if template.is_none()
        && Reader::get(raw, "clone_from_ctid").is_none()
        && Reader::get(raw, "template").is_none()
    {
        r.error(
            p,
            "neither `template` nor `clone_from_ctid` is set",
            "give the container an OS template to create it from, or a container to clone",
        );
    }
    g.template_snapshot = r.str(raw, p, "template_snapshot_name");
    if let Some(s) = &g.template_snapshot {
        values::check_snapshot_name(r, &join(p, "template_snapshot_name"), s);
    }
    g.is_template = g.template_snapshot.is_some();
    r.bool(raw, p, "unprivileged");
    g.storage_pool = r.str(raw, p, "storage_pool");
    values::positive(r, raw, p, "memory_mb");
    values::positive(r, raw, p, "cores");
    values::positive(r, raw, p, "storage_size_gb");
    r.uint(raw, p, "swap_mb");
    r.uint(raw, p, "boot_order");
    r.uint(raw, p, "boot_delay");
    r.bool(raw, p, "start_at_boot");
    r.bool(raw, p, "enable_lifecycle_snapshots");
    r.bool(raw, p, "apparmor_manages_nesting");
    r.s(raw, p, "apparmor_profile");
    r.s(raw, p, "bootstrap_ca_url");
    r.str_list(raw, p, "pct_options");
    r.str_list(raw, p, "lxc_options");
    if let Some(net) = r.object(raw, p, "network_config") {
        let np = join(p, "network_config");
        for k in ["name", "bridge", "gw", "nameservers"] {
            r.s(net, &np, k);
        }
        if let Some(ip) = r.s(net, &np, "ip") {
            g.address = values::check_ip(r, &join(&np, "ip"), ip, true);
        }
        if let Some(gw) = net.get("gw").and_then(Value::as_str) {
            values::check_plain_ip(r, &join(&np, "gw"), gw);
        }
    }
    if let Some(mac) = r.s(raw, p, "mac_address") {
        g.mac = values::check_mac(r, &join(p, "mac_address"), mac);
    }
    if let Some(gpu) = r.s(raw, p, "gpu_assignment") {
        g.gpus = values::parse_gpus(r, &join(p, "gpu_assignment"), gpu);
    }
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
            match r.s(o, &ip, target) {
                Some(t) if t.starts_with('/') => {}
                Some(t) => r.error(
                    join(&ip, target),
                    format!("`{}` is not an absolute path", quote(t)),
                    "container paths start with `/`",
                ),
                None if !o.contains_key(target) => r.error(
                    ip.clone(),
                    format!("missing `{target}`"),
                    "say where the volume appears inside the container",
                ),
                None => {}
            }
            if key == "mount_points" {
                r.s(o, &ip, "host_path");
            } else {
                if let Some(pool) = r.str(o, &ip, "pool") {
                    g.extra_storages.push(pool);
                }
                r.uint(o, &ip, "size_gb");
            }
        }
    }
    read_firewall(r, raw, p);
}

fn read_vm_fields(r: &mut Reader, raw: &Map<String, Value>, g: &mut Guest) {
    let p = g.path.clone();
    let p = p.as_str();
    g.is_template = r.bool(raw, p, "is_template").unwrap_or(false);
    let image = r.s(raw, p, "template_image");
    let template = r.s(raw, p, "template");
    if g.is_template && image.is_none() && template.is_none() {
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
    if !g.is_template && g.clone_from.is_none() && image.is_none() {
        r.error(p, "neither `clone_from_vmid` nor `template_image` is set", "clone the VM from a template VM, or make it a template with is_template and template_image");
    }
    values::positive(r, raw, p, "memory_mb");
    values::positive(r, raw, p, "cores");
    values::positive(r, raw, p, "disk_size_gb");
    r.uint(raw, p, "boot_order");
    r.uint(raw, p, "boot_delay");
    r.bool(raw, p, "start_at_boot");
    if let Some(net) = r.object(raw, p, "network_config") {
        let np = join(p, "network_config");
        r.s(net, &np, "nameserver");
        if let Some(ip) = r.s(net, &np, "ip") {
            g.address = values::check_ip(r, &join(&np, "ip"), ip, true);
            if g.address.is_some() && !net.contains_key("gw") {
                r.error(
                    join(&np, "gw"),
                    "a static `ip` needs a gateway",
                    "add \"gw\": \"<gateway address>\", or use \"ip\": \"dhcp\"",
                );
            }
        }
        if let Some(gw) = r.s(net, &np, "gw") {
            values::check_plain_ip(r, &join(&np, "gw"), gw);
        }
    }
    if let Some(uc) = r.object(raw, p, "user_config") {
        r.s(uc, &join(p, "user_config"), "username");
    }
    if let Some(items) = r.array(raw, p, "volumes") {
        for (i, item) in items.iter().enumerate() {
            let ip = format!("{}[{i}]", join(p, "volumes"));
            let Value::Object(o) = item else {
                r.error(ip, format!("expected an object, found {}", read::describe(item)), "write { \"type\": \"nfs\", \"path\": ..., \"mount_point\": ..., \"server\": ... }");
                continue;
            };
            if r.s(o, &ip, "type") == Some("nfs") {
                g.nfs_volumes = true;
            }
            for k in ["path", "mount_point", "server", "name"] {
                if let Some(v) = r.s(o, &ip, k)
                    && k != "name"
                {
                    // These become a line of the guest's /etc/fstab.
                    values::fstab_word(r, &join(&ip, k), v, k != "server");
                }
            }
        }
    }
    g.storage_pool = None;
    read_firewall(r, raw, p);
}

fn read_firewall(r: &mut Reader, raw: &Map<String, Value>, p: &str) {
    let Some(fw) = r.object(raw, p, "firewall") else {
        return;
    };
    let fp = join(p, "firewall");
    r.bool(fw, &fp, "enabled");
    let Some(rules) = r.array(fw, &fp, "rules") else {
        return;
    };
    for (i, rule) in rules.iter().enumerate() {
        let rp = format!("{}[{i}]", join(&fp, "rules"));
        let Value::Object(o) = rule else {
            r.error(
                rp,
                format!("expected an object, found {}", read::describe(rule)),
                "write { \"type\": \"in\", \"action\": \"ACCEPT\", ... }",
            );
            continue;
        };
        if let Some(t) = r.s(o, &rp, "type")
            && !matches!(t, "in" | "out")
        {
            r.error(
                join(&rp, "type"),
                format!("rule type `{t}` is neither `in` nor `out`"),
                "use \"in\" or \"out\"",
            );
        }
        if let Some(a) = r.s(o, &rp, "action")
            && !matches!(a, "ACCEPT" | "DROP" | "REJECT")
        {
            r.error(
                join(&rp, "action"),
                format!("rule action `{a}` is not ACCEPT, DROP or REJECT"),
                "use one of ACCEPT, DROP, REJECT",
            );
        }
    }
}
