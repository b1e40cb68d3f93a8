//! The recording runner behind `build --dry-run --backend pve`: the real backend
//! runs, and every command it would run is recorded instead, under the node whose
//! log it was written to (the log's path names the node), so workers may run in
//! parallel and each node's commands still come out together.
//!
//! The backend probes the host as it goes (`pct config`, `status`, `pending`,
//! `listsnapshot`, the firewall rules, `/cluster/resources`, `cat` of a config file
//! …); a small model of the host answers them. It starts as the inventory the plan
//! was made against and follows what the recorded commands do: `pct create`/`clone`
//! make a stopped guest (a clone with its source's config and firewall rules, as
//! Proxmox copies them), `start` runs it, `pct set` is remembered, snapshots taken
//! are listed, ZFS pools and datasets exist once created, firewall rules are created on top, moved and deleted as
//! pve-firewall does, uploaded files (and lines appended to one) read back. Where an answer cannot be known, it is what
//! a freshly built guest would have: an existing guest's snapshots are the ones its
//! build takes, its config is empty (so every setting is shown), its firewall has
//! no rules yet, nothing is pending, commands inside a guest succeed silently, a
//! ZFS pool or dataset phoenix has not created does not exist (the first build of
//! a host shows every `zpool create` and `zfs create` it may run), and anything
//! else (a file test) succeeds with no output.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::json;

use super::cmd::Cmd;
use crate::backend::command::Ran;
use crate::backend::{Inventory, Log, Stamp};
use crate::defs::{Definitions, GuestKind};
use crate::graph::NodeId;

/// Records commands and answers probes from a model of the host; clones share one.
#[derive(Debug, Clone, Default)]
pub struct Recorder(Arc<Mutex<Host>>);

