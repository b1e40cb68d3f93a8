//! The built-in host steps of the pve backend: `host:zfs` (pools, datasets and the
//! Proxmox storages on them) and `host:nfs` (exports and the storage on them).
//!
//! The shell tool ran a script for each (reference §4, steps 2 and 4). phoenix does
//! them itself, because the scripts' bugs were in exactly the parts a build system
//! must get right (reference §7, "Host setup"):
//! - A disk that holds any signature (a filesystem, a partition table, an old
//!   `zfs_member`) is never wiped unless the build is run with `--wipe-disks`; the
//!   script wiped non-ZFS disks even in its "safe" mode. A disk of an imported pool
//!   is never touched, flag or not.
//! - Only storages phoenix created are ever removed. The script removed every storage
//!   it did not declare, which deleted the NFS step's storage on each re-run. phoenix
//!   keeps the list of storages it created on the host itself
//!   (`/var/lib/phoenix/owned-storages`, one `<step> <id>` per line), so the ownership
//!   check survives a lost cache, and updates it after every change.
//! - `/etc/exports` is not rewritten: phoenix owns one marked block in it and leaves
//!   every other line alone.
//! - Directory storages on datasets are added with `is_mountpoint yes` (Proxmox will
//!   not write into the empty directory of an unmounted dataset) and without
//!   `shared`, which would tell a cluster that a local disk is shared. Export
//!   directories are created but not made world-writable.
//!
//! Everything here is a pure function of the hypervisor definitions and of what the
//! host reported; `Pve` runs the commands.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Map, Value};

use super::Pve;
use super::commands::Cmd;
use crate::backend::{HostStep, Log, OpError, OpResult};
use crate::defs::host::lookup;

/// A ZFS pool from `zfs.pools[]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    pub name: String,
    /// `mirror`, `raidz1`...; `None` for a single disk or a stripe.
    pub layout: Option<String>,
    pub disks: Vec<String>,
}

/// A dataset from `zfs.datasets[]`, with the Proxmox storage on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    pub pool: String,
    pub name: String,
    pub properties: Vec<(String, String)>,
    /// `zfspool` or `dir`.
    pub storage_type: String,
    pub content: String,
}

/// An export from `nfs.exports[]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    pub path: String,
    pub clients: Vec<String>,
    pub options: Vec<String>,
}

fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

fn items<'a>(host: &'a Map<String, Value>, dotted: &str) -> impl Iterator<Item = &'a Value> {
    lookup(host, dotted)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

pub fn pools(host: &Map<String, Value>) -> Vec<Pool> {
    items(host, "zfs.pools")
        .filter_map(|p| {
            let layout = text(p, "raid_level")
                .filter(|l| !matches!(l.as_str(), "single" | "stripe" | ""))
                .map(|l| if l == "raidz" { "raidz1".into() } else { l });
            Some(Pool {
                name: text(p, "name")?,
                layout,
                disks: strings(p, "disks"),
            })
        })
        .collect()
}

pub fn datasets(host: &Map<String, Value>) -> Vec<Dataset> {
    items(host, "zfs.datasets")
        .filter_map(|d| {
            let properties = text(d, "properties")
                .unwrap_or_default()
                .split(',')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect();
            Some(Dataset {
                pool: text(d, "pool")?,
                name: text(d, "name")?,
                properties,
                storage_type: text(d, "proxmox_storage_type").unwrap_or_else(|| "zfspool".into()),
                content: text(d, "proxmox_content_type").unwrap_or_else(|| "images".into()),
            })
        })
        .collect()
}

pub fn exports(host: &Map<String, Value>) -> Vec<Export> {
    items(host, "nfs.exports")
        .filter_map(|e| {
            Some(Export {
                path: text(e, "path")?,
                clients: strings(e, "clients"),
                options: strings(e, "options"),
            })
        })
        .collect()
}

/// `zfs.arc_max_gb` in bytes.
pub fn arc_max_bytes(host: &Map<String, Value>) -> Option<u64> {
    lookup(host, "zfs.arc_max_gb")
        .and_then(Value::as_u64)
        .map(|gb| gb << 30)
}

