//! What the hypervisor definitions ask of the host, read into types (`Pool`,
//! `Dataset`, `Export`, `WantedStorage`), with the commands that create each, and
//! `full_run`: every command a built-in step runs against an empty host.

use serde_json::{Map, Value};

use super::super::cmd::Cmd;
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
}