impl PartialEq for Recorder {
    fn eq(&self, other: &Recorder) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Recorder {}

/// The simulated host and what was recorded, by log path.
#[derive(Debug, Default)]
struct Host {
    /// The Proxmox node name guests live on.
    node: String,
    guests: BTreeMap<u32, Guest>,
    files: HashMap<String, String>,
    /// ZFS pools and datasets made by recorded commands.
    zfs: std::collections::BTreeSet<String>,
    lines: HashMap<PathBuf, Vec<String>>,
    /// Orders snapshots as their creation time would.
    clock: u32,
}

#[derive(Debug, Clone, Default)]
struct Guest {
    ct: bool,
    running: bool,
    config: BTreeMap<String, String>,
    snapshots: Vec<(String, u32)>,
    /// Firewall rules in position order, as `pvesh get .../firewall/rules` lists them.
    rules: Vec<serde_json::Map<String, serde_json::Value>>,
}

impl Recorder {
    /// A host named `node` with the guests of `inventory` (stamped as observed,
    /// running as observed, with the snapshots their definitions' builds take).
    pub fn new(node: &str, inventory: &Inventory, defs: &Definitions) -> Recorder {
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
            let mut names = observed.snapshots.clone();
            if names.is_empty()
                && let Some(g) = defs.guest(id)
            {
                names.extend(g.features.iter().map(|f| format!("pre-{f}")));
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
        Recorder(Arc::new(Mutex::new(host)))
    }

    fn host(&self) -> MutexGuard<'_, Host> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The command lines recorded under the log at `path`, in the order they ran.
    pub fn lines(&self, path: &Path) -> Vec<String> {
        self.host().lines.get(path).cloned().unwrap_or_default()
    }

    /// Record `cmd` under `log` (and write it there, as a real run would) and
    /// answer it from the model; it always succeeds.
    pub fn run(&self, cmd: &Cmd, stdin: Option<&[u8]>, log: &mut Log) -> Ran {
        let line = cmd.display();
        log.raw(format!("$ {line}\n").as_bytes());
        let mut host = self.host();
        host.lines.entry(log.path.clone()).or_default().push(line);
        let words: Vec<&str> = cmd.argv.iter().map(String::as_str).collect();
        let status = match words.as_slice() {
            ["zpool" | "zfs", "list", "-H", "-o", "name", name] => {
                i32::from(!host.zfs.contains(*name))
            }
            _ => 0,
        };
        let stdout = host.answer(&cmd.argv, stdin);
        Ran {
            status,
            stdout,
            stderr: String::new(),
        }
    }
}

/// Each item as a line of a command's output.
fn lines(items: impl Iterator<Item = String>) -> String {
    items.fold(String::new(), |mut out, line| {
        out.push_str(&line);
        out.push('\n');
        out
    })
}

/// The `--name value` options of an argv.
fn options(args: &[String]) -> Vec<(&str, &str)> {
    args.windows(2)
        .filter_map(|w| Some((w[0].strip_prefix("--")?, w[1].as_str())))
        .collect()
}

impl Host {
    fn answer(&mut self, argv: &[String], stdin: Option<&[u8]>) -> String {
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
                if *script == super::commands::APPEND_MISSING_LINES =>
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

    /// `pvesh get|create|set|delete` on a guest's firewall rules, as pve-firewall's
    /// `RulesBase` treats them: `create` puts the rule on top (disabled without
    /// `--enable 1`), `set --moveto N` puts it before the rule at N, `delete` splices.
    fn firewall_rules(&mut self, verb: &str, path: &str, rest: &[String]) -> String {
        let mut parts = path.trim_end_matches('/').rsplit('/');
        let pos = parts.next().and_then(|p| p.parse::<usize>().ok());
        let id = path
            .split('/')
            .skip_while(|p| !matches!(*p, "lxc" | "qemu"))
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        let Some(g) = id.and_then(|id| self.guests.get_mut(&id)) else {
            return "[]".into();
        };
        match (verb, pos) {
            ("get", None) => {
                let list: Vec<_> = g
                    .rules
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        let mut r = r.clone();
                        r.insert("pos".into(), json!(i));
                        serde_json::Value::Object(r)
                    })
                    .collect();
                return serde_json::Value::Array(list).to_string();
            }
            ("create", None) => {
                let mut rule: serde_json::Map<_, _> = options(rest)
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), json!(v)))
                    .collect();
                let enabled = rule.get("enable").is_some_and(|v| v == "1");
                rule.insert("enable".into(), json!(u8::from(enabled)));
                g.rules.insert(0, rule);
            }
            ("delete", Some(pos)) if pos < g.rules.len() => {
                g.rules.remove(pos);
            }
            ("set", Some(pos)) if pos < g.rules.len() => {
                let to = options(rest)
                    .into_iter()
                    .find(|(k, _)| *k == "moveto")
                    .and_then(|(_, v)| v.parse::<usize>().ok());
                if let Some(to) = to {
                    let rule = g.rules[pos].clone();
                    g.rules[pos] = serde_json::Map::new();
                    g.rules.insert(to.min(g.rules.len()), rule);
                    g.rules.retain(|r| !r.is_empty());
                }
            }
            _ => {}
        }
        String::new()
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
                g.running = false;
                g.snapshots.clear();
                g.config.remove("template");
                for (k, v) in options(rest) {
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
            let value = match value.split_once(':') {
                Some((storage, size))
                    if *key == "rootfs" && size.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    format!("{storage}:subvol-{id}-disk-0,size={size}G")
                }
                _ => (*value).to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(line: &str) -> Cmd {
        Cmd::new(line.split(' '))
    }

    #[test]
    fn created_guests_appear_stopped_then_run_and_keep_their_settings() {
        let rec = Recorder::default();
        let mut log = Log::sink();
        let mut ask = |line: &str| rec.run(&cmd(line), None, &mut log).stdout;
        assert_eq!(ask("pct status 950"), "");
        ask("pct create 950 local:vztmpl/x.tar.zst --rootfs local-lvm:4 --tags phoenix");
        assert_eq!(ask("pct status 950"), "status: stopped\n");
        ask("pct set 950 --memory 2048");
        let config = ask("pct config 950");
        assert!(config.contains("memory: 2048\n"), "{config}");
        assert!(config.contains("rootfs: local-lvm:subvol-950-disk-0,size=4G\n"));
        ask("pct start 950");
        assert_eq!(ask("pct status 950"), "status: running\n");
        ask("pct snapshot 950 pre-docker");
        let snaps = super::super::commands::parse_listsnapshot(&ask("pct listsnapshot 950"));
        assert_eq!(snaps.len(), 1);
        assert!(ask("pvesh get /cluster/resources").contains("\"vmid\":950"));
        assert_eq!(
            rec.lines(Path::new("")).first().map(String::as_str),
            Some("pct status 950")
        );
    }

    #[test]
    fn firewall_rules_go_on_top_move_and_come_with_a_clone() {
        let rec = Recorder::default();
        let mut log = Log::sink();
        let mut ask = |line: &str| rec.run(&cmd(line), None, &mut log).stdout;
        let base = "/nodes/pve/lxc/900/firewall/rules";
        ask("pct create 900 local:vztmpl/x.tar.zst");
        ask(&format!(
            "pvesh create {base} --type in --action ACCEPT --dport 22 --enable 1"
        ));
        ask(&format!(
            "pvesh create {base} --type in --action ACCEPT --dport 80"
        ));
        ask(&format!(
            "pvesh create {base} --type out --action DROP --enable 1"
        ));
        let ports = |json: String| -> Vec<String> {
            let rules = super::super::commands::parse_rules(&json).unwrap();
            rules
                .iter()
                .map(|r| {
                    let k = r.key.as_ref().unwrap();
                    format!(
                        "{}{}{}",
                        k.direction,
                        k.dport.as_deref().unwrap_or("-"),
                        u8::from(r.enabled)
                    )
                })
                .collect()
        };
        // Created rules go on top; without --enable 1 a rule is disabled.
        assert_eq!(
            ports(ask(&format!("pvesh get {base}"))),
            ["out-1", "in800", "in221"]
        );
        // Rule 0 goes before the rule at 2; a moveto past the end puts it last.
        ask(&format!("pvesh set {base}/0 --moveto 2"));
        assert_eq!(
            ports(ask(&format!("pvesh get {base}"))),
            ["in800", "out-1", "in221"]
        );
        ask(&format!("pvesh set {base}/0 --moveto 9"));
        assert_eq!(
            ports(ask(&format!("pvesh get {base}"))),
            ["out-1", "in221", "in800"]
        );
        ask(&format!("pvesh delete {base}/1"));
        ask("pct clone 900 103 --hostname ca");
        let clone = "/nodes/pve/lxc/103/firewall/rules";
        assert_eq!(
            ports(ask(&format!("pvesh get {clone}"))),
            ["out-1", "in800"]
        );
    }
}