/// The address the host serves its exports on: its own address
/// (`network.interfaces.address` without its prefix length).
pub fn nfs_server(host: &Map<String, Value>) -> Option<String> {
    crate::defs::host::address(host)
}

impl Pool {
    pub fn create(&self) -> Cmd {
        let mut c = Cmd::new([
            "zpool",
            "create",
            "-o",
            "autotrim=on",
            "-O",
            "compression=lz4",
            "-O",
            "atime=off",
            &self.name,
        ]);
        c.argv.extend(self.layout.iter().cloned());
        c.argv.extend(self.disks.iter().cloned());
        c
    }
}

impl Dataset {
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.pool, self.name)
    }

    pub fn mountpoint(&self) -> String {
        format!("/{}", self.full_name())
    }

    /// The storage ID, as the shell tool named them: `<pool>-<dataset>`.
    pub fn storage_id(&self) -> String {
        format!("{}-{}", self.pool, self.name)
    }

    pub fn create(&self) -> Cmd {
        let mut c = Cmd::new(["zfs", "create", "-o"]);
        c.argv.push(format!("mountpoint={}", self.mountpoint()));
        for (k, v) in &self.properties {
            c.argv.push("-o".into());
            c.argv.push(format!("{k}={v}"));
        }
        c.argv.push(self.full_name());
        c
    }

    /// `zfs set` of every property: an existing dataset converges, and setting a
    /// value it already has changes nothing.
    pub fn set(&self) -> Option<Cmd> {
        if self.properties.is_empty() {
            return None;
        }
        let mut c = Cmd::new(["zfs", "set"]);
        c.argv
            .extend(self.properties.iter().map(|(k, v)| format!("{k}={v}")));
        c.argv.push(self.full_name());
        Some(c)
    }

    pub fn storage_add(&self) -> Cmd {
        let id = self.storage_id();
        if self.storage_type == "dir" {
            Cmd::new(["pvesm", "add", "dir", &id])
                .opt("path", self.mountpoint())
                .opt("content", self.content.clone())
                .opt("is_mountpoint", "yes")
        } else {
            Cmd::new(["pvesm", "add", "zfspool", &id])
                .opt("pool", self.full_name())
                .opt("content", self.content.clone())
        }
    }

    pub fn storage_set(&self) -> Cmd {
        Cmd::new(["pvesm", "set", &self.storage_id()]).opt("content", self.content.clone())
    }
}

impl Export {
    /// `nfs-<last path component>`, as the shell tool named it.
    pub fn storage_id(&self) -> String {
        let base = self
            .path
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("");
        format!("nfs-{base}")
    }

    /// The `/etc/exports` line: `<path> <client>(<options>) ...`.
    pub fn line(&self) -> String {
        let opts = self.options.join(",");
        let mut line = self.path.clone();
        for c in &self.clients {
            line.push(' ');
            line.push_str(c);
            if !opts.is_empty() {
                line.push_str(&format!("({opts})"));
            }
        }
        line
    }

    pub fn storage_add(&self, server: &str) -> Cmd {
        Cmd::new(["pvesm", "add", "nfs", &self.storage_id()])
            .opt("server", server)
            .opt("export", self.path.clone())
            .opt("content", "images,iso,vztmpl,backup,snippets")
            .opt("options", "vers=4")
    }

    pub fn storage_set(&self) -> Cmd {
        Cmd::new(["pvesm", "set", &self.storage_id()])
            .opt("content", "images,iso,vztmpl,backup,snippets")
    }
}

const EXPORTS_BEGIN: &str = "# BEGIN phoenix: managed by phoenix host:nfs; edits here are replaced";
const END: &str = "# END phoenix";

/// `/etc/exports` with phoenix's block holding exactly `lines`.
pub fn with_exports(current: &str, lines: &[String]) -> Result<String, String> {
    with_block(current, EXPORTS_BEGIN, lines)
}

