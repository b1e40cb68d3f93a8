//! The host a dry run's commands are answered from: its guests (config, running or
//! not, snapshots, firewall rules), files uploaded or appended to, ZFS pools and
//! datasets made; what each recorded command does to it, and what each probe reads.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde_json::json;

use super::volumes;
use crate::backend::{Inventory, Stamp};
use crate::defs::{Definitions, GuestKind, TemplateModel};
use crate::graph::NodeId;

/// The simulated host and what was recorded, by log path.
#[derive(Debug, Default)]
pub(super) struct Host {
    /// The Proxmox node name guests live on.
    pub(super) node: String,
    pub(super) guests: BTreeMap<u32, Guest>,
    pub(super) files: HashMap<String, String>,
    /// ZFS pools and datasets made by recorded commands.
    pub(super) zfs: BTreeSet<String>,
    pub(super) lines: HashMap<PathBuf, Vec<String>>,
    /// Orders snapshots as their creation time would.
    pub(super) clock: u32,
}

#[derive(Debug, Clone, Default)]
pub(super) struct Guest {
    pub(super) ct: bool,
    pub(super) running: bool,
    pub(super) config: BTreeMap<String, String>,
    pub(super) snapshots: Vec<(String, u32)>,
    /// Firewall rules in position order, as `pvesh get .../firewall/rules` lists them.
    pub(super) rules: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// Each item as a line of a command's output.
pub(super) fn lines(items: impl Iterator<Item = String>) -> String {
    items.fold(String::new(), |mut out, line| {
        out.push_str(&line);
        out.push('\n');
        out
    })
}

/// The `--name value` options of an argv.
pub(super) fn options(args: &[String]) -> Vec<(&str, &str)> {
    args.windows(2)
        .filter_map(|w| Some((w[0].strip_prefix("--")?, w[1].as_str())))
        .collect()
}

impl Host {
    /// A host named `node` with the guests of `inventory` (see [`super::Recorder::new`]).
    pub(super) fn seeded(node: &str, inventory: &Inventory, defs: &Definitions) -> Host {
        let mut host = Host {
            node: node.to_string(),
            ..Host::default()
        };
        let mut seeded: Vec<_> = inventory.iter().collect();
        seeded.sort_by_key(|(n, _)| **n);
        for (node, observed) in seeded {
            let Some(id) = node.guest_id() else { continue };
            let tags = match &observed.stamp {
                Stamp::Built(key) => format!("phoenix;phx-built-{key}"),
                Stamp::Building => "phoenix;phx-building".to_string(),
                Stamp::Foreign => String::new(),
            };
            let mut guest = Guest {
                ct: matches!(node, NodeId::Ct(_)),
                running: observed.running,
                ..Guest::default()
            };
            guest.config.insert("tags".into(), tags);
            // A converted template stamped built has been converted (its last step),
            // and holds no snapshots.
            let converted = matches!(observed.stamp, Stamp::Built(_))
                && defs
                    .guest(id)
                    .is_some_and(|g| g.template == TemplateModel::Converted);
            if converted {
                guest.config.insert("template".into(), "1".into());
            }
            let mut names = observed.snapshots.clone();
            if names.is_empty()
                && !converted
                && let Some(g) = defs.guest(id)
            {
                names.extend(g.features.iter().map(|f| crate::step::pre_snapshot_of(f)));
                if g.kind == GuestKind::Ct || !g.template.is_template() {
                    names.extend(g.template.snapshot_name().map(str::to_string));
                }
            }
            for name in names {
                host.clock += 1;
                guest.snapshots.push((name, host.clock));
            }
            host.guests.insert(id, guest);
        }
        host
    }