/// A config file with phoenix's block (from the line `begin` to `# END phoenix`)
/// holding exactly `lines`; everything outside the block is kept. No lines: the
/// block goes away. A block whose end line was deleted is an error: everything
/// after its start would otherwise be taken for phoenix's.
pub fn with_block(current: &str, begin: &str, lines: &[String]) -> Result<String, String> {
    let mut out: Vec<&str> = Vec::new();
    let mut inside = false;
    for l in current.lines() {
        if l == begin {
            inside = true;
        } else if inside && l == END {
            inside = false;
        } else if !inside {
            out.push(l);
        }
    }
    if inside {
        return Err(format!(
            "phoenix's block (from `{begin}`) has no `{END}` line; restore that line where the block ends, then build again"
        ));
    }
    while out.last().is_some_and(|l| l.trim().is_empty()) {
        out.pop();
    }
    let mut text = out.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    if !lines.is_empty() {
        text.push_str(begin);
        text.push('\n');
        for l in lines {
            text.push_str(l);
            text.push('\n');
        }
        text.push_str(END);
        text.push('\n');
    }
    Ok(text)
}

/// The signature types `wipefs --json <disk>` reports (empty output: none).
pub fn signatures(json: &str) -> Result<Vec<String>, String> {
    if json.trim().is_empty() {
        return Ok(Vec::new());
    }
    let v: Value =
        serde_json::from_str(json).map_err(|e| format!("unreadable wipefs output: {e}"))?;
    Ok(v.get("signatures")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("type").and_then(Value::as_str))
        .map(str::to_string)
        .collect())
}

/// Whether a device in `zpool status -P` output is `disk` or one of its partitions
/// (`/dev/sdb1`, `/dev/nvme0n1p1`, `...-part1`).
pub fn is_member(device: &str, disk: &str) -> bool {
    let Some(rest) = device.strip_prefix(disk) else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    // A name ending in a digit (nvme0n1, loop1) numbers its partitions after a `p`;
    // `nvme0n10` is another disk.
    let plain_digits = !disk.ends_with(|c: char| c.is_ascii_digit()) && digits(rest);
    rest.is_empty()
        || plain_digits
        || rest.strip_prefix('p').is_some_and(digits)
        || rest.strip_prefix("-part").is_some_and(digits)
}

/// Pools `zpool import` (without arguments) lists as importable, with the devices
/// of each, as printed (short names or paths).
pub fn importable_pools(text: &str) -> Vec<(String, Vec<String>)> {
    let mut pools: Vec<(String, Vec<String>)> = Vec::new();
    let mut in_config = false;
    for line in text.lines() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix("pool:") {
            pools.push((name.trim().to_string(), Vec::new()));
            in_config = false;
        } else if t.starts_with("config:") {
            in_config = true;
        } else if in_config
            && let Some((_, devices)) = pools.last_mut()
            && let Some(word) = t.split_whitespace().next()
        {
            devices.push(word.to_string());
        }
    }
    pools
}

/// Storage IDs in `pvesh get /storage --output-format json`.
pub fn storage_ids(json: &str) -> Result<BTreeSet<String>, String> {
    let v: Value =
        serde_json::from_str(json).map_err(|e| format!("unreadable storage list: {e}"))?;
    Ok(v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("storage").and_then(Value::as_str))
        .map(str::to_string)
        .collect())
}

/// The storages phoenix created, by the step that created them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    entries: BTreeSet<(String, String)>,
}

impl Ledger {
    pub const PATH: &'static str = "/var/lib/phoenix/owned-storages";

    pub fn parse(text: &str) -> Ledger {
        Ledger {
            entries: text
                .lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| l.split_once(' '))
                .map(|(s, id)| (s.to_string(), id.trim().to_string()))
                .collect(),
        }
    }

    pub fn render(&self) -> String {
        let mut t = String::from("# storages phoenix created: <host step> <storage id>\n");
        for (s, id) in &self.entries {
            t.push_str(&format!("{s} {id}\n"));
        }
        t
    }

    pub fn owns(&self, step: &str, id: &str) -> bool {
        self.entries.contains(&(step.to_string(), id.to_string()))
    }

    pub fn insert(&mut self, step: &str, id: &str) {
        self.entries.insert((step.to_string(), id.to_string()));
    }

    pub fn remove(&mut self, step: &str, id: &str) {
        self.entries.remove(&(step.to_string(), id.to_string()));
    }

    /// IDs `step` created.
    pub fn of(&self, step: &str) -> Vec<String> {
        self.entries
            .iter()
            .filter(|(s, _)| s == step)
            .map(|(_, id)| id.clone())
            .collect()
    }
}