    pub(super) fn answer(&mut self, argv: &[String], stdin: Option<&[u8]>) -> String {
        let words: Vec<&str> = argv.iter().map(String::as_str).collect();
        match words.as_slice() {
            ["pvesh", "get", "/cluster/resources", ..] => self.resources(),
            ["pvesh", "get", "/nodes", ..] => {
                json!([{"node": self.node, "status": "online"}]).to_string()
            }
            ["pvesh", verb, path, ..] if path.contains("/firewall/rules") => {
                self.firewall_rules(verb, path, &argv[3..])
            }
            ["qm", "guest", "exec", .., last] => {
                // The exit code file of a detached job says it finished well.
                let exit = Path::new(last).extension().is_some_and(|e| e == "exit");
                let out = if exit { "0\n" } else { "" };
                json!({"exited": 1, "exitcode": 0, "out-data": out}).to_string()
            }
            // No storage yet: the host steps' `pvesm add` show.
            ["pvesh", "get", "/storage", ..] => "[]".into(),
            // Lines appended where missing (`/etc/subgid`): read back by later probes.
            ["sh", "-c", script, "sh", path, lines @ ..]
                if *script == super::super::commands::APPEND_MISSING_LINES =>
            {
                let text = self.files.entry((*path).to_string()).or_default();
                for line in lines {
                    if !text.lines().any(|l| l == *line) {
                        if !text.is_empty() && !text.ends_with('\n') {
                            text.push('\n');
                        }
                        text.push_str(line);
                        text.push('\n');
                    }
                }
                String::new()
            }
            // An upload (the file comes on stdin), or reading a file that may not exist.
            ["sh", "-c", _, "sh", path] => match stdin {
                Some(bytes) => {
                    let text = String::from_utf8_lossy(bytes).into_owned();
                    self.files.insert((*path).to_string(), text);
                    String::new()
                }
                None => self.files.get(*path).cloned().unwrap_or_default(),
            },
            ["cat", path] => self.cat(path),
            ["zpool", "create", args @ ..] => {
                // The pool's name is the first word that is not an option or its value.
                let mut words = args.iter();
                while let Some(w) = words.next() {
                    if matches!(*w, "-o" | "-O") {
                        words.next();
                    } else if !w.starts_with('-') {
                        self.zfs.insert((*w).to_string());
                        break;
                    }
                }
                String::new()
            }
            ["zfs", "create", .., name] => {
                self.zfs.insert((*name).to_string());
                String::new()
            }
            ["zpool" | "zfs", "list", "-H", "-o", "name", name] if self.zfs.contains(*name) => {
                format!("{name}\n")
            }
            // The NFS server lists what `/etc/exports` exports.
            ["showmount", "-e", ..] => lines(
                self.files
                    .iter()
                    .filter(|(path, _)| path.ends_with("/etc/exports"))
                    .flat_map(|(_, text)| text.lines())
                    .filter_map(|l| l.split_whitespace().next().filter(|w| !w.starts_with('#')))
                    .map(|dir| format!("{dir} *")),
            ),
            [tool @ ("pct" | "qm"), verb, id, ..] => match id.parse::<u32>() {
                Ok(id) => self.guest_command(*tool == "pct", verb, id, &argv[3..]),
                Err(_) => String::new(),
            },
            _ => String::new(),
        }
    }

    fn resources(&self) -> String {
        let list: Vec<_> = self
            .guests
            .iter()
            .map(|(id, g)| {
                json!({
                    "vmid": id,
                    "type": if g.ct { "lxc" } else { "qemu" },
                    "node": self.node,
                    "status": if g.running { "running" } else { "stopped" },
                    "tags": g.config.get("tags").cloned().unwrap_or_default(),
                    "template": u8::from(g.config.get("template").is_some_and(|t| t == "1")),
                })
            })
            .collect();
        serde_json::Value::Array(list).to_string()
    }

    /// A file uploaded earlier, else a container's config file as Proxmox writes it.
    fn cat(&self, path: &str) -> String {
        if let Some(text) = self.files.get(path) {
            return text.clone();
        }
        path.rsplit_once("/etc/pve/lxc/")
            .and_then(|(_, file)| file.strip_suffix(".conf")?.parse::<u32>().ok())
            .and_then(|id| self.guests.get(&id))
            .map(Guest::render)
            .unwrap_or_default()
    }

    fn guest_command(&mut self, ct: bool, verb: &str, id: u32, rest: &[String]) -> String {
        match verb {
            "create" => {
                let mut g = Guest {
                    ct,
                    ..Guest::default()
                };
                g.set(id, &options(rest));
                self.guests.insert(id, g);
            }
            "clone" => {
                let Some(mut g) = self.guests.get(&id).cloned() else {
                    return String::new();
                };
                let Some(new) = rest.first().and_then(|n| n.parse::<u32>().ok()) else {
                    return String::new();
                };
                let opts = options(rest);
                let opt = |name: &str| opts.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
                // pve-container `PVE::API2::LXC` `clone_vm`: linked by default from a
                // template, full otherwise.
                let template = g.config.remove("template").is_some_and(|t| t == "1");
                let linked = opt("full").map_or(template, |f| f != "1");
                for (k, v) in &mut g.config {
                    if volumes::is_volume_key(k) {
                        *v = volumes::cloned(v, id, new, opt("storage"), linked);
                    }
                }
                g.running = false;
                g.snapshots.clear();
                for (k, v) in opts {
                    if matches!(k, "hostname" | "name") {
                        g.config.insert(k.into(), v.into());
                    }
                }
                self.guests.insert(new, g);
            }
            "destroy" => {
                self.guests.remove(&id);
            }
            "snapshot" => {
                self.clock += 1;
                let clock = self.clock;
                if let (Some(g), Some(name)) = (self.guests.get_mut(&id), rest.first()) {
                    g.snapshots.push((name.clone(), clock));
                }
            }
            _ => {}
        }
        let Some(g) = self.guests.get_mut(&id) else {
            return String::new();
        };
        match verb {
            "status" => format!(
                "status: {}\n",
                if g.running { "running" } else { "stopped" }
            ),
            "config" => g.render(),
            "pending" => lines(g.config.iter().map(|(k, v)| format!("cur {k}: {v}"))),
            "listsnapshot" => g.listsnapshot(),
            "set" => {
                g.set(id, &options(rest));
                String::new()
            }
            "start" => {
                g.running = true;
                String::new()
            }
            // Proxmox stops a running guest to roll it back.
            "stop" | "shutdown" | "rollback" => {
                g.running = false;
                String::new()
            }
            "delsnapshot" => {
                g.snapshots.retain(|(n, _)| Some(n) != rest.first());
                String::new()
            }
            "template" => {
                for (k, v) in &mut g.config {
                    if volumes::is_volume_key(k) {
                        *v = volumes::base(v);
                    }
                }
                g.config.insert("template".into(), "1".into());
                String::new()
            }
            // `resize <disk> <size>`: the disk reads back with its new size.
            "resize" => {
                if let [disk, size, ..] = rest
                    && let Some(value) = g.config.get_mut(disk)
                    && let Some(gb) = size.strip_suffix('G').and_then(|n| n.parse::<u64>().ok())
                {
                    let kept: Vec<&str> = value
                        .split(',')
                        .filter(|p| !p.starts_with("size="))
                        .collect();
                    *value = format!("{},size={gb}G", kept.join(","));
                }
                String::new()
            }
            _ => String::new(),
        }
    }
}

impl Guest {
    /// Remember options of `pct set`/`create` (a `--delete` takes keys out; a new
    /// root disk `STORAGE:SIZE` reads back as Proxmox shows it, with `size=`).
    fn set(&mut self, id: u32, opts: &[(&str, &str)]) {
        for (key, value) in opts {
            if *key == "delete" {
                for k in value.split(',') {
                    self.config.remove(k);
                }
                continue;
            }
            let value = if volumes::is_volume_key(key) && !self.config.contains_key(*key) {
                let taken: Vec<&String> = self.config.values().collect();
                volumes::allocate(value, id, &taken)
            } else {
                (*value).to_string()
            };
            self.config.insert((*key).to_string(), value);
        }
    }

    fn render(&self) -> String {
        lines(self.config.iter().map(|(k, v)| format!("{k}: {v}")))
    }

    /// `pct listsnapshot` as Proxmox prints it, oldest first.
    fn listsnapshot(&self) -> String {
        lines(
            self.snapshots
                .iter()
                .map(|(name, t)| {
                    format!(
                        "`-> {name} 2000-01-01 {:02}:{:02}:{:02} no-description",
                        t / 3600 % 24,
                        t / 60 % 60,
                        t % 60
                    )
                })
                .chain(["    `-> current You are here!".to_string()]),
        )
    }
}