/// A storage the step wants: its ID, how to add it, how to bring an existing one
/// phoenix owns up to date.
pub struct WantedStorage {
    pub id: String,
    pub add: Cmd,
    pub update: Cmd,
}

pub fn zfs_storages(host: &Map<String, Value>) -> Vec<WantedStorage> {
    datasets(host)
        .into_iter()
        .map(|d| WantedStorage {
            id: d.storage_id(),
            add: d.storage_add(),
            update: d.storage_set(),
        })
        .collect()
}

pub fn nfs_storages(host: &Map<String, Value>) -> Vec<WantedStorage> {
    let Some(server) = nfs_server(host) else {
        return Vec::new();
    };
    exports(host)
        .into_iter()
        .map(|e| WantedStorage {
            id: e.storage_id(),
            add: e.storage_add(&server),
            update: e.storage_set(),
        })
        .collect()
}

/// Every command a built-in step runs against an empty host (probes left out):
/// what `build --dry-run --backend pve` prints, and what the schema test checks.
pub fn full_run(step: &str, host: &Map<String, Value>) -> Vec<Cmd> {
    let mut cmds = Vec::new();
    match step {
        "zfs" => {
            cmds.extend(pools(host).iter().map(Pool::create));
            cmds.extend(datasets(host).iter().map(Dataset::create));
            cmds.extend(zfs_storages(host).into_iter().map(|s| s.add));
        }
        "nfs" => {
            for e in exports(host) {
                cmds.push(Cmd::new(["mkdir", "-p", &e.path]));
            }
            cmds.push(Cmd::new(["exportfs", "-ra"]));
            cmds.extend(nfs_storages(host).into_iter().map(|s| s.add));
        }
        _ => {}
    }
    cmds
}

/// A path on the host; `PHOENIX_PVE_ROOT` prefixes it (the stand-in tests keep the
/// host's files in a directory).
pub fn host_path(path: &str) -> String {
    format!(
        "{}{path}",
        std::env::var("PHOENIX_PVE_ROOT").unwrap_or_default()
    )
}

const SHORT: Duration = Duration::from_secs(120);

/// A file's text, or nothing when it does not exist; any other failure to read it
/// is an error (a file that could not be read is never taken for an empty one).
const READ_IF_EXISTS: &str = "[ ! -e \"$1\" ] || cat \"$1\"";

impl Pve {
    pub(super) fn builtin(&self, step: &HostStep, log: &mut Log) -> OpResult {
        match step.name {
            "zfs" => self.zfs(step, log),
            "nfs" => self.nfs(step, log),
            other => Err(OpError::new(format!(
                "`{other}` is not a built-in host step"
            ))),
        }
    }

    /// Install `package` on the host when `tool` is not there.
    pub(super) fn ensure_tool(
        &self,
        tool: &str,
        package: &str,
        timeout: Duration,
        log: &mut Log,
    ) -> OpResult {
        let probe = Cmd::new(["sh", "-c", "command -v \"$1\"", "sh", tool]);
        if self.check(&probe, SHORT, log).is_ok() {
            return Ok(());
        }
        let install = Cmd::new([
            "env",
            "DEBIAN_FRONTEND=noninteractive",
            "apt-get",
            "install",
            "-y",
            "-q",
            package,
        ]);
        self.check(&install, timeout, log).map(|_| ())
    }

    fn zfs(&self, step: &HostStep, log: &mut Log) -> OpResult {
        let host = &step.defs.host;
        for (i, pool) in pools(host).iter().enumerate() {
            if self
                .check(
                    &Cmd::new(["zpool", "list", "-H", "-o", "name", &pool.name]),
                    SHORT,
                    log,
                )
                .is_ok()
            {
                log.note(&format!(
                    "pool {} exists; its disks are left as they are",
                    pool.name
                ));
                continue;
            }
            self.prepare_disks(pool, i, step, log)?;
            self.check(&pool.create(), step.timeout, log)?;
        }
        for d in datasets(host) {
            let exists = self
                .check(
                    &Cmd::new(["zfs", "list", "-H", "-o", "name", &d.full_name()]),
                    SHORT,
                    log,
                )
                .is_ok();
            if !exists {
                self.check(&d.create(), step.timeout, log)?;
            } else if let Some(set) = d.set() {
                self.check(&set, step.timeout, log)?;
            }
        }
        if let Some(bytes) = arc_max_bytes(host) {
            // Read after the installer's zfs.conf (modprobe reads the files in name
            // order, and the last value given wins).
            self.runner.upload(
                &host_path("/etc/modprobe.d/zz-phoenix-zfs-arc.conf"),
                format!("# written by phoenix host:zfs (zfs.arc_max_gb)\noptions zfs zfs_arc_max={bytes}\n").as_bytes(),
                log,
            )?;
            // With the root on ZFS the module loads from the initramfs.
            let root_fs = self
                .check(
                    &Cmd::new(["findmnt", "-n", "-o", "FSTYPE", "/"]),
                    SHORT,
                    log,
                )
                .unwrap_or_default();
            if root_fs.trim() == "zfs" {
                self.check(
                    &Cmd::new(["update-initramfs", "-u", "-k", "all"]),
                    step.timeout,
                    log,
                )?;
            }
            // Applies now as well as at the next boot.
            if let Err(e) = self.runner.upload(
                &host_path("/sys/module/zfs/parameters/zfs_arc_max"),
                format!("{bytes}\n").as_bytes(),
                log,
            ) {
                log.note(&format!(
                    "the ARC limit applies at the next boot: {}",
                    e.message
                ));
            }
        }
        self.sync_storages("zfs", &zfs_storages(host), log)
    }

    /// Check every disk of a pool about to be created. A disk holding anything is
    /// erased only with `--wipe-disks`; without it, the step stops before any disk
    /// is touched and says which disks hold what.
    fn prepare_disks(&self, pool: &Pool, index: usize, step: &HostStep, log: &mut Log) -> OpResult {
        // Members as given at creation and with links resolved (by-id names).
        let mut members = String::new();
        for args in [&["status", "-P"][..], &["status", "-P", "-L"][..]] {
            let mut c = Cmd::new(["zpool"]);
            c.argv.extend(args.iter().map(|a| (*a).to_string()));
            if let Ok(r) = self.runner.run(&c, None, SHORT, log) {
                members.push_str(&r.stdout);
            }
        }
        // Pools that exist on disks but are not imported: after a reinstall the host
        // ID changes and nothing imports them. They hold data, not leftovers.
        let importable = importable_pools(
            &self
                .runner
                .run(&Cmd::new(["zpool", "import"]), None, SHORT, log)
                .map(|r| r.stdout)
                .unwrap_or_default(),
        );
        let mut holding = Vec::new();
        for disk in &pool.disks {
            let resolved = self
                .check(&Cmd::new(["readlink", "-f", disk.as_str()]), SHORT, log)
                .map(|o| o.trim().to_string())
                .unwrap_or_default();
            let names: Vec<&str> = [disk.as_str(), resolved.as_str()]
                .into_iter()
                .filter(|n| !n.is_empty())
                .flat_map(|n| [n, n.rsplit('/').next().unwrap_or(n)])
                .collect();
            if let Some((found, _)) = importable.iter().find(|(name, devices)| {
                *name == pool.name
                    || devices
                        .iter()
                        .any(|d| names.iter().any(|n| is_member(d, n)))
            }) {
                return Err(OpError::new(format!(
                    "disk {disk} (zfs.pools[{index}].disks) holds ZFS pool `{found}`, which exists but is not imported. Nothing was changed, and phoenix erases no disk of an importable pool, --wipe-disks or not: import it with `zpool import {found}` (add -f if another host used it last), or destroy it yourself if its data may go"
                )));
            }
            if members
                .split_whitespace()
                .any(|w| is_member(w, disk) || (!resolved.is_empty() && is_member(w, &resolved)))
            {
                return Err(OpError::new(format!(
                    "disk {disk} (zfs.pools[{index}].disks) belongs to an imported ZFS pool; phoenix never touches it. Nothing was changed; fix the disk list of pool {}",
                    pool.name
                )));
            }
            let ran = self
                .runner
                .run(&Cmd::new(["wipefs", "--json", disk]), None, SHORT, log)?;
            if ran.status != 0 {
                return Err(OpError::new(format!(
                    "disk {disk} (zfs.pools[{index}].disks) cannot be read: {}. Nothing was changed; fix the path (a /dev/disk/by-id/ name is stable)",
                    super::super::command::last_lines(ran.stderr.lines())
                )));
            }
            let found = signatures(&ran.stdout).map_err(OpError::new)?;
            if !found.is_empty() {
                holding.push((disk, found));
            }
        }
        if holding.is_empty() {
            return Ok(());
        }
        if !step.wipe_disks {
            let list: Vec<String> = holding
                .iter()
                .map(|(d, f)| format!("{d} holds {}", f.join(", ")))
                .collect();
            return Err(OpError::new(format!(
                "pool {} not created: {}. Nothing was erased; if these disks may be erased, run again with --wipe-disks (their data is lost)",
                pool.name,
                list.join("; ")
            )));
        }
        for (disk, found) in &holding {
            log.note(&format!(
                "--wipe-disks: erasing {disk} ({})",
                found.join(", ")
            ));
            self.check(&Cmd::new(["wipefs", "--all", disk.as_str()]), SHORT, log)?;
        }
        Ok(())
    }

    fn nfs(&self, step: &HostStep, log: &mut Log) -> OpResult {
        let host = &step.defs.host;
        let exports = exports(host);
        self.ensure_tool("exportfs", "nfs-kernel-server", step.timeout, log)?;
        for e in &exports {
            self.check(&Cmd::new(["mkdir", "-p", &host_path(&e.path)]), SHORT, log)?;
        }
        let path = host_path("/etc/exports");
        let current = self.check(
            &Cmd::new(["sh", "-c", READ_IF_EXISTS, "sh", &path]),
            SHORT,
            log,
        )?;
        let lines: Vec<String> = exports.iter().map(Export::line).collect();
        let new =
            with_exports(&current, &lines).map_err(|e| OpError::new(format!("{path}: {e}")))?;
        if new != current {
            self.runner.upload(&path, new.as_bytes(), log)?;
        }
        self.check(&Cmd::new(["exportfs", "-ra"]), SHORT, log)?;
        let server = nfs_server(host).ok_or_else(|| {
            OpError::new(
                "network.interfaces.address is not set; the NFS storages need the host's address",
            )
        })?;
        // Guests mount these next: wait until the server lists every export.
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            let listed = self
                .check(
                    &Cmd::new(["showmount", "-e", "--no-headers", &server]),
                    SHORT,
                    log,
                )
                .unwrap_or_default();
            let missing: Vec<&str> = exports
                .iter()
                .map(|e| e.path.trim_end_matches('/'))
                .filter(|p| {
                    !listed
                        .lines()
                        .any(|l| l.split_whitespace().next() == Some(p))
                })
                .collect();
            if missing.is_empty() {
                break;
            }
            if std::time::Instant::now() > deadline {
                return Err(OpError::new(format!(
                    "the NFS server at {server} does not list {} after 120s: check that it runs (`systemctl enable --now nfs-server`) and that `exportfs -v` shows the export",
                    missing.join(", ")
                )));
            }
            std::thread::sleep(Duration::from_secs(2));
        }
        self.sync_storages("nfs", &nfs_storages(host), log)
    }

    /// Add the storages a step wants, update the ones it created, and remove the
    /// ones it created that are no longer wanted. A storage phoenix did not create
    /// is never changed or removed. The ledger is written after every change.
    fn sync_storages(&self, step: &str, wanted: &[WantedStorage], log: &mut Log) -> OpResult {
        let existing = storage_ids(&self.check(
            &Cmd::new(["pvesh", "get", "/storage", "--output-format", "json"]),
            SHORT,
            log,
        )?)
        .map_err(OpError::new)?;
        let ledger_path = host_path(Ledger::PATH);
        let mut ledger = Ledger::parse(&self.check(
            &Cmd::new(["sh", "-c", READ_IF_EXISTS, "sh", &ledger_path]),
            SHORT,
            log,
        )?);
        for w in wanted {
            if !existing.contains(&w.id) {
                self.check(&w.add, SHORT, log)?;
                ledger.insert(step, &w.id);
                self.runner
                    .upload(&ledger_path, ledger.render().as_bytes(), log)?;
            } else if ledger.owns(step, &w.id) {
                self.check(&w.update, SHORT, log)?;
            } else {
                log.note(&format!(
                    "storage {} exists and phoenix did not create it; left as it is",
                    w.id
                ));
            }
        }
        for id in ledger.of(step) {
            if wanted.iter().any(|w| w.id == id) {
                continue;
            }
            if existing.contains(&id) {
                // Never pull a storage out from under guests' disks.
                let volumes = self.check(&Cmd::new(["pvesm", "list", &id]), SHORT, log)?;
                let held: Vec<&str> = volumes
                    .lines()
                    .skip(1)
                    .filter_map(|l| l.split_whitespace().next())
                    .collect();
                if !held.is_empty() {
                    return Err(OpError::new(format!(
                        "storage {id} is no longer defined, but it still holds {}: move or remove those volumes, then build again (it is removed once empty)",
                        held.join(", ")
                    )));
                }
                log.note(&format!(
                    "storage {id} is no longer defined; phoenix created it, so it goes"
                ));
                self.check(&Cmd::new(["pvesm", "remove", &id]), SHORT, log)?;
            }
            ledger.remove(step, &id);
            self.runner
                .upload(&ledger_path, ledger.render().as_bytes(), log)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Map<String, Value> {
        serde_json::from_str(
            r#"{
              "network": {"interfaces": {"name": "vmbr0", "address": "10.0.0.13/24"}},
              "zfs": {
                "arc_max_gb": 2,
                "pools": [
                  {"name": "tank", "raid_level": "mirror", "disks": ["/dev/sdb", "/dev/sdc"]},
                  {"name": "fast", "raid_level": "single", "disks": ["/dev/nvme0n1"]}
                ],
                "datasets": [
                  {"name": "vm-disks", "pool": "tank", "properties": "recordsize=128K,quota=800G",
                   "proxmox_storage_type": "zfspool", "proxmox_content_type": "images"},
                  {"name": "iso", "pool": "fast", "properties": "",
                   "proxmox_storage_type": "dir", "proxmox_content_type": "iso,vztmpl"}
                ]
              },
              "nfs": {"exports": [{"path": "/tank/data/", "clients": ["10.0.0.5", "10.0.0.6"],
                                   "options": ["rw", "sync"]}]}
            }"#,
        )
        .unwrap()
    }

    #[test]
    fn pools_datasets_and_storages() {
        let h = host();
        let lines: Vec<String> = full_run("zfs", &h).iter().map(Cmd::display).collect();
        assert_eq!(
            lines,
            [
                "zpool create -o autotrim=on -O compression=lz4 -O atime=off tank mirror /dev/sdb /dev/sdc",
                "zpool create -o autotrim=on -O compression=lz4 -O atime=off fast /dev/nvme0n1",
                "zfs create -o mountpoint=/tank/vm-disks -o recordsize=128K -o quota=800G tank/vm-disks",
                "zfs create -o mountpoint=/fast/iso fast/iso",
                "pvesm add zfspool tank-vm-disks --pool tank/vm-disks --content images",
                "pvesm add dir fast-iso --path /fast/iso --content iso,vztmpl --is_mountpoint yes",
            ]
        );
        assert_eq!(arc_max_bytes(&h), Some(2 << 30));
        assert_eq!(
            datasets(&h)[0].set().unwrap().display(),
            "zfs set recordsize=128K quota=800G tank/vm-disks"
        );
        assert!(datasets(&h)[1].set().is_none());
    }

    #[test]
    fn nfs_exports_and_storage() {
        let h = host();
        let e = &exports(&h)[0];
        assert_eq!(e.line(), "/tank/data/ 10.0.0.5(rw,sync) 10.0.0.6(rw,sync)");
        assert_eq!(e.storage_id(), "nfs-data");
        assert_eq!(
            full_run("nfs", &h).last().unwrap().display(),
            "pvesm add nfs nfs-data --server 10.0.0.13 --export /tank/data/ --content images,iso,vztmpl,backup,snippets --options vers=4"
        );
    }

    #[test]
    fn exports_block_keeps_foreign_lines_and_is_idempotent() {
        let theirs = "# mine\n/srv/old 10.1.1.1(ro)\n";
        let lines = vec!["/tank/data 10.0.0.5(rw)".to_string()];
        let once = with_exports(theirs, &lines).unwrap();
        assert!(once.starts_with(theirs), "{once}");
        assert!(once.contains("/tank/data 10.0.0.5(rw)\n# END phoenix\n"));
        assert_eq!(with_exports(&once, &lines).unwrap(), once, "idempotent");
        let changed = with_exports(&once, &["/tank/other *(ro)".to_string()]).unwrap();
        assert!(!changed.contains("/tank/data") && changed.contains("/tank/other"));
        assert_eq!(
            with_exports(&changed, &[]).unwrap(),
            theirs,
            "an empty list removes the block"
        );
        assert_eq!(with_exports("", &[]).unwrap(), "");
        let cut = once.replace("# END phoenix\n", "/srv/later 10.1.1.2(ro)\n");
        assert!(
            with_exports(&cut, &lines)
                .unwrap_err()
                .contains("no `# END phoenix` line"),
            "a block without its end is not guessed at"
        );
    }

    #[test]
    fn signatures_and_storage_lists_parse() {
        assert!(signatures("").unwrap().is_empty());
        let json = r#"{"signatures": [{"device":"sdb","offset":"0x3f000","type":"zfs_member"},
                                     {"device":"sdb","offset":"0x1fe","type":"dos"}]}"#;
        assert_eq!(signatures(json).unwrap(), ["zfs_member", "dos"]);
        assert!(signatures("garbage").is_err());
        let ids =
            storage_ids(r#"[{"storage":"local","type":"dir"},{"storage":"tank-vm"}]"#).unwrap();
        assert_eq!(ids.into_iter().collect::<Vec<_>>(), ["local", "tank-vm"]);
    }

    #[test]
    fn importable_pools_parse() {
        let text = "   pool: tank\n     id: 1234\n  state: ONLINE\n action: The pool can be imported.\n config:\n\n\ttank        ONLINE\n\t  mirror-0  ONLINE\n\t    sdb     ONLINE\n\t    nvme0n1p1  ONLINE\n\n   pool: old\n config:\n\told ONLINE\n\t  /dev/disk/by-id/ata-X-part1 ONLINE\n";
        let pools = importable_pools(text);
        assert_eq!(pools.len(), 2);
        assert_eq!(pools[0].0, "tank");
        assert!(pools[0].1.iter().any(|d| is_member(d, "sdb")));
        assert!(pools[0].1.iter().any(|d| is_member(d, "nvme0n1")));
        assert!(
            pools[1]
                .1
                .iter()
                .any(|d| is_member(d, "/dev/disk/by-id/ata-X"))
        );
        assert!(importable_pools("no pools available to import\n").is_empty());
    }

    #[test]
    fn pool_membership_covers_partitions_only() {
        assert!(is_member("/dev/sdb", "/dev/sdb"));
        assert!(is_member("/dev/sdb1", "/dev/sdb"));
        assert!(is_member("/dev/nvme0n1p1", "/dev/nvme0n1"));
        assert!(is_member(
            "/dev/disk/by-id/ata-X-part1",
            "/dev/disk/by-id/ata-X"
        ));
        assert!(!is_member("/dev/sdba", "/dev/sdb"));
        assert!(!is_member("/dev/sdb", "/dev/sdb1"));
        assert!(!is_member(
            "/dev/disk/by-id/ata-XY",
            "/dev/disk/by-id/ata-X"
        ));
    }

    #[test]
    fn ledger_round_trips_and_separates_steps() {
        let mut l = Ledger::default();
        l.insert("zfs", "tank-vm-disks");
        l.insert("nfs", "nfs-data");
        let back = Ledger::parse(&l.render());
        assert_eq!(back, l);
        assert!(back.owns("zfs", "tank-vm-disks") && !back.owns("zfs", "nfs-data"));
        assert_eq!(back.of("nfs"), ["nfs-data"]);
    }
}
